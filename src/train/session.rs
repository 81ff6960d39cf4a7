//! A whole training session: every variant, every run, then the curves, the ranking, the
//! summary and the winner. Run folder layout:
//!
//! ```text
//! <out>/config.json                      every setting (effective specs included)
//! <out>/<variant>/run-<k>/log.csv        per-epoch train/dev loss, accuracy, macro-F1, ...
//! <out>/<variant>/run-<k>/checkpoint.safetensors   weights + optimiser + state (resume)
//! <out>/<variant>/run-<k>/checkpoint.json          the state, readable
//! <out>/<variant>/run-<k>/best.safetensors         weights of the best dev macro-F1 epoch
//! <out>/<variant>/curves.png             loss / accuracy / macro-F1 per epoch, runs overlaid
//! <out>/summary.json                     per-variant runs, mean and std; the winner
//! <out>/ranking.md                       the ranking table
//! <out>/best/                            the winner: model.safetensors, spec.json, genres.json
//! ```

use super::config::TrainConfig;
use super::curves::plot_curves;
use super::fit::{fit, ImageSet, RunSettings};
use super::summary::{RunSummary, Summary, VariantSummary};
use crate::data::cache::ImageCache;
use crate::data::decode::DecodeLimits;
use crate::data::discover::{discover, DiscoverOptions};
use crate::data::split::stratified_holdout;
use crate::data::{load_samples, Dataset, Sample, Skipped, Split};
use crate::genres::GenreSet;
use crate::spec::{ModelSpec, TrainOn};
use crate::util::write_atomic;
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The images one variant trains and selects on.
#[derive(Debug, Clone)]
pub struct VariantData {
    pub genres: GenreSet,
    pub train: ImageSet,
    pub select: ImageSet,
    /// What `select` is, for the ranking ("dev" or "10% of train held back").
    pub selected_on: String,
    pub skipped: Vec<Skipped>,
}

/// Trains everything `config` asks for on the dataset at `config.data`.
pub fn run(config: &TrainConfig) -> Result<Summary> {
    let options = DiscoverOptions {
        seed: config.seed,
        ..DiscoverOptions::default()
    };
    let dataset = discover(&config.data, &options)?;
    if dataset.split(Split::Train).is_empty() {
        bail!("--data {}: no training covers found", config.data.display());
    }
    let cache = ImageCache::new(Some(
        config
            .cache_dir
            .clone()
            .unwrap_or_else(ImageCache::default_dir),
    ));
    let mut loader = DatasetLoader {
        dataset: &dataset,
        cache: &cache,
        seed: config.seed,
    };
    train_variants(config, |spec| loader.load(spec))
}

struct DatasetLoader<'a> {
    dataset: &'a Dataset,
    cache: &'a ImageCache,
    seed: u64,
}

impl DatasetLoader<'_> {
    fn load(&mut self, spec: &ModelSpec) -> Result<VariantData> {
        let train = self.dataset.split(Split::Train);
        let dev = self.dataset.split(Split::Dev);
        let (fit_on, select_on, selected_on) = match spec.train_on {
            TrainOn::Train => (train.to_vec(), dev.to_vec(), "dev".to_string()),
            TrainOn::TrainPlusDev { holdout_fraction } => {
                // The same seeded slice for every run and variant, so they compete on equal terms.
                let (kept, held) = stratified_holdout(train, holdout_fraction, self.seed);
                let mut fit_on = kept;
                fit_on.extend_from_slice(dev);
                let label = format!("{:.0}% of train held back", holdout_fraction * 100.0);
                (fit_on, held, label)
            }
        };
        let mut skipped = Vec::new();
        let train = self.images(&fit_on, spec, "train", &mut skipped);
        let select = self.images(&select_on, spec, "dev", &mut skipped);
        Ok(VariantData {
            genres: self.dataset.genres.clone(),
            train,
            select,
            selected_on,
            skipped,
        })
    }

    fn images(
        &self,
        samples: &[Sample],
        spec: &ModelSpec,
        label: &str,
        skipped: &mut Vec<Skipped>,
    ) -> ImageSet {
        let pre = &spec.preprocess;
        let loaded = load_samples(samples, pre, self.cache, &DecodeLimits::default(), label);
        for bad in &loaded.skipped {
            eprintln!("skipped {}: {}", bad.path.display(), bad.reason);
        }
        skipped.extend(loaded.skipped);
        ImageSet {
            pixels: loaded.pixels,
            labels: loaded.labels,
            height: pre.height as usize,
            width: pre.width as usize,
        }
    }
}

/// Trains every variant and run of `config` on the images `load` gives for each spec, then
/// writes the curves, summary, ranking and winner.
pub fn train_variants(
    config: &TrainConfig,
    mut load: impl FnMut(&ModelSpec) -> Result<VariantData>,
) -> Result<Summary> {
    if let Some(threads) = config.threads {
        tch::set_num_threads(threads as i32);
    }
    let device = config.device.resolve()?;
    std::fs::create_dir_all(&config.out)
        .with_context(|| format!("cannot create --out {}", config.out.display()))?;
    write_atomic(
        &config.out.join("config.json"),
        &serde_json::to_vec_pretty(config)?,
    )?;

    let mut variants = Vec::new();
    let mut skipped: Vec<Skipped> = Vec::new();
    let mut genres = None;
    // Variants with the same input size share decoded images.
    let mut loaded: HashMap<String, VariantData> = HashMap::new();
    for spec in &config.variants {
        let key = format!("{:?}/{:?}", spec.preprocess, spec.train_on);
        if !loaded.contains_key(&key) {
            let data = load(spec)?;
            for s in &data.skipped {
                if !skipped.iter().any(|k| k.path == s.path) {
                    skipped.push(s.clone());
                }
            }
            loaded.insert(key.clone(), data);
        }
        let data = &loaded[&key];
        genres.get_or_insert_with(|| data.genres.clone());
        variants.push(train_variant(config, spec, data, device)?);
    }
    let summary = Summary::new(variants, skipped);
    finish(config, &summary, genres.as_ref())?;
    Ok(summary)
}

fn train_variant(
    config: &TrainConfig,
    spec: &ModelSpec,
    data: &VariantData,
    device: tch::Device,
) -> Result<VariantSummary> {
    let variant_dir = config.out.join(&spec.name);
    let mut runs = Vec::new();
    let mut histories = Vec::new();
    for run in 1..=config.runs {
        let settings = RunSettings {
            seed: config.run_seed(run),
            device,
            dir: run_dir(&config.out, &spec.name, run),
            resume: config.resume,
            halt_after_epochs: None,
            label: format!("{} run {run}/{}", spec.name, config.runs),
        };
        let outcome = fit(
            spec,
            data.genres.len(),
            &data.train,
            &data.select,
            &settings,
        )?;
        runs.push(RunSummary::from_outcome(run, settings.seed, &outcome));
        histories.push(outcome.history);
    }
    let curves = variant_dir.join("curves.png");
    if let Err(error) = plot_curves(&curves, &spec.name, &histories) {
        // A missing plot must not throw away hours of training.
        eprintln!("warning: cannot draw {}: {error:#}", curves.display());
    }
    Ok(VariantSummary::new(spec, &data.selected_on, runs))
}

/// `<out>/<variant>/run-<k>`.
pub fn run_dir(out: &Path, variant: &str, run: usize) -> PathBuf {
    out.join(variant).join(format!("run-{run}"))
}

fn finish(config: &TrainConfig, summary: &Summary, genres: Option<&GenreSet>) -> Result<()> {
    write_atomic(
        &config.out.join("summary.json"),
        &serde_json::to_vec_pretty(summary)?,
    )?;
    write_atomic(
        &config.out.join("ranking.md"),
        summary.ranking_markdown().as_bytes(),
    )?;
    if let (Some(winner), Some(genres)) = (&summary.winner, genres) {
        let spec = config
            .variants
            .iter()
            .find(|s| s.name == winner.variant)
            .context("the winner is not among the configured variants")?;
        let weights =
            run_dir(&config.out, &winner.variant, winner.run).join(super::fit::BEST_WEIGHTS);
        save_winner(&config.out.join("best"), spec, genres, &weights)?;
    }
    Ok(())
}

/// The seam to the ONNX export: today the winner is saved as safetensors with its spec and
/// genre list (everything the exporter needs); `export::export_model` turns these into
/// `model.onnx` once it lands.
pub fn save_winner(dir: &Path, spec: &ModelSpec, genres: &GenreSet, weights: &Path) -> Result<()> {
    let bytes = std::fs::read(weights)
        .with_context(|| format!("cannot read the winner's weights {}", weights.display()))?;
    write_atomic(&dir.join("model.safetensors"), &bytes)?;
    write_atomic(&dir.join("spec.json"), &serde_json::to_vec_pretty(spec)?)?;
    write_atomic(
        &dir.join("genres.json"),
        &serde_json::to_vec_pretty(&genres.slugs())?,
    )?;
    Ok(())
}
