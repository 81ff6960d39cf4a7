//! Every operator the ONNX writer emits: the Python checker accepts the exported models,
//! onnxruntime runs the graph, and (feature `train`) its outputs equal the tch network's for
//! every variant and every operator.

mod common;

use covergenre::export::{self, proto, Weights};
use covergenre::genres::GenreSet;
use covergenre::infer::Model;
use covergenre::metadata;
use covergenre::preprocess::{Normalisation, Preprocess};
use covergenre::spec::{self, Layer, ModelSpec};
use image::RgbImage;
use prost::Message;
use std::collections::BTreeMap;
use std::path::Path;

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
    let colour = common::colour_model_bytes();
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
    let bytes = common::colour_model_bytes();
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
    let pixels: Vec<u8> = covers.iter().flat_map(|c| c.as_raw().clone()).collect();
    let predictions = session.predict(&pixels, 2).unwrap();
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
