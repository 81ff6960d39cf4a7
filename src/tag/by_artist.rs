//! One decision per artist in the terminal review (`--interactive`, with the artist context
//! on): albums are asked artist by artist; after an answer that tags an album, when the
//! same artist has other albums still to be asked, one more question follows (`Same for the
//! 3 other albums of Miles Quartet? [y/N]`), and `y` writes the same genres to each of them
//! (each through the same journal and writer, none asked again). Only albums without a genre
//! count: the artist's albums that already have one are still asked one by one, so one
//! answer never overwrites the owner's own genres. Every decision also counts
//! at once among the artist's albums: the proposals of the albums still to come are made
//! anew.
//!
//! [`super::interactive`] asks (and calls this module); this module knows the artists and
//! depends only on what the review works with ([`super::console`]).

use super::artists::{genre_named, Proposals};
use super::console::{Album, Console};
use super::plan::PlanOptions;
use crate::audio::fields::Values;
use crate::report::classify::Record;
use std::collections::{HashMap, VecDeque};

/// The artist side of a review.
pub struct ArtistReview<'a> {
    pub proposals: Proposals,
    /// Each album's record (the cover's, or the combined one), by context index.
    pub records: Vec<Option<Record>>,
    pub options: PlanOptions<'a>,
    pub threshold: f32,
    /// The top genres a plan keeps.
    pub top_k: usize,
}

/// The owner's answer for an artist's other albums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SameForArtist {
    pub key: String,
    pub genres: Values,
}

impl ArtistReview<'_> {
    /// The folded artist of a review album (`None`: no artist).
    pub fn key(&self, album: &Album) -> Option<String> {
        let index = album.context?;
        let artist = self.proposals.context.album(index).artist.as_ref()?;
        Some(artist.key.clone())
    }

    /// The artist's name as album `album` spells it.
    pub fn name(&self, album: &Album) -> Option<String> {
        let index = album.context?;
        let artist = self.proposals.context.album(index).artist.as_ref()?;
        Some(artist.name.clone())
    }

    /// The album at context index `decided` was given `genres`: its artist's context counts
    /// the first of them, and the albums of the same artist in `queue` get their proposals
    /// anew.
    pub fn decided(
        &mut self,
        decided: Option<usize>,
        genres: &Values,
        queue: &mut VecDeque<Album>,
    ) {
        let (Some(index), Some(first)) = (decided, genres.first()) else {
            return;
        };
        let Some(key) = self
            .proposals
            .context
            .album(index)
            .artist
            .as_ref()
            .map(|a| a.key.clone())
        else {
            return;
        };
        let genre = genre_named(first, self.options.genres);
        self.proposals.context.decided(index, genre);
        for album in queue.iter_mut() {
            if self.key(album).as_deref() != Some(key.as_str()) {
                continue;
            }
            let Some(other) = album.context else {
                continue;
            };
            let record = &mut self.records[other];
            let options = &self.options;
            self.proposals
                .repropose(other, &mut album.plan, record, options, self.threshold);
            album.plan.top.truncate(self.top_k);
        }
    }
}

/// What the owner answered about an artist's other albums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowUp {
    /// `y`: the same genres for each of them.
    Same(SameForArtist),
    /// `N` (or Enter): each is asked as before.
    EachAlone,
    /// The end of input: the review stops.
    Abort,
}

impl ArtistReview<'_> {
    /// After `genres` were written to an album of the artist `key`: when `queue` holds more
    /// of its albums that `still_to_ask`, asks whether they get the same.
    pub fn follow_up(
        &self,
        key: &str,
        genres: Values,
        queue: &VecDeque<Album>,
        still_to_ask: impl Fn(&Album) -> bool,
        console: &mut dyn Console,
    ) -> anyhow::Result<FollowUp> {
        let others: Vec<&Album> = queue
            .iter()
            .filter(|a| self.key(a).as_deref() == Some(key) && still_to_ask(a))
            .collect();
        let Some(name) = others.first().and_then(|a| self.name(a)) else {
            return Ok(FollowUp::EachAlone);
        };
        let answer = console.ask(&same_question(others.len(), &name))?;
        Ok(match answer {
            None => FollowUp::Abort,
            Some(line) if is_yes(&line) => FollowUp::Same(SameForArtist {
                key: key.to_string(),
                genres,
            }),
            Some(_) => FollowUp::EachAlone,
        })
    }
}

/// The question after an answer that tags an album of `artist` with `others` more to ask.
pub fn same_question(others: usize, artist: &str) -> String {
    let albums = if others == 1 { "album" } else { "albums" };
    format!("Same for the {others} other {albums} of {artist}? [y/N] ")
}

/// Whether a typed line answers yes (`y`, `yes`, case aside; anything else is no).
pub fn is_yes(line: &str) -> bool {
    matches!(line.trim().to_lowercase().as_str(), "y" | "yes")
}

/// `albums` ordered artist by artist: each artist's albums together, where its first album
/// was; albums without an artist stay where they are among the groups. The order within a
/// group is the plan's.
pub fn order(albums: &mut Vec<Album>, review: &ArtistReview<'_>) {
    let mut first_of: HashMap<String, usize> = HashMap::new();
    let ranks: Vec<usize> = albums
        .iter()
        .enumerate()
        .map(|(position, album)| match review.key(album) {
            Some(key) => *first_of.entry(key).or_insert(position),
            None => position,
        })
        .collect();
    let mut ranked: Vec<(usize, Album)> = ranks.into_iter().zip(albums.drain(..)).collect();
    ranked.sort_by_key(|(rank, _)| *rank);
    albums.extend(ranked.into_iter().map(|(_, album)| album));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_question_counts_albums_and_only_y_is_yes() {
        assert_eq!(
            same_question(3, "Miles Quartet"),
            "Same for the 3 other albums of Miles Quartet? [y/N] "
        );
        assert_eq!(
            same_question(1, "X"),
            "Same for the 1 other album of X? [y/N] "
        );
        for yes in ["y", " Y ", "yes"] {
            assert!(is_yes(yes), "{yes:?}");
        }
        for no in ["", "n", "N", "x", "yy"] {
            assert!(!is_yes(no), "{no:?}");
        }
    }
}
