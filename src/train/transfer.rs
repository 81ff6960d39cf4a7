//! Transfer learning for specs with a pretrained backbone ([`crate::spec::Pretrained`]).
//!
//! One run, in two phases, with selection on dev macro-F1 over both:
//!
//! 1. **Head on cached features.** The backbone's ImageNet weights are loaded, then the frozen
//!    part (layers below `finetune_from_layer`) runs ONCE over train (each of the spec's views
//!    of every cover, [`super::views`]: by default the cover as is and flipped left-right) and
//!    over dev, in inference mode. Its activations (7x7 maps for
//!    EfficientNet-Lite0) are kept in memory, and so are the pooled features of the layers up to
//!    `frozen_layers`. The new head then trains for `head_epochs` on the pooled features, which
//!    costs next to nothing per epoch.
//! 2. **Fine-tuning.** Layers from `finetune_from_layer` on train on the cached maps at
//!    `learning_rate * finetune_lr_scale` for the remaining epochs, with early stopping. The
//!    augmentation is what the cache allows: each epoch picks one cached view of every cover,
//!    and light dropout perturbs the maps. BatchNorm everywhere keeps its ImageNet running
//!    statistics (its scale and shift still train): batches of 32 covers estimate them worse.
//!
//!
//! With [`crate::spec::DeepFinetune`] (the `-deep` variants), phase 2 instead trains from an
//! earlier layer on decoded covers: each step runs the frozen layers in inference mode, then
//! the trained ones, on a batch augmented on the fly (random resized crop, flip, colour
//! jitter), with a learning rate per layer (lowest at the first trained layer), a linear
//! warm-up then cosine decay, and the spec's label smoothing and logit adjustment. Selection
//! is on dev macro-F1 from decoded covers, since the cached dev maps go stale once early
//! layers train.
//!
//! With [`crate::spec::Distill`], a teacher model's logits on the same views ([`super::distill`])
//! join the labels in the loss of both cached phases (not in deep fine-tuning, whose covers
//! are augmented afresh at every step).
//!
//! The run folder is the ordinary one ([`super::fit`]): log, `best.safetensors` (the whole
//! network), checkpoint. A transfer run is short and restarts from scratch on `--resume`.

use super::build::{normalise, Mode, Network};
use super::checkpoint;
use super::feature_cache::{FeatureCache, FeatureCaches};
use super::fit::{
    add_predictions, augmented_input, end_epoch, evaluate_batches, outcome, report_epoch, validate,
    ClassTerms, EpochTotals, Evaluation, Objective, RunOutcome,
};
use super::images::ImageSet;
use super::optim::Optimiser;
use super::run::{EpochRecord, RunSettings, RunState};
use super::seed::derive_seed;
use crate::genres::GenreSet;
use crate::metrics::Confusion;
use crate::spec::{self, DeepFinetune, ModelSpec, Pretrained};
use anyhow::{bail, ensure, Context, Result};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;
use tch::{nn, Device, Kind, Tensor};

/// Dropout on the cached maps while fine-tuning: a cheap stand-in for pixel augmentation,
/// which the cache rules out.
pub(super) const MAP_DROPOUT: f64 = 0.1;

/// What a transfer run produced.
#[derive(Debug, Clone)]
pub struct TransferOutcome {
    pub run: RunOutcome,
    /// Images that went through the frozen backbone: views x train + dev when the cache is
    /// computed once, however many epochs follow.
    pub backbone_images: usize,
    /// Epochs spent on the head alone (phase 1).
    pub head_epochs: usize,
}

/// Checks the spec's transfer settings against its layers.
pub fn validate_pretrained(spec: &ModelSpec) -> Result<&Pretrained> {
    if let Some(deep) = spec.pretrained.as_ref().and_then(|p| p.deep.as_ref()) {
        ensure!(
            deep.from_layer < spec.layers.len(),
            "{}: deep fine-tuning starts at layer {} of {}",
            spec.name,
            deep.from_layer,
            spec.layers.len()
        );
        ensure!(
            deep.lowest_lr_scale > 0.0 && deep.lowest_lr_scale <= 1.0,
            "{}: lowest_lr_scale must be in (0, 1]",
            spec.name
        );
    }
    let p = spec
        .pretrained
        .as_ref()
        .with_context(|| format!("{} has no pretrained backbone", spec.name))?;
    ensure!(
        p.finetune_from_layer < p.frozen_layers && p.frozen_layers < spec.layers.len(),
        "{}: need finetune_from_layer ({}) < frozen_layers ({}) < the number of layers ({})",
        spec.name,
        p.finetune_from_layer,
        p.frozen_layers,
        spec.layers.len()
    );
    ensure!(
        p.head_epochs <= spec.epochs,
        "{}: head_epochs ({}) exceeds epochs ({})",
        spec.name,
        p.head_epochs,
        spec.epochs
    );
    ensure!(
        p.finetune_lr_scale > 0.0 && p.finetune_lr_scale.is_finite(),
        "{}: finetune_lr_scale must be a positive number",
        spec.name
    );
    ensure!(
        p.views.count >= 1,
        "{}: views.count must be at least 1 (the cover as is)",
        spec.name
    );
    if let Some(distill) = &p.distill {
        super::distill::validate(distill, super::distill::spec_names(&spec.name))?;
    }
    Ok(p)
}

/// Trains `spec` by transfer learning (see the module docs). `weights` is the backbone's
/// checkpoint; `None` starts from the spec's random initialisation (tests on tiny specs).
/// `caches` carries the frozen backbone's activations from an earlier run of the session
/// over the same covers, backbone and frozen layers, so they are computed once (and a
/// teacher's outputs likewise). `genres` are the training labels' genres, which a teacher's
/// outputs are matched to.
pub fn fit_transfer(
    spec: &ModelSpec,
    genres: &GenreSet,
    train: &ImageSet,
    select: &ImageSet,
    settings: &RunSettings,
    weights: Option<&Path>,
    caches: &mut FeatureCaches,
) -> Result<TransferOutcome> {
    validate(spec, train, select)?;
    let pretrained = validate_pretrained(spec)?;
    let classes = genres.len();
    let _rng = super::rng_guard();
    prepare_dir(settings)?;

    tch::manual_seed(derive_seed(settings.seed, 0));
    let mut vs = nn::VarStore::new(settings.device);
    let net = Network::new(&vs.root(), spec, classes)?;
    if let Some(path) = weights {
        let report = super::pretrained::load_efficientnet(&mut vs, spec, path)?;
        eprintln!("{}: {}", settings.label, report.summary());
    }
    let trainable = trainable_names(&vs);

    let cache = caches.get_or_compute(
        (&net, &vs),
        spec,
        pretrained,
        (train, select),
        settings,
        weights,
    )?;
    let teacher = match &pretrained.distill {
        Some(distill) => Some(
            caches
                .teacher_or_compute((spec, pretrained, distill), train, genres, &settings.label)?
                .to_device(settings.device),
        ),
        None => None,
    };
    let terms = ClassTerms::new(spec, &train.labels, classes, settings.device);
    let mut trainer = Trainer {
        spec,
        pretrained,
        net: &net,
        vs: &vs,
        classes,
        cache: &cache,
        teacher,
        terms: &terms,
        dev_pixels: None,
        settings,
        state: RunState::fresh(spec, classes, settings),
    };

    set_trainable(&vs, &trainable, pretrained.frozen_layers);
    let head_epochs = trainer.head_phase()?;
    if trainer.state.epochs_done < spec.epochs {
        // Fine-tuning starts from the best head, not from wherever phase 1 stopped.
        checkpoint::load_weights(&settings.dir.join(super::fit::BEST_WEIGHTS), &vs)?;
        match &pretrained.deep {
            Some(deep) => {
                set_trainable(&vs, &trainable, deep.from_layer);
                trainer.deep_phase(deep, train, select)?;
            }
            None => {
                set_trainable(&vs, &trainable, pretrained.finetune_from_layer);
                trainer.finetune_phase()?;
            }
        }
    }
    Ok(TransferOutcome {
        run: outcome(&trainer.state, settings, true)?,
        backbone_images: cache.backbone_images,
        head_epochs,
    })
}

fn prepare_dir(settings: &RunSettings) -> Result<()> {
    std::fs::create_dir_all(&settings.dir)
        .with_context(|| format!("cannot create {}", settings.dir.display()))?;
    if settings.dir.join(checkpoint::CHECKPOINT_FILE).exists() {
        if !settings.resume {
            bail!(
                "{} already holds a checkpoint: pass --resume to redo it, or choose another --out",
                settings.dir.display()
            );
        }
        eprintln!(
            "{}: transfer runs do not resume mid-way; training again from the pretrained weights",
            settings.label
        );
    }
    Ok(())
}

/// Names of the variables that can train at all (not BatchNorm running statistics).
pub(super) fn trainable_names(vs: &nn::VarStore) -> BTreeSet<String> {
    vs.variables()
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .map(|(name, _)| name)
        .collect()
}

/// Makes the trainable variables of layers `from..` train and freezes all others.
pub(super) fn set_trainable(vs: &nn::VarStore, trainable: &BTreeSet<String>, from: usize) {
    for (name, tensor) in vs.variables() {
        let train = trainable.contains(&name) && spec::top_layer(&name).is_some_and(|l| l >= from);
        let _ = tensor.set_requires_grad(train);
    }
}

/// Cosine decay from `base` to 0 over `total` steps.
fn cosine(base: f64, step: usize, total: usize) -> f64 {
    let progress = step as f64 / total.max(1) as f64;
    base * 0.5 * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos())
}

/// A linear rise to `base` over `warmup` steps, then cosine decay to 0 at `total`.
fn warmup_cosine(base: f64, step: usize, warmup: usize, total: usize) -> f64 {
    if step < warmup {
        base * (step + 1) as f64 / warmup as f64
    } else {
        cosine(base, step - warmup, total.saturating_sub(warmup))
    }
}

/// Learning-rate multiple of a layer in deep fine-tuning: `lowest_lr_scale` at `from_layer`,
/// rising geometrically to 1 at the `top` layer. Layers below `from_layer` do not train.
fn layer_lr_scale(layer: usize, deep: &DeepFinetune, top: usize) -> f64 {
    let span = top.saturating_sub(deep.from_layer).max(1) as f64;
    let below_top = top.saturating_sub(layer.max(deep.from_layer)) as f64;
    deep.lowest_lr_scale.powf(below_top / span)
}

struct Trainer<'a> {
    spec: &'a ModelSpec,
    pretrained: &'a Pretrained,
    net: &'a Network,
    vs: &'a nn::VarStore,
    classes: usize,
    cache: &'a FeatureCache,
    /// The teacher's logits for each row of the cache's train maps, while distilling.
    teacher: Option<Tensor>,
    terms: &'a ClassTerms,
    /// Dev covers as u8 NHWC once deep fine-tuning trains below the cached maps.
    dev_pixels: Option<Tensor>,
    settings: &'a RunSettings,
    state: RunState,
}

impl Trainer<'_> {
    /// Phase 1: the head on pooled features. Returns the epochs it ran (early stopping may
    /// end it before `head_epochs`).
    fn head_phase(&mut self) -> Result<usize> {
        let mut optimiser = Optimiser::new(self.vs, &self.spec.optimiser);
        let n = self.cache.train_labels.size()[0];
        let layers = self.pretrained.frozen_layers..self.net.layer_count();
        let steps = self.pretrained.head_epochs * self.steps_per_epoch(n);
        let base = self.spec.optimiser.learning_rate;
        let cache = self.cache;
        self.run_epochs(
            self.pretrained.head_epochs,
            &mut optimiser,
            n,
            |trainer, epoch| trainer.shuffled(epoch, n),
            |step| cosine(base, step, steps),
            |index| (cache.train_pooled.index_select(0, index), layers.clone()),
        )?;
        Ok(self.state.epochs_done)
    }

    /// Phase 2: layers from `finetune_from_layer` on the cached maps, one view of each cover
    /// per epoch.
    fn finetune_phase(&mut self) -> Result<()> {
        let (mut optimiser, base) = self.start_phase_two();
        let views = self.pretrained.views.count as i64;
        let covers = self.cache.train_covers(views as usize);
        let steps = self.remaining_steps(covers);
        let layers = self.pretrained.finetune_from_layer..self.net.layer_count();
        let cache = self.cache;
        self.run_epochs(
            self.spec.epochs,
            &mut optimiser,
            covers,
            |trainer, epoch| {
                // Each cover once, in one of its views: row view * covers + i.
                let order = trainer.shuffled(epoch, covers);
                let view = Tensor::randint(views, [covers], (Kind::Int64, Device::Cpu)) * covers;
                (order + view.to_device(trainer.settings.device)).to_kind(Kind::Int64)
            },
            |step| cosine(base, step, steps),
            |index| {
                let maps = cache.train_maps.index_select(0, index);
                (maps.dropout(MAP_DROPOUT, true), layers.clone())
            },
        )
    }

    /// Phase 2 of the deep recipe: layers from `deep.from_layer` on decoded, augmented covers.
    fn deep_phase(&mut self, deep: &DeepFinetune, train: &ImageSet, dev: &ImageSet) -> Result<()> {
        let (mut optimiser, base) = self.start_phase_two();
        // The teacher saw the cached views, not this phase's fresh augmentations.
        self.teacher = None;
        let top = self.net.layer_count() - 1;
        optimiser.scale_learning_rates(|name| {
            spec::top_layer(name).map_or(1.0, |layer| layer_lr_scale(layer, deep, top))
        });
        let device = self.settings.device;
        self.dev_pixels = Some(dev.to_tensors(device).0);
        let (train_pixels, _) = train.to_tensors(device);
        let covers = train.len() as i64;
        let steps = self.remaining_steps(covers);
        let warmup = deep.warmup_epochs * self.steps_per_epoch(covers);
        // The frozen layers run as at inference, in the run's arithmetic.
        let frozen_mode = Mode {
            training: false,
            batch_stats: false,
            precision: self.settings.precision,
        };
        let trained_layers = deep.from_layer..self.net.layer_count();
        let (net, spec) = (self.net, self.spec);
        self.run_epochs(
            self.spec.epochs,
            &mut optimiser,
            covers,
            |trainer, epoch| trainer.shuffled(epoch, covers),
            |step| warmup_cosine(base, step, warmup, steps),
            |index| {
                let x = augmented_input(&train_pixels.index_select(0, index), spec);
                let frozen =
                    tch::no_grad(|| net.forward_range(&x, 0..deep.from_layer, frozen_mode));
                (frozen, trained_layers.clone())
            },
        )
    }

    /// Starts phase 2: early stopping counts afresh and the optimiser runs at the phase's lower
    /// rate, which it returns too.
    fn start_phase_two(&mut self) -> (Optimiser, f64) {
        self.state.stopped_early = false;
        self.state.epochs_since_best = 0;
        let mut settings = self.spec.optimiser;
        settings.learning_rate *= self.pretrained.finetune_lr_scale;
        (Optimiser::new(self.vs, &settings), settings.learning_rate)
    }

    fn steps_per_epoch(&self, images: i64) -> usize {
        (images as usize).div_ceil(self.spec.batch_size)
    }

    /// Optimiser steps from the next epoch to the last one.
    fn remaining_steps(&self, images: i64) -> usize {
        (self.spec.epochs - self.state.epochs_done) * self.steps_per_epoch(images)
    }

    /// Runs the epochs after the last one done up to `last`, each over `images` training
    /// inputs: `order` gives an epoch's order, `rate` the learning rate at a step counted from
    /// the first of these epochs, `inputs` a batch's input and the layers it goes through.
    /// Stops early when the selection says so.
    fn run_epochs(
        &mut self,
        last: usize,
        optimiser: &mut Optimiser,
        images: i64,
        order: impl Fn(&Self, usize) -> Tensor,
        rate: impl Fn(usize) -> f64,
        inputs: impl Fn(&Tensor) -> (Tensor, std::ops::Range<usize>),
    ) -> Result<()> {
        let first = self.state.epochs_done + 1;
        let steps_per_epoch = self.steps_per_epoch(images);
        for epoch in first..=last {
            let order = order(self, epoch);
            let step0 = (epoch - first) * steps_per_epoch;
            let started = Instant::now();
            let trained =
                self.train_epoch(epoch, optimiser, &order, |step| rate(step0 + step), &inputs)?;
            self.finish_epoch(epoch, trained, optimiser, images, started)?;
            if self.state.stopped_early {
                break;
            }
        }
        Ok(())
    }

    /// Reseeds libtorch for `epoch` and returns a random order of `n` indices.
    fn shuffled(&self, epoch: usize, n: i64) -> Tensor {
        tch::manual_seed(derive_seed(self.settings.seed, epoch as u64));
        Tensor::randperm(n, (Kind::Int64, Device::Cpu)).to_device(self.settings.device)
    }

    /// One pass over `order` in batches: `inputs` gives a batch's input and the layers it goes
    /// through; `learning_rate` the rate at each step of the epoch.
    fn train_epoch(
        &self,
        epoch: usize,
        optimiser: &mut Optimiser,
        order: &Tensor,
        learning_rate: impl Fn(usize) -> f64,
        inputs: impl Fn(&Tensor) -> (Tensor, std::ops::Range<usize>),
    ) -> Result<EpochTotals> {
        let n = order.size()[0];
        let batch_size = self.spec.batch_size as i64;
        let mut confusion = Confusion::new(self.classes);
        let mut loss_sum = 0.0;
        let mut input_seconds = 0.0;
        // Fine-tuned layers keep the pretrained running statistics (BatchNorm in eval).
        let train_mode = Mode {
            training: true,
            batch_stats: false,
            precision: self.settings.precision,
        };
        let objective = Objective {
            spec: self.spec,
            terms: self.terms,
        };
        for (step, start) in (0..n).step_by(batch_size as usize).enumerate() {
            optimiser.set_learning_rate(learning_rate(step));
            let index = order.narrow(0, start, batch_size.min(n - start));
            let making_batch = Instant::now();
            let (x, layers) = inputs(&index);
            let y = self.cache.train_labels.index_select(0, &index);
            let teacher = self.teacher.as_ref().map(|t| t.index_select(0, &index));
            input_seconds += making_batch.elapsed().as_secs_f64();
            let logits = self.net.forward_range(&x, layers, train_mode);
            let loss = objective.loss(&logits, &y, teacher.as_ref());
            let batch_loss = objective.minimise(optimiser, loss, &self.settings.label, epoch)?;
            loss_sum += batch_loss * index.size()[0] as f64;
            add_predictions(&mut confusion, &logits, &y);
        }
        Ok(EpochTotals {
            loss: loss_sum / n.max(1) as f64,
            confusion,
            input_seconds,
        })
    }

    /// Evaluates on dev, logs, keeps the best weights and writes the checkpoint.
    fn finish_epoch(
        &mut self,
        epoch: usize,
        trained: EpochTotals,
        optimiser: &Optimiser,
        images: i64,
        started: Instant,
    ) -> Result<()> {
        let train_seconds = started.elapsed().as_secs_f64();
        let dev = self.evaluate_dev();
        let record = EpochRecord {
            epoch,
            train_loss: trained.loss,
            train_accuracy: trained.confusion.accuracy(),
            train_macro_f1: trained.confusion.macro_f1(),
            dev_loss: dev.loss,
            dev_accuracy: dev.confusion.accuracy(),
            dev_macro_f1: dev.confusion.macro_f1(),
            dev_balanced_accuracy: dev.confusion.balanced_accuracy(),
            learning_rate: optimiser.learning_rate(),
            seconds: started.elapsed().as_secs_f64(),
            images_per_second: images as f64 / train_seconds.max(1e-9),
            train_seconds,
            input_seconds: trained.input_seconds,
        };
        report_epoch(self.settings, self.spec, &record);
        end_epoch(
            &mut self.state,
            record,
            self.spec,
            self.settings,
            self.vs,
            optimiser,
        )
    }

    /// The whole network's dev loss and confusion, from the cached dev maps (from the decoded
    /// covers in deep fine-tuning).
    fn evaluate_dev(&self) -> Evaluation {
        if let Some(pixels) = &self.dev_pixels {
            let everything = 0..self.net.layer_count();
            return evaluate_batches(&self.cache.dev_labels, self.classes, |start, len| {
                let x = normalise(&pixels.narrow(0, start, len), &self.spec.preprocess);
                self.net.forward_range(&x, everything.clone(), Mode::EVAL)
            });
        }
        let maps = &self.cache.dev_maps;
        let layers = self.pretrained.finetune_from_layer..self.net.layer_count();
        evaluate_batches(&self.cache.dev_labels, self.classes, |start, len| {
            self.net
                .forward_range(&maps.narrow(0, start, len), layers.clone(), Mode::EVAL)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_rates_rise_geometrically_from_the_first_trained_layer_to_the_top() {
        let deep = DeepFinetune {
            from_layer: 2,
            lowest_lr_scale: 0.01,
            warmup_epochs: 0,
        };
        assert!((layer_lr_scale(2, &deep, 6) - 0.01).abs() < 1e-12);
        assert!((layer_lr_scale(4, &deep, 6) - 0.1).abs() < 1e-12);
        assert!((layer_lr_scale(6, &deep, 6) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn warm_up_rises_linearly_then_decays_as_a_cosine() {
        assert!((warmup_cosine(1.0, 0, 4, 12) - 0.25).abs() < 1e-12);
        assert!((warmup_cosine(1.0, 3, 4, 12) - 1.0).abs() < 1e-12);
        assert!((warmup_cosine(1.0, 4, 4, 12) - 1.0).abs() < 1e-12);
        assert!((warmup_cosine(1.0, 8, 4, 12) - 0.5).abs() < 1e-12);
        assert!(warmup_cosine(1.0, 12, 4, 12).abs() < 1e-12);
    }
}
