use super::*;
use crate::audio::edit::testing::{undoable, values, Rng};
use std::io::Cursor;

/// A chunk as the file holds it: id, size in `order`, data, a pad byte after odd data.
fn chunk(order: Order, id: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut c = id.to_vec();
    c.extend(order.write(data.len() as u32));
    c.extend_from_slice(data);
    if data.len() % 2 == 1 {
        c.push(0);
    }
    c
}

const COMM: &[u8] = b"\x00\x01\x00\x00\x00\x10\x00\x10\x40\x0e\xac\x44\0\0\0\0\0\0";
const SOUND: &[u8] = b"\0\0\0\0\0\0\0\0 sixteen-bit samples";

fn aiff(chunks: &[Vec<u8>]) -> Vec<u8> {
    let body = chunks.concat();
    let mut file = b"FORM".to_vec();
    file.extend(((body.len() + 4) as u32).to_be_bytes());
    file.extend_from_slice(b"AIFF");
    file.extend(body);
    file
}

fn wav(chunks: &[Vec<u8>]) -> Vec<u8> {
    let body = chunks.concat();
    let mut file = b"RIFF".to_vec();
    file.extend(((body.len() + 4) as u32).to_le_bytes());
    file.extend_from_slice(b"WAVE");
    file.extend(body);
    file
}

/// An ID3v2.3 tag of `frames` (id, text) and `padding` zero bytes, written by hand.
fn id3v23(frames: &[(&[u8; 4], &str)], padding: usize) -> Vec<u8> {
    let mut body = Vec::new();
    for (id, text) in frames {
        body.extend_from_slice(*id);
        body.extend(((text.len() + 1) as u32).to_be_bytes());
        body.extend_from_slice(&[0, 0, 0]);
        body.extend_from_slice(text.as_bytes());
    }
    body.resize(body.len() + padding, 0);
    let n = body.len();
    let mut tag = b"ID3\x03\x00\x00".to_vec();
    tag.extend([(n >> 21) as u8 & 0x7f, (n >> 14) as u8 & 0x7f]);
    tag.extend([(n >> 7) as u8 & 0x7f, n as u8 & 0x7f]);
    tag.extend(body);
    tag
}

/// The chunks of `file` (id, stated size, data), walked independently of the code under
/// test; asserts the root chunk states the file's length.
fn chunks_of(file: &[u8], order: Order) -> Vec<([u8; 4], u32, Vec<u8>)> {
    let root = order.read(file[4..8].try_into().unwrap());
    assert_eq!(root as usize + 8, file.len(), "the root chunk's size");
    let mut at = 12;
    let mut out = Vec::new();
    while at < file.len() {
        let id: [u8; 4] = file[at..at + 4].try_into().unwrap();
        let size = order.read(file[at + 4..at + 8].try_into().unwrap());
        let data = file[at + 8..at + 8 + size as usize].to_vec();
        at += 8 + size as usize + size as usize % 2;
        out.push((id, size, data));
    }
    assert_eq!(
        at,
        file.len(),
        "the chunks fill the root chunk, pad bytes included"
    );
    out
}

fn edited(file: &[u8], field: &Field, new: &[String]) -> Vec<u8> {
    let splices = edit(&mut Cursor::new(file), file.len() as u64, field, new).unwrap();
    let after = undoable(file, &splices);
    let read = read(&mut Cursor::new(&after), after.len() as u64, field).unwrap();
    assert_eq!(read, new);
    after
}

#[test]
fn an_aiff_genre_is_replaced_in_its_id3_chunk_and_every_other_chunk_and_frame_stays() {
    let tag = id3v23(&[(b"TPE1", "piman/jzig"), (b"TCON", "Jazz")], 64);
    let file = aiff(&[
        chunk(Order::Big, b"COMM", COMM),
        chunk(Order::Big, b"SSND", SOUND),
        chunk(Order::Big, b"ID3 ", &tag),
    ]);
    let field = Field::Standard;
    assert_eq!(
        read(&mut Cursor::new(&file), file.len() as u64, &field).unwrap(),
        values(&["Jazz"])
    );
    let after = edited(&file, &field, &values(&["Heavy Metal"]));
    // The tag's padding takes the change: nothing moves.
    assert_eq!(after.len(), file.len());
    let before = chunks_of(&file, Order::Big);
    let now = chunks_of(&after, Order::Big);
    assert_eq!(now[..2], before[..2], "COMM and SSND as they were");
    assert!(now[2].2.windows(10).any(|w| w == b"piman/jzig"));
}

#[test]
fn a_tag_that_grows_resizes_its_chunk_the_root_and_the_pad_byte() {
    // No padding: the tag grows; an odd-sized chunk before the sound keeps its pad byte.
    let tag = id3v23(&[(b"TCON", "Jazz")], 0);
    for genre in ["Rock", "Heavy Metal", "Progressive Rock", "Rock & Roll"] {
        for (order, file) in [
            (
                Order::Big,
                aiff(&[
                    chunk(Order::Big, b"COMM", COMM),
                    chunk(Order::Big, b"ID3 ", &tag[..]),
                    chunk(Order::Big, b"SSND", SOUND),
                ]),
            ),
            (
                Order::Little,
                wav(&[
                    chunk(Order::Little, b"fmt ", &COMM[..16]),
                    chunk(Order::Little, b"id3 ", &tag[..]),
                    chunk(Order::Little, b"data", SOUND),
                ]),
            ),
        ] {
            let after = edited(&file, &Field::Standard, &values(&[genre]));
            let (before, now) = (chunks_of(&file, order), chunks_of(&after, order));
            assert_eq!(
                (now[0].clone(), now[2].clone()),
                (before[0].clone(), before[2].clone())
            );
            assert_eq!(now[1].1 as usize, now[1].2.len());
            assert_eq!(id3v2::tag_len(&now[1].2), Some(now[1].2.len()));
        }
    }
    // A genre removed: the tag keeps its size (its padding grows), the file stays as long.
    let odd = id3v23(&[(b"TCON", "Jazz")], 0);
    assert_eq!(odd.len() % 2, 1);
    let file = aiff(&[
        chunk(Order::Big, b"ID3 ", &odd),
        chunk(Order::Big, b"SSND", SOUND),
    ]);
    let after = edited(&file, &Field::Standard, &[]);
    assert_eq!(chunks_of(&after, Order::Big)[1].2, SOUND);
}

#[test]
fn a_file_without_an_id3_chunk_gets_one_at_the_end_of_its_root_chunk() {
    for (order, file, id) in [
        (
            Order::Little,
            wav(&[chunk(Order::Little, b"data", SOUND)]),
            b"id3 ",
        ),
        (
            Order::Big,
            aiff(&[chunk(Order::Big, b"SSND", SOUND)]),
            b"ID3 ",
        ),
    ] {
        let custom = Field::Custom("COVERGENRE".into());
        let after = edited(&file, &custom, &values(&["Rock", "Jazz"]));
        let now = chunks_of(&after, order);
        assert_eq!(now[0].2, SOUND);
        assert_eq!(&now[1].0, id);
        assert_eq!(
            read(
                &mut Cursor::new(&after),
                after.len() as u64,
                &Field::Standard
            )
            .unwrap(),
            Values::new()
        );
        // Removing a field that is not there changes nothing.
        assert!(
            edit(&mut Cursor::new(&file), file.len() as u64, &custom, &[])
                .unwrap()
                .is_empty()
        );
    }
    // Bytes after the root chunk stay after the new chunk.
    let mut trailing = aiff(&[chunk(Order::Big, b"SSND", SOUND)]);
    let root_len = trailing.len();
    trailing.extend_from_slice(b"junk");
    let splices = edit(
        &mut Cursor::new(&trailing),
        trailing.len() as u64,
        &Field::Standard,
        &values(&["Rock"]),
    )
    .unwrap();
    assert_eq!(splices.last().unwrap().start, root_len as u64);
    assert!(undoable(&trailing, &splices).ends_with(b"junk"));
}

#[test]
fn damaged_chunks_are_refused_with_the_reason() {
    let refusal = |file: &[u8]| {
        edit(
            &mut Cursor::new(file),
            file.len() as u64,
            &Field::Standard,
            &values(&["Rock"]),
        )
        .unwrap_err()
        .to_string()
    };
    let tag = id3v23(&[(b"TCON", "Jazz")], 8);
    let mut past_the_end = aiff(&[
        chunk(Order::Big, b"SSND", SOUND),
        chunk(Order::Big, b"ID3 ", &tag),
    ]);
    let at = 4 + past_the_end.windows(4).position(|w| w == b"ID3 ").unwrap();
    past_the_end[at..at + 4].copy_from_slice(&1000u32.to_be_bytes());
    assert!(refusal(&past_the_end).contains("ID3 chunk claims 1000 bytes, past the file's end"));
    let not_a_tag = aiff(&[chunk(Order::Big, b"ID3 ", b"liner notes")]);
    assert!(refusal(&not_a_tag).contains("does not hold an ID3v2 tag"));
    let mut avi = wav(&[]);
    avi[8..12].copy_from_slice(b"AVI ");
    assert!(refusal(&avi).contains("holds 'AVI ', not AIFF or WAVE audio"));
    let behind_id3 = [tag.clone(), aiff(&[])].concat();
    assert!(refusal(&behind_id3).contains("does not start with an AIFF or WAVE chunk"));
    assert!(refusal(b"FORM").contains("cut short"));
}

#[test]
fn random_corruptions_never_panic() {
    let tag = id3v23(&[(b"TPE1", "a"), (b"TCON", "Jazz")], 16);
    let good = [
        aiff(&[
            chunk(Order::Big, b"COMM", COMM),
            chunk(Order::Big, b"ID3 ", &tag),
        ]),
        wav(&[
            chunk(Order::Little, b"id3 ", &tag),
            chunk(Order::Little, b"data", SOUND),
        ]),
    ];
    let mut rng = Rng::new(0x2545_f491_4f6c_dd1d);
    for round in 0..2000 {
        let mut bytes = good[round % 2].clone();
        rng.corrupt(&mut bytes, 4, 1 + round % 3);
        bytes.truncate(bytes.len() - (rng.next() >> 48) as usize % 24);
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
