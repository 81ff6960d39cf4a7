//! Classification metrics from a confusion matrix: accuracy alone misleads on imbalanced genres,
//! so per-genre precision/recall/F1, macro-F1 and balanced accuracy sit beside it.
//!
//! Macro averages (macro-F1, balanced accuracy) are taken over the genres that have at least one
//! true example ("support"): a genre the model knows but the data lacks says nothing about the model.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Rows are true labels, columns predictions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    classes: usize,
    counts: Vec<u64>,
}

/// Precision, recall, F1 and support of one genre.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    pub support: u64,
    pub predicted: u64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

impl Confusion {
    pub fn new(classes: usize) -> Self {
        Self {
            classes,
            counts: vec![0; classes * classes],
        }
    }

    /// Builds a matrix from parallel label and prediction lists.
    pub fn from_pairs(classes: usize, truth: &[usize], predicted: &[usize]) -> Self {
        let mut confusion = Self::new(classes);
        for (&t, &p) in truth.iter().zip(predicted) {
            confusion.add(t, p);
        }
        confusion
    }

    pub fn add(&mut self, truth: usize, predicted: usize) {
        assert!(
            truth < self.classes && predicted < self.classes,
            "label out of range"
        );
        self.counts[truth * self.classes + predicted] += 1;
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    pub fn get(&self, truth: usize, predicted: usize) -> u64 {
        self.counts[truth * self.classes + predicted]
    }

    /// Rows as nested vectors (for JSON and tables).
    pub fn rows(&self) -> Vec<Vec<u64>> {
        self.counts
            .chunks(self.classes.max(1))
            .map(<[u64]>::to_vec)
            .collect()
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn support(&self, class: usize) -> u64 {
        (0..self.classes).map(|p| self.get(class, p)).sum()
    }

    pub fn predicted_count(&self, class: usize) -> u64 {
        (0..self.classes).map(|t| self.get(t, class)).sum()
    }

    fn correct(&self) -> u64 {
        (0..self.classes).map(|c| self.get(c, c)).sum()
    }

    /// Genres with at least one true example: the ones macro averages are taken over.
    pub fn present_classes(&self) -> Vec<usize> {
        (0..self.classes).filter(|&c| self.support(c) > 0).collect()
    }

    pub fn accuracy(&self) -> f64 {
        ratio(self.correct(), self.total())
    }

    /// Precision and recall are 0 when undefined (nothing predicted / no support), as sklearn's
    /// `zero_division=0`: a genre never predicted earns no credit.
    pub fn class_scores(&self, class: usize) -> ClassScores {
        let tp = self.get(class, class);
        let support = self.support(class);
        let predicted = self.predicted_count(class);
        let precision = ratio(tp, predicted);
        let recall = ratio(tp, support);
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        ClassScores {
            support,
            predicted,
            precision,
            recall,
            f1,
        }
    }

    /// Mean recall over present genres.
    pub fn balanced_accuracy(&self) -> f64 {
        self.macro_mean(|s| s.recall)
    }

    /// Mean F1 over present genres.
    pub fn macro_f1(&self) -> f64 {
        self.macro_mean(|s| s.f1)
    }

    /// F1 averaged with each genre weighted by its support.
    pub fn weighted_f1(&self) -> f64 {
        let total = self.total();
        if total == 0 {
            return 0.0;
        }
        (0..self.classes)
            .map(|c| {
                let s = self.class_scores(c);
                s.f1 * s.support as f64
            })
            .sum::<f64>()
            / total as f64
    }

    fn macro_mean(&self, score: impl Fn(&ClassScores) -> f64) -> f64 {
        let present = self.present_classes();
        if present.is_empty() {
            return 0.0;
        }
        present
            .iter()
            .map(|&c| score(&self.class_scores(c)))
            .sum::<f64>()
            / present.len() as f64
    }
}

/// The headline numbers of one evaluation (or of a baseline), under the keys JSON uses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub accuracy: f64,
    pub balanced_accuracy: f64,
    pub macro_f1: f64,
    pub weighted_f1: f64,
    /// None when the predictions do not rank enough genres (a classify file written with
    /// `--top-k 1` or 2 cannot say whether the truth was among the first three).
    pub top3_accuracy: Option<f64>,
}

impl Confusion {
    /// Genres with no true example: shown in reports, left out of macro averages.
    pub fn absent_classes(&self) -> Vec<usize> {
        (0..self.classes)
            .filter(|&c| self.support(c) == 0)
            .collect()
    }

    /// Genres with true examples that the model never predicted (precision 0 by convention).
    pub fn never_predicted_classes(&self) -> Vec<usize> {
        (0..self.classes)
            .filter(|&c| self.support(c) > 0 && self.predicted_count(c) == 0)
            .collect()
    }

    /// Genres ordered by support, largest first (lowest index first on ties, so the result is
    /// stable whatever order the covers came in).
    pub fn classes_by_support(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.classes).collect();
        order.sort_by(|&a, &b| self.support(b).cmp(&self.support(a)).then(a.cmp(&b)));
        order
    }

    /// The most frequent true genre, or None for an empty matrix.
    pub fn majority_class(&self) -> Option<usize> {
        self.classes_by_support()
            .first()
            .copied()
            .filter(|&c| self.support(c) > 0)
    }

    /// What a classifier that always answers the majority genre would have scored on the same
    /// covers: the same supports, every cover in the majority column.
    pub fn majority_baseline(&self) -> Confusion {
        let mut baseline = Confusion::new(self.classes);
        if let Some(majority) = self.majority_class() {
            for truth in 0..self.classes {
                baseline.counts[truth * self.classes + majority] = self.support(truth);
            }
        }
        baseline
    }

    /// Top-k accuracy of the majority baseline: always ranking the k most frequent genres first.
    pub fn majority_top_k_accuracy(&self, k: usize) -> f64 {
        let hits = self
            .classes_by_support()
            .iter()
            .take(k)
            .map(|&c| self.support(c))
            .sum();
        ratio(hits, self.total())
    }

    /// The headline numbers, with a top-3 accuracy counted elsewhere (it needs rankings).
    pub fn summary(&self, top3_accuracy: Option<f64>) -> Summary {
        Summary {
            accuracy: self.accuracy(),
            balanced_accuracy: self.balanced_accuracy(),
            macro_f1: self.macro_f1(),
            weighted_f1: self.weighted_f1(),
            top3_accuracy,
        }
    }

    /// The majority baseline's headline numbers.
    pub fn baseline_summary(&self) -> Summary {
        self.majority_baseline()
            .summary(Some(self.majority_top_k_accuracy(3)))
    }
}

/// One wrong prediction, kept for the "most confident mistakes" listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mistake {
    pub path: PathBuf,
    pub truth: usize,
    pub predicted: usize,
    pub probability: f32,
}

/// Accumulates an evaluation one cover at a time, so a pipeline can stream results into it
/// without keeping every probability vector.
#[derive(Debug, Clone)]
pub struct Tally {
    confusion: Confusion,
    top3_hits: u64,
    /// False once a cover arrives with fewer than 3 ranked genres (while the model knows more).
    top3_known: bool,
    keep_mistakes: usize,
    mistakes: Vec<Mistake>,
    /// Every cover's outcome (three numbers and a path a cover): calibration and bootstrap
    /// intervals need them all, and a comparison pairs them by path.
    outcomes: Vec<CoverOutcome>,
}

/// One cover's result: what it was, what the model said, how sure the model was.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub truth: usize,
    pub predicted: usize,
    /// The probability of the predicted genre.
    pub confidence: f64,
}

impl Outcome {
    pub fn new(truth: usize, predicted: usize, confidence: f64) -> Self {
        Self {
            truth,
            predicted,
            confidence,
        }
    }

    pub fn correct(&self) -> bool {
        self.truth == self.predicted
    }
}

/// One cover's [`Outcome`] with the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct CoverOutcome {
    pub path: PathBuf,
    pub outcome: Outcome,
}

impl Tally {
    /// `keep_mistakes`: how many of the most confident wrong predictions to remember.
    pub fn new(classes: usize, keep_mistakes: usize) -> Self {
        Self {
            confusion: Confusion::new(classes),
            top3_hits: 0,
            top3_known: true,
            keep_mistakes,
            mistakes: Vec::new(),
            outcomes: Vec::new(),
        }
    }

    /// Adds one cover. `ranked` holds (genre, probability) best first: a model's whole output or
    /// the top-k a classify file kept. Empty rankings are ignored (there is no prediction).
    pub fn add(&mut self, path: &Path, truth: usize, ranked: &[(usize, f32)]) {
        let Some(&(predicted, probability)) = ranked.first() else {
            return;
        };
        self.confusion.add(truth, predicted);
        self.outcomes.push(CoverOutcome {
            path: path.to_path_buf(),
            outcome: Outcome {
                truth,
                predicted,
                confidence: f64::from(probability),
            },
        });
        let ranks_enough = ranked.len() >= 3.min(self.confusion.classes());
        if !ranks_enough {
            self.top3_known = false;
        }
        if ranked.iter().take(3).any(|&(genre, _)| genre == truth) {
            self.top3_hits += 1;
        }
        if predicted != truth && self.keep_mistakes > 0 {
            self.remember_mistake(Mistake {
                path: path.to_path_buf(),
                truth,
                predicted,
                probability,
            });
        }
    }

    /// Adds one cover from a model's full probability vector.
    pub fn add_probabilities(&mut self, path: &Path, truth: usize, probabilities: &[f32]) {
        self.add(path, truth, &ranked(probabilities, probabilities.len()));
    }

    // Kept sorted and trimmed as we go so memory stays bounded by `keep_mistakes`.
    fn remember_mistake(&mut self, mistake: Mistake) {
        let position = self
            .mistakes
            .partition_point(|m| m.probability >= mistake.probability);
        if position < self.keep_mistakes {
            self.mistakes.insert(position, mistake);
            self.mistakes.truncate(self.keep_mistakes);
        }
    }

    pub fn confusion(&self) -> &Confusion {
        &self.confusion
    }

    pub fn top3_accuracy(&self) -> Option<f64> {
        self.top3_known
            .then(|| ratio(self.top3_hits, self.confusion.total()))
    }

    /// The most confident wrong predictions, most confident first.
    pub fn mistakes(&self) -> &[Mistake] {
        &self.mistakes
    }

    pub fn summary(&self) -> Summary {
        self.confusion.summary(self.top3_accuracy())
    }

    /// Every cover's outcome, in the order they were added.
    pub fn outcomes(&self) -> &[CoverOutcome] {
        &self.outcomes
    }
}

/// A headline metric by its stable (JSON) name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Accuracy,
    BalancedAccuracy,
    MacroF1,
    WeightedF1,
    Top3Accuracy,
}

impl Metric {
    pub const ALL: [Metric; 5] = [
        Metric::Accuracy,
        Metric::BalancedAccuracy,
        Metric::MacroF1,
        Metric::WeightedF1,
        Metric::Top3Accuracy,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::BalancedAccuracy => "balanced_accuracy",
            Metric::MacroF1 => "macro_f1",
            Metric::WeightedF1 => "weighted_f1",
            Metric::Top3Accuracy => "top3_accuracy",
        }
    }

    /// Accepts the JSON name, with `-` for `_` and any case.
    pub fn parse(name: &str) -> Option<Metric> {
        let wanted = name.trim().to_lowercase().replace('-', "_");
        Metric::ALL.into_iter().find(|m| m.name() == wanted)
    }

    /// The value in a summary; None only for a top-3 accuracy that could not be counted.
    pub fn value(self, summary: &Summary) -> Option<f64> {
        match self {
            Metric::Accuracy => Some(summary.accuracy),
            Metric::BalancedAccuracy => Some(summary.balanced_accuracy),
            Metric::MacroF1 => Some(summary.macro_f1),
            Metric::WeightedF1 => Some(summary.weighted_f1),
            Metric::Top3Accuracy => summary.top3_accuracy,
        }
    }
}

/// One `METRIC=VALUE` bar of a `--fail-under` gate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    pub metric: Metric,
    pub minimum: f64,
}

/// Parses `macro_f1=0.3,accuracy=0.4`. Values are fractions in [0, 1], as in the JSON output.
pub fn parse_gate(spec: &str) -> Result<Vec<Bar>, String> {
    spec.split(',')
        .filter(|part| !part.trim().is_empty())
        .map(parse_bar)
        .collect::<Result<Vec<_>, _>>()
        .and_then(|bars| {
            if bars.is_empty() {
                Err(format!("empty gate {spec:?}: expected METRIC=VALUE[,...]"))
            } else {
                Ok(bars)
            }
        })
}

/// Parses one `METRIC=VALUE` bar.
pub fn parse_bar(part: &str) -> Result<Bar, String> {
    let known = || {
        Metric::ALL
            .iter()
            .map(|m| m.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (name, value) = part
        .split_once('=')
        .ok_or_else(|| format!("{part:?} is not METRIC=VALUE (metrics: {})", known()))?;
    let metric = Metric::parse(name)
        .ok_or_else(|| format!("unknown metric {:?} (metrics: {})", name.trim(), known()))?;
    let minimum: f64 = value
        .trim()
        .parse()
        .map_err(|_| format!("{part:?}: {:?} is not a number", value.trim()))?;
    if !(0.0..=1.0).contains(&minimum) {
        return Err(format!(
            "{part:?}: bars are fractions between 0 and 1 (write 0.4, not 40)"
        ));
    }
    Ok(Bar { metric, minimum })
}

/// One message per bar the summary does not reach; empty when the gate passes. A metric that
/// could not be measured fails its bar: a CI gate must not pass by accident.
pub fn gate_failures(summary: &Summary, bars: &[Bar]) -> Vec<String> {
    bars.iter()
        .filter_map(|bar| match bar.metric.value(summary) {
            Some(value) if value >= bar.minimum => None,
            Some(value) => Some(format!(
                "{} is {value:.4}, below the bar of {:.4}",
                bar.metric.name(),
                bar.minimum
            )),
            None => Some(format!(
                "{} could not be measured (the predictions rank fewer than 3 genres), bar {:.4}",
                bar.metric.name(),
                bar.minimum
            )),
        })
        .collect()
}

/// `numerator / denominator`, 0 for an empty denominator.
pub(crate) fn ratio(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}

/// How many of `labels` fall in each of `classes` classes; every label must be below
/// `classes` (they index the caller's genres).
pub fn class_counts(labels: impl IntoIterator<Item = usize>, classes: usize) -> Vec<usize> {
    let mut counts = vec![0usize; classes];
    for label in labels {
        counts[label] += 1;
    }
    counts
}

/// Index of the largest value (the first one on ties); None for an empty row or NaN everywhere.
/// Takes a slice, a `Vec` or an ndarray row alike.
pub fn argmax<'a>(row: impl IntoIterator<Item = &'a f32>) -> Option<usize> {
    row.into_iter()
        .enumerate()
        .filter(|(_, v)| !v.is_nan())
        .fold(None, |best: Option<(usize, f32)>, (i, &v)| match best {
            Some((_, b)) if b >= v => best,
            _ => Some((i, v)),
        })
        .map(|(i, _)| i)
}

/// Indices of the k largest values, largest first (the lower index first on ties, so results
/// are reproducible).
pub fn top_k(row: &[f32], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..row.len()).collect();
    order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
    order.truncate(k);
    order
}

/// [`top_k`] with the values: (index, value) of the k largest, largest first.
pub fn ranked(row: &[f32], k: usize) -> Vec<(usize, f32)> {
    top_k(row, k).into_iter().map(|i| (i, row[i])).collect()
}

#[cfg(test)]
mod tests;
