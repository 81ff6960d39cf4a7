//! Fitting a model's temperature on labelled covers (dev, never test) and writing the model
//! with it baked in: [`crate::calibration::fit_temperature`] on the logits the model gives
//! through the shared pipeline, [`crate::export::temperature::with_temperature`] on its bytes.

use super::{map_labels, EvalSettings};
use crate::calibration::{
    add_bias, fit_logit_adjustment, fit_temperature, log_loss, outcomes_of_logits,
    threshold_for_precision, LogitAdjustment, ThresholdRow, TAG_MIN_KEPT, TAG_PRECISION,
};
use crate::covers::{CoverDecoder, Source};
use crate::data::Sample;
use crate::failure::Failure;
use crate::genres::GenreSet;
use crate::infer::pipeline::{self, Predictor};
use crate::infer::Model;
use crate::util::write_atomic;
use anyhow::{ensure, Context, Result};
use ndarray::{Array2, ArrayView2, ArrayView4, Axis};
use serde::Serialize;
use std::path::Path;

/// What a temperature fit found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TemperatureFit {
    pub temperature: f64,
    /// Covers the fit used (unreadable ones are left out and listed in `failures`).
    pub covers: usize,
    /// Mean log-loss of the covers' labels before (T = 1) and after.
    pub log_loss_before: f64,
    pub log_loss_after: f64,
    /// The post-hoc logit adjustment fitted before the temperature, when asked for.
    pub adjustment: Option<LogitAdjustment>,
    /// The tagging threshold chosen on the calibrated probabilities of the same covers
    /// (precision about 2 in 3), recorded as `tag_threshold`; `None` when none gets there.
    pub tag_threshold: Option<ThresholdRow>,
    #[serde(skip)]
    pub failures: Vec<Failure>,
}

/// A [`Model`] as a pipeline predictor that hands on the raw logits instead of probabilities.
struct LogitsPredictor<'m>(&'m mut Model);

impl Predictor for LogitsPredictor<'_> {
    fn classes(&self) -> usize {
        self.0.genres().len()
    }
    fn predict(&mut self, images: &[u8], n: usize) -> Result<Array2<f32>> {
        Ok(self.0.predict(images, n)?.logits)
    }
}

/// Runs `samples` (labels index `data_genres`) through `model` and fits the temperature that
/// minimises the mean log-loss of their labels. Test-time augmentation is refused: it averages
/// probabilities, and a temperature is a property of the logits.
///
/// With `train` (the training covers), a post-hoc logit adjustment is fitted first on the same
/// covers (macro-F1) from the model's training prior, and the temperature on the adjusted
/// logits.
pub fn fit_model_temperature(
    model: &mut Model,
    data_genres: &GenreSet,
    samples: &[Sample],
    train: Option<&[Sample]>,
    settings: &EvalSettings,
) -> Result<TemperatureFit> {
    ensure!(
        !settings.pipeline.tta,
        "a temperature is fitted without test-time augmentation (drop --tta)"
    );
    let label_map = map_labels(data_genres, model.genres())?;
    let classes = model.genres().len();
    let decoder = CoverDecoder::new(*model.preprocess());
    let (mut logits, mut labels, mut failures) = (Vec::new(), Vec::new(), Vec::new());
    let sources = samples.iter().map(|s| Ok(Source::file(s.path.clone())));
    let mut next = 0usize;
    pipeline::run_with(
        sources,
        &decoder,
        LogitsPredictor(model),
        &settings.pipeline,
        |outcome| {
            let sample = &samples[next];
            next += 1;
            match outcome {
                Ok(classified) => {
                    logits.extend_from_slice(&classified.probabilities);
                    labels.push(label_map[sample.label]);
                }
                Err(failure) => failures.push(failure),
            }
        },
    )?;
    let train_counts = train.map(|train| {
        crate::metrics::class_counts(train.iter().map(|s| label_map[s.label]), classes)
    });
    // One row of logits per cover read, in the order of `labels`.
    let logits = Array2::from_shape_vec((labels.len(), classes), logits)?;
    fit_logits(logits.view(), &labels, failures, train_counts.as_deref())
}

fn fit_logits(
    logits: ArrayView2<f32>,
    labels: &[usize],
    failures: Vec<Failure>,
    train_counts: Option<&[usize]>,
) -> Result<TemperatureFit> {
    ensure!(
        !labels.is_empty(),
        "no cover could be read to fit a temperature"
    );
    let adjustment = train_counts.map(|counts| fit_logit_adjustment(logits, labels, counts));
    let adjusted = match &adjustment {
        Some(a) => add_bias(logits, &a.bias),
        None => logits.to_owned(),
    };
    let temperature = fit_temperature(adjusted.view(), labels);
    let outcomes = outcomes_of_logits(adjusted.view(), labels, temperature);
    Ok(TemperatureFit {
        temperature,
        covers: labels.len(),
        log_loss_before: log_loss(logits, labels, 1.0),
        log_loss_after: log_loss(adjusted.view(), labels, temperature),
        adjustment,
        tag_threshold: threshold_for_precision(&outcomes, TAG_PRECISION, TAG_MIN_KEPT),
        failures,
    })
}

impl TemperatureFit {
    /// What the fit chose for tagging, for the log: threshold, precision and coverage.
    pub fn tag_threshold_line(&self) -> String {
        match &self.tag_threshold {
            Some(row) => format!(
                "tag threshold {:.2} recorded (precision {:.3}, coverage {:.3} on these covers)",
                row.threshold,
                row.precision.unwrap_or_default(),
                row.coverage
            ),
            None => format!(
                "no tag threshold recorded (none reaches precision {TAG_PRECISION:.3} keeping {TAG_MIN_KEPT} covers)"
            ),
        }
    }
}

/// The model bytes with the fit's tagging threshold recorded (or an old one removed).
fn record_tag_threshold(model: &[u8], fit: &TemperatureFit) -> Result<Vec<u8>> {
    let threshold = fit.tag_threshold.map(|row| row.threshold);
    crate::export::temperature::with_tag_threshold(model, threshold)
}

/// Images per inference batch when fitting on decoded images.
const BATCH: usize = 32;

/// Fits the temperature of the model file `path` on already decoded images (u8 HWC at the
/// model's input size, back to back; `labels` index the model's genres) and rewrites the file
/// with it baked in. The trainer calls this on its winner with the dev covers it selected on.
pub fn calibrate_model_file_on_images(
    path: &Path,
    pixels: &[u8],
    labels: &[usize],
) -> Result<TemperatureFit> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read the model {}", path.display()))?;
    let mut model = Model::from_bytes(&bytes, 0, &path.display().to_string())?;
    let (h, w) = (
        model.preprocess().height as usize,
        model.preprocess().width as usize,
    );
    ensure!(
        pixels.len() == labels.len() * h * w * 3,
        "{} bytes of pixels for {} covers of {} bytes",
        pixels.len(),
        labels.len(),
        h * w * 3
    );
    let images = ArrayView4::from_shape((labels.len(), h, w, 3), pixels)?;
    let mut logits = Array2::zeros((0, model.genres().len()));
    for batch in images.axis_chunks_iter(Axis(0), BATCH) {
        logits.append(Axis(0), model.predict_images(batch)?.logits.view())?;
    }
    let fit = fit_logits(logits.view(), labels, Vec::new(), None)?;
    let calibrated = crate::export::temperature::with_temperature(&bytes, fit.temperature)?;
    let calibrated = record_tag_threshold(&calibrated, &fit)?;
    write_atomic(path, &calibrated)
        .with_context(|| format!("cannot write the calibrated model {}", path.display()))?;
    Ok(fit)
}

/// Fits the temperature of the model file `model_path` on `samples` (and, with `train`, a
/// post-hoc logit adjustment first: see [`fit_model_temperature`]) and writes the calibrated
/// model to `out` (atomically; `out` may be the model itself).
pub fn calibrate_model_file(
    model_path: &Path,
    out: &Path,
    data_genres: &GenreSet,
    samples: &[Sample],
    train: Option<&[Sample]>,
    settings: &EvalSettings,
) -> Result<TemperatureFit> {
    let bytes = std::fs::read(model_path)
        .with_context(|| format!("cannot read the model {}", model_path.display()))?;
    let mut model = Model::from_bytes(&bytes, 1, &model_path.display().to_string())?;
    let fit = fit_model_temperature(&mut model, data_genres, samples, train, settings)?;
    let bias = fit.adjustment.as_ref().map(|a| a.bias.as_slice());
    let calibrated = crate::export::temperature::with_calibration(&bytes, fit.temperature, bias)
        .with_context(|| format!("cannot calibrate {}", model_path.display()))?;
    let calibrated = record_tag_threshold(&calibrated, &fit)?;
    write_atomic(out, &calibrated)
        .with_context(|| format!("cannot write the calibrated model {}", out.display()))?;
    Ok(fit)
}
