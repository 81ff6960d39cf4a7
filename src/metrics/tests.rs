//! Unit tests of [`super`] (metrics.rs).

use super::*;

#[test]
fn class_counts_count_each_label_and_keep_absent_classes_at_zero() {
    assert_eq!(class_counts([2, 0, 2, 2], 4), vec![1, 0, 3, 0]);
    assert_eq!(class_counts([], 2), vec![0, 0]);
}

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

/// The same hand-worked case, seen through the always-genre-0 baseline:
/// baseline matrix [[3,0,0],[2,0,0],[0,0,0]].
#[test]
fn majority_baseline_of_the_hand_worked_case() {
    let c = Confusion::from_pairs(3, &[0, 0, 0, 1, 1], &[0, 0, 2, 0, 0]);
    assert_eq!(c.absent_classes(), vec![2]);
    assert_eq!(c.never_predicted_classes(), vec![1]);
    assert_eq!(c.majority_class(), Some(0));
    let b = c.majority_baseline();
    assert_eq!(b.rows(), vec![vec![3, 0, 0], vec![2, 0, 0], vec![0, 0, 0]]);
    let s = c.baseline_summary();
    assert!((s.accuracy - 0.6).abs() < 1e-12);
    // Genre 0: precision 3/5, recall 1, F1 = 0.75; genre 1: F1 0; genre 2 absent.
    assert!((s.macro_f1 - 0.375).abs() < 1e-12);
    assert!((s.balanced_accuracy - 0.5).abs() < 1e-12);
    assert!((s.weighted_f1 - 0.45).abs() < 1e-12);
    // Only three genres, so "always rank them all" finds every cover.
    assert_eq!(s.top3_accuracy, Some(1.0));
    assert!((c.majority_top_k_accuracy(1) - 0.6).abs() < 1e-12);
}

#[test]
fn majority_ties_go_to_the_lower_index_and_empty_has_none() {
    let c = Confusion::from_pairs(3, &[2, 2, 1, 1], &[0, 0, 0, 0]);
    assert_eq!(c.majority_class(), Some(1));
    assert_eq!(Confusion::new(3).majority_class(), None);
    assert_eq!(Confusion::new(3).majority_baseline().total(), 0);
}

#[test]
fn tally_counts_top3_hits_and_keeps_the_most_confident_mistakes() {
    let mut tally = Tally::new(5, 2);
    let p = Path::new;
    // Right at rank 1.
    tally.add_probabilities(p("a"), 0, &[0.6, 0.1, 0.1, 0.1, 0.1]);
    // Wrong, truth at rank 3: a top-3 hit.
    tally.add_probabilities(p("b"), 2, &[0.05, 0.5, 0.2, 0.05, 0.2]);
    // Wrong, truth at rank 5.
    tally.add_probabilities(p("c"), 4, &[0.9, 0.04, 0.03, 0.02, 0.01]);
    // Wrong, least confident: falls off the 2-long list.
    tally.add_probabilities(p("d"), 1, &[0.1, 0.2, 0.3, 0.35, 0.05]);
    assert_eq!(tally.confusion().total(), 4);
    assert_eq!(tally.confusion().get(2, 1), 1);
    assert_eq!(tally.top3_accuracy(), Some(0.75));
    let paths: Vec<_> = tally.mistakes().iter().map(|m| m.path.clone()).collect();
    assert_eq!(paths, [PathBuf::from("c"), PathBuf::from("b")]);
    assert_eq!(tally.mistakes()[0].predicted, 0);
    assert_eq!(tally.mistakes()[0].truth, 4);
    assert!((tally.mistakes()[0].probability - 0.9).abs() < 1e-6);
    assert!((tally.summary().accuracy - 0.25).abs() < 1e-12);
}

#[test]
fn top3_is_unknown_when_a_ranking_is_too_short() {
    let mut tally = Tally::new(5, 0);
    tally.add(Path::new("a"), 1, &[(1, 0.9), (0, 0.05), (2, 0.01)]);
    assert_eq!(tally.top3_accuracy(), Some(1.0));
    tally.add(Path::new("b"), 1, &[(1, 0.9)]);
    assert_eq!(tally.top3_accuracy(), None);
    assert_eq!(tally.confusion().total(), 2);
    // A model with two genres ranks everything it can: top-3 is still known.
    let mut small = Tally::new(2, 0);
    small.add(Path::new("a"), 1, &[(0, 0.7), (1, 0.3)]);
    assert_eq!(small.top3_accuracy(), Some(1.0));
}

#[test]
fn gate_parses_bars_and_names_each_metric_below_its_bar() {
    let bars = parse_gate("macro_f1=0.3, Accuracy=0.4,top3-accuracy=0.5").unwrap();
    assert_eq!(bars.len(), 3);
    assert_eq!(bars[1].metric, Metric::Accuracy);
    let summary = Summary {
        accuracy: 0.45,
        balanced_accuracy: 0.2,
        macro_f1: 0.25,
        weighted_f1: 0.3,
        top3_accuracy: None,
    };
    let failures = gate_failures(&summary, &bars);
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(failures[0].starts_with("macro_f1 is 0.2500, below the bar of 0.3000"));
    assert!(failures[1].contains("top3_accuracy could not be measured"));
    let passing = parse_gate("accuracy=0.45").unwrap();
    assert!(gate_failures(&summary, &passing).is_empty());
}

#[test]
fn gate_rejects_unknown_metrics_bad_numbers_and_percentages() {
    assert!(parse_gate("f2=0.3")
        .unwrap_err()
        .contains("unknown metric \"f2\""));
    assert!(parse_gate("accuracy").unwrap_err().contains("METRIC=VALUE"));
    assert!(parse_gate("accuracy=high")
        .unwrap_err()
        .contains("not a number"));
    assert!(parse_gate("accuracy=40").unwrap_err().contains("not 40"));
    assert!(parse_gate(" , ").is_err());
}
