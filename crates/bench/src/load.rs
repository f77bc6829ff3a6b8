//! A keep-alive HTTP/1.1 load generator: N connections, each sending its next request as soon
//! as the previous answer's body is read (a closed loop, like `wrk`), for a fixed time or a
//! fixed number of requests, whichever comes first.

use crate::BenchError;
use airlock_stack::client;
use bytes::Bytes;
use http::header::{AUTHORIZATION, HOST};
use http::{HeaderValue, Request};
use http_body_util::{BodyExt as _, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Where the load goes.
#[derive(Clone)]
pub enum Target {
    /// Plain HTTP to a host port (a task's loopback port: the physical limit).
    Direct(SocketAddr),
    /// A SOCKS5 tunnel through a vantage point to `name:port`, then HTTPS with SNI `sni`.
    Socks {
        /// The vantage point.
        proxy: SocketAddr,
        /// The name the vantage point resolves (inside the VPC: the load balancer's name).
        name: String,
        /// The port behind the tunnel.
        port: u16,
        /// The TLS server name.
        sni: ServerName<'static>,
        /// The client TLS configuration.
        tls: Arc<rustls::ClientConfig>,
    },
    /// HTTPS to a host port with SNI `sni`.
    Https {
        /// The host port.
        addr: SocketAddr,
        /// The TLS server name.
        sni: ServerName<'static>,
        /// The client TLS configuration.
        tls: Arc<rustls::ClientConfig>,
    },
}

/// One request shape, repeated.
#[derive(Clone)]
pub struct Shape {
    /// Path and query.
    pub path: String,
    /// The `Host` header.
    pub host: HeaderValue,
    /// The `Authorization` header, if any.
    pub authorization: Option<HeaderValue>,
}

/// How much load.
#[derive(Debug, Clone, Copy)]
pub struct Amount {
    /// Concurrent connections.
    pub connections: usize,
    /// How long to send.
    pub duration: Duration,
    /// At most this many requests in all (bounds memory and time on a fast machine).
    pub max_requests: u64,
}

/// What one load run saw.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Requests answered (any status).
    pub requests: u64,
    /// Answers by status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests that got no answer (connection errors), each followed by a reconnect.
    pub errors: u64,
    /// From the first request to the last answer.
    pub elapsed: Duration,
    /// Latencies in microseconds, sorted.
    pub latencies_us: Vec<u32>,
}

impl Outcome {
    /// Adds another measurement of the same path: counts add up, latencies pool.
    pub fn merge(&mut self, other: Outcome) {
        self.requests += other.requests;
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        self.errors += other.errors;
        self.elapsed += other.elapsed;
        self.latencies_us.extend(other.latencies_us);
        self.latencies_us.sort_unstable();
    }

    /// Answers per second.
    pub fn requests_per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency below which `q` (0..=1) of the requests were answered.
    pub fn percentile(&self, q: f64) -> Duration {
        if self.latencies_us.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((self.latencies_us.len() as f64 - 1.0) * q).round() as usize;
        Duration::from_micros(u64::from(self.latencies_us[rank]))
    }

    /// Whether every request was answered 200.
    pub fn only_200(&self) -> bool {
        self.errors == 0 && self.requests > 0 && self.statuses.keys().all(|s| *s == 200)
    }
}

type Sender = SendRequest<Empty<Bytes>>;

/// Opens one keep-alive connection to `target`.
pub async fn connect(target: &Target) -> Result<Sender, BenchError> {
    match target {
        Target::Direct(addr) => handshake(tcp(*addr).await?).await,
        Target::Https { addr, sni, tls } => {
            let stream = tokio_rustls::TlsConnector::from(tls.clone())
                .connect(sni.clone(), tcp(*addr).await?)
                .await?;
            handshake(stream).await
        }
        Target::Socks {
            proxy,
            name,
            port,
            sni,
            tls,
        } => {
            let tunnel = socks5(tcp(*proxy).await?, name, *port).await?;
            let stream = tokio_rustls::TlsConnector::from(tls.clone())
                .connect(sni.clone(), tunnel)
                .await?;
            handshake(stream).await
        }
    }
}

async fn tcp(addr: SocketAddr) -> Result<TcpStream, BenchError> {
    let s = TcpStream::connect(addr).await?;
    // Small requests: waiting for an ACK before sending would measure Nagle, not airlock.
    s.set_nodelay(true)?;
    Ok(s)
}

async fn handshake<S>(stream: S) -> Result<Sender, BenchError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn socks5(mut s: TcpStream, name: &str, port: u16) -> Result<TcpStream, BenchError> {
    client::socks5_request(&mut s, name, port).await?;
    match client::socks5_reply(&mut s).await? {
        0 => Ok(s),
        code => Err(BenchError::Socks(format!("reply code {code}"))),
    }
}

/// Sends one request of `shape` and reads the whole answer; returns the status.
pub async fn once(sender: &mut Sender, shape: &Shape) -> Result<u16, BenchError> {
    sender.ready().await?;
    let mut req = Request::get(shape.path.as_str()).header(HOST, shape.host.clone());
    if let Some(auth) = &shape.authorization {
        req = req.header(AUTHORIZATION, auth.clone());
    }
    let resp = sender.send_request(req.body(Empty::new())?).await?;
    let status = resp.status().as_u16();
    resp.into_body().collect().await?;
    Ok(status)
}

/// Runs `amount` of closed-loop load of `shape` against `target`. `around` is called right
/// before the first and right after the last request (to read the server's CPU clock there).
pub async fn run(
    target: &Target,
    shape: &Shape,
    amount: Amount,
    mut around: impl FnMut(),
) -> Result<Outcome, BenchError> {
    // Connect and warm every connection first: handshakes are start-up cost, not per-request
    // cost, and a keep-alive client pays them once.
    let mut senders = Vec::with_capacity(amount.connections);
    for _ in 0..amount.connections {
        let mut sender = connect(target).await?;
        once(&mut sender, shape).await?;
        senders.push(sender);
    }
    let issued = Arc::new(AtomicU64::new(0));
    around();
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + amount.duration;
    let mut workers = Vec::with_capacity(senders.len());
    for sender in senders {
        let (target, shape, issued) = (target.clone(), shape.clone(), issued.clone());
        workers.push(tokio::spawn(worker(
            sender,
            target,
            shape,
            deadline,
            issued,
            amount.max_requests,
        )));
    }
    let mut outcome = Outcome::default();
    for w in workers {
        let part = w.await.map_err(|e| BenchError::Worker(e.to_string()))?;
        outcome.requests += part.requests;
        outcome.errors += part.errors;
        for (s, n) in part.statuses {
            *outcome.statuses.entry(s).or_default() += n;
        }
        outcome.latencies_us.extend(part.latencies_us);
    }
    outcome.elapsed = start.elapsed();
    around();
    outcome.latencies_us.sort_unstable();
    Ok(outcome)
}

async fn worker(
    mut sender: Sender,
    target: Target,
    shape: Shape,
    deadline: tokio::time::Instant,
    issued: Arc<AtomicU64>,
    max_requests: u64,
) -> Outcome {
    let mut out = Outcome {
        latencies_us: Vec::with_capacity(4096),
        ..Outcome::default()
    };
    while tokio::time::Instant::now() < deadline
        && issued.fetch_add(1, Ordering::Relaxed) < max_requests
    {
        let t = Instant::now();
        match once(&mut sender, &shape).await {
            Ok(status) => {
                let us = u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX);
                out.latencies_us.push(us);
                out.requests += 1;
                *out.statuses.entry(status).or_default() += 1;
            }
            Err(_) => {
                out.errors += 1;
                match connect(&target).await {
                    Ok(fresh) => sender = fresh,
                    Err(_) => break,
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rounds of one path add up: counts and time sum, latencies pool in order.
    #[test]
    fn merged_rounds_add_up() {
        let round = |requests: u64, latencies: Vec<u32>| Outcome {
            requests,
            statuses: BTreeMap::from([(200, requests)]),
            errors: 1,
            elapsed: Duration::from_secs(1),
            latencies_us: latencies,
        };
        let mut total = round(2, vec![10, 30]);
        total.merge(round(3, vec![5, 20, 40]));
        assert_eq!(total.requests, 5);
        assert_eq!(total.statuses[&200], 5);
        assert_eq!(total.errors, 2);
        assert_eq!(total.elapsed, Duration::from_secs(2));
        assert_eq!(total.latencies_us, vec![5, 10, 20, 30, 40]);
        assert_eq!(total.requests_per_second(), 2.5);
    }
}
