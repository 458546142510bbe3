//! The state as a key-value map, and the overlay that makes execution all-or-nothing.
//!
//! # Invariants
//! * reads through an [`Overlay`] see its own writes first, then the base.
//! * an overlay's writes reach the base only through [`Overlay::absorb`] by the owner;
//!   dropping an overlay discards them, which is how a failed call is undone.
//! * [`Overlay::into_writes`] returns writes sorted by key, so every node hands the
//!   store the same batch in the same order.

use crate::StateError;
use commonware_codec::{Decode, Encode};
use std::collections::BTreeMap;

/// A write: `None` deletes the key.
pub type Write = (Vec<u8>, Option<Vec<u8>>);

/// Read access to state.
pub trait StateView {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>>;
    /// The smallest key present that is `>= from` (ordered iteration).
    fn key_at_or_after(&self, from: &[u8]) -> Option<Vec<u8>>;
}

/// The smallest key strictly after `key`.
pub fn successor(key: &[u8]) -> Vec<u8> {
    let mut next = Vec::with_capacity(key.len().saturating_add(1));
    next.extend_from_slice(key);
    next.push(0);
    next
}

/// [`StateView::key_at_or_after`] for `base` under write layers (newest first; `None`
/// deletes): the smallest key `>= from` whose newest value is present.
pub fn layered_key_at_or_after(
    base: &dyn StateView,
    layers: &[&BTreeMap<Vec<u8>, Option<Vec<u8>>>],
    from: &[u8],
) -> Option<Vec<u8>> {
    let mut cursor = from.to_vec();
    loop {
        let mut candidate = base.key_at_or_after(&cursor);
        for layer in layers {
            if let Some((key, _)) = layer.range(cursor.clone()..).next() {
                if candidate.as_ref().is_none_or(|c| key < c) {
                    candidate = Some(key.clone());
                }
            }
        }
        let key = candidate?;
        let newest = layers.iter().find_map(|layer| layer.get(&key));
        match newest {
            Some(None) => cursor = successor(&key),
            _ => return Some(key),
        }
    }
}

/// The whole committed state in memory (the node keeps it mirrored in the store).
pub type MemState = BTreeMap<Vec<u8>, Vec<u8>>;

impl StateView for MemState {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        BTreeMap::get(self, key).cloned()
    }

    fn key_at_or_after(&self, from: &[u8]) -> Option<Vec<u8>> {
        self.range(from.to_vec()..).next().map(|(k, _)| k.clone())
    }
}

/// Buffered writes over a base view.
pub struct Overlay<'a> {
    base: &'a dyn StateView,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<'a> Overlay<'a> {
    pub fn new(base: &'a dyn StateView) -> Overlay<'a> {
        Overlay {
            base,
            writes: BTreeMap::new(),
        }
    }

    pub fn set(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert(key, Some(value));
    }

    pub fn delete(&mut self, key: Vec<u8>) {
        self.writes.insert(key, None);
    }

    /// Take the writes of a child overlay (a transaction's, once its call succeeded).
    pub fn absorb(&mut self, writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>) {
        self.writes.extend(writes);
    }

    pub fn take_writes(self) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
        self.writes
    }

    /// The buffered writes, sorted by key.
    pub fn into_writes(self) -> Vec<Write> {
        self.writes.into_iter().collect()
    }

    /// Typed read: decode the value at `key`, if any.
    pub fn read<T: Decode<Cfg = ()>>(&self, key: &[u8]) -> Result<Option<T>, StateError> {
        self.get(key)
            .map(|bytes| decode_value(key, &bytes))
            .transpose()
    }

    /// Typed write.
    pub fn write<T: Encode>(&mut self, key: Vec<u8>, value: &T) {
        self.set(key, value.encode().to_vec());
    }
}

impl StateView for Overlay<'_> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        match self.writes.get(key) {
            Some(value) => value.clone(),
            None => self.base.get(key),
        }
    }

    fn key_at_or_after(&self, from: &[u8]) -> Option<Vec<u8>> {
        layered_key_at_or_after(self.base, &[&self.writes], from)
    }
}

/// Decode a stored value; a failure means the state itself is corrupt.
pub fn decode_value<T: Decode<Cfg = ()>>(key: &[u8], bytes: &[u8]) -> Result<T, StateError> {
    T::decode_cfg(bytes.to_vec(), &()).map_err(|e| StateError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason: e.to_string(),
    })
}

/// `prefix || suffix` as a state key.
pub fn key(prefix: &[u8], suffix: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len().saturating_add(suffix.len()));
    out.extend_from_slice(prefix);
    out.extend_from_slice(suffix);
    out
}

/// Up to `limit` keys that start with `prefix`, in order, starting at `prefix || from`.
pub fn keys_with_prefix(
    state: &dyn StateView,
    prefix: &[u8],
    from: &[u8],
    limit: usize,
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cursor = key(prefix, from);
    while out.len() < limit {
        match state.key_at_or_after(&cursor) {
            Some(k) if k.starts_with(prefix) => {
                cursor = successor(&k);
                out.push(k);
            }
            _ => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_reads_own_writes_and_discards_on_drop() {
        let mut base = MemState::new();
        base.insert(b"a".to_vec(), b"1".to_vec());
        let mut outer = Overlay::new(&base);
        outer.set(b"b".to_vec(), b"2".to_vec());
        {
            let mut inner = Overlay::new(&outer);
            inner.delete(b"a".to_vec());
            assert_eq!(inner.get(b"a"), None);
            assert_eq!(inner.get(b"b"), Some(b"2".to_vec()));
        }
        assert_eq!(outer.get(b"a"), Some(b"1".to_vec()));
        let writes = outer.into_writes();
        assert_eq!(writes, vec![(b"b".to_vec(), Some(b"2".to_vec()))]);
    }
}
