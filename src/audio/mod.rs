//! Audio files' tags: one genre field (or a field of our own), read and edited per format,
//! and the picture embedded as album art (read with lofty). Only tag regions are read; the audio is
//! never decoded. Every module that opens an audio file's tags goes through here: covers (the
//! embedded cover), datasets (a library's genres), tagging (writing genres).
//!
//! - [`fields`]: read and edit one field of one file, with its format's editor.
//! - [`format`](mod@format): what a file is, told by its first bytes.
//! - [`embedded`]: the picture embedded in an album's audio files.
//! - [`values`]: which field, its values, how they compare (shared by every editor).
//! - [`edit`]: a field's edit as byte splices, so the rest of the file stays byte for byte.

pub mod edit;
pub mod embedded;
pub mod fields;
pub mod format;
pub mod values;

pub use embedded::{embedded_picture, read_tag_picture, EmbeddedPicture, TagRead};
