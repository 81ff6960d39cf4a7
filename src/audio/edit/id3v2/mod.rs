//! The genre of an ID3v2 tag (MP3, and the ID3 chunk of AIFF and WAV files), edited as
//! splices: the genre frame (`TCON`, or `TXXX` described `NAME` for `--field NAME`; `TCO` and
//! `TXX` in ID3v2.2) is replaced, removed or added, and every other byte of the tag stays:
//! other frames (compressed, encrypted, unknown or odd ones too), their order, the version,
//! the unsynchronisation, the extended header, the footer.
//!
//! The tag keeps its size when the new frame fits in its padding, so the audio does not
//! move; otherwise it grows with fresh padding, sized as mutagen sizes it (1 KiB and a
//! thousandth of the file). A file without a tag gets an ID3v2.4 one.
//!
//! Values are stored as `text` says: v2.4 separates them with nulls, v2.3 and v2.2 join
//! them with `/`. Every edit is read back before it is handed out (`check_edit`): the new
//! tag must parse, hold the values, and hold every other frame as it was.
//!
//! The tag-level functions ([`read_tag`], [`edit_tag`], [`new_tag`]) take the tag's bytes, for
//! containers that hold an ID3v2 tag elsewhere than at the file's start.

mod layout;
mod text;

use super::Splice;
use crate::audio::values::{holds, Field, Values};
use anyhow::{bail, ensure, Context, Result};
use layout::{Frame, Layout, HEADER_LEN};
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;

pub use layout::{tag_len, Version};

/// The padding a tag that grows gets, as mutagen sizes it: 1 KiB and a thousandth of the
/// bytes from the tag's start to the end of the file (`trailing`).
pub fn fresh_padding(trailing: u64) -> usize {
    1024 + (trailing / 1000) as usize
}

/// The values of `field` in the ID3v2 tag at the start of `source` (empty: none there).
pub fn read(source: &mut (impl Read + Seek), field: &Field) -> Result<Values> {
    match leading_tag(source)? {
        Some(tag) => read_tag(&tag, field),
        None => Ok(Values::new()),
    }
}

/// The splices that set `field` to `values` (remove it when empty) in the ID3v2 tag at the
/// start of `source` (`len` bytes long), or that put a new tag there.
pub fn edit(
    source: &mut (impl Read + Seek),
    len: u64,
    field: &Field,
    values: &[String],
) -> Result<Vec<Splice>> {
    match leading_tag(source)? {
        Some(tag) => edit_tag(&tag, 0, len, field, values),
        None if values.is_empty() => Ok(Vec::new()),
        None => Ok(vec![Splice::insert(0, new_tag(field, values, len)?)]),
    }
}

/// The bytes of the ID3v2 tag at the start of `source` (all of them, or as many as it holds),
/// if it starts with one.
fn leading_tag(source: &mut (impl Read + Seek)) -> Result<Option<Vec<u8>>> {
    source.seek(SeekFrom::Start(0))?;
    let mut header = Vec::with_capacity(HEADER_LEN);
    source
        .by_ref()
        .take(HEADER_LEN as u64)
        .read_to_end(&mut header)?;
    let Some(len) = tag_len(&header) else {
        return Ok(None);
    };
    let mut tag = header;
    source
        .take((len - HEADER_LEN) as u64)
        .read_to_end(&mut tag)?;
    Ok(Some(tag))
}

/// The values of `field` in the ID3v2 tag `tag` (its bytes from its header on).
pub fn read_tag(tag: &[u8], field: &Field) -> Result<Values> {
    let layout = Layout::parse(tag)?;
    Ok(values_in(&layout, field))
}

/// The splices that set `field` to `values` (remove it when empty) in the ID3v2 tag `tag`,
/// which starts at byte `at` of its file; `trailing` bytes go from there to the file's end
/// (they size fresh padding). The splices are in the file's coordinates.
pub fn edit_tag(
    tag: &[u8],
    at: u64,
    trailing: u64,
    field: &Field,
    values: &[String],
) -> Result<Vec<Splice>> {
    let layout = Layout::parse(tag)?;
    let targets = writable_targets(&layout, field)?;
    let new_frame = match values {
        [] => None,
        _ => Some(frame_bytes(&layout, field, values)?),
    };
    let mut edits: Vec<(Range<usize>, Vec<u8>)> = Vec::new();
    match (targets.split_first(), new_frame) {
        (None, None) => return Ok(Vec::new()),
        (Some((first, rest)), new_frame) => {
            edits.push((first.range(), new_frame.unwrap_or_default()));
            edits.extend(rest.iter().map(|f| (f.range(), Vec::new())));
        }
        (None, Some(new_frame)) => {
            // After the last whole frame: before a frame cut at the tag's end, whose
            // content must stay what it was.
            let place = match layout.frames.last() {
                Some(last) if layout.truncated => last.start,
                _ => layout.frames_end,
            };
            edits.push((place..place, new_frame));
        }
    }
    // Measured in the tag's own bytes: unsynchronisation may lengthen the new frame.
    let growth: i64 = body_splices(&layout, edits.clone())
        .iter()
        .map(Splice::growth)
        .sum();
    let padding = layout.padding() as i64;
    let new_padding = if layout.truncated || layout.has_footer() {
        // No padding after a cut frame (it would read it) nor before a footer: the tag
        // grows or shrinks by what the frames do, using up padding it may have.
        (padding - growth.max(0)).max(0)
    } else if growth <= padding {
        padding - growth
    } else {
        fresh_padding(trailing) as i64
    };
    let end = layout.body.len();
    match new_padding - padding {
        0 => {}
        more if more > 0 => edits.push((end..end, vec![0; more as usize])),
        less => edits.push(((end - (-less) as usize)..end, Vec::new())),
    }
    let body = body_splices(&layout, edits);
    let body_change: i64 = body.iter().map(Splice::growth).sum();
    let mut splices = Vec::new();
    if body_change != 0 {
        splices.push(size_splice(tag, 6, body_change)?);
    }
    if let Some(field) = v23_padding_field(&layout) {
        if tag[field.clone()] != (new_padding as u32).to_be_bytes() {
            splices.push(Splice::overwrite(
                field.start as u64,
                (new_padding as u32).to_be_bytes().to_vec(),
            ));
        }
    }
    splices.extend(body);
    if layout.has_footer() && body_change != 0 {
        splices.push(size_splice(tag, layout.len - HEADER_LEN + 6, body_change)?);
    }
    check_edit(tag, &layout, &splices, field, values)?;
    for splice in &mut splices {
        splice.start += at;
        splice.end += at;
    }
    Ok(splices)
}

/// A new ID3v2.4 tag holding `field` = `values`, with fresh padding for a file of `trailing`
/// bytes.
pub fn new_tag(field: &Field, values: &[String], trailing: u64) -> Result<Vec<u8>> {
    let mut tag = b"ID3\x04\x00\x00\x00\x00\x00\x00".to_vec();
    let empty = Layout::parse(&tag)?;
    tag.extend(frame_bytes(&empty, field, values)?);
    tag.resize(tag.len() + fresh_padding(trailing), 0);
    let size = layout::to_synchsafe(tag.len() - HEADER_LEN).context("the new tag is too big")?;
    tag[6..10].copy_from_slice(&size);
    Ok(tag)
}

/// Frame ids of the genre and of user text, per version.
fn genre_id(version: Version) -> &'static [u8] {
    match version {
        Version::V22 => b"TCO",
        _ => b"TCON",
    }
}

fn user_text_id(version: Version) -> &'static [u8] {
    match version {
        Version::V22 => b"TXX",
        _ => b"TXXX",
    }
}

/// Whether `frame` holds `field`. A user-text frame whose content cannot be read (encrypted)
/// cannot be told, and is another frame.
fn is_target(layout: &Layout, frame: &Frame, field: &Field) -> bool {
    match field {
        Field::Standard => frame.id == genre_id(layout.version),
        Field::Custom(name) => {
            frame.id == user_text_id(layout.version)
                && layout
                    .content(frame)
                    .and_then(|content| text::user_text_of(&content))
                    .is_some_and(|(description, _)| description == *name)
        }
    }
}

fn values_in(layout: &Layout, field: &Field) -> Values {
    let mut values = Values::new();
    for frame in layout.frames.iter().filter(|f| is_target(layout, f, field)) {
        let content = layout.content(frame).unwrap_or_default();
        let found = match field {
            Field::Standard => text::values_of(&content),
            Field::Custom(_) => text::user_text_of(&content).map(|(_, values)| values),
        };
        values.extend(found.unwrap_or_default());
    }
    values
}

/// The frames holding `field`, refusing those an edit would have to guess about.
fn writable_targets<'a>(layout: &'a Layout, field: &Field) -> Result<Vec<&'a Frame>> {
    let targets: Vec<&Frame> = layout
        .frames
        .iter()
        .filter(|f| is_target(layout, f, field))
        .collect();
    let cut = layout.frames.last().filter(|_| layout.truncated);
    for frame in &targets {
        let id = String::from_utf8_lossy(&frame.id);
        if cut.is_some_and(|cut| std::ptr::eq(cut, *frame)) {
            bail!("its {id} frame claims more bytes than the ID3v2 tag holds");
        }
        if layout.content(frame).is_none() {
            bail!("its {id} frame is encrypted or does not inflate");
        }
    }
    Ok(targets)
}

/// The whole frame (header and content) holding `field` = `values` in this tag's version,
/// its size written as the tag's other frames have theirs.
fn frame_bytes(layout: &Layout, field: &Field, values: &[String]) -> Result<Vec<u8>> {
    let version = layout.version;
    let (id, mut content) = match field {
        Field::Standard => (genre_id(version), text::text_content(version, values)),
        Field::Custom(name) => (
            user_text_id(version),
            text::user_text_content(version, name, values),
        ),
    };
    let mut flags = 0u16;
    if layout.unsynchronised_frames() {
        content = layout::unsynchronise(&content, None);
        flags = 0x0002;
    }
    let size = content.len();
    let mut frame = id.to_vec();
    match version {
        Version::V22 => {
            ensure!(size < 1 << 24, "the new frame is too big");
            frame.extend_from_slice(&(size as u32).to_be_bytes()[1..]);
        }
        Version::V24 if !layout.plain_sizes => {
            frame.extend(layout::to_synchsafe(size).context("the new frame is too big")?)
        }
        _ => frame.extend_from_slice(&u32::try_from(size)?.to_be_bytes()),
    }
    if version != Version::V22 {
        frame.extend_from_slice(&flags.to_be_bytes());
    }
    frame.extend(content);
    Ok(frame)
}

/// The splice that adds `change` to the synchsafe size at `at` (the header's, the footer's).
fn size_splice(tag: &[u8], at: usize, change: i64) -> Result<Splice> {
    let size = layout::synchsafe(&tag[at..at + 4]) as i64 + change;
    let bytes = usize::try_from(size)
        .ok()
        .and_then(layout::to_synchsafe)
        .context("the ID3v2 tag would grow past 256 MB")?;
    Ok(Splice::overwrite(at as u64, bytes.to_vec()))
}

/// Where a v2.3 extended header states the padding's size, if it does.
fn v23_padding_field(layout: &Layout) -> Option<Range<usize>> {
    let extended = layout.extended.as_ref()?;
    (layout.version == Version::V23 && extended.len() >= 10)
        .then(|| extended.start + 6..extended.start + 10)
}

/// Body edits (ranges of the body as readers see it, and their new bytes) as splices of the
/// tag: adjacent edits joined, and in an unsynchronised body the new bytes unsynchronised in
/// their place (an `FF` before them that now needs its `00` gets it).
fn body_splices(layout: &Layout, mut edits: Vec<(Range<usize>, Vec<u8>)>) -> Vec<Splice> {
    edits.sort_by_key(|(range, _)| (range.start, range.end));
    let mut joined: Vec<(Range<usize>, Vec<u8>)> = Vec::new();
    for (range, bytes) in edits {
        match joined.last_mut() {
            Some((last, last_bytes)) if last.end == range.start => {
                last.end = range.end;
                last_bytes.extend(bytes);
            }
            _ => joined.push((range, bytes)),
        }
    }
    joined
        .into_iter()
        .map(|(range, bytes)| {
            let bytes = if layout.unsynchronised_body() {
                let next = layout.body.get(range.end).copied();
                let mut raw = layout::unsynchronise(&bytes, next);
                let bare_ff_before = range.start > 0
                    && layout.body[range.start - 1] == 0xFF
                    && layout.raw(range.start) == layout.raw(range.start - 1) + 1;
                let first = raw.first().copied().or(next);
                if bare_ff_before && first.is_none_or(|b| b == 0 || b >= 0xE0) {
                    raw.insert(0, 0);
                }
                raw
            } else {
                bytes
            };
            Splice {
                start: layout.raw(range.start) as u64,
                end: layout.raw(range.end) as u64,
                bytes,
            }
        })
        .collect()
}

/// Reads the edited tag back: it must parse to its full length, hold `values`, and hold every
/// other frame (id, flags, content) as before, in the same order. An edit that fails is a
/// bug, refused rather than written.
fn check_edit(
    tag: &[u8],
    before: &Layout,
    splices: &[Splice],
    field: &Field,
    values: &[String],
) -> Result<()> {
    let mut edited = Vec::new();
    super::apply(
        &mut std::io::Cursor::new(&tag[..before.len]),
        before.len as u64,
        splices,
        &mut edited,
    )?;
    let after = Layout::parse(&edited).context("the edited ID3v2 tag does not read back")?;
    ensure!(
        after.len == edited.len(),
        "the edited ID3v2 tag's size is wrong"
    );
    let read = values_in(&after, field);
    ensure!(
        holds(&read, values),
        "the edited ID3v2 tag reads {read:?}, not {values:?}"
    );
    let others = |layout: &Layout| -> Vec<(Vec<u8>, u16, Vec<u8>)> {
        layout
            .frames
            .iter()
            .filter(|f| !is_target(layout, f, field))
            .map(|f| (f.id.clone(), f.flags, layout.body[f.data.clone()].to_vec()))
            .collect()
    };
    ensure!(
        others(before) == others(&after),
        "the edit would change other ID3v2 frames"
    );
    Ok(())
}

#[cfg(test)]
mod tests;
