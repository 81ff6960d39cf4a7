//! ONNX export: a spec and its weights as a standalone model file, written by our own code.
//! Needs no libtorch (no `train` feature): exporting a trained tch network, with its parity
//! check against tch, is `train::export`, which hands [`Weights`] to [`onnx_model_bytes`].
//!
//! - [`proto`]: our prost messages for the subset of the ONNX schema we write.
//! - [`onnx`]: the graph, built from the same [`ModelSpec`] the tch model is built from.
//! - [`fold`]: the BatchNorms folded into the convolution before them.
//! - [`temperature`]: temperature scaling baked into a written model (softmax of logits / T).
//! - [`ensemble`]: several written models as one file averaging their probabilities.
//! - [`owner`]: a base model with an owner's head on its outputs, as one file.
//!
//! The model contract: input `image`, uint8 [N, H, W, 3] RGB resized to the spec's size;
//! outputs `probabilities` and `logits`, float [N, C]; metadata_props as in [`crate::metadata`].

use crate::genres::GenreSet;
use crate::metadata::{ModelMetadata, CREATED, TOOLKIT_VERSION};
use crate::spec::ModelSpec;
use anyhow::{ensure, Result};
use prost::Message;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub mod ensemble;
pub mod fold;
pub mod onnx;
pub mod owner;
pub mod proto;
pub mod temperature;

/// Trained parameters by [`crate::spec::param_prefix`] name: (shape, row-major values).
pub type Weights = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// The file beside a winner's `genres.json` that holds its display names, when they are the
/// owner's own (see [`CheckpointInfo::genre_names`]).
pub const GENRE_NAMES_FILE: &str = "genre_names.json";

/// ONNX opset the graph uses: every operator we emit has had its current form since 13,
/// and onnxruntime 1.31 runs 17 on every execution provider.
pub const OPSET: i64 = 17;
/// IR version that goes with opset 17 (onnx 1.12+).
pub const IR_VERSION: i64 = 8;

/// What an export needs beside a checkpoint's weights (`checkpoint.json` next to
/// `*.safetensors`) to rebuild the network and describe it. Unknown fields (epoch, optimiser
/// state, ...) are ignored, so a trainer's bookkeeping file qualifies once it records `genres`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointInfo {
    pub spec: ModelSpec,
    /// Genre slugs in output order.
    pub genres: Vec<String>,
    /// Their display names, when they are not the ones the slugs imply (a music library's
    /// genres in the owner's spelling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genre_names: Option<Vec<String>>,
    /// Summary of the data the model was trained on (any JSON), recorded as `training_data`.
    #[serde(default)]
    pub training_data: Option<serde_json::Value>,
    /// Dev-set metrics (any JSON), recorded as `dev_metrics`.
    #[serde(default)]
    pub dev_metrics: Option<serde_json::Value>,
    /// Test-set metrics (any JSON), recorded as `test_metrics`.
    #[serde(default)]
    pub test_metrics: Option<serde_json::Value>,
}

impl CheckpointInfo {
    /// Reads the description of `checkpoint`, looking beside it for, in order:
    /// `<stem>.json` (best.safetensors -> best.json), `checkpoint.json`, then the trainer's
    /// winner folder pair `spec.json` + `genres.json`. Errors name the files.
    pub fn read_for(checkpoint: &Path) -> Result<Self> {
        let own = checkpoint.with_extension("json");
        let shared = checkpoint.with_file_name("checkpoint.json");
        for path in [&own, &shared] {
            if path.is_file() {
                return read_json(path, checkpoint, "JSON with 'spec' and 'genres'");
            }
        }
        let spec_path = checkpoint.with_file_name("spec.json");
        let genres_path = checkpoint.with_file_name("genres.json");
        let names_path = checkpoint.with_file_name(GENRE_NAMES_FILE);
        if spec_path.is_file() && genres_path.is_file() {
            let genre_names = match names_path.is_file() {
                true => Some(read_json(
                    &names_path,
                    checkpoint,
                    "a JSON list of genre names",
                )?),
                false => None,
            };
            return Ok(Self {
                spec: read_json(&spec_path, checkpoint, "a model spec")?,
                genres: read_json(&genres_path, checkpoint, "a JSON list of genre slugs")?,
                genre_names,
                training_data: None,
                dev_metrics: None,
                test_metrics: None,
            });
        }
        anyhow::bail!(
            "checkpoint {} has no description beside it (looked for {}, {}, and {} with {})",
            checkpoint.display(),
            own.display(),
            shared.display(),
            spec_path.display(),
            genres_path.display()
        )
    }

    /// The genres with their display names (recorded ones win over those the slugs imply).
    pub fn genre_set(&self) -> Result<GenreSet> {
        let genres = GenreSet::from_slugs(self.genres.iter().cloned());
        match &self.genre_names {
            Some(names) => genres
                .with_names(names)
                .map_err(|reason| anyhow::anyhow!("the checkpoint's genre_names: {reason}")),
            None => Ok(genres),
        }
    }

    /// What a checkpoint records of `genres`: slugs, and names where they are the owner's.
    pub fn genres_of(genres: &GenreSet) -> (Vec<String>, Option<Vec<String>>) {
        (
            genres.slugs(),
            genres.has_own_names().then(|| genres.names()),
        )
    }

    /// The metadata an export of this checkpoint records.
    pub fn metadata(&self) -> Result<ModelMetadata> {
        let mut extra = BTreeMap::new();
        let entries = [
            (crate::metadata::TRAINING_DATA, &self.training_data),
            (crate::metadata::DEV_METRICS, &self.dev_metrics),
            (crate::metadata::TEST_METRICS, &self.test_metrics),
        ];
        for (key, value) in entries {
            if let Some(value) = value {
                extra.insert(key.to_string(), value.to_string());
            }
        }
        Ok(metadata_for(&self.spec, &self.genre_set()?, extra))
    }
}

/// Metadata for a model of `spec` over `genres`, with free-form `extra` entries
/// (training data summary, metrics), the spec's architecture, and the toolkit version and date
/// filled in.
pub fn metadata_for(
    spec: &ModelSpec,
    genres: &GenreSet,
    extra: BTreeMap<String, String>,
) -> ModelMetadata {
    let mut metadata = ModelMetadata {
        genres: genres.clone(),
        preprocess: spec.preprocess,
        variant: spec.name.clone(),
        extra,
    };
    metadata.extra.insert(
        crate::metadata::ARCHITECTURE.into(),
        serde_json::to_string(&crate::spec::Architecture::of(spec))
            .expect("layers serialise to JSON"),
    );
    if let Some(views) = training_views(spec) {
        metadata
            .extra
            .entry(crate::metadata::TRAINING_VIEWS.into())
            .or_insert(views);
    }
    stamp(&mut metadata);
    metadata
}

/// [`crate::metadata::TRAINING_VIEWS`] of a spec with a pretrained backbone. The teacher is
/// named by its file name: the folder it sat in says nothing to a user of the model.
fn training_views(spec: &ModelSpec) -> Option<String> {
    let pretrained = spec.pretrained.as_ref()?;
    let teacher = pretrained.distill.as_ref().map(|d| {
        serde_json::json!({
            "teacher": d.teacher.file_name().map(|n| n.to_string_lossy().into_owned()),
            "temperature": d.temperature,
            "weight": d.weight,
        })
    });
    Some(serde_json::json!({ "views": pretrained.views, "distill": teacher }).to_string())
}

/// Adds the toolkit version and creation date unless the caller recorded them already.
fn stamp(metadata: &mut ModelMetadata) {
    metadata
        .extra
        .entry(TOOLKIT_VERSION.into())
        .or_insert_with(|| format!("covergenre {}", crate::VERSION));
    metadata
        .extra
        .entry(CREATED.into())
        .or_insert_with(|| chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
}

fn read_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    checkpoint: &Path,
    what: &str,
) -> Result<T> {
    use anyhow::Context;
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read {} (describing checkpoint {})",
            path.display(),
            checkpoint.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("{} is not {what}", path.display()))
}

/// Serialises the inference model of `spec` with `weights` as ONNX bytes. Needs no tch.
///
/// The genres and input size come from `genres` and `spec` (the metadata must agree with them:
/// a disagreement is a bug in the caller and is refused); the variant name defaults to the spec's.
pub fn onnx_model_bytes(
    spec: &ModelSpec,
    genres: &GenreSet,
    weights: &Weights,
    metadata: &ModelMetadata,
) -> Result<Vec<u8>> {
    ensure!(!genres.is_empty(), "cannot export a model with no genres");
    ensure!(
        metadata.genres == *genres,
        "the metadata's genres {:?} differ from the model's {:?}",
        metadata.genres.slugs(),
        genres.slugs()
    );
    ensure!(
        metadata.preprocess == spec.preprocess,
        "the metadata's preprocessing {:?} differs from the spec's {:?}",
        metadata.preprocess,
        spec.preprocess
    );
    let mut metadata = metadata.clone();
    if metadata.variant.is_empty() {
        metadata.variant = spec.name.clone();
    }
    stamp(&mut metadata);
    let graph = onnx::build_graph(spec, genres.len(), weights)?;
    let model = proto::ModelProto {
        ir_version: IR_VERSION,
        producer_name: "covergenre".into(),
        producer_version: crate::VERSION.into(),
        domain: String::new(),
        model_version: 1,
        doc_string: format!("{}: {}", spec.name, spec.description),
        graph: Some(graph),
        opset_import: vec![proto::OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        metadata_props: metadata
            .to_props()
            .into_iter()
            .map(|(key, value)| proto::StringStringEntryProto { key, value })
            .collect(),
    };
    Ok(model.encode_to_vec())
}

/// ONNX bytes of the first `until` layers of `spec` ([`onnx::build_prefix_graph`]): no
/// metadata, one uint8 `image` input, one float `maps` output. Not a covergenre model (it has
/// no genres); the trainer runs it to cache a frozen backbone's activations.
pub fn onnx_prefix_bytes(spec: &ModelSpec, until: usize, weights: &Weights) -> Result<Vec<u8>> {
    let graph = onnx::build_prefix_graph(spec, until, weights)?;
    let model = proto::ModelProto {
        ir_version: IR_VERSION,
        producer_name: "covergenre".into(),
        producer_version: crate::VERSION.into(),
        domain: String::new(),
        model_version: 1,
        doc_string: graph.doc_string.clone(),
        graph: Some(graph),
        opset_import: vec![proto::OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        metadata_props: Vec::new(),
    };
    Ok(model.encode_to_vec())
}

/// Reads the metadata_props of ONNX bytes without onnxruntime (checks and tools).
pub fn read_metadata_props(bytes: &[u8]) -> Result<BTreeMap<String, String>> {
    let model = decode_model(bytes)?;
    Ok(model
        .metadata_props
        .into_iter()
        .map(|e| (e.key, e.value))
        .collect())
}

/// ONNX bytes as a model message; bytes that are not one are an error saying so.
pub(crate) fn decode_model(bytes: &[u8]) -> Result<proto::ModelProto> {
    proto::ModelProto::decode(bytes).map_err(|e| anyhow::anyhow!("not an ONNX model: {e}"))
}

/// The float initializers of ONNX bytes written by covergenre (raw little-endian data), by
/// name: the weights of a written model, BatchNorm folded.
pub fn read_initializers(bytes: &[u8]) -> Result<Weights> {
    let graph = decode_model(bytes)?
        .graph
        .ok_or_else(|| anyhow::anyhow!("the model has no graph"))?;
    float_initializers(graph.initializer)
}

/// The float tensors among `initializers` (raw little-endian data), by name; a tensor whose
/// data does not fill its shape is an error naming it.
pub fn float_initializers(initializers: Vec<proto::TensorProto>) -> Result<Weights> {
    initializers
        .into_iter()
        .filter(|t| t.data_type == proto::data_type::FLOAT)
        .map(|t| {
            let dims: Vec<usize> = t.dims.iter().map(|&d| d.max(0) as usize).collect();
            let values: Vec<f32> = t
                .raw_data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            ensure!(
                values.len() == dims.iter().product::<usize>(),
                "initializer '{}' holds {} values for the shape {dims:?} (only raw float data is read)",
                t.name,
                values.len()
            );
            Ok((t.name, (dims, values)))
        })
        .collect()
}

/// `bytes` (an ONNX model) with the values of the initializers named in `replaced`
/// swapped for new ones of the same shape; everything else stays as it was, metadata included.
pub fn with_initializers(bytes: &[u8], replaced: &Weights) -> Result<Vec<u8>> {
    let mut model = decode_model(bytes)?;
    let graph = model
        .graph
        .as_mut()
        .ok_or_else(|| anyhow::anyhow!("the model has no graph"))?;
    let mut found = 0;
    for tensor in &mut graph.initializer {
        let Some((dims, values)) = replaced.get(&tensor.name) else {
            continue;
        };
        let shape: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
        ensure!(
            tensor.dims == shape && tensor.data_type == proto::data_type::FLOAT,
            "initializer '{}' has the shape {:?}, the new values {dims:?}",
            tensor.name,
            tensor.dims
        );
        tensor.raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        found += 1;
    }
    ensure!(
        found == replaced.len(),
        "{} of the {} initializers to replace are not in the model",
        replaced.len() - found,
        replaced.len()
    );
    Ok(model.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::TRAINING_VIEWS;
    use crate::spec::{self, Distill};

    #[test]
    fn a_distilled_model_records_its_views_and_its_teachers_file_name() {
        let genres = GenreSet::mumu();
        let plain = spec::variant("baseline").unwrap();
        let metadata = metadata_for(&plain, &genres, BTreeMap::new());
        assert!(!metadata.extra.contains_key(TRAINING_VIEWS));

        let mut distilled = spec::variant("effnet-lite0").unwrap();
        let pretrained = distilled.pretrained.as_mut().unwrap();
        pretrained.views.count = 4;
        pretrained.distill = Some(Distill {
            teacher: "/home/someone/models/ensemble.onnx".into(),
            temperature: 3.0,
            weight: 0.7,
        });
        let metadata = metadata_for(&distilled, &genres, BTreeMap::new());
        let recorded: serde_json::Value =
            serde_json::from_str(&metadata.extra[TRAINING_VIEWS]).unwrap();
        assert_eq!(recorded["views"]["count"], 4);
        assert_eq!(recorded["distill"]["teacher"], "ensemble.onnx");
        assert_eq!(recorded["distill"]["temperature"], 3.0);
        assert_eq!(recorded["distill"]["weight"], 0.7);
    }
}
