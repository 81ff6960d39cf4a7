//! Tagging a made-up music library (`covergenre-classify --library --tag`): MP3, FLAC, Ogg
//! Opus and M4A tracks with real audio frames and embedded covers, an album with only a
//! cover.jpg, one with an existing genre, a read-only file, bad tracks. What was written is
//! read back with Python's mutagen (tests/tagcheck.py), never with the writer under test.

mod common;

use common::audio::{self, Track};
use common::colour::{colour_model, cover, png_bytes};
use common::tagcheck::{key_for, mutagen, value_of};
use common::{put, text};
use serde_json::Value;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const RED: usize = 0;
const GREEN: usize = 1;
const BLUE: usize = 2;

struct Library {
    dir: tempfile::TempDir,
    model: PathBuf,
    root: PathBuf,
}

/// The library every test starts from (each gets its own copy):
/// - `A/Mixed`: MP3, FLAC, Opus and M4A tracks, all with a red embedded cover;
/// - `A/Cover Only`: a green cover.jpg, FLAC and M4A tracks without pictures;
/// - `B/Has Genre`: blue cover.png, an MP3 already tagged "Jazz", an untagged Opus;
/// - `B/Read Only`: red cover, one read-only FLAC and one writable MP3;
/// - `B/Bare`: a FLAC with no picture and no cover file;
/// - `B/Grey`: a grey cover (1/3 each: under --min-confidence 0.5).
fn library() -> Library {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("colour.onnx");
    std::fs::write(&model, colour_model()).unwrap();
    let root = dir.path().join("Music");
    let red = Some(png_bytes(RED));
    let mixed = root.join("A/Mixed");
    put(
        &mixed.join("01 One.mp3"),
        &audio::mp3(&Track::new("One", red.clone())),
    );
    put(
        &mixed.join("02 Two.flac"),
        &audio::flac(&Track::new("Two", red.clone())),
    );
    put(
        &mixed.join("03 Three.opus"),
        &audio::opus(&Track::new("Three", red.clone())),
    );
    put(
        &mixed.join("04 Four.m4a"),
        &audio::m4a(&Track::new("Four", red.clone())),
    );
    let cover_only = root.join("A/Cover Only");
    common::write_image(&cover_only.join("cover.jpg"), &cover(GREEN, 48));
    put(
        &cover_only.join("01.flac"),
        &audio::flac(&Track::new("Green 1", None)),
    );
    put(
        &cover_only.join("02.m4a"),
        &audio::m4a(&Track::new("Green 2", None)),
    );
    let has_genre = root.join("B/Has Genre");
    common::write_image(&has_genre.join("cover.png"), &cover(BLUE, 48));
    put(
        &has_genre.join("01.mp3"),
        &audio::mp3(&Track::new("Blue 1", None).with_genre("Jazz")),
    );
    put(
        &has_genre.join("02.opus"),
        &audio::opus(&Track::new("Blue 2", None)),
    );
    let read_only = root.join("B/Read Only");
    common::write_image(&read_only.join("folder.png"), &cover(RED, 48));
    put(
        &read_only.join("01 locked.flac"),
        &audio::flac(&Track::new("Locked", None)),
    );
    std::fs::set_permissions(
        read_only.join("01 locked.flac"),
        std::fs::Permissions::from_mode(0o444),
    )
    .unwrap();
    put(
        &read_only.join("02 open.mp3"),
        &audio::mp3(&Track::new("Open", None)),
    );
    put(
        &root.join("B/Bare/01.flac"),
        &audio::flac(&Track::new("Bare", None)),
    );
    let grey = image::RgbImage::from_pixel(32, 32, image::Rgb([120, 120, 120]));
    common::write_image(&root.join("B/Grey/cover.png"), &grey);
    put(
        &root.join("B/Grey/01.mp3"),
        &audio::mp3(&Track::new("Grey", None)),
    );
    Library { dir, model, root }
}

impl Library {
    fn album(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    fn command(&self, args: &[&OsStr]) -> Command {
        common::tag_command(&self.model, args, &self.root, self.dir.path())
    }

    fn tag(&self, args: &[&str]) -> Output {
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        self.command(&args).output().unwrap()
    }

    fn journal(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn apply(&self, extra: &[&str], journal: &str) -> Output {
        let journal = self.journal(journal);
        let mut args = vec!["--apply", "--journal", journal.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.tag(&args)
    }

    fn undo(&self, journal: &str) -> Output {
        Command::new(env!("CARGO_BIN_EXE_covergenre-classify"))
            .arg("--undo")
            .arg(self.journal(journal))
            .output()
            .unwrap()
    }

    fn tracks(&self) -> Vec<PathBuf> {
        files(&self.root)
            .into_iter()
            .filter(|p| covergenre::files::is_audio_path(p))
            .collect()
    }
}

fn files(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    files.sort();
    files
}

/// Every file's bytes and modification time.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, (Vec<u8>, std::time::SystemTime)> {
    files(root)
        .into_iter()
        .map(|p| {
            let modified = std::fs::metadata(&p).unwrap().modified().unwrap();
            (p.clone(), (std::fs::read(&p).unwrap(), modified))
        })
        .collect()
}

/// mutagen's view of each file (tests/tagcheck.py), keyed by path.
/// Every track's tags, read by mutagen, are those of `before`; `context` leads each message.
fn assert_tags_as_before(tracks: &[PathBuf], before: &BTreeMap<PathBuf, Value>, context: &str) {
    let now = mutagen(tracks);
    for track in tracks {
        assert_eq!(
            before[track]["tags"],
            now[track]["tags"],
            "{context}{}",
            track.display()
        );
    }
}

/// M4A freeform values come back as bytes (hashed by tagcheck.py).
/// Every track holds exactly the bytes it held in `snapshot`.
fn assert_bytes_as_before(
    tracks: &[PathBuf],
    snapshot: &BTreeMap<PathBuf, (Vec<u8>, std::time::SystemTime)>,
    context: &str,
) {
    for track in tracks {
        assert!(
            std::fs::read(track).unwrap() == snapshot[track].0,
            "{context}{}: byte for byte as before",
            track.display()
        );
    }
}

fn expected_text(file: &Value, field: Option<&str>, value: &str) -> String {
    if file["format"] == "MP4" && field.is_some() {
        use sha2_like::sha256_hex;
        format!("sha256:{}", sha256_hex(value.as_bytes()))
    } else {
        value.to_string()
    }
}

/// Asserts `after` is `before` with `field` set to `value` (or unchanged for None): every other
/// tag, the pictures and the audio are as they were.
fn assert_changed_only(
    path: &Path,
    before: &Value,
    after: &Value,
    field: Option<&str>,
    value: Option<&str>,
) {
    assert!(after.get("error").is_none(), "{}: {after}", path.display());
    assert_eq!(
        before["audio"],
        after["audio"],
        "{}: audio changed",
        path.display()
    );
    let key = key_for(before, field);
    let mut others_before = before["tags"].as_object().unwrap().clone();
    let mut others_after = after["tags"].as_object().unwrap().clone();
    others_before.remove(&key);
    let got = others_after.remove(&key);
    assert_eq!(
        others_before,
        others_after,
        "{}: other tags changed",
        path.display()
    );
    match value {
        Some(value) => assert_eq!(
            got.and_then(|v| v.as_str().map(String::from)),
            Some(expected_text(after, field, value)),
            "{}: {key}",
            path.display()
        ),
        None => assert_eq!(
            Some(&before["tags"][&key])
                .filter(|v| !v.is_null())
                .cloned(),
            got,
            "{}",
            path.display()
        ),
    }
}

/// A tiny SHA-256 for the M4A freeform comparison (mutagen hands those values back as bytes).
mod sha2_like {
    pub fn sha256_hex(data: &[u8]) -> String {
        let out = std::process::Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(data)?;
                child.wait_with_output()
            })
            .expect("sha256sum runs");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    }
}

/// Which genre each album's tracks should get from a full `--apply`.
fn expected_albums() -> [(&'static str, &'static str); 3] {
    [
        ("A/Mixed", "red"),
        ("A/Cover Only", "green"),
        ("B/Read Only", "red"),
    ]
}

fn album_of(lib: &Library, track: &Path) -> String {
    track
        .parent()
        .unwrap()
        .strip_prefix(&lib.root)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn the_plan_lists_every_album_and_writes_nothing() {
    let lib = library();
    let before = snapshot(&lib.root);
    let out = lib.tag(&[]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let line_for = |album: &str| {
        let folder = lib.album(album).display().to_string();
        stdout
            .lines()
            .find(|l| l.contains(&format!("{folder}:")))
            .unwrap_or_else(|| panic!("{album} in\n{stdout}"))
            .to_string()
    };
    assert!(
        line_for("A/Mixed").starts_with("ALBUM") && line_for("A/Mixed").contains("genre = red"),
        "{stdout}"
    );
    assert!(
        line_for("A/Cover Only").contains("genre = green"),
        "{stdout}"
    );
    assert!(
        line_for("B/Has Genre").starts_with("SKIP")
            && line_for("B/Has Genre").contains("existing genre"),
        "{stdout}"
    );
    assert!(line_for("B/Bare").contains("no cover"), "{stdout}");
    assert!(line_for("B/Grey").contains("low confidence"), "{stdout}");
    assert!(stdout.contains("01 One.mp3: (none) -> red"), "{stdout}");
    assert!(stdout.contains("01.mp3: Jazz -> blue"), "{stdout}");
    assert!(
        stdout.contains("01 locked.flac: (none) -> red  [skipped: read-only file]"),
        "{stdout}"
    );
    assert!(
        stderr.contains("would tag 3 album(s) (7 track(s), 1 track(s) left alone); skipped albums: 1 existing genre, 1 low confidence, 1 no cover"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was written"), "{stderr}");
    assert_eq!(
        snapshot(&lib.root),
        before,
        "every file byte-identical, mtimes too"
    );
    assert!(std::fs::read_dir(lib.dir.path()).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains("journal")));
}

#[test]
fn apply_writes_the_genre_and_nothing_else_and_undo_gives_the_files_back() {
    let lib = library();
    let tracks = lib.tracks();
    let bytes_before = snapshot(&lib.root);
    let before = mutagen(&tracks);
    let out = lib.apply(&[], "run.jsonl");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("tagged 3 album(s) (7 track(s)"), "{stderr}");
    assert!(
        stderr.contains(&lib.journal("run.jsonl").display().to_string()),
        "the journal is named: {stderr}"
    );
    let after = mutagen(&tracks);
    let expected: BTreeMap<&str, &str> = expected_albums().into();
    for track in &tracks {
        let album = album_of(&lib, track);
        let locked = track.ends_with("01 locked.flac");
        let value = expected.get(album.as_str()).filter(|_| !locked).copied();
        assert_changed_only(track, &before[track], &after[track], None, value);
        if value.is_none() {
            assert_eq!(
                std::fs::read(track).unwrap(),
                bytes_before[track].0,
                "{}: untouched",
                track.display()
            );
        }
        let modified = std::fs::metadata(track).unwrap().modified().unwrap();
        assert_eq!(
            modified,
            bytes_before[track].1,
            "{}: modification time kept",
            track.display()
        );
    }
    let mode = std::fs::metadata(lib.album("B/Read Only/02 open.mp3"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644, "permissions kept");
    let journal = std::fs::read_to_string(lib.journal("run.jsonl")).unwrap();
    let lines: Vec<Value> = journal
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The plan first (7 entries), then per file what gives it back (before it is
    // replaced) and the file as written.
    assert_eq!(lines.len(), 7 + 2 * 7, "{journal}");
    for entry in &lines[..7] {
        for key in ["file", "field", "old", "new", "time", "root"] {
            assert!(entry.get(key).is_some(), "{key} in {entry}");
        }
        assert!(Path::new(entry["file"].as_str().unwrap()).is_absolute());
    }
    for (index, pair) in lines[7..].chunks(2).enumerate() {
        let (restore, written) = (&pair[0], &pair[1]);
        assert_eq!(restore["restore"], index, "{restore}");
        assert!(
            restore["splices"].as_array().is_some_and(|s| !s.is_empty()),
            "{restore}"
        );
        assert_eq!(written["written"], index, "{written}");
        assert!(written["identity"]["inode"].as_u64().is_some(), "{written}");
    }
    assert!(files(&lib.root)
        .iter()
        .all(|p| !p.to_string_lossy().contains("covergenre-tmp")));

    let undone = lib.undo("run.jsonl");
    assert_eq!(undone.status.code(), Some(0), "{}", text(&undone.stderr));
    assert!(
        text(&undone.stderr).contains("restored 7 file(s)"),
        "{}",
        text(&undone.stderr)
    );
    assert!(
        text(&undone.stderr).contains("7 of the 7 file(s) restored are byte for byte"),
        "{}",
        text(&undone.stderr)
    );
    let restored = mutagen(&tracks);
    for track in &tracks {
        assert_changed_only(track, &before[track], &restored[track], None, None);
        assert_eq!(
            before[track]["tags"],
            restored[track]["tags"],
            "{}",
            track.display()
        );
        assert_eq!(
            std::fs::read(track).unwrap(),
            bytes_before[track].0,
            "{}: byte for byte as before",
            track.display()
        );
    }
    let again = lib.undo("run.jsonl");
    assert_eq!(again.status.code(), Some(0));
    assert!(
        text(&again.stderr).contains("restored 0 file(s), 7 already as before"),
        "{}",
        text(&again.stderr)
    );
}

#[test]
fn a_field_of_our_own_leaves_the_standard_genre_alone() {
    let lib = library();
    let tracks = lib.tracks();
    let bytes_before = snapshot(&lib.root);
    let before = mutagen(&tracks);
    let out = lib.apply(&["--field", "COVERGENRE"], "field.jsonl");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let after = mutagen(&tracks);
    let mut expected: BTreeMap<&str, &str> = expected_albums().into();
    expected.insert("B/Has Genre", "blue"); // its own genre is in another field
    for track in &tracks {
        let album = album_of(&lib, track);
        let value = expected
            .get(album.as_str())
            .filter(|_| !track.ends_with("01 locked.flac"))
            .copied();
        assert_changed_only(
            track,
            &before[track],
            &after[track],
            Some("COVERGENRE"),
            value,
        );
        assert_eq!(
            value_of(&after[track], None),
            value_of(&before[track], None),
            "{}",
            track.display()
        );
    }
    assert_eq!(
        value_of(&after[&lib.album("B/Has Genre/01.mp3")], None).as_deref(),
        Some("Jazz")
    );
    let undone = lib.undo("field.jsonl");
    assert_eq!(undone.status.code(), Some(0), "{}", text(&undone.stderr));
    assert_tags_as_before(&tracks, &before, "");
    assert_bytes_as_before(&tracks, &bytes_before, "");
}

#[test]
fn overwrite_is_needed_to_replace_an_existing_genre() {
    let lib = library();
    let mp3 = lib.album("B/Has Genre/01.mp3");
    let opus = lib.album("B/Has Genre/02.opus");
    let untouched = std::fs::read(&mp3).unwrap();
    let out = lib.apply(&[], "first.jsonl");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read(&mp3).unwrap(),
        untouched,
        "skipped without --overwrite"
    );
    let after_first = snapshot(&lib.root);
    let out = lib.apply(&["--overwrite"], "second.jsonl");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let read = mutagen(&[mp3.clone(), opus.clone()]);
    assert_eq!(value_of(&read[&mp3], None).as_deref(), Some("blue"));
    assert_eq!(value_of(&read[&opus], None).as_deref(), Some("blue"));
    let journal = std::fs::read_to_string(lib.journal("second.jsonl")).unwrap();
    let planned = journal.lines().filter(|l| l.contains("\"file\"")).count();
    assert_eq!(planned, 2, "only the newly tagged album: {journal}");
    assert!(journal.contains("\"old\":[\"Jazz\"]"), "{journal}");
    let undone = lib.undo("second.jsonl");
    assert_eq!(undone.status.code(), Some(0), "{}", text(&undone.stderr));
    let read = mutagen(&[mp3.clone(), opus.clone()]);
    assert_eq!(value_of(&read[&mp3], None).as_deref(), Some("Jazz"));
    assert_eq!(
        value_of(&read[&opus], None),
        None,
        "a field that did not exist is removed"
    );
    assert_bytes_as_before(&lib.tracks(), &after_first, "");
}

#[test]
fn bad_tracks_are_reported_by_name_and_the_rest_is_tagged() {
    let lib = library();
    let bad = lib.album("C/Bad Tracks");
    common::write_image(&bad.join("cover.png"), &cover(GREEN, 48));
    // A FLAC whose comment block claims far more comments than it holds.
    let mut corrupt = audio::flac(&Track::new("Corrupt", None));
    let comments_at = 4 + 4 + 34 + 4; // fLaC, STREAMINFO block, comment block header
    let vendor_len =
        u32::from_le_bytes(corrupt[comments_at..comments_at + 4].try_into().unwrap()) as usize;
    let count_at = comments_at + 4 + vendor_len;
    corrupt[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    put(&bad.join("01 corrupt.flac"), &corrupt);
    put(
        &bad.join("02 not audio.mp3"),
        b"these are liner notes, not an MP3\n",
    );
    put(
        &bad.join("03 good.flac"),
        &audio::flac(&Track::new("Good", None)),
    );
    let odd_name = bad.join(OsStr::from_bytes(b"04 caf\xe9 latin-1.opus"));
    put(&odd_name, &audio::opus(&Track::new("Latin-1 name", None)));
    let untouched = [
        std::fs::read(bad.join("01 corrupt.flac")).unwrap(),
        std::fs::read(bad.join("02 not audio.mp3")).unwrap(),
    ];
    let out = lib.apply(&[], "bad.jsonl");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    for name in ["01 corrupt.flac", "02 not audio.mp3"] {
        let path = bad.join(name).display().to_string();
        assert!(
            stderr.lines().any(|l| l.contains(&path)),
            "{name} is named in:\n{stderr}"
        );
    }
    assert!(
        stderr.contains("failed: 1 album(s) (2 track(s))"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(bad.join("01 corrupt.flac")).unwrap(),
        untouched[0]
    );
    assert_eq!(
        std::fs::read(bad.join("02 not audio.mp3")).unwrap(),
        untouched[1]
    );
    let read = mutagen(&[bad.join("03 good.flac"), odd_name.clone()]);
    assert_eq!(
        value_of(&read[&bad.join("03 good.flac")], None).as_deref(),
        Some("green")
    );
    assert_eq!(
        value_of(&read[&odd_name], None).as_deref(),
        Some("green"),
        "a non-UTF-8 name is tagged too"
    );
    assert!(lib
        .tracks()
        .iter()
        .all(
            |p| mutagen(std::slice::from_ref(p))[p].get("error").is_none() || p.starts_with(&bad)
        ));
    let undone = lib.undo("bad.jsonl");
    assert_eq!(undone.status.code(), Some(0), "{}", text(&undone.stderr));
    assert_eq!(
        value_of(&mutagen(std::slice::from_ref(&odd_name))[&odd_name], None),
        None,
        "undone through the exact path bytes"
    );
}

#[test]
fn a_read_only_folder_is_reported_and_left_alone() {
    let lib = library();
    let folder = lib.album("A/Cover Only");
    let before = snapshot(&folder);
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o555)).unwrap();
    let out = lib.apply(&[], "ro.jsonl");
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}: read-only folder",
            folder.join("01.flac").display()
        )),
        "{stderr}"
    );
    assert_eq!(snapshot(&folder), before);
}

/// Starts an `--apply` that pauses at `stage` of its n-th file, waits for the pause, kills it
/// with SIGKILL. Returns false when the run ended before reaching that point.
fn kill_at(lib: &Library, stage: &str, n: usize, journal: &str) -> bool {
    let journal = lib.journal(journal);
    let args: Vec<&OsStr> = ["--apply", "--journal"]
        .iter()
        .map(OsStr::new)
        .chain([journal.as_os_str()])
        .collect();
    let mut child = lib
        .command(&args)
        .env("COVERGENRE_TEST_PAUSE", format!("{stage}:{n}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let paused = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .any(|line| line.starts_with("covergenre-test: paused"));
    child.kill().ok(); // SIGKILL
    child.wait().unwrap();
    paused
}

#[test]
fn a_run_killed_at_any_point_leaves_every_file_whole_and_a_rerun_finishes() {
    let expected: BTreeMap<&str, &str> = expected_albums().into();
    for (stage, n) in [
        ("copied", 1),
        ("edited", 2),
        ("synced", 4),
        ("renamed", 3),
        ("copied", 6),
        ("renamed", 7),
    ] {
        let lib = library();
        let tracks = lib.tracks();
        let bytes_before = snapshot(&lib.root);
        let before = mutagen(&tracks);
        assert!(
            kill_at(&lib, stage, n, "killed.jsonl"),
            "the run reached {stage} {n}"
        );
        let now = mutagen(&tracks);
        let mut new_files = 0;
        for track in &tracks {
            let value = expected.get(album_of(&lib, track).as_str()).copied();
            assert!(
                now[track].get("error").is_none(),
                "{stage} {n}: {} is broken: {}",
                track.display(),
                now[track]
            );
            if now[track]["tags"] != before[track]["tags"] {
                assert_changed_only(track, &before[track], &now[track], None, value);
                new_files += 1;
            }
            assert_eq!(now[track]["audio"], before[track]["audio"]);
        }
        let done_before_kill = if stage == "renamed" { n } else { n - 1 };
        assert_eq!(
            new_files, done_before_kill,
            "{stage} {n}: old or new, nothing between"
        );
        let rerun = lib.apply(&[], "rerun.jsonl");
        let stderr = text(&rerun.stderr);
        assert_eq!(rerun.status.code(), Some(0), "{stderr}");
        if stage != "renamed" {
            assert!(
                stderr.contains("(left by a killed run)"),
                "{stage}: the leftover is removed: {stderr}"
            );
        }
        assert!(files(&lib.root)
            .iter()
            .all(|p| !p.to_string_lossy().contains("covergenre-tmp")));
        let finished = mutagen(&tracks);
        for track in &tracks {
            let value = expected
                .get(album_of(&lib, track).as_str())
                .filter(|_| !track.ends_with("01 locked.flac"))
                .copied();
            assert_changed_only(track, &before[track], &finished[track], None, value);
        }
        // Undo both runs, newest first: everything as it was.
        for journal in ["rerun.jsonl", "killed.jsonl"] {
            let undone = lib.undo(journal);
            assert_eq!(undone.status.code(), Some(0), "{}", text(&undone.stderr));
        }
        assert_tags_as_before(&tracks, &before, &format!("{stage} {n}: "));
        assert_bytes_as_before(&tracks, &bytes_before, &format!("{stage} {n}: "));
    }
}

#[test]
fn an_undo_killed_half_way_finishes_when_run_again() {
    let lib = library();
    let tracks = lib.tracks();
    let bytes_before = snapshot(&lib.root);
    let before = mutagen(&tracks);
    let out = lib.apply(&[], "run.jsonl");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut child = Command::new(env!("CARGO_BIN_EXE_covergenre-classify"))
        .arg("--undo")
        .arg(lib.journal("run.jsonl"))
        .env("COVERGENRE_TEST_PAUSE", "edited:3")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let paused = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .any(|line| line.starts_with("covergenre-test: paused"));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(paused);
    let again = lib.undo("run.jsonl");
    let stderr = text(&again.stderr);
    assert_eq!(again.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("restored 5 file(s), 2 already as before"),
        "{stderr}"
    );
    assert!(stderr.contains("(left by a killed run)"), "{stderr}");
    assert_tags_as_before(&tracks, &before, "");
    assert_bytes_as_before(&tracks, &bytes_before, "");
}

#[test]
fn undo_of_a_missing_or_broken_journal_says_which_and_why() {
    let lib = library();
    let missing = lib.undo("nope.jsonl");
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing.stderr).contains("nope.jsonl"),
        "{}",
        text(&missing.stderr)
    );
    std::fs::write(lib.journal("broken.jsonl"), "{\"file\":\"x\"}\n").unwrap();
    let broken = lib.undo("broken.jsonl");
    assert_eq!(broken.status.code(), Some(2));
    assert!(
        text(&broken.stderr).contains("line 1"),
        "{}",
        text(&broken.stderr)
    );
}

#[test]
fn a_library_on_a_read_only_mount_is_reported_file_by_file_and_left_whole() {
    let lib = library();
    let before = snapshot(&lib.root);
    // A private mount namespace with the library bound read-only over itself (needs root).
    let probe = Command::new("unshare").args(["-m", "true"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED a_library_on_a_read_only_mount: cannot make a mount namespace here (needs root and unshare)");
        return;
    }
    let journal = lib.journal("ro-mount.jsonl");
    let script = "mount --bind -o ro \"$1\" \"$1\" && exec \"$2\" --model \"$3\" --threads 2 --min-confidence 0.5 --library --tag --apply --journal \"$4\" \"$1\"";
    let out = Command::new("unshare")
        .args(["-m", "sh", "-c", script, "sh"])
        .arg(&lib.root)
        .arg(env!("CARGO_BIN_EXE_covergenre-classify"))
        .arg(&lib.model)
        .arg(&journal)
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for track in [
        "A/Mixed/01 One.mp3",
        "A/Cover Only/02.m4a",
        "B/Read Only/02 open.mp3",
    ] {
        let path = lib.album(track).display().to_string();
        let line = stderr
            .lines()
            .find(|l| l.contains(&path))
            .unwrap_or_else(|| panic!("{path} named in:\n{stderr}"));
        assert!(line.contains("read-only file system"), "{line}");
    }
    assert!(
        stderr.contains("tagged 0 album(s) (0 track(s), 8 track(s) left alone)"),
        "{stderr}"
    );
    assert_eq!(
        snapshot(&lib.root),
        before,
        "nothing written, nothing left behind"
    );
}

/// One album of the text plan: its header line, the line saying why the proposal is what it
/// is (the artist context), and its track lines.
struct TextAlbum {
    folder: String,
    header: String,
    proposal: Option<String>,
    tracks: Vec<String>,
}

/// The text plan split into albums (after the header lines: the threshold, the artists).
fn text_albums(stdout: &str) -> Vec<TextAlbum> {
    let mut albums: Vec<TextAlbum> = Vec::new();
    let is_album = |line: &str| line.starts_with("ALBUM ") || line.starts_with("SKIP  ");
    for line in stdout.lines().skip_while(|l| !is_album(l)) {
        if let Some(rest) = line.strip_prefix("ALBUM ").or(line.strip_prefix("SKIP  ")) {
            let folder = rest.split(": ").next().unwrap().to_string();
            albums.push(TextAlbum {
                folder,
                header: line.to_string(),
                proposal: None,
                tracks: Vec::new(),
            });
        } else if line.trim_start().starts_with("proposal: ") {
            albums.last_mut().unwrap().proposal = Some(line.trim().to_string());
        } else {
            albums
                .last_mut()
                .unwrap()
                .tracks
                .push(line.trim().to_string());
        }
    }
    albums
}

#[test]
fn the_json_plan_parses_and_agrees_album_by_album_with_the_text_plan() {
    let lib = library();
    let text_out = lib.tag(&[]);
    assert_eq!(
        text_out.status.code(),
        Some(0),
        "{}",
        text(&text_out.stderr)
    );
    let json_out = lib.tag(&["--format", "json"]);
    assert_eq!(
        json_out.status.code(),
        Some(0),
        "{}",
        text(&json_out.stderr)
    );
    let document: Value = serde_json::from_slice(&json_out.stdout).unwrap();
    assert_eq!(document["version"], 1);
    assert_eq!(document["min_confidence"].as_f64(), Some(0.5));
    let albums = document["albums"].as_array().unwrap();
    let text_plan = text(&text_out.stdout);
    let from_text = text_albums(&text_plan);
    assert_eq!(albums.len(), from_text.len(), "{text_plan}");
    assert_eq!(albums.len(), 6, "every album, skipped ones too");
    for (album, shown) in albums.iter().zip(&from_text) {
        let folder = album["folder"].as_str().unwrap();
        assert_eq!(folder, shown.folder);
        let key = Path::new(folder).strip_prefix(&lib.root).unwrap();
        assert_eq!(
            album["album"].as_str(),
            key.to_str(),
            "the key is relative to the root"
        );
        assert_eq!(album["root"].as_str(), lib.root.to_str());
        let header = &shown.header;
        match album["action"].as_str().unwrap() {
            "write" => {
                let value = album["genres"][0].as_str().unwrap();
                let p = album["probability"].as_f64().unwrap();
                assert!(header.starts_with("ALBUM"), "{header}");
                assert!(
                    header.ends_with(&format!("genre = {value} ({p:.3})")),
                    "{header}"
                );
            }
            "skip" => {
                let reason = album["reason"].as_str().unwrap();
                assert!(
                    header.starts_with(&format!("SKIP  {folder}: {reason}")),
                    "{header}"
                );
            }
            other => panic!("action {other}"),
        }
        let top = album["top"].as_array().unwrap();
        if album["reason"] == "no cover" {
            assert!(top.is_empty() && album["detail"].is_string(), "{album}");
        } else {
            assert_eq!(top.len(), 3, "the top k (--top-k 3): {album}");
            assert_eq!(top[0]["value"], album["genres"][0]);
            let p: Vec<f64> = top
                .iter()
                .map(|t| t["probability"].as_f64().unwrap())
                .collect();
            assert!(p.windows(2).all(|w| w[0] >= w[1]), "best first: {p:?}");
        }
        let has_proposal = album["genres"].as_array().is_some_and(|g| !g.is_empty());
        assert_eq!(
            shown.proposal.is_some(),
            album.get("artist").is_some() && has_proposal,
            "the text shows the artist where the JSON has one: {album}"
        );
        let tracks = album["tracks"].as_array().unwrap();
        assert_eq!(tracks.len(), shown.tracks.len(), "{folder}");
        for (track, line) in tracks.iter().zip(&shown.tracks) {
            let file = track["file"].as_str().unwrap();
            let values: Vec<&str> = track["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            let now = if values.is_empty() {
                "(none)".to_string()
            } else {
                values.join("; ")
            };
            assert!(
                line.starts_with(&format!("{file}: {now} -> ")),
                "{line} vs {track}"
            );
            let path = Path::new(folder).join(file);
            let metadata = std::fs::metadata(&path).unwrap();
            assert_eq!(
                track["size"].as_u64(),
                Some(metadata.len()),
                "{}",
                path.display()
            );
            assert!(
                track["modified"].as_str().unwrap().ends_with('Z'),
                "{track}"
            );
            let skipped = line.contains("[skipped: ");
            assert_eq!(skipped, track["action"] == "skip", "{line} vs {track}");
        }
    }
    let has_genre = albums.iter().find(|a| a["album"] == "B/Has Genre").unwrap();
    assert_eq!(
        has_genre["tracks"][0]["values"],
        serde_json::json!(["Jazz"])
    );
    let jsonl = lib.tag(&["--format", "jsonl"]);
    assert_eq!(jsonl.status.code(), Some(0), "{}", text(&jsonl.stderr));
    let lines: Vec<Value> = text(&jsonl.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(&lines, albums, "one album a line, the same albums");
    assert!(text(&jsonl.stderr).contains("threshold: --min-confidence 0.50"));
    let csv = lib.tag(&["--format", "csv"]);
    assert_eq!(csv.status.code(), Some(2));
    assert!(
        text(&csv.stderr).contains("not csv"),
        "{}",
        text(&csv.stderr)
    );
}

#[test]
fn without_min_confidence_the_plan_uses_the_careful_default_and_says_so() {
    let lib = library();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_covergenre-classify"))
            .arg("--model")
            .arg(&lib.model)
            .args(["--threads", "2", "--library", "--tag"])
            .args(args)
            .arg(&lib.root)
            .output()
            .unwrap()
    };
    let default = run(&[]);
    let stdout = text(&default.stdout);
    let first = stdout.lines().next().unwrap();
    assert!(
        first.starts_with("threshold: --min-confidence 0.45 (the default"),
        "{first}"
    );
    assert!(
        first.contains("change it with --min-confidence P (0 writes everything)"),
        "{first}"
    );
    let grey = lib.album("B/Grey").display().to_string();
    assert!(
        stdout.contains(&format!("SKIP  {grey}: low confidence")),
        "{stdout}"
    );
    let everything = run(&["--min-confidence", "0"]);
    let stdout = text(&everything.stdout);
    assert!(
        stdout.starts_with("threshold: --min-confidence 0.00 (given"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("ALBUM {grey}: genre = ")),
        "{stdout}"
    );

    // A model that records its own threshold: that one holds unless the flag is given.
    let own = lib.dir.path().join("own.onnx");
    let bytes = covergenre::export::temperature::with_tag_threshold(
        &std::fs::read(&lib.model).unwrap(),
        Some(0.3),
    )
    .unwrap();
    std::fs::write(&own, bytes).unwrap();
    let recorded = Command::new(env!("CARGO_BIN_EXE_covergenre-classify"))
        .arg("--model")
        .arg(&own)
        .args([
            "--threads",
            "2",
            "--library",
            "--tag",
            "--apply",
            "--journal",
        ])
        .arg(lib.journal("own.jsonl"))
        .arg(&lib.root)
        .output()
        .unwrap();
    let stdout = text(&recorded.stdout);
    assert!(
        stdout.starts_with("threshold: --min-confidence 0.30 (the model's own"),
        "{stdout}"
    );
    let track = lib.album("B/Grey/01.mp3");
    let read = mutagen(std::slice::from_ref(&track));
    assert!(
        value_of(&read[&track], None).is_some(),
        "1/3 >= 0.3: written"
    );
}
