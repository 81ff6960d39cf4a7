//! The real [`Console`] of the terminal review: text on stdout, covers drawn by `viuer`
//! (kitty or iTerm2 graphics where the terminal has them, coloured half-blocks otherwise),
//! answers read by `rustyline` (line editing, Tab completing typed genres).

use super::console::Console;
use super::question;
use crate::audio::embedded_picture;
use crate::covers::SourceKind;
use crate::data::decode::{decode_to_rgb, DecodeLimits};
use anyhow::{anyhow, Context, Result};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Editor, Helper};
use std::io::{IsTerminal, Write};

/// How wide covers are drawn, in terminal columns.
pub const COVER_COLUMNS: u32 = 30;

/// The terminal the review runs on.
pub struct Terminal {
    editor: Editor<GenreCompleter, DefaultHistory>,
    /// Draw covers (`--no-preview` turns it off; never when stdout is not a terminal).
    preview: bool,
}

impl Terminal {
    pub fn new(preview: bool) -> Result<Self> {
        let config = rustyline::Config::builder()
            .auto_add_history(false)
            .completion_type(CompletionType::List)
            .build();
        let mut editor =
            Editor::with_config(config).context("cannot set up the terminal for the review")?;
        editor.set_helper(Some(GenreCompleter::default()));
        Ok(Self {
            editor,
            preview: preview && std::io::stdout().is_terminal(),
        })
    }

    /// One line after `prompt`, Tab completing from `completions`.
    fn read(&mut self, prompt: &str, completions: Vec<String>) -> Result<Option<String>> {
        if let Some(helper) = self.editor.helper_mut() {
            helper.completions = completions;
        }
        match self.editor.readline(prompt) {
            Ok(line) => Ok(Some(line)),
            Err(ReadlineError::Interrupted | ReadlineError::Eof) => Ok(None),
            Err(e) => Err(anyhow!(e).context("cannot read the answer from the terminal")),
        }
    }
}

impl Console for Terminal {
    fn print(&mut self, text: &str) -> Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}")?;
        out.flush()?;
        Ok(())
    }

    fn cover(&mut self, cover: &SourceKind) -> Result<()> {
        if !self.preview {
            return Ok(());
        }
        if let Err(e) = draw(cover) {
            // A cover that cannot be drawn is no reason to stop the review.
            self.print(&format!("  (the cover cannot be drawn: {e:#})"))?;
        }
        Ok(())
    }

    fn ask(&mut self, prompt: &str) -> Result<Option<String>> {
        self.read(prompt, Vec::new())
    }

    fn ask_genre(&mut self, prompt: &str, completions: &[String]) -> Result<Option<String>> {
        self.read(prompt, completions.to_vec())
    }
}

/// Draws the cover [`COVER_COLUMNS`] wide where the cursor is.
fn draw(cover: &SourceKind) -> Result<()> {
    let bytes = match cover {
        SourceKind::File(path) => {
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?
        }
        SourceKind::Embedded { audio_files } => {
            embedded_picture(audio_files)
                .map_err(anyhow::Error::msg)?
                .bytes
        }
    };
    let rgb = decode_to_rgb(&bytes, &DecodeLimits::default())?;
    let config = viuer::Config {
        // Below the album's lines, not at the top of the screen.
        absolute_offset: false,
        width: Some(COVER_COLUMNS),
        ..Default::default()
    };
    viuer::print(&image::DynamicImage::ImageRgb8(rgb), &config)?;
    Ok(())
}

/// Tab completion of a typed genre: the whole line is the genre (genres have spaces).
#[derive(Default)]
struct GenreCompleter {
    completions: Vec<String>,
}

impl Completer for GenreCompleter {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let typed = line.get(..pos).unwrap_or(line);
        let found = question::complete(typed, &self.completions)
            .into_iter()
            .map(|genre| Pair {
                display: genre.to_string(),
                replacement: genre.to_string(),
            })
            .collect();
        Ok((0, found))
    }
}

impl Hinter for GenreCompleter {
    type Hint = String;
}

impl Highlighter for GenreCompleter {}

impl Validator for GenreCompleter {}

impl Helper for GenreCompleter {}
