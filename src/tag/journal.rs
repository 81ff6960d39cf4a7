//! The journal of a tagging run: one JSON object per line, one line per file and field, with
//! the value before and after. The planned changes are written (atomically) before any audio
//! file is touched, so whatever happens to the run, [`super::undo`] can put every old value
//! back. Then, as each file is written, a line is appended saying so, with what identifies the
//! file written ([`Identity`]): the journal says exactly which files a run wrote, and undo
//! notices a file replaced since.
//!
//! Files are named for good: absolute paths, resolved (links followed) when the plan is made,
//! so undo works from any folder. Journals of earlier versions, whose paths are as given on
//! the command line, still read: a relative path is taken relative to the journal's folder
//! when the file is there, else relative to the current folder ([`Entry::resolve`]).

use super::safe_write::Identity;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
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
    /// The library root the file was planned under (absolute): undo locks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<PathBuf>,
    /// Written in place (a hard-linked file): a backup `.<file>.covergenre-orig` is kept beside
    /// it while it is written, and undo writes it in place too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_place: bool,
}

/// The line appended once the file of entry `written` (its index among the entries) is
/// written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WrittenLine {
    pub written: usize,
    pub identity: Identity,
}

/// Any line of a journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Line {
    Written(WrittenLine),
    Entry(Entry),
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
            root: None,
            in_place: false,
        }
    }

    /// The audio file's path as recorded.
    pub fn path(&self) -> PathBuf {
        use std::os::unix::ffi::OsStrExt;
        match &self.file_bytes {
            Some(bytes) => PathBuf::from(std::ffi::OsStr::from_bytes(bytes)),
            None => PathBuf::from(&self.file),
        }
    }

    /// The file to undo: the recorded path when absolute; a relative one (journals of earlier
    /// versions) relative to the journal's folder when the file is there, else relative to
    /// the current folder; otherwise a message saying where it was looked for.
    pub fn resolve(&self, journal: &Path) -> Result<PathBuf, String> {
        let recorded = self.path();
        if recorded.is_absolute() {
            return Ok(recorded);
        }
        let beside_journal = crate::util::parent_folder(journal).join(&recorded);
        if beside_journal.exists() {
            return Ok(beside_journal);
        }
        if recorded.exists() {
            return Ok(recorded);
        }
        Err(format!(
            "the journal names it by a relative path, found neither from the journal's folder \
             ({}) nor from the current folder: run --undo from the folder the tagging run was in",
            beside_journal.display()
        ))
    }
}

/// A journal being written: the plan is in it, and [`Journal::written`] appends a line per
/// file written.
pub struct Journal {
    path: PathBuf,
    file: std::fs::File,
}

impl Journal {
    /// Writes the whole plan atomically (before any audio file is touched), then keeps the
    /// journal open to append to.
    pub fn create(path: &Path, entries: &[Entry]) -> Result<Self> {
        crate::util::write_atomic_with(path, |out| {
            for entry in entries {
                serde_json::to_writer(&mut *out, entry)?;
                writeln!(out)?;
            }
            Ok(())
        })
        .with_context(|| format!("cannot write the journal {}", path.display()))?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open the journal {}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Records that the file of entry `index` is written and is now `identity`; flushed to
    /// disk, so the journal never says less than what was written.
    pub fn written(&mut self, index: usize, identity: Identity) -> Result<()> {
        let line = WrittenLine {
            written: index,
            identity,
        };
        let mut text = serde_json::to_string(&line)?;
        text.push('\n');
        self.file
            .write_all(text.as_bytes())
            .and_then(|()| self.file.sync_data())
            .with_context(|| format!("cannot append to the journal {}", self.path.display()))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A journal read back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Contents {
    pub entries: Vec<Entry>,
    /// Entry index -> the identity of the file as written (journals of earlier versions have
    /// none, nor files a killed run never reached).
    pub written: BTreeMap<usize, Identity>,
}

/// Reads a journal back; a line that is neither an entry nor a written line is an error
/// naming the line.
pub fn read(path: &Path) -> Result<Contents> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open the journal {}", path.display()))?;
    let mut contents = Contents::default();
    for (number, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(&line).with_context(|| {
            format!(
                "{} line {} is not a covergenre journal entry",
                path.display(),
                number + 1
            )
        })?;
        match parsed {
            Line::Entry(entry) => contents.entries.push(entry),
            Line::Written(written) => {
                contents.written.insert(written.written, written.identity);
            }
        }
    }
    Ok(contents)
}

/// The default journal name: `covergenre-journal-<local time>.jsonl` in the current folder.
pub fn default_path() -> PathBuf {
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    PathBuf::from(format!("covergenre-journal-{stamp}.jsonl"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(inode: u64) -> Identity {
        Identity {
            device: 1,
            inode,
            size: 10,
            modified: 2,
            modified_nanos: 3,
        }
    }

    #[test]
    fn a_journal_reads_back_its_plan_and_the_files_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let mut entry = Entry::new(
            &dir.path().join("a.mp3"),
            &Field::Standard,
            None,
            Some("Metal".into()),
        );
        entry.root = Some(dir.path().to_path_buf());
        let other = Entry::new(&dir.path().join("b.flac"), &Field::Standard, None, None);
        let mut journal = Journal::create(&path, &[entry.clone(), other.clone()]).unwrap();
        journal.written(1, identity(7)).unwrap();
        let contents = read(&path).unwrap();
        assert_eq!(contents.entries, vec![entry, other]);
        assert_eq!(contents.written, BTreeMap::from([(1, identity(7))]));
    }

    #[test]
    fn a_journal_of_an_earlier_version_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.jsonl");
        std::fs::write(
            &path,
            r#"{"file":"Music/A/01.mp3","field":{"kind":"standard"},"old":null,"new":"Metal","time":"2026-11-30T10:15:00+00:00"}"#,
        )
        .unwrap();
        let contents = read(&path).unwrap();
        assert_eq!(contents.entries.len(), 1);
        assert!(!contents.entries[0].in_place);
        assert_eq!(contents.entries[0].root, None);
        // Relative: found from the journal's folder, else a message saying where it looked.
        let error = contents.entries[0].resolve(&path).unwrap_err();
        assert!(error.contains("relative path"), "{error}");
        let track = dir.path().join("Music/A/01.mp3");
        std::fs::create_dir_all(track.parent().unwrap()).unwrap();
        std::fs::write(&track, b"x").unwrap();
        assert_eq!(contents.entries[0].resolve(&path), Ok(track));
    }
}
