//! The base model a library learns from: the shipped model, or any covergenre model given with
//! `--base MODEL.onnx`, run once per cover through onnxruntime, its outputs cached on disk
//! ([`crate::data::base_outputs`]) so later runs only run it over covers it has not seen.

use crate::data::base_outputs::{cover_key, BaseOutputCache};
use crate::data::cache::ImageCache;
use crate::data::decode::DecodeLimits;
use crate::data::{load_samples, Sample};
use crate::failure::Failure;
use crate::genres::GenreSet;
use crate::infer::Model;
use anyhow::{Context, Result};
use ndarray::Array2;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Covers decoded and run per chunk: bounds the memory of a cold run (a Lite2 cover is 203 kB).
const CHUNK: usize = 256;
/// Covers per onnxruntime call.
const BATCH: usize = 32;

/// A base model, opened, with what identifies it.
pub struct BaseModel {
    pub model: Model,
    /// The file's bytes: the cache is keyed by them, and the owner's model is built on them.
    pub bytes: Vec<u8>,
    /// The file's name, or [`crate::infer::SHIPPED_MODEL_NAME`].
    pub name: String,
    /// Its temperature (`probabilities = softmax(logits / T)`); 1 when it records none.
    pub temperature: f64,
}

impl BaseModel {
    /// Opens `path`, or the shipped model for `None`. A file that is not a covergenre model
    /// is refused, naming it.
    pub fn open(path: Option<&Path>, threads: usize) -> Result<Self> {
        let (bytes, name) = match path {
            Some(path) => (
                std::fs::read(path)
                    .with_context(|| format!("--base {}: cannot read it", path.display()))?,
                path.display().to_string(),
            ),
            None => (
                crate::infer::shipped_model_bytes().to_vec(),
                crate::infer::SHIPPED_MODEL_NAME.to_string(),
            ),
        };
        Self::from_bytes(bytes, name, threads)
    }

    /// A base model held in memory (`name` in messages).
    pub fn from_bytes(bytes: Vec<u8>, name: String, threads: usize) -> Result<Self> {
        let model = Model::from_bytes(&bytes, threads, &name)
            .map_err(|e| anyhow::anyhow!("--base {name}: not a covergenre model: {e:#}"))?;
        let temperature = model
            .metadata()
            .extra
            .get(crate::metadata::TEMPERATURE)
            .and_then(|t| t.parse::<f64>().ok())
            .filter(|t| *t > 0.0 && t.is_finite())
            .unwrap_or(1.0);
        Ok(Self {
            model,
            bytes,
            name,
            temperature,
        })
    }

    pub fn genres(&self) -> &GenreSet {
        self.model.genres()
    }
}

/// The base's raw logits on a list of covers, one row per cover that could be read.
#[derive(Debug, Clone)]
pub struct BaseOutputs {
    /// Covers x base genres.
    pub logits: Array2<f32>,
    pub labels: Vec<usize>,
    pub paths: Vec<PathBuf>,
    pub skipped: Vec<Failure>,
    /// Covers the base model ran on (the rest came from the cache).
    pub computed: usize,
}

impl BaseOutputs {
    /// Keeps only the rows of the covers in `paths`.
    pub fn keep(&mut self, paths: &std::collections::HashSet<PathBuf>) {
        let rows: Vec<usize> = (0..self.paths.len())
            .filter(|&i| paths.contains(&self.paths[i]))
            .collect();
        self.logits = self.logits.select(ndarray::Axis(0), &rows);
        self.labels = rows.iter().map(|&i| self.labels[i]).collect();
        self.paths = rows.iter().map(|&i| self.paths[i].clone()).collect();
    }
}

/// Runs `base` over the covers of `samples` that `cache` does not hold, and gathers every
/// cover's outputs in the samples' order (unreadable covers are listed, not fatal). Covers are
/// decoded through `images` at the base's input. What the cache says (another base's entries,
/// a failed write) is printed once.
pub fn outputs_for(
    base: &mut BaseModel,
    samples: &[Sample],
    cache: &BaseOutputCache,
    images: &ImageCache,
    label: &str,
) -> Result<BaseOutputs> {
    let classes = base.genres().len();
    let keys: Vec<Result<String, String>> =
        samples.par_iter().map(|s| cover_key(&s.path)).collect();
    let mut rows: Vec<Option<Vec<f32>>> = vec![None; samples.len()];
    let mut skipped = Vec::new();
    let mut missing = Vec::new();
    for (index, (sample, key)) in samples.iter().zip(&keys).enumerate() {
        match key {
            Err(reason) => skipped.push(Failure::new(&sample.path, reason.clone())),
            Ok(key) => match cache.get(key).filter(|row| row.len() == classes) {
                Some(row) => rows[index] = Some(row),
                None => missing.push(index),
            },
        }
    }
    let mut computed = 0;
    let pre = *base.model.preprocess();
    for chunk in missing.chunks(CHUNK) {
        let chunk_samples: Vec<Sample> = chunk
            .iter()
            .map(|&i| Sample {
                path: samples[i].path.clone(),
                label: i,
            })
            .collect();
        let loaded = load_samples(
            &chunk_samples,
            &pre,
            images,
            &DecodeLimits::default(),
            label,
        );
        skipped.extend(loaded.skipped.iter().cloned());
        let n = loaded.len();
        let mut start = 0;
        while start < n {
            let len = BATCH.min(n - start);
            let pixels = &loaded.pixels[start * pre.image_len()..(start + len) * pre.image_len()];
            let predictions = base.model.predict(pixels, len).with_context(|| {
                format!(
                    "--base {}: cannot run it on the library's covers (its input is {}x{})",
                    base.name, pre.height, pre.width
                )
            })?;
            for (offset, row) in predictions.logits.rows().into_iter().enumerate() {
                let index = loaded.labels[start + offset];
                let values = row.to_vec();
                if let Ok(key) = &keys[index] {
                    if let Some(notice) = cache.put(key, &values) {
                        eprintln!("warning: {notice}");
                    }
                }
                rows[index] = Some(values);
            }
            computed += len;
            start += len;
        }
    }
    let mut logits = Vec::new();
    let mut labels = Vec::new();
    let mut paths = Vec::new();
    for (sample, row) in samples.iter().zip(rows) {
        if let Some(row) = row {
            logits.extend(row);
            labels.push(sample.label);
            paths.push(sample.path.clone());
        }
    }
    Ok(BaseOutputs {
        logits: Array2::from_shape_vec((labels.len(), classes), logits)?,
        labels,
        paths,
        skipped,
        computed,
    })
}
