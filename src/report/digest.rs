//! The short account of a classify run, for people (`covergenre-classify --summary`, what the
//! quick start prints): covers per genre with their share and mean probability, the most and
//! least certain covers, the time, and where the full results and the review page went.
//! Paths are shown clean: no `.` or `..` in the middle, relative to the current folder when
//! that is shorter.

use super::classify::{Record, Summary, UNCERTAIN};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

/// How many of the most and of the least certain covers are shown.
pub const EXTREMES: usize = 10;

/// One cover as the account shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    pub path: String,
    /// The model's best genre, by its display name.
    pub genre: String,
    pub probability: f32,
}

/// What the account keeps of a run while it streams past: counts, and the extremes only.
#[derive(Debug, Default)]
pub struct Digest {
    /// Display name (or [`UNCERTAIN`]) -> covers and the sum of their best probability.
    genres: BTreeMap<String, (usize, f64)>,
    /// Most certain first, at most [`EXTREMES`].
    most: Vec<Shown>,
    /// Least certain first, at most [`EXTREMES`].
    least: Vec<Shown>,
}

impl Digest {
    pub fn add(&mut self, record: &Record) {
        let best = record
            .top
            .first()
            .map_or_else(|| record.genre.clone(), |r| r.name.clone());
        let label = if record.genre == UNCERTAIN {
            UNCERTAIN.to_string()
        } else {
            best.clone()
        };
        let entry = self.genres.entry(label).or_default();
        entry.0 += 1;
        entry.1 += f64::from(record.probability);
        let shown = Shown {
            path: record.path.clone(),
            genre: best,
            probability: record.probability,
        };
        keep(&mut self.most, shown.clone(), |a, b| {
            b.probability.total_cmp(&a.probability)
        });
        keep(&mut self.least, shown, |a, b| {
            a.probability.total_cmp(&b.probability)
        });
    }

    /// The most certain covers, most certain first.
    pub fn most_certain(&self) -> &[Shown] {
        &self.most
    }

    /// The least certain covers, least certain first.
    pub fn least_certain(&self) -> &[Shown] {
        &self.least
    }

    /// The account: `written` names each output (`("full results", path)`), `cwd` is the folder
    /// paths are shown relative to.
    pub fn render(&self, summary: &Summary, written: &[(&str, &Path)], cwd: &Path) -> String {
        let mut text = String::new();
        let total: usize = self.genres.values().map(|(n, _)| n).sum();
        writeln!(
            text,
            "{} cover(s) classified in {:.1} s ({:.1} covers/s), {} could not be read{}.",
            summary.classified,
            summary.seconds,
            summary.images_per_second,
            summary.failed,
            if summary.stopped_early {
                " (stopped at the first: --strict)"
            } else {
                ""
            }
        )
        .ok();
        if total > 0 {
            let mut rows: Vec<(&String, &(usize, f64))> = self.genres.iter().collect();
            rows.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
            let width = rows
                .iter()
                .map(|(g, _)| g.chars().count())
                .max()
                .unwrap_or(5)
                .max(5);
            writeln!(
                text,
                "\n{:<width$}  {:>6}  {:>6}  mean probability",
                "genre", "covers", "share"
            )
            .ok();
            for (genre, (n, sum)) in rows {
                writeln!(
                    text,
                    "{genre:<width$}  {n:>6}  {:>5.1}%  {:.2}",
                    100.0 * *n as f64 / total as f64,
                    sum / *n as f64
                )
                .ok();
            }
            self.write_list(&mut text, "most", &self.most, cwd);
            self.write_list(&mut text, "least", &self.least, cwd);
        }
        writeln!(text).ok();
        let width = written
            .iter()
            .map(|(what, _)| what.len())
            .max()
            .unwrap_or(0)
            + 1;
        for (what, path) in written {
            writeln!(
                text,
                "{:<width$} {}",
                format!("{what}:"),
                shown_path(path, cwd)
            )
            .ok();
        }
        text
    }

    fn write_list(&self, text: &mut String, which: &str, covers: &[Shown], cwd: &Path) {
        writeln!(text, "\nthe {} {which} certain:", covers.len()).ok();
        let width = covers
            .iter()
            .map(|c| c.genre.chars().count())
            .max()
            .unwrap_or(0);
        for cover in covers {
            writeln!(
                text,
                "  {:.3}  {:<width$}  {}",
                cover.probability,
                cover.genre,
                shown_path(Path::new(&cover.path), cwd)
            )
            .ok();
        }
    }
}

/// Inserts `item` into `list` (sorted by `order`), keeping the first [`EXTREMES`].
fn keep(list: &mut Vec<Shown>, item: Shown, order: impl Fn(&Shown, &Shown) -> std::cmp::Ordering) {
    if list.len() == EXTREMES && order(&item, &list[EXTREMES - 1]).is_ge() {
        return;
    }
    let at = list.partition_point(|kept| order(kept, &item).is_le());
    list.insert(at, item);
    list.truncate(EXTREMES);
}

/// `path` made absolute against `cwd`, with `.` dropped and each `..` taking away the part
/// before it (on the written path, not through symlinks: this is for showing).
pub fn normalised(path: &Path, cwd: &Path) -> PathBuf {
    let mut clean = PathBuf::new();
    for part in cwd.join(path).components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                if !clean.pop() {
                    clean.push(part);
                }
            }
            other => clean.push(other),
        }
    }
    clean
}

/// `path` as the account shows it: [`normalised`], then relative to `cwd` where that is
/// shorter (`covers/a.jpg` under it, `../shared/b.jpg` beside it), else absolute.
pub fn shown_path(path: &Path, cwd: &Path) -> String {
    let absolute = normalised(path, cwd);
    let cwd = normalised(cwd, Path::new("/"));
    let common = absolute
        .components()
        .zip(cwd.components())
        .take_while(|(a, b)| a == b)
        .count();
    let mut relative = PathBuf::new();
    for _ in common..cwd.components().count() {
        relative.push("..");
    }
    relative.extend(absolute.components().skip(common));
    let (relative, absolute) = (
        relative.display().to_string(),
        absolute.display().to_string(),
    );
    if !relative.is_empty() && relative.len() < absolute.len() {
        relative
    } else {
        absolute
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::classify::Ranked;

    fn record(path: &str, genre: &str, probability: f32) -> Record {
        Record {
            path: path.into(),
            genre: genre.into(),
            probability,
            top: vec![Ranked::from_slug("metal".into(), probability)],
            cover: None,
            artist: None,
        }
    }

    #[test]
    fn paths_are_shown_clean_and_short() {
        let cwd = Path::new("/home/me/covergenre");
        assert_eq!(shown_path(Path::new("covers/./a.jpg"), cwd), "covers/a.jpg");
        assert_eq!(
            shown_path(Path::new("/home/me/covergenre/../shared/data/b.jpg"), cwd),
            "../shared/data/b.jpg"
        );
        assert_eq!(
            shown_path(Path::new("/srv/covers/c.jpg"), cwd),
            "/srv/covers/c.jpg"
        );
        assert_eq!(shown_path(Path::new("x/../../y.jpg"), cwd), "../y.jpg");
        assert!(!shown_path(Path::new("a/b/../../../covergenre/z.jpg"), cwd).contains(".."));
    }

    #[test]
    fn keeps_only_the_extremes_in_order() {
        let mut digest = Digest::default();
        for i in 0..25 {
            // Probabilities in a scrambled order.
            let p = ((i * 7) % 25) as f32 / 25.0;
            digest.add(&record(&format!("{i}.jpg"), "metal", p));
        }
        let most: Vec<f32> = digest
            .most_certain()
            .iter()
            .map(|s| s.probability)
            .collect();
        let least: Vec<f32> = digest
            .least_certain()
            .iter()
            .map(|s| s.probability)
            .collect();
        assert_eq!(most.len(), EXTREMES);
        assert_eq!(most[0], 24.0 / 25.0);
        assert!(most.windows(2).all(|w| w[0] >= w[1]));
        assert_eq!(least[0], 0.0);
        assert_eq!(least[EXTREMES - 1], 9.0 / 25.0);
        assert!(least.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn uncertain_covers_count_apart_but_show_their_best_guess() {
        let mut digest = Digest::default();
        digest.add(&record("a.jpg", "metal", 0.9));
        digest.add(&record("b.jpg", UNCERTAIN, 0.2));
        let summary = Summary {
            classified: 2,
            seconds: 1.0,
            images_per_second: 2.0,
            ..Summary::default()
        };
        let text = digest.render(
            &summary,
            &[("full results", Path::new("out/x.csv"))],
            Path::new("/w"),
        );
        assert!(text.starts_with("2 cover(s) classified in 1.0 s"), "{text}");
        assert!(
            text.contains("\nMetal           1   50.0%  0.90\n"),
            "{text}"
        );
        assert!(
            text.contains("\nuncertain       1   50.0%  0.20\n"),
            "{text}"
        );
        assert!(text.contains("  0.200  Metal  b.jpg\n"), "{text}");
        assert!(text.ends_with("full results: out/x.csv\n"), "{text}");
    }
}
