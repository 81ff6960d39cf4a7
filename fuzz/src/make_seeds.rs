//! Writes the made-up seed corpora under `fuzz/corpus/<target>/` (the folder is git-ignored):
//! small images of every format and colour type, audio files with embedded art (the test
//! suite's own makers), the shipped model with its weights left out, `.npy` labels, CSV
//! manifests and classify output. `scripts/fuzz.sh` adds a few real covers from covers-v1.

#[path = "../../tests/common/audio.rs"]
#[allow(dead_code)]
mod audio;

use covergenre::export::proto::ModelProto;
use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use prost::Message;
use std::io::Cursor;
use std::path::{Path, PathBuf};

fn main() {
    let fuzz_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let corpus = fuzz_dir.join("corpus");
    images(&corpus.join("decode_image"));
    audio_files(&corpus.join("audio_tags"));
    audio_files(&corpus.join("tag_edit"));
    model(
        &fuzz_dir.join("../models/covergenre.onnx"),
        &corpus.join("onnx_metadata"),
    );
    npy(&corpus.join("npy_labels"));
    manifests(&corpus.join("csv_manifest"));
    predictions(&corpus.join("predictions"));
    checkpoint(
        &fuzz_dir.join("../.deps/weights/efficientnet-lite0.pth"),
        &corpus.join("legacy_checkpoint"),
    );
}

fn put(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("create corpus folder");
    std::fs::write(dir.join(name), bytes).expect("write seed");
}

fn encoded(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).expect("encode seed image");
    out.into_inner()
}

fn gradient(size: u32) -> RgbImage {
    RgbImage::from_fn(size, size, |x, y| Rgb([x as u8, y as u8, (x ^ y) as u8]))
}

fn small_png() -> Vec<u8> {
    encoded(&DynamicImage::ImageRgb8(gradient(8)), ImageFormat::Png)
}

fn images(dir: &Path) {
    let rgb = DynamicImage::ImageRgb8(gradient(24));
    let rgba = DynamicImage::ImageRgba8(RgbaImage::from_fn(16, 12, |x, y| {
        Rgba([x as u8 * 9, y as u8 * 9, 80, (x * 16) as u8])
    }));
    let grey16 = DynamicImage::ImageLuma16(image::ImageBuffer::from_fn(10, 10, |x, y| {
        image::Luma([(x * y * 600) as u16])
    }));
    // At least twice the 64 px fuzz output on both sides: the scaled JPEG path.
    let big = DynamicImage::ImageRgb8(gradient(160));
    put(dir, "rgb.jpg", &encoded(&rgb, ImageFormat::Jpeg));
    put(dir, "big.jpg", &encoded(&big, ImageFormat::Jpeg));
    put(
        dir,
        "grey.jpg",
        &encoded(&DynamicImage::ImageLuma8(rgb.to_luma8()), ImageFormat::Jpeg),
    );
    put(dir, "rgb.png", &encoded(&rgb, ImageFormat::Png));
    put(dir, "rgba.png", &encoded(&rgba, ImageFormat::Png));
    put(dir, "grey16.png", &encoded(&grey16, ImageFormat::Png));
    put(dir, "rgba.webp", &encoded(&rgba, ImageFormat::WebP));
    put(dir, "rgba.gif", &encoded(&rgba, ImageFormat::Gif));
    put(dir, "rgb.bmp", &encoded(&rgb, ImageFormat::Bmp));
    put(dir, "rgba.bmp", &encoded(&rgba, ImageFormat::Bmp));
}

fn audio_files(dir: &Path) {
    let track = audio::Track::new("Seed", Some(small_png())).with_genre("Jazz");
    let bare = audio::Track::new("Bare", None);
    put(dir, "art.mp3", &audio::mp3(&track));
    put(dir, "art.flac", &audio::flac(&track));
    put(dir, "art.opus", &audio::opus(&track));
    put(dir, "art.m4a", &audio::m4a(&track));
    put(dir, "bare.mp3", &audio::mp3(&bare));
    put(dir, "bare.flac", &audio::flac(&bare));
}

/// The shipped model's header, graph structure and metadata, without the weight tensors
/// (13 MB would make every fuzz input that long).
fn model(shipped: &Path, dir: &Path) {
    let bytes = std::fs::read(shipped).expect("read models/covergenre.onnx");
    let mut proto = ModelProto::decode(bytes.as_slice()).expect("decode the shipped model");
    let mut metadata_only = proto.clone();
    metadata_only.graph = None;
    put(dir, "metadata-only.onnx", &metadata_only.encode_to_vec());
    if let Some(graph) = proto.graph.as_mut() {
        graph.initializer.clear();
    }
    put(dir, "no-weights.onnx", &proto.encode_to_vec());
}

/// A version 1.0 `.npy` file: magic, header dict padded to 64 bytes, data.
fn npy_file(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut header = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
        if fortran { "True" } else { "False" }
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn npy(dir: &Path) {
    let ids: Vec<u8> = [0i64, 3, 12, 5]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    put(dir, "ids-i8.npy", &npy_file("<i8", false, "(4,)", &ids));
    put(
        dir,
        "ids-u1.npy",
        &npy_file("|u1", false, "(3,)", &[1, 2, 7]),
    );
    let mut one_hot = vec![0f32; 2 * 13];
    one_hot[4] = 1.0;
    one_hot[13 + 9] = 1.0;
    let bytes: Vec<u8> = one_hot.iter().flat_map(|v| v.to_le_bytes()).collect();
    put(
        dir,
        "one-hot-f4.npy",
        &npy_file("<f4", false, "(2, 13)", &bytes),
    );
    put(
        dir,
        "one-hot-fortran.npy",
        &npy_file("<f4", true, "(2, 13)", &bytes),
    );
    let doubles: Vec<u8> = [1.0f64, 0.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    put(
        dir,
        "ids-f8-be.npy",
        &npy_file(">f8", false, "(2,)", &doubles),
    );
}

fn manifests(dir: &Path) {
    put(
        dir,
        "plain.csv",
        b"path,genre\na.jpg,jazz\nb.png,rock\nc.webp,jazz\nd.gif,rock\n",
    );
    put(dir, "splits.csv", b"path,genre,split\na.jpg,jazz,train\nb.png,rock,dev\nc.webp,jazz,test\nmissing.jpg,pop,train\n");
    put(dir, "covers-v1.csv", b"split,genre,file,source\ntest,alternative-rock,a.jpg,x\ntrain,latin-music,b.png,y\nval,reggae,../d.gif,z\n");
}

fn predictions(dir: &Path) {
    put(dir, "top.csv", b"path,genre,probability,top1,p1,top2,p2\nrock/a.jpg,rock,0.9,rock,0.9,jazz,0.1\njazz/b.png,uncertain,0.4,jazz,0.4,rock,0.3\nc.jpg,,,,,,\n");
    put(
        dir,
        "plain.csv",
        b"path,genre,probability,error\nx/a.jpg,pop,0.5,\nx/b.jpg,,,cannot decode\n",
    );
    put(
        dir,
        "top.jsonl",
        br#"{"path":"rock/a.jpg","top":[{"genre":"rock","probability":0.9},["jazz",0.1]]}
{"path":"b.png","top1":"jazz","p1":0.6,"top2":"rock","p2":0.4}
{"path":"c.png","probabilities":{"rock":0.2,"jazz":0.8}}
{"path":"d.png","genre":"pop","probability":1.0}
{"path":"e.png","error":"not an image"}
"#,
    );
}

/// The head of the pretrained EfficientNet-Lite0 weights (scripts/setup.sh downloads them):
/// magic, protocol, system info and the pickled state dict, without most of the 18 MB of
/// tensor data.
fn checkpoint(weights: &Path, dir: &Path) {
    match std::fs::read(weights) {
        Ok(bytes) => put(
            dir,
            "efficientnet-lite0-head.pth",
            &bytes[..bytes.len().min(64 * 1024)],
        ),
        Err(e) => {
            eprintln!(
                "note: {}: {e}; legacy_checkpoint starts from an empty corpus",
                weights.display()
            );
            put(dir, "empty.pth", b"");
        }
    }
}
