//! Evaluation: labelled covers in, an [`EvalReport`] out.
//!
//! - [`evaluate_samples`] runs covers through the same streaming pipeline as
//!   `covergenre-classify` ([`crate::infer::pipeline`]), so eval decodes, batches and predicts
//!   exactly as classify does, and tallies each result as it arrives (memory stays flat).
//! - [`predictions`] evaluates a classify CSV/JSONL file against labels without a model.
//! - [`temperature`] fits a model's temperature on labelled (dev) covers and bakes it in.
//! - [`command`] is the `covergenre-eval` command as one library call (models, gate, outputs).
//!
//! Genres are matched by slug ([`GenreSet::index_of`]): every genre of the data must be one the
//! model knows (otherwise the numbers would be meaningless, so it is an error); genres the model
//! knows but the data lacks are kept, shown, and left out of macro averages.

pub mod command;
pub mod model;
pub mod predictions;
pub mod temperature;

use crate::covers::Source;
use crate::data::Sample;
use crate::genres::GenreSet;
use crate::infer::pipeline::{self, Decoder, PipelineOptions, Predictor};
use crate::metrics::Tally;
use crate::report::EvalReport;
use anyhow::{bail, ensure, Result};

/// What is being evaluated, for the report's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    /// The model (or predictions) file.
    pub model: String,
    /// The covers: data folder and split.
    pub covers: String,
}

/// How an evaluation runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalSettings {
    /// Threads and batch size, as for classify.
    pub pipeline: PipelineOptions,
    /// How many of the most confident wrong predictions the report lists.
    pub keep_errors: usize,
}

/// For each data genre, the model output that stands for it (matched by slug or name).
/// Errors name every data genre the model does not know.
pub fn map_labels(data: &GenreSet, model: &GenreSet) -> Result<Vec<usize>> {
    let mapped: Vec<Option<usize>> = data.iter().map(|g| model.index_of(&g.slug)).collect();
    let missing: Vec<&str> = data
        .iter()
        .zip(&mapped)
        .filter(|(_, m)| m.is_none())
        .map(|(g, _)| g.slug.as_str())
        .collect();
    if !missing.is_empty() {
        bail!(
            "the data has genres the model does not know: {} (the model knows: {})",
            missing.join(", "),
            model.slugs().join(", ")
        );
    }
    Ok(mapped.into_iter().flatten().collect())
}

/// One evaluated cover as an observer sees it: `truth` and `probabilities` index the
/// model's genres.
pub struct Scored<'a> {
    pub path: &'a std::path::Path,
    pub truth: usize,
    pub probabilities: &'a [f32],
}

/// Classifies `samples` (labels index `data_genres`) with `predictor` through the shared
/// pipeline and tallies the results against the labels. Unreadable covers are listed in the
/// report's `failures` and left out of the numbers.
pub fn evaluate_samples<D: Decoder<Source = Source>, P: Predictor>(
    samples: &[Sample],
    data_genres: &GenreSet,
    model_genres: &GenreSet,
    decoder: &D,
    predictor: P,
    settings: &EvalSettings,
    described: Described,
) -> Result<EvalReport> {
    let genres = (data_genres, model_genres);
    evaluate_samples_observed(
        samples,
        genres,
        decoder,
        predictor,
        settings,
        described,
        &mut |_| {},
    )
}

/// [`evaluate_samples`], also handing every scored cover to `observe` (the review page).
pub fn evaluate_samples_observed<D: Decoder<Source = Source>, P: Predictor>(
    samples: &[Sample],
    (data_genres, model_genres): (&GenreSet, &GenreSet),
    decoder: &D,
    predictor: P,
    settings: &EvalSettings,
    described: Described,
    observe: &mut dyn FnMut(Scored<'_>),
) -> Result<EvalReport> {
    let label_map = map_labels(data_genres, model_genres)?;
    ensure!(
        predictor.classes() == model_genres.len(),
        "the model has {} outputs but lists {} genres",
        predictor.classes(),
        model_genres.len()
    );
    let mut tally = Tally::new(model_genres.len(), settings.keep_errors);
    let mut failures = Vec::new();
    let sources = samples.iter().map(|s| Ok(Source::file(s.path.clone())));
    // Outcomes arrive in input order, one per sample, so a running index pairs them with labels.
    let mut next = 0usize;
    pipeline::run_with(sources, decoder, predictor, &settings.pipeline, |outcome| {
        let sample = &samples[next];
        next += 1;
        match outcome {
            Ok(classified) => {
                let truth = label_map[sample.label];
                tally.add_probabilities(&sample.path, truth, &classified.probabilities);
                observe(Scored {
                    path: &sample.path,
                    truth,
                    probabilities: &classified.probabilities,
                });
            }
            Err(failure) => failures.push(failure),
        }
    })?;
    Ok(EvalReport::from_tally(
        described.model,
        described.covers,
        model_genres,
        &tally,
        failures,
    ))
}
