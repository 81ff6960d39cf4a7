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
use std::path::Path;

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

/// Every operator the writer emits, with random weights (graph structure only; the parity
/// tests below check the numbers against tch).
fn every_operator_spec() -> ModelSpec {
    let conv = |out, kernel, stride, padding, groups, bias| Layer::Conv {
        out,
        kernel,
        stride,
        padding,
        groups,
        bias,
    };
    let mut spec = spec::variant("baseline").unwrap();
    spec.name = "every-operator".into();
    spec.preprocess = Preprocess::square(20, Normalisation::EFFICIENTNET_LITE);
    spec.layers = vec![
        conv(8, 3, 1, 1, 1, false),
        Layer::BatchNorm,
        Layer::Relu6,
        // Depthwise, with a bias and a BatchNorm to fold into it after a training-only layer.
        conv(8, 3, 1, 1, 8, true),
        Layer::ActivityL1 { weight: 0.01 },
        Layer::BatchNorm,
        Layer::Relu,
        Layer::Residual {
            body: vec![
                conv(8, 3, 1, 1, 2, false),
                Layer::BatchNorm,
                Layer::Relu6,
                conv(8, 1, 1, 0, 1, true),
            ],
        },
        Layer::MaxPool {
            kernel: 2,
            stride: 2,
        },
        conv(12, 3, 2, 1, 4, true),
        Layer::AvgPool {
            kernel: 2,
            stride: 1,
        },
        Layer::Dropout { p: 0.3 },
        Layer::Flatten,
        Layer::Dense { units: 16 },
        Layer::Relu,
        Layer::Logits,
    ];
    spec
}

/// Random weights for `spec` in the shapes the writer expects (no tch needed).
fn random_weights(spec: &ModelSpec, classes: usize, seed: u64) -> Weights {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut weights = Weights::new();
    let mut random = |name: String, dims: Vec<usize>, (low, high): (f32, f32)| {
        let values = (0..dims.iter().product::<usize>())
            .map(|_| rng.random_range(low..high))
            .collect();
        weights.insert(name, (dims, values));
    };
    let shapes = spec::output_shapes(spec, classes).unwrap();
    let input = (
        3,
        spec.preprocess.height as usize,
        spec.preprocess.width as usize,
    );
    let inputs = std::iter::once(input).chain(shapes.iter().copied());
    for (i, (layer, (c, h, w))) in spec.layers.iter().zip(inputs).enumerate() {
        let mut layer_weights = |path: Vec<usize>, layer: &Layer, channels: usize| {
            let name = |p: &str| format!("{}.{p}", spec::param_prefix(&path));
            match layer {
                Layer::Conv {
                    out,
                    kernel,
                    groups,
                    bias,
                    ..
                } => {
                    let dims = vec![*out, channels / groups, *kernel, *kernel];
                    random(name("weight"), dims, (-0.3, 0.3));
                    if *bias {
                        random(name("bias"), vec![*out], (-0.1, 0.1));
                    }
                }
                Layer::BatchNorm => {
                    random(name("weight"), vec![channels], (0.5, 1.5));
                    random(name("bias"), vec![channels], (-0.2, 0.2));
                    random(name("running_mean"), vec![channels], (-0.2, 0.2));
                    random(name("running_var"), vec![channels], (0.5, 2.0));
                }
                Layer::Dense { units } => {
                    random(name("weight"), vec![*units, c * h * w], (-0.1, 0.1));
                    random(name("bias"), vec![*units], (-0.1, 0.1));
                }
                Layer::Logits => {
                    random(name("weight"), vec![classes, c * h * w], (-0.1, 0.1));
                    random(name("bias"), vec![classes], (-0.1, 0.1));
                }
                _ => {}
            }
        };
        match layer {
            // A residual body keeps the shape, so only the channel count moves inside it.
            Layer::Residual { body } => {
                let mut channels = c;
                for (j, inner) in body.iter().enumerate() {
                    layer_weights(vec![i, j], inner, channels);
                    if let Layer::Conv { out, .. } = inner {
                        channels = *out;
                    }
                }
            }
            _ => layer_weights(vec![i], layer, c),
        }
    }
    weights
}

#[test]
fn the_python_checker_accepts_exported_models() {
    let Some(python) = common::checker_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_, colour) = colour_model_bytes(BTreeMap::new());
    let spec = every_operator_spec();
    let genres = GenreSet::mumu();
    let metadata = export::metadata_for(&spec, &genres, BTreeMap::new());
    let every =
        export::onnx_model_bytes(&spec, &genres, &random_weights(&spec, 12, 3), &metadata).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/check-onnx.py");
    for (name, bytes) in [("colour.onnx", colour), ("every.onnx", every)] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let output = std::process::Command::new(&python)
            .arg(&script)
            .arg(&path)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{name}: {stdout}\n{stderr}");
        assert!(stdout.contains("OK"), "{name}: {stdout}");
    }

    // And it rejects a model that breaks the contract: no genres.
    let (_, bytes) = colour_model_bytes(BTreeMap::new());
    let mut model = proto::ModelProto::decode(bytes.as_slice()).unwrap();
    model.metadata_props.retain(|e| e.key != metadata::GENRES);
    let path = dir.path().join("anonymous.onnx");
    std::fs::write(&path, model.encode_to_vec()).unwrap();
    let output = std::process::Command::new(&python)
        .arg(&script)
        .arg(&path)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("genres"));
}

#[test]
fn every_operator_graph_runs_in_onnxruntime() {
    let spec = every_operator_spec();
    let genres = GenreSet::mumu();
    let metadata = export::metadata_for(&spec, &genres, BTreeMap::new());
    let bytes =
        export::onnx_model_bytes(&spec, &genres, &random_weights(&spec, 12, 1), &metadata).unwrap();
    let model = proto::ModelProto::decode(bytes.as_slice()).unwrap();
    let ops: std::collections::BTreeSet<String> = model
        .graph
        .unwrap()
        .node
        .into_iter()
        .map(|n| n.op_type)
        .collect();
    for op in [
        "Cast",
        "Transpose",
        "Mul",
        "Add",
        "Conv",
        "Clip",
        "Relu",
        "MaxPool",
        "AveragePool",
        "Flatten",
        "Gemm",
        "Softmax",
    ] {
        assert!(ops.contains(op), "{op} missing from {ops:?}");
    }
    assert!(
        !ops.contains("BatchNormalization"),
        "every BatchNorm follows a Conv: folded"
    );
    let mut session = Model::from_bytes(&bytes, 1, "every-operator").unwrap();
    let covers: Vec<RgbImage> = (0..2).map(|g| common::genre_cover(g, 1, 20)).collect();
    let predictions = session.predict(&batch(&covers), 2).unwrap();
    assert_eq!(predictions.probabilities.len(), 24);
    assert!(predictions.probabilities.iter().all(|p| p.is_finite()));
}

/// Parity with the tch network: needs libtorch (feature `train`).
#[cfg(feature = "train")]
mod parity {
    use super::*;
    use covergenre::export::CheckpointInfo;
    use covergenre::train::build::Network;
    use covergenre::train::checkpoint::save_weights;
    use covergenre::train::export::{self as train_export, PARITY_TOLERANCE};
    use tch::{nn, Device, Kind, Tensor};

    /// The smallest input (from 24 px up, by 8) at which the spec's shapes still resolve, so
    /// every variant runs quickly; variants keep their own size when nothing smaller fits.
    fn shrunk(mut spec: ModelSpec) -> ModelSpec {
        let original = spec.preprocess.height;
        let size = (24..original)
            .step_by(8)
            .find(|&size| {
                let mut small = spec.clone();
                small.preprocess.height = size;
                small.preprocess.width = size;
                spec::output_shapes(&small, 12).is_ok()
            })
            .unwrap_or(original);
        spec.preprocess.height = size;
        spec.preprocess.width = size;
        spec
    }

    /// A network with random weights and BatchNorm statistics far from the identity, so
    /// folding is really exercised.
    fn random_network(spec: &ModelSpec, classes: usize, seed: i64) -> nn::VarStore {
        let _guard = covergenre::train::rng_guard();
        tch::manual_seed(seed);
        let vs = nn::VarStore::new(Device::Cpu);
        Network::new(&vs.root(), spec, classes).unwrap();
        tch::no_grad(|| {
            for (name, mut tensor) in vs.variables() {
                let one_d = tensor.dim() == 1;
                let size = tensor.size();
                let uniform = |low: f64, high: f64| {
                    Tensor::rand(size.as_slice(), (Kind::Float, Device::Cpu)) * (high - low) + low
                };
                if name.ends_with("running_var") {
                    tensor.copy_(&uniform(0.5, 2.0));
                } else if name.ends_with("running_mean") || (one_d && name.ends_with("bias")) {
                    tensor.copy_(&uniform(-0.3, 0.3));
                } else if one_d && name.ends_with("weight") {
                    tensor.copy_(&uniform(0.5, 1.5));
                }
            }
        });
        vs
    }

    fn export_and_check(spec: &ModelSpec, dir: &Path) -> train_export::ParityReport {
        let genres = GenreSet::mumu();
        let vs = random_network(spec, genres.len(), 11);
        let metadata = export::metadata_for(spec, &genres, BTreeMap::new());
        let path = dir.join(format!("{}.onnx", spec.name));
        let report = train_export::export_model(spec, &genres, &vs, &metadata, &path)
            .unwrap_or_else(|e| panic!("{}: {e:#}", spec.name));
        assert!(path.is_file(), "{} written", spec.name);
        assert_eq!(report.images, train_export::PARITY_IMAGES);
        assert!(
            report.max_probability_diff <= PARITY_TOLERANCE,
            "{}: {report}",
            spec.name
        );
        report
    }

    #[test]
    fn every_variant_exports_with_parity() {
        let dir = tempfile::tempdir().unwrap();
        let variants = spec::variants();
        assert!(variants.len() >= 12);
        for spec in variants.into_iter().map(shrunk) {
            eprintln!("{} at {}px", spec.name, spec.preprocess.height);
            export_and_check(&spec, dir.path());
        }
    }

    #[test]
    fn every_operator_exports_with_parity() {
        let dir = tempfile::tempdir().unwrap();
        let spec = every_operator_spec();
        export_and_check(&spec, dir.path());
        // The export is the same graph the structural test above runs: the file opens and its
        // probabilities are softmax rows.
        let mut model = Model::open(&dir.path().join("every-operator.onnx"), 1).unwrap();
        let images = train_export::parity_images(&spec.preprocess, 2);
        let predictions = model.predict(&images, 2).unwrap();
        assert!((predictions.probabilities.row(1).sum() - 1.0).abs() < 1e-5);
    }

    #[test]
    fn parity_detects_a_model_that_differs_from_the_network() {
        let spec = every_operator_spec();
        let genres = GenreSet::mumu();
        let trained = random_network(&spec, 12, 1);
        let other = random_network(&spec, 12, 2);
        let metadata = export::metadata_for(&spec, &genres, BTreeMap::new());
        let weights = covergenre::train::build::named_weights(&other);
        let bytes = export::onnx_model_bytes(&spec, &genres, &weights, &metadata).unwrap();
        let report = train_export::measure_parity(&bytes, &spec, 12, &trained).unwrap();
        assert!(!report.passes(), "{report}");
        assert!(report.max_probability_diff > 1e-3, "{report}");
        let same = train_export::measure_parity(&bytes, &spec, 12, &other).unwrap();
        assert!(same.passes(), "{same}");
    }

    #[test]
    fn a_checkpoint_exports_with_its_description() {
        let dir = tempfile::tempdir().unwrap();
        let spec = shrunk(spec::variant("compact").unwrap());
        let genres = GenreSet::from_slugs(["jazz", "metal", "reggae"].map(String::from));
        let vs = random_network(&spec, genres.len(), 5);
        let checkpoint = dir.path().join("best.safetensors");
        save_weights(&checkpoint, &vs).unwrap();
        let out = dir.path().join("model.onnx");

        // No description beside it: a clear error naming the file it looked for.
        let err = format!(
            "{:#}",
            train_export::export_checkpoint(&checkpoint, &out).unwrap_err()
        );
        assert!(err.contains("checkpoint.json"), "{err}");
        assert!(!out.exists());

        let info = CheckpointInfo {
            spec: spec.clone(),
            genres: genres.slugs(),
            genre_names: None,
            training_data: Some(serde_json::json!({"images": 30})),
            dev_metrics: Some(serde_json::json!({"macro_f1": 0.5})),
            test_metrics: None,
        };
        let json = serde_json::to_string(&info).unwrap();
        std::fs::write(dir.path().join("checkpoint.json"), json).unwrap();
        let report = train_export::export_checkpoint(&checkpoint, &out).unwrap();
        assert!(report.passes(), "{report}");

        let mut model = Model::open(&out, 1).unwrap();
        assert_eq!(model.genres().slugs(), ["jazz", "metal", "reggae"]);
        assert_eq!(model.metadata().variant, "compact");
        assert_eq!(
            model.metadata().extra[metadata::DEV_METRICS],
            r#"{"macro_f1":0.5}"#
        );
        assert_eq!(
            model.metadata().extra[metadata::TRAINING_DATA],
            r#"{"images":30}"#
        );
        // The loaded weights are the saved ones: the export agrees with the original store.
        let images = train_export::parity_images(&spec.preprocess, train_export::PARITY_IMAGES);
        let bytes = std::fs::read(&out).unwrap();
        let against_original = train_export::measure_parity(&bytes, &spec, 3, &vs).unwrap();
        assert!(against_original.passes(), "{against_original}");
        assert_eq!(
            model
                .predict(&images, train_export::PARITY_IMAGES)
                .unwrap()
                .len(),
            8
        );
    }

    #[test]
    fn a_trainer_checkpoint_with_prefixed_names_and_a_winner_folder_exports() {
        let dir = tempfile::tempdir().unwrap();
        let spec = shrunk(spec::variant("baseline").unwrap());
        let genres = GenreSet::from_slugs(["jazz", "metal"].map(String::from));
        let vs = random_network(&spec, genres.len(), 9);
        // As the trainer's resumable checkpoint: model.<name> plus optimiser state.
        let mut tensors: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            // Conv weights are stored channels-last; safetensors wants contiguous data.
            .map(|(name, t)| (format!("model.{name}"), t.contiguous()))
            .collect();
        tensors.push((
            "optim.0.weight.first".into(),
            Tensor::zeros([3], (Kind::Float, Device::Cpu)),
        ));
        let checkpoint = dir.path().join("model.safetensors");
        Tensor::write_safetensors(&tensors, &checkpoint).unwrap();
        std::fs::write(
            dir.path().join("spec.json"),
            serde_json::to_string(&spec).unwrap(),
        )
        .unwrap();
        std::fs::write(dir.path().join("genres.json"), r#"["jazz","metal"]"#).unwrap();
        let out = dir.path().join("model.onnx");
        let report = train_export::export_checkpoint(&checkpoint, &out).unwrap();
        assert!(report.passes(), "{report}");
        let bytes = std::fs::read(&out).unwrap();
        assert!(train_export::measure_parity(&bytes, &spec, 2, &vs)
            .unwrap()
            .passes());

        // Weights of another variant are refused, naming the parameter, and nothing is written.
        let other = dir.path().join("other");
        std::fs::create_dir(&other).unwrap();
        let compact = shrunk(spec::variant("compact").unwrap());
        save_weights(
            &other.join("best.safetensors"),
            &random_network(&compact, 2, 1),
        )
        .unwrap();
        std::fs::write(
            other.join("spec.json"),
            serde_json::to_string(&spec).unwrap(),
        )
        .unwrap();
        std::fs::write(other.join("genres.json"), r#"["jazz","metal"]"#).unwrap();
        let out = other.join("model.onnx");
        let err = format!(
            "{:#}",
            train_export::export_checkpoint(&other.join("best.safetensors"), &out).unwrap_err()
        );
        assert!(
            err.contains("best.safetensors") && err.contains("parameter '"),
            "{err}"
        );
        assert!(!out.exists());
    }

    #[test]
    fn covergenre_train_exports_a_checkpoint_from_the_command_line() {
        let dir = tempfile::tempdir().unwrap();
        let spec = shrunk(spec::variant("compact").unwrap());
        save_weights(
            &dir.path().join("best.safetensors"),
            &random_network(&spec, 2, 3),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("spec.json"),
            serde_json::to_string(&spec).unwrap(),
        )
        .unwrap();
        std::fs::write(dir.path().join("genres.json"), r#"["jazz","metal"]"#).unwrap();
        let out = dir.path().join("exported.onnx");
        let run = |checkpoint: &Path| {
            std::process::Command::new(env!("CARGO_BIN_EXE_covergenre-train"))
                .arg("--export")
                .arg(checkpoint)
                .arg("--out")
                .arg(&out)
                .output()
                .unwrap()
        };
        let output = run(&dir.path().join("best.safetensors"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(covergenre::exit::SUCCESS),
            "{stderr}"
        );
        assert!(
            stderr.contains("max |probability difference|"),
            "prints the figure: {stderr}"
        );
        assert_eq!(
            Model::open(&out, 1).unwrap().genres().slugs(),
            ["jazz", "metal"]
        );

        let output = run(&dir.path().join("absent.safetensors"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(covergenre::exit::FATAL),
            "{stderr}"
        );
        assert!(stderr.contains("absent.safetensors"), "{stderr}");
    }
}
