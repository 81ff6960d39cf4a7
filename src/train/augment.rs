//! On-the-fly augmentation on the training device, in float: one random affine transform per
//! image (rotation, shift, shear, zoom or a random resized crop, horizontal flip) applied with
//! `affine_grid` + `grid_sample`, then colour jitter (brightness, contrast, saturation). Edges
//! are filled with the nearest border pixel, as Keras' `fill_mode="nearest"` in the study.
//! Random draws come from a [`Draws`]: libtorch's generator, which the trainer seeds per epoch,
//! or a generator of the caller's own where the result must not depend on what else in the
//! process draws (the cached views).

use crate::spec::Augment;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

/// `grid_sampler` interpolation and padding modes (ATen's enum values).
const BILINEAR: i64 = 0;
const BORDER: i64 = 1;

/// Where an augmentation's random numbers come from.
pub enum Draws {
    /// libtorch's process-wide generator, seeded by the trainer (under `rng_guard`).
    Torch,
    /// A generator of its own: the same seed gives the same augmentation whatever else in the
    /// process draws from libtorch's generator meanwhile (other runs, other tests' threads).
    Seeded(Box<ChaCha8Rng>),
}

impl Draws {
    pub fn seeded(seed: u64) -> Draws {
        Draws::Seeded(Box::new(ChaCha8Rng::seed_from_u64(seed)))
    }

    /// `n` numbers uniform in [lo, hi), on `device`.
    fn uniform(&mut self, n: i64, (lo, hi): (f64, f64), device: Device) -> Tensor {
        let unit = match self {
            Draws::Torch => Tensor::rand([n], (Kind::Float, device)),
            Draws::Seeded(rng) => {
                let values: Vec<f32> = (0..n).map(|_| rng.random::<f32>()).collect();
                Tensor::from_slice(&values).to_device(device)
            }
        };
        unit * (hi - lo) + lo
    }

    /// `n` numbers uniform in [-range, range).
    fn symmetric(&mut self, n: i64, range: f64, device: Device) -> Tensor {
        self.uniform(n, (-range, range), device)
    }
}

/// Augments a batch of float NCHW pixels in [0, 255] with libtorch's generator; returns the
/// same shape and range.
pub fn augment(pixels: &Tensor, augment: &Augment) -> Tensor {
    augment_with(pixels, augment, &mut Draws::Torch)
}

/// [`augment`] with the random numbers taken from `draws`.
pub fn augment_with(pixels: &Tensor, augment: &Augment, draws: &mut Draws) -> Tensor {
    let size = pixels.size();
    let device = pixels.device();
    let mut out = if has_geometry(augment) {
        let theta = random_affine(size[0], augment, draws, device);
        let grid = Tensor::affine_grid_generator(&theta, size.as_slice(), false);
        pixels.grid_sampler(&grid, BILINEAR, BORDER, false)
    } else {
        pixels.shallow_clone()
    };
    let mut factor = |(lo, hi): (f32, f32)| {
        draws
            .uniform(size[0], (lo as f64, hi as f64), device)
            .view([-1, 1, 1, 1])
    };
    if let Some(range) = augment.brightness {
        out = (out * factor(range)).clamp(0.0, 255.0);
    }
    if let Some(range) = augment.contrast {
        let mean = grey(&out).mean_dim([1, 2, 3].as_slice(), true, Kind::Float);
        out = ((out - &mean) * factor(range) + mean).clamp(0.0, 255.0);
    }
    if let Some(range) = augment.saturation {
        let grey = grey(&out);
        out = ((out - &grey) * factor(range) + grey).clamp(0.0, 255.0);
    }
    out
}

/// Luma of NCHW RGB pixels (ITU-R BT.601 weights, as torchvision's colour jitter), N x 1 x H x W.
fn grey(pixels: &Tensor) -> Tensor {
    let weights = Tensor::from_slice(&[0.299f32, 0.587, 0.114])
        .view([1, 3, 1, 1])
        .to_device(pixels.device());
    (pixels * weights).sum_dim_intlist([1].as_slice(), true, Kind::Float)
}

fn has_geometry(a: &Augment) -> bool {
    a.rotation_deg != 0.0
        || a.shift != 0.0
        || a.shear != 0.0
        || a.zoom != 0.0
        || a.horizontal_flip
        || a.crop_area.is_some()
}

/// Per-image 2x3 matrices mapping output to input coordinates (normalised to [-1, 1]):
/// rotation * shear * zoom (with the flip folded into the x zoom), plus a shift.
fn random_affine(n: i64, a: &Augment, draws: &mut Draws, device: Device) -> Tensor {
    let angle = draws.symmetric(n, (a.rotation_deg as f64).to_radians(), device);
    let shear = draws.symmetric(n, a.shear as f64, device);
    let (zoom_x, zoom_y, shift_x, shift_y) = match a.crop_area {
        Some(area) => random_crop(n, area, draws, device),
        None => (
            draws.symmetric(n, a.zoom as f64, device) + 1.0,
            draws.symmetric(n, a.zoom as f64, device) + 1.0,
            // Shifts are fractions of the image; normalised coordinates span 2.
            draws.symmetric(n, 2.0 * a.shift as f64, device),
            draws.symmetric(n, 2.0 * a.shift as f64, device),
        ),
    };
    let flip = if a.horizontal_flip {
        // +1 or -1 with equal odds.
        draws
            .uniform(n, (0.0, 1.0), device)
            .lt(0.5)
            .to_kind(Kind::Float)
            * 2.0
            - 1.0
    } else {
        Tensor::ones([n], (Kind::Float, device))
    };
    let (cos, sin) = (angle.cos(), angle.sin());
    let scale_x = zoom_x * flip;
    let a11 = &cos * &scale_x;
    let a12 = (&cos * &shear - &sin) * &zoom_y;
    let a21 = &sin * &scale_x;
    let a22 = (&sin * &shear + &cos) * &zoom_y;
    Tensor::stack(&[a11, a12, shift_x, a21, a22, shift_y], 1).view([n, 2, 3])
}

/// A random resized crop as zooms and shifts of the output -> input map: a region of `area`
/// of the image (uniform in [lo, hi]) with a log-uniform aspect ratio in [3/4, 4/3], placed
/// anywhere it fits. A zoom below 1 samples a smaller region, i.e. magnifies it.
fn random_crop(
    n: i64,
    (lo, hi): (f32, f32),
    draws: &mut Draws,
    device: Device,
) -> (Tensor, Tensor, Tensor, Tensor) {
    let area = draws.uniform(n, (lo as f64, hi as f64), device);
    let aspect = draws
        .uniform(n, ((3.0f64 / 4.0).ln(), (4.0f64 / 3.0).ln()), device)
        .exp();
    let zoom_x = (&area * &aspect).sqrt().clamp_max(1.0);
    let zoom_y = (&area / &aspect).sqrt().clamp_max(1.0);
    // The crop's centre moves at most 1 - zoom (normalised coordinates) so it stays inside.
    let shift_x = draws.symmetric(n, 1.0, device) * (1.0 - &zoom_x);
    let shift_y = draws.symmetric(n, 1.0, device) * (1.0 - &zoom_y);
    (zoom_x, zoom_y, shift_x, shift_y)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two 8 x 8 images: a horizontal ramp in red, constant green, vertical ramp in blue.
    fn ramps() -> Tensor {
        let ramp = Tensor::arange(8, (Kind::Float, tch::Device::Cpu)) * 30.0;
        let red = ramp.view([1, 8]).expand([8, 8], false);
        let green = Tensor::full([8, 8], 100.0, (Kind::Float, tch::Device::Cpu));
        let blue = ramp.view([8, 1]).expand([8, 8], false);
        Tensor::stack(&[red, green, blue], 0)
            .unsqueeze(0)
            .repeat([2, 1, 1, 1])
    }

    fn none() -> Augment {
        Augment::default()
    }

    #[test]
    fn zero_saturation_leaves_grey_and_full_saturation_leaves_the_image() {
        let _rng = crate::train::rng_guard();
        tch::manual_seed(1);
        let image = ramps();
        let grey_out = augment(
            &image,
            &Augment {
                saturation: Some((0.0, 0.0)),
                ..none()
            },
        );
        let channels = grey_out.unbind(1);
        assert!(channels[0].allclose(&channels[1], 1e-4, 1e-3, false));
        assert!(channels[1].allclose(&channels[2], 1e-4, 1e-3, false));
        let same = augment(
            &image,
            &Augment {
                saturation: Some((1.0, 1.0)),
                ..none()
            },
        );
        assert!(same.allclose(&image, 1e-4, 1e-3, false));
    }

    #[test]
    fn zero_contrast_flattens_each_image_to_its_mean_grey() {
        let _rng = crate::train::rng_guard();
        tch::manual_seed(2);
        let flat = augment(
            &ramps(),
            &Augment {
                contrast: Some((0.0, 0.0)),
                ..none()
            },
        );
        let spread = (flat.max() - flat.min()).double_value(&[]);
        assert!(spread < 1e-3, "spread {spread}");
        let expected = grey(&ramps()).mean(Kind::Float).double_value(&[]);
        assert!((flat.mean(Kind::Float).double_value(&[]) - expected).abs() < 1e-3);
    }

    #[test]
    fn a_small_crop_magnifies_a_region_inside_the_picture() {
        let _rng = crate::train::rng_guard();
        tch::manual_seed(3);
        let image = ramps();
        let crop = augment(
            &image,
            &Augment {
                crop_area: Some((0.25, 0.25)),
                ..none()
            },
        );
        // A quarter of the area stretched back: neighbouring pixels differ less than in the ramp.
        let step = |t: &Tensor| {
            (t.narrow(3, 1, 7) - t.narrow(3, 0, 7))
                .abs()
                .select(1, 0)
                .mean(Kind::Float)
                .double_value(&[])
        };
        assert!(
            step(&crop) < 0.8 * step(&image),
            "{} vs {}",
            step(&crop),
            step(&image)
        );
        // Still inside the picture: values within the ramp's range.
        assert!(
            crop.min().double_value(&[]) >= -1e-3 && crop.max().double_value(&[]) <= 210.0 + 1e-3
        );
    }
}
