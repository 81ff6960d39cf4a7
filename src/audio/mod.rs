//! Audio files' tags, read and written per format with lofty: one genre field (or a field of
//! our own) and the picture embedded as album art. Only tag regions are read; the audio is
//! never decoded. Every module that opens an audio file's tags goes through here: covers (the
//! embedded cover), datasets (a library's genres), tagging (writing genres).
//!
//! - [`fields`]: read and write one field of one file, in the format's own tag type.
//! - [`embedded`]: the picture embedded in an album's audio files.

pub mod embedded;
pub mod fields;

pub use embedded::{embedded_picture, read_tag_picture, TagRead};
