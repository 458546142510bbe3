//! Weights by commit-reveal from the validator's side: choose weights, draw a salt,
//! commit the hash, keep `(weights, salt)` until the next tempo, reveal them.
//!
//! # Invariants (tested below)
//! * a pending commit is on disk (written, synced, renamed into place) before its commit
//!   transaction is built: a crash after sending the commit never loses what to reveal.
//! * the reveal call carries exactly the weights and salt the commit hashed.
//! * one pending commit per (subnet, validator): a newer commit replaces the file only
//!   once it is built, and a reveal removes it only after it succeeded.

use std::{
    fs,
    io::Write as _,
    path::{Path, PathBuf},
};
use tessera_state::subnets::weights::{commit_hash, MAX_WEIGHTS};
use tessera_types::{
    subnet::{SubnetId, UidWeight, MAX_REVEAL_WEIGHTS},
    Address, Call, Hash,
};

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("weights {text:?}: {reason}; write them as UID=WEIGHT pairs, e.g. 0=3,1=1")]
    Parse { text: String, reason: String },
    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a pending commit ({reason}): remove it and commit again")]
    Corrupt { path: PathBuf, reason: String },
    #[error("no pending commit for subnet {subnet} by {validator}: commit weights first, reveal in the next tempo")]
    NothingPending {
        subnet: SubnetId,
        validator: Address,
    },
}

/// A commit waiting for its reveal.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pending {
    pub subnet: SubnetId,
    pub validator: Address,
    pub weights: Vec<UidWeight>,
    pub salt: Hash,
    /// The tempo the commit was made in, once known (see [`crate::schedule`]).
    #[serde(default)]
    pub tempo: Option<u64>,
}

impl Pending {
    /// New weights with a fresh random salt.
    pub fn new(subnet: SubnetId, validator: Address, weights: Vec<UidWeight>) -> Pending {
        Pending {
            subnet,
            validator,
            weights,
            salt: Hash(rand::random()),
            tempo: None,
        }
    }

    pub fn hash(&self) -> Hash {
        let pairs: Vec<(u16, u16)> = self.weights.iter().map(|w| (w.uid, w.weight)).collect();
        commit_hash(&self.validator, self.subnet.0, &pairs, &self.salt.0)
    }

    pub fn commit_call(&self) -> Call {
        Call::CommitWeights {
            subnet: self.subnet,
            hash: self.hash(),
        }
    }

    pub fn reveal_call(&self) -> Call {
        Call::RevealWeights {
            subnet: self.subnet,
            weights: self.weights.clone(),
            salt: self.salt,
        }
    }
}

/// `0=3,1=1` as weights: distinct UIDs, non-zero total, at most the most a reveal takes.
pub fn parse(text: &str) -> Result<Vec<UidWeight>, WeightsError> {
    let bad = |reason: &str| WeightsError::Parse {
        text: text.chars().take(80).collect(),
        reason: reason.into(),
    };
    let mut out: Vec<UidWeight> = Vec::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (uid, weight) = pair
            .split_once('=')
            .ok_or_else(|| bad("a pair has no '='"))?;
        let uid: u16 = uid
            .trim()
            .parse()
            .map_err(|_| bad("a UID is not 0-65535"))?;
        let weight: u16 = weight
            .trim()
            .parse()
            .map_err(|_| bad("a weight is not 0-65535"))?;
        if out.iter().any(|w| w.uid == uid) {
            return Err(bad("a UID appears twice"));
        }
        out.push(UidWeight { uid, weight });
    }
    if out.is_empty() {
        return Err(bad("no pairs"));
    }
    if out.len() > MAX_REVEAL_WEIGHTS.min(MAX_WEIGHTS) {
        return Err(bad("more pairs than one reveal carries (2,048)"));
    }
    if out.iter().all(|w| w.weight == 0) {
        return Err(bad("every weight is zero"));
    }
    Ok(out)
}

/// Pending commits, one file per (subnet, validator) under a directory.
#[derive(Clone, Debug)]
pub struct PendingStore {
    dir: PathBuf,
}

impl PendingStore {
    pub fn open(dir: &Path) -> Result<PendingStore, WeightsError> {
        fs::create_dir_all(dir).map_err(|source| WeightsError::Io {
            what: "create",
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(PendingStore {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, subnet: SubnetId, validator: &Address) -> PathBuf {
        self.dir
            .join(format!("subnet-{}-{validator}.json", subnet.0))
    }

    /// Keep `pending` (replacing an older one of the same subnet and validator).
    pub fn save(&self, pending: &Pending) -> Result<(), WeightsError> {
        let path = self.path(pending.subnet, &pending.validator);
        let tmp = path.with_extension("json.tmp");
        let io = |what, source| WeightsError::Io {
            what,
            path: tmp.clone(),
            source,
        };
        let bytes = serde_json::to_vec_pretty(pending).map_err(|e| WeightsError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let mut file = fs::File::create(&tmp).map_err(|e| io("create", e))?;
        file.write_all(&bytes).map_err(|e| io("write", e))?;
        file.sync_all().map_err(|e| io("sync", e))?;
        fs::rename(&tmp, &path).map_err(|e| io("rename", e))?;
        if let Ok(dir) = fs::File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// The pending commit of `validator` in `subnet`.
    pub fn load(&self, subnet: SubnetId, validator: &Address) -> Result<Pending, WeightsError> {
        let path = self.path(subnet, validator);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(WeightsError::NothingPending {
                    subnet,
                    validator: *validator,
                })
            }
            Err(source) => {
                return Err(WeightsError::Io {
                    what: "read",
                    path,
                    source,
                })
            }
        };
        serde_json::from_slice(&bytes).map_err(|e| WeightsError::Corrupt {
            path,
            reason: e.to_string(),
        })
    }

    /// Forget the pending commit (after its reveal succeeded).
    pub fn remove(&self, subnet: SubnetId, validator: &Address) -> Result<(), WeightsError> {
        let path = self.path(subnet, validator);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(WeightsError::Io {
                what: "remove",
                path,
                source: e,
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tessera-weights-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn parse_accepts_pairs_and_refuses_nonsense() {
        let w = parse("0=3, 2=1").unwrap();
        assert_eq!(
            w,
            vec![
                UidWeight { uid: 0, weight: 3 },
                UidWeight { uid: 2, weight: 1 }
            ]
        );
        for bad in ["", "0", "0=x", "70000=1", "0=1,0=2", "0=0,1=0", "a=1"] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
        let many: Vec<String> = (0..=2_048).map(|u| format!("{u}=1")).collect();
        assert!(parse(&many.join(",")).is_err());
    }

    #[test]
    fn a_saved_commit_reveals_exactly_what_it_hashed() {
        let d = dir("reveal");
        let store = PendingStore::open(&d).unwrap();
        let v = Address([4; 32]);
        let p = Pending::new(SubnetId(3), v, parse("1=5,0=1").unwrap());
        store.save(&p).unwrap();
        let back = store.load(SubnetId(3), &v).unwrap();
        assert_eq!(back, p);
        let Call::CommitWeights { hash, .. } = p.commit_call() else {
            panic!("not a commit");
        };
        let Call::RevealWeights { weights, salt, .. } = back.reveal_call() else {
            panic!("not a reveal");
        };
        let pairs: Vec<(u16, u16)> = weights.iter().map(|w| (w.uid, w.weight)).collect();
        assert_eq!(commit_hash(&v, 3, &pairs, &salt.0), hash);
        // Two commits of the same weights use different salts.
        assert_ne!(
            Pending::new(SubnetId(3), v, back.weights.clone()).salt,
            p.salt
        );
        store.remove(SubnetId(3), &v).unwrap();
        assert!(matches!(
            store.load(SubnetId(3), &v),
            Err(WeightsError::NothingPending { .. })
        ));
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_damaged_file_says_what_to_do() {
        let d = dir("corrupt");
        let store = PendingStore::open(&d).unwrap();
        let v = Address([5; 32]);
        fs::write(store.path(SubnetId(1), &v), b"{not json").unwrap();
        let err = store.load(SubnetId(1), &v).unwrap_err().to_string();
        assert!(err.contains("commit again"), "{err}");
        let _ = fs::remove_dir_all(&d);
    }
}
