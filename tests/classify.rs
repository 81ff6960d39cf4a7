//! covergenre-classify end to end: a real ONNX model whose hand-set weights make the dominant
//! colour decide the genre, made-up covers in nested folders, a fake music library (cover files,
//! art embedded in hand-written FLAC and MP3 tags, an album with none), every kind of bad input,
//! each output format read back, and the exit codes.

mod common;

use common::classify_output::genres_by_name;
use common::classify_output::{parse_csv, parse_jsonl};
use common::colour::{cover, save_cover, ColourFixture as Fixture};
use common::{put, text};
use covergenre::genres::GenreSet;
use covergenre::report::classify::{Record, UNCERTAIN};
use image::{Rgb, RgbImage};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn nested_covers(fx: &Fixture) -> PathBuf {
    let root = fx.path("covers");
    save_cover(&root.join("rock/80s/a-red.png"), 0);
    save_cover(&root.join("rock/80s/deeper/b-green.JPG"), 1);
    save_cover(&root.join("c-blue.JpEg"), 2);
    save_cover(&root.join("jazz/d-red.webp"), 0);
    save_cover(&root.join("jazz/e-blue.bmp"), 2);
    std::fs::write(root.join("jazz/notes.txt"), "not a cover").unwrap();
    save_cover(&root.join("jazz/.hidden-green.png"), 1);
    root
}

#[test]
fn nested_covers_get_the_genre_of_their_colour() {
    let fx = Fixture::new();
    let root = nested_covers(&fx);
    let out = fx.classify(&["--format", "csv", root.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let records = parse_csv(out.stdout.as_slice()).unwrap();
    let expected: BTreeMap<String, String> = [
        ("a-red.png", "red"),
        ("b-green.JPG", "green"),
        ("c-blue.JpEg", "blue"),
        ("d-red.webp", "red"),
        ("e-blue.bmp", "blue"),
    ]
    .map(|(n, g)| (n.to_string(), g.to_string()))
    .into();
    assert_eq!(
        genres_by_name(&records),
        expected,
        "hidden and non-image files are left out"
    );
    assert!(records
        .iter()
        .all(|r| r.probability > 0.9 && r.top.len() == 3));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("classified 5 cover(s), 0 failed"),
        "{stderr}"
    );
    assert!(stderr.contains("images/s"), "{stderr}");
}

#[test]
fn every_output_format_parses_back_to_the_same_results() {
    let fx = Fixture::new();
    let root = nested_covers(&fx);
    let run = |format: &str| {
        let out = fx.classify(&["--format", format, "--top-k", "2", root.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{format}: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    };
    let csv = parse_csv(run("csv").as_bytes()).unwrap();
    assert!(run("csv").starts_with("path,genre,probability,top1,p1,top2,p2\n"));
    let jsonl = parse_jsonl(run("jsonl").as_bytes()).unwrap();
    let json: serde_json::Value = serde_json::from_str(&run("json")).unwrap();
    let from_json: Vec<Record> = serde_json::from_value(json["results"].clone()).unwrap();
    assert_eq!(csv.len(), 5);
    assert_eq!(csv, jsonl);
    assert_eq!(csv, from_json);
    assert_eq!(json["summary"]["classified"], 5);
    assert_eq!(json["summary"]["genres"]["red"], 2);
    let table = run("table");
    for record in &csv {
        assert!(table.contains(&record.path), "{table}");
    }
}

#[test]
fn output_file_is_written_whole_and_stdout_stays_empty() {
    let fx = Fixture::new();
    let root = nested_covers(&fx);
    let target = fx.path("results/out.jsonl");
    let out = fx.classify(&[
        "--format",
        "jsonl",
        "--output",
        target.to_str().unwrap(),
        root.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    let records = parse_jsonl(std::fs::read(&target).unwrap().as_slice()).unwrap();
    assert_eq!(records.len(), 5);
    let leftovers = std::fs::read_dir(target.parent().unwrap()).unwrap().count();
    assert_eq!(leftovers, 1, "no temporary file left beside the output");
}

#[test]
fn weak_guesses_are_uncertain_under_min_confidence() {
    let fx = Fixture::new();
    let grey = fx.path("grey.png");
    common::write_image(&grey, &RgbImage::from_pixel(32, 32, Rgb([120, 120, 120])));
    let red = fx.path("red.png");
    save_cover(&red, 0);
    let out = fx.classify(&[
        "--format",
        "csv",
        "--min-confidence",
        "0.5",
        grey.to_str().unwrap(),
        red.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let records = parse_csv(out.stdout.as_slice()).unwrap();
    assert_eq!(records[0].genre, UNCERTAIN);
    assert!((records[0].probability - 1.0 / 3.0).abs() < 0.01);
    assert_eq!(records[1].genre, "red");
}

/// Writes each kind of bad input into `dir`; returns (file name, expected words in the reason).
fn bad_inputs(dir: &Path) -> Vec<(&'static str, &'static str)> {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("empty.jpg"), b"").unwrap();
    let mut jpeg = Vec::new();
    cover(0, 64)
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    std::fs::write(dir.join("truncated.jpg"), &jpeg[..jpeg.len() / 3]).unwrap();
    std::fs::write(dir.join("text.jpg"), "this is not a picture\n").unwrap();
    std::fs::write(dir.join("huge.bmp"), huge_bmp_header(30_000, 30_000)).unwrap();
    std::os::unix::fs::symlink(dir.join("gone.png"), dir.join("dangling.png")).unwrap();
    std::fs::create_dir(dir.join("folder.jpg")).unwrap();
    vec![
        ("empty.jpg", "empty"),
        ("truncated.jpg", "truncated"),
        ("text.jpg", "not an image"),
        ("huge.bmp", "pixel"),
        ("dangling.png", "cannot read"),
        ("folder.jpg", "directory"),
    ]
}

/// A BMP header announcing width x height 24-bit pixels, with no pixel data behind it.
fn huge_bmp_header(width: u32, height: u32) -> Vec<u8> {
    let mut bmp = Vec::new();
    bmp.extend_from_slice(b"BM");
    bmp.extend_from_slice(&(54 + width * 3 * height).to_le_bytes()); // claimed file size
    bmp.extend_from_slice(&[0; 4]);
    bmp.extend_from_slice(&54u32.to_le_bytes()); // pixel data offset
    bmp.extend_from_slice(&40u32.to_le_bytes()); // BITMAPINFOHEADER
    bmp.extend_from_slice(&width.to_le_bytes());
    bmp.extend_from_slice(&height.to_le_bytes());
    bmp.extend_from_slice(&1u16.to_le_bytes()); // planes
    bmp.extend_from_slice(&24u16.to_le_bytes()); // bits per pixel
    bmp.extend_from_slice(&[0; 24]); // no compression, sizes and palette left at 0
    bmp
}

#[test]
fn bad_files_are_reported_with_path_and_reason_and_the_rest_classified() {
    let fx = Fixture::new();
    let dir = fx.path("mixed");
    let bad = bad_inputs(&dir);
    save_cover(&dir.join("good-green.png"), 1);
    save_cover(&dir.join("zz-good-blue.png"), 2);
    let out = fx.classify(&["--format", "csv", dir.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    for (name, reason) in &bad {
        let line = stderr
            .lines()
            .find(|l| l.contains(&dir.join(name).display().to_string()))
            .unwrap_or_else(|| panic!("no message for {name} in:\n{stderr}"));
        assert!(line.to_lowercase().contains(reason), "{name}: {line}");
    }
    assert!(
        stderr.contains(&format!("{} failed", bad.len())),
        "{stderr}"
    );
    let records = parse_csv(out.stdout.as_slice()).unwrap();
    let expected: BTreeMap<String, String> =
        [("good-green.png", "green"), ("zz-good-blue.png", "blue")]
            .map(|(n, g)| (n.to_string(), g.to_string()))
            .into();
    assert_eq!(genres_by_name(&records), expected);
}

#[test]
fn strict_stops_at_the_first_bad_file() {
    let fx = Fixture::new();
    let dir = fx.path("strict");
    save_cover(&dir.join("a-red.png"), 0);
    std::fs::write(dir.join("b-empty.jpg"), b"").unwrap();
    save_cover(&dir.join("c-blue.png"), 2);
    let out = fx.classify(&["--strict", "--format", "csv", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let records = parse_csv(out.stdout.as_slice()).unwrap();
    assert_eq!(
        genres_by_name(&records).into_keys().collect::<Vec<_>>(),
        ["a-red.png"]
    );
    assert!(text(&out.stderr).contains("--strict"));
}

#[test]
fn a_symlink_loop_is_reported_and_the_walk_goes_on() {
    let fx = Fixture::new();
    let root = fx.path("loop");
    save_cover(&root.join("inner/red.png"), 0);
    std::os::unix::fs::symlink(&root, root.join("inner/back-to-root")).unwrap();
    let out = fx.classify(&["--format", "jsonl", root.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("symlink loop"), "{stderr}");
    let records = parse_jsonl(out.stdout.as_slice()).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].genre, "red");
}

#[test]
fn fatal_problems_exit_2_with_a_clear_message() {
    let fx = Fixture::new();
    save_cover(&fx.path("red.png"), 0);
    let image = fx.path("red.png");
    let missing = Command::new(env!("CARGO_BIN_EXE_covergenre-classify"))
        .args([
            "--model",
            "/nonexistent/model.onnx",
            image.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("/nonexistent/model.onnx"));
    let not_a_model = fx.path("notes.onnx");
    std::fs::write(&not_a_model, "hello").unwrap();
    let garbage = Command::new(env!("CARGO_BIN_EXE_covergenre-classify"))
        .arg("--model")
        .arg(&not_a_model)
        .arg(&image)
        .output()
        .unwrap();
    assert_eq!(garbage.status.code(), Some(2));
    assert!(text(&garbage.stderr).contains("notes.onnx"));
    let bad_arg = fx.classify(&["--min-confidence", "1.5", image.to_str().unwrap()]);
    assert_eq!(bad_arg.status.code(), Some(2));
    assert!(text(&bad_arg.stderr).contains("between 0 and 1"));
    let unwritable = fx.classify(&[
        "--output",
        "/proc/no-such-dir/out.csv",
        image.to_str().unwrap(),
    ]);
    assert_eq!(unwritable.status.code(), Some(2));
}

#[test]
fn a_missing_onnxruntime_library_names_the_fix_and_does_not_panic() {
    let fx = Fixture::new();
    save_cover(&fx.path("red.png"), 0);
    let output = Command::new(env!("CARGO_BIN_EXE_covergenre-classify"))
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .arg("--model")
        .arg(&fx.model)
        .arg(fx.path("red.png"))
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("ORT_DYLIB_PATH") && stderr.contains("scripts/setup.sh"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Big JPEG covers (600 px, decoded at reduced size where libjpeg-turbo is found) get the genre
/// of their colour; where the library is missing, they still do, after one message naming
/// the fix.
#[test]
fn big_jpegs_classify_with_or_without_libjpeg_turbo() {
    let fx = Fixture::new();
    for (name, colour) in [
        ("red.jpg", 0),
        ("green.jpg", 1),
        ("blue.jpg", 2),
        ("red2.jpg", 0),
    ] {
        common::write_image(&fx.path(&format!("big/{name}")), &cover(colour, 600));
    }
    let expected: BTreeMap<String, String> = [
        ("blue.jpg", "blue"),
        ("green.jpg", "green"),
        ("red.jpg", "red"),
        ("red2.jpg", "red"),
    ]
    .map(|(n, g)| (n.to_string(), g.to_string()))
    .into();
    let big = fx.path("big");
    let args = ["--format", "jsonl", big.to_str().unwrap()];
    let with_library = fx.classify(&args);
    assert_eq!(
        with_library.status.code(),
        Some(0),
        "{}",
        text(&with_library.stderr)
    );
    let records = parse_jsonl(with_library.stdout.as_slice()).unwrap();
    assert_eq!(genres_by_name(&records), expected);

    let without = Command::new(env!("CARGO_BIN_EXE_covergenre-classify"))
        .env("COVERGENRE_TURBOJPEG", "/nonexistent/libturbojpeg.so.0")
        .arg("--model")
        .arg(&fx.model)
        .args(["--threads", "2", "--batch-size", "2"])
        .args(args)
        .output()
        .unwrap();
    let stderr = text(&without.stderr);
    assert_eq!(without.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr.matches("TurboJPEG library was not found").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("scripts/setup.sh --classify"), "{stderr}");
    let records = parse_jsonl(without.stdout.as_slice()).unwrap();
    assert_eq!(genres_by_name(&records), expected);
}

#[test]
fn the_built_in_model_works_without_model_flag() {
    let fx = Fixture::new();
    let image = fx.path("cover.png");
    save_cover(&image, 2);
    let out = Command::new(env!("CARGO_BIN_EXE_covergenre-classify"))
        .args(["--format", "jsonl", image.to_str().unwrap()])
        .current_dir(fx.dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let records = parse_jsonl(out.stdout.as_slice()).unwrap();
    assert_eq!(records.len(), 1);
    let sum: f32 = records[0].top.iter().map(|r| r.probability).sum();
    assert!(sum > 0.0 && sum <= 1.0001);
    assert!(
        GenreSet::mumu().index_of(&records[0].genre).is_some(),
        "{:?}",
        records[0]
    );
}

#[test]
fn help_shows_examples_and_exit_codes() {
    let out = Command::new(env!("CARGO_BIN_EXE_covergenre-classify"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    assert!(
        help.contains("EXAMPLES:") && help.contains("EXIT CODES:"),
        "{help}"
    );
}

// ---- sharding and leftovers ----

/// Sorted CSV rows (without the header) of a run.
fn csv_rows(out: &Output) -> Vec<String> {
    let mut rows: Vec<String> = text(&out.stdout)
        .lines()
        .skip(1)
        .map(String::from)
        .collect();
    rows.sort();
    rows
}

#[test]
fn shard_outputs_concatenate_to_exactly_the_unsharded_rows() {
    let fx = Fixture::new();
    let root = fx.path("many");
    for i in 0..23 {
        save_cover(
            &root.join(format!("group-{}/album-{i:02}/cover.png", i % 4)),
            i % 3,
        );
    }
    std::fs::write(root.join("group-1/broken.jpg"), b"").unwrap();
    let run = |extra: &[&str], library: bool| {
        let mut args = vec!["--format", "csv"];
        if library {
            args.push("--library");
        }
        args.extend_from_slice(extra);
        args.push(root.to_str().unwrap());
        fx.classify(&args)
    };
    for library in [false, true] {
        let whole = run(&[], library);
        let all = csv_rows(&whole);
        assert_eq!(all.len(), 23, "{}", text(&whole.stderr));
        for n in [1, 3, 7] {
            let mut joined = Vec::new();
            let mut failures = 0;
            for i in 0..n {
                let shard = format!("{i}/{n}");
                let out = run(&["--shard", &shard], library);
                joined.extend(csv_rows(&out));
                failures += text(&out.stderr).matches("broken.jpg").count();
            }
            joined.sort();
            assert_eq!(joined, all, "library {library}, N = {n}");
            if !library {
                assert_eq!(
                    failures, 1,
                    "the broken file is reported by exactly one shard"
                );
            }
        }
    }
    let bad = fx.classify(&["--shard", "3/3", root.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("I/N"), "{}", text(&bad.stderr));
}

#[test]
fn a_temporary_output_left_by_a_killed_run_is_removed_by_the_next() {
    let fx = Fixture::new();
    let root = nested_covers(&fx);
    let target = fx.path("results/out.csv");
    let leftover = fx.path("results/.out.csv.covergenre-tmp");
    put(&leftover, b"half a CSV from a run killed with -9");
    let out = fx.classify(&[
        "--format",
        "csv",
        "--output",
        target.to_str().unwrap(),
        root.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!leftover.exists(), "the leftover is gone");
    assert_eq!(
        parse_csv(std::fs::read(&target).unwrap().as_slice())
            .unwrap()
            .len(),
        5
    );
    let names: Vec<_> = std::fs::read_dir(fx.path("results"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["out.csv"]);
}
