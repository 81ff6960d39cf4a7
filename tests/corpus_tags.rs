//! Tagging mutagen's own test files (the 99 files of mutagen 1.47.0's `tests/data`, which
//! scripts/setup.sh puts in `.deps/mutagen-corpus`): each file in an album folder of its own
//! with a made-up cover, `--library --tag --apply --overwrite --min-confidence 0`, then
//! `--undo`. Read back with mutagen (tests/corpus_check.py), never with the writer under test:
//! every other field as it was, the genre written, the stream info and the audio as they were,
//! every file byte for byte as it was after the undo, and the files refused exactly those
//! listed here, each with its reason.
//!
//! The test prints its table before it asserts; `COVERGENRE_CORPUS_CLASSIFY=<binary>` runs it
//! against another build (how docs/notes-tags.md measured the lofty writer of before).

mod common;

use common::colour::{colour_model, cover};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The corpus files tagged here, by extension: one line per format covergenre edits with a
/// splice editor of its own, and the extension the file gets in the library.
const FORMATS: &[(&str, &str)] = &[
    ("mp3", "mp3"),
    // ID3v2 tags without audio (an unsynchronised v2.3 tag, a v2.4 one with a stray
    // extended-header flag), tagged as MP3s.
    ("id3", "mp3"),
    ("flac", "flac"),
    ("ogg", "ogg"),
    ("opus", "opus"),
    ("spx", "spx"),
    // FLAC in Ogg: `.oga`, as libraries name it.
    ("oggflac", "oga"),
    ("m4a", "m4a"),
    ("m4b", "m4b"),
    ("mp4", "mp4"),
    // A 3GPP2 file: MP4 atoms, tagged as an `.mp4`.
    ("3g2", "mp4"),
    // ID3v2 in an `ID3 ` chunk (AIFF) or an `id3 ` chunk (WAV).
    ("aif", "aif"),
    ("wav", "wav"),
    // An APEv2 tag at the end (before an ID3v1 tag).
    ("ape", "ape"),
    ("wv", "wv"),
    ("mpc", "mpc"),
];

/// The corpus files covergenre refuses, with a part of the reason it gives. Each is a file
/// mutagen cannot tag either.
const REFUSED: &[(&str, &str)] = &[
    (
        "106-invalid-streaminfo.flac",
        "STREAMINFO block is 18 bytes long, not 34",
    ),
    // A lone `moov` atom, no `ftyp` and no audio: not taken for an MP4.
    ("64bit.mp4", "not an audio file covergenre can tag"),
    // `ID3 ` and junk where Musepack's header should be.
    (
        "almostempty.mpc",
        "the ID3v2 tag says it is 215562736 bytes long",
    ),
    ("emptyfile.mp3", "not an audio file covergenre can tag"),
    ("ooming-header.flac", "the FLAC metadata is cut short"),
    // Musepack SV4 and SV5 streams start with no magic bytes: mutagen takes them for Musepack
    // by their `.mpc` name, covergenre tells formats by content only (see KNOWN_GAPS).
    ("sv4_header.mpc", "not an audio file covergenre can tag"),
    ("sv5_header.mpc", "not an audio file covergenre can tag"),
];

/// The files covergenre refuses although mutagen can tag them, each with why.
const KNOWN_GAPS: &[&str] = &[
    // Musepack SV4/SV5: no magic bytes, recognised by mutagen from the file name.
    "sv4_header.mpc",
    "sv5_header.mpc",
];

const RED: usize = 0;

/// One corpus file in the library.
struct Case {
    name: String,
    original: PathBuf,
    track: PathBuf,
}

fn corpus() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(".deps/mutagen-corpus");
    assert!(
        path.is_dir(),
        "{} is missing: run scripts/setup.sh, which puts mutagen's test files there",
        path.display()
    );
    path
}

/// Runs tests/corpus_check.py `mode` with `args`; its JSON list.
fn check(mode: &str, args: &[&Path]) -> Vec<Value> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(repo.join(".deps/venv/bin/python"))
        .arg(repo.join("tests/corpus_check.py"))
        .arg(mode)
        .args(args)
        .output()
        .expect("the venv's Python runs (scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "corpus_check.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn describe(paths: &[&Path]) -> Vec<Value> {
    check("describe", paths)
}

/// Every corpus file of the formats above, each in an album folder of its own with a red
/// cover.
fn library(root: &Path) -> Vec<Case> {
    let mut names: Vec<(String, &str)> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|name| {
            let extension = name.rsplit_once('.')?.1.to_string();
            let (_, library) = FORMATS.iter().find(|(e, _)| *e == extension)?;
            Some((name, *library))
        })
        .collect();
    names.sort();
    names
        .into_iter()
        .enumerate()
        .map(|(i, (name, extension))| {
            let folder = root.join(format!("{i:03} {name}"));
            common::write_image(&folder.join("cover.png"), &cover(RED, 48));
            let stem = name.rsplit_once('.').unwrap().0;
            let track = folder.join(format!("{stem}.{extension}"));
            let original = corpus().join(&name);
            std::fs::copy(&original, &track).unwrap();
            Case {
                name,
                original,
                track: std::fs::canonicalize(&track).unwrap(),
            }
        })
        .collect()
}

fn classify(args: &[&std::ffi::OsStr]) -> std::process::Output {
    let binary = std::env::var_os("COVERGENRE_CORPUS_CLASSIFY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_covergenre-classify")));
    Command::new(binary).args(args).output().unwrap()
}

/// What the journal says: each file's new values, the files written, and the size of the
/// line that gives each back.
struct JournalRead {
    new: BTreeMap<PathBuf, Vec<String>>,
    written: BTreeSet<PathBuf>,
    restore_bytes: Vec<usize>,
}

fn read_journal(path: &Path) -> JournalRead {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let files: Vec<PathBuf> = lines
        .iter()
        .filter_map(|l| l["file"].as_str().map(PathBuf::from))
        .collect();
    let mut journal = JournalRead {
        new: BTreeMap::new(),
        written: BTreeSet::new(),
        restore_bytes: Vec::new(),
    };
    for line in &lines {
        if let Some(file) = line["file"].as_str() {
            let new = serde_json::from_value(line["new"].clone()).unwrap();
            journal.new.insert(PathBuf::from(file), new);
        } else if let Some(index) = line["written"].as_u64() {
            journal.written.insert(files[index as usize].clone());
        }
    }
    journal.restore_bytes = text
        .lines()
        .filter(|l| l.starts_with("{\"restore\""))
        .map(|l| l.len() + 1)
        .collect();
    journal
}

/// Why `track` was not tagged: the reason the log gives when its write was refused, else the
/// reason the JSON plan gives for its album's skip (an album whose tags cannot be read is
/// skipped as `unreadable` before anything is written) and its track's own reason.
fn reason_for(log: &str, plan: &Value, track: &Path) -> Option<String> {
    let shown = format!("{}: ", track.display());
    let logged = log.lines().find_map(|line| {
        let (_, reason) = line.split_once(&shown)?;
        Some(reason.trim_start_matches("cannot tag: ").to_string())
    });
    logged.or_else(|| skipped_reason(plan, track))
}

/// The plan's reason for skipping the album of `track`, with the track's own reason.
fn skipped_reason(plan: &Value, track: &Path) -> Option<String> {
    let folder = track.parent()?.display().to_string();
    let album = plan["albums"]
        .as_array()?
        .iter()
        .find(|a| a["folder"] == folder.as_str())?;
    let skip = album["reason"].as_str()?;
    let file = track.file_name()?.to_str()?;
    let track_reason = album["tracks"]
        .as_array()
        .and_then(|tracks| tracks.iter().find(|t| t["file"] == file))
        .and_then(|t| t["reason"].as_str())
        .unwrap_or_default();
    let detail = album["detail"].as_str().unwrap_or_default();
    Some(format!("{skip}: {detail} {track_reason}"))
}

/// The tags other than the genre.
fn others(file: &Value) -> Value {
    let mut tags = file["tags"].clone();
    if let Some(map) = tags.as_object_mut() {
        map.remove(file["genre_key"].as_str().unwrap_or_default());
    }
    tags
}

#[test]
fn corpus_files_get_the_genre_and_nothing_else_and_undo_gives_their_bytes_back() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Music");
    let model = dir.path().join("colour.onnx");
    std::fs::write(&model, colour_model()).unwrap();
    let cases = library(&root);
    let originals: Vec<&Path> = cases.iter().map(|c| c.original.as_path()).collect();
    let before = describe(&originals);
    let scratch = dir.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let can_tag = check("can-tag", &[&[scratch.as_path()], &originals[..]].concat());

    let journal = dir.path().join("corpus.jsonl");
    let args = [
        "--model",
        model.to_str().unwrap(),
        "--threads",
        "2",
        "--library",
        "--tag",
    ]
    .into_iter()
    .chain([
        "--apply",
        "--overwrite",
        "--format",
        "json",
        "--min-confidence",
        "0",
        "--journal",
    ])
    .chain([journal.to_str().unwrap(), root.to_str().unwrap()])
    .map(std::ffi::OsStr::new)
    .collect::<Vec<_>>();
    let applied = classify(&args);
    let log = String::from_utf8_lossy(&applied.stderr).into_owned();
    let plan: Value = serde_json::from_slice(&applied.stdout)
        .unwrap_or_else(|e| panic!("the plan is JSON ({e}):\n{log}"));
    let tracks: Vec<&Path> = cases.iter().map(|c| c.track.as_path()).collect();
    let after = describe(&tracks);
    let written = read_journal(&journal);

    let mut refused = Vec::new();
    let (mut others_changed, mut genre_wrong, mut info_changed, mut audio_changed) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut mutagen_can_tag_refused = Vec::new();
    let mut tagged_mutagen_cannot = Vec::new();
    let mut unreadable = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        if !written.written.contains(&case.track) {
            let reason = reason_for(&log, &plan, &case.track)
                .unwrap_or_else(|| panic!("{}: neither tagged nor refused:\n{log}", case.name));
            if can_tag[i]["refused"].is_null() {
                mutagen_can_tag_refused.push(case.name.clone());
            }
            refused.push((case.name.clone(), reason));
            continue;
        }
        if !can_tag[i]["refused"].is_null() {
            tagged_mutagen_cannot.push(case.name.clone());
        }
        let (was, now) = (&before[i], &after[i]);
        if let Some(error) = now.get("error") {
            unreadable.push(format!("{}: {error} (before: {})", case.name, was));
            continue;
        }
        if others(was) != others(now) {
            others_changed.push(format!("{}: {} -> {}", case.name, others(was), others(now)));
        }
        let new = &written.new[&case.track];
        let separator = if matches!(now["id3"].as_str(), Some("2.3" | "2.2")) {
            "/"
        } else {
            "|"
        };
        let genre = now["tags"][now["genre_key"].as_str().unwrap()].as_str();
        if genre != Some(new.join(separator).as_str()) {
            genre_wrong.push(format!("{}: {genre:?}, not {new:?}", case.name));
        }
        if was["info"] != now["info"] {
            info_changed.push(format!("{}: {} -> {}", case.name, was["info"], now["info"]));
        }
        if was["audio"] != now["audio"] {
            audio_changed.push(case.name.clone());
        }
    }

    let undo_args = [std::ffi::OsStr::new("--undo"), journal.as_os_str()];
    let undone = classify(&undo_args);
    let undo_log = String::from_utf8_lossy(&undone.stderr);
    let not_identical: Vec<&str> = cases
        .iter()
        .filter(|c| std::fs::read(&c.track).unwrap() != std::fs::read(&c.original).unwrap())
        .map(|c| c.name.as_str())
        .collect();

    let tagged = written.written.len();
    let kept: usize = written.restore_bytes.iter().sum();
    eprintln!("corpus: {} files of {:?}", cases.len(), FORMATS);
    eprintln!("  tagged: {tagged}");
    eprintln!(
        "  other fields changed after apply: {} {others_changed:#?}",
        others_changed.len()
    );
    eprintln!(
        "  genre not as written: {} {genre_wrong:?}",
        genre_wrong.len()
    );
    eprintln!(
        "  stream info changed: {} {info_changed:?}; audio changed: {audio_changed:?}",
        info_changed.len()
    );
    eprintln!("  unreadable by mutagen after apply: {unreadable:?}");
    eprintln!("  refused: {} {refused:#?}", refused.len());
    eprintln!("  refused although mutagen tags them: {mutagen_can_tag_refused:?}");
    eprintln!("  tagged although mutagen cannot tag them: {tagged_mutagen_cannot:?}");
    eprintln!(
        "  byte-identical after undo: {} of {} (not: {not_identical:?})",
        cases.len() - not_identical.len(),
        cases.len()
    );
    let whole = std::fs::metadata(&journal).unwrap().len() as usize;
    if let (Some(per_file), Some(restore_per_file)) =
        (whole.checked_div(tagged), kept.checked_div(tagged))
    {
        eprintln!(
            "  journal: {whole} bytes for {tagged} files ({per_file} a file); its restore lines {kept} bytes ({restore_per_file} a file on average, {} at most)",
            written.restore_bytes.iter().max().unwrap_or(&0)
        );
    }

    assert_eq!(
        applied.status.code(),
        Some(3),
        "some files are refused: {log}"
    );
    assert_eq!(undone.status.code(), Some(0), "{undo_log}");
    let expected: Vec<(&str, &str)> = REFUSED.to_vec();
    let names: Vec<&str> = refused.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        expected.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        "{refused:#?}"
    );
    for ((name, reason), (_, part)) in refused.iter().zip(&expected) {
        assert!(reason.contains(part), "{name}: {reason}");
    }
    assert_eq!(
        mutagen_can_tag_refused, KNOWN_GAPS,
        "{mutagen_can_tag_refused:?}"
    );
    assert!(unreadable.is_empty(), "{unreadable:#?}");
    assert!(others_changed.is_empty(), "{others_changed:#?}");
    assert!(genre_wrong.is_empty(), "{genre_wrong:#?}");
    assert!(
        info_changed.is_empty() && audio_changed.is_empty(),
        "{info_changed:?} {audio_changed:?}"
    );
    assert_eq!(tagged + refused.len(), cases.len());
    assert!(not_identical.is_empty(), "{not_identical:?}\n{undo_log}");
    assert!(
        undo_log.contains(&format!(
            "{tagged} of the {tagged} file(s) restored are byte for byte"
        )),
        "{undo_log}"
    );
}
