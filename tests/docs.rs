//! The docs' commands still work, and their links lead somewhere.
//!
//! - Every `covergenre-*` command in a shell block of README.md and docs/*.md (and every example
//!   in the binaries' own `--help`) is parsed by that binary's clap definition: a flag renamed,
//!   a value no longer accepted or two flags that now conflict fail here, naming page and line.
//! - Blocks marked `<!-- docs-test: run -->` on the line before their fence run for real, in
//!   bash, on made-up data: covers and a small music library under a temporary `$HOME`
//!   (`~/Music`, `~/Pictures/covers`), `cover.jpg`, `covers/` and `my-model.onnx` in the
//!   current folder. Each must exit 0.
//! - Every relative link (`[text](path#anchor)`) names a file that exists, and an anchor that is
//!   a heading of that page.

mod common;

use clap::CommandFactory;
use common::audio::{self, Track};
use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The pages whose commands and links are checked.
fn pages() -> Vec<PathBuf> {
    let root = Path::new(ROOT);
    let mut pages = vec![
        root.join("README.md"),
        root.join("models/README.md"),
        root.join("benches/README.md"),
        root.join("integrations/beets/README.md"),
    ];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

fn shown(page: &Path) -> String {
    page.strip_prefix(ROOT)
        .unwrap_or(page)
        .display()
        .to_string()
}

/// A fenced code block of a page.
struct Block {
    /// 1-based line of the first line inside the fence.
    line: usize,
    language: String,
    text: String,
    /// Marked `<!-- docs-test: run -->` on the line before the fence.
    run: bool,
}

const RUN_MARKER: &str = "<!-- docs-test: run -->";

fn blocks(page: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(page).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(info) = lines[i].trim_start().strip_prefix("```") else {
            i += 1;
            continue;
        };
        let start = i + 1;
        let mut end = start;
        while end < lines.len() && !lines[end].trim_start().starts_with("```") {
            end += 1;
        }
        blocks.push(Block {
            line: start + 1,
            language: info.trim().to_string(),
            text: lines[start..end.min(lines.len())].join("\n"),
            run: i > 0 && lines[i - 1].trim() == RUN_MARKER,
        });
        i = end + 1;
    }
    blocks
}

fn is_shell(block: &Block) -> bool {
    matches!(block.language.as_str(), "sh" | "bash" | "shell" | "console")
}

/// Ends the word being read: kept as an argument, or dropped when it is a redirection's target.
fn finish(word: &mut String, in_word: &mut bool, skip: &mut bool, commands: &mut [Vec<String>]) {
    if *in_word {
        if *skip {
            *skip = false;
        } else {
            commands.last_mut().unwrap().push(word.clone());
        }
        word.clear();
        *in_word = false;
    }
}

/// Shell words of one line: quotes grouped, `#` comments dropped, split into the commands of a
/// pipeline or list (`|`, `&&`, `||`, `;`), redirections and their targets left out.
fn commands_of(line: &str) -> Vec<Vec<String>> {
    let mut commands = vec![Vec::new()];
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    let mut skip_next_word = false;
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => word.push(c),
            None => match c {
                '\'' | '"' => {
                    quote = Some(c);
                    in_word = true;
                }
                '\\' => {
                    if let Some(next) = chars.next() {
                        word.push(next);
                        in_word = true;
                    }
                }
                '#' if !in_word => break,
                ' ' | '\t' => finish(&mut word, &mut in_word, &mut skip_next_word, &mut commands),
                '|' | ';' | '&' => {
                    finish(&mut word, &mut in_word, &mut skip_next_word, &mut commands);
                    if chars.peek() == Some(&c) {
                        chars.next();
                    }
                    commands.push(Vec::new());
                }
                '>' | '<' if !in_word || word.chars().all(|d| d.is_ascii_digit()) => {
                    // A redirection (`>`, `>>`, `2>`, `<`): its target is no argument.
                    word.clear();
                    in_word = false;
                    while chars.peek() == Some(&'>') || chars.peek() == Some(&'&') {
                        chars.next();
                    }
                    while chars.peek() == Some(&' ') {
                        chars.next();
                    }
                    skip_next_word = true;
                }
                _ => {
                    word.push(c);
                    in_word = true;
                }
            },
        }
    }
    finish(&mut word, &mut in_word, &mut skip_next_word, &mut commands);
    commands.retain(|c| !c.is_empty());
    commands
}

/// The lines of a shell block with `\` continuations joined, each with its 1-based page line.
fn logical_lines(block: &Block) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in block.text.lines().enumerate() {
        let (line_no, mut text) = pending.take().unwrap_or((block.line + i, String::new()));
        match raw.trim_end().strip_suffix('\\') {
            Some(head) => {
                text.push_str(head);
                text.push(' ');
                pending = Some((line_no, text));
            }
            None => {
                text.push_str(raw);
                lines.push((line_no, text));
            }
        }
    }
    lines.extend(pending);
    lines
}

/// The clap definition of a binary the docs name, or None for a word that is none of them.
fn command_for(binary: &str) -> Option<clap::Command> {
    match binary {
        "covergenre-classify" => Some(covergenre::cli::classify::Args::command()),
        "covergenre-eval" => Some(covergenre::cli::eval::Args::command()),
        #[cfg(feature = "train")]
        "covergenre-train" => Some(covergenre::cli::train::Args::command()),
        _ => None,
    }
}

/// `word` with each shell variable (`$NAME`, `${NAME}`) given the value 0, as a job array's
/// first task would (`--shard "$SLURM_ARRAY_TASK_ID/64"`).
fn without_variables(word: &str) -> String {
    let mut out = String::new();
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let braced = chars.peek() == Some(&'{');
        if braced {
            chars.next();
        }
        while chars
            .peek()
            .is_some_and(|d| d.is_alphanumeric() || *d == '_')
        {
            chars.next();
        }
        if braced && chars.peek() == Some(&'}') {
            chars.next();
        }
        out.push('0');
    }
    out
}

/// Parses `words` (a command line whose first word is a binary) with that binary's clap
/// definition: Some(error) when it is refused, None when accepted or not ours to check.
fn refusal(words: &[String]) -> Option<String> {
    // `covergenre-train ... --resume`: a placeholder, not a command line.
    if words.iter().any(|w| w == "..." || w.ends_with("...")) {
        return None;
    }
    let command = command_for(&words[0])?;
    let words: Vec<String> = words.iter().map(|w| without_variables(w)).collect();
    match command.try_get_matches_from(words) {
        Ok(_) => None,
        Err(error) if error.kind() == clap::error::ErrorKind::DisplayHelp => None,
        Err(error) if error.kind() == clap::error::ErrorKind::DisplayVersion => None,
        Err(error) => Some(error.to_string().lines().next().unwrap_or("").to_string()),
    }
}

const BINARIES: [&str; 3] = ["covergenre-classify", "covergenre-eval", "covergenre-train"];

#[test]
fn every_documented_command_line_parses() {
    let mut checked = 0;
    let mut refused = Vec::new();
    for page in pages() {
        for block in blocks(&page).iter().filter(|b| is_shell(b)) {
            for (line, text) in logical_lines(block) {
                for words in commands_of(&text) {
                    if !BINARIES.contains(&words[0].as_str()) {
                        continue;
                    }
                    if command_for(&words[0]).is_none() {
                        eprintln!(
                            "SKIPPED {}:{line}: {} needs the train feature",
                            shown(&page),
                            words[0]
                        );
                        continue;
                    }
                    checked += 1;
                    if let Some(error) = refusal(&words) {
                        refused.push(format!(
                            "{}:{line}: `{}`: {error}",
                            shown(&page),
                            words.join(" ")
                        ));
                    }
                }
            }
        }
    }
    assert!(
        refused.is_empty(),
        "documented commands refused:\n{}",
        refused.join("\n")
    );
    assert!(
        checked > 50,
        "only {checked} documented commands found: is the parser broken?"
    );
}

#[test]
fn every_help_example_parses() {
    let mut commands = vec![
        covergenre::cli::classify::Args::command(),
        covergenre::cli::eval::Args::command(),
    ];
    #[cfg(feature = "train")]
    commands.push(covergenre::cli::train::Args::command());
    let mut refused = Vec::new();
    for command in commands {
        let name = command.get_name().to_string();
        let help = command
            .get_after_help()
            .map(|h| h.to_string())
            .unwrap_or_default();
        let mut checked = 0;
        for line in help.lines().filter(|l| l.trim_start().starts_with(&name)) {
            for words in commands_of(line) {
                checked += 1;
                if let Some(error) = refusal(&words) {
                    refused.push(format!("{name} --help: `{}`: {error}", words.join(" ")));
                }
            }
        }
        assert!(checked > 0, "{name} --help shows no examples");
    }
    assert!(
        refused.is_empty(),
        "--help examples refused:\n{}",
        refused.join("\n")
    );
}

#[test]
fn a_command_the_binary_refuses_is_caught() {
    // The check above must be able to fail: a flag that does not exist, a value out of range
    // and two flags that conflict are each refused.
    for line in [
        "covergenre-classify --no-such-flag covers/",
        "covergenre-classify --top-k 0 covers/",
        "covergenre-classify --batch-size 8 --max-memory 300 covers/",
        "covergenre-eval --format yaml",
    ] {
        let words = &commands_of(line)[0];
        assert!(refusal(words).is_some(), "{line} was accepted");
    }
    assert_eq!(
        commands_of(
            "printf 'a b\\n' | covergenre-classify --library --albums-from - > out.jsonl # note"
        ),
        vec![
            vec!["printf".to_string(), "a b\\n".to_string()],
            ["covergenre-classify", "--library", "--albums-from", "-"]
                .map(String::from)
                .to_vec(),
        ]
    );
}

/// GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens.
fn anchor_of(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == ' ' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(page: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(page).unwrap_or_default();
    let mut in_code = false;
    let mut anchors = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        } else if !in_code {
            if let Some(heading) = line.strip_prefix('#') {
                anchors.push(anchor_of(heading.trim_start_matches('#')));
            }
        }
    }
    anchors
}

/// `(target, line)` of every `](target)` outside code blocks.
fn links(page: &Path) -> Vec<(String, usize)> {
    let text = std::fs::read_to_string(page).unwrap();
    let mut in_code = false;
    let mut links = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            links.push((after[..end].to_string(), i + 1));
            rest = &after[end..];
        }
    }
    links
}

#[test]
fn every_relative_link_leads_to_a_file_and_heading() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in pages() {
        for (link, line) in links(&page) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (file, anchor) = link.split_once('#').unwrap_or((&link, ""));
            let target = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            if !target.exists() {
                broken.push(format!("{}:{line}: {link}: no such file", shown(&page)));
            } else if !anchor.is_empty()
                && target.extension().is_some_and(|e| e == "md")
                && !anchors(&target).contains(&anchor.to_string())
            {
                broken.push(format!(
                    "{}:{line}: {link}: no heading #{anchor}",
                    shown(&page)
                ));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(checked > 20, "only {checked} links found");
}

/// The made-up world the runnable blocks see: `$HOME` with `~/Music` (three albums: a cover
/// file, art embedded in FLAC, an MP3 that has a genre already) and `~/Pictures/covers`, and a
/// current folder with `cover.jpg`, `covers/` and `my-model.onnx` (a tiny colour model).
struct World {
    _dir: tempfile::TempDir,
    home: PathBuf,
    work: PathBuf,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let (home, work) = (dir.path().join("home"), dir.path().join("work"));
    common::write_image(&work.join("cover.jpg"), &common::genre_cover(0, 1, 300));
    common::genre_folders(&work.join("covers"), &["rock", "jazz"], 2, 96, 7);
    std::fs::write(work.join("my-model.onnx"), common::colour::colour_model()).unwrap();
    common::genre_folders(&home.join("Pictures/covers"), &["a", "b"], 2, 96, 11);
    let music = home.join("Music");
    let kind_of_blue = music.join("Miles/Kind of Blue");
    common::put(
        &kind_of_blue.join("01 So What.mp3"),
        &audio::mp3(&Track::new("So What", None)),
    );
    common::write_image(
        &kind_of_blue.join("cover.jpg"),
        &common::genre_cover(1, 2, 300),
    );
    let cello = music.join("Bach/Cello Suites");
    let picture = common::colour::png_bytes(2);
    common::put(
        &cello.join("01 Prelude.flac"),
        &audio::flac(&Track::new("Prelude", Some(picture))),
    );
    let blue = music.join("B/Blue");
    common::put(
        &blue.join("01.mp3"),
        &audio::mp3(&Track::new("Blue", None).with_genre("Jazz")),
    );
    common::write_image(&blue.join("cover.png"), &common::genre_cover(3, 3, 200));
    World {
        _dir: dir,
        home,
        work,
    }
}

#[test]
fn marked_blocks_run() {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_covergenre-classify"))
        .parent()
        .unwrap();
    let path = std::env::join_paths(std::iter::once(bin_dir.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let mut ran = 0;
    for page in pages() {
        for block in blocks(&page).into_iter().filter(|b| b.run) {
            assert!(
                is_shell(&block),
                "{}:{}: only shell blocks can run",
                shown(&page),
                block.line
            );
            if !cfg!(feature = "train") && block.text.contains("covergenre-train") {
                eprintln!(
                    "SKIPPED {}:{}: needs the train feature",
                    shown(&page),
                    block.line
                );
                continue;
            }
            let world = world();
            let out = Command::new("bash")
                .args(["-euo", "pipefail", "-c", &block.text])
                .current_dir(&world.work)
                .env("HOME", &world.home)
                .env("PATH", &path)
                .env("COVERGENRE_CACHE_DIR", world.home.join(".cache"))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}:{}: the block failed ({}):\n{}\nstdout:\n{}\nstderr:\n{}",
                shown(&page),
                block.line,
                out.status,
                block.text,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            ran += 1;
        }
    }
    assert!(
        ran >= 3,
        "only {ran} runnable blocks: the markers are gone?"
    );
}
