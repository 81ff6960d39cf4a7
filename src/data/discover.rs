//! Finds a labelled dataset on disk, in any of five layouts, tried in this order:
//!
//! 1. the study's layout: `<root>/<split>/images/*.jpg` + `<root>/<split>/genres/y_<split>.npy`
//!    (integer ids or one-hot rows, in file-name order, indexing the 12 MUMU genres);
//! 2. split folders: `<root>/train/<genre>/*`, optionally with `dev/` (or `val/`) and `test/`;
//! 3. a CSV manifest with `path,genre` (and optionally `split`) columns: `root` is the CSV file,
//!    or a folder holding `manifest.csv`. Split folders win over a manifest beside them;
//! 4. a music library: a folder with audio files under it ([`super::library`]: one cover per
//!    album, labelled by its tracks' genre field);
//! 5. genre folders: `<root>/<genre>/*`.
//!
//! Discovery only lists files: decoding problems are found when the images are loaded. Splits
//! missing on disk are made by a seeded stratified split of the training covers.

use super::library::{discover_library, is_music_library, LibraryOptions};
use super::split::{stratified_holdout, stratified_split};
use super::{Dataset, Layout, Sample, Split};
use crate::failure::Failure;
use crate::files::{file_name, has_extension, is_hidden, is_image_file_name};
use crate::genres::GenreSet;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How to make the splits a dataset does not have on disk, and how to read a music library.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoverOptions {
    pub seed: u64,
    /// Share of each genre held out as dev when there is no dev split on disk.
    pub dev_fraction: f64,
    /// Share of each genre held out as test when there is no test split on disk.
    pub test_fraction: f64,
    /// Where a music library's labels come from (field, genre map, minimum albums).
    pub library: LibraryOptions,
}

impl Default for DiscoverOptions {
    fn default() -> Self {
        Self {
            seed: 42,
            dev_fraction: 0.1,
            test_fraction: 0.1,
            library: LibraryOptions::default(),
        }
    }
}

/// Folder names read as splits, in the order they are looked for.
const SPLIT_DIRS: [(&str, Split); 5] = [
    ("train", Split::Train),
    ("dev", Split::Dev),
    ("val", Split::Dev),
    ("validation", Split::Dev),
    ("test", Split::Test),
];

/// The layout found at `root` and the samples in it, before missing splits are made.
struct Found {
    layout: Layout,
    genres: GenreSet,
    splits: BTreeMap<Split, Vec<Sample>>,
    skipped: Vec<Failure>,
}

/// Finds the dataset at `root` (a folder, or a CSV manifest). Errors name `root` or the file
/// at fault and say what is wrong.
pub fn discover(root: &Path, options: &DiscoverOptions) -> Result<Dataset> {
    if is_library_root(root) {
        return discover_library(root, &options.library, options.seed);
    }
    let found = find(root)?;
    let total: usize = found.splits.values().map(Vec::len).sum();
    if total == 0 {
        let hint = match found.layout {
            Layout::GenreFolders => {
                " (and no audio files: a music library is a folder of album folders holding \
                 mp3, flac, m4a, ogg, opus, aiff, wav, ape, wv or mpc tracks)"
            }
            _ => "",
        };
        bail!(
            "{}: found a {} layout but no covers in it{hint}",
            root.display(),
            layout_name(found.layout)
        );
    }
    let (splits, generated_splits) = fill_missing_splits(found.splits, options);
    Ok(Dataset {
        root: root.to_path_buf(),
        layout: found.layout,
        genres: found.genres,
        splits,
        generated_splits,
        skipped: found.skipped,
        library: None,
    })
}

/// A folder of audio files without an image dataset's split folders or manifest is a music
/// library (genre folders of images hold no audio).
pub fn is_library_root(root: &Path) -> bool {
    root.is_dir()
        && split_dirs(root).is_ok_and(|dirs| dirs.is_empty())
        && !root.join("manifest.csv").is_file()
        && is_music_library(root)
}

/// The layout's name as the JSON report spells it.
pub fn layout_name(layout: Layout) -> &'static str {
    match layout {
        Layout::GenreFolders => "genre-folders",
        Layout::SplitFolders => "split-folders",
        Layout::StudyNpy => "study-npy",
        Layout::CsvManifest => "csv-manifest",
        Layout::MusicLibrary => "music-library",
    }
}

fn find(root: &Path) -> Result<Found> {
    let meta = std::fs::metadata(root)
        .with_context(|| format!("{}: cannot open the dataset", root.display()))?;
    if meta.is_file() {
        if has_extension(root, &["csv"]) {
            return read_csv_manifest(root);
        }
        bail!(
            "{}: is a file but not a CSV manifest; give a dataset folder or a .csv with path,genre columns",
            root.display()
        );
    }
    let split_dirs = split_dirs(root)?;
    let study: Vec<(Split, PathBuf)> = split_dirs
        .iter()
        .filter(|(_, dir)| dir.join("images").is_dir() && dir.join("genres").is_dir())
        .cloned()
        .collect();
    if !study.is_empty() {
        return read_study_npy(&study);
    }
    // A lone train/ is still a split layout (dev and test get generated), not a genre "train".
    if split_dirs.iter().any(|(s, _)| *s == Split::Train) {
        return read_split_folders(root, &split_dirs);
    }
    let manifest = root.join("manifest.csv");
    if manifest.is_file() {
        return read_csv_manifest(&manifest);
    }
    read_genre_folders(root)
}

/// The split folders present at `root`; both `dev/` and `val/` is ambiguous and an error.
fn split_dirs(root: &Path) -> Result<Vec<(Split, PathBuf)>> {
    let mut found: Vec<(Split, PathBuf)> = Vec::new();
    for (name, split) in SPLIT_DIRS {
        let dir = root.join(name);
        if !dir.is_dir() {
            continue;
        }
        if let Some((_, other)) = found.iter().find(|(s, _)| *s == split) {
            bail!(
                "{}: both {} and {} exist; keep one of them as the dev split",
                root.display(),
                other.display(),
                dir.display()
            );
        }
        found.push((split, dir));
    }
    Ok(found)
}

// ---- genre folders and split folders ----

/// Image files per genre folder name, plus what was passed over.
#[derive(Default)]
struct GenreListing {
    by_genre: BTreeMap<String, Vec<PathBuf>>,
    skipped: Vec<Failure>,
}

fn read_genre_folders(root: &Path) -> Result<Found> {
    let listing = list_genre_folders(root)?;
    if listing.by_genre.is_empty() {
        bail!(
            "{}: no dataset found: expected genre folders (<genre>/*.jpg), split folders \
             (train/ with dev/ or test/), the study layout (<split>/images + <split>/genres), \
             a manifest.csv, or a music library (album folders of audio files)",
            root.display()
        );
    }
    let genres = GenreSet::from_folder_names(listing.by_genre.keys().cloned()).widened_to_mumu();
    let samples = label_listing(&listing.by_genre, &genres);
    Ok(Found {
        layout: Layout::GenreFolders,
        genres,
        splits: BTreeMap::from([(Split::Train, samples)]),
        skipped: listing.skipped,
    })
}

fn read_split_folders(root: &Path, split_dirs: &[(Split, PathBuf)]) -> Result<Found> {
    let mut listings = Vec::new();
    for (split, dir) in split_dirs {
        listings.push((*split, list_genre_folders(dir)?));
    }
    let names = listings
        .iter()
        .flat_map(|(_, l)| l.by_genre.keys().cloned())
        .collect::<Vec<_>>();
    if names.is_empty() {
        bail!(
            "{}: split folders found but no genre folders inside them",
            root.display()
        );
    }
    let genres = GenreSet::from_folder_names(names).widened_to_mumu();
    let mut found = Found {
        layout: Layout::SplitFolders,
        genres,
        splits: BTreeMap::new(),
        skipped: Vec::new(),
    };
    for (split, listing) in listings {
        found
            .splits
            .insert(split, label_listing(&listing.by_genre, &found.genres));
        found.skipped.extend(listing.skipped);
    }
    Ok(found)
}

/// Samples for each genre folder, labelled by their folder's index in `genres`.
fn label_listing(by_genre: &BTreeMap<String, Vec<PathBuf>>, genres: &GenreSet) -> Vec<Sample> {
    let slugs = genres.slugs();
    by_genre
        .iter()
        .filter_map(|(name, paths)| {
            let label = slugs
                .iter()
                .position(|s| s == name)
                .or_else(|| genres.index_of(name))?;
            Some(paths.iter().map(move |path| Sample {
                path: path.clone(),
                label,
            }))
        })
        .flatten()
        .collect()
}

/// Each non-hidden subfolder of `dir` is a genre; its images (at any depth) are its covers.
fn list_genre_folders(dir: &Path) -> Result<GenreListing> {
    let mut listing = GenreListing::default();
    for path in sorted_entries(dir)? {
        if is_hidden(&path) {
            continue;
        }
        if path.is_dir() {
            let genre = file_name(&path);
            let images = list_images_under(&path, &mut listing.skipped);
            listing.by_genre.insert(genre, images);
        } else if is_image_file_name(&path) {
            listing.skipped.push(Failure {
                path,
                reason: "image outside any genre folder (genre unknown)".into(),
            });
        }
    }
    Ok(listing)
}

/// Image files under `dir`, sorted by path; other data files are recorded as skipped.
fn list_images_under(dir: &Path, skipped: &mut Vec<Failure>) -> Vec<PathBuf> {
    let mut images = Vec::new();
    let walk = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| !is_hidden(e.path()));
    for entry in walk {
        match entry {
            Ok(entry) if entry.file_type().is_dir() => {}
            Ok(entry) => note_file(entry.into_path(), &mut images, skipped),
            Err(error) => skipped.push(Failure {
                path: error.path().unwrap_or(dir).to_path_buf(),
                reason: walk_error_reason(&error),
            }),
        }
    }
    images
}

fn note_file(path: PathBuf, images: &mut Vec<PathBuf>, skipped: &mut Vec<Failure>) {
    if is_image_file_name(&path) {
        images.push(path);
    } else if looks_like_data(&path) {
        skipped.push(Failure {
            path,
            reason: "not an image file extension".into(),
        });
    }
}

fn walk_error_reason(error: &walkdir::Error) -> String {
    if error.loop_ancestor().is_some() {
        return "symbolic link loop".into();
    }
    match error.io_error().map(|e| e.kind()) {
        Some(std::io::ErrorKind::PermissionDenied) => "cannot read: permission denied".into(),
        Some(std::io::ErrorKind::NotFound) => "cannot read: broken link or vanished file".into(),
        _ => format!("cannot read: {error}"),
    }
}

// ---- the study's npy layout ----

fn read_study_npy(split_dirs: &[(Split, PathBuf)]) -> Result<Found> {
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

// ---- CSV manifest ----

/// Column positions in a manifest.
struct Columns {
    path: usize,
    genre: usize,
    split: Option<usize>,
}

/// One usable manifest row.
struct Row {
    path: PathBuf,
    genre: String,
    split: Split,
}

fn read_csv_manifest(csv_path: &Path) -> Result<Found> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(csv_path)
        .with_context(|| format!("{}: cannot open the manifest", csv_path.display()))?;
    let headers = reader
        .headers()
        .with_context(|| format!("{}: cannot read the header line", csv_path.display()))?
        .clone();
    let columns = find_columns(&headers)
        .with_context(|| format!("{}: not a covergenre manifest", csv_path.display()))?;
    let base = csv_path.parent().unwrap_or(Path::new("."));
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let line = index + 2; // 1-based, after the header
        match record {
            Ok(record) => match parse_row(&record, &columns, base) {
                Ok(row) => rows.push(row),
                Err((path, reason)) => skipped.push(Failure {
                    path: path.unwrap_or_else(|| csv_path.to_path_buf()),
                    reason: format!("{} line {line}: {reason}", file_name(csv_path)),
                }),
            },
            Err(error) => skipped.push(Failure {
                path: csv_path.to_path_buf(),
                reason: format!("line {line}: {error}"),
            }),
        }
    }
    let genres = manifest_genres(&rows);
    let mut splits: BTreeMap<Split, Vec<Sample>> = BTreeMap::new();
    for row in rows {
        if let Some(label) = genres.index_of(&row.genre) {
            splits.entry(row.split).or_default().push(Sample {
                path: row.path,
                label,
            });
        }
    }
    Ok(Found {
        layout: Layout::CsvManifest,
        genres,
        splits,
        skipped,
    })
}

fn find_columns(headers: &csv::StringRecord) -> Result<Columns> {
    let find = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    match (find("path"), find("genre")) {
        (Some(path), Some(genre)) => Ok(Columns {
            path,
            genre,
            split: find("split"),
        }),
        _ => bail!(
            "needs `path` and `genre` columns (optionally `split`); found: {}",
            headers.iter().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// A manifest row, or (the file it names, why it was passed over).
fn parse_row(
    record: &csv::StringRecord,
    columns: &Columns,
    base: &Path,
) -> std::result::Result<Row, (Option<PathBuf>, String)> {
    let field = |i: usize| record.get(i).unwrap_or("");
    let raw_path = field(columns.path);
    if raw_path.is_empty() {
        return Err((None, "empty path".into()));
    }
    let path = base.join(raw_path);
    let genre = field(columns.genre).to_string();
    if genre.is_empty() {
        return Err((Some(path), "no genre given".into()));
    }
    let split_name = columns.split.map(field).unwrap_or("");
    let split = parse_split(split_name).ok_or_else(|| {
        (
            Some(path.clone()),
            format!("unknown split '{split_name}' (expected train, dev, val or test)"),
        )
    })?;
    if !is_image_file_name(&path) {
        return Err((Some(path), "not an image file extension".into()));
    }
    if !path.exists() {
        return Err((Some(path), "listed in the manifest but not found".into()));
    }
    Ok(Row { path, genre, split })
}

/// An empty split cell means train: the covers that other splits are carved from.
fn parse_split(name: &str) -> Option<Split> {
    if name.is_empty() {
        return Some(Split::Train);
    }
    let lower = name.to_ascii_lowercase();
    SPLIT_DIRS
        .iter()
        .find(|(dir, _)| *dir == lower)
        .map(|(_, split)| *split)
}

/// MUMU when every genre name is a MUMU genre (by slug or display name), else the manifest's
/// own names, sorted.
fn manifest_genres(rows: &[Row]) -> GenreSet {
    let mumu = GenreSet::mumu();
    if rows.iter().all(|row| mumu.index_of(&row.genre).is_some()) {
        return mumu;
    }
    GenreSet::from_folder_names(rows.iter().map(|row| row.genre.clone()))
}

// ---- making missing splits ----

/// Carves missing dev/test splits out of train, stratified and seeded. Returns the splits
/// (all three present) and whether any was generated.
fn fill_missing_splits(
    mut splits: BTreeMap<Split, Vec<Sample>>,
    options: &DiscoverOptions,
) -> (BTreeMap<Split, Vec<Sample>>, bool) {
    let has =
        |splits: &BTreeMap<Split, Vec<Sample>>, s| splits.get(&s).is_some_and(|v| !v.is_empty());
    let (has_dev, has_test) = (has(&splits, Split::Dev), has(&splits, Split::Test));
    let train = splits.remove(&Split::Train).unwrap_or_default();
    let generated = !(has_dev && has_test);
    let seed = options.seed;
    match (has_dev, has_test) {
        (true, true) => {
            splits.insert(Split::Train, train);
        }
        (false, false) => {
            let (d, t) = (options.dev_fraction, options.test_fraction);
            let mut parts = stratified_split(train, &[1.0 - d - t, d, t], seed).into_iter();
            for split in Split::ALL {
                splits.insert(split, parts.next().unwrap_or_default());
            }
        }
        (false, true) => {
            let (kept, held) = stratified_holdout(&train, options.dev_fraction, seed);
            splits.insert(Split::Train, kept);
            splits.insert(Split::Dev, held);
        }
        (true, false) => {
            let (kept, held) = stratified_holdout(&train, options.test_fraction, seed);
            splits.insert(Split::Train, kept);
            splits.insert(Split::Test, held);
        }
    }
    (splits, generated)
}

// ---- file names ----

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut paths = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot list the folder", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect::<Vec<_>>();
    paths.sort();
    Ok(paths)
}

/// Operating-system litter and editor backups are not worth reporting; anything else in a
/// genre folder probably was meant to be a cover.
fn looks_like_data(path: &Path) -> bool {
    let name = file_name(path);
    let litter = ["thumbs.db", "desktop.ini", "icon\r"];
    !is_hidden(path) && !name.ends_with('~') && !litter.contains(&name.to_lowercase().as_str())
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

    #[test]
    fn split_names_include_val_and_default_to_train() {
        assert_eq!(parse_split("VAL"), Some(Split::Dev));
        assert_eq!(parse_split(""), Some(Split::Train));
        assert_eq!(parse_split("holdout"), None);
    }
}
