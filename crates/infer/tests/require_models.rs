//! CI sets TESSERA_REQUIRE_MODELS=1 so that the model tests can't all skip silently.
#![cfg(test)]

mod common;

#[test]
fn models_present_when_required() {
    let present = common::minilm_dir("models_present_when_required").is_some();
    if common::models_required() {
        assert!(
            present,
            "TESSERA_REQUIRE_MODELS=1 but the model files are missing"
        );
    }
}

#[test]
fn smollm2_present_when_required() {
    let present = common::smollm2_gguf("smollm2_present_when_required").is_some();
    if common::models_required() {
        assert!(
            present,
            "TESSERA_REQUIRE_MODELS=1 but the SmolLM2 GGUF is missing"
        );
    }
}
