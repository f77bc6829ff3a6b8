//! The one accept loop every airlock listener uses.

use crate::sync::lock;
use crate::{Accepted, EmulatedListener, shards};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::sync::WaitForCancellationFutureOwned;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// Header lines an HTTP/1.1 server that faces clients (the gateway) parses: hyper keeps a slot per
/// header, allocated per request once past its default of 100, so the count is bounded apart
/// from the byte quotas (docs/aws-fidelity.md, "Header count").
pub const MAX_CLIENT_HEADER_LINES: usize = 1024;

/// Header lines one hop may add to a request it forwards (`X-Forwarded-*`, `Forwarded`, `Via`,
/// trace ids, mapped headers): each server further down the chain parses this many more than
/// the one before it, so a request one hop accepted is never refused for its count by the next.
pub const HEADER_LINES_ADDED_PER_HOP: usize = 32;

/// The most connections one listener serves at once; further clients wait in the kernel backlog.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimit(pub usize);

impl Default for ConnectionLimit {
    fn default() -> Self {
        ConnectionLimit(10_000)
    }
}

/// How long a listener pauses after a failed accept (e.g. `EMFILE`: the process is out of file
/// descriptors). The refused connection stays in the kernel's backlog and readiness stays set, so
/// retrying at once would spin; each listener pauses on its own, so one failing starves no other.
pub const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(50);

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
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(ACCEPT_RETRY_PAUSE) => {}
                }
            }
        }
    }
}

/// Drives a connection `conn` to its end; if `shutdown` fires first, calls `begin` on it once
/// (hyper's `graceful_shutdown`: finish the request in flight, take no more) and drives it on.
///
/// The same as `select!`-ing on `conn` and `shutdown.cancelled()`, but a connection is polled
/// on every byte it moves and `select!` would poll the shutdown future each time (a lock and a
/// waiter registration in the token); here the shutdown future is polled only when it woke.
pub fn serve_gracefully<F, G>(conn: F, shutdown: &CancellationToken, begin: G) -> Graceful<F, G>
where
    F: Future,
    G: FnOnce(Pin<&mut F>),
{
    let flag = Arc::new(ShutdownFlag {
        // Polled once at the start, to register with the token.
        fired: AtomicBool::new(true),
        task: std::sync::Mutex::new(None),
    });
    Graceful {
        conn: Box::pin(conn),
        cancelled: Box::pin(shutdown.clone().cancelled_owned()),
        flag_waker: Waker::from(flag.clone()),
        flag,
        begin: Some(begin),
        registered: None,
    }
}

/// The future of [`serve_gracefully`].
pub struct Graceful<F, G> {
    conn: Pin<Box<F>>,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
    flag: Arc<ShutdownFlag>,
    flag_waker: Waker,
    begin: Option<G>,
    /// The task waker the flag holds, to replace it only when the task's changes.
    registered: Option<Waker>,
}

impl<F, G> Future for Graceful<F, G>
where
    F: Future,
    G: FnOnce(Pin<&mut F>),
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // Every field is boxed or `Unpin`: the struct moves freely.
        let this = Pin::into_inner(self);
        if this.begin.is_some() {
            if !this
                .registered
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                *lock(&this.flag.task) = Some(cx.waker().clone());
                this.registered = Some(cx.waker().clone());
            }
            if this.flag.fired.swap(false, Ordering::AcqRel)
                && this
                    .cancelled
                    .as_mut()
                    .poll(&mut Context::from_waker(&this.flag_waker))
                    .is_ready()
                && let Some(begin) = this.begin.take()
            {
                begin(this.conn.as_mut());
            }
        }
        this.conn.as_mut().poll(cx)
    }
}

impl<F, G> Unpin for Graceful<F, G> {}

/// Wakes [`serve_gracefully`]'s task when the shutdown future woke, and says so.
struct ShutdownFlag {
    fired: AtomicBool,
    task: std::sync::Mutex<Option<Waker>>,
}

impl Wake for ShutdownFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.fired.store(true, Ordering::Release);
        if let Some(task) = lock(&self.task).as_ref() {
            task.wake_by_ref();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection that ends on its own never hears of the shutdown; one still running when
    /// the shutdown fires is told once and driven on to its end.
    #[tokio::test]
    async fn graceful_shutdown_is_begun_once_and_only_when_it_fires() {
        let shutdown = CancellationToken::new();
        let begun = AtomicBool::new(false);
        let out = serve_gracefully(async { 7 }, &shutdown, |_| {
            begun.store(true, Ordering::Relaxed)
        })
        .await;
        assert_eq!(out, 7);
        assert!(!begun.load(Ordering::Relaxed));

        let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let run = serve_gracefully(async { rx.await.unwrap_or(0) }, &shutdown, |_| {
            calls.fetch_add(1, Ordering::Relaxed);
        });
        let trigger = async {
            tokio::task::yield_now().await;
            shutdown.cancel();
            tokio::task::yield_now().await;
            assert_eq!(calls.load(Ordering::Relaxed), 1, "told at once");
            let _ = tx.send(9);
        };
        let (out, ()) = tokio::join!(run, trigger);
        assert_eq!(out, 9, "driven on to its end after the shutdown");
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    }
}
