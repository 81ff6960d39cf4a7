//! Writes a run's model card (`<out>/best/card.md` and `card.json`, see
//! [`crate::report::card`]): the exported, calibrated winner is evaluated with onnxruntime on
//! dev and on test, exactly as `covergenre-eval` would, and the card puts those numbers beside
//! what the model was trained on and how long each stage took.

use super::config::TrainConfig;
use crate::data::{Dataset, Split};
use crate::evaluate::model::evaluate_model_file;
use crate::evaluate::EvalSettings;
use crate::infer::pipeline::PipelineOptions;
use crate::report::card::Card;
use crate::report::learned::LearnedReport;
use crate::report::training::Summary;
use crate::report::EvalReport;
use crate::util::write_atomic;
use anyhow::Result;

/// Evaluates `<out>/best/model.onnx` on dev and test and writes the card beside it.
pub fn write_card(config: &TrainConfig, dataset: &Dataset, summary: &Summary) -> Result<()> {
    let best = config.out.join("best");
    let model = best.join("model.onnx");
    let settings = EvalSettings {
        pipeline: PipelineOptions {
            threads: config
                .threads
                .unwrap_or_else(|| PipelineOptions::default().threads),
            ..PipelineOptions::default()
        },
        keep_errors: 5,
    };
    let evaluate = |split: Split| -> Result<Option<EvalReport>> {
        let samples = dataset.split(split);
        if samples.is_empty() {
            return Ok(None);
        }
        let covers = format!("{} ({})", config.data.display(), split.as_str());
        evaluate_model_file(&model, dataset, samples, &covers, &settings).map(Some)
    };
    let dev = evaluate(Split::Dev)?;
    let test = evaluate(Split::Test)?;
    write_card_with(
        config,
        dataset,
        summary,
        (dev.as_ref(), test.as_ref()),
        None,
    )
}

/// Writes the card from reports on dev and test made elsewhere (a model learned from a base
/// scores its covers from the base's cached outputs: [`super::learn`]), with what learning
/// from the base found (`learned`).
pub fn write_card_with(
    config: &TrainConfig,
    dataset: &Dataset,
    summary: &Summary,
    (dev, test): (Option<&EvalReport>, Option<&EvalReport>),
    learned: Option<&LearnedReport>,
) -> Result<()> {
    let best = config.out.join("best");
    let mut card = Card::new(summary, &config.command, config.data.display().to_string());
    card.library = dataset.library.as_ref();
    card.covers = Split::ALL.map(|s| dataset.split(s).len());
    card.dev = dev;
    card.test = test;
    card.learned = learned;
    write_atomic(&best.join("card.md"), card.markdown().as_bytes())?;
    write_atomic(&best.join("card.json"), &serde_json::to_vec_pretty(&card)?)?;
    eprintln!("model card: {}", best.join("card.md").display());
    Ok(())
}
