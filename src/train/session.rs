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
//! <out>/best/                            the winner: model.onnx (parity-checked, with the
//!                                        training data summary and dev/test metrics in its
//!                                        metadata; probabilities calibrated by a temperature
//!                                        fitted on dev), model.safetensors, spec.json, genres.json
//! ```

use super::build::Network;
use super::build::Precision;
use super::config::TrainConfig;
use super::export::{export_model, ParityReport};
use super::feature_cache::FeatureCaches;
use super::fit::evaluate;
use super::fit::{fit, RunOutcome};
use super::images::ImageSet;
use super::run::RunSettings;
use super::summary::{curve_points, run_summary};
use super::transfer::fit_transfer;
use crate::data::cache::ImageCache;
use crate::data::decode::DecodeLimits;
use crate::data::discover::{discover, DiscoverOptions};
use crate::data::split::stratified_holdout;
use crate::data::{load_samples, Dataset, Sample, Split};
use crate::evaluate::temperature::calibrate_model_file_on_images;
use crate::export::CheckpointInfo;
use crate::failure::Failure;
use crate::genres::GenreSet;
use crate::report::curves::plot_curves;
use crate::report::training::{SplitMetrics, Stage, Summary, VariantSummary, Winner};
use crate::spec::{ModelSpec, TrainOn};
use crate::util::write_atomic;
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The images one variant trains and selects on.
#[derive(Debug, Clone)]
pub struct VariantData {
    pub genres: GenreSet,
    pub train: ImageSet,
    pub select: ImageSet,
    /// What `select` is, for the ranking ("dev" or "10% of train held back").
    pub selected_on: String,
    pub skipped: Vec<Failure>,
}

/// Trains everything `config` asks for on the dataset at `config.data`.
pub fn run(config: &TrainConfig) -> Result<Summary> {
    let options = DiscoverOptions {
        seed: config.seed,
        library: config.library.clone(),
        ..DiscoverOptions::default()
    };
    let started = Instant::now();
    let dataset = discover(&config.data, &options)?;
    let discovered = stage(read_data_stage(&dataset), started);
    if dataset.split(Split::Train).is_empty() {
        bail!("--data {}: no training covers found", config.data.display());
    }
    let cache = ImageCache::new(Some(
        config
            .cache_dir
            .clone()
            .unwrap_or_else(ImageCache::default_dir),
    ));
    if let Some(recipe) = &config.from_base {
        let mut learned = super::learn::run(config, recipe, &dataset, &cache)?;
        learned.summary.stages.insert(0, discovered);
        super::card::write_card_with(
            config,
            &dataset,
            &learned.summary,
            (learned.dev.as_ref(), learned.test.as_ref()),
            Some(&learned.report),
        )?;
        write_summary(config, &learned.summary)?;
        return Ok(learned.summary);
    }
    let loader = std::cell::RefCell::new(DatasetLoader {
        dataset: &dataset,
        cache: &cache,
        seed: config.seed,
        decode_seconds: 0.0,
    });
    let held_out = HeldOut {
        training_data: Some(dataset.training_data_summary()),
        test: Some(Box::new(|spec: &ModelSpec| {
            loader.borrow().test_images(spec)
        })),
        select: Some(Box::new(|spec: &ModelSpec| {
            Ok(loader.borrow().select_images(spec))
        })),
    };
    let mut summary = train_and_test(config, |spec| loader.borrow_mut().load(spec), held_out)?;
    let decoded = loader.borrow().decode_seconds;
    summary.stages.insert(0, discovered);
    summary.stages.insert(
        1,
        Stage {
            name: "decode covers (cached for later runs)".into(),
            seconds: decoded,
        },
    );
    if let Some(training_stage) = summary.stages.iter_mut().find(|s| s.name == TRAIN_STAGE) {
        // Decoding happened inside the training loop's data loading; count it once.
        training_stage.seconds = (training_stage.seconds - decoded).max(0.0);
    }
    if summary.winner.is_some() {
        let started = Instant::now();
        super::card::write_card(config, &dataset, &summary)?;
        summary.stages.push(stage(
            "model card (dev and test, onnxruntime)".into(),
            started,
        ));
        write_summary(config, &summary)?;
    }
    Ok(summary)
}

/// The stage of finding the data: a library's tags, or a dataset's files.
fn read_data_stage(dataset: &Dataset) -> String {
    match dataset.library {
        Some(_) => "read the library (album folders, tags, covers)".into(),
        None => "find the dataset's files".into(),
    }
}

/// The stage of fitting the variants (the frozen backbone's cache is a stage of its own).
const TRAIN_STAGE: &str = "train (heads and fine-tuned layers)";

/// A stage named `name` that began at `started` and ends now.
fn stage(name: String, started: Instant) -> Stage {
    Stage {
        name,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// What the winner's export records besides its weights.
#[derive(Default)]
pub struct HeldOut<'a> {
    /// Summary of the training data (recorded as `training_data` in the model's metadata).
    pub training_data: Option<serde_json::Value>,
    /// Loads the test split for a spec; called once, for the winner, after selection.
    #[allow(clippy::type_complexity)]
    pub test: Option<Box<dyn FnOnce(&ModelSpec) -> Result<Option<ImageSet>> + 'a>>,
    /// Loads the selection covers (dev) for a spec; the winner's temperature is fitted on them.
    #[allow(clippy::type_complexity)]
    pub select: Option<Box<dyn FnOnce(&ModelSpec) -> Result<ImageSet> + 'a>>,
}

struct DatasetLoader<'a> {
    dataset: &'a Dataset,
    cache: &'a ImageCache,
    seed: u64,
    /// Seconds spent decoding (or fetching from the cache) so far.
    decode_seconds: f64,
}

impl DatasetLoader<'_> {
    /// The covers a spec trains on, the covers it is selected on, and what those are called.
    fn fit_and_select(&self, spec: &ModelSpec) -> (Vec<Sample>, Vec<Sample>, String) {
        let train = self.dataset.split(Split::Train);
        let dev = self.dataset.split(Split::Dev);
        match spec.train_on {
            TrainOn::Train => (train.to_vec(), dev.to_vec(), "dev".to_string()),
            TrainOn::TrainPlusDev { holdout_fraction } => {
                // The same seeded slice for every run and variant, so they compete on equal terms.
                let (kept, held) = stratified_holdout(train, holdout_fraction, self.seed);
                let mut fit_on = kept;
                fit_on.extend_from_slice(dev);
                let label = format!("{:.0}% of train held back", holdout_fraction * 100.0);
                (fit_on, held, label)
            }
        }
    }

    /// The selection covers of a spec (dev, or the held-back slice of train): the winner's
    /// temperature is fitted on them.
    fn select_images(&self, spec: &ModelSpec) -> ImageSet {
        let (_, select_on, _) = self.fit_and_select(spec);
        self.images(&select_on, spec, "dev", &mut Vec::new())
    }

    fn load(&mut self, spec: &ModelSpec) -> Result<VariantData> {
        let started = Instant::now();
        let (fit_on, select_on, selected_on) = self.fit_and_select(spec);
        let mut skipped = Vec::new();
        let train = self.images(&fit_on, spec, "train", &mut skipped);
        let select = self.images(&select_on, spec, "dev", &mut skipped);
        self.decode_seconds += started.elapsed().as_secs_f64();
        Ok(VariantData {
            genres: self.dataset.genres.clone(),
            train,
            select,
            selected_on,
            skipped,
        })
    }

    /// The test split at the spec's input size; `None` when the data has no test covers.
    fn test_images(&self, spec: &ModelSpec) -> Result<Option<ImageSet>> {
        let test = self.dataset.split(Split::Test);
        if test.is_empty() {
            return Ok(None);
        }
        let mut skipped = Vec::new();
        Ok(Some(self.images(test, spec, "test", &mut skipped)))
    }

    fn images(
        &self,
        samples: &[Sample],
        spec: &ModelSpec,
        label: &str,
        skipped: &mut Vec<Failure>,
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
    load: impl FnMut(&ModelSpec) -> Result<VariantData>,
) -> Result<Summary> {
    train_and_test(config, load, HeldOut::default())
}

/// [`train_variants`], then the winner is evaluated once on the test split (if `held_out`
/// has one) and exported with the training data summary and its dev and test metrics.
pub fn train_and_test(
    config: &TrainConfig,
    mut load: impl FnMut(&ModelSpec) -> Result<VariantData>,
    held_out: HeldOut<'_>,
) -> Result<Summary> {
    if let Some(threads) = config.threads {
        tch::set_num_threads(threads as i32);
    }
    let device = config.device.resolve()?;
    let precision = config.precision.resolve(device);
    if precision == Precision::Bf16 {
        eprintln!("training steps in bf16 mixed precision (--precision fp32 turns it off)");
    }
    std::fs::create_dir_all(&config.out)
        .with_context(|| format!("cannot create --out {}", config.out.display()))?;
    write_atomic(
        &config.out.join("config.json"),
        &serde_json::to_vec_pretty(config)?,
    )?;

    let mut variants = Vec::new();
    let mut skipped: Vec<Failure> = Vec::new();
    let mut genres = None;
    // Variants with the same input size share decoded images, and runs over the same frozen
    // backbone its cached activations.
    let mut loaded: HashMap<String, VariantData> = HashMap::new();
    let mut backbone_caches = FeatureCaches::default();
    let training = Instant::now();
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
        variants.push(train_variant(
            config,
            spec,
            data,
            device,
            precision,
            &mut backbone_caches,
        )?);
    }
    let mut summary = Summary::new(variants, skipped);
    let cached = backbone_caches.seconds();
    if backbone_caches.computed() > 0 {
        let name = match backbone_caches.teachers_computed() {
            0 => "frozen backbone activations (computed once)",
            _ => "frozen backbone activations and teacher outputs (computed once)",
        };
        summary.stages.push(Stage {
            name: name.into(),
            seconds: cached,
        });
    }
    summary.stages.push(Stage {
        name: TRAIN_STAGE.into(),
        seconds: (training.elapsed().as_secs_f64() - cached).max(0.0),
    });
    let exporting = Instant::now();
    finish(config, &mut summary, genres.as_ref(), held_out)?;
    summary.stages.push(stage(
        "export, parity check, calibration, test".into(),
        exporting,
    ));
    write_summary(config, &summary)?;
    Ok(summary)
}

/// `summary.json` (atomically).
fn write_summary(config: &TrainConfig, summary: &Summary) -> Result<()> {
    write_atomic(
        &config.out.join("summary.json"),
        &serde_json::to_vec_pretty(summary)?,
    )
}

fn train_variant(
    config: &TrainConfig,
    spec: &ModelSpec,
    data: &VariantData,
    device: tch::Device,
    precision: Precision,
    caches: &mut FeatureCaches,
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
            precision,
        };
        let outcome = fit_variant(spec, data, &settings, caches)?;
        record_genres(&settings.dir, &data.genres)?;
        runs.push(run_summary(run, settings.seed, &outcome));
        histories.push(curve_points(&outcome.history));
    }
    let curves = variant_dir.join("curves.png");
    if let Err(error) = plot_curves(&curves, &spec.name, &histories) {
        // A missing plot must not throw away hours of training.
        eprintln!("warning: cannot draw {}: {error:#}", curves.display());
    }
    Ok(VariantSummary::new(spec, &data.selected_on, runs))
}

/// One run: transfer learning for pretrained backbones, the plain loop otherwise.
fn fit_variant(
    spec: &ModelSpec,
    data: &VariantData,
    settings: &RunSettings,
    caches: &mut FeatureCaches,
) -> Result<RunOutcome> {
    let classes = data.genres.len();
    if spec.pretrained.is_none() {
        return fit(spec, classes, &data.train, &data.select, settings);
    }
    let backbone = super::pretrained::backbone_of(spec)?;
    let weights = super::pretrained::weights_path(backbone);
    if !weights.is_file() {
        bail!(
            "{} needs the {} weights at {} (run scripts/setup.sh, or set {})",
            spec.name,
            backbone.display_name(),
            weights.display(),
            super::pretrained::WEIGHTS_ENV
        );
    }
    let outcome = fit_transfer(
        spec,
        &data.genres,
        &data.train,
        &data.select,
        settings,
        Some(&weights),
        caches,
    )?;
    Ok(outcome.run)
}

/// `<out>/<variant>/run-<k>`.
pub fn run_dir(out: &Path, variant: &str, run: usize) -> PathBuf {
    out.join(variant).join(format!("run-{run}"))
}

/// Adds the genre slugs to a run's `checkpoint.json`, so the checkpoint exports on its own
/// (`covergenre-train --export <run>/checkpoint.safetensors`, see [`crate::export::CheckpointInfo`]).
fn record_genres(run_dir: &Path, genres: &GenreSet) -> Result<()> {
    let path = run_dir.join(super::checkpoint::CHECKPOINT_JSON);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut state: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let Some(object) = state.as_object_mut() else {
        bail!("{} is not a JSON object", path.display());
    };
    let (slugs, names) = CheckpointInfo::genres_of(genres);
    object.insert("genres".into(), serde_json::json!(slugs));
    if let Some(names) = names {
        object.insert("genre_names".into(), serde_json::json!(names));
    }
    write_atomic(&path, &serde_json::to_vec_pretty(&state)?)
}

fn finish(
    config: &TrainConfig,
    summary: &mut Summary,
    genres: Option<&GenreSet>,
    held_out: HeldOut<'_>,
) -> Result<()> {
    if let (Some(winner), Some(genres)) = (summary.winner.clone(), genres) {
        let spec = config
            .variants
            .iter()
            .find(|s| s.name == winner.variant)
            .context("the winner is not among the configured variants")?;
        let weights =
            run_dir(&config.out, &winner.variant, winner.run).join(super::fit::BEST_WEIGHTS);
        let test = match held_out.test {
            Some(load_test) => load_test(spec)?,
            None => None,
        };
        let select = match held_out.select {
            Some(load_select) => Some(load_select(spec)?),
            None => None,
        };
        let records = WinnerRecords {
            training_data: held_out.training_data,
            dev_metrics: winner_dev_metrics(summary, &winner),
            test: test.as_ref(),
            calibrate_on: select.as_ref().filter(|s| !s.is_empty()),
        };
        let saved = save_winner(&config.out.join("best"), spec, genres, &weights, &records)?;
        if let Some(w) = summary.winner.as_mut() {
            w.test = saved.test_metrics;
        }
    }
    write_atomic(
        &config.out.join("summary.json"),
        &serde_json::to_vec_pretty(summary)?,
    )?;
    write_atomic(
        &config.out.join("ranking.md"),
        summary.ranking_markdown().as_bytes(),
    )
}

/// The winning run's selection metrics (dev, or the held-back slice of train).
fn winner_dev_metrics(summary: &Summary, winner: &Winner) -> Option<serde_json::Value> {
    let variant = summary
        .variants
        .iter()
        .find(|v| v.variant == winner.variant)?;
    let run = variant.runs.iter().find(|r| r.run == winner.run)?;
    Some(serde_json::json!({
        "selected_on": variant.selected_on,
        "best_epoch": run.best_epoch,
        "accuracy": run.dev_accuracy,
        "balanced_accuracy": run.dev_balanced_accuracy,
        "macro_f1": run.dev_macro_f1,
    }))
}

/// What [`save_winner`] records beside the weights.
#[derive(Debug, Default)]
pub struct WinnerRecords<'a> {
    pub training_data: Option<serde_json::Value>,
    pub dev_metrics: Option<serde_json::Value>,
    /// Test covers: the winner is evaluated on them once, here, and nowhere else.
    pub test: Option<&'a ImageSet>,
    /// Selection (dev) covers: the exported model's temperature is fitted on them.
    pub calibrate_on: Option<&'a ImageSet>,
}

/// What [`save_winner`] wrote and measured.
#[derive(Debug, Clone)]
pub struct SavedWinner {
    pub parity: ParityReport,
    pub test_metrics: Option<SplitMetrics>,
}

/// Writes the winner to `dir`: `model.onnx` (exported whole, parity-checked against tch, with
/// the records in its metadata), `model.safetensors`, `spec.json` and `genres.json`.
pub fn save_winner(
    dir: &Path,
    spec: &ModelSpec,
    genres: &GenreSet,
    weights: &Path,
    records: &WinnerRecords<'_>,
) -> Result<SavedWinner> {
    let bytes = std::fs::read(weights)
        .with_context(|| format!("cannot read the winner's weights {}", weights.display()))?;
    write_atomic(&dir.join("model.safetensors"), &bytes)?;
    write_atomic(&dir.join("spec.json"), &serde_json::to_vec_pretty(spec)?)?;
    let (slugs, names) = CheckpointInfo::genres_of(genres);
    write_atomic(
        &dir.join("genres.json"),
        &serde_json::to_vec_pretty(&slugs)?,
    )?;
    if let Some(names) = &names {
        write_atomic(
            &dir.join(crate::export::GENRE_NAMES_FILE),
            &serde_json::to_vec_pretty(names)?,
        )?;
    }

    let _rng = super::rng_guard();
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let net = Network::new(&vs.root(), spec, genres.len())?;
    super::checkpoint::load_weights(weights, &vs)?;
    let test_metrics = records.test.map(|test| {
        let (images, labels) = test.to_tensors(tch::Device::Cpu);
        let evaluation = evaluate(&net, spec, &images, &labels, genres.len());
        SplitMetrics::from_confusion(&evaluation.confusion)
    });
    if let Some(m) = &test_metrics {
        eprintln!(
            "winner {} on test ({} covers, evaluated once): accuracy {:.3}, balanced accuracy {:.3}, macro-F1 {:.3}",
            spec.name, m.images, m.accuracy, m.balanced_accuracy, m.macro_f1
        );
    }
    let info = CheckpointInfo {
        spec: spec.clone(),
        genres: slugs,
        genre_names: names,
        training_data: records.training_data.clone(),
        dev_metrics: records.dev_metrics.clone(),
        test_metrics: test_metrics.map(|m| serde_json::json!(m)),
    };
    let onnx = dir.join("model.onnx");
    let parity = export_model(spec, genres, &vs, &info.metadata()?, &onnx)?;
    if let Some(select) = records.calibrate_on {
        // After the parity check, which compares the raw model with tch.
        let fit = calibrate_model_file_on_images(&onnx, &select.pixels, &select.labels)?;
        eprintln!(
            "{}: temperature {:.4} fitted on {} selection covers (log-loss {:.4} -> {:.4}); {}",
            onnx.display(),
            fit.temperature,
            fit.covers,
            fit.log_loss_before,
            fit.log_loss_after,
            fit.tag_threshold_line()
        );
    }
    Ok(SavedWinner {
        parity,
        test_metrics,
    })
}
