//! Helpers shared by the end-to-end tests: an HTTPS client that trusts a stack's CA and sends
//! the SNI of the name it calls, as curl with `--resolve` would.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use airlock_stack::RunningStack;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls_pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;

/// The default stack's custom domain.
pub const DOMAIN: &str = "private-integration.example.com";

/// A response, fully read.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("utf-8 body")
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
            .to_str()
            .unwrap()
    }
}

pub fn tls_config(
    ca: CertificateDer<'static>,
    client: Option<&airlock_pki::Leaf>,
) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    match client {
        Some(leaf) => builder
            .with_client_auth_cert(leaf.cert_chain.clone(), leaf.key.clone_key())
            .unwrap(),
        None => builder.with_no_client_auth(),
    }
}

/// Sends one HTTP/1.1 request over TLS to `addr`, with SNI and Host `host`.
pub async fn https(
    addr: SocketAddr,
    ca: CertificateDer<'static>,
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls_config(ca, None)));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = connector
        .connect(ServerName::try_from(host.to_owned()).unwrap(), tcp)
        .await
        .expect("TLS handshake with the gateway");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", format!("{host}:{}", addr.port()));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(Bytes::from(body.to_owned()))).unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body,
    }
}

/// A GET to the stack's gateway under the default custom domain.
pub async fn get(stack: &RunningStack, path: &str, token: Option<&str>) -> Reply {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("authorization", a)])
        .unwrap_or_default();
    https(
        stack.endpoints().gateway,
        stack.ca_der(),
        DOMAIN,
        "GET",
        path,
        &headers,
        "",
    )
    .await
}
