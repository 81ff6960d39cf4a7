//! What the editors' unit tests share: values, applying splices, checking that their inverse
//! gives the file back, and random corruptions.

use super::{apply, inverse, Splice};
use crate::audio::values::Values;
use std::io::Cursor;

pub fn values(list: &[&str]) -> Values {
    list.iter().map(|v| v.to_string()).collect()
}

/// `file` with `splices` applied.
pub fn edited(file: &[u8], splices: &[Splice]) -> Vec<u8> {
    let mut out = Vec::new();
    let written = apply(&mut Cursor::new(file), file.len() as u64, splices, &mut out).unwrap();
    assert_eq!(written as usize, out.len());
    out
}

/// `file` with `splices` applied, once their inverse is checked to give `file` back.
pub fn undoable(file: &[u8], splices: &[Splice]) -> Vec<u8> {
    let after = edited(file, splices);
    let undo = inverse(&mut Cursor::new(file), splices).unwrap();
    assert_eq!(
        edited(&after, &undo),
        file,
        "the inverse gives the bytes back"
    );
    after
}

/// A Vorbis comment list of `vendor` and `comments` (each `KEY=value`), as FLAC and Ogg hold
/// it, written by hand so the tests do not read back with the code under test.
pub fn comment_list(vendor: &str, comments: &[&str]) -> Vec<u8> {
    let mut list = (vendor.len() as u32).to_le_bytes().to_vec();
    list.extend_from_slice(vendor.as_bytes());
    list.extend_from_slice(&(comments.len() as u32).to_le_bytes());
    for comment in comments {
        list.extend_from_slice(&(comment.len() as u32).to_le_bytes());
        list.extend_from_slice(comment.as_bytes());
    }
    list
}

/// A small xorshift generator: the corruptions are the same on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// `bytes` with `changes` bytes at or after `from` set to random values.
    pub fn corrupt(&mut self, bytes: &mut [u8], from: usize, changes: usize) {
        for _ in 0..changes {
            let at = from + (self.next() % (bytes.len() - from) as u64) as usize;
            bytes[at] = (self.next() >> 32) as u8;
        }
    }
}
