//! Tag editing: a file of any bytes gets a genre set and a field removed, as a tagging run does
//! (`audio::fields::edit`, the ID3v2, FLAC, Ogg and MP4 splice editors). Either the edit is refused, or
//! its splices, applied, read back as asked, and their inverse gives the file back byte for
//! byte (what `--undo` relies on).
#![no_main]

#[path = "../src/scratch.rs"]
mod scratch;

use covergenre::audio::edit::{apply, inverse};
use covergenre::audio::fields::{self, holds, Field};
use covergenre::audio::format::Format;
use libfuzzer_sys::fuzz_target;
use std::io::Cursor;

/// `bytes` with `splices` applied.
fn applied(bytes: &[u8], splices: &[covergenre::audio::edit::Splice]) -> Vec<u8> {
    let mut out = Vec::new();
    apply(&mut Cursor::new(bytes), bytes.len() as u64, splices, &mut out).expect("checked splices apply");
    out
}

fuzz_target!(|bytes: &[u8]| {
    let path = scratch::write("track", bytes);
    let _ = fields::read(&path, &Field::Standard);
    let format = Format::of(&mut Cursor::new(bytes)).unwrap();
    if !matches!(format, Format::Mpeg | Format::Flac | Format::Ogg | Format::Mp4) {
        return; // formats not tagged: refused
    }
    let edits = [
        (Field::Standard, vec!["Rock".to_string(), "Ска".to_string()]),
        (Field::Custom("MOOD".into()), Vec::new()),
    ];
    for (field, values) in edits {
        let mut file = std::fs::File::open(&path).unwrap();
        let Ok(splices) = fields::edit(&mut file, &field, &values) else {
            continue;
        };
        let edited = applied(bytes, &splices);
        let undo = inverse(&mut Cursor::new(bytes), &splices).unwrap();
        assert!(applied(&edited, &undo) == bytes, "the inverse gives the file back");
        let edited_path = scratch::write("edited", &edited);
        let read = fields::read(&edited_path, &field).expect("an edited file reads back");
        assert!(holds(&read, &values), "{read:?} after writing {values:?}");
    }
});
