//! Knowledge distillation ([`crate::spec::Distill`]): a teacher (any covergenre ONNX model, an
//! ensemble included) runs through onnxruntime once over every cached view of the training
//! covers ([`super::views`]); its logits, in the training genres' order, are kept beside the
//! frozen backbone's maps, and the loss pulls the student's softened outputs toward the
//! teacher's ([`distillation_loss`]).

use super::fit::ImageSet;
use super::views;
use crate::genres::GenreSet;
use crate::infer::Model;
use crate::preprocess::Preprocess;
use crate::spec::{Distill, Views};
use anyhow::{ensure, Context, Result};
use image::RgbImage;
use std::path::Path;
use tch::{Kind, Reduction, Tensor};

/// A teacher model with the column of each training genre in its outputs.
pub struct Teacher {
    model: Model,
    /// `columns[g]`: the teacher's output for training genre g.
    columns: Vec<usize>,
}

impl Teacher {
    /// Opens `path` and matches its genres to the training ones by slug; every training genre
    /// must be among the teacher's (the teacher may know more, which are left out).
    pub fn open(path: &Path, genres: &GenreSet, threads: usize) -> Result<Self> {
        let model = Model::open(path, threads)?;
        let columns = match_columns(model.genres(), genres)
            .with_context(|| format!("teacher {}", path.display()))?;
        Ok(Self { model, columns })
    }

    /// The teacher's logits [n, training genres] for `pixels` (u8 NHWC at `student`'s size),
    /// resized to the teacher's input first when it differs.
    pub fn logits(&mut self, pixels: &[u8], student: &Preprocess) -> Result<Tensor> {
        let teacher = *self.model.preprocess();
        let n = pixels.len() / student.image_len();
        let resized = resize_all(pixels, student, &teacher);
        let predictions = self.model.predict(&resized, n)?;
        let classes = predictions.classes() as i64;
        let all: Vec<f32> = predictions.logits.iter().copied().collect();
        let columns: Vec<i64> = self.columns.iter().map(|&c| c as i64).collect();
        Ok(Tensor::from_slice(&all)
            .view([n as i64, classes])
            .index_select(1, &Tensor::from_slice(&columns)))
    }
}

/// `columns[g]` = the teacher's index of training genre g; an error names the missing genres.
fn match_columns(teacher: &GenreSet, training: &GenreSet) -> Result<Vec<usize>> {
    let slugs = teacher.slugs();
    let mut columns = Vec::new();
    let mut missing = Vec::new();
    for genre in training.iter() {
        match slugs.iter().position(|s| *s == genre.slug) {
            Some(column) => columns.push(column),
            None => missing.push(genre.slug.clone()),
        }
    }
    ensure!(
        missing.is_empty(),
        "does not know the training genres {} (it knows {})",
        missing.join(", "),
        slugs.join(", ")
    );
    Ok(columns)
}

/// Resizes every image of `pixels` from `from`'s size to `to`'s, with `to`'s filter (the one
/// resize of the project, [`crate::data::decode::resize_rgb`]); a copy when the sizes match.
fn resize_all(pixels: &[u8], from: &Preprocess, to: &Preprocess) -> Vec<u8> {
    if (from.height, from.width) == (to.height, to.width) {
        return pixels.to_vec();
    }
    pixels
        .chunks_exact(from.image_len())
        .flat_map(|image| {
            let rgb = RgbImage::from_raw(from.width, from.height, image.to_vec())
                .expect("a chunk of image_len bytes is one image");
            crate::data::decode::resize_rgb(&rgb, to)
        })
        .collect()
}

/// The teacher's logits for every view of `train`, in the cache's row order (view 0 of every
/// cover, then view 1, ...).
pub fn teacher_logits(
    teacher: &mut Teacher,
    train: &ImageSet,
    views: &Views,
    student: &Preprocess,
) -> Result<Tensor> {
    let mut parts = Vec::new();
    views::for_each_chunk(train, views, |_, _, pixels| {
        parts.push(teacher.logits(pixels, student)?);
        Ok(())
    })?;
    Ok(Tensor::cat(&parts, 0))
}

/// `T^2 * KL(softmax(teacher / T) || softmax(student / T))`, the batch mean.
pub fn distillation_loss(student: &Tensor, teacher: &Tensor, temperature: f64) -> Tensor {
    let student = (student / temperature).log_softmax(-1, Kind::Float);
    let teacher = (teacher / temperature).log_softmax(-1, Kind::Float);
    // kl_div(input = log q, target = log p, log_target) = sum p (log p - log q).
    student
        .kl_div(&teacher, Reduction::None, true)
        .sum(Kind::Float)
        / student.size()[0] as f64
        * (temperature * temperature)
}

/// Checks a spec's distillation settings; errors name the field.
pub fn validate(distill: &Distill, spec: &str) -> Result<()> {
    ensure!(
        distill.temperature > 0.0 && distill.temperature.is_finite(),
        "{spec}: the distillation temperature must be a positive number, not {}",
        distill.temperature
    );
    ensure!(
        (0.0..=1.0).contains(&distill.weight),
        "{spec}: the distillation weight must be in [0, 1], not {}",
        distill.weight
    );
    ensure!(
        distill.teacher.is_file(),
        "{spec}: teacher model {}: no such file",
        distill.teacher.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genres_are_matched_by_slug_and_a_missing_one_is_named() {
        let teacher = GenreSet::from_slugs(["jazz", "metal", "folk"].map(String::from));
        let training = GenreSet::from_slugs(["folk", "jazz"].map(String::from));
        assert_eq!(match_columns(&teacher, &training).unwrap(), vec![2, 0]);
        let other = GenreSet::from_slugs(["folk", "reggae"].map(String::from));
        let err = match_columns(&teacher, &other).unwrap_err().to_string();
        assert!(err.contains("reggae") && !err.contains("folk,"), "{err}");
    }

    #[test]
    fn the_distillation_loss_is_zero_at_the_teacher_and_grows_away_from_it() {
        let teacher = Tensor::from_slice(&[2.0f32, 0.0, -1.0, 0.5, 0.5, 0.0]).view([2, 3]);
        let same = distillation_loss(&teacher, &teacher, 2.0).double_value(&[]);
        assert!(same.abs() < 1e-6, "{same}");
        let near = distillation_loss(&(&teacher * 0.9), &teacher, 2.0).double_value(&[]);
        let far = distillation_loss(&(&teacher * -1.0), &teacher, 2.0).double_value(&[]);
        assert!(0.0 < near && near < far, "{near} {far}");
        // A shift of every logit changes no probability.
        let shifted = distillation_loss(&(&teacher + 3.0), &teacher, 2.0).double_value(&[]);
        assert!(shifted.abs() < 1e-5, "{shifted}");
    }

    #[test]
    fn settings_out_of_range_are_refused_naming_them() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let ok = Distill {
            teacher: file.path().to_path_buf(),
            temperature: 2.0,
            weight: 0.5,
        };
        assert!(validate(&ok, "s").is_ok());
        let hot = Distill {
            temperature: 0.0,
            ..ok.clone()
        };
        assert!(validate(&hot, "s")
            .unwrap_err()
            .to_string()
            .contains("temperature"));
        let heavy = Distill {
            weight: 1.5,
            ..ok.clone()
        };
        assert!(validate(&heavy, "s")
            .unwrap_err()
            .to_string()
            .contains("weight"));
        let gone = Distill {
            teacher: "/nonexistent/teacher.onnx".into(),
            ..ok
        };
        assert!(validate(&gone, "s")
            .unwrap_err()
            .to_string()
            .contains("/nonexistent/teacher.onnx"));
    }
}
