//! Unit tests of [`super`] (pipeline.rs).

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
