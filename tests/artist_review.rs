//! One decision per artist in the terminal review (`--library --tag --interactive`, artist
//! context on), driven through a real pseudo-terminal (tmux, as tests/interactive.rs): albums
//! are asked artist by artist; after an answer that tags an album, `Same for the N other
//! albums of ARTIST? [y/N]`; `y` tags them all and asks nothing more about them, `N` asks
//! each as before; a decision counts at once in the proposals of the artist's other albums.
//! What was written is read back with mutagen (tests/tagcheck.py).

mod common;

use common::audio::{self, Track};
use common::colour::ColourFixture;
use common::put;
use common::tagcheck::{mutagen, value_of};
use common::tmux::{shell_word, Tmux, EXIT_LINE};
use std::path::PathBuf;

/// The colour model's probabilities for this cover: red 0.735, green 0.265, blue 0.000.
const RED_AND_GREEN: [u8; 3] = [153, 140, 25];
const GREEN: [u8; 3] = [30, 220, 30];
const BLUE: [u8; 3] = [30, 30, 220];

const MILES: [&str; 4] = [
    "Shelf A/Miles 1",
    "Shelf B/Miles 2",
    "Shelf B/Miles 3",
    "Shelf B/Miles 4",
];

/// A fifth album of the Miles Quartet, already tagged: asked on its own, never written by `y`.
const MILES_TAGGED: &str = "Shelf B/Miles 5";

struct Review {
    fx: ColourFixture,
    root: PathBuf,
}

impl Review {
    /// The Miles Quartet's four untagged albums (album-artist tags) and a fifth tagged blue,
    /// on two shelves with Zed's album between them in path order; Alpha's two albums tagged blue and Beta's two tagged
    /// green (so the library's artists keep their genre and the artist weighs).
    fn new() -> Self {
        let fx = ColourFixture::new();
        let root = fx.path("Music");
        let review = Self { fx, root };
        for album in MILES {
            review.album(album, Some("Miles Quartet"), None, RED_AND_GREEN);
        }
        review.album(
            MILES_TAGGED,
            Some("Miles Quartet"),
            Some("blue"),
            RED_AND_GREEN,
        );
        review.album("Shelf A/Zed Solo", Some("Zed"), None, GREEN);
        for n in 1..=2 {
            review.album(
                &format!("Z Tagged/Alpha {n}"),
                Some("Alpha"),
                Some("blue"),
                BLUE,
            );
            review.album(
                &format!("Z Tagged/Beta {n}"),
                Some("Beta"),
                Some("green"),
                GREEN,
            );
        }
        review
    }

    fn album(&self, relative: &str, artist: Option<&str>, genre: Option<&str>, colour: [u8; 3]) {
        let folder = self.root.join(relative);
        let cover = image::RgbImage::from_pixel(24, 24, image::Rgb(colour));
        common::write_image(&folder.join("cover.png"), &cover);
        for n in 1..=2 {
            let mut track = Track::new(&format!("{relative} {n}"), None).by("");
            if let Some(artist) = artist {
                track = track.album_by(artist);
            }
            if let Some(genre) = genre {
                track = track.with_genre(genre);
            }
            put(&folder.join(format!("0{n}.mp3")), &audio::mp3(&track));
        }
    }

    fn start(&self, name: &str) -> Tmux {
        let pid_file = self.fx.path(&format!("{name}.pid"));
        let journal = self.fx.path(&format!("{name}.jsonl"));
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
            "--no-preview",
            "--journal",
            journal.to_str().unwrap(),
            self.root.to_str().unwrap(),
        ]
        .iter()
        .map(|w| shell_word(w))
        .collect();
        let script = format!(
            "cd {}\nsh -c 'echo $$ > \"$0\"; exec \"$@\"' {} {}\necho \"{EXIT_LINE}$?\"\n",
            shell_word(self.fx.dir.path().to_str().unwrap()),
            shell_word(pid_file.to_str().unwrap()),
            words.join(" ")
        );
        Tmux::start(self.fx.dir.path(), name, &script, pid_file)
    }

    /// The standard genre of both tracks of `album`, as mutagen reads them.
    fn genres(&self, album: &str) -> Vec<Option<String>> {
        let tracks: Vec<PathBuf> = (1..=2)
            .map(|n| self.root.join(album).join(format!("0{n}.mp3")))
            .collect();
        let read = mutagen(&tracks);
        tracks.iter().map(|t| value_of(&read[t], None)).collect()
    }
}

/// The line of the `n`-th question's album: `(n/of) FOLDER (2 track(s))`.
fn numbered(screen: &str, n: usize) -> String {
    let start = format!("({n}/");
    screen
        .lines()
        .find(|l| l.starts_with(&start))
        .unwrap_or_else(|| panic!("no question {n}:\n{screen}"))
        .to_string()
}

/// Waits for the `n`-th follow-up question on the screen.
fn wait_for_same(tmux: &Tmux, n: usize) -> String {
    tmux.wait_for(&format!("follow-up {n}"), |s| {
        s.matches("[y/N]").count() >= n
    })
}

#[test]
fn one_answer_then_y_tags_every_album_of_the_artist_and_asks_nothing_more_about_it() {
    let review = Review::new();
    let tmux = review.start("same");
    let screen = tmux.wait_for_question(1);
    assert!(
        screen.contains(
            "artists: 2 with 2+ tagged albums; an album shares its artist's genre 100% of the time"
        ),
        "{screen}"
    );
    let first = review.root.join(MILES[0]).display().to_string();
    assert!(numbered(&screen, 1).contains(&first), "{screen}");
    tmux.answer("a");
    let screen = wait_for_same(&tmux, 1);
    assert!(
        screen.contains("Same for the 3 other albums of Miles Quartet? [y/N]"),
        "{screen}"
    );
    tmux.answer("y");
    // The artist's album that has a genre is asked on its own; keep it.
    let screen = tmux.wait_for_question(2);
    let tagged = review.root.join(MILES_TAGGED).display().to_string();
    assert!(numbered(&screen, 2).contains(&tagged), "{screen}");
    tmux.answer("k");
    // Albums are asked artist by artist: Zed's album (between the shelves) comes next.
    let screen = tmux.wait_for_question(3);
    let zed = review.root.join("Shelf A/Zed Solo").display().to_string();
    assert!(
        numbered(&screen, 3).contains(&zed),
        "Zed's album comes after the artist's:\n{screen}"
    );
    assert_eq!(
        screen.matches("the same as decided for its artist").count(),
        3,
        "{screen}"
    );
    tmux.answer("b");
    assert_eq!(tmux.exit_status(), 0, "{}", tmux.screen());
    let screen = tmux.screen();
    assert_eq!(screen.matches("aBort?").count(), 3, "{screen}");
    assert_eq!(screen.matches("[y/N]").count(), 1, "{screen}");
    assert!(
        screen.contains("review: 4 album(s) written (8 track(s)), 0 skipped, 1 kept"),
        "{screen}"
    );
    assert_eq!(
        review.genres(MILES_TAGGED),
        [Some("blue".into()), Some("blue".into())]
    );
    for album in MILES {
        assert_eq!(
            review.genres(album),
            [Some("red".into()), Some("red".into())],
            "{album}"
        );
    }
    assert_eq!(review.genres("Shelf A/Zed Solo"), [None, None]);
}

#[test]
fn n_asks_each_album_as_before_and_a_decision_counts_at_once() {
    let review = Review::new();
    let tmux = review.start("each");
    let screen = tmux.wait_for_question(1);
    assert!(
        screen.contains("because: cover: red 0.7")
            && screen.contains("; artist Miles Quartet: 1 album, blue"),
        "{screen}"
    );
    // The second of the top 3: green.
    tmux.answer("2");
    wait_for_same(&tmux, 1);
    tmux.answer("n");
    let screen = tmux.wait_for_question(2);
    let second = review.root.join(MILES[1]).display().to_string();
    assert!(
        screen.contains(&second),
        "the artist's next album:\n{screen}"
    );
    assert!(
        screen.contains("artist Miles Quartet: 2 albums: 1 blue, 1 green"),
        "the decision counts in the next album's proposal:\n{screen}"
    );
    tmux.answer("s");
    // A skip tags nothing: no follow-up; the next album is asked.
    let screen = tmux.wait_for_question(3);
    assert_eq!(screen.matches("[y/N]").count(), 1, "{screen}");
    let third = review.root.join(MILES[2]).display().to_string();
    assert!(screen.contains(&third), "{screen}");
    tmux.answer("b");
    assert_eq!(tmux.exit_status(), 0, "{}", tmux.screen());
    assert_eq!(
        review.genres(MILES[0]),
        [Some("green".into()), Some("green".into())]
    );
    for album in &MILES[1..] {
        assert_eq!(review.genres(album), [None, None], "{album}");
    }
}
