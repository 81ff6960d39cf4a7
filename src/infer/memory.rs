//! How much memory a run takes, and the batch size that keeps it under a budget.
//!
//! Measured with `covergenre-classify` (docs/classify.md "Memory", benches/README.md): peak RSS is a
//! fixed part (the program, onnxruntime, the model's weights and their prepacked copies) plus
//! a part that grows linearly with the batch: onnxruntime's activations, which for an
//! EfficientNet are dominated by the first blocks at half the input size (96 channels of
//! 130x130 floats, 6.5 MB an image at 260 px, several of them alive at once). The decode
//! queues and per-thread buffers are small beside them (a 260 px cover is 0.2 MB as u8).
//! Turning onnxruntime's arena or memory patterns off did not lower the peak (the same ~950 MB
//! at batch 32), so the batch size is the lever; smaller batches were also faster on CPU.
//!
//! The estimate is deliberately simple, and a little above what was measured: it is what
//! `--max-memory` promises, so it must not be optimistic.

/// Bytes in the unit the flags and benchmarks use (MB as `/usr/bin/time` and the bench
/// scripts count it: 2^20 bytes).
pub const MB: u64 = 1 << 20;

/// The default memory budget for a run: with the shipped EfficientNet-Lite2 (260 px) it gives
/// batches of 8, which classified faster than 16 or 32 and peaked at ~390 MB.
pub const DEFAULT_MAX_MEMORY_MB: u64 = 400;

/// The largest batch chosen from a budget: beyond it batches were no faster.
pub const MAX_BATCH: usize = 32;

/// The program and onnxruntime before any model. With [`WEIGHT_FACTOR`] it gives the fixed
/// part measured with the shipped model (~200 MB, 19 MB of weights); the split between the
/// two was not measured apart, so a much bigger model is estimated roughly.
const RUNTIME_BYTES: u64 = 150 * MB;
/// Weights are held as read from the file, in onnxruntime's initializers, and prepacked for
/// the convolutions.
const WEIGHT_FACTOR: u64 = 3;
/// Activation bytes per input byte of an image (measured 121.5 for EfficientNet-Lite2 at
/// 260 px: 23.5 MB an image; rounded up).
const ACTIVATION_FACTOR: u64 = 125;

/// A model's memory: what a run takes whatever the batch, and what each image adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// Bytes taken at any batch size.
    pub fixed: u64,
    /// Bytes each image of a batch adds (counting a mirrored copy under test-time
    /// augmentation as an image of its own).
    pub per_image: u64,
}

impl MemoryEstimate {
    /// The estimate for a model of `model_bytes` (the ONNX file) taking `image_bytes` per
    /// image (height x width x 3); `views` is 2 with test-time augmentation (each cover goes
    /// through the network twice in the same batch), else 1.
    pub fn for_model(model_bytes: u64, image_bytes: u64, views: u64) -> Self {
        Self {
            fixed: RUNTIME_BYTES + WEIGHT_FACTOR * model_bytes,
            per_image: ACTIVATION_FACTOR * image_bytes * views.max(1),
        }
    }

    /// Estimated peak resident memory at this batch size.
    pub fn peak(&self, batch: usize) -> u64 {
        self.fixed + self.per_image * batch as u64
    }

    /// The largest batch (at most [`MAX_BATCH`]) whose estimated peak fits in `budget` bytes;
    /// `None` when not even one image at a time fits.
    pub fn largest_batch_within(&self, budget: u64) -> Option<usize> {
        let room = budget.checked_sub(self.fixed)?;
        match room / self.per_image.max(1) {
            0 => None,
            batch => Some(usize::try_from(batch).unwrap_or(MAX_BATCH).min(MAX_BATCH)),
        }
    }

    /// The batch for a run without a budget of its own: what fits in
    /// [`DEFAULT_MAX_MEMORY_MB`], and one image at a time for a model too big for it.
    pub fn default_batch(&self) -> usize {
        self.largest_batch_within(DEFAULT_MAX_MEMORY_MB * MB)
            .unwrap_or(1)
    }

    /// The smallest budget, in MB rounded up, that runs one image at a time.
    pub fn minimum_mb(&self) -> u64 {
        self.peak(1).div_ceil(MB)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped model: 19.2 MB, 260x260x3 input.
    fn lite2(views: u64) -> MemoryEstimate {
        MemoryEstimate::for_model(19_214_785, 260 * 260 * 3, views)
    }

    #[test]
    fn the_shipped_model_gets_batches_of_8_by_default_and_stays_under_400_mb() {
        let estimate = lite2(1);
        assert_eq!(estimate.default_batch(), 8);
        assert!(estimate.peak(8) <= 400 * MB, "{}", estimate.peak(8) / MB);
        // Batch 32 was measured at ~950 MB: the estimate must not promise less than that.
        assert!(estimate.peak(32) >= 950 * MB, "{}", estimate.peak(32) / MB);
    }

    #[test]
    fn a_budget_gives_the_largest_batch_that_fits_and_none_below_one_image() {
        let estimate = lite2(1);
        let one = estimate.peak(1);
        assert_eq!(estimate.largest_batch_within(one), Some(1));
        assert_eq!(estimate.largest_batch_within(one - 1), None);
        // The minimum named in messages is rounded up, so it always works.
        assert_eq!(
            estimate.largest_batch_within(estimate.minimum_mb() * MB),
            Some(1)
        );
        assert_eq!(estimate.largest_batch_within(0), None);
        for budget in [250, 300, 400, 600] {
            let batch = estimate.largest_batch_within(budget * MB).unwrap();
            assert!(estimate.peak(batch) <= budget * MB);
            assert!(batch == MAX_BATCH || estimate.peak(batch + 1) > budget * MB);
        }
        assert_eq!(estimate.largest_batch_within(u64::MAX), Some(MAX_BATCH));
    }

    #[test]
    fn test_time_augmentation_halves_the_batch_for_the_same_budget() {
        assert_eq!(lite2(2).per_image, 2 * lite2(1).per_image);
        assert_eq!(lite2(2).default_batch(), 4);
    }

    #[test]
    fn small_inputs_keep_the_old_batch_of_32() {
        // The study's baseline: 13 MB, 128 px.
        let baseline = MemoryEstimate::for_model(13_075_959, 128 * 128 * 3, 1);
        assert_eq!(baseline.default_batch(), MAX_BATCH);
    }

    #[test]
    fn a_model_too_big_for_the_default_budget_runs_one_image_at_a_time() {
        let huge = MemoryEstimate::for_model(400 * MB, 260 * 260 * 3, 1);
        assert_eq!(huge.default_batch(), 1);
    }
}
