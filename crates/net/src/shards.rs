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
use tokio::runtime::Handle;

static SHARDS: OnceLock<Vec<Handle>> = OnceLock::new();
static NEXT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static INDEX: Cell<usize> = const { Cell::new(0) };
}

/// Starts a shard on a thread of its own: a current-thread runtime, marked as shard `index`, that
/// runs for as long as the process lives. Returns its handle, for [`install`].
pub fn spawn(index: usize) -> std::io::Result<Handle> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
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
