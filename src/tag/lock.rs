//! One writing run at a time per library: `--apply`, `--interactive` and `--undo` hold a lock
//! file at each root they write under (`<root>/.covergenre.lock`, holding the process id, its
//! start time and the command), created exclusively. A second run refuses at once, naming the
//! running one. A lock whose process is gone (killed, or the machine restarted) is taken over
//! with a note. The locks go when the run ends.
//!
//! A process is the one that wrote a lock only if both its id and its start time (in clock
//! ticks since boot, `/proc/<pid>/stat`) match: process ids are reused.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The lock file's name at a root.
pub const LOCK_NAME: &str = ".covergenre.lock";

/// What a lock file holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Holder {
    pid: u32,
    /// The process's start, in clock ticks since boot.
    process_start: u64,
    /// When the run started (RFC 3339), for people.
    started: String,
    command: String,
}

impl Holder {
    fn this_process() -> Self {
        let pid = std::process::id();
        Self {
            pid,
            process_start: process_start(pid).unwrap_or_default(),
            started: chrono::Local::now().to_rfc3339(),
            command: std::env::args().collect::<Vec<_>>().join(" "),
        }
    }

    fn is_running(&self) -> bool {
        process_start(self.pid).is_some_and(|start| start == self.process_start)
    }
}

/// The locks of one run; dropping it removes them.
#[derive(Debug, Default)]
pub struct RootLocks {
    held: Vec<PathBuf>,
}

impl RootLocks {
    /// Locks every root (folders; duplicates once). Refuses when another live run holds one
    /// (the locks taken so far are released). A root where no lock file can be made (a
    /// read-only mount, say) is noted on `log` and written without one: whatever cannot hold
    /// a lock file cannot be tagged either.
    pub fn take(roots: &[PathBuf], log: &mut dyn Write) -> Result<Self> {
        let mut locks = Self::default();
        let mut seen = Vec::new();
        for root in roots {
            let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.clone());
            if seen.contains(&root) {
                continue;
            }
            seen.push(root.clone());
            if let Some(lock) = lock_root(&root, log)? {
                locks.held.push(lock);
            }
        }
        Ok(locks)
    }
}

impl Drop for RootLocks {
    fn drop(&mut self) {
        for lock in &self.held {
            std::fs::remove_file(lock).ok();
        }
    }
}

/// Whether a live run other than this one holds the lock of `root` (a run that only plans
/// then leaves that run's temporary files and backups alone).
pub fn held_elsewhere(root: &Path) -> bool {
    let text = std::fs::read_to_string(root.join(LOCK_NAME)).unwrap_or_default();
    serde_json::from_str::<Holder>(&text)
        .is_ok_and(|holder| holder.pid != std::process::id() && holder.is_running())
}

/// Creates the lock at `root`; `None` when the root cannot hold one.
fn lock_root(root: &Path, log: &mut dyn Write) -> Result<Option<PathBuf>> {
    let path = root.join(LOCK_NAME);
    let me = Holder::this_process();
    for _ in 0..2 {
        match create(&path, &me) {
            Ok(()) => return Ok(Some(path)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                take_over_if_stale(root, &path, log)?
            }
            Err(e) => {
                writeln!(
                    log,
                    "covergenre-classify: cannot lock {} ({e}); going on without a lock",
                    root.display()
                )?;
                return Ok(None);
            }
        }
    }
    bail!(
        "{}: another covergenre run keeps taking the lock {}",
        root.display(),
        path.display()
    )
}

fn create(path: &Path, holder: &Holder) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    let text = serde_json::to_string(holder).map_err(std::io::Error::other)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// Refuses when the lock at `path` belongs to a running process; otherwise removes it.
fn take_over_if_stale(root: &Path, path: &Path, log: &mut dyn Write) -> Result<()> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let holder: Option<Holder> = serde_json::from_str(&text).ok();
    match holder {
        Some(holder) if holder.is_running() => bail!(
            "{} is being written by another covergenre run (process {}, started {}: {}); \
             wait for it to end (its lock: {})",
            root.display(),
            holder.pid,
            holder.started,
            holder.command,
            path.display()
        ),
        Some(holder) => writeln!(
            log,
            "covergenre-classify: took over the lock {} of a run that is no longer running \
             (process {}, started {})",
            path.display(),
            holder.pid,
            holder.started
        )?,
        None => writeln!(
            log,
            "covergenre-classify: took over the unreadable lock {}",
            path.display()
        )?,
    }
    std::fs::remove_file(path)
        .with_context(|| format!("cannot remove the stale lock {}", path.display()))
}

/// A process's start time in clock ticks since boot (field 22 of `/proc/<pid>/stat`); `None`
/// when no such process runs.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_and_a_dead_ones_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let roots = vec![dir.path().to_path_buf()];
        let mut log = Vec::new();
        let first = RootLocks::take(&roots, &mut log).unwrap();
        let refused = RootLocks::take(&roots, &mut log).unwrap_err().to_string();
        assert!(
            refused.contains("being written by another covergenre run"),
            "{refused}"
        );
        assert!(
            refused.contains(&std::process::id().to_string()),
            "{refused}"
        );
        drop(first);
        assert!(!dir.path().join(LOCK_NAME).exists(), "released");

        // A lock of a process that no longer runs (same pid, another start time).
        let mut dead = Holder::this_process();
        dead.process_start += 1;
        create(&dir.path().join(LOCK_NAME), &dead).unwrap();
        let taken = RootLocks::take(&roots, &mut log).unwrap();
        assert_eq!(
            taken.held,
            vec![dir.path().canonicalize().unwrap().join(LOCK_NAME)]
        );
        assert!(String::from_utf8_lossy(&log).contains("no longer running"));
    }

    #[test]
    fn this_process_has_a_start_time() {
        assert!(process_start(std::process::id()).is_some());
        assert!(Holder::this_process().is_running());
    }
}
