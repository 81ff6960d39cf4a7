//! Headless Chromium for the review-page tests (Debian's `chromium`, installed by
//! scripts/setup.sh). Each run gets a fresh profile under the target folder (not /tmp, which
//! may be mounted noexec), and stderr logging so console messages can be checked.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What Chromium made of a page: the DOM after its scripts ran, and its log.
pub struct Loaded {
    pub dom: String,
    pub log: String,
}

/// The Chromium binary (`COVERGENRE_CHROMIUM` or `chromium` on PATH); panics with the fix
/// when there is none.
pub fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("COVERGENRE_CHROMIUM") {
        return PathBuf::from(path);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("chromium"))
        .find(|p| p.is_file())
        .expect("chromium is not installed: run scripts/setup.sh (it installs Debian's chromium), or set COVERGENRE_CHROMIUM")
}

fn run(url: &str, extra: &[String]) -> std::process::Output {
    let profile = tempfile::Builder::new()
        .prefix("chromium-profile")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
            "--window-size=1400,1000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("chromium runs")
}

/// Loads `page` (with an optional `#fragment`) and returns the DOM after its scripts ran.
pub fn load(page: &Path, fragment: &str) -> Loaded {
    let url = format!("file://{}{fragment}", page.display());
    let out = run(&url, &["--dump-dom".into()]);
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Loaded {
        dom: String::from_utf8_lossy(&out.stdout).into_owned(),
        log: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Saves a screenshot of `page` to `png`.
pub fn screenshot(page: &Path, fragment: &str, png: &Path) {
    let url = format!("file://{}{fragment}", page.display());
    let out = run(&url, &[format!("--screenshot={}", png.display())]);
    assert!(
        out.status.success() && png.is_file(),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Loaded {
    /// Asserts the page's scripts finished and reported no error, on the page or the console.
    pub fn assert_clean(&self) {
        assert!(
            self.dom.contains("data-ready=\"yes\""),
            "the page script did not finish:\n{}",
            self.dom
        );
        assert!(
            self.dom.contains("<div id=\"errors\"></div>"),
            "errors on the page:\n{}",
            self.dom
        );
        let console: Vec<&str> = self.log.lines().filter(|l| l.contains("CONSOLE")).collect();
        assert!(console.is_empty(), "console messages: {console:#?}");
    }
}
