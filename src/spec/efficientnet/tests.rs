//! Unit tests of [`super`] (efficientnet.rs).

use super::super::output_shapes;
use super::*;

#[test]
fn tf_same_padding_is_asymmetric_only_for_stride_two_on_even_sizes() {
    assert_eq!(tf_same_padding(224, 3, 2), (0, 1));
    assert_eq!(tf_same_padding(112, 5, 2), (1, 2));
    assert_eq!(tf_same_padding(56, 3, 1), (1, 1));
    assert_eq!(tf_same_padding(14, 5, 1), (2, 2));
    assert_eq!(tf_same_padding(7, 1, 1), (0, 0));
    assert_eq!(tf_same_padding(225, 3, 2), (1, 1));
}

#[test]
fn lite0_has_the_published_shapes() {
    let spec = effnet_lite0();
    let shapes = output_shapes(&spec, IMAGENET_CLASSES).unwrap();
    // Stem 112x112x32, then the stage outputs, head 7x7x1280, 1000 logits.
    for expected in [
        (32, 112, 112),
        (16, 112, 112),
        (24, 56, 56),
        (40, 28, 28),
        (80, 14, 14),
        (112, 14, 14),
        (192, 7, 7),
        (320, 7, 7),
        (1280, 7, 7),
        (1280, 1, 1),
    ] {
        assert!(shapes.contains(&expected), "missing {expected:?}");
    }
    assert_eq!(*shapes.last().unwrap(), (IMAGENET_CLASSES, 1, 1));
}

/// Lite2 as published: width 1.1, depth 1.2, 260x260, 21 blocks, stem and head kept.
#[test]
fn lite2_has_the_published_shapes() {
    let stages = Backbone::Lite2.stages();
    let outs: Vec<usize> = stages.iter().map(|s| s.out).collect();
    assert_eq!(outs, [16, 24, 48, 88, 120, 208, 352]);
    let repeats: Vec<usize> = stages.iter().map(|s| s.repeats).collect();
    assert_eq!(repeats, [1, 3, 3, 4, 4, 5, 1]);
    assert_eq!(Backbone::Lite2.layout().block_starts.len(), 21);
    assert_eq!(Backbone::Lite0.stages(), LITE0_STAGES.to_vec());
    let spec = effnet_lite2();
    assert_eq!(spec.preprocess.height, 260);
    let shapes = output_shapes(&spec, IMAGENET_CLASSES).unwrap();
    // 260 -> 130 -> 65 -> 33 -> 17 -> 9 under TF "SAME" padding.
    for expected in [
        (32, 130, 130),
        (24, 65, 65),
        (48, 33, 33),
        (88, 17, 17),
        (120, 17, 17),
        (208, 9, 9),
        (352, 9, 9),
        (1280, 9, 9),
    ] {
        assert!(shapes.contains(&expected), "missing {expected:?}");
    }
    assert_eq!(*shapes.last().unwrap(), (IMAGENET_CLASSES, 1, 1));
}

#[test]
fn round_filters_follows_tensorflow() {
    // 8 is the floor; rounding never goes more than 10% below the scaled value.
    assert_eq!(round_filters(16, 1.1), 16);
    assert_eq!(round_filters(40, 1.1), 48);
    assert_eq!(round_filters(112, 1.1), 120);
    assert_eq!(round_filters(4, 1.0), 8);
    assert_eq!(round_filters(320, 1.0), 320);
}

#[test]
fn the_registry_names_each_backbone_once() {
    assert_eq!(
        Backbone::from_loader("efficientnet-lite2"),
        Some(Backbone::Lite2)
    );
    assert_eq!(Backbone::from_loader("efficientnet-b0"), None);
    let names: Vec<String> = variants().into_iter().map(|s| s.name).collect();
    assert_eq!(
        names,
        [
            "effnet-lite0",
            "effnet-lite0-deep",
            "effnet-lite2",
            "effnet-lite2-deep"
        ]
    );
    // The deep recipe trains everything at 1/16 and 1/32 of the input: Lite0 blocks 6-15
    // (14x14 and 7x7), Lite2 blocks 8-20.
    assert_eq!(Backbone::Lite0.deep_from_block(), 6);
    assert!(Backbone::Lite0
        .deep_spec()
        .description
        .contains("blocks 6-15"));
    // Phase 2 starts after the last stride-2 block: Lite0 blocks 12-15, Lite2 16-20.
    assert_eq!(Backbone::Lite0.finetune_from_block(), 12);
    assert_eq!(Backbone::Lite2.finetune_from_block(), 16);
    assert!(effnet_lite2().description.contains("blocks 16-20"));
    assert!(effnet_lite0().description.contains("blocks 12-15"));
    for backbone in Backbone::ALL {
        let spec = backbone.spec();
        let p = spec.pretrained.unwrap();
        assert_eq!(p.loader, backbone.loader());
        assert_eq!(
            p.finetune_from_layer,
            backbone.layout().block_starts[backbone.finetune_from_block()]
        );
    }
}

#[test]
fn blocks_that_keep_their_shape_are_residual() {
    let layout = lite0_layout();
    assert_eq!(layout.block_starts.len(), 16);
    let residual: Vec<usize> = (0..16)
        .filter(|&b| {
            matches!(
                layout.layers[layout.block_starts[b]],
                Layer::Residual { .. }
            )
        })
        .collect();
    // Every block but the first of each stage, and stage 1 (32 -> 16) has a single block.
    assert_eq!(residual, vec![2, 4, 6, 7, 9, 10, 12, 13, 14]);
}

#[test]
fn every_checkpoint_module_points_at_a_layer_of_its_kind() {
    let layout = lite0_layout();
    let find = |path: &[usize]| -> &Layer {
        match path {
            [i] => &layout.layers[*i],
            [i, j] => match &layout.layers[*i] {
                Layer::Residual { body } => &body[*j],
                other => panic!("{path:?} is inside {other:?}"),
            },
            _ => panic!("unexpected path {path:?}"),
        }
    };
    // stem + head: conv + BN each; 16 blocks: 3 conv + 3 BN, but block 0 has no expansion.
    assert_eq!(layout.modules.len(), 4 + 16 * 6 - 2 + 1);
    for m in &layout.modules {
        let layer = find(&m.path);
        let ok = match m.kind {
            ModuleKind::Conv => matches!(layer, Layer::Conv { bias: false, .. }),
            ModuleKind::BatchNorm => matches!(layer, Layer::BatchNorm),
            ModuleKind::Classifier => matches!(layer, Layer::Logits),
        };
        assert!(ok, "{} -> {:?} is {layer:?}", m.checkpoint, m.path);
    }
    let names: std::collections::HashSet<_> =
        layout.modules.iter().map(|m| &m.checkpoint).collect();
    assert_eq!(
        names.len(),
        layout.modules.len(),
        "checkpoint names are unique"
    );
}

#[test]
fn stride_two_convs_carry_the_tf_same_offset() {
    let modules = lite0_checkpoint_modules();
    let offset_of = |name: &str| {
        modules
            .iter()
            .find(|m| m.checkpoint == name)
            .unwrap()
            .kernel_offset
    };
    assert_eq!(offset_of("_conv_stem"), 1);
    for block in [1, 3, 5, 11] {
        assert_eq!(
            offset_of(&format!("_blocks.{block}._depthwise_conv")),
            1,
            "block {block}"
        );
    }
    for block in [0, 2, 4, 6, 8, 12, 15] {
        assert_eq!(
            offset_of(&format!("_blocks.{block}._depthwise_conv")),
            0,
            "block {block}"
        );
    }
    let shifted = modules.iter().filter(|m| m.kernel_offset > 0).count();
    assert_eq!(shifted, 5);
}

#[test]
fn known_layers_land_where_expected() {
    let modules = lite0_checkpoint_modules();
    let path_of = |name: &str| {
        modules
            .iter()
            .find(|m| m.checkpoint == name)
            .unwrap()
            .path
            .clone()
    };
    assert_eq!(path_of("_conv_stem"), vec![0]);
    assert_eq!(path_of("_bn0"), vec![1]);
    // Block 0 (no expansion, 32 -> 16) is flat from index 3.
    assert_eq!(path_of("_blocks.0._depthwise_conv"), vec![3]);
    assert_eq!(path_of("_blocks.0._bn2"), vec![7]);
    // Block 1 is flat (stride 2), block 2 a residual right after it.
    assert_eq!(path_of("_blocks.1._expand_conv"), vec![8]);
    assert_eq!(path_of("_blocks.2._expand_conv"), vec![16, 0]);
    assert_eq!(path_of("_blocks.2._bn2"), vec![16, 7]);
    let n = effnet_lite0().layers.len();
    assert_eq!(path_of("_fc"), vec![n - 1]);
    assert_eq!(path_of("_conv_head"), vec![n - 6]);
}

#[test]
fn the_frozen_part_ends_at_the_pooled_features() {
    let spec = effnet_lite0();
    let p = spec.pretrained.as_ref().unwrap();
    assert!(matches!(
        spec.layers[p.frozen_layers - 1],
        Layer::GlobalAvgPool
    ));
    assert!(p.finetune_from_layer < p.frozen_layers);
    let shapes = output_shapes(&spec, 12).unwrap();
    assert_eq!(shapes[p.frozen_layers - 1], (HEAD_CHANNELS, 1, 1));
    // Fine-tuning starts at the first 7x7 block after the stride-2 one (block 12).
    assert_eq!(shapes[p.finetune_from_layer - 1], (192, 7, 7));
    assert!(matches!(
        spec.layers[p.finetune_from_layer],
        Layer::Residual { .. }
    ));
}
