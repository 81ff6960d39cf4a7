//! Preprocessing, defined once. Training, export, classify and eval all read a [`Preprocess`];
//! the exported ONNX model records it in its metadata (and performs the scaling itself), so any
//! outside user only has to resize to `height` x `width` with `filter`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Metadata keys of a [`Preprocess`] in an exported model. Stable: shipped models carry them.
pub const INPUT_HEIGHT: &str = "input_height";
pub const INPUT_WIDTH: &str = "input_width";
pub const RESIZE_FILTER: &str = "resize_filter";
pub const NORMALISATION: &str = "normalisation";
/// Every metadata entry a [`Preprocess`] writes.
pub const METADATA_KEYS: [&str; 4] = [INPUT_HEIGHT, INPUT_WIDTH, RESIZE_FILTER, NORMALISATION];

/// A preprocessing metadata entry that is missing or not valid (the model's metadata reader
/// turns it into its own error, with the same key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryError {
    Missing(&'static str),
    Invalid { key: &'static str, reason: String },
}

/// Resize filter used to bring a decoded cover to the model's input size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ResizeFilter {
    Nearest,
    #[default]
    Bilinear,
    CatmullRom,
    Lanczos3,
}

impl ResizeFilter {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nearest => "nearest",
            Self::Bilinear => "bilinear",
            Self::CatmullRom => "catmull-rom",
            Self::Lanczos3 => "lanczos3",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Nearest,
            Self::Bilinear,
            Self::CatmullRom,
            Self::Lanczos3,
        ]
        .into_iter()
        .find(|f| f.as_str() == name)
    }
}

/// How pixel values become network inputs: `(pixel / 255 - mean[c]) / std[c]` per RGB channel.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Normalisation {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Normalisation {
    /// The study's Keras models: rescale to [0, 1] and nothing else.
    pub const UNIT: Self = Self {
        mean: [0.0; 3],
        std: [1.0; 3],
    };
    /// EfficientNet-Lite's ImageNet training: roughly [-1, 1].
    pub const EFFICIENTNET_LITE: Self = Self {
        mean: [0.498, 0.498, 0.498],
        std: [0.502, 0.502, 0.502],
    };

    /// Per-channel (scale, shift) so that `input = pixel * scale + shift`; the ONNX graph and the
    /// tch model both use this form, so they cannot disagree about the formula.
    pub fn affine(&self) -> [(f32, f32); 3] {
        std::array::from_fn(|c| {
            let scale = 1.0 / (255.0 * self.std[c]);
            (scale, -self.mean[c] / self.std[c])
        })
    }
}

/// Everything between a decoded image and the network: size, filter, normalisation.
/// Images are always RGB, alpha composited on white, EXIF orientation applied, then resized
/// (aspect ratio not kept: covers are square) to `height` x `width`, laid out HWC as u8.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Preprocess {
    pub height: u32,
    pub width: u32,
    pub filter: ResizeFilter,
    pub normalisation: Normalisation,
}

impl Preprocess {
    pub fn square(size: u32, normalisation: Normalisation) -> Self {
        Self {
            height: size,
            width: size,
            filter: ResizeFilter::Bilinear,
            normalisation,
        }
    }

    /// Bytes in one preprocessed image (HWC, u8).
    pub fn image_len(&self) -> usize {
        self.height as usize * self.width as usize * 3
    }

    /// Writes this preprocessing's metadata entries ([`METADATA_KEYS`]) into `props`.
    pub fn write_metadata(&self, props: &mut BTreeMap<String, String>) {
        // Destructured, so a new field cannot be added without deciding how it is recorded.
        let Self {
            height,
            width,
            filter,
            normalisation,
        } = self;
        props.insert(INPUT_HEIGHT.into(), height.to_string());
        props.insert(INPUT_WIDTH.into(), width.to_string());
        props.insert(RESIZE_FILTER.into(), filter.as_str().into());
        props.insert(
            NORMALISATION.into(),
            serde_json::to_string(normalisation).expect("numbers serialise"),
        );
    }

    /// Reads back what [`Self::write_metadata`] wrote. The size and filter are required; a
    /// model without a normalisation entry (older versions) rescales to [0, 1].
    pub fn read_metadata(props: &BTreeMap<String, String>) -> Result<Self, EntryError> {
        let get = |key: &'static str| props.get(key).ok_or(EntryError::Missing(key));
        let invalid = |key: &'static str, reason: String| EntryError::Invalid { key, reason };
        let dimension = |key: &'static str| -> Result<u32, EntryError> {
            get(key)?
                .parse::<u32>()
                .ok()
                .filter(|&v| v > 0)
                .ok_or_else(|| invalid(key, "expected a positive whole number".into()))
        };
        let filter_name = get(RESIZE_FILTER)?;
        let filter = ResizeFilter::parse(filter_name)
            .ok_or_else(|| invalid(RESIZE_FILTER, format!("unknown filter '{filter_name}'")))?;
        let normalisation: Normalisation = match props.get(NORMALISATION) {
            Some(text) => {
                serde_json::from_str(text).map_err(|e| invalid(NORMALISATION, e.to_string()))?
            }
            None => Normalisation::UNIT,
        };
        Ok(Self {
            height: dimension(INPUT_HEIGHT)?,
            width: dimension(INPUT_WIDTH)?,
            filter,
            normalisation,
        })
    }

    /// What of the preprocessing decoded pixels depend on, as text for the image cache's key:
    /// a change here makes old cache entries misses.
    pub fn cache_fingerprint(&self) -> String {
        // Destructured like `write_metadata`. The normalisation is applied to the network input,
        // after the cache (which keeps u8 pixels), so models differing only in it share entries.
        let Self {
            height,
            width,
            filter,
            normalisation: _,
        } = self;
        format!("{height}x{width}|{}", filter.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affine_form_matches_the_mean_std_formula() {
        let n = Normalisation::EFFICIENTNET_LITE;
        for (c, (scale, shift)) in n.affine().into_iter().enumerate() {
            for pixel in [0.0f32, 17.0, 255.0] {
                let expected = (pixel / 255.0 - n.mean[c]) / n.std[c];
                assert!((pixel * scale + shift - expected).abs() < 1e-6);
            }
        }
    }

    /// One preprocessing per field changed, from a common base.
    fn variations() -> Vec<Preprocess> {
        let base = Preprocess::square(224, Normalisation::EFFICIENTNET_LITE);
        vec![
            base,
            Preprocess {
                height: 160,
                ..base
            },
            Preprocess { width: 160, ..base },
            Preprocess {
                filter: ResizeFilter::Lanczos3,
                ..base
            },
            Preprocess {
                normalisation: Normalisation::UNIT,
                ..base
            },
        ]
    }

    #[test]
    fn preprocessing_round_trips_through_metadata_with_todays_keys_and_values() {
        for pre in variations() {
            let mut props = BTreeMap::new();
            pre.write_metadata(&mut props);
            let keys: Vec<&str> = props.keys().map(String::as_str).collect();
            let mut expected = METADATA_KEYS.to_vec();
            expected.sort_unstable();
            assert_eq!(keys, expected);
            assert_eq!(Preprocess::read_metadata(&props), Ok(pre));
        }
        // Byte for byte what shipped models carry.
        let mut props = BTreeMap::new();
        Preprocess::square(224, Normalisation::EFFICIENTNET_LITE).write_metadata(&mut props);
        assert_eq!(props["input_height"], "224");
        assert_eq!(props["input_width"], "224");
        assert_eq!(props["resize_filter"], "bilinear");
        assert_eq!(
            props["normalisation"],
            r#"{"mean":[0.498,0.498,0.498],"std":[0.502,0.502,0.502]}"#
        );
    }

    #[test]
    fn metadata_without_normalisation_is_unit_and_bad_entries_name_their_key() {
        let mut props = BTreeMap::new();
        Preprocess::square(64, Normalisation::EFFICIENTNET_LITE).write_metadata(&mut props);
        props.remove(NORMALISATION);
        let read = Preprocess::read_metadata(&props).unwrap();
        assert_eq!(read.normalisation, Normalisation::UNIT);
        props.insert(INPUT_WIDTH.into(), "0".into());
        assert!(matches!(
            Preprocess::read_metadata(&props),
            Err(EntryError::Invalid {
                key: INPUT_WIDTH,
                ..
            })
        ));
        props.remove(INPUT_HEIGHT);
        assert_eq!(
            Preprocess::read_metadata(&props),
            Err(EntryError::Missing(INPUT_HEIGHT))
        );
    }

    #[test]
    fn the_cache_fingerprint_changes_with_every_field_that_shapes_the_pixels() {
        let all = variations();
        let (base, pixel_changes, normalisation_change) = (&all[0], &all[1..4], &all[4]);
        // Today's key text, so existing cache entries stay valid.
        assert_eq!(base.cache_fingerprint(), "224x224|bilinear");
        for changed in pixel_changes {
            assert_ne!(
                changed.cache_fingerprint(),
                base.cache_fingerprint(),
                "{changed:?}"
            );
        }
        // Normalisation applies after the cache: cached u8 pixels do not depend on it.
        assert_eq!(
            normalisation_change.cache_fingerprint(),
            base.cache_fingerprint()
        );
    }

    #[test]
    fn filters_round_trip_through_their_names() {
        for f in [
            ResizeFilter::Nearest,
            ResizeFilter::Bilinear,
            ResizeFilter::CatmullRom,
            ResizeFilter::Lanczos3,
        ] {
            assert_eq!(ResizeFilter::parse(f.as_str()), Some(f));
        }
        assert_eq!(ResizeFilter::parse("cubic"), None);
    }
}
