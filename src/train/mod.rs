//! Training with tch (libtorch), feature `train`.
//!
//! - [`build`]: spec -> tch [`build::Network`], parameter names shared with checkpoints and ONNX.
//! - [`pretrained`]: reading PyTorch checkpoints into our VarStore (EfficientNet-Lite0).
pub mod augment;
pub mod build;
pub mod checkpoint;
pub mod fit;
pub mod optim;
pub mod pretrained;
pub use build::{named_weights, normalise, Network};

use std::sync::{Mutex, MutexGuard};

static TORCH_RNG: Mutex<()> = Mutex::new(());

/// libtorch has one process-wide random generator (tch exposes no per-run generator), so a
/// seeded run is only reproducible while nothing else in the process draws from it. Training
/// holds this guard for a whole run; other code that builds networks concurrently (tests) takes
/// it too.
pub fn rng_guard() -> MutexGuard<'static, ()> {
    // A panic in another holder leaves nothing half-done that matters here.
    TORCH_RNG
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
