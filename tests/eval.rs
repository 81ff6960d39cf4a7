//! covergenre-eval: report formats, the CI gate, the heatmap, predictions files, evaluation
//! through the shared pipeline, and eval against classify-style output on the same covers.

mod common;

use common::classify_output::HAND_WRITTEN_CSV;
use covergenre::covers::{Source, SourceKind};
use covergenre::data::Sample;
use covergenre::evaluate::predictions::{self, Labels, PredictionsFile, Ranked, Record};
use covergenre::evaluate::{evaluate_samples, map_labels, Described, EvalSettings};
use covergenre::failure::Failure as Skipped;
use covergenre::genres::GenreSet;
use covergenre::infer::pipeline::{Decoder, PipelineOptions, Predictor};
use covergenre::metrics::Tally;
use covergenre::report::formats::{self, Format};
use covergenre::report::{plot, EvalReport};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn described(model: &str) -> Described {
    Described {
        model: model.into(),
        covers: "covers (test)".into(),
    }
}

/// Hand-worked: genres jazz, metal, folk; folk has no covers, metal is never predicted.
/// truth:     jazz jazz jazz metal metal
/// predicted: jazz jazz folk jazz  jazz
/// accuracy 2/5; jazz P 1/2 R 2/3 F1 4/7; macro-F1 over jazz+metal = 2/7; weighted 12/35.
fn hand_worked_report(model: &str) -> EvalReport {
    let genres = GenreSet::from_slugs(["jazz", "metal", "folk"].map(String::from));
    let mut tally = Tally::new(3, 2);
    let covers: [(&str, usize, [f32; 3]); 5] = [
        ("a.jpg", 0, [0.8, 0.1, 0.1]),
        ("b.jpg", 0, [0.6, 0.3, 0.1]),
        ("c.jpg", 0, [0.2, 0.1, 0.7]),
        ("d.jpg", 1, [0.9, 0.05, 0.05]),
        ("e.jpg", 1, [0.5, 0.2, 0.3]),
    ];
    for (path, truth, probabilities) in covers {
        tally.add_probabilities(Path::new(path), truth, &probabilities);
    }
    let d = described(model);
    EvalReport::from_tally(d.model, d.covers, &genres, &tally, vec![])
}

#[test]
fn json_holds_every_number_under_stable_keys() {
    let text = formats::render(&[hand_worked_report("m.onnx")], Format::Json).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["genres"], serde_json::json!(["jazz", "metal", "folk"]));
    assert_eq!(
        json["confusion"],
        serde_json::json!([[2, 0, 1], [2, 0, 0], [0, 0, 0]])
    );
    assert!(close(json["accuracy"].as_f64().unwrap(), 0.4));
    assert!(close(json["macro_f1"].as_f64().unwrap(), 2.0 / 7.0));
    assert!(close(
        json["balanced_accuracy"].as_f64().unwrap(),
        1.0 / 3.0
    ));
    assert!(close(json["weighted_f1"].as_f64().unwrap(), 12.0 / 35.0));
    assert!(close(json["top3_accuracy"].as_f64().unwrap(), 1.0));
    assert!(close(json["baseline"]["accuracy"].as_f64().unwrap(), 0.6));
    assert_eq!(json["baseline"]["genre"], "jazz");
    assert_eq!(json["per_genre"][0]["support"], 3);
    assert!(close(
        json["per_genre"][0]["f1"].as_f64().unwrap(),
        4.0 / 7.0
    ));
    assert_eq!(json["per_genre"][2]["in_macro_average"], false);
    assert_eq!(json["absent_genres"], serde_json::json!(["folk"]));
    assert_eq!(json["never_predicted"], serde_json::json!(["metal"]));
    assert_eq!(json["errors"][0]["path"], "d.jpg");
    // The JSON reads back into the same report, less the per-cover outcomes (kept in memory
    // for paired comparisons, not written).
    let back: EvalReport = serde_json::from_str(&text).unwrap();
    let mut expected = hand_worked_report("m.onnx");
    assert_eq!(expected.outcomes.len(), 5);
    expected.outcomes.clear();
    assert_eq!(back, expected);
}

#[test]
fn csv_has_one_number_per_row_and_parses_back() {
    let text = formats::render(&[hand_worked_report("m.onnx")], Format::Csv).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap(),
        vec!["model", "scope", "metric", "value"]
    );
    let rows: Vec<[String; 4]> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            std::array::from_fn(|i| r[i].to_string())
        })
        .collect();
    let value = |scope: &str, metric: &str| -> f64 {
        let row = rows.iter().find(|r| r[1] == scope && r[2] == metric);
        row.unwrap_or_else(|| panic!("no row {scope},{metric}"))[3]
            .parse()
            .unwrap()
    };
    assert!(close(value("overall", "macro_f1"), 2.0 / 7.0));
    assert!(close(value("baseline", "weighted_f1"), 0.45));
    assert!(close(value("jazz", "precision"), 0.5));
    assert_eq!(value("confusion:jazz", "folk"), 1.0);
    assert_eq!(value("confusion:metal", "jazz"), 2.0);
    // 2 x (total + 5 metrics) + baseline genre + 3 genres x 5 + 3 intervals x 3 + ECE
    // + 7 thresholds x 3 + 9 confusion cells.
    assert_eq!(rows.len(), 12 + 1 + 15 + 9 + 1 + 21 + 9);
}

#[test]
fn table_and_markdown_show_names_on_both_axes_and_the_notes() {
    let report = hand_worked_report("m.onnx");
    let table = formats::render(std::slice::from_ref(&report), Format::Table).unwrap();
    assert!(
        table.contains("│ true \\ predicted │ Jazz │ Metal │ Folk │"),
        "{table}"
    );
    assert!(
        table.contains("│ Metal            │    2 │     0 │    0 │"),
        "{table}"
    );
    assert!(table.contains("Folk (no covers)"));
    assert!(table.contains("No covers of Folk here: shown, but left out of macro-F1"));
    assert!(table.contains("Never predicted: Metal"));
    assert!(table.contains("most frequent genre of these covers (Jazz, 3 of 5)"));
    assert!(
        table.contains("│ macro_f1          │ 0.2857 │            0.3750 │"),
        "{table}"
    );
    assert!(table.contains("d.jpg") && table.contains("0.9000"));

    let markdown = formats::render(&[report], Format::Markdown).unwrap();
    assert!(
        markdown.contains("| macro_f1 | 0.2857 | 0.3750 |"),
        "{markdown}"
    );
    assert!(markdown.contains("| Metal | 2 | 0 | 0 |"));
    assert!(markdown.contains("|---|---:|---:|---:|"));
    assert!(markdown.contains("> No covers of Folk here"));
}

#[test]
fn several_models_sit_side_by_side() {
    let reports = [hand_worked_report("a.onnx"), hand_worked_report("b.onnx")];
    let json: Value =
        serde_json::from_str(&formats::render(&reports, Format::Json).unwrap()).unwrap();
    assert_eq!(json["models"].as_array().unwrap().len(), 2);
    assert_eq!(json["models"][1]["model"], "b.onnx");
    let table = formats::render(&reports, Format::Table).unwrap();
    assert!(
        table.contains("│ Metric            │ a      │ b      │ Majority baseline │"),
        "{table}"
    );
    assert!(table.contains("F1 a") && table.contains("F1 b"));
    let csv = formats::render(&reports, Format::Csv).unwrap();
    assert!(
        csv.contains("a.onnx,overall,accuracy,0.4") && csv.contains("b.onnx,overall,accuracy,0.4")
    );
}

#[test]
fn heatmap_is_a_png_of_the_expected_size_shaded_by_row_share() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plots/confusion.png");
    plot::write_heatmap(&hand_worked_report("m.onnx"), &path).unwrap();
    assert_eq!(
        image::ImageFormat::from_path(&path).unwrap(),
        image::ImageFormat::Png
    );
    let image = image::open(&path).unwrap().to_rgb8();
    assert_eq!(image.dimensions(), plot::heatmap_size(3));
    // Sample just inside each cell's corner (away from its text).
    let pixel = |row, column| {
        let (x, y) = plot::cell_origin(row, column);
        image.get_pixel(x as u32 + 4, y as u32 + 4).0
    };
    let darkness = |p: [u8; 3]| 765 - p.iter().map(|&c| u32::from(c)).sum::<u32>();
    assert_eq!(pixel(1, 1), [255, 255, 255], "an empty cell is white");
    // Metal -> Jazz holds 100% of its row, Jazz -> Jazz 67%, Jazz -> Folk 33%.
    assert!(darkness(pixel(1, 0)) > darkness(pixel(0, 0)));
    assert!(darkness(pixel(0, 0)) > darkness(pixel(0, 2)));
    assert!(darkness(pixel(0, 2)) > 0);
    // Text was drawn: the title area is not blank.
    let title_ink = (0..image.width())
        .filter(|&x| image.get_pixel(x, 24).0 != [255, 255, 255])
        .count();
    assert!(title_ink > 20, "the title should be rendered");
}

// --- Predictions files ---------------------------------------------------------------------

/// One genre of a read-back ranking.
fn ranked(genre: &str, probability: f32) -> Ranked {
    Ranked::from_slug(genre.into(), probability)
}

#[test]
fn classify_csv_reads_back_with_bad_rows_named() {
    let file = predictions::parse_csv(HAND_WRITTEN_CSV, Path::new("p.csv")).unwrap();
    assert_eq!(file.records.len(), 3);
    // Under --min-confidence the genre column says "uncertain"; the ranking still knows.
    assert_eq!(file.records[1].top[0], ranked("jazz", 0.4));
    assert_eq!(file.records[1].top.len(), 3);
    assert_eq!(file.failures.len(), 2);
    assert_eq!(file.failures[0].path, PathBuf::from("covers/jazz/bad.jpg"));
    assert!(
        file.failures[0].reason.contains("line 5: no genre"),
        "{:?}",
        file.failures
    );
    assert!(file.failures[1]
        .reason
        .contains("p1 \"lots\" is not a number"));
}

#[test]
fn classify_jsonl_reads_back_in_each_shape() {
    let text = r#"{"path":"covers/jazz/a.jpg","genre":"jazz","probability":0.8,"top":[{"genre":"jazz","probability":0.8},{"genre":"metal","probability":0.2}]}
{"path":"covers/metal/b.jpg","top":[["metal",0.7],["jazz",0.3]]}
{"path":"covers/metal/c.jpg","top1":"jazz","p1":0.6,"top2":"metal","p2":0.4}
{"path":"covers/jazz/e.jpg","probabilities":{"metal":0.1,"jazz":0.9}}
{"path":"covers/jazz/broken.jpg","error":"truncated JPEG"}
not json

"#;
    let file = predictions::parse_jsonl(text, Path::new("p.jsonl"));
    let firsts: Vec<&str> = file
        .records
        .iter()
        .map(|r| r.top[0].genre.as_str())
        .collect();
    assert_eq!(firsts, ["jazz", "metal", "jazz", "jazz"]);
    assert_eq!(
        file.records[3].top,
        vec![ranked("jazz", 0.9), ranked("metal", 0.1)]
    );
    assert_eq!(
        file.failures[0],
        Skipped {
            path: "covers/jazz/broken.jpg".into(),
            reason: "truncated JPEG".into()
        }
    );
    assert!(
        file.failures[1].reason.starts_with("line 6:"),
        "{:?}",
        file.failures
    );
    assert_eq!(file.failures.len(), 2);
}

#[test]
fn predictions_are_scored_against_folder_labels() {
    let file = predictions::parse_csv(HAND_WRITTEN_CSV, Path::new("p.csv")).unwrap();
    let genres = predictions::genres_seen(&file, &Labels::ParentFolder);
    // jazz, metal and folk are MUMU genres: the report lists all twelve, like a MUMU model.
    assert_eq!(genres.len(), 12);
    let report = predictions::evaluate_predictions(
        file,
        &Labels::ParentFolder,
        &genres,
        5,
        described("p.csv"),
    );
    // a: jazz->jazz, b: metal->jazz, c: metal->metal.
    assert_eq!(report.total, 3);
    assert!(close(report.summary.accuracy, 2.0 / 3.0));
    assert!(close(report.summary.balanced_accuracy, 0.75)); // (1 + 1/2) / 2
    assert_eq!(report.summary.top3_accuracy, Some(1.0));
    assert_eq!(report.failures.len(), 2);
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].truth, "metal");
    assert_eq!(report.absent_genres.len(), 10);
}

#[test]
fn predictions_outside_the_labelled_data_are_failures_not_guesses() {
    let file = PredictionsFile {
        records: vec![Record {
            path: "x/unknown.jpg".into(),
            genre: "jazz".into(),
            probability: 1.0,
            top: vec![ranked("jazz", 1.0)],
            cover: None,
            artist: None,
        }],
        failures: vec![],
    };
    let labels = Labels::Paths(Default::default());
    let genres = GenreSet::from_slugs(["jazz".to_string()]);
    let report = predictions::evaluate_predictions(file, &labels, &genres, 0, described("p.csv"));
    assert_eq!(report.total, 0);
    assert!(report.failures[0].reason.contains("no label"));
}

// --- Through the shared pipeline ------------------------------------------------------------

/// Each test "image" is a one-byte file holding the genre the fake model will answer; a file
/// whose byte is not a digit cannot be decoded.
struct ByteDecoder;

impl Decoder for ByteDecoder {
    type Source = Source;
    fn image_len(&self) -> usize {
        1
    }
    fn decode(&self, source: &mut Source) -> Result<Vec<u8>, String> {
        let SourceKind::File(path) = &source.kind else {
            return Err("not a file".into());
        };
        let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
        match bytes.as_slice() {
            [b @ b'0'..=b'9'] => Ok(vec![b - b'0']),
            _ => Err("not a test image".into()),
        }
    }
}

/// Puts 0.7 on the genre in the image, the rest spread evenly.
struct ByteModel {
    classes: usize,
}

impl Predictor for ByteModel {
    fn classes(&self) -> usize {
        self.classes
    }
    fn predict(&mut self, images: &[u8], n: usize) -> anyhow::Result<ndarray::Array2<f32>> {
        let rest = 0.3 / (self.classes - 1) as f32;
        Ok(ndarray::Array2::from_shape_fn(
            (n, self.classes),
            |(i, c)| if c == images[i] as usize { 0.7 } else { rest },
        ))
    }
}

/// Writes covers under `<dir>/<genre>/<i>.img`; `answers[i]` is what the fake model will say.
fn byte_covers(dir: &Path, data: &GenreSet, covers: &[(usize, &[u8])]) -> Vec<Sample> {
    covers
        .iter()
        .enumerate()
        .map(|(i, &(label, content))| {
            let path = dir
                .join(&data.get(label).unwrap().slug)
                .join(format!("{i}.img"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, content).unwrap();
            Sample { path, label }
        })
        .collect()
}

fn settings() -> EvalSettings {
    EvalSettings {
        pipeline: PipelineOptions {
            threads: 2,
            batch_size: 3,
            ..PipelineOptions::default()
        },
        keep_errors: 3,
    }
}

#[test]
fn pipeline_evaluation_maps_genres_by_slug_and_lists_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    // The data lists its genres in another order than the model, and lacks "folk".
    let data = GenreSet::from_slugs(["metal", "jazz"].map(String::from));
    let model = GenreSet::from_slugs(["jazz", "folk", "metal"].map(String::from));
    // Answers are model indices: 0 jazz, 2 metal.
    let covers: &[(usize, &[u8])] = &[
        (0, b"2"),
        (0, b"2"),
        (0, b"0"),
        (1, b"0"),
        (1, b"0"),
        (1, b"garbage"),
    ];
    let samples = byte_covers(dir.path(), &data, covers);
    let report = evaluate_samples(
        &samples,
        &data,
        &model,
        &ByteDecoder,
        ByteModel { classes: 3 },
        &settings(),
        described("fake.onnx"),
    )
    .unwrap();
    assert_eq!(report.genres, ["jazz", "folk", "metal"]);
    // Rows: jazz (2 right), folk (none), metal (2 right, 1 called jazz).
    assert_eq!(
        report.confusion,
        vec![vec![2, 0, 0], vec![0, 0, 0], vec![1, 0, 2]]
    );
    assert_eq!(report.absent_genres, ["folk"]);
    assert_eq!(report.failures.len(), 1);
    assert!(report.failures[0].path.ends_with("5.img"));
    assert_eq!(report.failures[0].reason, "not a test image");
    assert!(close(report.summary.accuracy, 0.8));
    assert!(close(
        report.summary.balanced_accuracy,
        (1.0 + 2.0 / 3.0) / 2.0
    ));
    assert_eq!(report.errors.len(), 1);
    assert_eq!(
        (
            report.errors[0].truth.as_str(),
            report.errors[0].predicted.as_str()
        ),
        ("metal", "jazz")
    );
}

#[test]
fn data_genres_the_model_lacks_are_a_clear_error() {
    let data = GenreSet::from_slugs(["jazz", "polka"].map(String::from));
    let model = GenreSet::from_slugs(["jazz", "metal"].map(String::from));
    let err = map_labels(&data, &model).unwrap_err().to_string();
    assert!(err.contains("the model does not know: polka"), "{err}");
    assert!(err.contains("jazz, metal"));
}

/// Writes what classify writes for each outcome (HAND_WRITTEN_CSV, top-3), then evaluates that file: the
/// numbers must equal those of evaluating through the pipeline directly.
#[test]
fn eval_numbers_equal_those_from_a_classify_csv_of_the_same_covers() {
    let dir = tempfile::tempdir().unwrap();
    let genres = GenreSet::from_slugs(["jazz", "metal", "reggae", "country"].map(String::from));
    let covers: &[(usize, &[u8])] = &[
        (0, b"0"),
        (0, b"1"),
        (1, b"1"),
        (1, b"3"),
        (2, b"2"),
        (2, b"0"),
        (3, b"3"),
    ];
    let samples = byte_covers(dir.path(), &genres, covers);
    let direct = evaluate_samples(
        &samples,
        &genres,
        &genres,
        &ByteDecoder,
        ByteModel { classes: 4 },
        &settings(),
        described("m.onnx"),
    )
    .unwrap();

    let mut csv = String::from("path,genre,probability,top1,p1,top2,p2,top3,p3\n");
    let mut model = ByteModel { classes: 4 };
    for sample in &samples {
        let image = ByteDecoder
            .decode(&mut Source::file(sample.path.clone()))
            .unwrap();
        let probabilities = model.predict(&image, 1).unwrap().row(0).to_vec();
        let top = covergenre::metrics::top_k(&probabilities, 3);
        let slug = |i: usize| genres.get(i).unwrap().slug.clone();
        let ranked: Vec<String> = top
            .iter()
            .map(|&g| format!("{},{}", slug(g), probabilities[g]))
            .collect();
        csv += &format!(
            "{},{},{},{}\n",
            sample.path.display(),
            slug(top[0]),
            probabilities[top[0]],
            ranked.join(",")
        );
    }
    let file = predictions::parse_csv(&csv, Path::new("p.csv")).unwrap();
    let labels = Labels::ParentFolder;
    let from_file =
        predictions::evaluate_predictions(file, &labels, &genres, 3, described("m.onnx"));
    assert_eq!(from_file.confusion, direct.confusion);
    assert_eq!(from_file.summary, direct.summary);
    assert_eq!(from_file.per_genre, direct.per_genre);
    assert_eq!(from_file.baseline, direct.baseline);
}

// --- The binary ---------------------------------------------------------------------------
