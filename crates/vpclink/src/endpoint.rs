//! The link's far side: admits the gateway, then dials each tunnel from the link's interfaces.

use std::net::{SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use airlock_net::{ConnectionLimit, DialError, Interface, Network, Opening, Origin};
use airlock_pki::{Leaf, identity_of};
use bytes::Bytes;
use h2::RecvStream;
use h2::server::SendResponse;
use http::{Method, Request, Response, StatusCode};
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::policy::{Refusal, TunnelError, authorize, classify_handshake_error, parse_destination};
use crate::stream::{CONNECTION_WINDOW, H2Stream, MAX_CONCURRENT_STREAMS, TUNNEL_WINDOW};
use crate::{LINK_ERROR_HEADER, LINK_TRACE_HEADER, LinkState};
use airlock_net::trace;

/// Everything the link endpoint needs; built by the app from the stack file and the PKI.
#[derive(Clone)]
pub struct EndpointConfig {
    /// The endpoint's server certificate (chain and key); the gateway verifies it by name.
    pub server_cert: Leaf,
    /// The CA client certificates must chain to.
    pub client_ca: CertificateDer<'static>,
    /// The one identity admitted, from `airlock_pki::apigateway_identity(account, link)`.
    pub expected_identity: String,
    /// The emulated VPC the tunnels are dialed in.
    pub network: Network,
    /// The link's network interfaces; tunnels leave from them in turn.
    pub interfaces: Vec<Interface>,
    /// How long a tunnel's destination may take to accept before the endpoint answers 504.
    pub connect_timeout: Duration,
    /// How long a client may take to complete the TLS handshake.
    pub handshake_timeout: Duration,
    /// The link's status; only `AVAILABLE` opens tunnels, and changes apply to the next tunnel.
    pub state: watch::Receiver<LinkState>,
    /// Where each tunnel's dial is traced, for the request it serves (off by default).
    pub tracer: airlock_net::trace::Tracer,
}

/// Why the endpoint could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// The client CA certificate cannot be used as a trust anchor.
    #[error("the client CA certificate is unusable: {0}")]
    ClientCa(rustls::Error),
    /// The client certificate verifier could not be built from the CA.
    #[error("building the client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// rustls refused the server certificate or its key.
    #[error("the endpoint's server certificate is unusable: {0}")]
    ServerCertificate(rustls::Error),
}

/// What the endpoint has seen so far, for status pages, the demo and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// TCP connections accepted, admitted or not.
    pub connections_accepted: u64,
    /// Connections admitted: mutual TLS completed and the identity is the link's gateway.
    pub connections_admitted: u64,
    /// Connections refused (see `last_refusal`).
    pub connections_refused: u64,
    /// The reason of the most recent refusal.
    pub last_refusal: Option<Refusal>,
    /// Tunnels opened to a destination.
    pub tunnels_opened: u64,
    /// `CONNECT` requests answered with an error.
    pub tunnels_failed: u64,
}

/// A link endpoint: TLS configuration built once, the link's policy, and its counters.
pub struct Endpoint {
    config: EndpointConfig,
    tls: TlsAcceptor,
    stats: watch::Sender<StatsSnapshot>,
    next_interface: AtomicUsize,
}

impl Endpoint {
    /// Builds the endpoint: a rustls server configuration (ring, client certificates required and
    /// verified against `client_ca`, ALPN `h2`) that every connection shares.
    pub fn new(config: EndpointConfig) -> Result<Arc<Endpoint>, EndpointError> {
        let provider = airlock_pki::crypto_provider();
        let mut roots = RootCertStore::empty();
        roots
            .add(config.client_ca.clone())
            .map_err(EndpointError::ClientCa)?;
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()?;
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(EndpointError::ServerCertificate)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                config.server_cert.cert_chain.clone(),
                config.server_cert.key.clone_key(),
            )
            .map_err(EndpointError::ServerCertificate)?;
        tls.alpn_protocols = vec![b"h2".to_vec()];
        tls.ignore_client_order = true;
        Ok(Arc::new(Endpoint {
            config,
            tls: TlsAcceptor::from(Arc::new(tls)),
            stats: watch::Sender::new(StatsSnapshot::default()),
            next_interface: AtomicUsize::new(0),
        }))
    }

    /// The counters as of now.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.borrow().clone()
    }

    /// A receiver that sees every change of the counters, to wait for an event (such as a
    /// refusal) without polling.
    pub fn subscribe(&self) -> watch::Receiver<StatsSnapshot> {
        self.stats.subscribe()
    }

    /// Serves the link on `listener` (a host loopback port) until `shutdown` fires. Connection
    /// and tunnel tasks are spawned on `tracker`; on shutdown each gateway connection is closed
    /// gracefully (HTTP/2 GOAWAY), letting open tunnels finish.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: CancellationToken,
        tracker: TaskTracker,
    ) {
        let conn_shutdown = shutdown.clone();
        let conn_tracker = tracker.clone();
        airlock_net::accept_loop(
            "vpclink",
            listener,
            ConnectionLimit::default(),
            shutdown,
            tracker,
            move |stream, peer| {
                self.clone()
                    .connection(stream, peer, conn_shutdown.clone(), conn_tracker.clone())
            },
        )
        .await;
    }

    /// A handle through which a gateway in this process connects to the endpoint without a
    /// socket: the same mutual TLS, admission and tunnels as on the host port, over an
    /// in-process pipe. Connections run on `tracker` and close on `shutdown`.
    pub fn local(
        self: &Arc<Self>,
        shutdown: CancellationToken,
        tracker: TaskTracker,
    ) -> LocalEndpoint {
        LocalEndpoint {
            endpoint: self.clone(),
            shutdown,
            tracker,
        }
    }

    async fn connection<S>(
        self: Arc<Self>,
        stream: S,
        peer: SocketAddr,
        shutdown: CancellationToken,
        tracker: TaskTracker,
    ) where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.stats.send_modify(|s| s.connections_accepted += 1);
        let Some(tls) = self.handshake(stream, peer).await else {
            return;
        };
        let identity = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(identity_of);
        if let Err(refusal) = authorize(identity.as_deref(), &self.config.expected_identity) {
            self.refuse(peer, refusal);
            // Closed before the HTTP/2 server starts: not one request of this client is read.
            return;
        }
        self.stats.send_modify(|s| s.connections_admitted += 1);
        tracing::debug!(%peer, identity = ?identity, "VPC link admitted the gateway");

        let mut conn = match h2::server::Builder::new()
            .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
            .initial_window_size(TUNNEL_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .handshake::<_, Bytes>(tls)
            .await
        {
            Ok(conn) => conn,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "VPC link connection ended before HTTP/2 began");
                return;
            }
        };
        // Accepting also drives the connection: every open tunnel's frames move while this
        // loop waits. On shutdown, GOAWAY, then open tunnels may finish.
        let mut closing = false;
        loop {
            let next = if closing {
                conn.accept().await
            } else {
                tokio::select! {
                    next = conn.accept() => next,
                    _ = shutdown.cancelled() => {
                        conn.graceful_shutdown();
                        closing = true;
                        continue;
                    }
                }
            };
            match next {
                None => break,
                Some(Ok((req, respond))) => {
                    let this = self.clone();
                    tracker.spawn(async move { this.tunnel(req, respond).await });
                }
                Some(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "VPC link connection ended with an error");
                    break;
                }
            }
        }
    }

    /// Completes the TLS handshake, or records and logs why not. The refusal is recorded before
    /// the socket closes, so a client that sees the close can already read the reason.
    async fn handshake<S>(&self, stream: S, peer: SocketAddr) -> Option<TlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let accept = self.tls.accept(stream).into_fallible();
        match tokio::time::timeout(self.config.handshake_timeout, accept).await {
            Ok(Ok(tls)) => Some(tls),
            Ok(Err((err, stream))) => {
                self.refuse(peer, classify_handshake_error(&err));
                drop(stream);
                None
            }
            Err(_) => {
                self.refuse(peer, Refusal::HandshakeTimeout);
                None
            }
        }
    }

    fn refuse(&self, peer: SocketAddr, refusal: Refusal) {
        tracing::warn!(%peer, reason = %refusal, "VPC link refused a connection");
        self.stats.send_modify(|s| {
            s.connections_refused += 1;
            s.last_refusal = Some(refusal);
        });
    }

    /// Answers one `CONNECT`: 200 and the tunnel carried to its destination, or an error status
    /// naming the cause.
    async fn tunnel(&self, req: Request<RecvStream>, mut respond: SendResponse<Bytes>) {
        let target = req.uri().clone();
        // The dial's security-group decision joins the trace of the request it serves.
        let scope = req
            .headers()
            .get(LINK_TRACE_HEADER)
            .filter(|_| self.config.tracer.is_on())
            .and_then(|v| trace::TraceKey::from_header(v.as_bytes()))
            .map(|key| trace::Scope {
                key,
                tracer: self.config.tracer.clone(),
                component: trace::Component::VpcLink,
            });
        let (upstream, dest, from) = match trace::scoped(scope, self.dial(&req)).await {
            Ok(upstream) => upstream,
            Err((error, detail)) => {
                tracing::warn!(target = %target, reason = error.code(), %detail, "VPC link did not open a tunnel");
                self.stats.send_modify(|s| s.tunnels_failed += 1);
                if let Ok(mut body) = respond.send_response(failure(error), false) {
                    let _ = body.send_data(Bytes::from(detail), true);
                }
                return;
            }
        };
        let mut ok = Response::new(());
        *ok.status_mut() = StatusCode::OK;
        let send = match respond.send_response(ok, false) {
            Ok(send) => send,
            Err(e) => {
                tracing::debug!(%dest, error = %e, "the gateway went away before the tunnel opened");
                return;
            }
        };
        self.stats.send_modify(|s| s.tunnels_opened += 1);
        // An airlock listener (an ALB node) takes the tunnel stream itself; a foreign process's
        // socket is relayed to and from it.
        match upstream.carry(H2Stream::new(send, req.into_body())).await {
            Ok(None) => tracing::debug!(%dest, %from, "VPC link tunnel handed over"),
            Ok(Some((sent, received))) => {
                tracing::debug!(%dest, %from, sent, received, "VPC link tunnel closed");
            }
            Err(e) => tracing::debug!(%dest, %from, error = %e, "VPC link tunnel broke"),
        }
    }

    /// Decides whether the tunnel may open and dials its destination from one of the link's
    /// interfaces, in turn.
    async fn dial(
        &self,
        req: &Request<RecvStream>,
    ) -> Result<(Opening, SocketAddrV4, String), (TunnelError, String)> {
        if req.method() != Method::CONNECT {
            return Err((
                TunnelError::MethodNotAllowed,
                format!("{} is not CONNECT", req.method()),
            ));
        }
        let dest = parse_destination(req.uri(), self.config.network.cidr()).map_err(|e| {
            let detail = match e {
                TunnelError::OutsideVpc => format!(
                    "{} is outside the VPC {}",
                    req.uri(),
                    self.config.network.cidr()
                ),
                _ => format!("{} is not an IPv4 address and port", req.uri()),
            };
            (e, detail)
        })?;
        let state = *self.config.state.borrow();
        if state != LinkState::Available {
            return Err((
                TunnelError::LinkNotAvailable,
                format!("the VPC link is {state}"),
            ));
        }
        let ifaces = &self.config.interfaces;
        if ifaces.is_empty() {
            return Err((
                TunnelError::NoInterfaces,
                "the VPC link has no network interface".to_owned(),
            ));
        }
        let iface = &ifaces[self.next_interface.fetch_add(1, Ordering::Relaxed) % ifaces.len()];
        let from = format!("{} {}", iface.id(), iface.ip());
        let origin = Origin::Interface(iface.clone());
        let timeout = self.config.connect_timeout;
        match tokio::time::timeout(timeout, self.config.network.open(&origin, dest.into())).await {
            Ok(Ok(stream)) => Ok((stream, dest, from)),
            Ok(Err(DialError::Refused(_))) => Err((
                TunnelError::ConnectionRefused,
                format!("{dest} refused the connection from {from}"),
            )),
            Ok(Err(e)) => Err((TunnelError::ConnectFailed, format!("from {from}: {e}"))),
            Err(_) => Err((
                TunnelError::ConnectTimeout,
                format!("{dest} did not answer {from} within {timeout:?}"),
            )),
        }
    }
}

/// The address in-process connections are logged with: they have no socket.
const LOCAL_PEER: SocketAddr = SocketAddr::V4(SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 0));

/// An endpoint reached in-process; see [`Endpoint::local`].
#[derive(Clone)]
pub struct LocalEndpoint {
    endpoint: Arc<Endpoint>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl std::fmt::Debug for LocalEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalEndpoint")
    }
}

impl LocalEndpoint {
    /// Opens a connection to the endpoint; the endpoint serves its side as it would a TCP
    /// connection (TLS handshake first).
    pub(crate) fn connect(&self) -> airlock_net::Pipe {
        let (ours, theirs) = airlock_net::pipe(airlock_net::PIPE_BUFFER);
        let endpoint = self.endpoint.clone();
        let (shutdown, tracker) = (self.shutdown.clone(), self.tracker.clone());
        self.tracker
            .spawn(endpoint.connection(theirs, LOCAL_PEER, shutdown, tracker));
        ours
    }
}

/// The head of a refusal; its body is the detail.
fn failure(error: TunnelError) -> Response<()> {
    let mut res = Response::new(());
    *res.status_mut() = error.status();
    res.headers_mut().insert(
        LINK_ERROR_HEADER,
        http::HeaderValue::from_static(error.code()),
    );
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

/// Builds an [`Endpoint`] from `config` and serves it on `listener` until `shutdown` fires; see
/// [`Endpoint::serve`]. Use [`Endpoint::new`] directly to keep a handle on its counters.
pub async fn serve(
    listener: TcpListener,
    config: Arc<EndpointConfig>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) -> Result<(), EndpointError> {
    Endpoint::new((*config).clone())?
        .serve(listener, shutdown, tracker)
        .await;
    Ok(())
}
