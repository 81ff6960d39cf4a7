//! Training settings: what was asked ([`TrainOptions`], filled from the command line by
//! [`crate::cli::train`]) and the validated [`TrainConfig`] recorded as `config.json` in the run
//! folder.

use super::build::Precision;
use crate::data::library::LibraryOptions;
use crate::spec::{self, Distill, ModelSpec};
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where tensors live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// CUDA when libtorch sees a GPU, else CPU.
    Auto,
    Cpu,
    Cuda,
}

impl DeviceChoice {
    pub fn resolve(self) -> Result<tch::Device> {
        Ok(match self {
            DeviceChoice::Auto => tch::Device::cuda_if_available(),
            DeviceChoice::Cpu => tch::Device::Cpu,
            DeviceChoice::Cuda if tch::Cuda::is_available() => tch::Device::Cuda(0),
            DeviceChoice::Cuda => {
                bail!("--device cuda: libtorch sees no CUDA device (this libtorch may be CPU-only)")
            }
        })
    }
}

/// Arithmetic of the training steps, as asked on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrecisionChoice {
    /// bf16 mixed precision on a CPU with native bfloat16 (AVX-512 BF16 or AMX), else fp32.
    Auto,
    /// float32 throughout.
    Fp32,
    /// bfloat16 convolutions and dense layers over float32 master weights (like autocast).
    Bf16,
}

impl PrecisionChoice {
    /// The precision to train in on `device`.
    pub fn resolve(self, device: tch::Device) -> Precision {
        match self {
            PrecisionChoice::Fp32 => Precision::Fp32,
            PrecisionChoice::Bf16 => Precision::Bf16,
            PrecisionChoice::Auto if device == tch::Device::Cpu && cpu_has_native_bf16() => {
                Precision::Bf16
            }
            // CUDA stays float32 by default: bf16 there is untested by this project.
            PrecisionChoice::Auto => Precision::Fp32,
        }
    }
}

/// Whether this CPU multiplies bfloat16 in hardware (AVX-512 BF16; every CPU with AMX has it
/// too); elsewhere oneDNN emulates bf16, slower than float32.
pub fn cpu_has_native_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The training settings asked for (`covergenre-train`'s flags), before validation.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Variant names, or `all`.
    pub variants: Vec<String>,
    /// The run folder (required to train).
    pub out: Option<PathBuf>,
    /// Runs per variant (seeds seed, seed+1, ...).
    pub runs: usize,
    /// Overrides of every variant's epochs, batch size and learning rate.
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    pub learning_rate: Option<f64>,
    /// Overrides of every pretrained variant's cached views and distillation.
    pub views: Option<usize>,
    pub distill: Option<Distill>,
    pub device: DeviceChoice,
    /// CPU threads for libtorch (default: all cores).
    pub threads: Option<usize>,
    pub precision: PrecisionChoice,
    /// Continue the runs in `out` from their last checkpoints.
    pub resume: bool,
    /// Decoded-image cache folder (default: `$COVERGENRE_CACHE_DIR` or ~/.cache/covergenre/images).
    pub cache_dir: Option<PathBuf>,
    /// The command line, recorded in `config.json` and the model card.
    pub command: Vec<String>,
    /// `--base MODEL.onnx`: the model a music library learns from (default: the shipped one).
    pub base: Option<PathBuf>,
    /// `--finetune-base`: also fine-tune the base's last layers (a fourth library recipe).
    pub finetune_base: bool,
}

/// The library recipe: a head on a base model's outputs ([`super::learn`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FromBase {
    /// The base model's file; `None`: the shipped model.
    pub base: Option<PathBuf>,
    /// Fine-tune the base's last layers too (`--finetune-base`), with these settings.
    #[serde(default)]
    pub finetune: Option<super::base_finetune::FinetuneSettings>,
}

/// Everything a training session does, validated; written to `<out>/config.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainConfig {
    pub data: PathBuf,
    pub out: PathBuf,
    /// The effective specs, overrides applied.
    pub variants: Vec<ModelSpec>,
    pub runs: usize,
    /// Run k (1-based) uses seed + k - 1; the held-back slice of train uses `seed` itself, so
    /// every run and variant selects on the same images.
    pub seed: u64,
    pub device: DeviceChoice,
    pub threads: Option<usize>,
    /// What `--precision` asked for; each run's checkpoint.json records what it trained in.
    pub precision: PrecisionChoice,
    pub resume: bool,
    pub cache_dir: Option<PathBuf>,
    /// How a music library given as `data` is read (field, genre map, minimum albums).
    #[serde(default)]
    pub library: LibraryOptions,
    /// The command line that asked for this session.
    #[serde(default)]
    pub command: Vec<String>,
    /// Learn from a base model (a music library with no `--variants`); `variants` is empty then.
    #[serde(default)]
    pub from_base: Option<FromBase>,
    pub toolkit_version: String,
}

impl TrainConfig {
    /// Validates the flags; errors name the flag and the problem.
    pub fn from_options(
        data: PathBuf,
        seed: u64,
        library: LibraryOptions,
        args: &TrainOptions,
    ) -> Result<Self> {
        let Some(out) = args.out.clone() else {
            bail!("--out DIR is required to train (the run folder for logs, checkpoints and the model)");
        };
        if args.runs == 0 {
            bail!("--runs must be at least 1");
        }
        if args.epochs == Some(0) {
            bail!("--epochs must be at least 1");
        }
        if args.batch_size == Some(0) {
            bail!("--batch-size must be at least 1");
        }
        if let Some(lr) = args.learning_rate {
            if !(lr > 0.0 && lr.is_finite()) {
                bail!("--learning-rate must be a positive number, not {lr}");
            }
        }
        if args.threads == Some(0) {
            bail!("--threads must be at least 1");
        }
        if args.views == Some(0) {
            bail!("--views must be at least 1 (the cover as is)");
        }
        if let Some(distill) = &args.distill {
            super::distill::validate(distill, super::distill::FLAG_NAMES)?;
        }
        if !data.exists() {
            bail!("--data {}: no such file or folder", data.display());
        }
        let is_library = crate::data::discover::is_library_root(&data);
        if let Some(base) = &args.base {
            if !is_library {
                bail!(
                    "--base {}: a base model is what a music library learns from; --data {} is not a music library",
                    base.display(),
                    data.display()
                );
            }
            if !args.variants.is_empty() {
                bail!(
                    "--base {} and --variants: the library recipe learns from the base model, \
                     --variants trains other recipes from ImageNet; give one of them",
                    base.display()
                );
            }
            if !base.is_file() {
                bail!("--base {}: no such file", base.display());
            }
        }
        if args.finetune_base && !(is_library && args.variants.is_empty()) {
            bail!(
                "--finetune-base fine-tunes the base model a music library learns from: give a music library as --data, without --variants"
            );
        }
        let from_base = (is_library && args.variants.is_empty()).then(|| FromBase {
            base: args.base.clone(),
            finetune: args.finetune_base.then(|| {
                let mut settings = super::base_finetune::FinetuneSettings::new(seed);
                settings.epochs = args.epochs.unwrap_or(settings.epochs);
                settings.learning_rate = args.learning_rate.unwrap_or(settings.learning_rate);
                settings
            }),
        });
        let variants: Vec<ModelSpec> = match from_base {
            Some(_) => Vec::new(),
            None => {
                let names = match args.variants.is_empty() {
                    true => vec![default_variant(&data).to_string()],
                    false => args.variants.clone(),
                };
                resolve_variants(&names)?
                    .into_iter()
                    .map(|spec| apply_overrides(spec, args))
                    .collect()
            }
        };
        if (args.views.is_some() || args.distill.is_some())
            && variants.iter().all(|v| v.pretrained.is_none())
        {
            bail!("--views and --teacher apply to pretrained variants (effnet-*), and none was chosen");
        }
        Ok(Self {
            data,
            out,
            variants,
            runs: args.runs,
            seed,
            device: args.device,
            threads: args.threads,
            precision: args.precision,
            resume: args.resume,
            cache_dir: args.cache_dir.clone(),
            library,
            command: args.command.clone(),
            from_base,
            toolkit_version: crate::VERSION.to_string(),
        })
    }

    /// Seed of run `run` (1-based).
    pub fn run_seed(&self, run: usize) -> u64 {
        self.seed.wrapping_add(run as u64 - 1)
    }
}

/// The ImageNet recipe a music library trained with before it learned from a base model
/// (`--variants effnet-lite0` still trains it).
pub const LIBRARY_RECIPE: &str = "effnet-lite0";

/// The variant trained when `--variants` is not given: the study's baseline for image
/// datasets. (A music library learns from a base model instead: [`FromBase`].)
pub fn default_variant(data: &Path) -> &'static str {
    if crate::data::discover::is_library_root(data) {
        LIBRARY_RECIPE
    } else {
        "baseline"
    }
}

/// Names -> specs; `all` means every built-in variant, and an entry ending in `.json` is a
/// spec file (see [`read_spec_file`]), so a recipe can be changed without rebuilding. Unknown
/// names are an error that lists the known ones.
pub fn resolve_variants(names: &[String]) -> Result<Vec<ModelSpec>> {
    let names: Vec<&str> = names
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() {
        bail!("--variants is empty; give names (see --list-variants) or `all`");
    }
    if names.contains(&"all") {
        return Ok(spec::variants());
    }
    let mut specs: Vec<ModelSpec> = Vec::new();
    for name in names {
        let found = if is_spec_file(name) {
            read_spec_file(Path::new(name))?
        } else {
            vec![built_in_variant(name)?]
        };
        for spec in found {
            add_variant(&mut specs, spec)?;
        }
    }
    Ok(specs)
}

fn is_spec_file(name: &str) -> bool {
    Path::new(name)
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("json"))
}

fn built_in_variant(name: &str) -> Result<ModelSpec> {
    spec::variant(name).ok_or_else(|| {
        let known: Vec<String> = spec::variants().into_iter().map(|v| v.name).collect();
        anyhow!(
            "unknown variant `{name}`; known variants: {} (or a spec file ending in .json)",
            known.join(", ")
        )
    })
}

/// Adds `spec` unless the same spec is already there; two different specs of one name would
/// write into the same run folder, so that is an error.
fn add_variant(specs: &mut Vec<ModelSpec>, spec: ModelSpec) -> Result<()> {
    match specs.iter().find(|s| s.name == spec.name) {
        Some(same) if *same == spec => Ok(()),
        Some(_) => bail!(
            "two different variants are named `{}`; give one another \"name\"",
            spec.name
        ),
        None => {
            specs.push(spec);
            Ok(())
        }
    }
}

/// Reads a spec file: one model spec as a JSON object, or an array of them as
/// `covergenre-train --list-variants --format json` prints. Each spec's layers must fit its
/// input size; errors name the file and the variant.
pub fn read_spec_file(path: &Path) -> Result<Vec<ModelSpec>> {
    let file = path.display();
    let text =
        std::fs::read_to_string(path).with_context(|| format!("spec file {file}: cannot read"))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("spec file {file}: not JSON"))?;
    let specs = if value.is_array() {
        serde_json::from_value::<Vec<ModelSpec>>(value)
    } else {
        serde_json::from_value::<ModelSpec>(value).map(|spec| vec![spec])
    }
    .with_context(|| format!("spec file {file}: not a model spec"))?;
    if specs.is_empty() {
        bail!("spec file {file}: holds no model spec");
    }
    for spec in &specs {
        spec::output_shapes(spec, crate::genres::MUMU.len())
            .map_err(|e| anyhow!("spec file {file}: variant `{}`: {e}", spec.name))?;
    }
    Ok(specs)
}

/// `--list-variants --format json`: every built-in spec, as a spec file holds them.
pub fn variant_specs_json() -> Result<String> {
    Ok(serde_json::to_string_pretty(&spec::variants())?)
}

fn apply_overrides(mut spec: ModelSpec, args: &TrainOptions) -> ModelSpec {
    if let Some(epochs) = args.epochs {
        spec.epochs = epochs;
    }
    if let Some(batch_size) = args.batch_size {
        spec.batch_size = batch_size;
    }
    if let Some(lr) = args.learning_rate {
        spec.optimiser.learning_rate = lr;
    }
    if let Some(pretrained) = spec.pretrained.as_mut() {
        if let Some(count) = args.views {
            pretrained.views.count = count;
        }
        if let Some(distill) = &args.distill {
            pretrained.distill = Some(distill.clone());
        }
    }
    spec
}

/// `--list-variants`: one line per variant, name then description.
pub fn variant_listing() -> String {
    let all = spec::variants();
    let width = all.iter().map(|v| v.name.len()).max().unwrap_or(0);
    all.iter()
        .map(|v| format!("{:width$}  {}\n", v.name, v.description))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn auto_precision_is_bf16_only_on_a_cpu_that_has_it_and_explicit_choices_win() {
        assert_eq!(
            PrecisionChoice::Auto.resolve(Device::Cuda(0)),
            Precision::Fp32
        );
        assert_eq!(
            PrecisionChoice::Auto.resolve(Device::Cpu) == Precision::Bf16,
            cpu_has_native_bf16()
        );
        assert_eq!(PrecisionChoice::Fp32.resolve(Device::Cpu), Precision::Fp32);
        assert_eq!(
            PrecisionChoice::Bf16.resolve(Device::Cuda(0)),
            Precision::Bf16
        );
    }

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    #[test]
    fn spec_files_read_back_what_list_variants_json_prints_and_an_edited_single_spec() {
        let dir = tempfile::tempdir().unwrap();
        let all = write(&dir, "all.json", &variant_specs_json().unwrap());
        assert_eq!(read_spec_file(Path::new(&all)).unwrap(), spec::variants());

        let mut edited = spec::variant("effnet-lite0-deep").unwrap();
        edited.name = "lite0-deep-no-crop".into();
        edited.augment.as_mut().unwrap().crop_area = None;
        let one = write(&dir, "one.JSON", &serde_json::to_string(&edited).unwrap());
        let specs = resolve_variants(&["baseline".into(), one.clone(), one]).unwrap();
        assert_eq!(specs, vec![spec::variant("baseline").unwrap(), edited]);
    }

    #[test]
    fn bad_spec_files_are_refused_naming_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let error =
            |path: &str| format!("{:#}", resolve_variants(&[path.to_string()]).unwrap_err());

        let missing = dir.path().join("missing.json").display().to_string();
        assert!(error(&missing).contains("missing.json: cannot read"));
        let garbage = write(&dir, "garbage.json", "{ not json");
        assert!(error(&garbage).contains("garbage.json: not JSON"));
        let partial = write(&dir, "partial.json", r#"{"name": "x"}"#);
        let message = error(&partial);
        assert!(
            message.contains("partial.json: not a model spec"),
            "{message}"
        );
        assert!(message.contains("missing field"), "{message}");
        let empty = write(&dir, "empty.json", "[]");
        assert!(error(&empty).contains("empty.json: holds no model spec"));

        let mut tiny_input = spec::variant("baseline").unwrap();
        tiny_input.preprocess.height = 2;
        tiny_input.preprocess.width = 2;
        let tiny = write(
            &dir,
            "tiny.json",
            &serde_json::to_string(&tiny_input).unwrap(),
        );
        let message = error(&tiny);
        assert!(
            message.contains("tiny.json: variant `baseline`"),
            "{message}"
        );
        assert!(message.contains("does not fit"), "{message}");

        // Same name, other recipe: both would write into one run folder.
        let mut other = spec::variant("baseline").unwrap();
        other.epochs += 1;
        let clash = write(&dir, "clash.json", &serde_json::to_string(&other).unwrap());
        let message = format!(
            "{:#}",
            resolve_variants(&["baseline".into(), clash]).unwrap_err()
        );
        assert!(
            message.contains("two different variants are named `baseline`"),
            "{message}"
        );
    }

    #[test]
    fn unknown_names_list_the_known_variants() {
        let message = format!("{:#}", resolve_variants(&["nope".into()]).unwrap_err());
        assert!(message.contains("unknown variant `nope`"), "{message}");
        assert!(message.contains("effnet-lite2-deep"), "{message}");
    }
}
