//! Writing the classified genre into a music library's audio files, safely:
//!
//! 1. [`plan`]: classify every album (classify's `--library` mode) and propose, per track,
//!    `existing -> proposed`, or say why the album is skipped ([`plan_view`]: shown to
//!    people). Nothing is written.
//!    [`artists`] lets each album's artist's other albums weigh in the proposal.
//!    [`links::place_tracks`] decides where each track is written (through symlinks, hard
//!    links skipped or written in place).
//! 2. `apply` ([`writing`]): take the [`lock`] of each root, write a [`journal`] (atomically,
//!    before anything else), then each file through [`safe_write::rewrite`] (copy beside it, edit,
//!    flush, rename; or in place after a backup), appending to the journal as each is written.
//!    A full disk or a file system turned read-only stops the writing.
//! 3. [`undo()`]: give each file back byte for byte where it holds what the run wrote, else put
//!    its old values back; safe to interrupt and rerun.
//!
//! Instead of 2, the owner may decide: on the review page (a [`decisions`] file, applied by
//! [`run_decisions`]) or in the terminal, album by album ([`run_interactive`]: the review
//! loop in [`interactive`], its question in [`question`], the albums and console both work
//! with in [`console`], the terminal it runs on in [`terminal`], one decision per artist in
//! [`by_artist`]); each decided album is written by the same writer, its journal entries
//! first.
//!
//! Temporary copies a killed run left behind are removed by the next run and by undo, and
//! backups of a killed in-place write are put back first.

pub mod artists;
pub mod by_artist;
pub mod console;
pub mod decisions;
pub mod document;
pub mod interactive;
pub mod journal;
pub mod links;
pub mod lock;
pub mod plan;
pub mod plan_view;
pub mod question;
pub mod restore;
pub mod safe_write;
pub mod terminal;
pub mod threshold;
pub mod undo;
pub mod writing;

pub use undo::{undo, UndoSummary};

use crate::audio::fields::Field;
use crate::classify::{classify_observed, ClassifyOptions, ModelView, Observed};
use crate::covers::SourceKind;
use crate::infer::pipeline::Predictor;
use crate::report::html::Collector;
use anyhow::Result;
use links::Hardlinks;
use lock::RootLocks;
use plan::{AlbumPlan, GenreStyle, GenresPerAlbum, PlanOptions, Summary};
use std::io::Write;
use std::path::{Path, PathBuf};
use threshold::Threshold;
use writing::{apply_if_asked, lock_if_writing, remove_stale_temps_under};

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
    /// Let the artist's other albums weigh in the proposals ([`artists`]); off:
    /// `--no-artist-context`.
    pub artist_context: bool,
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
        artists,
        records: _,
    } = plan_library(model, options, tag, log)?;
    let summary = artists.as_ref().map(|a| &a.summary);
    let mut header = vec![tag.threshold.line()];
    header.extend(summary.iter().flat_map(|s| s.lines()));
    let output = options.output.as_deref();
    let shown = Shown {
        header: &header.join("\n"),
        artists: summary,
    };
    write_plan_to(output, &plans, &roots, tag, &shown, out, log)?;
    let (summary, journal_path) = apply_if_asked(&mut plans, &roots, tag, log)?;
    if let Some(report) = &options.report {
        let entries: Vec<document::AlbumEntry> = plans
            .iter()
            .map(|p| document::AlbumEntry::of(p, &roots))
            .collect();
        collector.plan = Some(document::plan_id(&entries));
        for (index, ((card, plan), entry)) in collector
            .cards
            .iter_mut()
            .zip(&plans)
            .zip(entries)
            .enumerate()
        {
            plan_view::annotate(card, plan);
            card.plan = Some(serde_json::to_value(entry)?);
            card.artist_context = artists.as_ref().and_then(|a| a.page_card(index));
        }
        if let Some(artists) = &artists {
            let plan_options = plan_options(tag, &genres);
            let top_k = options.top_k.max(tag.genres.max);
            collector.artists = Some(artists.page_rule(&plan_options, tag.threshold.value, top_k));
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
    /// The artist context of the run (`None`: `--no-artist-context`).
    artists: Option<artists::Proposals>,
    /// Each plan's record (`None`: not classified), combined with its artist's where that
    /// weighed.
    records: Vec<Option<crate::report::classify::Record>>,
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
    let plan_options = plan_options(tag, &genres);
    // The plan is the output of a tagging run: classify's own records are not written, and
    // the threshold in force decides what is low confidence.
    // --max-genres needs that many of the top genres; the artist context every genre.
    let top_k = options.top_k.max(tag.genres.max);
    let classify_options = ClassifyOptions {
        output: None,
        min_confidence: Some(tag.threshold.value),
        top_k: if tag.artist_context {
            genres.len()
        } else {
            top_k
        },
        ..options.clone()
    };
    let mut plans = Vec::new();
    let mut covers = Vec::new();
    let mut records = Vec::new();
    let mut collector = Collector::default();
    let mut observe = |observed: Observed<'_>| {
        let (plan, cover, record) = match observed {
            Observed::Classified(source, record) => {
                collector.classified(source, record);
                let folder = &source.path;
                let plan =
                    plan::plan_classified(folder, record, album_tracks(folder), &plan_options);
                (plan, Some(source.kind.clone()), Some(record.clone()))
            }
            Observed::Failed(failure) => {
                collector.failed(failure);
                let plan = plan::plan_failed(failure, album_tracks(&failure.path), &tag.field);
                (plan, None, None)
            }
        };
        plans.push(plan);
        covers.push(cover);
        records.push(record);
    };
    classify_observed(
        model,
        &classify_options,
        &mut std::io::sink(),
        log,
        &mut observe,
    )?;
    let artists = tag.artist_context.then(|| {
        let threshold = tag.threshold.value;
        let proposals = artists::propose(
            &mut plans,
            &mut records,
            &roots,
            &plan_options,
            threshold,
            top_k,
        );
        artists::show_on_cards(&mut collector.cards, &records);
        proposals
    });
    links::place_tracks(&mut plans, &roots, tag.hardlinks);
    Ok(Planned {
        plans,
        covers,
        roots,
        collector,
        artists,
        records,
    })
}

/// How albums are planned for a run with `tag` and a model of `genres`.
fn plan_options<'a>(tag: &'a TagOptions, genres: &'a crate::genres::GenreSet) -> PlanOptions<'a> {
    PlanOptions {
        field: &tag.field,
        style: tag.style,
        overwrite: tag.overwrite,
        genres,
        count: &tag.genres,
    }
}

/// Classifies every album, then asks the owner about each album with a proposal on
/// `console`, writing each decided album at once (its journal entries first, all in one
/// journal: `tag.journal`, else [`interactive::DEFAULT_JOURNAL`]). A review whose journal
/// exists goes on: albums it decided before are not asked again.
pub fn run_interactive<P: Predictor>(
    model: ModelView<'_, P>,
    options: &ClassifyOptions,
    tag: &TagOptions,
    console: &mut dyn console::Console,
    log: &mut dyn Write,
) -> Result<TagRun> {
    // The question offers the top 3, whatever --top-k says.
    let options = ClassifyOptions {
        top_k: options.top_k.max(3),
        ..options.clone()
    };
    let completions = question::model_values(model.genres, tag.style);
    let genres = model.genres.clone();
    let _locks = RootLocks::take(&run_roots(&options), log)?;
    let planned = plan_library(model, &options, tag, log)?;
    let journal_path = tag
        .journal
        .clone()
        .unwrap_or_else(|| PathBuf::from(interactive::DEFAULT_JOURNAL));
    let with_context = planned.artists.is_some();
    let mut albums: Vec<console::Album> = planned
        .plans
        .into_iter()
        .zip(planned.covers)
        .enumerate()
        .map(|(index, (plan, cover))| console::Album {
            plan,
            cover,
            context: with_context.then_some(index),
        })
        .collect();
    let mut artists = planned.artists.map(|proposals| by_artist::ArtistReview {
        proposals,
        records: planned.records,
        options: plan_options(tag, &genres),
        threshold: tag.threshold.value,
        top_k: options.top_k.max(tag.genres.max),
    });
    if let Some(artists) = &artists {
        for line in artists.proposals.summary.lines() {
            console.print(&line)?;
        }
        by_artist::order(&mut albums, artists);
    }
    let review = interactive::Review {
        tag,
        journal: &journal_path,
        roots: &planned.roots,
        completions,
    };
    let outcome = review.run(albums, artists.as_mut(), console, log)?;
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
    let shown = Shown {
        header: &header,
        artists: None,
    };
    write_plan_to(None, &plans, &roots, tag, &shown, out, log)?;
    let (summary, journal_path) = apply_if_asked(&mut plans, &roots, tag, log)?;
    finish(plans, summary, journal_path, refused.len(), tag, log)
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

/// What a plan shows besides its albums: the header lines, and what the artist context
/// measured.
struct Shown<'a> {
    header: &'a str,
    artists: Option<&'a artists::ArtistSummary>,
}

/// [`write_plan`] to the file `output` (atomically) when given, else to `out`.
fn write_plan_to(
    output: Option<&Path>,
    plans: &[AlbumPlan],
    roots: &[PathBuf],
    tag: &TagOptions,
    shown: &Shown<'_>,
    out: &mut dyn Write,
    log: &mut dyn Write,
) -> Result<()> {
    match output {
        Some(path) => crate::util::write_atomic_with(path, |file| {
            write_plan(plans, roots, tag, shown, file, log)
        }),
        None => write_plan(plans, roots, tag, shown, out, log),
    }
}

/// Prints the plan in `tag.format`, the text after its header lines; JSON lines have no
/// room for the header, so it goes to `log` there.
fn write_plan(
    plans: &[AlbumPlan],
    roots: &[PathBuf],
    tag: &TagOptions,
    shown: &Shown<'_>,
    out: &mut dyn Write,
    log: &mut dyn Write,
) -> Result<()> {
    let header = shown.header;
    let data = || {
        let threshold = tag.threshold.value;
        document::PlanDocument::of(plans, roots, &tag.field, threshold, shown.artists)
    };
    match tag.format {
        PlanFormat::Text => {
            writeln!(out, "{header}")?;
            plan_view::render(plans, &tag.field, out)?;
        }
        PlanFormat::Json => data().write(false, out)?,
        PlanFormat::Jsonl => {
            for line in header.lines() {
                writeln!(log, "covergenre-classify: {line}")?;
            }
            data().write(true, out)?;
        }
    }
    out.flush()?;
    Ok(())
}

/// The audio files of an album folder (as library mode finds them), or why the folder cannot
/// be read.
fn album_tracks(folder: &Path) -> Result<crate::data::albums::AlbumTracks, String> {
    crate::data::albums::album_tracks(folder).map_err(|failure| failure.reason)
}
