//! The journal of a tagging run: one JSON object per line, one line per file and field, with
//! the value before and after. It is written (atomically) before any audio file is touched,
//! so whatever happens to the run, [`super::undo`] can put every old value back.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::audio::fields::Field;

/// One planned change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The audio file, for people (lossy when the path is not UTF-8).
    pub file: String,
    /// The exact path bytes, only when `file` could not hold them (non-UTF-8 paths).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_bytes: Option<Vec<u8>>,
    pub field: Field,
    /// The value before the run; `null` when the field did not exist.
    pub old: Option<String>,
    pub new: Option<String>,
    /// When the journal was written (RFC 3339).
    pub time: String,
}

impl Entry {
    pub fn new(path: &Path, field: &Field, old: Option<String>, new: Option<String>) -> Self {
        use std::os::unix::ffi::OsStrExt;
        let exact = path
            .to_str()
            .is_none()
            .then(|| path.as_os_str().as_bytes().to_vec());
        Self {
            file: path.to_string_lossy().into_owned(),
            file_bytes: exact,
            field: field.clone(),
            old,
            new,
            time: chrono::Local::now().to_rfc3339(),
        }
    }

    /// The audio file's exact path.
    pub fn path(&self) -> PathBuf {
        use std::os::unix::ffi::OsStrExt;
        match &self.file_bytes {
            Some(bytes) => PathBuf::from(std::ffi::OsStr::from_bytes(bytes)),
            None => PathBuf::from(&self.file),
        }
    }
}

/// The default journal name: `covergenre-journal-<local time>.jsonl` in the current folder.
pub fn default_path() -> PathBuf {
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    PathBuf::from(format!("covergenre-journal-{stamp}.jsonl"))
}

/// Writes the whole journal atomically.
pub fn write(path: &Path, entries: &[Entry]) -> Result<()> {
    crate::util::write_atomic_with(path, |out| {
        for entry in entries {
            serde_json::to_writer(&mut *out, entry)?;
            writeln!(out)?;
        }
        Ok(())
    })
    .with_context(|| format!("cannot write the journal {}", path.display()))
}

/// Reads a journal back; a line that is not an entry is an error naming the line.
pub fn read(path: &Path) -> Result<Vec<Entry>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open the journal {}", path.display()))?;
    let mut entries = Vec::new();
    for (number, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        entries.push(serde_json::from_str(&line).with_context(|| {
            format!(
                "{} line {} is not a covergenre journal entry",
                path.display(),
                number + 1
            )
        })?);
    }
    Ok(entries)
}
