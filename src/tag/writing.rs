//! Step 2 of tagging ([`super`]): writing a plan. The journal first (atomically, before
//! anything else), then each track through [`super::safe_write::rewrite`], appending to the
//! journal as each is written; a full disk or a file system turned read-only stops the
//! writing. The terminal review writes each decided album through the same `Writer`. Also
//! here: cleaning up what a killed run left behind (backups put back, temporary copies
//! removed), which every run and undo does first.

use super::journal;
use super::lock::RootLocks;
use super::plan::{AlbumPlan, Summary, TrackAction, TrackPlan};
use super::safe_write::{self, Method, WriteError, WriteOptions};
use super::{document, TagOptions};
use crate::audio::fields::{self, Field};
use anyhow::Result;
use std::io::Write;
use std::path::{Path, PathBuf};

/// With `tag.apply`, writes the plans (journal first); returns the summary of what was done
/// (or would be) and the journal written.
pub(super) fn apply_if_asked(
    plans: &mut [AlbumPlan],
    roots: &[PathBuf],
    tag: &TagOptions,
    log: &mut dyn Write,
) -> Result<(Summary, Option<PathBuf>)> {
    report_track_problems(plans, log)?;
    let summary = Summary::of(plans);
    // A journal named by the user is written even when empty, so scripts can rely on it.
    if tag.apply && (summary.tracks_tagged > 0 || tag.journal.is_some()) {
        let path = tag.journal.clone().unwrap_or_else(journal::default_path);
        let summary = apply(plans, roots, tag, &path, log)?;
        return Ok((summary, Some(path)));
    }
    Ok((summary, None))
}

pub(super) fn report_track_problems(plans: &[AlbumPlan], log: &mut dyn Write) -> Result<()> {
    for track in plans
        .iter()
        .filter(|p| p.skip.is_none())
        .flat_map(|p| &p.tracks)
    {
        match &track.action {
            TrackAction::Skip(reason) => writeln!(
                log,
                "covergenre-classify: {}: {reason}, skipped",
                track.path.display()
            )?,
            TrackAction::Fail(reason) => writeln!(
                log,
                "covergenre-classify: {}: {reason}",
                track.path.display()
            )?,
            TrackAction::Write | TrackAction::Unchanged => {}
        }
    }
    Ok(())
}

/// With `--apply`, the locks of the roots a run writes under (a second run refuses).
pub(super) fn lock_if_writing(
    roots: &[PathBuf],
    tag: &TagOptions,
    log: &mut dyn Write,
) -> Result<RootLocks> {
    if tag.apply {
        RootLocks::take(roots, log)
    } else {
        Ok(RootLocks::default())
    }
}

/// The journal entry of writing `new` into `track` (an album of `roots`): the file as
/// written (absolute, links resolved), its root, and how it is written.
pub(crate) fn journal_entry(
    track: &TrackPlan,
    folder: &Path,
    roots: &[PathBuf],
    field: &Field,
    new: fields::Values,
) -> journal::Entry {
    let target = journal_path_of(track);
    let mut entry = journal::Entry::new(&target, field, track.current.clone(), new);
    entry.root = document::root_of(roots, folder).and_then(|r| std::path::absolute(r).ok());
    entry.in_place = track.method == Method::InPlace;
    entry
}

/// How a journal names a track: the file written (absolute, links resolved).
pub(crate) fn journal_path_of(track: &TrackPlan) -> PathBuf {
    let target = match &track.write_to {
        Some(target) => target.clone(),
        None => std::fs::canonicalize(&track.path).unwrap_or_else(|_| track.path.clone()),
    };
    std::path::absolute(&target).unwrap_or(target)
}

/// Writes the journal, then every planned track; a track that fails is reported and marked
/// failed, the others go on, unless the disk is full or the file system read-only: then
/// nothing more is written. Returns the summary of what was done.
fn apply(
    plans: &mut [AlbumPlan],
    roots: &[PathBuf],
    tag: &TagOptions,
    journal_path: &Path,
    log: &mut dyn Write,
) -> Result<Summary> {
    let writes: Vec<(usize, usize)> = plans
        .iter()
        .enumerate()
        .filter(|(_, p)| p.skip.is_none())
        .flat_map(|(a, p)| {
            p.tracks
                .iter()
                .enumerate()
                .filter(|(_, t)| t.action == TrackAction::Write)
                .map(move |(t, _)| (a, t))
        })
        .collect();
    let entries: Vec<journal::Entry> = writes
        .iter()
        .map(|&(a, t)| {
            let plan = &plans[a];
            journal_entry(
                &plan.tracks[t],
                &plan.folder,
                roots,
                &tag.field,
                plan.values.clone(),
            )
        })
        .collect();
    let mut journal = journal::Journal::create(journal_path, &entries)?;
    writeln!(
        log,
        "covergenre-classify: journal of this run (undo with --undo): {}",
        journal_path.display()
    )?;
    let mut writer = Writer::new(tag, &mut journal);
    for (index, &(a, t)) in writes.iter().enumerate() {
        let values = plans[a].values.clone();
        writer.write(&mut plans[a].tracks[t], &values, index, log)?;
    }
    Ok(Summary::of(plans))
}

/// Writes tracks whose journal entries are on disk, recording each file written; after a
/// full disk or a file system turned read-only it writes nothing more.
pub(crate) struct Writer<'a> {
    tag: &'a TagOptions,
    journal: &'a mut journal::Journal,
    /// Why the writing stopped, once it has.
    stopped: Option<String>,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(tag: &'a TagOptions, journal: &'a mut journal::Journal) -> Self {
        Self {
            tag,
            journal,
            stopped: None,
        }
    }

    /// Writes `values` into `track` (its journal entry is number `index`); a failure is
    /// reported and marks the track, the run goes on.
    pub(crate) fn write(
        &mut self,
        track: &mut TrackPlan,
        values: &[String],
        index: usize,
        log: &mut dyn Write,
    ) -> Result<()> {
        if let Some(why) = &self.stopped {
            track.action = TrackAction::Fail(format!("not written: {why}"));
            return Ok(());
        }
        let options = WriteOptions {
            touch: self.tag.touch,
            method: track.method,
            expected: track.identity,
        };
        let target = track.target().to_path_buf();
        let field = &self.tag.field;
        let journal = &mut *self.journal;
        let written = safe_write::rewrite(
            &target,
            options,
            |file| fields::edit(file, field, values),
            |restore| journal.restore(index, restore),
        );
        match written {
            Ok(written) => {
                self.journal.written(index, written.identity)?;
                report_attributes_not_kept(&target, &written.attributes_not_kept, log)?;
            }
            Err(WriteError::Changed(why)) => {
                writeln!(
                    log,
                    "covergenre-classify: {}: changed during the run ({why}): left alone",
                    target.display()
                )?;
                track.action = TrackAction::Skip(format!("changed during the run ({why})"));
            }
            Err(e) => {
                writeln!(
                    log,
                    "covergenre-classify: {}: cannot tag: {e}",
                    target.display()
                )?;
                if e.stops_the_run() {
                    writeln!(
                        log,
                        "covergenre-classify: stopping: nothing more is written (the journal {} lists the files written; --undo and a rerun both work)",
                        self.journal.path().display()
                    )?;
                    self.stopped = Some(format!("the run stopped ({e})"));
                }
                track.action = TrackAction::Fail(e.to_string());
            }
        }
        Ok(())
    }
}

/// Names the attributes a written file could not keep (never silently lost).
fn report_attributes_not_kept(path: &Path, lost: &[String], log: &mut dyn Write) -> Result<()> {
    if !lost.is_empty() {
        writeln!(
            log,
            "covergenre-classify: {}: extended attribute(s) not kept: {}",
            path.display(),
            lost.join(", ")
        )?;
    }
    Ok(())
}

/// Puts back the backups a killed in-place write left in `folder`, then removes the
/// temporary copies a killed run left there.
pub(super) fn clean_up_after_a_killed_run(folder: &Path, log: &mut dyn Write) {
    let (restored, problems) = safe_write::restore_backups(folder);
    for path in restored {
        writeln!(
            log,
            "covergenre-classify: {}: put back as it was before a killed run wrote it in place",
            path.display()
        )
        .ok();
    }
    for problem in problems {
        writeln!(log, "covergenre-classify: {problem}").ok();
    }
    report_removed(crate::util::remove_stale_temps(folder), log);
}

/// Removes leftovers of a killed run from every folder under `root`.
pub(super) fn remove_stale_temps_under(root: &Path, log: &mut dyn Write) {
    let folders = crate::files::walk(root)
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_dir());
    for folder in folders {
        clean_up_after_a_killed_run(folder.path(), log);
    }
}

fn report_removed(removed: Vec<PathBuf>, log: &mut dyn Write) {
    for path in removed {
        writeln!(
            log,
            "covergenre-classify: removed {} (left by a killed run)",
            path.display()
        )
        .ok();
    }
}
