//! The `covergenre-train --inspect` report: which layout was found, how many covers each
//! split has per genre, and which files were passed over. Rendered as a table for people or
//! JSON for scripts.

use super::table::{new_table, right, TableStyle};
use crate::data::discover::layout_name;
use crate::data::library::{GenreCount, LibrarySummary};
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
    /// Display names in label order (a library's: the owner's spellings).
    pub genre_names: Vec<String>,
    pub generated_splits: bool,
    /// Split name -> genre slug -> covers (every genre listed, zeros included).
    pub splits: BTreeMap<String, BTreeMap<String, usize>>,
    pub skipped: Vec<Failure>,
    /// A music library's vocabulary, unlabelled albums, ties and unreadable tracks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub library: Option<LibrarySummary>,
    /// A music library's held-out covers (an album folder's cover file, or the track whose
    /// art is used), split name -> paths: which albums the dev and test metrics of a run on
    /// this library are measured on (JSON only; the splits stay put as albums are added).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_out: Option<BTreeMap<String, Vec<PathBuf>>>,
    /// A music library: how many of its labelled covers have the base model's outputs cached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_outputs: Option<BaseOutputsCached>,
}

/// How many covers the base-output cache holds for the base model a library learns from.
#[derive(Debug, Clone, Serialize)]
pub struct BaseOutputsCached {
    /// The base model ("the built-in model", or the `--base` file).
    pub base: String,
    pub cached: usize,
    pub covers: usize,
    /// The cache folder.
    pub folder: PathBuf,
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
            genre_names: dataset.genres.names(),
            generated_splits: dataset.generated_splits,
            splits,
            skipped: dataset.skipped.clone(),
            library: dataset.library.clone(),
            held_out: dataset.library.as_ref().map(|_| held_out(dataset)),
            base_outputs: None,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the report is plain data")
    }

    /// A summary line, the per-genre table (label order, with totals) and the skipped files.
    pub fn to_table(&self) -> String {
        let origin = if self.library.is_some() {
            "splits by a stable hash of each album's path"
        } else if self.generated_splits {
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
        if let Some(library) = &self.library {
            text.push_str(&library_overview(library));
        }
        text.push_str(&self.counts_table().to_string());
        if let Some(library) = &self.library {
            text.push_str(&library_details(library));
        }
        if let Some(cached) = &self.base_outputs {
            text.push_str(&format!(
                "Base model outputs cached for {} of {} labelled covers ({}, in {}).\n",
                cached.cached,
                cached.covers,
                cached.base,
                cached.folder.display()
            ));
        }
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
        for (index, (genre, name)) in self.genres.iter().zip(&self.genre_names).enumerate() {
            let counts: Vec<usize> = splits.iter().map(|s| self.count(s, genre)).collect();
            let shown = if self.library.is_some() { name } else { genre };
            table.add_row(self.count_row(&index.to_string(), shown, &counts));
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

/// Albums, tracks, what reading the tags cost, and the genres with the spellings folded into
/// them (the counts table that follows splits them by dev, test and train).
/// The dev and test covers of a dataset, by split name.
fn held_out(dataset: &Dataset) -> BTreeMap<String, Vec<PathBuf>> {
    [Split::Dev, Split::Test]
        .iter()
        .map(|&split| {
            let paths = dataset
                .split(split)
                .iter()
                .map(|s| s.path.clone())
                .collect();
            (split.as_str().to_string(), paths)
        })
        .collect()
}

fn library_overview(library: &LibrarySummary) -> String {
    let read = match library.tag_bytes_read {
        Some(bytes) => format!(
            "; read {} of {} of audio files (tags only) in {:.1} s",
            megabytes(bytes),
            megabytes(library.audio_bytes),
            library.seconds
        ),
        None => String::new(),
    };
    let mut text = format!(
        "{} albums ({} tracks), {} labelled by their {} field and trained on{read}\n",
        library.albums, library.tracks, library.labelled, library.field
    );
    text.push_str(&cover_rules_line(library));
    text.push_str(&format!(
        "Genres (at least {} albums each; spellings folded into each, with their albums):\n",
        library.min_albums
    ));
    for genre in &library.genres {
        text.push_str(&format!("  {}\n", genre_line(genre)));
    }
    text
}

/// Which step of the front-cover rule chose the albums' covers (each album's cover and rule
/// are in the JSON report).
fn cover_rules_line(library: &LibrarySummary) -> String {
    if library.cover_rules.is_empty() {
        return String::new();
    }
    let rules: Vec<String> = library
        .cover_rules
        .iter()
        .map(|(rule, n)| format!("{rule} {n}"))
        .collect();
    format!("Covers chosen by: {} albums\n", rules.join(", "))
}

/// What was left out: small genres, dropped values, unlabelled albums, ties, bad tracks.
fn library_details(library: &LibrarySummary) -> String {
    let mut text = String::new();
    if !library.left_out.is_empty() {
        text.push_str(&format!(
            "Left out (fewer than {} albums; lower --min-albums or merge with --genre-map):\n",
            library.min_albums
        ));
        for genre in &library.left_out {
            text.push_str(&format!("  {}\n", genre_line(genre)));
        }
    }
    if !library.dropped.is_empty() {
        let dropped: Vec<String> = library
            .dropped
            .iter()
            .map(|(value, n)| format!("{value} ({n} albums)"))
            .collect();
        text.push_str(&format!(
            "Dropped by the genre map: {}\n",
            dropped.join(", ")
        ));
    }
    text.push_str(&format!(
        "Unlabelled (no {} value; never trained on, these are what the model will tag): {} albums\n",
        library.field,
        library.unlabelled.len()
    ));
    for album in &library.unlabelled {
        text.push_str(&format!("  {}\n", album.display()));
    }
    if !library.ties.is_empty() {
        text.push_str(
            "Albums whose tracks disagree with no majority (the first track's value is used):\n",
        );
        for tie in &library.ties {
            text.push_str(&format!(
                "  {}: {} -> {}\n",
                tie.album.display(),
                tie.values.join(" / "),
                tie.chosen
            ));
        }
    }
    let passed_over: Vec<&crate::data::cover_names::PassedOver> =
        library.covers.iter().flat_map(|c| &c.passed_over).collect();
    if !passed_over.is_empty() {
        text.push_str("Cover files passed over (the next candidate is used):\n");
        for passed in passed_over {
            text.push_str(&format!("  {}\n", passed.reason));
        }
    }
    if library.untaggable_tracks > 0 {
        text.push_str(&format!(
            "Tracks in formats covergenre cannot read genres from (never labels): {}\n",
            library.untaggable_tracks
        ));
    }
    if !library.unreadable_tracks.is_empty() {
        text.push_str(&format!(
            "Tracks whose tags could not be read ({}; their albums go on without them):\n",
            library.unreadable_tracks.len()
        ));
        for track in &library.unreadable_tracks {
            text.push_str(&format!("  {}: {}\n", track.path.display(), track.reason));
        }
    }
    text
}

/// `Hip-Hop: 12 albums (Hip-Hop 8, Hip Hop 3, hip hop 1)`.
fn genre_line(genre: &GenreCount) -> String {
    let spellings: Vec<String> = genre
        .spellings
        .iter()
        .map(|(spelling, n)| format!("{spelling} {n}"))
        .collect();
    format!(
        "{}: {} albums ({})",
        genre.name,
        genre.albums,
        spellings.join(", ")
    )
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
