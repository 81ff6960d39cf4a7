//! The built-in variants (`--variants NAME`, `--list-variants`): the study's Keras CNNs, a
//! compact CNN, and the EfficientNet-Lite transfer specs ([`super::efficientnet`]).

use super::{
    efficientnet, Augment, Layer, ModelSpec, Optimiser, OptimiserKind, Schedule, TrainOn,
    HOLDOUT_FRACTION,
};
use crate::preprocess::{Normalisation, Preprocess};

fn adam(learning_rate: f64) -> Optimiser {
    Optimiser {
        kind: OptimiserKind::Adam,
        learning_rate,
        weight_decay: 0.0,
    }
}

/// The study's defaults: 128x128 inputs scaled to [0, 1], Adam 1e-3, batch 32, 10 epochs.
fn study(name: &str, description: &str, layers: Vec<Layer>) -> ModelSpec {
    ModelSpec {
        name: name.into(),
        description: description.into(),
        preprocess: Preprocess::square(128, Normalisation::UNIT),
        layers,
        optimiser: adam(1e-3),
        schedule: Schedule::Constant,
        epochs: 10,
        batch_size: 32,
        early_stopping_patience: None,
        label_smoothing: 0.0,
        balanced_class_weights: false,
        logit_adjustment: 0.0,
        augment: None,
        train_on: TrainOn::Train,
        pretrained: None,
    }
}

fn baseline_layers(first_conv: usize, l1: Option<f64>) -> Vec<Layer> {
    let regulariser = || l1.map(|weight| Layer::ActivityL1 { weight });
    let mut layers = vec![Layer::conv(first_conv), Layer::Relu, Layer::pool()];
    layers.extend([Layer::conv(64), Layer::Relu]);
    layers.extend(regulariser());
    layers.push(Layer::pool());
    layers.extend([Layer::conv(64), Layer::Relu]);
    layers.extend(regulariser());
    layers.extend([
        Layer::Flatten,
        Layer::Dense { units: 64 },
        Layer::Relu,
        Layer::Logits,
    ]);
    layers
}

/// Conv-ReLU-MaxPool-Dropout blocks.
fn dropout_blocks(filters: &[usize], p: f64) -> Vec<Layer> {
    filters
        .iter()
        .flat_map(|&out| {
            [
                Layer::conv(out),
                Layer::Relu,
                Layer::pool(),
                Layer::dropout(p),
            ]
        })
        .collect()
}

fn dropout_variant(name: &str, description: &str, first: usize) -> ModelSpec {
    let mut layers = dropout_blocks(&[first, 64, 128], 0.2);
    layers.extend([
        Layer::Flatten,
        Layer::Dense { units: 64 },
        Layer::Relu,
        Layer::dropout(0.2),
        Layer::Logits,
    ]);
    study(name, description, layers)
}

fn early_stop_variant(name: &str, description: &str) -> ModelSpec {
    let mut layers = dropout_blocks(&[64, 64, 64, 64], 0.2);
    layers.extend([Layer::Flatten, Layer::Logits]);
    ModelSpec {
        epochs: 6,
        early_stopping_patience: Some(2),
        ..study(name, description, layers)
    }
}

fn train_plus_dev() -> TrainOn {
    TrainOn::TrainPlusDev {
        holdout_fraction: HOLDOUT_FRACTION,
    }
}

fn augment_variant(name: &str, description: &str, color: bool, batch_size: usize) -> ModelSpec {
    let base = early_stop_variant(name, description);
    ModelSpec {
        batch_size,
        augment: Some(Augment {
            brightness: color.then_some((0.75, 1.25)),
            crop_area: None,
            contrast: None,
            saturation: None,
            ..Augment::STUDY
        }),
        train_on: if color {
            train_plus_dev()
        } else {
            TrainOn::Train
        },
        ..base
    }
}

/// conv3x3(same)-BatchNorm-ReLU, without conv bias (BatchNorm has one).
fn conv_bn_relu(out: usize, stride: usize) -> [Layer; 3] {
    [
        Layer::Conv {
            out,
            kernel: 3,
            stride,
            padding: 1,
            groups: 1,
            bias: false,
        },
        Layer::BatchNorm,
        Layer::Relu,
    ]
}

/// Ours, the from-scratch model to beat. Expected on covers-v1 with these defaults (seed 42, bf16,
/// 2 threads, ~4 min): best dev macro-F1 0.199 at epoch 20; test accuracy 0.380, macro-F1 0.200
/// (the study's `baseline`: 0.277 / 0.132). See docs/results-training.md.
fn compact() -> ModelSpec {
    let mut layers = Vec::new();
    // A stride-2 stem keeps the CPU cost low at 128x128; every later stage halves the size.
    layers.extend(conv_bn_relu(24, 2));
    for out in [48, 96, 192] {
        layers.extend(conv_bn_relu(out, 1));
        layers.push(Layer::pool());
    }
    layers.extend(conv_bn_relu(256, 1));
    layers.extend([Layer::GlobalAvgPool, Layer::dropout(0.3), Layer::Logits]);
    ModelSpec {
        name: "compact".into(),
        description:
            "ours: conv-BN-ReLU blocks, global average pooling, dropout 0.3, label smoothing 0.1, \
                      AdamW 2e-3 with cosine decay, flips/shifts/zooms/brightness; selected on dev"
                .into(),
        preprocess: Preprocess::square(128, Normalisation::UNIT),
        layers,
        optimiser: Optimiser {
            kind: OptimiserKind::AdamW,
            learning_rate: 2e-3,
            weight_decay: 5e-2,
        },
        schedule: Schedule::Cosine { warmup_epochs: 1 },
        epochs: 20,
        batch_size: 32,
        early_stopping_patience: Some(6),
        label_smoothing: 0.1,
        balanced_class_weights: false,
        logit_adjustment: 0.0,
        augment: Some(Augment {
            rotation_deg: 10.0,
            shift: 0.1,
            shear: 0.0,
            zoom: 0.15,
            horizontal_flip: true,
            brightness: Some((0.8, 1.2)),
            crop_area: None,
            contrast: None,
            saturation: None,
        }),
        train_on: TrainOn::Train,
        pretrained: None,
    }
}

/// Every built-in variant, in the order `--list-variants` shows them.
pub fn variants() -> Vec<ModelSpec> {
    let mut all = vec![
        study(
            "baseline",
            "study: Conv32-Pool-Conv64-Pool-Conv64-Dense64, Adam 1e-3, 10 epochs",
            baseline_layers(32, None),
        ),
        ModelSpec {
            preprocess: Preprocess::square(90, Normalisation::UNIT),
            ..study(
                "activity-l1",
                "study: 90x90 input, first conv 90 filters, L1 0.001 activity regulariser on convs 2 and 3",
                baseline_layers(90, Some(0.001)),
            )
        },
        {
            let mut layers = dropout_blocks(&[64, 64, 64], 0.2);
            layers.extend([Layer::Flatten, Layer::Dense { units: 128 }, Layer::Relu, Layer::Logits]);
            ModelSpec {
                optimiser: adam(0.01),
                ..study("lr-0.01", "study: three Conv64 with dropout 0.2, Dense128, Adam lr 0.01", layers)
            }
        },
        dropout_variant("dropout", "study: Conv32/64/128, dropout 0.2 after the pools and the dense layer", 32),
        dropout_variant("dropout-wide", "study: as dropout with a 128-filter first conv", 128),
        early_stop_variant(
            "early-stop",
            "study: four Conv64+MaxPool blocks, dropout 0.2, flatten to 12, 6 epochs, early stopping",
        ),
        ModelSpec {
            train_on: train_plus_dev(),
            ..early_stop_variant(
                "more-data",
                "study: early-stop on train+dev; selected on a fixed 10% slice of train held back",
            )
        },
        augment_variant(
            "augment",
            "study: early-stop + rotation 45, shift/shear/zoom 0.2, flip, nearest fill, batch 64",
            false,
            64,
        ),
        augment_variant(
            "augment-color",
            "study: augment + brightness 0.75-1.25 on train+dev; selected on a held-back 10% of train",
            true,
            64,
        ),
        augment_variant(
            "augment-b32",
            "study: augment-color with batch 32; selected on a held-back 10% of train",
            true,
            32,
        ),
        ModelSpec {
            balanced_class_weights: true,
            logit_adjustment: 0.0,
            train_on: train_plus_dev(),
            ..early_stop_variant(
                "class-weights",
                "study: early-stop with balanced class weights on train+dev; selected on a held-back 10% of train",
            )
        },
        compact(),
    ];
    all.extend(efficientnet::variants());
    all
}

/// Looks a variant up by name.
pub fn variant(name: &str) -> Option<ModelSpec> {
    variants().into_iter().find(|v| v.name == name)
}
