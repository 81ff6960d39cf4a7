//! Learning from a library that never loses to the base model (issue 28), on made-up data: a
//! base model trained here on three colour genres (red, green, blue), and a library whose
//! owner calls two of them by other names (Crimson, Leafy), keeps the third (Blue) and adds a
//! fourth the base lacks (Sunshine: yellow covers). The owner's model writes the owner's names
//! with no genre map, predicts the fourth genre, and is at least as right as the base through
//! the learned mapping on the held-out albums. A retrain after tagging more albums runs the
//! base only over the new covers (counted by the run's record of base passes); a cache made by
//! another base is not used and the run says so once; `--base` files that are not covergenre
//! models, or whose input the covers cannot be prepared for, are refused naming them.
//! Training writes nothing into the library.

mod common;

use common::audio::{self, Track};
use common::text;
use covergenre::data::decode::{decode_file, DecodeLimits};
use covergenre::infer::Model;
use covergenre::preprocess::{Normalisation, Preprocess};
use covergenre::spec::{variant, Layer};
use image::{Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Red, green, blue, yellow.
const COLOURS: [[u8; 3]; 4] = [[220, 40, 40], [40, 200, 60], [40, 60, 220], [230, 200, 40]];
/// The base model's genres (the first three colours).
const BASE_GENRES: [&str; 3] = ["red", "green", "blue"];
/// The owner's name for each colour.
const OWNER_GENRES: [&str; 4] = ["Crimson", "Leafy", "Blue", "Sunshine"];

fn train(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_covergenre-train"))
        .args(args)
        .output()
        .unwrap()
}

/// A cover of `colour` with its own noise (no two covers share their bytes).
fn cover(colour: usize, seed: u64, size: u32) -> RgbImage {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed * 7 + colour as u64);
    RgbImage::from_fn(size, size, |_, _| {
        Rgb(COLOURS[colour].map(|c| (c as i16 + rng.random_range(-30i16..=30)).clamp(0, 255) as u8))
    })
}

fn png(image: &RgbImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    image
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    bytes
}

/// Trains the base model on genre folders of red, green and blue covers, through the trainer
/// (GlobalAvgPool -> Logits at 16x16), and returns its exported model.
fn train_base(dir: &Path) -> PathBuf {
    let data = dir.join("colours");
    for (g, name) in BASE_GENRES.iter().enumerate() {
        for i in 0..24 {
            common::write_image(
                &data.join(name).join(format!("{i}.png")),
                &cover(g, 1000 + i, 24),
            );
        }
    }
    let mut spec = variant("baseline").unwrap();
    spec.name = "colour-base".into();
    spec.preprocess = Preprocess::square(16, Normalisation::UNIT);
    spec.layers = vec![Layer::GlobalAvgPool, Layer::Flatten, Layer::Logits];
    spec.augment = None;
    spec.early_stopping_patience = None;
    spec.batch_size = 16;
    let spec_file = dir.join("colour-base.json");
    std::fs::write(&spec_file, serde_json::to_string(&spec).unwrap()).unwrap();
    let run = dir.join("base-run");
    let out = train(&[
        "--data",
        data.to_str().unwrap(),
        "--variants",
        spec_file.to_str().unwrap(),
        "--epochs",
        "40",
        "--learning-rate",
        "0.2",
        "--threads",
        "2",
        "--cache-dir",
        dir.join("cache").to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "training the base: {}",
        text(&out.stderr)
    );
    run.join("best/model.onnx")
}

/// `per_genre` tagged albums of each owner genre numbered from `first`, two FLAC tracks each;
/// even albums have a cover.jpg, odd ones embed their cover in the tracks. Returns how many.
fn write_albums(root: &Path, per_genre: usize, first: usize) -> usize {
    let mut written = 0;
    for (g, genre) in OWNER_GENRES.iter().enumerate() {
        for i in first..first + per_genre {
            let folder = root.join(format!("{genre} Artist {i}/Album {i}"));
            write_album(&folder, &cover(g, i as u64, 48), Some(genre), i % 2 == 1);
            written += 1;
        }
    }
    written
}

/// An untagged album `Untagged/<name>` of each (name, colour), its cover a file.
fn write_untagged(root: &Path, albums: &[(&str, usize)]) {
    for &(name, colour) in albums {
        write_album(
            &root.join("Untagged").join(name),
            &cover(colour, 500, 48),
            None,
            false,
        );
    }
}

fn write_album(folder: &Path, image: &RgbImage, genre: Option<&str>, embed: bool) {
    std::fs::create_dir_all(folder).unwrap();
    let picture = embed.then(|| png(image));
    if !embed {
        image.save(folder.join("cover.jpg")).unwrap();
    }
    for t in 0..2 {
        let mut track = Track::new(&format!("Track {t}"), picture.clone());
        if let Some(genre) = genre {
            track = track.with_genre(genre);
        }
        std::fs::write(
            folder.join(format!("{:02} Track.flac", t + 1)),
            audio::flac(&track),
        )
        .unwrap();
    }
}

/// Every file's bytes under `root`.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().to_path_buf(), std::fs::read(e.path()).unwrap()))
        .collect()
}

fn learn(library: &Path, base: &Path, cache: &Path, out: &Path) -> Output {
    learn_with(library, base, cache, out, &[])
}

fn learn_with(library: &Path, base: &Path, cache: &Path, out: &Path, more: &[&str]) -> Output {
    let args = [
        "--data",
        library.to_str().unwrap(),
        "--base",
        base.to_str().unwrap(),
        "--min-albums",
        "3",
        "--threads",
        "2",
        "--cache-dir",
        cache.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    train(&[&args[..], more].concat())
}

/// Learns (it must succeed) and checks that training wrote nothing into the library; returns
/// what it said.
fn learn_leaving_the_library_as_it_was(
    library: &Path,
    base: &Path,
    cache: &Path,
    out: &Path,
    more: &[&str],
) -> String {
    let before = snapshot(library);
    let output = learn_with(library, base, cache, out, more);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        snapshot(library),
        before,
        "training wrote nothing into the library"
    );
    stderr
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// Independent readers of an owner's model (four genres): the onnx checker, and onnxruntime's
/// own Python binding.
fn checked_by_onnx_and_onnxruntime(model: &Path) {
    let Some(python) = common::checker_python() else {
        return;
    };
    let script = "import onnx, onnxruntime, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True); \
                  s = onnxruntime.InferenceSession(sys.argv[1]); print([(o.name, o.shape) for o in s.get_outputs()])";
    let checked = Command::new(python)
        .args(["-c", script])
        .arg(model)
        .output()
        .unwrap();
    assert!(checked.status.success(), "{}", text(&checked.stderr));
    assert_eq!(
        text(&checked.stdout).trim(),
        "[('probabilities', ['N', 4]), ('logits', ['N', 4])]"
    );
}

/// The owner's model's genre for one cover file.
fn predict(model: &mut Model, cover: &Path) -> String {
    let pixels = decode_file(cover, model.preprocess(), &DecodeLimits::default()).unwrap();
    let predictions = model.predict(&pixels, 1).unwrap();
    let row = predictions.probabilities.row(0);
    let best = (0..row.len())
        .max_by(|&a, &b| row[a].total_cmp(&row[b]))
        .unwrap();
    model.genres().get(best).unwrap().name.clone()
}

#[test]
fn the_owners_model_learns_renamed_and_new_genres_from_a_base_and_retrains_on_new_covers_only() {
    let dir = tempfile::tempdir().unwrap();
    let base = train_base(dir.path());
    let library = dir.path().join("Music");
    let tagged = write_albums(&library, 20, 0);
    write_untagged(&library, &[("Yellow", 3), ("Red", 0)]);
    let cache = dir.path().join("cache");

    let run = dir.path().join("run");
    let stderr = learn_leaving_the_library_as_it_was(&library, &base, &cache, &run, &[]);

    // The owner's names, no genre map; the new genre predicted.
    let mut model = Model::open(&run.join("best/model.onnx"), 1).unwrap();
    let mut names = model.genres().names();
    names.sort();
    let mut expected: Vec<String> = OWNER_GENRES.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(names, expected);
    assert_eq!(
        predict(&mut model, &library.join("Untagged/Yellow/cover.jpg")),
        "Sunshine"
    );
    assert_eq!(
        predict(&mut model, &library.join("Untagged/Red/cover.jpg")),
        "Crimson"
    );
    assert_eq!(model.preprocess().height, 16, "the base's input");
    checked_by_onnx_and_onnxruntime(&run.join("best/model.onnx"));

    // The mapping: each renamed genre draws on its colour; at least as right as the base
    // through the mapping on the test albums.
    let learned = read_json(&run.join("learned.json"));
    let draws = |genre: &str| -> String {
        let entry = learned["draws_on"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["genre"] == genre)
            .unwrap();
        entry["base_genres"][0][0].as_str().unwrap().to_string()
    };
    assert_eq!(draws("Crimson"), "red");
    assert_eq!(draws("Leafy"), "green");
    assert_eq!(draws("Blue"), "blue");
    let test = &learned["test"];
    assert!(test["covers"].as_u64().unwrap() > 0, "{learned}");
    let accuracy = |who: &str| test[who]["accuracy"]["estimate"].as_f64().unwrap();
    assert!(
        accuracy("chosen") >= accuracy("base_through_mapping"),
        "{learned:#}\n{stderr}"
    );
    assert_eq!(
        learned["base_passes"].as_u64(),
        Some(tagged as u64),
        "a cold cache: {learned}"
    );
    assert_eq!(learned["from_cache"].as_u64(), Some(0));
    let card = std::fs::read_to_string(run.join("best/card.md")).unwrap();
    for shown in [
        "## Learned from",
        "base through the mapping",
        "difference",
        "| Sunshine |",
        "## Test (evaluated once)",
    ] {
        assert!(card.contains(shown), "{shown} in\n{card}");
    }

    // Inspect counts the cached covers.
    let inspect = train(&[
        "--data",
        library.to_str().unwrap(),
        "--inspect",
        "--format",
        "json",
        "--min-albums",
        "3",
        "--base",
        base.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
    ]);
    let report: Value = serde_json::from_slice(&inspect.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&inspect.stderr)));
    assert_eq!(
        report["base_outputs"]["cached"].as_u64(),
        Some(tagged as u64),
        "{}",
        report["base_outputs"]
    );

    // The owner tags more albums: the retrain runs the base over the new covers only.
    let added = write_albums(&library, 2, 100);
    let again = dir.path().join("run-again");
    let out = learn(&library, &base, &cache, &again);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let relearned = read_json(&again.join("learned.json"));
    assert_eq!(
        relearned["base_passes"].as_u64(),
        Some(added as u64),
        "{relearned}"
    );
    assert_eq!(relearned["from_cache"].as_u64(), Some(tagged as u64));

    // Another base model in the same cache folder: the old entries are not used, said once.
    let other = dir.path().join("other-base.onnx");
    std::fs::write(&other, common::colour::colour_model()).unwrap();
    let out = learn(&library, &other, &cache, &dir.path().join("run-other"));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr.matches("not used").count(), 1, "{stderr}");
    let other_learned = read_json(&dir.path().join("run-other/learned.json"));
    assert_eq!(
        other_learned["base_passes"].as_u64(),
        Some((tagged + added) as u64)
    );
}

#[test]
fn a_base_that_is_not_a_covergenre_model_or_does_not_fit_the_covers_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let library = dir.path().join("Music");
    write_albums(&library, 4, 0);
    let cache = dir.path().join("cache");

    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(&garbage, b"this is not an ONNX model").unwrap();
    let out = learn(&library, &garbage, &cache, &dir.path().join("run"));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("garbage.onnx") && stderr.contains("not a covergenre model"),
        "{stderr}"
    );

    // The colour model, saying its input is 24x24 while its graph takes 16x16.
    use covergenre::export::proto::ModelProto;
    use prost::Message;
    let mut proto = ModelProto::decode(common::colour::colour_model().as_slice()).unwrap();
    for entry in &mut proto.metadata_props {
        if entry.key == "input_height" || entry.key == "input_width" {
            entry.value = "24".into();
        }
    }
    let misfit = dir.path().join("misfit.onnx");
    std::fs::write(&misfit, proto.encode_to_vec()).unwrap();
    let out = learn(&library, &misfit, &cache, &dir.path().join("run-misfit"));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("misfit.onnx") && stderr.contains("cannot run it on the library's covers"),
        "{stderr}"
    );

    // --finetune-base with a base no spec describes (no architecture recorded, a variant
    // covergenre does not know): refused before the base runs, naming it.
    let mut proto = ModelProto::decode(common::colour::colour_model().as_slice()).unwrap();
    proto.metadata_props.retain(|e| e.key != "architecture");
    for entry in &mut proto.metadata_props {
        if entry.key == "variant" {
            entry.value = "hand-made".into();
        }
    }
    let unknown = dir.path().join("hand-made.onnx");
    std::fs::write(&unknown, proto.encode_to_vec()).unwrap();
    let out = learn_with(
        &library,
        &unknown,
        &cache,
        &dir.path().join("run-unknown"),
        &["--finetune-base"],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("hand-made.onnx")
            && stderr.contains("cannot be rebuilt in libtorch")
            && stderr.contains("records no architecture"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("ran on"),
        "refused before the base runs: {stderr}"
    );

    // --base is what a library learns from: with an image dataset it is refused.
    let images = dir.path().join("images");
    common::genre_folders(&images, &["a", "b"], 3, 16, 1);
    let out = train(&[
        "--data",
        images.to_str().unwrap(),
        "--base",
        misfit.to_str().unwrap(),
        "--out",
        dir.path().join("run-images").to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not a music library"), "{stderr}");
}

/// A base written by hand that knows red and blue and sees a cover through one number: a 1x1
/// convolution to one channel weighing red 1, green -1/16 and blue -1, then BatchNorm,
/// pooling and the classifier. Red (220, 40, 40) and yellow (230, 200, 40) give it the same
/// number, so nothing on its outputs tells them apart.
fn one_number_base(dir: &Path) -> PathBuf {
    use covergenre::export::{metadata_for, onnx_model_bytes, Weights};
    let mut spec = variant("baseline").unwrap();
    spec.name = "one-number".into();
    spec.preprocess = Preprocess::square(16, Normalisation::UNIT);
    spec.layers = vec![
        Layer::Conv {
            out: 1,
            kernel: 1,
            stride: 1,
            padding: 0,
            groups: 1,
            bias: false,
        },
        Layer::BatchNorm,
        Layer::GlobalAvgPool,
        Layer::Flatten,
        Layer::Logits,
    ];
    let weights: Weights = [
        ("0.weight", vec![1, 3, 1, 1], vec![1.0, -1.0 / 16.0, -1.0]),
        ("1.weight", vec![1], vec![1.0]),
        ("1.bias", vec![1], vec![0.0]),
        ("1.running_mean", vec![1], vec![0.0]),
        ("1.running_var", vec![1], vec![1.0]),
        ("4.weight", vec![2, 1], vec![4.0, -4.0]),
        ("4.bias", vec![2], vec![0.0, 0.0]),
    ]
    .into_iter()
    .map(|(name, shape, values)| (name.to_string(), (shape, values)))
    .collect();
    let genres = covergenre::genres::GenreSet::from_slugs(vec!["red".into(), "blue".into()]);
    let metadata = metadata_for(&spec, &genres, BTreeMap::new());
    let path = dir.join("one-number.onnx");
    std::fs::write(
        &path,
        onnx_model_bytes(&spec, &genres, &weights, &metadata).unwrap(),
    )
    .unwrap();
    path
}

/// `--finetune-base` on [`one_number_base`]: no head on its outputs tells the owner's Crimson
/// (red) from Sunshine (yellow); its last layers (from that convolution on, the BatchNorm
/// unfolded and folded again) fine-tuned through the owner's head learn to, and that recipe is
/// chosen on dev and written as the owner's model.
#[test]
fn fine_tuning_the_bases_last_layers_learns_what_its_outputs_cannot_tell_apart() {
    let dir = tempfile::tempdir().unwrap();
    let base = one_number_base(dir.path());
    let library = dir.path().join("Music");
    write_albums(&library, 40, 0);
    write_untagged(&library, &[("Yellow", 3), ("Red", 0), ("Green", 1)]);
    let run = dir.path().join("run");
    let finetune = [
        "--finetune-base",
        "--epochs",
        "40",
        "--learning-rate",
        "0.05",
    ];
    let cache = dir.path().join("cache");
    learn_leaving_the_library_as_it_was(&library, &base, &cache, &run, &finetune);

    let learned = read_json(&run.join("learned.json"));
    let record = &learned["finetune"];
    assert_eq!(record["layers"], serde_json::json!([0, 4]), "{record}");
    let history = record["history"].as_array().unwrap();
    assert_eq!(history.len(), 41, "epoch 0 (the base) and 40 more");
    let loss = |epoch: usize| history[epoch]["train_loss"].as_f64().unwrap();
    assert!(loss(40) < loss(1) * 0.8, "learning happens: {record}");
    let kept = record["kept_epoch"].as_u64().unwrap() as usize;
    let dev = |epoch: usize| history[epoch]["dev_accuracy"].as_f64().unwrap();
    assert!(kept > 0 && dev(kept) > dev(0), "{record}");
    assert!(
        record["dev_gain"]["low"].as_f64().unwrap() > 0.0,
        "{record}"
    );
    assert_eq!(record["chosen"], true, "{record}");

    // Chosen on dev over the mapping and the heads, scored from the written file.
    let chosen = learned["chosen"].as_str().unwrap();
    assert!(chosen.contains("fine-tuned"), "{learned:#}");
    let candidates = learned["candidates"].as_array().unwrap();
    let best_other = candidates
        .iter()
        .filter(|c| c["name"] != chosen)
        .map(|c| c["dev_accuracy"].as_f64().unwrap())
        .fold(0.0, f64::max);
    let ours = candidates.iter().find(|c| c["name"] == chosen).unwrap();
    assert!(
        ours["dev_accuracy"].as_f64().unwrap() > best_other,
        "{learned:#}"
    );
    let test = &learned["test"];
    let accuracy = |who: &str| test[who]["accuracy"]["estimate"].as_f64().unwrap();
    assert!(
        accuracy("chosen") > accuracy("base_through_mapping"),
        "{learned:#}"
    );

    // The owner's model is the fine-tuned base with the head: it tells the four apart.
    checked_by_onnx_and_onnxruntime(&run.join("best/model.onnx"));
    let mut model = Model::open(&run.join("best/model.onnx"), 1).unwrap();
    for (album, genre) in [
        ("Yellow", "Sunshine"),
        ("Red", "Crimson"),
        ("Green", "Leafy"),
    ] {
        let cover = library.join("Untagged").join(album).join("cover.jpg");
        assert_eq!(predict(&mut model, &cover), genre, "{album}");
    }
    let card = std::fs::read_to_string(run.join("best/card.md")).unwrap();
    assert!(
        card.contains("Fine-tuning layers 0-4 of the base"),
        "{card}"
    );
}
