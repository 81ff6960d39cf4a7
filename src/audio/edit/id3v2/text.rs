//! The text inside ID3v2 text frames (`TCON`, `TXXX`): its four encodings, values separated by
//! a terminator, and the text we write.
//!
//! Every version separates the values of one frame with a terminator (mutagen and beets write
//! them so in v2.4; some taggers in v2.3 too); a v2.3 or v2.2 frame we write holds the values
//! joined with [`ID3V23_JOIN`], which is what those versions' readers expect.

use super::Version;
use crate::audio::values::{Values, ID3V23_JOIN};

const LATIN1: u8 = 0;
const UTF16: u8 = 1;
const UTF16BE: u8 = 2;
const UTF8: u8 = 3;

/// The values of a text frame's content (its encoding byte first); `None` when the encoding is
/// unknown. A terminator after the last value ends it rather than starting an empty value.
pub(super) fn values_of(content: &[u8]) -> Option<Values> {
    let (&encoding, text) = content.split_first()?;
    let mut values = split(encoding, text)?;
    if values.last().is_some_and(String::is_empty) {
        values.pop();
    }
    Some(values)
}

/// A `TXXX` frame's description and values; `None` when the encoding is unknown.
pub(super) fn user_text_of(content: &[u8]) -> Option<(String, Values)> {
    let (&encoding, text) = content.split_first()?;
    let mut parts = split(encoding, text)?.into_iter();
    let description = parts.next().unwrap_or_default();
    let mut values: Values = parts.collect();
    if values.last().is_some_and(String::is_empty) {
        values.pop();
    }
    Some((description, values))
}

/// Splits text of `encoding` at its terminators and decodes each piece.
fn split(encoding: u8, text: &[u8]) -> Option<Vec<String>> {
    match encoding {
        LATIN1 => Some(text.split(|&b| b == 0).map(latin1).collect()),
        UTF8 => Some(
            text.split(|&b| b == 0)
                .map(|piece| String::from_utf8_lossy(piece).into_owned())
                .collect(),
        ),
        UTF16 | UTF16BE => Some(split_utf16(text, encoding == UTF16BE)),
        _ => None,
    }
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// UTF-16 pieces split at aligned `00 00`; each piece may open with its own byte-order mark
/// (without one: the order of the piece before, big-endian for `UTF16BE`, else little-endian).
fn split_utf16(text: &[u8], big_endian: bool) -> Vec<String> {
    let units: Vec<[u8; 2]> = text.chunks_exact(2).map(|c| [c[0], c[1]]).collect();
    let mut big = big_endian;
    units
        .split(|unit| *unit == [0, 0])
        .map(|piece| {
            let mut piece = piece;
            match piece.first() {
                Some([0xFE, 0xFF]) => (big, piece) = (true, &piece[1..]),
                Some([0xFF, 0xFE]) => (big, piece) = (false, &piece[1..]),
                _ => {}
            }
            let code_units = piece.iter().map(|&u| {
                if big {
                    u16::from_be_bytes(u)
                } else {
                    u16::from_le_bytes(u)
                }
            });
            char::decode_utf16(code_units)
                .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect()
        })
        .collect()
}

/// The content of a text frame holding `values`: v2.4 UTF-8 with the values separated by
/// nulls; v2.3 and v2.2 (no UTF-8 there) the values joined with `/`, in Latin-1 when every
/// character fits, else UTF-16 with a byte-order mark.
pub(super) fn text_content(version: Version, values: &[String]) -> Vec<u8> {
    encoded(version, &[joined(version, values)])
}

/// The content of a `TXXX` frame: `description`, then the values as [`text_content`] has them.
pub(super) fn user_text_content(version: Version, description: &str, values: &[String]) -> Vec<u8> {
    encoded(version, &[description.to_string(), joined(version, values)])
}

fn joined(version: Version, values: &[String]) -> String {
    match version {
        Version::V24 => values.join("\0"),
        Version::V23 | Version::V22 => values.join(ID3V23_JOIN),
    }
}

/// An encoding byte, then `strings` in that encoding, each but the last terminated.
fn encoded(version: Version, strings: &[String]) -> Vec<u8> {
    let latin1_fits = strings
        .iter()
        .flat_map(|s| s.chars())
        .all(|c| (c as u32) < 0x100);
    let encoding = match version {
        Version::V24 => UTF8,
        _ if latin1_fits => LATIN1,
        _ => UTF16,
    };
    let mut content = vec![encoding];
    for (i, string) in strings.iter().enumerate() {
        if i > 0 {
            let terminator: &[u8] = if encoding == UTF16 { &[0, 0] } else { &[0] };
            content.extend_from_slice(terminator);
        }
        match encoding {
            UTF8 => content.extend_from_slice(string.as_bytes()),
            LATIN1 => content.extend(string.chars().map(|c| c as u8)),
            _ => {
                content.extend_from_slice(&[0xFF, 0xFE]);
                content.extend(string.encode_utf16().flat_map(u16::to_le_bytes));
            }
        }
    }
    content
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(list: &[&str]) -> Values {
        list.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn every_encoding_reads_its_values_and_a_final_terminator_ends_the_last() {
        assert_eq!(
            values_of(b"\x00Rock\0Metal"),
            Some(values(&["Rock", "Metal"]))
        );
        assert_eq!(values_of(b"\x00Caf\xe9\0"), Some(values(&["Café"])));
        assert_eq!(
            values_of(b"\x03Ca\xc3\xa9\0Jazz"),
            Some(values(&["Caé", "Jazz"]))
        );
        // UTF-16: a byte-order mark per value, or the one before it.
        let utf16 = b"\x01\xff\xfeR\0o\0\0\0\xfe\xff\0J\0z\0\0";
        assert_eq!(values_of(utf16), Some(values(&["Ro", "Jz"])));
        assert_eq!(values_of(b"\x02\0R\0o"), Some(values(&["Ro"])));
        assert_eq!(
            values_of(b"\x00"),
            Some(Values::new()),
            "empty text: no value"
        );
        assert_eq!(values_of(b"\x07Rock"), None, "unknown encoding");
        assert_eq!(values_of(b""), None);
    }

    #[test]
    fn user_text_has_a_description_then_values() {
        assert_eq!(
            user_text_of(b"\x03MOOD\0Calm\0Dark"),
            Some(("MOOD".into(), values(&["Calm", "Dark"])))
        );
        assert_eq!(
            user_text_of(b"\x00MOOD"),
            Some(("MOOD".into(), Values::new()))
        );
    }

    #[test]
    fn written_text_reads_back_in_every_version() {
        let both = values(&["Rock", "Métal"]);
        let v24 = text_content(Version::V24, &both);
        assert_eq!(v24[0], UTF8);
        assert_eq!(values_of(&v24), Some(both.clone()));
        let v23 = text_content(Version::V23, &both);
        assert_eq!(
            v23, b"\x00Rock/M\xe9tal",
            "Latin-1 where it fits, joined with /"
        );
        let wide = text_content(Version::V22, &values(&["Ро́к"]));
        assert_eq!(wide[0], UTF16);
        assert_eq!(values_of(&wide), Some(values(&["Ро́к"])));
        let user = user_text_content(Version::V23, "MOOD", &values(&["Calm", "Dark"]));
        assert_eq!(
            user_text_of(&user),
            Some(("MOOD".into(), values(&["Calm/Dark"])))
        );
    }
}
