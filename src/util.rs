//! Small shared helpers: atomic file writes, progress bars, a stable hash.

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::ffi::{OsStr, OsString};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// Writes a file atomically: the bytes go to a temporary file in the same folder, which is
/// then renamed over the target, so readers never see half a file and a crash leaves the old one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes).map_err(Into::into))
}

/// Like [`write_atomic`], with the content produced by a writer callback.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    write_atomic_via_path(path, |tmp| {
        let file = std::fs::OpenOptions::new().write(true).open(tmp)?;
        let mut buffered = std::io::BufWriter::new(file);
        write(&mut buffered)?;
        buffered.flush()?;
        Ok(())
    })
}

/// Like [`write_atomic`], for writers that insist on a path of their own (libtorch's
/// safetensors writer): `write` fills the temporary file at the path it is given, which then
/// replaces `path`. On error the temporary file is removed and `path` is left as it was; after
/// a kill, the next write to `path` removes the leftover (it has a fixed, recognisable name:
/// [`temp_path_for`]).
pub fn write_atomic_via_path(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let dir = parent_folder(path);
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create folder {}", dir.display()))?;
    let tmp = TempBeside::create(path)?;
    write(tmp.path()).with_context(|| format!("cannot write {}", path.display()))?;
    let file = std::fs::File::open(tmp.path())?;
    file.sync_all().ok();
    give_usual_permissions(&file, path);
    tmp.persist().with_context(|| {
        format!(
            "cannot move the finished file into place at {}",
            path.display()
        )
    })?;
    Ok(())
}

/// The suffix of every temporary file covergenre writes beside a target.
pub const TEMP_SUFFIX: &str = ".covergenre-tmp";

/// The temporary file that stands in for `path` while it is written: `.<name>.covergenre-tmp`
/// in the same folder (so the final rename stays on one file system), hidden, and recognisable
/// by [`is_temp_name`] so a run killed half-way can be cleaned up by the next one.
pub fn temp_path_for(path: &Path) -> PathBuf {
    let mut name = OsString::from(".");
    name.push(path.file_name().unwrap_or_else(|| OsStr::new("output")));
    name.push(TEMP_SUFFIX);
    parent_folder(path).join(name)
}

/// Whether a file name is one of our temporary files (see [`temp_path_for`]).
pub fn is_temp_name(name: &OsStr) -> bool {
    let bytes = name.as_encoded_bytes();
    bytes.starts_with(b".") && bytes.ends_with(TEMP_SUFFIX.as_bytes())
}

/// The folder a file lives in (`.` for a bare file name).
pub fn parent_folder(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A temporary file beside its target, removed on drop unless persisted.
pub struct TempBeside {
    tmp: PathBuf,
    target: PathBuf,
    persisted: bool,
}

impl TempBeside {
    /// Creates (empty) the temporary file for `target`, replacing a leftover of a killed run.
    pub fn create(target: &Path) -> Result<Self> {
        let tmp = temp_path_for(target);
        remove_if_present(&tmp)?;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .with_context(|| format!("cannot create the temporary file {}", tmp.display()))?;
        Ok(Self {
            tmp,
            target: target.to_path_buf(),
            persisted: false,
        })
    }

    /// Copies `target` to its temporary file (content, permissions), replacing a leftover.
    pub fn copy_of(target: &Path) -> Result<Self> {
        let tmp = temp_path_for(target);
        remove_if_present(&tmp)?;
        if let Err(e) = std::fs::copy(target, &tmp) {
            // A copy cut short (a full disk) must not stay behind.
            std::fs::remove_file(&tmp).ok();
            return Err(e)
                .with_context(|| format!("cannot copy {} to {}", target.display(), tmp.display()));
        }
        Ok(Self {
            tmp,
            target: target.to_path_buf(),
            persisted: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Renames the temporary file over the target, then flushes the folder entry so the
    /// rename itself survives a power cut.
    pub fn persist(mut self) -> Result<()> {
        std::fs::rename(&self.tmp, &self.target)?;
        self.persisted = true;
        if let Ok(dir) = std::fs::File::open(parent_folder(&self.target)) {
            dir.sync_all().ok();
        }
        Ok(())
    }
}

impl Drop for TempBeside {
    fn drop(&mut self) {
        if !self.persisted {
            std::fs::remove_file(&self.tmp).ok();
        }
    }
}

fn remove_if_present(path: &Path) -> Result<()> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(()); // absent (asking first: removing fails on a read-only mount even then)
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).with_context(|| {
            format!(
                "cannot remove the leftover temporary file {}",
                path.display()
            )
        }),
        _ => Ok(()),
    }
}

/// Removes the temporary files a killed run left in `folder` (not recursive); returns them.
pub fn remove_stale_temps(folder: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| is_temp_name(&e.file_name()) && e.path().is_file())
        .filter_map(|e| std::fs::remove_file(e.path()).ok().map(|_| e.path()))
        .collect()
}

/// Temporary files are created private (0600); an output file should get the permissions the
/// file it replaces had, or the usual 0644 for a new one, so models and reports can be shared.
fn give_usual_permissions(file: &std::fs::File, target: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let permissions = std::fs::metadata(target)
            .map(|m| m.permissions())
            .unwrap_or_else(|_| std::fs::Permissions::from_mode(0o644));
        file.set_permissions(permissions).ok();
    }
}

/// Progress on stderr when it is a terminal; hidden otherwise (callers print plain lines).
/// With a known total (`len`), a bar with the count and an ETA; without one (folders walked
/// while classifying), a spinner with the count and rate. `what` names what is counted.
pub fn progress(len: Option<u64>, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::with_draw_target(len, ProgressDrawTarget::hidden());
    }
    let bar = match len {
        Some(len) => ProgressBar::new(len).with_style(
            ProgressStyle::with_template(
                "{prefix:>10} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        ),
        None => {
            let spinner = ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {pos} {prefix}, {per_sec}, {elapsed}")
                    .expect("valid template"),
            );
            spinner.enable_steady_tick(std::time::Duration::from_millis(200));
            spinner
        }
    };
    bar.set_prefix(what.to_string());
    bar
}

/// Whether stderr is a terminal (progress bars) or not (plain progress lines).
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// 64-bit FNV-1a: a hash fixed by its definition (unlike std's hashers), so what it decides
/// (shards, a library's splits, cache file names) stays the same across machines and releases.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_its_published_test_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn atomic_write_replaces_and_a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "second");
        let err = write_atomic_with(&path, |w| {
            w.write_all(b"half")?;
            anyhow::bail!("disk full")
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "second");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left behind"
        );
    }

    #[test]
    fn a_leftover_temporary_file_is_replaced_and_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let leftover = temp_path_for(&path);
        assert_eq!(leftover.file_name().unwrap(), ".out.csv.covergenre-tmp");
        assert!(is_temp_name(leftover.file_name().unwrap()));
        assert!(!is_temp_name(std::ffi::OsStr::new("out.csv")));
        std::fs::write(&leftover, b"killed half-way").unwrap();
        write_atomic(&path, b"whole").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"whole");
        assert!(!leftover.exists());
        std::fs::write(&leftover, b"killed again").unwrap();
        assert_eq!(remove_stale_temps(dir.path()), vec![leftover.clone()]);
        assert!(path.exists(), "only temporary files are removed");
    }
}
