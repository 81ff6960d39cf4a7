//! Bare audio files in the formats only lofty writes among those covergenre reads (AIFF, WAV,
//! Monkey's Audio, WavPack, Musepack): just enough of each stream for lofty and mutagen to take
//! it for one, with no tags. Pictures are added by mutagen ([`add_picture`], through
//! tests/addpicture.py), so what covergenre reads was written by another program.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The extensions made here, one per format.
pub const FORMATS: [&str; 5] = ["aiff", "wav", "ape", "wv", "mpc"];

/// A bare file of the format of `extension` (one of [`FORMATS`]; `aif` is AIFF too).
pub fn bare(extension: &str) -> Vec<u8> {
    match extension {
        "aif" | "aiff" => aiff(),
        "wav" => wav(),
        "ape" => with_filler(b"MAC \x96\x0f"),
        "wv" => wavpack(),
        "mpc" => with_filler(b"MPCK"),
        other => panic!("no bare {other} file"),
    }
}

/// 64 silent 16-bit mono samples at 44.1 kHz.
const SAMPLES: usize = 64;

fn aiff() -> Vec<u8> {
    let mut comm = Vec::new();
    comm.extend_from_slice(&1u16.to_be_bytes()); // channels
    comm.extend_from_slice(&(SAMPLES as u32).to_be_bytes()); // frames
    comm.extend_from_slice(&16u16.to_be_bytes()); // bits
    comm.extend_from_slice(&[0x40, 0x0e, 0xac, 0x44, 0, 0, 0, 0, 0, 0]); // 44100 (80-bit)
    let mut ssnd = vec![0u8; 8]; // offset, block size
    ssnd.extend(std::iter::repeat_n(0u8, 2 * SAMPLES));
    let mut body = b"AIFF".to_vec();
    body.extend(chunk(b"COMM", &comm, u32::to_be_bytes));
    body.extend(chunk(b"SSND", &ssnd, u32::to_be_bytes));
    chunk(b"FORM", &body, u32::to_be_bytes)
}

fn wav() -> Vec<u8> {
    let mut fmt = Vec::new();
    fmt.extend_from_slice(&1u16.to_le_bytes()); // PCM
    fmt.extend_from_slice(&1u16.to_le_bytes()); // channels
    fmt.extend_from_slice(&44_100u32.to_le_bytes());
    fmt.extend_from_slice(&88_200u32.to_le_bytes()); // bytes per second
    fmt.extend_from_slice(&2u16.to_le_bytes()); // block align
    fmt.extend_from_slice(&16u16.to_le_bytes());
    let mut body = b"WAVE".to_vec();
    body.extend(chunk(b"fmt ", &fmt, u32::to_le_bytes));
    body.extend(chunk(b"data", &[0u8; 2 * SAMPLES], u32::to_le_bytes));
    chunk(b"RIFF", &body, u32::to_le_bytes)
}

/// One WavPack block header (version 4.16, 44.1 kHz 16-bit mono) with no audio in it.
fn wavpack() -> Vec<u8> {
    let mut block = b"wvpk".to_vec();
    block.extend_from_slice(&24u32.to_le_bytes()); // block size after these 8 bytes
    block.extend_from_slice(&0x410u16.to_le_bytes()); // version
    block.extend_from_slice(&[0, 0]); // block index (high bits), total samples (high bits)
    block.extend_from_slice(&(SAMPLES as u32).to_le_bytes()); // total samples
    block.extend_from_slice(&0u32.to_le_bytes()); // block index
    block.extend_from_slice(&0u32.to_le_bytes()); // block samples
    let flags: u32 = 1 | (1 << 2) | (9 << 23); // 16-bit, mono, 44.1 kHz
    block.extend_from_slice(&flags.to_le_bytes());
    block.extend_from_slice(&0u32.to_le_bytes()); // CRC
    block
}

fn with_filler(magic: &[u8]) -> Vec<u8> {
    let mut bytes = magic.to_vec();
    bytes.resize(256, 0);
    bytes
}

/// A RIFF/IFF chunk: id, size in the container's byte order, body, a pad byte when odd.
fn chunk(id: &[u8; 4], body: &[u8], size: fn(u32) -> [u8; 4]) -> Vec<u8> {
    let mut out = id.to_vec();
    out.extend_from_slice(&size(body.len() as u32));
    out.extend_from_slice(body);
    if body.len() % 2 == 1 {
        out.push(0);
    }
    out
}

/// Writes a bare file of `extension` at `path`, with `png` as its front cover added by
/// mutagen (ID3v2 in AIFF and WAV, APEv2 `Cover Art (Front)` in the others).
pub fn write_with_picture(path: &Path, extension: &str, png: &[u8]) {
    super::put(path, &bare(extension));
    add_picture(path, png);
}

/// Adds `png` as the front cover of the file at `path`, with mutagen.
pub fn add_picture(path: &Path, png: &[u8]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let picture: PathBuf = path.with_extension("picture.png");
    std::fs::write(&picture, png).unwrap();
    let out = Command::new(root.join(".deps/venv/bin/python"))
        .arg(root.join("tests/addpicture.py"))
        .arg(path)
        .arg(&picture)
        .output()
        .expect("the venv's python runs (scripts/setup.sh installs it)");
    std::fs::remove_file(&picture).unwrap();
    assert!(
        out.status.success(),
        "addpicture.py {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}
