//! `covergenre-eval`: how well a model tells genres on labelled covers. Parses arguments, makes
//! one library call ([`covergenre::evaluate::command::run`]), maps the outcome to an exit code.

use clap::Parser;
use covergenre::cli::{self, eval::Args};
use covergenre::evaluate::command;

fn main() {
    let args = Args::parse();
    if let Some(what) = args.generate {
        cli::finish(
            cli::generate::print::<Args>(what),
            "covergenre-eval: error: ",
        );
    }
    let options = args.options();
    let outcome = command::run(
        &options,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr(),
    );
    cli::finish(outcome.map(|o| o.exit_code()), "covergenre-eval: error: ");
}
