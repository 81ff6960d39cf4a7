//! Link-time set-up for the native libraries installed by scripts/setup.sh.
//!
//! - With the `train` feature, binaries get an rpath to libtorch so they run without LD_LIBRARY_PATH,
//!   and the `covergenre-train` launcher learns that folder (`COVERGENRE_LIBTORCH_LIB_DEFAULT`).
//! - The installed onnxruntime path is baked in as `COVERGENRE_ORT_DEFAULT`, the last place
//!   `infer::runtime` looks for it (after ORT_DYLIB_PATH and the executable's own folder).

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=COVERGENRE_DEPS_DIR");
    println!("cargo:rerun-if-changed=build.rs");

    let deps = std::env::var("COVERGENRE_DEPS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".deps"));
    let ort = deps.join("onnxruntime").join("libonnxruntime.so.1.31.1");
    println!("cargo:rustc-env=COVERGENRE_ORT_DEFAULT={}", ort.display());
    let weights = deps.join("weights");
    println!(
        "cargo:rustc-env=COVERGENRE_WEIGHTS_DEFAULT={}",
        weights.display()
    );

    if std::env::var_os("CARGO_FEATURE_TRAIN").is_some() {
        if let Ok(libtorch) = std::env::var("LIBTORCH") {
            let lib = PathBuf::from(libtorch).join("lib");
            // Applies to every binary, test and bench of this package.
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
            // Where the covergenre-train launcher checks for libtorch before starting the trainer.
            println!(
                "cargo:rustc-env=COVERGENRE_LIBTORCH_LIB_DEFAULT={}",
                lib.display()
            );
        }
    }
}
