//! Subnets on chain: creation with a lock cost, hyperparameters within bounds, and
//! registration of UIDs by burn.
//!
//! # Rules
//! * `create_subnet(name, model, params)` bonds and locks `subnet_lock_cost` from the
//!   signer (returned when the subnet is dissolved). Names are
//!   unique; a model has at most one subnet (its market), and at most [`MAX_SUBNETS`]
//!   subnets exist. Hyperparameters pass [`check_params`].
//! * `register_uid(subnet, role)` burns the subnet's `burn` from the signer's balance and
//!   gives it a UID (`uids::Uids::register`: the lowest free UID, or the non-immune UID
//!   with the lowest pruning score once the subnet is full). In a model's subnet, a
//!   miner must be a registered provider of the model. The replaced UID's weights, bonds
//!   and scores are cleared: the newcomer starts from nothing.
//!
//! # State keys
//! * `subnet/next` → next id (from 1); `subnet/info/<id: 8>` → [`Subnet`];
//!   `subnet/name/<name>` → id; `subnet/model/<model: 8>` → id.
//! * `subnet/uids/<id: 8>` → the UID table ([`Uids`], slots in UID order).
//! * `subnet/neuron/<id: 8><uid: 2>` → [`Neuron`]: role, weights, bonds, last outputs.
//!
//! # Invariants (tested in `tests/subnets_chain.rs`)
//! * every UID of the table has a neuron record with the same key, and no more.
//! * the burn leaves the supply (`burned` grows by exactly the burn).
//! * a new holder's neuron record starts empty: no weights, bonds or scores.
//! * name and model indexes point at existing subnets with that name and model.

use super::{
    error::SubnetError,
    fixed::Frac,
    uids::{Slot, UidError, Uids},
    weights::{Commit, Weights},
};
use crate::{
    bank,
    error::checked,
    kv::{key, keys_with_prefix, Overlay},
    providers, staking, Params, StateError,
};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt, Write};
use tessera_types::{
    codec::{read_list, read_string, string_size, write_list, write_string},
    subnet::{
        model_opt_size, read_model_opt, write_model_opt, Role, SubnetEvent, SubnetId, SubnetParams,
        MAX_SUBNET_NAME_BYTES,
    },
    tx::ModelId,
    Address, Amount, Event, Hash,
};

/// Most subnets on the chain (every block divides emission among all of them).
pub const MAX_SUBNETS: u64 = 32;
/// Most UIDs a subnet on chain may hold (its epoch reads every one each tempo).
pub const MAX_SUBNET_UIDS: usize = 4_096;
const NEXT_KEY: &[u8] = b"subnet/next";
pub const INFO_PREFIX: &[u8] = b"subnet/info/";
const NAME_PREFIX: &[u8] = b"subnet/name/";
const MODEL_PREFIX: &[u8] = b"subnet/model/";
const UIDS_PREFIX: &[u8] = b"subnet/uids/";
const NEURON_PREFIX: &[u8] = b"subnet/neuron/";

/// A subnet as stored.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Subnet {
    pub name: String,
    pub owner: Address,
    pub model: Option<ModelId>,
    pub lock: Amount,
    pub params: SubnetParams,
    pub created_at: u64,
    /// The block of the last epoch (the creation block before the first).
    pub last_epoch_block: u64,
    pub epochs: u64,
    /// Emission assigned to the subnet since its last epoch, held in the escrow.
    pub pending_emission: Amount,
    /// The network's take from the subnet's channels during this tempo.
    pub take_this_tempo: Amount,
    /// The take averaged over past tempos (what emission rule v1 credits).
    pub take_average: Amount,
    /// Matured delegated stake as of the last epoch, less undelegations since.
    pub matured_stake: Amount,
}

impl Subnet {
    /// The tempo (commit-reveal window) that `height` falls in.
    pub fn tempo_of(&self, height: u64) -> u64 {
        height
            .saturating_sub(self.created_at)
            .checked_div(self.params.tempo_blocks)
            .unwrap_or(0)
    }

    /// The block of the next epoch.
    pub fn next_epoch_block(&self) -> u64 {
        self.last_epoch_block
            .saturating_add(self.params.tempo_blocks)
    }
}

impl Write for Subnet {
    fn write(&self, buf: &mut impl BufMut) {
        write_string(&self.name, buf);
        self.owner.write(buf);
        write_model_opt(&self.model, buf);
        self.lock.write(buf);
        self.params.write(buf);
        buf.put_u64(self.created_at);
        buf.put_u64(self.last_epoch_block);
        buf.put_u64(self.epochs);
        for a in [
            self.pending_emission,
            self.take_this_tempo,
            self.take_average,
            self.matured_stake,
        ] {
            a.write(buf);
        }
    }
}

impl EncodeSize for Subnet {
    fn encode_size(&self) -> usize {
        string_size(&self.name)
            .saturating_add(Address::SIZE)
            .saturating_add(model_opt_size(&self.model))
            .saturating_add(SubnetParams::SIZE)
            .saturating_add(3 * 8 + 5 * Amount::SIZE)
    }
}

impl Read for Subnet {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Subnet {
            name: read_string(buf, MAX_SUBNET_NAME_BYTES)?,
            owner: Address::read(buf)?,
            model: read_model_opt(buf)?,
            lock: Amount::read(buf)?,
            params: SubnetParams::read(buf)?,
            created_at: u64::read(buf)?,
            last_epoch_block: u64::read(buf)?,
            epochs: u64::read(buf)?,
            pending_emission: Amount::read(buf)?,
            take_this_tempo: Amount::read(buf)?,
            take_average: Amount::read(buf)?,
            matured_stake: Amount::read(buf)?,
        })
    }
}

/// What the last epoch found for one UID (zero before the first).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LastEpoch {
    pub stake: Frac,
    pub rank: Frac,
    pub trust: Frac,
    pub consensus: Frac,
    pub incentive: Frac,
    pub dividends: Frac,
    /// Base units earned (miner and validator parts).
    pub emission: Amount,
}

/// One UID's record besides its slot in the table.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Neuron {
    pub key: Address,
    pub role: Role,
    pub weights: Weights,
    /// The block weights were last revealed (the registration block before).
    pub last_update: u64,
    /// The block weights were last committed.
    pub last_commit: Option<u64>,
    pub bonds: Vec<(u16, Frac)>,
    /// The validator permit from the last epoch (`None` before the first).
    pub permit: Option<bool>,
    pub last: LastEpoch,
}

impl Neuron {
    pub fn new(key: Address, role: Role, height: u64) -> Neuron {
        Neuron {
            key,
            role,
            weights: Weights::default(),
            last_update: height,
            last_commit: None,
            bonds: Vec::new(),
            permit: None,
            last: LastEpoch::default(),
        }
    }
}

fn write_frac(f: &Frac, buf: &mut impl BufMut) {
    buf.put_u128(f.0.to_bits());
}

fn read_frac(buf: &mut impl Buf) -> Result<Frac, CodecError> {
    Ok(Frac(fixed::types::U64F64::from_bits(u128::read(buf)?)))
}

fn write_opt_u64(v: Option<u64>, buf: &mut impl BufMut) {
    match v {
        Some(x) => {
            buf.put_u8(1);
            buf.put_u64(x);
        }
        None => buf.put_u8(0),
    }
}

fn read_opt_u64(buf: &mut impl Buf) -> Result<Option<u64>, CodecError> {
    match u8::read(buf)? {
        0 => Ok(None),
        1 => Ok(Some(u64::read(buf)?)),
        other => Err(CodecError::InvalidEnum(other)),
    }
}

impl Write for Neuron {
    fn write(&self, buf: &mut impl BufMut) {
        self.key.write(buf);
        self.role.write(buf);
        buf.put_u8(u8::try_from(self.weights.pending.len()).unwrap_or(u8::MAX));
        for c in &self.weights.pending {
            c.hash.write(buf);
            buf.put_u64(c.tempo);
        }
        buf.put_u32(u32::try_from(self.weights.revealed.len()).unwrap_or(u32::MAX));
        for (uid, w) in &self.weights.revealed {
            buf.put_u16(*uid);
            buf.put_u16(*w);
        }
        write_opt_u64(self.weights.revealed_in, buf);
        buf.put_u64(self.last_update);
        write_opt_u64(self.last_commit, buf);
        buf.put_u32(u32::try_from(self.bonds.len()).unwrap_or(u32::MAX));
        for (uid, b) in &self.bonds {
            buf.put_u16(*uid);
            write_frac(b, buf);
        }
        buf.put_u8(match self.permit {
            None => 0,
            Some(false) => 1,
            Some(true) => 2,
        });
        let l = &self.last;
        for f in [
            l.stake,
            l.rank,
            l.trust,
            l.consensus,
            l.incentive,
            l.dividends,
        ] {
            write_frac(&f, buf);
        }
        l.emission.write(buf);
    }
}

impl EncodeSize for Neuron {
    fn encode_size(&self) -> usize {
        let opt = |v: Option<u64>| if v.is_some() { 9usize } else { 1 };
        let parts = [
            Address::SIZE,
            Role::SIZE,
            1,
            self.weights
                .pending
                .len()
                .saturating_mul(Hash::SIZE.saturating_add(8)),
            4,
            self.weights.revealed.len().saturating_mul(4),
            opt(self.weights.revealed_in),
            8,
            opt(self.last_commit),
            4,
            self.bonds.len().saturating_mul(18),
            1,
            6 * 16,
            Amount::SIZE,
        ];
        parts.iter().fold(0usize, |a, b| a.saturating_add(*b))
    }
}

impl Read for Neuron {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let key = Address::read(buf)?;
        let role = Role::read(buf)?;
        let pending_len = usize::from(u8::read(buf)?);
        if pending_len > super::weights::MAX_PENDING_COMMITS {
            return Err(CodecError::Invalid("Neuron", "too many pending commits"));
        }
        let mut pending = Vec::with_capacity(pending_len);
        for _ in 0..pending_len {
            pending.push(Commit {
                hash: Hash::read(buf)?,
                tempo: u64::read(buf)?,
            });
        }
        let revealed = read_pairs(buf, |b| u16::read(b))?;
        let revealed_in = read_opt_u64(buf)?;
        let last_update = u64::read(buf)?;
        let last_commit = read_opt_u64(buf)?;
        let bonds = read_pairs(buf, read_frac)?;
        let permit = match u8::read(buf)? {
            0 => None,
            1 => Some(false),
            2 => Some(true),
            other => return Err(CodecError::InvalidEnum(other)),
        };
        let mut f = [Frac::ZERO; 6];
        for slot in &mut f {
            *slot = read_frac(buf)?;
        }
        let [stake, rank, trust, consensus, incentive, dividends] = f;
        Ok(Neuron {
            key,
            role,
            weights: Weights {
                pending,
                revealed,
                revealed_in,
            },
            last_update,
            last_commit,
            bonds,
            permit,
            last: LastEpoch {
                stake,
                rank,
                trust,
                consensus,
                incentive,
                dividends,
                emission: Amount::read(buf)?,
            },
        })
    }
}

fn read_pairs<T, B: Buf>(
    buf: &mut B,
    item: impl Fn(&mut B) -> Result<T, CodecError>,
) -> Result<Vec<(u16, T)>, CodecError> {
    let len = usize::try_from(u32::read(buf)?).map_err(|_| CodecError::InvalidUsize)?;
    if len > MAX_SUBNET_UIDS {
        return Err(CodecError::Invalid("Neuron", "more entries than UIDs"));
    }
    let mut out = Vec::with_capacity(len);
    for _ in 0..len {
        let uid = u16::read(buf)?;
        out.push((uid, item(buf)?));
    }
    Ok(out)
}

/// The UID table on the wire: slots in UID order.
struct Table(Uids);

impl Write for Table {
    fn write(&self, buf: &mut impl BufMut) {
        let slots: Vec<SlotCodec> = self.0.slots.iter().cloned().map(SlotCodec).collect();
        write_list(&slots, buf);
    }
}

impl EncodeSize for Table {
    fn encode_size(&self) -> usize {
        4usize.saturating_add(self.0.slots.len().saturating_mul(SlotCodec::SIZE))
    }
}

impl Read for Table {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let slots: Vec<SlotCodec> = read_list(buf, MAX_SUBNET_UIDS, &())?;
        Ok(Table(Uids {
            slots: slots.into_iter().map(|s| s.0).collect(),
        }))
    }
}

struct SlotCodec(Slot);

impl Write for SlotCodec {
    fn write(&self, buf: &mut impl BufMut) {
        self.0.key.write(buf);
        buf.put_u64(self.0.registered_at);
        buf.put_u128(self.0.score);
    }
}

impl FixedSize for SlotCodec {
    const SIZE: usize = Address::SIZE + 8 + 16;
}

impl Read for SlotCodec {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(SlotCodec(Slot {
            key: Address::read(buf)?,
            registered_at: u64::read(buf)?,
            score: u128::read(buf)?,
        }))
    }
}

fn info_key(id: SubnetId) -> Vec<u8> {
    key(INFO_PREFIX, &id.0.to_be_bytes())
}

fn uids_key(id: SubnetId) -> Vec<u8> {
    key(UIDS_PREFIX, &id.0.to_be_bytes())
}

fn neuron_key(id: SubnetId, uid: u16) -> Vec<u8> {
    let mut suffix = id.0.to_be_bytes().to_vec();
    suffix.extend_from_slice(&uid.to_be_bytes());
    key(NEURON_PREFIX, &suffix)
}

pub fn subnet(state: &Overlay<'_>, id: SubnetId) -> Result<Option<Subnet>, StateError> {
    state.read(&info_key(id))
}

/// The subnet `id`, or the error that says it does not exist.
pub fn existing(state: &Overlay<'_>, id: SubnetId) -> Result<Subnet, StateError> {
    subnet(state, id)?.ok_or(SubnetError::UnknownSubnet { subnet: id }.into())
}

pub fn set_subnet(state: &mut Overlay<'_>, id: SubnetId, record: &Subnet) {
    state.write(info_key(id), record);
}

pub fn id_by_name(state: &Overlay<'_>, name: &str) -> Result<Option<SubnetId>, StateError> {
    Ok(state
        .read::<u64>(&key(NAME_PREFIX, name.as_bytes()))?
        .map(SubnetId))
}

pub fn id_by_model(state: &Overlay<'_>, model: ModelId) -> Result<Option<SubnetId>, StateError> {
    Ok(state
        .read::<u64>(&key(MODEL_PREFIX, &model.0.to_be_bytes()))?
        .map(SubnetId))
}

/// Every subnet, by id (at most [`MAX_SUBNETS`]).
pub fn all(state: &Overlay<'_>) -> Result<Vec<(SubnetId, Subnet)>, StateError> {
    let limit = usize::try_from(MAX_SUBNETS).unwrap_or(usize::MAX);
    keys_with_prefix(state, INFO_PREFIX, &[], limit)
        .into_iter()
        .map(|k| {
            let id = k
                .get(INFO_PREFIX.len()..)
                .and_then(|t| <[u8; 8]>::try_from(t).ok())
                .map(|b| SubnetId(u64::from_be_bytes(b)))
                .ok_or_else(|| StateError::Corrupt {
                    key: String::from_utf8_lossy(&k).into_owned(),
                    reason: "malformed subnet key".into(),
                })?;
            Ok((id, existing(state, id)?))
        })
        .collect()
}

pub fn uids(state: &Overlay<'_>, id: SubnetId) -> Result<Uids, StateError> {
    Ok(state
        .read::<Table>(&uids_key(id))?
        .map(|t| t.0)
        .unwrap_or_default())
}

pub fn set_uids(state: &mut Overlay<'_>, id: SubnetId, table: &Uids) {
    state.write(uids_key(id), &Table(table.clone()));
}

pub fn neuron(state: &Overlay<'_>, id: SubnetId, uid: u16) -> Result<Neuron, StateError> {
    state
        .read(&neuron_key(id, uid))?
        .ok_or(StateError::Missing("neuron record of a UID"))
}

pub fn set_neuron(state: &mut Overlay<'_>, id: SubnetId, uid: u16, record: &Neuron) {
    state.write(neuron_key(id, uid), record);
}

/// The UID `who` holds in `id`, or the error that says it holds none.
pub fn uid_of(state: &Overlay<'_>, id: SubnetId, who: &Address) -> Result<u16, StateError> {
    uids(state, id)?.uid_of(who).ok_or(
        SubnetError::NotRegistered {
            key: *who,
            subnet: id,
        }
        .into(),
    )
}

/// Stateless check of a subnet name: 1–32 characters of `a-z`, `0-9`, `-`.
pub fn check_name(name: &str) -> Result<(), SubnetError> {
    if crate::models::is_slug(name, MAX_SUBNET_NAME_BYTES) {
        Ok(())
    } else {
        Err(SubnetError::InvalidName {
            name: name.chars().take(64).collect(),
        })
    }
}

/// Stateless bounds on hyperparameters: each keeps an epoch cheap and the maths sound.
pub fn check_params(p: &SubnetParams) -> Result<(), SubnetError> {
    let within = |field, v: u128, min: u128, max: u128| {
        if v < min || v > max {
            Err(SubnetError::BadParam { field, min, max })
        } else {
            Ok(())
        }
    };
    let max_uids = u128::try_from(MAX_SUBNET_UIDS).unwrap_or(u128::MAX);
    within("tempo_blocks", p.tempo_blocks.into(), 2, 100_000)?;
    // below one half, a minority's weights could set consensus
    within("kappa_bps", p.kappa_bps.into(), 5_000, 10_000)?;
    within(
        "bonds_moving_average_ppm",
        p.bonds_moving_average_ppm.into(),
        0,
        1_000_000,
    )?;
    within("bonds_penalty_bps", p.bonds_penalty_bps.into(), 0, 10_000)?;
    within(
        "immunity_period_blocks",
        p.immunity_period_blocks.into(),
        0,
        1_000_000,
    )?;
    within("max_uids", p.max_uids.into(), 1, max_uids)?;
    within("max_validators", p.max_validators.into(), 1, 256)?;
    within(
        "min_allowed_weights",
        p.min_allowed_weights.into(),
        0,
        max_uids,
    )?;
    within(
        "weights_rate_limit_blocks",
        p.weights_rate_limit_blocks.into(),
        0,
        p.tempo_blocks.into(),
    )?;
    within(
        "activity_cutoff_blocks",
        p.activity_cutoff_blocks.into(),
        p.tempo_blocks.into(),
        10_000_000,
    )?;
    within("owner_cut_bps", p.owner_cut_bps.into(), 0, 10_000)?;
    within(
        "burn",
        p.burn.base(),
        1,
        1_000_000 * tessera_types::amount::BASE_PER_TSR,
    )
}

/// The `create_subnet` call.
pub fn create(
    state: &mut Overlay<'_>,
    params: &Params,
    height: u64,
    who: &Address,
    name: &str,
    model: Option<ModelId>,
    hyper: &SubnetParams,
) -> Result<Vec<Event>, StateError> {
    if let Some(subnet) = id_by_name(state, name)? {
        return Err(SubnetError::NameTaken { subnet }.into());
    }
    if let Some(model) = model {
        crate::models::model(state, model)?.ok_or(StateError::UnknownModel { model })?;
        if let Some(subnet) = id_by_model(state, model)? {
            return Err(SubnetError::ModelHasSubnet { model, subnet }.into());
        }
    }
    if u64::try_from(all(state)?.len()).unwrap_or(u64::MAX) >= MAX_SUBNETS {
        return Err(SubnetError::TooManySubnets { max: MAX_SUBNETS }.into());
    }
    let id = SubnetId(state.read::<u64>(NEXT_KEY)?.unwrap_or(1));
    state.write(
        NEXT_KEY.to_vec(),
        &checked(id.0.checked_add(1), "subnet id")?,
    );
    let lock = params.subnet_lock_cost;
    let mut events = Vec::new();
    if !lock.is_zero() {
        events = staking::bond(state, who, lock)?;
        staking::lock(state, who, lock)?;
    }
    let record = Subnet {
        name: name.to_string(),
        owner: *who,
        model,
        lock,
        params: hyper.clone(),
        created_at: height,
        last_epoch_block: height,
        epochs: 0,
        pending_emission: Amount::ZERO,
        take_this_tempo: Amount::ZERO,
        take_average: Amount::ZERO,
        matured_stake: Amount::ZERO,
    };
    set_subnet(state, id, &record);
    state.write(key(NAME_PREFIX, name.as_bytes()), &id.0);
    if let Some(model) = model {
        state.write(key(MODEL_PREFIX, &model.0.to_be_bytes()), &id.0);
    }
    events.push(Event::Subnet(SubnetEvent::SubnetCreated {
        subnet: id,
        name: record.name,
        owner: *who,
        model,
        lock,
    }));
    Ok(events)
}

/// The `dissolve_subnet` call: its owner only, once no stake is delegated in it (every
/// delegation's unbonding is its delegator's, so dissolving never moves anyone else's
/// stake). The lock unlocks and unbonds; emission not yet paid out is burned; every UID,
/// neuron record and index of the subnet is deleted (at most `MAX_SUBNET_UIDS` records),
/// so its name and model are free again.
pub fn dissolve(
    state: &mut Overlay<'_>,
    params: &Params,
    height: u64,
    who: &Address,
    id: SubnetId,
) -> Result<Vec<Event>, StateError> {
    let record = existing(state, id)?;
    if record.owner != *who {
        return Err(SubnetError::NotOwner { subnet: id }.into());
    }
    if super::stake::any_delegated(state, id) {
        return Err(SubnetError::SubnetHasStake { subnet: id }.into());
    }
    let burned = record.pending_emission;
    if !burned.is_zero() {
        bank::debit(state, &super::tempo::escrow(), burned)?;
        bank::burn(state, burned)?;
    }
    let slots = uids(state, id)?.slots.len();
    for uid in 0..slots {
        let uid = u16::try_from(uid).map_err(|_| StateError::Overflow("uid"))?;
        state.delete(neuron_key(id, uid));
    }
    state.delete(uids_key(id));
    state.delete(key(NAME_PREFIX, record.name.as_bytes()));
    if let Some(model) = record.model {
        state.delete(key(MODEL_PREFIX, &model.0.to_be_bytes()));
    }
    state.delete(info_key(id));
    let release_height = checked(
        height.checked_add(params.unbonding_blocks),
        "release height",
    )?;
    let mut events = Vec::new();
    if !record.lock.is_zero() {
        staking::unlock(state, who, record.lock)?;
        events = staking::unbond_until(state, who, record.lock, release_height)?;
    }
    events.push(Event::Subnet(SubnetEvent::SubnetDissolved {
        subnet: id,
        owner: *who,
        lock: record.lock,
        burned,
        release_height,
    }));
    Ok(events)
}

/// The `register_uid` call.
pub fn register(
    state: &mut Overlay<'_>,
    height: u64,
    who: &Address,
    id: SubnetId,
    role: Role,
) -> Result<Vec<Event>, StateError> {
    let record = existing(state, id)?;
    if let (Role::Miner, Some(model)) = (role, record.model) {
        providers::registered(state, model, who)?;
    }
    let mut table = uids(state, id)?;
    let p = &record.params;
    let done = table
        .register(*who, height, p.max_uids, p.immunity_period_blocks)
        .map_err(|e| match e {
            UidError::AlreadyRegistered { key, uid } => SubnetError::AlreadyRegistered { key, uid },
            UidError::AllImmune { free_at, .. } => SubnetError::AllImmune { free_at },
            UidError::Closed => SubnetError::AllImmune { free_at: u64::MAX },
        })?;
    let burn = p.burn;
    bank::debit(state, who, burn)?;
    bank::burn(state, burn)?;
    set_uids(state, id, &table);
    // A replaced UID's old bonds and weights go with its record; the epoch starts the
    // column's bonds from zero (it registered after the last epoch).
    set_neuron(state, id, done.uid, &Neuron::new(*who, role, height));
    Ok(vec![Event::Subnet(SubnetEvent::UidRegistered {
        subnet: id,
        uid: done.uid,
        key: *who,
        role,
        burned: burn,
        replaced: done.replaced.map(|r| r.key),
    })])
}
