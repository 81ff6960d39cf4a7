//! Albums as music libraries lay them out: which folders are albums, which file is an album's
//! cover and which files are its tracks. Classify's `--library`, tagging, the review page,
//! shards and training on a library all find albums here, so they agree on what an album is.
//!
//! - A folder is an album when it holds tracks (audio files) or a cover file, directly or in
//!   its disc folders.
//! - **Disc folders** (`CD1`, `CD 2`, `Disc 1`, `Disk2`, `Disc 1 - Title`, any case) belong to
//!   their parent: a multi-disc album is one album, whose tracks are every disc's.
//! - **Art folders** (`Artwork`, `Art`, `Covers`, `Scans`, any case) hold an album's pictures:
//!   they are searched for the cover names after the album folder itself.
//! - Disc and art folders are never albums of their own (unless given as the library root),
//!   nor are hidden folders (`.Trash-1000`, sync tools' state) or anything under them.
//!
//! The cover is the best-named cover file of the album folder, else of its art folders, else
//! of its disc folders (and their art folders) in disc order; an album without one takes the
//! picture embedded in its tracks (read when decoding).

use crate::failure::Failure;
use crate::files::{file_name, is_audio_path, is_hidden, is_image_file_name, walk};
use std::path::{Path, PathBuf};

/// One album of a music library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Album {
    pub folder: PathBuf,
    /// The best-named cover file (see the module docs), if there is one.
    pub cover_file: Option<PathBuf>,
    /// Every track: the folder's own, then each disc's in disc order, each part sorted.
    pub tracks: Vec<PathBuf>,
}

/// Every album under `root` (the root itself included), lazily, in path order. Folders that
/// cannot be read come out as failures in their place.
pub fn albums(root: &Path) -> Box<dyn Iterator<Item = Result<Album, Failure>> + Send> {
    let top = root.to_path_buf();
    let walk =
        walk(root).filter_entry(|entry| entry.depth() == 0 || !is_part_of_an_album(entry.path()));
    Box::new(walk.filter_map(move |entry| match entry {
        Err(error) => Some(Err(walk_failure(&top, error))),
        Ok(entry) if entry.file_type().is_dir() => album_at(entry.path()),
        Ok(_) => None,
    }))
}

/// Folders that are a part of their parent's album (or hidden), never albums themselves.
fn is_part_of_an_album(path: &Path) -> bool {
    let name = file_name(path);
    is_hidden(path) || is_disc_folder(&name) || is_art_folder(&name)
}

/// A walk error as a failure naming the path and the problem.
pub(crate) fn walk_failure(root: &Path, error: walkdir::Error) -> Failure {
    let path = error.path().unwrap_or(root).to_path_buf();
    let reason = match (error.loop_ancestor(), error.io_error()) {
        (Some(ancestor), _) => format!("symlink loop back to {}", ancestor.display()),
        (None, Some(io)) => format!("cannot read: {io}"),
        (None, None) => error.to_string(),
    };
    Failure::new(path, reason)
}

/// The album in `folder`, `None` when the folder is not an album (an artist folder, the
/// library root).
pub fn album_at(folder: &Path) -> Option<Result<Album, Failure>> {
    let content = match Content::of(folder) {
        Ok(content) => content,
        Err(failure) => return Some(Err(failure)),
    };
    let mut discs = Vec::new();
    for disc in &content.disc_folders {
        match Content::of(disc) {
            Ok(disc) => discs.push(disc),
            Err(failure) => return Some(Err(failure)),
        }
    }
    let tracks: Vec<PathBuf> = std::iter::once(&content)
        .chain(&discs)
        .flat_map(|c| c.tracks.iter().cloned())
        .collect();
    let cover_file = std::iter::once(&content)
        .chain(&discs)
        .find_map(Content::best_cover);
    // A cover file makes a folder an album even without tracks (a folder of covers), but one
    // in an art folder alone does not: an artist folder may keep its photos in `Artwork/`.
    let has_cover_file = std::iter::once(&content)
        .chain(&discs)
        .any(|c| !c.covers.is_empty());
    (!tracks.is_empty() || has_cover_file).then(|| {
        Ok(Album {
            folder: folder.to_path_buf(),
            cover_file,
            tracks,
        })
    })
}

/// Every track of the album in `folder` (its disc folders' included), as tagging writes them.
pub fn album_tracks(folder: &Path) -> std::io::Result<Vec<PathBuf>> {
    match album_at(folder) {
        Some(Ok(album)) => Ok(album.tracks),
        Some(Err(failure)) => Err(std::io::Error::other(failure.to_string())),
        None => Ok(Vec::new()),
    }
}

/// What one folder holds directly, sorted: its tracks, its cover-named images, and the disc
/// and art folders in it.
struct Content {
    tracks: Vec<PathBuf>,
    covers: Vec<PathBuf>,
    art_covers: Vec<PathBuf>,
    disc_folders: Vec<PathBuf>,
}

impl Content {
    fn of(folder: &Path) -> Result<Self, Failure> {
        let (files, folders) = list(folder)?;
        let mut art_covers = Vec::new();
        for art in folders.iter().filter(|f| is_art_folder(&file_name(f))) {
            // An unreadable art folder only costs its pictures.
            if let Ok((pictures, _)) = list(art) {
                art_covers.extend(
                    pictures
                        .into_iter()
                        .filter(|p| cover_name_rank(p).is_some()),
                );
            }
        }
        let mut disc_folders: Vec<PathBuf> = folders
            .into_iter()
            .filter(|f| is_disc_folder(&file_name(f)))
            .collect();
        disc_folders.sort_by_key(|f| (disc_number(&file_name(f)), f.clone()));
        Ok(Self {
            covers: files
                .iter()
                .filter(|f| cover_name_rank(f).is_some())
                .cloned()
                .collect(),
            tracks: files.into_iter().filter(|f| is_track(f)).collect(),
            art_covers,
            disc_folders,
        })
    }

    /// The best cover name in the folder, else in its art folders.
    fn best_cover(&self) -> Option<PathBuf> {
        best_named(&self.covers).or_else(|| best_named(&self.art_covers))
    }
}

fn best_named(files: &[PathBuf]) -> Option<PathBuf> {
    files
        .iter()
        .filter_map(|f| cover_name_rank(f).map(|rank| (rank, f)))
        .min_by_key(|(rank, _)| *rank)
        .map(|(_, f)| f.clone())
}

/// The files and the non-hidden folders directly in `folder`, each sorted (links followed).
fn list(folder: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>), Failure> {
    let entries =
        std::fs::read_dir(folder).map_err(|e| Failure::new(folder, format!("cannot read: {e}")))?;
    let (mut files, mut folders) = (Vec::new(), Vec::new());
    for path in entries.filter_map(|e| e.ok()).map(|e| e.path()) {
        if path.is_file() {
            files.push(path);
        } else if path.is_dir() && !is_hidden(&path) {
            folders.push(path);
        }
    }
    files.sort();
    folders.sort();
    Ok((files, folders))
}

/// An album's track: an audio file, not hidden (so never one of our temporary copies).
fn is_track(path: &Path) -> bool {
    is_audio_path(path) && !is_hidden(path)
}

/// How likely a file name is to be the album's front cover; lower is better, `None` is not a
/// cover name. Windows Media Player's `AlbumArt_{GUID}_Large.jpg` beats its `_Small` twin.
pub fn cover_name_rank(path: &Path) -> Option<u8> {
    if !is_image_file_name(path) || is_hidden(path) {
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

/// Names of the folders an album keeps its pictures in (compared ignoring case).
pub const ART_FOLDERS: [&str; 6] = ["artwork", "artworks", "art", "covers", "scans", "scan"];

/// Whether a folder name is one of [`ART_FOLDERS`].
pub fn is_art_folder(name: &str) -> bool {
    ART_FOLDERS.iter().any(|a| name.eq_ignore_ascii_case(a))
}

/// Whether a folder name is a disc of a multi-disc album: `CD`, `Disc` or `Disk`, then an
/// optional space, dot, dash or underscore, then the disc number, then nothing or a separated
/// title (`Disc 1 - The Early Years`, `CD2 (Bonus)`).
pub fn is_disc_folder(name: &str) -> bool {
    disc_number(name).is_some()
}

/// The disc number of a disc folder's name (see [`is_disc_folder`]).
fn disc_number(name: &str) -> Option<u32> {
    let lower = name.to_ascii_lowercase();
    let rest = ["disc", "disk", "cd"]
        .iter()
        .find_map(|word| lower.strip_prefix(word))?;
    let rest = rest.trim_start_matches([' ', '.', '-', '_']);
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (number, after) = rest.split_at(digits);
    let separated = after.is_empty() || after.starts_with([' ', '-', '_', '.', '(', '[']);
    if digits == 0 || !separated {
        return None;
    }
    number.parse().ok()
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
    fn disc_folders_are_recognised_in_the_usual_spellings() {
        for name in [
            "CD1",
            "cd 2",
            "Disc 1",
            "DISC3",
            "Disk2",
            "disk_04",
            "Disc 1 - The Early Years",
            "CD2 (Bonus)",
            "cd.3",
        ] {
            assert!(is_disc_folder(name), "{name}");
        }
        for name in [
            "CD",
            "Discography",
            "Disco Hits",
            "CD1X",
            "Cdr 1",
            "Scans",
            "2 CD",
        ] {
            assert!(!is_disc_folder(name), "{name}");
        }
        assert_eq!(disc_number("Disc 10"), Some(10));
    }

    #[test]
    fn art_folders_are_recognised_ignoring_case() {
        assert!(is_art_folder("Artwork"));
        assert!(is_art_folder("SCANS"));
        assert!(is_art_folder("covers"));
        assert!(!is_art_folder("Bonus"));
    }
}
