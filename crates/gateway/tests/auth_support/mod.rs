//! A gateway on 127.0.0.1:0 in front of an echo backend (through a tunnel stub), an HTTPS
//! client for it, and small loopback servers standing in for OIDC issuers and authorizers.
#![allow(clippy::unwrap_used, dead_code)]

use airlock_gateway::{self as gw, Authorization};
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";
pub const API_ID: &str = "a1b2c3d4e5";

pub fn host() -> String {
    format!("{API_ID}.execute-api.{REGION}.amazonaws.com")
}

/// One CA per test binary run, in a temporary directory.
pub struct Pki {
    pub ca: airlock_pki::Ca,
    _dir: tempfile::TempDir,
}

pub fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    Pki {
        ca: airlock_pki::Ca::load_or_create(dir.path()).unwrap(),
        _dir: dir,
    }
}

/// A tunnel that ignores the private address and dials the echo backend.
struct LoopTunnel(SocketAddr);

impl gw::Tunnel for LoopTunnel {
    fn open(
        &self,
        _dest: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<gw::BoxIo>> + Send>> {
        let addr = self.0;
        Box::pin(async move {
            let s = TcpStream::connect(addr).await?;
            Ok(Box::new(s) as gw::BoxIo)
        })
    }
}

/// Serves `handler` over plain HTTP/1.1 on 127.0.0.1:0 until the token is cancelled.
pub async fn serve_http<F, Fut>(handler: F, shutdown: CancellationToken) -> SocketAddr
where
    F: Fn(Request<Bytes>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    serve(handler, None, shutdown).await
}

/// Serves `handler` over HTTPS with `leaf` on 127.0.0.1:0.
pub async fn serve<F, Fut>(
    handler: F,
    leaf: Option<airlock_pki::Leaf>,
    shutdown: CancellationToken,
) -> SocketAddr
where
    F: Fn(Request<Bytes>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = leaf.map(|leaf| {
        let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(leaf.cert_chain, leaf.key)
        .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
    });
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        loop {
            let (stream, _) = tokio::select! {
                r = listener.accept() => r.unwrap(),
                _ = shutdown.cancelled() => return,
            };
            let handler = handler.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let handler = handler.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await.unwrap().to_bytes();
                        Ok::<_, std::convert::Infallible>(
                            handler(Request::from_parts(parts, body)).await,
                        )
                    }
                });
                let builder = hyper::server::conn::http1::Builder::new();
                match acceptor {
                    Some(acceptor) => {
                        if let Ok(tls) = acceptor.accept(stream).await {
                            let _ = builder.serve_connection(TokioIo::new(tls), service).await;
                        }
                    }
                    None => {
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                }
            });
        }
    });
    addr
}

pub fn json_response(status: u16, body: impl Into<String>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.into())));
    *r.status_mut() = StatusCode::from_u16(status).unwrap();
    r.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    r
}

/// The echo backend: answers 200 with the method, path, headers and body it received.
async fn echo_backend(shutdown: CancellationToken) -> SocketAddr {
    serve_http(
        |req: Request<Bytes>| async move {
            let headers: HashMap<String, String> = req
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                .collect();
            let body = serde_json::json!({
                "method": req.method().as_str(),
                "path": req.uri().path(),
                "headers": headers,
                "body": String::from_utf8_lossy(req.body()),
            });
            json_response(200, body.to_string())
        },
        shutdown,
    )
    .await
}

/// A running gateway and a client for it.
pub struct Harness {
    pub addr: SocketAddr,
    pub pki: Pki,
    client: Arc<rustls::ClientConfig>,
    shutdown: CancellationToken,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The response, collected.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// Starts a gateway whose API has `routes` (route key, authorization), all to the echo backend.
pub async fn start(routes: Vec<(&str, Authorization)>) -> Harness {
    start_with_stages(routes, HashMap::new()).await
}

/// [`start`] with variables on the `$default` stage.
pub async fn start_with_stages(
    routes: Vec<(&str, Authorization)>,
    variables: HashMap<String, String>,
) -> Harness {
    start_with(routes, variables, &[]).await
}

/// Access-log lines, kept in memory.
#[derive(Default)]
pub struct Lines(pub std::sync::Mutex<Vec<String>>);

impl gw::access_log::LogSink for Lines {
    fn write_line(&self, line: &str) {
        self.0.lock().unwrap().push(line.to_owned());
    }
}

/// [`start`] with an access log in `format` on the `$default` stage.
pub async fn start_logged(
    routes: Vec<(&str, Authorization)>,
    format: &str,
) -> (Harness, Arc<Lines>) {
    let lines = Arc::new(Lines::default());
    let log = gw::access_log::AccessLogConfig {
        log_group: "auth-tests".into(),
        format: format.into(),
        sink: lines.clone(),
    };
    (
        start_full(routes, HashMap::new(), &[], Some(log)).await,
        lines,
    )
}

/// [`start`] with stage variables and request parameter mappings on the integration.
pub async fn start_with(
    routes: Vec<(&str, Authorization)>,
    variables: HashMap<String, String>,
    request_parameters: &[(&str, &str)],
) -> Harness {
    start_full(routes, variables, request_parameters, None).await
}

async fn start_full(
    routes: Vec<(&str, Authorization)>,
    variables: HashMap<String, String>,
    request_parameters: &[(&str, &str)],
    access_log: Option<gw::access_log::AccessLogConfig>,
) -> Harness {
    let shutdown = CancellationToken::new();
    let backend = echo_backend(shutdown.clone()).await;
    let pki = pki();
    let integration = Arc::new(gw::Integration {
        name: "echo".into(),
        method: None,
        timeout: Duration::from_secs(30),
        target: gw::IntegrationTarget::Private(gw::PrivateTarget {
            tunnel: Arc::new(LoopTunnel(backend)),
            destinations: vec!["10.0.1.10:80".parse().unwrap()],
            tls_server_name: None,
            tls_roots: vec![],
            host_header: "internal-pets.elb.amazonaws.com".into(),
        }),
        request_parameters: request_parameters
            .iter()
            .map(|(k, v)| gw::mapping::RequestParameter::parse(k, v).unwrap())
            .collect(),
        response_parameters: vec![],
    });
    let routes = routes
        .into_iter()
        .map(|(key, authorization)| gw::RouteConfig {
            key: key.parse().unwrap(),
            authorization,
            integration: integration.clone(),
        })
        .collect();
    let mut stage = gw::StageConfig::named("$default");
    stage.variables = variables;
    stage.access_log = access_log;
    let leaf = pki
        .ca
        .issue_server(&[format!("*.execute-api.{REGION}.amazonaws.com")])
        .unwrap();
    let gateway = gw::Gateway::new(gw::GatewayConfig {
        region: REGION.into(),
        account_id: ACCOUNT.into(),
        public_ip: "203.0.113.10".parse().unwrap(),
        apis: vec![gw::ApiConfig {
            id: API_ID.into(),
            name: "pets".into(),
            disable_execute_api_endpoint: false,
            stages: vec![stage],
            routes,
            cors: None,
        }],
        domains: vec![],
        execute_api_certificate: gw::CertifiedKeyPair {
            cert_chain: leaf.cert_chain,
            key: leaf.key,
        },
    })
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(Arc::new(gateway).serve(
        listener,
        shutdown.clone(),
        tokio_util::task::TaskTracker::new(),
    ));
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca.cert_der().clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    Harness {
        addr,
        pki,
        client: Arc::new(client),
        shutdown,
    }
}

impl Harness {
    /// Sends one request (HTTP/1.1 over TLS) with `Host` set to the API's endpoint unless
    /// `headers` sets one.
    pub async fn send(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Answer {
        let tcp = TcpStream::connect(self.addr).await.unwrap();
        let name = ServerName::try_from(host()).unwrap();
        let tls = tokio_rustls::TlsConnector::from(self.client.clone())
            .connect(name, tcp)
            .await
            .unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .unwrap();
        tokio::spawn(conn);
        let mut req = Request::builder().method(method).uri(path_and_query);
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            req = req.header("host", host());
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = sender
            .send_request(req.body(Full::new(Bytes::from(body.to_owned()))).unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        self.send("GET", path, headers, "").await
    }
}

/// Asserts one of the docs/aws-rules.md §HTTP-12 catalogue rows: status, exact body, JSON content type, request id.
pub fn assert_refusal(a: &Answer, status: u16, message: &str) {
    assert_eq!(a.status, status, "body: {}", a.body);
    assert_eq!(a.body, format!("{{\"message\":\"{message}\"}}"));
    assert_eq!(a.headers["content-type"], "application/json");
    assert!(a.headers.contains_key("apigw-requestid"));
}
