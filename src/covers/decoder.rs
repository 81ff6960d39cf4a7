//! The pipeline's decoder for covers.

use super::{Source, SourceKind};
use crate::audio::embedded_picture;
use crate::data::decode::{decode_bytes, decode_file, DecodeLimits};
use crate::infer::pipeline::Decoder;
use crate::preprocess::Preprocess;

/// The standard [`Decoder`]: image files through `data::decode`, embedded album art through
/// [`embedded_picture`] then the same decode, at the model's input size. An album's cover that
/// cannot be decoded gives way to its next candidate ([`Source::fall_back`]); the source then
/// records what was used and what was passed over.
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

    /// The pixels of the source's current candidate; an embedded picture narrows the source
    /// to the one track it came from.
    fn decode_current(&self, source: &mut Source) -> Result<Vec<u8>, String> {
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
                let picture = embedded_picture(audio_files)?;
                let pixels = decode_bytes(&picture.bytes, &self.preprocess, &self.limits)
                    .map_err(|e| format!("embedded picture of {}: {e}", picture.track.display()))?;
                source.kind = SourceKind::Embedded {
                    audio_files: vec![picture.track],
                };
                Ok(pixels)
            }
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

    fn decode(&self, source: &mut Source) -> Result<Vec<u8>, String> {
        loop {
            match self.decode_current(source) {
                Ok(pixels) => return Ok(pixels),
                Err(reason) => {
                    let embedded = matches!(source.kind, SourceKind::Embedded { .. });
                    if !source.fall_back(reason.clone()) {
                        return Err(why_none_decoded(source, embedded, reason));
                    }
                }
            }
        }
    }
}

/// Why no candidate of a source could be decoded: each one tried, in order.
fn why_none_decoded(source: &Source, embedded: bool, last: String) -> String {
    let tried = source.passed_over();
    if tried.is_empty() {
        return match (embedded, &source.choice) {
            // An album without a cover file.
            (true, Some(_)) => format!("no cover image file, and {last}"),
            _ => last,
        };
    }
    let mut reasons: Vec<String> = tried.iter().map(|p| p.reason.clone()).collect();
    reasons.push(last);
    reasons.join("; ")
}
