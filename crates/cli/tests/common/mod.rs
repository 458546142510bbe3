//! Helpers shared by the process-level tests: the binary, free loopback ports, signals,
//! pid files and height waits.
#![allow(dead_code)]

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use tessera_rpc::RpcClient;

/// Every wait in these tests gives up after this long.
pub const WAIT_LIMIT: Duration = Duration::from_secs(30);

pub fn tessera() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
}

/// A base port such that `base..base + count` are all free on loopback and none is in
/// `not`.
pub fn free_port_range(count: u16, not: &[u16]) -> u16 {
    // Tests of one process run in parallel: each call starts from its own seed.
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    for attempt in 0..200u32 {
        let seed = std::process::id()
            .wrapping_mul(7919)
            .wrapping_add(call.wrapping_mul(15_485_863))
            .wrapping_add(attempt * 104_729);
        // Below Linux's ephemeral range (32768 and up), so an outgoing connection never
        // takes a port between the check and the bind.
        let base = 20_000 + u16::try_from(seed % 12_000).unwrap();
        let ports: Vec<u16> = (0..count).map(|i| base + i).collect();
        if ports.iter().any(|p| not.contains(p)) {
            continue;
        }
        let listeners: Vec<_> = ports
            .iter()
            .map(|p| TcpListener::bind(("127.0.0.1", *p)))
            .collect();
        if listeners.iter().all(Result::is_ok) {
            return base;
        }
    }
    panic!("no free port range on 127.0.0.1");
}

pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([sig, &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// The pid the localnet supervisor wrote for node directory `name` (`v1`, `f1`, ...).
pub fn read_pid(dir: &Path, name: &str) -> u32 {
    let path = dir.join(name).join("node.pid");
    let start = Instant::now();
    loop {
        if let Some(pid) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return pid;
        }
        assert!(start.elapsed() < WAIT_LIMIT, "no {}", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub async fn height(client: &RpcClient) -> Option<u64> {
    client.status().await.ok().map(|s| s.height)
}

pub async fn wait_for_height(clients: &[&RpcClient], at_least: u64, what: &str) {
    let start = Instant::now();
    loop {
        let mut all = true;
        for c in clients {
            all &= height(c).await.is_some_and(|h| h >= at_least);
        }
        if all {
            return;
        }
        assert!(
            start.elapsed() < WAIT_LIMIT,
            "{what}: not every node reached height {at_least}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Stops what a test started, also when it fails: the localnet supervisor with SIGINT
/// (it stops its nodes), a node the test restarted itself with SIGKILL. Only our own
/// children are signalled, never a pid read from a file (it may have been reused).
pub struct Cleanup {
    pub root: PathBuf,
    pub supervisor: Option<Child>,
    pub restarted: Option<Child>,
}

impl Cleanup {
    /// A fresh temporary root for test `name` (with `home/` for `TESSERA_HOME`), removed
    /// when the returned value drops.
    pub fn new(name: &str) -> Cleanup {
        let root = std::env::temp_dir().join(format!("tessera-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("home")).unwrap();
        Cleanup {
            root,
            supervisor: None,
            restarted: None,
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(mut child) = self.restarted.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(mut child) = self.supervisor.take() {
            if matches!(child.try_wait(), Ok(None)) {
                signal(child.id(), "-INT");
                let start = Instant::now();
                while matches!(child.try_wait(), Ok(None)) && start.elapsed() < WAIT_LIMIT {
                    std::thread::sleep(Duration::from_millis(50));
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// `tessera localnet` started on free loopback ports under `cleanup` (its supervisor is
/// stopped when `cleanup` drops) with `extra` arguments; `nodes` is how many HTTP APIs it
/// serves (validators, standbys and full nodes). Returns the directory and one client per
/// node, in order.
pub fn start_localnet(
    cleanup: &mut Cleanup,
    nodes: u16,
    extra: &[&str],
) -> (PathBuf, Vec<RpcClient>) {
    let dir = cleanup.root.join("net");
    let rpc_base = free_port_range(nodes, &[]);
    let rpc_ports: Vec<u16> = (0..nodes).map(|i| rpc_base + i).collect();
    let p2p_base = free_port_range(nodes, &rpc_ports);
    let supervisor = tessera()
        .arg("localnet")
        .args(extra)
        .arg("--dir")
        .arg(&dir)
        .args(["--rpc-port", &rpc_base.to_string()])
        .args(["--p2p-port", &p2p_base.to_string()])
        .env("TESSERA_HOME", cleanup.root.join("home"))
        .env("TESSERA_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the localnet");
    cleanup.supervisor = Some(supervisor);
    let clients = rpc_ports
        .iter()
        .map(|p| RpcClient::new(&format!("http://127.0.0.1:{p}")))
        .collect();
    (dir, clients)
}

/// Whether the shipped models' files are in the model cache. When they are absent the
/// test is skipped (`false`), unless `TESSERA_REQUIRE_MODELS=1`, which fails it.
pub fn shipped_models_present(test: &str) -> bool {
    let minilm = tessera_infer::default_minilm_dir();
    let present = tessera_infer::MODEL_FILES
        .iter()
        .all(|f| minilm.join(f).is_file())
        && tessera_infer::default_smollm2_gguf().is_file();
    if !present {
        if std::env::var("TESSERA_REQUIRE_MODELS").is_ok_and(|v| v == "1") {
            panic!("{test}: model files absent in {} and TESSERA_REQUIRE_MODELS=1; run scripts/fetch-models.sh", tessera_infer::model_cache_dir().display());
        }
        println!("skipped: {test}: model files absent; run scripts/fetch-models.sh");
    }
    present
}
