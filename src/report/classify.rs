//! Output of `covergenre-classify`: one [`Record`] per classified cover, written as a table,
//! CSV, JSON or JSON lines, plus the run [`Summary`].
//!
//! Stable shapes (eval's `--predictions` reads the CSV and JSONL back with
//! [`crate::evaluate::predictions::read_predictions`], the one reader of this output):
//! - CSV: `path,genre,probability,top1,p1,top2,p2,...` (k = `--top-k`, at most the class count).
//!   `genre` is [`UNCERTAIN`] when the best probability is under `--min-confidence`; `top1` is
//!   always the model's best guess.
//! - JSONL: one `{"path","genre","probability","top":[{"genre","name","probability"},...]}` per
//!   line; `name` is the genre's display name in the model (what `--tag` writes by default).
//!   In library mode each also has `"cover":{"file","rule","passed_over"}`: the file the
//!   album's cover came from, the step of the front-cover rule that chose it, and candidates
//!   passed over because they could not be decoded.
//! - JSON: `{"results":[records...],"failures":[{"path","reason"}],"summary":{...}}`.
//! - Table: path, genre, probability and the top-k, for people.
//!
//! Failures are not rows of the CSV/JSONL/table (they go to stderr), so every row is a prediction.

use super::table::{new_table, TableStyle};
use crate::covers::{CoverUsed, Source};
use crate::failure::Failure;
use crate::genres::GenreSet;
use crate::infer::pipeline::Classified;
use anyhow::Result;
use prettytable::{Cell, Row, Table};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;

/// The genre given when the model's best probability is under the confidence bar.
pub const UNCERTAIN: &str = "uncertain";

/// Output formats of classify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
    Jsonl,
}

/// One ranked genre.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranked {
    /// The slug.
    pub genre: String,
    /// The display name ("Rap & Hip-Hop"), so programs reading the output need not know the
    /// model's genre list.
    pub name: String,
    pub probability: f32,
}

impl Ranked {
    /// A genre of `genres` by index (`class-<i>` past its end).
    pub fn of(genres: &GenreSet, index: usize, probability: f32) -> Self {
        match genres.get(index) {
            Some(genre) => Self {
                genre: genre.slug.clone(),
                name: genre.name.clone(),
                probability,
            },
            None => Self::from_slug(format!("class-{index}"), probability),
        }
    }

    /// A genre known only by its slug (read back from a file): the MUMU display name, or the
    /// slug itself.
    pub fn from_slug(slug: String, probability: f32) -> Self {
        Self {
            name: crate::genres::display_name(&slug).to_string(),
            genre: slug,
            probability,
        }
    }
}

/// The result for one cover.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub path: String,
    /// Genre slug, or [`UNCERTAIN`].
    pub genre: String,
    /// The best probability (also when the genre is uncertain).
    pub probability: f32,
    /// The top-k genres, most probable first.
    pub top: Vec<Ranked>,
    /// Library mode: the cover the album's result came from, the rule that chose it, and
    /// candidates passed over because they could not be decoded (JSON and JSONL only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cover: Option<CoverUsed>,
    /// With `--artist-context`: what the album's artist said ([`crate::artist_list`]); the
    /// genres above are then the combined ones (JSON and JSONL only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artist: Option<crate::artist_context::Said>,
}

impl Record {
    /// Builds a record from a pipeline result; `min_confidence` turns weak guesses into
    /// [`UNCERTAIN`].
    pub fn new(
        item: &Classified<Source>,
        genres: &GenreSet,
        top_k: usize,
        min_confidence: Option<f32>,
    ) -> Self {
        let top: Vec<Ranked> = item
            .top_k(top_k.max(1))
            .into_iter()
            .map(|(i, probability)| Ranked::of(genres, i, probability))
            .collect();
        let (best, probability) = item.best();
        let genre = match min_confidence {
            Some(bar) if probability < bar => UNCERTAIN.to_string(),
            _ => Ranked::of(genres, best, probability).genre,
        };
        Self {
            path: item.path().display().to_string(),
            genre,
            probability,
            top,
            cover: item.source.cover_used(),
            artist: None,
        }
    }
}

/// Counts and timing of one classify run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Summary {
    /// Covers per genre given (including [`UNCERTAIN`]), genres with none left out.
    pub genres: BTreeMap<String, usize>,
    pub classified: usize,
    pub failed: usize,
    pub stopped_early: bool,
    pub seconds: f64,
    pub images_per_second: f64,
}

impl Summary {
    pub fn count(&mut self, record: &Record) {
        *self.genres.entry(record.genre.clone()).or_default() += 1;
    }

    /// The lines printed on stderr after a run.
    pub fn lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .genres
            .iter()
            .map(|(genre, n)| format!("  {genre:<20} {n:>7}"))
            .collect();
        lines.insert(0, "covers per genre:".to_string());
        lines.push(format!(
            "classified {} cover(s), {} failed{}, in {:.2} s ({:.1} images/s)",
            self.classified,
            self.failed,
            if self.stopped_early {
                " (stopped at the first failure: --strict)"
            } else {
                ""
            },
            self.seconds,
            self.images_per_second
        ));
        lines
    }
}

#[derive(Serialize)]
struct FailureRow<'a> {
    path: String,
    reason: &'a str,
}

/// Streams records to a writer in one format; tables and JSON failures are kept until
/// [`RecordWriter::finish`] (rows are small: the images themselves are never kept).
pub struct RecordWriter<'w> {
    out: &'w mut dyn Write,
    format: Format,
    top_k: usize,
    rows_written: usize,
    table: Vec<Record>,
    failures: Vec<Failure>,
}

impl<'w> RecordWriter<'w> {
    /// Starts the output (CSV header, JSON opening); `top_k` is the number of ranked columns.
    pub fn new(out: &'w mut dyn Write, format: Format, top_k: usize) -> Result<Self> {
        let mut writer = Self {
            out,
            format,
            top_k: top_k.max(1),
            rows_written: 0,
            table: Vec::new(),
            failures: Vec::new(),
        };
        match format {
            Format::Csv => writer.csv_row(&csv_header(writer.top_k))?,
            Format::Json => write!(writer.out, "{{\"results\":[")?,
            Format::Table | Format::Jsonl => {}
        }
        Ok(writer)
    }

    pub fn record(&mut self, record: &Record) -> Result<()> {
        match self.format {
            Format::Table => self.table.push(record.clone()),
            Format::Csv => self.csv_row(&csv_fields(record, self.top_k))?,
            Format::Jsonl => {
                serde_json::to_writer(&mut *self.out, record)?;
                writeln!(self.out)?;
            }
            Format::Json => {
                if self.rows_written > 0 {
                    write!(self.out, ",")?;
                }
                writeln!(self.out)?;
                serde_json::to_writer(&mut *self.out, record)?;
            }
        }
        self.rows_written += 1;
        Ok(())
    }

    /// Failures appear in the JSON document; other formats leave them to stderr.
    pub fn failure(&mut self, failure: &Failure) {
        if self.format == Format::Json {
            self.failures.push(failure.clone());
        }
    }

    /// Ends the output (table body, JSON failures and summary).
    pub fn finish(self, summary: &Summary) -> Result<()> {
        match self.format {
            Format::Table => {
                render_table(&self.table, self.top_k).print(self.out)?;
            }
            Format::Json => {
                let failures: Vec<FailureRow> = self
                    .failures
                    .iter()
                    .map(|f| FailureRow {
                        path: f.path.display().to_string(),
                        reason: &f.reason,
                    })
                    .collect();
                write!(self.out, "\n],\"failures\":")?;
                serde_json::to_writer(&mut *self.out, &failures)?;
                write!(self.out, ",\"summary\":")?;
                serde_json::to_writer(&mut *self.out, summary)?;
                writeln!(self.out, "}}")?;
            }
            Format::Csv | Format::Jsonl => {}
        }
        self.out.flush()?;
        Ok(())
    }

    fn csv_row(&mut self, fields: &[String]) -> Result<()> {
        // A csv::Writer per row keeps quoting right without owning the output.
        let mut csv = csv::WriterBuilder::new().from_writer(&mut *self.out);
        csv.write_record(fields)?;
        csv.flush()?;
        Ok(())
    }
}

fn csv_header(top_k: usize) -> Vec<String> {
    let mut header = vec!["path".into(), "genre".into(), "probability".into()];
    for i in 1..=top_k {
        header.push(format!("top{i}"));
        header.push(format!("p{i}"));
    }
    header
}

fn csv_fields(record: &Record, top_k: usize) -> Vec<String> {
    let mut fields = vec![
        record.path.clone(),
        record.genre.clone(),
        record.probability.to_string(),
    ];
    for i in 0..top_k {
        match record.top.get(i) {
            Some(r) => fields.extend([r.genre.clone(), r.probability.to_string()]),
            None => fields.extend([String::new(), String::new()]),
        }
    }
    fields
}

fn render_table(records: &[Record], top_k: usize) -> Table {
    let top = format!("top {top_k}");
    let mut table = new_table(
        TableStyle::TitleRule,
        &["path", "genre", "probability", &top],
    );
    for r in records {
        let top = r
            .top
            .iter()
            .map(|t| format!("{} {:.3}", t.genre, t.probability))
            .collect::<Vec<_>>()
            .join(", ");
        table.add_row(Row::new(vec![
            Cell::new(&r.path),
            Cell::new(&r.genre),
            Cell::new(&format!("{:.3}", r.probability)),
            Cell::new(&top),
        ]));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::predictions::{self, PredictionsFile};
    use std::path::Path;

    /// The output read back by the one reader ([`predictions`]); a row it cannot read is an error.
    fn strict(file: PredictionsFile) -> Result<Vec<Record>> {
        anyhow::ensure!(file.failures.is_empty(), "{:?}", file.failures);
        Ok(file.records)
    }

    fn parse_csv(bytes: &[u8]) -> Result<Vec<Record>> {
        strict(predictions::parse_csv(
            std::str::from_utf8(bytes)?,
            Path::new("out.csv"),
        )?)
    }

    fn parse_jsonl(bytes: &[u8]) -> Result<Vec<Record>> {
        strict(predictions::parse_jsonl(
            std::str::from_utf8(bytes)?,
            Path::new("out.jsonl"),
        ))
    }

    fn record(path: &str, probabilities: Vec<f32>, bar: Option<f32>) -> Record {
        let item = Classified {
            source: Source::file(path),
            probabilities,
        };
        Record::new(&item, &GenreSet::mumu(), 3, bar)
    }

    fn written(format: Format, records: &[Record]) -> String {
        let mut out = Vec::new();
        let mut writer = RecordWriter::new(&mut out, format, 3).unwrap();
        let mut summary = Summary::default();
        for r in records {
            writer.record(r).unwrap();
            summary.count(r);
        }
        writer.failure(&Failure::new("bad.jpg", "empty file"));
        writer.finish(&summary).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn sample() -> Vec<Record> {
        let mut p = vec![0.0; 12];
        p[8] = 0.7;
        p[0] = 0.2;
        p[3] = 0.1;
        let mut flat = vec![1.0 / 12.0; 12];
        flat[11] += 0.01;
        vec![
            record("a, \"odd\" name.jpg", p, Some(0.5)),
            record("b.jpg", flat, Some(0.5)),
        ]
    }

    #[test]
    fn records_rank_genres_and_mark_weak_guesses_uncertain() {
        let records = sample();
        assert_eq!(records[0].genre, "metal");
        assert_eq!(records[0].probability, 0.7);
        let top: Vec<&str> = records[0].top.iter().map(|r| r.genre.as_str()).collect();
        assert_eq!(top, ["metal", "alternative-rock", "country"]);
        assert_eq!(records[0].top[1].name, "Alternative Rock");
        assert_eq!(records[1].genre, UNCERTAIN);
        assert_eq!(
            records[1].top[0].genre, "reggae",
            "the guess is still listed"
        );
    }

    #[test]
    fn csv_and_jsonl_parse_back_to_the_same_records() {
        let records = sample();
        let csv = written(Format::Csv, &records);
        assert!(
            csv.starts_with("path,genre,probability,top1,p1,top2,p2,top3,p3\n"),
            "{csv}"
        );
        assert_eq!(parse_csv(csv.as_bytes()).unwrap(), records);
        let jsonl = written(Format::Jsonl, &records);
        assert_eq!(jsonl.lines().count(), 2);
        assert_eq!(parse_jsonl(jsonl.as_bytes()).unwrap(), records);
    }

    #[test]
    fn jsonl_carries_the_models_own_display_names() {
        let genres = GenreSet::from_slugs(["hip-hop".to_string(), "jazz".to_string()])
            .with_names(&["Hip-Hop".to_string(), "Jazz".to_string()])
            .unwrap();
        let item = Classified {
            source: Source::file("a.jpg"),
            probabilities: vec![0.8, 0.2],
        };
        let record = Record::new(&item, &genres, 2, None);
        let jsonl = written(Format::Jsonl, std::slice::from_ref(&record));
        let line: serde_json::Value = serde_json::from_str(jsonl.trim()).unwrap();
        assert_eq!(line["top"][0]["genre"], "hip-hop");
        assert_eq!(line["top"][0]["name"], "Hip-Hop");
        assert_eq!(parse_jsonl(jsonl.as_bytes()).unwrap(), [record]);
    }

    #[test]
    fn json_holds_results_failures_and_summary() {
        let json: serde_json::Value =
            serde_json::from_str(&written(Format::Json, &sample())).unwrap();
        assert_eq!(json["results"].as_array().unwrap().len(), 2);
        assert_eq!(json["results"][0]["genre"], "metal");
        assert_eq!(json["failures"][0]["path"], "bad.jpg");
        assert_eq!(json["failures"][0]["reason"], "empty file");
        assert_eq!(json["summary"]["genres"]["metal"], 1);
        assert_eq!(json["summary"]["genres"][UNCERTAIN], 1);
    }

    #[test]
    fn an_empty_json_run_is_still_valid_json() {
        let json: serde_json::Value = serde_json::from_str(&written(Format::Json, &[])).unwrap();
        assert_eq!(json["results"].as_array().unwrap().len(), 0);
    }

    #[test]
    fn the_table_shows_every_record() {
        let table = written(Format::Table, &sample());
        assert!(table.contains("metal 0.700"), "{table}");
        assert!(table.contains(UNCERTAIN));
        assert!(table.contains("b.jpg"));
    }
}
