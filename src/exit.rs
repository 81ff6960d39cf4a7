//! Process exit codes shared by the three binaries (documented in docs/classify.md, "Exit codes").

/// Everything went well.
pub const SUCCESS: i32 = 0;
/// `covergenre-eval --fail-under`: a metric is below its bar.
pub const GATE_FAILED: i32 = 1;
/// Bad arguments or a fatal error (no model, no data, unwritable output). Clap also uses 2.
pub const FATAL: i32 = 2;
/// The run finished, but some input files could not be read and were skipped.
pub const SOME_FILES_FAILED: i32 = 3;
