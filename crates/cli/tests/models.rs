//! `tessera model publish` and `tessera model run` end to end, against dev nodes started
//! as separate processes: a small directory published and shown with the manifest CID
//! `tessera blob cid` computes; a new version of it published by its creator (and refused
//! to anyone else) and listed by `model show`; the devnet's shipped models published on start, run
//! through the CLI (embedding hash equal to the runtime's own, chat streamed and right,
//! one client-side copy of a downloaded file), and a tampered cached file caught and
//! fetched again.
//!
//! The real models are skipped when their files are absent, unless
//! `TESSERA_REQUIRE_MODELS=1` (then their absence fails the test).
#![cfg(test)]

mod common;

use serde_json::Value;
use std::{
    io::Read,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

const PASSPHRASE: &str = "test passphrase";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-models-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A node process, killed when dropped.
struct Node {
    child: Child,
    url: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `tessera <command...>` (a dev node) on a free port and waits until it answers.
fn start_node(home: &Path, command: &[&str], log: &Path) -> Node {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(command)
        .args([
            "--block-time-ms",
            "100",
            "--rpc-addr",
            &format!("127.0.0.1:{port}"),
        ])
        .env("TESSERA_HOME", home)
        .env("TESSERA_LOG", "warn")
        .env_remove("TESSERA_DEVNET_MODELS")
        // Providers and a gateway are tested in market.rs; here only the models.
        .env("TESSERA_DEVNET_MARKET", "0")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("start the node");
    let node = Node { child, url };
    let start = Instant::now();
    while !tessera(&node, home, &["status"]).status.success() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "node did not come up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    node
}

fn command(node: &Node, home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera"));
    cmd.args(args)
        .env("TESSERA_HOME", home)
        .env("TESSERA_NODE", &node.url)
        .env("TESSERA_PASSPHRASE", PASSPHRASE)
        .env("TESSERA_LOG", "warn");
    cmd
}

fn tessera(node: &Node, home: &Path, args: &[&str]) -> Output {
    command(node, home, args).output().unwrap()
}

/// Runs the command, asserts success and parses its `--json` output.
fn json(node: &Node, home: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = tessera(node, home, &all);
    assert!(
        out.status.success(),
        "tessera {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "tessera {args:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn publish_a_directory_then_show_it() {
    let node_home = temp_dir("small-node");
    let home = temp_dir("small-wallet");
    let node = start_node(&node_home, &["node", "--dev"], &node_home.join("node.log"));
    let out = tessera(&node, &home, &["keys", "import-dev", "1", "alice"]);
    assert!(out.status.success(), "{}", stderr_of(&out));

    let model = temp_dir("small-model");
    std::fs::create_dir_all(model.join("sub")).unwrap();
    // 700,000 bytes: three leaves under a parent, so the upload sends several blocks.
    let big: Vec<u8> = (0..700_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(model.join("weights.bin"), &big).unwrap();
    std::fs::write(model.join("config.json"), b"{\"layers\": 2}\n").unwrap();
    std::fs::write(model.join("sub/vocab.txt"), b"a\nb\nc\n").unwrap();

    // No runtime can be detected for these files: the error says what to do.
    let model_dir = model.to_str().unwrap();
    let publish = [
        "model", "publish", model_dir, "--name", "tiny", "--shares", "1000", "--price", "0.001",
        "--from", "alice",
    ];
    let out = tessera(&node, &home, &publish);
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("--runtime"), "{}", stderr_of(&out));

    let mut with_runtime = publish.to_vec();
    with_runtime.extend(["--runtime", "raw-files"]);
    let published = json(&node, &home, &with_runtime);
    assert_eq!(published["files"], 3);
    assert_eq!(published["size_bytes"], 700_000 + 14 + 6);
    let manifest_cid = published["manifest_cid"].as_str().unwrap().to_owned();

    // The chain has it under the manifest's CID, which is the manifest file's `ipfs add` CID.
    let shown = json(&node, &home, &["model", "show", "tiny"]);
    assert_eq!(
        shown["model"]["spec"]["manifest_cid"],
        manifest_cid.as_str()
    );
    assert_eq!(shown["model"]["spec"]["runtime"], "raw-files");
    assert_eq!(shown["id"], published["model_id"]);
    let manifest_path = published["manifest_path"].as_str().unwrap();
    let cid = json(&node, &home, &["blob", "cid", manifest_path]);
    assert_eq!(cid["cid"], manifest_cid.as_str());
    let manifest: Value = serde_json::from_slice(&std::fs::read(manifest_path).unwrap()).unwrap();
    let paths: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["config.json", "sub/vocab.txt", "weights.bin"]);

    // Another wallet downloads the manifest and every file, verified, from the node.
    let other = temp_dir("small-other");
    let fetched = other.join("weights.bin");
    let weights_cid = manifest["files"][2]["cid"].as_str().unwrap();
    let out = tessera(
        &node,
        &other,
        &["blob", "get", weights_cid, "-o", fetched.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(std::fs::read(&fetched).unwrap(), big);

    // The name is taken now; an empty directory is refused; an unknown runtime can't run.
    let out = tessera(&node, &home, &with_runtime);
    assert!(stderr_of(&out).contains("is taken"), "{}", stderr_of(&out));
    let empty = temp_dir("small-empty");
    let mut empty_args = with_runtime.clone();
    empty_args[2] = empty.to_str().unwrap();
    empty_args[4] = "empty";
    let out = tessera(&node, &home, &empty_args);
    assert!(
        stderr_of(&out).contains("holds no files"),
        "{}",
        stderr_of(&out)
    );
    let out = tessera(&node, &other, &["model", "run", "tiny", "hello"]);
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("cannot run"),
        "{}",
        stderr_of(&out)
    );

    drop(node);
    for dir in [node_home, home, model, other, empty] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn publish_a_new_version_then_show_it() {
    let node_home = temp_dir("version-node");
    let home = temp_dir("version-wallet");
    let node = start_node(&node_home, &["node", "--dev"], &node_home.join("node.log"));
    for (account, name) in [("1", "alice"), ("2", "bob")] {
        let out = tessera(&node, &home, &["keys", "import-dev", account, name]);
        assert!(out.status.success(), "{}", stderr_of(&out));
    }
    let model = temp_dir("version-model");
    std::fs::write(model.join("weights.bin"), vec![7u8; 300_000]).unwrap();
    std::fs::write(model.join("config.json"), b"{\"layers\": 2}\n").unwrap();
    let model_dir = model.to_str().unwrap();
    let first = json(
        &node,
        &home,
        &[
            "model",
            "publish",
            model_dir,
            "--name",
            "tiny",
            "--runtime",
            "raw-files",
            "--shares",
            "1000",
            "--price",
            "0.001",
            "--from",
            "alice",
        ],
    );

    // New weights: only the creator may publish them as a version, and terms don't go along.
    std::fs::write(model.join("weights.bin"), vec![8u8; 300_000]).unwrap();
    let version = [
        "model",
        "publish",
        model_dir,
        "--new-version-of",
        "tiny",
        "--note",
        "retrained",
    ];
    let from = |key: &'static str| [&version[..], &["--from", key]].concat();
    let out = tessera(&node, &home, &from("bob"));
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("only the creator of tiny"),
        "{}",
        stderr_of(&out)
    );
    let out = tessera(
        &node,
        &home,
        &[&from("alice")[..], &["--price", "1"]].concat(),
    );
    assert!(
        stderr_of(&out).contains("cannot be used with"),
        "{}",
        stderr_of(&out)
    );
    let second = json(&node, &home, &from("alice"));
    assert_eq!(second["version"], 1);
    assert_eq!(second["model_id"], first["model_id"]);
    assert_eq!(second["runtime"], "raw-files");
    assert_eq!(second["note"], "retrained");
    assert_eq!(second["files"], 2);
    let new_cid = second["manifest_cid"].as_str().unwrap();
    assert_ne!(new_cid, first["manifest_cid"].as_str().unwrap());

    // `model show` lists both versions; the new one is current; its manifest is on the node.
    let shown = json(&node, &home, &["model", "show", "tiny"]);
    let versions = shown["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["manifest_cid"], first["manifest_cid"]);
    assert_eq!(versions[1]["manifest_cid"], new_cid);
    assert_eq!(versions[1]["note"], "retrained");
    assert_eq!(shown["model"]["spec"]["manifest_cid"], new_cid);
    assert_eq!(shown["model"]["spec"]["total_shares"], "1000");
    let text = tessera(&node, &home, &["model", "show", "tiny"]);
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    let current = text
        .lines()
        .find(|l| l.contains("current"))
        .unwrap_or_default();
    assert!(
        current.contains("version 1") && current.contains(new_cid) && current.contains("retrained"),
        "{text}"
    );
    let other = temp_dir("version-other");
    let fetched = other.join("manifest.json");
    let out = tessera(
        &node,
        &other,
        &["blob", "get", new_cid, "-o", fetched.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let manifest_path = second["manifest_path"].as_str().unwrap();
    assert_eq!(
        std::fs::read(&fetched).unwrap(),
        std::fs::read(manifest_path).unwrap()
    );

    // The same files again, or a model that does not exist: refused before any upload.
    let out = tessera(&node, &home, &from("alice"));
    assert!(
        stderr_of(&out).contains("already the current version"),
        "{}",
        stderr_of(&out)
    );
    let mut absent = from("alice");
    absent[4] = "no-such-model";
    let out = tessera(&node, &home, &absent);
    assert!(
        stderr_of(&out).contains("tessera model list"),
        "{}",
        stderr_of(&out)
    );

    drop(node);
    for dir in [node_home, home, model, other] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn devnet_publishes_the_shipped_models_and_model_run_runs_them() {
    if !common::shipped_models_present(
        "devnet_publishes_the_shipped_models_and_model_run_runs_them",
    ) {
        return;
    }
    let node_home = temp_dir("devnet");
    let log = node_home.join("devnet.log");
    let node = start_node(&node_home, &["devnet"], &log);
    let home = temp_dir("devnet-wallet");
    let cache = temp_dir("devnet-cache");

    // The devnet publishes both models on its own.
    let start = Instant::now();
    let mut models = Vec::new();
    while models.len() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the devnet did not publish its models: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
        models = json(&node, &home, &["model", "list"])
            .as_array()
            .unwrap()
            .clone();
    }
    let embed = json(&node, &home, &["model", "show", "minilm-embed"]);
    let spec = &embed["model"]["spec"];
    assert_eq!(spec["runtime"], "candle-bert");
    assert_eq!(spec["total_shares"], "1000000");
    assert_eq!(
        embed["top_holders"][0]["address"],
        tessera_chain::genesis::dev_key(1).address().to_string()
    );

    // Publishing the same directory with the CLI gives the same manifest CID.
    let out = tessera(&node, &home, &["keys", "import-dev", "4", "carol"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let minilm_dir = tessera_infer::default_minilm_dir();
    let published = json(
        &node,
        &home,
        &[
            "model",
            "publish",
            minilm_dir.to_str().unwrap(),
            "--name",
            "my-minilm",
            "--shares",
            "10",
            "--price",
            "0.001",
            "--from",
            "carol",
        ],
    );
    assert_eq!(published["runtime"], "candle-bert");
    assert_eq!(published["manifest_cid"], spec["manifest_cid"]);

    // `model run` fetches into an empty cache and gives the runtime's own embedding.
    let sentence = "a sentence to embed";
    let run_embed = |expect_refetch: bool| {
        let mut cmd = command(
            &node,
            &home,
            &["--json", "model", "run", "minilm-embed", sentence],
        );
        let out = cmd.env("TESSERA_MODEL_CACHE", &cache).output().unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
        assert_eq!(
            stderr_of(&out).contains("does not match the manifest: fetching it again"),
            expect_refetch,
            "{}",
            stderr_of(&out)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let result = run_embed(false);
    let embedder = tessera_infer::Embedder::load_verified(
        &minilm_dir,
        &tessera_infer::Manifest::minilm_l6_v2(),
    )
    .unwrap();
    let direct = embedder.embed(&[sentence]).unwrap().pop().unwrap();
    assert_eq!(
        result["output_hash"],
        hex::encode(tessera_infer::output_hash(&direct))
    );
    assert_eq!(result["dim"], 384);
    assert_eq!(result["embedding"].as_array().unwrap().len(), 384);

    // A tampered cached file (same size) is caught by its CID and fetched again.
    let cached = cache
        .join("by-cid")
        .join(spec["manifest_cid"].as_str().unwrap())
        .join("config.json");
    let mut bytes = std::fs::read(&cached).unwrap();
    let at = bytes.iter().position(|b| b.is_ascii_digit()).unwrap();
    bytes[at] = if bytes[at] == b'9' { b'8' } else { b'9' };
    std::fs::write(&cached, &bytes).unwrap();
    let again = run_embed(true);
    assert_eq!(again["output_hash"], result["output_hash"]);

    // Chat streams its answer token by token.
    let mut child = command(
        &node,
        &home,
        &[
            "model",
            "run",
            "smollm2-chat",
            "What is the capital of France?",
            "--max-tokens",
            "48",
        ],
    )
    .env("TESSERA_MODEL_CACHE", &cache)
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).unwrap();
        text
    });
    let mut reads = 0;
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stdout.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        reads += 1;
        text.extend_from_slice(&buf[..n]);
    }
    let status = child.wait().unwrap();
    let errors = errors.join().unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(status.success(), "{errors}");
    assert!(text.contains("Paris"), "answer: {text:?}");
    assert!(
        reads >= 2,
        "the answer came in {reads} piece(s), not streamed: {text:?}"
    );
    assert!(
        errors.contains("tok/s") && errors.contains("output hash"),
        "{errors}"
    );

    // The chat model's file was downloaded (this wallet never had it): the cache holds the
    // client's only copy; the downloaded blocks are gone, from the wallet's blob store too.
    let gguf = &tessera_infer::Manifest::smollm2_135m_instruct().files[0];
    let chat = json(&node, &home, &["model", "show", "smollm2-chat"]);
    let cached_gguf = cache
        .join("by-cid")
        .join(chat["model"]["spec"]["manifest_cid"].as_str().unwrap())
        .join(&gguf.path);
    assert_eq!(std::fs::metadata(&cached_gguf).unwrap().len(), gguf.size);
    let blocks = home.join("blobs").join("blocks");
    assert!(!blocks.join(gguf.cid.to_string()).exists());
    let staged = std::fs::read_dir(cache.join("downloads"))
        .map(|entries| entries.count())
        .unwrap_or(0);
    assert_eq!(staged, 0, "downloaded blocks were left in the cache");

    check_claims(&node, &home, &cache, &result);

    drop(node);
    for dir in [node_home, home, cache] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// `model check` on what `--json model run` printed: honest claims pass, altered ones fail
/// with a non-zero exit.
fn check_claims(node: &Node, home: &Path, cache: &Path, embedding: &Value) {
    let check = |model: &str, claim: &Value| {
        let file = home.join("claim.json");
        std::fs::write(&file, serde_json::to_vec(claim).unwrap()).unwrap();
        command(
            node,
            home,
            &["model", "check", model, file.to_str().unwrap()],
        )
        .env("TESSERA_MODEL_CACHE", cache)
        .output()
        .unwrap()
    };
    let passes = |out: &Output| {
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(
            out.status.success(),
            text.contains("PASSES the check"),
            "{text}{}",
            stderr_of(out)
        );
        out.status.success()
    };

    // Embeddings: the honest vector passes; another sentence's input does not.
    assert!(passes(&check("minilm-embed", embedding)));
    let mut other = embedding.clone();
    other["input"] = "a completely different sentence about volcanoes".into();
    let out = check("minilm-embed", &other);
    assert!(!passes(&out));
    assert!(
        stderr_of(&out).contains("fails the check"),
        "{}",
        stderr_of(&out)
    );

    // Generation: the honest answer passes; the same answer claimed for another question
    // fails, and so does a claim with a token changed.
    let mut run = command(
        node,
        home,
        &[
            "--json",
            "model",
            "run",
            "smollm2-chat",
            "Name three colors.",
            "--max-tokens",
            "24",
        ],
    );
    let out = run.env("TESSERA_MODEL_CACHE", cache).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["input"], "Name three colors.");
    assert!(
        answer["token_ids"].as_array().unwrap().len() >= 8,
        "{answer}"
    );
    assert!(passes(&check("smollm2-chat", &answer)));
    let mut cached = answer.clone();
    cached["input"] = "What is the capital of France?".into();
    assert!(!passes(&check("smollm2-chat", &cached)));
    let mut changed = answer.clone();
    changed["token_ids"][3] = 28.into();
    let out = check("smollm2-chat", &changed);
    assert!(!passes(&out), "a changed token passed");

    // A claim for another manifest is refused before any model runs.
    let mut elsewhere = answer.clone();
    elsewhere["manifest_cid"] = embedding["manifest_cid"].clone();
    let out = check("smollm2-chat", &elsewhere);
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("was made with manifest"),
        "{}",
        stderr_of(&out)
    );
}
