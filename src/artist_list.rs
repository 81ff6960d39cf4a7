//! The artist context for classify's records: the record a combination gives (tagging's
//! proposals use it too, [`crate::tag::artists`]), and the context of a list of albums another
//! program gives (`--artist-context FILE`: the beets plugin passes its library's albums, their
//! album artists and genres), applied to each album classify rates.
//!
//! The list is JSON lines, one album a line: `{"folder": "/music/Miles Quartet/Kind of Teal",
//! "artist": "Miles Quartet", "genres": ["Jazz"]}` (`artist` null or absent: none; `genres`
//! empty: untagged). The albums with genres are the counts and what the agreement is measured
//! on; an album classify rates takes the context of its folder's line (matched as classify
//! names the album: its folder's path as text), none without one.

use crate::artist_context::{best, ArtistContext, ContextAlbum, CoverBest, Genre};
use crate::data::artists::{fold, AlbumArtist, ArtistSource};
use crate::genres::GenreSet;
use crate::report::classify::{Ranked, Record, UNCERTAIN};
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

/// A record's probabilities in the model's genre order (genres not in its top: 0).
pub fn cover_probabilities(record: &Record, genres: &GenreSet) -> Vec<f32> {
    let mut probabilities = vec![0.0; genres.len()];
    for ranked in &record.top {
        if let Some(index) = genres.iter().position(|g| g.slug == ranked.genre) {
            probabilities[index] = ranked.probability;
        }
    }
    probabilities
}

/// `cover` (the cover's record) with `combined` probabilities: ranked anew, under `threshold`
/// uncertain, every genre in its top.
pub fn combined_record(
    cover: &Record,
    combined: &[f32],
    genres: &GenreSet,
    threshold: f32,
) -> Record {
    let mut ranked: Vec<(usize, f32)> = combined.iter().copied().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let top: Vec<Ranked> = ranked
        .iter()
        .map(|&(i, p)| Ranked::of(genres, i, p))
        .collect();
    let probability = top.first().map_or(0.0, |r| r.probability);
    let genre = match top.first() {
        Some(best) if probability >= threshold => best.genre.clone(),
        _ => UNCERTAIN.to_string(),
    };
    Record {
        path: cover.path.clone(),
        genre,
        probability,
        top,
        cover: cover.cover.clone(),
        artist: cover.artist.clone(),
    }
}

/// One line of the list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListedLine {
    folder: String,
    #[serde(default)]
    artist: Option<String>,
    #[serde(default)]
    genres: Vec<String>,
}

/// The artist context of a listed library, for classify's records.
#[derive(Debug)]
pub struct ListedContext {
    context: ArtistContext,
    /// Folder (as classify names albums) -> its index in the context.
    index: HashMap<String, usize>,
    genres: GenreSet,
}

impl ListedContext {
    /// Reads the list at `path` for a model of `genres`; a line that is not such an object is
    /// an error naming the file and the line.
    pub fn read(path: &Path, genres: &GenreSet) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--artist-context {}: cannot read", path.display()))?;
        let mut albums = Vec::new();
        let mut index = HashMap::new();
        for (number, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let listed: ListedLine = serde_json::from_str(line).with_context(|| {
                format!(
                    "--artist-context {} line {}: expected {{\"folder\": ..., \"artist\": ..., \"genres\": [...]}}",
                    path.display(),
                    number + 1
                )
            })?;
            if listed.folder.is_empty() {
                bail!(
                    "--artist-context {} line {}: an empty folder",
                    path.display(),
                    number + 1
                );
            }
            index.insert(listed.folder.clone(), albums.len());
            albums.push(context_album(&listed, genres));
        }
        Ok(Self {
            context: ArtistContext::new(albums, genres.len()),
            index,
            genres: genres.clone(),
        })
    }

    /// The plan's lines about the list: the agreement measured and the weight.
    pub fn line(&self) -> String {
        self.context.agreement.line()
    }

    /// Combines `record` (every genre's probability in its top) with its album's artist, when
    /// its folder is listed with an artist; `threshold` makes the combined best uncertain.
    pub fn apply(&self, record: &Record, threshold: f32) -> Option<Record> {
        let &index = self.index.get(&record.path)?;
        let cover = cover_probabilities(record, &self.genres);
        let cover_best = best(&cover).map(|i| CoverBest {
            value: self
                .genres
                .get(i)
                .map(|g| g.name.clone())
                .unwrap_or_default(),
            probability: cover[i],
        });
        let (said, combined) = self.context.said(index, &cover, cover_best)?;
        let mut combined = combined_record(record, &combined, &self.genres, threshold);
        combined.artist = Some(said);
        Some(combined)
    }
}

fn context_album(listed: &ListedLine, genres: &GenreSet) -> ContextAlbum {
    let artist = listed
        .artist
        .as_deref()
        .map(str::trim)
        .filter(|name| !fold(name).is_empty())
        .map(|name| AlbumArtist {
            name: name.to_string(),
            key: fold(name),
            source: ArtistSource::AlbumArtist,
            note: None,
        });
    let genre = crate::data::vocabulary::first_value(&listed.genres).map(|spelling| Genre {
        key: crate::genres::normalise(&spelling),
        class: genres.index_of(&spelling),
        spelling,
    });
    ContextAlbum { artist, genre }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::classify::Ranked;

    fn record(path: &str, probabilities: [f32; 3], genres: &GenreSet) -> Record {
        let mut top: Vec<Ranked> = probabilities
            .iter()
            .enumerate()
            .map(|(i, &p)| Ranked::of(genres, i, p))
            .collect();
        top.sort_by(|a, b| b.probability.total_cmp(&a.probability));
        Record {
            path: path.into(),
            genre: top[0].genre.clone(),
            probability: top[0].probability,
            top,
            cover: None,
            artist: None,
        }
    }

    #[test]
    fn a_listed_albums_record_is_combined_with_its_artists_other_albums() {
        let genres = GenreSet::from_slugs(["metal", "jazz", "folk"].map(String::from));
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("artists.jsonl");
        let mut lines = Vec::new();
        for n in 0..3 {
            lines.push(format!(
                r#"{{"folder": "/m/Miles {n}", "artist": "Miles Quartet", "genres": ["Jazz"]}}"#
            ));
            lines.push(format!(
                r#"{{"folder": "/m/Forge {n}", "artist": "Iron Maidens", "genres": ["Metal"]}}"#
            ));
        }
        lines.push(r#"{"folder": "/m/New", "artist": "The Miles Quartet"}"#.into());
        lines.push(r#"{"folder": "/m/Hits", "artist": null, "genres": []}"#.into());
        std::fs::write(&list, lines.join("\n")).unwrap();
        let context = ListedContext::read(&list, &genres).unwrap();
        assert!(
            context.line().contains("2 with 2+ tagged albums"),
            "{}",
            context.line()
        );

        let new = context
            .apply(&record("/m/New", [0.68, 0.3, 0.02], &genres), 0.5)
            .unwrap();
        assert_eq!(new.genre, "jazz", "{new:?}");
        assert_eq!(new.top.len(), 3);
        let said = new.artist.expect("the artist object");
        assert_eq!((said.albums, said.name.as_str()), (3, "The Miles Quartet"));
        assert_eq!(said.cover.unwrap().value, "Metal");
        assert!(context
            .apply(&record("/m/Hits", [0.5, 0.3, 0.2], &genres), 0.5)
            .is_none());
        assert!(context
            .apply(&record("/m/Unlisted", [0.5, 0.3, 0.2], &genres), 0.5)
            .is_none());
    }

    #[test]
    fn a_bad_line_is_an_error_naming_the_file_and_the_line() {
        let genres = GenreSet::mumu();
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("artists.jsonl");
        std::fs::write(&list, "{\"folder\": \"/m/A\"}\n{\"folder\": 3}\n").unwrap();
        let error = format!("{:#}", ListedContext::read(&list, &genres).unwrap_err());
        assert!(error.contains("artists.jsonl line 2"), "{error}");
        std::fs::write(&list, "{\"folder\": \"\"}\n").unwrap();
        let error = format!("{:#}", ListedContext::read(&list, &genres).unwrap_err());
        assert!(error.contains("line 1: an empty folder"), "{error}");
        let missing = ListedContext::read(&dir.path().join("none.jsonl"), &genres).unwrap_err();
        assert!(
            format!("{missing:#}").contains("cannot read"),
            "{missing:#}"
        );
    }
}
