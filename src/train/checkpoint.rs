//! Checkpoints: everything needed to continue a run exactly where it stopped.
//!
//! `checkpoint.safetensors` holds, in ONE file replaced atomically each epoch, the model's
//! variables (`model.<name>`, BatchNorm running statistics included), the optimiser's moments
//! (`optim.<name>.first|second`) and the run's bookkeeping as JSON bytes (`state.json`, a u8
//! tensor): epochs done, optimiser steps, history, early-stopping counters. Keeping them in one
//! file means a kill at any moment leaves either the old or the new checkpoint, never a mix.
//! `checkpoint.json` is a readable copy of the bookkeeping, written after it.
//!
//! Random state needs no saving: the trainer reseeds libtorch from (seed, epoch) at the start of
//! every epoch, so epoch k+1 draws the same numbers whether or not the process was restarted.

use super::optim::Optimiser;
use super::run::RunState;
use crate::util::write_atomic;
use anyhow::{anyhow, bail, Context, Result};
use std::path::Path;
use tch::{nn, Device, Kind, Tensor};

pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
pub const CHECKPOINT_JSON: &str = "checkpoint.json";
const MODEL_PREFIX: &str = "model.";
const OPTIM_PREFIX: &str = "optim.";
const STATE_TENSOR: &str = "state.json";

/// Writes the checkpoint of `dir` atomically (see the module docs).
pub fn save(dir: &Path, vs: &nn::VarStore, optimiser: &Optimiser, state: &RunState) -> Result<()> {
    let state_json = serde_json::to_vec_pretty(state)?;
    let mut tensors: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(name, t)| (format!("{MODEL_PREFIX}{name}"), t))
        .collect();
    tensors.extend(
        optimiser
            .state_tensors()
            .into_iter()
            .map(|(name, t)| (format!("{OPTIM_PREFIX}{name}"), t)),
    );
    tensors.push((STATE_TENSOR.to_string(), Tensor::from_slice(&state_json)));
    write_tensors_atomic(&dir.join(CHECKPOINT_FILE), tensors)?;
    write_atomic(&dir.join(CHECKPOINT_JSON), &state_json)
}

/// A checkpoint read back: the bookkeeping and the tensors to restore.
pub struct Checkpoint {
    pub state: RunState,
    tensors: Vec<(String, Tensor)>,
}

/// Reads `dir`'s checkpoint, or None when there is none.
pub fn load(dir: &Path) -> Result<Option<Checkpoint>> {
    let path = dir.join(CHECKPOINT_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let tensors = Tensor::read_safetensors(&path)
        .with_context(|| format!("cannot read checkpoint {}", path.display()))?;
    let state_bytes = tensors
        .iter()
        .find(|(name, _)| name == STATE_TENSOR)
        .map(|(_, t)| Vec::<u8>::try_from(t))
        .ok_or_else(|| anyhow!("checkpoint {} has no {STATE_TENSOR}", path.display()))??;
    let state: RunState = serde_json::from_slice(&state_bytes)
        .with_context(|| format!("checkpoint {} has unreadable state", path.display()))?;
    Ok(Some(Checkpoint { state, tensors }))
}

impl Checkpoint {
    /// Copies the saved model variables and optimiser state into freshly built ones.
    pub fn restore(&self, vs: &nn::VarStore, optimiser: &mut Optimiser) -> Result<()> {
        copy_into(vs, &self.tensors, MODEL_PREFIX)?;
        let optim: Vec<(String, Tensor)> = self
            .tensors
            .iter()
            .filter_map(|(name, t)| {
                name.strip_prefix(OPTIM_PREFIX)
                    .map(|n| (n.to_string(), t.shallow_clone()))
            })
            .collect();
        optimiser.load_state(&optim, self.state.optimiser_steps)
    }
}

/// Saves a store's variables under their own names (the form `best.safetensors` and the
/// exported weights use), atomically.
pub fn save_weights(path: &Path, vs: &nn::VarStore) -> Result<()> {
    write_tensors_atomic(path, vs.variables().into_iter().collect())
}

/// Loads weights saved by [`save_weights`] into a store built from the same spec; every
/// variable must be present with the same shape.
pub fn load_weights(path: &Path, vs: &nn::VarStore) -> Result<()> {
    let tensors = Tensor::read_safetensors(path)
        .with_context(|| format!("cannot read weights {}", path.display()))?;
    copy_into(vs, &tensors, "").with_context(|| format!("weights {}", path.display()))
}

fn copy_into(vs: &nn::VarStore, tensors: &[(String, Tensor)], prefix: &str) -> Result<()> {
    let mut variables = vs.variables();
    tch::no_grad(|| -> Result<()> {
        for (name, target) in variables.iter_mut() {
            let wanted = format!("{prefix}{name}");
            let source = tensors
                .iter()
                .find(|(n, _)| *n == wanted)
                .map(|(_, t)| t)
                .ok_or_else(|| anyhow!("{name} is missing"))?;
            if source.size() != target.size() {
                bail!(
                    "{name} has shape {:?}, the model expects {:?}",
                    source.size(),
                    target.size()
                );
            }
            target.f_copy_(source)?;
        }
        Ok(())
    })
}

fn write_tensors_atomic(path: &Path, tensors: Vec<(String, Tensor)>) -> Result<()> {
    // safetensors wants contiguous CPU data.
    let cpu: Vec<(String, Tensor)> = tensors
        .into_iter()
        .map(|(n, t)| {
            let t = t.detach().to_device(Device::Cpu).contiguous();
            let t = if t.kind() == Kind::BFloat16 {
                t.to_kind(Kind::Float)
            } else {
                t
            };
            (n, t)
        })
        .collect();
    crate::util::write_atomic_via_path(path, |tmp| Ok(Tensor::write_safetensors(&cpu, tmp)?))
}
