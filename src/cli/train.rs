//! `covergenre-train`'s command line and its mapping to [`TrainOptions`].

use crate::audio::fields::Field;
use crate::data::library::LibraryOptions;
use crate::spec::Distill;
use crate::train::config::{DeviceChoice, PrecisionChoice, TrainOptions};
use clap::{Parser, ValueEnum};
use std::path::PathBuf;

const EXAMPLES: &str = "\
EXAMPLES:
  # What is in a dataset: layout, covers per split and genre, skipped files
  covergenre-train --data ../shared/data/covers-v1 --inspect

  # A music library: the genres its albums carry (spellings folded), unlabelled albums, ties
  covergenre-train --data ~/Music --inspect --genre-map genres.json --min-albums 5

  # Learn the owner's genres from the library, then tag the rest in the same words: a head on
  # the shipped model's outputs (cached, so a retrain after tagging more albums takes seconds)
  covergenre-train --data ~/Music --out runs/my-library
  covergenre-classify --model runs/my-library/best/model.onnx --library --tag ~/Music

  # The same from another covergenre model; or today's ImageNet recipe instead
  covergenre-train --data ~/Music --base models/effnet-lite0.onnx --out runs/from-lite0
  covergenre-train --data ~/Music --variants effnet-lite0 --out runs/imagenet

  # The same as JSON, for scripts
  covergenre-train --data ../shared/data/covers-v1 --inspect --format json

  # A CSV manifest (path,genre[,split]); missing splits are made with --seed
  covergenre-train --data covers.csv --inspect --seed 7

  # The built-in variants, one line each
  covergenre-train --list-variants

  # Change a recipe without rebuilding: write the built-in specs out, keep and edit one
  # (its \"name\" names the run folder), train it
  covergenre-train --list-variants --format json > variants.json
  covergenre-train --data ../shared/data/covers-v1 --variants my-recipe.json --out runs/mine

  # Train the study's baseline and our compact model, 5 runs each, on 2 CPU threads
  covergenre-train --data ../shared/data/covers-v1 --variants baseline,compact --runs 5 \
      --threads 2 --out runs/2026-11-25

  # A quick look: every variant, 2 epochs, bigger batches
  covergenre-train --data ../shared/data/covers-v1 --variants all --epochs 2 --batch-size 64 --out runs/smoke

  # Train in float32 even where bf16 mixed precision would be picked (the default is auto)
  covergenre-train --data ../shared/data/covers-v1 --variants baseline --precision fp32 --out runs/fp32

  # Continue a run that was killed (same command line plus --resume)
  covergenre-train --data ../shared/data/covers-v1 --variants baseline,compact --runs 5 \
      --threads 2 --out runs/2026-11-25 --resume

  # Export a checkpoint to ONNX (spec and genres read from the JSON beside it), parity-checked
  covergenre-train --export runs/2026-11-25/best/model.safetensors --out covergenre.onnx

  # One model averaging two trained runs (same genres and input size), e.g. two seeds
  covergenre-train --ensemble runs/seed42 runs/seed43 --out ensemble.onnx

  # Cache 4 views of each cover (as is, mirrored, 2 random crops with colour jitter) and
  # distil an ensemble into one Lite0: its outputs on those views join the labels in the loss
  covergenre-train --ensemble models/effnet-lite0.onnx models/covergenre.onnx --out teacher.onnx
  covergenre-train --data ../shared/data/covers-v1 --variants effnet-lite0 --views 4 \
      --teacher teacher.onnx --distill-temperature 2 --distill-weight 0.5 --out runs/distil

EXIT CODES:
  0 success, 2 bad arguments or no usable dataset, 3 finished but some files were skipped";

/// Train a cover-art genre classifier, or inspect a dataset.
#[derive(Debug, Parser)]
#[command(name = "covergenre-train", version, after_help = EXAMPLES)]
pub struct Args {
    /// Dataset: a folder (genre folders, train/dev/test folders, or the study's
    /// images + y_SPLIT.npy layout), a CSV manifest with path,genre (and split) columns, or a
    /// music library (a folder of albums: one cover per album, labelled by its tracks' genre).
    #[arg(long, value_name = "DIR", required_unless_present_any = ["list_variants", "export", "ensemble"])]
    pub data: Option<PathBuf>,

    /// Print the layout found, per-split per-genre counts and skipped files; train nothing.
    #[arg(long)]
    pub inspect: bool,

    /// Output format of --inspect and --list-variants (json: the built-in specs, which
    /// --variants reads back from a .json file).
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,

    /// Seed for generated splits (and, when training, everything random).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    /// Music library: read the owner's genres from this field (ID3 TXXX, Vorbis comment, M4A
    /// freeform atom) instead of the standard genre field.
    #[arg(long, value_name = "NAME")]
    pub field: Option<String>,

    /// Music library: merge or drop genre values, from a JSON object such as
    /// {"Alternative Rock": "Rock", "Audiobook": null} (keys match in any spelling).
    #[arg(long, value_name = "FILE.json")]
    pub genre_map: Option<PathBuf>,

    /// Music library: genres with fewer albums are left out (listed by --inspect).
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub min_albums: u32,

    /// Export this checkpoint (*.safetensors, with checkpoint.json or spec.json + genres.json
    /// beside it) to the ONNX file given by --out, after checking it against the tch model.
    #[arg(long, value_name = "CHECKPOINT", conflicts_with = "inspect")]
    pub export: Option<PathBuf>,

    /// Write one ONNX model (to --out) that runs these models (ONNX files, or run folders
    /// holding best/model.onnx) from the one image input and averages their probabilities.
    /// They must share genres, resize filter and normalisation; a smaller input is resized
    /// inside the graph.
    #[arg(long, value_name = "MODEL", num_args = 2.., conflicts_with_all = ["inspect", "export"])]
    pub ensemble: Vec<PathBuf>,

    /// Print this command's man page or a shell's completion script on stdout, and exit.
    #[arg(long, value_enum, value_name = "WHAT", exclusive = true)]
    pub generate: Option<crate::cli::generate::Generate>,
    #[command(flatten)]
    pub train: TrainArgs,
}

/// The training flags of `covergenre-train`.
#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    /// Print the built-in variants, one line each, and exit.
    #[arg(long)]
    pub list_variants: bool,

    /// Variants to train: comma-separated names, `all`, or spec files ending in .json (one
    /// spec, or an array as `--list-variants --format json` prints) [default: baseline; for
    /// a music library, the library recipe (see docs/library-learning.md)].
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub variants: Vec<String>,

    /// Run folder: config.json, logs, checkpoints, curves, summary.json, ranking.md, best/.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Repeat each variant N times with seeds seed, seed+1, ... and report mean and std.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub runs: usize,

    /// Override every variant's number of epochs (with --finetune-base: its epochs).
    #[arg(long, value_name = "N")]
    pub epochs: Option<usize>,

    /// Override every variant's batch size.
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,

    /// Override every variant's learning rate (with --finetune-base: its rate).
    #[arg(long, value_name = "LR", alias = "lr")]
    pub learning_rate: Option<f64>,

    /// Views of each training cover whose frozen backbone maps are cached, for every
    /// pretrained variant: 1 = the cover, 2 = and its mirror image (the specs' default), more
    /// = and random crops, flips and colour jitter of it. Costs N passes of the frozen layers
    /// over train and N times the cache's memory.
    #[arg(long, value_name = "N")]
    pub views: Option<usize>,

    /// Distil from this model (a covergenre ONNX model or ensemble whose genres include the
    /// training genres): its outputs on every cached view join the labels in the loss of
    /// every pretrained variant's cached phases.
    #[arg(long, value_name = "MODEL.onnx")]
    pub teacher: Option<PathBuf>,

    /// Distillation temperature T (with --teacher): both outputs are softened by T.
    #[arg(long, value_name = "T", default_value_t = Distill::DEFAULT_TEMPERATURE, requires = "teacher")]
    pub distill_temperature: f64,

    /// Share of the loss that is the teacher's term (with --teacher), in [0, 1]; the rest is
    /// cross-entropy with the labels.
    #[arg(long, value_name = "W", default_value_t = Distill::DEFAULT_WEIGHT, requires = "teacher")]
    pub distill_weight: f64,

    /// Where to train.
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,

    /// CPU threads for libtorch (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Arithmetic of the training steps. Selection on dev and the exported model are float32
    /// whatever this says.
    #[arg(long, value_enum, default_value_t = PrecisionArg::Auto)]
    pub precision: PrecisionArg,

    /// Continue the runs in --out from their last checkpoints (same command line).
    #[arg(long)]
    pub resume: bool,

    /// Folder for decoded images cached between runs (default: $COVERGENRE_CACHE_DIR or
    /// ~/.cache/covergenre/images); a base model's outputs per cover are cached in its
    /// base-outputs folder.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Music library: learn the owner's genres from this covergenre model's outputs
    /// [default: the shipped model]. Its genres are mapped to the owner's from the tagged
    /// albums (no genre map needed); genres it lacks are learned.
    #[arg(long, value_name = "MODEL.onnx")]
    pub base: Option<PathBuf>,

    /// Music library: also fine-tune the base model's last layers through the owner's head (a
    /// fourth recipe, chosen on dev like the others). Takes minutes where the head takes
    /// seconds; the base must be a model written from a spec (not an ensemble or an owner's
    /// model).
    #[arg(long)]
    pub finetune_base: bool,
}

/// `--format` of `--inspect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

/// `--device`, mapped onto [`DeviceChoice`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeviceArg {
    /// CUDA when libtorch sees a GPU, else CPU.
    Auto,
    Cpu,
    Cuda,
}

/// `--precision`, mapped onto [`PrecisionChoice`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrecisionArg {
    /// bf16 mixed precision on a CPU with native bfloat16 (AVX-512 BF16 or AMX), else fp32.
    Auto,
    /// float32 throughout.
    Fp32,
    /// bfloat16 convolutions and dense layers over float32 master weights (like autocast).
    Bf16,
}

impl Args {
    /// How a music library given as --data is read (a bad --field name is an error).
    pub fn library_options(&self) -> anyhow::Result<LibraryOptions> {
        Ok(LibraryOptions {
            field: match &self.field {
                Some(name) => Field::custom(name)?,
                None => Field::Standard,
            },
            genre_map: self.genre_map.clone(),
            min_albums: self.min_albums as usize,
        })
    }
}

impl TrainArgs {
    /// The library's training options for these flags (validated by
    /// [`crate::train::config::TrainConfig::from_options`]).
    pub fn options(&self) -> TrainOptions {
        TrainOptions {
            variants: self.variants.clone(),
            out: self.out.clone(),
            runs: self.runs,
            epochs: self.epochs,
            batch_size: self.batch_size,
            learning_rate: self.learning_rate,
            views: self.views,
            distill: self.teacher.as_ref().map(|teacher| Distill {
                teacher: teacher.clone(),
                temperature: self.distill_temperature,
                weight: self.distill_weight,
            }),
            device: match self.device {
                DeviceArg::Auto => DeviceChoice::Auto,
                DeviceArg::Cpu => DeviceChoice::Cpu,
                DeviceArg::Cuda => DeviceChoice::Cuda,
            },
            threads: self.threads,
            precision: match self.precision {
                PrecisionArg::Auto => PrecisionChoice::Auto,
                PrecisionArg::Fp32 => PrecisionChoice::Fp32,
                PrecisionArg::Bf16 => PrecisionChoice::Bf16,
            },
            resume: self.resume,
            cache_dir: self.cache_dir.clone(),
            command: command_line(),
            base: self.base.clone(),
            finetune_base: self.finetune_base,
        }
    }
}

/// The command line as given, with the program's own name rather than the launcher's path.
fn command_line() -> Vec<String> {
    let mut args: Vec<String> = std::env::args().collect();
    if let Some(first) = args.first_mut() {
        *first = "covergenre-train".into();
    }
    args
}
