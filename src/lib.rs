//! covergenre: tell the music genre of an album from its cover art.
//!
//! Two flows, one way each (the same map as the project's design notes):
//!
//! ```text
//! training:  files -> data::discover (which cover, which genre, which split)
//!                  -> data::decode / cache (u8 HWC at the model's input, cached)
//!                  -> train (tch)  -> train::export -> export (spec + weights -> ONNX bytes)
//!                  -> calibration (temperature on dev) -> the model file, self-describing
//!
//! using:     covers (image files, one cover per album, embedded art)
//!                  -> infer::pipeline (decode in parallel -> batch -> predict; knows no covers)
//!                  -> classify (write results) | evaluate (metrics, report) | tag (plan, write, undo)
//!                  -> report (tables, formats, plots, the review page)
//! ```
//!
//! The user's guide is README.md and docs/ in the repository; this page is the map of the
//! library behind the three binaries.
//!
//! Dependencies point one way: `files` and `audio` are leaves every other module may use;
//! `covers` plugs into `infer::pipeline` (which does not know it),
//! `train` uses `export` (which needs no libtorch), and in `train`, `fit` and `checkpoint` share
//! the run's types from `train::run`.
//!
//! - [`files`]: what a file is by its name (image, audio, hidden) and the one walk, for every
//!   module that looks at folders.
//! - [`audio`]: audio files' tags: one genre field read, or edited as byte splices by a small
//!   editor per format (told by the file's content), and the picture embedded as album art
//!   (lofty); tag regions only, never the audio.
//! - [`genres`]: the MUMU genre table; datasets and models may bring their own list.
//! - [`preprocess`]: input size, resize filter and normalisation, defined once; it writes and
//!   reads its own model metadata entries and gives the image cache its fingerprint.
//! - [`spec`]: declarative model variants, read by both the tch builder and the ONNX writer.
//! - [`metadata`]: what an exported model records about itself.
//! - [`data`]: dataset discovery, decoding, caching, splitting; albums as music libraries lay
//!   them out (`data::albums`: disc folders, art folders, cover files, tracks; the front-cover
//!   rule on image names in `data::cover_names`).
//! - [`train`] (feature `train`): tch models, training loop, checkpoints, the session's results,
//!   and `train::export` (a trained network to ONNX, parity-checked against tch).
//! - [`export`]: spec + weights -> ONNX bytes, temperature and ensembles; no libtorch.
//! - [`failure`]: a file that could not be used, and why (one type for datasets, the
//!   pipeline, predictions files and reports).
//! - [`infer`]: onnxruntime sessions and the parallel decode -> batch -> predict pipeline, a
//!   generic engine over its `Decoder` and `Predictor` traits that knows nothing of covers.
//!   Batches travel as `ndarray` arrays (through ort's `ndarray` feature): images in as
//!   `n x height x width x 3` u8 (NHWC, the model's input), probabilities and logits out as
//!   `n x classes` f32, one row per image; calibration fits on such logit matrices too.
//! - [`covers`]: what finds and reads covers: image files under folders, one cover per album of
//!   a music library (as `data::albums` finds them), art embedded in audio tags, and
//!   [`covers::CoverDecoder`] (the pipeline's decoder for them).
//! - [`classify`]: the classify command as a library call (find, decode, predict, write).
//! - [`evaluate`]: labelled covers (or a classify predictions file) -> an evaluation report;
//!   [`evaluate::command`] is the eval command as one library call, [`evaluate::predictions`]
//!   the one reader of classify's CSV/JSONL output.
//! - [`metrics`]: confusion matrices and per-genre metrics.
//! - [`calibration`]: calibration error, threshold tables, temperature fitting.
//! - [`bootstrap`]: bootstrap intervals of the headline metrics, paired differences.
//! - [`artist_context`]: how much an album's artist's other albums say about its genre in this
//!   library (leave-one-out agreement, the weight), and their combination with the cover's
//!   probabilities; tagging asks it, plans and reviews show what it said. [`artist_list`]:
//!   the records a combination gives, and the context of a list of albums another program
//!   gives (classify's `--artist-context FILE`, the beets plugin).
//! - [`report`]: every rendering: tables (one style helper), machine-readable formats, plots,
//!   the review page, `--inspect`'s counts, the training ranking and curves.
//! - [`tag`]: writing genres into audio files: the plan (for people, and as data with the
//!   album keys and track stamps decisions refer to), the careful default threshold, the
//!   owner's decisions (a decisions file, or album by album in the terminal:
//!   `tag::interactive`, drawn by `tag::terminal`), safe writes, journal, undo (byte for
//!   byte, from the journal's restore records).
//! - [`shard`]: splitting a collection between machines (`--shard I/N`).
//! - [`util`]: small shared helpers: atomic file writes, progress bars, a stable hash.
//! - [`cli`]: the binaries' command lines (clap) and their mapping to the options above; the
//!   only module that knows clap. Each binary in `src/bin/` parses, maps, makes one library
//!   call and turns its outcome into an exit code ([`exit`]).

pub mod artist_context;
pub mod artist_list;
pub mod audio;
pub mod bootstrap;
pub mod calibration;
pub mod classify;
pub mod cli;
pub mod covers;
pub mod data;
pub mod evaluate;
pub mod exit;
pub mod export;
pub mod failure;
pub mod files;
pub mod genres;
pub mod infer;
pub mod metadata;
pub mod metrics;
pub mod preprocess;
pub mod report;
pub mod shard;
pub mod spec;
pub mod tag;
#[cfg(feature = "train")]
pub mod train;
pub mod util;

/// The toolkit version, recorded in every exported model.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
