//! Integration calls: HTTP/1.1 to the backend through pooled connections (spec §4).
//!
//! Each integration has one connection pool (hyper-util's client) whose connector opens a VPC
//! link tunnel stream to the listener's private address and, with `tls_config`, runs TLS over
//! it, verifying `server_name_to_verify`. Pools live as long as the gateway, so the tunnel and
//! TLS set-up are paid per connection, not per request.

use crate::response::{Body, BoxError, Refusal};
use crate::{Integration, IntegrationTarget, PrivateTarget, RouteConfig};
use http::{HeaderValue, Request, Response, Uri, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite};

/// A bidirectional byte stream.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// A boxed [`Io`].
pub type BoxIo = Box<dyn Io>;

/// Opens streams to private addresses: the VPC link, as the gateway sees it.
pub trait Tunnel: Send + Sync + 'static {
    /// Opens a stream to `dest`, a private `ip:port` inside the VPC.
    fn open(&self, dest: SocketAddr) -> Pin<Box<dyn Future<Output = io::Result<BoxIo>> + Send>>;
}

/// Headers and path the pipeline computed for the backend request.
pub(crate) struct Outgoing {
    pub path: String,
    pub forwarded: String,
}

type Pool = Client<PrivateConnector, Body>;

struct IntegrationClient {
    pool: Pool,
    next: AtomicUsize,
}

pub(crate) struct Proxy {
    /// Keyed by the integration's address: one pool per integration.
    clients: HashMap<usize, IntegrationClient>,
}

fn key(i: &Arc<Integration>) -> usize {
    Arc::as_ptr(i) as usize
}

impl Proxy {
    pub(crate) fn new<'a>(routes: impl Iterator<Item = &'a RouteConfig>) -> Proxy {
        let mut clients = HashMap::new();
        for r in routes {
            let IntegrationTarget::Private(target) = &r.integration.target;
            clients.entry(key(&r.integration)).or_insert_with(|| {
                let connector = PrivateConnector::new(target);
                IntegrationClient {
                    pool: Client::builder(TokioExecutor::new())
                        .pool_idle_timeout(std::time::Duration::from_secs(60))
                        .build(connector),
                    next: AtomicUsize::new(0),
                }
            });
        }
        Proxy { clients }
    }

    pub(crate) async fn call(
        &self,
        integration: &Arc<Integration>,
        req: Request<Incoming>,
        out: Outgoing,
    ) -> Result<Response<Body>, Refusal> {
        let client = self
            .clients
            .get(&key(integration))
            .ok_or(Refusal::IntegrationFailure)?;
        let IntegrationTarget::Private(target) = &integration.target;
        if target.destinations.is_empty() {
            return Err(Refusal::IntegrationFailure);
        }
        let n = client.next.fetch_add(1, Ordering::Relaxed) % target.destinations.len();
        let dest = target.destinations[n];
        let scheme = if target.tls_server_name.is_some() {
            "https"
        } else {
            "http"
        };
        let path_and_query = match req.uri().query() {
            Some(q) => format!("{}?{q}", out.path),
            None => out.path,
        };
        let uri: Uri = format!("{scheme}://{dest}{path_and_query}")
            .parse()
            .map_err(|_| Refusal::NotFound)?;

        let (mut parts, body) = req.into_parts();
        parts.uri = uri;
        parts.version = http::Version::HTTP_11;
        if let Some(m) = &integration.method {
            parts.method = m.clone();
        }
        strip_hop_by_hop(&mut parts.headers);
        let h = &mut parts.headers;
        h.insert(
            header::HOST,
            HeaderValue::from_str(&target.host_header).map_err(|_| Refusal::IntegrationFailure)?,
        );
        if let Ok(v) = HeaderValue::from_str(&out.forwarded) {
            h.append(header::FORWARDED, v);
        }
        h.append(
            header::VIA,
            HeaderValue::from_static("HTTP/1.1 AmazonAPIGateway"),
        );
        if !h.contains_key("x-amzn-trace-id") {
            h.insert("x-amzn-trace-id", trace_id());
        }
        let body: Body = body.map_err(|e| Box::new(e) as BoxError).boxed();
        let req = Request::from_parts(parts, body);

        let sent = tokio::time::timeout(integration.timeout, client.pool.request(req)).await;
        let resp = match sent {
            Err(_) => {
                tracing::warn!(integration = %integration.name, %dest, "integration timed out");
                return Err(Refusal::IntegrationTimeout);
            }
            Ok(Err(e)) => {
                tracing::warn!(
                    integration = %integration.name,
                    %dest,
                    error = %error_chain(&e),
                    "integration failed"
                );
                return Err(Refusal::IntegrationFailure);
            }
            Ok(Ok(resp)) => resp,
        };
        let (mut parts, body) = resp.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        Ok(Response::from_parts(
            parts,
            body.map_err(|e| Box::new(e) as BoxError).boxed(),
        ))
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// `Root=1-<8 hex epoch seconds>-<24 hex>`, the X-Ray format.
fn trace_id() -> HeaderValue {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let id: [u8; 12] = rand::random();
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    HeaderValue::from_str(&format!("Root=1-{secs:08x}-{hex}"))
        .unwrap_or_else(|_| HeaderValue::from_static("Root=1-00000000-000000000000000000000000"))
}

/// Removes hop-by-hop headers, including those named by `Connection` (RFC 9110 §7.6.1).
pub(crate) fn strip_hop_by_hop(h: &mut http::HeaderMap) {
    let named: Vec<String> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    for name in named {
        h.remove(name.as_str());
    }
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ] {
        h.remove(name);
    }
}

/// Opens tunnel streams, with TLS on top when the integration asks for it.
#[derive(Clone)]
struct PrivateConnector {
    tunnel: Arc<dyn Tunnel>,
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls_pki_types::ServerName<'static>,
    )>,
}

impl PrivateConnector {
    fn new(target: &PrivateTarget) -> PrivateConnector {
        let tls = target.tls_server_name.as_ref().and_then(|name| {
            let mut roots = rustls::RootCertStore::empty();
            for r in &target.tls_roots {
                let _ = roots.add(r.clone());
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .ok()?
                .with_root_certificates(roots)
                .with_no_client_auth();
            // API Gateway speaks HTTP/1.1 to backends (spec §2.1).
            cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
            let server_name = rustls_pki_types::ServerName::try_from(name.clone()).ok()?;
            Some((tokio_rustls::TlsConnector::from(Arc::new(cfg)), server_name))
        });
        PrivateConnector {
            tunnel: target.tunnel.clone(),
            tls,
        }
    }
}

impl tower::Service<Uri> for PrivateConnector {
    type Response = Conn;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Conn>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let dest: SocketAddr = uri
                .authority()
                .and_then(|a| a.as_str().parse().ok())
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad destination"))?;
            let stream = this.tunnel.open(dest).await?;
            let io: BoxIo = match this.tls {
                Some((connector, name)) => Box::new(connector.connect(name, stream).await?),
                None => stream,
            };
            Ok(Conn(TokioIo::new(io)))
        })
    }
}

/// A pooled backend connection.
struct Conn(TokioIo<BoxIo>);

impl Connection for Conn {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
