//! With feature `llama`: where the `tessera` binary finds llama.cpp's shared libraries
//! (`libllama`, `libggml-base`, …; llama.cpp's run-time CPU dispatch needs them shared).
//! Two run paths are written into the binary: `$ORIGIN` (the libraries copied beside the
//! binary, for a packaged copy) and the directory where `llama-cpp-sys-2` built them (a
//! source build run in place, as `cargo run --features llama` does).

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_LLAMA").is_none() {
        return;
    }
    println!("cargo:rustc-link-arg-bins=-Wl,-rpath,$ORIGIN");
    if let Some(dir) = std::env::var_os("OUT_DIR").and_then(|out| llama_lib_dir(Path::new(&out))) {
        println!("cargo:rustc-link-arg-bins=-Wl,-rpath,{}", dir.display());
    } else {
        println!("cargo:warning=llama.cpp's libraries were not found; put them beside the tessera binary");
    }
}

/// `<target>/<profile>/build/llama-cpp-sys-2-*/out/build/bin` holding `libggml-base.so.0`
/// (OUT_DIR is `<target>/<profile>/build/tessera-cli-*/out`); the newest if several.
fn llama_lib_dir(out_dir: &Path) -> Option<PathBuf> {
    let build = out_dir.parent()?.parent()?;
    std::fs::read_dir(build)
        .ok()?
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("llama-cpp-sys-2-")
        })
        .map(|e| e.path().join("out").join("build").join("bin"))
        .filter(|dir| dir.join("libggml-base.so.0").is_file())
        .max_by_key(|dir| {
            std::fs::metadata(dir.join("libggml-base.so.0"))
                .and_then(|m| m.modified())
                .ok()
        })
}
