//! What an audio file is, told by its first bytes, never by its name: a `.mp3` that holds
//! FLAC is edited as FLAC, and a library's extensions (`.m4b`, `.oga`, `.aif`) need no list
//! here. An ID3v2 tag before the content (some taggers put one before FLAC, APE or WavPack)
//! is looked past, and MPEG audio after junk is found as lofty finds it.

use std::io::{self, Read, Seek, SeekFrom};

/// The kinds of file whose tags are edited differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// MPEG audio (MP3), or anything else behind an ID3v2 tag: the ID3v2 tag at its start.
    Mpeg,
    /// FLAC: the Vorbis comment block.
    Flac,
    /// Ogg (Vorbis, Opus, Speex, FLAC): the comment packet.
    Ogg,
    /// MP4/M4A/M4B: the `ilst` atom.
    Mp4,
    /// Monkey's Audio, WavPack, Musepack: an APEv2 tag at the end.
    Ape,
    /// AIFF and WAV: an ID3v2 tag in a chunk.
    Riff,
    /// None of the above.
    Unknown,
}

impl Format {
    /// Tells the format of `file` from its first bytes.
    pub fn of(file: &mut (impl Read + Seek)) -> io::Result<Self> {
        let start = read_at(file, 0, 16)?;
        let id3 = crate::audio::edit::id3v2::tag_len(&start);
        let head = match id3 {
            Some(len) => read_at(file, len as u64, 16)?,
            None => start,
        };
        file.seek(SeekFrom::Start(0))?;
        let format = Self::of_content(&head, id3.is_some());
        if format != Self::Unknown {
            return Ok(format);
        }
        // MPEG audio after junk bytes: lofty looks for the frame sync further on.
        let guess = lofty::probe::Probe::new(&mut *file)
            .guess_file_type()?
            .file_type();
        file.seek(SeekFrom::Start(0))?;
        Ok(match guess {
            Some(lofty::file::FileType::Mpeg) => Self::Mpeg,
            _ => Self::Unknown,
        })
    }

    /// The format of content starting with `head`, `behind_id3` when an ID3v2 tag came first.
    fn of_content(head: &[u8], behind_id3: bool) -> Self {
        let starts = |magic: &[u8]| head.starts_with(magic);
        if starts(b"fLaC") {
            Self::Flac
        } else if starts(b"OggS") {
            Self::Ogg
        } else if head.get(4..8) == Some(b"ftyp") {
            Self::Mp4
        } else if starts(b"FORM") || starts(b"RIFF") {
            Self::Riff
        } else if starts(b"MAC ") || starts(b"wvpk") || starts(b"MPCK") || starts(b"MP+") {
            Self::Ape
        } else if is_mpeg_audio_sync(head) || (behind_id3 && !is_adts(head)) {
            // MPEG audio, or an ID3v2 tag before content we do not know: the tag is edited.
            Self::Mpeg
        } else {
            Self::Unknown
        }
    }
}

/// An MPEG audio frame header: 11 sync bits, a layer (1 to 3).
fn is_mpeg_audio_sync(head: &[u8]) -> bool {
    matches!(head, [0xFF, b, ..] if b & 0xE0 == 0xE0 && b & 0x06 != 0)
}

/// An AAC ADTS frame header: sync bits, layer 0.
fn is_adts(head: &[u8]) -> bool {
    matches!(head, [0xFF, b, ..] if b & 0xF6 == 0xF0)
}

fn read_at(file: &mut (impl Read + Seek), at: u64, len: u64) -> io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(at))?;
    let mut bytes = Vec::new();
    file.take(len).read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn format(bytes: &[u8]) -> Format {
        Format::of(&mut Cursor::new(bytes)).unwrap()
    }

    #[test]
    fn formats_are_told_by_their_first_bytes_past_an_id3_tag() {
        let id3 = b"ID3\x03\x00\x00\x00\x00\x00\x04\0\0\0\0".to_vec();
        assert_eq!(format(b"\xff\xfb\x90\x00"), Format::Mpeg);
        assert_eq!(
            format(&[&id3[..], b"\xff\xfb\x90\x00"].concat()),
            Format::Mpeg
        );
        assert_eq!(format(&[&id3[..], b"junk"].concat()), Format::Mpeg);
        assert_eq!(format(&[&id3[..], b"fLaC"].concat()), Format::Flac);
        assert_eq!(format(&[&id3[..], b"MAC \x96\x0f"].concat()), Format::Ape);
        assert_eq!(format(b"fLaC\0\0\0\x22"), Format::Flac);
        assert_eq!(format(b"OggS\0\x02"), Format::Ogg);
        assert_eq!(format(b"\0\0\0\x20ftypM4B "), Format::Mp4);
        assert_eq!(format(b"FORM\0\0\0\0AIFF"), Format::Riff);
        assert_eq!(format(b"RIFF\0\0\0\0WAVE"), Format::Riff);
        assert_eq!(format(b"wvpk"), Format::Ape);
        assert_eq!(format(b"MPCK"), Format::Ape);
        assert_eq!(format(b"\xff\xf1\x50\x80"), Format::Unknown, "AAC ADTS");
        assert_eq!(
            format(&[&id3[..], b"\xff\xf1\x50\x80"].concat()),
            Format::Unknown
        );
        assert_eq!(format(b"these are liner notes"), Format::Unknown);
        assert_eq!(format(b""), Format::Unknown);
    }
}
