//! A base covergenre model back in libtorch, so a music library can fine-tune its last layers
//! (the library recipe's fine-tuned candidate, [`super::base_finetune`]).
//!
//! - **The network** is built from the model's own record of its spec
//!   ([`crate::metadata::ARCHITECTURE`]), or, for models written before it was recorded (the
//!   shipped one), from the registry's variant of the same name. Either way the same spec
//!   that wrote the file builds it.
//! - **The weights** are the model's ONNX initializers, read by name: the writer and the tch
//!   builder share parameter names ([`crate::spec::param_prefix`]).
//! - **BatchNorm** was folded into the convolution before it on export. A folded pair loads as
//!   the folded convolution followed by a BatchNorm that only adds the folded bias (mean 0,
//!   variance `1 - eps`, scale 1): the same function in inference mode, with the scale and
//!   shift trainable again. Written back, the writer folds it once more
//!   ([`BaseNetwork::written_back`]).

use super::build::{named_weights, Network};
use crate::export::fold::folded_batch_norms;
use crate::export::{float_initializers, read_initializers, with_initializers, Weights};
use crate::metadata::{ModelMetadata, ARCHITECTURE};
use crate::spec::{self, Architecture, ModelSpec, BATCH_NORM_EPS};
use anyhow::{anyhow, bail, ensure, Context, Result};
use tch::{nn, Device, Kind, Tensor};

/// A base model rebuilt as a tch network with its weights.
pub struct BaseNetwork {
    pub vs: nn::VarStore,
    pub net: Network,
    pub spec: ModelSpec,
    /// The first of the last layers (top-level index), the ones fine-tuning trains.
    pub finetune_from: usize,
}

impl BaseNetwork {
    /// Rebuilds the model whose ONNX file holds `bytes` (described by `metadata`) on the CPU.
    pub fn load(bytes: &[u8], metadata: &ModelMetadata) -> Result<Self> {
        let (spec, finetune_from) = architecture_of(metadata)?;
        let mut vs = nn::VarStore::new(Device::Cpu);
        // Building draws random initial weights (overwritten below) from libtorch's one
        // generator, which seeded runs hold.
        let net = {
            let _guard = super::rng_guard();
            Network::new(&vs.root(), &spec, metadata.genres.len())?
        };
        let initializers = read_initializers(bytes)?;
        load_weights(&mut vs, &spec, &initializers)?;
        Ok(Self {
            vs,
            net,
            spec,
            finetune_from,
        })
    }

    /// `base` (the bytes this network was loaded from) with the weights of the last layers
    /// replaced by this network's, BatchNorm folded as the writer folds it. The rest of the
    /// file, the earlier layers and the metadata included, stays byte for byte.
    pub fn written_back(&self, base: &[u8]) -> Result<Vec<u8>> {
        let graph = crate::export::onnx::build_graph(
            &self.spec,
            self.net.classes(),
            &named_weights(&self.vs),
        )?;
        let mut replaced = float_initializers(graph.initializer)?;
        replaced.retain(|name, _| spec::top_layer(name).is_some_and(|l| l >= self.finetune_from));
        with_initializers(base, &replaced)
    }
}

/// The spec to rebuild a model of `metadata` with, and where its last layers start.
fn architecture_of(metadata: &ModelMetadata) -> Result<(ModelSpec, usize)> {
    let architecture = match metadata.extra.get(ARCHITECTURE) {
        Some(text) => serde_json::from_str::<Architecture>(text)
            .map_err(|e| anyhow!("its '{ARCHITECTURE}' entry is not readable: {e}"))?,
        None => spec::variant(&metadata.variant)
            .map(|s| Architecture::of(&s))
            .ok_or_else(|| {
                anyhow!(
                    "it records no architecture and its variant '{}' is not one of covergenre's",
                    metadata.variant
                )
            })?,
    };
    let mut spec = spec::variant("baseline").expect("the registry holds the baseline");
    spec.name = metadata.variant.clone();
    spec.preprocess = metadata.preprocess;
    spec.layers = architecture.layers;
    spec.pretrained = None;
    let from = architecture
        .finetune_from_layer
        .unwrap_or_else(|| last_layers_start(&spec.layers));
    ensure!(
        from < spec.layers.len(),
        "its last layers start at {from}, past its {} layers",
        spec.layers.len()
    );
    Ok((spec, from))
}

/// Without a recorded start: from the last convolution (or residual block) on, or the
/// classifier alone when there is none.
fn last_layers_start(layers: &[spec::Layer]) -> usize {
    layers
        .iter()
        .rposition(|l| matches!(l, spec::Layer::Conv { .. } | spec::Layer::Residual { .. }))
        .or_else(|| layers.iter().rposition(|l| *l == spec::Layer::Logits))
        .unwrap_or(0)
}

/// Fills every variable of `vs` from the initializers, undoing the BatchNorm folding.
fn load_weights(vs: &mut nn::VarStore, spec: &ModelSpec, initializers: &Weights) -> Result<()> {
    let mut values = unfolded(spec, initializers)?;
    tch::no_grad(|| -> Result<()> {
        for (name, mut variable) in vs.variables() {
            let (dims, data) = values
                .remove(&name)
                .with_context(|| format!("the model has no weight '{name}'"))?;
            let shape: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
            ensure!(
                variable.size() == shape,
                "weight '{name}' has the shape {dims:?}, the architecture needs {:?}",
                variable.size()
            );
            variable.copy_(
                &Tensor::from_slice(&data)
                    .view(shape.as_slice())
                    .to_kind(Kind::Float),
            );
        }
        Ok(())
    })
}

/// The initializers as the tch network's variables: each folded (Conv, BatchNorm) pair split
/// into the folded convolution (its bias moved to the BatchNorm's shift) and an identity
/// BatchNorm, the rest as they are.
fn unfolded(spec: &ModelSpec, initializers: &Weights) -> Result<Weights> {
    let mut values: Weights = initializers.clone();
    for (conv, norm) in folded_batch_norms(&spec.layers) {
        let bias_name = format!("{conv}.bias");
        let (dims, bias) = values
            .get(&bias_name)
            .cloned()
            .with_context(|| format!("the model has no folded bias '{bias_name}'"))?;
        let channels = bias.len();
        let constant = |v: f32| (dims.clone(), vec![v; channels]);
        values.insert(format!("{norm}.weight"), constant(1.0));
        values.insert(format!("{norm}.bias"), (dims.clone(), bias));
        values.insert(format!("{norm}.running_mean"), constant(0.0));
        // 1 / sqrt(var + eps) = 1: the BatchNorm scales by exactly its weight.
        values.insert(
            format!("{norm}.running_var"),
            constant((1.0 - BATCH_NORM_EPS) as f32),
        );
        // The writer gives every folded Conv a bias; the tch Conv has one only when its spec
        // says so, and then it must add nothing (the shift holds it now).
        values.insert(bias_name, constant(0.0));
    }
    Ok(values)
}

/// Checks that the rebuilt network gives the base's logits: `ours` and `theirs` (covers x
/// genres) within `tolerance` of the largest logit.
pub fn check_logits(ours: &Tensor, theirs: &ndarray::Array2<f32>, tolerance: f32) -> Result<f32> {
    let ours = Vec::<f32>::try_from(&ours.to_kind(Kind::Float).contiguous().flatten(0, -1))?;
    ensure!(
        ours.len() == theirs.len(),
        "the rebuilt network gives {} logits, the base model {}",
        ours.len(),
        theirs.len()
    );
    let scale = theirs.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    let worst = ours
        .iter()
        .zip(theirs.iter())
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    if worst > tolerance * scale {
        bail!("the base's layers rebuilt in libtorch give other logits than the base model (max |difference| {worst:.2e})");
    }
    Ok(worst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::onnx_model_bytes;
    use crate::genres::GenreSet;
    use crate::preprocess::{Normalisation, Preprocess};
    use crate::spec::Layer;
    use crate::train::build::Mode;
    use std::collections::BTreeMap;

    /// Conv (no bias) + BatchNorm, a residual Conv (with bias) + BatchNorm, then the head.
    fn small_spec() -> ModelSpec {
        let mut spec = spec::variant("baseline").unwrap();
        spec.name = "tiny-folded".into();
        spec.preprocess = Preprocess::square(8, Normalisation::UNIT);
        let conv = |bias| Layer::Conv {
            out: 4,
            kernel: 3,
            stride: 1,
            padding: 1,
            groups: 1,
            bias,
        };
        spec.layers = vec![
            conv(false),
            Layer::BatchNorm,
            Layer::Relu,
            Layer::Residual {
                body: vec![conv(true), Layer::Dropout { p: 0.1 }, Layer::BatchNorm],
            },
            Layer::GlobalAvgPool,
            Layer::Flatten,
            Layer::Logits,
        ];
        spec
    }

    /// A trained-looking network: random weights and BatchNorm statistics far from the identity.
    fn trained(spec: &ModelSpec, genres: &GenreSet) -> (nn::VarStore, Network) {
        let _guard = crate::train::rng_guard();
        tch::manual_seed(7);
        let vs = nn::VarStore::new(Device::Cpu);
        let net = Network::new(&vs.root(), spec, genres.len()).unwrap();
        tch::no_grad(|| {
            for (name, mut t) in vs.variables() {
                let noise = Tensor::rand_like(&t);
                if name.ends_with("running_var") {
                    t.copy_(&(noise * 2.0 + 0.5));
                } else if name.ends_with("running_mean") || name.ends_with("bias") {
                    t.copy_(&(noise - 0.5));
                } else if name.contains('.') && t.dim() == 1 {
                    t.copy_(&(noise + 0.5));
                }
            }
        });
        (vs, net)
    }

    fn metadata_of(bytes: &[u8]) -> ModelMetadata {
        ModelMetadata::from_props(&crate::export::read_metadata_props(bytes).unwrap()).unwrap()
    }

    fn written(spec: &ModelSpec, genres: &GenreSet, vs: &nn::VarStore) -> Vec<u8> {
        let metadata = crate::export::metadata_for(spec, genres, BTreeMap::new());
        onnx_model_bytes(spec, genres, &named_weights(vs), &metadata).unwrap()
    }

    #[test]
    fn a_written_model_read_back_gives_the_same_logits_and_records_its_layers() {
        let spec = small_spec();
        let genres = GenreSet::from_slugs(vec!["a".into(), "b".into(), "c".into()]);
        let (vs, net) = trained(&spec, &genres);
        let bytes = written(&spec, &genres, &vs);
        let metadata = metadata_of(&bytes);
        let base = BaseNetwork::load(&bytes, &metadata).unwrap();
        assert_eq!(base.spec.layers, spec.layers);
        assert_eq!(
            base.finetune_from, 3,
            "from the last convolution (the residual) on"
        );
        let x = Tensor::rand([5, 3, 8, 8], (Kind::Float, Device::Cpu));
        let (before, _) = net.forward(&x, Mode::EVAL);
        let (after, _) = base.net.forward(&x, Mode::EVAL);
        let difference = f32::try_from((before - after).abs().max()).unwrap();
        assert!(difference < 1e-4, "max |difference| {difference}");
    }

    #[test]
    fn writing_back_changes_only_the_last_layers_and_folds_what_training_changed() {
        let spec = small_spec();
        let genres = GenreSet::from_slugs(vec!["a".into(), "b".into()]);
        let (vs, _) = trained(&spec, &genres);
        let bytes = written(&spec, &genres, &vs);
        let metadata = metadata_of(&bytes);
        let base = BaseNetwork::load(&bytes, &metadata).unwrap();
        let untouched = base.written_back(&bytes).unwrap();
        assert_eq!(
            read_initializers(&untouched).unwrap(),
            read_initializers(&bytes).unwrap(),
            "an untrained network writes back what it read"
        );
        // Training moves the residual's BatchNorm shift: the folded bias moves by as much,
        // and the first layers stay as they were.
        tch::no_grad(|| {
            let mut shift = base.vs.variables()["3.2.bias"].shallow_clone();
            let _ = shift.g_add_scalar_(0.25);
        });
        let moved = read_initializers(&base.written_back(&bytes).unwrap()).unwrap();
        let before = read_initializers(&bytes).unwrap();
        for (name, (_, values)) in &moved {
            let old = &before[name].1;
            if name == "3.0.bias" {
                assert!(values
                    .iter()
                    .zip(old)
                    .all(|(n, o)| (n - o - 0.25).abs() < 1e-6));
            } else {
                assert_eq!(values, old, "{name} changed");
            }
        }
        assert_eq!(
            crate::export::read_metadata_props(&base.written_back(&bytes).unwrap()).unwrap(),
            crate::export::read_metadata_props(&bytes).unwrap()
        );
    }

    #[test]
    fn a_model_no_spec_describes_is_refused_saying_why() {
        let mut metadata = metadata_of(crate::infer::shipped_model_bytes());
        metadata.variant = "ensemble(a+b)".into();
        metadata.extra.remove(ARCHITECTURE);
        let error = architecture_of(&metadata).unwrap_err().to_string();
        assert!(error.contains("records no architecture"), "{error}");
        assert!(error.contains("ensemble(a+b)"), "{error}");
    }
}
