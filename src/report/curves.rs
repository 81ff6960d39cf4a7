//! Training curves as the study drew them: one PNG per variant with loss, accuracy and
//! macro-F1 per epoch, train (dashed) and dev (solid), every run overlaid in its own colour.
//! Plain data in ([`CurvePoint`], one per epoch), so drawing needs no libtorch.

use super::plot::{register_font, FONT};
use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::path::Path;

const SIZE: (u32, u32) = (1500, 450);

/// One epoch of one run as the curves show it: loss, accuracy and macro-F1 (the order of
/// [`METRICS`]) on train and on the selection set (dev, or the held-back slice of train).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvePoint {
    pub epoch: usize,
    pub train: [f64; 3],
    pub dev: [f64; 3],
}

/// The panels, left to right.
pub const METRICS: [&str; 3] = ["loss", "accuracy", "macro-F1"];

/// Draws `runs` (one history per run) into a PNG at `path`, written atomically.
pub fn plot_curves(path: &Path, variant: &str, runs: &[Vec<CurvePoint>]) -> Result<()> {
    register_font()?;
    let (w, h) = SIZE;
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    draw(&mut rgb, variant, runs).map_err(|e| anyhow!("{e}"))?;
    let image = image::RgbImage::from_raw(w, h, rgb).ok_or_else(|| anyhow!("bad plot buffer"))?;
    crate::util::write_atomic_with(path, |out| {
        let mut bytes = std::io::Cursor::new(Vec::new());
        image.write_to(&mut bytes, image::ImageFormat::Png)?;
        out.write_all(bytes.get_ref())?;
        Ok(())
    })
}

fn draw(
    rgb: &mut [u8],
    variant: &str,
    runs: &[Vec<CurvePoint>],
) -> Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::with_buffer(rgb, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        &format!("{variant}: train (dashed) and dev (solid)"),
        (FONT, 24),
    )?;
    let epochs = runs.iter().map(Vec::len).max().unwrap_or(1).max(2);
    for (metric, (panel, name)) in root.split_evenly((1, 3)).iter().zip(METRICS).enumerate() {
        let values = runs
            .iter()
            .flatten()
            .flat_map(|r| [r.train[metric], r.dev[metric]]);
        let top = values.fold(0.0f64, f64::max).max(1e-6) * 1.05;
        let mut chart = ChartBuilder::on(panel)
            .caption(name, (FONT, 20))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(1f64..epochs as f64, 0f64..top)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .label_style((FONT, 14))
            .draw()?;
        for (k, history) in runs.iter().enumerate() {
            let colour = Palette99::pick(k).to_rgba();
            let points = |f: fn(&CurvePoint) -> [f64; 3]| {
                history.iter().map(move |r| (r.epoch as f64, f(r)[metric]))
            };
            chart
                .draw_series(LineSeries::new(points(|r| r.dev), colour.stroke_width(2)))?
                .label(format!("run {}", k + 1))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 15, y)], colour.stroke_width(2))
                });
            chart.draw_series(DashedLineSeries::new(
                points(|r| r.train),
                6,
                4,
                colour.stroke_width(1),
            ))?;
        }
        if runs.len() > 1 {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .label_font((FONT, 14))
                .draw()?;
        }
    }
    root.present()?;
    Ok(())
}
