//! Builds the ONNX graph of a [`ModelSpec`] walking the same layer list as the tch builder.
//!
//! The graph takes the raw resized image (uint8 NHWC) and does the preprocessing itself
//! (Cast, Transpose to NCHW, per-channel Mul and Add from [`crate::preprocess::Normalisation::affine`]), so an
//! outside user only has to resize. Training-only layers are left out and each BatchNorm that
//! follows a Conv is folded into that Conv's weights.

use super::fold::folded_norm;
use super::proto::{
    attribute_type, data_type, tensor_shape_proto, type_proto, AttributeProto, GraphProto,
    NodeProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use super::Weights;
use crate::metadata::{INPUT_NAME, LOGITS_NAME, PROBABILITIES_NAME};
use crate::preprocess::Preprocess;
use crate::spec::{param_prefix, Layer, ModelSpec, BATCH_NORM_EPS};
use anyhow::{bail, ensure, Context, Result};

/// Name of the dynamic batch dimension.
const BATCH_DIM: &str = "N";

/// Builds the inference graph of `spec` with `classes` outputs from `weights`.
pub fn build_graph(spec: &ModelSpec, classes: usize, weights: &Weights) -> Result<GraphProto> {
    let mut builder = GraphBuilder::new(weights, classes);
    let (c, h, w) = (
        3,
        spec.preprocess.height as usize,
        spec.preprocess.width as usize,
    );
    let input = builder.preprocessing(&spec.preprocess);
    let mut value = Value {
        name: input,
        shape: Shape::Image(c, h, w),
    };
    value = builder.layers(&spec.layers, &[], value)?;
    ensure!(
        value.shape == Shape::Features(classes),
        "the spec '{}' ends with shape {:?}, not {classes} logits: its last layer must be Logits",
        spec.name,
        value.shape
    );
    builder.outputs(value.name);
    Ok(GraphProto {
        node: builder.nodes,
        name: spec.name.clone(),
        initializer: builder.initializers,
        doc_string: spec.description.clone(),
        input: vec![tensor_info(
            INPUT_NAME,
            data_type::UINT8,
            &[Dim::Batch, Dim::Fixed(h), Dim::Fixed(w), Dim::Fixed(3)],
        )],
        output: [PROBABILITIES_NAME, LOGITS_NAME]
            .iter()
            .map(|name| tensor_info(name, data_type::FLOAT, &[Dim::Batch, Dim::Fixed(classes)]))
            .collect(),
        value_info: Vec::new(),
    })
}

/// Name of a prefix graph's output: the activations after its last layer, float NCHW.
pub const MAPS_NAME: &str = "maps";

/// The graph of the first `until` layers of `spec` (from the same uint8 image input and the
/// same preprocessing as the whole model), giving their activations as [`MAPS_NAME`]: the
/// frozen part of a transfer recipe, for onnxruntime to compute the training cache.
pub fn build_prefix_graph(spec: &ModelSpec, until: usize, weights: &Weights) -> Result<GraphProto> {
    ensure!(
        until > 0 && until <= spec.layers.len(),
        "a prefix of {until} layers of '{}', which has {}",
        spec.name,
        spec.layers.len()
    );
    let mut builder = GraphBuilder::new(weights, 0);
    let (h, w) = (
        spec.preprocess.height as usize,
        spec.preprocess.width as usize,
    );
    let input = builder.preprocessing(&spec.preprocess);
    let value = Value {
        name: input,
        shape: Shape::Image(3, h, w),
    };
    let value = builder.layers(&spec.layers[..until], &[], value)?;
    let Shape::Image(c, mh, mw) = value.shape else {
        bail!(
            "the first {until} layers of '{}' end in features, not maps",
            spec.name
        );
    };
    builder.node("Identity", &[&value.name], MAPS_NAME, vec![]);
    Ok(GraphProto {
        node: builder.nodes,
        name: format!("{}[..{until}]", spec.name),
        initializer: builder.initializers,
        doc_string: format!("the first {until} layers of {}", spec.name),
        input: vec![tensor_info(
            INPUT_NAME,
            data_type::UINT8,
            &[Dim::Batch, Dim::Fixed(h), Dim::Fixed(w), Dim::Fixed(3)],
        )],
        output: vec![tensor_info(
            MAPS_NAME,
            data_type::FLOAT,
            &[Dim::Batch, Dim::Fixed(c), Dim::Fixed(mh), Dim::Fixed(mw)],
        )],
        value_info: Vec::new(),
    })
}

/// Shape of an activation without its batch dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// NCHW: channels, height, width.
    Image(usize, usize, usize),
    /// [N, features].
    Features(usize),
}

/// A named graph value and its shape.
struct Value {
    name: String,
    shape: Shape,
}

/// A layer's parameters after BatchNorm folding: weight and bias with their shapes.
struct ConvParams {
    weight: Vec<f32>,
    weight_dims: Vec<usize>,
    bias: Vec<f32>,
}

struct GraphBuilder<'w> {
    weights: &'w Weights,
    classes: usize,
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
}

impl<'w> GraphBuilder<'w> {
    fn new(weights: &'w Weights, classes: usize) -> Self {
        Self {
            weights,
            classes,
            nodes: Vec::new(),
            initializers: Vec::new(),
        }
    }

    /// uint8 NHWC -> float NCHW, scaled and shifted per channel. Returns the normalised value.
    fn preprocessing(&mut self, preprocess: &Preprocess) -> String {
        let affine = preprocess.normalisation.affine();
        self.node(
            "Cast",
            &[INPUT_NAME],
            "pixels",
            vec![int("to", data_type::FLOAT as i64)],
        );
        self.node(
            "Transpose",
            &["pixels"],
            "pixels_nchw",
            vec![ints("perm", &[0, 3, 1, 2])],
        );
        let scale = self.constant(
            "normalise.scale",
            &[1, 3, 1, 1],
            affine.map(|a| a.0).to_vec(),
        );
        let shift = self.constant(
            "normalise.shift",
            &[1, 3, 1, 1],
            affine.map(|a| a.1).to_vec(),
        );
        self.node("Mul", &["pixels_nchw", &scale], "scaled", vec![]);
        self.node("Add", &["scaled", &shift], "normalised", vec![]);
        "normalised".into()
    }

    /// Emits `layers` (at index path `parent`) on `value`; returns the final value.
    fn layers(&mut self, layers: &[Layer], parent: &[usize], mut value: Value) -> Result<Value> {
        let mut index = 0;
        while index < layers.len() {
            let path = [parent, &[index]].concat();
            let prefix = param_prefix(&path);
            let folded_norm = folded_norm(layers, index);
            value = self
                .layer(
                    &layers[index],
                    &path,
                    value,
                    folded_norm.map(|n| [parent, &[n]].concat()),
                )
                .with_context(|| format!("layer {prefix} ({})", layer_name(&layers[index])))?;
            // Skip past the BatchNorm that was folded into this Conv.
            index = folded_norm.map_or(index + 1, |n| n + 1);
        }
        Ok(value)
    }

    fn layer(
        &mut self,
        layer: &Layer,
        path: &[usize],
        value: Value,
        folded_norm: Option<Vec<usize>>,
    ) -> Result<Value> {
        let prefix = param_prefix(path);
        let out = |suffix: &str| format!("{prefix}.{suffix}");
        Ok(match (layer, value.shape) {
            (l, _) if l.is_training_only() => value,
            (
                Layer::Conv {
                    out: channels,
                    kernel,
                    stride,
                    padding,
                    groups,
                    bias,
                },
                Shape::Image(c, h, w),
            ) => {
                ensure!(
                    *groups > 0 && c % groups == 0 && channels % groups == 0,
                    "groups {groups} must divide {c} input and {channels} output channels"
                );
                let mut params =
                    self.conv_params(&prefix, *channels, c / groups, *kernel, *bias)?;
                if let Some(norm_path) = folded_norm {
                    self.fold_batch_norm(&param_prefix(&norm_path), &mut params)?;
                }
                let weight = self.constant(&out("weight"), &params.weight_dims, params.weight);
                let bias = self.constant(&out("bias"), &[*channels], params.bias);
                let shape = Shape::Image(
                    *channels,
                    pooled_size(h, *kernel, *stride, *padding)?,
                    pooled_size(w, *kernel, *stride, *padding)?,
                );
                let (kernel, stride, padding) = (*kernel as i64, *stride as i64, *padding as i64);
                self.node(
                    "Conv",
                    &[&value.name, &weight, &bias],
                    &out("conv"),
                    vec![
                        ints("kernel_shape", &[kernel, kernel]),
                        ints("strides", &[stride, stride]),
                        ints("pads", &[padding; 4]),
                        int("group", *groups as i64),
                    ],
                );
                Value {
                    name: out("conv"),
                    shape,
                }
            }
            (Layer::BatchNorm, shape) => {
                let channels = match shape {
                    Shape::Image(c, ..) => c,
                    Shape::Features(f) => f,
                };
                self.batch_norm_node(&prefix, &value.name, channels)?;
                Value {
                    name: out("batch_norm"),
                    shape,
                }
            }
            (Layer::Relu, shape) => {
                self.node("Relu", &[&value.name], &out("relu"), vec![]);
                Value {
                    name: out("relu"),
                    shape,
                }
            }
            (Layer::Relu6, shape) => {
                let low = self.constant(&out("min"), &[], vec![0.0]);
                let high = self.constant(&out("max"), &[], vec![6.0]);
                self.node("Clip", &[&value.name, &low, &high], &out("relu6"), vec![]);
                Value {
                    name: out("relu6"),
                    shape,
                }
            }
            (Layer::MaxPool { kernel, stride }, Shape::Image(c, h, w))
            | (Layer::AvgPool { kernel, stride }, Shape::Image(c, h, w)) => {
                let op = if matches!(layer, Layer::MaxPool { .. }) {
                    "MaxPool"
                } else {
                    "AveragePool"
                };
                let (k, s) = (*kernel as i64, *stride as i64);
                self.node(
                    op,
                    &[&value.name],
                    &out("pool"),
                    vec![ints("kernel_shape", &[k, k]), ints("strides", &[s, s])],
                );
                Value {
                    name: out("pool"),
                    shape: Shape::Image(
                        c,
                        pooled_size(h, *kernel, *stride, 0)?,
                        pooled_size(w, *kernel, *stride, 0)?,
                    ),
                }
            }
            (Layer::GlobalAvgPool, Shape::Image(c, ..)) => {
                self.node("GlobalAveragePool", &[&value.name], &out("gap"), vec![]);
                Value {
                    name: out("gap"),
                    shape: Shape::Image(c, 1, 1),
                }
            }
            (Layer::Flatten, _) => self.flatten(value, &out("flatten")),
            (Layer::Dense { units }, _) => self.dense(value, &prefix, *units)?,
            (Layer::Logits, _) => self.dense(value, &prefix, self.classes)?,
            (Layer::Residual { body }, _) => {
                let input = value.name.clone();
                let result = self.layers(body, path, value)?;
                self.node("Add", &[&input, &result.name], &out("residual"), vec![]);
                Value {
                    name: out("residual"),
                    shape: result.shape,
                }
            }
            (layer, shape) => bail!(
                "{} cannot follow an activation of shape {shape:?}",
                layer_name(layer)
            ),
        })
    }

    /// Conv weight [out, in/groups, k, k] and bias (zeros when the layer has none).
    fn conv_params(
        &self,
        prefix: &str,
        out: usize,
        in_per_group: usize,
        kernel: usize,
        has_bias: bool,
    ) -> Result<ConvParams> {
        let weight_dims = vec![out, in_per_group, kernel, kernel];
        let weight = self
            .param(&format!("{prefix}.weight"), &weight_dims)?
            .to_vec();
        let bias = if has_bias {
            self.param(&format!("{prefix}.bias"), &[out])?.to_vec()
        } else {
            vec![0.0; out]
        };
        Ok(ConvParams {
            weight,
            weight_dims,
            bias,
        })
    }

    /// Folds `y = (x - mean) / sqrt(var + eps) * gamma + beta` into the preceding convolution.
    /// Done in f64 so folding adds no error beyond the final rounding to f32.
    fn fold_batch_norm(&self, prefix: &str, conv: &mut ConvParams) -> Result<()> {
        let channels = conv.weight_dims[0];
        let [gamma, beta, mean, var] = self.batch_norm_params(prefix, channels)?;
        let per_channel = conv.weight.len() / channels;
        for c in 0..channels {
            let factor = gamma[c] as f64 / (var[c] as f64 + BATCH_NORM_EPS).sqrt();
            for w in &mut conv.weight[c * per_channel..(c + 1) * per_channel] {
                *w = (*w as f64 * factor) as f32;
            }
            conv.bias[c] =
                ((conv.bias[c] as f64 - mean[c] as f64) * factor + beta[c] as f64) as f32;
        }
        Ok(())
    }

    fn batch_norm_params(&self, prefix: &str, channels: usize) -> Result<[&'w [f32]; 4]> {
        let names = ["weight", "bias", "running_mean", "running_var"];
        let mut params = [&[][..]; 4];
        for (slot, name) in params.iter_mut().zip(names) {
            *slot = self.param(&format!("{prefix}.{name}"), &[channels])?;
        }
        Ok(params)
    }

    /// A BatchNorm that follows no Conv stays a BatchNormalization node.
    fn batch_norm_node(&mut self, prefix: &str, input: &str, channels: usize) -> Result<()> {
        let params = self.batch_norm_params(prefix, channels)?;
        let names = ["weight", "bias", "running_mean", "running_var"];
        let inputs: Vec<String> = names
            .iter()
            .zip(params)
            .map(|(name, values)| {
                self.constant(&format!("{prefix}.{name}"), &[channels], values.to_vec())
            })
            .collect();
        let refs: Vec<&str> = std::iter::once(input)
            .chain(inputs.iter().map(String::as_str))
            .collect();
        self.node(
            "BatchNormalization",
            &refs,
            &format!("{prefix}.batch_norm"),
            vec![float("epsilon", BATCH_NORM_EPS as f32)],
        );
        Ok(())
    }

    /// Flattens an image activation to [N, C*H*W] (NCHW order, as torch flattens).
    fn flatten(&mut self, value: Value, name: &str) -> Value {
        match value.shape {
            Shape::Features(_) => value,
            Shape::Image(c, h, w) => {
                self.node("Flatten", &[&value.name], name, vec![int("axis", 1)]);
                Value {
                    name: name.into(),
                    shape: Shape::Features(c * h * w),
                }
            }
        }
    }

    /// Fully connected layer; an image activation (e.g. after global pooling) is flattened first.
    fn dense(&mut self, value: Value, prefix: &str, units: usize) -> Result<Value> {
        let value = self.flatten(value, &format!("{prefix}.flatten"));
        let Shape::Features(inputs) = value.shape else {
            unreachable!("flatten always gives features")
        };
        let weight = self
            .param(&format!("{prefix}.weight"), &[units, inputs])?
            .to_vec();
        let bias = self.param(&format!("{prefix}.bias"), &[units])?.to_vec();
        let weight = self.constant(&format!("{prefix}.weight"), &[units, inputs], weight);
        let bias = self.constant(&format!("{prefix}.bias"), &[units], bias);
        let name = format!("{prefix}.gemm");
        self.node(
            "Gemm",
            &[&value.name, &weight, &bias],
            &name,
            vec![int("transB", 1)],
        );
        Ok(Value {
            name,
            shape: Shape::Features(units),
        })
    }

    /// Names the logits and adds the softmax.
    fn outputs(&mut self, logits: String) {
        self.node("Identity", &[&logits], LOGITS_NAME, vec![]);
        let name = format!("{PROBABILITIES_NAME}/Softmax");
        self.nodes
            .push(class_softmax(LOGITS_NAME, PROBABILITIES_NAME, name));
    }

    /// Looks a trained parameter up and checks its shape.
    fn param(&self, name: &str, dims: &[usize]) -> Result<&'w [f32]> {
        let (shape, values) = self
            .weights
            .get(name)
            .with_context(|| format!("the weights have no parameter '{name}'"))?;
        ensure!(
            shape == dims && values.len() == dims.iter().product::<usize>(),
            "parameter '{name}' has shape {shape:?} ({} values), the spec needs {dims:?}",
            values.len()
        );
        Ok(values)
    }

    /// Adds a float initializer; returns its name.
    fn constant(&mut self, name: &str, dims: &[usize], values: Vec<f32>) -> String {
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: data_type::FLOAT,
            name: name.into(),
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        });
        name.into()
    }

    fn node(&mut self, op: &str, inputs: &[&str], output: &str, attribute: Vec<AttributeProto>) {
        let name = format!("{output}/{op}");
        self.nodes
            .push(node_proto(op, inputs, output, name, attribute));
    }
}

fn pooled_size(size: usize, kernel: usize, stride: usize, padding: usize) -> Result<usize> {
    (size + 2 * padding)
        .checked_sub(kernel)
        .map(|s| s / stride + 1)
        .with_context(|| format!("kernel {kernel} does not fit an input of {size} pixels"))
}

fn layer_name(layer: &Layer) -> String {
    format!("{layer:?}")
        .split([' ', '{', '('])
        .next()
        .unwrap_or_default()
        .to_string()
}

enum Dim {
    Batch,
    Fixed(usize),
}

/// A float [N, classes] graph output (`probabilities`, `logits`), for graphs edited elsewhere.
pub(crate) fn class_output_info(name: &str, classes: usize) -> ValueInfoProto {
    tensor_info(name, data_type::FLOAT, &[Dim::Batch, Dim::Fixed(classes)])
}

fn tensor_info(name: &str, elem_type: i32, dims: &[Dim]) -> ValueInfoProto {
    use tensor_shape_proto::{dimension::Value as D, Dimension};
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Dim::Batch => D::DimParam(BATCH_DIM.into()),
                Dim::Fixed(n) => D::DimValue(*n as i64),
            }),
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type,
                shape: Some(TensorShapeProto { dim }),
            })),
        }),
    }
}

/// One graph node of one output: every writer of this crate (a spec's graph, an ensemble, an
/// owner's head) makes its nodes here.
pub(crate) fn node_proto(
    op: &str,
    inputs: &[&str],
    output: &str,
    name: String,
    attribute: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        name,
        op_type: op.into(),
        attribute,
        domain: String::new(),
    }
}

/// The softmax over the class axis that ends every covergenre model (`probabilities =
/// softmax(logits)`, the contract).
pub(crate) fn class_softmax(logits: &str, probabilities: &str, name: String) -> NodeProto {
    node_proto(
        "Softmax",
        &[logits],
        probabilities,
        name,
        vec![int("axis", 1)],
    )
}

fn int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i,
        r#type: attribute_type::INT,
        ..Default::default()
    }
}

fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints: values.to_vec(),
        r#type: attribute_type::INTS,
        ..Default::default()
    }
}

fn float(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        f,
        r#type: attribute_type::FLOAT,
        ..Default::default()
    }
}
