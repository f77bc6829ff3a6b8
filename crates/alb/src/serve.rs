//! Serving a listener: accept, preamble, TLS, HTTP/1.1 or HTTP/2 to the client, and one pooled
//! HTTP/1.1 client per node toward targets.

use crate::Listener;
use crate::proxy;
use airlock_net::{ConnectionLimit, DialError, Interface, Network, Origin, accept_loop};
use http::Uri;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The pooled HTTP/1.1 client toward targets, dialing from one node interface.
pub(crate) type TargetClient = Client<NodeConnector, Incoming>;

/// What every connection of a listener shares.
pub(crate) struct Shared {
    pub(crate) listener: Arc<Listener>,
    network: Network,
    /// One client per node: a pooled connection belongs to the node that opened it.
    clients: Vec<(IpAddr, TargetClient)>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) tracker: TaskTracker,
}

/// One accepted client connection.
pub(crate) struct Conn {
    pub(crate) shared: Arc<Shared>,
    pub(crate) client: TargetClient,
    /// The emulated peer: the client address of `X-Forwarded-For` and `source-ip` rules.
    pub(crate) peer: SocketAddr,
}

/// Serves one listener until `shutdown` fires.
///
/// `listener` is the loopback socket behind the listener's private addresses (from
/// `network.listen(&nodes, port)`, split with `into_parts`); `nodes` are the load balancer's node
/// interfaces. Requests reaching a node are forwarded from that node's interface, so target
/// security groups see the node's address as in AWS. Connection tasks run on `tracker`; on
/// shutdown, open connections finish their in-flight requests and close.
pub async fn serve_listener(
    listener: TcpListener,
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
            let client = Client::builder(TokioExecutor::new())
                .pool_timer(TokioTimer::new())
                // The ALB closes back-end connections idle for its idle timeout (§2.3).
                .pool_idle_timeout(config.attributes().idle_timeout)
                .set_host(false)
                .build(connector);
            (IpAddr::V4(node.ip()), client)
        })
        .collect();
    let shared = Arc::new(Shared {
        listener: config,
        network,
        clients,
        shutdown: shutdown.clone(),
        tracker: tracker.clone(),
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

async fn connection(mut stream: TcpStream, shared: Arc<Shared>) {
    let info = match shared.network.accept_preamble(&mut stream).await {
        Ok(info) => info,
        Err(e) => {
            tracing::debug!(error = %e, "refusing connection without a valid preamble");
            return;
        }
    };
    let client = shared
        .clients
        .iter()
        .find(|(ip, _)| *ip == info.local.ip())
        .or(shared.clients.first())
        .map(|(_, c)| c.clone());
    let Some(client) = client else {
        return;
    };
    let conn = Arc::new(Conn {
        shared: shared.clone(),
        client,
        peer: info.peer,
    });
    match &shared.listener.tls {
        None => serve_http(TokioIo::new(stream), false, conn).await,
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
            serve_http(TokioIo::new(stream), h2, conn).await;
        }
    }
}

async fn serve_http<I>(io: I, h2: bool, conn: Arc<Conn>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let shutdown = conn.shared.shutdown.clone();
    let idle = conn.shared.listener.attributes().idle_timeout;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder = if h2 {
        builder.http2_only()
    } else {
        builder.http1_only()
    };
    // hyper's own limits sit above §2.5's so that the proxy, not hyper, answers oversized
    // requests with the ALB's 400/414 pages.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(idle)
        .max_headers(1024);
    builder
        .http2()
        .timer(TokioTimer::new())
        // §1.3: up to 128 parallel requests per HTTP/2 connection.
        .max_concurrent_streams(128)
        .max_header_list_size(128 * 1024);
    let service = service_fn(move |req| {
        let conn = conn.clone();
        async move { Ok::<_, Infallible>(proxy::handle(req, conn).await) }
    });
    let connection = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(connection);
    let result = tokio::select! {
        r = connection.as_mut() => r,
        _ = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "client connection ended with an error");
    }
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
    /// The target URI was not `http://ip:port` (an internal invariant).
    #[error("target URI {0} is not http://ip:port")]
    BadUri(Uri),
}

impl tower::Service<Uri> for NodeConnector {
    type Response = TokioIo<TcpStream>;
    type Error = ConnectError;
    type Future =
        Pin<Box<dyn Future<Output = Result<TokioIo<TcpStream>, ConnectError>> + Send + 'static>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let target: SocketAddr = uri
                .authority()
                .and_then(|a| a.as_str().parse().ok())
                .ok_or_else(|| ConnectError::BadUri(uri.clone()))?;
            let origin = Origin::Interface(this.node);
            match tokio::time::timeout(this.timeout, this.network.dial(&origin, target)).await {
                Ok(Ok(stream)) => Ok(TokioIo::new(stream)),
                Ok(Err(e)) => Err(e.into()),
                Err(_) => Err(ConnectError::Timeout(target, this.timeout)),
            }
        })
    }
}
