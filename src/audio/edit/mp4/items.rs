//! The items of an `ilst` atom that hold a field, read and rendered: the genre is `©gen`
//! (text) or `gnre` (an ID3v1 genre number, as iTunes once wrote it); a field of our own is a
//! freeform item `----` of mean `com.apple.iTunes` and the field's name. Values are the
//! item's `data` atoms, as mutagen and beets write several values.

use super::atoms::render;
use crate::audio::values::{Field, Values};
use anyhow::{ensure, Result};

const GENRE: [u8; 4] = *b"\xa9gen";
const GENRE_NUMBER: [u8; 4] = *b"gnre";
const FREEFORM: [u8; 4] = *b"----";
/// The freeform namespace iTunes and every tagger use for custom fields.
const MEAN: &[u8] = b"com.apple.iTunes";
/// The `data` type of UTF-8 and UTF-16 text.
const UTF8: u32 = 1;
const UTF16: u32 = 2;

/// The atoms inside an item's content: (name, content).
fn parts(content: &[u8]) -> Result<Vec<([u8; 4], &[u8])>> {
    let mut parts = Vec::new();
    let mut at = 0;
    while at + 8 <= content.len() {
        let size = u32::from_be_bytes(content[at..at + 4].try_into().unwrap()) as usize;
        ensure!(
            size >= 8 && size <= content.len() - at,
            "an MP4 tag item holds an atom of a wrong size"
        );
        let name = content[at + 4..at + 8].try_into().unwrap();
        parts.push((name, &content[at + 8..at + size]));
        at += size;
    }
    Ok(parts)
}

/// Whether the item `name` with `content` holds `field`.
pub(super) fn holds(field: &Field, name: &[u8; 4], content: &[u8]) -> bool {
    match field {
        Field::Standard => *name == GENRE || *name == GENRE_NUMBER,
        Field::Custom(wanted) => {
            *name == FREEFORM
                && parts(content).is_ok_and(|parts| {
                    let text = |kind: &[u8; 4]| {
                        parts
                            .iter()
                            .find(|(n, _)| n == kind)
                            .and_then(|(_, c)| c.get(4..))
                    };
                    text(b"mean") == Some(MEAN) && text(b"name") == Some(wanted.as_bytes())
                })
        }
    }
}

/// The values an item holds: its text `data` atoms, or a `gnre` item's genre name.
pub(super) fn values(name: &[u8; 4], content: &[u8]) -> Result<Values> {
    let mut values = Vec::new();
    for (part, data) in parts(content)? {
        if &part != b"data" || data.len() < 8 {
            continue;
        }
        let kind = u32::from_be_bytes(data[..4].try_into().unwrap()) & 0x00ff_ffff;
        let payload = &data[8..];
        if *name == GENRE_NUMBER {
            if let [high, low] = payload {
                let number = usize::from(u16::from_be_bytes([*high, *low]));
                if let Some(genre) = number
                    .checked_sub(1)
                    .and_then(|i| lofty::id3::v1::GENRES.get(i))
                {
                    values.push(genre.to_string());
                }
            }
        } else if kind == UTF8 {
            values.push(String::from_utf8_lossy(payload).into_owned());
        } else if kind == UTF16 {
            let units: Vec<u16> = payload
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            values.push(String::from_utf16_lossy(&units));
        }
    }
    Ok(values)
}

/// The item holding `values` in `field` (none when there are no values).
pub(super) fn render_item(field: &Field, values: &[String]) -> Vec<u8> {
    if values.is_empty() {
        return Vec::new();
    }
    let mut content = Vec::new();
    let name = match field {
        Field::Standard => GENRE,
        Field::Custom(name) => {
            content.extend(render(b"mean", &[&[0; 4][..], MEAN].concat()));
            content.extend(render(b"name", &[&[0; 4][..], name.as_bytes()].concat()));
            FREEFORM
        }
    };
    for value in values {
        let data = [&UTF8.to_be_bytes()[..], &[0; 4], value.as_bytes()].concat();
        content.extend(render(b"data", &data));
    }
    render(&name, &content)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(item: &[u8]) -> &[u8] {
        &item[8..]
    }

    #[test]
    fn items_read_back_as_rendered() {
        let item = render_item(&Field::Standard, &["Rock".into(), "Pop".into()]);
        assert_eq!(&item[4..8], b"\xa9gen");
        assert!(holds(&Field::Standard, &GENRE, content(&item)));
        assert_eq!(values(&GENRE, content(&item)).unwrap(), ["Rock", "Pop"]);
        let mood = Field::Custom("MOOD".into());
        let item = render_item(&mood, &["calm".into()]);
        assert!(holds(&mood, &FREEFORM, content(&item)));
        assert!(!holds(
            &Field::Custom("mood".into()),
            &FREEFORM,
            content(&item)
        ));
        assert!(!holds(&Field::Standard, &FREEFORM, content(&item)));
        assert_eq!(values(&FREEFORM, content(&item)).unwrap(), ["calm"]);
        assert!(render_item(&Field::Standard, &[]).is_empty());
    }

    #[test]
    fn an_itunes_genre_number_and_utf16_text_read_as_names() {
        // One more than the ID3v1 number, as mutagen reads it: 17 is Rock, 18 in `gnre`.
        let number = render(b"data", &[0, 0, 0, 0, 0, 0, 0, 0, 0, 18]);
        assert_eq!(values(&GENRE_NUMBER, &number).unwrap(), ["Rock"]);
        let utf16 = render(
            b"data",
            &[0, 0, 0, 2, 0, 0, 0, 0, 0, b'J', 0, b'a', 0, b'z', 0, b'z'],
        );
        assert_eq!(values(&GENRE, &utf16).unwrap(), ["Jazz"]);
        assert!(values(&GENRE, b"\0\0\0\x28data\0\0\0\0").is_err());
    }
}
