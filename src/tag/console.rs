//! What the terminal review works with, shared by the question loop ([`super::interactive`])
//! and the artist side of the review ([`super::by_artist`]): the albums it goes through and
//! the [`Console`] it talks to (the real one is [`super::terminal::Terminal`]; tests script
//! one). Both depend on this module, never on each other's side of the loop.

use super::plan::AlbumPlan;
use crate::covers::SourceKind;
use anyhow::Result;

/// What the review needs of a terminal.
pub trait Console {
    /// Shows lines of text.
    fn print(&mut self, text: &str) -> Result<()>;
    /// Draws the album's cover (or nothing, without previews).
    fn cover(&mut self, cover: &SourceKind) -> Result<()>;
    /// One line typed after `prompt`; `None` at the end of input (Ctrl-D, Ctrl-C).
    fn ask(&mut self, prompt: &str) -> Result<Option<String>>;
    /// [`Console::ask`] with Tab completing from `completions`.
    fn ask_genre(&mut self, prompt: &str, completions: &[String]) -> Result<Option<String>>;
}

/// One album of the plan, with its cover (`None`: none could be classified).
pub struct Album {
    pub plan: AlbumPlan,
    pub cover: Option<SourceKind>,
    /// Its index in the run's artist context ([`super::by_artist`]; `None` without one).
    pub context: Option<usize>,
}
