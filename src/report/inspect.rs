//! The `covergenre-train --inspect` report: which layout was found, how many covers each
//! split has per genre, and which files were passed over. Rendered as a table for people or
//! JSON for scripts.

use super::table::{new_table, right, TableStyle};
use crate::data::discover::layout_name;
use crate::data::{Dataset, Split};
use crate::failure::Failure;
use prettytable::{Cell, Row, Table};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What `--inspect` prints. JSON shape:
/// `{"layout": "split-folders", "root": ..., "genres": [...], "generated_splits": false,
///   "splits": {"train": {"country": 835, ...}, ...}, "skipped": [{"path": ..., "reason": ...}]}`
#[derive(Debug, Clone, Serialize)]
pub struct InspectReport {
    pub layout: String,
    pub root: PathBuf,
    /// Genre slugs in label order.
    pub genres: Vec<String>,
    pub generated_splits: bool,
    /// Split name -> genre slug -> covers (every genre listed, zeros included).
    pub splits: BTreeMap<String, BTreeMap<String, usize>>,
    pub skipped: Vec<Failure>,
}

impl InspectReport {
    pub fn from_dataset(dataset: &Dataset) -> Self {
        let splits = Split::ALL
            .iter()
            .map(|&split| (split.as_str().to_string(), dataset.counts(split)))
            .collect();
        Self {
            layout: layout_name(dataset.layout).to_string(),
            root: dataset.root.clone(),
            genres: dataset.genres.slugs(),
            generated_splits: dataset.generated_splits,
            splits,
            skipped: dataset.skipped.clone(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the report is plain data")
    }

    /// A summary line, the per-genre table (label order, with totals) and the skipped files.
    pub fn to_table(&self) -> String {
        let origin = if self.generated_splits {
            "missing splits made by a seeded stratified split"
        } else {
            "splits as found on disk"
        };
        let mut text = format!(
            "Dataset {} ({} layout, {})\n",
            self.root.display(),
            self.layout,
            origin
        );
        text.push_str(&self.counts_table().to_string());
        if self.skipped.is_empty() {
            text.push_str("No files skipped.\n");
        } else {
            text.push_str(&format!("Skipped {} files:\n", self.skipped.len()));
            for skipped in &self.skipped {
                text.push_str(&format!(
                    "  {}: {}\n",
                    skipped.path.display(),
                    skipped.reason
                ));
            }
        }
        text
    }

    fn split_names(&self) -> Vec<&'static str> {
        Split::ALL.iter().map(|s| s.as_str()).collect()
    }

    fn count(&self, split: &str, genre: &str) -> usize {
        self.splits
            .get(split)
            .and_then(|counts| counts.get(genre))
            .copied()
            .unwrap_or(0)
    }

    fn counts_table(&self) -> Table {
        let splits = self.split_names();
        let mut titles = vec!["#", "genre"];
        titles.extend(&splits);
        titles.push("total");
        let mut table = new_table(TableStyle::RowRules, &titles);
        for (index, genre) in self.genres.iter().enumerate() {
            let counts: Vec<usize> = splits.iter().map(|s| self.count(s, genre)).collect();
            table.add_row(self.count_row(&index.to_string(), genre, &counts));
        }
        let totals: Vec<usize> = splits
            .iter()
            .map(|s| self.splits.get(*s).map(|c| c.values().sum()).unwrap_or(0))
            .collect();
        table.add_row(self.count_row("", "all", &totals));
        table
    }

    fn count_row(&self, index: &str, genre: &str, counts: &[usize]) -> Row {
        let mut cells = vec![Cell::new(index), Cell::new(genre)];
        cells.extend(counts.iter().map(|n| right(&n.to_string())));
        let total: usize = counts.iter().sum();
        cells.push(right(&total.to_string()));
        Row::new(cells)
    }
}
