//! Temperature scaling: a written model's probabilities become softmax(logits / T) with its
//! logits left raw, calibration fitted on labelled covers and baked into the file, and the
//! eval binary's `--calibrate`.

mod common;

use covergenre::export::proto::ModelProto;
use covergenre::export::temperature::{with_calibration, with_temperature, LOGIT_BIAS};
use covergenre::infer::Model;
use ndarray::ArrayView1;
use prost::Message;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn eval_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_covergenre-eval"))
}

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
    let fit =
        covergenre::evaluate::temperature::calibrate_model_file_on_images(&path, &pixels, &labels)
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
    let fit =
        covergenre::evaluate::temperature::calibrate_model_file_on_images(&path, &pixels, &wrong)
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
