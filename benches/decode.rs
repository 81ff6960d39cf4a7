//! Decode + resize throughput on the real covers (not a test): every cover of covers-v1
//! decoded and resized to 128 px on a fixed number of threads, then loaded again from the
//! memory cache.
//!
//!     COVERGENRE_SHARED_DATA=../shared/data/covers-v1 cargo bench --bench decode -- [threads] [size]

use covergenre::data::{discover, load_samples, DecodeLimits, DiscoverOptions, ImageCache, Split};
use covergenre::preprocess::{Normalisation, Preprocess};
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let threads: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    let size: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(128);
    let covers = std::env::var_os("COVERGENRE_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/covers-v1")
        });
    if !covers.is_dir() {
        eprintln!("SKIPPED: {} not found", covers.display());
        return;
    }
    // Only ratios within one run compare: say which machine this was.
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpu
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split(':').nth(1));
    eprintln!("cpu: {}", model.unwrap_or("unknown").trim());
    let dataset = discover(&covers, &DiscoverOptions::default()).expect("covers-v1 is readable");
    let samples: Vec<_> = Split::ALL
        .iter()
        .flat_map(|&s| dataset.split(s).to_vec())
        .collect();
    let pre = Preprocess::square(size, Normalisation::UNIT);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let cache = ImageCache::new(None);
    for pass in ["decode+resize", "memory cache"] {
        let start = Instant::now();
        let loaded =
            pool.install(|| load_samples(&samples, &pre, &cache, &DecodeLimits::default(), pass));
        let seconds = start.elapsed().as_secs_f64();
        println!(
            "{pass:>14}: {} covers at {size} px on {threads} threads in {seconds:.2} s = {:.0} covers/s ({} skipped)",
            loaded.len(),
            loaded.len() as f64 / seconds,
            loaded.skipped.len()
        );
    }
}
