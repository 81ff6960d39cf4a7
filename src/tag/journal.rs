//! The journal of a tagging run: one JSON object per line, one line per file and field, with
//! the value before and after. The planned changes are written (atomically) before any audio
//! file is touched, so whatever happens to the run, [`super::undo()`] can put every old value
//! back. Then, as each file is written, a line is appended saying so, with what identifies the
//! file written ([`Identity`]): the journal says exactly which files a run wrote, and undo
//! notices a file replaced since.
//!
//! Before each file is replaced, a line keeps what gives it back byte for byte
//! ([`Restore`]: the few original bytes the edit replaced, never the file), flushed to disk
//! first: undo restores the exact bytes where the file still holds what the run wrote, and
//! the old values otherwise (and for journals of earlier versions, which hold values only).
//!
//! The terminal review appends instead ([`Journal::resume`], [`Journal::append`]): each decided
//! album's entries are appended and flushed before its files are written, one journal for the
//! whole review. A last line cut short by a kill is dropped on reading (no file it names was
//! touched yet) and cut off before the journal is appended to again.
//!
//! Files are named for good: absolute paths, resolved (links followed) when the plan is made,
//! so undo works from any folder. Journals of earlier versions, whose paths are as given on
//! the command line, still read: a relative path is taken relative to the journal's folder
//! when the file is there, else relative to the current folder ([`Entry::resolve`]).

use super::restore::{Restore, SavedSplice};
use super::safe_write::Identity;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::audio::fields::{Field, Values};

/// One planned change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The audio file, for people (lossy when the path is not UTF-8).
    pub file: String,
    /// The exact path bytes, only when `file` could not hold them (non-UTF-8 paths).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_bytes: Option<Vec<u8>>,
    pub field: Field,
    /// The values before the run (`[]`: the field did not exist), and those written.
    /// Journals of earlier versions hold one value or `null`; both still read.
    #[serde(deserialize_with = "values_or_one")]
    pub old: Values,
    #[serde(deserialize_with = "values_or_one")]
    pub new: Values,
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

/// A journal's values: a list, or (journals of earlier versions) one string or `null`.
fn values_or_one<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Values, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Recorded {
        Several(Values),
        One(Option<String>),
    }
    Ok(match Recorded::deserialize(deserializer)? {
        Recorded::Several(values) => values,
        Recorded::One(value) => value.into_iter().collect(),
    })
}

/// The line appended once the file of entry `written` (its index among the entries) is
/// written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WrittenLine {
    pub written: usize,
    pub identity: Identity,
}

/// The line appended, before the file of entry `restore` is replaced, with what gives it
/// back byte for byte.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreLine {
    pub restore: usize,
    pub length: u64,
    pub splices: Vec<SavedSplice>,
}

/// Any line of a journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Line {
    Written(WrittenLine),
    Restore(RestoreLine),
    Entry(Entry),
}

impl Entry {
    pub fn new(path: &Path, field: &Field, old: Values, new: Values) -> Self {
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
    /// Entries in the journal so far: the index the next appended entry gets.
    entries: usize,
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
        Self::open(path, entries.len())
    }

    /// Opens the journal of a review that goes on (an empty one is created when there is
    /// none), with a last line cut short by a kill cut off, and what it holds so far.
    pub fn resume(path: &Path) -> Result<(Self, Contents)> {
        if !path.exists() {
            return Ok((Self::create(path, &[])?, Contents::default()));
        }
        let (contents, complete) = read_complete(path)?;
        let length = std::fs::metadata(path)
            .with_context(|| format!("cannot read the journal {}", path.display()))?
            .len();
        if complete < length {
            let repaired = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .and_then(|f| f.set_len(complete).and_then(|()| f.sync_all()));
            repaired.with_context(|| format!("cannot repair the journal {}", path.display()))?;
        }
        Ok((Self::open(path, contents.entries.len())?, contents))
    }

    fn open(path: &Path, entries: usize) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open the journal {}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            entries,
        })
    }

    /// Adds `entries` at the end and flushes them to disk before returning, so their files
    /// can be written right after; returns the index of the first one.
    pub fn append(&mut self, entries: &[Entry]) -> Result<usize> {
        let mut lines = Vec::new();
        for entry in entries {
            serde_json::to_writer(&mut lines, entry)?;
            lines.push(b'\n');
        }
        self.file
            .write_all(&lines)
            .and_then(|()| self.file.sync_all())
            .with_context(|| format!("cannot write the journal {}", self.path.display()))?;
        let first = self.entries;
        self.entries += entries.len();
        Ok(first)
    }

    /// Records that the file of entry `index` is written and is now `identity`; flushed to
    /// disk, so the journal never says less than what was written.
    pub fn written(&mut self, index: usize, identity: Identity) -> Result<()> {
        self.add_line(&Line::Written(WrittenLine {
            written: index,
            identity,
        }))
    }

    /// Keeps what gives the file of entry `index` back byte for byte, flushed to disk before
    /// the file is replaced; a restore too big for a journal ([`Restore::fits_a_journal`]) is
    /// not kept (that file is undone by its values).
    pub fn restore(&mut self, index: usize, restore: &Restore) -> Result<()> {
        if !restore.fits_a_journal() {
            return Ok(());
        }
        self.add_line(&Line::Restore(RestoreLine {
            restore: index,
            length: restore.length,
            splices: restore.splices.clone(),
        }))
    }

    fn add_line(&mut self, line: &Line) -> Result<()> {
        let mut text = serde_json::to_string(line)?;
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
    /// Entry index -> what gives its file back byte for byte (none in journals of earlier
    /// versions, nor for writes that replaced too much to keep).
    pub restores: BTreeMap<usize, Restore>,
}

/// Reads a journal back; a whole line that is neither an entry nor a written line is an
/// error naming the line. A last line without its newline that does not parse is what a kill
/// during an append leaves: it is dropped.
pub fn read(path: &Path) -> Result<Contents> {
    Ok(read_complete(path)?.0)
}

/// [`read`], and the length in bytes of the journal's whole lines.
fn read_complete(path: &Path) -> Result<(Contents, u64)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the journal {}", path.display()))?;
    let mut contents = Contents::default();
    let mut complete = 0;
    for (number, line) in text.split_inclusive('\n').enumerate() {
        let whole = line.ends_with('\n');
        if line.trim().is_empty() {
            complete += line.len();
            continue;
        }
        match serde_json::from_str::<Line>(line) {
            Ok(Line::Entry(entry)) => contents.entries.push(entry),
            Ok(Line::Written(written)) => {
                contents.written.insert(written.written, written.identity);
            }
            Ok(Line::Restore(line)) => {
                let restore = Restore {
                    length: line.length,
                    splices: line.splices,
                };
                contents.restores.insert(line.restore, restore);
            }
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
    Ok((contents, complete as u64))
}

/// The default journal name: `covergenre-journal-<local time>.jsonl` in the current folder.
pub fn default_path() -> PathBuf {
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    PathBuf::from(format!("covergenre-journal-{stamp}.jsonl"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tag::restore::{MAX_KEPT, MAX_SPLICES};

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
            vec!["Rock/Pop".into()],
            vec!["Metal".into(), "Rock".into()],
        );
        entry.root = Some(dir.path().to_path_buf());
        let other = Entry::new(&dir.path().join("b.flac"), &Field::Standard, vec![], vec![]);
        let mut journal = Journal::create(&path, &[entry.clone(), other.clone()]).unwrap();
        let restore = Restore {
            length: 10,
            splices: vec![SavedSplice {
                start: 2,
                end: 4,
                bytes: b"Jazz".to_vec(),
                written: "ab".repeat(32),
            }],
        };
        journal.restore(1, &restore).unwrap();
        journal.written(1, identity(7)).unwrap();
        let too_big = Restore {
            length: 10,
            splices: vec![SavedSplice {
                bytes: vec![0; MAX_KEPT + 1],
                ..restore.splices[0].clone()
            }],
        };
        journal.restore(0, &too_big).unwrap();
        let too_many = Restore {
            length: 10,
            splices: vec![restore.splices[0].clone(); MAX_SPLICES + 1],
        };
        journal.restore(0, &too_many).unwrap();
        let contents = read(&path).unwrap();
        assert_eq!(contents.entries, vec![entry, other]);
        assert_eq!(contents.written, BTreeMap::from([(1, identity(7))]));
        assert_eq!(
            contents.restores,
            BTreeMap::from([(1, restore)]),
            "not those too big or in too many places"
        );
    }

    fn entry(file: &str) -> Entry {
        Entry::new(
            Path::new(file),
            &Field::Standard,
            Vec::new(),
            vec!["Metal".into()],
        )
    }

    fn files(path: &Path) -> Vec<String> {
        read(path)
            .unwrap()
            .entries
            .into_iter()
            .map(|e| e.file)
            .collect()
    }

    #[test]
    fn a_line_cut_short_by_a_kill_is_dropped_and_repaired() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("review.jsonl");
        let (mut journal, contents) = Journal::resume(&path).unwrap();
        assert!(contents.entries.is_empty());
        assert_eq!(
            journal
                .append(&[entry("/m/1.mp3"), entry("/m/2.mp3")])
                .unwrap(),
            0
        );
        journal.written(1, identity(5)).unwrap();
        drop(journal);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"file\":\"/m/3.m");
        std::fs::write(&path, &text).unwrap();
        assert_eq!(
            files(&path),
            ["/m/1.mp3", "/m/2.mp3"],
            "the torn line is not an entry"
        );
        let (mut journal, contents) = Journal::resume(&path).unwrap();
        assert_eq!(contents.written, BTreeMap::from([(1, identity(5))]));
        assert_eq!(journal.append(&[entry("/m/4.mp3")]).unwrap(), 2);
        assert_eq!(files(&path), ["/m/1.mp3", "/m/2.mp3", "/m/4.mp3"]);
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
        assert!(Journal::resume(&path).is_err(), "not appended to");
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
        // One value or null, as earlier versions wrote them.
        assert_eq!(contents.entries[0].old, Vec::<String>::new());
        assert_eq!(contents.entries[0].new, ["Metal"]);
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
