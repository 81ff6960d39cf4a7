//! Seeds: every random stream of a run (weights, epochs, views) derives from the run's one seed.

/// Independent, reproducible seeds per (run seed, stream): stream 0 initialises the weights,
/// stream k seeds epoch k (SplitMix64 finaliser, so neighbouring seeds share nothing).
pub fn derive_seed(seed: u64, stream: u64) -> i64 {
    let mut z = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(stream.wrapping_add(1).wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 1) as i64
}
