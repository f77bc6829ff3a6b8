//! The pool over real loopback sockets: reuse, the idle timeout, and a closed connection.
#![allow(clippy::unwrap_used)]

use airlock_pool::{Connect, DrivenBody, Pool};
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

struct Tcp;

impl Connect for Tcp {
    type Key = SocketAddr;
    type Io = TcpStream;
    type Error = std::io::Error;
    async fn connect(&self, key: &SocketAddr) -> std::io::Result<TcpStream> {
        TcpStream::connect(key).await
    }
}

/// A loopback listener whose connections `serve` handles, each in a task of its own, and the
/// count of connections it accepted.
async fn listen<F, Fut>(serve: F) -> (SocketAddr, Arc<AtomicUsize>)
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve(stream));
        }
    });
    (addr, accepted)
}

/// A server that answers `hello` and counts the connections it accepted.
async fn server() -> (SocketAddr, Arc<AtomicUsize>) {
    listen(|stream| async move {
        let svc = service_fn(|_req: Request<Incoming>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hello"))))
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), svc)
            .await;
    })
    .await
}

async fn get<C: Connect<Key = SocketAddr>>(
    pool: &Arc<Pool<C, Empty<Bytes>>>,
    addr: SocketAddr,
) -> Bytes {
    get_path(pool, addr, "/").await
}

async fn get_path<C: Connect<Key = SocketAddr>>(
    pool: &Arc<Pool<C, Empty<Bytes>>>,
    addr: SocketAddr,
    path: &str,
) -> Bytes {
    let req = Request::get(path)
        .header("host", "test")
        .body(Empty::new())
        .unwrap();
    let (resp, conn) = pool.send(&addr, req).await.unwrap();
    let body = DrivenBody::new(resp.into_body(), pool.clone(), conn);
    body.collect().await.unwrap().to_bytes()
}

/// Paused time: the clock moves past the idle timeout only when told to (or when every task
/// waits), so "before" and "after" the timeout are exact.
#[tokio::test(start_paused = true)]
async fn connections_are_reused_until_the_idle_timeout() {
    let (addr, accepted) = server().await;
    let pool = Pool::new(Tcp, Duration::from_millis(300), true);
    for _ in 0..3 {
        assert_eq!(get(&pool, addr).await, "hello");
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "one connection for three requests"
    );
    tokio::time::advance(Duration::from_millis(400)).await;
    assert_eq!(get(&pool, addr).await, "hello");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        2,
        "past the idle timeout, a new connection"
    );
}

#[tokio::test]
async fn a_body_dropped_before_its_end_closes_its_connection() {
    let (addr, accepted) = server().await;
    let pool = Pool::new(Tcp, Duration::from_secs(60), true);
    let req = Request::get("/")
        .header("host", "test")
        .body(Empty::new())
        .unwrap();
    let (resp, conn) = pool.send(&addr, req).await.unwrap();
    drop(DrivenBody::new(resp.into_body(), pool.clone(), conn));
    assert_eq!(get(&pool, addr).await, "hello");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        2,
        "an unfinished exchange is not reused"
    );
}

/// Counts the wake-ups a future gives its own task while that task is polling it: each one
/// makes the runtime poll the task again for nothing.
struct SelfWakes {
    polling: std::sync::atomic::AtomicBool,
    count: AtomicUsize,
    task: std::sync::Mutex<Option<std::task::Waker>>,
}

impl std::task::Wake for SelfWakes {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.polling.load(Ordering::SeqCst) {
            self.count.fetch_add(1, Ordering::SeqCst);
        }
        if let Some(task) = self.task.lock().unwrap().as_ref() {
            task.wake_by_ref();
        }
    }
}

/// Polls `fut` to its end and returns its output with the number of self-wake-ups.
async fn counting_self_wakes<T>(fut: impl std::future::Future<Output = T>) -> (T, usize) {
    let probe = Arc::new(SelfWakes {
        polling: std::sync::atomic::AtomicBool::new(false),
        count: AtomicUsize::new(0),
        task: std::sync::Mutex::new(None),
    });
    let waker = std::task::Waker::from(probe.clone());
    let mut fut = std::pin::pin!(fut);
    let out = std::future::poll_fn(|cx| {
        *probe.task.lock().unwrap() = Some(cx.waker().clone());
        probe.polling.store(true, Ordering::SeqCst);
        let polled = fut
            .as_mut()
            .poll(&mut std::task::Context::from_waker(&waker));
        probe.polling.store(false, Ordering::SeqCst);
        polled
    })
    .await;
    (out, probe.count.load(Ordering::SeqCst))
}

/// A request on a pooled connection, and the reading of its response, never wake the task that
/// drives them while it runs: hyper's request channel, response channel and body channel
/// would, each one costing a pointless poll of the whole task (and of every layer of its
/// connection) per request.
#[tokio::test]
async fn a_request_does_not_wake_its_own_task() {
    let (addr, _) = server().await;
    let pool = Pool::new(Tcp, Duration::from_secs(60), true);
    assert_eq!(get(&pool, addr).await, "hello");
    for _ in 0..3 {
        let (body, wakes) = counting_self_wakes(get(&pool, addr)).await;
        assert_eq!(body, "hello");
        assert_eq!(wakes, 0, "the task woke itself {wakes} times");
    }
}

/// A peer that closes an idle keep-alive connection (without having said so in its response) is
/// noticed before the next request: that request goes out on a new connection instead of
/// failing on the closed one.
#[tokio::test]
async fn a_connection_its_peer_closed_while_idle_is_not_reused() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    // The server closes its side only after the client has its response (so the connection is
    // idle in the pool, not mid-exchange), and says when it has: explicit signals, no waits.
    let (answered_tx, answered_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let (closed_tx, mut closed_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let answered_rx = Arc::new(tokio::sync::Mutex::new(answered_rx));
    let (addr, accepted) = listen(move |mut stream| {
        let answered_rx = answered_rx.clone();
        let closed_tx = closed_tx.clone();
        async move {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")
                .await;
            // The first connection waits for the client to have read its answer; the second one
            // (the new connection) finds the channel empty forever and serves the test out.
            if answered_rx.lock().await.recv().await.is_some() {
                // Closed while the client keeps it as an idle keep-alive connection; a loopback
                // close has queued the FIN to the client when `drop` returns.
                drop(stream);
                let _ = closed_tx.send(());
            }
        }
    })
    .await;
    let pool = Pool::new(Tcp, Duration::from_secs(60), true);
    assert_eq!(get(&pool, addr).await, "hello");
    answered_tx.send(()).unwrap();
    closed_rx.recv().await.unwrap();
    assert_eq!(get(&pool, addr).await, "hello");
    assert_eq!(accepted.load(Ordering::SeqCst), 2, "a new connection");
}

/// A stream that, once told its peer hung up, reads end-of-stream without any wake-up: the
/// close is there the next time the connection looks, as when it lands between the pool's
/// check of an idle connection and the request's first poll.
struct Hangs {
    inner: TcpStream,
    hung_up: Arc<std::sync::atomic::AtomicBool>,
}

impl tokio::io::AsyncRead for Hangs {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.hung_up.load(Ordering::SeqCst) {
            return std::task::Poll::Ready(Ok(()));
        }
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Hangs {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Dials [`Hangs`] streams and keeps each one's hang-up switch.
#[derive(Default)]
struct HangsUp(std::sync::Mutex<Vec<Arc<std::sync::atomic::AtomicBool>>>);

impl Connect for HangsUp {
    type Key = SocketAddr;
    type Io = Hangs;
    type Error = std::io::Error;
    async fn connect(&self, key: &SocketAddr) -> std::io::Result<Hangs> {
        let hung_up = Arc::new(std::sync::atomic::AtomicBool::new(false));
        self.0.lock().unwrap().push(hung_up.clone());
        Ok(Hangs {
            inner: TcpStream::connect(key).await?,
            hung_up,
        })
    }
}

/// A close that the pool finds only once the request is on its way (it landed after the idle
/// connection was checked) does not strand the request: the connection hands the unsent
/// request back, and it goes out on a new connection.
#[tokio::test]
async fn a_close_found_as_the_request_goes_out_sends_it_on_a_new_connection() {
    let (addr, accepted) = server().await;
    let pool: Arc<Pool<HangsUp, Empty<Bytes>>> =
        Pool::new(HangsUp::default(), Duration::from_secs(60), true);
    assert_eq!(get(&pool, addr).await, "hello");
    pool.connector().0.lock().unwrap()[0].store(true, Ordering::SeqCst);
    let second = tokio::time::timeout(Duration::from_secs(10), get(&pool, addr)).await;
    assert_eq!(second.expect("the request was stranded"), "hello");
    assert_eq!(accepted.load(Ordering::SeqCst), 2, "a new connection");
}

/// A request body of `len` bytes whose sender gives `chunk` and then stalls: a client that
/// stopped sending (or that has its answer and will send no more).
struct Stalls {
    chunk: Option<Bytes>,
    len: u64,
    given: u64,
}

impl Stalls {
    fn new(chunk: Bytes, len: u64) -> Stalls {
        Stalls {
            chunk: Some(chunk),
            len,
            given: 0,
        }
    }
}

impl http_body::Body for Stalls {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        match self.chunk.take() {
            Some(chunk) => {
                self.given += chunk.len() as u64;
                std::task::Poll::Ready(Some(Ok(http_body::Frame::data(chunk))))
            }
            None if self.is_end_stream() => std::task::Poll::Ready(None),
            None => std::task::Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.given == self.len
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.len)
    }
}

/// A server that refuses `POST /big` with 413 at once, keeping the connection and the unread
/// body (neither reading nor closing), and answers anything else with its body.
async fn refuses_early() -> (SocketAddr, Arc<AtomicUsize>) {
    listen(|stream| async move {
        let svc = service_fn(|req: Request<Incoming>| async move {
            if req.uri().path() == "/big" {
                let held = req.into_body();
                tokio::spawn(async move {
                    let _held = held;
                    std::future::pending::<()>().await
                });
                let mut resp = Response::new(Full::new(Bytes::from_static(b"too large")));
                *resp.status_mut() = http::StatusCode::PAYLOAD_TOO_LARGE;
                return Ok::<_, Infallible>(resp);
            }
            let body = req.into_body().collect().await.unwrap().to_bytes();
            Ok(Response::new(Full::new(body)))
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), svc)
            .await;
    })
    .await
}

/// A response that arrives while the request body is still being written is handed back at
/// once; once it has ended, the connection (its body unsent) is not reused: the next request
/// to the same key gets its answer on a new connection instead of waiting behind the rest of a
/// body that will never come. Repeated, as the exchange is a race between reading and writing.
#[tokio::test]
async fn an_early_answer_comes_back_and_its_connection_is_not_reused() {
    let (addr, accepted) = refuses_early().await;
    let pool: Arc<Pool<Tcp, Stalls>> = Pool::new(Tcp, Duration::from_secs(60), true);
    for round in 0..30 {
        let big = Request::post("/big")
            .header("host", "test")
            .body(Stalls::new(Bytes::from(vec![b'a'; 64 * 1024]), 1 << 20))
            .unwrap();
        let refused = tokio::time::timeout(Duration::from_secs(10), async {
            let (resp, conn) = pool.send(&addr, big).await.unwrap();
            let status = resp.status();
            let body = DrivenBody::new(resp.into_body(), pool.clone(), conn);
            (status, body.collect().await.unwrap().to_bytes())
        })
        .await
        .expect("the early answer was not handed back");
        assert_eq!(refused.0, 413, "round {round}");
        assert_eq!(refused.1, "too large");

        let small = Request::post("/small")
            .header("host", "test")
            .body(Stalls::new(Bytes::from_static(b"hi"), 2))
            .unwrap();
        let answered = tokio::time::timeout(Duration::from_secs(10), async {
            let (resp, conn) = pool.send(&addr, small).await.unwrap();
            let body = DrivenBody::new(resp.into_body(), pool.clone(), conn);
            body.collect().await.unwrap().to_bytes()
        })
        .await
        .expect("the next request waited behind the unsent body");
        assert_eq!(answered, "hi", "round {round}");
    }
    // A refusal's connection closes; the small request after it opens the connection that
    // the next refusal reuses: the first refusal's and one per round.
    assert_eq!(accepted.load(Ordering::SeqCst), 31);
}

/// In-memory connections to a server that counts the connections it holds open, so time can be
/// paused: each dial is a `tokio::io::duplex` whose far end a hyper server serves.
struct Memory {
    /// Connections the server has open, watched by the test.
    open: tokio::sync::watch::Sender<usize>,
    /// Every request for `/burst` waits here, so that a burst of this many requests is in
    /// flight at once (each on a connection of its own).
    burst: Arc<tokio::sync::Barrier>,
}

impl Connect for Memory {
    type Key = SocketAddr;
    type Io = tokio::io::DuplexStream;
    type Error = std::io::Error;
    async fn connect(&self, _key: &SocketAddr) -> std::io::Result<tokio::io::DuplexStream> {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let open = self.open.clone();
        let burst = self.burst.clone();
        open.send_modify(|n| *n += 1);
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                let burst = burst.clone();
                async move {
                    if req.uri().path() == "/burst" {
                        burst.wait().await;
                    }
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hello"))))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(theirs), svc)
                .await;
            open.send_modify(|n| *n -= 1);
        });
        Ok(ours)
    }
}

/// A burst of concurrent requests leaves as many idle connections behind; beyond the spare a
/// key keeps, they close once they have idled for `SURPLUS_IDLE`, long before the idle timeout
/// (each holds buffers and TLS state on both ends). The spare closes at the idle timeout.
#[tokio::test(start_paused = true)]
async fn idle_connections_a_burst_left_close_soon_but_the_spare_stays_to_the_idle_timeout() {
    use airlock_pool::{SPARE_PER_KEY, SURPLUS_IDLE};
    const BURST: usize = 8;
    let idle_timeout = Duration::from_secs(60);
    let (open, mut watch_open) = tokio::sync::watch::channel(0);
    let pool = Pool::new(
        Memory {
            open,
            burst: Arc::new(tokio::sync::Barrier::new(BURST)),
        },
        idle_timeout,
        true,
    );
    let (stop, stopped) = stop_signal();
    tokio::spawn(Pool::prune_until(Arc::downgrade(&pool), stopped));
    let addr: SocketAddr = ([10, 0, 0, 1], 80).into();
    // One request a while before the burst: the pruner has planned for its connection's idle
    // timeout when the burst comes, and must plan again.
    assert_eq!(get(&pool, addr).await, "hello");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let burst: Vec<_> = (0..BURST)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { get_path(&pool, addr, "/burst").await })
        })
        .collect();
    for request in burst {
        assert_eq!(request.await.unwrap(), "hello");
    }
    assert_eq!(pool.idle_count(), BURST, "each request had a connection");
    assert_eq!(*watch_open.borrow(), BURST);

    let start = tokio::time::Instant::now();
    watch_open.wait_for(|n| *n == SPARE_PER_KEY).await.unwrap();
    // Paused time: the clock moves only to the next timer, so these are exact, not timings.
    let waited = start.elapsed();
    assert!(
        waited >= SURPLUS_IDLE && waited < SURPLUS_IDLE * 2,
        "the surplus closed after {waited:?}"
    );
    assert_eq!(pool.idle_count(), SPARE_PER_KEY);

    watch_open.wait_for(|n| *n == 0).await.unwrap();
    assert!(
        start.elapsed() >= idle_timeout,
        "the spare closed after {:?}",
        start.elapsed()
    );
    assert_eq!(pool.idle_count(), 0);
    drop(stop);
}

/// A pool with more keys than it keeps spares for (a node in front of many targets, each key
/// also per shard) keeps, once they have idled for `SURPLUS_IDLE`, only `SPARES_PER_POOL` of
/// the keys' spares: those of the keys used last. A key whose spare closed dials again; the
/// kept spares stay to the idle timeout.
#[tokio::test(start_paused = true)]
async fn a_pool_keeps_the_spares_of_its_most_recently_used_keys_only() {
    use airlock_pool::{SPARES_PER_POOL, SURPLUS_IDLE};
    const KEYS: usize = SPARES_PER_POOL + 5;
    let idle_timeout = Duration::from_secs(60);
    let (open, mut watch_open) = tokio::sync::watch::channel(0);
    let pool = Pool::new(
        Memory {
            open,
            burst: Arc::new(tokio::sync::Barrier::new(1)),
        },
        idle_timeout,
        true,
    );
    let (stop, stopped) = stop_signal();
    tokio::spawn(Pool::prune_until(Arc::downgrade(&pool), stopped));
    let key = |i: usize| SocketAddr::from(([10, 0, 0, 1], 8000 + i as u16));
    // One request at a time to each key in turn, a moment apart: each key has one idle
    // connection, the last key's the newest.
    for i in 0..KEYS {
        assert_eq!(get(&pool, key(i)).await, "hello");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(pool.idle_count(), KEYS, "a spare per key, all young");
    assert_eq!(*watch_open.borrow(), KEYS);

    let start = tokio::time::Instant::now();
    watch_open
        .wait_for(|n| *n == SPARES_PER_POOL)
        .await
        .unwrap();
    // Paused time: the clock moves only to the next timer, so this is exact, not a timing.
    assert!(
        start.elapsed() < SURPLUS_IDLE * 2,
        "the spares beyond the pool's closed after {:?}",
        start.elapsed()
    );
    assert_eq!(pool.idle_count(), SPARES_PER_POOL);

    // The newest key's spare was kept: reused, no dial.
    assert_eq!(get(&pool, key(KEYS - 1)).await, "hello");
    assert_eq!(*watch_open.borrow(), SPARES_PER_POOL);
    // The oldest key's closed: it dials again.
    assert_eq!(get(&pool, key(0)).await, "hello");
    assert_eq!(*watch_open.borrow(), SPARES_PER_POOL + 1);

    // Those kept close at the idle timeout, not before.
    let kept = tokio::time::Instant::now();
    watch_open.wait_for(|n| *n == 0).await.unwrap();
    assert!(
        kept.elapsed() >= idle_timeout - SURPLUS_IDLE * 2,
        "the kept spares closed after {:?}",
        kept.elapsed()
    );
    drop(stop);
}

/// A stop signal for `prune_until` that resolves when its sender is dropped.
fn stop_signal() -> (
    tokio::sync::oneshot::Sender<()>,
    impl Future<Output = ()> + Send + 'static,
) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    (tx, async move {
        let _ = rx.await;
    })
}
