//! `staking::slashing`: a validator proven to have signed two different proposals in one
//! consensus round loses `double_sign_slash_bps` of the stake it had in that round's
//! epoch, burned by [`super::slash`].
//!
//! # Rules
//! * anyone may submit a [`DoubleSign`]; its signatures are checked at admission
//!   ([`DoubleSign::verify`]: two valid signatures of one kind by the validator over two
//!   different proposals of one round), so a report that reaches a block is well-formed.
//! * the evidence's epoch `e` must not be in the future, and not older than
//!   `evidence_max_age_epochs` (`e + evidence_max_age_epochs ≥` the current epoch); the
//!   offender must have been a member of epoch `e`'s set (kept in state for that window).
//! * the penalty is `double_sign_slash_bps` of the stake the offender had as a member of
//!   epoch `e` (the set records it), taken from its bonded stake, then from stake it
//!   unbonded since epoch `e` began: unbonding outlasts the evidence window (checked by
//!   `Params::validate`), so that stake is still there.
//! * a validator is slashed at most once per consensus epoch, however many rounds it
//!   double-signed in: the key `slashed/ ‖ validator ‖ epoch` records it (with the amount
//!   slashed). One fault (often a misconfigured or restored signer repeating itself over
//!   many rounds) costs one penalty, as with Cosmos' tombstoning.
//! * a validator with no stake left to take cannot be slashed: the report fails (the
//!   reporter still pays the fee, like any failed call).
//!
//! # Invariants
//! * the amount slashed is at most `double_sign_slash_bps / 10_000` of the validator's
//!   stake in the evidence's epoch, and leaves staking only by burning (supply falls by
//!   exactly that amount).
//! * a validator is never slashed twice for one epoch, and never for an epoch whose set
//!   it was not in.

use super::{epochs, slash};
use crate::{error::checked, kv::key, kv::Overlay, Params, StateError};
use tessera_types::{evidence::Proposal, Address, Amount, DoubleSign, Event};

/// Prefix of used-evidence keys: `slashed/ ‖ validator ‖ epoch (BE)`.
pub const SLASHED_PREFIX: &[u8] = b"slashed/";
/// Basis points in one whole.
const BPS_WHOLE: u128 = 10_000;

/// The state key recording that `validator` was slashed in `epoch`.
pub fn slashed_key(validator: &Address, epoch: u64) -> Vec<u8> {
    let mut suffix = Vec::with_capacity(32 + 8);
    suffix.extend_from_slice(&validator.0);
    suffix.extend_from_slice(&epoch.to_be_bytes());
    key(SLASHED_PREFIX, &suffix)
}

/// The epoch a double sign happened in (its signatures were verified at admission).
pub fn evidence_epoch(evidence: &DoubleSign) -> Result<u64, StateError> {
    Proposal::decode(&evidence.first.proposal)
        .map(|p| p.epoch)
        .map_err(|e| StateError::InvalidEvidence {
            reason: e.to_string(),
        })
}

/// Slash the validator `evidence` names, at block `height`.
pub fn report_double_sign(
    state: &mut Overlay<'_>,
    params: &Params,
    height: u64,
    evidence: &DoubleSign,
) -> Result<Vec<Event>, StateError> {
    let epoch = evidence_epoch(evidence)?;
    let now = params.epoch_of(height);
    if epoch > now {
        return Err(StateError::EvidenceFromFuture {
            epoch,
            current: now,
        });
    }
    if epoch.saturating_add(params.evidence_max_age_epochs) < now {
        return Err(StateError::EvidenceTooOld {
            epoch,
            current: now,
            max_age: params.evidence_max_age_epochs,
        });
    }
    let validator = evidence.validator;
    let set = epochs::of_epoch(state, epoch)?.ok_or(StateError::EvidenceTooOld {
        epoch,
        current: now,
        max_age: params.evidence_max_age_epochs,
    })?;
    let member = set
        .member(&validator)
        .ok_or(StateError::NotInSet { validator, epoch })?;
    let used = slashed_key(&validator, epoch);
    if state.read::<Amount>(&used)?.is_some() {
        return Err(StateError::AlreadySlashed { validator, epoch });
    }
    let bps = u128::from(params.double_sign_slash_bps);
    let penalty = checked(member.bonded.base().checked_mul(bps), "slash")?
        .checked_div(BPS_WHOLE)
        .unwrap_or(0);
    let released_from = checked(
        set.start_height.checked_add(params.unbonding_blocks),
        "release height",
    )?;
    let (slashed, event) = slash(state, &validator, Amount::from_base(penalty), released_from)?;
    if slashed.is_zero() {
        return Err(StateError::NothingToSlash { validator });
    }
    state.write(used, &slashed);
    Ok(vec![event])
}
