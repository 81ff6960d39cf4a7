//! A plan shown to people: the text listing (per album its folder and genre, per track
//! `existing -> proposed`), the one-line proposal and its reason, and the review page's notes.
//! The plan itself is [`super::plan`].

use super::plan::{AlbumPlan, SkipReason, TrackAction};
use crate::audio::fields::{self, Field};
use std::io::Write;

/// The plan for people: per album its folder and genre, per track `existing -> proposed`.
pub fn render(plans: &[AlbumPlan], field: &Field, out: &mut dyn Write) -> std::io::Result<()> {
    for plan in plans {
        let folder = plan.folder.display();
        let guess = match plan.probability {
            Some(p) if !plan.values.is_empty() => format!("{} ({p:.3})", proposed(plan)),
            _ => "-".into(),
        };
        match &plan.skip {
            Some(SkipReason::NoCover(reason)) => {
                writeln!(out, "SKIP  {folder}: no cover ({reason})")?
            }
            Some(reason) => match reason.detail() {
                Some(detail) => writeln!(out, "SKIP  {folder}: {} ({detail})", reason.key())?,
                None => writeln!(out, "SKIP  {folder}: {} [{guess}]", reason.key())?,
            },
            None => writeln!(out, "ALBUM {folder}: {} = {guess}", field.describe())?,
        }
        if let Some(why) = proposal_line(plan) {
            writeln!(out, "      {why}")?;
        }
        if let Some(note) = plan.artist.as_ref().and_then(|a| a.note.as_ref()) {
            writeln!(out, "      artist: {note}")?;
        }
        if let Some(cover) = plan.cover.as_ref().filter(|c| !c.passed_over.is_empty()) {
            let passed: Vec<&str> = cover
                .passed_over
                .iter()
                .map(|p| p.reason.as_str())
                .collect();
            writeln!(
                out,
                "      cover: {} ({}), after {}",
                cover.file,
                cover.rule.name(),
                passed.join("; ")
            )?;
        }
        for track in &plan.tracks {
            let name = track.path.file_name().unwrap_or_default().to_string_lossy();
            let now = fields::show(&track.current);
            let proposed = proposed(plan);
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

/// Why the proposal is what it is, where the artist context had a say:
/// `proposal: Jazz 0.81 (cover: Metal 0.66; artist Miles Quartet: 3 albums, all Jazz)`.
pub fn proposal_line(plan: &AlbumPlan) -> Option<String> {
    let probability = plan.probability.unwrap_or(0.0);
    let why = artist_reason(plan)?;
    Some(format!(
        "proposal: {} {probability:.2} ({why})",
        proposed(plan)
    ))
}

/// What the cover and the artist said about a proposal: `cover: Metal 0.66; artist Miles
/// Quartet: 3 albums, all Jazz` (`None`: no artist, or no proposal).
pub fn artist_reason(plan: &AlbumPlan) -> Option<String> {
    let said = plan.artist.as_ref().filter(|_| !plan.values.is_empty())?;
    let cover = match &said.cover {
        Some(best) => format!("cover: {} {:.2}; ", best.value, best.probability),
        None => String::new(),
    };
    Some(format!("{cover}{}", said.describe()))
}

/// The values a plan writes, for people (`-`: none).
pub fn proposed(plan: &AlbumPlan) -> String {
    if plan.values.is_empty() {
        "-".into()
    } else {
        fields::show(&plan.values)
    }
}

/// Shows a plan on its review-page card: skipped albums move to the skipped group (low
/// confidence ones stay uncertain), with the reason; the others list `existing -> proposed`.
pub fn annotate(card: &mut crate::report::html::Card, plan: &AlbumPlan) {
    let tracks = |plan: &AlbumPlan| {
        plan.tracks
            .iter()
            .map(|t| {
                let name = t.path.file_name().unwrap_or_default().to_string_lossy();
                let now = fields::show(&t.current);
                format!("{name}: {now} -> {}", proposed(plan))
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
            match reason.detail() {
                Some(detail) => format!("skipped: {} ({detail})", reason.key()),
                None => format!("skipped: {}", reason.key()),
            }
        }
    });
}
