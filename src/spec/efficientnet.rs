//! Pretrained-backbone variants (EfficientNet-Lite0). Filled in by the transfer-learning work.

use super::ModelSpec;

/// Variants built on a pretrained backbone.
pub fn variants() -> Vec<ModelSpec> {
    Vec::new()
}
