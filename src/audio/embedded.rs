//! The picture embedded in audio files' tags, read without reading the audio.

use lofty::config::ParseOptions;
use lofty::file::TaggedFileExt;
use lofty::picture::PictureType;
use lofty::probe::Probe;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The album picture embedded in the first of `audio_files` that has one: the front cover
/// when a file has several pictures, else its first picture. Files are only read.
pub fn embedded_picture(audio_files: &[PathBuf]) -> Result<Vec<u8>, String> {
    let mut unreadable = Vec::new();
    for file in audio_files {
        match pictures_in(file) {
            Ok(Some(picture)) => return Ok(picture),
            Ok(None) => {}
            Err(reason) => unreadable.push(format!("{}: {reason}", file.display())),
        }
    }
    let mut reason = format!(
        "no cover image file, and none of its {} audio file(s) has an embedded picture",
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
/// tag blocks (ID3v2 at the start, FLAC metadata blocks, MP4 `moov`, Ogg's first pages) and
/// seeks over the rest, with the audio properties (which would scan frames) not read.
pub fn read_tag_picture(file: &Path) -> Result<TagRead, String> {
    let counter = CountingReader::new(std::fs::File::open(file).map_err(|e| e.to_string())?);
    let mut reader = std::io::BufReader::with_capacity(TAG_READ_BUFFER, counter);
    let tagged = Probe::new(&mut reader)
        .options(ParseOptions::new().read_properties(false))
        .guess_file_type()
        .map_err(|e| e.to_string())?
        .read()
        .map_err(|e| e.to_string())?;
    let pictures: Vec<_> = tagged.tags().iter().flat_map(|t| t.pictures()).collect();
    let front = pictures
        .iter()
        .find(|p| p.pic_type() == PictureType::CoverFront)
        .or(pictures.first());
    Ok(TagRead {
        picture: front.map(|p| p.data().to_vec()),
        bytes_read: reader.get_ref().bytes_read,
    })
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
