//! What a tagging run would do: per album, its tracks with their current and proposed genre,
//! or the reason it is skipped; rendered for people, counted in a summary.

use super::safe_write::{read_only_reason, Identity, Method};
use crate::audio::fields::{self, Field};
use crate::failure::Failure;
use crate::genres::GenreSet;
use crate::report::classify::{Record, UNCERTAIN};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// How the genre is spelled in the tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum GenreStyle {
    /// The display name ("Rap & Hip-Hop").
    #[default]
    Name,
    /// The slug ("rap-hip-hop").
    Slug,
}

/// Why an album is left alone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum SkipReason {
    /// Its best probability is under `--min-confidence`.
    LowConfidence,
    /// A track already has a different value in the field (and no `--overwrite`).
    HasGenre,
    /// No cover could be classified (none found, or unreadable).
    NoCover(String),
    /// The folder holds no audio files to tag.
    NoTracks,
    /// Every track already carries the proposed genre.
    AlreadyTagged,
    /// The owner decided to skip it (a decisions file, the terminal review).
    Declined,
    /// The owner kept the genre it has (the terminal review).
    Kept,
    /// The review's journal shows it was decided before (written or kept), and its tracks
    /// still carry what was decided.
    DecidedBefore,
    /// The terminal review was stopped (`b`) before reaching it.
    NotReached,
}

impl SkipReason {
    /// The summary's name for the reason.
    pub fn key(&self) -> &'static str {
        match self {
            Self::LowConfidence => "low confidence",
            Self::HasGenre => "existing genre",
            Self::NoCover(_) => "no cover",
            Self::NoTracks => "no audio files",
            Self::AlreadyTagged => "already tagged",
            Self::Declined => "skipped by decision",
            Self::Kept => "existing kept by decision",
            Self::DecidedBefore => "decided before",
            Self::NotReached => "not reached",
        }
    }
}

/// What happens to one track.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum TrackAction {
    Write,
    /// It already carries the proposed value.
    Unchanged,
    /// Read-only file or folder, or tags that cannot be read: reported, left alone.
    Skip(String),
    Fail(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct TrackPlan {
    /// The track as found in the library (a symlink stays a symlink: see `write_to`).
    pub path: PathBuf,
    /// The field's value now (`None`: absent or unreadable).
    pub current: Option<String>,
    pub action: TrackAction,
    /// The file as the plan read it (links followed): a file changed since is left alone.
    #[serde(skip)]
    pub identity: Option<Identity>,
    /// The file written: the absolute path with links resolved, set by
    /// [`super::links::place_tracks`] for tracks to write.
    #[serde(skip)]
    pub write_to: Option<PathBuf>,
    #[serde(skip)]
    pub method: Method,
}

impl TrackPlan {
    /// The file a write goes to (the resolved target, else the path as found).
    pub fn target(&self) -> &Path {
        self.write_to.as_deref().unwrap_or(&self.path)
    }
}

/// One of the model's top genres, with the value it would be written as.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    /// The genre's slug.
    pub genre: String,
    /// The text written for it (see [`genre_value`]).
    pub value: String,
    pub probability: f32,
}

/// The proposal for one album.
#[derive(Debug, Clone, Serialize)]
pub struct AlbumPlan {
    pub folder: PathBuf,
    /// The model's best genre (slug), its probability, and the value to write.
    pub genre: Option<String>,
    pub probability: Option<f32>,
    pub value: Option<String>,
    /// The model's top genres (`--top-k`), most probable first; empty without a cover.
    pub top: Vec<Candidate>,
    pub tracks: Vec<TrackPlan>,
    pub skip: Option<SkipReason>,
}

/// What the planner needs to know.
pub struct PlanOptions<'a> {
    pub field: &'a Field,
    pub style: GenreStyle,
    pub overwrite: bool,
    pub genres: &'a GenreSet,
}

/// The value written for a genre slug.
pub fn genre_value(slug: &str, style: GenreStyle, genres: &GenreSet) -> String {
    match style {
        GenreStyle::Slug => slug.to_string(),
        GenreStyle::Name => genres.iter().find(|g| g.slug == slug).map_or_else(
            || crate::genres::display_name(slug).to_string(),
            |g| g.name.clone(),
        ),
    }
}

/// Plans an album the model classified.
pub fn plan_classified(
    folder: &Path,
    record: &Record,
    tracks: Vec<PathBuf>,
    options: &PlanOptions,
) -> AlbumPlan {
    let best = record.top.first().map(|r| r.genre.clone());
    let value = best
        .as_deref()
        .map(|slug| genre_value(slug, options.style, options.genres));
    let top = record
        .top
        .iter()
        .map(|r| Candidate {
            genre: r.genre.clone(),
            value: genre_value(&r.genre, options.style, options.genres),
            probability: r.probability,
        })
        .collect();
    let mut plan = AlbumPlan {
        folder: folder.to_path_buf(),
        genre: best,
        probability: Some(record.probability),
        value: value.clone(),
        top,
        tracks: Vec::new(),
        skip: None,
    };
    plan.tracks = tracks
        .into_iter()
        .map(|path| plan_track(path, options.field, value.as_deref()))
        .collect();
    plan.skip = if record.genre == UNCERTAIN {
        Some(SkipReason::LowConfidence)
    } else if plan.tracks.is_empty() {
        Some(SkipReason::NoTracks)
    } else if !options.overwrite
        && plan
            .tracks
            .iter()
            .any(|t| has_other_value(t, value.as_deref()))
    {
        Some(SkipReason::HasGenre)
    } else if plan
        .tracks
        .iter()
        .all(|t| t.action == TrackAction::Unchanged)
    {
        Some(SkipReason::AlreadyTagged)
    } else {
        None
    };
    plan
}

/// Plans an album whose cover could not be classified.
pub fn plan_failed(failure: &Failure, tracks: Vec<PathBuf>, field: &Field) -> AlbumPlan {
    AlbumPlan {
        folder: failure.path.clone(),
        genre: None,
        probability: None,
        value: None,
        top: Vec::new(),
        tracks: tracks
            .into_iter()
            .map(|path| plan_track(path, field, None))
            .collect(),
        skip: Some(SkipReason::NoCover(failure.reason.clone())),
    }
}

/// Plans an album whose genre the owner chose: `value` is written to every track that does
/// not already carry it, whatever it had (the owner saw it when deciding); `None` is a skip.
pub fn plan_chosen(
    folder: &Path,
    tracks: Vec<PathBuf>,
    field: &Field,
    value: Option<String>,
) -> AlbumPlan {
    let tracks: Vec<TrackPlan> = tracks
        .into_iter()
        .map(|path| plan_track(path, field, value.as_deref()))
        .collect();
    let skip = if value.is_none() {
        Some(SkipReason::Declined)
    } else if tracks.is_empty() {
        Some(SkipReason::NoTracks)
    } else if tracks.iter().all(|t| t.action == TrackAction::Unchanged) {
        Some(SkipReason::AlreadyTagged)
    } else {
        None
    };
    AlbumPlan {
        folder: folder.to_path_buf(),
        genre: None,
        probability: None,
        value,
        top: Vec::new(),
        tracks,
        skip,
    }
}

fn has_other_value(track: &TrackPlan, value: Option<&str>) -> bool {
    track
        .current
        .as_deref()
        .is_some_and(|c| !c.trim().is_empty() && Some(c) != value)
}

fn plan_track(path: PathBuf, field: &Field, value: Option<&str>) -> TrackPlan {
    let current = match fields::read(&path, field) {
        Ok(current) => current,
        Err(e) => {
            return TrackPlan {
                path,
                current: None,
                action: TrackAction::Fail(format!("{e:#}")),
                identity: None,
                write_to: None,
                method: Method::Replace,
            }
        }
    };
    let identity = Identity::read(&path).ok();
    let action = if current.is_some() && current.as_deref() == value {
        TrackAction::Unchanged
    } else if let Some(reason) = read_only_reason(&path) {
        TrackAction::Skip(reason)
    } else {
        TrackAction::Write
    };
    TrackPlan {
        path,
        current,
        action,
        identity,
        write_to: None,
        method: Method::Replace,
    }
}

/// Counts of a plan (or of an applied plan, after [`Summary::record_result`]).
#[derive(Debug, Default, Clone, Serialize)]
pub struct Summary {
    /// Albums with at least one track to write (written, with --apply).
    pub albums_tagged: usize,
    pub tracks_tagged: usize,
    pub skipped: BTreeMap<String, usize>,
    /// Tracks left alone inside tagged albums (read-only, links, changed during the run).
    pub tracks_skipped: usize,
    /// Albums with a track that could not be read or written.
    pub albums_failed: usize,
    pub tracks_failed: usize,
}

impl Summary {
    pub fn of(plans: &[AlbumPlan]) -> Self {
        let mut summary = Self::default();
        for plan in plans {
            if let Some(reason) = &plan.skip {
                *summary.skipped.entry(reason.key().to_string()).or_default() += 1;
                continue;
            }
            let count = |want: fn(&TrackAction) -> bool| {
                plan.tracks.iter().filter(|t| want(&t.action)).count()
            };
            let writes = count(|a| *a == TrackAction::Write);
            let failed = count(|a| matches!(a, TrackAction::Fail(_)));
            summary.tracks_tagged += writes;
            summary.tracks_failed += failed;
            summary.tracks_skipped += count(|a| matches!(a, TrackAction::Skip(_)));
            summary.albums_tagged += usize::from(writes > 0);
            summary.albums_failed += usize::from(failed > 0);
        }
        summary
    }

    /// One line: `<verb> N album(s) (M tracks); skipped: ...; failed: ...`.
    pub fn line(&self, verb: &str) -> String {
        let skipped = if self.skipped.is_empty() {
            "none".to_string()
        } else {
            self.skipped
                .iter()
                .map(|(reason, n)| format!("{n} {reason}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "{verb} {} album(s) ({} track(s), {} track(s) left alone); skipped albums: {skipped}; failed: {} album(s) ({} track(s))",
            self.albums_tagged, self.tracks_tagged, self.tracks_skipped, self.albums_failed, self.tracks_failed
        )
    }
}

/// The plan for people: per album its folder and genre, per track `existing -> proposed`.
pub fn render(plans: &[AlbumPlan], field: &Field, out: &mut dyn Write) -> std::io::Result<()> {
    for plan in plans {
        let folder = plan.folder.display();
        let guess = match (&plan.value, plan.probability) {
            (Some(value), Some(p)) => format!("{value} ({p:.3})"),
            _ => "-".into(),
        };
        match &plan.skip {
            Some(SkipReason::NoCover(reason)) => {
                writeln!(out, "SKIP  {folder}: no cover ({reason})")?
            }
            Some(reason) => writeln!(out, "SKIP  {folder}: {} [{guess}]", reason.key())?,
            None => writeln!(out, "ALBUM {folder}: {} = {guess}", field.describe())?,
        }
        for track in &plan.tracks {
            let name = track.path.file_name().unwrap_or_default().to_string_lossy();
            let now = track.current.as_deref().unwrap_or("(none)");
            let proposed = plan.value.as_deref().unwrap_or("-");
            let note = match &track.action {
                TrackAction::Write | TrackAction::Unchanged => String::new(),
                TrackAction::Skip(reason) => format!("  [skipped: {reason}]"),
                TrackAction::Fail(reason) => format!("  [failed: {reason}]"),
            };
            writeln!(out, "      {name}: {now} -> {proposed}{note}")?;
        }
    }
    Ok(())
}

/// Shows a plan on its review-page card: skipped albums move to the skipped group (low
/// confidence ones stay uncertain), with the reason; the others list `existing -> proposed`.
pub fn annotate(card: &mut crate::report::html::Card, plan: &AlbumPlan) {
    let tracks = |plan: &AlbumPlan| {
        plan.tracks
            .iter()
            .map(|t| {
                let name = t.path.file_name().unwrap_or_default().to_string_lossy();
                let now = t.current.as_deref().unwrap_or("(none)");
                format!("{name}: {now} -> {}", plan.value.as_deref().unwrap_or("-"))
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    card.note = Some(match &plan.skip {
        None => tracks(plan),
        Some(SkipReason::NoCover(reason)) => format!("skipped: no cover ({reason})"),
        Some(reason) => {
            if *reason != SkipReason::LowConfidence {
                card.group = crate::report::html::SKIPPED.into();
            }
            format!("skipped: {}", reason.key())
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genre_values_follow_the_style() {
        let mumu = GenreSet::mumu();
        assert_eq!(
            genre_value("rap-hip-hop", GenreStyle::Name, &mumu),
            "Rap & Hip-Hop"
        );
        assert_eq!(
            genre_value("rap-hip-hop", GenreStyle::Slug, &mumu),
            "rap-hip-hop"
        );
        assert_eq!(genre_value("r-and-b", GenreStyle::Name, &mumu), "R&B");
    }
}
