//! The journal of a tagging run: one JSON object per line, one line per file and field, with
//! the value before and after. It is written (atomically) before any audio file is touched,
//! so whatever happens to the run, [`super::undo`] can put every old value back.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
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

/// Reads a journal back; a line that is not an entry is an error naming the line. A last line
/// without its newline that is not an entry is what a kill during [`append`] leaves: it is
/// dropped, as no file it names was touched yet (entries are written before their files).
pub fn read(path: &Path) -> Result<Vec<Entry>> {
    Ok(read_complete(path)?.0)
}

/// [`read`], and the length in bytes of the journal's whole lines.
fn read_complete(path: &Path) -> Result<(Vec<Entry>, usize)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the journal {}", path.display()))?;
    let mut entries = Vec::new();
    let mut complete = 0;
    for (number, line) in text.split_inclusive('\n').enumerate() {
        let whole = line.ends_with('\n');
        if line.trim().is_empty() {
            complete += line.len();
            continue;
        }
        match serde_json::from_str(line) {
            Ok(entry) => entries.push(entry),
            Err(_) if !whole => break,
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "{} line {} is not a covergenre journal entry",
                    path.display(),
                    number + 1
                )))
            }
        }
        complete += line.len();
    }
    Ok((entries, complete))
}

/// Opens the journal of a review that goes on: its entries so far (an empty journal is
/// created when there is none), with a last line cut short by a kill removed so that
/// [`append`] adds whole lines after whole lines.
pub fn resume(path: &Path) -> Result<Vec<Entry>> {
    if !path.exists() {
        write(path, &[])?;
        return Ok(Vec::new());
    }
    let (entries, complete) = read_complete(path)?;
    let length = std::fs::metadata(path)
        .with_context(|| format!("cannot read the journal {}", path.display()))?
        .len();
    if (complete as u64) < length {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(complete as u64).and_then(|()| f.sync_all()));
        file.with_context(|| format!("cannot repair the journal {}", path.display()))?;
    }
    Ok(entries)
}

/// Adds `entries` at the end of the journal and flushes them to disk before returning, so a
/// review can write an album's files right after.
pub fn append(path: &Path, entries: &[Entry]) -> Result<()> {
    use std::io::Write;
    let mut lines = Vec::new();
    for entry in entries {
        serde_json::to_writer(&mut lines, entry)?;
        lines.push(b'\n');
    }
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(&lines).and_then(|()| file.sync_all()));
    written.with_context(|| format!("cannot write the journal {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(file: &str) -> Entry {
        Entry::new(
            Path::new(file),
            &Field::Standard,
            None,
            Some("Metal".into()),
        )
    }

    #[test]
    fn a_line_cut_short_by_a_kill_is_dropped_and_repaired() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("review.jsonl");
        assert!(resume(&path).unwrap().is_empty());
        append(&path, &[entry("/m/1.mp3"), entry("/m/2.mp3")]).unwrap();
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"file\":\"/m/3.m");
        std::fs::write(&path, &text).unwrap();
        assert_eq!(
            read(&path).unwrap().len(),
            2,
            "the torn line is not an entry"
        );
        assert_eq!(resume(&path).unwrap().len(), 2);
        append(&path, &[entry("/m/4.mp3")]).unwrap();
        let files: Vec<String> = read(&path).unwrap().into_iter().map(|e| e.file).collect();
        assert_eq!(files, ["/m/1.mp3", "/m/2.mp3", "/m/4.mp3"]);
    }

    #[test]
    fn a_bad_whole_line_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        std::fs::write(&path, "{\"file\":\"x\"}\n").unwrap();
        let error = format!("{:#}", read(&path).unwrap_err());
        assert!(
            error.contains("line 1 is not a covergenre journal entry"),
            "{error}"
        );
        assert!(resume(&path).is_err(), "not appended to");
    }
}
