//! Text generation with llama.cpp (crate `llama-cpp-2`, feature `llama`): the serving path
//! of decision 0010. Same API and rules as [`crate::Generator`] — our tokenizer and ChatML
//! prompt, the same greedy loop (our own argmax), the end-of-sequence token kept in the
//! output — so the two are interchangeable and [`crate::check_generation`] checks either.
//!
//! llama.cpp is built with `dynamic-backends`: its CPU kernels live in one shared library
//! per instruction-set level, and the best one this CPU supports is loaded at run time, so
//! one binary runs everywhere at full speed. The backends are looked up in
//! `TESSERA_LLAMA_BACKENDS` if set, else in `backends/` next to the executable, else in the
//! build's own output directory.
//!
//! # Invariants
//! * the same checks as [`crate::Generator`] run before llama.cpp sees a request
//!   ([`validate_request`]): non-empty prompt, ids in the vocabulary, bounded length.
//! * greedy decoding: on one kernel path (same [`LlamaGenerator::kernel_path_id`]) the
//!   output is a function of the prompt and the weights, for any thread count (tested).

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use crate::error::InferError;
use crate::generate::{
    greedy, validate_request, verified_gguf, weights_type, GenerateParams, Generation,
};
use crate::gguf::GgufFile;
use crate::manifest::Manifest;
use crate::tokenizer::GgufTokenizer;

/// The runtime name in kernel path ids.
pub const LLAMA_RUNTIME: &str = "llama.cpp";
/// The `llama-cpp-2` version this crate is built against (pinned in Cargo.toml).
pub const LLAMA_CPP_2_VERSION: &str = "0.1.160";
/// Environment variable naming the directory of llama.cpp's CPU backend libraries.
pub const BACKENDS_ENV: &str = "TESSERA_LLAMA_BACKENDS";

pub(crate) fn llama_error(what: &str, e: impl std::fmt::Display) -> InferError {
    InferError::Runtime {
        runtime: LLAMA_RUNTIME,
        message: format!("{what}: {e}"),
    }
}

/// Directories searched for the CPU backends, in order.
fn backend_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os(BACKENDS_ENV) {
        dirs.push(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|p| p.join("backends")))
    {
        dirs.push(dir);
    }
    if let Some(dir) = llama_cpp_sys_2::BACKENDS_DIR {
        dirs.push(PathBuf::from(dir));
    }
    dirs
}

/// The process's llama.cpp backend, initialized once with the CPU kernels loaded (also for
/// code that calls `llama-cpp-2` directly, such as the reference benchmark: llama.cpp allows
/// one per process).
pub fn backend() -> Result<&'static LlamaBackend, InferError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            for dir in backend_dirs() {
                if dir.is_dir() {
                    if let Some(path) = dir.to_str() {
                        llama_cpp_2::llama_backend::load_backends_from_path(Path::new(path));
                    }
                }
            }
            if llama_cpp_2::list_llama_ggml_backend_devices().is_empty() {
                return Err(format!(
                    "no llama.cpp CPU backend found (looked in {:?}); set {BACKENDS_ENV} to the directory holding libggml-cpu-*.so",
                    backend_dirs()
                ));
            }
            let mut backend = LlamaBackend::init().map_err(|e| e.to_string())?;
            backend.void_logs();
            Ok(backend)
        })
        .as_ref()
        .map_err(|e| llama_error("starting llama.cpp", e))
}

/// The CPU features of the kernels llama.cpp loaded (its system-info line), e.g.
/// `AVX = 1 | AVX2 = 1 | FMA = 1 | …`, reduced to the features that are on.
pub(crate) fn loaded_cpu_features() -> String {
    let info = system_info();
    let on: Vec<&str> = info
        .split('|')
        .filter_map(|part| {
            let (name, value) = part.split_once('=')?;
            let name = name.trim().trim_start_matches("CPU :").trim();
            (value.trim() == "1").then_some(name)
        })
        .collect();
    if on.is_empty() {
        "baseline".into()
    } else {
        on.join("+").to_lowercase()
    }
}

#[allow(unsafe_code)]
fn system_info() -> String {
    // SAFETY: llama_print_system_info returns a pointer to a static, NUL-terminated buffer
    // owned by llama.cpp (never freed); it is read at once and copied.
    unsafe {
        let ptr = llama_cpp_sys_2::llama_print_system_info();
        if ptr.is_null() {
            return String::new();
        }
        std::ffi::CStr::from_ptr(ptr).to_string_lossy().into_owned()
    }
}

/// SmolLM2 (any llama-architecture GGUF with the `smollm` tokenizer) on llama.cpp's CPU
/// kernels.
pub struct LlamaGenerator {
    model: LlamaModel,
    tokenizer: GgufTokenizer,
    weights_type: String,
    threads: i32,
}

impl LlamaGenerator {
    /// Loads the GGUF at `path` without checking its contents; see
    /// [`LlamaGenerator::load_verified`]. Uses every available core.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, InferError> {
        let path = path.as_ref();
        let gguf = GgufFile::open(path)?;
        let tokenizer = GgufTokenizer::from_gguf(&gguf)?;
        let weights_type = weights_type(&gguf);
        drop(gguf);
        let backend = backend()?;
        let model = LlamaModel::load_from_file(backend, path, &LlamaModelParams::default())
            .map_err(|e| llama_error(&format!("loading {}", path.display()), e))?;
        Ok(LlamaGenerator {
            model,
            tokenizer,
            weights_type,
            threads: all_cores(),
        })
    }

    /// Verifies every file of `manifest` in `dir` (size, then CID), then loads the one GGUF
    /// it lists.
    pub fn load_verified(dir: impl AsRef<Path>, manifest: &Manifest) -> Result<Self, InferError> {
        Self::load(verified_gguf(dir.as_ref(), manifest)?)
    }

    /// Runs on `threads` threads (at least 1). Use the cores that are free: llama.cpp's
    /// threads spin, and a spinning thread on a busy core slows everything down.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = thread_count(threads);
        self
    }

    pub fn tokenizer(&self) -> &GgufTokenizer {
        &self.tokenizer
    }

    /// `llama.cpp-<llama-cpp-2 version>/<arch>/<features of the loaded CPU kernels>/<weights>`:
    /// equal ids allow comparing output hashes exactly.
    pub fn kernel_path_id(&self) -> String {
        format!(
            "{LLAMA_RUNTIME}-{LLAMA_CPP_2_VERSION}/{}/{}/{}",
            std::env::consts::ARCH,
            loaded_cpu_features(),
            self.weights_type
        )
    }

    /// Greedy generation from `prompt_ids`; `on_text` gets each token's id and the text it
    /// completes (as [`crate::Generator::generate`]).
    pub fn generate(
        &mut self,
        prompt_ids: &[u32],
        params: &GenerateParams,
        mut on_text: impl FnMut(u32, &str),
    ) -> Result<Generation, InferError> {
        self.generate_until(prompt_ids, params, |id, piece| {
            on_text(id, piece);
            std::ops::ControlFlow::Continue(())
        })
    }

    /// [`LlamaGenerator::generate`], stopped early (as `StopReason::Cancelled`) when
    /// `on_text` breaks.
    pub fn generate_until(
        &mut self,
        prompt_ids: &[u32],
        params: &GenerateParams,
        on_text: impl FnMut(u32, &str) -> std::ops::ControlFlow<()>,
    ) -> Result<Generation, InferError> {
        validate_request(&self.tokenizer, prompt_ids, params.max_new_tokens)?;
        let context_len = prompt_ids.len().saturating_add(params.max_new_tokens);
        let mut ctx = new_context(&self.model, context_len, context_len, self.threads)?;
        let mut batch = LlamaBatch::new(prompt_ids.len().max(1), 1);
        let last = prompt_ids.len().saturating_sub(1);
        for (i, id) in prompt_ids.iter().enumerate() {
            batch
                .add(token(*id)?, position(i)?, &[0], i == last)
                .map_err(|e| llama_error("batching the prompt", e))?;
        }
        ctx.decode(&mut batch)
            .map_err(|e| llama_error("running the prompt", e))?;
        let first = ctx
            .get_logits_ith(batch.n_tokens().saturating_sub(1))
            .to_vec();
        let kernel_path_id = self.kernel_path_id();
        greedy(
            &self.tokenizer,
            prompt_ids,
            params.max_new_tokens,
            first,
            |next, at| {
                batch.clear();
                batch
                    .add(token(next)?, position(at)?, &[0], true)
                    .map_err(|e| llama_error("batching a token", e))?;
                ctx.decode(&mut batch)
                    .map_err(|e| llama_error("generating", e))?;
                Ok(ctx.get_logits_ith(0).to_vec())
            },
            on_text,
        )
        .map(|g| Generation {
            kernel_path_id,
            ..g
        })
    }

    /// [`LlamaGenerator::generate`] for one user message in the ChatML template.
    pub fn chat(&mut self, user: &str, params: &GenerateParams) -> Result<Generation, InferError> {
        let prompt = self.tokenizer.chat_prompt(None, user)?;
        self.generate(&prompt, params, |_, _| {})
    }
}

/// A fresh context of `positions` positions that decodes up to `batch` of them per call
/// (at least 1, at most `positions`) on `threads` threads.
pub(crate) fn new_context(
    model: &LlamaModel,
    positions: usize,
    batch: usize,
    threads: i32,
) -> Result<LlamaContext<'_>, InferError> {
    let positions = positions.max(1);
    let n_ctx = u32::try_from(positions).map_err(|e| llama_error("context length", e))?;
    let n_batch =
        u32::try_from(batch.clamp(1, positions)).map_err(|e| llama_error("batch length", e))?;
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(n_ctx))
        .with_n_batch(n_batch)
        .with_n_ubatch(n_batch)
        .with_n_threads(threads)
        .with_n_threads_batch(threads);
    model
        .new_context(backend()?, params)
        .map_err(|e| llama_error("creating a context", e))
}

/// Every available core, as llama.cpp counts threads.
pub(crate) fn all_cores() -> i32 {
    std::thread::available_parallelism()
        .map(|n| thread_count(n.get()))
        .unwrap_or(1)
}

/// `threads` as llama.cpp takes it: at least 1, at most `i32::MAX`.
pub(crate) fn thread_count(threads: usize) -> i32 {
    i32::try_from(threads.max(1)).unwrap_or(i32::MAX)
}

pub(crate) fn token(id: u32) -> Result<LlamaToken, InferError> {
    i32::try_from(id)
        .map(LlamaToken)
        .map_err(|_| llama_error("token id", id))
}

pub(crate) fn position(i: usize) -> Result<i32, InferError> {
    i32::try_from(i).map_err(|_| llama_error("position", i))
}
