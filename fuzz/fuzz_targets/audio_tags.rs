//! Embedded-art extraction: lofty parses the tags of an arbitrary file (ID3v2, FLAC metadata
//! blocks, MP4 atoms, Ogg pages), as `covergenre-classify --library` does for every track.
#![no_main]

#[path = "../src/scratch.rs"]
mod scratch;

use covergenre::audio::{embedded_picture, read_tag_picture};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let path = scratch::write("track", bytes);
    let read = read_tag_picture(&path);
    let picture = embedded_picture(std::slice::from_ref(&path));
    assert_eq!(
        picture.ok().map(|p| p.bytes),
        read.ok().and_then(|r| r.picture),
        "embedded_picture and read_tag_picture disagree"
    );
});
