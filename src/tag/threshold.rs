//! The careful default of `--tag`: with no `--min-confidence`, albums are written only when
//! the model's best probability reaches the threshold whose precision on covers-v1 dev is
//! about 2 in 3. A model calibrated by covergenre records its own (`tag_threshold`, chosen on
//! the covers it was calibrated on); otherwise the one measured for the shipped model holds.

use crate::metadata::{ModelMetadata, TAG_THRESHOLD};

/// The shipped model's threshold: the lowest of 0.05, 0.10, ... whose precision on the 469
/// covers-v1 dev covers is at least 2/3: 0.668, labelling 61% of them (measured 2026-12-02 with
/// `covergenre-eval --model models/covergenre.onnx --data ../shared/data/covers-v1
/// --calibrate-to recalibrated.onnx`, the same choice a calibration records; docs/tagging.md, "The
/// plan").
pub const SHIPPED_THRESHOLD: f32 = 0.45;

/// Where the threshold in force comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `--min-confidence` on the command line.
    Flag,
    /// The model's `tag_threshold` metadata entry.
    Model,
    /// [`SHIPPED_THRESHOLD`].
    Default,
}

/// The `--min-confidence` a tagging run uses, and why.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    pub value: f32,
    pub origin: Origin,
}

impl Threshold {
    /// `flag` when given, else the model's own threshold, else [`SHIPPED_THRESHOLD`]. A
    /// recorded threshold that is not a probability is ignored.
    pub fn resolve(flag: Option<f32>, model: Option<&ModelMetadata>) -> Self {
        if let Some(value) = flag {
            return Self {
                value,
                origin: Origin::Flag,
            };
        }
        let recorded = model
            .and_then(|m| m.extra.get(TAG_THRESHOLD))
            .and_then(|text| text.parse::<f32>().ok())
            .filter(|p| (0.0..=1.0).contains(p));
        match recorded {
            Some(value) => Self {
                value,
                origin: Origin::Model,
            },
            None => Self {
                value: SHIPPED_THRESHOLD,
                origin: Origin::Default,
            },
        }
    }

    /// The plan's first line: the threshold in force and how to change it.
    pub fn line(&self) -> String {
        let why = match self.origin {
            Origin::Flag => "given with --min-confidence".to_string(),
            Origin::Model => {
                "the model's own: precision about 2 in 3 on the covers it was calibrated on"
                    .to_string()
            }
            Origin::Default => {
                "the default: precision about 2 in 3 on covers-v1 dev for the shipped model"
                    .to_string()
            }
        };
        format!(
            "threshold: --min-confidence {:.2} ({why}); albums under it are shown as low confidence and not written; change it with --min-confidence P (0 writes everything)",
            self.value
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genres::GenreSet;
    use crate::preprocess::{Normalisation, Preprocess};

    fn metadata(threshold: Option<&str>) -> ModelMetadata {
        ModelMetadata {
            genres: GenreSet::mumu(),
            preprocess: Preprocess::square(64, Normalisation::UNIT),
            variant: String::new(),
            extra: threshold
                .map(|t| (TAG_THRESHOLD.to_string(), t.to_string()))
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn the_flag_beats_the_model_which_beats_the_default() {
        let own = metadata(Some("0.35"));
        assert_eq!(Threshold::resolve(Some(0.0), Some(&own)).value, 0.0);
        assert_eq!(
            Threshold::resolve(Some(0.0), Some(&own)).origin,
            Origin::Flag
        );
        assert_eq!(Threshold::resolve(None, Some(&own)).value, 0.35);
        assert_eq!(Threshold::resolve(None, Some(&own)).origin, Origin::Model);
        let none = Threshold::resolve(None, Some(&metadata(None)));
        assert_eq!(
            (none.value, none.origin),
            (SHIPPED_THRESHOLD, Origin::Default)
        );
        let bad = Threshold::resolve(None, Some(&metadata(Some("1.5"))));
        assert_eq!(bad.origin, Origin::Default, "not a probability: ignored");
    }

    #[test]
    fn the_line_names_the_value_and_the_way_to_change_it() {
        let line = Threshold::resolve(None, Some(&metadata(Some("0.45")))).line();
        assert!(
            line.starts_with("threshold: --min-confidence 0.45"),
            "{line}"
        );
        assert!(
            line.contains("--min-confidence 0 writes everything")
                || line.contains("(0 writes everything)"),
            "{line}"
        );
    }
}
