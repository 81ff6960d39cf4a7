//! Splitting a collection between machines: `--shard I/N` keeps the covers (or albums) whose
//! path, relative to the root it was found under, hashes to I modulo N. The hash is FNV-1a
//! over the path's bytes: fixed by its definition, unlike std's `DefaultHasher`, which may
//! change between Rust releases, so every machine and every later run agrees.

use crate::util::fnv1a64;
use anyhow::{bail, Result};
use std::path::Path;

/// One of N shards, `index` counting from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl std::str::FromStr for Shard {
    type Err = anyhow::Error;

    /// `I/N` with 0 <= I < N.
    fn from_str(text: &str) -> Result<Self> {
        let parsed = text.split_once('/').and_then(|(i, n)| {
            Some((i.trim().parse::<u64>().ok()?, n.trim().parse::<u64>().ok()?))
        });
        match parsed {
            Some((index, count)) if count > 0 && index < count => Ok(Self { index, count }),
            _ => bail!(
                "'{text}' is not a shard: give I/N with N >= 1 and 0 <= I < N (for example 0/4)"
            ),
        }
    }
}

impl Shard {
    /// Whether the item at `path` (found under `root`) belongs to this shard.
    pub fn owns(&self, root: &Path, path: &Path) -> bool {
        let relative = match path.strip_prefix(root) {
            Ok(rest) if !rest.as_os_str().is_empty() => rest,
            // The root itself (a file named on the command line): its own name.
            _ => Path::new(path.file_name().unwrap_or(path.as_os_str())),
        };
        fnv1a64(relative.as_os_str().as_encoded_bytes()) % self.count == self.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_belongs_to_exactly_one_shard_whatever_the_root() {
        let shards: Vec<Shard> = (0..7).map(|i| format!("{i}/7").parse().unwrap()).collect();
        for name in ["a/b.jpg", "Artist/Album", "x", "deep/er/still.png"] {
            let owners = |root: &str| {
                let path = Path::new(root).join(name);
                shards
                    .iter()
                    .filter(|s| s.owns(Path::new(root), &path))
                    .map(|s| s.index)
                    .collect::<Vec<_>>()
            };
            assert_eq!(owners("/music").len(), 1, "{name}");
            assert_eq!(
                owners("/music"),
                owners("/mnt/other/place"),
                "{name}: relative paths decide"
            );
        }
    }

    #[test]
    fn bad_shards_are_refused_with_the_expected_form() {
        for bad in ["3/3", "1", "a/b", "0/0", "-1/2"] {
            let err = bad.parse::<Shard>().unwrap_err().to_string();
            assert!(err.contains("I/N"), "{bad}: {err}");
        }
        assert_eq!(
            "2/5".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 5 }
        );
    }
}
