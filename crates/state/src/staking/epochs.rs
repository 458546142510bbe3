//! `staking::epochs`: the validator set of each epoch, chosen from bonded stake.
//!
//! # Rules
//! * an epoch is `epoch_blocks` blocks: epoch `e` holds heights `e × epoch_blocks` to
//!   `(e + 1) × epoch_blocks − 1` (genesis is height 0 of epoch 0) — the layout of
//!   Commonware's `FixedEpocher`, so consensus can switch sets at the same heights.
//! * the set of epoch `e + 1` is chosen when the last block of epoch `e` executes (height
//!   `(e + 1) × epoch_blocks − 1`): the `max_validators` accounts with the most bonded stake,
//!   ties broken by lower address, each with its stake as voting power. Stake changes in
//!   that last block count. Epoch 0's set is chosen from the genesis stake. If no account
//!   has bonded stake at all, the previous set carries over (a chain never loses every
//!   validator by unbonding).
//! * the chosen set is stored under [`VALIDATORS_KEY`], replacing the previous one.
//!
//! # Invariants
//! * a stored set has at most `max_validators` members, sorted by stake descending then
//!   address ascending, with no duplicates; all with non-zero stake unless carried over.
//! * once a set has a member, every later set has one.

use super::top_bonded;
use crate::{kv::Overlay, Params, StateError};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt, Write};
use tessera_types::{
    codec::{read_list, write_list},
    Address, Amount,
};

/// State key of the current epoch's validator set.
pub const VALIDATORS_KEY: &[u8] = b"sys/validators";
/// Most members a stored set may decode to (the parameter's hard ceiling).
pub const MAX_SET_SIZE: usize = 1_024;

/// One member and its voting power.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Member {
    pub address: Address,
    pub bonded: Amount,
}

/// The validator set of one epoch.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ValidatorSet {
    pub epoch: u64,
    /// First height of the epoch.
    pub start_height: u64,
    pub members: Vec<Member>,
}

/// The stored set (the current epoch's), if the chain has one.
pub fn current(state: &Overlay<'_>) -> Result<Option<ValidatorSet>, StateError> {
    state.read(VALIDATORS_KEY)
}

/// Choose and store the set of `epoch`, starting at `start_height`.
pub fn select(
    state: &mut Overlay<'_>,
    params: &Params,
    epoch: u64,
    start_height: u64,
) -> Result<ValidatorSet, StateError> {
    let mut members: Vec<Member> = top_bonded(state, usize::from(params.max_validators))?
        .into_iter()
        .map(|(address, bonded)| Member { address, bonded })
        .collect();
    if members.is_empty() {
        members = current(state)?.map(|set| set.members).unwrap_or_default();
    }
    let set = ValidatorSet {
        epoch,
        start_height,
        members,
    };
    state.write(VALIDATORS_KEY.to_vec(), &set);
    Ok(set)
}

/// At the end of block `height`: if it is the last of its epoch, choose the next epoch's
/// set.
pub fn on_block_end(
    state: &mut Overlay<'_>,
    params: &Params,
    height: u64,
) -> Result<Option<ValidatorSet>, StateError> {
    let Some(next) = height.checked_add(1) else {
        return Ok(None);
    };
    if !next.is_multiple_of(params.epoch_blocks) {
        return Ok(None);
    }
    let Some(epoch) = next.checked_div(params.epoch_blocks) else {
        return Ok(None);
    };
    select(state, params, epoch, next).map(Some)
}

impl Write for Member {
    fn write(&self, buf: &mut impl BufMut) {
        self.address.write(buf);
        self.bonded.write(buf);
    }
}

impl FixedSize for Member {
    const SIZE: usize = Address::SIZE + Amount::SIZE;
}

impl Read for Member {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Member {
            address: Address::read(buf)?,
            bonded: Amount::read(buf)?,
        })
    }
}

impl Write for ValidatorSet {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u64(self.epoch);
        buf.put_u64(self.start_height);
        write_list(&self.members, buf);
    }
}

impl EncodeSize for ValidatorSet {
    fn encode_size(&self) -> usize {
        self.members
            .len()
            .saturating_mul(Member::SIZE)
            .saturating_add(8 + 8 + 4)
    }
}

impl Read for ValidatorSet {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(ValidatorSet {
            epoch: u64::read(buf)?,
            start_height: u64::read(buf)?,
            members: read_list(buf, MAX_SET_SIZE, &())?,
        })
    }
}
