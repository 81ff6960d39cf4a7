//! Album discovery on big folders (not a test): a folder of N images and one track, for
//! N = 1,000 and 10,000, found by `data::albums`, beside the baseline measured in the same run:
//! listing the folder and sorting its paths, which any discovery pays. The front-cover rule
//! judges names only (no image is opened unless images tie for the best), so discovery stays a
//! small constant times the listing as N grows. A last line times 1,000 images that all tie
//! (`cover 0001.jpg`, ...): the one case where headers are read.
//!
//!     cargo bench --bench albums

use covergenre::data::albums::album_at;
use std::path::Path;
use std::time::Instant;

/// Makes `folder` with `images` files named by `name` (tiny, never decoded) and one track.
fn make(folder: &Path, images: usize, name: fn(usize) -> String) {
    std::fs::create_dir_all(folder).unwrap();
    for i in 0..images {
        std::fs::write(folder.join(name(i)), b"\xff\xd8").unwrap();
    }
    std::fs::write(folder.join("01.mp3"), b"ID3").unwrap();
}

/// Seconds to find the album in `folder`, best of five.
fn time(folder: &Path) -> f64 {
    best_of_five(|| {
        let album = album_at(folder).expect("an album").expect("readable");
        assert_eq!(album.tracks.len(), 1);
    })
}

/// Seconds to list `folder` and sort its paths, best of five: the baseline any discovery pays.
fn listing(folder: &Path) -> f64 {
    best_of_five(|| {
        let mut paths: Vec<_> = std::fs::read_dir(folder)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.file_type().unwrap().is_file(), e.path())
            })
            .collect();
        paths.sort();
    })
}

fn best_of_five(mut run: impl FnMut()) -> f64 {
    (0..5)
        .map(|_| {
            let started = Instant::now();
            run();
            started.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpu
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split(':').nth(1));
    eprintln!("cpu: {}", model.unwrap_or("unknown").trim());
    let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
    let scans = |i: usize| format!("scan {i:05}.jpg");
    let (small, big) = (dir.path().join("1k"), dir.path().join("10k"));
    make(&small, 1_000, scans);
    make(&big, 10_000, scans);
    let tied = dir.path().join("tied");
    make(&tied, 1_000, |i| format!("cover {i:04}.jpg"));
    let (t_small, t_big, t_tied) = (time(&small), time(&big), time(&tied));
    let (l_small, l_big) = (listing(&small), listing(&big));
    println!(
        "1,000 images + 1 track:  {:.2} ms ({:.2} ms listing the folder alone)",
        t_small * 1e3,
        l_small * 1e3
    );
    println!(
        "10,000 images + 1 track: {:.2} ms ({:.2} ms listing the folder alone)",
        t_big * 1e3,
        l_big * 1e3
    );
    println!(
        "discovery / listing alone: {:.1}x at 1,000, {:.1}x at 10,000 (a constant ratio: discovery costs what listing costs, per file)",
        t_small / l_small,
        t_big / l_big
    );
    println!(
        "10x the images: {:.1}x the time, where listing alone takes {:.1}x",
        t_big / t_small,
        l_big / l_small
    );
    println!(
        "1,000 images tied for the cover (headers read): {:.2} ms, {:.1}x the untied 1,000",
        t_tied * 1e3,
        t_tied / t_small
    );
}
