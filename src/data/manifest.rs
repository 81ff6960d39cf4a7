//! A CSV manifest with `path,genre` (and optionally `split`) columns: the dataset is the CSV
//! file, or a folder holding `manifest.csv`. Found by [`super::discover`].

use super::listing::{Found, SPLIT_DIRS};
use super::{Layout, Sample, Split};
use crate::failure::Failure;
use crate::files::{file_name, is_image_file_name};
use crate::genres::GenreSet;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Column positions in a manifest.
struct Columns {
    path: usize,
    genre: usize,
    split: Option<usize>,
}

/// One usable manifest row.
struct Row {
    path: PathBuf,
    genre: String,
    split: Split,
}

pub(super) fn read_csv_manifest(csv_path: &Path) -> Result<Found> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(csv_path)
        .with_context(|| format!("{}: cannot open the manifest", csv_path.display()))?;
    let headers = reader
        .headers()
        .with_context(|| format!("{}: cannot read the header line", csv_path.display()))?
        .clone();
    let columns = find_columns(&headers)
        .with_context(|| format!("{}: not a covergenre manifest", csv_path.display()))?;
    let base = csv_path.parent().unwrap_or(Path::new("."));
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let line = index + 2; // 1-based, after the header
        match record {
            Ok(record) => match parse_row(&record, &columns, base) {
                Ok(row) => rows.push(row),
                Err((path, reason)) => skipped.push(Failure {
                    path: path.unwrap_or_else(|| csv_path.to_path_buf()),
                    reason: format!("{} line {line}: {reason}", file_name(csv_path)),
                }),
            },
            Err(error) => skipped.push(Failure {
                path: csv_path.to_path_buf(),
                reason: format!("line {line}: {error}"),
            }),
        }
    }
    let genres = manifest_genres(&rows);
    let mut splits: BTreeMap<Split, Vec<Sample>> = BTreeMap::new();
    for row in rows {
        if let Some(label) = genres.index_of(&row.genre) {
            splits.entry(row.split).or_default().push(Sample {
                path: row.path,
                label,
            });
        }
    }
    Ok(Found {
        layout: Layout::CsvManifest,
        genres,
        splits,
        skipped,
    })
}

fn find_columns(headers: &csv::StringRecord) -> Result<Columns> {
    let find = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    match (find("path"), find("genre")) {
        (Some(path), Some(genre)) => Ok(Columns {
            path,
            genre,
            split: find("split"),
        }),
        _ => bail!(
            "needs `path` and `genre` columns (optionally `split`); found: {}",
            headers.iter().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// A manifest row, or (the file it names, why it was passed over).
fn parse_row(
    record: &csv::StringRecord,
    columns: &Columns,
    base: &Path,
) -> std::result::Result<Row, (Option<PathBuf>, String)> {
    let field = |i: usize| record.get(i).unwrap_or("");
    let raw_path = field(columns.path);
    if raw_path.is_empty() {
        return Err((None, "empty path".into()));
    }
    let path = base.join(raw_path);
    let genre = field(columns.genre).to_string();
    if genre.is_empty() {
        return Err((Some(path), "no genre given".into()));
    }
    let split_name = columns.split.map(field).unwrap_or("");
    let split = parse_split(split_name).ok_or_else(|| {
        (
            Some(path.clone()),
            format!("unknown split '{split_name}' (expected train, dev, val or test)"),
        )
    })?;
    if !is_image_file_name(&path) {
        return Err((Some(path), "not an image file extension".into()));
    }
    if !path.exists() {
        return Err((Some(path), "listed in the manifest but not found".into()));
    }
    Ok(Row { path, genre, split })
}

/// An empty split cell means train: the covers that other splits are carved from.
fn parse_split(name: &str) -> Option<Split> {
    if name.is_empty() {
        return Some(Split::Train);
    }
    let lower = name.to_ascii_lowercase();
    SPLIT_DIRS
        .iter()
        .find(|(dir, _)| *dir == lower)
        .map(|(_, split)| *split)
}

/// MUMU when every genre name is a MUMU genre (by slug or display name), else the manifest's
/// own names, sorted.
fn manifest_genres(rows: &[Row]) -> GenreSet {
    let mumu = GenreSet::mumu();
    if rows.iter().all(|row| mumu.index_of(&row.genre).is_some()) {
        return mumu;
    }
    GenreSet::from_folder_names(rows.iter().map(|row| row.genre.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_names_include_val_and_default_to_train() {
        assert_eq!(parse_split("VAL"), Some(Split::Dev));
        assert_eq!(parse_split(""), Some(Split::Train));
        assert_eq!(parse_split("holdout"), None);
    }
}
