//! Tagging a made-up music library (`covergenre-classify --library --tag`): MP3, FLAC, Ogg
//! Opus and M4A tracks with real audio frames and embedded covers, an album with only a
//! cover.jpg, one with an existing genre, a read-only file, bad tracks. What was written is
//! read back with Python's mutagen (tests/tagcheck.py), never with the writer under test.

mod common;

use common::snapshot;
use common::tag_library::*;

use common::audio::{self, Track};
use common::colour::cover;
use common::tagcheck::{mutagen, value_of};
use common::{put, text};
use serde_json::Value;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

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
