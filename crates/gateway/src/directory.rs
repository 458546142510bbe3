//! Which providers serve a model, and which to call: read from the chain (cached for a
//! few seconds), ordered by price, then by the latency this gateway measured; a provider
//! that just failed sits out a cool-down (it is still tried when nobody else is left).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};
use tessera_rpc::{api::ModelProviders, RpcClient, RpcError};
use tessera_types::{channel::Price, tx::ModelId, Address};

/// How long a model's provider list is reused.
const LISTING_TTL: Duration = Duration::from_secs(5);
/// How long a failed provider sits out.
const COOL_DOWN: Duration = Duration::from_secs(30);

/// A provider to try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub address: Address,
    pub endpoint: String,
    pub price: Price,
}

#[derive(Clone, Copy, Debug, Default)]
struct Stats {
    /// Exponentially weighted latency of answers, in microseconds.
    latency_us: u64,
    down_until: Option<Instant>,
}

pub struct Directory {
    client: RpcClient,
    listings: Mutex<HashMap<String, (Instant, ModelProviders)>>,
    stats: Mutex<HashMap<Address, Stats>>,
}

impl Directory {
    pub fn new(client: RpcClient) -> Directory {
        Directory {
            client,
            listings: Mutex::new(HashMap::new()),
            stats: Mutex::new(HashMap::new()),
        }
    }

    /// The model's id, price and providers (cached for [`LISTING_TTL`]).
    pub async fn listing(&self, model: &str) -> Result<ModelProviders, RpcError> {
        if let Some((at, listing)) = self
            .listings
            .lock()
            .ok()
            .and_then(|l| l.get(model).cloned())
        {
            if at.elapsed() < LISTING_TTL {
                return Ok(listing);
            }
        }
        let listing = self.client.model_providers(model).await?;
        if let Ok(mut cache) = self.listings.lock() {
            cache.insert(model.to_string(), (Instant::now(), listing.clone()));
        }
        Ok(listing)
    }

    /// The model's id and its providers in the order to try them.
    pub async fn candidates(&self, model: &str) -> Result<(ModelId, Vec<Candidate>), RpcError> {
        let listing = self.listing(model).await?;
        let stats = self.stats.lock().map(|s| s.clone()).unwrap_or_default();
        let now = Instant::now();
        let mut candidates: Vec<(bool, u128, u64, Candidate)> = listing
            .providers
            .iter()
            .map(|p| {
                let s = stats.get(&p.address).copied().unwrap_or_default();
                let down = s.down_until.is_some_and(|t| t > now);
                let unit = p.provider.price.unit_part(&listing.price).base();
                let candidate = Candidate {
                    address: p.address,
                    endpoint: p.provider.endpoint.clone(),
                    price: p.provider.price,
                };
                (down, unit, s.latency_us, candidate)
            })
            .collect();
        candidates.sort_by_key(|c| (c.0, c.1, c.2));
        Ok((
            listing.model,
            candidates.into_iter().map(|(_, _, _, c)| c).collect(),
        ))
    }

    /// A provider answered in `latency`.
    pub fn ok(&self, provider: &Address, latency: Duration) {
        if let Ok(mut stats) = self.stats.lock() {
            let s = stats.entry(*provider).or_default();
            let sample = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
            s.latency_us = if s.latency_us == 0 {
                sample
            } else {
                (s.latency_us.saturating_mul(7).saturating_add(sample)) / 8
            };
            s.down_until = None;
        }
    }

    /// A provider failed: it sits out [`COOL_DOWN`].
    pub fn failed(&self, provider: &Address) {
        if let Ok(mut stats) = self.stats.lock() {
            stats.entry(*provider).or_default().down_until = Some(Instant::now() + COOL_DOWN);
        }
    }
}
