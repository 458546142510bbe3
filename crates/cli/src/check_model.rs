//! `tessera model check`: anyone can check that an output came from a registered model.
//!
//! The claim is the JSON `tessera --json model run` prints (or any JSON with the same
//! fields): the input, and the embedding or the generated token ids. The model's files are
//! fetched and verified by CID as for `run`, then the runtime's tolerant check decides:
//! cosine for embeddings, the teacher-forced logit margins for generation (with llama.cpp
//! over bf16 weights in a `--features llama` build, else candle's f32 path; decision 0011).
//! A claim that fails exits non-zero after the report.

use std::path::PathBuf;

use anyhow::{bail, Context};
use tessera_infer::{
    check_embedding, check_generation, CheckParams, Embedder, TeacherForcing,
    DEFAULT_COSINE_THRESHOLD, DEFAULT_DELTA, DEFAULT_EPSILON,
};
use tessera_infer::{RUNTIME_BERT, RUNTIME_GGUF};
use tessera_rpc::RpcClient;

use crate::{
    home::Home,
    run_model::{fetch_model, LocalModel},
    Output,
};

/// The generation checker of this build (decision 0011): llama.cpp over bf16 weights, or
/// candle's f32 path with `--reference` or in a build without llama.cpp.
fn load_checker(
    dir: &std::path::Path,
    manifest: &tessera_infer::Manifest,
    reference: bool,
) -> Result<Box<dyn TeacherForcing>, Box<tessera_infer::InferError>> {
    #[cfg(feature = "llama")]
    if !reference {
        let checker = tessera_infer::LlamaChecker::load_verified(dir, manifest)?;
        return Ok(Box::new(checker));
    }
    let _ = reference;
    Ok(Box::new(tessera_infer::F32Llama::load_verified(
        dir, manifest,
    )?))
}

/// Largest claim file read (an embedding or a few thousand token ids is far less).
const MAX_CLAIM_BYTES: u64 = 16 * 1024 * 1024;

#[derive(clap::Args)]
pub struct CheckArgs {
    /// Model name or id.
    model: String,
    /// The claim: a file holding the JSON `tessera --json model run` printed, or `-` for
    /// standard input.
    claim: PathBuf,
    /// Largest logit margin an honest token may have (generation).
    #[arg(long, default_value_t = DEFAULT_DELTA)]
    delta: f32,
    /// Largest share of positions over the margin a passing claim may have (generation).
    #[arg(long, default_value_t = DEFAULT_EPSILON)]
    epsilon: f64,
    /// Smallest cosine to the checker's own vector a passing claim may have (embeddings).
    #[arg(long, default_value_t = DEFAULT_COSINE_THRESHOLD)]
    cosine: f64,
    /// Check a generation on candle's f32 path, independent of llama.cpp (the second
    /// opinion; ~2x slower). Builds without llama.cpp always do.
    #[arg(long)]
    reference: bool,
}

/// The fields of a claim this command reads; others (text, times, hashes) are ignored.
#[derive(serde::Deserialize)]
struct Claim {
    /// The manifest the claim says it ran; must be the model's current one if present.
    manifest_cid: Option<String>,
    input: String,
    system: Option<String>,
    token_ids: Option<Vec<u32>>,
    embedding: Option<Vec<f32>>,
    kernel_path_id: Option<String>,
}

pub async fn check(
    home: &Home,
    client: &RpcClient,
    args: CheckArgs,
    out: &Output,
) -> anyhow::Result<()> {
    let claim = read_claim(&args.claim)?;
    let local = fetch_model(home, client, &args.model).await?;
    if let Some(cid) = &claim.manifest_cid {
        if *cid != local.manifest_cid.to_string() {
            bail!(
                "the claim was made with manifest {cid}, but {} now has manifest {}: check it against the model version it names",
                local.label,
                local.manifest_cid
            );
        }
    }
    match local.manifest.runtime.as_str() {
        RUNTIME_BERT => check_embedding_claim(client, &local, &claim, &args, out).await,
        RUNTIME_GGUF => check_generation_claim(client, &local, &claim, &args, out).await,
        other => bail!("runtime {other:?} cannot be checked here"),
    }
}

fn read_claim(path: &std::path::Path) -> anyhow::Result<Claim> {
    let what = path.display();
    let bytes = crate::input::read_limited(
        path,
        MAX_CLAIM_BYTES,
        &format!("the claim {what}"),
        "; a claim is one output",
    )?;
    serde_json::from_slice(&bytes).with_context(|| {
        format!("the claim {what} is not the JSON `tessera --json model run` prints (it needs `input` and `token_ids` or `embedding`)")
    })
}

async fn check_embedding_claim(
    client: &RpcClient,
    local: &LocalModel,
    claim: &Claim,
    args: &CheckArgs,
    out: &Output,
) -> anyhow::Result<()> {
    let Some(claimed) = &claim.embedding else {
        bail!(
            "{} is an embedding model: the claim needs `embedding`",
            local.label
        );
    };
    let embedder = local
        .load(client, &crate::services::progress_printer(), |d, m| {
            Embedder::load_verified(d, m).map_err(Box::new)
        })
        .await?;
    let report = check_embedding(&embedder, &claim.input, claimed, args.cosine)?;
    let json = serde_json::json!({
        "model": local.label,
        "passed": report.passed,
        "cosine": report.cosine,
        "threshold": args.cosine,
        "claim_kernel_path_id": claim.kernel_path_id,
        "checker_kernel_path_id": tessera_infer::kernel_path_id(),
    });
    out.show(&json, || {
        format!(
            "{}: claim {}\n  cosine to the checker's vector {:.9} (threshold {})\n  claim's kernel path   {}\n  checker kernel path   {}",
            local.label,
            verdict(report.passed),
            report.cosine,
            args.cosine,
            claim.kernel_path_id.as_deref().unwrap_or("not given"),
            tessera_infer::kernel_path_id()
        )
    })?;
    if !report.passed {
        bail!(
            "the embedding fails the check (cosine {:.6})",
            report.cosine
        );
    }
    Ok(())
}

async fn check_generation_claim(
    client: &RpcClient,
    local: &LocalModel,
    claim: &Claim,
    args: &CheckArgs,
    out: &Output,
) -> anyhow::Result<()> {
    let Some(claimed) = &claim.token_ids else {
        bail!(
            "{} is a generation model: the claim needs `token_ids`",
            local.label
        );
    };
    let params = CheckParams {
        delta: args.delta,
        epsilon: args.epsilon,
    };
    params.validate()?;
    let checker = local
        .load(client, &crate::services::progress_printer(), |d, m| {
            load_checker(d, m, args.reference)
        })
        .await?;
    let prompt = checker
        .tokenizer()
        .chat_prompt(claim.system.as_deref(), &claim.input)?;
    let report = check_generation(checker.as_ref(), &prompt, claimed, &params)?;
    let checker_id = checker.kernel_path_id();
    let json = serde_json::json!({
        "model": local.label,
        "passed": report.passed,
        "tokens": claimed.len(),
        "failing": report.failing,
        "failing_share": report.failing_share,
        "max_margin": report.max_margin,
        "margins": report.margins,
        "delta": params.delta,
        "epsilon": params.epsilon,
        "claim_kernel_path_id": claim.kernel_path_id,
        "checker_kernel_path_id": checker_id,
    });
    out.show(&json, || {
        format!(
            "{}: claim {}\n  {} tokens, {} over the margin δ = {} (ε = {}), largest margin {:.3}\n  claim's kernel path   {}\n  checker kernel path   {checker_id}",
            local.label,
            verdict(report.passed),
            claimed.len(),
            report.failing,
            params.delta,
            params.epsilon,
            report.max_margin,
            claim.kernel_path_id.as_deref().unwrap_or("not given"),
        )
    })?;
    if !report.passed {
        bail!(
            "the generation fails the check: {} of {} tokens are not what the model would have chosen",
            report.failing,
            claimed.len()
        );
    }
    Ok(())
}

fn verdict(passed: bool) -> &'static str {
    if passed {
        "PASSES the check"
    } else {
        "FAILS the check"
    }
}
