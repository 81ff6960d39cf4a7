use super::*;
use crate::audio::edit::testing::{undoable, values, Rng};
use std::io::Cursor;

const AUDIO: &[u8] = b"wvpk\x20\0\0\0 WavPack blocks follow";

/// An item written by hand: value length, flags, key, NUL, value.
fn item(key: &str, flags: u32, value: &[u8]) -> Vec<u8> {
    let mut i = (value.len() as u32).to_le_bytes().to_vec();
    i.extend(flags.to_le_bytes());
    i.extend_from_slice(key.as_bytes());
    i.push(0);
    i.extend_from_slice(value);
    i
}

/// `AUDIO`, an APEv2 tag of `items` (with a header), and an ID3v1 tag when asked.
fn file(items: &[Vec<u8>], id3v1: bool) -> Vec<u8> {
    let body = items.concat();
    let size = (body.len() + 32) as u32;
    let edge = |flags: u32| {
        let mut e = b"APETAGEX".to_vec();
        for n in [2000u32, size, items.len() as u32, flags] {
            e.extend(n.to_le_bytes());
        }
        e.extend([0; 8]);
        e
    };
    let mut f = AUDIO.to_vec();
    f.extend(edge(HAS_HEADER | IS_HEADER));
    f.extend(body);
    f.extend(edge(HAS_HEADER));
    if id3v1 {
        let mut tag = b"TAG".to_vec();
        tag.resize(128, b' ');
        f.extend(tag);
    }
    f
}

fn edited(before: &[u8], field: &Field, new: &[String]) -> Vec<u8> {
    let splices = edit(&mut Cursor::new(before), before.len() as u64, field, new).unwrap();
    let after = undoable(before, &splices);
    let read = read(&mut Cursor::new(&after), after.len() as u64, field).unwrap();
    assert_eq!(read, new);
    assert!(after.starts_with(AUDIO));
    after
}

/// The items as mutagen would list them, read by hand: (key, flags, value), and the sizes and
/// counts the header and footer state (they must agree with the items).
fn items_of(f: &[u8], id3v1: bool) -> Vec<(String, u32, Vec<u8>)> {
    let end = f.len() - if id3v1 { 128 } else { 0 };
    let footer = &f[end - 32..end];
    assert_eq!(&footer[..8], b"APETAGEX");
    let size = le32(&footer[12..]) as usize;
    let count = le32(&footer[16..]) as usize;
    let header = &f[end - size - 32..end - size];
    assert_eq!(&header[..8], b"APETAGEX");
    assert_eq!(header[12..20], footer[12..20], "header and footer agree");
    let mut data = &f[end - size..end - 32];
    let mut out = Vec::new();
    while !data.is_empty() {
        let len = le32(data) as usize;
        let key_end = 8 + data[8..].iter().position(|&b| b == 0).unwrap();
        let key = String::from_utf8(data[8..key_end].to_vec()).unwrap();
        out.push((
            key,
            le32(&data[4..]),
            data[key_end + 1..key_end + 1 + len].to_vec(),
        ));
        data = &data[key_end + 1 + len..];
    }
    assert_eq!(out.len(), count, "the item count");
    out
}

#[test]
fn the_genre_item_is_replaced_and_every_other_item_keeps_its_bytes_and_place() {
    let items = [
        item("Title", 0, b"Blew"),
        item("GENRE", 0, b"Jazz"),
        item("Cover Art (Front)", 2, b"front.jpg\0\x89PNG"),
        item("Artist", 1, b"piman\0jzig"),
    ];
    for id3v1 in [false, true] {
        let before = file(&items, id3v1);
        let field = Field::Standard;
        let after = edited(&before, &field, &values(&["Heavy Metal", "Rock"]));
        let (was, now) = (items_of(&before, id3v1), items_of(&after, id3v1));
        assert_eq!(now[1], ("GENRE".into(), 0, b"Heavy Metal\0Rock".to_vec()));
        assert_eq!([&now[0], &now[2], &now[3]], [&was[0], &was[2], &was[3]]);
        if id3v1 {
            assert_eq!(after[after.len() - 128..], before[before.len() - 128..]);
        }
        let removed = edited(&after, &field, &[]);
        assert_eq!(items_of(&removed, id3v1).len(), 3);
    }
}

#[test]
fn a_missing_item_is_added_after_the_others_and_a_missing_tag_at_the_end() {
    let before = file(&[item("Title", 0, b"Blew")], false);
    let custom = Field::Custom("COVERGENRE".into());
    let after = edited(&before, &custom, &values(&["Rock"]));
    let now = items_of(&after, false);
    assert_eq!(now[1], ("COVERGENRE".into(), 0, b"Rock".to_vec()));
    for id3v1 in [false, true] {
        let mut bare = AUDIO.to_vec();
        if id3v1 {
            let mut tag = b"TAG".to_vec();
            tag.resize(128, b'x');
            bare.extend(tag);
        }
        let after = edited(&bare, &Field::Standard, &values(&["Rock", "Jazz"]));
        assert_eq!(
            items_of(&after, id3v1),
            [("Genre".into(), 0, b"Rock\0Jazz".to_vec())]
        );
        assert!(edit(
            &mut Cursor::new(&bare),
            bare.len() as u64,
            &Field::Standard,
            &[]
        )
        .unwrap()
        .is_empty());
    }
}

#[test]
fn damaged_tags_are_refused_with_the_reason() {
    let refusal = |f: &[u8]| {
        edit(
            &mut Cursor::new(f),
            f.len() as u64,
            &Field::Standard,
            &values(&["Rock"]),
        )
        .unwrap_err()
        .to_string()
    };
    let good = file(&[item("Genre", 0, b"Jazz")], false);
    let footer = good.len() - 32;
    let mut too_big = good.clone();
    too_big[footer + 12..footer + 16].copy_from_slice(&5000u32.to_le_bytes());
    assert!(refusal(&too_big).contains("runs past the file's start"));
    let mut item_past = good.clone();
    let item_at = AUDIO.len() + 32;
    item_past[item_at..item_at + 4].copy_from_slice(&400u32.to_le_bytes());
    assert!(refusal(&item_past).contains("'Genre' runs past the tag"));
    let binary = file(&[item("Genre", 2, b"\x01\x02")], false);
    assert!(refusal(&binary).contains("'Genre' is not text"));
    let mut at_start = good[AUDIO.len()..].to_vec();
    at_start.extend_from_slice(AUDIO);
    assert!(refusal(&at_start).contains("at the start of the file"));
}

#[test]
fn random_corruptions_never_panic() {
    let good = [
        file(&[item("Title", 0, b"a"), item("Genre", 0, b"Jazz")], false),
        file(&[item("Genre", 0, b"Jazz\0Rock")], true),
    ];
    let mut rng = Rng::new(0x1234_5678_9abc_def1);
    for round in 0..2000 {
        let mut bytes = good[round % 2].clone();
        rng.corrupt(&mut bytes, AUDIO.len(), 1 + round % 3);
        bytes.truncate(bytes.len() - (rng.next() >> 48) as usize % 8);
        let len = bytes.len() as u64;
        let mut source = Cursor::new(&bytes);
        let _ = read(&mut source, len, &Field::Standard);
        for new in [values(&["Rock"]), Vec::new()] {
            if let Ok(splices) = edit(&mut source, len, &Field::Standard, &new) {
                super::super::check(&splices, len).unwrap();
            }
        }
    }
}
