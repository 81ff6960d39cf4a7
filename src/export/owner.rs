//! The owner's model as one ONNX file: a base covergenre model's whole graph with the owner's
//! head ([`OwnerHeadWeights`], learned by `train::owner_head`) on its outputs. The contract is
//! the base's: input `image` at the base's size; outputs `probabilities` and `logits`, now one
//! column per owner genre, with the owner's genres (and their spellings) in the metadata.
//!
//! - The base's names get a `base/` prefix (the input `image` is shared), so its own
//!   calibration stays inside: `base/probabilities = softmax(base/logits / T_base)`.
//! - The head: `logits = ln(base/probabilities . M) + base/logits . W + c` (MatMul, Log, Add),
//!   then `probabilities = softmax(logits)`; the owner model's temperature is baked in after,
//!   as for every model ([`super::temperature`]).
//! - It runs at the base model's speed: the head is a few hundred multiplications per cover.
//! - Metadata: the base's preprocessing, the owner's genres, `variant` `owner-head(<base>)`,
//!   `base_model` (the base's variant, file name, SHA-256, temperature and genres) and
//!   `owner_head` (the recipe and, per owner genre, the base genres it draws on); the base's
//!   metrics, temperature and tagging threshold are not carried over (they were the base's).
//!
//! Like [`super::ensemble`], only models written by covergenre are accepted as a base.

use super::onnx::{class_softmax, node_proto};
use super::proto::{data_type, ModelProto, StringStringEntryProto, TensorProto};
use crate::metadata::{ModelMetadata, INPUT_NAME, LOGITS_NAME, PROBABILITIES_NAME};
use anyhow::{anyhow, ensure, Result};
use prost::Message;

/// Metadata key describing the base model the owner's model is built on (JSON).
pub const BASE_MODEL: &str = "base_model";
/// Metadata key describing the owner's head (JSON).
pub const OWNER_HEAD: &str = "owner_head";
/// The prefix of the base model's names inside the owner's model.
const PREFIX: &str = "base/";

/// The head's numbers, row-major: `mapping` and `weight` are base genres x owner genres.
#[derive(Debug, Clone, Copy)]
pub struct OwnerHeadWeights<'a> {
    pub base_genres: usize,
    pub owner_genres: usize,
    pub mapping: &'a [f32],
    pub weight: &'a [f32],
    pub bias: &'a [f32],
}

/// The owner's model: `base` (ONNX bytes written by covergenre) with `head` on its outputs,
/// described by `metadata` (the owner's genres, the base's preprocessing, the extra entries).
/// Uncalibrated: bake a temperature in with [`super::temperature::with_temperature`].
pub fn owner_model_bytes(
    base: &[u8],
    head: OwnerHeadWeights<'_>,
    metadata: &ModelMetadata,
) -> Result<Vec<u8>> {
    let (b, k) = (head.base_genres, head.owner_genres);
    ensure!(
        head.mapping.len() == b * k && head.weight.len() == b * k && head.bias.len() == k,
        "the owner's head does not fit {b} base genres and {k} owner genres"
    );
    ensure!(
        metadata.genres.len() == k,
        "the metadata names {} genres, the head has {k}",
        metadata.genres.len()
    );
    ensure!(
        head.mapping.iter().all(|m| *m > 0.0 && m.is_finite())
            && head.weight.iter().chain(head.bias).all(|w| w.is_finite()),
        "the owner's head holds a mapping share that is not positive, or a number that is not finite"
    );
    let mut model = ModelProto::decode(base)
        .map_err(|e| anyhow!("the base model is not an ONNX model: {e}"))?;
    ensure!(
        model.producer_name == "covergenre",
        "only models written by covergenre can be a base (this one was made by {:?})",
        model.producer_name
    );
    let mut graph = model
        .graph
        .take()
        .ok_or_else(|| anyhow!("the base model has no graph"))?;
    let rename = |name: &mut String| {
        if name != INPUT_NAME && !name.is_empty() {
            *name = format!("{PREFIX}{name}");
        }
    };
    for node in &mut graph.node {
        node.input.iter_mut().for_each(rename);
        node.output.iter_mut().for_each(rename);
        node.name = format!("{PREFIX}{}", node.name);
    }
    graph
        .initializer
        .iter_mut()
        .for_each(|t| rename(&mut t.name));
    graph
        .value_info
        .iter_mut()
        .for_each(|v| rename(&mut v.name));

    let constant = |name: &str, dims: Vec<i64>, values: &[f32]| TensorProto {
        dims,
        data_type: data_type::FLOAT,
        name: name.into(),
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    };
    graph.initializer.extend([
        constant("head/mapping", vec![b as i64, k as i64], head.mapping),
        constant("head/weight", vec![b as i64, k as i64], head.weight),
        constant("head/bias", vec![k as i64], head.bias),
    ]);
    let base_probabilities = format!("{PREFIX}{PROBABILITIES_NAME}");
    let base_logits = format!("{PREFIX}{LOGITS_NAME}");
    let node = |op: &str, inputs: &[&str], output: &str| {
        node_proto(op, inputs, output, format!("head/{op}/{output}"), vec![])
    };
    graph.node.extend([
        node(
            "MatMul",
            &[&base_probabilities, "head/mapping"],
            "head/mapped",
        ),
        node("Log", &["head/mapped"], "head/log_mapped"),
        node("MatMul", &[&base_logits, "head/weight"], "head/correction"),
        node("Add", &["head/correction", "head/bias"], "head/corrected"),
        node("Add", &["head/log_mapped", "head/corrected"], LOGITS_NAME),
        class_softmax(
            LOGITS_NAME,
            PROBABILITIES_NAME,
            format!("head/Softmax/{PROBABILITIES_NAME}"),
        ),
    ]);
    graph.output = vec![
        super::onnx::class_output_info(PROBABILITIES_NAME, k),
        super::onnx::class_output_info(LOGITS_NAME, k),
    ];
    graph.name = "covergenre-owner-head".into();
    model.graph = Some(graph);

    // The owner model's own description; none of the base's entries (metrics, temperature,
    // tagging threshold) carries over.
    let mut metadata = metadata.clone();
    super::stamp(&mut metadata);
    let props = metadata.to_props();
    model.metadata_props = props
        .into_iter()
        .map(|(key, value)| StringStringEntryProto { key, value })
        .collect();
    model.producer_version = crate::VERSION.into();
    model.doc_string = "a covergenre base model with an owner's head".into();
    Ok(model.encode_to_vec())
}
