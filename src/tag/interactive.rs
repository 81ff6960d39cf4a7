//! The terminal review (`--tag --interactive`): the plan's albums in its order, one question
//! per album with a proposal, each decided album written at once.
//!
//! This module is the decisions, not the terminal: it talks to a [`Console`]
//! ([`super::console`]: the real one is [`super::terminal::Terminal`]; tests script one), so
//! the question, the answers and what each answer writes are testable without a terminal.
//!
//! - Asked: every album with a proposal and tracks, whether it already has a genre (`existing
//!   genre`) or is under `--min-confidence` (`low confidence`: then Enter alone skips instead
//!   of applying). Not asked, listed as the plan lists them: no cover, no audio files, already
//!   tagged, and albums this review's journal shows were decided before.
//! - An answer is one key and Enter ([`super::question`]): `a` the proposal, `1`-`3` that genre
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

use super::by_artist::{ArtistReview, FollowUp, SameForArtist};
use super::console::{Album, Console};
use super::decisions::{Action, Decision};
use super::document::{self, Stamp};
use super::journal::{self, Entry};
use super::plan::{AlbumPlan, SkipReason, TrackAction, TrackPlan};
use super::plan_view;
use super::question::{ask, cover_path, describe, merged_completions, Choice};
use super::TagOptions;
use crate::audio::fields::{self, Values};
use crate::covers::SourceKind;
use anyhow::Result;
use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The review's journal when `--journal` names none, in the current folder: the same file
/// for every review started there, so running the same command again goes on.
pub const DEFAULT_JOURNAL: &str = "covergenre-review.jsonl";

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
    /// Goes through `albums` in order, asking about each album with a proposal; with
    /// `artists`, one more question after an answer that tags an album of an artist with
    /// more albums to ask ([`super::by_artist`]).
    pub fn run(
        &self,
        albums: Vec<Album>,
        mut artists: Option<&mut ArtistReview<'_>>,
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
        let mut same: Option<SameForArtist> = None;
        let mut queue: VecDeque<Album> = albums.into();
        while let Some(album) = queue.pop_front() {
            let key = artists.as_ref().and_then(|a| a.key(&album));
            if same.as_ref().is_some_and(|s| Some(&s.key) != key.as_ref()) {
                same = None;
            }
            let context = album.context;
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
            } else if let Some(same) = same.as_ref().filter(|_| !has_genre(&plan)) {
                console.print(&format!(
                    "\n{} ({} track(s)): the same as decided for its artist",
                    plan.folder.display(),
                    plan.tracks.len()
                ))?;
                let decided = Decided {
                    genres: same.genres.clone(),
                    stamps: stamps(&plan),
                    journal: &mut journal,
                };
                plan = self.write(plan, decided, &mut outcome, console, log)?;
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
                            genres: genres.clone(),
                            stamps,
                            journal: &mut journal,
                        };
                        plan = self.write(plan, decided, &mut outcome, console, log)?;
                        if let (Some(review), Some(key)) = (artists.as_deref_mut(), key) {
                            review.decided(context, &genres, &mut queue);
                            let still = |a: &Album| {
                                askable(&a.plan)
                                    && !has_genre(&a.plan)
                                    && !decided_before(&a.plan, &recorded)
                            };
                            match review.follow_up(&key, genres, &queue, still, console)? {
                                FollowUp::Same(answer) => same = Some(answer),
                                FollowUp::EachAlone => {}
                                FollowUp::Abort => stopped = true,
                            }
                        }
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
        super::writing::report_track_problems(std::slice::from_ref(&plan), log)?;
        let mut writer = super::writing::Writer::new(self.tag, journal);
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
        super::writing::journal_entry(track, &plan.folder, self.roots, &self.tag.field, new)
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

/// Whether a track of the album already has a genre: such albums are asked one by one
/// even after `y` (the owner's own genres are never overwritten by one answer for another
/// album).
fn has_genre(plan: &AlbumPlan) -> bool {
    plan.skip == Some(SkipReason::HasGenre)
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
                    .get(&super::writing::journal_path_of(t))
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
    plan_view::render(std::slice::from_ref(plan), field, &mut text).ok();
    String::from_utf8_lossy(&text).trim_end().to_string()
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
    use crate::tag::plan::GenreStyle;
    use crate::tag::question::tests::album;
    use crate::tag::threshold::{Origin, Threshold};
    use std::collections::VecDeque;

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
            artist_context: true,
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
        .map(|plan| Album {
            plan,
            cover: None,
            context: None,
        })
        .collect();
        let mut console = Scripted {
            answers: ["x", "e", "  ", "s"].into(),
            shown: String::new(),
        };
        let outcome = review
            .run(albums, None, &mut console, &mut Vec::new())
            .unwrap();
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
