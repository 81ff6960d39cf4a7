//! `covergenre-classify`: the genre of every album cover under the given paths. Parses
//! arguments ([`covergenre::cli::classify`]), makes one library call (classify, tag or undo),
//! maps its summary to an exit code.

use anyhow::{Context, Result};
use clap::Parser;
use covergenre::classify::{classify, classify_summarised, ModelView};
use covergenre::cli::{self, classify::Args};
use covergenre::exit;
use covergenre::infer::Model;
use covergenre::tag;
use std::io::IsTerminal;

/// [`exit::SOME_FILES_FAILED`] when anything failed, else [`exit::SUCCESS`].
fn code(failed: usize) -> i32 {
    if failed > 0 {
        exit::SOME_FILES_FAILED
    } else {
        exit::SUCCESS
    }
}

fn run(args: Args) -> Result<i32> {
    if let Some(what) = args.generate {
        return cli::generate::print::<Args>(what);
    }
    if let Some(journal) = &args.undo {
        let summary = tag::undo(journal, args.touch, &mut std::io::stderr())?;
        return Ok(code(summary.failed + summary.conflicts));
    }
    if let Some(decisions) = &args.decisions {
        let [root] = args.paths.as_slice() else {
            anyhow::bail!("--decisions applies to one library: give its root folder once");
        };
        let tagging = args.tag_options(None)?.context("--decisions needs --tag")?;
        let run = tag::run_decisions(
            decisions,
            root,
            &tagging,
            &mut std::io::stdout(),
            &mut std::io::stderr(),
        )?;
        return Ok(code(run.summary.failures() + run.refused));
    }
    if args.interactive && !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "--interactive asks about each album on a terminal, but standard input is not a terminal; run it in one, or decide on the review page (--tag --report plan.html) and write those decisions with --tag --apply --decisions decisions.json"
        );
    }
    let threads = args.threads();
    let mut model = match &args.model {
        Some(path) => Model::open(path, threads)?,
        None => Model::shipped(threads).context("the built-in model cannot be opened")?,
    };
    let options = args.classify_options(&model)?;
    let tag_options = args.tag_options(Some(model.metadata()))?;
    let (genres, preprocess) = (model.genres().clone(), *model.preprocess());
    let view = ModelView {
        predictor: &mut model,
        genres: &genres,
        preprocess: &preprocess,
    };
    let (mut out, mut log) = (std::io::stdout().lock(), std::io::stderr());
    Ok(match tag_options {
        Some(tagging) if args.interactive => {
            let mut terminal = tag::terminal::Terminal::new(!args.no_preview)?;
            let run = tag::run_interactive(view, &options, &tagging, &mut terminal, &mut log)?;
            code(run.summary.failures() + run.refused)
        }
        Some(tagging) => code(
            tag::run(view, &options, &tagging, &mut out, &mut log)?
                .summary
                .failures(),
        ),
        None if args.summary => {
            code(classify_summarised(view, &options, &mut out, &mut log)?.failed)
        }
        None => code(classify(view, &options, &mut out, &mut log)?.failed),
    })
}

fn main() {
    cli::finish(run(Args::parse()), "covergenre-classify: ");
}
