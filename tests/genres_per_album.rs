//! Several genres per album (`--max-genres`, `--min-genre-probability`, `--separator`, a
//! decision with several genres): written as separate values per format (ID3v2.4 TCON
//! strings, an ID3v2.3 tag joined with '/', Vorbis GENRE comments in FLAC and Ogg, M4A ©gen
//! items), read back by Python's mutagen (tests/tagcheck.py), and undone byte for byte, multi-valued
//! genres included.

mod common;

use common::audio::{self, Track};
use common::colour::colour_model;
use common::tagcheck::{assert_same_bytes, bytes_of, key_for, mutagen};
use common::{assert_ok, put, text};
use serde_json::Value;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;

/// The colour model's probabilities for this cover: red 0.735, green 0.265, blue 0.000.
const RED_AND_GREEN: [u8; 3] = [153, 140, 25];

struct Library {
    dir: tempfile::TempDir,
    model: PathBuf,
    root: PathBuf,
}

/// One album, `Mixed/`, of a red-and-green cover.png and a track per format: MP3 with an
/// ID3v2.3 tag, MP3 with an ID3v2.4 tag, FLAC, Opus, M4A, each made with `genres` (none, one,
/// or several values; the v2.3 track takes only the first).
fn library(genres: &[&str]) -> Library {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("colour.onnx");
    std::fs::write(&model, colour_model()).unwrap();
    let root = dir.path().join("Music");
    let album = root.join("Mixed");
    let cover = image::RgbImage::from_pixel(32, 32, image::Rgb(RED_AND_GREEN));
    common::write_image(&album.join("cover.png"), &cover);
    let track = |title: &str, genres: &[&str]| {
        genres
            .iter()
            .fold(Track::new(title, None), |t, g| t.with_genre(g))
    };
    put(
        &album.join("01 v23.mp3"),
        &audio::mp3(&track("v2.3", &genres[..genres.len().min(1)])),
    );
    put(
        &album.join("02 v24.mp3"),
        &audio::mp3(&track("v2.4", genres).id3v24()),
    );
    put(&album.join("03.flac"), &audio::flac(&track("FLAC", genres)));
    put(&album.join("04.opus"), &audio::opus(&track("Opus", genres)));
    put(&album.join("05.m4a"), &audio::m4a(&track("M4A", genres)));
    Library { dir, model, root }
}

impl Library {
    fn tag(&self, args: &[&str]) -> Output {
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        common::tag_command(&self.model, &args, &self.root, self.dir.path())
            .output()
            .unwrap()
    }

    fn journal(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn undo(&self, journal: &str) -> Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_covergenre-classify"))
            .args(["--undo", &self.journal(journal)])
            .output()
            .unwrap()
    }

    fn tracks(&self) -> Vec<PathBuf> {
        let mut tracks: Vec<PathBuf> = std::fs::read_dir(self.root.join("Mixed"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| covergenre::files::is_audio_path(p))
            .collect();
        tracks.sort();
        tracks
    }
}

fn name(track: &Path) -> String {
    track.file_name().unwrap().to_string_lossy().into_owned()
}

/// The genre field as mutagen reads it (values joined with '|'), per track name.
fn genres_read(tracks: &[PathBuf]) -> BTreeMap<String, Option<String>> {
    mutagen(tracks)
        .iter()
        .map(|(path, file)| {
            assert!(file.get("error").is_none(), "{}: {file}", path.display());
            let value = file["tags"][key_for(file, None)].as_str().map(String::from);
            (name(path), value)
        })
        .collect()
}

/// Every tag but the genre, the ID3 version and the audio, per track: what must not change.
fn all_but_the_genre(tracks: &[PathBuf]) -> BTreeMap<String, Value> {
    mutagen(tracks)
        .into_iter()
        .map(|(path, mut file)| {
            let key = key_for(&file, None);
            file["tags"].as_object_mut().unwrap().remove(&key);
            file.as_object_mut().unwrap().remove("path");
            (name(&path), file)
        })
        .collect()
}

fn expect(v23: &str, others: &str) -> BTreeMap<String, Option<String>> {
    [
        ("01 v23.mp3", v23),
        ("02 v24.mp3", others),
        ("03.flac", others),
        ("04.opus", others),
        ("05.m4a", others),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_string(), Some(v.to_string())))
    .collect()
}

#[test]
fn two_genres_are_written_as_separate_values_in_every_format_and_undone_exactly() {
    let lib = library(&[]);
    let tracks = lib.tracks();
    let kept = all_but_the_genre(&tracks);
    let bytes = bytes_of(&tracks);
    let journal = lib.journal("two.jsonl");
    let args = ["--max-genres", "2", "--min-genre-probability", "0.2"];

    let plan = lib.tag(&args);
    assert_ok(&plan);
    let stdout = text(&plan.stdout);
    assert!(stdout.contains("= [red, green] (0.73"), "{stdout}");
    assert!(stdout.contains("(none) -> [red, green]"), "{stdout}");
    let json = lib.tag(&[&args[..], &["--format", "json"]].concat());
    let document: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        document["albums"][0]["genres"],
        serde_json::json!(["red", "green"])
    );

    let applied = lib.tag(&[&args[..], &["--apply", "--journal", &journal]].concat());
    assert!(assert_ok(&applied).contains("tagged 1 album(s) (5 track(s)"));
    // ID3v2.4 holds two strings, v2.3 one joined with '/', as v2.3 readers expect.
    assert_eq!(genres_read(&tracks), expect("red/green", "red|green"));
    let versions: Vec<Value> = mutagen(&tracks[..2])
        .values()
        .map(|f| f["id3"].clone())
        .collect();
    assert_eq!(versions, ["2.3", "2.4"], "each MP3 keeps its ID3 version");
    assert_eq!(all_but_the_genre(&tracks), kept, "only the genre changed");

    // Each track, the v2.3 one too, already holds what the plan proposes.
    let again = lib.tag(&args);
    assert!(
        assert_ok(&again).contains("1 already tagged"),
        "{}",
        text(&again.stderr)
    );

    assert_ok(&lib.undo("two.jsonl"));
    let none: BTreeMap<String, Option<String>> = tracks.iter().map(|t| (name(t), None)).collect();
    assert_eq!(genres_read(&tracks), none);
    assert_eq!(all_but_the_genre(&tracks), kept);
    assert_same_bytes(&bytes, "");
}

#[test]
fn a_second_genre_needs_the_minimum_probability() {
    let lib = library(&[]);
    // Green's 0.265 is under 0.3; blue's 0.000 is under 0.2 even with room for three.
    for args in [
        &["--max-genres", "2", "--min-genre-probability", "0.3"][..],
        &["--max-genres", "1"][..],
        // The default: --min-confidence (0.5 in these tests).
        &["--max-genres", "3"][..],
    ] {
        let out = lib.tag(args);
        assert_ok(&out);
        let stdout = text(&out.stdout);
        assert!(stdout.contains("(none) -> red\n"), "{args:?}: {stdout}");
    }
    let three = lib.tag(&["--max-genres", "3", "--min-genre-probability", "0.2"]);
    let stdout = text(&three.stdout);
    assert!(stdout.contains("(none) -> [red, green]\n"), "{stdout}");
}

#[test]
fn a_separator_joins_the_genres_into_one_value() {
    let lib = library(&[]);
    let tracks = lib.tracks();
    let journal = lib.journal("joined.jsonl");
    let out = lib.tag(&[
        "--max-genres",
        "2",
        "--min-genre-probability",
        "0.2",
        "--separator",
        "; ",
        "--apply",
        "--journal",
        &journal,
    ]);
    assert_ok(&out);
    assert_eq!(genres_read(&tracks), expect("red; green", "red; green"));
    let empty = lib.tag(&["--separator", ""]);
    assert_eq!(empty.status.code(), Some(2));
    assert!(text(&empty.stderr).contains("--separator"));
}

#[test]
fn undo_puts_back_a_multi_valued_genre_exactly() {
    let lib = library(&["Jazz", "Soul"]);
    let tracks = lib.tracks();
    let before = mutagen(&tracks);
    let bytes = bytes_of(&tracks);
    assert_eq!(genres_read(&tracks), expect("Jazz", "Jazz|Soul"));
    let journal = lib.journal("over.jsonl");
    let out = lib.tag(&["--overwrite", "--apply", "--journal", &journal]);
    assert_ok(&out);
    assert_eq!(genres_read(&tracks), expect("red", "red"));
    let lines = std::fs::read_to_string(&journal).unwrap();
    let first: Value = serde_json::from_str(lines.lines().nth(1).unwrap()).unwrap();
    assert_eq!(first["old"], serde_json::json!(["Jazz", "Soul"]), "{first}");
    assert_eq!(first["new"], serde_json::json!(["red"]), "{first}");

    assert_ok(&lib.undo("over.jsonl"));
    let after = mutagen(&tracks);
    for track in &tracks {
        assert_eq!(
            before[track]["tags"],
            after[track]["tags"],
            "{}",
            track.display()
        );
    }
    assert_same_bytes(&bytes, "");
}

#[test]
fn a_decision_with_several_genres_writes_them_all() {
    let lib = library(&[]);
    let tracks = lib.tracks();
    let bytes = bytes_of(&tracks);
    let decisions = lib.dir.path().join("decisions.json");
    std::fs::write(
        &decisions,
        r#"{"version": 1, "decisions": [{"album": "Mixed", "action": "apply", "genres": ["Shoegaze", "Dream Pop"]}]}"#,
    )
    .unwrap();
    let journal = lib.journal("decided.jsonl");
    let out = lib.tag(&[
        "--apply",
        "--decisions",
        decisions.to_str().unwrap(),
        "--journal",
        &journal,
    ]);
    assert_ok(&out);
    assert_eq!(
        genres_read(&tracks),
        expect("Shoegaze/Dream Pop", "Shoegaze|Dream Pop")
    );
    assert_ok(&lib.undo("decided.jsonl"));
    assert!(genres_read(&tracks).values().all(Option::is_none));
    assert_same_bytes(&bytes, "");
}
