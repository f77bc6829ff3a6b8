//! Where connections are served: one single-threaded runtime per core ("shards"), each
//! connection and every in-process hop it leads to on one of them.
//!
//! A request through the chain crosses five servers and several tasks, all in this process.
//! On a multi-threaded runtime each hand-off may land on another core, and each one then
//! pays for cache lines and wake-ups moving between cores (about a third of the chain's CPU
//! per request, measured). Instead the binary runs one current-thread runtime per core and
//! [`install`]s their handles here: [`accept_loop`](crate::accept_loop) spreads connections
//! from host sockets over the shards, and an in-process connection is served on the shard
//! of whoever dialed it, so a request stays on the core its client connection is on.
//!
//! Nothing here is required: without [`install`] (tests, embedders with their own runtime),
//! every connection is served on the runtime that accepted it, as before.

use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::runtime::Handle;

/// How long a shard's blocking-pool thread (file writes: the access logs) waits for more work
/// before it exits. tokio's default is 10 s, which kept a thread made by a burst's log writes,
/// its stack and its allocator cache resident past the load's end (docs/PERFORMANCE.md "Memory
/// after load"); under load the access log writes every 200 ms, so the thread lives on.
pub const BLOCKING_KEEP_ALIVE: Duration = Duration::from_secs(1);

/// The name of a shard's blocking-pool threads.
pub const BLOCKING_THREAD_NAME: &str = "airlock-blocking";

/// A shard's runtime, configured: single-threaded, every driver on, blocking threads named
/// and kept for [`BLOCKING_KEEP_ALIVE`]. The binary's first shard (its main thread) is built
/// with it too.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name(BLOCKING_THREAD_NAME)
        .thread_keep_alive(BLOCKING_KEEP_ALIVE)
        .build()
}

static SHARDS: OnceLock<Vec<Handle>> = OnceLock::new();
static NEXT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static INDEX: Cell<usize> = const { Cell::new(0) };
}

/// Starts a shard on a thread of its own: a current-thread runtime, marked as shard `index`, that
/// runs for as long as the process lives. Returns its handle, for [`install`].
pub fn spawn(index: usize) -> std::io::Result<Handle> {
    let runtime = runtime()?;
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name(format!("airlock-shard-{index}"))
        .spawn(move || {
            enter(index);
            runtime.block_on(std::future::pending::<()>());
        })?;
    Ok(handle)
}

/// Declares the shards, once per process. Returns `false` (and changes nothing) when shards
/// were installed before.
pub fn install(handles: Vec<Handle>) -> bool {
    SHARDS.set(handles).is_ok()
}

/// Marks the calling thread as the one running shard `index` (the thread that installs the
/// shards is shard 0 unless it says otherwise).
pub fn enter(index: usize) {
    INDEX.with(|i| i.set(index));
}

/// How many shards there are (1 when none were installed).
pub fn count() -> usize {
    SHARDS.get().map_or(1, |s| s.len().max(1))
}

/// The shard the calling thread runs (0 when none were installed).
pub fn current() -> usize {
    INDEX.with(Cell::get)
}

/// The runtime that should serve the next connection from a host socket: the shards in
/// turn, `None` when none were installed.
pub(crate) fn next() -> Option<Handle> {
    let shards = SHARDS.get()?;
    let i = NEXT.fetch_add(1, Ordering::Relaxed) % shards.len().max(1);
    shards.get(i).cloned()
}

/// The runtime the calling task runs on, when shards are installed: where a connection it
/// dials in-process is served.
pub(crate) fn here() -> Option<Handle> {
    SHARDS.get()?;
    Handle::try_current().ok()
}

#[cfg(test)]
mod tests {
    /// A shard's blocking thread exits soon after its work, not after tokio's default 10 s: the
    /// thread a burst's log writes made does not outlive the burst by long.
    #[test]
    fn a_shards_blocking_thread_exits_soon_after_its_work() {
        let runtime = super::runtime().expect("runtime");
        let (name, task) = runtime.block_on(async {
            tokio::task::spawn_blocking(|| {
                let name = std::thread::current().name().map(str::to_owned);
                // `PID/task/TID`: this thread, to watch for its exit.
                (
                    name,
                    std::fs::read_link("/proc/thread-self").expect("thread-self"),
                )
            })
            .await
            .expect("blocking task")
        });
        assert_eq!(name.as_deref(), Some(super::BLOCKING_THREAD_NAME));
        let task = std::path::Path::new("/proc").join(task);
        // Well under tokio's default keep-alive (10 s), five times ours: an exit, not a timing.
        let deadline = std::time::Instant::now() + super::BLOCKING_KEEP_ALIVE * 5;
        while task.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(
            !task.exists(),
            "the blocking thread {task:?} is still there"
        );
        drop(runtime);
    }
}
