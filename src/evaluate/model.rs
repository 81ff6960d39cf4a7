//! Evaluating an ONNX model on a discovered dataset: the glue between [`crate::data`],
//! [`crate::infer::Model`] and [`super::evaluate_samples`]. Decoding is the data layer's
//! (same orientation, resize filter and limits as classify), inference the model's own.

use super::{evaluate_samples_observed, Described, EvalSettings, Scored};
use crate::covers::CoverDecoder;
use crate::data::discover::{discover, DiscoverOptions};
use crate::data::{Dataset, Sample, Split};
use crate::infer::Model;
use crate::report::EvalReport;
use anyhow::{bail, Result};
use std::path::Path;

/// Which covers of a dataset to evaluate: one split, or all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitChoice {
    Test,
    Dev,
    Train,
    All,
}

impl SplitChoice {
    /// The one split chosen; `None` for all of them.
    pub fn split(self) -> Option<Split> {
        match self {
            SplitChoice::Test => Some(Split::Test),
            SplitChoice::Dev => Some(Split::Dev),
            SplitChoice::Train => Some(Split::Train),
            SplitChoice::All => None,
        }
    }
}

/// Finds the dataset and picks its covers. With no choice: the test split when the data has
/// splits on disk, everything when it has none (a generated test split would be arbitrary).
pub fn load_covers(
    root: &Path,
    choice: Option<SplitChoice>,
) -> Result<(Dataset, Vec<Sample>, String)> {
    let dataset = discover(root, &DiscoverOptions::default())?;
    let choice = choice.unwrap_or(if dataset.generated_splits {
        SplitChoice::All
    } else {
        SplitChoice::Test
    });
    let (samples, name): (Vec<Sample>, &str) = match choice.split() {
        None => (dataset.splits.values().flatten().cloned().collect(), "all"),
        Some(split) => (dataset.split(split).to_vec(), split.as_str()),
    };
    if samples.is_empty() {
        bail!("{}: no covers in the {name} split", root.display());
    }
    let described = format!("{} ({name})", root.display());
    Ok((dataset, samples, described))
}

/// Evaluates one model file on the given covers.
pub fn evaluate_model_file(
    model_path: &Path,
    dataset: &Dataset,
    samples: &[Sample],
    covers: &str,
    settings: &EvalSettings,
) -> Result<EvalReport> {
    let mut model = Model::open(model_path, 1)?;
    evaluate_model(
        &mut model,
        &model_path.display().to_string(),
        dataset,
        samples,
        covers,
        settings,
    )
}

/// Evaluates an open model on the given covers.
pub fn evaluate_model(
    model: &mut Model,
    name: &str,
    dataset: &Dataset,
    samples: &[Sample],
    covers: &str,
    settings: &EvalSettings,
) -> Result<EvalReport> {
    evaluate_model_observed(
        model,
        name,
        (dataset, samples, covers),
        settings,
        &mut |_| {},
    )
}

/// [`evaluate_model`], also handing every scored cover to `observe`.
pub fn evaluate_model_observed(
    model: &mut Model,
    name: &str,
    (dataset, samples, covers): (&Dataset, &[Sample], &str),
    settings: &EvalSettings,
    observe: &mut dyn FnMut(Scored<'_>),
) -> Result<EvalReport> {
    // Classify's decoder: the same decode, orientation, resize and limits.
    let decoder = CoverDecoder::new(*model.preprocess());
    let model_genres = model.genres().clone();
    let described = Described {
        model: name.to_string(),
        covers: covers.to_string(),
    };
    evaluate_samples_observed(
        samples,
        (&dataset.genres, &model_genres),
        &decoder,
        model,
        settings,
        described,
        observe,
    )
}
