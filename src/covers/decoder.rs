//! The pipeline's decoder for covers.

use super::{Source, SourceKind};
use crate::audio::embedded_picture;
use crate::data::decode::{decode_bytes, decode_file, DecodeLimits};
use crate::infer::pipeline::Decoder;
use crate::preprocess::Preprocess;

/// The standard [`Decoder`]: image files through `data::decode`, embedded album art through
/// [`embedded_picture`] then the same decode, at the model's input size.
#[derive(Debug, Clone)]
pub struct CoverDecoder {
    pub preprocess: Preprocess,
    pub limits: DecodeLimits,
}

impl CoverDecoder {
    pub fn new(preprocess: Preprocess) -> Self {
        Self {
            preprocess,
            limits: DecodeLimits::default(),
        }
    }
}

impl Decoder for CoverDecoder {
    type Source = Source;

    fn image_len(&self) -> usize {
        self.preprocess.image_len()
    }

    fn image_width(&self) -> Option<usize> {
        Some(self.preprocess.width as usize)
    }

    fn decode(&self, source: &Source) -> Result<Vec<u8>, String> {
        match &source.kind {
            SourceKind::File(file) => {
                decode_file(file, &self.preprocess, &self.limits).map_err(|e| {
                    match file == &source.path {
                        true => e.to_string(),
                        // Library mode shows the album folder: say which of its files failed.
                        false => format!("cover file {}: {e}", file.display()),
                    }
                })
            }
            SourceKind::Embedded { audio_files } => {
                let bytes = embedded_picture(audio_files)?;
                decode_bytes(&bytes, &self.preprocess, &self.limits)
                    .map_err(|e| format!("embedded picture: {e}"))
            }
        }
    }
}
