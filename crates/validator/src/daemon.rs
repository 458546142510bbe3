//! The validator daemon: each tempo it audits every miner of its subnet with paid calls
//! through an ordinary gateway, turns the audits into weights, commits them, and reveals
//! them in the next tempo ([`crate::schedule`] says when).
//!
//! # Audits
//! The daemon runs a gateway of its own (the validator's key pays, within `budget`) and
//! sends each miner `calls_per_miner` calls pinned to it (`x-tessera-provider`), with
//! inputs drawn at random from a corpus shaped like user traffic: to the provider they are
//! calls like any other, paid through a channel. Each answer is checked against the
//! validator's own run of the model, fetched by CID and verified:
//! * embeddings: the cosine of the claimed and the recomputed vector must be at least
//!   `tessera_infer::DEFAULT_COSINE_THRESHOLD` (0.999), with unit length.
//! * chat (generation): a chat call for `CHAT_AUDIT_TOKENS` tokens; the token ids its
//!   receipt signs are checked with `check_generation` (llama.cpp bf16 checker in a
//!   `llama` build, candle f32 otherwise; the f32 model is asked too before an answer is
//!   called wrong: [`crate::reference`]).
//!
//! # Weights
//! Per miner: `availability = correct / asked` (an error and a timeout count as not
//! served), `speed = fastest p50 / own p50` over the miners that answered (1 for the
//! fastest), and `weight = ⌊65,535 · availability · (0.8 + 0.2 · speed)⌋`; but a miner
//! with **any wrong answer** in the tempo (one that failed its check) gets weight 0.
//! Honest answers never fail the checks (0 of 600 honest claims on three kernel paths in
//! the calibration, cosine ≥ 0.999 across paths), so zero tolerance costs honest miners
//! nothing and makes a cheat that hides among right answers earn nothing for the tempo
//! it is seen in. Latency separates honest miners by at most a fifth. A miner that
//! served nothing gets weight 0.
//! Every call has `call_timeout` (default 60 s, enough for the slowest supported machine
//! to embed a short input cold).
//!
//! # Fraud (decision 0021)
//! A wrong answer whose receipt (`x-tessera-receipt`, returned by the gateway) signs
//! exactly the request sent and the answer received is evidence: the daemon reports it
//! with `bond`, unless a dispute against that provider for the model is open already.
//! Every step it also re-runs the check of each open dispute of its subnet that another
//! validator reported (its own run of the disputed inputs, the same cosine check) and
//! votes once: guilty when any vector fails. A request it cannot read as an embeddings
//! request accuses no one (it votes innocent).

use crate::intake::{Intake, UserCall};
use crate::reference::Reference;
use crate::{
    schedule::{plan, Action, Timing},
    weights::{Pending, PendingStore, WeightsError},
};
use std::{
    collections::{HashMap, HashSet},
    future::Future,
    path::PathBuf,
    sync::Mutex,
    time::{Duration, Instant},
};
use tessera_provider::fetch::FetchEvent;
use tessera_provider::{runtime::Prompt, server::prompt_of_request};
use tessera_rpc::{RpcClient, RpcError};
use tessera_state::subnets::metagraph::Metagraph;
use tessera_types::{
    call::CallReceipt,
    dispute::FraudEvidence,
    subnet::{Role, UidWeight},
    Address, Amount, Call, Hash, Keypair,
};

/// Inputs the audits draw from: short, varied sentences like a search or RAG client sends.
const CORPUS: &[&str] = &[
    "How do I reset my password?",
    "The quick brown fox jumps over the lazy dog.",
    "Quarterly revenue grew by twelve percent compared to last year.",
    "What is the boiling point of water at high altitude?",
    "A recipe for bread with whole wheat flour and honey",
    "Symptoms of dehydration in hot weather",
    "The train to the airport leaves every fifteen minutes.",
    "Explain the difference between a list and a tuple in Python.",
    "Best practices for storing passwords in a database",
    "The museum is closed on Mondays and public holidays.",
    "How many moons does Jupiter have?",
    "Contract terms for renting an apartment for one year",
    "Photosynthesis converts light energy into chemical energy.",
    "Where can I find the nearest pharmacy open at night?",
    "A short poem about the sea at dawn",
    "Steps to replace a bicycle tire",
];

/// Tokens each chat audit asks for: enough for the check to see the model's choices,
/// short enough to audit every miner each tempo on a slow machine.
const CHAT_AUDIT_TOKENS: u32 = 16;

/// Users' calls checked per step at most (a chat check takes up to seconds).
const SAMPLES_PER_STEP: usize = 8;

/// How the daemon runs.
#[derive(Clone, Debug)]
pub struct Config {
    pub node: String,
    /// The subnet's name or id.
    pub subnet: String,
    /// Pending commits and the gateway's book live here.
    pub data_dir: PathBuf,
    /// Where the reference model's files are fetched (the home's blob store).
    pub blob_dir: PathBuf,
    /// The most the audit calls may hold in channel deposits.
    pub budget: Amount,
    pub calls_per_miner: usize,
    pub call_timeout: Duration,
    /// Blocks before a tempo's end under which the daemon no longer starts to audit.
    pub margin_blocks: u64,
    pub poll: Duration,
    /// What each fraud report bonds (at least the chain's `dispute_min_bond`).
    pub bond: Amount,
    /// Where to receive samples of users' calls from gateways ([`crate::intake`]).
    pub listen: Option<std::net::SocketAddr>,
}

impl Config {
    pub fn new(node: &str, subnet: &str, data_dir: PathBuf, blob_dir: PathBuf) -> Config {
        Config {
            node: node.into(),
            subnet: subnet.into(),
            data_dir,
            blob_dir,
            budget: Amount::from_base(10 * tessera_types::amount::BASE_PER_TSR),
            calls_per_miner: 3,
            call_timeout: Duration::from_secs(60),
            margin_blocks: 3,
            poll: Duration::from_millis(500),
            bond: Amount::from_base(10 * tessera_types::amount::BASE_PER_TSR),
            listen: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ValidatorError {
    #[error(transparent)]
    Rpc(#[from] RpcError),
    #[error("the audit gateway: {0}")]
    Gateway(#[from] tessera_gateway::GatewayError),
    #[error("the reference model: {0}")]
    Fetch(Box<tessera_provider::fetch::FetchError>),
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error("{who} holds no validator UID in subnet {subnet:?}: `tessera subnet register --role validator` and stake on it (`tessera stake delegate`) first")]
    NotValidator { who: Address, subnet: String },
    #[error("subnet {0:?} has no model: there is nothing to audit")]
    NoModel(String),
    #[error("the audit call failed to build: {0}")]
    Http(String),
    #[error("cannot listen for users' samples on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

impl From<tessera_provider::fetch::FetchError> for ValidatorError {
    fn from(e: tessera_provider::fetch::FetchError) -> ValidatorError {
        ValidatorError::Fetch(Box::new(e))
    }
}

/// What the daemon did, for the operator.
#[derive(Clone, Debug)]
pub enum Report {
    Audited {
        tempo: u64,
        audits: Vec<Audit>,
        weights: Vec<UidWeight>,
    },
    Committed {
        tempo: u64,
    },
    Revealed {
        tempo: u64,
    },
    Dropped {
        tempo: Option<u64>,
    },
    /// A wrong answer was reported as fraud: dispute `dispute` is open.
    Reported {
        provider: Address,
        dispute: Hash,
    },
    /// Gateways can send samples of users' calls to `addr`.
    Listening {
        addr: std::net::SocketAddr,
    },
    /// A sampled user call was checked.
    Sampled {
        provider: Address,
        correct: bool,
    },
    /// The daemon re-ran a dispute's check and voted.
    Voted {
        dispute: Hash,
        guilty: bool,
    },
    Problem(String),
}

impl std::fmt::Display for Report {
    /// One line per event (one per miner for an audit), as an operator reads them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Report::Audited {
                tempo,
                audits,
                weights,
            } => {
                for (i, (a, w)) in audits.iter().zip(weights).enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    let p50 = a.p50_ms.map_or("-".into(), |ms| format!("{ms} ms"));
                    write!(
                        f,
                        "tempo {tempo}: UID {} ({}) answered {}/{}, correct {}, p50 {p50} → weight {}",
                        a.uid, a.provider, a.answered, a.asked, a.correct, w.weight
                    )?;
                }
                Ok(())
            }
            Report::Committed { tempo } => write!(f, "tempo {tempo}: weights committed"),
            Report::Revealed { tempo } => write!(f, "tempo {tempo}: weights revealed"),
            Report::Dropped { tempo } => write!(
                f,
                "a commit of tempo {} expired unrevealed and was dropped",
                tempo.map_or("?".into(), |t| t.to_string())
            ),
            Report::Reported { provider, dispute } => write!(
                f,
                "reported {provider} for a wrong answer: dispute {dispute} (`tessera verify show {dispute}`)"
            ),
            Report::Listening { addr } => write!(
                f,
                "receiving samples of users' calls on http://{addr}/v1/audits (tessera gateway --audit-to http://{addr})"
            ),
            Report::Sampled { provider, correct } => write!(
                f,
                "checked a user's call answered by {provider}: {}",
                if *correct { "correct" } else { "WRONG" }
            ),
            Report::Voted { dispute, guilty } => write!(
                f,
                "re-ran dispute {dispute} and voted {}",
                if *guilty { "guilty" } else { "innocent" }
            ),
            Report::Problem(text) => write!(f, "warning: {text}"),
        }
    }
}

/// One miner's audit in one tempo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Audit {
    pub uid: u16,
    pub provider: Address,
    pub asked: u32,
    pub answered: u32,
    pub correct: u32,
    /// Median latency of the answered calls.
    pub p50_ms: Option<u64>,
}

/// The weight formula of the module doc, for audits of one tempo.
pub fn weights_of(audits: &[Audit]) -> Vec<UidWeight> {
    // The speed reference is the fastest miner that served correctly and never wrongly.
    let fastest = audits
        .iter()
        .filter(|a| a.correct > 0 && a.answered == a.correct)
        .filter_map(|a| a.p50_ms)
        .min()
        .unwrap_or(0);
    audits
        .iter()
        .map(|a| {
            let wrong = a.answered > a.correct;
            let weight = match (a.asked, a.p50_ms) {
                _ if wrong => 0,
                (0, _) | (_, None) => 0,
                (asked, Some(p50)) => {
                    // In parts per million to stay in integers.
                    let quality = u128::from(a.correct) * 1_000_000 / u128::from(asked);
                    let speed = u128::from(fastest.max(1)) * 1_000_000 / u128::from(p50.max(1));
                    let factor = 800_000 + speed.min(1_000_000) / 5;
                    let w = 65_535 * quality / 1_000_000 * factor / 1_000_000;
                    u16::try_from(w).unwrap_or(u16::MAX)
                }
            };
            UidWeight { uid: a.uid, weight }
        })
        .collect()
}

/// Run until `stop` resolves.
pub async fn run(
    key: Keypair,
    config: Config,
    fetch_progress: &(dyn Fn(FetchEvent<'_>) + Sync),
    report: &(dyn Fn(Report) + Sync),
    stop: impl Future<Output = ()>,
) -> Result<(), ValidatorError> {
    let client = RpcClient::new(&config.node);
    let me = key.address();
    let graph = client.subnet(&config.subnet).await?;
    own_uid(&graph, &me, &config.subnet)?;
    // Listen before the model loads: samples wait in the queue meanwhile.
    let intake = match config.listen {
        Some(addr) => {
            let intake = Intake::start(addr)
                .await
                .map_err(|source| ValidatorError::Listen { addr, source })?;
            report(Report::Listening { addr: intake.addr });
            Some(intake)
        }
        None => None,
    };
    let model = graph
        .subnet
        .model
        .ok_or_else(|| ValidatorError::NoModel(config.subnet.clone()))?;
    let reference = Reference::load(&config.blob_dir, &client, model, fetch_progress).await?;
    let mut gateway_config = tessera_gateway::Config::new(
        &config.node,
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        config.data_dir.join("gateway"),
        config.budget,
    );
    gateway_config.attempts = 1;
    let gateway = tessera_gateway::start(key.clone(), gateway_config).await?;
    let url = format!("http://{}/v1", gateway.addr);
    let store = PendingStore::open(&config.data_dir.join("weights"))?;
    let http = reqwest::Client::builder()
        .timeout(config.call_timeout)
        .build()
        .map_err(|e| ValidatorError::Http(e.to_string()))?;
    let daemon = Daemon {
        client: &client,
        key: &key,
        config: &config,
        store: &store,
        http: &http,
        url: &url,
        reference: &reference,
        report,
        voted: Mutex::new(HashSet::new()),
        intake: intake.as_ref(),
        sampled: Mutex::new(HashMap::new()),
    };
    let result = tokio::select! {
        r = daemon.tempo_loop() => r,
        () = stop => Ok(()),
    };
    gateway.stop().await?;
    if let Some(intake) = intake {
        intake.stop().await;
    }
    result
}

fn own_uid(graph: &Metagraph, me: &Address, subnet: &str) -> Result<u16, ValidatorError> {
    graph
        .rows
        .iter()
        .find(|r| r.key == *me && r.role == Role::Validator)
        .map(|r| r.uid)
        .ok_or_else(|| ValidatorError::NotValidator {
            who: *me,
            subnet: subnet.into(),
        })
}

struct Daemon<'a> {
    client: &'a RpcClient,
    key: &'a Keypair,
    config: &'a Config,
    store: &'a PendingStore,
    http: &'a reqwest::Client,
    url: &'a str,
    reference: &'a Reference,
    report: &'a (dyn Fn(Report) + Sync),
    /// Disputes this daemon has voted on (or tried to).
    voted: Mutex<HashSet<Hash>>,
    intake: Option<&'a Intake>,
    /// Users' calls checked since the last audit, by provider: (checked, correct).
    sampled: Mutex<HashMap<Address, (u32, u32)>>,
}

impl Daemon<'_> {
    /// Steps until stopped; a failed step (the node unreachable, a transaction refused)
    /// is reported and retried after a pause.
    async fn tempo_loop(&self) -> Result<(), ValidatorError> {
        let mut last_commit: Option<u64> = None;
        loop {
            if let Err(e) = self.step(&mut last_commit).await {
                (self.report)(Report::Problem(e.to_string()));
                tokio::time::sleep(self.config.poll.saturating_mul(4)).await;
            }
        }
    }

    async fn step(&self, last_commit: &mut Option<u64>) -> Result<(), ValidatorError> {
        let me = self.key.address();
        let graph = self.client.subnet(&self.config.subnet).await?;
        self.vote_on_disputes(graph.id).await?;
        self.check_samples(&graph).await;
        let timing = Timing {
            created_at: graph.subnet.created_at,
            tempo_blocks: graph.subnet.params.tempo_blocks,
        };
        let pending = match self.store.load(graph.id, &me) {
            Ok(p) => Some(p),
            Err(WeightsError::NothingPending { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        // A pending commit of unknown tempo (made by hand) is taken as last tempo's: the
        // reveal is tried once, and dropped if the chain refuses it.
        let pending_tempo = pending.as_ref().map(|p| {
            p.tempo
                .unwrap_or_else(|| timing.tempo_of(graph.height).saturating_sub(1))
        });
        match plan(
            timing,
            graph.height,
            pending_tempo,
            *last_commit,
            self.config.margin_blocks,
        ) {
            Action::Reveal => {
                if let Some(p) = pending {
                    let outcome = self.send(p.reveal_call()).await;
                    self.store.remove(graph.id, &me)?;
                    outcome?;
                    (self.report)(Report::Revealed {
                        tempo: pending_tempo.unwrap_or(0).saturating_add(1),
                    });
                }
            }
            Action::Drop => {
                self.store.remove(graph.id, &me)?;
                (self.report)(Report::Dropped {
                    tempo: pending_tempo,
                });
            }
            Action::Commit { tempo } => {
                *last_commit = Some(tempo);
                if let Some(landed) = self.audit_and_commit(&graph, tempo).await? {
                    *last_commit = Some(landed);
                }
            }
            Action::Wait { .. } => tokio::time::sleep(self.config.poll).await,
        }
        Ok(())
    }

    /// Audit every miner and commit their weights; the tempo the commit landed in.
    async fn audit_and_commit(
        &self,
        graph: &Metagraph,
        tempo: u64,
    ) -> Result<Option<u64>, ValidatorError> {
        let mut audits = Vec::new();
        let mut suspects = Vec::new();
        for row in graph.rows.iter().filter(|r| r.role == Role::Miner) {
            let (audit, wrong) = self.audit(&graph.subnet.name, row.uid, row.key).await;
            audits.push(audit);
            suspects.extend(wrong);
        }
        for evidence in suspects {
            if let Err(e) = self.report_fraud(evidence).await {
                (self.report)(Report::Problem(format!("a fraud report failed: {e}")));
            }
        }
        let weights = weights_of(&audits);
        (self.report)(Report::Audited {
            tempo,
            audits,
            weights: weights.clone(),
        });
        if weights.iter().all(|w| w.weight == 0) {
            (self.report)(Report::Problem(
                "no miner served correctly this tempo: nothing to commit".into(),
            ));
            return Ok(None);
        }
        // Audits can outlast the tempo they started in (chat calls on a slow machine):
        // the commit belongs to the tempo it lands in.
        let timing = Timing {
            created_at: graph.subnet.created_at,
            tempo_blocks: graph.subnet.params.tempo_blocks,
        };
        let head = self.client.status().await?.height;
        let mut pending = Pending::new(graph.id, self.key.address(), weights);
        pending.tempo = Some(timing.tempo_of(head.saturating_add(1)).max(tempo));
        // On disk before the commit is sent: a crash after it loses nothing.
        self.store.save(&pending)?;
        let events = match self.send(pending.commit_call()).await {
            Ok(events) => events,
            Err(e) => {
                self.store.remove(graph.id, &self.key.address())?;
                return Err(e);
            }
        };
        let landed = events.iter().find_map(|e| match e {
            tessera_types::Event::Subnet(
                tessera_types::subnet::SubnetEvent::WeightsCommitted { tempo, .. },
            ) => Some(*tempo),
            _ => None,
        });
        if landed.is_some() && landed != pending.tempo {
            pending.tempo = landed;
            self.store.save(&pending)?;
        }
        (self.report)(Report::Committed {
            tempo: pending.tempo.unwrap_or(tempo),
        });
        Ok(pending.tempo)
    }

    /// `calls_per_miner` embedding calls pinned to `provider`, each checked; with the
    /// evidence of the first wrong answer whose receipt binds it.
    async fn audit(
        &self,
        model: &str,
        uid: u16,
        provider: Address,
    ) -> (Audit, Option<FraudEvidence>) {
        let mut audit = Audit {
            uid,
            provider,
            asked: 0,
            answered: 0,
            correct: 0,
            p50_ms: None,
        };
        let mut wrong = None;
        let mut latencies = Vec::new();
        for _ in 0..self.config.calls_per_miner {
            let input = CORPUS
                .get(rand::random_range(0..CORPUS.len()))
                .copied()
                .unwrap_or("hello");
            audit.asked = audit.asked.saturating_add(1);
            let started = Instant::now();
            let Some(answer) = self.ask(model, provider, input).await else {
                continue;
            };
            latencies.push(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
            audit.answered = audit.answered.saturating_add(1);
            match self.checks_out(input, &answer).await {
                Some(true) => audit.correct = audit.correct.saturating_add(1),
                Some(false) if wrong.is_none() => wrong = answer.evidence,
                _ => {}
            }
        }
        latencies.sort_unstable();
        audit.p50_ms = latencies.get(latencies.len() / 2).copied();
        // Users' calls checked since the last audit count like the daemon's own.
        let users = self
            .sampled
            .lock()
            .ok()
            .and_then(|mut s| s.remove(&provider));
        if let Some((checked, correct)) = users {
            audit.asked = audit.asked.saturating_add(checked);
            audit.answered = audit.answered.saturating_add(checked);
            audit.correct = audit.correct.saturating_add(correct);
        }
        (audit, wrong)
    }

    /// One audit call to `provider` with `input`, through the audit gateway (`None`: no
    /// usable answer), with the evidence its receipt makes of it.
    async fn ask(&self, model: &str, provider: Address, input: &str) -> Option<Answer> {
        let (path, body) = if self.reference.is_chat() {
            let body = serde_json::json!({
                "model": model,
                "messages": [{"role": "user", "content": input}],
                "max_tokens": CHAT_AUDIT_TOKENS,
            });
            ("chat/completions", body)
        } else {
            let body = serde_json::json!({ "model": model, "input": input });
            ("embeddings", body)
        };
        let body = serde_json::to_vec(&body).ok()?;
        let response = self
            .http
            .post(format!("{}/{path}", self.url))
            .header(
                tessera_gateway::server::PROVIDER_HEADER,
                provider.to_string(),
            )
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        let receipt = response
            .headers()
            .get(tessera_types::call::RECEIPT_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(CallReceipt::from_hex);
        let answer = response.bytes().await.ok()?.to_vec();
        // The claim: the token ids the receipt signs, or the vectors of the answer.
        let (vectors, token_ids) = if self.reference.is_chat() {
            (Vec::new(), receipt.as_ref()?.token_ids.clone())
        } else {
            let vectors = embeddings_of(&answer).filter(|v| !v.is_empty())?;
            (vectors, Vec::new())
        };
        let evidence = receipt
            .and_then(|receipt| {
                self.evidence_of(UserCall {
                    receipt,
                    request: body,
                    response: answer,
                })
            })
            .filter(|e| e.receipt.provider == provider);
        Some(Answer {
            vectors,
            token_ids,
            evidence,
        })
    }

    /// Whether an answer to `input` checks out against the validator's own run (`None`:
    /// the check could not run).
    async fn checks_out(&self, input: &str, answer: &Answer) -> Option<bool> {
        if self.reference.is_chat() {
            let prompt = Prompt::Chat(vec![("user".into(), input.into())], None);
            self.reference
                .generation_checks_out(prompt, answer.token_ids.clone())
                .await
        } else {
            self.reference
                .embeddings_check_out(&[input.to_string()], &answer.vectors)
                .await
        }
    }

    /// Report a wrong answer, unless a dispute against its provider is already open.
    async fn report_fraud(&self, evidence: FraudEvidence) -> Result<(), ValidatorError> {
        let (provider, model) = (evidence.receipt.provider, evidence.receipt.model);
        let open = self.client.disputes().await?;
        if open
            .iter()
            .any(|d| d.dispute.provider() == provider && d.dispute.model() == model)
        {
            return Ok(());
        }
        let dispute = evidence.dispute_id();
        self.send(Call::ReportFraud {
            evidence: Box::new(evidence),
            bond: self.config.bond,
        })
        .await?;
        (self.report)(Report::Reported { provider, dispute });
        Ok(())
    }

    /// Re-run the check of every open dispute in `subnet` that another validator
    /// reported, and vote once on each.
    async fn vote_on_disputes(
        &self,
        subnet: tessera_types::subnet::SubnetId,
    ) -> Result<(), ValidatorError> {
        let me = self.key.address();
        for view in self.client.disputes().await? {
            let d = &view.dispute;
            let seen = self
                .voted
                .lock()
                .map(|v| v.contains(&view.id))
                .unwrap_or(true);
            if d.subnet != subnet || d.reporter == me || view.height >= d.deadline || seen {
                continue;
            }
            let Some(guilty) = self.recheck(&d.evidence).await else {
                continue;
            };
            if let Ok(mut v) = self.voted.lock() {
                v.insert(view.id);
            }
            match self
                .send(Call::VoteDispute {
                    dispute: view.id,
                    guilty,
                })
                .await
            {
                Ok(_) => (self.report)(Report::Voted {
                    dispute: view.id,
                    guilty,
                }),
                Err(e) => (self.report)(Report::Problem(format!(
                    "the vote on dispute {} failed: {e}",
                    view.id
                ))),
            }
        }
        Ok(())
    }

    /// Check up to [`SAMPLES_PER_STEP`] users' calls from the intake: those of this
    /// subnet's model answered by one of its miners, whose receipt binds the request and
    /// the answer. A wrong one is reported like a wrong audit answer.
    async fn check_samples(&self, graph: &Metagraph) {
        let Some(intake) = self.intake else {
            return;
        };
        for call in intake.take(SAMPLES_PER_STEP) {
            let provider = call.receipt.provider;
            let ours = graph.subnet.model == Some(call.receipt.model)
                && graph
                    .rows
                    .iter()
                    .any(|r| r.role == Role::Miner && r.key == provider);
            if !ours {
                continue;
            }
            let Some(evidence) = self.evidence_of(call) else {
                (self.report)(Report::Problem(format!(
                    "a user's call answered by {provider} was not checked: its receipt does not sign that request and answer"
                )));
                continue;
            };
            let Some(wrong) = self.recheck(&evidence).await else {
                (self.report)(Report::Problem(format!(
                    "a user's call answered by {provider} was not checked: the check could not run"
                )));
                continue;
            };
            if let Ok(mut tally) = self.sampled.lock() {
                let entry = tally.entry(provider).or_insert((0, 0));
                entry.0 = entry.0.saturating_add(1);
                entry.1 = entry.1.saturating_add(u32::from(!wrong));
            }
            (self.report)(Report::Sampled {
                provider,
                correct: !wrong,
            });
            if wrong {
                if let Err(e) = self.report_fraud(evidence).await {
                    (self.report)(Report::Problem(format!("a fraud report failed: {e}")));
                }
            }
        }
    }

    /// A call as evidence: the output its receipt signs, taken from the answer (`None`:
    /// the receipt does not bind this request and answer). Only a receipt that signs
    /// exactly the request sent and the answer received is evidence.
    fn evidence_of(&self, call: UserCall) -> Option<FraudEvidence> {
        let output: Vec<u8> = if self.reference.is_chat() {
            call.receipt
                .token_ids
                .iter()
                .flat_map(|id| id.to_le_bytes())
                .collect()
        } else {
            embeddings_of(&call.response)?
                .iter()
                .flatten()
                .flat_map(|v| v.to_le_bytes())
                .collect()
        };
        let evidence = FraudEvidence {
            receipt: call.receipt,
            request: call.request,
            output,
        };
        evidence
            .check(&evidence.receipt.chain_id)
            .is_ok()
            .then_some(evidence)
    }

    /// Whether a disputed answer is wrong (`None`: the validator cannot run its own
    /// now). A request the check cannot read accuses no one.
    async fn recheck(&self, evidence: &FraudEvidence) -> Option<bool> {
        if !evidence.output.len().is_multiple_of(4) {
            return Some(true);
        }
        let words = evidence
            .output
            .chunks_exact(4)
            .filter_map(|b| <[u8; 4]>::try_from(b).ok());
        if self.reference.is_chat() {
            let Some(prompt) = prompt_of_request(&evidence.request) else {
                return Some(false);
            };
            let claimed: Vec<u32> = words.map(u32::from_le_bytes).collect();
            return self
                .reference
                .generation_checks_out(prompt, claimed)
                .await
                .map(|ok| !ok);
        }
        let Some(inputs) = embedding_inputs(&evidence.request) else {
            return Some(false);
        };
        let values: Vec<f32> = words.map(f32::from_le_bytes).collect();
        let count = inputs.len().max(1);
        if !values.len().is_multiple_of(count) {
            return Some(true);
        }
        let claimed: Vec<Vec<f32>> = values
            .chunks(values.len() / count)
            .map(<[f32]>::to_vec)
            .collect();
        self.reference
            .embeddings_check_out(&inputs, &claimed)
            .await
            .map(|ok| !ok)
    }

    async fn send(&self, call: Call) -> Result<Vec<tessera_types::Event>, ValidatorError> {
        Ok(self
            .client
            .submit_and_confirm(self.key, call, Duration::from_secs(60))
            .await?)
    }
}

/// A provider's answer to one audit call.
struct Answer {
    /// Embeddings (empty for a chat answer).
    vectors: Vec<Vec<f32>>,
    /// The generated token ids its receipt signs (empty for embeddings).
    token_ids: Vec<u32>,
    /// The request, output and signed receipt, when the receipt binds them.
    evidence: Option<FraudEvidence>,
}

/// The vectors of an OpenAI embeddings answer body, in order (`None`: not one).
fn embeddings_of(body: &[u8]) -> Option<Vec<Vec<f32>>> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    json.get("data")?
        .as_array()?
        .iter()
        .map(|item| {
            item.get("embedding")?
                .as_array()?
                .iter()
                .map(|v| v.as_f64().map(|x| x as f32))
                .collect()
        })
        .collect()
}

/// The texts of an OpenAI embeddings request body (`input`: a string or strings).
fn embedding_inputs(body: &[u8]) -> Option<Vec<String>> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    match json.get("input")? {
        serde_json::Value::String(text) => Some(vec![text.clone()]),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .filter(|v| !v.is_empty()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four calls asked; `answered` answered, `correct` of them right.
    fn audit(uid: u16, answered: u32, correct: u32, p50: Option<u64>) -> Audit {
        Audit {
            uid,
            provider: Address([uid as u8; 32]),
            asked: 4,
            answered,
            correct,
            p50_ms: p50,
        }
    }

    #[test]
    fn one_wrong_answer_zeroes_and_latency_separates_by_a_fifth() {
        let w = weights_of(&[
            audit(0, 4, 4, Some(10)),
            audit(1, 4, 4, Some(40)),
            audit(2, 2, 2, Some(10)),
            audit(3, 4, 3, Some(5)),
            audit(4, 0, 0, None),
        ]);
        let w: Vec<u16> = w.iter().map(|x| x.weight).collect();
        assert_eq!(w[0], 65_535);
        // A quarter as fast: 0.8 + 0.2 × 0.25 = 0.85.
        assert_eq!(w[1], 55_704);
        // Two of four calls timed out, the rest right, at full speed: half the weight.
        assert_eq!(w[2], 32_767);
        // Fastest, three right, but one wrong answer: nothing this tempo.
        assert_eq!(w[3], 0);
        // Silent: nothing.
        assert_eq!(w[4], 0);
    }
}
