//! Pretrained weights: reading PyTorch checkpoints and loading them into our tch `VarStore`.
//!
//! The EfficientNet-Lite0 and Lite2 ImageNet weights come as legacy `torch.save` files (see
//! [`legacy`]).
//! Their names (`_blocks.3._depthwise_conv.weight`) are mapped onto ours (`17.3.weight`, from
//! [`crate::spec::param_prefix`]) by [`map_checkpoint_name`], a pure function driven by the
//! module table that [`crate::spec::efficientnet`] builds together with the layers.
//! [`load_efficientnet`] then copies every backbone tensor in, checking shapes, and says
//! what it did not use: the ImageNet classifier when the head has another number of classes
//! (a new genre head), and `num_batches_tracked` counters, which tch's batch norm has no use for.

pub mod legacy;
pub mod pickle;

use crate::spec::efficientnet::{Backbone, CheckpointModule, ModuleKind};
use crate::spec::{param_prefix, ModelSpec};
use anyhow::{bail, ensure, Context, Result};
use legacy::CheckpointTensor;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use tch::nn::VarStore;
use tch::Tensor;

/// Environment variable naming the weights file, or the folder that holds it.
pub const WEIGHTS_ENV: &str = "COVERGENRE_WEIGHTS";

/// Where a backbone's weights are: `$COVERGENRE_WEIGHTS` (a file, or a folder holding
/// `efficientnet-lite0.pth`, `efficientnet-lite2.pth`), else the folder scripts/setup.sh filled
/// at build time.
pub fn weights_path(backbone: Backbone) -> PathBuf {
    weights_path_from(
        std::env::var_os(WEIGHTS_ENV).map(PathBuf::from),
        Path::new(env!("COVERGENRE_WEIGHTS_DEFAULT")),
        backbone,
    )
}

/// [`weights_path`] without the environment: a folder gets the backbone's file name.
fn weights_path_from(
    from_env: Option<PathBuf>,
    default_folder: &Path,
    backbone: Backbone,
) -> PathBuf {
    let base = from_env.unwrap_or_else(|| default_folder.to_path_buf());
    if base.is_dir() {
        base.join(backbone.weights_file())
    } else {
        base
    }
}

/// The backbone a spec's `pretrained.loader` names; errors for a spec without one.
pub fn backbone_of(spec: &ModelSpec) -> Result<Backbone> {
    let loader = spec
        .pretrained
        .as_ref()
        .map(|p| p.loader.as_str())
        .with_context(|| format!("spec {} has no pretrained backbone", spec.name))?;
    Backbone::from_loader(loader).with_context(|| {
        let known: Vec<&str> = Backbone::ALL.iter().map(|b| b.loader()).collect();
        format!(
            "spec {} wants the unknown weights loader {loader:?} (known: {})",
            spec.name,
            known.join(", ")
        )
    })
}

/// A checkpoint parameter's place in our network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedName {
    /// Our VarStore name, e.g. "16.3.weight".
    pub name: String,
    pub kind: ModuleKind,
    /// Zero rows/columns before the checkpoint kernel in ours (TF "SAME" stride-2 convs).
    pub kernel_offset: usize,
}

/// Where a checkpoint parameter goes, or `None` when our network has no place for it
/// (`num_batches_tracked`, a conv bias, an unknown module).
pub fn map_checkpoint_name(name: &str, modules: &[CheckpointModule]) -> Option<MappedName> {
    let (module, param) = name.rsplit_once('.')?;
    let m = modules.iter().find(|m| m.checkpoint == module)?;
    let known = match m.kind {
        ModuleKind::Conv => &["weight"][..],
        ModuleKind::BatchNorm => &["weight", "bias", "running_mean", "running_var"][..],
        ModuleKind::Classifier => &["weight", "bias"][..],
    };
    known.contains(&param).then(|| MappedName {
        name: format!("{}.{param}", param_prefix(&m.path)),
        kind: m.kind,
        kernel_offset: m.kernel_offset,
    })
}

/// What [`load_efficientnet`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// Our variables filled from the checkpoint.
    pub loaded: Vec<String>,
    /// Checkpoint classifier tensors not used because the head has a different shape (new head).
    pub head_skipped: Vec<String>,
    /// Checkpoint tensors our network has no place for (e.g. `num_batches_tracked`).
    pub unused: Vec<String>,
    /// Our variables the checkpoint did not fill (only the new head's, or loading fails).
    pub not_loaded: Vec<String>,
}

impl LoadReport {
    /// One line for logs.
    pub fn summary(&self) -> String {
        format!(
            "loaded {} tensors; new head ({} left at their initial values: {}); {} checkpoint tensors unused",
            self.loaded.len(),
            self.not_loaded.len(),
            self.not_loaded.join(", "),
            self.unused.len(),
        )
    }
}

/// Loads a backbone's ImageNet weights into `vs`, which must hold a network built from `spec`
/// (the backbone's layers, any number of classes); the backbone is the spec's
/// `pretrained.loader` (Lite0 for a spec without one). Every backbone tensor must find its
/// variable with the right shape; the classifier is loaded only when the head has the
/// checkpoint's 1000 classes.
pub fn load_efficientnet(vs: &mut VarStore, spec: &ModelSpec, path: &Path) -> Result<LoadReport> {
    let backbone = match &spec.pretrained {
        Some(_) => backbone_of(spec)?,
        None => Backbone::Lite0,
    };
    let layout = backbone.layout();
    ensure!(
        spec.layers == layout.layers,
        "spec {} does not have the {} layers, so the checkpoint cannot be mapped onto it",
        spec.name,
        backbone.display_name()
    );
    let checkpoint = legacy::read_checkpoint(path)?;
    load_tensors(vs, &layout.modules, checkpoint)
        .with_context(|| format!("loading {} into {}", path.display(), spec.name))
}

fn load_tensors(
    vs: &mut VarStore,
    modules: &[CheckpointModule],
    checkpoint: Vec<(String, CheckpointTensor)>,
) -> Result<LoadReport> {
    let variables = vs.variables();
    let mut report = LoadReport::default();
    let mut filled = BTreeSet::new();
    for (name, tensor) in checkpoint {
        let Some(mapped) = map_checkpoint_name(&name, modules) else {
            report.unused.push(name);
            continue;
        };
        let Some(target) = variables.get(&mapped.name) else {
            bail!(
                "the network has no variable {} for checkpoint tensor {name}",
                mapped.name
            );
        };
        let source = fit_to(&tensor, target, &mapped)
            .with_context(|| format!("checkpoint tensor {name} -> {}", mapped.name));
        match source {
            Ok(source) => {
                tch::no_grad(|| target.shallow_clone().copy_(&source));
                filled.insert(mapped.name.clone());
                report.loaded.push(mapped.name);
            }
            // A new head has its own number of classes: not an error, but reported.
            Err(_) if mapped.kind == ModuleKind::Classifier => report.head_skipped.push(name),
            Err(e) => return Err(e),
        }
    }
    report.not_loaded = not_filled(&variables, &filled);
    let head_prefix = modules
        .iter()
        .find(|m| m.kind == ModuleKind::Classifier)
        .map(|m| format!("{}.", param_prefix(&m.path)));
    let backbone_missing: Vec<&String> = report
        .not_loaded
        .iter()
        .filter(|n| {
            head_prefix
                .as_ref()
                .is_none_or(|p| !n.starts_with(p.as_str()))
        })
        .collect();
    ensure!(
        backbone_missing.is_empty(),
        "the checkpoint has no values for these backbone variables: {backbone_missing:?}"
    );
    Ok(report)
}

fn not_filled(variables: &HashMap<String, Tensor>, filled: &BTreeSet<String>) -> Vec<String> {
    let mut names: Vec<String> = variables
        .keys()
        .filter(|n| !filled.contains(*n))
        .cloned()
        .collect();
    names.sort();
    names
}

/// The checkpoint tensor as a tch tensor of the target's shape: the same shape, or a conv kernel
/// placed `kernel_offset` rows and columns into a larger zero kernel.
fn fit_to(tensor: &CheckpointTensor, target: &Tensor, mapped: &MappedName) -> Result<Tensor> {
    let shape: Vec<i64> = tensor.shape.iter().map(|&d| d as i64).collect();
    let source = Tensor::from_slice(&tensor.data).reshape(&shape);
    let want = target.size();
    if mapped.kernel_offset == 0 {
        ensure!(want == shape, "shape {shape:?} does not fit {want:?}");
        return Ok(source.to_kind(target.kind()).to_device(target.device()));
    }
    let offset = mapped.kernel_offset as i64;
    let fits = shape.len() == 4
        && want.len() == 4
        && want[..2] == shape[..2]
        && want[2] == shape[2] + offset
        && want[3] == shape[3] + offset;
    ensure!(
        fits,
        "kernel {shape:?} does not fit {want:?} with an offset of {offset}"
    );
    let padded = Tensor::zeros(want.as_slice(), (target.kind(), target.device()));
    let mut corner = padded
        .narrow(2, offset, shape[2])
        .narrow(3, offset, shape[3]);
    corner.copy_(&source.to_kind(target.kind()).to_device(target.device()));
    Ok(padded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::efficientnet::lite0_checkpoint_modules;
    use tch::{nn, Device, Kind};

    fn mapped(name: &str) -> Option<String> {
        map_checkpoint_name(name, &lite0_checkpoint_modules()).map(|m| m.name)
    }

    #[test]
    fn checkpoint_names_map_onto_layer_paths() {
        assert_eq!(mapped("_conv_stem.weight").as_deref(), Some("0.weight"));
        assert_eq!(mapped("_bn0.running_var").as_deref(), Some("1.running_var"));
        assert_eq!(
            mapped("_blocks.0._depthwise_conv.weight").as_deref(),
            Some("3.weight")
        );
        assert_eq!(mapped("_blocks.0._bn1.bias").as_deref(), Some("4.bias"));
        assert_eq!(
            mapped("_blocks.1._expand_conv.weight").as_deref(),
            Some("8.weight")
        );
        // Block 2 is a residual at index 16; its layers are numbered inside it.
        assert_eq!(
            mapped("_blocks.2._expand_conv.weight").as_deref(),
            Some("16.0.weight")
        );
        assert_eq!(
            mapped("_blocks.2._bn2.running_mean").as_deref(),
            Some("16.7.running_mean")
        );
        assert_eq!(mapped("_fc.weight").as_deref(), Some("70.weight"));
        assert_eq!(mapped("_fc.bias").as_deref(), Some("70.bias"));
    }

    #[test]
    fn names_without_a_place_are_not_mapped() {
        assert_eq!(mapped("_bn0.num_batches_tracked"), None);
        assert_eq!(
            mapped("_conv_stem.bias"),
            None,
            "our convs before BN have no bias"
        );
        assert_eq!(
            mapped("_blocks.0._expand_conv.weight"),
            None,
            "block 0 does not expand"
        );
        assert_eq!(mapped("_blocks.16._bn0.weight"), None);
        assert_eq!(mapped("no_dot"), None);
    }

    #[test]
    fn stride_two_kernels_carry_their_offset() {
        let modules = lite0_checkpoint_modules();
        let stem = map_checkpoint_name("_conv_stem.weight", &modules).unwrap();
        assert_eq!((stem.kind, stem.kernel_offset), (ModuleKind::Conv, 1));
        let project = map_checkpoint_name("_blocks.3._project_conv.weight", &modules).unwrap();
        assert_eq!(project.kernel_offset, 0);
    }

    #[test]
    fn kernels_are_placed_bottom_right_in_a_zero_kernel() {
        let target = Tensor::ones([1, 1, 4, 4], (Kind::Float, Device::Cpu));
        let tensor = CheckpointTensor {
            shape: vec![1, 1, 3, 3],
            data: (1..=9).map(|v| v as f32).collect(),
        };
        let mapped = MappedName {
            name: "0.weight".into(),
            kind: ModuleKind::Conv,
            kernel_offset: 1,
        };
        let fitted = fit_to(&tensor, &target, &mapped).unwrap();
        let values: Vec<f32> = Vec::try_from(fitted.flatten(0, -1)).unwrap();
        #[rustfmt::skip]
        assert_eq!(values, vec![
            0.0, 0.0, 0.0, 0.0,
            0.0, 1.0, 2.0, 3.0,
            0.0, 4.0, 5.0, 6.0,
            0.0, 7.0, 8.0, 9.0,
        ]);
        let wrong = Tensor::ones([1, 1, 5, 5], (Kind::Float, Device::Cpu));
        assert!(fit_to(&tensor, &wrong, &mapped).is_err());
    }

    /// A VarStore with exactly the variables a conv(no bias) + BN + linear network has.
    fn tiny_store(head_classes: i64) -> (VarStore, Vec<CheckpointModule>) {
        // The linear layer's initial weights come from libtorch's generator.
        let _rng = crate::train::rng_guard();
        let vs = VarStore::new(Device::Cpu);
        let root = vs.root();
        let _ = root.sub(0).zeros("weight", &[2, 1, 2, 2]);
        let _ = nn::batch_norm2d(root.sub(1), 2, Default::default());
        let _ = nn::linear(root.sub(2), 2, head_classes, Default::default());
        let module = |name: &str, path: usize, kind, kernel_offset| CheckpointModule {
            checkpoint: name.into(),
            path: vec![path],
            kind,
            kernel_offset,
        };
        let modules = vec![
            module("conv", 0, ModuleKind::Conv, 1),
            module("bn", 1, ModuleKind::BatchNorm, 0),
            module("fc", 2, ModuleKind::Classifier, 0),
        ];
        (vs, modules)
    }

    fn ckpt(name: &str, shape: &[usize], value: f32) -> (String, CheckpointTensor) {
        let n = shape.iter().product();
        (
            name.into(),
            CheckpointTensor {
                shape: shape.to_vec(),
                data: vec![value; n],
            },
        )
    }

    fn backbone() -> Vec<(String, CheckpointTensor)> {
        vec![
            ckpt("conv.weight", &[2, 1, 1, 1], 5.0),
            ckpt("bn.weight", &[2], 2.0),
            ckpt("bn.bias", &[2], 3.0),
            ckpt("bn.running_mean", &[2], 0.5),
            ckpt("bn.running_var", &[2], 4.0),
            ckpt("bn.num_batches_tracked", &[], 1.0),
        ]
    }

    #[test]
    fn loading_fills_the_backbone_and_reports_a_new_head() {
        let (mut vs, modules) = tiny_store(3);
        let mut checkpoint = backbone();
        checkpoint.push(ckpt("fc.weight", &[4, 2], 1.0));
        checkpoint.push(ckpt("fc.bias", &[4], 1.0));
        let report = load_tensors(&mut vs, &modules, checkpoint).unwrap();
        assert_eq!(report.loaded.len(), 5);
        assert_eq!(report.unused, vec!["bn.num_batches_tracked"]);
        assert_eq!(report.head_skipped, vec!["fc.weight", "fc.bias"]);
        assert_eq!(report.not_loaded, vec!["2.bias", "2.weight"]);
        let vars = vs.variables();
        assert_eq!(vars["1.running_var"].double_value(&[1]), 4.0);
        assert_eq!(vars["0.weight"].sum(Kind::Float).double_value(&[]), 10.0);
        assert_eq!(vars["0.weight"].double_value(&[1, 0, 1, 1]), 5.0);
        assert_eq!(vars["0.weight"].double_value(&[1, 0, 0, 0]), 0.0);
    }

    #[test]
    fn a_matching_head_is_loaded_too() {
        let (mut vs, modules) = tiny_store(4);
        let mut checkpoint = backbone();
        checkpoint.push(ckpt("fc.weight", &[4, 2], 1.5));
        checkpoint.push(ckpt("fc.bias", &[4], -1.0));
        let report = load_tensors(&mut vs, &modules, checkpoint).unwrap();
        assert!(report.head_skipped.is_empty() && report.not_loaded.is_empty());
        assert_eq!(vs.variables()["2.bias"].double_value(&[3]), -1.0);
    }

    #[test]
    fn wrong_shapes_and_missing_backbone_tensors_are_errors() {
        let (mut vs, modules) = tiny_store(3);
        let mut checkpoint = backbone();
        checkpoint[1] = ckpt("bn.weight", &[3], 1.0);
        let err = format!(
            "{:#}",
            load_tensors(&mut vs, &modules, checkpoint).unwrap_err()
        );
        assert!(err.contains("bn.weight") && err.contains("[3]"), "{err}");

        let (mut vs, modules) = tiny_store(3);
        let mut checkpoint = backbone();
        checkpoint.retain(|(n, _)| n != "bn.running_var");
        let err = format!(
            "{:#}",
            load_tensors(&mut vs, &modules, checkpoint).unwrap_err()
        );
        assert!(err.contains("1.running_var"), "{err}");
    }

    #[test]
    fn a_spec_with_other_layers_is_refused_before_reading() {
        let mut vs = VarStore::new(Device::Cpu);
        let spec = crate::spec::variant("baseline").unwrap();
        let err = load_efficientnet(&mut vs, &spec, Path::new("/nonexistent.pth")).unwrap_err();
        assert!(
            err.to_string().contains("EfficientNet-Lite0 layers"),
            "{err}"
        );
    }

    #[test]
    fn weights_path_prefers_the_environment_and_completes_folders() {
        let dir = tempfile::tempdir().unwrap();
        let default = dir.path().join("default");
        std::fs::create_dir(&default).unwrap();
        assert_eq!(
            weights_path_from(None, &default, Backbone::Lite0),
            default.join("efficientnet-lite0.pth")
        );
        assert_eq!(
            weights_path_from(None, &default, Backbone::Lite2),
            default.join("efficientnet-lite2.pth")
        );
        let file = dir.path().join("mine.pth");
        assert_eq!(
            weights_path_from(Some(file.clone()), &default, Backbone::Lite2),
            file
        );
        let folder = dir.path().to_path_buf();
        assert_eq!(
            weights_path_from(Some(folder.clone()), &default, Backbone::Lite0),
            folder.join("efficientnet-lite0.pth")
        );
    }
}
