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

/// The value of `field` in the audio file at `path` (`None` when the field is absent).
pub fn read(path: &Path, field: &Field) -> Result<Option<String>> {
    let mut file = File::open(path).context("cannot open")?;
    Ok(Tags::load(&mut file)?.get(field))
}

/// Sets `field` to `value` (or removes it for `None`) in the open file, in place. Callers
/// give it a temporary copy, or a file whose whole backup is on disk (see
/// [`crate::tag::safe_write`]).
pub fn write(file: &mut File, field: &Field, value: Option<&str>) -> Result<()> {
    let mut tags = Tags::load(file)?;
    tags.set(field, value);
    file.seek(SeekFrom::Start(0))?;
    tags.save(file)
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

    fn get(&self, field: &Field) -> Option<String> {
        match (self, field) {
            (Self::Id3v2 { tag, .. }, Field::Standard) => tag.get_text(&TCON).map(String::from),
            (Self::Id3v2 { tag, .. }, Field::Custom(name)) => {
                tag.get_user_text(name).map(String::from)
            }
            (Self::Flac(flac), _) => flac
                .vorbis_comments()
                .and_then(|c| c.get(vorbis_key(field)))
                .map(String::from),
            (Self::Ogg(comments), _) => comments.get(vorbis_key(field)).map(String::from),
            (Self::Mp4(ilst), _) => ilst.get(&mp4_ident(field)).and_then(|atom| {
                atom.data().find_map(|d| match d {
                    AtomData::UTF8(text) | AtomData::UTF16(text) => Some(text.clone()),
                    _ => None,
                })
            }),
        }
    }

    fn set(&mut self, field: &Field, value: Option<&str>) {
        match (self, field) {
            (Self::Id3v2 { tag, .. }, Field::Standard) => {
                let _ = tag.remove(&TCON);
                if let Some(value) = value {
                    tag.insert(Frame::Text(TextInformationFrame::new(
                        TCON,
                        TextEncoding::UTF8,
                        value.to_string(),
                    )));
                }
            }
            (Self::Id3v2 { tag, .. }, Field::Custom(name)) => {
                tag.remove_user_text(name);
                if let Some(value) = value {
                    tag.insert_user_text(name.clone(), value.to_string());
                }
            }
            (Self::Flac(flac), _) => {
                let comments = flac
                    .vorbis_comments_mut()
                    .expect("load gives every FLAC file a comment block");
                set_vorbis(comments, vorbis_key(field), value);
            }
            (Self::Ogg(comments), _) => set_vorbis(comments, vorbis_key(field), value),
            (Self::Mp4(ilst), _) => {
                let ident = mp4_ident(field);
                let _ = ilst.remove(&ident);
                if let Some(value) = value {
                    ilst.insert(Atom::new(ident, AtomData::UTF8(value.to_string())));
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

fn set_vorbis(comments: &mut VorbisComments, key: &str, value: Option<&str>) {
    let _ = comments.remove(key).count();
    if let Some(value) = value {
        comments.insert(key.to_string(), value.to_string());
    }
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
