//! The genre of an Ogg Vorbis, Opus, Speex or FLAC file, edited as splices of the pages that
//! hold its comment header: the comments holding the field are replaced, removed or added
//! (as in FLAC, `audio::edit::vorbis`); every other comment keeps its bytes and its place, the
//! vendor string and whatever follows the comments (Opus data to keep) stay, and only the
//! pages carrying the comment packet are written anew, with their checksums.
//!
//! Zero bytes after the comments are padding, as mutagen writes it: a change of size is
//! taken from them or given to them, so the packet keeps its size and the pages their
//! layout. Without room there, the packet grows with fresh padding of 1 KiB and a thousandth
//! of the rest of the file, as mutagen gives, when the pages can hold it without one more.
//! The segments are laid out in as many pages as before whenever a page can take them
//! (`layout`), so the pages after keep their numbers; when they cannot (every page of the
//! headers full), the pages of the stream after the headers are renumbered, each checksum
//! changed by exactly what its new number changes (`pages::renumber`).
//!
//! The stream edited is the first whose first page is Vorbis, Opus, Speex or FLAC; its
//! comment header must begin a page of its own, as those formats require and mutagen reads.
//! A page whose checksum is wrong is never rewritten (the file is refused), and every edit
//! is read back before it is handed out.

mod layout;
mod pages;

use super::vorbis::{self, key_of, Comments};
use super::Splice;
use crate::audio::values::{Field, Values};
use anyhow::{bail, ensure, Context, Result};
use pages::{Page, CONTINUED, FIRST};
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::ops::Range;

/// The most bytes of headers read (comments can hold pictures, but not this many).
const MAX_HEADERS: usize = 64 << 20;
/// The most a FLAC metadata block's 24-bit size can state.
const MAX_FLAC_BLOCK: usize = (1 << 24) - 1;

/// The values of `field` in the Ogg `source` `len` bytes long (empty: absent).
pub fn read(source: &mut (impl Read + Seek), len: u64, field: &Field) -> Result<Values> {
    let headers = Headers::read(source, len)?;
    let packet = headers.comment_packet();
    let comment = headers.codec.parse(packet)?;
    Ok(comment.comments.values(packet, &key_of(field)))
}

/// The splices that set `field` to `values` (remove it when empty) in the Ogg `source`,
/// `len` bytes long.
pub fn edit(
    source: &mut (impl Read + Seek),
    len: u64,
    field: &Field,
    values: &[String],
) -> Result<Vec<Splice>> {
    let headers = Headers::read(source, len)?;
    let key = key_of(field);
    let packet = headers.comment_packet();
    let comment = headers.codec.parse(packet)?;
    let (mut edits, growth) = comment.comments.edit(packet, &key, values)?;
    if edits.is_empty() {
        return Ok(Vec::new());
    }
    if headers.codec == Codec::Flac {
        edits.push(flac_block_size(packet, growth)?);
    }
    let fresh = 1024 + (len - packet.len() as u64) / 1000;
    let candidates = comment.resize(headers.codec, packet, growth, fresh as usize);
    let mut laid = None;
    for (n, tail) in candidates.iter().enumerate() {
        let mut splices = edits.clone();
        splices.extend(tail.iter().cloned());
        splices.sort_by_key(|s| (s.start, s.end));
        let new_packet = applied(packet, &splices)?;
        let layout = headers.lay_out(&new_packet)?;
        // Fresh padding only where it costs no page more.
        if layout.added() == 0 || n + 1 == candidates.len() {
            laid = Some(layout);
            break;
        }
    }
    let laid = laid.context("no layout")?;
    let mut splices = headers.splices(&laid)?;
    if laid.added() != 0 {
        let serial = headers.pages[0].serial;
        splices.extend(pages::renumber(
            source,
            headers.end(),
            len,
            serial,
            laid.added(),
        )?);
    }
    check_edit(source, &headers, &splices, &key, values, laid.added())?;
    Ok(splices)
}

/// The codecs whose comment header is edited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Codec {
    Vorbis,
    Opus,
    Speex,
    Flac,
}

impl Codec {
    /// The codec of a stream whose first packet begins with `head`.
    fn of(head: &[u8]) -> Option<Self> {
        [
            (&b"\x01vorbis"[..], Self::Vorbis),
            (b"OpusHead", Self::Opus),
            (b"Speex   ", Self::Speex),
            (b"\x7fFLAC", Self::Flac),
        ]
        .into_iter()
        .find(|(magic, _)| head.starts_with(magic))
        .map(|(_, codec)| codec)
    }

    fn name(self) -> &'static str {
        match self {
            Self::Vorbis => "Vorbis",
            Self::Opus => "Opus",
            Self::Speex => "Speex",
            Self::Flac => "Ogg FLAC",
        }
    }

    /// Where the comment list starts in the comment packet, after what marks it.
    fn list_start(self, packet: &[u8]) -> Result<usize> {
        let (marked, start) = match self {
            Self::Vorbis => (packet.starts_with(b"\x03vorbis"), 7),
            Self::Opus => (packet.starts_with(b"OpusTags"), 8),
            Self::Speex => (true, 0),
            // A metadata block header, of a VORBIS_COMMENT block.
            Self::Flac => (packet.first().is_some_and(|b| b & 0x7f == 4), 4),
        };
        ensure!(
            marked,
            "the second packet of the {} stream is not a comment header",
            self.name()
        );
        Ok(start)
    }

    /// Reads the comment packet.
    fn parse(self, packet: &[u8]) -> Result<CommentPacket> {
        let start = self.list_start(packet)?;
        let comments = Comments::parse(packet, start)
            .with_context(|| format!("the {} comment header is damaged", self.name()))?;
        let mut tail = comments.end;
        if self == Self::Vorbis {
            ensure!(
                packet.get(tail).is_some_and(|b| b & 1 == 1),
                "the Vorbis comment header has no framing bit"
            );
            tail += 1;
        }
        Ok(CommentPacket {
            comments,
            tail: tail..packet.len(),
        })
    }
}

/// A comment packet read.
struct CommentPacket {
    comments: Comments,
    /// What follows the comments (in Vorbis, the framing byte).
    tail: Range<usize>,
}

impl CommentPacket {
    /// The splices of the end of `packet` that absorb `growth`, best first: the padding (zero
    /// bytes after the comments) gives or takes it; else fresh padding, then none. What
    /// follows the comments that is not padding (Opus data to keep, Ogg FLAC) stays as it is.
    fn resize(&self, codec: Codec, packet: &[u8], growth: i64, fresh: usize) -> Vec<Vec<Splice>> {
        let tail = &packet[self.tail.clone()];
        let pads = codec != Codec::Flac && tail.iter().all(|&b| b == 0);
        let end = packet.len() as u64;
        let replace_tail = |zeros: usize| Splice {
            start: self.tail.start as u64,
            end,
            bytes: vec![0; zeros],
        };
        match growth {
            _ if !pads => vec![Vec::new()],
            more if more > 0 && more as usize <= tail.len() => vec![vec![Splice {
                start: end - more as u64,
                end,
                bytes: Vec::new(),
            }]],
            more if more > 0 => vec![vec![replace_tail(fresh)], vec![replace_tail(0)]],
            0 => vec![Vec::new()],
            less => vec![vec![Splice::insert(
                end,
                vec![0; less.unsigned_abs() as usize],
            )]],
        }
    }
}

/// The splice that gives an Ogg FLAC comment block's header its new size.
fn flac_block_size(packet: &[u8], growth: i64) -> Result<Splice> {
    let stated = u32::from_be_bytes([0, packet[1], packet[2], packet[3]]) as i64;
    let size = usize::try_from(stated + growth)
        .ok()
        .filter(|&s| s <= MAX_FLAC_BLOCK)
        .context("the Ogg FLAC comment block would pass 16 MB")?;
    Ok(Splice::overwrite(
        1,
        (size as u32).to_be_bytes()[1..].to_vec(),
    ))
}

fn applied(bytes: &[u8], splices: &[Splice]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    super::apply(
        &mut Cursor::new(bytes),
        bytes.len() as u64,
        splices,
        &mut out,
    )?;
    Ok(out)
}

/// The pages of the edited stream from the one its comment header begins on to the first,
/// at or after its end, that ends on a packet's end (in Vorbis, the setup header's pages).
#[derive(Debug)]
struct Headers {
    codec: Codec,
    pages: Vec<Page>,
    bodies: Vec<Vec<u8>>,
    /// Their segments and bytes, one page after the other.
    lacing: Vec<u8>,
    body: Vec<u8>,
    /// The comment packet: its segments, its length, the page it ends on.
    comment_segments: usize,
    comment_len: usize,
    comment_end_page: usize,
}

impl Headers {
    fn read(source: &mut (impl Read + Seek), len: u64) -> Result<Self> {
        let unknown = "no Vorbis, Opus, Speex or FLAC stream in this Ogg file";
        let mut at = 0;
        // The first pages of every stream come first.
        let (codec, id) = loop {
            let page = Page::read(source, at, len)?.context(unknown)?;
            ensure!(page.flags & FIRST != 0, unknown);
            at = page.end();
            if let Some(codec) = Codec::of(&page.body(source)?) {
                break (codec, page);
            }
        };
        let alone = !id.ends_open() && id.lacing.iter().filter(|&&l| l < 255).count() == 1;
        ensure!(
            alone,
            "the {} comment header does not begin a page of its own",
            codec.name()
        );
        let cut = || format!("the {} headers are cut short", codec.name());
        let mut next = |at: &mut u64| -> Result<Page> {
            loop {
                let page = Page::read(source, *at, len)?.with_context(cut)?;
                *at = page.end();
                if page.serial == id.serial {
                    return Ok(page);
                }
            }
        };
        let mut page = next(&mut at)?;
        ensure!(
            page.flags & CONTINUED == 0,
            "the {} comment header does not begin a page of its own",
            codec.name()
        );
        let mut pages = Vec::new();
        let mut comment_end_page = None;
        loop {
            if comment_end_page.is_none() && page.lacing.iter().any(|&l| l < 255) {
                comment_end_page = Some(pages.len());
            }
            let done = comment_end_page.is_some() && !page.ends_open();
            pages.push(page);
            if done {
                break;
            }
            page = next(&mut at)?;
        }
        let size: usize = pages.iter().map(Page::body_len).sum();
        ensure!(
            size <= MAX_HEADERS,
            "the {} headers pass 64 MiB",
            codec.name()
        );
        let bodies = pages
            .iter()
            .map(|p| p.body(source))
            .collect::<Result<Vec<_>>>()?;
        let lacing: Vec<u8> = pages.iter().flat_map(|p| p.lacing.clone()).collect();
        let comment_segments = lacing.iter().position(|&l| l < 255).unwrap() + 1;
        let comment_len = lacing[..comment_segments]
            .iter()
            .map(|&l| usize::from(l))
            .sum();
        Ok(Self {
            codec,
            body: bodies.concat(),
            bodies,
            pages,
            lacing,
            comment_segments,
            comment_len,
            comment_end_page: comment_end_page.unwrap(),
        })
    }

    fn comment_packet(&self) -> &[u8] {
        &self.body[..self.comment_len]
    }

    /// Where the last of its pages ends.
    fn end(&self) -> u64 {
        self.pages.last().map_or(0, Page::end)
    }

    /// The pages laid out with `packet` as the comment packet.
    fn lay_out(&self, packet: &[u8]) -> Result<layout::Laid> {
        let mut lacing = vec![255; packet.len() / 255];
        lacing.push((packet.len() % 255) as u8);
        lacing.extend_from_slice(&self.lacing[self.comment_segments..]);
        let body = [packet, &self.body[self.comment_len..]].concat();
        layout::lay_out(&self.pages, self.comment_end_page, &lacing, &body)
    }

    /// The splices that put the pages laid out in place of the old ones: only the bytes that
    /// differ, in each page's header and body.
    fn splices(&self, laid: &layout::Laid) -> Result<Vec<Splice>> {
        let mut splices = Vec::new();
        for ((old, body), range) in self.pages.iter().zip(&self.bodies).zip(&laid.replacing) {
            let mut was = old.bytes(body);
            was[22..26].copy_from_slice(&old.crc.to_le_bytes());
            let new = &laid.pages[range.clone()];
            let mut changes = Vec::new();
            if let [(page, new_body)] = new {
                let now = page.bytes(new_body);
                let (head, now_head) = (old.header_len(), page.header_len());
                changes.extend(super::difference(
                    &was[..head],
                    &now[..now_head],
                    old.offset,
                ));
                changes.extend(super::difference(
                    &was[head..],
                    &now[now_head..],
                    old.offset + head as u64,
                ));
            } else {
                let now: Vec<u8> = new.iter().flat_map(|(p, b)| p.bytes(b)).collect();
                changes.extend(super::difference(&was, &now, old.offset));
            }
            if !changes.is_empty() && !old.checksum_holds(body) {
                bail!(
                    "the Ogg page at byte {} holding the {} comment header has a wrong \
                     checksum (the file is damaged there)",
                    old.offset,
                    self.codec.name()
                );
            }
            splices.extend(changes);
        }
        Ok(splices)
    }
}

/// Reads the edited headers back: the comments as asked and every other comment, the vendor,
/// what follows the comments and the other headers' packets as before, in as many pages as
/// the layout said.
fn check_edit(
    source: &mut (impl Read + Seek),
    before: &Headers,
    splices: &[Splice],
    key: &[u8],
    values: &[String],
    added: i64,
) -> Result<()> {
    let end = before.end();
    let mut original = Vec::new();
    source.seek(SeekFrom::Start(0))?;
    source.take(end).read_to_end(&mut original)?;
    let inside: Vec<Splice> = splices.iter().filter(|s| s.end <= end).cloned().collect();
    let edited = applied(&original, &inside)?;
    let after = Headers::read(&mut Cursor::new(&edited), edited.len() as u64)
        .context("the edited Ogg headers do not read back")?;
    ensure!(
        after.end() == edited.len() as u64 && after.codec == before.codec,
        "the edited Ogg headers do not end where they did"
    );
    ensure!(
        after.pages.len() as i64 == before.pages.len() as i64 + added,
        "the edited Ogg headers are not in the pages laid out"
    );
    ensure!(
        after.body[after.comment_len..] == before.body[before.comment_len..]
            && after.lacing[after.comment_segments..] == before.lacing[before.comment_segments..],
        "the edit would change the other Ogg headers"
    );
    let (was, now) = (before.comment_packet(), after.comment_packet());
    let (a, b) = (before.codec.parse(was)?, after.codec.parse(now)?);
    vorbis::check((&a.comments, was), (&b.comments, now), key, values)?;
    let prefix = |packet: &[u8], comment: &CommentPacket| -> Vec<u8> {
        let mut prefix = packet[..comment.comments.start].to_vec();
        if before.codec == Codec::Flac {
            prefix.truncate(1);
        }
        prefix
    };
    ensure!(
        prefix(was, &a) == prefix(now, &b),
        "the edit would change how the comment header begins"
    );
    let (tail, new_tail) = (&was[a.tail.clone()], &now[b.tail.clone()]);
    let padding = |t: &[u8]| t.iter().all(|&b| b == 0);
    ensure!(
        tail == new_tail || (padding(tail) && padding(new_tail)),
        "the edit would change what follows the comments"
    );
    if before.codec == Codec::Vorbis {
        ensure!(now[b.tail.start - 1] == was[a.tail.start - 1], "framing");
    }
    Ok(())
}

#[cfg(test)]
mod tests;
