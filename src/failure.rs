//! A file that could not be used, and why: one type for every place that passes a bad file
//! over and goes on (dataset discovery and loading, the classify/eval pipeline, predictions
//! files, reports).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

/// A file (or folder) that was passed over, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub path: PathBuf,
    /// The problem, without the path ("truncated JPEG: ...", "empty file").
    pub reason: String,
}

impl Failure {
    pub fn new(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}
