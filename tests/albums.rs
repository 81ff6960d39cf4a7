//! Albums as music libraries lay them out (`data::albums`), end to end through the binary:
//! a two-disc album with its cover at the root, a disc-folder cover, a cover in `Artwork/`,
//! and folders that are not albums (a hidden trash folder, a scans folder without a cover
//! name). Classify gives one result per album; tagging writes every disc's tracks, read back
//! by mutagen.
//!
//! Issue 30: covers as owners name them (the front-cover rule, the front classified beside a
//! back, a back alone never), every folder holding audio an album (`Covers/`, `Scans/`), AIFF,
//! WAV, APE, WavPack and Musepack pictures, formats covergenre cannot tag named, a cover that
//! does not decode giving way, and the census: every folder holding audio in an awkward library
//! is in the JSON plan exactly once.

mod common;

use common::audio::{self, Track};
use common::classify_output::parse_jsonl;
use common::colour::{cover, ColourFixture};
use common::put;
use common::tagcheck::{mutagen, value_of};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const RED: usize = 0;
const GREEN: usize = 1;
const BLUE: usize = 2;

/// The library: `Double` (CD1 FLAC + CD2 MP3, red cover.jpg at the root), `Disc Cover` (only
/// `Disc 1 - Live/cover.png`, blue), `Art Album` (green `Artwork/Front.jpg`), a scans folder
/// with a booklet page only, and a `.Trash-1000` album that must be ignored.
fn library(fx: &ColourFixture) -> PathBuf {
    let root = fx.path("Music");
    let double = root.join("Artist/Double");
    common::write_image(&double.join("cover.jpg"), &cover(RED, 48));
    put(
        &double.join("CD1/01 One.flac"),
        &audio::flac(&Track::titled("One")),
    );
    put(
        &double.join("CD1/02 Two.flac"),
        &audio::flac(&Track::titled("Two")),
    );
    put(
        &double.join("CD2/01 Three.mp3"),
        &audio::mp3(&Track::titled("Three")),
    );
    let disc_cover = root.join("Artist/Disc Cover");
    common::write_image(
        &disc_cover.join("Disc 1 - Live/cover.png"),
        &cover(BLUE, 48),
    );
    put(
        &disc_cover.join("Disc 1 - Live/01.m4a"),
        &audio::m4a(&Track::titled("Live")),
    );
    put(
        &disc_cover.join("disc 2/01.opus"),
        &audio::opus(&Track::titled("Studio")),
    );
    let art = root.join("Other/Art Album");
    common::write_image(&art.join("Artwork/Front.jpg"), &cover(GREEN, 48));
    common::write_image(&art.join("Artwork/Back.jpg"), &cover(RED, 48));
    put(&art.join("01.mp3"), &audio::mp3(&Track::titled("Green")));
    common::write_image(&root.join("Other/Scans/booklet-1.png"), &cover(BLUE, 32));
    common::write_image(&root.join(".Trash-1000/Old/cover.jpg"), &cover(BLUE, 32));
    put(
        &root.join(".Trash-1000/Old/01.mp3"),
        &audio::mp3(&Track::titled("Old")),
    );
    root
}

#[test]
fn each_album_is_found_once_whatever_its_disc_and_art_folders() {
    let fx = ColourFixture::new();
    let root = library(&fx);
    let out = fx.classify_library(&["--format", "jsonl"], &root);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let found: BTreeMap<String, String> = parse_jsonl(&out.stdout)
        .unwrap()
        .into_iter()
        .map(|r| {
            let relative = Path::new(&r.path).strip_prefix(&root).unwrap().to_owned();
            (relative.display().to_string(), r.genre)
        })
        .collect();
    let expected: BTreeMap<String, String> = [
        ("Artist/Double", "red"),
        ("Artist/Disc Cover", "blue"),
        ("Other/Art Album", "green"),
    ]
    .map(|(a, g)| (a.to_string(), g.to_string()))
    .into();
    assert_eq!(found, expected, "{stderr}");
}

#[test]
fn tagging_a_multi_disc_album_writes_every_disc() {
    let fx = ColourFixture::new();
    let root = library(&fx);
    let journal = fx.path("journal.jsonl");
    let out = fx.classify_library(
        &[
            "--tag",
            "--min-confidence",
            "0.5",
            "--apply",
            "--journal",
            journal.to_str().unwrap(),
        ],
        &root,
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let expected = [
        ("Artist/Double/CD1/01 One.flac", "red"),
        ("Artist/Double/CD1/02 Two.flac", "red"),
        ("Artist/Double/CD2/01 Three.mp3", "red"),
        ("Artist/Disc Cover/Disc 1 - Live/01.m4a", "blue"),
        ("Artist/Disc Cover/disc 2/01.opus", "blue"),
        ("Other/Art Album/01.mp3", "green"),
        (".Trash-1000/Old/01.mp3", "(none)"),
    ];
    let paths: Vec<PathBuf> = expected.iter().map(|(p, _)| root.join(p)).collect();
    let read = mutagen(&paths);
    for ((relative, genre), path) in expected.iter().zip(&paths) {
        let value = value_of(&read[path], None).unwrap_or_else(|| "(none)".into());
        assert_eq!(&value, genre, "{relative}\n{stdout}");
    }
    assert!(stderr.contains("tagged 3 album(s) (6 track(s)"), "{stderr}");
}
