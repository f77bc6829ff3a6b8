//! The gateway's side: one shared mutual-TLS HTTP/2 connection, one `CONNECT` stream per tunnel.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use airlock_net::NetStream;
use airlock_pki::Leaf;
use bytes::Bytes;
use h2::client::SendRequest;
use http::{Method, Request, StatusCode, Uri};
use rustls::RootCertStore;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_rustls::TlsConnector;

use crate::LINK_ERROR_HEADER;
use crate::endpoint::LocalEndpoint;
use crate::policy::TunnelError;
use crate::stream::H2Stream;
use std::sync::atomic::AtomicBool;

/// Bound on reaching the endpoint and completing mutual TLS; it is on the same host, so this
/// only fires when something is badly wrong.
const ENDPOINT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The endpoint's error bodies are one line; more is not worth reading.
const ERROR_BODY_LIMIT: usize = 4096;

/// How the gateway reaches one VPC link endpoint.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The endpoint's host loopback address.
    pub endpoint: SocketAddr,
    /// The same endpoint in this process, when it is: connections then run over an in-process
    /// pipe instead of a loopback socket (same mutual TLS, same HTTP/2), which spares the kernel
    /// a round trip per request.
    pub local: Option<LocalEndpoint>,
    /// The gateway's client certificate, naming `airlock_pki::apigateway_identity(..)`.
    pub identity: Leaf,
    /// The CA the endpoint's certificate chains to.
    pub ca: CertificateDer<'static>,
    /// The name the endpoint's certificate is verified against.
    pub server_name: String,
}

/// Why a [`LinkClient`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientSetupError {
    /// The CA certificate cannot be used as a trust anchor.
    #[error("the CA certificate is unusable: {0}")]
    Ca(rustls::Error),
    /// rustls refused the client certificate or its key.
    #[error("the gateway's client certificate is unusable: {0}")]
    Identity(rustls::Error),
    /// `server_name` is not a DNS name or IP address.
    #[error("{0:?} is not a valid server name")]
    ServerName(String),
}

/// Why a tunnel did not open. The first three mean the link itself is broken (the gateway's
/// 500); the last two come from the endpoint about this destination.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The endpoint's port could not be reached.
    #[error("cannot reach the VPC link endpoint {endpoint}: {source}")]
    Unreachable {
        /// The endpoint's address.
        endpoint: SocketAddr,
        /// The connect error (a timeout shows as `TimedOut`).
        #[source]
        source: io::Error,
    },
    /// Mutual TLS with the endpoint failed: its certificate is not trusted, or it refused ours.
    #[error("TLS with the VPC link endpoint failed: {0}")]
    Handshake(#[source] io::Error),
    /// The shared connection failed before the endpoint answered, e.g. because the endpoint
    /// refused this client's certificate or identity and closed it.
    #[error("the VPC link connection failed: {0}")]
    Connection(#[source] h2::Error),
    /// The destination did not accept within the endpoint's connect timeout (504): a security
    /// group dropped the connection, or no interface has the address.
    #[error("the VPC link timed out connecting to {dest}: {message}")]
    ConnectTimeout {
        /// The destination asked for.
        dest: SocketAddr,
        /// The endpoint's explanation.
        message: String,
    },
    /// The endpoint refused to open the tunnel.
    #[error("the VPC link refused the tunnel to {dest} with {status} ({}): {message}", reason.map_or("unknown", |r| r.code()))]
    Refused {
        /// The destination asked for.
        dest: SocketAddr,
        /// The endpoint's status.
        status: StatusCode,
        /// The cause from the [`LINK_ERROR_HEADER`] header, when the endpoint named one.
        reason: Option<TunnelError>,
        /// The endpoint's explanation.
        message: String,
    },
}

/// The shared connection: its generation, its request handle, and whether its task still runs.
#[derive(Clone)]
struct Live {
    generation: u64,
    sender: SendRequest<Bytes>,
    closed: Arc<AtomicBool>,
}

/// The gateway's handle on one VPC link. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct LinkClient {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: SocketAddr,
    local: Option<LocalEndpoint>,
    server_name: ServerName<'static>,
    tls: TlsConnector,
    /// The live connection and its generation, one per shard of the process
    /// (`airlock_net::shards`: one when the process has none, as in tests): tunnels opened on a
    /// core ride a connection served on that core. Held across the connect so that concurrent
    /// opens wait for one connection instead of racing to create several.
    conns: Vec<Mutex<Option<Live>>>,
    connections_opened: AtomicU64,
}

impl std::fmt::Debug for LinkClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkClient")
            .field("endpoint", &self.inner.endpoint)
            .field("server_name", &self.inner.server_name)
            .finish_non_exhaustive()
    }
}

impl LinkClient {
    /// Builds the client: a rustls configuration (ring, the gateway's certificate, the CA as the
    /// only root, ALPN `h2`). Nothing is dialed until the first [`LinkClient::open`].
    pub fn new(config: ClientConfig) -> Result<LinkClient, ClientSetupError> {
        let provider = airlock_pki::crypto_provider();
        let mut roots = RootCertStore::empty();
        roots.add(config.ca).map_err(ClientSetupError::Ca)?;
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(ClientSetupError::Identity)?
            .with_root_certificates(roots)
            .with_client_auth_cert(config.identity.cert_chain, config.identity.key)
            .map_err(ClientSetupError::Identity)?;
        tls.alpn_protocols = vec![b"h2".to_vec()];
        let server_name = ServerName::try_from(config.server_name.clone())
            .map_err(|_| ClientSetupError::ServerName(config.server_name))?;
        Ok(LinkClient {
            inner: Arc::new(Inner {
                endpoint: config.endpoint,
                local: config.local,
                server_name,
                tls: TlsConnector::from(Arc::new(tls)),
                conns: (0..airlock_net::shards::count())
                    .map(|_| Mutex::new(None))
                    .collect(),
                connections_opened: AtomicU64::new(0),
            }),
        })
    }

    /// How many connections to the endpoint this client has opened (1 while the first lives).
    pub fn connections_opened(&self) -> u64 {
        self.inner.connections_opened.load(Ordering::Relaxed)
    }

    /// Opens a tunnel to the private address `dest` as a stream of the shared connection.
    ///
    /// If a reused connection turns out dead, the request is retried once on a fresh one:
    /// nothing was sent through the tunnel yet, so the retry cannot duplicate payload.
    pub async fn open(&self, dest: SocketAddr) -> Result<LinkStream, LinkError> {
        let (live, fresh) = self.sender().await?;
        airlock_net::trace::note(|_| {
            use airlock_net::trace::{Component, Hop, Val};
            Hop::new(Component::VpcLink, "stream", "new tunnel stream")
                .with(airlock_net::name!("to"), Val::Addr(dest))
                .with(
                    airlock_net::name!("connection"),
                    Val::Str(if fresh {
                        "new link connection"
                    } else {
                        "shared link connection"
                    }),
                )
                .with(
                    airlock_net::name!("connection number"),
                    Val::Num(live.generation),
                )
        });
        let (response, send) = match connect_request(live.sender.clone(), dest).await {
            Ok(opened) => opened,
            Err(e) => {
                self.forget(live.generation).await;
                if fresh {
                    return Err(LinkError::Connection(e));
                }
                tracing::debug!(error = %e, "VPC link connection was dead; reconnecting");
                let (live, _) = self.sender().await?;
                match connect_request(live.sender.clone(), dest).await {
                    Ok(opened) => opened,
                    Err(e) => {
                        self.forget(live.generation).await;
                        return Err(LinkError::Connection(e));
                    }
                }
            }
        };

        let status = response.status();
        let reason = response
            .headers()
            .get(LINK_ERROR_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(TunnelError::from_code);
        let mut body = response.into_body();
        if status == StatusCode::OK {
            return Ok(LinkStream {
                inner: H2Stream::new(send, body),
            });
        }
        let mut message = Vec::new();
        while message.len() < ERROR_BODY_LIMIT {
            match body.data().await {
                Some(Ok(chunk)) => {
                    let _ = body.flow_control().release_capacity(chunk.len());
                    message.extend_from_slice(&chunk);
                }
                _ => break,
            }
        }
        message.truncate(ERROR_BODY_LIMIT);
        let message = String::from_utf8_lossy(&message).into_owned();
        if reason == Some(TunnelError::ConnectTimeout) || status == StatusCode::GATEWAY_TIMEOUT {
            return Err(LinkError::ConnectTimeout { dest, message });
        }
        Err(LinkError::Refused {
            dest,
            status,
            reason,
            message,
        })
    }

    /// The live connection, connecting first if there is none or it closed. Returns whether the
    /// connection was made by this call.
    async fn sender(&self) -> Result<(Live, bool), LinkError> {
        let mut slot = self.slot().lock().await;
        if let Some(live) = slot.as_ref()
            && !live.closed.load(Ordering::Acquire)
        {
            return Ok((live.clone(), false));
        }
        let (sender, closed) = self.connect().await?;
        let generation = self
            .inner
            .connections_opened
            .fetch_add(1, Ordering::Relaxed)
            + 1;
        let live = Live {
            generation,
            sender,
            closed,
        };
        *slot = Some(live.clone());
        Ok((live, true))
    }

    /// Drops the cached connection if it is still the one of `generation` (another open may
    /// already have replaced it).
    async fn forget(&self, generation: u64) {
        let mut slot = self.slot().lock().await;
        if slot.as_ref().is_some_and(|l| l.generation == generation) {
            *slot = None;
        }
    }

    /// This shard's connection slot.
    fn slot(&self) -> &Mutex<Option<Live>> {
        let conns = &self.inner.conns;
        &conns[airlock_net::shards::current() % conns.len()]
    }

    async fn connect(&self) -> Result<(SendRequest<Bytes>, Arc<AtomicBool>), LinkError> {
        let endpoint = self.inner.endpoint;
        let tls = tokio::time::timeout(ENDPOINT_CONNECT_TIMEOUT, async {
            let stream = match &self.inner.local {
                Some(local) => NetStream::Pipe(local.connect()),
                None => {
                    let tcp = TcpStream::connect(endpoint)
                        .await
                        .map_err(|source| LinkError::Unreachable { endpoint, source })?;
                    let _ = tcp.set_nodelay(true);
                    NetStream::Tcp(tcp)
                }
            };
            self.inner
                .tls
                .connect(self.inner.server_name.clone(), stream)
                .await
                .map_err(LinkError::Handshake)
        })
        .await
        .map_err(|_| LinkError::Unreachable {
            endpoint,
            source: io::Error::new(
                io::ErrorKind::TimedOut,
                "connect and TLS handshake timed out",
            ),
        })??;
        let (sender, conn) = h2::client::Builder::new()
            .initial_window_size(crate::stream::TUNNEL_WINDOW)
            .initial_connection_window_size(crate::stream::CONNECTION_WINDOW)
            .handshake::<_, Bytes>(tls)
            .await
            .map_err(LinkError::Connection)?;
        let closed = Arc::new(AtomicBool::new(false));
        let on_close = closed.clone();
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%endpoint, error = %e, "VPC link connection ended with an error");
            }
            on_close.store(true, Ordering::Release);
        });
        tracing::debug!(%endpoint, "VPC link connection established");
        Ok((sender, closed))
    }
}

/// Sends `CONNECT dest` and waits for the endpoint's answer.
async fn connect_request(
    sender: SendRequest<Bytes>,
    dest: SocketAddr,
) -> Result<(http::Response<h2::RecvStream>, h2::SendStream<Bytes>), h2::Error> {
    let mut sender = sender.ready().await?;
    let authority = http::uri::Authority::try_from(dest.to_string())
        .expect("a socket address always formats as a valid authority");
    let mut req = Request::new(());
    *req.method_mut() = Method::CONNECT;
    *req.uri_mut() = Uri::from(authority);
    if let Some(key) = airlock_net::trace::current_key()
        && let Ok(v) = http::HeaderValue::try_from(key.to_string())
    {
        req.headers_mut()
            .insert(http::HeaderName::from_static(crate::LINK_TRACE_HEADER), v);
    }
    let (response, send) = sender.send_request(req, false)?;
    Ok((response.await?, send))
}

/// A tunnel to a private address: bytes written reach the destination, bytes read come from it.
/// Shutting down the write side half-closes the tunnel.
#[derive(Debug)]
pub struct LinkStream {
    inner: H2Stream,
}

impl AsyncRead for LinkStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for LinkStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
