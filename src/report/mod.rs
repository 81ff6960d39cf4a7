//! Reports: what an evaluation found, as one serialisable value ([`EvalReport`]) and its
//! renderings — prettytable text ([`table`]), JSON/CSV/markdown ([`formats`]) and the confusion
//! heatmap ([`plot`]). Renderers only read an [`EvalReport`]; the numbers come from
//! [`crate::metrics`], so every format shows the same ones. [`classify`] renders classify's
//! per-cover results and [`digest`] the short account of a run for people; [`html`] the self-contained review page. Training's renderings live here
//! too: the dataset table of `--inspect` ([`inspect`]), the variant ranking ([`training`]) and
//! the training curves ([`curves`]) and the model card a run writes beside its winner ([`card`]). Every terminal table is made by [`table::new_table`] in one
//! of the toolkit's [`table::TableStyle`]s.

pub mod card;
pub mod classify;
pub mod confidence;
pub mod curves;
pub mod digest;
pub mod formats;
pub mod html;
pub mod inspect;
pub mod labels;
pub mod learned;
pub mod plot;
pub mod table;
pub mod training;

use crate::bootstrap::{
    bootstrap_intervals, paired_bootstrap, Intervals, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED,
};
use crate::calibration::Calibration;
use crate::failure::Failure;
use crate::genres::GenreSet;
use crate::metrics::{CoverOutcome, Outcome, Summary, Tally};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;

/// Everything one model scored on one set of covers. The top-level keys (`genres`, `confusion`,
/// `per_genre`, `accuracy`, ...) are the stable JSON interface that CI scripts read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// The model file (or the predictions file) evaluated.
    pub model: String,
    /// Which covers: the data folder and split.
    pub covers: String,
    /// Genre slugs; index i is row and column i of `confusion`.
    pub genres: Vec<String>,
    /// Display names, in the same order.
    pub genre_names: Vec<String>,
    /// Rows are true genres, columns predicted genres.
    pub confusion: Vec<Vec<u64>>,
    pub per_genre: Vec<GenreScores>,
    /// Covers evaluated (files that failed to decode are not counted).
    pub total: u64,
    #[serde(flatten)]
    pub summary: Summary,
    pub baseline: Baseline,
    /// Genres the model knows but these covers lack: shown, left out of macro averages.
    pub absent_genres: Vec<String>,
    /// Genres with covers that the model never predicted (precision 0).
    pub never_predicted: Vec<String>,
    /// The most confident wrong predictions, most confident first.
    pub errors: Vec<ConfidentError>,
    /// Files that could not be evaluated, and why.
    pub failures: Vec<Failure>,
    /// Expected calibration error, reliability bins and the coverage/precision table per
    /// confidence threshold.
    #[serde(default)]
    pub calibration: Calibration,
    /// 95% bootstrap intervals for accuracy, balanced accuracy and macro-F1.
    #[serde(default)]
    pub intervals: Intervals,
    /// Every cover's outcome, for paired comparisons; not serialised (a report file stays small).
    #[serde(skip)]
    pub outcomes: Vec<CoverOutcome>,
}

/// `model - reference` on the covers both evaluated, with paired bootstrap intervals
/// (`intervals.accuracy.estimate` is the accuracy difference, and so on).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedDifference {
    pub reference: String,
    pub model: String,
    /// Covers both models have an outcome for: the only ones compared.
    pub covers: u64,
    #[serde(flatten)]
    pub intervals: Intervals,
}

/// Each model after the first against the first, on the covers they share (matched by path).
/// Genres are matched by slug, so models that list them in different orders compare fairly.
pub fn paired_differences(reports: &[EvalReport]) -> Vec<PairedDifference> {
    let Some((reference, others)) = reports.split_first() else {
        return Vec::new();
    };
    others
        .iter()
        .map(|other| {
            let mut slugs = reference.genres.clone();
            slugs.extend(
                other
                    .genres
                    .iter()
                    .filter(|g| !reference.genres.contains(g))
                    .cloned(),
            );
            let reference_outcomes = outcomes_by_path(reference, &slugs);
            let (a, b): (Vec<Outcome>, Vec<Outcome>) = other
                .outcomes
                .iter()
                .filter_map(|c| {
                    let mine = reindex(c.outcome, &other.genres, &slugs);
                    reference_outcomes.get(&c.path).map(|&r| (r, mine))
                })
                .unzip();
            PairedDifference {
                reference: reference.model.clone(),
                model: other.model.clone(),
                covers: a.len() as u64,
                intervals: paired_bootstrap(
                    &a,
                    &b,
                    slugs.len(),
                    BOOTSTRAP_RESAMPLES,
                    BOOTSTRAP_SEED,
                ),
            }
        })
        .collect()
}

fn outcomes_by_path<'r>(report: &'r EvalReport, slugs: &[String]) -> HashMap<&'r PathBuf, Outcome> {
    report
        .outcomes
        .iter()
        .map(|c| (&c.path, reindex(c.outcome, &report.genres, slugs)))
        .collect()
}

/// An outcome's genre indices moved from `from`'s order to `to`'s (which holds every slug of `from`).
fn reindex(outcome: Outcome, from: &[String], to: &[String]) -> Outcome {
    let move_index = |i: usize| {
        from.get(i)
            .and_then(|slug| to.iter().position(|s| s == slug))
            .unwrap_or(i)
    };
    Outcome {
        truth: move_index(outcome.truth),
        predicted: move_index(outcome.predicted),
        ..outcome
    }
}

/// Precision, recall and F1 of one genre.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenreScores {
    pub genre: String,
    pub name: String,
    pub support: u64,
    pub predicted: u64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// False for a genre with no covers here: it does not count towards macro averages.
    pub in_macro_average: bool,
}

/// What always answering the most frequent genre of the evaluated covers would score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// The majority genre's slug (empty when there were no covers).
    pub genre: String,
    #[serde(flatten)]
    pub summary: Summary,
}

/// One wrong prediction the model was sure of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfidentError {
    pub path: PathBuf,
    pub truth: String,
    pub predicted: String,
    pub probability: f32,
}

impl EvalReport {
    /// Builds the report from a finished tally; `genres` are the model's (the tally's indices).
    pub fn from_tally(
        model: String,
        covers: String,
        genres: &GenreSet,
        tally: &Tally,
        failures: Vec<Failure>,
    ) -> Self {
        let confusion = tally.confusion();
        let outcomes: Vec<Outcome> = tally.outcomes().iter().map(|c| c.outcome).collect();
        let slug = |i: usize| genres.get(i).map(|g| g.slug.clone()).unwrap_or_default();
        let per_genre = (0..confusion.classes())
            .map(|c| {
                let s = confusion.class_scores(c);
                GenreScores {
                    genre: slug(c),
                    name: genres.get(c).map(|g| g.name.clone()).unwrap_or_default(),
                    support: s.support,
                    predicted: s.predicted,
                    precision: s.precision,
                    recall: s.recall,
                    f1: s.f1,
                    in_macro_average: s.support > 0,
                }
            })
            .collect();
        let errors = tally
            .mistakes()
            .iter()
            .map(|m| ConfidentError {
                path: m.path.clone(),
                truth: slug(m.truth),
                predicted: slug(m.predicted),
                probability: m.probability,
            })
            .collect();
        Self {
            model,
            covers,
            genres: genres.slugs(),
            genre_names: genres.iter().map(|g| g.name.clone()).collect(),
            confusion: confusion.rows(),
            per_genre,
            total: confusion.total(),
            summary: tally.summary(),
            baseline: Baseline {
                genre: confusion.majority_class().map(slug).unwrap_or_default(),
                summary: confusion.baseline_summary(),
            },
            absent_genres: confusion.absent_classes().into_iter().map(slug).collect(),
            never_predicted: confusion
                .never_predicted_classes()
                .into_iter()
                .map(slug)
                .collect(),
            errors,
            failures,
            calibration: Calibration::of(&outcomes),
            intervals: bootstrap_intervals(
                &outcomes,
                confusion.classes(),
                BOOTSTRAP_RESAMPLES,
                BOOTSTRAP_SEED,
            ),
            outcomes: tally.outcomes().to_vec(),
        }
    }

    /// Display name of a slug in this report (the slug itself if unknown).
    pub fn name_of(&self, slug: &str) -> String {
        self.genres
            .iter()
            .position(|g| g == slug)
            .and_then(|i| self.genre_names.get(i).cloned())
            .unwrap_or_else(|| slug.to_string())
    }

    /// Sentences that belong under the tables: absent genres, never-predicted ones, the
    /// baseline's definition and skipped files.
    pub fn notes(&self) -> Vec<String> {
        let names = |slugs: &[String]| {
            slugs
                .iter()
                .map(|s| self.name_of(s))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut notes = Vec::new();
        if !self.absent_genres.is_empty() {
            notes.push(format!(
                "No covers of {} here: shown, but left out of macro-F1 and balanced accuracy.",
                names(&self.absent_genres)
            ));
        }
        if !self.never_predicted.is_empty() {
            notes.push(format!(
                "Never predicted: {} (precision counted as 0).",
                names(&self.never_predicted)
            ));
        }
        if !self.baseline.genre.is_empty() {
            let support = self
                .per_genre
                .iter()
                .find(|g| g.genre == self.baseline.genre)
                .map_or(0, |g| g.support);
            notes.push(format!(
                "Baseline: always predicting the most frequent genre of these covers ({}, {support} of {}).",
                self.name_of(&self.baseline.genre),
                self.total
            ));
        }
        if self.summary.top3_accuracy.is_none() {
            notes.push(
                "Top-3 accuracy unavailable: the predictions rank fewer than 3 genres.".into(),
            );
        }
        if !self.failures.is_empty() {
            notes.push(format!(
                "{} file(s) could not be read and were left out.",
                self.failures.len()
            ));
        }
        notes
    }
}
