//! Evaluating a classify output file (`--predictions`) against labels, without a model.
//!
//! Both classify formats are read:
//! - CSV with a header: `path,genre,probability,top1,p1,top2,p2,...`. The ranking comes from the
//!   `top<k>`/`p<k>` pairs (the `genre` column may say `uncertain` under `--min-confidence`);
//!   files without them fall back to `genre`/`probability`.
//! - JSONL, one object per cover: `path`, and the ranking as `top` (a list of
//!   `{"genre", "name", "probability"}` objects, `name` optional, or `[genre, probability]`
//!   pairs), as `top1`/`p1`...
//!   keys, as a `probabilities` map, or as `genre`/`probability`.
//!
//! A row with an `error` field, or one that cannot be read, is listed as a failure with the
//! file, line and problem; the other rows are still evaluated.
//!
//! This is the one reader of classify's output: rows come back as classify wrote them
//! ([`Record`]: `genre` and `probability` as written, `top` the ranking, best first).
//!
//! The truth for each cover comes from a dataset ([`Labels::from_dataset`], matched by path) or
//! from the cover's parent folder name ([`Labels::ParentFolder`], for `<genre>/<file>` layouts).

use super::Described;
use crate::data::Dataset;
use crate::failure::Failure;
use crate::genres::GenreSet;
use crate::metrics::Tally;
use crate::report::EvalReport;
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

// The word classify writes instead of a genre below `--min-confidence`, and its row.
pub use crate::report::classify::{Ranked, Record, UNCERTAIN};

/// What a predictions file held: usable records, and rows that were not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PredictionsFile {
    pub records: Vec<Record>,
    pub failures: Vec<Failure>,
}

/// Reads a classify CSV or JSONL file; the format comes from the extension (`.csv`, `.jsonl`,
/// `.json`, `.ndjson`) or, failing that, from the first character.
pub fn read_predictions(path: &Path) -> Result<PredictionsFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the predictions file {}", path.display()))?;
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let is_json = match extension.as_str() {
        "jsonl" | "json" | "ndjson" => true,
        "csv" => false,
        _ => text.trim_start().starts_with('{'),
    };
    let file = if is_json {
        parse_jsonl(&text, path)
    } else {
        parse_csv(&text, path)?
    };
    if file.records.is_empty() && file.failures.is_empty() {
        bail!(
            "the predictions file {} holds no predictions",
            path.display()
        );
    }
    Ok(file)
}

/// A bad row: named by the predictions file and line, since the cover's path may be unknown.
fn row_failure(file: &Path, line: usize, reason: impl std::fmt::Display) -> Failure {
    Failure {
        path: file.to_path_buf(),
        reason: format!("line {line}: {reason}"),
    }
}

/// Parses classify CSV text (see the module docs).
pub fn parse_csv(text: &str, file: &Path) -> Result<PredictionsFile> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .with_context(|| format!("{}: cannot read the CSV header", file.display()))?
        .iter()
        .map(|h| h.trim().to_lowercase())
        .collect();
    if !headers.iter().any(|h| h == "path") {
        bail!("{}: the CSV has no `path` column", file.display());
    }
    let mut out = PredictionsFile::default();
    for (i, row) in reader.records().enumerate() {
        let line = i + 2; // 1-based, after the header
        let fields: HashMap<&str, &str> = match &row {
            Ok(row) => headers.iter().map(String::as_str).zip(row.iter()).collect(),
            Err(e) => {
                out.failures.push(row_failure(file, line, e));
                continue;
            }
        };
        let row = row_from_fields(file, line, |key| {
            fields.get(key).map(|v| v.trim().to_string())
        });
        push(&mut out, row);
    }
    Ok(out)
}

/// Parses classify JSONL text (see the module docs).
pub fn parse_jsonl(text: &str, file: &Path) -> PredictionsFile {
    let mut out = PredictionsFile::default();
    for (i, line_text) in text.lines().enumerate() {
        let line = i + 1;
        if line_text.trim().is_empty() {
            continue;
        }
        let object = match serde_json::from_str::<Value>(line_text) {
            Ok(Value::Object(object)) => object,
            Ok(_) => {
                out.failures
                    .push(row_failure(file, line, "not a JSON object"));
                continue;
            }
            Err(e) => {
                out.failures.push(row_failure(file, line, e));
                continue;
            }
        };
        let row = if let Some(ranking) = object.get("top").or_else(|| object.get("top_k")) {
            row_from_json_ranking(file, line, &object, ranking)
        } else if let Some(Value::Object(map)) = object.get("probabilities") {
            let ranking = Value::Array(
                map.iter()
                    .map(|(genre, p)| Value::Array(vec![Value::String(genre.clone()), p.clone()]))
                    .collect(),
            );
            row_from_json_ranking(file, line, &object, &ranking)
        } else {
            row_from_fields(file, line, |key| json_scalar(object.get(key)))
        };
        push(&mut out, row);
    }
    out
}

fn json_scalar(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// A JSON row whose ranking is a list (or was a probabilities map, made into one).
fn row_from_json_ranking(
    file: &Path,
    line: usize,
    object: &serde_json::Map<String, Value>,
    ranking: &Value,
) -> Result<Record, Failure> {
    let field = |key: &str| json_scalar(object.get(key));
    let path = row_path(file, line, field)?;
    let entries = ranking.as_array().map(Vec::as_slice).unwrap_or_default();
    let parsed: Option<Vec<Ranked>> = entries.iter().map(json_ranked_entry).collect();
    let mut ranked = parsed
        .filter(|r| !r.is_empty())
        .ok_or_else(|| cover_failure(&path, file, line, "cannot read its genre ranking"))?;
    // A probabilities map has no order of its own.
    ranked.sort_by(|a, b| b.probability.total_cmp(&a.probability));
    Ok(record(path, ranked, field))
}

/// One entry of a JSON ranking; its display name is kept when it has one.
fn json_ranked_entry(entry: &Value) -> Option<Ranked> {
    match entry {
        Value::Object(o) => {
            let genre = o.get("genre")?.as_str()?.to_string();
            let p = o.get("probability").or_else(|| o.get("p"))?.as_f64()?;
            let mut ranked = Ranked::from_slug(genre, p as f32);
            if let Some(name) = o.get("name").and_then(Value::as_str) {
                ranked.name = name.to_string();
            }
            Some(ranked)
        }
        Value::Array(pair) if pair.len() == 2 => Some(Ranked::from_slug(
            pair[0].as_str()?.to_string(),
            pair[1].as_f64()? as f32,
        )),
        _ => None,
    }
}

/// One row from named fields: the path, an `error` if any, and the ranking from `top<k>`/`p<k>`
/// or `genre`/`probability`.
fn row_from_fields(
    file: &Path,
    line: usize,
    field: impl Fn(&str) -> Option<String>,
) -> Result<Record, Failure> {
    let path = row_path(file, line, &field)?;
    let ranked = ranked_from_fields(&field).map_err(|r| cover_failure(&path, file, line, r))?;
    Ok(record(path, ranked, field))
}

/// The record of a row: `genre` and `probability` as written (`genre` may be [`UNCERTAIN`]),
/// else the best of the ranking.
fn record(path: PathBuf, top: Vec<Ranked>, field: impl Fn(&str) -> Option<String>) -> Record {
    // Callers never pass an empty ranking; the default only keeps this total.
    let (best, best_p) = top
        .first()
        .map(|r| (r.genre.clone(), r.probability))
        .unwrap_or_default();
    let genre = field("genre").filter(|g| !g.is_empty()).unwrap_or(best);
    let probability = field("probability")
        .and_then(|p| p.parse::<f32>().ok())
        .filter(|p| p.is_finite())
        .unwrap_or(best_p);
    Record {
        path: path.display().to_string(),
        genre,
        probability,
        top,
        cover: None,
        artist: None,
    }
}

/// The cover's path; a row without one, or one classify marked as failed, is a failure.
fn row_path(
    file: &Path,
    line: usize,
    field: impl Fn(&str) -> Option<String>,
) -> Result<PathBuf, Failure> {
    let path = field("path")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| row_failure(file, line, "no path"))?;
    match field("error").filter(|e| !e.is_empty()) {
        Some(reason) => Err(Failure { path, reason }),
        None => Ok(path),
    }
}

/// A row that names its cover but cannot be used: the cover, and where in the file.
fn cover_failure(path: &Path, file: &Path, line: usize, reason: impl std::fmt::Display) -> Failure {
    Failure {
        path: path.to_path_buf(),
        reason: format!("{} line {line}: {reason}", file.display()),
    }
}

fn push(out: &mut PredictionsFile, row: Result<Record, Failure>) {
    match row {
        Ok(record) => out.records.push(record),
        Err(failure) => out.failures.push(failure),
    }
}

fn ranked_from_fields(field: &impl Fn(&str) -> Option<String>) -> Result<Vec<Ranked>, String> {
    let mut ranked = Vec::new();
    for k in 1.. {
        let Some(genre) = field(&format!("top{k}")).filter(|g| !g.is_empty()) else {
            break;
        };
        let p = parse_probability(field(&format!("p{k}")), &format!("p{k}"))?;
        ranked.push(Ranked::from_slug(genre, p));
    }
    if ranked.is_empty() {
        match field("genre").filter(|g| !g.is_empty()) {
            Some(genre) if genre == UNCERTAIN => {
                return Err(format!(
                    "the genre is `{UNCERTAIN}` and there are no top-k columns to say what it was"
                ))
            }
            Some(genre) => ranked.push(Ranked::from_slug(
                genre,
                parse_probability(field("probability"), "probability")?,
            )),
            None => return Err("no genre".into()),
        }
    }
    Ok(ranked)
}

fn parse_probability(value: Option<String>, name: &str) -> Result<f32, String> {
    let value = value.ok_or_else(|| format!("no {name}"))?;
    value
        .parse::<f32>()
        .ok()
        .filter(|p| p.is_finite())
        .ok_or_else(|| format!("{name} {value:?} is not a number"))
}

/// Where the true genre of each cover comes from.
#[derive(Debug, Clone)]
pub enum Labels {
    /// A dataset's labels, by path (as written, or canonicalised when the file exists).
    Paths(HashMap<PathBuf, String>),
    /// The cover's parent folder is its genre (`<genre>/<file>`).
    ParentFolder,
}

impl Labels {
    /// The labels of the given samples of a dataset.
    pub fn from_dataset<'a>(
        dataset: &Dataset,
        samples: impl IntoIterator<Item = &'a crate::data::Sample>,
    ) -> Self {
        let mut by_path = HashMap::new();
        for sample in samples {
            if let Some(genre) = dataset.genres.get(sample.label) {
                by_path.insert(canonical(&sample.path), genre.slug.clone());
                by_path.insert(sample.path.clone(), genre.slug.clone());
            }
        }
        Labels::Paths(by_path)
    }

    /// The true genre name of a cover, if known.
    pub fn of(&self, path: &Path) -> Option<String> {
        match self {
            Labels::Paths(by_path) => by_path
                .get(path)
                .or_else(|| by_path.get(&canonical(path)))
                .cloned(),
            Labels::ParentFolder => path
                .parent()
                .and_then(Path::file_name)
                .map(|name| name.to_string_lossy().into_owned()),
        }
    }
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// MUMU names and slug variants become MUMU slugs; other names stay as written.
fn canonical_genre(name: &str) -> String {
    let mumu = GenreSet::mumu();
    mumu.index_of(name)
        .and_then(|i| mumu.get(i))
        .map_or_else(|| name.to_string(), |g| g.slug.clone())
}

/// The genres to report when no model says: every genre seen as a truth or in a ranking,
/// widened to all of MUMU when they are MUMU genres (as a MUMU model would list them).
pub fn genres_seen(file: &PredictionsFile, labels: &Labels) -> GenreSet {
    let mut names = BTreeSet::new();
    for record in &file.records {
        names.extend(record.top.iter().map(|r| canonical_genre(&r.genre)));
        if let Some(truth) = labels.of(Path::new(&record.path)) {
            names.insert(canonical_genre(&truth));
        }
    }
    GenreSet::from_folder_names(names).widened_to_mumu()
}

/// Evaluates read-back predictions against labels. `genres` are the model's when known;
/// otherwise [`genres_seen`]. Covers without a label, or naming a genre outside `genres`, are
/// listed as failures.
pub fn evaluate_predictions(
    file: PredictionsFile,
    labels: &Labels,
    genres: &GenreSet,
    keep_errors: usize,
    described: Described,
) -> EvalReport {
    let mut tally = Tally::new(genres.len(), keep_errors);
    let mut failures = file.failures;
    for record in file.records {
        match label_and_rank(&record, labels, genres) {
            Ok((truth, ranked)) => tally.add(Path::new(&record.path), truth, &ranked),
            Err(reason) => failures.push(Failure {
                path: record.path.into(),
                reason,
            }),
        }
    }
    EvalReport::from_tally(described.model, described.covers, genres, &tally, failures)
}

fn label_and_rank(
    record: &Record,
    labels: &Labels,
    genres: &GenreSet,
) -> Result<(usize, Vec<(usize, f32)>), String> {
    let truth_name = labels
        .of(Path::new(&record.path))
        .ok_or("no label for this cover (it is not in the labelled data)")?;
    let truth = genres
        .index_of(&truth_name)
        .ok_or_else(|| format!("its true genre {truth_name:?} is not one of the model's genres"))?;
    let ranked = record
        .top
        .iter()
        .map(
            |Ranked {
                 genre, probability, ..
             }| {
                genres
                    .index_of(genre)
                    .map(|g| (g, *probability))
                    .ok_or_else(|| {
                        format!("predicted genre {genre:?} is not one of the known genres")
                    })
            },
        )
        .collect::<Result<Vec<_>, _>>()?;
    Ok((truth, ranked))
}
