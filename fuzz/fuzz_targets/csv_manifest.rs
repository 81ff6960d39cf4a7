//! A dataset given as a CSV manifest (`path,genre[,split]`), through `data::discover`: header
//! columns, rows, paths relative to the manifest, splits made for what the file lacks.
#![no_main]

#[path = "../src/scratch.rs"]
mod scratch;

use covergenre::data::discover::{discover, DiscoverOptions};
use libfuzzer_sys::fuzz_target;
use std::sync::Once;

/// Files the seeds' rows name, so rows are accepted as well as skipped.
const COVERS: [&str; 4] = ["a.jpg", "b.png", "c.webp", "d.gif"];

fuzz_target!(|bytes: &[u8]| {
    static COVER_FILES: Once = Once::new();
    COVER_FILES.call_once(|| {
        for name in COVERS {
            scratch::write(name, b"not decoded by discover");
        }
    });
    let path = scratch::write("manifest.csv", bytes);
    // Ok or a clear error are both fine; a panic, hang or huge allocation is a finding.
    let _ = discover(&path, &DiscoverOptions::default());
});
