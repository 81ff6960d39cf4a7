//! Pretrained-backbone variants: EfficientNet-Lite0 and Lite2 with ImageNet weights.
//!
//! [`Backbone`] is the registry: each backbone owns its variant name, weights loader and file,
//! input size and stage table (Lite2's is Lite0's scaled by width 1.1 and depth 1.2 as
//! TensorFlow's EfficientNet-Lite builder scales it), and builds its layers, checkpoint module
//! table and spec from them.
//!
//! The network is written with the ordinary [`Layer`]s, so the tch builder and the ONNX writer
//! need nothing special for it:
//!
//! - stem: conv 3x3 stride 2 (32) + BN + ReLU6;
//! - MBConv blocks (16 in Lite0, [`LITE0_STAGES`]; 21 in Lite2): expand 1x1 conv + BN + ReLU6 (when the ratio is not 1),
//!   depthwise kxk conv + BN + ReLU6, project 1x1 conv + BN; wrapped in a [`Layer::Residual`] when
//!   the block keeps the shape (stride 1, same channels), laid out flat otherwise. Lite has no
//!   squeeze-excite and no swish;
//! - head: conv 1x1 (1280) + BN + ReLU6, global average pooling, dropout 0.2, logits.
//!
//! **Padding.** The ImageNet weights come from TensorFlow, where the stride-2 convolutions use
//! "SAME" padding: on an even input that pads one pixel less before than after (k=3: 0 and 1;
//! k=5: 1 and 2). Symmetric `kernel / 2` padding would shift every stride-2 layer by a pixel
//! (ImageNet check on a baboon photo: 0.84 with SAME vs 0.52 symmetric). Our Conv padding is
//! symmetric, so such a layer is written as a (k+1)x(k+1) kernel with the larger padding, and the
//! loader puts the checkpoint's kxk kernel in its bottom-right corner with a zero first row and
//! column ([`CheckpointModule::kernel_offset`]): exactly TF "SAME", with standard convolutions.
//!
//! [`lite0_checkpoint_modules`] records where each module of the PyTorch checkpoint
//! (`_conv_stem`, `_blocks.N._depthwise_conv`, `_bn1`, `_fc`, ...) sits in the layer list; it is
//! built by the same walk as the layers, so the two cannot drift apart.

use super::{
    Augment, DeepFinetune, Layer, ModelSpec, Optimiser, OptimiserKind, Pretrained, Schedule,
    TrainOn,
};
use crate::preprocess::{Normalisation, Preprocess};

/// Name of the variant.
pub const LITE0_NAME: &str = "effnet-lite0";
/// Name of the weights loader (`Pretrained::loader`).
pub const LITE0_LOADER: &str = "efficientnet-lite0";
/// File name of the weights inside the weights folder.
pub const LITE0_WEIGHTS_FILE: &str = "efficientnet-lite0.pth";
/// The input size the weights were trained at (and the TF padding was computed for).
pub const LITE0_INPUT_SIZE: usize = 224;
/// Name of the Lite2 variant.
pub const LITE2_NAME: &str = "effnet-lite2";
/// Lite2's weights loader.
pub const LITE2_LOADER: &str = "efficientnet-lite2";
/// File name of Lite2's weights inside the weights folder.
pub const LITE2_WEIGHTS_FILE: &str = "efficientnet-lite2.pth";
/// Lite2's input size.
pub const LITE2_INPUT_SIZE: usize = 260;
/// ImageNet classes of the checkpoint's own head.
pub const IMAGENET_CLASSES: usize = 1000;

const STEM_CHANNELS: usize = 32;
const HEAD_CHANNELS: usize = 1280;
const HEAD_DROPOUT: f64 = 0.2;

/// One stage of MBConv blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage {
    pub expand: usize,
    pub kernel: usize,
    /// Stride of the first block; the others use 1.
    pub stride: usize,
    pub out: usize,
    pub repeats: usize,
}

const fn stage(expand: usize, kernel: usize, stride: usize, out: usize, repeats: usize) -> Stage {
    Stage {
        expand,
        kernel,
        stride,
        out,
        repeats,
    }
}

/// EfficientNet-Lite0's stages (width and depth multipliers 1.0).
pub const LITE0_STAGES: [Stage; 7] = [
    stage(1, 3, 1, 16, 1),
    stage(6, 3, 2, 24, 2),
    stage(6, 5, 2, 40, 2),
    stage(6, 3, 2, 80, 3),
    stage(6, 5, 1, 112, 3),
    stage(6, 5, 2, 192, 4),
    stage(6, 3, 1, 320, 1),
];

/// TF's `round_filters` (divisor 8): channels times `width`, to a multiple of 8, never more
/// than 10% below the scaled value.
fn round_filters(filters: usize, width: f64) -> usize {
    let scaled = filters as f64 * width;
    let rounded = (((scaled + 4.0) as usize) / 8 * 8).max(8);
    if (rounded as f64) < 0.9 * scaled {
        rounded + 8
    } else {
        rounded
    }
}

/// A pretrained EfficientNet-Lite backbone: everything that differs between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backbone {
    Lite0,
    Lite2,
}

impl Backbone {
    pub const ALL: [Backbone; 2] = [Backbone::Lite0, Backbone::Lite2];

    /// The variant name (`effnet-lite0`).
    pub fn variant_name(self) -> &'static str {
        match self {
            Backbone::Lite0 => LITE0_NAME,
            Backbone::Lite2 => LITE2_NAME,
        }
    }

    /// The `Pretrained::loader` name of its specs.
    pub fn loader(self) -> &'static str {
        match self {
            Backbone::Lite0 => LITE0_LOADER,
            Backbone::Lite2 => LITE2_LOADER,
        }
    }

    /// The backbone a loader name stands for.
    pub fn from_loader(loader: &str) -> Option<Backbone> {
        Backbone::ALL.into_iter().find(|b| b.loader() == loader)
    }

    /// For messages: "EfficientNet-Lite0".
    pub fn display_name(self) -> &'static str {
        match self {
            Backbone::Lite0 => "EfficientNet-Lite0",
            Backbone::Lite2 => "EfficientNet-Lite2",
        }
    }

    /// File name of the ImageNet weights in the weights folder.
    pub fn weights_file(self) -> &'static str {
        match self {
            Backbone::Lite0 => LITE0_WEIGHTS_FILE,
            Backbone::Lite2 => LITE2_WEIGHTS_FILE,
        }
    }

    /// The input size its weights were trained at.
    pub fn input_size(self) -> usize {
        match self {
            Backbone::Lite0 => LITE0_INPUT_SIZE,
            Backbone::Lite2 => LITE2_INPUT_SIZE,
        }
    }

    /// (width, depth) multipliers over Lite0.
    fn multipliers(self) -> (f64, f64) {
        match self {
            Backbone::Lite0 => (1.0, 1.0),
            Backbone::Lite2 => (1.1, 1.2),
        }
    }

    /// Its stages: Lite0's with channels scaled by the width multiplier and repeats by the
    /// depth multiplier (rounded up), except the first and last stage, which Lite keeps.
    pub fn stages(self) -> Vec<Stage> {
        let (width, depth) = self.multipliers();
        let last = LITE0_STAGES.len() - 1;
        LITE0_STAGES
            .iter()
            .enumerate()
            .map(|(i, s)| Stage {
                out: round_filters(s.out, width),
                repeats: if i == 0 || i == last {
                    s.repeats
                } else {
                    (s.repeats as f64 * depth).ceil() as usize
                },
                ..*s
            })
            .collect()
    }

    /// The first block fine-tuned in phase 2: the one after the last stride-2 block (the
    /// blocks at the final 7x7 / 9x9 resolution).
    pub fn finetune_from_block(self) -> usize {
        let stages = self.stages();
        let last_stride_two = stages.iter().rposition(|s| s.stride == 2).unwrap_or(0);
        stages[..last_stride_two]
            .iter()
            .map(|s| s.repeats)
            .sum::<usize>()
            + 1
    }

    /// The first block trained by the deep recipe: the one after the second-to-last stride-2
    /// block (everything at 1/16 and 1/32 of the input: 14x14 and 7x7 for Lite0).
    pub fn deep_from_block(self) -> usize {
        let stages = self.stages();
        let stride_two: Vec<usize> = (0..stages.len())
            .filter(|&i| stages[i].stride == 2)
            .collect();
        let stage = stride_two[stride_two.len().saturating_sub(2)];
        stages[..stage].iter().map(|s| s.repeats).sum::<usize>() + 1
    }

    /// The `effnet-*-deep` spec: [`Self::spec`] with the deep recipe as phase 2.
    pub fn deep_spec(self) -> ModelSpec {
        effnet_deep_spec(self)
    }

    /// Its layers, with the checkpoint module of every parameterised layer.
    pub fn layout(self) -> BackboneLayout {
        backbone_layout(self)
    }

    /// The `effnet-*` spec: this backbone with a new genre head.
    pub fn spec(self) -> ModelSpec {
        effnet_spec(self)
    }
}

/// Which kind of layer a checkpoint module was loaded into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleKind {
    Conv,
    BatchNorm,
    /// The ImageNet classifier (`_fc`): loaded only when the head has as many classes.
    Classifier,
}

/// Where one module of the PyTorch checkpoint lives in our layer list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointModule {
    /// Module name in the checkpoint, without the parameter ("_blocks.3._depthwise_conv").
    pub checkpoint: String,
    /// Layer index path, as [`super::param_prefix`] takes it.
    pub path: Vec<usize>,
    pub kind: ModuleKind,
    /// Zero rows and columns before the checkpoint kernel inside ours (TF "SAME" padding of a
    /// stride-2 conv, see the module docs); 0 when the kernels have the same size.
    pub kernel_offset: usize,
}

/// The layers of a backbone and where each checkpoint module went.
#[derive(Debug, Clone)]
pub struct BackboneLayout {
    pub layers: Vec<Layer>,
    pub modules: Vec<CheckpointModule>,
    /// Index in `layers` of the first layer of each MBConv block.
    pub block_starts: Vec<usize>,
}

/// TensorFlow "SAME" padding (before, after) of one spatial dimension.
fn tf_same_padding(size: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let out = size.div_ceil(stride);
    let total = ((out - 1) * stride + kernel).saturating_sub(size);
    (total / 2, total - total / 2)
}

/// A layer with the checkpoint module (name, kind, kernel offset) it takes weights from.
type Named = (Layer, Option<(String, ModuleKind, usize)>);

/// Conv (no bias: BN follows) + BN, with TF "SAME" padding at `size` pixels.
fn conv_bn(
    name: &str,
    bn: &str,
    out: usize,
    kernel: usize,
    stride: usize,
    groups: usize,
    size: usize,
) -> [Named; 2] {
    let (before, after) = tf_same_padding(size, kernel, stride);
    let offset = after - before;
    let conv = Layer::Conv {
        out,
        kernel: kernel + offset,
        stride,
        padding: after,
        groups,
        bias: false,
    };
    [
        (conv, Some((name.to_string(), ModuleKind::Conv, offset))),
        (
            Layer::BatchNorm,
            Some((bn.to_string(), ModuleKind::BatchNorm, 0)),
        ),
    ]
}

/// The layers of one MBConv block, at input size `size`.
fn mbconv(
    index: usize,
    expand: usize,
    kernel: usize,
    stride: usize,
    input: usize,
    out: usize,
    size: usize,
) -> Vec<Named> {
    let p = format!("_blocks.{index}.");
    let hidden = input * expand;
    let mut layers = Vec::new();
    if expand != 1 {
        layers.extend(conv_bn(
            &format!("{p}_expand_conv"),
            &format!("{p}_bn0"),
            hidden,
            1,
            1,
            1,
            size,
        ));
        layers.push((Layer::Relu6, None));
    }
    layers.extend(conv_bn(
        &format!("{p}_depthwise_conv"),
        &format!("{p}_bn1"),
        hidden,
        kernel,
        stride,
        hidden,
        size,
    ));
    layers.push((Layer::Relu6, None));
    let size = size.div_ceil(stride);
    layers.extend(conv_bn(
        &format!("{p}_project_conv"),
        &format!("{p}_bn2"),
        out,
        1,
        1,
        1,
        size,
    ));
    layers
}

/// Collects layers and their checkpoint modules while walking the network.
#[derive(Default)]
struct Walk {
    layout: Vec<Layer>,
    modules: Vec<CheckpointModule>,
}

impl Walk {
    fn record(&mut self, path: Vec<usize>, module: Option<(String, ModuleKind, usize)>) {
        if let Some((checkpoint, kind, kernel_offset)) = module {
            self.modules.push(CheckpointModule {
                checkpoint,
                path,
                kind,
                kernel_offset,
            });
        }
    }

    fn push_flat(&mut self, layers: Vec<Named>) {
        for (layer, module) in layers {
            self.record(vec![self.layout.len()], module);
            self.layout.push(layer);
        }
    }

    fn push_residual(&mut self, layers: Vec<Named>) {
        let index = self.layout.len();
        let mut body = Vec::with_capacity(layers.len());
        for (inner, (layer, module)) in layers.into_iter().enumerate() {
            self.record(vec![index, inner], module);
            body.push(layer);
        }
        self.layout.push(Layer::Residual { body });
    }
}

/// Builds EfficientNet-Lite0 as a layer list, with the checkpoint module of every parameterised layer.
pub fn lite0_layout() -> BackboneLayout {
    Backbone::Lite0.layout()
}

fn backbone_layout(backbone: Backbone) -> BackboneLayout {
    let mut walk = Walk::default();
    let mut size = backbone.input_size();
    walk.push_flat(conv_bn("_conv_stem", "_bn0", STEM_CHANNELS, 3, 2, 1, size).into());
    walk.push_flat(vec![(Layer::Relu6, None)]);
    size = size.div_ceil(2);

    let mut channels = STEM_CHANNELS;
    let mut block_starts = Vec::new();
    for s in backbone.stages() {
        for repeat in 0..s.repeats {
            let stride = if repeat == 0 { s.stride } else { 1 };
            block_starts.push(walk.layout.len());
            let block = mbconv(
                block_starts.len() - 1,
                s.expand,
                s.kernel,
                stride,
                channels,
                s.out,
                size,
            );
            if stride == 1 && channels == s.out {
                walk.push_residual(block);
            } else {
                walk.push_flat(block);
            }
            channels = s.out;
            size = size.div_ceil(stride);
        }
    }

    walk.push_flat(conv_bn("_conv_head", "_bn1", HEAD_CHANNELS, 1, 1, 1, size).into());
    walk.push_flat(vec![
        (Layer::Relu6, None),
        (Layer::GlobalAvgPool, None),
        (Layer::dropout(HEAD_DROPOUT), None),
        (
            Layer::Logits,
            Some(("_fc".to_string(), ModuleKind::Classifier, 0)),
        ),
    ]);
    BackboneLayout {
        layers: walk.layout,
        modules: walk.modules,
        block_starts,
    }
}

/// Where each checkpoint module of EfficientNet-Lite0 lives in [`lite0_layout`]'s layers.
pub fn lite0_checkpoint_modules() -> Vec<CheckpointModule> {
    lite0_layout().modules
}

/// `effnet-lite0`: the ImageNet backbone with a new genre head (see `effnet_spec`).
pub fn effnet_lite0() -> ModelSpec {
    Backbone::Lite0.spec()
}

/// `effnet-lite2`: EfficientNet-Lite2 (21 blocks, 260x260) with a new genre head.
pub fn effnet_lite2() -> ModelSpec {
    Backbone::Lite2.spec()
}

/// A backbone with a new genre head.
///
/// Phase 1 trains the head alone on features cached once (everything up to and including the
/// global pooling is frozen, so no augmentation there); phase 2 fine-tunes the blocks at the
/// final resolution (Lite0: blocks 12-15 at 7x7; Lite2: 16-20 at 9x9) and the head conv at a
/// tenth of the learning rate, with augmentation.
fn effnet_spec(backbone: Backbone) -> ModelSpec {
    let layout = backbone.layout();
    let pooled = layout
        .layers
        .iter()
        .position(|l| matches!(l, Layer::GlobalAvgPool))
        .expect("the layout has a global pooling");
    let first = backbone.finetune_from_block();
    let last = layout.block_starts.len() - 1;
    let size = backbone.input_size();
    ModelSpec {
        name: backbone.variant_name().into(),
        description: format!(
            "{} with ImageNet weights, new genre head: head on cached features, then blocks \
             {first}-{last} fine-tuned at lr x0.1 with augmentation; {size}x{size}",
            backbone.display_name()
        ),
        preprocess: Preprocess::square(size as u32, Normalisation::EFFICIENTNET_LITE),
        optimiser: Optimiser {
            kind: OptimiserKind::AdamW,
            learning_rate: 1e-3,
            weight_decay: 1e-2,
        },
        schedule: Schedule::Cosine { warmup_epochs: 1 },
        epochs: 16,
        batch_size: 32,
        early_stopping_patience: Some(4),
        label_smoothing: 0.1,
        balanced_class_weights: false,
        logit_adjustment: 0.0,
        augment: Some(Augment {
            rotation_deg: 10.0,
            shift: 0.1,
            shear: 0.0,
            zoom: 0.1,
            horizontal_flip: true,
            brightness: Some((0.8, 1.2)),
            crop_area: None,
            contrast: None,
            saturation: None,
        }),
        train_on: TrainOn::Train,
        pretrained: Some(Pretrained {
            loader: backbone.loader().into(),
            frozen_layers: pooled + 1,
            head_epochs: 10,
            finetune_from_layer: layout.block_starts[first],
            finetune_lr_scale: 0.1,
            deep: None,
            views: Default::default(),
            distill: None,
        }),
        layers: layout.layers,
    }
}

/// The deep recipe on a backbone: the same head phase on cached features, then blocks from
/// [`Backbone::deep_from_block`] on train on decoded covers with random resized crops (60-100%
/// of the area), flips and colour jitter, layer-wise rates from x0.1 up to x1 of the phase's
/// rate, one warm-up epoch, label smoothing 0.1. No logit adjustment: on covers-v1 dev, tau 1
/// cut the head phase to accuracy 0.20 / macro-F1 0.22 (`logit_adjustment` turns it on).
fn effnet_deep_spec(backbone: Backbone) -> ModelSpec {
    let mut spec = effnet_spec(backbone);
    let first = backbone.deep_from_block();
    let layout = backbone.layout();
    let last = layout.block_starts.len() - 1;
    spec.name = format!("{}-deep", backbone.variant_name());
    spec.description = format!(
        "{} with ImageNet weights, new genre head: head on cached features, then blocks \
         {first}-{last} fine-tuned on decoded covers (crop, flip, colour jitter; layer-wise lr, \
         warm-up, cosine); {size}x{size}",
        backbone.display_name(),
        size = backbone.input_size()
    );
    spec.augment = Some(Augment::VIEWS);
    if let Some(pretrained) = spec.pretrained.as_mut() {
        pretrained.deep = Some(DeepFinetune {
            from_layer: layout.block_starts[first],
            lowest_lr_scale: 0.1,
            warmup_epochs: 1,
        });
    }
    spec
}

/// Variants built on a pretrained backbone.
pub fn variants() -> Vec<ModelSpec> {
    Backbone::ALL
        .into_iter()
        .flat_map(|b| [b.spec(), b.deep_spec()])
        .collect()
}

#[cfg(test)]
mod tests;
