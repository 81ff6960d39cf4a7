//! Big JPEG covers (1000-4000 px, as taggers and stores save them): the reduced-size decode
//! picks the right scale, stays close to a full decode, still handles progressive and CMYK
//! files, and bad big files fail with a clear reason without allocating the image.
//!
//! The largest single allocation is watched by a counting allocator, so the one test that
//! reads it runs alone in this binary's first thread group (see `bad_big_jpegs_...`).

mod common;

use covergenre::data::decode::{
    decode_bytes, decode_bytes_full_size, jpeg_scale_denominator, pixel_recipe, DecodeLimits,
};
use covergenre::preprocess::{Normalisation, Preprocess};
use image::{Rgb, RgbImage};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// The system allocator, remembering the largest single allocation since the last reset.
struct LargestAllocation;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for LargestAllocation {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: LargestAllocation = LargestAllocation;

/// Tests that make big images take this lock, so the allocation watch sees only its own work.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn pre(size: u32) -> Preprocess {
    Preprocess::square(size, Normalisation::UNIT)
}

/// A cover-like picture: smooth colour fields, bands 1/12 of the size wide, and a disc.
fn cover(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let (u, v) = (x as f32 / width as f32, y as f32 / height as f32);
        let band = ((u * 12.0) as u32 % 2) as f32 * 60.0;
        let disc = ((u - 0.6).powi(2) + (v - 0.4).powi(2) < 0.04) as u8 as f32 * 120.0;
        Rgb([
            (40.0 + 180.0 * u + band).min(255.0) as u8,
            (30.0 + 150.0 * v + disc).min(255.0) as u8,
            (200.0 - 120.0 * u * v + band / 2.0).min(255.0) as u8,
        ])
    })
}

fn jpeg(image: &RgbImage, progressive: bool) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut bytes, 90);
    encoder.set_progressive(progressive);
    encoder
        .encode(
            image.as_raw(),
            image.width() as u16,
            image.height() as u16,
            jpeg_encoder::ColorType::Rgb,
        )
        .unwrap();
    bytes
}

fn mean_abs_difference(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let sum: u64 = a
        .iter()
        .zip(b)
        .map(|(p, q)| u64::from(p.abs_diff(*q)))
        .sum();
    sum as f64 / a.len() as f64
}

/// True when reduced-size decoding runs here (libjpeg-turbo found); says so when it does not.
fn scaling_here(test: &str) -> bool {
    let on = pixel_recipe() == "jpeg-scaled";
    if !on {
        eprintln!("{test}: libturbojpeg not found, so decode_bytes decodes at full size here");
    }
    on
}

#[test]
fn the_largest_reduction_that_stays_at_the_input_size_is_chosen() {
    let scale = |side: u32, input: u32| jpeg_scale_denominator(side, side, input, input);
    assert_eq!(scale(1000, 224), 4); // 250 px
    assert_eq!(scale(1400, 224), 4); // 350 px; 1/8 would be 175
    assert_eq!(scale(3000, 224), 8); // 375 px
    assert_eq!(scale(600, 224), 2); // 300 px
    assert_eq!(scale(448, 224), 2); // exactly twice
    assert_eq!(scale(440, 224), 1); // under twice
    assert_eq!(scale(300, 224), 1);
    assert_eq!(scale(300, 128), 2); // covers-v1 for the baseline: 150 px
    assert_eq!(scale(224, 224), 1);
    // Both sides must stay at the input size: the short side decides.
    assert_eq!(jpeg_scale_denominator(2000, 600, 224, 224), 2);
    assert_eq!(jpeg_scale_denominator(1000, 1000, 224, 100), 4);
    // Rounded up as libjpeg does: 1793 / 8 = 224.1 -> 225 px.
    assert_eq!(scale(1793, 224), 8);
}

#[test]
fn scaled_decode_is_close_to_full_decode_on_big_covers() {
    let _one = serial();
    for (side, input) in [
        (1000, 224),
        (1400, 224),
        (2400, 224),
        (1000, 128),
        (640, 224),
    ] {
        let bytes = jpeg(&cover(side, side), false);
        let full = decode_bytes_full_size(&bytes, &pre(input), &DecodeLimits::default()).unwrap();
        let scaled = decode_bytes(&bytes, &pre(input), &DecodeLimits::default()).unwrap();
        let difference = mean_abs_difference(&full, &scaled);
        assert!(
            difference < 2.0,
            "{side} px -> {input}: mean |difference| {difference:.2}"
        );
        if scaling_here("scaled_decode_is_close") {
            // The reduced path really ran: its pixels are not the full decode's.
            assert!(difference > 0.0, "{side} px -> {input}: identical pixels");
        }
    }
}

#[test]
fn non_square_big_covers_are_scaled_by_their_short_side() {
    let _one = serial();
    let bytes = jpeg(&cover(2000, 900), false);
    let full = decode_bytes_full_size(&bytes, &pre(224), &DecodeLimits::default()).unwrap();
    let scaled = decode_bytes(&bytes, &pre(224), &DecodeLimits::default()).unwrap();
    assert_eq!(scaled.len(), 224 * 224 * 3);
    assert!(mean_abs_difference(&full, &scaled) < 2.0);
}

#[test]
fn progressive_big_jpegs_decode_close_to_baseline_ones() {
    let _one = serial();
    let image = cover(1600, 1600);
    let progressive = jpeg(&image, true);
    let baseline = jpeg(&image, false);
    let limits = DecodeLimits::default();
    let from_progressive = decode_bytes(&progressive, &pre(224), &limits).unwrap();
    let from_baseline = decode_bytes(&baseline, &pre(224), &limits).unwrap();
    let difference = mean_abs_difference(&from_progressive, &from_baseline);
    assert!(difference < 2.0, "mean |difference| {difference:.2}");
}

#[test]
fn cmyk_big_jpegs_decode_to_the_right_colour() {
    let _one = serial();
    // Magenta ink only (C=0, M=255, Y=0, K=0): red and blue, no green.
    let side = 1200;
    let cmyk: Vec<u8> = [0u8, 255, 0, 0].repeat(side * side);
    let mut bytes = Vec::new();
    jpeg_encoder::Encoder::new(&mut bytes, 90)
        .encode(
            &cmyk,
            side as u16,
            side as u16,
            jpeg_encoder::ColorType::Cmyk,
        )
        .unwrap();
    let pixels = decode_bytes(&bytes, &pre(224), &DecodeLimits::default()).unwrap();
    assert_eq!(pixels.len(), 224 * 224 * 3);
    let mean = common::mean_rgb(&pixels);
    assert!(
        mean[0] > 230.0 && mean[1] < 25.0 && mean[2] > 230.0,
        "{mean:?}"
    );
}

/// Replaces the height and width in the first start-of-frame segment.
fn claim_size(mut jpeg: Vec<u8>, width: u16, height: u16) -> Vec<u8> {
    let sof = jpeg
        .windows(2)
        .position(|w| w[0] == 0xFF && matches!(w[1], 0xC0 | 0xC2))
        .expect("a start-of-frame marker");
    // FF C0, length (2), precision (1), height (2), width (2).
    jpeg[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    jpeg
}

#[test]
fn bad_big_jpegs_fail_with_a_clear_reason_and_no_large_allocation() {
    let _one = serial();
    let limits = DecodeLimits::default();
    // 4000 x 4000 RGB is 48 MB decoded; the file itself is a few MB.
    let whole = jpeg(&cover(4000, 4000), false);
    let truncated = whole[..whole.len() * 2 / 3].to_vec();
    let bomb = claim_size(jpeg(&cover(64, 64), false), 60000, 60000);
    let budget = whole.len() + (1 << 20); // a copy of the input and change, never the image

    LARGEST.store(0, Ordering::Relaxed);
    let error = decode_bytes(&truncated, &pre(224), &limits).unwrap_err();
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(error.to_string().starts_with("truncated JPEG"), "{error}");
    assert!(largest < budget, "largest allocation {largest} bytes");

    LARGEST.store(0, Ordering::Relaxed);
    let error = decode_bytes(&bomb, &pre(224), &limits).unwrap_err();
    let largest = LARGEST.load(Ordering::Relaxed);
    assert_eq!(
        error.to_string(),
        "60000x60000 pixels is over the 40000000-pixel limit"
    );
    assert!(largest < 1 << 20, "largest allocation {largest} bytes");

    // The whole file still decodes (the failures above are the cuts, not the size).
    assert_eq!(
        decode_bytes(&whole, &pre(224), &limits).unwrap().len(),
        224 * 224 * 3
    );
}
