//! Embedded album art is read from the tags alone: big made-up FLAC and MP3 tracks (megabytes
//! of audio after the tags) give their picture while only the tag region is read.

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
    let found = embedded_picture(&[no_art.clone(), broken.clone(), with_art]).unwrap();
    assert_eq!(found, art);
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
