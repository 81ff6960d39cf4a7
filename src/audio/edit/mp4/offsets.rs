//! The file offsets an MP4 keeps (chunk offsets in `stco` and `co64` tables, base data
//! offsets of fragments in `tfhd`), moved with the bytes they point to when `moov` changes
//! size: those past the change move by as much, as mutagen moves them.

use super::atoms::Atom;
use super::read_range;
use crate::audio::edit::{difference, Splice};
use anyhow::{ensure, Context, Result};
use std::io::{Read, Seek};

/// The splices that move every offset past `at` by `delta`.
pub(super) fn moved(
    source: &mut (impl Read + Seek),
    atoms: &[Atom],
    at: u64,
    delta: i64,
) -> Result<Vec<Splice>> {
    let mut splices = Vec::new();
    for moov in atoms.iter().filter(|a| &a.name == b"moov") {
        for table in tables(moov) {
            let content = read_range(source, table.offset + table.header, table.end())?;
            let mut new = content.clone();
            let wide = &table.name == b"co64";
            for (i, offset) in entries(&content, wide, table.offset)?
                .into_iter()
                .enumerate()
            {
                let moved = shift(offset, at, delta)?;
                let place = 8 + i * if wide { 8 } else { 4 };
                if wide {
                    new[place..place + 8].copy_from_slice(&moved.to_be_bytes());
                } else {
                    let moved = u32::try_from(moved)
                        .context("a chunk offset would pass 4 GiB (the file would need co64)")?;
                    new[place..place + 4].copy_from_slice(&moved.to_be_bytes());
                }
            }
            splices.extend(difference(&content, &new, table.offset + table.header));
        }
    }
    for moof in atoms.iter().filter(|a| &a.name == b"moof") {
        let mut boxes = Vec::new();
        moof.find_all(b"tfhd", &mut boxes);
        for tfhd in boxes {
            let content = read_range(source, tfhd.offset + tfhd.header, tfhd.end())?;
            // Flag 1: a base data offset follows the track number.
            if content.len() >= 16 && content[3] & 1 != 0 {
                let base = u64::from_be_bytes(content[8..16].try_into().unwrap());
                let moved = shift(base, at, delta)?.to_be_bytes().to_vec();
                let start = tfhd.offset + tfhd.header + 8;
                splices.extend(difference(&content[8..16], &moved, start));
            }
        }
    }
    Ok(splices)
}

fn shift(offset: u64, at: u64, delta: i64) -> Result<u64> {
    if offset <= at {
        return Ok(offset);
    }
    offset
        .checked_add_signed(delta)
        .context("an MP4 offset would pass the file's bounds")
}

/// The chunk offset tables under `moov`, in the order of the file.
fn tables(moov: &Atom) -> Vec<&Atom> {
    let mut tables = Vec::new();
    moov.find_all(b"stco", &mut tables);
    moov.find_all(b"co64", &mut tables);
    tables.sort_by_key(|t| t.offset);
    tables
}

/// A table's offsets (its content: version and flags, a count, the entries, exactly).
fn entries(content: &[u8], wide: bool, at: u64) -> Result<Vec<u64>> {
    let damaged = || format!("the MP4 chunk offset table at byte {at} is damaged");
    ensure!(content.len() >= 8, damaged());
    let count = u32::from_be_bytes(content[4..8].try_into().unwrap()) as usize;
    let width = if wide { 8 } else { 4 };
    ensure!(
        count.checked_mul(width) == Some(content.len() - 8),
        damaged()
    );
    Ok(content[8..]
        .chunks_exact(width)
        .map(|c| {
            if wide {
                u64::from_be_bytes(c.try_into().unwrap())
            } else {
                u64::from(u32::from_be_bytes(c.try_into().unwrap()))
            }
        })
        .collect())
}

/// Checks that every atom of the `moov` `before` but the tags' (under `meta`), padding and
/// chunk offset tables is in `after` with the same bytes, and that the tables' offsets past
/// `at` moved by `delta` (each `moov` given with its bytes, read from its start).
pub(super) fn check_moved(
    before: (&Atom, &[u8]),
    after: (&Atom, &[u8]),
    at: u64,
    delta: i64,
) -> Result<()> {
    ensure!(
        leaves(before.0, before.1) == leaves(after.0, after.1),
        "the edit would change other MP4 atoms"
    );
    let offsets = |(moov, bytes): (&Atom, &[u8])| -> Result<Vec<Vec<u64>>> {
        tables(moov)
            .into_iter()
            .map(|t| {
                let content = &bytes[(t.offset + t.header) as usize..t.end() as usize];
                entries(content, &t.name == b"co64", t.offset)
            })
            .collect()
    };
    let was = offsets(before);
    let now = offsets(after);
    match (was, now) {
        (Ok(was), Ok(now)) => {
            let moved: Vec<Vec<u64>> = was
                .iter()
                .map(|t| t.iter().map(|&o| shift(o, at, delta)).collect())
                .collect::<Result<_>>()?;
            ensure!(
                moved == now,
                "the edit would not move the chunk offsets right"
            );
        }
        // A damaged table is left as it was when nothing moves.
        (Err(_), _) if delta == 0 => {}
        (_, now) => {
            now?;
        }
    }
    Ok(())
}

/// Every atom that holds no others, but padding, chunk offsets and what is under `meta`:
/// (name, bytes).
fn leaves<'a>(atom: &Atom, bytes: &'a [u8]) -> Vec<([u8; 4], &'a [u8])> {
    let mut out = Vec::new();
    for child in &atom.children {
        match &child.name {
            b"meta" | b"free" | b"stco" | b"co64" => {}
            _ if !child.holds_atoms() => out.push((
                child.name,
                &bytes[child.offset as usize..child.end() as usize],
            )),
            _ => out.extend(leaves(child, bytes)),
        }
    }
    out
}
