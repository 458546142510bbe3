//! The provider daemon: serves the models its key registered for, paid per call.
//!
//! * [`fetch`] and [`runtime`]: models fetched by CID, verified, loaded.
//! * [`admit`]: the checks a call passes before it runs (payer's signatures, channel,
//!   voucher, lane, deposit), each refusal with its own code.
//! * [`ledger`]: vouchers and charges per lane, durable across SIGKILL.
//! * [`server`]: the OpenAI-compatible HTTP API with signed receipts.
//! * [`claims`]: charges claimed on chain in batches, always before expiry.
//! * [`chain`]: the chain as the provider sees it (head height, channels with proofs).

pub mod admit;
pub mod chain;
pub mod claims;
pub mod fetch;
pub mod ledger;
pub mod overclaims;
pub mod runtime;
pub mod server;

use chain::ChainView;
use ledger::Ledger;
use runtime::Served;
use std::{collections::HashMap, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};
use tessera_rpc::RpcClient;
use tessera_types::{tx::ModelId, Address, Keypair};

/// How a provider runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// The node to follow and claim through.
    pub node: String,
    pub listen: SocketAddr,
    /// Where the ledger lives (`<data_dir>/ledger.log`).
    pub data_dir: PathBuf,
    /// The blob store manifests are cached in.
    pub blob_dir: PathBuf,
    /// Models to serve (default: every model the key is registered for).
    pub models: Option<Vec<ModelId>>,
    /// Stop serving a channel this many blocks before it expires.
    pub expiry_margin_blocks: u64,
    pub claims: claims::ClaimPolicy,
    /// How often to read the head height while the node's event stream is down.
    pub poll: Duration,
    /// Serve dishonestly on purpose, for fraud drills and tests ([`Adversary`]); `None`
    /// for every real provider.
    pub adversary: Option<Adversary>,
}

/// A dishonest way to serve, for drills that check validators catch it (the CLI sets it
/// only from the `TESSERA_ADVERSARY` environment variable, never from a flag).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adversary {
    /// Every fifth embedding call, embed only the first 80 % of each input's words: less
    /// work, charged as if whole, and an answer that is wrong. The other calls are
    /// honest, so the cheat hides among right answers.
    TruncateInputs,
    /// Serve honestly, but claim each lane's whole newest voucher instead of what was
    /// charged on it: the unused reservation of the last call is taken too. The payer's
    /// gateway holds the receipt that shows it.
    Overclaim,
}

/// Calls an adversary serves per cheated one.
pub const ADVERSARY_PERIOD: u64 = 5;

impl Adversary {
    /// The mode named `text` (`truncate-inputs`, `overclaim`).
    pub fn parse(text: &str) -> Option<Adversary> {
        match text {
            "truncate-inputs" => Some(Adversary::TruncateInputs),
            "overclaim" => Some(Adversary::Overclaim),
            _ => None,
        }
    }

    /// What this adversary embeds instead of `input`.
    pub fn embed_input(self, input: &str) -> String {
        match self {
            Adversary::TruncateInputs => {
                let words: Vec<&str> = input.split_whitespace().collect();
                let keep = (words.len() * 4 / 5).max(1).min(words.len());
                words.get(..keep).unwrap_or(&words).join(" ")
            }
            Adversary::Overclaim => input.to_string(),
        }
    }
}

impl Config {
    pub fn new(node: &str, listen: SocketAddr, data_dir: PathBuf, blob_dir: PathBuf) -> Config {
        Config {
            node: node.into(),
            listen,
            data_dir,
            blob_dir,
            models: None,
            expiry_margin_blocks: 30,
            claims: claims::ClaimPolicy::default(),
            poll: Duration::from_millis(500),
            adversary: None,
        }
    }
}

/// What the handlers share.
pub struct Shared {
    pub key: Keypair,
    pub me: Address,
    pub config: Config,
    pub view: Arc<ChainView>,
    pub ledger: Ledger,
    /// By model name.
    pub models: HashMap<String, Arc<Served>>,
    /// Calls served, for [`Adversary`] drills.
    pub calls: std::sync::atomic::AtomicU64,
}

impl Shared {
    /// The drill's cheat for this call, if the provider runs one and it is this call's
    /// turn.
    pub fn cheat_now(&self) -> Option<Adversary> {
        let adversary = self.config.adversary?;
        let n = self
            .calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        (n % ADVERSARY_PERIOD == ADVERSARY_PERIOD - 1).then_some(adversary)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error(transparent)]
    Node(#[from] tessera_rpc::RpcError),
    #[error(
        "{address} is not registered to serve any model: run `tessera provider register` first"
    )]
    NothingToServe { address: Address },
    #[error("{address} is not registered for model {model}")]
    NotRegistered { address: Address, model: ModelId },
    #[error(transparent)]
    Fetch(#[from] fetch::FetchError),
    #[error(transparent)]
    Ledger(#[from] ledger::LedgerError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Http(#[from] tessera_http::HttpError),
}

/// A running provider.
pub struct Running {
    pub addr: SocketAddr,
    pub shared: Arc<Shared>,
    server: tessera_http::Server,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stop serving, claim what is owed, and stop.
    pub async fn stop(self) -> Result<(), ProviderError> {
        self.server.stop().await?;
        for task in &self.tasks {
            task.abort();
        }
        claims::claim_due(&self.shared, &mut claims::Ages::default(), true).await;
        self.shared.ledger.sync()?;
        Ok(())
    }
}

/// Load the models `key` serves, open the ledger, and serve on `config.listen`.
pub async fn start(
    key: Keypair,
    config: Config,
    progress: &(dyn Fn(fetch::FetchEvent<'_>) + Sync),
) -> Result<Running, ProviderError> {
    let client = RpcClient::new(&config.node);
    let me = key.address();
    let registered: Vec<ModelId> = client
        .registrations(&me)
        .await?
        .iter()
        .map(|l| l.model)
        .collect();
    let wanted = config.models.clone().unwrap_or_else(|| registered.clone());
    if wanted.is_empty() {
        return Err(ProviderError::NothingToServe { address: me });
    }
    let mut models = HashMap::new();
    for model in wanted {
        if !registered.contains(&model) {
            return Err(ProviderError::NotRegistered { address: me, model });
        }
        let served = Served::load(&config.blob_dir, &client, model, progress).await?;
        tracing::info!(model = %served.name, runtime = %served.runtime, "loaded");
        models.insert(served.name.clone(), Arc::new(served));
    }
    let view = Arc::new(ChainView::connect(client).await?);
    let ledger = Ledger::open(&config.data_dir.join("ledger.log"))?;
    let (listener, addr) =
        tessera_http::bind(config.listen)
            .await
            .map_err(|source| ProviderError::Listen {
                addr: config.listen,
                source,
            })?;

    let shared = Arc::new(Shared {
        key,
        me,
        config,
        view: Arc::clone(&view),
        ledger,
        models,
        calls: std::sync::atomic::AtomicU64::new(0),
    });
    let limits = tessera_http::Limits::for_inference();
    let server = tessera_http::spawn(listener, server::router(Arc::clone(&shared)), limits);
    let syncer = {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(ledger::SYNC_INTERVAL).await;
                if let Err(e) = shared.ledger.sync() {
                    tracing::error!("cannot sync the ledger: {e}");
                }
            }
        })
    };
    let tasks = vec![
        view.follow(shared.config.poll),
        claims::spawn(Arc::clone(&shared)),
        syncer,
    ];
    Ok(Running {
        addr,
        shared,
        server,
        tasks,
    })
}
