//! `tessera devnet` runs a subnet validator of its own (dev7, in both subnets): with
//! nothing but the devnet started, it audits both providers of each model (embeddings
//! by the cosine check, chat answers by `check_generation`), commits and reveals
//! weights, and the epochs pay all four miners. The devnet's gateway sends every
//! answered user call (sample share 1 here) to the validators, which check them too. Skipped when the model files are
//! absent, unless `TESSERA_REQUIRE_MODELS=1`.
#![cfg(test)]

mod common;

use serde_json::Value;
use std::{
    io::{BufRead, BufReader},
    process::{Child, Stdio},
    time::{Duration, Instant},
};

/// The devnet process, killed when dropped.
struct Devnet(Child);

impl Drop for Devnet {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_devnet_validator_pays_both_honest_miners() {
    if !common::shipped_models_present("the_devnet_validator_pays_both_honest_miners") {
        return;
    }
    let root =
        std::env::temp_dir().join(format!("tessera-devnet-validator-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let ports = common::free_port_range(4, &[]);
    let node = format!("http://127.0.0.1:{ports}");
    let log_path = root.join("devnet.log");
    let mut devnet = Devnet(
        common::tessera()
            .args([
                "devnet",
                "--block-time-ms",
                "200",
                "--rpc-addr",
                &format!("127.0.0.1:{ports}"),
                "--gateway-addr",
                &format!("127.0.0.1:{}", ports + 1),
                "--provider-port",
                &(ports + 2).to_string(),
            ])
            .env("TESSERA_HOME", root.join("devnet"))
            .env("TESSERA_DEVNET_AUDIT_SAMPLE", "1")
            .env("TESSERA_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    // The gateway's URL on stdout means everything is up.
    let mut line = String::new();
    BufReader::new(devnet.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("http://"), "{}", log());
    let gateway = line.trim().to_string();

    // A user's calls, sampled to the validators.
    let http = reqwest::blocking::Client::new();
    for (path, body) in [
        (
            "embeddings",
            serde_json::json!({"model": "minilm-embed", "input": "A user's own sentence."}),
        ),
        (
            "chat/completions",
            serde_json::json!({"model": "smollm2-chat", "messages": [{"role": "user", "content": "Name a colour."}], "max_tokens": 8}),
        ),
    ] {
        let r = http
            .post(format!("{gateway}/{path}"))
            .json(&body)
            .send()
            .unwrap();
        assert!(
            r.status().is_success(),
            "{path}: {}",
            r.text().unwrap_or_default()
        );
    }

    let started = Instant::now();
    let paid = |subnet: &str| -> (bool, Value) {
        let out = common::tessera()
            .args(["--json", "subnet", "show", subnet])
            .env("TESSERA_NODE", &node)
            .env("TESSERA_HOME", root.join("client"))
            .output()
            .unwrap();
        let graph: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let miners: Vec<&Value> = graph["rows"]
            .as_array()
            .map(|rows| rows.iter().filter(|r| r["role"] == "miner").collect())
            .unwrap_or_default();
        let paid = miners.len() == 2
            && miners
                .iter()
                .all(|m| m["emission"].as_str().is_some_and(|e| e != "0") && m["incentive"] != "0");
        (paid, graph)
    };
    loop {
        let (embed_paid, embed) = paid("minilm-embed");
        let (chat_paid, chat) = paid("smollm2-chat");
        let text = log();
        let users_checked = ["minilm-embed", "smollm2-chat"].iter().all(|subnet| {
            text.contains(&format!(
                "validator ({subnet}): checked a user's call answered by"
            ))
        });
        if embed_paid
            && chat_paid
            && users_checked
            && text.contains("validator (minilm-embed): tempo")
            && text.contains("weights revealed")
        {
            break;
        }
        assert!(!text.contains("validator stopped"), "{text}");
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the devnet's validator did not get every miner paid:\n{embed}\n{chat}\n{text}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let text = log();
    // Every audit line of each subnet: all answered calls right (the users' sampled
    // calls count too), at least two of them.
    for subnet in ["minilm-embed", "smollm2-chat"] {
        let audited = format!("validator ({subnet}): tempo");
        let audits: Vec<(u32, u32)> = text
            .lines()
            .filter(|l| l.contains(&audited))
            .filter_map(answered_and_correct)
            .collect();
        assert!(!audits.is_empty(), "{text}");
        assert!(
            audits
                .iter()
                .all(|(answered, correct)| answered == correct && *correct >= 2),
            "{audits:?}\n{text}"
        );
    }
    assert!(
        !text.contains("for a wrong answer"),
        "an honest provider was reported: {text}"
    );
    drop(devnet);
    let _ = std::fs::remove_dir_all(&root);
}

/// `(A, C)` from an audit line's "answered A/B, correct C".
fn answered_and_correct(line: &str) -> Option<(u32, u32)> {
    let (_, rest) = line.split_once("answered ")?;
    let (answered, rest) = rest.split_once('/')?;
    let (_, rest) = rest.split_once("correct ")?;
    let correct = rest.split(|c: char| !c.is_ascii_digit()).next()?;
    Some((answered.parse().ok()?, correct.parse().ok()?))
}
