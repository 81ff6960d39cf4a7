//! One genre field of one audio file: read it, and edit it as byte splices
//! ([`crate::audio::edit`]), with the editor of the file's format, told by its content
//! ([`Format`]):
//!
//! | format | standard genre | `--field NAME` | editor |
//! |---|---|---|---|
//! | MP3 (ID3v2) | `TCON` | `TXXX` frame described `NAME` | [`edit::id3v2`] |
//! | FLAC | Vorbis comment `GENRE` | Vorbis comment `NAME` | [`edit::flac`] |
//! | Ogg Vorbis/Opus/Speex/FLAC | Vorbis comment `GENRE` | Vorbis comment `NAME` | [`edit::ogg`] |
//! | M4A/M4B/MP4 | `©gen` atom (a `gnre` replaced) | freeform atom `----:com.apple.iTunes:NAME` | [`edit::mp4`] |
//! | AIFF, WAV (ID3v2 in an `ID3 `/`id3 ` chunk) | `TCON` | `TXXX` frame described `NAME` | [`edit::iff`] |
//! | Monkey's Audio, WavPack, Musepack | APEv2 item `Genre` | APEv2 item `NAME` | [`edit::apev2`] |
//!
//! The splice editors change the field and nothing else: every other frame, comment and
//! block keeps its bytes, and an ID3v2.3 tag stays ID3v2.3.
//!
//! A field holds a list of values ([`Values`], empty when absent), written as beets 2.7+ writes
//! its multi-valued `genres`: ID3v2.4 null-separated strings in the one frame, several Vorbis
//! comments, several data items of the M4A atom, NUL-separated values in the one APEv2 item.
//! ID3v2.3 has no multiple values: they are joined with `/` as its readers expect, and read
//! back as the one value stored ([`holds`] knows that form).
//!
//! Besides the genre, [`read_credits`] reads who a track credits (album artist, artist, the
//! compilation flag), for telling an album's artist; those fields are only read, never edited.

use crate::audio::edit::{self, apev2, flac, id3v2, iff, mp4, ogg, Splice};
use crate::audio::format::Format;
pub use crate::audio::values::{has_value, holds, show, Field, Values, ID3V23_JOIN};
use anyhow::{Context, Result};
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::Path;

/// The values of `field` in the audio file at `path` (empty when the field is absent).
pub fn read(path: &Path, field: &Field) -> Result<Values> {
    let mut file = File::open(path).context("cannot open")?;
    let len = file.metadata()?.len();
    (editor(&mut file)?.read)(&mut file, len, field)
}

/// The splices that set `field` to `values` (remove it when empty) in the open `file`; every
/// byte outside them stays as it is. [`crate::tag::safe_write`] applies them.
pub fn edit(file: &mut File, field: &Field, values: &[String]) -> Result<Vec<Splice>> {
    let len = file.metadata()?.len();
    let splices = (editor(file)?.edit)(file, len, field, values)?;
    edit::check(&splices, len)?;
    Ok(splices)
}

/// A format's editor: the two functions every module of [`crate::audio::edit`] offers, each
/// reading any source (here the file) of a given length.
struct Editor {
    read: fn(&mut File, u64, &Field) -> Result<Values>,
    edit: EditFn,
}

/// An editor's `edit`: the splices for (file, its length, field, values).
type EditFn = fn(&mut File, u64, &Field, &[String]) -> Result<Vec<Splice>>;

/// The editor of `file`'s format, told by its content (one arm per format).
fn editor(file: &mut File) -> Result<Editor> {
    let format = Format::of(file).context("cannot read")?;
    Ok(match format {
        Format::Mpeg => Editor {
            read: |file, _, field| id3v2::read(file, field),
            edit: id3v2::edit,
        },
        Format::Flac => Editor {
            read: |file, _, field| flac::read(file, field),
            edit: flac::edit,
        },
        Format::Ogg => Editor {
            read: ogg::read,
            edit: ogg::edit,
        },
        Format::Mp4 => Editor {
            read: mp4::read,
            edit: mp4::edit,
        },
        Format::Riff => Editor {
            read: iff::read,
            edit: iff::edit,
        },
        Format::Ape => Editor {
            read: apev2::read,
            edit: apev2::edit,
        },
        Format::Unknown => Editor {
            read: |file, _, _| Err(not_taggable(file)),
            edit: |file, _, _, _| Err(not_taggable(file)),
        },
    })
}

/// Who one track credits, as its tags say (blank values read as absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credits {
    /// ID3 `TPE2`, Vorbis `ALBUMARTIST`, MP4 `aART`, APE `Album Artist`.
    pub album_artist: Option<String>,
    /// ID3 `TPE1`, Vorbis `ARTIST`, MP4 `©ART`.
    pub artist: Option<String>,
    /// ID3 `TCMP`, Vorbis `COMPILATION`, MP4 `cpil` set.
    pub compilation: bool,
}

/// The credits of the audio file at `path`, from its tags alone (lofty, without the audio
/// properties or pictures); the first tag of the file holding a value wins.
pub fn read_credits(path: &Path) -> Result<Credits> {
    use lofty::config::ParseOptions;
    use lofty::file::TaggedFileExt;
    use lofty::tag::ItemKey;
    let options = ParseOptions::new()
        .read_properties(false)
        .read_cover_art(false);
    let tagged = lofty::probe::Probe::open(path)
        .context("cannot open")?
        .options(options)
        .guess_file_type()
        .context("cannot read")?
        .read()
        .context("cannot read its tags")?;
    let first = |key: ItemKey| {
        tagged
            .tags()
            .iter()
            .filter_map(|tag| tag.get_string(key))
            .map(str::trim)
            .find(|value| !value.is_empty())
            .map(String::from)
    };
    let flag = first(ItemKey::FlagCompilation);
    Ok(Credits {
        album_artist: first(ItemKey::AlbumArtist),
        artist: first(ItemKey::TrackArtist),
        compilation: flag.is_some_and(|v| !matches!(v.as_str(), "0" | "false" | "no")),
    })
}

/// Why a file of no format covergenre knows is refused: the format lofty takes it for.
fn not_taggable(file: &mut File) -> anyhow::Error {
    let kind = file
        .seek(SeekFrom::Start(0))
        .and_then(|_| lofty::probe::Probe::new(&mut *file).guess_file_type())
        .ok()
        .and_then(|probe| probe.file_type());
    match kind {
        Some(kind) => {
            anyhow::anyhow!("{kind:?} files are not tagged (MP3, FLAC, Ogg, M4A, AIFF, WAV, APE, WavPack and Musepack are)")
        }
        None => anyhow::anyhow!("not an audio file covergenre can tag (unknown format)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(list: &[&str]) -> Values {
        list.iter().map(|v| v.to_string()).collect()
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
