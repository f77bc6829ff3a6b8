//! Serving a listener: accept, TLS, HTTP/1.1 or HTTP/2 to the client, and one pooled
//! HTTP/1.1 client per node toward targets.

use crate::Listener;
use crate::access_log::AccessLog;
use crate::conn::{Conn, NodeConnector, Shared, TargetPool};
use crate::h1io::{H1Io, Verdicts};
use crate::proxy;
use airlock_net::h2guard::H2Guard;
use airlock_net::linger::LingeringClose;
use airlock_net::{Accepted, ConnectionLimit, EmulatedListener, Interface, Network, accept_loop};
use airlock_pool::tls;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The HTTP/2 header list size the listeners accept (hyper's own default is 16 KiB), far above
/// docs/aws-rules.md §ALB-2.5's limits so that the load balancer, not h2, refuses large heads.
const MAX_HEADER_LIST_SIZE: usize = 128 * 1024;

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
                tracer: config.attributes().tracer.clone(),
            };
            // The ALB closes back-end connections idle for its idle timeout (docs/aws-rules.md §ALB-2.3); those
            // beyond one per target that a burst left behind close sooner (`airlock_pool`).
            let client = TargetPool::new(connector, config.attributes().idle_timeout, true);
            tracker.spawn(TargetPool::prune_until(
                Arc::downgrade(&client),
                shutdown.clone().cancelled_owned(),
            ));
            (IpAddr::V4(node.ip()), client)
        })
        .collect();
    // docs/aws-rules.md §ALB-3.1: health checks run once a listener uses the group. AWS checks from every node;
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
            let Some(tls::Handshaken { stream, h2, sni }) =
                tls::accept(&acceptor, stream, limit, info.peer).await
            else {
                return;
            };
            conn.h2 = h2;
            conn.sni = sni;
            if h2 {
                // A header block h2's HPACK decoder refuses would end the connection; the guard
                // makes it a stream error (RFC 9113 §8.1.1).
                let io = H2Guard::new(stream, MAX_HEADER_LIST_SIZE);
                serve_http(TokioIo::new(io), true, Arc::new(conn)).await;
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
            // docs/aws-rules.md §ALB-1.3: up to 128 parallel requests per HTTP/2 connection.
            .max_concurrent_streams(128)
            .max_header_list_size(MAX_HEADER_LIST_SIZE as u32)
            .serve_connection(io, service);
        airlock_net::serve_gracefully(connection, &shutdown, |c| c.graceful_shutdown()).await
    } else {
        // hyper's own limits sit above docs/aws-rules.md §ALB-2.5's so that the load balancer, not hyper, answers
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
