//! Covers: what finds album covers and reads their pixels, for classify, eval and tagging.
//!
//! - `find`: image files under the given paths, or one cover per album of a music library
//!   (albums as [`crate::data::albums`] finds them: a cover file by its usual names, else the
//!   picture embedded in the album's audio files, read through [`crate::audio`]).
//! - `listed`: the covers of albums named in a list (`--albums-from`) instead of found by a
//!   walk.
//! - `decoder`: [`CoverDecoder`], the pipeline's decoder for a [`Source`].
//!
//! Everything here is lazy (walks are iterators feeding [`crate::infer::pipeline`], which this
//! module plugs into through its [`Item`] and [`crate::infer::pipeline::Decoder`] traits) and
//! read-only: files are opened for reading, tags are parsed without writing anything back
//! (writing genres is [`crate::tag`]'s job). Problems met while walking (unreadable folders,
//! symlink loops, missing paths) come out as [`Failure`] items in their place, so they are
//! reported like bad images.

mod decoder;
mod find;
mod listed;

pub use decoder::CoverDecoder;
pub use find::{album_source, album_sources, image_sources};
pub use listed::{listed_sources, parse_album_list, read_album_list, ListedAlbum};

use crate::failure::Failure;
use crate::infer::pipeline::Item;
use std::path::{Path, PathBuf};

/// Where a cover's pixels come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// An image file.
    File(PathBuf),
    /// The picture embedded in an album's audio files; tried in order until one has a picture.
    Embedded { audio_files: Vec<PathBuf> },
}

/// One cover to classify: the path shown in results, and where its pixels come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// What the results call this cover: the image file, or the album folder in library mode.
    pub path: PathBuf,
    pub kind: SourceKind,
}

impl Source {
    /// An image file, shown under its own path.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        Self {
            kind: SourceKind::File(path.clone()),
            path,
        }
    }

    /// An album whose cover is only embedded in its audio files.
    pub fn embedded(album: impl Into<PathBuf>, audio_files: Vec<PathBuf>) -> Self {
        Self {
            path: album.into(),
            kind: SourceKind::Embedded { audio_files },
        }
    }
}

impl Item for Source {
    fn path(&self) -> &Path {
        &self.path
    }
}

/// A stream of covers to classify, with the problems met finding them in their place.
pub type Sources = Box<dyn Iterator<Item = Result<Source, Failure>> + Send>;
