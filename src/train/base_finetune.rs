//! The library recipe's fine-tuned candidate (`--finetune-base`): the owner's head with the
//! base's last layers trained through it on the library's training albums.
//!
//! - The base is rebuilt in libtorch ([`super::base_network`]) and checked against the base
//!   model: its logits on the dev covers must be the base's.
//! - Its first layers run once per cover (onnxruntime or libtorch, whichever
//!   [`super::frozen`] measures faster) and their maps stay in memory; the last layers and the
//!   base's classifier train on them with the owner's head (the one chosen on dev) on top, so
//!   the loss is the owner's: cross-entropy of `ln(softmax(z / T) . M) + z W + c` on the base's
//!   logits `z`. The head's correction `W, c` trains with them (the base's new outputs may
//!   need another); the mapping `M` stays.
//! - BatchNorm keeps its statistics (its scale and shift train: batches of 32 covers estimate
//!   statistics worse than the base's training did); dropout on the maps stands in for pixel
//!   augmentation, which cached maps rule out.
//! - Epoch 0 is the base itself. The epoch kept is the most accurate on dev, and only one that
//!   is more accurate than the base: otherwise there is no candidate.

use super::base::{outputs_for, BaseModel, BaseOutputs};
use super::base_network::{check_logits, BaseNetwork};
use super::build::{Mode, Precision};
use super::fit::{add_predictions, forward_in_batches};
use super::frozen::Frozen;
use super::optim::Optimiser;
use super::owner_head::OwnerHead;
use super::owner_scores::{accuracy_gain, score};
use super::seed::derive_seed;
use super::transfer::{set_trainable, trainable_names, MAP_DROPOUT};
use crate::bootstrap::Interval;
use crate::data::base_outputs::BaseOutputCache;
use crate::data::cache::ImageCache;
use crate::data::decode::DecodeLimits;
use crate::data::{load_samples, Sample};
use crate::data::{Dataset, Split};
use crate::metrics::Confusion;
use crate::report::learned::{Candidate, FinetuneEpoch, FinetuneRecord};
use crate::spec::{Optimiser as OptimiserSpec, OptimiserKind};
use anyhow::{ensure, Result};
use ndarray::{Array2, Axis};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Instant;
use tch::{nn, Device, Kind, Tensor};

/// Covers per step.
const BATCH: i64 = 32;
/// Covers decoded and passed through the first layers at a time (bounds the pixels in memory).
const CHUNK: usize = 256;
/// The rebuilt network's logits may differ from the base model's by this share of the largest.
const REBUILD_TOLERANCE: f32 = 1e-3;

/// How the last layers train (recorded in `config.json` and `learned.json`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FinetuneSettings {
    pub epochs: usize,
    /// Adam's rate: the transfer recipe's fine-tuning rate (1e-3 x 0.1).
    pub learning_rate: f64,
    pub seed: u64,
}

impl FinetuneSettings {
    pub fn new(seed: u64) -> Self {
        Self {
            epochs: 6,
            learning_rate: 1e-4,
            seed,
        }
    }
}

/// What fine-tuning made.
pub struct Finetuned {
    /// The base model's file with its last layers' weights from the kept epoch; `None` when no
    /// epoch was more accurate on dev than the base.
    pub bytes: Option<Vec<u8>>,
    /// The head that goes with them (its correction trained too).
    pub head: OwnerHead,
    /// The top-level layers trained.
    pub layers: std::ops::Range<usize>,
    pub epochs: Vec<FinetuneEpoch>,
    pub kept_epoch: usize,
    /// Which engine ran the first layers.
    pub engine: &'static str,
    pub seconds: f64,
}

/// Fine-tunes the last layers of `network` (`base` rebuilt: [`BaseNetwork::load`]) through
/// `head` (see the module docs).
pub fn finetune(
    network: BaseNetwork,
    base: &BaseModel,
    head: &OwnerHead,
    train: &BaseOutputs,
    dev: &BaseOutputs,
    images: &ImageCache,
    settings: &FinetuneSettings,
) -> Result<Finetuned> {
    let _guard = super::rng_guard();
    let started = Instant::now();
    let mut engine = "libtorch";
    let train_maps = first_layer_maps(&network, train, images, "training", &mut engine)?;
    let dev_maps = first_layer_maps(&network, dev, images, "dev", &mut engine)?;
    let head_store = nn::VarStore::new(Device::Cpu);
    let session = Session {
        network: &network,
        layers: network.finetune_from..network.net.layer_count(),
        head: HeadTensors::of(head, &head_store.root()),
        head_store: &head_store,
        train_labels: labels_of(&train_maps, train),
        dev_labels: labels_of(&dev_maps, dev),
        train_maps,
        dev_maps,
    };
    check_logits(
        &session.dev_logits(),
        &dev.logits.select(Axis(0), &session.dev_maps.rows),
        REBUILD_TOLERANCE,
    )?;
    let (epochs, kept) = session.train(settings)?;
    let kept_epoch = kept.as_ref().map_or(0, |(epoch, _)| *epoch);
    let bytes = match kept {
        Some((_, saved)) => {
            session.restore(&saved);
            Some(network.written_back(&base.bytes)?)
        }
        None => None,
    };
    Ok(Finetuned {
        head: session.head.owner_head(head)?,
        bytes,
        layers: session.layers.clone(),
        epochs,
        kept_epoch,
        engine,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The labels of `outputs` in the order of its maps.
fn labels_of(maps: &Maps, outputs: &BaseOutputs) -> Tensor {
    let labels: Vec<i64> = maps
        .rows
        .iter()
        .map(|&r| outputs.labels[r] as i64)
        .collect();
    Tensor::from_slice(&labels)
}

/// The weights of the trained layers and of the head's correction, as at one epoch.
type Saved = Vec<(String, Tensor)>;

/// The epoch kept and its weights.
type Kept = Option<(usize, Saved)>;

/// What one fine-tuning trains on and with.
struct Session<'a> {
    network: &'a BaseNetwork,
    /// The top-level layers trained (the rest ran once, into the maps).
    layers: std::ops::Range<usize>,
    head: HeadTensors,
    head_store: &'a nn::VarStore,
    train_maps: Maps,
    train_labels: Tensor,
    dev_maps: Maps,
    dev_labels: Tensor,
}

impl Session<'_> {
    /// Trains for the settings' epochs; returns every epoch's record and, when one was more
    /// accurate on dev than the base (epoch 0), the most accurate one and its weights.
    fn train(&self, settings: &FinetuneSettings) -> Result<(Vec<FinetuneEpoch>, Kept)> {
        set_trainable(
            &self.network.vs,
            &trainable_names(&self.network.vs),
            self.layers.start,
        );
        let adam = OptimiserSpec {
            kind: OptimiserKind::Adam,
            learning_rate: settings.learning_rate,
            weight_decay: 0.0,
        };
        let mut optimisers = [
            Optimiser::new(&self.network.vs, &adam),
            Optimiser::new(self.head_store, &adam),
        ];
        let mut epochs = vec![FinetuneEpoch {
            epoch: 0,
            train_loss: None,
            dev_accuracy: self.dev_accuracy(),
        }];
        self.say(&epochs[0]);
        let steps = (self.train_maps.maps.size()[0] as u64).div_ceil(BATCH as u64);
        let bar = crate::util::progress(
            Some(steps * settings.epochs as u64),
            &format!(
                "fine-tuning layers {}-{}",
                self.layers.start,
                self.layers.end - 1
            ),
        );
        let mut best = (epochs[0].dev_accuracy, None);
        for epoch in 1..=settings.epochs {
            tch::manual_seed(derive_seed(settings.seed, epoch as u64));
            let train_loss = self.train_epoch(&mut optimisers, &bar)?;
            let dev_accuracy = self.dev_accuracy();
            epochs.push(FinetuneEpoch {
                epoch,
                train_loss: Some(train_loss),
                dev_accuracy,
            });
            bar.suspend(|| self.say(&epochs[epoch]));
            if dev_accuracy > best.0 {
                best = (dev_accuracy, Some((epoch, self.saved())));
            }
        }
        bar.finish_and_clear();
        Ok((epochs, best.1))
    }

    /// One epoch's line, as it ends (fine-tuning takes minutes).
    fn say(&self, epoch: &FinetuneEpoch) {
        eprintln!(
            "fine-tuning layers {}-{}, epoch {}: dev accuracy {:.3}{}",
            self.layers.start,
            self.layers.end - 1,
            epoch.epoch,
            epoch.dev_accuracy,
            epoch
                .train_loss
                .map_or(" (the base)".into(), |l| format!(", training loss {l:.4}"))
        );
    }

    /// One pass over the training maps in a random order; returns the mean loss.
    fn train_epoch(
        &self,
        optimisers: &mut [Optimiser],
        bar: &indicatif::ProgressBar,
    ) -> Result<f64> {
        // The fine-tuned layers keep the base's running statistics (BatchNorm in eval).
        let mode = Mode {
            training: true,
            batch_stats: false,
            precision: Precision::Fp32,
        };
        let n = self.train_maps.maps.size()[0];
        let order = Tensor::randperm(n, (Kind::Int64, Device::Cpu));
        let mut loss_sum = 0.0;
        for start in (0..n).step_by(BATCH as usize) {
            let index = order.narrow(0, start, BATCH.min(n - start));
            let maps = self
                .train_maps
                .maps
                .index_select(0, &index)
                .dropout(MAP_DROPOUT, true);
            let z = self
                .network
                .net
                .forward_range(&maps, self.layers.clone(), mode);
            let loss = self
                .head
                .logits(&z)
                .cross_entropy_for_logits(&self.train_labels.index_select(0, &index));
            optimisers.iter_mut().for_each(Optimiser::zero_grad);
            loss.backward();
            optimisers.iter_mut().for_each(Optimiser::step);
            loss_sum += f64::try_from(&loss)? * index.size()[0] as f64;
            bar.inc(1);
        }
        Ok(loss_sum / n.max(1) as f64)
    }

    /// The base's logits on the dev covers, as the network stands.
    fn dev_logits(&self) -> Tensor {
        forward_in_batches(&self.network.net, self.layers.clone(), &self.dev_maps.maps)
    }

    fn dev_accuracy(&self) -> f64 {
        let logits = self.head.logits(&self.dev_logits());
        let mut confusion = Confusion::new(logits.size()[1] as usize);
        add_predictions(&mut confusion, &logits, &self.dev_labels);
        confusion.accuracy()
    }

    fn saved(&self) -> Saved {
        let mut saved = copies(&self.network.vs, self.layers.start);
        saved.extend(copies(self.head_store, 0));
        saved
    }

    fn restore(&self, saved: &Saved) {
        restore(&self.network.vs, saved);
        restore(self.head_store, saved);
    }
}

/// The base with its last layers fine-tuned, and its outputs on the covers it has run on.
pub struct Tuned {
    pub base: BaseModel,
    /// The head trained with the base's last layers.
    pub head: OwnerHead,
    pub outputs: BTreeMap<Split, BaseOutputs>,
    pub score: Candidate,
}

impl Tuned {
    /// Runs the fine-tuned base over the covers of `split` too.
    pub fn add_split(
        &mut self,
        split: Split,
        dataset: &Dataset,
        images: &ImageCache,
    ) -> Result<()> {
        let found = outputs_of(&mut self.base, split, dataset, images)?;
        self.outputs.insert(split, found);
        Ok(())
    }

    /// Its dev accuracy minus that of `start` on the base's outputs `dev` (aligned with its
    /// own: [`Tuned::align`]), as a paired bootstrap interval. Its epoch was picked on dev
    /// among several, so a dev lead of a few albums says little: it is chosen only when the
    /// interval's lower end is above 0.
    pub fn dev_gain(&self, start: &OwnerHead, dev: &BaseOutputs, classes: usize) -> Interval {
        let tuned = &self.outputs[&Split::Dev];
        accuracy_gain(
            start.logits(dev.logits.view()).view(),
            self.head.logits(tuned.logits.view()).view(),
            &dev.labels,
            classes,
        )
    }

    /// Keeps, in both, only the covers both read (a cover the cache held for the base may no
    /// longer decode for the fine-tuned one), so the two are compared cover by cover.
    pub fn align(&mut self, outputs: &mut BTreeMap<Split, BaseOutputs>) {
        for (split, tuned) in &mut self.outputs {
            if let Some(original) = outputs.get_mut(split) {
                if original.paths != tuned.paths {
                    let both: std::collections::HashSet<_> =
                        original.paths.iter().cloned().collect();
                    let both: std::collections::HashSet<_> = tuned
                        .paths
                        .iter()
                        .filter(|p| both.contains(*p))
                        .cloned()
                        .collect();
                    original.keep(&both);
                    tuned.keep(&both);
                }
            }
        }
    }
}

/// `base` (a fine-tuned one) over the covers of `split`, with no disk cache: a fine-tuned base
/// is made afresh by every run.
fn outputs_of(
    base: &mut BaseModel,
    split: Split,
    dataset: &Dataset,
    images: &ImageCache,
) -> Result<BaseOutputs> {
    let uncached = BaseOutputCache::new(None, &base.bytes, &base.name);
    let label = format!("{} covers through the fine-tuned base", split.as_str());
    outputs_for(base, dataset.split(split), &uncached, images, &label)
}

/// Fine-tunes the base's last layers through `head` ([`finetune`]) and scores the
/// written file on dev through onnxruntime, as every other recipe is scored.
pub fn finetuned_candidate(
    (network, base): (BaseNetwork, &BaseModel),
    head: &OwnerHead,
    outputs: &BTreeMap<Split, BaseOutputs>,
    dataset: &Dataset,
    images: &ImageCache,
    settings: &FinetuneSettings,
    threads: usize,
) -> Result<(FinetuneRecord, Option<Tuned>)> {
    let done = finetune(
        network,
        base,
        head,
        &outputs[&Split::Train],
        &outputs[&Split::Dev],
        images,
        settings,
    )?;
    let layers = (done.layers.start, done.layers.end - 1);
    let record = FinetuneRecord {
        layers,
        learning_rate: settings.learning_rate,
        history: done.epochs,
        kept_epoch: done.kept_epoch,
        first_layers_engine: done.engine.into(),
        seconds: done.seconds,
        dev_gain: None,
        chosen: false,
    };
    let Some(bytes) = done.bytes else {
        eprintln!("fine-tuning: no epoch was more accurate on dev than the base; no candidate");
        return Ok((record, None));
    };
    let name = format!("{} (last layers fine-tuned)", base.name);
    let mut tuned_base = BaseModel::from_bytes(bytes, name, threads)?;
    let dev = outputs_of(&mut tuned_base, Split::Dev, dataset, images)?;
    let score = score(
        &format!(
            "head + base layers {}-{} fine-tuned (epoch {})",
            layers.0, layers.1, record.kept_epoch
        ),
        &done.head.logits(dev.logits.view()),
        &dev.labels,
    );
    let tuned = Tuned {
        base: tuned_base,
        head: done.head,
        outputs: BTreeMap::from([(Split::Dev, dev)]),
        score,
    };
    Ok((record, Some(tuned)))
}

/// The maps after the first layers for the covers of `outputs`, and which of its rows they are
/// (a cover that cannot be decoded now is left out).
struct Maps {
    maps: Tensor,
    rows: Vec<usize>,
}

fn first_layer_maps(
    network: &BaseNetwork,
    outputs: &BaseOutputs,
    images: &ImageCache,
    split: &str,
    engine: &mut &'static str,
) -> Result<Maps> {
    let pre = network.spec.preprocess;
    let samples: Vec<Sample> = outputs
        .paths
        .iter()
        .enumerate()
        .map(|(row, path)| Sample {
            path: path.clone(),
            label: row,
        })
        .collect();
    let label = format!("{split} covers through the base's first layers");
    let mut frozen: Option<Frozen> = None;
    let (mut parts, mut rows) = (Vec::new(), Vec::new());
    for chunk in samples.chunks(CHUNK) {
        let loaded = load_samples(chunk, &pre, images, &DecodeLimits::default(), &label);
        if loaded.is_empty() {
            continue;
        }
        if frozen.is_none() {
            let (chosen, trial) = Frozen::choose(
                &network.net,
                &network.vs,
                &network.spec,
                network.finetune_from,
                &loaded.pixels,
                Device::Cpu,
            )?;
            if let Some(trial) = trial {
                eprintln!("{trial}");
            }
            *engine = chosen.engine_name();
            frozen = Some(chosen);
        }
        let frozen = frozen.as_mut().expect("set above");
        parts.push(frozen.encode(&loaded.pixels)?);
        rows.extend(loaded.labels);
    }
    ensure!(
        !rows.is_empty(),
        "no {split} cover could be decoded for fine-tuning"
    );
    Ok(Maps {
        maps: Tensor::cat(&parts, 0),
        rows,
    })
}

/// The owner's head on base logits, in libtorch (as [`OwnerHead::logits`]); its correction
/// is a pair of variables under the path it was made on.
struct HeadTensors {
    base_temperature: f64,
    mapping: Tensor,
    weight: Tensor,
    bias: Tensor,
}

impl HeadTensors {
    fn of(head: &OwnerHead, path: &nn::Path) -> Self {
        let tensor = |m: &Array2<f32>| {
            let (rows, cols) = m.dim();
            let values: Vec<f32> = m.iter().copied().collect();
            Tensor::from_slice(&values).view([rows as i64, cols as i64])
        };
        Self {
            base_temperature: f64::from(head.base_temperature),
            mapping: tensor(&head.mapping),
            weight: path.var_copy("weight", &tensor(&head.weight)),
            bias: path.var_copy("bias", &Tensor::from_slice(&head.bias.to_vec())),
        }
    }

    /// `start` with this correction.
    fn owner_head(&self, start: &OwnerHead) -> Result<OwnerHead> {
        let values = |t: &Tensor| Vec::<f32>::try_from(&t.detach().contiguous().flatten(0, -1));
        Ok(OwnerHead {
            weight: Array2::from_shape_vec(start.weight.dim(), values(&self.weight)?)?,
            bias: ndarray::Array1::from(values(&self.bias)?),
            ..start.clone()
        })
    }

    fn logits(&self, z: &Tensor) -> Tensor {
        let mixed = (z / self.base_temperature)
            .softmax(-1, Kind::Float)
            .matmul(&self.mapping);
        mixed.clamp_min(f64::from(f32::MIN_POSITIVE)).log() + z.matmul(&self.weight) + &self.bias
    }
}

/// Copies of the variables of layers `from..` (every variable of a store whose names are not
/// layer indices, for `from` 0).
fn copies(vs: &nn::VarStore, from: usize) -> Vec<(String, Tensor)> {
    vs.variables()
        .into_iter()
        .filter(|(name, _)| crate::spec::top_layer(name).is_none_or(|l| l >= from))
        .map(|(name, t)| (name, t.detach().copy()))
        .collect()
}

/// Copies `weights` back into the variables of `vs` of the same names (others are left).
fn restore(vs: &nn::VarStore, weights: &[(String, Tensor)]) {
    let variables = vs.variables();
    tch::no_grad(|| {
        for (name, saved) in weights {
            if let Some(variable) = variables.get(name) {
                variable.shallow_clone().copy_(saved);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn the_head_in_libtorch_gives_the_heads_logits() {
        let head = OwnerHead {
            base_temperature: 1.3,
            mapping: array![[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]],
            weight: array![[0.5, -0.2, 0.0], [0.1, 0.3, -0.4]],
            bias: array![0.05, -0.1, 0.2],
        };
        let z = array![[2.0f32, -1.0], [0.3, 0.9], [-2.0, 4.0]];
        let store = nn::VarStore::new(Device::Cpu);
        let ours = HeadTensors::of(&head, &store.root())
            .logits(&Tensor::from_slice(&z.iter().copied().collect::<Vec<_>>()).view([3, 2]));
        let ours = Vec::<f32>::try_from(&ours.flatten(0, -1)).unwrap();
        let theirs = head.logits(z.view());
        for (a, b) in ours.iter().zip(theirs.iter()) {
            assert!((a - b).abs() < 1e-5, "{a} against {b}");
        }
    }
}
