//! Adam, AdamW and SGD with momentum, written on tensors so that their state (moments, step
//! count) can be checkpointed: tch's built-in optimisers keep it inside libtorch, out of reach,
//! which would make `--resume` only approximately continue a run.

use crate::spec::{Optimiser as OptimiserSpec, OptimiserKind};
use anyhow::{anyhow, Result};
use tch::{nn, Tensor};

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
/// Keras' Adam epsilon (the study's stack), not PyTorch's 1e-8.
const EPSILON: f64 = 1e-7;
const SGD_MOMENTUM: f64 = 0.9;

/// A trainable parameter with its optimiser state.
struct Slot {
    name: String,
    param: Tensor,
    /// First moment (Adam) or momentum buffer (SGD).
    first: Tensor,
    /// Second moment (Adam only; zeros for SGD).
    second: Tensor,
    /// Multiplies the optimiser's learning rate for this parameter (layer-wise rates).
    lr_scale: f64,
}

/// An optimiser over the trainable variables of a `VarStore`, in name order.
pub struct Optimiser {
    kind: OptimiserKind,
    weight_decay: f64,
    learning_rate: f64,
    slots: Vec<Slot>,
    steps: i64,
}

impl Optimiser {
    pub fn new(vs: &nn::VarStore, spec: &OptimiserSpec) -> Self {
        let mut named: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let slots = named
            .into_iter()
            .map(|(name, param)| Slot {
                first: param.zeros_like(),
                second: param.zeros_like(),
                lr_scale: 1.0,
                name,
                param,
            })
            .collect();
        Self {
            kind: spec.kind,
            weight_decay: spec.weight_decay,
            learning_rate: spec.learning_rate,
            slots,
            steps: 0,
        }
    }

    pub fn set_learning_rate(&mut self, learning_rate: f64) {
        self.learning_rate = learning_rate;
    }

    /// Gives each parameter its own multiple of the learning rate, by name: lower rates for
    /// earlier pretrained layers keep their general features while the later ones adapt.
    pub fn scale_learning_rates(&mut self, scale: impl Fn(&str) -> f64) {
        for slot in &mut self.slots {
            slot.lr_scale = scale(&slot.name);
        }
    }

    pub fn learning_rate(&self) -> f64 {
        self.learning_rate
    }

    /// Steps taken so far (Adam's bias correction depends on it).
    pub fn steps(&self) -> i64 {
        self.steps
    }

    pub fn zero_grad(&mut self) {
        for slot in &mut self.slots {
            let mut grad = slot.param.grad();
            if grad.defined() {
                let _ = grad.detach_().zero_();
            }
        }
    }

    /// One update from the gradients left by `backward`.
    pub fn step(&mut self) {
        self.steps += 1;
        let (kind, base_lr, wd, t) = (
            self.kind,
            self.learning_rate,
            self.weight_decay,
            self.steps as f64,
        );
        tch::no_grad(|| {
            for slot in &mut self.slots {
                let grad = slot.param.grad();
                if !grad.defined() {
                    continue;
                }
                let lr = base_lr * slot.lr_scale;
                match kind {
                    OptimiserKind::Adam => adam_update(slot, &(&grad + &slot.param * wd), lr, t),
                    OptimiserKind::AdamW => {
                        // Decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW.
                        let _ = slot.param.g_mul_scalar_(1.0 - lr * wd);
                        adam_update(slot, &grad, lr, t);
                    }
                    OptimiserKind::Sgd => {
                        let grad = &grad + &slot.param * wd;
                        let _ = slot.first.g_mul_scalar_(SGD_MOMENTUM).g_add_(&grad);
                        let _ = slot.param.g_sub_(&(&slot.first * lr));
                    }
                }
            }
        });
    }

    /// The state as named tensors ("<param>.first", "<param>.second") for a checkpoint.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        self.slots
            .iter()
            .flat_map(|s| {
                [
                    (format!("{}.first", s.name), s.first.shallow_clone()),
                    (format!("{}.second", s.name), s.second.shallow_clone()),
                ]
            })
            .collect()
    }

    /// Restores state saved by [`Self::state_tensors`] plus the step count.
    pub fn load_state(&mut self, tensors: &[(String, Tensor)], steps: i64) -> Result<()> {
        let find = |name: &str| {
            tensors
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t)
                .ok_or_else(|| anyhow!("optimiser state {name} is missing from the checkpoint"))
        };
        tch::no_grad(|| -> Result<()> {
            for slot in &mut self.slots {
                slot.first.f_copy_(find(&format!("{}.first", slot.name))?)?;
                slot.second
                    .f_copy_(find(&format!("{}.second", slot.name))?)?;
            }
            Ok(())
        })?;
        self.steps = steps;
        Ok(())
    }
}

fn adam_update(slot: &mut Slot, grad: &Tensor, lr: f64, t: f64) {
    let _ = slot
        .first
        .g_mul_scalar_(BETA1)
        .g_add_(&(grad * (1.0 - BETA1)));
    let _ = slot
        .second
        .g_mul_scalar_(BETA2)
        .g_add_(&(grad * grad * (1.0 - BETA2)));
    let first_hat = &slot.first / (1.0 - BETA1.powf(t));
    let second_hat = &slot.second / (1.0 - BETA2.powf(t));
    let update = first_hat / (second_hat.sqrt() + EPSILON) * lr;
    let _ = slot.param.g_sub_(&update);
}
