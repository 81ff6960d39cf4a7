//! The command lines of the three binaries: clap argument structs and their mapping to the
//! library's options structs. Clap lives here and in `src/bin/` only; library types (formats,
//! devices, splits) stay free of it, and each CLI enum maps onto its library twin.
//!
//! Each binary is the same four steps: parse [`clap::Parser`] args, turn them into the
//! library's options, make one library call, map the outcome to an exit code ([`finish`]).

pub mod classify;
pub mod eval;
pub mod generate;
#[cfg(feature = "train")]
pub mod train;

use crate::exit;

/// Exits with the run's code, or with [`exit::FATAL`] after printing the error as
/// `<prefix><error and its causes>` on stderr.
pub fn finish(result: anyhow::Result<i32>, prefix: &str) -> ! {
    let code = result.unwrap_or_else(|error| {
        eprintln!("{prefix}{error:#}");
        exit::FATAL
    });
    std::process::exit(code)
}
