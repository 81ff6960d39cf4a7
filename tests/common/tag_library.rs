//! The made-up music library the tagging tests start from ([`library`]), the commands they
//! run on it, and their checks: what was written is read back with Python's mutagen
//! (tests/tagcheck.py), never with the writer under test.

use super::audio::{self, Track};
use super::colour::{colour_model, cover, png_bytes};
use super::put;
use super::tagcheck::{key_for, mutagen};
use serde_json::Value;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const RED: usize = 0;
pub const GREEN: usize = 1;
pub const BLUE: usize = 2;

pub struct Library {
    pub dir: tempfile::TempDir,
    pub model: PathBuf,
    pub root: PathBuf,
}

/// The library every test starts from (each gets its own copy):
/// - `A/Mixed`: MP3, FLAC, Opus and M4A tracks, all with a red embedded cover;
/// - `A/Cover Only`: a green cover.jpg, FLAC and M4A tracks without pictures;
/// - `B/Has Genre`: blue cover.png, an MP3 already tagged "Jazz", an untagged Opus;
/// - `B/Read Only`: red cover, one read-only FLAC and one writable MP3;
/// - `B/Bare`: a FLAC with no picture and no cover file;
/// - `B/Grey`: a grey cover (1/3 each: under --min-confidence 0.5).
pub fn library() -> Library {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("colour.onnx");
    std::fs::write(&model, colour_model()).unwrap();
    let root = dir.path().join("Music");
    let red = Some(png_bytes(RED));
    let mixed = root.join("A/Mixed");
    put(
        &mixed.join("01 One.mp3"),
        &audio::mp3(&Track::new("One", red.clone())),
    );
    put(
        &mixed.join("02 Two.flac"),
        &audio::flac(&Track::new("Two", red.clone())),
    );
    put(
        &mixed.join("03 Three.opus"),
        &audio::opus(&Track::new("Three", red.clone())),
    );
    put(
        &mixed.join("04 Four.m4a"),
        &audio::m4a(&Track::new("Four", red.clone())),
    );
    let cover_only = root.join("A/Cover Only");
    super::write_image(&cover_only.join("cover.jpg"), &cover(GREEN, 48));
    put(
        &cover_only.join("01.flac"),
        &audio::flac(&Track::new("Green 1", None)),
    );
    put(
        &cover_only.join("02.m4a"),
        &audio::m4a(&Track::new("Green 2", None)),
    );
    let has_genre = root.join("B/Has Genre");
    super::write_image(&has_genre.join("cover.png"), &cover(BLUE, 48));
    put(
        &has_genre.join("01.mp3"),
        &audio::mp3(&Track::new("Blue 1", None).with_genre("Jazz")),
    );
    put(
        &has_genre.join("02.opus"),
        &audio::opus(&Track::new("Blue 2", None)),
    );
    let read_only = root.join("B/Read Only");
    super::write_image(&read_only.join("folder.png"), &cover(RED, 48));
    put(
        &read_only.join("01 locked.flac"),
        &audio::flac(&Track::new("Locked", None)),
    );
    std::fs::set_permissions(
        read_only.join("01 locked.flac"),
        std::fs::Permissions::from_mode(0o444),
    )
    .unwrap();
    put(
        &read_only.join("02 open.mp3"),
        &audio::mp3(&Track::new("Open", None)),
    );
    put(
        &root.join("B/Bare/01.flac"),
        &audio::flac(&Track::new("Bare", None)),
    );
    let grey = image::RgbImage::from_pixel(32, 32, image::Rgb([120, 120, 120]));
    super::write_image(&root.join("B/Grey/cover.png"), &grey);
    put(
        &root.join("B/Grey/01.mp3"),
        &audio::mp3(&Track::new("Grey", None)),
    );
    Library { dir, model, root }
}

impl Library {
    pub fn album(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    pub fn command(&self, args: &[&OsStr]) -> Command {
        super::tag_command(&self.model, args, &self.root, self.dir.path())
    }

    pub fn tag(&self, args: &[&str]) -> Output {
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        self.command(&args).output().unwrap()
    }

    pub fn journal(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn apply(&self, extra: &[&str], journal: &str) -> Output {
        let journal = self.journal(journal);
        let mut args = vec!["--apply", "--journal", journal.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.tag(&args)
    }

    pub fn undo(&self, journal: &str) -> Output {
        Command::new(env!("CARGO_BIN_EXE_covergenre-classify"))
            .arg("--undo")
            .arg(self.journal(journal))
            .output()
            .unwrap()
    }

    pub fn tracks(&self) -> Vec<PathBuf> {
        files(&self.root)
            .into_iter()
            .filter(|p| covergenre::files::is_audio_path(p))
            .collect()
    }
}

pub fn files(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    files.sort();
    files
}

/// mutagen's view of each file (tests/tagcheck.py), keyed by path.
/// Every track's tags, read by mutagen, are those of `before`; `context` leads each message.
pub fn assert_tags_as_before(tracks: &[PathBuf], before: &BTreeMap<PathBuf, Value>, context: &str) {
    let now = mutagen(tracks);
    for track in tracks {
        assert_eq!(
            before[track]["tags"],
            now[track]["tags"],
            "{context}{}",
            track.display()
        );
    }
}

/// M4A freeform values come back as bytes (hashed by tagcheck.py).
/// Every track holds exactly the bytes it held in `snapshot`.
pub fn assert_bytes_as_before(
    tracks: &[PathBuf],
    snapshot: &BTreeMap<PathBuf, (Vec<u8>, std::time::SystemTime)>,
    context: &str,
) {
    for track in tracks {
        assert!(
            std::fs::read(track).unwrap() == snapshot[track].0,
            "{context}{}: byte for byte as before",
            track.display()
        );
    }
}

pub fn expected_text(file: &Value, field: Option<&str>, value: &str) -> String {
    if file["format"] == "MP4" && field.is_some() {
        use sha2_like::sha256_hex;
        format!("sha256:{}", sha256_hex(value.as_bytes()))
    } else {
        value.to_string()
    }
}

/// Asserts `after` is `before` with `field` set to `value` (or unchanged for None): every other
/// tag, the pictures and the audio are as they were.
pub fn assert_changed_only(
    path: &Path,
    before: &Value,
    after: &Value,
    field: Option<&str>,
    value: Option<&str>,
) {
    assert!(after.get("error").is_none(), "{}: {after}", path.display());
    assert_eq!(
        before["audio"],
        after["audio"],
        "{}: audio changed",
        path.display()
    );
    let key = key_for(before, field);
    let mut others_before = before["tags"].as_object().unwrap().clone();
    let mut others_after = after["tags"].as_object().unwrap().clone();
    others_before.remove(&key);
    let got = others_after.remove(&key);
    assert_eq!(
        others_before,
        others_after,
        "{}: other tags changed",
        path.display()
    );
    match value {
        Some(value) => assert_eq!(
            got.and_then(|v| v.as_str().map(String::from)),
            Some(expected_text(after, field, value)),
            "{}: {key}",
            path.display()
        ),
        None => assert_eq!(
            Some(&before["tags"][&key])
                .filter(|v| !v.is_null())
                .cloned(),
            got,
            "{}",
            path.display()
        ),
    }
}

/// A tiny SHA-256 for the M4A freeform comparison (mutagen hands those values back as bytes).
pub mod sha2_like {
    pub fn sha256_hex(data: &[u8]) -> String {
        let out = std::process::Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(data)?;
                child.wait_with_output()
            })
            .expect("sha256sum runs");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    }
}

/// Which genre each album's tracks should get from a full `--apply`.
pub fn expected_albums() -> [(&'static str, &'static str); 3] {
    [
        ("A/Mixed", "red"),
        ("A/Cover Only", "green"),
        ("B/Read Only", "red"),
    ]
}

pub fn album_of(lib: &Library, track: &Path) -> String {
    track
        .parent()
        .unwrap()
        .strip_prefix(&lib.root)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}
