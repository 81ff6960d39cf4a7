//! Confidence a user can use: calibration error, the threshold table, bootstrap intervals and
//! paired differences in every report format, the reliability diagram, and the eval binary's
//! options for them.

mod common;

use covergenre::calibration::ECE_BINS;
use covergenre::genres::GenreSet;
use covergenre::metrics::Tally;
use covergenre::report::formats::{self, Format};
use covergenre::report::{paired_differences, plot, EvalReport};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

/// Hand-worked: genres jazz, metal, folk.
/// cover  truth  predicted  confidence  right
///   a    jazz   jazz       0.8         yes
///   b    jazz   jazz       0.6         yes
///   c    jazz   folk       0.7         no
///   d    metal  jazz       0.9         no
///   e    metal  jazz       0.5         no
/// With 15 bins every cover has a bin of its own, so ECE = mean |right - confidence|
/// = (0.2 + 0.4 + 0.7 + 0.9 + 0.5) / 5 = 0.54.
/// Thresholds: >= 0.3, 0.4 and 0.5 keep all 5 (precision 0.4), >= 0.6 keeps a b c d (0.5),
/// >= 0.7 keeps a c d (1/3), >= 0.8 keeps a d (0.5), >= 0.9 keeps d (0).
fn report(model: &str, covers: &[(&str, usize, [f32; 3])]) -> EvalReport {
    let genres = GenreSet::from_slugs(["jazz", "metal", "folk"].map(String::from));
    let mut tally = Tally::new(3, 2);
    for (path, truth, probabilities) in covers {
        tally.add_probabilities(Path::new(path), *truth, probabilities);
    }
    EvalReport::from_tally(
        model.into(),
        "covers (test)".into(),
        &genres,
        &tally,
        vec![],
    )
}

const HAND_WORKED: [(&str, usize, [f32; 3]); 5] = [
    ("a.jpg", 0, [0.8, 0.1, 0.1]),
    ("b.jpg", 0, [0.6, 0.3, 0.1]),
    ("c.jpg", 0, [0.2, 0.1, 0.7]),
    ("d.jpg", 1, [0.9, 0.05, 0.05]),
    ("e.jpg", 1, [0.5, 0.2, 0.3]),
];

#[test]
fn report_json_carries_calibration_thresholds_and_intervals() {
    let text = formats::render(&[report("m.onnx", &HAND_WORKED)], Format::Json).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    let calibration = &json["calibration"];
    assert!(close(
        calibration["expected_calibration_error"].as_f64().unwrap(),
        0.54
    ));
    assert_eq!(calibration["bins"].as_array().unwrap().len(), ECE_BINS);
    let counts: u64 = calibration["bins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert_eq!(counts, 5);
    let thresholds = calibration["thresholds"].as_array().unwrap();
    let kept: Vec<u64> = thresholds
        .iter()
        .map(|t| t["kept"].as_u64().unwrap())
        .collect();
    assert_eq!(kept, [5, 5, 5, 4, 3, 2, 1]);
    let precision: Vec<Option<f64>> = thresholds.iter().map(|t| t["precision"].as_f64()).collect();
    let expected = [
        Some(0.4),
        Some(0.4),
        Some(0.4),
        Some(0.5),
        Some(1.0 / 3.0),
        Some(0.5),
        Some(0.0),
    ];
    for (got, want) in precision.iter().zip(expected) {
        assert!(close(got.unwrap(), want.unwrap()), "{precision:?}");
    }
    assert!(close(thresholds[3]["coverage"].as_f64().unwrap(), 0.8));
    let intervals = &json["intervals"];
    assert_eq!(intervals["resamples"], 1000);
    assert!(close(intervals["level"].as_f64().unwrap(), 0.95));
    for metric in ["accuracy", "balanced_accuracy", "macro_f1"] {
        let i = &intervals[metric];
        let (estimate, low, high) = (
            i["estimate"].as_f64().unwrap(),
            i["low"].as_f64().unwrap(),
            i["high"].as_f64().unwrap(),
        );
        assert!(low <= estimate && estimate <= high, "{metric}: {i}");
        assert!(close(estimate, json[metric].as_f64().unwrap()), "{metric}");
    }
    // Five covers say little: the accuracy interval is wide.
    let accuracy = &intervals["accuracy"];
    assert!(accuracy["high"].as_f64().unwrap() - accuracy["low"].as_f64().unwrap() > 0.5);
}

#[test]
fn table_markdown_and_csv_show_the_same_confidence_numbers() {
    let r = report("m.onnx", &HAND_WORKED);
    let table = formats::render(std::slice::from_ref(&r), Format::Table).unwrap();
    assert!(
        table.contains("expected calibration error (15 bins) 0.5400"),
        "{table}"
    );
    assert!(
        table.contains("│ 0.6              │    4 │   0.8000 │    0.5000 │"),
        "{table}"
    );
    assert!(table.contains("95% bootstrap intervals (1000 resamples"));
    let accuracy = r.intervals.accuracy;
    let cell = format!("0.4000 [{:.4}, {:.4}]", accuracy.low, accuracy.high);
    assert!(table.contains(&cell), "{table}");
    let markdown = formats::render(std::slice::from_ref(&r), Format::Markdown).unwrap();
    assert!(
        markdown.contains("| 0.6 | 4 | 0.8000 | 0.5000 |"),
        "{markdown}"
    );
    assert!(
        markdown.contains(&format!("| accuracy | {cell} |")),
        "{markdown}"
    );
    let csv = formats::render(&[r], Format::Csv).unwrap();
    let ece_line = csv
        .lines()
        .find(|l| l.starts_with("m.onnx,calibration,expected_calibration_error,"))
        .unwrap();
    let ece: f64 = ece_line.rsplit(',').next().unwrap().parse().unwrap();
    assert!(close(ece, 0.54), "{ece_line}");
    assert!(csv.contains("m.onnx,threshold:0.6,kept,4\n"));
    assert!(csv.contains("m.onnx,threshold:0.9,precision,0\n"), "{csv}");
    assert!(csv.contains("m.onnx,interval:accuracy,estimate,0.4"));
}

/// The candidate gets c and e right as well (as confidently as the reference was wrong):
/// accuracy 0.4 -> 0.8 on the same five covers.
fn better_covers() -> [(&'static str, usize, [f32; 3]); 5] {
    let mut covers = HAND_WORKED;
    covers[2].2 = [0.7, 0.1, 0.2];
    covers[4].2 = [0.2, 0.5, 0.3];
    covers
}

#[test]
fn compare_reports_paired_differences_under_stable_keys() {
    let reports = [
        report("a.onnx", &HAND_WORKED),
        report("b.onnx", &better_covers()),
    ];
    let differences = paired_differences(&reports);
    assert_eq!(differences.len(), 1);
    let d = &differences[0];
    assert_eq!(d.covers, 5);
    assert!(close(d.intervals.accuracy.estimate, 0.4));
    // b is never worse than a on any cover, so no resample can make it worse.
    assert!(d.intervals.accuracy.low >= 0.0);
    assert!(d.intervals.accuracy.contains(0.4));
    let json: Value =
        serde_json::from_str(&formats::render(&reports, Format::Json).unwrap()).unwrap();
    let pd = &json["paired_differences"][0];
    assert_eq!(pd["reference"], "a.onnx");
    assert_eq!(pd["model"], "b.onnx");
    assert_eq!(pd["covers"], 5);
    assert!(close(pd["accuracy"]["estimate"].as_f64().unwrap(), 0.4));
    for key in ["low", "high"] {
        assert!(pd["macro_f1"][key].is_number(), "{pd}");
    }
    let table = formats::render(&reports, Format::Table).unwrap();
    assert!(table.contains("Paired differences against the first model (5 shared covers"));
    assert!(
        table.contains("│ b - a             │ accuracy          │    +0.4000 │"),
        "{table}"
    );
    let csv = formats::render(&reports, Format::Csv).unwrap();
    assert!(
        csv.contains("b.onnx,difference:accuracy,estimate,0.4"),
        "{csv}"
    );

    // A model against itself: exactly no difference, and the words say so.
    let same = [
        report("a.onnx", &HAND_WORKED),
        report("a2.onnx", &HAND_WORKED),
    ];
    let d = &paired_differences(&same)[0];
    assert_eq!(
        (d.intervals.accuracy.low, d.intervals.accuracy.high),
        (0.0, 0.0)
    );
    let table = formats::render(&same, Format::Table).unwrap();
    assert!(table.contains("no clear difference"), "{table}");
}

#[test]
fn paired_differences_pair_covers_by_path_and_genres_by_slug() {
    // The second model lists its genres in another order and missed one cover.
    let genres = GenreSet::from_slugs(["folk", "metal", "jazz"].map(String::from));
    let mut tally = Tally::new(3, 0);
    for (path, truth, p) in HAND_WORKED.iter().rev().take(4) {
        let reordered = [p[2], p[1], p[0]];
        tally.add_probabilities(Path::new(path), 2 - truth, &reordered);
    }
    let other = EvalReport::from_tally("b.onnx".into(), "c".into(), &genres, &tally, vec![]);
    let d = &paired_differences(&[report("a.onnx", &HAND_WORKED), other])[0];
    assert_eq!(d.covers, 4);
    // Same predictions on the same four covers: no difference at all.
    assert_eq!(d.intervals.accuracy.estimate, 0.0);
    assert_eq!(d.intervals.macro_f1.high, 0.0);
}

#[test]
fn reliability_diagram_draws_a_bar_per_filled_bin() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plots/reliability.png");
    plot::write_reliability(&report("m.onnx", &HAND_WORKED), &path).unwrap();
    let image = image::open(&path).unwrap().to_rgb8();
    assert_eq!(image.dimensions(), plot::RELIABILITY_SIZE);
    let bar = plot::BAR_COLOUR;
    let blue = image
        .pixels()
        .filter(|p| p.0 == [bar.0, bar.1, bar.2])
        .count();
    assert!(blue > 100, "accuracy bars drawn: {blue} pixels");
    // A model that is always wrong has no accuracy bars at all (only the counts strip,
    // drawn in a lighter shade).
    let wrong = [("x.jpg", 1, [0.8, 0.1, 0.1]), ("y.jpg", 0, [0.1, 0.7, 0.2])];
    let wrong_report = report("w.onnx", &wrong);
    assert_eq!(wrong_report.summary.accuracy, 0.0);
    let image = plot::render_reliability(&wrong_report).unwrap();
    assert_eq!(
        image
            .pixels()
            .filter(|p| p.0 == [bar.0, bar.1, bar.2])
            .count(),
        0
    );
}

fn eval_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_covergenre-eval"))
}

#[test]
fn eval_binary_writes_the_reliability_diagram_and_json_keys() {
    let dir = tempfile::tempdir().unwrap();
    // A classify CSV whose covers sit in genre folders (labels from the folder names).
    let mut csv = String::from("path,genre,probability,top1,p1,top2,p2\n");
    for (i, (genre, other, p)) in [
        ("jazz", "metal", 0.9),
        ("jazz", "metal", 0.7),
        ("metal", "jazz", 0.6),
        ("metal", "jazz", 0.55),
    ]
    .iter()
    .enumerate()
    {
        let path = dir.path().join(genre).join(format!("{i}.jpg"));
        // The third cover is predicted wrong.
        let (top1, top2) = if i == 2 {
            (other, genre)
        } else {
            (genre, other)
        };
        csv += &format!(
            "{},{top1},{p},{top1},{p},{top2},{:.2}\n",
            path.display(),
            1.0 - p
        );
    }
    let preds = dir.path().join("preds.csv");
    std::fs::write(&preds, csv).unwrap();
    let png = dir.path().join("rel.png");
    let out = eval_bin()
        .args(["--format", "json", "--plot-calibration"])
        .arg(&png)
        .arg("--predictions")
        .arg(&preds)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("reliability diagram written to"));
    assert_eq!(
        image::open(&png).unwrap().to_rgb8().dimensions(),
        plot::RELIABILITY_SIZE
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    // |1-0.9| + |1-0.7| + |0-0.6| + |1-0.55|, each in its own bin, over 4 covers.
    let ece = (0.1 + 0.3 + 0.6 + 0.45) / 4.0;
    assert!(close(
        json["calibration"]["expected_calibration_error"]
            .as_f64()
            .unwrap(),
        ece
    ));
    assert!(json["intervals"]["macro_f1"]["low"].is_number());
}

// --- Temperature scaling ------------------------------------------------------------------

mod temperature {
    use super::*;
    use covergenre::export::proto::ModelProto;
    use covergenre::export::temperature::{with_calibration, with_temperature, LOGIT_BIAS};
    use covergenre::infer::Model;
    use ndarray::ArrayView1;
    use prost::Message;

    fn softmax<'a>(row: impl IntoIterator<Item = &'a f32>, temperature: f64) -> Vec<f64> {
        let scaled: Vec<f64> = row
            .into_iter()
            .map(|&z| f64::from(z) / temperature)
            .collect();
        let max = scaled.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let exp: Vec<f64> = scaled.iter().map(|z| (z - max).exp()).collect();
        let sum: f64 = exp.iter().sum();
        exp.iter().map(|e| e / sum).collect()
    }

    /// Probabilities of the model are softmax(raw logits / T), logits equal the raw model's.
    fn assert_scaled(bytes: &[u8], temperature: f64) {
        let mut raw = Model::from_bytes(&common::colour_model_bytes(), 1, "raw").unwrap();
        let mut calibrated = Model::from_bytes(bytes, 1, "calibrated").unwrap();
        let expected = raw.predict(&common::colour_batch(), 8).unwrap();
        let got = calibrated.predict(&common::colour_batch(), 8).unwrap();
        assert_eq!(got.logits, expected.logits, "logits stay raw");
        for i in 0..8 {
            let want = softmax(expected.logits.row(i), temperature);
            for (g, w) in got.probabilities.row(i).iter().zip(want) {
                assert!((f64::from(*g) - w).abs() < 1e-6, "cover {i}: {g} vs {w}");
            }
            assert_eq!(
                covergenre::metrics::argmax(got.probabilities.row(i)),
                covergenre::metrics::argmax(expected.probabilities.row(i)),
                "the top genre never moves"
            );
        }
        assert_eq!(
            calibrated
                .metadata()
                .extra
                .get("temperature")
                .map(String::as_str),
            Some(format!("{}", temperature as f32).as_str())
        );
    }

    #[test]
    fn baked_temperature_scales_probabilities_and_keeps_raw_logits() {
        let calibrated = with_temperature(&common::colour_model_bytes(), 2.5).unwrap();
        assert_scaled(&calibrated, 2.5);
        // The raw model is confident, the calibrated one less so.
        let mut raw = Model::from_bytes(&common::colour_model_bytes(), 1, "raw").unwrap();
        let mut soft = Model::from_bytes(&calibrated, 1, "soft").unwrap();
        let top = |p: ArrayView1<f32>| p.iter().cloned().fold(0.0f32, f32::max);
        let (a, b) = (
            raw.predict(&common::colour_batch(), 8).unwrap(),
            soft.predict(&common::colour_batch(), 8).unwrap(),
        );
        assert!((0..8).all(|i| top(b.probabilities.row(i)) <= top(a.probabilities.row(i))));

        // Calibrating again replaces the temperature rather than compounding it.
        let again = with_temperature(&calibrated, 0.5).unwrap();
        assert_scaled(&again, 0.5);
        let graph = ModelProto::decode(again.as_slice()).unwrap().graph.unwrap();
        let divisions = graph
            .node
            .iter()
            .filter(|n| n.name == "logits_over_temperature/Div")
            .count();
        assert_eq!(divisions, 1);
    }

    /// A per-genre bias moves the top genre: probabilities are softmax((logits + bias) / T),
    /// the logits stay raw, a later temperature keeps the bias and `None` takes it out.
    #[test]
    fn a_baked_logit_bias_shifts_the_ranking_and_survives_recalibration() {
        // The colour model's fourth genre (folk) never wins; a bias of +30 makes it win.
        let bias = [0.0f32, 0.0, 0.0, 30.0];
        let adjusted = with_calibration(&common::colour_model_bytes(), 2.0, Some(&bias)).unwrap();
        let mut raw = Model::from_bytes(&common::colour_model_bytes(), 1, "raw").unwrap();
        let mut model = Model::from_bytes(&adjusted, 1, "adjusted").unwrap();
        let expected = raw.predict(&common::colour_batch(), 8).unwrap();
        let got = model.predict(&common::colour_batch(), 8).unwrap();
        assert_eq!(got.logits, expected.logits, "logits stay raw");
        for i in 0..8 {
            let shifted: Vec<f32> = expected
                .logits
                .row(i)
                .iter()
                .zip(bias)
                .map(|(z, b)| z + b)
                .collect();
            for (g, w) in got.probabilities.row(i).iter().zip(softmax(&shifted, 2.0)) {
                assert!((f64::from(*g) - w).abs() < 1e-6, "cover {i}: {g} vs {w}");
            }
            assert_eq!(
                covergenre::metrics::argmax(got.probabilities.row(i)),
                Some(3)
            );
        }
        assert_eq!(
            model.metadata().extra.get(LOGIT_BIAS).map(String::as_str),
            Some("[0.0,0.0,0.0,30.0]")
        );
        // A new temperature keeps the bias; no bias gives the plain temperature model back.
        let again = with_temperature(&adjusted, 0.5).unwrap();
        let mut again = Model::from_bytes(&again, 1, "again").unwrap();
        let top = again.predict(&common::colour_batch(), 8).unwrap();
        assert!((0..8).all(|i| covergenre::metrics::argmax(top.probabilities.row(i)) == Some(3)));
        let plain = with_calibration(&adjusted, 2.5, None).unwrap();
        assert_scaled(&plain, 2.5);
        assert!(!Model::from_bytes(&plain, 1, "plain")
            .unwrap()
            .metadata()
            .extra
            .contains_key(LOGIT_BIAS));
    }

    #[test]
    fn bad_temperatures_and_foreign_models_are_refused() {
        let bytes = common::colour_model_bytes();
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let err = with_temperature(&bytes, bad).unwrap_err().to_string();
            assert!(err.contains("positive"), "{err}");
        }
        let mut foreign = ModelProto::decode(bytes.as_slice()).unwrap();
        foreign.producer_name = "pytorch".into();
        let err = with_temperature(&foreign.encode_to_vec(), 1.5)
            .unwrap_err()
            .to_string();
        assert!(err.contains("only models written by covergenre"), "{err}");
        assert!(with_temperature(b"not a model", 1.5).is_err());
    }

    #[test]
    fn the_python_checker_accepts_a_calibrated_model() {
        let Some(python) = common::checker_python() else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calibrated.onnx");
        std::fs::write(
            &path,
            with_temperature(&common::colour_model_bytes(), 3.0).unwrap(),
        )
        .unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/check-onnx.py");
        let output = Command::new(python)
            .arg(script)
            .arg(&path)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains("temperature 3"), "{stdout}");
    }

    /// The one calibration function (the trainer's winner export goes through it, as does
    /// `covergenre-eval --calibrate-to`) records the tagging threshold: 25 saturated covers
    /// labelled right and 15 washed-out ones labelled wrong make precision 25/40 at low
    /// thresholds, so the threshold chosen keeps exactly the saturated ones.
    #[test]
    fn calibration_records_the_lowest_threshold_with_precision_two_in_three() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("colour.onnx");
        std::fs::write(&path, common::colour_model_bytes()).unwrap();
        let (mut pixels, mut labels) = (Vec::new(), Vec::new());
        for i in 0..40usize {
            let genre = i % 3;
            let mut colour = [0u8; 3];
            if i < 25 {
                colour[genre] = 255;
                labels.push(genre);
            } else {
                colour = [128; 3];
                colour[genre] = 153;
                labels.push((genre + 1) % 3);
            }
            pixels.extend(std::iter::repeat_n(colour, 24 * 24).flatten());
        }
        let fit = covergenre::evaluate::temperature::calibrate_model_file_on_images(
            &path, &pixels, &labels,
        )
        .unwrap();
        let row = fit.tag_threshold.expect("a threshold reaches 2/3");
        assert_eq!(row.kept, 25, "{row:?}");
        let mut model = Model::open(&path, 1).unwrap();
        let recorded: f64 = model.metadata().extra["tag_threshold"].parse().unwrap();
        assert_eq!(recorded, row.threshold);
        let recorded = recorded as f32;
        let predictions = model.predict(&pixels, 40).unwrap();
        let best: Vec<f32> = predictions
            .probabilities
            .rows()
            .into_iter()
            .map(|r| r.iter().cloned().fold(0.0, f32::max))
            .collect();
        assert!(
            best[..25].iter().all(|&p| p >= recorded),
            "{best:?} vs {recorded}"
        );
        assert!(
            best[25..].iter().all(|&p| p < recorded),
            "{best:?} vs {recorded}"
        );
        assert!(
            recorded - 0.05 < best[25..].iter().cloned().fold(0.0, f32::max) + 1e-6,
            "the lowest threshold of the grid above the washed-out covers: {recorded}"
        );

        // Calibrated again on covers where nothing reaches 2/3: the stale threshold goes.
        let wrong: Vec<usize> = labels.iter().map(|l| (l + 1) % 3).collect();
        let fit = covergenre::evaluate::temperature::calibrate_model_file_on_images(
            &path, &pixels, &wrong,
        )
        .unwrap();
        assert_eq!(fit.tag_threshold, None);
        let model = Model::open(&path, 1).unwrap();
        assert!(!model.metadata().extra.contains_key("tag_threshold"));
    }

    /// Split folders of coloured covers; on dev, 2 of 12 are filed under the wrong genre, so
    /// the best temperature is finite (a perfect model would want T -> 0).
    fn covers(root: &Path) {
        common::split_folders(root, &["red", "blue", "green"], [2, 4, 2], 32);
        for (i, genre) in ["blue", "green"].iter().enumerate() {
            common::write_image(
                &root.join(format!("dev/{genre}/mislabelled-{i}.png")),
                &common::genre_cover(0, 77 + i as u64, 32),
            );
        }
    }

    #[test]
    fn eval_calibrate_to_fits_on_dev_bakes_the_temperature_and_refuses_test() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("colour.onnx");
        std::fs::write(&model, common::colour_model_bytes()).unwrap();
        let data = dir.path().join("covers");
        covers(&data);
        let out = dir.path().join("calibrated/colour.onnx");
        let run = |extra: &[&str], model: &Path| {
            eval_bin()
                .args(["--format", "json", "--threads", "2", "--model"])
                .arg(model)
                .arg("--data")
                .arg(&data)
                .args(extra)
                .output()
                .unwrap()
        };
        let calibrate = run(&["--calibrate-to", out.to_str().unwrap()], &model);
        let stderr = String::from_utf8_lossy(&calibrate.stderr);
        assert_eq!(calibrate.status.code(), Some(0), "{stderr}");
        assert!(stderr.contains("fitted on 14 covers"), "{stderr}");
        let calibrated: Value = serde_json::from_slice(&calibrate.stdout).unwrap();
        assert!(calibrated["covers"].as_str().unwrap().contains("(dev)"));

        // The written model: a temperature in its metadata, and the same top-1 as before.
        let opened = Model::open(&out, 1).unwrap();
        let t: f64 = opened.metadata().extra["temperature"].parse().unwrap();
        assert!(t > 0.0 && t != 1.0, "temperature {t}");
        let raw = run(&["--split", "dev"], &model);
        let raw: Value = serde_json::from_slice(&raw.stdout).unwrap();
        assert_eq!(raw["confusion"], calibrated["confusion"]);
        assert_eq!(raw["accuracy"], calibrated["accuracy"]);
        // The fit lowers the dev log-loss it minimises ("log-loss BEFORE -> AFTER").
        let losses = stderr.split("log-loss ").nth(1).unwrap();
        let mut numbers = losses
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<f64>().unwrap());
        let (before, after) = (numbers.next().unwrap(), numbers.next().unwrap());
        assert!(after < before, "{stderr}");

        let refused = run(
            &["--split", "test", "--calibrate-to", out.to_str().unwrap()],
            &model,
        );
        assert_eq!(refused.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&refused.stderr).contains("fits on dev covers"));
    }

    /// --adjust-logits: the colour model on covers it already ranks as well as it can keeps
    /// tau 0 (a zero bias), and the adjustment is reported and recorded beside the temperature.
    #[test]
    fn eval_adjust_logits_fits_tau_on_dev_and_records_the_bias() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("colour.onnx");
        std::fs::write(&model, common::colour_model_bytes()).unwrap();
        let data = dir.path().join("covers");
        covers(&data);
        let out = dir.path().join("adjusted.onnx");
        let output = eval_bin()
            .args(["--format", "json", "--threads", "2", "--model"])
            .arg(&model)
            .arg("--data")
            .arg(&data)
            .arg("--calibrate-to")
            .arg(&out)
            .arg("--adjust-logits")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{stderr}");
        assert!(stderr.contains("logit adjustment tau 0.0"), "{stderr}");
        let opened = Model::open(&out, 1).unwrap();
        let bias: Vec<f32> = serde_json::from_str(&opened.metadata().extra[LOGIT_BIAS]).unwrap();
        assert_eq!(bias, [0.0; 4]);
        assert!(opened.metadata().extra.contains_key("temperature"));
    }
}
