//! Paying one call: the voucher for a leased lane and the payer's signature binding it to
//! the exact body, sent as the provider's payment headers (see `tessera_provider::admit`).

use crate::book::Lease;
use tessera_types::{call::sign_request, voucher::Voucher, ChainId, Keypair};

/// The payment headers for `body` paid by `lease`.
pub fn headers(
    payer: &Keypair,
    chain_id: &ChainId,
    lease: &Lease,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    use commonware_codec::Encode;
    let voucher = Voucher::sign(payer, chain_id, lease.channel, lease.lane, lease.cumulative);
    let request_sig = sign_request(payer, &voucher, body);
    vec![
        ("x-tessera-chain", chain_id.as_str().to_string()),
        ("x-tessera-channel", lease.channel.to_string()),
        ("x-tessera-lane", lease.lane.to_string()),
        ("x-tessera-voucher", lease.cumulative.base().to_string()),
        (
            "x-tessera-voucher-sig",
            hex::encode(voucher.signature.encode()),
        ),
        ("x-tessera-request-sig", hex::encode(request_sig.encode())),
    ]
}

/// An upper bound on an embedding call's tokens: BERT's WordPiece gives at most one token
/// per byte, plus the two it adds around each input.
pub fn embedding_tokens_bound(inputs: &[&str]) -> u64 {
    inputs
        .iter()
        .map(|t| u64::try_from(t.len()).unwrap_or(u64::MAX).saturating_add(2))
        .fold(0, u64::saturating_add)
}
