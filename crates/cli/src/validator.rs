//! `tessera node --config FILE`: a validator of a BFT network, configured by a TOML file.
//!
//! Relative paths in the file are relative to the file's directory. Example (what
//! `tessera localnet` writes):
//!
//! ```toml
//! data_dir = "data"
//! genesis = "../genesis.json"
//! key_file = "validator.key"
//! rpc_listen = "127.0.0.1:26657"
//! p2p_listen = "127.0.0.1:27657"
//!
//! [consensus]            # optional; these are the defaults
//! leader_timeout_ms = 1000
//! certification_timeout_ms = 2000
//! timeout_retry_ms = 5000
//! fetch_timeout_ms = 1000
//! empty_block_wait_ms = 300   # an idle leader waits this long for a transaction
//! max_block_bytes = 4194304
//!
//! [p2p]                  # optional
//! local_network = false  # true: every peer is on this machine or a trusted LAN (private
//!                        # IPs allowed, fast redials, many handshakes per IP); false: the
//!                        # production limits (one handshake per IP per 5 s, public IPs
//!                        # only, misbehaving peers blocked for 4 h)
//!
//! [[validators]]         # every validator, this one included
//! public_key = "<64 hex characters>"
//! p2p = "127.0.0.1:27657"
//! rpc = "http://127.0.0.1:26657"
//! ```
//!
//! `[[validators]]` is the bootstrap address book: each epoch's members are dialled at the
//! p2p address they registered on chain (`tessera validator register`), and the config's
//! address is the fallback.
//!
//! The key file holds the validator's 32-byte ed25519 secret as hex, readable by its owner
//! only (mode 0600). That is fine for a localnet on one machine; a validator holding real
//! stake wants a remote signer or an encrypted key, which is not built yet.

use anyhow::{bail, Context};
use commonware_codec::{DecodeExt as _, Encode as _};
use commonware_cryptography::{
    ed25519::{PrivateKey, PublicKey},
    Signer as _,
};
use commonware_runtime::{Runner as _, Supervisor as _};
use serde::{Deserialize, Serialize};
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};
use tessera_chain::{Chain, ChainConfig};
use tessera_consensus::{start_authenticated, NodeConfig, P2pConfig};
use tessera_rpc::server::{router, AppState};
use tessera_state::Genesis;

/// Most validators a config may list (a bound on the peer set and on start-up work).
pub const MAX_VALIDATORS: usize = 128;
/// Prefix of the consensus engine's storage partitions (the chain's are `tessera-*`).
const CONSENSUS_PARTITION_PREFIX: &str = "consensus";

/// The config file as written.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorConfigFile {
    /// `validator` (the default) or `full` (see `crate::full_node`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Chain and consensus data.
    pub data_dir: PathBuf,
    /// Content-addressed blobs this node serves (default: `blobs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob_dir: Option<PathBuf>,
    pub genesis: PathBuf,
    pub key_file: PathBuf,
    pub rpc_listen: SocketAddr,
    pub p2p_listen: SocketAddr,
    #[serde(default)]
    pub consensus: ConsensusSection,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p2p: Option<P2pSection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blobs: Option<BlobsSection>,
    pub validators: Vec<ValidatorEntry>,
}

/// The node's blob store.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlobsSection {
    /// Take uploads over the API (`PUT /v1/blob-blocks/…`). Off by default: uploads cost
    /// the disk and I/O a validator's chain needs; turn it on for a node meant to host
    /// model files.
    pub accept_uploads: bool,
    /// Most GiB the blob store may hold.
    pub max_gib: u64,
}

impl Default for BlobsSection {
    fn default() -> Self {
        Self {
            accept_uploads: false,
            max_gib: DEFAULT_BLOB_QUOTA_GIB,
        }
    }
}

/// Default blob quota for every node kind.
pub const DEFAULT_BLOB_QUOTA_GIB: u64 = 100;

impl BlobsSection {
    pub fn quota_bytes(&self) -> anyhow::Result<u64> {
        self.max_gib
            .checked_mul(1 << 30)
            .filter(|b| *b > 0)
            .ok_or_else(|| anyhow::anyhow!("`[blobs] max_gib` must be between 1 and 2^34"))
    }

    /// A config file's section (the defaults if absent), checked.
    pub fn checked(section: Option<BlobsSection>) -> anyhow::Result<BlobsSection> {
        let section = section.unwrap_or_default();
        section.quota_bytes()?;
        Ok(section)
    }

    /// Open the blob store in `dir` under this section's quota.
    pub fn open_store(&self, dir: &Path) -> anyhow::Result<tessera_blobs::BlobStore> {
        let quota_bytes = self.quota_bytes()?;
        tessera_blobs::BlobStore::open(dir)
            .and_then(|store| store.with_quota(quota_bytes))
            .with_context(|| format!("cannot open the blob store in {}", dir.display()))
    }
}

/// p2p settings.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct P2pSection {
    /// Every peer is on this machine or a trusted LAN (`tessera localnet` sets it): private
    /// IPs, fast redials and many handshakes from one IP. Off, the production limits apply.
    pub local_network: bool,
}

/// Consensus timeouts and limits; the same on every validator.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsensusSection {
    pub leader_timeout_ms: u64,
    pub certification_timeout_ms: u64,
    pub timeout_retry_ms: u64,
    pub fetch_timeout_ms: u64,
    pub empty_block_wait_ms: u64,
    pub max_block_bytes: usize,
}

impl Default for ConsensusSection {
    fn default() -> Self {
        ConsensusSection {
            leader_timeout_ms: 1_000,
            certification_timeout_ms: 2_000,
            timeout_retry_ms: 5_000,
            fetch_timeout_ms: 1_000,
            empty_block_wait_ms: 300,
            max_block_bytes: 4 * 1024 * 1024,
        }
    }
}

/// One member of the validator set.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorEntry {
    /// ed25519 public key, hex.
    pub public_key: String,
    /// Address its p2p network listens on.
    pub p2p: SocketAddr,
    /// Its HTTP API, for people and tools (the node does not use it).
    pub rpc: String,
}

/// A checked configuration, ready to run.
pub struct ValidatorSettings {
    pub data_dir: PathBuf,
    pub blob_dir: PathBuf,
    pub blobs: BlobsSection,
    pub genesis: Genesis,
    pub rpc_listen: SocketAddr,
    pub p2p: P2pConfig,
    pub node: NodeConfig,
}

impl ValidatorConfigFile {
    pub fn load(path: &Path) -> anyhow::Result<ValidatorConfigFile> {
        load_toml(path)
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        save_toml(self, path)
    }

    /// Every check, once, with errors that say what to fix. `path` is the file's own path
    /// (relative paths are resolved against its directory).
    pub fn validate(self, path: &Path) -> anyhow::Result<ValidatorSettings> {
        if let Some(role) = self.role.as_deref().filter(|r| *r != "validator") {
            bail!("`role` is {role:?}: use \"validator\" or \"full\"");
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &Path| base.join(p);
        let genesis = read_genesis(&resolve(&self.genesis))?;
        let signer = read_key_file(&resolve(&self.key_file))?;
        let me = signer.public_key();
        let peers = parse_validators(&self.validators)?;
        match peers.iter().find(|(k, _)| k == &me) {
            None => bail!(
                "the key in {} (public key {}) is not in `validators`: add it, or use that validator's key file",
                resolve(&self.key_file).display(),
                hex::encode(me.encode())
            ),
            Some((_, addr)) if addr.port() != self.p2p_listen.port() => bail!(
                "`p2p_listen` ({}) and this validator's entry in `validators` ({addr}) disagree on the port",
                self.p2p_listen
            ),
            Some(_) => {}
        }
        if self.rpc_listen == self.p2p_listen {
            bail!("`rpc_listen` and `p2p_listen` must differ");
        }

        let c = &self.consensus;
        let mut node = NodeConfig::new(
            genesis.chain_id.as_str().as_bytes(),
            CONSENSUS_PARTITION_PREFIX,
            signer,
            peers.iter().map(|(k, _)| k.clone()).collect(),
        );
        node.leader_timeout = Duration::from_millis(c.leader_timeout_ms);
        node.certification_timeout = Duration::from_millis(c.certification_timeout_ms);
        node.timeout_retry = Duration::from_millis(c.timeout_retry_ms);
        node.fetch_timeout = Duration::from_millis(c.fetch_timeout_ms);
        node.empty_block_wait = Duration::from_millis(c.empty_block_wait_ms);
        node.max_block_bytes = c.max_block_bytes;
        node.validate()
            .map_err(|e| anyhow::anyhow!("`[consensus]`: {e}"))?;

        Ok(ValidatorSettings {
            data_dir: resolve(&self.data_dir),
            blob_dir: resolve(self.blob_dir.as_deref().unwrap_or(Path::new("blobs"))),
            blobs: BlobsSection::checked(self.blobs)?,
            genesis,
            rpc_listen: self.rpc_listen,
            p2p: P2pConfig {
                listen: self.p2p_listen,
                peers,
                local_network: self.p2p.unwrap_or_default().local_network,
            },
            node,
        })
    }
}

/// Read the genesis file a config names.
pub(crate) fn read_genesis(path: &Path) -> anyhow::Result<Genesis> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("`genesis`: cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("`genesis`: {} is not a genesis file", path.display()))
}

/// A config's `validators`: 1 to [`MAX_VALIDATORS`] entries, each key valid and listed
/// once, each p2p address listed once.
pub(crate) fn parse_validators(
    entries: &[ValidatorEntry],
) -> anyhow::Result<Vec<(PublicKey, SocketAddr)>> {
    if entries.is_empty() || entries.len() > MAX_VALIDATORS {
        bail!(
            "`validators`: list between 1 and {MAX_VALIDATORS} validators (found {})",
            entries.len()
        );
    }
    let mut peers: Vec<(PublicKey, SocketAddr)> = Vec::with_capacity(entries.len());
    for (i, v) in entries.iter().enumerate() {
        let key = parse_public_key(&v.public_key)
            .with_context(|| format!("`validators[{i}].public_key`"))?;
        if peers.iter().any(|(k, _)| k == &key) {
            bail!(
                "`validators[{i}]`: public key {} is listed twice",
                v.public_key
            );
        }
        if peers.iter().any(|(_, a)| a == &v.p2p) {
            bail!("`validators[{i}]`: p2p address {} is listed twice", v.p2p);
        }
        peers.push((key, v.p2p));
    }
    Ok(peers)
}

/// Read a TOML config file.
pub(crate) fn load_toml<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{} is not a valid config", path.display()))
}

/// Write a TOML config file.
pub(crate) fn save_toml<T: Serialize>(value: &T, path: &Path) -> anyhow::Result<()> {
    let text = toml::to_string_pretty(value)?;
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// The Tokio runtime of a networked node, storing under `data_dir` (created if missing).
pub(crate) fn node_runner(data_dir: &Path) -> anyhow::Result<commonware_runtime::tokio::Runner> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let config = commonware_runtime::tokio::Config::new().with_storage_directory(data_dir);
    Ok(commonware_runtime::tokio::Runner::new(config))
}

pub fn parse_public_key(text: &str) -> anyhow::Result<PublicKey> {
    let bytes = hex::decode(text.trim()).context("not hex")?;
    PublicKey::decode(bytes).map_err(|e| anyhow::anyhow!("not an ed25519 public key: {e}"))
}

pub fn public_key_hex(key: &PublicKey) -> String {
    hex::encode(key.encode())
}

/// Write a new secret key file readable by its owner only.
pub fn write_key_file(path: &Path, key: &PrivateKey) -> anyhow::Result<()> {
    use std::io::Write as _;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create key file {}", path.display()))?;
    writeln!(file, "{}", hex::encode(key.encode()))?;
    file.sync_all()?;
    Ok(())
}

/// Read a key file written by [`write_key_file`], refusing one others can read.
pub fn read_key_file(path: &Path) -> anyhow::Result<PrivateKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("`key_file`: cannot read {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            bail!(
                "`key_file`: {} is readable by other users (mode {:o}): run `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
    }
    let bytes = hex::decode(text.trim())
        .with_context(|| format!("`key_file`: {} is not hex", path.display()))?;
    PrivateKey::decode(bytes).map_err(|e| {
        anyhow::anyhow!(
            "`key_file`: {} is not a 32-byte ed25519 secret: {e}",
            path.display()
        )
    })
}

/// A validator's finalization certificates, served to full nodes.
struct Finality(tessera_consensus::FinalityReader);

impl tessera_rpc::server::FinalitySource for Finality {
    fn finalization(
        &self,
        height: u64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<Vec<u8>>> + Send + '_>> {
        Box::pin(self.0.finalization(height))
    }
}

/// What every networked node opens first: its chain, its API listener, its blob store.
pub(crate) async fn open_node(
    context: &commonware_runtime::tokio::Context,
    genesis: &Genesis,
    data_dir: &Path,
    blob_dir: &Path,
    blobs: &BlobsSection,
    rpc_listen: SocketAddr,
) -> anyhow::Result<(
    Arc<Chain<commonware_runtime::tokio::Context>>,
    tokio::net::TcpListener,
    tessera_blobs::BlobStore,
)> {
    let chain = Chain::open(context.child("chain"), genesis, ChainConfig::default())
        .await
        .with_context(|| format!("cannot open the chain data in {}", data_dir.display()))?;
    let listener = tokio::net::TcpListener::bind(rpc_listen)
        .await
        .with_context(|| format!("`rpc_listen`: cannot listen on {rpc_listen}"))?;
    let blobs = blobs.open_store(blob_dir)?;
    Ok((Arc::new(chain), listener, blobs))
}

/// Run a validator until Ctrl-C (or until its consensus stops with an error).
pub fn run(config_path: &Path) -> anyhow::Result<()> {
    let settings = ValidatorConfigFile::load(config_path)?.validate(config_path)?;
    node_runner(&settings.data_dir)?.start(|context| async move {
        let ValidatorSettings {
            data_dir,
            blob_dir,
            blobs: blob_settings,
            genesis,
            rpc_listen,
            p2p,
            node,
        } = settings;
        let (chain, listener, blobs) = open_node(
            &context,
            &genesis,
            &data_dir,
            &blob_dir,
            &blob_settings,
            rpc_listen,
        )
        .await?;
        let p2p_listen = p2p.listen;
        let me = public_key_hex(&node.signer.public_key());
        let validators = node.validators.len();
        let started = start_authenticated(context.child("validator"), node, chain.clone(), p2p)
            .await
            .context("cannot start consensus")?;
        let app = router(
            AppState::new(chain.clone(), "validator")
                .with_blobs(Arc::new(blobs), blob_settings.accept_uploads)
                .with_finality(Arc::new(Finality(started.node.finality.clone()))),
        );
        let server = tessera_http::spawn(listener, app, tessera_http::Limits::default());
        eprintln!(
            "tessera validator {me}: chain {} at height {}, one of {validators} validators; API on http://{rpc_listen}, p2p on {p2p_listen}",
            genesis.chain_id,
            chain.head().height
        );
        eprintln!("press Ctrl-C to stop");
        let mut committer = started.node.committer;
        let outcome = tokio::select! {
            _ = crate::signals::shutdown() => {
                eprintln!("stopping");
                Ok(())
            }
            done = &mut committer => match done {
                Ok(Ok(())) => Err(anyhow::anyhow!("the block committer stopped")),
                Ok(Err(e)) => Err(anyhow::Error::new(e).context("the block committer stopped")),
                Err(e) => Err(anyhow::anyhow!("the block committer stopped: {e}")),
            },
        };
        let _ = server.stop().await;
        started.node.orchestrator.abort();
        started.node.marshal.abort();
        started.node.broadcast.abort();
        started.network.abort();
        outcome
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_chain::genesis::dev_genesis;

    /// A directory with a genesis, validator keys 0..n (key 0 is this node's) and a
    /// config listing them.
    struct Fixture {
        dir: PathBuf,
        config: ValidatorConfigFile,
    }

    impl Fixture {
        fn new(name: &str, n: u64) -> Fixture {
            let dir = std::env::temp_dir().join(format!(
                "tessera-validator-config-{name}-{}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join("genesis.json"),
                serde_json::to_vec(&dev_genesis(0, &[])).unwrap(),
            )
            .unwrap();
            let keys: Vec<PrivateKey> = (0..n).map(PrivateKey::from_seed).collect();
            write_key_file(&dir.join("validator.key"), &keys[0]).unwrap();
            let validators = keys
                .iter()
                .enumerate()
                .map(|(i, k)| ValidatorEntry {
                    public_key: public_key_hex(&k.public_key()),
                    p2p: format!("127.0.0.1:{}", 27_000 + i).parse().unwrap(),
                    rpc: format!("http://127.0.0.1:{}", 26_000 + i),
                })
                .collect();
            let config = ValidatorConfigFile {
                role: None,
                data_dir: "data".into(),
                blob_dir: None,
                genesis: "genesis.json".into(),
                key_file: "validator.key".into(),
                rpc_listen: "127.0.0.1:26000".parse().unwrap(),
                p2p_listen: "127.0.0.1:27000".parse().unwrap(),
                consensus: ConsensusSection::default(),
                p2p: None,
                blobs: None,
                validators,
            };
            Fixture { dir, config }
        }

        /// Save `config` (as TOML, through the same loader as the node) and validate it.
        fn check(&self, config: &ValidatorConfigFile) -> anyhow::Result<ValidatorSettings> {
            let path = self.dir.join("config.toml");
            config.save(&path)?;
            ValidatorConfigFile::load(&path)?.validate(&path)
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn error_of(result: anyhow::Result<ValidatorSettings>) -> String {
        match result {
            Ok(_) => panic!("the config was accepted"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn a_written_config_validates_with_paths_from_its_directory() {
        let f = Fixture::new("ok", 4);
        let settings = f.check(&f.config).unwrap();
        assert_eq!(settings.data_dir, f.dir.join("data"));
        assert_eq!(settings.blob_dir, f.dir.join("blobs"));
        assert_eq!(settings.node.validators.len(), 4);
        assert_eq!(settings.p2p.peers.len(), 4);
        assert_eq!(settings.node.leader_timeout, Duration::from_secs(1));
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        let f = Fixture::new("unknown", 1);
        let path = f.dir.join("config.toml");
        f.config.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("leader_timeout = 5\n{text}")).unwrap();
        let err = format!("{:#}", ValidatorConfigFile::load(&path).unwrap_err());
        assert!(err.contains("leader_timeout"), "{err}");
    }

    #[test]
    fn a_key_outside_the_validator_set_is_refused() {
        let f = Fixture::new("outsider", 4);
        let mut config = f.config.clone();
        config.validators.remove(0);
        let err = error_of(f.check(&config));
        assert!(err.contains("is not in `validators`"), "{err}");
    }

    #[test]
    fn duplicate_addresses_and_bad_timeouts_are_refused() {
        let f = Fixture::new("dup", 4);
        let mut config = f.config.clone();
        config.validators[2].p2p = config.validators[1].p2p;
        assert!(error_of(f.check(&config)).contains("listed twice"));

        let mut config = f.config.clone();
        config.consensus.certification_timeout_ms = config.consensus.leader_timeout_ms;
        assert!(error_of(f.check(&config)).contains("certification_timeout"));

        let mut config = f.config.clone();
        config.p2p_listen = "127.0.0.1:27003".parse().unwrap();
        assert!(error_of(f.check(&config)).contains("disagree on the port"));
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let f = Fixture::new("perms", 1);
        let key = f.dir.join("validator.key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(error_of(f.check(&f.config)).contains("chmod 600"));
    }
}
