//! A made-up music library whose albums mostly carry genres already, in an owner's own
//! spellings: the fixture of the "learn the owner's genres" tests. Each genre's covers have a
//! strong visual signal (colour and stripes, [`super::genre_cover`]) so that learning shows in
//! a few steps. Tracks are real FLAC, MP3, M4A and Ogg Opus files (tests/common/audio.rs);
//! covers are files (`cover.jpg`) or embedded in the tracks, in turn.

use super::audio::{self, Track};
use std::path::{Path, PathBuf};

/// The owner's genres in class order (sorted), and the visual genre each album's cover shows.
pub const GENRES: [&str; 4] = ["Electronic", "Hip-Hop", "Jazz", "Rock"];

/// What one album's tracks say, and what it looks like.
#[derive(Debug, Clone)]
pub struct AlbumSpec {
    /// Relative to the library root.
    pub folder: String,
    /// Index into [`GENRES`] of the cover's look.
    pub looks: usize,
    /// The genre value of each track (`None`: untagged track).
    pub track_genres: Vec<Option<String>>,
    /// Disc folders (`CD1`, `CD2`) instead of tracks at the album's root.
    pub discs: bool,
    /// The cover lives in `Artwork/Front.jpg`.
    pub artwork_folder: bool,
}

/// The spelling of genre `g` for the `i`-th album: Hip-Hop is spelled three ways.
fn spelling(g: usize, i: usize) -> String {
    match (GENRES[g], i % 5) {
        ("Hip-Hop", 1) => "Hip Hop".into(),
        ("Hip-Hop", 3) => "hip hop".into(),
        (name, _) => name.into(),
    }
}

/// `per_genre` tagged albums per genre, numbered from `first` (so a second call adds albums
/// without renaming old ones), plus, when `first == 0`, the special albums:
/// - `Electronic/Mixed Values`: "Electronic; House" on every track;
/// - `Rock/Disagree`: two tracks "Rock", one "Jazz" (majority: Rock);
/// - `Rock/Tie`: one "Jazz", one "Rock" (a tie: the first track's Jazz);
/// - `Rock/Alt N`: "Alternative Rock" (merged into Rock by the map);
/// - `Spoken/Book N`: "Audiobook" (dropped by the map);
/// - `Jazz/In Artwork`: its cover in `Artwork/Front.jpg`;
/// - `Jazz/No Cover`: tagged, but no cover anywhere (listed, not trained on);
/// - `Untagged/...`: no genre, among them `Untagged/Double` (Hip-Hop look, CD1 + CD2, cover at
///   the root) and `Untagged/Bare` (no cover anywhere).
pub fn album_specs(per_genre: usize, first: usize) -> Vec<AlbumSpec> {
    let tagged = |folder: String, looks: usize, value: &str, tracks: usize| AlbumSpec {
        folder,
        looks,
        track_genres: vec![Some(value.to_string()); tracks],
        discs: false,
        artwork_folder: false,
    };
    let mut albums = Vec::new();
    for (g, genre) in GENRES.iter().enumerate() {
        for i in first..first + per_genre {
            albums.push(tagged(
                format!("{genre} Artist {i}/Album {i}"),
                g,
                &spelling(g, i),
                2,
            ));
        }
    }
    if first > 0 {
        return albums;
    }
    albums.push(tagged(
        "Electronic/Mixed Values".into(),
        0,
        "Electronic; House",
        2,
    ));
    let mut disagree = tagged("Rock/Disagree".into(), 3, "Rock", 3);
    disagree.track_genres[1] = Some("Jazz".into());
    albums.push(disagree);
    let mut tie = tagged("Rock/Tie".into(), 3, "Jazz", 2);
    tie.track_genres[1] = Some("Rock".into());
    albums.push(tie);
    for i in 0..3 {
        albums.push(tagged(format!("Rock/Alt {i}"), 3, "Alternative Rock", 2));
    }
    for i in 0..2 {
        albums.push(tagged(format!("Spoken/Book {i}"), 0, "Audiobook", 2));
    }
    let mut artwork = tagged("Jazz/In Artwork".into(), 2, "Jazz", 2);
    artwork.artwork_folder = true;
    albums.push(artwork);
    albums.push(tagged("Jazz/No Cover".into(), 2, "Jazz", 2));
    let untagged = |folder: &str, looks: usize| AlbumSpec {
        folder: folder.into(),
        looks,
        track_genres: vec![None; 2],
        discs: false,
        artwork_folder: false,
    };
    let mut double = untagged("Untagged/Double", 1);
    double.discs = true;
    albums.push(double);
    albums.push(untagged("Untagged/Rocky", 3));
    albums.push(untagged("Untagged/Jazzy", 2));
    albums.push(untagged("Untagged/Bare", 0));
    albums
}

/// Writes the albums under `root`. Album k's tracks rotate through FLAC, MP3, M4A and Opus;
/// even albums have a `cover.jpg`, odd ones embed the cover in their tracks (`Untagged/Bare`
/// and `Jazz/No Cover` have none at all).
pub fn write_library(root: &Path, albums: &[AlbumSpec], seed: u64) {
    for (k, album) in albums.iter().enumerate() {
        let folder = root.join(&album.folder);
        let cover = super::genre_cover(album.looks, seed + k as u64, 64);
        let bare = album.folder.ends_with("/Bare") || album.folder.ends_with("/No Cover");
        let embed = !bare && !album.artwork_folder && (k % 2 == 1);
        let png = embed.then(|| png_bytes(&cover));
        if !bare && !embed {
            let at = if album.artwork_folder {
                folder.join("Artwork/Front.jpg")
            } else {
                folder.join("cover.jpg")
            };
            super::write_image(&at, &cover);
        }
        for (t, genre) in album.track_genres.iter().enumerate() {
            let mut track = Track::new(&format!("Track {t}"), png.clone());
            track.genres = genre.iter().cloned().collect();
            let (bytes, extension) = match (k + t) % 4 {
                0 => (audio::flac(&track), "flac"),
                1 => (audio::mp3(&track), "mp3"),
                2 => (audio::m4a(&track), "m4a"),
                _ => (audio::opus(&track), "opus"),
            };
            let disc = if album.discs {
                format!("CD{}/", t + 1)
            } else {
                String::new()
            };
            let path = folder.join(format!("{disc}{:02} Track.{extension}", t + 1));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, bytes).unwrap();
        }
    }
}

fn png_bytes(image: &image::RgbImage) -> Vec<u8> {
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    png
}

/// The genre map of the fixture: Alternative Rock merges into Rock, Audiobook is dropped.
pub fn write_genre_map(path: &Path) -> PathBuf {
    std::fs::write(path, r#"{"alternative rock": "Rock", "Audiobook": null}"#).unwrap();
    path.to_path_buf()
}
