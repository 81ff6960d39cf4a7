//! The base model's outputs per cover, cached on disk beside the decoded covers
//! (`<image cache>/base-outputs/`), so learning from a library runs the base model once per
//! cover: a retrain after the owner tagged more albums runs it only over covers it has not seen.
//!
//! - **Key**: the SHA-256 of the cover's bytes (the image file, or the picture embedded in a
//!   track, read from the tags alone) and of the base model's bytes, with the toolkit version,
//!   the entry format and how JPEGs are decoded ([`super::decode::pixel_recipe`]). A cover that
//!   is moved or re-tagged but keeps its picture hits; a new picture, another base model or
//!   another covergenre version misses.
//! - **Entries** are one small file each, written atomically, that carry their full key: a hash
//!   collision or a half-written entry reads as a miss, never as another cover's outputs.
//! - **Another base**: `base.json` in the folder names the base (and version) that wrote last;
//!   when it differs, the run says once that those entries are not used.
//! - **Best effort**: a write that fails (a full disk, a read-only folder) is said once, and
//!   the run goes on uncached; reading never fails a run.
//!
//! What is stored is what the owner's head needs: the base model's raw logits (its calibrated
//! probabilities are `softmax(logits / T)` with the temperature in its metadata).

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Bumped when what an entry holds changes.
const FORMAT: u32 = 1;
/// The folder, inside the decoded-image cache's, that holds the entries.
pub const FOLDER: &str = "base-outputs";
/// The record of the base model that wrote last.
const BASE_RECORD: &str = "base.json";

/// Lookups served from disk (`hits`), lookups that missed, entries written, writes that failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BaseCacheStats {
    pub hits: u64,
    pub misses: u64,
    pub written: u64,
    pub write_failures: u64,
}

/// The base model's outputs per cover, on disk (see the module docs).
pub struct BaseOutputCache {
    dir: Option<PathBuf>,
    /// The base's part of every key: format, toolkit version, pixel recipe, model digest.
    model_key: String,
    /// What messages call the base model.
    model_name: String,
    hits: AtomicU64,
    misses: AtomicU64,
    written: AtomicU64,
    write_failures: AtomicU64,
    /// Set after the first failed write: the run goes on uncached.
    uncached: AtomicBool,
}

impl BaseOutputCache {
    /// The cache for the base model whose file holds `model_bytes` (`model_name` in messages),
    /// under `images_dir/base-outputs` (`None`: no disk cache).
    pub fn new(images_dir: Option<&Path>, model_bytes: &[u8], model_name: &str) -> Self {
        let model_key = format!(
            "covergenre-base-outputs v{FORMAT}|{}|{}|{}",
            crate::VERSION,
            super::decode::pixel_recipe(),
            hex(&Sha256::digest(model_bytes))
        );
        Self {
            dir: images_dir.map(|d| d.join(FOLDER)),
            model_key,
            model_name: model_name.to_string(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            written: AtomicU64::new(0),
            write_failures: AtomicU64::new(0),
            uncached: AtomicBool::new(false),
        }
    }

    /// The folder entries live in, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    pub fn stats(&self) -> BaseCacheStats {
        BaseCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            written: self.written.load(Ordering::Relaxed),
            write_failures: self.write_failures.load(Ordering::Relaxed),
        }
    }

    /// When the folder's entries were written by another base model or covergenre version,
    /// the line that says they are not used (said once per run by the caller); then records
    /// this base as the folder's. `None` when the folder is new or already this base's.
    pub fn claim(&self) -> Option<String> {
        let dir = self.dir.as_ref()?;
        let record = dir.join(BASE_RECORD);
        let previous: Option<serde_json::Value> = std::fs::read(&record)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let mine = serde_json::json!({ "key": self.model_key, "model": self.model_name });
        let notice = match &previous {
            Some(theirs) if theirs["key"] != mine["key"] => Some(format!(
                "base-output cache {}: its entries were made by another base model or covergenre \
                 version ({}), so they are not used; running {} over every cover",
                dir.display(),
                theirs["model"].as_str().unwrap_or("unknown"),
                self.model_name
            )),
            _ => None,
        };
        if previous.as_ref() != Some(&mine) {
            // Best effort, like every write here: a failure shows at the first entry.
            let _ = crate::util::write_atomic(&record, mine.to_string().as_bytes());
        }
        notice
    }

    /// The cached outputs of the cover whose bytes hash to `cover` ([`cover_key`]), if any.
    pub fn get(&self, cover: &str) -> Option<Vec<f32>> {
        let found = self.read_entry(cover);
        let counter = match found {
            Some(_) => &self.hits,
            None => &self.misses,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Whether an entry for `cover` is there (counts nothing): `--inspect`.
    pub fn contains(&self, cover: &str) -> bool {
        self.read_entry(cover).is_some()
    }

    fn read_entry(&self, cover: &str) -> Option<Vec<f32>> {
        let bytes = std::fs::read(self.entry_path(cover)?).ok()?;
        let header = self.header(cover);
        let body = bytes.strip_prefix(header.as_bytes())?;
        if body.is_empty() || body.len() % 4 != 0 {
            return None;
        }
        Some(
            body.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        )
    }

    /// Stores `outputs` for `cover`. A failure is returned once, as the line to say (the run
    /// goes on uncached: later calls write nothing and return `None`).
    pub fn put(&self, cover: &str, outputs: &[f32]) -> Option<String> {
        if self.uncached.load(Ordering::Relaxed) {
            return None;
        }
        let path = self.entry_path(cover)?;
        let header = self.header(cover);
        let written = crate::util::write_atomic_with(&path, |w| {
            w.write_all(header.as_bytes())?;
            for value in outputs {
                w.write_all(&value.to_le_bytes())?;
            }
            Ok(())
        });
        match written {
            Ok(()) => {
                self.written.fetch_add(1, Ordering::Relaxed);
                None
            }
            Err(error) => {
                self.write_failures.fetch_add(1, Ordering::Relaxed);
                let first = !self.uncached.swap(true, Ordering::Relaxed);
                first.then(|| {
                    format!(
                        "cannot write the base-output cache ({error:#}); going on uncached: the \
                         next run computes the base model's outputs again"
                    )
                })
            }
        }
    }

    /// An entry's header: the whole key, so a colliding file name reads as a miss.
    fn header(&self, cover: &str) -> String {
        format!("{}|{cover}\n", self.model_key)
    }

    fn entry_path(&self, cover: &str) -> Option<PathBuf> {
        let mut hasher = Sha256::new();
        hasher.update(self.model_key.as_bytes());
        hasher.update(b"|");
        hasher.update(cover.as_bytes());
        let name = hex(&hasher.finalize()[..16]);
        Some(
            self.dir
                .as_ref()?
                .join(&name[..2])
                .join(format!("{name}.f32")),
        )
    }
}

/// The SHA-256 (hex) of a cover's bytes: the image file's, or the picture embedded in an
/// audio file's tags (read from the tags alone). The error says why there are none.
pub fn cover_key(path: &Path) -> Result<String, String> {
    let bytes = if crate::files::is_audio_path(path) {
        crate::audio::read_tag_picture(path)
            .map_err(|e| format!("its tags: {e}"))?
            .picture
            .ok_or_else(|| "the audio file's tags hold no picture".to_string())?
    } else {
        std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?
    };
    Ok(hex(&Sha256::digest(&bytes)))
}

/// How many of `samples`' covers `cache` holds outputs for (`--inspect`).
pub fn cached_count(samples: &[super::Sample], cache: &BaseOutputCache) -> usize {
    use rayon::prelude::*;
    samples
        .par_iter()
        .filter(|s| cover_key(&s.path).is_ok_and(|key| cache.contains(&key)))
        .count()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_back_and_another_base_or_a_damaged_entry_misses() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BaseOutputCache::new(Some(dir.path()), b"model one", "one.onnx");
        assert_eq!(cache.claim(), None, "a new folder");
        assert_eq!(cache.get("cover-a"), None);
        assert_eq!(cache.put("cover-a", &[1.5, -2.0, 0.25]), None);
        assert_eq!(cache.get("cover-a"), Some(vec![1.5, -2.0, 0.25]));
        assert!(cache.contains("cover-a") && !cache.contains("cover-b"));
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses, stats.written), (1, 1, 1));

        let other = BaseOutputCache::new(Some(dir.path()), b"model two", "two.onnx");
        let notice = other.claim().expect("another base's entries are announced");
        assert!(
            notice.contains("one.onnx") && notice.contains("not used"),
            "{notice}"
        );
        assert_eq!(other.claim(), None, "said once: the folder is now two's");
        assert_eq!(
            other.get("cover-a"),
            None,
            "another base's entry is not used"
        );

        // A truncated entry is a miss, not wrong numbers.
        let path = cache.entry_path("cover-a").unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 2]).unwrap();
        assert_eq!(cache.get("cover-a"), None);
    }

    #[test]
    fn a_cache_that_cannot_be_written_says_so_once_and_goes_on_uncached() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the folder should be: every write fails, as on a full disk.
        let blocked = dir.path().join("images");
        std::fs::write(&blocked, b"not a folder").unwrap();
        let cache = BaseOutputCache::new(Some(blocked.as_path()), b"model", "m.onnx");
        let first = cache.put("a", &[1.0]).expect("the first failure is said");
        assert!(first.contains("going on uncached"), "{first}");
        assert_eq!(cache.put("b", &[2.0]), None, "and only once");
        assert_eq!(cache.get("a"), None);
        assert_eq!(cache.stats().write_failures, 1);
    }

    #[test]
    fn a_cover_is_keyed_by_its_bytes_not_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.jpg");
        let b = dir.path().join("b.jpg");
        std::fs::write(&a, b"same bytes").unwrap();
        std::fs::write(&b, b"same bytes").unwrap();
        assert_eq!(cover_key(&a), cover_key(&b));
        std::fs::write(&b, b"other bytes").unwrap();
        assert_ne!(cover_key(&a), cover_key(&b));
        let missing = cover_key(&dir.path().join("gone.jpg")).unwrap_err();
        assert!(missing.contains("cannot read"), "{missing}");
    }
}
