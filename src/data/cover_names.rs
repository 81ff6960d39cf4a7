//! The front-cover rule: which images of one folder may be an album's front cover, best first,
//! judged by their names (and, between images the names cannot tell apart, by their size).
//!
//! 1. **A cover name**: the stem holds `cover`, `front`, `folder` or `albumart` as a word, any
//!    case (`00 - front.jpg`, `Sliver - Front.jpg`, `Cover (1).png`, Windows Media Player's
//!    `AlbumArt_{GUID}_Large.jpg`). Ties go to the earlier word in that list; `AlbumArt*`
//!    images rank `Large`, then plain, then `Small`.
//! 2. **The album's name**: the stem is the album folder's name, or `Artist - Album` (the folder
//!    above being the artist's), compared word by word (`Nevermind.jpg`,
//!    `nirvana_nevermind.png`).
//! 3. **The only image** of the folder.
//!
//! Never a front cover: an image whose name says `back`, `inside`, `inlay`, `tray`, `cd`,
//! `disc`/`disk`, `booklet`, `spine` or `matrix` (a number may follow: `CD1.jpg`,
//! `booklet-02.jpg`). The album's and artist's names are taken out of a stem before its words
//! are looked at, so an album called "Inside Out" may have `Inside Out.jpg` as its cover, and
//! "Cover Me - Booklet.jpg" is still a booklet page.
//!
//! Words are the stem's runs of letters and digits, so `_`, `-`, spaces and brackets all
//! separate them (as beets' fetchart matches its `cover_names`); a name that is not UTF-8 is
//! read lossily, so its readable words still count.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Which step chose an album's cover (shown by `--inspect` and the JSON outputs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CoverRule {
    /// The stem holds `cover`, `front`, `folder` or `albumart` as a word.
    CoverName,
    /// The image is named after the album folder, or `Artist - Album`.
    AlbumName,
    /// The folder's only image.
    OnlyImage,
    /// The picture embedded in the album's tracks.
    Embedded,
    /// The image an album list named (`--albums-from` with `FOLDER<TAB>COVER`).
    Listed,
}

impl CoverRule {
    /// How people and the JSON outputs name the rule.
    pub fn name(self) -> &'static str {
        match self {
            Self::CoverName => "cover-name",
            Self::AlbumName => "album-name",
            Self::OnlyImage => "only-image",
            Self::Embedded => "embedded",
            Self::Listed => "listed",
        }
    }
}

/// A cover candidate that could not be read or decoded, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassedOver {
    pub file: String,
    pub reason: String,
}

/// Words that make a cover name, in order of preference.
const COVER_WORDS: [&str; 4] = ["cover", "front", "folder", "albumart"];

/// Words that name every other picture of an album: never its front cover.
const NOT_FRONT_WORDS: [&str; 10] = [
    "back", "inside", "inlay", "tray", "cd", "disc", "disk", "booklet", "spine", "matrix",
];

/// The names an album goes by: its folder's and its artist's (the folder above), as words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlbumNames {
    album: Vec<String>,
    artist: Vec<String>,
}

impl AlbumNames {
    /// The names of the album in `folder`.
    pub fn of(folder: &Path) -> Self {
        let name = |p: Option<&Path>| {
            p.and_then(Path::file_name)
                .map(|n| words(&n.to_string_lossy()))
                .unwrap_or_default()
        };
        Self {
            album: name(Some(folder)),
            artist: name(folder.parent()),
        }
    }
}

/// The lower-case words of a name: its runs of letters and digits.
fn words(name: &str) -> Vec<String> {
    name.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect()
}

/// Where an image stands in the rule: its step, then its rank within the step (lower is
/// better); `None`: not a front cover. `only_image`: it is the folder's only image.
pub fn rank(image: &Path, names: &AlbumNames, only_image: bool) -> Option<(CoverRule, u8)> {
    let stem = words(&image.file_stem()?.to_string_lossy());
    let rest = without(&without(&stem, &names.album), &names.artist);
    if rest.iter().any(|w| is_not_front_word(w)) {
        return None;
    }
    if let Some(rank) = cover_word_rank(&rest) {
        return Some((CoverRule::CoverName, rank));
    }
    let artist_album: Vec<String> = names.artist.iter().chain(&names.album).cloned().collect();
    if !names.album.is_empty() && (stem == names.album || stem == artist_album) {
        return Some((CoverRule::AlbumName, 0));
    }
    only_image.then_some((CoverRule::OnlyImage, 0))
}

/// The best rank of the cover words among `words`: `cover`, `front`, `folder`, then Windows
/// Media Player's `AlbumArt_{GUID}_Large`, `AlbumArt`, `AlbumArtSmall`.
fn cover_word_rank(words: &[String]) -> Option<u8> {
    let has = |word: &str| words.iter().any(|w| w == word);
    if let Some(rank) = COVER_WORDS[..3].iter().position(|c| has(c)) {
        return Some(rank as u8);
    }
    let large = has("albumartlarge") || (has("albumart") && has("large"));
    let small = has("albumartsmall") || (has("albumart") && has("small"));
    match (large, small, has("albumart")) {
        (true, _, _) => Some(3),
        (false, true, _) => Some(5),
        (false, false, true) => Some(4),
        _ => None,
    }
}

/// A word that names a picture other than the front (`back`, `cd2`, `booklet01`).
fn is_not_front_word(word: &str) -> bool {
    let bare = word.trim_end_matches(|c: char| c.is_ascii_digit());
    NOT_FRONT_WORDS.contains(&bare)
}

/// `words` with the first run equal to `part` taken out (unchanged when `part` is empty or
/// absent).
fn without(words: &[String], part: &[String]) -> Vec<String> {
    if part.is_empty() || part.len() > words.len() {
        return words.to_vec();
    }
    match (0..=words.len() - part.len()).find(|&i| words[i..i + part.len()] == *part) {
        Some(i) => [&words[..i], &words[i + part.len()..]].concat(),
        None => words.to_vec(),
    }
}

/// The front covers among the `images` of one folder (image files, sorted), best first by
/// step, rank and name; ties for the best are not settled here (see [`prefer_larger`]).
pub fn front_covers(images: &[PathBuf], names: &AlbumNames) -> Vec<(PathBuf, CoverRule, u8)> {
    let only_image = images.len() == 1;
    let mut ranked: Vec<(PathBuf, CoverRule, u8)> = images
        .iter()
        .filter_map(|image| {
            rank(image, names, only_image).map(|(rule, r)| (image.clone(), rule, r))
        })
        .collect();
    ranked.sort_by(|a, b| (a.1, a.2, &a.0).cmp(&(b.1, b.2, &b.0)));
    ranked
}

/// Puts the largest of the first `tied` candidates first (then the next largest, ...), reading
/// only their headers; an image whose header cannot be read counts as the smallest. Only
/// candidates tied for the best are compared, so a folder of thousands of images costs
/// nothing here unless thousands of them tie.
pub fn prefer_larger(candidates: &mut [PathBuf], tied: usize) {
    let tied = tied.min(candidates.len());
    if tied < 2 {
        return;
    }
    let area =
        |path: &Path| image::image_dimensions(path).map_or(0, |(w, h)| u64::from(w) * u64::from(h));
    let mut sized: Vec<(u64, PathBuf)> = candidates[..tied]
        .iter()
        .map(|p| (area(p), p.clone()))
        .collect();
    // Largest first; equal sizes keep the name order.
    sized.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    for (slot, (_, path)) in candidates.iter_mut().zip(sized) {
        *slot = path;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(artist: &str, album: &str) -> AlbumNames {
        AlbumNames::of(&Path::new("/music").join(artist).join(album))
    }

    fn rank_of(name: &str) -> Option<(CoverRule, u8)> {
        rank(Path::new(name), &names("Nirvana", "Nevermind"), false)
    }

    #[test]
    fn cover_words_count_anywhere_in_the_stem_in_any_case() {
        for name in [
            "cover.jpg",
            "00 - front.jpg",
            "Sliver - Front.jpg",
            "Cover (1).png",
            "FOLDER.JPG",
            "AlbumArt_{1234-ABCD}_Large.jpg",
            "AlbumArtSmall.jpg",
            "front_cover.webp",
        ] {
            assert_eq!(
                rank_of(name).map(|r| r.0),
                Some(CoverRule::CoverName),
                "{name}"
            );
        }
        // Words, not parts of words (as fetchart matches them).
        for name in ["covers.jpg", "frontier.jpg", "discover.png", "photo.jpg"] {
            assert_eq!(rank_of(name), None, "{name}");
        }
    }

    #[test]
    fn ties_go_to_the_earlier_word_and_albumart_sizes_rank_large_plain_small() {
        let order = [
            "cover.jpg",
            "front.jpg",
            "folder.jpg",
            "AlbumArt_{X}_Large.jpg",
            "AlbumArt.jpg",
            "AlbumArtSmall.jpg",
        ];
        let ranks: Vec<u8> = order.iter().map(|n| rank_of(n).unwrap().1).collect();
        assert!(ranks.windows(2).all(|w| w[0] < w[1]), "{ranks:?}");
        assert_eq!(rank_of("Front Cover.jpg"), rank_of("cover.jpg"));
    }

    #[test]
    fn back_and_inside_names_are_never_the_front() {
        for name in [
            "back.jpg",
            "Back Cover.jpg",
            "Cover (Back).png",
            "inside.jpg",
            "inlay.png",
            "tray.jpg",
            "CD.jpg",
            "cd1.jpg",
            "Disc 2.jpg",
            "booklet-01.jpg",
            "booklet01.jpg",
            "spine.jpg",
            "matrix.jpg",
            "Nevermind - Back.jpg",
        ] {
            assert_eq!(rank_of(name), None, "{name}");
            assert_eq!(
                rank(Path::new(name), &names("A", "B"), true),
                None,
                "{name} alone"
            );
        }
    }

    #[test]
    fn images_named_after_the_album_come_after_cover_names() {
        assert_eq!(rank_of("Nevermind.jpg"), Some((CoverRule::AlbumName, 0)));
        assert_eq!(
            rank_of("Nirvana - Nevermind.png"),
            Some((CoverRule::AlbumName, 0))
        );
        assert_eq!(
            rank_of("nirvana_nevermind.png"),
            Some((CoverRule::AlbumName, 0))
        );
        assert_eq!(rank_of("Nevermind (Deluxe).jpg"), None);
        // The album's own words do not count as cover or back words.
        let inside_out = names("Artist", "Inside Out");
        assert_eq!(
            rank(Path::new("Inside Out.jpg"), &inside_out, false),
            Some((CoverRule::AlbumName, 0))
        );
        assert_eq!(
            rank(Path::new("Inside Out - Back.jpg"), &inside_out, false),
            None
        );
        let cover_me = names("Artist", "Cover Me");
        assert_eq!(rank(Path::new("Cover Me - 01.jpg"), &cover_me, false), None);
        assert_eq!(
            rank(Path::new("Cover Me - Front.jpg"), &cover_me, false),
            Some((CoverRule::CoverName, 1))
        );
    }

    #[test]
    fn the_only_image_counts_unless_it_is_a_back_name() {
        let n = names("A", "B");
        assert_eq!(
            rank(Path::new("scan.jpg"), &n, true),
            Some((CoverRule::OnlyImage, 0))
        );
        assert_eq!(rank(Path::new("scan.jpg"), &n, false), None);
        assert_eq!(rank(Path::new("back.jpg"), &n, true), None);
    }

    #[test]
    fn front_covers_are_ordered_by_step_then_rank_then_name() {
        let images: Vec<PathBuf> = [
            "back.jpg",
            "Nevermind.jpg",
            "folder.png",
            "cover.png",
            "cover.jpg",
        ]
        .iter()
        .map(|n| Path::new("/music/Nirvana/Nevermind").join(n))
        .collect();
        let found: Vec<String> =
            front_covers(&images, &AlbumNames::of(images[0].parent().unwrap()))
                .into_iter()
                .map(|(p, _, _)| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect();
        assert_eq!(
            found,
            ["cover.jpg", "cover.png", "folder.png", "Nevermind.jpg"]
        );
    }

    #[test]
    fn names_that_are_not_utf8_keep_their_readable_words() {
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let name = std::ffi::OsStr::from_bytes(b"Caf\xe9 - Front.jpg");
            assert_eq!(
                rank(Path::new(name), &names("A", "B"), false).map(|r| r.0),
                Some(CoverRule::CoverName)
            );
        }
    }

    #[test]
    fn the_larger_of_tied_images_goes_first_reading_only_headers() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("a-cover.png");
        let large = dir.path().join("b-cover.png");
        let broken = dir.path().join("c-cover.png");
        image::RgbImage::new(8, 8).save(&small).unwrap();
        image::RgbImage::new(32, 16).save(&large).unwrap();
        std::fs::write(&broken, b"not an image").unwrap();
        let mut candidates = vec![broken.clone(), small.clone(), large.clone()];
        prefer_larger(&mut candidates, 3);
        assert_eq!(candidates, [large.clone(), small.clone(), broken.clone()]);
        let mut untied = vec![small.clone(), large.clone()];
        prefer_larger(&mut untied, 1);
        assert_eq!(untied, [small, large]);
    }
}
