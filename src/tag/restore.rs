//! What gives a written file back byte for byte: the splices that undo the write (only the
//! original bytes the write replaced, never the file), the file's length after the write, and
//! a SHA-256 of what the write put at each place. Undo applies the splices only where the file
//! still holds exactly that; otherwise it puts back the old values instead.
//!
//! A write is recorded this way only when it replaced at most [`MAX_KEPT`] bytes, so a
//! journal stays small: an ID3v2 or FLAC genre edit keeps a few dozen bytes per track.

use crate::audio::edit::{self, Splice};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{self, Read, Seek, SeekFrom};

/// The most original bytes a restore keeps; a write that replaced more (an MP4 file whose
/// chunk offset tables, megabytes of them, all moved) is undone by its values.
pub const MAX_KEPT: usize = 1 << 20;

/// The most splices a restore keeps (each costs a line of JSON about 120 bytes long); a write
/// of more (an Ogg file whose header pages were all full, so that every page after them was
/// renumbered) is undone by its values, so the journal never grows with the file.
pub const MAX_SPLICES: usize = 64;

/// The record that undoes one write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restore {
    /// The file's length after the write.
    pub length: u64,
    /// The undoing splices, in the written file's coordinates.
    pub splices: Vec<SavedSplice>,
}

/// One undoing splice: `bytes` (the original's) go back over `start..end`, which must hold
/// what the write put there (`written`: SHA-256, hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedSplice {
    pub start: u64,
    pub end: u64,
    #[serde(with = "base64_bytes")]
    pub bytes: Vec<u8>,
    pub written: String,
}

impl Restore {
    /// The record undoing `splices` applied to `original` (`len` bytes).
    pub fn of(original: &mut (impl Read + Seek), len: u64, splices: &[Splice]) -> io::Result<Self> {
        let undo = edit::inverse(original, splices)?;
        let growth: i64 = splices.iter().map(Splice::growth).sum();
        let splices = undo
            .into_iter()
            .zip(splices)
            .map(|(undo, done)| SavedSplice {
                start: undo.start,
                end: undo.end,
                bytes: undo.bytes,
                written: sha256_hex(&done.bytes),
            })
            .collect();
        Ok(Self {
            length: (len as i64 + growth) as u64,
            splices,
        })
    }

    /// How many original bytes it keeps.
    pub fn kept(&self) -> usize {
        self.splices.iter().map(|s| s.bytes.len()).sum()
    }

    /// Whether it is small enough for a journal ([`MAX_KEPT`], [`MAX_SPLICES`]).
    pub fn fits_a_journal(&self) -> bool {
        self.kept() <= MAX_KEPT && self.splices.len() <= MAX_SPLICES
    }

    /// Whether `file` (`len` bytes) holds what the write left at every place.
    pub fn matches(&self, file: &mut (impl Read + Seek), len: u64) -> io::Result<bool> {
        if len != self.length {
            return Ok(false);
        }
        for splice in &self.splices {
            let Some(size) = splice
                .end
                .checked_sub(splice.start)
                .filter(|_| splice.end <= len)
            else {
                return Ok(false);
            };
            let mut bytes = Vec::new();
            file.seek(SeekFrom::Start(splice.start))?;
            file.take(size).read_to_end(&mut bytes)?;
            if sha256_hex(&bytes) != splice.written {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The splices that give the original back.
    pub fn splices(&self) -> Vec<Splice> {
        self.splices
            .iter()
            .map(|s| Splice {
                start: s.start,
                end: s.end,
                bytes: s.bytes.clone(),
            })
            .collect()
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Bytes as base64 text in the journal.
mod base64_bytes {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn applied(file: &[u8], splices: &[Splice]) -> Vec<u8> {
        let mut out = Vec::new();
        edit::apply(&mut Cursor::new(file), file.len() as u64, splices, &mut out).unwrap();
        out
    }

    #[test]
    fn a_restore_undoes_a_write_only_while_the_file_holds_what_was_written() {
        let original = b"ID3 TCON=Jazz pad pad|audio".to_vec();
        let splices = [
            Splice::overwrite(4, b"TCON=Rock".to_vec()),
            Splice {
                start: 13,
                end: 17,
                bytes: Vec::new(),
            },
        ];
        let written = applied(&original, &splices);
        let restore =
            Restore::of(&mut Cursor::new(&original), original.len() as u64, &splices).unwrap();
        assert_eq!(restore.kept(), 9 + 4);
        let len = written.len() as u64;
        assert!(restore.matches(&mut Cursor::new(&written), len).unwrap());
        assert_eq!(applied(&written, &restore.splices()), original);
        // Another genre written since, or another length: not what this write left.
        let mut changed = written.clone();
        changed[9] = b'P';
        assert!(!restore.matches(&mut Cursor::new(&changed), len).unwrap());
        assert!(!restore
            .matches(&mut Cursor::new(&original), original.len() as u64)
            .unwrap());
        // Through JSON, as the journal keeps it.
        let text = serde_json::to_string(&restore).unwrap();
        assert!(text.contains("\"bytes\":\"VENPTj1KYXp6\""), "{text}");
        assert_eq!(serde_json::from_str::<Restore>(&text).unwrap(), restore);
    }
}
