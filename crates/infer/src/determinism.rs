//! What makes two outputs comparable byte for byte: the output hash and the kernel path id.
//!
//! On one machine candle's output is bit-identical across runs, thread counts and batch
//! padding. Across CPUs it is not: candle and gemm pick kernels by CPU feature at run time
//! (FACTS.md, "Determinism"). So a provider publishes [`kernel_path_id`] with its
//! [`output_hash`]; a checker whose id is equal may compare hashes exactly, any other checker
//! must use the tolerant check ([`crate::check_embedding`]).

use sha2::{Digest, Sha256};

/// Name of the runtime whose kernels produce the outputs.
pub const RUNTIME: &str = "candle";
/// candle's version, pinned exactly in Cargo.toml (kernels may change between versions).
pub const CANDLE_VERSION: &str = "0.11.1";
/// gemm's version (candle's matrix multiply), as resolved with candle 0.11.1.
pub const GEMM_VERSION: &str = "0.19";

/// SHA-256 of the values' little-endian IEEE-754 bytes, in order.
pub fn output_hash(values: &[f32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for v in values {
        hasher.update(v.to_le_bytes());
    }
    hasher.finalize().into()
}

/// SHA-256 of the token ids' little-endian `u32` bytes, in order: the output hash of a
/// generation. Greedy decoding makes it a function of the prompt, the model and the kernel
/// path (see [`generation_kernel_path_id`]).
pub fn tokens_hash(ids: &[u32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for id in ids {
        hasher.update(id.to_le_bytes());
    }
    hasher.finalize().into()
}

/// [`kernel_path_id`] for text generation on candle's quantized llama: the same CPU path,
/// with the weights' storage type last (`q4_1`: candle's scalar Q4_1 × Q8_1 dot product).
pub fn generation_kernel_path_id(weights: &str) -> String {
    let id = kernel_path_id();
    let base = id.strip_suffix("/f32").unwrap_or(&id);
    format!("{base}/{weights}")
}

/// Identifies the arithmetic path this build takes on this CPU: equal ids mean equal bytes
/// (for the same model files and inputs), so outputs may be compared exactly.
///
/// It names the runtime and versions, the architecture, the CPU features candle and gemm
/// branch on at run time (candle's vector ops on AVX2, f16 on AVX2+F16C; gemm's f32 kernel on
/// FMA, or AVX-512 only if gemm's `x86-v4` feature is on, which this crate does not enable),
/// and the target features the binary was compiled with (they gate `cfg!` branches).
/// The thread count is not part of it: it does not change the bytes (tested).
pub fn kernel_path_id() -> String {
    format!(
        "{RUNTIME}-{CANDLE_VERSION}/gemm-{GEMM_VERSION}/{}/{}/f32",
        std::env::consts::ARCH,
        cpu_path()
    )
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
fn cpu_path() -> String {
    let avx2 = std::arch::is_x86_feature_detected!("avx2");
    let f16c = std::arch::is_x86_feature_detected!("f16c");
    let fma = std::arch::is_x86_feature_detected!("fma");
    let vec = if avx2 { "avx2" } else { "scalar" };
    let f16 = if avx2 && f16c { "avx2+f16c" } else { "scalar" };
    let gemm = if fma { "fma" } else { "scalar" };
    format!("vec={vec},f16={f16},gemm={gemm},built={}", built_features())
}

#[cfg(target_arch = "aarch64")]
fn cpu_path() -> String {
    let neon = std::arch::is_aarch64_feature_detected!("neon");
    let fp16 = std::arch::is_aarch64_feature_detected!("fp16");
    let fcma = std::arch::is_aarch64_feature_detected!("fcma");
    format!(
        "neon={neon},fp16={fp16},fcma={fcma},built={}",
        built_features()
    )
}

#[cfg(not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")))]
fn cpu_path() -> String {
    format!("scalar,built={}", built_features())
}

/// Compile-time target features that change which code candle and gemm contain.
fn built_features() -> String {
    let features: [(&str, bool); 6] = [
        ("avx", cfg!(target_feature = "avx")),
        ("avx2", cfg!(target_feature = "avx2")),
        ("fma", cfg!(target_feature = "fma")),
        ("f16c", cfg!(target_feature = "f16c")),
        ("avx512f", cfg!(target_feature = "avx512f")),
        ("neon", cfg!(target_feature = "neon")),
    ];
    let on: Vec<&str> = features
        .iter()
        .filter(|(_, on)| *on)
        .map(|(name, _)| *name)
        .collect();
    if on.is_empty() {
        "baseline".to_owned()
    } else {
        on.join("+")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_hash_is_sha256_of_le_bytes() {
        // sha256 of the empty string.
        assert_eq!(
            hex::encode(output_hash(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let bytes: Vec<u8> = [1.0f32, -2.5]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let direct: [u8; 32] = Sha256::digest(&bytes).into();
        assert_eq!(output_hash(&[1.0, -2.5]), direct);
        // -0.0 and 0.0 are different bytes, so different hashes.
        assert_ne!(output_hash(&[0.0]), output_hash(&[-0.0]));
    }

    #[test]
    fn tokens_hash_is_sha256_of_le_u32() {
        let direct: [u8; 32] = Sha256::digest([1u8, 0, 0, 0, 2, 1, 0, 0]).into();
        assert_eq!(tokens_hash(&[1, 258]), direct);
        assert_ne!(tokens_hash(&[1, 2]), tokens_hash(&[2, 1]));
        let id = generation_kernel_path_id("q4_1");
        assert!(id.ends_with("/q4_1") && !id.contains("/f32"), "{id}");
    }

    #[test]
    fn kernel_path_id_is_stable_and_names_the_runtime() {
        let id = kernel_path_id();
        assert_eq!(id, kernel_path_id());
        assert!(id.starts_with("candle-0.11.1/"), "{id}");
        assert!(id.contains(std::env::consts::ARCH), "{id}");
    }
}
