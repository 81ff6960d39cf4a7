//! The `covergenre-eval` command as a library call: pick the models (the shipped one, a file,
//! several to compare, or a classify predictions file), calibrate if asked, evaluate them on the
//! chosen split, render and write the report and plots, and judge the `--fail-under` gate.

use super::model::{self, SplitChoice};
use super::predictions::{self, Labels};
use super::{temperature, Described, EvalSettings};
use crate::data::{Dataset, Sample, Split};
use crate::exit;
use crate::infer::{Model, SHIPPED_MODEL_NAME};
use crate::metrics::{gate_failures, Bar};
use crate::report::formats::{self, Format};
use crate::report::html::{self, ScoredCover};
use crate::report::{plot, EvalReport};
use crate::util::write_atomic;
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Everything one `covergenre-eval` run does.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// The model to evaluate; `None` (and no `compare`) means the shipped model.
    pub model: Option<PathBuf>,
    /// Labelled covers, in any layout the data layer reads.
    pub data: Option<PathBuf>,
    /// Which split; `None`: test, or everything when the data has no splits.
    pub split: Option<SplitChoice>,
    pub format: Format,
    /// Written atomically when set; otherwise the report goes to the `out` stream.
    pub output: Option<PathBuf>,
    /// The gate: each metric's minimum.
    pub fail_under: Vec<Bar>,
    /// Confusion heatmap PNG of the first model.
    pub plot: Option<PathBuf>,
    /// Reliability diagram PNG of the first model.
    pub plot_calibration: Option<PathBuf>,
    /// Review page (HTML) of the first model.
    pub report: Option<PathBuf>,
    /// Several models on the same covers, compared with the first.
    pub compare: Vec<PathBuf>,
    /// A classify CSV/JSONL file to evaluate instead of running a model.
    pub predictions: Option<PathBuf>,
    /// Fit a temperature on the covers and write the calibrated model here (needs `model`).
    pub calibrate_to: Option<PathBuf>,
    /// Fit a post-hoc logit adjustment before the temperature (needs `calibrate_to`).
    pub adjust_logits: bool,
    /// Threads, batch size, test-time augmentation and how many mistakes to list.
    pub settings: EvalSettings,
}

/// What a run found: one report per model, and the gate's verdict.
#[derive(Debug, Clone)]
pub struct EvalOutcome {
    pub reports: Vec<EvalReport>,
    /// One message per missed bar, already named on the log.
    pub gate_failures: Vec<String>,
}

impl EvalOutcome {
    /// 1 when any model misses a bar, else 3 when covers failed, else 0.
    pub fn exit_code(&self) -> i32 {
        if !self.gate_failures.is_empty() {
            exit::GATE_FAILED
        } else if self.reports.iter().any(|r| !r.failures.is_empty()) {
            exit::SOME_FILES_FAILED
        } else {
            exit::SUCCESS
        }
    }
}

/// Runs a whole evaluation: the report to `options.output` (atomically) or `out`; skipped
/// covers, files written and missed bars to `log`.
pub fn run(options: &EvalOptions, out: &mut dyn Write, log: &mut dyn Write) -> Result<EvalOutcome> {
    let reports = if let Some(file) = &options.predictions {
        vec![evaluate_predictions_file(options, file)?]
    } else {
        evaluate_models(options, log)?
    };
    emit(options, &reports, out, log)?;
    let gate_failures = judge_gate(&options.fail_under, &reports, log)?;
    Ok(EvalOutcome {
        reports,
        gate_failures,
    })
}

fn evaluate_predictions_file(options: &EvalOptions, file: &Path) -> Result<EvalReport> {
    if options.data.is_some() {
        bail!("--predictions with --data is not supported yet: labels come from each cover's genre folder");
    }
    let read = predictions::read_predictions(file)?;
    let labels = Labels::ParentFolder;
    let genres = predictions::genres_seen(&read, &labels);
    let described = Described {
        model: file.display().to_string(),
        covers: "the covers listed in the file (labels from their genre folders)".into(),
    };
    Ok(predictions::evaluate_predictions(
        read,
        &labels,
        &genres,
        options.settings.keep_errors,
        described,
    ))
}

/// The model files to evaluate, after calibrating when asked; empty means the shipped model.
fn model_files(
    options: &EvalOptions,
    covers: (&Dataset, &[Sample], &str),
    log: &mut dyn Write,
) -> Result<Vec<PathBuf>> {
    Ok(match (&options.model, &options.calibrate_to) {
        (Some(path), Some(out)) => {
            calibrate(path, out, covers, options, log)?;
            vec![out.clone()]
        }
        (Some(path), None) => vec![path.clone()],
        (None, _) => options.compare.clone(),
    })
}

fn evaluate_models(options: &EvalOptions, log: &mut dyn Write) -> Result<Vec<EvalReport>> {
    let Some(data) = &options.data else {
        bail!("--data DIR is required to evaluate a model (or give --predictions FILE)");
    };
    if options.calibrate_to.is_some() && options.split == Some(SplitChoice::Test) {
        bail!("--calibrate-to fits on dev covers; the test split is for the final evaluation only");
    }
    let split = options
        .split
        .or(options.calibrate_to.as_ref().map(|_| SplitChoice::Dev));
    let (dataset, samples, covers) = model::load_covers(data, split)?;
    let covers_of = (&dataset, samples.as_slice(), covers.as_str());
    let files = model_files(options, covers_of, log)?;
    let mut reports = Vec::new();
    // The review page shows the first model's covers.
    let mut scored: Vec<ScoredCover> = Vec::new();
    let keep = options.report.is_some();
    if files.is_empty() {
        let mut shipped = Model::shipped(1).context("the built-in model cannot be opened")?;
        reports.push(model::evaluate_model_observed(
            &mut shipped,
            SHIPPED_MODEL_NAME,
            covers_of,
            &options.settings,
            &mut |s| {
                if keep {
                    scored.push(ScoredCover::of(&s))
                }
            },
        )?);
    }
    for (i, path) in files.iter().enumerate() {
        let mut opened = Model::open(path, 1)?;
        reports.push(model::evaluate_model_observed(
            &mut opened,
            &path.display().to_string(),
            covers_of,
            &options.settings,
            &mut |s| {
                if keep && i == 0 {
                    scored.push(ScoredCover::of(&s))
                }
            },
        )?);
    }
    if let (Some(page), Some(first)) = (&options.report, reports.first()) {
        html::write_evaluation(page, first, scored)?;
        writeln!(log, "review page: {}", page.display())?;
    }
    Ok(reports)
}

/// Fits a temperature on the covers, writes the calibrated model to `out` and says so.
fn calibrate(
    model_path: &Path,
    out: &Path,
    (dataset, samples, covers): (&Dataset, &[Sample], &str),
    options: &EvalOptions,
    log: &mut dyn Write,
) -> Result<()> {
    let train = options.adjust_logits.then(|| dataset.split(Split::Train));
    if train.is_some_and(|t| t.is_empty()) {
        bail!("--adjust-logits needs the training covers' genre counts, and the dataset has no train split");
    }
    let fit = temperature::calibrate_model_file(
        model_path,
        out,
        &dataset.genres,
        samples,
        train,
        &options.settings,
    )?;
    if let Some(a) = &fit.adjustment {
        writeln!(
            log,
            "covergenre-eval: logit adjustment tau {:.1} (macro-F1 on these covers {:.3} -> {:.3})",
            a.tau, a.macro_f1_before, a.macro_f1_after
        )?;
    }
    writeln!(
        log,
        "covergenre-eval: temperature {:.4} fitted on {} covers of {covers} (log-loss {:.4} -> {:.4}); {}; calibrated model written to {}",
        fit.temperature,
        fit.covers,
        fit.log_loss_before,
        fit.log_loss_after,
        fit.tag_threshold_line(),
        out.display()
    )?;
    Ok(())
}

/// Prints (or writes) the report and draws the plots of the first model.
fn emit(
    options: &EvalOptions,
    reports: &[EvalReport],
    out: &mut dyn Write,
    log: &mut dyn Write,
) -> Result<()> {
    for failure in reports.iter().flat_map(|r| &r.failures) {
        writeln!(
            log,
            "covergenre-eval: skipped {}: {}",
            failure.path.display(),
            failure.reason
        )?;
    }
    let text = formats::render(reports, options.format)?;
    match &options.output {
        Some(path) => write_atomic(path, text.as_bytes())
            .with_context(|| format!("cannot write the report to {}", path.display()))?,
        None => {
            write!(out, "{text}")?;
            out.flush()?;
        }
    }
    if let (Some(path), Some(first)) = (&options.plot, reports.first()) {
        plot::write_heatmap(first, path)?;
        writeln!(
            log,
            "covergenre-eval: heatmap written to {}",
            path.display()
        )?;
    }
    if let (Some(path), Some(first)) = (&options.plot_calibration, reports.first()) {
        plot::write_reliability(first, path)?;
        writeln!(
            log,
            "covergenre-eval: reliability diagram written to {}",
            path.display()
        )?;
    }
    Ok(())
}

/// Every bar any model misses, each named on `log`.
fn judge_gate(bars: &[Bar], reports: &[EvalReport], log: &mut dyn Write) -> Result<Vec<String>> {
    let mut missed = Vec::new();
    for report in reports {
        for failure in gate_failures(&report.summary, bars) {
            writeln!(
                log,
                "covergenre-eval: gate failed for {}: {failure}",
                report.model
            )?;
            missed.push(failure);
        }
    }
    Ok(missed)
}
