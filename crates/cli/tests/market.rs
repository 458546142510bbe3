//! The inference market end to end, on loopback with the real models, every service a
//! process of its own:
//!
//! * `devnet_serves_paid_split_openai_calls`: `tessera devnet` (node, shipped models, two
//!   providers each, a gateway): OpenAI calls, streamed and not, equal `model run`'s local
//!   results; 16 concurrent calls all succeed; errors are OpenAI-shaped; a client that
//!   disconnects mid-stream pays for what it received (within one token); the claims
//!   are split to the base unit (holders' pool, data provider); then the devnet's subnet
//!   validator (`tessera validator run`) audits both providers of minilm-embed with paid
//!   calls, sets weights by commit-reveal, and the epochs pay both miners; then a
//!   provider that cheats (embeds 80 % of each input) is reported by a validator with its
//!   own receipt, proven by the other's re-execution vote, slashed and delisted.
//! * `providers_and_gateway_survive_kills`: `node --dev` with the models, two
//!   `provider run`s and a `gateway`: a SIGKILLed provider is failed over without an
//!   error and, restarted, claims everything it served; a gateway SIGKILLed mid-stream
//!   restarts with its channels and budget and pays the next call without paying twice;
//!   forged, replayed, stale, under-funded, wrong-lane, wrong-chain and expired vouchers
//!   are each refused with their own code before anything runs.
//!
//! Skipped when the model files are absent, unless `TESSERA_REQUIRE_MODELS=1`.
#![cfg(test)]

mod common;

use serde_json::{json, Value};
use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};
use tessera_chain::genesis::dev_key;

const PASSPHRASE: &str = "test passphrase";
/// The shipped models' prices in base units: MiniLM per call, SmolLM2 per token.
const MINILM_PER_CALL: u128 = 2_000_000;
const SMOLLM_PER_TOKEN: u128 = 100_000;

/// A child process, killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Env {
    root: PathBuf,
    node: String,
}

impl Env {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = common::tessera();
        cmd.args(args)
            .env("TESSERA_HOME", self.root.join("wallet"))
            .env("TESSERA_NODE", &self.node)
            .env("TESSERA_PASSPHRASE", PASSPHRASE)
            .env("TESSERA_LOG", "warn");
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd(args).output().unwrap();
        assert!(
            out.status.success(),
            "tessera {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs a command that must fail; its stderr.
    fn fail(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().unwrap();
        assert!(!out.status.success(), "tessera {args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_slice(&self.run(&all).stdout).unwrap()
    }

    /// A long-running `tessera` service, its stderr in `<root>/<name>.log`.
    fn spawn(&self, name: &str, args: &[&str], extra_env: &[(&str, &str)]) -> Proc {
        let mut cmd = self.cmd(args);
        cmd.env("TESSERA_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(self.root.join(format!("{name}.log"))).unwrap());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        Proc(cmd.spawn().unwrap())
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.root.join(format!("{name}.log"))).unwrap_or_default()
    }
}

fn fresh_root(name: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("tessera-market-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("wallet")).unwrap();
    root
}

fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap()
}

fn post(url: &str, body: &Value) -> (u16, Value) {
    let r = http()
        .post(url)
        .bearer_auth("sk-any-key-works")
        .json(body)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

/// A streamed call's `data:` payloads, in order.
fn stream(url: &str, body: &Value) -> Vec<String> {
    let r = http().post(url).json(body).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let mut events = Vec::new();
    for line in BufReader::new(r).lines() {
        let line = line.unwrap();
        if let Some(data) = line.strip_prefix("data: ") {
            events.push(data.to_string());
        }
    }
    events
}

fn stream_text(events: &[String]) -> String {
    events
        .iter()
        .filter(|e| *e != "[DONE]")
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(String::from)
        })
        .collect()
}

fn base(v: &Value) -> u128 {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        panic!("not an amount in base units: {v}");
    })
}

#[test]
fn devnet_serves_paid_split_openai_calls() {
    if !common::shipped_models_present("devnet_serves_paid_split_openai_calls") {
        return;
    }
    let root = fresh_root("devnet");
    let ports = common::free_port_range(5, &[]);
    let node = format!("http://127.0.0.1:{ports}");
    let env = Env { root, node };
    let mut devnet = env.spawn(
        "devnet",
        &[
            "devnet",
            "--block-time-ms",
            "200",
            "--rpc-addr",
            &format!("127.0.0.1:{ports}"),
            "--gateway-addr",
            &format!("127.0.0.1:{}", ports + 1),
            "--provider-port",
            &(ports + 2).to_string(),
        ],
        &[
            ("TESSERA_HOME", env.root.join("devnet").to_str().unwrap()),
            ("TESSERA_DEVNET_CLAIM_SECS", "2"),
            ("TESSERA_DEVNET_VALIDATOR", "0"),
        ],
    );
    // The devnet prints the gateway's base URL on stdout once everything is up.
    let mut line = String::new();
    BufReader::new(devnet.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let gateway = line.trim().to_string();
    assert_eq!(
        gateway,
        format!("http://127.0.0.1:{}/v1", ports + 1),
        "{}",
        env.log("devnet")
    );

    let data_provider = dev_key(3).address().to_string();
    let data_before = base(&env.json(&["balance", &data_provider])["account"]["balance"]);

    // /v1/models: both models, their prices and two providers each.
    let models: Value = http()
        .get(format!("{gateway}/models"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let data = models["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{models}");
    for m in data {
        assert_eq!(m["providers"].as_array().unwrap().len(), 2, "{m}");
        assert!(m["context_length"].as_u64().unwrap() >= 512);
    }

    // Embeddings equal the local runtime's, bit for bit.
    let (status, emb) = post(
        &format!("{gateway}/embeddings"),
        &json!({"model": "minilm-embed", "input": ["a sentence to embed", "b"]}),
    );
    assert_eq!(status, 200, "{emb}");
    assert!(
        emb.get("tessera_receipt").is_none(),
        "receipts stay in the gateway"
    );
    let local = env.json(&["model", "run", "minilm-embed", "a sentence to embed"]);
    let floats = |v: &Value| -> Vec<u32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| (x.as_f64().unwrap() as f32).to_bits())
            .collect()
    };
    assert_eq!(
        floats(&emb["data"][0]["embedding"]),
        floats(&local["embedding"])
    );
    assert_eq!(emb["data"].as_array().unwrap().len(), 2);

    // Chat, whole and streamed, equals `model run` on the same runtime.
    let ask = |stream: bool| json!({"model": "smollm2-chat", "messages": [{"role": "user", "content": "What is the capital of France?"}], "max_tokens": 12, "stream": stream, "stream_options": {"include_usage": true}});
    let (status, whole) = post(&format!("{gateway}/chat/completions"), &ask(false));
    assert_eq!(status, 200, "{whole}");
    let text = whole["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    let local = env.json(&[
        "model",
        "run",
        "smollm2-chat",
        "What is the capital of France?",
        "--max-tokens",
        "12",
    ]);
    assert_eq!(
        text,
        local["text"]
            .as_str()
            .unwrap()
            .trim_end_matches("<|im_end|>")
    );
    let completion = whole["usage"]["completion_tokens"].as_u64().unwrap();
    assert!((1..=12).contains(&completion), "{whole}");
    let events = stream(&format!("{gateway}/chat/completions"), &ask(true));
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    assert_eq!(stream_text(&events), text);
    let usage: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
    assert_eq!(usage["usage"]["completion_tokens"], completion, "{usage}");
    let (status, done) = post(
        &format!("{gateway}/completions"),
        &json!({"model": "smollm2-chat", "prompt": "Once upon a time", "max_tokens": 5}),
    );
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["object"], "text_completion");
    // Tokens billed for chat so far (dev4, the cheaper provider, serves them).
    let chat_tokens = 2 * u128::from(completion)
        + u128::from(done["usage"]["completion_tokens"].as_u64().unwrap());

    // OpenAI-shaped errors.
    let (status, err) = post(
        &format!("{gateway}/chat/completions"),
        &json!({"model": "nope", "messages": []}),
    );
    assert_eq!(status, 404);
    assert_eq!(err["error"]["code"], "model_not_found", "{err}");
    let (status, err) = post(&format!("{gateway}/embeddings"), &json!({"input": "x"}));
    assert_eq!(status, 400);
    assert_eq!(err["error"]["type"], "invalid_request_error", "{err}");

    // 16 concurrent calls on one channel all succeed.
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let url = format!("{gateway}/embeddings");
                s.spawn(move || {
                    post(
                        &url,
                        &json!({"model": "minilm-embed", "input": format!("call {i}")}),
                    )
                    .0
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    // Every call is claimed (2 s after it) and split: the holders' pools and the data
    // provider get exactly their shares of the model part of what was claimed.
    env.run(&["keys", "import-dev", "6", "user"]);
    let claimed_total = |env: &Env| -> Vec<Value> {
        env.json(&["channel", "list", "user"])
            .as_array()
            .unwrap()
            .clone()
    };
    let claimed_of = |lines: &[Value], model: u64| -> u128 {
        lines
            .iter()
            .filter(|l| l["channel"]["model"] == model)
            .map(|l| base(&l["channel"]["claimed"]))
            .sum()
    };
    wait_until("every charge claimed", Duration::from_secs(60), || {
        let lines = claimed_total(&env);
        claimed_of(&lines, 1) == 17 * MINILM_PER_CALL
            && claimed_of(&lines, 2) == chat_tokens * SMOLLM_PER_TOKEN
    });
    let lines = claimed_total(&env);
    let mut model_parts = std::collections::BTreeMap::new();
    for l in &lines {
        let ch = &l["channel"];
        let claimed = base(&ch["claimed"]);
        let (m, p) = if ch["model_price"]["per_token"] == "0" {
            (
                base(&ch["model_price"]["per_call"]),
                base(&ch["provider_price"]["per_call"]),
            )
        } else {
            (
                base(&ch["model_price"]["per_token"]),
                base(&ch["provider_price"]["per_token"]),
            )
        };
        *model_parts
            .entry(ch["model"].as_u64().unwrap())
            .or_insert(0u128) += claimed * m / p;
    }
    // MiniLM: 1 + 16 calls (`model run` is local and unpaid).
    assert_eq!(model_parts[&1], 17 * MINILM_PER_CALL);
    let mut data_expected = 0;
    for (model, part) in &model_parts {
        let shown = env.json(&["model", "show", &model.to_string()]);
        assert_eq!(
            base(&shown["pool"]["credited"]),
            part * 25 / 100,
            "holders' part of model {model}"
        );
        data_expected += part * 10 / 100;
        assert_eq!(part % SMOLLM_PER_TOKEN, 0);
    }
    let data_after = base(&env.json(&["balance", &data_provider])["account"]["balance"]);
    assert_eq!(
        data_after - data_before,
        data_expected,
        "the data provider's part"
    );

    // A client that disconnects mid-stream pays for what it received, within one token.
    let before: u128 = lines.iter().map(|l| base(&l["channel"]["claimed"])).sum();
    let r = http()
        .post(format!("{gateway}/chat/completions"))
        .json(&json!({"model": "smollm2-chat", "messages": [{"role": "user", "content": "Count from one to one hundred."}], "max_tokens": 200, "stream": true}))
        .send()
        .unwrap();
    let mut reader = BufReader::new(r);
    let mut received = 0u128;
    let mut line = String::new();
    while received < 5 {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line.contains("\"content\"") {
            received += 1;
        }
    }
    drop(reader);
    wait_until(
        "the partial stream claimed",
        Duration::from_secs(60),
        || {
            let now: u128 = claimed_total(&env)
                .iter()
                .map(|l| base(&l["channel"]["claimed"]))
                .sum();
            now > before
        },
    );
    std::thread::sleep(Duration::from_secs(4));
    let after: u128 = claimed_total(&env)
        .iter()
        .map(|l| base(&l["channel"]["claimed"]))
        .sum();
    let tokens = (after - before) / SMOLLM_PER_TOKEN;
    assert!(
        tokens >= received && tokens <= received + 1,
        "received {received} tokens, paid for {tokens}"
    );

    // dev7's validator keeps running: it votes on the cheater's dispute.
    let _validator = validator_audits_and_emission_flows(&env, &gateway);
    cheater_is_reported_proven_and_slashed(&env, ports + 4);
}

/// The devnet's subnet validator, dev7, run as `tessera validator run` on minilm-embed
/// (the devnet's own run of it is off here, so the split above counts only the user's
/// calls; `tests/devnet_validator.rs` checks the devnet's): it audits both providers with
/// paid, pinned calls, commits and reveals weights, and the next epochs pay both honest
/// miners. `tessera validator run` for a key without a validator UID says what to do.
fn validator_audits_and_emission_flows(env: &Env, gateway: &str) -> Proc {
    // A call pinned to an address that does not serve the model is refused.
    let pinned = http()
        .post(format!("{gateway}/embeddings"))
        .header("x-tessera-provider", dev_key(6).address().to_string())
        .json(&json!({"model": "minilm-embed", "input": "x"}))
        .send()
        .unwrap();
    assert_eq!(pinned.status().as_u16(), 404);
    let body: Value = pinned.json().unwrap();
    assert_eq!(body["error"]["code"], "provider_not_found", "{body}");

    env.run(&["keys", "import-dev", "8", "cheat"]);
    let refused = env.fail(&[
        "validator",
        "run",
        "--from",
        "cheat",
        "--subnet",
        "minilm-embed",
    ]);
    assert!(refused.contains("holds no validator UID"), "{refused}");
    env.run(&["keys", "import-dev", "7", "val"]);
    let validator = env.spawn(
        "validator",
        &[
            "validator",
            "run",
            "--from",
            "val",
            "--subnet",
            "minilm-embed",
            "--calls",
            "2",
        ],
        &[],
    );

    let miners_paid = || {
        let graph = env.json(&["subnet", "show", "minilm-embed"]);
        let rows = graph["rows"].as_array().unwrap().clone();
        let miners: Vec<&Value> = rows.iter().filter(|r| r["role"] == "miner").collect();
        miners.len() == 2
            && miners
                .iter()
                .all(|m| base(&m["emission"]) > 0 && m["incentive"] != "0")
    };
    wait_until(
        "emission to both audited miners",
        Duration::from_secs(180),
        || {
            let paid = miners_paid();
            if !paid {
                let log = env.log("validator");
                assert!(!log.contains("error:"), "{log}");
            }
            paid
        },
    );
    // The epoch that pays can run in the very block the reveal lands in, so the
    // validator may print its confirmation a poll after the payment is visible.
    wait_until(
        "the validator to report its reveal",
        Duration::from_secs(30),
        || env.log("validator").contains("weights revealed"),
    );
    let log = env.log("validator");
    assert!(log.contains("weights committed"), "{log}");
    assert!(log.contains("correct 2"), "{log}");
    validator
}

/// A provider that answers every fifth call with a cheaper computation (it embeds only
/// 80 % of the input: `TESSERA_ADVERSARY=truncate-inputs`) joins minilm-embed, and a
/// second validator (`tessera validator run`, dev9) joins dev7. An audit that meets a
/// wrong answer reports it with the provider's own signed receipt; the other validator
/// re-runs the check and votes guilty; the verdict slashes half its stake (a fifth of
/// that to the reporter) and delists it; its incentive falls to zero. No honest provider
/// is ever reported.
fn cheater_is_reported_proven_and_slashed(env: &Env, port: u16) {
    let cheat = dev_key(8).address().to_string();
    let endpoint = format!("http://127.0.0.1:{port}");
    env.run(&["keys", "import-dev", "9", "val2"]);
    let val2 = dev_key(9).address().to_string();
    env.run(&[
        "subnet",
        "register",
        "--from",
        "val2",
        "minilm-embed",
        "--role",
        "validator",
    ]);
    env.run(&[
        "stake",
        "delegate",
        "--from",
        "val2",
        &val2,
        "1000",
        "--subnet",
        "minilm-embed",
    ]);
    let _val2 = env.spawn(
        "val2",
        &[
            "validator",
            "run",
            "--from",
            "val2",
            "--subnet",
            "minilm-embed",
            "--calls",
            "2",
        ],
        &[],
    );

    env.run(&[
        "provider",
        "register",
        "--from",
        "cheat",
        "minilm-embed",
        "--stake",
        "500",
        "--price",
        "0.002",
        "--endpoint",
        &endpoint,
    ]);
    env.run(&[
        "subnet",
        "register",
        "--from",
        "cheat",
        "minilm-embed",
        "--role",
        "miner",
    ]);
    let _cheater = env.spawn(
        "cheat",
        &["provider", "run", "--from", "cheat"],
        &[("TESSERA_ADVERSARY", "truncate-inputs")],
    );
    wait_http(&format!("{endpoint}/health"), env, "the cheating provider");
    assert!(env.log("cheat").contains("cheats on purpose"));

    // A report, then the other validator's vote, then the verdict.
    let reported = format!("reported {cheat} for a wrong answer: dispute ");
    let mut proven = None;
    wait_until("a proven fraud dispute", Duration::from_secs(240), || {
        let logs = format!("{}\n{}", env.log("validator"), env.log("val2"));
        for id in logs.lines().filter_map(|l| {
            l.split_once(&reported)
                .and_then(|(_, rest)| rest.split_whitespace().next())
        }) {
            let view = env.json(&["verify", "show", id]);
            if view["verdict"] == "proven" && base(&view["slashed"]) > 0 {
                proven = Some(view);
            }
        }
        proven.is_some()
    });
    let view = proven.unwrap();
    assert_eq!(view["evidence"]["receipt"]["provider"], cheat.as_str());
    assert_eq!(base(&view["slashed"]), 250 * 1_000_000_000, "{view}");
    assert!(base(&view["guilty_weight"]) > 0, "{view}");
    assert_eq!(base(&view["innocent_weight"]), 0, "{view}");

    // Delisted: the cheat serves no model any more.
    let listing = env.json(&["provider", "list", "cheat"]);
    assert!(
        listing.as_array().is_some_and(|a| a.is_empty()),
        "{listing}"
    );

    // Once seen wrong it earns nothing: its incentive falls to zero (a wrong answer
    // zeroes a miner's weight for the tempo, and the delisted cheat serves no more).
    wait_until(
        "the cheat's incentive to reach zero",
        Duration::from_secs(120),
        || {
            let graph = env.json(&["subnet", "show", "minilm-embed"]);
            graph["rows"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["key"] == cheat.as_str())
                .is_none_or(|r| r["incentive"] == "0")
        },
    );
    // No honest provider was ever reported.
    let logs = format!("{}\n{}", env.log("validator"), env.log("val2"));
    for line in logs.lines().filter(|l| l.contains("for a wrong answer")) {
        assert!(
            line.contains(&cheat),
            "an honest provider was reported: {line}"
        );
    }
}

/// `tessera provider run` (or `gateway`) as a process.
fn service(env: &Env, name: &str, args: &[&str]) -> Proc {
    env.spawn(name, args, &[])
}

/// Waits until `url` answers HTTP at all.
fn wait_http(url: &str, env: &Env, name: &str) {
    wait_until(
        &format!("{name} to answer"),
        Duration::from_secs(120),
        || http().get(url).send().is_ok(),
    );
    let _ = env;
}

/// `tessera channel open` from key `from` to `provider` for MiniLM; the id it prints.
fn open_channel(
    env: &Env,
    from: &str,
    provider: &str,
    deposit: &str,
    expiry_blocks: &str,
) -> tessera_types::Hash {
    let opened = env.run(&[
        "channel",
        "open",
        "--from",
        from,
        "--to",
        provider,
        "--model",
        "minilm-embed",
        "--deposit",
        deposit,
        "--expiry-blocks",
        expiry_blocks,
    ]);
    let text = String::from_utf8_lossy(&opened.stdout).to_string();
    text.lines()
        .last()
        .unwrap()
        .trim_start_matches("channel ")
        .parse()
        .unwrap()
}

/// A paid request built by hand: the lease's voucher and request signature by `payer`.
fn paid(
    url: &str,
    payer: &tessera_types::Keypair,
    chain: &str,
    lease: &tessera_gateway::book::Lease,
    body: &Value,
) -> (u16, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let chain_id = tessera_types::ChainId::new(chain).unwrap();
    let mut request = http().post(url).header("content-type", "application/json");
    for (name, value) in tessera_gateway::pay::headers(payer, &chain_id, lease, &bytes) {
        request = request.header(name, value);
    }
    let r = request.body(bytes).send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

#[test]
fn providers_and_gateway_survive_kills() {
    if !common::shipped_models_present("providers_and_gateway_survive_kills") {
        return;
    }
    let root = fresh_root("kills");
    let ports = common::free_port_range(5, &[]);
    let env = Env {
        root,
        node: format!("http://127.0.0.1:{ports}"),
    };
    let (p1_port, p2_port, gw_port) = (ports + 1, ports + 2, ports + 3);
    let _node = env.spawn(
        "node",
        &[
            "node",
            "--dev",
            "--block-time-ms",
            "200",
            "--rpc-addr",
            &format!("127.0.0.1:{ports}"),
        ],
        &[
            ("TESSERA_HOME", env.root.join("node").to_str().unwrap()),
            ("TESSERA_DEVNET_MODELS", "1"),
            ("TESSERA_DEVNET_MARKET", "0"),
        ],
    );
    wait_until("the shipped models", Duration::from_secs(300), || {
        env.cmd(&["--json", "model", "list"])
            .output()
            .ok()
            .and_then(|o| serde_json::from_slice::<Value>(&o.stdout).ok())
            .is_some_and(|v| v.as_array().is_some_and(|a| a.len() == 2))
    });
    for (i, name) in [(4, "p1"), (5, "p2"), (7, "user"), (8, "payer")] {
        env.run(&["keys", "import-dev", &i.to_string(), name]);
    }
    let chain = env.json(&["status"])["chain_id"]
        .as_str()
        .unwrap()
        .to_string();
    for (who, port, embed, chat) in [
        ("p1", p1_port, "0.002", "0.0001"),
        ("p2", p2_port, "0.003", "0.00015"),
    ] {
        let endpoint = format!("http://127.0.0.1:{port}");
        for (model, price) in [("minilm-embed", embed), ("smollm2-chat", chat)] {
            env.run(&[
                "provider",
                "register",
                "--from",
                who,
                model,
                "--stake",
                "200",
                "--price",
                price,
                "--endpoint",
                &endpoint,
            ]);
        }
    }
    // p1 claims only when it stops or restarts; p2 a second after each charge.
    let mut p1 = service(
        &env,
        "p1",
        &[
            "provider",
            "run",
            "--from",
            "p1",
            "--claim-after-secs",
            "3600",
            "--claim-at",
            "1000",
        ],
    );
    let mut p2 = service(
        &env,
        "p2",
        &["provider", "run", "--from", "p2", "--claim-after-secs", "1"],
    );
    let gw_args = [
        "gateway",
        "--from",
        "user",
        "--listen",
        &format!("127.0.0.1:{gw_port}"),
        "--budget",
        "20",
        // Room for two embeddings per deposit, so the third is paid by a top-up.
        "--deposit",
        "0.004",
    ];
    let mut gw = service(&env, "gateway", &gw_args);
    let p1_url = format!("http://127.0.0.1:{p1_port}");
    let gateway = format!("http://127.0.0.1:{gw_port}/v1");
    wait_http(&format!("{p1_url}/health"), &env, "p1");
    wait_http(&format!("http://127.0.0.1:{p2_port}/health"), &env, "p2");
    wait_http(&format!("{gateway}/models"), &env, "gateway");

    // Three calls go to p1, the cheaper one.
    let embed = json!({"model": "minilm-embed", "input": "hello"});
    for _ in 0..3 {
        let (status, body) = post(&format!("{gateway}/embeddings"), &embed);
        assert_eq!(status, 200, "{body}");
    }
    let user_channels = |env: &Env| {
        env.json(&["channel", "list", "user"])
            .as_array()
            .unwrap()
            .clone()
    };
    let channels = user_channels(&env);
    assert_eq!(
        channels.len(),
        1,
        "the dry channel was topped up, not replaced"
    );
    assert_eq!(
        base(&channels[0]["channel"]["deposit"]),
        4 * MINILM_PER_CALL
    );

    // p1 is SIGKILLed: the next call fails over to p2 and the user sees no error.
    let _ = p1.0.kill();
    let _ = p1.0.wait();
    let (status, body) = post(&format!("{gateway}/embeddings"), &embed);
    assert_eq!(status, 200, "{body} {}", env.log("gateway"));
    assert_eq!(user_channels(&env).len(), 2, "a channel to p2 was opened");

    // Restarted, p1 claims everything it served before the kill.
    let p1 = service(
        &env,
        "p1-again",
        &["provider", "run", "--from", "p1", "--claim-after-secs", "1"],
    );
    wait_http(&format!("{p1_url}/health"), &env, "p1 again");
    let p1_address = dev_key(4).address().to_string();
    wait_until("p1's claim", Duration::from_secs(60), || {
        user_channels(&env).iter().any(|l| {
            l["channel"]["provider"] == p1_address.as_str()
                && base(&l["channel"]["claimed"]) == 3 * MINILM_PER_CALL
        })
    });

    // A provider killed mid-stream: the stream goes on at the other provider from the
    // text already sent, and the client sees one answer. (The gateway still has p1
    // cooling down from its failure, so p2 takes the stream.)
    let story = json!({"model": "smollm2-chat", "messages": [{"role": "user", "content": "Tell me a long story about the sea."}], "max_tokens": 40, "stream": true});
    let r = http()
        .post(format!("{gateway}/chat/completions"))
        .json(&story)
        .send()
        .unwrap();
    let mut events = Vec::new();
    for line in BufReader::new(r).lines() {
        let line = line.unwrap();
        if let Some(data) = line.strip_prefix("data: ") {
            events.push(data.to_string());
            if events.len() == 4 {
                let _ = p2.0.kill();
                let _ = p2.0.wait();
            }
        }
    }
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    assert!(
        !events.iter().any(|e| e.contains("\"error\"")),
        "{events:?} {}",
        env.log("gateway")
    );
    assert!(stream_text(&events).len() > 20, "{events:?}");

    // The gateway is SIGKILLed mid-stream, restarted on its book, and pays the next call
    // on the same channel without a new deposit (p2 is gone: both calls go to p1).
    let long = json!({"model": "smollm2-chat", "messages": [{"role": "user", "content": "Count from one to one hundred."}], "max_tokens": 100, "stream": true});
    let r = http()
        .post(format!("{gateway}/chat/completions"))
        .json(&long)
        .send()
        .unwrap();
    let mut reader = BufReader::new(r);
    let mut line = String::new();
    let mut chunks = 0;
    while chunks < 3 {
        line.clear();
        reader.read_line(&mut line).unwrap();
        chunks += usize::from(line.contains("\"content\""));
    }
    let _ = gw.0.kill();
    let _ = gw.0.wait();
    drop(reader);
    let channels_before = user_channels(&env).len();
    let mut _gw = service(&env, "gateway-again", &gw_args);
    wait_http(&format!("{gateway}/models"), &env, "gateway again");
    let short = json!({"model": "smollm2-chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 5});
    let (status, body) = post(&format!("{gateway}/chat/completions"), &short);
    assert_eq!(status, 200, "{body} {}", env.log("gateway-again"));
    assert_eq!(
        user_channels(&env).len(),
        channels_before,
        "no new channel after the restart"
    );
    let deposits: u128 = user_channels(&env)
        .iter()
        .map(|l| base(&l["channel"]["deposit"]))
        .sum();
    assert!(
        deposits <= 20 * 1_000_000_000,
        "the budget holds: {deposits}"
    );
    // What p1 charged on its chat lanes: the interrupted stream (what it delivered before
    // the gateway vanished, at most 100 tokens) and the new call, each once.
    let chat_channel = user_channels(&env)
        .into_iter()
        .find(|l| l["channel"]["model"] == 2)
        .unwrap();
    let id = chat_channel["id"].as_str().unwrap().to_string();
    let charged: u128 = (0..4)
        .map(|lane| {
            let v: Value = http()
                .get(format!("{p1_url}/v1/lanes/{id}/{lane}"))
                .send()
                .unwrap()
                .json()
                .unwrap();
            base(&v["charged"])
        })
        .sum();
    let tokens = charged / SMOLLM_PER_TOKEN;
    assert!((4..=105).contains(&tokens), "p1 charged {tokens} tokens");

    // Hand-made vouchers on a channel of their own, each refused with its own code.
    let payer = dev_key(8);
    let p1_addr = p1_address.clone();
    let channel = open_channel(&env, "payer", &p1_addr, "0.003", "2000");
    let lease = |lane: u32, cumulative: u128| tessera_gateway::book::Lease {
        channel,
        lane,
        cumulative: tessera_types::Amount::from_base(cumulative),
        reserve: tessera_types::Amount::from_base(MINILM_PER_CALL),
        provider: dev_key(4).address(),
        endpoint: p1_url.clone(),
    };
    let url = format!("{p1_url}/v1/embeddings");
    let code = |(status, body): (u16, Value)| {
        (
            status,
            body["error"]["code"].as_str().unwrap_or("").to_string(),
        )
    };
    let ok = paid(&url, &payer, &chain, &lease(0, MINILM_PER_CALL), &embed);
    assert_eq!(ok.0, 200, "{}", ok.1);
    let cases = [
        (
            "forged",
            paid(
                &url,
                &dev_key(9),
                &chain,
                &lease(1, MINILM_PER_CALL),
                &embed,
            ),
            "voucher_forged",
        ),
        (
            "replayed",
            paid(&url, &payer, &chain, &lease(0, MINILM_PER_CALL), &embed),
            "voucher_replayed",
        ),
        (
            "stale",
            paid(&url, &payer, &chain, &lease(0, MINILM_PER_CALL + 1), &embed),
            "voucher_stale",
        ),
        (
            "under-funded",
            paid(&url, &payer, &chain, &lease(1, MINILM_PER_CALL), &embed),
            "channel_underfunded",
        ),
        (
            "wrong lane",
            paid(&url, &payer, &chain, &lease(5_000, MINILM_PER_CALL), &embed),
            "voucher_wrong_lane",
        ),
        (
            "wrong chain",
            paid(
                &url,
                &payer,
                "another-chain",
                &lease(1, MINILM_PER_CALL),
                &embed,
            ),
            "voucher_wrong_chain",
        ),
    ];
    for (what, got, want) in cases {
        assert_eq!(code(got), (402, want.to_string()), "{what}");
    }
    let expiring = open_channel(&env, "payer", &p1_addr, "0.01", "10");
    let expired = tessera_gateway::book::Lease {
        channel: expiring,
        ..lease(0, MINILM_PER_CALL)
    };
    assert_eq!(
        code(paid(&url, &payer, &chain, &expired, &embed)),
        (402, "channel_expired".to_string())
    );
    // None of the refused calls was charged: lane 0 holds the one good call.
    let v: Value = http()
        .get(format!("{p1_url}/v1/lanes/{channel}/0"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(base(&v["charged"]), MINILM_PER_CALL);
    overclaimer_is_reported_and_slashed(&env, &gateway, ports + 4);
    drop(p1);
}

/// A chat provider that claims each lane's whole voucher instead of what it charged
/// (`TESSERA_ADVERSARY=overclaim`) serves one call through the gateway. The gateway sees
/// the claim above the receipt it holds and reports it; the provider has no later
/// receipt to answer with, so at the deadline it is slashed and delisted and the
/// overclaimed amount is repaid to the gateway's account. No honest provider was ever
/// reported.
fn overclaimer_is_reported_and_slashed(env: &Env, gateway: &str, port: u16) {
    env.run(&["keys", "import-dev", "6", "greedy"]);
    let greedy = dev_key(6).address().to_string();
    let endpoint = format!("http://127.0.0.1:{port}");
    env.run(&[
        "provider",
        "register",
        "--from",
        "greedy",
        "smollm2-chat",
        "--stake",
        "200",
        "--price",
        "0.0001",
        "--endpoint",
        &endpoint,
    ]);
    let _greedy = env.spawn(
        "greedy",
        &[
            "provider",
            "run",
            "--from",
            "greedy",
            "--claim-after-secs",
            "1",
        ],
        &[("TESSERA_ADVERSARY", "overclaim")],
    );
    wait_http(&format!("{endpoint}/health"), env, "the greedy provider");
    assert!(env.log("greedy").contains("cheats on purpose"));
    let user = dev_key(7).address().to_string();
    let user_before = base(&env.json(&["balance", &user])["account"]["balance"]);
    // The overclaim is the unused part of the lane's last reservation, so the last call
    // must stop before its token limit: short questions with room for more, until one
    // stops by itself (the candle and llama.cpp runtimes answer differently). The
    // gateway's directory learns of the new provider within a few seconds: 404 until
    // then.
    let mut finished = None;
    for (prompt, max_tokens) in [
        ("Hi", 60),
        ("Reply with only the word yes.", 100),
        ("What is the capital of France?", 120),
        ("Hello!", 200),
    ] {
        wait_until(
            "the gateway to serve through the greedy provider",
            Duration::from_secs(60),
            || {
                let r = http()
                    .post(format!("{gateway}/chat/completions"))
                    .header("x-tessera-provider", greedy.as_str())
                    .json(&json!({"model": "smollm2-chat", "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens}))
                    .send()
                    .unwrap();
                let status = r.status().as_u16();
                if status == 404 {
                    return false;
                }
                assert_eq!(status, 200, "{}", env.log("gateway-again"));
                let body: Value = r.json().unwrap();
                finished = body["choices"][0]["finish_reason"]
                    .as_str()
                    .map(String::from);
                true
            },
        );
        if finished.as_deref() == Some("stop") {
            break;
        }
    }
    assert_eq!(
        finished.as_deref(),
        Some("stop"),
        "every answer ran to its limit"
    );

    let reported = format!("reported {greedy} for overclaiming lane ");
    let mut id = None;
    wait_until(
        "the gateway to report the overclaim",
        Duration::from_secs(120),
        || {
            id = env.log("gateway-again").lines().find_map(|l| {
                l.contains(&reported)
                    .then(|| {
                        l.rsplit_once("overclaim ")
                            .map(|(_, id)| id.trim().to_string())
                    })
                    .flatten()
            });
            id.is_some()
        },
    );
    let id = id.unwrap();
    let mut view = Value::Null;
    wait_until("the overclaim's verdict", Duration::from_secs(120), || {
        view = env.json(&["verify", "show", &id]);
        view["verdict"].is_string()
    });
    assert_eq!(view["verdict"], "proven", "{view} {}", env.log("greedy"));
    assert_eq!(view["receipt"]["provider"], greedy.as_str());
    assert_eq!(view["payer"], user.as_str());
    let restitution = base(&view["restitution"]);
    assert!(restitution > 0, "{view}");
    assert_eq!(
        restitution,
        base(&view["claimed"]) - base(&view["receipt"]["lane_charged"])
    );
    assert_eq!(base(&view["slashed"]), 100 * 1_000_000_000, "{view}");
    // Repaid: the user got the overclaim and a share of the slash back, and its bond.
    let user_after = base(&env.json(&["balance", &user])["account"]["balance"]);
    assert!(
        user_after > user_before + restitution,
        "{user_before} → {user_after}"
    );
    let listing = env.json(&["provider", "list", "greedy"]);
    assert!(
        listing.as_array().is_some_and(|a| a.is_empty()),
        "{listing}"
    );
    // Only the greedy provider was ever reported.
    for name in ["gateway", "gateway-again"] {
        for line in env
            .log(name)
            .lines()
            .filter(|l| l.contains("for overclaiming"))
        {
            assert!(
                line.contains(&greedy),
                "an honest provider was reported: {line}"
            );
        }
    }
}
