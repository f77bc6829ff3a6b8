//! Small clients for talking to a running stack from Rust tests (and `airlock demo`): HTTPS
//! that trusts the stack's CA and sends the SNI of the name it calls (as `curl --resolve` does),
//! SOCKS5 through a vantage point, and DNS queries.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls_pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Errors of the test clients.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Connecting or talking to the server failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The HTTP exchange failed.
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    /// The request could not be built (bad header or path).
    #[error("request: {0}")]
    Request(#[from] http::Error),
    /// A TLS setting was refused.
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    /// The host is not a valid TLS server name.
    #[error("invalid server name {0:?}")]
    ServerName(String),
    /// The SOCKS5 proxy answered something unexpected.
    #[error("SOCKS5: {0}")]
    Socks(String),
}

/// A response, fully read.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: http::HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
    /// A header's value as text, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One HTTP request: method, path (with query), extra headers and body.
#[derive(Debug, Clone, Default)]
pub struct Call<'a> {
    /// `GET` when empty.
    pub method: &'a str,
    /// Path and query, e.g. `/pets?limit=2`.
    pub path: &'a str,
    /// Extra headers.
    pub headers: Vec<(&'a str, String)>,
    /// The body.
    pub body: &'a str,
}

impl<'a> Call<'a> {
    /// A GET of `path`.
    pub fn get(path: &'a str) -> Self {
        Call {
            method: "GET",
            path,
            ..Call::default()
        }
    }
    /// Adds `Authorization: Bearer <token>`.
    pub fn bearer(mut self, token: &str) -> Self {
        self.headers
            .push(("authorization", format!("Bearer {token}")));
        self
    }
}

/// A TLS client configuration trusting `ca`, optionally presenting a client certificate.
pub fn tls_config(
    ca: CertificateDer<'static>,
    client: Option<&airlock_pki::Leaf>,
) -> Result<rustls::ClientConfig, ClientError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca)?;
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots);
    Ok(match client {
        Some(leaf) => {
            builder.with_client_auth_cert(leaf.cert_chain.clone(), leaf.key.clone_key())?
        }
        None => builder.with_no_client_auth(),
    })
}

/// Sends `call` over HTTPS (HTTP/1.1) on `stream`, verifying `host` against `ca`; `Host` is
/// `host_header`.
pub async fn https_over<S>(
    stream: S,
    ca: CertificateDer<'static>,
    host: &str,
    host_header: &str,
    call: &Call<'_>,
) -> Result<Reply, ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls_config(ca, None)?));
    let name = ServerName::try_from(host.to_owned())
        .map_err(|_| ClientError::ServerName(host.to_owned()))?;
    let tls = connector.connect(name, stream).await?;
    // A client of the stack takes every response head the stack may relay (hyper's default
    // count of 100 lines is below it).
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .max_headers(airlock_pool::MAX_RESPONSE_HEADER_LINES)
        .handshake(TokioIo::new(tls))
        .await?;
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method(if call.method.is_empty() {
            "GET"
        } else {
            call.method
        })
        .uri(call.path)
        .header("host", host_header);
    for (k, v) in &call.headers {
        req = req.header(*k, v);
    }
    let req = req.body(Full::new(Bytes::from(call.body.to_owned())))?;
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// Sends `call` over HTTPS to `addr` (a host port), with SNI and `Host` set to `host`.
pub async fn https(
    addr: SocketAddr,
    ca: CertificateDer<'static>,
    host: &str,
    call: &Call<'_>,
) -> Result<Reply, ClientError> {
    let tcp = TcpStream::connect(addr).await?;
    https_over(tcp, ca, host, &format!("{host}:{}", addr.port()), call).await
}

/// Opens a SOCKS5 tunnel through `proxy` to `host:port`, with remote name resolution (what
/// `curl --socks5-hostname` does). Returns `Ok(None)` when the proxy gives no reply within
/// `wait`: the connection was dropped on the way, as a real network drops it. Otherwise the
/// SOCKS reply code (0 = success) and the stream.
pub async fn socks5(
    proxy: SocketAddr,
    host: &str,
    port: u16,
    wait: Duration,
) -> Result<Option<(u8, TcpStream)>, ClientError> {
    let mut s = TcpStream::connect(proxy).await?;
    socks5_request(&mut s, host, port).await?;
    match tokio::time::timeout(wait, socks5_reply(&mut s)).await {
        Err(_) => Ok(None),
        Ok(code) => Ok(Some((code?, s))),
    }
}

/// Greets a SOCKS5 proxy on `stream` (no authentication) and asks it to `CONNECT` to
/// `host:port` by name. The proxy's answer is read by [`socks5_reply`].
pub async fn socks5_request<S>(stream: &mut S, host: &str, port: u16) -> Result<(), ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream.write_all(&[5, 1, 0]).await?;
    let mut hello = [0u8; 2];
    stream.read_exact(&mut hello).await?;
    if hello != [5, 0] {
        return Err(ClientError::Socks(format!("greeting refused: {hello:?}")));
    }
    let len = u8::try_from(host.len()).map_err(|_| ClientError::Socks("name too long".into()))?;
    let mut req = vec![5, 1, 0, 3, len];
    req.extend_from_slice(host.as_bytes());
    req.extend_from_slice(&port.to_be_bytes());
    stream.write_all(&req).await?;
    Ok(())
}

/// Reads a SOCKS5 proxy's reply to `CONNECT`, bound address included, so that what follows on
/// `stream` is the tunnel. Returns the reply code (0 = success).
pub async fn socks5_reply<S>(stream: &mut S) -> Result<u8, ClientError>
where
    S: AsyncRead + Unpin,
{
    let mut head = [0u8; 4];
    stream.read_exact(&mut head).await?;
    let addr_len = match head[3] {
        1 => 4,
        4 => 16,
        3 => {
            let mut l = [0u8; 1];
            stream.read_exact(&mut l).await?;
            usize::from(l[0])
        }
        other => {
            return Err(ClientError::Socks(format!("unknown address type {other}")));
        }
    };
    let mut rest = vec![0u8; addr_len + 2];
    stream.read_exact(&mut rest).await?;
    Ok(head[1])
}

/// Asks a VPC link endpoint for a tunnel to `dest` as a client presenting `identity` (or no
/// certificate), the way the gateway does: mutual TLS, then an HTTP/2 `CONNECT`. Returns the
/// `CONNECT` status; an error when the endpoint refused the client before any HTTP/2.
pub async fn vpc_link_connect(
    endpoint: SocketAddr,
    ca: CertificateDer<'static>,
    server_name: &str,
    identity: Option<&airlock_pki::Leaf>,
    dest: SocketAddr,
) -> Result<u16, ClientError> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls_config(ca, identity)?));
    let tcp = TcpStream::connect(endpoint).await?;
    let name = ServerName::try_from(server_name.to_owned())
        .map_err(|_| ClientError::ServerName(server_name.to_owned()))?;
    let tls = connector.connect(name, tcp).await?;
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        TokioIo::new(tls),
    )
    .await?;
    tokio::spawn(conn);
    let req = http::Request::builder()
        .method("CONNECT")
        .uri(dest.to_string())
        .body(http_body_util::Empty::<Bytes>::new())?;
    Ok(sender.send_request(req).await?.status().as_u16())
}

/// The A records of `name` from a DNS server over UDP.
pub async fn dns_a_udp(
    server: SocketAddr,
    name: &str,
) -> Result<
    (
        airlock_dns::proto::op::ResponseCode,
        Vec<std::net::Ipv4Addr>,
    ),
    ClientError,
> {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    sock.send_to(&dns_query(name)?, server).await?;
    let mut buf = vec![0u8; 4096];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no DNS answer"))??;
    dns_answer(&buf[..n])
}

/// The A records of `name` over DNS-over-TCP on `stream` (e.g. a tunnel to the VPC resolver).
pub async fn dns_a_tcp<S>(
    mut stream: S,
    name: &str,
) -> Result<
    (
        airlock_dns::proto::op::ResponseCode,
        Vec<std::net::Ipv4Addr>,
    ),
    ClientError,
>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let q = dns_query(name)?;
    let len = u16::try_from(q.len()).map_err(|_| ClientError::Socks("query too long".into()))?;
    stream.write_all(&len.to_be_bytes()).await?;
    stream.write_all(&q).await?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await?;
    dns_answer(&buf)
}

fn dns_query(name: &str) -> Result<Vec<u8>, ClientError> {
    use airlock_dns::proto::op::{Message, Query};
    use airlock_dns::proto::rr::{Name, RecordType};
    let bad = |e: &dyn std::fmt::Display| ClientError::Socks(format!("DNS: {e}"));
    let mut msg = Message::query();
    let mut qname = Name::from_ascii(name).map_err(|e| bad(&e))?;
    qname.set_fqdn(true);
    msg.add_query(Query::query(qname, RecordType::A));
    msg.metadata.recursion_desired = true;
    msg.to_vec().map_err(|e| bad(&e))
}

fn dns_answer(
    bytes: &[u8],
) -> Result<
    (
        airlock_dns::proto::op::ResponseCode,
        Vec<std::net::Ipv4Addr>,
    ),
    ClientError,
> {
    use airlock_dns::proto::op::Message;
    use airlock_dns::proto::rr::RData;
    let msg = Message::from_vec(bytes).map_err(|e| ClientError::Socks(format!("DNS: {e}")))?;
    let ips = msg
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect();
    Ok((msg.metadata.response_code, ips))
}
