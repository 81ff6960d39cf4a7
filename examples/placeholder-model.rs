//! Writes models/covergenre.onnx, the PLACEHOLDER built-in model of covergenre-classify until a
//! trained one replaces it: a 12-genre MUMU model that looks only at the mean colour of a 64x64
//! cover (GlobalAvgPool -> Logits) with hand-set colour hints (dark -> metal, bright -> classical,
//! green -> reggae...). It is not a genre classifier; it keeps the binary self-contained.
//!
//!     cargo run --example placeholder-model

use covergenre::export::{metadata_for, onnx_model_bytes, Weights};
use covergenre::genres::GenreSet;
use covergenre::preprocess::{Normalisation, Preprocess};
use covergenre::spec::{variant, Layer};
use std::collections::BTreeMap;

fn main() -> anyhow::Result<()> {
    let mut spec = variant("baseline").expect("the baseline variant exists");
    spec.name = "placeholder-colour".into();
    spec.description = "placeholder: mean colour only, hand-set weights".into();
    spec.preprocess = Preprocess::square(64, Normalisation::UNIT);
    spec.layers = vec![Layer::GlobalAvgPool, Layer::Flatten, Layer::Logits];
    // Per MUMU genre (label order): weights on mean R, G, B in [0, 1], and a bias.
    let hints: [[f32; 4]; 12] = [
        [1.0, -1.0, -1.0, 0.5],  // alternative-rock: reddish
        [1.0, 1.0, 1.0, -1.5],   // christian: light
        [2.0, 2.0, 2.0, -4.0],   // classical: bright
        [2.0, 1.0, -2.0, 0.0],   // country: warm
        [-1.0, -2.0, 3.0, 0.0],  // dance-electronic: blue
        [1.0, 1.0, -1.0, -0.5],  // folk: earthy
        [-1.0, -1.0, 1.0, 0.5],  // jazz: cool, dark
        [3.0, 0.0, -1.0, -1.0],  // latin-music: strong red
        [-3.0, -3.0, -3.0, 3.0], // metal: dark
        [0.0, -1.0, 1.0, 0.0],   // r-and-b: purple
        [-1.0, -1.0, -1.0, 1.5], // rap-hip-hop: dim
        [-1.0, 3.0, -1.0, -0.5], // reggae: green
    ];
    let mut weights = Weights::new();
    let matrix = hints.iter().flat_map(|h| h[..3].to_vec()).collect();
    weights.insert("2.weight".into(), (vec![12, 3], matrix));
    weights.insert(
        "2.bias".into(),
        (vec![12], hints.iter().map(|h| h[3]).collect()),
    );
    let genres = GenreSet::mumu();
    let mut extra = BTreeMap::new();
    extra.insert(
        covergenre::metadata::TRAINING_DATA.into(),
        r#"{"note":"placeholder: not trained"}"#.into(),
    );
    let metadata = metadata_for(&spec, &genres, extra);
    let bytes = onnx_model_bytes(&spec, &genres, &weights, &metadata)?;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/covergenre.onnx");
    covergenre::util::write_atomic(&path, &bytes)?;
    println!("wrote {} ({} bytes)", path.display(), bytes.len());
    Ok(())
}
