//! What every dataset layout reader finds ([`Found`]), and the folder listing they share:
//! the split folder names, entries in name order, and which files count as covers.

use super::{Layout, Sample, Split};
use crate::failure::Failure;
use crate::files::{file_name, is_hidden, is_image_file_name};
use crate::genres::GenreSet;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Folder names read as splits, in the order they are looked for.
pub(super) const SPLIT_DIRS: [(&str, Split); 5] = [
    ("train", Split::Train),
    ("dev", Split::Dev),
    ("val", Split::Dev),
    ("validation", Split::Dev),
    ("test", Split::Test),
];

/// The layout found at `root` and the samples in it, before missing splits are made.
pub(super) struct Found {
    pub(super) layout: Layout,
    pub(super) genres: GenreSet,
    pub(super) splits: BTreeMap<Split, Vec<Sample>>,
    pub(super) skipped: Vec<Failure>,
}

/// Keeps `path` as a cover when its name says image; lists it as skipped when it looks like
/// data that was meant to be one.
pub(super) fn note_file(path: PathBuf, images: &mut Vec<PathBuf>, skipped: &mut Vec<Failure>) {
    if is_image_file_name(&path) {
        images.push(path);
    } else if looks_like_data(&path) {
        skipped.push(Failure {
            path,
            reason: "not an image file extension".into(),
        });
    }
}

pub(super) fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut paths = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot list the folder", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect::<Vec<_>>();
    paths.sort();
    Ok(paths)
}

/// Operating-system litter and editor backups are not worth reporting; anything else in a
/// genre folder probably was meant to be a cover.
fn looks_like_data(path: &Path) -> bool {
    let name = file_name(path);
    let litter = ["thumbs.db", "desktop.ini", "icon\r"];
    !is_hidden(path) && !name.ends_with('~') && !litter.contains(&name.to_lowercase().as_str())
}
