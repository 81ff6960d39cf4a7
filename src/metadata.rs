//! The metadata an exported model carries (ONNX `metadata_props`): written by `export`, read
//! by `infer`. Keys are stable; values are strings, JSON where structured.

use crate::genres::GenreSet;
use crate::preprocess::{EntryError, Preprocess, METADATA_KEYS};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const GENRES: &str = "genres";
/// Display names of the genres (JSON list in the order of `genres`), recorded when they are not
/// the ones the slugs imply: a model trained on a music library speaks the owner's spelling.
pub const GENRE_NAMES: &str = "genre_names";
pub const VARIANT: &str = "variant";
pub const TRAINING_DATA: &str = "training_data";
pub const DEV_METRICS: &str = "dev_metrics";
pub const TEST_METRICS: &str = "test_metrics";
pub const TOOLKIT_VERSION: &str = "toolkit_version";
pub const CREATED: &str = "created";
/// The temperature T of a calibrated model: `probabilities = softmax(logits / T)`, while the
/// `logits` output stays raw. Absent: T = 1.
pub const TEMPERATURE: &str = "temperature";
/// The `--min-confidence` that `--tag` uses when none is given: the lowest threshold whose
/// precision on the covers the model was calibrated on is about 2 in 3
/// ([`crate::calibration::threshold_for_precision`]). Written when a model is calibrated,
/// removed when it is calibrated again and no threshold reaches that precision.
pub const TAG_THRESHOLD: &str = "tag_threshold";
/// How a model trained on a pretrained backbone saw its training covers, JSON: the cached
/// views (count, augmentation, seed) and, for a distilled model, its teacher's file name,
/// the temperature and the teacher's weight in the loss.
pub const TRAINING_VIEWS: &str = "training_views";
/// The network a model written from a spec is made of, JSON ([`crate::spec::Architecture`]):
/// its layers and where its last layers start, so the model can be read back into tch and
/// fine-tuned (a music library learning from it as a base). Absent from ensembles and owner
/// models, whose graphs no spec describes.
pub const ARCHITECTURE: &str = "architecture";

/// Name of the model's input: uint8 [N, H, W, 3] RGB.
pub const INPUT_NAME: &str = "image";
/// Softmax output, [N, C].
pub const PROBABILITIES_NAME: &str = "probabilities";
/// Pre-softmax output, [N, C].
pub const LOGITS_NAME: &str = "logits";

/// Typed view of the metadata. `extra` keeps free-form entries (metrics, data summary) as JSON text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMetadata {
    pub genres: GenreSet,
    pub preprocess: Preprocess,
    pub variant: String,
    pub extra: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("the model has no '{0}' metadata entry; covergenre needs it (export models with covergenre-train)")]
    Missing(&'static str),
    #[error("the model's '{key}' metadata entry is not valid: {reason}")]
    Invalid { key: &'static str, reason: String },
}

impl From<EntryError> for MetadataError {
    fn from(error: EntryError) -> Self {
        match error {
            EntryError::Missing(key) => Self::Missing(key),
            EntryError::Invalid { key, reason } => Self::Invalid { key, reason },
        }
    }
}

impl ModelMetadata {
    /// Flattens to ONNX metadata_props entries.
    pub fn to_props(&self) -> BTreeMap<String, String> {
        let mut props = self.extra.clone();
        props.insert(
            GENRES.into(),
            serde_json::to_string(&self.genres.slugs()).expect("strings serialise"),
        );
        if self.genres.has_own_names() {
            props.insert(
                GENRE_NAMES.into(),
                serde_json::to_string(&self.genres.names()).expect("strings serialise"),
            );
        }
        self.preprocess.write_metadata(&mut props);
        props.insert(VARIANT.into(), self.variant.clone());
        props
    }

    /// Reads metadata_props back; `genres`, the input size and the filter are required (the
    /// preprocessing reads its own entries: [`Preprocess::read_metadata`]).
    pub fn from_props(props: &BTreeMap<String, String>) -> Result<Self, MetadataError> {
        let get = |key: &'static str| props.get(key).ok_or(MetadataError::Missing(key));
        let invalid = |key: &'static str, reason: String| MetadataError::Invalid { key, reason };
        let slugs: Vec<String> = serde_json::from_str(get(GENRES)?)
            .map_err(|e| invalid(GENRES, format!("expected a JSON list of names: {e}")))?;
        if slugs.is_empty() {
            return Err(invalid(GENRES, "the list is empty".into()));
        }
        let mut genres = GenreSet::from_slugs(slugs);
        if let Some(names) = props.get(GENRE_NAMES) {
            let names: Vec<String> = serde_json::from_str(names)
                .map_err(|e| invalid(GENRE_NAMES, format!("expected a JSON list of names: {e}")))?;
            genres = genres
                .with_names(&names)
                .map_err(|reason| invalid(GENRE_NAMES, reason))?;
        }
        let preprocess = Preprocess::read_metadata(props)?;
        let known = |key: &str| {
            key == GENRES || key == GENRE_NAMES || key == VARIANT || METADATA_KEYS.contains(&key)
        };
        let extra = props
            .iter()
            .filter(|(k, _)| !known(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(Self {
            genres,
            preprocess,
            variant: props.get(VARIANT).cloned().unwrap_or_default(),
            extra,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preprocess::Normalisation;

    #[test]
    fn metadata_round_trips_through_props() {
        let mut extra = BTreeMap::new();
        extra.insert(DEV_METRICS.to_string(), r#"{"macro_f1":0.3}"#.to_string());
        let meta = ModelMetadata {
            genres: GenreSet::mumu(),
            preprocess: Preprocess::square(224, Normalisation::EFFICIENTNET_LITE),
            variant: "baseline".into(),
            extra,
        };
        assert_eq!(ModelMetadata::from_props(&meta.to_props()).unwrap(), meta);
    }

    #[test]
    fn owner_spellings_round_trip_as_genre_names() {
        let meta = ModelMetadata {
            genres: GenreSet::from_names(["Hip-Hop".into(), "Rock".into()]),
            preprocess: Preprocess::square(64, Normalisation::UNIT),
            variant: String::new(),
            extra: BTreeMap::new(),
        };
        let props = meta.to_props();
        assert_eq!(props[GENRES], r#"["hip-hop","rock"]"#);
        assert_eq!(props[GENRE_NAMES], r#"["Hip-Hop","Rock"]"#);
        assert_eq!(ModelMetadata::from_props(&props).unwrap(), meta);
        let mut mumu = meta.clone();
        mumu.genres = GenreSet::mumu();
        assert!(!mumu.to_props().contains_key(GENRE_NAMES));
    }

    #[test]
    fn missing_genres_is_a_clear_error() {
        let mut props = ModelMetadata {
            genres: GenreSet::mumu(),
            preprocess: Preprocess::square(64, Normalisation::UNIT),
            variant: String::new(),
            extra: BTreeMap::new(),
        }
        .to_props();
        props.remove(GENRES);
        let err = ModelMetadata::from_props(&props).unwrap_err().to_string();
        assert!(err.contains("'genres'"), "{err}");
    }
}
