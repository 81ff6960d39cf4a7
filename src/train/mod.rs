//! Training with tch. TODO: being written.
//!
//! - [`pretrained`]: reading PyTorch checkpoints into our VarStore (EfficientNet-Lite0).
pub mod pretrained;
