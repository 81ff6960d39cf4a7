//! `covergenre-eval`: how well a model tells genres on labelled covers. Parses arguments, makes
//! one library call ([`covergenre::evaluate::command::run`]), maps the outcome to an exit code.

use clap::Parser;
use covergenre::cli::{self, eval::Args};
use covergenre::evaluate::command;

fn main() {
    let options = Args::parse().options();
    let outcome = command::run(
        &options,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr(),
    );
    cli::finish(outcome.map(|o| o.exit_code()), "covergenre-eval: error: ");
}
