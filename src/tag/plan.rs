//! What a tagging run would do: per album, its tracks with their current and proposed genre,
//! or the reason it is skipped; counted in a summary (shown to people by [`super::plan_view`]).

use super::safe_write::{read_only_reason, Identity, Method};
use crate::artist_context::Said;
use crate::audio::fields::{self, Field, Values};
use crate::covers::CoverUsed;
use crate::data::albums::{untaggable_summary, AlbumTracks};
use crate::failure::Failure;
use crate::genres::GenreSet;
use crate::report::classify::{Record, UNCERTAIN};
use serde::Serialize;
use std::collections::BTreeMap;
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
    /// The folder holds no audio files to tag (a folder of covers).
    NoTracks,
    /// Its audio files are all in formats covergenre cannot tag (the detail names them).
    NoTaggableTracks(String),
    /// The album's folder cannot be read (or is a symlink loop), or none of its tracks' tags
    /// can be read (the detail says why).
    Unreadable(String),
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
            Self::NoTaggableTracks(_) => "no taggable tracks",
            Self::Unreadable(_) => "unreadable",
            Self::AlreadyTagged => "already tagged",
            Self::Declined => "skipped by decision",
            Self::Kept => "existing kept by decision",
            Self::DecidedBefore => "decided before",
            Self::NotReached => "not reached",
        }
    }

    /// More about the reason, where there is more to say (why no cover, which formats).
    pub fn detail(&self) -> Option<&str> {
        match self {
            Self::NoCover(why) | Self::NoTaggableTracks(why) | Self::Unreadable(why) => Some(why),
            _ => None,
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
    /// The field's values now (empty: absent or unreadable).
    pub current: Values,
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
    /// The model's best genre (slug), its probability, and the values to write (best first;
    /// empty: nothing to write).
    pub genre: Option<String>,
    pub probability: Option<f32>,
    pub values: Values,
    /// The model's top genres (`--top-k`), most probable first; empty without a cover.
    pub top: Vec<Candidate>,
    pub tracks: Vec<TrackPlan>,
    pub skip: Option<SkipReason>,
    /// The cover the proposal came from, and candidates passed over (`None`: not classified).
    pub cover: Option<CoverUsed>,
    /// What the artist context said (`None`: no artist, or the context is off); the proposal
    /// above is the combined one when its weight is above 0.
    pub artist: Option<Said>,
}

/// What the planner needs to know.
pub struct PlanOptions<'a> {
    pub field: &'a Field,
    pub style: GenreStyle,
    pub overwrite: bool,
    pub genres: &'a GenreSet,
    pub count: &'a GenresPerAlbum,
}

/// How many genres an album gets, and how they are stored (`--max-genres`,
/// `--min-genre-probability`, `--separator`).
#[derive(Debug, Clone, PartialEq)]
pub struct GenresPerAlbum {
    /// The most genres written, best first (at least 1).
    pub max: usize,
    /// The probability each genre after the best needs (the best needs `--min-confidence`).
    pub min_probability: f32,
    /// Joins the genres into one value, for players that read only one, instead of writing
    /// them as separate values.
    pub separator: Option<String>,
}

impl Default for GenresPerAlbum {
    fn default() -> Self {
        Self {
            max: 1,
            min_probability: DEFAULT_MIN_GENRE_PROBABILITY,
            separator: None,
        }
    }
}

/// `--min-genre-probability` when `--min-confidence` is 0.
pub const DEFAULT_MIN_GENRE_PROBABILITY: f32 = 0.2;

impl GenresPerAlbum {
    /// `--min-genre-probability` by default: the `--min-confidence` in force, else 0.2.
    pub fn default_min_probability(min_confidence: f32) -> f32 {
        if min_confidence > 0.0 {
            min_confidence
        } else {
            DEFAULT_MIN_GENRE_PROBABILITY
        }
    }

    /// The field values for `genres` (best first): each its own value, or one joined value.
    pub fn values(&self, genres: Vec<String>) -> Values {
        match &self.separator {
            Some(separator) if genres.len() > 1 => vec![genres.join(separator)],
            _ => genres,
        }
    }

    /// Which of the model's top genres an album gets: the best, then each of the next ones up
    /// to `max` whose probability reaches `min_probability`.
    pub fn chosen<'c>(&self, top: &'c [Candidate]) -> impl Iterator<Item = &'c Candidate> + 'c {
        let min_probability = self.min_probability;
        top.iter()
            .take(self.max.max(1))
            .enumerate()
            .filter(move |(i, c)| *i == 0 || c.probability >= min_probability)
            .map(|(_, c)| c)
    }
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

/// Plans an album the model classified; `album`: its tracks, or why its folder cannot be read.
pub fn plan_classified(
    folder: &Path,
    record: &Record,
    album: Result<AlbumTracks, String>,
    options: &PlanOptions,
) -> AlbumPlan {
    let top: Vec<Candidate> = record
        .top
        .iter()
        .map(|r| Candidate {
            genre: r.genre.clone(),
            value: genre_value(&r.genre, options.style, options.genres),
            probability: r.probability,
        })
        .collect();
    let chosen = options
        .count
        .chosen(&top)
        .map(|c| c.value.clone())
        .collect();
    let values = options.count.values(chosen);
    let mut plan = AlbumPlan {
        folder: folder.to_path_buf(),
        genre: record.top.first().map(|r| r.genre.clone()),
        probability: Some(record.probability),
        values,
        top,
        tracks: Vec::new(),
        skip: None,
        cover: record.cover.clone(),
        artist: None,
    };
    plan.tracks = plan_tracks(&album, options.field, &plan.values);
    // What keeps an album from being tagged whatever its cover says comes first: the owner
    // sees what to fix before how sure the model is.
    plan.skip = if let Some(reason) = structural_reason(&album, &plan.tracks) {
        Some(reason)
    } else if record.genre == UNCERTAIN {
        Some(SkipReason::LowConfidence)
    } else if !options.overwrite && plan.tracks.iter().any(|t| has_other_value(t, &plan.values)) {
        Some(SkipReason::HasGenre)
    } else if all_taggable_unchanged(&plan.tracks) {
        Some(SkipReason::AlreadyTagged)
    } else {
        None
    };
    plan
}

/// Plans an album whose cover could not be classified; `album`: its tracks, or why its
/// folder cannot be read.
pub fn plan_failed(
    failure: &Failure,
    album: Result<AlbumTracks, String>,
    field: &Field,
) -> AlbumPlan {
    let tracks = plan_tracks(&album, field, &[]);
    let skip = structural_reason(&album, &tracks)
        .unwrap_or_else(|| SkipReason::NoCover(failure.reason.clone()));
    AlbumPlan {
        folder: failure.path.clone(),
        genre: None,
        probability: None,
        values: Values::new(),
        top: Vec::new(),
        tracks,
        skip: Some(skip),
        cover: None,
        artist: None,
    }
}

/// The plan of each track: the taggable ones read now, the others named as not taggable.
fn plan_tracks(
    album: &Result<AlbumTracks, String>,
    field: &Field,
    values: &[String],
) -> Vec<TrackPlan> {
    let Ok(album) = album else {
        return Vec::new();
    };
    let taggable = album
        .taggable
        .iter()
        .map(|path| plan_track(path.clone(), field, values));
    let untaggable = album.untaggable.iter().map(|path| TrackPlan {
        path: path.clone(),
        current: Values::new(),
        action: TrackAction::Skip(format!(
            ".{}: a format covergenre cannot tag",
            crate::files::extension_of(path)
        )),
        identity: None,
        write_to: None,
        method: Method::Replace,
    });
    taggable.chain(untaggable).collect()
}

/// Whether every track covergenre can tag already holds the values (tracks in other formats
/// are left alone whatever they hold).
fn all_taggable_unchanged(tracks: &[TrackPlan]) -> bool {
    tracks
        .iter()
        .filter(|t| crate::files::is_taggable_audio_path(&t.path))
        .all(|t| t.action == TrackAction::Unchanged)
}

/// Why an album cannot be tagged whatever its cover says: its folder cannot be read, it
/// holds no audio, none in a format covergenre tags, or no track whose tags can be read.
fn structural_reason(
    album: &Result<AlbumTracks, String>,
    tracks: &[TrackPlan],
) -> Option<SkipReason> {
    let album = match album {
        Err(why) => return Some(SkipReason::Unreadable(why.clone())),
        Ok(album) => album,
    };
    if album.taggable.is_empty() {
        return Some(match untaggable_summary(&album.untaggable) {
            Some(formats) => SkipReason::NoTaggableTracks(formats),
            None => SkipReason::NoTracks,
        });
    }
    let unreadable: Vec<&str> = tracks
        .iter()
        .take(album.taggable.len())
        .filter_map(|t| match &t.action {
            TrackAction::Fail(why) => Some(why.as_str()),
            _ => None,
        })
        .collect();
    (unreadable.len() == album.taggable.len()).then(|| {
        SkipReason::Unreadable(format!(
            "the tags of its {} track(s) cannot be read: {}",
            unreadable.len(),
            unreadable[0]
        ))
    })
}

/// Plans an album whose genres the owner chose: `values` are written to every track that does
/// not already carry them, whatever it had (the owner saw it when deciding); none is a skip.
pub fn plan_chosen(folder: &Path, album: AlbumTracks, field: &Field, values: Values) -> AlbumPlan {
    let album = Ok(album);
    let tracks = plan_tracks(&album, field, &values);
    let skip = if values.is_empty() {
        Some(SkipReason::Declined)
    } else if let Some(reason) = structural_reason(&album, &tracks) {
        Some(reason)
    } else if all_taggable_unchanged(&tracks) {
        Some(SkipReason::AlreadyTagged)
    } else {
        None
    };
    AlbumPlan {
        folder: folder.to_path_buf(),
        genre: None,
        probability: None,
        values,
        top: Vec::new(),
        tracks,
        skip,
        cover: None,
        artist: None,
    }
}

fn has_other_value(track: &TrackPlan, values: &[String]) -> bool {
    fields::has_value(&track.current) && !fields::holds(&track.current, values)
}

fn plan_track(path: PathBuf, field: &Field, values: &[String]) -> TrackPlan {
    let current = match fields::read(&path, field) {
        Ok(current) => current,
        Err(e) => {
            return TrackPlan {
                path,
                current: Values::new(),
                action: TrackAction::Fail(format!("{e:#}")),
                identity: None,
                write_to: None,
                method: Method::Replace,
            }
        }
    };
    let identity = Identity::read(&path).ok();
    let action = if !values.is_empty() && fields::holds(&current, values) {
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

/// Counts of a plan (or of an applied plan, counted again after writing).
#[derive(Debug, Default, Clone, Serialize)]
pub struct Summary {
    /// Every album of the plan: tagged, skipped (by reason) or with nothing written.
    pub albums: usize,
    /// Albums with at least one track to write (written, with --apply).
    pub albums_tagged: usize,
    pub tracks_tagged: usize,
    pub skipped: BTreeMap<String, usize>,
    /// Tracks left alone inside tagged albums (read-only, links, changed during the run).
    pub tracks_skipped: usize,
    /// Albums with a track that could not be read or written.
    pub albums_failed: usize,
    pub tracks_failed: usize,
    /// Albums not skipped that have nothing written: each track already holds the values,
    /// is left alone or failed.
    pub albums_unwritten: usize,
}

impl Summary {
    pub fn of(plans: &[AlbumPlan]) -> Self {
        let mut summary = Self {
            albums: plans.len(),
            ..Self::default()
        };
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
            summary.albums_unwritten += usize::from(writes == 0);
            summary.albums_failed += usize::from(failed > 0);
        }
        summary
    }

    /// Whether anything could not be read or written: failed tracks and albums skipped as
    /// unreadable (the exit code says so, as for covers that do not decode).
    pub fn failures(&self) -> usize {
        let unreadable = SkipReason::Unreadable(String::new()).key();
        self.tracks_failed + self.skipped.get(unreadable).copied().unwrap_or(0)
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
        let unwritten = match self.albums_unwritten {
            0 => String::new(),
            n => format!("; nothing written in {n} album(s)"),
        };
        format!(
            "{verb} {} album(s) ({} track(s), {} track(s) left alone); skipped albums: {skipped}; failed: {} album(s) ({} track(s)){unwritten}; {} album(s) in all",
            self.albums_tagged, self.tracks_tagged, self.tracks_skipped, self.albums_failed, self.tracks_failed, self.albums
        )
    }
}

#[cfg(test)]
mod tests;
