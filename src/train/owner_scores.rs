//! How an owner's head scores on covers whose base outputs are known: its dev scores (what the
//! recipes are chosen by), the comparison with the base through the mapping on the test albums
//! (accuracy, macro-F1 and top-3 with 95% bootstrap intervals and paired differences), and the
//! evaluation reports of the model card, all from the cached base outputs.

use super::base::BaseOutputs;
use super::owner_head::{softmax_rows, OwnerHead};
use crate::bootstrap::{
    bootstrap_intervals, paired_bootstrap, quantile, Interval, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED,
    INTERVAL_LEVEL,
};
use crate::calibration::outcomes_of_logits;
use crate::genres::GenreSet;
use crate::metrics::{Confusion, Tally};
use crate::report::learned::{Candidate, Comparison, Scores};
use crate::report::EvalReport;
use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use std::path::Path;

/// The most confident mistakes the card lists.
const KEEP_ERRORS: usize = 5;

/// A recipe's dev scores.
pub fn score(name: &str, logits: &Array2<f32>, labels: &[usize]) -> Candidate {
    let matrix = confusion(logits, labels, logits.ncols());
    Candidate {
        name: name.into(),
        dev_accuracy: matrix.accuracy(),
        dev_macro_f1: matrix.macro_f1(),
        dev_top3: mean(&top3_hits(logits.view(), labels)),
    }
}

pub fn confusion(logits: &Array2<f32>, labels: &[usize], classes: usize) -> Confusion {
    let mut matrix = Confusion::new(classes);
    for o in outcomes_of_logits(logits.view(), labels, 1.0) {
        matrix.add(o.truth, o.predicted);
    }
    matrix
}

/// 1 where the label is among a cover's three highest logits, else 0.
fn top3_hits(logits: ArrayView2<f32>, labels: &[usize]) -> Vec<f64> {
    logits
        .rows()
        .into_iter()
        .zip(labels)
        .map(|(row, &label)| {
            let above = row.iter().filter(|&&v| v > row[label]).count();
            f64::from(u8::from(above < 3))
        })
        .collect()
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// How much more accurate `candidate` is than `reference` on the same covers (logits of
/// each, covers x owner genres): the paired bootstrap interval of the difference.
pub fn accuracy_gain(
    reference: ArrayView2<f32>,
    candidate: ArrayView2<f32>,
    labels: &[usize],
    classes: usize,
) -> Interval {
    let outcomes = |l: ArrayView2<f32>| outcomes_of_logits(l, labels, 1.0);
    paired_bootstrap(
        &outcomes(reference),
        &outcomes(candidate),
        classes,
        BOOTSTRAP_RESAMPLES,
        BOOTSTRAP_SEED,
    )
    .accuracy
}

/// The chosen head and the base through the mapping on the same (test) covers.
pub fn compare(
    (chosen, chosen_covers): (&OwnerHead, &BaseOutputs),
    mapping: &OwnerHead,
    covers: &BaseOutputs,
    classes: usize,
) -> Comparison {
    debug_assert_eq!(
        chosen_covers.paths, covers.paths,
        "both models are compared on the same covers"
    );
    let (a, b) = (
        mapping.logits(covers.logits.view()),
        chosen.logits(chosen_covers.logits.view()),
    );
    let outcomes = |l: &Array2<f32>| outcomes_of_logits(l.view(), &covers.labels, 1.0);
    let (reference, candidate) = (outcomes(&a), outcomes(&b));
    let (r, s) = (BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED);
    let base_intervals = bootstrap_intervals(&reference, classes, r, s);
    let chosen_intervals = bootstrap_intervals(&candidate, classes, r, s);
    let difference = paired_bootstrap(&reference, &candidate, classes, r, s);
    let [top_base, top_chosen, top_difference] = top3_intervals(
        &top3_hits(a.view(), &covers.labels),
        &top3_hits(b.view(), &covers.labels),
    );
    Comparison {
        covers: covers.labels.len(),
        chosen: Scores {
            accuracy: chosen_intervals.accuracy,
            macro_f1: chosen_intervals.macro_f1,
            top3: top_chosen,
        },
        base_through_mapping: Scores {
            accuracy: base_intervals.accuracy,
            macro_f1: base_intervals.macro_f1,
            top3: top_base,
        },
        difference: Scores {
            accuracy: difference.accuracy,
            macro_f1: difference.macro_f1,
            top3: top_difference,
        },
    }
}

/// Bootstrap intervals of two per-cover 0/1 scores on the same covers and of their paired
/// difference (the same resampled covers for both), like [`paired_bootstrap`].
fn top3_intervals(reference: &[f64], candidate: &[f64]) -> [Interval; 3] {
    let n = reference.len();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(BOOTSTRAP_SEED);
    let mut draws: [Vec<f64>; 3] = Default::default();
    for _ in 0..BOOTSTRAP_RESAMPLES {
        let (mut a, mut b) = (0.0, 0.0);
        for _ in 0..n {
            let i = rng.random_range(0..n.max(1));
            a += reference[i];
            b += candidate[i];
        }
        let n = n.max(1) as f64;
        for (k, value) in [a / n, b / n, (b - a) / n].into_iter().enumerate() {
            draws[k].push(value);
        }
    }
    let estimates = [
        mean(reference),
        mean(candidate),
        mean(candidate) - mean(reference),
    ];
    let tail = (1.0 - INTERVAL_LEVEL) / 2.0;
    let mut out = [Interval::default(); 3];
    for (k, mut values) in draws.into_iter().enumerate() {
        values.sort_by(f64::total_cmp);
        out[k] = Interval {
            estimate: estimates[k],
            low: quantile(&values, tail),
            high: quantile(&values, 1.0 - tail),
        };
    }
    out
}

/// The owner's model on some covers as an evaluation report (as `covergenre-eval` makes), from
/// the base's outputs on them.
pub fn eval_report(
    model: &Path,
    covers: String,
    genres: &GenreSet,
    (head, temperature): (&OwnerHead, f64),
    outputs: &BaseOutputs,
) -> EvalReport {
    let probabilities = softmax_rows(
        &head
            .logits(outputs.logits.view())
            .mapv(|v| v / temperature as f32),
    );
    let mut tally = Tally::new(genres.len(), KEEP_ERRORS);
    for ((row, path), &truth) in probabilities
        .rows()
        .into_iter()
        .zip(&outputs.paths)
        .zip(&outputs.labels)
    {
        tally.add_probabilities(path, truth, &row.to_vec());
    }
    EvalReport::from_tally(
        model.display().to_string(),
        covers,
        genres,
        &tally,
        outputs.skipped.clone(),
    )
}
