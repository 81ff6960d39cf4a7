//! Which BatchNorms export folds into the convolution before them: the writer
//! ([`super::onnx`]) folds them, and reading a written model back into tch undoes it pair by
//! pair, so both ask here.

use crate::spec::{param_prefix, Layer};

/// The BatchNorm folded into the Conv at `index` on export: the next layer that exists at
/// inference, when it is a BatchNorm.
pub(super) fn folded_norm(layers: &[Layer], index: usize) -> Option<usize> {
    match &layers[index] {
        Layer::Conv { .. } => {
            next_inference_layer(layers, index + 1).filter(|&next| layers[next] == Layer::BatchNorm)
        }
        _ => None,
    }
}

/// Every (Conv, BatchNorm) pair of `layers` that export folds into one Conv, as parameter
/// prefixes ([`param_prefix`]), residual bodies included. Reading a written model back into
/// tch (`train::base_network`, feature `train`) undoes the folding pair by pair.
pub fn folded_batch_norms(layers: &[Layer]) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    collect_folded(layers, &[], &mut pairs);
    pairs
}

fn collect_folded(layers: &[Layer], parent: &[usize], pairs: &mut Vec<(String, String)>) {
    for (index, layer) in layers.iter().enumerate() {
        let path = [parent, &[index]].concat();
        if let Some(norm) = folded_norm(layers, index) {
            pairs.push((
                param_prefix(&path),
                param_prefix(&[parent, &[norm]].concat()),
            ));
        }
        if let Layer::Residual { body } = layer {
            collect_folded(body, &path, pairs);
        }
    }
}

/// Index of the next layer at or after `from` that exists at inference.
fn next_inference_layer(layers: &[Layer], from: usize) -> Option<usize> {
    (from..layers.len()).find(|&i| !layers[i].is_training_only())
}
