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
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A stand-in for a cover source: the engine only needs a path.
    #[derive(Debug, Clone, PartialEq)]
    struct Source {
        path: PathBuf,
    }

    impl Source {
        fn file(path: impl Into<PathBuf>) -> Self {
            Self { path: path.into() }
        }
    }

    impl Item for Source {
        fn path(&self) -> &Path {
            &self.path
        }
    }

    /// "Decodes" a file name like `7.img` to an image whose every byte is 7; names starting
    /// with `bad` fail. Records the most items it ever saw decoded but not yet delivered.
    struct NameDecoder {
        len: usize,
    }

    impl Decoder for NameDecoder {
        type Source = Source;
        fn image_len(&self) -> usize {
            self.len
        }
        fn decode(&self, source: &mut Source) -> Result<Vec<u8>, String> {
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
        fn predict(&mut self, images: &[u8], n: usize) -> Result<Array2<f32>> {
            self.batches.push(n);
            let len = images.len() / n;
            let mut out = Array2::zeros((n, self.classes));
            for i in 0..n {
                out[[i, images[i * len] as usize % self.classes]] = 1.0;
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
    ) -> (Vec<Outcome<Source>>, RunSummary, Vec<usize>) {
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

    fn describe(outcomes: &[Outcome<Source>]) -> Vec<String> {
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
            ..PipelineOptions::default()
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
            tta: false,
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
            fn predict(&mut self, _: &[u8], _: usize) -> Result<Array2<f32>> {
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
            ..PipelineOptions::default()
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
            fn predict(&mut self, images: &[u8], n: usize) -> Result<Array2<f32>> {
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
    fn mirroring_reverses_the_pixels_of_each_row() {
        // 3 pixels wide, 2 rows; each pixel's bytes are distinct so channel order shows too.
        let image: Vec<u8> = (0..18).collect();
        let mut mirrored = vec![99];
        push_mirrored(&mut mirrored, &image, 3);
        assert_eq!(
            mirrored,
            [99, 6, 7, 8, 3, 4, 5, 0, 1, 2, 15, 16, 17, 12, 13, 14, 9, 10, 11]
        );
    }

    /// Class 0 gets the image's first byte / 10, class 1 the rest: a mirror changes the answer.
    struct FirstPixel;

    impl Predictor for FirstPixel {
        fn classes(&self) -> usize {
            2
        }
        fn predict(&mut self, images: &[u8], n: usize) -> Result<Array2<f32>> {
            let len = images.len() / n;
            Ok(Array2::from_shape_fn((n, 2), |(i, class)| {
                let p = f32::from(images[i * len]) / 10.0;
                [p, 1.0 - p][class]
            }))
        }
    }

    /// Decodes `<a>_<b>.img` to a 2x1 image whose pixels are all `a` then all `b`; other
    /// names fail.
    struct TwoPixels {
        width_known: bool,
    }

    impl Decoder for TwoPixels {
        type Source = Source;
        fn image_len(&self) -> usize {
            6
        }
        fn image_width(&self) -> Option<usize> {
            self.width_known.then_some(2)
        }
        fn decode(&self, source: &mut Source) -> Result<Vec<u8>, String> {
            let stem = source.path.file_stem().unwrap().to_string_lossy();
            let (a, b) = stem.split_once('_').ok_or("not a two-pixel name")?;
            let (a, b): (u8, u8) = (a.parse().unwrap(), b.parse().unwrap());
            Ok(vec![a, a, a, b, b, b])
        }
    }

    fn two_pixel_run(tta: bool, width_known: bool) -> Result<Vec<Vec<f32>>> {
        let options = PipelineOptions {
            threads: 2,
            batch_size: 2,
            strict: false,
            tta,
        };
        let mut rows = Vec::new();
        run_with(
            names(&["2_6", "bad", "10_0", "4_4"]),
            &TwoPixels { width_known },
            FirstPixel,
            &options,
            |o| rows.push(o.map_or_else(|_| Vec::new(), |c| c.probabilities)),
        )?;
        Ok(rows)
    }

    #[test]
    fn tta_averages_each_image_with_its_mirror_and_keeps_failures_in_place() {
        let close = |rows: Vec<Vec<f32>>, expected: &[&[f32]]| {
            assert_eq!(rows.len(), expected.len(), "{rows:?}");
            for (row, want) in rows.iter().zip(expected) {
                assert_eq!(row.len(), want.len(), "{rows:?}");
                assert!(
                    row.iter().zip(*want).all(|(a, b)| (a - b).abs() < 1e-6),
                    "{rows:?}"
                );
            }
        };
        let plain = two_pixel_run(false, true).unwrap();
        close(plain, &[&[0.2, 0.8], &[], &[1.0, 0.0], &[0.4, 0.6]]);
        // The mirror of "2_6" starts with 6: (0.2 + 0.6) / 2 = 0.4.
        let tta = two_pixel_run(true, true).unwrap();
        close(tta, &[&[0.4, 0.6], &[], &[0.5, 0.5], &[0.4, 0.6]]);
    }

    #[test]
    fn tta_is_refused_when_the_decoder_cannot_give_the_width() {
        assert!(two_pixel_run(false, false).is_ok());
        let err = two_pixel_run(true, false).unwrap_err();
        assert!(err.to_string().contains("test-time augmentation"), "{err}");
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
