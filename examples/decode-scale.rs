//! Is DCT-scaled JPEG decoding a cheaper way to the model's input size? Times, on one thread:
//! full-size decode (`decode_bytes_full_size`: zune-jpeg, then the one resize), `decode_bytes`
//! (libjpeg-turbo at the largest 1/2, 1/4, 1/8 reduction still >= SIZE, then the same resize;
//! full size where libturbojpeg is missing) and jpeg-decoder at its own DCT scale + the same
//! resize, and how far each result is from full decode.
//!
//!     cargo run --release --example decode-scale -- DIR SIZE MAX_FILES
//!
//! Measured 2026-11-25 on covers-v1/test (469 covers, 300 px -> 128): 0.66-0.70 ms/image for
//! full decode, 1.09-1.12 ms/image jpeg-decoder DCT-scaled. For libjpeg-turbo on 1000 px covers
//! see benches/README.md.

use anyhow::{ensure, Context, Result};
use covergenre::data::decode::{decode_bytes, decode_bytes_full_size, resize_rgb, DecodeLimits};
use covergenre::preprocess::{Normalisation, Preprocess};
use image::RgbImage;
use std::time::Instant;

/// jpeg-decoder at reduced size, RGB covers only (the trial needs no more).
fn decode_scaled(bytes: &[u8], size: u16) -> Result<RgbImage> {
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    let (width, height) = decoder.scale(size, size)?;
    let pixels = decoder.decode()?;
    let info = decoder.info().context("no header")?;
    ensure!(
        info.pixel_format == jpeg_decoder::PixelFormat::RGB24,
        "not RGB"
    );
    RgbImage::from_raw(width.into(), height.into(), pixels).context("short pixel buffer")
}

/// Mean and largest absolute byte difference between two sets of images.
fn difference(a: &[Vec<u8>], b: &[Vec<u8>]) -> (f64, u8) {
    let pairs = a.iter().flatten().zip(b.iter().flatten());
    let (sum, max, count) = pairs.fold((0u64, 0u8, 0u64), |(sum, max, count), (p, q)| {
        let d = p.abs_diff(*q);
        (sum + u64::from(d), max.max(d), count + 1)
    });
    (sum as f64 / count.max(1) as f64, max)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    ensure!(args.len() == 4, "usage: decode-scale DIR SIZE MAX_FILES");
    let size: u16 = args[2].parse()?;
    let pre = Preprocess::square(size.into(), Normalisation::UNIT);
    let mut files: Vec<_> = walkdir::WalkDir::new(&args[1])
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "jpg"))
        .map(walkdir::DirEntry::into_path)
        .collect();
    files.sort();
    files.truncate(args[3].parse()?);
    let covers: Vec<Vec<u8>> = files.iter().map(std::fs::read).collect::<Result<_, _>>()?;
    let limits = DecodeLimits::default();
    let n = covers.len().max(1) as f64;
    for round in 1..=2 {
        let started = Instant::now();
        let full: Vec<Vec<u8>> = covers
            .iter()
            .map(|bytes| decode_bytes_full_size(bytes, &pre, &limits))
            .collect::<Result<_, _>>()?;
        let full_ms = started.elapsed().as_secs_f64() / n * 1e3;
        let started = Instant::now();
        let turbo: Vec<Vec<u8>> = covers
            .iter()
            .map(|bytes| decode_bytes(bytes, &pre, &limits))
            .collect::<Result<_, _>>()?;
        let turbo_ms = started.elapsed().as_secs_f64() / n * 1e3;
        let started = Instant::now();
        let scaled: Vec<Vec<u8>> = covers
            .iter()
            .map(|bytes| decode_scaled(bytes, size).map(|rgb| resize_rgb(&rgb, &pre)))
            .collect::<Result<_>>()?;
        let scaled_ms = started.elapsed().as_secs_f64() / n * 1e3;
        let (turbo_mean, turbo_max) = difference(&full, &turbo);
        let (mean, max) = difference(&full, &scaled);
        println!(
            "round {round}: {} covers; full decode {full_ms:.3} ms/image; decode_bytes (libjpeg-turbo scaled) {turbo_ms:.3} ms/image, |difference| mean {turbo_mean:.2}, max {turbo_max}; jpeg-decoder scaled {scaled_ms:.3} ms/image, |difference| mean {mean:.2}, max {max}",
            covers.len()
        );
    }
    Ok(())
}
