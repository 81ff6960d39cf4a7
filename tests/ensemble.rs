//! Ensembles in one file: one ONNX graph runs every member from the one uint8 input and
//! averages their probabilities; it must equal the members run one by one.

mod common;

use covergenre::export::ensemble::{ensemble_bytes, ENSEMBLE_MEMBERS};
use covergenre::export::temperature::with_temperature;
use covergenre::infer::Model;
use ndarray::Array2;
use std::path::Path;

/// Three different members: two gains, one of them calibrated by a temperature.
fn members() -> Vec<Vec<u8>> {
    vec![
        common::colour_model_bytes(),
        common::colour_model_bytes_with(4.0, 24),
        with_temperature(&common::colour_model_bytes_with(7.0, 24), 2.0).unwrap(),
    ]
}

#[test]
fn the_ensemble_equals_the_mean_of_its_members_run_one_by_one() {
    let members = members();
    let ensemble = ensemble_bytes(&members).unwrap();
    let mut model = Model::from_bytes(&ensemble, 1, "ensemble").unwrap();
    let got = model.predict(&common::colour_batch(), 8).unwrap();
    let each: Vec<Array2<f32>> = members
        .iter()
        .map(|m| {
            let mut member = Model::from_bytes(m, 1, "member").unwrap();
            member
                .predict(&common::colour_batch(), 8)
                .unwrap()
                .probabilities
        })
        .collect();
    // The members really differ, so the mean is not any one of them.
    assert!(each[0]
        .iter()
        .zip(&each[1])
        .any(|(a, b)| (a - b).abs() > 0.05));
    let mut worst = 0.0f32;
    for (i, &p) in got.probabilities.indexed_iter() {
        let mean = each.iter().map(|m| m[i]).sum::<f32>() / each.len() as f32;
        worst = worst.max((p - mean).abs());
        // logits = log(probabilities), so softmax(logits) gives them back.
        assert!((got.logits[i] - p.ln()).abs() < 1e-5, "logit {i:?}");
    }
    assert!(worst < 1e-5, "largest difference {worst}");

    // An ensemble is calibrated like any model: probabilities = softmax(logits / T).
    let calibrated = with_temperature(&ensemble, 2.0).unwrap();
    let soft = Model::from_bytes(&calibrated, 1, "calibrated")
        .unwrap()
        .predict(&common::colour_batch(), 8)
        .unwrap();
    for i in 0..8 {
        let scaled: Vec<f32> = got.logits.row(i).iter().map(|z| z / 2.0).collect();
        let sum: f32 = scaled.iter().map(|z| z.exp()).sum();
        for (p, z) in soft.probabilities.row(i).iter().zip(&scaled) {
            assert!((p - z.exp() / sum).abs() < 1e-5, "cover {i}");
        }
    }

    let meta = model.metadata();
    assert_eq!(meta.variant, "ensemble(colour+colour+colour)");
    let listed: serde_json::Value = serde_json::from_str(&meta.extra[ENSEMBLE_MEMBERS]).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 3);
    assert_eq!(listed[2]["temperature"], 2.0);
    assert!(!meta.extra.contains_key("temperature"));
    assert!(
        !meta.extra.contains_key("architecture"),
        "no one spec describes an ensemble's graph"
    );
    assert_eq!(
        model.genres().slugs(),
        ["red", "green", "blue", "folk"].map(String::from)
    );
}

/// The eight colours of [`common::colour_batch`], each a solid `size` x `size` image: a
/// resize leaves a solid image as it is, so a member run at its own size must see the same.
fn solid_batch(size: usize) -> Vec<u8> {
    common::colour_batch()
        .chunks(24 * 24 * 3)
        .flat_map(|image| image[..3].repeat(size * size))
        .collect()
}

/// Lite0 (224) and Lite2 (260) in one file: the smaller member gets its input resized inside
/// the graph, and the ensemble takes the larger size.
#[test]
fn members_of_different_input_sizes_share_the_largest_input() {
    let small = common::colour_model_bytes_with(4.0, 16);
    let large = common::colour_model_bytes_with(10.0, 24);
    let ensemble = ensemble_bytes(&[small.clone(), large.clone()]).unwrap();
    let mut model = Model::from_bytes(&ensemble, 1, "ensemble").unwrap();
    assert_eq!(model.metadata().preprocess.height, 24);
    let got = model.predict(&solid_batch(24), 8).unwrap().probabilities;
    let run = |bytes: &[u8], size| {
        let mut member = Model::from_bytes(bytes, 1, "member").unwrap();
        member.predict(&solid_batch(size), 8).unwrap().probabilities
    };
    let (each_small, each_large) = (run(&small, 16), run(&large, 24));
    assert!(each_small
        .iter()
        .zip(&each_large)
        .any(|(a, b)| (a - b).abs() > 0.05));
    for (i, &p) in got.indexed_iter() {
        let mean = (each_small[i] + each_large[i]) / 2.0;
        assert!((p - mean).abs() < 1e-5, "{i:?}: {p} against {mean}");
    }
    let listed: serde_json::Value =
        serde_json::from_str(&model.metadata().extra[ENSEMBLE_MEMBERS]).unwrap();
    assert_eq!(listed[0]["input_size"], serde_json::json!([16, 16]));
    assert_eq!(listed[1]["input_size"], serde_json::json!([24, 24]));
}

/// Through the resize, a member sees nearly what it would see from the classifier's own resize
/// of the cover: a smooth picture gives nearly the same probabilities either way.
#[test]
fn a_resized_member_sees_nearly_the_picture_resized_by_the_classifier() {
    let gradient = |size: u32| -> Vec<u8> {
        let image = image::RgbImage::from_fn(48, 48, |x, y| {
            image::Rgb([(x * 5) as u8, (y * 5) as u8, ((x + y) * 2) as u8])
        });
        image::imageops::resize(&image, size, size, image::imageops::FilterType::Triangle)
            .into_raw()
    };
    let small = common::colour_model_bytes_with(4.0, 16);
    let large = common::colour_model_bytes_with(10.0, 24);
    let ensemble = ensemble_bytes(&[small.clone(), large.clone()]).unwrap();
    let got = Model::from_bytes(&ensemble, 1, "ensemble")
        .unwrap()
        .predict(&gradient(24), 1)
        .unwrap()
        .probabilities;
    let run = |bytes: &[u8], size| {
        let mut member = Model::from_bytes(bytes, 1, "member").unwrap();
        member.predict(&gradient(size), 1).unwrap().probabilities
    };
    let (each_small, each_large) = (run(&small, 16), run(&large, 24));
    for (i, &p) in got.indexed_iter() {
        let mean = (each_small[i] + each_large[i]) / 2.0;
        assert!((p - mean).abs() < 0.01, "{i:?}: {p} against {mean}");
    }
}

#[test]
fn members_must_share_the_contract() {
    let one = common::colour_model_bytes();
    let err = ensemble_bytes(std::slice::from_ref(&one))
        .unwrap_err()
        .to_string();
    assert!(err.contains("at least two"), "{err}");
    let other_genres = common::colour_model_bytes_for(10.0, 24, ["red", "green", "blue", "jazz"]);
    let err = ensemble_bytes(&[one.clone(), other_genres])
        .unwrap_err()
        .to_string();
    assert!(err.contains("member 2") && err.contains("genres"), "{err}");
    let err = ensemble_bytes(&[one, b"junk".to_vec()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("member 2"), "{err}");
}

#[test]
fn the_python_checker_accepts_an_ensemble() {
    let Some(python) = common::checker_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ensemble.onnx");
    // With a smaller member, so the checker also sees the in-graph resize.
    let mut members = members();
    members.push(common::colour_model_bytes_with(2.0, 16));
    std::fs::write(&path, ensemble_bytes(&members).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/check-onnx.py");
    let output = std::process::Command::new(python)
        .arg(script)
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[cfg(feature = "train")]
#[test]
fn train_binary_writes_an_ensemble_from_files_and_run_folders() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.onnx");
    std::fs::write(&a, common::colour_model_bytes()).unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir_all(run.join("best")).unwrap();
    std::fs::write(
        run.join("best/model.onnx"),
        common::colour_model_bytes_with(4.0, 24),
    )
    .unwrap();
    let out = dir.path().join("out/ensemble.onnx");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_covergenre-train"))
        .arg("--ensemble")
        .arg(&a)
        .arg(&run)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let model = Model::open(&out, 1).unwrap();
    assert_eq!(model.metadata().variant, "ensemble(colour+colour)");
    // Without --out: a clear error, exit 2.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_covergenre-train"))
        .arg("--ensemble")
        .arg(&a)
        .arg(&run)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--ensemble needs --out"));
}
