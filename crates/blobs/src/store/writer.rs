//! Writing a DAG's blocks with a few threads, so that several fsyncs are in flight at
//! once (the file system commits them together: about 2× faster than one at a time on
//! ext4). The queue is bounded, so memory stays at a few MiB whatever the file size.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Mutex;
use std::thread;

use super::BlobStore;
use crate::dag::BlockSink;
use crate::error::BlobError;
use crate::Cid;

/// Threads writing blocks. Each mostly waits on fsync, so this is not tied to core count.
const WRITERS: usize = 4;
/// Blocks waiting for a writer (each at most ~256 KiB for our own DAGs).
const QUEUE_BLOCKS: usize = 8;

/// Runs `produce` with a sink whose blocks are written by [WRITERS] threads, and returns
/// its result once every block has been written (or the first error).
pub(super) fn with_parallel_writes<T>(
    store: &BlobStore,
    produce: impl FnOnce(&mut dyn BlockSink) -> Result<T, BlobError>,
) -> Result<T, BlobError> {
    let shared = Shared {
        failed: AtomicBool::new(false),
        first_error: Mutex::new(None),
    };
    let (sender, receiver) = sync_channel::<(Cid, Vec<u8>)>(QUEUE_BLOCKS);
    let receiver = Mutex::new(receiver);
    let produced = thread::scope(|scope| {
        let workers: Vec<_> = (0..WRITERS)
            .map(|_| scope.spawn(|| write_blocks(store, &receiver, &shared)))
            .collect();
        let mut sink = ChannelSink {
            sender,
            shared: &shared,
        };
        let produced = produce(&mut sink);
        drop(sink); // closes the queue: writers finish what is queued and stop
        let panicked = workers.into_iter().any(|w| w.join().is_err());
        if panicked {
            shared.record(BlobError::io(
                "write blocks to",
                store.blocks.clone(),
                std::io::Error::other("a block-writer thread panicked"),
            ));
        }
        produced
    });
    match shared.take_error() {
        Some(error) => Err(error),
        None => produced,
    }
}

struct Shared {
    failed: AtomicBool,
    first_error: Mutex<Option<BlobError>>,
}

impl Shared {
    fn record(&self, error: BlobError) {
        let mut slot = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(error);
        self.failed.store(true, Ordering::Release);
    }

    fn take_error(&self) -> Option<BlobError> {
        self.first_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

/// A writer: takes blocks off the queue until it closes. After any failure, remaining
/// blocks are drained unwritten so the producer never blocks on a full queue.
fn write_blocks(store: &BlobStore, receiver: &Mutex<Receiver<(Cid, Vec<u8>)>>, shared: &Shared) {
    loop {
        let next = receiver.lock().unwrap_or_else(|p| p.into_inner()).recv();
        let Ok((cid, block)) = next else {
            return;
        };
        if shared.failed.load(Ordering::Acquire) {
            continue;
        }
        if let Err(error) = store.store_block(&cid, &[&block]) {
            shared.record(error);
        }
    }
}

struct ChannelSink<'a> {
    sender: SyncSender<(Cid, Vec<u8>)>,
    shared: &'a Shared,
}

impl BlockSink for ChannelSink<'_> {
    fn block(&mut self, cid: &Cid, parts: &[&[u8]]) -> Result<(), BlobError> {
        if self.shared.failed.load(Ordering::Acquire) {
            // Stop reading the input; the recorded error is returned by the caller.
            return Err(BlobError::io(
                "write blocks for",
                cid.to_string(),
                std::io::Error::other("an earlier block failed to write"),
            ));
        }
        let block = parts.concat();
        // Fails only if every writer is gone, which happens only after a panic (recorded).
        self.sender.send((*cid, block)).map_err(|_| {
            BlobError::io(
                "write blocks for",
                cid.to_string(),
                std::io::Error::other("block writers stopped"),
            )
        })
    }
}
