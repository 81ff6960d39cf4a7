//! Temperature scaling baked into an exported model: `probabilities = softmax(logits / T)`,
//! optionally with a per-genre logit bias (post-hoc logit adjustment):
//! `probabilities = softmax((logits + bias) / T)`.
//!
//! The `logits` output stays the raw network output, so a calibrated model can be
//! re-calibrated (the new temperature replaces the old one instead of compounding), and the
//! temperature is recorded in the metadata (`temperature`). Dividing every logit by the same
//! positive T never changes which genre ranks first, so accuracy, macro-F1 and top-k stay
//! exactly as they were; only the confidence moves.
//!
//! The graph is edited with the project's own prost messages, which declare only the fields
//! covergenre writes; other producers' models would lose fields on the way through, so they are
//! refused.

use super::proto::{
    data_type, GraphProto, ModelProto, NodeProto, StringStringEntryProto, TensorProto,
};
use crate::metadata::{LOGITS_NAME, PROBABILITIES_NAME, TAG_THRESHOLD, TEMPERATURE};
use anyhow::{anyhow, ensure, Result};
use prost::Message;

/// Name of the scaled logits between the division and the softmax.
const SCALED_LOGITS: &str = "logits_over_temperature";
/// Name of the scalar temperature initializer.
const TEMPERATURE_CONSTANT: &str = "temperature";
/// Name of the logits plus the per-genre bias, when there is one.
const ADJUSTED_LOGITS: &str = "adjusted_logits";
/// Name of the per-genre bias initializer.
const BIAS_CONSTANT: &str = "logit_bias";
/// Metadata key of the per-genre bias (a JSON list), when there is one.
pub const LOGIT_BIAS: &str = "logit_bias";

/// Returns `model` (ONNX bytes written by covergenre) with its softmax fed `logits / T` and
/// `temperature` in its metadata. A temperature already there is replaced; a logit bias
/// already there ([`with_calibration`]) is kept.
pub fn with_temperature(model: &[u8], temperature: f64) -> Result<Vec<u8>> {
    let proto = decode(model)?;
    let bias = current_bias(&proto);
    calibrate(proto, temperature, bias.as_deref())
}

/// Returns `model` with its softmax fed `(logits + bias) / T`: a per-genre `bias` (post-hoc
/// logit adjustment, [`crate::calibration::fit_logit_adjustment`]) changes which genre ranks
/// first, the temperature only the confidence. Both replace any already there; `None` removes
/// the bias. The metadata records `temperature` and `logit_bias`.
pub fn with_calibration(model: &[u8], temperature: f64, bias: Option<&[f32]>) -> Result<Vec<u8>> {
    calibrate(decode(model)?, temperature, bias)
}

/// Returns `model` with `tag_threshold` in its metadata set to `threshold` (chosen on the
/// calibrated probabilities), or removed for `None`.
pub fn with_tag_threshold(model: &[u8], threshold: Option<f64>) -> Result<Vec<u8>> {
    let mut proto = decode(model)?;
    proto.metadata_props.retain(|e| e.key != TAG_THRESHOLD);
    if let Some(threshold) = threshold {
        ensure!(
            (0.0..=1.0).contains(&threshold),
            "a tagging threshold is a probability, not {threshold}"
        );
        proto.metadata_props.push(StringStringEntryProto {
            key: TAG_THRESHOLD.into(),
            value: format!("{threshold}"),
        });
        proto.metadata_props.sort_by(|a, b| a.key.cmp(&b.key));
    }
    Ok(proto.encode_to_vec())
}

fn decode(model: &[u8]) -> Result<ModelProto> {
    let proto = super::decode_model(model)?;
    ensure!(
        proto.producer_name == "covergenre",
        "only models written by covergenre can be calibrated (this one was made by {:?})",
        proto.producer_name
    );
    Ok(proto)
}

/// The bias recorded in the metadata, if any.
fn current_bias(proto: &ModelProto) -> Option<Vec<f32>> {
    proto
        .metadata_props
        .iter()
        .find(|e| e.key == LOGIT_BIAS)
        .and_then(|e| serde_json::from_str(&e.value).ok())
}

fn calibrate(mut proto: ModelProto, temperature: f64, bias: Option<&[f32]>) -> Result<Vec<u8>> {
    ensure!(
        temperature.is_finite() && temperature > 0.0,
        "a temperature must be a positive number, not {temperature}"
    );
    if let Some(bias) = bias {
        ensure!(
            bias.iter().all(|b| b.is_finite()),
            "a logit bias must be finite numbers"
        );
    }
    let graph = proto
        .graph
        .as_mut()
        .ok_or_else(|| anyhow!("the model has no graph"))?;
    remove_calibration(graph);
    let softmax = graph
        .node
        .iter()
        .position(|n| n.op_type == "Softmax" && n.output == [PROBABILITIES_NAME])
        .ok_or_else(|| anyhow!("the model has no Softmax producing '{PROBABILITIES_NAME}'"))?;
    ensure!(
        graph.node[softmax].input.first().map(String::as_str) == Some(LOGITS_NAME),
        "the model's Softmax reads {:?}, not '{LOGITS_NAME}'",
        graph.node[softmax].input.first()
    );
    let mut nodes = Vec::new();
    let mut scaled_from = LOGITS_NAME;
    if let Some(bias) = bias {
        graph.initializer.push(TensorProto {
            dims: vec![bias.len() as i64],
            data_type: data_type::FLOAT,
            name: BIAS_CONSTANT.into(),
            raw_data: bias.iter().flat_map(|b| b.to_le_bytes()).collect(),
        });
        nodes.push(node("Add", [LOGITS_NAME, BIAS_CONSTANT], ADJUSTED_LOGITS));
        scaled_from = ADJUSTED_LOGITS;
    }
    graph.initializer.push(TensorProto {
        dims: vec![],
        data_type: data_type::FLOAT,
        name: TEMPERATURE_CONSTANT.into(),
        raw_data: (temperature as f32).to_le_bytes().to_vec(),
    });
    nodes.push(node(
        "Div",
        [scaled_from, TEMPERATURE_CONSTANT],
        SCALED_LOGITS,
    ));
    graph.node[softmax].input = vec![SCALED_LOGITS.into()];
    graph.node.splice(softmax..softmax, nodes);

    // A tagging threshold was chosen on the old probabilities: stale from here on.
    proto
        .metadata_props
        .retain(|e| e.key != TEMPERATURE && e.key != LOGIT_BIAS && e.key != TAG_THRESHOLD);
    proto.metadata_props.push(StringStringEntryProto {
        key: TEMPERATURE.into(),
        value: format!("{}", temperature as f32),
    });
    if let Some(bias) = bias {
        proto.metadata_props.push(StringStringEntryProto {
            key: LOGIT_BIAS.into(),
            value: serde_json::to_string(bias)?,
        });
    }
    proto.metadata_props.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(proto.encode_to_vec())
}

fn node(op: &str, input: [&str; 2], output: &str) -> NodeProto {
    NodeProto {
        input: input.map(String::from).to_vec(),
        output: vec![output.into()],
        name: format!("{output}/{op}"),
        op_type: op.into(),
        attribute: vec![],
        domain: String::new(),
    }
}

/// Takes out the nodes and constants of an earlier calibration, so the Softmax reads the raw
/// logits again.
fn remove_calibration(graph: &mut GraphProto) {
    let ours = [SCALED_LOGITS, ADJUSTED_LOGITS];
    graph
        .node
        .retain(|n| !n.output.iter().any(|o| ours.contains(&o.as_str())));
    graph
        .initializer
        .retain(|t| t.name != TEMPERATURE_CONSTANT && t.name != BIAS_CONSTANT);
    for node in &mut graph.node {
        for input in &mut node.input {
            if ours.contains(&input.as_str()) {
                *input = LOGITS_NAME.into();
            }
        }
    }
}
