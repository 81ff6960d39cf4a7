//! `covergenre-classify`'s command line and its mapping to [`ClassifyOptions`] and
//! [`TagOptions`].

use crate::audio::fields::Field;
use crate::classify::ClassifyOptions;
use crate::covers::read_album_list;
use crate::infer::memory::{MemoryEstimate, DEFAULT_MAX_MEMORY_MB, MB};
use crate::infer::pipeline::PipelineOptions;
use crate::infer::Model;
use crate::metadata::ModelMetadata;
use crate::report::classify::Format;
use crate::shard::Shard;
use crate::tag::plan::{GenreStyle, GenresPerAlbum};
use crate::tag::threshold::Threshold;
use crate::tag::{links::Hardlinks, PlanFormat, TagOptions};
use anyhow::{bail, Result};
use clap::{Parser, ValueEnum};
use std::path::PathBuf;

const AFTER_HELP: &str = "\
EXAMPLES:
  covergenre-classify cover.jpg
  covergenre-classify --format csv --output genres.csv ~/Pictures/covers
  covergenre-classify --library --min-confidence 0.4 ~/Music
  covergenre-classify --model my-model.onnx --threads 2 --format jsonl covers/ > out.jsonl
  covergenre-classify --tta --format csv --output genres.csv covers/
  covergenre-classify --max-memory 300 --format csv --output genres.csv covers/   # a small machine
  covergenre-classify --library --format jsonl --albums-from albums.txt   # one folder a line
  covergenre-classify --library --tag ~/Music                        # the plan; writes nothing
  covergenre-classify --library --tag --format json ~/Music > plan.json   # the plan as data
  covergenre-classify --library --tag --apply ~/Music                # albums at or above the threshold
  covergenre-classify --library --tag --apply --min-confidence 0 ~/Music   # every album
  covergenre-classify --library --tag --apply --field COVERGENRE ~/Music
  covergenre-classify --library --tag --apply --max-genres 2 ~/Music   # up to 2 genres an album
  covergenre-classify --library --tag --apply --max-genres 2 --separator '; ' ~/Music   # as one value
  covergenre-classify --library --tag --interactive ~/Music          # decide album by album here
  covergenre-classify --library --tag --report plan.html ~/Music     # decide there, save decisions.json
  covergenre-classify --library --tag --apply --decisions decisions.json ~/Music
  covergenre-classify --library --tag --apply --hardlinks in-place ~/Music   # hard-linked tracks too
  covergenre-classify --library --tag --no-artist-context ~/Music   # the cover alone, no artist
  covergenre-classify --library --format jsonl --artist-context artists.jsonl ~/Music   # beets plugin
  covergenre-classify --undo covergenre-journal-20261130-101500.jsonl
  covergenre-classify --shard 3/8 --format csv --output part-3.csv covers/
  covergenre-classify --report review.html covers/                  # + review-thumbs/
  covergenre-classify --summary --format csv --output genres.csv --report review.html covers/

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
#[command(name = "covergenre-classify", version, about = "Tell the music genre of album covers", after_help = AFTER_HELP)]
// The two ways of writing tags; --journal goes with either.
#[command(group = clap::ArgGroup::new("writes").args(["apply", "interactive"]).multiple(false))]
pub struct Args {
    /// Image files and folders (searched recursively), or music library folders with --library.
    #[arg(required_unless_present_any = ["undo", "albums_from"], value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Treat each PATH as a music library: one result per album folder, from its cover file
    /// (cover, folder, front, albumart, AlbumArt_*) or the picture embedded in its audio files.
    #[arg(long)]
    pub library: bool,
    /// With --library: also classify exactly the album folders listed in FILE ('-': stdin),
    /// one per line, each found like an album of a library (its subfolders are not searched);
    /// a line FOLDER, a tab, COVER classifies the image file COVER under FOLDER's name instead.
    /// For programs that keep their own album list, like the beets plugin.
    #[arg(long, value_name = "FILE", requires = "library")]
    pub albums_from: Option<PathBuf>,
    /// ONNX model exported by covergenre-train [default: the built-in model].
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Output format; with --tag, of the plan: table (text for people), json (one document)
    /// or jsonl (one album a line).
    #[arg(long, value_enum, default_value = "table")]
    pub format: FormatArg,
    /// Write the results to FILE (atomically) instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Genres listed per cover, most probable first.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..))]
    pub top_k: u16,
    /// Label covers whose best probability is under P as 'uncertain'. With --tag, albums under
    /// it are shown as 'low confidence' and not written [default with --tag: the model's
    /// recorded tag threshold, else 0.45 (precision about 2 in 3 on covers-v1 dev); 0 writes
    /// everything].
    #[arg(long, value_name = "P", value_parser = probability)]
    pub min_confidence: Option<f32>,
    /// Threads for decoding and inference [default: all cores].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// Covers per inference batch [default: the largest, up to 32, that fits --max-memory: 8
    /// for the built-in 260 px model, 32 for a 128 px one].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub batch_size: Option<u16>,
    /// Keep the run's peak memory under about MB megabytes (2^20 bytes) by choosing the
    /// batch size to fit: the model's activations grow with the batch (about 24 MB a cover
    /// for the built-in 260 px model, beside ~205 MB for the program and the model).
    /// Smaller budgets run smaller batches; for example --max-memory 300 runs the built-in
    /// model 3 covers at a time [default: 400].
    #[arg(long, value_name = "MB", conflicts_with = "batch_size",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_memory: Option<u64>,
    /// Stop at the first file that cannot be classified.
    #[arg(long)]
    pub strict: bool,
    /// Test-time augmentation: average each cover's probabilities with those of its mirror
    /// image (left-right flip); twice the inference.
    #[arg(long)]
    pub tta: bool,
    /// Classify only shard I of N (0 <= I < N): the covers or albums whose path relative to
    /// PATH hashes to I. The N outputs together hold exactly the rows of an unsharded run.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Also write a review page: one self-contained HTML file (covers grouped by genre,
    /// filter, search; with --tag, the plan), thumbnails in FILE's stem + "-thumbs/" beside it.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    /// With --library: plan genre tags for every album's tracks (existing -> proposed) and
    /// print the plan; nothing is written without --apply.
    #[arg(long, requires = "library")]
    pub tag: bool,
    /// With --tag: write the plan into the audio files (journal first, see --journal).
    #[arg(long, requires = "tag")]
    pub apply: bool,
    /// With --tag: replace values the tracks already have (otherwise such albums are skipped).
    #[arg(long, requires = "tag")]
    pub overwrite: bool,
    /// With --tag: write to this field (ID3 TXXX, Vorbis comment, M4A freeform atom) instead
    /// of the standard genre field, which is then left alone.
    #[arg(long, value_name = "NAME", requires = "tag")]
    pub field: Option<String>,
    /// With --tag: write up to K genres per album, best first: the best, then each next one of
    /// the top K whose probability is at least --min-genre-probability. They are separate
    /// values of the field (ID3v2.4 TCON strings, Vorbis GENRE comments, M4A ©gen items, as
    /// beets 2.7+ writes its genres; an ID3v2.3 tag joins them with '/').
    #[arg(long, value_name = "K", default_value_t = 1, requires = "tag",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub max_genres: u16,
    /// With --max-genres: the probability each genre after the best needs [default: the
    /// --min-confidence in force, else 0.2].
    #[arg(long, value_name = "P", value_parser = probability, requires = "tag")]
    pub min_genre_probability: Option<f32>,
    /// With --tag: join several genres (--max-genres, decisions with several) into one value
    /// with SEP, for players that read only one, instead of writing separate values.
    #[arg(long, value_name = "SEP", requires = "tag")]
    pub separator: Option<String>,
    /// With --tag: write the genre's display name ("Rap & Hip-Hop") or its slug (rap-hip-hop).
    #[arg(long, value_enum, default_value = "name")]
    pub genre_style: GenreStyleArg,
    /// With --tag --apply or --undo: give changed files the current time as modification
    /// time (by default they keep theirs).
    #[arg(long)]
    pub touch: bool,
    /// With --tag: tracks with several hard links are skipped ('hard link (N links)'), or
    /// written in place so every name sees the new tags (a backup is kept beside each while
    /// it is written).
    #[arg(long, value_enum, default_value = "skip", requires = "tag")]
    pub hardlinks: HardlinksArg,
    /// With --tag: propose from the cover alone. By default an album's artist's other albums
    /// with genres weigh in, as much as this library's artists keep their genre (measured on
    /// its tagged albums, stated on the plan's first lines).
    #[arg(long, requires = "tag")]
    pub no_artist_context: bool,
    /// With --library (not --tag): let the albums' artists weigh in their genres, from FILE
    /// (JSON lines, one album a line: {"folder": "/music/A/B", "artist": "A", "genres":
    /// ["Jazz"]}; the beets plugin writes it from its library). Each JSON(L) record then has
    /// an "artist" object and the combined genres.
    #[arg(
        long,
        value_name = "FILE",
        requires = "library",
        conflicts_with = "tag"
    )]
    pub artist_context: Option<PathBuf>,
    /// With --tag --apply: the journal of old and new values [default:
    /// ./covergenre-journal-TIME.jsonl, named on stderr]. With --interactive: the review's
    /// journal, gone on with when it exists [default: ./covergenre-review.jsonl].
    #[arg(long, value_name = "FILE", requires = "writes")]
    pub journal: Option<PathBuf>,
    /// With --tag: decide album by album in the terminal (standard input must be one): each
    /// album with a proposal is shown with its existing genre, the top 3 and its cover, then
    /// asked `[A]pply Metal, 1-3 pick, Enter a genre, Skip, Keep existing, aBort?`; each
    /// decided album is written at once (journal first). Albums are asked artist by artist;
    /// after an answer that tags one, `Same for the N other albums of ARTIST? [y/N]` (its
    /// albums without a genre). Run again with the same journal to go on: albums decided
    /// before are not asked again.
    #[arg(long, requires = "tag", conflicts_with_all = ["decisions", "report", "output"])]
    pub interactive: bool,
    /// With --interactive: do not draw the covers in the terminal.
    #[arg(long, requires = "interactive")]
    pub no_preview: bool,
    /// With --tag: plan (with --apply, write) exactly the decisions of FILE, as the review
    /// page saves them, for the one library PATH; albums without a decision are left alone,
    /// and no model is run.
    #[arg(long, value_name = "FILE", requires = "tag", conflicts_with = "report")]
    pub decisions: Option<PathBuf>,
    /// Print a short account on stdout instead of the results: covers per genre with their
    /// share and mean probability, the 10 most and 10 least certain covers, the time, and
    /// where the full results (--output) and the review page (--report) went.
    #[arg(long, requires = "output", conflicts_with_all = ["tag", "undo"])]
    pub summary: bool,
    /// Print this command's man page or a shell's completion script on stdout, and exit.
    #[arg(long, value_enum, value_name = "WHAT", exclusive = true)]
    pub generate: Option<crate::cli::generate::Generate>,
    /// Put back every old value recorded in JOURNAL (safe to interrupt and run again).
    #[arg(long, value_name = "JOURNAL", conflicts_with_all = ["tag", "paths"])]
    pub undo: Option<PathBuf>,
}

fn probability(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("'{text}' is not a probability between 0 and 1")),
    }
}

/// `--format`, mapped onto [`Format`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Table,
    Csv,
    Json,
    Jsonl,
}

/// `--hardlinks`, mapped onto [`Hardlinks`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HardlinksArg {
    Skip,
    InPlace,
}

/// `--genre-style`, mapped onto [`GenreStyle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GenreStyleArg {
    /// The display name ("Rap & Hip-Hop").
    Name,
    /// The slug ("rap-hip-hop").
    Slug,
}

impl Args {
    /// Decode and inference threads: `--threads`, else all cores.
    pub fn threads(&self) -> usize {
        self.threads
            .map_or_else(|| PipelineOptions::default().threads, usize::from)
    }

    /// Threads, batch size (which depends on the model, [`Args::batch_size_for`]),
    /// strictness and test-time augmentation.
    fn pipeline(&self, model: &Model) -> Result<PipelineOptions> {
        // Test-time augmentation runs each cover and its mirror image in the same batch.
        let views = if self.tta { 2 } else { 1 };
        Ok(PipelineOptions {
            threads: self.threads(),
            batch_size: self.batch_size_for(&model.memory_estimate(views))?,
            strict: self.strict,
            tta: self.tta,
        })
    }

    /// The batch size for a model of this `estimate`: `--batch-size` as given, else the
    /// largest that fits `--max-memory` (or its default). A budget too small for even one
    /// cover at a time is an error that names the least that works.
    fn batch_size_for(&self, estimate: &MemoryEstimate) -> Result<usize> {
        if let Some(batch) = self.batch_size {
            return Ok(batch.into());
        }
        let Some(budget) = self.max_memory else {
            return Ok(estimate.default_batch());
        };
        match estimate.largest_batch_within(budget.saturating_mul(MB)) {
            Some(batch) => Ok(batch),
            None => bail!(
                "--max-memory {budget}: this model needs about {} MB even one cover at a time \
                 ({} MB for the program, onnxruntime and the model's weights, {} MB for each \
                 cover in a batch); give at least --max-memory {} (the default is {DEFAULT_MAX_MEMORY_MB})",
                estimate.minimum_mb(),
                estimate.fixed.div_ceil(MB),
                estimate.per_image.div_ceil(MB),
                estimate.minimum_mb()
            ),
        }
    }

    /// What to classify with `model` and how to write it (reads the `--albums-from` list: a
    /// list that cannot be read is an error).
    pub fn classify_options(&self, model: &Model) -> Result<ClassifyOptions> {
        let albums = match &self.albums_from {
            Some(file) => read_album_list(file)?,
            None => Vec::new(),
        };
        Ok(ClassifyOptions {
            paths: self.paths.clone(),
            library: self.library,
            albums,
            format: match self.format {
                FormatArg::Table => Format::Table,
                FormatArg::Csv => Format::Csv,
                FormatArg::Json => Format::Json,
                FormatArg::Jsonl => Format::Jsonl,
            },
            output: self.output.clone(),
            top_k: self.top_k.into(),
            min_confidence: self.min_confidence,
            pipeline: self.pipeline(model)?,
            shard: self.shard,
            report: self.report.clone(),
            artist_context: match &self.artist_context {
                Some(file) => Some(std::sync::Arc::new(
                    crate::artist_list::ListedContext::read(file, model.genres())?,
                )),
                None => None,
            },
        })
    }

    /// With `--tag`: how to plan and write tags (a bad `--field` name is an error); `model`
    /// may record the default `--min-confidence` ([`Threshold::resolve`]; no model with
    /// `--decisions`).
    pub fn tag_options(&self, model: Option<&ModelMetadata>) -> Result<Option<TagOptions>> {
        if !self.tag {
            return Ok(None);
        }
        let field = match &self.field {
            Some(name) => Field::custom(name)?,
            None => Field::Standard,
        };
        let format = match self.format {
            FormatArg::Table => PlanFormat::Text,
            FormatArg::Json => PlanFormat::Json,
            FormatArg::Jsonl => PlanFormat::Jsonl,
            FormatArg::Csv => {
                bail!("--tag prints its plan as table (text), json or jsonl, not csv")
            }
        };
        if self.interactive && format != PlanFormat::Text {
            bail!("--interactive asks about the albums one by one on the terminal; --format json or jsonl prints the plan as data instead: give one or the other");
        }
        if self.separator.as_deref() == Some("") {
            bail!(
                "--separator '': give the text that joins the genres, for example --separator '; '"
            );
        }
        let threshold = Threshold::resolve(self.min_confidence, model);
        let genres = GenresPerAlbum {
            max: usize::from(self.max_genres),
            min_probability: self
                .min_genre_probability
                .unwrap_or_else(|| GenresPerAlbum::default_min_probability(threshold.value)),
            separator: self.separator.clone(),
        };
        Ok(Some(TagOptions {
            apply: self.apply,
            overwrite: self.overwrite,
            field,
            style: match self.genre_style {
                GenreStyleArg::Name => GenreStyle::Name,
                GenreStyleArg::Slug => GenreStyle::Slug,
            },
            touch: self.touch,
            journal: self.journal.clone(),
            format,
            threshold,
            hardlinks: match self.hardlinks {
                HardlinksArg::Skip => Hardlinks::Skip,
                HardlinksArg::InPlace => Hardlinks::InPlace,
            },
            genres,
            artist_context: !self.no_artist_context,
        }))
    }
}
