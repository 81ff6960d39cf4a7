//! How far a model's confidence can be trusted: calibration (reliability bins, expected
//! calibration error, a coverage/precision table per confidence threshold), temperature
//! fitting and logit adjustment. How far its scores can be trusted (bootstrap intervals) is
//! [`crate::bootstrap`].
//!
//! Everything works on per-cover [`Outcome`]s: the true genre, the predicted one and the
//! probability the model gave its prediction. Three numbers a cover, so an evaluation can keep
//! them all.
//!
//! Conventions (so numbers match other tools):
//! - Reliability bins are equal-width on [0, 1] and half-open on the left, `(lo, hi]` (Guo et
//!   al. 2017; a confidence of exactly 0 goes to the first bin). ECE is the support-weighted mean
//!   of |accuracy - mean confidence| over the bins.
//! - A threshold keeps a cover when its confidence is `>=` the threshold: exactly the covers that
//!   `covergenre-classify --min-confidence` would label rather than call `uncertain` (compared
//!   in f32, as classify does).
//! - Bootstrap intervals are percentile intervals (linear interpolation between order
//!   statistics) over resamples drawn with a seeded ChaCha8 generator, so a report is
//!   reproducible bit for bit.

use crate::metrics::{argmax, ratio, Confusion, Outcome};
use ndarray::{Array2, ArrayView1, ArrayView2};
use serde::{Deserialize, Serialize};

/// Bins of the reliability diagram and of the expected calibration error.
pub const ECE_BINS: usize = 15;
/// Confidence thresholds of the coverage/precision table.
pub const THRESHOLDS: [f64; 7] = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/// One bar of the reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    pub lower: f64,
    pub upper: f64,
    /// Covers whose confidence falls in `(lower, upper]`.
    pub count: u64,
    /// Mean confidence of those covers (0 for an empty bin).
    pub mean_confidence: f64,
    /// Share of them predicted correctly (0 for an empty bin).
    pub accuracy: f64,
}

/// Coverage and precision when only covers at or above `threshold` are labelled.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ThresholdRow {
    pub threshold: f64,
    /// Covers kept (confidence >= threshold).
    pub kept: u64,
    /// Share of all covers kept.
    pub coverage: f64,
    /// Share of kept covers whose label is right; None when nothing is kept.
    pub precision: Option<f64>,
}

/// The calibration part of a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Calibration {
    /// Expected calibration error over [`ECE_BINS`] bins.
    pub expected_calibration_error: f64,
    pub bins: Vec<ReliabilityBin>,
    pub thresholds: Vec<ThresholdRow>,
}

impl Calibration {
    /// ECE, reliability bins and the threshold table with the project's defaults.
    pub fn of(outcomes: &[Outcome]) -> Self {
        let bins = reliability_bins(outcomes, ECE_BINS);
        Self {
            expected_calibration_error: expected_calibration_error(&bins),
            bins,
            thresholds: threshold_table(outcomes, &THRESHOLDS),
        }
    }
}

/// The bin of a confidence: `(k/n, (k+1)/n]`, with 0 in the first.
fn bin_index(confidence: f64, bins: usize) -> usize {
    let scaled = (confidence.clamp(0.0, 1.0) * bins as f64).ceil() as usize;
    scaled.saturating_sub(1).min(bins - 1)
}

/// Equal-width reliability bins (see the module docs).
pub fn reliability_bins(outcomes: &[Outcome], bins: usize) -> Vec<ReliabilityBin> {
    let bins = bins.max(1);
    let mut count = vec![0u64; bins];
    let mut confidence = vec![0.0f64; bins];
    let mut correct = vec![0u64; bins];
    for outcome in outcomes {
        let k = bin_index(outcome.confidence, bins);
        count[k] += 1;
        confidence[k] += outcome.confidence;
        correct[k] += u64::from(outcome.correct());
    }
    (0..bins)
        .map(|k| {
            let n = count[k];
            let mean = |sum: f64| if n == 0 { 0.0 } else { sum / n as f64 };
            ReliabilityBin {
                lower: k as f64 / bins as f64,
                upper: (k + 1) as f64 / bins as f64,
                count: n,
                mean_confidence: mean(confidence[k]),
                accuracy: mean(correct[k] as f64),
            }
        })
        .collect()
}

/// Support-weighted mean gap between accuracy and confidence; 0 for no covers.
pub fn expected_calibration_error(bins: &[ReliabilityBin]) -> f64 {
    let total: u64 = bins.iter().map(|b| b.count).sum();
    if total == 0 {
        return 0.0;
    }
    bins.iter()
        .map(|b| b.count as f64 * (b.accuracy - b.mean_confidence).abs())
        .sum::<f64>()
        / total as f64
}

/// Coverage and precision at each threshold.
pub fn threshold_table(outcomes: &[Outcome], thresholds: &[f64]) -> Vec<ThresholdRow> {
    thresholds
        .iter()
        .map(|&threshold| {
            // Compared in f32, as classify compares its f32 probabilities with its f32 bar:
            // a probability of 0.7f32 is kept at --min-confidence 0.7 in both.
            let kept: Vec<&Outcome> = outcomes
                .iter()
                .filter(|o| o.confidence as f32 >= threshold as f32)
                .collect();
            let right = kept.iter().filter(|o| o.correct()).count();
            ThresholdRow {
                threshold,
                kept: kept.len() as u64,
                coverage: ratio(kept.len() as u64, outcomes.len() as u64),
                precision: (!kept.is_empty()).then(|| ratio(right as u64, kept.len() as u64)),
            }
        })
        .collect()
}

/// The precision a tagging threshold aims at: about 2 in 3 albums written get the right genre.
pub const TAG_PRECISION: f64 = 2.0 / 3.0;
/// Fewest covers a threshold must keep to be chosen: the precision of fewer is noise.
pub const TAG_MIN_KEPT: u64 = 20;

/// The tagging threshold of a model on labelled covers: the lowest of 0.05, 0.10, ... 0.95
/// whose precision (covers at or above it whose top genre is right) is at least `precision`,
/// keeping at least `min_kept` covers. `None` when no threshold gets there.
pub fn threshold_for_precision(
    outcomes: &[Outcome],
    precision: f64,
    min_kept: u64,
) -> Option<ThresholdRow> {
    let grid: Vec<f64> = (1..20).map(|i| f64::from(i) / 20.0).collect();
    threshold_table(outcomes, &grid)
        .into_iter()
        .find(|row| row.kept >= min_kept && row.precision.is_some_and(|p| p >= precision))
}

/// Per-cover outcomes of softmax(logits / temperature): the top genre and its probability.
pub fn outcomes_of_logits(
    logits: ArrayView2<f32>,
    labels: &[usize],
    temperature: f64,
) -> Vec<Outcome> {
    let beta = 1.0 / temperature;
    logits
        .rows()
        .into_iter()
        .zip(labels)
        .map(|(row, &truth)| {
            let predicted = argmax(row).unwrap_or(0);
            let best = f64::from(row[predicted]);
            let sum: f64 = row
                .iter()
                .map(|&z| (beta * (f64::from(z) - best)).exp())
                .sum();
            Outcome {
                truth,
                predicted,
                confidence: 1.0 / sum,
            }
        })
        .collect()
}

/// Mean negative log-likelihood of `labels` under softmax(logits / temperature); `logits` has
/// one row per cover. Computed in f64 with the max subtracted (no overflow).
pub fn log_loss(logits: ArrayView2<f32>, labels: &[usize], temperature: f64) -> f64 {
    if labels.is_empty() {
        return 0.0;
    }
    let beta = 1.0 / temperature;
    let total: f64 = logits
        .rows()
        .into_iter()
        .zip(labels)
        .map(|(row, &label)| {
            let max = row
                .iter()
                .fold(f64::NEG_INFINITY, |m, &z| m.max(f64::from(z)));
            let sum: f64 = row
                .iter()
                .map(|&z| (beta * (f64::from(z) - max)).exp())
                .sum();
            sum.ln() - beta * (f64::from(row[label]) - max)
        })
        .sum();
    total / labels.len() as f64
}

/// Smallest and largest temperature [`fit_temperature`] considers.
pub const TEMPERATURE_RANGE: (f64, f64) = (0.05, 20.0);

/// The temperature T minimising the mean log-loss of softmax(logits / T) (Guo et al. 2017's
/// temperature scaling). The loss is convex in 1/T, so a golden-section search on 1/T over
/// [`TEMPERATURE_RANGE`] finds the minimum; it runs to a relative precision of about 1e-9.
pub fn fit_temperature(logits: ArrayView2<f32>, labels: &[usize]) -> f64 {
    let loss = |beta: f64| log_loss(logits, labels, 1.0 / beta);
    let (mut low, mut high) = (1.0 / TEMPERATURE_RANGE.1, 1.0 / TEMPERATURE_RANGE.0);
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let mut a = high - ratio * (high - low);
    let mut b = low + ratio * (high - low);
    let (mut loss_a, mut loss_b) = (loss(a), loss(b));
    while high - low > 1e-9 * high {
        if loss_a <= loss_b {
            high = b;
            b = a;
            loss_b = loss_a;
            a = high - ratio * (high - low);
            loss_a = loss(a);
        } else {
            low = a;
            a = b;
            loss_a = loss_b;
            b = low + ratio * (high - low);
            loss_b = loss(b);
        }
    }
    1.0 / ((low + high) / 2.0)
}

/// The values of tau [`fit_logit_adjustment`] tries: 0 (no adjustment) to 2 in steps of 0.1.
pub const LOGIT_ADJUSTMENT_TAUS: std::ops::RangeInclusive<u32> = 0..=20;

/// What a post-hoc logit adjustment fit found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LogitAdjustment {
    pub tau: f64,
    /// Added to each genre's logit: -tau x log(its share of the training covers).
    pub bias: Vec<f32>,
    /// Macro-F1 of the covers fitted on, before (tau = 0) and after.
    pub macro_f1_before: f64,
    pub macro_f1_after: f64,
}

/// Post-hoc logit adjustment (Menon et al. 2021): ranking genres by logit - tau x log(prior)
/// stops a model trained on imbalanced genres from never predicting the small ones. Tries each
/// tau of [`LOGIT_ADJUSTMENT_TAUS`] / 10 and keeps the one with the best macro-F1 on the
/// labelled `logits` (one row per cover; the smallest tau on a tie, so 0 when nothing helps).
/// `train_counts` are the training covers per genre; a genre absent from training gets no bias.
pub fn fit_logit_adjustment(
    logits: ArrayView2<f32>,
    labels: &[usize],
    train_counts: &[usize],
) -> LogitAdjustment {
    let bias_for = |tau: f64| log_prior_offsets(train_counts, -tau);
    let macro_f1 = |bias: &[f32]| {
        let mut confusion = Confusion::new(logits.ncols());
        for (row, &label) in add_bias(logits, bias).rows().into_iter().zip(labels) {
            confusion.add(label, argmax(row).unwrap_or(0));
        }
        confusion.macro_f1()
    };
    let before = macro_f1(&bias_for(0.0));
    let (mut best_tau, mut best) = (0.0, before);
    for step in LOGIT_ADJUSTMENT_TAUS {
        let tau = f64::from(step) / 10.0;
        let score = macro_f1(&bias_for(tau));
        if score > best + 1e-12 {
            (best_tau, best) = (tau, score);
        }
    }
    LogitAdjustment {
        tau: best_tau,
        bias: bias_for(best_tau),
        macro_f1_before: before,
        macro_f1_after: best,
    }
}

/// tau x log(each class's share of `counts`), the logit-adjustment offsets (Menon et al. 2021);
/// a class with no count gets 0. Training adds them to the logits in its loss
/// (`train::fit::logit_offsets`); the post-hoc adjustment subtracts them (tau < 0 here).
pub fn log_prior_offsets(counts: &[usize], tau: f64) -> Vec<f32> {
    let total = counts.iter().sum::<usize>().max(1) as f64;
    counts
        .iter()
        .map(|&c| match c {
            0 => 0.0,
            c => (tau * (c as f64 / total).ln()) as f32,
        })
        .collect()
}

/// `logits` with `bias` (one value per column) added to every row.
pub fn add_bias(logits: ArrayView2<f32>, bias: &[f32]) -> Array2<f32> {
    &logits + &ArrayView1::from(bias)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Three covers of the small genre 1 whose logits favour the large genre 0 by 0.5: with
    /// priors 0.9 / 0.1, tau 0.3 adds 0.3 x ln 9 = 0.66 to genre 1 over genre 0, enough to
    /// flip them; two covers of genre 0 ahead by 2 stay.
    #[test]
    fn logit_adjustment_recovers_a_small_genre_and_keeps_zero_when_nothing_helps() {
        let logits = ndarray::arr2(&[
            [1.5f32, 1.0],
            [1.5, 1.0],
            [1.5, 1.0],
            [3.0, 1.0],
            [3.0, 1.0],
        ]);
        let labels = [1, 1, 1, 0, 0];
        let fit = fit_logit_adjustment(logits.view(), &labels, &[90, 10]);
        assert!((fit.macro_f1_after - 1.0).abs() < 1e-12, "{fit:?}");
        assert!(fit.macro_f1_before < 0.5);
        // The smallest tau that flips them: 0.5 / ln 9 = 0.23 -> 0.3.
        assert!((fit.tau - 0.3).abs() < 1e-12, "{fit:?}");
        let adjusted = add_bias(logits.view(), &fit.bias);
        assert!(adjusted[[0, 1]] > adjusted[[0, 0]] && adjusted[[3, 0]] > adjusted[[3, 1]]);

        // Already right: no adjustment.
        let right = ndarray::arr2(&[[0.0f32, 2.0], [2.0, 0.0]]);
        let fit = fit_logit_adjustment(right.view(), &[1, 0], &[90, 10]);
        assert_eq!(fit.tau, 0.0);
        assert_eq!(fit.bias, [0.0, 0.0]);
        // A genre absent from training gets no bias whatever tau.
        let fit = fit_logit_adjustment(logits.view(), &labels, &[90, 0]);
        assert_eq!(fit.bias[1], 0.0);
    }

    /// Hand-worked with 5 bins of width 0.2:
    /// bin (0.2,0.4]: 0.3 right, 0.35 wrong -> accuracy 0.5, confidence 0.325, gap 0.175
    /// bin (0.8,1.0]: 0.9 right, 0.9 right, 0.95 wrong -> accuracy 2/3, confidence 0.91667, gap 0.25
    /// ECE = (2 * 0.175 + 3 * 0.25) / 5 = 0.22.
    #[test]
    fn ece_of_a_hand_worked_case() {
        let outcomes = [
            Outcome::new(0, 0, 0.3),
            Outcome::new(0, 1, 0.35),
            Outcome::new(1, 1, 0.9),
            Outcome::new(2, 2, 0.9),
            Outcome::new(2, 0, 0.95),
        ];
        let bins = reliability_bins(&outcomes, 5);
        assert_eq!(
            bins.iter().map(|b| b.count).collect::<Vec<_>>(),
            [0, 2, 0, 0, 3]
        );
        assert!((bins[1].accuracy - 0.5).abs() < 1e-12);
        assert!((bins[1].mean_confidence - 0.325).abs() < 1e-12);
        assert!((bins[4].accuracy - 2.0 / 3.0).abs() < 1e-12);
        assert!((expected_calibration_error(&bins) - 0.22).abs() < 1e-12);
    }

    #[test]
    fn bins_are_closed_on_the_right_and_a_perfect_model_has_no_error() {
        // 0.2 is the upper edge of the first of 5 bins; 0 goes to the first; 1 to the last.
        assert_eq!(bin_index(0.2, 5), 0);
        assert_eq!(bin_index(0.2000001, 5), 1);
        assert_eq!(bin_index(0.0, 5), 0);
        assert_eq!(bin_index(1.0, 5), 4);
        let sure_and_right = [Outcome::new(0, 0, 1.0), Outcome::new(1, 1, 1.0)];
        assert_eq!(
            expected_calibration_error(&reliability_bins(&sure_and_right, ECE_BINS)),
            0.0
        );
        assert_eq!(expected_calibration_error(&reliability_bins(&[], 15)), 0.0);
    }

    #[test]
    fn threshold_table_keeps_covers_at_or_above_each_threshold() {
        let outcomes = [
            Outcome::new(0, 0, 0.3),
            Outcome::new(0, 1, 0.5),
            Outcome::new(1, 1, 0.5),
            Outcome::new(1, 1, 0.95),
        ];
        let rows = threshold_table(&outcomes, &[0.3, 0.5, 0.6, 0.99]);
        assert_eq!(
            rows.iter().map(|r| r.kept).collect::<Vec<_>>(),
            [4, 3, 1, 0]
        );
        assert_eq!(rows[0].coverage, 1.0);
        assert_eq!(rows[0].precision, Some(0.75));
        assert!((rows[1].precision.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(rows[2].precision, Some(1.0));
        assert_eq!(rows[3].precision, None);
        assert_eq!(rows[3].coverage, 0.0);
    }

    #[test]
    fn the_tag_threshold_is_the_lowest_with_the_precision_and_enough_covers() {
        // 10 right at 0.9, 10 wrong at 0.42, 10 right at 0.41: precision 20/30 = 2/3 from
        // 0.05 on, so the lowest threshold of the grid is chosen.
        let mut outcomes: Vec<Outcome> = (0..10).map(|_| Outcome::new(0, 0, 0.9)).collect();
        outcomes.extend((0..10).map(|_| Outcome::new(0, 1, 0.42)));
        outcomes.extend((0..10).map(|_| Outcome::new(1, 1, 0.41)));
        let row = threshold_for_precision(&outcomes, TAG_PRECISION, 5).unwrap();
        assert_eq!(row.threshold, 0.05);
        // Without the low right ones, precision is 1/2 up to 0.40 and 1 above 0.42.
        let fewer = &outcomes[..20];
        let row = threshold_for_precision(fewer, TAG_PRECISION, 5).unwrap();
        assert_eq!(
            (row.threshold, row.kept, row.precision),
            (0.45, 10, Some(1.0))
        );
        assert_eq!(
            threshold_for_precision(fewer, TAG_PRECISION, 11),
            None,
            "too few kept"
        );
        let logits = ndarray::array![[2.0f32, 0.0], [0.0, 1.0]];
        let found = outcomes_of_logits(logits.view(), &[0, 0], 1.0);
        assert_eq!((found[0].predicted, found[1].predicted), (0, 1));
        let p = 1.0 / (1.0 + (-2.0f64).exp());
        assert!((found[0].confidence - p).abs() < 1e-9, "{found:?}");
        let hot = outcomes_of_logits(logits.view(), &[0, 0], 2.0);
        assert!((hot[0].confidence - 1.0 / (1.0 + (-1.0f64).exp())).abs() < 1e-9);
    }

    /// log(2) per cover when two classes have equal logits.
    #[test]
    fn log_loss_of_a_hand_worked_case() {
        let loss = log_loss(
            ndarray::arr2(&[[1.0, 1.0], [3.0, 1.0]]).view(),
            &[0, 0],
            1.0,
        );
        // Row 1: ln 2. Row 2: ln(1 + e^-2) = 0.126928.
        let expected = (2f64.ln() + (1.0 + (-2f64).exp()).ln()) / 2.0;
        assert!((loss - expected).abs() < 1e-12);
    }

    /// Labels drawn from softmax(z / 2.5) for random logits z: the fit finds T near 2.5.
    #[test]
    fn fitting_recovers_a_known_temperature() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let classes = 6;
        let true_temperature = 2.5;
        let mut logits = Vec::new();
        let mut labels = Vec::new();
        for _ in 0..20_000 {
            let row: Vec<f32> = (0..classes)
                .map(|_| rng.random_range(-6.0f32..6.0))
                .collect();
            let weights: Vec<f64> = row
                .iter()
                .map(|&z| (f64::from(z) / true_temperature).exp())
                .collect();
            let mut pick = rng.random_range(0.0..weights.iter().sum::<f64>());
            let label = weights
                .iter()
                .position(|&w| {
                    pick -= w;
                    pick <= 0.0
                })
                .unwrap_or(classes - 1);
            logits.extend(row);
            labels.push(label);
        }
        let logits = Array2::from_shape_vec((labels.len(), classes), logits).unwrap();
        let logits = logits.view();
        let fitted = fit_temperature(logits, &labels);
        assert!((fitted - true_temperature).abs() < 0.1, "fitted {fitted}");
        // It is the minimum: nudging it either way costs log-loss.
        let best = log_loss(logits, &labels, fitted);
        assert!(best < log_loss(logits, &labels, fitted * 1.05));
        assert!(best < log_loss(logits, &labels, fitted / 1.05));
        assert!(best < log_loss(logits, &labels, 1.0));
    }
}
