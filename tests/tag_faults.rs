//! Tagging when things go wrong (`covergenre-classify --library --tag`) on the made-up library
//! of [`common::tag_library`]: a read-only folder or mount, a run or an undo killed at any
//! point, a missing or broken journal. Every file stays whole; a rerun finishes the work.

mod common;

use common::snapshot;
use common::tag_library::*;
use common::tagcheck::mutagen;
use common::text;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

#[test]
fn a_read_only_folder_is_reported_and_left_alone() {
    let lib = library();
    let folder = lib.album("A/Cover Only");
    let before = snapshot(&folder);
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o555)).unwrap();
    let out = lib.apply(&[], "ro.jsonl");
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}: read-only folder",
            folder.join("01.flac").display()
        )),
        "{stderr}"
    );
    assert_eq!(snapshot(&folder), before);
}

/// Starts an `--apply` that pauses at `stage` of its n-th file, waits for the pause, kills it
/// with SIGKILL. Returns false when the run ended before reaching that point.
fn kill_at(lib: &Library, stage: &str, n: usize, journal: &str) -> bool {
    let journal = lib.journal(journal);
    let args: Vec<&OsStr> = ["--apply", "--journal"]
        .iter()
        .map(OsStr::new)
        .chain([journal.as_os_str()])
        .collect();
    let mut child = lib
        .command(&args)
        .env("COVERGENRE_TEST_PAUSE", format!("{stage}:{n}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    killed_when_paused(&mut child)
}

#[test]
fn a_run_killed_at_any_point_leaves_every_file_whole_and_a_rerun_finishes() {
    let expected: BTreeMap<&str, &str> = expected_albums().into();
    for (stage, n) in [
        ("copied", 1),
        ("edited", 2),
        ("synced", 4),
        ("renamed", 3),
        ("copied", 6),
        ("renamed", 7),
    ] {
        let lib = library();
        let tracks = lib.tracks();
        let bytes_before = snapshot(&lib.root);
        let before = mutagen(&tracks);
        assert!(
            kill_at(&lib, stage, n, "killed.jsonl"),
            "the run reached {stage} {n}"
        );
        let now = mutagen(&tracks);
        let mut new_files = 0;
        for track in &tracks {
            let value = expected.get(album_of(&lib, track).as_str()).copied();
            assert!(
                now[track].get("error").is_none(),
                "{stage} {n}: {} is broken: {}",
                track.display(),
                now[track]
            );
            if now[track]["tags"] != before[track]["tags"] {
                assert_changed_only(track, &before[track], &now[track], None, value);
                new_files += 1;
            }
            assert_eq!(now[track]["audio"], before[track]["audio"]);
        }
        let done_before_kill = if stage == "renamed" { n } else { n - 1 };
        assert_eq!(
            new_files, done_before_kill,
            "{stage} {n}: old or new, nothing between"
        );
        let rerun = lib.apply(&[], "rerun.jsonl");
        let stderr = text(&rerun.stderr);
        assert_eq!(rerun.status.code(), Some(0), "{stderr}");
        if stage != "renamed" {
            assert!(
                stderr.contains("(left by a killed run)"),
                "{stage}: the leftover is removed: {stderr}"
            );
        }
        assert!(files(&lib.root)
            .iter()
            .all(|p| !p.to_string_lossy().contains("covergenre-tmp")));
        let finished = mutagen(&tracks);
        for track in &tracks {
            let value = expected
                .get(album_of(&lib, track).as_str())
                .filter(|_| !track.ends_with("01 locked.flac"))
                .copied();
            assert_changed_only(track, &before[track], &finished[track], None, value);
        }
        // Undo both runs, newest first: everything as it was.
        for journal in ["rerun.jsonl", "killed.jsonl"] {
            let undone = lib.undo(journal);
            assert_eq!(undone.status.code(), Some(0), "{}", text(&undone.stderr));
        }
        assert_tags_as_before(&tracks, &before, &format!("{stage} {n}: "));
        assert_bytes_as_before(&tracks, &bytes_before, &format!("{stage} {n}: "));
    }
}

#[test]
fn an_undo_killed_half_way_finishes_when_run_again() {
    let lib = library();
    let tracks = lib.tracks();
    let bytes_before = snapshot(&lib.root);
    let before = mutagen(&tracks);
    let out = lib.apply(&[], "run.jsonl");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut child = Command::new(env!("CARGO_BIN_EXE_covergenre-classify"))
        .arg("--undo")
        .arg(lib.journal("run.jsonl"))
        .env("COVERGENRE_TEST_PAUSE", "edited:3")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let paused = killed_when_paused(&mut child);
    assert!(paused);
    let again = lib.undo("run.jsonl");
    let stderr = text(&again.stderr);
    assert_eq!(again.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("restored 5 file(s), 2 already as before"),
        "{stderr}"
    );
    assert!(stderr.contains("(left by a killed run)"), "{stderr}");
    assert_tags_as_before(&tracks, &before, "");
    assert_bytes_as_before(&tracks, &bytes_before, "");
}

#[test]
fn undo_of_a_missing_or_broken_journal_says_which_and_why() {
    let lib = library();
    let missing = lib.undo("nope.jsonl");
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing.stderr).contains("nope.jsonl"),
        "{}",
        text(&missing.stderr)
    );
    std::fs::write(lib.journal("broken.jsonl"), "{\"file\":\"x\"}\n").unwrap();
    let broken = lib.undo("broken.jsonl");
    assert_eq!(broken.status.code(), Some(2));
    assert!(
        text(&broken.stderr).contains("line 1"),
        "{}",
        text(&broken.stderr)
    );
}

#[test]
fn a_library_on_a_read_only_mount_is_reported_file_by_file_and_left_whole() {
    let lib = library();
    let before = snapshot(&lib.root);
    // A private mount namespace with the library bound read-only over itself (needs root).
    let probe = Command::new("unshare").args(["-m", "true"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED a_library_on_a_read_only_mount: cannot make a mount namespace here (needs root and unshare)");
        return;
    }
    let journal = lib.journal("ro-mount.jsonl");
    let script = "mount --bind -o ro \"$1\" \"$1\" && exec \"$2\" --model \"$3\" --threads 2 --min-confidence 0.5 --library --tag --apply --journal \"$4\" \"$1\"";
    let out = Command::new("unshare")
        .args(["-m", "sh", "-c", script, "sh"])
        .arg(&lib.root)
        .arg(env!("CARGO_BIN_EXE_covergenre-classify"))
        .arg(&lib.model)
        .arg(&journal)
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for track in [
        "A/Mixed/01 One.mp3",
        "A/Cover Only/02.m4a",
        "B/Read Only/02 open.mp3",
    ] {
        let path = lib.album(track).display().to_string();
        let line = stderr
            .lines()
            .find(|l| l.contains(&path))
            .unwrap_or_else(|| panic!("{path} named in:\n{stderr}"));
        assert!(line.contains("read-only file system"), "{line}");
    }
    assert!(
        stderr.contains("tagged 0 album(s) (0 track(s), 8 track(s) left alone)"),
        "{stderr}"
    );
    assert_eq!(
        snapshot(&lib.root),
        before,
        "nothing written, nothing left behind"
    );
}

/// Waits until `child` says it paused at its `COVERGENRE_TEST_PAUSE` point (or ends), then
/// kills it (SIGKILL); whether it reached the point.
fn killed_when_paused(child: &mut std::process::Child) -> bool {
    let paused = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .any(|line| line.starts_with("covergenre-test: paused"));
    child.kill().ok();
    child.wait().unwrap();
    paused
}
