//! One stage of classify alone, for scripts/bench-classify.sh to time (its CPU time over the
//! image count gives the stage's core-time per image):
//!
//!     bench-stages decode DIR SIZE THREADS   decode + resize every cover under DIR, nothing else
//!     bench-stages library DIR SIZE THREADS  the same for the album covers of a music library
//!                                            (cover files, or art embedded in audio tags)
//!     bench-stages infer MODEL N THREADS     N images through the model in batches of 32

use anyhow::{Context, Result};
use covergenre::covers::{album_sources, image_sources, CoverDecoder, Source};
use covergenre::failure::Failure;
use covergenre::infer::pipeline::Decoder;
use covergenre::infer::Model;
use covergenre::preprocess::{Normalisation, Preprocess};
use rayon::prelude::*;
use std::time::Instant;

fn arg(args: &[String], i: usize) -> Result<&str> {
    args.get(i)
        .map(String::as_str)
        .context("usage: bench-stages decode|library DIR SIZE THREADS | infer MODEL N THREADS")
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let threads: usize = arg(&args, 3)?.parse()?;
    let started = Instant::now();
    let images = match arg(&args, 0)? {
        "decode" => {
            let sources = image_sources(vec![arg(&args, 1)?.into()]);
            decode(sources, arg(&args, 2)?.parse()?, threads)?
        }
        "library" => {
            let sources = album_sources(arg(&args, 1)?.into());
            decode(sources, arg(&args, 2)?.parse()?, threads)?
        }
        "infer" => infer(arg(&args, 1)?, arg(&args, 2)?.parse()?, threads)?,
        other => anyhow::bail!("unknown stage {other}"),
    };
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{images} images in {seconds:.2} s ({:.1} images/s)",
        images as f64 / seconds
    );
    Ok(())
}

fn decode(
    sources: impl Iterator<Item = Result<Source, Failure>>,
    size: u32,
    threads: usize,
) -> Result<usize> {
    let decoder = CoverDecoder::new(Preprocess::square(size, Normalisation::UNIT));
    let sources: Vec<_> = sources.filter_map(Result::ok).collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let decoded = pool.install(|| {
        sources
            .into_par_iter()
            .filter_map(|mut s| decoder.decode(&mut s).ok())
            .count()
    });
    Ok(decoded)
}

fn infer(model: &str, n: usize, threads: usize) -> Result<usize> {
    let mut model = Model::open(model.as_ref(), threads)?;
    let len = model.preprocess().image_len();
    // Content does not change the cost of a CNN; a fixed pattern keeps runs comparable.
    let batch: Vec<u8> = (0..32 * len).map(|i| (i * 31 % 251) as u8).collect();
    let mut done = 0;
    while done < n {
        let count = (n - done).min(32);
        model.predict(&batch[..count * len], count)?;
        done += count;
    }
    Ok(done)
}
