//! The picture embedded in audio files' tags, read without reading the audio.

use lofty::ape::{ApeFile, ApeTag, APE_PICTURE_TYPES};
use lofty::config::ParseOptions;
use lofty::file::{AudioFile, FileType, TaggedFile, TaggedFileExt};
use lofty::musepack::MpcFile;
use lofty::picture::{Picture, PictureType};
use lofty::probe::Probe;
use lofty::tag::ItemValue;
use lofty::wavpack::WavPackFile;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// A picture embedded in an audio file's tags, and the file it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedPicture {
    pub track: PathBuf,
    pub bytes: Vec<u8>,
}

/// The album picture embedded in the first of `audio_files` that has one: the front cover
/// when a file has several pictures, else its first picture. Files are only read. Every
/// format lofty reads is read: MP3, FLAC, MP4, Ogg, AIFF and WAV (ID3v2), Monkey's Audio,
/// WavPack and Musepack (APEv2). The error says why there is none
/// (`none of its 3 audio file(s) has an embedded picture`).
pub fn embedded_picture(audio_files: &[PathBuf]) -> Result<EmbeddedPicture, String> {
    let mut unreadable = Vec::new();
    for file in audio_files {
        match pictures_in(file) {
            Ok(Some(bytes)) => {
                return Ok(EmbeddedPicture {
                    track: file.clone(),
                    bytes,
                })
            }
            Ok(None) => {}
            Err(reason) => unreadable.push(format!("{}: {reason}", file.display())),
        }
    }
    if audio_files.is_empty() {
        return Err("it has no tracks covergenre reads pictures from".into());
    }
    let mut reason = format!(
        "none of its {} audio file(s) has an embedded picture",
        audio_files.len()
    );
    if !unreadable.is_empty() {
        reason.push_str(&format!(
            " (could not read tags of {})",
            unreadable.join("; ")
        ));
    }
    Err(reason)
}

/// What reading one audio file's tags found, and what it cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRead {
    /// The front cover, else the first picture; `None` when the tags hold no picture.
    pub picture: Option<Vec<u8>>,
    /// Bytes read from the file: the tag region only, whatever the size of the audio.
    pub bytes_read: u64,
}

/// The best picture in one audio file's tags.
fn pictures_in(file: &Path) -> Result<Option<Vec<u8>>, String> {
    read_tag_picture(file).map(|read| read.picture)
}

/// Reads the picture from one audio file's tags without reading its audio: lofty parses the
/// tag blocks (ID3v2 at the start or in an AIFF/WAV chunk, FLAC metadata blocks, MP4 `moov`,
/// Ogg's first pages, APEv2 at the end) and seeks over the rest, with the audio properties
/// (which would scan frames) not read.
pub fn read_tag_picture(file: &Path) -> Result<TagRead, String> {
    let counter = CountingReader::new(std::fs::File::open(file).map_err(|e| e.to_string())?);
    let mut reader = std::io::BufReader::with_capacity(TAG_READ_BUFFER, counter);
    let options = ParseOptions::new().read_properties(false);
    let probe = Probe::new(&mut reader)
        .options(options)
        .guess_file_type()
        .map_err(|e| e.to_string())?;
    let text = |e: lofty::error::FileParseError| e.to_string();
    let picture = match probe.file_type() {
        // lofty's generic tag leaves APEv2 pictures out: read them from the APE tag itself.
        Some(FileType::Ape) => ape_picture(
            ApeFile::read_from(probe.into_inner(), options)
                .map_err(text)?
                .ape(),
        ),
        Some(FileType::WavPack) => ape_picture(
            WavPackFile::read_from(probe.into_inner(), options)
                .map_err(text)?
                .ape(),
        ),
        Some(FileType::Mpc) => ape_picture(
            MpcFile::read_from(probe.into_inner(), options)
                .map_err(text)?
                .ape(),
        ),
        _ => generic_picture(&probe.read().map_err(text)?),
    };
    Ok(TagRead {
        picture,
        bytes_read: reader.get_ref().bytes_read,
    })
}

/// The front cover, else the first picture, of a file's tags as lofty's generic tags.
fn generic_picture(tagged: &TaggedFile) -> Option<Vec<u8>> {
    let pictures: Vec<_> = tagged.tags().iter().flat_map(|t| t.pictures()).collect();
    pictures
        .iter()
        .find(|p| p.pic_type() == PictureType::CoverFront)
        .or(pictures.first())
        .map(|p| p.data().to_vec())
}

/// The front cover (`Cover Art (Front)`), else the first `Cover Art (...)` item, of an APEv2
/// tag.
fn ape_picture(tag: Option<&ApeTag>) -> Option<Vec<u8>> {
    let pictures: Vec<Picture> = tag?
        .into_iter()
        .filter_map(|item| {
            let key = APE_PICTURE_TYPES
                .iter()
                .find(|k| k.eq_ignore_ascii_case(item.key()))?;
            match item.value() {
                ItemValue::Binary(bytes) => Picture::from_ape_bytes(key, bytes).ok(),
                _ => None,
            }
        })
        .collect();
    pictures
        .iter()
        .find(|p| p.pic_type() == PictureType::CoverFront)
        .or(pictures.first())
        .map(|p| p.data().to_vec())
}

/// Small reads: a tag is found by a few header reads and seeks, and a big buffer would read
/// audio bytes the parser never looks at.
const TAG_READ_BUFFER: usize = 8 * 1024;

/// A file reader that counts the bytes it reads.
struct CountingReader<R> {
    inner: R,
    bytes_read: u64,
}

impl<R> CountingReader<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            bytes_read: 0,
        }
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes_read += n as u64;
        Ok(n)
    }
}

impl<R: Seek> Seek for CountingReader<R> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}
