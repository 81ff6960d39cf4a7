//! covergenre-eval: report formats, the CI gate, the heatmap, predictions files, and
//! (with a real model) eval against classify's output on the same covers.

mod common;

use covergenre::genres::GenreSet;
use covergenre::metrics::Tally;
use covergenre::report::formats::{self, Format};
use covergenre::report::{plot, EvalReport};
use std::path::Path;

/// Hand-worked: genres jazz, metal, folk; folk has no covers, metal is never predicted.
/// truth:     jazz jazz jazz metal metal
/// predicted: jazz jazz folk jazz  jazz
fn hand_worked_report() -> EvalReport {
    let genres = GenreSet::from_slugs(["jazz", "metal", "folk"].map(String::from));
    let mut tally = Tally::new(3, 2);
    let covers: [(&str, usize, [f32; 3]); 5] = [
        ("a.jpg", 0, [0.8, 0.1, 0.1]),
        ("b.jpg", 0, [0.6, 0.3, 0.1]),
        ("c.jpg", 0, [0.2, 0.1, 0.7]),
        ("d.jpg", 1, [0.9, 0.05, 0.05]),
        ("e.jpg", 1, [0.5, 0.2, 0.3]),
    ];
    for (path, truth, probabilities) in covers {
        tally.add_probabilities(Path::new(path), truth, &probabilities);
    }
    EvalReport::from_tally(
        "models/hand.onnx".into(),
        "covers (test)".into(),
        &genres,
        &tally,
        vec![],
    )
}

#[test]
fn view_heatmap() {
    plot::write_heatmap(&hand_worked_report(), Path::new("/tmp/heat.png")).unwrap();
    println!(
        "{}",
        formats::render(&[hand_worked_report()], Format::Table).unwrap()
    );
    println!(
        "{}",
        formats::render(&[hand_worked_report()], Format::Markdown).unwrap()
    );
}
