//! `--generate`: each binary prints its man page and its completion scripts for bash, zsh, fish
//! and PowerShell, and each names every flag the binary takes (read from the same clap
//! definition the binary parses with, so a flag added later is checked too).

use clap::CommandFactory;
use std::process::Command;

/// The binaries with their clap definitions.
fn binaries() -> Vec<(&'static str, clap::Command)> {
    let mut binaries = vec![
        (
            env!("CARGO_BIN_EXE_covergenre-classify"),
            covergenre::cli::classify::Args::command(),
        ),
        (
            env!("CARGO_BIN_EXE_covergenre-eval"),
            covergenre::cli::eval::Args::command(),
        ),
    ];
    #[cfg(feature = "train")]
    binaries.push((
        env!("CARGO_BIN_EXE_covergenre-train"),
        covergenre::cli::train::Args::command(),
    ));
    binaries
}

/// How an output of `what` spells the long flag `long`: roff escapes every hyphen of a man page,
/// fish names a long option with `-l`.
fn spelled(what: &str, long: &str) -> String {
    match what {
        "man" => format!("\\-\\-{}", long.replace('-', "\\-")),
        "complete-fish" => format!("-l {long}"),
        _ => format!("--{long}"),
    }
}

fn generate(binary: &str, what: &str) -> String {
    let out = Command::new(binary)
        .args(["--generate", what])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{binary} --generate {what}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("generated output is UTF-8")
}

#[test]
fn man_pages_and_completions_name_every_flag() {
    for (binary, command) in binaries() {
        let name = command.get_name().to_string();
        let longs: Vec<String> = command
            .get_arguments()
            .filter(|arg| !arg.is_hide_set())
            .filter_map(|arg| arg.get_long().map(String::from))
            .collect();
        assert!(longs.len() > 10, "{name}: only {} flags found", longs.len());
        for what in [
            "man",
            "complete-bash",
            "complete-zsh",
            "complete-fish",
            "complete-powershell",
        ] {
            let text = generate(binary, what);
            assert!(
                text.contains(&name),
                "{name} --generate {what} does not name {name}"
            );
            let missing: Vec<&String> = longs
                .iter()
                .filter(|long| !text.contains(&spelled(what, long)))
                .collect();
            assert!(
                missing.is_empty(),
                "{name} --generate {what} lacks {missing:?}"
            );
        }
        let man = generate(binary, "man");
        assert!(
            man.starts_with(".ie") || man.contains(".TH"),
            "{name}: not a roff man page"
        );
    }
}

#[test]
fn generate_goes_alone_and_names_its_choices() {
    let classify = env!("CARGO_BIN_EXE_covergenre-classify");
    let out = Command::new(classify)
        .args(["--generate", "man", "covers/"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "--generate with a path must be refused"
    );
    let out = Command::new(classify)
        .args(["--generate", "complete-tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for choice in [
        "man",
        "complete-bash",
        "complete-zsh",
        "complete-fish",
        "complete-powershell",
    ] {
        assert!(
            stderr.contains(choice),
            "the error does not offer {choice}: {stderr}"
        );
    }
}
