//! The streaming decode -> batch -> predict pipeline shared by `covergenre-classify` and
//! `covergenre-eval`.
//!
//! ```text
//! sources ──feeder──> jobs ──N decode workers──> decoded ──reorder──> batches ──predictor──> on_result
//!    ^                                                                                           │
//!    └──────────────────────────── credits (one per item in flight) ─────────────────────────────┘
//! ```
//!
//! - Sources are pulled lazily from the caller's iterator (a folder walk, a dataset split), so
//!   nothing collects all paths or images first.
//! - `threads` workers decode and resize while the calling thread runs inference on the previous
//!   batch: both stages are busy at once.
//! - Memory is flat: a fixed number of credits bounds how many items may be anywhere between the
//!   feeder and `on_result` (queued, decoding, waiting for their batch), whatever the input size.
//! - Results are delivered **in input order**, exactly one [`Outcome`] per input item, so callers
//!   can zip outcomes with their own list (eval pairs them with labels).
//! - A bad file becomes an `Err(Failure)` outcome with its path and reason; the rest go on.
//!   With `strict`, the run stops after the first failure (earlier items are still delivered).
//! - Only an inference error is fatal: it ends the run with `Err`.
//! - With [`PipelineOptions::tta`] (test-time augmentation) every image goes through the
//!   predictor twice, as decoded and mirrored left to right, and the two probability rows are
//!   averaged. It lives here, once, so classify and eval cannot do it differently.
//!
//! The engine knows nothing of covers: it carries any [`Item`] through any [`Decoder`] and
//! [`Predictor`]. Cover sources and their decoder live in [`crate::covers`].

use crate::failure::Failure;
use anyhow::{bail, Result};
use crossbeam_channel::{bounded, Receiver, Sender};
use ndarray::{s, Array2};
use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::time::{Duration, Instant};

/// What flows through the pipeline: anything that can name itself in results and failures
/// (a cover source, [`crate::covers::Source`]; a stand-in in tests).
pub trait Item: Send {
    /// What results and failures call this item.
    fn path(&self) -> &Path;
}

/// A classified item: one probability per model output.
#[derive(Debug, Clone, PartialEq)]
pub struct Classified<S> {
    pub source: S,
    pub probabilities: Vec<f32>,
}

impl<S: Item> Classified<S> {
    pub fn path(&self) -> &Path {
        self.source.path()
    }
}

impl<S> Classified<S> {
    /// The `k` most probable classes as (class index, probability), most probable first; ties
    /// go to the lower index so results are reproducible.
    pub fn top_k(&self, k: usize) -> Vec<(usize, f32)> {
        crate::metrics::ranked(&self.probabilities, k)
    }

    /// The most probable class and its probability.
    pub fn best(&self) -> (usize, f32) {
        self.top_k(1).first().copied().unwrap_or((0, 0.0))
    }
}

/// What the pipeline delivers for each input item, in input order.
pub type Outcome<S> = Result<Classified<S>, Failure>;

/// Turns an item into model input: RGB u8 HWC at the model's size. Called from several
/// worker threads at once.
pub trait Decoder: Sync {
    /// What this decoder reads pixels from (for covers: [`crate::covers::Source`]).
    type Source: Item;
    /// Bytes of one decoded image (height * width * 3).
    fn image_len(&self) -> usize;
    /// The pixels, or the reason they cannot be had (without the path: the pipeline adds it).
    /// A decoder may record on the source what it read (which of several candidate files
    /// decoded); the source is delivered with its result.
    fn decode(&self, source: &mut Self::Source) -> Result<Vec<u8>, String>;
    /// Width in pixels of a decoded image, needed to mirror it for test-time augmentation.
    /// `None` (the default) means the decoder cannot say, and a `tta` run is refused.
    fn image_width(&self) -> Option<usize> {
        None
    }
}

/// Anything that turns a batch of images into class probabilities (an onnxruntime model, or a
/// stand-in in tests). Runs on the calling thread only, so it need not be `Send`.
pub trait Predictor {
    /// Number of outputs per image.
    fn classes(&self) -> usize;
    /// `images` holds `n` images back to back; returns their probabilities, one row per image
    /// (`n x classes()`).
    fn predict(&mut self, images: &[u8], n: usize) -> Result<Array2<f32>>;
}

impl<P: Predictor + ?Sized> Predictor for &mut P {
    fn classes(&self) -> usize {
        (**self).classes()
    }
    fn predict(&mut self, images: &[u8], n: usize) -> Result<Array2<f32>> {
        (**self).predict(images, n)
    }
}

/// How a run is carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineOptions {
    /// Decode workers. Inference runs on the calling thread beside them.
    pub threads: usize,
    /// Images per inference call.
    pub batch_size: usize,
    /// Stop after the first failed item.
    pub strict: bool,
    /// Test-time augmentation: average each image's probabilities with those of its horizontal
    /// mirror (twice the inference per cover).
    pub tta: bool,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            batch_size: 32,
            strict: false,
            tta: false,
        }
    }
}

impl PipelineOptions {
    /// Items allowed in flight at once: the batch being predicted, the next one being decoded,
    /// and a little slack per worker so no worker waits for the reorder step.
    pub fn items_in_flight(&self) -> usize {
        2 * self.batch_size.max(1) + 2 * self.threads.max(1)
    }
}

/// Counts for one run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunSummary {
    pub classified: usize,
    pub failed: usize,
    /// True when `strict` stopped the run at a failure before the input was exhausted.
    pub stopped_early: bool,
    pub elapsed: Duration,
}

/// An item after the decode stage.
enum Decoded<S> {
    Image(S, Vec<u8>),
    Failed(Failure),
}

/// Runs every source through `decoder` and `predictor`, calling `on_result` once per input
/// item in input order. Input items that are already failures (a folder that could not be
/// read) pass straight through as `Err` outcomes, in their place.
pub fn run_with<I, D, P>(
    sources: I,
    decoder: &D,
    mut predictor: P,
    options: &PipelineOptions,
    mut on_result: impl FnMut(Outcome<D::Source>),
) -> Result<RunSummary>
where
    I: IntoIterator<Item = Result<D::Source, Failure>>,
    I::IntoIter: Send,
    D: Decoder,
    P: Predictor,
{
    let started = Instant::now();
    let mirror_width = match (options.tta, decoder.image_width()) {
        (false, _) => None,
        (true, Some(width)) if width > 0 => Some(width),
        (true, _) => bail!("test-time augmentation needs the width of the decoded images"),
    };
    let in_flight = options.items_in_flight();
    let (credit_tx, credit_rx) = bounded::<()>(in_flight);
    for _ in 0..in_flight {
        credit_tx
            .send(())
            .expect("the receiver is alive and the channel has room");
    }
    let (job_tx, job_rx) = bounded::<(usize, Result<D::Source, Failure>)>(in_flight);
    let (done_tx, done_rx) = bounded::<(usize, Decoded<D::Source>)>(in_flight);
    let sources = sources.into_iter();

    let mut summary = std::thread::scope(|scope| {
        scope.spawn(move || feed(sources, &credit_rx, &job_tx));
        for _ in 0..options.threads.max(1) {
            let (job_rx, done_tx) = (job_rx.clone(), done_tx.clone());
            scope.spawn(move || decode_jobs(decoder, &job_rx, &done_tx));
        }
        // Only the workers may hold these, so the channels close when the workers stop.
        drop((job_rx, done_tx));
        let mut batcher = Batcher::new(&mut predictor, decoder.image_len(), options, credit_tx);
        batcher.mirror_width = mirror_width;
        // Returning drops the receiver and the credits, which unblocks and ends the workers
        // and the feeder, however far they got.
        batcher.consume(done_rx, &mut on_result)
    })?;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Numbers the sources and queues them, one credit each, so that no more than the credit count
/// is ever in flight.
fn feed<S>(
    mut sources: impl Iterator<Item = Result<S, Failure>>,
    credits: &Receiver<()>,
    jobs: &Sender<(usize, Result<S, Failure>)>,
) {
    // The credit comes first, so the source is never pulled further than the limit allows.
    for index in 0.. {
        if credits.recv().is_err() {
            return; // the consumer has stopped
        }
        let Some(item) = sources.next() else { return };
        if jobs.send((index, item)).is_err() {
            return;
        }
    }
}

fn decode_jobs<D: Decoder>(
    decoder: &D,
    jobs: &Receiver<(usize, Result<D::Source, Failure>)>,
    done: &Sender<(usize, Decoded<D::Source>)>,
) {
    for (index, item) in jobs {
        let decoded = match item {
            Ok(mut source) => match decoder.decode(&mut source) {
                Ok(pixels) => Decoded::Image(source, pixels),
                Err(reason) => Decoded::Failed(Failure::new(source.path(), reason)),
            },
            Err(failure) => Decoded::Failed(failure),
        };
        if done.send((index, decoded)).is_err() {
            return;
        }
    }
}

/// An item waiting for its batch to be predicted before it can be delivered in order.
enum Pending<S> {
    Image(S),
    Failed(Failure),
}

/// The consumer side: restores input order, gathers batches, predicts, delivers.
struct Batcher<'p, P: Predictor, S> {
    predictor: &'p mut P,
    image_len: usize,
    batch_size: usize,
    strict: bool,
    /// Set for test-time augmentation: each image is followed by its mirror in `pixels`.
    mirror_width: Option<usize>,
    credits: Sender<()>,
    pixels: Vec<u8>,
    images: usize,
    pending: VecDeque<Pending<S>>,
    summary: RunSummary,
}

impl<'p, P: Predictor, S: Item> Batcher<'p, P, S> {
    fn new(
        predictor: &'p mut P,
        image_len: usize,
        options: &PipelineOptions,
        credits: Sender<()>,
    ) -> Self {
        let batch_size = options.batch_size.max(1);
        Self {
            predictor,
            image_len,
            batch_size,
            strict: options.strict,
            mirror_width: None,
            credits,
            pixels: Vec::with_capacity(batch_size * image_len),
            images: 0,
            pending: VecDeque::with_capacity(batch_size),
            summary: RunSummary::default(),
        }
    }

    fn consume(
        &mut self,
        done: Receiver<(usize, Decoded<S>)>,
        on_result: &mut impl FnMut(Outcome<S>),
    ) -> Result<RunSummary> {
        // Workers finish out of order; items wait here until every earlier one has arrived.
        // Credits bound its size.
        let mut early: BTreeMap<usize, Decoded<S>> = BTreeMap::new();
        let mut next = 0;
        for (index, decoded) in &done {
            early.insert(index, decoded);
            while let Some(decoded) = early.remove(&next) {
                next += 1;
                if !self.accept(decoded, on_result)? {
                    self.summary.stopped_early = true;
                    return Ok(self.summary.clone());
                }
            }
        }
        self.flush(on_result)?;
        Ok(self.summary.clone())
    }

    /// Takes the next item in input order; false when the run must stop (strict mode).
    fn accept(
        &mut self,
        decoded: Decoded<S>,
        on_result: &mut impl FnMut(Outcome<S>),
    ) -> Result<bool> {
        match decoded {
            Decoded::Image(source, pixels) if pixels.len() != self.image_len => {
                let reason = format!(
                    "decoded to {} bytes instead of the model's {}",
                    pixels.len(),
                    self.image_len
                );
                self.accept(
                    Decoded::Failed(Failure::new(source.path(), reason)),
                    on_result,
                )
            }
            Decoded::Image(source, pixels) => {
                self.pixels.extend_from_slice(&pixels);
                if let Some(width) = self.mirror_width {
                    push_mirrored(&mut self.pixels, &pixels, width);
                }
                self.images += 1;
                self.pending.push_back(Pending::Image(source));
                if self.images == self.batch_size {
                    self.flush(on_result)?;
                }
                Ok(true)
            }
            Decoded::Failed(failure) => {
                self.pending.push_back(Pending::Failed(failure));
                if self.images == 0 || self.strict {
                    self.flush(on_result)?;
                }
                Ok(!self.strict)
            }
        }
    }

    /// Predicts the gathered images and delivers everything pending, in order.
    fn flush(&mut self, on_result: &mut impl FnMut(Outcome<S>)) -> Result<()> {
        let probabilities = self.predict_batch()?;
        let mut rows = probabilities.rows().into_iter();
        while let Some(item) = self.pending.pop_front() {
            let outcome = match item {
                Pending::Image(source) => {
                    self.summary.classified += 1;
                    let row = rows.next().expect("predict_batch checked the row count");
                    Ok(Classified {
                        source,
                        probabilities: row.to_vec(),
                    })
                }
                Pending::Failed(failure) => {
                    self.summary.failed += 1;
                    Err(failure)
                }
            };
            on_result(outcome);
            // The feeder may have stopped already; a lost credit no longer matters then.
            let _ = self.credits.try_send(());
        }
        Ok(())
    }

    fn predict_batch(&mut self) -> Result<Array2<f32>> {
        let classes = self.predictor.classes();
        if self.images == 0 {
            return Ok(Array2::zeros((0, classes)));
        }
        let views = if self.mirror_width.is_some() { 2 } else { 1 };
        let n = self.images * views;
        let probabilities = self.predictor.predict(&self.pixels, n)?;
        if probabilities.dim() != (n, classes) || classes == 0 {
            let (rows, columns) = probabilities.dim();
            bail!("the model gave {rows}x{columns} values for {n} images of {classes} classes");
        }
        self.pixels.clear();
        self.images = 0;
        Ok(match views {
            1 => probabilities,
            _ => average_pairs(&probabilities),
        })
    }
}

/// Appends the left-right mirror of an HWC RGB image `width` pixels wide.
pub fn push_mirrored(dst: &mut Vec<u8>, image: &[u8], width: usize) {
    for row in image.chunks_exact(width * 3) {
        for pixel in row.chunks_exact(3).rev() {
            dst.extend_from_slice(pixel);
        }
    }
}

/// Rows `2i` and `2i + 1` (an image and its mirror) averaged into row `i`: the even rows are
/// the images, the odd rows their mirrors.
fn average_pairs(rows: &Array2<f32>) -> Array2<f32> {
    let images = rows.slice(s![0..;2, ..]);
    let mirrors = rows.slice(s![1..;2, ..]);
    (&images + &mirrors) / 2.0
}

impl Predictor for crate::infer::Model {
    fn classes(&self) -> usize {
        self.genres().len()
    }

    fn predict(&mut self, images: &[u8], n: usize) -> Result<Array2<f32>> {
        crate::infer::Model::predict(self, images, n).map(|p| p.probabilities)
    }
}

#[cfg(test)]
mod tests;
