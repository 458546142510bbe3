//! Admission: everything a call must pass before any inference runs.
//!
//! A paid request carries, besides its OpenAI body, these headers:
//!
//! | header | value |
//! |---|---|
//! | `x-tessera-chain` | the chain id the voucher is signed for |
//! | `x-tessera-channel` | the channel id (hex) |
//! | `x-tessera-lane` | the lane (0 to 1,023) |
//! | `x-tessera-voucher` | the voucher's cumulative amount, in base units |
//! | `x-tessera-voucher-sig` | the voucher signature (hex) |
//! | `x-tessera-request-sig` | the payer's signature over the voucher and the body (`tessera_types::call`) |
//!
//! Checks, in order (each refusal has its own code): headers present and well formed;
//! the chain is this provider's; the lane exists; the channel exists, pays this provider
//! for this model, is open and not about to expire; the voucher is the payer's; the
//! request signature binds this body to it; then the ledger: lane free, voucher not
//! replayed and not stale (it covers the lane's charges plus this call's maximum), the
//! deposit covers every charge and call in flight.

use crate::{chain::ChannelInfo, ledger::LedgerRefusal};
use axum::http::{HeaderMap, StatusCode};
use tessera_types::{
    call::verify_request, tx::ModelId, voucher::Voucher, voucher::MAX_LANES, Address, Amount,
    ChainId, Hash, Signature,
};

/// Why a call is refused before it runs.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("missing header {0}: calls to a provider are paid with a voucher (use the gateway)")]
    MissingHeader(&'static str),
    #[error("header {name} is malformed: {reason}")]
    BadHeader { name: &'static str, reason: String },
    #[error("the voucher is for chain {got}, this provider serves chain {expected}")]
    WrongChain { expected: ChainId, got: String },
    #[error("lane {lane} does not exist: lanes are 0 to {}", MAX_LANES - 1)]
    NoSuchLane { lane: u32 },
    #[error("channel {0} does not exist on chain (yet): wait for its open_channel to commit")]
    UnknownChannel(Hash),
    #[error("channel {channel} pays {provider}, not this provider")]
    NotMyChannel { channel: Hash, provider: Address },
    #[error("channel {channel} is for model {paid}, the request is for model {asked}")]
    WrongModel {
        channel: Hash,
        paid: ModelId,
        asked: ModelId,
    },
    #[error("channel {0} is closed")]
    ChannelClosed(Hash),
    #[error("channel {channel} expires at height {expires_at} (now {height}): this provider serves until {margin} blocks before expiry; extend it or open a new one")]
    Expired {
        channel: Hash,
        expires_at: u64,
        height: u64,
        margin: u64,
    },
    #[error("the voucher signature does not verify for the channel's payer")]
    ForgedVoucher,
    #[error(
        "the request signature does not verify: the body or the voucher changed after signing"
    )]
    ForgedRequest,
    #[error(transparent)]
    Ledger(#[from] LedgerRefusal),
    #[error("the request is invalid: {0}")]
    BadRequest(String),
    #[error("this provider does not serve model {0:?}")]
    UnknownModel(String),
    #[error("the node cannot be reached to check the channel: {0}")]
    NodeUnavailable(String),
}

impl Refusal {
    /// HTTP status and the stable code in the OpenAI error body.
    pub fn status_code(&self) -> (StatusCode, &'static str) {
        use Refusal::*;
        match self {
            MissingHeader(_) => (StatusCode::PAYMENT_REQUIRED, "payment_required"),
            BadHeader { .. } => (StatusCode::BAD_REQUEST, "bad_payment_header"),
            WrongChain { .. } => (StatusCode::PAYMENT_REQUIRED, "voucher_wrong_chain"),
            NoSuchLane { .. } => (StatusCode::PAYMENT_REQUIRED, "voucher_wrong_lane"),
            UnknownChannel(_) => (StatusCode::PAYMENT_REQUIRED, "unknown_channel"),
            NotMyChannel { .. } => (StatusCode::PAYMENT_REQUIRED, "channel_not_for_provider"),
            WrongModel { .. } => (StatusCode::PAYMENT_REQUIRED, "channel_wrong_model"),
            ChannelClosed(_) => (StatusCode::PAYMENT_REQUIRED, "channel_closed"),
            Expired { .. } => (StatusCode::PAYMENT_REQUIRED, "channel_expired"),
            ForgedVoucher => (StatusCode::PAYMENT_REQUIRED, "voucher_forged"),
            ForgedRequest => (StatusCode::UNAUTHORIZED, "request_signature_invalid"),
            Ledger(LedgerRefusal::LaneBusy { .. }) => (StatusCode::CONFLICT, "lane_busy"),
            Ledger(LedgerRefusal::Replayed { .. }) => {
                (StatusCode::PAYMENT_REQUIRED, "voucher_replayed")
            }
            Ledger(LedgerRefusal::Stale { .. }) => (StatusCode::PAYMENT_REQUIRED, "voucher_stale"),
            Ledger(LedgerRefusal::Underfunded { .. }) => {
                (StatusCode::PAYMENT_REQUIRED, "channel_underfunded")
            }
            BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            UnknownModel(_) => (StatusCode::NOT_FOUND, "model_not_found"),
            NodeUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "node_unavailable"),
        }
    }
}

/// The payment headers of a request, parsed.
#[derive(Clone, Debug)]
pub struct Payment {
    pub chain: String,
    pub channel: Hash,
    pub lane: u32,
    pub cumulative: Amount,
    pub voucher_sig: Signature,
    pub request_sig: Signature,
}

fn header<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<&'h str, Refusal> {
    let value = headers.get(name).ok_or(Refusal::MissingHeader(name))?;
    value.to_str().map_err(|_| Refusal::BadHeader {
        name,
        reason: "not text".into(),
    })
}

fn signature(headers: &HeaderMap, name: &'static str) -> Result<Signature, Refusal> {
    use commonware_codec::DecodeExt;
    let bad = |reason: &str| Refusal::BadHeader {
        name,
        reason: reason.into(),
    };
    let bytes = hex::decode(header(headers, name)?).map_err(|_| bad("not hex"))?;
    Signature::decode(bytes::Bytes::from(bytes)).map_err(|_| bad("not a 64-byte signature"))
}

impl Payment {
    /// Parse the headers (see the module docs).
    pub fn from_headers(headers: &HeaderMap) -> Result<Payment, Refusal> {
        let bad = |name, reason: String| Refusal::BadHeader { name, reason };
        let channel = header(headers, "x-tessera-channel")?
            .parse()
            .map_err(|_| bad("x-tessera-channel", "not a 32-byte hex id".into()))?;
        let lane = header(headers, "x-tessera-lane")?
            .parse()
            .map_err(|_| bad("x-tessera-lane", "not a number".into()))?;
        let cumulative = header(headers, "x-tessera-voucher")?
            .parse::<u128>()
            .map(Amount::from_base)
            .map_err(|_| bad("x-tessera-voucher", "not an amount in base units".into()))?;
        Ok(Payment {
            chain: header(headers, "x-tessera-chain")?.to_string(),
            channel,
            lane,
            cumulative,
            voucher_sig: signature(headers, "x-tessera-voucher-sig")?,
            request_sig: signature(headers, "x-tessera-request-sig")?,
        })
    }

    /// The stateless checks: chain and lane.
    pub fn check_chain(&self, chain_id: &ChainId) -> Result<(), Refusal> {
        if self.chain != chain_id.as_str() {
            return Err(Refusal::WrongChain {
                expected: chain_id.clone(),
                got: self.chain.clone(),
            });
        }
        if self.lane >= MAX_LANES {
            return Err(Refusal::NoSuchLane { lane: self.lane });
        }
        Ok(())
    }

    pub fn voucher(&self, chain_id: &ChainId) -> Voucher {
        Voucher {
            chain_id: chain_id.clone(),
            channel: self.channel,
            lane: self.lane,
            cumulative: self.cumulative,
            signature: self.voucher_sig.clone(),
        }
    }
}

/// What a call is checked against.
pub struct Context<'a> {
    pub me: &'a Address,
    pub chain_id: &'a ChainId,
    pub model: ModelId,
    pub height: u64,
    /// Blocks before expiry at which serving stops (claims need time to land).
    pub expiry_margin: u64,
}

/// The channel checks and both signatures. Returns the voucher to hand the ledger.
pub fn check(
    ctx: &Context<'_>,
    payment: &Payment,
    channel: &ChannelInfo,
    body: &[u8],
) -> Result<Voucher, Refusal> {
    let ch = &channel.channel;
    if ch.provider != *ctx.me {
        return Err(Refusal::NotMyChannel {
            channel: payment.channel,
            provider: ch.provider,
        });
    }
    if ch.model != ctx.model {
        return Err(Refusal::WrongModel {
            channel: payment.channel,
            paid: ch.model,
            asked: ctx.model,
        });
    }
    if ch.closed {
        return Err(Refusal::ChannelClosed(payment.channel));
    }
    if ctx.height.saturating_add(ctx.expiry_margin) > ch.expires_at {
        return Err(Refusal::Expired {
            channel: payment.channel,
            expires_at: ch.expires_at,
            height: ctx.height,
            margin: ctx.expiry_margin,
        });
    }
    let voucher = payment.voucher(ctx.chain_id);
    voucher
        .verify(ctx.chain_id, &payment.channel, &channel.payer_key)
        .map_err(|_| Refusal::ForgedVoucher)?;
    if !verify_request(&channel.payer_key, &voucher, body, &payment.request_sig) {
        return Err(Refusal::ForgedRequest);
    }
    Ok(voucher)
}
