//! Forwarding a sample of users' calls to validators, so they audit real traffic: a
//! provider cannot tell an audited call from any other, because the choice is made here,
//! after the answer, by a random draw the provider never sees.
//!
//! A sample is what the gateway already holds for every whole (not streamed) answer: the
//! request body it sent, the answer's body and the provider's signed receipt. It is
//! POSTed as JSON to `<validator>/v1/audits` for every configured validator, in the
//! background; at most [`MAX_IN_FLIGHT`] forwards run at once and a sample that finds
//! them all busy is dropped (sampling is best effort, never a cost to the user's call).

use bytes::Bytes;
use std::{sync::Arc, time::Duration};
use tessera_types::call::CallReceipt;
use tokio::sync::Semaphore;

/// Forwards running at once.
pub const MAX_IN_FLIGHT: usize = 16;
/// Time a validator has to accept a sample.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);

/// Which validators get samples, and how many calls are sampled (parts per million).
#[derive(Clone, Debug, Default)]
pub struct Sampling {
    /// Base URLs of validators' intake, e.g. `http://127.0.0.1:7401`.
    pub validators: Vec<String>,
    pub sample_ppm: u32,
}

/// A share of calls from 0 to 1 in parts per million (`None`: not such a share).
pub fn ppm_of_share(share: f64) -> Option<u32> {
    (0.0..=1.0)
        .contains(&share)
        .then(|| (share * 1e6).round() as u32)
}

/// One sampled call, as a validator receives it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Sample {
    /// The provider's receipt, hex (as in `x-tessera-receipt`).
    pub receipt: String,
    /// The request body sent to the provider, hex.
    pub request: String,
    /// The provider's answer body, hex.
    pub response: String,
}

/// Sends samples in the background.
pub struct Sampler {
    config: Sampling,
    http: reqwest::Client,
    slots: Arc<Semaphore>,
}

impl Sampler {
    pub fn new(config: Sampling) -> Sampler {
        Sampler {
            config,
            http: reqwest::Client::builder()
                .timeout(FORWARD_TIMEOUT)
                .build()
                .unwrap_or_default(),
            slots: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        }
    }

    /// Maybe forward one answered call (a random draw at the configured rate).
    pub fn offer(&self, receipt: &CallReceipt, request: &Bytes, response: &Bytes) {
        if self.config.validators.is_empty()
            || rand::random_range(0..1_000_000u32) >= self.config.sample_ppm
        {
            return;
        }
        let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() else {
            tracing::debug!("audit sample dropped: every forward slot is busy");
            return;
        };
        let sample = Sample {
            receipt: receipt.to_hex(),
            request: hex::encode(request),
            response: hex::encode(response),
        };
        let http = self.http.clone();
        let validators = self.config.validators.clone();
        tokio::spawn(async move {
            for url in validators {
                let sent = http
                    .post(format!("{}/v1/audits", url.trim_end_matches('/')))
                    .json(&sample)
                    .send()
                    .await;
                if let Err(e) = sent {
                    tracing::debug!("audit sample to {url} failed: {e}");
                }
            }
            drop(permit);
        });
    }
}
