//! The terminal review's question about one album ([`super::interactive`] goes through the
//! albums and writes what is decided): what it offers ([`Question::of`]), its line, what a
//! typed answer means ([`Question::parse`]: `a` the proposal, `1`-`3` that genre of the top 3,
//! `e` a genre typed with Tab completion, `s` skip, `k` keep the existing genre, `b` stop at
//! once), the typed genres and their completion, and the album as the question shows it.

use super::console::Console;
use super::decisions::MAX_GENRE_CHARS;
use super::plan::{self, AlbumPlan, GenreStyle, SkipReason};
use super::plan_view;
use crate::audio::fields::{self, Values};
use crate::covers::SourceKind;
use crate::genres::GenreSet;
use anyhow::Result;
use std::collections::{BTreeMap, BTreeSet};

/// The question's highest pick (`1-3 pick`).
const PICKS: usize = 3;

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
pub(super) enum Choice {
    /// The genres to write, best first.
    Write(Values),
    Skip,
    Keep,
    Abort,
}

/// Asks until the answer is a decision (unknown answers get a hint; an empty typed genre
/// goes back to the question; the end of input is `b`).
pub(super) fn ask(
    plan: &AlbumPlan,
    completions: &[String],
    console: &mut dyn Console,
) -> Result<Choice> {
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
    let proposal = plan_view::proposed(plan);
    let probability = plan.probability.unwrap_or(0.0);
    let low = if plan.skip == Some(SkipReason::LowConfidence) {
        format!("   [low confidence: under --min-confidence {min_confidence:.2}; Enter skips]")
    } else {
        String::new()
    };
    let why = plan_view::artist_reason(plan)
        .map(|why| format!("\n  because: {why}"))
        .unwrap_or_default();
    format!(
        "\n({n}/{of}) {} ({} track(s))\n  existing genre: {}\n  top {}: {top}\n  proposal: {proposal} ({probability:.3}){low}{why}",
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
pub(super) fn cover_path(cover: &SourceKind) -> String {
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
pub(super) fn merged_completions(extra: &[String], plans: &[&AlbumPlan]) -> Vec<String> {
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tag::plan::{Candidate, TrackAction, TrackPlan};
    use std::path::PathBuf;

    fn candidate(value: &str, probability: f32) -> Candidate {
        Candidate {
            genre: value.to_lowercase(),
            value: value.into(),
            probability,
        }
    }

    pub(crate) fn album(
        folder: &str,
        current: Option<&str>,
        skip: Option<SkipReason>,
    ) -> AlbumPlan {
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
            cover: None,
            artist: None,
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
}
