//! The data layer end to end: every layout, stratified splits and `covergenre-train --inspect`
//! (decoding and the cache: tests/decode.rs).
//! Images are made by the tests; the covers-v1 checks skip when ../shared is absent.

mod common;

use common::{genre_cover, genre_folders, split_folders, write_image};
use covergenre::data::discover::{discover, DiscoverOptions};
use covergenre::data::split::{stratified_holdout, stratified_split};
use covergenre::data::{Layout, Sample, Split};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn counts(dataset: &covergenre::data::Dataset, split: Split) -> BTreeMap<String, usize> {
    dataset
        .counts(split)
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect()
}

fn total(dataset: &covergenre::data::Dataset) -> usize {
    Split::ALL.iter().map(|&s| dataset.split(s).len()).sum()
}

// ---------------------------------------------------------------- layouts

#[test]
fn genre_folders_get_mumu_genres_and_a_generated_stratified_split() {
    let dir = tempfile::tempdir().unwrap();
    genre_folders(dir.path(), &["country", "metal"], 20, 16, 1);
    std::fs::write(dir.path().join("metal/.DS_Store"), b"junk").unwrap();
    std::fs::write(dir.path().join("metal/notes.txt"), b"not a cover").unwrap();

    let dataset = discover(dir.path(), &DiscoverOptions::default()).unwrap();
    assert_eq!(dataset.layout, Layout::GenreFolders);
    assert!(dataset.generated_splits);
    assert_eq!(
        dataset.genres.len(),
        12,
        "a MUMU subset widens to all 12 genres"
    );
    assert_eq!(total(&dataset), 40);
    let expected = |n| BTreeMap::from([("country".to_string(), n), ("metal".to_string(), n)]);
    assert_eq!(counts(&dataset, Split::Train), expected(16));
    assert_eq!(counts(&dataset, Split::Dev), expected(2));
    assert_eq!(counts(&dataset, Split::Test), expected(2));
    let metal = dataset.genres.index_of("metal").unwrap();
    assert!(dataset
        .split(Split::Dev)
        .iter()
        .all(|s| (s.label == metal) == s.path.starts_with(dir.path().join("metal"))));
    assert_eq!(
        dataset.skipped.len(),
        1,
        "hidden files are ignored: {:?}",
        dataset.skipped
    );
    assert!(dataset.skipped[0].path.ends_with("metal/notes.txt"));
    assert_eq!(dataset.skipped[0].reason, "not an image file extension");
}

#[test]
fn other_genre_sets_keep_their_own_sorted_names() {
    let dir = tempfile::tempdir().unwrap();
    genre_folders(dir.path(), &["polka", "chiptune"], 5, 8, 1);
    let dataset = discover(dir.path(), &DiscoverOptions::default()).unwrap();
    assert_eq!(dataset.genres.slugs(), ["chiptune", "polka"]);
    assert_eq!(total(&dataset), 10);
}

#[test]
fn split_folders_with_val_are_read_as_found() {
    let dir = tempfile::tempdir().unwrap();
    split_folders(dir.path(), &["jazz", "reggae"], [6, 2, 3], 8);
    std::fs::rename(dir.path().join("dev"), dir.path().join("val")).unwrap();

    let dataset = discover(dir.path(), &DiscoverOptions::default()).unwrap();
    assert_eq!(dataset.layout, Layout::SplitFolders);
    assert!(!dataset.generated_splits);
    for (split, n) in [(Split::Train, 6), (Split::Dev, 2), (Split::Test, 3)] {
        let expected = BTreeMap::from([("jazz".to_string(), n), ("reggae".to_string(), n)]);
        assert_eq!(counts(&dataset, split), expected, "{split:?}");
    }
    assert!(dataset.split(Split::Dev)[0]
        .path
        .starts_with(dir.path().join("val")));
}

#[test]
fn split_folders_without_dev_hold_dev_out_of_train_only() {
    let dir = tempfile::tempdir().unwrap();
    genre_folders(&dir.path().join("train"), &["metal"], 20, 8, 1);
    genre_folders(&dir.path().join("test"), &["metal"], 4, 8, 2);
    let dataset = discover(dir.path(), &DiscoverOptions::default()).unwrap();
    assert!(dataset.generated_splits);
    assert_eq!(dataset.split(Split::Train).len(), 18);
    assert_eq!(dataset.split(Split::Dev).len(), 2);
    assert_eq!(
        dataset.split(Split::Test).len(),
        4,
        "the test split on disk is untouched"
    );
    assert!(dataset
        .split(Split::Dev)
        .iter()
        .all(|s| s.path.starts_with(dir.path().join("train"))));
}

#[test]
fn a_lone_train_folder_is_a_split_layout_with_generated_dev_and_test() {
    let dir = tempfile::tempdir().unwrap();
    genre_folders(&dir.path().join("train"), &["metal"], 10, 8, 1);
    let dataset = discover(dir.path(), &DiscoverOptions::default()).unwrap();
    assert_eq!(dataset.layout, Layout::SplitFolders);
    assert!(dataset.generated_splits);
    let sizes = Split::ALL.map(|s| dataset.split(s).len());
    assert_eq!(sizes, [8, 1, 1]);
}

/// The study's layout for one split: `<root>/<split>/images/NN.png` + `genres/y_<split>.npy`.
fn study_split(root: &Path, split: &str, labels: &[usize]) -> PathBuf {
    for (i, &label) in labels.iter().enumerate() {
        let path = root.join(split).join("images").join(format!("{i:02}.png"));
        write_image(&path, &genre_cover(label, i as u64, 8));
    }
    let npy = root
        .join(split)
        .join("genres")
        .join(format!("y_{split}.npy"));
    std::fs::create_dir_all(npy.parent().unwrap()).unwrap();
    npy
}

#[test]
fn study_npy_layout_reads_integer_ids_and_one_hot_rows() {
    let dir = tempfile::tempdir().unwrap();
    let train_labels = [3, 8, 8, 0, 11, 3];
    let ids = study_split(dir.path(), "train", &train_labels);
    let ids_i64: Vec<i64> = train_labels.iter().map(|&l| l as i64).collect();
    npyz::to_file_1d(&ids, ids_i64).unwrap();

    let val_labels = [8, 3];
    let one_hot_path = study_split(dir.path(), "val", &val_labels);
    let rows: Vec<f32> = val_labels
        .iter()
        .flat_map(|&l| (0..12).map(move |g| if g == l { 1.0 } else { 0.0 }))
        .collect();
    write_npy_2d(&one_hot_path, &rows, 12);
    let test_labels = [0u8, 11];
    let test_ids = study_split(dir.path(), "test", &[0, 11]);
    npyz::to_file_1d(&test_ids, test_labels.to_vec()).unwrap();

    let dataset = discover(dir.path(), &DiscoverOptions::default()).unwrap();
    assert_eq!(dataset.layout, Layout::StudyNpy);
    assert!(!dataset.generated_splits);
    let labels = |s| dataset.split(s).iter().map(|s| s.label).collect::<Vec<_>>();
    assert_eq!(labels(Split::Train), train_labels);
    assert_eq!(labels(Split::Dev), val_labels);
    assert_eq!(labels(Split::Test), [0, 11]);
    assert!(dataset.split(Split::Train)[1]
        .path
        .ends_with("train/images/01.png"));
}

fn write_npy_2d(path: &Path, values: &[f32], cols: u64) {
    use npyz::WriterBuilder;
    let rows = values.len() as u64 / cols;
    let mut writer = npyz::WriteOptions::<f32>::new()
        .default_dtype()
        .shape(&[rows, cols])
        .writer(std::fs::File::create(path).unwrap())
        .begin_nd()
        .unwrap();
    writer.extend(values.iter().copied()).unwrap();
    writer.finish().unwrap();
}

#[test]
fn study_npy_count_mismatch_names_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let npy = study_split(dir.path(), "train", &[1, 2, 3]);
    npyz::to_file_1d(&npy, vec![1i32, 2]).unwrap();
    let error = discover(dir.path(), &DiscoverOptions::default()).unwrap_err();
    let message = format!("{error:#}");
    assert!(
        message.contains("y_train.npy") && message.contains("has 2 labels"),
        "{message}"
    );
    assert!(
        message.contains("train/images") && message.contains("3 images"),
        "{message}"
    );
}

#[test]
fn csv_manifest_resolves_paths_reads_splits_and_lists_bad_rows() {
    let dir = tempfile::tempdir().unwrap();
    genre_folders(&dir.path().join("img"), &["a", "b"], 3, 8, 1);
    let csv = "path,genre,split\n\
               img/a/000.png,Country,train\n\
               img/a/001.png,country,train\n\
               img/b/000.png,Metal,train\n\
               img/b/001.png,metal,test\n\
               img/a/002.png,country,dev\n\
               img/b/002.png,metal,holdout\n\
               img/missing.png,metal,train\n";
    let manifest = dir.path().join("covers.csv");
    std::fs::write(&manifest, csv).unwrap();

    let dataset = discover(&manifest, &DiscoverOptions::default()).unwrap();
    assert_eq!(dataset.layout, Layout::CsvManifest);
    assert_eq!(
        dataset.genres.len(),
        12,
        "MUMU names give the MUMU genre set"
    );
    assert_eq!(dataset.split(Split::Train).len(), 3);
    assert_eq!(
        dataset.split(Split::Test)[0].path,
        dir.path().join("img/b/001.png")
    );
    assert_eq!(
        dataset.split(Split::Dev)[0].label,
        3,
        "country is MUMU label 3"
    );
    let reasons: Vec<&str> = dataset.skipped.iter().map(|s| s.reason.as_str()).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons[0].contains("unknown split 'holdout'"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("not found"), "{reasons:?}");
    assert_eq!(dataset.skipped[1].path, dir.path().join("img/missing.png"));
}

#[test]
fn manifest_csv_in_a_folder_with_its_own_genres_and_no_split_column() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("genre,path\n");
    for (genre, name) in [(0, "cats"), (1, "dogs")] {
        for i in 0..10 {
            let path = format!("{name}-{i}.jpg");
            write_image(&dir.path().join(&path), &genre_cover(genre, i, 8));
            csv.push_str(&format!("{name},{path}\n"));
        }
    }
    std::fs::write(dir.path().join("manifest.csv"), csv).unwrap();
    let dataset = discover(dir.path(), &DiscoverOptions::default()).unwrap();
    assert_eq!(dataset.layout, Layout::CsvManifest);
    assert_eq!(dataset.genres.slugs(), ["cats", "dogs"]);
    assert!(dataset.generated_splits);
    assert_eq!(dataset.split(Split::Train).len(), 16);
    assert_eq!(dataset.split(Split::Dev).len(), 2);
}

#[test]
fn split_folders_win_over_a_manifest_beside_them() {
    let dir = tempfile::tempdir().unwrap();
    split_folders(dir.path(), &["metal"], [2, 1, 1], 8);
    std::fs::write(dir.path().join("manifest.csv"), "split,genre,file\n").unwrap();
    let dataset = discover(dir.path(), &DiscoverOptions::default()).unwrap();
    assert_eq!(dataset.layout, Layout::SplitFolders);
}

#[test]
fn discovery_errors_name_the_root_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let message = format!(
        "{:#}",
        discover(&missing, &DiscoverOptions::default()).unwrap_err()
    );
    assert!(
        message.contains("nowhere") && message.contains("No such file"),
        "{message}"
    );

    let message = format!(
        "{:#}",
        discover(dir.path(), &DiscoverOptions::default()).unwrap_err()
    );
    assert!(
        message.contains(&dir.path().display().to_string()),
        "{message}"
    );
    assert!(message.contains("no dataset found"), "{message}");

    let bad_csv = dir.path().join("bad.csv");
    std::fs::write(&bad_csv, "file,label\nx.jpg,metal\n").unwrap();
    let message = format!(
        "{:#}",
        discover(&bad_csv, &DiscoverOptions::default()).unwrap_err()
    );
    assert!(
        message.contains("bad.csv") && message.contains("`path` and `genre`"),
        "{message}"
    );
}

// ---------------------------------------------------------------- splits

fn labelled(per_label: &[usize]) -> Vec<Sample> {
    let mut samples = Vec::new();
    for (label, &n) in per_label.iter().enumerate() {
        for i in 0..n {
            samples.push(Sample {
                path: PathBuf::from(format!("{label}/{i}.jpg")),
                label,
            });
        }
    }
    samples
}

#[test]
fn stratified_split_is_deterministic_for_a_seed_and_varies_across_seeds() {
    let samples = labelled(&[50, 30, 7]);
    let a = stratified_split(samples.clone(), &[0.8, 0.1, 0.1], 42);
    let b = stratified_split(samples.clone(), &[0.8, 0.1, 0.1], 42);
    let c = stratified_split(samples.clone(), &[0.8, 0.1, 0.1], 43);
    assert_eq!(a, b);
    assert_ne!(a[1], c[1], "another seed picks other dev covers");
    for part in &a {
        let mut sorted = part.clone();
        sorted.sort_by(|x, y| x.path.cmp(&y.path));
        let positions: Vec<usize> = part
            .iter()
            .map(|s| samples.iter().position(|x| x == s).unwrap())
            .collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "parts keep input order"
        );
    }
    let per_label = |part: &[Sample]| {
        (0..3)
            .map(|l| part.iter().filter(|s| s.label == l).count())
            .collect::<Vec<_>>()
    };
    assert_eq!(per_label(&a[0]), [40, 24, 5]);
    assert_eq!(per_label(&a[1]), [5, 3, 1]);
    assert_eq!(per_label(&a[2]), [5, 3, 1]);

    let (kept, held) = stratified_holdout(&samples, 0.2, 42);
    assert_eq!((kept.len(), held.len()), (70, 17));
    assert_eq!(stratified_holdout(&samples, 0.2, 42).1, held);
}

#[test]
fn generated_splits_follow_the_seed_option() {
    let dir = tempfile::tempdir().unwrap();
    genre_folders(dir.path(), &["metal", "jazz"], 30, 4, 1);
    let with_seed = |seed| {
        discover(
            dir.path(),
            &DiscoverOptions {
                seed,
                ..DiscoverOptions::default()
            },
        )
        .unwrap()
        .split(Split::Dev)
        .to_vec()
    };
    assert_eq!(with_seed(1), with_seed(1));
    assert_ne!(with_seed(1), with_seed(2));
}

// ---------------------------------------------------------------- inspect

fn inspect(data: &Path, format: &str) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_covergenre-train"))
        .args([
            "--data".as_ref(),
            data.as_os_str(),
            "--inspect".as_ref(),
            "--format".as_ref(),
            format.as_ref(),
        ])
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn inspect_prints_json_and_table_and_exits_3_when_files_were_skipped() {
    let dir = tempfile::tempdir().unwrap();
    split_folders(dir.path(), &["metal", "country"], [3, 1, 1], 8);
    std::fs::write(dir.path().join("train/metal/readme.txt"), b"x").unwrap();

    let (code, stdout, stderr) = inspect(dir.path(), "json");
    assert_eq!(code, 3, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["layout"], "split-folders");
    assert_eq!(json["splits"]["train"]["metal"], 3);
    assert_eq!(json["splits"]["test"]["country"], 1);
    assert_eq!(json["splits"]["dev"]["folk"], 0);
    assert_eq!(json["skipped"][0]["reason"], "not an image file extension");
    assert!(json["skipped"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("readme.txt"));

    let (_, table, _) = inspect(dir.path(), "table");
    assert!(table.contains("split-folders layout"), "{table}");
    assert!(
        table.contains("readme.txt: not an image file extension"),
        "{table}"
    );

    let (code, _, stderr) = inspect(&dir.path().join("nowhere"), "json");
    assert_eq!(code, 2);
    assert!(stderr.contains("nowhere"), "{stderr}");
}

#[test]
fn help_shows_examples() {
    let output = Command::new(env!("CARGO_BIN_EXE_covergenre-train"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(
        help.contains("EXAMPLES") && help.contains("--inspect --format json"),
        "{help}"
    );
}

// ---------------------------------------------------------------- covers-v1

const COVERS_V1: [(&str, [u64; 3]); 12] = [
    ("alternative-rock", [641, 80, 80]),
    ("christian", [10, 1, 1]),
    ("classical", [124, 15, 15]),
    ("country", [835, 104, 104]),
    ("dance-electronic", [570, 71, 71]),
    ("folk", [0, 0, 0]),
    ("jazz", [194, 24, 24]),
    ("latin-music", [20, 3, 3]),
    ("metal", [524, 65, 65]),
    ("r-and-b", [11, 1, 1]),
    ("rap-hip-hop", [791, 99, 99]),
    ("reggae", [51, 6, 6]),
];

#[test]
fn inspect_reports_the_readme_counts_of_covers_v1() {
    let Some(covers) = common::shared_covers("inspect_reports_the_readme_counts_of_covers_v1")
    else {
        return;
    };
    let (code, stdout, stderr) = inspect(&covers, "json");
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["layout"], "split-folders");
    assert_eq!(json["skipped"].as_array().unwrap().len(), 0);
    for (genre, per_split) in COVERS_V1 {
        for (split, expected) in ["train", "dev", "test"].iter().zip(per_split) {
            assert_eq!(json["splits"][split][genre], expected, "{split}/{genre}");
        }
    }
    let totals: Vec<u64> = ["train", "dev", "test"]
        .iter()
        .map(|s| {
            json["splits"][s]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_u64().unwrap())
                .sum()
        })
        .collect();
    assert_eq!(totals, [3771, 469, 469]);
}

#[test]
fn covers_v1_in_the_study_npy_layout_gives_identical_counts() {
    let Some(covers) =
        common::shared_covers("covers_v1_in_the_study_npy_layout_gives_identical_counts")
    else {
        return;
    };
    let folders = discover(&covers, &DiscoverOptions::default()).unwrap();
    let study = tempfile::tempdir().unwrap();
    for split in Split::ALL {
        let images = study.path().join(split.as_str()).join("images");
        std::fs::create_dir_all(&images).unwrap();
        // Numbered names: file-name order is the order the labels are written in.
        let mut ids = Vec::new();
        for (i, sample) in folders.split(split).iter().enumerate() {
            std::os::unix::fs::symlink(&sample.path, images.join(format!("{i:05}.jpg"))).unwrap();
            ids.push(sample.label as u8);
        }
        let npy = study
            .path()
            .join(split.as_str())
            .join("genres")
            .join(format!("y_{}.npy", split.as_str()));
        std::fs::create_dir_all(npy.parent().unwrap()).unwrap();
        npyz::to_file_1d(&npy, ids).unwrap();
    }
    let from_npy = discover(study.path(), &DiscoverOptions::default()).unwrap();
    assert_eq!(from_npy.layout, Layout::StudyNpy);
    assert_eq!(from_npy.genres, folders.genres);
    for split in Split::ALL {
        assert_eq!(from_npy.counts(split), folders.counts(split), "{split:?}");
    }
    assert_eq!(total(&from_npy), 4709);
    let (code, stdout, _) = inspect(study.path(), "json");
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["layout"], "study-npy");
    assert_eq!(json["splits"]["train"]["country"], 835);
}

/// Fuzzing finding (fuzz/ `npy_labels`): a 12-byte file whose version-3 header length field
/// says ~2 GB made npyz allocate 2 GB before reading. It is now refused with a clear error.
#[test]
fn npy_header_length_longer_than_the_file_is_refused_without_allocating_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("labels.npy");
    std::fs::write(&path, b"\x93NUMPY\x03\x00\x93NUv").unwrap();
    let error = covergenre::data::discover::read_npy_labels(&path, 13).unwrap_err();
    let text = format!("{error:#}");
    assert!(text.contains("labels.npy"), "{text}");
    assert!(
        text.contains("header says it is 1985302163 bytes long but the file has 12 bytes"),
        "{text}"
    );
}

/// Fuzzing finding: a 128-byte `.npy` whose header nests ~40 brackets kept npyz's recursive
/// header parser busy for seconds; such a header is refused before npyz sees it.
#[test]
fn npy_header_nested_deeply_is_refused_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("labels.npy");
    let text = format!("{}{}\n", "{".repeat(40), "}".repeat(40));
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(text.len() as u16).to_le_bytes());
    bytes.extend_from_slice(text.as_bytes());
    std::fs::write(&path, bytes).unwrap();
    let error = covergenre::data::discover::read_npy_labels(&path, 13).unwrap_err();
    let text = format!("{error:#}");
    assert!(text.contains("labels.npy"), "{text}");
    assert!(text.contains("nests brackets 40 levels deep"), "{text}");
}
