//! The independent tag reader of the tagging tests: Python's mutagen through tests/tagcheck.py
//! (never lofty, the writer under test).

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// mutagen's view of each file (format, every tag as text, audio hash), keyed by path.
pub fn mutagen(paths: &[PathBuf]) -> BTreeMap<PathBuf, Value> {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".deps/venv/bin/python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tagcheck.py");
    let out = Command::new(&python)
        .arg(&script)
        .args(paths)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{} cannot run ({e}): run scripts/setup.sh, which installs mutagen",
                python.display()
            )
        });
    assert!(
        out.status.success(),
        "tagcheck.py failed (is mutagen installed? run scripts/setup.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    paths.iter().cloned().zip(list).collect()
}

/// The key mutagen shows a field under, per format (`None`: the standard genre field).
pub fn key_for(file: &Value, field: Option<&str>) -> String {
    match (file["format"].as_str().unwrap(), field) {
        ("MP3" | "AIFF" | "WAVE", None) => "TCON".into(),
        ("MP3" | "AIFF" | "WAVE", Some(name)) => format!("TXXX:{name}"),
        ("MP4", None) => "\u{a9}gen".into(),
        ("MP4", Some(name)) => format!("----:com.apple.iTunes:{name}"),
        (_, None) => "genre".into(),
        (_, Some(name)) => name.to_lowercase(),
    }
}

/// A field's text as mutagen reads it (several values joined with `|`).
pub fn value_of(file: &Value, field: Option<&str>) -> Option<String> {
    file["tags"][key_for(file, field)]
        .as_str()
        .map(String::from)
}

/// The bytes of each file, to compare with after an undo.
pub fn bytes_of(paths: &[PathBuf]) -> BTreeMap<PathBuf, Vec<u8>> {
    paths
        .iter()
        .map(|p| (p.clone(), std::fs::read(p).unwrap()))
        .collect()
}

/// Asserts every file holds exactly the bytes it held in `before`.
pub fn assert_same_bytes(before: &BTreeMap<PathBuf, Vec<u8>>, context: &str) {
    for (path, bytes) in before {
        assert!(
            std::fs::read(path).unwrap() == *bytes,
            "{context}{}: not byte for byte as before",
            path.display()
        );
    }
}
