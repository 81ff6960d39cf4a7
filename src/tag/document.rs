//! The plan as data (`--tag --format json|jsonl`): per album its key, folder, each track's
//! existing values and stamp, the model's top genres with the values they would be written as,
//! the proposal, and the action or the reason it is skipped.
//!
//! The album key (the folder relative to the library root given on the command line, `/`
//! between parts, `.` for the root itself) and the track stamps (size, modification time,
//! existing values) are what a decisions file ([`super::decisions`]) refers to, so they are
//! made here and nowhere else.

use super::plan::{AlbumPlan, Candidate, Summary, TrackAction, TrackPlan};
use crate::audio::fields::Field;
use crate::covers::CoverUsed;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Version of the plan document and of the decisions file.
pub const VERSION: u32 = 1;

/// The whole plan (`--format json`).
#[derive(Debug, Clone, Serialize)]
pub struct PlanDocument {
    pub version: u32,
    /// Identifies this plan (its album keys and track stamps): the review page keys its saved
    /// decisions by it.
    pub plan: String,
    /// The field the plan writes.
    pub field: String,
    /// The `--min-confidence` in force.
    pub min_confidence: f32,
    pub albums: Vec<AlbumEntry>,
    pub summary: Summary,
    /// What the artist context measured (absent with `--no-artist-context`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artists: Option<super::artists::ArtistSummary>,
}

/// One album of the plan (a line of `--format jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlbumEntry {
    /// The folder relative to `root`: the key a decisions file uses.
    pub album: String,
    /// The library root (as given on the command line) the album was found under.
    pub root: String,
    /// The album folder, as the text plan shows it.
    pub folder: String,
    /// `write` (something to write) or `skip`.
    pub action: String,
    /// Why the album is skipped (`low confidence`, `existing genre`, `no cover`, ...).
    pub reason: Option<String>,
    /// More about the reason (why no cover could be read, which formats cannot be tagged,
    /// why the album cannot be read).
    pub detail: Option<String>,
    /// The values the plan writes, best first (empty when the album is skipped for want of a
    /// proposal).
    pub genres: Vec<String>,
    /// The best probability.
    pub probability: Option<f32>,
    /// The model's top genres, most probable first.
    pub top: Vec<TopGenre>,
    pub tracks: Vec<TrackEntry>,
    /// The cover the proposal came from: its file, the step of the front-cover rule that chose
    /// it (`cover-name`, `album-name`, `only-image`, `embedded`, `listed`), and candidates
    /// passed over because they could not be decoded. Absent when no cover was classified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cover: Option<CoverUsed>,
    /// What the library says about the album's artist ([`crate::artist_context::Said`]): its
    /// name, where the name came from (`album-artist`, `artist`, `folder`), the genres of its
    /// other albums with genres, the weight used and the cover's own best genre. Absent for
    /// compilations, albums without an artist, and with `--no-artist-context`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artist: Option<crate::artist_context::Said>,
}

/// One of the top genres: slug, the value written for it, probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopGenre {
    pub genre: String,
    pub value: String,
    pub probability: f32,
}

/// One track: its stamp and what the plan does to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackEntry {
    #[serde(flatten)]
    pub stamp: Stamp,
    /// `write`, `unchanged`, `skip` or `fail`.
    pub action: String,
    pub reason: Option<String>,
}

/// What a track was when the plan was made: a decision carrying it is applied only while the
/// track is still so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// The track relative to its album folder (`CD1/01.flac` for a disc's track).
    pub file: String,
    pub size: u64,
    /// Modification time, RFC 3339 in UTC with nanoseconds (a string: JavaScript numbers
    /// cannot hold nanoseconds since 1970).
    pub modified: String,
    /// The field's values (empty: absent).
    pub values: Vec<String>,
}

impl Stamp {
    /// The stamp of `path` (a track of the album in `folder`) with its current `values`.
    pub fn of(folder: &Path, path: &Path, values: Vec<String>) -> Self {
        let metadata = std::fs::metadata(path).ok();
        let modified = metadata
            .as_ref()
            .and_then(|m| m.modified().ok())
            .map(|t| {
                chrono::DateTime::<chrono::Utc>::from(t)
                    .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
            })
            .unwrap_or_default();
        Self {
            file: relative_key(folder, path),
            size: metadata.map_or(0, |m| m.len()),
            modified,
            values,
        }
    }
}

/// `path` relative to `base` with `/` between parts; `.` for `base` itself. A path outside
/// `base` keeps its full form.
pub fn relative_key(base: &Path, path: &Path) -> String {
    match path.strip_prefix(base) {
        Ok(rest) if rest.as_os_str().is_empty() => ".".into(),
        Ok(rest) => rest
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"),
        Err(_) => path.to_string_lossy().into_owned(),
    }
}

/// The root (of `roots`, as given on the command line) that `folder` was found under.
pub fn root_of<'a>(roots: &'a [PathBuf], folder: &Path) -> Option<&'a Path> {
    roots
        .iter()
        .filter(|root| folder.starts_with(root))
        .max_by_key(|root| root.components().count())
        .map(PathBuf::as_path)
}

impl AlbumEntry {
    /// The entry of one album plan; `roots` are the library roots of the run.
    pub fn of(plan: &AlbumPlan, roots: &[PathBuf]) -> Self {
        let root = root_of(roots, &plan.folder).unwrap_or(&plan.folder);
        let (reason, detail) = match &plan.skip {
            None => (None, None),
            Some(reason) => (
                Some(reason.key().to_string()),
                reason.detail().map(String::from),
            ),
        };
        Self {
            album: relative_key(root, &plan.folder),
            root: root.display().to_string(),
            folder: plan.folder.display().to_string(),
            action: if plan.skip.is_none() { "write" } else { "skip" }.into(),
            reason,
            detail,
            genres: plan.values.clone(),
            probability: plan.probability,
            top: plan.top.iter().map(TopGenre::of).collect(),
            tracks: plan
                .tracks
                .iter()
                .map(|t| TrackEntry::of(&plan.folder, t))
                .collect(),
            cover: plan.cover.clone(),
            artist: plan.artist.clone(),
        }
    }
}

impl TopGenre {
    fn of(candidate: &Candidate) -> Self {
        Self {
            genre: candidate.genre.clone(),
            value: candidate.value.clone(),
            probability: candidate.probability,
        }
    }
}

impl TrackEntry {
    fn of(folder: &Path, track: &TrackPlan) -> Self {
        let (action, reason) = match &track.action {
            TrackAction::Write => ("write", None),
            TrackAction::Unchanged => ("unchanged", None),
            TrackAction::Skip(why) => ("skip", Some(why.clone())),
            TrackAction::Fail(why) => ("fail", Some(why.clone())),
        };
        Self {
            stamp: Stamp::of(folder, &track.path, track.current.clone()),
            action: action.into(),
            reason,
        }
    }
}

/// A stable identifier of a plan: a hash of its album keys and track stamps.
pub fn plan_id(albums: &[AlbumEntry]) -> String {
    let mut text = String::new();
    for album in albums {
        text.push_str(&album.root);
        text.push('\n');
        text.push_str(&album.album);
        for track in &album.tracks {
            let s = &track.stamp;
            text.push_str(&format!(
                "\n{}\t{}\t{}\t{:?}",
                s.file, s.size, s.modified, s.values
            ));
        }
        text.push('\n');
    }
    format!("{:016x}", crate::util::fnv1a64(text.as_bytes()))
}

impl PlanDocument {
    pub fn of(
        plans: &[AlbumPlan],
        roots: &[PathBuf],
        field: &Field,
        min_confidence: f32,
        artists: Option<&super::artists::ArtistSummary>,
    ) -> Self {
        let albums: Vec<AlbumEntry> = plans.iter().map(|p| AlbumEntry::of(p, roots)).collect();
        Self {
            version: VERSION,
            plan: plan_id(&albums),
            field: field.describe(),
            min_confidence,
            albums,
            summary: Summary::of(plans),
            artists: artists.cloned(),
        }
    }

    /// The whole document (`json`), or one album a line (`jsonl`).
    pub fn write(&self, lines: bool, out: &mut dyn Write) -> anyhow::Result<()> {
        if lines {
            for album in &self.albums {
                serde_json::to_writer(&mut *out, album)?;
                writeln!(out)?;
            }
        } else {
            serde_json::to_writer_pretty(&mut *out, self)?;
            writeln!(out)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_relative_with_slashes_and_dot_for_the_root() {
        let root = Path::new("/music");
        assert_eq!(relative_key(root, Path::new("/music/A/B")), "A/B");
        assert_eq!(relative_key(root, Path::new("/music")), ".");
        let roots = [PathBuf::from("/music"), PathBuf::from("/music/A")];
        assert_eq!(
            root_of(&roots, Path::new("/music/A/B")),
            Some(Path::new("/music/A"))
        );
        assert_eq!(root_of(&roots, Path::new("/other")), None);
    }
}
