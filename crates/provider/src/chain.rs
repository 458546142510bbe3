//! What the provider knows of the chain: the head height and the channels paying it, read
//! from the node with their state proofs the first time a channel is seen. It follows the
//! node's event stream: each block moves the height, and a channel named by a market
//! event (top-up, extension, claim, refund) is forgotten, so its next call reads it again.
//! While the stream is down the height is polled and every cached channel is forgotten
//! (blocks were missed). A call also reads its channel again when it needs a newer view.

use futures::StreamExt;
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, RwLock,
    },
    time::Duration,
};
use tessera_rpc::{api::BlockEvent, events::StreamEvent, RpcClient, RpcError};
use tessera_state::channels::Channel;
use tessera_types::{keys::public_key_of, ChainId, Event, Hash, PublicKey};

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

    /// Follow the node's event stream until the returned task is aborted; while it is
    /// down, poll the head height every `every` and reconnect.
    pub fn follow(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let view = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                match view.client.events().await {
                    Ok(stream) => {
                        futures::pin_mut!(stream);
                        while let Some(item) = stream.next().await {
                            match item {
                                Ok(StreamEvent::Block(block)) => view.on_block(&block),
                                Ok(StreamEvent::Lagged(_)) => view.forget_all(),
                                Err(e) => {
                                    tracing::warn!("the node's event stream: {e}");
                                    break;
                                }
                            }
                        }
                        view.forget_all();
                    }
                    Err(e) => tracing::warn!("cannot follow the node's events: {e}"),
                }
                tokio::time::sleep(every).await;
                match view.client.status().await {
                    Ok(status) => {
                        view.height.fetch_max(status.height, Ordering::Relaxed);
                    }
                    Err(e) => tracing::warn!("cannot read the node's status: {e}"),
                }
            }
        })
    }

    /// A committed block: its height, and the channels its market events changed.
    fn on_block(&self, block: &BlockEvent) {
        self.height.fetch_max(block.height, Ordering::Relaxed);
        let changed = block
            .receipts
            .txs
            .iter()
            .flat_map(|r| r.events.iter())
            .chain(block.receipts.block_events.iter())
            .filter_map(|e| match e {
                Event::Market(m) => m.changed_channel(),
                _ => None,
            });
        for channel in changed {
            self.forget(channel);
        }
    }

    fn forget_all(&self) {
        if let Ok(mut cache) = self.channels.write() {
            cache.clear();
        }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tessera_types::{
        channel::{MarketEvent, Price},
        receipt::{BlockReceipts, Receipt, TxStatus},
        tx::ModelId,
        Address, Amount, Keypair,
    };

    fn info(id: Hash) -> Arc<ChannelInfo> {
        let payer = Keypair::from_seed(1);
        Arc::new(ChannelInfo {
            id,
            channel: Channel {
                payer: payer.address(),
                provider: Address([2; 32]),
                model: ModelId(1),
                deposit: Amount::from_base(10),
                claimed: Amount::ZERO,
                opened_height: 1,
                expires_at: 100,
                model_price: Price::default(),
                provider_price: Price::default(),
                closed: false,
            },
            payer_key: payer.public_key().clone(),
            claim_deadline: 200,
        })
    }

    /// A block moves the height and forgets exactly the channels its market events
    /// changed; a gap in the stream forgets every channel.
    #[test]
    fn blocks_forget_the_channels_they_change() {
        let view = ChainView {
            client: RpcClient::new("http://127.0.0.1:1"),
            chain_id: ChainId::new("test").unwrap(),
            height: AtomicU64::new(5),
            channels: RwLock::new(HashMap::new()),
        };
        let (a, b) = (Hash([1; 32]), Hash([2; 32]));
        for id in [a, b] {
            view.channels.write().unwrap().insert(id, info(id));
        }
        let funded = Event::Market(MarketEvent::ChannelFunded {
            channel: a,
            deposit: Amount::from_base(20),
            expires_at: 100,
        });
        let block = BlockEvent {
            height: 9,
            hash: Hash([0; 32]),
            timestamp_ms: 0,
            txs: vec![Hash([3; 32])],
            receipts: BlockReceipts {
                txs: vec![Receipt {
                    tx: Hash([3; 32]),
                    status: TxStatus::Success,
                    fee: Amount::ZERO,
                    events: vec![funded],
                }],
                block_events: Vec::new(),
            },
        };
        view.on_block(&block);
        assert_eq!(view.height(), 9);
        let cached = view.channels.read().unwrap();
        assert!(!cached.contains_key(&a) && cached.contains_key(&b));
        drop(cached);
        view.forget_all();
        assert!(view.channels.read().unwrap().is_empty());
    }
}
