//! The review page: one self-contained HTML file (inline CSS, script and data; no network)
//! that opens offline from disk. Covers are shown as small thumbnails the tool makes (96 px
//! JPEG, in a folder beside the page, loaded lazily), grouped by predicted genre, with the
//! uncertain and the skipped or failed ones in groups of their own, a genre filter and a
//! search box. For an evaluation it adds the confusion matrix as a heat map whose cells,
//! clicked, show that cell's covers (true vs predicted genre), and the per-genre metrics.
//!
//! Sized for big collections: the data is one JSON block (a few hundred bytes per cover),
//! each group draws its first [`FIRST_CARDS`] cards and the rest on demand, and images load
//! only when scrolled into view.

use crate::audio::embedded_picture;
use crate::covers::{Source, SourceKind};
use crate::data::decode::{decode_to_rgb, DecodeLimits};
use crate::failure::Failure;
use crate::report::classify::Ranked;
use crate::report::GenreScores;
use anyhow::{Context, Result};
use rayon::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Longest side of a thumbnail, in pixels.
pub const THUMB_SIZE: u32 = 96;
/// Cards drawn per group before "show all".
pub const FIRST_CARDS: usize = 200;
const THUMB_QUALITY: u8 = 70;

/// One cover on the page.
#[derive(Debug, Clone, Serialize)]
pub struct Card {
    pub path: String,
    /// The group it is shown in: a genre slug, `uncertain`, or `skipped`.
    pub group: String,
    pub probability: Option<f32>,
    pub top: Vec<Ranked>,
    /// A line under the cover: why it was skipped, what tagging would do.
    pub note: Option<String>,
    /// The true genre (evaluations).
    pub truth: Option<String>,
    /// The predicted genre (evaluations; `group` holds it too, except for failures).
    pub predicted: Option<String>,
    /// The thumbnail, relative to the page.
    pub thumb: Option<String>,
    /// With `--tag`: the album's entry of the plan as data (`tag::document::AlbumEntry`:
    /// key, tracks and their stamps, top genres as written), so the page can record decisions.
    pub plan: Option<serde_json::Value>,
    /// With `--tag` and the artist context, for an album with an artist: what the page needs
    /// to propose it anew when another album of its artist is decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artist_context: Option<ArtistCard>,
}

/// One album's part of the artist context on the review page (see [`ArtistRule`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ArtistCard {
    /// The cover's calibrated probabilities, one per model genre (`None`: not classified).
    pub cover: Option<Vec<f32>>,
    /// The artist's other albums with a genre, per model genre, and in all (genres the
    /// model does not know included), as the plan counted them.
    pub counts: Vec<usize>,
    pub total: usize,
    /// The album's own genre as its artist's other albums count it (its spelling; the model
    /// genre it is), which a decision on the page replaces.
    pub genre: Option<String>,
    pub class: Option<usize>,
}

/// How the review page proposes an album anew after a decision on another album of its
/// artist: the rule of [`crate::artist_context::combine`] at the library's `weight`, then the
/// plan's own choice of genres.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ArtistRule {
    /// The library's artist weight (the agreement's).
    pub weight: f64,
    /// Per model genre, the value written for it.
    pub values: Vec<String>,
    /// A folded genre name ([`crate::genres::normalise`]) -> its model genre.
    pub classes: std::collections::BTreeMap<String, usize>,
    /// The top genres a plan keeps.
    pub top_k: usize,
    /// `--max-genres`, `--min-genre-probability` and the separator of joined genres.
    pub max_genres: usize,
    pub min_probability: f32,
    pub separator: Option<String>,
    /// `--min-confidence` in force: under it a card is uncertain.
    pub threshold: f32,
}

impl Card {
    /// A cover that could not be read: in the skipped group, with the reason under it.
    fn skipped(path: &std::path::Path, reason: &str) -> Self {
        Self {
            path: path.display().to_string(),
            group: SKIPPED.into(),
            probability: None,
            top: Vec::new(),
            note: Some(reason.to_string()),
            truth: None,
            predicted: None,
            thumb: None,
            plan: None,
            artist_context: None,
        }
    }
}

/// The evaluation part of a page.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// Rows true genres, columns predicted genres, in the page's genre order.
    pub confusion: Vec<Vec<u64>>,
    pub per_genre: Vec<GenreScores>,
    pub accuracy: f64,
    pub macro_f1: f64,
}

/// Everything the page shows.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    pub title: String,
    /// Genre slugs and display names, in model order.
    pub genres: Vec<(String, String)>,
    pub cards: Vec<Card>,
    pub evaluation: Option<Evaluation>,
    /// With `--tag`: the plan's identifier; decisions made on the page are kept in the
    /// browser under it and saved with it.
    pub plan: Option<String>,
    /// With `--tag` and the artist context: how proposals are made anew on the page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artists: Option<ArtistRule>,
}

/// Where a cover's thumbnail comes from.
pub struct ThumbSource {
    pub card: usize,
    pub kind: SourceKind,
}

/// The folder beside `page` that holds its thumbnails: `<page stem>-thumbs/`.
pub fn thumbs_folder(page: &Path) -> PathBuf {
    let stem = page.file_stem().unwrap_or_default().to_string_lossy();
    crate::util::parent_folder(page).join(format!("{stem}-thumbs"))
}

/// Makes the thumbnails (in parallel) and writes the page (atomically). A cover whose
/// thumbnail cannot be made is shown without one.
pub fn write(page_path: &Path, mut page: Page, sources: Vec<ThumbSource>) -> Result<()> {
    let folder = thumbs_folder(page_path);
    std::fs::create_dir_all(&folder)
        .with_context(|| format!("cannot create the thumbnail folder {}", folder.display()))?;
    let folder_name = folder
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let made: Vec<(usize, Option<String>)> = sources
        .par_iter()
        .map(|source| {
            let name = format!("{:06}.jpg", source.card);
            let ok = thumbnail(&source.kind)
                .and_then(|jpeg| crate::util::write_atomic(&folder.join(&name), &jpeg))
                .is_ok();
            (source.card, ok.then(|| format!("{folder_name}/{name}")))
        })
        .collect();
    for (card, thumb) in made {
        if let Some(card) = page.cards.get_mut(card) {
            card.thumb = thumb;
        }
    }
    let html = render(&page)?;
    crate::util::write_atomic(page_path, html.as_bytes())
        .with_context(|| format!("cannot write the report {}", page_path.display()))
}

/// A JPEG thumbnail, longest side [`THUMB_SIZE`], of a cover file or embedded picture.
pub fn thumbnail(kind: &SourceKind) -> Result<Vec<u8>> {
    let limits = DecodeLimits::default();
    let bytes = match kind {
        SourceKind::File(path) => std::fs::read(path)?,
        SourceKind::Embedded { audio_files } => {
            embedded_picture(audio_files)
                .map_err(anyhow::Error::msg)?
                .bytes
        }
    };
    let rgb = decode_to_rgb(&bytes, &limits)?;
    let scale = THUMB_SIZE as f32 / rgb.width().max(rgb.height()) as f32;
    let (w, h) = if scale < 1.0 {
        (
            ((rgb.width() as f32 * scale).round() as u32).max(1),
            ((rgb.height() as f32 * scale).round() as u32).max(1),
        )
    } else {
        (rgb.width(), rgb.height())
    };
    let small = image::imageops::thumbnail(&rgb, w, h);
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, THUMB_QUALITY)
        .encode_image(&small)?;
    Ok(jpeg)
}

/// The page's HTML: the template with the data (JSON; `<` escaped so no string in it can end
/// the script element).
pub fn render(page: &Page) -> Result<String> {
    let data = serde_json::to_string(page)?.replace('<', "\\u003c");
    Ok(TEMPLATE
        .replace("{{TITLE}}", &escape(&page.title))
        .replace("{{FIRST_CARDS}}", &FIRST_CARDS.to_string())
        .replace("{{DATA}}", &data))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const TEMPLATE: &str = include_str!("review.html");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_cannot_break_out_of_its_script_element() {
        let page = Page {
            title: "a <b> & c".into(),
            genres: vec![("rock".into(), "Rock".into())],
            cards: vec![Card {
                path: "</script><script>alert(1)</script>.jpg".into(),
                group: "rock".into(),
                probability: Some(0.5),
                top: vec![],
                note: None,
                truth: None,
                predicted: None,
                thumb: None,
                plan: None,
                artist_context: None,
            }],
            evaluation: None,
            plan: None,
            artists: None,
        };
        let html = render(&page).unwrap();
        assert!(!html.contains("</script><script>alert"), "{html}");
        assert!(html.contains("<title>a &lt;b&gt; &amp; c</title>"));
        assert_eq!(
            html.matches("</script>").count(),
            TEMPLATE.matches("</script>").count()
        );
    }
}

/// Gathers a run's results as cards, in input order, with where each thumbnail comes from.
#[derive(Default)]
pub struct Collector {
    pub cards: Vec<Card>,
    sources: Vec<ThumbSource>,
    /// The plan's identifier, with `--tag` (see [`Page::plan`]).
    pub plan: Option<String>,
    /// With `--tag` and the artist context (see [`Page::artists`]).
    pub artists: Option<ArtistRule>,
}

impl Collector {
    /// A classified cover (classify: its genre or `uncertain`).
    pub fn classified(&mut self, source: &Source, record: &crate::report::classify::Record) {
        self.sources.push(ThumbSource {
            card: self.cards.len(),
            kind: source.kind.clone(),
        });
        self.cards.push(Card {
            path: record.path.clone(),
            group: record.genre.clone(),
            probability: Some(record.probability),
            top: record.top.clone(),
            note: None,
            truth: None,
            predicted: record.top.first().map(|r| r.genre.clone()),
            thumb: None,
            plan: None,
            artist_context: None,
        });
    }

    /// A cover that could not be classified: in the skipped group, with the reason.
    pub fn failed(&mut self, failure: &Failure) {
        self.cards
            .push(Card::skipped(&failure.path, &failure.reason));
    }

    /// Makes the thumbnails and writes the page.
    pub fn write(
        self,
        page_path: &Path,
        title: &str,
        genres: &crate::genres::GenreSet,
        evaluation: Option<Evaluation>,
    ) -> Result<()> {
        let page = Page {
            title: title.to_string(),
            genres: genres
                .iter()
                .map(|g| (g.slug.clone(), g.name.clone()))
                .collect(),
            cards: self.cards,
            evaluation,
            plan: self.plan,
            artists: self.artists,
        };
        write(page_path, page, self.sources)
    }
}

/// The group of covers that were skipped or could not be read.
pub const SKIPPED: &str = "skipped";

/// What an evaluation's page keeps of each cover (a few numbers, never the image).
#[derive(Debug, Clone)]
pub struct ScoredCover {
    pub path: PathBuf,
    /// Index into the model's genres.
    pub truth: usize,
    /// The top three (genre index, probability), most probable first.
    pub top: Vec<(usize, f32)>,
}

impl ScoredCover {
    pub fn of(scored: &crate::evaluate::Scored<'_>) -> Self {
        Self {
            path: scored.path.to_path_buf(),
            truth: scored.truth,
            top: crate::metrics::ranked(scored.probabilities, 3),
        }
    }
}

/// Writes an evaluation's review page: the heat map, per-genre metrics, and every cover
/// grouped by predicted genre with its true genre; unreadable covers in the skipped group.
pub fn write_evaluation(
    page_path: &Path,
    report: &crate::report::EvalReport,
    covers: Vec<ScoredCover>,
) -> Result<()> {
    let slug = |i: usize| {
        report
            .genres
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("class-{i}"))
    };
    let mut page = Page {
        title: format!("covergenre-eval: {} on {}", report.model, report.covers),
        genres: report
            .genres
            .iter()
            .cloned()
            .zip(report.genre_names.iter().cloned())
            .collect(),
        cards: Vec::with_capacity(covers.len() + report.failures.len()),
        evaluation: Some(Evaluation {
            confusion: report.confusion.clone(),
            per_genre: report.per_genre.clone(),
            accuracy: report.summary.accuracy,
            macro_f1: report.summary.macro_f1,
        }),
        plan: None,
        artists: None,
    };
    let mut sources = Vec::with_capacity(covers.len());
    for cover in covers {
        let predicted = cover.top.first().map(|&(i, _)| slug(i)).unwrap_or_default();
        sources.push(ThumbSource {
            card: page.cards.len(),
            kind: SourceKind::File(cover.path.clone()),
        });
        page.cards.push(Card {
            path: cover.path.display().to_string(),
            group: predicted.clone(),
            probability: cover.top.first().map(|&(_, p)| p),
            top: cover
                .top
                .iter()
                .map(|&(i, probability)| Ranked {
                    genre: slug(i),
                    name: report
                        .genre_names
                        .get(i)
                        .cloned()
                        .unwrap_or_else(|| slug(i)),
                    probability,
                })
                .collect(),
            note: None,
            truth: Some(slug(cover.truth)),
            predicted: Some(predicted),
            thumb: None,
            plan: None,
            artist_context: None,
        });
    }
    for failure in &report.failures {
        page.cards
            .push(Card::skipped(&failure.path, &failure.reason));
    }
    write(page_path, page, sources)
}
