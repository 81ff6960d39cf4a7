//! Album lists (`--albums-from`): albums named one by one by a program that keeps its own
//! library (the beets plugin), instead of found by walking a music library's folders.
//!
//! One album per line: `FOLDER`, or `FOLDER<TAB>COVER` to classify the image file COVER
//! instead of the cover found in FOLDER. Lines are paths as bytes, so names need not be UTF-8;
//! a trailing `\r` is dropped and blank lines are skipped.

use super::{find, CoverChoice, Source, SourceKind, Sources};
use crate::data::albums;
use crate::data::cover_names::CoverRule;
use crate::failure::Failure;
use anyhow::{Context, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

/// One album of a list: the folder results are reported under, and the cover to use instead
/// of the one found in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedAlbum {
    pub folder: PathBuf,
    pub cover: Option<PathBuf>,
}

/// Parses a list (see the module docs).
pub fn parse_album_list(bytes: &[u8]) -> Vec<ListedAlbum> {
    bytes
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.is_empty())
        .map(|line| match line.iter().position(|&b| b == b'\t') {
            Some(tab) => ListedAlbum {
                folder: path_of(&line[..tab]),
                cover: Some(path_of(&line[tab + 1..])),
            },
            None => ListedAlbum {
                folder: path_of(line),
                cover: None,
            },
        })
        .collect()
}

/// Reads a list from `file`, or from stdin when `file` is `-`.
pub fn read_album_list(file: &Path) -> Result<Vec<ListedAlbum>> {
    let mut bytes = Vec::new();
    if file == Path::new("-") {
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read the album list from stdin")?;
    } else {
        bytes = std::fs::read(file)
            .with_context(|| format!("cannot read the album list {}", file.display()))?;
    }
    Ok(parse_album_list(&bytes))
}

/// The covers of listed albums, in list order; a folder that is missing or holds no album
/// is a failure in its place.
pub fn listed_sources(albums: Vec<ListedAlbum>) -> Sources {
    Box::new(albums.into_iter().map(|album| match album.cover {
        Some(cover) => Ok(Source {
            path: album.folder,
            kind: SourceKind::File(cover),
            choice: Some(CoverChoice {
                rule: CoverRule::Listed,
                next: Default::default(),
                passed_over: Vec::new(),
            }),
        }),
        None => folder_album(&album.folder),
    }))
}

/// The album in a listed folder, found as a library's albums are (its disc and art folders
/// included); a folder that cannot be read or holds no album is a failure saying so.
fn folder_album(folder: &Path) -> Result<Source, Failure> {
    match albums::album_at(folder) {
        Some(album) => album.map(find::album_source),
        None => Err(Failure::new(
            folder,
            "is not an album: it holds no cover image file and no audio files",
        )),
    }
}

#[cfg(unix)]
fn path_of(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

#[cfg(not(unix))]
fn path_of(bytes: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_folders_with_an_optional_cover_and_blank_lines_are_skipped() {
        let list = parse_album_list(b"/m/A\n\n/m/B\t/art/b.jpg\r\n/m/C\r\n");
        let folders: Vec<&Path> = list.iter().map(|a| a.folder.as_path()).collect();
        assert_eq!(
            folders,
            [Path::new("/m/A"), Path::new("/m/B"), Path::new("/m/C")]
        );
        assert_eq!(list[0].cover, None);
        assert_eq!(list[1].cover.as_deref(), Some(Path::new("/art/b.jpg")));
    }

    #[cfg(unix)]
    #[test]
    fn names_need_not_be_utf8() {
        use std::os::unix::ffi::OsStrExt;
        let list = parse_album_list(b"/m/caf\xe9\n");
        assert_eq!(list[0].folder.as_os_str().as_bytes(), b"/m/caf\xe9");
    }
}
