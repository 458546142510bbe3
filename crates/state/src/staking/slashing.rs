//! `staking::slashing`: a validator proven to have signed two different proposals in one
//! consensus round loses `double_sign_slash_bps` of its stake (bonded and unbonding),
//! burned by [`super::slash`].
//!
//! # Rules
//! * anyone may submit a [`DoubleSign`]; it must verify for this chain
//!   ([`DoubleSign::verify`]: two valid signatures of one kind by the validator over two
//!   different proposals of one round).
//! * a validator is slashed at most once per consensus epoch, however many rounds it
//!   double-signed in: the key `slashed/ ‖ validator ‖ epoch` records it (with the amount
//!   slashed). One fault (often a misconfigured or restored signer repeating itself over
//!   many rounds) costs one penalty, as with Cosmos' tombstoning; removing the validator
//!   from the set is the epoch change's job.
//! * a validator with no stake cannot be slashed: the report fails (the reporter still
//!   pays the fee, like any failed call).
//!
//! # Invariants
//! * the amount slashed is at most `double_sign_slash_bps / 10_000` of the validator's
//!   stake at the time of the report, and leaves staking only by burning (supply falls by
//!   exactly that amount).
//! * a validator is never slashed twice for one epoch.

use super::{slash, stake};
use crate::{error::checked, kv::key, kv::Overlay, Params, StateError};
use tessera_types::{Address, Amount, ChainId, DoubleSign, Event};

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

/// Verify `evidence` and slash the validator it names.
pub fn report_double_sign(
    state: &mut Overlay<'_>,
    params: &Params,
    chain_id: &ChainId,
    evidence: &DoubleSign,
) -> Result<Vec<Event>, StateError> {
    let (epoch, _view) = evidence
        .verify(chain_id)
        .map_err(|e| StateError::InvalidEvidence(e.to_string()))?;
    let validator = evidence.validator;
    let used = slashed_key(&validator, epoch);
    if state.read::<Amount>(&used)?.is_some() {
        return Err(StateError::AlreadySlashed { validator, epoch });
    }
    let s = stake(state, &validator)?;
    let total = checked(s.bonded.checked_add(s.unbonding_total()?), "stake")?;
    let bps = u128::from(params.double_sign_slash_bps);
    let penalty = checked(total.base().checked_mul(bps), "slash")? / BPS_WHOLE;
    if penalty == 0 {
        return Err(StateError::NothingToSlash { validator });
    }
    let (slashed, event) = slash(state, &validator, Amount::from_base(penalty))?;
    state.write(used, &slashed);
    Ok(vec![event])
}
