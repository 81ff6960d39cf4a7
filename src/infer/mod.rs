//! onnxruntime inference: finding the runtime library, opening exported models (with their
//! metadata), and running batches of resized images through them. [`pipeline`] is the
//! streaming decode -> batch -> predict engine shared by `covergenre-classify` and `covergenre-eval`;
//! [`features`] runs the first layers of a network (a frozen backbone, for the trainer's cache).
//!
//! ort is built with `load-dynamic`: every ort call panics until the library is loaded, so
//! everything here goes through [`init_runtime`] first and turns a missing library into an error.

pub mod features;
pub mod memory;
pub mod pipeline;

use crate::genres::GenreSet;
use crate::metadata::{ModelMetadata, INPUT_NAME, LOGITS_NAME, PROBABILITIES_NAME};
use crate::preprocess::Preprocess;
use anyhow::{bail, ensure, Context, Result};
use ndarray::{Array2, ArrayView4, Ix2};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The model shipped with covergenre (models/covergenre.onnx), built into the library so every
/// binary works from any folder, also after `cargo install`.
static SHIPPED_MODEL: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/models/covergenre.onnx"
));

/// The shipped model's ONNX bytes (the base a library learns from unless `--base` names one).
pub fn shipped_model_bytes() -> &'static [u8] {
    SHIPPED_MODEL
}

/// What messages call the shipped model.
pub const SHIPPED_MODEL_NAME: &str = "the built-in model";

/// File name of the onnxruntime library covergenre is built against.
pub const ORT_LIBRARY: &str = "libonnxruntime.so.1.31.1";

/// Outcome of the one attempt to load the runtime (the error is kept as text so every caller
/// gets the same message).
static RUNTIME: OnceLock<std::result::Result<ort::environment::Environment, String>> =
    OnceLock::new();

/// Loads onnxruntime once per process. Looks in `$ORT_DYLIB_PATH`, then beside the executable,
/// then where scripts/setup.sh installed it at build time. Never panics; safe to call often.
pub fn init_runtime() -> Result<()> {
    environment().map(|_| ())
}

fn environment() -> Result<&'static ort::environment::Environment> {
    match RUNTIME.get_or_init(load_runtime) {
        Ok(environment) => Ok(environment),
        Err(message) => bail!("{message}"),
    }
}

/// Where [`init_runtime`] looks, in order.
pub fn runtime_candidates() -> Vec<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        candidates.push(PathBuf::from(path));
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
    {
        candidates.push(dir.join(ORT_LIBRARY));
    }
    candidates.push(PathBuf::from(env!("COVERGENRE_ORT_DEFAULT")));
    candidates
}

fn load_runtime() -> std::result::Result<ort::environment::Environment, String> {
    // An explicit override that points nowhere is a mistake to report, not to route around.
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        if !Path::new(&path).is_file() {
            return Err(format!(
                "ORT_DYLIB_PATH is set to {}, which is not a file: point it at libonnxruntime.so.1.31.1, \
                 or unset it to use the library installed by scripts/setup.sh",
                Path::new(&path).display()
            ));
        }
    }
    let candidates = runtime_candidates();
    let Some(found) = candidates.iter().find(|p| p.is_file()) else {
        let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
        return Err(format!(
            "onnxruntime library not found (looked in {}): run `{}/scripts/setup.sh --classify` \
             (then this binary finds it; no rebuild needed), or set ORT_DYLIB_PATH",
            looked.join(", "),
            env!("CARGO_MANIFEST_DIR")
        ));
    };
    let cannot = |e: &dyn std::fmt::Display| {
        format!("cannot load onnxruntime from {}: {e}", found.display())
    };
    ort::init_from(found)
        .map_err(|e| cannot(&e))?
        .with_name("covergenre")
        .with_telemetry(false)
        .build()
        .map_err(|e| cannot(&e))
}

/// Probabilities and logits of a batch: one row per image, one column per genre in model
/// output order (`n x classes`).
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    pub probabilities: Array2<f32>,
    pub logits: Array2<f32>,
}

impl Predictions {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.probabilities.nrows()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of genres (columns).
    pub fn classes(&self) -> usize {
        self.probabilities.ncols()
    }
}

/// An exported covergenre model, opened in onnxruntime, with its metadata.
pub struct Model {
    session: ort::session::Session,
    metadata: ModelMetadata,
    name: String,
    /// Size of the ONNX file: the weights' share of the memory a run takes.
    bytes: u64,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("name", &self.name)
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}

impl Model {
    /// Opens a model file; `threads` is onnxruntime's intra-op thread count (0 = its default).
    /// Refuses models without covergenre metadata; every error names the file.
    pub fn open(path: &Path, threads: usize) -> Result<Model> {
        init_runtime()?;
        let name = path.display().to_string();
        ensure!(path.is_file(), "model {name}: no such file");
        let bytes = std::fs::metadata(path)
            .with_context(|| format!("cannot open model {name}"))?
            .len();
        let session = session_builder(threads)
            .and_then(|mut builder| {
                builder
                    .commit_from_file(path)
                    .map_err(|e| anyhow::anyhow!("{e}"))
            })
            .with_context(|| format!("cannot open model {name}"))?;
        Self::from_session(session, name, bytes)
    }

    /// Opens a model from its bytes; `name` is used in messages.
    pub fn from_bytes(bytes: &[u8], threads: usize, name: &str) -> Result<Model> {
        init_runtime()?;
        let session = session_builder(threads)
            .and_then(|mut builder| {
                builder
                    .commit_from_memory(bytes)
                    .map_err(|e| anyhow::anyhow!("{e}"))
            })
            .with_context(|| format!("cannot open model {name}"))?;
        Self::from_session(session, name.to_string(), bytes.len() as u64)
    }

    /// Opens the model built into covergenre (see [`SHIPPED_MODEL_NAME`]).
    pub fn shipped(threads: usize) -> Result<Model> {
        Self::from_bytes(SHIPPED_MODEL, threads, SHIPPED_MODEL_NAME)
    }

    fn from_session(session: ort::session::Session, name: String, bytes: u64) -> Result<Model> {
        let metadata =
            read_metadata(&session).with_context(|| format!("model {name} cannot be used"))?;
        check_signature(&session).with_context(|| format!("model {name} cannot be used"))?;
        Ok(Model {
            session,
            metadata,
            name,
            bytes,
        })
    }

    /// How much memory running this model takes at a batch size ([`memory`]); `views` is 2
    /// with test-time augmentation.
    pub fn memory_estimate(&self, views: u64) -> memory::MemoryEstimate {
        let image_bytes = self.preprocess().image_len() as u64;
        memory::MemoryEstimate::for_model(self.bytes, image_bytes, views)
    }

    pub fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    pub fn genres(&self) -> &GenreSet {
        &self.metadata.genres
    }

    pub fn preprocess(&self) -> &Preprocess {
        &self.metadata.preprocess
    }

    /// The file name (or the name given to [`Model::from_bytes`]).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `n` images, each `height x width x 3` u8 RGB as [`Model::preprocess`] describes,
    /// laid end to end in `images`: [`Model::predict_images`] on a view of the bytes (no copy).
    pub fn predict(&mut self, images: &[u8], n: usize) -> Result<Predictions> {
        let (h, w) = self.input_size();
        ensure!(
            images.len() == n * h * w * 3,
            "model {}: expected {n} images of {h}x{w}x3 bytes ({} in all), got {} bytes",
            self.name,
            n * h * w * 3,
            images.len()
        );
        let batch = ArrayView4::from_shape((n, h, w, 3), images)?;
        self.predict_images(batch)
    }

    /// Runs a batch of images, `n x height x width x 3` u8 RGB (NHWC, the model's input) as
    /// [`Model::preprocess`] describes. Any memory layout is accepted (a standard-layout batch
    /// goes to onnxruntime without a copy).
    pub fn predict_images(&mut self, images: ArrayView4<u8>) -> Result<Predictions> {
        let classes = self.metadata.genres.len();
        let (h, w) = self.input_size();
        let (n, image_h, image_w, channels) = images.dim();
        ensure!(
            (image_h, image_w, channels) == (h, w, 3),
            "model {}: expected images of {h}x{w}x3, got {image_h}x{image_w}x{channels}",
            self.name
        );
        if n == 0 {
            return Ok(Predictions {
                probabilities: Array2::zeros((0, classes)),
                logits: Array2::zeros((0, classes)),
            });
        }
        let mut run = || -> Result<Predictions> {
            let contiguous = images.as_standard_layout();
            let input = ort::value::TensorRef::from_array_view(&contiguous)?;
            let outputs = self.session.run(ort::inputs![INPUT_NAME => input])?;
            let extract = |name: &str| -> Result<Array2<f32>> {
                let values = outputs[name].try_extract_array::<f32>()?;
                ensure!(
                    values.shape() == [n, classes],
                    "output '{name}' has shape {:?}, expected [{n}, {classes}] (one column per genre in the metadata)",
                    values.shape()
                );
                Ok(values.into_dimensionality::<Ix2>()?.to_owned())
            };
            Ok(Predictions {
                probabilities: extract(PROBABILITIES_NAME)?,
                logits: extract(LOGITS_NAME)?,
            })
        };
        run().with_context(|| format!("model {}: inference failed", self.name))
    }

    /// The model's input height and width in pixels.
    fn input_size(&self) -> (usize, usize) {
        let preprocess = &self.metadata.preprocess;
        (preprocess.height as usize, preprocess.width as usize)
    }
}

pub(crate) fn session_builder(threads: usize) -> Result<ort::session::builder::SessionBuilder> {
    let builder =
        ort::session::Session::builder(environment()?).map_err(|e| anyhow::anyhow!("{e}"))?;
    // The pipeline's decode workers share the cores with these threads: idle intra-op threads
    // that spin waiting for work take CPU the decoders need (measured in benches/README.md).
    let builder = builder
        .with_intra_op_spinning(false)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // The CPU arena, memory patterns and prepacking stay on: turning each off left the peak
    // where it was (388 MB at batch 8, 954 MB at batch 32 with the shipped model), since the
    // activations alive at once are the same either way. The batch size bounds memory
    // instead (see [`memory`]).
    if threads == 0 {
        return Ok(builder);
    }
    builder
        .with_intra_threads(threads)
        .map_err(|e| anyhow::anyhow!("{e}"))
}

fn read_metadata(session: &ort::session::Session) -> Result<ModelMetadata> {
    let metadata = session.metadata()?;
    let props: BTreeMap<String, String> = metadata
        .custom_keys()?
        .into_iter()
        .filter_map(|key| metadata.custom(&key).map(|value| (key, value)))
        .collect();
    Ok(ModelMetadata::from_props(&props)?)
}

/// The model must take `image` and give `probabilities` and `logits`.
fn check_signature(session: &ort::session::Session) -> Result<()> {
    let inputs: Vec<&str> = session.inputs().iter().map(|o| o.name()).collect();
    let outputs: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
    ensure!(
        inputs == [INPUT_NAME],
        "expected one input named '{INPUT_NAME}', found {inputs:?}"
    );
    for name in [PROBABILITIES_NAME, LOGITS_NAME] {
        ensure!(
            outputs.contains(&name),
            "expected an output named '{name}', found {outputs:?}"
        );
    }
    Ok(())
}
