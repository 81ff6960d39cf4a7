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

use anyhow::{bail, Result};
use crossbeam_channel::{bounded, Receiver, Sender};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where a cover's pixels come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// An image file.
    File(PathBuf),
    /// The picture embedded in an album's audio files; tried in order until one has a picture.
    Embedded { audio_files: Vec<PathBuf> },
}

/// One cover to classify: the path shown in results, and where its pixels come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// What the results call this cover: the image file, or the album folder in library mode.
    pub path: PathBuf,
    pub kind: SourceKind,
}

impl Source {
    /// An image file, shown under its own path.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        Self {
            kind: SourceKind::File(path.clone()),
            path,
        }
    }

    /// An album whose cover is only embedded in its audio files.
    pub fn embedded(album: impl Into<PathBuf>, audio_files: Vec<PathBuf>) -> Self {
        Self {
            path: album.into(),
            kind: SourceKind::Embedded { audio_files },
        }
    }
}

/// A cover that could not be classified, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub path: PathBuf,
    /// The problem, without the path ("truncated JPEG: ...", "empty file").
    pub reason: String,
}

impl Failure {
    pub fn new(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

/// A classified cover: one probability per model output.
#[derive(Debug, Clone, PartialEq)]
pub struct Classified {
    pub source: Source,
    pub probabilities: Vec<f32>,
}

impl Classified {
    pub fn path(&self) -> &Path {
        &self.source.path
    }

    /// The `k` most probable classes as (class index, probability), most probable first; ties
    /// go to the lower index so results are reproducible.
    pub fn top_k(&self, k: usize) -> Vec<(usize, f32)> {
        let mut ranked: Vec<(usize, f32)> =
            self.probabilities.iter().copied().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(k);
        ranked
    }

    /// The most probable class and its probability.
    pub fn best(&self) -> (usize, f32) {
        self.top_k(1).first().copied().unwrap_or((0, 0.0))
    }
}

/// What the pipeline delivers for each input item, in input order.
pub type Outcome = Result<Classified, Failure>;

/// Turns a [`Source`] into model input: RGB u8 HWC at the model's size. Called from several
/// worker threads at once.
pub trait Decoder: Sync {
    /// Bytes of one decoded image (height * width * 3).
    fn image_len(&self) -> usize;
    /// The pixels, or the reason they cannot be had (without the path: the pipeline adds it).
    fn decode(&self, source: &Source) -> Result<Vec<u8>, String>;
}

/// Anything that turns a batch of images into class probabilities (an onnxruntime model, or a
/// stand-in in tests). Runs on the calling thread only, so it need not be `Send`.
pub trait Predictor {
    /// Number of outputs per image.
    fn classes(&self) -> usize;
    /// `images` holds `n` images back to back; returns `n * classes()` probabilities, row-major.
    fn predict(&mut self, images: &[u8], n: usize) -> Result<Vec<f32>>;
}

impl<P: Predictor + ?Sized> Predictor for &mut P {
    fn classes(&self) -> usize {
        (**self).classes()
    }
    fn predict(&mut self, images: &[u8], n: usize) -> Result<Vec<f32>> {
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
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            batch_size: 32,
            strict: false,
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

/// A source after the decode stage.
enum Decoded {
    Image(Source, Vec<u8>),
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
    mut on_result: impl FnMut(Outcome),
) -> Result<RunSummary>
where
    I: IntoIterator<Item = Result<Source, Failure>>,
    I::IntoIter: Send,
    D: Decoder,
    P: Predictor,
{
    let started = Instant::now();
    let in_flight = options.items_in_flight();
    let (credit_tx, credit_rx) = bounded::<()>(in_flight);
    for _ in 0..in_flight {
        credit_tx
            .send(())
            .expect("the receiver is alive and the channel has room");
    }
    let (job_tx, job_rx) = bounded::<(usize, Result<Source, Failure>)>(in_flight);
    let (done_tx, done_rx) = bounded::<(usize, Decoded)>(in_flight);
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
        // Returning drops the receiver and the credits, which unblocks and ends the workers
        // and the feeder, however far they got.
        batcher.consume(done_rx, &mut on_result)
    })?;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Numbers the sources and queues them, one credit each, so that no more than the credit count
/// is ever in flight.
fn feed(
    mut sources: impl Iterator<Item = Result<Source, Failure>>,
    credits: &Receiver<()>,
    jobs: &Sender<(usize, Result<Source, Failure>)>,
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
    jobs: &Receiver<(usize, Result<Source, Failure>)>,
    done: &Sender<(usize, Decoded)>,
) {
    for (index, item) in jobs {
        let decoded = match item {
            Ok(source) => match decoder.decode(&source) {
                Ok(pixels) => Decoded::Image(source, pixels),
                Err(reason) => Decoded::Failed(Failure::new(source.path, reason)),
            },
            Err(failure) => Decoded::Failed(failure),
        };
        if done.send((index, decoded)).is_err() {
            return;
        }
    }
}

/// An item waiting for its batch to be predicted before it can be delivered in order.
enum Pending {
    Image(Source),
    Failed(Failure),
}

/// The consumer side: restores input order, gathers batches, predicts, delivers.
struct Batcher<'p, P: Predictor> {
    predictor: &'p mut P,
    image_len: usize,
    batch_size: usize,
    strict: bool,
    credits: Sender<()>,
    pixels: Vec<u8>,
    images: usize,
    pending: VecDeque<Pending>,
    summary: RunSummary,
}

impl<'p, P: Predictor> Batcher<'p, P> {
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
            credits,
            pixels: Vec::with_capacity(batch_size * image_len),
            images: 0,
            pending: VecDeque::with_capacity(batch_size),
            summary: RunSummary::default(),
        }
    }

    fn consume(
        &mut self,
        done: Receiver<(usize, Decoded)>,
        on_result: &mut impl FnMut(Outcome),
    ) -> Result<RunSummary> {
        // Workers finish out of order; items wait here until every earlier one has arrived.
        // Credits bound its size.
        let mut early: BTreeMap<usize, Decoded> = BTreeMap::new();
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
    fn accept(&mut self, decoded: Decoded, on_result: &mut impl FnMut(Outcome)) -> Result<bool> {
        match decoded {
            Decoded::Image(source, pixels) if pixels.len() != self.image_len => {
                let reason = format!(
                    "decoded to {} bytes instead of the model's {}",
                    pixels.len(),
                    self.image_len
                );
                self.accept(
                    Decoded::Failed(Failure::new(source.path, reason)),
                    on_result,
                )
            }
            Decoded::Image(source, pixels) => {
                self.pixels.extend_from_slice(&pixels);
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
    fn flush(&mut self, on_result: &mut impl FnMut(Outcome)) -> Result<()> {
        let probabilities = self.predict_batch()?;
        let classes = self.predictor.classes();
        let mut rows = probabilities.chunks_exact(classes.max(1));
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

    fn predict_batch(&mut self) -> Result<Vec<f32>> {
        if self.images == 0 {
            return Ok(Vec::new());
        }
        let n = self.images;
        let probabilities = self.predictor.predict(&self.pixels, n)?;
        let expected = n * self.predictor.classes();
        if probabilities.len() != expected || expected == 0 {
            bail!(
                "the model gave {} values for {n} images of {} classes",
                probabilities.len(),
                self.predictor.classes()
            );
        }
        self.pixels.clear();
        self.images = 0;
        Ok(probabilities)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// "Decodes" a file name like `7.img` to an image whose every byte is 7; names starting
    /// with `bad` fail. Records the most items it ever saw decoded but not yet delivered.
    struct NameDecoder {
        len: usize,
    }

    impl Decoder for NameDecoder {
        fn image_len(&self) -> usize {
            self.len
        }
        fn decode(&self, source: &Source) -> Result<Vec<u8>, String> {
            let stem = source
                .path
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .to_string();
            if stem.starts_with("bad") {
                return Err("made-up failure".into());
            }
            if stem.starts_with("short") {
                return Ok(vec![0; self.len - 1]);
            }
            let value: u8 = stem.parse().unwrap();
            // Uneven work, so workers finish out of order.
            std::thread::sleep(Duration::from_micros(50 * (value % 5) as u64));
            Ok(vec![value; self.len])
        }
    }

    /// Class = first byte of the image mod `classes`, with probability 1.
    struct FirstByte {
        classes: usize,
        batches: Vec<usize>,
    }

    impl Predictor for FirstByte {
        fn classes(&self) -> usize {
            self.classes
        }
        fn predict(&mut self, images: &[u8], n: usize) -> Result<Vec<f32>> {
            self.batches.push(n);
            let len = images.len() / n;
            let mut out = vec![0.0; n * self.classes];
            for i in 0..n {
                out[i * self.classes + images[i * len] as usize % self.classes] = 1.0;
            }
            Ok(out)
        }
    }

    fn names(list: &[&str]) -> Vec<Result<Source, Failure>> {
        list.iter()
            .map(|n| Ok(Source::file(format!("{n}.img"))))
            .collect()
    }

    fn run_names(
        list: &[&str],
        options: &PipelineOptions,
    ) -> (Vec<Outcome>, RunSummary, Vec<usize>) {
        let mut predictor = FirstByte {
            classes: 4,
            batches: Vec::new(),
        };
        let mut outcomes = Vec::new();
        let summary = run_with(
            names(list),
            &NameDecoder { len: 12 },
            &mut predictor,
            options,
            |o| outcomes.push(o),
        )
        .unwrap();
        (outcomes, summary, predictor.batches)
    }

    fn describe(outcomes: &[Outcome]) -> Vec<String> {
        outcomes
            .iter()
            .map(|o| match o {
                Ok(c) => format!("{}={}", c.path().display(), c.best().0),
                Err(f) => format!("{}!", f.path.display()),
            })
            .collect()
    }

    #[test]
    fn results_come_in_input_order_in_full_batches_with_failures_in_place() {
        let list: Vec<String> = (0..50)
            .map(|i| {
                if i % 7 == 3 {
                    format!("bad{i}")
                } else {
                    i.to_string()
                }
            })
            .collect();
        let list: Vec<&str> = list.iter().map(String::as_str).collect();
        let options = PipelineOptions {
            threads: 3,
            batch_size: 8,
            strict: false,
        };
        let (outcomes, summary, batches) = run_names(&list, &options);
        let expected: Vec<String> = list
            .iter()
            .map(|n| match n.parse::<usize>() {
                Ok(v) => format!("{n}.img={}", v % 4),
                Err(_) => format!("{n}.img!"),
            })
            .collect();
        assert_eq!(describe(&outcomes), expected);
        assert_eq!(summary.failed, 7);
        assert_eq!(summary.classified, 43);
        assert!(!summary.stopped_early);
        assert_eq!(
            batches,
            [8, 8, 8, 8, 8, 3],
            "full batches, then the remainder"
        );
    }

    #[test]
    fn strict_delivers_everything_before_the_first_failure_then_stops() {
        let list = ["1", "2", "3", "bad", "5", "6"];
        let options = PipelineOptions {
            threads: 2,
            batch_size: 4,
            strict: true,
        };
        let (outcomes, summary, _) = run_names(&list, &options);
        assert_eq!(
            describe(&outcomes),
            ["1.img=1", "2.img=2", "3.img=3", "bad.img!"]
        );
        assert!(summary.stopped_early);
        assert_eq!((summary.classified, summary.failed), (3, 1));
    }

    #[test]
    fn a_wrong_sized_image_and_an_upstream_failure_are_reported_not_fatal() {
        let mut items = names(&["1", "short"]);
        items.push(Err(Failure::new("unreadable-dir", "permission denied")));
        items.extend(names(&["2"]));
        let mut outcomes = Vec::new();
        let mut predictor = FirstByte {
            classes: 3,
            batches: Vec::new(),
        };
        let summary = run_with(
            items,
            &NameDecoder { len: 12 },
            &mut predictor,
            &PipelineOptions::default(),
            |o| outcomes.push(o),
        )
        .unwrap();
        assert_eq!(
            describe(&outcomes),
            ["1.img=1", "short.img!", "unreadable-dir!", "2.img=2"]
        );
        let Err(failure) = &outcomes[1] else { panic!() };
        assert!(
            failure.reason.contains("instead of the model's 12"),
            "{failure}"
        );
        assert_eq!(summary.failed, 2);
    }

    #[test]
    fn an_inference_error_ends_the_run_with_an_error_and_no_hang() {
        struct Broken;
        impl Predictor for Broken {
            fn classes(&self) -> usize {
                2
            }
            fn predict(&mut self, _: &[u8], _: usize) -> Result<Vec<f32>> {
                bail!("session exploded")
            }
        }
        let list: Vec<String> = (0..200).map(|i| (i % 250).to_string()).collect();
        let items: Vec<_> = list
            .iter()
            .map(|n| Ok(Source::file(format!("{n}.img"))))
            .collect();
        let err = run_with(
            items,
            &NameDecoder { len: 3 },
            Broken,
            &PipelineOptions::default(),
            |_| {},
        )
        .unwrap_err();
        assert!(err.to_string().contains("session exploded"));
    }

    #[test]
    fn the_source_is_pulled_lazily_so_memory_stays_bounded() {
        // Counts how far the feeder has pulled the (endless) source ahead of delivery.
        let pulled = AtomicUsize::new(0);
        let endless = (0..).map(|i: usize| {
            pulled.fetch_add(1, Ordering::SeqCst);
            Ok(Source::file(format!("{}.img", i % 200)))
        });
        let options = PipelineOptions {
            threads: 2,
            batch_size: 4,
            strict: false,
        };
        let limit = options.items_in_flight();
        let mut delivered = 0usize;
        let mut most_ahead = 0usize;
        // Stops the endless run through the predictor once enough was seen.
        struct StopAfter<'a> {
            inner: FirstByte,
            left: usize,
            _marker: std::marker::PhantomData<&'a ()>,
        }
        impl Predictor for StopAfter<'_> {
            fn classes(&self) -> usize {
                self.inner.classes
            }
            fn predict(&mut self, images: &[u8], n: usize) -> Result<Vec<f32>> {
                if self.left == 0 {
                    bail!("enough");
                }
                self.left -= 1;
                self.inner.predict(images, n)
            }
        }
        let predictor = StopAfter {
            inner: FirstByte {
                classes: 2,
                batches: Vec::new(),
            },
            left: 100,
            _marker: std::marker::PhantomData,
        };
        let result = run_with(
            endless,
            &NameDecoder { len: 3 },
            predictor,
            &options,
            |_| {
                delivered += 1;
                most_ahead = most_ahead.max(pulled.load(Ordering::SeqCst) - delivered);
            },
        );
        assert!(result.is_err());
        assert_eq!(delivered, 400);
        assert!(
            most_ahead <= limit,
            "pulled {most_ahead} items ahead of delivery, limit {limit}"
        );
    }

    #[test]
    fn top_k_ranks_by_probability_and_breaks_ties_by_index() {
        let c = Classified {
            source: Source::file("x.jpg"),
            probabilities: vec![0.1, 0.4, 0.1, 0.4],
        };
        assert_eq!(c.top_k(3), [(1, 0.4), (3, 0.4), (0, 0.1)]);
        assert_eq!(c.best(), (1, 0.4));
        assert_eq!(c.top_k(10).len(), 4);
    }
}
