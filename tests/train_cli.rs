//! covergenre-train's command line: bad settings refused with exit code 2, the variant list,
//! an edited spec file trained, two runs and the documented run folder.

mod common;

use covergenre::spec::{self, ModelSpec};
use covergenre::train::fit::read_log;
use std::path::Path;
use std::process::{Command, Output};

fn train_cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_covergenre-train"))
        .args(args)
        .output()
        .expect("run covergenre-train")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn cli_rejects_bad_settings_with_clear_messages_and_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    common::genre_folders(&data, &["jazz", "metal"], 3, 16, 0);
    let data = data.to_str().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (
            &["--data", data, "--variants", "nope", "--out", out],
            "unknown variant `nope`",
        ),
        (
            &["--data", data, "--epochs", "0", "--out", out],
            "--epochs must be at least 1",
        ),
        (
            &["--data", data, "--runs", "0", "--out", out],
            "--runs must be at least 1",
        ),
        (
            &["--data", "/no/such/covers", "--out", out],
            "/no/such/covers",
        ),
        (&["--data", data], "--out DIR is required"),
    ];
    for (args, message) in cases {
        let output = train_cli(args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(message),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    assert!(
        !Path::new(out).exists(),
        "nothing is written for bad settings"
    );
}

#[test]
fn cli_lists_variants_one_line_each() {
    let output = train_cli(&["--list-variants"]);
    assert!(output.status.success());
    let listing = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), spec::variants().len());
    for (line, variant) in lines.iter().zip(spec::variants()) {
        assert!(
            line.starts_with(&variant.name) && line.contains(&variant.description),
            "{line}"
        );
    }
}

#[test]
fn cli_trains_an_edited_spec_file_from_list_variants_json() {
    let output = train_cli(&["--list-variants", "--format", "json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let specs: Vec<ModelSpec> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(specs, spec::variants());

    let dir = tempfile::tempdir().unwrap();
    let mut edited = specs.into_iter().find(|s| s.name == "compact").unwrap();
    edited.name = "compact-small-batches".into();
    edited.batch_size = 4;
    let spec_file = dir.path().join("recipe.json");
    std::fs::write(&spec_file, serde_json::to_string_pretty(&edited).unwrap()).unwrap();
    let data = dir.path().join("covers");
    common::split_folders(&data, &["jazz", "metal"], [4, 2, 1], 32);
    let out = dir.path().join("run");
    let output = train_cli(&[
        "--data",
        data.to_str().unwrap(),
        "--variants",
        spec_file.to_str().unwrap(),
        "--epochs",
        "1",
        "--threads",
        "1",
        "--device",
        "cpu",
        "--out",
        out.to_str().unwrap(),
        "--cache-dir",
        dir.path().join("cache").to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["variants"][0]["name"], "compact-small-batches");
    assert_eq!(
        config["variants"][0]["batch_size"], 4,
        "the file's recipe is used"
    );
    let log = out
        .join("compact-small-batches")
        .join("run-1")
        .join("log.csv");
    assert_eq!(read_log(&log).unwrap().len(), 1);
}

#[test]
fn cli_trains_two_runs_and_writes_the_documented_run_folder() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("covers");
    common::split_folders(&data, &["country", "jazz", "metal"], [6, 2, 1], 32);
    let out = dir.path().join("run");
    let cache = dir.path().join("cache");
    let args = [
        "--data",
        data.to_str().unwrap(),
        "--variants",
        "compact",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--runs",
        "2",
        "--threads",
        "1",
        "--seed",
        "5",
        "--device",
        "cpu",
        "--out",
        out.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
    ];
    let output = train_cli(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("compact") && stdout.contains("macro-F1"),
        "{stdout}"
    );

    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["runs"], 2);
    assert_eq!(config["variants"][0]["epochs"], 1, "overrides are recorded");
    for run in ["run-1", "run-2"] {
        let run_dir = out.join("compact").join(run);
        for file in [
            "log.csv",
            "checkpoint.safetensors",
            "checkpoint.json",
            "best.safetensors",
        ] {
            assert!(run_dir.join(file).is_file(), "{run}/{file}");
        }
        assert_eq!(read_log(&run_dir.join("log.csv")).unwrap().len(), 1);
    }
    let curves = image::open(out.join("compact").join("curves.png")).unwrap();
    assert!(curves.width() > 1000 && curves.height() > 300);

    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let variant = &summary["variants"][0];
    let f1: Vec<f64> = (0..2)
        .map(|r| variant["runs"][r]["dev_macro_f1"].as_f64().unwrap())
        .collect();
    assert_eq!(variant["runs"][1]["seed"], 6, "run k uses seed + k - 1");
    let mean = variant["macro_f1"]["mean"].as_f64().unwrap();
    assert!((mean - (f1[0] + f1[1]) / 2.0).abs() < 1e-12);
    let std = variant["macro_f1"]["std"].as_f64().unwrap();
    assert!((std - (f1[0] - f1[1]).abs() / 2f64.sqrt()).abs() < 1e-9);
    assert_eq!(summary["winner"]["variant"], "compact");
    let ranking = std::fs::read_to_string(out.join("ranking.md")).unwrap();
    assert!(ranking.contains("| 1 | compact |"), "{ranking}");
    for file in ["model.safetensors", "spec.json", "genres.json"] {
        assert!(out.join("best").join(file).is_file(), "best/{file}");
    }
    // The winner is exported to ONNX automatically and opens for inference, with its genres,
    // the training data and the dev and (once-evaluated) test metrics in its metadata.
    let model = covergenre::infer::Model::open(&out.join("best").join("model.onnx"), 1).unwrap();
    // Outputs follow the whole MUMU genre list (the data uses three of them).
    let genres = model.genres().slugs();
    assert_eq!(genres.len(), 12);
    assert!(["country", "jazz", "metal"]
        .iter()
        .all(|g| genres.contains(&g.to_string())));
    let extra = &model.metadata().extra;
    // Its probabilities are calibrated by a temperature fitted on the dev covers.
    let temperature: f64 = extra["temperature"].parse().unwrap();
    assert!(
        temperature.is_finite() && temperature > 0.0,
        "{temperature}"
    );
    let training: serde_json::Value = serde_json::from_str(&extra["training_data"]).unwrap();
    assert_eq!(training["dataset"], "covers");
    assert_eq!(training["covers_per_split"]["train"], 18);
    assert_eq!(training["covers_per_split"]["test"], 3);
    let dev: serde_json::Value = serde_json::from_str(&extra["dev_metrics"]).unwrap();
    assert_eq!(
        dev["macro_f1"].as_f64().unwrap(),
        summary["winner"]["dev_macro_f1"].as_f64().unwrap()
    );
    let test: serde_json::Value = serde_json::from_str(&extra["test_metrics"]).unwrap();
    assert_eq!(test["images"], 3);
    assert_eq!(
        summary["winner"]["test"], test,
        "summary.json records the same test metrics"
    );
    let accuracy = test["accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&accuracy) && (accuracy * 3.0).fract().abs() < 1e-9);

    // Every run's checkpoint.json names its genres, so a checkpoint exports on its own.
    let checkpoint = out
        .join("compact")
        .join("run-2")
        .join("checkpoint.safetensors");
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(checkpoint.with_file_name("checkpoint.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(state["genres"], serde_json::json!(genres));
    let exported = dir.path().join("run-2.onnx");
    let output = train_cli(&[
        "--export",
        checkpoint.to_str().unwrap(),
        "--out",
        exported.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(covergenre::infer::Model::open(&exported, 1).is_ok());

    // Resuming a finished session trains nothing more and reports the same results.
    let mut resumed = args.to_vec();
    resumed.push("--resume");
    let output = train_cli(&resumed);
    assert!(output.status.success(), "{}", stderr(&output));
    let again: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(again["variants"], summary["variants"]);
}
