//! A small Chrome DevTools Protocol client for the review-page tests that drive the page
//! (keys, reloads, downloads): headless Chromium started with `--remote-debugging-pipe`, which
//! reads JSON commands ending in a NUL byte on file descriptor 3 and writes replies and events
//! the same way on descriptor 4. No network port, no websocket.

use serde_json::{json, Value};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How long one command may take before the test fails.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// A running headless Chromium attached to one page.
pub struct Browser {
    child: Child,
    commands: File,
    replies: Receiver<Value>,
    next_id: u64,
    session: String,
    _profile: tempfile::TempDir,
}

fn pipe() -> (RawFd, RawFd) {
    let mut fds = [0; 2];
    // Close-on-exec, so no other child of the test process inherits them; dup2 gives
    // Chromium its copies without the flag.
    // SAFETY: `fds` is a valid array of two descriptors for pipe2(2) to fill.
    assert_eq!(
        unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) },
        0,
        "pipe2(2)"
    );
    // Above 4, so dup2 onto 3 and 4 in the child never overwrites one of them.
    let high = |fd: RawFd| {
        // SAFETY: `fd` is open; the copy is close-on-exec like the original, which is closed.
        unsafe {
            let copy = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10);
            assert!(copy >= 10, "fcntl(F_DUPFD_CLOEXEC)");
            libc::close(fd);
            copy
        }
    };
    (high(fds[0]), high(fds[1]))
}

impl Browser {
    /// Starts Chromium (the flags of `browser.rs`, a fresh profile) on a blank page.
    pub fn start() -> Self {
        let profile = tempfile::Builder::new()
            .prefix("chromium-profile")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap();
        let (to_chrome_read, to_chrome_write) = pipe();
        let (from_chrome_read, from_chrome_write) = pipe();
        let mut command = Command::new(super::browser::chromium());
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-pipe",
                "--window-size=1400,1000",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: between fork and exec only dup2, which is async-signal-safe.
        unsafe {
            command.pre_exec(move || {
                if libc::dup2(to_chrome_read, 3) < 0 || libc::dup2(from_chrome_write, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("chromium starts");
        // SAFETY: each descriptor came from pipe(2) above and is owned by one File from here.
        let (commands, replies_file) = unsafe {
            libc::close(to_chrome_read);
            libc::close(from_chrome_write);
            (
                File::from_raw_fd(to_chrome_write),
                File::from_raw_fd(from_chrome_read),
            )
        };
        let (sender, replies) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(replies_file);
            let mut message = Vec::new();
            while reader.read_until(0, &mut message).is_ok_and(|n| n > 0) {
                message.pop();
                if let Ok(value) = serde_json::from_slice(&message) {
                    if sender.send(value).is_err() {
                        break;
                    }
                }
                message.clear();
            }
        });
        let mut browser = Self {
            child,
            commands,
            replies,
            next_id: 0,
            session: String::new(),
            _profile: profile,
        };
        let targets = browser.call("Target.getTargets", json!({}));
        let page = targets["targetInfos"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .expect("a page target")["targetId"]
            .clone();
        let attached = browser.call(
            "Target.attachToTarget",
            json!({"targetId": page, "flatten": true}),
        );
        browser.session = attached["sessionId"].as_str().unwrap().to_string();
        browser
    }

    fn send(&mut self, method: &str, params: Value, session: bool) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if session {
            message["sessionId"] = json!(self.session);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.commands
            .write_all(&bytes)
            .expect("chromium reads commands");
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.replies.recv_timeout(left) {
                Ok(reply) if reply["id"] == id => {
                    assert!(reply.get("error").is_none(), "{method}: {reply}");
                    return reply["result"].clone();
                }
                Ok(_event) => {}
                Err(RecvTimeoutError::Timeout) => panic!("no reply to {method} in 30 s"),
                Err(RecvTimeoutError::Disconnected) => panic!("chromium went away during {method}"),
            }
        }
    }

    /// A browser-level command.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, false)
    }

    /// A command to the page.
    pub fn page(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, true)
    }

    /// The value of a JavaScript expression on the page (JSON-serialisable).
    pub fn eval(&mut self, expression: &str) -> Value {
        let result = self.page(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        assert!(
            result.get("exceptionDetails").is_none(),
            "{expression}: {result}"
        );
        result["result"]["value"].clone()
    }

    /// Waits until `expression` is true on the page.
    pub fn wait_for(&mut self, expression: &str) {
        let deadline = Instant::now() + REPLY_TIMEOUT;
        while self.eval(expression) != json!(true) {
            assert!(Instant::now() < deadline, "never true: {expression}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Opens `page` and waits for its script to finish.
    pub fn open(&mut self, page: &Path) {
        let url = format!("file://{}", page.display());
        self.page("Page.navigate", json!({"url": url}));
        self.wait_for("document.readyState === 'complete' && document.body.getAttribute('data-ready') === 'yes'");
    }

    /// Reloads the page, as a person would some time after their last key, and waits for its
    /// script to finish.
    pub fn reload(&mut self) {
        // Chromium hands a page's localStorage writes to its storage service asynchronously,
        // and a document reloaded at once may read that service before the last write has
        // arrived (CI saw an empty store once, right after the writes).
        std::thread::sleep(Duration::from_secs(1));
        self.eval("document.body.removeAttribute('data-ready'); true");
        self.page("Page.reload", json!({}));
        self.wait_for("document.readyState === 'complete' && document.body.getAttribute('data-ready') === 'yes'");
    }

    /// Presses one key (a printable character) as a person would: key down with its text,
    /// key up.
    pub fn press(&mut self, key: &str) {
        for kind in ["keyDown", "keyUp"] {
            let mut params = json!({"type": kind, "key": key});
            if kind == "keyDown" {
                params["text"] = json!(key);
            }
            self.page("Input.dispatchKeyEvent", params);
        }
    }

    /// Types text into whatever has the focus.
    pub fn type_text(&mut self, text: &str) {
        self.page("Input.insertText", json!({"text": text}));
    }

    /// Presses a named key without text (Enter, Escape).
    pub fn press_named(&mut self, key: &str, code: u32) {
        for kind in ["rawKeyDown", "keyUp"] {
            let mut params = json!({"type": kind, "key": key, "windowsVirtualKeyCode": code});
            if key == "Enter" && kind == "rawKeyDown" {
                params["type"] = json!("keyDown");
                params["text"] = json!("\r");
            }
            self.page("Input.dispatchKeyEvent", params);
        }
    }

    /// Lets downloads land in `folder`.
    pub fn allow_downloads(&mut self, folder: &Path) {
        self.call(
            "Browser.setDownloadBehavior",
            json!({"behavior": "allow", "downloadPath": folder.display().to_string()}),
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
