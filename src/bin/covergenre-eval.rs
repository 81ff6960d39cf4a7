//! `covergenre-eval`: how well a model tells genres on labelled covers. Parses arguments, calls
//! [`covergenre::evaluate`] and [`covergenre::report`], maps the outcome to an exit code.

use anyhow::{bail, Context, Result};
use clap::Parser;
use covergenre::data::{Dataset, Sample, Split};
use covergenre::evaluate::predictions::{self, Labels};
use covergenre::evaluate::{model, temperature, Described, EvalSettings};
use covergenre::exit;
use covergenre::infer::pipeline::PipelineOptions;
use covergenre::infer::{Model, SHIPPED_MODEL_NAME};
use covergenre::metrics::{gate_failures, parse_bar, Bar};
use covergenre::report::formats::{self, Format};
use covergenre::report::html::{self, ScoredCover};
use covergenre::report::{plot, EvalReport};
use covergenre::util::write_atomic;
use std::path::{Path, PathBuf};

const EXAMPLES: &str = "\
EXAMPLES:
  # The shipped model on the test split, as tables
  covergenre-eval --data ../shared/data/covers-v1

  # A CI gate: exit 1 when macro-F1 or accuracy falls below its bar; markdown for the job summary
  covergenre-eval --model run/best.onnx --data covers --format markdown \\
      --fail-under macro_f1=0.3,accuracy=0.4 >> \"$GITHUB_STEP_SUMMARY\"

  # Two models side by side on the dev split, with a heatmap of the first; the paired
  # bootstrap difference says whether b is really better than a on these covers
  covergenre-eval --data covers --split dev --compare a.onnx b.onnx --plot confusion.png

  # Calibrate: fit a temperature on dev, bake it into a new model file, then judge it on test
  covergenre-eval --model m.onnx --data ../shared/data/covers-v1 --calibrate-to m-calibrated.onnx
  covergenre-eval --model m-calibrated.onnx --data ../shared/data/covers-v1

  # How far to trust the confidence: reliability diagram; pick --min-confidence from the table
  covergenre-eval --data ../shared/data/covers-v1 --split dev --plot-calibration reliability.png

  # The same with test-time augmentation (each cover averaged with its mirror image)
  covergenre-eval --data ../shared/data/covers-v1 --tta

  # Evaluate classify's output without running a model (labels from the covers' genre folders)
  covergenre-classify covers/test --format csv --output preds.csv
  covergenre-eval --predictions preds.csv --errors 10
  covergenre-eval --data covers --report review.html        # heat map, click a cell for its covers

EXIT CODES:
  0 all went well; 1 a --fail-under bar was missed; 2 bad arguments or a fatal error;
  3 finished, but some covers could not be read (they are listed and left out)";

/// Evaluate a genre model on labelled album covers: confusion matrix, per-genre precision,
/// recall and F1, accuracy, balanced accuracy, macro/weighted F1 and top-3 accuracy beside the
/// majority-genre baseline; 95% bootstrap intervals; expected calibration error and the
/// coverage and precision at each confidence threshold (to choose classify's --min-confidence).
#[derive(Debug, Parser)]
#[command(name = "covergenre-eval", version, after_help = EXAMPLES)]
struct Args {
    /// The ONNX model to evaluate [default: the shipped model].
    #[arg(long, value_name = "FILE", conflicts_with = "compare")]
    model: Option<PathBuf>,
    /// Labelled covers, in any layout the data layer reads.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Which split to evaluate [default: test, or everything when the data has no splits].
    #[arg(long, value_enum)]
    split: Option<SplitChoice>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write the report to FILE (atomically) instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Exit 1 when a metric is below its bar, e.g. `macro_f1=0.3,accuracy=0.4`. Metrics:
    /// accuracy, balanced_accuracy, macro_f1, weighted_f1, top3_accuracy.
    #[arg(long, value_name = "METRIC=VALUE[,...]", value_delimiter = ',', value_parser = parse_bar)]
    fail_under: Vec<Bar>,
    /// Draw the confusion matrix as a row-normalised heatmap PNG.
    #[arg(long, value_name = "FILE.png")]
    plot: Option<PathBuf>,
    /// Draw the reliability diagram (accuracy per confidence bin against the diagonal, with
    /// the expected calibration error) as a PNG.
    #[arg(long, value_name = "FILE.png")]
    plot_calibration: Option<PathBuf>,
    /// Write a review page: one self-contained HTML file with the confusion heat map (click a
    /// cell for its covers), per-genre metrics and every cover as a thumbnail (in FILE's stem
    /// + "-thumbs/" beside it). With --compare: the first model.
    #[arg(long, value_name = "FILE.html", conflicts_with = "predictions")]
    report: Option<PathBuf>,
    /// Several models side by side on the same covers, with paired bootstrap differences
    /// of each against the first.
    #[arg(long, value_name = "MODEL", num_args = 2..)]
    compare: Vec<PathBuf>,
    /// Evaluate a covergenre-classify CSV or JSONL file instead of running a model.
    #[arg(long, value_name = "FILE", conflicts_with = "compare")]
    predictions: Option<PathBuf>,
    /// List the N most confident wrong predictions.
    #[arg(long, value_name = "N", default_value_t = 0)]
    errors: usize,
    /// Decode threads (inference runs beside them).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Images per inference batch.
    #[arg(long, value_name = "N", default_value_t = 32)]
    batch_size: usize,
    /// Fit a temperature on the covers (the dev split unless --split says otherwise; never
    /// test) by minimising their log-loss, write the model with it baked in
    /// (probabilities = softmax(logits / T), `temperature` in its metadata) to FILE, and
    /// report on the calibrated model. Needs --model (FILE may be the same path).
    #[arg(long, value_name = "FILE", requires = "model", conflicts_with_all = ["compare", "predictions", "tta"])]
    calibrate_to: Option<PathBuf>,
    /// With --calibrate-to: first fit a post-hoc logit adjustment on the same covers: each
    /// genre's logit gets -tau x log(its share of the train split), tau (0 to 2) chosen for
    /// macro-F1, so small genres are predicted again; baked in and recorded as `logit_bias`.
    /// Unlike the temperature, it changes which genre ranks first.
    #[arg(long, requires = "calibrate_to")]
    adjust_logits: bool,
    /// Test-time augmentation: average each cover's probabilities with those of its mirror
    /// image (left-right flip), exactly as covergenre-classify --tta does.
    #[arg(long)]
    tta: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SplitChoice {
    Test,
    Dev,
    Train,
    All,
}

fn main() {
    let args = Args::parse();
    let code = match run(&args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("covergenre-eval: error: {error:#}");
            exit::FATAL
        }
    };
    std::process::exit(code);
}

fn run(args: &Args) -> Result<i32> {
    let reports = if let Some(file) = &args.predictions {
        vec![evaluate_predictions_file(args, file)?]
    } else {
        evaluate_models(args)?
    };
    emit(args, &reports)?;
    Ok(exit_code(args, &reports))
}

fn evaluate_predictions_file(args: &Args, file: &std::path::Path) -> Result<EvalReport> {
    if args.data.is_some() {
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
        args.errors,
        described,
    ))
}

fn evaluate_models(args: &Args) -> Result<Vec<EvalReport>> {
    let Some(data) = &args.data else {
        bail!("--data DIR is required to evaluate a model (or give --predictions FILE)");
    };
    if args.calibrate_to.is_some() && args.split == Some(SplitChoice::Test) {
        bail!("--calibrate-to fits on dev covers; the test split is for the final evaluation only");
    }
    let split = args
        .split
        .or(args.calibrate_to.as_ref().map(|_| SplitChoice::Dev));
    let split = split.map(|s| match s {
        SplitChoice::Test => model::SplitChoice::One(Split::Test),
        SplitChoice::Dev => model::SplitChoice::One(Split::Dev),
        SplitChoice::Train => model::SplitChoice::One(Split::Train),
        SplitChoice::All => model::SplitChoice::All,
    });
    let (dataset, samples, covers) = model::load_covers(data, split)?;
    let settings = EvalSettings {
        pipeline: PipelineOptions {
            threads: args.threads.unwrap_or(PipelineOptions::default().threads),
            batch_size: args.batch_size.max(1),
            strict: false,
            tta: args.tta,
        },
        keep_errors: args.errors,
    };
    let mut reports = Vec::new();
    // The review page shows the first model's covers.
    let mut scored: Vec<ScoredCover> = Vec::new();
    let keep = args.report.is_some();
    let covers_of = (&dataset, samples.as_slice(), covers.as_str());
    if args.compare.is_empty() && args.model.is_none() {
        let mut shipped = Model::shipped(1).context("the built-in model cannot be opened")?;
        reports.push(model::evaluate_model_observed(
            &mut shipped,
            SHIPPED_MODEL_NAME,
            covers_of,
            &settings,
            &mut |s| {
                if keep {
                    scored.push(ScoredCover::of(&s))
                }
            },
        )?);
    } else {
        let models = match (&args.model, &args.calibrate_to) {
            (Some(path), Some(out)) => {
                let train = args.adjust_logits.then(|| dataset.split(Split::Train));
                calibrate(path, out, &dataset, (&samples, train), &covers, &settings)?;
                vec![out.clone()]
            }
            (Some(path), None) => vec![path.clone()],
            (None, _) => args.compare.clone(),
        };
        for (i, path) in models.iter().enumerate() {
            let mut opened = Model::open(path, 1)?;
            let name = path.display().to_string();
            reports.push(model::evaluate_model_observed(
                &mut opened,
                &name,
                covers_of,
                &settings,
                &mut |s| {
                    if keep && i == 0 {
                        scored.push(ScoredCover::of(&s))
                    }
                },
            )?);
        }
    }
    if let (Some(page), Some(first)) = (&args.report, reports.first()) {
        html::write_evaluation(page, first, scored)?;
        eprintln!("review page: {}", page.display());
    }
    Ok(reports)
}

/// Fits a temperature on the covers, writes the calibrated model to `out` and says so.
fn calibrate(
    model_path: &Path,
    out: &Path,
    dataset: &Dataset,
    (samples, train): (&[Sample], Option<&[Sample]>),
    covers: &str,
    settings: &EvalSettings,
) -> Result<()> {
    if train.is_some_and(|t| t.is_empty()) {
        bail!("--adjust-logits needs the training covers' genre counts, and the dataset has no train split");
    }
    let fit = temperature::calibrate_model_file(
        model_path,
        out,
        &dataset.genres,
        samples,
        train,
        settings,
    )?;
    if let Some(a) = &fit.adjustment {
        eprintln!(
            "covergenre-eval: logit adjustment tau {:.1} (macro-F1 on these covers {:.3} -> {:.3})",
            a.tau, a.macro_f1_before, a.macro_f1_after
        );
    }
    eprintln!(
        "covergenre-eval: temperature {:.4} fitted on {} covers of {covers} (log-loss {:.4} -> {:.4}); calibrated model written to {}",
        fit.temperature,
        fit.covers,
        fit.log_loss_before,
        fit.log_loss_after,
        out.display()
    );
    Ok(())
}

/// Prints (or writes) the report and draws the plots of the first model.
fn emit(args: &Args, reports: &[EvalReport]) -> Result<()> {
    for report in reports {
        for failure in &report.failures {
            eprintln!(
                "covergenre-eval: skipped {}: {}",
                failure.path.display(),
                failure.reason
            );
        }
    }
    let text = formats::render(reports, args.format)?;
    match &args.output {
        Some(path) => write_atomic(path, text.as_bytes())
            .with_context(|| format!("cannot write the report to {}", path.display()))?,
        None => print!("{text}"),
    }
    if let (Some(path), Some(first)) = (&args.plot, reports.first()) {
        plot::write_heatmap(first, path)?;
        eprintln!("covergenre-eval: heatmap written to {}", path.display());
    }
    if let (Some(path), Some(first)) = (&args.plot_calibration, reports.first()) {
        plot::write_reliability(first, path)?;
        eprintln!(
            "covergenre-eval: reliability diagram written to {}",
            path.display()
        );
    }
    Ok(())
}

/// 1 when any model misses a bar (each miss named on stderr), else 3 when covers failed, else 0.
fn exit_code(args: &Args, reports: &[EvalReport]) -> i32 {
    let bars = &args.fail_under;
    let mut gate_failed = false;
    for report in reports {
        for failure in gate_failures(&report.summary, bars) {
            eprintln!(
                "covergenre-eval: gate failed for {}: {failure}",
                report.model
            );
            gate_failed = true;
        }
    }
    if gate_failed {
        exit::GATE_FAILED
    } else if reports.iter().any(|r| !r.failures.is_empty()) {
        exit::SOME_FILES_FAILED
    } else {
        exit::SUCCESS
    }
}
