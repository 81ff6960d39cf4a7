//! The shared vocabulary of a training run: how it is run ([`RunSettings`]), one epoch's
//! record ([`EpochRecord`]) and its bookkeeping ([`RunState`]). The training loop
//! ([`super::fit`]) and checkpoints ([`super::checkpoint`]) both use them; neither owns them,
//! so neither imports the other's types.

use super::build::Precision;
use crate::spec::ModelSpec;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use tch::Device;

/// How to run one training run (the architecture and hyper-parameters are in the spec).
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub seed: u64,
    pub device: Device,
    /// The run's folder: log, checkpoint, best weights.
    pub dir: PathBuf,
    /// Continue from the folder's checkpoint if there is one.
    pub resume: bool,
    /// Stop after this many epochs as if the process had been killed (checkpoint written,
    /// run not finished): how tests exercise `--resume`.
    pub halt_after_epochs: Option<usize>,
    /// Shown before progress lines, e.g. "baseline run 2/5".
    pub label: String,
    /// Arithmetic of the training steps; selection (dev) always evaluates in float32, the
    /// arithmetic of the exported model.
    pub precision: Precision,
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    /// The objective optimised (label smoothing, class weights and L1 penalty included).
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub train_macro_f1: f64,
    /// Plain cross-entropy on the selection set (dev, or the held-back slice of train).
    pub dev_loss: f64,
    pub dev_accuracy: f64,
    pub dev_macro_f1: f64,
    pub dev_balanced_accuracy: f64,
    pub learning_rate: f64,
    pub seconds: f64,
    /// Training images per second in this epoch (batching and augmentation included).
    pub images_per_second: f64,
    /// Seconds of the training pass alone (`seconds` adds the selection pass).
    #[serde(default)]
    pub train_seconds: f64,
    /// Seconds of the training pass spent making batches (gathering, augmenting, normalising)
    /// rather than in forward, backward and optimiser steps. This and `train_seconds` are
    /// absent from logs of older versions.
    #[serde(default)]
    pub input_seconds: f64,
}

/// The run's bookkeeping at the end of an epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// The effective spec (overrides applied): a resume must continue the same experiment.
    pub spec: ModelSpec,
    pub seed: u64,
    pub classes: usize,
    /// The arithmetic of the training steps (absent in checkpoints of older versions: float32).
    #[serde(default)]
    pub precision: Precision,
    pub epochs_done: usize,
    pub optimiser_steps: i64,
    pub history: Vec<EpochRecord>,
    /// Best epoch so far by selection macro-F1.
    pub best: Option<EpochRecord>,
    pub epochs_since_best: usize,
    pub stopped_early: bool,
}

impl RunState {
    /// The state of a run that has not trained yet.
    pub fn fresh(spec: &ModelSpec, classes: usize, settings: &RunSettings) -> Self {
        Self {
            spec: spec.clone(),
            seed: settings.seed,
            classes,
            precision: settings.precision,
            epochs_done: 0,
            optimiser_steps: 0,
            history: Vec::new(),
            best: None,
            epochs_since_best: 0,
            stopped_early: false,
        }
    }
}
