//! Finds a labelled dataset on disk, in any of five layouts, tried in this order:
//!
//! 1. the study's layout: `<root>/<split>/images/*.jpg` + `<root>/<split>/genres/y_<split>.npy`
//!    (integer ids or one-hot rows, in file-name order, indexing the 12 MUMU genres);
//! 2. split folders: `<root>/train/<genre>/*`, optionally with `dev/` (or `val/`) and `test/`;
//! 3. a CSV manifest with `path,genre` (and optionally `split`) columns: `root` is the CSV file,
//!    or a folder holding `manifest.csv`. Split folders win over a manifest beside them;
//! 4. a music library: a folder with audio files under it ([`super::library`]: one cover per
//!    album, labelled by its tracks' genre field);
//! 5. genre folders: `<root>/<genre>/*`.
//!
//! Discovery only lists files: decoding problems are found when the images are loaded. Splits
//! missing on disk are made by a seeded stratified split of the training covers. The readers
//! of layouts 1 and 3 are `study_npy` and `manifest`; `listing` holds what every reader shares.

use super::library::{discover_library, is_music_library, LibraryOptions};
use super::listing::{note_file, sorted_entries, Found, SPLIT_DIRS};
use super::manifest::read_csv_manifest;
use super::split::{stratified_holdout, stratified_split};
pub use super::study_npy::read_npy_labels;
use super::study_npy::read_study_npy;
use super::{Dataset, Layout, Sample, Split};
use crate::failure::Failure;
use crate::files::{file_name, has_extension, is_hidden, is_image_file_name};
use crate::genres::GenreSet;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How to make the splits a dataset does not have on disk, and how to read a music library.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoverOptions {
    pub seed: u64,
    /// Share of each genre held out as dev when there is no dev split on disk.
    pub dev_fraction: f64,
    /// Share of each genre held out as test when there is no test split on disk.
    pub test_fraction: f64,
    /// Where a music library's labels come from (field, genre map, minimum albums).
    pub library: LibraryOptions,
}

impl Default for DiscoverOptions {
    fn default() -> Self {
        Self {
            seed: 42,
            dev_fraction: 0.1,
            test_fraction: 0.1,
            library: LibraryOptions::default(),
        }
    }
}

/// Finds the dataset at `root` (a folder, or a CSV manifest). Errors name `root` or the file
/// at fault and say what is wrong.
pub fn discover(root: &Path, options: &DiscoverOptions) -> Result<Dataset> {
    if is_library_root(root) {
        return discover_library(root, &options.library, options.seed);
    }
    let found = find(root)?;
    let total: usize = found.splits.values().map(Vec::len).sum();
    if total == 0 {
        let hint = match found.layout {
            Layout::GenreFolders => {
                " (and no audio files: a music library is a folder of album folders holding \
                 mp3, flac, m4a, ogg, opus, aiff, wav, ape, wv or mpc tracks)"
            }
            _ => "",
        };
        bail!(
            "{}: found a {} layout but no covers in it{hint}",
            root.display(),
            layout_name(found.layout)
        );
    }
    let (splits, generated_splits) = fill_missing_splits(found.splits, options);
    Ok(Dataset {
        root: root.to_path_buf(),
        layout: found.layout,
        genres: found.genres,
        splits,
        generated_splits,
        skipped: found.skipped,
        library: None,
    })
}

/// A folder of audio files without an image dataset's split folders or manifest is a music
/// library (genre folders of images hold no audio).
pub fn is_library_root(root: &Path) -> bool {
    root.is_dir()
        && split_dirs(root).is_ok_and(|dirs| dirs.is_empty())
        && !root.join("manifest.csv").is_file()
        && is_music_library(root)
}

/// The layout's name as the JSON report spells it.
pub fn layout_name(layout: Layout) -> &'static str {
    match layout {
        Layout::GenreFolders => "genre-folders",
        Layout::SplitFolders => "split-folders",
        Layout::StudyNpy => "study-npy",
        Layout::CsvManifest => "csv-manifest",
        Layout::MusicLibrary => "music-library",
    }
}

fn find(root: &Path) -> Result<Found> {
    let meta = std::fs::metadata(root)
        .with_context(|| format!("{}: cannot open the dataset", root.display()))?;
    if meta.is_file() {
        if has_extension(root, &["csv"]) {
            return read_csv_manifest(root);
        }
        bail!(
            "{}: is a file but not a CSV manifest; give a dataset folder or a .csv with path,genre columns",
            root.display()
        );
    }
    let split_dirs = split_dirs(root)?;
    let study: Vec<(Split, PathBuf)> = split_dirs
        .iter()
        .filter(|(_, dir)| dir.join("images").is_dir() && dir.join("genres").is_dir())
        .cloned()
        .collect();
    if !study.is_empty() {
        return read_study_npy(&study);
    }
    // A lone train/ is still a split layout (dev and test get generated), not a genre "train".
    if split_dirs.iter().any(|(s, _)| *s == Split::Train) {
        return read_split_folders(root, &split_dirs);
    }
    let manifest = root.join("manifest.csv");
    if manifest.is_file() {
        return read_csv_manifest(&manifest);
    }
    read_genre_folders(root)
}

/// The split folders present at `root`; both `dev/` and `val/` is ambiguous and an error.
fn split_dirs(root: &Path) -> Result<Vec<(Split, PathBuf)>> {
    let mut found: Vec<(Split, PathBuf)> = Vec::new();
    for (name, split) in SPLIT_DIRS {
        let dir = root.join(name);
        if !dir.is_dir() {
            continue;
        }
        if let Some((_, other)) = found.iter().find(|(s, _)| *s == split) {
            bail!(
                "{}: both {} and {} exist; keep one of them as the dev split",
                root.display(),
                other.display(),
                dir.display()
            );
        }
        found.push((split, dir));
    }
    Ok(found)
}

// ---- genre folders and split folders ----

/// Image files per genre folder name, plus what was passed over.
#[derive(Default)]
struct GenreListing {
    by_genre: BTreeMap<String, Vec<PathBuf>>,
    skipped: Vec<Failure>,
}

fn read_genre_folders(root: &Path) -> Result<Found> {
    let listing = list_genre_folders(root)?;
    if listing.by_genre.is_empty() {
        bail!(
            "{}: no dataset found: expected genre folders (<genre>/*.jpg), split folders \
             (train/ with dev/ or test/), the study layout (<split>/images + <split>/genres), \
             a manifest.csv, or a music library (album folders of audio files)",
            root.display()
        );
    }
    let genres = GenreSet::from_folder_names(listing.by_genre.keys().cloned()).widened_to_mumu();
    let samples = label_listing(&listing.by_genre, &genres);
    Ok(Found {
        layout: Layout::GenreFolders,
        genres,
        splits: BTreeMap::from([(Split::Train, samples)]),
        skipped: listing.skipped,
    })
}

fn read_split_folders(root: &Path, split_dirs: &[(Split, PathBuf)]) -> Result<Found> {
    let mut listings = Vec::new();
    for (split, dir) in split_dirs {
        listings.push((*split, list_genre_folders(dir)?));
    }
    let names = listings
        .iter()
        .flat_map(|(_, l)| l.by_genre.keys().cloned())
        .collect::<Vec<_>>();
    if names.is_empty() {
        bail!(
            "{}: split folders found but no genre folders inside them",
            root.display()
        );
    }
    let genres = GenreSet::from_folder_names(names).widened_to_mumu();
    let mut found = Found {
        layout: Layout::SplitFolders,
        genres,
        splits: BTreeMap::new(),
        skipped: Vec::new(),
    };
    for (split, listing) in listings {
        found
            .splits
            .insert(split, label_listing(&listing.by_genre, &found.genres));
        found.skipped.extend(listing.skipped);
    }
    Ok(found)
}

/// Samples for each genre folder, labelled by their folder's index in `genres`.
fn label_listing(by_genre: &BTreeMap<String, Vec<PathBuf>>, genres: &GenreSet) -> Vec<Sample> {
    let slugs = genres.slugs();
    by_genre
        .iter()
        .filter_map(|(name, paths)| {
            let label = slugs
                .iter()
                .position(|s| s == name)
                .or_else(|| genres.index_of(name))?;
            Some(paths.iter().map(move |path| Sample {
                path: path.clone(),
                label,
            }))
        })
        .flatten()
        .collect()
}

/// Each non-hidden subfolder of `dir` is a genre; its images (at any depth) are its covers.
fn list_genre_folders(dir: &Path) -> Result<GenreListing> {
    let mut listing = GenreListing::default();
    for path in sorted_entries(dir)? {
        if is_hidden(&path) {
            continue;
        }
        if path.is_dir() {
            let genre = file_name(&path);
            let images = list_images_under(&path, &mut listing.skipped);
            listing.by_genre.insert(genre, images);
        } else if is_image_file_name(&path) {
            listing.skipped.push(Failure {
                path,
                reason: "image outside any genre folder (genre unknown)".into(),
            });
        }
    }
    Ok(listing)
}

/// Image files under `dir`, sorted by path; other data files are recorded as skipped.
fn list_images_under(dir: &Path, skipped: &mut Vec<Failure>) -> Vec<PathBuf> {
    let mut images = Vec::new();
    let walk = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| !is_hidden(e.path()));
    for entry in walk {
        match entry {
            Ok(entry) if entry.file_type().is_dir() => {}
            Ok(entry) => note_file(entry.into_path(), &mut images, skipped),
            Err(error) => skipped.push(Failure {
                path: error.path().unwrap_or(dir).to_path_buf(),
                reason: walk_error_reason(&error),
            }),
        }
    }
    images
}

fn walk_error_reason(error: &walkdir::Error) -> String {
    if error.loop_ancestor().is_some() {
        return "symbolic link loop".into();
    }
    match error.io_error().map(|e| e.kind()) {
        Some(std::io::ErrorKind::PermissionDenied) => "cannot read: permission denied".into(),
        Some(std::io::ErrorKind::NotFound) => "cannot read: broken link or vanished file".into(),
        _ => format!("cannot read: {error}"),
    }
}

// ---- making missing splits ----

/// Carves missing dev/test splits out of train, stratified and seeded. Returns the splits
/// (all three present) and whether any was generated.
fn fill_missing_splits(
    mut splits: BTreeMap<Split, Vec<Sample>>,
    options: &DiscoverOptions,
) -> (BTreeMap<Split, Vec<Sample>>, bool) {
    let has =
        |splits: &BTreeMap<Split, Vec<Sample>>, s| splits.get(&s).is_some_and(|v| !v.is_empty());
    let (has_dev, has_test) = (has(&splits, Split::Dev), has(&splits, Split::Test));
    let train = splits.remove(&Split::Train).unwrap_or_default();
    let generated = !(has_dev && has_test);
    let seed = options.seed;
    match (has_dev, has_test) {
        (true, true) => {
            splits.insert(Split::Train, train);
        }
        (false, false) => {
            let (d, t) = (options.dev_fraction, options.test_fraction);
            let mut parts = stratified_split(train, &[1.0 - d - t, d, t], seed).into_iter();
            for split in Split::ALL {
                splits.insert(split, parts.next().unwrap_or_default());
            }
        }
        (false, true) => {
            let (kept, held) = stratified_holdout(&train, options.dev_fraction, seed);
            splits.insert(Split::Train, kept);
            splits.insert(Split::Dev, held);
        }
        (true, false) => {
            let (kept, held) = stratified_holdout(&train, options.test_fraction, seed);
            splits.insert(Split::Train, kept);
            splits.insert(Split::Test, held);
        }
    }
    (splits, generated)
}
