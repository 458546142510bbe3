//! What the market adds to a call: the gateway and a provider, payment included, against
//! the inference runtime called in this process.
//!
//! ```sh
//! bash scripts/fetch-models.sh
//! cargo bench -p tessera-cli --bench market             # TESSERA_BENCH_CALLS=300
//! cargo bench -p tessera-cli --features llama --bench market
//! ```
//!
//! Set-up: `tessera devnet` (this build) on free ports, its gateway warmed with 20 calls
//! (the first opens the channels). Then:
//! * **embedding**: CALLS sequential `POST /v1/embeddings` of one short sentence through
//!   the gateway (keep-alive client), each paid with a voucher and answered with a
//!   receipt, against CALLS `Embedder::embed` of the same sentence here. Added latency =
//!   gateway − direct, at p50 and p99.
//! * **chat**: 5 streamed answers of 128 tokens through the gateway against 5 local
//!   generations of the same prompt: time to first token and tokens/s after it.
//!
//! Not a criterion bench: percentiles over real HTTP calls, printed for
//! `docs/benchmarks.md`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../tests/common/mod.rs"]
mod common;

use serde_json::json;
use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};
use tessera_infer::{default_minilm_dir, Embedder, GenerateParams};

const SENTENCE: &str = "a short sentence to embed";
const PROMPT: &str = "Write a long story about a lighthouse keeper.";

/// Answers of 128 tokens timed for tokens/s, per path.
const RATE_ROUNDS: usize = 9;

/// Short answers timed for the time to first token, per path.
const TTFT_ROUNDS: usize = 60;

/// Milliseconds to the first content chunk of a streamed answer sent at `t`, and tokens
/// per second after it.
fn read_stream(r: reqwest::blocking::Response, t: Instant) -> (f64, f64) {
    let mut first = None;
    let mut tokens = 0u32;
    for l in BufReader::new(r).lines() {
        if l.unwrap().contains("\"content\"") {
            tokens += 1;
            first.get_or_insert_with(|| t.elapsed());
        }
    }
    let first = first.unwrap();
    let rate = f64::from(tokens.saturating_sub(1)) / (t.elapsed() - first).as_secs_f64();
    (first.as_secs_f64() * 1e3, rate)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn stats(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (percentile(&samples, 0.5), percentile(&samples, 0.99))
}

struct Devnet(std::process::Child);

impl Drop for Devnet {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Dev account `payer` opens a channel to dev4 for `model`; returns the chain id and its id.
fn open_channel(
    node: &str,
    payer: u64,
    model: &str,
) -> (tessera_types::ChainId, tessera_types::Hash) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = tessera_rpc::RpcClient::new(node);
        let chain = client.status().await.unwrap().chain_id;
        let model = client.model_providers(model).await.unwrap().model;
        let payer = tessera_chain::genesis::dev_key(payer);
        let call = tessera_types::Call::OpenChannel {
            provider: tessera_chain::genesis::dev_key(4).address(),
            model,
            deposit: tessera_types::Amount::from_tsr(10).unwrap(),
            expiry_blocks: 20_000,
        };
        let nonce = client.account(&payer.address()).await.unwrap().next_nonce;
        let id = client.sign_and_submit(&payer, call, None).await.unwrap();
        client
            .wait_for_tx(id, Duration::from_secs(60))
            .await
            .unwrap();
        (
            chain,
            tessera_types::channel::channel_id(&payer.address(), nonce),
        )
    })
}

/// A request to `path` at the dev4 provider, paid from dev `payer` on `lane` of `channel`
/// (charged `charged` so far) with room for `reserve` more.
#[allow(clippy::too_many_arguments)]
fn paid_post(
    http: &reqwest::blocking::Client,
    provider: &str,
    path: &str,
    payer: u64,
    chain: &tessera_types::ChainId,
    channel: tessera_types::Hash,
    lane: u32,
    (charged, reserve): (u128, u128),
    body: Vec<u8>,
) -> reqwest::blocking::RequestBuilder {
    let lease = tessera_gateway::book::Lease {
        channel,
        lane,
        cumulative: tessera_types::Amount::from_base(charged + reserve),
        reserve: tessera_types::Amount::from_base(reserve),
        provider: tessera_chain::genesis::dev_key(4).address(),
        endpoint: provider.to_string(),
    };
    let key = tessera_chain::genesis::dev_key(payer);
    let headers = tessera_gateway::pay::headers(&key, chain, &lease, &body);
    let mut request = http
        .post(format!("{provider}{path}"))
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request
}

/// One paid embedding call straight to the provider on `lane` of `channel`, lane charged
/// `charged` so far; returns the lane's new charged total.
fn paid_embedding(
    http: &reqwest::blocking::Client,
    provider: &str,
    payer: u64,
    chain: &tessera_types::ChainId,
    channel: tessera_types::Hash,
    lane: u32,
    charged: u128,
) -> u128 {
    const PER_CALL: u128 = 2_000_000;
    let body = serde_json::to_vec(&json!({"model": "minilm-embed", "input": SENTENCE})).unwrap();
    let request = paid_post(
        http,
        provider,
        "/v1/embeddings",
        payer,
        chain,
        channel,
        lane,
        (charged, PER_CALL),
        body,
    );
    let r = request.send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.bytes().unwrap();
    charged + PER_CALL
}

/// Calls per second of 8 threads × `per_thread` embedding calls, from lane `first_lane`
/// on: each thread on its own lane of one channel, or each on its own channel.
fn concurrent(
    http: &reqwest::blocking::Client,
    provider: &str,
    chain: &tessera_types::ChainId,
    channels: &[(u64, tessera_types::Hash)],
    per_thread: usize,
    first_lane: u32,
) -> f64 {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..8u32 {
            let (payer, channel) = channels[t as usize % channels.len()];
            let lane = first_lane + if channels.len() == 1 { t } else { 0 };
            s.spawn(move || {
                let mut charged = 0;
                for _ in 0..per_thread {
                    charged = paid_embedding(http, provider, payer, chain, channel, lane, charged);
                }
            });
        }
    });
    (8 * per_thread) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let calls: usize = std::env::var("TESSERA_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let root = std::env::temp_dir().join(format!("tessera-market-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let ports = common::free_port_range(4, &[]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args([
            "devnet",
            "--rpc-addr",
            &format!("127.0.0.1:{ports}"),
            "--gateway-addr",
            &format!("127.0.0.1:{}", ports + 1),
            "--provider-port",
            &(ports + 2).to_string(),
        ])
        .env("TESSERA_HOME", &root)
        .env("TESSERA_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _devnet = Devnet(child);
    let gateway = line.trim().to_string();
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap();
    let embed_body = json!({"model": "minilm-embed", "input": SENTENCE});
    let call = |body: &serde_json::Value| {
        let r = http
            .post(format!("{gateway}/embeddings"))
            .json(body)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        r.bytes().unwrap();
    };
    for _ in 0..20 {
        call(&embed_body);
    }

    let embedder = Embedder::load(default_minilm_dir()).unwrap();
    for _ in 0..20 {
        embedder.embed(&[SENTENCE]).unwrap();
    }
    // The provider straight, paid by hand from dev9 on a channel of its own, to split the
    // added time between the gateway's hop and the provider's.
    let provider = format!("http://127.0.0.1:{}", ports + 2);
    let node = format!("http://127.0.0.1:{ports}");
    let (chain, embed_channel) = open_channel(&node, 9, "minilm-embed");
    let mut charged = 0;
    for _ in 0..20 {
        charged = paid_embedding(&http, &provider, 9, &chain, embed_channel, 100, charged);
    }
    let mut direct = Vec::with_capacity(calls);
    let mut straight = Vec::with_capacity(calls);
    let mut through = Vec::with_capacity(calls);
    for _ in 0..calls {
        let t = Instant::now();
        embedder.embed(&[SENTENCE]).unwrap();
        direct.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        charged = paid_embedding(&http, &provider, 9, &chain, embed_channel, 100, charged);
        straight.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        call(&embed_body);
        through.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (d50, d99) = stats(direct);
    let (p50, p99) = stats(straight);
    let (g50, g99) = stats(through);
    println!("embedding, {calls} sequential calls (ms): direct p50 {d50:.3} p99 {d99:.3}; provider p50 {p50:.3} p99 {p99:.3}; gateway p50 {g50:.3} p99 {g99:.3}; added p50 {:.3} p99 {:.3} (provider alone {:.3} / {:.3})", g50 - d50, g99 - d99, p50 - d50, p99 - d99);

    // Chat: time to first token and tokens/s, through the gateway, from the provider
    // straight (paid by hand from dev7 on a channel of its own, to separate the gateway's
    // cost from the provider's) and here, interleaved so that the VM's noise falls on all
    // three alike.
    let (_, channel) = open_channel(&node, 7, "smollm2-chat");
    #[cfg(feature = "llama")]
    let mut generator =
        tessera_infer::LlamaGenerator::load(tessera_infer::default_smollm2_gguf()).unwrap();
    #[cfg(not(feature = "llama"))]
    let mut generator =
        tessera_infer::Generator::load(tessera_infer::default_smollm2_gguf()).unwrap();
    let through_gateway = |max_tokens: u32| {
        let body = json!({"model": "smollm2-chat", "messages": [{"role": "user", "content": PROMPT}], "max_tokens": max_tokens, "stream": true});
        let t = Instant::now();
        let r = http
            .post(format!("{gateway}/chat/completions"))
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        read_stream(r, t)
    };
    let from_provider = |max_tokens: u32| {
        let body = serde_json::to_vec(&json!({"model": "smollm2-chat", "messages": [{"role": "user", "content": PROMPT}], "max_tokens": max_tokens, "stream": true})).unwrap();
        let lane: serde_json::Value = http
            .get(format!("{provider}/v1/lanes/{channel}/0"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let charged: u128 = lane["charged"].as_str().unwrap().parse().unwrap();
        let reserve = u128::from(max_tokens) * 100_000;
        let request = paid_post(
            &http,
            &provider,
            "/v1/chat/completions",
            7,
            &chain,
            channel,
            0,
            (charged, reserve),
            body,
        );
        let t = Instant::now();
        let r = request.send().unwrap();
        assert_eq!(r.status().as_u16(), 200);
        read_stream(r, t)
    };
    // Here, as a program calling the runtime would: template, tokenize, generate.
    let mut here = |max_tokens: u32| {
        let t = Instant::now();
        let prompt = generator.tokenizer().chat_prompt(None, PROMPT).unwrap();
        let mut first = None;
        let out = generator
            .generate(
                &prompt,
                &GenerateParams {
                    max_new_tokens: max_tokens as usize,
                },
                |_, _| {
                    first.get_or_insert_with(|| t.elapsed());
                },
            )
            .unwrap();
        let first = first.unwrap();
        let rate = (out.token_ids.len() as f64 - 1.0) / (t.elapsed() - first).as_secs_f64();
        (first.as_secs_f64() * 1e3, rate)
    };
    // Warm-up: the gateway's first chat call opens its channel.
    for _ in 0..3 {
        through_gateway(2);
        from_provider(2);
        here(2);
    }
    let (mut gw_ttft, mut pv_ttft, mut local_ttft) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..TTFT_ROUNDS {
        gw_ttft.push(through_gateway(2).0);
        pv_ttft.push(from_provider(2).0);
        local_ttft.push(here(2).0);
    }
    let (mut gw_rate, mut pv_rate, mut local_rate) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RATE_ROUNDS {
        gw_rate.push(through_gateway(128).1);
        pv_rate.push(from_provider(128).1);
        local_rate.push(here(128).1);
    }
    let (gt, gt99) = stats(gw_ttft);
    let (pt, pt99) = stats(pv_ttft);
    let (lt, lt99) = stats(local_ttft);
    let (gr, _) = stats(gw_rate);
    let (pr, _) = stats(pv_rate);
    let (lr, _) = stats(local_rate);
    println!(
        "chat, time to first token, {TTFT_ROUNDS} answers each (p50 / p99 ms): local {lt:.1} / {lt99:.1}, provider {pt:.1} / {pt99:.1}, gateway {gt:.1} / {gt99:.1} (gateway adds {:.1} ms at p50; provider and gateway add {:.1} ms)",
        gt - pt,
        gt - lt
    );
    println!(
        "chat, {RATE_ROUNDS} answers of 128 tokens each (medians): tokens/s local {lr:.1}, provider {pr:.1}, gateway {gr:.1} (gateway/provider {:.3}x, gateway/local {:.3}x)",
        gr / pr,
        gr / lr
    );
    // Eight concurrent callers: on eight lanes of one channel, then on eight channels.
    let one = vec![(8, open_channel(&node, 8, "minilm-embed").1)];
    let eight: Vec<(u64, tessera_types::Hash)> = [0u64, 1, 2, 3, 5, 7, 9, 6]
        .iter()
        .map(|p| (*p, open_channel(&node, *p, "minilm-embed").1))
        .collect();
    let per_thread = (calls / 8).max(5);
    // Warm-up on lanes of its own (8..), then the measured runs from lane 0.
    concurrent(&http, &provider, &chain, &one, 2, 8);
    concurrent(&http, &provider, &chain, &eight, 2, 8);
    let on_one = concurrent(&http, &provider, &chain, &one, per_thread, 0);
    let on_eight = concurrent(&http, &provider, &chain, &eight, per_thread, 0);
    println!(
        "8 concurrent callers x {per_thread} embeddings, straight to one provider: one channel {on_one:.1} calls/s, eight channels {on_eight:.1} calls/s ({:.3}x)",
        on_one / on_eight
    );
    let _ = std::fs::remove_dir_all(&root);
}
