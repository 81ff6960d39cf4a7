//! Spec -> tch module. The builder walks [`ModelSpec::layers`] exactly as the ONNX writer does and
//! names every parameter with [`spec::param_prefix`], so trained weights, checkpoints and the exported
//! graph all agree on "3.weight", "5.2.running_mean" and so on.

use crate::preprocess::Preprocess;
use crate::spec::{self, Layer, ModelSpec};
use anyhow::{anyhow, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tch::{nn, Kind, Tensor};

/// The arithmetic of convolutions and dense layers in a forward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// float32 throughout.
    #[default]
    Fp32,
    /// Mixed precision, as PyTorch's CPU autocast does it: convolutions and dense layers multiply
    /// bfloat16 copies of their inputs and of the float32 master weights; the logits, loss,
    /// gradients of the weights, BatchNorm parameters and optimiser stay float32. On CPUs with
    /// AVX-512 BF16 / AMX this is the measured training speed-up (docs/results-training.md,
    /// "Training throughput").
    Bf16,
}

impl Precision {
    /// The element type convolutions and dense layers compute in.
    pub fn compute_kind(self) -> Kind {
        match self {
            Precision::Fp32 => Kind::Float,
            Precision::Bf16 => Kind::BFloat16,
        }
    }
}

/// One built layer. Parameters live in the caller's `VarStore`; the blocks only hold handles.
#[derive(Debug)]
enum Block {
    Conv(Conv),
    BatchNorm(nn::BatchNorm),
    Relu,
    Relu6,
    MaxPool { kernel: i64, stride: i64 },
    AvgPool { kernel: i64, stride: i64 },
    GlobalAvgPool,
    Flatten,
    Linear(nn::Linear),
    Dropout(f64),
    ActivityL1(f64),
    Residual(Vec<Block>),
}

/// A convolution's parameters (in the `VarStore`) and its geometry: the forward pass calls
/// `conv2d` itself so it can cast to the [`Precision`] it runs in.
#[derive(Debug)]
struct Conv {
    layer: nn::Conv2D,
    stride: i64,
    padding: i64,
    groups: i64,
}

/// A CNN built from a spec. Input: float NCHW, already normalised (see [`normalise`]).
#[derive(Debug)]
pub struct Network {
    blocks: Vec<Block>,
    classes: usize,
    input: (i64, i64),
}

impl Network {
    /// Builds the network's parameters under `vs`, one sub-path per layer index.
    pub fn new(vs: &nn::Path, spec: &ModelSpec, classes: usize) -> Result<Self> {
        if classes == 0 {
            return Err(anyhow!("{}: a model needs at least one class", spec.name));
        }
        // Validates the whole spec (kernels that fit, residuals that keep their shape) up front,
        // so a bad spec is a clear error rather than a libtorch shape panic mid-training.
        spec::output_shapes(spec, classes).map_err(|e| anyhow!("variant {}: {e}", spec.name))?;
        let input = (
            3,
            spec.preprocess.height as usize,
            spec.preprocess.width as usize,
        );
        let (blocks, _) = build_blocks(vs, &[], &spec.layers, input, classes)?;
        Ok(Self {
            blocks,
            classes,
            input: (spec.preprocess.height as i64, spec.preprocess.width as i64),
        })
    }

    /// Number of outputs (logits).
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Input (height, width) the network was built for.
    pub fn input_size(&self) -> (i64, i64) {
        self.input
    }

    /// Returns (logits [N, classes], activity-L1 penalty as a scalar), in float32. Dropout and
    /// the L1 penalty act only when `train` is true; BatchNorm uses batch statistics (and updates
    /// its running averages) only then.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> (Tensor, Tensor) {
        let mode = if train { Mode::TRAIN } else { Mode::EVAL };
        self.forward(x, mode)
    }

    /// As [`Network::forward_t`] with every choice of `mode`, the precision included; the
    /// logits come back as float32 whatever the precision.
    pub fn forward(&self, x: &Tensor, mode: Mode) -> (Tensor, Tensor) {
        let mut penalty = Tensor::zeros([], (Kind::Float, x.device()));
        let logits =
            run_blocks(&self.blocks, &channels_last(x), mode, &mut penalty).to_kind(Kind::Float);
        (logits, penalty)
    }

    /// Number of top-level layers (the spec's `layers.len()`).
    pub fn layer_count(&self) -> usize {
        self.blocks.len()
    }

    /// Runs only the top-level layers `range` of the spec on `x`, which must be the output of
    /// layer `range.start - 1` (or the normalised input when it starts at 0). Transfer learning
    /// uses it to cache the frozen part's activations once and train the rest on them; `mode`
    /// lets fine-tuned layers use dropout while their BatchNorms keep the running statistics.
    /// Activity-L1 penalties are not collected here. The output is float32.
    pub fn forward_range(&self, x: &Tensor, range: std::ops::Range<usize>, mode: Mode) -> Tensor {
        let mut penalty = Tensor::zeros([], (Kind::Float, x.device()));
        run_blocks(&self.blocks[range], &channels_last(x), mode, &mut penalty).to_kind(Kind::Float)
    }
}

/// How layers behave in a forward pass: training-only layers on or off, and whether BatchNorm normalises
/// with batch statistics (updating its running averages) or with the running averages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    /// Training-only layers act: dropout drops, activity-L1 adds its penalty.
    pub training: bool,
    pub batch_stats: bool,
    pub precision: Precision,
}

impl Mode {
    /// Inference: no dropout, running statistics, float32 (the arithmetic of the exported model).
    pub const EVAL: Self = Self {
        training: false,
        batch_stats: false,
        precision: Precision::Fp32,
    };

    /// A training step in float32: dropout, L1 penalties and batch statistics on.
    pub const TRAIN: Self = Self {
        training: true,
        batch_stats: true,
        precision: Precision::Fp32,
    };

    /// The same mode computing in `precision`.
    pub fn with_precision(self, precision: Precision) -> Self {
        Self { precision, ..self }
    }
}

type Shape = (usize, usize, usize);

fn build_blocks(
    vs: &nn::Path,
    prefix: &[usize],
    layers: &[Layer],
    mut shape: Shape,
    classes: usize,
) -> Result<(Vec<Block>, Shape)> {
    let mut blocks = Vec::with_capacity(layers.len());
    for (index, layer) in layers.iter().enumerate() {
        let mut path_indices = prefix.to_vec();
        path_indices.push(index);
        let path = vs.sub(spec::param_prefix(&[index]));
        let (block, next) = build_block(&path, &path_indices, layer, shape, classes)?;
        blocks.push(block);
        shape = next;
    }
    Ok((blocks, shape))
}

fn build_block(
    path: &nn::Path,
    indices: &[usize],
    layer: &Layer,
    shape: Shape,
    classes: usize,
) -> Result<(Block, Shape)> {
    let (channels, height, width) = shape;
    let block = match layer {
        Layer::Conv {
            out,
            kernel,
            stride,
            padding,
            groups,
            bias,
        } => {
            let config = nn::ConvConfig {
                stride: *stride as i64,
                padding: *padding as i64,
                groups: *groups as i64,
                bias: *bias,
                ..Default::default()
            };
            let mut layer = nn::conv2d(path, channels as i64, *out as i64, *kernel as i64, config);
            to_channels_last(&mut layer.ws);
            Block::Conv(Conv {
                layer,
                stride: config.stride,
                padding: config.padding,
                groups: config.groups,
            })
        }
        Layer::BatchNorm => {
            let config = nn::BatchNormConfig {
                eps: spec::BATCH_NORM_EPS,
                momentum: spec::BATCH_NORM_MOMENTUM,
                // PyTorch and Keras start BatchNorm as the identity: gamma 1, beta 0.
                ws_init: nn::Init::Const(1.0),
                bs_init: nn::Init::Const(0.0),
                ..Default::default()
            };
            Block::BatchNorm(nn::batch_norm2d(path, channels as i64, config))
        }
        Layer::Relu => Block::Relu,
        Layer::Relu6 => Block::Relu6,
        Layer::MaxPool { kernel, stride } => Block::MaxPool {
            kernel: *kernel as i64,
            stride: *stride as i64,
        },
        Layer::AvgPool { kernel, stride } => Block::AvgPool {
            kernel: *kernel as i64,
            stride: *stride as i64,
        },
        Layer::GlobalAvgPool => Block::GlobalAvgPool,
        Layer::Flatten => Block::Flatten,
        Layer::Dense { units } => Block::Linear(linear(path, channels * height * width, *units)),
        Layer::Logits => Block::Linear(linear(path, channels * height * width, classes)),
        Layer::Dropout { p } => Block::Dropout(*p),
        Layer::ActivityL1 { weight } => Block::ActivityL1(*weight),
        Layer::Residual { body } => {
            let (inner, _) = build_blocks(path, indices, body, shape, classes)?;
            Block::Residual(inner)
        }
    };
    let next = spec::layer_output_shape(layer, shape, classes)
        .map_err(|e| anyhow!("layer {}: {e}", spec::param_prefix(indices)))?;
    Ok((block, next))
}

/// Lays a conv weight out channels-last (NHWC strides, same logical shape): with inputs that are
/// channels-last too (batches come in as NHWC u8), libtorch's CPU convolutions skip the layout
/// conversions both ways, which is the measured speed-up on this kind of CPU.
fn to_channels_last(weight: &mut Tensor) {
    let nhwc = tch::no_grad(|| channels_last(weight));
    weight.set_data(&nhwc);
}

/// A 4-D tensor with channels-last strides (the same logical shape); a copy only where it is
/// not laid out so already. Inputs that arrive NCHW (the transfer recipe's cached maps) would
/// otherwise send oneDNN to blocked layouts with a reorder around every convolution, and to its
/// im2col path for depthwise weight gradients: fine-tuning on cached maps ran at 0.7x PyTorch
/// (docs/results-training.md, "Training throughput").
fn channels_last(x: &Tensor) -> Tensor {
    if x.dim() != 4 {
        return x.shallow_clone();
    }
    x.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

fn linear(path: &nn::Path, inputs: usize, outputs: usize) -> nn::Linear {
    nn::linear(path, inputs as i64, outputs as i64, Default::default())
}

/// Runs `blocks` in order, except that a ReLU followed by a max-pool runs as the max-pool then
/// the ReLU. Both are monotone, so the values are the same, and so are the gradients: the pool
/// picks the same element, and ReLU's gradient is 0 wherever the window's maximum is not
/// positive either way. The ReLU and its backward pass then touch a quarter of the elements (a
/// 2x2 pool): about 5% of a float32 step of the study's CNNs
/// (docs/results-training.md, "Training throughput").
fn run_blocks(blocks: &[Block], x: &Tensor, mode: Mode, penalty: &mut Tensor) -> Tensor {
    let mut x = x.shallow_clone();
    let mut rest = blocks;
    while let Some((block, after)) = rest.split_first() {
        match (block, after.first()) {
            (Block::Relu, Some(pool @ Block::MaxPool { .. })) => {
                x = run_block(pool, &x, mode, penalty).relu();
                rest = &after[1..];
            }
            _ => {
                x = run_block(block, &x, mode, penalty);
                rest = after;
            }
        }
    }
    x
}

fn run_block(block: &Block, x: &Tensor, mode: Mode, penalty: &mut Tensor) -> Tensor {
    use nn::ModuleT;
    let kind = mode.precision.compute_kind();
    match block {
        Block::Conv(conv) => {
            let Conv {
                layer,
                stride,
                padding,
                groups,
            } = conv;
            x.to_kind(kind).conv2d(
                &layer.ws.to_kind(kind),
                layer.bs.as_ref().map(|b| b.to_kind(kind)),
                [*stride, *stride],
                [*padding, *padding],
                [1, 1],
                *groups,
            )
        }
        Block::BatchNorm(bn) => bn.forward_t(x, mode.batch_stats),
        Block::Relu => x.relu(),
        Block::Relu6 => x.clamp(0.0, 6.0),
        Block::MaxPool { kernel, stride } => x.max_pool2d(
            [*kernel, *kernel],
            [*stride, *stride],
            [0, 0],
            [1, 1],
            false,
        ),
        Block::AvgPool { kernel, stride } => x.avg_pool2d(
            [*kernel, *kernel],
            [*stride, *stride],
            [0, 0],
            false,
            true,
            None,
        ),
        Block::GlobalAvgPool => x.mean_dim([2i64, 3].as_slice(), true, Kind::Float),
        Block::Flatten => x.flatten(1, -1),
        // Dense layers also accept [N, C, 1, 1] straight from global pooling.
        Block::Linear(linear) => x.flatten(1, -1).to_kind(kind).linear(
            &linear.ws.to_kind(kind),
            linear.bs.as_ref().map(|b| b.to_kind(kind)),
        ),
        Block::Dropout(p) => x.dropout(*p, mode.training),
        Block::ActivityL1(weight) => {
            if mode.training {
                *penalty = &*penalty + x.abs().mean(Kind::Float) * *weight;
            }
            x.shallow_clone()
        }
        Block::Residual(body) => x + run_blocks(body, x, mode, penalty),
    }
}

/// u8 NHWC pixels -> normalised f32 NCHW, with the same per-channel `pixel * scale + shift` the
/// ONNX graph applies ([`crate::preprocess::Normalisation::affine`]).
pub fn normalise(pixels: &Tensor, pre: &Preprocess) -> Tensor {
    let nchw = pixels.to_kind(Kind::Float).permute([0, 3, 1, 2]);
    normalise_float(&nchw, pre)
}

/// Float NCHW pixels in [0, 255] (e.g. after augmentation) -> normalised network input.
pub fn normalise_float(pixels: &Tensor, pre: &Preprocess) -> Tensor {
    let affine = pre.normalisation.affine();
    let device = pixels.device();
    let scale = Tensor::from_slice(&affine.map(|(s, _)| s))
        .view([1, 3, 1, 1])
        .to_device(device);
    let shift = Tensor::from_slice(&affine.map(|(_, b)| b))
        .view([1, 3, 1, 1])
        .to_device(device);
    pixels * scale + shift
}

/// Every variable of a store (trainable weights and BatchNorm running statistics) as
/// name -> (shape, row-major f32 values): the form the ONNX writer and safetensors use.
pub fn named_weights(vs: &nn::VarStore) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    vs.variables()
        .into_iter()
        .map(|(name, tensor)| {
            let shape = tensor.size().iter().map(|&d| d as usize).collect();
            let flat = tensor
                .detach()
                .to_device(tch::Device::Cpu)
                .to_kind(Kind::Float)
                .contiguous()
                .flatten(0, -1);
            let values = Vec::<f32>::try_from(&flat)
                .expect("a contiguous f32 CPU tensor converts to Vec<f32>");
            (name, (shape, values))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// The blocks in the spec's order, with no reordering: the path [`run_blocks`] replaces.
    fn run_as_written(blocks: &[Block], x: &Tensor, mode: Mode, penalty: &mut Tensor) -> Tensor {
        blocks.iter().fold(x.shallow_clone(), |x, block| {
            run_block(block, &x, mode, penalty)
        })
    }

    /// What `run` makes of `blocks` on `x` (its activity-L1 penalty left out): the paths the
    /// network's own passes are compared with.
    fn output_of(
        run: fn(&[Block], &Tensor, Mode, &mut Tensor) -> Tensor,
        blocks: &[Block],
        x: &Tensor,
        mode: Mode,
    ) -> Tensor {
        let mut penalty = Tensor::zeros([], (Kind::Float, Device::Cpu));
        run(blocks, x, mode, &mut penalty)
    }

    fn assert_same_loss(ours: f64, theirs: f64, relative: f64) {
        assert!(
            (ours - theirs).abs() <= relative * theirs.abs(),
            "loss {ours} against {theirs}"
        );
    }

    /// One training step's loss and every parameter's gradient, by name.
    fn step(
        vs: &nn::VarStore,
        logits: impl Fn() -> Tensor,
        labels: &Tensor,
    ) -> (f64, Vec<(String, Tensor)>) {
        for (_, variable) in vs.variables() {
            let mut grad = variable.grad();
            if grad.defined() {
                let _ = grad.zero_();
            }
        }
        let loss = logits().cross_entropy_for_logits(labels);
        loss.backward();
        let mut grads: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .map(|(name, variable)| {
                let grad = variable.grad();
                let grad = if grad.defined() {
                    grad.copy()
                } else {
                    variable.zeros_like()
                };
                (name, grad)
            })
            .collect();
        grads.sort_by(|a, b| a.0.cmp(&b.0));
        (loss.double_value(&[]), grads)
    }

    #[test]
    fn nchw_inputs_run_channels_last_with_the_loss_and_gradients_of_their_own_layout() {
        tch::manual_seed(11);
        let spec = spec::variant(spec::efficientnet::LITE0_NAME).expect("EfficientNet-Lite0");
        let from = spec
            .pretrained
            .as_ref()
            .expect("a transfer spec")
            .finetune_from_layer;
        let vs = nn::VarStore::new(Device::Cpu);
        let network = Network::new(&vs.root(), &spec, 5).expect("a valid spec");
        let layers = from..network.layer_count();
        // NCHW-contiguous, as the transfer recipe caches the frozen layers' maps; no dropout,
        // BatchNorm on its running statistics, so both passes compute the same function.
        let maps = Tensor::randn([4, 192, 7, 7], (Kind::Float, Device::Cpu));
        assert!(maps.is_contiguous());
        let mode = Mode {
            training: false,
            ..Mode::EVAL
        };
        let labels = Tensor::from_slice(&[0i64, 1, 2, 4]);
        let channels_last_run = step(
            &vs,
            || network.forward_range(&maps, layers.clone(), mode),
            &labels,
        );
        let blocks = &network.blocks[layers.clone()];
        let as_given = step(&vs, || output_of(run_blocks, blocks, &maps, mode), &labels);
        assert_same_loss(channels_last_run.0, as_given.0, 1e-5);
        let trained: Vec<_> = channels_last_run
            .1
            .iter()
            .zip(&as_given.1)
            .filter(|(_, (_, g))| g.abs().max().double_value(&[]) > 0.0)
            .collect();
        assert!(
            trained.len() > 20,
            "only {} parameters got a gradient",
            trained.len()
        );
        // Both layouts sum the same products in another order and with other thread splits,
        // and the weight gradients of 1x1 convolutions sum 196 of them with cancellation: single
        // elements moved by up to 6e-3 of the largest one under a loaded test run, the whole
        // gradient by at most 4e-4 of its L2 norm. A wrong layout is off by tens of percent.
        for ((name, ours), (_, theirs)) in trained {
            let norm = theirs.norm().double_value(&[]);
            let apart = (ours - theirs).norm().double_value(&[]);
            assert!(
                apart <= 2e-3 * norm,
                "{name}: gradients {apart:e} apart (norm {norm:e})"
            );
        }
    }

    #[test]
    fn max_pool_before_relu_gives_the_loss_and_gradients_of_the_written_order() {
        tch::manual_seed(7);
        let mut spec = spec::variant("baseline").expect("the study's baseline");
        (spec.preprocess.height, spec.preprocess.width) = (32, 32);
        let vs = nn::VarStore::new(Device::Cpu);
        let network = Network::new(&vs.root(), &spec, 4).expect("a valid spec");
        assert!(
            network
                .blocks
                .windows(2)
                .any(|pair| matches!(pair, [Block::Relu, Block::MaxPool { .. }])),
            "the baseline has ReLU then max-pool"
        );
        // Zero-mean inputs: many pooling windows hold no positive value, where ReLU's
        // gradient must be zero in both orders.
        let x = Tensor::randn([6, 3, 32, 32], (Kind::Float, Device::Cpu));
        let labels = Tensor::from_slice(&[0i64, 1, 2, 3, 0, 1]);
        let reordered = step(&vs, || network.forward(&x, Mode::TRAIN).0, &labels);
        let written = step(
            &vs,
            || output_of(run_as_written, &network.blocks, &x, Mode::TRAIN),
            &labels,
        );
        assert_same_loss(reordered.0, written.0, 1e-6);
        assert_eq!(reordered.1.len(), written.1.len());
        for ((name, ours), (_, theirs)) in reordered.1.iter().zip(&written.1) {
            let scale = theirs.abs().max().double_value(&[]).max(1e-12);
            let worst = (ours - theirs).abs().max().double_value(&[]);
            assert!(
                worst <= 1e-6 * scale,
                "{name}: gradients differ by {worst:e} (scale {scale:e})"
            );
            assert!(scale > 1e-12, "{name}: no gradient reached it");
        }
    }
}
