//! `covergenre-train`: a launcher that makes sure libtorch is installed, then runs the trainer
//! (`covergenre-train-libtorch`, installed beside it) with the same arguments.
//!
//! Why: the trainer links libtorch, so without it the dynamic loader stops it before `main`
//! with "error while loading shared libraries: libtorch_cpu.so". This launcher links nothing of
//! libtorch (nor the covergenre library, which would bring it in), so it can say instead which
//! command installs it. `COVERGENRE_LIBTORCH_LIB` names another folder holding libtorch's
//! libraries (it is then put first on the trainer's `LD_LIBRARY_PATH`).

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The trainer, beside this launcher.
const TRAINER: &str = "covergenre-train-libtorch";
/// The library the loader fails on first when libtorch is missing.
const LIBTORCH: &str = "libtorch_cpu.so";
/// Overrides where libtorch is looked for.
const OVERRIDE: &str = "COVERGENRE_LIBTORCH_LIB";
/// `covergenre::exit::FATAL` (not imported: linking the library would link libtorch).
const FATAL: i32 = 2;

/// Where the loader would find libtorch: the override alone when set; otherwise
/// `LD_LIBRARY_PATH`, the folder baked in at build time (the trainer's rpath) and the usual
/// system folders.
fn search_path() -> Vec<PathBuf> {
    if let Some(dir) = std::env::var_os(OVERRIDE).filter(|d| !d.is_empty()) {
        return vec![PathBuf::from(dir)];
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("LD_LIBRARY_PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(option_env!("COVERGENRE_LIBTORCH_LIB_DEFAULT").map(PathBuf::from));
    dirs.extend(
        [
            "/usr/local/lib",
            "/usr/lib",
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib64",
        ]
        .map(PathBuf::from),
    );
    dirs
}

fn fail(message: String) -> ! {
    eprintln!("covergenre-train: {message}");
    std::process::exit(FATAL)
}

fn main() {
    let dirs = search_path();
    if !dirs.iter().any(|dir| dir.join(LIBTORCH).is_file()) {
        let looked: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        fail(format!(
            "libtorch not found ({LIBTORCH} is in none of: {}): run `{}/scripts/setup.sh` to \
             install it (no rebuild needed), or set {OVERRIDE} to the folder holding it",
            looked.join(", "),
            env!("CARGO_MANIFEST_DIR")
        ));
    }
    let trainer = match std::env::current_exe() {
        Ok(me) => me.with_file_name(TRAINER),
        Err(error) => fail(format!("cannot find my own path to run {TRAINER}: {error}")),
    };
    let mut args = std::env::args_os();
    let name = args.next().unwrap_or_else(|| "covergenre-train".into());
    let mut command = Command::new(&trainer);
    // The trainer's usage and errors name the command the user typed.
    command.arg0(name).args(args);
    if let Some(dir) = std::env::var_os(OVERRIDE).filter(|d| !d.is_empty()) {
        command.env("LD_LIBRARY_PATH", prepended(Path::new(&dir)));
    }
    let error = command.exec(); // returns only when the trainer could not be started
    fail(format!("cannot run {}: {error}", trainer.display()));
}

/// `LD_LIBRARY_PATH` with `dir` first.
fn prepended(dir: &Path) -> OsString {
    let mut dirs = vec![dir.to_path_buf()];
    if let Some(old) = std::env::var_os("LD_LIBRARY_PATH") {
        dirs.extend(std::env::split_paths(&old));
    }
    std::env::join_paths(dirs).unwrap_or_else(|_| dir.as_os_str().to_owned())
}
