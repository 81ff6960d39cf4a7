//! Training: the spec -> tch builder, the training loop, checkpoints and resume, the CLI.
#![cfg(feature = "train")]

mod common;

use covergenre::preprocess::{Normalisation, Preprocess};
use covergenre::spec::{self, Layer};
use covergenre::train::{named_weights, normalise, Network};
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
