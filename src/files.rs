//! What a file is by its name (a cover image, an audio track, hidden), and the one walk that
//! follows links in a stable order. Datasets, covers, albums and tags all ask here, so the
//! rules are written once.

use std::path::Path;
use walkdir::WalkDir;

/// File extensions read as covers (compared case-insensitively).
pub const IMAGE_EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "webp", "gif", "bmp"];

/// Audio extensions whose tags covergenre reads (pictures, genres) and writes, matched
/// case-insensitively.
pub const AUDIO_EXTENSIONS: [&str; 6] = ["mp3", "flac", "m4a", "mp4", "ogg", "opus"];

/// True when the path's extension is one of `extensions`, ignoring case.
pub fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| extensions.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// Whether a file name has a cover image extension (case-insensitive).
pub fn is_image_file_name(path: &Path) -> bool {
    has_extension(path, &IMAGE_EXTENSIONS)
}

/// Whether a file name has an audio extension covergenre reads tags of.
pub fn is_audio_path(path: &Path) -> bool {
    has_extension(path, &AUDIO_EXTENSIONS)
}

/// Hidden entries (`.DS_Store`, macOS `._cover.jpg` resource forks, our own temporary
/// copies) are never covers or tracks.
pub fn is_hidden(path: &Path) -> bool {
    file_name(path).starts_with('.')
}

/// The last component of `path` as text (lossy), empty for `/` or `..`.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A walk that follows symlinks (so linked folders are searched) in a stable order; walkdir
/// detects symlink loops and reports them as errors.
pub fn walk(root: &Path) -> walkdir::IntoIter {
    WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_match_regardless_of_case() {
        assert!(is_image_file_name(Path::new("a/B.JpEg")));
        assert!(is_audio_path(Path::new("01 Song.FLAC")));
        assert!(!is_image_file_name(Path::new("notes.txt")));
        assert!(!is_image_file_name(Path::new("jpg")));
        assert!(is_hidden(Path::new("x/._cover.jpg")));
    }
}
