//! The library recipe: learning the owner's genres from a base model (the shipped one, or
//! `--base`), so the owner's model starts from everything the base knows.
//!
//! 1. The base runs once per cover ([`super::base`]); its outputs are cached on disk, so a
//!    retrain after the owner tagged more albums runs it only over the new covers.
//! 2. The mapping and the head ([`super::owner_head`]) are fitted on the training albums.
//! 3. The recipe is chosen on the dev albums by accuracy (what `--tag` proposes): the base
//!    through the mapping, or the head at one of a few penalties toward it. A head is chosen
//!    only where it is more accurate than the mapping on dev, so a small library keeps the
//!    base's level. Its temperature and tagging threshold are fitted on dev.
//! 4. The chosen head and the base graph are written as one ONNX file with the usual contract
//!    (`<out>/best/model.onnx`, [`crate::export::owner`]), checked against the head computed
//!    here on a few dev covers; the card shows it beside the base through the mapping on the
//!    test albums.
//!
//! With `--finetune-base`, a fourth recipe joins the choice: the chosen head with the base's
//! last layers fine-tuned through it ([`super::base_finetune`]); the owner's model is then
//! that fine-tuned base with the head. Not in the choice (docs/library-learning.md, "Not done
//! yet"): the ImageNet recipe, which `--variants effnet-lite0` still trains.

use super::base::{outputs_for, BaseModel, BaseOutputs};
use super::base_finetune::finetuned_candidate;
use super::base_network::BaseNetwork;
use super::config::{FromBase, TrainConfig};
use super::owner_head::{draws_on, fit_head, learn_mapping, softmax_rows, OwnerHead};
use super::owner_scores::{compare, confusion, eval_report, score};
use crate::calibration::{
    fit_temperature, outcomes_of_logits, threshold_for_precision, TAG_MIN_KEPT, TAG_PRECISION,
};
use crate::data::base_outputs::BaseOutputCache;
use crate::data::cache::ImageCache;
use crate::data::decode::DecodeLimits;
use crate::data::{load_samples, Dataset, Sample, Split};
use crate::export::owner::{owner_model_bytes, OwnerHeadWeights, BASE_MODEL, OWNER_HEAD};
use crate::export::temperature::{with_tag_threshold, with_temperature};
use crate::metadata::{ModelMetadata, DEV_METRICS, TEST_METRICS, TRAINING_DATA};
use crate::report::learned::{Candidate, DrawsOn, LearnedReport};
use crate::report::training::{SplitMetrics, Stage, Summary, Winner};
use crate::report::EvalReport;
use crate::util::write_atomic;
use anyhow::{bail, ensure, Context, Result};
use std::collections::BTreeMap;
use std::time::Instant;

/// Penalties toward the mapping the head is fitted at (strongest first: ties go to it).
const PENALTIES: [f32; 3] = [0.1, 0.01, 0.001];
/// A base genre is listed as drawn on from this share of an owner genre's mass.
const DRAW_SHARE: f32 = 0.1;
/// Dev covers the exported model is checked on against the head computed here.
const PARITY_COVERS: usize = 8;
/// Largest |probability difference| allowed between the two.
const PARITY_LIMIT: f32 = 1e-4;
/// The run's folder holding the base through the mapping alone (`model.onnx`).
pub const MAPPING_FOLDER: &str = "base-mapping";
/// The variant name of the recipe.
pub const VARIANT: &str = "owner-head";

/// What [`run`] made, for the card.
pub struct Learned {
    pub summary: Summary,
    pub report: LearnedReport,
    /// The owner's model on dev and test, scored from the base's outputs (the same numbers as
    /// the written file gives: the parity check holds them within 1e-4).
    pub dev: Option<EvalReport>,
    pub test: Option<EvalReport>,
}

/// Learns the owner's model from the base (see the module docs) and writes the run folder:
/// `config.json`, `learned.json`, `summary.json`, `best/model.onnx`, `best/head.json`,
/// `best/card.md` (by the caller), and `base-mapping/model.onnx` (the base through the mapping
/// alone, for comparisons).
pub fn run(
    config: &TrainConfig,
    recipe: &FromBase,
    dataset: &Dataset,
    images: &ImageCache,
) -> Result<Learned> {
    std::fs::create_dir_all(&config.out)
        .with_context(|| format!("cannot create --out {}", config.out.display()))?;
    write_atomic(
        &config.out.join("config.json"),
        &serde_json::to_vec_pretty(config)?,
    )?;
    let mut stages = Vec::new();
    let started = Instant::now();
    let threads = config.threads.unwrap_or(0);
    let mut base = BaseModel::open(recipe.base.as_deref(), threads)?;
    // Rebuilt before the base's long pass, so a base that cannot be fine-tuned is said first.
    let network = match recipe.finetune {
        Some(_) => Some(
            BaseNetwork::load(&base.bytes, base.model.metadata()).map_err(|e| {
                anyhow::anyhow!(
                    "--finetune-base: the base model {} cannot be rebuilt in libtorch: {e:#}",
                    base.name
                )
            })?,
        ),
        None => None,
    };
    let cache = BaseOutputCache::new(images.dir(), &base.bytes, &base.name);
    if let Some(notice) = cache.claim() {
        eprintln!("{notice}");
    }
    let bytes_before = crate::data::library::bytes_read_by_this_process();
    let mut outputs: BTreeMap<Split, BaseOutputs> = BTreeMap::new();
    for split in Split::ALL {
        let label = format!("{} covers through the base model", split.as_str());
        let found = outputs_for(&mut base, dataset.split(split), &cache, images, &label)?;
        for bad in &found.skipped {
            eprintln!("skipped {}: {}", bad.path.display(), bad.reason);
        }
        outputs.insert(split, found);
    }
    let bytes_read = bytes_before
        .zip(crate::data::library::bytes_read_by_this_process())
        .map(|(before, after)| after.saturating_sub(before));
    let computed: usize = outputs.values().map(|o| o.computed).sum();
    let covers: usize = outputs.values().map(|o| o.labels.len()).sum();
    eprintln!(
        "base model {}: ran on {computed} covers, {} from the cache ({})",
        base.name,
        covers - computed,
        cache
            .dir()
            .map_or("no cache folder".into(), |d| d.display().to_string())
    );
    stages.push(stage(
        format!(
            "base model over the covers ({computed} run, {} cached)",
            covers - computed
        ),
        started,
    ));

    let fitting = Instant::now();
    let (train, dev) = (&outputs[&Split::Train], &outputs[&Split::Dev]);
    ensure!(
        !train.labels.is_empty(),
        "--data {}: no training cover could be read",
        config.data.display()
    );
    ensure!(
        !dev.labels.is_empty(),
        "--data {}: no dev cover could be read",
        config.data.display()
    );
    let temperature = base.temperature as f32;
    let p_train = softmax_rows(&train.logits.mapv(|z| z / temperature));
    let mapping = learn_mapping(
        p_train.view(),
        &train.labels,
        base.genres(),
        &dataset.genres,
    );
    let start = OwnerHead::mapping_only(temperature, mapping);
    let mut candidates = vec![("base through the mapping".to_string(), start.clone())];
    for penalty in PENALTIES {
        let head = fit_head(&start, train.logits.view(), &train.labels, penalty);
        candidates.push((format!("head, penalty {penalty}"), head));
    }
    let mut scored: Vec<Candidate> = candidates
        .iter()
        .map(|(name, head)| score(name, &head.logits(dev.logits.view()), &dev.labels))
        .collect();
    let mut chosen = choose(&scored);
    stages.push(stage(
        "mapping and head (fitted on train, chosen on dev)".into(),
        fitting,
    ));
    let classes = dataset.genres.len();
    let mut finetune_record = None;
    let mut tuned = None;
    if let (Some(settings), Some(network)) = (&recipe.finetune, network) {
        let finetuning = Instant::now();
        let start = candidates[chosen].1.clone();
        let (mut record, candidate) = finetuned_candidate(
            (network, &base),
            &start,
            &outputs,
            dataset,
            images,
            settings,
            threads,
        )?;
        if let Some(mut candidate) = candidate {
            candidate.align(&mut outputs);
            let gain = candidate.dev_gain(&start, &outputs[&Split::Dev], classes);
            eprintln!(
                "fine-tuned candidate: dev accuracy {:+.3} [{:+.3}, {:+.3}] against {}: {}",
                gain.estimate,
                gain.low,
                gain.high,
                candidates[chosen].0,
                match gain.low > 0.0 {
                    true => "chosen",
                    false => "not clearly better, not chosen",
                }
            );
            record.dev_gain = Some(gain);
            record.chosen = gain.low > 0.0;
            scored.push(candidate.score.clone());
            candidates.push((candidate.score.name.clone(), candidate.head.clone()));
            if record.chosen {
                chosen = scored.len() - 1;
                candidate.add_split(Split::Test, dataset, images)?;
                candidate.align(&mut outputs);
                tuned = Some(candidate);
            }
        }
        finetune_record = Some(record);
        stages.push(stage(
            "fine-tuning the base's last layers".into(),
            finetuning,
        ));
    }
    // The base outputs the chosen head reads: the fine-tuned base's, or the base's own.
    let chosen_outputs = |split: Split| -> Option<BaseOutputs> {
        tuned
            .as_ref()
            .map_or(&outputs, |t| &t.outputs)
            .get(&split)
            .filter(|o| !o.labels.is_empty())
            .cloned()
    };
    let (chosen_dev, chosen_test) = (chosen_outputs(Split::Dev), chosen_outputs(Split::Test));
    let dev = &outputs[&Split::Dev];
    let (chosen_name, head) = &candidates[chosen];
    eprintln!(
        "chosen on dev: {chosen_name} (accuracy {:.3})",
        scored[chosen].dev_accuracy
    );
    let chosen_dev = chosen_dev.as_ref().unwrap_or(dev);
    let dev_logits = head.logits(chosen_dev.logits.view());
    let owner_temperature = fit_temperature(dev_logits.view(), &chosen_dev.labels);
    let dev_outcomes = outcomes_of_logits(dev_logits.view(), &chosen_dev.labels, owner_temperature);
    let threshold = threshold_for_precision(&dev_outcomes, TAG_PRECISION, TAG_MIN_KEPT);

    let test = chosen_test
        .as_ref()
        .zip(outputs.get(&Split::Test))
        .map(|(chosen_test, t)| compare((head, chosen_test), &start, t, classes));
    let report = LearnedReport {
        base: base_file_name(&base),
        base_variant: base.model.metadata().variant.clone(),
        base_passes: computed,
        from_cache: covers - computed,
        bytes_read,
        candidates: scored.clone(),
        chosen: chosen_name.clone(),
        draws_on: draws_on(
            p_train.view(),
            &outputs[&Split::Train].labels,
            classes,
            DRAW_SHARE,
        )
        .into_iter()
        .zip(dataset.genres.iter())
        .map(|(draws, genre)| DrawsOn {
            genre: genre.name.clone(),
            base_genres: draws
                .into_iter()
                .map(|(b, share)| {
                    let name = base
                        .genres()
                        .get(b)
                        .map_or(String::new(), |g| g.name.clone());
                    (name, f64::from(share))
                })
                .collect(),
        })
        .collect(),
        test: test.clone(),
        finetune: finetune_record,
    };

    let exporting = Instant::now();
    let dev_metrics =
        SplitMetrics::from_confusion(&confusion(&dev_logits, &chosen_dev.labels, classes));
    let test_metrics = chosen_test.as_ref().map(|t| {
        SplitMetrics::from_confusion(&confusion(
            &head.logits(t.logits.view()),
            &t.labels,
            classes,
        ))
    });
    let best = config.out.join("best");
    let metadata = owner_metadata(dataset, &base, &report, dev_metrics, test_metrics)?;
    let model = write_model(
        &best,
        tuned.as_ref().map_or(&base, |t| &t.base),
        head,
        &metadata,
        owner_temperature,
        threshold.map(|r| r.threshold),
    )?;
    let parity = parity_check(
        &model,
        tuned.as_mut().map_or(&mut base, |t| &mut t.base),
        head,
        owner_temperature,
        dataset.split(Split::Dev),
        images,
    )?;
    eprintln!(
        "{}: temperature {owner_temperature:.4} fitted on {} dev covers; parity with the head on {} dev covers: max |probability difference| {parity:.2e}",
        best.join("model.onnx").display(),
        dev.labels.len(),
        PARITY_COVERS.min(dev.labels.len())
    );
    write_atomic(
        &best.join("head.json"),
        &serde_json::to_vec_pretty(&head.to_json())?,
    )?;
    // The base through the mapping alone, beside it, for comparisons on other covers.
    let mapped_dev = start.logits(dev.logits.view());
    let mapped_temperature = fit_temperature(mapped_dev.view(), &dev.labels);
    let mut mapped_metadata = metadata.clone();
    mapped_metadata.variant = format!("base-mapping({})", report.base_variant);
    for key in [DEV_METRICS, TEST_METRICS] {
        mapped_metadata.extra.remove(key);
    }
    write_model(
        &config.out.join(MAPPING_FOLDER),
        &base,
        &start,
        &mapped_metadata,
        mapped_temperature,
        None,
    )?;
    write_atomic(
        &config.out.join("learned.json"),
        &serde_json::to_vec_pretty(&report)?,
    )?;
    stages.push(stage("export, parity check, calibration".into(), exporting));

    let skipped = outputs.values().flat_map(|o| o.skipped.clone()).collect();
    let mut summary = Summary::new(Vec::new(), skipped);
    summary.winner = Some(Winner {
        variant: VARIANT.into(),
        run: 1,
        dev_macro_f1: dev_metrics.macro_f1,
        test: test_metrics,
    });
    summary.stages = stages;
    let model = best.join("model.onnx");
    let report_on = |split: Split, covers: Option<&BaseOutputs>| {
        covers.map(|o| {
            let name = format!("{} ({})", config.data.display(), split.as_str());
            eval_report(&model, name, &dataset.genres, (head, owner_temperature), o)
        })
    };
    Ok(Learned {
        dev: report_on(Split::Dev, Some(chosen_dev)),
        test: report_on(Split::Test, chosen_test.as_ref()),
        summary,
        report,
    })
}

/// The recipe to keep: the most accurate on dev; on a tie the first (the mapping, then the
/// strongest penalty). Breaking ties by dev macro-F1 instead was measured and lost held-out
/// top-1 (docs/notes-learn.md): the stronger pull toward the mapping is the safer choice.
fn choose(scored: &[Candidate]) -> usize {
    (0..scored.len())
        .rev()
        .max_by(|&a, &b| scored[a].dev_accuracy.total_cmp(&scored[b].dev_accuracy))
        .unwrap_or(0)
}

/// The base's file name (the folder it sat in says nothing to a user of the model).
fn base_file_name(base: &BaseModel) -> String {
    std::path::Path::new(&base.name)
        .file_name()
        .map_or(base.name.clone(), |n| n.to_string_lossy().into_owned())
}

/// What the owner's model records about itself.
fn owner_metadata(
    dataset: &Dataset,
    base: &BaseModel,
    report: &LearnedReport,
    dev: SplitMetrics,
    test: Option<SplitMetrics>,
) -> Result<ModelMetadata> {
    use sha2::Digest;
    let digest: String = sha2::Sha256::digest(&base.bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut extra = BTreeMap::new();
    extra.insert(
        BASE_MODEL.to_string(),
        serde_json::json!({
            "file": report.base,
            "variant": report.base_variant,
            "sha256": digest,
            "temperature": base.temperature,
            "genres": base.genres().slugs(),
        })
        .to_string(),
    );
    extra.insert(
        OWNER_HEAD.to_string(),
        serde_json::json!({
            "recipe": report.chosen,
            "candidates": report.candidates,
            "draws_on": report.draws_on,
        })
        .to_string(),
    );
    extra.insert(
        TRAINING_DATA.into(),
        dataset.training_data_summary().to_string(),
    );
    extra.insert(DEV_METRICS.into(), serde_json::json!(dev).to_string());
    if let Some(test) = test {
        extra.insert(TEST_METRICS.into(), serde_json::json!(test).to_string());
    }
    Ok(ModelMetadata {
        genres: dataset.genres.clone(),
        preprocess: *base.model.preprocess(),
        variant: format!("{VARIANT}({})", report.base_variant),
        extra,
    })
}

/// Writes `<best>/model.onnx` (base + head, temperature and tagging threshold baked in) and
/// returns its bytes.
fn write_model(
    best: &std::path::Path,
    base: &BaseModel,
    head: &OwnerHead,
    metadata: &ModelMetadata,
    temperature: f64,
    threshold: Option<f64>,
) -> Result<Vec<u8>> {
    let (mapping, weight) = (
        head.mapping.as_standard_layout(),
        head.weight.as_standard_layout(),
    );
    let weights = OwnerHeadWeights {
        base_genres: head.mapping.nrows(),
        owner_genres: head.mapping.ncols(),
        mapping: mapping.as_slice().context("the mapping is contiguous")?,
        weight: weight
            .as_slice()
            .context("the head's weight is contiguous")?,
        bias: head
            .bias
            .as_slice()
            .context("the head's bias is contiguous")?,
    };
    let bytes = owner_model_bytes(&base.bytes, weights, metadata)?;
    let bytes = with_tag_threshold(&with_temperature(&bytes, temperature)?, threshold)?;
    write_atomic(&best.join("model.onnx"), &bytes)?;
    let (slugs, names) = crate::export::CheckpointInfo::genres_of(&metadata.genres);
    write_atomic(
        &best.join("genres.json"),
        &serde_json::to_vec_pretty(&slugs)?,
    )?;
    if let Some(names) = names {
        write_atomic(
            &best.join(crate::export::GENRE_NAMES_FILE),
            &serde_json::to_vec_pretty(&names)?,
        )?;
    }
    Ok(bytes)
}

/// Runs the written model on a few dev covers and compares its probabilities with the head's
/// on the base's outputs for the same pixels; returns the largest difference.
fn parity_check(
    model: &[u8],
    base: &mut BaseModel,
    head: &OwnerHead,
    temperature: f64,
    dev: &[Sample],
    images: &ImageCache,
) -> Result<f32> {
    let pre = *base.model.preprocess();
    let few = &dev[..PARITY_COVERS.min(dev.len())];
    let loaded = load_samples(few, &pre, images, &DecodeLimits::default(), "parity check");
    if loaded.is_empty() {
        return Ok(0.0);
    }
    let mut owner = crate::infer::Model::from_bytes(model, 1, "the owner's model")?;
    let theirs = owner.predict(&loaded.pixels, loaded.len())?.probabilities;
    let z = base.model.predict(&loaded.pixels, loaded.len())?.logits;
    let ours = softmax_rows(&head.logits(z.view()).mapv(|v| v / temperature as f32));
    let worst = (&theirs - &ours).iter().fold(0.0f32, |m, d| m.max(d.abs()));
    if worst > PARITY_LIMIT {
        bail!("the exported owner model differs from the head by {worst:.2e} (limit {PARITY_LIMIT:.0e})");
    }
    Ok(worst)
}

fn stage(name: String, started: Instant) -> Stage {
    Stage {
        name,
        seconds: started.elapsed().as_secs_f64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(name: &str, dev_accuracy: f64, dev_macro_f1: f64) -> Candidate {
        Candidate {
            name: name.into(),
            dev_accuracy,
            dev_macro_f1,
            dev_top3: 0.0,
        }
    }

    #[test]
    fn the_most_accurate_recipe_wins_and_ties_go_to_the_mapping_then_the_strongest_penalty() {
        let scored = [
            candidate("mapping", 0.50, 0.40),
            candidate("head 0.1", 0.55, 0.45),
            candidate("head 0.01", 0.55, 0.50),
            candidate("head 0.001", 0.52, 0.60),
        ];
        assert_eq!(choose(&scored), 1);
        let level = [candidate("mapping", 0.5, 0.4), candidate("head", 0.5, 0.4)];
        assert_eq!(choose(&level), 0, "a full tie keeps the mapping");
        let worse = [candidate("mapping", 0.5, 0.3), candidate("head", 0.49, 0.6)];
        assert_eq!(choose(&worse), 0, "a less accurate head is never chosen");
    }
}
