//! How numbers and model names read in every rendering (tables, JSON/CSV/markdown, plots): one
//! place, so a fraction or a model's column title looks the same in each.

use std::path::Path;

/// Four decimals: enough to tell models apart, short enough for wide tables.
pub fn fraction(value: f64) -> String {
    format!("{value:.4}")
}

/// The label a model gets in column headers: its file name without the extension.
pub fn model_label(model: &str) -> String {
    Path::new(model)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| model.to_string())
}
