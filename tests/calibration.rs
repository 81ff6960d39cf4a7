//! Confidence a user can use: calibration error, the threshold table, bootstrap intervals and
//! paired differences in every report format, the reliability diagram, and the eval binary's
//! options for them (temperature scaling: tests/temperature.rs).

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
