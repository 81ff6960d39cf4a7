//! A real pseudo-terminal for the terminal review's tests: tmux runs a script in a pane of a
//! server of the test's own, `send-keys` types, `capture-pane` reads the screen.

use super::text;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long the screen may take to show what a test waits for (the model runs first).
pub const PATIENCE: Duration = Duration::from_secs(60);

/// `text` as one shell word.
pub fn shell_word(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// A tmux server of the test's own (its own socket), running one command in a 200 x 50
/// pane that stays on screen after the command ends. Dropping it ends that server only.
pub struct Tmux {
    socket: String,
    /// Where the script writes the binary's process id.
    pid_file: PathBuf,
}

/// What the script prints when the binary has ended, before its status.
pub const EXIT_LINE: &str = "covergenre-test exit status: ";

impl Tmux {
    /// Runs `script` (a shell script that writes `pid_file`) in a new session.
    pub fn start(dir: &Path, name: &str, script: &str, pid_file: PathBuf) -> Self {
        let socket = format!("covergenre-test-{}-{name}", std::process::id());
        let config = dir.join(format!("{name}.tmux.conf"));
        std::fs::write(
            &config,
            "set -g remain-on-exit on\nset -g history-limit 20000\n",
        )
        .unwrap();
        let script_path = dir.join(format!("{name}.sh"));
        std::fs::write(&script_path, script).unwrap();
        let tmux = Self { socket, pid_file };
        let started = tmux
            .command()
            .arg("-f")
            .arg(&config)
            .args(["new-session", "-d", "-s", "review", "-x", "200", "-y", "50"])
            // exec: the pane's process is the script's, which execs the binary.
            .arg(format!(
                "exec sh {}",
                shell_word(script_path.to_str().unwrap())
            ))
            .output();
        match started {
            Ok(out) => assert!(
                out.status.success(),
                "tmux new-session failed: {}",
                text(&out.stderr)
            ),
            Err(e) => panic!(
                "tmux cannot run ({e}): the terminal review is tested in a real pseudo-terminal through tmux, part of this machine's toolchain (apt-get install tmux)"
            ),
        }
        tmux
    }

    pub fn command(&self) -> Command {
        let mut command = Command::new("tmux");
        command
            .args(["-L", &self.socket])
            .env("TERM", "xterm-256color")
            // A test run from inside tmux still gets a server of its own.
            .env_remove("TMUX")
            .stdin(Stdio::null());
        command
    }

    pub fn tmux(&self, args: &[&str]) -> String {
        let out = self.command().args(args).output().unwrap();
        assert!(out.status.success(), "tmux {args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    }

    /// Everything the pane has shown, wrapped lines joined.
    pub fn screen(&self) -> String {
        self.tmux(&[
            "capture-pane",
            "-p",
            "-J",
            "-t",
            "review",
            "-S",
            "-",
            "-E",
            "-",
        ])
    }

    /// Waits until the screen satisfies `ready` (polling), failing with the screen after
    /// [`PATIENCE`].
    pub fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "waited {PATIENCE:?} for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for the n-th question (counting from 1) on the screen.
    pub fn wait_for_question(&self, n: usize) -> String {
        self.wait_for(&format!("question {n}"), |s| {
            s.matches("aBort?").count() >= n
        })
    }

    /// Types `keys` literally, then Enter.
    pub fn answer(&self, keys: &str) {
        if !keys.is_empty() {
            self.tmux(&["send-keys", "-t", "review", "-l", keys]);
        }
        self.tmux(&["send-keys", "-t", "review", "Enter"]);
    }

    pub fn key(&self, name: &str) {
        self.tmux(&["send-keys", "-t", "review", name]);
    }

    /// The command's exit status (128 + the signal for a killed one), once it has ended:
    /// the script prints it (tmux's own pane status is not always filled in).
    pub fn exit_status(&self) -> i32 {
        let screen = self.wait_for("the end of the review", |s| s.contains(EXIT_LINE));
        let status = screen
            .lines()
            .find_map(|l| l.trim().strip_prefix(EXIT_LINE))
            .unwrap();
        status.trim().parse().unwrap()
    }

    /// The binary's process id, which the script writes before it execs the binary.
    pub fn pid(&self) -> i32 {
        let text = std::fs::read_to_string(&self.pid_file).unwrap();
        text.trim().parse().unwrap()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.command().arg("kill-server").output().ok();
    }
}
