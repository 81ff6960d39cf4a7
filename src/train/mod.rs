//! Training with tch (libtorch), feature `train`.
//!
//! - [`build`]: spec -> tch [`build::Network`], parameter names shared with checkpoints and ONNX.
//! - [`pretrained`]: reading PyTorch checkpoints into our VarStore (EfficientNet-Lite0).
//! - [`augment`]: random affine + brightness on the training device.
//! - [`optim`]: Adam / AdamW / SGD on tensors, so their state can be checkpointed.
//! - [`images`]: the decoded images a run trains and selects on ([`images::ImageSet`]).
//! - [`seed`]: every random stream of a run derived from its one seed.
//! - [`fit`]: one run: batches, loss, early stopping on dev macro-F1, log, checkpoints, resume.
//! - [`checkpoint`]: the single-file atomic checkpoint and `best.safetensors`.
//! - [`run`]: the run's settings, epoch records and bookkeeping, shared by `fit` and `checkpoint`.
//! - [`config`]: the training settings asked for and the validated [`config::TrainConfig`].
//! - [`export`]: a trained network to ONNX (through [`crate::export`]), parity-checked
//!   against tch, and `--export` of a saved checkpoint.
//! - [`transfer`]: pretrained backbones: head on cached features, then fine-tuning.
//! - [`feature_cache`]: the frozen backbone's maps and pooled features, computed once.
//! - [`views`]: the cached views of each training cover (as is, mirrored, augmented).
//! - [`distill`]: a teacher model's outputs on those views, and the distillation loss.
//! - [`base`]: the base model a music library learns from, run once per cover (outputs cached).
//! - [`owner_head`]: the owner's head on the base's outputs: the learned mapping of base genres
//!   to the owner's, and a penalised correction of it.
//! - [`owner_scores`]: a head's scores from the base's cached outputs: dev scores, the test
//!   comparison with the base through the mapping (bootstrap intervals), the card's reports.
//! - [`learn`]: the library recipe: base outputs -> mapping and head, chosen on dev -> one ONNX
//!   file (base graph + head), compared with the base through the mapping on test.
//! - [`session`]: every variant and run, then curves, `summary.json`, `ranking.md` and `best/`;
//!   its module docs describe the run folder.
//! - [`summary`]: a run's outcome as the report's plain data (ranking rows, curve points); the
//!   ranking tables and curve PNGs themselves are drawn in [`crate::report`].
//!
//! Reproducibility: on CPU a run is a function of its seed. Weights are initialised after
//! seeding libtorch from (seed, 0), and every epoch reseeds it from (seed, epoch) before shuffling,
//! augmentation and dropout draw, so a resumed run replays the same numbers.
pub mod augment;
pub mod base;
pub mod base_finetune;
pub mod base_network;
pub mod build;
pub mod card;
pub mod checkpoint;
pub mod config;
pub mod distill;
pub mod export;
pub mod feature_cache;
pub mod fit;
pub mod frozen;
pub mod images;
pub mod learn;
pub mod optim;
pub mod owner_head;
pub mod owner_scores;
pub mod pretrained;
pub mod run;
pub mod seed;
pub mod session;
pub mod summary;
pub mod transfer;
pub mod views;
pub use build::{named_weights, normalise, Mode, Network, Precision};

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
