//! Covers: what finds album covers and reads their pixels, for classify, eval and tagging.
//!
//! - `find`: image files under the given paths, or one cover per album of a music library
//!   (albums as [`crate::data::albums`] finds them: its front covers by the rule of
//!   [`crate::data::cover_names`], else the picture embedded in the album's audio files, read
//!   through [`crate::audio`]).
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

use crate::data::cover_names::CoverRule;
pub use crate::data::cover_names::PassedOver;
use crate::failure::Failure;
use crate::infer::pipeline::Item;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
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
    /// Where the pixels come from; once decoded, where they came from (the candidate that
    /// decoded, the one track whose picture was used).
    pub kind: SourceKind,
    /// An album's cover: the rule that chose `kind`, and the candidates to fall back on.
    pub choice: Option<CoverChoice>,
}

/// How an album's cover was chosen, and what is left to try when it cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverChoice {
    /// The step of the front-cover rule that chose the source's `kind`.
    pub rule: CoverRule,
    /// The candidates after it, best first (the embedded picture last).
    pub next: VecDeque<(SourceKind, CoverRule)>,
    /// Candidates that could not be decoded, in the order tried.
    pub passed_over: Vec<PassedOver>,
}

/// The cover an album's result came from (`cover` in the JSON outputs of library mode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverUsed {
    /// The image file, or the track whose embedded picture was used.
    pub file: String,
    /// The step of the front-cover rule that chose it (`cover-name`, `album-name`,
    /// `only-image`, `embedded`, `listed`).
    pub rule: CoverRule,
    /// Candidates before it that could not be decoded, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passed_over: Vec<PassedOver>,
}

impl Source {
    /// An image file, shown under its own path.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        Self {
            kind: SourceKind::File(path.clone()),
            path,
            choice: None,
        }
    }

    /// An album whose cover is only embedded in its audio files.
    pub fn embedded(album: impl Into<PathBuf>, audio_files: Vec<PathBuf>) -> Self {
        Self {
            path: album.into(),
            kind: SourceKind::Embedded { audio_files },
            choice: Some(CoverChoice {
                rule: CoverRule::Embedded,
                next: VecDeque::new(),
                passed_over: Vec::new(),
            }),
        }
    }

    /// Gives way to the next candidate after the current one could not be decoded (`reason`);
    /// false when none is left.
    pub fn fall_back(&mut self, reason: String) -> bool {
        let Some(choice) = self.choice.as_mut() else {
            return false;
        };
        let Some((kind, rule)) = choice.next.pop_front() else {
            return false;
        };
        choice.passed_over.push(PassedOver {
            file: kind_file(&self.kind),
            reason,
        });
        self.kind = kind;
        choice.rule = rule;
        true
    }

    /// The candidates passed over so far (none for a plain image).
    pub fn passed_over(&self) -> &[PassedOver] {
        self.choice.as_ref().map_or(&[], |c| &c.passed_over)
    }

    /// The cover an album's result came from; `None` for a plain image file.
    pub fn cover_used(&self) -> Option<CoverUsed> {
        let choice = self.choice.as_ref()?;
        Some(CoverUsed {
            file: kind_file(&self.kind),
            rule: choice.rule,
            passed_over: choice.passed_over.clone(),
        })
    }
}

/// The file a cover's pixels come from, as results show it (the first track for pictures
/// not yet read).
fn kind_file(kind: &SourceKind) -> String {
    match kind {
        SourceKind::File(path) => path.display().to_string(),
        SourceKind::Embedded { audio_files } => audio_files
            .first()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    }
}

impl Item for Source {
    fn path(&self) -> &Path {
        &self.path
    }
}

/// A stream of covers to classify, with the problems met finding them in their place.
pub type Sources = Box<dyn Iterator<Item = Result<Source, Failure>> + Send>;
