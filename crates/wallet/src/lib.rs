//! The wallet: encrypted key files under `<home>/keys/` ([`keystore`]), the passphrase
//! rules, and loading a key to sign with. The CLI, the provider daemon and the gateway
//! all unlock their keys here, so there is one file format and one set of limits.

pub mod keystore;

pub use keystore::{read_passphrase, KdfParams, Keystore, KeystoreError};
