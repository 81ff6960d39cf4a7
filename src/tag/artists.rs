//! Proposals that use what the library says about each artist (on unless
//! `--no-artist-context`): the plan asks the artist context ([`crate::artist_context`]) about
//! every album, and where the artist's other albums weigh, the combined probabilities replace
//! the cover's (in the proposal, the threshold, `--max-genres` and the review page).
//!
//! - An album's artist: [`crate::data::artists`] (album-artist tag, the artist most tracks
//!   share, the `Artist/Album` folder; none for compilations).
//! - A tagged album's genre: its tracks' values in the field the run writes, the first value
//!   of each, the most common among the tracks (as a library's label is read), matched to the
//!   model's genres by slug or name, folded.

use super::plan::{self, AlbumPlan, PlanOptions};
use crate::artist_context::{Agreement, ArtistContext, Check, ContextAlbum, CoverBest, Genre};
use crate::artist_list::{combined_record, cover_probabilities};
use crate::data::artists::{album_artist, Credited};
use crate::data::vocabulary::first_value;
use crate::genres::GenreSet;
use crate::report::classify::Record;
use crate::report::html::{ArtistCard, ArtistRule};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What the artist context measured in a run: the plan's first lines and the JSON plan's
/// `artists` object.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ArtistSummary {
    pub agreement: Agreement,
    /// First-genre accuracy on the tagged albums, each left out, without and with the artist.
    pub check: Check,
    /// Albums with an artist, and compilations (no artist).
    pub albums_with_artist: usize,
    pub compilations: usize,
    /// Albums whose proposal the artist changed (another first genre).
    pub changed: usize,
}

impl ArtistSummary {
    /// The lines the text plan starts with.
    pub fn lines(&self) -> Vec<String> {
        vec![
            self.agreement.line(),
            self.check.line(),
            format!(
                "artist context: {} album(s) with an artist, {} compilation(s); the artist changed {} proposal(s) (--no-artist-context: the cover alone)",
                self.albums_with_artist, self.compilations, self.changed
            ),
        ]
    }
}

/// The run's artist context, kept for a review that goes on deciding.
pub struct Proposals {
    pub context: ArtistContext,
    /// Each album's cover probabilities in the model's genre order (`None`: not classified).
    pub covers: Vec<Option<Vec<f32>>>,
    pub summary: ArtistSummary,
}

/// Reads every album's artist, measures the context on the tagged albums, and re-plans each
/// album whose artist weighs: `records` (one per plan, `None` for albums not classified) hold
/// every genre's probability; the plans' and the records' top genres end cut to `top_k`.
pub fn propose(
    plans: &mut [AlbumPlan],
    records: &mut [Option<Record>],
    roots: &[PathBuf],
    options: &PlanOptions,
    threshold: f32,
    top_k: usize,
) -> Proposals {
    let genres = options.genres;
    let credited: Vec<Credited> = plans
        .par_iter()
        .map(|plan| album_artist(&plan.folder, &taggable_tracks(plan), roots))
        .collect();
    let mut summary = ArtistSummary {
        albums_with_artist: credited.iter().filter(|c| c.artist().is_some()).count(),
        compilations: credited
            .iter()
            .filter(|c| matches!(c, Credited::Compilation(_)))
            .count(),
        ..ArtistSummary::default()
    };
    let albums: Vec<ContextAlbum> = plans
        .iter()
        .zip(credited)
        .map(|(plan, credited)| ContextAlbum {
            artist: credited.artist().cloned(),
            genre: album_genre(plan, genres),
        })
        .collect();
    let context = ArtistContext::new(albums, genres.len());
    let covers: Vec<Option<Vec<f32>>> = records
        .iter()
        .map(|r| r.as_ref().map(|r| cover_probabilities(r, genres)))
        .collect();
    summary.agreement = context.agreement.clone();
    summary.check = context.check(&covers);
    let mut proposals = Proposals {
        context,
        covers,
        summary,
    };
    for index in 0..plans.len() {
        if proposals.repropose(
            index,
            &mut plans[index],
            &mut records[index],
            options,
            threshold,
        ) {
            proposals.summary.changed += 1;
        }
    }
    for (plan, record) in plans.iter_mut().zip(records.iter_mut()) {
        plan.top.truncate(top_k);
        if let Some(record) = record {
            record.top.truncate(top_k);
        }
    }
    proposals
}

impl Proposals {
    /// Asks the context about album `index` again (after a decision on one of its artist's
    /// albums) and re-plans it when the artist weighs; returns whether its first genre changed.
    pub fn repropose(
        &self,
        index: usize,
        plan: &mut AlbumPlan,
        record: &mut Option<Record>,
        options: &PlanOptions,
        threshold: f32,
    ) -> bool {
        let (Some(cover_record), Some(cover)) = (record.as_ref(), &self.covers[index]) else {
            return false;
        };
        let genres = options.genres;
        let cover_best = crate::artist_context::best(cover).map(|i| {
            let slug = genres.get(i).map(|g| g.slug.clone()).unwrap_or_default();
            CoverBest {
                value: plan::genre_value(&slug, options.style, genres),
                probability: cover[i],
            }
        });
        let Some((said, combined)) = self.context.said(index, cover, cover_best) else {
            return false;
        };
        let before = plan.genre.clone();
        if said.weight > 0.0 {
            let combined_record = combined_record(cover_record, &combined, genres, threshold);
            let tracks =
                crate::data::albums::album_tracks(&plan.folder).map_err(|failure| failure.reason);
            *plan = plan::plan_classified(&plan.folder, &combined_record, tracks, options);
            *record = Some(combined_record);
        }
        plan.artist = Some(said);
        plan.genre != before
    }
}

/// Shows the proposals on the review page's cards (one per record, in order): the combined
/// probabilities and the group they give.
pub fn show_on_cards(cards: &mut [crate::report::html::Card], records: &[Option<Record>]) {
    for (card, record) in cards.iter_mut().zip(records) {
        if let Some(record) = record {
            card.group = record.genre.clone();
            card.probability = Some(record.probability);
            card.top = record.top.clone();
            card.predicted = record.top.first().map(|r| r.genre.clone());
        }
    }
}

/// The taggable tracks of a plan (the ones whose tags are read).
fn taggable_tracks(plan: &AlbumPlan) -> Vec<PathBuf> {
    plan.tracks
        .iter()
        .filter(|t| crate::files::is_taggable_audio_path(&t.path))
        .map(|t| t.path.clone())
        .collect()
}

/// A tagged album's genre: the first value of each track, the most common among them.
pub fn album_genre(plan: &AlbumPlan, genres: &GenreSet) -> Option<Genre> {
    let values: Vec<String> = plan
        .tracks
        .iter()
        .filter_map(|t| first_value(&t.current))
        .collect();
    let (spelling, _) = crate::data::library::majority(&plan.folder, &values);
    spelling.map(|spelling| genre_named(&spelling, genres))
}

/// A genre in the owner's words, with the model's genre it is.
pub fn genre_named(spelling: &str, genres: &GenreSet) -> Genre {
    Genre {
        key: crate::genres::normalise(spelling),
        spelling: spelling.to_string(),
        class: genres.index_of(spelling),
    }
}

impl Proposals {
    /// What the review page needs to propose album `index` anew when another album of its
    /// artist is decided there (`None`: the album has no artist).
    pub fn page_card(&self, index: usize) -> Option<ArtistCard> {
        let album = self.context.album(index);
        album.artist.as_ref()?;
        let others = self.context.others(index);
        Some(ArtistCard {
            cover: self.covers[index].clone(),
            counts: others.per_class,
            total: others.albums,
            genre: album.genre.as_ref().map(|g| g.spelling.clone()),
            class: album.genre.as_ref().and_then(|g| g.class),
        })
    }

    /// How the review page proposes anew: the library's weight and the plan's choice of
    /// genres (`top_k` kept, `threshold` in force).
    pub fn page_rule(&self, options: &PlanOptions, threshold: f32, top_k: usize) -> ArtistRule {
        let genres = options.genres;
        let mut classes = BTreeMap::new();
        for (index, genre) in genres.iter().enumerate() {
            for name in [&genre.slug, &genre.name] {
                classes
                    .entry(crate::genres::normalise(name))
                    .or_insert(index);
            }
        }
        ArtistRule {
            weight: self.context.agreement.weight,
            values: genres
                .iter()
                .map(|g| plan::genre_value(&g.slug, options.style, genres))
                .collect(),
            classes,
            top_k,
            max_genres: options.count.max,
            min_probability: options.count.min_probability,
            separator: options.count.separator.clone(),
            threshold,
        }
    }
}
