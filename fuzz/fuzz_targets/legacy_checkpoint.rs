//! The legacy PyTorch checkpoint (torch.save, pickle) reader used for pretrained backbones.
//! It lives behind the `train` feature, which links libtorch, but its two files use only std
//! and anyhow: they are compiled in here from the library's own source, so the fuzzed code is
//! the shipped code without a sanitizer build of libtorch.
#![no_main]

// At the crate root: legacy.rs reaches the pickle reader as `super::pickle`.
#[allow(dead_code)]
#[path = "../../src/train/pretrained/legacy.rs"]
mod legacy;
#[allow(dead_code)]
#[path = "../../src/train/pretrained/pickle.rs"]
mod pickle;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = legacy::parse_checkpoint(bytes);
});
