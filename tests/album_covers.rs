//! Covers as owners name them (the front-cover rule, the front classified beside a back, a
//! back alone never), every folder holding audio an album (`Covers/`, `Scans/`), AIFF, WAV,
//! APE, WavPack and Musepack pictures, formats covergenre cannot tag named, a cover that does
//! not decode giving way, and the census: every folder holding audio in an awkward library is
//! in the JSON plan exactly once.

mod common;

use common::audio::{self, Track};
use common::bare_audio;
use common::classify_output::parse_jsonl;
use common::colour::{cover, png_bytes, ColourFixture, GENRES};
use common::put;
use common::tagcheck::{mutagen, value_of};
use serde_json::Value;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const RED: usize = 0;
const GREEN: usize = 1;
const BLUE: usize = 2;

// ---- covers as owners name them, every format, nothing vanishes (issue 30) ----

/// `--tag --format json` plan of `root` (nothing written unless `extra` has `--apply`).
fn plan(fx: &ColourFixture, extra: &[&str], root: &Path) -> (Value, String) {
    let mut args = vec!["--tag", "--format", "json", "--min-confidence", "0.5"];
    args.extend_from_slice(extra);
    let out = fx.classify_library(&args, root);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "exit {:?}: {stderr}",
        out.status.code()
    );
    let document: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{stderr}", String::from_utf8_lossy(&out.stdout)));
    (document, stderr)
}

/// The plan's entry of the album `relative` to `root`.
fn entry<'a>(plan: &'a Value, root: &Path, relative: &str) -> &'a Value {
    let folder = root.join(relative).display().to_string();
    plan["albums"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["folder"] == folder.as_str())
        .unwrap_or_else(|| panic!("no entry for {relative} in {plan:#}"))
}

/// The file name of an entry's cover and the rule that chose it.
fn cover_of(entry: &Value) -> (String, String) {
    let file = entry["cover"]["file"].as_str().unwrap_or_default();
    (
        Path::new(file)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        entry["cover"]["rule"].as_str().unwrap_or_default().into(),
    )
}

fn mp3(colour: Option<usize>) -> Vec<u8> {
    audio::mp3(&Track::new("Track", colour.map(png_bytes)))
}

#[test]
fn pictures_embedded_in_aiff_wav_ape_wavpack_and_musepack_are_covers() {
    let fx = ColourFixture::new();
    let root = fx.path("Music");
    let colours = [RED, GREEN, BLUE, GREEN, RED];
    for (extension, colour) in bare_audio::FORMATS.iter().zip(colours) {
        let track = root.join(format!("Artist/{extension} album/01 Song.{extension}"));
        bare_audio::write_with_picture(&track, extension, &png_bytes(colour));
    }
    let out = fx.classify_library(&["--format", "jsonl"], &root);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let records: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), bare_audio::FORMATS.len(), "{stderr}");
    for (extension, colour) in bare_audio::FORMATS.iter().zip(colours) {
        let folder = root.join(format!("Artist/{extension} album"));
        let record = records
            .iter()
            .find(|r| r["path"] == folder.display().to_string().as_str())
            .unwrap_or_else(|| panic!("{extension}: {records:?}"));
        assert_eq!(record["genre"], GENRES[colour], "{extension}: {record}");
        assert_eq!(record["cover"]["rule"], "embedded", "{extension}");
        assert_eq!(
            record["cover"]["file"],
            folder
                .join(format!("01 Song.{extension}"))
                .display()
                .to_string()
                .as_str()
        );
    }
}

/// The layouts of issue 30's table: covers named after the album, `00 - front.jpg`, a front in
/// `artwork/` beside a back, albums called `Covers` and `Scans`, and AIFF and WavPack albums.
fn owners_library(fx: &ColourFixture) -> PathBuf {
    let root = fx.path("Owners");
    let image = |relative: &str, colour: usize| {
        common::write_image(&root.join(relative), &cover(colour, 48))
    };
    image("Nirvana/Nevermind/Nevermind.jpg", RED);
    put(&root.join("Nirvana/Nevermind/01 Smells.mp3"), &mp3(None));
    image("Nirvana/Incesticide/00 - front.jpg", GREEN);
    image("Nirvana/Incesticide/back.jpg", BLUE);
    put(
        &root.join("Nirvana/Incesticide/01 Dive.flac"),
        &audio::flac(&Track::titled("Dive")),
    );
    image("Nirvana/Sliver/artwork/Sliver - Front.jpg", BLUE);
    image("Nirvana/Sliver/artwork/Sliver - Back.jpg", RED);
    put(&root.join("Nirvana/Sliver/01 Sliver.mp3"), &mp3(None));
    image("Placebo/Covers/cover.jpg", GREEN);
    put(&root.join("Placebo/Covers/01 Running Up.mp3"), &mp3(None));
    put(
        &root.join("Placebo/Covers/02 Bigmouth.flac"),
        &audio::flac(&Track::titled("Bigmouth")),
    );
    image("Various/Scans/folder.jpg", RED);
    put(
        &root.join("Various/Scans/01 Compiled.m4a"),
        &audio::m4a(&Track::titled("Compiled")),
    );
    image("Nirvana/Bleach/cover.jpg", RED);
    put(
        &root.join("Nirvana/Bleach/01 Blew.aiff"),
        &bare_audio::bare("aiff"),
    );
    image("Nirvana/Unplugged/cover.jpg", GREEN);
    put(
        &root.join("Nirvana/Unplugged/01 About.wv"),
        &bare_audio::bare("wv"),
    );
    root
}

#[test]
fn every_layout_owners_use_is_found_and_the_front_is_what_is_classified() {
    let fx = ColourFixture::new();
    let root = owners_library(&fx);
    let journal = fx.path("journal.jsonl");
    let (plan, stderr) = plan(
        &fx,
        &["--apply", "--journal", journal.to_str().unwrap()],
        &root,
    );
    // The cover each album was classified by, and the rule that chose it.
    for (album, file, rule, genre) in [
        ("Nirvana/Nevermind", "Nevermind.jpg", "album-name", "red"),
        (
            "Nirvana/Incesticide",
            "00 - front.jpg",
            "cover-name",
            "green",
        ),
        ("Nirvana/Sliver", "Sliver - Front.jpg", "cover-name", "blue"),
        ("Placebo/Covers", "cover.jpg", "cover-name", "green"),
        ("Various/Scans", "folder.jpg", "cover-name", "red"),
    ] {
        let entry = entry(&plan, &root, album);
        assert_eq!(
            cover_of(entry),
            (file.to_string(), rule.to_string()),
            "{album}: {entry:#}"
        );
        assert_eq!(entry["action"], "write", "{album}: {entry:#}\n{stderr}");
        assert_eq!(entry["top"][0]["genre"], genre, "{album}: {entry:#}");
    }
    // The tags as another reader sees them.
    let written = [
        ("Nirvana/Nevermind/01 Smells.mp3", "red"),
        ("Nirvana/Incesticide/01 Dive.flac", "green"),
        ("Nirvana/Sliver/01 Sliver.mp3", "blue"),
        ("Placebo/Covers/01 Running Up.mp3", "green"),
        ("Placebo/Covers/02 Bigmouth.flac", "green"),
        ("Various/Scans/01 Compiled.m4a", "red"),
    ];
    let paths: Vec<PathBuf> = written.iter().map(|(p, _)| root.join(p)).collect();
    let read = mutagen(&paths);
    for ((relative, genre), path) in written.iter().zip(&paths) {
        assert_eq!(
            value_of(&read[path], None).as_deref(),
            Some(*genre),
            "{relative}"
        );
    }
    // AIFF and WavPack albums are found, classified by their covers and tagged (an ID3 chunk,
    // an APEv2 tag), as mutagen reads them back.
    for (album, track, genre) in [
        ("Nirvana/Bleach", "01 Blew.aiff", "red"),
        ("Nirvana/Unplugged", "01 About.wv", "green"),
    ] {
        let entry = entry(&plan, &root, album);
        assert_eq!(entry["top"][0]["genre"], genre, "{album}: {entry:#}");
        assert_eq!(entry["tracks"][0]["file"], track, "{album}: {entry:#}");
        assert_eq!(entry["action"], "write", "{album}: {entry:#}\n{stderr}");
        assert_eq!(entry["tracks"][0]["action"], "write", "{album}: {entry:#}");
        let path = root.join(album).join(track);
        let read = mutagen(std::slice::from_ref(&path));
        assert_eq!(
            value_of(&read[&path], None).as_deref(),
            Some(genre),
            "{album}"
        );
    }
}

#[test]
fn aiff_wav_ape_and_wavpack_albums_are_tagged_and_undone_byte_for_byte() {
    let fx = ColourFixture::new();
    let root = fx.path("Music");
    common::write_image(&root.join("A/Chunks/cover.jpg"), &cover(RED, 48));
    common::write_image(&root.join("A/Ape/cover.jpg"), &cover(BLUE, 48));
    // Bare files get a new tag; files holding a picture (put there by mutagen) have their
    // tag edited. Musepack is checked on mutagen's own files (tests/corpus_tags.rs): mutagen
    // does not read the bare `.mpc` made here as audio.
    let tracks = [
        ("A/Chunks/01.aif", None, "red"),
        ("A/Chunks/02.aiff", Some(GREEN), "red"),
        ("A/Chunks/03.wav", None, "red"),
        ("A/Chunks/04.wav", Some(GREEN), "red"),
        ("A/Ape/01.ape", Some(GREEN), "blue"),
        ("A/Ape/02.wv", None, "blue"),
        ("A/Ape/03.wv", Some(GREEN), "blue"),
    ];
    let paths: Vec<PathBuf> = tracks.iter().map(|(t, _, _)| root.join(t)).collect();
    for ((_, picture, _), path) in tracks.iter().zip(&paths) {
        let extension = path.extension().unwrap().to_str().unwrap();
        match picture {
            Some(colour) => bare_audio::write_with_picture(path, extension, &png_bytes(*colour)),
            None => put(path, &bare_audio::bare(extension)),
        }
    }
    let before = common::tagcheck::bytes_of(&paths);
    let was = mutagen(&paths);
    let journal = fx.path("journal.jsonl");
    let (_, stderr) = plan(
        &fx,
        &["--apply", "--journal", journal.to_str().unwrap()],
        &root,
    );
    let now = mutagen(&paths);
    for ((relative, _, genre), path) in tracks.iter().zip(&paths) {
        let (was, now) = (&was[path], &now[path]);
        assert!(
            was.get("error").is_none() && now.get("error").is_none(),
            "{relative}: {was} -> {now}"
        );
        assert_eq!(
            value_of(now, None).as_deref(),
            Some(*genre),
            "{relative}: {now}\n{stderr}"
        );
        assert_eq!(now["audio"], was["audio"], "{relative}");
        assert_eq!(now["length"], was["length"], "{relative}");
        let mut others = now["tags"].as_object().unwrap().clone();
        others.remove(&common::tagcheck::key_for(now, None));
        assert_eq!(
            Value::Object(others),
            was["tags"],
            "{relative}: the picture kept"
        );
    }
    let undone = Command::new(env!("CARGO_BIN_EXE_covergenre-classify"))
        .arg("--undo")
        .arg(&journal)
        .output()
        .unwrap();
    assert!(
        undone.status.success(),
        "{}",
        String::from_utf8_lossy(&undone.stderr)
    );
    common::tagcheck::assert_same_bytes(&before, "after --undo: ");
}

#[test]
fn a_back_alone_is_never_the_cover_and_the_embedded_picture_is_used_instead() {
    let fx = ColourFixture::new();
    let root = fx.path("Music");
    common::write_image(&root.join("A/Back Only/back.jpg"), &cover(RED, 48));
    put(&root.join("A/Back Only/01.mp3"), &mp3(None));
    common::write_image(&root.join("A/Back And Art/Back.JPG"), &cover(RED, 48));
    put(&root.join("A/Back And Art/01.mp3"), &mp3(Some(GREEN)));
    let (plan, stderr) = plan(&fx, &[], &root);
    let back_only = entry(&plan, &root, "A/Back Only");
    assert_eq!(back_only["reason"], "no cover", "{back_only:#}\n{stderr}");
    assert!(
        back_only["detail"]
            .as_str()
            .unwrap()
            .contains("no cover image file"),
        "{back_only:#}"
    );
    let embedded = entry(&plan, &root, "A/Back And Art");
    assert_eq!(embedded["top"][0]["genre"], "green", "{embedded:#}");
    assert_eq!(
        cover_of(embedded),
        ("01.mp3".to_string(), "embedded".to_string())
    );
}

#[test]
fn albums_in_formats_covergenre_cannot_tag_are_named_not_lost() {
    let fx = ColourFixture::new();
    let root = fx.path("Music");
    // A grey cover: low confidence, yet what the owner must know first is the format.
    let grey = image::RgbImage::from_pixel(32, 32, image::Rgb([128, 128, 128]));
    common::write_image(&root.join("W/Windows Media/cover.jpg"), &grey);
    for name in ["01.wma", "02.WMA", "03.dsf"] {
        put(&root.join("W/Windows Media").join(name), b"not read");
    }
    common::write_image(&root.join("W/Mixed/cover.jpg"), &cover(BLUE, 48));
    put(&root.join("W/Mixed/01.mp3"), &mp3(None));
    put(&root.join("W/Mixed/02.wma"), b"not read");
    let (plan, stderr) = plan(&fx, &[], &root);
    let wma = entry(&plan, &root, "W/Windows Media");
    assert_eq!(wma["reason"], "no taggable tracks", "{wma:#}\n{stderr}");
    assert_eq!(
        wma["detail"],
        "3 tracks in formats covergenre cannot tag: 2 .wma, 1 .dsf"
    );
    let actions: Vec<&str> = wma["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["skip", "skip", "skip"], "{wma:#}");
    let mixed = entry(&plan, &root, "W/Mixed");
    assert_eq!(mixed["action"], "write", "{mixed:#}");
    assert_eq!(mixed["tracks"][1]["file"], "02.wma");
    assert_eq!(mixed["tracks"][1]["action"], "skip");
    assert!(
        mixed["tracks"][1]["reason"]
            .as_str()
            .unwrap()
            .contains(".wma: a format covergenre cannot tag"),
        "{mixed:#}"
    );
    // The text plan says it too.
    let out = fx.classify_library(&["--tag"], &root);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "no taggable tracks (3 tracks in formats covergenre cannot tag: 2 .wma, 1 .dsf)"
        ),
        "{text}"
    );
    // Classify alone still gives the album's genre (the beets plugin writes such formats).
    let out = fx.classify_library(&["--format", "jsonl"], &root);
    let records = parse_jsonl(&out.stdout).unwrap();
    assert_eq!(records.len(), 2, "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_cover_that_does_not_decode_gives_way_to_the_next_and_the_plan_says_so() {
    let fx = ColourFixture::new();
    let root = fx.path("Music");
    let album = root.join("A/Broken Cover");
    std::fs::create_dir_all(&album).unwrap();
    std::fs::write(album.join("cover.jpg"), b"<html>not a picture</html>").unwrap();
    common::write_image(&album.join("front.png"), &cover(GREEN, 48));
    put(&album.join("01.mp3"), &mp3(Some(RED)));
    let (plan, stderr) = plan(&fx, &[], &root);
    let entry = entry(&plan, &root, "A/Broken Cover");
    assert_eq!(entry["top"][0]["genre"], "green", "{entry:#}\n{stderr}");
    assert_eq!(
        cover_of(entry),
        ("front.png".to_string(), "cover-name".to_string())
    );
    let passed = &entry["cover"]["passed_over"][0];
    assert_eq!(
        passed["file"],
        album.join("cover.jpg").display().to_string().as_str()
    );
    assert!(
        passed["reason"].as_str().unwrap().contains("cover.jpg"),
        "{passed}"
    );
    let said = stderr
        .lines()
        .find(|l| l.contains("cover.jpg"))
        .unwrap_or_else(|| panic!("the log names the bad cover: {stderr}"));
    assert!(said.contains("front.png"), "{said}");
    let out = fx.classify_library(&["--tag"], &root);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("cover: ") && text.contains("after cover file"),
        "{text}"
    );
}

/// A library with every layout above and awkward ones: discs inside discs, an album inside
/// an album, an art folder holding audio inside an album, names that are not UTF-8, a hidden
/// folder, an art folder that links back to its album, a folder of 10,000 images and one
/// track, and albums of formats covergenre cannot tag.
fn awkward_library(fx: &ColourFixture) -> PathBuf {
    let root = owners_library(fx);
    let image = |relative: &Path, colour: usize| {
        common::write_image(&root.join(relative), &cover(colour, 40))
    };
    let at = |relative: &str| PathBuf::from(relative);
    image(&at("Artist/Double/cover.jpg"), RED);
    put(
        &root.join("Artist/Double/CD1/01.flac"),
        &audio::flac(&Track::titled("One")),
    );
    put(&root.join("Artist/Double/CD2/01.mp3"), &mp3(None));
    image(&at("Artist/Disc Cover/Disc 1 - Live/cover.png"), BLUE);
    put(
        &root.join("Artist/Disc Cover/Disc 1 - Live/01.m4a"),
        &audio::m4a(&Track::titled("Live")),
    );
    put(
        &root.join("Artist/Disc Cover/disc 2/01.opus"),
        &audio::opus(&Track::titled("Studio")),
    );
    image(&at("Artist/Outer/cover.jpg"), GREEN);
    put(&root.join("Artist/Outer/01.mp3"), &mp3(None));
    put(&root.join("Artist/Outer/Bonus/01.mp3"), &mp3(Some(RED)));
    put(&root.join("Artist/Odd/CD1/01.mp3"), &mp3(Some(BLUE)));
    put(&root.join("Artist/Odd/CD1/CD2/01.mp3"), &mp3(Some(GREEN)));
    image(&at("Artist/With Scans/front.jpg"), BLUE);
    put(&root.join("Artist/With Scans/01.mp3"), &mp3(None));
    put(
        &root.join("Artist/With Scans/Scans/01 hidden track.mp3"),
        &mp3(Some(RED)),
    );
    let cafe = root.join(OsStr::from_bytes(b"Artist/Caf\xe9"));
    common::write_image(
        &cafe.join(OsStr::from_bytes(b"Caf\xe9 - Front.jpg")),
        &cover(GREEN, 40),
    );
    put(&cafe.join(OsStr::from_bytes(b"01 caf\xe9.mp3")), &mp3(None));
    put(&root.join(".Trash-1000/Old/01.mp3"), &mp3(Some(RED)));
    image(&at("Artist/Looped/cover.jpg"), RED);
    put(&root.join("Artist/Looped/01.mp3"), &mp3(None));
    std::os::unix::fs::symlink(".", root.join("Artist/Looped/Artwork")).unwrap();
    let many = root.join("Artist/Many Scans");
    std::fs::create_dir_all(&many).unwrap();
    for i in 0..10_000 {
        std::fs::write(many.join(format!("scan {i:05}.jpg")), b"").unwrap();
    }
    image(&at("Artist/Many Scans/cover.png"), GREEN);
    put(&many.join("01.mp3"), &mp3(None));
    common::write_image(
        &root.join("W/Windows Media/cover.jpg"),
        &image::RgbImage::from_pixel(32, 32, image::Rgb([128, 128, 128])),
    );
    put(&root.join("W/Windows Media/01.wma"), b"not read");
    put(&root.join("W/Windows Media/02.dsf"), b"not read");
    put(&root.join("W/No Cover DSD/01.dff"), b"not read");
    root
}

/// Every folder under `root` holding audio files (hidden ones aside), with those files, as
/// the plan shows paths.
fn folders_holding_audio(root: &Path) -> BTreeMap<String, Vec<String>> {
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let walk = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !covergenre::files::is_hidden(e.path()));
    for entry in walk.map(Result::unwrap) {
        if entry.file_type().is_file() && covergenre::files::is_audio_path(entry.path()) {
            let folder = entry.path().parent().unwrap().display().to_string();
            found
                .entry(folder)
                .or_default()
                .push(entry.path().display().to_string());
        }
    }
    found
}

#[test]
fn census_every_folder_holding_audio_is_in_the_plan_exactly_once() {
    let fx = ColourFixture::new();
    let root = awkward_library(&fx);
    let (plan, stderr) = plan(&fx, &[], &root);
    let albums = plan["albums"].as_array().unwrap();
    // Which album each audio file is a track of.
    let mut owner: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for album in albums {
        let folder = album["folder"].as_str().unwrap();
        for track in album["tracks"].as_array().unwrap() {
            let file = Path::new(folder).join(track["file"].as_str().unwrap());
            owner
                .entry(file.display().to_string())
                .or_default()
                .push(folder.to_string());
        }
        match album["action"].as_str().unwrap() {
            "write" => assert!(album["reason"].is_null(), "{album:#}"),
            "skip" => assert!(album["reason"].is_string(), "{album:#}"),
            other => panic!("{other}: {album:#}"),
        }
    }
    let census = folders_holding_audio(&root);
    assert!(census.len() >= 20, "{census:#?}");
    for (folder, files) in &census {
        let owners: Vec<&Vec<String>> = files.iter().filter_map(|f| owner.get(f)).collect();
        assert_eq!(
            owners.len(),
            files.len(),
            "{folder}: a track is missing\n{stderr}"
        );
        let mut albums_of: Vec<&String> = owners.iter().flat_map(|o| o.iter()).collect();
        albums_of.dedup();
        assert_eq!(
            albums_of.len(),
            1,
            "{folder}'s tracks are in exactly one album, once: {albums_of:?}"
        );
        let album = albums_of[0];
        assert!(
            album == folder || folder.starts_with(album.as_str()),
            "{folder} is its album or a disc of {album}"
        );
    }
    // Every other entry is a loop the walk did not follow, said as such.
    let census_tracks: usize = census.values().map(Vec::len).sum();
    assert_eq!(owner.len(), census_tracks, "no track from elsewhere");
    for album in albums
        .iter()
        .filter(|a| a["tracks"].as_array().unwrap().is_empty())
    {
        assert_eq!(album["reason"], "unreadable", "{album:#}");
        assert!(
            album["detail"].as_str().unwrap().contains("symlink loop"),
            "{album:#}"
        );
    }
    // The summary counts them all, each once.
    let summary = &plan["summary"];
    let skipped: u64 = summary["skipped"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(summary["albums"].as_u64().unwrap() as usize, albums.len());
    assert_eq!(
        summary["albums_tagged"].as_u64().unwrap()
            + skipped
            + summary["albums_unwritten"].as_u64().unwrap(),
        albums.len() as u64,
        "{summary:#}"
    );
    // Structural reasons come first: the grey Windows Media album is low confidence too.
    let wma = entry(&plan, &root, "W/Windows Media");
    assert_eq!(wma["reason"], "no taggable tracks", "{wma:#}");
    assert_eq!(
        entry(&plan, &root, "W/No Cover DSD")["reason"],
        "no taggable tracks"
    );
    // The awkward ones went where they belong.
    let genre = |album: &str| entry(&plan, &root, album)["top"][0]["genre"].clone();
    assert_eq!(genre("Artist/Many Scans"), "green");
    assert_eq!(genre("Artist/Outer/Bonus"), "red");
    assert_eq!(genre("Artist/Odd/CD1/CD2"), "green");
    assert_eq!(genre("Artist/With Scans"), "blue");
    assert_eq!(genre("Artist/With Scans/Scans"), "red");
    assert_eq!(genre("Artist/Looped"), "red");
    let cafe = root.join(OsStr::from_bytes(b"Artist/Caf\xe9"));
    let cafe = entry(
        &plan,
        &root,
        cafe.strip_prefix(&root)
            .unwrap()
            .to_str()
            .unwrap_or("Artist/Caf\u{fffd}"),
    );
    assert_eq!(cover_of(cafe).1, "cover-name", "{cafe:#}");
    assert!(stderr.contains("symlink loop"), "{stderr}");
}
