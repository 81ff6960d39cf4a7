//! Albums as music libraries lay them out: which folders are albums, which file is an album's
//! cover and which files are its tracks. Classify's `--library`, tagging, the review page,
//! shards, album lists and training on a library all find albums here, so they agree on what
//! an album is.
//!
//! - **A folder holding audio files is an album** (or a disc of one), whatever its name:
//!   `Placebo/Covers/` and `Various/Scans/` with tracks in them are albums. Audio is any
//!   extension of [`crate::files::is_audio_path`]; tracks in formats covergenre cannot tag
//!   (`.wma`, `.dsf`) still make an album, and are listed apart ([`Album::untaggable`]).
//!   A folder without audio is an album when it holds an image with a cover name (a folder of
//!   covers), directly or in a disc folder.
//! - **Disc folders** (`CD1`, `CD 2`, `Disc 1`, `Disk2`, `Disc 1 - Title`, any case) belong to
//!   their parent: a multi-disc album is one album, whose tracks are every disc's. (A disc
//!   folder inside a disc folder is a folder like any other.)
//! - **Art folders** (`Artwork`, `Art`, `Covers`, `Scans`, any case) without audio files hold
//!   an album's pictures. They are never albums of their own, nor are hidden folders
//!   (`.Trash-1000`, sync tools' state) or anything under them; the library root always may
//!   be one.
//! - **The cover** is the best front cover ([`super::cover_names`]: cover names, then the
//!   album's name, then a folder's only image; never a back, booklet or disc image) of the
//!   album folder, else of its art folders, else of each disc folder and its art folders in
//!   disc order; an album without one takes the picture embedded in its tracks. Every front
//!   cover found is kept in that order ([`Album::covers`]), so a cover that cannot be decoded
//!   gives way to the next.
//! - A symlink that leads back to a folder above it is a loop: reported, not followed.

use super::cover_names::{front_covers, prefer_larger, AlbumNames, CoverRule};
use crate::failure::Failure;
use crate::files::{
    extension_of, file_name, is_audio_path, is_hidden, is_image_file_name, is_taggable_audio_path,
    walk,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One album of a music library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Album {
    pub folder: PathBuf,
    /// Every front cover found, best first (see the module docs): the first is the cover,
    /// the others are tried in turn when it cannot be decoded.
    pub covers: Vec<CoverFile>,
    /// The tracks covergenre can tag: the folder's own, then each disc's in disc order, each
    /// part sorted.
    pub tracks: Vec<PathBuf>,
    /// Audio files in formats covergenre cannot tag (`.wma`, `.dsf`), in the same order.
    pub untaggable: Vec<PathBuf>,
}

/// An image file that may be an album's front cover, and the step of the rule that found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverFile {
    pub path: PathBuf,
    pub rule: CoverRule,
}

impl Album {
    /// The cover file: the best of [`Album::covers`].
    pub fn cover_file(&self) -> Option<&Path> {
        self.covers.first().map(|c| c.path.as_path())
    }
}

/// An album's audio files as tagging sees them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlbumTracks {
    /// Tracks covergenre tags.
    pub taggable: Vec<PathBuf>,
    /// Audio files in formats it cannot tag.
    pub untaggable: Vec<PathBuf>,
}

/// Names the formats of audio files covergenre cannot tag:
/// `3 tracks in formats covergenre cannot tag: 2 .wma, 1 .dsf` (`None` for none).
pub fn untaggable_summary(files: &[PathBuf]) -> Option<String> {
    if files.is_empty() {
        return None;
    }
    let mut by_format: BTreeMap<String, usize> = BTreeMap::new();
    for file in files {
        *by_format.entry(extension_of(file)).or_default() += 1;
    }
    let mut formats: Vec<(String, usize)> = by_format.into_iter().collect();
    formats.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let listed: Vec<String> = formats.iter().map(|(f, n)| format!("{n} .{f}")).collect();
    let tracks = if files.len() == 1 { "track" } else { "tracks" };
    Some(format!(
        "{} {tracks} in formats covergenre cannot tag: {}",
        files.len(),
        listed.join(", ")
    ))
}

/// Every album under `root` (the root itself included), lazily, in path order. Folders that
/// cannot be read and symlink loops come out as failures in their place.
pub fn albums(root: &Path) -> Box<dyn Iterator<Item = Result<Album, Failure>> + Send> {
    let top = root.to_path_buf();
    // Every folder but hidden ones is walked, disc and art folders too, so an album inside
    // one is found.
    let walk = walk(root).filter_entry(|entry| entry.depth() == 0 || !is_hidden(entry.path()));
    Box::new(walk.filter_map(move |entry| match entry {
        Err(error) => Some(Err(walk_failure(&top, error))),
        Ok(entry) if entry.file_type().is_dir() => walked_album(entry.path(), entry.depth()),
        Ok(_) => None,
    }))
}

/// The album a walk finds at `folder`, `depth` levels under the root: none at a disc folder
/// (its parent's album holds it) or an art folder without audio.
fn walked_album(folder: &Path, depth: usize) -> Option<Result<Album, Failure>> {
    if depth > 0 && is_disc_of_parent(folder) {
        return None;
    }
    let role = if depth > 0 && is_art_folder(&file_name(folder)) {
        Role::ArtUnlessAudio
    } else {
        Role::Album
    };
    album_with_role(folder, role)
}

/// A walk error as a failure naming the path and the problem.
pub(crate) fn walk_failure(root: &Path, error: walkdir::Error) -> Failure {
    let path = error.path().unwrap_or(root).to_path_buf();
    let reason = match (error.loop_ancestor(), error.io_error()) {
        (Some(ancestor), _) => loop_reason(ancestor),
        (None, Some(io)) => format!("cannot read: {io}"),
        (None, None) => error.to_string(),
    };
    Failure::new(path, reason)
}

fn loop_reason(ancestor: &Path) -> String {
    format!("symlink loop back to {} (not followed)", ancestor.display())
}

/// The album in `folder`, `None` when the folder is not an album (an artist folder, an
/// empty one); a folder that cannot be read, or a link back to a folder above it, is a
/// failure saying so.
pub fn album_at(folder: &Path) -> Option<Result<Album, Failure>> {
    album_with_role(folder, Role::Album)
}

/// What a folder is taken for before looking inside.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Album,
    /// An art folder's name: an album only when it holds audio.
    ArtUnlessAudio,
}

fn album_with_role(folder: &Path, role: Role) -> Option<Result<Album, Failure>> {
    if let Some(ancestor) = loops_back(folder) {
        return Some(Err(Failure::new(folder, loop_reason(&ancestor))));
    }
    let content = match Content::of(folder) {
        Ok(content) => content,
        Err(failure) => return Some(Err(failure)),
    };
    let mut discs = Vec::new();
    if !is_disc_folder(&file_name(folder)) {
        for disc in &content.disc_folders {
            match Content::of(disc) {
                Ok(disc) => discs.push(disc),
                Err(failure) => return Some(Err(failure)),
            }
        }
    }
    let parts: Vec<&Content> = std::iter::once(&content).chain(&discs).collect();
    let tracks: Vec<PathBuf> = parts.iter().flat_map(|c| c.tracks.clone()).collect();
    let untaggable: Vec<PathBuf> = parts.iter().flat_map(|c| c.untaggable.clone()).collect();
    let has_audio = !tracks.is_empty() || !untaggable.is_empty();
    if role == Role::ArtUnlessAudio && !has_audio {
        return None;
    }
    let covers = covers_of(folder, &parts);
    // A cover name makes a folder an album even without audio (a folder of covers), but one
    // in an art folder alone does not: an artist folder may keep its photos in `Artwork/`,
    // and the album-name and only-image steps choose among an album's images, they do not
    // make one.
    let has_cover_name = parts.iter().any(|c| c.has_cover_name(folder));
    (has_audio || has_cover_name).then(|| {
        Ok(Album {
            folder: folder.to_path_buf(),
            covers,
            tracks,
            untaggable,
        })
    })
}

/// The ancestor `folder` leads back to, when it is a symlink to a folder above it (or to
/// itself).
fn loops_back(folder: &Path) -> Option<PathBuf> {
    let is_link = std::fs::symlink_metadata(folder).is_ok_and(|m| m.file_type().is_symlink());
    if !is_link {
        return None;
    }
    let target = std::fs::canonicalize(folder).ok()?;
    let parent = std::fs::canonicalize(folder.parent()?).ok()?;
    parent.starts_with(&target).then_some(target)
}

/// Every front cover of the album in `folder` whose parts (the folder, then its discs) are
/// `parts`, in the order of the module docs; among the images tied for the best, the largest
/// comes first.
fn covers_of(folder: &Path, parts: &[&Content]) -> Vec<CoverFile> {
    let names = AlbumNames::of(folder);
    let mut found: Vec<(PathBuf, CoverRule, u8)> = Vec::new();
    let mut tied = 0;
    for images in parts.iter().flat_map(|c| c.image_groups()) {
        let covers = front_covers(images, &names);
        if found.is_empty() {
            tied = covers
                .iter()
                .take_while(|c| (c.1, c.2) == (covers[0].1, covers[0].2))
                .count();
        }
        found.extend(covers);
    }
    let mut paths: Vec<PathBuf> = found.iter().map(|c| c.0.clone()).collect();
    prefer_larger(&mut paths, tied);
    // The tied images share their rule, so reordering them keeps each rule in place.
    paths
        .into_iter()
        .zip(found)
        .map(|(path, (_, rule, _))| CoverFile { path, rule })
        .collect()
}

/// Every track of the album in `folder` (its disc folders' included), as tagging writes
/// them; a folder that is not an album has none.
pub fn album_tracks(folder: &Path) -> Result<AlbumTracks, Failure> {
    match album_at(folder) {
        Some(Ok(album)) => Ok(AlbumTracks {
            taggable: album.tracks,
            untaggable: album.untaggable,
        }),
        Some(Err(failure)) => Err(failure),
        None => Ok(AlbumTracks::default()),
    }
}

/// What one folder holds directly, sorted: its tracks, other audio, images, and its art
/// folders (with their images) and disc folders.
struct Content {
    tracks: Vec<PathBuf>,
    untaggable: Vec<PathBuf>,
    images: Vec<PathBuf>,
    /// Art folders without audio, each with its images.
    art: Vec<Vec<PathBuf>>,
    disc_folders: Vec<PathBuf>,
}

impl Content {
    fn of(folder: &Path) -> Result<Self, Failure> {
        let (files, folders) = list(folder)?;
        let mut art = Vec::new();
        for art_folder in folders.iter().filter(|f| is_art_folder(&file_name(f))) {
            // An unreadable art folder only costs its pictures; one holding audio is an
            // album of its own.
            if let Ok((pictures, inner)) = list(art_folder) {
                if !holds_audio(&pictures, &inner) {
                    art.push(pictures.into_iter().filter(|p| is_image(p)).collect());
                }
            }
        }
        // A disc folder that links back to this one would count its tracks twice.
        let mut disc_folders: Vec<PathBuf> = folders
            .into_iter()
            .filter(|f| is_disc_folder(&file_name(f)) && loops_back(f).is_none())
            .collect();
        disc_folders.sort_by_key(|f| (disc_number(&file_name(f)), f.clone()));
        let (mut tracks, mut untaggable, mut images) = (Vec::new(), Vec::new(), Vec::new());
        for file in files.into_iter().filter(|f| !is_hidden(f)) {
            if is_taggable_audio_path(&file) {
                tracks.push(file);
            } else if is_audio_path(&file) {
                untaggable.push(file);
            } else if is_image_file_name(&file) {
                images.push(file);
            }
        }
        Ok(Self {
            tracks,
            untaggable,
            images,
            art,
            disc_folders,
        })
    }

    /// The folder's images, then each art folder's: where covers are looked for, in order.
    fn image_groups(&self) -> impl Iterator<Item = &[PathBuf]> {
        std::iter::once(self.images.as_slice()).chain(self.art.iter().map(Vec::as_slice))
    }

    /// Whether the folder itself holds an image with a cover name (for the album `album`).
    fn has_cover_name(&self, album: &Path) -> bool {
        let names = AlbumNames::of(album);
        front_covers(&self.images, &names)
            .iter()
            .any(|c| c.1 == CoverRule::CoverName)
    }
}

/// Whether a folder listed as `files` and `folders` holds audio, directly or in a disc folder.
fn holds_audio(files: &[PathBuf], folders: &[PathBuf]) -> bool {
    let audio = |files: &[PathBuf]| files.iter().any(|f| is_audio_path(f) && !is_hidden(f));
    audio(files)
        || folders
            .iter()
            .filter(|f| is_disc_folder(&file_name(f)))
            .any(|disc| list(disc).is_ok_and(|(files, _)| audio(&files)))
}

fn is_image(path: &Path) -> bool {
    is_image_file_name(path) && !is_hidden(path)
}

/// The files and the non-hidden folders directly in `folder`, each sorted (links followed;
/// only links cost a second look, so a folder of thousands of files is listed in one pass).
fn list(folder: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>), Failure> {
    let entries =
        std::fs::read_dir(folder).map_err(|e| Failure::new(folder, format!("cannot read: {e}")))?;
    let (mut files, mut folders) = (Vec::new(), Vec::new());
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        let Ok(mut kind) = entry.file_type() else {
            continue;
        };
        if kind.is_symlink() {
            match std::fs::metadata(&path) {
                Ok(meta) => kind = meta.file_type(),
                Err(_) => continue,
            }
        }
        if kind.is_file() {
            files.push(path);
        } else if kind.is_dir() && !is_hidden(&path) {
            folders.push(path);
        }
    }
    files.sort();
    folders.sort();
    Ok((files, folders))
}

/// Whether `folder` is a disc of its parent's album: a disc folder's name, in a folder that
/// is not a disc folder itself.
fn is_disc_of_parent(folder: &Path) -> bool {
    is_disc_folder(&file_name(folder))
        && !folder
            .parent()
            .is_some_and(|parent| is_disc_folder(&file_name(parent)))
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
