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

/// Adam's update of one parameter in eight element-wise operations where the textbook form
/// takes fourteen (each pass reads and writes the whole tensor; the largest layer of the
/// study's CNNs has 3.2 million weights): the moments move by `lerp` (`m + w (g - m)`, as
/// PyTorch's own Adam does), the bias corrections fold into scalars, and `addcdiv_` applies
/// the step.
fn adam_update(slot: &mut Slot, grad: &Tensor, lr: f64, t: f64) {
    let _ = slot.first.lerp_(grad, 1.0 - BETA1);
    let _ = slot.second.lerp_(&grad.square(), 1.0 - BETA2);
    // lr m^ / (sqrt(v^) + eps), with m^ = m / (1 - b1^t) and v^ = v / (1 - b2^t).
    let mut denominator = &slot.second * (1.0 / (1.0 - BETA2.powf(t)));
    let _ = denominator.sqrt_().g_add_scalar_(EPSILON);
    let step = &slot.first * (-lr / (1.0 - BETA1.powf(t)));
    let _ = slot.param.addcdiv_(&step, &denominator);
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// The textbook form the update replaced (one tensor operation per symbol).
    fn textbook(
        param: &mut Tensor,
        first: &mut Tensor,
        second: &mut Tensor,
        grad: &Tensor,
        lr: f64,
        t: f64,
    ) {
        *first = &*first * BETA1 + grad * (1.0 - BETA1);
        *second = &*second * BETA2 + grad * grad * (1.0 - BETA2);
        let first_hat = &*first / (1.0 - BETA1.powf(t));
        let second_hat = &*second / (1.0 - BETA2.powf(t));
        *param = &*param - first_hat / (second_hat.sqrt() + EPSILON) * lr;
    }

    #[test]
    fn adam_in_eight_operations_follows_the_textbook_form_within_float32_rounding() {
        tch::manual_seed(3);
        let options = (Kind::Float, Device::Cpu);
        let start = Tensor::randn([64, 50], options);
        let mut slot = Slot {
            name: "w".into(),
            param: start.copy(),
            first: start.zeros_like(),
            second: start.zeros_like(),
            lr_scale: 1.0,
        };
        let (mut param, mut first, mut second) =
            (start.copy(), start.zeros_like(), start.zeros_like());
        for step in 1..=20 {
            // Gradients of every size, a few exactly zero (where sqrt(v) + eps carries the step).
            let grad = Tensor::randn([64, 50], options) * 10f64.powi(step % 5 - 2);
            let grad = grad.where_self(&grad.abs().gt(0.05), &grad.zeros_like());
            tch::no_grad(|| {
                adam_update(&mut slot, &grad, 1e-3, step as f64);
                textbook(
                    &mut param,
                    &mut first,
                    &mut second,
                    &grad,
                    1e-3,
                    step as f64,
                );
            });
        }
        let moved = (&param - &start).abs().max().double_value(&[]);
        let apart = (&slot.param - &param).abs().max().double_value(&[]);
        assert!(moved > 1e-3, "the parameters moved by {moved}");
        assert!(
            apart <= 1e-6 * moved.max(1.0),
            "{apart:e} apart after 20 steps"
        );
        for (ours, theirs) in [(&slot.first, &first), (&slot.second, &second)] {
            let scale = theirs.abs().max().double_value(&[]);
            let apart = (ours - theirs).abs().max().double_value(&[]);
            assert!(
                apart <= 1e-6 * scale,
                "moments {apart:e} apart (scale {scale:e})"
            );
        }
    }
}
