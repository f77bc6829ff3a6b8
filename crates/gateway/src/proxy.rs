//! Integration calls: HTTP/1.1 to the backend through pooled connections (docs/aws-rules.md §HTTP-4).
//!
//! Each integration has one connection pool (`airlock-pool`, pruned while idle). A private integration's
//! connector opens a VPC link tunnel stream to the listener's private address and, with
//! `tls_config`, runs TLS over it, verifying `server_name_to_verify`. A URL integration's
//! connector dials the URL's host, which must be a loopback address: airlock never reaches the
//! internet. Pools live as long as the gateway, so tunnel and TLS set-up are paid per
//! connection, not per request.

use crate::mapping::Action;
use crate::response::{Body, BoxError, Refusal};
use crate::{HttpTarget, Integration, IntegrationTarget, PrivateTarget, RouteConfig};
use airlock_pool::headers::{PROXY_AUTH, Upgrade};
use http::{HeaderName, HeaderValue, Request, Response, Uri, header};
use http_body_util::BodyExt;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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
    /// For URL integrations: `scheme` and `host[:port]`; `None` for private integrations.
    pub origin: Option<(http::uri::Scheme, http::uri::Authority)>,
    /// The path and query sent.
    pub path_and_query: String,
    /// The `Forwarded` header value.
    pub forwarded: String,
    /// Header mappings, applied last (docs/aws-rules.md §HTTP-4.6).
    pub header_ops: Vec<(Action, HeaderName, String)>,
    /// The request already carries the `X-Amzn-Trace-Id` it is sent with (a traced request's
    /// root is fixed before the call): not looked up again.
    pub trace_id_set: bool,
}

/// Why an integration call failed: the client's answer and the text for
/// `$context.integrationErrorMessage`.
#[derive(Debug)]
pub(crate) struct CallError {
    pub refusal: Refusal,
    pub message: String,
}

impl CallError {
    fn new(refusal: Refusal, message: impl Into<String>) -> CallError {
        CallError {
            refusal,
            message: message.into(),
        }
    }
}

/// One integration's keep-alive connections, driven by the requests that use them.
type Pool = airlock_pool::Pool<Connector, Body>;

struct IntegrationClient {
    pool: Arc<Pool>,
    /// A private integration's pool keys, one per listener address, built at start.
    private: Vec<Endpoint>,
    /// A private integration's `Host`, made once.
    private_host: Option<HeaderValue>,
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
    /// One client per integration of `routes`; a private integration's new tunnel streams are
    /// noted in the trace of the request that needed them, through `tracer`.
    pub(crate) fn new<'a>(
        routes: impl Iterator<Item = &'a RouteConfig>,
        tracer: &airlock_net::trace::Tracer,
    ) -> Proxy {
        let mut clients = HashMap::new();
        for r in routes {
            clients.entry(key(&r.integration)).or_insert_with(|| {
                let connector = match &r.integration.target {
                    IntegrationTarget::Private(target) => {
                        Connector::Private(PrivateConnector::new(target, tracer.clone()))
                    }
                    IntegrationTarget::Http(target) => Connector::Http(HttpConnector::new(target)),
                };
                let private = match &r.integration.target {
                    IntegrationTarget::Private(target) => {
                        let scheme = if target.tls_server_name.is_some() {
                            http::uri::Scheme::HTTPS
                        } else {
                            http::uri::Scheme::HTTP
                        };
                        target
                            .destinations
                            .iter()
                            .filter_map(|d| http::uri::Authority::try_from(d.to_string()).ok())
                            .map(|authority| Endpoint {
                                scheme: scheme.clone(),
                                authority,
                                shard: 0,
                            })
                            .collect()
                    }
                    IntegrationTarget::Http(_) => Vec::new(),
                };
                let private_host = match &r.integration.target {
                    IntegrationTarget::Private(target) => {
                        HeaderValue::from_str(&target.host_header).ok()
                    }
                    IntegrationTarget::Http(_) => None,
                };
                IntegrationClient {
                    private_host,
                    // Idle connections close after a minute; head and body go out in one write
                    // (one TLS record rather than one each).
                    pool: Pool::new(connector, std::time::Duration::from_secs(60), false),
                    private,
                    next: AtomicUsize::new(0),
                }
            });
        }
        Proxy { clients }
    }

    /// Closes idle integration connections as they become due, until `shutdown`: a pool is
    /// otherwise pruned only when its key is used again, and an integration that is not called
    /// again would keep a burst's connections (and the ALB's side of them) for ever.
    pub(crate) fn prune_until(
        &self,
        shutdown: &tokio_util::sync::CancellationToken,
        tracker: &tokio_util::task::TaskTracker,
    ) {
        for client in self.clients.values() {
            tracker.spawn(Pool::prune_until(
                Arc::downgrade(&client.pool),
                shutdown.clone().cancelled_owned(),
            ));
        }
    }

    pub(crate) async fn call(
        &self,
        integration: &Arc<Integration>,
        req: Request<Body>,
        out: Outgoing,
    ) -> Result<Response<Body>, CallError> {
        let client = self
            .clients
            .get(&key(integration))
            .ok_or_else(|| CallError::new(Refusal::IntegrationFailure, "no client"))?;
        let (mut endpoint, host_header) = match (&integration.target, &out.origin) {
            (IntegrationTarget::Private(_), _) => {
                if client.private.is_empty() {
                    return Err(CallError::new(
                        Refusal::IntegrationFailure,
                        "the listener has no addresses",
                    ));
                }
                let n = client.next.fetch_add(1, Ordering::Relaxed) % client.private.len();
                (client.private[n].clone(), client.private_host.clone())
            }
            (IntegrationTarget::Http(_), Some((scheme, authority))) => (
                Endpoint {
                    scheme: scheme.clone(),
                    authority: authority.clone(),
                    shard: 0,
                },
                HeaderValue::from_str(authority.as_str()).ok(),
            ),
            (IntegrationTarget::Http(_), None) => {
                return Err(CallError::new(Refusal::IntegrationFailure, "no URL"));
            }
        };
        // Origin form on the wire: the connection already leads to the endpoint.
        let uri: Uri = out.path_and_query.parse().map_err(|e| {
            CallError::new(
                Refusal::IntegrationFailure,
                format!("invalid integration path {:?}: {e}", out.path_and_query),
            )
        })?;
        let host_header =
            host_header.or_else(|| HeaderValue::from_str(endpoint.authority.as_str()).ok());

        let (mut parts, body) = req.into_parts();
        parts.uri = uri;
        parts.version = http::Version::HTTP_11;
        if let Some(m) = &integration.method {
            parts.method = m.clone();
        }
        strip_hop_by_hop(&mut parts.headers);
        let h = &mut parts.headers;
        if let Some(host) = host_header {
            h.insert(header::HOST, host);
        }
        if let Ok(v) = HeaderValue::try_from(out.forwarded) {
            h.append(header::FORWARDED, v);
        }
        h.append(
            header::VIA,
            HeaderValue::from_static("HTTP/1.1 AmazonAPIGateway"),
        );
        if !out.trace_id_set
            && let header::Entry::Vacant(slot) = h.entry(X_AMZN_TRACE_ID)
        {
            slot.insert(trace_id());
        }
        for (action, name, value) in out.header_ops {
            apply_header(h, action, name, &value);
        }
        let req = Request::from_parts(parts, body);
        endpoint.shard = airlock_net::shards::current();
        let dest = &endpoint.authority;

        let sent =
            tokio::time::timeout(integration.timeout, client.pool.send(&endpoint, req)).await;
        let (resp, conn) = match sent {
            Err(_) => {
                tracing::warn!(integration = %integration.name, %dest, "integration timed out");
                return Err(CallError::new(
                    Refusal::IntegrationTimeout,
                    "The integration timed out",
                ));
            }
            Ok(Err(e)) => {
                let chain = error_chain(&e);
                tracing::warn!(
                    integration = %integration.name,
                    %dest,
                    error = %chain,
                    "integration failed"
                );
                return Err(CallError::new(Refusal::IntegrationFailure, chain));
            }
            Ok(Ok(answered)) => answered,
        };
        let (mut parts, body) = resp.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        // The body drives its connection while it streams and returns it to the pool at its end.
        let body = airlock_pool::DrivenBody::new(body, client.pool.clone(), conn);
        Ok(Response::from_parts(
            parts,
            body.map_err(|e| Box::new(e) as BoxError).boxed(),
        ))
    }
}

/// Applies one header mapping: an empty value skips `append`/`overwrite` (the variable was
/// absent; unconfirmed, see docs/aws-fidelity.md), `append` comma-joins.
pub(crate) fn apply_header(h: &mut http::HeaderMap, action: Action, name: HeaderName, value: &str) {
    match action {
        Action::Remove => {
            h.remove(&name);
        }
        _ if value.is_empty() => {}
        Action::Overwrite => {
            if let Ok(v) = HeaderValue::from_str(value) {
                h.insert(name, v);
            }
        }
        Action::Append => {
            let joined = match h.get(&name).and_then(|v| v.to_str().ok()) {
                Some(old) => format!("{old},{value}"),
                None => value.to_owned(),
            };
            if let Ok(v) = HeaderValue::from_str(&joined) {
                h.insert(name, v);
            }
        }
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
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
/// A constant name: a name parsed from text is checked and, not being a standard header,
/// copied into an allocation of its own on every use.
pub(crate) const X_AMZN_TRACE_ID: HeaderName = HeaderName::from_static("x-amzn-trace-id");

pub(crate) fn trace_id() -> HeaderValue {
    trace_id_and_key().0
}

/// A new `X-Amzn-Trace-Id` value and its root as a trace key (made, not read back).
pub(crate) fn trace_id_and_key() -> (HeaderValue, airlock_net::trace::TraceKey) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let id: [u8; 12] = rand::random();
    // `Root=1-{8 hex digits of the time}-{24 hex digits}`, built in place: once per request.
    let mut value = *b"Root=1-00000000-000000000000000000000000";
    hex_into(&mut value[7..15], &(secs as u32).to_be_bytes());
    hex_into(&mut value[16..], &id);
    let header = HeaderValue::from_bytes(&value)
        .unwrap_or_else(|_| HeaderValue::from_static("Root=1-00000000-000000000000000000000000"));
    (
        header,
        airlock_net::trace::TraceKey::from_parts(secs as u32, id),
    )
}

/// Writes `bytes` as lowercase hex into `out` (twice their length).
fn hex_into(out: &mut [u8], bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX[usize::from(b >> 4)];
        pair[1] = HEX[usize::from(b & 0xf)];
    }
}

/// Removes hop-by-hop headers, including those named by `Connection`; no upgrade survives
/// (the gateway forwards none) and neither do proxy credentials.
pub(crate) fn strip_hop_by_hop(h: &mut http::HeaderMap) {
    airlock_pool::headers::strip_hop_by_hop(h, Upgrade::Strip, &PROXY_AUTH);
}

/// Opens tunnel streams, with TLS on top when the integration asks for it.
#[derive(Clone)]
struct PrivateConnector {
    tunnel: Arc<dyn Tunnel>,
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls_pki_types::ServerName<'static>,
    )>,
    /// Where a new tunnel stream (and the VPC link connection it rides) is noted.
    tracer: airlock_net::trace::Tracer,
}

impl PrivateConnector {
    fn new(target: &PrivateTarget, tracer: airlock_net::trace::Tracer) -> PrivateConnector {
        let tls = target.tls_server_name.as_ref().and_then(|name| {
            let cfg = client_tls(&target.tls_roots)?;
            let server_name = rustls_pki_types::ServerName::try_from(name.clone()).ok()?;
            Some((tokio_rustls::TlsConnector::from(Arc::new(cfg)), server_name))
        });
        PrivateConnector {
            tunnel: target.tunnel.clone(),
            tls,
            tracer,
        }
    }
}

/// Dials a URL integration's host: loopback addresses only (`localhost`, `127.0.0.0/8`,
/// `::1`), with TLS for `https` verified against the caller's roots.
#[derive(Clone)]
struct HttpConnector {
    /// `None` only if rustls refused the configuration; `https` URLs then fail with 500.
    tls: Option<tokio_rustls::TlsConnector>,
}

impl HttpConnector {
    fn new(target: &HttpTarget) -> HttpConnector {
        HttpConnector {
            tls: client_tls(&target.tls_roots)
                .map(|c| tokio_rustls::TlsConnector::from(Arc::new(c))),
        }
    }
}

fn client_tls(roots: &[rustls_pki_types::CertificateDer<'static>]) -> Option<rustls::ClientConfig> {
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        let _ = store.add(r.clone());
    }
    let provider = airlock_pki::crypto_provider();
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(store)
        .with_no_client_auth();
    // API Gateway speaks HTTP/1.1 to backends (docs/aws-rules.md §HTTP-2.1).
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Some(cfg)
}

/// The loopback address a URL integration host stands for, or an error naming the host.
pub(crate) fn loopback_addr(host: &str, port: u16) -> io::Result<SocketAddr> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let ip: std::net::IpAddr = if bare.eq_ignore_ascii_case("localhost") {
        std::net::Ipv4Addr::LOCALHOST.into()
    } else {
        bare.parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{host} is not a loopback address; airlock dials only loopback hosts"),
            )
        })?
    };
    if !ip.is_loopback() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{host} is not a loopback address; airlock dials only loopback hosts"),
        ));
    }
    Ok(SocketAddr::new(ip, port))
}

/// The connector of one integration's pool.
#[derive(Clone)]
enum Connector {
    Private(PrivateConnector),
    Http(HttpConnector),
}

/// What a pooled connection leads to: the scheme and `host:port` of the integration's URI,
/// and the shard of the requests that use it (`airlock_net::shards`): a private integration's
/// connection rides the VPC link connection of the shard that opened it, so requests of that
/// shard reuse it and the exchange stays on one core.
#[derive(Clone, Debug)]
struct Endpoint {
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    shard: usize,
}

impl PartialEq for Endpoint {
    fn eq(&self, other: &Endpoint) -> bool {
        let (a, b) = (self.authority.as_str(), other.authority.as_str());
        self.shard == other.shard
            && self.scheme == other.scheme
            // A private integration's keys are clones of one authority made at start, sharing
            // its text: the same text is equal without the case-insensitive comparison.
            && (std::ptr::eq(a, b) || self.authority == other.authority)
    }
}

impl Eq for Endpoint {}

impl std::hash::Hash for Endpoint {
    /// Case-insensitive like `Authority`'s equality, but fed to the hasher a chunk at a time:
    /// `Authority`'s own `Hash` writes one byte per call, and the pool hashes its key twice
    /// per request.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_usize(self.shard);
        state.write_u8(u8::from(self.scheme == http::uri::Scheme::HTTPS));
        let mut chunk = [0u8; 64];
        for part in self.authority.as_str().as_bytes().chunks(chunk.len()) {
            let lower = &mut chunk[..part.len()];
            lower.copy_from_slice(part);
            lower.make_ascii_lowercase();
            state.write(lower);
        }
    }
}

impl airlock_pool::Connect for Connector {
    type Key = Endpoint;
    type Io = BoxIo;
    type Error = io::Error;

    async fn connect(&self, endpoint: &Endpoint) -> io::Result<BoxIo> {
        self.connect_for(endpoint, &http::HeaderMap::new()).await
    }

    /// A private integration's new tunnel stream joins the trace of the request that needed
    /// it: its root is in the `X-Amzn-Trace-Id` the gateway is about to send. Only while the
    /// stream opens is that trace the task's scope (`airlock_net::trace::scoped`), so a
    /// request that reuses a pooled connection pays nothing for it.
    async fn connect_for(
        &self,
        endpoint: &Endpoint,
        headers: &http::HeaderMap,
    ) -> io::Result<BoxIo> {
        let (scheme, authority) = (&endpoint.scheme, &endpoint.authority);
        match self {
            Connector::Private(p) => {
                use airlock_net::trace::{self, Component, Scope, TraceKey};
                let dest: SocketAddr = authority
                    .as_str()
                    .parse()
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bad destination"))?;
                let scope = headers
                    .get(X_AMZN_TRACE_ID)
                    .filter(|_| p.tracer.is_on())
                    .and_then(|v| TraceKey::from_header(v.as_bytes()))
                    .map(|key| Scope {
                        key,
                        tracer: p.tracer.clone(),
                        component: Component::Gateway,
                    });
                let stream = trace::scoped(scope, p.tunnel.open(dest)).await?;
                Ok(match &p.tls {
                    Some((connector, name)) => {
                        Box::new(connector.connect(name.clone(), stream).await?)
                    }
                    None => stream,
                })
            }
            Connector::Http(h) => {
                let host = authority.host();
                let https = *scheme == http::uri::Scheme::HTTPS;
                let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
                let addr = loopback_addr(host, port)?;
                let tcp = tokio::net::TcpStream::connect(addr).await?;
                let _ = tcp.set_nodelay(true);
                if !https {
                    return Ok(Box::new(tcp));
                }
                let name = rustls_pki_types::ServerName::try_from(
                    host.trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_owned(),
                )
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                let tls = h
                    .tls
                    .as_ref()
                    .ok_or_else(|| io::Error::other("no TLS client"))?;
                Ok(Box::new(tls.connect(name, tcp).await?))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// X-Ray's shape: `Root=1-` + 8 hex digits of the time + `-` + 24 hex digits.
    #[test]
    fn trace_ids_have_x_rays_shape_and_differ() {
        let a = trace_id();
        let text = a.to_str().unwrap_or_default();
        assert_eq!(text.len(), 40, "{text}");
        assert!(
            text.starts_with("Root=1-") && text.as_bytes()[15] == b'-',
            "{text}"
        );
        let hex = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        assert!(hex(&text[7..15]) && hex(&text[16..]), "{text}");
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as u32)
            .unwrap_or(0);
        let stamped = u32::from_str_radix(&text[7..15], 16).unwrap_or(0);
        assert!(secs.abs_diff(stamped) <= 1, "{text}");
        assert_ne!(trace_id(), a);
    }

    #[test]
    fn a_made_trace_key_is_the_key_its_header_reads_as() {
        for _ in 0..100 {
            let (value, key) = trace_id_and_key();
            assert_eq!(
                airlock_net::trace::TraceKey::from_header(value.as_bytes()),
                Some(key),
                "{value:?}"
            );
        }
    }

    #[test]
    fn hop_by_hop_headers_and_the_ones_connection_names_go() {
        let mut h = http::HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("X-Secret, keep-alive"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        let left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["x-kept"]);
    }
}
