//! From a run's outcome to the plain data the report renders ([`crate::report::training`]'s
//! summaries, [`crate::report::curves`]'s points).

use super::fit::RunOutcome;
use super::run::EpochRecord;
use crate::report::curves::CurvePoint;
use crate::report::training::RunSummary;

/// One run's best epoch (by selection macro-F1), with its mean speed over all epochs.
pub fn run_summary(run: usize, seed: u64, outcome: &RunOutcome) -> RunSummary {
    let epochs = outcome.history.len().max(1) as f64;
    RunSummary {
        run,
        seed,
        best_epoch: outcome.best.epoch,
        epochs_trained: outcome.history.len(),
        stopped_early: outcome.stopped_early,
        dev_macro_f1: outcome.best.dev_macro_f1,
        dev_accuracy: outcome.best.dev_accuracy,
        dev_balanced_accuracy: outcome.best.dev_balanced_accuracy,
        mean_epoch_seconds: outcome.history.iter().map(|r| r.seconds).sum::<f64>() / epochs,
        images_per_second: outcome
            .history
            .iter()
            .map(|r| r.images_per_second)
            .sum::<f64>()
            / epochs,
    }
}

/// The points of one run's training curves.
pub fn curve_points(history: &[EpochRecord]) -> Vec<CurvePoint> {
    history
        .iter()
        .map(|r| CurvePoint {
            epoch: r.epoch,
            train: [r.train_loss, r.train_accuracy, r.train_macro_f1],
            dev: [r.dev_loss, r.dev_accuracy, r.dev_macro_f1],
        })
        .collect()
}
