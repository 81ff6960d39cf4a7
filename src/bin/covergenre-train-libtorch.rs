//! The trainer behind `covergenre-train` (the launcher, which checks that libtorch is installed
//! first): look at a dataset (`--inspect`) or train a model on it. Parses arguments
//! ([`covergenre::cli::train`]), makes one library call, maps the outcome to an exit code.

use anyhow::{anyhow, Result};
use clap::Parser;
use covergenre::cli::{self, train::Args, train::OutputFormat};
use covergenre::data::base_outputs::{cached_count, BaseOutputCache};
use covergenre::data::discover::{discover, DiscoverOptions};
use covergenre::data::{Dataset, ImageCache};
use covergenre::exit;
use covergenre::report::inspect::{BaseOutputsCached, InspectReport};
use covergenre::train::config::{variant_listing, variant_specs_json, TrainConfig};
use std::path::{Path, PathBuf};

/// jemalloc for the whole process, libtorch included (its `malloc` is exported, see
/// Cargo.toml): with glibc, every activation over 32 MB (the study's `baseline` at batch 32 has
/// several) was mapped fresh and zeroed by the kernel at every step.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read before `main`: the pages a training step frees are kept for the
/// next step, never handed back to the kernel (with its default 10 s decay, training was slower
/// than with glibc). The process holds its peak working set until it ends.
#[allow(non_upper_case_globals)]
#[unsafe(export_name = "malloc_conf")]
pub static malloc_conf: Option<&std::ffi::c_char> =
    // SAFETY: a pointer to the first byte of a static NUL-terminated string.
    Some(unsafe { &*c"dirty_decay_ms:-1,muzzy_decay_ms:-1".as_ptr() });

fn main() {
    let args = Args::parse();
    let code = if let Some(what) = args.generate {
        cli::generate::print::<Args>(what)
    } else if args.train.list_variants {
        list_variants(args.format)
    } else if let Some(checkpoint) = &args.export {
        run_export(checkpoint, args.train.out.as_deref())
    } else if !args.ensemble.is_empty() {
        run_ensemble(&args.ensemble, args.train.out.as_deref())
    } else if args.inspect {
        run_inspect(&args)
    } else {
        run_training(&args)
    };
    cli::finish(code, "covergenre-train: ");
}

/// [`exit::SOME_FILES_FAILED`] when files were skipped, else [`exit::SUCCESS`].
fn code(skipped: usize) -> i32 {
    if skipped == 0 {
        exit::SUCCESS
    } else {
        exit::SOME_FILES_FAILED
    }
}

fn list_variants(format: OutputFormat) -> Result<i32> {
    match format {
        OutputFormat::Table => print!("{}", variant_listing()),
        OutputFormat::Json => println!("{}", variant_specs_json()?),
    }
    Ok(exit::SUCCESS)
}

fn run_export(checkpoint: &Path, out: Option<&Path>) -> Result<i32> {
    let out =
        out.ok_or_else(|| anyhow!("--export needs --out FILE.onnx: where to write the model"))?;
    let report = covergenre::train::export::export_checkpoint(checkpoint, out)?;
    println!("wrote {} ({report})", out.display());
    Ok(exit::SUCCESS)
}

fn run_ensemble(members: &[PathBuf], out: Option<&Path>) -> Result<i32> {
    let out =
        out.ok_or_else(|| anyhow!("--ensemble needs --out FILE.onnx: where to write the model"))?;
    covergenre::export::ensemble::write_ensemble(members, out)?;
    println!("wrote {} ({} members)", out.display(), members.len());
    Ok(exit::SUCCESS)
}

fn run_inspect(args: &Args) -> Result<i32> {
    let options = DiscoverOptions {
        seed: args.seed,
        library: args.library_options()?,
        ..DiscoverOptions::default()
    };
    let dataset = discover(data_path(args), &options)?;
    let mut report = InspectReport::from_dataset(&dataset);
    if dataset.library.is_some() {
        report.base_outputs = Some(base_outputs_cached(args, &dataset)?);
    }
    match args.format {
        OutputFormat::Table => print!("{}", report.to_table()),
        OutputFormat::Json => println!("{}", report.to_json()),
    }
    Ok(code(report.skipped.len()))
}

/// How many of a library's labelled covers the base-output cache holds for the base model
/// (`--base`, or the shipped one).
fn base_outputs_cached(args: &Args, dataset: &Dataset) -> Result<BaseOutputsCached> {
    let (bytes, base) = match &args.train.base {
        Some(path) => (
            std::fs::read(path)
                .map_err(|e| anyhow!("--base {}: cannot read it: {e}", path.display()))?,
            path.display().to_string(),
        ),
        None => (
            covergenre::infer::shipped_model_bytes().to_vec(),
            covergenre::infer::SHIPPED_MODEL_NAME.to_string(),
        ),
    };
    let images = args
        .train
        .cache_dir
        .clone()
        .unwrap_or_else(ImageCache::default_dir);
    let cache = BaseOutputCache::new(Some(&images), &bytes, &base);
    let samples: Vec<_> = dataset.splits.values().flatten().cloned().collect();
    Ok(BaseOutputsCached {
        base,
        cached: cached_count(&samples, &cache),
        covers: samples.len(),
        folder: cache.dir().map(Path::to_path_buf).unwrap_or_default(),
    })
}

/// Clap guarantees --data unless --list-variants, which returns before this is needed.
fn data_path(args: &Args) -> &Path {
    args.data.as_deref().unwrap_or(Path::new("."))
}

fn run_training(args: &Args) -> Result<i32> {
    let options = args.train.options();
    let config = TrainConfig::from_options(
        data_path(args).to_path_buf(),
        args.seed,
        args.library_options()?,
        &options,
    )?;
    let summary = covergenre::train::session::run(&config)?;
    if config.from_base.is_some() {
        let best = config.out.join("best");
        println!(
            "learned from the base model -> {} (card: {})",
            best.join("model.onnx").display(),
            best.join("card.md").display()
        );
        return Ok(code(summary.skipped.len()));
    }
    print!("{}", summary.ranking_table());
    if let Some(winner) = &summary.winner {
        println!(
            "winner: {} run {} -> {}",
            winner.variant,
            winner.run,
            config.out.join("best").display()
        );
    }
    Ok(code(summary.skipped.len()))
}
