//! Transactions: `{chain_id, signer, nonce, max_fee, call}`, signed by the signer over
//! a domain-separated hash of the canonical encoding.
//!
//! * The transaction id is `sha256("tessera/tx/v1" || encode(tx))`; the signature is
//!   ed25519 over that id under the namespace [`TX_NAMESPACE`]. The chain id inside
//!   the signed bytes makes a transaction useless on any other chain.
//! * A signed transaction on the wire is `encode(tx) || signature(64 bytes)` and may
//!   be at most [`MAX_TX_BYTES`] long.
//! * A block commits to its transactions by their *leaf hashes*,
//!   `sha256("tessera/tx-leaf/v1" || encode(tx) || signature)`: unlike the id, the leaf
//!   covers the signature bytes, so a block's hash pins every byte of its body (see
//!   `docs/decisions/0012-txs-root-over-signed-bytes.md`).

use crate::{
    call::CallReceipt,
    channel::{LaneClaim, Price, MAX_CLAIM_LANES, MAX_ENDPOINT_BYTES},
    codec::{
        decode_bounded, read_list, read_short_bytes, read_string, string_size, write_list,
        write_short_bytes, write_string,
    },
    dispute::FraudEvidence,
    subnet::{
        model_opt_size, read_model_opt, write_model_opt, Role, SubnetId, SubnetParams, UidWeight,
        MAX_REVEAL_WEIGHTS, MAX_SUBNET_NAME_BYTES,
    },
    Address, Amount, DoubleSign, Hash, Keypair, PublicKey, Signature, TypesError,
};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt, Write};
use commonware_cryptography::{BatchEntry, BatchVerifier, Verifier};
use commonware_parallel::Strategy;
use std::{fmt, str::FromStr};

/// Largest accepted signed transaction, in bytes.
pub const MAX_TX_BYTES: usize = 16 * 1024;
/// Namespace of transaction signatures.
pub const TX_NAMESPACE: &[u8] = b"tessera/tx";
const TX_ID_DOMAIN: &[u8] = b"tessera/tx/v1";
const TX_LEAF_DOMAIN: &[u8] = b"tessera/tx-leaf/v1";
/// Longest p2p address a validator may register (`ip:port`), in bytes.
pub const MAX_P2P_ADDRESS_BYTES: usize = 64;
/// Longest chain id, in bytes.
pub const MAX_CHAIN_ID_LEN: usize = 32;

/// Longest model name, in bytes (1–64 characters of `a-z`, `0-9`, `-`).
pub const MAX_MODEL_NAME_BYTES: usize = 64;
/// Longest content id (CID) text, in bytes.
pub const MAX_CID_BYTES: usize = 128;
/// Longest runtime/architecture tag of a model (`candle-bert`, `llama-gguf`), in bytes.
pub const MAX_RUNTIME_BYTES: usize = 32;
/// Longest license of a model (an SPDX expression such as `Apache-2.0`), in bytes.
pub const MAX_LICENSE_BYTES: usize = 64;
/// Longest note on a model version, in bytes.
pub const MAX_VERSION_NOTE_BYTES: usize = 256;
/// Most data-provider links one model may carry.
pub const MAX_DATA_LINKS: usize = 16;

/// Which chain a transaction is for: 1–32 characters of `a-z`, `0-9`, `-`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChainId(String);

impl ChainId {
    pub fn new(text: &str) -> Result<ChainId, TypesError> {
        let ok = !text.is_empty()
            && text.len() <= MAX_CHAIN_ID_LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(ChainId(text.to_string()))
        } else {
            Err(TypesError::InvalidChainId {
                input: text.to_string(),
                max: MAX_CHAIN_ID_LEN,
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainId({})", self.0)
    }
}

impl FromStr for ChainId {
    type Err = TypesError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ChainId::new(s)
    }
}

crate::serde_via_string!(ChainId);

impl Write for ChainId {
    fn write(&self, buf: &mut impl BufMut) {
        write_short_bytes(self.0.as_bytes(), buf);
    }
}

impl EncodeSize for ChainId {
    fn encode_size(&self) -> usize {
        1usize.saturating_add(self.0.len())
    }
}

impl Read for ChainId {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let bytes = read_short_bytes(buf, MAX_CHAIN_ID_LEN)?;
        let text =
            String::from_utf8(bytes).map_err(|_| CodecError::Invalid("ChainId", "not UTF-8"))?;
        ChainId::new(&text).map_err(|_| CodecError::Invalid("ChainId", "bad characters"))
    }
}

// ---------------------------------------------------------------------------------
// The vocabulary of the `models` module (registry, shares, royalties).
// ---------------------------------------------------------------------------------

/// A registered model's id: models are numbered from 1 in registration order.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct ModelId(pub u64);

impl fmt::Display for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Write for ModelId {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u64(self.0);
    }
}

impl FixedSize for ModelId {
    const SIZE: usize = 8;
}

impl Read for ModelId {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(ModelId(u64::read(buf)?))
    }
}

/// A number of a model's ownership shares. JSON carries it as a decimal string (like
/// [`Amount`]) so clients that read numbers as doubles never round it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Shares(u64);

impl Shares {
    pub const ZERO: Shares = Shares(0);

    pub const fn new(count: u64) -> Shares {
        Shares(count)
    }

    pub const fn get(self) -> u64 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn checked_add(self, other: Shares) -> Option<Shares> {
        self.0.checked_add(other.0).map(Shares)
    }

    pub fn checked_sub(self, other: Shares) -> Option<Shares> {
        self.0.checked_sub(other.0).map(Shares)
    }
}

impl fmt::Display for Shares {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl serde::Serialize for Shares {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Shares {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::integer_from_json::<D, u64>(d, "share count").map(Shares)
    }
}

impl Write for Shares {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u64(self.0);
    }
}

impl FixedSize for Shares {
    const SIZE: usize = 8;
}

impl Read for Shares {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Shares(u64::read(buf)?))
    }
}

/// A fraction in basis points: 10,000 bps is the whole.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Bps(u16);

impl Bps {
    pub const ZERO: Bps = Bps(0);
    /// 100%.
    pub const FULL: Bps = Bps(10_000);

    pub const fn new(bps: u16) -> Bps {
        Bps(bps)
    }

    pub const fn get(self) -> u16 {
        self.0
    }
}

impl Write for Bps {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u16(self.0);
    }
}

impl FixedSize for Bps {
    const SIZE: usize = 2;
}

impl Read for Bps {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Bps(u16::read(buf)?))
    }
}

/// How each payment for a model's use is divided. The four parts must sum to exactly
/// [`Bps::FULL`] (checked by the state machine, not by decoding).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RevenueSplit {
    /// To the compute provider that served the call.
    pub compute_bps: Bps,
    /// To the model's share holders, pro rata (the royalties).
    pub owners_bps: Bps,
    /// To the linked data providers, by their weights.
    pub data_bps: Bps,
    /// To the protocol treasury.
    pub treasury_bps: Bps,
}

impl RevenueSplit {
    /// The sum of the four parts (wide enough that it cannot overflow).
    pub fn total_bps(&self) -> u32 {
        [
            self.compute_bps,
            self.owners_bps,
            self.data_bps,
            self.treasury_bps,
        ]
        .iter()
        .map(|part| u32::from(part.get()))
        .sum()
    }
}

impl Write for RevenueSplit {
    fn write(&self, buf: &mut impl BufMut) {
        self.compute_bps.write(buf);
        self.owners_bps.write(buf);
        self.data_bps.write(buf);
        self.treasury_bps.write(buf);
    }
}

impl FixedSize for RevenueSplit {
    const SIZE: usize = 4 * Bps::SIZE;
}

impl Read for RevenueSplit {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(RevenueSplit {
            compute_bps: Bps::read(buf)?,
            owners_bps: Bps::read(buf)?,
            data_bps: Bps::read(buf)?,
            treasury_bps: Bps::read(buf)?,
        })
    }
}

/// A data provider whose dataset a model was trained on, and its weight within the
/// model's data share (the weights of a model's links sum to [`Bps::FULL`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DataLink {
    pub provider: Address,
    pub weight_bps: Bps,
}

impl Write for DataLink {
    fn write(&self, buf: &mut impl BufMut) {
        self.provider.write(buf);
        self.weight_bps.write(buf);
    }
}

impl FixedSize for DataLink {
    const SIZE: usize = Address::SIZE + Bps::SIZE;
}

impl Read for DataLink {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(DataLink {
            provider: Address::read(buf)?,
            weight_bps: Bps::read(buf)?,
        })
    }
}

/// What a creator declares when registering a model. Decoding bounds every size; the
/// state machine checks the rest (`tessera_state::models::check_spec`, which clients
/// can call before signing).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModelSpec {
    /// Unique on chain: 1–64 characters of `a-z`, `0-9`, `-`.
    pub name: String,
    /// CID of the manifest that lists the model's files (CIDv1 base32 or CIDv0).
    pub manifest_cid: String,
    /// Runtime/architecture tag, e.g. `candle-bert`, `llama-gguf`.
    pub runtime: String,
    /// License of the weights, e.g. `Apache-2.0`.
    pub license: String,
    /// Ownership shares minted to the creator; fixed for the model's life.
    pub total_shares: Shares,
    pub price_base_per_call: Amount,
    pub price_base_per_token: Amount,
    pub split: RevenueSplit,
    pub data_links: Vec<DataLink>,
}

impl Write for ModelSpec {
    fn write(&self, buf: &mut impl BufMut) {
        write_string(&self.name, buf);
        write_string(&self.manifest_cid, buf);
        write_string(&self.runtime, buf);
        write_string(&self.license, buf);
        self.total_shares.write(buf);
        self.price_base_per_call.write(buf);
        self.price_base_per_token.write(buf);
        self.split.write(buf);
        write_list(&self.data_links, buf);
    }
}

impl EncodeSize for ModelSpec {
    fn encode_size(&self) -> usize {
        string_size(&self.name)
            + string_size(&self.manifest_cid)
            + string_size(&self.runtime)
            + string_size(&self.license)
            + Shares::SIZE
            + 2 * Amount::SIZE
            + RevenueSplit::SIZE
            + 4
            + self.data_links.len() * DataLink::SIZE
    }
}

impl Read for ModelSpec {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(ModelSpec {
            name: read_string(buf, MAX_MODEL_NAME_BYTES)?,
            manifest_cid: read_string(buf, MAX_CID_BYTES)?,
            runtime: read_string(buf, MAX_RUNTIME_BYTES)?,
            license: read_string(buf, MAX_LICENSE_BYTES)?,
            total_shares: Shares::read(buf)?,
            price_base_per_call: Amount::read(buf)?,
            price_base_per_token: Amount::read(buf)?,
            split: RevenueSplit::read(buf)?,
            data_links: read_list(buf, MAX_DATA_LINKS, &())?,
        })
    }
}

/// What a transaction does. Each variant belongs to one state module.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Call {
    /// bank: move `amount` from the signer to `to`.
    Transfer { to: Address, amount: Amount },
    /// staking: lock `amount` of the signer's balance as bonded stake.
    Bond { amount: Amount },
    /// staking: start unbonding `amount`; it can be withdrawn after the unbonding period.
    Unbond { amount: Amount },
    /// staking: move every matured unbonding entry back to the balance.
    Withdraw,
    /// models: register a model; its `total_shares` are minted to the signer.
    RegisterModel(ModelSpec),
    /// models: record a new manifest as the model's next version (its creator only).
    AddModelVersion {
        model: ModelId,
        manifest_cid: String,
        note: String,
    },
    /// models: move `amount` of the signer's shares of `model` to `to`.
    TransferShares {
        model: ModelId,
        to: Address,
        amount: Shares,
    },
    /// models: pay the signer's accrued royalties from `model` to their balance.
    ClaimRoyalties { model: ModelId },
    /// staking: prove that a validator signed two different proposals in one consensus
    /// round; the validator's stake is slashed (see `tessera_state::staking::slashing`).
    ReportDoubleSign(Box<DoubleSign>),
    /// staking: register the signer as a validator (its account key is its consensus
    /// key) reachable at `p2p` (`ip:port`), or change the address of a registered one.
    /// It is chosen for a set only while its bonded stake is at least `min_self_bond`.
    RegisterValidator { p2p: String },
    /// staking: end the signer's jailing (for missed leader duties); it may be chosen
    /// again at the next epoch boundary.
    Unjail,
    /// providers: serve `model` at `price` from `endpoint`, bonding and locking `stake`
    /// from the signer's balance.
    RegisterProvider {
        model: ModelId,
        stake: Amount,
        price: Price,
        endpoint: String,
    },
    /// providers: change a registration's price and endpoint, adding `add_stake` (may be
    /// zero) to its locked stake.
    UpdateProvider {
        model: ModelId,
        add_stake: Amount,
        price: Price,
        endpoint: String,
    },
    /// providers: stop serving `model`; the stake unbonds once every claim window of the
    /// registration's channels has closed.
    LeaveProvider { model: ModelId },
    /// channels: open a payment channel from the signer to `provider` for `model`,
    /// moving `deposit` into escrow; it expires `expiry_blocks` after inclusion. Its id is
    /// `channel::channel_id(signer, nonce)`.
    OpenChannel {
        provider: Address,
        model: ModelId,
        deposit: Amount,
        expiry_blocks: u64,
    },
    /// channels: add `amount` to a channel's deposit (its payer only).
    TopUpChannel { channel: Hash, amount: Amount },
    /// channels: move a channel's expiry `blocks` later (its payer only).
    ExtendChannel { channel: Hash, blocks: u64 },
    /// channels: claim the newest voucher of each listed lane (the provider only); the
    /// claimed amount is split at once (decision 0017).
    ClaimChannel {
        channel: Hash,
        lanes: Vec<LaneClaim>,
    },
    /// channels: after expiry and the claim window, return what was not claimed to the
    /// payer and close the channel (its payer only).
    RefundChannel { channel: Hash },
    /// subnets: create a subnet named `name` (for `model`'s market, when given) with
    /// hyperparameters `params`; the lock cost is bonded and locked from the signer.
    CreateSubnet {
        name: String,
        model: Option<ModelId>,
        params: SubnetParams,
    },
    /// subnets: take a UID in `subnet` as `role`, burning the subnet's burn cost.
    RegisterUid { subnet: SubnetId, role: Role },
    /// subnets: commit the hash of weights and a salt (`weights::commit_hash`).
    CommitWeights { subnet: SubnetId, hash: Hash },
    /// subnets: reveal the weights and salt committed in the previous tempo.
    RevealWeights {
        subnet: SubnetId,
        weights: Vec<UidWeight>,
        salt: Hash,
    },
    /// subnets: bond `amount` of the signer's balance behind `validator` in `subnet`.
    Delegate {
        subnet: SubnetId,
        validator: Address,
        amount: Amount,
    },
    /// subnets: withdraw `amount` of the signer's delegation; it unbonds.
    Undelegate {
        subnet: SubnetId,
        validator: Address,
        amount: Amount,
    },
    /// subnets: set the signer's take on its delegators' dividends, bps.
    SetTake { take_bps: u16 },
    /// verify: open a dispute over a provider's signed answer, bonding `bond`.
    ReportFraud {
        evidence: Box<FraudEvidence>,
        bond: Amount,
    },
    /// verify: vote on an open dispute after re-running its check (`guilty`: the
    /// provider's answer is wrong).
    VoteDispute { dispute: Hash, guilty: bool },
    /// subnets: dissolve a subnet (its owner, once no stake is delegated in it); the lock
    /// unbonds.
    DissolveSubnet { subnet: SubnetId },
    /// verify: show that a provider claimed more on a lane than its own `receipt` says it
    /// charged there, bonding `bond`.
    ReportOverclaim {
        receipt: Box<CallReceipt>,
        bond: Amount,
    },
    /// verify: answer an overclaim report with a later `receipt` of the same lane that
    /// charges at least the claim, and the payer's `request_sig` for that call.
    AnswerOverclaim {
        dispute: Hash,
        receipt: Box<CallReceipt>,
        #[serde(with = "crate::channel::signature_hex")]
        request_sig: Signature,
    },
}

impl Call {
    fn tag(&self) -> u8 {
        match self {
            Call::Transfer { .. } => 0,
            Call::Bond { .. } => 1,
            Call::Unbond { .. } => 2,
            Call::Withdraw => 3,
            Call::RegisterModel(_) => 4,
            Call::AddModelVersion { .. } => 5,
            Call::TransferShares { .. } => 6,
            Call::ClaimRoyalties { .. } => 7,
            Call::ReportDoubleSign(_) => 8,
            Call::RegisterValidator { .. } => 9,
            Call::Unjail => 10,
            Call::RegisterProvider { .. } => 11,
            Call::UpdateProvider { .. } => 12,
            Call::LeaveProvider { .. } => 13,
            Call::OpenChannel { .. } => 14,
            Call::TopUpChannel { .. } => 15,
            Call::ExtendChannel { .. } => 16,
            Call::ClaimChannel { .. } => 17,
            Call::RefundChannel { .. } => 18,
            Call::CreateSubnet { .. } => 19,
            Call::RegisterUid { .. } => 20,
            Call::CommitWeights { .. } => 21,
            Call::RevealWeights { .. } => 22,
            Call::Delegate { .. } => 23,
            Call::Undelegate { .. } => 24,
            Call::SetTake { .. } => 25,
            Call::ReportFraud { .. } => 26,
            Call::VoteDispute { .. } => 27,
            Call::DissolveSubnet { .. } => 28,
            Call::ReportOverclaim { .. } => 29,
            Call::AnswerOverclaim { .. } => 30,
        }
    }

    /// Short name for logs, metrics and receipts.
    pub fn name(&self) -> &'static str {
        match self {
            Call::Transfer { .. } => "transfer",
            Call::Bond { .. } => "bond",
            Call::Unbond { .. } => "unbond",
            Call::Withdraw => "withdraw",
            Call::RegisterModel(_) => "register_model",
            Call::AddModelVersion { .. } => "add_model_version",
            Call::TransferShares { .. } => "transfer_shares",
            Call::ClaimRoyalties { .. } => "claim_royalties",
            Call::ReportDoubleSign(_) => "report_double_sign",
            Call::RegisterValidator { .. } => "register_validator",
            Call::Unjail => "unjail",
            Call::RegisterProvider { .. } => "register_provider",
            Call::UpdateProvider { .. } => "update_provider",
            Call::LeaveProvider { .. } => "leave_provider",
            Call::OpenChannel { .. } => "open_channel",
            Call::TopUpChannel { .. } => "top_up_channel",
            Call::ExtendChannel { .. } => "extend_channel",
            Call::ClaimChannel { .. } => "claim_channel",
            Call::RefundChannel { .. } => "refund_channel",
            Call::CreateSubnet { .. } => "create_subnet",
            Call::RegisterUid { .. } => "register_uid",
            Call::CommitWeights { .. } => "commit_weights",
            Call::RevealWeights { .. } => "reveal_weights",
            Call::Delegate { .. } => "delegate",
            Call::Undelegate { .. } => "undelegate",
            Call::SetTake { .. } => "set_take",
            Call::ReportFraud { .. } => "report_fraud",
            Call::VoteDispute { .. } => "vote_dispute",
            Call::DissolveSubnet { .. } => "dissolve_subnet",
            Call::ReportOverclaim { .. } => "report_overclaim",
            Call::AnswerOverclaim { .. } => "answer_overclaim",
        }
    }
}

impl Write for Call {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u8(self.tag());
        match self {
            Call::Transfer { to, amount } => {
                to.write(buf);
                amount.write(buf);
            }
            Call::Bond { amount } | Call::Unbond { amount } => amount.write(buf),
            Call::Withdraw => {}
            Call::RegisterModel(spec) => spec.write(buf),
            Call::AddModelVersion {
                model,
                manifest_cid,
                note,
            } => {
                model.write(buf);
                write_string(manifest_cid, buf);
                write_string(note, buf);
            }
            Call::TransferShares { model, to, amount } => {
                model.write(buf);
                to.write(buf);
                amount.write(buf);
            }
            Call::ClaimRoyalties { model } => model.write(buf),
            Call::ReportDoubleSign(evidence) => evidence.write(buf),
            Call::RegisterValidator { p2p } => write_string(p2p, buf),
            Call::Unjail => {}
            Call::RegisterProvider {
                model,
                stake: amount,
                price,
                endpoint,
            }
            | Call::UpdateProvider {
                model,
                add_stake: amount,
                price,
                endpoint,
            } => {
                model.write(buf);
                amount.write(buf);
                price.write(buf);
                write_string(endpoint, buf);
            }
            Call::LeaveProvider { model } => model.write(buf),
            Call::OpenChannel {
                provider,
                model,
                deposit,
                expiry_blocks,
            } => {
                provider.write(buf);
                model.write(buf);
                deposit.write(buf);
                buf.put_u64(*expiry_blocks);
            }
            Call::TopUpChannel { channel, amount } => {
                channel.write(buf);
                amount.write(buf);
            }
            Call::ExtendChannel { channel, blocks } => {
                channel.write(buf);
                buf.put_u64(*blocks);
            }
            Call::ClaimChannel { channel, lanes } => {
                channel.write(buf);
                write_list(lanes, buf);
            }
            Call::RefundChannel { channel } => channel.write(buf),
            Call::CreateSubnet {
                name,
                model,
                params,
            } => {
                write_string(name, buf);
                write_model_opt(model, buf);
                params.write(buf);
            }
            Call::RegisterUid { subnet, role } => {
                subnet.write(buf);
                role.write(buf);
            }
            Call::CommitWeights { subnet, hash } => {
                subnet.write(buf);
                hash.write(buf);
            }
            Call::RevealWeights {
                subnet,
                weights,
                salt,
            } => {
                subnet.write(buf);
                write_list(weights, buf);
                salt.write(buf);
            }
            Call::Delegate {
                subnet,
                validator,
                amount,
            }
            | Call::Undelegate {
                subnet,
                validator,
                amount,
            } => {
                subnet.write(buf);
                validator.write(buf);
                amount.write(buf);
            }
            Call::SetTake { take_bps } => buf.put_u16(*take_bps),
            Call::ReportFraud { evidence, bond } => {
                evidence.write(buf);
                bond.write(buf);
            }
            Call::VoteDispute { dispute, guilty } => {
                dispute.write(buf);
                guilty.write(buf);
            }
            Call::DissolveSubnet { subnet } => subnet.write(buf),
            Call::ReportOverclaim { receipt, bond } => {
                receipt.write(buf);
                bond.write(buf);
            }
            Call::AnswerOverclaim {
                dispute,
                receipt,
                request_sig,
            } => {
                dispute.write(buf);
                receipt.write(buf);
                request_sig.write(buf);
            }
        }
    }
}

impl EncodeSize for Call {
    fn encode_size(&self) -> usize {
        1 + match self {
            Call::Transfer { .. } => Address::SIZE + Amount::SIZE,
            Call::Bond { .. } | Call::Unbond { .. } => Amount::SIZE,
            Call::Withdraw => 0,
            Call::RegisterModel(spec) => spec.encode_size(),
            Call::AddModelVersion {
                manifest_cid, note, ..
            } => ModelId::SIZE + string_size(manifest_cid) + string_size(note),
            Call::TransferShares { .. } => ModelId::SIZE + Address::SIZE + Shares::SIZE,
            Call::ClaimRoyalties { .. } => ModelId::SIZE,
            Call::ReportDoubleSign(evidence) => evidence.encode_size(),
            Call::RegisterValidator { p2p } => string_size(p2p),
            Call::Unjail => 0,
            Call::RegisterProvider { endpoint, .. } | Call::UpdateProvider { endpoint, .. } => {
                ModelId::SIZE + Amount::SIZE + Price::SIZE + string_size(endpoint)
            }
            Call::LeaveProvider { .. } => ModelId::SIZE,
            Call::OpenChannel { .. } => Address::SIZE + ModelId::SIZE + Amount::SIZE + 8,
            Call::TopUpChannel { .. } => Hash::SIZE + Amount::SIZE,
            Call::ExtendChannel { .. } => Hash::SIZE + 8,
            Call::ClaimChannel { lanes, .. } => Hash::SIZE + 4 + lanes.len() * LaneClaim::SIZE,
            Call::RefundChannel { .. } => Hash::SIZE,
            Call::CreateSubnet { name, model, .. } => {
                string_size(name) + model_opt_size(model) + SubnetParams::SIZE
            }
            Call::RegisterUid { .. } => SubnetId::SIZE + Role::SIZE,
            Call::CommitWeights { .. } => SubnetId::SIZE + Hash::SIZE,
            Call::RevealWeights { weights, .. } => {
                SubnetId::SIZE + 4 + weights.len() * UidWeight::SIZE + Hash::SIZE
            }
            Call::Delegate { .. } | Call::Undelegate { .. } => {
                SubnetId::SIZE + Address::SIZE + Amount::SIZE
            }
            Call::SetTake { .. } => 2,
            Call::ReportFraud { evidence, .. } => evidence.encode_size() + Amount::SIZE,
            Call::VoteDispute { .. } => Hash::SIZE + 1,
            Call::DissolveSubnet { .. } => SubnetId::SIZE,
            Call::ReportOverclaim { receipt, .. } => receipt.encode_size() + Amount::SIZE,
            Call::AnswerOverclaim { receipt, .. } => {
                Hash::SIZE + receipt.encode_size() + Signature::SIZE
            }
        }
    }
}

impl Read for Call {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let tag = u8::read(buf)?;
        Ok(match tag {
            0 => Call::Transfer {
                to: Address::read(buf)?,
                amount: Amount::read(buf)?,
            },
            1 => Call::Bond {
                amount: Amount::read(buf)?,
            },
            2 => Call::Unbond {
                amount: Amount::read(buf)?,
            },
            3 => Call::Withdraw,
            4 => Call::RegisterModel(ModelSpec::read(buf)?),
            5 => Call::AddModelVersion {
                model: ModelId::read(buf)?,
                manifest_cid: read_string(buf, MAX_CID_BYTES)?,
                note: read_string(buf, MAX_VERSION_NOTE_BYTES)?,
            },
            6 => Call::TransferShares {
                model: ModelId::read(buf)?,
                to: Address::read(buf)?,
                amount: Shares::read(buf)?,
            },
            7 => Call::ClaimRoyalties {
                model: ModelId::read(buf)?,
            },
            8 => Call::ReportDoubleSign(Box::new(DoubleSign::read(buf)?)),
            9 => Call::RegisterValidator {
                p2p: read_string(buf, MAX_P2P_ADDRESS_BYTES)?,
            },
            10 => Call::Unjail,
            11 => Call::RegisterProvider {
                model: ModelId::read(buf)?,
                stake: Amount::read(buf)?,
                price: Price::read(buf)?,
                endpoint: read_string(buf, MAX_ENDPOINT_BYTES)?,
            },
            12 => Call::UpdateProvider {
                model: ModelId::read(buf)?,
                add_stake: Amount::read(buf)?,
                price: Price::read(buf)?,
                endpoint: read_string(buf, MAX_ENDPOINT_BYTES)?,
            },
            13 => Call::LeaveProvider {
                model: ModelId::read(buf)?,
            },
            14 => Call::OpenChannel {
                provider: Address::read(buf)?,
                model: ModelId::read(buf)?,
                deposit: Amount::read(buf)?,
                expiry_blocks: u64::read(buf)?,
            },
            15 => Call::TopUpChannel {
                channel: Hash::read(buf)?,
                amount: Amount::read(buf)?,
            },
            16 => Call::ExtendChannel {
                channel: Hash::read(buf)?,
                blocks: u64::read(buf)?,
            },
            17 => Call::ClaimChannel {
                channel: Hash::read(buf)?,
                lanes: read_list(buf, MAX_CLAIM_LANES, &())?,
            },
            18 => Call::RefundChannel {
                channel: Hash::read(buf)?,
            },
            19 => Call::CreateSubnet {
                name: read_string(buf, MAX_SUBNET_NAME_BYTES)?,
                model: read_model_opt(buf)?,
                params: SubnetParams::read(buf)?,
            },
            20 => Call::RegisterUid {
                subnet: SubnetId::read(buf)?,
                role: Role::read(buf)?,
            },
            21 => Call::CommitWeights {
                subnet: SubnetId::read(buf)?,
                hash: Hash::read(buf)?,
            },
            22 => Call::RevealWeights {
                subnet: SubnetId::read(buf)?,
                weights: read_list(buf, MAX_REVEAL_WEIGHTS, &())?,
                salt: Hash::read(buf)?,
            },
            23 => Call::Delegate {
                subnet: SubnetId::read(buf)?,
                validator: Address::read(buf)?,
                amount: Amount::read(buf)?,
            },
            24 => Call::Undelegate {
                subnet: SubnetId::read(buf)?,
                validator: Address::read(buf)?,
                amount: Amount::read(buf)?,
            },
            25 => Call::SetTake {
                take_bps: u16::read(buf)?,
            },
            26 => Call::ReportFraud {
                evidence: Box::new(FraudEvidence::read(buf)?),
                bond: Amount::read(buf)?,
            },
            27 => Call::VoteDispute {
                dispute: Hash::read(buf)?,
                guilty: bool::read(buf)?,
            },
            28 => Call::DissolveSubnet {
                subnet: SubnetId::read(buf)?,
            },
            29 => Call::ReportOverclaim {
                receipt: Box::new(CallReceipt::read(buf)?),
                bond: Amount::read(buf)?,
            },
            30 => Call::AnswerOverclaim {
                dispute: Hash::read(buf)?,
                receipt: Box::new(CallReceipt::read(buf)?),
                request_sig: Signature::read(buf)?,
            },
            other => return Err(CodecError::InvalidEnum(other)),
        })
    }
}

/// An unsigned transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    pub chain_id: ChainId,
    pub signer: PublicKey,
    pub nonce: u64,
    pub max_fee: Amount,
    pub call: Call,
}

impl Transaction {
    /// The id that is signed and by which the transaction is known.
    pub fn id(&self) -> Hash {
        let mut bytes = Vec::with_capacity(self.encode_size());
        self.write(&mut bytes);
        Hash::digest(TX_ID_DOMAIN, &[&bytes])
    }

    pub fn sender(&self) -> Address {
        Address::from_public_key(&self.signer)
    }

    /// Size in bytes once signed: the size the fee is charged on.
    pub fn signed_size(&self) -> usize {
        self.encode_size() + Signature::SIZE
    }

    /// Sign with `key`; the key must be the signer's.
    pub fn sign(self, key: &Keypair) -> Result<SignedTransaction, TypesError> {
        if key.public_key() != &self.signer {
            return Err(TypesError::InvalidKey(
                "the signing key is not the transaction's signer".into(),
            ));
        }
        let id = self.id();
        let signature = key.sign(TX_NAMESPACE, &id.0);
        Ok(SignedTransaction::assemble(self, signature, id))
    }
}

impl Write for Transaction {
    fn write(&self, buf: &mut impl BufMut) {
        self.chain_id.write(buf);
        self.signer.write(buf);
        buf.put_u64(self.nonce);
        self.max_fee.write(buf);
        self.call.write(buf);
    }
}

impl EncodeSize for Transaction {
    fn encode_size(&self) -> usize {
        self.chain_id.encode_size()
            + PublicKey::SIZE
            + u64::SIZE
            + Amount::SIZE
            + self.call.encode_size()
    }
}

impl Read for Transaction {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Transaction {
            chain_id: ChainId::read(buf)?,
            signer: PublicKey::read(buf)?,
            nonce: u64::read(buf)?,
            max_fee: Amount::read(buf)?,
            call: Call::read(buf)?,
        })
    }
}

/// A transaction with its signature. The id and encoded size are computed once.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedTransaction {
    tx: Transaction,
    signature: Signature,
    id: Hash,
    /// Hash of the full signed bytes (what a block's transactions root commits to).
    leaf: Hash,
    size_bytes: usize,
}

impl SignedTransaction {
    fn assemble(tx: Transaction, signature: Signature, id: Hash) -> SignedTransaction {
        let size_bytes = tx.encode_size() + Signature::SIZE;
        let mut bytes = Vec::with_capacity(size_bytes);
        tx.write(&mut bytes);
        signature.write(&mut bytes);
        let leaf = Hash::digest(TX_LEAF_DOMAIN, &[&bytes]);
        SignedTransaction {
            tx,
            signature,
            id,
            leaf,
            size_bytes,
        }
    }

    /// The hash a block's transactions root commits to: it covers the signature, so
    /// two encodings of one transaction (same id) have different leaves.
    pub fn leaf_hash(&self) -> Hash {
        self.leaf
    }

    pub fn tx(&self) -> &Transaction {
        &self.tx
    }

    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    pub fn id(&self) -> Hash {
        self.id
    }

    pub fn sender(&self) -> Address {
        self.tx.sender()
    }

    /// Encoded size in bytes.
    pub fn size_bytes(&self) -> usize {
        self.size_bytes
    }

    /// Check the signature alone (one verification).
    pub fn verify_signature(&self) -> bool {
        self.tx
            .signer
            .verify(TX_NAMESPACE, &self.id.0, &self.signature)
    }

    /// Canonical bytes, as submitted to a node.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.size_bytes);
        self.write(&mut out);
        out
    }

    /// Decode untrusted bytes (size-limited, no trailing bytes). Does not check the signature.
    pub fn from_bytes(bytes: &[u8]) -> Result<SignedTransaction, TypesError> {
        decode_bounded("transaction", bytes, MAX_TX_BYTES, &())
    }
}

/// Verify many signatures at once with ed25519 batch verification, spread over
/// `strategy`'s threads. Returns the indices of the transactions whose signatures
/// fail (empty when all are valid). Batch and single verification agree on every
/// signature (ZIP-215), so the result does not depend on batching.
pub fn verify_signatures(txs: &[SignedTransaction], strategy: &impl Strategy) -> Vec<usize> {
    if txs.is_empty() {
        return Vec::new();
    }
    let all_valid = PublicKey::verify_batch(
        &mut rand::rng(),
        txs,
        |_, tx| BatchEntry {
            namespace: TX_NAMESPACE,
            message: &tx.id.0,
            public_key: &tx.tx.signer,
            signature: &tx.signature,
        },
        strategy,
    );
    if all_valid {
        return Vec::new();
    }
    txs.iter()
        .enumerate()
        .filter(|(_, tx)| !tx.verify_signature())
        .map(|(i, _)| i)
        .collect()
}

impl Write for SignedTransaction {
    fn write(&self, buf: &mut impl BufMut) {
        self.tx.write(buf);
        self.signature.write(buf);
    }
}

impl EncodeSize for SignedTransaction {
    fn encode_size(&self) -> usize {
        self.size_bytes
    }
}

impl Read for SignedTransaction {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let tx = Transaction::read(buf)?;
        let signature = Signature::read(buf)?;
        let id = tx.id();
        Ok(SignedTransaction::assemble(tx, signature, id))
    }
}

impl fmt::Debug for SignedTransaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SignedTransaction({} from {} nonce {} {:?})",
            self.id,
            self.sender(),
            self.tx.nonce,
            self.tx.call
        )
    }
}

/// JSON view of a signed transaction, as the RPC shows it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct TxView {
    pub id: Hash,
    pub chain_id: ChainId,
    pub signer: Address,
    pub nonce: u64,
    pub max_fee: Amount,
    pub call: Call,
    pub size_bytes: usize,
}

impl TxView {
    pub fn call_name(&self) -> &'static str {
        self.call.name()
    }
}

impl From<&SignedTransaction> for TxView {
    fn from(tx: &SignedTransaction) -> Self {
        TxView {
            id: tx.id,
            chain_id: tx.tx.chain_id.clone(),
            signer: tx.sender(),
            nonce: tx.tx.nonce,
            max_fee: tx.tx.max_fee,
            call: tx.tx.call.clone(),
            size_bytes: tx.size_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_parallel::Sequential;

    fn transfer(key: &Keypair, nonce: u64) -> SignedTransaction {
        Transaction {
            chain_id: ChainId::new("tessera-test").unwrap(),
            signer: key.public_key().clone(),
            nonce,
            max_fee: Amount::from_base(1_000),
            call: Call::Transfer {
                to: Keypair::from_seed(99).address(),
                amount: Amount::from_base(5),
            },
        }
        .sign(key)
        .unwrap()
    }

    #[test]
    fn round_trip_and_signature() {
        let key = Keypair::from_seed(1);
        let tx = transfer(&key, 0);
        assert!(tx.verify_signature());
        let bytes = tx.to_bytes();
        assert_eq!(bytes.len(), tx.size_bytes());
        let back = SignedTransaction::from_bytes(&bytes).unwrap();
        assert_eq!(back, tx);
        assert_eq!(back.id(), tx.id());
    }

    #[test]
    fn rejects_trailing_truncated_and_oversized() {
        let tx = transfer(&Keypair::from_seed(1), 0);
        let mut bytes = tx.to_bytes();
        bytes.push(0);
        assert!(SignedTransaction::from_bytes(&bytes).is_err());
        bytes.truncate(bytes.len() - 2);
        assert!(SignedTransaction::from_bytes(&bytes).is_err());
        let huge = vec![0u8; MAX_TX_BYTES + 1];
        assert!(matches!(
            SignedTransaction::from_bytes(&huge),
            Err(TypesError::TooLarge { .. })
        ));
    }

    #[test]
    fn tampering_breaks_the_signature() {
        let key = Keypair::from_seed(1);
        let tx = transfer(&key, 0);
        let mut bytes = tx.to_bytes();
        // The nonce is the 8 bytes after chain id (1 + 12) and signer (32).
        bytes[1 + 12 + 32 + 7] ^= 1;
        let tampered = SignedTransaction::from_bytes(&bytes).unwrap();
        assert_eq!(tampered.tx().nonce, 1);
        assert!(!tampered.verify_signature());
    }

    #[test]
    fn signing_with_the_wrong_key_is_refused() {
        let tx = transfer(&Keypair::from_seed(1), 0).tx().clone();
        assert!(tx.sign(&Keypair::from_seed(2)).is_err());
    }

    #[test]
    fn batch_verification_finds_the_bad_ones() {
        let key = Keypair::from_seed(1);
        let mut txs: Vec<SignedTransaction> = (0..8).map(|n| transfer(&key, n)).collect();
        assert!(verify_signatures(&txs, &Sequential).is_empty());
        let mut bytes = txs[3].to_bytes();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        txs[3] = SignedTransaction::from_bytes(&bytes).unwrap();
        assert_eq!(verify_signatures(&txs, &Sequential), vec![3]);
    }

    #[test]
    fn chain_id_rules() {
        assert!(ChainId::new("tessera-dev-1").is_ok());
        for bad in ["", "Tessera", "a b", &"x".repeat(33)] {
            assert!(ChainId::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn unknown_call_tag_is_rejected() {
        let tx = transfer(&Keypair::from_seed(1), 0);
        let mut bytes = tx.to_bytes();
        let call_at = 1 + 12 + 32 + 8 + 16;
        bytes[call_at] = 200;
        assert!(SignedTransaction::from_bytes(&bytes).is_err());
    }

    fn sign_call(call: Call) -> SignedTransaction {
        let key = Keypair::from_seed(3);
        Transaction {
            chain_id: ChainId::new("tessera-test").unwrap(),
            signer: key.public_key().clone(),
            nonce: 9,
            max_fee: Amount::from_base(1_000),
            call,
        }
        .sign(&key)
        .unwrap()
    }

    fn spec() -> ModelSpec {
        ModelSpec {
            name: "tiny-bert".into(),
            manifest_cid: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy".into(),
            runtime: "candle-bert".into(),
            license: "Apache-2.0".into(),
            total_shares: Shares::new(1_000_000),
            price_base_per_call: Amount::from_base(5_000),
            price_base_per_token: Amount::from_base(7),
            split: RevenueSplit {
                compute_bps: Bps::new(6_000),
                owners_bps: Bps::new(2_500),
                data_bps: Bps::new(1_000),
                treasury_bps: Bps::new(500),
            },
            data_links: vec![
                DataLink {
                    provider: Keypair::from_seed(5).address(),
                    weight_bps: Bps::new(7_000),
                },
                DataLink {
                    provider: Keypair::from_seed(6).address(),
                    weight_bps: Bps::new(3_000),
                },
            ],
        }
    }

    fn model_calls() -> Vec<Call> {
        vec![
            Call::RegisterModel(spec()),
            Call::AddModelVersion {
                model: ModelId(7),
                manifest_cid: "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG".into(),
                note: "int8 weights — 2× faster".into(),
            },
            Call::TransferShares {
                model: ModelId(7),
                to: Keypair::from_seed(4).address(),
                amount: Shares::new(u64::MAX),
            },
            Call::ClaimRoyalties { model: ModelId(1) },
        ]
    }

    #[test]
    fn model_calls_round_trip_in_binary_and_json() {
        for call in model_calls() {
            let tx = sign_call(call.clone());
            let bytes = tx.to_bytes();
            assert_eq!(bytes.len(), tx.size_bytes(), "{}", call.name());
            let back = SignedTransaction::from_bytes(&bytes).unwrap();
            assert_eq!(back.tx().call, call);
            assert!(back.verify_signature());
            let json = serde_json::to_string(&call).unwrap();
            assert!(
                json.contains(&format!("\"type\":\"{}\"", call.name())),
                "{json}"
            );
            assert_eq!(serde_json::from_str::<Call>(&json).unwrap(), call);
        }
    }

    #[test]
    fn shares_travel_as_json_strings() {
        let json = serde_json::to_string(&Shares::new(u64::MAX)).unwrap();
        assert_eq!(json, format!("\"{}\"", u64::MAX));
        assert_eq!(
            serde_json::from_str::<Shares>("12").unwrap(),
            Shares::new(12)
        );
        assert!(serde_json::from_str::<Shares>("\"-1\"").is_err());
    }

    #[test]
    fn model_call_decoding_is_bounded() {
        let oversized = [
            Call::RegisterModel(ModelSpec {
                name: "x".repeat(MAX_MODEL_NAME_BYTES + 1),
                ..spec()
            }),
            Call::RegisterModel(ModelSpec {
                license: "x".repeat(MAX_LICENSE_BYTES + 1),
                ..spec()
            }),
            Call::RegisterModel(ModelSpec {
                data_links: vec![spec().data_links[0]; MAX_DATA_LINKS + 1],
                ..spec()
            }),
            Call::AddModelVersion {
                model: ModelId(1),
                manifest_cid: "b".repeat(MAX_CID_BYTES + 1),
                note: String::new(),
            },
            Call::AddModelVersion {
                model: ModelId(1),
                manifest_cid: "b".into(),
                note: "n".repeat(MAX_VERSION_NOTE_BYTES + 1),
            },
        ];
        for call in oversized {
            let bytes = sign_call(call.clone()).to_bytes();
            assert!(
                SignedTransaction::from_bytes(&bytes).is_err(),
                "{call:?} decoded"
            );
        }
        let at_limits = Call::RegisterModel(ModelSpec {
            name: "x".repeat(MAX_MODEL_NAME_BYTES),
            manifest_cid: "b".repeat(MAX_CID_BYTES),
            runtime: "r".repeat(MAX_RUNTIME_BYTES),
            license: "l".repeat(MAX_LICENSE_BYTES),
            data_links: vec![spec().data_links[0]; MAX_DATA_LINKS],
            ..spec()
        });
        let tx = sign_call(at_limits);
        assert_eq!(SignedTransaction::from_bytes(&tx.to_bytes()).unwrap(), tx);
    }

    #[test]
    fn split_total_cannot_overflow() {
        let split = RevenueSplit {
            compute_bps: Bps::new(u16::MAX),
            owners_bps: Bps::new(u16::MAX),
            data_bps: Bps::new(u16::MAX),
            treasury_bps: Bps::new(u16::MAX),
        };
        assert_eq!(split.total_bps(), 4 * u32::from(u16::MAX));
        assert_eq!(spec().split.total_bps(), u32::from(Bps::FULL.get()));
    }
}
