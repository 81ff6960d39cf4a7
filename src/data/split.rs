//! Seeded, stratified splits: every genre is divided in the same proportions, and the same
//! samples, fractions and seed always give the same split (on any machine: ChaCha8, not the
//! thread RNG).

use super::Sample;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// Divides `samples` into `fractions.len()` parts, each genre in the given proportions
/// (fractions are normalised by their sum). Per genre, part sizes are rounded by largest
/// remainder, so no sample is lost and a genre with a single cover lands in the largest part.
/// Each part keeps the input order.
pub fn stratified_split(samples: Vec<Sample>, fractions: &[f64], seed: u64) -> Vec<Vec<Sample>> {
    let mut parts: Vec<Vec<(usize, Sample)>> = vec![Vec::new(); fractions.len()];
    if fractions.is_empty() {
        return Vec::new();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for (_, mut group) in group_by_label(samples) {
        group.shuffle(&mut rng);
        let sizes = part_sizes(group.len(), fractions);
        let mut rest = group.into_iter();
        for (part, size) in parts.iter_mut().zip(sizes) {
            part.extend(rest.by_ref().take(size));
        }
    }
    parts
        .into_iter()
        .map(|mut part| {
            part.sort_by_key(|(index, _)| *index);
            part.into_iter().map(|(_, sample)| sample).collect()
        })
        .collect()
}

/// Holds out `fraction` of every genre: returns (kept, held).
pub fn stratified_holdout(
    samples: &[Sample],
    fraction: f64,
    seed: u64,
) -> (Vec<Sample>, Vec<Sample>) {
    let fraction = fraction.clamp(0.0, 1.0);
    let mut parts = stratified_split(samples.to_vec(), &[1.0 - fraction, fraction], seed);
    let held = parts.pop().unwrap_or_default();
    let kept = parts.pop().unwrap_or_default();
    (kept, held)
}

/// Samples grouped by label (in label order), each remembering its input position.
fn group_by_label(samples: Vec<Sample>) -> BTreeMap<usize, Vec<(usize, Sample)>> {
    let mut groups: BTreeMap<usize, Vec<(usize, Sample)>> = BTreeMap::new();
    for (index, sample) in samples.into_iter().enumerate() {
        groups
            .entry(sample.label)
            .or_default()
            .push((index, sample));
    }
    groups
}

/// Largest-remainder rounding of `n * fraction` so the sizes add up to `n`. Ties go to the
/// earlier part, which callers use for the training set.
fn part_sizes(n: usize, fractions: &[f64]) -> Vec<usize> {
    let weights: Vec<f64> = fractions
        .iter()
        .map(|f| if f.is_finite() { f.max(0.0) } else { 0.0 })
        .collect();
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        let mut sizes = vec![0; fractions.len()];
        sizes[0] = n;
        return sizes;
    }
    let ideal: Vec<f64> = weights.iter().map(|w| n as f64 * w / total).collect();
    let mut sizes: Vec<usize> = ideal.iter().map(|x| x.floor() as usize).collect();
    let mut order: Vec<usize> = (0..fractions.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (ideal[a] - ideal[a].floor(), ideal[b] - ideal[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    let missing = n - sizes.iter().sum::<usize>();
    for &part in order.iter().cycle().take(missing) {
        sizes[part] += 1;
    }
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn samples(per_label: &[usize]) -> Vec<Sample> {
        per_label
            .iter()
            .enumerate()
            .flat_map(|(label, &n)| {
                (0..n).map(move |i| Sample {
                    path: PathBuf::from(format!("{label}/{i}.jpg")),
                    label,
                })
            })
            .collect()
    }

    #[test]
    fn sizes_add_up_and_follow_the_fractions() {
        assert_eq!(part_sizes(10, &[0.8, 0.1, 0.1]), [8, 1, 1]);
        assert_eq!(part_sizes(1, &[0.8, 0.1, 0.1]), [1, 0, 0]);
        assert_eq!(part_sizes(7, &[0.5, 0.5]), [4, 3]);
        assert_eq!(part_sizes(5, &[0.0, 0.0]), [5, 0]);
    }

    #[test]
    fn every_genre_is_split_in_proportion_and_nothing_is_lost() {
        let all = samples(&[100, 20, 1]);
        let parts = stratified_split(all.clone(), &[0.8, 0.1, 0.1], 7);
        let count = |part: &[Sample], label| part.iter().filter(|s| s.label == label).count();
        assert_eq!(
            [
                count(&parts[0], 0),
                count(&parts[1], 0),
                count(&parts[2], 0)
            ],
            [80, 10, 10]
        );
        assert_eq!(
            [
                count(&parts[0], 1),
                count(&parts[1], 1),
                count(&parts[2], 1)
            ],
            [16, 2, 2]
        );
        assert_eq!(count(&parts[0], 2), 1);
        let mut rejoined: Vec<Sample> = parts.concat();
        rejoined.sort_by(|a, b| a.path.cmp(&b.path));
        let mut expected = all;
        expected.sort_by(|a, b| a.path.cmp(&b.path));
        assert_eq!(rejoined, expected);
    }
}
