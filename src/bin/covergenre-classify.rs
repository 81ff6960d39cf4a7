//! `covergenre-classify`: the genre of every album cover under the given paths.

use anyhow::{Context, Result};
use clap::Parser;
use covergenre::classify::{classify, ClassifyOptions, ModelView};
use covergenre::exit;
use covergenre::infer::pipeline::PipelineOptions;
use covergenre::infer::Model;
use covergenre::report::classify::Format;
use covergenre::shard::Shard;
use covergenre::tag::{self, fields::Field, plan::GenreStyle, TagOptions};
use std::path::PathBuf;

const AFTER_HELP: &str = "\
EXAMPLES:
  covergenre-classify cover.jpg
  covergenre-classify --format csv --output genres.csv ~/Pictures/covers
  covergenre-classify --library --min-confidence 0.4 ~/Music
  covergenre-classify --model my-model.onnx --threads 2 --format jsonl covers/ > out.jsonl
  covergenre-classify --tta --format csv --output genres.csv covers/
  covergenre-classify --library --tag ~/Music                        # the plan; writes nothing
  covergenre-classify --library --tag --apply --min-confidence 0.5 ~/Music
  covergenre-classify --library --tag --apply --field COVERGENRE ~/Music
  covergenre-classify --undo covergenre-journal-20261130-101500.jsonl
  covergenre-classify --shard 3/8 --format csv --output part-3.csv covers/
  covergenre-classify --report review.html covers/                  # + review-thumbs/

OUTPUT:
  CSV columns: path,genre,probability,top1,p1,...,topK,pK. genre is 'uncertain' when the best
  probability is under --min-confidence. JSON: {\"results\":[...],\"failures\":[...],\"summary\":{...}}.
  A summary (covers per genre, failures, time, images per second) goes to stderr.

EXIT CODES:
  0  every cover was classified (with --tag: every planned track written or writable)
  2  bad arguments or a fatal error (no model, unwritable output)
  3  some files could not be read and were skipped (with --strict: the run stopped at the first);
     with --tag, a track could not be read or written; with --undo, a file could not be restored";

#[derive(Debug, Parser)]
#[command(version, about = "Tell the music genre of album covers", after_help = AFTER_HELP)]
struct Args {
    /// Image files and folders (searched recursively), or music library folders with --library.
    #[arg(required_unless_present = "undo", value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Treat each PATH as a music library: one result per album folder, from its cover file
    /// (cover, folder, front, albumart, AlbumArt_*) or the picture embedded in its audio files.
    #[arg(long)]
    library: bool,
    /// ONNX model exported by covergenre-train [default: the built-in model].
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Write the results to FILE (atomically) instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Genres listed per cover, most probable first.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..))]
    top_k: u16,
    /// Label covers whose best probability is under P as 'uncertain'.
    #[arg(long, value_name = "P", value_parser = probability)]
    min_confidence: Option<f32>,
    /// Threads for decoding and inference [default: all cores].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    /// Covers per inference batch.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..))]
    batch_size: u16,
    /// Stop at the first file that cannot be classified.
    #[arg(long)]
    strict: bool,
    /// Test-time augmentation: average each cover's probabilities with those of its mirror
    /// image (left-right flip); twice the inference.
    #[arg(long)]
    tta: bool,
    /// Classify only shard I of N (0 <= I < N): the covers or albums whose path relative to
    /// PATH hashes to I. The N outputs together hold exactly the rows of an unsharded run.
    #[arg(long, value_name = "I/N")]
    shard: Option<Shard>,
    /// Also write a review page: one self-contained HTML file (covers grouped by genre,
    /// filter, search; with --tag, the plan), thumbnails in FILE's stem + "-thumbs/" beside it.
    #[arg(long, value_name = "FILE.html")]
    report: Option<PathBuf>,
    /// With --library: plan genre tags for every album's tracks (existing -> proposed) and
    /// print the plan; nothing is written without --apply.
    #[arg(long, requires = "library")]
    tag: bool,
    /// With --tag: write the plan into the audio files (journal first, see --journal).
    #[arg(long, requires = "tag")]
    apply: bool,
    /// With --tag: replace values the tracks already have (otherwise such albums are skipped).
    #[arg(long, requires = "tag")]
    overwrite: bool,
    /// With --tag: write to this field (ID3 TXXX, Vorbis comment, M4A freeform atom) instead
    /// of the standard genre field, which is then left alone.
    #[arg(long, value_name = "NAME", requires = "tag")]
    field: Option<String>,
    /// With --tag: write the genre's display name ("Rap & Hip-Hop") or its slug (rap-hip-hop).
    #[arg(long, value_enum, default_value = "name")]
    genre_style: GenreStyle,
    /// With --tag --apply or --undo: give changed files the current time as modification
    /// time (by default they keep theirs).
    #[arg(long)]
    touch: bool,
    /// With --tag --apply: the journal of old and new values [default:
    /// ./covergenre-journal-<time>.jsonl, named on stderr].
    #[arg(long, value_name = "FILE", requires = "apply")]
    journal: Option<PathBuf>,
    /// Put back every old value recorded in JOURNAL (safe to interrupt and run again).
    #[arg(long, value_name = "JOURNAL", conflicts_with_all = ["tag", "paths"])]
    undo: Option<PathBuf>,
}

fn probability(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("'{text}' is not a probability between 0 and 1")),
    }
}

fn open_model(args: &Args, threads: usize) -> Result<Model> {
    match &args.model {
        Some(path) => Model::open(path, threads),
        None => Model::shipped(threads).context("the built-in model cannot be opened"),
    }
}

fn run(args: Args) -> Result<i32> {
    if let Some(journal) = &args.undo {
        let summary = tag::undo(journal, args.touch, &mut std::io::stderr())?;
        return Ok(if summary.failed + summary.conflicts > 0 {
            exit::SOME_FILES_FAILED
        } else {
            exit::SUCCESS
        });
    }
    let field = match &args.field {
        Some(name) => Field::custom(name)?,
        None => Field::Standard,
    };
    let pipeline = PipelineOptions {
        threads: args
            .threads
            .map_or_else(|| PipelineOptions::default().threads, usize::from),
        batch_size: args.batch_size.into(),
        strict: args.strict,
        tta: args.tta,
    };
    let mut model = open_model(&args, pipeline.threads)?;
    let (genres, preprocess) = (model.genres().clone(), *model.preprocess());
    let options = ClassifyOptions {
        paths: args.paths,
        library: args.library,
        format: args.format,
        output: args.output,
        top_k: args.top_k.into(),
        min_confidence: args.min_confidence,
        pipeline,
        shard: args.shard,
        report: args.report,
    };
    let view = ModelView {
        predictor: &mut model,
        genres: &genres,
        preprocess: &preprocess,
    };
    if args.tag {
        let tag_options = TagOptions {
            apply: args.apply,
            overwrite: args.overwrite,
            field,
            style: args.genre_style,
            touch: args.touch,
            journal: args.journal,
        };
        let run = tag::run(
            view,
            &options,
            &tag_options,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr(),
        )?;
        return Ok(if run.summary.tracks_failed > 0 {
            exit::SOME_FILES_FAILED
        } else {
            exit::SUCCESS
        });
    }
    let summary = classify(
        view,
        &options,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr(),
    )?;
    Ok(if summary.failed > 0 {
        exit::SOME_FILES_FAILED
    } else {
        exit::SUCCESS
    })
}

fn main() {
    let args = Args::parse();
    let code = run(args).unwrap_or_else(|error| {
        eprintln!("covergenre-classify: {error:#}");
        exit::FATAL
    });
    std::process::exit(code);
}
