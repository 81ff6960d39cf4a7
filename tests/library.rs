//! Embedded album art is read from the tags alone: big made-up FLAC and MP3 tracks (megabytes
//! of audio after the tags) give their picture while only the tag region is read. A library
//! read as a dataset takes each album's cover by the front-cover rule.

mod common;

use common::audio::{flac_with_picture, mp3_with_picture};
use covergenre::audio::{embedded_picture, read_tag_picture};
use std::path::Path;

/// A stand-in picture of `len` bytes (the tag reader does not decode it).
fn picture(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 256) as u8).collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Bytes read beyond the tag itself: lofty also looks for the first MPEG frame and for the
/// trailers at the end (ID3v1, Lyrics3, APE), each look refilling an 8 KiB read buffer
/// (78 KB measured for the MP3), never reading the audio.
const SLACK: u64 = 128 * 1024;

/// Both tracks give `art`, reading little beyond it, and the big one (several times the audio
/// of the small one) not one byte more than the small one.
fn assert_art_read_from_tags_alone(small: &Path, big: &Path, art: &[u8]) {
    let small_read = read_tag_picture(small).unwrap();
    let big_read = read_tag_picture(big).unwrap();
    assert_eq!(big_read.picture.as_deref(), Some(art));
    assert_eq!(small_read.picture.as_deref(), Some(art));
    assert!(
        big_read.bytes_read < art.len() as u64 + SLACK,
        "read {} bytes of an {}-byte file for a {}-byte picture",
        big_read.bytes_read,
        std::fs::metadata(big).unwrap().len(),
        art.len()
    );
    assert_eq!(big_read.bytes_read, small_read.bytes_read);
}

#[test]
fn big_flac_art_is_found_reading_only_the_metadata_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let art = picture(300_000);
    let small = write(
        dir.path(),
        "small.flac",
        &flac_with_picture(Some(&art), 1 << 20),
    );
    let big = write(
        dir.path(),
        "big.flac",
        &flac_with_picture(Some(&art), 8 << 20),
    );
    assert_art_read_from_tags_alone(&small, &big, &art);
}

#[test]
fn big_mp3_art_is_found_reading_only_the_id3v2_tag() {
    let dir = tempfile::tempdir().unwrap();
    let art = picture(200_000);
    // 417-byte frames: about 1.7 MB and 8.3 MB of audio.
    let small = write(dir.path(), "small.mp3", &mp3_with_picture(&art, 4_000));
    let big = write(dir.path(), "big.mp3", &mp3_with_picture(&art, 20_000));
    assert_art_read_from_tags_alone(&small, &big, &art);
}

#[test]
fn an_album_takes_the_first_track_with_art_and_names_unreadable_ones() {
    let dir = tempfile::tempdir().unwrap();
    let art = picture(5_000);
    let no_art = write(dir.path(), "01.flac", &flac_with_picture(None, 2 << 20));
    let broken = write(dir.path(), "02.mp3", b"not an mp3 at all");
    let with_art = write(dir.path(), "03.mp3", &mp3_with_picture(&art, 10_000));
    let found = embedded_picture(&[no_art.clone(), broken.clone(), with_art.clone()]).unwrap();
    assert_eq!(found.bytes, art);
    assert_eq!(found.track, with_art, "the track it came from is named");
    let error = embedded_picture(&[no_art, broken.clone()]).unwrap_err();
    assert!(error.contains("none of its 2 audio file(s)"), "{error}");
    assert!(error.contains(&broken.display().to_string()), "{error}");
    assert_eq!(
        read_tag_picture(&dir.path().join("01.flac"))
            .unwrap()
            .picture,
        None
    );
}

/// Training on a library finds each album's cover by the rule classify and tagging use: the
/// front beside a back, a cover named after the album, a candidate that cannot be read giving
/// way to the next, an album folder called `Covers`, the embedded picture when the only image
/// is a back; `--inspect` says which rule chose each.
#[test]
fn a_library_dataset_takes_each_albums_cover_by_the_front_cover_rule() {
    use common::audio::{flac, mp3, Track};
    use common::colour::{cover, png_bytes};
    use covergenre::data::library::{discover_library, LibraryOptions};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Music");
    let image = |relative: &str, colour: usize| {
        common::write_image(&root.join(relative), &cover(colour, 24))
    };
    let track = |relative: &str, genre: &str, picture: Option<usize>| {
        let t = Track::new("t", picture.map(png_bytes)).with_genre(genre);
        let bytes = if relative.ends_with(".flac") {
            flac(&t)
        } else {
            mp3(&t)
        };
        common::put(&root.join(relative), &bytes);
    };
    image("Rock/Front And Back/00 - front.png", 0);
    image("Rock/Front And Back/back.png", 2);
    track("Rock/Front And Back/01.mp3", "Rock", None);
    image("Rock/Nevermind/Nevermind.png", 0);
    track("Rock/Nevermind/01.mp3", "Rock", None);
    common::put(&root.join("Jazz/Broken/cover.jpg"), b"not an image");
    image("Jazz/Broken/front.png", 1);
    track("Jazz/Broken/01.mp3", "Jazz", None);
    image("Jazz/Covers/cover.png", 1);
    track("Jazz/Covers/01.flac", "Jazz", None);
    image("Jazz/Embedded/back.jpg", 2);
    track("Jazz/Embedded/01.mp3", "Jazz", Some(1));
    image("W/Windows/cover.png", 2);
    common::put(&root.join("W/Windows/01.wma"), b"not read");
    let options = LibraryOptions {
        min_albums: 1,
        ..Default::default()
    };
    let dataset = discover_library(&root, &options, 42).unwrap();
    let mut covers: Vec<String> = dataset
        .splits
        .values()
        .flatten()
        .map(|s| s.path.strip_prefix(&root).unwrap().display().to_string())
        .collect();
    covers.sort();
    assert_eq!(
        covers,
        [
            "Jazz/Broken/front.png",
            "Jazz/Covers/cover.png",
            "Jazz/Embedded/01.mp3",
            "Rock/Front And Back/00 - front.png",
            "Rock/Nevermind/Nevermind.png",
        ]
    );
    let library = dataset.library.as_ref().unwrap();
    let rules: Vec<(&str, usize)> = library
        .cover_rules
        .iter()
        .map(|(rule, n)| (rule.as_str(), *n))
        .collect();
    assert_eq!(
        rules,
        [("album-name", 1), ("cover-name", 4), ("embedded", 1)]
    );
    assert_eq!(library.untaggable_tracks, 1);
    let table = covergenre::report::inspect::InspectReport::from_dataset(&dataset).to_table();
    assert!(
        table.contains("Covers chosen by: album-name 1, cover-name 4, embedded 1"),
        "{table}"
    );
    assert!(table.contains("Cover files passed over"), "{table}");
    assert!(table.contains("Broken/cover.jpg"), "{table}");
    let json = covergenre::report::inspect::InspectReport::from_dataset(&dataset).to_json();
    assert!(json.contains("\"rule\": \"album-name\""), "{json}");
}
