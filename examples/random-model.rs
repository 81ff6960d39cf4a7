//! Writes a built-in variant (default: the study's `baseline`) with seeded random weights as an
//! ONNX model, for benchmarks: the compute is the same as a trained export of that variant.
//!
//!     cargo run --release --example random-model -- baseline /tmp/baseline.onnx

use anyhow::{bail, Context, Result};
use covergenre::export::{metadata_for, onnx_model_bytes, Weights};
use covergenre::genres::GenreSet;
use covergenre::spec::{output_shapes, param_prefix, variant, Layer};
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "baseline".into());
    let out = args
        .next()
        .context("usage: random-model VARIANT OUT.onnx")?;
    let spec = variant(&name).with_context(|| format!("no variant named {name}"))?;
    let genres = GenreSet::mumu();
    let shapes = output_shapes(&spec, genres.len()).map_err(anyhow::Error::msg)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut random = |shape: Vec<usize>, scale: f32| {
        let n = shape.iter().product();
        let values = (0..n).map(|_| rng.random_range(-scale..scale)).collect();
        (shape, values)
    };
    let mut weights = Weights::new();
    let mut input = (
        3,
        spec.preprocess.height as usize,
        spec.preprocess.width as usize,
    );
    for (i, layer) in spec.layers.iter().enumerate() {
        let prefix = param_prefix(&[i]);
        let fan_in = |n: usize| 1.0 / (n as f32).sqrt();
        match layer {
            Layer::Conv {
                out,
                kernel,
                groups,
                bias,
                ..
            } => {
                let per_group = input.0 / groups;
                let fan = per_group * kernel * kernel;
                weights.insert(
                    format!("{prefix}.weight"),
                    random(vec![*out, per_group, *kernel, *kernel], fan_in(fan)),
                );
                if *bias {
                    weights.insert(format!("{prefix}.bias"), random(vec![*out], 0.1));
                }
            }
            Layer::BatchNorm => {
                for (param, value) in [
                    ("weight", 1.0),
                    ("bias", 0.0),
                    ("running_mean", 0.0),
                    ("running_var", 1.0),
                ] {
                    weights.insert(
                        format!("{prefix}.{param}"),
                        (vec![input.0], vec![value; input.0]),
                    );
                }
            }
            Layer::Dense { .. } | Layer::Logits => {
                let (out, features) = (shapes[i].0, input.0 * input.1 * input.2);
                weights.insert(
                    format!("{prefix}.weight"),
                    random(vec![out, features], fan_in(features)),
                );
                weights.insert(format!("{prefix}.bias"), random(vec![out], 0.1));
            }
            Layer::Residual { .. } => bail!("variants with residual blocks are not supported here"),
            _ => {}
        }
        input = shapes[i];
    }
    let metadata = metadata_for(&spec, &genres, BTreeMap::new());
    let bytes = onnx_model_bytes(&spec, &genres, &weights, &metadata)?;
    covergenre::util::write_atomic(std::path::Path::new(&out), &bytes)?;
    println!(
        "wrote {out}: {name} with random weights ({} bytes)",
        bytes.len()
    );
    Ok(())
}
