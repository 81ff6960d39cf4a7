//! `--generate man|complete-bash|complete-zsh|complete-fish|complete-powershell`: a binary's man
//! page (roff, through `clap_mangen`) or a shell's completion script (through `clap_complete`),
//! made from the same clap definition that parses its arguments, so they always name the flags
//! the binary takes.

use clap::{CommandFactory, ValueEnum};
use clap_complete::Shell;
use std::io::Write;

/// What `--generate` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Generate {
    /// The man page, in roff (`man -l -` shows it).
    Man,
    /// Completions for bash.
    CompleteBash,
    /// Completions for zsh.
    CompleteZsh,
    /// Completions for fish.
    CompleteFish,
    /// Completions for PowerShell.
    CompletePowershell,
}

impl Generate {
    fn shell(self) -> Option<Shell> {
        match self {
            Generate::Man => None,
            Generate::CompleteBash => Some(Shell::Bash),
            Generate::CompleteZsh => Some(Shell::Zsh),
            Generate::CompleteFish => Some(Shell::Fish),
            Generate::CompletePowershell => Some(Shell::PowerShell),
        }
    }
}

/// Writes `what` for the command line `A` to `out`.
pub fn write<A: CommandFactory>(what: Generate, out: &mut dyn Write) -> std::io::Result<()> {
    let mut command = A::command();
    match what.shell() {
        None => clap_mangen::Man::new(command).render(out),
        Some(shell) => {
            let name = command.get_name().to_string();
            clap_complete::generate(shell, &mut command, name, out);
            Ok(())
        }
    }
}

/// Prints `what` for the command line `A` on stdout; the binary's whole run when `--generate`
/// is given.
pub fn print<A: CommandFactory>(what: Generate) -> anyhow::Result<i32> {
    let mut out = std::io::stdout().lock();
    write::<A>(what, &mut out)?;
    out.flush()?;
    Ok(crate::exit::SUCCESS)
}
