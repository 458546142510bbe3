//! `staking::epochs`: the validator set of each epoch, chosen from registered validators
//! by bonded stake, and the liveness record that jails members who stop leading.
//!
//! # Rules
//! * an epoch is `epoch_blocks` blocks: epoch `e` holds heights `e × epoch_blocks` to
//!   `(e + 1) × epoch_blocks − 1` (genesis is height 0 of epoch 0) — the layout of
//!   Commonware's `FixedEpocher`, so consensus can switch sets at the same heights.
//! * the set of epoch `e + 1` is chosen when the last block of epoch `e` executes (height
//!   `(e + 1) × epoch_blocks − 1`): the `max_validators` registered, unjailed validators
//!   with the most bonded stake, each with at least `min_self_bond` (ties: lower address),
//!   with their stake and p2p address as of that block. Epoch 0's set is chosen from the
//!   genesis. If no validator is eligible, the previous set carries over (a chain never
//!   loses every validator).
//! * a set's members are stored in address order, which is the order of consensus
//!   participants; the leader of view `v` in epoch `e` is member `(e + v) mod n`
//!   ([`leader_index`], Commonware's unshuffled round robin with one-view terms).
//! * liveness: every block carries its consensus view. The views strictly between a
//!   block and its parent in the same epoch (or from view 1 for an epoch's first block)
//!   were skipped: their leaders are charged a miss. At the epoch's last block, a member
//!   that led `led ≥ 1` views up to that block's view and missed more than
//!   `liveness_max_missed_bps` of them is jailed ([`super::validators::jail`]) before the
//!   next set is chosen. Views are counted arithmetically, so a long outage costs
//!   `O(members)` per block, not `O(views)`.
//! * sets are kept for the last `evidence_max_age_epochs + 1` epochs (slashing checks
//!   that an offender was a member, and slashes the stake it had then).
//!
//! # Invariants
//! * a stored set has at most `max_validators` members, sorted by address, with no
//!   duplicates, each registered with at least `min_self_bond` when chosen (unless
//!   carried over).
//! * once a set has a member, every later set has one.
//! * within an epoch, block views strictly increase (a block whose view does not is
//!   invalid); a member's misses never exceed the views it led.

use super::validators::{self, top_eligible};
use crate::{error::checked, kv::key, kv::Overlay, Params, StateError, StateView as _};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, Read, ReadExt, Write};
use tessera_types::{
    codec::{read_list, read_string, string_size, write_list, write_string},
    tx::MAX_P2P_ADDRESS_BYTES,
    Address, Amount, Event,
};

/// Prefix of the stored sets: `sys/sets/ ‖ (u64::MAX − epoch) BE`, newest first.
pub const SETS_PREFIX: &[u8] = b"sys/sets/";
/// State key of the current epoch's liveness record.
pub const LIVENESS_KEY: &[u8] = b"sys/liveness";
/// Most members a stored set may decode to (the parameter's hard ceiling).
pub const MAX_SET_SIZE: usize = 1_024;
/// Basis points in one whole.
const BPS_WHOLE: u128 = 10_000;

/// One member, its voting power and where its node listens.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Member {
    pub address: Address,
    pub bonded: Amount,
    /// The p2p address it registered (`ip:port`).
    pub p2p: String,
}

/// The validator set of one epoch.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ValidatorSet {
    pub epoch: u64,
    /// First height of the epoch.
    pub start_height: u64,
    /// In address order (the consensus participants' order).
    pub members: Vec<Member>,
}

impl ValidatorSet {
    /// The member `who`, if it is one.
    pub fn member(&self, who: &Address) -> Option<&Member> {
        self.members.iter().find(|m| &m.address == who)
    }
}

/// Views led and missed by each member in the current epoch, in member order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Liveness {
    epoch: u64,
    last_view: u64,
    missed: Vec<u64>,
}

fn set_key(epoch: u64) -> Vec<u8> {
    key(SETS_PREFIX, &(!epoch).to_be_bytes())
}

/// The newest stored set (the current epoch's, or the next one's once the epoch's last
/// block has executed), if the chain has one.
pub fn current(state: &Overlay<'_>) -> Result<Option<ValidatorSet>, StateError> {
    let Some(k) = state.key_at_or_after(SETS_PREFIX) else {
        return Ok(None);
    };
    if !k.starts_with(SETS_PREFIX) {
        return Ok(None);
    }
    state.read(&k)
}

/// The set of `epoch`, if it is still kept.
pub fn of_epoch(state: &Overlay<'_>, epoch: u64) -> Result<Option<ValidatorSet>, StateError> {
    state.read(&set_key(epoch))
}

/// Choose and store the set of `epoch`, starting at `start_height`; forget sets older
/// than the evidence window.
pub fn select(
    state: &mut Overlay<'_>,
    params: &Params,
    epoch: u64,
    start_height: u64,
) -> Result<ValidatorSet, StateError> {
    let candidates = top_eligible(
        state,
        usize::from(params.max_validators),
        params.min_self_bond,
    )?;
    let mut members: Vec<Member> = candidates
        .into_iter()
        .map(|(address, bonded, p2p)| Member {
            address,
            bonded,
            p2p,
        })
        .collect();
    if members.is_empty() {
        members = current(state)?.map(|set| set.members).unwrap_or_default();
    }
    members.sort_by_key(|m| m.address);
    let set = ValidatorSet {
        epoch,
        start_height,
        members,
    };
    state.write(set_key(epoch), &set);
    let keep_from = epoch.saturating_sub(params.evidence_max_age_epochs);
    forget_sets_before(state, keep_from);
    Ok(set)
}

/// Delete every stored set of an epoch below `epoch`.
fn forget_sets_before(state: &mut Overlay<'_>, epoch: u64) {
    let Some(older) = epoch.checked_sub(1) else {
        return;
    };
    let mut cursor = set_key(older);
    // Bounded: one key per stored set, and sets are only ever added one per epoch.
    while let Some(k) = state.key_at_or_after(&cursor) {
        if !k.starts_with(SETS_PREFIX) {
            break;
        }
        cursor = crate::kv::successor(&k);
        state.delete(k);
    }
}

/// The member index leading view `view` of `epoch` in a set of `n` members: Commonware's
/// round robin, `(epoch + view) mod n` (`None` for an empty set).
pub fn leader_index(epoch: u64, view: u64, n: usize) -> Option<usize> {
    let n = u64::try_from(n).ok()?;
    let index = epoch.wrapping_add(view).checked_rem(n)?;
    usize::try_from(index).ok()
}

/// The view a single block producer (the dev node) gives the block at `height`: blocks
/// numbered from view 1 in each epoch, as consensus does when no view is skipped (epoch 0
/// starts after genesis, at height 1).
pub fn dev_view(height: u64, epoch_blocks: u64) -> u64 {
    let epoch = height.checked_div(epoch_blocks).unwrap_or(0);
    if epoch == 0 {
        return height;
    }
    let start = epoch.saturating_mul(epoch_blocks);
    height.saturating_sub(start).saturating_add(1)
}

/// How many views in `first..=last` member `index` of `n` leads in `epoch`.
fn views_led(epoch: u64, first: u64, last: u64, n: usize, index: usize) -> u64 {
    let (Some(start), Ok(n64), Ok(i)) = (
        leader_index(epoch, first, n),
        u64::try_from(n),
        u64::try_from(index),
    ) else {
        return 0;
    };
    let Some(total) = last.checked_sub(first).and_then(|span| span.checked_add(1)) else {
        return 0;
    };
    let start = u64::try_from(start).unwrap_or(0);
    // Views from `first` until member `index` first leads.
    let offset = i
        .wrapping_add(n64)
        .wrapping_sub(start)
        .checked_rem(n64)
        .unwrap_or(0);
    match total.checked_sub(offset) {
        Some(rest) if rest > 0 => rest
            .saturating_sub(1)
            .checked_div(n64)
            .unwrap_or(0)
            .saturating_add(1),
        _ => 0,
    }
}

/// For the block at `height` proposed in `view`: charge the leaders of the views it
/// skipped, and if it is the last block of its epoch, jail members that missed too many
/// views and choose the next epoch's set. Returns the block-level events.
pub fn on_block(
    state: &mut Overlay<'_>,
    params: &Params,
    height: u64,
    view: u64,
) -> Result<Vec<Event>, StateError> {
    let mut events = Vec::new();
    let epoch = params.epoch_of(height);
    let set = current(state)?.filter(|s| s.epoch == epoch && !s.members.is_empty());
    let Some(next) = height.checked_add(1) else {
        return Ok(events);
    };
    let last_of_epoch = next.is_multiple_of(params.epoch_blocks);
    if let Some(set) = &set {
        let liveness = record_view(state, set, view)?;
        if last_of_epoch {
            events.extend(jail_absent(state, params, set, &liveness)?);
            state.delete(LIVENESS_KEY.to_vec());
        } else {
            state.write(LIVENESS_KEY.to_vec(), &liveness);
        }
    }
    if last_of_epoch {
        select(state, params, epoch.saturating_add(1), next)?;
    }
    Ok(events)
}

/// Update the liveness record with a block proposed in `view`.
fn record_view(state: &Overlay<'_>, set: &ValidatorSet, view: u64) -> Result<Liveness, StateError> {
    let n = set.members.len();
    let mut live: Liveness = state.read(LIVENESS_KEY)?.unwrap_or_default();
    if live.epoch != set.epoch || live.missed.len() != n {
        live = Liveness {
            epoch: set.epoch,
            last_view: 0,
            missed: vec![0; n],
        };
    }
    if view <= live.last_view {
        return Err(StateError::ViewNotIncreasing {
            view,
            last: live.last_view,
        });
    }
    let first = checked(live.last_view.checked_add(1), "view")?;
    if let Some(last) = view.checked_sub(1).filter(|last| *last >= first) {
        for (index, missed) in live.missed.iter_mut().enumerate() {
            let skipped = views_led(set.epoch, first, last, n, index);
            *missed = checked(missed.checked_add(skipped), "missed views")?;
        }
    }
    live.last_view = view;
    Ok(live)
}

/// Jail every member that missed more than the allowed share of the views it led.
fn jail_absent(
    state: &mut Overlay<'_>,
    params: &Params,
    set: &ValidatorSet,
    live: &Liveness,
) -> Result<Vec<Event>, StateError> {
    let n = set.members.len();
    let allowed = u128::from(params.liveness_max_missed_bps);
    let mut events = Vec::new();
    for (index, (member, missed)) in set.members.iter().zip(&live.missed).enumerate() {
        let led = views_led(set.epoch, 1, live.last_view, n, index);
        let too_many =
            u128::from(*missed).saturating_mul(BPS_WHOLE) > u128::from(led).saturating_mul(allowed);
        if led > 0 && too_many {
            events.extend(validators::jail(
                state,
                &member.address,
                set.epoch,
                *missed,
                led,
            )?);
        }
    }
    Ok(events)
}

impl Write for Member {
    fn write(&self, buf: &mut impl BufMut) {
        self.address.write(buf);
        self.bonded.write(buf);
        write_string(&self.p2p, buf);
    }
}

impl EncodeSize for Member {
    fn encode_size(&self) -> usize {
        32usize
            .saturating_add(16)
            .saturating_add(string_size(&self.p2p))
    }
}

impl Read for Member {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Member {
            address: Address::read(buf)?,
            bonded: Amount::read(buf)?,
            p2p: read_string(buf, MAX_P2P_ADDRESS_BYTES)?,
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
            .iter()
            .map(EncodeSize::encode_size)
            .fold(8 + 8 + 4, usize::saturating_add)
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

impl Write for Liveness {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u64(self.epoch);
        buf.put_u64(self.last_view);
        write_list(&self.missed, buf);
    }
}

impl EncodeSize for Liveness {
    fn encode_size(&self) -> usize {
        self.missed
            .len()
            .saturating_mul(8)
            .saturating_add(8 + 8 + 4)
    }
}

impl Read for Liveness {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Liveness {
            epoch: u64::read(buf)?,
            last_view: u64::read(buf)?,
            missed: read_list(buf, MAX_SET_SIZE, &())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute force: count the views of `first..=last` whose leader is `index`.
    fn brute(epoch: u64, first: u64, last: u64, n: usize, index: usize) -> u64 {
        (first..=last)
            .filter(|v| leader_index(epoch, *v, n) == Some(index))
            .count() as u64
    }

    #[test]
    fn dev_views_count_from_one_in_each_epoch() {
        let views: Vec<u64> = (1..=7).map(|h| dev_view(h, 3)).collect();
        assert_eq!(views, vec![1, 2, 1, 2, 3, 1, 2]);
        assert_eq!(dev_view(5, 0), 5);
    }

    #[test]
    fn views_led_matches_counting_one_by_one() {
        for n in 1..7 {
            for epoch in 0..5 {
                for first in 1u64..12 {
                    for last in first.saturating_sub(1)..20 {
                        for index in 0..n {
                            assert_eq!(
                                views_led(epoch, first, last, n, index),
                                brute(epoch, first, last, n, index),
                                "n={n} e={epoch} [{first},{last}] i={index}"
                            );
                        }
                    }
                }
            }
        }
        assert_eq!(leader_index(0, 5, 0), None);
        assert_eq!(views_led(0, 1, 10, 0, 0), 0);
    }
}
