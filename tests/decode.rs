//! Decoding covers end to end: every format and colour type, EXIF orientation, bad files of
//! each kind with their reasons, the order of a batch, and the decoded-image cache in memory
//! and on disk. Images are made by the tests.

mod common;

use common::{genre_cover, genre_folders, mean_rgb, write_image};
use covergenre::data::cache::ImageCache;
use covergenre::data::decode::{
    decode_bytes, decode_file, decode_to_rgb, DecodeError, DecodeLimits,
};
use covergenre::data::{load_samples, Sample};
use covergenre::preprocess::{Normalisation, Preprocess};
use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

fn pre(size: u32) -> Preprocess {
    Preprocess::square(size, Normalisation::UNIT)
}

fn limits() -> DecodeLimits {
    DecodeLimits::default()
}

fn solid(width: u32, height: u32, rgb: [u8; 3]) -> RgbImage {
    RgbImage::from_pixel(width, height, Rgb(rgb))
}

fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, format).unwrap();
    bytes.into_inner()
}

fn assert_close(actual: [f64; 3], expected: [u8; 3], tolerance: f64, what: &str) {
    for c in 0..3 {
        assert!(
            (actual[c] - expected[c] as f64).abs() <= tolerance,
            "{what}: channel {c} is {:.1}, expected {} (+-{tolerance})",
            actual[c],
            expected[c]
        );
    }
}

// ---------------------------------------------------------------- decoding

#[test]
fn every_format_decodes_to_rgb_at_the_input_size() {
    let image = DynamicImage::ImageRgb8(solid(40, 30, [200, 60, 20]));
    for format in [
        ImageFormat::Jpeg,
        ImageFormat::Png,
        ImageFormat::WebP,
        ImageFormat::Bmp,
        ImageFormat::Gif,
    ] {
        let bytes = encode(&image, format);
        let pixels = decode_bytes(&bytes, &pre(16), &limits()).unwrap();
        assert_eq!(pixels.len(), 16 * 16 * 3, "{format:?}");
        // GIF quantises to a palette, JPEG compresses: a small tolerance covers both.
        assert_close(
            mean_rgb(&pixels),
            [200, 60, 20],
            6.0,
            &format!("{format:?}"),
        );
    }
}

#[test]
fn gif_gives_its_first_frame() {
    use image::codecs::gif::GifEncoder;
    let frame = |rgb: [u8; 4]| image::Frame::new(RgbaImage::from_pixel(8, 8, Rgba(rgb)));
    let mut bytes = Vec::new();
    GifEncoder::new(&mut bytes)
        .encode_frames([frame([255, 0, 0, 255]), frame([0, 0, 255, 255])])
        .unwrap();
    let pixels = decode_bytes(&bytes, &pre(8), &limits()).unwrap();
    assert_close(mean_rgb(&pixels), [255, 0, 0], 1.0, "first GIF frame");
}

#[test]
fn grey_sixteen_bit_and_alpha_images_become_rgb_with_alpha_on_white() {
    let grey = DynamicImage::ImageLuma8(image::GrayImage::from_pixel(8, 8, image::Luma([90])));
    let grey16 = DynamicImage::ImageLuma16(image::ImageBuffer::from_pixel(
        8,
        8,
        image::Luma([40000u16]),
    ));
    let rgb16 = DynamicImage::ImageRgb16(image::ImageBuffer::from_pixel(
        8,
        8,
        Rgb([65535u16, 0, 32768]),
    ));
    let clear = DynamicImage::ImageRgba8(RgbaImage::from_pixel(8, 8, Rgba([0, 0, 0, 0])));
    let half = DynamicImage::ImageRgba8(RgbaImage::from_pixel(8, 8, Rgba([0, 0, 255, 128])));
    let grey_alpha = DynamicImage::ImageLumaA8(image::GrayAlphaImage::from_pixel(
        8,
        8,
        image::LumaA([0, 0]),
    ));
    let cases: [(DynamicImage, [u8; 3]); 6] = [
        (grey, [90, 90, 90]),
        (grey16, [156, 156, 156]),
        (rgb16, [255, 0, 128]),
        (clear, [255, 255, 255]),
        (half, [127, 127, 255]),
        (grey_alpha, [255, 255, 255]),
    ];
    for (image, expected) in cases {
        let what = format!("{:?}", image.color());
        let pixels = decode_bytes(&encode(&image, ImageFormat::Png), &pre(4), &limits()).unwrap();
        assert_close(mean_rgb(&pixels), expected, 1.0, &what);
    }
}

#[test]
fn cmyk_jpeg_becomes_rgb() {
    // Cyan ink only: C=255, M=Y=K=0.
    let cmyk: Vec<u8> = [255u8, 0, 0, 0].repeat(16 * 16);
    let mut bytes = Vec::new();
    jpeg_encoder::Encoder::new(&mut bytes, 95)
        .encode(&cmyk, 16, 16, jpeg_encoder::ColorType::Cmyk)
        .unwrap();
    let pixels = decode_bytes(&bytes, &pre(8), &limits()).unwrap();
    assert_close(mean_rgb(&pixels), [0, 255, 255], 12.0, "cyan CMYK");
}

/// A JPEG whose left half is red and right half blue, tagged with an EXIF orientation.
fn jpeg_with_orientation(orientation: u16) -> Vec<u8> {
    let rgb = RgbImage::from_fn(40, 20, |x, _| {
        if x < 20 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    });
    // "Exif\0\0", big-endian TIFF header, one IFD entry: Orientation (0x0112), SHORT, count 1.
    let mut exif = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01".to_vec();
    exif.extend_from_slice(&orientation.to_be_bytes());
    exif.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // value padding, next IFD offset
    let mut bytes = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut bytes, 95);
    encoder.add_app_segment(1, &exif).unwrap();
    encoder
        .encode(rgb.as_raw(), 40, 20, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    bytes
}

#[test]
fn exif_orientation_is_applied() {
    let upright = decode_to_rgb(&jpeg_with_orientation(1), &limits()).unwrap();
    assert_eq!(upright.dimensions(), (40, 20));
    // Orientation 6: the stored image must be turned 90 degrees clockwise to display, so its
    // left (red) half ends up on top.
    let turned = decode_to_rgb(&jpeg_with_orientation(6), &limits()).unwrap();
    assert_eq!(turned.dimensions(), (20, 40));
    assert!(turned.get_pixel(10, 5)[0] > 200 && turned.get_pixel(10, 5)[2] < 60);
    assert!(turned.get_pixel(10, 35)[2] > 200 && turned.get_pixel(10, 35)[0] < 60);
}

/// A BMP header claiming `width` x `height` with no pixel data: a decompression-bomb stand-in.
fn bmp_header(width: i32, height: i32) -> Vec<u8> {
    let mut b = b"BM".to_vec();
    b.extend_from_slice(&(54u32 + 16).to_le_bytes()); // file size (a lie)
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&54u32.to_le_bytes()); // pixel data offset
    b.extend_from_slice(&40u32.to_le_bytes()); // BITMAPINFOHEADER
    b.extend_from_slice(&width.to_le_bytes());
    b.extend_from_slice(&height.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes()); // planes
    b.extend_from_slice(&24u16.to_le_bytes()); // bits per pixel
    b.extend_from_slice(&[0; 24]); // no compression, sizes, resolution, palette
    b.extend_from_slice(&[0; 16]);
    b
}

#[test]
fn bad_files_fail_with_a_reason_of_each_kind() {
    let dir = tempfile::tempdir().unwrap();
    let cover = DynamicImage::ImageRgb8(genre_cover(0, 1, 64));
    let jpeg = encode(&cover, ImageFormat::Jpeg);
    let png = encode(&cover, ImageFormat::Png);
    let files: [(&str, Vec<u8>); 6] = [
        ("empty.jpg", Vec::new()),
        ("text.jpg", b"this is a text file, not a cover".to_vec()),
        ("cut.jpg", jpeg[..jpeg.len() * 2 / 3].to_vec()),
        ("cut.png", png[..png.len() / 2].to_vec()),
        ("bomb.bmp", bmp_header(12000, 12000)),
        ("ok.png", png.clone()),
    ];
    for (name, bytes) in &files {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    std::fs::create_dir(dir.path().join("folder.jpg")).unwrap();
    let reason = |name: &str| match decode_file(&dir.path().join(name), &pre(16), &limits()) {
        Ok(_) => "decoded".to_string(),
        Err(error) => error.to_string(),
    };
    assert_eq!(reason("empty.jpg"), "empty file");
    assert_eq!(reason("text.jpg"), "not an image");
    assert!(
        reason("cut.jpg").starts_with("truncated JPEG: "),
        "{}",
        reason("cut.jpg")
    );
    assert!(
        reason("cut.png").starts_with("truncated PNG"),
        "{}",
        reason("cut.png")
    );
    assert_eq!(
        reason("bomb.bmp"),
        "12000x12000 pixels is over the 40000000-pixel limit"
    );
    assert_eq!(reason("folder.jpg"), "is a directory");
    assert!(reason("missing.jpg").starts_with("cannot read: not found"));
    assert_eq!(reason("ok.png"), "decoded");

    let tight = DecodeLimits {
        max_pixels: 1000,
        max_file_bytes: 100,
    };
    let error = decode_bytes(&png, &pre(16), &tight).unwrap_err();
    assert!(
        matches!(error, DecodeError::FileTooLarge { limit: 100, .. }),
        "{error}"
    );
    let pixel_limit = DecodeLimits {
        max_pixels: 1000,
        ..limits()
    };
    assert_eq!(
        decode_bytes(&png, &pre(16), &pixel_limit)
            .unwrap_err()
            .to_string(),
        "64x64 pixels is over the 1000-pixel limit"
    );
}

#[test]
fn unreadable_file_says_permission_denied() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("locked.png");
    write_image(&path, &solid(8, 8, [1, 2, 3]));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read(&path).is_ok() {
        eprintln!("SKIPPED unreadable_file_says_permission_denied: running as a user who can read mode-000 files (root)");
        return;
    }
    let error = decode_file(&path, &pre(8), &limits()).unwrap_err();
    assert_eq!(error.to_string(), "cannot read: permission denied");
}

#[test]
fn load_samples_keeps_order_and_lists_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut samples = Vec::new();
    for i in 0..6 {
        let path = dir.path().join(format!("{i}.png"));
        if i == 2 {
            std::fs::write(&path, b"garbage").unwrap();
        } else {
            write_image(&path, &solid(12, 12, [i as u8 * 40, 0, 0]));
        }
        samples.push(Sample { path, label: i % 3 });
    }
    let cache = ImageCache::new(None);
    let loaded = load_samples(&samples, &pre(4), &cache, &limits(), "test");
    assert_eq!(loaded.len(), 5);
    assert_eq!(loaded.labels, [0, 1, 0, 1, 2]);
    assert_eq!(loaded.pixels.len(), 5 * 4 * 4 * 3);
    for (index, i) in [0u8, 1, 3, 4, 5].into_iter().enumerate() {
        assert_eq!(
            loaded.image(index, &pre(4))[0],
            i * 40,
            "image {index} is file {i}.png"
        );
    }
    assert_eq!(loaded.skipped.len(), 1);
    assert_eq!(loaded.skipped[0].path, samples[2].path);
    assert_eq!(loaded.skipped[0].reason, "not an image");
}

// ---------------------------------------------------------------- cache

#[test]
fn second_load_decodes_nothing_in_memory_and_on_disk_across_runs() {
    let data = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let paths = genre_folders(data.path(), &["x"], 5, 20, 3);
    let samples: Vec<Sample> = paths
        .into_iter()
        .map(|path| Sample { path, label: 0 })
        .collect();

    let first_run = ImageCache::new(Some(cache_dir.path().to_path_buf()));
    let first = load_samples(&samples, &pre(8), &first_run, &limits(), "epoch 1");
    assert_eq!(first_run.stats().misses, 5);
    let again = load_samples(&samples, &pre(8), &first_run, &limits(), "epoch 2");
    assert_eq!(first_run.stats().misses, 5, "second epoch decodes nothing");
    assert_eq!(first_run.stats().hits, 5);
    assert_eq!(again.pixels, first.pixels);

    let second_run = ImageCache::new(Some(cache_dir.path().to_path_buf()));
    let from_disk = load_samples(&samples, &pre(8), &second_run, &limits(), "run 2");
    assert_eq!((second_run.stats().hits, second_run.stats().misses), (5, 0));
    assert_eq!(from_disk.pixels, first.pixels);

    // Another input size is another entry.
    load_samples(&samples, &pre(10), &second_run, &limits(), "size 10");
    assert_eq!(second_run.stats().misses, 5);
}

#[test]
fn a_changed_file_or_a_damaged_entry_misses_the_cache() {
    let data = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let path = data.path().join("cover.png");
    write_image(&path, &solid(16, 16, [10, 20, 30]));
    let cache = ImageCache::new(Some(cache_dir.path().to_path_buf()));
    assert_eq!(
        cache.load(&path, &pre(4), &limits()).unwrap()[..3],
        [10, 20, 30]
    );

    write_image(&path, &solid(17, 16, [200, 100, 50]));
    let fresh = ImageCache::new(Some(cache_dir.path().to_path_buf()));
    assert_eq!(
        fresh.load(&path, &pre(4), &limits()).unwrap()[..3],
        [200, 100, 50]
    );
    assert_eq!(fresh.stats().misses, 1);

    // Truncate every disk entry: a new cache must decode again, not return short pixels.
    for entry in walkdir::WalkDir::new(cache_dir.path())
        .into_iter()
        .flatten()
    {
        if entry.file_type().is_file() {
            let bytes = std::fs::read(entry.path()).unwrap();
            std::fs::write(entry.path(), &bytes[..bytes.len() - 1]).unwrap();
        }
    }
    let after_damage = ImageCache::new(Some(cache_dir.path().to_path_buf()));
    let pixels = after_damage.load(&path, &pre(4), &limits()).unwrap();
    assert_eq!((pixels.len(), after_damage.stats().misses), (4 * 4 * 3, 1));
}
