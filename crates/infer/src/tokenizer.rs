//! SmolLM2's tokenizer, built from the GGUF metadata, and its ChatML prompt template.
//!
//! The GGUF carries no `tokenizer.json`, only `tokenizer.ggml.tokens`, `.merges` and
//! `.token_type`. candle's built-in GGUF tokenizer adds a leading space ("system" becomes
//! "Ġsystem", 817, instead of 9690), so this one is assembled by hand to match llama.cpp's
//! `smollm` pre-tokenizer: byte-level BPE; pre-tokenizer = each digit alone, then the GPT-2
//! regex with no prefix space; byte-level decoder; token type 3 = special (control) token.
//!
//! # Invariants
//! * Text is always encoded literally: a user writing `<|im_end|>` gets the tokens of those
//!   characters, never the control token. Control tokens enter a prompt only through
//!   [`GgufTokenizer::chat_prompt`].
//! * Every id [`GgufTokenizer::encode`] returns is `< vocab_size()`.
//! * [`TextStream`] emits a prefix of the final text at every step and never splits a UTF-8
//!   character: text ending in an incomplete character is held until the next token.

use candle_core::quantized::gguf_file::Value;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, Tokenizer};

use crate::error::InferError;
use crate::gguf::{malformed, GgufFile};

/// GGUF token type of control (special) tokens.
const TOKEN_TYPE_CONTROL: i32 = 3;
/// ChatML: opens a message.
pub const IM_START: &str = "<|im_start|>";
/// ChatML: closes a message; SmolLM2's end-of-sequence token.
pub const IM_END: &str = "<|im_end|>";

/// A byte-level BPE tokenizer read from a GGUF file (llama.cpp's `gpt2` model, `smollm`
/// pre-tokenizer).
#[derive(Clone)]
pub struct GgufTokenizer {
    inner: Tokenizer,
    vocab_size: usize,
    eos_id: u32,
    im_start_id: u32,
    im_end_id: u32,
}

impl GgufTokenizer {
    /// Builds the tokenizer from the metadata of `gguf`; refuses other tokenizer kinds.
    pub fn from_gguf(gguf: &GgufFile) -> Result<Self, InferError> {
        let model = gguf.string("tokenizer.ggml.model")?;
        let pre = gguf.string("tokenizer.ggml.pre")?;
        if model != "gpt2" || pre != "smollm" {
            return Err(InferError::UnsupportedTokenizer {
                model: model.to_owned(),
                pre: pre.to_owned(),
            });
        }
        let tokens = strings(
            gguf.array("tokenizer.ggml.tokens")?,
            "tokenizer.ggml.tokens",
        )?;
        let merges = merges(gguf.array("tokenizer.ggml.merges")?)?;
        let types = gguf.array("tokenizer.ggml.token_type")?;
        if types.len() != tokens.len() {
            return Err(malformed(
                "tokenizer.ggml.token_type",
                format!("{} types for {} tokens", types.len(), tokens.len()),
            ));
        }
        let eos_id = gguf.u32("tokenizer.ggml.eos_token_id")?;
        let mut inner = build(&tokens, merges)?;
        add_specials(&mut inner, &tokens, types)?;
        let find = |t: &str| {
            inner
                .token_to_id(t)
                .ok_or_else(|| malformed("tokenizer.ggml.tokens", format!("no token {t}")))
        };
        let (im_start_id, im_end_id) = (find(IM_START)?, find(IM_END)?);
        let tokenizer = GgufTokenizer {
            vocab_size: tokens.len(),
            inner,
            eos_id,
            im_start_id,
            im_end_id,
        };
        tokenizer.check_id(eos_id)?;
        Ok(tokenizer)
    }

    /// Number of tokens in the vocabulary (ids are `0..vocab_size`).
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// The end-of-sequence id (`<|im_end|>` for SmolLM2).
    pub fn eos_id(&self) -> u32 {
        self.eos_id
    }

    /// Ids of `<|im_start|>` and `<|im_end|>`.
    pub fn chatml_ids(&self) -> (u32, u32) {
        (self.im_start_id, self.im_end_id)
    }

    /// The token ids of `text`, taken literally (control-token names are plain text).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, InferError> {
        let encoding = self
            .inner
            .encode_fast(text, false)
            .map_err(|e| InferError::Tokenize {
                reason: e.to_string(),
            })?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The text of `ids`, control tokens left out. Bytes that are not valid UTF-8 become
    /// U+FFFD. Ids outside the vocabulary are an error.
    pub fn decode(&self, ids: &[u32]) -> Result<String, InferError> {
        ids.iter().try_for_each(|id| self.check_id(*id))?;
        self.inner
            .decode(ids, true)
            .map_err(|e| InferError::Tokenize {
                reason: e.to_string(),
            })
    }

    /// The vocabulary entry of `id` (byte-level form: a space is `Ġ`), if any.
    pub fn token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// `Ok` when `id` is in the vocabulary.
    pub fn check_id(&self, id: u32) -> Result<(), InferError> {
        if usize::try_from(id).is_ok_and(|i| i < self.vocab_size) {
            Ok(())
        } else {
            Err(InferError::TokenOutOfVocab {
                id,
                vocab_size: self.vocab_size,
            })
        }
    }

    /// The ChatML prompt for one user message and an optional system message, ending with the
    /// opened assistant turn. No default system prompt is inserted (unlike the GGUF's Jinja
    /// template; as llama.cpp's `chatml`). For a user message alone the text is exactly
    /// `<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n`.
    pub fn chat_prompt(&self, system: Option<&str>, user: &str) -> Result<Vec<u32>, InferError> {
        match system {
            Some(system) => self.chat_prompt_messages(&[("system", system), ("user", user)]),
            None => self.chat_prompt_messages(&[("user", user)]),
        }
    }

    /// A whole conversation in the ChatML template, then the assistant's turn opened:
    /// `messages` are `(role, content)` pairs (system, user, assistant) in order.
    pub fn chat_prompt_messages(&self, messages: &[(&str, &str)]) -> Result<Vec<u32>, InferError> {
        let mut ids = Vec::new();
        for (role, content) in messages {
            self.push_message(&mut ids, role, content)?;
        }
        ids.push(self.im_start_id);
        ids.extend(self.encode("assistant\n")?);
        Ok(ids)
    }

    /// `<|im_start|>{role}\n{content}<|im_end|>\n`. Text between control tokens is encoded as
    /// one piece, as a tokenizer that splits on control tokens would.
    fn push_message(
        &self,
        ids: &mut Vec<u32>,
        role: &str,
        content: &str,
    ) -> Result<(), InferError> {
        ids.push(self.im_start_id);
        ids.extend(self.encode(&format!("{role}\n{content}"))?);
        ids.push(self.im_end_id);
        ids.extend(self.encode("\n")?);
        Ok(())
    }
}

/// Byte-level BPE with SmolLM2's pre-tokenizer and decoder.
fn build(tokens: &[String], merges: Vec<(String, String)>) -> Result<Tokenizer, InferError> {
    let vocab: Vocab = tokens
        .iter()
        .enumerate()
        .filter_map(|(id, t)| u32::try_from(id).ok().map(|id| (t.clone(), id)))
        .collect();
    if vocab.len() != tokens.len() {
        return Err(malformed(
            "tokenizer.ggml.tokens",
            "duplicate tokens or more than 2^32",
        ));
    }
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| malformed("tokenizer.ggml.merges", e))?;
    let mut tokenizer = Tokenizer::new(bpe);
    let pre = Sequence::new(vec![
        Digits::new(true).into(),
        ByteLevel::new(false, true, true).into(),
    ]);
    tokenizer.with_pre_tokenizer(Some(pre));
    tokenizer.with_decoder(Some(ByteLevelDecoder::new(false, true, true)));
    Ok(tokenizer)
}

/// Registers the control tokens (type 3) as special, so decoding can leave them out; then
/// turns their matching off, so text is always encoded literally.
fn add_specials(
    tokenizer: &mut Tokenizer,
    tokens: &[String],
    types: &[Value],
) -> Result<(), InferError> {
    let mut specials = Vec::new();
    for (token, kind) in tokens.iter().zip(types) {
        let kind = kind
            .to_i32()
            .map_err(|e| malformed("tokenizer.ggml.token_type", e))?;
        if kind == TOKEN_TYPE_CONTROL {
            specials.push(AddedToken::from(token.clone(), true));
        }
    }
    tokenizer
        .add_special_tokens(specials)
        .map_err(|e| malformed("tokenizer.ggml.token_type", e))?;
    tokenizer.set_encode_special_tokens(true);
    Ok(())
}

fn strings(values: &[Value], key: &'static str) -> Result<Vec<String>, InferError> {
    values
        .iter()
        .map(|v| v.to_string().cloned().map_err(|e| malformed(key, e)))
        .collect()
}

/// Merges are stored as `"left right"`; byte-level tokens never contain a space.
fn merges(values: &[Value]) -> Result<Vec<(String, String)>, InferError> {
    let key = "tokenizer.ggml.merges";
    strings(values, key)?
        .into_iter()
        .map(|m| match m.split_once(' ') {
            Some((l, r)) if !r.contains(' ') => Ok((l.to_owned(), r.to_owned())),
            _ => Err(malformed(key, format!("merge {m:?} is not two tokens"))),
        })
        .collect()
}

/// Turns generated ids into text as they come, holding back an incomplete UTF-8 character.
pub struct TextStream<'t> {
    tokenizer: &'t GgufTokenizer,
    ids: Vec<u32>,
    emitted_len: usize,
}

impl<'t> TextStream<'t> {
    pub fn new(tokenizer: &'t GgufTokenizer) -> Self {
        TextStream {
            tokenizer,
            ids: Vec::new(),
            emitted_len: 0,
        }
    }

    /// Adds `id`; returns the new text it completes (possibly empty).
    pub fn push(&mut self, id: u32) -> Result<String, InferError> {
        self.ids.push(id);
        let text = self.tokenizer.decode(&self.ids)?;
        if text.ends_with(char::REPLACEMENT_CHARACTER) {
            return Ok(String::new());
        }
        Ok(self.take_new(text))
    }

    /// Whatever is still held back (an incomplete character, shown as U+FFFD).
    pub fn finish(&mut self) -> Result<String, InferError> {
        let text = self.tokenizer.decode(&self.ids)?;
        Ok(self.take_new(text))
    }

    fn take_new(&mut self, text: String) -> String {
        // The emitted text ends on a complete character, so it stays a prefix of `text`.
        let new = text.get(self.emitted_len..).unwrap_or_default().to_owned();
        self.emitted_len = text.len();
        new
    }
}
