//! The colour model: a real ONNX model whose hand-set weights make a cover's dominant colour
//! decide its genre (red, green, blue), and covers in those colours.

use covergenre::export::{metadata_for, onnx_model_bytes, Weights};
use covergenre::genres::GenreSet;
use covergenre::preprocess::{Normalisation, Preprocess};
use covergenre::spec::{variant, Layer, ModelSpec};
use image::{Rgb, RgbImage};
use std::collections::BTreeMap;

pub const GENRES: [&str; 3] = ["red", "green", "blue"];

/// GlobalAvgPool -> Flatten -> Logits with logits = 20 * mean colour: the dominant channel wins
/// (a pure colour gets over 0.99), a grey cover gets 1/3 each.
pub fn colour_model() -> Vec<u8> {
    let mut spec: ModelSpec = variant("baseline").expect("the baseline variant exists");
    spec.name = "colour".into();
    spec.preprocess = Preprocess::square(16, Normalisation::UNIT);
    spec.layers = vec![Layer::GlobalAvgPool, Layer::Flatten, Layer::Logits];
    let mut weights = Weights::new();
    let identity: Vec<f32> = (0..9)
        .map(|i| if i % 4 == 0 { 20.0 } else { 0.0 })
        .collect();
    weights.insert("2.weight".into(), (vec![3, 3], identity));
    weights.insert("2.bias".into(), (vec![3], vec![0.0; 3]));
    let genres = GenreSet::from_slugs(GENRES.map(String::from));
    let metadata = metadata_for(&spec, &genres, BTreeMap::new());
    onnx_model_bytes(&spec, &genres, &weights, &metadata).expect("the colour model exports")
}

/// A cover in one of the model's colours (0 red, 1 green, 2 blue) with some texture.
pub fn cover(colour: usize, size: u32) -> RgbImage {
    RgbImage::from_fn(size, size, |x, y| {
        let mut pixel = [30u8 + (x % 7) as u8, 30 + (y % 5) as u8, 40];
        pixel[colour] = 200 + ((x + y) % 40) as u8;
        Rgb(pixel)
    })
}

/// A cover of `colour` as PNG bytes (for embedding in audio files).
pub fn png_bytes(colour: usize) -> Vec<u8> {
    let mut png = Vec::new();
    cover(colour, 40)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    png
}

/// A temporary folder holding the colour model (`colour.onnx`); test files add their own
/// ways of running the binaries on it.
pub struct ColourFixture {
    pub dir: tempfile::TempDir,
    pub model: std::path::PathBuf,
}

impl ColourFixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("colour.onnx");
        std::fs::write(&model, colour_model()).unwrap();
        Self { dir, model }
    }

    pub fn path(&self, relative: &str) -> std::path::PathBuf {
        self.dir.path().join(relative)
    }

    /// `covergenre-classify --model <the colour model> --threads 2 --batch-size 4 ARGS`.
    pub fn classify(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_covergenre-classify"))
            .arg("--model")
            .arg(&self.model)
            .args(["--threads", "2", "--batch-size", "4"])
            .args(args)
            .output()
            .expect("the binary runs")
    }

    /// `covergenre-classify --model <the colour model> --threads 2 --library ARGS ROOT`, run
    /// from the fixture's folder (where journals and reports land).
    pub fn classify_library(&self, args: &[&str], root: &std::path::Path) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_covergenre-classify"))
            .arg("--model")
            .arg(&self.model)
            .args(["--threads", "2", "--library"])
            .args(args)
            .arg(root)
            .current_dir(self.dir.path())
            .output()
            .unwrap()
    }
}

/// Writes a 48-pixel cover of `colour` (an index into [`GENRES`]) to `path`.
pub fn save_cover(path: &std::path::Path, colour: usize) {
    super::write_image(path, &cover(colour, 48));
}
