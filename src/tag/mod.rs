//! Writing the classified genre into a music library's audio files, safely:
//!
//! 1. [`plan`]: classify every album (classify's `--library` mode) and propose, per track,
//!    `existing -> proposed`, or say why the album is skipped. Nothing is written.
//! 2. [`apply`]: write a [`journal`] (atomically, before anything else), then each file
//!    through [`safe_write::rewrite`] (copy beside it, edit, flush, rename).
//! 3. [`undo`]: put the journal's old values back; safe to interrupt and rerun.
//!
//! Temporary copies a killed run left behind are removed by the next run and by undo.

pub mod journal;
pub mod plan;
pub mod safe_write;

use crate::audio::fields::{self, Field};
use crate::classify::{classify_observed, ClassifyOptions, ModelView, Observed};
use crate::infer::pipeline::Predictor;
use crate::report::html::Collector;
use anyhow::Result;
use plan::{AlbumPlan, GenreStyle, PlanOptions, Summary, TrackAction};
use std::io::Write;
use std::path::{Path, PathBuf};

/// How to tag.
#[derive(Debug, Clone)]
pub struct TagOptions {
    /// Write the plan; without it nothing is written.
    pub apply: bool,
    /// Replace values the tracks already have.
    pub overwrite: bool,
    pub field: Field,
    pub style: GenreStyle,
    /// Give written files the current modification time instead of keeping theirs.
    pub touch: bool,
    /// Where the journal goes (default: a timestamped file in the current folder).
    pub journal: Option<PathBuf>,
}

/// The result of a tagging run.
#[derive(Debug, Clone)]
pub struct TagRun {
    pub plans: Vec<AlbumPlan>,
    pub summary: Summary,
    /// The journal written (with `apply` and something to write).
    pub journal: Option<PathBuf>,
}

/// Plans (and with `tag.apply`, writes) genres for every album under `options.paths`.
/// The plan goes to `out`; messages and the summary to `log`.
pub fn run<P: Predictor>(
    model: ModelView<'_, P>,
    options: &ClassifyOptions,
    tag: &TagOptions,
    out: &mut dyn Write,
    log: &mut dyn Write,
) -> Result<TagRun> {
    for root in crate::classify::roots(options) {
        remove_stale_temps_under(root, log);
    }
    let genres = model.genres.clone();
    let plan_options = PlanOptions {
        field: &tag.field,
        style: tag.style,
        overwrite: tag.overwrite,
        genres: &genres,
    };
    let mut plans = Vec::new();
    let mut collector = Collector::default();
    let mut observe = |observed: Observed<'_>| {
        let plan = match observed {
            Observed::Classified(source, record) => {
                collector.classified(source, record);
                let folder = &source.path;
                plan::plan_classified(folder, record, album_tracks(folder), &plan_options)
            }
            Observed::Failed(failure) => {
                collector.failed(failure);
                plan::plan_failed(failure, album_tracks(&failure.path), &tag.field)
            }
        };
        plans.push(plan);
    };
    classify_observed(model, options, &mut std::io::sink(), log, &mut observe)?;
    plan::render(&plans, &tag.field, out)?;
    report_track_problems(&plans, log)?;
    let mut summary = Summary::of(&plans);
    let mut journal_path = None;
    // A journal named by the user is written even when empty, so scripts can rely on it.
    if tag.apply && (summary.tracks_tagged > 0 || tag.journal.is_some()) {
        let path = tag.journal.clone().unwrap_or_else(journal::default_path);
        summary = apply(&mut plans, tag, &path, log)?;
        journal_path = Some(path);
    }
    if let Some(report) = &options.report {
        for (card, plan) in collector.cards.iter_mut().zip(&plans) {
            plan::annotate(card, plan);
        }
        let title = crate::classify::report_title(options);
        collector.write(report, &format!("{title} (tag plan)"), &genres, None)?;
        writeln!(log, "review page: {}", report.display())?;
    }
    let verb = if tag.apply { "tagged" } else { "would tag" };
    writeln!(log, "{}", summary.line(verb))?;
    if !tag.apply {
        writeln!(log, "nothing was written (add --apply to write this plan)")?;
    }
    Ok(TagRun {
        plans,
        summary,
        journal: journal_path,
    })
}

/// The audio files an album folder's tracks are (as library mode finds them).
fn album_tracks(folder: &Path) -> Vec<PathBuf> {
    crate::data::albums::album_tracks(folder).unwrap_or_default()
}

fn report_track_problems(plans: &[AlbumPlan], log: &mut dyn Write) -> Result<()> {
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

/// Writes the journal, then every planned track; a track that fails is reported and marked
/// failed, the others go on. Returns the summary of what was done.
fn apply(
    plans: &mut [AlbumPlan],
    tag: &TagOptions,
    journal_path: &Path,
    log: &mut dyn Write,
) -> Result<Summary> {
    let entries: Vec<journal::Entry> = plans
        .iter()
        .filter(|p| p.skip.is_none())
        .flat_map(|p| p.tracks.iter().map(move |t| (p, t)))
        .filter(|(_, t)| t.action == TrackAction::Write)
        .map(|(p, t)| journal::Entry::new(&t.path, &tag.field, t.current.clone(), p.value.clone()))
        .collect();
    journal::write(journal_path, &entries)?;
    writeln!(
        log,
        "covergenre-classify: journal of this run (undo with --undo): {}",
        journal_path.display()
    )?;
    for plan in plans.iter_mut().filter(|p| p.skip.is_none()) {
        let value = plan.value.clone();
        for track in plan
            .tracks
            .iter_mut()
            .filter(|t| t.action == TrackAction::Write)
        {
            let written = safe_write::rewrite(&track.path, tag.touch, |file| {
                fields::write(file, &tag.field, value.as_deref())
            });
            if let Err(e) = written {
                writeln!(
                    log,
                    "covergenre-classify: {}: cannot tag: {e:#}",
                    track.path.display()
                )?;
                track.action = TrackAction::Fail(format!("{e:#}"));
            }
        }
    }
    Ok(Summary::of(plans))
}

/// Counts of an undo.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UndoSummary {
    pub restored: usize,
    /// Already holding the old value (undone before, or never written by a killed run).
    pub already: usize,
    /// Changed by someone else since, or missing: left alone and reported.
    pub conflicts: usize,
    pub failed: usize,
}

/// Puts back every old value of a journal, newest change first. A file already holding its
/// old value is left as it is, so an interrupted undo can simply be run again.
pub fn undo(journal_path: &Path, touch: bool, log: &mut dyn Write) -> Result<UndoSummary> {
    let entries = journal::read(journal_path)?;
    let mut folders: Vec<PathBuf> = entries
        .iter()
        .map(|e| crate::util::parent_folder(&e.path()).to_path_buf())
        .collect();
    folders.sort();
    folders.dedup();
    for folder in &folders {
        report_removed(crate::util::remove_stale_temps(folder), log);
    }
    let mut summary = UndoSummary::default();
    for entry in entries.iter().rev() {
        let path = entry.path();
        let shown = path.display();
        match fields::read(&path, &entry.field) {
            Err(e) => {
                writeln!(log, "covergenre-classify: {shown}: cannot undo: {e:#}")?;
                summary.failed += 1;
            }
            Ok(now) if now == entry.old => summary.already += 1,
            Ok(now) if now == entry.new => {
                let result = safe_write::rewrite(&path, touch, |file| {
                    fields::write(file, &entry.field, entry.old.as_deref())
                });
                match result {
                    Ok(()) => summary.restored += 1,
                    Err(e) => {
                        writeln!(log, "covergenre-classify: {shown}: cannot undo: {e:#}")?;
                        summary.failed += 1;
                    }
                }
            }
            Ok(now) => {
                writeln!(
                    log,
                    "covergenre-classify: {shown}: {} is now {:?}, not the {:?} this run wrote: left alone",
                    entry.field.describe(),
                    now.unwrap_or_default(),
                    entry.new.clone().unwrap_or_default()
                )?;
                summary.conflicts += 1;
            }
        }
    }
    writeln!(
        log,
        "undo: restored {} file(s), {} already as before, {} changed since (left alone), {} failed",
        summary.restored, summary.already, summary.conflicts, summary.failed
    )?;
    Ok(summary)
}

/// Removes leftovers of a killed run from every folder under `root`.
fn remove_stale_temps_under(root: &Path, log: &mut dyn Write) {
    let folders = crate::files::walk(root)
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_dir());
    for folder in folders {
        report_removed(crate::util::remove_stale_temps(folder.path()), log);
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
