//! Changing an audio file so that a kill at any moment leaves it either as it was or fully
//! changed, and so that the library keeps its shape: links, attributes, owner, times.
//!
//! Two methods ([`Method`]):
//! An edit is a list of splices ([`crate::audio::edit`]); what undoes it is handed to the
//! journal before the file is touched ([`rewrite`]'s `record`).
//!
//! - **Replace** (the default): the original is copied beside the file
//!   (`.<file>.covergenre-tmp`) with the splices applied on the way, in one pass; the copy
//!   gets the original's owner, permissions, extended attributes (`user.*`, POSIX ACLs,
//!   `security.*` where the process may set them) and modification time, is flushed to disk
//!   and renamed over the original (a rename within a folder is atomic). The file gets a new
//!   inode, which is why a hard-linked file is not written this way.
//! - **In place** (`--hardlinks in-place`): a complete backup is made beside the file first
//!   (`.<file>.covergenre-orig`, copied under a temporary name, flushed, then renamed, so a
//!   backup under that name is always whole), then the splices are written into the file
//!   itself (only the bytes from the first to the last when the length stays), flushed, and
//!   the backup is removed. The inode, and so every link, is kept. A run or undo that finds a
//!   backup ([`restore_backups`]) puts it back before anything else.
//!
//! Just before the rename (or the in-place rewrite), the file is checked against what the plan
//! read (device, inode, size, modification time): a track another program changed meanwhile is
//! left alone ([`WriteError::Changed`]). A full disk or a file system turned read-only is told
//! apart ([`WriteError::stops_the_run`]): there is no point trying the next file.
//!
//! Files and folders whose permission bits say read-only are left alone even when the
//! process could write them anyway (as root): the person marked them so on purpose.

use super::restore::Restore;
use crate::audio::edit::{apply, apply_range, Splice};
use crate::util::{parent_folder, TempBeside};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::fs::{File, Metadata, OpenOptions};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The suffix of the backup an in-place write keeps beside the file until it is done.
pub const BACKUP_SUFFIX: &str = ".covergenre-orig";

/// What identifies a file on disk: another file put at the same path (a new inode), or the
/// same file changed (size, modification time), shows here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub device: u64,
    pub inode: u64,
    pub size: u64,
    /// Modification time: seconds and nanoseconds since the epoch.
    pub modified: i64,
    pub modified_nanos: i64,
}

impl Identity {
    pub fn of(metadata: &Metadata) -> Self {
        Self {
            device: metadata.dev(),
            inode: metadata.ino(),
            size: metadata.size(),
            modified: metadata.mtime(),
            modified_nanos: metadata.mtime_nsec(),
        }
    }

    /// The identity of the file at `path` (following symlinks).
    pub fn read(path: &Path) -> std::io::Result<Self> {
        std::fs::metadata(path).map(|m| Self::of(&m))
    }

    /// Whether `other` is this very file (device and inode), whatever its content.
    pub fn same_file(&self, other: &Self) -> bool {
        self.device == other.device && self.inode == other.inode
    }
}

/// How a file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// A copy beside the file, renamed over it.
    #[default]
    Replace,
    /// The file itself, after a backup beside it: keeps the inode and every hard link.
    InPlace,
}

/// How to write one file.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions {
    /// Give the file the current time as its modification time instead of keeping it.
    pub touch: bool,
    pub method: Method,
    /// What the plan read; a file that differs from it is left alone.
    pub expected: Option<Identity>,
}

/// A file written.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// The file as it is now (for the journal: undo notices a file replaced since).
    pub identity: Identity,
    /// Extended attributes of the original that the copy could not be given, with the reason.
    pub attributes_not_kept: Vec<String>,
}

/// Why a file was not written; the original is as it was in every case.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Another program changed or replaced the file since the plan read it.
    #[error("changed during the run ({0}): left alone")]
    Changed(String),
    /// No space left for the copy (or the backup).
    #[error("no space left on the device: writing it needs {needed} bytes free in {folder}")]
    DiskFull { needed: u64, folder: PathBuf },
    /// The file system turned read-only.
    #[error("the file system is read-only now: {0:#}")]
    ReadOnly(anyhow::Error),
    #[error("{0:#}")]
    Other(anyhow::Error),
}

impl WriteError {
    /// Whether the next file would fail the same way, so the run should stop writing.
    pub fn stops_the_run(&self) -> bool {
        matches!(self, Self::DiskFull { .. } | Self::ReadOnly(_))
    }

    /// Sorts an error of writing `path` (whose copy needs `needed` bytes) by its cause.
    fn of(error: anyhow::Error, path: &Path, needed: u64) -> Self {
        use rustix::io::Errno;
        let code = error
            .chain()
            .filter_map(|e| e.downcast_ref::<std::io::Error>())
            .find_map(std::io::Error::raw_os_error)
            .map(Errno::from_raw_os_error);
        // An error whose OS error reached it only as text (no `io::Error` in its chain)
        // still says why in its message.
        let text = format!("{error:#}");
        let full = matches!(code, Some(Errno::NOSPC | Errno::DQUOT))
            || text.contains("No space left on device");
        if full {
            let folder = parent_folder(path).to_path_buf();
            return Self::DiskFull { needed, folder };
        }
        if code == Some(Errno::ROFS) || text.contains("Read-only file system") {
            return Self::ReadOnly(error);
        }
        Self::Other(error)
    }
}

/// Why a file must not be written, if it must not.
pub fn read_only_reason(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let no_write_bits =
        |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o222 == 0);
    if no_write_bits(path) {
        return Some("read-only file".into());
    }
    let folder = parent_folder(path);
    if no_write_bits(folder) {
        return Some(format!("read-only folder {}", folder.display()));
    }
    // A read-only mount refuses even root, whatever the permission bits say.
    if rustix::fs::access(folder, rustix::fs::Access::WRITE_OK) == Err(rustix::io::Errno::ROFS) {
        return Some(format!("read-only file system at {}", folder.display()));
    }
    None
}

/// Rewrites `path` with the splices `edit` answers for the original (opened for reading):
/// the bytes outside them are copied as they are. `record` gets what undoes the write, and
/// must have kept it (flushed to the journal) before it returns: the file is replaced only
/// after. An edit without splices writes nothing.
pub fn rewrite(
    path: &Path,
    options: WriteOptions,
    edit: impl FnOnce(&mut File) -> Result<Vec<Splice>>,
    record: impl FnOnce(&Restore) -> Result<()>,
) -> Result<Written, WriteError> {
    let before = std::fs::metadata(path)
        .context("cannot read")
        .map_err(WriteError::Other)?;
    check_unchanged(path, options.expected, &before, "modified since the plan")?;
    let needed = before.size();
    let result = (|| {
        let mut original =
            File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let splices = edit(&mut original)?;
        if splices.is_empty() {
            return Ok(Written {
                identity: Identity::of(&before),
                attributes_not_kept: Vec::new(),
            });
        }
        let len = before.size();
        crate::audio::edit::check(&splices, len)?;
        record(&Restore::of(&mut original, len, &splices)?)?;
        let edited = Edited {
            original: &mut original,
            len,
            splices: &splices,
        };
        match options.method {
            Method::Replace => replace(path, options.touch, &before, edited),
            Method::InPlace => in_place(path, options.touch, &before, edited),
        }
    })();
    result.map_err(|e| match e.downcast::<Changed>() {
        Ok(Changed(why)) => WriteError::Changed(why),
        Err(e) => WriteError::of(e, path, needed),
    })
}

/// The original, open, and the splices to apply to it.
struct Edited<'a> {
    original: &'a mut File,
    len: u64,
    splices: &'a [Splice],
}

/// An error that says the file changed under us (carried through anyhow to [`rewrite`]).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Changed(String);

fn check_unchanged(
    path: &Path,
    expected: Option<Identity>,
    now: &Metadata,
    what: &str,
) -> Result<(), WriteError> {
    match expected {
        Some(expected) if expected != Identity::of(now) => Err(WriteError::Changed(format!(
            "{what}: {}",
            describe_change(&expected, &Identity::of(now), path)
        ))),
        _ => Ok(()),
    }
}

fn describe_change(before: &Identity, now: &Identity, path: &Path) -> String {
    if !before.same_file(now) {
        format!("{} was replaced by another file", path.display())
    } else if before.size != now.size {
        format!("size {} -> {} bytes", before.size, now.size)
    } else {
        "modification time differs".into()
    }
}

/// The original still is the file `before` described, just before it is replaced.
fn still_unchanged(path: &Path, before: &Metadata) -> Result<()> {
    let now = std::fs::metadata(path).context("cannot read")?;
    if Identity::of(&now) != Identity::of(before) {
        let why = describe_change(&Identity::of(before), &Identity::of(&now), path);
        return Err(Changed(format!(
            "another program wrote it while it was tagged: {why}"
        ))
        .into());
    }
    Ok(())
}

fn replace(path: &Path, touch: bool, before: &Metadata, edited: Edited<'_>) -> Result<Written> {
    use std::io::Write;
    let tmp = TempBeside::create(path)?;
    let mut file = OpenOptions::new()
        .write(true)
        .open(tmp.path())
        .with_context(|| format!("cannot open {}", tmp.path().display()))?;
    let mut out = std::io::BufWriter::new(&mut file);
    apply(edited.original, edited.len, edited.splices, &mut out)?;
    out.flush()?;
    drop(out);
    // The copy and the edit are one pass; both kill points stay for the tests.
    test_pause("copied");
    test_pause("edited");
    // Owner first: changing it clears attributes such as security.capability (and set-id
    // bits, so the mode comes after).
    keep_owner(&file, before);
    file.set_permissions(before.permissions())
        .context("cannot keep the permissions")?;
    let attributes_not_kept = copy_attributes(path, &file);
    if !touch {
        file.set_modified(before.modified()?)
            .context("cannot keep the modification time")?;
    }
    file.sync_all().context("cannot flush to disk")?;
    drop(file);
    test_pause("synced");
    still_unchanged(path, before)?;
    tmp.persist()
        .with_context(|| format!("cannot move the tagged copy over {}", path.display()))?;
    test_pause("renamed");
    Ok(Written {
        identity: Identity::read(path)?,
        attributes_not_kept,
    })
}

fn in_place(path: &Path, touch: bool, before: &Metadata, edited: Edited<'_>) -> Result<Written> {
    let backup = backup_path_for(path);
    make_backup(path, &backup, before)?;
    test_pause("backed-up");
    still_unchanged(path, before)?;
    let mut source = File::open(&backup)
        .with_context(|| format!("cannot open the backup {}", backup.display()))?;
    let mut file = OpenOptions::new()
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    rewrite_in_place(&mut source, edited.len, edited.splices, &mut file)?;
    if !touch {
        file.set_modified(before.modified()?)
            .context("cannot keep the modification time")?;
    }
    file.sync_all().context("cannot flush to disk")?;
    drop(file);
    test_pause("rewritten");
    std::fs::remove_file(&backup)
        .with_context(|| format!("cannot remove the backup {}", backup.display()))?;
    sync_folder(path);
    Ok(Written {
        identity: Identity::read(path)?,
        attributes_not_kept: Vec::new(),
    })
}

/// Writes `splices` into `file` itself from its copy `source` (`len` bytes): from the first
/// splice to the last when they keep the length (the audio after a tag whose padding took the
/// change is not rewritten), else to the end, and sets the new length.
fn rewrite_in_place(
    source: &mut File,
    len: u64,
    splices: &[Splice],
    file: &mut File,
) -> Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    let (Some(first), Some(last)) = (splices.first(), splices.last()) else {
        return Ok(());
    };
    let growth: i64 = splices.iter().map(Splice::growth).sum();
    let until = if growth == 0 { last.end } else { len };
    file.seek(SeekFrom::Start(first.start))?;
    let mut out = std::io::BufWriter::new(&mut *file);
    apply_range(source, first.start..until, splices, &mut out)?;
    out.flush()?;
    drop(out);
    if growth != 0 {
        file.set_len((len as i64 + growth) as u64)?;
    }
    Ok(())
}

/// `.<name>.covergenre-orig` beside `path`.
pub fn backup_path_for(path: &Path) -> PathBuf {
    let mut name = OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(BACKUP_SUFFIX);
    parent_folder(path).join(name)
}

/// The file a backup name stands for, if `name` is one.
fn original_name_of(name: &std::ffi::OsStr) -> Option<OsString> {
    let bytes = name.as_encoded_bytes();
    let inner = bytes
        .strip_prefix(b".")?
        .strip_suffix(BACKUP_SUFFIX.as_bytes())?;
    use std::os::unix::ffi::OsStrExt;
    (!inner.is_empty()).then(|| std::ffi::OsStr::from_bytes(inner).to_os_string())
}

/// A whole copy of `path` at `backup`: copied under the temporary name (which the next run
/// removes if it is killed now), flushed, then renamed, so `backup` is never partial.
fn make_backup(path: &Path, backup: &Path, before: &Metadata) -> Result<()> {
    let tmp = TempBeside::copy_of(path)?;
    let copy = File::options().write(true).open(tmp.path())?;
    copy.set_modified(before.modified()?)?;
    copy.sync_all().context("cannot flush the backup to disk")?;
    drop(copy);
    std::fs::rename(tmp.path(), backup)
        .with_context(|| format!("cannot make the backup {}", backup.display()))?;
    sync_folder(path);
    Ok(())
}

/// Puts back every backup a killed in-place write left in `folder` (not recursive): the
/// backup's bytes are copied into the original file itself, so its inode and links stay.
/// Returns the files restored, and the problems met.
pub fn restore_backups(folder: &Path) -> (Vec<PathBuf>, Vec<String>) {
    let (mut restored, mut problems) = (Vec::new(), Vec::new());
    let Ok(entries) = std::fs::read_dir(folder) else {
        return (restored, problems);
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let Some(original) = original_name_of(&entry.file_name()) else {
            continue;
        };
        let (backup, target) = (entry.path(), folder.join(original));
        match restore_backup(&backup, &target) {
            Ok(()) => restored.push(target),
            Err(e) => problems.push(format!(
                "{}: cannot put back the backup {}: {e:#}",
                target.display(),
                backup.display()
            )),
        }
    }
    (restored, problems)
}

fn restore_backup(backup: &Path, target: &Path) -> Result<()> {
    let saved = std::fs::metadata(backup)?;
    let mut from = File::open(backup)?;
    let mut to = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(target)
        .with_context(|| format!("cannot open {}", target.display()))?;
    std::io::copy(&mut from, &mut to)?;
    to.set_modified(saved.modified()?)?;
    to.sync_all()?;
    std::fs::remove_file(backup)?;
    sync_folder(target);
    Ok(())
}

/// Flushes the folder of `path`, so a rename or removal in it survives a power cut.
fn sync_folder(path: &Path) {
    if let Ok(dir) = File::open(parent_folder(path)) {
        dir.sync_all().ok();
    }
}

/// The copy belongs to whoever runs us; give it the original's owner and group (allowed for
/// root, and for a group the user is in; otherwise the file was ours anyway).
fn keep_owner(file: &File, before: &Metadata) {
    std::os::unix::fs::fchown(file, Some(before.uid()), Some(before.gid())).ok();
}

/// Gives `copy` every extended attribute of `original` (ACLs are attributes too); returns
/// those that could not be set (a `security.*` one without the privilege, say), with why.
fn copy_attributes(original: &Path, copy: &File) -> Vec<String> {
    use xattr::FileExt;
    let names = match xattr::list(original) {
        Ok(names) => names,
        // A file system without attributes has none to keep.
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOTSUP.raw_os_error()) => {
            return Vec::new()
        }
        Err(e) => return vec![format!("(cannot list them: {e})")],
    };
    let mut not_kept = Vec::new();
    for name in names {
        let shown = name.to_string_lossy().into_owned();
        let copied = xattr::get(original, &name).and_then(|value| match value {
            Some(value) => copy.set_xattr(&name, &value),
            None => Ok(()),
        });
        if let Err(e) = copied {
            not_kept.push(format!("{shown} ({e})"));
        }
    }
    not_kept
}

/// Test hook for the kill tests: with `COVERGENRE_TEST_PAUSE=<stage>:<n>`, the n-th file
/// (counting from 1) to reach `stage` (copied, edited, synced, renamed; backed-up, rewritten
/// for in-place writes) prints a line and waits to be killed, so a test can SIGKILL the
/// process at exactly that point. `<stage>:<n>:<file>` waits until `<file>` exists instead
/// and then goes on (a test changes the track meanwhile).
fn test_pause(stage: &str) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static REACHED: AtomicUsize = AtomicUsize::new(0);
    let Ok(spec) = std::env::var("COVERGENRE_TEST_PAUSE") else {
        return;
    };
    let mut parts = spec.splitn(3, ':');
    let (Some(want_stage), Some(n)) = (parts.next(), parts.next()) else {
        return;
    };
    if want_stage != stage {
        return;
    }
    let count = REACHED.fetch_add(1, Ordering::SeqCst) + 1;
    if n.parse() != Ok(count) {
        return;
    }
    eprintln!("covergenre-test: paused at {stage} {count}");
    match parts.next() {
        Some(go_on_when) => {
            let started = std::time::Instant::now();
            while !Path::new(go_on_when).exists() && started.elapsed().as_secs() < 60 {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        None => loop {
            std::thread::sleep(std::time::Duration::from_secs(60));
        },
    }
}

#[cfg(test)]
mod tests;
