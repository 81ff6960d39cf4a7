//! ONNX export and the onnxruntime model core: hand-made models whose outputs are known in
//! closed form, metadata round trips, refusals, the Python checker, and (feature `train`)
//! parity with the tch network for every variant and every operator.

mod common;

use covergenre::export::{self, proto, Weights};
use covergenre::genres::GenreSet;
use covergenre::infer::Model;
use covergenre::metadata::{self, ModelMetadata};
use covergenre::preprocess::{Normalisation, Preprocess};
use covergenre::spec::{self, Layer, ModelSpec};
use image::{Rgb, RgbImage};
use ndarray::{ArrayView1, ArrayView4};
use prost::Message;
use std::collections::BTreeMap;

const SIZE: u32 = 24;

/// Global average pooling then logits: logits = W * mean(normalised RGB) + b.
fn colour_spec(normalisation: Normalisation) -> ModelSpec {
    let mut spec = spec::variant("baseline").unwrap();
    spec.name = "colour".into();
    spec.preprocess = Preprocess::square(SIZE, normalisation);
    spec.layers = vec![Layer::GlobalAvgPool, Layer::dropout(0.5), Layer::Logits];
    spec
}

fn rgb_genres() -> GenreSet {
    GenreSet::from_slugs(["red", "green", "blue"].map(String::from))
}

/// Logit g is 10 * (mean of channel g) - 1: a red cover is "red", and so on.
fn colour_weights() -> Weights {
    let mut identity = vec![0.0f32; 9];
    for g in 0..3 {
        identity[g * 3 + g] = 10.0;
    }
    Weights::from([
        ("2.weight".to_string(), (vec![3, 3], identity)),
        ("2.bias".to_string(), (vec![3], vec![-1.0; 3])),
    ])
}

fn plain(colour: [u8; 3]) -> RgbImage {
    RgbImage::from_pixel(SIZE, SIZE, Rgb(colour))
}

fn batch(images: &[RgbImage]) -> Vec<u8> {
    images
        .iter()
        .flat_map(|i| i.as_raw().iter().copied())
        .collect()
}

fn colour_model_bytes(extra: BTreeMap<String, String>) -> (ModelMetadata, Vec<u8>) {
    let spec = colour_spec(Normalisation::UNIT);
    let metadata = export::metadata_for(&spec, &rgb_genres(), extra);
    let bytes = export::onnx_model_bytes(&spec, &rgb_genres(), &colour_weights(), &metadata)
        .expect("the colour model exports");
    (metadata, bytes)
}

fn argmax(row: ArrayView1<f32>) -> usize {
    (0..row.len())
        .max_by(|&a, &b| row[a].total_cmp(&row[b]))
        .unwrap()
}

#[test]
fn a_hand_made_model_gives_the_logits_its_weights_imply() {
    // EfficientNet-style normalisation, so the graph's Mul/Add is exercised with non-trivial values.
    let normalisation = Normalisation::EFFICIENTNET_LITE;
    let spec = colour_spec(normalisation);
    let metadata = export::metadata_for(&spec, &rgb_genres(), BTreeMap::new());
    let bytes =
        export::onnx_model_bytes(&spec, &rgb_genres(), &colour_weights(), &metadata).unwrap();
    let mut model = Model::from_bytes(&bytes, 1, "colour").unwrap();
    let colours = [[200u8, 10, 30], [0, 255, 0], [17, 80, 250]];
    let images: Vec<RgbImage> = colours.iter().map(|&c| plain(c)).collect();
    let predictions = model.predict(&batch(&images), 3).unwrap();
    assert_eq!(predictions.len(), 3);
    for (i, colour) in colours.iter().enumerate() {
        let logits = predictions.logits.row(i);
        for g in 0..3 {
            let input = (colour[g] as f32 / 255.0 - normalisation.mean[g]) / normalisation.std[g];
            let expected = 10.0 * input - 1.0;
            assert!(
                (logits[g] - expected).abs() < 1e-4,
                "image {i} genre {g}: {} vs {expected}",
                logits[g]
            );
        }
        let row = predictions.probabilities.row(i);
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert_eq!(argmax(row), argmax(logits), "softmax keeps the order");
    }
}

#[test]
fn the_exported_model_classifies_made_up_covers_at_any_batch_size() {
    let (_, bytes) = colour_model_bytes(BTreeMap::new());
    let mut model = Model::from_bytes(&bytes, 2, "colour").unwrap();
    // Noisy striped covers from the shared test helpers: 0 is mostly red, 1 blue-ish, 2 green.
    let covers: Vec<RgbImage> = [0, 2, 1]
        .into_iter()
        .map(|palette| common::genre_cover(palette, 7, SIZE))
        .collect();
    let predictions = model.predict(&batch(&covers), covers.len()).unwrap();
    let predicted: Vec<&str> = (0..covers.len())
        .map(|i| {
            model
                .genres()
                .get(argmax(predictions.probabilities.row(i)))
                .unwrap()
                .slug
                .as_str()
        })
        .collect();
    assert_eq!(predicted, ["red", "green", "blue"]);
    // The batch dimension is dynamic: one image alone gives the same row as in the batch.
    let single = model.predict(covers[2].as_raw(), 1).unwrap();
    for (a, b) in single
        .probabilities
        .row(0)
        .iter()
        .zip(predictions.probabilities.row(2))
    {
        assert!((a - b).abs() < 1e-6);
    }
    assert!(model.predict(&[], 0).unwrap().is_empty());
}

#[test]
fn metadata_round_trips_through_a_written_file() {
    let dir = tempfile::tempdir().unwrap();
    let extra = BTreeMap::from([
        (
            metadata::DEV_METRICS.to_string(),
            r#"{"macro_f1":0.31}"#.to_string(),
        ),
        (
            metadata::TRAINING_DATA.to_string(),
            r#"{"images":3771}"#.to_string(),
        ),
    ]);
    let (written, bytes) = colour_model_bytes(extra);
    let path = dir.path().join("colour.onnx");
    covergenre::util::write_atomic(&path, &bytes).unwrap();
    let model = Model::open(&path, 1).unwrap();
    assert_eq!(model.metadata(), &written);
    assert_eq!(model.genres().slugs(), ["red", "green", "blue"]);
    assert_eq!(model.preprocess().height, SIZE);
    assert_eq!(model.metadata().variant, "colour");
    let extra = &model.metadata().extra;
    assert_eq!(extra[metadata::DEV_METRICS], r#"{"macro_f1":0.31}"#);
    assert!(extra[metadata::TOOLKIT_VERSION].contains(covergenre::VERSION));
    assert!(
        extra[metadata::CREATED].starts_with("20"),
        "{}",
        extra[metadata::CREATED]
    );
    // The same entries are readable without onnxruntime.
    let props = export::read_metadata_props(&bytes).unwrap();
    assert_eq!(ModelMetadata::from_props(&props).unwrap(), written);
}

#[test]
fn a_model_without_genres_is_refused_with_the_file_named() {
    let (_, bytes) = colour_model_bytes(BTreeMap::new());
    let mut model = proto::ModelProto::decode(bytes.as_slice()).unwrap();
    model.metadata_props.retain(|e| e.key != metadata::GENRES);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anonymous.onnx");
    std::fs::write(&path, model.encode_to_vec()).unwrap();
    let err = format!("{:#}", Model::open(&path, 1).unwrap_err());
    assert!(err.contains("'genres'"), "{err}");
    assert!(err.contains("anonymous.onnx"), "{err}");
}

#[test]
fn bad_files_and_bad_batches_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(&garbage, b"not a model at all").unwrap();
    let err = format!("{:#}", Model::open(&garbage, 1).unwrap_err());
    assert!(err.contains("garbage.onnx"), "{err}");
    let missing = dir.path().join("missing.onnx");
    let err = format!("{:#}", Model::open(&missing, 1).unwrap_err());
    assert!(
        err.contains("missing.onnx") && err.contains("no such file"),
        "{err}"
    );

    let (_, bytes) = colour_model_bytes(BTreeMap::new());
    let mut model = Model::from_bytes(&bytes, 1, "colour").unwrap();
    let err = model.predict(&[0u8; 10], 1).unwrap_err().to_string();
    assert!(err.contains("expected 1 images of 24x24x3"), "{err}");
}

/// `predict_images` takes an NHWC array of any memory layout: a view whose bytes lie in NCHW
/// order gives exactly what the same images give as NHWC bytes (the colour model averages each
/// channel, so mixing channels up would show), and an image of the wrong size is refused.
#[test]
fn predict_images_takes_any_layout_and_refuses_a_wrong_image_size() {
    let (_, bytes) = colour_model_bytes(BTreeMap::new());
    let mut model = Model::from_bytes(&bytes, 1, "colour").unwrap();
    let covers: Vec<RgbImage> = (0..3).map(|g| common::genre_cover(g, 5, SIZE)).collect();
    let pixels = batch(&covers);
    let side = SIZE as usize;
    let nhwc = ArrayView4::from_shape((3, side, side, 3), pixels.as_slice()).unwrap();
    let nchw = nhwc
        .permuted_axes([0, 3, 1, 2])
        .as_standard_layout()
        .into_owned();
    let strided = nchw.view().permuted_axes([0, 2, 3, 1]);
    assert!(!strided.is_standard_layout());
    assert_eq!(
        model.predict_images(strided).unwrap(),
        model.predict(&pixels, 3).unwrap()
    );

    let small = ArrayView4::from_shape((1, 2, 2, 3), &pixels[..12]).unwrap();
    let err = model.predict_images(small).unwrap_err().to_string();
    assert!(
        err.contains("colour") && err.contains("expected images of 24x24x3, got 2x2x3"),
        "{err}"
    );
}

#[test]
fn export_refuses_weights_that_do_not_fit_the_spec() {
    let spec = colour_spec(Normalisation::UNIT);
    let metadata = export::metadata_for(&spec, &rgb_genres(), BTreeMap::new());
    let mut weights = colour_weights();
    weights.remove("2.bias");
    let err = format!(
        "{:#}",
        export::onnx_model_bytes(&spec, &rgb_genres(), &weights, &metadata).unwrap_err()
    );
    assert!(err.contains("'2.bias'") && err.contains("layer 2"), "{err}");

    let mut weights = colour_weights();
    weights.insert("2.weight".into(), (vec![4, 3], vec![0.0; 12]));
    let err = format!(
        "{:#}",
        export::onnx_model_bytes(&spec, &rgb_genres(), &weights, &metadata).unwrap_err()
    );
    assert!(err.contains("[4, 3]") && err.contains("[3, 3]"), "{err}");

    let four = GenreSet::from_slugs(["a", "b", "c", "d"].map(String::from));
    let err = export::onnx_model_bytes(&spec, &four, &colour_weights(), &metadata)
        .unwrap_err()
        .to_string();
    assert!(err.contains("genres"), "{err}");
}
