//! The cached views of the training covers ([`crate::spec::Views`]): view 0 is each cover as
//! is, view 1 its mirror image, and views 2.. random augmentations (crop, flip, colour
//! jitter). Both the frozen backbone's cache and a distillation teacher see the views made
//! here, so a teacher's outputs and the student's maps describe the same pixels.
//!
//! A view is made chunk by chunk, each chunk's random draws seeded from (recipe seed, view,
//! first cover), so a view is the same whichever order or engine asks for it.

use super::augment::{augment_with, Draws};
use super::images::ImageSet;
use super::seed::derive_seed;
use crate::spec::Views;
use anyhow::Result;
use ndarray::{s, ArrayView4};
use tch::{Device, Kind, Tensor};

/// Covers per chunk of a view: the float copy of a chunk at 260 px is 52 MB.
pub const VIEW_CHUNK: usize = 64;

/// Calls `each(view, first_cover, pixels)` for every chunk of every view of `set`, in order
/// (view 0 over all covers, then view 1, ...); `pixels` holds the chunk's covers as u8 NHWC
/// at the set's size.
pub fn for_each_chunk(
    set: &ImageSet,
    views: &Views,
    mut each: impl FnMut(usize, usize, &[u8]) -> Result<()>,
) -> Result<()> {
    let image_len = set.height * set.width * 3;
    for view in 0..views.count {
        for start in (0..set.len()).step_by(VIEW_CHUNK) {
            let count = VIEW_CHUNK.min(set.len() - start);
            let covers = &set.pixels[start * image_len..(start + count) * image_len];
            let pixels = view_pixels(covers, (set.height, set.width), views, view, start)?;
            each(view, start, &pixels)?;
        }
    }
    Ok(())
}

/// View `view` of `covers` (u8 NHWC of `size`), the first of which is cover `first` of its set.
pub fn view_pixels(
    covers: &[u8],
    (height, width): (usize, usize),
    views: &Views,
    view: usize,
    first: usize,
) -> Result<Vec<u8>> {
    let n = covers.len() / (height * width * 3);
    match view {
        0 => Ok(covers.to_vec()),
        1 => {
            let batch = ArrayView4::from_shape((n, height, width, 3), covers)?;
            // NHWC: axis 2 is the width, so reversing it mirrors left-right.
            let mirrored = batch.slice_move(s![.., .., ..;-1, ..]);
            Ok(mirrored.iter().copied().collect())
        }
        _ => Ok(augmented(covers, (n, height, width), views, view, first)),
    }
}

/// A random augmentation of `covers`, drawn from a generator of its own seeded for this chunk:
/// libtorch's process-wide one could be drawn from by another thread between seeding and use.
fn augmented(
    covers: &[u8],
    (n, height, width): (usize, usize, usize),
    views: &Views,
    view: usize,
    first: usize,
) -> Vec<u8> {
    let seed = derive_seed(derive_seed(views.seed, view as u64) as u64, first as u64);
    let pixels = Tensor::from_slice(covers)
        .view([n as i64, height as i64, width as i64, 3])
        .to_kind(Kind::Float)
        .permute([0, 3, 1, 2]);
    let out = augment_with(&pixels, &views.augment, &mut Draws::seeded(seed as u64))
        .round()
        .clamp(0.0, 255.0)
        .to_kind(Kind::Uint8)
        .permute([0, 2, 3, 1])
        .contiguous()
        .to_device(Device::Cpu);
    Vec::<u8>::try_from(out.flatten(0, -1)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn covers(n: usize, size: usize) -> Vec<u8> {
        (0..n * size * size * 3)
            .map(|i| (i * 7 % 251) as u8)
            .collect()
    }

    #[test]
    fn view_zero_is_the_cover_and_view_one_its_mirror_image() {
        let pixels = covers(2, 4);
        let views = Views::default();
        assert_eq!(view_pixels(&pixels, (4, 4), &views, 0, 0).unwrap(), pixels);
        let mirrored = view_pixels(&pixels, (4, 4), &views, 1, 0).unwrap();
        let at =
            |p: &[u8], n: usize, y: usize, x: usize, c: usize| p[((n * 4 + y) * 4 + x) * 3 + c];
        assert_eq!(at(&mirrored, 1, 2, 0, 1), at(&pixels, 1, 2, 3, 1));
        assert_eq!(at(&mirrored, 0, 3, 3, 2), at(&pixels, 0, 3, 0, 2));
    }

    #[test]
    fn augmented_views_are_reproducible_and_differ_by_view_and_seed() {
        // No rng_guard: views do not draw from libtorch's generator (the test below), so other
        // tests' threads drawing from it meanwhile change nothing here.
        let pixels = covers(3, 16);
        let views = Views {
            count: 4,
            ..Views::default()
        };
        let view = |v: usize, views: &Views| view_pixels(&pixels, (16, 16), views, v, 0).unwrap();
        let two = view(2, &views);
        assert_eq!(two.len(), pixels.len());
        assert_eq!(two, view(2, &views), "the same recipe gives the same view");
        assert_ne!(two, pixels);
        assert_ne!(two, view(3, &views));
        let reseeded = Views {
            seed: 1,
            ..views.clone()
        };
        assert_ne!(two, view(2, &reseeded));
    }

    #[test]
    fn augmented_views_leave_libtorch_generator_alone() {
        let _rng = super::super::rng_guard();
        let draw = || Tensor::rand([8], (Kind::Float, Device::Cpu));
        tch::manual_seed(5);
        let expected = draw();
        tch::manual_seed(5);
        let views = Views {
            count: 3,
            ..Views::default()
        };
        view_pixels(&covers(2, 8), (8, 8), &views, 2, 0).unwrap();
        assert!(
            draw().equal(&expected),
            "a view drew from the training generator"
        );
    }

    #[test]
    fn chunks_cover_every_view_of_every_cover_in_order() {
        let n = VIEW_CHUNK + 3;
        let set = ImageSet {
            pixels: covers(n, 4),
            labels: vec![0; n],
            height: 4,
            width: 4,
        };
        let views = Views {
            count: 3,
            ..Views::default()
        };
        let mut seen = Vec::new();
        for_each_chunk(&set, &views, |view, first, pixels| {
            seen.push((view, first, pixels.len() / 48));
            Ok(())
        })
        .unwrap();
        let expected: Vec<_> = (0..3)
            .flat_map(|v| [(v, 0, VIEW_CHUNK), (v, VIEW_CHUNK, 3)])
            .collect();
        assert_eq!(seen, expected);
    }
}
