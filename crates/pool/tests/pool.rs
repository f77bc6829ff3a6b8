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

/// A server that answers `hello` and counts the connections it accepted.
async fn server() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let svc = service_fn(|_req: Request<Incoming>| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hello"))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, accepted)
}

async fn get(pool: &Arc<Pool<Tcp, Empty<Bytes>>>, addr: SocketAddr) -> Bytes {
    let req = Request::get("/")
        .header("host", "test")
        .body(Empty::new())
        .unwrap();
    let (resp, conn) = pool.send(&addr, req).await.unwrap();
    let body = DrivenBody::new(resp.into_body(), pool.clone(), conn);
    body.collect().await.unwrap().to_bytes()
}

#[tokio::test]
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
    tokio::time::sleep(Duration::from_millis(400)).await;
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
