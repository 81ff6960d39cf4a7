//! Editing one field of an audio file's tag as a list of byte splices, so that every byte the
//! edit was not asked to change stays as it was, and the edit can be undone byte for byte.
//!
//! A format's editor reads the file and answers with [`Splice`]s: "replace bytes
//! `start..end` of the original file with `bytes`". Everything outside the splices is copied
//! verbatim (other frames, comments, atoms, pictures, the audio). The splices of one edit are
//! sorted and do not overlap ([`check`]); an insertion is a splice with `start == end`, a
//! removal one with empty `bytes`.
//!
//! Why splices rather than a re-serialised tag: a parse-and-rewrite normalises what it parsed
//! (track numbers, several values in ID3v2.3 frames, frame order, padding) and refuses to write
//! what it finds invalid, although the edit never touched it. Splices touch only the field, the
//! sizes that contain it, and the padding that absorbs the change. And their inverse
//! ([`inverse`]) is small: only the original bytes the edit replaced, which is what the
//! journal keeps to restore a file exactly.

pub mod apev2;
pub mod flac;
pub mod id3v2;
pub mod iff;
pub mod mp4;
pub mod ogg;
#[cfg(test)]
mod testing;
mod vorbis;

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Range;

/// Replace bytes `start..end` of the original file with `bytes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Splice {
    pub start: u64,
    pub end: u64,
    pub bytes: Vec<u8>,
}

impl Splice {
    /// A splice that puts `bytes` at `at` without removing anything.
    pub fn insert(at: u64, bytes: Vec<u8>) -> Self {
        Self {
            start: at,
            end: at,
            bytes,
        }
    }

    /// A splice that writes `bytes` over as many original bytes at `at`.
    pub fn overwrite(at: u64, bytes: Vec<u8>) -> Self {
        let end = at + bytes.len() as u64;
        Self {
            start: at,
            end,
            bytes,
        }
    }

    /// How much longer the file gets (negative: shorter).
    pub fn growth(&self) -> i64 {
        self.bytes.len() as i64 - (self.end - self.start) as i64
    }
}

/// Checks that splices are sorted, do not overlap and lie within a file of `len` bytes.
pub fn check(splices: &[Splice], len: u64) -> io::Result<()> {
    let mut last_end = 0;
    for splice in splices {
        if splice.start > splice.end || splice.start < last_end || splice.end > len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "bad edit: bytes {}..{} of a {len}-byte file, after one ending at {last_end}",
                    splice.start, splice.end
                ),
            ));
        }
        last_end = splice.end;
    }
    Ok(())
}

/// Writes the original (`source`, `len` bytes, read from its start) with `splices` applied to
/// `target`; returns the bytes written.
pub fn apply(
    source: &mut (impl Read + Seek),
    len: u64,
    splices: &[Splice],
    target: &mut impl Write,
) -> io::Result<u64> {
    apply_range(source, 0..len, splices, target)
}

/// Writes bytes `range` of the original (`source`) with `splices`, which all lie in that
/// range, applied to `target`; returns the bytes written. An in-place write needs only the
/// range from the first splice to the last when the splices do not change the length.
pub fn apply_range(
    source: &mut (impl Read + Seek),
    range: Range<u64>,
    splices: &[Splice],
    target: &mut impl Write,
) -> io::Result<u64> {
    check(splices, range.end)?;
    if splices.first().is_some_and(|s| s.start < range.start) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad edit: a splice before byte {}", range.start),
        ));
    }
    source.seek(SeekFrom::Start(range.start))?;
    let mut at = range.start;
    let mut written = 0;
    for splice in splices {
        written += io::copy(&mut (&mut *source).take(splice.start - at), target)?;
        target.write_all(&splice.bytes)?;
        written += splice.bytes.len() as u64;
        source.seek(SeekFrom::Start(splice.end))?;
        at = splice.end;
    }
    written += io::copy(&mut (&mut *source).take(range.end - at), target)?;
    Ok(written)
}

/// The one splice that turns `old`, found at `at` in the file, into `new`: what lies between
/// their common start and their common end (none when they are equal).
pub fn difference(old: &[u8], new: &[u8], at: u64) -> Option<Splice> {
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    if prefix == old.len() && old.len() == new.len() {
        return None;
    }
    let room = old.len().min(new.len()) - prefix;
    let suffix = old
        .iter()
        .rev()
        .zip(new.iter().rev())
        .take(room)
        .take_while(|(a, b)| a == b)
        .count();
    Some(Splice {
        start: at + prefix as u64,
        end: at + (old.len() - suffix) as u64,
        bytes: new[prefix..new.len() - suffix].to_vec(),
    })
}

/// The splices that turn the edited file back into the original: for each splice, the
/// original bytes it replaced, at the place its new bytes have in the edited file. `original`
/// is the file before the edit.
pub fn inverse(original: &mut (impl Read + Seek), splices: &[Splice]) -> io::Result<Vec<Splice>> {
    let mut shift: i64 = 0;
    let mut undo = Vec::with_capacity(splices.len());
    for splice in splices {
        let mut replaced = vec![0; (splice.end - splice.start) as usize];
        original.seek(SeekFrom::Start(splice.start))?;
        original.read_exact(&mut replaced)?;
        let start = (splice.start as i64 + shift) as u64;
        undo.push(Splice {
            start,
            end: start + splice.bytes.len() as u64,
            bytes: replaced,
        });
        shift += splice.growth();
    }
    Ok(undo)
}

#[cfg(test)]
mod tests {
    use super::testing::edited;
    use super::*;
    use std::io::Cursor;

    #[test]
    fn splices_replace_insert_and_remove_and_their_inverse_restores_the_original() {
        let original = b"ID3 header|TCON=Jazz|APIC....|padding0000|audio".to_vec();
        let splices = vec![
            Splice {
                start: 11,
                end: 20,
                bytes: b"TCON=Heavy Metal".to_vec(),
            },
            Splice::insert(30, b"+".to_vec()),
            Splice {
                start: 37,
                end: 41,
                bytes: Vec::new(),
            },
        ];
        let new = edited(&original, &splices);
        assert_eq!(new, b"ID3 header|TCON=Heavy Metal|APIC....|+padding|audio");
        let undo = inverse(&mut Cursor::new(&original), &splices).unwrap();
        assert_eq!(edited(&new, &undo), original);
        // The inverse keeps only what was replaced, never the bytes copied through.
        let kept: usize = undo.iter().map(|s| s.bytes.len()).sum();
        assert_eq!(kept, 9 + 4);
    }

    #[test]
    fn a_range_of_the_original_is_written_with_the_splices_in_it() {
        let original = b"0123456789";
        let splices = [
            Splice::overwrite(3, b"ab".to_vec()),
            Splice::insert(6, b"+".to_vec()),
        ];
        let mut out = Vec::new();
        let n = apply_range(&mut Cursor::new(original), 2..8, &splices, &mut out).unwrap();
        assert_eq!((out.as_slice(), n), (&b"2ab5+67"[..], 7));
        assert!(apply_range(&mut Cursor::new(original), 4..8, &splices, &mut out).is_err());
    }

    #[test]
    fn the_difference_is_one_splice_between_the_common_start_and_end() {
        let old = b"OggS header|GENRE=Jazz|audio pages";
        let new = b"OggS header|GENRE=Heavy Metal|audio pages";
        let splice = difference(old, new, 100).unwrap();
        assert_eq!((splice.start, splice.end), (118, 122));
        let mut shifted = vec![0; 100];
        shifted.extend_from_slice(old);
        assert_eq!(edited(&shifted, &[splice])[100..], new[..]);
        assert!(difference(old, old, 0).is_none());
        assert_eq!(
            difference(b"aa", b"aaa", 0),
            Some(Splice::insert(2, b"a".to_vec()))
        );
        assert_eq!(difference(b"abc", b"", 0).unwrap().end, 3);
    }

    #[test]
    fn overlapping_unsorted_or_out_of_range_splices_are_refused() {
        let a = Splice::overwrite(2, vec![1, 2, 3]);
        let b = Splice::overwrite(4, vec![9]);
        assert!(check(&[a.clone(), b.clone()], 10).is_err());
        assert!(check(&[b.clone(), Splice::insert(0, vec![])], 10).is_err());
        assert!(check(&[Splice::overwrite(8, vec![0; 4])], 10).is_err());
        assert!(check(&[a, Splice::insert(5, vec![7])], 10).is_ok());
    }
}
