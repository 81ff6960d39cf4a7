//! What learning from a base model found, as plain data and as the model card's section: the
//! recipes tried and the one chosen on dev, the base genres each owner genre draws on, and the
//! chosen model beside the base model through the mapping on the test albums (accuracy,
//! macro-F1 and top-3, each with a 95% interval, and their paired bootstrap differences).

use crate::bootstrap::Interval;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// One recipe scored on the library's dev albums.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub name: String,
    pub dev_accuracy: f64,
    pub dev_macro_f1: f64,
    pub dev_top3: f64,
}

/// An owner genre and the base genres it draws on (share of its training albums' base
/// probability mass), largest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrawsOn {
    pub genre: String,
    pub base_genres: Vec<(String, f64)>,
}

/// Accuracy, macro-F1 and top-3 accuracy, each with its interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub accuracy: Interval,
    pub macro_f1: Interval,
    pub top3: Interval,
}

/// The chosen model and the base through the mapping on the same covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub covers: usize,
    pub chosen: Scores,
    pub base_through_mapping: Scores,
    /// chosen - base through the mapping, paired bootstrap (the same resampled covers).
    pub difference: Scores,
}

/// Everything the card shows of learning from a base model (also `<out>/learned.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LearnedReport {
    /// The base model's file name (or "the built-in model") and variant.
    pub base: String,
    pub base_variant: String,
    /// Covers the base model ran on in this run, and covers whose outputs came from the cache.
    pub base_passes: usize,
    pub from_cache: usize,
    /// Bytes this run read while gathering the base's outputs (cover bytes hashed for the cache
    /// keys, cache entries, covers decoded for the base; Linux, `None` elsewhere).
    #[serde(default)]
    pub bytes_read: Option<u64>,
    pub candidates: Vec<Candidate>,
    pub chosen: String,
    pub draws_on: Vec<DrawsOn>,
    /// On the test albums; `None` without any.
    pub test: Option<Comparison>,
    /// The base's last layers fine-tuned through the head (`--finetune-base`), when asked for.
    #[serde(default)]
    pub finetune: Option<FinetuneRecord>,
}

/// One epoch of fine-tuning the base's last layers (epoch 0: the base as it is).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinetuneEpoch {
    pub epoch: usize,
    /// Mean training loss (none for epoch 0).
    pub train_loss: Option<f64>,
    /// Accuracy on the dev albums, computed in libtorch.
    pub dev_accuracy: f64,
}

/// How the base's last layers were fine-tuned, and what came of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinetuneRecord {
    /// The first and last top-level layers trained.
    pub layers: (usize, usize),
    pub learning_rate: f64,
    pub history: Vec<FinetuneEpoch>,
    /// The epoch whose weights make the candidate; 0: no epoch beat the base on dev, so there
    /// is no candidate.
    pub kept_epoch: usize,
    /// What ran the first layers once per cover ("onnxruntime" or "libtorch").
    pub first_layers_engine: String,
    pub seconds: f64,
    /// Dev accuracy of the fine-tuned candidate minus the recipe it started from (paired
    /// bootstrap, written file through onnxruntime); it is chosen only when the interval's
    /// lower end is above 0.
    #[serde(default)]
    pub dev_gain: Option<Interval>,
    /// Whether it was chosen.
    #[serde(default)]
    pub chosen: bool,
}

impl FinetuneRecord {
    fn markdown(&self) -> String {
        let accuracies: Vec<String> = self
            .history
            .iter()
            .map(|e| format!("{:.3}", e.dev_accuracy))
            .collect();
        let outcome = match (self.kept_epoch, self.dev_gain) {
            (0, _) | (_, None) => "no epoch was more accurate on dev than the base, so there is no fine-tuned candidate".to_string(),
            (k, Some(gain)) => format!(
                "epoch {k} kept; dev accuracy against the recipe it started from {}: {}",
                show(&gain, true),
                match self.chosen {
                    true => "chosen",
                    false => "not clearly better (the interval reaches 0), so not chosen",
                }
            ),
        };
        format!(
            "\nFine-tuning layers {}-{} of the base through the head ({} epochs, Adam {}, {:.0} s): \
             dev accuracy by epoch (0: the base, with the head) {}; {outcome}.\n",
            self.layers.0,
            self.layers.1,
            self.history.len().saturating_sub(1),
            self.learning_rate,
            self.seconds,
            accuracies.join(", ")
        )
    }
}

impl LearnedReport {
    /// The card's section (markdown).
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "## Learned from {} ({})\n\nThe base model ran on {} covers; {} came from its cache{}. \
             Recipes, scored on dev (chosen: **{}**):\n",
            self.base,
            self.base_variant,
            self.base_passes,
            self.from_cache,
            self.bytes_read
                .map_or(String::new(), |b| format!(" ({:.1} MB read)", b as f64 / 1e6)),
            self.chosen
        );
        let _ = writeln!(
            out,
            "| recipe | dev accuracy | dev macro-F1 | dev top-3 |\n|---|---:|---:|---:|"
        );
        for c in &self.candidates {
            let _ = writeln!(
                out,
                "| {} | {:.3} | {:.3} | {:.3} |",
                c.name, c.dev_accuracy, c.dev_macro_f1, c.dev_top3
            );
        }
        let _ = writeln!(
            out,
            "\n| owner genre | base genres it draws on |\n|---|---|"
        );
        for d in &self.draws_on {
            let shares: Vec<String> = d
                .base_genres
                .iter()
                .map(|(g, s)| format!("{g} {:.0}%", s * 100.0))
                .collect();
            let _ = writeln!(out, "| {} | {} |", d.genre, shares.join(", "));
        }
        if let Some(finetune) = &self.finetune {
            out.push_str(&finetune.markdown());
        }
        if let Some(test) = &self.test {
            let _ = writeln!(
                out,
                "\nOn the {} test albums (95% intervals; difference: paired bootstrap):\n\n\
                 | | accuracy | macro-F1 | top-3 |\n|---|---|---|---|",
                test.covers
            );
            for (name, s, signed) in [
                (format!("chosen ({})", self.chosen), &test.chosen, false),
                (
                    "base through the mapping".to_string(),
                    &test.base_through_mapping,
                    false,
                ),
                ("difference".to_string(), &test.difference, true),
            ] {
                let _ = writeln!(
                    out,
                    "| {name} | {} | {} | {} |",
                    show(&s.accuracy, signed),
                    show(&s.macro_f1, signed),
                    show(&s.top3, signed)
                );
            }
        }
        out
    }
}

fn show(i: &Interval, signed: bool) -> String {
    match signed {
        true => format!("{:+.3} [{:+.3}, {:+.3}]", i.estimate, i.low, i.high),
        false => format!("{:.3} [{:.3}, {:.3}]", i.estimate, i.low, i.high),
    }
}
