//! File -> RGB u8 HWC at the model's input size.
//!
//! Every supported format (JPEG, PNG, WebP, GIF first frame, BMP) in any colour type (grey,
//! CMYK, 16-bit, with alpha) goes through the same steps: size checks before any pixel is
//! decoded (so a decompression bomb never allocates), decode, EXIF orientation, alpha composited
//! on white, then the one resize ([`resize_rgb`]). Problems come back as a [`DecodeError`] whose
//! text is the reason only; callers add the path.
//!
//! A JPEG at least twice the output size on both sides is decoded at the largest reduction
//! (1/2, 1/4 or 1/8, see [`jpeg_scale_denominator`]) that stays at or above the output size,
//! by libjpeg-turbo's scaled IDCT (`data::turbo`), then resized as usual: a 1000 px cover
//! becomes 250 px inside the decoder for a 224 px model, a quarter of the work of a full decode.
//! Without libjpeg-turbo (or with `COVERGENRE_JPEG_SCALING=off`) it is decoded at full size.

use super::turbo;
use crate::preprocess::{Preprocess, ResizeFilter};
use fast_image_resize::images::{TypedImage, TypedImageRef};
use fast_image_resize::pixels::U8x3;
use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, RgbImage};
use std::io::{Cursor, ErrorKind};
use std::path::Path;

/// Guards against decompression bombs and runaway files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest width x height accepted, checked from the header before decoding.
    pub max_pixels: u64,
    /// Largest file accepted, checked before reading it.
    pub max_file_bytes: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_pixels: 40_000_000,
            max_file_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Why a file could not be turned into pixels. `Display` gives the reason without the path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty file")]
    Empty,
    #[error("is a directory")]
    IsDirectory,
    #[error("cannot read: {0}")]
    Unreadable(String),
    #[error("not an image")]
    NotAnImage,
    #[error("{bytes} bytes is over the {limit}-byte file size limit")]
    FileTooLarge { bytes: u64, limit: u64 },
    #[error("{width}x{height} pixels is over the {limit}-pixel limit")]
    TooManyPixels { width: u32, height: u32, limit: u64 },
    #[error("zero-sized image ({width}x{height})")]
    ZeroSized { width: u32, height: u32 },
    #[error("truncated {format}: {detail}")]
    Truncated { format: String, detail: String },
    #[error("corrupt {format}: {detail}")]
    Corrupt { format: String, detail: String },
    #[error("unsupported {format}: {detail}")]
    Unsupported { format: String, detail: String },
}

/// Reads and decodes one cover file to RGB u8 HWC at `pre.height` x `pre.width`. An audio
/// file (a music library's album without a cover file) is a cover too: its embedded picture,
/// read from the tags alone ([`crate::audio::read_tag_picture`]).
pub fn decode_file(
    path: &Path,
    pre: &Preprocess,
    limits: &DecodeLimits,
) -> Result<Vec<u8>, DecodeError> {
    let bytes = if crate::files::is_audio_path(path) {
        embedded_picture_of(path)?
    } else {
        read_limited(path, limits)?
    };
    decode_bytes(&bytes, pre, limits)
}

/// The picture in an audio file's tags.
fn embedded_picture_of(path: &Path) -> Result<Vec<u8>, DecodeError> {
    match crate::audio::read_tag_picture(path) {
        Ok(read) => read
            .picture
            .ok_or_else(|| DecodeError::Unreadable("the audio file's tags hold no picture".into())),
        Err(reason) => Err(DecodeError::Unreadable(format!("its tags: {reason}"))),
    }
}

/// Decodes an in-memory image (a file's bytes, or album art embedded in an audio file). Big
/// JPEGs are decoded at reduced size first (see the module notes).
pub fn decode_bytes(
    bytes: &[u8],
    pre: &Preprocess,
    limits: &DecodeLimits,
) -> Result<Vec<u8>, DecodeError> {
    let rgb = decode_oriented(bytes, limits, Some((pre.width, pre.height)))?;
    Ok(resize_rgb(&rgb, pre))
}

/// [`decode_bytes`] always decoding at full size: the reference the scaled decode is held to.
pub fn decode_bytes_full_size(
    bytes: &[u8],
    pre: &Preprocess,
    limits: &DecodeLimits,
) -> Result<Vec<u8>, DecodeError> {
    let rgb = decode_to_rgb(bytes, limits)?;
    Ok(resize_rgb(&rgb, pre))
}

/// Decodes to full-size RGB8 with orientation applied and alpha composited on white.
pub fn decode_to_rgb(bytes: &[u8], limits: &DecodeLimits) -> Result<RgbImage, DecodeError> {
    decode_oriented(bytes, limits, None)
}

/// How JPEG covers are turned into pixels in this process: `"jpeg-scaled"` when libjpeg-turbo's
/// reduced-size decoding is on, else `"full-size"`. Cached pixels are keyed by it.
pub fn pixel_recipe() -> &'static str {
    match turbo::library() {
        Some(_) => "jpeg-scaled",
        None => "full-size",
    }
}

/// The reduction (1, 2, 4 or 8) a `width` x `height` JPEG is decoded at for a `target_width` x
/// `target_height` output: the largest whose result (rounded up, as libjpeg does) is still at
/// least the target on both sides.
pub fn jpeg_scale_denominator(
    width: u32,
    height: u32,
    target_width: u32,
    target_height: u32,
) -> u32 {
    [8, 4, 2]
        .into_iter()
        .find(|&d| width.div_ceil(d) >= target_width && height.div_ceil(d) >= target_height)
        .unwrap_or(1)
}

/// Decodes to RGB8 with orientation applied and alpha composited on white: at full size, or,
/// for a big JPEG and an output size `target` (after orientation), at reduced size.
fn decode_oriented(
    bytes: &[u8],
    limits: &DecodeLimits,
    target: Option<(u32, u32)>,
) -> Result<RgbImage, DecodeError> {
    check_byte_len(bytes.len() as u64, limits)?;
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| DecodeError::Unreadable(io_reason(&e)))?;
    let format = reader.format().ok_or(DecodeError::NotAnImage)?;
    let format_name = format_name(format);
    if format == ImageFormat::Jpeg && !jpeg_has_end_marker(bytes) {
        // zune-jpeg fills a cut-off scan with grey instead of failing, so check the end marker.
        return Err(DecodeError::Truncated {
            format: format_name,
            detail: "no end-of-image marker after the image data".into(),
        });
    }
    let mut reader = reader;
    reader.limits(decoder_limits(limits));
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| classify(e, &format_name))?;
    check_dimensions(decoder.dimensions(), limits)?;
    // A broken EXIF block is not worth losing the cover for: fall back to "as stored".
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let scaled = match (format, target) {
        (ImageFormat::Jpeg, Some(target)) => decode_jpeg_scaled(bytes, target, orientation, limits),
        _ => None,
    };
    let mut image = match scaled {
        Some(rgb) => DynamicImage::ImageRgb8(rgb.map_err(|detail| DecodeError::Corrupt {
            format: format_name.clone(),
            detail,
        })?),
        None => DynamicImage::from_decoder(decoder).map_err(|e| classify(e, &format_name))?,
    };
    image.apply_orientation(orientation);
    Ok(to_rgb_on_white(image))
}

/// A JPEG decoded at reduced size for an output of `target` (width, height) once `orientation`
/// is applied; `None` when that does not apply (small image, CMYK, no libjpeg-turbo), so the
/// caller decodes at full size.
fn decode_jpeg_scaled(
    bytes: &[u8],
    target: (u32, u32),
    orientation: Orientation,
    limits: &DecodeLimits,
) -> Option<Result<RgbImage, String>> {
    let library = turbo::library()?;
    let header = match library.header(bytes) {
        Ok(header) => header,
        Err(reason) => return Some(Err(reason)),
    };
    // Rotated by 90 degrees, the stored width becomes the output's height.
    let (target_width, target_height) = match orientation {
        Orientation::Rotate90
        | Orientation::Rotate270
        | Orientation::Rotate90FlipH
        | Orientation::Rotate270FlipH => (target.1, target.0),
        _ => target,
    };
    // Reductions are powers of two, so a smaller cap still fits the target.
    let denominator =
        jpeg_scale_denominator(header.width, header.height, target_width, target_height)
            .min(turbo::largest_reduction());
    // Already checked from the full-size decoder's reading of the header; a file the two
    // decoders read differently is left to the full-size one.
    let within_limits = check_dimensions((header.width, header.height), limits).is_ok();
    if denominator == 1 || !header.rgb_decodable || !within_limits {
        return None;
    }
    Some(library.decode_scaled(bytes, &header, denominator))
}

/// The one resize used everywhere (training, classify, eval): fast_image_resize with the
/// preprocessing's filter, aspect ratio not kept (covers are square).
pub fn resize_rgb(rgb: &RgbImage, pre: &Preprocess) -> Vec<u8> {
    if rgb.width() == pre.width && rgb.height() == pre.height {
        return rgb.as_raw().clone();
    }
    let options = ResizeOptions::new().resize_alg(resize_algorithm(pre.filter));
    let mut resized = vec![0u8; pre.width as usize * pre.height as usize * 3];
    // Typed to RGB: the untyped `resize` compiles the convolutions of all 13 pixel types into
    // this crate, a third of its code (docs/results.md, "Release build time").
    let src = TypedImageRef::<U8x3>::from_buffer(rgb.width(), rgb.height(), rgb.as_raw())
        .expect("an RgbImage's buffer holds width x height RGB pixels");
    let mut dst = TypedImage::<U8x3>::from_buffer(pre.width, pre.height, &mut resized)
        .expect("the buffer was made for width x height RGB pixels");
    Resizer::new()
        .resize_typed(&src, &mut dst, &options)
        .expect("an RGB to RGB resize cannot fail");
    resized
}

fn resize_algorithm(filter: ResizeFilter) -> ResizeAlg {
    match filter {
        ResizeFilter::Nearest => ResizeAlg::Nearest,
        ResizeFilter::Bilinear => ResizeAlg::Convolution(FilterType::Bilinear),
        ResizeFilter::CatmullRom => ResizeAlg::Convolution(FilterType::CatmullRom),
        ResizeFilter::Lanczos3 => ResizeAlg::Convolution(FilterType::Lanczos3),
    }
}

/// Reads a file after checking it is a non-empty regular file within the size limit.
fn read_limited(path: &Path, limits: &DecodeLimits) -> Result<Vec<u8>, DecodeError> {
    let meta = std::fs::metadata(path).map_err(|e| DecodeError::Unreadable(io_reason(&e)))?;
    if meta.is_dir() {
        return Err(DecodeError::IsDirectory);
    }
    check_byte_len(meta.len(), limits)?;
    let bytes = std::fs::read(path).map_err(|e| DecodeError::Unreadable(io_reason(&e)))?;
    // The file may have changed between the two calls; check what was actually read.
    check_byte_len(bytes.len() as u64, limits)?;
    Ok(bytes)
}

fn check_byte_len(len: u64, limits: &DecodeLimits) -> Result<(), DecodeError> {
    if len == 0 {
        return Err(DecodeError::Empty);
    }
    if len > limits.max_file_bytes {
        return Err(DecodeError::FileTooLarge {
            bytes: len,
            limit: limits.max_file_bytes,
        });
    }
    Ok(())
}

fn check_dimensions((width, height): (u32, u32), limits: &DecodeLimits) -> Result<(), DecodeError> {
    if width == 0 || height == 0 {
        return Err(DecodeError::ZeroSized { width, height });
    }
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(DecodeError::TooManyPixels {
            width,
            height,
            limit: limits.max_pixels,
        });
    }
    Ok(())
}

/// The image crate's own allocation cap, a second line behind [`check_dimensions`]: room for
/// the largest allowed image at 16 bytes per pixel (RGBA 32-bit float), at least 64 MiB.
fn decoder_limits(limits: &DecodeLimits) -> image::Limits {
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_alloc = Some(limits.max_pixels.saturating_mul(16).max(64 << 20));
    decoder_limits
}

/// Finds the JPEG end-of-image marker after the first start-of-scan. Walking the marker
/// segments (instead of searching the bytes) skips an EXIF thumbnail, which has its own
/// complete scan and end marker inside APP1. Inside entropy-coded data 0xFF is always followed
/// by 0x00 or a restart marker, so the first FF D9 after the scan header is the real end.
fn jpeg_has_end_marker(bytes: &[u8]) -> bool {
    let Some(scan_start) = jpeg_first_scan_offset(bytes) else {
        // No scan found by walking: let the decoder report what is wrong.
        return true;
    };
    bytes[scan_start..].windows(2).any(|w| w == [0xFF, 0xD9])
}

fn jpeg_first_scan_offset(bytes: &[u8]) -> Option<usize> {
    let mut pos = 2; // after SOI
    while pos + 4 <= bytes.len() {
        if bytes[pos] != 0xFF {
            return None;
        }
        let marker = bytes[pos + 1];
        if marker == 0xFF {
            pos += 1; // fill byte
            continue;
        }
        let segment_len = usize::from(u16::from_be_bytes([bytes[pos + 2], bytes[pos + 3]]));
        if marker == 0xDA {
            return Some(pos + 2 + segment_len).filter(|&end| end <= bytes.len());
        }
        pos += 2 + segment_len;
    }
    None
}

/// Any colour type to RGB8; transparent pixels become white, as on a printed sleeve.
fn to_rgb_on_white(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let (width, height) = rgba.dimensions();
    let mut rgb = RgbImage::new(width, height);
    for (dst, src) in rgb.pixels_mut().zip(rgba.pixels()) {
        let alpha = u32::from(src[3]);
        for c in 0..3 {
            let blended = (u32::from(src[c]) * alpha + 255 * (255 - alpha) + 127) / 255;
            dst[c] = blended as u8;
        }
    }
    rgb
}

/// Sorts an image-crate error into a reason a person can act on.
fn classify(error: ImageError, format: &str) -> DecodeError {
    let format = format.to_string();
    match error {
        ImageError::IoError(e) if e.kind() == ErrorKind::UnexpectedEof => DecodeError::Truncated {
            format,
            detail: e.to_string(),
        },
        ImageError::IoError(e) => DecodeError::Unreadable(io_reason(&e)),
        ImageError::Limits(e) => DecodeError::Unsupported {
            format,
            detail: format!("over the decoder's memory limit ({e})"),
        },
        ImageError::Unsupported(e) => DecodeError::Unsupported {
            format,
            detail: e.to_string(),
        },
        other => {
            let detail = other.to_string();
            if looks_truncated(&detail) {
                DecodeError::Truncated { format, detail }
            } else {
                DecodeError::Corrupt { format, detail }
            }
        }
    }
}

/// Decoders report a cut-off file in their own words rather than as an EOF io error.
fn looks_truncated(detail: &str) -> bool {
    let lower = detail.to_lowercase();
    [
        "eof",
        "end of file",
        "unexpected end",
        "truncated",
        "no more data",
        "exhausted",
    ]
    .iter()
    .any(|word| lower.contains(word))
}

fn io_reason(error: &std::io::Error) -> String {
    match error.kind() {
        ErrorKind::NotFound => "not found".into(),
        ErrorKind::PermissionDenied => "permission denied".into(),
        _ => error.to_string(),
    }
}

fn format_name(format: ImageFormat) -> String {
    format!("{format:?}").to_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_marker_search_skips_segments_and_needs_a_scan_end() {
        // SOI, APP0 (len 4, containing FF D9), SOS (len 2), data, EOI.
        let complete = [
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0xFF, 0xD9, 0xFF, 0xDA, 0x00, 0x02, 0x12, 0x34,
            0xFF, 0xD9,
        ];
        assert!(jpeg_has_end_marker(&complete));
        // The same file cut before its EOI: the FF D9 inside APP0 must not count.
        assert!(!jpeg_has_end_marker(&complete[..14]));
    }

    #[test]
    fn alpha_is_composited_on_white() {
        let mut rgba = image::RgbaImage::new(2, 1);
        rgba.put_pixel(0, 0, image::Rgba([0, 0, 0, 0]));
        rgba.put_pixel(1, 0, image::Rgba([0, 0, 0, 255]));
        let rgb = to_rgb_on_white(DynamicImage::ImageRgba8(rgba));
        assert_eq!(rgb.get_pixel(0, 0).0, [255, 255, 255]);
        assert_eq!(rgb.get_pixel(1, 0).0, [0, 0, 0]);
    }
}
