//! Memory bounds of `covergenre-classify` with a 260 px model (the shipped EfficientNet-Lite2):
//! a few hundred made-up covers classified in a child process whose peak resident memory is
//! read back from the kernel (wait4's rusage). These check memory, not time.

mod common;

use common::classify_output::parse_csv;
use common::{genre_cover, write_image};
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const COVERS: usize = 300;

/// The shipped model, as a file, so the run reads it as `--model` users do.
fn model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/covergenre.onnx")
}

/// `COVERS` made-up 300x300 JPEG covers (the size real covers come in), in six genres' colours.
fn covers(dir: &Path) -> BTreeSet<PathBuf> {
    (0..COVERS)
        .map(|i| {
            let path = dir.join(format!("{i:03}.jpg"));
            write_image(&path, &genre_cover(i % 6, i as u64, 300));
            path
        })
        .collect()
}

/// What a finished child run left: its exit status, its peak RSS in MB and its stderr.
struct Run {
    code: i32,
    peak_mb: f64,
    stderr: String,
}

/// Runs covergenre-classify with `args` and waits for it with wait4, which gives the peak
/// resident set of that one child (ru_maxrss, in KiB on Linux), unlike RUSAGE_CHILDREN, which
/// would mix in the other tests' children.
// The child is reaped by wait4, which std's Child cannot know of.
#[allow(clippy::zombie_processes)]
fn classify(args: &[&OsStr], log: &Path) -> Run {
    let child = Command::new(env!("CARGO_BIN_EXE_covergenre-classify"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child, not yet waited for; both pointers are to live locals.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
    assert!(libc::WIFEXITED(status), "killed by signal: status {status}");
    Run {
        code: libc::WEXITSTATUS(status),
        peak_mb: usage.ru_maxrss as f64 / 1024.0,
        stderr: std::fs::read_to_string(log).unwrap(),
    }
}

/// Classifies every made-up cover with `extra` arguments; checks the run classified each of
/// them exactly once, and returns its peak RSS in MB.
fn peak_of_full_run(extra: &[&str]) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("covers");
    let expected = covers(&images);
    let csv = dir.path().join("genres.csv");
    let model = model();
    let mut args: Vec<&OsStr> = vec![
        "--model".as_ref(),
        model.as_os_str(),
        "--threads".as_ref(),
        "2".as_ref(),
        "--format".as_ref(),
        "csv".as_ref(),
        "--output".as_ref(),
        csv.as_os_str(),
    ];
    args.extend(extra.iter().map(OsStr::new));
    args.push(images.as_os_str());
    let run = classify(&args, &dir.path().join("stderr.txt"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let records = parse_csv(&std::fs::read(&csv).unwrap()).unwrap();
    let classified: BTreeSet<PathBuf> = records.iter().map(|r| PathBuf::from(&r.path)).collect();
    assert_eq!(records.len(), COVERS, "one row per cover");
    assert_eq!(classified, expected, "every cover, each once");
    eprintln!("{extra:?}: peak {:.0} MB", run.peak_mb);
    run.peak_mb
}

#[test]
fn the_default_run_of_a_260px_model_peaks_at_500_mb_or_less() {
    let peak = peak_of_full_run(&[]);
    assert!(peak <= 500.0, "peak RSS {peak:.0} MB, bound 500 MB");
}

#[test]
fn max_memory_bounds_a_smaller_budget_too() {
    let peak = peak_of_full_run(&["--max-memory", "300"]);
    assert!(peak <= 300.0, "peak RSS {peak:.0} MB, --max-memory 300");
}

#[test]
fn budgets_that_cannot_work_are_refused_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let cover = dir.path().join("cover.jpg");
    write_image(&cover, &genre_cover(0, 1, 300));
    let log = dir.path().join("stderr.txt");
    let model = model();
    let run_with = |extra: &[&str]| {
        let mut args: Vec<&OsStr> = vec!["--model".as_ref(), model.as_os_str()];
        args.extend(extra.iter().map(OsStr::new));
        args.push(cover.as_os_str());
        classify(&args, &log)
    };
    let zero = run_with(&["--max-memory", "0"]);
    assert_eq!(zero.code, 2, "{}", zero.stderr);
    assert!(zero.stderr.contains("--max-memory"), "{}", zero.stderr);
    // Below what the program and the model take before any cover: refused with the least
    // budget that works, not run into an out-of-memory kill.
    let small = run_with(&["--max-memory", "100"]);
    assert_eq!(small.code, 2, "{}", small.stderr);
    assert!(
        small.stderr.contains("--max-memory 100")
            && small.stderr.contains("give at least --max-memory"),
        "{}",
        small.stderr
    );
    let both = run_with(&["--max-memory", "300", "--batch-size", "4"]);
    assert_eq!(both.code, 2, "{}", both.stderr);
    assert!(
        both.stderr.contains("--max-memory") && both.stderr.contains("--batch-size"),
        "{}",
        both.stderr
    );
}

#[test]
fn help_explains_max_memory_with_an_example() {
    let out = Command::new(env!("CARGO_BIN_EXE_covergenre-classify"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("--max-memory <MB>"), "{help}");
    assert!(
        help.contains("covergenre-classify --max-memory 300"),
        "{help}"
    );
}
