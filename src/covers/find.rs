//! Finding covers: image files under folders, or one cover per album of a music library.

use super::{CoverChoice, Source, SourceKind, Sources};
use crate::data::albums::{self, walk_failure, Album};
use crate::data::cover_names::CoverRule;
use crate::failure::Failure;
use crate::files::{is_hidden, is_image_file_name, walk};
use std::collections::VecDeque;
use std::path::PathBuf;

/// Every image under `paths`, in a stable order. A file named on the command line is tried
/// whatever its extension (the user asked for it); inside folders only image extensions count.
/// A folder named like an image (`x.jpg/`) is passed on, so decoding reports it, and still
/// searched. Hidden entries are skipped.
pub fn image_sources(paths: Vec<PathBuf>) -> impl Iterator<Item = Result<Source, Failure>> + Send {
    paths.into_iter().flat_map(sources_under)
}

fn sources_under(path: PathBuf) -> Sources {
    match std::fs::metadata(&path) {
        Err(e) => Box::new(std::iter::once(Err(Failure::new(
            path,
            format!("cannot read: {e}"),
        )))),
        Ok(meta) if !meta.is_dir() => Box::new(std::iter::once(Ok(Source::file(path)))),
        Ok(_) => {
            let root = path.clone();
            Box::new(walk(&path).filter_map(move |entry| match entry {
                Err(e) => Some(Err(walk_failure(&root, e))),
                Ok(entry) if entry.depth() > 0 && is_hidden(entry.path()) => None,
                Ok(entry) if entry.depth() > 0 && is_image_file_name(entry.path()) => {
                    Some(Ok(Source::file(entry.into_path())))
                }
                Ok(_) => None,
            }))
        }
    }
}

/// One source per album under `root` ([`crate::data::albums`] says what an album is): its
/// best front cover, falling back on the next ones and then on the picture embedded in its
/// tracks (read when decoding, in parallel).
pub fn album_sources(root: PathBuf) -> Sources {
    match std::fs::metadata(&root) {
        Err(e) => Box::new(std::iter::once(Err(Failure::new(
            root,
            format!("cannot read: {e}"),
        )))),
        Ok(meta) if !meta.is_dir() => Box::new(std::iter::once(Err(Failure::new(
            root,
            "is not a folder (library mode takes the music library's folder)",
        )))),
        Ok(_) => Box::new(albums::albums(&root).map(|album| album.map(album_source))),
    }
}

/// The cover source of an album: its front covers in order, then its embedded picture.
pub fn album_source(album: Album) -> Source {
    let mut candidates: VecDeque<(SourceKind, CoverRule)> = album
        .covers
        .into_iter()
        .map(|cover| (SourceKind::File(cover.path), cover.rule))
        .collect();
    let embedded = SourceKind::Embedded {
        audio_files: album.tracks,
    };
    candidates.push_back((embedded, CoverRule::Embedded));
    let (kind, rule) = candidates
        .pop_front()
        .expect("the embedded picture is always a candidate");
    Source {
        path: album.folder,
        kind,
        choice: Some(CoverChoice {
            rule,
            next: candidates,
            passed_over: Vec::new(),
        }),
    }
}
