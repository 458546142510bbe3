//! The gateway: the user's local OpenAI-compatible server. Existing OpenAI clients call
//! it with any API key; it pays each call to a provider with a voucher on a channel lane.
//!
//! * [`directory`]: which providers serve a model, ordered by price and measured latency,
//!   failed ones cooling down.
//! * [`book`]: channels, lanes, budget and receipts, written ahead to a journal.
//! * [`pay`]: the payment headers of one call.
//! * [`server`]: `/v1/models`, `/v1/embeddings`, `/v1/completions`,
//!   `/v1/chat/completions` (streamed or not), with failover and OpenAI-shaped errors.
//! * [`audit`]: a random sample of answered calls forwarded to validators.
//! * [`overclaims`]: providers' claims checked against their receipts, and reported.

pub mod audit;
pub mod book;
pub mod directory;
pub mod overclaims;
pub mod pay;
pub mod server;

use book::{Book, ChannelState};
use directory::Directory;
use std::{
    collections::HashMap,
    net::SocketAddr,
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};
use tessera_rpc::{api::TxResponse, RpcClient};
use tessera_types::{
    channel::MarketEvent, tx::ModelId, Address, Amount, Call, ChainId, Event, Hash, Keypair,
    TxStatus,
};

/// How a gateway runs.
#[derive(Clone, Debug)]
pub struct Config {
    pub node: String,
    pub listen: SocketAddr,
    /// Where the book and receipts live.
    pub data_dir: PathBuf,
    /// The most that may sit in channel deposits.
    pub budget: Amount,
    /// Deposit of each new channel (and each top-up).
    pub deposit: Amount,
    /// Life of each new channel, in blocks.
    pub expiry_blocks: u64,
    /// A channel this close to expiry is not used for new calls.
    pub margin_blocks: u64,
    /// Providers tried per call.
    pub attempts: usize,
    /// How long a provider has to start answering.
    pub first_byte_timeout: Duration,
    /// Validators that get a sample of the answered calls ([`audit`]).
    pub sampling: audit::Sampling,
    /// What each overclaim report bonds (at least the chain's `dispute_min_bond`).
    pub overclaim_bond: Amount,
}

impl Config {
    pub fn new(node: &str, listen: SocketAddr, data_dir: PathBuf, budget: Amount) -> Config {
        Config {
            node: node.into(),
            listen,
            data_dir,
            budget,
            deposit: Amount::from_base(budget.base() / 4),
            expiry_blocks: 20_000,
            margin_blocks: 60,
            attempts: 3,
            first_byte_timeout: Duration::from_secs(120),
            sampling: audit::Sampling::default(),
            overclaim_bond: Amount::from_base(10 * tessera_types::amount::BASE_PER_TSR),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Node(#[from] tessera_rpc::RpcError),
    #[error(transparent)]
    Book(#[from] book::BookError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Http(#[from] tessera_http::HttpError),
    #[error("the budget of {budget} TSR cannot cover a deposit for this call: raise --budget")]
    BudgetExhausted { budget: Amount },
    #[error("opening a channel failed: {0}")]
    Open(String),
}

/// Held while a channel to one provider for one model is being opened.
type Opener = Arc<tokio::sync::Mutex<()>>;

/// What the handlers share.
pub struct Gateway {
    pub key: Keypair,
    pub me: Address,
    pub chain_id: ChainId,
    pub client: RpcClient,
    pub http: reqwest::Client,
    pub book: Book,
    pub directory: Directory,
    pub config: Config,
    height: AtomicU64,
    /// One opener per (provider, model), so concurrent first calls open one channel.
    openers: std::sync::Mutex<HashMap<(Address, ModelId), Opener>>,
    /// Forwards samples of answered calls to validators.
    pub sampler: audit::Sampler,
    /// Overclaims already reported.
    overclaims: overclaims::Reported,
}

impl Gateway {
    pub fn height(&self) -> u64 {
        self.height.load(Ordering::Relaxed)
    }

    fn opener(&self, provider: Address, model: ModelId) -> Opener {
        let mut map = match self.openers.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        Arc::clone(map.entry((provider, model)).or_default())
    }

    /// A lease on a channel to `provider` for `model` with room for a call of at most
    /// `tokens` tokens: from an open channel, else on a new channel.
    pub async fn lease(
        &self,
        provider: &directory::Candidate,
        model: ModelId,
        tokens: u64,
    ) -> Result<book::Lease, GatewayError> {
        let margin = self.config.margin_blocks;
        let address = provider.address;
        if let Some(lease) = self
            .book
            .lease(&address, model, tokens, self.height(), margin)?
        {
            return Ok(lease);
        }
        let opener = self.opener(address, model);
        let _guard = opener.lock().await;
        if let Some(lease) = self
            .book
            .lease(&address, model, tokens, self.height(), margin)?
        {
            return Ok(lease);
        }
        let reserve = provider
            .price
            .of_call(tokens)
            .ok_or_else(|| GatewayError::Open("the call's maximum cost overflows".into()))?;
        // A channel that is running dry is topped up; a new one is opened only when none
        // to this provider has time left.
        match self
            .book
            .to_top_up(&address, model, self.height(), margin)?
        {
            Some(channel) => self.top_up(channel, reserve).await?,
            None => self.open_channel(provider, model, reserve).await?,
        }
        self.book
            .lease(&address, model, tokens, self.height(), margin)?
            .ok_or_else(|| GatewayError::Open("the funded channel has no room for the call".into()))
    }

    /// Add the configured deposit (at least `reserve`) to `channel` from the budget.
    async fn top_up(&self, channel: Hash, reserve: Amount) -> Result<(), GatewayError> {
        let amount = self.config.deposit.max(reserve);
        if !self.book.take_budget(amount)? {
            return Err(GatewayError::BudgetExhausted {
                budget: self.config.budget,
            });
        }
        let call = Call::TopUpChannel { channel, amount };
        let funded = self.submit(call).await.and_then(|events| {
            events
                .iter()
                .find_map(|e| match e {
                    Event::Market(MarketEvent::ChannelFunded {
                        deposit,
                        expires_at,
                        ..
                    }) => Some((*deposit, *expires_at)),
                    _ => None,
                })
                .ok_or_else(|| GatewayError::Open("no ChannelFunded event in the receipt".into()))
        });
        let (deposit, expires_at) = match funded {
            Ok(v) => v,
            Err(e) => {
                self.book.return_budget(amount)?;
                return Err(e);
            }
        };
        self.book.funded(&channel, amount, deposit, expires_at)?;
        tracing::info!(%channel, %amount, %deposit, "topped up a channel");
        Ok(())
    }

    /// Sign and submit `call`, wait for it, and return its events.
    async fn submit(&self, call: Call) -> Result<Vec<Event>, GatewayError> {
        let tx = self.client.sign_and_submit(&self.key, call, None).await?;
        let response = self.client.wait_for_tx(tx, Duration::from_secs(60)).await?;
        let TxResponse::Committed { receipt, .. } = response else {
            return Err(GatewayError::Open(format!("not committed: {response:?}")));
        };
        if let TxStatus::Failed(f) = &receipt.status {
            return Err(GatewayError::Open(f.text()));
        }
        Ok(receipt.events)
    }

    async fn open_channel(
        &self,
        provider: &directory::Candidate,
        model: ModelId,
        reserve: Amount,
    ) -> Result<(), GatewayError> {
        let deposit = self.config.deposit.max(reserve);
        if !self.book.take_budget(deposit)? {
            return Err(GatewayError::BudgetExhausted {
                budget: self.config.budget,
            });
        }
        let opened = self.submit_open(provider, model, deposit).await;
        let (id, expires_at) = match opened {
            Ok(v) => v,
            Err(e) => {
                self.book.return_budget(deposit)?;
                return Err(e);
            }
        };
        let record = self.client.channel(&id).await?;
        self.book.add_channel(ChannelState {
            id,
            provider: provider.address,
            model,
            endpoint: provider.endpoint.clone(),
            price: record.channel.provider_price,
            deposit,
            expires_at,
            lanes: Vec::new(),
        })?;
        tracing::info!(channel = %id, provider = %provider.address, %deposit, "opened a channel");
        Ok(())
    }

    async fn submit_open(
        &self,
        provider: &directory::Candidate,
        model: ModelId,
        deposit: Amount,
    ) -> Result<(Hash, u64), GatewayError> {
        let call = Call::OpenChannel {
            provider: provider.address,
            model,
            deposit,
            expiry_blocks: self.config.expiry_blocks,
        };
        self.submit(call)
            .await?
            .iter()
            .find_map(|e| match e {
                Event::Market(MarketEvent::ChannelOpened {
                    channel,
                    expires_at,
                    ..
                }) => Some((*channel, *expires_at)),
                _ => None,
            })
            .ok_or_else(|| GatewayError::Open("no ChannelOpened event in the receipt".into()))
    }

    /// Ask each uncertain lane's provider what it charged.
    pub async fn resync_uncertain(&self) {
        let Ok(lanes) = self.book.uncertain() else {
            return;
        };
        for (channel, lane, endpoint) in lanes {
            let url = format!("{endpoint}/v1/lanes/{channel}/{lane}");
            let Ok(response) = self
                .http
                .get(&url)
                .timeout(Duration::from_secs(5))
                .send()
                .await
            else {
                continue;
            };
            let Ok(value) = response.json::<serde_json::Value>().await else {
                continue;
            };
            if value.get("busy").and_then(serde_json::Value::as_bool) == Some(true) {
                let lease = book::Lease {
                    channel,
                    lane,
                    cumulative: Amount::ZERO,
                    reserve: Amount::ZERO,
                    provider: Address([0; 32]),
                    endpoint,
                };
                let _ = self.book.hold(&lease);
                continue;
            }
            let charged = value
                .get("charged")
                .and_then(|v| serde_json::from_value::<Amount>(v.clone()).ok());
            if let Some(charged) = charged {
                if let Err(e) = self.book.resync(&channel, lane, charged) {
                    tracing::warn!("cannot record a lane's state: {e}");
                }
            }
        }
    }
}

/// A running gateway.
pub struct Running {
    pub addr: SocketAddr,
    pub gateway: Arc<Gateway>,
    server: tessera_http::Server,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    pub async fn stop(self) -> Result<(), GatewayError> {
        self.server.stop().await?;
        for t in &self.tasks {
            t.abort();
        }
        self.gateway.book.sync()?;
        Ok(())
    }
}

/// Open the book and serve on `config.listen`.
pub async fn start(key: Keypair, config: Config) -> Result<Running, GatewayError> {
    let client = RpcClient::new(&config.node);
    let status = client.status().await?;
    let book = Book::open(&config.data_dir, config.budget)?;
    let (listener, addr) =
        tessera_http::bind(config.listen)
            .await
            .map_err(|source| GatewayError::Listen {
                addr: config.listen,
                source,
            })?;
    let gateway = Arc::new(Gateway {
        me: key.address(),
        key,
        chain_id: status.chain_id,
        directory: Directory::new(client.clone()),
        client,
        http: reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default(),
        book,
        sampler: audit::Sampler::new(config.sampling.clone()),
        config,
        height: AtomicU64::new(status.height),
        openers: std::sync::Mutex::new(HashMap::new()),
        overclaims: overclaims::Reported::default(),
    });
    let limits = tessera_http::Limits::for_inference();
    let server = tessera_http::spawn(listener, server::router(Arc::clone(&gateway)), limits);
    let tasks = vec![
        spawn_follower(Arc::clone(&gateway)),
        spawn_syncer(Arc::clone(&gateway)),
    ];
    gateway.resync_uncertain().await;
    Ok(Running {
        addr,
        gateway,
        server,
        tasks,
    })
}

fn spawn_follower(g: Arc<Gateway>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = 0u64;
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if let Ok(status) = g.client.status().await {
                g.height.fetch_max(status.height, Ordering::Relaxed);
            }
            ticks = ticks.wrapping_add(1);
            if ticks.is_multiple_of(10) {
                g.resync_uncertain().await;
                g.report_overclaims().await;
            }
        }
    })
}

fn spawn_syncer(g: Arc<Gateway>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if let Err(e) = g.book.sync() {
                tracing::error!("cannot sync the gateway's book: {e}");
            }
        }
    })
}
