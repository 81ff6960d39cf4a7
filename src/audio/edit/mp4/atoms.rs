//! MP4 atoms (boxes) as mutagen walks them: a 32-bit size and a name, the size 1 saying a
//! 64-bit size follows and 0 (at the top level) that the atom runs to the end of the file;
//! the atoms that hold others (`moov`, `udta`, `meta` after its 4 bytes of version and flags,
//! `ilst`, `trak` and the others mutagen descends into) read with their children.

use anyhow::{ensure, Context, Result};
use std::io::{Read, Seek, SeekFrom};

/// The atoms whose content is atoms, and how many bytes come before them.
fn children_at(name: &[u8; 4]) -> Option<u64> {
    match name {
        b"meta" => Some(4),
        b"moov" | b"udta" | b"trak" | b"mdia" | b"ilst" | b"stbl" | b"minf" | b"moof" | b"traf" => {
            Some(0)
        }
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Atom {
    pub name: [u8; 4],
    /// Where it starts (in the file, or in the bytes it was read from).
    pub offset: u64,
    /// Its header's length: 8, or 16 with a 64-bit size.
    pub header: u64,
    /// Its whole length.
    pub len: u64,
    /// Its size is written as 0: it runs to the end of the file.
    pub to_end: bool,
    pub children: Vec<Atom>,
}

impl Atom {
    pub fn end(&self) -> u64 {
        self.offset + self.len
    }

    /// Where its content (or, for a container, its first child) starts.
    pub fn content(&self) -> u64 {
        self.offset + self.header + children_at(&self.name).unwrap_or(0)
    }

    /// Whether its content is atoms.
    pub fn holds_atoms(&self) -> bool {
        children_at(&self.name).is_some()
    }

    pub fn child(&self, name: &[u8; 4]) -> Option<&Atom> {
        self.children.iter().find(|c| &c.name == name)
    }

    /// Every atom named `name` below this one.
    pub fn find_all<'a>(&'a self, name: &[u8; 4], out: &mut Vec<&'a Atom>) {
        for child in &self.children {
            if &child.name == name {
                out.push(child);
            }
            child.find_all(name, out);
        }
    }

    /// The atom's header with its size changed by `delta`: the bytes from its offset (none
    /// when the size says "to the end of the file").
    pub fn resized_header(&self, delta: i64) -> Result<Option<Vec<u8>>> {
        if self.to_end || delta == 0 {
            return Ok(None);
        }
        let len =
            u64::try_from(self.len as i64 + delta).context("an MP4 atom's size underflows")?;
        Ok(Some(if self.header == 16 {
            [&1u32.to_be_bytes()[..], &self.name, &len.to_be_bytes()].concat()
        } else {
            let len = u32::try_from(len).with_context(|| {
                format!(
                    "the MP4 atom '{}' would pass 4 GiB",
                    String::from_utf8_lossy(&self.name)
                )
            })?;
            len.to_be_bytes().to_vec()
        }))
    }
}

/// Reads the atoms from `start` to `end` of a source: containers with their children, the
/// others by their headers only. `top` when these are the file's top level (where a size of
/// 0 runs to the end).
pub(super) fn read(
    source: &mut (impl Read + Seek),
    start: u64,
    end: u64,
    top: bool,
) -> Result<Vec<Atom>> {
    let mut atoms = Vec::new();
    let mut at = start;
    // Fewer than 8 bytes left are not an atom (QuickTime ends some lists with 4 zeros).
    while at + 8 <= end {
        let atom = read_one(source, at, end, top)?;
        at = atom.end();
        atoms.push(atom);
    }
    Ok(atoms)
}

fn read_one(source: &mut (impl Read + Seek), at: u64, end: u64, top: bool) -> Result<Atom> {
    let cut = || format!("the MP4 atom at byte {at} is cut short");
    ensure!(end - at >= 8, cut());
    let mut head = [0; 8];
    source.seek(SeekFrom::Start(at))?;
    source.read_exact(&mut head)?;
    let size = u32::from_be_bytes(head[..4].try_into().unwrap());
    let name: [u8; 4] = head[4..].try_into().unwrap();
    let (header, len, to_end) = match size {
        1 => {
            ensure!(end - at >= 16, cut());
            let mut large = [0; 8];
            source.read_exact(&mut large)?;
            let len = u64::from_be_bytes(large);
            ensure!(
                len >= 16,
                "the MP4 atom at byte {at} has a 64-bit size under 16"
            );
            (16, len, false)
        }
        0 if top => (8, end - at, true),
        0 => bail_size(at, size)?,
        size if size < 8 => bail_size(at, size)?,
        size => (8, u64::from(size), false),
    };
    let mut atom = Atom {
        name,
        offset: at,
        header,
        len,
        to_end,
        children: Vec::new(),
    };
    ensure!(
        atom.end() <= end || (top && children_at(&name).is_none()),
        "the MP4 atom '{}' at byte {at} runs past {}",
        String::from_utf8_lossy(&name),
        if top {
            "the end of the file"
        } else {
            "the atom holding it"
        }
    );
    if children_at(&name).is_some() {
        ensure!(atom.content() <= atom.end(), cut());
        atom.children = read(source, atom.content(), atom.end(), false)?;
    }
    Ok(atom)
}

fn bail_size(at: u64, size: u32) -> Result<(u64, u64, bool)> {
    anyhow::bail!("the MP4 atom at byte {at} has a size of {size}")
}

/// One atom's bytes, from its header, rendered: a 32-bit size where it fits.
pub(super) fn render(name: &[u8; 4], content: &[u8]) -> Vec<u8> {
    let len = content.len() + 8;
    let mut bytes = match u32::try_from(len) {
        Ok(len) => [&len.to_be_bytes()[..], name].concat(),
        Err(_) => [
            &1u32.to_be_bytes()[..],
            name,
            &(len as u64 + 8).to_be_bytes(),
        ]
        .concat(),
    };
    bytes.extend_from_slice(content);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn containers_are_read_with_their_children_and_sizes_of_every_kind() {
        let ilst = render(b"ilst", &render(b"\xa9gen", b"x"));
        let meta = render(b"meta", &[&[0; 4][..], &ilst].concat());
        let moov = render(b"moov", &render(b"udta", &meta));
        let mut large = [&1u32.to_be_bytes()[..], b"free", &20u64.to_be_bytes()].concat();
        large.extend([0; 4]);
        let file = [
            render(b"ftyp", b"M4A "),
            moov,
            large,
            [0, 0, 0, 0].to_vec(),
            b"mdat".to_vec(),
            vec![9; 10],
        ]
        .concat();
        let atoms = read(&mut Cursor::new(&file), 0, file.len() as u64, true).unwrap();
        let names: Vec<&[u8; 4]> = atoms.iter().map(|a| &a.name).collect();
        assert_eq!(names, [b"ftyp", b"moov", b"free", b"mdat"]);
        assert_eq!((atoms[2].header, atoms[2].len), (16, 20));
        assert!(atoms[3].to_end && atoms[3].end() == file.len() as u64);
        let meta = atoms[1].child(b"udta").unwrap().child(b"meta").unwrap();
        assert_eq!(meta.content(), meta.offset + 12);
        let ilst = meta.child(b"ilst").unwrap();
        assert_eq!(ilst.children[0].name, *b"\xa9gen");
        assert_eq!(
            atoms[1].resized_header(3).unwrap().unwrap(),
            (atoms[1].len as u32 + 3).to_be_bytes()
        );
        assert_eq!(
            atoms[2].resized_header(-1).unwrap().unwrap()[8..],
            19u64.to_be_bytes()
        );
        assert!(atoms[3].resized_header(5).unwrap().is_none());
    }

    #[test]
    fn broken_sizes_are_errors_never_panics() {
        let moov = render(b"moov", &render(b"udta", b"abc"));
        for cut in 0..moov.len() {
            let _ = read(&mut Cursor::new(&moov[..cut]), 0, cut as u64, true);
        }
        let mut small = moov.clone();
        small[11] = 3;
        assert!(read(&mut Cursor::new(&small), 0, small.len() as u64, true).is_err());
        let mut past = moov.clone();
        past[11] = 40;
        let error = read(&mut Cursor::new(&past), 0, past.len() as u64, true).unwrap_err();
        assert!(
            error.to_string().contains("runs past the atom holding it"),
            "{error}"
        );
    }
}
