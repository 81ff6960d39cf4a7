use super::*;
use crate::audio::edit::testing::{comment_list as comments, undoable, values, Rng};
use std::fs::File;

fn block(kind: u8, last: bool, content: &[u8]) -> Vec<u8> {
    let mut b = vec![kind | if last { LAST } else { 0 }];
    b.extend(be24(content.len()));
    b.extend_from_slice(content);
    b
}

fn picture(data: &[u8]) -> Vec<u8> {
    let mut p = 3u32.to_be_bytes().to_vec();
    p.extend_from_slice(&9u32.to_be_bytes());
    p.extend_from_slice(b"image/png");
    p.extend_from_slice(&0u32.to_be_bytes());
    p.extend_from_slice(&[0; 16]);
    p.extend_from_slice(&(data.len() as u32).to_be_bytes());
    p.extend_from_slice(data);
    p
}

const AUDIO: &[u8] = b"\xff\xf8\x69\x08 audio frames follow";

fn flac(blocks: &[Vec<u8>]) -> Vec<u8> {
    [b"fLaC".to_vec(), blocks.concat(), AUDIO.to_vec()].concat()
}

fn streaminfo(last: bool) -> Vec<u8> {
    block(STREAMINFO, last, &[0x11; 34])
}

fn parse(file: &[u8]) -> Metadata {
    Metadata::parse(&mut Cursor::new(file)).unwrap()
}

/// Edits `file` in a temporary file, checks the inverse gives it back; returns the result.
fn edit_and_undo(file: &[u8], field: &Field, new: &[String]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.flac");
    std::fs::write(&path, file).unwrap();
    let mut opened = File::open(&path).unwrap();
    let splices = edit(&mut opened, file.len() as u64, field, new).unwrap();
    let after = undoable(file, &splices);
    std::fs::write(&path, &after).unwrap();
    assert_eq!(read(&mut File::open(&path).unwrap(), field).unwrap(), new);
    assert!(after.ends_with(AUDIO), "the audio is whole");
    after
}

fn texts(file: &[u8]) -> Vec<String> {
    let metadata = parse(file);
    let comments = metadata.comments().unwrap().unwrap();
    comments
        .entries
        .iter()
        .map(|(_, text)| String::from_utf8_lossy(&metadata.bytes[text.clone()]).into_owned())
        .collect()
}

fn kinds(file: &[u8]) -> Vec<(u8, bool)> {
    parse(file)
        .blocks
        .iter()
        .map(|b| (b.kind, b.last))
        .collect()
}

#[test]
fn the_genre_is_replaced_in_its_place_and_the_padding_absorbs_it() {
    let list = [
        "TITLE=Silence",
        "ARTIST=piman",
        "genre=Jazz",
        "ARTIST=jzig",
        "TRACKNUMBER=02/10",
        "GENRE=Blues",
    ];
    let file = flac(&[
        streaminfo(false),
        block(VORBIS_COMMENT, false, &comments("reference libFLAC", &list)),
        block(PICTURE, false, &picture(b"png bytes")),
        block(PADDING, true, &[0; 200]),
    ]);
    let after = edit_and_undo(&file, &Field::Standard, &values(&["Heavy Metal", "Rock"]));
    assert_eq!(after.len(), file.len(), "the audio does not move");
    assert_eq!(
        texts(&after),
        [
            "TITLE=Silence",
            "ARTIST=piman",
            "genre=Heavy Metal",
            "genre=Rock",
            "ARTIST=jzig",
            "TRACKNUMBER=02/10"
        ]
    );
    let (before, edited) = (parse(&file), parse(&after));
    assert_eq!(
        before.bytes[before.blocks[2].content.clone()],
        edited.bytes[edited.blocks[2].content.clone()]
    );
    assert_eq!(kinds(&after), kinds(&file));
}

#[test]
fn a_genre_is_added_at_the_end_and_removed_again() {
    let file = flac(&[
        streaminfo(false),
        block(PADDING, false, &[0; 100]),
        block(VORBIS_COMMENT, true, &comments("v", &["TITLE=One"])),
    ]);
    let after = edit_and_undo(&file, &Field::Standard, &values(&["Rock"]));
    assert_eq!(after.len(), file.len());
    assert_eq!(texts(&after), ["TITLE=One", "GENRE=Rock"]);
    let removed = edit_and_undo(&after, &Field::Standard, &[]);
    assert_eq!(removed, file);
}

#[test]
fn a_file_without_comments_gets_a_block_after_streaminfo() {
    // Room in the padding: the file keeps its length.
    let file = flac(&[streaminfo(false), block(PADDING, true, &[0; 4140])]);
    let after = edit_and_undo(&file, &Field::Standard, &values(&["Rock"]));
    assert_eq!(after.len(), file.len());
    assert_eq!(
        kinds(&after),
        [
            (STREAMINFO, false),
            (VORBIS_COMMENT, false),
            (PADDING, true)
        ]
    );
    // STREAMINFO alone: a comment block and fresh padding, the last flag moved.
    let bare = flac(&[streaminfo(true)]);
    let after = edit_and_undo(&bare, &Field::Standard, &values(&["Rock"]));
    assert_eq!(
        kinds(&after),
        [
            (STREAMINFO, false),
            (VORBIS_COMMENT, false),
            (PADDING, true)
        ]
    );
    assert_eq!(parse(&after).blocks[2].content.len(), 1024);
    assert_eq!(texts(&after), ["GENRE=Rock"]);
    assert!(
        edit_and_undo(&bare, &Field::Standard, &[]) == bare,
        "nothing to remove"
    );
}

#[test]
fn a_last_comment_block_without_padding_hands_its_flag_to_new_padding() {
    let file = flac(&[
        streaminfo(false),
        block(VORBIS_COMMENT, true, &comments("v", &["GENRE=Jazz"])),
    ]);
    let after = edit_and_undo(&file, &Field::Standard, &values(&["Progressive Rock"]));
    assert_eq!(
        kinds(&after),
        [
            (STREAMINFO, false),
            (VORBIS_COMMENT, false),
            (PADDING, true)
        ]
    );
    assert_eq!(texts(&after), ["GENRE=Progressive Rock"]);
    // Removing it leaves the room it took as padding: the audio stays where it was.
    let removed = edit_and_undo(&file, &Field::Standard, &[]);
    assert_eq!(removed.len(), file.len());
    assert_eq!(
        kinds(&removed),
        [
            (STREAMINFO, false),
            (VORBIS_COMMENT, false),
            (PADDING, true)
        ]
    );
}

#[test]
fn a_field_of_our_own_leaves_the_genre_alone() {
    let file = flac(&[
        streaminfo(false),
        block(VORBIS_COMMENT, false, &comments("v", &["GENRE=Jazz"])),
        block(PADDING, true, &[0; 64]),
    ]);
    let field = Field::Custom("COVERGENRE".into());
    let after = edit_and_undo(&file, &field, &values(&["Rock"]));
    assert_eq!(texts(&after), ["GENRE=Jazz", "COVERGENRE=Rock"]);
}

#[test]
fn block_sizes_taggers_got_wrong_are_read_from_the_content() {
    // A comment block stating 48 bytes but holding more (mutagen issue 52), and a picture
    // stating 0 (issue 106): the comment block gets its true size, the picture stays wrong.
    let content = comments(
        "reference libFLAC 1.1.2",
        &[
            "TITLE=Mother's Daughter",
            "GENRE=Folk-Rock",
            "TRACKNUMBER=1",
        ],
    );
    let mut wrong_comments = block(VORBIS_COMMENT, false, &content);
    wrong_comments[1..4].copy_from_slice(&be24(48));
    let mut wrong_picture = block(PICTURE, false, &picture(b"data"));
    wrong_picture[1..4].copy_from_slice(&be24(0));
    let file = flac(&[
        streaminfo(false),
        wrong_comments,
        wrong_picture.clone(),
        block(PADDING, true, &[0; 50]),
    ]);
    let after = edit_and_undo(&file, &Field::Standard, &values(&["Folk"]));
    let metadata = parse(&after);
    assert_eq!(metadata.blocks[1].stated, metadata.blocks[1].content.len());
    let picture_at = metadata.blocks[2].start;
    assert_eq!(
        metadata.bytes[picture_at..picture_at + wrong_picture.len()],
        wrong_picture[..]
    );
}

#[test]
fn broken_metadata_is_refused_with_the_reason() {
    let mut huge_count = comments("v", &["GENRE=Jazz"]);
    huge_count[5..9].copy_from_slice(&u32::MAX.to_le_bytes());
    let cases = [
        (b"RIFF....".to_vec(), "not a FLAC file"),
        (
            flac(&[block(VORBIS_COMMENT, true, &comments("v", &[]))]),
            "not STREAMINFO",
        ),
        (
            flac(&[streaminfo(false), block(VORBIS_COMMENT, true, &huge_count)]),
            "16 MB",
        ),
        (b"fLaC\x00\x00\x00\x22\x11".to_vec(), "cut short"),
        (
            flac(&[block(STREAMINFO, true, &[0; 18])]),
            "18 bytes long, not 34",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (bytes, reason) in cases {
        let path = dir.path().join("bad.flac");
        std::fs::write(&path, &bytes).unwrap();
        let error = edit(
            &mut File::open(&path).unwrap(),
            bytes.len() as u64,
            &Field::Standard,
            &values(&["Rock"]),
        )
        .unwrap_err();
        assert!(format!("{error:#}").contains(reason), "{reason}: {error:#}");
    }
}

#[test]
fn damaged_metadata_never_panics() {
    let good = flac(&[
        streaminfo(false),
        block(
            VORBIS_COMMENT,
            false,
            &comments("v", &["GENRE=Jazz", "TITLE=x"]),
        ),
        block(PICTURE, false, &picture(b"p")),
        block(PADDING, true, &[0; 20]),
    ]);
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    for round in 0..1500 {
        let mut bytes = good.clone();
        rng.corrupt(&mut bytes, 4, 1 + round % 3);
        bytes.truncate(bytes.len() - (rng.next() >> 48) as usize % 40);
        let len = bytes.len() as u64;
        let mut source = Cursor::new(bytes);
        let _ = read(&mut source, &Field::Standard);
        let _ = edit(&mut source, len, &Field::Standard, &values(&["Rock"]));
        let _ = edit(&mut source, len, &Field::Standard, &[]);
    }
}
