//! Reading and writing one genre field of one audio file with lofty, per format:
//!
//! | format | standard genre | `--field NAME` |
//! |---|---|---|
//! | MP3 (ID3v2) | `TCON` | `TXXX` frame described `NAME` |
//! | FLAC, Ogg Vorbis/Opus/Speex | Vorbis comment `GENRE` | Vorbis comment `NAME` |
//! | M4A/MP4 | `©gen` atom | freeform atom `----:com.apple.iTunes:NAME` |
//!
//! Each format's own tag type is edited (never lofty's generic `Tag`, whose conversion would
//! drop frames it does not know), so every other frame, comment, atom and picture is written
//! back as it was read. An ID3v2.3 tag stays ID3v2.3.
//!
//! A field holds a list of values ([`Values`], empty when absent), written as beets 2.7+ writes
//! its multi-valued `genres`: ID3v2.4 null-separated strings in the one frame, several Vorbis
//! comments, several data items of the M4A atom. ID3v2.3 has no multiple values: they are
//! joined with `/` as its readers expect, and read back as the one value stored
//! ([`holds`] knows that form).

use anyhow::{bail, Context, Result};
use lofty::config::{ParseOptions, WriteOptions};
use lofty::file::{AudioFile, FileType};
use lofty::flac::FlacFile;
use lofty::id3::v2::{Frame, FrameId, Id3v2Tag, Id3v2Version, TextInformationFrame};
use lofty::mp4::{Atom, AtomData, AtomIdent, Ilst, Mp4File};
use lofty::mpeg::MpegFile;
use lofty::ogg::tag::VorbisComments;
use lofty::ogg::{OpusFile, SpeexFile, VorbisFile};
use lofty::prelude::TagExt;
use lofty::probe::Probe;
use lofty::TextEncoding;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::Path;

/// Which field holds the genre we write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "name")]
pub enum Field {
    /// The format's standard genre field.
    Standard,
    /// A field of our own (`--field NAME`), so the person's genres are never touched.
    Custom(String),
}

impl Field {
    /// A custom field name must be a valid Vorbis comment key (printable ASCII without `=`),
    /// which also suits ID3 TXXX descriptions and M4A freeform names.
    pub fn custom(name: &str) -> Result<Self> {
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| (0x20..=0x7d).contains(&b) && b != b'=');
        if !valid {
            bail!("--field '{name}': a field name is printable ASCII without '='");
        }
        Ok(Self::Custom(name.to_string()))
    }

    /// How plans and messages name the field.
    pub fn describe(&self) -> String {
        match self {
            Self::Standard => "genre".into(),
            Self::Custom(name) => name.clone(),
        }
    }
}

const TCON: FrameId<'static> = FrameId::Valid(Cow::Borrowed("TCON"));
const GENRE_ATOM: AtomIdent<'static> = AtomIdent::Fourcc(*b"\xa9gen");
const VORBIS_GENRE: &str = "GENRE";
/// The freeform namespace iTunes and every tagger use for custom M4A fields.
const FREEFORM_MEAN: &str = "com.apple.iTunes";

/// One file's tags, in its format's own tag type.
enum Tags {
    Id3v2 { tag: Id3v2Tag, v23: bool },
    Flac(Box<FlacFile>),
    Ogg(VorbisComments),
    Mp4(Ilst),
}

/// The values of one field, in the order stored (empty: the field is absent).
pub type Values = Vec<String>;

/// How ID3v2.3 stores several values in one (v2.3 has no separator of its own).
pub const ID3V23_JOIN: &str = "/";
/// How ID3v2.4 separates the values of one text frame.
const ID3V24_SEPARATOR: char = '\0';

/// The values of `field` in the audio file at `path` (empty when the field is absent).
pub fn read(path: &Path, field: &Field) -> Result<Values> {
    let mut file = File::open(path).context("cannot open")?;
    Ok(Tags::load(&mut file)?.get(field))
}

/// Sets `field` to `values` (removes it when empty) in the open file, in place. Callers
/// give it a temporary copy, or a file whose whole backup is on disk (see
/// [`crate::tag::safe_write`]).
pub fn write(file: &mut File, field: &Field, values: &[String]) -> Result<()> {
    let mut tags = Tags::load(file)?;
    tags.set(field, values);
    file.seek(SeekFrom::Start(0))?;
    tags.save(file)
}

/// Whether a field reading `current` already holds `wanted`: the same values, or (an ID3v2.3
/// tag) the one value they are stored as there.
pub fn holds(current: &[String], wanted: &[String]) -> bool {
    current == wanted
        || (wanted.len() > 1 && current.len() == 1 && current[0] == wanted.join(ID3V23_JOIN))
}

/// Whether a field has a value worth keeping (not absent, not only blanks).
pub fn has_value(values: &[String]) -> bool {
    values.iter().any(|v| !v.trim().is_empty())
}

/// The values for people: one value as it is, several as `[Rock, Metal]` (so that one value
/// holding a separator reads differently), `(none)` when absent.
pub fn show(values: &[String]) -> String {
    match values {
        [] => "(none)".into(),
        [one] => one.clone(),
        several => format!("[{}]", several.join(", ")),
    }
}

impl Tags {
    /// Reads the file's tags.
    fn load(file: &mut File) -> Result<Self> {
        let file_type = Probe::new(&mut *file)
            .guess_file_type()
            .context("cannot read")?
            .file_type();
        file.seek(SeekFrom::Start(0))?;
        // Cover art must be read: FLAC pictures are written back from what was read.
        let options = ParseOptions::new().read_properties(false);
        let tags = match file_type {
            Some(FileType::Mpeg) => {
                let mpeg = MpegFile::read_from(file, options).context("bad MP3 tags")?;
                let tag = mpeg.id3v2().cloned().unwrap_or_default();
                let v23 = mpeg
                    .id3v2()
                    .is_some_and(|t| t.original_version() == Id3v2Version::V3);
                Self::Id3v2 { tag, v23 }
            }
            Some(FileType::Flac) => {
                let mut flac = FlacFile::read_from(file, options).context("bad FLAC tags")?;
                if flac.vorbis_comments().is_none() {
                    flac.set_vorbis_comments(VorbisComments::default());
                }
                Self::Flac(Box::new(flac))
            }
            Some(FileType::Vorbis) => Self::Ogg(ogg_comments(
                VorbisFile::read_from(file, options).map(|f| f.vorbis_comments().clone()),
            )?),
            Some(FileType::Opus) => Self::Ogg(ogg_comments(
                OpusFile::read_from(file, options).map(|f| f.vorbis_comments().clone()),
            )?),
            Some(FileType::Speex) => Self::Ogg(ogg_comments(
                SpeexFile::read_from(file, options).map(|f| f.vorbis_comments().clone()),
            )?),
            Some(FileType::Mp4) => {
                let mp4 = Mp4File::read_from(file, options).context("bad MP4 tags")?;
                Self::Mp4(mp4.ilst().cloned().unwrap_or_default())
            }
            Some(other) => bail!("{other:?} files are not tagged (MP3, FLAC, Ogg and M4A are)"),
            None => bail!("not an audio file covergenre can tag (unknown format)"),
        };
        Ok(tags)
    }

    fn get(&self, field: &Field) -> Values {
        match (self, field) {
            (Self::Id3v2 { tag, v23 }, Field::Standard) => id3_values(tag.get_text(&TCON), *v23),
            (Self::Id3v2 { tag, v23 }, Field::Custom(name)) => {
                id3_values(tag.get_user_text(name), *v23)
            }
            (Self::Flac(flac), _) => flac
                .vorbis_comments()
                .map(|c| vorbis_values(c, vorbis_key(field)))
                .unwrap_or_default(),
            (Self::Ogg(comments), _) => vorbis_values(comments, vorbis_key(field)),
            (Self::Mp4(ilst), _) => ilst
                .get(&mp4_ident(field))
                .map(|atom| {
                    atom.data()
                        .filter_map(|d| match d {
                            AtomData::UTF8(text) | AtomData::UTF16(text) => Some(text.clone()),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    fn set(&mut self, field: &Field, values: &[String]) {
        match (self, field) {
            (Self::Id3v2 { tag, v23 }, Field::Standard) => {
                let _ = tag.remove(&TCON);
                if let Some(text) = id3_text(values, *v23) {
                    tag.insert(Frame::Text(TextInformationFrame::new(
                        TCON,
                        TextEncoding::UTF8,
                        text,
                    )));
                }
            }
            (Self::Id3v2 { tag, v23 }, Field::Custom(name)) => {
                tag.remove_user_text(name);
                if let Some(text) = id3_text(values, *v23) {
                    tag.insert_user_text(name.clone(), text);
                }
            }
            (Self::Flac(flac), _) => {
                let comments = flac
                    .vorbis_comments_mut()
                    .expect("load gives every FLAC file a comment block");
                set_vorbis(comments, vorbis_key(field), values);
            }
            (Self::Ogg(comments), _) => set_vorbis(comments, vorbis_key(field), values),
            (Self::Mp4(ilst), _) => {
                let ident = mp4_ident(field);
                let _ = ilst.remove(&ident);
                let data = values.iter().cloned().map(AtomData::UTF8).collect();
                if let Some(atom) = Atom::from_collection(ident, data) {
                    ilst.insert(atom);
                }
            }
        }
    }

    fn save(&self, file: &mut File) -> Result<()> {
        let options = WriteOptions::new();
        match self {
            Self::Id3v2 { tag, v23 } => tag.save_to(file, WriteOptions::new().use_id3v23(*v23))?,
            Self::Flac(flac) => flac.save_to(file, options)?,
            Self::Ogg(comments) => comments.save_to(file, options)?,
            Self::Mp4(ilst) => ilst.save_to(file, options)?,
        }
        Ok(())
    }
}

fn ogg_comments<E>(read: std::result::Result<VorbisComments, E>) -> Result<VorbisComments>
where
    E: std::error::Error + Send + Sync + 'static,
{
    read.context("bad Ogg tags")
}

fn vorbis_key(field: &Field) -> &str {
    match field {
        Field::Standard => VORBIS_GENRE,
        Field::Custom(name) => name,
    }
}

fn vorbis_values(comments: &VorbisComments, key: &str) -> Values {
    comments.get_all(key).map(String::from).collect()
}

/// Replaces every comment `key` with one comment per value, in order.
fn set_vorbis(comments: &mut VorbisComments, key: &str, values: &[String]) {
    let _ = comments.remove(key).count();
    for value in values {
        comments.push(key.to_string(), value.clone());
    }
}

/// The values of an ID3v2 text frame's text: v2.4 separates them with a null, a v2.3 text is
/// one value (a `/` in it may be part of a genre's name, so it is not split).
fn id3_values(text: Option<&str>, v23: bool) -> Values {
    match text {
        None => Vec::new(),
        Some(text) if v23 => vec![text.to_string()],
        Some(text) => text.split(ID3V24_SEPARATOR).map(String::from).collect(),
    }
}

/// The text of an ID3v2 frame holding `values` (`None`: no frame).
fn id3_text(values: &[String], v23: bool) -> Option<String> {
    if values.is_empty() {
        return None;
    }
    let separator = if v23 {
        ID3V23_JOIN.to_string()
    } else {
        ID3V24_SEPARATOR.to_string()
    };
    Some(values.join(&separator))
}

fn mp4_ident(field: &Field) -> AtomIdent<'static> {
    match field {
        Field::Standard => GENRE_ATOM,
        Field::Custom(name) => AtomIdent::Freeform {
            mean: Cow::Borrowed(FREEFORM_MEAN),
            name: Cow::Owned(name.clone()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(list: &[&str]) -> Values {
        list.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn id3_texts_split_on_nulls_in_v24_only() {
        assert_eq!(
            id3_values(Some("Rock\0Metal"), false),
            values(&["Rock", "Metal"])
        );
        assert_eq!(
            id3_values(Some("Rock/Metal"), true),
            values(&["Rock/Metal"])
        );
        assert_eq!(id3_values(None, false), Values::new());
        let both = values(&["Rock", "Metal"]);
        assert_eq!(id3_text(&both, true).as_deref(), Some("Rock/Metal"));
        assert_eq!(id3_text(&both, false).as_deref(), Some("Rock\0Metal"));
        assert_eq!(id3_text(&[], false), None);
    }

    #[test]
    fn a_v23_joined_value_holds_the_values_it_joins() {
        let both = values(&["Rock", "Metal"]);
        assert!(holds(&both, &both));
        assert!(holds(&values(&["Rock/Metal"]), &both));
        assert!(!holds(&values(&["Rock"]), &both));
        assert!(!holds(&values(&["Metal", "Rock"]), &both));
        assert!(!holds(&[], &values(&["Rock"])));
    }
}
