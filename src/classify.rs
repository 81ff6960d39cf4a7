//! The `covergenre-classify` command as a library call: find covers ([`crate::covers`]), run
//! them through the pipeline ([`crate::infer::pipeline`]) and write the results
//! ([`crate::report::classify`]), streaming, with failures and progress on a log stream.

use crate::covers::{self, CoverDecoder, ListedAlbum, Source, Sources};
use crate::failure::Failure;
use crate::genres::GenreSet;
use crate::infer::pipeline::{self, Outcome, PipelineOptions, Predictor};
use crate::preprocess::Preprocess;
use crate::report::classify::{Format, Record, RecordWriter, Summary};
use crate::report::digest::Digest;
use crate::report::html::Collector;
use crate::shard::Shard;
use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What to classify and how to write it.
#[derive(Debug, Clone)]
pub struct ClassifyOptions {
    /// Files and folders (or music library roots with `library`).
    pub paths: Vec<PathBuf>,
    /// One result per album folder instead of one per image file.
    pub library: bool,
    /// Albums named one by one (`--albums-from`), classified after those under `paths`.
    pub albums: Vec<ListedAlbum>,
    pub format: Format,
    /// Written atomically when set; otherwise the results go to the `out` stream.
    pub output: Option<PathBuf>,
    pub top_k: usize,
    /// Results whose best probability is under this are labelled `uncertain`.
    pub min_confidence: Option<f32>,
    pub pipeline: PipelineOptions,
    /// Only the covers (or albums) of this shard.
    pub shard: Option<Shard>,
    /// Also write the review page (HTML, thumbnails beside it) here.
    pub report: Option<PathBuf>,
    /// `--artist-context FILE`: the listed albums' artists weigh in each album's genres.
    pub artist_context: Option<std::sync::Arc<crate::artist_list::ListedContext>>,
}

/// The model side of a run: something that predicts, and what its outputs mean.
pub struct ModelView<'a, P: Predictor> {
    pub predictor: P,
    pub genres: &'a GenreSet,
    pub preprocess: &'a Preprocess,
}

/// The covers to classify, lazily.
pub fn sources(options: &ClassifyOptions) -> Sources {
    let library = options.library;
    let shard = options.shard;
    let walked = options.paths.clone().into_iter().flat_map(move |root| {
        let found: Sources = if library {
            covers::album_sources(root.clone())
        } else {
            Box::new(covers::image_sources(vec![root.clone()]))
        };
        found.filter(move |item| in_shard(shard, &root, item))
    });
    // Listed albums have no root: a shard hashes the folder as listed.
    let listed = covers::listed_sources(options.albums.clone())
        .filter(move |item| in_shard(shard, Path::new(""), item));
    Box::new(walked.chain(listed))
}

/// Says which cover candidates of an album could not be decoded, and which was used instead.
fn report_passed_over(source: &Source, log: &mut dyn Write) {
    let Some(used) = source.cover_used() else {
        return;
    };
    for passed in &used.passed_over {
        writeln!(
            log,
            "covergenre-classify: {}: {} (used {}, {}, instead)",
            source.path.display(),
            passed.reason,
            used.file,
            used.rule.name()
        )
        .ok();
    }
}

fn in_shard(shard: Option<Shard>, root: &Path, item: &Result<Source, Failure>) -> bool {
    let path = match item {
        Ok(source) => &source.path,
        Err(failure) => &failure.path,
    };
    shard.is_none_or(|s| s.owns(root, path))
}

/// The folders a run reads: the paths, then the listed albums' folders.
pub fn roots(options: &ClassifyOptions) -> impl Iterator<Item = &Path> {
    let listed = options.albums.iter().map(|a| a.folder.as_path());
    options.paths.iter().map(PathBuf::as_path).chain(listed)
}

/// What a caller watching a run sees of each cover, in input order.
pub enum Observed<'a> {
    /// A classified cover: its source (`path` is the album folder in library mode) and record.
    Classified(&'a Source, &'a Record),
    Failed(&'a Failure),
}

/// Runs a whole classify: results to `options.output` (atomically) or `out`; each failure and
/// the summary lines to `log`. Returns the summary; failed covers are counted, not errors.
pub fn classify<P: Predictor>(
    model: ModelView<'_, P>,
    options: &ClassifyOptions,
    out: &mut dyn Write,
    log: &mut dyn Write,
) -> Result<Summary> {
    let Some(report) = &options.report else {
        return classify_observed(model, options, out, log, &mut |_| {});
    };
    let genres = model.genres.clone();
    let mut collector = Collector::default();
    let summary = classify_observed(model, options, out, log, &mut |observed| match observed {
        Observed::Classified(source, record) => collector.classified(source, record),
        Observed::Failed(failure) => collector.failed(failure),
    })?;
    collector.write(report, &report_title(options), &genres, None)?;
    writeln!(log, "review page: {}", report.display())?;
    Ok(summary)
}

/// The review page's title: what was classified.
pub fn report_title(options: &ClassifyOptions) -> String {
    let mut what: Vec<String> = options
        .paths
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    if !options.albums.is_empty() {
        what.push(format!("{} listed album(s)", options.albums.len()));
    }
    format!("covergenre: {}", what.join(", "))
}

/// [`classify`], also handing every result to `observe` (tagging plans from it, the review
/// page draws it).
pub fn classify_observed<P: Predictor>(
    model: ModelView<'_, P>,
    options: &ClassifyOptions,
    out: &mut dyn Write,
    log: &mut dyn Write,
    observe: &mut dyn FnMut(Observed<'_>),
) -> Result<Summary> {
    let summary = run_observed(model, options, out, log, observe)?;
    for line in summary.lines() {
        writeln!(log, "{line}")?;
    }
    Ok(summary)
}

/// [`classify`] for people (`--summary`, the quick start): the results go to `options.output`
/// (which it needs) and the review page to `options.report`; `out` gets the short account of
/// the run ([`Digest`]: covers per genre, the most and least certain, the time, where the
/// results went) instead of the summary lines on `log`.
pub fn classify_summarised<P: Predictor>(
    model: ModelView<'_, P>,
    options: &ClassifyOptions,
    out: &mut dyn Write,
    log: &mut dyn Write,
) -> Result<Summary> {
    let output = options
        .output
        .as_deref()
        .context("a summary needs an output file for the full results (--output FILE)")?;
    let genres = model.genres.clone();
    let mut digest = Digest::default();
    let mut collector = options.report.as_ref().map(|_| Collector::default());
    let summary =
        run_observed(
            model,
            options,
            &mut std::io::sink(),
            log,
            &mut |observed| match observed {
                Observed::Classified(source, record) => {
                    digest.add(record);
                    if let Some(collector) = collector.as_mut() {
                        collector.classified(source, record);
                    }
                }
                Observed::Failed(failure) => {
                    if let Some(collector) = collector.as_mut() {
                        collector.failed(failure);
                    }
                }
            },
        )?;
    let mut written = vec![("full results", output)];
    if let (Some(report), Some(collector)) = (&options.report, collector) {
        collector.write(report, &report_title(options), &genres, None)?;
        written.push(("review page", report.as_path()));
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    out.write_all(digest.render(&summary, &written, &cwd).as_bytes())?;
    Ok(summary)
}

/// The run behind [`classify_observed`]: results to `options.output` (atomically) or `out`.
fn run_observed<P: Predictor>(
    model: ModelView<'_, P>,
    options: &ClassifyOptions,
    out: &mut dyn Write,
    log: &mut dyn Write,
    observe: &mut dyn FnMut(Observed<'_>),
) -> Result<Summary> {
    let mut summary = Summary::default();
    match &options.output {
        Some(path) => crate::util::write_atomic_with(path, |file| {
            summary = stream(model, options, file, log, observe)?;
            Ok(())
        })?,
        None => summary = stream(model, options, out, log, observe)?,
    }
    Ok(summary)
}

/// The record of a classified cover: with `--artist-context`, combined with its album's
/// artist where the list has one (ranked over every genre, then cut to `top_k`).
fn with_artist(
    item: &crate::infer::pipeline::Classified<Source>,
    genres: &GenreSet,
    options: &ClassifyOptions,
    top_k: usize,
) -> Record {
    let Some(context) = &options.artist_context else {
        return Record::new(item, genres, top_k, options.min_confidence);
    };
    let every = Record::new(item, genres, genres.len(), options.min_confidence);
    let threshold = options.min_confidence.unwrap_or(0.0);
    let mut record = context.apply(&every, threshold).unwrap_or(every);
    record.top.truncate(top_k);
    record
}

fn stream<P: Predictor>(
    model: ModelView<'_, P>,
    options: &ClassifyOptions,
    out: &mut dyn Write,
    log: &mut dyn Write,
    observe: &mut dyn FnMut(Observed<'_>),
) -> Result<Summary> {
    let top_k = options.top_k.clamp(1, model.genres.len().max(1));
    let mut writer = RecordWriter::new(out, options.format, top_k)?;
    let mut summary = Summary::default();
    // The first output error stops writing; it is returned once the run has ended.
    let mut write_error: Option<anyhow::Error> = None;
    let progress = crate::util::progress(None, "covers");
    let on_result = |outcome: Outcome<Source>| {
        progress.inc(1);
        match outcome {
            Ok(item) => {
                progress.suspend(|| report_passed_over(&item.source, log));
                let record = with_artist(&item, model.genres, options, top_k);
                summary.count(&record);
                observe(Observed::Classified(&item.source, &record));
                if write_error.is_none() {
                    write_error = writer.record(&record).err();
                }
            }
            Err(failure) => {
                progress.suspend(|| writeln!(log, "covergenre-classify: {failure}").ok());
                observe(Observed::Failed(&failure));
                writer.failure(&failure);
            }
        }
    };
    let run = pipeline::run_with(
        sources(options),
        &CoverDecoder::new(*model.preprocess),
        model.predictor,
        &options.pipeline,
        on_result,
    )?;
    progress.finish_and_clear();
    if let Some(error) = write_error {
        return Err(error);
    }
    summary.classified = run.classified;
    summary.failed = run.failed;
    summary.stopped_early = run.stopped_early;
    summary.seconds = run.elapsed.as_secs_f64();
    summary.images_per_second = run.classified as f64 / summary.seconds.max(1e-9);
    writer.finish(&summary)?;
    Ok(summary)
}
