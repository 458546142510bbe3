//! `models`: the registry of AI models, their versions, their ownership shares, and the
//! royalties every payment for a model's use pays to its share holders.
//!
//! # Rules
//! * `register_model(spec)` records a model under the next id (a counter from 1, so
//!   ids are short, ordered and deterministic) and mints all of its `total_shares` to
//!   the signer, its creator. The spec must pass [`check_spec`]: a unique name of 1–64
//!   characters `a-z0-9-`, a sha2-256 manifest CID (CIDv1 base32 or CIDv0; see
//!   [`tessera_types::cid`]), runtime and license
//!   tags, `1 ≤ total_shares ≤ 10^18`, a revenue split summing to exactly 10,000 bps,
//!   and at most 16 data-provider links whose weights sum to 10,000 bps (a non-zero
//!   data share requires at least one link). The registered manifest is version 0.
//! * `add_model_version(model, cid, note)`, by the creator only (governance takes this
//!   over later), appends version `n` with its CID and height and makes it current;
//!   at most [`MAX_VERSIONS`] versions per model.
//! * `transfer_shares(model, to, amount)` moves shares after settling both holders'
//!   royalties; `claim_royalties(model)` pays the signer's settled royalties.
//! * [`credit_revenue`] is the hook through which paying modules credit the owners'
//!   part of a payment: it moves the TSR into the royalty escrow and, in O(1), raises
//!   the model's reward-per-share accumulator (see [`royalties`] for the fixed point,
//!   its bounds and its rounding).
//!
//! # State keys (ids are 8 bytes big-endian; every key is under 128 bytes)
//! * `sys/models/next` → the next [`ModelId`] (absent before the first model: 1).
//! * `model/info/<id>` → [`Model`] (≤ 1 KiB).
//! * `model/name/<name>` → [`ModelId`] (names are unique; ≤ 75-byte key).
//! * `model/version/<id><n: u16>` → [`Version`].
//! * `model/pool/<id>` → [`RoyaltyPool`].
//! * `model/holder/<id><address>` → [`Holding`] (absent when empty).
//!
//! TSR owed to holders sits in the bank account [`escrow`] (`models/royalties`).
//!
//! # Invariants (property-tested in `tests/models_props.rs`)
//! * shares are conserved: Σ holders' shares = `total_shares`, for every model.
//! * royalties are conserved, exactly, in sub-units (10^-18 base unit):
//!   `credited × SCALE = paid × SCALE + Σ holders' accrued sub-units + undistributed_sub`
//!   where a holder's accrued sub-units are `claimable × SCALE + dust_sub +
//!   shares × (acc − debt)`. Hence `paid ≤ credited`, and in whole base units
//!   `0 ≤ credited − paid − Σ claimable-if-settled ≤ number of holders`: the difference
//!   is the fractions still being carried (each holder's dust and the pool's
//!   remainder, each under one base unit).
//! * escrow balance = Σ over models of (credited − paid): the hook moves revenue in
//!   before it is credited, and claims take out exactly what they pay.
//! * the module moves TSR and never mints or burns it.
//! * `Model.spec.manifest_cid` is the CID of the last version; `version_count ≥ 1`.

mod check;
pub mod royalties;

pub use check::{
    check_cid, check_data_links, check_license, check_name, check_note, check_runtime, check_spec,
    check_split, check_total_shares, is_slug,
};
pub use royalties::{
    accrue, accrued, claim_royalties, credit_revenue, escrow, holder_key, holding, pool, pool_key,
    settle, transfer_shares, Holding, RoyaltyPool, MAX_TOTAL_SHARES, SCALE,
};

use crate::{error::checked, kv::key, kv::Overlay, StateError};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt, Write};
use tessera_types::{
    codec::{read_string, string_size, write_string},
    tx::{ModelId, ModelSpec, MAX_CID_BYTES, MAX_VERSION_NOTE_BYTES},
    Address, Event,
};

/// State key of the next model id.
pub const NEXT_ID_KEY: &[u8] = b"sys/models/next";
/// Prefix of model records: `model/info/ || id`.
pub const MODEL_PREFIX: &[u8] = b"model/info/";
/// Prefix of the name index: `model/name/ || name`.
pub const NAME_PREFIX: &[u8] = b"model/name/";
/// Prefix of versions: `model/version/ || id || index (u16, big-endian)`.
pub const VERSION_PREFIX: &[u8] = b"model/version/";
/// Most versions one model may have, the registered manifest included.
pub const MAX_VERSIONS: usize = 256;

/// A registered model.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Model {
    pub creator: Address,
    /// As registered, except `manifest_cid`: the current (last) version's.
    pub spec: ModelSpec,
    pub registered_height: u64,
    /// Versions recorded, version 0 (the registered manifest) included.
    pub version_count: u16,
}

impl Write for Model {
    fn write(&self, buf: &mut impl BufMut) {
        self.creator.write(buf);
        self.spec.write(buf);
        buf.put_u64(self.registered_height);
        buf.put_u16(self.version_count);
    }
}

impl EncodeSize for Model {
    fn encode_size(&self) -> usize {
        Address::SIZE
            .saturating_add(self.spec.encode_size())
            .saturating_add(10)
    }
}

impl Read for Model {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Model {
            creator: Address::read(buf)?,
            spec: ModelSpec::read(buf)?,
            registered_height: u64::read(buf)?,
            version_count: u16::read(buf)?,
        })
    }
}

/// One version of a model: the manifest listing its files.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Version {
    pub manifest_cid: String,
    pub note: String,
    pub height: u64,
}

impl Write for Version {
    fn write(&self, buf: &mut impl BufMut) {
        write_string(&self.manifest_cid, buf);
        write_string(&self.note, buf);
        buf.put_u64(self.height);
    }
}

impl EncodeSize for Version {
    fn encode_size(&self) -> usize {
        string_size(&self.manifest_cid)
            .saturating_add(string_size(&self.note))
            .saturating_add(8)
    }
}

impl Read for Version {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Version {
            manifest_cid: read_string(buf, MAX_CID_BYTES)?,
            note: read_string(buf, MAX_VERSION_NOTE_BYTES)?,
            height: u64::read(buf)?,
        })
    }
}

pub fn model_key(model: ModelId) -> Vec<u8> {
    key(MODEL_PREFIX, &model.0.to_be_bytes())
}

/// The model id a key under [MODEL_PREFIX] names (`None` for any other key).
pub fn model_id_of_key(key: &[u8]) -> Option<ModelId> {
    let id: [u8; 8] = key.strip_prefix(MODEL_PREFIX)?.try_into().ok()?;
    Some(ModelId(u64::from_be_bytes(id)))
}

pub fn name_key(name: &str) -> Vec<u8> {
    key(NAME_PREFIX, name.as_bytes())
}

pub fn version_key(model: ModelId, index: u16) -> Vec<u8> {
    let mut suffix = [0u8; 10];
    let (id, n) = suffix.split_at_mut(8);
    id.copy_from_slice(&model.0.to_be_bytes());
    n.copy_from_slice(&index.to_be_bytes());
    key(VERSION_PREFIX, &suffix)
}

pub fn model(state: &Overlay<'_>, model: ModelId) -> Result<Option<Model>, StateError> {
    state.read(&model_key(model))
}

pub fn model_id_by_name(state: &Overlay<'_>, name: &str) -> Result<Option<ModelId>, StateError> {
    state.read(&name_key(name))
}

pub fn version(
    state: &Overlay<'_>,
    model: ModelId,
    index: u16,
) -> Result<Option<Version>, StateError> {
    state.read(&version_key(model, index))
}

/// Take the next model id and advance the counter.
fn next_id(state: &mut Overlay<'_>) -> Result<ModelId, StateError> {
    let id = state.read::<ModelId>(NEXT_ID_KEY)?.unwrap_or(ModelId(1));
    let next = ModelId(checked(id.0.checked_add(1), "model id")?);
    state.write(NEXT_ID_KEY.to_vec(), &next);
    Ok(id)
}

/// The `register_model` call.
pub fn register(
    state: &mut Overlay<'_>,
    height: u64,
    creator: &Address,
    spec: &ModelSpec,
) -> Result<Vec<Event>, StateError> {
    check_spec(spec)?;
    if let Some(taken) = model_id_by_name(state, &spec.name)? {
        return Err(StateError::ModelNameTaken {
            name: spec.name.clone(),
            model: taken,
        });
    }
    let id = next_id(state)?;
    let record = Model {
        creator: *creator,
        spec: spec.clone(),
        registered_height: height,
        version_count: 1,
    };
    let first = Version {
        manifest_cid: spec.manifest_cid.clone(),
        note: String::new(),
        height,
    };
    state.write(model_key(id), &record);
    state.write(name_key(&spec.name), &id);
    state.write(version_key(id, 0), &first);
    royalties::open(state, id, creator, spec.total_shares);
    Ok(vec![Event::ModelRegistered {
        model: id,
        name: spec.name.clone(),
        creator: *creator,
        manifest_cid: spec.manifest_cid.clone(),
        total_shares: spec.total_shares,
    }])
}

/// The `add_model_version` call.
pub fn add_version(
    state: &mut Overlay<'_>,
    height: u64,
    signer: &Address,
    model_id: ModelId,
    manifest_cid: &str,
    note: &str,
) -> Result<Vec<Event>, StateError> {
    check_cid(manifest_cid)?;
    check_note(note)?;
    let mut record = model(state, model_id)?.ok_or(StateError::UnknownModel { model: model_id })?;
    if record.creator != *signer {
        return Err(StateError::NotModelCreator {
            model: model_id,
            creator: record.creator,
        });
    }
    if record.spec.manifest_cid == manifest_cid {
        return Err(StateError::SameManifest {
            model: model_id,
            cid: manifest_cid.into(),
        });
    }
    let index = record.version_count;
    if usize::from(index) >= MAX_VERSIONS {
        return Err(StateError::TooManyVersions {
            model: model_id,
            max: MAX_VERSIONS,
        });
    }
    let version = Version {
        manifest_cid: manifest_cid.into(),
        note: note.into(),
        height,
    };
    state.write(version_key(model_id, index), &version);
    record.version_count = checked(index.checked_add(1), "version count")?;
    record.spec.manifest_cid = manifest_cid.into();
    state.write(model_key(model_id), &record);
    Ok(vec![Event::ModelVersionAdded {
        model: model_id,
        version: index,
        manifest_cid: manifest_cid.into(),
    }])
}
