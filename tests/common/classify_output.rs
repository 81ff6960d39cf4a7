//! Classify's output read back in the tests through the library's one reader
//! (`evaluate::predictions`), strictly: a row it cannot read fails the test.

use anyhow::{ensure, Result};
use covergenre::evaluate::predictions::{self, PredictionsFile};
use covergenre::report::classify::Record;
use std::collections::BTreeMap;
use std::path::Path;

/// A classify CSV written by hand: a confident row, an uncertain one, a failed cover and a
/// row whose probability is not a number. Paths are under `covers/`.
pub const HAND_WRITTEN_CSV: &str = "path,genre,probability,top1,p1,top2,p2,top3,p3
covers/jazz/a.jpg,jazz,0.8,jazz,0.8,metal,0.15,folk,0.05
covers/metal/b.jpg,uncertain,0.4,jazz,0.4,metal,0.35,folk,0.25
covers/metal/c.jpg,metal,0.9,metal,0.9,jazz,0.05,folk,0.05
covers/jazz/bad.jpg,,,,,,,,
covers/jazz/d.jpg,jazz,lots,jazz,lots,metal,0.1,folk,0.1
";

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

/// File name -> genre from classify records.
pub fn genres_by_name(records: &[Record]) -> BTreeMap<String, String> {
    records
        .iter()
        .map(|r| {
            let name = Path::new(&r.path).file_name().unwrap().to_string_lossy();
            (name.into_owned(), r.genre.clone())
        })
        .collect()
}
