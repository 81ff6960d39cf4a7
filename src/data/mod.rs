//! The data layer: which covers exist, which genre and split each belongs to, and their pixels.
//!
//! - [`discover`](mod@discover): finds a labelled dataset in any supported layout.
//! - [`albums`]: albums as music libraries lay them out (disc folders, art folders), their
//!   cover files and tracks.
//! - [`artists`]: who an album's artist is (album-artist tag, the artist most tracks share,
//!   the `Artist/Album` folder), compilations having none.
//! - [`cover_names`]: the front-cover rule on an album's image names.
//! - [`library`]: a music library as a labelled dataset (its albums' covers, labelled by the
//!   genres their tracks carry; splits by a stable hash of the album's path).
//! - [`decode`]: file -> RGB u8 HWC at the model's input size (EXIF orientation, alpha on white).
//!   Big JPEGs are decoded at reduced size through `turbo` (libjpeg-turbo, loaded at run time).
//! - [`base_outputs`]: a base model's outputs per cover cached on disk, keyed by the bytes of
//!   cover and model (learning from a library runs the base model once per cover).
//! - [`cache`]: decoded images cached as u8 on disk and in memory, keyed by file identity and size.
//! - [`split`]: seeded, stratified splits.
//! - [`vocabulary`]: the owner's genre values folded into classes (spellings, the genre map,
//!   minimum album counts).
//!
//! [`load_samples`] ties them together: a list of samples in, their pixels out, bad files
//! listed rather than fatal.

pub mod albums;
pub mod artists;
pub mod base_outputs;
pub mod cache;
pub mod cover_names;
pub mod decode;
pub mod discover;
pub mod library;
mod listing;
mod manifest;
pub mod split;
mod study_npy;
mod turbo;
pub mod vocabulary;

pub use cache::{CacheStats, ImageCache};
pub use decode::{decode_bytes, decode_file, resize_rgb, DecodeError, DecodeLimits};
pub use discover::{discover, DiscoverOptions};
pub use split::{stratified_holdout, stratified_split};

use crate::failure::Failure;
use crate::genres::GenreSet;
use crate::preprocess::Preprocess;
use rayon::prelude::*;
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
    /// A music library: one cover per album, labelled by its tracks' genre field.
    MusicLibrary,
}

/// One labelled cover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    pub path: PathBuf,
    /// Index into the dataset's [`GenreSet`].
    pub label: usize,
}

/// A discovered dataset.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dataset {
    pub root: PathBuf,
    pub layout: Layout,
    pub genres: GenreSet,
    pub splits: BTreeMap<Split, Vec<Sample>>,
    /// True when dev/test were made by a seeded split rather than read from disk.
    pub generated_splits: bool,
    pub skipped: Vec<Failure>,
    /// For a music library: the vocabulary, unlabelled albums, ties and what reading it cost.
    #[serde(default)]
    pub library: Option<library::LibrarySummary>,
}

impl Dataset {
    /// Dataset root name, layout and covers per split: enough to tell which data a shipped
    /// model saw, without paths from the training machine.
    pub fn training_data_summary(&self) -> serde_json::Value {
        let root = self
            .root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.root.display().to_string());
        let splits: serde_json::Map<String, serde_json::Value> = self
            .splits
            .iter()
            .map(|(split, samples)| (format!("{split:?}").to_lowercase(), samples.len().into()))
            .collect();
        serde_json::json!({
            "dataset": root,
            "layout": format!("{:?}", self.layout),
            "generated_splits": self.generated_splits,
            "covers_per_split": splits,
        })
    }

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

/// Decoded samples, in input order, without the ones that failed.
#[derive(Debug, Clone, Default)]
pub struct LoadedImages {
    /// N x H x W x 3, RGB u8, one image after another.
    pub pixels: Vec<u8>,
    pub labels: Vec<usize>,
    pub paths: Vec<PathBuf>,
    /// Files that could not be decoded, with the reason.
    pub skipped: Vec<Failure>,
}

impl LoadedImages {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The pixels of image `index` (H x W x 3).
    pub fn image(&self, index: usize, pre: &Preprocess) -> &[u8] {
        let len = pre.image_len();
        &self.pixels[index * len..(index + 1) * len]
    }
}

/// Decodes (or fetches from `cache`) every sample in parallel, keeping their order. A file that
/// fails is listed in `skipped` with its reason and the rest go on.
pub fn load_samples(
    samples: &[Sample],
    pre: &Preprocess,
    cache: &ImageCache,
    limits: &decode::DecodeLimits,
    progress_label: &str,
) -> LoadedImages {
    let bar = crate::util::progress(Some(samples.len() as u64), progress_label);
    let results: Vec<_> = samples
        .par_iter()
        .map(|sample| {
            let result = cache.load(&sample.path, pre, limits);
            bar.inc(1);
            result
        })
        .collect();
    bar.finish_and_clear();

    let mut loaded = LoadedImages {
        pixels: Vec::with_capacity(samples.len() * pre.image_len()),
        ..LoadedImages::default()
    };
    for (sample, result) in samples.iter().zip(results) {
        match result {
            Ok(pixels) => {
                loaded.pixels.extend_from_slice(&pixels);
                loaded.labels.push(sample.label);
                loaded.paths.push(sample.path.clone());
            }
            Err(error) => loaded.skipped.push(Failure {
                path: sample.path.clone(),
                reason: error.to_string(),
            }),
        }
    }
    loaded
}
