use super::*;
use crate::audio::edit::testing::{edited, undoable, values, Rng};
use std::fs::File;

fn custom(name: &str) -> Field {
    Field::Custom(name.into())
}

/// A frame of `version` (v2.4 sizes synchsafe).
fn frame(version: u8, id: &[u8], flags: u16, content: &[u8]) -> Vec<u8> {
    let mut f = id.to_vec();
    let size = content.len();
    match version {
        2 => f.extend_from_slice(&(size as u32).to_be_bytes()[1..]),
        3 => f.extend_from_slice(&(size as u32).to_be_bytes()),
        _ => f.extend(layout::to_synchsafe(size).unwrap()),
    }
    if version != 2 {
        f.extend_from_slice(&flags.to_be_bytes());
    }
    f.extend_from_slice(content);
    f
}

/// A tag of `version` and header `flags` around `body` (frames, then `padding` zeros).
fn tag(version: u8, flags: u8, body: &[u8], padding: usize) -> Vec<u8> {
    let mut t = vec![b'I', b'D', b'3', version, 0, flags];
    t.extend(layout::to_synchsafe(body.len() + padding).unwrap());
    t.extend_from_slice(body);
    t.resize(t.len() + padding, 0);
    t
}

/// Edits the tag at the start of `file`, checks the result reads `values` and that the inverse
/// splices give `file` back; returns the edited file.
fn edit_and_undo(file: &[u8], field: &Field, new: &[String]) -> (Vec<u8>, Vec<Splice>) {
    let len = tag_len(file).unwrap().min(file.len());
    let splices = edit_tag(&file[..len], 0, file.len() as u64, field, new).unwrap();
    let after = undoable(file, &splices);
    let read = read_tag(&after, field).unwrap();
    assert!(holds(&read, new), "{read:?} holds {new:?}");
    (after, splices)
}

/// The frames of the tag at the start of `file` other than `skip`, as (id, raw bytes).
fn other_frames(file: &[u8], skip: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let layout = Layout::parse(file).unwrap();
    layout
        .frames
        .iter()
        .filter(|f| f.id != skip)
        .map(|f| (f.id.clone(), layout.body[f.range()].to_vec()))
        .collect()
}

fn audio() -> Vec<u8> {
    let mut mpeg = vec![0xFF, 0xFB, 0x90, 0x00];
    mpeg.resize(417, 0x55);
    mpeg
}

#[test]
fn a_v23_genre_is_replaced_in_its_place_and_the_padding_absorbs_it() {
    let body = [
        frame(3, b"TIT2", 0, b"\x00Silence"),
        frame(3, b"TPE1", 0, b"\x00piman\x00jzig"),
        frame(3, b"TCON", 0, b"\x00Jazz"),
        frame(3, b"TRCK", 0, b"\x0002/10"),
    ]
    .concat();
    let mut file = tag(3, 0, &body, 100);
    file.extend(audio());
    let (after, splices) =
        edit_and_undo(&file, &Field::Standard, &values(&["Heavy Metal", "Rock"]));
    assert_eq!(after.len(), file.len(), "the tag keeps its size");
    assert_eq!(&after[file.len() - 417..], &file[file.len() - 417..]);
    assert_eq!(
        read_tag(&after, &Field::Standard).unwrap(),
        ["Heavy Metal/Rock"]
    );
    assert_eq!(other_frames(&after, b"TCON"), other_frames(&file, b"TCON"));
    let order: Vec<_> = Layout::parse(&after)
        .unwrap()
        .frames
        .into_iter()
        .map(|f| f.id)
        .collect();
    assert_eq!(order, [&b"TIT2"[..], b"TPE1", b"TCON", b"TRCK"]);
    // Only the frame and the padding's end are touched: no header, no other frame.
    let genre_at = (HEADER_LEN + 18 + 21) as u64;
    assert_eq!(splices.len(), 2, "{splices:?}");
    assert_eq!(
        (splices[0].start, splices[0].end),
        (genre_at, genre_at + 15)
    );
    assert_eq!(splices[1].end as usize, HEADER_LEN + body.len() + 100);
}

#[test]
fn a_genre_is_added_after_the_last_frame_and_removed_again() {
    let body = [
        frame(4, b"TIT2", 0, b"\x03One"),
        frame(4, b"APIC", 0, &[7; 300]),
    ]
    .concat();
    let file = [tag(4, 0, &body, 64), audio()].concat();
    let (after, _) = edit_and_undo(&file, &Field::Standard, &values(&["Rock", "Pop"]));
    assert_eq!(after.len(), file.len());
    let layout = Layout::parse(&after).unwrap();
    assert_eq!(layout.frames.last().unwrap().id, b"TCON");
    assert_eq!(
        layout.content(&layout.frames[2]).unwrap(),
        b"\x03Rock\x00Pop"
    );
    assert_eq!(read_tag(&after, &Field::Standard).unwrap(), ["Rock", "Pop"]);
    // Removing it gives the padding back.
    let (removed, _) = edit_and_undo(&after, &Field::Standard, &[]);
    assert_eq!(removed, file);
}

#[test]
fn a_tag_whose_padding_is_too_small_grows_with_fresh_padding() {
    let body = frame(3, b"TIT2", 0, b"\x00One");
    let file = [tag(3, 0, &body, 4), audio()].concat();
    let (after, _) = edit_and_undo(&file, &Field::Standard, &values(&["Rock"]));
    let layout = Layout::parse(&after).unwrap();
    assert_eq!(layout.padding(), fresh_padding(file.len() as u64));
    assert_eq!(
        &after[layout.len..],
        &audio()[..],
        "the audio follows the grown tag"
    );
}

#[test]
fn a_file_without_a_tag_gets_an_id3v24_one() {
    let mut file = audio();
    file.extend_from_slice(b"TAG"); // an ID3v1 tag's start: kept
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.mp3");
    std::fs::write(&path, &file).unwrap();
    let mut opened = File::open(&path).unwrap();
    assert_eq!(read(&mut opened, &Field::Standard).unwrap(), Values::new());
    let len = file.len() as u64;
    assert!(edit(&mut opened, len, &Field::Standard, &[])
        .unwrap()
        .is_empty());
    let splices = edit(&mut opened, len, &Field::Standard, &values(&["Rock"])).unwrap();
    let after = edited(&file, &splices);
    assert_eq!(&after[..5], b"ID3\x04\x00");
    let len = tag_len(&after).unwrap();
    assert_eq!(&after[len..], &file[..]);
    assert_eq!(read_tag(&after, &Field::Standard).unwrap(), ["Rock"]);
}

#[test]
fn user_text_frames_are_found_by_their_description() {
    let body = [
        frame(4, b"TXXX", 0, b"\x03MOOD\x00Calm"),
        frame(4, b"TCON", 0, b"\x03Jazz"),
        frame(4, b"TXXX", 0, b"\x03COVERGENRE\x00Old"),
    ]
    .concat();
    let file = tag(4, 0, &body, 50);
    let field = custom("COVERGENRE");
    assert_eq!(read_tag(&file, &field).unwrap(), ["Old"]);
    let (after, _) = edit_and_undo(&file, &field, &values(&["Rock", "Blues"]));
    assert_eq!(read_tag(&after, &field).unwrap(), ["Rock", "Blues"]);
    assert_eq!(read_tag(&after, &Field::Standard).unwrap(), ["Jazz"]);
    assert_eq!(read_tag(&after, &custom("MOOD")).unwrap(), ["Calm"]);
    let (added, _) = edit_and_undo(&tag(4, 0, &body, 50), &custom("NEW"), &values(&["Folk"]));
    assert_eq!(read_tag(&added, &custom("NEW")).unwrap(), ["Folk"]);
}

#[test]
fn an_id3v22_tag_stays_v22() {
    let body = [
        frame(2, b"TT2", 0, b"\x00One"),
        frame(2, b"TCO", 0, b"\x00(17)"),
    ]
    .concat();
    let file = tag(2, 0, &body, 40);
    assert_eq!(read_tag(&file, &Field::Standard).unwrap(), ["(17)"]);
    let (after, _) = edit_and_undo(&file, &Field::Standard, &values(&["Rock", "Ска"]));
    assert_eq!(after[3], 2);
    let layout = Layout::parse(&after).unwrap();
    assert_eq!(layout.frames[1].id, b"TCO");
    assert_eq!(read_tag(&after, &Field::Standard).unwrap(), ["Rock/Ска"]);
    let (user, _) = edit_and_undo(&file, &custom("MOOD"), &values(&["Calm"]));
    assert_eq!(Layout::parse(&user).unwrap().frames[2].id, b"TXX");
}

#[test]
fn a_v23_unsynchronised_tag_stays_unsynchronised_around_the_new_frame() {
    // Another frame holding FF bytes (unsynchronised), and a genre in UTF-16 (FF FE).
    let other = frame(3, b"PRIV", 0, b"x\x00\xff\xe3\xff\x00\xff");
    let body = [other.clone(), frame(3, b"TCON", 0, b"\x00Jazz")].concat();
    let raw_body = layout::unsynchronise(&body, Some(0));
    let file = [tag(3, 0x80, &raw_body, 30), audio()].concat();
    let before = Layout::parse(&file).unwrap();
    assert_eq!(before.body[..body.len()], body[..]);
    let (after, _) = edit_and_undo(&file, &Field::Standard, &values(&["Поп"]));
    assert_eq!(after.len(), file.len());
    let layout = Layout::parse(&after).unwrap();
    assert!(layout.unsynchronised_body());
    assert_eq!(layout.body[layout.frames[0].range()], other[..]);
    assert_eq!(read_tag(&after, &Field::Standard).unwrap(), ["Поп"]);
    // The raw bytes of the other frame are the file's own.
    assert_eq!(
        after[10..10 + raw_body.len() - 10],
        file[10..10 + raw_body.len() - 10]
    );
}

#[test]
fn a_v24_tag_flagged_unsynchronised_gets_an_unsynchronised_frame() {
    let file = tag(4, 0x80, &frame(4, b"TIT2", 0x0002, b"\x03One"), 40);
    let (after, _) = edit_and_undo(&file, &Field::Standard, &values(&["Rock\u{ff}"]));
    let layout = Layout::parse(&after).unwrap();
    assert_eq!(layout.frames[1].flags, 0x0002);
    assert_eq!(read_tag(&after, &Field::Standard).unwrap(), ["Rock\u{ff}"]);
}

#[test]
fn a_footer_follows_the_tag_s_new_size() {
    let mut file = tag(4, 0x10, &frame(4, b"TIT2", 0, b"\x03One"), 0);
    let mut footer = file[..10].to_vec();
    footer[..3].copy_from_slice(b"3DI");
    file.extend(footer);
    file.extend(audio());
    let (after, _) = edit_and_undo(&file, &Field::Standard, &values(&["Rock"]));
    let len = tag_len(&after).unwrap();
    assert_eq!(&after[len - 10..len - 7], b"3DI");
    assert_eq!(after[len - 4..len], after[6..10], "footer and header agree");
    assert_eq!(
        Layout::parse(&after).unwrap().padding(),
        0,
        "no padding before a footer"
    );
    assert_eq!(&after[len..], &audio()[..]);
}

#[test]
fn a_v24_tag_with_plain_frame_sizes_gets_a_frame_sized_the_same_way() {
    let content = [&b"\x03"[..], &[b'x'; 199]].concat();
    let mut plain = b"TIT2\x00\x00\x00\xc8\x00\x00".to_vec();
    plain.extend_from_slice(&content);
    let file = tag(4, 0, &plain, 1000);
    assert!(Layout::parse(&file).unwrap().plain_sizes);
    let (after, _) = edit_and_undo(
        &file,
        &Field::Standard,
        &values(&[&"long genre ".repeat(12)]),
    );
    let layout = Layout::parse(&after).unwrap();
    assert_eq!(layout.frames.len(), 2);
    assert!(layout.plain_sizes);
}

#[test]
fn a_v23_extended_header_states_the_new_padding() {
    let mut body = vec![0, 0, 0, 6, 0, 0, 0, 0, 0, 60];
    body.extend(frame(3, b"TIT2", 0, b"\x00One"));
    let file = tag(3, 0x40, &body, 60);
    let (after, _) = edit_and_undo(&file, &Field::Standard, &values(&["Rock"]));
    let layout = Layout::parse(&after).unwrap();
    assert_eq!(layout.padding(), 60 - 15);
    assert_eq!(after[16..20], 45u32.to_be_bytes());
}

#[test]
fn frames_of_others_are_copied_whatever_their_flags() {
    let body = [
        frame(3, b"APIC", 0x0080, b"\x00\x00\x01\x00not zlib at all"),
        frame(3, b"GEOB", 0x0040, b"\x01encrypted"),
        frame(3, b"XYZW", 0, b"unknown"),
        frame(3, b"TCON", 0, b"\x00Jazz"),
    ]
    .concat();
    let file = tag(3, 0, &body, 20);
    let (after, _) = edit_and_undo(&file, &Field::Standard, &values(&["Rock"]));
    assert_eq!(other_frames(&after, b"TCON"), other_frames(&file, b"TCON"));
}

#[test]
fn a_compressed_genre_frame_is_read() {
    use std::io::Write;
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    zlib.write_all(b"\x00Trip-Hop").unwrap();
    let mut content = 9u32.to_be_bytes().to_vec();
    content.extend(zlib.finish().unwrap());
    let file = tag(3, 0, &frame(3, b"TCON", 0x0080, &content), 10);
    assert_eq!(read_tag(&file, &Field::Standard).unwrap(), ["Trip-Hop"]);
    edit_and_undo(&file, &Field::Standard, &values(&["Rock"]));
    let encrypted = tag(3, 0, &frame(3, b"TCON", 0x0040, b"\x01xxxx"), 10);
    let error = edit_tag(&encrypted, 0, 10, &Field::Standard, &values(&["Rock"])).unwrap_err();
    assert!(error.to_string().contains("encrypted"), "{error}");
}

#[test]
fn a_frame_claiming_more_than_the_tag_holds_is_left_as_it_is() {
    // An APIC whose size runs 500 bytes past the tag's end.
    let mut cut = frame(3, b"APIC", 0, &[9; 40]);
    cut[4..8].copy_from_slice(&540u32.to_be_bytes());
    let body = [frame(3, b"TIT2", 0, b"\x00One"), cut.clone()].concat();
    let file = [tag(3, 0, &body, 0), audio()].concat();
    let (after, _) = edit_and_undo(&file, &Field::Standard, &values(&["Rock"]));
    let layout = Layout::parse(&after).unwrap();
    assert!(layout.truncated);
    let ids: Vec<_> = layout.frames.iter().map(|f| f.id.clone()).collect();
    assert_eq!(
        ids,
        [&b"TIT2"[..], b"TCON", b"APIC"],
        "added before the cut frame"
    );
    assert_eq!(layout.body[layout.frames[2].range()], cut[..]);
    assert_eq!(&after[layout.len..], &audio()[..]);
    // The same frame holding the genre: refused with the reason.
    let mut cut_genre = frame(3, b"TCON", 0, b"\x00Jazz");
    cut_genre[7] = 99;
    let file = tag(3, 0, &cut_genre, 0);
    let error = edit_tag(&file, 0, 10, &Field::Standard, &values(&["Rock"])).unwrap_err();
    assert!(error.to_string().contains("claims more bytes"), "{error}");
}

#[test]
fn empty_genre_frames_read_as_none_and_are_replaced() {
    let body = [
        frame(3, b"TCON", 0, b""),
        frame(3, b"TIT2", 0, b"\x00One"),
        frame(3, b"TCON", 0, b"\x00"),
    ]
    .concat();
    let file = tag(3, 0, &body, 30);
    assert_eq!(read_tag(&file, &Field::Standard).unwrap(), Values::new());
    let (after, _) = edit_and_undo(&file, &Field::Standard, &values(&["Rock"]));
    let layout = Layout::parse(&after).unwrap();
    let ids: Vec<_> = layout.frames.iter().map(|f| f.id.clone()).collect();
    assert_eq!(
        ids,
        [&b"TCON"[..], b"TIT2"],
        "one genre frame, in the first one's place"
    );
}

#[test]
fn tags_covergenre_cannot_edit_are_refused_with_the_reason() {
    let cases: [(Vec<u8>, &str); 5] = [
        (tag(5, 0, b"", 10), "ID3v2.5"),
        (tag(3, 0x01, b"", 10), "unknown ID3v2 header flags"),
        (tag(2, 0x40, b"", 10), "compressed"),
        (tag(3, 0, b"", 10)[..12].to_vec(), "only 12 bytes"),
        (
            tag(4, 0x40, &[0, 0, 0, 6, 1, 0x20, 0, 0, 0, 0, 0], 10),
            "CRC",
        ),
    ];
    for (bytes, reason) in cases {
        let error = edit_tag(&bytes, 0, 100, &Field::Standard, &values(&["Rock"])).unwrap_err();
        assert!(error.to_string().contains(reason), "{reason}: {error}");
    }
}

/// Any bytes at all: an error or a checked edit, never a panic.
#[test]
fn damaged_tags_never_panic() {
    let body = [
        frame(4, b"TIT2", 0, b"\x03One"),
        frame(4, b"TCON", 0x0002, b"\x01\xff\xfeJ\x00"),
        frame(4, b"TXXX", 0, b"\x03A\x00B"),
    ]
    .concat();
    let good = [tag(4, 0x80, &body, 12), audio()].concat();
    let mut rng = Rng::new(0x2545_f491_4f6c_dd1d);
    for round in 0..3000 {
        let mut bytes = good.clone();
        rng.corrupt(&mut bytes[..80], 0, 1 + round % 4);
        bytes.truncate(10 + (rng.next() >> 40) as usize % 90);
        for version in [2, 3, 4] {
            bytes[3] = version;
            for field in [Field::Standard, custom("A")] {
                let _ = read_tag(&bytes, &field);
                let _ = edit_tag(&bytes, 0, 500, &field, &values(&["Rock"]));
                let _ = edit_tag(&bytes, 0, 500, &field, &[]);
            }
        }
    }
}
