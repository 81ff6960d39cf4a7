//! Writing the classified genre into a music library's audio files, safely:
//!
//! 1. [`plan`]: classify every album (classify's `--library` mode) and propose, per track,
//!    `existing -> proposed`, or say why the album is skipped. Nothing is written.
//! 2. [`apply`]: write a [`journal`] (atomically, before anything else), then each file
//!    through [`safe_write::rewrite`] (copy beside it, edit, flush, rename).
//! 3. [`undo`]: put the journal's old values back; safe to interrupt and rerun.
//!
//! Instead of 2, the owner may decide: on the review page (a [`decisions`] file, applied by
//! [`run_decisions`]) or in the terminal, album by album ([`run_interactive`]: the question
//! loop in [`interactive`], the terminal it runs on in [`terminal`]); each decided album is
//! written by the same writer, its journal entries first.
//!
//! Temporary copies a killed run left behind are removed by the next run and by undo.

pub mod decisions;
pub mod document;
pub mod interactive;
pub mod journal;
pub mod plan;
pub mod safe_write;
pub mod terminal;
pub mod threshold;

use crate::audio::fields::{self, Field};
use crate::classify::{classify_observed, ClassifyOptions, ModelView, Observed};
use crate::covers::SourceKind;
use crate::infer::pipeline::Predictor;
use crate::report::html::Collector;
use anyhow::Result;
use plan::{AlbumPlan, GenreStyle, PlanOptions, Summary, TrackAction};
use std::io::Write;
use std::path::{Path, PathBuf};
use threshold::Threshold;

/// How the plan is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PlanFormat {
    /// For people: the threshold line, then per album its folder and `existing -> proposed`.
    #[default]
    Text,
    /// One JSON document ([`document::PlanDocument`]).
    Json,
    /// One JSON object per album ([`document::AlbumEntry`]).
    Jsonl,
}

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
    pub format: PlanFormat,
    /// The `--min-confidence` in force (albums under it are `low confidence`).
    pub threshold: Threshold,
}

/// The result of a tagging run.
#[derive(Debug, Clone)]
pub struct TagRun {
    pub plans: Vec<AlbumPlan>,
    pub summary: Summary,
    /// The journal written (with `apply` and something to write).
    pub journal: Option<PathBuf>,
    /// Decisions refused (bad entries, changed albums), each reported on the log.
    pub refused: usize,
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
    let genres = model.genres.clone();
    let Planned {
        mut plans,
        covers: _,
        roots,
        mut collector,
    } = plan_library(model, options, tag, log)?;
    let header = tag.threshold.line();
    let output = options.output.as_deref();
    write_plan_to(output, &plans, &roots, tag, &header, out, log)?;
    let (summary, journal_path) = apply_if_asked(&mut plans, tag, log)?;
    if let Some(report) = &options.report {
        let entries: Vec<document::AlbumEntry> = plans
            .iter()
            .map(|p| document::AlbumEntry::of(p, &roots))
            .collect();
        collector.plan = Some(document::plan_id(&entries));
        for ((card, plan), entry) in collector.cards.iter_mut().zip(&plans).zip(entries) {
            plan::annotate(card, plan);
            card.plan = Some(serde_json::to_value(entry)?);
        }
        let title = crate::classify::report_title(options);
        collector.write(report, &format!("{title} (tag plan)"), &genres, None)?;
        writeln!(log, "review page: {}", report.display())?;
    }
    finish(plans, summary, journal_path, 0, tag, log)
}

/// The plan of every album of a run, before anything is written.
struct Planned {
    plans: Vec<AlbumPlan>,
    /// Each plan's cover (None where it could not be classified), for the terminal review.
    covers: Vec<Option<SourceKind>>,
    /// The library roots and the listed album folders: album keys are relative to these.
    roots: Vec<PathBuf>,
    /// The review page's cards.
    collector: Collector,
}

/// Classifies every album under `options.paths` and plans its tags (nothing is written).
fn plan_library<P: Predictor>(
    model: ModelView<'_, P>,
    options: &ClassifyOptions,
    tag: &TagOptions,
    log: &mut dyn Write,
) -> Result<Planned> {
    // Album keys are relative to these: the library roots and the listed album folders.
    let roots: Vec<PathBuf> = crate::classify::roots(options)
        .map(Path::to_path_buf)
        .collect();
    for root in &roots {
        remove_stale_temps_under(root, log);
    }
    let genres = model.genres.clone();
    let plan_options = PlanOptions {
        field: &tag.field,
        style: tag.style,
        overwrite: tag.overwrite,
        genres: &genres,
    };
    // The plan is the output of a tagging run: classify's own records are not written, and
    // the threshold in force decides what is low confidence.
    let classify_options = ClassifyOptions {
        output: None,
        min_confidence: Some(tag.threshold.value),
        ..options.clone()
    };
    let mut plans = Vec::new();
    let mut covers = Vec::new();
    let mut collector = Collector::default();
    let mut observe = |observed: Observed<'_>| {
        let (plan, cover) = match observed {
            Observed::Classified(source, record) => {
                collector.classified(source, record);
                let folder = &source.path;
                let plan =
                    plan::plan_classified(folder, record, album_tracks(folder), &plan_options);
                (plan, Some(source.kind.clone()))
            }
            Observed::Failed(failure) => {
                collector.failed(failure);
                let plan = plan::plan_failed(failure, album_tracks(&failure.path), &tag.field);
                (plan, None)
            }
        };
        plans.push(plan);
        covers.push(cover);
    };
    classify_observed(
        model,
        &classify_options,
        &mut std::io::sink(),
        log,
        &mut observe,
    )?;
    Ok(Planned {
        plans,
        covers,
        roots,
        collector,
    })
}

/// Classifies every album, then asks the owner about each album with a proposal on
/// `console`, writing each decided album at once (its journal entries first, all in one
/// journal: `tag.journal`, else [`interactive::DEFAULT_JOURNAL`]). A review whose journal
/// exists goes on: albums it decided before are not asked again.
pub fn run_interactive<P: Predictor>(
    model: ModelView<'_, P>,
    options: &ClassifyOptions,
    tag: &TagOptions,
    console: &mut dyn interactive::Console,
    log: &mut dyn Write,
) -> Result<TagRun> {
    // The question offers the top 3, whatever --top-k says.
    let options = ClassifyOptions {
        top_k: options.top_k.max(3),
        ..options.clone()
    };
    let completions = interactive::model_values(model.genres, tag.style);
    let planned = plan_library(model, &options, tag, log)?;
    let journal_path = tag
        .journal
        .clone()
        .unwrap_or_else(|| PathBuf::from(interactive::DEFAULT_JOURNAL));
    let albums = planned
        .plans
        .into_iter()
        .zip(planned.covers)
        .map(|(plan, cover)| interactive::Album { plan, cover })
        .collect();
    let review = interactive::Review {
        tag,
        journal: &journal_path,
        roots: &planned.roots,
        completions,
    };
    let outcome = review.run(albums, console, log)?;
    let summary = Summary::of(&outcome.plans);
    writeln!(log, "{}", summary.line("tagged"))?;
    Ok(TagRun {
        plans: outcome.plans,
        summary,
        journal: Some(journal_path),
        refused: outcome.refused,
    })
}

/// Plans (and with `tag.apply`, writes) exactly the decisions of the decisions file `path`
/// for the library `root`; albums without a decision are not looked at, refused decisions
/// are reported and left alone.
pub fn run_decisions(
    path: &Path,
    root: &Path,
    tag: &TagOptions,
    out: &mut dyn Write,
    log: &mut dyn Write,
) -> Result<TagRun> {
    remove_stale_temps_under(root, log);
    let read = decisions::Decisions::read(path, root)?;
    let mut refused = read.refused;
    let mut plans = Vec::new();
    for (decision, folder) in &read.accepted {
        match decision.plan(folder, &tag.field) {
            Ok(plan) => plans.push(plan),
            Err(reason) => refused.push(format!(
                "{}: decision for album {:?}: {reason}; left alone",
                path.display(),
                decision.album
            )),
        }
    }
    for message in &refused {
        writeln!(log, "covergenre-classify: {message}")?;
    }
    let header = format!(
        "decisions: {} ({} album(s) decided, {} refused)",
        path.display(),
        plans.len(),
        refused.len()
    );
    let roots = [root.to_path_buf()];
    write_plan_to(None, &plans, &roots, tag, &header, out, log)?;
    let (summary, journal_path) = apply_if_asked(&mut plans, tag, log)?;
    finish(plans, summary, journal_path, refused.len(), tag, log)
}

/// With `tag.apply`, writes the plans (journal first); returns the summary of what was done
/// (or would be) and the journal written.
fn apply_if_asked(
    plans: &mut [AlbumPlan],
    tag: &TagOptions,
    log: &mut dyn Write,
) -> Result<(Summary, Option<PathBuf>)> {
    report_track_problems(plans, log)?;
    let summary = Summary::of(plans);
    // A journal named by the user is written even when empty, so scripts can rely on it.
    if tag.apply && (summary.tracks_tagged > 0 || tag.journal.is_some()) {
        let path = tag.journal.clone().unwrap_or_else(journal::default_path);
        let summary = apply(plans, tag, &path, log)?;
        return Ok((summary, Some(path)));
    }
    Ok((summary, None))
}

/// The summary lines, and the run's result.
fn finish(
    plans: Vec<AlbumPlan>,
    summary: Summary,
    journal: Option<PathBuf>,
    refused: usize,
    tag: &TagOptions,
    log: &mut dyn Write,
) -> Result<TagRun> {
    let verb = if tag.apply { "tagged" } else { "would tag" };
    writeln!(log, "{}", summary.line(verb))?;
    if !tag.apply {
        writeln!(log, "nothing was written (add --apply to write this plan)")?;
    }
    Ok(TagRun {
        plans,
        summary,
        journal,
        refused,
    })
}

/// [`write_plan`] to the file `output` (atomically) when given, else to `out`.
fn write_plan_to(
    output: Option<&Path>,
    plans: &[AlbumPlan],
    roots: &[PathBuf],
    tag: &TagOptions,
    header: &str,
    out: &mut dyn Write,
    log: &mut dyn Write,
) -> Result<()> {
    match output {
        Some(path) => crate::util::write_atomic_with(path, |file| {
            write_plan(plans, roots, tag, header, file, log)
        }),
        None => write_plan(plans, roots, tag, header, out, log),
    }
}

/// Prints the plan in `tag.format`, the text after its `header` line; JSON lines have no
/// room for the header, so it goes to `log` there.
fn write_plan(
    plans: &[AlbumPlan],
    roots: &[PathBuf],
    tag: &TagOptions,
    header: &str,
    out: &mut dyn Write,
    log: &mut dyn Write,
) -> Result<()> {
    let data = || document::PlanDocument::of(plans, roots, &tag.field, tag.threshold.value);
    match tag.format {
        PlanFormat::Text => {
            writeln!(out, "{header}")?;
            plan::render(plans, &tag.field, out)?;
        }
        PlanFormat::Json => data().write(false, out)?,
        PlanFormat::Jsonl => {
            writeln!(log, "covergenre-classify: {header}")?;
            data().write(true, out)?;
        }
    }
    out.flush()?;
    Ok(())
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
        write_tracks(plan, tag, log)?;
    }
    Ok(Summary::of(plans))
}

/// Writes the plan's value into each of its tracks marked [`TrackAction::Write`] (their
/// journal entries must be on disk already); a track that fails is reported and marked
/// failed, the others go on.
fn write_tracks(plan: &mut AlbumPlan, tag: &TagOptions, log: &mut dyn Write) -> Result<()> {
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
    Ok(())
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
