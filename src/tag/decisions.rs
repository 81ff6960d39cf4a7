//! The owner's decisions: per album, the genres to write or a skip. The review page saves
//! them as a decisions file (`--tag --apply --decisions FILE`); the terminal review makes
//! them one at a time. Either way a decision plus the album's tracks gives the album's plan
//! ([`Decision::plan`]), which the one writer writes.
//!
//! The file (version 1; album keys as [`super::document`] makes them, relative to the library
//! root given on the command line):
//!
//! ```json
//! {"version": 1, "decisions": [{"album": "Artist/Album", "action": "apply", "genres": ["Metal"]},
//!                              {"album": "Other/Album", "action": "skip"}]}
//! ```
//!
//! An entry may carry `tracks`, the [`Stamp`]s of the plan it was decided on; the album is
//! then written only while its tracks are exactly those (same files, sizes, modification
//! times and existing values). A file that is not JSON or has another version is refused
//! whole; a bad entry (no such album, a key leading outside the library, an empty genre or one
//! over [`MAX_GENRE_CHARS`] characters, changed tracks, a second entry for an album) is
//! refused alone, named with its number and album, and nothing is written for it.

use super::document::Stamp;
use super::plan::{self, AlbumPlan, GenresPerAlbum};
use crate::audio::fields::Field;
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

/// The longest genre a decision may name, in characters.
pub const MAX_GENRE_CHARS: usize = 200;

/// What the owner decided for one album.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Write `genres`.
    Apply,
    /// Leave the album alone.
    Skip,
}

/// One decision.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// The album folder relative to the library root.
    pub album: String,
    pub action: Action,
    /// The values to write, best first (with `apply`).
    #[serde(default)]
    pub genres: Vec<String>,
    /// The tracks as they were when the decision was made, checked when present.
    #[serde(default)]
    pub tracks: Option<Vec<Stamp>>,
}

/// A decisions file, read and checked entry by entry.
#[derive(Debug, Clone, Default)]
pub struct Decisions {
    /// The entries that can be applied, in file order, each with its album folder.
    pub accepted: Vec<(Decision, PathBuf)>,
    /// The entries refused, each as a message naming the file, the entry and the problem.
    pub refused: Vec<String>,
}

#[derive(Deserialize)]
struct FileHead {
    version: serde_json::Value,
    decisions: Vec<serde_json::Value>,
}

impl Decisions {
    /// Reads `path` and resolves each entry against the library `root`. Errors only for a
    /// file that cannot be used at all (unreadable, not JSON, another version).
    pub fn read(path: &Path, root: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the decisions file {}", path.display()))?;
        Self::parse(&text, &path.display().to_string(), root)
    }

    /// [`Decisions::read`] on the file's text; `name` names it in messages.
    pub fn parse(text: &str, name: &str, root: &Path) -> Result<Self> {
        let head: FileHead = serde_json::from_str(text).with_context(|| {
            format!(
                "{name} is not a decisions file (JSON {{\"version\": 1, \"decisions\": [...]}})"
            )
        })?;
        if head.version != serde_json::json!(super::document::VERSION) {
            bail!(
                "{name}: decisions file version {} is not known (this covergenre reads version {})",
                head.version,
                super::document::VERSION
            );
        }
        let mut decisions = Self::default();
        let mut seen = BTreeSet::new();
        for (i, entry) in head.decisions.into_iter().enumerate() {
            let album = entry
                .get("album")
                .and_then(|a| a.as_str())
                .map_or_else(|| "?".to_string(), String::from);
            let checked = serde_json::from_value::<Decision>(entry)
                .map_err(|e| e.to_string())
                .and_then(|d| d.checked(root).map(|folder| (d, folder)));
            match checked {
                Ok((decision, folder)) if seen.insert(folder.clone()) => {
                    decisions.accepted.push((decision, folder))
                }
                Ok(_) => decisions.refused.push(format!(
                    "{name}: decision {} (album {album:?}): a second decision for the same album, left alone",
                    i + 1
                )),
                Err(reason) => decisions.refused.push(format!(
                    "{name}: decision {} (album {album:?}): {reason}; left alone",
                    i + 1
                )),
            }
        }
        Ok(decisions)
    }
}

impl Decision {
    /// The album folder under `root`, after checking the genres and that the key names an
    /// album of the library.
    fn checked(&self, root: &Path) -> Result<PathBuf, String> {
        match self.action {
            Action::Apply if self.genres.is_empty() => {
                return Err("\"apply\" without \"genres\"".into())
            }
            Action::Apply => {}
            Action::Skip if !self.genres.is_empty() => {
                return Err("\"skip\" with \"genres\"".into())
            }
            Action::Skip => {}
        }
        for genre in &self.genres {
            if genre.trim().is_empty() {
                return Err("an empty genre".into());
            }
            let chars = genre.chars().count();
            if chars > MAX_GENRE_CHARS {
                return Err(format!(
                    "a genre of {chars} characters (at most {MAX_GENRE_CHARS})"
                ));
            }
        }
        album_folder(root, &self.album)
    }

    /// The plan of this decision for the album in `folder`, its tracks read now. With stamps,
    /// tracks that are no longer as they were make it an error naming the first difference.
    /// Several genres are written as several values, or joined as `count` says.
    pub fn plan(
        &self,
        folder: &Path,
        field: &Field,
        count: &GenresPerAlbum,
    ) -> Result<AlbumPlan, String> {
        let tracks = crate::data::albums::album_tracks(folder)
            .map_err(|failure| format!("cannot read the album: {}", failure.reason))?;
        let values = match self.action {
            Action::Apply => count.values(self.genres.clone()),
            Action::Skip => Vec::new(),
        };
        let plan = plan::plan_chosen(folder, tracks, field, values);
        if let Some(stamps) = &self.tracks {
            check_stamps(&plan, stamps)?;
        }
        Ok(plan)
    }
}

/// The folder of album `key` under `root`: a relative path without `..` that names an album
/// ([`crate::data::albums::album_at`]) inside the library, links resolved.
fn album_folder(root: &Path, key: &str) -> Result<PathBuf, String> {
    let relative = Path::new(key);
    let plain = relative
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if key.is_empty() || !plain {
        return Err("the album is outside the library (a key is a folder relative to the library root, without '..')".into());
    }
    let folder = if key == "." {
        root.to_path_buf()
    } else {
        root.join(relative)
    };
    let inside = match (folder.canonicalize(), root.canonicalize()) {
        (Ok(folder), Ok(root)) => folder.starts_with(root),
        _ => return Err(format!("no album {} in the library", folder.display())),
    };
    if !inside {
        return Err(format!(
            "{} leads outside the library (a link)",
            folder.display()
        ));
    }
    match crate::data::albums::album_at(&folder) {
        Some(Ok(_)) => Ok(folder),
        Some(Err(failure)) => Err(failure.to_string()),
        None => Err(format!(
            "{} is not an album of the library",
            folder.display()
        )),
    }
}

/// Whether the album's tracks are exactly those `stamps` describe.
fn check_stamps(plan: &AlbumPlan, stamps: &[Stamp]) -> Result<(), String> {
    let now: Vec<Stamp> = plan
        .tracks
        .iter()
        .map(|t| Stamp::of(&plan.folder, &t.path, t.current.clone()))
        .collect();
    for stamp in stamps {
        let Some(current) = now.iter().find(|s| s.file == stamp.file) else {
            return Err(format!("{} is gone since the plan", stamp.file));
        };
        if current != stamp {
            return Err(format!(
                "{} changed since the plan (size {} -> {}, modified {} -> {}, values {:?} -> {:?})",
                stamp.file,
                stamp.size,
                current.size,
                stamp.modified,
                current.modified,
                stamp.values,
                current.values
            ));
        }
    }
    if let Some(new) = now
        .iter()
        .find(|s| !stamps.iter().any(|t| t.file == s.file))
    {
        return Err(format!("{} is new since the plan", new.file));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn library() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for album in ["A/One", "B/Two"] {
            std::fs::create_dir_all(dir.path().join(album)).unwrap();
            std::fs::write(dir.path().join(album).join("01.mp3"), b"").unwrap();
        }
        dir
    }

    #[test]
    fn the_minimal_form_is_accepted() {
        let lib = library();
        let text = r#"{"version": 1, "decisions": [
            {"album": "A/One", "action": "apply", "genres": ["Metal"]},
            {"album": "B/Two", "action": "skip"}]}"#;
        let read = Decisions::parse(text, "d.json", lib.path()).unwrap();
        assert!(read.refused.is_empty(), "{:?}", read.refused);
        assert_eq!(read.accepted.len(), 2);
        assert_eq!(read.accepted[0].0.genres, ["Metal"]);
        assert_eq!(read.accepted[0].1, lib.path().join("A/One"));
        assert_eq!(read.accepted[1].0.action, Action::Skip);
    }

    #[test]
    fn bad_files_are_refused_whole_and_bad_entries_alone() {
        let lib = library();
        let not_json = Decisions::parse("{nope", "d.json", lib.path()).unwrap_err();
        assert!(format!("{not_json:#}").contains("d.json is not a decisions file"));
        let version = Decisions::parse(r#"{"version": 2, "decisions": []}"#, "d.json", lib.path())
            .unwrap_err();
        assert!(
            format!("{version:#}").contains("version 2 is not known"),
            "{version:#}"
        );
        let long = "x".repeat(201);
        let text = format!(
            r#"{{"version": 1, "decisions": [
            {{"album": "A/One", "action": "apply", "genres": [" "]}},
            {{"album": "A/One", "action": "apply", "genres": ["{long}"]}},
            {{"album": "../elsewhere", "action": "apply", "genres": ["Jazz"]}},
            {{"album": "/etc", "action": "skip"}},
            {{"album": "A", "action": "skip"}},
            {{"album": "C/Missing", "action": "skip"}},
            {{"album": "B/Two", "action": "apply"}},
            {{"album": "B/Two", "action": "write", "genres": ["Jazz"]}},
            {{"album": "B/Two", "action": "apply", "genres": ["Jazz"]}},
            {{"album": "B/Two", "action": "skip"}}]}}"#
        );
        let read = Decisions::parse(&text, "d.json", lib.path()).unwrap();
        assert_eq!(read.accepted.len(), 1, "{:?}", read.refused);
        assert_eq!(read.accepted[0].0.genres, ["Jazz"]);
        let refused = &read.refused;
        assert_eq!(refused.len(), 9, "{refused:#?}");
        let expect = [
            (1, "an empty genre"),
            (2, "a genre of 201 characters"),
            (3, "outside the library"),
            (4, "outside the library"),
            (5, "is not an album"),
            (6, "no album"),
            (7, "without \"genres\""),
            (8, "unknown variant `write`"),
            (10, "a second decision"),
        ];
        for ((n, what), message) in expect.iter().zip(refused) {
            assert!(
                message.starts_with(&format!("d.json: decision {n} (album "))
                    && message.contains(what),
                "{n} {what}: {message}"
            );
        }
    }
}
