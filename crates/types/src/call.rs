//! One paid call between a gateway and a provider: the payer's signature binding a
//! request body to the voucher that pays for it, and the provider's signed receipt of
//! what it answered and charged. Both are checked the same way by the provider, the
//! gateway and (later) validators and fraud reports.
//!
//! # Request signature
//! Plain ed25519 by the channel's payer, in namespace [`REQUEST_NAMESPACE`], over
//! `Voucher::message(chain, channel, lane, cumulative) ‖ sha256(body)`: the exact body
//! bytes sent, with the voucher that pays for them. A body changed in flight, or a
//! voucher moved to another body, fails.
//!
//! # Receipt
//! The provider signs [`CallReceipt::message`] (the receipt's canonical encoding without
//! its signature) in namespace [`RECEIPT_NAMESPACE`]. `lane_charged` is the lane's
//! cumulative charged total after this call, and `voucher` the cumulative amount of the
//! voucher that paid it. A provider admits a lane's vouchers only in strictly increasing
//! amounts, so `voucher` orders a lane's receipts: a claim on chain above a receipt's
//! `lane_charged` is overcharging unless the provider shows a later receipt (a larger
//! `voucher`, with the payer's request signature for it) charging at least the claim
//! (`tessera_state::verify::overclaim`).
//!
//! Invariants:
//! * a request signature verifies only for its body, chain, channel, lane, amount and
//!   payer; a receipt only for its provider and unchanged fields.
//! * every decoded field is bounded ([`MAX_RECEIPT_TOKENS`], CID and kernel id lengths).

use crate::{
    codec::{read_string, string_size, write_string},
    tx::{ModelId, MAX_CID_BYTES},
    voucher::Voucher,
    Address, Amount, ChainId, Hash, Keypair, PublicKey, Signature,
};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt, Write};
use commonware_cryptography::Verifier as _;

/// Domain of request signatures.
pub const REQUEST_NAMESPACE: &[u8] = b"tessera/request/v1";
/// Domain of call receipts.
pub const RECEIPT_NAMESPACE: &[u8] = b"tessera/call-receipt/v2";
/// The HTTP header that carries a whole answer's receipt ([`CallReceipt::to_hex`]), from
/// the provider to the gateway and from the gateway to its client.
pub const RECEIPT_HEADER: &str = "x-tessera-receipt";
/// Domain of request body hashes.
const BODY_DOMAIN: &[u8] = b"tessera/request-body/v1";
/// Most generated token ids one receipt lists.
pub const MAX_RECEIPT_TOKENS: usize = 8_192;
/// Longest kernel-path id (llama.cpp's names the CPU features it loaded: a few hundred
/// bytes).
pub const MAX_KERNEL_ID_BYTES: usize = 1_024;

/// The hash of a request body, as receipts and request signatures name it.
pub fn body_hash(body: &[u8]) -> Hash {
    Hash::digest(BODY_DOMAIN, &[body])
}

/// The bytes a payer signs to send `body` paid by a voucher for `cumulative` on `lane`.
pub fn request_message(
    chain_id: &ChainId,
    channel: &Hash,
    lane: u32,
    cumulative: Amount,
    body: &[u8],
) -> Vec<u8> {
    hashed_request_message(chain_id, channel, lane, cumulative, &body_hash(body))
}

/// [`request_message`] for a body known only by its [`body_hash`] (what a receipt names).
pub fn hashed_request_message(
    chain_id: &ChainId,
    channel: &Hash,
    lane: u32,
    cumulative: Amount,
    request_hash: &Hash,
) -> Vec<u8> {
    let mut message = Voucher::message(chain_id, channel, lane, cumulative);
    message.extend_from_slice(&request_hash.0);
    message
}

/// Whether `signature` is `payer`'s request signature for the call `receipt` answered:
/// the body it names, paid by the voucher it names.
pub fn verify_receipt_request(
    payer: &PublicKey,
    receipt: &CallReceipt,
    signature: &Signature,
) -> bool {
    let message = hashed_request_message(
        &receipt.chain_id,
        &receipt.channel,
        receipt.lane,
        receipt.voucher,
        &receipt.request_hash,
    );
    payer.verify(REQUEST_NAMESPACE, &message, signature)
}

/// [`request_message`] for `body` paid by `voucher`.
fn voucher_request(voucher: &Voucher, body: &[u8]) -> Vec<u8> {
    request_message(
        &voucher.chain_id,
        &voucher.channel,
        voucher.lane,
        voucher.cumulative,
        body,
    )
}

/// The payer signs a request body with its voucher.
pub fn sign_request(payer: &Keypair, voucher: &Voucher, body: &[u8]) -> Signature {
    payer.sign(REQUEST_NAMESPACE, &voucher_request(voucher, body))
}

/// Whether `signature` is `payer`'s over `body` with `voucher`.
pub fn verify_request(
    payer: &PublicKey,
    voucher: &Voucher,
    body: &[u8],
    signature: &Signature,
) -> bool {
    payer.verify(
        REQUEST_NAMESPACE,
        &voucher_request(voucher, body),
        signature,
    )
}

/// What a provider answered and charged for one call, signed by it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CallReceipt {
    pub chain_id: ChainId,
    pub channel: Hash,
    pub lane: u32,
    pub provider: Address,
    /// [`body_hash`] of the request.
    pub request_hash: Hash,
    pub model: ModelId,
    /// The manifest the answer ran on.
    pub manifest_cid: String,
    /// The runtime and CPU kernel path (equal ids allow comparing outputs exactly).
    pub kernel_path: String,
    /// Hash of the output: the embedding values, or the generated token ids.
    pub output_hash: Hash,
    /// Generated token ids (empty for embeddings).
    pub token_ids: Vec<u32>,
    /// Tokens billed at the per-token price.
    pub tokens_charged: u64,
    /// What this call cost.
    pub amount_charged: Amount,
    /// The lane's cumulative charged total after this call.
    pub lane_charged: Amount,
    /// The cumulative amount of the voucher that paid this call.
    pub voucher: Amount,
    /// Milliseconds from the request's arrival to its first output, and to its end.
    pub first_output_ms: u32,
    pub total_ms: u32,
    #[serde(with = "crate::channel::signature_hex")]
    pub signature: Signature,
}

impl CallReceipt {
    fn write_body(&self, buf: &mut impl BufMut) {
        write_string(self.chain_id.as_str(), buf);
        self.channel.write(buf);
        buf.put_u32(self.lane);
        self.provider.write(buf);
        self.request_hash.write(buf);
        self.model.write(buf);
        write_string(&self.manifest_cid, buf);
        write_string(&self.kernel_path, buf);
        self.output_hash.write(buf);
        buf.put_u32(u32::try_from(self.token_ids.len()).unwrap_or(u32::MAX));
        for id in &self.token_ids {
            buf.put_u32(*id);
        }
        buf.put_u64(self.tokens_charged);
        self.amount_charged.write(buf);
        self.lane_charged.write(buf);
        self.voucher.write(buf);
        buf.put_u32(self.first_output_ms);
        buf.put_u32(self.total_ms);
    }

    fn body_size(&self) -> usize {
        string_size(self.chain_id.as_str())
            + Hash::SIZE
            + 4
            + Address::SIZE
            + Hash::SIZE
            + ModelId::SIZE
            + string_size(&self.manifest_cid)
            + string_size(&self.kernel_path)
            + Hash::SIZE
            + 4
            + 4 * self.token_ids.len()
            + 8
            + 3 * Amount::SIZE
            + 8
    }

    /// The signed bytes: the canonical encoding without the signature.
    pub fn message(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body_size());
        self.write_body(&mut out);
        out
    }

    /// An all-zero signature to fill `signature` before [`CallReceipt::sign`] replaces it
    /// (it verifies for nothing).
    pub fn unsigned_signature() -> Signature {
        use commonware_codec::DecodeExt;
        Signature::decode(bytes::Bytes::from_static(&[0u8; 64]))
            .unwrap_or_else(|_| Keypair::from_seed(0).sign(RECEIPT_NAMESPACE, b"unsigned"))
    }

    /// The receipt's canonical bytes, hex: how a provider sends it in the
    /// `x-tessera-receipt` header of a whole (not streamed) answer.
    pub fn to_hex(&self) -> String {
        use commonware_codec::Encode;
        hex::encode(self.encode())
    }

    /// A receipt from [`CallReceipt::to_hex`]'s text (bounded by the decoder's limits).
    pub fn from_hex(text: &str) -> Option<CallReceipt> {
        use commonware_codec::DecodeExt;
        if text.len() > 2 * (MAX_RECEIPT_TOKENS * 4 + 1_024) {
            return None;
        }
        let bytes = hex::decode(text).ok()?;
        CallReceipt::decode(bytes::Bytes::from(bytes)).ok()
    }

    /// Sign with the provider's key (which must be `self.provider`'s).
    pub fn sign(mut self, provider: &Keypair) -> CallReceipt {
        self.provider = provider.address();
        self.signature = provider.sign(RECEIPT_NAMESPACE, &self.message());
        self
    }

    /// Whether the receipt is signed by its provider.
    pub fn verify(&self) -> bool {
        let Ok(key) = crate::keys::public_key_of(&self.provider) else {
            return false;
        };
        key.verify(RECEIPT_NAMESPACE, &self.message(), &self.signature)
    }
}

impl Write for CallReceipt {
    fn write(&self, buf: &mut impl BufMut) {
        self.write_body(buf);
        self.signature.write(buf);
    }
}

impl EncodeSize for CallReceipt {
    fn encode_size(&self) -> usize {
        self.body_size() + Signature::SIZE
    }
}

impl Read for CallReceipt {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let chain = read_string(buf, crate::tx::MAX_CHAIN_ID_LEN)?;
        let chain_id =
            ChainId::new(&chain).map_err(|_| CodecError::Invalid("CallReceipt", "chain id"))?;
        let channel = Hash::read(buf)?;
        let lane = u32::read(buf)?;
        let provider = Address::read(buf)?;
        let request_hash = Hash::read(buf)?;
        let model = ModelId::read(buf)?;
        let manifest_cid = read_string(buf, MAX_CID_BYTES)?;
        let kernel_path = read_string(buf, MAX_KERNEL_ID_BYTES)?;
        let output_hash = Hash::read(buf)?;
        let count = usize::try_from(u32::read(buf)?).map_err(|_| CodecError::InvalidUsize)?;
        if count > MAX_RECEIPT_TOKENS {
            return Err(CodecError::Invalid("CallReceipt", "too many token ids"));
        }
        let mut token_ids = Vec::with_capacity(count.min(buf.remaining() / 4));
        for _ in 0..count {
            token_ids.push(u32::read(buf)?);
        }
        Ok(CallReceipt {
            chain_id,
            channel,
            lane,
            provider,
            request_hash,
            model,
            manifest_cid,
            kernel_path,
            output_hash,
            token_ids,
            tokens_charged: u64::read(buf)?,
            amount_charged: Amount::read(buf)?,
            lane_charged: Amount::read(buf)?,
            voucher: Amount::read(buf)?,
            first_output_ms: u32::read(buf)?,
            total_ms: u32::read(buf)?,
            signature: Signature::read(buf)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{DecodeExt, Encode};

    fn chain() -> ChainId {
        ChainId::new("tessera-test").unwrap()
    }

    #[test]
    fn a_request_signature_binds_body_and_voucher() {
        let payer = Keypair::from_seed(1);
        let voucher = Voucher::sign(&payer, &chain(), Hash([2; 32]), 4, Amount::from_base(9));
        let sig = sign_request(&payer, &voucher, b"{\"input\":\"a\"}");
        assert!(verify_request(
            payer.public_key(),
            &voucher,
            b"{\"input\":\"a\"}",
            &sig
        ));
        assert!(!verify_request(
            payer.public_key(),
            &voucher,
            b"{\"input\":\"b\"}",
            &sig
        ));
        let other = Voucher {
            cumulative: Amount::from_base(10),
            ..voucher.clone()
        };
        assert!(!verify_request(
            payer.public_key(),
            &other,
            b"{\"input\":\"a\"}",
            &sig
        ));
        let stranger = Keypair::from_seed(2);
        assert!(!verify_request(
            stranger.public_key(),
            &voucher,
            b"{\"input\":\"a\"}",
            &sig
        ));
    }

    #[test]
    fn receipts_verify_round_trip_and_refuse_changes() {
        let provider = Keypair::from_seed(3);
        let receipt = CallReceipt {
            chain_id: chain(),
            channel: Hash([1; 32]),
            lane: 2,
            provider: Address([0; 32]),
            request_hash: body_hash(b"x"),
            model: ModelId(1),
            manifest_cid: "bafy".into(),
            kernel_path: "llama.cpp/avx2".into(),
            output_hash: Hash([5; 32]),
            token_ids: vec![1, 2, 3],
            tokens_charged: 3,
            amount_charged: Amount::from_base(30),
            lane_charged: Amount::from_base(90),
            voucher: Amount::from_base(120),
            first_output_ms: 12,
            total_ms: 40,
            signature: provider.sign(b"x", b"y"),
        }
        .sign(&provider);
        assert!(receipt.verify());
        let bytes = receipt.encode();
        assert_eq!(CallReceipt::decode(bytes.clone()).unwrap(), receipt);
        let json = serde_json::to_string(&receipt).unwrap();
        assert_eq!(serde_json::from_str::<CallReceipt>(&json).unwrap(), receipt);
        assert_eq!(CallReceipt::from_hex(&receipt.to_hex()).unwrap(), receipt);
        assert!(CallReceipt::from_hex("zz").is_none());
        let inflated = CallReceipt {
            lane_charged: Amount::from_base(91),
            ..receipt.clone()
        };
        assert!(!inflated.verify());

        // The payer's request signature binds the receipt's voucher and request.
        let payer = Keypair::from_seed(4);
        let paid = Voucher::sign(&payer, &chain(), receipt.channel, 2, receipt.voucher);
        let sig = sign_request(&payer, &paid, b"x");
        assert!(verify_receipt_request(payer.public_key(), &receipt, &sig));
        let earlier = CallReceipt {
            voucher: Amount::from_base(119),
            ..receipt.clone()
        };
        assert!(!verify_receipt_request(payer.public_key(), &earlier, &sig));
        let other_body = CallReceipt {
            request_hash: body_hash(b"y"),
            ..receipt.clone()
        };
        assert!(!verify_receipt_request(
            payer.public_key(),
            &other_body,
            &sig
        ));
        assert!(!verify_receipt_request(
            provider.public_key(),
            &receipt,
            &sig
        ));
    }
}
