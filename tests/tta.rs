//! Test-time augmentation (`--tta`) in covergenre-classify and covergenre-eval, through a real
//! ONNX model whose hand-set weights tell left from right: its answer for a cover and for the
//! cover's mirror image differ, so averaging the two is visible in the output. Also: eval with
//! no `--model` uses the model built into the binary.

mod common;

use common::classify_output::parse_jsonl;
use covergenre::export::{metadata_for, onnx_model_bytes, Weights};
use covergenre::genres::GenreSet;
use covergenre::preprocess::{Normalisation, Preprocess};
use covergenre::report::classify::Record;
use covergenre::spec::{variant, Layer, ModelSpec};
use image::{imageops, Rgb, RgbImage};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

const GENRES: [&str; 3] = ["left", "right", "top"];
const SIZE: usize = 8;
/// Logit scale: small enough that no probability saturates, so averages stay informative.
const SCALE: f32 = 4.0;

/// The logits the model computes from an 8x8 RGB image with values in [0, 1]:
/// left = SCALE * mean of the left half, right = SCALE * mean of the right half,
/// top = 0.75 * SCALE * mean of the top half.
fn weight(class: usize, y: usize, x: usize) -> f32 {
    let half = (3 * SIZE * SIZE / 2) as f32;
    let in_class = match class {
        0 => x < SIZE / 2,
        1 => x >= SIZE / 2,
        _ => y < SIZE / 2,
    };
    let share = if class == 2 { 0.75 } else { 1.0 };
    if in_class {
        share * SCALE / half
    } else {
        0.0
    }
}

/// Flatten -> Logits on the normalised NCHW input, with [`weight`] as the logits matrix.
fn sided_model() -> Vec<u8> {
    let mut spec: ModelSpec = variant("baseline").expect("the baseline variant exists");
    spec.name = "sided".into();
    spec.preprocess = Preprocess::square(SIZE as u32, Normalisation::UNIT);
    spec.layers = vec![Layer::Flatten, Layer::Logits];
    let mut matrix = Vec::new();
    for class in 0..3 {
        // NCHW flatten order: channel, then row, then column.
        for _channel in 0..3 {
            for y in 0..SIZE {
                for x in 0..SIZE {
                    matrix.push(weight(class, y, x));
                }
            }
        }
    }
    let mut weights = Weights::new();
    weights.insert("1.weight".into(), (vec![3, 3 * SIZE * SIZE], matrix));
    weights.insert("1.bias".into(), (vec![3], vec![0.0; 3]));
    let genres = GenreSet::from_slugs(GENRES.map(String::from));
    let metadata = metadata_for(&spec, &genres, BTreeMap::new());
    onnx_model_bytes(&spec, &genres, &weights, &metadata).expect("the sided model exports")
}

/// The model's probabilities for `image`, computed here without onnxruntime.
fn expected_probabilities(image: &RgbImage) -> [f32; 3] {
    let logits: Vec<f32> = (0..3)
        .map(|class| {
            image
                .enumerate_pixels()
                .map(|(x, y, p)| {
                    let sum: f32 = p.0.iter().map(|&v| f32::from(v) / 255.0).sum();
                    sum * weight(class, y as usize, x as usize)
                })
                .sum()
        })
        .collect();
    let top = logits.iter().copied().fold(f32::MIN, f32::max);
    let exp: Vec<f32> = logits.iter().map(|l| (l - top).exp()).collect();
    let total: f32 = exp.iter().sum();
    [exp[0] / total, exp[1] / total, exp[2] / total]
}

/// A lopsided cover: a bright block at the top right over a diagonal gradient.
fn lopsided_cover() -> RgbImage {
    RgbImage::from_fn(SIZE as u32, SIZE as u32, |x, y| {
        let bright = x >= 4 && y < 4;
        let v = if bright { 255 } else { (x * 13 + y * 7) as u8 };
        Rgb([v, v / 2, 255 - v])
    })
}

/// A cover bright only in its top right quarter: logits (0, 2, 1.5), so the model says "right"
/// (0.57), but averaged with the mirror (which says "left") "top" wins (0.35 against 0.33).
fn top_right_cover() -> RgbImage {
    RgbImage::from_fn(SIZE as u32, SIZE as u32, |x, y| {
        let v = if x >= 4 && y < 4 { 255 } else { 0 };
        Rgb([v, v, v])
    })
}

fn run(binary: &str, args: &[&str], cwd: &Path) -> Output {
    let out = Command::new(binary)
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "{binary} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Probabilities of every genre, in [`GENRES`] order, from classify's JSONL record.
fn probabilities(record: &Record) -> [f32; 3] {
    GENRES.map(|genre| {
        record
            .top
            .iter()
            .find(|r| r.genre == genre)
            .map(|r| r.probability)
            .expect("--top-k 3 lists every genre")
    })
}

fn classify(dir: &Path, image: &Path, tta: bool) -> [f32; 3] {
    let model = dir.join("sided.onnx");
    let mut args = vec!["--model", model.to_str().unwrap()];
    args.extend(["--format", "jsonl", "--top-k", "3", "--threads", "2"]);
    if tta {
        args.push("--tta");
    }
    args.push(image.to_str().unwrap());
    let out = run(env!("CARGO_BIN_EXE_covergenre-classify"), &args, dir);
    let records = parse_jsonl(out.stdout.as_slice()).unwrap();
    assert_eq!(records.len(), 1);
    probabilities(&records[0])
}

fn assert_close(actual: [f32; 3], expected: [f32; 3], what: &str) {
    let off = actual
        .iter()
        .zip(expected)
        .map(|(a, e)| (a - e).abs())
        .fold(0.0, f32::max);
    assert!(off < 1e-5, "{what}: {actual:?}, expected {expected:?}");
}

#[test]
fn classify_tta_averages_the_cover_and_its_mirror_and_is_off_by_default() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sided.onnx"), sided_model()).unwrap();
    let cover = lopsided_cover();
    let mirror = imageops::flip_horizontal(&cover);
    let (cover_path, mirror_path) = (dir.path().join("a.png"), dir.path().join("a-mirror.png"));
    common::write_image(&cover_path, &cover);
    common::write_image(&mirror_path, &mirror);

    let plain = classify(dir.path(), &cover_path, false);
    let plain_mirror = classify(dir.path(), &mirror_path, false);
    assert_close(plain, expected_probabilities(&cover), "default run");
    assert_close(plain_mirror, expected_probabilities(&mirror), "mirror");
    assert!(
        (plain[1] - plain_mirror[1]).abs() > 0.1,
        "the model must see the difference: {plain:?} vs {plain_mirror:?}"
    );

    let average = std::array::from_fn(|i| (plain[i] + plain_mirror[i]) / 2.0);
    assert_close(
        classify(dir.path(), &cover_path, true),
        average,
        "--tta on the cover",
    );
    assert_close(
        classify(dir.path(), &mirror_path, true),
        average,
        "--tta on the mirror",
    );
}

fn eval_json(dir: &Path, extra: &[&str]) -> Value {
    let data = dir.join("covers");
    let mut args = vec!["--data", data.to_str().unwrap(), "--format", "json"];
    args.extend(extra);
    let out = run(env!("CARGO_BIN_EXE_covergenre-eval"), &args, dir);
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn eval_tta_changes_the_predictions_as_the_average_says() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("sided.onnx");
    std::fs::write(&model, sided_model()).unwrap();
    let cover = top_right_cover();
    let [_, right, top] = expected_probabilities(&cover);
    let [_, right_mirror, top_mirror] = expected_probabilities(&imageops::flip_horizontal(&cover));
    // The arithmetic the test relies on: "right" alone, "top" on average.
    assert!(right > top && (right + right_mirror) / 2.0 < (top + top_mirror) / 2.0);
    for i in 0..3 {
        common::write_image(&dir.path().join(format!("covers/right/{i}.png")), &cover);
    }
    let model = ["--model", model.to_str().unwrap()];
    let plain = eval_json(dir.path(), &model);
    let tta = eval_json(dir.path(), &[model[0], model[1], "--tta"]);
    assert_eq!(plain["total"], 3, "{plain}");
    assert_eq!(plain["accuracy"].as_f64(), Some(1.0), "{plain}");
    assert_eq!(tta["accuracy"].as_f64(), Some(0.0), "{tta}");
}

#[test]
fn eval_without_model_uses_the_built_in_one() {
    let dir = tempfile::tempdir().unwrap();
    for (genre, seed) in [("jazz", 1), ("metal", 2)] {
        let image = common::genre_cover(seed, seed as u64, 64);
        common::write_image(&dir.path().join(format!("covers/{genre}/0.png")), &image);
    }
    // Before, eval read models/covergenre.onnx from the source tree, which `cargo install` lacks.
    let json = eval_json(dir.path(), &[]);
    assert_eq!(json["model"], "the built-in model", "{json}");
    assert_eq!(json["total"], 2, "{json}");
}
