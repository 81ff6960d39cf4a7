//! The genre of an AIFF (`FORM`/`AIFF`, `AIFC`) or WAV (`RIFF`/`WAVE`) file, which lives in an
//! ID3v2 tag inside a chunk: `ID3 ` or `id3 `, the first of either (mutagen reads the first
//! of either in WAV, only `ID3 ` in AIFF; lofty reads both). The tag is edited by [`id3v2::edit_tag`], its splices offset into
//! the file, and the sizes that contain it follow: the chunk's size, its pad byte (a chunk of
//! odd size is followed by one), and the root chunk's size (big-endian in AIFF, little-endian
//! in WAV). Every other chunk keeps its bytes and place; the audio does not move when the tag
//! keeps its size in its padding.
//!
//! A file without an ID3 chunk gets one at the end of its root chunk (`ID3 ` in AIFF, `id3 `
//! in WAV), as mutagen adds it. The chunks are walked as mutagen walks them: from the root
//! chunk's stated end, stopping early at a chunk header cut short or an id that is not four
//! printable ASCII characters.
//!
//! Refused with the reason: a file whose first bytes are not an AIFF or WAVE root chunk (an
//! ID3v2 tag before it), an ID3 chunk claiming more bytes than the file holds, an ID3 chunk
//! whose bytes are not an ID3v2 tag, sizes that would pass 4 GiB.

use super::{id3v2, Splice};
use crate::audio::values::{Field, Values};
use anyhow::{bail, ensure, Context, Result};
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;

/// A chunk header: four-character id, 32-bit size of the data that follows.
const CHUNK_HEADER: u64 = 8;
/// The root chunk's header and the form type (`AIFF`, `AIFC`, `WAVE`) after it.
const ROOT_LEN: u64 = 12;

/// How the file's sizes are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// AIFF, AIFC.
    Big,
    /// WAV.
    Little,
}

impl Order {
    fn read(self, bytes: [u8; 4]) -> u32 {
        match self {
            Self::Big => u32::from_be_bytes(bytes),
            Self::Little => u32::from_le_bytes(bytes),
        }
    }

    fn write(self, size: u32) -> Vec<u8> {
        match self {
            Self::Big => size.to_be_bytes().to_vec(),
            Self::Little => size.to_le_bytes().to_vec(),
        }
    }

    /// The id of the chunk a new tag goes in (what mutagen writes).
    fn new_chunk_id(self) -> &'static [u8; 4] {
        match self {
            Self::Big => b"ID3 ",
            Self::Little => b"id3 ",
        }
    }
}

/// One chunk: where its header starts, and the size it states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Chunk {
    at: u64,
    size: u32,
}

impl Chunk {
    fn data(&self) -> Range<u64> {
        let start = self.at + CHUNK_HEADER;
        start..start + self.size as u64
    }
}

/// An AIFF or WAV file's root chunk, and its ID3 chunk when it has one.
#[derive(Debug)]
struct Container {
    order: Order,
    /// The size the root chunk states (of what follows its header).
    size: u32,
    /// Where the root chunk ends in the file, as stated and no further than the file.
    end: u64,
    id3: Option<Chunk>,
}

impl Container {
    fn parse(source: &mut (impl Read + Seek), len: u64) -> Result<Self> {
        let mut root = [0; ROOT_LEN as usize];
        source.seek(SeekFrom::Start(0))?;
        source
            .read_exact(&mut root)
            .context("the file is cut short before its first chunk")?;
        let order = match (&root[0..4], &root[8..12]) {
            (b"FORM", b"AIFF" | b"AIFC") => Order::Big,
            (b"RIFF", b"WAVE") => Order::Little,
            (b"FORM" | b"RIFF", _) => bail!(
                "its {} chunk holds '{}', not AIFF or WAVE audio",
                String::from_utf8_lossy(&root[0..4]),
                String::from_utf8_lossy(&root[8..12]).escape_debug()
            ),
            _ => bail!("it does not start with an AIFF or WAVE chunk (an ID3v2 tag before it?)"),
        };
        let size = order.read(root[4..8].try_into().unwrap());
        let stated_end = CHUNK_HEADER + size as u64 + (size % 2) as u64;
        let end = stated_end.min(len);
        let mut id3 = None;
        let mut at = ROOT_LEN;
        while at < stated_end && id3.is_none() {
            let Some(chunk) = chunk_at(source, at, order)? else {
                break;
            };
            if matches!(&chunk.0, b"ID3 " | b"id3 ") {
                id3 = Some(chunk.1);
            }
            at = chunk.1.data().end + (chunk.1.size % 2) as u64;
        }
        Ok(Self {
            order,
            size,
            end,
            id3,
        })
    }
}

/// The chunk whose header is at `at`: none where the header is cut short or its id is not
/// printable ASCII (where mutagen stops reading chunks).
fn chunk_at(
    source: &mut (impl Read + Seek),
    at: u64,
    order: Order,
) -> Result<Option<([u8; 4], Chunk)>> {
    let mut header = Vec::with_capacity(CHUNK_HEADER as usize);
    source.seek(SeekFrom::Start(at))?;
    source
        .by_ref()
        .take(CHUNK_HEADER)
        .read_to_end(&mut header)?;
    if header.len() < CHUNK_HEADER as usize {
        return Ok(None);
    }
    let id: [u8; 4] = header[0..4].try_into().unwrap();
    let trimmed = id.trim_ascii_end();
    if trimmed.is_empty() || !trimmed.iter().all(|b| (b' '..=b'~').contains(b)) {
        return Ok(None);
    }
    let size = order.read(header[4..8].try_into().unwrap());
    Ok(Some((id, Chunk { at, size })))
}

/// The bytes of the ID3 chunk's data, refused when the chunk claims more than the file holds.
fn chunk_data(source: &mut (impl Read + Seek), chunk: &Chunk, len: u64) -> Result<Vec<u8>> {
    let data = chunk.data();
    ensure!(
        data.end <= len,
        "its ID3 chunk claims {} bytes, past the file's end",
        chunk.size
    );
    source.seek(SeekFrom::Start(data.start))?;
    let mut bytes = vec![0; chunk.size as usize];
    source.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// The values of `field` in the ID3v2 tag of an AIFF or WAV `source`, `len` bytes long (empty:
/// none there).
pub fn read(source: &mut (impl Read + Seek), len: u64, field: &Field) -> Result<Values> {
    let container = Container::parse(source, len)?;
    let Some(chunk) = container.id3 else {
        return Ok(Values::new());
    };
    let data = chunk_data(source, &chunk, len)?;
    if data.is_empty() {
        return Ok(Values::new());
    }
    ensure!(
        id3v2::tag_len(&data).is_some(),
        "its ID3 chunk does not hold an ID3v2 tag"
    );
    id3v2::read_tag(&data, field)
}

/// The splices that set `field` to `values` (remove it when empty) in the ID3v2 tag of an
/// AIFF or WAV `source` (`len` bytes long), or that add an ID3 chunk holding a new tag.
pub fn edit(
    source: &mut (impl Read + Seek),
    len: u64,
    field: &Field,
    values: &[String],
) -> Result<Vec<Splice>> {
    let container = Container::parse(source, len)?;
    let Some(chunk) = container.id3 else {
        if values.is_empty() {
            return Ok(Vec::new());
        }
        return new_chunk(&container, field, values, len);
    };
    let data = chunk_data(source, &chunk, len)?;
    let start = chunk.data().start;
    let mut splices = if data.is_empty() {
        // An empty ID3 chunk (mutagen fills it on save): the new tag is its data.
        if values.is_empty() {
            return Ok(Vec::new());
        }
        vec![Splice::insert(
            start,
            id3v2::new_tag(field, values, len - start)?,
        )]
    } else {
        ensure!(
            id3v2::tag_len(&data).is_some(),
            "its ID3 chunk does not hold an ID3v2 tag"
        );
        id3v2::edit_tag(&data, start, len - start, field, values)?
    };
    let growth: i64 = splices.iter().map(Splice::growth).sum();
    if growth == 0 {
        return Ok(splices);
    }
    let new_size = resized(chunk.size, growth, "ID3 chunk")?;
    let data_end = chunk.data().end;
    // The pad byte after a chunk of odd size: removed, added or kept.
    let had_pad = chunk.size % 2 == 1 && data_end < len;
    let pad_change = match (had_pad, new_size % 2 == 1) {
        (true, false) => Some(Splice {
            start: data_end,
            end: data_end + 1,
            bytes: Vec::new(),
        }),
        (false, true) => Some(Splice::insert(data_end, vec![0])),
        _ => None,
    };
    let pad_growth = pad_change.as_ref().map_or(0, Splice::growth);
    splices.extend(pad_change);
    let root_size = resized(container.size, growth + pad_growth, "root chunk")?;
    let mut all = vec![
        Splice::overwrite(4, container.order.write(root_size)),
        Splice::overwrite(chunk.at + 4, container.order.write(new_size)),
    ];
    all.extend(splices);
    Ok(all)
}

/// The splices that add an ID3 chunk holding a new tag at the end of the root chunk.
fn new_chunk(
    container: &Container,
    field: &Field,
    values: &[String],
    len: u64,
) -> Result<Vec<Splice>> {
    let tag = id3v2::new_tag(field, values, len)?;
    let size = u32::try_from(tag.len()).context("the new tag is too big")?;
    let mut chunk = container.order.new_chunk_id().to_vec();
    chunk.extend(container.order.write(size));
    chunk.extend(tag);
    if size % 2 == 1 {
        chunk.push(0);
    }
    let root_size = resized(container.size, chunk.len() as i64, "root chunk")?;
    Ok(vec![
        Splice::overwrite(4, container.order.write(root_size)),
        Splice::insert(container.end, chunk),
    ])
}

/// `size` grown by `growth`, refused past what 32 bits hold.
fn resized(size: u32, growth: i64, what: &str) -> Result<u32> {
    u32::try_from(size as i64 + growth)
        .ok()
        .with_context(|| format!("the {what} would pass 4 GiB"))
}

#[cfg(test)]
mod tests;
