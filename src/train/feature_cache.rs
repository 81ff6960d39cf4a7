//! The frozen part of a pretrained backbone, run once: its maps and pooled features over
//! every view of the training covers and over dev ([`FeatureCache`]), kept across the runs of
//! one session that share them ([`FeatureCaches`]). Used by [`super::transfer`].

use super::build::Network;
use super::distill::{teacher_logits, Teacher};
use super::fit::forward_in_batches;
use super::frozen::Frozen;
use super::images::ImageSet;
use super::run::RunSettings;
use super::views;
use crate::genres::GenreSet;
use crate::spec::{Distill, ModelSpec, Pretrained};
use anyhow::{Context, Result};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::rc::Rc;
use std::time::Instant;
use tch::{nn, Device, Tensor};

/// Activations of the frozen part, computed once.
pub struct FeatureCache {
    /// Train maps at `finetune_from_layer`, view by view: view 0 of the n covers, then view
    /// 1 of the n covers, ... (row v * n + i is view v of cover i).
    pub train_maps: Tensor,
    /// Train labels for `train_maps` (the n labels once per view).
    pub train_labels: Tensor,
    /// Pooled features of the train maps (input of the head), [views x n, features].
    pub train_pooled: Tensor,
    pub dev_maps: Tensor,
    pub dev_labels: Tensor,
    pub dev_pooled: Tensor,
    /// Images pushed through the backbone to build the cache.
    pub backbone_images: usize,
    /// The engine that computed it ("libtorch" or "onnxruntime").
    pub engine: &'static str,
}

impl FeatureCache {
    /// Runs the frozen layers of `net` over the views of `train` and over `dev`, in the faster
    /// of libtorch and onnxruntime ([`super::frozen`]).
    pub fn compute(
        (net, vs): (&Network, &nn::VarStore),
        spec: &ModelSpec,
        pretrained: &Pretrained,
        (train, dev): (&ImageSet, &ImageSet),
        device: Device,
    ) -> Result<Self> {
        let until = pretrained.finetune_from_layer;
        let (mut frozen, trial) = Frozen::choose(net, vs, spec, until, &train.pixels, device)?;
        if let Some(trial) = &trial {
            eprintln!("{trial}");
        }
        let mut parts = Vec::new();
        views::for_each_chunk(train, &pretrained.views, |_, _, pixels| {
            parts.push(frozen.encode(pixels)?);
            Ok(())
        })?;
        let train_maps = Tensor::cat(&parts, 0).to_device(device);
        let dev_maps = frozen.encode(&dev.pixels)?.to_device(device);
        let pooled = |maps: &Tensor| {
            pool_maps(
                net,
                pretrained.finetune_from_layer..pretrained.frozen_layers,
                maps,
            )
        };
        let labels = |set: &ImageSet| {
            let labels: Vec<i64> = set.labels.iter().map(|&l| l as i64).collect();
            Tensor::from_slice(&labels).to_device(device)
        };
        let train_y = labels(train);
        let views = pretrained.views.count;
        Ok(Self {
            train_pooled: pooled(&train_maps),
            dev_pooled: pooled(&dev_maps),
            train_labels: train_y.repeat([views as i64]),
            train_maps,
            dev_maps,
            dev_labels: labels(dev),
            backbone_images: views * train.len() + dev.len(),
            engine: frozen.engine_name(),
        })
    }

    /// Number of distinct training covers (each is cached once per view).
    pub(super) fn train_covers(&self, views: usize) -> i64 {
        self.train_labels.size()[0] / views.max(1) as i64
    }
}

/// The last [`FeatureCache`] of a training session, kept for the next run that would compute
/// the same one: `--runs N`, or variants differing only after the frozen layers (the deep
/// recipe's augmentation, epochs, learning rates). Only the last is kept: a cache of Lite2's
/// maps holds gigabytes.
/// The last teacher's logits on the views are kept the same way (a run without a teacher
/// leaves them), so runs that differ only in the distillation weight share them too.
#[derive(Default)]
pub struct FeatureCaches {
    last: Option<(u64, Rc<FeatureCache>)>,
    last_teacher: Option<(u64, Rc<Tensor>)>,
    computed: usize,
    teachers_computed: usize,
    seconds: f64,
}

impl FeatureCaches {
    /// How many caches were computed (not reused) so far.
    pub fn computed(&self) -> usize {
        self.computed
    }

    /// How many teachers' logits were computed (not reused) so far.
    pub fn teachers_computed(&self) -> usize {
        self.teachers_computed
    }

    /// Seconds spent computing them.
    pub fn seconds(&self) -> f64 {
        self.seconds
    }

    /// The teacher's logits on the views of `train` for this run: reused when the covers, the
    /// views and the teacher file's bytes are those of the last, else computed (and kept).
    pub(super) fn teacher_or_compute(
        &mut self,
        (spec, pretrained, distill): (&ModelSpec, &Pretrained, &Distill),
        train: &ImageSet,
        genres: &GenreSet,
        label: &str,
    ) -> Result<Rc<Tensor>> {
        let started = Instant::now();
        let teacher_bytes = std::fs::read(&distill.teacher)
            .with_context(|| format!("cannot read teacher {}", distill.teacher.display()))?;
        let mut hasher = DefaultHasher::new();
        (&train.pixels, train.height, train.width).hash(&mut hasher);
        views_key(pretrained).hash(&mut hasher);
        (&teacher_bytes, genres.slugs()).hash(&mut hasher);
        let key = hasher.finish();
        if let Some((_, logits)) = self.last_teacher.as_ref().filter(|(k, _)| *k == key) {
            eprintln!("{label}: reusing the teacher's outputs from an earlier run");
            return Ok(Rc::clone(logits));
        }
        self.last_teacher = None;
        let mut teacher = Teacher::from_bytes(
            &teacher_bytes,
            &distill.teacher.display().to_string(),
            genres,
            tch::get_num_threads().max(1) as usize,
        )?;
        let logits = Rc::new(teacher_logits(
            &mut teacher,
            train,
            &pretrained.views,
            &spec.preprocess,
        )?);
        eprintln!(
            "{label}: ran the teacher {} on {} views in {:.1} s",
            distill.teacher.display(),
            logits.size()[0],
            started.elapsed().as_secs_f64()
        );
        self.last_teacher = Some((key, Rc::clone(&logits)));
        self.teachers_computed += 1;
        self.seconds += started.elapsed().as_secs_f64();
        Ok(logits)
    }

    /// The cache for this run: reused when the key matches, else computed (and kept).
    pub(super) fn get_or_compute(
        &mut self,
        (net, vs): (&Network, &nn::VarStore),
        spec: &ModelSpec,
        pretrained: &Pretrained,
        (train, dev): (&ImageSet, &ImageSet),
        settings: &RunSettings,
        weights: Option<&Path>,
    ) -> Result<Rc<FeatureCache>> {
        let started = Instant::now();
        let key = cache_key(spec, pretrained, (train, dev), settings, weights);
        if let Some((_, cache)) = self.last.as_ref().filter(|(k, _)| *k == key) {
            eprintln!(
                "{}: reusing the frozen backbone's activations of {} images from an earlier run",
                settings.label, cache.backbone_images
            );
            return Ok(Rc::clone(cache));
        }
        // Free the old cache before building the new one: two would not fit in memory.
        self.last = None;
        let cache = Rc::new(FeatureCache::compute(
            (net, vs),
            spec,
            pretrained,
            (train, dev),
            settings.device,
        )?);
        eprintln!(
            "{}: cached the frozen backbone's activations of {} images in {:.1} s",
            settings.label,
            cache.backbone_images,
            started.elapsed().as_secs_f64()
        );
        self.last = Some((key, Rc::clone(&cache)));
        self.computed += 1;
        self.seconds += started.elapsed().as_secs_f64();
        Ok(cache)
    }
}

/// Everything a [`FeatureCache`] depends on: the covers (pixels and labels), the weights
/// file, the device, the spec's input, frozen layers, phase boundaries and views. Weights
/// loaded without a file (`None`, tests) are random per seed, so the seed counts then.
fn cache_key(
    spec: &ModelSpec,
    pretrained: &Pretrained,
    (train, dev): (&ImageSet, &ImageSet),
    settings: &RunSettings,
    weights: Option<&Path>,
) -> u64 {
    let mut hasher = DefaultHasher::new();
    for set in [train, dev] {
        (&set.pixels, &set.labels, set.height, set.width).hash(&mut hasher);
    }
    let frozen = &spec.layers[..pretrained.frozen_layers];
    let shape = serde_json::to_string(&(&spec.preprocess, frozen)).unwrap_or_default();
    shape.hash(&mut hasher);
    (pretrained.finetune_from_layer, pretrained.frozen_layers).hash(&mut hasher);
    views_key(pretrained).hash(&mut hasher);
    format!("{:?}", settings.device).hash(&mut hasher);
    match weights {
        Some(file) => file.hash(&mut hasher),
        None => settings.seed.hash(&mut hasher),
    }
    hasher.finish()
}

/// The view recipe as text, for cache keys: a changed recipe is never served an old cache.
fn views_key(pretrained: &Pretrained) -> String {
    serde_json::to_string(&pretrained.views).unwrap_or_default()
}

/// Cached maps -> pooled features [N, features] through the frozen `layers`.
fn pool_maps(net: &Network, layers: std::ops::Range<usize>, maps: &Tensor) -> Tensor {
    forward_in_batches(net, layers, maps).flatten(1, -1)
}
