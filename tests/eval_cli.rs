//! covergenre-eval's command line: the CI gate's exit codes, output and plot files, `--help`, and
//! eval of a real ONNX model equal to eval of classify's output on the same covers.

mod common;

use common::classify_output::HAND_WRITTEN_CSV;
use covergenre::covers::Source;
use covergenre::infer::pipeline::PipelineOptions;
use covergenre::report::plot;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn eval_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_covergenre-eval"))
}

/// A predictions CSV whose covers live in genre folders: accuracy 2/3, macro-F1 2/3 * ...
/// `covergenre-eval ARGS PREDICTIONS` (ARGS ending in the flag that takes the file), which
/// must exit with `code` (its stderr is the message otherwise).
fn eval_predictions(args: &[&str], predictions: &Path, code: i32) -> std::process::Output {
    let out = eval_bin().args(args).arg(predictions).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn write_predictions(dir: &Path) -> PathBuf {
    let text = HAND_WRITTEN_CSV.replace("covers/", &format!("{}/", dir.display()));
    let path = dir.join("preds.csv");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn gate_exits_1_naming_each_metric_below_its_bar() {
    let dir = tempfile::tempdir().unwrap();
    let preds = write_predictions(dir.path());
    let out = eval_bin()
        .args([
            "--format",
            "json",
            "--fail-under",
            "macro_f1=0.99,accuracy=0.5",
            "--fail-under",
            "top3_accuracy=0.9",
            "--predictions",
        ])
        .arg(&preds)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("macro_f1 is 0.6667, below the bar of 0.9900"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("accuracy is"),
        "accuracy 0.667 passes its bar of 0.5: {stderr}"
    );
    // The report is still printed, and the bad rows are named.
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(close(json["accuracy"].as_f64().unwrap(), 2.0 / 3.0));
    assert!(stderr.contains("bad.jpg"));
}

#[test]
fn passing_gate_with_failed_rows_exits_3_and_a_bad_gate_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let preds = write_predictions(dir.path());
    eval_predictions(
        &["--fail-under", "accuracy=0.6", "--predictions"],
        &preds,
        3,
    );
    let out = eval_bin()
        .args(["--fail-under", "accuracy=60", "--predictions"])
        .arg(&preds)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("write 0.4, not 40"));
    let out = eval_bin()
        .args(["--predictions"])
        .arg(dir.path().join("missing.csv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.csv"));
}

#[test]
fn output_and_plot_files_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let preds = write_predictions(dir.path());
    let (report, png) = (
        dir.path().join("out/report.md"),
        dir.path().join("heat.png"),
    );
    let out = eval_bin()
        .args(["--format", "markdown", "--errors", "5", "--output"])
        .arg(&report)
        .arg("--plot")
        .arg(&png)
        .arg("--predictions")
        .arg(&preds)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "the report goes to --output");
    let markdown = std::fs::read_to_string(&report).unwrap();
    assert!(markdown.contains("#### Most confident mistakes"));
    assert_eq!(image::open(&png).unwrap().width(), plot::heatmap_size(12).0);
}

#[test]
fn help_has_examples() {
    let out = eval_bin().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("EXAMPLES:") && help.contains("--fail-under macro_f1=0.3"));
}

// --- A real ONNX model, end to end ----------------------------------------------------------

mod real_model {
    use super::*;
    use covergenre::evaluate::model;
    use covergenre::infer::pipeline::{self as pipe};
    use covergenre::infer::Model;
    use covergenre::report::classify::{self as classify_report, Record, RecordWriter};

    fn colour_model(dir: &Path) -> PathBuf {
        let path = dir.join("colour.onnx");
        std::fs::write(&path, common::colour_model_bytes()).unwrap();
        path
    }

    /// Split folders of coloured covers (test: 4 per genre), one red cover filed under blue,
    /// and one text file named .png.
    fn coloured_covers(root: &Path) {
        common::split_folders(root, &["red", "blue", "green"], [2, 1, 4], 32);
        common::write_image(
            &root.join("test/blue/mislabelled.png"),
            &common::genre_cover(0, 99, 32),
        );
        std::fs::write(root.join("test/green/broken.png"), b"not an image").unwrap();
    }

    #[test]
    fn eval_on_a_model_equals_eval_of_classify_output_on_the_same_covers() {
        let dir = tempfile::tempdir().unwrap();
        let model_path = colour_model(dir.path());
        let data = dir.path().join("covers");
        coloured_covers(&data);

        // Eval through the binary, on the model.
        let out = eval_bin()
            .args([
                "--format",
                "json",
                "--errors",
                "3",
                "--threads",
                "2",
                "--model",
            ])
            .arg(&model_path)
            .arg("--data")
            .arg(&data)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "one broken cover: {stderr}");
        assert!(
            stderr.contains("broken.png") && stderr.contains("not an image"),
            "{stderr}"
        );
        let direct: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(direct["total"], 13);
        // Only the mislabelled cover is wrong: predicted red, labelled blue.
        assert!(close(direct["accuracy"].as_f64().unwrap(), 12.0 / 13.0));
        assert_eq!(direct["absent_genres"], serde_json::json!(["folk"]));
        assert_eq!(direct["errors"][0]["truth"], "blue");
        assert_eq!(direct["errors"][0]["predicted"], "red");

        // Classify's writer on the same covers, then eval --predictions on its CSV.
        let (dataset, samples, _) = model::load_covers(&data, None).unwrap();
        let mut net = Model::open(&model_path, 1).unwrap();
        let genres = net.genres().clone();
        let decoder = covergenre::covers::CoverDecoder::new(*net.preprocess());
        let mut csv = Vec::new();
        {
            let mut writer = RecordWriter::new(&mut csv, classify_report::Format::Csv, 3).unwrap();
            let sources = samples.iter().map(|s| Ok(Source::file(s.path.clone())));
            let options = PipelineOptions {
                threads: 2,
                batch_size: 4,
                ..PipelineOptions::default()
            };
            pipe::run_with(sources, &decoder, &mut net, &options, |outcome| {
                if let Ok(item) = outcome {
                    writer
                        .record(&Record::new(&item, &genres, 3, None))
                        .unwrap();
                }
            })
            .unwrap();
            writer.finish(&Default::default()).unwrap();
        }
        let preds = dir.path().join("preds.csv");
        std::fs::write(&preds, csv).unwrap();
        let out = eval_predictions(&["--format", "json", "--predictions"], &preds, 0);
        let from_file: Value = serde_json::from_slice(&out.stdout).unwrap();
        for key in [
            "total",
            "accuracy",
            "balanced_accuracy",
            "macro_f1",
            "weighted_f1",
            "top3_accuracy",
        ] {
            let (a, b) = (&direct[key], &from_file[key]);
            assert!(
                close(a.as_f64().unwrap(), b.as_f64().unwrap()),
                "{key}: {a} vs {b}"
            );
        }
        for genre in dataset.genres.iter() {
            let find = |v: &Value| {
                v["per_genre"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|g| g["genre"] == genre.slug.as_str())
                    .cloned()
                    .unwrap()
            };
            assert_eq!(find(&direct), find(&from_file), "{}", genre.slug);
        }
    }

    #[test]
    fn data_genres_unknown_to_the_model_stop_eval_with_a_clear_message() {
        let dir = tempfile::tempdir().unwrap();
        let model_path = colour_model(dir.path());
        let data = dir.path().join("covers");
        common::split_folders(&data, &["red", "purple"], [1, 1, 1], 32);
        let out = eval_bin()
            .arg("--model")
            .arg(&model_path)
            .arg("--data")
            .arg(&data)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("the model does not know: purple"),
            "{stderr}"
        );
    }
}
