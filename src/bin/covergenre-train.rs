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

EXIT CODES:
  0 success, 2 bad arguments or no usable dataset, 3 finished but some files were skipped";

/// Train a cover-art genre classifier, or inspect a dataset.
#[derive(Debug, Parser)]
#[command(name = "covergenre-train", version, after_help = EXAMPLES)]
struct Args {
    /// Dataset: a folder (genre folders, train/dev/test folders, or the study's
    /// images + y_<split>.npy layout) or a CSV manifest with path,genre[,split] columns.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,

    /// Print the layout found, per-split per-genre counts and skipped files; train nothing.
    #[arg(long)]
    inspect: bool,

    /// Output format of --inspect.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    format: OutputFormat,

    /// Seed for generated splits (and, when training, everything random).
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    Table,
    Json,
}

fn main() {
    let args = Args::parse();
    let code = if args.inspect {
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

fn run_inspect(args: &Args) -> anyhow::Result<i32> {
    let dataset = discover(&args.data, &discover_options(args))?;
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
