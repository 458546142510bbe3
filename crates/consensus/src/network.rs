//! A validator on `commonware-p2p`'s authenticated `lookup` network: encrypted,
//! mutually authenticated connections to a fixed set of validators at known addresses.
//!
//! `lookup` (not `discovery`) because every validator's key and address come from
//! configuration: there is nothing to discover, and an inbound connection from a key or
//! IP outside the configured set is refused.
//!
//! The same six channels and message limit ([`max_message_bytes`]) as the simulation.

use crate::epochs::PeerSets;
use crate::{
    node::{
        max_message_bytes, start, Channels, Node, NodeConfig, NodeContext, CHANNEL_BACKFILL,
        CHANNEL_BROADCAST, CHANNEL_CERTIFICATES, CHANNEL_RESOLVER, CHANNEL_TXS, CHANNEL_VOTES,
    },
    ConsensusError,
};
use commonware_consensus::types::Epoch;
use commonware_cryptography::{ed25519::PublicKey, ChaCha20Poly1305};
use commonware_p2p::{
    authenticated::lookup, Address, AddressableManager as _, AddressableTrackedPeers,
};
use commonware_runtime::{Handle, Network as RNetwork, Quota, Resolver};
use commonware_stream::{
    cups::{self, Cups},
    sake::{self, Sake},
};
use commonware_utils::{
    ordered::{Map, Set},
    NZU32,
};
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tessera_chain::Chain;
use tracing::warn;

/// Messages per second each peer may send on the consensus channels (a few votes and
/// certificates per view; generous for bursts after a partition heals).
const CONSENSUS_QUOTA: Quota = Quota::per_second(NZU32!(1_000));
/// Messages per second each peer may send on the fetch, broadcast and gossip channels
/// (backfill requests, proposed blocks, transaction batches of up to 512).
const DATA_QUOTA: Quota = Quota::per_second(NZU32!(200));
/// Suffix of the consensus namespace for the p2p handshake (a distinct signing domain).
const P2P_NAMESPACE_SUFFIX: &[u8] = b"_P2P";
/// Largest clock difference between peers the handshake tolerates.
const HANDSHAKE_SYNCHRONY_BOUND: Duration = Duration::from_secs(5);
/// Oldest handshake message accepted.
const HANDSHAKE_MAX_AGE: Duration = Duration::from_secs(10);

/// Where this validator listens and where every validator (itself included) is reached.
#[derive(Clone, Debug)]
pub struct P2pConfig {
    pub listen: SocketAddr,
    /// One entry per validator of [`NodeConfig::validators`], with its p2p address.
    pub peers: Vec<(PublicKey, SocketAddr)>,
    /// Every peer is on this machine or a trusted LAN: Commonware's `local` profile
    /// (private IPs, fast redials, many handshakes per IP). Otherwise its `recommended`
    /// production profile: public IPs only, one handshake per IP per 5 s, peers that
    /// misbehave blocked for 4 hours.
    pub local_network: bool,
}

/// Peer sets of the `lookup` network: an epoch's participants are its primary peers, the
/// rest of the known validators secondary (they follow). A participant is dialled at the
/// address it registered on chain; the config's address is the fallback (and the only
/// address of configured validators outside the set). A participant with neither cannot
/// be reached and is skipped with a warning.
struct LookupPeers {
    oracle: lookup::Oracle<PublicKey>,
    /// The config's validators and their addresses.
    configured: Map<PublicKey, Address>,
}

impl PeerSets for LookupPeers {
    fn track(
        &mut self,
        epoch: Epoch,
        participants: &Set<PublicKey>,
        addresses: &[(PublicKey, SocketAddr)],
    ) {
        let mut primary = Vec::new();
        for key in participants.iter() {
            let registered = addresses
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, a)| Address::Symmetric(*a));
            match registered.or_else(|| self.configured.get_value(key).cloned()) {
                Some(address) => primary.push((key.clone(), address)),
                None => {
                    warn!(%key, %epoch, "a validator of the epoch registered no usable p2p address and is not in the config")
                }
            }
        }
        let secondary: Vec<(PublicKey, Address)> = self
            .configured
            .iter_pairs()
            .filter(|(key, _)| participants.position(key).is_none())
            .map(|(key, address)| (key.clone(), address.clone()))
            .collect();
        let _ = self.oracle.track(
            epoch.get(),
            AddressableTrackedPeers::new(
                Map::from_iter_dedup(primary),
                Map::from_iter_dedup(secondary),
            ),
        );
    }
}

/// A validator started on the authenticated network.
pub struct NetworkedNode<E> {
    pub node: Node<E>,
    pub network: Handle<()>,
}

/// Start the authenticated network and a validator over it.
pub async fn start_authenticated<E>(
    context: E,
    config: NodeConfig,
    chain: Arc<Chain<E>>,
    p2p: P2pConfig,
) -> Result<NetworkedNode<E>, ConsensusError>
where
    E: NodeContext + RNetwork + Resolver,
{
    config.validate()?;
    let peers = Map::from_iter_dedup(
        p2p.peers
            .iter()
            .map(|(key, addr)| (key.clone(), Address::Symmetric(*addr))),
    );
    if peers.len() != config.validators.len()
        || config
            .validators
            .iter()
            .any(|v| peers.get_value(v).is_none())
    {
        return Err(ConsensusError::Config(
            "every validator needs exactly one p2p address".into(),
        ));
    }
    let max_validators = usize::from(chain.params()?.max_validators);
    let max_message = max_message_bytes(max_validators, config.max_block_bytes);
    let handshake = Cups::<_, ChaCha20Poly1305>::new(
        Sake {
            signer: config.signer.clone(),
            synchrony_bound: HANDSHAKE_SYNCHRONY_BOUND,
            max_handshake_age: HANDSHAKE_MAX_AGE,
            version: sake::Version::V1,
        },
        cups::Version::V1,
    );
    let mut namespace = config.namespace.clone();
    namespace.extend_from_slice(P2P_NAMESPACE_SUFFIX);
    // Room for every configured validator and a full set of registered ones.
    let max_peers = std::num::NonZeroUsize::new(config.validators.len().max(max_validators))
        .ok_or_else(|| ConsensusError::Config("the validator set is empty".into()))?;
    let profile = if p2p.local_network {
        lookup::Config::local
    } else {
        lookup::Config::recommended
    };
    let network_config = profile(
        handshake,
        &namespace,
        p2p.listen,
        max_peers,
        max_message,
        config.mailbox_size,
    );
    let (mut network, oracle) = lookup::Network::new(context.child("network"), network_config);
    let peer_sets = LookupPeers {
        oracle: oracle.clone(),
        configured: peers,
    };
    let mut register = |channel, quota| network.register(channel, quota);
    let channels = Channels {
        votes: register(CHANNEL_VOTES, CONSENSUS_QUOTA),
        certificates: register(CHANNEL_CERTIFICATES, CONSENSUS_QUOTA),
        resolver: register(CHANNEL_RESOLVER, CONSENSUS_QUOTA),
        backfill: register(CHANNEL_BACKFILL, DATA_QUOTA),
        broadcast: register(CHANNEL_BROADCAST, DATA_QUOTA),
        txs: register(CHANNEL_TXS, DATA_QUOTA),
    };
    let network = network.start();
    let node = start(
        context.child("node"),
        config,
        chain,
        channels,
        oracle.clone(),
        oracle,
        peer_sets,
    )
    .await?;
    Ok(NetworkedNode { node, network })
}
