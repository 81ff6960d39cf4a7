//! Where everything lies in an ID3v2 tag: header, extended header, frames, padding, footer,
//! read the way mutagen reads them (so what we edit is what mutagen and beets see), with the
//! offset in the tag of every byte, so an edit can name exactly the bytes it replaces.
//!
//! ID3v2.2 and v2.3 may unsynchronise the whole tag after the (extended) header: the body is
//! decoded, and each decoded byte keeps the offset it came from. ID3v2.4 unsynchronises frame
//! by frame, which only the content of a frame we read needs to undo.

use anyhow::{anyhow, bail, Result};
use std::io::Read;
use std::ops::Range;

/// The tag header (and the v2.4 footer): `ID3`, version, revision, flags, synchsafe size.
pub(super) const HEADER_LEN: usize = 10;
const UNSYNCHRONISED: u8 = 0x80;
const EXTENDED: u8 = 0x40;
const EXPERIMENTAL: u8 = 0x20;
const FOOTER: u8 = 0x10;
/// ID3v2.2 only: a compression no specification ever defined.
const V22_COMPRESSED: u8 = 0x40;

/// Frame flags (format byte) of v2.4 and v2.3.
const V24_COMPRESSED: u16 = 0x0008;
const V24_ENCRYPTED: u16 = 0x0004;
const V24_UNSYNCHRONISED: u16 = 0x0002;
const V24_DATA_LENGTH: u16 = 0x0001;
const V23_COMPRESSED: u16 = 0x0080;
const V23_ENCRYPTED: u16 = 0x0040;

/// The most a compressed frame we read may inflate to (a genre is a few bytes).
const MAX_INFLATED: u64 = 16 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V22,
    V23,
    V24,
}

impl Version {
    /// A frame header: id, size (and flags from v2.3 on).
    pub(super) fn frame_header_len(self) -> usize {
        match self {
            Self::V22 => 6,
            _ => 10,
        }
    }

    fn id_len(self) -> usize {
        match self {
            Self::V22 => 3,
            _ => 4,
        }
    }
}

/// One frame of the body (offsets into [`Layout::body`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Frame {
    pub id: Vec<u8>,
    pub start: usize,
    /// Its content (after the header); cut at the tag's end for a frame claiming more.
    pub data: Range<usize>,
    pub flags: u16,
}

impl Frame {
    pub fn range(&self) -> Range<usize> {
        self.start..self.data.end
    }
}

/// An ID3v2 tag read.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    pub version: Version,
    pub flags: u8,
    /// The tag's length: header, extended header, body, footer.
    pub len: usize,
    /// Where the extended header lies in the tag, when there is one.
    pub extended: Option<Range<usize>>,
    /// The frames and the padding after them, as readers see them.
    pub body: Vec<u8>,
    /// Offset in the tag of each byte of `body`, and of its end; `None`: `body` is the tag's
    /// bytes from `body_start` on, as they are.
    raw_of: Option<Vec<usize>>,
    body_start: usize,
    pub frames: Vec<Frame>,
    /// Where the frames end in `body`, and the padding starts.
    pub frames_end: usize,
    /// The last frame claims more bytes than the tag holds (it was cut at the tag's end).
    pub truncated: bool,
    /// v2.4 frame sizes stored as plain integers instead of synchsafe ones (old iTunes).
    pub plain_sizes: bool,
}

/// The length of the tag whose first bytes are `header` (header, body, footer), or `None`
/// when they are no ID3v2 tag header.
pub fn tag_len(header: &[u8]) -> Option<usize> {
    if header.len() < HEADER_LEN || &header[..3] != b"ID3" {
        return None;
    }
    let footer = header[3] == 4 && header[5] & FOOTER != 0;
    Some(HEADER_LEN + synchsafe(&header[6..10]) + if footer { HEADER_LEN } else { 0 })
}

/// A 28-bit integer stored in four bytes of seven bits.
pub(super) fn synchsafe(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .fold(0, |n, &b| (n << 7) | usize::from(b & 0x7f))
}

/// `n` in four bytes of seven bits (`None` when it needs more than 28 bits).
pub(super) fn to_synchsafe(n: usize) -> Option<[u8; 4]> {
    (n < 1 << 28).then(|| [21, 14, 7, 0].map(|shift| ((n >> shift) & 0x7f) as u8))
}

/// What mutagen takes for a frame id: capital letters and digits, at least one letter.
fn is_frame_id(id: &[u8]) -> bool {
    id.iter()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && id.iter().any(u8::is_ascii_uppercase)
}

impl Layout {
    /// Reads the tag at the start of `tag` (bytes after it are ignored).
    pub fn parse(tag: &[u8]) -> Result<Self> {
        let len = tag_len(tag).ok_or_else(|| anyhow!("no ID3v2 tag here"))?;
        if tag.len() < len {
            bail!(
                "the ID3v2 tag says it is {len} bytes long, but only {} bytes follow its start",
                tag.len()
            );
        }
        let version = match tag[3] {
            2 => Version::V22,
            3 => Version::V23,
            4 => Version::V24,
            n => bail!("ID3v2.{n} is no version covergenre edits (2.2, 2.3 and 2.4 are)"),
        };
        if tag[6..10].iter().any(|b| b & 0x80 != 0) {
            bail!("the ID3v2 header's size is not synchsafe");
        }
        let flags = tag[5];
        let known = match version {
            Version::V22 => UNSYNCHRONISED | V22_COMPRESSED,
            Version::V23 => UNSYNCHRONISED | EXTENDED | EXPERIMENTAL,
            Version::V24 => UNSYNCHRONISED | EXTENDED | EXPERIMENTAL | FOOTER,
        };
        if flags & !known != 0 {
            bail!("unknown ID3v2 header flags {flags:#04x}");
        }
        if version == Version::V22 && flags & V22_COMPRESSED != 0 {
            bail!("a compressed ID3v2.2 tag (a compression no specification defines)");
        }
        let body_end = HEADER_LEN + synchsafe(&tag[6..10]);
        let extended = Self::extended_header(tag, version, flags, body_end)?;
        let body_start = extended.as_ref().map_or(HEADER_LEN, |e| e.end);
        let raw = &tag[body_start..body_end];
        let (body, raw_of) = if version != Version::V24 && flags & UNSYNCHRONISED != 0 {
            let (body, offsets) = resynchronise(raw, body_start).ok_or_else(|| {
                anyhow!("the unsynchronised ID3v2 tag holds bytes no unsynchronisation makes")
            })?;
            (body, Some(offsets))
        } else {
            (raw.to_vec(), None)
        };
        let plain_sizes = version == Version::V24 && sizes_are_plain(&body);
        let mut layout = Self {
            version,
            flags,
            len,
            extended,
            body,
            raw_of,
            body_start,
            frames: Vec::new(),
            frames_end: 0,
            truncated: false,
            plain_sizes,
        };
        layout.walk_frames();
        Ok(layout)
    }

    /// The extended header's place, if the tag has one. Like mutagen, a flag followed by a
    /// frame id means a tagger set the flag without writing the header.
    fn extended_header(
        tag: &[u8],
        version: Version,
        flags: u8,
        body_end: usize,
    ) -> Result<Option<Range<usize>>> {
        if flags & EXTENDED == 0 || version == Version::V22 {
            return Ok(None);
        }
        let Some(size) = tag
            .get(HEADER_LEN..HEADER_LEN + 4)
            .filter(|_| body_end >= 14)
        else {
            bail!("the ID3v2 extended header is cut short");
        };
        if is_frame_id(size) {
            return Ok(None);
        }
        let len = match version {
            Version::V24 => synchsafe(size),
            _ => 4 + u32::from_be_bytes(size.try_into().unwrap()) as usize,
        };
        let end = HEADER_LEN.saturating_add(len);
        if len < 6 || end > body_end {
            bail!("the ID3v2 extended header's size ({len}) does not fit the tag");
        }
        let crc = match version {
            Version::V24 => tag[HEADER_LEN + 5] & 0x20 != 0,
            _ => tag[HEADER_LEN + 4] & 0x80 != 0,
        };
        if crc {
            bail!("the ID3v2 extended header holds a CRC of the frames, which any edit would make wrong");
        }
        Ok(Some(HEADER_LEN..end))
    }

    /// Walks the frames as mutagen does: up to a frame id of nulls (the padding) or to fewer
    /// bytes than a frame header; a frame claiming more than the tag holds ends the walk.
    fn walk_frames(&mut self) {
        let (body, version) = (&self.body, self.version);
        let header_len = version.frame_header_len();
        let mut at = 0;
        while body.len() - at >= header_len {
            let header = &body[at..at + header_len];
            if header[..version.id_len()].iter().all(|&b| b == 0) {
                break;
            }
            let size = match version {
                Version::V22 => u32::from_be_bytes([0, header[3], header[4], header[5]]) as usize,
                Version::V24 if !self.plain_sizes => synchsafe(&header[4..8]),
                _ => u32::from_be_bytes(header[4..8].try_into().unwrap()) as usize,
            };
            let flags = match version {
                Version::V22 => 0,
                _ => u16::from_be_bytes([header[8], header[9]]),
            };
            let data_start = at + header_len;
            let data_end = data_start.saturating_add(size);
            self.truncated = data_end > body.len();
            self.frames.push(Frame {
                id: header[..version.id_len()].to_vec(),
                start: at,
                data: data_start..data_end.min(body.len()),
                flags,
            });
            at = data_end.min(body.len());
        }
        self.frames_end = at;
    }

    /// The offset in the tag of byte `i` of the body (`i` may be the body's length).
    pub fn raw(&self, i: usize) -> usize {
        match &self.raw_of {
            Some(offsets) => offsets[i],
            None => self.body_start + i,
        }
    }

    /// Whether the body is unsynchronised as a whole (v2.2, v2.3).
    pub fn unsynchronised_body(&self) -> bool {
        self.raw_of.is_some()
    }

    /// Whether frames we add must be unsynchronised (a v2.4 tag flagged so as a whole).
    pub fn unsynchronised_frames(&self) -> bool {
        self.version == Version::V24 && self.flags & UNSYNCHRONISED != 0
    }

    pub fn has_footer(&self) -> bool {
        self.version == Version::V24 && self.flags & FOOTER != 0
    }

    /// The padding after the frames (none after a frame cut at the tag's end).
    pub fn padding(&self) -> usize {
        self.body.len() - self.frames_end
    }

    /// The content of `frame` as its readers see it (frame unsynchronisation undone,
    /// decompressed), or `None` when it is encrypted or does not inflate.
    pub fn content(&self, frame: &Frame) -> Option<Vec<u8>> {
        let mut data = &self.body[frame.data.clone()];
        let (compressed, encrypted) = match self.version {
            Version::V22 => return Some(data.to_vec()),
            Version::V23 => {
                let compressed = frame.flags & V23_COMPRESSED != 0;
                if compressed {
                    data = data.get(4..)?;
                }
                (compressed, frame.flags & V23_ENCRYPTED != 0)
            }
            Version::V24 => {
                if frame.flags & (V24_COMPRESSED | V24_DATA_LENGTH) != 0 {
                    data = data.get(4..)?;
                }
                (
                    frame.flags & V24_COMPRESSED != 0,
                    frame.flags & V24_ENCRYPTED != 0,
                )
            }
        };
        if encrypted {
            return None;
        }
        let unsynchronised = self.version == Version::V24
            && (frame.flags & V24_UNSYNCHRONISED != 0 || self.unsynchronised_frames());
        // Like mutagen: content that does not resynchronise is taken as it is.
        let data = match unsynchronised.then(|| resynchronise(data, 0)).flatten() {
            Some((decoded, _)) => decoded,
            None => data.to_vec(),
        };
        if !compressed {
            return Some(data);
        }
        let mut inflated = Vec::new();
        flate2::read::ZlibDecoder::new(&data[..])
            .take(MAX_INFLATED)
            .read_to_end(&mut inflated)
            .ok()?;
        Some(inflated)
    }
}

/// Undoes unsynchronisation (`FF 00` -> `FF`) as mutagen does, refusing what no encoder
/// writes (`FF` then `E0` or more, or `FF` last); with the offset (plus `base`) each decoded
/// byte came from, and the end's.
pub(super) fn resynchronise(raw: &[u8], base: usize) -> Option<(Vec<u8>, Vec<usize>)> {
    let mut decoded = Vec::with_capacity(raw.len());
    let mut offsets = Vec::with_capacity(raw.len() + 1);
    let mut i = 0;
    while i < raw.len() {
        decoded.push(raw[i]);
        offsets.push(base + i);
        if raw[i] == 0xFF {
            match raw.get(i + 1) {
                None => return None,
                Some(0) => i += 1,
                Some(&next) if next >= 0xE0 => return None,
                Some(_) => {}
            }
        }
        i += 1;
    }
    offsets.push(base + raw.len());
    Some((decoded, offsets))
}

/// Unsynchronises `bytes` (a `00` after each `FF` that a `00`, a byte from `E0` on, or the
/// end follows); `next` is the byte that will follow them, if any.
pub(super) fn unsynchronise(bytes: &[u8], next: Option<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 8);
    for (i, &b) in bytes.iter().enumerate() {
        out.push(b);
        let following = bytes.get(i + 1).copied().or(next);
        if b == 0xFF && following.is_none_or(|f| f == 0 || f >= 0xE0) {
            out.push(0);
        }
    }
    out
}

/// mutagen's guess of whether a v2.4 tag's frame sizes are plain integers (old iTunes wrote
/// them so): walk the frames both ways, and take the reading that meets more frame ids, or
/// as many but ends inside the tag where the other runs past it.
fn sizes_are_plain(body: &[u8]) -> bool {
    let walk = |plain: bool| -> (usize, i64) {
        let len = body.len() as i64;
        let mut at: i64 = 0;
        let mut ids = 0;
        while at < len - 10 {
            let header = &body[at as usize..at as usize + 10];
            if header.iter().all(|&b| b == 0) {
                return (ids, -((len - at) % 10));
            }
            let size = if plain {
                u32::from_be_bytes(header[4..8].try_into().unwrap()) as i64
            } else {
                synchsafe(&header[4..8]) as i64
            };
            at += 10 + size;
            if is_frame_id(&header[..4]) {
                ids += 1;
            }
        }
        (ids, at - len)
    };
    let (as_synchsafe, synchsafe_past) = walk(false);
    let (as_plain, plain_past) = walk(true);
    as_plain > as_synchsafe || (as_plain == as_synchsafe && synchsafe_past >= 1 && plain_past <= 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsynchronisation_round_trips_and_keeps_each_byte_s_offset() {
        let plain = b"\xff\xe0a\xff\x00b\xff";
        let raw = unsynchronise(plain, None);
        assert_eq!(raw, b"\xff\x00\xe0a\xff\x00\x00b\xff\x00");
        let (decoded, offsets) = resynchronise(&raw, 100).unwrap();
        assert_eq!(decoded, plain);
        assert_eq!(offsets, [100, 102, 103, 104, 106, 107, 108, 110]);
        assert!(
            resynchronise(b"\xff\xe0", 0).is_none(),
            "no encoder writes that"
        );
        assert!(resynchronise(b"a\xff", 0).is_none());
        assert_eq!(unsynchronise(b"\xff", Some(b'T')), b"\xff");
    }

    #[test]
    fn synchsafe_numbers_round_trip() {
        assert_eq!(synchsafe(&to_synchsafe(0x0fff_ffff).unwrap()), 0x0fff_ffff);
        assert_eq!(to_synchsafe(257), Some([0, 0, 2, 1]));
        assert_eq!(to_synchsafe(1 << 28), None);
    }

    fn frame(id: &[u8; 4], size: [u8; 4], content: &[u8]) -> Vec<u8> {
        let mut f = id.to_vec();
        f.extend_from_slice(&size);
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(content);
        f
    }

    #[test]
    fn v24_frame_sizes_written_as_plain_integers_are_recognised() {
        // 200 bytes of content: synchsafe 0x00000148, plain 0x000000c8.
        let content = vec![b'x'; 200];
        let synchsafe_frames = [
            frame(b"TIT2", [0, 0, 1, 0x48], &content),
            frame(b"TCON", [0, 0, 0, 2], b"\x00R"),
        ]
        .concat();
        let plain_frames = [
            frame(b"TIT2", [0, 0, 0, 0xc8], &content),
            frame(b"TCON", [0, 0, 0, 2], b"\x00R"),
        ]
        .concat();
        for (frames, plain) in [(synchsafe_frames, false), (plain_frames, true)] {
            let mut body = frames.clone();
            body.extend_from_slice(&[0; 30]);
            assert_eq!(sizes_are_plain(&body), plain);
        }
    }
}
