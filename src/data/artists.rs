//! Who an album's artist is, as the library says it. Tagging's artist context
//! ([`crate::artist_context`]) groups albums by it.
//!
//! An album's artist is, in this order:
//! 1. its tracks' album-artist tag (ID3 `TPE2`, Vorbis `ALBUMARTIST`, MP4 `aART`); tracks that
//!    name different album artists give the most common one, and the album says so;
//! 2. else the artist tag (`TPE1`, `ARTIST`, `©ART`) that more than half of its tracks share;
//! 3. else, in an `Artist/Album` layout, the album folder's parent, when that is not a library
//!    root.
//!
//! Compilations have no artist here: most tracks flagged as one (`TCMP`, `COMPILATION`,
//! `cpil`), an artist named `Various Artists` (or `Various`, `VA`), or tracks naming different
//! artists with none shared by more than half. Blank names are no names. Names are compared
//! folded ([`fold`]): case, spaces and punctuation aside, `&` read as `and`, and a leading
//! `The ` (or a trailing `, The`) dropped, so "The Beatles", "beatles" and "Beatles, The" are
//! one artist.
//!
//! Only tags are read (never the audio); a track whose tags cannot be read does not count.

use crate::audio::fields::{self, Credits};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where an album's artist name came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArtistSource {
    /// The tracks' album-artist tag.
    AlbumArtist,
    /// The artist tag most tracks share.
    Artist,
    /// The album folder's parent (`Artist/Album`).
    Folder,
}

impl ArtistSource {
    /// How plans name the source.
    pub fn name(self) -> &'static str {
        match self {
            Self::AlbumArtist => "album-artist tag",
            Self::Artist => "artist tag",
            Self::Folder => "folder",
        }
    }
}

/// An album's artist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlbumArtist {
    /// As most of its tracks (or the folder) spell it.
    pub name: String,
    /// The folded name albums are grouped by ([`fold`]).
    #[serde(skip)]
    pub key: String,
    pub source: ArtistSource,
    /// Something the owner may want to know (tracks naming different album artists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Who an album credits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credited {
    Artist(AlbumArtist),
    /// A compilation (the reason says how it was told): no artist.
    Compilation(String),
    /// Neither the tags nor the folder name one.
    Unknown,
}

impl Credited {
    /// The artist, when there is one.
    pub fn artist(&self) -> Option<&AlbumArtist> {
        match self {
            Self::Artist(artist) => Some(artist),
            _ => None,
        }
    }
}

/// The artist of the album in `folder` whose tracks are `tracks`; `roots` are the library
/// roots (a root is never an artist folder). See the module docs.
pub fn album_artist(folder: &Path, tracks: &[PathBuf], roots: &[PathBuf]) -> Credited {
    let credits: Vec<Credits> = tracks
        .iter()
        .filter_map(|track| fields::read_credits(track).ok())
        .collect();
    from_credits(&credits).unwrap_or_else(|| from_folder(folder, roots))
}

/// The artist the tracks' `credits` name, `None` when they name none.
pub fn from_credits(credits: &[Credits]) -> Option<Credited> {
    let flagged = credits.iter().filter(|c| c.compilation).count();
    if flagged * 2 > credits.len() {
        return Some(Credited::Compilation(format!(
            "{flagged} of its {} tracks are flagged as a compilation",
            credits.len()
        )));
    }
    let album_artists = Names::count(credits.iter().filter_map(|c| c.album_artist.as_deref()));
    if let Some(top) = album_artists.top() {
        let note = (album_artists.len() > 1).then(|| {
            format!(
                "its tracks name {} album artists: {}; {} is used",
                album_artists.len(),
                album_artists.listing(),
                top.spelling()
            )
        });
        return Some(named(top, ArtistSource::AlbumArtist, note));
    }
    let artists = Names::count(credits.iter().filter_map(|c| c.artist.as_deref()));
    let top = artists.top()?;
    if top.tracks * 2 > credits.len() {
        return Some(named(top, ArtistSource::Artist, None));
    }
    Some(Credited::Compilation(format!(
        "its tracks name {} artists, none on more than half of them",
        artists.len()
    )))
}

/// The artist an `Artist/Album` layout names: the album folder's parent, unless the album or
/// its parent is a library root.
pub fn from_folder(folder: &Path, roots: &[PathBuf]) -> Credited {
    let is_root = |path: &Path| roots.iter().any(|root| root == path);
    let Some(parent) = folder.parent().filter(|_| !is_root(folder)) else {
        return Credited::Unknown;
    };
    if is_root(parent) || roots.iter().all(|root| !parent.starts_with(root)) {
        return Credited::Unknown;
    }
    let name = crate::files::file_name(parent);
    match Names::count([name.as_str()]).top() {
        Some(top) => named(top, ArtistSource::Folder, None),
        None => Credited::Unknown,
    }
}

fn named(name: &Name, source: ArtistSource, note: Option<String>) -> Credited {
    if VARIOUS.contains(&name.key.as_str()) {
        return Credited::Compilation(format!("its artist is \"{}\"", name.spelling()));
    }
    Credited::Artist(AlbumArtist {
        name: name.spelling(),
        key: name.key.clone(),
        source,
        note,
    })
}

/// Folded names that mean a compilation.
const VARIOUS: [&str; 5] = [
    "variousartists",
    "various",
    "va",
    "variousartist",
    "variosartistas",
];

/// An artist name as names are compared: without a leading `The ` or a trailing `, The`, then
/// folded like genres ([`crate::genres::normalise`]). Empty for a blank name.
pub fn fold(name: &str) -> String {
    let trimmed = name.trim();
    let lower = trimmed.to_lowercase();
    let without_the = lower
        .strip_prefix("the ")
        .or_else(|| lower.strip_suffix(", the"))
        .unwrap_or(&lower);
    let folded = crate::genres::normalise(without_the);
    if folded.is_empty() {
        // "The" alone is a name too.
        crate::genres::normalise(trimmed)
    } else {
        folded
    }
}

/// One folded name, with its spellings and the tracks that carry it.
struct Name {
    key: String,
    tracks: usize,
    /// The track index it first appears at (ties go to the earliest).
    first: usize,
    spellings: BTreeMap<String, usize>,
}

impl Name {
    /// The most common spelling (ties: the first in sort order).
    fn spelling(&self) -> String {
        let mut best: Option<(&String, usize)> = None;
        for (spelling, &n) in &self.spellings {
            if best.is_none_or(|(_, m)| n > m) {
                best = Some((spelling, n));
            }
        }
        best.map(|(s, _)| s.clone()).unwrap_or_default()
    }
}

/// The names a set of tracks carry, most common first.
struct Names(Vec<Name>);

impl Names {
    fn count<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut by_key: BTreeMap<String, Name> = BTreeMap::new();
        for (index, value) in values.into_iter().enumerate() {
            let key = fold(value);
            if key.is_empty() {
                continue;
            }
            let name = by_key.entry(key.clone()).or_insert(Name {
                key,
                tracks: 0,
                first: index,
                spellings: BTreeMap::new(),
            });
            name.tracks += 1;
            *name.spellings.entry(value.trim().to_string()).or_default() += 1;
        }
        let mut names: Vec<Name> = by_key.into_values().collect();
        names.sort_by(|a, b| b.tracks.cmp(&a.tracks).then(a.first.cmp(&b.first)));
        Self(names)
    }

    fn top(&self) -> Option<&Name> {
        self.0.first()
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    /// `A (8 tracks), B (2 tracks)`, the first five.
    fn listing(&self) -> String {
        let mut listed: Vec<String> = self
            .0
            .iter()
            .take(5)
            .map(|n| format!("{} ({} tracks)", n.spelling(), n.tracks))
            .collect();
        if self.0.len() > 5 {
            listed.push(format!("{} more", self.0.len() - 5));
        }
        listed.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credits(album_artist: Option<&str>, artist: Option<&str>) -> Credits {
        Credits {
            album_artist: album_artist.map(String::from),
            artist: artist.map(String::from),
            compilation: false,
        }
    }

    fn artist(credited: Option<Credited>) -> (String, ArtistSource) {
        match credited {
            Some(Credited::Artist(a)) => (a.name, a.source),
            other => panic!("expected an artist, got {other:?}"),
        }
    }

    #[test]
    fn names_fold_case_spaces_punctuation_and_the() {
        assert_eq!(fold("The Beatles"), "beatles");
        assert_eq!(fold("beatles"), "beatles");
        assert_eq!(fold("Beatles, The"), "beatles");
        assert_eq!(fold("  AC/DC "), fold("ac-dc"));
        assert_eq!(fold("Simon & Garfunkel"), fold("simon and garfunkel"));
        assert_eq!(fold("The The"), "the");
        assert_eq!(fold("The"), "the");
        assert_eq!(fold("   "), "");
    }

    #[test]
    fn the_album_artist_tag_comes_first_and_the_most_common_wins() {
        let tracks = [
            credits(Some("Miles Quartet"), Some("Miles")),
            credits(Some("miles quartet"), Some("Guest")),
            credits(Some("Miles Quartet"), Some("Guest")),
        ];
        assert_eq!(
            artist(from_credits(&tracks)),
            ("Miles Quartet".into(), ArtistSource::AlbumArtist)
        );
        let conflicting = [
            credits(Some("Miles Quartet"), None),
            credits(Some("Miles Quartet"), None),
            credits(Some("Other Band"), None),
        ];
        let Some(Credited::Artist(found)) = from_credits(&conflicting) else {
            panic!("an artist");
        };
        assert_eq!(found.name, "Miles Quartet");
        let note = found.note.expect("the plan says the album artists differ");
        assert!(note.contains("2 album artists"), "{note}");
        assert!(note.contains("Other Band (1 tracks)"), "{note}");
    }

    #[test]
    fn without_album_artists_the_artist_most_tracks_share_is_used() {
        let tracks = [
            credits(None, Some("Nina")),
            credits(Some("  "), Some("Nina")),
            credits(None, Some("Nina feat. Guest")),
        ];
        assert_eq!(
            artist(from_credits(&tracks)),
            ("Nina".into(), ArtistSource::Artist)
        );
        let split = [credits(None, Some("A")), credits(None, Some("B"))];
        assert!(matches!(
            from_credits(&split),
            Some(Credited::Compilation(_))
        ));
        let blank = [credits(Some(""), Some(" ")), credits(None, None)];
        assert_eq!(from_credits(&blank), None, "blank names are no names");
    }

    #[test]
    fn compilations_have_no_artist() {
        let mut flagged = credits(Some("Someone"), Some("Someone"));
        flagged.compilation = true;
        assert!(matches!(
            from_credits(&[flagged.clone(), flagged]),
            Some(Credited::Compilation(_))
        ));
        let various = [credits(Some("Various Artists"), Some("A"))];
        assert!(matches!(
            from_credits(&various),
            Some(Credited::Compilation(_))
        ));
        let root = PathBuf::from("/music");
        assert!(matches!(
            from_folder(Path::new("/music/VA/Hits"), std::slice::from_ref(&root)),
            Credited::Compilation(_)
        ));
    }

    #[test]
    fn the_folder_parent_names_the_artist_unless_it_is_a_root() {
        let roots = [PathBuf::from("/music")];
        let (name, source) = match from_folder(Path::new("/music/Nina Simone/Pastel"), &roots) {
            Credited::Artist(a) => (a.name, a.source),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            (name.as_str(), source),
            ("Nina Simone", ArtistSource::Folder)
        );
        assert_eq!(
            from_folder(Path::new("/music/Loose Album"), &roots),
            Credited::Unknown
        );
        assert_eq!(from_folder(Path::new("/music"), &roots), Credited::Unknown);
        // An album folder given on the command line is a root of its own.
        let listed = [PathBuf::from("/music/Nina Simone/Pastel")];
        assert_eq!(
            from_folder(Path::new("/music/Nina Simone/Pastel"), &listed),
            Credited::Unknown
        );
    }
}
