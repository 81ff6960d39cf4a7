//! The shipped model (models/covergenre.onnx, built into covergenre-classify) is a trained
//! EfficientNet-Lite2 export whose metadata records its data and its test results, and it
//! answers with a probability distribution over the MUMU genres, calibrated by a temperature.

use covergenre::genres::GenreSet;
use covergenre::infer::Model;
use std::path::PathBuf;

fn shipped() -> Model {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/covergenre.onnx");
    Model::open(&path, 1).expect("models/covergenre.onnx opens")
}

#[test]
fn the_shipped_model_is_the_trained_effnet_with_its_records() {
    let model = shipped();
    let meta = model.metadata();
    assert_eq!(meta.variant, "effnet-lite2");
    assert_eq!((meta.preprocess.height, meta.preprocess.width), (260, 260));
    assert_eq!(model.genres(), &GenreSet::mumu());
    let training: serde_json::Value = serde_json::from_str(&meta.extra["training_data"]).unwrap();
    assert_eq!(training["dataset"], "covers-v1");
    let test: serde_json::Value = serde_json::from_str(&meta.extra["test_metrics"]).unwrap();
    // covers-v1 test has 469 covers; the majority genre alone scores 0.22.
    assert_eq!(test["images"], 469);
    assert!(test["accuracy"].as_f64().unwrap() > 0.3, "{test}");
    // Calibrated: a temperature fitted on dev (1.05 for this model; near 1, not a default).
    let temperature: f64 = meta.extra["temperature"].parse().unwrap();
    assert!(
        temperature > 0.5 && temperature < 2.0 && temperature != 1.0,
        "{temperature}"
    );
}

#[test]
fn the_shipped_model_tells_covers_apart() {
    let mut model = shipped();
    let (h, w) = (260usize, 260usize);
    // A dark, stripy cover and a flat pastel one: a trained model gives them different
    // distributions, each summing to one.
    let mut pixels = Vec::with_capacity(2 * h * w * 3);
    for y in 0..h {
        for x in 0..w {
            let v = if (x / 8 + y / 8) % 2 == 0 { 10 } else { 60 };
            pixels.extend_from_slice(&[v, v, v]);
        }
    }
    for _ in 0..h * w {
        pixels.extend_from_slice(&[250, 200, 220]);
    }
    let predictions = model.predict(&pixels, 2).unwrap();
    let temperature: f32 = model.metadata().extra["temperature"].parse().unwrap();
    for i in 0..2 {
        let sum: f32 = predictions.probabilities.row(i).iter().sum();
        assert!((sum - 1.0).abs() < 1e-4, "row {i} sums to {sum}");
        // probabilities = softmax(logits / temperature); logits are the raw network output.
        let logits = predictions.logits.row(i);
        let max = logits.iter().cloned().fold(f32::MIN, f32::max);
        let exp: Vec<f32> = logits
            .iter()
            .map(|z| ((z - max) / temperature).exp())
            .collect();
        let total: f32 = exp.iter().sum();
        for (p, e) in predictions.probabilities.row(i).iter().zip(&exp) {
            assert!((p - e / total).abs() < 1e-5, "{p} vs {}", e / total);
        }
    }
    let diff: f32 = predictions
        .probabilities
        .row(0)
        .iter()
        .zip(predictions.probabilities.row(1))
        .map(|(a, b)| (a - b).abs())
        .sum();
    assert!(
        diff > 0.05,
        "the two covers get nearly the same answer ({diff})"
    );
}
