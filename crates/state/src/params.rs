//! Protocol parameters, stored in state at genesis (governance changes them later).
//!
//! # Invariants
//! * `validate` passes for every stored `Params`: halving interval and unbonding
//!   period are non-zero, the reward is not above the cap, the slash share is at most
//!   10,000 bps, epochs are at least one block, 1 ≤ max_validators ≤ 1,024, the
//!   liveness threshold and the channel claim fee are at most 10,000 bps, the claim
//!   window and the longest channel life are at least one block.
//! * unbonding outlasts the evidence window:
//!   `unbonding_blocks ≥ (evidence_max_age_epochs + 1) × epoch_blocks`, so at least one
//!   full epoch longer than an epoch. A validator that unbonds while it votes still has
//!   that stake when evidence of anything it signed in its last epoch arrives, up to the
//!   evidence age limit.

use crate::{kv::Overlay, StateError};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, Read, ReadExt, Write};
use tessera_types::Amount;

/// State key of the parameters.
pub const PARAMS_KEY: &[u8] = b"sys/params";

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Fee every transaction pays, plus `tx_fee_per_byte_base` per encoded byte.
    pub tx_fee_base: Amount,
    /// Fee per encoded byte, in base units.
    pub tx_fee_per_byte_base: Amount,
    /// Burn fees (true) or send them to the treasury account (false).
    pub burn_fees: bool,
    /// Hard cap on total supply; emission stops there.
    pub max_supply: Amount,
    /// Reward minted to the proposer of each block before the first halving.
    pub initial_block_reward: Amount,
    /// The block reward halves every this many blocks.
    pub halving_interval_blocks: u64,
    /// Blocks between unbonding and the moment the stake can be withdrawn.
    pub unbonding_blocks: u64,
    /// Share of a validator's stake burned for a proven double sign, in basis points.
    pub double_sign_slash_bps: u16,
    /// Blocks per epoch: the validator set is chosen anew at each epoch's last block.
    pub epoch_blocks: u64,
    /// Most validators in an epoch's set (top bonded stake).
    pub max_validators: u16,
    /// Least bonded stake a registered validator needs to be chosen for a set.
    pub min_self_bond: Amount,
    /// A member of an epoch's set that missed more than this share (bps) of the views it
    /// led is jailed: left out of later sets until it sends `unjail`. 10,000 never jails.
    pub liveness_max_missed_bps: u16,
    /// Double-sign evidence of epoch `e` is accepted until the end of epoch
    /// `e + evidence_max_age_epochs`.
    pub evidence_max_age_epochs: u64,
    /// Least stake a provider locks to serve one model.
    pub min_provider_stake: Amount,
    /// Blocks after a channel's expiry during which its provider may still claim; the
    /// payer's refund opens after them (decision 0017).
    pub channel_claim_window_blocks: u64,
    /// Longest a channel may run from now (at open and at each extension).
    pub max_channel_blocks: u64,
    /// The protocol's fee on every claimed amount, in bps, taken from the provider's part.
    pub channel_claim_fee_bps: u16,
    /// Bonded and locked from a subnet's creator while the subnet exists.
    pub subnet_lock_cost: Amount,
    /// Minted each block for the subnets (halving with the block reward), divided among
    /// them by emission rule v1 (decision 0019) and paid at each subnet's epoch.
    pub subnet_emission_per_block: Amount,
    /// Blocks a delegation must be bonded before it counts as a subnet's matured stake.
    pub subnet_maturity_blocks: u64,
    /// Most of the subnets' emission the revenue pool may take, bps.
    pub subnet_revenue_weight_bps: u16,
    /// Most of the network's take returned as revenue-pool emission, bps (< 10,000).
    pub subnet_take_return_bps: u16,
    /// Blocks a validator waits after changing its take before it may raise it.
    pub take_increase_delay_blocks: u64,
    /// Least bond a fraud report carries (burned if the quorum rejects the report).
    pub dispute_min_bond: Amount,
    /// Blocks after a report during which the subnet's validators vote on it.
    pub dispute_window_blocks: u64,
    /// Share of the eligible validators' stake that must vote for a verdict, bps.
    pub dispute_quorum_bps: u16,
    /// Share of the voting stake that must find the answer wrong to prove fraud, bps.
    pub dispute_pass_bps: u16,
    /// Share of the provider's stake for the model slashed for proven fraud, bps.
    pub fraud_slash_bps: u16,
    /// Share of a fraud slash paid to the reporter (the rest is burned), bps.
    pub fraud_reporter_bps: u16,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            tx_fee_base: Amount::from_base(100_000),
            tx_fee_per_byte_base: Amount::from_base(1_000),
            burn_fees: false,
            max_supply: Amount::from_base(1_000_000_000 * tessera_types::amount::BASE_PER_TSR),
            initial_block_reward: Amount::from_base(40 * tessera_types::amount::BASE_PER_TSR),
            halving_interval_blocks: 10_000_000,
            unbonding_blocks: 2_000,
            double_sign_slash_bps: 500,
            epoch_blocks: 1_000,
            max_validators: 100,
            min_self_bond: Amount::from_base(10_000 * tessera_types::amount::BASE_PER_TSR),
            liveness_max_missed_bps: 5_000,
            evidence_max_age_epochs: 1,
            min_provider_stake: Amount::from_base(100 * tessera_types::amount::BASE_PER_TSR),
            channel_claim_window_blocks: 600,
            max_channel_blocks: 2_000_000,
            channel_claim_fee_bps: 100,
            subnet_lock_cost: Amount::from_base(1_000 * tessera_types::amount::BASE_PER_TSR),
            subnet_emission_per_block: Amount::from_base(20 * tessera_types::amount::BASE_PER_TSR),
            subnet_maturity_blocks: 7_200,
            subnet_revenue_weight_bps: 5_000,
            subnet_take_return_bps: 5_000,
            take_increase_delay_blocks: 7_200,
            dispute_min_bond: Amount::from_base(10 * tessera_types::amount::BASE_PER_TSR),
            dispute_window_blocks: 600,
            dispute_quorum_bps: 5_000,
            dispute_pass_bps: 6_667,
            fraud_slash_bps: 5_000,
            fraud_reporter_bps: 2_000,
        }
    }
}

impl Params {
    pub fn validate(&self) -> Result<(), StateError> {
        let bad = |why: &str| Err(StateError::InvalidParams(why.to_string()));
        if self.halving_interval_blocks == 0 {
            return bad("halving_interval_blocks must be at least 1");
        }
        if self.unbonding_blocks == 0 {
            return bad("unbonding_blocks must be at least 1");
        }
        if self.initial_block_reward > self.max_supply {
            return bad("initial_block_reward is above max_supply");
        }
        if self.double_sign_slash_bps > 10_000 {
            return bad("double_sign_slash_bps is above 10000 (100%)");
        }
        if self.epoch_blocks == 0 {
            return bad("epoch_blocks must be at least 1");
        }
        if self.max_validators == 0
            || usize::from(self.max_validators) > crate::staking::epochs::MAX_SET_SIZE
        {
            return bad("max_validators must be between 1 and 1024");
        }
        if self.liveness_max_missed_bps > 10_000 {
            return bad("liveness_max_missed_bps is above 10000 (100%)");
        }
        if self.channel_claim_fee_bps > 10_000 {
            return bad("channel_claim_fee_bps is above 10000 (100%)");
        }
        if self.channel_claim_window_blocks == 0 {
            return bad("channel_claim_window_blocks must be at least 1");
        }
        if self.max_channel_blocks == 0 {
            return bad("max_channel_blocks must be at least 1");
        }
        if self.subnet_revenue_weight_bps > 10_000 {
            return bad("subnet_revenue_weight_bps is above 10000 (100%)");
        }
        if self.subnet_take_return_bps >= 10_000 {
            return bad("subnet_take_return_bps must be below 10000: returning all of the take would make fake revenue free");
        }
        if self.dispute_window_blocks == 0 {
            return bad("dispute_window_blocks must be at least 1");
        }
        if self.dispute_quorum_bps == 0 || self.dispute_quorum_bps > 10_000 {
            return bad("dispute_quorum_bps must be between 1 and 10000");
        }
        if self.dispute_pass_bps <= 5_000 || self.dispute_pass_bps > 10_000 {
            return bad("dispute_pass_bps must be above 5000 (a majority) and at most 10000");
        }
        if self.fraud_slash_bps > 10_000 || self.fraud_reporter_bps > 10_000 {
            return bad("fraud_slash_bps and fraud_reporter_bps are at most 10000 (100%)");
        }
        let window = self
            .evidence_max_age_epochs
            .checked_add(1)
            .and_then(|epochs| epochs.checked_mul(self.epoch_blocks));
        match window {
            Some(blocks) if self.unbonding_blocks >= blocks => Ok(()),
            Some(blocks) => Err(StateError::InvalidParams(format!(
                "unbonding_blocks ({}) must be at least (evidence_max_age_epochs + 1) × epoch_blocks = {blocks}: a validator must not withdraw stake it could still be slashed for",
                self.unbonding_blocks
            ))),
            None => bad("evidence_max_age_epochs × epoch_blocks overflows"),
        }
    }

    /// The epoch that height `height` belongs to.
    pub fn epoch_of(&self, height: u64) -> u64 {
        height.checked_div(self.epoch_blocks).unwrap_or(0)
    }

    /// The fee for a transaction of `size_bytes` encoded bytes.
    pub fn fee_for(&self, size_bytes: usize) -> Result<Amount, StateError> {
        let size = u128::try_from(size_bytes).map_err(|_| StateError::Overflow("fee"))?;
        let per_bytes = self
            .tx_fee_per_byte_base
            .checked_mul(size)
            .ok_or(StateError::Overflow("fee"))?;
        self.tx_fee_base
            .checked_add(per_bytes)
            .ok_or(StateError::Overflow("fee"))
    }

    /// Read the stored parameters.
    pub fn load(state: &Overlay<'_>) -> Result<Params, StateError> {
        state
            .read::<Params>(PARAMS_KEY)?
            .ok_or(StateError::Missing("parameters"))
    }
}

impl Write for Params {
    fn write(&self, buf: &mut impl BufMut) {
        self.tx_fee_base.write(buf);
        self.tx_fee_per_byte_base.write(buf);
        self.burn_fees.write(buf);
        self.max_supply.write(buf);
        self.initial_block_reward.write(buf);
        buf.put_u64(self.halving_interval_blocks);
        buf.put_u64(self.unbonding_blocks);
        buf.put_u16(self.double_sign_slash_bps);
        buf.put_u64(self.epoch_blocks);
        buf.put_u16(self.max_validators);
        self.min_self_bond.write(buf);
        buf.put_u16(self.liveness_max_missed_bps);
        buf.put_u64(self.evidence_max_age_epochs);
        self.min_provider_stake.write(buf);
        buf.put_u64(self.channel_claim_window_blocks);
        buf.put_u64(self.max_channel_blocks);
        buf.put_u16(self.channel_claim_fee_bps);
        self.subnet_lock_cost.write(buf);
        self.subnet_emission_per_block.write(buf);
        buf.put_u64(self.subnet_maturity_blocks);
        buf.put_u16(self.subnet_revenue_weight_bps);
        buf.put_u16(self.subnet_take_return_bps);
        buf.put_u64(self.take_increase_delay_blocks);
        self.dispute_min_bond.write(buf);
        buf.put_u64(self.dispute_window_blocks);
        buf.put_u16(self.dispute_quorum_bps);
        buf.put_u16(self.dispute_pass_bps);
        buf.put_u16(self.fraud_slash_bps);
        buf.put_u16(self.fraud_reporter_bps);
    }
}

impl EncodeSize for Params {
    fn encode_size(&self) -> usize {
        // nine amounts, a bool, nine u64, ten u16
        9 * 16 + 1 + 9 * 8 + 10 * 2
    }
}

impl Read for Params {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Params {
            tx_fee_base: Amount::read(buf)?,
            tx_fee_per_byte_base: Amount::read(buf)?,
            burn_fees: bool::read(buf)?,
            max_supply: Amount::read(buf)?,
            initial_block_reward: Amount::read(buf)?,
            halving_interval_blocks: u64::read(buf)?,
            unbonding_blocks: u64::read(buf)?,
            double_sign_slash_bps: u16::read(buf)?,
            epoch_blocks: u64::read(buf)?,
            max_validators: u16::read(buf)?,
            min_self_bond: Amount::read(buf)?,
            liveness_max_missed_bps: u16::read(buf)?,
            evidence_max_age_epochs: u64::read(buf)?,
            min_provider_stake: Amount::read(buf)?,
            channel_claim_window_blocks: u64::read(buf)?,
            max_channel_blocks: u64::read(buf)?,
            channel_claim_fee_bps: u16::read(buf)?,
            subnet_lock_cost: Amount::read(buf)?,
            subnet_emission_per_block: Amount::read(buf)?,
            subnet_maturity_blocks: u64::read(buf)?,
            subnet_revenue_weight_bps: u16::read(buf)?,
            subnet_take_return_bps: u16::read(buf)?,
            take_increase_delay_blocks: u64::read(buf)?,
            dispute_min_bond: Amount::read(buf)?,
            dispute_window_blocks: u64::read(buf)?,
            dispute_quorum_bps: u16::read(buf)?,
            dispute_pass_bps: u16::read(buf)?,
            fraud_slash_bps: u16::read(buf)?,
            fraud_reporter_bps: u16::read(buf)?,
        })
    }
}
