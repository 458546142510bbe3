//! Stateless checks of what a model call declares: the first stage of every `models`
//! call, and public so clients (CLI, RPC) can run the same rules before signing.

use super::royalties::MAX_TOTAL_SHARES;
use crate::StateError;
use std::collections::BTreeSet;
use tessera_types::cid::AnyCid;
use tessera_types::tx::{
    Bps, DataLink, ModelSpec, RevenueSplit, Shares, MAX_DATA_LINKS, MAX_LICENSE_BYTES,
    MAX_MODEL_NAME_BYTES, MAX_RUNTIME_BYTES, MAX_VERSION_NOTE_BYTES,
};

/// Every stateless rule of a registration (name uniqueness is checked against state).
pub fn check_spec(spec: &ModelSpec) -> Result<(), StateError> {
    check_name(&spec.name)?;
    check_cid(&spec.manifest_cid)?;
    check_runtime(&spec.runtime)?;
    check_license(&spec.license)?;
    check_total_shares(spec.total_shares)?;
    check_split(&spec.split)?;
    check_data_links(&spec.split, &spec.data_links)
}

/// Whether `name` is 1 to `max` characters of `a-z`, `0-9`, `-` (model and subnet names).
pub fn is_slug(name: &str, max: usize) -> bool {
    !name.is_empty()
        && name.len() <= max
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// 1–64 characters of `a-z`, `0-9`, `-`.
pub fn check_name(name: &str) -> Result<(), StateError> {
    if is_slug(name, MAX_MODEL_NAME_BYTES) {
        Ok(())
    } else {
        Err(StateError::InvalidModelName { name: name.into() })
    }
}

/// A sha2-256 CID of any codec, as CIDv1 base32 or CIDv0 text (see
/// [`tessera_types::cid::AnyCid`]).
pub fn check_cid(text: &str) -> Result<(), StateError> {
    AnyCid::parse(text)
        .map(drop)
        .map_err(|e| StateError::InvalidCid {
            cid: text.into(),
            reason: e.reason,
        })
}

/// 1–32 characters of `a-z`, `0-9`, `-`, `_`, `.` (e.g. `candle-bert`, `llama-gguf`).
pub fn check_runtime(runtime: &str) -> Result<(), StateError> {
    let ok = !runtime.is_empty()
        && runtime.len() <= MAX_RUNTIME_BYTES
        && runtime.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        });
    field_rule(
        ok,
        "runtime",
        "use 1 to 32 characters of a-z, 0-9, '-', '_' and '.', e.g. candle-bert",
    )
}

/// 1–64 printable ASCII characters, no space at either end (an SPDX expression).
pub fn check_license(license: &str) -> Result<(), StateError> {
    let ok = !license.is_empty()
        && license.len() <= MAX_LICENSE_BYTES
        && license.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        && license.trim() == license;
    field_rule(
        ok,
        "license",
        "use 1 to 64 printable ASCII characters, e.g. an SPDX id such as Apache-2.0",
    )
}

/// At most 256 bytes of text without control characters (may be empty).
pub fn check_note(note: &str) -> Result<(), StateError> {
    let ok = note.len() <= MAX_VERSION_NOTE_BYTES && !note.chars().any(char::is_control);
    field_rule(
        ok,
        "version note",
        "use at most 256 bytes of text without control characters",
    )
}

/// `1 ≤ total ≤ MAX_TOTAL_SHARES` (the bound keeps royalty rounding under one base
/// unit per credit; see `royalties`).
pub fn check_total_shares(total: Shares) -> Result<(), StateError> {
    if total.is_zero() || total > MAX_TOTAL_SHARES {
        return Err(StateError::InvalidTotalShares {
            total,
            max: MAX_TOTAL_SHARES,
        });
    }
    Ok(())
}

/// The four parts sum to exactly 10,000 bps.
pub fn check_split(split: &RevenueSplit) -> Result<(), StateError> {
    let total_bps = split.total_bps();
    if total_bps != u32::from(Bps::FULL.get()) {
        return Err(StateError::InvalidSplit { total_bps });
    }
    Ok(())
}

/// At most 16 links to distinct providers, each weighted above zero, the weights
/// summing to 10,000 bps; and a data share in the split only if someone receives it.
pub fn check_data_links(split: &RevenueSplit, links: &[DataLink]) -> Result<(), StateError> {
    let bad = |reason| Err(StateError::InvalidDataLinks { reason });
    if links.len() > MAX_DATA_LINKS {
        return bad("at most 16 data providers may be linked");
    }
    if links.iter().any(|link| link.weight_bps == Bps::ZERO) {
        return bad("every link needs a weight above 0 bps");
    }
    let providers: BTreeSet<_> = links.iter().map(|link| link.provider).collect();
    if providers.len() != links.len() {
        return bad("a provider is linked twice: merge its weights into one link");
    }
    let total_bps: u32 = links.iter().map(|l| u32::from(l.weight_bps.get())).sum();
    if !links.is_empty() && total_bps != u32::from(Bps::FULL.get()) {
        return bad("link weights must sum to exactly 10000 bps");
    }
    if links.is_empty() && split.data_bps != Bps::ZERO {
        return bad("the split gives data providers a share but none is linked: link one or set data_bps to 0");
    }
    Ok(())
}

fn field_rule(ok: bool, field: &'static str, reason: &'static str) -> Result<(), StateError> {
    if ok {
        Ok(())
    } else {
        Err(StateError::InvalidModelField { field, reason })
    }
}
