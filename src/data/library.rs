//! A music library as a labelled dataset: the genres the owner's albums already carry are the
//! labels, in the owner's own words, and the rest of the library is what the model then tags.
//!
//! - **Albums** are found as everywhere else ([`super::albums`]: disc folders, art folders).
//!   An album's cover is its best front cover ([`super::cover_names`]) whose header reads as
//!   an image (a candidate that does not gives way to the next, and `--inspect` says so),
//!   else the picture embedded in its first track that has one (read from the tags alone).
//! - **Label**: the genre field of its tracks (the standard field, or `--field NAME`), its first
//!   value when it holds several; tracks that disagree give the majority value (ties are listed
//!   and take the first track's). Albums with no genre are unlabelled: counted, listed, never
//!   trained on. Genres are folded and filtered by [`super::vocabulary`].
//! - **Splits that stay put**: an album's split is decided by a stable hash (FNV-1a) of its
//!   path relative to the library root and the seed (about 10% dev, 10% test), so adding albums
//!   never moves an old one. A genre that gets no dev album by hash lends its album with the
//!   lowest hash to dev, so every genre is selected on; that album goes back when a later
//!   album of the genre hashes into dev.
//!
//! Nothing in the library is written.

use super::albums::{albums, Album};
use super::cover_names::{CoverRule, PassedOver};
use super::vocabulary::{first_value, normalise, GenreMap, Vocabulary};
use super::{Dataset, Layout, Sample, Split};
use crate::audio::fields::{self, Field};
use crate::failure::Failure;
use crate::genres::GenreSet;
use anyhow::{bail, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// How to read a library as a dataset (recorded in a run's `config.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LibraryOptions {
    /// The field holding the owner's genres.
    pub field: Field,
    /// `--genre-map FILE.json`.
    pub genre_map: Option<PathBuf>,
    /// Genres with fewer albums are left out.
    pub min_albums: usize,
}

impl Default for LibraryOptions {
    fn default() -> Self {
        Self {
            field: Field::Standard,
            genre_map: None,
            min_albums: 10,
        }
    }
}

/// An album whose tracks' genres tie: it takes `chosen`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tie {
    pub album: PathBuf,
    pub values: Vec<String>,
    pub chosen: String,
}

/// What reading a library found besides the labelled covers: what `--inspect` shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LibrarySummary {
    /// The field the genres were read from ("genre", or a custom field's name).
    pub field: String,
    pub albums: usize,
    pub tracks: usize,
    /// Albums with a kept genre and a readable cover: the covers trained and evaluated on.
    pub labelled: usize,
    pub genres: Vec<GenreCount>,
    /// Genres with fewer than `min_albums` albums, left out.
    pub left_out: Vec<GenreCount>,
    pub min_albums: usize,
    /// Values the genre map dropped, with their album counts.
    pub dropped: Vec<(String, usize)>,
    /// Albums without any genre value: never trained on.
    pub unlabelled: Vec<PathBuf>,
    pub ties: Vec<Tie>,
    /// Tracks whose tags could not be read (the album goes on with the others).
    pub unreadable_tracks: Vec<Failure>,
    /// Audio files in formats covergenre cannot read genres from (`.wma`, `.dsf`).
    pub untaggable_tracks: usize,
    /// Albums per step of the front-cover rule that chose their cover (`cover-name`, ...).
    pub cover_rules: BTreeMap<String, usize>,
    /// Each album's cover and the rule that chose it (JSON only).
    pub covers: Vec<AlbumCover>,
    /// Bytes read from the audio files while reading tags (Linux; `None` elsewhere): the tag
    /// regions, never the audio.
    pub tag_bytes_read: Option<u64>,
    /// Total size of the tracks, for comparison.
    pub audio_bytes: u64,
    pub seconds: f64,
}

/// The cover of one album of a library, and how it was chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlbumCover {
    pub album: PathBuf,
    /// The image file, or the track whose embedded picture is used.
    pub cover: PathBuf,
    pub rule: CoverRule,
    /// Candidates before it whose header does not read as an image, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passed_over: Vec<PassedOver>,
}

/// One genre of the vocabulary with its albums per split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenreCount {
    pub name: String,
    /// The spellings folded into it, most common first, with their album counts.
    pub spellings: Vec<(String, usize)>,
    pub albums: usize,
}

/// Whether `root` is a music library: a folder with an audio file somewhere under it.
pub fn is_music_library(root: &Path) -> bool {
    root.is_dir()
        && crate::files::walk(root)
            .filter_map(|e| e.ok())
            .any(|e| e.file_type().is_file() && crate::files::is_audio_path(e.path()))
}

/// An album as read: its cover, its genre (if any), and problems met.
struct ReadAlbum {
    album: PathBuf,
    relative: PathBuf,
    /// The cover file or the track whose tags hold the picture; `Err`: why there is none.
    cover: Result<AlbumCover, String>,
    value: Option<String>,
    tie: Option<Tie>,
    unreadable: Vec<Failure>,
    tracks: usize,
    untaggable: usize,
    audio_bytes: u64,
}

/// Reads the library at `root` as a dataset (see the module docs).
pub fn discover_library(root: &Path, options: &LibraryOptions, seed: u64) -> Result<Dataset> {
    let started = Instant::now();
    let map = match &options.genre_map {
        Some(path) => GenreMap::load(path)?,
        None => GenreMap::default(),
    };
    let bytes_before = bytes_read_by_this_process();
    let mut skipped = Vec::new();
    let found: Vec<Album> = albums(root)
        .filter_map(|album| album.map_err(|f| skipped.push(f)).ok())
        .collect();
    let bar = crate::util::progress(Some(found.len() as u64), "albums (reading tags)");
    let read: Vec<ReadAlbum> = found
        .par_iter()
        .map(|album| {
            let read = read_album(root, album, &options.field);
            bar.inc(1);
            read
        })
        .collect();
    bar.finish_and_clear();
    let tag_bytes_read = bytes_before
        .zip(bytes_read_by_this_process())
        .map(|(before, after)| after.saturating_sub(before));

    // Only albums with a cover can be trained on, so only they count towards a genre.
    let values: Vec<String> = read
        .iter()
        .filter(|a| a.cover.is_ok())
        .filter_map(|a| a.value.clone())
        .collect();
    let vocabulary = Vocabulary::build(&values, &map, options.min_albums)?;
    let mut summary = summarise(&read, &vocabulary, options);
    summary.tag_bytes_read = tag_bytes_read;
    check_usable(root, &summary, &vocabulary)?;

    let genres = GenreSet::from_names(vocabulary.names());
    let mut labelled = Vec::new();
    for album in read.iter().filter(|a| a.value.is_some()) {
        let cover = match &album.cover {
            Ok(cover) => &cover.cover,
            Err(reason) => {
                skipped.push(Failure::new(&album.album, reason.clone()));
                continue;
            }
        };
        let value = album.value.as_deref().unwrap_or_default();
        if let Some(label) = vocabulary.class_of(value, &map) {
            let sample = Sample {
                path: cover.clone(),
                label,
            };
            labelled.push((album.relative.clone(), sample));
        }
    }
    summary.labelled = labelled.len();
    summary.seconds = started.elapsed().as_secs_f64();
    let splits = stable_splits(labelled, genres.len(), seed);
    Ok(Dataset {
        root: root.to_path_buf(),
        layout: Layout::MusicLibrary,
        genres,
        splits,
        generated_splits: true,
        skipped,
        library: Some(summary),
    })
}

/// Reads the genre of every track and finds the album's cover.
fn read_album(root: &Path, album: &Album, field: &Field) -> ReadAlbum {
    let mut unreadable = Vec::new();
    let mut track_values = Vec::new();
    let mut audio_bytes = 0;
    for track in &album.tracks {
        audio_bytes += std::fs::metadata(track).map_or(0, |m| m.len());
        match fields::read(track, field) {
            Ok(values) => {
                if let Some(value) = first_value(&values) {
                    track_values.push(value);
                }
            }
            Err(e) => unreadable.push(Failure::new(track, format!("cannot read its tags: {e:#}"))),
        }
    }
    let (value, tie) = majority(&album.folder, &track_values);
    ReadAlbum {
        album: album.folder.clone(),
        relative: album
            .folder
            .strip_prefix(root)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| album.folder.clone()),
        cover: cover_of(album),
        value,
        tie,
        unreadable,
        tracks: album.tracks.len(),
        untaggable: album.untaggable.len(),
        audio_bytes,
    }
}

/// The album's value: the most common among its tracks (compared normalised, spelled as most
/// tracks spell it); a tie takes the earliest track's and is reported.
pub(crate) fn majority(album: &Path, values: &[String]) -> (Option<String>, Option<Tie>) {
    // Normalised value -> (tracks, first track index, spelling -> tracks).
    let mut counts: BTreeMap<String, (usize, usize, BTreeMap<&str, usize>)> = BTreeMap::new();
    for (index, value) in values.iter().enumerate() {
        let entry = counts
            .entry(normalise(value))
            .or_insert((0, index, BTreeMap::new()));
        entry.0 += 1;
        *entry.2.entry(value.as_str()).or_default() += 1;
    }
    let Some(top) = counts.values().map(|(n, _, _)| *n).max() else {
        return (None, None);
    };
    let mut tied: Vec<&(usize, usize, BTreeMap<&str, usize>)> =
        counts.values().filter(|(n, _, _)| *n == top).collect();
    tied.sort_by_key(|(_, first, _)| *first);
    let spelling = |spellings: &BTreeMap<&str, usize>| {
        spellings
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(s, _)| s.to_string())
            .unwrap_or_default()
    };
    let chosen = spelling(&tied[0].2);
    let tie = (tied.len() > 1).then(|| Tie {
        album: album.to_path_buf(),
        values: tied.iter().map(|(_, _, s)| spelling(s)).collect(),
        chosen: chosen.clone(),
    });
    (Some(chosen), tie)
}

/// The best front cover whose header reads as an image (the pixels are decoded later, and
/// cached), else the first track whose tags hold a picture (only tags are read).
fn cover_of(album: &Album) -> Result<AlbumCover, String> {
    let mut passed_over = Vec::new();
    for candidate in &album.covers {
        match image::image_dimensions(&candidate.path) {
            Ok(_) => {
                return Ok(AlbumCover {
                    album: album.folder.clone(),
                    cover: candidate.path.clone(),
                    rule: candidate.rule,
                    passed_over,
                })
            }
            Err(e) => passed_over.push(PassedOver {
                file: candidate.path.display().to_string(),
                reason: format!("cover file {}: {e}", candidate.path.display()),
            }),
        }
    }
    for track in &album.tracks {
        if let Ok(read) = crate::audio::read_tag_picture(track) {
            if read.picture.is_some() {
                return Ok(AlbumCover {
                    album: album.folder.clone(),
                    cover: track.clone(),
                    rule: CoverRule::Embedded,
                    passed_over,
                });
            }
        }
    }
    let files = match passed_over.len() {
        0 => "no cover image file".to_string(),
        n => format!("{n} cover image file(s) that cannot be read"),
    };
    Err(format!(
        "no cover: {files}, and none of its {} audio file(s) has an embedded picture",
        album.tracks.len()
    ))
}

fn summarise(
    read: &[ReadAlbum],
    vocabulary: &Vocabulary,
    options: &LibraryOptions,
) -> LibrarySummary {
    let count = |g: &super::vocabulary::VocabularyGenre| GenreCount {
        name: g.name.clone(),
        spellings: g.spellings.clone(),
        albums: g.albums,
    };
    LibrarySummary {
        field: options.field.describe(),
        albums: read.len(),
        tracks: read.iter().map(|a| a.tracks).sum(),
        labelled: 0,
        genres: vocabulary.genres.iter().map(count).collect(),
        left_out: vocabulary.left_out.iter().map(count).collect(),
        min_albums: vocabulary.min_albums,
        dropped: vocabulary.dropped.clone(),
        unlabelled: read
            .iter()
            .filter(|a| a.value.is_none())
            .map(|a| a.album.clone())
            .collect(),
        ties: read.iter().filter_map(|a| a.tie.clone()).collect(),
        unreadable_tracks: read.iter().flat_map(|a| a.unreadable.clone()).collect(),
        untaggable_tracks: read.iter().map(|a| a.untaggable).sum(),
        cover_rules: cover_rules(read),
        covers: read.iter().filter_map(|a| a.cover.clone().ok()).collect(),
        tag_bytes_read: None,
        audio_bytes: read.iter().map(|a| a.audio_bytes).sum(),
        seconds: 0.0,
    }
}

/// Albums per step of the front-cover rule that chose their cover.
fn cover_rules(read: &[ReadAlbum]) -> BTreeMap<String, usize> {
    let mut rules = BTreeMap::new();
    for cover in read.iter().filter_map(|a| a.cover.as_ref().ok()) {
        *rules.entry(cover.rule.name().to_string()).or_default() += 1;
    }
    rules
}

/// A library that cannot train a classifier is an error saying what was found and what to do.
fn check_usable(root: &Path, summary: &LibrarySummary, vocabulary: &Vocabulary) -> Result<()> {
    let shown = root.display();
    if summary.albums == 0 {
        bail!(
            "{shown}: no albums found (a music library holds folders of audio files: {})",
            crate::files::TAGGABLE_AUDIO_EXTENSIONS.join(", ")
        );
    }
    let with_genre = summary.albums - summary.unlabelled.len();
    if with_genre == 0 {
        bail!(
            "{shown}: none of its {} albums has a {} value, so there is nothing to learn from; \
             tag some albums first (or read another field with --field NAME)",
            summary.albums,
            summary.field
        );
    }
    if vocabulary.genres.len() < 2 {
        let found: Vec<String> = vocabulary
            .genres
            .iter()
            .chain(&vocabulary.left_out)
            .map(|g| format!("{} ({} albums)", g.name, g.albums))
            .collect();
        let kept = match vocabulary.genres.first() {
            Some(genre) => format!(
                "only one genre has {} or more albums ({})",
                vocabulary.min_albums, genre.name
            ),
            None => format!("no genre has {} or more albums", vocabulary.min_albums),
        };
        bail!(
            "{shown}: {kept}; a classifier needs two. Found: {}. Tag more albums, lower \
             --min-albums, or merge genres with --genre-map FILE.json",
            found.join(", ")
        );
    }
    Ok(())
}

/// Where an album falls in [0, 1): the stable hash of the seed and its relative path.
fn position(relative: &Path, seed: u64) -> f64 {
    let mut bytes = seed.to_le_bytes().to_vec();
    bytes.extend_from_slice(relative.as_os_str().as_encoded_bytes());
    (crate::util::fnv1a64(&bytes) >> 11) as f64 / (1u64 << 53) as f64
}

/// Dev is 10%, test the next 10% of the hash range; every genre with albums gets a dev album.
const DEV_SHARE: f64 = 0.1;
const TEST_SHARE: f64 = 0.1;

/// Splits labelled albums by the stable hash of their relative paths (see the module docs).
fn stable_splits(
    albums: Vec<(PathBuf, Sample)>,
    classes: usize,
    seed: u64,
) -> BTreeMap<Split, Vec<Sample>> {
    let placed: Vec<(f64, Sample)> = albums
        .into_iter()
        .map(|(relative, sample)| (position(&relative, seed), sample))
        .collect();
    let mut stand_ins = vec![None::<(f64, usize)>; classes];
    let mut has_dev = vec![false; classes];
    for (index, (u, sample)) in placed.iter().enumerate() {
        if *u < DEV_SHARE {
            has_dev[sample.label] = true;
        }
        let lowest = &mut stand_ins[sample.label];
        if lowest.is_none_or(|(v, _)| *u < v) {
            *lowest = Some((*u, index));
        }
    }
    let lent: Vec<usize> = (0..classes)
        .filter(|&c| !has_dev[c])
        .filter_map(|c| stand_ins[c].map(|(_, index)| index))
        .collect();
    let mut splits: BTreeMap<Split, Vec<Sample>> =
        Split::ALL.iter().map(|&s| (s, Vec::new())).collect();
    for (index, (u, sample)) in placed.into_iter().enumerate() {
        let split = if u < DEV_SHARE || lent.contains(&index) {
            Split::Dev
        } else if u < DEV_SHARE + TEST_SHARE {
            Split::Test
        } else {
            Split::Train
        };
        splits.entry(split).or_default().push(sample);
    }
    splits
}

/// Bytes this process has read through read(2) and friends so far (Linux `/proc/self/io`).
pub fn bytes_read_by_this_process() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("rchar:"))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(label: usize) -> Sample {
        Sample {
            path: PathBuf::from(format!("{label}.jpg")),
            label,
        }
    }

    #[test]
    fn the_majority_value_wins_and_ties_are_reported() {
        let values = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let album = Path::new("A");
        assert_eq!(
            majority(album, &values(&["Rock", "rock", "Jazz"]))
                .0
                .as_deref(),
            Some("Rock")
        );
        let (value, tie) = majority(album, &values(&["Jazz", "Rock"]));
        assert_eq!(value.as_deref(), Some("Jazz"));
        assert_eq!(tie.unwrap().values, ["Jazz", "Rock"]);
        assert_eq!(majority(album, &[]), (None, None));
    }

    #[test]
    fn splits_stay_put_when_albums_are_added_and_every_genre_has_dev() {
        let albums: Vec<(PathBuf, Sample)> = (0..200)
            .map(|i| (PathBuf::from(format!("Artist {i}/Album")), sample(i % 3)))
            .collect();
        let before = stable_splits(albums.clone(), 3, 42);
        for label in 0..3 {
            assert!(before[&Split::Dev].iter().any(|s| s.label == label));
        }
        let dev = before[&Split::Dev].len() as f64 / 200.0;
        assert!((0.04..0.2).contains(&dev), "{dev}");
        let other = stable_splits(albums, 3, 7);
        assert_ne!(
            before[&Split::Dev],
            other[&Split::Dev],
            "the seed picks another split"
        );
    }
}
