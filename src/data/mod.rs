//! The data layer: which covers exist, which genre and split each belongs to, and their pixels.
//!
//! - [`discover`]: finds a labelled dataset in any supported layout.
//! - [`decode`]: file -> RGB u8 HWC at the model's input size (EXIF orientation, alpha on white).
//! - [`cache`]: decoded images cached as u8 on disk and in memory, keyed by file identity and size.
//! - [`split`]: seeded, stratified splits.

pub mod cache;
pub mod decode;
pub mod discover;
pub mod split;

use crate::genres::GenreSet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A dataset split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Dev,
    Test,
}

impl Split {
    pub const ALL: [Split; 3] = [Split::Train, Split::Dev, Split::Test];

    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Dev => "dev",
            Split::Test => "test",
        }
    }
}

/// Which on-disk layout a dataset was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// `<root>/<genre>/*.jpg`, no splits on disk.
    GenreFolders,
    /// `<root>/{train,dev|val,test}/<genre>/*.jpg`.
    SplitFolders,
    /// The study's `<root>/<split>/images/*.jpg` + `<root>/<split>/genres/y_<split>.npy`.
    StudyNpy,
    /// A CSV manifest with `path,genre` columns (and optionally `split`).
    CsvManifest,
}

/// One labelled cover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    pub path: PathBuf,
    /// Index into the dataset's [`GenreSet`].
    pub label: usize,
}

/// A file that was passed over, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// A discovered dataset.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dataset {
    pub root: PathBuf,
    pub layout: Layout,
    pub genres: GenreSet,
    pub splits: BTreeMap<Split, Vec<Sample>>,
    /// True when dev/test were made by a seeded stratified split rather than read from disk.
    pub generated_splits: bool,
    pub skipped: Vec<Skipped>,
}

impl Dataset {
    pub fn split(&self, split: Split) -> &[Sample] {
        self.splits.get(&split).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Number of covers per genre slug in a split (every genre listed, zeros included).
    pub fn counts(&self, split: Split) -> BTreeMap<String, usize> {
        let mut counts: BTreeMap<String, usize> =
            self.genres.iter().map(|g| (g.slug.clone(), 0)).collect();
        for sample in self.split(split) {
            if let Some(genre) = self.genres.get(sample.label) {
                *counts.entry(genre.slug.clone()).or_default() += 1;
            }
        }
        counts
    }
}
