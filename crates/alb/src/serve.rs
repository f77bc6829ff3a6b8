//! Serving a listener: accept, TLS, HTTP/1.1 or HTTP/2 to the client, and one pooled
//! HTTP/1.1 client per node toward targets.

use crate::access_log::{AccessLog, Record};
use crate::h1io::{H1Io, Verdicts};
use crate::proxy;
use crate::{Listener, Protocol};
use airlock_net::linger::LingeringClose;
use airlock_net::{
    Accepted, ConnectionLimit, DialError, EmulatedListener, Interface, NetStream, Network, Origin,
    accept_loop,
};
use http::Request;
use http::header::{CONTENT_LENGTH, HOST, USER_AGENT};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What every connection of a listener shares.
pub(crate) struct Shared {
    pub(crate) listener: Arc<Listener>,
    /// One client per node: a pooled connection belongs to the node that opened it.
    clients: Vec<(IpAddr, Arc<TargetPool>)>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) tracker: TaskTracker,
    pub(crate) access_log: Option<AccessLog>,
    /// `app/NAME/ID`, the access log's `elb` field.
    elb: Arc<str>,
}

/// One accepted client connection.
pub(crate) struct Conn {
    pub(crate) shared: Arc<Shared>,
    pub(crate) client: Arc<TargetPool>,
    /// The emulated peer: the client address of `X-Forwarded-For` and `source-ip` rules.
    pub(crate) peer: SocketAddr,
    /// The TLS server name the client sent, if any.
    sni: Option<Arc<str>>,
    h2: bool,
    /// The access log's `conn_trace_id`.
    trace_id: Arc<str>,
    /// HTTP/1.x: the desync verdicts of the heads handed to hyper (§2.4), one per request.
    pub(crate) verdicts: Option<Verdicts>,
}

impl Conn {
    /// A fresh access-log record for `req` on this connection.
    pub(crate) fn record<B>(&self, req: &Request<B>) -> Record {
        let listener = &self.shared.listener;
        let kind = match (listener.protocol(), self.h2) {
            (_, true) => "h2",
            (Protocol::Https, false) => "https",
            (Protocol::Http, false) => "http",
        };
        let host = req
            .uri()
            .authority()
            .map(|a| a.host())
            .or_else(|| {
                req.headers()
                    .get(HOST)
                    .and_then(|v| v.to_str().ok())
                    .map(|h| crate::headers::split_host_port(h).0)
            })
            .unwrap_or_else(|| listener.dns_name());
        let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let head: usize = req
            .headers()
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum();
        let body = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        Record {
            kind,
            elb: self.shared.elb.clone(),
            client: self.peer,
            target: None,
            received: SystemTime::now(),
            started: tokio::time::Instant::now(),
            sent_to_target: None,
            target_answered: None,
            elb_status: 0,
            target_status: None,
            received_bytes: (head + path.len() + 16) as u64 + body,
            sent_bytes: 0,
            request_line: request_line(req, listener, host, path),
            user_agent: req.headers().get(USER_AGENT).cloned(),
            target_group: None,
            trace_id: None,
            domain_name: self.sni.clone(),
            matched_rule_priority: None,
            actions: Vec::new(),
            redirect_url: None,
            error_reason: None,
            classification: None,
            classification_reason: None,
            conn_trace_id: self.trace_id.clone(),
        }
    }
}

/// The access log's `request`: `METHOD scheme://host:port/path?query HTTP/x.y`, written in one
/// buffer (once per request).
fn request_line<B>(req: &Request<B>, listener: &Listener, host: &str, path: &str) -> String {
    let method = req.method().as_str();
    let scheme = listener.protocol().as_str();
    let version = match req.version() {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    };
    let mut line =
        String::with_capacity(method.len() + scheme.len() + host.len() + path.len() + 24);
    line.push_str(method);
    line.push(' ');
    line.push_str(scheme);
    line.push_str("://");
    line.push_str(host);
    line.push(':');
    airlock_net::text::push_u64(&mut line, u64::from(listener.port()));
    line.push_str(path);
    line.push(' ');
    line.push_str(version);
    line
}

/// Serves one listener until `shutdown` fires.
///
/// `listener` serves the listener's private addresses (from `network.listen(&nodes, port)`);
/// `nodes` are the load balancer's node interfaces. Requests reaching a node are forwarded from
/// that node's interface, so target
/// security groups see the node's address as in AWS. Connection tasks run on `tracker`; on
/// shutdown, open connections finish their in-flight requests and close.
pub async fn serve_listener(
    listener: EmulatedListener,
    config: Arc<Listener>,
    network: Network,
    nodes: Vec<Interface>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    if nodes.is_empty() {
        tracing::error!(alb = %config.alb_name(), port = config.port(), "listener has no node interfaces; not serving");
        return;
    }
    let clients = nodes
        .iter()
        .map(|node| {
            let connector = NodeConnector {
                network: network.clone(),
                node: node.clone(),
                timeout: config.attributes().target_connect_timeout,
            };
            // The ALB closes back-end connections idle for its idle timeout (§2.3); those
            // beyond one per target that a burst left behind close sooner (`airlock_pool`).
            let client = TargetPool::new(connector, config.attributes().idle_timeout, true);
            tracker.spawn(TargetPool::prune_until(
                Arc::downgrade(&client),
                shutdown.clone().cancelled_owned(),
            ));
            (IpAddr::V4(node.ip()), client)
        })
        .collect();
    // §3.1: health checks run once a listener uses the group. AWS checks from every node;
    // airlock checks from the first.
    for group in config.target_groups() {
        group.activate(&network, &nodes[0], &shutdown, &tracker);
    }
    let access_log = match &config.attributes().access_log {
        None => None,
        Some(path) => match AccessLog::open(
            path,
            config.attributes().access_log_rotation,
            shutdown.clone(),
            &tracker,
        )
        .await
        {
            Ok(log) => Some(log),
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot open the access log; not logging");
                None
            }
        },
    };
    let elb = Arc::from(format!(
        "app/{}/{}",
        config.alb_name(),
        short_id(config.dns_name())
    ));
    let shared = Arc::new(Shared {
        listener: config,
        clients,
        shutdown: shutdown.clone(),
        tracker: tracker.clone(),
        access_log,
        elb,
    });
    accept_loop(
        "alb",
        listener,
        ConnectionLimit::default(),
        shutdown,
        tracker,
        move |stream, _| connection(stream, shared.clone()),
    )
    .await;
}

async fn connection(accepted: Accepted, shared: Arc<Shared>) {
    let Accepted { stream, info, .. } = accepted;
    let client = shared
        .clients
        .iter()
        .find(|(ip, _)| *ip == info.local.ip())
        .or(shared.clients.first())
        .map(|(_, c)| c.clone());
    let Some(client) = client else {
        return;
    };
    let mut conn = Conn {
        shared: shared.clone(),
        client,
        peer: info.peer,
        sni: None,
        h2: false,
        trace_id: Arc::from(format!("TID_{:032x}", rand::random::<u128>())),
        verdicts: None,
    };
    let attributes = shared.listener.attributes();
    let (mode, idle) = (attributes.desync_mitigation_mode, attributes.idle_timeout);
    match &shared.listener.tls {
        None => {
            let verdicts = Verdicts::default();
            conn.verdicts = Some(verdicts.clone());
            let io = LingeringClose::new(H1Io::new(stream, mode, idle, verdicts));
            serve_http(TokioIo::new(io), false, Arc::new(conn)).await;
        }
        Some(tls) => {
            let acceptor = TlsAcceptor::from(tls.clone());
            let limit = shared.listener.attributes().tls_handshake_timeout;
            let stream = match tokio::time::timeout(limit, acceptor.accept(stream)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(peer = %info.peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(peer = %info.peer, "TLS handshake timed out");
                    return;
                }
            };
            let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
            conn.h2 = h2;
            conn.sni = stream.get_ref().1.server_name().map(Arc::from);
            if h2 {
                serve_http(TokioIo::new(stream), true, Arc::new(conn)).await;
            } else {
                let verdicts = Verdicts::default();
                conn.verdicts = Some(verdicts.clone());
                let io = LingeringClose::new(H1Io::new(stream, mode, idle, verdicts));
                serve_http(TokioIo::new(io), false, Arc::new(conn)).await;
            }
        }
    }
}

async fn serve_http<I>(io: I, h2: bool, conn: Arc<Conn>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let shutdown = conn.shared.shutdown.clone();
    let idle = conn.shared.listener.attributes().idle_timeout;
    let service = service_fn(move |req| {
        let conn = conn.clone();
        async move {
            // What the listener leaves of the request body is read before the response goes
            // out (see `airlock_pool::drain`).
            let (req, rest) = airlock_pool::drain::watch(req);
            let resp = proxy::handle(req, conn).await;
            Ok::<_, Infallible>(airlock_pool::drain::settle(rest, resp).await)
        }
    });
    // The protocol is known (ALPN, or a plain listener): hyper's own HTTP/1 or HTTP/2 server,
    // without hyper-util's version sniffing and rewind buffer in front of every read.
    let result = if h2 {
        let connection = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            // §1.3: up to 128 parallel requests per HTTP/2 connection.
            .max_concurrent_streams(128)
            .max_header_list_size(128 * 1024)
            .serve_connection(io, service);
        airlock_net::serve_gracefully(connection, &shutdown, |c| c.graceful_shutdown()).await
    } else {
        // hyper's own limits sit above §2.5's so that the load balancer, not hyper, answers
        // oversized requests with its 400/414 pages. `H1Io` answers a head that does not
        // arrive within the idle timeout with 408; hyper's header timer, a little later, only
        // closes idle keep-alive connections.
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(idle + Duration::from_secs(1))
            .max_headers(crate::desync::MAX_HEADER_LINES)
            // Head and body in one buffer: over TLS, each separate write would be a record of
            // its own, encrypted and framed apart.
            .writev(false)
            .serve_connection(io, service)
            .with_upgrades();
        airlock_net::serve_gracefully(connection, &shutdown, |c| c.graceful_shutdown()).await
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "client connection ended with an error");
    }
}

/// 16 hex digits derived from `text` (FNV-1a), standing in for the load balancer id.
fn short_id(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Dials targets through the emulated network from one node interface.
#[derive(Clone)]
pub(crate) struct NodeConnector {
    network: Network,
    node: Interface,
    timeout: Duration,
}

/// Why no connection to a target was made; decides 504 against 502.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// No TCP connection within the connect timeout (§2.3: 504).
    #[error("no connection to target {0} within {1:?}")]
    Timeout(SocketAddr, Duration),
    /// The dial failed: refused or reset (§2.6: 502).
    #[error(transparent)]
    Dial(#[from] DialError),
}

/// The pool of target connections of one node: keyed by target address and by the shard of
/// the request (`airlock_net::shards`): a connection's target side is served on the shard that
/// dialed it, so requests of that shard reuse it and the exchange stays on one core.
pub(crate) type TargetPool = airlock_pool::Pool<NodeConnector, proxy::RequestBody>;

/// A [`TargetPool`] key: the shard of the request, and the target.
pub(crate) type TargetKey = (usize, SocketAddr);

impl airlock_pool::Connect for NodeConnector {
    type Key = TargetKey;
    type Io = NetStream;
    type Error = ConnectError;

    /// Opens a connection to `target` from the node's interface, within the connect timeout.
    async fn connect(&self, &(_, target): &TargetKey) -> Result<NetStream, ConnectError> {
        let target = &target;
        let origin = Origin::Interface(self.node.clone());
        match tokio::time::timeout(self.timeout, self.network.dial(&origin, *target)).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(ConnectError::Timeout(*target, self.timeout)),
        }
    }
}
