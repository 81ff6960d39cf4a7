//! How far a model's scores can be trusted: percentile bootstrap intervals for the headline
//! metrics (accuracy, balanced accuracy, macro-F1), and paired bootstrap differences between
//! two models on the same covers (the same resampled covers for both, so what they share
//! cancels). Resamples are drawn with a seeded ChaCha8 generator, so a report is reproducible
//! bit for bit; intervals interpolate linearly between order statistics.

use crate::metrics::{Confusion, Outcome};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Bootstrap resamples behind every interval.
pub const BOOTSTRAP_RESAMPLES: usize = 1000;
/// Seed of the bootstrap generator.
pub const BOOTSTRAP_SEED: u64 = 42;
/// Coverage of the intervals.
pub const INTERVAL_LEVEL: f64 = 0.95;

/// A point estimate with its bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Interval {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

impl Interval {
    pub fn contains(&self, value: f64) -> bool {
        self.low <= value && value <= self.high
    }

    pub fn width(&self) -> f64 {
        self.high - self.low
    }
}

/// How the intervals were drawn, and the three metrics they are for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Intervals {
    pub level: f64,
    pub resamples: usize,
    pub seed: u64,
    pub accuracy: Interval,
    pub balanced_accuracy: Interval,
    pub macro_f1: Interval,
}

/// The metrics that get intervals, computed on one (re)sample.
fn headline(confusion: &Confusion) -> [f64; 3] {
    [
        confusion.accuracy(),
        confusion.balanced_accuracy(),
        confusion.macro_f1(),
    ]
}

fn confusion_of<'a>(classes: usize, outcomes: impl Iterator<Item = &'a Outcome>) -> Confusion {
    let mut confusion = Confusion::new(classes);
    for o in outcomes {
        confusion.add(o.truth, o.predicted);
    }
    confusion
}

/// Resample indices, one vector per resample: the same draws serve every model of a paired
/// comparison.
fn resample_indices(n: usize, resamples: usize, seed: u64) -> impl Iterator<Item = Vec<usize>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..resamples).map(move |_| (0..n).map(|_| rng.random_range(0..n.max(1))).collect())
}

/// The `q` quantile of sorted values, interpolating linearly between order statistics.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        1 => sorted[0],
        n => {
            let position = q.clamp(0.0, 1.0) * (n - 1) as f64;
            let below = position.floor() as usize;
            let above = (below + 1).min(n - 1);
            let weight = position - below as f64;
            sorted[below] * (1.0 - weight) + sorted[above] * weight
        }
    }
}

fn percentile_interval(estimate: f64, mut draws: Vec<f64>, level: f64) -> Interval {
    draws.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    Interval {
        estimate,
        low: quantile(&draws, tail),
        high: quantile(&draws, 1.0 - tail),
    }
}

/// Bootstrap statistic: one value per metric per resample, then percentile intervals.
fn bootstrap(
    estimate: [f64; 3],
    resamples: usize,
    seed: u64,
    n: usize,
    statistic: impl Fn(&[usize]) -> [f64; 3],
) -> Intervals {
    let mut draws: [Vec<f64>; 3] = Default::default();
    if n > 0 {
        for indices in resample_indices(n, resamples, seed) {
            for (k, value) in statistic(&indices).into_iter().enumerate() {
                draws[k].push(value);
            }
        }
    }
    let [accuracy, balanced, macro_f1] = draws;
    Intervals {
        level: INTERVAL_LEVEL,
        resamples,
        seed,
        accuracy: percentile_interval(estimate[0], accuracy, INTERVAL_LEVEL),
        balanced_accuracy: percentile_interval(estimate[1], balanced, INTERVAL_LEVEL),
        macro_f1: percentile_interval(estimate[2], macro_f1, INTERVAL_LEVEL),
    }
}

/// Percentile intervals for accuracy, balanced accuracy and macro-F1: covers are resampled
/// with replacement `resamples` times. Macro averages of a resample are taken over the genres
/// present in it, as for the point estimate.
pub fn bootstrap_intervals(
    outcomes: &[Outcome],
    classes: usize,
    resamples: usize,
    seed: u64,
) -> Intervals {
    let estimate = headline(&confusion_of(classes, outcomes.iter()));
    bootstrap(estimate, resamples, seed, outcomes.len(), |indices| {
        headline(&confusion_of(
            classes,
            indices.iter().map(|&i| &outcomes[i]),
        ))
    })
}

/// `candidate - reference` for each metric on the same covers, with paired bootstrap
/// intervals: each resample draws the same covers for both models, so what the two share
/// (which covers happened to be easy) cancels out. `reference[i]` and `candidate[i]` must be
/// the same cover.
pub fn paired_bootstrap(
    reference: &[Outcome],
    candidate: &[Outcome],
    classes: usize,
    resamples: usize,
    seed: u64,
) -> Intervals {
    assert_eq!(
        reference.len(),
        candidate.len(),
        "paired outcomes must be the same covers"
    );
    let difference = |a: [f64; 3], b: [f64; 3]| [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
    let estimate = difference(
        headline(&confusion_of(classes, reference.iter())),
        headline(&confusion_of(classes, candidate.iter())),
    );
    bootstrap(estimate, resamples, seed, reference.len(), |indices| {
        difference(
            headline(&confusion_of(
                classes,
                indices.iter().map(|&i| &reference[i]),
            )),
            headline(&confusion_of(
                classes,
                indices.iter().map(|&i| &candidate[i]),
            )),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_interpolates_between_order_statistics() {
        let sorted = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&sorted, 0.5), 3.0);
        assert_eq!(quantile(&sorted, 0.0), 1.0);
        assert_eq!(quantile(&sorted, 1.0), 5.0);
        assert!((quantile(&sorted, 0.1) - 1.4).abs() < 1e-12);
    }

    /// A made-up set: 3 genres, a third of each genre's covers wrong.
    fn made_up(n: usize) -> Vec<Outcome> {
        (0..n)
            .map(|i| {
                let truth = i % 3;
                let wrong = (i / 3) % 3 == 0;
                let predicted = if wrong { (truth + 1) % 3 } else { truth };
                Outcome::new(truth, predicted, 0.6)
            })
            .collect()
    }

    #[test]
    fn bootstrap_intervals_cover_the_estimate_shrink_with_data_and_repeat() {
        let small = bootstrap_intervals(&made_up(63), 3, 1000, 7);
        let large = bootstrap_intervals(&made_up(1008), 3, 1000, 7);
        for (s, l) in [
            (small.accuracy, large.accuracy),
            (small.balanced_accuracy, large.balanced_accuracy),
            (small.macro_f1, large.macro_f1),
        ] {
            assert!(s.contains(s.estimate), "{s:?}");
            assert!(l.contains(l.estimate), "{l:?}");
            // 16 times the covers: about a quarter of the width (1/sqrt(16)).
            assert!(l.width() < 0.4 * s.width(), "{s:?} vs {l:?}");
            assert!(l.width() > 0.1 * s.width(), "{s:?} vs {l:?}");
        }
        assert!((small.accuracy.estimate - 2.0 / 3.0).abs() < 1e-12);
        // Binomial: sd = sqrt(p(1-p)/n) = 0.0594 at n = 63, so the 95% width is about 0.233.
        assert!((small.accuracy.width() - 0.233).abs() < 0.03, "{small:?}");
        assert_eq!(small, bootstrap_intervals(&made_up(63), 3, 1000, 7));
        assert_ne!(small, bootstrap_intervals(&made_up(63), 3, 1000, 8));
    }

    #[test]
    fn paired_differences_cancel_what_two_models_share() {
        let reference = made_up(90);
        // Identical models: the difference is exactly 0 in every resample.
        let same = paired_bootstrap(&reference, &reference, 3, 200, 1);
        assert_eq!(same.accuracy, Interval::default());
        // The candidate fixes 6 of the 30 mistakes: +6/90 accuracy, and the paired interval is
        // far narrower than the two separate intervals (the shared covers cancel).
        let mut candidate = reference.clone();
        let mut fixed = 0;
        for o in candidate.iter_mut().filter(|o| !o.correct()) {
            if fixed < 6 {
                o.predicted = o.truth;
                fixed += 1;
            }
        }
        let paired = paired_bootstrap(&reference, &candidate, 3, 1000, 1);
        assert!((paired.accuracy.estimate - 6.0 / 90.0).abs() < 1e-12);
        assert!(paired.accuracy.contains(paired.accuracy.estimate));
        // A resample can only move the difference by the fixed covers: never below 0.
        assert!(paired.accuracy.low >= 0.0, "{paired:?}");
        assert!(
            paired.accuracy.low > 0.0,
            "6 fixes out of 90 is a clear gain"
        );
        let separate = bootstrap_intervals(&reference, 3, 1000, 1);
        assert!(paired.accuracy.width() < separate.accuracy.width());
        // Swapping the models flips the sign.
        let swapped = paired_bootstrap(&candidate, &reference, 3, 1000, 1);
        assert!((swapped.accuracy.estimate + paired.accuracy.estimate).abs() < 1e-12);
        assert!((swapped.accuracy.low + paired.accuracy.high).abs() < 1e-12);
    }
}
