//! The genre of a FLAC file, edited as splices of its `VORBIS_COMMENT` block: the comments
//! holding the field (`GENRE`, or `NAME` for `--field NAME`, any case) are replaced in the
//! first one's place, removed or added at the end; every other comment keeps its bytes and
//! its place, and every other block (pictures, seek tables, applications, cue sheets) is
//! left as it is.
//!
//! The change of size is absorbed by a `PADDING` block when one is big enough, so the audio
//! does not move; otherwise the padding (a new block if there was none) is sized as mutagen
//! sizes it (1 KiB and a thousandth of the audio). A file without a comment block gets one
//! after `STREAMINFO`, and the last-block flags follow the blocks' new order.
//!
//! Blocks are walked as mutagen walks them: the sizes of comment and picture blocks are not
//! trusted (taggers wrote wrong ones) but read from their content, so what we edit is what
//! mutagen and beets read. A block whose stated size is wrong is left so, except the comment
//! block we rewrite, whose header then states its true size. An ID3v2 tag before `fLaC` is
//! left alone. Every edit is read back before it is handed out.

use super::vorbis::{self, key_of, Comments};
use super::Splice;
use crate::audio::values::{Field, Values};
use anyhow::{ensure, Context, Result};
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::ops::Range;

const STREAMINFO: u8 = 0;
const PADDING: u8 = 1;
const VORBIS_COMMENT: u8 = 4;
const PICTURE: u8 = 6;
const LAST: u8 = 0x80;
/// What STREAMINFO holds (a file whose STREAMINFO is another size is broken).
const STREAMINFO_LEN: usize = 34;
/// The most a block's 24-bit size can state.
const MAX_BLOCK: usize = (1 << 24) - 1;
/// The vendor string of a comment block we create.
const VENDOR: &str = "covergenre";

/// The values of `field` in the FLAC `source` (empty: absent).
pub fn read(source: &mut (impl Read + Seek), field: &Field) -> Result<Values> {
    let metadata = Metadata::read(source)?;
    Ok(metadata
        .comments()?
        .map(|c| c.values(&metadata.bytes, &key_of(field)))
        .unwrap_or_default())
}

/// The splices that set `field` to `values` (remove it when empty) in the FLAC `source`,
/// `len` bytes long.
pub fn edit(
    source: &mut (impl Read + Seek),
    len: u64,
    field: &Field,
    values: &[String],
) -> Result<Vec<Splice>> {
    let metadata = Metadata::read(source)?;
    let audio_len = len.saturating_sub(metadata.bytes.len() as u64);
    let splices = metadata.edit(field, values, audio_len)?;
    check_edit(&metadata, &splices, field, values)?;
    Ok(splices)
}

/// One metadata block (offsets in [`Metadata::bytes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Block {
    kind: u8,
    last: bool,
    /// Where its 4-byte header starts.
    start: usize,
    /// The size its header states.
    stated: usize,
    /// Its content as read (for comments and pictures: as long as the content is).
    content: Range<usize>,
}

/// The bytes from the file's start to its audio, and the blocks in them.
#[derive(Debug)]
struct Metadata {
    bytes: Vec<u8>,
    blocks: Vec<Block>,
}

/// Reads a source forward, keeping every byte read.
struct Source<'a, R> {
    inner: &'a mut R,
    bytes: Vec<u8>,
}

impl<R: Read> Source<'_, R> {
    /// Makes sure the bytes up to `end` are read.
    fn need(&mut self, end: usize) -> Result<()> {
        if end > self.bytes.len() {
            let more = (end - self.bytes.len()) as u64;
            let got = self
                .inner
                .by_ref()
                .take(more)
                .read_to_end(&mut self.bytes)?;
            ensure!(
                got as u64 == more,
                "the FLAC metadata is cut short (the file ends inside a block)"
            );
        }
        Ok(())
    }

    fn u32_be(&mut self, at: usize) -> Result<usize> {
        self.need(at + 4)?;
        Ok(u32::from_be_bytes(self.bytes[at..at + 4].try_into().unwrap()) as usize)
    }

    fn u32_le(&mut self, at: usize) -> Result<usize> {
        self.need(at + 4)?;
        Ok(u32::from_le_bytes(self.bytes[at..at + 4].try_into().unwrap()) as usize)
    }
}

impl Metadata {
    fn read(source: &mut (impl Read + Seek)) -> Result<Self> {
        source.seek(SeekFrom::Start(0))?;
        Self::parse(source)
    }

    /// Reads `fLaC` (after an ID3v2 tag, as mutagen allows) and every block up to the last.
    fn parse(source: &mut impl Read) -> Result<Self> {
        let mut source = Source {
            inner: source,
            bytes: Vec::new(),
        };
        source.need(4).context("not a FLAC file")?;
        let mut at = 0;
        if &source.bytes[..3] == b"ID3" {
            source.need(10)?;
            // mutagen reads the size after `ID3` and looks for `fLaC` right after the tag.
            at = 10
                + source.bytes[6..10]
                    .iter()
                    .fold(0, |n, &b| (n << 7) | usize::from(b & 0x7f));
            source.need(at + 4).context("not a FLAC file")?;
        }
        ensure!(
            &source.bytes[at..at + 4] == b"fLaC",
            "not a FLAC file (no fLaC)"
        );
        at += 4;
        let mut blocks = Vec::new();
        loop {
            source.need(at + 4)?;
            let header = &source.bytes[at..at + 4];
            let (kind, last) = (header[0] & !LAST, header[0] & LAST != 0);
            let stated = u32::from_be_bytes([0, header[1], header[2], header[3]]) as usize;
            let content_start = at + 4;
            let len = match kind {
                VORBIS_COMMENT => comments_len(&mut source, content_start)?,
                PICTURE => picture_len(&mut source, content_start)?,
                _ => stated,
            };
            source.need(content_start + len)?;
            blocks.push(Block {
                kind,
                last,
                start: at,
                stated,
                content: content_start..content_start + len,
            });
            at = content_start + len;
            if last {
                break;
            }
        }
        ensure!(
            blocks[0].kind == STREAMINFO,
            "the first FLAC metadata block is not STREAMINFO"
        );
        ensure!(
            blocks[0].content.len() == STREAMINFO_LEN,
            "the FLAC STREAMINFO block is {} bytes long, not {STREAMINFO_LEN}",
            blocks[0].content.len()
        );
        Ok(Self {
            bytes: source.bytes,
            blocks,
        })
    }

    fn comment_block(&self) -> Option<&Block> {
        self.blocks.iter().find(|b| b.kind == VORBIS_COMMENT)
    }

    fn comments(&self) -> Result<Option<Comments>> {
        self.comment_block()
            .map(|block| Comments::parse(&self.bytes[..block.content.end], block.content.start))
            .transpose()
    }

    /// The splices of the edit (see the module's documentation).
    fn edit(&self, field: &Field, values: &[String], audio_len: u64) -> Result<Vec<Splice>> {
        let key = key_of(field);
        let mut splices = Vec::new();
        let (block, growth) = match (self.comment_block(), self.comments()?) {
            (Some(block), Some(comments)) => {
                let growth = self.edit_comments(block, &comments, &key, values, &mut splices)?;
                if splices.is_empty() {
                    return Ok(Vec::new());
                }
                (block.clone(), growth)
            }
            _ if values.is_empty() => return Ok(Vec::new()),
            _ => self.add_comment_block(&key, values, &mut splices)?,
        };
        self.absorb(&block, growth, audio_len, &mut splices)?;
        splices.sort_by_key(|s| (s.start, s.end));
        Ok(splices)
    }

    /// Splices of the comments and of the block's header (but the last-block flag); returns
    /// how much the block grows.
    fn edit_comments(
        &self,
        block: &Block,
        comments: &Comments,
        key: &[u8],
        values: &[String],
        splices: &mut Vec<Splice>,
    ) -> Result<i64> {
        let (edits, growth) = comments.edit(&self.bytes, key, values)?;
        splices.extend(edits);
        let len = block.content.len() as i64 + growth;
        ensure!(
            len as usize <= MAX_BLOCK,
            "the comment block would pass FLAC's 16 MB"
        );
        if len as usize != block.stated {
            splices.push(Splice::overwrite(
                block.start as u64 + 1,
                be24(len as usize).to_vec(),
            ));
        }
        Ok(growth)
    }

    /// Splices that add a comment block after STREAMINFO; returns the block as it will be
    /// placed (its start is where it goes) and its size.
    fn add_comment_block(
        &self,
        key: &[u8],
        values: &[String],
        splices: &mut Vec<Splice>,
    ) -> Result<(Block, i64)> {
        let streaminfo = &self.blocks[0];
        let content = vorbis::list(VENDOR, key, values);
        let mut block = vec![VORBIS_COMMENT];
        block.extend(be24(content.len()));
        block.extend(content);
        let at = streaminfo.content.end;
        let growth = block.len() as i64;
        let placed = Block {
            kind: VORBIS_COMMENT,
            last: streaminfo.last,
            start: at,
            stated: growth as usize - 4,
            content: at + 4..at + growth as usize,
        };
        if streaminfo.last {
            // The new block is last now (or the padding after it).
            splices.push(Splice::overwrite(
                streaminfo.start as u64,
                vec![self.bytes[streaminfo.start] & !LAST],
            ));
            block[0] |= LAST;
        }
        splices.push(Splice::insert(at as u64, block));
        Ok((placed, growth))
    }

    /// Splices that let a padding block absorb `growth` (or give the padding fresh room, or add
    /// a padding block after `comments`, the comment block as placed).
    fn absorb(
        &self,
        comments: &Block,
        growth: i64,
        audio_len: u64,
        splices: &mut Vec<Splice>,
    ) -> Result<()> {
        let fresh = 1024 + (audio_len / 1000) as i64;
        let padding = self.blocks.iter().rev().find(|b| b.kind == PADDING);
        let Some(padding) = padding else {
            // A new padding block right after the comment block, which hands it its last
            // flag: fresh room when the block grew, what it gave up when it shrank (the audio
            // then stays where it is, unless it shrank by less than a block header).
            let size = match growth {
                more if more > 0 => fresh,
                less if -less >= 4 => -less - 4,
                _ => return Ok(()),
            };
            let mut block = vec![PADDING | if comments.last { LAST } else { 0 }];
            block.extend(be24(size as usize));
            block.resize(4 + size as usize, 0);
            let at = comments.content.end as u64;
            match splices
                .iter_mut()
                .find(|s| s.start == comments.start as u64 && s.end == s.start)
            {
                // A comment block being added: the padding follows it in the same insertion.
                Some(added) => {
                    added.bytes[0] &= !LAST;
                    added.bytes.extend(block);
                }
                None => {
                    if comments.last {
                        splices.push(Splice::overwrite(
                            comments.start as u64,
                            vec![self.bytes[comments.start] & !LAST],
                        ));
                    }
                    splices.push(Splice::insert(at, block));
                }
            }
            return Ok(());
        };
        let len = padding.content.len() as i64;
        let new_len = if growth <= len { len - growth } else { fresh };
        ensure!(
            new_len as usize <= MAX_BLOCK,
            "the padding would pass FLAC's 16 MB"
        );
        if new_len != len || padding.stated as i64 != new_len {
            splices.push(Splice::overwrite(
                padding.start as u64 + 1,
                be24(new_len as usize).to_vec(),
            ));
        }
        let end = padding.content.end as u64;
        match new_len - len {
            0 => {}
            more if more > 0 => splices.push(Splice::insert(end, vec![0; more as usize])),
            less => splices.push(Splice {
                start: end - (-less) as u64,
                end,
                bytes: Vec::new(),
            }),
        }
        Ok(())
    }
}

/// The content length of a comment block at `at`, read from its content.
fn comments_len<R: Read>(source: &mut Source<'_, R>, at: usize) -> Result<usize> {
    let vendor = source.u32_le(at)?;
    let mut end = at + 4 + vendor;
    let count = source.u32_le(end)?;
    end += 4;
    for _ in 0..count {
        let len = source.u32_le(end)?;
        end += 4 + len;
        ensure!(
            end - at <= MAX_BLOCK,
            "the comment block's comments run past FLAC's 16 MB"
        );
        source.need(end)?;
    }
    Ok(end - at)
}

/// The content length of a picture block at `at`, read from its content.
fn picture_len<R: Read>(source: &mut Source<'_, R>, at: usize) -> Result<usize> {
    let mime = source.u32_be(at + 4)?;
    let description = source.u32_be(at + 8 + mime)?;
    let data_at = at + 8 + mime + 4 + description + 16;
    let data = source.u32_be(data_at)?;
    source.need(data_at + 4 + data)?;
    Ok(data_at + 4 + data - at)
}

fn be24(n: usize) -> [u8; 3] {
    let b = (n as u32).to_be_bytes();
    [b[1], b[2], b[3]]
}

/// Reads the edited metadata back: every block but the comment and padding blocks as before,
/// every other comment as before and in order, `field` holding `values`.
fn check_edit(
    before: &Metadata,
    splices: &[Splice],
    field: &Field,
    values: &[String],
) -> Result<()> {
    let mut edited = Vec::new();
    let len = before.bytes.len() as u64;
    super::apply(&mut Cursor::new(&before.bytes), len, splices, &mut edited)?;
    let after = Metadata::parse(&mut Cursor::new(&edited))
        .context("the edited FLAC metadata does not read back")?;
    ensure!(
        after.bytes.len() == edited.len(),
        "the edited FLAC metadata does not end where the audio starts"
    );
    let blocks = |m: &Metadata| -> Vec<(u8, Vec<u8>)> {
        m.blocks
            .iter()
            .filter(|b| b.kind != PADDING && b.kind != VORBIS_COMMENT)
            .map(|b| (b.kind, m.bytes[b.content.clone()].to_vec()))
            .collect()
    };
    ensure!(
        blocks(before) == blocks(&after),
        "the edit would change other FLAC blocks"
    );
    let key = key_of(field);
    match (before.comments()?, after.comments()?) {
        (Some(a), Some(b)) => vorbis::check((&a, &before.bytes), (&b, &after.bytes), &key, values)?,
        (None, Some(b)) => ensure!(
            b.values(&after.bytes, &key) == values && b.others(&after.bytes, &key).is_empty(),
            "the new comment block does not read {values:?}"
        ),
        (_, None) => ensure!(values.is_empty(), "the edited FLAC file has no comments"),
    }
    Ok(())
}

#[cfg(test)]
mod tests;
