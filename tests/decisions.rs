//! The owner's decisions: made on the review page in headless Chromium with the keyboard
//! (driven through the DevTools protocol: keys, a reload, the download), saved as a decisions
//! file and applied with `--tag --apply --decisions`; what was written is read back with
//! mutagen. Decisions files that are bad, or whose stamps no longer match, are refused entry
//! by entry.

mod common;

use common::audio::{self, Track};
use common::cdp::Browser;
use common::colour::{cover, png_bytes, ColourFixture};
use common::tagcheck::{mutagen, value_of};
use common::{put, text};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Four albums: red (MP3, embedded cover), green (FLAC, cover.jpg), blue (Opus with a genre
/// already, cover.png), grey (MP3, 1/3 each: low confidence).
fn library(fx: &ColourFixture) -> PathBuf {
    let root = fx.path("Music");
    put(
        &root.join("A/Red/01.mp3"),
        &audio::mp3(&Track::new("r", Some(png_bytes(0)))),
    );
    common::write_image(&root.join("A/Green/cover.jpg"), &cover(1, 48));
    put(
        &root.join("A/Green/01.flac"),
        &audio::flac(&Track::new("g1", None)),
    );
    put(
        &root.join("A/Green/CD2/02.flac"),
        &audio::flac(&Track::new("g2", None)),
    );
    common::write_image(&root.join("B/Blue/cover.png"), &cover(2, 48));
    put(
        &root.join("B/Blue/01.opus"),
        &audio::opus(&Track::new("b", None).with_genre("Jazz")),
    );
    let grey = image::RgbImage::from_pixel(32, 32, image::Rgb([120, 120, 120]));
    common::write_image(&root.join("B/Grey/cover.png"), &grey);
    put(
        &root.join("B/Grey/01.mp3"),
        &audio::mp3(&Track::new("grey", None)),
    );
    root
}

fn classify(fx: &ColourFixture, args: &[&str], root: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_covergenre-classify"))
        .arg("--model")
        .arg(&fx.model)
        .args(["--threads", "2", "--library", "--tag"])
        .args(args)
        .arg(root)
        .current_dir(fx.dir.path())
        .output()
        .unwrap()
}

fn tracks(root: &Path) -> Vec<PathBuf> {
    [
        "A/Red/01.mp3",
        "A/Green/01.flac",
        "A/Green/CD2/02.flac",
        "B/Blue/01.opus",
        "B/Grey/01.mp3",
    ]
    .iter()
    .map(|t| root.join(t))
    .collect()
}

/// The standard genre of every track, as mutagen reads it.
fn genres(root: &Path) -> Vec<Option<String>> {
    let tracks = tracks(root);
    let read = mutagen(&tracks);
    tracks.iter().map(|t| value_of(&read[t], None)).collect()
}

/// Waits for a finished download (Chromium writes `.crdownload` first).
fn wait_for_file(path: &Path) -> String {
    for _ in 0..200 {
        if let Ok(text) = std::fs::read_to_string(path) {
            if !text.is_empty() {
                return text;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{} was never downloaded", path.display());
}

#[test]
fn decisions_made_with_the_keyboard_survive_a_reload_and_apply_exactly() {
    let fx = ColourFixture::new();
    let root = library(&fx);
    let page = fx.path("plan.html");
    let planned = classify(&fx, &["--report", page.to_str().unwrap()], &root);
    assert_eq!(planned.status.code(), Some(0), "{}", text(&planned.stderr));
    let before = genres(&root);

    let mut browser = Browser::start();
    browser.open(&page);
    assert_eq!(
        browser.eval("document.getElementById('errors').textContent"),
        json!("")
    );
    // Cards in page order: red, green groups, the uncertain grey album, then blue among the
    // skipped (it has a genre already).
    let albums = browser.eval(
        "Array.from(document.querySelectorAll('.card[data-album]')).map(c => c.getAttribute('data-album'))",
    );
    assert_eq!(albums, json!(["A/Red", "A/Green", "B/Grey", "B/Blue"]));
    let second_for_green = browser
        .eval("data.cards.find(c => c.plan && c.plan.album === 'A/Green').plan.top[1].value");
    browser.press("j");
    browser.press("a"); // A/Red: the proposal
    browser.press("j");
    browser.press("2"); // A/Green: the second of the top 3
    browser.press("j");
    browser.press("j");
    browser.press("k");
    browser.press("j"); // past B/Grey, undecided
    browser.press("j");
    browser.press("e"); // B/Blue: a genre of the owner's
    browser.wait_for("document.activeElement.classList.contains('typed')");
    browser.type_text("Shoegaze");
    browser.press_named("Enter", 13);
    let decided = "document.querySelectorAll('.card[data-decision]').length";
    assert_eq!(browser.eval(decided), json!(3));
    assert_eq!(
        browser.eval("document.getElementById('decided').textContent"),
        json!("3 decided")
    );
    browser.press("/");
    assert_eq!(browser.eval("document.activeElement.id"), json!("search"));

    browser.reload();
    assert_eq!(
        browser.eval(decided),
        json!(3),
        "the decisions survive a reload"
    );
    let shown = browser.eval(
        "Array.from(document.querySelectorAll('.card[data-decision] .decision')).map(d => d.textContent)",
    );
    assert_eq!(
        shown,
        json!([
            "decided: red",
            format!("decided: {}", second_for_green.as_str().unwrap()),
            "decided: Shoegaze"
        ])
    );

    let downloads = fx.path("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    browser.allow_downloads(&downloads);
    browser.eval("document.getElementById('save').click(); true");
    let saved = wait_for_file(&downloads.join("decisions.json"));
    let in_box = browser.eval("document.getElementById('saved').value");
    assert_eq!(
        in_box.as_str(),
        Some(saved.as_str()),
        "the text box holds the same JSON"
    );
    drop(browser);
    let file: Value = serde_json::from_str(&saved).unwrap();
    assert_eq!(file["version"], 1);
    assert_eq!(file["decisions"].as_array().unwrap().len(), 3);
    assert_eq!(
        file["decisions"][1]["tracks"][1]["file"], "CD2/02.flac",
        "{saved}"
    );

    // A copy of the library where the blue album's track changed since the plan: refused
    // for that album only.
    let copy = fx.path("Copy");
    let cp = Command::new("cp")
        .arg("-a")
        .arg(&root)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(cp.success());
    let touched = std::fs::File::options()
        .write(true)
        .open(copy.join("B/Blue/01.opus"))
        .unwrap();
    touched
        .set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
        .unwrap();
    drop(touched);
    let decisions = downloads.join("decisions.json");
    let decisions = decisions.to_str().unwrap();
    let applied = classify(&fx, &["--apply", "--decisions", decisions], &copy);
    let stderr = text(&applied.stderr);
    assert_eq!(applied.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("decision for album \"B/Blue\": 01.opus changed since the plan"),
        "{stderr}"
    );
    let second = second_for_green.as_str().unwrap().to_string();
    let copied = genres(&copy);
    assert_eq!(copied[0].as_deref(), Some("red"));
    assert_eq!(copied[1].as_deref(), Some(second.as_str()));
    assert_eq!(
        copied[2].as_deref(),
        Some(second.as_str()),
        "the second disc too"
    );
    assert_eq!(copied[3].as_deref(), Some("Jazz"), "refused: left alone");
    assert_eq!(copied[4], None);

    let applied = classify(&fx, &["--apply", "--decisions", decisions], &root);
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied.stderr));
    let after = genres(&root);
    assert_eq!(after[0].as_deref(), Some("red"));
    assert_eq!(after[1].as_deref(), Some(second.as_str()));
    assert_eq!(
        after[3].as_deref(),
        Some("Shoegaze"),
        "typed, over the existing genre"
    );
    assert_eq!(after[4], before[4], "no decision: nothing written");
}

#[test]
fn bad_decisions_files_and_entries_are_refused_with_the_file_and_entry_named() {
    let fx = ColourFixture::new();
    let root = library(&fx);
    let file = fx.path("decisions.json");
    let run = |content: &str| {
        std::fs::write(&file, content).unwrap();
        classify(
            &fx,
            &["--apply", "--decisions", file.to_str().unwrap()],
            &root,
        )
    };
    let before = genres(&root);
    for (content, message) in [
        ("not json", "is not a decisions file"),
        (
            r#"{"version": 7, "decisions": []}"#,
            "version 7 is not known",
        ),
    ] {
        let out = run(content);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(file.to_str().unwrap()) && stderr.contains(message),
            "{stderr}"
        );
        assert_eq!(genres(&root), before);
    }
    let long = "x".repeat(201);
    let out = run(&format!(
        r#"{{"version": 1, "decisions": [
          {{"album": "A/Red", "action": "apply", "genres": [""]}},
          {{"album": "A/Green", "action": "apply", "genres": ["{long}"]}},
          {{"album": "../Music/A/Red", "action": "apply", "genres": ["Metal"]}},
          {{"album": "B/Nowhere", "action": "apply", "genres": ["Metal"]}},
          {{"album": "B/Grey", "action": "apply", "genres": ["Ambient"]}},
          {{"album": "B/Blue", "action": "skip"}}]}}"#
    ));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    for (n, album, what) in [
        (1, "A/Red", "an empty genre"),
        (2, "A/Green", "a genre of 201 characters"),
        (3, "../Music/A/Red", "outside the library"),
        (4, "B/Nowhere", "no album"),
    ] {
        let line = format!("{}: decision {n} (album \"{album}\"): ", file.display());
        let found = stderr.lines().find(|l| l.contains(&line));
        assert!(
            found.is_some_and(|l| l.contains(what)),
            "{line}{what} in\n{stderr}"
        );
    }
    let after = genres(&root);
    assert_eq!(
        after[..4],
        before[..4],
        "nothing written for the bad entries"
    );
    assert_eq!(
        after[4].as_deref(),
        Some("Ambient"),
        "the good entry is applied"
    );
    assert!(
        text(&out.stdout).contains("SKIP  "),
        "{}",
        text(&out.stdout)
    );
}
