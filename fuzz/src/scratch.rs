//! One scratch folder per fuzzing process, for the entry points that read a path.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A temporary folder kept for the whole run (fuzz targets never return, so it is left for
/// the OS temp cleaner; it only ever holds a few small files).
pub fn dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("create a scratch folder"))
        .path()
}

/// Writes `bytes` to `name` in the scratch folder and returns its path.
pub fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir().join(name);
    std::fs::write(&path, bytes).expect("write a scratch file");
    path
}
