//! `covergenre-train` is a launcher: it checks that libtorch is installed before running the
//! trainer (which links libtorch), so a missing libtorch is named with the command that
//! installs it instead of the dynamic loader's "error while loading shared libraries".
#![cfg(feature = "train")]

use std::process::{Command, Output};

fn launcher(args: &[&str], libtorch: Option<&std::path::Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_covergenre-train"));
    command.args(args);
    if let Some(dir) = libtorch {
        command.env("COVERGENRE_LIBTORCH_LIB", dir);
    }
    command.output().unwrap()
}

#[test]
fn a_missing_libtorch_is_named_with_the_command_that_installs_it() {
    let empty = tempfile::tempdir().unwrap();
    let out = launcher(&["--list-variants"], Some(empty.path()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("libtorch not found"), "{stderr}");
    assert!(stderr.contains("scripts/setup.sh`"), "{stderr}");
    assert!(
        stderr.contains(&empty.path().display().to_string()),
        "says where it looked: {stderr}"
    );
    assert!(
        !stderr.contains("error while loading shared libraries"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn the_launcher_itself_does_not_link_libtorch() {
    // A binary linking libtorch names libc10.so among its needed libraries; the launcher must
    // start on a machine without libtorch to say what to do, so it cannot need it.
    let launcher = std::fs::read(env!("CARGO_BIN_EXE_covergenre-train")).unwrap();
    let trainer = std::fs::read(env!("CARGO_BIN_EXE_covergenre-train-libtorch")).unwrap();
    let names_c10 = |bytes: &[u8]| bytes.windows(9).any(|w| w == b"libc10.so");
    assert!(
        names_c10(&trainer),
        "the check itself must see libtorch's libraries"
    );
    assert!(!names_c10(&launcher));
}

#[test]
fn with_libtorch_present_the_launcher_runs_the_trainer_with_the_same_arguments() {
    let out = launcher(&["--list-variants"], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.lines().any(|l| l.starts_with("baseline ")),
        "{listing}"
    );
    // The trainer's usage names the command that was typed, not the trainer's file.
    let help = launcher(&["--help"], None);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("Usage: covergenre-train [OPTIONS]"), "{help}");
    // An explicit libtorch folder is used (and put on the trainer's library path).
    match option_env!("COVERGENRE_LIBTORCH_LIB_DEFAULT") {
        Some(lib) => {
            let out = launcher(&["--list-variants"], Some(std::path::Path::new(lib)));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(0), "{stderr}");
        }
        None => eprintln!("skipped the COVERGENRE_LIBTORCH_LIB check: built without LIBTORCH"),
    }
    // Bad arguments still get clap's message and exit code from the trainer.
    let bad = launcher(&["--device", "abacus", "--data", "."], None);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid value 'abacus'"));
}
