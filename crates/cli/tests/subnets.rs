//! `tessera subnet` and `tessera stake delegate` against a dev node run as a process: a
//! subnet created with a lock, a miner and a validator registered by burn, the validator
//! staked on itself and a delegator behind it, epochs paying the subnet's emission (shown
//! by `subnet show`), and bad input refused with a message that says what to do.
#![cfg(test)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{free_port_range, Cleanup, WAIT_LIMIT};
use serde_json::Value;
use std::{
    path::Path,
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

const PASSPHRASE: &str = "test passphrase";

struct Env<'a> {
    home: &'a Path,
    url: String,
}

impl Env<'_> {
    fn run(&self, args: &[&str]) -> Output {
        common::tessera()
            .args(args)
            .env("TESSERA_HOME", self.home)
            .env("TESSERA_NODE", &self.url)
            .env("TESSERA_PASSPHRASE", PASSPHRASE)
            .env("TESSERA_LOG", "warn")
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        assert!(
            out.status.success(),
            "tessera {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn fails(&self, args: &[&str], says: &str) {
        let out = self.run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "tessera {args:?} succeeded");
        assert!(err.contains(says), "tessera {args:?}: {err}");
    }
}

fn amount(v: &Value) -> u128 {
    v.as_str().unwrap().parse().unwrap()
}

#[test]
fn create_register_delegate_and_watch_an_epoch_pay() {
    let cleanup = Cleanup::new("subnets-cli");
    let home = cleanup.root.join("home");
    let port = free_port_range(1, &[]);
    let log = std::fs::File::create(cleanup.root.join("node.log")).unwrap();
    let mut node = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["node", "--dev", "--block-time-ms", "100", "--rpc-addr"])
        .arg(format!("127.0.0.1:{port}"))
        .env("TESSERA_HOME", cleanup.root.join("node"))
        .env("TESSERA_LOG", "warn")
        .env("TESSERA_DEVNET_MODELS", "0")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let env = Env {
        home: &home,
        url: format!("http://127.0.0.1:{port}"),
    };
    let start = Instant::now();
    while !env.run(&["status"]).status.success() {
        assert!(start.elapsed() < WAIT_LIMIT, "the node did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    for (seed, name) in [("1", "owner"), ("4", "miner"), ("7", "val"), ("8", "erin")] {
        let out = env.run(&["keys", "import-dev", seed, name]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let from = |k: &'static str| ["--from", k];

    env.fails(
        &[
            &["subnet", "create", "--name", "Bad Name"][..],
            &from("owner"),
        ]
        .concat(),
        "subnet name",
    );
    env.fails(
        &[
            &["subnet", "create", "--name", "fast", "--tempo", "1"][..],
            &from("owner"),
        ]
        .concat(),
        "tempo_blocks",
    );
    env.ok(&[
        &["subnet", "create", "--name", "review", "--tempo", "20"][..],
        &from("owner"),
    ]
    .concat());
    let listed = env.ok(&["subnet", "list"]);
    assert_eq!(listed[0]["subnet"]["name"], "review");

    env.ok(&[
        &["subnet", "register", "review", "--role", "miner"][..],
        &from("miner"),
    ]
    .concat());
    env.ok(&[
        &["subnet", "register", "review", "--role", "validator"][..],
        &from("val"),
    ]
    .concat());
    env.fails(
        &[&["subnet", "register", "review"][..], &from("miner")].concat(),
        "already holds UID",
    );
    // The validator stakes on itself; erin delegates behind it (the subnet is found
    // from the validator's UID).
    env.ok(&[&["stake", "delegate", "val", "500"][..], &from("val")].concat());
    env.ok(&[&["stake", "delegate", "val", "250"][..], &from("erin")].concat());
    env.fails(
        &[&["stake", "delegate", "miner", "1"][..], &from("erin")].concat(),
        "only validators",
    );
    env.ok(&[&["stake", "take", "900"][..], &from("val")].concat());
    // Plain bonding still works as before.
    env.ok(&[&["stake", "3"][..], &from("erin")].concat());

    // The dev chain counts stake after 20 blocks; epochs every 20. Wait for one that pays
    // the validator (no weights yet: the miners' half goes to validators).
    let start = Instant::now();
    let graph = loop {
        let graph = env.ok(&["subnet", "show", "review"]);
        let rows = graph["rows"].as_array().unwrap();
        if rows.len() == 2 && amount(&rows[1]["emission"]) > 0 {
            break graph;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no epoch paid: {graph}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let rows = graph["rows"].as_array().unwrap();
    assert_eq!(rows[0]["role"], "miner");
    assert_eq!(rows[1]["role"], "validator");
    assert_eq!(amount(&rows[1]["stake"]), 750_000_000_000);
    assert_eq!(rows[1]["take_bps"], 900);
    assert!(graph["subnet"]["epochs"].as_u64().unwrap() >= 1);
    // The text view names the columns and the replacement rule.
    let text = env.run(&["subnet", "show", "review"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("incentive") && text.contains("UIDs free"),
        "{text}"
    );

    // Weights by hand: commit, then reveal in the next tempo; the miner then earns.
    env.fails(
        &[&["subnet", "weights", "review", "0=x"][..], &from("val")].concat(),
        "UID=WEIGHT",
    );
    env.fails(
        &[&["subnet", "reveal", "review"][..], &from("val")].concat(),
        "no pending commit",
    );
    let committed = env.ok(&[&["subnet", "weights", "review", "0=1"][..], &from("val")].concat());
    let created = graph["subnet"]["created_at"].as_u64().unwrap();
    let tempo = graph["subnet"]["params"]["tempo_blocks"].as_u64().unwrap();
    assert_eq!(tempo, 20, "a reveal has one tempo (2 s here) to land");
    let commit_tempo = (committed["height"].as_u64().unwrap() - created) / tempo;
    let reveal_from = created + (commit_tempo + 1) * tempo;
    let start = Instant::now();
    while env.ok(&["subnet", "show", "review"])["height"]
        .as_u64()
        .unwrap()
        + 1
        < reveal_from
    {
        assert!(start.elapsed() < WAIT_LIMIT, "the next tempo did not come");
        std::thread::sleep(Duration::from_millis(50));
    }
    env.ok(&[&["subnet", "reveal", "review"][..], &from("val")].concat());
    let start = Instant::now();
    loop {
        let graph = env.ok(&["subnet", "show", "review"]);
        let miner = &graph["rows"][0];
        if amount(&miner["emission"]) > 0 {
            assert_ne!(miner["incentive"], "0");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the miner was never paid: {graph}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    env.ok(&[&["stake", "undelegate", "val", "250"][..], &from("erin")].concat());
    env.fails(
        &[&["stake", "undelegate", "val", "1"][..], &from("erin")].concat(),
        "delegated here",
    );
    env.fails(&["subnet", "show", "nope"], "no subnet");
    // Dissolving waits for every delegation to leave, and is the owner's alone.
    env.fails(
        &[&["subnet", "dissolve", "review"][..], &from("erin")].concat(),
        "owner",
    );
    env.fails(
        &[&["subnet", "dissolve", "review"][..], &from("owner")].concat(),
        "undelegate first",
    );
    let _ = node.kill();
    let _ = node.wait();
}
