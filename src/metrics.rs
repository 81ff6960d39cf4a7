//! Classification metrics from a confusion matrix: accuracy alone misleads on imbalanced genres,
//! so per-genre precision/recall/F1, macro-F1 and balanced accuracy sit beside it.
//!
//! Macro averages (macro-F1, balanced accuracy) are taken over the genres that have at least one
//! true example ("support"): a genre the model knows but the data lacks says nothing about the model.

use serde::{Deserialize, Serialize};

/// Rows are true labels, columns predictions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    classes: usize,
    counts: Vec<u64>,
}

/// Precision, recall, F1 and support of one genre.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    pub support: u64,
    pub predicted: u64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

impl Confusion {
    pub fn new(classes: usize) -> Self {
        Self {
            classes,
            counts: vec![0; classes * classes],
        }
    }

    /// Builds a matrix from parallel label and prediction lists.
    pub fn from_pairs(classes: usize, truth: &[usize], predicted: &[usize]) -> Self {
        let mut confusion = Self::new(classes);
        for (&t, &p) in truth.iter().zip(predicted) {
            confusion.add(t, p);
        }
        confusion
    }

    pub fn add(&mut self, truth: usize, predicted: usize) {
        assert!(
            truth < self.classes && predicted < self.classes,
            "label out of range"
        );
        self.counts[truth * self.classes + predicted] += 1;
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    pub fn get(&self, truth: usize, predicted: usize) -> u64 {
        self.counts[truth * self.classes + predicted]
    }

    /// Rows as nested vectors (for JSON and tables).
    pub fn rows(&self) -> Vec<Vec<u64>> {
        self.counts
            .chunks(self.classes.max(1))
            .map(<[u64]>::to_vec)
            .collect()
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn support(&self, class: usize) -> u64 {
        (0..self.classes).map(|p| self.get(class, p)).sum()
    }

    pub fn predicted_count(&self, class: usize) -> u64 {
        (0..self.classes).map(|t| self.get(t, class)).sum()
    }

    fn correct(&self) -> u64 {
        (0..self.classes).map(|c| self.get(c, c)).sum()
    }

    /// Genres with at least one true example: the ones macro averages are taken over.
    pub fn present_classes(&self) -> Vec<usize> {
        (0..self.classes).filter(|&c| self.support(c) > 0).collect()
    }

    pub fn accuracy(&self) -> f64 {
        ratio(self.correct(), self.total())
    }

    /// Precision and recall are 0 when undefined (nothing predicted / no support), as sklearn's
    /// `zero_division=0`: a genre never predicted earns no credit.
    pub fn class_scores(&self, class: usize) -> ClassScores {
        let tp = self.get(class, class);
        let support = self.support(class);
        let predicted = self.predicted_count(class);
        let precision = ratio(tp, predicted);
        let recall = ratio(tp, support);
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        ClassScores {
            support,
            predicted,
            precision,
            recall,
            f1,
        }
    }

    /// Mean recall over present genres.
    pub fn balanced_accuracy(&self) -> f64 {
        self.macro_mean(|s| s.recall)
    }

    /// Mean F1 over present genres.
    pub fn macro_f1(&self) -> f64 {
        self.macro_mean(|s| s.f1)
    }

    /// F1 averaged with each genre weighted by its support.
    pub fn weighted_f1(&self) -> f64 {
        let total = self.total();
        if total == 0 {
            return 0.0;
        }
        (0..self.classes)
            .map(|c| {
                let s = self.class_scores(c);
                s.f1 * s.support as f64
            })
            .sum::<f64>()
            / total as f64
    }

    fn macro_mean(&self, score: impl Fn(&ClassScores) -> f64) -> f64 {
        let present = self.present_classes();
        if present.is_empty() {
            return 0.0;
        }
        present
            .iter()
            .map(|&c| score(&self.class_scores(c)))
            .sum::<f64>()
            / present.len() as f64
    }
}

fn ratio(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}

/// Index of the largest value (the first one on ties); None for an empty row or NaN everywhere.
pub fn argmax(row: &[f32]) -> Option<usize> {
    row.iter()
        .enumerate()
        .filter(|(_, v)| !v.is_nan())
        .fold(None, |best: Option<(usize, f32)>, (i, &v)| match best {
            Some((_, b)) if b >= v => best,
            _ => Some((i, v)),
        })
        .map(|(i, _)| i)
}

/// Indices of the k largest values, largest first.
pub fn top_k(row: &[f32], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..row.len()).collect();
    order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
    order.truncate(k);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-worked: 3 genres, genre 2 has no true covers, genre 1 is never predicted.
    /// truth:     0 0 0 1 1
    /// predicted: 0 0 2 0 0
    #[test]
    fn hand_worked_case_with_an_absent_and_a_never_predicted_genre() {
        let c = Confusion::from_pairs(3, &[0, 0, 0, 1, 1], &[0, 0, 2, 0, 0]);
        assert_eq!(c.rows(), vec![vec![2, 0, 1], vec![2, 0, 0], vec![0, 0, 0]]);
        assert!((c.accuracy() - 0.4).abs() < 1e-12);
        let g0 = c.class_scores(0);
        // precision 2/4, recall 2/3, F1 = 2*(1/2*2/3)/(1/2+2/3) = 4/7
        assert!((g0.precision - 0.5).abs() < 1e-12);
        assert!((g0.recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((g0.f1 - 4.0 / 7.0).abs() < 1e-12);
        assert_eq!(c.class_scores(1).f1, 0.0);
        assert_eq!(c.present_classes(), vec![0, 1]);
        // Macro over the two present genres only: (4/7 + 0) / 2.
        assert!((c.macro_f1() - 2.0 / 7.0).abs() < 1e-12);
        assert!((c.balanced_accuracy() - 1.0 / 3.0).abs() < 1e-12);
        // Weighted: (4/7 * 3 + 0 * 2) / 5.
        assert!((c.weighted_f1() - 12.0 / 35.0).abs() < 1e-12);
    }

    #[test]
    fn empty_matrix_gives_zeros_not_nan() {
        let c = Confusion::new(4);
        assert_eq!(c.accuracy(), 0.0);
        assert_eq!(c.macro_f1(), 0.0);
        assert_eq!(c.weighted_f1(), 0.0);
    }

    #[test]
    fn argmax_and_top_k_order_by_value_then_index() {
        assert_eq!(argmax(&[0.1, 0.7, 0.7, 0.1]), Some(1));
        assert_eq!(argmax(&[]), None);
        assert_eq!(top_k(&[0.1, 0.5, 0.2, 0.9], 3), vec![3, 1, 2]);
    }
}
