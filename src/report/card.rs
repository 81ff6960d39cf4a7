//! The model card a training run writes beside its winner (`<out>/best/card.md`, and the same
//! numbers as `card.json`): what the model was trained on (for a music library, the owner's
//! vocabulary with its spellings and album counts), how it was made (the command, the time of
//! each stage), and how it scores on dev (where it was selected) and on test (evaluated once):
//! headline metrics with their bootstrap intervals, per-genre precision, recall and F1, and
//! the confidence table (how many covers each threshold keeps, and how many of those are right).

use super::formats::markdown_titled;
use super::training::{Stage, Summary};
use super::EvalReport;
use crate::data::library::LibrarySummary;
use serde::Serialize;
use std::fmt::Write;

/// Everything the card shows.
#[derive(Debug, Clone, Serialize)]
pub struct Card<'a> {
    /// The command line that made the model.
    pub command: &'a [String],
    /// The data folder, and for a music library what reading it found.
    pub data: String,
    pub library: Option<&'a LibrarySummary>,
    pub variant: String,
    /// Covers per split.
    pub covers: [usize; 3],
    pub stages: &'a [Stage],
    pub dev: Option<&'a EvalReport>,
    pub test: Option<&'a EvalReport>,
    /// For a model learned from a base model: the recipes, the mapping, and the chosen model
    /// beside the base through the mapping on test.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub learned: Option<&'a super::learned::LearnedReport>,
    pub date: String,
}

impl<'a> Card<'a> {
    pub fn new(summary: &'a Summary, command: &'a [String], data: String) -> Self {
        Self {
            command,
            data,
            library: None,
            variant: summary
                .winner
                .as_ref()
                .map(|w| w.variant.clone())
                .unwrap_or_default(),
            covers: [0; 3],
            stages: &summary.stages,
            dev: None,
            test: None,
            learned: None,
            date: chrono::Local::now().format("%Y-%m-%d %H:%M").to_string(),
        }
    }

    /// The card as markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Model card: `{}` on {}\n", self.variant, self.data);
        let _ = writeln!(
            out,
            "Made on {} by covergenre {}:\n\n```sh\n{}\n```\n",
            self.date,
            crate::VERSION,
            shell_line(self.command)
        );
        let [train, dev, test] = self.covers;
        let _ = writeln!(
            out,
            "Covers: {train} train, {dev} dev (selection and calibration), {test} test (evaluated once).\n"
        );
        if let Some(library) = self.library {
            vocabulary(&mut out, library);
        }
        if let Some(learned) = self.learned {
            out.push_str(&learned.markdown());
            out.push('\n');
        }
        stages(&mut out, self.stages);
        for (title, report) in [
            ("Dev (selected and calibrated on)", self.dev),
            ("Test (evaluated once)", self.test),
        ] {
            if let Some(report) = report {
                out.push('\n');
                out.push_str(&markdown_titled(std::slice::from_ref(report), title));
            }
        }
        out
    }
}

fn vocabulary(out: &mut String, library: &LibrarySummary) {
    let _ = writeln!(
        out,
        "## Vocabulary\n\n{} albums ({} tracks) read; {} labelled by their `{}` field and used; \
         {} without a genre (what the model is for). Genres with fewer than {} albums are left out.\n",
        library.albums,
        library.tracks,
        library.labelled,
        library.field,
        library.unlabelled.len(),
        library.min_albums
    );
    let _ = writeln!(
        out,
        "| genre | albums | spellings folded into it |\n|---|---:|---|"
    );
    for genre in &library.genres {
        let spellings: Vec<String> = genre
            .spellings
            .iter()
            .map(|(s, n)| format!("{s} ({n})"))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            genre.name,
            genre.albums,
            spellings.join(", ")
        );
    }
    if !library.left_out.is_empty() {
        let left: Vec<String> = library
            .left_out
            .iter()
            .map(|g| format!("{} ({})", g.name, g.albums))
            .collect();
        let _ = writeln!(out, "\nLeft out: {}.", left.join(", "));
    }
    if !library.dropped.is_empty() {
        let dropped: Vec<String> = library
            .dropped
            .iter()
            .map(|(v, n)| format!("{v} ({n})"))
            .collect();
        let _ = writeln!(out, "\nDropped by the genre map: {}.", dropped.join(", "));
    }
    out.push('\n');
}

fn stages(out: &mut String, stages: &[Stage]) {
    if stages.is_empty() {
        return;
    }
    let total: f64 = stages.iter().map(|s| s.seconds).sum();
    let _ = writeln!(out, "## Time\n\n| stage | seconds |\n|---|---:|");
    for stage in stages {
        let _ = writeln!(out, "| {} | {:.1} |", stage.name, stage.seconds);
    }
    let _ = writeln!(out, "| all | {total:.1} |\n");
}

/// The command as one line a shell would take back (arguments with spaces or quotes quoted).
fn shell_line(command: &[String]) -> String {
    command
        .iter()
        .map(|arg| {
            let plain = !arg.is_empty()
                && arg
                    .chars()
                    .all(|c| c.is_alphanumeric() || "-_./=:,+@%".contains(c));
            if plain {
                arg.clone()
            } else {
                format!("'{}'", arg.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_quotes_what_a_shell_would_split() {
        let args = [
            "covergenre-train",
            "--data",
            "/music/My Library",
            "--seed",
            "7",
            "it's",
        ]
        .map(String::from);
        assert_eq!(
            shell_line(&args),
            r"covergenre-train --data '/music/My Library' --seed 7 'it'\''s'"
        );
    }
}
