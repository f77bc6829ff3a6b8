//! A gateway on 127.0.0.1:0 built from a few lines of config, loopback backends, and TLS
//! clients (HTTP/1.1, HTTP/2, raw bytes) for it. Shared by the error-catalogue, TLS and
//! malformed-request tests.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use airlock_gateway::{
    ApiConfig, ApiMapping, Authorization, CertifiedKeyPair, DomainConfig, Gateway, GatewayConfig,
    HttpTarget, Integration, IntegrationTarget, RouteConfig, StageConfig,
};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub const REGION: &str = "us-east-1";

/// The execute-api host of `api_id`.
pub fn exec_host(api_id: &str) -> String {
    format!("{api_id}.execute-api.{REGION}.amazonaws.com")
}

/// A fresh CA in a temporary directory (kept as long as the value).
pub struct Pki {
    pub ca: airlock_pki::Ca,
    _dir: tempfile::TempDir,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        Pki {
            ca: airlock_pki::Ca::load_or_create(dir.path()).unwrap(),
            _dir: dir,
        }
    }

    pub fn pair(&self, names: &[&str]) -> CertifiedKeyPair {
        let leaf = self
            .ca
            .issue_server(&names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .unwrap();
        CertifiedKeyPair {
            cert_chain: leaf.cert_chain,
            key: leaf.key,
        }
    }

    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.ca.cert_der().clone()
    }
}

/// An `INTERNET` integration to `uri`, trusting `roots` for `https`.
pub fn url_integration(uri: String, roots: Vec<CertificateDer<'static>>) -> Integration {
    Integration {
        name: "backend".into(),
        method: None,
        timeout: Duration::from_secs(30),
        target: IntegrationTarget::Http(HttpTarget {
            uri,
            tls_roots: roots,
        }),
        request_parameters: Vec::new(),
        response_parameters: Vec::new(),
    }
}

pub fn route(k: &str, authorization: Authorization, integration: &Arc<Integration>) -> RouteConfig {
    RouteConfig {
        key: k.parse().unwrap(),
        authorization,
        integration: integration.clone(),
    }
}

pub fn api(id: &str, stages: &[&str], routes: Vec<RouteConfig>) -> ApiConfig {
    ApiConfig {
        id: id.into(),
        name: id.into(),
        disable_execute_api_endpoint: false,
        stages: stages.iter().map(|s| StageConfig::named(*s)).collect(),
        routes,
        cors: None,
    }
}

/// A running gateway.
pub struct Gw {
    pub addr: SocketAddr,
    pub pki: Pki,
    shutdown: CancellationToken,
}

impl Drop for Gw {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts a gateway serving `apis` and custom `domains` (name, mappings), each domain with its
/// own certificate from `pki`.
pub async fn start(pki: Pki, apis: Vec<ApiConfig>, domains: Vec<(&str, Vec<ApiMapping>)>) -> Gw {
    let domains = domains
        .into_iter()
        .map(|(name, mappings)| DomainConfig {
            domain_name: name.into(),
            certificate: pki.pair(&[name]),
            mappings,
        })
        .collect();
    let gw = Gateway::new(GatewayConfig {
        region: REGION.into(),
        account_id: "000000000000".into(),
        public_ip: "198.51.100.10".parse().unwrap(),
        apis,
        domains,
        execute_api_certificate: pki.pair(&[&format!("*.execute-api.{REGION}.amazonaws.com")]),
    })
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(Arc::new(gw).serve(listener, shutdown.clone(), TaskTracker::new()));
    Gw {
        addr,
        pki,
        shutdown,
    }
}

/// A client trusting `ca`, offering `alpn`, limited to `versions`.
pub fn client_config(
    ca: CertificateDer<'static>,
    alpn: &[&[u8]],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).unwrap();
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    cfg
}

pub type ReqBody = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

pub fn empty() -> ReqBody {
    Full::new(Bytes::new()).boxed()
}

/// A collected response.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    pub version: http::Version,
}

impl Reply {
    pub fn header(&self, n: &str) -> Option<&str> {
        self.headers.get(n).map(|v| v.to_str().unwrap())
    }
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| panic!("not JSON: {:?}", self.text()))
    }
}

impl Gw {
    /// A TLS connection to the gateway with SNI `host`.
    pub async fn tls(
        &self,
        host: &str,
        alpn: &[&[u8]],
    ) -> tokio_rustls::client::TlsStream<TcpStream> {
        let cfg = client_config(self.pki.ca_der(), alpn, rustls::DEFAULT_VERSIONS);
        let tcp = TcpStream::connect(self.addr).await.unwrap();
        tokio_rustls::TlsConnector::from(Arc::new(cfg))
            .connect(ServerName::try_from(host.to_owned()).unwrap(), tcp)
            .await
            .unwrap()
    }

    /// Sends `req` to `host` over HTTP/1.1 (`Host` set) or HTTP/2 (`:authority` set).
    pub async fn send(&self, host: &str, req: Request<ReqBody>, h2: bool) -> Reply {
        let alpn: &[&[u8]] = if h2 { &[b"h2"] } else { &[b"http/1.1"] };
        let tls = self.tls(host, alpn).await;
        let (mut parts, body) = req.into_parts();
        let resp = if h2 {
            let (mut send, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                    .await
                    .unwrap();
            tokio::spawn(conn);
            parts.uri = format!("https://{host}{}", parts.uri).parse().unwrap();
            send.send_request(Request::from_parts(parts, body))
                .await
                .unwrap()
        } else {
            let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .unwrap();
            tokio::spawn(conn);
            parts
                .headers
                .insert(http::header::HOST, host.parse().unwrap());
            send.send_request(Request::from_parts(parts, body))
                .await
                .unwrap()
        };
        let version = resp.version();
        let (parts, body) = resp.into_parts();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.unwrap().to_bytes(),
            version,
        }
    }

    pub async fn get(&self, host: &str, path: &str) -> Reply {
        self.send(host, Request::get(path).body(empty()).unwrap(), false)
            .await
    }
}

/// A loopback HTTP/1.1 backend answering `{"path":…}`; `/hang` never answers.
pub async fn backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|req: Request<Incoming>| async move {
                    if req.uri().path().ends_with("/hang") {
                        std::future::pending::<()>().await;
                    }
                    let json = serde_json::json!({ "path": req.uri().path() });
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from(
                        json.to_string(),
                    ))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// A loopback address nothing listens on.
pub async fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}
