//! Helpers shared by the integration tests: made-up images and datasets, and the location of
//! the real covers in ../shared (tests that need them skip with a clear message when absent).
#![allow(dead_code)] // each test binary uses a different subset

pub mod audio;
pub mod bare_audio;
pub mod browser;
pub mod cdp;
pub mod classify_output;
pub mod colour;
pub mod owner_library;
pub mod tag_library;
pub mod tagcheck;
pub mod tmux;

use image::{ImageFormat, Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};

/// The real covers (../shared/data/covers-v1), or None with a message saying the test is skipped.
pub fn shared_covers(test: &str) -> Option<PathBuf> {
    let path = std::env::var_os("COVERGENRE_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/covers-v1"));
    if path.join("train").is_dir() {
        Some(path)
    } else {
        eprintln!(
            "SKIPPED {test}: {} not found (set COVERGENRE_SHARED_DATA to the covers-v1 folder)",
            path.display()
        );
        None
    }
}

/// A cover whose genre is visible: each genre has its own dominant colour and stripe direction,
/// with per-image noise so no two covers are identical.
pub fn genre_cover(genre: usize, seed: u64, size: u32) -> RgbImage {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ (genre as u64) << 32);
    let palette = [
        [220u8, 40, 40],
        [40, 60, 220],
        [40, 200, 60],
        [230, 200, 40],
        [160, 40, 200],
        [40, 200, 210],
    ];
    let base = palette[genre % palette.len()];
    let vertical = genre % 2 == 1;
    RgbImage::from_fn(size, size, |x, y| {
        let stripe = if vertical { x } else { y } / (size / 8).max(1) % 2 == 0;
        let shade: i16 = if stripe { 0 } else { -60 };
        let noise: i16 = rng.random_range(-25..=25);
        Rgb(base.map(|c| (c as i16 + shade + noise).clamp(0, 255) as u8))
    })
}

/// Writes an image in the format implied by the extension.
pub fn write_image(path: &Path, image: &RgbImage) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let format = ImageFormat::from_path(path).unwrap_or(ImageFormat::Png);
    image.save_with_format(path, format).unwrap();
}

/// `<root>/<genre>/<i>.png` for each genre name, `per_genre` covers each.
pub fn genre_folders(
    root: &Path,
    genres: &[&str],
    per_genre: usize,
    size: u32,
    seed: u64,
) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for (g, name) in genres.iter().enumerate() {
        for i in 0..per_genre {
            let path = root.join(name).join(format!("{i:03}.png"));
            write_image(&path, &genre_cover(g, seed + i as u64, size));
            paths.push(path);
        }
    }
    paths
}

/// `<root>/{train,dev,test}/<genre>/*.png` with the given number of covers per genre in each split.
pub fn split_folders(root: &Path, genres: &[&str], per_split: [usize; 3], size: u32) {
    for (s, split) in ["train", "dev", "test"].iter().enumerate() {
        genre_folders(
            &root.join(split),
            genres,
            per_split[s],
            size,
            1000 * s as u64,
        );
    }
}

/// `per_genre` made-up covers of each of `genres` genres at `size` x `size`, as the trainer's
/// in-memory image set.
#[cfg(feature = "train")]
pub fn made_up_image_set(
    genres: usize,
    per_genre: usize,
    seed: u64,
    size: u32,
) -> covergenre::train::images::ImageSet {
    let mut set = covergenre::train::images::ImageSet {
        height: size as usize,
        width: size as usize,
        ..Default::default()
    };
    for genre in 0..genres {
        for i in 0..per_genre {
            let image = genre_cover(genre, seed + i as u64, size);
            set.pixels.extend_from_slice(image.as_raw());
            set.labels.push(genre);
        }
    }
    set
}

/// ONNX bytes of a mean-colour model: genre g (red, green, blue) scores 10 * mean(channel g) - 1
/// on 24x24 covers; a fourth genre, folk, has no weights and a low bias, so it is never
/// predicted.
/// Eight 24x24 covers of assorted colours, back to back (input for [`colour_model_bytes`]).
pub fn colour_batch() -> Vec<u8> {
    (0..8u32)
        .flat_map(|i| {
            let colour = [
                (i * 37 % 256) as u8,
                (i * 91 % 256) as u8,
                (i * 53 % 256) as u8,
            ];
            std::iter::repeat_n(colour, 24 * 24).flatten()
        })
        .collect()
}

pub fn colour_model_bytes() -> Vec<u8> {
    colour_model_bytes_with(10.0, 24)
}

/// [`colour_model_bytes`] with another gain (10 there) and input size (24 there).
pub fn colour_model_bytes_with(gain: f32, size: u32) -> Vec<u8> {
    colour_model_bytes_for(gain, size, ["red", "green", "blue", "folk"])
}

/// [`colour_model_bytes_with`] with other names for its four genres.
pub fn colour_model_bytes_for(gain: f32, size: u32, slugs: [&str; 4]) -> Vec<u8> {
    use covergenre::export::{self, Weights};
    use covergenre::genres::GenreSet;
    use covergenre::preprocess::{Normalisation, Preprocess};
    use covergenre::spec::{self, Layer};
    let mut spec = spec::variant("baseline").unwrap();
    spec.name = "colour".into();
    spec.preprocess = Preprocess::square(size, Normalisation::UNIT);
    spec.layers = vec![Layer::GlobalAvgPool, Layer::Logits];
    let genres = GenreSet::from_slugs(slugs.map(String::from));
    let mut w = vec![0.0f32; 12];
    for g in 0..3 {
        w[g * 3 + g] = gain;
    }
    let weights = Weights::from([
        ("1.weight".to_string(), (vec![4, 3], w)),
        (
            "1.bias".to_string(),
            (vec![4], vec![-1.0, -1.0, -1.0, -5.0]),
        ),
    ]);
    let metadata = export::metadata_for(&spec, &genres, Default::default());
    export::onnx_model_bytes(&spec, &genres, &weights, &metadata).unwrap()
}

/// The Python interpreter with onnx and onnxruntime, or None with a message.
pub fn checker_python() -> Option<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        std::env::var_os("COVERGENRE_PYTHON").map(PathBuf::from),
        Some(repo.join(".deps/venv/bin/python")),
        std::env::var_os("COVERGENRE_DEPS_DIR").map(|d| PathBuf::from(d).join("venv/bin/python")),
    ];
    let found = candidates.into_iter().flatten().find(|p| p.is_file());
    if found.is_none() {
        eprintln!(
            "SKIPPED python checker: no Python with onnx (set COVERGENRE_PYTHON or run scripts/setup.sh)"
        );
    }
    found
}

/// Writes `bytes` to `path`, making its folders first.
pub fn put(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Every file under `root` with its bytes and modification time (a library left unchanged
/// compares equal, mtimes included).
pub fn snapshot(
    root: &Path,
) -> std::collections::BTreeMap<PathBuf, (Vec<u8>, std::time::SystemTime)> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let modified = e.metadata().unwrap().modified().unwrap();
            (
                e.path().to_path_buf(),
                (std::fs::read(e.path()).unwrap(), modified),
            )
        })
        .collect()
}

/// Mean colour of an RGB u8 HWC buffer.
pub fn mean_rgb(pixels: &[u8]) -> [f64; 3] {
    let n = (pixels.len() / 3) as f64;
    std::array::from_fn(|c| {
        pixels
            .iter()
            .skip(c)
            .step_by(3)
            .map(|&v| v as f64)
            .sum::<f64>()
            / n
    })
}

/// A process's output as text (lossy), for messages and assertions.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts a command exited 0 (its stderr is the message otherwise) and returns its stderr.
pub fn assert_ok(out: &std::process::Output) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    stderr
}

/// The tagging tests' command: `covergenre-classify --model MODEL --threads 2 --library --tag
/// --min-confidence 0.5 ARGS... ROOT`, run in `cwd`.
pub fn tag_command<S: AsRef<std::ffi::OsStr>>(
    model: &Path,
    args: &[S],
    root: &Path,
    cwd: &Path,
) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_covergenre-classify"));
    command
        .arg("--model")
        .arg(model)
        .args([
            "--threads",
            "2",
            "--library",
            "--tag",
            "--min-confidence",
            "0.5",
        ])
        .args(args)
        .arg(root)
        .current_dir(cwd);
    command
}
