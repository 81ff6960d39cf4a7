//! On-the-fly augmentation on the training device, in float: one random affine transform per
//! image (rotation, shift, shear, zoom, horizontal flip) applied with `affine_grid` +
//! `grid_sample`, then a brightness multiply. Edges are filled with the nearest border pixel,
//! as Keras' `fill_mode="nearest"` in the study. Random draws come from libtorch's generator,
//! which the trainer seeds per epoch, so a run is reproducible.

use crate::spec::Augment;
use tch::{Kind, Tensor};

/// `grid_sampler` interpolation and padding modes (ATen's enum values).
const BILINEAR: i64 = 0;
const BORDER: i64 = 1;

/// Augments a batch of float NCHW pixels in [0, 255]; returns the same shape and range.
pub fn augment(pixels: &Tensor, augment: &Augment) -> Tensor {
    let size = pixels.size();
    let mut out = if has_geometry(augment) {
        let theta = random_affine(size[0], augment, pixels.device());
        let grid = Tensor::affine_grid_generator(&theta, size.as_slice(), false);
        pixels.grid_sampler(&grid, BILINEAR, BORDER, false)
    } else {
        pixels.shallow_clone()
    };
    if let Some((lo, hi)) = augment.brightness {
        let factor = uniform(size[0], lo as f64, hi as f64, pixels.device()).view([-1, 1, 1, 1]);
        out = (out * factor).clamp(0.0, 255.0);
    }
    out
}

fn has_geometry(a: &Augment) -> bool {
    a.rotation_deg != 0.0 || a.shift != 0.0 || a.shear != 0.0 || a.zoom != 0.0 || a.horizontal_flip
}

fn uniform(n: i64, lo: f64, hi: f64, device: tch::Device) -> Tensor {
    Tensor::rand([n], (Kind::Float, device)) * (hi - lo) + lo
}

/// Per-image 2x3 matrices mapping output to input coordinates (normalised to [-1, 1]):
/// rotation * shear * zoom (with the flip folded into the x zoom), plus a shift.
fn random_affine(n: i64, a: &Augment, device: tch::Device) -> Tensor {
    let symmetric = |range: f64| uniform(n, -range, range, device);
    let angle = symmetric((a.rotation_deg as f64).to_radians());
    let shear = symmetric(a.shear as f64);
    let zoom_x = symmetric(a.zoom as f64) + 1.0;
    let zoom_y = symmetric(a.zoom as f64) + 1.0;
    // Shifts are fractions of the image; normalised coordinates span 2.
    let shift_x = symmetric(2.0 * a.shift as f64);
    let shift_y = symmetric(2.0 * a.shift as f64);
    let flip = if a.horizontal_flip {
        // +1 or -1 with equal odds.
        Tensor::rand([n], (Kind::Float, device))
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
