//! The quick start's output (`covergenre-classify --summary`, what `scripts/quickstart.sh`
//! runs): what happened, not a row per cover. Covers per genre adding up to the covers
//! classified, the 10 most and 10 least certain in order, the time, and where the full results
//! (CSV) and the review page went; every path clean (no `/../`) and relative to the current
//! folder when under it.

mod common;

use common::colour::{cover, ColourFixture};
use std::path::Path;
use std::process::Command;

/// 24 covers in three colours, each colour mixed with grey by a different amount so the
/// model's certainty spreads, plus one file that is not an image.
fn covers(root: &Path) -> usize {
    let mut n = 0;
    for colour in 0..3 {
        for i in 0..8u32 {
            let mut image = cover(colour, 32);
            for pixel in image.pixels_mut() {
                for c in pixel.0.iter_mut() {
                    *c = ((*c as u32 * (8 - i) + 120 * i) / 8) as u8;
                }
            }
            common::write_image(&root.join(format!("c{colour}/{i}.png")), &image);
            n += 1;
        }
    }
    common::put(&root.join("c0/broken.jpg"), b"not a jpeg");
    n
}

/// `0.123  Genre  path` -> (probability, path).
fn listed(line: &str) -> (f32, String) {
    let mut words = line.split_whitespace();
    let probability = words.next().unwrap().parse().unwrap();
    let path = line.trim_end().rsplit("  ").next().unwrap().to_string();
    (probability, path)
}

#[test]
fn the_summary_says_what_happened_and_where_the_results_are() {
    let fixture = ColourFixture::new();
    let work = fixture.path("work");
    let classified = covers(&work.join("covers"));
    std::fs::create_dir_all(work.join("sub")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_covergenre-classify"))
        .args(["--model"])
        .arg(&fixture.model)
        .args(["--summary", "--format", "csv", "--output", "out/genres.csv"])
        .args(["--report", "out/review.html", "--min-confidence", "0.9"])
        // A path with `..` in it, as the quick start used to pass: shown clean.
        .arg(work.join("sub/../covers"))
        .current_dir(&work)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "one file is not an image");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();

    assert!(
        lines[0].starts_with(&format!("{classified} cover(s) classified in ")),
        "{stdout}"
    );
    assert!(lines[0].ends_with("1 could not be read."), "{stdout}");

    // Covers per genre, largest first, adding up to the covers classified.
    let header = lines
        .iter()
        .position(|l| l.starts_with("genre"))
        .expect("a genre table");
    let rows: Vec<&str> = lines[header + 1..]
        .iter()
        .take_while(|l| !l.is_empty())
        .copied()
        .collect();
    let counts: Vec<usize> = rows
        .iter()
        .map(|row| {
            row.split_whitespace()
                .rev()
                .nth(2)
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(counts.iter().sum::<usize>(), classified, "{stdout}");
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{stdout}");
    assert!(rows.iter().any(|r| r.starts_with("uncertain")), "{stdout}");

    for (title, ascending) in [
        ("the 10 most certain:", false),
        ("the 10 least certain:", true),
    ] {
        let at = lines
            .iter()
            .position(|l| *l == title)
            .unwrap_or_else(|| panic!("{title}\n{stdout}"));
        let shown: Vec<(f32, String)> = lines[at + 1..at + 11].iter().map(|l| listed(l)).collect();
        let probabilities: Vec<f32> = shown.iter().map(|(p, _)| *p).collect();
        let ordered = probabilities.windows(2).all(|w| {
            if ascending {
                w[0] <= w[1]
            } else {
                w[0] >= w[1]
            }
        });
        assert!(ordered, "{title} {probabilities:?}");
        for (_, path) in shown {
            assert!(
                path.starts_with("covers/c"),
                "not clean and relative: {path}"
            );
            assert!(work.join(&path).is_file(), "{path} is not the cover's path");
        }
    }
    assert!(
        !stdout.contains("/../") && !stdout.contains("/./"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("full results: out/genres.csv\nreview page:  out/review.html\n"),
        "{stdout}"
    );

    let csv = std::fs::read_to_string(work.join("out/genres.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        classified + 1,
        "a header and a row per cover"
    );
    assert!(work.join("out/review.html").is_file());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("broken.jpg"),
        "the unreadable file is named: {stderr}"
    );
    assert!(
        !stderr.contains("covers per genre"),
        "the account is not printed twice: {stderr}"
    );
}

#[test]
fn a_summary_needs_a_file_for_the_full_results() {
    let fixture = ColourFixture::new();
    let out = Command::new(env!("CARGO_BIN_EXE_covergenre-classify"))
        .args(["--summary", "covers/"])
        .current_dir(fixture.dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--output"));
}
