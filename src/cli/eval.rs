//! `covergenre-eval`'s command line and its mapping to [`EvalOptions`].

use crate::evaluate::command::EvalOptions;
use crate::evaluate::model::SplitChoice;
use crate::evaluate::EvalSettings;
use crate::infer::pipeline::PipelineOptions;
use crate::metrics::{parse_bar, Bar};
use crate::report::formats::Format;
use clap::{Parser, ValueEnum};
use std::path::PathBuf;

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
pub struct Args {
    /// The ONNX model to evaluate [default: the shipped model].
    #[arg(long, value_name = "FILE", conflicts_with = "compare")]
    pub model: Option<PathBuf>,
    /// Labelled covers, in any layout the data layer reads.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Which split to evaluate [default: test, or everything when the data has no splits].
    #[arg(long, value_enum)]
    pub split: Option<SplitArg>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    pub format: FormatArg,
    /// Write the report to FILE (atomically) instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Exit 1 when a metric is below its bar, e.g. `macro_f1=0.3,accuracy=0.4`. Metrics:
    /// accuracy, balanced_accuracy, macro_f1, weighted_f1, top3_accuracy.
    #[arg(long, value_name = "METRIC=VALUE[,...]", value_delimiter = ',', value_parser = parse_bar)]
    pub fail_under: Vec<Bar>,
    /// Draw the confusion matrix as a row-normalised heatmap PNG.
    #[arg(long, value_name = "FILE.png")]
    pub plot: Option<PathBuf>,
    /// Draw the reliability diagram (accuracy per confidence bin against the diagonal, with
    /// the expected calibration error) as a PNG.
    #[arg(long, value_name = "FILE.png")]
    pub plot_calibration: Option<PathBuf>,
    /// Write a review page: one self-contained HTML file with the confusion heat map (click a
    /// cell for its covers), per-genre metrics and every cover as a thumbnail (in FILE's stem
    /// + "-thumbs/" beside it). With --compare: the first model.
    #[arg(long, value_name = "FILE.html", conflicts_with = "predictions")]
    pub report: Option<PathBuf>,
    /// Several models side by side on the same covers, with paired bootstrap differences
    /// of each against the first.
    #[arg(long, value_name = "MODEL", num_args = 2..)]
    pub compare: Vec<PathBuf>,
    /// Evaluate a covergenre-classify CSV or JSONL file instead of running a model.
    #[arg(long, value_name = "FILE", conflicts_with = "compare")]
    pub predictions: Option<PathBuf>,
    /// List the N most confident wrong predictions.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub errors: usize,
    /// Decode threads (inference runs beside them).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Images per inference batch.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub batch_size: usize,
    /// Fit a temperature on the covers (the dev split unless --split says otherwise; never
    /// test) by minimising their log-loss, write the model with it baked in
    /// (probabilities = softmax(logits / T), `temperature` in its metadata) to FILE, and
    /// report on the calibrated model. Needs --model (FILE may be the same path).
    #[arg(long, value_name = "FILE", requires = "model", conflicts_with_all = ["compare", "predictions", "tta"])]
    pub calibrate_to: Option<PathBuf>,
    /// With --calibrate-to: first fit a post-hoc logit adjustment on the same covers: each
    /// genre's logit gets -tau x log(its share of the train split), tau (0 to 2) chosen for
    /// macro-F1, so small genres are predicted again; baked in and recorded as `logit_bias`.
    /// Unlike the temperature, it changes which genre ranks first.
    #[arg(long, requires = "calibrate_to")]
    pub adjust_logits: bool,
    /// Print this command's man page or a shell's completion script on stdout, and exit.
    #[arg(long, value_enum, value_name = "WHAT", exclusive = true)]
    pub generate: Option<crate::cli::generate::Generate>,
    /// Test-time augmentation: average each cover's probabilities with those of its mirror
    /// image (left-right flip), exactly as covergenre-classify --tta does.
    #[arg(long)]
    pub tta: bool,
}

/// `--split`, mapped onto [`SplitChoice`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SplitArg {
    Test,
    Dev,
    Train,
    All,
}

/// `--format`, mapped onto [`Format`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Table,
    Json,
    Csv,
    Markdown,
}

impl Args {
    /// The library's options for these arguments.
    pub fn options(self) -> EvalOptions {
        EvalOptions {
            model: self.model,
            data: self.data,
            split: self.split.map(SplitArg::choice),
            format: self.format.format(),
            output: self.output,
            fail_under: self.fail_under,
            plot: self.plot,
            plot_calibration: self.plot_calibration,
            report: self.report,
            compare: self.compare,
            predictions: self.predictions,
            calibrate_to: self.calibrate_to,
            adjust_logits: self.adjust_logits,
            settings: EvalSettings {
                pipeline: PipelineOptions {
                    threads: self.threads.unwrap_or(PipelineOptions::default().threads),
                    batch_size: self.batch_size.max(1),
                    strict: false,
                    tta: self.tta,
                },
                keep_errors: self.errors,
            },
        }
    }
}

impl SplitArg {
    fn choice(self) -> SplitChoice {
        match self {
            SplitArg::Test => SplitChoice::Test,
            SplitArg::Dev => SplitChoice::Dev,
            SplitArg::Train => SplitChoice::Train,
            SplitArg::All => SplitChoice::All,
        }
    }
}

impl FormatArg {
    fn format(self) -> Format {
        match self {
            FormatArg::Table => Format::Table,
            FormatArg::Json => Format::Json,
            FormatArg::Csv => Format::Csv,
            FormatArg::Markdown => Format::Markdown,
        }
    }
}
