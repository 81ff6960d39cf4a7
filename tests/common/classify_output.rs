//! Classify's output read back in the tests through the library's one reader
//! (`evaluate::predictions`), strictly: a row it cannot read fails the test.

use anyhow::{ensure, Result};
use covergenre::evaluate::predictions::{self, PredictionsFile};
use covergenre::report::classify::Record;
use std::path::Path;

fn strict(file: PredictionsFile) -> Result<Vec<Record>> {
    ensure!(
        file.failures.is_empty(),
        "unreadable rows: {:?}",
        file.failures
    );
    Ok(file.records)
}

/// Classify CSV output as records.
pub fn parse_csv(bytes: &[u8]) -> Result<Vec<Record>> {
    strict(predictions::parse_csv(
        std::str::from_utf8(bytes)?,
        Path::new("classify.csv"),
    )?)
}

/// Classify JSONL output as records.
pub fn parse_jsonl(bytes: &[u8]) -> Result<Vec<Record>> {
    strict(predictions::parse_jsonl(
        std::str::from_utf8(bytes)?,
        Path::new("classify.jsonl"),
    ))
}
