//! Learning the owner's genres from their own library (issue 22), end to end on a made-up
//! library (tests/common/owner_library.rs): `--inspect` shows the vocabulary, merges, drops,
//! ties and unlabelled albums; `covergenre-train --data LIBRARY --variants effnet-lite0` trains
//! the ImageNet recipe, learns (beats the majority genre on the held-out albums) and writes a model
//! that speaks the owner's spellings; `classify --tag --apply` with it writes those spellings
//! (read back by mutagen), on both discs of a two-disc album; splits stay put when albums are
//! added; bad libraries and genre maps get messages that say what to do. Training never writes
//! to the library.

mod common;

use common::owner_library::{album_specs, write_genre_map, write_library, GENRES};
use common::tagcheck::{mutagen, value_of};
use common::{snapshot, text};
use covergenre::data::discover::{discover, DiscoverOptions};
use covergenre::data::library::LibraryOptions;
use covergenre::data::Split;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn train(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_covergenre-train"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

fn made_up_library(dir: &Path) -> (PathBuf, PathBuf) {
    let root = dir.join("Music");
    write_library(&root, &album_specs(15, 0), 7);
    let map = write_genre_map(&dir.join("genres.json"));
    (root, map)
}

#[test]
fn inspect_shows_the_owners_vocabulary_merges_drops_ties_and_unlabelled_albums() {
    let dir = tempfile::tempdir().unwrap();
    let (root, map) = made_up_library(dir.path());
    let args = [
        "--data",
        root.to_str().unwrap(),
        "--inspect",
        "--genre-map",
        map.to_str().unwrap(),
    ];
    let out = train(&[&args[..], &["--format", "json"]].concat(), dir.path());
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "Jazz/No Cover is skipped: {stderr}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["layout"], "music-library");
    assert_eq!(report["genre_names"], serde_json::json!(GENRES));
    let library = &report["library"];
    let genre = |name: &str| {
        library["genres"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {library}"))
    };
    let spellings = |name: &str| -> Vec<String> {
        genre(name)["spellings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s[0].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(spellings("Hip-Hop"), ["Hip-Hop", "Hip Hop", "hip hop"]);
    assert_eq!(spellings("Rock"), ["Rock", "Alternative Rock"]);
    // 15 Rock albums, 3 merged Alternative Rock, the album whose tracks disagree.
    assert_eq!(genre("Rock")["albums"], 19);
    // 15 plus "Electronic; House" labelled with its first value.
    assert_eq!(genre("Electronic")["albums"], 16);
    // 15 plus the tie (first track: Jazz) and the album with Artwork/Front.jpg.
    assert_eq!(genre("Jazz")["albums"], 17);
    assert_eq!(library["dropped"], serde_json::json!([["Audiobook", 2]]));
    let unlabelled: Vec<String> = library["unlabelled"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    assert_eq!(unlabelled.len(), 4, "{unlabelled:?}");
    assert!(unlabelled.iter().any(|p| p.ends_with("Untagged/Double")));
    let ties = library["ties"].as_array().unwrap();
    assert_eq!(ties.len(), 1, "{ties:?}");
    assert!(ties[0]["album"].as_str().unwrap().ends_with("Rock/Tie"));
    assert_eq!(ties[0]["chosen"], "Jazz");
    assert!(library["tag_bytes_read"].as_u64().is_some(), "{library}");
    let skipped = report["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(skipped[0]["path"]
        .as_str()
        .unwrap()
        .ends_with("Jazz/No Cover"));
    assert!(skipped[0]["reason"].as_str().unwrap().contains("no cover"));
    // The held-out covers are listed, as many as the split counts say, inside the library.
    for split in ["dev", "test"] {
        let listed = report["held_out"][split].as_array().unwrap();
        let counted: u64 = report["splits"][split]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum();
        assert_eq!(listed.len() as u64, counted, "{split}: {listed:?}");
        assert!(counted > 0, "{split} has albums");
        assert!(listed
            .iter()
            .all(|p| Path::new(p.as_str().unwrap()).starts_with(&root)));
    }

    let table = train(&args, dir.path());
    let shown = text(&table.stdout);
    assert!(
        shown.contains("Hip-Hop: 15 albums (Hip-Hop 9, Hip Hop 3, hip hop 3)"),
        "{shown}"
    );
    assert!(
        shown.contains("Dropped by the genre map: Audiobook (2 albums)"),
        "{shown}"
    );
    assert!(shown.contains("Unlabelled"), "{shown}");
    assert!(shown.contains("Rock/Tie: Jazz / Rock -> Jazz"), "{shown}");
}

#[test]
fn a_model_trained_on_the_library_tags_the_rest_in_the_owners_words() {
    let weights = covergenre::train::pretrained::weights_path(
        covergenre::spec::efficientnet::Backbone::Lite0,
    );
    if !weights.is_file() {
        eprintln!(
            "SKIPPED a_model_trained_on_the_library: {} not found (run scripts/setup.sh)",
            weights.display()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (root, map) = made_up_library(dir.path());
    let before = snapshot(&root);
    let run = dir.path().join("run");
    let out = train(
        &[
            "--data",
            root.to_str().unwrap(),
            "--genre-map",
            map.to_str().unwrap(),
            "--out",
            run.to_str().unwrap(),
            // The ImageNet recipe (the default learns from the shipped model instead:
            // tests/learn_from_base.rs).
            "--variants",
            "effnet-lite0",
            "--epochs",
            "12",
            "--threads",
            "2",
        ],
        dir.path(),
    );
    let stderr = text(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "training failed:\n{stderr}"
    );
    assert_eq!(
        snapshot(&root),
        before,
        "training wrote nothing to the library"
    );
    let config: Value =
        serde_json::from_slice(&std::fs::read(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        config["variants"][0]["name"], "effnet-lite0",
        "the ImageNet recipe"
    );

    // The card: learning shows on the held-out albums.
    let card: Value =
        serde_json::from_slice(&std::fs::read(run.join("best/card.json")).unwrap()).unwrap();
    let test = &card["test"];
    let accuracy = test["accuracy"].as_f64().unwrap();
    let majority = test["baseline"]["accuracy"].as_f64().unwrap();
    assert!(
        accuracy > majority + 0.2,
        "held-out accuracy {accuracy} against the majority genre's {majority}\n{stderr}"
    );
    let card_md = std::fs::read_to_string(run.join("best/card.md")).unwrap();
    for expected in [
        "## Vocabulary",
        "| Hip-Hop | 15 |",
        "## Test (evaluated once)",
        "covergenre-train --data",
    ] {
        assert!(card_md.contains(expected), "{expected} in\n{card_md}");
    }

    // The model speaks the owner's spellings; tagging writes them.
    let model = run.join("best/model.onnx");
    let journal = dir.path().join("journal.jsonl");
    let tagged = Command::new(env!("CARGO_BIN_EXE_covergenre-classify"))
        .arg("--model")
        .arg(&model)
        .args([
            "--library",
            "--tag",
            "--apply",
            "--min-confidence",
            "0.3",
            "--journal",
        ])
        .arg(&journal)
        .arg(&root)
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&tagged.stdout), text(&tagged.stderr));
    assert!(
        matches!(tagged.status.code(), Some(0 | 3)),
        "{stdout}\n{stderr}"
    );
    let expected = [
        ("Untagged/Double", "Hip-Hop"),
        ("Untagged/Rocky", "Rock"),
        ("Untagged/Jazzy", "Jazz"),
    ];
    for (album, genre) in expected {
        let tracks = tracks_under(&root.join(album));
        let read = mutagen(&tracks);
        for track in &tracks {
            assert_eq!(
                value_of(&read[track], None).as_deref(),
                Some(genre),
                "{}\n{stdout}",
                track.display()
            );
        }
    }
    let discs: Vec<String> = tracks_under(&root.join("Untagged/Double"))
        .iter()
        .map(|t| {
            t.parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(discs, ["CD1", "CD2"], "both discs were tagged");
}

/// The audio files under `folder`, sorted.
fn tracks_under(folder: &Path) -> Vec<PathBuf> {
    let mut tracks: Vec<PathBuf> = walkdir::WalkDir::new(folder)
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.into_path())
        .filter(|p| covergenre::files::is_audio_path(p))
        .collect();
    tracks.sort();
    tracks
}

/// Each labelled cover's split, keyed by the cover's path.
fn splits_of(root: &Path, map: &Path) -> BTreeMap<PathBuf, Split> {
    let options = DiscoverOptions {
        library: LibraryOptions {
            genre_map: Some(map.to_path_buf()),
            ..LibraryOptions::default()
        },
        ..DiscoverOptions::default()
    };
    let dataset = discover(root, &options).unwrap();
    dataset
        .splits
        .iter()
        .flat_map(|(split, samples)| samples.iter().map(move |s| (s.path.clone(), *split)))
        .collect()
}

#[test]
fn adding_albums_leaves_old_albums_in_their_splits() {
    let dir = tempfile::tempdir().unwrap();
    let (root, map) = made_up_library(dir.path());
    let before = splits_of(&root, &map);
    let dev_share =
        before.values().filter(|s| **s == Split::Dev).count() as f64 / before.len() as f64;
    assert!((0.05..0.25).contains(&dev_share), "dev share {dev_share}");
    write_library(&root, &album_specs(10, 100), 99);
    let after = splits_of(&root, &map);
    assert_eq!(after.len(), before.len() + 40);
    let moved: Vec<_> = before
        .iter()
        .filter(|(path, split)| after[*path] != **split)
        .collect();
    assert!(moved.is_empty(), "old albums moved: {moved:?}");
}

fn inspect_error(root: &Path, extra: &[&str]) -> String {
    let out = train(
        &[&["--data", root.to_str().unwrap(), "--inspect"][..], extra].concat(),
        root.parent().unwrap(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    text(&out.stderr)
}

#[test]
fn bad_libraries_and_genre_maps_get_a_message_that_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("Empty");
    std::fs::create_dir_all(empty.join("Artist/Album")).unwrap();
    assert!(inspect_error(&empty, &[]).contains("music library"));

    let untagged = dir.path().join("Untagged");
    let mut specs = album_specs(3, 0);
    specs
        .iter_mut()
        .for_each(|a| a.track_genres.iter_mut().for_each(|g| *g = None));
    write_library(&untagged, &specs, 1);
    let message = inspect_error(&untagged, &[]);
    assert!(
        message.contains("has a genre value") && message.contains("tag some albums"),
        "{message}"
    );

    let one = dir.path().join("One");
    let mut specs = album_specs(12, 0);
    specs.retain(|a| a.track_genres.iter().all(|g| g.as_deref() == Some("Jazz")));
    write_library(&one, &specs, 2);
    let message = inspect_error(&one, &[]);
    assert!(
        message.contains("only one genre") && message.contains("Jazz"),
        "{message}"
    );

    let small = dir.path().join("Small");
    write_library(&small, &album_specs(3, 0), 3);
    let message = inspect_error(&small, &["--min-albums", "50"]);
    assert!(
        message.contains("no genre has 50 or more albums") && message.contains("--min-albums"),
        "{message}"
    );

    let (root, _) = made_up_library(&dir.path().join("full"));
    let bad_json = dir.path().join("bad.json");
    std::fs::write(&bad_json, "{\"Rock\": ").unwrap();
    let message = inspect_error(&root, &["--genre-map", bad_json.to_str().unwrap()]);
    assert!(message.contains("bad.json: not valid JSON"), "{message}");
    let typo = dir.path().join("typo.json");
    std::fs::write(&typo, r#"{"Alternative Rock": "Rokc"}"#).unwrap();
    let message = inspect_error(&root, &["--genre-map", typo.to_str().unwrap()]);
    assert!(
        message.contains("typo.json")
            && message.contains("key \"Alternative Rock\" maps to \"Rokc\""),
        "{message}"
    );
}
