//! The review page (`--report FILE.html`) of covergenre-classify, of a tagging plan and of
//! covergenre-eval, opened in headless Chromium: no errors on the page or the console, the
//! expected number of covers in each genre group, and a click on a confusion cell showing that
//! cell's covers. A screenshot of the evaluation page is kept in the target folder
//! (`target/tmp/review-eval.png`) for a person to look at.

mod common;

use common::audio::{self, Track};
use common::browser;
use common::colour::{cover, png_bytes, ColourFixture as Fixture};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

impl Fixture {
    fn run(&self, binary: &str, args: &[&str]) -> Output {
        let out = Command::new(binary)
            .arg("--model")
            .arg(&self.model)
            .args(["--threads", "2"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            matches!(out.status.code(), Some(0 | 3)),
            "{binary}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

fn save(path: &Path, colour: usize) {
    common::write_image(path, &cover(colour, 120));
}

/// The `data-count` of the element with `id`, as the page's script set it.
fn count(dom: &str, id: &str) -> Option<usize> {
    let at = dom.find(&format!("id=\"{id}\" data-count=\""))?;
    let rest = &dom[at..];
    let start = rest.find("data-count=\"")? + "data-count=\"".len();
    rest[start..].split('"').next()?.parse().ok()
}

#[test]
fn the_classify_page_groups_covers_by_genre_with_small_thumbnails() {
    let fx = Fixture::new();
    let covers = fx.path("covers");
    for (i, colour) in [0, 0, 0, 1, 1, 2].into_iter().enumerate() {
        save(&covers.join(format!("c{i}.png")), colour);
    }
    let grey = image::RgbImage::from_pixel(64, 64, image::Rgb([120, 120, 120]));
    common::write_image(&covers.join("grey.png"), &grey);
    std::fs::write(covers.join("broken.jpg"), b"").unwrap();
    let page = fx.path("out/review.html");
    fx.run(
        env!("CARGO_BIN_EXE_covergenre-classify"),
        &[
            "--min-confidence",
            "0.5",
            "--report",
            page.to_str().unwrap(),
            covers.to_str().unwrap(),
        ],
    );
    let thumbs: Vec<PathBuf> = std::fs::read_dir(fx.path("out/review-thumbs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(thumbs.len(), 7, "one thumbnail per classified cover");
    for thumb in &thumbs {
        let image = image::open(thumb).unwrap();
        assert!(
            image.width().max(image.height()) <= 96,
            "{}",
            thumb.display()
        );
    }
    let loaded = browser::load(&page, "");
    loaded.assert_clean();
    for (group, expected) in [
        ("red", 3),
        ("green", 2),
        ("blue", 1),
        ("uncertain", 1),
        ("skipped", 1),
    ] {
        assert_eq!(
            count(&loaded.dom, &format!("group-{group}")),
            Some(expected),
            "{group}"
        );
    }
    assert_eq!(loaded.dom.matches("loading=\"lazy\"").count(), 7);
    assert!(loaded.dom.contains("empty"), "the skipped cover says why");
}

#[test]
fn the_tag_plan_page_puts_skipped_albums_in_their_own_group() {
    let fx = Fixture::new();
    let music = fx.path("Music");
    let put = |path: PathBuf, bytes: Vec<u8>| {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    };
    put(
        music.join("A/Red/01.flac"),
        audio::flac(&Track::new("x", Some(png_bytes(0)))),
    );
    put(
        music.join("A/Blue/01.mp3"),
        audio::mp3(&Track::new("y", Some(png_bytes(2)))),
    );
    put(
        music.join("A/Tagged/01.opus"),
        audio::opus(&Track::new("z", Some(png_bytes(1))).with_genre("Folk")),
    );
    put(
        music.join("A/Bare/01.flac"),
        audio::flac(&Track::new("w", None)),
    );
    let page = fx.path("plan.html");
    fx.run(
        env!("CARGO_BIN_EXE_covergenre-classify"),
        &[
            "--library",
            "--tag",
            "--report",
            page.to_str().unwrap(),
            music.to_str().unwrap(),
        ],
    );
    let loaded = browser::load(&page, "");
    loaded.assert_clean();
    assert_eq!(count(&loaded.dom, "group-red"), Some(1));
    assert_eq!(count(&loaded.dom, "group-blue"), Some(1));
    assert_eq!(
        count(&loaded.dom, "group-skipped"),
        Some(2),
        "existing genre and no cover"
    );
    assert!(
        loaded.dom.contains("01.flac: (none) -&gt; red"),
        "the plan is on the card"
    );
    assert!(loaded.dom.contains("skipped: existing genre"));
}

#[test]
fn the_eval_page_shows_a_cells_covers_when_it_is_clicked() {
    let fx = Fixture::new();
    let data = fx.path("data");
    // Folder = true genre; colour = what the model predicts.
    for (i, (truth, colour)) in [
        ("red", 0),
        ("red", 0),
        ("red", 0),
        ("red", 1),
        ("green", 1),
        ("green", 1),
        ("blue", 2),
        ("blue", 2),
        ("blue", 0),
    ]
    .into_iter()
    .enumerate()
    {
        save(&data.join(truth).join(format!("{i}.png")), colour);
    }
    let page = fx.path("eval.html");
    fx.run(
        env!("CARGO_BIN_EXE_covergenre-eval"),
        &[
            "--data",
            data.to_str().unwrap(),
            "--split",
            "all",
            "--report",
            page.to_str().unwrap(),
        ],
    );
    let plain = browser::load(&page, "");
    plain.assert_clean();
    assert!(
        !plain.dom.contains("id=\"cell\" data-count"),
        "no cell shown before a click"
    );
    for (group, expected) in [("red", 4), ("green", 3), ("blue", 2)] {
        assert_eq!(
            count(&plain.dom, &format!("group-{group}")),
            Some(expected),
            "predicted {group}"
        );
    }
    assert_eq!(
        plain.dom.matches("class=\"genre-row\"").count(),
        3,
        "per-genre metrics"
    );
    // Rows true (red, green, blue), columns predicted: red->green 1, blue->red 1, blue->blue 2.
    for (cell, expected, file) in [
        ("0-1", 1, "3.png"),
        ("2-0", 1, "8.png"),
        ("2-2", 2, "6.png"),
    ] {
        let clicked = browser::load(&page, &format!("#cell={cell}"));
        clicked.assert_clean();
        assert_eq!(count(&clicked.dom, "cell"), Some(expected), "cell {cell}");
        let shown = &clicked.dom[clicked.dom.find("id=\"cell-cards\"").unwrap()
            ..clicked.dom.find("id=\"groups\"").unwrap()];
        assert_eq!(
            shown.matches("class=\"card\"").count(),
            expected,
            "cell {cell}"
        );
        assert!(shown.contains(file), "cell {cell} shows {file}");
        assert!(
            clicked
                .dom
                .contains(&format!("class=\"cell selected\" id=\"cell-{cell}\"")),
            "cell {cell} is marked"
        );
    }
    let png = Path::new(env!("CARGO_TARGET_TMPDIR")).join("review-eval.png");
    browser::screenshot(&page, "#cell=0-1", &png);
    assert!(
        std::fs::metadata(&png).unwrap().len() > 10_000,
        "a real screenshot"
    );
}
