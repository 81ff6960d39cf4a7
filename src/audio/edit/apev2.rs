//! The genre of a Monkey's Audio, WavPack or Musepack file: its APEv2 tag at the end of the
//! file (before an ID3v1 tag if there is one), found as mutagen finds it. Only the genre item
//! (key `Genre`, any case; the key `NAME` for `--field NAME`) is replaced, removed or added at
//! the end of the items; every other item keeps its bytes and order, and the header and
//! footer keep theirs but for the tag's size and item count. A file without an APEv2 tag gets
//! one (header, item, footer) at its end, before an ID3v1 tag.
//!
//! Several values are one text item with the values separated by NUL bytes, as APEv2 and
//! mutagen store them.
//!
//! Refused with the reason: a tag at the start of the file or behind a Lyrics3 tag (mutagen
//! moves those; an edit in place would leave two), a tag whose size runs past the file's
//! start, a header flag without a header, items running past the tag, a genre item that is
//! not text.

use super::Splice;
use crate::audio::values::{Field, Values};
use anyhow::{bail, ensure, Context, Result};
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;

const PREAMBLE: &[u8; 8] = b"APETAGEX";
/// The header and the footer: preamble, version, size, item count, flags, 8 reserved bytes.
const FOOTER_LEN: u64 = 32;
const ID3V1_LEN: u64 = 128;
const HAS_HEADER: u32 = 1 << 31;
const IS_HEADER: u32 = 1 << 29;
/// An item's value kind (flag bits 1-2): 0 is UTF-8 text.
const KIND_MASK: u32 = 6;

/// One item of the tag: where it lies in the file, its key, flags and value.
#[derive(Debug)]
struct Item {
    range: Range<u64>,
    key: String,
    flags: u32,
    value: Vec<u8>,
}

/// A file's APEv2 tag.
#[derive(Debug)]
struct Tag {
    /// Where the header lies, when the tag has one.
    header: Option<u64>,
    footer: u64,
    /// The size field: the items and the footer.
    size: u32,
    count: u32,
    items: Vec<Item>,
}

/// Where a new tag goes, or the tag there is.
enum Found {
    Tag(Tag),
    None { at: u64 },
}

fn le32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes[..4].try_into().unwrap())
}

fn read_at(source: &mut (impl Read + Seek), at: u64, len: u64) -> Result<Vec<u8>> {
    source.seek(SeekFrom::Start(at))?;
    let mut bytes = Vec::new();
    source.take(len).read_to_end(&mut bytes)?;
    ensure!(bytes.len() as u64 == len, "the file is cut short");
    Ok(bytes)
}

fn find(source: &mut (impl Read + Seek), len: u64) -> Result<Found> {
    let has_id3v1 = len >= ID3V1_LEN && read_at(source, len - ID3V1_LEN, 3)? == b"TAG";
    let end = if has_id3v1 { len - ID3V1_LEN } else { len };
    if end >= FOOTER_LEN {
        let footer = end - FOOTER_LEN;
        let bytes = read_at(source, footer, FOOTER_LEN)?;
        if bytes.starts_with(PREAMBLE) {
            return Ok(Found::Tag(parse(source, footer, &bytes)?));
        }
    }
    if has_id3v1 && end >= 15 && read_at(source, end - 9, 9)? == b"LYRICS200" {
        bail!("its tags end with a Lyrics3 tag, which is not edited");
    }
    if len >= 8 && read_at(source, 0, 8)? == PREAMBLE {
        bail!("its APEv2 tag is at the start of the file, which is not edited");
    }
    Ok(Found::None { at: end })
}

fn parse(source: &mut (impl Read + Seek), footer: u64, bytes: &[u8]) -> Result<Tag> {
    let (size, count, flags) = (le32(&bytes[12..]), le32(&bytes[16..]), le32(&bytes[20..]));
    let data_start = (footer + FOOTER_LEN)
        .checked_sub(size as u64)
        .filter(|start| size as u64 >= FOOTER_LEN && *start <= footer)
        .context("its APEv2 tag's size runs past the file's start")?;
    let header = if flags & HAS_HEADER != 0 {
        let at = data_start
            .checked_sub(FOOTER_LEN)
            .context("its APEv2 tag's header would lie before the file's start")?;
        ensure!(
            read_at(source, at, 8)? == PREAMBLE,
            "its APEv2 footer says there is a header, and there is none"
        );
        Some(at)
    } else {
        None
    };
    let data = read_at(source, data_start, footer - data_start)?;
    let mut items = Vec::new();
    let mut at = 0usize;
    // Some writers state a wrong item count (mutagen stops where the items end).
    while items.len() < count as usize && at < data.len() {
        let rest = &data[at..];
        ensure!(rest.len() >= 8, "an APEv2 item is cut short");
        let (value_len, item_flags) = (le32(rest) as usize, le32(&rest[4..]));
        let key_len = rest[8..]
            .iter()
            .position(|&b| b == 0)
            .context("an APEv2 item's key runs past the tag")?;
        let key = String::from_utf8_lossy(&rest[8..8 + key_len]).into_owned();
        let value_start = 8 + key_len + 1;
        ensure!(
            rest.len() - value_start >= value_len,
            "the APEv2 item '{key}' runs past the tag"
        );
        let start = data_start + at as u64;
        let item_len = value_start + value_len;
        items.push(Item {
            range: start..start + item_len as u64,
            key,
            flags: item_flags,
            value: rest[value_start..item_len].to_vec(),
        });
        at += item_len;
    }
    Ok(Tag {
        header,
        footer,
        size,
        count,
        items,
    })
}

fn key_of(field: &Field) -> &str {
    match field {
        Field::Standard => "Genre",
        Field::Custom(name) => name,
    }
}

fn is_target(item: &Item, field: &Field) -> bool {
    item.key.eq_ignore_ascii_case(key_of(field))
}

/// The values of `field` in the APEv2 tag at the end of `source`, `len` bytes long (empty: none
/// there).
pub fn read(source: &mut (impl Read + Seek), len: u64, field: &Field) -> Result<Values> {
    let Found::Tag(tag) = find(source, len)? else {
        return Ok(Values::new());
    };
    Ok(tag
        .items
        .iter()
        .filter(|item| is_target(item, field) && item.flags & KIND_MASK == 0)
        .flat_map(|item| {
            String::from_utf8_lossy(&item.value)
                .split('\0')
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .filter(|v| !v.is_empty())
        .collect())
}

/// An item holding `values` as text under `key`.
fn item_bytes(key: &str, values: &[String]) -> Vec<u8> {
    let value = values.join("\0");
    let mut item = (value.len() as u32).to_le_bytes().to_vec();
    item.extend_from_slice(&0u32.to_le_bytes());
    item.extend_from_slice(key.as_bytes());
    item.push(0);
    item.extend_from_slice(value.as_bytes());
    item
}

/// A header or footer of a tag of `size` bytes (items and footer) holding `count` items.
fn frame(size: u32, count: u32, flags: u32) -> Vec<u8> {
    let mut bytes = PREAMBLE.to_vec();
    for n in [2000, size, count, flags] {
        bytes.extend_from_slice(&u32::to_le_bytes(n));
    }
    bytes.extend_from_slice(&[0; 8]);
    bytes
}

/// The splices that set `field` to `values` (remove it when empty) in the APEv2 tag at the
/// end of `source` (`len` bytes long), or that add a tag holding it.
pub fn edit(
    source: &mut (impl Read + Seek),
    len: u64,
    field: &Field,
    values: &[String],
) -> Result<Vec<Splice>> {
    let tag = match find(source, len)? {
        Found::Tag(tag) => tag,
        Found::None { .. } if values.is_empty() => return Ok(Vec::new()),
        Found::None { at } => {
            let item = item_bytes(key_of(field), values);
            let size = u32::try_from(item.len() as u64 + FOOTER_LEN)?;
            let mut new = frame(size, 1, HAS_HEADER | IS_HEADER);
            new.extend(item);
            new.extend(frame(size, 1, HAS_HEADER));
            return Ok(vec![Splice::insert(at, new)]);
        }
    };
    let targets: Vec<&Item> = tag.items.iter().filter(|i| is_target(i, field)).collect();
    if let Some(item) = targets.iter().find(|i| i.flags & KIND_MASK != 0) {
        bail!("its APEv2 item '{}' is not text", item.key);
    }
    let mut splices: Vec<Splice> = Vec::new();
    let mut count = tag.count as i64;
    match targets.split_first() {
        None if values.is_empty() => return Ok(Vec::new()),
        None => {
            let at = tag.items.last().map_or(tag.footer, |last| last.range.end);
            splices.push(Splice::insert(at, item_bytes(key_of(field), values)));
            count += 1;
        }
        Some((first, rest)) => {
            let new = match values {
                [] => {
                    count -= 1;
                    Vec::new()
                }
                _ => item_bytes(&first.key, values),
            };
            splices.push(Splice {
                start: first.range.start,
                end: first.range.end,
                bytes: new,
            });
            for item in rest {
                splices.push(Splice {
                    start: item.range.start,
                    end: item.range.end,
                    bytes: Vec::new(),
                });
                count -= 1;
            }
        }
    }
    let growth: i64 = splices.iter().map(Splice::growth).sum();
    let size = u32::try_from(tag.size as i64 + growth).context("the APEv2 tag is too big")?;
    let count = u32::try_from(count.max(0))?;
    let mut fields = size.to_le_bytes().to_vec();
    fields.extend_from_slice(&count.to_le_bytes());
    let mut all = Vec::new();
    if let Some(header) = tag.header {
        all.push(Splice::overwrite(header + 12, fields.clone()));
    }
    all.extend(splices);
    all.push(Splice::overwrite(tag.footer + 12, fields));
    Ok(all)
}

#[cfg(test)]
mod tests;
