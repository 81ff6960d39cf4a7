//! A Vorbis comment list (vendor, count, `KEY=value` entries), as FLAC's `VORBIS_COMMENT`
//! block and Ogg's comment packets hold it: read, and the field's comments edited as splices
//! of the bytes holding the list. The comments holding the field (`GENRE`, or `NAME` for
//! `--field NAME`, any case) are replaced in the first one's place, removed or added at the
//! end; every other comment keeps its bytes and its place, and the vendor string is kept.

use super::Splice;
use crate::audio::values::{Field, Values};
use anyhow::{ensure, Context, Result};
use std::ops::Range;

/// A comment list found in some bytes (offsets in those bytes).
#[derive(Debug)]
pub(super) struct Comments {
    /// Where the vendor string's length is.
    pub start: usize,
    pub count_at: usize,
    pub count: u32,
    /// Each comment: its whole entry (length and text) and where its text is.
    pub entries: Vec<(Range<usize>, Range<usize>)>,
    /// Where the last comment ends.
    pub end: usize,
}

impl Comments {
    /// Reads the list starting at `at` in `bytes`; a length running past them is an error.
    pub fn parse(bytes: &[u8], at: usize) -> Result<Self> {
        let u32_le = |at: usize| -> Result<usize> {
            let four = bytes
                .get(at..at.checked_add(4).context("a comment length overflows")?)
                .context("the comment list is cut short")?;
            Ok(u32::from_le_bytes(four.try_into().unwrap()) as usize)
        };
        let within = |start: usize, len: usize| -> Result<usize> {
            let end = start.checked_add(len).filter(|&end| end <= bytes.len());
            end.context("a comment runs past the end of the comment list")
        };
        let vendor = u32_le(at)?;
        let count_at = within(at + 4, vendor)?;
        let count = u32_le(count_at)? as u32;
        let mut end = count_at + 4;
        let mut entries = Vec::new();
        for _ in 0..count {
            let text_end = within(end + 4, u32_le(end)?)?;
            entries.push((end..text_end, end + 4..text_end));
            end = text_end;
        }
        Ok(Self {
            start: at,
            count_at,
            count,
            entries,
            end,
        })
    }

    /// Whether the comment whose text is at `text` is `key` (ASCII case ignored).
    pub fn is(bytes: &[u8], text: &Range<usize>, key: &[u8]) -> bool {
        let text = &bytes[text.clone()];
        text.len() > key.len()
            && text[key.len()] == b'='
            && text[..key.len()].eq_ignore_ascii_case(key)
    }

    /// The values of the comments `key`, in order.
    pub fn values(&self, bytes: &[u8], key: &[u8]) -> Values {
        self.entries
            .iter()
            .filter(|(_, text)| Self::is(bytes, text, key))
            .map(|(_, text)| {
                String::from_utf8_lossy(&bytes[text.start + key.len() + 1..text.end]).into_owned()
            })
            .collect()
    }

    /// The whole entries of every comment but `key`, in order.
    pub fn others(&self, bytes: &[u8], key: &[u8]) -> Vec<Vec<u8>> {
        self.entries
            .iter()
            .filter(|(_, text)| !Self::is(bytes, text, key))
            .map(|(entry, _)| bytes[entry.clone()].to_vec())
            .collect()
    }

    /// The vendor string with its length.
    pub fn vendor<'a>(&self, bytes: &'a [u8]) -> &'a [u8] {
        &bytes[self.start..self.count_at]
    }

    /// The splices (in the coordinates of `bytes`) that make the comments `key` hold
    /// `values`, and how many bytes the list grows by.
    pub fn edit(&self, bytes: &[u8], key: &[u8], values: &[String]) -> Result<(Vec<Splice>, i64)> {
        let matching: Vec<&Range<usize>> = self
            .entries
            .iter()
            .filter(|(_, text)| Self::is(bytes, text, key))
            .map(|(entry, _)| entry)
            .collect();
        // The key keeps the spelling the file gave it (`genre`, `Genre`).
        let spelled = matching
            .first()
            .map(|entry| bytes[entry.start + 4..entry.start + 4 + key.len()].to_vec())
            .unwrap_or_else(|| key.to_vec());
        let new = entries(&spelled, values);
        let mut splices = Vec::new();
        let mut growth = new.len() as i64;
        match matching.split_first() {
            Some((first, rest)) => {
                splices.push(Splice {
                    start: first.start as u64,
                    end: first.end as u64,
                    bytes: new,
                });
                for entry in rest {
                    splices.push(Splice {
                        start: entry.start as u64,
                        end: entry.end as u64,
                        bytes: Vec::new(),
                    });
                }
                growth -= matching.iter().map(|e| e.len() as i64).sum::<i64>();
            }
            None if values.is_empty() => return Ok((Vec::new(), 0)),
            None => splices.push(Splice::insert(self.end as u64, new)),
        }
        let count = i64::from(self.count) - matching.len() as i64 + values.len() as i64;
        if count != i64::from(self.count) {
            splices.push(Splice::overwrite(
                self.count_at as u64,
                u32::try_from(count)?.to_le_bytes().to_vec(),
            ));
        }
        splices.sort_by_key(|s| (s.start, s.end));
        Ok((splices, growth))
    }
}

/// A whole comment list of `values` under `key` after `vendor`.
pub(super) fn list(vendor: &str, key: &[u8], values: &[String]) -> Vec<u8> {
    let mut list = (vendor.len() as u32).to_le_bytes().to_vec();
    list.extend_from_slice(vendor.as_bytes());
    list.extend_from_slice(&(values.len() as u32).to_le_bytes());
    list.extend(entries(key, values));
    list
}

/// One comment entry (length and `key=value`) per value.
pub(super) fn entries(key: &[u8], values: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for value in values {
        let text = [key, b"=", value.as_bytes()].concat();
        out.extend_from_slice(&(text.len() as u32).to_le_bytes());
        out.extend(text);
    }
    out
}

/// The comment key that holds `field`.
pub(super) fn key_of(field: &Field) -> Vec<u8> {
    match field {
        Field::Standard => b"GENRE".to_vec(),
        Field::Custom(name) => name.as_bytes().to_vec(),
    }
}

/// Checks that the comment list `after` holds `values` under `key` and, as `before` did,
/// the same vendor and every other comment, in order.
pub(super) fn check(
    before: (&Comments, &[u8]),
    after: (&Comments, &[u8]),
    key: &[u8],
    values: &[String],
) -> Result<()> {
    let read = after.0.values(after.1, key);
    ensure!(
        read == values,
        "the edited comments read {read:?}, not {values:?}"
    );
    ensure!(
        before.0.others(before.1, key) == after.0.others(after.1, key),
        "the edit would change other comments"
    );
    ensure!(
        before.0.vendor(before.1) == after.0.vendor(after.1),
        "the edit would change the vendor string"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::edit::apply;
    use std::io::Cursor;

    #[test]
    fn the_field_s_comments_are_replaced_in_the_first_one_s_place_keeping_its_spelling() {
        let key = key_of(&Field::Standard);
        let bytes = [
            b"head".to_vec(),
            list("v", b"TITLE", &["One".into()]),
            b"tail".to_vec(),
        ]
        .concat();
        let comments = Comments::parse(&bytes, 4).unwrap();
        assert_eq!(comments.end, bytes.len() - 4);
        let (splices, growth) = comments
            .edit(&bytes, &key, &["Rock".into(), "Pop".into()])
            .unwrap();
        let mut after = Vec::new();
        apply(
            &mut Cursor::new(&bytes),
            bytes.len() as u64,
            &splices,
            &mut after,
        )
        .unwrap();
        assert_eq!(after.len() as i64, bytes.len() as i64 + growth);
        let edited = Comments::parse(&after, 4).unwrap();
        assert_eq!(edited.values(&after, &key), ["Rock", "Pop"]);
        assert!(after.ends_with(b"tail"));
        check(
            (&comments, &bytes),
            (&edited, &after),
            &key,
            &["Rock".into(), "Pop".into()],
        )
        .unwrap();

        let spelled = [list("v", b"genre", &["Jazz".into()]), b"\x01".to_vec()].concat();
        let comments = Comments::parse(&spelled, 0).unwrap();
        let (splices, _) = comments.edit(&spelled, &key, &["Blues".into()]).unwrap();
        assert_eq!(splices[0].bytes, b"\x0b\0\0\0genre=Blues");
        let bare = list("v", b"TITLE", &["One".into()]);
        let comments = Comments::parse(&bare, 0).unwrap();
        assert!(
            comments.edit(&bare, &key, &[]).unwrap().0.is_empty(),
            "no genre to remove: no splices"
        );
    }

    #[test]
    fn lengths_past_the_end_are_errors_never_panics() {
        let bytes = list("vendor", b"GENRE", &["Rock".into()]);
        for cut in 0..bytes.len() {
            assert!(Comments::parse(&bytes[..cut], 0).is_err(), "cut at {cut}");
        }
        let mut huge = bytes.clone();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Comments::parse(&huge, 0).is_err());
        assert!(Comments::parse(&bytes, usize::MAX - 2).is_err());
    }
}
