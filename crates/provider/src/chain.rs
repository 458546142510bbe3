//! What the provider knows of the chain: the head height (polled) and the channels paying
//! it, read from the node with their state proofs the first time a channel is seen and
//! read again when a call needs a newer view (a top-up or an extension).

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, RwLock,
    },
    time::Duration,
};
use tessera_rpc::{RpcClient, RpcError};
use tessera_state::channels::Channel;
use tessera_types::{keys::public_key_of, ChainId, Hash, PublicKey};

/// Most channels remembered; beyond it the cache is cleared (they are read again).
const MAX_CACHED_CHANNELS: usize = 100_000;

/// A channel as the provider uses it.
#[derive(Clone, Debug)]
pub struct ChannelInfo {
    pub id: Hash,
    pub channel: Channel,
    pub payer_key: PublicKey,
    /// The last height a claim lands.
    pub claim_deadline: u64,
}

pub struct ChainView {
    pub client: RpcClient,
    pub chain_id: ChainId,
    height: AtomicU64,
    channels: RwLock<HashMap<Hash, Arc<ChannelInfo>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("no such channel on chain")]
    Unknown,
    #[error(transparent)]
    Node(#[from] RpcError),
    #[error("the channel's payer is not a valid key")]
    BadPayer,
}

impl ChainView {
    /// Connect: read the chain id and head height.
    pub async fn connect(client: RpcClient) -> Result<ChainView, RpcError> {
        let status = client.status().await?;
        Ok(ChainView {
            client,
            chain_id: status.chain_id,
            height: AtomicU64::new(status.height),
            channels: RwLock::new(HashMap::new()),
        })
    }

    pub fn height(&self) -> u64 {
        self.height.load(Ordering::Relaxed)
    }

    /// Poll the head height every `every` until the returned task is aborted.
    pub fn follow(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let view = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match view.client.status().await {
                    Ok(status) => view.height.fetch_max(status.height, Ordering::Relaxed),
                    Err(e) => {
                        tracing::warn!("cannot read the node's status: {e}");
                        continue;
                    }
                };
            }
        })
    }

    /// The channel `id`, from the cache unless `fresh`.
    pub async fn channel(&self, id: &Hash, fresh: bool) -> Result<Arc<ChannelInfo>, ViewError> {
        if !fresh {
            if let Some(info) = self.channels.read().ok().and_then(|c| c.get(id).cloned()) {
                return Ok(info);
            }
        }
        let response = match self.client.channel(id).await {
            Ok(r) => r,
            Err(RpcError::Api { status: 404, .. }) => return Err(ViewError::Unknown),
            Err(e) => return Err(e.into()),
        };
        self.height.fetch_max(response.height, Ordering::Relaxed);
        let payer_key = public_key_of(&response.channel.payer).map_err(|_| ViewError::BadPayer)?;
        let info = Arc::new(ChannelInfo {
            id: *id,
            channel: response.channel,
            payer_key,
            claim_deadline: response.claim_deadline,
        });
        if let Ok(mut cache) = self.channels.write() {
            if cache.len() >= MAX_CACHED_CHANNELS {
                cache.clear();
            }
            cache.insert(*id, Arc::clone(&info));
        }
        Ok(info)
    }

    /// Forget a channel (after a claim, so its claimed total is read again).
    pub fn forget(&self, id: &Hash) {
        if let Ok(mut cache) = self.channels.write() {
            cache.remove(id);
        }
    }
}
