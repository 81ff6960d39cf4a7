//! The `covergenre-classify` command as a library call: find covers ([`crate::covers`]), run
//! them through the pipeline ([`crate::infer::pipeline`]) and write the results
//! ([`crate::report::classify`]), streaming, with failures and progress on a log stream.

use crate::covers::{self, CoverDecoder, ListedAlbum, Source, Sources};
use crate::failure::Failure;
use crate::genres::GenreSet;
use crate::infer::pipeline::{self, Outcome, PipelineOptions, Predictor};
use crate::preprocess::Preprocess;
use crate::report::classify::{Format, Record, RecordWriter, Summary};
use crate::report::html::Collector;
use crate::shard::Shard;
use anyhow::Result;
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
    let mut summary = Summary::default();
    match &options.output {
        Some(path) => crate::util::write_atomic_with(path, |file| {
            summary = stream(model, options, file, log, observe)?;
            Ok(())
        })?,
        None => summary = stream(model, options, out, log, observe)?,
    }
    for line in summary.lines() {
        writeln!(log, "{line}")?;
    }
    Ok(summary)
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
                let record = Record::new(&item, model.genres, top_k, options.min_confidence);
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
