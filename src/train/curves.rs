//! Training curves as the study drew them: one PNG per variant with loss, accuracy and
//! macro-F1 per epoch, train (dashed) and dev (solid), every run overlaid in its own colour.

use super::run::EpochRecord;
use crate::report::plot::{register_font, FONT};
use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::path::Path;

const SIZE: (u32, u32) = (1500, 450);

type Metric = (
    &'static str,
    fn(&EpochRecord) -> f64,
    fn(&EpochRecord) -> f64,
);

const METRICS: [Metric; 3] = [
    ("loss", |r| r.train_loss, |r| r.dev_loss),
    ("accuracy", |r| r.train_accuracy, |r| r.dev_accuracy),
    ("macro-F1", |r| r.train_macro_f1, |r| r.dev_macro_f1),
];

/// Draws `runs` (one history per run) into a PNG at `path`, written atomically.
pub fn plot_curves(path: &Path, variant: &str, runs: &[Vec<EpochRecord>]) -> Result<()> {
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
    runs: &[Vec<EpochRecord>],
) -> Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::with_buffer(rgb, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        &format!("{variant}: train (dashed) and dev (solid)"),
        (FONT, 24),
    )?;
    let epochs = runs.iter().map(Vec::len).max().unwrap_or(1).max(2);
    for (panel, (name, train, dev)) in root.split_evenly((1, 3)).iter().zip(METRICS) {
        let values = runs.iter().flatten().flat_map(|r| [train(r), dev(r)]);
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
            let points =
                |f: fn(&EpochRecord) -> f64| history.iter().map(move |r| (r.epoch as f64, f(r)));
            chart
                .draw_series(LineSeries::new(points(dev), colour.stroke_width(2)))?
                .label(format!("run {}", k + 1))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 15, y)], colour.stroke_width(2))
                });
            chart.draw_series(DashedLineSeries::new(
                points(train),
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
