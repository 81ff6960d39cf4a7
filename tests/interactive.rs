//! The terminal review (`--library --tag --interactive`), driven through a real
//! pseudo-terminal: tmux runs the binary, `send-keys` types the answers, `capture-pane` reads
//! the screen. What was written is read back with mutagen (tests/tagcheck.py). tmux is part of
//! the machine's toolchain: without it these tests fail, saying so.

mod common;

use common::audio::{self, Track};
use common::colour::{cover, png_bytes, ColourFixture};
use common::tagcheck::{assert_same_bytes, bytes_of, mutagen, value_of};
use common::tmux::{shell_word, Tmux, EXIT_LINE};
use common::{put, text};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const RED: usize = 0;
const GREEN: usize = 1;
const BLUE: usize = 2;

struct Review {
    fx: ColourFixture,
    root: PathBuf,
    journal: PathBuf,
}

impl Review {
    fn new() -> Self {
        let fx = ColourFixture::new();
        let root = fx.path("Music");
        let journal = fx.path("review.jsonl");
        Self { fx, root, journal }
    }

    fn album(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The shell script that runs the review in the pane.
    /// `env`: shell lines run before (exports); the binary's process id goes to `pid_file`.
    fn script(&self, extra: &[&str], env: &str, pid_file: &Path) -> String {
        let words: Vec<String> = [
            env!("CARGO_BIN_EXE_covergenre-classify"),
            "--model",
            self.fx.model.to_str().unwrap(),
            "--threads",
            "2",
            "--library",
            "--tag",
            "--min-confidence",
            "0.5",
            "--interactive",
            // Album by album: one decision per artist is tests/artist_review.rs's.
            "--no-artist-context",
            "--journal",
            self.journal.to_str().unwrap(),
        ]
        .iter()
        .chain(extra)
        .chain([&self.root.to_str().unwrap()])
        .map(|w| shell_word(w))
        .collect();
        // The inner shell writes its process id, then becomes the binary (in the
        // foreground, on the terminal); the outer one prints how it ended.
        format!(
            "cd {}\n{env}\nsh -c 'echo $$ > \"$0\"; exec \"$@\"' {} {}\necho \"{EXIT_LINE}$?\"\n",
            shell_word(self.fx.dir.path().to_str().unwrap()),
            shell_word(pid_file.to_str().unwrap()),
            words.join(" ")
        )
    }

    fn start(&self, name: &str, extra: &[&str], env: &str) -> Tmux {
        let pid_file = self.fx.path(&format!("{name}.pid"));
        let script = self.script(extra, env, &pid_file);
        Tmux::start(self.fx.dir.path(), name, &script, pid_file)
    }

    fn tracks(&self) -> Vec<PathBuf> {
        let mut tracks: Vec<PathBuf> = walkdir::WalkDir::new(&self.root)
            .into_iter()
            .filter_map(Result::ok)
            .map(|e| e.into_path())
            .filter(|p| covergenre::files::is_audio_path(p))
            .collect();
        tracks.sort();
        tracks
    }

    /// Each track's standard genre as mutagen reads it, keyed by its path under the root.
    fn genres(&self) -> BTreeMap<String, Option<String>> {
        let tracks = self.tracks();
        let read = mutagen(&tracks);
        tracks
            .iter()
            .map(|t| {
                assert!(
                    read[t].get("error").is_none(),
                    "{}: {}",
                    t.display(),
                    read[t]
                );
                let key = t.strip_prefix(&self.root).unwrap().to_string_lossy();
                (key.into_owned(), value_of(&read[t], None))
            })
            .collect()
    }

    fn bytes(&self, track: &str) -> Vec<u8> {
        std::fs::read(self.album(track)).unwrap()
    }

    fn classify(&self, args: &[&str]) -> Output {
        common::tag_command(&self.fx.model, args, &self.root, self.fx.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// The second of the top 3 for `album`, from the JSON plan.
    fn second_genre(&self, album: &str) -> String {
        let out = self.classify(&["--format", "json"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
        let entry = plan["albums"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["album"] == album)
            .unwrap_or_else(|| panic!("{album} in {plan}"));
        entry["top"][1]["value"].as_str().unwrap().to_string()
    }

    fn undo(&self) -> Output {
        Command::new(env!("CARGO_BIN_EXE_covergenre-classify"))
            .arg("--undo")
            .arg(&self.journal)
            .output()
            .unwrap()
    }
}

/// The albums of the answers test, in path order: what each is and which answer it gets.
fn every_answer_library(review: &Review) {
    let album = |name: &str| review.album(name);
    put(
        &album("A/0 Bare/01.flac"),
        &audio::flac(&Track::new("bare", None)),
    );
    let red = Some(png_bytes(RED));
    for n in ["01", "02"] {
        put(
            &album(&format!("A/1 Red/{n}.mp3")),
            &audio::mp3(&Track::new(n, red.clone())),
        );
    }
    common::write_image(&album("A/2 Green/cover.jpg"), &cover(GREEN, 48));
    for n in ["01", "02"] {
        put(
            &album(&format!("A/2 Green/{n}.flac")),
            &audio::flac(&Track::new(n, None)),
        );
    }
    common::write_image(&album("B/3 Blue/cover.png"), &cover(BLUE, 48));
    put(
        &album("B/3 Blue/01.opus"),
        &audio::opus(&Track::new("blue", None).with_genre("Jazz")),
    );
    common::write_image(&album("B/4 Kept/cover.png"), &cover(RED, 48));
    put(
        &album("B/4 Kept/01.mp3"),
        &audio::mp3(&Track::new("kept", None).with_genre("Shoegaze")),
    );
    common::write_image(&album("C/5 Skipped/cover.png"), &cover(GREEN, 48));
    put(
        &album("C/5 Skipped/01.flac"),
        &audio::flac(&Track::new("skipped", None)),
    );
    let grey = image::RgbImage::from_pixel(32, 32, image::Rgb([120, 120, 120]));
    common::write_image(&album("C/6 Grey/cover.png"), &grey);
    put(
        &album("C/6 Grey/01.mp3"),
        &audio::mp3(&Track::new("grey", None)),
    );
    common::write_image(&album("C/7 Later/cover.png"), &cover(BLUE, 48));
    put(
        &album("C/7 Later/01.mp3"),
        &audio::mp3(&Track::new("later", None)),
    );
}

/// The line of `screen` that starts with `start` (the question lines carry the answer typed
/// after them).
fn line_starting<'a>(screen: &'a str, start: &str) -> Vec<&'a str> {
    screen
        .lines()
        .map(str::trim_end)
        .filter(|l| l.starts_with(start))
        .collect()
}

#[test]
fn each_answer_does_what_it_says_and_undo_takes_the_review_back() {
    let review = Review::new();
    every_answer_library(&review);
    let second = review.second_genre("A/2 Green");
    let before = review.genres();
    let bytes = bytes_of(&review.tracks());
    let untouched: Vec<(&str, Vec<u8>)> = [
        "B/4 Kept/01.mp3",
        "C/5 Skipped/01.flac",
        "C/6 Grey/01.mp3",
        "C/7 Later/01.mp3",
    ]
    .into_iter()
    .map(|t| (t, review.bytes(t)))
    .collect();

    let tmux = review.start("answers", &[], "");
    let screen = tmux.wait_for_question(1);
    let bare = review.album("A/0 Bare").display().to_string();
    assert!(
        screen.contains(&format!("SKIP  {bare}: no cover")),
        "an album with nothing to propose is listed, not asked:\n{screen}"
    );
    assert!(
        screen.contains("threshold: --min-confidence 0.50")
            && screen.contains("albums under it are asked about too, with Skip as the default"),
        "{screen}"
    );
    let red = review.album("A/1 Red").display().to_string();
    assert!(
        screen.contains(&format!("(1/7) {red} (2 track(s))")),
        "{screen}"
    );
    assert!(screen.contains("existing genre: (none)"), "{screen}");
    assert!(screen.contains("top 3: 1. red "), "{screen}");
    assert!(screen.contains("proposal: red ("), "{screen}");
    assert!(
        screen.contains(&format!("cover: the picture embedded in {red}/01.mp3")),
        "{screen}"
    );
    assert!(
        screen.contains('▄') || screen.contains('▀'),
        "the cover is drawn in half-blocks:\n{screen}"
    );
    assert_eq!(
        line_starting(&screen, "[A]pply red"),
        ["[A]pply red, 1-3 pick, Enter a genre, Skip, aBort?"],
        "no Keep without an existing genre"
    );
    tmux.answer("a");

    let screen = tmux.wait_for_question(2);
    let green = review.album("A/2 Green");
    assert!(
        screen.contains(&format!("cover: {}", green.join("cover.jpg").display())),
        "{screen}"
    );
    tmux.answer("2");

    // B/3 Blue: e with an empty line goes back to the question; then e, Tab completion of
    // a genre the library has, Enter.
    tmux.wait_for_question(3);
    let screen = tmux.screen();
    assert!(screen.contains("existing genre: Jazz"), "{screen}");
    assert!(
        line_starting(&screen, "[A]pply blue")
            .iter()
            .any(|l| l.contains(", Skip, Keep existing, aBort?")),
        "{screen}"
    );
    tmux.answer("e");
    tmux.wait_for("the genre line", |s| {
        s.matches("genre (Tab completes").count() >= 1
    });
    tmux.answer("");
    tmux.wait_for_question(4);
    tmux.answer("E");
    tmux.wait_for("the genre line again", |s| {
        s.matches("genre (Tab completes").count() >= 2
    });
    tmux.tmux(&["send-keys", "-t", "review", "-l", "Sho"]);
    tmux.key("Tab");
    tmux.wait_for("the completed genre", |s| {
        s.contains("an empty line goes back): Shoegaze")
    });
    tmux.answer("");

    // B/4 Kept: keep its own genre.
    let screen = tmux.wait_for_question(5);
    assert!(screen.contains("wrote Shoegaze to 1 track(s)"), "{screen}");
    tmux.answer("k");
    // C/5 Skipped: skip.
    tmux.wait_for_question(6);
    tmux.answer("s");
    // C/6 Grey: under --min-confidence, Enter would skip; an unknown answer gets a hint; b.
    let screen = tmux.wait_for_question(7);
    assert!(
        screen.contains("[low confidence: under --min-confidence 0.50; Enter skips]"),
        "{screen}"
    );
    assert!(
        line_starting(&screen, "Apply ")
            .iter()
            .any(|l| l.ends_with(", 1-3 pick, Enter a genre, [S]kip, aBort?")),
        "{screen}"
    );
    tmux.answer("x");
    let screen = tmux.wait_for_question(8);
    assert!(
        screen.contains("\"x\" is not an answer; type one key, then Enter"),
        "{screen}"
    );
    tmux.answer("b");
    assert_eq!(tmux.exit_status(), 0, "{}", tmux.screen());
    let screen = tmux.screen();
    assert_eq!(
        screen.matches("aBort?").count(),
        8,
        "nothing asked after b:\n{screen}"
    );
    let later = review.album("C/7 Later").display().to_string();
    assert!(!screen.contains(&later), "C/7 is never shown:\n{screen}");
    assert!(
        screen.contains("review: 3 album(s) written (5 track(s)), 1 skipped, 1 kept, 1 not asked, 2 not decided (stopped with b)"),
        "{screen}"
    );
    let journal = review.journal.display().to_string();
    assert!(
        screen.contains(&format!("covergenre-classify --undo {journal}")),
        "{screen}"
    );

    let after = review.genres();
    let genre = |track: &str| after[track].as_deref();
    assert_eq!(genre("A/1 Red/01.mp3"), Some("red"));
    assert_eq!(genre("A/1 Red/02.mp3"), Some("red"));
    assert_eq!(
        genre("A/2 Green/01.flac"),
        Some(second.as_str()),
        "2 picks the second"
    );
    assert_eq!(genre("A/2 Green/02.flac"), Some(second.as_str()));
    assert_eq!(
        genre("B/3 Blue/01.opus"),
        Some("Shoegaze"),
        "typed, over Jazz"
    );
    assert_eq!(genre("B/4 Kept/01.mp3"), Some("Shoegaze"));
    assert_eq!(genre("A/0 Bare/01.flac"), None);
    for (track, bytes) in &untouched {
        assert_eq!(
            &review.bytes(track),
            bytes,
            "{track}: kept, skipped or not reached: untouched"
        );
    }

    let undone = review.undo();
    let stderr = text(&undone.stderr);
    assert_eq!(undone.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("restored 5 file(s), 1 already as before"),
        "{stderr}"
    );
    assert_eq!(review.genres(), before, "undo gives every genre back");
    assert_same_bytes(&bytes, "");
}

/// Three albums for the kill test: two tracks, two tracks, one.
fn kill_library(review: &Review) {
    let red = Some(png_bytes(RED));
    for n in ["01", "02"] {
        put(
            &review.album(&format!("A/1 Red/{n}.mp3")),
            &audio::mp3(&Track::new(n, red.clone())),
        );
    }
    common::write_image(&review.album("A/2 Green/cover.png"), &cover(GREEN, 48));
    for n in ["01", "02"] {
        put(
            &review.album(&format!("A/2 Green/{n}.flac")),
            &audio::flac(&Track::new(n, None)),
        );
    }
    common::write_image(&review.album("B/3 Blue/cover.png"), &cover(BLUE, 48));
    put(
        &review.album("B/3 Blue/01.mp3"),
        &audio::mp3(&Track::new("blue", None)),
    );
}

#[test]
fn a_kill_keeps_decided_albums_whole_and_the_next_run_asks_only_about_the_rest() {
    let review = Review::new();
    kill_library(&review);
    let second = review.second_genre("A/1 Red");
    let before = review.genres();
    let bytes = bytes_of(&review.tracks());
    // The third file written (the first of A/2 Green) is renamed into place, then the run
    // waits to be killed: A/1 is decided and written, A/2 half written.
    let tmux = review.start(
        "killed",
        &["--no-preview"],
        "export COVERGENRE_TEST_PAUSE=renamed:3",
    );
    let screen = tmux.wait_for_question(1);
    assert!(
        !screen.contains('▄') && !screen.contains('▀'),
        "--no-preview draws no cover:\n{screen}"
    );
    assert!(
        screen.contains("cover: the picture embedded in"),
        "the path still: {screen}"
    );
    // Not the proposal, so that the next run cannot take A/1 for already tagged.
    tmux.answer("2");
    tmux.wait_for_question(2);
    tmux.answer("a");
    tmux.wait_for("the pause", |s| {
        s.contains("covergenre-test: paused at renamed 3")
    });
    let pid = tmux.pid();
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0, "kill {pid}");
    assert_eq!(tmux.exit_status(), 128 + 9, "{}", tmux.screen());
    drop(tmux);

    let killed = review.genres(); // every file reads whole (asserted inside)
    assert_eq!(killed["A/1 Red/01.mp3"].as_deref(), Some(second.as_str()));
    assert_eq!(killed["A/1 Red/02.mp3"].as_deref(), Some(second.as_str()));
    assert_eq!(killed["A/2 Green/01.flac"].as_deref(), Some("green"));
    assert_eq!(
        killed["A/2 Green/02.flac"], None,
        "not reached before the kill"
    );
    assert_eq!(killed["B/3 Blue/01.mp3"], None);

    let tmux = review.start("again", &["--no-preview"], "");
    let screen = tmux.wait_for_question(1);
    let red = review.album("A/1 Red").display().to_string();
    let green = review.album("A/2 Green").display().to_string();
    assert!(
        screen.contains(&format!("SKIP  {red}: decided before")),
        "the decided album is not asked again:\n{screen}"
    );
    assert!(
        screen.contains(&format!("(1/2) {green} (2 track(s))")),
        "the half-written album is asked again, first:\n{screen}"
    );
    tmux.answer("");
    tmux.wait_for_question(2);
    tmux.answer("a");
    assert_eq!(tmux.exit_status(), 0, "{}", tmux.screen());
    let screen = tmux.screen();
    assert!(
        screen.contains("review: 2 album(s) written (2 track(s)), 0 skipped, 0 kept, 1 not asked, 0 not decided"),
        "{screen}"
    );
    assert!(
        screen.contains("wrote green to 1 track(s) (1 had it already)"),
        "{screen}"
    );
    let after = review.genres();
    for (track, genre) in &after {
        let want = if track.starts_with("A/1") {
            second.as_str()
        } else if track.starts_with("A/2") {
            "green"
        } else {
            "blue"
        };
        assert_eq!(genre.as_deref(), Some(want), "{track}");
    }

    // One journal for both sittings: undo takes all of it back.
    let undone = review.undo();
    assert_eq!(undone.status.code(), Some(0), "{}", text(&undone.stderr));
    assert_eq!(review.genres(), before);
    assert_same_bytes(&bytes, "");
}

#[test]
fn interactive_without_a_terminal_is_refused() {
    let review = Review::new();
    kill_library(&review);
    let before = review.genres();
    let bytes = bytes_of(&review.tracks());
    let out = review.classify(&["--interactive"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--interactive asks about each album on a terminal, but standard input is not a terminal"),
        "{stderr}"
    );
    assert_eq!(review.genres(), before);
    assert_same_bytes(&bytes, "refused: ");
    assert!(!review.fx.path("covergenre-review.jsonl").exists());
    let both = review.classify(&["--interactive", "--apply"]);
    assert_eq!(both.status.code(), Some(2), "{}", text(&both.stderr));
    assert!(
        text(&both.stderr).contains("cannot be used with"),
        "{}",
        text(&both.stderr)
    );
}
