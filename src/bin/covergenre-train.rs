//! `covergenre-train`: look at a dataset (`--inspect`) or train a model on it. Parses
//! arguments, calls the library and maps errors to exit codes; nothing else.

use clap::{Parser, ValueEnum};
use covergenre::data::discover::{discover, DiscoverOptions};
use covergenre::data::inspect::InspectReport;
use covergenre::exit;
use covergenre::train::config::{variant_listing, TrainArgs, TrainConfig};
use std::path::PathBuf;

const EXAMPLES: &str = "\
EXAMPLES:
  # What is in a dataset: layout, covers per split and genre, skipped files
  covergenre-train --data ../shared/data/covers-v1 --inspect

  # The same as JSON, for scripts
  covergenre-train --data ../shared/data/covers-v1 --inspect --format json

  # A CSV manifest (path,genre[,split]); missing splits are made with --seed
  covergenre-train --data covers.csv --inspect --seed 7

  # The built-in variants, one line each
  covergenre-train --list-variants

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

EXIT CODES:
  0 success, 2 bad arguments or no usable dataset, 3 finished but some files were skipped";

/// Train a cover-art genre classifier, or inspect a dataset.
#[derive(Debug, Parser)]
#[command(name = "covergenre-train", version, after_help = EXAMPLES)]
struct Args {
    /// Dataset: a folder (genre folders, train/dev/test folders, or the study's
    /// images + y_<split>.npy layout) or a CSV manifest with path,genre[,split] columns.
    #[arg(long, value_name = "DIR", required_unless_present_any = ["list_variants", "export", "ensemble"])]
    data: Option<PathBuf>,

    /// Print the layout found, per-split per-genre counts and skipped files; train nothing.
    #[arg(long)]
    inspect: bool,

    /// Output format of --inspect.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    format: OutputFormat,

    /// Seed for generated splits (and, when training, everything random).
    #[arg(long, default_value_t = 42)]
    seed: u64,

    /// Export this checkpoint (*.safetensors, with checkpoint.json or spec.json + genres.json
    /// beside it) to the ONNX file given by --out, after checking it against the tch model.
    #[arg(long, value_name = "CHECKPOINT", conflicts_with = "inspect")]
    export: Option<PathBuf>,

    /// Write one ONNX model (to --out) that runs these models (ONNX files, or run folders
    /// holding best/model.onnx) from the one image input and averages their probabilities.
    /// They must share genres, resize filter and normalisation; a smaller input is resized
    /// inside the graph.
    #[arg(long, value_name = "MODEL", num_args = 2.., conflicts_with_all = ["inspect", "export"])]
    ensemble: Vec<PathBuf>,

    #[command(flatten)]
    train: TrainArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    Table,
    Json,
}

fn main() {
    let args = Args::parse();
    let code = if args.train.list_variants {
        print!("{}", variant_listing());
        Ok(exit::SUCCESS)
    } else if let Some(checkpoint) = &args.export {
        run_export(checkpoint, args.train.out.as_deref())
    } else if !args.ensemble.is_empty() {
        run_ensemble(&args.ensemble, args.train.out.as_deref())
    } else if args.inspect {
        run_inspect(&args)
    } else {
        run_training(&args)
    };
    std::process::exit(code.unwrap_or_else(|error| {
        eprintln!("covergenre-train: {error:#}");
        exit::FATAL
    }));
}

fn discover_options(args: &Args) -> DiscoverOptions {
    DiscoverOptions {
        seed: args.seed,
        ..DiscoverOptions::default()
    }
}

fn run_export(checkpoint: &std::path::Path, out: Option<&std::path::Path>) -> anyhow::Result<i32> {
    let out = out.ok_or_else(|| {
        anyhow::anyhow!("--export needs --out FILE.onnx: where to write the model")
    })?;
    let report = covergenre::train::export::export_checkpoint(checkpoint, out)?;
    println!("wrote {} ({report})", out.display());
    Ok(exit::SUCCESS)
}

fn run_ensemble(members: &[PathBuf], out: Option<&std::path::Path>) -> anyhow::Result<i32> {
    let out = out.ok_or_else(|| {
        anyhow::anyhow!("--ensemble needs --out FILE.onnx: where to write the model")
    })?;
    covergenre::export::ensemble::write_ensemble(members, out)?;
    println!("wrote {} ({} members)", out.display(), members.len());
    Ok(exit::SUCCESS)
}

fn run_inspect(args: &Args) -> anyhow::Result<i32> {
    let dataset = discover(data_path(args), &discover_options(args))?;
    let report = InspectReport::from_dataset(&dataset);
    match args.format {
        OutputFormat::Table => print!("{}", report.to_table()),
        OutputFormat::Json => println!("{}", report.to_json()),
    }
    Ok(if report.skipped.is_empty() {
        exit::SUCCESS
    } else {
        exit::SOME_FILES_FAILED
    })
}

/// Clap guarantees --data unless --list-variants, which returns before this is needed.
fn data_path(args: &Args) -> &std::path::Path {
    args.data.as_deref().unwrap_or(std::path::Path::new("."))
}

fn run_training(args: &Args) -> anyhow::Result<i32> {
    let config = TrainConfig::from_args(data_path(args).to_path_buf(), args.seed, &args.train)?;
    let summary = covergenre::train::session::run(&config)?;
    print!("{}", summary.ranking_table());
    if let Some(winner) = &summary.winner {
        println!(
            "winner: {} run {} -> {}",
            winner.variant,
            winner.run,
            config.out.join("best").display()
        );
    }
    Ok(if summary.skipped.is_empty() {
        exit::SUCCESS
    } else {
        exit::SOME_FILES_FAILED
    })
}
