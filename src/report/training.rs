//! A training session's results: per run, per variant (mean and standard deviation over runs),
//! and the ranking by selection macro-F1, as JSON (`summary.json`), a markdown table
//! (`ranking.md`) and a terminal table. Plain data: `train::summary` fills it from the runs.

use super::table::{new_table, TableStyle};
use crate::spec::ModelSpec;
use serde::{Deserialize, Serialize};

/// Mean and sample standard deviation (n - 1; 0 for a single run).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanStd {
    pub mean: f64,
    pub std: f64,
}

impl MeanStd {
    pub fn of(values: &[f64]) -> Self {
        let n = values.len();
        if n == 0 {
            return Self {
                mean: 0.0,
                std: 0.0,
            };
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let std = if n < 2 {
            0.0
        } else {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        };
        Self { mean, std }
    }

    fn show(&self) -> String {
        format!("{:.3} ± {:.3}", self.mean, self.std)
    }
}

/// One run's best epoch (by selection macro-F1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub run: usize,
    pub seed: u64,
    pub best_epoch: usize,
    pub epochs_trained: usize,
    pub stopped_early: bool,
    pub dev_macro_f1: f64,
    pub dev_accuracy: f64,
    pub dev_balanced_accuracy: f64,
    pub mean_epoch_seconds: f64,
    pub images_per_second: f64,
}

/// A variant over all its runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantSummary {
    pub variant: String,
    pub description: String,
    /// What selection used: "dev", or the held-back slice of train.
    pub selected_on: String,
    pub macro_f1: MeanStd,
    pub accuracy: MeanStd,
    pub balanced_accuracy: MeanStd,
    pub runs: Vec<RunSummary>,
}

impl VariantSummary {
    pub fn new(spec: &ModelSpec, selected_on: &str, runs: Vec<RunSummary>) -> Self {
        let column =
            |f: fn(&RunSummary) -> f64| MeanStd::of(&runs.iter().map(f).collect::<Vec<_>>());
        Self {
            variant: spec.name.clone(),
            description: spec.description.clone(),
            selected_on: selected_on.to_string(),
            macro_f1: column(|r| r.dev_macro_f1),
            accuracy: column(|r| r.dev_accuracy),
            balanced_accuracy: column(|r| r.dev_balanced_accuracy),
            runs,
        }
    }

    /// The run with the best selection macro-F1 (the first on ties).
    pub fn best_run(&self) -> Option<&RunSummary> {
        self.runs.iter().reduce(|best, r| {
            if r.dev_macro_f1 > best.dev_macro_f1 {
                r
            } else {
                best
            }
        })
    }
}

/// The model that goes to `<out>/best/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Winner {
    pub variant: String,
    pub run: usize,
    pub dev_macro_f1: f64,
    /// The winner evaluated once on the test split after selection (absent without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<SplitMetrics>,
}

/// Headline metrics of a model on one split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SplitMetrics {
    pub images: usize,
    pub accuracy: f64,
    pub balanced_accuracy: f64,
    pub macro_f1: f64,
}

impl SplitMetrics {
    pub fn from_confusion(confusion: &crate::metrics::Confusion) -> Self {
        Self {
            images: confusion.total() as usize,
            accuracy: confusion.accuracy(),
            balanced_accuracy: confusion.balanced_accuracy(),
            macro_f1: confusion.macro_f1(),
        }
    }
}

/// Everything `summary.json` holds. `variants` is ranked, best mean macro-F1 first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub variants: Vec<VariantSummary>,
    pub winner: Option<Winner>,
    pub skipped: Vec<crate::failure::Failure>,
    /// Wall-clock seconds of each stage of the session, in order (reading the data, decoding
    /// covers, the frozen backbone, training, export and calibration, the card).
    #[serde(default)]
    pub stages: Vec<Stage>,
}

/// One stage of a training session and how long it took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub name: String,
    pub seconds: f64,
}

impl Summary {
    pub fn new(mut variants: Vec<VariantSummary>, skipped: Vec<crate::failure::Failure>) -> Self {
        variants.sort_by(|a, b| b.macro_f1.mean.total_cmp(&a.macro_f1.mean));
        let winner = variants.first().and_then(|v| {
            v.best_run().map(|r| Winner {
                variant: v.variant.clone(),
                run: r.run,
                dev_macro_f1: r.dev_macro_f1,
                test: None,
            })
        });
        Self {
            variants,
            winner,
            skipped,
            stages: Vec::new(),
        }
    }

    fn rows(&self) -> Vec<[String; 7]> {
        self.variants
            .iter()
            .enumerate()
            .map(|(rank, v)| {
                [
                    (rank + 1).to_string(),
                    v.variant.clone(),
                    v.macro_f1.show(),
                    v.accuracy.show(),
                    v.balanced_accuracy.show(),
                    v.runs.len().to_string(),
                    v.selected_on.clone(),
                ]
            })
            .collect()
    }

    const HEADER: [&'static str; 7] = [
        "rank",
        "variant",
        "macro-F1",
        "accuracy",
        "balanced acc.",
        "runs",
        "selected on",
    ];

    /// The ranking as a markdown table (`ranking.md`).
    pub fn ranking_markdown(&self) -> String {
        let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        let header: Vec<String> = Self::HEADER.iter().map(|h| h.to_string()).collect();
        let mut out =
            String::from("# Variants ranked by selection macro-F1 (mean ± std over runs)\n\n");
        out += &line(&header);
        out += &line(&vec!["---".to_string(); header.len()]);
        for row in self.rows() {
            out += &line(&row);
        }
        if let Some(w) = &self.winner {
            out += &format!(
                "\nWinner: {} run {} (macro-F1 {:.3}), saved in best/.\n",
                w.variant, w.run, w.dev_macro_f1
            );
        }
        out
    }

    /// The ranking for the terminal.
    pub fn ranking_table(&self) -> String {
        let mut table = new_table(TableStyle::Grid, &Self::HEADER);
        for row in self.rows() {
            table.add_row(prettytable::Row::new(
                row.iter().map(|c| prettytable::Cell::new(c)).collect(),
            ));
        }
        table.to_string()
    }
}
