//! Plots of a report, as PNG: the confusion heatmap and the reliability diagram.
//!
//! The confusion matrix as a row-normalised heatmap: each cell's colour is the share of
//! its true genre's covers that went to the predicted genre, so small genres are as readable as
//! large ones; each cell also prints its count and that share. Drawn with plotters' bitmap
//! backend, text with a font bundled in the binary (epaint's Ubuntu Light), so plots look the
//! same on any machine and need no system fonts.

use super::EvalReport;
use crate::util::write_atomic;
use anyhow::{anyhow, Context, Result};
use image::RgbImage;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;
use std::sync::OnceLock;

pub(crate) const FONT: &str = "covergenre-sans";
const CELL_WIDTH: u32 = 110;
const CELL_HEIGHT: u32 = 56;
const LEFT: u32 = 180;
const TOP: u32 = 70;
const BOTTOM: u32 = 110;
const RIGHT: u32 = 30;
/// Wide enough for the title and the axis legend however few genres there are.
const MIN_WIDTH: u32 = 720;

/// Width and height in pixels of the heatmap for this many genres.
pub fn heatmap_size(classes: usize) -> (u32, u32) {
    let n = classes.max(1) as u32;
    (
        (LEFT + n * CELL_WIDTH + RIGHT).max(MIN_WIDTH),
        TOP + n * CELL_HEIGHT + BOTTOM,
    )
}

/// Registers the bundled font under [`FONT`] once, so plots render the same on machines without
/// system fonts (the heatmaps, the reliability diagram and the training curves all use it).
pub(crate) fn register_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, epaint_default_fonts::UBUNTU_LIGHT)
            .is_ok()
    });
    ok.then_some(())
        .ok_or_else(|| anyhow!("the bundled plot font could not be loaded"))
}

/// Shares of each row: a row with no covers is all zeros (not NaN).
pub fn row_normalised(confusion: &[Vec<u64>]) -> Vec<Vec<f64>> {
    confusion
        .iter()
        .map(|row| {
            let total: u64 = row.iter().sum();
            row.iter()
                .map(|&c| {
                    if total == 0 {
                        0.0
                    } else {
                        c as f64 / total as f64
                    }
                })
                .collect()
        })
        .collect()
}

/// White for 0, deep blue for 1.
fn shade(share: f64) -> RGBColor {
    let mix = |from: f64, to: f64| (from + (to - from) * share.clamp(0.0, 1.0)).round() as u8;
    RGBColor(mix(255.0, 8.0), mix(255.0, 48.0), mix(255.0, 107.0))
}

/// Draws the heatmap into an image of [`heatmap_size`].
pub fn render_heatmap(report: &EvalReport) -> Result<RgbImage> {
    register_font()?;
    let (width, height) = heatmap_size(report.genres.len());
    let mut pixels = vec![255u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        draw(&root, report).map_err(|e| anyhow!("cannot draw the heatmap: {e}"))?;
        root.present()
            .map_err(|e| anyhow!("cannot draw the heatmap: {e}"))?;
    }
    RgbImage::from_raw(width, height, pixels).context("heatmap buffer has the wrong size")
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;
type DrawResult<'a> =
    std::result::Result<(), DrawingAreaErrorKind<<BitMapBackend<'a> as DrawingBackend>::ErrorType>>;

fn draw<'a>(root: &Area<'a>, report: &EvalReport) -> DrawResult<'a> {
    root.fill(&WHITE)?;
    let (width, _) = heatmap_size(report.genres.len());
    let title = format!(
        "{}: confusion on {} covers (row-normalised)",
        super::labels::model_label(&report.model),
        report.total
    );
    let centre = |style: TextStyle<'static>| style.pos(Pos::new(HPos::Center, VPos::Center));
    root.draw(&Text::new(
        title,
        (width as i32 / 2, 24),
        centre((FONT, 20).into_font().color(&BLACK)),
    ))?;
    let shares = row_normalised(&report.confusion);
    for (t, row) in report.confusion.iter().enumerate() {
        for (p, &count) in row.iter().enumerate() {
            draw_cell(root, t, p, count, shares[t][p])?;
        }
    }
    draw_labels(root, report)
}

/// Top-left pixel of the cell for true genre `row`, predicted genre `column`.
pub fn cell_origin(row: usize, column: usize) -> (i32, i32) {
    (
        (LEFT + column as u32 * CELL_WIDTH) as i32,
        (TOP + row as u32 * CELL_HEIGHT) as i32,
    )
}

fn draw_cell<'a>(
    root: &Area<'a>,
    row: usize,
    column: usize,
    count: u64,
    share: f64,
) -> DrawResult<'a> {
    let (x, y) = cell_origin(row, column);
    let (w, h) = (CELL_WIDTH as i32, CELL_HEIGHT as i32);
    root.draw(&Rectangle::new(
        [(x, y), (x + w, y + h)],
        shade(share).filled(),
    ))?;
    root.draw(&Rectangle::new(
        [(x, y), (x + w, y + h)],
        RGBColor(200, 200, 200),
    ))?;
    // Dark cells get white text so counts stay readable.
    let ink = if share > 0.5 { WHITE } else { BLACK };
    let style = (FONT, 15)
        .into_font()
        .color(&ink)
        .pos(Pos::new(HPos::Center, VPos::Center));
    let text = format!("{count} ({:.0}%)", share * 100.0);
    root.draw(&Text::new(text, (x + w / 2, y + h / 2), style))
}

fn draw_labels<'a>(root: &Area<'a>, report: &EvalReport) -> DrawResult<'a> {
    let n = report.genres.len();
    let label = (FONT, 15).into_font().color(&BLACK);
    for (i, name) in report.genre_names.iter().enumerate() {
        let (_, y) = cell_origin(i, 0);
        let row_style = label.clone().pos(Pos::new(HPos::Right, VPos::Center));
        root.draw(&Text::new(
            name.clone(),
            (LEFT as i32 - 8, y + CELL_HEIGHT as i32 / 2),
            row_style,
        ))?;
        // Column labels alternate between two lines so long names do not run into each other.
        let (x, bottom) = cell_origin(n, i);
        let line = if i % 2 == 0 { 14 } else { 34 };
        let column_style = label.clone().pos(Pos::new(HPos::Center, VPos::Center));
        root.draw(&Text::new(
            name.clone(),
            (x + CELL_WIDTH as i32 / 2, bottom + line),
            column_style,
        ))?;
    }
    let (_, bottom) = cell_origin(n, 0);
    let axis = (FONT, 16)
        .into_font()
        .color(&RGBColor(80, 80, 80))
        .pos(Pos::new(HPos::Left, VPos::Center));
    root.draw(&Text::new(
        "rows: true genre; columns: predicted genre; colour: share of the row",
        (LEFT as i32, bottom + 70),
        axis,
    ))
}

/// Renders the heatmap and writes it as PNG, atomically.
pub fn write_heatmap(report: &EvalReport, path: &Path) -> Result<()> {
    write_png(&render_heatmap(report)?, path, "heatmap")
}

fn write_png(image: &RgbImage, path: &Path, what: &str) -> Result<()> {
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .with_context(|| format!("cannot encode the {what} as PNG"))?;
    write_atomic(path, &png).with_context(|| format!("cannot write the {what} {}", path.display()))
}

/// Size of the reliability diagram in pixels.
pub const RELIABILITY_SIZE: (u32, u32) = (760, 820);

/// The reliability diagram: for each confidence bin, a bar as high as the share of its covers
/// that were right (blue), beside the diagonal a perfectly calibrated model would follow; bars
/// under the diagonal are over-confident. A strip below shows how many covers each bin holds,
/// since a bar of three covers says little. The title carries the expected calibration error.
pub fn render_reliability(report: &EvalReport) -> Result<RgbImage> {
    register_font()?;
    let (width, height) = RELIABILITY_SIZE;
    let mut pixels = vec![255u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        draw_reliability(&root, report).map_err(|e| anyhow!("cannot draw the diagram: {e}"))?;
        root.present()
            .map_err(|e| anyhow!("cannot draw the diagram: {e}"))?;
    }
    RgbImage::from_raw(width, height, pixels).context("diagram buffer has the wrong size")
}

/// Colour of the accuracy bars (and of the counts strip).
pub const BAR_COLOUR: RGBColor = RGBColor(8, 81, 156);

fn draw_reliability<'a>(root: &Area<'a>, report: &EvalReport) -> DrawResult<'a> {
    root.fill(&WHITE)?;
    let calibration = &report.calibration;
    let title = format!(
        "{}: reliability on {} covers, ECE {:.4}",
        super::labels::model_label(&report.model),
        report.total,
        calibration.expected_calibration_error
    );
    let (upper, lower) = root.split_vertically(RELIABILITY_SIZE.1 - 200);
    let mut chart = ChartBuilder::on(&upper)
        .caption(title, (FONT, 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(0f64..1f64, 0f64..1f64)?;
    chart
        .configure_mesh()
        .x_desc("confidence (probability of the predicted genre)")
        .y_desc("accuracy")
        .label_style((FONT, 14))
        .draw()?;
    let filled = calibration.bins.iter().filter(|b| b.count > 0);
    chart.draw_series(
        filled
            .clone()
            .map(|b| Rectangle::new([(b.lower, 0.0), (b.upper, b.accuracy)], BAR_COLOUR.filled())),
    )?;
    chart.draw_series(filled.map(|b| {
        Rectangle::new(
            [(b.lower, 0.0), (b.upper, b.accuracy)],
            WHITE.stroke_width(1),
        )
    }))?;
    chart.draw_series(LineSeries::new(
        [(0.0, 0.0), (1.0, 1.0)],
        RGBColor(200, 50, 50).stroke_width(2),
    ))?;
    let most = calibration
        .bins
        .iter()
        .map(|b| b.count)
        .max()
        .unwrap_or(0)
        .max(1);
    let mut counts = ChartBuilder::on(&lower)
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(0f64..1f64, 0f64..most as f64 * 1.1)?;
    counts
        .configure_mesh()
        .x_desc("confidence")
        .y_desc("covers")
        .y_labels(3)
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style((FONT, 14))
        .draw()?;
    counts.draw_series(calibration.bins.iter().filter(|b| b.count > 0).map(|b| {
        Rectangle::new(
            [(b.lower, 0.0), (b.upper, b.count as f64)],
            BAR_COLOUR.mix(0.5).filled(),
        )
    }))?;
    Ok(())
}

/// Renders the reliability diagram and writes it as PNG, atomically.
pub fn write_reliability(report: &EvalReport, path: &Path) -> Result<()> {
    write_png(&render_reliability(report)?, path, "reliability diagram")
}
