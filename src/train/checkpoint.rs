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
use anyhow::{anyhow, ensure, Context, Result};
use std::collections::HashMap;
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
        copy_into(vs, &self.tensors)?;
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

/// The one weights loader: copies the safetensors weights at `path` into every variable of a
/// store built from the same spec, by name. Plain weight files ([`save_weights`]:
/// `best.safetensors`, the winner's `model.safetensors`) and the resumable checkpoint (whose
/// model variables are `model.<name>`) both load. Every variable must be present with the
/// same shape.
pub fn load_weights(path: &Path, vs: &nn::VarStore) -> Result<()> {
    let tensors = Tensor::read_safetensors(path)
        .with_context(|| format!("cannot read weights {}", path.display()))?;
    copy_into(vs, &tensors).with_context(|| format!("weights {}", path.display()))
}

/// Copies `tensors` into every variable of `vs`: the tensor named like the variable, else the
/// one with the checkpoint's `model.` prefix.
fn copy_into(vs: &nn::VarStore, tensors: &[(String, Tensor)]) -> Result<()> {
    let by_name: HashMap<&str, &Tensor> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    // Sorted, so a mismatch always reports the same (first) parameter.
    let mut variables: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    variables.sort_by(|a, b| a.0.cmp(&b.0));
    tch::no_grad(|| {
        for (name, variable) in variables.iter_mut() {
            let source = by_name
                .get(name.as_str())
                .or_else(|| by_name.get(format!("{MODEL_PREFIX}{name}").as_str()))
                .with_context(|| format!("the file has no parameter '{name}'"))?;
            ensure!(
                source.size() == variable.size(),
                "parameter '{name}' has shape {:?} in the file, the spec needs {:?}",
                source.size(),
                variable.size()
            );
            variable.f_copy_(&source.to_kind(variable.kind()))?;
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
