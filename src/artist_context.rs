//! The artist context: what an album's artist's other albums say about its genre, and how much
//! that weighs in this library. Tagging asks it ([`crate::tag::artists`]); the plan, the JSON
//! plan, the terminal review and the review page only show what it said.
//!
//! - **Agreement** ([`Agreement::measure`]): among the tagged albums of artists with at least
//!   [`MIN_TAGGED`] tagged albums, leave one out: how often an album's genre is the most common
//!   genre of its artist's other tagged albums (a tie for the most common counts as the share
//!   of it the album's genre holds). **Chance** is the same measure with the genres shuffled
//!   among those albums (the artists' sizes kept; [`SHUFFLES`] seeded shuffles, so a run is
//!   repeatable).
//! - **Weight**: how far above chance the library's artists keep their genre, as a share of
//!   the room above chance (`(agreement - chance) / (1 - chance)`, never below 0), shrunk for
//!   a library with few such albums (`x m / (m + 2)`, `m` the albums measured). A library
//!   whose artists do not keep their genre gives the artist no weight at all.
//! - **Combination** ([`combine`]): the artist's genres are a prior from the counts of its other
//!   tagged albums, `lambda n_g / N + (1 - lambda) / K` with `lambda = weight N / (N + 1)` (fewer
//!   albums, less sure), `K` the model's genres; the cover's calibrated probabilities are
//!   multiplied by it divided by the uniform prior `1 / K` the cover model's are taken to
//!   assume, and normalised. At weight 0 the cover's probabilities come back unchanged.
//!   Counts of genres the model does not know count in `N`, so an artist the owner tags with
//!   such a genre weighs less on the model's genres.
//! - **Check** ([`ArtistContext::check`]): every tagged album with a cover and a genre the
//!   model knows is left out in turn and proposed from its cover alone and with its artist's
//!   other albums; both first-genre accuracies are reported.

use crate::data::artists::AlbumArtist;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Artists need this many tagged albums for the agreement to be measured on them.
pub const MIN_TAGGED: usize = 2;
/// Shuffles of the genres the chance agreement is averaged over.
pub const SHUFFLES: usize = 20;
/// Albums at chance the measured agreement is shrunk with (see the module docs).
const PRIOR_ALBUMS: f64 = 2.0;

/// How much this library's artists keep their genre, and the weight that follows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Agreement {
    /// Artists with at least [`MIN_TAGGED`] tagged albums.
    pub artists: usize,
    /// Their tagged albums: what the agreement is measured on.
    pub albums: usize,
    /// How often an album shares its artist's genre (0 to 1).
    pub agreement: f64,
    /// The same with the genres shuffled among those albums.
    pub chance: f64,
    /// The weight the artist gets (0 to 1).
    pub weight: f64,
}

impl Agreement {
    /// Measures the agreement of `tagged` albums, each `(artist key, genre key)`.
    pub fn measure(tagged: &[(&str, &str)]) -> Self {
        let mut genre_ids: HashMap<&str, usize> = HashMap::new();
        let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for &(artist, genre) in tagged {
            let next = genre_ids.len();
            let id = *genre_ids.entry(genre).or_insert(next);
            groups.entry(artist).or_default().push(id);
        }
        let groups: Vec<Vec<usize>> = groups
            .into_values()
            .filter(|albums| albums.len() >= MIN_TAGGED)
            .collect();
        let albums: usize = groups.iter().map(Vec::len).sum();
        if albums == 0 {
            return Self::default();
        }
        let agreement = agreement_of(&groups);
        let chance = chance_of(&groups);
        let above = if chance < 1.0 {
            ((agreement - chance) / (1.0 - chance)).max(0.0)
        } else {
            0.0 // one genre in all: nothing to tell apart
        };
        let weight = above * albums as f64 / (albums as f64 + PRIOR_ALBUMS);
        Self {
            artists: groups.len(),
            albums,
            agreement,
            chance,
            weight,
        }
    }

    /// The plan's line: `artists: 412 with 2+ tagged albums; an album shares its artist's
    /// genre 87% of the time (chance 21%): artist weight 0.83`.
    pub fn line(&self) -> String {
        if self.albums == 0 {
            return format!(
                "artists: none with {MIN_TAGGED}+ tagged albums, so the artist weighs nothing"
            );
        }
        format!(
            "artists: {} with {MIN_TAGGED}+ tagged albums; an album shares its artist's genre {:.0}% of the time (chance {:.0}%): artist weight {:.2}",
            self.artists,
            100.0 * self.agreement,
            100.0 * self.chance,
            self.weight
        )
    }
}

/// The leave-one-out agreement of `groups` (each an artist's albums' genre ids).
fn agreement_of(groups: &[Vec<usize>]) -> f64 {
    let mut credit = 0.0;
    let mut albums = 0;
    for group in groups {
        let mut counts: HashMap<usize, usize> = HashMap::new();
        for &genre in group {
            *counts.entry(genre).or_default() += 1;
        }
        for &genre in group {
            credit += share_of_most_common(&counts, genre);
            albums += 1;
        }
    }
    credit / albums.max(1) as f64
}

/// Among the other albums (`counts` less one album of `genre`), the share of the most common
/// genres that `genre` holds: 1 when it alone is most common, 1/k in a tie of k, else 0.
fn share_of_most_common(counts: &HashMap<usize, usize>, genre: usize) -> f64 {
    let other = |g: usize, n: usize| if g == genre { n - 1 } else { n };
    let top = counts.iter().map(|(&g, &n)| other(g, n)).max().unwrap_or(0);
    let own = other(genre, counts[&genre]);
    if top == 0 || own < top {
        return 0.0;
    }
    let tied = counts.iter().filter(|(&g, &n)| other(g, n) == top).count();
    1.0 / tied as f64
}

/// The agreement with the genres shuffled among the albums, averaged over [`SHUFFLES`].
fn chance_of(groups: &[Vec<usize>]) -> f64 {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x6172_7469_7374);
    let mut genres: Vec<usize> = groups.iter().flatten().copied().collect();
    let mut total = 0.0;
    for _ in 0..SHUFFLES {
        genres.shuffle(&mut rng);
        let mut rest = genres.as_slice();
        let shuffled: Vec<Vec<usize>> = groups
            .iter()
            .map(|group| {
                let (mine, others) = rest.split_at(group.len());
                rest = others;
                mine.to_vec()
            })
            .collect();
        total += agreement_of(&shuffled);
    }
    total / SHUFFLES as f64
}

/// The cover's probabilities `cover` (one per model genre) combined with the counts of the
/// artist's other albums per model genre (`counts`, `total` albums in all, those of genres the
/// model does not know included) at `weight` (see the module docs). Sums to 1.
pub fn combine(cover: &[f32], counts: &[usize], total: usize, weight: f64) -> Vec<f32> {
    if total == 0 || weight <= 0.0 || cover.is_empty() {
        return cover.to_vec();
    }
    let n = total as f64;
    let classes = cover.len() as f64;
    let lambda = weight.min(1.0) * n / (n + 1.0);
    let combined: Vec<f64> = cover
        .iter()
        .zip(counts.iter().chain(std::iter::repeat(&0)))
        .map(|(&p, &count)| p as f64 * ((1.0 - lambda) + lambda * classes * count as f64 / n))
        .collect();
    let sum: f64 = combined.iter().sum();
    if sum <= 0.0 {
        return cover.to_vec();
    }
    combined.iter().map(|&p| (p / sum) as f32).collect()
}

/// A tagged album's genre, in the owner's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Genre {
    /// Folded ([`crate::genres::normalise`]): how genres are compared.
    pub key: String,
    /// As the album spells it.
    pub spelling: String,
    /// The model's genre it is, when the model has it.
    pub class: Option<usize>,
}

/// One album as the context sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextAlbum {
    pub artist: Option<AlbumArtist>,
    /// Its genre, when it is tagged.
    pub genre: Option<Genre>,
}

/// One genre among an artist's albums.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenreCount {
    pub genre: String,
    pub albums: usize,
}

/// The genres of an artist's other tagged albums.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArtistGenres {
    /// Tagged albums counted.
    pub albums: usize,
    /// Most albums first (ties in spelling order), each in its most common spelling.
    pub genres: Vec<GenreCount>,
    /// Albums per model genre.
    pub per_class: Vec<usize>,
}

/// What the context says about one album: its artist, the genres of the artist's other tagged
/// albums, the weight used, and the cover's own best genre before the combination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Said {
    pub name: String,
    /// The folded name albums are grouped by ([`crate::data::artists::fold`]).
    pub key: String,
    /// `album-artist`, `artist` or `folder`.
    pub source: crate::data::artists::ArtistSource,
    /// Something about the name (tracks naming different album artists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The artist's other albums with a genre, and their genres.
    pub albums: usize,
    pub genres: Vec<GenreCount>,
    /// The weight the artist was given for this album (0: the cover alone).
    pub weight: f64,
    /// The cover's best genre before the combination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cover: Option<CoverBest>,
}

/// The cover's own best genre, as it would be written, and its probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoverBest {
    pub value: String,
    pub probability: f32,
}

impl Said {
    /// `artist Miles Quartet: 3 albums, all Jazz` (or `5 albums: 3 Jazz, 2 Blues`, `no other
    /// album with a genre`).
    pub fn describe(&self) -> String {
        let genres = match self.genres.as_slice() {
            [] => "no other album with a genre".to_string(),
            [one] if self.albums > 1 => format!("{} albums, all {}", self.albums, one.genre),
            [one] => format!("1 album, {}", one.genre),
            several => {
                let mut listed: Vec<String> = several
                    .iter()
                    .take(4)
                    .map(|g| format!("{} {}", g.albums, g.genre))
                    .collect();
                if several.len() > 4 {
                    listed.push(format!("{} more genres", several.len() - 4));
                }
                format!("{} albums: {}", self.albums, listed.join(", "))
            }
        };
        let weight = if self.weight > 0.0 || self.albums == 0 {
            String::new()
        } else {
            " (weighs nothing in this library)".into()
        };
        format!("artist {}: {genres}{weight}", self.name)
    }
}

/// First-genre accuracy on the library's tagged albums, each left out in turn.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Check {
    /// Tagged albums with a cover and a genre the model knows.
    pub albums: usize,
    /// Of them, those whose artist has other tagged albums.
    pub with_artist: usize,
    /// First genre right from the cover alone, and with the artist.
    pub cover_right: usize,
    pub combined_right: usize,
}

impl Check {
    /// `leave-one-out on 830 tagged albums (412 with an artist's other albums): first genre
    /// right 54% from the cover alone, 78% with the artist`.
    pub fn line(&self) -> String {
        if self.albums == 0 {
            return "leave-one-out: no tagged album with a cover and a genre the model knows"
                .into();
        }
        let share = |n: usize| 100.0 * n as f64 / self.albums as f64;
        format!(
            "leave-one-out on {} tagged albums ({} with an artist's other albums): first genre right {:.1}% from the cover alone, {:.1}% with the artist",
            self.albums,
            self.with_artist,
            share(self.cover_right),
            share(self.combined_right)
        )
    }
}

/// The artist context of one run's albums.
#[derive(Debug, Clone)]
pub struct ArtistContext {
    albums: Vec<ContextAlbum>,
    /// Artist key -> its albums' indices.
    by_artist: HashMap<String, Vec<usize>>,
    pub agreement: Agreement,
    /// The model's genres.
    classes: usize,
}

impl ArtistContext {
    /// The context of `albums` for a model of `classes` genres: the agreement is measured here.
    pub fn new(albums: Vec<ContextAlbum>, classes: usize) -> Self {
        let mut by_artist: HashMap<String, Vec<usize>> = HashMap::new();
        for (index, album) in albums.iter().enumerate() {
            if let Some(artist) = &album.artist {
                by_artist.entry(artist.key.clone()).or_default().push(index);
            }
        }
        let tagged: Vec<(&str, &str)> = albums
            .iter()
            .filter_map(|a| {
                Some((
                    a.artist.as_ref()?.key.as_str(),
                    a.genre.as_ref()?.key.as_str(),
                ))
            })
            .collect();
        let agreement = Agreement::measure(&tagged);
        Self {
            albums,
            by_artist,
            agreement,
            classes,
        }
    }

    /// The album at `index`.
    pub fn album(&self, index: usize) -> &ContextAlbum {
        &self.albums[index]
    }

    /// The other albums of the artist of album `index` (none without an artist).
    pub fn same_artist(&self, index: usize) -> Vec<usize> {
        let Some(artist) = &self.albums[index].artist else {
            return Vec::new();
        };
        self.by_artist[&artist.key]
            .iter()
            .copied()
            .filter(|&i| i != index)
            .collect()
    }

    /// The genres of the tagged albums of `index`'s artist, `index` left out.
    pub fn others(&self, index: usize) -> ArtistGenres {
        let mut per_class = vec![0; self.classes];
        let mut by_key: BTreeMap<&str, (usize, BTreeMap<&str, usize>)> = BTreeMap::new();
        let mut albums = 0;
        for other in self.same_artist(index) {
            let Some(genre) = &self.albums[other].genre else {
                continue;
            };
            albums += 1;
            if let Some(class) = genre.class.filter(|&c| c < self.classes) {
                per_class[class] += 1;
            }
            let entry = by_key.entry(&genre.key).or_default();
            entry.0 += 1;
            *entry.1.entry(&genre.spelling).or_default() += 1;
        }
        let mut genres: Vec<GenreCount> = by_key
            .into_values()
            .map(|(albums, spellings)| GenreCount {
                genre: most_common(&spellings).to_string(),
                albums,
            })
            .collect();
        genres.sort_by(|a, b| b.albums.cmp(&a.albums).then(a.genre.cmp(&b.genre)));
        ArtistGenres {
            albums,
            genres,
            per_class,
        }
    }

    /// Records that album `index` now has `genre` (an owner's decision): the proposals of its
    /// artist's other albums count it from now on. The agreement stays as measured.
    pub fn decided(&mut self, index: usize, genre: Genre) {
        self.albums[index].genre = Some(genre);
    }

    /// What the context says about album `index` whose cover gave `cover` (one probability
    /// per model genre; `cover_best` its best genre): `None` without an artist;
    /// else the counts, the weight used and the combined probabilities.
    pub fn said(
        &self,
        index: usize,
        cover: &[f32],
        cover_best: Option<CoverBest>,
    ) -> Option<(Said, Vec<f32>)> {
        let artist = self.albums[index].artist.as_ref()?;
        let others = self.others(index);
        let weight = if others.albums > 0 {
            self.agreement.weight
        } else {
            0.0
        };
        let combined = combine(cover, &others.per_class, others.albums, weight);
        let said = Said {
            name: artist.name.clone(),
            key: artist.key.clone(),
            source: artist.source,
            note: artist.note.clone(),
            albums: others.albums,
            genres: others.genres,
            weight,
            cover: cover_best,
        };
        Some((said, combined))
    }

    /// First-genre accuracy of the tagged albums, each left out, from `covers` (per album its
    /// cover's probabilities, `None` without a cover) alone and with the artist.
    pub fn check(&self, covers: &[Option<Vec<f32>>]) -> Check {
        let mut check = Check::default();
        for (index, album) in self.albums.iter().enumerate() {
            let (Some(cover), Some(class)) = (
                covers.get(index).and_then(Option::as_ref),
                album.genre.as_ref().and_then(|g| g.class),
            ) else {
                continue;
            };
            check.albums += 1;
            check.cover_right += usize::from(best(cover) == Some(class));
            let others = self.others(index);
            if others.albums > 0 {
                check.with_artist += 1;
            }
            let combined = combine(
                cover,
                &others.per_class,
                others.albums,
                self.agreement.weight,
            );
            check.combined_right += usize::from(best(&combined) == Some(class));
        }
        check
    }
}

/// The index of the highest probability (the first of equals).
pub fn best(probabilities: &[f32]) -> Option<usize> {
    let mut top: Option<(usize, f32)> = None;
    for (i, &p) in probabilities.iter().enumerate() {
        if top.is_none_or(|(_, q)| p > q) {
            top = Some((i, p));
        }
    }
    top.map(|(i, _)| i)
}

fn most_common<'a>(spellings: &BTreeMap<&'a str, usize>) -> &'a str {
    let mut top: Option<(&str, usize)> = None;
    for (&spelling, &n) in spellings {
        if top.is_none_or(|(_, m)| n > m) {
            top = Some((spelling, n));
        }
    }
    top.map(|(s, _)| s).unwrap_or_default()
}

#[cfg(test)]
mod tests;
