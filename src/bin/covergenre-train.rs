//! `covergenre-train`: look at a dataset (`--inspect`) or train a model on it. Parses
//! arguments, calls the library and maps errors to exit codes; nothing else.

use clap::{Parser, ValueEnum};
use covergenre::data::discover::{discover, DiscoverOptions};
use covergenre::data::inspect::InspectReport;
use covergenre::exit;
use std::path::PathBuf;

const EXAMPLES: &str = "\
EXAMPLES:
  # What is in a dataset: layout, covers per split and genre, skipped files
  covergenre-train --data ../shared/data/covers-v1 --inspect

  # The same as JSON, for scripts
  covergenre-train --data ../shared/data/covers-v1 --inspect --format json

  # A CSV manifest (path,genre[,split]); missing splits are made with --seed
  covergenre-train --data covers.csv --inspect --seed 7

  # Export a checkpoint to ONNX (spec and genres read from the JSON beside it), parity-checked
  covergenre-train --export runs/best/model.safetensors --out covergenre.onnx

EXIT CODES:
  0 success, 2 bad arguments or no usable dataset, 3 finished but some files were skipped";

/// Train a cover-art genre classifier, or inspect a dataset.
#[derive(Debug, Parser)]
#[command(name = "covergenre-train", version, after_help = EXAMPLES)]
struct Args {
    /// Dataset: a folder (genre folders, train/dev/test folders, or the study's
    /// images + y_<split>.npy layout) or a CSV manifest with path,genre[,split] columns.
    #[arg(long, value_name = "DIR", required_unless_present = "export")]
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
    #[arg(
        long,
        value_name = "CHECKPOINT",
        requires = "out",
        conflicts_with = "inspect"
    )]
    export: Option<PathBuf>,

    /// Output: the ONNX file written by --export.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    Table,
    Json,
}

fn main() {
    let args = Args::parse();
    let code = if let Some(checkpoint) = &args.export {
        run_export(
            checkpoint,
            args.out.as_deref().expect("clap requires --out"),
        )
    } else if args.inspect {
        run_inspect(&args)
    } else {
        eprintln!("covergenre-train: training is not available in this build yet; use --inspect");
        Ok(exit::FATAL)
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

#[cfg(feature = "train")]
fn run_export(checkpoint: &std::path::Path, out: &std::path::Path) -> anyhow::Result<i32> {
    let report = covergenre::export::export_checkpoint(checkpoint, out)?;
    println!("wrote {} ({report})", out.display());
    Ok(exit::SUCCESS)
}

#[cfg(not(feature = "train"))]
fn run_export(_checkpoint: &std::path::Path, _out: &std::path::Path) -> anyhow::Result<i32> {
    anyhow::bail!("--export needs libtorch: rebuild with `cargo build --features train`")
}

fn run_inspect(args: &Args) -> anyhow::Result<i32> {
    let data = args.data.as_deref().expect("clap requires --data");
    let dataset = discover(data, &discover_options(args))?;
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
