//! Knowledge distillation ([`crate::spec::Distill`]): a teacher (any covergenre ONNX model, an
//! ensemble included) runs through onnxruntime once over every cached view of the training
//! covers ([`super::views`]); its logits, in the training genres' order, are kept beside the
//! frozen backbone's maps, and the loss pulls the student's softened outputs toward the
//! teacher's ([`distillation_loss`]).

use super::images::ImageSet;
use super::views;
use crate::genres::GenreSet;
use crate::infer::Model;
use crate::preprocess::Preprocess;
use crate::spec::{Distill, Views};
use anyhow::{ensure, Context, Result};
use image::RgbImage;
use tch::{Kind, Reduction, Tensor};

/// A teacher model with the column of each training genre in its outputs.
pub struct Teacher {
    model: Model,
    /// `columns[g]`: the teacher's output for training genre g.
    columns: Vec<usize>,
}

impl Teacher {
    /// Opens the model file's `bytes` (`name` in messages, the file's path) and matches its
    /// genres to the training ones as `covergenre-eval` matches a dataset's to a model's
    /// ([`crate::evaluate::map_labels`]): every training genre must be among the teacher's,
    /// which may know more (left out).
    pub fn from_bytes(bytes: &[u8], name: &str, genres: &GenreSet, threads: usize) -> Result<Self> {
        let model = Model::from_bytes(bytes, threads, name)?;
        let columns = crate::evaluate::map_labels(genres, model.genres())
            .with_context(|| format!("teacher {name}"))?;
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

/// What [`validate`] calls the settings of `--teacher` and its flags.
pub const FLAG_NAMES: [&str; 3] = ["--teacher", "--distill-temperature", "--distill-weight"];

/// What [`validate`] calls the settings of a spec's `pretrained.distill`.
pub fn spec_names(spec: &str) -> [String; 3] {
    [
        format!("{spec}: teacher model"),
        format!("{spec}: the distillation temperature"),
        format!("{spec}: the distillation weight"),
    ]
}

/// Checks distillation settings, as flags or as a spec's; errors name the setting by its
/// `[teacher, temperature, weight]` name ([`FLAG_NAMES`], [`spec_names`]).
pub fn validate<Name: std::fmt::Display>(
    distill: &Distill,
    [teacher, temperature, weight]: [Name; 3],
) -> Result<()> {
    ensure!(
        distill.teacher.is_file(),
        "{teacher} {}: no such file",
        distill.teacher.display()
    );
    ensure!(
        distill.temperature > 0.0 && distill.temperature.is_finite(),
        "{temperature} must be a positive number, not {}",
        distill.temperature
    );
    ensure!(
        (0.0..=1.0).contains(&distill.weight),
        "{weight} must be in [0, 1], not {}",
        distill.weight
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genres_are_matched_by_slug_and_a_missing_one_is_named() {
        use crate::evaluate::map_labels;
        let teacher = GenreSet::from_slugs(["jazz", "metal", "folk"].map(String::from));
        let training = GenreSet::from_slugs(["folk", "jazz"].map(String::from));
        assert_eq!(map_labels(&training, &teacher).unwrap(), vec![2, 0]);
        let other = GenreSet::from_slugs(["folk", "reggae"].map(String::from));
        let err = map_labels(&other, &teacher).unwrap_err().to_string();
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
        assert!(validate(&ok, FLAG_NAMES).is_ok());
        let hot = Distill {
            temperature: 0.0,
            ..ok.clone()
        };
        assert!(validate(&hot, FLAG_NAMES)
            .unwrap_err()
            .to_string()
            .contains("temperature"));
        let heavy = Distill {
            weight: 1.5,
            ..ok.clone()
        };
        assert!(validate(&heavy, FLAG_NAMES)
            .unwrap_err()
            .to_string()
            .contains("weight"));
        let gone = Distill {
            teacher: "/nonexistent/teacher.onnx".into(),
            ..ok
        };
        assert!(validate(&gone, FLAG_NAMES)
            .unwrap_err()
            .to_string()
            .contains("/nonexistent/teacher.onnx"));
    }
}
