//! classify's CSV and JSONL output as `covergenre-eval --predictions` reads it back.
#![no_main]

use covergenre::evaluate::predictions::{parse_csv, parse_jsonl};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return; // read_predictions reads text: invalid UTF-8 is refused before parsing
    };
    let file = Path::new("predictions");
    let _ = parse_csv(text, file);
    let _ = parse_jsonl(text, file);
});
