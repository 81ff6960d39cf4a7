//! The decoded images a run trains and selects on, held in memory as one block of u8 HWC pixels:
//! the one type the loop, distillation and the cached views share.

use tch::{Device, Tensor};

/// Decoded images in memory: u8 HWC each, all the same size, with their labels.
#[derive(Debug, Clone, Default)]
pub struct ImageSet {
    pub pixels: Vec<u8>,
    pub labels: Vec<usize>,
    pub height: usize,
    pub width: usize,
}

impl ImageSet {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The images as one u8 NHWC tensor and the labels as i64, on `device`.
    pub(crate) fn to_tensors(&self, device: Device) -> (Tensor, Tensor) {
        let n = self.len() as i64;
        let images = Tensor::from_slice(&self.pixels)
            .view([n, self.height as i64, self.width as i64, 3])
            .to_device(device);
        let labels: Vec<i64> = self.labels.iter().map(|&l| l as i64).collect();
        (images, Tensor::from_slice(&labels).to_device(device))
    }
}
