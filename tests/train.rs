//! Training: the spec -> tch builder, the training loop, checkpoints and resume, the CLI.
#![cfg(feature = "train")]

mod common;

use covergenre::preprocess::{Normalisation, Preprocess};
use covergenre::spec::{self, Layer};
use covergenre::train::{named_weights, normalise, Mode, Network, Precision};
use tch::{nn, Device, Kind, Tensor};

#[test]
fn every_variant_builds_and_maps_a_batch_to_twelve_logits() {
    let _rng = covergenre::train::rng_guard();
    for variant in spec::variants() {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = Network::new(&vs.root(), &variant, 12)
            .unwrap_or_else(|e| panic!("{}: {e}", variant.name));
        let (h, w) = (
            variant.preprocess.height as i64,
            variant.preprocess.width as i64,
        );
        let x = Tensor::rand([2, 3, h, w], (Kind::Float, Device::Cpu));
        for train in [false, true] {
            let (logits, penalty) = net.forward_t(&x, train);
            assert_eq!(logits.size(), [2, 12], "{} (train {train})", variant.name);
            assert_eq!(penalty.size(), Vec::<i64>::new());
        }
        let has_l1 = variant
            .layers
            .iter()
            .any(|l| matches!(l, Layer::ActivityL1 { .. }));
        let (_, penalty) = net.forward_t(&x, true);
        assert_eq!(
            penalty.double_value(&[]) > 0.0,
            has_l1,
            "{}: activity L1 penalty only where the spec asks for it",
            variant.name
        );
    }
}

/// Convolutions and dense layers (residual bodies included): the layers that multiply in bf16.
fn multiplying_layers(layers: &[Layer]) -> usize {
    layers
        .iter()
        .map(|l| match l {
            Layer::Conv { .. } | Layer::Dense { .. } | Layer::Logits => 1,
            Layer::Residual { body } => multiplying_layers(body),
            _ => 0,
        })
        .sum()
}

#[test]
fn bf16_mixed_precision_stays_close_to_fp32_and_keeps_float32_gradients() {
    let _rng = covergenre::train::rng_guard();
    tch::manual_seed(5);
    for variant in spec::variants() {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = Network::new(&vs.root(), &variant, 12).unwrap();
        let (h, w) = (
            variant.preprocess.height as i64,
            variant.preprocess.width as i64,
        );
        let x = Tensor::rand([2, 3, h, w], (Kind::Float, Device::Cpu)) * 2.0 - 1.0;
        let (fp32, _) = net.forward(&x, Mode::EVAL);
        let (bf16, _) = net.forward(&x, Mode::EVAL.with_precision(Precision::Bf16));
        assert_eq!(
            bf16.kind(),
            Kind::Float,
            "{}: logits come back as f32",
            variant.name
        );
        let scale = fp32.abs().max().double_value(&[]);
        let gap = (&bf16 - &fp32).abs().max().double_value(&[]);
        // bfloat16 keeps 8 significant bits: the results differ (it really ran in bf16), by
        // a few percent of the logits' size at most. Rounding errors compound with depth, so
        // the bar is 5%, or 0.15% per multiplying layer for deep networks (EfficientNet-Lite2,
        // 65 of them, measured 6.4% on random weights).
        assert!(
            gap > 0.0,
            "{}: bf16 gave exactly the f32 logits",
            variant.name
        );
        let bar = 0.05f64.max(0.0015 * multiplying_layers(&variant.layers) as f64);
        assert!(
            gap <= bar * scale + 1e-4,
            "{}: gap {gap} vs scale {scale} (bar {bar})",
            variant.name
        );

        let (logits, penalty) = net.forward(&x, Mode::TRAIN.with_precision(Precision::Bf16));
        (logits.sum(Kind::Float) + penalty).backward();
        for (name, weight) in vs.trainable_variables().iter().enumerate() {
            let grad = weight.grad();
            assert_eq!(
                grad.kind(),
                Kind::Float,
                "{} parameter {name}",
                variant.name
            );
            assert!(grad.isfinite().all().int64_value(&[]) == 1);
        }
    }
}

#[test]
fn parameter_names_follow_the_spec_layer_indices() {
    let _rng = covergenre::train::rng_guard();
    let mut compact = spec::variant("compact").unwrap();
    compact.preprocess.height = 32;
    compact.preprocess.width = 32;
    let vs = nn::VarStore::new(Device::Cpu);
    Network::new(&vs.root(), &compact, 12).unwrap();
    let weights = named_weights(&vs);
    // conv (no bias) at 0, BatchNorm at 1 with its running statistics, logits last.
    assert_eq!(weights["0.weight"].0, vec![24, 3, 3, 3]);
    assert!(!weights.contains_key("0.bias"));
    for name in ["weight", "bias", "running_mean", "running_var"] {
        assert_eq!(weights[&format!("1.{name}")].0, vec![24]);
    }
    assert_eq!(weights["1.running_var"].1, vec![1.0; 24]);
    let logits = compact.layers.len() - 1;
    assert_eq!(weights[&format!("{logits}.weight")].0, vec![12, 256]);

    let residual = spec::ModelSpec {
        layers: vec![
            Layer::conv_k(4, 3, 1),
            Layer::Residual {
                body: vec![Layer::conv_k(4, 3, 1), Layer::BatchNorm, Layer::Relu6],
            },
            Layer::GlobalAvgPool,
            Layer::Logits,
        ],
        ..compact
    };
    let vs = nn::VarStore::new(Device::Cpu);
    let net = Network::new(&vs.root(), &residual, 5).unwrap();
    let weights = named_weights(&vs);
    assert!(weights.contains_key("1.0.weight") && weights.contains_key("1.1.running_mean"));
    let (logits, _) = net.forward_t(
        &Tensor::rand([2, 3, 32, 32], (Kind::Float, Device::Cpu)),
        false,
    );
    assert_eq!(logits.size(), [2, 5]);
}

#[test]
fn a_spec_whose_kernels_do_not_fit_is_a_clear_error() {
    let mut baseline = spec::variant("baseline").unwrap();
    baseline.preprocess.height = 8;
    baseline.preprocess.width = 8;
    let vs = nn::VarStore::new(Device::Cpu);
    let err = Network::new(&vs.root(), &baseline, 12)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("baseline") && err.contains("does not fit"),
        "{err}"
    );
}

#[test]
fn normalise_uses_the_affine_form_and_nchw_layout() {
    let pre = Preprocess::square(2, Normalisation::EFFICIENTNET_LITE);
    // One 2x2 image, pixel (y, x) channel c = 10 * (2y + x) + c.
    let pixels: Vec<u8> = (0..4u8)
        .flat_map(|p| (0..3u8).map(move |c| 10 * p + c))
        .collect();
    let x = normalise(&Tensor::from_slice(&pixels).view([1, 2, 2, 3]), &pre);
    assert_eq!(x.size(), [1, 3, 2, 2]);
    let affine = pre.normalisation.affine();
    for c in 0..3 {
        for p in 0..4 {
            let (y, xx) = (p / 2, p % 2);
            let expected =
                pixels[(p * 3 + c) as usize] as f32 * affine[c as usize].0 + affine[c as usize].1;
            let got = x.double_value(&[0, c, y, xx]) as f32;
            assert!(
                (got - expected).abs() < 1e-6,
                "c{c} p{p}: {got} vs {expected}"
            );
        }
    }
}

use covergenre::spec::{Augment, ModelSpec, Optimiser, OptimiserKind, Schedule};
use covergenre::train::checkpoint;
use covergenre::train::fit::{fit, read_log};
use covergenre::train::images::ImageSet;
use covergenre::train::run::RunSettings;
use std::path::Path;

const SIZE: u32 = 24;

fn made_up_images(genres: usize, per_genre: usize, seed: u64) -> ImageSet {
    common::made_up_image_set(genres, per_genre, seed, SIZE)
}

/// A small network that exercises BatchNorm, dropout, augmentation and a cosine schedule.
fn tiny_spec() -> ModelSpec {
    let mut spec = spec::variant("compact").unwrap();
    spec.name = "tiny".into();
    spec.preprocess.height = SIZE;
    spec.preprocess.width = SIZE;
    spec.layers = vec![
        Layer::conv_k(8, 3, 1),
        Layer::BatchNorm,
        Layer::Relu,
        Layer::pool(),
        Layer::conv_k(16, 3, 1),
        Layer::Relu,
        Layer::GlobalAvgPool,
        Layer::dropout(0.1),
        Layer::Logits,
    ];
    spec.optimiser = Optimiser {
        kind: OptimiserKind::AdamW,
        learning_rate: 1e-2,
        weight_decay: 1e-3,
    };
    spec.schedule = Schedule::Cosine { warmup_epochs: 1 };
    spec.batch_size = 16;
    spec.epochs = 3;
    spec.early_stopping_patience = None;
    spec.augment = Some(Augment {
        rotation_deg: 10.0,
        shift: 0.1,
        shear: 0.05,
        zoom: 0.1,
        horizontal_flip: true,
        brightness: Some((0.9, 1.1)),
        crop_area: None,
        contrast: None,
        saturation: None,
    });
    spec
}

fn settings(dir: &Path, seed: u64) -> RunSettings {
    RunSettings {
        seed,
        device: Device::Cpu,
        dir: dir.to_path_buf(),
        resume: false,
        halt_after_epochs: None,
        label: "test".into(),
        precision: Precision::Fp32,
    }
}

#[test]
fn a_few_epochs_reduce_the_loss_and_beat_chance_on_held_out_images() {
    assert_learns(Precision::Fp32);
}

#[test]
fn training_steps_in_bf16_mixed_precision_learn_too() {
    assert_learns(Precision::Bf16);
}

/// A few epochs of the tiny spec in `precision` lower the loss, beat chance on held-out images,
/// and the saved best weights reproduce the logged (float32) selection accuracy.
fn assert_learns(precision: Precision) {
    let train = made_up_images(4, 24, 0);
    let held_out = made_up_images(4, 8, 10_000);
    let dir = tempfile::tempdir().unwrap();
    let spec = ModelSpec {
        epochs: 4,
        ..tiny_spec()
    };
    let run = RunSettings {
        precision,
        ..settings(dir.path(), 1)
    };
    let outcome = fit(&spec, 4, &train, &held_out, &run).unwrap();
    for epoch in &outcome.history {
        assert!(
            0.0 < epoch.input_seconds && epoch.input_seconds < epoch.train_seconds,
            "making batches is timed, as part of the training pass: {epoch:?}"
        );
    }
    let first = &outcome.history[0];
    let last = outcome.history.last().unwrap();
    assert!(
        last.train_loss < first.train_loss * 0.8,
        "loss {} -> {}",
        first.train_loss,
        last.train_loss
    );
    // Chance is 0.25 with four balanced genres.
    assert!(outcome.best.dev_accuracy >= 0.6, "{:?}", outcome.best);
    assert!(outcome.best.dev_macro_f1 >= 0.5, "{:?}", outcome.best);
    assert!(outcome.finished && !outcome.stopped_early);
    assert_eq!(
        read_log(&dir.path().join("log.csv")).unwrap(),
        outcome.history
    );
    // best.safetensors holds the best epoch: evaluating it reproduces the logged accuracy.
    let _rng = covergenre::train::rng_guard();
    let vs = nn::VarStore::new(Device::Cpu);
    let net = Network::new(&vs.root(), &spec, 4).unwrap();
    checkpoint::load_weights(&outcome.best_weights, &vs).unwrap();
    let (x, y) = (
        Tensor::from_slice(&held_out.pixels).view([32, SIZE as i64, SIZE as i64, 3]),
        Tensor::from_slice(
            &held_out
                .labels
                .iter()
                .map(|&l| l as i64)
                .collect::<Vec<_>>(),
        ),
    );
    let eval = covergenre::train::fit::evaluate(&net, &spec, &x, &y, 4);
    assert_eq!(eval.confusion.accuracy(), outcome.best.dev_accuracy);
}

/// The smallest square input from 24 px up that the variant's layers accept.
fn smallest_input(spec: &ModelSpec) -> u32 {
    (24..=128)
        .step_by(8)
        .find(|&size| {
            let mut s = spec.clone();
            s.preprocess.height = size;
            s.preprocess.width = size;
            spec::output_shapes(&s, 12).is_ok()
        })
        .expect("every variant fits 128 px")
}

#[test]
fn every_variant_takes_a_training_step_on_cpu() {
    for variant in spec::variants() {
        let size = smallest_input(&variant);
        let spec = ModelSpec {
            preprocess: Preprocess {
                height: size,
                width: size,
                ..variant.preprocess
            },
            epochs: 1,
            batch_size: 4,
            ..variant.clone()
        };
        let images = ImageSet {
            pixels: (0..4 * size * size * 3)
                .map(|i| (i * 7 % 251) as u8)
                .collect(),
            labels: vec![0, 3, 5, 11],
            height: size as usize,
            width: size as usize,
        };
        let dir = tempfile::tempdir().unwrap();
        let outcome = fit(&spec, 12, &images, &images, &settings(dir.path(), 3))
            .unwrap_or_else(|e| panic!("{}: {e:#}", spec.name));
        assert_eq!(outcome.history.len(), 1, "{}", spec.name);
        assert!(outcome.history[0].train_loss.is_finite());

        // The step moved the weights away from their seeded initial values.
        let _rng = covergenre::train::rng_guard();
        tch::manual_seed(covergenre::train::seed::derive_seed(3, 0));
        let initial = nn::VarStore::new(Device::Cpu);
        Network::new(&initial.root(), &spec, 12).unwrap();
        let trained = nn::VarStore::new(Device::Cpu);
        Network::new(&trained.root(), &spec, 12).unwrap();
        checkpoint::load_weights(&outcome.best_weights, &trained).unwrap();
        let (before, after) = (named_weights(&initial), named_weights(&trained));
        let logits = format!("{}.weight", spec.layers.len() - 1);
        assert_ne!(
            before[&logits], after[&logits],
            "{}: logits did not move",
            spec.name
        );
    }
}

#[test]
fn a_run_killed_after_epoch_one_and_resumed_ends_with_identical_weights() {
    assert_resume_is_exact(Precision::Fp32);
}

#[test]
fn a_resumed_bf16_run_is_exact_too() {
    assert_resume_is_exact(Precision::Bf16);
}

fn assert_resume_is_exact(precision: Precision) {
    let settings = |dir: &Path, seed| RunSettings {
        precision,
        ..settings(dir, seed)
    };
    let train = made_up_images(3, 12, 0);
    let dev = made_up_images(3, 4, 500);
    let spec = tiny_spec();
    let whole_dir = tempfile::tempdir().unwrap();
    let whole = fit(&spec, 3, &train, &dev, &settings(whole_dir.path(), 9)).unwrap();

    let killed_dir = tempfile::tempdir().unwrap();
    let mut killed = settings(killed_dir.path(), 9);
    killed.halt_after_epochs = Some(1);
    let halted = fit(&spec, 3, &train, &dev, &killed).unwrap();
    assert!(!halted.finished);
    assert_eq!(halted.history.len(), 1);

    // Without --resume an existing checkpoint is not silently overwritten.
    let refused = fit(&spec, 3, &train, &dev, &settings(killed_dir.path(), 9)).unwrap_err();
    assert!(refused.to_string().contains("--resume"), "{refused}");
    // A resume with other settings is refused too.
    let mut other_seed = settings(killed_dir.path(), 10);
    other_seed.resume = true;
    let refused = fit(&spec, 3, &train, &dev, &other_seed).unwrap_err();
    assert!(refused.to_string().contains("other settings"), "{refused}");
    let other_precision = RunSettings {
        precision: match precision {
            Precision::Fp32 => Precision::Bf16,
            Precision::Bf16 => Precision::Fp32,
        },
        resume: true,
        ..settings(killed_dir.path(), 9)
    };
    let refused = fit(&spec, 3, &train, &dev, &other_precision).unwrap_err();
    assert!(refused.to_string().contains("precision"), "{refused}");

    let mut resume = settings(killed_dir.path(), 9);
    resume.resume = true;
    let resumed = fit(&spec, 3, &train, &dev, &resume).unwrap();
    assert!(resumed.finished);
    assert_eq!(resumed.history.len(), 3);

    for (r, w) in resumed.history.iter().zip(&whole.history) {
        // Bit for bit: the history of the first epoch comes back from the checkpoint's JSON.
        assert_eq!(
            (r.train_loss, r.dev_loss, r.dev_macro_f1, r.learning_rate),
            (w.train_loss, w.dev_loss, w.dev_macro_f1, w.learning_rate)
        );
    }
    let tensors = |dir: &Path| {
        let mut t = Tensor::read_safetensors(dir.join(checkpoint::CHECKPOINT_FILE)).unwrap();
        t.retain(|(name, _)| name != "state.json");
        t.sort_by(|a, b| a.0.cmp(&b.0));
        t
    };
    let (a, b) = (tensors(whole_dir.path()), tensors(killed_dir.path()));
    assert_eq!(a.len(), b.len());
    assert!(a.iter().any(|(n, _)| n.ends_with("running_mean")));
    assert!(a.iter().any(|(n, _)| n.starts_with("optim.")));
    for ((name_a, ta), (name_b, tb)) in a.iter().zip(&b) {
        assert_eq!(name_a, name_b);
        assert!(ta.equal(tb), "{name_a} differs after resume");
    }
}

#[test]
fn bad_settings_are_clear_errors() {
    let images = made_up_images(2, 2, 0);
    let dir = tempfile::tempdir().unwrap();
    let zero_epochs = ModelSpec {
        epochs: 0,
        ..tiny_spec()
    };
    let err = fit(&zero_epochs, 2, &images, &images, &settings(dir.path(), 1)).unwrap_err();
    assert!(
        err.to_string().contains("epochs must be at least 1"),
        "{err}"
    );
    let err = fit(
        &tiny_spec(),
        2,
        &images,
        &ImageSet {
            height: 24,
            width: 24,
            ..Default::default()
        },
        &settings(dir.path(), 1),
    )
    .unwrap_err();
    assert!(err.to_string().contains("no images to select on"), "{err}");
    let mut wrong_size = images.clone();
    wrong_size.height = 16;
    let err = fit(
        &tiny_spec(),
        2,
        &wrong_size,
        &images,
        &settings(dir.path(), 1),
    )
    .unwrap_err();
    assert!(err.to_string().contains("the spec wants 24x24"), "{err}");
}
