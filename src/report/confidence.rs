//! The confidence part of a report as plain grids of text (titles and rows), so the terminal
//! table and the markdown rendering show the same cells: bootstrap intervals, the
//! coverage/precision table per `--min-confidence` threshold, and paired differences between
//! models.

use super::labels::{fraction, model_label};
use super::{EvalReport, PairedDifference};
use crate::bootstrap::{Interval, Intervals};
use crate::calibration::ECE_BINS;

/// Titles and rows of one table; numbers are already formatted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grid {
    pub titles: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Columns from this index on hold numbers (right-aligned).
    pub numeric_from: usize,
}

/// The three metrics that carry intervals, with their JSON names.
fn interval_metrics(intervals: &Intervals) -> [(&'static str, Interval); 3] {
    [
        ("accuracy", intervals.accuracy),
        ("balanced_accuracy", intervals.balanced_accuracy),
        ("macro_f1", intervals.macro_f1),
    ]
}

/// `0.5590 [0.5139, 0.6034]`.
pub fn with_interval(interval: &Interval) -> String {
    format!(
        "{} [{}, {}]",
        fraction(interval.estimate),
        fraction(interval.low),
        fraction(interval.high)
    )
}

/// A heading naming how the intervals were drawn.
pub fn intervals_heading(reports: &[EvalReport]) -> String {
    let i = reports.first().map(|r| r.intervals).unwrap_or_default();
    format!(
        "{:.0}% bootstrap intervals ({} resamples of the covers, seed {})",
        i.level * 100.0,
        i.resamples,
        i.seed
    )
}

/// One row per metric, one `estimate [low, high]` column per model.
pub fn intervals_grid(reports: &[EvalReport]) -> Grid {
    let mut titles = vec!["Metric".to_string()];
    titles.extend(reports.iter().map(|r| model_label(&r.model)));
    let rows = (0..3)
        .map(|k| {
            let mut row = vec![interval_metrics(&reports[0].intervals)[k].0.to_string()];
            row.extend(
                reports
                    .iter()
                    .map(|r| with_interval(&interval_metrics(&r.intervals)[k].1)),
            );
            row
        })
        .collect();
    Grid {
        titles,
        rows,
        numeric_from: 1,
    }
}

/// A heading with each model's expected calibration error.
pub fn calibration_heading(reports: &[EvalReport]) -> String {
    let errors: Vec<String> = reports
        .iter()
        .map(|r| {
            let ece = fraction(r.calibration.expected_calibration_error);
            if reports.len() > 1 {
                format!("{} {ece}", model_label(&r.model))
            } else {
                ece
            }
        })
        .collect();
    format!(
        "Calibration: expected calibration error ({ECE_BINS} bins) {}",
        errors.join(", ")
    )
}

/// Per threshold: covers kept, coverage and precision of each model. Precision is what a user
/// gets from `covergenre-classify --min-confidence T` on covers like these; coverage is how
/// many covers still get a genre.
pub fn thresholds_grid(reports: &[EvalReport]) -> Grid {
    let mut titles = vec!["--min-confidence".to_string()];
    for r in reports {
        let suffix = if reports.len() > 1 {
            format!(" {}", model_label(&r.model))
        } else {
            String::new()
        };
        titles.push(format!("kept{suffix}"));
        titles.push(format!("coverage{suffix}"));
        titles.push(format!("precision{suffix}"));
    }
    let count = reports[0].calibration.thresholds.len();
    let rows = (0..count)
        .map(|k| {
            let mut row = vec![format!(
                "{:.1}",
                reports[0].calibration.thresholds[k].threshold
            )];
            for r in reports {
                match r.calibration.thresholds.get(k) {
                    Some(t) => {
                        row.push(t.kept.to_string());
                        row.push(fraction(t.coverage));
                        row.push(t.precision.map_or_else(|| "n/a".into(), fraction));
                    }
                    None => row.extend(["".to_string(), "".to_string(), "".to_string()]),
                }
            }
            row
        })
        .collect();
    Grid {
        titles,
        rows,
        numeric_from: 1,
    }
}

/// One row per metric and compared model: the difference, its interval, and whether the
/// interval excludes zero.
pub fn differences_grid(differences: &[PairedDifference]) -> Grid {
    let titles = [
        "Model - reference",
        "Metric",
        "Difference",
        "95% interval",
        "Verdict",
    ]
    .map(String::from)
    .to_vec();
    let mut rows = Vec::new();
    for d in differences {
        for (name, interval) in interval_metrics(&d.intervals) {
            rows.push(vec![
                format!("{} - {}", model_label(&d.model), model_label(&d.reference)),
                name.to_string(),
                format!("{:+.4}", interval.estimate),
                format!("[{:+.4}, {:+.4}]", interval.low, interval.high),
                verdict(&interval).to_string(),
            ]);
        }
    }
    Grid {
        titles,
        rows,
        numeric_from: 2,
    }
}

/// Plain words for a paired interval.
pub fn verdict(interval: &Interval) -> &'static str {
    if interval.low > 0.0 {
        "better"
    } else if interval.high < 0.0 {
        "worse"
    } else {
        "no clear difference"
    }
}

/// A heading for the paired differences.
pub fn differences_heading(differences: &[PairedDifference]) -> String {
    let covers = differences.first().map_or(0, |d| d.covers);
    let i = differences.first().map(|d| d.intervals).unwrap_or_default();
    format!(
        "Paired differences against the first model ({covers} shared covers, {} paired resamples, seed {})",
        i.resamples, i.seed
    )
}
