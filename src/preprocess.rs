//! Preprocessing, defined once. Training, export, classify and eval all read a [`Preprocess`];
//! the exported ONNX model records it in its metadata (and performs the scaling itself), so any
//! outside user only has to resize to `height` x `width` with `filter`.

use serde::{Deserialize, Serialize};

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
