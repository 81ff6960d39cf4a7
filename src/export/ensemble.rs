//! Several exported models as one ONNX file: every member's graph runs from the one `image`
//! input, and the ensemble's `probabilities` are the mean of the members' probabilities.
//!
//! - Members must agree on the contract: the same genres, input size, resize filter and
//!   normalisation (each member's own preprocessing stays inside its subgraph, and a resize
//!   inside the graph would no longer be the one the metadata promises).
//! - Each member's names get a `m<k>/` prefix; the input `image` is shared.
//! - `logits` of an ensemble are `log(probabilities)`: softmax of them gives the probabilities
//!   back, so the contract's `probabilities = softmax(logits)` still holds; a member's own
//!   temperature stays inside its subgraph, and the ensemble records none.
//! - Metadata: the first member's, with `variant` `ensemble(a+b+...)`, `ensemble_members` (a
//!   JSON list of each member's variant and temperature), and no dev/test metrics or
//!   temperature (they were the members').
//!
//! Like [`super::temperature`], this edits graphs with the project's own prost messages, so
//! only models written by covergenre are accepted.

use super::proto::{ModelProto, NodeProto, StringStringEntryProto};
use crate::metadata::{
    DEV_METRICS, GENRES, INPUT_NAME, LOGITS_NAME, PROBABILITIES_NAME, TEMPERATURE, TEST_METRICS,
    VARIANT,
};
use crate::preprocess::{INPUT_HEIGHT, INPUT_WIDTH, NORMALISATION, RESIZE_FILTER};
use anyhow::{anyhow, ensure, Context, Result};
use prost::Message;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Metadata key listing the members.
pub const ENSEMBLE_MEMBERS: &str = "ensemble_members";

/// Metadata entries every member must share.
const CONTRACT: [&str; 5] = [
    GENRES,
    INPUT_HEIGHT,
    INPUT_WIDTH,
    RESIZE_FILTER,
    NORMALISATION,
];

fn props(model: &ModelProto) -> BTreeMap<String, String> {
    model
        .metadata_props
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect()
}

/// One ONNX model (bytes) averaging the probabilities of `members` (ONNX bytes, at least two).
pub fn ensemble_bytes(members: &[Vec<u8>]) -> Result<Vec<u8>> {
    ensure!(members.len() >= 2, "an ensemble needs at least two members");
    let models: Vec<ModelProto> = members
        .iter()
        .enumerate()
        .map(|(k, bytes)| {
            let model = ModelProto::decode(bytes.as_slice())
                .map_err(|e| anyhow!("member {}: not an ONNX model: {e}", k + 1))?;
            ensure!(
                model.producer_name == "covergenre",
                "member {}: only models written by covergenre can join an ensemble (made by {:?})",
                k + 1,
                model.producer_name
            );
            Ok(model)
        })
        .collect::<Result<_>>()?;
    let first = props(&models[0]);
    for (k, model) in models.iter().enumerate().skip(1) {
        let theirs = props(model);
        for key in CONTRACT {
            ensure!(
                first.get(key) == theirs.get(key),
                "member {} has another '{key}' ({:?}) than member 1 ({:?})",
                k + 1,
                theirs.get(key),
                first.get(key)
            );
        }
        ensure!(
            model.opset_import == models[0].opset_import,
            "member {} uses another opset than member 1",
            k + 1
        );
    }

    let mut merged = models[0].clone();
    let mut graph = merged
        .graph
        .take()
        .ok_or_else(|| anyhow!("member 1 has no graph"))?;
    let (input, outputs) = (graph.input.clone(), graph.output.clone());
    graph.node.clear();
    graph.initializer.clear();
    graph.value_info.clear();
    let mut member_probabilities = Vec::new();
    for (k, model) in models.iter().enumerate() {
        let member = model
            .graph
            .as_ref()
            .ok_or_else(|| anyhow!("member {} has no graph", k + 1))?;
        let prefix = format!("m{}/", k + 1);
        let rename = |name: &String| -> String {
            if name == INPUT_NAME || name.is_empty() {
                name.clone()
            } else {
                format!("{prefix}{name}")
            }
        };
        for node in &member.node {
            let mut node = node.clone();
            node.input = node.input.iter().map(rename).collect();
            node.output = node.output.iter().map(rename).collect();
            node.name = format!("{prefix}{}", node.name);
            graph.node.push(node);
        }
        for tensor in &member.initializer {
            let mut tensor = tensor.clone();
            tensor.name = rename(&tensor.name);
            graph.initializer.push(tensor);
        }
        for info in &member.value_info {
            let mut info = info.clone();
            info.name = rename(&info.name);
            graph.value_info.push(info);
        }
        member_probabilities.push(rename(&PROBABILITIES_NAME.to_string()));
    }
    graph.node.push(NodeProto {
        input: member_probabilities,
        output: vec![PROBABILITIES_NAME.into()],
        name: "ensemble/Mean".into(),
        op_type: "Mean".into(),
        attribute: vec![],
        domain: String::new(),
    });
    graph.node.push(NodeProto {
        input: vec![PROBABILITIES_NAME.into()],
        output: vec![LOGITS_NAME.into()],
        name: "ensemble/Log".into(),
        op_type: "Log".into(),
        attribute: vec![],
        domain: String::new(),
    });
    graph.input = input;
    graph.output = outputs;
    graph.name = "covergenre-ensemble".into();
    merged.graph = Some(graph);

    let describe: Vec<serde_json::Value> = models
        .iter()
        .map(|m| {
            let p = props(m);
            serde_json::json!({
                "variant": p.get(VARIANT).cloned().unwrap_or_default(),
                "temperature": p.get(TEMPERATURE).and_then(|t| t.parse::<f64>().ok()).unwrap_or(1.0),
                "test_metrics": p.get(TEST_METRICS).and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok()),
            })
        })
        .collect();
    let variants: Vec<String> = models
        .iter()
        .map(|m| props(m).get(VARIANT).cloned().unwrap_or_default())
        .collect();
    let mut meta = first;
    for key in [DEV_METRICS, TEST_METRICS, TEMPERATURE] {
        meta.remove(key);
    }
    meta.insert(VARIANT.into(), format!("ensemble({})", variants.join("+")));
    meta.insert(
        ENSEMBLE_MEMBERS.into(),
        serde_json::Value::Array(describe).to_string(),
    );
    merged.metadata_props = meta
        .into_iter()
        .map(|(key, value)| StringStringEntryProto { key, value })
        .collect();
    merged.doc_string = format!("mean of {} covergenre models", models.len());
    Ok(merged.encode_to_vec())
}

/// The model file a member argument names: a model file, or a training run folder
/// (`<dir>/best/model.onnx`, else `<dir>/model.onnx`).
pub fn member_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        let best = path.join("best").join("model.onnx");
        if best.is_file() {
            best
        } else {
            path.join("model.onnx")
        }
    } else {
        path.to_path_buf()
    }
}

/// Reads the members (model files or run folders, see [`member_file`]), writes their ensemble
/// to `out` atomically, and returns its bytes.
pub fn write_ensemble(members: &[PathBuf], out: &Path) -> Result<Vec<u8>> {
    let bytes = members
        .iter()
        .map(|m| {
            let file = member_file(m);
            std::fs::read(&file)
                .with_context(|| format!("cannot read the ensemble member {}", file.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    let ensemble = ensemble_bytes(&bytes)?;
    crate::util::write_atomic(out, &ensemble)
        .with_context(|| format!("cannot write the ensemble {}", out.display()))?;
    Ok(ensemble)
}
