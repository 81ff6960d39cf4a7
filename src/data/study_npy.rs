//! The study's layout: `<root>/<split>/images/*.jpg` with the labels in
//! `<root>/<split>/genres/y_<split>.npy` (integer ids or one-hot rows, in file-name order,
//! indexing the 12 MUMU genres). Found by [`super::discover`].

use super::listing::{note_file, sorted_entries, Found};
use super::{Layout, Sample, Split};
use crate::failure::Failure;
use crate::files::{file_name, is_hidden};
use crate::genres::GenreSet;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub(super) fn read_study_npy(split_dirs: &[(Split, PathBuf)]) -> Result<Found> {
    let genres = GenreSet::mumu();
    let mut found = Found {
        layout: Layout::StudyNpy,
        genres,
        splits: BTreeMap::new(),
        skipped: Vec::new(),
    };
    for (split, dir) in split_dirs {
        let samples = read_study_split(dir, found.genres.len(), &mut found.skipped)?;
        found.splits.insert(*split, samples);
    }
    Ok(found)
}

/// `<dir>/images/*` in file-name order, labelled by `<dir>/genres/y_<dir name>.npy`.
fn read_study_split(
    dir: &Path,
    genre_count: usize,
    skipped: &mut Vec<Failure>,
) -> Result<Vec<Sample>> {
    let images_dir = dir.join("images");
    let labels_path = dir.join("genres").join(format!("y_{}.npy", file_name(dir)));
    let mut images = Vec::new();
    for path in sorted_entries(&images_dir)? {
        if is_hidden(&path) || path.is_dir() {
            continue;
        }
        note_file(path, &mut images, skipped);
    }
    if !labels_path.is_file() {
        bail!(
            "{}: missing; it should hold the genre of each of the {} images in {}",
            labels_path.display(),
            images.len(),
            images_dir.display()
        );
    }
    let labels = read_npy_labels(&labels_path, genre_count)?;
    if labels.len() != images.len() {
        bail!(
            "{} has {} labels but {} has {} images; they must match one to one in file-name order",
            labels_path.display(),
            labels.len(),
            images_dir.display(),
            images.len()
        );
    }
    Ok(images
        .into_iter()
        .zip(labels)
        .map(|(path, label)| Sample { path, label })
        .collect())
}

/// Labels from an npy file: shape `[N]` of integer ids, or `[N, genre_count]` one-hot rows
/// (any integer or float dtype, C or Fortran order).
pub fn read_npy_labels(path: &Path, genre_count: usize) -> Result<Vec<usize>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    check_npy_header_length(&file)
        .with_context(|| format!("{}: not a valid .npy file", path.display()))?;
    let npy = npyz::NpyFile::new(std::io::BufReader::new(file))
        .with_context(|| format!("{}: not a valid .npy file", path.display()))?;
    let shape = npy.shape().to_vec();
    let fortran = npy.order() == npyz::Order::Fortran;
    let values =
        read_npy_as_f64(npy).with_context(|| format!("{}: cannot read values", path.display()))?;
    match shape.as_slice() {
        [_] => ids_to_labels(&values, genre_count),
        [rows, cols] if *cols as usize == genre_count => {
            one_hot_to_labels(&values, *rows as usize, genre_count, fortran)
        }
        _ => bail!("shape {shape:?}: expected [N] genre ids or [N, {genre_count}] one-hot rows"),
    }
    .with_context(|| format!("{}: bad labels", path.display()))
}

/// Refuses a header length longer than the file: npyz allocates the length it reads before
/// reading the header, so 12 bytes declaring a 2 GB header would allocate 2 GB (found by
/// fuzzing, fuzz/ `npy_labels`).
/// Leaves the file at its start.
fn check_npy_header_length(mut file: &std::fs::File) -> Result<()> {
    use std::io::{Read, Seek};
    let file_len = file.metadata()?.len();
    let mut prefix = Vec::with_capacity(12);
    file.take(12).read_to_end(&mut prefix)?;
    file.rewind()?;
    let (declared, starts_at) = match prefix.as_slice() {
        [0x93, b'N', b'U', b'M', b'P', b'Y', 1, _, a, b, ..] => {
            (u16::from_le_bytes([*a, *b]) as u64, 10)
        }
        [0x93, b'N', b'U', b'M', b'P', b'Y', _, _, a, b, c, d] => {
            (u32::from_le_bytes([*a, *b, *c, *d]) as u64, 12)
        }
        _ => return Ok(()), // npyz gives the precise error
    };
    if declared > file_len {
        bail!("the header says it is {declared} bytes long but the file has {file_len} bytes");
    }
    // npyz parses the header text recursively and slowly on deep nesting (fuzzing: 40 levels
    // took 14 s); a real header nests a few levels (dict, shape tuple, structured dtypes).
    let mut header = Vec::new();
    file.seek(std::io::SeekFrom::Start(starts_at))?;
    file.take(declared).read_to_end(&mut header)?;
    file.rewind()?;
    let depth = bracket_depth(&header);
    if depth > MAX_NPY_HEADER_NESTING {
        bail!(
            "the header nests brackets {depth} levels deep (at most {MAX_NPY_HEADER_NESTING} expected)"
        );
    }
    Ok(())
}

/// How deeply a real `.npy` header may nest `{`, `[` and `(`.
const MAX_NPY_HEADER_NESTING: usize = 16;

/// The deepest nesting of `{`, `[` and `(` in `text`.
fn bracket_depth(text: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    for byte in text {
        match byte {
            b'{' | b'[' | b'(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Every numeric dtype as f64 (exact for any genre id or 0/1 value).
fn read_npy_as_f64<R: std::io::Read>(npy: npyz::NpyFile<R>) -> Result<Vec<f64>> {
    use npyz::TypeChar::{Float, Int, Uint};
    let npyz::DType::Plain(type_str) = npy.dtype() else {
        bail!("structured dtype; expected plain integers or floats");
    };
    let values = match (type_str.type_char(), type_str.size_field()) {
        (Int, 1) => convert(npy.into_vec::<i8>()?),
        (Int, 2) => convert(npy.into_vec::<i16>()?),
        (Int, 4) => convert(npy.into_vec::<i32>()?),
        (Int, 8) => npy
            .into_vec::<i64>()?
            .into_iter()
            .map(|v| v as f64)
            .collect(),
        (Uint, 1) => convert(npy.into_vec::<u8>()?),
        (Uint, 2) => convert(npy.into_vec::<u16>()?),
        (Uint, 4) => convert(npy.into_vec::<u32>()?),
        (Uint, 8) => npy
            .into_vec::<u64>()?
            .into_iter()
            .map(|v| v as f64)
            .collect(),
        (Float, 4) => convert(npy.into_vec::<f32>()?),
        (Float, 8) => npy.into_vec::<f64>()?,
        _ => bail!("dtype {type_str}: expected integers or floats"),
    };
    Ok(values)
}

fn convert<T: Into<f64>>(values: Vec<T>) -> Vec<f64> {
    values.into_iter().map(Into::into).collect()
}

fn ids_to_labels(values: &[f64], genre_count: usize) -> Result<Vec<usize>> {
    values
        .iter()
        .enumerate()
        .map(|(row, &v)| {
            if v.fract() != 0.0 || v < 0.0 || v >= genre_count as f64 {
                bail!("row {row}: {v} is not a genre id in 0..{genre_count}");
            }
            Ok(v as usize)
        })
        .collect()
}

fn one_hot_to_labels(
    values: &[f64],
    rows: usize,
    cols: usize,
    fortran: bool,
) -> Result<Vec<usize>> {
    let at = |r: usize, c: usize| {
        if fortran {
            values[c * rows + r]
        } else {
            values[r * cols + c]
        }
    };
    (0..rows)
        .map(|r| {
            let hot: Vec<usize> = (0..cols).filter(|&c| at(r, c) > 0.5).collect();
            match hot.as_slice() {
                [label] => Ok(*label),
                [] => bail!("row {r} has no genre set"),
                _ => bail!(
                    "row {r} has {} genres set; expected one-hot rows",
                    hot.len()
                ),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hot_rows_read_in_both_orders() {
        // Two rows, three genres: row 0 is genre 2, row 1 is genre 0.
        let c_order = [0.0, 0.0, 1.0, 1.0, 0.0, 0.0];
        let fortran = [0.0, 1.0, 0.0, 0.0, 1.0, 0.0];
        assert_eq!(one_hot_to_labels(&c_order, 2, 3, false).unwrap(), [2, 0]);
        assert_eq!(one_hot_to_labels(&fortran, 2, 3, true).unwrap(), [2, 0]);
        assert!(one_hot_to_labels(&[0.0; 3], 1, 3, false).is_err());
        assert!(one_hot_to_labels(&[1.0, 1.0, 0.0], 1, 3, false).is_err());
    }

    #[test]
    fn ids_must_be_whole_numbers_in_range() {
        assert_eq!(ids_to_labels(&[0.0, 11.0], 12).unwrap(), [0, 11]);
        assert!(ids_to_labels(&[12.0], 12).is_err());
        assert!(ids_to_labels(&[-1.0], 12).is_err());
        assert!(ids_to_labels(&[1.5], 12).is_err());
    }
}
