//! Bytes read to get one track's embedded picture, for tracks of 5 and 50 MB: the counted bytes
//! of `audio::read_tag_picture` and the process's `rchar` from /proc/self/io (every byte read
//! through a system call), beside lofty's defaults (audio properties read) for comparison.
//!
//!     cargo run --release --example tag-read -- DIR
//!
//! DIR gets four made-up tracks (FLAC and MP3 with a 500 kB picture, 5 and 50 MB), removed after.

// The tests' audio makers; this example uses only the padded FLAC and MP3 ones.
#[allow(dead_code)]
#[path = "../tests/common/audio.rs"]
mod audio;

use anyhow::{Context, Result};
use covergenre::audio::read_tag_picture;
use lofty::config::ParseOptions;
use lofty::probe::Probe;
use std::path::Path;

/// Bytes this process has read through system calls so far.
fn rchar() -> Result<u64> {
    let io = std::fs::read_to_string("/proc/self/io")?;
    io.lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .context("no rchar in /proc/self/io")?
        .trim()
        .parse()
        .context("rchar is not a number")
}

fn lofty_default_bytes(path: &Path) -> Result<u64> {
    let before = rchar()?;
    Probe::open(path)?
        .options(ParseOptions::new())
        .guess_file_type()?
        .read()?;
    Ok(rchar()? - before)
}

fn main() -> Result<()> {
    let dir = Path::new(&std::env::args().nth(1).context("usage: tag-read DIR")?).to_path_buf();
    std::fs::create_dir_all(&dir)?;
    let art: Vec<u8> = (0..500_000).map(|i| (i * 31 % 256) as u8).collect();
    for megabytes in [5usize, 50] {
        let audio = megabytes << 20;
        let tracks = [
            ("flac", audio::flac_with_picture(Some(&art), audio)),
            ("mp3", audio::mp3_with_picture(&art, audio / 417)),
        ];
        for (kind, bytes) in tracks {
            let path = dir.join(format!("track-{megabytes}mb.{kind}"));
            std::fs::write(&path, &bytes)?;
            let before = rchar()?;
            let read = read_tag_picture(&path).map_err(anyhow::Error::msg)?;
            let syscall_bytes = rchar()? - before;
            anyhow::ensure!(
                read.picture.as_deref() == Some(&art[..]),
                "picture not found"
            );
            println!(
                "{kind:>4} {:>5.1} MB: read_tag_picture counted {} bytes, rchar {} bytes; lofty defaults (properties read) rchar {} bytes",
                bytes.len() as f64 / 1e6,
                read.bytes_read,
                syscall_bytes,
                lofty_default_bytes(&path)?
            );
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}
