//! The training loop for one run of one variant: batches, augmentation, loss, optimiser,
//! per-epoch selection metrics, early stopping, the log, checkpoints and resume.

use super::augment::augment;
use super::build::{normalise_float, Mode, Network};
use super::checkpoint;
use super::images::ImageSet;
use super::optim::Optimiser;
use super::run::{EpochRecord, RunSettings, RunState};
use super::seed::derive_seed;
use crate::metrics::Confusion;
use crate::spec::{ModelSpec, Schedule};
use crate::util::{progress, write_atomic_with};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{nn, Device, Kind, Reduction, Tensor};

pub const LOG_FILE: &str = "log.csv";
pub const BEST_WEIGHTS: &str = "best.safetensors";
/// Batch size for evaluation (no gradients, so larger than training batches).
pub(super) const EVAL_BATCH: i64 = 256;

/// What a run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub history: Vec<EpochRecord>,
    pub best: EpochRecord,
    pub stopped_early: bool,
    /// False when the run was halted (`halt_after_epochs`) before its last epoch.
    pub finished: bool,
    pub best_weights: PathBuf,
}

/// Trains `spec` on `train`, selecting on `select`, in `settings.dir`.
pub fn fit(
    spec: &ModelSpec,
    classes: usize,
    train: &ImageSet,
    select: &ImageSet,
    settings: &RunSettings,
) -> Result<RunOutcome> {
    validate(spec, train, select)?;
    let _rng = super::rng_guard();
    std::fs::create_dir_all(&settings.dir)
        .with_context(|| format!("cannot create {}", settings.dir.display()))?;

    tch::manual_seed(derive_seed(settings.seed, 0));
    let vs = nn::VarStore::new(settings.device);
    let net = Network::new(&vs.root(), spec, classes)?;
    let mut optimiser = Optimiser::new(&vs, &spec.optimiser);
    let mut state = initial_state(spec, classes, settings, &vs, &mut optimiser)?;

    let (train_x, train_y) = train.to_tensors(settings.device);
    let (select_x, select_y) = select.to_tensors(settings.device);
    let terms = ClassTerms::new(spec, &train.labels, classes, settings.device);
    let steps_per_epoch = train.len().div_ceil(spec.batch_size);

    while state.epochs_done < spec.epochs && !state.stopped_early {
        let epoch = state.epochs_done + 1;
        tch::manual_seed(derive_seed(settings.seed, epoch as u64));
        let started = Instant::now();
        let batch = Batches {
            spec,
            net: &net,
            terms: &terms,
            steps_per_epoch,
        };
        let trained = batch.train_epoch(&train_x, &train_y, &mut optimiser, settings, epoch)?;
        let train_seconds = started.elapsed().as_secs_f64();
        let selected = evaluate(&net, spec, &select_x, &select_y, classes);
        let record = EpochRecord {
            epoch,
            train_loss: trained.loss,
            train_accuracy: trained.confusion.accuracy(),
            train_macro_f1: trained.confusion.macro_f1(),
            dev_loss: selected.loss,
            dev_accuracy: selected.confusion.accuracy(),
            dev_macro_f1: selected.confusion.macro_f1(),
            dev_balanced_accuracy: selected.confusion.balanced_accuracy(),
            learning_rate: optimiser.learning_rate(),
            seconds: started.elapsed().as_secs_f64(),
            images_per_second: train.len() as f64 / train_seconds.max(1e-9),
            train_seconds,
            input_seconds: trained.input_seconds,
        };
        report_epoch(settings, spec, &record);
        end_epoch(&mut state, record, spec, settings, &vs, &optimiser)?;
        if settings.halt_after_epochs == Some(epoch) && epoch < spec.epochs {
            return outcome(&state, settings, false);
        }
    }
    outcome(&state, settings, true)
}

pub(crate) fn validate(spec: &ModelSpec, train: &ImageSet, select: &ImageSet) -> Result<()> {
    if spec.epochs == 0 {
        bail!("{}: epochs must be at least 1", spec.name);
    }
    if spec.batch_size == 0 {
        bail!("{}: batch size must be at least 1", spec.name);
    }
    if !(spec.optimiser.learning_rate > 0.0 && spec.optimiser.learning_rate.is_finite()) {
        bail!("{}: the learning rate must be a positive number", spec.name);
    }
    if train.is_empty() {
        bail!("{}: no training images", spec.name);
    }
    if select.is_empty() {
        bail!(
            "{}: no images to select on (dev or held-back train)",
            spec.name
        );
    }
    let (h, w) = (
        spec.preprocess.height as usize,
        spec.preprocess.width as usize,
    );
    for (what, set) in [("training", train), ("selection", select)] {
        if (set.height, set.width) != (h, w) || set.pixels.len() != set.len() * h * w * 3 {
            bail!(
                "{}: {what} images are {}x{} ({} bytes for {} images), the spec wants {h}x{w}",
                spec.name,
                set.height,
                set.width,
                set.pixels.len(),
                set.len()
            );
        }
    }
    Ok(())
}

/// A fresh state, or the checkpoint's when resuming (weights and optimiser restored).
fn initial_state(
    spec: &ModelSpec,
    classes: usize,
    settings: &RunSettings,
    vs: &nn::VarStore,
    optimiser: &mut Optimiser,
) -> Result<RunState> {
    let fresh = RunState::fresh(spec, classes, settings);
    let existing = checkpoint::load(&settings.dir)?;
    let Some(saved) = existing else {
        return Ok(fresh);
    };
    if !settings.resume {
        bail!(
            "{} already holds a checkpoint: pass --resume to continue it, or choose another --out",
            settings.dir.display()
        );
    }
    let this_experiment = (&fresh.spec, fresh.seed, fresh.classes, fresh.precision);
    let saved_experiment = (
        &saved.state.spec,
        saved.state.seed,
        saved.state.classes,
        saved.state.precision,
    );
    if saved_experiment != this_experiment {
        bail!(
            "cannot resume {}: its checkpoint was made with other settings (variant, overrides, \
             seed, precision or genres differ); use the same command line, or another --out",
            settings.dir.display()
        );
    }
    saved.restore(vs, optimiser)?;
    Ok(saved.state)
}

pub(crate) fn end_epoch(
    state: &mut RunState,
    record: EpochRecord,
    spec: &ModelSpec,
    settings: &RunSettings,
    vs: &nn::VarStore,
    optimiser: &Optimiser,
) -> Result<()> {
    let improved = state
        .best
        .as_ref()
        .is_none_or(|best| record.dev_macro_f1 > best.dev_macro_f1);
    if improved {
        checkpoint::save_weights(&settings.dir.join(BEST_WEIGHTS), vs)?;
        state.best = Some(record.clone());
        state.epochs_since_best = 0;
    } else {
        state.epochs_since_best += 1;
    }
    state.stopped_early = spec
        .early_stopping_patience
        .is_some_and(|patience| state.epochs_since_best >= patience);
    state.epochs_done = record.epoch;
    state.optimiser_steps = optimiser.steps();
    state.history.push(record);
    write_log(&settings.dir.join(LOG_FILE), &state.history)?;
    checkpoint::save(&settings.dir, vs, optimiser, state)
}

pub(crate) fn outcome(
    state: &RunState,
    settings: &RunSettings,
    finished: bool,
) -> Result<RunOutcome> {
    let best = state
        .best
        .clone()
        .context("the run ended before its first epoch")?;
    Ok(RunOutcome {
        history: state.history.clone(),
        best,
        stopped_early: state.stopped_early,
        finished,
        best_weights: settings.dir.join(BEST_WEIGHTS),
    })
}

/// Writes the whole log (it is small) atomically, so a kill never leaves half a line.
pub fn write_log(path: &Path, history: &[EpochRecord]) -> Result<()> {
    write_atomic_with(path, |w| {
        let mut csv = csv::Writer::from_writer(w);
        for record in history {
            csv.serialize(record)?;
        }
        csv.flush()?;
        Ok(())
    })
}

/// Reads a log written by [`write_log`].
pub fn read_log(path: &Path) -> Result<Vec<EpochRecord>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    reader
        .deserialize()
        .collect::<Result<_, _>>()
        .with_context(|| format!("bad log {}", path.display()))
}

/// sklearn's "balanced" weights, n / (k * n_c), over the k classes present; absent classes
/// (Folk in covers-v1) get 0 since they never appear as targets.
pub fn balanced_class_weights(labels: &[usize], classes: usize) -> Tensor {
    let counts = crate::metrics::class_counts(labels.iter().copied(), classes);
    let present = counts.iter().filter(|&&c| c > 0).count().max(1);
    let weights: Vec<f32> = counts
        .iter()
        .map(|&c| {
            if c == 0 {
                0.0
            } else {
                labels.len() as f32 / (present * c) as f32
            }
        })
        .collect();
    Tensor::from_slice(&weights)
}

/// Learning rate at a global step for the spec's schedule.
pub fn learning_rate_at(spec: &ModelSpec, step: usize, steps_per_epoch: usize) -> f64 {
    let base = spec.optimiser.learning_rate;
    match spec.schedule {
        Schedule::Constant => base,
        Schedule::Cosine { warmup_epochs } => {
            let warmup = warmup_epochs * steps_per_epoch;
            let total = spec.epochs * steps_per_epoch;
            if step < warmup {
                base * (step + 1) as f64 / warmup as f64
            } else {
                let progress = (step - warmup) as f64 / (total - warmup).max(1) as f64;
                base * 0.5 * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos())
            }
        }
    }
}

struct Batches<'a> {
    spec: &'a ModelSpec,
    net: &'a Network,
    terms: &'a ClassTerms,
    steps_per_epoch: usize,
}

/// What one training pass produced: mean loss, confusion, and the time spent making batches.
pub(crate) struct EpochTotals {
    pub loss: f64,
    pub confusion: Confusion,
    pub input_seconds: f64,
}

/// The per-genre terms of a spec's loss, from the training labels, each when the spec asks for
/// it: balanced class weights, and the logit-adjustment offsets tau x log(prior).
pub(crate) struct ClassTerms {
    pub weights: Option<Tensor>,
    pub offsets: Option<Tensor>,
}

impl ClassTerms {
    pub fn new(spec: &ModelSpec, labels: &[usize], classes: usize, device: Device) -> Self {
        Self {
            weights: spec
                .balanced_class_weights
                .then(|| balanced_class_weights(labels, classes).to_device(device)),
            offsets: (spec.logit_adjustment != 0.0)
                .then(|| logit_offsets(labels, classes, spec.logit_adjustment).to_device(device)),
        }
    }
}

/// tau x log(prior of each class in `labels`) ([`crate::calibration::log_prior_offsets`]). A
/// class absent from training gets 0, the largest offset, so training still pushes its plain
/// logit down and it is not predicted.
pub fn logit_offsets(labels: &[usize], classes: usize, tau: f64) -> Tensor {
    let counts = crate::metrics::class_counts(labels.iter().copied(), classes);
    Tensor::from_slice(&crate::calibration::log_prior_offsets(&counts, tau))
}

/// The training objective of a spec: cross-entropy with its label smoothing, (balanced) class
/// weights and logit adjustment, plus any activity-L1 penalty. Shared by the plain loop and
/// transfer learning.
pub(crate) struct Objective<'a> {
    pub spec: &'a ModelSpec,
    pub terms: &'a ClassTerms,
}

impl Objective<'_> {
    /// One optimiser step on a batch ([`Objective::loss`] plus any penalty). Returns the
    /// batch's loss, as [`Objective::minimise`].
    pub fn step(
        &self,
        optimiser: &mut Optimiser,
        logits: &Tensor,
        penalty: Option<&Tensor>,
        labels: &Tensor,
        run: &str,
        epoch: usize,
    ) -> Result<f64> {
        let loss = self.loss(logits, labels, None);
        let loss = match penalty {
            Some(penalty) => loss + penalty,
            None => loss,
        };
        self.minimise(optimiser, loss, run, epoch)
    }

    /// The batch's loss: cross-entropy with the labels, and with `teacher` logits (the spec
    /// distils, [`crate::spec::Distill`]) the weighted sum of it and the distillation term.
    pub fn loss(&self, logits: &Tensor, labels: &Tensor, teacher: Option<&Tensor>) -> Tensor {
        let adjusted = match &self.terms.offsets {
            Some(offsets) => logits + offsets,
            None => logits.shallow_clone(),
        };
        let cross_entropy = adjusted.cross_entropy_loss(
            labels,
            self.terms.weights.as_ref(),
            Reduction::Mean,
            -100,
            self.spec.label_smoothing,
        );
        let distill = self
            .spec
            .pretrained
            .as_ref()
            .and_then(|p| p.distill.as_ref());
        match (distill, teacher) {
            (Some(d), Some(teacher)) => {
                let soft = super::distill::distillation_loss(logits, teacher, d.temperature);
                soft * d.weight + cross_entropy * (1.0 - d.weight)
            }
            _ => cross_entropy,
        }
    }

    /// One optimiser step down `loss`. Returns its value; a loss that is no longer finite
    /// stops the run with an error naming it, since training cannot recover from it.
    pub fn minimise(
        &self,
        optimiser: &mut Optimiser,
        loss: Tensor,
        run: &str,
        epoch: usize,
    ) -> Result<f64> {
        optimiser.zero_grad();
        loss.backward();
        optimiser.step();
        let value = loss.double_value(&[]);
        if !value.is_finite() {
            bail!("{run}: the loss became {value} in epoch {epoch}; try a lower learning rate");
        }
        Ok(value)
    }
}

impl Batches<'_> {
    fn train_epoch(
        &self,
        images: &Tensor,
        labels: &Tensor,
        optimiser: &mut Optimiser,
        settings: &RunSettings,
        epoch: usize,
    ) -> Result<EpochTotals> {
        let n = labels.size()[0];
        let order = Tensor::randperm(n, (Kind::Int64, Device::Cpu)).to_device(images.device());
        let batch_size = self.spec.batch_size as i64;
        let bar = progress(Some(self.steps_per_epoch as u64), &settings.label);
        let mut confusion = Confusion::new(self.net.classes());
        let (mut loss_sum, mut seen) = (0.0, 0i64);
        let mut input_seconds = 0.0;
        let mode = Mode::TRAIN.with_precision(settings.precision);
        let objective = Objective {
            spec: self.spec,
            terms: self.terms,
        };
        for (step, start) in (0..n).step_by(batch_size as usize).enumerate() {
            let global_step = (epoch - 1) * self.steps_per_epoch + step;
            optimiser.set_learning_rate(learning_rate_at(
                self.spec,
                global_step,
                self.steps_per_epoch,
            ));
            let making_batch = Instant::now();
            let index = order.narrow(0, start, batch_size.min(n - start));
            let x = self.inputs(&images.index_select(0, &index));
            let y = labels.index_select(0, &index);
            // Exact on CPU, where libtorch runs eagerly; on CUDA it times the kernel launches only.
            input_seconds += making_batch.elapsed().as_secs_f64();
            let (logits, penalty) = self.net.forward(&x, mode);
            let batch_loss = objective.step(
                optimiser,
                &logits,
                Some(&penalty),
                &y,
                &settings.label,
                epoch,
            )?;
            let count = index.size()[0];
            loss_sum += batch_loss * count as f64;
            seen += count;
            add_predictions(&mut confusion, &logits, &y);
            bar.inc(1);
            bar.set_message(format!(
                "loss {:.4} acc {:.3}",
                loss_sum / seen as f64,
                confusion.accuracy()
            ));
        }
        bar.finish_and_clear();
        Ok(EpochTotals {
            loss: loss_sum / seen.max(1) as f64,
            confusion,
            input_seconds,
        })
    }

    fn inputs(&self, batch: &Tensor) -> Tensor {
        augmented_input(batch, self.spec)
    }
}

/// u8 NHWC batch -> float NCHW with the spec's augmentation, normalised: the network's input
/// while training on decoded covers (the plain loop and deep fine-tuning).
pub(crate) fn augmented_input(batch: &Tensor, spec: &ModelSpec) -> Tensor {
    // Permuting NHWC to NCHW without a copy leaves the data channels-last in memory, which
    // libtorch's CPU convolutions handle natively.
    let pixels = batch.to_kind(Kind::Float).permute([0, 3, 1, 2]);
    let pixels = match &spec.augment {
        Some(a) => augment(&pixels, a),
        None => pixels,
    };
    normalise_float(&pixels, &spec.preprocess)
}

pub(crate) fn add_predictions(confusion: &mut Confusion, logits: &Tensor, labels: &Tensor) {
    let predicted =
        Vec::<i64>::try_from(logits.argmax(-1, false).to_device(Device::Cpu)).unwrap_or_default();
    let truth = Vec::<i64>::try_from(labels.to_device(Device::Cpu)).unwrap_or_default();
    for (t, p) in truth.into_iter().zip(predicted) {
        confusion.add(t as usize, p as usize);
    }
}

/// Plain cross-entropy and a confusion matrix over a whole set, in inference mode.
pub struct Evaluation {
    pub loss: f64,
    pub confusion: Confusion,
}

/// Evaluates a network on u8 NHWC images in batches, without gradients or dropout.
pub fn evaluate(
    net: &Network,
    spec: &ModelSpec,
    images: &Tensor,
    labels: &Tensor,
    classes: usize,
) -> Evaluation {
    evaluate_batches(labels, classes, |start, len| {
        let batch = images.narrow(0, start, len);
        let x = normalise_float(
            &batch.to_kind(Kind::Float).permute([0, 3, 1, 2]),
            &spec.preprocess,
        );
        net.forward_t(&x, false).0
    })
}

/// Loss and confusion over `labels` in batches of [`EVAL_BATCH`], without gradients;
/// `logits(start, len)` runs the model on those rows. Whole images and cached activations
/// (transfer learning) differ only in that closure.
pub(crate) fn evaluate_batches(
    labels: &Tensor,
    classes: usize,
    logits: impl Fn(i64, i64) -> Tensor,
) -> Evaluation {
    let n = labels.size()[0];
    let mut confusion = Confusion::new(classes);
    let mut loss_sum = 0.0;
    tch::no_grad(|| {
        for start in (0..n).step_by(EVAL_BATCH as usize) {
            let len = EVAL_BATCH.min(n - start);
            let logits = logits(start, len);
            let y = labels.narrow(0, start, len);
            let loss = logits.cross_entropy_loss::<Tensor>(&y, None, Reduction::Sum, -100, 0.0);
            loss_sum += loss.double_value(&[]);
            add_predictions(&mut confusion, &logits, &y);
        }
    });
    Evaluation {
        loss: loss_sum / n.max(1) as f64,
        confusion,
    }
}

/// `layers` of `net` over cached `maps` in batches of [`EVAL_BATCH`], without gradients or
/// dropout, the outputs concatenated.
pub(super) fn forward_in_batches(
    net: &Network,
    layers: std::ops::Range<usize>,
    maps: &Tensor,
) -> Tensor {
    let n = maps.size()[0];
    let parts: Vec<Tensor> = tch::no_grad(|| {
        (0..n)
            .step_by(EVAL_BATCH as usize)
            .map(|start| {
                let batch = maps.narrow(0, start, EVAL_BATCH.min(n - start));
                net.forward_range(&batch, layers.clone(), Mode::EVAL)
            })
            .collect()
    });
    Tensor::cat(&parts, 0)
}

/// One plain line per epoch: the whole story in a log file, and the summary under a live bar.
pub(crate) fn report_epoch(settings: &RunSettings, spec: &ModelSpec, r: &EpochRecord) {
    let line = format!(
        "{} epoch {}/{}: train loss {:.4} acc {:.3} | dev loss {:.4} acc {:.3} macro-F1 {:.3} | {:.1} s, {:.0} img/s",
        settings.label,
        r.epoch,
        spec.epochs,
        r.train_loss,
        r.train_accuracy,
        r.dev_loss,
        r.dev_accuracy,
        r.dev_macro_f1,
        r.seconds,
        r.images_per_second
    );
    // Printed on a terminal too: the bar is cleared by then, and the line stays as a record.
    eprintln!("{line}");
}
