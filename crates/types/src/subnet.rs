//! Subnets' shared vocabulary: ids, roles, hyperparameters and events (the rules live
//! in `tessera_state::subnets`).
//!
//! A subnet is a market of miners (for a model's subnet: the model's providers) and
//! validators who audit them; every tempo, Yuma consensus splits the subnet's emission
//! by the validators' weights.

use crate::{
    codec::{read_string, string_size, write_string},
    tx::ModelId,
    Address, Amount,
};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt, Write};
use std::{fmt, str::FromStr};

/// Longest subnet name, in bytes (1–32 characters of `a-z`, `0-9`, `-`).
pub const MAX_SUBNET_NAME_BYTES: usize = 32;
/// Most `(uid, weight)` pairs one reveal carries (a signed transaction is at most 16 KiB).
pub const MAX_REVEAL_WEIGHTS: usize = 2_048;

/// A subnet's id: subnets are numbered from 1 in creation order.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct SubnetId(pub u64);

impl fmt::Display for SubnetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Write for SubnetId {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u64(self.0);
    }
}

impl FixedSize for SubnetId {
    const SIZE: usize = 8;
}

impl Read for SubnetId {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(SubnetId(u64::read(buf)?))
    }
}

/// What a UID does in its subnet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Serves: for a model's subnet, one of the model's registered providers.
    Miner,
    /// Audits miners and sets weights (it needs stake to hold a validator permit).
    Validator,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Miner => "miner",
            Role::Validator => "validator",
        })
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "miner" => Ok(Role::Miner),
            "validator" => Ok(Role::Validator),
            other => Err(format!("role {other:?}: use miner or validator")),
        }
    }
}

impl Write for Role {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u8(match self {
            Role::Miner => 0,
            Role::Validator => 1,
        });
    }
}

impl FixedSize for Role {
    const SIZE: usize = 1;
}

impl Read for Role {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        match u8::read(buf)? {
            0 => Ok(Role::Miner),
            1 => Ok(Role::Validator),
            other => Err(CodecError::InvalidEnum(other)),
        }
    }
}

/// A subnet's hyperparameters, chosen by its creator within the bounds
/// `tessera_state::subnets::registry::check_params` enforces. Defaults follow
/// Bittensor's for a new subnet, with a shorter tempo.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SubnetParams {
    /// Blocks between two Yuma epochs of the subnet.
    pub tempo_blocks: u64,
    /// Share of active validator stake that must support a weight for it to count, bps.
    pub kappa_bps: u16,
    /// The bonds' memory per epoch, ppm (900,000: a bond moves 10% toward its weight).
    pub bonds_moving_average_ppm: u32,
    /// How much bonds follow clipped rather than raw weights, bps.
    pub bonds_penalty_bps: u16,
    /// Blocks after registration during which a UID cannot be replaced.
    pub immunity_period_blocks: u64,
    /// Most UIDs (miners and validators together).
    pub max_uids: u16,
    /// Validator permits: the top this many UIDs by stake.
    pub max_validators: u16,
    /// Fewest UIDs a reveal must weight (or all UIDs, when there are fewer).
    pub min_allowed_weights: u16,
    /// Fewest blocks between two weight commits of one validator.
    pub weights_rate_limit_blocks: u64,
    /// A UID that has not set weights for this many blocks is inactive.
    pub activity_cutoff_blocks: u64,
    /// The subnet owner's cut of each epoch's emission, bps.
    pub owner_cut_bps: u16,
    /// TSR burned to take a UID.
    pub burn: Amount,
}

impl Default for SubnetParams {
    fn default() -> SubnetParams {
        SubnetParams {
            tempo_blocks: 360,
            kappa_bps: 5_000,
            bonds_moving_average_ppm: 900_000,
            bonds_penalty_bps: 10_000,
            immunity_period_blocks: 5_000,
            max_uids: 256,
            max_validators: 64,
            min_allowed_weights: 1,
            weights_rate_limit_blocks: 100,
            activity_cutoff_blocks: 5_000,
            owner_cut_bps: 1_800,
            burn: Amount::from_base(crate::amount::BASE_PER_TSR),
        }
    }
}

impl Write for SubnetParams {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u64(self.tempo_blocks);
        buf.put_u16(self.kappa_bps);
        buf.put_u32(self.bonds_moving_average_ppm);
        buf.put_u16(self.bonds_penalty_bps);
        buf.put_u64(self.immunity_period_blocks);
        buf.put_u16(self.max_uids);
        buf.put_u16(self.max_validators);
        buf.put_u16(self.min_allowed_weights);
        buf.put_u64(self.weights_rate_limit_blocks);
        buf.put_u64(self.activity_cutoff_blocks);
        buf.put_u16(self.owner_cut_bps);
        self.burn.write(buf);
    }
}

impl FixedSize for SubnetParams {
    // four u64, six u16, one u32, one amount
    const SIZE: usize = 4 * 8 + 6 * 2 + 4 + Amount::SIZE;
}

impl Read for SubnetParams {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(SubnetParams {
            tempo_blocks: u64::read(buf)?,
            kappa_bps: u16::read(buf)?,
            bonds_moving_average_ppm: u32::read(buf)?,
            bonds_penalty_bps: u16::read(buf)?,
            immunity_period_blocks: u64::read(buf)?,
            max_uids: u16::read(buf)?,
            max_validators: u16::read(buf)?,
            min_allowed_weights: u16::read(buf)?,
            weights_rate_limit_blocks: u64::read(buf)?,
            activity_cutoff_blocks: u64::read(buf)?,
            owner_cut_bps: u16::read(buf)?,
            burn: Amount::read(buf)?,
        })
    }
}

/// `Option<ModelId>` on the wire: a flag byte, then the id when present.
pub fn write_model_opt(model: &Option<ModelId>, buf: &mut impl BufMut) {
    match model {
        Some(m) => {
            buf.put_u8(1);
            m.write(buf);
        }
        None => buf.put_u8(0),
    }
}

pub fn model_opt_size(model: &Option<ModelId>) -> usize {
    1 + model.map_or(0, |_| ModelId::SIZE)
}

pub fn read_model_opt(buf: &mut impl Buf) -> Result<Option<ModelId>, CodecError> {
    match u8::read(buf)? {
        0 => Ok(None),
        1 => Ok(Some(ModelId::read(buf)?)),
        other => Err(CodecError::InvalidEnum(other)),
    }
}

/// What the subnet calls and epochs did (one variant of `Event`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SubnetEvent {
    /// A subnet was created; `lock` is bonded and locked until it is dissolved.
    SubnetCreated {
        subnet: SubnetId,
        name: String,
        owner: Address,
        model: Option<ModelId>,
        lock: Amount,
    },
    /// `key` took `uid`, burning `burned`; `replaced` held it before.
    UidRegistered {
        subnet: SubnetId,
        uid: u16,
        key: Address,
        role: Role,
        burned: Amount,
        replaced: Option<Address>,
    },
    WeightsCommitted {
        subnet: SubnetId,
        uid: u16,
        tempo: u64,
    },
    WeightsRevealed {
        subnet: SubnetId,
        uid: u16,
        count: u32,
    },
    /// `amount` of `delegator`'s stake now backs `validator` in `subnet` (totals after).
    Delegated {
        subnet: SubnetId,
        validator: Address,
        delegator: Address,
        amount: Amount,
    },
    /// `amount` left the delegation and unbonds until `release_height`.
    Undelegated {
        subnet: SubnetId,
        validator: Address,
        delegator: Address,
        amount: Amount,
        release_height: u64,
    },
    TakeSet {
        validator: Address,
        take_bps: u16,
    },
    /// An epoch paid `emission`: `to_owner` + `to_miners` + `to_validators` (the
    /// validators' part includes what their delegators received).
    EpochPaid {
        subnet: SubnetId,
        emission: Amount,
        to_owner: Amount,
        to_miners: Amount,
        to_validators: Amount,
    },
    /// An epoch could not run (the error's code); its emission waits for the next.
    EpochSkipped {
        subnet: SubnetId,
        code: u16,
    },
    /// The owner dissolved the subnet: its `lock` unbonds until `release_height`, and
    /// the emission it had not paid out yet (`burned`) left the supply.
    SubnetDissolved {
        subnet: SubnetId,
        owner: Address,
        lock: Amount,
        burned: Amount,
        release_height: u64,
    },
}

impl SubnetEvent {
    fn tag(&self) -> u8 {
        match self {
            SubnetEvent::SubnetCreated { .. } => 0,
            SubnetEvent::UidRegistered { .. } => 1,
            SubnetEvent::WeightsCommitted { .. } => 2,
            SubnetEvent::WeightsRevealed { .. } => 3,
            SubnetEvent::Delegated { .. } => 4,
            SubnetEvent::Undelegated { .. } => 5,
            SubnetEvent::TakeSet { .. } => 6,
            SubnetEvent::EpochPaid { .. } => 7,
            SubnetEvent::EpochSkipped { .. } => 8,
            SubnetEvent::SubnetDissolved { .. } => 9,
        }
    }
}

fn write_addr_opt(a: &Option<Address>, buf: &mut impl BufMut) {
    match a {
        Some(a) => {
            buf.put_u8(1);
            a.write(buf);
        }
        None => buf.put_u8(0),
    }
}

fn read_addr_opt(buf: &mut impl Buf) -> Result<Option<Address>, CodecError> {
    match u8::read(buf)? {
        0 => Ok(None),
        1 => Ok(Some(Address::read(buf)?)),
        other => Err(CodecError::InvalidEnum(other)),
    }
}

impl Write for SubnetEvent {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u8(self.tag());
        match self {
            SubnetEvent::SubnetCreated {
                subnet,
                name,
                owner,
                model,
                lock,
            } => {
                subnet.write(buf);
                write_string(name, buf);
                owner.write(buf);
                write_model_opt(model, buf);
                lock.write(buf);
            }
            SubnetEvent::UidRegistered {
                subnet,
                uid,
                key,
                role,
                burned,
                replaced,
            } => {
                subnet.write(buf);
                buf.put_u16(*uid);
                key.write(buf);
                role.write(buf);
                burned.write(buf);
                write_addr_opt(replaced, buf);
            }
            SubnetEvent::WeightsCommitted { subnet, uid, tempo } => {
                subnet.write(buf);
                buf.put_u16(*uid);
                buf.put_u64(*tempo);
            }
            SubnetEvent::WeightsRevealed { subnet, uid, count } => {
                subnet.write(buf);
                buf.put_u16(*uid);
                buf.put_u32(*count);
            }
            SubnetEvent::Delegated {
                subnet,
                validator,
                delegator,
                amount,
            } => {
                subnet.write(buf);
                validator.write(buf);
                delegator.write(buf);
                amount.write(buf);
            }
            SubnetEvent::Undelegated {
                subnet,
                validator,
                delegator,
                amount,
                release_height,
            } => {
                subnet.write(buf);
                validator.write(buf);
                delegator.write(buf);
                amount.write(buf);
                buf.put_u64(*release_height);
            }
            SubnetEvent::TakeSet {
                validator,
                take_bps,
            } => {
                validator.write(buf);
                buf.put_u16(*take_bps);
            }
            SubnetEvent::EpochPaid {
                subnet,
                emission,
                to_owner,
                to_miners,
                to_validators,
            } => {
                subnet.write(buf);
                for a in [emission, to_owner, to_miners, to_validators] {
                    a.write(buf);
                }
            }
            SubnetEvent::EpochSkipped { subnet, code } => {
                subnet.write(buf);
                buf.put_u16(*code);
            }
            SubnetEvent::SubnetDissolved {
                subnet,
                owner,
                lock,
                burned,
                release_height,
            } => {
                subnet.write(buf);
                owner.write(buf);
                lock.write(buf);
                burned.write(buf);
                buf.put_u64(*release_height);
            }
        }
    }
}

impl EncodeSize for SubnetEvent {
    fn encode_size(&self) -> usize {
        const A: usize = Address::SIZE;
        const M: usize = Amount::SIZE;
        const S: usize = SubnetId::SIZE;
        1 + match self {
            SubnetEvent::SubnetCreated { name, model, .. } => {
                S + string_size(name) + A + model_opt_size(model) + M
            }
            SubnetEvent::UidRegistered { replaced, .. } => {
                S + 2 + A + Role::SIZE + M + 1 + replaced.map_or(0, |_| A)
            }
            SubnetEvent::WeightsCommitted { .. } => S + 2 + 8,
            SubnetEvent::WeightsRevealed { .. } => S + 2 + 4,
            SubnetEvent::Delegated { .. } => S + 2 * A + M,
            SubnetEvent::Undelegated { .. } => S + 2 * A + M + 8,
            SubnetEvent::TakeSet { .. } => A + 2,
            SubnetEvent::EpochPaid { .. } => S + 4 * M,
            SubnetEvent::EpochSkipped { .. } => S + 2,
            SubnetEvent::SubnetDissolved { .. } => S + A + 2 * M + 8,
        }
    }
}

impl Read for SubnetEvent {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(match u8::read(buf)? {
            0 => SubnetEvent::SubnetCreated {
                subnet: SubnetId::read(buf)?,
                name: read_string(buf, MAX_SUBNET_NAME_BYTES)?,
                owner: Address::read(buf)?,
                model: read_model_opt(buf)?,
                lock: Amount::read(buf)?,
            },
            1 => SubnetEvent::UidRegistered {
                subnet: SubnetId::read(buf)?,
                uid: u16::read(buf)?,
                key: Address::read(buf)?,
                role: Role::read(buf)?,
                burned: Amount::read(buf)?,
                replaced: read_addr_opt(buf)?,
            },
            2 => SubnetEvent::WeightsCommitted {
                subnet: SubnetId::read(buf)?,
                uid: u16::read(buf)?,
                tempo: u64::read(buf)?,
            },
            3 => SubnetEvent::WeightsRevealed {
                subnet: SubnetId::read(buf)?,
                uid: u16::read(buf)?,
                count: u32::read(buf)?,
            },
            4 => SubnetEvent::Delegated {
                subnet: SubnetId::read(buf)?,
                validator: Address::read(buf)?,
                delegator: Address::read(buf)?,
                amount: Amount::read(buf)?,
            },
            5 => SubnetEvent::Undelegated {
                subnet: SubnetId::read(buf)?,
                validator: Address::read(buf)?,
                delegator: Address::read(buf)?,
                amount: Amount::read(buf)?,
                release_height: u64::read(buf)?,
            },
            6 => SubnetEvent::TakeSet {
                validator: Address::read(buf)?,
                take_bps: u16::read(buf)?,
            },
            7 => SubnetEvent::EpochPaid {
                subnet: SubnetId::read(buf)?,
                emission: Amount::read(buf)?,
                to_owner: Amount::read(buf)?,
                to_miners: Amount::read(buf)?,
                to_validators: Amount::read(buf)?,
            },
            8 => SubnetEvent::EpochSkipped {
                subnet: SubnetId::read(buf)?,
                code: u16::read(buf)?,
            },
            9 => SubnetEvent::SubnetDissolved {
                subnet: SubnetId::read(buf)?,
                owner: Address::read(buf)?,
                lock: Amount::read(buf)?,
                burned: Amount::read(buf)?,
                release_height: u64::read(buf)?,
            },
            other => return Err(CodecError::InvalidEnum(other)),
        })
    }
}

/// One `(uid, weight)` pair of a reveal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UidWeight {
    pub uid: u16,
    pub weight: u16,
}

impl Write for UidWeight {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u16(self.uid);
        buf.put_u16(self.weight);
    }
}

impl FixedSize for UidWeight {
    const SIZE: usize = 4;
}

impl Read for UidWeight {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(UidWeight {
            uid: u16::read(buf)?,
            weight: u16::read(buf)?,
        })
    }
}
