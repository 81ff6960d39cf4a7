use super::*;
use crate::audio::edit::testing::{edited, undoable, values, Rng};

fn text_item(name: &[u8; 4], text: &str) -> Vec<u8> {
    render(
        name,
        &render(
            b"data",
            &[&[0, 0, 0, 1, 0, 0, 0, 0][..], text.as_bytes()].concat(),
        ),
    )
}

fn genre_number(number: u16) -> Vec<u8> {
    render(
        b"gnre",
        &render(b"data", &[&[0; 8][..], &number.to_be_bytes()].concat()),
    )
}

fn cover() -> Vec<u8> {
    render(
        b"covr",
        &render(
            b"data",
            &[&[0, 0, 0, 14, 0, 0, 0, 0][..], b"\x89PNG picture"].concat(),
        ),
    )
}

const AUDIO: usize = 120;

/// An M4A of `items` in its `ilst`, a `free` atom of `free` bytes after it (none: `None`),
/// `moov` before or after `mdat`, whose chunks the `stco` (or `co64`) table points at.
fn m4a(items: &[Vec<u8>], free: Option<usize>, moov_first: bool, wide: bool) -> Vec<u8> {
    let ftyp = render(b"ftyp", b"M4A \0\0\0\0M4A mp42isom");
    let audio: Vec<u8> = (0..AUDIO).map(|i| (i * 13) as u8).collect();
    let mdat = render(b"mdat", &audio);
    let moov = |chunks: [u64; 2]| {
        let table = if wide {
            let entries: Vec<u8> = chunks.iter().flat_map(|c| c.to_be_bytes()).collect();
            render(b"co64", &[&[0, 0, 0, 0, 0, 0, 0, 2][..], &entries].concat())
        } else {
            let entries: Vec<u8> = chunks
                .iter()
                .flat_map(|&c| (c as u32).to_be_bytes())
                .collect();
            render(b"stco", &[&[0, 0, 0, 0, 0, 0, 0, 2][..], &entries].concat())
        };
        let stbl = render(b"stbl", &[render(b"stsz", &[7; 20]), table].concat());
        let trak = render(b"trak", &render(b"mdia", &render(b"minf", &stbl)));
        let hdlr = render(b"hdlr", &[&[0; 8][..], b"mdirappl", &[0; 9]].concat());
        let mut meta = [&[0; 4][..], &hdlr, &render(b"ilst", &items.concat())].concat();
        if let Some(free) = free {
            meta.extend(render(b"free", &vec![0; free]));
        }
        let udta = render(
            b"udta",
            &[render(b"meta", &meta), render(b"chpl", b"chapters")].concat(),
        );
        render(b"moov", &[render(b"mvhd", &[3; 100]), trak, udta].concat())
    };
    if moov_first {
        let start = (ftyp.len() + moov([0, 0]).len() + 8) as u64;
        [ftyp, moov([start, start + 60]), mdat].concat()
    } else {
        let start = (ftyp.len() + 8) as u64;
        [ftyp, mdat, moov([start, start + 60])].concat()
    }
}

/// What the chunk offsets of `file` point at.
fn chunks(file: &[u8]) -> Vec<Vec<u8>> {
    let mp4 = Mp4::read(&mut Cursor::new(file), file.len() as u64).unwrap();
    let mut tables = Vec::new();
    mp4.moov().find_all(b"stco", &mut tables);
    mp4.moov().find_all(b"co64", &mut tables);
    let table = tables[0];
    let wide = &table.name == b"co64";
    let content = &file[(table.offset + 8) as usize..table.end() as usize];
    content[8..]
        .chunks_exact(if wide { 8 } else { 4 })
        .map(|c| {
            let at = if wide {
                u64::from_be_bytes(c.try_into().unwrap())
            } else {
                u64::from(u32::from_be_bytes(c.try_into().unwrap()))
            } as usize;
            file[at..at + 60].to_vec()
        })
        .collect()
}

fn splices_of(file: &[u8], field: &Field, new: &[String]) -> Result<Vec<Splice>> {
    edit(&mut Cursor::new(file), file.len() as u64, field, new)
}

/// Edits `file`, checks the inverse gives it back, the values read back and the chunks are
/// where the offsets say; returns the edited file.
fn edit_and_undo(file: &[u8], field: &Field, new: &[String]) -> Vec<u8> {
    let after = undoable(file, &splices_of(file, field, new).unwrap());
    let len = after.len() as u64;
    assert_eq!(read(&mut Cursor::new(&after), len, field).unwrap(), new);
    assert_eq!(
        chunks(&after),
        chunks(file),
        "the chunk offsets follow the audio"
    );
    after
}

/// The names of the items, in order.
fn names(file: &[u8]) -> Vec<String> {
    let mp4 = Mp4::read(&mut Cursor::new(file), file.len() as u64).unwrap();
    mp4.items(&mut Cursor::new(file))
        .unwrap()
        .iter()
        .map(|(item, _)| item.name.iter().map(|&b| char::from(b)).collect())
        .collect()
}

#[test]
fn the_genre_is_replaced_in_its_place_and_the_free_atom_absorbs_it() {
    let items = [
        text_item(b"\xa9nam", "Song"),
        text_item(b"\xa9gen", "Jazz"),
        cover(),
    ];
    let file = m4a(&items, Some(200), true, false);
    let after = edit_and_undo(&file, &Field::Standard, &values(&["Heavy Metal", "Rock"]));
    assert_eq!(after.len(), file.len(), "nothing moves");
    assert_eq!(names(&after), ["©nam", "©gen", "covr"]);
    let mp4 = Mp4::read(&mut Cursor::new(&file), file.len() as u64).unwrap();
    let ilst = mp4.ilst_path().unwrap()[3].clone();
    for splice in splices_of(&file, &Field::Standard, &values(&["Rock"])).unwrap() {
        assert!(splice.start >= ilst.offset && splice.end <= ilst.end() + 8 + 200);
    }
    let removed = edit_and_undo(&after, &Field::Standard, &[]);
    assert_eq!(names(&removed), ["©nam", "covr"]);
    assert_eq!(removed.len(), file.len());
}

#[test]
fn without_a_free_atom_moov_grows_and_the_chunk_offsets_move() {
    for wide in [false, true] {
        let file = m4a(&[text_item(b"\xa9nam", "Song")], None, true, wide);
        let after = edit_and_undo(&file, &Field::Standard, &values(&["Rock"]));
        let padding = 8 + 1024 + (AUDIO as u64 + 8) / 1000;
        let item = items::render_item(&Field::Standard, &values(&["Rock"])).len() as u64;
        assert_eq!(after.len() as u64, file.len() as u64 + item + padding);
        assert_eq!(names(&after), ["©nam", "©gen"]);
        assert!(
            after.ends_with(&file[file.len() - AUDIO..]),
            "the audio is whole"
        );
    }
    // moov after mdat: nothing it points at moves.
    let file = m4a(&[text_item(b"\xa9gen", "Jazz")], None, false, false);
    let after = edit_and_undo(&file, &Field::Standard, &values(&["Progressive Rock"]));
    assert_eq!(after[..40], file[..40]);
}

#[test]
fn a_genre_number_gives_way_to_a_genre_text() {
    let file = m4a(
        &[genre_number(18), text_item(b"\xa9ART", "A")],
        Some(50),
        true,
        false,
    );
    assert_eq!(
        read(&mut Cursor::new(&file), file.len() as u64, &Field::Standard).unwrap(),
        ["Rock"]
    );
    let after = edit_and_undo(&file, &Field::Standard, &values(&["Blues"]));
    assert_eq!(names(&after), ["©gen", "©ART"]);
}

#[test]
fn a_field_of_our_own_is_a_freeform_item() {
    let file = m4a(&[text_item(b"\xa9gen", "Jazz")], Some(300), true, false);
    let mood = Field::Custom("MOOD".into());
    let after = edit_and_undo(&file, &mood, &values(&["calm", "warm"]));
    assert_eq!(names(&after), ["©gen", "----"]);
    let genre = read(
        &mut Cursor::new(&after),
        after.len() as u64,
        &Field::Standard,
    )
    .unwrap();
    assert_eq!(genre, ["Jazz"]);
}

#[test]
fn a_file_without_tags_gets_them_where_mutagen_puts_them() {
    let ftyp = render(b"ftyp", b"M4A \0\0\0\0");
    let audio = render(b"mdat", &[5; 64]);
    let stco = render(b"stco", &[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
    let trak = render(
        b"trak",
        &render(b"mdia", &render(b"minf", &render(b"stbl", &stco))),
    );
    for udta in [Vec::new(), render(b"udta", b"")] {
        let moov = render(
            b"moov",
            &[render(b"mvhd", &[1; 100]), trak.clone(), udta].concat(),
        );
        let mut file = [ftyp.clone(), moov, audio.clone()].concat();
        let at = (file.len() - 64) as u32;
        let table = file.windows(4).position(|w| w == b"stco").unwrap() + 12;
        file[table..table + 4].copy_from_slice(&at.to_be_bytes());
        let after = edit_and_undo(&file, &Field::Standard, &values(&["Rock"]));
        assert!(after.ends_with(&[5; 64]));
        let mp4 = Mp4::read(&mut Cursor::new(&after), after.len() as u64).unwrap();
        assert_eq!(
            mp4.ilst_path().unwrap()[2].children.len(),
            3,
            "hdlr, ilst, free"
        );
        assert!(splices_of(&file, &Field::Standard, &[]).unwrap().is_empty());
    }
}

#[test]
fn fragment_base_offsets_move_with_the_fragments() {
    let file = m4a(&[], None, true, false);
    let tfhd = render(
        b"tfhd",
        &[
            &[0, 0, 0, 1, 0, 0, 0, 1][..],
            &(file.len() as u64 + 60).to_be_bytes(),
        ]
        .concat(),
    );
    let moof = render(b"moof", &render(b"traf", &tfhd));
    let fragmented = [file.clone(), moof.clone(), render(b"mdat", &[1; 20])].concat();
    let after = edit_and_undo(&fragmented, &Field::Standard, &values(&["Rock"]));
    let growth = (after.len() - fragmented.len()) as u64;
    let base_at = after.len() - 28 - 8;
    let base = u64::from_be_bytes(after[base_at..base_at + 8].try_into().unwrap());
    assert_eq!(base, file.len() as u64 + 60 + growth);
}

#[test]
fn damaged_atoms_are_refused_with_the_reason() {
    let rock = values(&["Rock"]);
    let refused = |bytes: &[u8], reason: &str| {
        let error = splices_of(bytes, &Field::Standard, &rock).unwrap_err();
        assert!(format!("{error:#}").contains(reason), "{reason}: {error:#}");
    };
    let file = m4a(&[text_item(b"\xa9gen", "Jazz")], None, true, false);
    let ilst = file.windows(4).position(|w| w == b"ilst").unwrap() - 4;
    // A genre item of a wrong size does not read, and is replaced whole.
    let mut bad_item = file.clone();
    bad_item[ilst + 8 + 11] = 3;
    let read = read(
        &mut Cursor::new(&bad_item),
        file.len() as u64,
        &Field::Standard,
    );
    assert!(read.unwrap_err().to_string().contains("wrong size"));
    edit_and_undo(&bad_item, &Field::Standard, &rock);
    let mut past = file.clone();
    past[ilst + 3] += 40;
    refused(&past, "runs past");
    refused(&file[..ilst], "runs past the end of the file");
    let no_moov = [render(b"ftyp", b"M4A "), render(b"mdat", &[1; 9])].concat();
    refused(&no_moov, "no moov atom");
    let table = file.windows(4).position(|w| w == b"stco").unwrap();
    let mut bad_table = file.clone();
    bad_table[table + 11] = 9;
    // Left as it is while nothing moves; refused when the offsets would have to move.
    edit_and_undo(&bad_table, &Field::Standard, &rock);
    let longer = values(&["Progressive Rock"]);
    let error = splices_of(&bad_table, &Field::Standard, &longer).unwrap_err();
    assert!(error.to_string().contains("chunk offset table"), "{error}");
}

#[test]
fn damaged_files_never_panic() {
    let good = m4a(
        &[text_item(b"\xa9gen", "Jazz"), cover()],
        Some(10),
        true,
        false,
    );
    let mut rng = Rng::new(0x2f6b_9a1c_03d5_e847);
    for round in 0..1500 {
        let mut bytes = good.clone();
        rng.corrupt(&mut bytes, 0, 1 + round % 3);
        bytes.truncate(bytes.len() - (rng.next() >> 48) as usize % 100);
        let len = bytes.len() as u64;
        let _ = read(&mut Cursor::new(&bytes), len, &Field::Standard);
        for new in [values(&["Rock"]), Vec::new()] {
            if let Ok(splices) = splices_of(&bytes, &Field::Standard, &new) {
                let after = edited(&bytes, &splices);
                let read = read(
                    &mut Cursor::new(&after),
                    after.len() as u64,
                    &Field::Standard,
                );
                assert_eq!(read.unwrap(), new);
            }
        }
    }
}
