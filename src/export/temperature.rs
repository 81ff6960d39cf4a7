//! Temperature scaling baked into an exported model: `probabilities = softmax(logits / T)`.
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

use super::proto::{data_type, ModelProto, NodeProto, StringStringEntryProto, TensorProto};
use crate::metadata::{LOGITS_NAME, PROBABILITIES_NAME, TEMPERATURE};
use anyhow::{anyhow, bail, ensure, Result};
use prost::Message;

/// Name of the scaled logits between the division and the softmax.
const SCALED_LOGITS: &str = "logits_over_temperature";
/// Name of the scalar temperature initializer.
const TEMPERATURE_CONSTANT: &str = "temperature";

/// Returns `model` (ONNX bytes written by covergenre) with its softmax fed `logits / T` and
/// `temperature` in its metadata. A temperature already there is replaced.
pub fn with_temperature(model: &[u8], temperature: f64) -> Result<Vec<u8>> {
    ensure!(
        temperature.is_finite() && temperature > 0.0,
        "a temperature must be a positive number, not {temperature}"
    );
    let mut proto = ModelProto::decode(model).map_err(|e| anyhow!("not an ONNX model: {e}"))?;
    ensure!(
        proto.producer_name == "covergenre",
        "only models written by covergenre can be calibrated (this one was made by {:?})",
        proto.producer_name
    );
    let graph = proto
        .graph
        .as_mut()
        .ok_or_else(|| anyhow!("the model has no graph"))?;
    let softmax = graph
        .node
        .iter()
        .position(|n| n.op_type == "Softmax" && n.output == [PROBABILITIES_NAME])
        .ok_or_else(|| anyhow!("the model has no Softmax producing '{PROBABILITIES_NAME}'"))?;
    let scalar = TensorProto {
        dims: vec![],
        data_type: data_type::FLOAT,
        name: TEMPERATURE_CONSTANT.into(),
        raw_data: (temperature as f32).to_le_bytes().to_vec(),
    };
    match graph.node[softmax].input.first().map(String::as_str) {
        Some(LOGITS_NAME) => {
            graph.node[softmax].input = vec![SCALED_LOGITS.into()];
            graph.node.insert(
                softmax,
                NodeProto {
                    input: vec![LOGITS_NAME.into(), TEMPERATURE_CONSTANT.into()],
                    output: vec![SCALED_LOGITS.into()],
                    name: format!("{SCALED_LOGITS}/Div"),
                    op_type: "Div".into(),
                    attribute: vec![],
                    domain: String::new(),
                },
            );
            graph.initializer.push(scalar);
        }
        Some(SCALED_LOGITS) => {
            let existing = graph
                .initializer
                .iter_mut()
                .find(|t| t.name == TEMPERATURE_CONSTANT)
                .ok_or_else(|| anyhow!("the model's temperature constant is missing"))?;
            *existing = scalar;
        }
        other => bail!("the model's Softmax reads {other:?}, not '{LOGITS_NAME}'"),
    }
    proto.metadata_props.retain(|e| e.key != TEMPERATURE);
    proto.metadata_props.push(StringStringEntryProto {
        key: TEMPERATURE.into(),
        value: format!("{}", temperature as f32),
    });
    proto.metadata_props.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(proto.encode_to_vec())
}
