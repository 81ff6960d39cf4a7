//! The genre table. The MUMU single-label genres are the default; a dataset or model may
//! bring its own list (from its folders or its metadata), in which case that list wins.

use serde::{Deserialize, Serialize};

/// One genre: a stable slug (folder names, CSV, JSON) and a display name (tables, plots).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Genre {
    pub slug: String,
    pub name: String,
}

/// The 12 MUMU genres in the study's label order, which is also sorted slug order.
pub const MUMU: [(&str, &str); 12] = [
    ("alternative-rock", "Alternative Rock"),
    ("christian", "Christian"),
    ("classical", "Classical"),
    ("country", "Country"),
    ("dance-electronic", "Dance & Electronic"),
    ("folk", "Folk"),
    ("jazz", "Jazz"),
    ("latin-music", "Latin Music"),
    ("metal", "Metal"),
    ("r-and-b", "R&B"),
    ("rap-hip-hop", "Rap & Hip-Hop"),
    ("reggae", "Reggae"),
];

/// An ordered list of genres: index i is output i of a model and label i of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenreSet {
    genres: Vec<Genre>,
}

impl GenreSet {
    /// The MUMU genres in label order.
    pub fn mumu() -> Self {
        Self::from_slugs(MUMU.iter().map(|(slug, _)| slug.to_string()))
    }

    /// Builds a set from slugs in the given order. Known MUMU slugs get their display name;
    /// other slugs are shown as they are.
    pub fn from_slugs(slugs: impl IntoIterator<Item = String>) -> Self {
        let genres = slugs
            .into_iter()
            .map(|slug| Genre {
                name: display_name(&slug).to_string(),
                slug,
            })
            .collect();
        Self { genres }
    }

    /// Builds a set from display names in class order (a music library's genres in the owner's
    /// spelling): each genre's slug is made from its name ([`slug_of`]).
    pub fn from_names(names: impl IntoIterator<Item = String>) -> Self {
        let genres = names
            .into_iter()
            .map(|name| Genre {
                slug: slug_of(&name),
                name,
            })
            .collect();
        Self { genres }
    }

    /// Gives the genres these display names (a model's `genre_names` metadata), in order; the
    /// lists must be as long as each other.
    pub fn with_names(mut self, names: &[String]) -> Result<Self, String> {
        if names.len() != self.genres.len() {
            return Err(format!(
                "{} names for {} genres",
                names.len(),
                self.genres.len()
            ));
        }
        for (genre, name) in self.genres.iter_mut().zip(names) {
            genre.name = name.clone();
        }
        Ok(self)
    }

    /// The display names in order.
    pub fn names(&self) -> Vec<String> {
        self.genres.iter().map(|g| g.name.clone()).collect()
    }

    /// Whether some genre's display name is not the one its slug implies (an owner's
    /// spelling), so that a model must record the names beside the slugs.
    pub fn has_own_names(&self) -> bool {
        self.genres.iter().any(|g| g.name != display_name(&g.slug))
    }

    /// Builds a set from folder names: sorted, so that MUMU folders give the study's label order.
    pub fn from_folder_names(names: impl IntoIterator<Item = String>) -> Self {
        let mut slugs: Vec<String> = names.into_iter().collect();
        slugs.sort();
        slugs.dedup();
        Self::from_slugs(slugs)
    }

    /// If every slug here is a MUMU genre, the full MUMU set (so a dataset missing Folk still
    /// gives a 12-output model in the study's order); otherwise this set unchanged.
    pub fn widened_to_mumu(&self) -> Self {
        if self.genres.iter().all(|g| slug_index(&g.slug).is_some()) {
            Self::mumu()
        } else {
            self.clone()
        }
    }

    pub fn len(&self) -> usize {
        self.genres.len()
    }

    pub fn is_empty(&self) -> bool {
        self.genres.is_empty()
    }

    pub fn get(&self, index: usize) -> Option<&Genre> {
        self.genres.get(index)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Genre> {
        self.genres.iter()
    }

    pub fn slugs(&self) -> Vec<String> {
        self.genres.iter().map(|g| g.slug.clone()).collect()
    }

    /// Index of a genre, looked up by slug or display name (case-insensitive), or by a
    /// normalised form of either ("Rap & Hip-Hop" and "rap_hip_hop" both find rap-hip-hop).
    pub fn index_of(&self, name: &str) -> Option<usize> {
        let wanted = normalise(name);
        self.genres
            .iter()
            .position(|g| normalise(&g.slug) == wanted || normalise(&g.name) == wanted)
    }
}

/// The display name of a MUMU slug, or the slug itself for other genres.
pub fn display_name(slug: &str) -> &str {
    MUMU.iter()
        .find(|(s, _)| *s == slug)
        .map(|(_, name)| *name)
        .unwrap_or(slug)
}

/// The slug of a display name: lower case, `&` as "and", every run of other characters than
/// letters and digits a single hyphen ("Rap & Hip-Hop" -> "rap-and-hip-hop", "R&B" -> "r-and-b").
pub fn slug_of(name: &str) -> String {
    let spaced = name.to_lowercase().replace('&', " and ");
    let mut slug = String::new();
    for word in spaced.split(|c: char| !c.is_alphanumeric()) {
        if !word.is_empty() {
            if !slug.is_empty() {
                slug.push('-');
            }
            slug.push_str(word);
        }
    }
    slug
}

/// Index of a slug in the MUMU label order.
pub fn slug_index(slug: &str) -> Option<usize> {
    MUMU.iter().position(|(s, _)| *s == slug)
}

/// Lower-case letters and digits only (of any script), with "&" read as "and", so that
/// display names, slugs and hand-typed variants compare equal ("Hip-Hop" = "hip hop",
/// "R&B" = "r_and_b", "Drum & Bass" = "drum and bass").
pub fn normalise(name: &str) -> String {
    name.to_lowercase()
        .replace('&', "and")
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mumu_slugs_are_sorted_so_folder_order_is_label_order() {
        let slugs: Vec<&str> = MUMU.iter().map(|(s, _)| *s).collect();
        let mut sorted = slugs.clone();
        sorted.sort();
        assert_eq!(slugs, sorted);
        assert_eq!(GenreSet::mumu().get(11).unwrap().name, "Reggae");
    }

    #[test]
    fn lookup_accepts_slugs_names_and_variants() {
        let set = GenreSet::mumu();
        assert_eq!(set.index_of("rap-hip-hop"), Some(10));
        assert_eq!(set.index_of("Rap & Hip-Hop"), Some(10));
        assert_eq!(set.index_of("R&B"), Some(9));
        assert_eq!(set.index_of("r_and_b"), Some(9));
        assert_eq!(set.index_of("polka"), None);
    }

    #[test]
    fn owner_names_get_slugs_and_are_told_apart_from_mumu_names() {
        let set = GenreSet::from_names(["Hip-Hop".into(), "R&B".into(), "Électronique".into()]);
        assert_eq!(set.slugs(), ["hip-hop", "r-and-b", "électronique"]);
        assert_eq!(set.names(), ["Hip-Hop", "R&B", "Électronique"]);
        assert!(set.has_own_names());
        assert!(!GenreSet::mumu().has_own_names());
        assert_eq!(set.index_of("hip hop"), Some(0));
        let renamed =
            GenreSet::from_slugs(["a".into(), "b".into()]).with_names(&["A".into(), "B".into()]);
        assert_eq!(renamed.unwrap().names(), ["A", "B"]);
        assert!(GenreSet::mumu().with_names(&["x".into()]).is_err());
    }

    #[test]
    fn a_mumu_subset_widens_to_all_twelve_but_other_sets_stay() {
        let subset = GenreSet::from_folder_names(["metal".into(), "country".into()]);
        assert_eq!(subset.slugs(), ["country", "metal"]);
        assert_eq!(subset.widened_to_mumu().len(), 12);
        let other = GenreSet::from_folder_names(["cats".into(), "dogs".into()]);
        assert_eq!(other.widened_to_mumu(), other);
        assert_eq!(other.get(0).unwrap().name, "cats");
    }
}
