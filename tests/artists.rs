//! What the library says about each artist: who an album's artist is (album-artist tags,
//! artist tags, `Artist/Album` folders, compilations) on made-up libraries of real audio
//! files, and proposals that use the artist's other albums (`--tag`, the text and JSON plans,
//! `--no-artist-context`), with a colour model whose genres are metal, jazz, blue and folk.

mod common;

use common::audio::{self, Track};
use common::{put, text};
use covergenre::data::artists::{album_artist, ArtistSource, Credited};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

/// The colour model's genres: red covers are metal, green ones jazz.
const GENRES: [&str; 4] = ["metal", "jazz", "blue", "folk"];
/// A cover the model calls metal 0.68, jazz 0.31: moderately metal.
const MOSTLY_METAL: [u8; 3] = [200, 180, 60];
const RED: [u8; 3] = [220, 40, 40];
const GREEN: [u8; 3] = [40, 220, 40];

fn tracks_of(folder: &Path) -> Vec<PathBuf> {
    covergenre::data::albums::album_tracks(folder)
        .unwrap()
        .taggable
}

fn credited(folder: &Path, root: &Path) -> Credited {
    album_artist(folder, &tracks_of(folder), &[root.to_path_buf()])
}

fn artist_of(folder: &Path, root: &Path) -> (String, ArtistSource, Option<String>) {
    match credited(folder, root) {
        Credited::Artist(artist) => (artist.name, artist.source, artist.note),
        other => panic!("{}: expected an artist, got {other:?}", folder.display()),
    }
}

#[test]
fn an_albums_artist_comes_from_album_artist_tags_then_artist_tags_then_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Music");
    // Album-artist tags in three formats, the track artists of guests.
    let tagged = root.join("Shelf/Kind of Teal");
    put(
        &tagged.join("01.mp3"),
        &audio::mp3(
            &Track::new("So", None)
                .by("Guest")
                .album_by("The Miles Quartet"),
        ),
    );
    put(
        &tagged.join("02.flac"),
        &audio::flac(
            &Track::new("Blue", None)
                .by("Other")
                .album_by("Miles Quartet"),
        ),
    );
    put(
        &tagged.join("03.m4a"),
        &audio::m4a(&Track::new("Green", None).album_by("miles quartet")),
    );
    let (name, source, note) = artist_of(&tagged, &root);
    assert_eq!(source, ArtistSource::AlbumArtist);
    assert!(name.contains("Miles Quartet"), "{name}");
    assert_eq!(note, None, "one album artist, spelled three ways");
    // Only artist tags: the one most tracks share.
    let artists = root.join("Shelf/Pastel");
    for (file, artist) in [
        ("01.opus", "Nina"),
        ("02.opus", "Nina"),
        ("03.opus", "Duet"),
    ] {
        put(
            &artists.join(file),
            &audio::opus(&Track::new(file, None).by(artist)),
        );
    }
    assert_eq!(
        artist_of(&artists, &root),
        ("Nina".into(), ArtistSource::Artist, None)
    );
    // No artist in the tags (empty, or blanks): the folder's parent.
    let folder = root.join("Nick Drake/Pink Moon");
    put(
        &folder.join("01.mp3"),
        &audio::mp3(&Track::new("a", None).by("")),
    );
    put(
        &folder.join("02.flac"),
        &audio::flac(&Track::new("b", None).by("   ")),
    );
    assert_eq!(
        artist_of(&folder, &root),
        ("Nick Drake".into(), ArtistSource::Folder, None)
    );
    // ...but never the library root.
    let loose = root.join("Loose");
    put(
        &loose.join("01.mp3"),
        &audio::mp3(&Track::new("a", None).by("")),
    );
    assert_eq!(credited(&loose, &root), Credited::Unknown);
}

#[test]
fn compilations_have_no_artist() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Music");
    let flagged = root.join("Someone/Hits");
    for (i, make) in [audio::mp3, audio::flac, audio::m4a].iter().enumerate() {
        let track = Track::new("t", None).by("Someone").in_compilation();
        let extension = ["mp3", "flac", "m4a"][i];
        put(&flagged.join(format!("0{i}.{extension}")), &make(&track));
    }
    assert!(
        matches!(credited(&flagged, &root), Credited::Compilation(ref why) if why.contains("flagged")),
        "{:?}",
        credited(&flagged, &root)
    );
    let various = root.join("Someone/Summer");
    put(
        &various.join("01.mp3"),
        &audio::mp3(&Track::new("a", None).by("A").album_by("Various Artists")),
    );
    assert!(matches!(
        credited(&various, &root),
        Credited::Compilation(_)
    ));
    let mixed = root.join("Someone/Mixtape");
    for (i, artist) in ["A", "B", "C"].iter().enumerate() {
        put(
            &mixed.join(format!("0{i}.mp3")),
            &audio::mp3(&Track::new("a", None).by(artist)),
        );
    }
    assert!(matches!(credited(&mixed, &root), Credited::Compilation(_)));
}

#[test]
fn tracks_naming_different_album_artists_give_the_most_common_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Music");
    let album = root.join("X/Split");
    for (i, album_artist) in ["Band A", "Band A", "Band B"].iter().enumerate() {
        put(
            &album.join(format!("0{i}.flac")),
            &audio::flac(&Track::new("t", None).album_by(album_artist)),
        );
    }
    let (name, source, note) = artist_of(&album, &root);
    assert_eq!(
        (name.as_str(), source),
        ("Band A", ArtistSource::AlbumArtist)
    );
    let note = note.expect("a note");
    assert!(
        note.contains("2 album artists") && note.contains("Band B"),
        "{note}"
    );
}

// ---- proposals ----

struct Library {
    dir: tempfile::TempDir,
    model: PathBuf,
    root: PathBuf,
}

impl Library {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("colour.onnx");
        std::fs::write(&model, common::colour_model_bytes_for(10.0, 24, GENRES)).unwrap();
        let root = dir.path().join("Music");
        Self { dir, model, root }
    }

    /// An album `relative` of two MP3s by `album_artist` (none: the folder names the artist)
    /// tagged `genre` (none: untagged), with a cover of `colour`.
    fn album(
        &self,
        relative: &str,
        album_artist: Option<&str>,
        genre: Option<&str>,
        colour: [u8; 3],
    ) {
        let folder = self.root.join(relative);
        let cover = image::RgbImage::from_pixel(24, 24, image::Rgb(colour));
        common::write_image(&folder.join("cover.png"), &cover);
        for n in 1..=2 {
            let mut track = Track::new(&format!("{relative} {n}"), None).by("");
            if let Some(artist) = album_artist {
                track = track.album_by(artist);
            }
            if let Some(genre) = genre {
                track = track.with_genre(genre);
            }
            put(&folder.join(format!("0{n}.mp3")), &audio::mp3(&track));
        }
    }

    fn tag(&self, args: &[&str]) -> Output {
        let out = common::tag_command(&self.model, args, &self.root, self.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{:?}: {}{}",
            args,
            text(&out.stdout),
            text(&out.stderr)
        );
        out
    }

    fn plan(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.extend(["--format", "json"]);
        serde_json::from_slice(&self.tag(&args).stdout).unwrap()
    }
}

fn entry<'a>(plan: &'a Value, album: &str) -> &'a Value {
    plan["albums"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["album"] == album)
        .unwrap_or_else(|| panic!("no album {album} in {plan:#}"))
}

/// Three tagged Jazz albums of the Miles Quartet (album-artist tags), three tagged Metal
/// albums of Iron Maidens (only their folder names them), and the Miles Quartet's untagged
/// album whose cover looks moderately like metal.
fn consistent_library() -> Library {
    let library = Library::new();
    for n in 1..=3 {
        library.album(
            &format!("Jazz Shelf/Miles {n}"),
            Some("Miles Quartet"),
            Some("Jazz"),
            GREEN,
        );
        library.album(&format!("Iron Maidens/Forge {n}"), None, Some("Metal"), RED);
    }
    library.album(
        "Jazz Shelf/New Session",
        Some("The Miles Quartet"),
        None,
        MOSTLY_METAL,
    );
    library
}

#[test]
fn an_artists_three_jazz_albums_make_a_moderately_metal_cover_jazz() {
    let library = consistent_library();
    let out = library.tag(&[]);
    let plan = text(&out.stdout);
    assert!(
        plan.contains(
            "artists: 2 with 2+ tagged albums; an album shares its artist's genre 100% of the time"
        ),
        "{plan}"
    );
    assert!(plan.contains("leave-one-out on 6 tagged albums"), "{plan}");
    let mut lines = plan.lines().skip_while(|l| !l.contains("New Session"));
    let album_line = lines.next().unwrap_or_else(|| panic!("{plan}"));
    assert!(
        album_line.starts_with("ALBUM") && album_line.contains("= Jazz"),
        "{plan}"
    );
    let why = lines.next().unwrap().trim_start();
    assert!(
        why.contains("(cover: Metal 0.68; artist The Miles Quartet: 3 albums, all Jazz)"),
        "{why}"
    );

    let without = text(&library.tag(&["--no-artist-context"]).stdout);
    let album_line = without.lines().find(|l| l.contains("New Session")).unwrap();
    assert!(album_line.contains("= Metal (0.68"), "{without}");
    assert!(!without.contains("artists:"), "{without}");
    assert!(!without.contains("proposal:"), "{without}");
}

#[test]
fn the_json_plan_carries_each_albums_artist_and_the_measure() {
    let library = consistent_library();
    let plan = library.plan(&[]);
    let new = entry(&plan, "Jazz Shelf/New Session");
    assert_eq!(new["genres"], serde_json::json!(["Jazz"]));
    assert_eq!(new["top"][0]["genre"], "jazz");
    let artist = &new["artist"];
    assert_eq!(artist["name"], "The Miles Quartet");
    assert_eq!(artist["source"], "album-artist");
    assert_eq!(artist["albums"], 3);
    assert_eq!(
        artist["genres"],
        serde_json::json!([{"genre": "Jazz", "albums": 3}])
    );
    let weight = artist["weight"].as_f64().unwrap();
    assert!(weight > 0.5 && weight <= 1.0, "{artist}");
    assert_eq!(artist["cover"]["value"], "Metal");
    let cover_p = artist["cover"]["probability"].as_f64().unwrap();
    assert!((0.6..0.75).contains(&cover_p), "{artist}");
    assert!(new["probability"].as_f64().unwrap() > 0.5, "{new}");
    // The folder names the metal artist.
    let forge = &entry(&plan, "Iron Maidens/Forge 1")["artist"];
    assert_eq!(
        (forge["name"].as_str(), forge["source"].as_str()),
        (Some("Iron Maidens"), Some("folder"))
    );
    assert_eq!(forge["albums"], 2, "its other albums");
    let measured = &plan["artists"];
    assert_eq!(measured["agreement"]["artists"], 2);
    assert_eq!(measured["agreement"]["albums"], 6);
    assert_eq!(measured["agreement"]["agreement"], 1.0);
    assert_eq!(measured["check"]["albums"], 6);
    assert_eq!(measured["changed"], 1);

    let off = library.plan(&["--no-artist-context"]);
    let new = entry(&off, "Jazz Shelf/New Session");
    assert_eq!(new["genres"], serde_json::json!(["Metal"]));
    assert!(new.get("artist").is_none(), "{new}");
    assert!(off.get("artists").is_none());
}

#[test]
fn artists_that_do_not_keep_their_genre_weigh_nothing() {
    let library = Library::new();
    // Each artist's three albums carry three different genres.
    let genres = ["Jazz", "Metal", "Folk"];
    for a in 0..4 {
        for n in 0..3 {
            let genre = genres[(a + n) % 3];
            let colour = if genre == "Metal" { RED } else { GREEN };
            library.album(&format!("Artist {a}/Album {n}"), None, Some(genre), colour);
        }
    }
    library.album("Artist 0/Untagged", None, None, MOSTLY_METAL);
    let plan = library.plan(&[]);
    let agreement = &plan["artists"]["agreement"];
    assert_eq!(agreement["albums"], 12);
    assert_eq!(agreement["weight"], 0.0, "{agreement}");
    let untagged = entry(&plan, "Artist 0/Untagged");
    assert_eq!(untagged["genres"], serde_json::json!(["Metal"]));
    assert_eq!(untagged["artist"]["weight"], 0.0);
    assert_eq!(untagged["artist"]["albums"], 3);
    let shown = text(&library.tag(&[]).stdout);
    assert!(
        shown.contains("(weighs nothing in this library)"),
        "{shown}"
    );
}

#[test]
fn the_review_pages_g_decides_the_artists_albums_without_a_genre_and_cards_group_by_artist() {
    let library = consistent_library();
    library.album(
        "Jazz Shelf/Late Session",
        Some("Miles Quartet"),
        None,
        MOSTLY_METAL,
    );
    let page = library.dir.path().join("plan.html");
    library.tag(&["--report", page.to_str().unwrap()]);
    let mut browser = common::cdp::Browser::start();
    browser.open(&page);
    assert_eq!(
        browser.eval("document.getElementById('errors').textContent"),
        serde_json::json!("")
    );
    let card = |album: &str| format!("document.querySelector('.card[data-album=\"{album}\"]')");
    let line = browser.eval(&format!(
        "{}.querySelector('.artist').textContent",
        card("Jazz Shelf/New Session")
    ));
    assert_eq!(
        line,
        serde_json::json!("artist The Miles Quartet: 3 other album(s) with a genre: 3 Jazz")
    );
    browser.eval(&format!("select({}); true", card("Jazz Shelf/New Session")));
    browser.press("g");
    let decided = browser.eval(
        "Array.from(document.querySelectorAll('.card[data-decision]')).map(c => c.getAttribute('data-album') + ': ' + c.querySelector('.decision').textContent).sort()",
    );
    assert_eq!(
        decided,
        serde_json::json!([
            "Jazz Shelf/Late Session: decided: Jazz",
            "Jazz Shelf/New Session: decided: Jazz"
        ]),
        "the artist's albums without a genre, none of its tagged ones, no other artist's"
    );
    assert_eq!(
        browser.eval("document.getElementById('decided').textContent"),
        serde_json::json!("2 decided")
    );
    browser.eval("document.getElementById('by-artist').click(); true");
    let titles = browser
        .eval("Array.from(document.querySelectorAll('section.group h2')).map(h => h.textContent)");
    let titles: Vec<&str> = titles
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(titles.len(), 2, "{titles:?}");
    assert_eq!(titles[0], "Iron Maidens (3)");
    assert!(titles[1].ends_with("Miles Quartet (5)"), "{titles:?}");
}

#[test]
fn an_album_whose_tracks_name_different_album_artists_takes_the_most_common_and_the_plan_says_so() {
    let library = Library::new();
    let folder = library.root.join("Shelf/Split");
    let cover = image::RgbImage::from_pixel(24, 24, image::Rgb(MOSTLY_METAL));
    common::write_image(&folder.join("cover.png"), &cover);
    for (n, album_artist) in ["Band A", "Band A", "Band B"].iter().enumerate() {
        let track = Track::new(&format!("t{n}"), None)
            .by("")
            .album_by(album_artist);
        put(&folder.join(format!("0{n}.mp3")), &audio::mp3(&track));
    }
    // Whitespace album artists are none: the folder names the artist.
    library.album("Nina/Blank", Some("   "), None, GREEN);
    let shown = text(&library.tag(&[]).stdout);
    assert!(
        shown.contains("artist: its tracks name 2 album artists: Band A (2 tracks), Band B (1 tracks); Band A is used"),
        "{shown}"
    );
    let plan = library.plan(&[]);
    assert_eq!(entry(&plan, "Shelf/Split")["artist"]["name"], "Band A");
    let blank = &entry(&plan, "Nina/Blank")["artist"];
    assert_eq!(
        (blank["name"].as_str(), blank["source"].as_str()),
        (Some("Nina"), Some("folder"))
    );
}

/// `combine(...)` as the review page's script computes it.
fn page_combine(
    browser: &mut common::cdp::Browser,
    cover: &[f32],
    counts: &[usize],
    total: usize,
    weight: f64,
) -> Vec<f64> {
    let expression = format!(
        "combine({}, {}, {total}, {weight})",
        serde_json::json!(cover),
        serde_json::json!(counts)
    );
    serde_json::from_value(browser.eval(&expression)).unwrap()
}

fn assert_same_numbers(page: &[f64], rust: &[f32], case: &str) {
    assert_eq!(page.len(), rust.len(), "{case}: {page:?} vs {rust:?}");
    for (p, r) in page.iter().zip(rust) {
        assert!((p - *r as f64).abs() < 1e-6, "{case}: {page:?} vs {rust:?}");
    }
}

#[test]
fn the_review_page_combines_cover_and_artist_by_the_rule_of_the_library() {
    use covergenre::artist_context::combine;
    use covergenre::report::html::{render, Page};
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("rule.html");
    let empty = Page {
        title: "rule".into(),
        genres: Vec::new(),
        cards: Vec::new(),
        evaluation: None,
        plan: None,
        artists: None,
    };
    std::fs::write(&page, render(&empty).unwrap()).unwrap();
    let mut browser = common::cdp::Browser::start();
    browser.open(&page);
    let cases: [(&[f32], &[usize], usize, f64); 8] = [
        (&[0.66, 0.2, 0.14], &[0, 3, 0], 3, 0.9),
        // A genre the model does not know counts in the total only.
        (&[0.66, 0.2, 0.14], &[0, 1, 0], 3, 0.9),
        (&[0.9, 0.05, 0.05], &[0, 1, 0], 1, 0.5),
        (&[0.5, 0.3, 0.2], &[2, 0, 0], 2, 1.7),
        (&[0.5, 0.3, 0.2], &[1], 2, 0.6),
        (&[0.5, 0.3, 0.2], &[1, 1, 0], 2, 0.0),
        (&[0.25, 0.25, 0.25, 0.25], &[0, 0, 0, 0], 0, 0.8),
        (&[0.0, 0.0, 1.0], &[4, 0, 0], 4, 1.0),
    ];
    for (cover, counts, total, weight) in cases {
        let rust = combine(cover, counts, total, weight);
        let page = page_combine(&mut browser, cover, counts, total, weight);
        let case = format!("{cover:?} {counts:?} {total} {weight}");
        assert_same_numbers(&page, &rust, &case);
    }
    assert_eq!(
        browser.eval("[fold('Rap & Hip-Hop'), fold(' Drum-n-Bass!')]"),
        serde_json::json!([
            covergenre::genres::normalise("Rap & Hip-Hop"),
            covergenre::genres::normalise(" Drum-n-Bass!")
        ])
    );
}

#[test]
fn deciding_an_album_on_the_review_page_proposes_its_artists_other_albums_anew() {
    let library = consistent_library();
    library.album(
        "Jazz Shelf/Late Session",
        Some("Miles Quartet"),
        None,
        MOSTLY_METAL,
    );
    let page = library.dir.path().join("plan.html");
    library.tag(&["--report", page.to_str().unwrap()]);
    let mut browser = common::cdp::Browser::start();
    browser.open(&page);
    let late = "data.cards.find(c => c.plan && c.plan.album === 'Jazz Shelf/Late Session')";
    let line = "document.querySelector('.card[data-album=\"Jazz Shelf/Late Session\"] .artist').textContent";
    assert_eq!(
        browser.eval(line),
        serde_json::json!("artist Miles Quartet: 3 other album(s) with a genre: 3 Jazz")
    );
    let context = browser.eval(&format!("{late}.artist_context"));
    assert_eq!(context["counts"], serde_json::json!([0, 3, 0, 0]));
    assert_eq!(context["total"], 3);
    let jazz_before = browser.eval(&format!("{late}.plan.top[0]"));
    assert_eq!(jazz_before["value"], "Jazz");

    // The owner decides the artist's other untagged album is Metal.
    browser.eval(
        "select(document.querySelector('.card[data-album=\"Jazz Shelf/New Session\"]')); true",
    );
    browser.press("e");
    browser.wait_for("document.activeElement.classList.contains('typed')");
    browser.type_text("metal");
    browser.press_named("Enter", 13);

    assert_eq!(
        browser.eval(line),
        serde_json::json!("artist Miles Quartet: 4 other album(s) with a genre: 3 Jazz, 1 metal")
    );
    let cover: Vec<f32> = serde_json::from_value(context["cover"].clone()).unwrap();
    let weight = browser.eval("data.artists.weight").as_f64().unwrap();
    assert!(weight > 0.5, "{weight}");
    let expected = covergenre::artist_context::combine(&cover, &[1, 3, 0, 0], 4, weight);
    let top = browser.eval(&format!("{late}.plan.top"));
    // The plan keeps the top 3, most probable first, each as the library's rule has it.
    let (shown, rust): (Vec<f64>, Vec<f32>) = top
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let class = GENRES.iter().position(|g| t["genre"] == *g).unwrap();
            (t["probability"].as_f64().unwrap(), expected[class])
        })
        .unzip();
    assert_eq!(shown.len(), 3, "{top}");
    assert!(shown.windows(2).all(|w| w[0] >= w[1]), "{top}");
    assert_same_numbers(&shown, &rust, "Late Session after New Session is metal");
    let jazz_after = top[0]["probability"].as_f64().unwrap();
    assert!(
        jazz_after < jazz_before["probability"].as_f64().unwrap() - 0.05,
        "{jazz_before} -> {top}"
    );
    assert_eq!(
        browser.eval(&format!("{late}.plan.genres")),
        serde_json::json!([top[0]["value"]])
    );
    let card_line = browser.eval(
        "document.querySelector('.card[data-album=\"Jazz Shelf/Late Session\"] .p').textContent",
    );
    assert_eq!(
        card_line,
        serde_json::json!(format!("Jazz {jazz_after:.3}"))
    );
    // `a` on it now accepts the new proposal.
    browser.eval(
        "select(document.querySelector('.card[data-album=\"Jazz Shelf/Late Session\"]')); true",
    );
    browser.press("a");
    assert_eq!(
        browser.eval("decisions['Jazz Shelf/Late Session'].genres"),
        serde_json::json!([top[0]["value"]])
    );
    assert_eq!(
        browser.eval("document.getElementById('errors').textContent"),
        serde_json::json!("")
    );
}
