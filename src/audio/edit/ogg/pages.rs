//! Ogg pages: read (header and segment table; the body where it is needed), written with
//! their checksum, and renumbered.

use crate::audio::edit::Splice;
use anyhow::{ensure, Context, Result};
use std::io::{Read, Seek, SeekFrom};

/// The fixed part of a page header, before the segment table.
pub(super) const HEADER: usize = 27;
/// Header flags: the page goes on with a packet begun on the page before; first and last
/// page of a stream.
pub(super) const CONTINUED: u8 = 0x01;
pub(super) const FIRST: u8 = 0x02;
pub(super) const LAST: u8 = 0x04;
/// The granule position of a page on which no packet ends.
pub(super) const NO_GRANULE: u64 = u64::MAX;
/// Where the sequence number is in a page header (the checksum follows it).
const SEQUENCE_AT: u64 = 18;

/// One page's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Page {
    /// Where it starts in the file.
    pub offset: u64,
    pub flags: u8,
    pub granule: u64,
    pub serial: u32,
    pub sequence: u32,
    pub crc: u32,
    /// The segment table: a packet ends at each value under 255.
    pub lacing: Vec<u8>,
}

impl Page {
    pub fn header_len(&self) -> usize {
        HEADER + self.lacing.len()
    }

    pub fn body_len(&self) -> usize {
        self.lacing.iter().map(|&l| usize::from(l)).sum()
    }

    pub fn end(&self) -> u64 {
        self.offset + (self.header_len() + self.body_len()) as u64
    }

    /// Whether its last packet goes on in the next page of its stream.
    pub fn ends_open(&self) -> bool {
        self.lacing.last().is_none_or(|&l| l == 255)
    }

    /// Reads the page header at `offset` of a source `len` bytes long; `None` at its end.
    pub fn read(source: &mut (impl Read + Seek), offset: u64, len: u64) -> Result<Option<Self>> {
        if offset >= len {
            return Ok(None);
        }
        let cut = || format!("the Ogg page at byte {offset} is cut short");
        ensure!(len - offset >= HEADER as u64, cut());
        let mut header = [0; HEADER];
        source.seek(SeekFrom::Start(offset))?;
        source.read_exact(&mut header)?;
        ensure!(
            &header[..4] == b"OggS",
            "no Ogg page at byte {offset} (the file is damaged there)"
        );
        ensure!(
            header[4] == 0,
            "the Ogg page at byte {offset} is of version {}, not 0",
            header[4]
        );
        let le32 = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().unwrap());
        let mut lacing = vec![0; usize::from(header[26])];
        ensure!(len - offset >= (HEADER + lacing.len()) as u64, cut());
        source.read_exact(&mut lacing)?;
        let page = Self {
            offset,
            flags: header[5],
            granule: u64::from_le_bytes(header[6..14].try_into().unwrap()),
            serial: le32(14),
            sequence: le32(18),
            crc: le32(22),
            lacing,
        };
        ensure!(page.end() <= len, cut());
        Ok(Some(page))
    }

    /// Its body, read from `source`.
    pub fn body(&self, source: &mut (impl Read + Seek)) -> Result<Vec<u8>> {
        let mut body = vec![0; self.body_len()];
        source.seek(SeekFrom::Start(self.offset + self.header_len() as u64))?;
        source
            .read_exact(&mut body)
            .with_context(|| format!("the Ogg page at byte {} is cut short", self.offset))?;
        Ok(body)
    }

    /// The page with `body` as it is written: its checksum computed.
    pub fn bytes(&self, body: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.header_len() + body.len());
        bytes.extend_from_slice(b"OggS\0");
        bytes.push(self.flags);
        bytes.extend_from_slice(&self.granule.to_le_bytes());
        bytes.extend_from_slice(&self.serial.to_le_bytes());
        bytes.extend_from_slice(&self.sequence.to_le_bytes());
        bytes.extend_from_slice(&[0; 4]);
        bytes.push(self.lacing.len() as u8);
        bytes.extend_from_slice(&self.lacing);
        bytes.extend_from_slice(body);
        let crc = ogg_pager::crc32(&bytes);
        bytes[22..26].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Whether its checksum is right, `body` being its body.
    pub fn checksum_holds(&self, body: &[u8]) -> bool {
        self.bytes(body)[22..26] == self.crc.to_le_bytes()
    }
}

/// The splices that add `by` to the sequence number of every page of the stream `serial`
/// from `offset` to the end of a source `len` bytes long. A page's checksum changes by what
/// its new sequence number changes (the checksum is linear), so a page whose checksum was
/// wrong stays exactly as wrong and renumbering back gives every byte back.
pub(super) fn renumber(
    source: &mut (impl Read + Seek),
    offset: u64,
    len: u64,
    serial: u32,
    by: i64,
) -> Result<Vec<Splice>> {
    let mut splices = Vec::new();
    let mut scratch = Vec::new();
    let mut at = offset;
    while let Some(page) = Page::read(source, at, len)
        .context("the pages after the comment header would have to be renumbered")?
    {
        if page.serial == serial {
            let sequence = page.sequence.wrapping_add(by as u32);
            let size = (page.end() - page.offset) as usize;
            let crc = page.crc ^ checksum_change(size, page.sequence ^ sequence, &mut scratch);
            let bytes = [sequence.to_le_bytes(), crc.to_le_bytes()].concat();
            splices.push(Splice::overwrite(page.offset + SEQUENCE_AT, bytes));
        }
        at = page.end();
    }
    Ok(splices)
}

/// How a page's checksum changes when the bits `flipped` of its sequence number change: the
/// checksum of a page of `size` zero bytes but those bits.
fn checksum_change(size: usize, flipped: u32, scratch: &mut Vec<u8>) -> u32 {
    scratch.clear();
    scratch.resize(size, 0);
    let at = SEQUENCE_AT as usize;
    scratch[at..at + 4].copy_from_slice(&flipped.to_le_bytes());
    ogg_pager::crc32(scratch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::edit::apply;
    use std::io::Cursor;

    fn page(serial: u32, sequence: u32, body: &[u8]) -> Vec<u8> {
        let header = Page {
            offset: 0,
            flags: 0,
            granule: 7,
            serial,
            sequence,
            crc: 0,
            lacing: vec![body.len() as u8],
        };
        header.bytes(body)
    }

    fn read_all(file: &[u8]) -> Vec<Page> {
        let mut pages = Vec::new();
        let mut at = 0;
        while let Some(page) = Page::read(&mut Cursor::new(file), at, file.len() as u64).unwrap() {
            at = page.end();
            pages.push(page);
        }
        pages
    }

    #[test]
    fn pages_read_back_as_written_with_their_checksums() {
        let file = [page(1, 5, b"first"), page(1, 6, b"second")].concat();
        let pages = read_all(&file);
        assert_eq!(pages.len(), 2);
        assert_eq!(
            (pages[1].offset, pages[1].sequence, pages[1].body_len()),
            (33, 6, 6)
        );
        let body = pages[1].body(&mut Cursor::new(&file)).unwrap();
        assert_eq!(body, b"second");
        assert!(pages[1].checksum_holds(&body));
        assert_eq!(pages[1].bytes(&body), file[33..]);
        let mut damaged = file.clone();
        damaged[40] ^= 1;
        assert!(!read_all(&damaged)[1].checksum_holds(&body));
    }

    #[test]
    fn renumbering_keeps_checksums_right_or_as_wrong_and_renumbering_back_restores() {
        let mut file = [
            page(1, 5, b"audio"),
            page(2, 0, b"other"),
            page(1, 6, b"more"),
        ]
        .concat();
        // The last page's checksum was wrong before.
        let last = file.len() - 1;
        file[last] ^= 0x40;
        let len = file.len() as u64;
        let splices = renumber(&mut Cursor::new(&file), 0, len, 1, 3).unwrap();
        assert_eq!(splices.len(), 2, "only the pages of stream 1");
        let mut after = Vec::new();
        apply(&mut Cursor::new(&file), len, &splices, &mut after).unwrap();
        let pages = read_all(&after);
        assert_eq!(
            pages.iter().map(|p| p.sequence).collect::<Vec<_>>(),
            [8, 0, 9]
        );
        let bodies: Vec<Vec<u8>> = pages
            .iter()
            .map(|p| p.body(&mut Cursor::new(&after)).unwrap())
            .collect();
        assert!(pages[0].checksum_holds(&bodies[0]));
        assert!(!pages[2].checksum_holds(&bodies[2]), "still wrong");
        let mut fixed = after.clone();
        fixed[last] ^= 0x40;
        let page = &read_all(&fixed)[2];
        let body = page.body(&mut Cursor::new(&fixed)).unwrap();
        assert!(page.checksum_holds(&body), "wrong by as much as before");
        let back = renumber(&mut Cursor::new(&after), 0, len, 1, -3).unwrap();
        let mut restored = Vec::new();
        apply(&mut Cursor::new(&after), len, &back, &mut restored).unwrap();
        assert_eq!(restored, file);
    }

    #[test]
    fn damaged_pages_are_errors_never_panics() {
        let file = [page(1, 5, b"first"), page(1, 6, b"second")].concat();
        for cut in 1..file.len() {
            let pages: Result<usize> = (|| {
                let mut at = 0;
                let mut n = 0;
                while let Some(page) = Page::read(&mut Cursor::new(&file[..cut]), at, cut as u64)? {
                    at = page.end();
                    n += 1;
                }
                Ok(n)
            })();
            assert!(pages.is_err() || cut == 33, "cut at {cut}");
        }
        let mut bad = file.clone();
        bad[34] = b'X';
        assert!(Page::read(&mut Cursor::new(&bad), 33, bad.len() as u64).is_err());
        assert!(renumber(&mut Cursor::new(&bad), 0, bad.len() as u64, 1, 1).is_err());
    }
}
