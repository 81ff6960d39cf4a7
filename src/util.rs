//! Small shared helpers: atomic file writes, progress bars.

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::Path;

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
/// replaces `path`. On error the temporary file is removed and `path` is left as it was.
pub fn write_atomic_via_path(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create folder {}", dir.display()))?;
    let tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    write(tmp.path()).with_context(|| format!("cannot write {}", path.display()))?;
    tmp.as_file().sync_all().ok();
    give_usual_permissions(tmp.as_file(), path);
    tmp.persist(path).map_err(|e| e.error).with_context(|| {
        format!(
            "cannot move the finished file into place at {}",
            path.display()
        )
    })?;
    Ok(())
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

/// A progress bar on stderr when it is a terminal; hidden otherwise (callers print plain lines).
pub fn progress_bar(len: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>10} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(what.to_string());
    bar
}

/// Whether stderr is a terminal (progress bars) or not (plain progress lines).
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
