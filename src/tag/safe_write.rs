//! Changing an audio file so that a kill at any moment leaves it either as it was or fully
//! changed: the edit is made on a copy beside it (`.<file>.covergenre-tmp`), flushed to disk
//! and renamed over the original (a rename within a folder is atomic). The copy keeps the
//! original's permissions, owner and (unless asked otherwise) modification time.
//!
//! Files and folders whose permission bits say read-only are left alone even when the
//! process could write them anyway (as root): the person marked them so on purpose.

use crate::util::TempBeside;
use anyhow::{Context, Result};
use std::fs::{File, OpenOptions};
use std::path::Path;

/// Why a file must not be written, if it must not.
pub fn read_only_reason(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let no_write_bits =
        |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o222 == 0);
    if no_write_bits(path) {
        return Some("read-only file".into());
    }
    let folder = crate::util::parent_folder(path);
    if no_write_bits(folder) {
        return Some(format!("read-only folder {}", folder.display()));
    }
    // A read-only mount refuses even root, whatever the permission bits say.
    if rustix::fs::access(folder, rustix::fs::Access::WRITE_OK) == Err(rustix::io::Errno::ROFS) {
        return Some(format!("read-only file system at {}", folder.display()));
    }
    None
}

/// Rewrites `path` through `edit`, which changes the open temporary copy in place.
/// `touch`: give the file the current time as its modification time instead of keeping it.
pub fn rewrite(path: &Path, touch: bool, edit: impl FnOnce(&mut File) -> Result<()>) -> Result<()> {
    let before = std::fs::metadata(path).context("cannot read")?;
    let tmp = TempBeside::copy_of(path)?;
    test_pause("copied");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(tmp.path())
        .with_context(|| format!("cannot open {}", tmp.path().display()))?;
    edit(&mut file)?;
    test_pause("edited");
    keep_owner(&file, &before);
    if !touch {
        file.set_modified(before.modified()?)
            .context("cannot keep the modification time")?;
    }
    file.sync_all().context("cannot flush to disk")?;
    drop(file);
    test_pause("synced");
    tmp.persist()
        .with_context(|| format!("cannot move the tagged copy over {}", path.display()))?;
    test_pause("renamed");
    Ok(())
}

/// The copy belongs to whoever runs us; give it the original's owner and group (allowed for
/// root, and for a group the user is in; otherwise the file was ours anyway).
fn keep_owner(file: &File, before: &std::fs::Metadata) {
    use std::os::unix::fs::MetadataExt;
    std::os::unix::fs::fchown(file, Some(before.uid()), Some(before.gid())).ok();
}

/// Test hook for the kill tests: with `COVERGENRE_TEST_PAUSE=<stage>:<n>`, the n-th file
/// (counting from 1) to reach `stage` (copied, edited, synced, renamed) prints a line and
/// waits to be killed, so a test can SIGKILL the process at exactly that point.
fn test_pause(stage: &str) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static REACHED: AtomicUsize = AtomicUsize::new(0);
    let Ok(spec) = std::env::var("COVERGENRE_TEST_PAUSE") else {
        return;
    };
    let Some((want_stage, n)) = spec.split_once(':') else {
        return;
    };
    if want_stage != stage {
        return;
    }
    let count = REACHED.fetch_add(1, Ordering::SeqCst) + 1;
    if n.parse() == Ok(count) {
        eprintln!("covergenre-test: paused at {stage} {count}");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(60));
        }
    }
}
