//! The owner's genre vocabulary: the genre values found in a music library's tags, folded into
//! one class per genre in the owner's own spelling.
//!
//! - Values are compared after [`normalise`]: case, spaces, hyphens and punctuation do not
//!   count, and `&` reads as `and` ("Hip-Hop", "Hip Hop" and "hip hop" are one genre; so are
//!   "Drum & Bass" and "drum and bass"). A genre is shown in its most common spelling.
//! - A multi-valued genre ("Electronic; House", or several values in the tag) is labelled with
//!   its first value ([`first_value`]).
//! - A genre map (`--genre-map FILE.json`: `{"Alternative Rock": "Rock", "Audiobook": null}`)
//!   merges a value into another genre of the library or drops its albums.
//! - Genres with fewer than `min_albums` albums are left out (listed with their counts).

use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The characters that separate several genres written as one value.
pub const VALUE_SEPARATORS: [char; 5] = [';', '/', ',', '|', '\\'];

/// The form genre values are compared in: lower case, letters and digits only (any script),
/// with `&` read as `and`.
pub fn normalise(value: &str) -> String {
    crate::genres::normalise(value)
}

/// The first genre of a field's values: the first value, split at the first separator
/// ([`VALUE_SEPARATORS`]), trimmed; `None` when there is no non-empty one.
pub fn first_value(values: &[String]) -> Option<String> {
    values
        .iter()
        .flat_map(|v| v.split(VALUE_SEPARATORS))
        .map(str::trim)
        .find(|v| !normalise(v).is_empty())
        .map(String::from)
}

/// A genre map read from a JSON file: normalised value -> the genre it merges into, or `None`
/// (its albums are dropped).
#[derive(Debug, Clone, Default)]
pub struct GenreMap {
    pub file: Option<PathBuf>,
    /// Normalised key -> (the key as written, target as written or `None`).
    entries: BTreeMap<String, (String, Option<String>)>,
}

impl GenreMap {
    /// Reads `{"value": "genre" | null, ...}`; anything else is an error naming the file and,
    /// where there is one, the key.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--genre-map {}: cannot read", path.display()))?;
        let value: serde_json::Value = serde_json::from_str(&text).with_context(|| {
            format!(
                "--genre-map {}: not valid JSON (expected an object such as {{\"Alternative Rock\": \"Rock\", \"Audiobook\": null}})",
                path.display()
            )
        })?;
        let Some(object) = value.as_object() else {
            bail!(
                "--genre-map {}: expected a JSON object of value -> genre (or null), found {}",
                path.display(),
                json_kind(&value)
            );
        };
        let mut entries = BTreeMap::new();
        for (key, target) in object {
            let target = match target {
                serde_json::Value::Null => None,
                serde_json::Value::String(genre) if !normalise(genre).is_empty() => {
                    Some(genre.trim().to_string())
                }
                other => bail!(
                    "--genre-map {}: key \"{key}\": expected a genre name or null, found {}",
                    path.display(),
                    json_kind(other)
                ),
            };
            let normalised = normalise(key);
            if normalised.is_empty() {
                bail!(
                    "--genre-map {}: key \"{key}\" has no letters or digits",
                    path.display()
                );
            }
            if let Some((earlier, _)) = entries.get(&normalised) {
                bail!(
                    "--genre-map {}: keys \"{earlier}\" and \"{key}\" are the same genre",
                    path.display()
                );
            }
            entries.insert(normalised, (key.clone(), target));
        }
        Ok(Self {
            file: Some(path.to_path_buf()),
            entries,
        })
    }

    fn lookup(&self, normalised: &str) -> Option<&(String, Option<String>)> {
        self.entries.get(normalised)
    }

    fn describe_file(&self) -> String {
        self.file
            .as_ref()
            .map_or_else(|| "the genre map".into(), |f| f.display().to_string())
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// One genre of the vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VocabularyGenre {
    /// The owner's spelling: the most common one among the albums folded into it.
    pub name: String,
    /// Every spelling folded into it (values merged by the map included), most common first,
    /// with its album count.
    pub spellings: Vec<(String, usize)>,
    pub albums: usize,
}

/// What the vocabulary did with the library's values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Vocabulary {
    /// The genres trained on, sorted by name: class i is `genres[i]`.
    pub genres: Vec<VocabularyGenre>,
    /// Genres with fewer than `min_albums` albums: left out, with their counts.
    pub left_out: Vec<VocabularyGenre>,
    /// Values the map dropped (`null`), with their album counts.
    pub dropped: Vec<(String, usize)>,
    pub min_albums: usize,
}

impl Vocabulary {
    /// Builds the vocabulary from every labelled album's genre value (one per album, in the
    /// owner's spelling), the map and the minimum album count.
    pub fn build(values: &[String], map: &GenreMap, min_albums: usize) -> Result<Self> {
        let spellings = count_spellings(values);
        check_map_targets(map, &spellings)?;
        // Normalised genre -> spelling -> albums, after the map.
        let mut merged: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        let mut dropped: BTreeMap<String, usize> = BTreeMap::new();
        for (key, by_spelling) in &spellings {
            match map.lookup(key) {
                Some((written, None)) => {
                    *dropped.entry(written.clone()).or_default() +=
                        by_spelling.values().sum::<usize>();
                }
                Some((_, Some(target))) => {
                    let into = merged.entry(normalise(target)).or_default();
                    for (spelling, n) in by_spelling {
                        *into.entry(spelling.clone()).or_default() += n;
                    }
                }
                None => {
                    let into = merged.entry(key.clone()).or_default();
                    for (spelling, n) in by_spelling {
                        *into.entry(spelling.clone()).or_default() += n;
                    }
                }
            }
        }
        let mut genres = Vec::new();
        let mut left_out = Vec::new();
        for (key, by_spelling) in merged {
            let genre = vocabulary_genre(&key, by_spelling, &spellings);
            if genre.albums >= min_albums {
                genres.push(genre);
            } else {
                left_out.push(genre);
            }
        }
        genres.sort_by_key(|g| (g.name.to_lowercase(), g.name.clone()));
        left_out.sort_by(|a, b| b.albums.cmp(&a.albums).then(a.name.cmp(&b.name)));
        let mut dropped: Vec<(String, usize)> = dropped.into_iter().collect();
        dropped.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(Self {
            genres,
            left_out,
            dropped,
            min_albums,
        })
    }

    /// The class of an album's genre value, `None` when it was dropped or left out.
    pub fn class_of(&self, value: &str, map: &GenreMap) -> Option<usize> {
        let key = normalise(value);
        let key = match map.lookup(&key) {
            Some((_, None)) => return None,
            Some((_, Some(target))) => normalise(target),
            None => key,
        };
        self.genres.iter().position(|g| normalise(&g.name) == key)
    }

    /// The owner's spellings of the classes, in class order.
    pub fn names(&self) -> Vec<String> {
        self.genres.iter().map(|g| g.name.clone()).collect()
    }
}

/// Normalised value -> spelling -> albums.
fn count_spellings(values: &[String]) -> BTreeMap<String, BTreeMap<String, usize>> {
    let mut spellings: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for value in values {
        let value = value.trim();
        *spellings
            .entry(normalise(value))
            .or_default()
            .entry(value.to_string())
            .or_default() += 1;
    }
    spellings
}

/// A map target must be a genre the library has (in any spelling) and that the map itself
/// neither drops nor merges away.
fn check_map_targets(
    map: &GenreMap,
    spellings: &BTreeMap<String, BTreeMap<String, usize>>,
) -> Result<()> {
    for (key, target) in map.entries.values() {
        let Some(target) = target else { continue };
        let wanted = normalise(target);
        let exists = spellings.contains_key(&wanted);
        let remapped = map
            .lookup(&wanted)
            .is_some_and(|(_, t)| t.as_deref().map(normalise) != Some(wanted.clone()));
        if !exists || remapped {
            let known: Vec<String> = spellings.values().filter_map(most_common).collect();
            bail!(
                "--genre-map {}: key \"{key}\" maps to \"{target}\", which is {} (genres found: {})",
                map.describe_file(),
                if remapped {
                    "itself merged or dropped by the map"
                } else {
                    "not a genre of the library after merging"
                },
                known.join(", ")
            );
        }
    }
    Ok(())
}

/// The genre for normalised `key`, named by its own most common spelling when the library has
/// one (a merged genre keeps its name, not that of what merged into it).
fn vocabulary_genre(
    key: &str,
    by_spelling: BTreeMap<String, usize>,
    own: &BTreeMap<String, BTreeMap<String, usize>>,
) -> VocabularyGenre {
    let name = own
        .get(key)
        .and_then(most_common)
        .or_else(|| most_common(&by_spelling))
        .unwrap_or_else(|| key.to_string());
    let albums = by_spelling.values().sum();
    let mut spellings: Vec<(String, usize)> = by_spelling.into_iter().collect();
    spellings.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    VocabularyGenre {
        name,
        spellings,
        albums,
    }
}

/// The most common spelling (ties: the first in sorted order, so the choice is stable).
fn most_common(by_spelling: &BTreeMap<String, usize>) -> Option<String> {
    by_spelling
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(s, _)| s.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(list: &[(&str, usize)]) -> Vec<String> {
        list.iter()
            .flat_map(|(v, n)| std::iter::repeat_n(v.to_string(), *n))
            .collect()
    }

    #[test]
    fn spellings_fold_into_the_most_common_one() {
        let vocabulary = Vocabulary::build(
            &values(&[("Hip-Hop", 5), ("Hip Hop", 2), ("hip hop", 1), ("Rock", 3)]),
            &GenreMap::default(),
            1,
        )
        .unwrap();
        assert_eq!(vocabulary.names(), ["Hip-Hop", "Rock"]);
        assert_eq!(vocabulary.genres[0].albums, 8);
        assert_eq!(
            vocabulary.genres[0].spellings,
            [
                ("Hip-Hop".to_string(), 5),
                ("Hip Hop".to_string(), 2),
                ("hip hop".to_string(), 1)
            ]
        );
        assert_eq!(
            vocabulary.class_of("HIP HOP", &GenreMap::default()),
            Some(0)
        );
    }

    #[test]
    fn and_and_ampersand_are_one_genre() {
        assert_eq!(normalise("Drum & Bass"), normalise("drum and bass"));
        assert_eq!(normalise("R&B"), normalise("r and b"));
        assert_ne!(normalise("Électronique"), normalise("lectronique"));
    }

    #[test]
    fn the_first_of_several_values_labels_the_album() {
        let first = |v: &[&str]| first_value(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(first(&["Electronic; House"]).as_deref(), Some("Electronic"));
        assert_eq!(first(&["Rock/Pop"]).as_deref(), Some("Rock"));
        assert_eq!(first(&[" ", "Jazz"]).as_deref(), Some("Jazz"));
        assert_eq!(first(&["Jazz", "Blues"]).as_deref(), Some("Jazz"));
        assert_eq!(first(&[";"]), None);
        assert_eq!(first(&[]), None);
    }

    fn map(json: &str) -> Result<GenreMap> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map.json");
        std::fs::write(&path, json).unwrap();
        GenreMap::load(&path)
    }

    #[test]
    fn the_map_merges_and_drops_and_small_genres_are_left_out() {
        let map = map(r#"{"alternative rock": "Rock", "Audiobook": null}"#).unwrap();
        let vocabulary = Vocabulary::build(
            &values(&[
                ("Rock", 4),
                ("Alternative Rock", 3),
                ("Audiobook", 2),
                ("Jazz", 10),
                ("Polka", 1),
            ]),
            &map,
            5,
        )
        .unwrap();
        assert_eq!(vocabulary.names(), ["Jazz", "Rock"]);
        assert_eq!(vocabulary.genres[1].albums, 7);
        assert_eq!(vocabulary.dropped, [("Audiobook".to_string(), 2)]);
        assert_eq!(vocabulary.left_out[0].name, "Polka");
        assert_eq!(vocabulary.class_of("Alternative Rock", &map), Some(1));
        assert_eq!(vocabulary.class_of("audiobook", &map), None);
        assert_eq!(vocabulary.class_of("Polka", &map), None);
    }

    #[test]
    fn bad_maps_are_refused_naming_the_file_and_the_key() {
        let error = map("{not json").unwrap_err();
        assert!(
            format!("{error:#}").contains("map.json: not valid JSON"),
            "{error:#}"
        );
        let error = map(r#"["Rock"]"#).unwrap_err();
        assert!(
            format!("{error:#}").contains("expected a JSON object"),
            "{error:#}"
        );
        let error = map(r#"{"Indie": 3}"#).unwrap_err();
        assert!(format!("{error:#}").contains("key \"Indie\""), "{error:#}");
        let typo = map(r#"{"Indie": "Rokc"}"#).unwrap();
        let error = Vocabulary::build(&values(&[("Indie", 1), ("Rock", 1)]), &typo, 1).unwrap_err();
        let text = format!("{error:#}");
        assert!(text.contains("key \"Indie\" maps to \"Rokc\""), "{text}");
        assert!(text.contains("map.json"), "{text}");
        let chain = map(r#"{"Indie": "Rock", "Rock": null}"#).unwrap();
        let error =
            Vocabulary::build(&values(&[("Indie", 1), ("Rock", 1)]), &chain, 1).unwrap_err();
        assert!(
            format!("{error:#}").contains("itself merged or dropped"),
            "{error:#}"
        );
    }
}
