//! Where each planned track is written, so that tagging keeps the library's shape:
//!
//! - A track that is a symlink, or lies in a symlinked album folder, is written through the
//!   link: its target is written (copy beside the target, rename there) and the link is left
//!   as it is. Only when the target lies inside a root given on the command line; otherwise the
//!   track is skipped as `link outside the library`.
//! - A track with more than one hard link is skipped as `hard link (N links)` (the other
//!   names would keep the old bytes, and a copy would split them), unless `--hardlinks
//!   in-place`: then it is written in place ([`Method::InPlace`]), so every name sees the tags.
//!
//! The decision is made when the plan is made, so the plan shows it.

use super::plan::{AlbumPlan, TrackAction};
use super::safe_write::Method;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What to do with tracks that have several hard links (`--hardlinks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Hardlinks {
    /// Leave them alone, listed with the reason.
    #[default]
    Skip,
    /// Write them in place (a backup beside them while they are written).
    InPlace,
}

/// The reason a track outside every root is skipped.
pub const OUTSIDE: &str = "link outside the library";

/// Resolves the write target of every track the plans would write, and skips (with the
/// reason) those that must not be written. `roots` are the roots given on the command line.
pub fn place_tracks(plans: &mut [AlbumPlan], roots: &[PathBuf], hardlinks: Hardlinks) {
    let roots: Vec<PathBuf> = roots
        .iter()
        .map(|r| std::fs::canonicalize(r).unwrap_or_else(|_| r.clone()))
        .collect();
    // The file each target is first reached as: a file reached again (through a linked
    // album folder, say) is written once.
    let mut first_seen: HashMap<PathBuf, PathBuf> = HashMap::new();
    for track in plans.iter_mut().flat_map(|p| p.tracks.iter_mut()) {
        if track.action != TrackAction::Write {
            continue;
        }
        match place(&track.path, &roots, hardlinks) {
            Ok((target, _)) if first_seen.contains_key(&target) => {
                let first = first_seen[&target].display();
                track.action = TrackAction::Skip(format!("the same file as {first}"));
            }
            Ok((target, method)) => {
                first_seen.insert(target.clone(), track.path.clone());
                track.write_to = Some(target);
                track.method = method;
            }
            Err(reason) => track.action = TrackAction::Skip(reason),
        }
    }
}

/// The file to write for `track` and how, or why it is skipped.
pub fn place(
    track: &Path,
    roots: &[PathBuf],
    hardlinks: Hardlinks,
) -> Result<(PathBuf, Method), String> {
    let target =
        std::fs::canonicalize(track).map_err(|e| format!("cannot resolve its path: {e}"))?;
    if !roots.iter().any(|root| target.starts_with(root)) {
        return Err(OUTSIDE.into());
    }
    let links = std::fs::metadata(&target)
        .map_err(|e| format!("cannot read: {e}"))?
        .nlink();
    match (links, hardlinks) {
        (0 | 1, _) => Ok((target, Method::Replace)),
        (_, Hardlinks::InPlace) => Ok((target, Method::InPlace)),
        (n, Hardlinks::Skip) => Err(format!("hard link ({n} links)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_written_through_inside_the_library_and_hard_links_are_told() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("Music");
        let outside = dir.path().join("Elsewhere");
        for folder in [root.join("A"), outside.clone()] {
            std::fs::create_dir_all(folder).unwrap();
        }
        let real = root.join("A/01.mp3");
        std::fs::write(&real, b"x").unwrap();
        std::fs::write(outside.join("02.mp3"), b"y").unwrap();
        std::os::unix::fs::symlink(&real, root.join("A/link.mp3")).unwrap();
        std::os::unix::fs::symlink(outside.join("02.mp3"), root.join("A/out.mp3")).unwrap();
        std::os::unix::fs::symlink(root.join("A"), root.join("B")).unwrap();
        let roots = vec![root.canonicalize().unwrap()];
        let real_target = real.canonicalize().unwrap();

        for through in ["A/01.mp3", "A/link.mp3", "B/01.mp3"] {
            assert_eq!(
                place(&root.join(through), &roots, Hardlinks::Skip),
                Ok((real_target.clone(), Method::Replace)),
                "{through}"
            );
        }
        assert_eq!(
            place(&root.join("A/out.mp3"), &roots, Hardlinks::Skip),
            Err(OUTSIDE.to_string())
        );
        std::fs::hard_link(&real, outside.join("seeding.mp3")).unwrap();
        assert_eq!(
            place(&real, &roots, Hardlinks::Skip),
            Err("hard link (2 links)".to_string())
        );
        assert_eq!(
            place(&real, &roots, Hardlinks::InPlace),
            Ok((real_target, Method::InPlace))
        );
    }
}
