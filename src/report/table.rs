//! Terminal tables (prettytable): the confusion matrix with genre names on both axes (rows true,
//! columns predicted), the per-genre table, the headline metrics beside the majority baseline,
//! and the most confident mistakes. Several reports (`--compare`) share one metrics table.

use super::confidence::{self, Grid};
use super::labels::{fraction, model_label};
use super::{paired_differences, EvalReport};
use crate::metrics::{Metric, Summary};
use prettytable::{format, Cell, Row, Table};
use std::fmt::Write;

/// A metric that may be unknown (top-3 from a short ranking) shows as "n/a".
fn optional_fraction(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_string(), fraction)
}

/// The looks of the toolkit's terminal tables, one per kind of output (each prints as it always
/// has, so scripts and eyes used to it keep working).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableStyle {
    /// Box-drawing borders with a rule under the titles only: compact, still easy to scan
    /// (evaluation reports).
    Boxed,
    /// No borders, a rule under the titles only (classify's results).
    TitleRule,
    /// No outer border, a rule between every row (`--inspect`'s counts).
    RowRules,
    /// prettytable's default ASCII grid (the training ranking).
    Grid,
}

impl TableStyle {
    fn format(self) -> format::TableFormat {
        use format::{consts, LinePosition, LineSeparator};
        match self {
            TableStyle::Boxed => format::FormatBuilder::new()
                .column_separator('│')
                .borders('│')
                .separator(LinePosition::Top, LineSeparator::new('─', '┬', '┌', '┐'))
                .separator(LinePosition::Title, LineSeparator::new('─', '┼', '├', '┤'))
                .separator(LinePosition::Bottom, LineSeparator::new('─', '┴', '└', '┘'))
                .padding(1, 1)
                .build(),
            TableStyle::TitleRule => *consts::FORMAT_NO_LINESEP_WITH_TITLE,
            TableStyle::RowRules => *consts::FORMAT_NO_BORDER_LINE_SEPARATOR,
            TableStyle::Grid => *consts::FORMAT_DEFAULT,
        }
    }
}

/// An empty table in `style` with these column titles.
pub fn new_table<S: AsRef<str>>(style: TableStyle, titles: &[S]) -> Table {
    let mut table = Table::new();
    table.set_format(style.format());
    table.set_titles(Row::new(
        titles.iter().map(|t| Cell::new(t.as_ref())).collect(),
    ));
    table
}

/// A right-aligned cell, for numbers.
pub fn right(text: &str) -> Cell {
    Cell::new(text).style_spec("r")
}

/// Rows are true genres, columns predicted genres, both by display name.
pub fn confusion_table(report: &EvalReport) -> Table {
    let mut titles = vec!["true \\ predicted".to_string()];
    titles.extend(report.genre_names.iter().cloned());
    let mut table = new_table(TableStyle::Boxed, &titles);
    for (name, row) in report.genre_names.iter().zip(&report.confusion) {
        let mut cells = vec![Cell::new(name)];
        cells.extend(row.iter().map(|count| right(&count.to_string())));
        table.add_row(Row::new(cells));
    }
    table
}

/// Support, predictions, precision, recall and F1 per genre; genres without covers are marked.
pub fn per_genre_table(report: &EvalReport) -> Table {
    let titles = ["Genre", "Support", "Predicted", "Precision", "Recall", "F1"];
    let mut table = new_table(TableStyle::Boxed, &titles);
    for g in &report.per_genre {
        let name = if g.in_macro_average {
            g.name.clone()
        } else {
            format!("{} (no covers)", g.name)
        };
        table.add_row(Row::new(vec![
            Cell::new(&name),
            right(&g.support.to_string()),
            right(&g.predicted.to_string()),
            right(&fraction(g.precision)),
            right(&fraction(g.recall)),
            right(&fraction(g.f1)),
        ]));
    }
    table
}

/// The headline metrics, one column per model, then the majority baseline of the (shared) covers.
pub fn summary_table(reports: &[EvalReport]) -> Table {
    let mut titles = vec!["Metric".to_string()];
    titles.extend(reports.iter().map(|r| model_label(&r.model)));
    titles.push("Majority baseline".to_string());
    let mut table = new_table(TableStyle::Boxed, &titles);
    let baseline = reports.first().map(|r| r.baseline.summary);
    for metric in Metric::ALL {
        let mut cells = vec![Cell::new(metric.name())];
        cells.extend(
            reports
                .iter()
                .map(|r| right(&metric_cell(metric, &r.summary))),
        );
        cells.push(right(
            &baseline.map_or_else(String::new, |b| metric_cell(metric, &b)),
        ));
        table.add_row(Row::new(cells));
    }
    table
}

fn metric_cell(metric: Metric, summary: &Summary) -> String {
    optional_fraction(metric.value(summary))
}

/// F1 per genre with one column per model (`--compare`).
pub fn per_genre_f1_table(reports: &[EvalReport]) -> Table {
    let mut titles = vec!["Genre".to_string(), "Support".to_string()];
    titles.extend(
        reports
            .iter()
            .map(|r| format!("F1 {}", model_label(&r.model))),
    );
    let mut table = new_table(TableStyle::Boxed, &titles);
    let Some(first) = reports.first() else {
        return table;
    };
    for (i, genre) in first.per_genre.iter().enumerate() {
        let mut cells = vec![Cell::new(&genre.name), right(&genre.support.to_string())];
        cells.extend(reports.iter().map(|r| {
            // Models may list genres in different orders; match by slug.
            let f1 = r
                .per_genre
                .iter()
                .find(|g| g.genre == genre.genre)
                .or_else(|| r.per_genre.get(i))
                .map_or(0.0, |g| g.f1);
            right(&fraction(f1))
        }));
        table.add_row(Row::new(cells));
    }
    table
}

/// A [`Grid`] as a prettytable; its number columns right-aligned.
pub fn grid_table(grid: &Grid) -> Table {
    let mut table = new_table(TableStyle::Boxed, &grid.titles);
    for row in &grid.rows {
        let cells = row
            .iter()
            .enumerate()
            .map(|(i, text)| {
                if i < grid.numeric_from {
                    Cell::new(text)
                } else {
                    right(text)
                }
            })
            .collect();
        table.add_row(Row::new(cells));
    }
    table
}

/// Intervals, calibration error and the threshold table of one or several models.
fn render_confidence(out: &mut String, reports: &[EvalReport]) {
    let _ = writeln!(out, "\n{}", confidence::intervals_heading(reports));
    let _ = write!(out, "{}", grid_table(&confidence::intervals_grid(reports)));
    let _ = writeln!(out, "\n{}", confidence::calibration_heading(reports));
    let _ = writeln!(
        out,
        "Coverage and precision when only covers at or above a confidence get a genre"
    );
    let _ = write!(out, "{}", grid_table(&confidence::thresholds_grid(reports)));
}

/// The most confident wrong predictions.
pub fn errors_table(report: &EvalReport) -> Table {
    let titles = ["#", "Path", "True", "Predicted", "Probability"];
    let mut table = new_table(TableStyle::Boxed, &titles);
    for (i, e) in report.errors.iter().enumerate() {
        table.add_row(Row::new(vec![
            right(&(i + 1).to_string()),
            Cell::new(&e.path.display().to_string()),
            Cell::new(&report.name_of(&e.truth)),
            Cell::new(&report.name_of(&e.predicted)),
            right(&fraction(f64::from(e.probability))),
        ]));
    }
    table
}

/// The whole text report: one model in full, or several side by side.
pub fn render(reports: &[EvalReport]) -> String {
    let mut out = String::new();
    match reports {
        [] => {}
        [report] => render_single(&mut out, report),
        _ => render_comparison(&mut out, reports),
    }
    out
}

fn render_single(out: &mut String, report: &EvalReport) {
    let _ = writeln!(
        out,
        "Model {} on {} ({} covers)\n",
        report.model, report.covers, report.total
    );
    let _ = writeln!(
        out,
        "Confusion matrix (rows: true genre, columns: predicted)"
    );
    let _ = write!(out, "{}", confusion_table(report));
    let _ = writeln!(out, "\nPer genre");
    let _ = write!(out, "{}", per_genre_table(report));
    let _ = writeln!(out, "\nOverall");
    let _ = write!(out, "{}", summary_table(std::slice::from_ref(report)));
    render_confidence(out, std::slice::from_ref(report));
    write_notes(out, report);
    if !report.errors.is_empty() {
        let _ = writeln!(out, "\nMost confident mistakes");
        let _ = write!(out, "{}", errors_table(report));
    }
}

fn render_comparison(out: &mut String, reports: &[EvalReport]) {
    let _ = writeln!(
        out,
        "{} models on {} ({} covers)\n",
        reports.len(),
        reports[0].covers,
        reports[0].total
    );
    let _ = write!(out, "{}", summary_table(reports));
    render_confidence(out, reports);
    let differences = paired_differences(reports);
    let _ = writeln!(out, "\n{}", confidence::differences_heading(&differences));
    let _ = write!(
        out,
        "{}",
        grid_table(&confidence::differences_grid(&differences))
    );
    let _ = writeln!(out, "\nF1 per genre");
    let _ = write!(out, "{}", per_genre_f1_table(reports));
    write_notes(out, &reports[0]);
    for report in reports.iter().filter(|r| !r.errors.is_empty()) {
        let _ = writeln!(
            out,
            "\nMost confident mistakes of {}",
            model_label(&report.model)
        );
        let _ = write!(out, "{}", errors_table(report));
    }
}

fn write_notes(out: &mut String, report: &EvalReport) {
    for note in report.notes() {
        let _ = writeln!(out, "Note: {note}");
    }
}
