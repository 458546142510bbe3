//! SmolLM2's tokenizer from the GGUF metadata: exact ids where the pre-tokenizer matters.
//!
//! Expected ids come from reasoning, not from running another BPE: control tokens and single
//! vocabulary entries looked up by their text ("system" = 9690, "Ġsystem" = 817, "ĠĠ" = 256),
//! and the pre-tokenizer's rules (no prefix space; each digit its own pre-token, so a run of
//! spaces before a digit stays one "ĠĠ" token instead of "Ġ" + "Ġ1").
#![cfg(test)]

mod common;

use std::sync::OnceLock;

use tessera_infer::{GgufFile, GgufTokenizer, TextStream};

fn tokenizer(test: &str) -> Option<&'static GgufTokenizer> {
    static TOKENIZER: OnceLock<GgufTokenizer> = OnceLock::new();
    let path = common::smollm2_gguf(test)?;
    Some(
        TOKENIZER.get_or_init(|| GgufTokenizer::from_gguf(&GgufFile::open(path).unwrap()).unwrap()),
    )
}

#[test]
fn vocabulary_entries_are_where_expected() {
    let Some(t) = tokenizer("vocabulary_entries_are_where_expected") else {
        return;
    };
    assert_eq!(t.vocab_size(), 49152);
    assert_eq!(t.chatml_ids(), (1, 2));
    assert_eq!(t.eos_id(), 2);
    for (id, text) in [
        (9690, "system"),
        (817, "Ġsystem"),
        (256, "ĠĠ"),
        (198, "Ċ"),
        (33, "1"),
    ] {
        assert_eq!(t.token(id).as_deref(), Some(text), "{id}");
    }
}

#[test]
fn no_prefix_space() {
    let Some(t) = tokenizer("no_prefix_space") else {
        return;
    };
    // candle's built-in GGUF tokenizer gives 817 ("Ġsystem") here.
    assert_eq!(t.encode("system").unwrap(), [9690]);
    assert_eq!(t.encode(" system").unwrap(), [817]);
    assert_eq!(t.encode("").unwrap(), Vec::<u32>::new());
}

#[test]
fn digits_are_pre_tokenized_one_by_one() {
    let Some(t) = tokenizer("digits_are_pre_tokenized_one_by_one") else {
        return;
    };
    let x = t.encode("x").unwrap();
    assert_eq!(x.len(), 1);
    // Digits first isolates "1", so "x  " ends a pre-token and its two spaces merge into
    // "ĠĠ" (256). With the GPT-2 regex alone the text splits "x", " ", " 1": 216, 216, 33.
    assert_eq!(t.encode("x  1").unwrap(), [x[0], 256, 33]);
    // "2024": one token per digit ('0' = 32, '1' = 33, ...).
    assert_eq!(t.encode("2024").unwrap(), [34, 32, 34, 36]);
}

#[test]
fn chatml_prompt_is_exact() {
    let Some(t) = tokenizer("chatml_prompt_is_exact") else {
        return;
    };
    // <|im_start|> user \n What Ġis Ġthe Ġcapital Ġof ĠFrance ? <|im_end|> \n
    // <|im_start|> ass istant \n
    let ids = t
        .chat_prompt(None, "What is the capital of France?")
        .unwrap();
    assert_eq!(
        ids,
        [1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47, 2, 198, 1, 520, 9531, 198]
    );
    let with_system = t.chat_prompt(Some("Be brief."), "Hi").unwrap();
    assert_eq!(with_system[..2], [1, 9690]);
    assert_eq!(with_system[2], 198);
    assert_eq!(with_system[with_system.len() - 4..], [1, 520, 9531, 198]);
}

#[test]
fn control_token_names_in_text_stay_text() {
    let Some(t) = tokenizer("control_token_names_in_text_stay_text") else {
        return;
    };
    let ids = t.encode("<|im_end|>").unwrap();
    assert!(ids.len() > 1 && !ids.contains(&2), "{ids:?}");
    assert_eq!(t.decode(&ids).unwrap(), "<|im_end|>");
    // Decoding leaves control tokens out.
    assert_eq!(t.decode(&[1, 9690, 2]).unwrap(), "system");
    assert!(t.decode(&[49152]).is_err());
}

#[test]
fn accents_round_trip_and_stream_whole_characters() {
    let Some(t) = tokenizer("accents_round_trip_and_stream_whole_characters") else {
        return;
    };
    let text = "Où est le café ? À côté de l'église, 3 crèmes brûlées. 東京 🚀";
    let ids = t.encode(text).unwrap();
    assert_eq!(t.decode(&ids).unwrap(), text);
    // "é" alone is one byte-level token pair "Ã©" (2756): two bytes, one token.
    assert_eq!(t.encode("é").unwrap(), [2756]);
    // Streaming token by token gives the same text, and no piece holds a broken character.
    let mut stream = TextStream::new(t);
    let mut streamed = String::new();
    let mut held = 0;
    for id in &ids {
        let piece = stream.push(*id).unwrap();
        assert!(!piece.contains(char::REPLACEMENT_CHARACTER), "{piece:?}");
        held += usize::from(piece.is_empty());
        streamed.push_str(&piece);
    }
    streamed.push_str(&stream.finish().unwrap());
    assert_eq!(streamed, text);
    // The emoji and the CJK characters are several tokens each: some pushes held text back.
    assert!(held > 0, "no token split a character: {ids:?}");
}
