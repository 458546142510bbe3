//! The API end to end over real HTTP: a chain on the tokio runtime, the router on a
//! loopback port, and the typed client. Blocks are committed by the test itself
//! (propose → commit), so every step is deterministic.
#![cfg(test)]

use commonware_runtime::{Runner as _, Supervisor as _};
use futures::StreamExt;
use std::{sync::Arc, time::Duration};
use tessera_chain::{
    genesis::{dev_genesis, dev_key, dev_transfer, DEV_CHAIN_ID},
    Chain, ChainConfig,
};
use tessera_rpc::{
    api::TxResponse,
    client::{verify_account, BlockId},
    server::{router, AppState},
    RpcClient, RpcError,
};
use tessera_types::{Amount, Call, ChainId, Hash, Keypair, SignedTransaction, Transaction};

/// A transfer from dev account `from`; on another chain than the dev chain when `chain`
/// says so (to test the wrong-chain rejection).
fn transfer(from: u64, nonce: u64, amount: Amount, chain: &str) -> SignedTransaction {
    let to = Keypair::from_seed(77).address();
    if chain == DEV_CHAIN_ID {
        return dev_transfer(&dev_key(from), nonce, to, amount);
    }
    let key = dev_key(from);
    Transaction {
        chain_id: ChainId::new(chain).unwrap(),
        signer: key.public_key().clone(),
        nonce,
        max_fee: Amount::from_tsr(1).unwrap(),
        call: Call::Transfer { to, amount },
    }
    .sign(&key)
    .unwrap()
}

#[test]
fn api_round_trip() {
    let dir = std::env::temp_dir().join(format!("tessera-rpc-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = commonware_runtime::tokio::Config::new().with_storage_directory(&dir);
    let work = dir.clone();
    commonware_runtime::tokio::Runner::new(config).start(|context| async move {
        let dir = work;
        let chain = Arc::new(
            Chain::open(
                context.child("chain"),
                &dev_genesis(0, &[]),
                ChainConfig::default(),
            )
            .await
            .unwrap(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let blobs = Arc::new(tessera_blobs::BlobStore::open(dir.join("node-blobs")).unwrap());
        let app = router(AppState::new(chain.clone(), "dev").with_blobs(blobs, true));
        tokio::spawn(tessera_http::serve(
            listener,
            app,
            tessera_http::Limits::default(),
            std::future::pending(),
        ));
        let client = RpcClient::new(&url);

        let status = client.status().await.unwrap();
        assert_eq!((status.chain_id.as_str(), status.height), (DEV_CHAIN_ID, 0));
        // Epoch 0's set, chosen from the genesis stake: the dev validator alone.
        let set = client.validators().await.unwrap();
        assert_eq!((set.epoch, set.start_height, set.members.len()), (0, 0, 1));
        assert_eq!(set.members[0].address, dev_key(0).address());
        assert_eq!(set.members[0].bonded, Amount::from_tsr(100_000).unwrap());

        // The event stream sees the block we are about to commit.
        let events = reqwest::get(format!("{url}/v1/events")).await.unwrap();
        let mut body = events.bytes_stream();
        let typed = client.events().await.unwrap();
        tokio::pin!(typed);

        // Submit, commit a block, look the transaction up.
        let tx = transfer(1, 0, Amount::from_base(500), DEV_CHAIN_ID);
        let id = client.submit(&tx).await.unwrap();
        assert!(matches!(client.tx(id).await.unwrap(), TxResponse::Pending));
        let block = chain
            .propose_dev(chain.head().hash(), dev_key(0).address(), 5)
            .await
            .unwrap();
        chain.commit(block.hash()).await.unwrap();
        let TxResponse::Committed {
            height, receipt, ..
        } = client.tx(id).await.unwrap()
        else {
            panic!("not committed")
        };
        assert_eq!(height, 1);
        assert!(matches!(receipt.status, tessera_types::TxStatus::Success));

        let mut seen = String::new();
        while !seen.contains("event: block") {
            let chunk = tokio::time::timeout(Duration::from_secs(5), body.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        assert!(
            seen.contains(&id.to_string()),
            "the event names the transaction: {seen}"
        );
        // The typed reader sees the same block, its transaction and receipt.
        let event = tokio::time::timeout(Duration::from_secs(5), typed.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let tessera_rpc::events::StreamEvent::Block(block) = event else {
            panic!("expected a block, got {event:?}")
        };
        assert_eq!((block.height, block.txs.as_slice()), (1, [id].as_slice()));
        assert_eq!(block.receipts.txs.len(), 1);

        // Verified account query, and a lying answer is caught.
        let recipient = Keypair::from_seed(77).address();
        let account = client.account(&recipient).await.unwrap();
        assert_eq!(account.account.balance, Amount::from_base(500));
        let mut lie = account.clone();
        lie.account.balance = Amount::from_base(501);
        assert!(matches!(
            verify_account(&lie),
            Err(RpcError::BadProof { .. })
        ));
        let empty = client
            .account(&Keypair::from_seed(78).address())
            .await
            .unwrap();
        assert!(empty.account.balance.is_zero(), "absence proofs verify too");
        let mut fake = empty.clone();
        fake.account.balance = Amount::from_base(1);
        assert!(verify_account(&fake).is_err());

        // Blocks by height, hash and latest agree.
        let latest = client.block(&BlockId::Latest).await.unwrap();
        let by_hash = client.block(&BlockId::Hash(latest.hash)).await.unwrap();
        let by_height = client.block(&BlockId::Height(1)).await.unwrap();
        assert_eq!(
            (latest.hash, by_hash.hash),
            (by_height.hash, by_height.hash)
        );
        assert_eq!(latest.txs.len(), 1);
        let missing = client.block(&BlockId::Height(99)).await.unwrap_err();
        assert_eq!(missing.code(), Some("not_found"));

        // Typed rejections with stable codes.
        let stale = client
            .submit(&transfer(1, 0, Amount::from_base(1), DEV_CHAIN_ID))
            .await
            .unwrap_err();
        assert_eq!(stale.code(), Some("bad_nonce"), "{stale}");
        let broke = client
            .submit(&transfer(
                2,
                0,
                Amount::from_tsr(2_000_000).unwrap(),
                DEV_CHAIN_ID,
            ))
            .await
            .unwrap_err();
        assert_eq!(broke.code(), Some("insufficient_funds"));
        assert!(
            broke.to_string().contains("balance is 1000000 TSR"),
            "{broke}"
        );
        let other_chain = client
            .submit(&transfer(2, 0, Amount::from_base(1), "other-chain"))
            .await
            .unwrap_err();
        assert_eq!(other_chain.code(), Some("wrong_chain"));
        let garbage = reqwest::Client::new()
            .post(format!("{url}/v1/txs"))
            .json(&serde_json::json!({"tx": "00ff"}))
            .send()
            .await
            .unwrap();
        assert_eq!(garbage.status(), 400);
        let huge = serde_json::json!({ "tx": "00".repeat(tessera_types::MAX_TX_BYTES + 1) });
        let oversized = reqwest::Client::new()
            .post(format!("{url}/v1/txs"))
            .json(&huge)
            .send()
            .await
            .unwrap();
        assert_eq!(oversized.status(), 400);
        let body: tessera_rpc::api::ErrorBody = oversized.json().await.unwrap();
        assert_eq!(body.code, "too_large", "{}", body.message);
        // Malformed input of every kind answers with the documented JSON error.
        let http = reqwest::Client::new();
        let malformed = [
            (
                http.post(format!("{url}/v1/txs"))
                    .header("content-type", "application/json")
                    .body("{\"tx\": "),
                "bad_json",
            ),
            (http.get(format!("{url}/v1/finality/tip")), "bad_path"),
            (http.get(format!("{url}/v1/nothing-here")), "not_found"),
        ];
        for (request, code) in malformed {
            let response = request.send().await.unwrap();
            let body: tessera_rpc::api::ErrorBody = response.json().await.unwrap();
            assert_eq!(body.code, code, "{}", body.message);
        }
        let metrics = client.metrics().await.unwrap();
        assert!(metrics.contains("chain_txs_committed_total 1"), "{metrics}");

        // Models: register one, then list, show and royalties see it.
        let creator = dev_key(3);
        let spec = tessera_types::tx::ModelSpec {
            name: "minilm-embed".into(),
            manifest_cid: "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi".into(),
            runtime: "candle-bert".into(),
            license: "Apache-2.0".into(),
            total_shares: tessera_types::tx::Shares::new(1_000),
            price_base_per_call: Amount::from_base(2_000_000),
            price_base_per_token: Amount::ZERO,
            split: tessera_types::tx::RevenueSplit {
                compute_bps: tessera_types::tx::Bps::new(7_000),
                owners_bps: tessera_types::tx::Bps::new(3_000),
                data_bps: tessera_types::tx::Bps::ZERO,
                treasury_bps: tessera_types::tx::Bps::ZERO,
            },
            data_links: Vec::new(),
        };
        let register = Transaction {
            chain_id: ChainId::new(DEV_CHAIN_ID).unwrap(),
            signer: creator.public_key().clone(),
            nonce: 0,
            max_fee: Amount::from_tsr(1).unwrap(),
            call: Call::RegisterModel(spec),
        }
        .sign(&creator)
        .unwrap();
        client.submit(&register).await.unwrap();
        let block = chain
            .propose_dev(chain.head().hash(), dev_key(0).address(), 6)
            .await
            .unwrap();
        chain.commit(block.hash()).await.unwrap();
        let models = client.models().await.unwrap();
        assert_eq!(models.len(), 1);
        let shown = client.model("minilm-embed").await.unwrap();
        assert_eq!(shown.id, models[0].id);
        assert_eq!(shown.top_holders.len(), 1);
        assert_eq!(shown.top_holders[0].address, creator.address());
        assert_eq!(shown.versions.len(), 1);
        let lines = client.royalties(&creator.address()).await.unwrap();
        assert_eq!(lines.len(), 1);
        assert!(lines[0].holding.claimable.is_zero());
        assert_eq!(
            client.model("nope").await.unwrap_err().code(),
            Some("not_found")
        );

        // Market: a provider registers, a payer opens a channel; the routes list both and
        // the channel comes with a proof.
        let model_id = models[0].id;
        let provider = dev_key(4);
        let payer = dev_key(5);
        let sign = |key: &tessera_types::Keypair, call: Call| {
            Transaction {
                chain_id: ChainId::new(DEV_CHAIN_ID).unwrap(),
                signer: key.public_key().clone(),
                nonce: 0,
                max_fee: Amount::from_tsr(1).unwrap(),
                call,
            }
            .sign(key)
            .unwrap()
        };
        let price = tessera_types::channel::Price {
            per_call: Amount::from_base(3_000_000),
            per_token: Amount::ZERO,
        };
        client
            .submit(&sign(
                &provider,
                Call::RegisterProvider {
                    model: model_id,
                    stake: Amount::from_tsr(100).unwrap(),
                    price,
                    endpoint: "http://127.0.0.1:7301".into(),
                },
            ))
            .await
            .unwrap();
        let block = chain
            .propose_dev(chain.head().hash(), dev_key(0).address(), 7)
            .await
            .unwrap();
        chain.commit(block.hash()).await.unwrap();
        client
            .submit(&sign(
                &payer,
                Call::OpenChannel {
                    provider: provider.address(),
                    model: model_id,
                    deposit: Amount::from_tsr(2).unwrap(),
                    expiry_blocks: 100,
                },
            ))
            .await
            .unwrap();
        let block = chain
            .propose_dev(chain.head().hash(), dev_key(0).address(), 8)
            .await
            .unwrap();
        chain.commit(block.hash()).await.unwrap();
        let listed = client.model_providers("minilm-embed").await.unwrap();
        assert_eq!(listed.providers.len(), 1);
        assert_eq!(listed.providers[0].address, provider.address());
        assert_eq!(listed.providers[0].provider.price, price);
        assert_eq!(listed.price.per_call, Amount::from_base(2_000_000));
        let registered = client.registrations(&provider.address()).await.unwrap();
        assert_eq!(registered[0].name, "minilm-embed");
        let id = tessera_types::channel::channel_id(&payer.address(), 0);
        let shown = client.channel(&id).await.unwrap();
        assert_eq!(shown.channel.deposit, Amount::from_tsr(2).unwrap());
        assert_eq!(shown.channel.provider_price, price);
        assert!(shown.lanes.is_empty());
        let mut forged = shown.clone();
        forged.channel.deposit = Amount::from_tsr(20).unwrap();
        assert!(tessera_rpc::client::verify_channel(&forged).is_err());
        let mine = client.channels_of(&payer.address(), true).await.unwrap();
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].id, id);
        let served = client
            .channels_of(&provider.address(), false)
            .await
            .unwrap();
        assert_eq!(served.len(), 1);
        assert_eq!(
            client.channel(&Hash([9; 32])).await.unwrap_err().code(),
            Some("not_found")
        );

        // Blobs: upload block by block, resume, download verified, ranges.
        let local = tessera_blobs::BlobStore::open(dir.join("wallet-blobs")).unwrap();
        let bytes: Vec<u8> = (0..(3 * tessera_blobs::CHUNK_BYTES + 100))
            .map(|i| (i % 251) as u8)
            .collect();
        let root = local.put_bytes(&bytes).unwrap();
        let first_block = local.block_cids(&root, 100).unwrap()[1];
        client
            .put_block(&first_block, local.get_block(&first_block).unwrap())
            .await
            .unwrap();
        assert_eq!(
            client
                .missing_blocks(&local.block_cids(&root, 100).unwrap())
                .await
                .unwrap()
                .len(),
            4
        );
        let sent = std::sync::atomic::AtomicU64::new(0);
        let info = client
            .upload(&local, &root, &|done, _| {
                sent.store(done, std::sync::atomic::Ordering::SeqCst)
            })
            .await
            .unwrap();
        assert_eq!(
            sent.load(std::sync::atomic::Ordering::SeqCst),
            4,
            "the resumed upload sends only the missing blocks"
        );
        assert_eq!((info.size_bytes, info.blocks), (bytes.len() as u64, 5));
        let tampered = client
            .put_block(&first_block, vec![1, 2, 3])
            .await
            .unwrap_err();
        assert_eq!(tampered.code(), Some("bad_block"), "{tampered}");
        let fresh = tessera_blobs::BlobStore::open(dir.join("other-blobs")).unwrap();
        client.download(&fresh, &root, &|_, _| {}).await.unwrap();
        assert_eq!(fresh.get_bytes(&root, 1 << 22).unwrap(), bytes);
        let ranged = reqwest::Client::new()
            .get(format!("{url}/v1/blobs/{root}"))
            .header("range", "bytes=262140-262150")
            .send()
            .await
            .unwrap();
        assert_eq!(ranged.status(), 206);
        assert_eq!(
            ranged.bytes().await.unwrap().to_vec(),
            bytes[262_140..=262_150].to_vec()
        );
        let whole = reqwest::get(format!("{url}/v1/blobs/{root}"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(whole.to_vec(), bytes);

        // A node that takes no uploads (a validator's default) still serves reads.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed_url = format!("http://{}", listener.local_addr().unwrap());
        let same_store = Arc::new(tessera_blobs::BlobStore::open(dir.join("node-blobs")).unwrap());
        let app = router(AppState::new(chain.clone(), "validator").with_blobs(same_store, false));
        tokio::spawn(tessera_http::serve(
            listener,
            app,
            tessera_http::Limits::default(),
            std::future::pending(),
        ));
        let closed = RpcClient::new(&closed_url);
        let refused = closed
            .put_block(&first_block, vec![1, 2, 3])
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Some("uploads_disabled"), "{refused}");
        let elsewhere = tessera_blobs::BlobStore::open(dir.join("third-blobs")).unwrap();
        closed
            .download(&elsewhere, &root, &|_, _| {})
            .await
            .unwrap();
        assert_eq!(elsewhere.get_bytes(&root, 1 << 22).unwrap(), bytes);

        // A node that is not there gets a clear error.
        let err = RpcClient::new("http://127.0.0.1:1")
            .status()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("tessera node --dev"), "{err}");
    });
    let _ = std::fs::remove_dir_all(&dir);
}
