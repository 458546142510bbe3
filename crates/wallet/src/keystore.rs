//! The wallet's encrypted keystore: one JSON file per key under `<home>/keys/`.
//!
//! # File format (version 1)
//!
//! `<home>/keys/<name>.json`:
//!
//! ```json
//! {
//!   "version": 1,
//!   "name": "alice",
//!   "address": "tsr1...",
//!   "kdf": { "algorithm": "argon2id", "m_cost_kib": 19456, "t_cost": 2, "p_cost": 1,
//!            "salt": "<16 bytes, hex>" },
//!   "cipher": { "algorithm": "chacha20poly1305", "nonce": "<12 bytes, hex>",
//!               "ciphertext": "<32-byte ed25519 seed + 16-byte tag, hex>" }
//! }
//! ```
//!
//! The encryption key is `argon2id(passphrase, salt)` (argon2 version 0x13, 32-byte
//! output). The AEAD's associated data is
//! `"tessera/keystore/v1" || 0x00 || name || 0x00 || address bytes (32)`; names never
//! contain a NUL byte, so the encoding is unambiguous.
//!
//! # Invariants
//!
//! * A key file is only ever seen complete: it is written to a temporary file in the
//!   same directory, fsynced, then linked into place; the directory is fsynced after.
//! * An existing key file is never overwritten, not even by two concurrent `create`s
//!   of the same name (the final step is `hard_link`, which fails if the name exists).
//! * Key files are mode 0600 and the keys directory is created 0700 (unix).
//! * The name and address shown in a file are authenticated: editing either one (or
//!   copying the file under another name) makes decryption fail.
//! * A decrypted key is checked against the file's address before it is returned.
//! * Nothing here prints or logs a passphrase, a derived key or a secret key; errors
//!   carry names and paths only.
//!
//! # Limits
//!
//! A key file is read only up to [`MAX_KEY_FILE_BYTES`], a passphrase file's first line
//! up to [`MAX_PASSPHRASE_BYTES`], and KDF parameters read from a file are bounded by
//! [`KdfParams::MAX_M_COST_KIB`] and friends, so a hostile file cannot make the wallet
//! allocate terabytes or spin for hours before failing.
//!
//! A salt and nonce are fresh for every file, so each derived key encrypts exactly one
//! message and random 96-bit nonces are safe.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

use argon2::{Algorithm, Argon2, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use tessera_types::{Address, Keypair};

/// The subdirectory of the wallet home that holds the key files.
pub const KEYS_DIR: &str = "keys";
/// The environment variable read by [`read_passphrase`].
pub const PASSPHRASE_ENV: &str = "TESSERA_PASSPHRASE";
/// The key-file format written by this module, and the only one it reads.
pub const FORMAT_VERSION: u32 = 1;
/// The longest key name.
pub const MAX_NAME_LEN: usize = 64;
/// Key files larger than this are refused without parsing them.
pub const MAX_KEY_FILE_BYTES: usize = 64 * 1024;
/// The longest passphrase accepted from a passphrase file.
pub const MAX_PASSPHRASE_BYTES: usize = 4096;

const KDF_ALGORITHM: &str = "argon2id";
const CIPHER_ALGORITHM: &str = "chacha20poly1305";
const AAD_DOMAIN: &[u8] = b"tessera/keystore/v1";
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const DERIVED_KEY_LEN: usize = 32;
/// An ed25519 seed (32 bytes) plus the poly1305 tag (16 bytes).
const CIPHERTEXT_LEN: usize = 32 + 16;
const CONFIRM_PROMPT: &str = "Repeat the passphrase: ";

/// Everything that can go wrong in the keystore. Each message says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    /// The AEAD tag did not verify: the passphrase is wrong, or the file's contents
    /// (ciphertext, name or address) were changed. The two cannot be told apart.
    #[error(
        "wrong passphrase for key '{name}' (try again, or check TESSERA_PASSPHRASE / --passphrase-file)"
    )]
    WrongPassphrase { name: String },
    #[error(
        "no key named '{name}' in {}: create it with `tessera keys new {name}` or list keys with `tessera keys list`",
        dir.display()
    )]
    NotFound { name: String, dir: PathBuf },
    #[error(
        "a key named '{name}' already exists at {}: choose another name (existing keys are never overwritten)",
        path.display()
    )]
    AlreadyExists { name: String, path: PathBuf },
    #[error("invalid key name {name:?}: use 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'")]
    InvalidName { name: String },
    #[error("cannot use key file {}: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("cannot access {}: {source} (check that it exists and that you may read and write it)", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("invalid key-derivation parameters: {reason}")]
    InvalidKdfParams { reason: String },
    #[error("empty passphrase ({origin}): keys must be encrypted with a non-empty passphrase")]
    EmptyPassphrase { origin: String },
    #[error("passphrases do not match: run the command again and type the same passphrase twice")]
    PassphraseMismatch,
    #[error("cannot read a passphrase: {reason}; pass --passphrase-file <path> or set TESSERA_PASSPHRASE")]
    NoPassphrase { reason: String },
    #[error("cannot use passphrase file {}: {reason}", path.display())]
    BadPassphraseFile { path: PathBuf, reason: String },
    #[error("sealing the key failed: {reason} (this is a bug in tessera; please report it)")]
    Crypto { reason: String },
}

impl KeystoreError {
    fn io(path: &Path) -> impl FnOnce(io::Error) -> KeystoreError + '_ {
        move |source| KeystoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    fn corrupt(path: &Path, reason: impl Into<String>) -> KeystoreError {
        KeystoreError::Corrupt {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}

/// argon2id cost parameters. [`KdfParams::default`] is OWASP's recommendation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB; at least `8 * p_cost`.
    pub m_cost_kib: u32,
    /// Passes over memory; at least 1.
    pub t_cost: u32,
    /// Lanes; at least 1.
    pub p_cost: u32,
}

impl KdfParams {
    /// OWASP's argon2id recommendation: 19 MiB, 2 passes, 1 lane.
    pub const OWASP: KdfParams = KdfParams {
        m_cost_kib: 19_456,
        t_cost: 2,
        p_cost: 1,
    };
    /// 4 GiB: more than any wallet should ask for, and a cap for hostile files.
    pub const MAX_M_COST_KIB: u32 = 4 * 1024 * 1024;
    pub const MAX_T_COST: u32 = 64;
    pub const MAX_P_COST: u32 = 64;

    /// Checks the bounds of this module and of argon2 itself.
    pub fn validate(self) -> Result<KdfParams, KeystoreError> {
        self.argon2_params()
            .map(|_| self)
            .map_err(|reason| KeystoreError::InvalidKdfParams { reason })
    }

    fn argon2_params(self) -> Result<argon2::Params, String> {
        if self.m_cost_kib > Self::MAX_M_COST_KIB {
            return Err(format!(
                "m_cost_kib {} is over the limit of {}",
                self.m_cost_kib,
                Self::MAX_M_COST_KIB
            ));
        }
        if self.t_cost > Self::MAX_T_COST {
            return Err(format!(
                "t_cost {} is over the limit of {}",
                self.t_cost,
                Self::MAX_T_COST
            ));
        }
        if self.p_cost > Self::MAX_P_COST {
            return Err(format!(
                "p_cost {} is over the limit of {}",
                self.p_cost,
                Self::MAX_P_COST
            ));
        }
        argon2::Params::new(
            self.m_cost_kib,
            self.t_cost,
            self.p_cost,
            Some(DERIVED_KEY_LEN),
        )
        .map_err(|e| {
            format!(
                "{e} (m_cost_kib={}, t_cost={}, p_cost={})",
                self.m_cost_kib, self.t_cost, self.p_cost
            )
        })
    }
}

impl Default for KdfParams {
    fn default() -> KdfParams {
        KdfParams::OWASP
    }
}

/// Checks a key name: 1 to [`MAX_NAME_LEN`] characters of `[A-Za-z0-9_-]`.
/// The charset keeps names safe as file names (no `/`, `.`, or NUL).
pub fn validate_name(name: &str) -> Result<(), KeystoreError> {
    let charset_ok = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if name.is_empty() || name.len() > MAX_NAME_LEN || !charset_ok {
        return Err(KeystoreError::InvalidName {
            name: name.to_string(),
        });
    }
    Ok(())
}

/// The keystore of one wallet home: `<home>/keys/<name>.json`.
#[derive(Clone, Debug)]
pub struct Keystore {
    dir: PathBuf,
}

impl Keystore {
    /// Points at `<home>/keys`. Touches nothing on disk; the directory is created by
    /// the first `create` or `import`.
    pub fn open(home: &Path) -> Keystore {
        Keystore {
            dir: home.join(KEYS_DIR),
        }
    }

    /// The keys directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Generates a new key and stores it under `name`, encrypted with `passphrase`.
    pub fn create(
        &self,
        name: &str,
        passphrase: &str,
        params: KdfParams,
    ) -> Result<Address, KeystoreError> {
        self.import(name, &Keypair::generate(), passphrase, params)
    }

    /// Stores an existing key under `name`, encrypted with `passphrase`.
    /// Refuses a name that is already taken.
    pub fn import(
        &self,
        name: &str,
        keypair: &Keypair,
        passphrase: &str,
        params: KdfParams,
    ) -> Result<Address, KeystoreError> {
        validate_name(name)?;
        if passphrase.is_empty() {
            return Err(KeystoreError::EmptyPassphrase {
                origin: format!("for new key '{name}'"),
            });
        }
        let params = params.validate()?;
        let path = self.key_path(name);
        // Checked again, atomically, when the file is linked into place; checking here
        // too spares the user the KDF's delay before the error.
        if path.try_exists().map_err(KeystoreError::io(&path))? {
            return Err(KeystoreError::AlreadyExists {
                name: name.to_string(),
                path,
            });
        }
        let mut rng = rand::rng();
        let mut salt = [0u8; SALT_LEN];
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut salt[..]);
        rng.fill(&mut nonce[..]);
        let sealed = seal(name, keypair, passphrase, params, salt, nonce)?;
        let mut bytes =
            serde_json::to_vec_pretty(&sealed.to_json()).map_err(|e| KeystoreError::Crypto {
                reason: format!("serializing the key file: {e}"),
            })?;
        bytes.push(b'\n');
        create_private_dir(&self.dir)?;
        write_new_file_atomically(&self.dir, &path, name, &bytes)?;
        Ok(sealed.address)
    }

    /// Decrypts the key `name`.
    pub fn load(&self, name: &str, passphrase: &str) -> Result<Keypair, KeystoreError> {
        let (path, sealed) = self.read(name)?;
        unseal(&sealed, passphrase, &path)
    }

    /// Decrypts the key `name` with the passphrase from `passphrase_file`, else
    /// `TESSERA_PASSPHRASE`, else a prompt (asked only once the key is known to exist).
    pub fn unlock(
        &self,
        name: &str,
        passphrase_file: Option<&Path>,
    ) -> Result<Keypair, KeystoreError> {
        self.address(name)?;
        let passphrase = read_passphrase(
            &format!("passphrase for '{name}': "),
            passphrase_file,
            false,
        )?;
        self.load(name, &passphrase)
    }

    /// The address of key `name`, read from its file without decrypting it.
    pub fn address(&self, name: &str) -> Result<Address, KeystoreError> {
        self.read(name).map(|(_, sealed)| sealed.address)
    }

    /// Every key's name and address, sorted by name, without decrypting anything.
    /// A missing keys directory is an empty keystore. Files that are not
    /// `<valid name>.json` (temporary files, backups, notes) are ignored; a key file
    /// that cannot be parsed is an error, so a damaged key is never silently hidden.
    pub fn list(&self) -> Result<Vec<(String, Address)>, KeystoreError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(KeystoreError::io(&self.dir)(e)),
        };
        let mut keys = Vec::new();
        for entry in entries {
            let entry = entry.map_err(KeystoreError::io(&self.dir))?;
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str().and_then(|f| f.strip_suffix(".json")) else {
                continue;
            };
            if validate_name(name).is_err() {
                continue;
            }
            let (_, sealed) = self.read(name)?;
            keys.push((sealed.name, sealed.address));
        }
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(keys)
    }

    fn key_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// Reads and validates `<name>.json`, including that it holds key `name`.
    fn read(&self, name: &str) -> Result<(PathBuf, SealedKey), KeystoreError> {
        validate_name(name)?;
        let path = self.key_path(name);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(KeystoreError::NotFound {
                    name: name.to_string(),
                    dir: self.dir.clone(),
                })
            }
            Err(e) => return Err(KeystoreError::io(&path)(e)),
        };
        let mut bytes = Vec::new();
        let limit = u64::try_from(MAX_KEY_FILE_BYTES + 1).unwrap_or(u64::MAX);
        file.take(limit)
            .read_to_end(&mut bytes)
            .map_err(KeystoreError::io(&path))?;
        if bytes.len() > MAX_KEY_FILE_BYTES {
            return Err(KeystoreError::corrupt(
                &path,
                format!("larger than {MAX_KEY_FILE_BYTES} bytes, so not a tessera key file"),
            ));
        }
        let sealed = SealedKey::parse(&bytes, &path)?;
        if sealed.name != name {
            return Err(KeystoreError::corrupt(
                &path,
                format!(
                    "it holds key '{}', not '{name}' (was it renamed? rename it back to {}.json)",
                    sealed.name, sealed.name
                ),
            ));
        }
        Ok((path, sealed))
    }
}

/// A key file's contents, validated.
#[derive(Clone, Debug)]
struct SealedKey {
    name: String,
    address: Address,
    kdf: KdfParams,
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
    ciphertext: [u8; CIPHERTEXT_LEN],
}

#[derive(Serialize, Deserialize)]
struct KeyFileJson {
    version: u32,
    name: String,
    address: String,
    kdf: KdfJson,
    cipher: CipherJson,
}

#[derive(Serialize, Deserialize)]
struct KdfJson {
    algorithm: String,
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
    salt: String,
}

#[derive(Serialize, Deserialize)]
struct CipherJson {
    algorithm: String,
    nonce: String,
    ciphertext: String,
}

/// Read first, so a future format gets "unsupported version" rather than a
/// confusing complaint about its fields.
#[derive(Deserialize)]
struct VersionOnly {
    version: u32,
}

impl SealedKey {
    fn to_json(&self) -> KeyFileJson {
        KeyFileJson {
            version: FORMAT_VERSION,
            name: self.name.clone(),
            address: self.address.to_string(),
            kdf: KdfJson {
                algorithm: KDF_ALGORITHM.to_string(),
                m_cost_kib: self.kdf.m_cost_kib,
                t_cost: self.kdf.t_cost,
                p_cost: self.kdf.p_cost,
                salt: hex::encode(self.salt),
            },
            cipher: CipherJson {
                algorithm: CIPHER_ALGORITHM.to_string(),
                nonce: hex::encode(self.nonce),
                ciphertext: hex::encode(self.ciphertext),
            },
        }
    }

    /// Parses and checks every field; `path` is only for error messages.
    fn parse(bytes: &[u8], path: &Path) -> Result<SealedKey, KeystoreError> {
        let bad = |reason: String| KeystoreError::corrupt(path, reason);
        let restore = "restore the file from a backup";
        let version: VersionOnly = serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("not a key file ({e}); {restore}")))?;
        if version.version != FORMAT_VERSION {
            return Err(bad(format!(
                "format version {} is not supported (this tessera reads version {FORMAT_VERSION}); upgrade tessera",
                version.version
            )));
        }
        let json: KeyFileJson = serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("malformed key file ({e}); {restore}")))?;
        if json.kdf.algorithm != KDF_ALGORITHM || json.cipher.algorithm != CIPHER_ALGORITHM {
            return Err(bad(format!(
                "unsupported algorithms {:?}/{:?} (expected {KDF_ALGORITHM}/{CIPHER_ALGORITHM}); {restore}",
                json.kdf.algorithm, json.cipher.algorithm
            )));
        }
        validate_name(&json.name).map_err(|e| bad(format!("{e}; {restore}")))?;
        let address: Address = json
            .address
            .parse()
            .map_err(|e| bad(format!("{e}; {restore}")))?;
        let kdf = KdfParams {
            m_cost_kib: json.kdf.m_cost_kib,
            t_cost: json.kdf.t_cost,
            p_cost: json.kdf.p_cost,
        };
        kdf.argon2_params()
            .map_err(|e| bad(format!("bad kdf parameters: {e}; {restore}")))?;
        let mut sealed = SealedKey {
            name: json.name,
            address,
            kdf,
            salt: [0; SALT_LEN],
            nonce: [0; NONCE_LEN],
            ciphertext: [0; CIPHERTEXT_LEN],
        };
        let fields: [(&str, &str, &mut [u8]); 3] = [
            ("kdf.salt", &json.kdf.salt, &mut sealed.salt),
            ("cipher.nonce", &json.cipher.nonce, &mut sealed.nonce),
            (
                "cipher.ciphertext",
                &json.cipher.ciphertext,
                &mut sealed.ciphertext,
            ),
        ];
        for (field, text, out) in fields {
            let expected_len = out.len();
            hex::decode_to_slice(text, out).map_err(|e| {
                bad(format!(
                    "{field} is not {expected_len} bytes of hex ({e}); {restore}"
                ))
            })?;
        }
        Ok(sealed)
    }
}

/// `AAD_DOMAIN || 0 || name || 0 || address`. Binds the file's name and address to
/// the ciphertext. Names are `[A-Za-z0-9_-]`, so the NUL separators are unambiguous.
fn associated_data(name: &str, address: &Address) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_DOMAIN.len() + name.len() + 2 + 32);
    aad.extend_from_slice(AAD_DOMAIN);
    aad.push(0);
    aad.extend_from_slice(name.as_bytes());
    aad.push(0);
    aad.extend_from_slice(address.as_bytes());
    aad
}

fn derive_key(
    passphrase: &str,
    salt: &[u8; SALT_LEN],
    kdf: KdfParams,
) -> Result<[u8; DERIVED_KEY_LEN], String> {
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, kdf.argon2_params()?);
    let mut key = [0u8; DERIVED_KEY_LEN];
    argon
        .hash_password_into(passphrase.as_bytes(), salt, &mut key)
        .map_err(|e| e.to_string())?;
    Ok(key)
}

/// Encrypts `keypair`'s secret. Pure apart from the KDF's CPU and memory.
fn seal(
    name: &str,
    keypair: &Keypair,
    passphrase: &str,
    kdf: KdfParams,
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
) -> Result<SealedKey, KeystoreError> {
    let address = keypair.address();
    let key = derive_key(passphrase, &salt, kdf)
        .map_err(|reason| KeystoreError::InvalidKdfParams { reason })?;
    let cipher = ChaCha20Poly1305::new(&Key::from(key));
    let secret = keypair.secret_bytes();
    let payload = Payload {
        msg: &secret,
        aad: &associated_data(name, &address),
    };
    let ciphertext =
        cipher
            .encrypt(&Nonce::from(nonce), payload)
            .map_err(|e| KeystoreError::Crypto {
                reason: e.to_string(),
            })?;
    let ciphertext: [u8; CIPHERTEXT_LEN] =
        ciphertext
            .try_into()
            .map_err(|c: Vec<u8>| KeystoreError::Crypto {
                reason: format!("ciphertext is {} bytes, expected {CIPHERTEXT_LEN}", c.len()),
            })?;
    Ok(SealedKey {
        name: name.to_string(),
        address,
        kdf,
        salt,
        nonce,
        ciphertext,
    })
}

/// Decrypts a sealed key and checks it against the address the file shows.
fn unseal(sealed: &SealedKey, passphrase: &str, path: &Path) -> Result<Keypair, KeystoreError> {
    let key = derive_key(passphrase, &sealed.salt, sealed.kdf).map_err(|reason| {
        KeystoreError::corrupt(path, format!("key derivation failed: {reason}"))
    })?;
    let cipher = ChaCha20Poly1305::new(&Key::from(key));
    let payload = Payload {
        msg: &sealed.ciphertext,
        aad: &associated_data(&sealed.name, &sealed.address),
    };
    let secret = cipher
        .decrypt(&Nonce::from(sealed.nonce), payload)
        .map_err(|_| KeystoreError::WrongPassphrase {
            name: sealed.name.clone(),
        })?;
    let keypair = Keypair::from_secret_bytes(&secret)
        .map_err(|e| KeystoreError::corrupt(path, format!("decrypted secret is not a key: {e}")))?;
    // The AEAD already binds the address; this catches a file written with the wrong one.
    if keypair.address() != sealed.address {
        return Err(KeystoreError::corrupt(
            path,
            format!(
                "the decrypted key's address is {}, but the file says {}",
                keypair.address(),
                sealed.address
            ),
        ));
    }
    Ok(keypair)
}

/// Creates `dir` (and missing parents) with mode 0700 on unix.
fn create_private_dir(dir: &Path) -> Result<(), KeystoreError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(KeystoreError::io(dir))
}

/// Writes `bytes` to `path`, which must not exist, so that readers see either no file
/// or the whole file. Never replaces an existing file.
fn write_new_file_atomically(
    dir: &Path,
    path: &Path,
    name: &str,
    bytes: &[u8],
) -> Result<(), KeystoreError> {
    let suffix: u64 = rand::rng().random();
    // A leading '.' keeps temporary files out of `list`.
    let tmp = dir.join(format!(
        ".{name}.json.tmp-{}-{suffix:016x}",
        std::process::id()
    ));
    let result = write_and_sync(&tmp, bytes).and_then(|()| link_into_place(&tmp, path, name));
    // After a hard link the temporary name is an extra link; after a rename it is gone.
    // Either way, and on failure, it must not linger. Ignoring the result is fine: the
    // outcome that matters is `result`.
    let _ = fs::remove_file(&tmp);
    result?;
    sync_dir(dir)
}

fn write_and_sync(path: &Path, bytes: &[u8]) -> Result<(), KeystoreError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(KeystoreError::io(path))?;
    file.write_all(bytes).map_err(KeystoreError::io(path))?;
    file.sync_all().map_err(KeystoreError::io(path))
}

/// `hard_link` is an atomic "create if absent"; `rename` would silently replace a key
/// created concurrently under the same name. Filesystems without hard links fall back
/// to check-then-rename.
fn link_into_place(tmp: &Path, path: &Path, name: &str) -> Result<(), KeystoreError> {
    let exists = || KeystoreError::AlreadyExists {
        name: name.to_string(),
        path: path.to_path_buf(),
    };
    match fs::hard_link(tmp, path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(exists()),
        Err(_) => {
            if path.try_exists().map_err(KeystoreError::io(path))? {
                return Err(exists());
            }
            fs::rename(tmp, path).map_err(KeystoreError::io(path))
        }
    }
}

/// Makes the new directory entry durable (unix; elsewhere a no-op).
fn sync_dir(dir: &Path) -> Result<(), KeystoreError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(KeystoreError::io(dir))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Gets a passphrase, from the first of:
/// 1. `passphrase_file`: its first line, without the trailing `\n` or `\r\n`;
/// 2. the `TESSERA_PASSPHRASE` environment variable;
/// 3. an interactive prompt on the terminal, asked twice when `confirm` is true.
///
/// An empty passphrase is refused from every source (keys are never created with
/// one, so it could not open any key either). With no terminal and neither of the
/// other sources, the error says to use `--passphrase-file` or `TESSERA_PASSPHRASE`.
pub fn read_passphrase(
    prompt: &str,
    passphrase_file: Option<&Path>,
    confirm: bool,
) -> Result<String, KeystoreError> {
    // Only consulted when there is no passphrase file.
    let env = || match std::env::var(PASSPHRASE_ENV) {
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(KeystoreError::NoPassphrase {
            reason: format!("{PASSPHRASE_ENV} is not valid UTF-8"),
        }),
    };
    resolve_passphrase(prompt, passphrase_file, env, confirm, &mut |p: &str| {
        rpassword::prompt_password(p)
    })
}

/// [`read_passphrase`] with the environment and the terminal passed in, for tests.
fn resolve_passphrase(
    prompt: &str,
    passphrase_file: Option<&Path>,
    env: impl FnOnce() -> Result<Option<String>, KeystoreError>,
    confirm: bool,
    ask: &mut dyn FnMut(&str) -> io::Result<String>,
) -> Result<String, KeystoreError> {
    if let Some(path) = passphrase_file {
        let passphrase = read_passphrase_file(path)?;
        return non_empty(passphrase, || {
            format!("the first line of {} is empty", path.display())
        });
    }
    if let Some(passphrase) = env()? {
        return non_empty(passphrase, || format!("{PASSPHRASE_ENV} is set but empty"));
    }
    let passphrase = ask(prompt).map_err(prompt_error)?;
    let passphrase = non_empty(passphrase, || "nothing was typed".to_string())?;
    if confirm {
        let again = ask(CONFIRM_PROMPT).map_err(prompt_error)?;
        if again != passphrase {
            return Err(KeystoreError::PassphraseMismatch);
        }
    }
    Ok(passphrase)
}

fn non_empty(passphrase: String, origin: impl FnOnce() -> String) -> Result<String, KeystoreError> {
    if passphrase.is_empty() {
        return Err(KeystoreError::EmptyPassphrase { origin: origin() });
    }
    Ok(passphrase)
}

fn prompt_error(e: io::Error) -> KeystoreError {
    let reason = match e.kind() {
        io::ErrorKind::Interrupted | io::ErrorKind::UnexpectedEof => {
            "passphrase entry was cancelled".to_string()
        }
        _ => format!("no terminal to prompt on ({e})"),
    };
    KeystoreError::NoPassphrase { reason }
}

/// The first line of `path`, without its line ending, at most [`MAX_PASSPHRASE_BYTES`].
fn read_passphrase_file(path: &Path) -> Result<String, KeystoreError> {
    let bad = |reason: String| KeystoreError::BadPassphraseFile {
        path: path.to_path_buf(),
        reason,
    };
    let file = File::open(path).map_err(KeystoreError::io(path))?;
    // Room for the longest passphrase plus "\r\n"; anything longer is refused below.
    let limit = u64::try_from(MAX_PASSPHRASE_BYTES + 2).unwrap_or(u64::MAX);
    let mut line = Vec::new();
    BufReader::new(file.take(limit))
        .read_until(b'\n', &mut line)
        .map_err(KeystoreError::io(path))?;
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    if line.len() > MAX_PASSPHRASE_BYTES {
        return Err(bad(format!(
            "its first line is longer than {MAX_PASSPHRASE_BYTES} bytes"
        )));
    }
    String::from_utf8(line).map_err(|_| bad("its first line is not valid UTF-8".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Cheap enough for debug builds; never for real keys.
    const FAST: KdfParams = KdfParams {
        m_cost_kib: 8,
        t_cost: 1,
        p_cost: 1,
    };

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempHome(PathBuf);

    impl TempHome {
        fn new(label: &str) -> TempHome {
            static COUNTER: AtomicU64 = AtomicU64::new(0);
            let unique = format!(
                "tessera-keystore-{label}-{}-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed),
                rand::rng().random::<u32>()
            );
            let path = std::env::temp_dir().join(unique);
            fs::create_dir_all(&path).unwrap();
            TempHome(path)
        }

        fn keystore(&self) -> Keystore {
            Keystore::open(&self.0)
        }
    }

    impl Drop for TempHome {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn edit_json(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
        let mut json: serde_json::Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
        edit(&mut json);
        fs::write(path, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
    }

    fn no_env() -> Result<Option<String>, KeystoreError> {
        Ok(None)
    }

    #[test]
    fn create_then_load_gives_the_same_address() {
        let home = TempHome::new("round-trip");
        let ks = home.keystore();
        let address = ks.create("alice", "correct horse", FAST).unwrap();
        assert!(address.to_string().starts_with("tsr1"));
        let keypair = ks.load("alice", "correct horse").unwrap();
        assert_eq!(keypair.address(), address);
        assert_eq!(ks.address("alice").unwrap(), address);
    }

    #[test]
    fn import_then_load_gives_the_same_secret() {
        let home = TempHome::new("import");
        let ks = home.keystore();
        let original = Keypair::from_seed(42);
        let address = ks.import("dev-0", &original, "pw", FAST).unwrap();
        assert_eq!(address, original.address());
        let loaded = ks.load("dev-0", "pw").unwrap();
        assert_eq!(loaded.secret_bytes(), original.secret_bytes());
    }

    #[test]
    fn file_has_the_documented_format() {
        let home = TempHome::new("format");
        let ks = home.keystore();
        let address = ks
            .import("alice", &Keypair::from_seed(1), "pw", FAST)
            .unwrap();
        let text = fs::read_to_string(ks.dir().join("alice.json")).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["version"], 1);
        assert_eq!(json["name"], "alice");
        assert_eq!(json["address"], address.to_string());
        assert_eq!(json["kdf"]["algorithm"], "argon2id");
        assert_eq!(json["kdf"]["m_cost_kib"], 8);
        assert_eq!(json["kdf"]["t_cost"], 1);
        assert_eq!(json["kdf"]["p_cost"], 1);
        assert_eq!(json["kdf"]["salt"].as_str().unwrap().len(), 2 * SALT_LEN);
        assert_eq!(json["cipher"]["algorithm"], "chacha20poly1305");
        assert_eq!(
            json["cipher"]["nonce"].as_str().unwrap().len(),
            2 * NONCE_LEN
        );
        assert_eq!(
            json["cipher"]["ciphertext"].as_str().unwrap().len(),
            2 * CIPHERTEXT_LEN
        );
        let secret_hex = hex::encode(Keypair::from_seed(1).secret_bytes());
        assert!(!text.contains(&secret_hex), "secret stored in the clear");
    }

    #[test]
    fn the_same_key_twice_gets_fresh_salt_and_nonce() {
        let home = TempHome::new("fresh");
        let ks = home.keystore();
        let key = Keypair::from_seed(5);
        ks.import("a", &key, "pw", FAST).unwrap();
        ks.import("b", &key, "pw", FAST).unwrap();
        let read = |n: &str| -> serde_json::Value {
            serde_json::from_slice(&fs::read(ks.dir().join(format!("{n}.json"))).unwrap()).unwrap()
        };
        let (a, b) = (read("a"), read("b"));
        assert_ne!(a["kdf"]["salt"], b["kdf"]["salt"]);
        assert_ne!(a["cipher"]["nonce"], b["cipher"]["nonce"]);
        assert_ne!(a["cipher"]["ciphertext"], b["cipher"]["ciphertext"]);
    }

    #[test]
    fn wrong_passphrase_is_reported_with_a_hint() {
        let home = TempHome::new("wrong-pass");
        let ks = home.keystore();
        ks.create("alice", "right", FAST).unwrap();
        let err = ks.load("alice", "wrong").unwrap_err();
        assert!(
            matches!(&err, KeystoreError::WrongPassphrase { name } if name == "alice"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "wrong passphrase for key 'alice' (try again, or check TESSERA_PASSPHRASE / --passphrase-file)"
        );
    }

    #[test]
    fn tampered_ciphertext_fails_to_decrypt() {
        let home = TempHome::new("tamper");
        let ks = home.keystore();
        ks.create("alice", "pw", FAST).unwrap();
        edit_json(&ks.dir().join("alice.json"), |json| {
            let ct = json["cipher"]["ciphertext"].as_str().unwrap().to_string();
            let flipped = if ct.starts_with('0') { "1" } else { "0" };
            json["cipher"]["ciphertext"] = format!("{flipped}{}", &ct[1..]).into();
        });
        let err = ks.load("alice", "pw").unwrap_err();
        assert!(
            matches!(err, KeystoreError::WrongPassphrase { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn tampered_nonce_or_salt_fails_to_decrypt() {
        for field in [("cipher", "nonce"), ("kdf", "salt")] {
            let home = TempHome::new("tamper-params");
            let ks = home.keystore();
            ks.create("alice", "pw", FAST).unwrap();
            edit_json(&ks.dir().join("alice.json"), |json| {
                let len = json[field.0][field.1].as_str().unwrap().len();
                json[field.0][field.1] = "ab".repeat(len / 2).into();
            });
            let err = ks.load("alice", "pw").unwrap_err();
            assert!(
                matches!(err, KeystoreError::WrongPassphrase { .. }),
                "{field:?}: {err:?}"
            );
        }
    }

    #[test]
    fn an_edited_address_fails_to_decrypt() {
        let home = TempHome::new("edit-address");
        let ks = home.keystore();
        ks.create("alice", "pw", FAST).unwrap();
        let path = ks.dir().join("alice.json");
        let other = Keypair::from_seed(9).address();
        edit_json(&path, |json| json["address"] = other.to_string().into());
        // Listing shows what the file claims; using the key reveals the edit.
        assert_eq!(ks.address("alice").unwrap(), other);
        let err = ks.load("alice", "pw").unwrap_err();
        assert!(
            matches!(err, KeystoreError::WrongPassphrase { .. }),
            "{err:?}"
        );

        edit_json(&path, |json| json["address"] = "tsr1notanaddress".into());
        let err = ks.load("alice", "pw").unwrap_err();
        assert!(matches!(err, KeystoreError::Corrupt { .. }), "{err:?}");
    }

    #[test]
    fn a_file_copied_under_another_name_fails() {
        let home = TempHome::new("copy");
        let ks = home.keystore();
        ks.create("alice", "pw", FAST).unwrap();
        let (from, to) = (ks.dir().join("alice.json"), ks.dir().join("bob.json"));
        fs::copy(&from, &to).unwrap();
        // Name inside still says alice: refused before decrypting.
        let err = ks.load("bob", "pw").unwrap_err();
        assert!(
            matches!(&err, KeystoreError::Corrupt { reason, .. } if reason.contains("'alice'")),
            "{err:?}"
        );
        // Name inside edited to match: the associated data no longer does.
        edit_json(&to, |json| json["name"] = "bob".into());
        let err = ks.load("bob", "pw").unwrap_err();
        assert!(
            matches!(err, KeystoreError::WrongPassphrase { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn a_duplicate_name_is_refused_and_the_original_kept() {
        let home = TempHome::new("duplicate");
        let ks = home.keystore();
        let first = ks.create("alice", "pw", FAST).unwrap();
        let err = ks.create("alice", "other", FAST).unwrap_err();
        assert!(
            matches!(err, KeystoreError::AlreadyExists { .. }),
            "{err:?}"
        );
        let err = ks
            .import("alice", &Keypair::from_seed(2), "pw", FAST)
            .unwrap_err();
        assert!(
            matches!(err, KeystoreError::AlreadyExists { .. }),
            "{err:?}"
        );
        assert_eq!(ks.load("alice", "pw").unwrap().address(), first);
    }

    #[test]
    fn the_final_link_never_replaces_a_file() {
        // The race `import`'s early check cannot see: the name appears after it.
        let home = TempHome::new("link");
        let dir = home.0.join("keys");
        create_private_dir(&dir).unwrap();
        let path = dir.join("alice.json");
        fs::write(&path, b"original").unwrap();
        let err = write_new_file_atomically(&dir, &path, "alice", b"new").unwrap_err();
        assert!(
            matches!(err, KeystoreError::AlreadyExists { .. }),
            "{err:?}"
        );
        assert_eq!(fs::read(&path).unwrap(), b"original");
        let leftovers: Vec<_> = fs::read_dir(&dir).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temporary file left behind");
    }

    #[test]
    fn bad_names_are_refused() {
        let home = TempHome::new("names");
        let ks = home.keystore();
        let too_long = "a".repeat(MAX_NAME_LEN + 1);
        let longest = "z".repeat(MAX_NAME_LEN);
        for name in [
            "",
            "a b",
            "../evil",
            "a/b",
            "a.json",
            ".hidden",
            "ünï",
            "tab\t",
            "nul\0",
            too_long.as_str(),
        ] {
            let err = ks.create(name, "pw", FAST).unwrap_err();
            assert!(
                matches!(err, KeystoreError::InvalidName { .. }),
                "{name:?}: {err:?}"
            );
            let err = ks.load(name, "pw").unwrap_err();
            assert!(
                matches!(err, KeystoreError::InvalidName { .. }),
                "{name:?}: {err:?}"
            );
        }
        assert!(!ks.dir().exists(), "nothing may be written for a bad name");
        for name in ["a", "Alice_2", "cold-storage", longest.as_str()] {
            validate_name(name).unwrap();
        }
    }

    #[test]
    fn an_empty_passphrase_is_refused_when_creating() {
        let home = TempHome::new("empty");
        let ks = home.keystore();
        let err = ks.create("alice", "", FAST).unwrap_err();
        assert!(
            matches!(err, KeystoreError::EmptyPassphrase { .. }),
            "{err:?}"
        );
        assert!(!ks.dir().join("alice.json").exists());
    }

    #[test]
    fn list_is_sorted_and_needs_no_passphrase() {
        let home = TempHome::new("list");
        let ks = home.keystore();
        assert!(
            ks.list().unwrap().is_empty(),
            "missing dir is an empty keystore"
        );
        let mut expected = Vec::new();
        for (seed, name) in [(1, "zed"), (2, "alice"), (3, "Bob"), (4, "mallory-2")] {
            let key = Keypair::from_seed(seed);
            ks.import(name, &key, &format!("pw{seed}"), FAST).unwrap();
            expected.push((name.to_string(), key.address()));
        }
        fs::write(ks.dir().join(".half-written.json.tmp-1-2"), b"{").unwrap();
        fs::write(ks.dir().join("notes.txt"), b"hello").unwrap();
        expected.sort();
        assert_eq!(ks.list().unwrap(), expected);
    }

    #[test]
    fn list_reports_a_damaged_key_file() {
        let home = TempHome::new("list-corrupt");
        let ks = home.keystore();
        ks.create("alice", "pw", FAST).unwrap();
        fs::write(ks.dir().join("broken.json"), b"not json").unwrap();
        let err = ks.list().unwrap_err();
        assert!(
            matches!(&err, KeystoreError::Corrupt { path, .. } if path.ends_with("broken.json")),
            "{err:?}"
        );
    }

    #[test]
    fn missing_key_says_how_to_create_one() {
        let home = TempHome::new("missing");
        let ks = home.keystore();
        let err = ks.load("bob", "pw").unwrap_err();
        assert!(matches!(err, KeystoreError::NotFound { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.starts_with("no key named 'bob' in "), "{text}");
        assert!(
            text.contains("`tessera keys new bob`") && text.contains("`tessera keys list`"),
            "{text}"
        );
        assert!(matches!(
            ks.address("bob"),
            Err(KeystoreError::NotFound { .. })
        ));
    }

    #[test]
    fn hostile_or_unknown_files_are_refused_before_key_derivation() {
        let home = TempHome::new("hostile");
        let ks = home.keystore();
        ks.create("alice", "pw", FAST).unwrap();
        let path = ks.dir().join("alice.json");
        let original = fs::read(&path).unwrap();
        type Edit = fn(&mut serde_json::Value);
        let cases: [(&str, Edit); 5] = [
            ("version", |j| j["version"] = 2.into()),
            ("m_cost", |j| j["kdf"]["m_cost_kib"] = u32::MAX.into()),
            ("p_cost", |j| j["kdf"]["p_cost"] = 0.into()),
            ("algorithm", |j| j["kdf"]["algorithm"] = "scrypt".into()),
            ("salt", |j| j["kdf"]["salt"] = "zz".into()),
        ];
        for (label, edit) in cases {
            fs::write(&path, &original).unwrap();
            edit_json(&path, edit);
            let err = ks.load("alice", "pw").unwrap_err();
            assert!(
                matches!(err, KeystoreError::Corrupt { .. }),
                "{label}: {err:?}"
            );
        }
        fs::write(&path, vec![b' '; MAX_KEY_FILE_BYTES + 1]).unwrap();
        let err = ks.load("alice", "pw").unwrap_err();
        assert!(
            matches!(&err, KeystoreError::Corrupt { reason, .. } if reason.contains("larger")),
            "{err:?}"
        );
    }

    #[test]
    fn kdf_params_are_validated() {
        assert_eq!(
            KdfParams::default(),
            KdfParams {
                m_cost_kib: 19_456,
                t_cost: 2,
                p_cost: 1
            }
        );
        KdfParams::default().validate().unwrap();
        FAST.validate().unwrap();
        for bad in [
            KdfParams {
                m_cost_kib: 4,
                ..FAST
            },
            KdfParams { t_cost: 0, ..FAST },
            KdfParams { p_cost: 0, ..FAST },
            KdfParams {
                m_cost_kib: 8,
                p_cost: 2,
                ..FAST
            },
            KdfParams {
                m_cost_kib: KdfParams::MAX_M_COST_KIB + 1,
                ..FAST
            },
            KdfParams {
                t_cost: KdfParams::MAX_T_COST + 1,
                ..FAST
            },
        ] {
            assert!(
                matches!(bad.validate(), Err(KeystoreError::InvalidKdfParams { .. })),
                "{bad:?}"
            );
        }
        let home = TempHome::new("bad-kdf");
        let err = home
            .keystore()
            .create("alice", "pw", KdfParams { t_cost: 0, ..FAST })
            .unwrap_err();
        assert!(
            matches!(err, KeystoreError::InvalidKdfParams { .. }),
            "{err:?}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn files_are_0600_and_the_dir_0700() {
        use std::os::unix::fs::PermissionsExt;
        let home = TempHome::new("perms");
        let ks = home.keystore();
        ks.create("alice", "pw", FAST).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(ks.dir()), 0o700);
        assert_eq!(mode(&ks.dir().join("alice.json")), 0o600);
    }

    #[test]
    fn passphrase_file_gives_its_first_line() {
        let home = TempHome::new("pass-file");
        let path = home.0.join("pass");
        let cases = [
            ("secret\n", "secret"),
            ("secret\r\n", "secret"),
            ("secret", "secret"),
            ("two words \nsecond line\n", "two words "),
        ];
        for (content, expected) in cases {
            fs::write(&path, content).unwrap();
            assert_eq!(
                read_passphrase("unused: ", Some(&path), true).unwrap(),
                expected,
                "{content:?}"
            );
        }
    }

    #[test]
    fn passphrase_file_problems_are_explained() {
        let home = TempHome::new("pass-file-bad");
        let path = home.0.join("pass");
        let read = |p: &Path| read_passphrase("unused: ", Some(p), false);
        assert!(matches!(
            read(&home.0.join("absent")),
            Err(KeystoreError::Io { .. })
        ));
        for empty in ["", "\n", "\r\nsecond\n"] {
            fs::write(&path, empty).unwrap();
            assert!(
                matches!(read(&path), Err(KeystoreError::EmptyPassphrase { .. })),
                "{empty:?}"
            );
        }
        fs::write(&path, "x".repeat(MAX_PASSPHRASE_BYTES)).unwrap();
        assert_eq!(read(&path).unwrap().len(), MAX_PASSPHRASE_BYTES);
        fs::write(&path, "x".repeat(MAX_PASSPHRASE_BYTES + 1)).unwrap();
        assert!(matches!(
            read(&path),
            Err(KeystoreError::BadPassphraseFile { .. })
        ));
        fs::write(&path, b"\xff\xfe\n").unwrap();
        assert!(matches!(
            read(&path),
            Err(KeystoreError::BadPassphraseFile { .. })
        ));
    }

    #[test]
    fn passphrase_sources_have_a_precedence() {
        let home = TempHome::new("precedence");
        let path = home.0.join("pass");
        fs::write(&path, "from-file\n").unwrap();
        let env = || Ok(Some("from-env".to_string()));
        let mut never = |_: &str| -> io::Result<String> { panic!("prompted") };
        assert_eq!(
            resolve_passphrase("p: ", Some(&path), env, true, &mut never).unwrap(),
            "from-file"
        );
        assert_eq!(
            resolve_passphrase("p: ", None, env, true, &mut never).unwrap(),
            "from-env"
        );
        let mut typed = |_: &str| -> io::Result<String> { Ok("typed".to_string()) };
        assert_eq!(
            resolve_passphrase("p: ", None, no_env, false, &mut typed).unwrap(),
            "typed"
        );
        let empty_env = || Ok(Some(String::new()));
        let err = resolve_passphrase("p: ", None, empty_env, false, &mut never).unwrap_err();
        assert!(
            matches!(err, KeystoreError::EmptyPassphrase { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn prompt_confirms_when_asked() {
        let mut prompts = Vec::new();
        let mut same = |p: &str| -> io::Result<String> {
            prompts.push(p.to_string());
            Ok("hunter2".to_string())
        };
        assert_eq!(
            resolve_passphrase("New passphrase: ", None, no_env, true, &mut same).unwrap(),
            "hunter2"
        );
        assert_eq!(prompts, ["New passphrase: ", CONFIRM_PROMPT]);

        let mut answers = vec!["one".to_string(), "two".to_string()].into_iter();
        let mut differ = |_: &str| -> io::Result<String> { Ok(answers.next().unwrap()) };
        let err = resolve_passphrase("p: ", None, no_env, true, &mut differ).unwrap_err();
        assert!(matches!(err, KeystoreError::PassphraseMismatch), "{err:?}");
        assert_eq!(
            err.to_string().split(':').next(),
            Some("passphrases do not match")
        );

        let mut blank = |_: &str| -> io::Result<String> { Ok(String::new()) };
        let err = resolve_passphrase("p: ", None, no_env, true, &mut blank).unwrap_err();
        assert!(
            matches!(err, KeystoreError::EmptyPassphrase { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn no_terminal_says_what_to_use_instead() {
        let mut no_tty = |_: &str| -> io::Result<String> {
            Err(io::Error::other("No such device or address (os error 6)"))
        };
        let err = resolve_passphrase("p: ", None, no_env, false, &mut no_tty).unwrap_err();
        assert!(matches!(err, KeystoreError::NoPassphrase { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("--passphrase-file") && text.contains("TESSERA_PASSPHRASE"),
            "{text}"
        );
    }
}
