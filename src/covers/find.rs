//! Finding covers: image files under folders, or one cover per album folder of a music library.

// Which files are images, and which are hidden, is decided once, where datasets are discovered.
use super::{Source, SourceKind, Sources};
use crate::data::discover::{has_extension, is_hidden, is_image_file_name as is_image_path};
use crate::failure::Failure;
use std::path::{Path, PathBuf};
use walkdir::WalkDir;

/// Audio extensions whose embedded pictures library mode reads, matched case-insensitively.
pub const AUDIO_EXTENSIONS: [&str; 6] = ["mp3", "flac", "m4a", "mp4", "ogg", "opus"];

pub fn is_audio_path(path: &Path) -> bool {
    has_extension(path, &AUDIO_EXTENSIONS)
}

/// A walk that follows symlinks (so linked folders are searched) in a stable order; walkdir
/// detects symlink loops and reports them as errors.
pub(crate) fn walk(root: &Path) -> walkdir::IntoIter {
    WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
}

/// A walk error as a failure naming the path and the problem.
fn walk_failure(root: &Path, error: walkdir::Error) -> Failure {
    let path = error.path().unwrap_or(root).to_path_buf();
    let reason = match (error.loop_ancestor(), error.io_error()) {
        (Some(ancestor), _) => format!("symlink loop back to {}", ancestor.display()),
        (None, Some(io)) => format!("cannot read: {io}"),
        (None, None) => error.to_string(),
    };
    Failure::new(path, reason)
}

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
                Ok(entry) if entry.depth() > 0 && is_image_path(entry.path()) => {
                    Some(Ok(Source::file(entry.into_path())))
                }
                Ok(_) => None,
            }))
        }
    }
}

/// How likely a file name is to be the album's front cover; lower is better, `None` is not a
/// cover name. Windows Media Player's `AlbumArt_{GUID}_Large.jpg` beats its `_Small` twin.
pub fn cover_name_rank(path: &Path) -> Option<u8> {
    if !is_image_path(path) || is_hidden(path) {
        return None;
    }
    let stem = path.file_stem()?.to_str()?.to_ascii_lowercase();
    match stem.as_str() {
        "cover" => Some(0),
        "folder" => Some(1),
        "front" => Some(2),
        "albumart" => Some(4),
        s if s.starts_with("albumart") && s.contains("large") => Some(3),
        s if s.starts_with("albumart") && s.contains("small") => Some(6),
        s if s.starts_with("albumart") => Some(5),
        _ => None,
    }
}

/// One result per album folder under `root`: a folder is an album when it holds audio files
/// or a cover file directly. Its cover is the best-named cover file; without one, the picture
/// embedded in its audio files (read when decoding, in parallel). Folders without either
/// (artist folders, the root) are not albums.
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
        Ok(_) => {
            let top = root.clone();
            Box::new(walk(&root).filter_map(move |entry| match entry {
                Err(e) => Some(Err(walk_failure(&top, e))),
                Ok(entry) if entry.file_type().is_dir() && !is_hidden(entry.path()) => {
                    album_in(entry.path())
                }
                Ok(_) => None,
            }))
        }
    }
}

/// The album source for one folder, `None` when the folder is not an album.
fn album_in(folder: &Path) -> Option<Result<Source, Failure>> {
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(e) => return Some(Err(Failure::new(folder, format!("cannot read: {e}")))),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| e.path())
        .collect();
    files.sort();
    let cover = files
        .iter()
        .filter_map(|f| cover_name_rank(f).map(|rank| (rank, f)))
        .min_by_key(|(rank, _)| *rank)
        .map(|(_, f)| f.clone());
    if let Some(cover) = cover {
        return Some(Ok(Source {
            path: folder.to_path_buf(),
            kind: SourceKind::File(cover),
        }));
    }
    let audio: Vec<PathBuf> = files.into_iter().filter(|f| is_track(f)).collect();
    (!audio.is_empty()).then(|| Ok(Source::embedded(folder, audio)))
}

/// The album in one folder named by the user (an album list), found as [`album_sources`]
/// finds albums; a folder that is missing or holds no album is a failure saying so.
pub(crate) fn album_source(folder: &Path) -> Result<Source, Failure> {
    match std::fs::metadata(folder) {
        Err(e) => Err(Failure::new(folder, format!("cannot read: {e}"))),
        Ok(meta) if !meta.is_dir() => Err(Failure::new(folder, "is not a folder")),
        Ok(_) => album_in(folder).unwrap_or_else(|| {
            Err(Failure::new(
                folder,
                "is not an album: it holds no cover image file and no audio files",
            ))
        }),
    }
}

/// An album's track: an audio file, not hidden (so never one of our temporary copies).
fn is_track(path: &Path) -> bool {
    is_audio_path(path) && !is_hidden(path)
}

/// The audio files directly in an album folder, sorted: the tracks tagging writes to.
pub fn album_tracks(folder: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut tracks: Vec<PathBuf> = std::fs::read_dir(folder)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| is_track(p) && p.is_file())
        .collect();
    tracks.sort();
    Ok(tracks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cover_names_rank_front_covers_first_and_ignore_other_images() {
        let rank = |name: &str| cover_name_rank(Path::new(name));
        assert_eq!(rank("Cover.JPG"), Some(0));
        assert!(rank("folder.jpg") < rank("front.png"));
        assert!(rank("AlbumArt_{1234}_Large.jpg") < rank("AlbumArt_{1234}_Small.jpg"));
        assert!(rank("front.png") < rank("AlbumArtSmall.jpg"));
        assert_eq!(rank("back.jpg"), None);
        assert_eq!(rank("cover.txt"), None);
        assert_eq!(rank("._cover.jpg"), None);
    }

    #[test]
    fn extensions_match_regardless_of_case() {
        assert!(is_image_path(Path::new("a/B.JpEg")));
        assert!(is_audio_path(Path::new("01 Song.FLAC")));
        assert!(!is_image_path(Path::new("notes.txt")));
        assert!(!is_image_path(Path::new("jpg")));
    }
}
