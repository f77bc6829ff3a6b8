//! airlock-pool: HTTP plumbing shared by the gateway and the ALB.
//!
//! Server side: hop-by-hop header stripping ([`headers`]), percent-decoding ([`uri`]),
//! wildcard patterns ([`glob`]), the TLS handshake of a front door ([`tls`]), request bodies
//! left unread ([`drain`]) and `HEAD` answers ([`head`]).
//!
//! Client side, the rest of this page: HTTP/1.1 client connections, kept alive in a pool and
//! driven by the task that uses them.
//!
//! A pooled client of the usual kind (hyper-util's) runs every connection in a task of its own
//! and talks to it through channels: two hand-offs between tasks per request, on top of the
//! work. Here the requesting task polls the connection while it waits for the response head, and
//! the response body ([`DrivenBody`]) polls it while the body streams; once the body has ended,
//! the connection goes back to the pool, unless the server answered before the request body was
//! all sent: such a connection closes. An upgraded connection leaves the pool and runs in a
//! task of its own ([`Pooled::detach`]).
//!
//! A burst of concurrent requests leaves as many idle connections behind it, each holding its
//! buffers and TLS state, and on an in-process chain the peer's as well. A key keeps
//! [`SPARE_PER_KEY`] of them for the whole idle timeout; the rest close once they have idled
//! for [`SURPLUS_IDLE`] (see [`Pool::prune_until`]), so memory returns soon after the burst.
//! A pool with many keys (an ALB node in front of dozens of targets, each key also per shard)
//! keeps at most [`SPARES_PER_POOL`] spares past [`SURPLUS_IDLE`], the most recently used.
//!
//! Architecture invariant: knows HTTP and TLS, HTTP/1.1 connections and how long they may idle.
//! What a key names and how a connection is opened is the caller's [`Connect`]; no component's
//! rules live here.

pub mod drain;
pub mod glob;
pub mod head;
pub mod headers;
pub mod relay;
pub mod tls;
pub mod uri;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use relay::Relay;
use std::collections::{HashMap, VecDeque};
use std::future::{Future, poll_fn};
use std::hash::Hash;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Idle connections a key keeps until the idle timeout: enough for a client that sends one
/// request at a time, which is how a stack is mostly used between bursts.
pub const SPARE_PER_KEY: usize = 1;

/// Idle connections a pool keeps past [`SURPLUS_IDLE`] over all its keys: the spares of the
/// keys used most recently. A spare per key is what a client sending one request at a time
/// needs, but keys multiply (targets × shards: a 50-task group behind an ALB node left 100
/// spares after a burst, each ~100 KiB with its peer's side, most of the stack's memory after
/// the load; docs/PERFORMANCE.md "Memory after load"). Beyond this many, a key whose spare has
/// idled for [`SURPLUS_IDLE`] dials again when it is next used.
pub const SPARES_PER_POOL: usize = 8;

/// How long an idle connection beyond a key's [`SPARE_PER_KEY`] is kept. Under steady load the
/// newest idle connection is taken first, so the oldest idle ones are those a burst left behind
/// and the current load does not need; they close after this, not after the idle timeout.
pub const SURPLUS_IDLE: Duration = Duration::from_secs(2);

/// Expiries this close together are handled in one wake-up of the pruner: the connections a
/// burst leaves behind were checked in within moments of each other.
const PRUNE_SLACK: Duration = Duration::from_millis(100);

/// Opens connections for a [`Pool`].
pub trait Connect: Send + Sync + 'static {
    /// What a connection leads to; connections are reused only for the same key.
    type Key: Eq + Hash + Clone + std::fmt::Debug + Send + Sync + 'static;
    /// The byte stream under HTTP.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// Why no connection was made.
    type Error: std::error::Error + Send + Sync + 'static;
    /// Opens a new connection to `key`.
    fn connect(
        &self,
        key: &Self::Key,
    ) -> impl Future<Output = Result<Self::Io, Self::Error>> + Send;

    /// Opens a new connection to `key` for the request whose headers are `headers` (the pool
    /// opens one only when no idle connection can take the request). A connector that notes
    /// why it opened a connection (the request's trace) reads what it needs here, so that the
    /// many requests that reuse a connection pay nothing for it. By default, [`Connect::connect`].
    fn connect_for(
        &self,
        key: &Self::Key,
        headers: &http::HeaderMap,
    ) -> impl Future<Output = Result<Self::Io, Self::Error>> + Send {
        let _ = headers;
        self.connect(key)
    }
}

/// A request body a pooled connection can send.
pub trait SendBody:
    http_body::Body<Data: Send, Error: Into<Box<dyn std::error::Error + Send + Sync>>> + Send + 'static
{
}

impl<T> SendBody for T where
    T: http_body::Body<Data: Send, Error: Into<Box<dyn std::error::Error + Send + Sync>>>
        + Send
        + 'static
{
}

pin_project_lite::pin_project! {
    /// A request body on its way out, noting in its connection's flag when hyper has taken the
    /// last of it.
    ///
    /// A server may answer before it has read the whole body (a refusal such as 413, or an app
    /// that ignores the body). hyper hands that response over as soon as its head arrives and,
    /// while the connection is driven, goes on writing the body. Such a connection is not
    /// reused (see [`Pooled::answered_early`]).
    struct Tracked<B> {
        #[pin]
        inner: B,
        sent: Arc<AtomicBool>,
    }
}

impl<B: http_body::Body> http_body::Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        let mut this = self.project();
        let frame = this.inner.as_mut().poll_frame(cx);
        let last = match &frame {
            Poll::Ready(None) => true,
            // hyper stops asking after trailers, or after data once the body says it ended.
            Poll::Ready(Some(Ok(f))) => f.is_trailers() || this.inner.is_end_stream(),
            _ => false,
        };
        if last {
            this.sent.store(true, Ordering::Release);
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A connection's driver: the HTTP/1.1 state machine that reads and writes its stream.
type Driver = Pin<Box<dyn Future<Output = hyper::Result<()>> + Send>>;

/// Why a request got no response.
#[derive(Debug, thiserror::Error)]
pub enum SendError<E: std::error::Error + 'static> {
    /// No connection could be made.
    #[error(transparent)]
    Connect(E),
    /// The connection failed while the request was sent or the response head read.
    #[error("the connection failed: {0}")]
    Http(#[source] hyper::Error),
    /// A new connection closed before it could take the request.
    #[error("the connection closed before the request was sent")]
    Closed,
}

/// Header lines a pooled connection parses in a response head. hyper's default (100) would turn
/// a target's answer with more lines into a 502 although the load balancer takes any response
/// head up to 32 KB (docs/aws-rules.md §ALB-2.5, checked in `airlock-alb`); the count matches
/// what a client may send the gateway (1,024 lines) and room for what each hop adds, so what a
/// task may answer is bounded the same way as what a client may ask. hyper keeps a slot per line,
/// allocated per response once past its default, so the bound is not unlimited.
pub const MAX_RESPONSE_HEADER_LINES: usize = 1024 + 128;

/// Idle keep-alive connections per key.
pub struct Pool<C: Connect, B> {
    connector: C,
    idle_timeout: Duration,
    /// Head and body in one write: over TLS, separate writes are separate records.
    writev: bool,
    idle: Mutex<IdleMap<C::Key, B>>,
    /// What the pruner's next wake-up takes into account: [`Watch::NOTHING`], [`Watch::SPARES`]
    /// or [`Watch::SURPLUS`]. Read and written with the `idle` lock held. A check-in that leaves
    /// more to watch than this raises it and notifies `wake`, so that the pruner works out its
    /// next wake-up again; so an unused pool's pruner never wakes, and a busy pool's check-in
    /// pays one load of a flag.
    watched: AtomicU8,
    /// Wakes the pruner (see `watched`); shared so the pruner can wait without keeping the
    /// pool alive.
    wake: Arc<Notify>,
}

/// Idle connections per key, oldest first: checkout takes the newest (warmest) from the back,
/// expiry takes the oldest from the front.
type IdleMap<K, B> = HashMap<K, VecDeque<Idle<K, B>>, KeyHash>;

/// Hashes map keys with foldhash (the hasher hashbrown uses): the pool's keys, and elsewhere
/// any key that comes from the stack's own configuration or has already been checked (the
/// gateway's cache of verified tokens), never raw client input. Such keys cannot be chosen to
/// collide, so the flooding resistance of the standard SipHash buys nothing; its cost, taken
/// on every request, did. Each map gets its own seed, which is free. foldhash's `quality`
/// variant, not `fast`: structured keys such as (shard, private address) filled a third fewer
/// buckets with `fast` than random hashes would; the final mixing step costs a multiply.
pub type KeyHash = foldhash::quality::RandomState;

/// What a pool's pruner has planned its next wake-up for (`Pool::watched`).
struct Watch;

impl Watch {
    /// No idle connection: the pruner waits to be woken.
    const NOTHING: u8 = 0;
    /// Only spares: the next wake-up is the oldest one's idle timeout.
    const SPARES: u8 = 1;
    /// Some key has more than its spares: the next wake-up is within [`SURPLUS_IDLE`].
    const SURPLUS: u8 = 2;
}

/// A connection waiting in the pool, and since when.
type Idle<K, B> = (Instant, Pooled<K, B>);

/// A connection and the pool it returns to.
type Checkout<C, B> = (Arc<Pool<C, B>>, Pooled<<C as Connect>::Key, B>);

/// One connection, with its request handle.
pub struct Pooled<K, B> {
    key: K,
    sender: http1::SendRequest<Tracked<B>>,
    /// Whether hyper has taken the whole body of the last request sent (see [`Tracked`]).
    body_sent: Arc<AtomicBool>,
    /// The response head arrived before the request body was all taken. The connection closes
    /// once the response has ended instead of returning to the pool: its driver would first
    /// have to pull the rest of a body that nobody may be pulling any more (the client that
    /// sent it has its answer), and the next request would wait behind it. Even a body sent
    /// whole after the answer leaves the server in a state the client cannot know: one that
    /// answered early may never read the rest, and the next request would wait behind it there.
    answered_early: bool,
    /// In a mutex only so that a body holding it is `Sync`; it is reached through `get_mut`.
    /// `None` once it has finished: the connection is closed. A finished driver is dropped at
    /// once, not kept: hyper answers a request still queued for a closed connection (sent the
    /// moment before the peer's close was read) only when the queue is dropped, handing the
    /// request back to be sent on another connection. Kept, it would leave that request's
    /// response pending for ever.
    driver: Mutex<Option<Driver>>,
    /// What the driver is polled with: a waker that relays to the task that polled the
    /// connection last. It is muted while that task takes a frame of the response body
    /// ([`DrivenBody`]): hyper's body channel then wakes the driver's task to say the body has
    /// room again, which is the running task itself, and it would run once more for nothing (a
    /// whole poll of every layer of the connection it serves). Nothing is lost by muting it: a
    /// body that has to wait for more polls the driver itself. It also tells whether the
    /// connection has stirred since the driver was last polled (see [`Pooled::ready`]).
    relay: Arc<Relay>,
    /// `relay` as a waker, made once.
    waker: Waker,
}

impl<K: std::fmt::Debug, B> Pooled<K, B> {
    /// Lets the connection make progress (read the response, write the request body).
    pub fn poll_driver(&mut self, cx: &mut Context<'_>) {
        let slot = self.driver.get_mut().unwrap_or_else(|e| e.into_inner());
        let Some(driver) = slot.as_mut() else {
            return;
        };
        self.relay.follow(cx.waker());
        self.relay.take_woken();
        if let Poll::Ready(result) = driver.as_mut().poll(&mut Context::from_waker(&self.waker)) {
            *slot = None;
            if let Err(e) = result {
                tracing::debug!(key = ?self.key, error = %e, "pooled connection ended with an error");
            }
        }
    }

    /// Whether the connection has closed (its driver has finished).
    fn closed(&mut self) -> bool {
        self.driver
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
    }

    /// Runs `fut` (the response to a request just sent) while driving the connection.
    ///
    /// Only the driver gets the task's waker. The response reaches `fut` through a channel
    /// that the driver fills, and `fut` is looked at right after every poll of the driver, so
    /// it never has to wake the task itself; had it the task's waker, the driver handing over
    /// the response would wake the very task that is running, which then runs once more for
    /// nothing (a whole poll of every layer of the client connection it serves).
    async fn drive<T>(&mut self, fut: impl Future<Output = T>) -> T {
        let mut fut = pin!(fut);
        poll_fn(|cx| {
            self.poll_driver(cx);
            fut.as_mut().poll(&mut Context::from_waker(Waker::noop()))
        })
        .await
    }

    /// Waits until the connection can take a request; `false` if it closed instead.
    ///
    /// The caller must send at once and then [`drive`](Self::drive): a connection found ready
    /// was polled without the task's waker (see `drive`: the request about to be sent would
    /// otherwise wake the running task through the driver's request channel), and `drive`
    /// polls it again with the waker before the task waits.
    async fn ready(&mut self) -> bool {
        poll_fn(|cx| {
            let mut quiet = Context::from_waker(Waker::noop());
            // A connection back from an exchange is usually ready already: its driver reached
            // the idle state in its last poll. Unless the connection has stirred since (the peer
            // closed it, say), another poll of the driver would only probe it once more through
            // every layer of its stream.
            if !self.closed()
                && !self.relay.woken()
                && let Poll::Ready(r) = self.sender.poll_ready(&mut quiet)
            {
                return Poll::Ready(r.is_ok());
            }
            self.poll_driver(&mut quiet);
            if self.closed() {
                return Poll::Ready(false);
            }
            if let Poll::Ready(r) = self.sender.poll_ready(&mut quiet) {
                return Poll::Ready(r.is_ok());
            }
            // Not ready yet: wait for it like any future, woken by the connection.
            self.poll_driver(cx);
            if self.closed() {
                return Poll::Ready(false);
            }
            self.sender.poll_ready(cx).map(|r| r.is_ok())
        })
        .await
    }

    /// `req` with its body tracked by this connection's flag.
    fn track<B2>(&self, req: Request<B2>) -> Request<Tracked<B2>>
    where
        B2: http_body::Body,
    {
        self.body_sent
            .store(req.body().is_end_stream(), Ordering::Release);
        let sent = self.body_sent.clone();
        req.map(|inner| Tracked { inner, sent })
    }

    /// Notes, as the response head arrives, whether the request body was all taken by then.
    fn note_answer(&mut self) {
        self.answered_early = !self.body_sent.load(Ordering::Acquire);
    }

    /// Hands the connection to a task of its own, e.g. for an upgrade to complete and run.
    pub fn detach(self) {
        if let Some(driver) = self.driver.into_inner().unwrap_or_else(|e| e.into_inner()) {
            tokio::spawn(async move {
                let _ = driver.await;
            });
        }
    }
}

impl<C: Connect, B> Pool<C, B> {
    /// Returns a connection whose exchange is complete, for the next request to its key.
    pub fn checkin(&self, mut conn: Pooled<C::Key, B>) {
        if conn.closed() || conn.sender.is_closed() {
            return;
        }
        if conn.answered_early {
            // Closed, dropping what is left of the body; the peer sees the close after its
            // complete response.
            tracing::debug!(key = ?conn.key, "answered before the request body was sent; closing");
            return;
        }
        let now = Instant::now();
        let mut idle = lock(&self.idle);
        let keys = idle.len();
        let list = idle.entry(conn.key.clone()).or_default();
        // Connections past the idle timeout are closed here, at checkout and by `prune`. Only
        // the oldest can have expired: no scan of the whole list on every request.
        while list
            .front()
            .is_some_and(|(since, _)| now.duration_since(*since) >= self.idle_timeout)
        {
            list.pop_front();
        }
        list.push_back((now, conn));
        // More keys than the pool keeps spares for (the map's length counts keys whose lists
        // emptied since the last prune too: at worst the pruner wakes once for nothing).
        let needs = if list.len() > SPARE_PER_KEY || keys >= SPARES_PER_POOL {
            Watch::SURPLUS
        } else {
            Watch::SPARES
        };
        if self.watched.load(Ordering::Relaxed) < needs {
            self.watched.store(needs, Ordering::Relaxed);
            self.wake.notify_one();
        }
    }

    fn checkout(&self, key: &C::Key) -> Option<Pooled<C::Key, B>> {
        let now = Instant::now();
        let mut idle = lock(&self.idle);
        let list = idle.get_mut(key)?;
        while let Some((since, conn)) = list.pop_back() {
            if now.duration_since(since) < self.idle_timeout {
                return Some(conn);
            }
        }
        None
    }

    /// Closes every connection idle for the idle timeout, those beyond a key's
    /// [`SPARE_PER_KEY`] idle for [`SURPLUS_IDLE`], and the oldest of those idle for
    /// [`SURPLUS_IDLE`] beyond the pool's [`SPARES_PER_POOL`]. Returns when the next idle
    /// connection is due to close, or `None` when none is left.
    pub fn prune(&self) -> Option<Instant> {
        let now = Instant::now();
        let settled = |since: &Instant| now.duration_since(*since) >= SURPLUS_IDLE;
        let mut idle = lock(&self.idle);
        let mut total = 0;
        for list in idle.values_mut() {
            list.retain(|(since, _)| now.duration_since(*since) < self.idle_timeout);
            // Oldest first: the surplus are the front of the list.
            while list.len() > SPARE_PER_KEY
                && list.front().is_some_and(|(since, _)| settled(since))
            {
                list.pop_front();
            }
            total += list.len();
        }
        idle.retain(|_, list| !list.is_empty());
        if total > SPARES_PER_POOL {
            // The settled connections of every key, oldest first; each key's are the front of
            // its list, in the same order, so closing them in this order pops fronts.
            let mut old: Vec<(Instant, &C::Key)> = idle
                .iter()
                .flat_map(|(key, list)| {
                    list.iter()
                        .take_while(|(since, _)| settled(since))
                        .map(move |(since, _)| (*since, key))
                })
                .collect();
            old.sort_unstable_by_key(|(since, _)| *since);
            let close: Vec<C::Key> = old
                .into_iter()
                .take(total - SPARES_PER_POOL)
                .map(|(_, key)| key.clone())
                .collect();
            total -= close.len();
            for key in &close {
                if let Some(list) = idle.get_mut(key) {
                    list.pop_front();
                }
            }
            idle.retain(|_, list| !list.is_empty());
        }
        let mut next: Option<Instant> = None;
        let mut watched = Watch::NOTHING;
        let over = total > SPARES_PER_POOL;
        for list in idle.values() {
            let Some((since, _)) = list.front() else {
                continue;
            };
            let due = if list.len() > SPARE_PER_KEY || (over && !settled(since)) {
                // A surplus, or one of more spares than the pool keeps: closes once settled
                // (over the pool's spares, only the young remain; see above).
                watched = Watch::SURPLUS;
                *since + SURPLUS_IDLE.min(self.idle_timeout)
            } else {
                watched = watched.max(Watch::SPARES);
                *since + self.idle_timeout
            };
            next = Some(next.map_or(due, |n| n.min(due)));
        }
        self.watched.store(watched, Ordering::Relaxed);
        next
    }

    /// How many idle connections the pool holds.
    pub fn idle_count(&self) -> usize {
        lock(&self.idle).values().map(VecDeque::len).sum()
    }
}

impl<C, B> Pool<C, B>
where
    C: Connect,
    B: SendBody,
{
    /// A pool whose connections close after `idle_timeout` without a request. With `writev`
    /// off, a request's head and body go out in one write (better over TLS).
    pub fn new(connector: C, idle_timeout: Duration, writev: bool) -> Arc<Self> {
        Arc::new(Pool {
            connector,
            idle_timeout,
            writev,
            idle: Mutex::new(HashMap::default()),
            watched: AtomicU8::new(Watch::NOTHING),
            wake: Arc::new(Notify::new()),
        })
    }

    /// The connector.
    pub fn connector(&self) -> &C {
        &self.connector
    }

    /// Sends `req` (origin-form URI, `Host` set by the caller) to `key` on an idle connection,
    /// or a new one. A request that an idle connection turned out unable to take (the peer had
    /// closed it) is sent on another: nothing of it was written.
    pub async fn send(
        &self,
        key: &C::Key,
        mut req: Request<B>,
    ) -> Result<(Response<Incoming>, Pooled<C::Key, B>), SendError<C::Error>> {
        while let Some(mut conn) = self.checkout(key) {
            if !conn.ready().await {
                continue;
            }
            let sent = conn.sender.try_send_request(conn.track(req));
            match conn.drive(sent).await {
                Ok(response) => {
                    conn.note_answer();
                    return Ok((response, conn));
                }
                Err(mut e) => match e.take_message() {
                    Some(unsent) => req = unsent.map(|b| b.inner),
                    None => return Err(SendError::Http(e.into_error())),
                },
            }
        }
        // Boxed: a new connection (a dial, perhaps a tunnel and a TLS handshake) is the rare
        // case, and its future would otherwise be kilobytes of every request's future.
        let mut conn = Box::pin(self.open(key, req.headers())).await?;
        if !conn.ready().await {
            return Err(SendError::Closed);
        }
        let sent = conn.sender.send_request(conn.track(req));
        let response = conn.drive(sent).await.map_err(SendError::Http)?;
        conn.note_answer();
        Ok((response, conn))
    }

    /// A new connection to `key`.
    async fn open(
        &self,
        key: &C::Key,
        headers: &http::HeaderMap,
    ) -> Result<Pooled<C::Key, B>, SendError<C::Error>> {
        let io = self
            .connector
            .connect_for(key, headers)
            .await
            .map_err(SendError::Connect)?;
        let (sender, connection) = http1::Builder::new()
            .writev(self.writev)
            .max_headers(MAX_RESPONSE_HEADER_LINES)
            .handshake(TokioIo::new(io))
            .await
            .map_err(SendError::Http)?;
        let (relay, waker) = Relay::new();
        Ok(Pooled {
            key: key.clone(),
            sender,
            body_sent: Arc::new(AtomicBool::new(true)),
            answered_early: false,
            driver: Mutex::new(Some(Box::pin(connection.with_upgrades()))),
            relay,
            waker,
        })
    }

    /// Closes `pool`'s idle connections as they become due (see [`Pool::prune`]) until the
    /// pool is dropped or `stop` resolves. It sleeps while the pool has no idle connection, and
    /// is woken when a check-in brings one due sooner than it planned for. (A pool dropped while
    /// its pruner sleeps with nothing to watch is noticed only at `stop`: the pruner holds no
    /// reference to it, just its wake-up.)
    pub async fn prune_until(pool: Weak<Self>, stop: impl Future<Output = ()>) {
        let mut stop = pin!(stop);
        loop {
            let Some((wake, next)) = pool.upgrade().map(|p| (p.wake.clone(), p.prune())) else {
                return;
            };
            let due = async {
                match next {
                    Some(due) => tokio::time::sleep_until(due + PRUNE_SLACK).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = due => {}
                _ = wake.notified() => {}
                _ = &mut stop => return,
            }
        }
    }
}

/// A response body that drives its connection while it streams and returns the connection to
/// its pool when the body has ended (or is dropped with nothing left to read).
pub struct DrivenBody<C: Connect, B> {
    inner: Incoming,
    conn: Option<Checkout<C, B>>,
}

impl<C, B> DrivenBody<C, B>
where
    C: Connect,
    B: SendBody,
{
    /// Wraps the body of a response [`Pool::send`] returned, with its connection.
    pub fn new(inner: Incoming, pool: Arc<Pool<C, B>>, conn: Pooled<C::Key, B>) -> Self {
        DrivenBody {
            inner,
            conn: Some((pool, conn)),
        }
    }

    /// Lets the connection make progress (`poll_frame` does, when the body has to wait).
    fn poll_driver(&mut self, cx: &mut Context<'_>) {
        if let Some((_, conn)) = self.conn.as_mut() {
            conn.poll_driver(cx);
        }
    }

    /// The body's next frame, with the driver's wake-ups muted meanwhile (see `Pooled::relay`).
    fn poll_muted(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, hyper::Error>>> {
        let Some((_, conn)) = self.conn.as_ref() else {
            return http_body::Body::poll_frame(Pin::new(&mut self.inner), cx);
        };
        conn.relay.set_muted(true);
        let frame = http_body::Body::poll_frame(Pin::new(&mut self.inner), cx);
        conn.relay.set_muted(false);
        frame
    }

    fn release(&mut self) {
        if let Some((pool, conn)) = self.conn.take() {
            pool.checkin(conn);
        }
    }
}

// Nothing in the body is pinned in place: the connection's driver is boxed.
impl<C: Connect, B> Unpin for DrivenBody<C, B> {}

impl<C: Connect, B> Drop for DrivenBody<C, B> {
    fn drop(&mut self) {
        // Not polled to its end (empty, or dropped mid-stream): the connection goes back only
        // if the peer had sent all of the body; otherwise it closes with it.
        if http_body::Body::is_end_stream(&self.inner)
            && let Some((pool, conn)) = self.conn.take()
        {
            pool.checkin(conn);
        }
    }
}

impl<C, B> http_body::Body for DrivenBody<C, B>
where
    C: Connect,
    B: SendBody,
{
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        // The body first: a response that arrived whole (the common case) is already in it, and
        // polling the driver for nothing costs a read through every layer of the connection.
        // Only a body that must wait drives the connection, which also registers its wakers
        // before `Pending` is returned.
        let mut frame = this.poll_muted(cx);
        if frame.is_pending() {
            this.poll_driver(cx);
            frame = Pin::new(&mut this.inner).poll_frame(cx);
        }
        if let Poll::Ready(None) = frame {
            this.release();
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// `airlock_net::sync::lock`, which this crate cannot use: foundations depend on no airlock
/// crate (`tests/architecture.rs`). A panic while moving connections in or out leaves the map
/// usable.
pub(crate) fn lock<T: ?Sized>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher as _;
    use std::net::SocketAddr;

    /// Pool keys of one stack (targets by shard and address) hash apart, and equal keys alike.
    #[test]
    fn key_hashes_spread_the_keys_a_stack_has() {
        let mut seen = std::collections::HashSet::new();
        let mut buckets = std::collections::HashSet::new();
        let hasher = KeyHash::default();
        for shard in 0..4usize {
            for host in 0..64u8 {
                for port in [80u16, 443, 8080] {
                    let key = (shard, SocketAddr::from(([10, 0, 100, host], port)));
                    let h = hasher.hash_one(key);
                    assert_eq!(h, hasher.hash_one(key));
                    assert!(seen.insert(h), "{key:?} collides");
                    buckets.insert(h & 1023);
                }
            }
        }
        // The low bits pick the bucket: 768 keys land in as many of 1024 buckets as random
        // hashes would (~540), not in a few.
        assert!(buckets.len() > 450, "{} buckets", buckets.len());
        // Text keys too, including ones sharing their first eight bytes.
        let a = hasher.hash_one("private-integration.example.com:443");
        let b = hasher.hash_one("private-integration.example.com:444");
        assert_ne!(a, b);
    }
}
