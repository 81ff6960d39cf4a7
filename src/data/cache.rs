//! Decoded images cached as u8 (4x smaller than f32), in memory and optionally on disk, so a
//! second epoch or a second run decodes nothing.
//!
//! The key is the file's identity (canonical path, size, modification time in nanoseconds) plus
//! the output size and filter and how JPEGs are decoded ([`pixel_recipe`]: reduced-size decoding
//! gives slightly different pixels): editing or replacing a cover, or changing the input size, misses
//! the cache instead of returning stale pixels. Disk entries are written atomically and carry
//! their full key, so a hash collision or a half-written entry reads as a miss, never as the
//! wrong image.

use super::decode::{decode_file, pixel_recipe, DecodeError, DecodeLimits};
use crate::preprocess::Preprocess;
use crate::util::fnv1a64;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

/// How many loads were served without decoding (`hits`) and how many decoded (`misses`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
}

/// Memory kept for decoded images before new ones are served from disk only (or re-decoded).
const DEFAULT_MEMORY_BUDGET: usize = 2 << 30;

/// A cache of preprocessed images (RGB u8 HWC).
pub struct ImageCache {
    dir: Option<PathBuf>,
    memory: Mutex<HashMap<String, Arc<Vec<u8>>>>,
    memory_bytes: AtomicUsize,
    memory_budget: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl ImageCache {
    /// `None`: memory only. `Some(dir)`: also on disk under `dir`, which survives runs.
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self {
            dir,
            memory: Mutex::new(HashMap::new()),
            memory_bytes: AtomicUsize::new(0),
            memory_budget: DEFAULT_MEMORY_BUDGET,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Caps the bytes held in memory (default 2 GiB); past it, entries live on disk only.
    pub fn with_memory_budget(mut self, bytes: usize) -> Self {
        self.memory_budget = bytes;
        self
    }

    /// `$COVERGENRE_CACHE_DIR`, else `~/.cache/covergenre/images`.
    pub fn default_dir() -> PathBuf {
        if let Some(dir) = std::env::var_os("COVERGENRE_CACHE_DIR").filter(|d| !d.is_empty()) {
            return PathBuf::from(dir);
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        base.join("covergenre").join("images")
    }

    /// The folder entries are stored in, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The preprocessed pixels of `path`, decoding only when no cached copy matches.
    pub fn load(
        &self,
        path: &Path,
        pre: &Preprocess,
        limits: &DecodeLimits,
    ) -> Result<Arc<Vec<u8>>, DecodeError> {
        // A file whose identity cannot be read is decoded to get the proper error.
        let Some(key) = cache_key(path, pre) else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return decode_file(path, pre, limits).map(Arc::new);
        };
        if let Some(pixels) = self.memory_entry(&key) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(pixels);
        }
        if let Some(pixels) = self.disk_entry(&key, pre.image_len()) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(self.remember(key, pixels));
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let pixels = decode_file(path, pre, limits)?;
        self.store_on_disk(&key, &pixels);
        Ok(self.remember(key, pixels))
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    fn memory_entry(&self, key: &str) -> Option<Arc<Vec<u8>>> {
        self.memory.lock().ok()?.get(key).cloned()
    }

    fn remember(&self, key: String, pixels: Vec<u8>) -> Arc<Vec<u8>> {
        let pixels = Arc::new(pixels);
        let len = pixels.len();
        if self.memory_bytes.load(Ordering::Relaxed) + len <= self.memory_budget {
            if let Ok(mut memory) = self.memory.lock() {
                if memory.insert(key, Arc::clone(&pixels)).is_none() {
                    self.memory_bytes.fetch_add(len, Ordering::Relaxed);
                }
            }
        }
        pixels
    }

    fn entry_path(&self, key: &str) -> Option<PathBuf> {
        let name = format!("{:016x}.rgb", fnv1a64(key.as_bytes()));
        Some(self.dir.as_ref()?.join(&name[..2]).join(name))
    }

    /// An entry is the key, a newline, then the pixels; anything else is a miss.
    fn disk_entry(&self, key: &str, image_len: usize) -> Option<Vec<u8>> {
        let bytes = std::fs::read(self.entry_path(key)?).ok()?;
        let header_len = key.len() + 1;
        let matches = bytes.len() == header_len + image_len
            && bytes.starts_with(key.as_bytes())
            && bytes[key.len()] == b'\n';
        matches.then(|| bytes[header_len..].to_vec())
    }

    /// Best effort: an unwritable cache folder costs speed, not correctness.
    fn store_on_disk(&self, key: &str, pixels: &[u8]) {
        let Some(path) = self.entry_path(key) else {
            return;
        };
        let _ = crate::util::write_atomic_with(&path, |w| {
            w.write_all(key.as_bytes())?;
            w.write_all(b"\n")?;
            w.write_all(pixels)?;
            Ok(())
        });
    }
}

/// Canonical path + size + mtime (ns) + the preprocessing's fingerprint (output height, width
/// and filter) + JPEG decoding recipe, as one line of text.
fn cache_key(path: &Path, pre: &Preprocess) -> Option<String> {
    let canonical = std::fs::canonicalize(path).ok()?;
    let meta = std::fs::metadata(&canonical).ok()?;
    if !meta.is_file() {
        return None;
    }
    let mtime_nanos = meta
        .modified()
        .ok()?
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let path_text = canonical.to_string_lossy().replace('\n', "\\n");
    Some(format!(
        "v2|{}|{}|{}|{}|{}",
        path_text,
        meta.len(),
        mtime_nanos,
        pre.cache_fingerprint(),
        pixel_recipe()
    ))
}
