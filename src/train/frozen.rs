//! The frozen part of a transfer recipe is inference, run once per cover (and per view) to
//! fill the training cache. It can run in either of the project's two engines: libtorch (the
//! network being trained, in inference mode) or onnxruntime (the same layers exported by our
//! ONNX writer, BatchNorm folded into the convolutions). [`Frozen::choose`] measures
//! both on the same covers, checks that they agree, and keeps the faster, so the cache is
//! computed at the speed of whichever is faster on this machine (on CUDA, libtorch).

use super::build::{named_weights, normalise, Mode, Network};
use crate::export::onnx_prefix_bytes;
use crate::infer::features::FeatureModel;
use crate::spec::ModelSpec;
use anyhow::Result;
use ndarray::ArrayView4;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;
use tch::{nn, Device, Tensor};

/// Images per forward pass through the frozen layers.
pub const ENCODE_BATCH: usize = 32;

/// Largest difference between the engines' activations that still counts as the same layers
/// (float32 in a different order of operations, BatchNorm folded: about 1e-5 is typical).
const AGREEMENT: f64 = 1e-3;

/// onnxruntime is kept only when it takes at most this share of libtorch's time: a near tie
/// is noise, and the engine a run picks should not change from one run to the next.
const CLEARLY_FASTER: f64 = 0.8;

/// Below this many seconds for the timed batch, a measurement says little (tiny layers, few
/// covers): libtorch is kept, so such runs compute the same cache every time.
const SHORTEST_MEANINGFUL_SECONDS: f64 = 0.05;

/// The engine chosen for each frozen prefix (its preprocessing and layers) in this process.
/// Timings move with the machine's load, so they are taken once: every later run over the
/// same frozen layers (the variants of a session, a test's runs) uses the same engine and so
/// computes the same cache, bit for bit.
static CHOSEN: Mutex<Option<HashMap<String, &'static str>>> = Mutex::new(None);

fn chosen_before(key: &str) -> Option<&'static str> {
    let chosen = CHOSEN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    chosen.as_ref().and_then(|map| map.get(key).copied())
}

fn remember_choice(key: String, engine: &'static str) {
    let mut chosen = CHOSEN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    chosen.get_or_insert_with(HashMap::new).insert(key, engine);
}

/// What identifies a frozen prefix: the preprocessing and the layers up to `until`.
fn prefix_key(spec: &ModelSpec, until: usize) -> String {
    let layers = &spec.layers[..until.min(spec.layers.len())];
    serde_json::to_string(&(&spec.preprocess, layers)).unwrap_or_default()
}

/// Where the frozen layers run.
pub enum FrozenEngine {
    Libtorch,
    Onnxruntime(Box<FeatureModel>),
}

/// What choosing measured, for the log.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineTrial {
    pub images: usize,
    pub libtorch_seconds: f64,
    pub onnxruntime_seconds: Option<f64>,
    /// Largest |difference| between the two engines' activations.
    pub max_difference: Option<f64>,
    pub chosen: &'static str,
}

impl std::fmt::Display for EngineTrial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "frozen layers on {} covers: libtorch {:.2} s",
            self.images, self.libtorch_seconds
        )?;
        if let (Some(ort), Some(diff)) = (self.onnxruntime_seconds, self.max_difference) {
            write!(f, ", onnxruntime {ort:.2} s (max |difference| {diff:.1e})")?;
        }
        write!(f, ": computing the cache with {}", self.chosen)
    }
}

/// The frozen layers `0..until` of a network, with the engine that runs them.
pub struct Frozen<'a> {
    pub net: &'a Network,
    pub spec: &'a ModelSpec,
    pub until: usize,
    pub device: Device,
    pub engine: FrozenEngine,
}

impl<'a> Frozen<'a> {
    /// Measures libtorch and onnxruntime on the first covers of `images` (u8 NHWC, one after
    /// another) and keeps the faster; libtorch on a GPU, or when onnxruntime cannot run the
    /// layers or disagrees with libtorch. The choice is made once per frozen prefix and process
    /// (later calls return it without a trial).
    pub fn choose(
        net: &'a Network,
        vs: &nn::VarStore,
        spec: &'a ModelSpec,
        until: usize,
        images: &[u8],
        device: Device,
    ) -> Result<(Self, Option<EngineTrial>)> {
        let key = prefix_key(spec, until);
        let engine = match chosen_before(&key) {
            Some("onnxruntime") if device == Device::Cpu => {
                FrozenEngine::Onnxruntime(Box::new(Self::onnxruntime(vs, spec, until)?))
            }
            Some(_) => FrozenEngine::Libtorch,
            None => {
                let (frozen, trial) = Self::measure(net, vs, spec, until, images, device)?;
                remember_choice(key, frozen.engine_name());
                return Ok((frozen, trial));
            }
        };
        let frozen = Self {
            net,
            spec,
            until,
            device,
            engine,
        };
        Ok((frozen, None))
    }

    /// "libtorch" or "onnxruntime".
    pub fn engine_name(&self) -> &'static str {
        match self.engine {
            FrozenEngine::Libtorch => "libtorch",
            FrozenEngine::Onnxruntime(_) => "onnxruntime",
        }
    }

    fn measure(
        net: &'a Network,
        vs: &nn::VarStore,
        spec: &'a ModelSpec,
        until: usize,
        images: &[u8],
        device: Device,
    ) -> Result<(Self, Option<EngineTrial>)> {
        let mut frozen = Self {
            net,
            spec,
            until,
            device,
            engine: FrozenEngine::Libtorch,
        };
        let image_len = spec.preprocess.image_len();
        let n = (images.len() / image_len).min(ENCODE_BATCH);
        if device != Device::Cpu || n == 0 {
            return Ok((frozen, None));
        }
        let sample = &images[..n * image_len];
        // Both engines are timed warm: the first libtorch pass of a process builds its kernels,
        // and timing it cold would make the choice depend on which run came first.
        let _warm = frozen.encode(&sample[..image_len])?;
        let started = Instant::now();
        let reference = frozen.encode(sample)?;
        let libtorch_seconds = started.elapsed().as_secs_f64();
        let mut trial = EngineTrial {
            images: n,
            libtorch_seconds,
            onnxruntime_seconds: None,
            max_difference: None,
            chosen: "libtorch",
        };
        match Self::onnxruntime(vs, spec, until) {
            Ok(model) => {
                let mut candidate = Self {
                    net,
                    spec,
                    until,
                    device,
                    engine: FrozenEngine::Onnxruntime(Box::new(model)),
                };
                // The first run of a session builds its kernels: warm up before timing.
                let timed = candidate.encode(&sample[..image_len]).and_then(|_| {
                    let started = Instant::now();
                    let maps = candidate.encode(sample)?;
                    Ok((maps, started.elapsed().as_secs_f64()))
                });
                let (maps, seconds) = match timed {
                    Ok(timed) => timed,
                    Err(error) => {
                        eprintln!(
                            "onnxruntime cannot run the frozen layers ({error:#}); using libtorch"
                        );
                        return Ok((frozen, Some(trial)));
                    }
                };
                let difference = (&maps - &reference).abs().max().double_value(&[]);
                trial.onnxruntime_seconds = Some(seconds);
                trial.max_difference = Some(difference);
                let scale = reference.abs().max().double_value(&[]).max(1.0);
                if difference <= AGREEMENT * scale && onnxruntime_is_clearly_faster(&trial) {
                    trial.chosen = "onnxruntime";
                    return Ok((candidate, Some(trial)));
                }
            }
            Err(error) => {
                eprintln!("onnxruntime cannot run the frozen layers ({error:#}); using libtorch")
            }
        }
        Ok((frozen, Some(trial)))
    }

    fn onnxruntime(vs: &nn::VarStore, spec: &ModelSpec, until: usize) -> Result<FeatureModel> {
        let bytes = onnx_prefix_bytes(spec, until, &named_weights(vs))?;
        FeatureModel::from_bytes(&bytes, tch::get_num_threads().max(1) as usize)
    }

    /// The activations after the frozen layers of `images` (u8 NHWC, one after another), in
    /// batches, as one tensor on the network's device. Views (flips, crops) are made before,
    /// in [`super::views`].
    pub fn encode(&mut self, images: &[u8]) -> Result<Tensor> {
        let (h, w) = (
            self.spec.preprocess.height as usize,
            self.spec.preprocess.width as usize,
        );
        let n = images.len() / (h * w * 3);
        let mut parts = Vec::new();
        for start in (0..n).step_by(ENCODE_BATCH) {
            let count = ENCODE_BATCH.min(n - start);
            let bytes = &images[start * h * w * 3..(start + count) * h * w * 3];
            let batch = ArrayView4::from_shape((count, h, w, 3), bytes)?;
            parts.push(self.encode_batch(batch)?);
        }
        Ok(Tensor::cat(&parts, 0))
    }

    fn encode_batch(&mut self, batch: ArrayView4<u8>) -> Result<Tensor> {
        match &mut self.engine {
            FrozenEngine::Libtorch => {
                let (n, h, w, c) = batch.dim();
                let contiguous = batch.as_standard_layout();
                let pixels = Tensor::from_slice(&contiguous.iter().copied().collect::<Vec<u8>>())
                    .view([n as i64, h as i64, w as i64, c as i64])
                    .to_device(self.device);
                Ok(tch::no_grad(|| {
                    let x = normalise(&pixels, &self.spec.preprocess);
                    self.net
                        .forward_range(&x, 0..self.until, Mode::EVAL)
                        .contiguous()
                }))
            }
            FrozenEngine::Onnxruntime(model) => {
                let maps = model.run(batch)?;
                let shape: Vec<i64> = maps.shape().iter().map(|&d| d as i64).collect();
                let values: Vec<f32> = maps.iter().copied().collect();
                Ok(Tensor::from_slice(&values).view(shape.as_slice()))
            }
        }
    }
}

/// Whether a trial's onnxruntime time beats libtorch's by a margin that holds from run to run.
fn onnxruntime_is_clearly_faster(trial: &EngineTrial) -> bool {
    trial.onnxruntime_seconds.is_some_and(|seconds| {
        trial.libtorch_seconds >= SHORTEST_MEANINGFUL_SECONDS
            && seconds <= CLEARLY_FASTER * trial.libtorch_seconds
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(libtorch_seconds: f64, onnxruntime_seconds: f64) -> EngineTrial {
        EngineTrial {
            images: 32,
            libtorch_seconds,
            onnxruntime_seconds: Some(onnxruntime_seconds),
            max_difference: Some(1e-6),
            chosen: "libtorch",
        }
    }

    #[test]
    fn onnxruntime_is_kept_only_when_clearly_faster_on_a_meaningful_measurement() {
        // The measured frozen Lite0 on the 2-core machine: 0.74 s against 0.45 s.
        assert!(onnxruntime_is_clearly_faster(&trial(0.74, 0.45)));
        // A near tie is noise.
        assert!(!onnxruntime_is_clearly_faster(&trial(0.74, 0.70)));
        // Tiny layers: both times are noise, so every run keeps libtorch.
        assert!(!onnxruntime_is_clearly_faster(&trial(0.01, 0.001)));
        let mut failed = trial(0.74, 0.45);
        failed.onnxruntime_seconds = None;
        assert!(!onnxruntime_is_clearly_faster(&failed));
    }
}
