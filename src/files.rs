//! What a file is by its name (a cover image, an audio track, hidden), and the one walk that
//! follows links in a stable order. Datasets, covers, albums and tags all ask here, so the
//! rules are written once.

use std::path::Path;
use walkdir::WalkDir;

/// File extensions read as covers (compared case-insensitively).
pub const IMAGE_EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "webp", "gif", "bmp"];

/// Audio extensions of the formats covergenre reads pictures and genres from, matched
/// case-insensitively: MPEG audio, FLAC, the MP4 family, Ogg (Vorbis, Opus, Speex, FLAC),
/// AIFF, WAV, Monkey's Audio, WavPack and Musepack. It writes the genres of all but the last
/// five (`crate::audio::fields`).
pub const TAGGABLE_AUDIO_EXTENSIONS: [&str; 20] = [
    "mp3", "mp2", "flac", "m4a", "m4b", "m4p", "m4r", "mp4", "ogg", "oga", "opus", "spx", "aif",
    "aiff", "aifc", "wav", "wave", "ape", "wv", "mpc",
];

/// Audio extensions of formats covergenre meets in libraries (beets and mutagen read them)
/// but cannot tag: Windows Media (ASF), DSD (DSF, DSDIFF), raw AAC and AC-3, TAK, TrueAudio,
/// OptimFROG and Matroska audio. Their folders are albums all the same, and their tracks are
/// named in the plan as not taggable.
pub const UNTAGGABLE_AUDIO_EXTENSIONS: [&str; 11] = [
    "wma", "asf", "dsf", "dff", "aac", "ac3", "tak", "tta", "ofr", "ofs", "mka",
];

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

/// Whether a file name has an audio extension, of a format covergenre tags or not: a folder
/// holding one is an album (or a disc of one).
pub fn is_audio_path(path: &Path) -> bool {
    is_taggable_audio_path(path) || has_extension(path, &UNTAGGABLE_AUDIO_EXTENSIONS)
}

/// Whether a file name has the extension of a format covergenre tags (reads pictures and
/// genres from, writes genres to).
pub fn is_taggable_audio_path(path: &Path) -> bool {
    has_extension(path, &TAGGABLE_AUDIO_EXTENSIONS)
}

/// The lower-case extension of a file (`wma`), for naming formats; empty without one.
pub fn extension_of(path: &Path) -> String {
    path.extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default()
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

    #[test]
    fn audio_is_any_format_beets_knows_and_taggable_only_what_covergenre_writes() {
        for name in [
            "a.AIFF", "a.aif", "a.wav", "a.ape", "a.wv", "a.mpc", "a.m4b", "a.oga",
        ] {
            assert!(is_taggable_audio_path(Path::new(name)), "{name}");
            assert!(is_audio_path(Path::new(name)), "{name}");
        }
        for name in ["a.wma", "a.DSF", "a.dff"] {
            assert!(is_audio_path(Path::new(name)), "{name}");
            assert!(!is_taggable_audio_path(Path::new(name)), "{name}");
        }
        assert!(!is_audio_path(Path::new("a.cue")));
        assert!(!is_audio_path(Path::new("a.log")));
        assert_eq!(extension_of(Path::new("x/01.WMA")), "wma");
    }
}
