//! Exporting a trained tch network: its weights through [`crate::export`]'s ONNX writer, then
//! parity between the written model and the tch network.
//!
//! Before a model reaches disk, the bytes are opened in onnxruntime and a fixed batch of
//! made-up images goes through both it and the tch network on the CPU; the export is refused
//! when any probability differs by more than [`PARITY_TOLERANCE`].

use super::build::{named_weights, normalise, Network};
use super::checkpoint::load_weights;
use crate::export::{onnx_model_bytes, CheckpointInfo};
use crate::genres::GenreSet;
use crate::infer::Model;
use crate::metadata::ModelMetadata;
use crate::preprocess::Preprocess;
use crate::spec::ModelSpec;
use anyhow::{ensure, Context, Result};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::{nn, Device, Kind, Tensor};

/// Images in the parity batch: enough to cover noise, flat colours and gradients.
pub const PARITY_IMAGES: usize = 8;

/// Largest |difference in probability| between onnxruntime and tch that an export accepts.
pub const PARITY_TOLERANCE: f32 = 1e-4;

/// What an export measured when comparing the written model with the tch model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ParityReport {
    /// Images in the comparison batch.
    pub images: usize,
    /// Largest |p_onnx - p_tch| over all images and classes.
    pub max_probability_diff: f32,
    /// Largest |logit_onnx - logit_tch|, for information (logits are not bounded like probabilities).
    pub max_logit_diff: f32,
}

impl std::fmt::Display for ParityReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "parity onnxruntime vs tch on {} images: max |probability difference| {:.2e} (limit {:.0e}), max |logit difference| {:.2e}",
            self.images, self.max_probability_diff, PARITY_TOLERANCE, self.max_logit_diff
        )
    }
}

/// Exports the network in `vs` (built from `spec` for `genres`) to `path`, after checking it
/// against tch; prints the parity figure. Nothing is written when parity fails.
pub fn export_model(
    spec: &ModelSpec,
    genres: &GenreSet,
    vs: &nn::VarStore,
    metadata: &ModelMetadata,
    path: &Path,
) -> Result<ParityReport> {
    let bytes = onnx_model_bytes(spec, genres, &named_weights(vs), metadata)
        .with_context(|| format!("cannot export {} to {}", spec.name, path.display()))?;
    let report = measure_parity(&bytes, spec, genres.len(), vs)?;
    eprintln!("{}: {report}", path.display());
    ensure!(
        report.passes(),
        "refusing to write {}: the ONNX model disagrees with the tch model (max |probability difference| {:.2e} > {:.0e})",
        path.display(),
        report.max_probability_diff,
        PARITY_TOLERANCE
    );
    crate::util::write_atomic(path, &bytes)?;
    Ok(report)
}

/// Exports a checkpoint written by the trainer (`*.safetensors` with its [`CheckpointInfo`]
/// JSON beside it) to `out`, parity-checked like [`export_model`].
pub fn export_checkpoint(checkpoint: &Path, out: &Path) -> Result<ParityReport> {
    let info = CheckpointInfo::read_for(checkpoint)?;
    let genres = info.genre_set()?;
    let vs = nn::VarStore::new(Device::Cpu);
    Network::new(&vs.root(), &info.spec, genres.len())
        .with_context(|| format!("cannot rebuild the network of {}", checkpoint.display()))?;
    load_weights(checkpoint, &vs).with_context(|| {
        format!(
            "cannot load {} as weights of variant {} with {} genres",
            checkpoint.display(),
            info.spec.name,
            genres.len()
        )
    })?;
    export_model(&info.spec, &genres, &vs, &info.metadata()?, out)
}

/// Runs the same images through ONNX `bytes` (onnxruntime) and the tch network in `vs`.
pub fn measure_parity(
    bytes: &[u8],
    spec: &ModelSpec,
    classes: usize,
    vs: &nn::VarStore,
) -> Result<ParityReport> {
    let images = parity_images(&spec.preprocess, PARITY_IMAGES);
    let mut model = Model::from_bytes(bytes, 0, &format!("export of {}", spec.name))?;
    let onnx = model.predict(&images, PARITY_IMAGES)?;
    let (tch_logits, tch_probabilities) = tch_forward(spec, classes, vs, &images)?;
    Ok(ParityReport {
        images: PARITY_IMAGES,
        max_probability_diff: max_abs_diff(&onnx.probabilities, &tch_probabilities)?,
        max_logit_diff: max_abs_diff(&onnx.logits, &tch_logits)?,
    })
}

impl ParityReport {
    /// Whether the export may be written.
    pub fn passes(&self) -> bool {
        self.max_probability_diff <= PARITY_TOLERANCE
    }
}

/// The tch reference on the CPU in eval mode: (logits, probabilities), one row per image.
fn tch_forward(
    spec: &ModelSpec,
    classes: usize,
    vs: &nn::VarStore,
    images: &[u8],
) -> Result<(Array2<f32>, Array2<f32>)> {
    // A CPU copy, so parity is measured the same way wherever the model was trained.
    let mut reference = nn::VarStore::new(Device::Cpu);
    let network = Network::new(&reference.root(), spec, classes)?;
    reference
        .copy(vs)
        .context("the trained weights do not match the spec's network")?;
    let (h, w) = (spec.preprocess.height as i64, spec.preprocess.width as i64);
    let pixels = Tensor::from_slice(images).view([-1, h, w, 3]);
    let logits = tch::no_grad(|| {
        let input = normalise(&pixels, &spec.preprocess);
        network.forward_t(&input, false).0
    });
    let probabilities = logits.softmax(-1, Kind::Float);
    // tch converts to its own ndarray version, so the values go through a Vec.
    let to_array = |t: &Tensor| -> Result<Array2<f32>> {
        let (rows, columns) = t.size2()?;
        let values = Vec::<f32>::try_from(t.contiguous().flatten(0, -1))?;
        Ok(Array2::from_shape_vec(
            (rows as usize, columns as usize),
            values,
        )?)
    };
    Ok((to_array(&logits)?, to_array(&probabilities)?))
}

/// A fixed batch of u8 HWC images: uniform noise, flat colours and gradients, so both
/// saturated and mid-range inputs are compared.
pub fn parity_images(preprocess: &Preprocess, n: usize) -> Vec<u8> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x0cc0);
    let (h, w) = (preprocess.height as usize, preprocess.width as usize);
    let mut images = Vec::with_capacity(n * h * w * 3);
    for i in 0..n {
        let colour: [u8; 3] = rng.random();
        for y in 0..h {
            for x in 0..w {
                for (c, &base) in colour.iter().enumerate() {
                    let value = match i % 3 {
                        0 => rng.random(),
                        1 => base,
                        _ => ((x * 255 / w.max(1) + y * 127 / h.max(1) + c * 60) % 256) as u8,
                    };
                    images.push(value);
                }
            }
        }
    }
    images
}

/// Largest |a - b|; a NaN anywhere counts as an infinite difference, so it can never pass.
fn max_abs_diff(onnx: &Array2<f32>, tch: &Array2<f32>) -> Result<f32> {
    ensure!(
        onnx.dim() == tch.dim(),
        "onnxruntime gave {:?} values and tch {:?}",
        onnx.dim(),
        tch.dim()
    );
    Ok((onnx - tch)
        .iter()
        .map(|d| if d.is_nan() { f32::INFINITY } else { d.abs() })
        .fold(0.0, f32::max))
}
