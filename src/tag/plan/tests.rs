//! Unit tests of [`super`] (plan.rs).

use super::*;

#[test]
fn genre_values_follow_the_style() {
    let mumu = GenreSet::mumu();
    assert_eq!(
        genre_value("rap-hip-hop", GenreStyle::Name, &mumu),
        "Rap & Hip-Hop"
    );
    assert_eq!(
        genre_value("rap-hip-hop", GenreStyle::Slug, &mumu),
        "rap-hip-hop"
    );
    assert_eq!(genre_value("r-and-b", GenreStyle::Name, &mumu), "R&B");
}

fn top(probabilities: &[f32]) -> Vec<Candidate> {
    probabilities
        .iter()
        .enumerate()
        .map(|(i, &probability)| Candidate {
            genre: format!("g{i}"),
            value: format!("G{i}"),
            probability,
        })
        .collect()
}

fn chosen(count: &GenresPerAlbum, probabilities: &[f32]) -> Vec<String> {
    count
        .chosen(&top(probabilities))
        .map(|c| c.value.clone())
        .collect()
}

#[test]
fn an_album_gets_the_best_genre_and_each_next_one_that_is_probable_enough() {
    let two = GenresPerAlbum {
        max: 2,
        min_probability: 0.25,
        separator: None,
    };
    assert_eq!(chosen(&two, &[0.5, 0.3, 0.2]), ["G0", "G1"]);
    assert_eq!(chosen(&two, &[0.5, 0.2, 0.2]), ["G0"]);
    // The best needs --min-confidence, not this minimum.
    assert_eq!(chosen(&two, &[0.2, 0.1]), ["G0"]);
    let one = GenresPerAlbum::default();
    assert_eq!(chosen(&one, &[0.4, 0.39]), ["G0"]);
    let three = GenresPerAlbum { max: 3, ..two };
    assert_eq!(chosen(&three, &[0.4, 0.3, 0.3]), ["G0", "G1", "G2"]);
    assert_eq!(chosen(&three, &[0.4]), ["G0"]);
}

#[test]
fn a_separator_joins_several_genres_into_one_value() {
    let joined = GenresPerAlbum {
        separator: Some("; ".into()),
        ..Default::default()
    };
    let genres = vec!["Rock".to_string(), "Metal".to_string()];
    assert_eq!(joined.values(genres.clone()), ["Rock; Metal"]);
    assert_eq!(joined.values(vec!["Rock".into()]), ["Rock"]);
    assert_eq!(GenresPerAlbum::default().values(genres.clone()), genres);
    assert_eq!(GenresPerAlbum::default_min_probability(0.45), 0.45);
    assert_eq!(GenresPerAlbum::default_min_probability(0.0), 0.2);
}
