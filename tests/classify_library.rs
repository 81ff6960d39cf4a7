//! covergenre-classify on a music library (`--library`): one result per album (cover files,
//! art embedded in hand-written FLAC and MP3 tags, an album with none), the library left
//! unchanged, `--albums-from` lists (a file or stdin) classified as listed and nothing else,
//! and an unreadable list a fatal error naming it.

mod common;

use common::audio::{flac_with_picture, mp3_with_picture};
use common::classify_output::{genres_by_name, parse_csv, parse_jsonl};
use common::colour::{png_bytes, save_cover, ColourFixture as Fixture};
use common::{put, snapshot, text};
use std::collections::BTreeMap;
use std::process::{Command, Output};

#[test]
fn library_mode_gives_one_result_per_album_and_writes_nothing() {
    let fx = Fixture::new();
    let lib = fx.path("Music");
    let album = |p: &str| lib.join(p);
    // A cover file beats the art embedded in the tracks.
    save_cover(&album("Artist A/Red Album/Cover.JPG"), 0);
    save_cover(&album("Artist A/Red Album/back.jpg"), 2);
    put(
        &album("Artist A/Red Album/01.flac"),
        &flac_with_picture(Some(&png_bytes(1)), 0),
    );
    save_cover(&album("Artist A/Green Album/AlbumArt_{ABC}_Large.png"), 1);
    save_cover(&album("Artist A/Green Album/AlbumArt_{ABC}_Small.png"), 2);
    put(
        &album("Artist A/Green Album/01.mp3"),
        &mp3_with_picture(&png_bytes(0), 4),
    );
    // Only embedded art: the first track has none, the second has it.
    put(
        &album("Artist B/Blue FLAC/01.flac"),
        &flac_with_picture(None, 0),
    );
    put(
        &album("Artist B/Blue FLAC/02.FLAC"),
        &flac_with_picture(Some(&png_bytes(2)), 0),
    );
    put(
        &album("Artist B/Red MP3/01.mp3"),
        &mp3_with_picture(&png_bytes(0), 4),
    );
    // No cover at all.
    put(&album("Artist B/Bare/01.flac"), &flac_with_picture(None, 0));
    // Not albums: a scans folder without a cover name or audio, and notes beside the artists.
    save_cover(&album("Artist B/Scans/booklet.png"), 1);
    put(&album("readme.txt"), b"library notes");
    let before = snapshot(&lib);

    let out = fx.classify(&["--library", "--format", "jsonl", lib.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "the bare album fails: {stderr}");
    let records = parse_jsonl(out.stdout.as_slice()).unwrap();
    let expected: BTreeMap<String, String> = [
        ("Red Album", "red"),
        ("Green Album", "green"),
        ("Blue FLAC", "blue"),
        ("Red MP3", "red"),
    ]
    .map(|(n, g)| (n.to_string(), g.to_string()))
    .into();
    assert_eq!(genres_by_name(&records), expected, "{stderr}");
    let bare = album("Artist B/Bare").display().to_string();
    let line = stderr
        .lines()
        .find(|l| l.contains(&bare))
        .expect("the bare album is reported");
    assert!(line.contains("no cover image file"), "{line}");
    assert!(!stderr.contains("Scans"), "{stderr}");
    assert_eq!(snapshot(&lib), before, "the library is unchanged");
}

impl Fixture {
    /// Classify with `stdin` piped in.
    fn classify_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_covergenre-classify"))
            .arg("--model")
            .arg(&self.model)
            .args(["--threads", "2"])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the binary runs");
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().unwrap()
    }
}

#[test]
fn listed_albums_are_classified_as_listed_and_nothing_else_is_searched() {
    let fx = Fixture::new();
    let lib = fx.path("Music");
    save_cover(&lib.join("Red/cover.png"), 0);
    // An album inside a listed one is not listed, so it is not classified.
    save_cover(&lib.join("Red/Bonus/cover.png"), 2);
    put(
        &lib.join("Green/01.mp3"),
        &mp3_with_picture(&png_bytes(1), 4),
    );
    // Its own cover is red; the list names a blue image elsewhere, which wins.
    save_cover(&lib.join("Elsewhere/cover.png"), 0);
    save_cover(&fx.path("art/elsewhere.png"), 2);
    std::fs::create_dir_all(lib.join("Empty")).unwrap();
    let folder = |name: &str| lib.join(name).display().to_string();
    let list = format!(
        "{}\n{}\n{}\t{}\n\n{}\n{}\n",
        folder("Green"),
        folder("Red"),
        folder("Elsewhere"),
        fx.path("art/elsewhere.png").display(),
        folder("Missing"),
        folder("Empty"),
    );
    let before = snapshot(&lib);

    let out = fx.classify_with_stdin(
        &["--library", "--format", "jsonl", "--albums-from", "-"],
        list.as_bytes(),
    );
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "two listed folders fail: {stderr}"
    );
    let records = parse_jsonl(out.stdout.as_slice()).unwrap();
    let got: Vec<(String, String)> = records
        .iter()
        .map(|r| (r.path.clone(), r.genre.clone()))
        .collect();
    let want = [("Green", "green"), ("Red", "red"), ("Elsewhere", "blue")]
        .map(|(name, genre)| (folder(name), genre.to_string()));
    assert_eq!(got, want, "in list order: {stderr}");
    assert_eq!(records[0].top[0].name, "green", "rows carry display names");
    let line_of = |name: &str| {
        let path = folder(name);
        stderr
            .lines()
            .find(|l| l.contains(&format!("{path}: ")))
            .unwrap_or_else(|| panic!("{name} is reported: {stderr}"))
            .to_string()
    };
    assert!(line_of("Missing").contains("cannot read"));
    assert!(line_of("Empty").contains("is not an album"));
    assert!(!stderr.contains("Bonus"), "{stderr}");
    assert_eq!(snapshot(&lib), before, "the library is unchanged");

    let from_file = fx.path("albums.txt");
    std::fs::write(&from_file, format!("{}\n", folder("Red"))).unwrap();
    let out = fx.classify(&[
        "--library",
        "--format",
        "csv",
        "--albums-from",
        from_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(parse_csv(out.stdout.as_slice()).unwrap()[0].genre, "red");
}

#[test]
fn an_unreadable_album_list_is_a_fatal_error_naming_it() {
    let fx = Fixture::new();
    let missing = fx.path("no-such-list.txt");
    let out = fx.classify(&["--library", "--albums-from", missing.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot read the album list"), "{stderr}");
    assert!(stderr.contains(missing.to_str().unwrap()), "{stderr}");
    assert!(out.stdout.is_empty());
    let without_library = fx.classify(&["--albums-from", missing.to_str().unwrap()]);
    assert_eq!(without_library.status.code(), Some(2));
    assert!(text(&without_library.stderr).contains("--library"));
}
