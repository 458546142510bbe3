//! The typed client of the node's API. Account queries are verified: each proof must
//! check against the reported state root and prove exactly the reported values.

use crate::{api::*, blobs::BlobInfo};
use std::time::Duration;
use tessera_blobs::{BlobError, BlobStore, Cid};
use tessera_state::{bank, staking};
use tessera_store::{verify_proof, StateProof};
use tessera_types::{Address, Amount, Block, Call, Hash, Keypair, SignedTransaction, Transaction};

/// A blob transfer failed at the node or in the local store.
#[derive(Debug, thiserror::Error)]
pub enum BlobTransferError {
    #[error(transparent)]
    Node(#[from] RpcError),
    #[error(transparent)]
    Local(#[from] BlobError),
}

/// The node the CLI talks to when none is given.
pub const DEFAULT_NODE_URL: &str = "http://127.0.0.1:26657";

#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("cannot reach a node at {url}: is it running? start one with `tessera node --dev`, or pass --node URL ({reason})")]
    Unreachable { url: String, reason: String },
    #[error("{message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error("the node's answer could not be read: {0}")]
    BadResponse(String),
    #[error("insufficient funds: {address} needs {needed} TSR (including the {fee} TSR fee), its balance is {balance} TSR")]
    InsufficientFunds {
        address: Address,
        needed: Amount,
        fee: Amount,
        balance: Amount,
    },
    #[error("cannot build the transaction: {0}")]
    BuildTx(String),
    #[error("the node's proof for {what} of {address} does not verify against state root {root}: do not trust this node ({reason})")]
    BadProof {
        what: &'static str,
        address: Address,
        root: Hash,
        reason: String,
    },
    #[error("transaction {id} was included but its call failed: {reason} (the fee was paid)")]
    CallFailed { id: Hash, reason: String },
    #[error("transaction {id} was not committed within {waited_s} s (still {status}): check it later with `tessera tx {id}`")]
    Timeout {
        id: Hash,
        waited_s: u64,
        status: String,
    },
}

impl RpcError {
    /// The API's stable error code, if the node answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            RpcError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

#[derive(Clone)]
pub struct RpcClient {
    base: String,
    http: reqwest::Client,
}

/// Which block to fetch.
#[derive(Clone, Debug)]
pub enum BlockId {
    Latest,
    Height(u64),
    Hash(Hash),
}

impl std::str::FromStr for BlockId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "latest" {
            return Ok(BlockId::Latest);
        }
        if let Ok(h) = s.parse::<u64>() {
            return Ok(BlockId::Height(h));
        }
        s.parse::<Hash>()
            .map(BlockId::Hash)
            .map_err(|_| format!("{s:?} is not `latest`, a height, or a block hash"))
    }
}

impl RpcClient {
    pub fn new(url: &str) -> RpcClient {
        RpcClient {
            base: url.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                // Below the server's 10 s idle limit (`tessera_http::Limits`), so a pooled
                // connection is dropped here before the server closes it under a request.
                .pool_idle_timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
        }
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    async fn read<T: serde::de::DeserializeOwned>(
        &self,
        response: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<T, RpcError> {
        let response = response.map_err(|e| RpcError::Unreachable {
            url: self.base.clone(),
            reason: e.to_string(),
        })?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| RpcError::BadResponse(e.to_string()))?;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<ErrorBody>(&body) {
                Ok(err) => RpcError::Api {
                    status: status.as_u16(),
                    code: err.code,
                    message: err.message,
                },
                Err(_) => RpcError::Api {
                    status: status.as_u16(),
                    code: "http".into(),
                    message: format!("HTTP {status}: {}", String::from_utf8_lossy(&body)),
                },
            });
        }
        serde_json::from_slice(&body).map_err(|e| RpcError::BadResponse(e.to_string()))
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, RpcError> {
        let response = self.http.get(format!("{}{path}", self.base)).send().await;
        self.read(response).await
    }

    pub async fn status(&self) -> Result<StatusResponse, RpcError> {
        self.get("/v1/status").await
    }

    pub async fn submit(&self, tx: &SignedTransaction) -> Result<Hash, RpcError> {
        let body = SubmitTx {
            tx: hex::encode(tx.to_bytes()),
        };
        let response = self
            .http
            .post(format!("{}/v1/txs", self.base))
            .json(&body)
            .send()
            .await;
        let submitted: Submitted = self.read(response).await?;
        Ok(submitted.id)
    }

    pub async fn tx(&self, id: Hash) -> Result<TxResponse, RpcError> {
        self.get(&format!("/v1/txs/{id}")).await
    }

    /// Poll until `id` is committed (or rejected), up to `timeout`.
    pub async fn wait_for_tx(&self, id: Hash, timeout: Duration) -> Result<TxResponse, RpcError> {
        let start = std::time::Instant::now();
        loop {
            let status = self.tx(id).await?;
            match status {
                TxResponse::Committed { .. } | TxResponse::Rejected { .. } => return Ok(status),
                TxResponse::Pending | TxResponse::Unknown if start.elapsed() >= timeout => {
                    let label = if matches!(status, TxResponse::Pending) {
                        "pending"
                    } else {
                        "unknown"
                    };
                    return Err(RpcError::Timeout {
                        id,
                        waited_s: timeout.as_secs(),
                        status: label.into(),
                    });
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Balance, nonce and stake, with both proofs checked against the state root.
    pub async fn account(&self, address: &Address) -> Result<AccountResponse, RpcError> {
        let response: AccountResponse = self.get(&format!("/v1/accounts/{address}")).await?;
        verify_account(&response)?;
        Ok(response)
    }

    pub async fn block(&self, id: &BlockId) -> Result<BlockResponse, RpcError> {
        let path = match id {
            BlockId::Latest => "latest".to_string(),
            BlockId::Height(h) => h.to_string(),
            BlockId::Hash(h) => h.to_string(),
        };
        let block: BlockResponse = self.get(&format!("/v1/blocks/{path}")).await?;
        if block.header.hash() != block.hash {
            return Err(RpcError::BadResponse(format!(
                "block {} does not hash to its header",
                block.hash
            )));
        }
        Ok(block)
    }

    /// Block `height` and its finalization certificate (validators only). The block is
    /// decoded here; checking the certificate is the caller's job (it knows the validator
    /// set).
    pub async fn finality(&self, height: u64) -> Result<(Block, Vec<u8>), RpcError> {
        let response: FinalityResponse = self.get(&format!("/v1/finality/{height}")).await?;
        let bad = |what: &str| RpcError::BadResponse(format!("finality {height}: {what}"));
        let block_bytes = hex::decode(&response.block).map_err(|_| bad("block is not hex"))?;
        let block =
            tessera_types::codec::decode_bounded::<Block>("block", &block_bytes, 64 << 20, &())
                .map_err(|e| bad(&e.to_string()))?;
        if block.header.height != height {
            return Err(bad("the server sent another height"));
        }
        let certificate =
            hex::decode(&response.certificate).map_err(|_| bad("certificate is not hex"))?;
        Ok((block, certificate))
    }

    /// The current epoch's validator set as chosen by staking.
    pub async fn validators(&self) -> Result<staking::epochs::ValidatorSet, RpcError> {
        self.get("/v1/validators").await
    }

    /// Every registered model.
    pub async fn models(&self) -> Result<Vec<ModelSummary>, RpcError> {
        self.get("/v1/models").await
    }

    /// Every subnet, by id.
    pub async fn subnets(&self) -> Result<Vec<crate::subnets::SubnetSummary>, RpcError> {
        self.get("/v1/subnets").await
    }

    /// A subnet's metagraph, by name or id.
    pub async fn subnet(
        &self,
        id: &str,
    ) -> Result<tessera_state::subnets::metagraph::Metagraph, RpcError> {
        self.get(&format!("/v1/subnets/{id}")).await
    }

    /// The open overclaim reports, by deadline.
    pub async fn overclaims(&self) -> Result<Vec<crate::disputes::OverclaimView>, RpcError> {
        self.get("/v1/overclaims").await
    }

    /// One overclaim report, open or decided.
    pub async fn overclaim(&self, id: &Hash) -> Result<crate::disputes::OverclaimView, RpcError> {
        self.get(&format!("/v1/overclaims/{id}")).await
    }

    /// The open fraud disputes, by deadline.
    pub async fn disputes(&self) -> Result<Vec<crate::disputes::DisputeView>, RpcError> {
        self.get("/v1/disputes").await
    }

    /// One dispute, open or decided.
    pub async fn dispute(
        &self,
        id: &tessera_types::Hash,
    ) -> Result<crate::disputes::DisputeView, RpcError> {
        self.get(&format!("/v1/disputes/{id}")).await
    }

    /// A model by name or id, with versions, royalty pool and largest holders.
    pub async fn model(&self, id: &str) -> Result<ModelResponse, RpcError> {
        self.get(&format!("/v1/models/{id}")).await
    }

    /// `address`'s share holdings and claimable royalties, per model.
    pub async fn royalties(&self, address: &Address) -> Result<Vec<RoyaltyLine>, RpcError> {
        self.get(&format!("/v1/royalties/{address}")).await
    }

    /// [`RpcClient::sign_and_submit`] with the exact fee, then wait up to `timeout` for
    /// the transaction to be committed with a successful call (its receipt's events).
    pub async fn submit_and_confirm(
        &self,
        key: &Keypair,
        call: Call,
        timeout: Duration,
    ) -> Result<Vec<tessera_types::Event>, RpcError> {
        let id = self.sign_and_submit(key, call, None).await?;
        match self.wait_for_tx(id, timeout).await? {
            TxResponse::Committed { receipt, .. } => match receipt.status {
                tessera_types::TxStatus::Success => Ok(receipt.events),
                tessera_types::TxStatus::Failed(f) => Err(RpcError::CallFailed {
                    id,
                    reason: f.text(),
                }),
            },
            other => Err(RpcError::BadResponse(format!(
                "transaction {id} not committed: {other:?}"
            ))),
        }
    }

    /// Sign `call` with `key` at the account's next nonce, with the exact fee (or
    /// `max_fee`), check the balance covers fee and spend, and submit it. Returns the
    /// transaction's id (wait for it with [`RpcClient::wait_for_tx`]).
    pub async fn sign_and_submit(
        &self,
        key: &Keypair,
        call: Call,
        max_fee: Option<Amount>,
    ) -> Result<Hash, RpcError> {
        let status = self.status().await?;
        let address = key.address();
        let account = self.account(&address).await?;
        let mut tx = Transaction {
            chain_id: status.chain_id.clone(),
            signer: key.public_key().clone(),
            nonce: account.next_nonce.max(account.account.nonce),
            max_fee: Amount::ZERO,
            call,
        };
        let build = |e: String| RpcError::BuildTx(e);
        let fee = status
            .params
            .fee_for(tx.signed_size())
            .map_err(|e| build(e.to_string()))?;
        tx.max_fee = max_fee.unwrap_or(fee);
        let needed = fee
            .checked_add(tessera_state::exec::call_spend(&tx.call))
            .ok_or_else(|| build("amount too large".into()))?;
        if needed > account.account.balance {
            return Err(RpcError::InsufficientFunds {
                address,
                needed,
                fee,
                balance: account.account.balance,
            });
        }
        let signed = tx.sign(key).map_err(|e| build(e.to_string()))?;
        self.submit(&signed).await
    }

    /// A model's price and providers (`id` is a name or a numeric id).
    pub async fn model_providers(&self, id: &str) -> Result<ModelProviders, RpcError> {
        self.get(&format!("/v1/models/{id}/providers")).await
    }

    /// The models `address` is registered to serve.
    pub async fn registrations(&self, address: &Address) -> Result<Vec<ProviderLine>, RpcError> {
        self.get(&format!("/v1/providers/{address}")).await
    }

    /// A channel, its lanes and deadline; its proof is checked against the reported root.
    pub async fn channel(&self, id: &Hash) -> Result<ChannelResponse, RpcError> {
        let response: ChannelResponse = self.get(&format!("/v1/channels/{id}")).await?;
        verify_channel(&response)?;
        Ok(response)
    }

    /// The open channels `address` pays into (`as_payer`) or serves.
    pub async fn channels_of(
        &self,
        address: &Address,
        as_payer: bool,
    ) -> Result<Vec<ChannelLine>, RpcError> {
        let role = if as_payer { "payer" } else { "provider" };
        self.get(&format!("/v1/accounts/{address}/channels?role={role}"))
            .await
    }

    /// Which of `cids` the node lacks.
    pub async fn missing_blocks(&self, cids: &[Cid]) -> Result<Vec<Cid>, RpcError> {
        let mut missing = Vec::new();
        for batch in cids.chunks(crate::blobs::MAX_CIDS_PER_REQUEST) {
            let body = crate::blobs::CidList {
                cids: batch.to_vec(),
            };
            let url = format!("{}/v1/blob-blocks/missing", self.base);
            let response = self.http.post(url).json(&body).send().await;
            let answer: crate::blobs::Missing = self.read(response).await?;
            missing.extend(answer.missing);
        }
        Ok(missing)
    }

    /// Send one block; the node verifies it against `cid` before storing it.
    pub async fn put_block(&self, cid: &Cid, bytes: Vec<u8>) -> Result<(), RpcError> {
        let url = format!("{}/v1/blob-blocks/{cid}", self.base);
        let response = self.http.put(url).body(bytes).send().await;
        let response = response.map_err(|e| RpcError::Unreachable {
            url: self.base.clone(),
            reason: e.to_string(),
        })?;
        if response.status().is_success() {
            return Ok(());
        }
        self.read::<serde_json::Value>(Ok(response))
            .await
            .map(|_| ())
    }

    /// One block's bytes, unverified (callers import it into a store, which verifies).
    pub async fn get_block(&self, cid: &Cid) -> Result<Vec<u8>, RpcError> {
        let url = format!("{}/v1/blob-blocks/{cid}", self.base);
        let response = self.http.get(url).send().await;
        let response = response.map_err(|e| RpcError::Unreachable {
            url: self.base.clone(),
            reason: e.to_string(),
        })?;
        if !response.status().is_success() {
            return self
                .read::<serde_json::Value>(Ok(response))
                .await
                .map(|_| Vec::new());
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| RpcError::BadResponse(e.to_string()))?;
        Ok(bytes.to_vec())
    }

    /// Upload the file `root` from `store`: only the blocks the node lacks, parents
    /// first, then ask the node to check it has the whole file. `progress(done, total)`
    /// counts blocks. Resumes where an interrupted upload stopped.
    pub async fn upload(
        &self,
        store: &BlobStore,
        root: &Cid,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<BlobInfo, BlobTransferError> {
        let blocks = store.block_cids(root, crate::blobs::MAX_FILE_BLOCKS)?;
        let missing = self.missing_blocks(&blocks).await?;
        let total = u64::try_from(missing.len()).unwrap_or(u64::MAX);
        for (done, cid) in missing.iter().enumerate() {
            self.put_block(cid, store.get_block(cid)?).await?;
            progress(
                u64::try_from(done).unwrap_or(u64::MAX).saturating_add(1),
                total,
            );
        }
        let url = format!("{}/v1/blobs/{root}/complete", self.base);
        let response = self.http.post(url).send().await;
        Ok(self.read(response).await?)
    }

    /// Download the file `root` into `store`, block by block, each verified against its
    /// CID as it is imported; blocks already in `store` are not fetched again.
    /// `progress(done, total)` counts file bytes.
    pub async fn download(
        &self,
        store: &BlobStore,
        root: &Cid,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<(), BlobTransferError> {
        self.fetch_block(store, root).await?;
        let total = store.get(root)?.size();
        // Each entry: a block and the file bytes under it (a leaf's own data length).
        let mut stack = vec![(*root, total)];
        let mut done = 0u64;
        while let Some((cid, bytes_under)) = stack.pop() {
            self.fetch_block(store, &cid).await?;
            let children = store.children(&cid)?;
            if children.is_empty() {
                done = done.saturating_add(bytes_under).min(total);
                progress(done, total);
            }
            stack.extend(children.into_iter().rev());
        }
        store.sync()?;
        progress(total, total);
        Ok(())
    }

    /// Fetch `cid` into `store` (verified on import) unless it is already there.
    async fn fetch_block(&self, store: &BlobStore, cid: &Cid) -> Result<(), BlobTransferError> {
        if !store.has(cid)? {
            let bytes = self.get_block(cid).await?;
            store.import_block(cid, &bytes)?;
        }
        Ok(())
    }

    /// Prometheus text.
    pub async fn metrics(&self) -> Result<String, RpcError> {
        let response = self.http.get(format!("{}/metrics", self.base)).send().await;
        let response = response.map_err(|e| RpcError::Unreachable {
            url: self.base.clone(),
            reason: e.to_string(),
        })?;
        response
            .text()
            .await
            .map_err(|e| RpcError::BadResponse(e.to_string()))
    }
}

/// Check that the channel's proof verifies against `state_root` and proves the record.
pub fn verify_channel(response: &ChannelResponse) -> Result<(), RpcError> {
    use commonware_codec::Encode;
    check_proof(
        Proven {
            what: "the channel",
            address: response.channel.payer,
            root: response.state_root,
        },
        &tessera_state::channels::channel_key(&response.id),
        &response.proof,
        Some(response.channel.encode().to_vec()),
    )
}

/// What a proof is of, for its error.
struct Proven {
    what: &'static str,
    address: Address,
    root: Hash,
}

/// Check that `proof_hex` proves `key` holds `expected` (absent: `None`) under `root`.
fn check_proof(
    of: Proven,
    key: &[u8],
    proof_hex: &str,
    expected: Option<Vec<u8>>,
) -> Result<(), RpcError> {
    let bad = |reason: String| RpcError::BadProof {
        what: of.what,
        address: of.address,
        root: of.root,
        reason,
    };
    let bytes = hex::decode(proof_hex).map_err(|e| bad(e.to_string()))?;
    let proof = StateProof::from_bytes(&bytes).map_err(|e| bad(e.to_string()))?;
    let proven = verify_proof(&of.root.0, key, &proof).map_err(|e| bad(e.to_string()))?;
    if proven != expected {
        return Err(bad("the proven value differs from the reported one".into()));
    }
    Ok(())
}

/// Check that both proofs verify against `state_root` and prove the reported values.
pub fn verify_account(response: &AccountResponse) -> Result<(), RpcError> {
    let (root, address) = (response.state_root, response.address);
    let check = |what, key: Vec<u8>, proof_hex: &str, expected| {
        check_proof(
            Proven {
                what,
                address,
                root,
            },
            &key,
            proof_hex,
            expected,
        )
    };
    use commonware_codec::Encode;
    let account =
        (response.account != bank::Account::default()).then(|| response.account.encode().to_vec());
    let stake = (!response.stake.is_empty()).then(|| response.stake.encode().to_vec());
    check(
        "the account",
        bank::account_key(&address),
        &response.account_proof,
        account,
    )?;
    check(
        "the stake",
        staking::stake_key(&address),
        &response.stake_proof,
        stake,
    )
}
