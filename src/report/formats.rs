//! Machine-readable and CI renderings of [`EvalReport`]s.
//!
//! - JSON: one report as an object with stable keys (`genres`, `confusion`, `per_genre`,
//!   `accuracy`, `balanced_accuracy`, `macro_f1`, `weighted_f1`, `top3_accuracy`, `baseline`, ...);
//!   `calibration` (`expected_calibration_error`, reliability `bins`, `thresholds` with `kept`,
//!   `coverage`, `precision`) and `intervals` (`level`, `resamples`, `seed`, and `accuracy`,
//!   `balanced_accuracy`, `macro_f1` as `{estimate, low, high}`); several (`--compare`) as
//!   `{"models": [report, ...], "paired_differences": [{reference, model, covers, level,
//!   resamples, seed, accuracy, ...}, ...]}` where each interval is of `model - reference`.
//! - CSV: one number per row, `model,scope,metric,value`, so every number fits one tidy table:
//!   scope `overall` and `baseline` hold the headline metrics (and `total`), scope `<genre slug>`
//!   holds `support`, `predicted`, `precision`, `recall`, `f1`, and scope `confusion:<true slug>`
//!   holds one count per predicted slug. An unknown top-3 accuracy has an empty value. Scope
//!   `interval:<metric>` holds `estimate`, `low`, `high`; scope `calibration` holds
//!   `expected_calibration_error`; scope `threshold:<t>` holds `kept`, `coverage`, `precision`;
//!   scope `difference:<metric>` (on the compared model's rows) holds `estimate`, `low`, `high`
//!   against the first model.
//! - Markdown: headings and pipe tables, for a CI job summary.

use super::confidence::{self, Grid};
use super::labels::{fraction, model_label};
use super::{paired_differences, EvalReport};
use crate::metrics::{Metric, Summary};
use anyhow::{Context, Result};
use std::fmt::Write;

/// How `covergenre-eval` prints its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
    Csv,
    Markdown,
}

/// Renders reports in the chosen format.
pub fn render(reports: &[EvalReport], format: Format) -> Result<String> {
    match format {
        Format::Table => Ok(super::table::render(reports)),
        Format::Json => json(reports),
        Format::Csv => csv(reports),
        Format::Markdown => Ok(markdown(reports)),
    }
}

/// One report as an object; several as `{"models": [...]}`.
pub fn json(reports: &[EvalReport]) -> Result<String> {
    let text = match reports {
        [report] => serde_json::to_string_pretty(report),
        _ => serde_json::to_string_pretty(&serde_json::json!({
            "models": reports,
            "paired_differences": paired_differences(reports),
        })),
    }
    .context("cannot serialise the report as JSON")?;
    Ok(text + "\n")
}

/// The long `model,scope,metric,value` form described in the module docs.
pub fn csv(reports: &[EvalReport]) -> Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(["model", "scope", "metric", "value"])?;
    for report in reports {
        for (scope, metric, value) in csv_rows(report) {
            writer.write_record([report.model.as_str(), &scope, &metric, &value])?;
        }
    }
    for difference in paired_differences(reports) {
        let intervals = [
            ("accuracy", difference.intervals.accuracy),
            ("balanced_accuracy", difference.intervals.balanced_accuracy),
            ("macro_f1", difference.intervals.macro_f1),
        ];
        for (name, interval) in intervals {
            let scope = format!("difference:{name}");
            for (metric, value) in interval_values(&interval) {
                writer.write_record([difference.model.as_str(), &scope, metric, &value])?;
            }
        }
    }
    let bytes = writer.into_inner().context("cannot write CSV")?;
    String::from_utf8(bytes).context("CSV is not UTF-8")
}

fn csv_rows(report: &EvalReport) -> Vec<(String, String, String)> {
    let mut rows = Vec::new();
    let mut summary_rows = |scope: &str, summary: &Summary| {
        rows.push((scope.into(), "total".into(), report.total.to_string()));
        for metric in Metric::ALL {
            let value = metric.value(summary).map(|v| v.to_string());
            rows.push((
                scope.into(),
                metric.name().into(),
                value.unwrap_or_default(),
            ));
        }
    };
    summary_rows("overall", &report.summary);
    summary_rows("baseline", &report.baseline.summary);
    rows.push((
        "baseline".into(),
        "genre".into(),
        report.baseline.genre.clone(),
    ));
    for g in &report.per_genre {
        rows.push((g.genre.clone(), "support".into(), g.support.to_string()));
        rows.push((g.genre.clone(), "predicted".into(), g.predicted.to_string()));
        rows.push((g.genre.clone(), "precision".into(), g.precision.to_string()));
        rows.push((g.genre.clone(), "recall".into(), g.recall.to_string()));
        rows.push((g.genre.clone(), "f1".into(), g.f1.to_string()));
    }
    let intervals = [
        ("accuracy", report.intervals.accuracy),
        ("balanced_accuracy", report.intervals.balanced_accuracy),
        ("macro_f1", report.intervals.macro_f1),
    ];
    for (name, interval) in intervals {
        for (metric, value) in interval_values(&interval) {
            rows.push((format!("interval:{name}"), metric.into(), value));
        }
    }
    rows.push((
        "calibration".into(),
        "expected_calibration_error".into(),
        report.calibration.expected_calibration_error.to_string(),
    ));
    for t in &report.calibration.thresholds {
        let scope = format!("threshold:{}", t.threshold);
        rows.push((scope.clone(), "kept".into(), t.kept.to_string()));
        rows.push((scope.clone(), "coverage".into(), t.coverage.to_string()));
        let precision = t.precision.map(|p| p.to_string()).unwrap_or_default();
        rows.push((scope, "precision".into(), precision));
    }
    for (truth, row) in report.genres.iter().zip(&report.confusion) {
        for (predicted, count) in report.genres.iter().zip(row) {
            rows.push((
                format!("confusion:{truth}"),
                predicted.clone(),
                count.to_string(),
            ));
        }
    }
    rows
}

fn interval_values(interval: &crate::bootstrap::Interval) -> [(&'static str, String); 3] {
    [
        ("estimate", interval.estimate.to_string()),
        ("low", interval.low.to_string()),
        ("high", interval.high.to_string()),
    ]
}

/// Markdown for a CI job summary: headline metrics first (what a reviewer looks at), then
/// per-genre scores and the confusion matrix.
pub fn markdown(reports: &[EvalReport]) -> String {
    markdown_titled(reports, "Genre evaluation")
}

/// [`markdown`] under a title of the caller's (a model card's "Dev" and "Test" sections).
pub fn markdown_titled(reports: &[EvalReport], title: &str) -> String {
    let mut out = String::new();
    let Some(first) = reports.first() else {
        return out;
    };
    let _ = writeln!(out, "## {title}\n");
    let _ = writeln!(out, "{} covers from `{}`.\n", first.total, first.covers);
    markdown_summary(&mut out, reports);
    markdown_confidence(&mut out, reports);
    for report in reports {
        if reports.len() > 1 {
            let _ = writeln!(out, "\n### {}", model_label(&report.model));
        }
        markdown_per_genre(&mut out, report);
        markdown_confusion(&mut out, report);
        markdown_errors(&mut out, report);
    }
    out
}

fn markdown_row(out: &mut String, cells: &[String]) {
    let escaped: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
    let _ = writeln!(out, "| {} |", escaped.join(" | "));
}

fn markdown_header(out: &mut String, titles: &[String], numeric_from: usize) {
    markdown_row(out, titles);
    let rule: Vec<String> = (0..titles.len())
        .map(|i| if i >= numeric_from { "---:" } else { "---" }.to_string())
        .collect();
    let _ = writeln!(out, "|{}|", rule.join("|"));
}

fn markdown_summary(out: &mut String, reports: &[EvalReport]) {
    let mut titles = vec!["Metric".to_string()];
    titles.extend(
        reports
            .iter()
            .map(|r| format!("`{}`", model_label(&r.model))),
    );
    titles.push("Majority baseline".into());
    markdown_header(out, &titles, 1);
    let baseline = reports[0].baseline.summary;
    for metric in Metric::ALL {
        let mut cells = vec![metric.name().to_string()];
        let value = |s: &Summary| metric.value(s).map_or_else(|| "n/a".into(), fraction);
        cells.extend(reports.iter().map(|r| value(&r.summary)));
        cells.push(value(&baseline));
        markdown_row(out, &cells);
    }
    out.push('\n');
    for note in reports[0].notes() {
        let _ = writeln!(out, "> {note}");
    }
}

fn markdown_grid(out: &mut String, grid: &Grid) {
    markdown_header(out, &grid.titles, grid.numeric_from);
    for row in &grid.rows {
        markdown_row(out, row);
    }
}

fn markdown_confidence(out: &mut String, reports: &[EvalReport]) {
    let _ = writeln!(out, "\n#### {}\n", confidence::intervals_heading(reports));
    markdown_grid(out, &confidence::intervals_grid(reports));
    let _ = writeln!(out, "\n#### {}\n", confidence::calibration_heading(reports));
    markdown_grid(out, &confidence::thresholds_grid(reports));
    if reports.len() > 1 {
        let differences = paired_differences(reports);
        let _ = writeln!(
            out,
            "\n#### {}\n",
            confidence::differences_heading(&differences)
        );
        markdown_grid(out, &confidence::differences_grid(&differences));
    }
}

fn markdown_per_genre(out: &mut String, report: &EvalReport) {
    let _ = writeln!(out, "\n#### Per genre\n");
    let titles = ["Genre", "Support", "Predicted", "Precision", "Recall", "F1"];
    markdown_header(out, &titles.map(String::from), 1);
    for g in &report.per_genre {
        let name = if g.in_macro_average {
            g.name.clone()
        } else {
            format!("{} (no covers)", g.name)
        };
        let cells = [
            name,
            g.support.to_string(),
            g.predicted.to_string(),
            fraction(g.precision),
            fraction(g.recall),
            fraction(g.f1),
        ];
        markdown_row(out, &cells);
    }
}

fn markdown_confusion(out: &mut String, report: &EvalReport) {
    let _ = writeln!(
        out,
        "\n#### Confusion matrix (rows: true, columns: predicted)\n"
    );
    let mut titles = vec!["true \\ predicted".to_string()];
    titles.extend(report.genre_names.iter().cloned());
    markdown_header(out, &titles, 1);
    for (name, row) in report.genre_names.iter().zip(&report.confusion) {
        let mut cells = vec![name.clone()];
        cells.extend(row.iter().map(u64::to_string));
        markdown_row(out, &cells);
    }
}

fn markdown_errors(out: &mut String, report: &EvalReport) {
    if report.errors.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n#### Most confident mistakes\n");
    let titles = ["Path", "True", "Predicted", "Probability"];
    markdown_header(out, &titles.map(String::from), 3);
    for e in &report.errors {
        let cells = [
            format!("`{}`", e.path.display()),
            report.name_of(&e.truth),
            report.name_of(&e.predicted),
            fraction(f64::from(e.probability)),
        ];
        markdown_row(out, &cells);
    }
}
