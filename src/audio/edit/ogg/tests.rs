use super::pages::{LAST, NO_GRANULE};
use super::*;
use crate::audio::edit::testing::{comment_list as list, edited, undoable, values, Rng};

const SERIAL: u32 = 0x5eed;

/// The segments of a packet of `len` bytes.
fn lacing_of(len: usize) -> Vec<u8> {
    let mut lacing = vec![255; len / 255];
    lacing.push((len % 255) as u8);
    lacing
}

fn page_bytes(
    flags: u8,
    granule: u64,
    serial: u32,
    sequence: u32,
    lacing: &[u8],
    body: &[u8],
) -> Vec<u8> {
    let page = Page {
        offset: 0,
        flags,
        granule,
        serial,
        sequence,
        crc: 0,
        lacing: lacing.to_vec(),
    };
    page.bytes(body)
}

/// `packets` in pages of at most `per_page` segments from sequence number `sequence`, a page
/// ending where the packets end; the bytes and the number of pages.
fn paginate(packets: &[Vec<u8>], per_page: usize, sequence: u32) -> (Vec<u8>, u32) {
    let lacing: Vec<u8> = packets.iter().flat_map(|p| lacing_of(p.len())).collect();
    let body = packets.concat();
    let (mut out, mut pages, mut byte, mut open) = (Vec::new(), 0, 0, false);
    for chunk in lacing.chunks(per_page) {
        let len: usize = chunk.iter().map(|&l| usize::from(l)).sum();
        let ends = chunk.iter().any(|&l| l < 255);
        let granule = if ends { 0 } else { NO_GRANULE };
        let flags = if open { CONTINUED } else { 0 };
        out.extend(page_bytes(
            flags,
            granule,
            SERIAL,
            sequence + pages,
            chunk,
            &body[byte..byte + len],
        ));
        open = *chunk.last().unwrap() == 255;
        byte += len;
        pages += 1;
    }
    (out, pages)
}

fn vorbis_comment(comments: &[&str], padding: usize) -> Vec<u8> {
    let mut packet = [
        b"\x03vorbis".as_slice(),
        &list("Xiph.Org libVorbis", comments),
        &[1],
    ]
    .concat();
    packet.resize(packet.len() + padding, 0);
    packet
}

/// Audio pages after the headers: `count` pages of two packets, the last one ending the
/// stream.
fn audio(sequence: u32, count: u32) -> Vec<u8> {
    (0..count)
        .flat_map(|i| {
            let flags = if i + 1 == count { LAST } else { 0 };
            let body: Vec<u8> = (0..150).map(|b| (b * 7 + i) as u8).collect();
            page_bytes(
                flags,
                1000 * u64::from(i + 1),
                SERIAL,
                sequence + i,
                &[100, 50],
                &body,
            )
        })
        .collect()
}

/// An Ogg file of the first packet `id`, then `headers` in pages of `per_page` segments, then
/// audio.
fn ogg(id: &[u8], headers: &[Vec<u8>], per_page: usize) -> Vec<u8> {
    let mut file = page_bytes(FIRST, 0, SERIAL, 0, &lacing_of(id.len()), id);
    let (pages, count) = paginate(headers, per_page, 1);
    file.extend(pages);
    file.extend(audio(1 + count, 3));
    file
}

fn vorbis_id() -> Vec<u8> {
    [b"\x01vorbis".as_slice(), &[0x11; 23]].concat()
}

fn setup(len: usize) -> Vec<u8> {
    let mut setup = b"\x05vorbis".to_vec();
    setup.resize(len, 0x42);
    setup
}

fn vorbis(comments: &[&str], padding: usize, per_page: usize) -> Vec<u8> {
    ogg(
        &vorbis_id(),
        &[vorbis_comment(comments, padding), setup(3000)],
        per_page,
    )
}

fn all_pages(file: &[u8]) -> Vec<(Page, Vec<u8>)> {
    let mut cursor = Cursor::new(file);
    let mut pages = Vec::new();
    let mut at = 0;
    while let Some(page) = Page::read(&mut cursor, at, file.len() as u64).unwrap() {
        at = page.end();
        let body = page.body(&mut cursor).unwrap();
        pages.push((page, body));
    }
    pages
}

/// The comments of the edited stream, as text.
fn texts(file: &[u8]) -> Vec<String> {
    let headers = Headers::read(&mut Cursor::new(file), file.len() as u64).unwrap();
    let packet = headers.comment_packet();
    let comment = headers.codec.parse(packet).unwrap();
    comment
        .comments
        .entries
        .iter()
        .map(|(_, text)| String::from_utf8_lossy(&packet[text.clone()]).into_owned())
        .collect()
}

fn splices_of(file: &[u8], field: &Field, new: &[String]) -> Result<Vec<Splice>> {
    edit(&mut Cursor::new(file), file.len() as u64, field, new)
}

/// Edits `file`, checks the inverse gives it back, the values read back, every page's
/// checksum holds and the pages are numbered in order; returns the edited file.
fn edit_and_undo(file: &[u8], field: &Field, new: &[String]) -> Vec<u8> {
    let splices = splices_of(file, field, new).unwrap();
    let after = undoable(file, &splices);
    let len = after.len() as u64;
    assert_eq!(read(&mut Cursor::new(&after), len, field).unwrap(), new);
    let mut next = BTreeMap::new();
    for (page, body) in all_pages(&after) {
        assert!(page.checksum_holds(&body), "page at {}", page.offset);
        let expected = next.entry(page.serial).or_insert(page.sequence);
        assert_eq!(page.sequence, *expected, "page at {}", page.offset);
        *expected += 1;
    }
    after
}

use std::collections::BTreeMap;

/// The pages after the headers (granule, flags, body), which an edit never changes.
fn audio_pages(file: &[u8]) -> Vec<(u64, u8, Vec<u8>)> {
    let headers = Headers::read(&mut Cursor::new(file), file.len() as u64).unwrap();
    all_pages(file)
        .into_iter()
        .filter(|(p, _)| p.offset >= headers.end())
        .map(|(p, body)| (p.granule, p.flags, body))
        .collect()
}

#[test]
fn the_genre_is_replaced_in_its_place_and_the_padding_absorbs_it() {
    let list = [
        "TITLE=Silence",
        "ARTIST=piman",
        "genre=Jazz",
        "TRACKNUMBER=02/10",
        "GENRE=Blues",
    ];
    let file = vorbis(&list, 200, 255);
    let after = edit_and_undo(&file, &Field::Standard, &values(&["Heavy Metal", "Rock"]));
    assert_eq!(after.len(), file.len(), "the packet keeps its size");
    assert_eq!(
        texts(&after),
        [
            "TITLE=Silence",
            "ARTIST=piman",
            "genre=Heavy Metal",
            "genre=Rock",
            "TRACKNUMBER=02/10"
        ]
    );
    let headers = Headers::read(&mut Cursor::new(&file), file.len() as u64).unwrap();
    let comment_page = &headers.pages[0];
    for splice in splices_of(&file, &Field::Standard, &values(&["Rock"])).unwrap() {
        assert!(splice.start >= comment_page.offset && splice.end <= comment_page.end());
    }
    assert_eq!(
        after[headers.end() as usize..],
        file[headers.end() as usize..]
    );
    // Removing the genre gives the room back to the padding.
    let removed = edit_and_undo(&after, &Field::Standard, &[]);
    assert_eq!(removed.len(), file.len());
    assert_eq!(
        texts(&removed),
        ["TITLE=Silence", "ARTIST=piman", "TRACKNUMBER=02/10"]
    );
}

#[test]
fn without_padding_the_packet_grows_with_fresh_padding_in_as_many_pages() {
    let file = vorbis(&["TITLE=One"], 0, 255);
    let after = edit_and_undo(&file, &Field::Standard, &values(&["Rock"]));
    assert_eq!(texts(&after), ["TITLE=One", "GENRE=Rock"]);
    let packet = vorbis_comment(&["TITLE=One"], 0).len();
    let grown = packet + 14 + 1024 + (file.len() - packet) / 1000;
    let more_segments = lacing_of(grown).len() - lacing_of(packet).len();
    assert_eq!(after.len(), file.len() + grown - packet + more_segments);
    assert_eq!(all_pages(&after).len(), all_pages(&file).len());
    assert_eq!(audio_pages(&after), audio_pages(&file));
    let headers = Headers::read(&mut Cursor::new(&after), after.len() as u64).unwrap();
    assert_eq!(
        after[headers.end() as usize..],
        file[file.len() - (after.len() - headers.end() as usize)..]
    );
}

#[test]
fn a_comment_over_full_pages_takes_room_in_the_setup_s_last_page() {
    // As libogg lays big headers out: full pages, the setup header going on past the
    // comment's last page.
    let picture = format!("METADATA_BLOCK_PICTURE={}", "A".repeat(70_000));
    let comment = vorbis_comment(&["TITLE=One", &picture], 0);
    let file = ogg(&vorbis_id(), &[comment, setup(70_000)], 255);
    let pages = all_pages(&file);
    assert!(pages[1].0.lacing.len() == 255 && pages[2].0.lacing.len() == 255);
    let after = edit_and_undo(&file, &Field::Standard, &values(&["Rock"]));
    assert_eq!(all_pages(&after).len(), pages.len(), "no page more");
    assert_eq!(audio_pages(&after), audio_pages(&file));
    assert_eq!(texts(&after), ["TITLE=One", picture.as_str(), "GENRE=Rock"]);
}

#[test]
fn when_every_header_page_is_full_the_pages_after_are_renumbered() {
    // 101 + 409 segments: two full pages, the last one ending the setup header.
    let comment = vorbis_comment(
        &["TITLE=One"],
        255 * 100 + 4 - vorbis_comment(&["TITLE=One"], 0).len(),
    );
    assert_eq!(lacing_of(comment.len()).len(), 101);
    let file = ogg(&vorbis_id(), &[comment, setup(255 * 408 + 7)], 255);
    let before = all_pages(&file);
    assert_eq!(before.len(), 1 + 2 + 3);
    // The padding takes "GENRE=Rock": the pages stay.
    let padded = edit_and_undo(&file, &Field::Standard, &values(&["Rock"]));
    assert_eq!(all_pages(&padded).len(), before.len());
    // Without padding a page more; the audio pages keep their bytes but for their numbers.
    // A comment of 250 bytes: 14 more need a segment more.
    let title = format!(
        "TITLE={}",
        "t".repeat(250 - vorbis_comment(&["TITLE="], 0).len())
    );
    let comment = vorbis_comment(&[&title], 0);
    assert_eq!(comment.len(), 250);
    let bare = ogg(&vorbis_id(), &[comment, setup(255 * 508 + 7)], 255);
    let before = all_pages(&bare);
    let after = edit_and_undo(&bare, &Field::Standard, &values(&["Rock"]));
    let pages = all_pages(&after);
    assert_eq!(pages.len(), before.len() + 1);
    assert_eq!(audio_pages(&after), audio_pages(&bare));
    let last = pages.last().unwrap();
    assert_eq!(last.0.sequence, before.last().unwrap().0.sequence + 1);
    assert_eq!(texts(&after), [title.as_str(), "GENRE=Rock"]);
}

#[test]
fn opus_data_after_the_comments_is_kept_and_zero_padding_absorbs() {
    let id = b"OpusHead\x01\x02\x38\x01\x80\xbb\0\0\0\0\0".to_vec();
    let kept = [
        b"OpusTags".as_slice(),
        &list("libopus", &["TITLE=x", "GENRE=Jazz"]),
        &[0x01, 0xAA, 0xBB],
    ]
    .concat();
    let file = ogg(&id, &[kept], 255);
    let after = edit_and_undo(&file, &Field::Standard, &values(&["Progressive Rock"]));
    assert_eq!(
        after.len(),
        file.len() + "Progressive Rock".len() - "Jazz".len()
    );
    let headers = Headers::read(&mut Cursor::new(&after), after.len() as u64).unwrap();
    assert!(headers.comment_packet().ends_with(&[0x01, 0xAA, 0xBB]));

    let padded = [
        b"OpusTags".as_slice(),
        &list("libopus", &["GENRE=Jazz"]),
        &[0; 64],
    ]
    .concat();
    let file = ogg(&id, &[padded], 255);
    let after = edit_and_undo(&file, &Field::Standard, &[]);
    assert_eq!(after.len(), file.len());
    assert_eq!(texts(&after), Vec::<String>::new());
}

#[test]
fn speex_and_ogg_flac_comments_are_edited_too() {
    let speex_id = [b"Speex   1.2".as_slice(), &[0; 69]].concat();
    let file = ogg(&speex_id, &[list("Encoded with Speex", &["TITLE=s"])], 255);
    let after = edit_and_undo(&file, &Field::Custom("MOOD".into()), &values(&["calm"]));
    assert_eq!(texts(&after), ["TITLE=s", "MOOD=calm"]);

    let flac_id = [
        b"\x7fFLAC\x01\x00\x00\x02fLaC\x00\x00\x00\x22".as_slice(),
        &[0x11; 34],
    ]
    .concat();
    let comments = list("reference libFLAC", &["GENRE=Jazz"]);
    let block = [&[0x84u8, 0, 0, comments.len() as u8][..], &comments].concat();
    let file = ogg(&flac_id, &[block], 255);
    let after = edit_and_undo(&file, &Field::Standard, &values(&["Blues"]));
    let headers = Headers::read(&mut Cursor::new(&after), after.len() as u64).unwrap();
    let packet = headers.comment_packet();
    assert_eq!(packet[..4], [0x84, 0, 0, (comments.len() + 1) as u8]);
    assert_eq!(packet.len(), 4 + comments.len() + 1);
}

#[test]
fn pages_of_other_streams_between_the_headers_stay_as_they_are() {
    let other = page_bytes(FIRST | LAST, 0, 100, 0, &[10], b"a skeleton");
    let file = vorbis(&["TITLE=One"], 0, 255);
    let first = all_pages(&file)[0].0.end() as usize;
    let multiplexed = [&file[..first], &other, &file[first..]].concat();
    let after = edit_and_undo(&multiplexed, &Field::Standard, &values(&["Rock"]));
    assert_eq!(after[first..first + other.len()], other);
}

#[test]
fn damaged_headers_are_refused_with_the_reason() {
    let file = vorbis(&["GENRE=Jazz"], 0, 255);
    let comment_page = all_pages(&file)[1].0.clone();
    let rock = values(&["Rock"]);
    let refused = |bytes: &[u8], reason: &str| {
        let error = splices_of(bytes, &Field::Standard, &rock).unwrap_err();
        assert!(format!("{error:#}").contains(reason), "{reason}: {error:#}");
    };
    let mut bad_crc = file.clone();
    bad_crc[comment_page.offset as usize + 60] ^= 1;
    refused(&bad_crc, "wrong checksum");
    refused(&file[..comment_page.end() as usize - 1], "cut short");
    let mut no_framing = vorbis_comment(&["GENRE=Jazz"], 0);
    *no_framing.last_mut().unwrap() = 0;
    refused(
        &ogg(&vorbis_id(), &[no_framing, setup(100)], 255),
        "no framing bit",
    );
    let together = ogg(
        &vorbis_id(),
        &[[vorbis_id(), vorbis_comment(&[], 0)].concat()],
        255,
    );
    refused(&together, "not a comment header");
    let theora = ogg(b"\x80theora\x03\x02", &[b"\x81theora".to_vec()], 255);
    refused(&theora, "no Vorbis, Opus, Speex or FLAC stream");
    let mut long = vorbis_comment(&["GENRE=Jazz"], 0);
    long[7] = 0xff;
    refused(
        &ogg(&vorbis_id(), &[long, setup(100)], 255),
        "comment header is damaged",
    );
}

#[test]
fn damaged_files_never_panic() {
    let good = vorbis(&["GENRE=Jazz", "TITLE=x"], 30, 4);
    let mut rng = Rng::new(0x51ed_270b_27b0_c5e1);
    for round in 0..1500 {
        let mut bytes = good.clone();
        rng.corrupt(&mut bytes, 0, 1 + round % 3);
        bytes.truncate(bytes.len() - (rng.next() >> 48) as usize % 400);
        let len = bytes.len() as u64;
        let mut source = Cursor::new(&bytes);
        let _ = read(&mut source, len, &Field::Standard);
        for new in [values(&["Rock"]), Vec::new()] {
            if let Ok(splices) = edit(&mut source, len, &Field::Standard, &new) {
                let after = edited(&bytes, &splices);
                assert_eq!(
                    read(
                        &mut Cursor::new(&after),
                        after.len() as u64,
                        &Field::Standard
                    )
                    .unwrap(),
                    new
                );
            }
        }
    }
}
