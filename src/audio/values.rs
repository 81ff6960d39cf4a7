//! What a genre field is and holds, apart from any format: which field ([`Field`]), its values
//! ([`Values`]), and how values compare and read. Every format's editor in
//! [`crate::audio::edit`] and [`crate::audio::fields`] (which picks the editor) share these, so
//! the editors depend on this module alone and not on the one that calls them.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// Which field holds the genre we write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "name")]
pub enum Field {
    /// The format's standard genre field.
    Standard,
    /// A field of our own (`--field NAME`), so the person's genres are never touched.
    Custom(String),
}

impl Field {
    /// A custom field name must be a valid Vorbis comment key (printable ASCII without `=`),
    /// which also suits ID3 TXXX descriptions and M4A freeform names.
    pub fn custom(name: &str) -> Result<Self> {
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| (0x20..=0x7d).contains(&b) && b != b'=');
        if !valid {
            bail!("--field '{name}': a field name is printable ASCII without '='");
        }
        Ok(Self::Custom(name.to_string()))
    }

    /// How plans and messages name the field.
    pub fn describe(&self) -> String {
        match self {
            Self::Standard => "genre".into(),
            Self::Custom(name) => name.clone(),
        }
    }
}

/// The values of one field, in the order stored (empty: the field is absent).
pub type Values = Vec<String>;

/// How ID3v2.3 stores several values in one (v2.3 has no separator of its own).
pub const ID3V23_JOIN: &str = "/";

/// Whether a field reading `current` already holds `wanted`: the same values, or (an ID3v2.3
/// tag) the one value they are stored as there.
pub fn holds(current: &[String], wanted: &[String]) -> bool {
    current == wanted
        || (wanted.len() > 1 && current.len() == 1 && current[0] == wanted.join(ID3V23_JOIN))
}

/// Whether a field has a value worth keeping (not absent, not only blanks).
pub fn has_value(values: &[String]) -> bool {
    values.iter().any(|v| !v.trim().is_empty())
}

/// The values for people: one value as it is, several as `[Rock, Metal]` (so that one value
/// holding a separator reads differently), `(none)` when absent.
pub fn show(values: &[String]) -> String {
    match values {
        [] => "(none)".into(),
        [one] => one.clone(),
        several => format!("[{}]", several.join(", ")),
    }
}
