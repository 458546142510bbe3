//! Manifests: verify model files by size and CID before loading.
#![cfg(test)]

mod common;

use std::fs;

use tessera_infer::{Embedder, InferError, Manifest, MODEL_FILES};

#[test]
fn manifest_detects_changed_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.bin"), b"hello").unwrap();
    fs::create_dir(dir.path().join("sub")).unwrap();
    fs::write(dir.path().join("sub/b.json"), b"{}").unwrap();
    let m = Manifest::from_dir(dir.path(), &["a.bin", "sub/b.json"]).unwrap();
    m.verify(dir.path()).unwrap();

    let json = serde_json::to_string(&m).unwrap();
    assert_eq!(serde_json::from_str::<Manifest>(&json).unwrap(), m);

    fs::write(dir.path().join("a.bin"), b"hellO").unwrap();
    let err = m.verify(dir.path()).unwrap_err();
    assert!(matches!(err, InferError::CidMismatch { .. }), "{err}");
    assert!(err.to_string().contains("refusing"), "{err}");

    fs::write(dir.path().join("a.bin"), b"hello!").unwrap();
    assert!(matches!(
        m.verify(dir.path()).unwrap_err(),
        InferError::SizeMismatch { .. }
    ));

    fs::remove_file(dir.path().join("a.bin")).unwrap();
    assert!(matches!(
        m.verify(dir.path()).unwrap_err(),
        InferError::MissingFile { .. }
    ));
}

#[test]
fn manifest_refuses_paths_outside_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["../x", "/etc/passwd", "", "a/../../b"] {
        let err = Manifest::from_dir(dir.path(), &[bad]).unwrap_err();
        assert!(
            matches!(err, InferError::UnsafeManifestPath { .. }),
            "{bad}: {err}"
        );
    }
}

#[test]
fn pinned_minilm_manifest_matches_the_fetched_files() {
    let Some(dir) = common::minilm_dir("pinned_minilm_manifest_matches_the_fetched_files") else {
        return;
    };
    let actual = Manifest::from_dir(&dir, &MODEL_FILES).unwrap();
    println!("{}", serde_json::to_string_pretty(&actual).unwrap());
    assert_eq!(actual, Manifest::minilm_l6_v2());
    Embedder::load_verified(&dir, &Manifest::minilm_l6_v2()).unwrap();
}

#[test]
fn pinned_smollm2_manifest_matches_the_fetched_file() {
    let Some(path) = common::smollm2_gguf("pinned_smollm2_manifest_matches_the_fetched_file")
    else {
        return;
    };
    let dir = path.parent().unwrap();
    let actual = Manifest::from_dir(dir, &[tessera_infer::SMOLLM2_GGUF_FILE]).unwrap();
    assert_eq!(actual, Manifest::smollm2_135m_instruct());
    tessera_infer::Generator::load_verified(dir, &Manifest::smollm2_135m_instruct()).unwrap();
    // A manifest that lists no GGUF is refused after verification.
    let err = tessera_infer::Generator::load_verified(dir, &Manifest { files: vec![] })
        .err()
        .unwrap();
    assert!(matches!(err, InferError::NoSingleGguf), "{err}");
}
