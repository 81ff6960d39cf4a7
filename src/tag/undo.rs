//! Undoing a tagging run from its journal, newest change first: each file is given back byte
//! for byte where it still holds exactly what the run wrote ([`Restore`]), else its old values
//! are put back (journals of earlier versions hold values only). Safe to interrupt and run
//! again: a file already as before is left as it is.

use super::journal;
use super::lock::RootLocks;
use super::restore::Restore;
use super::safe_write::{self, Method, WriteOptions};
use super::writing::clean_up_after_a_killed_run;
use crate::audio::fields;
use anyhow::Result;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Counts of an undo.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UndoSummary {
    pub restored: usize,
    /// Of those restored, the files given back byte for byte.
    pub exact: usize,
    /// Already holding the old value (undone before, or never written by a killed run).
    pub already: usize,
    /// Changed by someone else since, or missing: left alone and reported.
    pub conflicts: usize,
    pub failed: usize,
}

/// Gives back every file of a journal, newest change first: byte for byte where the file
/// holds what the run wrote, else by putting its old values back. A file already holding its
/// old value is left as it is, so an interrupted undo can simply be run again; a file
/// replaced since the run wrote it, or holding another value, is reported and left alone.
pub fn undo(journal_path: &Path, touch: bool, log: &mut dyn Write) -> Result<UndoSummary> {
    let journal = journal::read(journal_path)?;
    let mut roots: Vec<PathBuf> = journal
        .entries
        .iter()
        .filter_map(|e| e.root.clone())
        .collect();
    roots.sort();
    roots.dedup();
    let _locks = RootLocks::take(&roots, log)?;
    let resolved: Vec<Result<PathBuf, String>> = journal
        .entries
        .iter()
        .map(|e| e.resolve(journal_path))
        .collect();
    let mut folders: Vec<PathBuf> = resolved
        .iter()
        .flatten()
        .map(|path| crate::util::parent_folder(path).to_path_buf())
        .collect();
    folders.sort();
    folders.dedup();
    for folder in &folders {
        clean_up_after_a_killed_run(folder, log);
    }
    let mut summary = UndoSummary::default();
    for (index, entry) in journal.entries.iter().enumerate().rev() {
        let path = match &resolved[index] {
            Ok(path) => path.clone(),
            Err(why) => {
                writeln!(
                    log,
                    "covergenre-classify: {}: cannot undo: {why}",
                    entry.file
                )?;
                summary.failed += 1;
                continue;
            }
        };
        let written = Written {
            identity: journal.written.get(&index),
            restore: journal.restores.get(&index),
        };
        let outcome = undo_entry(entry, &path, written, touch);
        let shown = path.display();
        match outcome {
            UndoOutcome::Exact => {
                summary.restored += 1;
                summary.exact += 1;
            }
            UndoOutcome::Restored => summary.restored += 1,
            UndoOutcome::RestoredValues(why) => {
                writeln!(
                    log,
                    "covergenre-classify: {shown}: its old {} put back, not byte for byte: {why}",
                    entry.field.describe()
                )?;
                summary.restored += 1;
            }
            UndoOutcome::Already => summary.already += 1,
            UndoOutcome::Conflict(why) => {
                writeln!(log, "covergenre-classify: {shown}: {why}: left alone")?;
                summary.conflicts += 1;
            }
            UndoOutcome::Failed(why) => {
                writeln!(log, "covergenre-classify: {shown}: cannot undo: {why}")?;
                summary.failed += 1;
            }
        }
    }
    writeln!(
        log,
        "undo: restored {} file(s), {} already as before, {} changed since (left alone), {} failed",
        summary.restored, summary.already, summary.conflicts, summary.failed
    )?;
    if summary.restored > 0 {
        writeln!(
            log,
            "undo: {} of the {} file(s) restored are byte for byte as before the run",
            summary.exact, summary.restored
        )?;
    }
    Ok(summary)
}

enum UndoOutcome {
    /// Given back byte for byte.
    Exact,
    /// Its old values put back (a journal that keeps values only).
    Restored,
    /// Its old values put back although the journal kept its bytes, and why.
    RestoredValues(String),
    Already,
    Conflict(String),
    Failed(String),
}

/// What the journal says a run left in a file.
#[derive(Clone, Copy)]
struct Written<'a> {
    /// The file as written.
    identity: Option<&'a safe_write::Identity>,
    /// What gives it back byte for byte.
    restore: Option<&'a Restore>,
}

/// The file no longer holds what the run wrote (an error carried through anyhow).
#[derive(Debug, thiserror::Error)]
#[error("it changed since this run wrote it")]
struct NotAsWritten;

/// Undoes one journal entry on the file at `path`.
fn undo_entry(
    entry: &journal::Entry,
    path: &Path,
    written: Written<'_>,
    touch: bool,
) -> UndoOutcome {
    let current = safe_write::Identity::read(path).ok();
    let replaced = matches!((written.identity, current), (Some(w), Some(c)) if !w.same_file(&c));
    let options = WriteOptions {
        touch,
        method: if entry.in_place {
            Method::InPlace
        } else {
            Method::Replace
        },
        expected: None,
    };
    let mut why_not_exact = None;
    if let (Some(restore), false) = (written.restore, replaced) {
        let exact = safe_write::rewrite(
            path,
            options,
            |file| {
                let len = file.metadata()?.len();
                if !restore.matches(file, len)? {
                    return Err(NotAsWritten.into());
                }
                Ok(restore.splices())
            },
            |_| Ok(()),
        );
        match exact {
            Ok(_) => return UndoOutcome::Exact,
            Err(safe_write::WriteError::Other(e)) if e.is::<NotAsWritten>() => {
                why_not_exact = Some(e.to_string());
            }
            Err(e) => return UndoOutcome::Failed(e.to_string()),
        }
    }
    let now = match fields::read(path, &entry.field) {
        Ok(now) => now,
        Err(e) => return UndoOutcome::Failed(format!("{e:#}")),
    };
    if now == entry.old {
        return UndoOutcome::Already;
    }
    if !fields::holds(&now, &entry.new) {
        return UndoOutcome::Conflict(format!(
            "{} is now {}, not the {} this run wrote",
            entry.field.describe(),
            fields::show(&now),
            fields::show(&entry.new)
        ));
    }
    if replaced {
        return UndoOutcome::Conflict("replaced by another file since this run wrote it".into());
    }
    let old = &entry.old;
    match safe_write::rewrite(
        path,
        options,
        |file| fields::edit(file, &entry.field, old),
        |_| Ok(()),
    ) {
        Ok(_) => match why_not_exact {
            Some(why) => UndoOutcome::RestoredValues(why),
            None => UndoOutcome::Restored,
        },
        Err(e) => UndoOutcome::Failed(e.to_string()),
    }
}
