//! A feature model in onnxruntime: the first layers of a network (exported by
//! [`crate::export::onnx_prefix_bytes`]), uint8 NHWC images in, float NCHW activations out.
//! The trainer runs a frozen backbone this way when onnxruntime is the faster engine.

use super::session_builder;
use crate::export::onnx::MAPS_NAME;
use crate::metadata::INPUT_NAME;
use anyhow::{Context, Result};
use ndarray::{Array4, ArrayView4, Ix4};

/// A prefix of a network, opened in onnxruntime.
pub struct FeatureModel {
    session: ort::session::Session,
}

impl FeatureModel {
    /// Opens the model's bytes with `threads` intra-op threads (0: onnxruntime's default).
    pub fn from_bytes(bytes: &[u8], threads: usize) -> Result<Self> {
        super::init_runtime()?;
        let session = session_builder(threads)
            .and_then(|mut builder| {
                builder
                    .commit_from_memory(bytes)
                    .map_err(|e| anyhow::anyhow!("{e}"))
            })
            .context("cannot open the frozen backbone in onnxruntime")?;
        Ok(Self { session })
    }

    /// The activations of a batch of images (`n x height x width x 3` u8).
    pub fn run(&mut self, images: ArrayView4<u8>) -> Result<Array4<f32>> {
        let contiguous = images.as_standard_layout();
        let input = ort::value::TensorRef::from_array_view(&contiguous)?;
        let outputs = self.session.run(ort::inputs![INPUT_NAME => input])?;
        let maps = outputs[MAPS_NAME].try_extract_array::<f32>()?;
        Ok(maps.into_dimensionality::<Ix4>()?.to_owned())
    }
}
