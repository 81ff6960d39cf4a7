//! Image decoding as classify and training do it: every format, header size checks against the
//! pixel limit, EXIF orientation, alpha, the scaled JPEG path and the resize.
#![no_main]

use covergenre::data::decode::{decode_bytes, decode_bytes_full_size, DecodeLimits};
use covergenre::preprocess::{Normalisation, Preprocess};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    // A small pixel limit keeps each run fast while still exercising the limit check; the
    // default limit is checked by the same code path with a larger number.
    let limits = DecodeLimits {
        max_pixels: 4_000_000,
        ..DecodeLimits::default()
    };
    let pre = Preprocess::square(64, Normalisation::UNIT);
    let scaled = decode_bytes(bytes, &pre, &limits);
    let full = decode_bytes_full_size(bytes, &pre, &limits);
    if let (Ok(a), Ok(b)) = (&scaled, &full) {
        assert_eq!(a.len(), pre.image_len());
        assert_eq!(b.len(), pre.image_len());
    }
});
