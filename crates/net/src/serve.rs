//! The one accept loop every airlock listener uses.

use crate::{Accepted, EmulatedListener, shards};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// The most connections one listener serves at once; further clients wait in the kernel backlog.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimit(pub usize);

impl Default for ConnectionLimit {
    fn default() -> Self {
        ConnectionLimit(10_000)
    }
}

/// Something connections arrive on: a host socket, or an in-process [`EmulatedListener`].
pub trait Accept: Send + 'static {
    /// What an accepted connection is.
    type Conn: Send + 'static;
    /// An accepted connection on its way to the runtime that serves it.
    type Transit: Send + 'static;
    /// The next connection, who it comes from, and the runtime that should serve it (`None`:
    /// the accepting one).
    fn accept(
        &mut self,
    ) -> impl Future<Output = io::Result<(Self::Transit, SocketAddr, Option<Handle>)>> + Send;
    /// The connection, ready on the runtime that serves it (called there).
    fn arrive(transit: Self::Transit) -> io::Result<Self::Conn>;
    /// The address connections arrive on, for log spans.
    fn local(&self) -> Option<SocketAddr>;
}

impl Accept for TcpListener {
    type Conn = TcpStream;
    /// Not yet registered with any runtime's reactor: the serving shard registers it, so its
    /// readiness wakes that shard directly.
    type Transit = std::net::TcpStream;
    async fn accept(&mut self) -> io::Result<(std::net::TcpStream, SocketAddr, Option<Handle>)> {
        let (stream, peer) = TcpListener::accept(self).await?;
        // Every airlock protocol is request/response: Nagle only adds latency.
        let _ = stream.set_nodelay(true);
        Ok((stream.into_std()?, peer, shards::next()))
    }
    fn arrive(transit: std::net::TcpStream) -> io::Result<TcpStream> {
        TcpStream::from_std(transit)
    }
    fn local(&self) -> Option<SocketAddr> {
        self.local_addr().ok()
    }
}

impl Accept for EmulatedListener {
    type Conn = Accepted;
    type Transit = Accepted;
    async fn accept(&mut self) -> io::Result<(Accepted, SocketAddr, Option<Handle>)> {
        let mut accepted = EmulatedListener::accept(self).await;
        let peer = accepted.info.peer;
        // Served where it was dialed: the whole exchange stays on the dialer's core.
        let home = accepted.home.take();
        Ok((accepted, peer, home))
    }
    fn arrive(transit: Accepted) -> io::Result<Accepted> {
        Ok(transit)
    }
    fn local(&self) -> Option<SocketAddr> {
        self.private_addrs().first().map(|a| SocketAddr::V4(*a))
    }
}

/// Accepts connections until `shutdown` fires, running `handle` for each one in a task tracked
/// by `tracker` (so the owner can wait for in-flight work with a grace deadline).
///
/// Accept errors (e.g. too many open files) are logged and the loop goes on after a short pause,
/// rather than ending the listener. Each connection task runs in a span naming the listener and
/// both addresses.
pub async fn accept_loop<L, F, Fut>(
    name: &'static str,
    mut listener: L,
    limit: ConnectionLimit,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    handle: F,
) where
    L: Accept,
    F: Fn(L::Conn, SocketAddr) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let local = listener.local();
    let permits = Arc::new(Semaphore::new(limit.0.max(1)));
    let handle = Arc::new(handle);
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((transit, peer, home)) => {
                let span = tracing::debug_span!("conn", listener = name, %peer, local = ?local);
                let handle = handle.clone();
                let serve = async move {
                    match L::arrive(transit) {
                        Ok(stream) => handle(stream, peer).await,
                        Err(e) => tracing::warn!(error = %e, "accepted connection lost"),
                    }
                    drop(permit);
                }
                .instrument(span);
                match home {
                    Some(runtime) => drop(runtime.spawn(tracker.track_future(serve))),
                    None => drop(tracker.spawn(serve)),
                }
            }
            Err(e) => {
                tracing::warn!(listener = name, error = %e, "accept failed; retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
