//! Writing the classified genre into a music library's audio files, safely:
//!
//! 1. [`plan`]: classify every album (classify's `--library` mode) and propose, per track,
//!    `existing -> proposed`, or say why the album is skipped. Nothing is written.
//!    [`links::place_tracks`] decides where each track is written (through symlinks, hard
//!    links skipped or written in place).
//! 2. [`apply`]: take the [`lock`] of each root, write a [`journal`] (atomically, before
//!    anything else), then each file through [`safe_write::rewrite`] (copy beside it, edit,
//!    flush, rename; or in place after a backup), appending to the journal as each is written.
//!    A full disk or a file system turned read-only stops the writing.
//! 3. [`undo`]: put the journal's old values back; safe to interrupt and rerun.
//!
//! Instead of 2, the owner may decide: on the review page (a [`decisions`] file, applied by
//! [`run_decisions`]) or in the terminal, album by album ([`run_interactive`]: the question
//! loop in [`interactive`], the terminal it runs on in [`terminal`]); each decided album is
//! written by the same writer, its journal entries first.
//!
//! Temporary copies a killed run left behind are removed by the next run and by undo, and
//! backups of a killed in-place write are put back first.

pub mod decisions;
pub mod document;
pub mod interactive;
pub mod journal;
pub mod links;
pub mod lock;
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
use links::Hardlinks;
use lock::RootLocks;
use plan::{AlbumPlan, GenreStyle, GenresPerAlbum, PlanOptions, Summary, TrackAction, TrackPlan};
use safe_write::{Method, WriteError, WriteOptions};
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
    /// Tracks with several hard links: skipped, or written in place.
    pub hardlinks: Hardlinks,
    /// How many genres an album gets, and whether they are joined into one value.
    pub genres: GenresPerAlbum,
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
    let _locks = lock_if_writing(&run_roots(options), tag, log)?;
    let Planned {
        mut plans,
        covers: _,
        roots,
        mut collector,
    } = plan_library(model, options, tag, log)?;
    let header = tag.threshold.line();
    let output = options.output.as_deref();
    write_plan_to(output, &plans, &roots, tag, &header, out, log)?;
    let (summary, journal_path) = apply_if_asked(&mut plans, &roots, tag, log)?;
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

/// Album keys are relative to these: the library roots and the listed album folders.
fn run_roots(options: &ClassifyOptions) -> Vec<PathBuf> {
    crate::classify::roots(options)
        .map(Path::to_path_buf)
        .collect()
}

/// Classifies every album under `options.paths` and plans its tags (nothing is written).
fn plan_library<P: Predictor>(
    model: ModelView<'_, P>,
    options: &ClassifyOptions,
    tag: &TagOptions,
    log: &mut dyn Write,
) -> Result<Planned> {
    let roots = run_roots(options);
    // A run that holds no lock leaves a running writer's temporary files and backups alone.
    for root in roots.iter().filter(|r| !lock::held_elsewhere(r)) {
        remove_stale_temps_under(root, log);
    }
    let genres = model.genres.clone();
    let plan_options = PlanOptions {
        field: &tag.field,
        style: tag.style,
        overwrite: tag.overwrite,
        genres: &genres,
        count: &tag.genres,
    };
    // The plan is the output of a tagging run: classify's own records are not written, and
    // the threshold in force decides what is low confidence.
    // --max-genres needs that many of the top genres.
    let classify_options = ClassifyOptions {
        output: None,
        min_confidence: Some(tag.threshold.value),
        top_k: options.top_k.max(tag.genres.max),
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
    links::place_tracks(&mut plans, &roots, tag.hardlinks);
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
    let _locks = RootLocks::take(&run_roots(&options), log)?;
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
    let _locks = lock_if_writing(&[root.to_path_buf()], tag, log)?;
    if !lock::held_elsewhere(root) {
        remove_stale_temps_under(root, log);
    }
    let read = decisions::Decisions::read(path, root)?;
    let mut refused = read.refused;
    let mut plans = Vec::new();
    for (decision, folder) in &read.accepted {
        match decision.plan(folder, &tag.field, &tag.genres) {
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
    links::place_tracks(&mut plans, &roots, tag.hardlinks);
    write_plan_to(None, &plans, &roots, tag, &header, out, log)?;
    let (summary, journal_path) = apply_if_asked(&mut plans, &roots, tag, log)?;
    finish(plans, summary, journal_path, refused.len(), tag, log)
}

/// With `tag.apply`, writes the plans (journal first); returns the summary of what was done
/// (or would be) and the journal written.
fn apply_if_asked(
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

/// With `--apply`, the locks of the roots a run writes under (a second run refuses).
fn lock_if_writing(roots: &[PathBuf], tag: &TagOptions, log: &mut dyn Write) -> Result<RootLocks> {
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
        match safe_write::rewrite(&target, options, |file| fields::write(file, field, values)) {
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
        let outcome = undo_entry(entry, &path, journal.written.get(&index), touch);
        let shown = path.display();
        match outcome {
            UndoOutcome::Restored => summary.restored += 1,
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
    Ok(summary)
}

enum UndoOutcome {
    Restored,
    Already,
    Conflict(String),
    Failed(String),
}

/// Undoes one journal entry on the file at `path`; `written`: the file as the run left it.
fn undo_entry(
    entry: &journal::Entry,
    path: &Path,
    written: Option<&safe_write::Identity>,
    touch: bool,
) -> UndoOutcome {
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
    let current = safe_write::Identity::read(path).ok();
    if let (Some(written), Some(current)) = (written, current) {
        if !written.same_file(&current) {
            return UndoOutcome::Conflict(
                "replaced by another file since this run wrote it".into(),
            );
        }
    }
    let options = WriteOptions {
        touch,
        method: if entry.in_place {
            Method::InPlace
        } else {
            Method::Replace
        },
        expected: None,
    };
    match safe_write::rewrite(path, options, |file| {
        fields::write(file, &entry.field, &entry.old)
    }) {
        Ok(_) => UndoOutcome::Restored,
        Err(e) => UndoOutcome::Failed(e.to_string()),
    }
}

/// Puts back the backups a killed in-place write left in `folder`, then removes the
/// temporary copies a killed run left there.
fn clean_up_after_a_killed_run(folder: &Path, log: &mut dyn Write) {
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
fn remove_stale_temps_under(root: &Path, log: &mut dyn Write) {
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
