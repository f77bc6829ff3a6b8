//! The load balancer's connections to targets: pooled HTTP/1.1 keep-alive connections, each
//! driven by the request that is using it.
//!
//! A pooled client of the usual kind (hyper-util's) runs every connection in a task of its own
//! and talks to it through channels: two hand-offs between tasks per request, on top of the
//! work. Here the request's own task polls the connection while it waits for the response head,
//! and the response body ([`Pooled`] inside `TargetBody`) polls it while the body streams; once
//! the body has ended, the connection goes back to the pool. An upgraded connection (WebSocket)
//! leaves the pool and runs in a task of its own until it closes.

use crate::proxy::RequestBody;
use crate::serve::{ConnectError, NodeConnector};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;

/// A connection's driver: the HTTP/1.1 state machine that reads and writes its socket.
type Driver = Pin<Box<dyn Future<Output = hyper::Result<()>> + Send>>;

/// Idle connections to targets, dialed from one load balancer node.
pub(crate) struct TargetPool {
    connector: NodeConnector,
    /// The ALB closes back-end connections idle for its idle timeout (§2.3).
    idle_timeout: Duration,
    idle: Mutex<HashMap<SocketAddr, Vec<(Instant, Pooled)>>>,
}

/// Why a request got no response from its target.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    /// No connection could be made (§2.3 504 on timeout, 502 when refused).
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The connection failed, or the target answered with something that is not HTTP (502).
    #[error("the target connection failed: {0}")]
    Target(#[from] hyper::Error),
    /// A new connection closed before it could take the request (502).
    #[error("target {0} closed the connection before the request was sent")]
    Closed(SocketAddr),
}

/// One connection to a target, with its request handle.
pub(crate) struct Pooled {
    target: SocketAddr,
    sender: http1::SendRequest<RequestBody>,
    driver: Driver,
    /// The driver has finished: the connection is closed.
    closed: bool,
}

impl Pooled {
    /// Lets the connection make progress (read the response, write the request body).
    pub(crate) fn poll_driver(&mut self, cx: &mut Context<'_>) {
        if !self.closed
            && let Poll::Ready(result) = self.driver.as_mut().poll(cx)
        {
            self.closed = true;
            if let Err(e) = result {
                tracing::debug!(target = %self.target, error = %e, "target connection ended with an error");
            }
        }
    }

    /// Runs `fut` while driving the connection.
    async fn drive<T>(&mut self, fut: impl Future<Output = T>) -> T {
        let mut fut = pin!(fut);
        poll_fn(|cx| {
            self.poll_driver(cx);
            fut.as_mut().poll(cx)
        })
        .await
    }

    /// Waits until the connection can take a request; `false` if it closed instead.
    async fn ready(&mut self) -> bool {
        poll_fn(|cx| {
            self.poll_driver(cx);
            if self.closed {
                return Poll::Ready(false);
            }
            self.sender.poll_ready(cx).map(|r| r.is_ok())
        })
        .await
    }

    /// Hands the connection to a task of its own, for an upgrade to complete and run.
    pub(crate) fn detach(self) {
        if !self.closed {
            tokio::spawn(async move {
                let _ = self.driver.await;
            });
        }
    }
}

impl TargetPool {
    pub(crate) fn new(connector: NodeConnector, idle_timeout: Duration) -> TargetPool {
        TargetPool {
            connector,
            idle_timeout,
            idle: Mutex::new(HashMap::new()),
        }
    }

    /// Sends `req` to `target` on an idle connection, or a new one. A request that an idle
    /// connection turned out unable to take (the target had closed it) is sent on another:
    /// nothing of it was written.
    pub(crate) async fn send(
        self: &Arc<Self>,
        target: SocketAddr,
        mut req: Request<RequestBody>,
    ) -> Result<(Response<Incoming>, Pooled), SendError> {
        while let Some(mut conn) = self.checkout(target) {
            if !conn.ready().await {
                continue;
            }
            let sent = conn.sender.try_send_request(req);
            match conn.drive(sent).await {
                Ok(response) => return Ok((response, conn)),
                Err(mut e) => match e.take_message() {
                    Some(unsent) => req = unsent,
                    None => return Err(SendError::Target(e.into_error())),
                },
            }
        }
        let io = self.connector.connect(target).await?;
        let (sender, connection) = http1::Builder::new().handshake(TokioIo::new(io)).await?;
        let mut conn = Pooled {
            target,
            sender,
            driver: Box::pin(connection.with_upgrades()),
            closed: false,
        };
        if !conn.ready().await {
            return Err(SendError::Closed(target));
        }
        let sent = conn.sender.send_request(req);
        let response = conn.drive(sent).await?;
        Ok((response, conn))
    }

    /// Returns a connection whose exchange is complete, for the next request to `target`.
    pub(crate) fn checkin(&self, conn: Pooled) {
        if conn.closed || conn.sender.is_closed() {
            return;
        }
        let now = Instant::now();
        let mut idle = lock(&self.idle);
        let list = idle.entry(conn.target).or_default();
        // Connections past the idle timeout are closed here and at checkout.
        list.retain(|(since, _)| now.duration_since(*since) < self.idle_timeout);
        list.push((now, conn));
    }

    fn checkout(&self, target: SocketAddr) -> Option<Pooled> {
        let now = Instant::now();
        let mut idle = lock(&self.idle);
        let list = idle.get_mut(&target)?;
        while let Some((since, conn)) = list.pop() {
            if now.duration_since(since) < self.idle_timeout {
                return Some(conn);
            }
        }
        None
    }

    /// Closes every connection idle for longer than the idle timeout.
    pub(crate) fn prune(&self) {
        let now = Instant::now();
        let mut idle = lock(&self.idle);
        for list in idle.values_mut() {
            list.retain(|(since, _)| now.duration_since(*since) < self.idle_timeout);
        }
        idle.retain(|_, list| !list.is_empty());
    }

    /// How often [`TargetPool::prune`] should run.
    pub(crate) fn prune_interval(&self) -> Duration {
        (self.idle_timeout / 2).max(Duration::from_millis(100))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
