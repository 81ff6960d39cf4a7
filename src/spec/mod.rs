//! Declarative model specs: the single description of every architecture.
//!
//! The tch builder (`train::build`) and the ONNX writer (`export::onnx`) both walk
//! [`ModelSpec::layers`], so an exported model cannot differ from the trained one. A spec also
//! carries everything else a run needs to be reproduced: input size, optimiser, schedule,
//! regularisation, augmentation and which splits it trains on.
//!
//! The built-in variants are in `registry` ([`variants`], [`variant`]); the EfficientNet-Lite
//! backbones in [`efficientnet`].

use crate::preprocess::Preprocess;
use serde::{Deserialize, Serialize};

pub mod efficientnet;
mod registry;

pub use registry::{variant, variants};

/// One layer. Shapes are NCHW inside the network; channel counts of inputs are inferred by
/// walking the list from the 3 RGB channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "op")]
pub enum Layer {
    /// 2-D convolution. `padding` is symmetric (Keras "valid" = 0, "same" = kernel / 2 at
    /// stride 1). `groups == out == in` is a depthwise convolution.
    Conv {
        out: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        groups: usize,
        bias: bool,
    },
    /// Batch normalisation over channels (eps 1e-3, as Keras and EfficientNet use). Folded
    /// into the preceding Conv on export.
    BatchNorm,
    Relu,
    /// min(max(x, 0), 6): EfficientNet-Lite's activation (ONNX Clip).
    Relu6,
    MaxPool {
        kernel: usize,
        stride: usize,
    },
    AvgPool {
        kernel: usize,
        stride: usize,
    },
    GlobalAvgPool,
    Flatten,
    /// Fully connected layer with `units` outputs.
    Dense {
        units: usize,
    },
    /// The final fully connected layer, one output per genre (logits).
    Logits,
    /// Training only: dropped on export.
    Dropout {
        p: f64,
    },
    /// Training only: adds `weight * mean(|activation|)` of the preceding layer's output to the
    /// loss (the study's Keras `activity_regularizer=l1`). Identity on export.
    ActivityL1 {
        weight: f64,
    },
    /// `x + body(x)`: body must keep the shape.
    Residual {
        body: Vec<Layer>,
    },
}

impl Layer {
    /// Keras-style 3x3 "valid" convolution with bias.
    pub fn conv(out: usize) -> Self {
        Self::conv_k(out, 3, 0)
    }

    pub fn conv_k(out: usize, kernel: usize, padding: usize) -> Self {
        Layer::Conv {
            out,
            kernel,
            stride: 1,
            padding,
            groups: 1,
            bias: true,
        }
    }

    /// Keras MaxPooling2D() defaults: 2x2, stride 2.
    pub fn pool() -> Self {
        Layer::MaxPool {
            kernel: 2,
            stride: 2,
        }
    }

    pub fn dropout(p: f64) -> Self {
        Layer::Dropout { p }
    }

    /// Whether the layer exists only during training.
    pub fn is_training_only(&self) -> bool {
        matches!(self, Layer::Dropout { .. } | Layer::ActivityL1 { .. })
    }
}

/// Batch-norm epsilon, as Keras and EfficientNet-Lite use.
pub const BATCH_NORM_EPS: f64 = 1e-3;
/// Batch-norm running-average momentum in PyTorch terms (Keras' 0.99).
pub const BATCH_NORM_MOMENTUM: f64 = 0.01;

/// Parameter names are shared by the tch builder, checkpoints and the ONNX writer: the layer's
/// index path joined by dots ("3", or "5.2" for layer 2 inside the residual at index 5),
/// then the PyTorch parameter name:
/// - Conv: `weight` `[out, in/groups, k, k]`, `bias` `[out]` (when `bias`)
/// - BatchNorm: `weight`, `bias`, `running_mean`, `running_var` (each `[channels]`)
/// - Dense / Logits: `weight` `[out, in]`, `bias` `[out]`
pub fn param_prefix(path: &[usize]) -> String {
    path.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

/// The top-level layer index of a parameter name ("17.3.weight" -> 17); `None` for a name
/// that is not a layer's.
pub fn top_layer(name: &str) -> Option<usize> {
    name.split('.').next()?.parse().ok()
}

/// What a written model records of its spec ([`crate::metadata::ARCHITECTURE`]): enough to
/// build the network again and to know where its last layers start. Training settings (and
/// the paths some of them hold) stay out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Architecture {
    pub layers: Vec<Layer>,
    /// The spec's [`Pretrained::finetune_from_layer`], when it has a pretrained backbone.
    #[serde(default)]
    pub finetune_from_layer: Option<usize>,
}

impl Architecture {
    pub fn of(spec: &ModelSpec) -> Self {
        Self {
            layers: spec.layers.clone(),
            finetune_from_layer: spec.pretrained.as_ref().map(|p| p.finetune_from_layer),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimiserKind {
    Adam,
    AdamW,
    Sgd,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Optimiser {
    pub kind: OptimiserKind,
    pub learning_rate: f64,
    pub weight_decay: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    Constant,
    /// Cosine decay from the learning rate to 0 over all epochs, after `warmup_epochs` linear warm-up.
    Cosine {
        warmup_epochs: usize,
    },
}

/// On-the-fly augmentation, in Keras ImageDataGenerator terms (fractions of the image size,
/// degrees for rotation). Fill is nearest, as in the study.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Augment {
    pub rotation_deg: f32,
    pub shift: f32,
    pub shear: f32,
    pub zoom: f32,
    pub horizontal_flip: bool,
    /// Multiply pixels by a factor drawn from [lo, hi].
    pub brightness: Option<(f32, f32)>,
    /// Random resized crop (torchvision's `RandomResizedCrop`): each image shows a region of
    /// [lo, hi] of its area, aspect ratio between 3/4 and 4/3, stretched back to the input size.
    /// Replaces `zoom` and `shift` when set.
    #[serde(default)]
    pub crop_area: Option<(f32, f32)>,
    /// Colour jitter: contrast around the image's mean grey, factor drawn from [lo, hi].
    #[serde(default)]
    pub contrast: Option<(f32, f32)>,
    /// Colour jitter: saturation around each pixel's grey, factor drawn from [lo, hi].
    #[serde(default)]
    pub saturation: Option<(f32, f32)>,
}

impl Augment {
    /// The deep recipe's augmentation, also the default for cached views 2..: a random
    /// resized crop of 60-100% of the area, a flip, and brightness, contrast and saturation
    /// jitter of +-20%.
    pub const VIEWS: Self = Self {
        rotation_deg: 0.0,
        shift: 0.0,
        shear: 0.0,
        zoom: 0.0,
        horizontal_flip: true,
        brightness: Some((0.8, 1.2)),
        crop_area: Some((0.6, 1.0)),
        contrast: Some((0.8, 1.2)),
        saturation: Some((0.8, 1.2)),
    };

    /// The study's geometric augmentation.
    pub const STUDY: Self = Self {
        rotation_deg: 45.0,
        shift: 0.2,
        shear: 0.2,
        zoom: 0.2,
        horizontal_flip: true,
        brightness: None,
        crop_area: None,
        contrast: None,
        saturation: None,
    };
}

/// Which data a variant fits on. Selection (early stopping, ranking) always uses data the
/// optimiser never saw.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrainOn {
    /// Fit on train, select on dev.
    Train,
    /// Fit on train+dev minus a fixed, seeded, stratified slice of train of this fraction, which
    /// then stands in for dev when selecting: dev images are still never used for selection
    /// after being trained on.
    TrainPlusDev { holdout_fraction: f64 },
}

/// A pretrained backbone whose weights are loaded before training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pretrained {
    /// Which loader maps the checkpoint's parameter names onto this spec (e.g. "efficientnet-lite0").
    pub loader: String,
    /// Layers with index below this are frozen in the first phase (features cached).
    pub frozen_layers: usize,
    /// Epochs of head-only training on cached features before fine-tuning.
    pub head_epochs: usize,
    /// Layers with index at or above this are fine-tuned in the second phase.
    pub finetune_from_layer: usize,
    /// Learning-rate multiplier for the fine-tuning phase.
    pub finetune_lr_scale: f64,
    /// Deep fine-tuning: phase 2 trains from an earlier layer on decoded covers with the spec's
    /// on-the-fly augmentation, instead of on cached maps. `None`: the cached-map phase.
    #[serde(default)]
    pub deep: Option<DeepFinetune>,
    /// The views of each training cover whose frozen maps are cached for phase 1 and the
    /// cached-map phase 2. The default (the cover and its mirror image) is the recipe of
    /// specs written before views existed.
    #[serde(default)]
    pub views: Views,
    /// Distillation: a teacher model's outputs on the same views join the labels in the loss.
    #[serde(default)]
    pub distill: Option<Distill>,
}

/// Which views of each training cover are cached ([`Pretrained::views`]): view 0 is the cover
/// as is, view 1 its mirror image, and each further view a random augmentation drawn with
/// `augment` from a seed of its own (from `seed` and the view's index), so the same recipe
/// gives the same views in every run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Views {
    /// Views per cover, at least 1.
    pub count: usize,
    /// How views 2.. are drawn.
    pub augment: Augment,
    /// Seed of the views' random draws; not the run's seed, so `--runs N` share one cache.
    pub seed: u64,
}

impl Default for Views {
    fn default() -> Self {
        Self {
            count: 2,
            augment: Augment::VIEWS,
            seed: 0,
        }
    }
}

/// Knowledge distillation ([`Pretrained::distill`]): the loss is
/// `weight * T^2 * KL(teacher_T || student_T) + (1 - weight) * cross-entropy(labels)`, where
/// `_T` is a softmax of logits divided by the temperature T (Hinton et al. 2015; T^2 keeps
/// the soft term's gradients at the scale of the hard one's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distill {
    /// A covergenre ONNX model (one model or an ensemble) whose genres include the training
    /// genres; it runs through onnxruntime on every cached view.
    pub teacher: std::path::PathBuf,
    #[serde(default = "Distill::default_temperature")]
    pub temperature: f64,
    /// Share of the loss that is the teacher's term, in [0, 1].
    #[serde(default = "Distill::default_weight")]
    pub weight: f64,
}

impl Distill {
    pub const DEFAULT_TEMPERATURE: f64 = 2.0;
    pub const DEFAULT_WEIGHT: f64 = 0.5;

    fn default_temperature() -> f64 {
        Self::DEFAULT_TEMPERATURE
    }

    fn default_weight() -> f64 {
        Self::DEFAULT_WEIGHT
    }
}

/// Phase 2 of a transfer run on decoded covers ([`Pretrained::deep`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeepFinetune {
    /// Layers with index at or above this train; the ones below run frozen, in inference mode.
    pub from_layer: usize,
    /// Learning-rate multiple of the lowest trained layer; it rises geometrically to 1 at the
    /// last layer, so the general early features move least.
    pub lowest_lr_scale: f64,
    /// Epochs of linear warm-up at the start of phase 2, then cosine decay to 0.
    pub warmup_epochs: usize,
}

/// A complete, named model variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    pub name: String,
    pub description: String,
    pub preprocess: Preprocess,
    pub layers: Vec<Layer>,
    pub optimiser: Optimiser,
    pub schedule: Schedule,
    pub epochs: usize,
    pub batch_size: usize,
    /// Stop when dev macro-F1 has not improved for this many epochs.
    pub early_stopping_patience: Option<usize>,
    pub label_smoothing: f64,
    /// Weight each class by n_samples / (n_classes * n_class) in the loss (sklearn "balanced").
    pub balanced_class_weights: bool,
    /// Logit adjustment (Menon et al. 2021): the training loss sees logits + tau x log(train
    /// prior), so a small genre must win by a larger margin while training and the plain
    /// logits favour it at inference. 0 turns it off.
    #[serde(default)]
    pub logit_adjustment: f64,
    pub augment: Option<Augment>,
    pub train_on: TrainOn,
    pub pretrained: Option<Pretrained>,
}

/// Fraction of train held back for selection by variants that train on train+dev.
pub const HOLDOUT_FRACTION: f64 = 0.1;

/// Shape of the activation after each layer, for a given number of output classes.
/// Returns (channels, height, width) before Flatten and (features, 1, 1) after it.
pub fn output_shapes(
    spec: &ModelSpec,
    classes: usize,
) -> Result<Vec<(usize, usize, usize)>, String> {
    let mut shape = (
        3,
        spec.preprocess.height as usize,
        spec.preprocess.width as usize,
    );
    let mut shapes = Vec::with_capacity(spec.layers.len());
    for layer in &spec.layers {
        shape = layer_output_shape(layer, shape, classes)?;
        shapes.push(shape);
    }
    Ok(shapes)
}

/// Shape of one layer's output given its input shape (channels, height, width); the builder
/// and the ONNX writer use it to size Dense inputs and residual bodies.
pub fn layer_output_shape(
    layer: &Layer,
    (c, h, w): (usize, usize, usize),
    classes: usize,
) -> Result<(usize, usize, usize), String> {
    let spatial =
        |size: usize, kernel: usize, stride: usize, padding: usize| -> Result<usize, String> {
            (size + 2 * padding)
                .checked_sub(kernel)
                .map(|s| s / stride + 1)
                .ok_or_else(|| format!("kernel {kernel} does not fit an input of {size} pixels"))
        };
    Ok(match layer {
        Layer::Conv {
            out,
            kernel,
            stride,
            padding,
            groups,
            ..
        } => {
            if c % groups != 0 || out % groups != 0 {
                return Err(format!(
                    "groups {groups} must divide {c} input and {out} output channels"
                ));
            }
            (
                *out,
                spatial(h, *kernel, *stride, *padding)?,
                spatial(w, *kernel, *stride, *padding)?,
            )
        }
        Layer::MaxPool { kernel, stride } | Layer::AvgPool { kernel, stride } => (
            c,
            spatial(h, *kernel, *stride, 0)?,
            spatial(w, *kernel, *stride, 0)?,
        ),
        Layer::GlobalAvgPool => (c, 1, 1),
        Layer::Flatten => (c * h * w, 1, 1),
        Layer::Dense { units } => (*units, 1, 1),
        Layer::Logits => (classes, 1, 1),
        Layer::Residual { body } => {
            let mut inner = (c, h, w);
            for l in body {
                inner = layer_output_shape(l, inner, classes)?;
            }
            if inner != (c, h, w) {
                return Err(format!(
                    "residual body changes the shape {:?} to {inner:?}",
                    (c, h, w)
                ));
            }
            inner
        }
        Layer::BatchNorm
        | Layer::Relu
        | Layer::Relu6
        | Layer::Dropout { .. }
        | Layer::ActivityL1 { .. } => (c, h, w),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_names_are_unique_and_every_shape_resolves() {
        let all = variants();
        let mut names: Vec<&str> = all.iter().map(|v| v.name.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all.len());
        for v in &all {
            let shapes = output_shapes(v, 12).unwrap_or_else(|e| panic!("{}: {e}", v.name));
            assert_eq!(
                *shapes.last().unwrap(),
                (12, 1, 1),
                "{} must end in 12 logits",
                v.name
            );
        }
    }

    #[test]
    fn baseline_is_the_study_network() {
        let b = variant("baseline").unwrap();
        let shapes = output_shapes(&b, 12).unwrap();
        // 128 -conv-> 126 -pool-> 63 -conv-> 61 -pool-> 30 -conv-> 28; 28*28*64 features.
        assert!(shapes.contains(&(28 * 28 * 64, 1, 1)));
        assert_eq!(b.preprocess.height, 128);
        let l1 = variant("activity-l1").unwrap();
        let regularised = l1
            .layers
            .iter()
            .filter(|l| matches!(l, Layer::ActivityL1 { .. }))
            .count();
        assert_eq!(regularised, 2);
        assert_eq!(l1.preprocess.width, 90);
    }
}
