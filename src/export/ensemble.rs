//! Several exported models as one ONNX file: every member's graph runs from the one `image`
//! input, and the ensemble's `probabilities` are the mean of the members' probabilities.
//!
//! - Members must agree on the genres, the resize filter and the normalisation (each member's
//!   own normalisation stays inside its subgraph).
//! - Their input sizes may differ (EfficientNet-Lite0 takes 224x224, Lite2 260x260). The
//!   ensemble takes the largest member's size, which its metadata records, and a smaller member
//!   gets a `Resize` (linear, half-pixel centres) in front of its subgraph: that member sees the
//!   cover resized twice, once by the classifier and once in the graph, which costs it a little
//!   sharpness; a member's own size is never upscaled.
//! - Each member's names get a `m<k>/` prefix; the input `image` is shared.
//! - `logits` of an ensemble are the log of the members' mean probabilities, and its
//!   `probabilities` their softmax (which is that mean), so the contract's `probabilities =
//!   softmax(logits)` holds and an ensemble is calibrated like any model (`--calibrate-to`);
//!   a member's own temperature stays inside its subgraph.
//! - Metadata: the largest member's (the first of them on a tie), with `variant`
//!   `ensemble(a+b+...)`, `ensemble_members` (a JSON list of each member's variant,
//!   temperature and input size), and no dev/test metrics or temperature (they were the
//!   members').
//!
//! Like [`super::temperature`], this edits graphs with the project's own prost messages, so
//! only models written by covergenre are accepted.

use super::onnx::{class_softmax, node_proto};
use super::proto::{
    attribute_type, data_type, AttributeProto, GraphProto, ModelProto, NodeProto,
    StringStringEntryProto, TensorProto,
};
use crate::metadata::{
    ARCHITECTURE, DEV_METRICS, GENRES, INPUT_NAME, LOGITS_NAME, PROBABILITIES_NAME, TEMPERATURE,
    TEST_METRICS, VARIANT,
};
use crate::preprocess::{INPUT_HEIGHT, INPUT_WIDTH, NORMALISATION, RESIZE_FILTER};
use anyhow::{anyhow, ensure, Context, Result};
use prost::Message;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Metadata key listing the members.
pub const ENSEMBLE_MEMBERS: &str = "ensemble_members";

/// Metadata entries every member must share (the input size may differ).
const CONTRACT: [&str; 3] = [GENRES, RESIZE_FILTER, NORMALISATION];

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
    let sizes = models
        .iter()
        .enumerate()
        .map(|(k, m)| input_size(m).with_context(|| format!("member {}", k + 1)))
        .collect::<Result<Vec<_>>>()?;
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

    // The largest member's input is the ensemble's; the first of them on a tie.
    let host = (0..models.len())
        .rev()
        .max_by_key(|&k| sizes[k].0 * sizes[k].1)
        .unwrap_or(0);
    let mut merged = models[host].clone();
    let mut graph = merged
        .graph
        .take()
        .ok_or_else(|| anyhow!("member {} has no graph", host + 1))?;
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
        let input = if sizes[k] == sizes[host] {
            INPUT_NAME.to_string()
        } else {
            resize_input(&mut graph, &prefix, sizes[k])
        };
        let rename = |name: &String| -> String {
            if name == INPUT_NAME {
                input.clone()
            } else if name.is_empty() {
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
    // probabilities = softmax(log(mean)) = mean: the ensemble ends in the same Softmax as a
    // single model, so it can be calibrated like one (crate::export::temperature).
    let mean = "ensemble/mean_probabilities";
    let members: Vec<&str> = member_probabilities.iter().map(String::as_str).collect();
    graph.node.extend([
        node_proto("Mean", &members, mean, "ensemble/Mean".into(), vec![]),
        node_proto("Log", &[mean], LOGITS_NAME, "ensemble/Log".into(), vec![]),
        class_softmax(LOGITS_NAME, PROBABILITIES_NAME, "ensemble/Softmax".into()),
    ]);
    graph.input = input;
    graph.output = outputs;
    graph.name = "covergenre-ensemble".into();
    merged.graph = Some(graph);

    let describe: Vec<serde_json::Value> = models
        .iter()
        .zip(&sizes)
        .map(|(m, (height, width))| {
            let p = props(m);
            serde_json::json!({
                "variant": p.get(VARIANT).cloned().unwrap_or_default(),
                "input_size": [height, width],
                "temperature": p.get(TEMPERATURE).and_then(|t| t.parse::<f64>().ok()).unwrap_or(1.0),
                "test_metrics": p.get(TEST_METRICS).and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok()),
            })
        })
        .collect();
    let variants: Vec<String> = models
        .iter()
        .map(|m| props(m).get(VARIANT).cloned().unwrap_or_default())
        .collect();
    let mut meta = props(&models[host]);
    for key in [DEV_METRICS, TEST_METRICS, TEMPERATURE, ARCHITECTURE] {
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

/// A member's input size (height, width) from its metadata.
fn input_size(model: &ModelProto) -> Result<(i64, i64)> {
    let p = props(model);
    let dimension = |key: &str| -> Result<i64> {
        p.get(key)
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|&v| v > 0)
            .ok_or_else(|| anyhow!("no valid '{key}' in its metadata"))
    };
    Ok((dimension(INPUT_HEIGHT)?, dimension(INPUT_WIDTH)?))
}

/// Adds the nodes that resize the shared uint8 NHWC `image` to `(height, width)` for the member
/// named by `prefix`, and returns the name of the resized image. The batch size is only known
/// at run time, so `Resize` gets its `sizes` from the input's shape.
fn resize_input(graph: &mut GraphProto, prefix: &str, (height, width): (i64, i64)) -> String {
    let name = |s: &str| format!("{prefix}resize/{s}");
    let resized = format!("{prefix}{INPUT_NAME}");
    graph.initializer.push(TensorProto {
        dims: vec![3],
        data_type: data_type::INT64,
        name: name("height_width_channels"),
        raw_data: [height, width, 3]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
    });
    let node = |op: &str, input: Vec<String>, output: String, attribute| NodeProto {
        name: format!("{prefix}resize/{op}"),
        op_type: op.into(),
        input,
        output: vec![output],
        attribute,
        domain: String::new(),
    };
    let int = |key: &str, i| AttributeProto {
        name: key.into(),
        i,
        r#type: attribute_type::INT,
        ..Default::default()
    };
    let string = |key: &str, s: &str| AttributeProto {
        name: key.into(),
        s: s.as_bytes().to_vec(),
        r#type: attribute_type::STRING,
        ..Default::default()
    };
    graph.node.extend([
        node(
            "Shape",
            vec![INPUT_NAME.into()],
            name("batch"),
            vec![int("start", 0), int("end", 1)],
        ),
        node(
            "Concat",
            vec![name("batch"), name("height_width_channels")],
            name("sizes"),
            vec![int("axis", 0)],
        ),
        // Inputs X, roi, scales, sizes: roi and scales left out.
        node(
            "Resize",
            vec![
                INPUT_NAME.into(),
                String::new(),
                String::new(),
                name("sizes"),
            ],
            resized.clone(),
            vec![string("mode", "linear")],
        ),
    ]);
    resized
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
