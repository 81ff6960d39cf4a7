//! The owner's head: from a base model's outputs on a cover to the owner's genres, learned from
//! the library's tagged albums alone (no genre map needed for the base model's names).
//!
//! - **The mapping** `M` (base genres x owner genres) is what the base model's calibrated
//!   probabilities say about each owner genre on the training albums: `M[b][k]` is the share of
//!   base genre b's probability mass that fell on albums the owner calls k (plus a little
//!   smoothing, and a pseudo-count where the names agree, for small libraries). So "Rap &
//!   Hip-Hop" becomes the owner's "Hip-Hop", "Alternative Rock" and "Metal" may both feed
//!   "Rock", and a genre the base lacks draws on whatever the base says of its albums. The base
//!   through the mapping predicts `p . M`.
//! - **The head** starts from the mapping and corrects it linearly on the base's logits:
//!   `logits = ln(p . M) + z W + c`, with `W` and `c` starting at zero and an L2 penalty pulling
//!   them back there, so a small library cannot drag it far from the mapping; what the
//!   mapping cannot tell apart (a genre the base lacks) the correction learns.
//!
//! Plain `ndarray`, full-batch Adam: the inputs are a dozen numbers per cover.

use crate::genres::GenreSet;
use ndarray::{Array1, Array2, ArrayView2, Axis};

/// Pseudo-albums spread over the owner's genres (by their frequency) in every base genre's row.
const SMOOTHING: f32 = 1.0;
/// Pseudo-albums a base genre gives the owner genre of the same name.
const SAME_NAME: f32 = 3.0;
/// Adam steps and rate of the head's fit.
const STEPS: usize = 400;
const RATE: f32 = 0.05;

/// A learned head (see the module docs), as it runs on raw base logits `z`.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnerHead {
    /// The base model's temperature: `p = softmax(z / T)` are its calibrated probabilities.
    pub base_temperature: f32,
    /// `M`, base genres x owner genres, each row summing to 1.
    pub mapping: Array2<f32>,
    /// `W` on raw base logits, base genres x owner genres (zero: the mapping alone).
    pub weight: Array2<f32>,
    /// `c`, one per owner genre.
    pub bias: Array1<f32>,
}

impl OwnerHead {
    /// The base through the mapping alone (`W = 0`, `c = 0`).
    pub fn mapping_only(base_temperature: f32, mapping: Array2<f32>) -> Self {
        let (base, owner) = mapping.dim();
        Self {
            base_temperature,
            mapping,
            weight: Array2::zeros((base, owner)),
            bias: Array1::zeros(owner),
        }
    }

    /// The head as JSON (`<out>/best/head.json`): rows are base genres, columns owner genres.
    pub fn to_json(&self) -> serde_json::Value {
        let rows = |m: &Array2<f32>| -> Vec<Vec<f32>> {
            m.rows().into_iter().map(|r| r.to_vec()).collect()
        };
        serde_json::json!({
            "base_temperature": self.base_temperature,
            "mapping": rows(&self.mapping),
            "weight": rows(&self.weight),
            "bias": self.bias.to_vec(),
        })
    }

    /// Whether this is the mapping alone.
    pub fn is_mapping_only(&self) -> bool {
        self.weight
            .iter()
            .chain(self.bias.iter())
            .all(|&v| v == 0.0)
    }

    /// The owner's logits for base logits `z` (covers x base genres).
    pub fn logits(&self, z: ArrayView2<f32>) -> Array2<f32> {
        let mixed = softmax_rows(&z.mapv(|v| v / self.base_temperature)).dot(&self.mapping);
        mixed.mapv(|q| q.max(f32::MIN_POSITIVE).ln()) + z.dot(&self.weight) + &self.bias
    }
}

/// `M` from the base's calibrated probabilities `p` on the training covers and their owner
/// labels (see the module docs).
pub fn learn_mapping(
    p: ArrayView2<f32>,
    labels: &[usize],
    base: &GenreSet,
    owner: &GenreSet,
) -> Array2<f32> {
    let (b, k) = (p.ncols(), owner.len());
    let mut frequency = vec![1.0f32; k];
    for &label in labels {
        frequency[label] += 1.0;
    }
    let total: f32 = frequency.iter().sum();
    let mut counts = Array2::from_shape_fn((b, k), |(_, o)| SMOOTHING * frequency[o] / total);
    for (row, &label) in p.rows().into_iter().zip(labels) {
        for (base_genre, &mass) in row.iter().enumerate() {
            counts[[base_genre, label]] += mass;
        }
    }
    for (base_genre, genre) in base.iter().enumerate().take(b) {
        for (o, owned) in owner.iter().enumerate() {
            let same = |a: &str| crate::genres::normalise(a);
            if same(&genre.name) == same(&owned.name) || same(&genre.slug) == same(&owned.slug) {
                counts[[base_genre, o]] += SAME_NAME;
            }
        }
    }
    let sums = counts.sum_axis(Axis(1)).insert_axis(Axis(1));
    counts / sums
}

/// Fits the head's correction on training base logits `z` and labels, starting from `start`
/// (the mapping alone) with L2 strength `penalty` toward it. Inputs are standardised per base
/// genre while fitting; the result runs on raw logits.
pub fn fit_head(
    start: &OwnerHead,
    z: ArrayView2<f32>,
    labels: &[usize],
    penalty: f32,
) -> OwnerHead {
    let (n, b) = z.dim();
    let k = start.mapping.ncols();
    let offset = start.logits(z);
    let mean = z.mean_axis(Axis(0)).unwrap_or_else(|| Array1::zeros(b));
    let std = z.std_axis(Axis(0), 0.0).mapv(|s| s.max(1e-3));
    let x = (&z - &mean) / &std;
    let mut onehot = Array2::<f32>::zeros((n, k));
    for (i, &label) in labels.iter().enumerate() {
        onehot[[i, label]] = 1.0;
    }
    let mut w = Array2::<f32>::zeros((b, k));
    let mut c = Array1::<f32>::zeros(k);
    let (mut adam_w, mut adam_c) = (Adam::new((b, k)), Adam::new((1, k)));
    for step in 1..=STEPS {
        let probs = softmax_rows(&(&offset + &x.dot(&w) + &c));
        let error = (probs - &onehot) / n.max(1) as f32;
        let grad_w = x.t().dot(&error) + &w * (2.0 * penalty);
        let grad_c = error.sum_axis(Axis(0)) + &c * (2.0 * penalty);
        adam_w.step(&mut w, &grad_w, step);
        let mut c2 = c.clone().insert_axis(Axis(0));
        adam_c.step(&mut c2, &grad_c.insert_axis(Axis(0)), step);
        c = c2.index_axis_move(Axis(0), 0);
    }
    // z~ W + c = z (W / std) + (c - (mean / std) W): the same head on raw logits.
    let weight = &w / &std.clone().insert_axis(Axis(1));
    let bias = &c - &(&mean / &std).dot(&w);
    OwnerHead {
        weight: weight + &start.weight,
        bias: bias + &start.bias,
        ..start.clone()
    }
}

/// For each owner genre, the base genres it draws on: the share of its training albums' base
/// probability mass each base genre holds, largest first, those of at least `min_share`.
pub fn draws_on(
    p: ArrayView2<f32>,
    labels: &[usize],
    owner_genres: usize,
    min_share: f32,
) -> Vec<Vec<(usize, f32)>> {
    let mut mass = Array2::<f32>::zeros((owner_genres, p.ncols()));
    for (row, &label) in p.rows().into_iter().zip(labels) {
        let mut target = mass.row_mut(label);
        target += &row;
    }
    mass.rows()
        .into_iter()
        .map(|row| {
            let total: f32 = row.sum();
            let mut shares: Vec<(usize, f32)> = row
                .iter()
                .enumerate()
                .map(|(b, &m)| (b, if total > 0.0 { m / total } else { 0.0 }))
                .filter(|&(_, share)| share >= min_share)
                .collect();
            shares.sort_by(|a, b| b.1.total_cmp(&a.1));
            shares
        })
        .collect()
}

/// Row-wise softmax, max subtracted.
pub fn softmax_rows(logits: &Array2<f32>) -> Array2<f32> {
    let mut out = logits.clone();
    for mut row in out.rows_mut() {
        let max = row.fold(f32::NEG_INFINITY, |a, &v| a.max(v));
        row.mapv_inplace(|v| (v - max).exp());
        let sum = row.sum();
        row /= sum;
    }
    out
}

/// Adam's moments for one parameter matrix.
struct Adam {
    m: Array2<f32>,
    v: Array2<f32>,
}

impl Adam {
    fn new(shape: (usize, usize)) -> Self {
        Self {
            m: Array2::zeros(shape),
            v: Array2::zeros(shape),
        }
    }

    fn step(&mut self, param: &mut Array2<f32>, grad: &Array2<f32>, t: usize) {
        let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
        self.m = &self.m * b1 + grad * (1.0 - b1);
        self.v = &self.v * b2 + &grad.mapv(|g| g * g) * (1.0 - b2);
        let m_hat = &self.m / (1.0 - b1.powi(t as i32));
        let v_hat = &self.v / (1.0 - b2.powi(t as i32));
        *param -= &(m_hat / (v_hat.mapv(f32::sqrt) + eps) * RATE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn genres(names: &[&str]) -> GenreSet {
        GenreSet::from_names(names.iter().map(|s| s.to_string()))
    }

    fn accuracy(head: &OwnerHead, z: ArrayView2<f32>, labels: &[usize]) -> f64 {
        let logits = head.logits(z);
        let right = logits
            .rows()
            .into_iter()
            .zip(labels)
            .filter(|(row, l)| {
                let best = row
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .unwrap()
                    .0;
                best == **l
            })
            .count();
        right as f64 / labels.len() as f64
    }

    #[test]
    fn the_mapping_learns_renamed_and_merged_genres_from_the_albums_alone() {
        let base = genres(&["Rap & Hip-Hop", "Metal", "Alternative Rock"]);
        let owner = genres(&["Hip-Hop", "Rock"]);
        // The base is sure of its genre on each album; the owner calls Metal and Alt. Rock "Rock".
        let p = array![
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, 1.0],
            [0.9, 0.1, 0.0]
        ];
        let labels = [0, 1, 1, 0];
        let m = learn_mapping(p.view(), &labels, &base, &owner);
        assert!(m[[0, 0]] > 0.8, "Rap & Hip-Hop -> Hip-Hop: {m}");
        assert!(m[[1, 1]] > 0.6 && m[[2, 1]] > 0.6, "both feed Rock: {m}");
        for row in m.rows() {
            assert!((row.sum() - 1.0).abs() < 1e-5);
        }
        let draws = draws_on(p.view(), &labels, 2, 0.1);
        assert_eq!(draws[1].iter().map(|d| d.0).collect::<Vec<_>>().len(), 2);
        assert_eq!(draws[0][0].0, 0);
    }

    #[test]
    fn the_head_learns_a_genre_the_mapping_cannot_tell_apart_and_stays_near_it_when_penalised() {
        // Base genres red, green. The owner splits the base's red covers into loud (the base is
        // very sure) and quiet ones: the base's probabilities hardly differ, its logits do.
        let z = array![
            [6.0, -6.0],
            [6.2, -5.8],
            [5.9, -6.1],
            [1.5, -1.5],
            [1.4, -1.6],
            [-4.0, 4.0],
            [-3.9, 4.1],
            [-4.1, 3.8]
        ];
        let labels = [0, 0, 0, 2, 2, 1, 1, 1];
        let base = genres(&["red", "green"]);
        let owner = genres(&["red", "green", "quiet red"]);
        let p = softmax_rows(&z);
        let start = OwnerHead::mapping_only(1.0, learn_mapping(p.view(), &labels, &base, &owner));
        assert!(start.is_mapping_only());
        let mapped = accuracy(&start, z.view(), &labels);
        let head = fit_head(&start, z.view(), &labels, 1e-3);
        assert!(!head.is_mapping_only());
        assert_eq!(
            accuracy(&head, z.view(), &labels),
            1.0,
            "mapping alone: {mapped}"
        );
        assert!(mapped < 1.0);
        let stiff = fit_head(&start, z.view(), &labels, 1e3);
        let moved = |h: &OwnerHead| h.weight.iter().map(|w| w.abs()).sum::<f32>();
        assert!(
            moved(&stiff) < 0.05 * moved(&head),
            "{} {}",
            moved(&stiff),
            moved(&head)
        );
    }
}
