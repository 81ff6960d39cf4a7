//! The terminal review (`--tag --interactive`): the plan's albums in its order, one question
//! per album with a proposal, each decided album written at once.
//!
//! This module is the decisions, not the terminal: it talks to a [`Console`] (the real one is
//! [`super::terminal::Terminal`]; tests script one), so the question, the answers and what
//! each answer writes are testable without a terminal.
//!
//! - Asked: every album with a proposal and tracks, whether it already has a genre (`existing
//!   genre`) or is under `--min-confidence` (`low confidence`: then Enter alone skips instead
//!   of applying). Not asked, listed as the plan lists them: no cover, no audio files, already
//!   tagged, and albums this review's journal shows were decided before.
//! - An answer is one key and Enter ([`Question::parse`]): `a` the proposal, `1`-`3` that genre
//!   of the top 3, `e` a genre typed with Tab completion, `s` skip, `k` keep the existing
//!   genre, `b` stop at once.
//! - A written album is a [`Decision`] (the one type of the owner's decisions) carrying the
//!   tracks' stamps as shown, so an album changed while on screen is refused, not overwritten.
//!   Its journal entries are appended and flushed before its files are written; the journal is
//!   one for the whole review, and a later review with the same journal goes on with it.
//! - Decided before: every track of the album is in the journal and still carries the value
//!   the journal last recorded for it. Written and kept albums are recorded (kept tracks and
//!   tracks left alone get entries whose old and new values are the same, which undo counts as
//!   already as before); skipped ones are not, so they are asked again.

use super::decisions::{Action, Decision, MAX_GENRE_CHARS};
use super::document::{self, Stamp};
use super::journal::{self, Entry};
use super::plan::{self, AlbumPlan, GenreStyle, SkipReason, TrackAction, TrackPlan};
use super::TagOptions;
use crate::audio::fields::{self, Values};
use crate::covers::SourceKind;
use crate::genres::GenreSet;
use anyhow::Result;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The review's journal when `--journal` names none, in the current folder: the same file
/// for every review started there, so running the same command again goes on.
pub const DEFAULT_JOURNAL: &str = "covergenre-review.jsonl";

/// The question's highest pick (`1-3 pick`).
const PICKS: usize = 3;

/// What the review needs of a terminal.
pub trait Console {
    /// Shows lines of text.
    fn print(&mut self, text: &str) -> Result<()>;
    /// Draws the album's cover (or nothing, without previews).
    fn cover(&mut self, cover: &SourceKind) -> Result<()>;
    /// One line typed after `prompt`; `None` at the end of input (Ctrl-D, Ctrl-C).
    fn ask(&mut self, prompt: &str) -> Result<Option<String>>;
    /// [`Console::ask`] with Tab completing from `completions`.
    fn ask_genre(&mut self, prompt: &str, completions: &[String]) -> Result<Option<String>>;
}

/// One album of the plan, with its cover (`None`: none could be classified).
pub struct Album {
    pub plan: AlbumPlan,
    pub cover: Option<SourceKind>,
}

/// One key of the question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Apply,
    /// The n-th (from 1) of the top genres.
    Pick(usize),
    Enter,
    Skip,
    Keep,
    Abort,
}

/// What the question offers for one album.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    /// The value `a` writes.
    pub proposal: String,
    /// How many of the top genres can be picked.
    pub picks: usize,
    /// Whether `k` is offered (a track has a genre).
    pub keep: bool,
    /// What Enter alone answers: apply, or skip under `--min-confidence`.
    pub default: Answer,
}

impl Question {
    /// The question about `plan`; `None` when it has no proposal.
    pub fn of(plan: &AlbumPlan) -> Option<Self> {
        if plan.values.is_empty() {
            return None;
        }
        let proposal = fields::show(&plan.values);
        let keep = plan.tracks.iter().any(|t| fields::has_value(&t.current));
        let default = if plan.skip == Some(SkipReason::LowConfidence) {
            Answer::Skip
        } else {
            Answer::Apply
        };
        Some(Self {
            proposal,
            picks: plan.top.len().min(PICKS),
            keep,
            default,
        })
    }

    /// The question line, beets-style: the capital letter is the key, the default is in
    /// brackets (`[A]pply Metal, 1-3 pick, Enter a genre, Skip, Keep existing, aBort?`).
    pub fn line(&self) -> String {
        let marked = |answer: Answer, word: &str| {
            if self.default == answer {
                let (key, rest) = word.split_at(1);
                format!("[{key}]{rest}")
            } else {
                word.to_string()
            }
        };
        let mut parts = vec![format!(
            "{} {}",
            marked(Answer::Apply, "Apply"),
            self.proposal
        )];
        match self.picks {
            0 => {}
            1 => parts.push("1 pick".into()),
            n => parts.push(format!("1-{n} pick")),
        }
        parts.push("Enter a genre".into());
        parts.push(marked(Answer::Skip, "Skip"));
        if self.keep {
            parts.push("Keep existing".into());
        }
        parts.push("aBort?".into());
        parts.join(", ")
    }

    /// The answer a typed line means, or the hint to show before asking again.
    pub fn parse(&self, line: &str) -> Result<Answer, String> {
        let typed = line.trim().to_lowercase();
        match typed.as_str() {
            "" => Ok(self.default),
            "a" => Ok(Answer::Apply),
            "e" => Ok(Answer::Enter),
            "s" => Ok(Answer::Skip),
            "b" => Ok(Answer::Abort),
            "k" if self.keep => Ok(Answer::Keep),
            "k" => Err(format!("no track has a genre to keep; {}", self.hint())),
            _ => match typed.parse::<usize>() {
                Ok(n) if (1..=self.picks).contains(&n) => Ok(Answer::Pick(n)),
                _ => Err(format!("{typed:?} is not an answer; {}", self.hint())),
            },
        }
    }

    fn hint(&self) -> String {
        let picks = match self.picks {
            0 => String::new(),
            1 => ", 1 (pick)".into(),
            n => format!(", 1-{n} (pick)"),
        };
        let keep = if self.keep { ", k (keep existing)" } else { "" };
        let default = if self.default == Answer::Skip {
            "s"
        } else {
            "a"
        };
        format!(
            "type one key, then Enter: a (apply){picks}, e (enter a genre), s (skip){keep}, b (abort); Enter alone: {default}"
        )
    }
}

/// What the owner decided for one album.
#[derive(Debug, Clone, PartialEq)]
enum Choice {
    /// The genres to write, best first.
    Write(Values),
    Skip,
    Keep,
    Abort,
}

/// Counts of a review, for its closing lines.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Albums with at least one track written, and those tracks.
    pub written: usize,
    pub tracks_written: usize,
    pub kept: usize,
    pub skipped: usize,
    /// Albums not asked about: nothing to propose, already tagged, decided before.
    pub not_asked: usize,
    /// Albums the review stopped before deciding (`b`, end of input).
    pub not_reached: usize,
}

/// The result of a review.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Every album's plan as it ended: written, or skipped with the reason.
    pub plans: Vec<AlbumPlan>,
    pub counts: Counts,
    /// Albums refused because they changed while on screen.
    pub refused: usize,
}

/// What the owner chose for an album, and the review's journal to record it in.
struct Decided<'j> {
    genres: Values,
    /// The album's tracks as shown: what changed while the question waited is refused.
    stamps: Vec<Stamp>,
    journal: &'j mut journal::Journal,
}

/// A review of one run's albums.
pub struct Review<'a> {
    pub tag: &'a TagOptions,
    /// The one journal of the review (created, or gone on with).
    pub journal: &'a Path,
    /// The library roots, for the albums' keys.
    pub roots: &'a [PathBuf],
    /// What Tab completes a typed genre from, besides the library's own genres.
    pub completions: Vec<String>,
}

impl Review<'_> {
    /// Goes through `albums` in order, asking about each album with a proposal.
    pub fn run(
        &self,
        albums: Vec<Album>,
        console: &mut dyn Console,
        log: &mut dyn Write,
    ) -> Result<Outcome> {
        let (mut journal, contents) = journal::Journal::resume(self.journal)?;
        let recorded = recorded_values(&contents.entries, &self.tag.field);
        let plans: Vec<&AlbumPlan> = albums.iter().map(|a| &a.plan).collect();
        let completions = merged_completions(&self.completions, &plans);
        let to_ask = plans
            .iter()
            .filter(|p| askable(p) && !decided_before(p, &recorded))
            .count();
        console.print(&self.tag.threshold.line())?;
        // The line above speaks for --apply; the review asks about those albums too.
        console.print(
            "--interactive: albums under it are asked about too, with Skip as the default answer",
        )?;
        let mut outcome = Outcome {
            plans: Vec::new(),
            counts: Counts::default(),
            refused: 0,
        };
        let mut asked = 0;
        let mut stopped = false;
        for album in albums {
            let mut plan = album.plan;
            if stopped {
                // Nothing more is asked or shown; albums the review would ask about are
                // not reached, the others keep their reason.
                if askable(&plan) {
                    plan.skip = Some(SkipReason::NotReached);
                    outcome.counts.not_reached += 1;
                } else {
                    outcome.counts.not_asked += 1;
                }
            } else if !askable(&plan) {
                outcome.counts.not_asked += 1;
                console.print(&listing(&plan, &self.tag.field))?;
            } else if decided_before(&plan, &recorded) {
                plan.skip = Some(SkipReason::DecidedBefore);
                outcome.counts.not_asked += 1;
                console.print(&listing(&plan, &self.tag.field))?;
            } else {
                asked += 1;
                self.show(&plan, album.cover.as_ref(), (asked, to_ask), console)?;
                // Stamped as shown: what changes while the question waits is refused.
                let stamps = stamps(&plan);
                match ask(&plan, &completions, console)? {
                    Choice::Abort => {
                        stopped = true;
                        plan.skip = Some(SkipReason::NotReached);
                        outcome.counts.not_reached += 1;
                    }
                    Choice::Skip => {
                        plan.skip = Some(SkipReason::Declined);
                        outcome.counts.skipped += 1;
                    }
                    Choice::Keep => {
                        journal.append(&self.kept_entries(&plan))?;
                        plan.skip = Some(SkipReason::Kept);
                        outcome.counts.kept += 1;
                        console.print("  kept as it is")?;
                    }
                    Choice::Write(genres) => {
                        let decided = Decided {
                            genres,
                            stamps,
                            journal: &mut journal,
                        };
                        plan = self.write(plan, decided, &mut outcome, console, log)?;
                    }
                }
            }
            outcome.plans.push(plan);
        }
        console.print(&self.closing(&outcome.counts, stopped))?;
        Ok(outcome)
    }

    /// The album's description, its cover and where the cover is.
    fn show(
        &self,
        plan: &AlbumPlan,
        cover: Option<&SourceKind>,
        (n, of): (usize, usize),
        console: &mut dyn Console,
    ) -> Result<()> {
        console.print(&describe(plan, (n, of), self.tag.threshold.value))?;
        if let Some(cover) = cover {
            console.cover(cover)?;
            console.print(&format!("  cover: {}", cover_path(cover)))?;
        }
        Ok(())
    }

    /// Writes the chosen genres into the album's tracks as the decision it is (journal entries first);
    /// returns the album's plan as written, or as refused.
    fn write(
        &self,
        shown: AlbumPlan,
        decided: Decided<'_>,
        outcome: &mut Outcome,
        console: &mut dyn Console,
        log: &mut dyn Write,
    ) -> Result<AlbumPlan> {
        let Decided {
            genres,
            stamps,
            journal,
        } = decided;
        let root = document::root_of(self.roots, &shown.folder).unwrap_or(&shown.folder);
        let decision = Decision {
            album: document::relative_key(root, &shown.folder),
            action: Action::Apply,
            genres,
            tracks: Some(stamps),
        };
        let mut plan = match decision.plan(&shown.folder, &self.tag.field, &self.tag.genres) {
            Ok(plan) => plan,
            Err(reason) => {
                writeln!(
                    log,
                    "covergenre-classify: {}: {reason}; left alone",
                    shown.folder.display()
                )?;
                outcome.refused += 1;
                let mut refused = shown;
                refused.skip = Some(SkipReason::Declined);
                return Ok(refused);
            }
        };
        super::links::place_tracks(
            std::slice::from_mut(&mut plan),
            self.roots,
            self.tag.hardlinks,
        );
        let (entries, writes) = self.decided_entries(&plan);
        let first = journal.append(&entries)?;
        super::report_track_problems(std::slice::from_ref(&plan), log)?;
        let mut writer = super::Writer::new(self.tag, journal);
        let values = plan.values.clone();
        for (track, entry) in writes {
            writer.write(&mut plan.tracks[track], &values, first + entry, log)?;
        }
        let written = plan
            .tracks
            .iter()
            .filter(|t| t.action == TrackAction::Write)
            .count();
        let already = plan
            .tracks
            .iter()
            .filter(|t| t.action == TrackAction::Unchanged)
            .count();
        outcome.counts.written += usize::from(written > 0);
        outcome.counts.tracks_written += written;
        console.print(&format!(
            "  wrote {} to {written} track(s) ({already} had it already)",
            fields::show(&values)
        ))?;
        Ok(plan)
    }

    /// The journal entries of a written album, and (track, entry) for each track to write:
    /// the writes, and the tracks it leaves as they are (already carrying the value,
    /// read-only, links) recorded unchanged, so that the album counts as decided.
    fn decided_entries(&self, plan: &AlbumPlan) -> (Vec<Entry>, Vec<(usize, usize)>) {
        let (mut entries, mut writes) = (Vec::new(), Vec::new());
        for (index, track) in plan.tracks.iter().enumerate() {
            let new = match &track.action {
                TrackAction::Write => {
                    writes.push((index, entries.len()));
                    plan.values.clone()
                }
                TrackAction::Unchanged | TrackAction::Skip(_) => track.current.clone(),
                TrackAction::Fail(_) => continue,
            };
            entries.push(self.entry(plan, track, new));
        }
        (entries, writes)
    }

    /// The journal entries of a kept album: every readable track, unchanged.
    fn kept_entries(&self, plan: &AlbumPlan) -> Vec<Entry> {
        plan.tracks
            .iter()
            .filter(|t| !matches!(t.action, TrackAction::Fail(_)))
            .map(|t| self.entry(plan, t, t.current.clone()))
            .collect()
    }

    fn entry(&self, plan: &AlbumPlan, track: &TrackPlan, new: Values) -> Entry {
        super::journal_entry(track, &plan.folder, self.roots, &self.tag.field, new)
    }

    /// The closing lines: what was done and how to undo it or go on.
    fn closing(&self, counts: &Counts, stopped: bool) -> String {
        let journal = quoted(&self.journal.display().to_string());
        let stop = if stopped { " (stopped with b)" } else { "" };
        format!(
            "review: {} album(s) written ({} track(s)), {} skipped, {} kept, {} not asked, {} not decided{stop}\n\
             journal: {journal}; undo all of this review with: covergenre-classify --undo {journal}\n\
             run the same command again to go on: albums decided in this review are not asked again",
            counts.written,
            counts.tracks_written,
            counts.skipped,
            counts.kept,
            counts.not_asked,
            counts.not_reached
        )
    }
}

/// Asks until the answer is a decision (unknown answers get a hint; an empty typed genre
/// goes back to the question; the end of input is `b`).
fn ask(plan: &AlbumPlan, completions: &[String], console: &mut dyn Console) -> Result<Choice> {
    let Some(question) = Question::of(plan) else {
        return Ok(Choice::Skip);
    };
    let prompt = format!("{} ", question.line());
    loop {
        let Some(line) = console.ask(&prompt)? else {
            return Ok(Choice::Abort);
        };
        let answer = match question.parse(&line) {
            Ok(answer) => answer,
            Err(hint) => {
                console.print(&format!("  {hint}"))?;
                continue;
            }
        };
        match answer {
            Answer::Apply => return Ok(Choice::Write(plan.values.clone())),
            Answer::Pick(n) => return Ok(Choice::Write(vec![plan.top[n - 1].value.clone()])),
            Answer::Skip => return Ok(Choice::Skip),
            Answer::Keep => return Ok(Choice::Keep),
            Answer::Abort => return Ok(Choice::Abort),
            Answer::Enter => {
                let typed = "genre (Tab completes; an empty line goes back): ";
                let Some(genre) = console.ask_genre(typed, completions)? else {
                    return Ok(Choice::Abort);
                };
                match typed_genre(&genre) {
                    Ok(Some(genre)) => return Ok(Choice::Write(vec![genre])),
                    Ok(None) => {}
                    Err(problem) => console.print(&format!("  {problem}"))?,
                }
            }
        }
    }
}

/// A typed genre, trimmed; `None` for an empty line; an error for one too long.
fn typed_genre(line: &str) -> Result<Option<String>, String> {
    let genre = line.trim();
    let chars = genre.chars().count();
    match chars {
        0 => Ok(None),
        n if n > MAX_GENRE_CHARS => Err(format!(
            "a genre of {n} characters is too long (at most {MAX_GENRE_CHARS})"
        )),
        _ => Ok(Some(genre.to_string())),
    }
}

/// Whether the review asks about the album: it has a proposal and tracks, and is not
/// already tagged with it.
fn askable(plan: &AlbumPlan) -> bool {
    !plan.values.is_empty()
        && !plan.tracks.is_empty()
        && matches!(
            plan.skip,
            None | Some(SkipReason::LowConfidence) | Some(SkipReason::HasGenre)
        )
}

/// Per track, the values a journal last recorded for it in `field`.
fn recorded_values(
    entries: &[Entry],
    field: &crate::audio::fields::Field,
) -> HashMap<PathBuf, Values> {
    entries
        .iter()
        .filter(|e| &e.field == field)
        .map(|e| (e.path(), e.new.clone()))
        .collect()
}

/// Whether the journal decided this album before: every track is in it and carries the
/// values it last recorded.
fn decided_before(plan: &AlbumPlan, recorded: &HashMap<PathBuf, Values>) -> bool {
    !plan.tracks.is_empty()
        && plan.tracks.iter().all(|t| {
            !matches!(t.action, TrackAction::Fail(_))
                && recorded
                    .get(&super::journal_path_of(t))
                    .is_some_and(|values| fields::holds(&t.current, values))
        })
}

fn stamps(plan: &AlbumPlan) -> Vec<Stamp> {
    plan.tracks
        .iter()
        .map(|t| Stamp::of(&plan.folder, &t.path, t.current.clone()))
        .collect()
}

/// An album the review does not ask about, as the plan shows it.
fn listing(plan: &AlbumPlan, field: &crate::audio::fields::Field) -> String {
    let mut text = Vec::new();
    plan::render(std::slice::from_ref(plan), field, &mut text).ok();
    String::from_utf8_lossy(&text).trim_end().to_string()
}

/// The album as the question shows it: folder, existing genres, top genres, proposal.
pub fn describe(plan: &AlbumPlan, (n, of): (usize, usize), min_confidence: f32) -> String {
    let top = plan
        .top
        .iter()
        .take(PICKS)
        .enumerate()
        .map(|(i, c)| format!("{}. {} {:.3}", i + 1, c.value, c.probability))
        .collect::<Vec<_>>()
        .join("   ");
    let proposal = plan::proposed(plan);
    let probability = plan.probability.unwrap_or(0.0);
    let low = if plan.skip == Some(SkipReason::LowConfidence) {
        format!("   [low confidence: under --min-confidence {min_confidence:.2}; Enter skips]")
    } else {
        String::new()
    };
    format!(
        "\n({n}/{of}) {} ({} track(s))\n  existing genre: {}\n  top {}: {top}\n  proposal: {proposal} ({probability:.3}){low}",
        plan.folder.display(),
        plan.tracks.len(),
        existing(plan),
        plan.top.len().min(PICKS)
    )
}

/// The tracks' existing values: one value, or each with how many tracks carry it.
fn existing(plan: &AlbumPlan) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for track in &plan.tracks {
        let value = if fields::has_value(&track.current) {
            fields::show(&track.current)
        } else {
            "(none)".into()
        };
        *counts.entry(value).or_default() += 1;
    }
    match counts.len() {
        0 | 1 => counts
            .keys()
            .next()
            .cloned()
            .unwrap_or_else(|| "(none)".into()),
        _ => counts
            .iter()
            .map(|(value, n)| format!("{value} ({n} of {} tracks)", plan.tracks.len()))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Where the cover shown comes from.
fn cover_path(cover: &SourceKind) -> String {
    match cover {
        SourceKind::File(path) => path.display().to_string(),
        SourceKind::Embedded { audio_files } => match audio_files.first() {
            Some(first) => format!("the picture embedded in {}", first.display()),
            None => "an embedded picture".into(),
        },
    }
}

/// The values the model's genres are written as.
pub fn model_values(genres: &GenreSet, style: GenreStyle) -> Vec<String> {
    genres
        .iter()
        .map(|g| plan::genre_value(&g.slug, style, genres))
        .collect()
}

/// `extra` and every genre the library's tracks already carry, sorted, once each.
fn merged_completions(extra: &[String], plans: &[&AlbumPlan]) -> Vec<String> {
    let existing = plans
        .iter()
        .flat_map(|p| &p.tracks)
        .flat_map(|t| t.current.iter().cloned());
    let all: BTreeSet<String> = extra
        .iter()
        .cloned()
        .chain(existing)
        .filter(|g| !g.trim().is_empty())
        .collect();
    all.into_iter().collect()
}

/// The completions of a typed beginning: those starting with it, case aside.
pub fn complete<'a>(typed: &str, completions: &'a [String]) -> Vec<&'a str> {
    let typed = typed.to_lowercase();
    completions
        .iter()
        .filter(|c| c.to_lowercase().starts_with(&typed))
        .map(String::as_str)
        .collect()
}

/// `text` as a shell word (quoted when it holds anything but plain characters).
fn quoted(text: &str) -> String {
    let plain = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@".contains(c));
    if plain && !text.is_empty() {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::fields::Field;
    use crate::tag::plan::Candidate;
    use crate::tag::threshold::{Origin, Threshold};
    use std::collections::VecDeque;

    fn candidate(value: &str, probability: f32) -> Candidate {
        Candidate {
            genre: value.to_lowercase(),
            value: value.into(),
            probability,
        }
    }

    fn album(folder: &str, current: Option<&str>, skip: Option<SkipReason>) -> AlbumPlan {
        AlbumPlan {
            folder: PathBuf::from(folder),
            genre: Some("metal".into()),
            probability: Some(0.7),
            values: vec!["Metal".into()],
            top: vec![
                candidate("Metal", 0.7),
                candidate("Rock", 0.2),
                candidate("Punk", 0.1),
            ],
            tracks: vec![TrackPlan {
                path: PathBuf::from(folder).join("01.mp3"),
                current: current.map(String::from).into_iter().collect(),
                action: TrackAction::Write,
                identity: None,
                write_to: None,
                method: crate::tag::safe_write::Method::Replace,
            }],
            skip,
        }
    }

    #[test]
    fn the_question_marks_the_default_and_offers_keep_only_with_a_genre() {
        let plain = Question::of(&album("/m/A", None, None)).unwrap();
        assert_eq!(
            plain.line(),
            "[A]pply Metal, 1-3 pick, Enter a genre, Skip, aBort?"
        );
        let tagged = Question::of(&album("/m/A", Some("Jazz"), Some(SkipReason::HasGenre)));
        assert_eq!(
            tagged.unwrap().line(),
            "[A]pply Metal, 1-3 pick, Enter a genre, Skip, Keep existing, aBort?"
        );
        let unsure = Question::of(&album("/m/A", None, Some(SkipReason::LowConfidence))).unwrap();
        assert_eq!(
            unsure.line(),
            "Apply Metal, 1-3 pick, Enter a genre, [S]kip, aBort?"
        );
        assert_eq!(unsure.parse(""), Ok(Answer::Skip));
    }

    #[test]
    fn answers_are_one_key_case_aside_and_others_get_a_hint() {
        let question = Question::of(&album("/m/A", Some("Jazz"), None)).unwrap();
        for (typed, answer) in [
            ("a", Answer::Apply),
            (" A ", Answer::Apply),
            ("", Answer::Apply),
            ("2", Answer::Pick(2)),
            ("3", Answer::Pick(3)),
            ("E", Answer::Enter),
            ("s", Answer::Skip),
            ("K", Answer::Keep),
            ("b", Answer::Abort),
        ] {
            assert_eq!(question.parse(typed), Ok(answer), "{typed:?}");
        }
        for typed in ["4", "0", "x", "apply", "ä"] {
            let hint = question.parse(typed).unwrap_err();
            assert!(hint.contains("type one key, then Enter"), "{typed}: {hint}");
        }
        let bare = Question::of(&album("/m/A", None, None)).unwrap();
        assert!(bare
            .parse("k")
            .unwrap_err()
            .contains("no track has a genre"));
    }

    #[test]
    fn completion_is_by_beginning_case_aside() {
        let genres: Vec<String> = ["Jazz", "Metal", "Shoegaze", "shoe-pop"]
            .map(String::from)
            .to_vec();
        assert_eq!(complete("sho", &genres), ["Shoegaze", "shoe-pop"]);
        assert_eq!(complete("J", &genres), ["Jazz"]);
        assert!(complete("x", &genres).is_empty());
    }

    #[test]
    fn typed_genres_are_trimmed_and_bounded() {
        assert_eq!(typed_genre("  Shoegaze "), Ok(Some("Shoegaze".into())));
        assert_eq!(typed_genre("   "), Ok(None));
        assert!(typed_genre(&"x".repeat(201)).is_err());
    }

    #[test]
    fn an_album_is_decided_before_when_every_track_carries_what_the_journal_recorded() {
        let plan = album("/m/A", Some("Rock"), Some(SkipReason::HasGenre));
        let track = &plan.tracks[0].path;
        let entry = |new: Option<&str>| {
            let new = new.map(String::from).into_iter().collect();
            Entry::new(track, &Field::Standard, Vec::new(), new)
        };
        let decided = recorded_values(&[entry(Some("Rock"))], &Field::Standard);
        assert!(decided_before(&plan, &decided));
        let changed = recorded_values(
            &[entry(Some("Rock")), entry(Some("Metal"))],
            &Field::Standard,
        );
        assert!(!decided_before(&plan, &changed), "the last entry counts");
        let other_field = recorded_values(&[entry(Some("Rock"))], &Field::custom("MINE").unwrap());
        assert!(!decided_before(&plan, &other_field));
        assert!(!decided_before(&plan, &HashMap::new()));
    }

    /// A console answering from a script, keeping what was shown.
    struct Scripted {
        answers: VecDeque<&'static str>,
        shown: String,
    }

    impl Console for Scripted {
        fn print(&mut self, text: &str) -> Result<()> {
            self.shown.push_str(text);
            self.shown.push('\n');
            Ok(())
        }
        fn cover(&mut self, _: &SourceKind) -> Result<()> {
            Ok(())
        }
        fn ask(&mut self, prompt: &str) -> Result<Option<String>> {
            self.shown.push_str(prompt);
            self.shown.push('\n');
            Ok(self.answers.pop_front().map(String::from))
        }
        fn ask_genre(&mut self, prompt: &str, _: &[String]) -> Result<Option<String>> {
            self.ask(prompt)
        }
    }

    fn tag_options() -> TagOptions {
        TagOptions {
            apply: false,
            overwrite: false,
            field: Field::Standard,
            style: GenreStyle::Name,
            touch: false,
            journal: None,
            format: super::super::PlanFormat::Text,
            threshold: Threshold {
                value: 0.5,
                origin: Origin::Flag,
            },
            hardlinks: crate::tag::links::Hardlinks::Skip,
            genres: Default::default(),
        }
    }

    #[test]
    fn skips_hints_and_the_end_of_input_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("review.jsonl");
        let tag = tag_options();
        let review = Review {
            tag: &tag,
            journal: &journal,
            roots: &[],
            completions: Vec::new(),
        };
        let mut no_cover = album("/m/C", None, Some(SkipReason::NoCover("none".into())));
        no_cover.values.clear();
        let albums = [
            album("/m/A", None, None),
            no_cover,
            album("/m/B", None, None),
            album("/m/D", None, None),
        ]
        .into_iter()
        .map(|plan| Album { plan, cover: None })
        .collect();
        let mut console = Scripted {
            answers: ["x", "e", "  ", "s"].into(),
            shown: String::new(),
        };
        let outcome = review.run(albums, &mut console, &mut Vec::new()).unwrap();
        let shown = &console.shown;
        assert!(shown.contains("\"x\" is not an answer"), "{shown}");
        assert_eq!(
            shown.matches("aBort?").count(),
            4,
            "after the hint, after the empty genre, then B (end of input): {shown}"
        );
        assert!(shown.contains("SKIP  /m/C: no cover (none)"), "{shown}");
        let reasons: Vec<_> = outcome.plans.iter().map(|p| p.skip.clone()).collect();
        assert_eq!(
            reasons,
            [
                Some(SkipReason::Declined),
                Some(SkipReason::NoCover("none".into())),
                Some(SkipReason::NotReached),
                Some(SkipReason::NotReached),
            ]
        );
        assert_eq!(
            outcome.counts,
            Counts {
                skipped: 1,
                not_asked: 1,
                not_reached: 2,
                ..Counts::default()
            }
        );
        assert!(journal::read(&journal).unwrap().entries.is_empty());
        assert!(shown.contains("undo all of this review with: covergenre-classify --undo"));
    }
}
