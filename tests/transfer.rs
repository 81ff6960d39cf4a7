//! Transfer learning (train::transfer) on a tiny made-up dataset with a tiny spec that has
//! `pretrained` set; no ImageNet weights are loaded (`weights: None`), the phases are the same.
#![cfg(feature = "train")]

mod common;

use covergenre::genres::GenreSet;
use covergenre::spec::{
    self, Augment, DeepFinetune, Distill, Layer, ModelSpec, Optimiser, OptimiserKind, Pretrained,
    Views,
};
use covergenre::train::checkpoint;
use covergenre::train::feature_cache::{FeatureCache, FeatureCaches};
use covergenre::train::fit::{logit_offsets, read_log};
use covergenre::train::images::ImageSet;
use covergenre::train::run::RunSettings;
use covergenre::train::seed::derive_seed;
use covergenre::train::transfer::{fit_transfer, validate_pretrained};
use covergenre::train::{normalise, Mode, Network, Precision};
use std::path::Path;
use tch::{nn, Device, Kind, Tensor};

const SIZE: u32 = 16;
const HEAD_EPOCHS: usize = 4;
const EPOCHS: usize = 7;

fn made_up_images(genres: usize, per_genre: usize, seed: u64) -> ImageSet {
    common::made_up_image_set(genres, per_genre, seed, SIZE)
}

/// Frozen: layers 0-1; fine-tuned: 2-4 (conv, BN, ReLU); pooled features after layer 5; head: 6-7.
fn tiny_pretrained_spec() -> ModelSpec {
    let mut spec = spec::variant("compact").unwrap();
    spec.name = "tiny-transfer".into();
    spec.preprocess.height = SIZE;
    spec.preprocess.width = SIZE;
    spec.layers = vec![
        Layer::conv_k(8, 3, 1),
        Layer::Relu,
        Layer::conv_k(16, 3, 1),
        Layer::BatchNorm,
        Layer::Relu,
        Layer::GlobalAvgPool,
        Layer::dropout(0.1),
        Layer::Logits,
    ];
    spec.optimiser = Optimiser {
        kind: OptimiserKind::AdamW,
        learning_rate: 3e-2,
        weight_decay: 1e-4,
    };
    spec.batch_size = 16;
    spec.epochs = EPOCHS;
    spec.early_stopping_patience = None;
    spec.label_smoothing = 0.0;
    spec.pretrained = Some(Pretrained {
        loader: "none".into(),
        frozen_layers: 6,
        head_epochs: HEAD_EPOCHS,
        finetune_from_layer: 2,
        finetune_lr_scale: 0.3,
        deep: None,
        views: Views::default(),
        distill: None,
    });
    spec
}

/// The training genres of the made-up covers, named after their dominant colours
/// (`common::genre_cover`): genre g is `GENRE_SLUGS[g]`.
const GENRE_SLUGS: [&str; 3] = ["red", "blue", "green"];

fn genres(n: usize) -> GenreSet {
    GenreSet::from_slugs(GENRE_SLUGS[..n].iter().map(|s| s.to_string()))
}

fn settings(dir: &std::path::Path) -> RunSettings {
    RunSettings {
        seed: 3,
        device: Device::Cpu,
        dir: dir.to_path_buf(),
        resume: false,
        halt_after_epochs: None,
        label: "transfer test".into(),
        precision: Precision::Fp32,
    }
}

fn weight(vs: &nn::VarStore, name: &str) -> Tensor {
    vs.variables()[name].detach().copy()
}

/// One run of `spec` into `dir` with a cache of its own, 3 genres.
fn fit_alone(
    spec: &ModelSpec,
    train: &ImageSet,
    dev: &ImageSet,
    dir: &std::path::Path,
) -> covergenre::train::transfer::TransferOutcome {
    fit_transfer(
        spec,
        &genres(3),
        train,
        dev,
        &settings(dir),
        None,
        &mut FeatureCaches::default(),
    )
    .unwrap()
}

/// What a run learnt, epoch by epoch (timings left out).
fn learning(history: &[covergenre::train::run::EpochRecord]) -> Vec<[f64; 4]> {
    history
        .iter()
        .map(|e| [e.train_loss, e.dev_loss, e.dev_accuracy, e.dev_macro_f1])
        .collect()
}

#[test]
fn runs_over_the_same_frozen_backbone_share_one_cache_and_learn_as_they_would_alone() {
    let train = made_up_images(3, 8, 0);
    let dev = made_up_images(3, 4, 50_000);
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, spec: &ModelSpec, train: &ImageSet, caches: &mut FeatureCaches| {
        let settings = settings(&dir.path().join(name));
        let outcome = fit_transfer(spec, &genres(3), train, &dev, &settings, None, caches).unwrap();
        learning(&outcome.run.history)
    };
    let spec = tiny_pretrained_spec();
    // Another recipe after the frozen layers (as the augmentation ablations differ).
    let mut other_head = spec.clone();
    other_head.name = "other-head".into();
    other_head.optimiser.learning_rate = 1e-2;

    let mut shared = FeatureCaches::default();
    let first = run("first", &spec, &train, &mut shared);
    let second = run("second", &other_head, &train, &mut shared);
    assert_eq!(
        shared.computed(),
        1,
        "the second run reuses the first one's cache"
    );
    assert_eq!(
        first,
        run("first-alone", &spec, &train, &mut FeatureCaches::default())
    );
    assert_eq!(
        second,
        run(
            "second-alone",
            &other_head,
            &train,
            &mut FeatureCaches::default()
        )
    );
    assert_ne!(first, second, "the two recipes do differ");

    // Another frozen part, or other covers, get a cache of their own.
    let mut deeper = spec.clone();
    deeper.pretrained.as_mut().unwrap().finetune_from_layer = 3;
    run("deeper", &deeper, &train, &mut shared);
    assert_eq!(shared.computed(), 2);
    run("fewer", &spec, &made_up_images(3, 6, 0), &mut shared);
    assert_eq!(shared.computed(), 3);
    run("fewer-again", &spec, &made_up_images(3, 6, 0), &mut shared);
    assert_eq!(shared.computed(), 3);

    // A changed view recipe (more views, or other random draws) is never served an old cache.
    let mut more_views = spec.clone();
    more_views.pretrained.as_mut().unwrap().views.count = 3;
    run("more-views", &more_views, &train, &mut shared);
    assert_eq!(shared.computed(), 4);
    let mut reseeded = more_views.clone();
    reseeded.pretrained.as_mut().unwrap().views.seed = 9;
    run("reseeded-views", &reseeded, &train, &mut shared);
    assert_eq!(shared.computed(), 5);
    run("reseeded-again", &reseeded, &train, &mut shared);
    assert_eq!(shared.computed(), 5);
}

/// Each cached view has maps of its own: view 0 is the covers' maps, view 1 their mirror
/// images' maps, and view 2 (a random crop with colour jitter) something else again.
#[test]
fn multi_view_caches_hold_each_views_own_maps() {
    let train = made_up_images(3, 4, 0);
    let dev = made_up_images(3, 2, 50_000);
    let mut spec = tiny_pretrained_spec();
    spec.pretrained.as_mut().unwrap().views.count = 3;
    let cache = |spec: &ModelSpec, train: &ImageSet| {
        let _rng = covergenre::train::rng_guard();
        tch::manual_seed(derive_seed(3, 0));
        let vs = nn::VarStore::new(Device::Cpu);
        let net = Network::new(&vs.root(), spec, 3).unwrap();
        let pretrained = spec.pretrained.as_ref().unwrap();
        FeatureCache::compute((&net, &vs), spec, pretrained, (train, &dev), Device::Cpu).unwrap()
    };
    let views = cache(&spec, &train);
    let n = train.len() as i64;
    assert_eq!(views.train_maps.size()[0], 3 * n);
    assert_eq!(views.train_labels.size()[0], 3 * n);
    assert_eq!(views.backbone_images, 3 * train.len() + dev.len());
    let view = |v: i64| views.train_maps.narrow(0, v * n, n);

    let mut one_view = spec.clone();
    one_view.pretrained.as_mut().unwrap().views.count = 1;
    let plain = cache(&one_view, &train);
    let mirrored = cache(&one_view, &mirror(&train));
    assert!(view(0).allclose(&plain.train_maps, 1e-5, 1e-5, false));
    assert!(view(1).allclose(&mirrored.train_maps, 1e-5, 1e-5, false));
    for other in [&view(0), &view(1)] {
        let difference = (&view(2) - other).abs().max().double_value(&[]);
        assert!(
            difference > 1e-2,
            "view 2 repeats another view: {difference}"
        );
    }
}

/// `set` with every cover mirrored left-right.
fn mirror(set: &ImageSet) -> ImageSet {
    let (h, w) = (set.height, set.width);
    let mut pixels = set.pixels.clone();
    for image in pixels.chunks_exact_mut(h * w * 3) {
        for row in image.chunks_exact_mut(w * 3) {
            let original = row.to_vec();
            for x in 0..w {
                row[x * 3..x * 3 + 3].copy_from_slice(&original[(w - 1 - x) * 3..(w - x) * 3]);
            }
        }
    }
    ImageSet {
        pixels,
        ..set.clone()
    }
}

/// A teacher for the made-up covers: the mean-colour model at their size, which scores each
/// colour's genre by its channel's mean (0-255, so a gain of 0.015 puts the dominant colour
/// about 2.4 above the others), in another order than the training genres and with a fourth
/// genre the training set lacks. It agrees with the labels, with less confidence
/// than a student trained on the labels alone comes to have.
fn colour_teacher(dir: &Path, slugs: [&str; 4]) -> std::path::PathBuf {
    let path = dir.join("teacher.onnx");
    common::put(&path, &common::colour_model_bytes_for(0.015, SIZE, slugs));
    path
}

/// The student's logits for `set` from the weights in `file`.
fn student_logits(spec: &ModelSpec, file: &Path, set: &ImageSet) -> Tensor {
    let _rng = covergenre::train::rng_guard();
    let vs = nn::VarStore::new(Device::Cpu);
    let net = Network::new(&vs.root(), spec, 3).unwrap();
    checkpoint::load_weights(file, &vs).unwrap();
    let pixels = Tensor::from_slice(&set.pixels).view([
        set.len() as i64,
        set.height as i64,
        set.width as i64,
        3,
    ]);
    tch::no_grad(|| {
        let x = normalise(&pixels, &spec.preprocess);
        net.forward_range(&x, 0..net.layer_count(), Mode::EVAL)
    })
}

/// KL(teacher || student) over `set`, the teacher read by onnxruntime as classify reads it.
fn kl_to_teacher(teacher: &Path, student: &Tensor, set: &ImageSet) -> f64 {
    let mut model = covergenre::infer::Model::open(teacher, 1).unwrap();
    let predictions = model.predict(&set.pixels, set.len()).unwrap();
    let p: Vec<f32> = predictions
        .probabilities
        .rows()
        .into_iter()
        .flat_map(|row| {
            // Teacher columns red, green, blue, folk; training genres red, blue, green.
            let kept = row[0] + row[1] + row[2];
            [row[0] / kept, row[2] / kept, row[1] / kept]
        })
        .collect();
    let p = Tensor::from_slice(&p).view([set.len() as i64, 3]);
    let log_q = student.log_softmax(-1, Kind::Float);
    (&p * (p.log() - log_q)).sum(Kind::Float).double_value(&[]) / set.len() as f64
}

#[test]
fn a_distilled_student_moves_toward_its_teacher_and_its_loss_with_the_teacher_term_falls() {
    let train = made_up_images(3, 12, 0);
    let dev = made_up_images(3, 6, 50_000);
    let dir = tempfile::tempdir().unwrap();
    let teacher = colour_teacher(dir.path(), ["red", "green", "blue", "folk"]);
    let plain = tiny_pretrained_spec();
    let mut distilled = plain.clone();
    distilled.pretrained.as_mut().unwrap().distill = Some(Distill {
        teacher: teacher.clone(),
        temperature: 2.0,
        weight: 1.0,
    });
    let mut caches = FeatureCaches::default();
    let mut fit = |name: &str, spec: &ModelSpec| {
        let settings = settings(&dir.path().join(name));
        fit_transfer(spec, &genres(3), &train, &dev, &settings, None, &mut caches).unwrap()
    };
    let without = fit("plain", &plain);
    let with = fit("distilled", &distilled);
    assert_eq!(caches.computed(), 1, "the teacher does not change the maps");
    assert_eq!(caches.teachers_computed(), 1);

    // The loss with the teacher term falls while training.
    let history = &with.run.history;
    assert!(
        history.last().unwrap().train_loss < history[0].train_loss * 0.9,
        "{history:?}"
    );
    // The student's outputs end nearer the teacher's than those of the same run without it.
    let kl = |outcome: &covergenre::train::transfer::TransferOutcome, spec: &ModelSpec| {
        let student = student_logits(spec, &outcome.run.best_weights, &train);
        kl_to_teacher(&teacher, &student, &train)
    };
    let (kl_plain, kl_distilled) = (kl(&without, &plain), kl(&with, &distilled));
    eprintln!("KL to the teacher: {kl_distilled:.4} distilled, {kl_plain:.4} without");
    assert!(
        kl_distilled < 0.5 * kl_plain,
        "KL to the teacher: {kl_distilled} distilled against {kl_plain} without"
    );
    assert_ne!(learning(&without.run.history), learning(history));
}

#[test]
fn a_teacher_without_the_training_genres_is_refused_naming_it() {
    let train = made_up_images(3, 4, 0);
    let dir = tempfile::tempdir().unwrap();
    let teacher = colour_teacher(dir.path(), ["red", "green", "jazz", "folk"]);
    let mut spec = tiny_pretrained_spec();
    spec.pretrained.as_mut().unwrap().distill = Some(Distill {
        teacher: teacher.clone(),
        temperature: 2.0,
        weight: 0.5,
    });
    let err = fit_transfer(
        &spec,
        &genres(3),
        &train,
        &train,
        &settings(&dir.path().join("run")),
        None,
        &mut FeatureCaches::default(),
    )
    .unwrap_err();
    let err = format!("{err:#}");
    assert!(
        err.contains(&teacher.display().to_string()) && err.contains("blue"),
        "{err}"
    );
}

#[test]
fn both_phases_learn_from_a_cache_computed_once_and_the_frozen_layers_stay_put() {
    let train = made_up_images(3, 12, 0);
    let dev = made_up_images(3, 6, 50_000);
    let dir = tempfile::tempdir().unwrap();
    let spec = tiny_pretrained_spec();
    let outcome = fit_alone(&spec, &train, &dev, dir.path());
    let run = &outcome.run;

    // The backbone saw each cover twice (as is and flipped) and each dev cover once, in all,
    // although seven epochs followed.
    assert_eq!(outcome.backbone_images, 2 * train.len() + dev.len());
    assert_eq!(outcome.head_epochs, HEAD_EPOCHS);
    assert_eq!(run.history.len(), EPOCHS);
    assert_eq!(read_log(&dir.path().join("log.csv")).unwrap(), run.history);

    // Learning happens in phase 1 (head) and goes on in phase 2 (fine-tuning, lower rate).
    let head = &run.history[..HEAD_EPOCHS];
    assert!(
        head[HEAD_EPOCHS - 1].train_loss < head[0].train_loss * 0.9,
        "head loss {} -> {}",
        head[0].train_loss,
        head[HEAD_EPOCHS - 1].train_loss
    );
    let tuned = &run.history[HEAD_EPOCHS..];
    assert!(tuned[0].learning_rate < spec.optimiser.learning_rate * 0.3 + 1e-12);
    assert!(
        tuned.last().unwrap().train_loss < head[0].train_loss,
        "{:?}",
        run.history
    );
    assert!(run.best.dev_accuracy > 0.5, "chance is 1/3: {:?}", run.best);

    // The frozen layers keep their initial values; the fine-tuned conv moved in phase 2 or
    // the head alone won, in which case it is untouched too.
    let _rng = covergenre::train::rng_guard();
    tch::manual_seed(derive_seed(3, 0));
    let initial = nn::VarStore::new(Device::Cpu);
    Network::new(&initial.root(), &spec, 3).unwrap();
    let trained = nn::VarStore::new(Device::Cpu);
    Network::new(&trained.root(), &spec, 3).unwrap();
    checkpoint::load_weights(&run.best_weights, &trained).unwrap();
    assert!(weight(&initial, "0.weight").equal(&weight(&trained, "0.weight")));
    let conv_moved = !weight(&initial, "2.weight").equal(&weight(&trained, "2.weight"));
    assert_eq!(conv_moved, run.best.epoch > HEAD_EPOCHS, "{:?}", run.best);
    assert!(!weight(&initial, "7.weight").equal(&weight(&trained, "7.weight")));
}

/// The deep recipe: after the head on cached features, every layer trains on decoded covers
/// with crops, flips and colour jitter, layer-wise rates, warm-up and logit adjustment.
#[test]
fn deep_fine_tuning_learns_on_decoded_covers_and_moves_the_first_layer() {
    let train = made_up_images(3, 12, 0);
    let dev = made_up_images(3, 6, 50_000);
    let dir = tempfile::tempdir().unwrap();
    let mut spec = tiny_pretrained_spec();
    spec.logit_adjustment = 1.0;
    spec.augment = Some(Augment {
        horizontal_flip: true,
        crop_area: Some((0.6, 1.0)),
        contrast: Some((0.8, 1.2)),
        saturation: Some((0.8, 1.2)),
        ..Augment::default()
    });
    let deep = DeepFinetune {
        from_layer: 0,
        lowest_lr_scale: 0.3,
        warmup_epochs: 1,
    };
    spec.pretrained.as_mut().unwrap().deep = Some(deep);
    let outcome = fit_alone(&spec, &train, &dev, dir.path());
    let run = &outcome.run;
    assert_eq!(run.history.len(), EPOCHS);
    let (head, deep) = run.history.split_at(HEAD_EPOCHS);
    // Warm-up: the first deep epoch ends below the phase's base rate, the next is higher.
    let base = spec.optimiser.learning_rate * 0.3;
    assert!(deep[0].learning_rate <= base + 1e-12, "{:?}", deep[0]);
    assert!(deep[1].learning_rate > 0.0);
    assert!(
        deep.last().unwrap().train_loss < head[0].train_loss,
        "{:?}",
        run.history
    );
    assert!(run.best.dev_accuracy > 0.5, "chance is 1/3: {:?}", run.best);

    // The deep phase learns beyond the head: its dev loss ends below the head phase's best.
    let head_best = head
        .iter()
        .map(|r| r.dev_loss)
        .fold(f64::INFINITY, f64::min);
    assert!(
        deep.last().unwrap().dev_loss < head_best,
        "{:?}",
        run.history
    );

    // It trains the very first layer, which the cached recipe never touches: the last state
    // (the checkpoint) differs there from the initial weights.
    let _rng = covergenre::train::rng_guard();
    tch::manual_seed(derive_seed(3, 0));
    let initial = nn::VarStore::new(Device::Cpu);
    Network::new(&initial.root(), &spec, 3).unwrap();
    let last = Tensor::read_safetensors(dir.path().join(checkpoint::CHECKPOINT_FILE)).unwrap();
    let (_, first_layer) = last
        .iter()
        .find(|(name, _)| name == "model.0.weight")
        .unwrap();
    assert!(!weight(&initial, "0.weight").equal(first_layer));
}

#[test]
fn logit_adjustment_offsets_are_tau_log_prior_and_zero_for_absent_genres() {
    let labels = [0, 0, 0, 1];
    let offsets = Vec::<f32>::try_from(logit_offsets(&labels, 3, 2.0)).unwrap();
    assert!((offsets[0] - 2.0 * 0.75f32.ln()).abs() < 1e-6);
    assert!((offsets[1] - 2.0 * 0.25f32.ln()).abs() < 1e-6);
    assert_eq!(offsets[2], 0.0);
}

#[test]
fn inconsistent_transfer_settings_are_clear_errors() {
    let mut spec = tiny_pretrained_spec();
    spec.pretrained.as_mut().unwrap().finetune_from_layer = 6;
    let err = validate_pretrained(&spec).unwrap_err().to_string();
    assert!(
        err.contains("finetune_from_layer (6) < frozen_layers (6)"),
        "{err}"
    );

    let mut spec = tiny_pretrained_spec();
    spec.pretrained.as_mut().unwrap().head_epochs = EPOCHS + 1;
    let err = validate_pretrained(&spec).unwrap_err().to_string();
    assert!(err.contains("head_epochs (8) exceeds epochs (7)"), "{err}");

    let train = made_up_images(2, 4, 0);
    let dir = tempfile::tempdir().unwrap();
    let err = fit_transfer(
        &spec,
        &genres(2),
        &train,
        &train,
        &settings(dir.path()),
        None,
        &mut FeatureCaches::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("head_epochs"), "{err}");

    let mut spec = tiny_pretrained_spec();
    spec.pretrained.as_mut().unwrap().deep = Some(DeepFinetune {
        from_layer: 99,
        lowest_lr_scale: 0.1,
        warmup_epochs: 0,
    });
    let err = validate_pretrained(&spec).unwrap_err().to_string();
    assert!(err.contains("deep fine-tuning starts at layer 99"), "{err}");
}
