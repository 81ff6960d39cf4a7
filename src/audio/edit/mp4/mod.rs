//! The genre of an MP4 file (M4A, M4B, MP4 and the other extensions of the family), edited
//! as splices of its `moov` atom: in `moov/udta/meta/ilst`, the items holding the field
//! (`©gen` and `gnre` for the genre, a freeform `----` item for `--field NAME`) are replaced in
//! the first one's place, removed, or added at the end; every other item and atom keeps its
//! bytes. The atoms holding the `ilst` state their new sizes.
//!
//! A `free` atom beside the `ilst` (where iTunes and mutagen leave their padding) takes the
//! change of size, so nothing else moves; without one, a shrinking `ilst` leaves its room
//! as a new `free` atom, and a growing one gets fresh padding of 1 KiB and a thousandth of
//! what follows, as mutagen gives. When `moov` changes size, every chunk offset (`stco`,
//! `co64`) and fragment base offset (`tfhd`) pointing past the change moves with it. A file
//! without an `ilst` gets one as mutagen makes it: a `meta` with a `hdlr` at the start of
//! `udta` (a new `udta` at the start of `moov`).
//!
//! Atoms are walked as mutagen walks them (`atoms`); every edit is read back before it is
//! handed out.

mod atoms;
mod items;
mod offsets;

use super::Splice;
use crate::audio::values::{Field, Values};
use anyhow::{ensure, Context, Result};
use atoms::{render, Atom};
use std::io::{Cursor, Read, Seek, SeekFrom};

/// The most bytes of `moov` read for the check (a film's sample tables can be big).
const MAX_MOOV: u64 = 256 << 20;

/// The values of `field` in the MP4 `source` `len` bytes long (empty: absent).
pub fn read(source: &mut (impl Read + Seek), len: u64, field: &Field) -> Result<Values> {
    let mp4 = Mp4::read(source, len)?;
    let mut values = Vec::new();
    for (item, content) in mp4.items(source)? {
        if items::holds(field, &item.name, &content) {
            values.extend(items::values(&item.name, &content)?);
        }
    }
    Ok(values)
}

/// The splices that set `field` to `values` (remove it when empty) in the MP4 `source`,
/// `len` bytes long.
pub fn edit(
    source: &mut (impl Read + Seek),
    len: u64,
    field: &Field,
    values: &[String],
) -> Result<Vec<Splice>> {
    let mp4 = Mp4::read(source, len)?;
    let new_item = items::render_item(field, values);
    let edit = match mp4.ilst_path() {
        Some(path) => mp4.edit_ilst(source, &path, field, new_item)?,
        None if values.is_empty() => return Ok(Vec::new()),
        None => mp4.add_ilst(new_item),
    };
    let Some(mut edit) = edit else {
        return Ok(Vec::new());
    };
    if edit.delta != 0 {
        for parent in &edit.parents {
            if let Some(header) = parent.resized_header(edit.delta)? {
                edit.splices.push(Splice::overwrite(parent.offset, header));
            }
        }
        edit.splices
            .extend(offsets::moved(source, &mp4.atoms, edit.at, edit.delta)?);
    }
    edit.splices.sort_by_key(|s| (s.start, s.end));
    check_edit(source, &mp4, &edit, field, values)?;
    Ok(edit.splices)
}

/// An edit of `moov`: its splices, and how much the atoms `parents` (from `moov` down) grow
/// at `at`.
struct Edit {
    splices: Vec<Splice>,
    parents: Vec<Atom>,
    at: u64,
    delta: i64,
}

/// The file's top-level atoms.
struct Mp4 {
    atoms: Vec<Atom>,
    len: u64,
}

impl Mp4 {
    fn read(source: &mut (impl Read + Seek), len: u64) -> Result<Self> {
        let atoms = atoms::read(source, 0, len, true)?;
        ensure!(
            atoms.iter().any(|a| &a.name == b"moov"),
            "the MP4 file has no moov atom"
        );
        Ok(Self { atoms, len })
    }

    fn moov(&self) -> &Atom {
        self.atoms.iter().find(|a| &a.name == b"moov").unwrap()
    }

    /// `moov`, `udta`, `meta` and `ilst`, each the first of its name in the one before, as
    /// far as they go (mutagen looks no further).
    fn path(&self) -> Vec<&Atom> {
        let mut path = vec![self.moov()];
        for name in [b"udta", b"meta", b"ilst"] {
            match path.last().unwrap().child(name) {
                Some(atom) => path.push(atom),
                None => break,
            }
        }
        path
    }

    fn ilst_path(&self) -> Option<Vec<&Atom>> {
        Some(self.path()).filter(|path| path.len() == 4)
    }

    /// The items of the `ilst`, with their content.
    fn items(&self, source: &mut (impl Read + Seek)) -> Result<Vec<(Atom, Vec<u8>)>> {
        let Some(path) = self.ilst_path() else {
            return Ok(Vec::new());
        };
        path[3]
            .children
            .iter()
            .map(|item| {
                let content = read_range(source, item.offset + item.header, item.end())?;
                Ok((item.clone(), content))
            })
            .collect()
    }

    /// The splices of the `ilst`'s items and sizes, its `free` neighbour taking the change
    /// where it can.
    fn edit_ilst(
        &self,
        source: &mut (impl Read + Seek),
        path: &[&Atom],
        field: &Field,
        new_item: Vec<u8>,
    ) -> Result<Option<Edit>> {
        let (meta, ilst) = (path[2], path[3]);
        let matching: Vec<Atom> = self
            .items(source)?
            .into_iter()
            .filter(|(item, content)| items::holds(field, &item.name, content))
            .map(|(item, _)| item)
            .collect();
        if matching.is_empty() && new_item.is_empty() {
            return Ok(None);
        }
        let growth = new_item.len() as i64 - matching.iter().map(|a| a.len as i64).sum::<i64>();
        let mut splices = Vec::new();
        match matching.split_first() {
            Some((first, rest)) => {
                splices.push(Splice {
                    start: first.offset,
                    end: first.end(),
                    bytes: new_item,
                });
                splices.extend(rest.iter().map(|item| Splice {
                    start: item.offset,
                    end: item.end(),
                    bytes: Vec::new(),
                }));
            }
            None => splices.push(Splice::insert(ilst.end(), new_item)),
        }
        if let Some(header) = ilst.resized_header(growth)? {
            splices.push(Splice::overwrite(ilst.offset, header));
        }
        let fresh = 1024 + (self.len - ilst.end()) / 1000;
        let delta = absorb(meta, ilst, growth, fresh, &mut splices)?;
        Ok(Some(Edit {
            splices,
            parents: path[..3].iter().map(|a| (*a).clone()).collect(),
            at: ilst.offset,
            delta,
        }))
    }

    /// The splice that adds a `meta` holding a `hdlr` and an `ilst` of `new_item` at the
    /// start of `udta` (a new `udta` at the start of `moov`), with fresh padding after.
    fn add_ilst(&self, new_item: Vec<u8>) -> Option<Edit> {
        let path = self.path();
        let parent = path[path.len().min(2) - 1];
        let hdlr = render(b"hdlr", &[&[0; 8][..], b"mdirappl", &[0; 9]].concat());
        let fresh = 1024 + (self.len - parent.content()) / 1000;
        let free = render(b"free", &vec![0; fresh as usize]);
        let ilst = render(b"ilst", &new_item);
        let mut added = render(b"meta", &[&[0; 4][..], &hdlr, &ilst, &free].concat());
        if &parent.name == b"moov" {
            added = render(b"udta", &added);
        }
        let at = parent.content();
        Some(Edit {
            delta: added.len() as i64,
            splices: vec![Splice::insert(at, added)],
            parents: path[..path.len().min(2)]
                .iter()
                .map(|a| (*a).clone())
                .collect(),
            at,
        })
    }
}

/// Splices that let the `free` atom beside `ilst` in `meta` take `growth`, or leave the room
/// of a shrinking `ilst` as a new `free` atom, or give it fresh padding; returns how much
/// `meta` grows after all.
fn absorb(
    meta: &Atom,
    ilst: &Atom,
    growth: i64,
    fresh: u64,
    splices: &mut Vec<Splice>,
) -> Result<i64> {
    let index = meta.children.iter().position(|a| a == ilst).unwrap();
    let beside = [index.checked_sub(1), Some(index + 1)]
        .into_iter()
        .flatten()
        .filter_map(|i| meta.children.get(i))
        .find(|a| &a.name == b"free");
    match beside {
        Some(free) if growth <= free.len as i64 - free.header as i64 => {
            if let Some(header) = free.resized_header(-growth)? {
                splices.push(Splice::overwrite(free.offset, header));
            }
            match growth {
                0 => {}
                more if more > 0 => splices.push(Splice {
                    start: free.end() - more as u64,
                    end: free.end(),
                    bytes: Vec::new(),
                }),
                less => splices.push(Splice::insert(
                    free.end(),
                    vec![0; less.unsigned_abs() as usize],
                )),
            }
            Ok(0)
        }
        Some(free) => {
            let padding = render(b"free", &vec![0; fresh as usize]);
            let delta = growth + padding.len() as i64 - free.len as i64;
            splices.push(Splice {
                start: free.offset,
                end: free.end(),
                bytes: padding,
            });
            Ok(delta)
        }
        None if growth <= -8 => {
            let room = growth.unsigned_abs() as usize;
            splices.push(Splice::insert(
                ilst.end(),
                render(b"free", &vec![0; room - 8]),
            ));
            Ok(0)
        }
        None if growth > 0 => {
            let padding = render(b"free", &vec![0; fresh as usize]);
            let delta = growth + padding.len() as i64;
            splices.push(Splice::insert(ilst.end(), padding));
            Ok(delta)
        }
        None => Ok(growth),
    }
}

fn read_range(source: &mut (impl Read + Seek), start: u64, end: u64) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    source.seek(SeekFrom::Start(start))?;
    source.take(end - start).read_to_end(&mut bytes)?;
    ensure!(
        bytes.len() as u64 == end - start,
        "the MP4 file is cut short"
    );
    Ok(bytes)
}

/// Reads the edited `moov` back: the field holding `values`, every other item as before and
/// in order, every other atom's bytes as before (chunk offsets moved by the change).
fn check_edit(
    source: &mut (impl Read + Seek),
    mp4: &Mp4,
    edit: &Edit,
    field: &Field,
    values: &[String],
) -> Result<()> {
    let moov = mp4.moov();
    ensure!(moov.len <= MAX_MOOV, "the MP4 moov atom passes 256 MiB");
    let before = read_range(source, moov.offset, moov.end())?;
    let inside: Vec<Splice> = edit
        .splices
        .iter()
        .filter(|s| s.start >= moov.offset && s.end <= moov.end())
        .map(|s| Splice {
            start: s.start - moov.offset,
            end: s.end - moov.offset,
            bytes: s.bytes.clone(),
        })
        .collect();
    let mut after = Vec::new();
    super::apply(
        &mut Cursor::new(&before),
        before.len() as u64,
        &inside,
        &mut after,
    )?;
    let len = after.len() as u64;
    let edited = Mp4::read(&mut Cursor::new(&after), len)
        .context("the edited MP4 moov does not read back")?;
    ensure!(
        edited.atoms.len() == 1 && edited.moov().end() == len,
        "the edited MP4 moov does not end where it should"
    );
    let read = read(&mut Cursor::new(&after), len, field)?;
    ensure!(
        read == values,
        "the edited MP4 tags read {read:?}, not {values:?}"
    );
    let original = Mp4 {
        atoms: atoms::read(&mut Cursor::new(&before), 0, before.len() as u64, true)?,
        len: before.len() as u64,
    };
    let others = |mp4: &Mp4, bytes: &[u8]| -> Result<Vec<Vec<u8>>> {
        Ok(mp4
            .items(&mut Cursor::new(bytes))?
            .into_iter()
            .filter(|(item, content)| !items::holds(field, &item.name, content))
            .map(|(item, content)| [&item.name[..], &content].concat())
            .collect())
    };
    ensure!(
        others(&original, &before)? == others(&edited, &after)?,
        "the edit would change other MP4 tags"
    );
    offsets::check_moved(
        (original.moov(), &before),
        (edited.moov(), &after),
        edit.at,
        edit.delta,
    )
}

#[cfg(test)]
mod tests;
