//! One-shot HTTP(S) requests to loopback addresses: OIDC discovery, JWKS downloads and HTTP
//! Lambda authorizers.
//!
//! Only loopback destinations can be expressed: a [`LoopbackUrl`] refuses any other host when it
//! is parsed, so a stack file (or a discovery document naming a `jwks_uri`) can never make airlock
//! dial the network. Every request has a deadline covering connect, TLS, headers and body, and a
//! cap on the body size, as API Gateway's quotas impose on key fetches (docs/aws-rules.md §HTTP-8).

use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use rustls_pki_types::{CertificateDer, ServerName};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

/// Why a URL was refused before anything was dialed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not an absolute `http://` or `https://` URL.
    #[error("{0:?} is not an absolute http:// or https:// URL")]
    NotHttp(String),
    /// The host is not a loopback address.
    #[error(
        "{0:?} is not on a loopback address; airlock only dials 127.0.0.0/8, ::1 or localhost \
         (serve the endpoint locally, or give the keys as a jwks_file)"
    )]
    NotLoopback(String),
}

/// Why a request to a loopback endpoint failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL (for example a `jwks_uri` from a discovery document) was refused.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// The TCP connection failed.
    #[error("connecting to {addr}: {source}")]
    Connect {
        /// Where.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TLS handshake failed (untrusted certificate, wrong name...).
    #[error("TLS with {host}: {source}")]
    Tls {
        /// The name verified.
        host: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// HTTP failed on the wire.
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    /// The answer was not a 2xx.
    #[error("the endpoint answered {0}")]
    Status(StatusCode),
    /// The body exceeded the size limit.
    #[error("the response is larger than {0} bytes")]
    TooLarge(usize),
    /// The whole exchange exceeded the deadline.
    #[error("no complete response within {0:?}")]
    Timeout(Duration),
}

/// An `http://` or `https://` URL whose host is a loopback address.
#[derive(Clone, PartialEq, Eq)]
pub struct LoopbackUrl {
    tls: bool,
    host: String,
    addr: SocketAddr,
    path_and_query: String,
    text: String,
}

impl fmt::Debug for LoopbackUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Display for LoopbackUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl LoopbackUrl {
    /// Parses `url`, refusing anything but a loopback host. `localhost` is dialed as 127.0.0.1.
    pub fn parse(url: &str) -> Result<LoopbackUrl, UrlError> {
        let not_http = || UrlError::NotHttp(url.to_owned());
        let uri: Uri = url.parse().map_err(|_| not_http())?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(not_http()),
        };
        let host = uri.host().ok_or_else(not_http)?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let ip = if bare.eq_ignore_ascii_case("localhost") {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            match bare.parse::<IpAddr>() {
                Ok(ip) if ip.is_loopback() => ip,
                _ => return Err(UrlError::NotLoopback(url.to_owned())),
            }
        };
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(LoopbackUrl {
            tls,
            host: bare.to_owned(),
            addr: SocketAddr::new(ip, port),
            path_and_query: uri
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
            text: url.to_owned(),
        })
    }

    /// The URL as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The socket address dialed.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Makes requests to loopback URLs, trusting the given roots for `https://`.
#[derive(Clone)]
pub struct Fetcher {
    tls: Arc<rustls::ClientConfig>,
}

impl fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fetcher").finish_non_exhaustive()
    }
}

impl Fetcher {
    /// A fetcher trusting `roots` (airlock's CA, plus any CA bundle a stack names). Roots rustls
    /// cannot parse are skipped with a warning: a bad bundle must not hide the good ones.
    pub fn new(roots: &[CertificateDer<'static>]) -> Fetcher {
        let mut store = rustls::RootCertStore::empty();
        for root in roots {
            if let Err(e) = store.add(root.clone()) {
                tracing::warn!(error = %e, "a CA certificate was refused and is not trusted");
            }
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(store).with_no_client_auth());
        let config = match config {
            Ok(c) => c,
            // The ring provider supports the default versions; this arm is unreachable in
            // practice, and an empty-root config would only fail every handshake.
            Err(_) => rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        };
        Fetcher {
            tls: Arc::new(config),
        }
    }

    /// `GET url`, returning the body of a 2xx answer.
    pub async fn get(
        &self,
        url: &LoopbackUrl,
        timeout: Duration,
        limit: usize,
    ) -> Result<Bytes, FetchError> {
        self.send(Method::GET, url, None, timeout, limit).await
    }

    /// `POST url` with a JSON body, returning the body of a 2xx answer.
    pub async fn post_json(
        &self,
        url: &LoopbackUrl,
        body: Bytes,
        timeout: Duration,
        limit: usize,
    ) -> Result<Bytes, FetchError> {
        self.send(Method::POST, url, Some(body), timeout, limit)
            .await
    }

    async fn send(
        &self,
        method: Method,
        url: &LoopbackUrl,
        body: Option<Bytes>,
        timeout: Duration,
        limit: usize,
    ) -> Result<Bytes, FetchError> {
        tokio::time::timeout(timeout, self.exchange(method, url, body, limit))
            .await
            .map_err(|_| FetchError::Timeout(timeout))?
    }

    async fn exchange(
        &self,
        method: Method,
        url: &LoopbackUrl,
        body: Option<Bytes>,
        limit: usize,
    ) -> Result<Bytes, FetchError> {
        let tcp = TcpStream::connect(url.addr)
            .await
            .map_err(|source| FetchError::Connect {
                addr: url.addr,
                source,
            })?;
        let _ = tcp.set_nodelay(true);
        let host_header = match url.addr.port() {
            443 if url.tls => url.host.clone(),
            80 if !url.tls => url.host.clone(),
            port if url.host.contains(':') => format!("[{}]:{port}", url.host),
            port => format!("{}:{port}", url.host),
        };
        let mut builder = Request::builder()
            .method(method)
            .uri(url.path_and_query.as_str())
            .header(header::HOST, host_header)
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, "airlock-apigateway");
        if body.is_some() {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        let req = builder
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|_| UrlError::NotHttp(url.text.clone()))?;
        if url.tls {
            let name = ServerName::try_from(url.host.clone()).map_err(|e| FetchError::Tls {
                host: url.host.clone(),
                source: std::io::Error::other(e),
            })?;
            let stream = tokio_rustls::TlsConnector::from(self.tls.clone())
                .connect(name, tcp)
                .await
                .map_err(|source| FetchError::Tls {
                    host: url.host.clone(),
                    source,
                })?;
            round_trip(TokioIo::new(stream), req, limit).await
        } else {
            round_trip(TokioIo::new(tcp), req, limit).await
        }
    }
}

async fn round_trip<T>(io: T, req: Request<Full<Bytes>>, limit: usize) -> Result<Bytes, FetchError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(async move {
        // The connection ends with the exchange; its error, if any, surfaces on the response.
        let _ = conn.await;
    });
    let resp = sender.send_request(req).await?;
    if !resp.status().is_success() {
        return Err(FetchError::Status(resp.status()));
    }
    let too_large = resp
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|len| len > limit as u64);
    if too_large {
        return Err(FetchError::TooLarge(limit));
    }
    match Limited::new(resp.into_body(), limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => match e.downcast::<hyper::Error>() {
            Ok(e) => Err(FetchError::Http(*e)),
            Err(_) => Err(FetchError::TooLarge(limit)),
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_loopback_hosts_parse() {
        let u = LoopbackUrl::parse("https://127.0.0.1:8443/.well-known/jwks.json?x=1").unwrap();
        assert_eq!(u.addr(), "127.0.0.1:8443".parse().unwrap());
        assert_eq!(u.path_and_query, "/.well-known/jwks.json?x=1");
        assert!(u.tls);
        let u = LoopbackUrl::parse("http://localhost/auth").unwrap();
        assert_eq!(u.addr(), "127.0.0.1:80".parse().unwrap());
        let u = LoopbackUrl::parse("http://[::1]:9000").unwrap();
        assert_eq!(u.addr(), "[::1]:9000".parse().unwrap());
        assert_eq!(u.path_and_query, "/");
        for bad in [
            "https://cognito-idp.us-east-1.amazonaws.com/pool",
            "https://10.0.1.5/",
            "http://192.168.1.1:80/",
        ] {
            assert!(
                matches!(LoopbackUrl::parse(bad), Err(UrlError::NotLoopback(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            LoopbackUrl::parse("ftp://127.0.0.1/"),
            Err(UrlError::NotHttp(_))
        ));
        let msg = LoopbackUrl::parse("https://example.com/")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("loopback") && msg.contains("jwks_file"),
            "{msg}"
        );
    }
}
