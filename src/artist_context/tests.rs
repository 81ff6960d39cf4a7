//! Unit tests of [`super`] (artist_context.rs).

use super::*;
use crate::data::artists::ArtistSource;

fn artist(name: &str) -> AlbumArtist {
    AlbumArtist {
        name: name.into(),
        key: crate::data::artists::fold(name),
        source: ArtistSource::AlbumArtist,
        note: None,
    }
}

fn genre(name: &str, class: Option<usize>) -> Genre {
    Genre {
        key: crate::genres::normalise(name),
        spelling: name.into(),
        class,
    }
}

/// [`Agreement::measure`] of (artist, genre) pairs held as owned strings.
fn measure(tagged: &[(String, String)]) -> Agreement {
    let pairs: Vec<(&str, &str)> = tagged
        .iter()
        .map(|(a, g)| (a.as_str(), g.as_str()))
        .collect();
    Agreement::measure(&pairs)
}

#[test]
fn artists_that_keep_their_genre_agree_fully_and_weigh_much() {
    let tagged: Vec<(String, String)> = (0..30)
        .flat_map(|a| (0..3).map(move |_| (format!("artist {a}"), format!("genre {}", a % 5))))
        .collect();
    let measured = measure(&tagged);
    assert_eq!((measured.artists, measured.albums), (30, 90));
    assert_eq!(measured.agreement, 1.0);
    assert!(measured.chance < 0.35, "{measured:?}");
    assert!(measured.weight > 0.9, "{measured:?}");
    assert!(
        measured.line().contains("100% of the time"),
        "{}",
        measured.line()
    );
}

#[test]
fn artists_whose_genres_are_shuffled_weigh_about_nothing() {
    // Each artist's albums take genres in turn, so no artist keeps one.
    let tagged: Vec<(String, String)> = (0..40)
        .flat_map(|a| {
            (0..4).map(move |i| (format!("artist {a}"), format!("genre {}", (a + i) % 4)))
        })
        .collect();
    let measured = measure(&tagged);
    assert_eq!(measured.agreement, 0.0);
    assert_eq!(measured.weight, 0.0, "{measured:?}");
}

#[test]
fn ties_for_the_most_common_genre_count_as_a_share() {
    let pairs = [("a", "jazz"), ("a", "jazz"), ("a", "rock")];
    // Jazz albums: the others are {jazz, rock}: a tie of 2 -> 1/2 each; the rock album:
    // the others are {jazz, jazz} -> 0.
    let measured = Agreement::measure(&pairs);
    assert!(
        (measured.agreement - 1.0 / 3.0).abs() < 1e-9,
        "{measured:?}"
    );
    let single = Agreement::measure(&[("a", "jazz"), ("b", "rock")]);
    assert_eq!(
        single,
        Agreement::default(),
        "artists with one album are not measured"
    );
}

#[test]
fn the_combination_follows_the_counts_and_the_weight() {
    let cover = [0.66, 0.2, 0.14];
    let jazz = combine(&cover, &[0, 3, 0], 3, 0.9);
    assert_eq!(best(&jazz), Some(1), "{jazz:?}");
    assert!((jazz.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    assert_eq!(combine(&cover, &[0, 3, 0], 3, 0.0), cover);
    assert_eq!(combine(&cover, &[0, 0, 0], 0, 0.9), cover);
    // One album of another genre barely moves a confident cover.
    let confident = combine(&[0.9, 0.05, 0.05], &[0, 1, 0], 1, 0.5);
    assert_eq!(best(&confident), Some(0), "{confident:?}");
    // Genres the model does not know dilute the artist's pull.
    let unknown = combine(&cover, &[0, 1, 0], 3, 0.9);
    assert!(unknown[1] < jazz[1], "{unknown:?} vs {jazz:?}");
}

#[test]
fn an_artist_with_thousands_of_albums_is_counted_and_shown_briefly() {
    let names = ["Jazz", "Blues", "Soul", "Funk", "Bebop", "Swing"];
    let mut albums: Vec<ContextAlbum> = (0..5000)
        .map(|i| ContextAlbum {
            artist: Some(artist("Prolific")),
            genre: Some(genre(names[i % 7 % names.len()], None)),
        })
        .collect();
    albums.push(ContextAlbum {
        artist: Some(artist("Prolific")),
        genre: None,
    });
    let started = std::time::Instant::now();
    let context = ArtistContext::new(albums, 3);
    let (said, combined) = context.said(5000, &[0.5, 0.3, 0.2], None).unwrap();
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
    assert_eq!(said.albums, 5000);
    assert_eq!(
        combined,
        [0.5, 0.3, 0.2],
        "genres the model does not know move nothing"
    );
    let shown = said.describe();
    assert!(
        shown.starts_with("artist Prolific: 5000 albums: 1429 Jazz, ")
            && shown.ends_with(", 2 more genres (weighs nothing in this library)"),
        "{shown}"
    );
}

#[test]
fn the_context_counts_other_albums_and_checks_itself() {
    let mut albums: Vec<ContextAlbum> = Vec::new();
    for (name, g, class) in [("Miles Quartet", "Jazz", 1), ("Iron Maidens", "Metal", 0)] {
        for _ in 0..3 {
            albums.push(ContextAlbum {
                artist: Some(artist(name)),
                genre: Some(genre(g, Some(class))),
            });
        }
    }
    albums.push(ContextAlbum {
        artist: Some(artist("The Miles Quartet")),
        genre: None,
    });
    albums.push(ContextAlbum {
        artist: None,
        genre: None,
    });
    let mut context = ArtistContext::new(albums, 3);
    assert!(context.agreement.weight > 0.5, "{:?}", context.agreement);
    let (said, combined) = context
        .said(
            6,
            &[0.66, 0.2, 0.14],
            Some(CoverBest {
                value: "Metal".into(),
                probability: 0.66,
            }),
        )
        .unwrap();
    assert_eq!(best(&combined), Some(1));
    assert_eq!(said.albums, 3);
    assert_eq!(
        said.describe(),
        "artist The Miles Quartet: 3 albums, all Jazz"
    );
    assert!(context.said(7, &[0.5, 0.3, 0.2], None).is_none());
    context.decided(6, genre("Bebop", None));
    assert_eq!(context.others(0).albums, 3, "the decided album counts");
    assert_eq!(context.others(0).genres[1].genre, "Bebop");
    // Covers that look like metal: right for the metal albums only, the artist fixes jazz.
    let covers: Vec<Option<Vec<f32>>> = (0..8).map(|_| Some(vec![0.6, 0.3, 0.1])).collect();
    let check = context.check(&covers);
    assert_eq!((check.albums, check.with_artist), (6, 6));
    assert_eq!(check.cover_right, 3);
    assert_eq!(check.combined_right, 6, "{check:?}");
}
