//! `staking::validators`: who may be chosen to validate. An account registers as a
//! validator (its account key is its consensus key, so signing the registration proves it
//! holds that key) with the p2p address its node listens on; it is chosen for an epoch's
//! set only while it is not jailed and its bonded stake is at least `min_self_bond`.
//!
//! # Rules
//! * `register_validator(p2p)` records the signer as a validator reachable at `p2p`, or
//!   changes the address of a registered one. The address is checked at admission
//!   ([`check_p2p`]): an `ip:port` with a non-zero port and a routable-looking IP.
//! * a member of an epoch's set that missed more than `liveness_max_missed_bps` of the
//!   views it led is jailed at the epoch's end ([`jail`], called by `staking::epochs`);
//!   `unjail` ends that, and the validator may be chosen again from the next boundary.
//! * the validator power index ([`VPOWER_PREFIX`]) holds one key per registered validator
//!   with bonded stake, ordered by stake descending then address ascending; a set is
//!   chosen by walking it ([`top_eligible`]), which stops at the first stake under
//!   `min_self_bond`, so unregistered or dust stake never costs the selection a read.
//!
//! # Invariants
//! * a key is in the validator power index iff its account is registered and has bonded
//!   stake, and the key encodes exactly that stake.
//! * [`top_eligible`] returns at most `n` validators, none jailed, each with at least the
//!   minimum self-bond, in stake order; it reads at most [`MAX_SELECTION_SCAN`] index keys.

use super::{order_key, read_order_key, stake};
use crate::{kv::key, kv::Overlay, StateError, StateView as _};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, Read, ReadExt, Write};
use std::net::SocketAddr;
use tessera_types::{
    codec::{read_string, string_size, write_string},
    tx::MAX_P2P_ADDRESS_BYTES,
    Address, Amount, Event,
};

/// Prefix of validator records: `validator/ ‖ address`.
pub const VALIDATOR_PREFIX: &[u8] = b"validator/";
/// Prefix of the registered validators' power index (see [`super::order_key`]).
pub const VPOWER_PREFIX: &[u8] = b"vpower/";
/// Most index keys one selection reads (jailed validators are skipped, so this bounds the
/// work a crowd of jailed validators could add to an epoch's last block).
pub const MAX_SELECTION_SCAN: usize = 10_000;

/// A registered validator.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ValidatorInfo {
    /// Where its node's p2p network listens (`ip:port`).
    pub p2p: String,
    /// Left out of every set until it unjails.
    pub jailed: bool,
    pub registered_height: u64,
}

impl Write for ValidatorInfo {
    fn write(&self, buf: &mut impl BufMut) {
        write_string(&self.p2p, buf);
        self.jailed.write(buf);
        buf.put_u64(self.registered_height);
    }
}

impl EncodeSize for ValidatorInfo {
    fn encode_size(&self) -> usize {
        string_size(&self.p2p).saturating_add(1 + 8)
    }
}

impl Read for ValidatorInfo {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(ValidatorInfo {
            p2p: read_string(buf, MAX_P2P_ADDRESS_BYTES)?,
            jailed: bool::read(buf)?,
            registered_height: u64::read(buf)?,
        })
    }
}

pub fn validator_key(who: &Address) -> Vec<u8> {
    key(VALIDATOR_PREFIX, who.as_bytes())
}

/// `who`'s validator record, if it registered.
pub fn info(state: &Overlay<'_>, who: &Address) -> Result<Option<ValidatorInfo>, StateError> {
    state.read(&validator_key(who))
}

/// Stateless check of a p2p address: `ip:port`, port not 0, IP not unspecified or
/// multicast, at most [`MAX_P2P_ADDRESS_BYTES`] bytes.
pub fn check_p2p(text: &str) -> Result<(), StateError> {
    let invalid = |reason| StateError::InvalidP2pAddress { reason };
    if text.len() > MAX_P2P_ADDRESS_BYTES {
        return Err(invalid("longer than 64 bytes"));
    }
    let address: SocketAddr = text
        .parse()
        .map_err(|_| invalid("not an ip:port address"))?;
    if address.port() == 0 {
        return Err(invalid("port 0"));
    }
    if address.ip().is_unspecified() || address.ip().is_multicast() {
        return Err(invalid("an unspecified or multicast IP"));
    }
    Ok(())
}

/// The `register_validator` call (the address was checked at admission).
pub fn register(
    state: &mut Overlay<'_>,
    height: u64,
    who: &Address,
    p2p: &str,
) -> Result<Vec<Event>, StateError> {
    let record = match info(state, who)? {
        Some(existing) => ValidatorInfo {
            p2p: p2p.to_string(),
            ..existing
        },
        None => {
            let bonded = stake(state, who)?.bonded;
            if !bonded.is_zero() {
                state.set(order_key(VPOWER_PREFIX, who, bonded), Vec::new());
            }
            ValidatorInfo {
                p2p: p2p.to_string(),
                jailed: false,
                registered_height: height,
            }
        }
    };
    state.write(validator_key(who), &record);
    Ok(vec![Event::ValidatorRegistered {
        validator: *who,
        p2p: p2p.to_string(),
    }])
}

/// The `unjail` call.
pub fn unjail(state: &mut Overlay<'_>, who: &Address) -> Result<Vec<Event>, StateError> {
    let mut record = info(state, who)?.ok_or(StateError::NotValidator { who: *who })?;
    if !record.jailed {
        return Err(StateError::NotJailed { who: *who });
    }
    record.jailed = false;
    state.write(validator_key(who), &record);
    Ok(vec![Event::ValidatorUnjailed { validator: *who }])
}

/// Jail `who` for missing `missed` of the `led` views it led in `epoch`.
pub fn jail(
    state: &mut Overlay<'_>,
    who: &Address,
    epoch: u64,
    missed: u64,
    led: u64,
) -> Result<Option<Event>, StateError> {
    let Some(mut record) = info(state, who)? else {
        return Ok(None);
    };
    record.jailed = true;
    state.write(validator_key(who), &record);
    Ok(Some(Event::ValidatorJailed {
        validator: *who,
        epoch,
        missed,
        led,
    }))
}

/// Hook for `staking::set_stake`: keep a registered validator's index key in step with
/// its bonded stake.
pub(super) fn on_bonded_change(
    state: &mut Overlay<'_>,
    who: &Address,
    old: Amount,
    new: Amount,
) -> Result<(), StateError> {
    if old == new || state.get(&validator_key(who)).is_none() {
        return Ok(());
    }
    if !old.is_zero() {
        state.delete(order_key(VPOWER_PREFIX, who, old));
    }
    if !new.is_zero() {
        state.set(order_key(VPOWER_PREFIX, who, new), Vec::new());
    }
    Ok(())
}

/// One validator a set may take: its address, bonded stake and p2p address.
pub type Candidate = (Address, Amount, String);

/// Up to `n` unjailed registered validators with at least `min_self_bond` bonded, most
/// stake first (ties: lower address first).
pub fn top_eligible(
    state: &Overlay<'_>,
    n: usize,
    min_self_bond: Amount,
) -> Result<Vec<Candidate>, StateError> {
    let mut out = Vec::with_capacity(n.min(1_024));
    let mut cursor = VPOWER_PREFIX.to_vec();
    for _ in 0..MAX_SELECTION_SCAN {
        if out.len() >= n {
            break;
        }
        let Some(k) = state.key_at_or_after(&cursor) else {
            break;
        };
        let Some((address, bonded)) = read_order_key(VPOWER_PREFIX, &k)? else {
            break;
        };
        if bonded < min_self_bond {
            break;
        }
        cursor = crate::kv::successor(&k);
        let record = info(state, &address)?.ok_or_else(|| StateError::Corrupt {
            key: String::from_utf8_lossy(&k).into_owned(),
            reason: "validator power index names an unregistered account".into(),
        })?;
        if !record.jailed {
            out.push((address, bonded, record.p2p));
        }
    }
    Ok(out)
}
