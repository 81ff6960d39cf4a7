//! The study layout's `.npy` label files: ids [N] or one-hot [N, C], any dtype and order.
#![no_main]

#[path = "../src/scratch.rs"]
mod scratch;

use covergenre::data::discover::read_npy_labels;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let path = scratch::write("labels.npy", bytes);
    if let Ok(labels) = read_npy_labels(&path, 13) {
        assert!(labels.iter().all(|&l| l < 13), "label out of range");
    }
});
