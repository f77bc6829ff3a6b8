//! TLS at both ends of the gateway, through real sockets: `https://` URL integrations verified
//! against airlock's CA (docs/aws-rules.md §HTTP-4.2, §HTTP-4.5), and custom domains served with TLS 1.2
//! as the minimum (docs/aws-rules.md §HTTP-6.1).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod gw_support;

use airlock_gateway::{ApiMapping, Authorization};
use bytes::Bytes;
use gw_support::*;
use http::Request;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An HTTPS backend on 127.0.0.1:0 presenting a certificate for `names`, answering
/// `{"path":…,"host":…}`.
async fn https_backend(pki: &Pki, names: &[&str]) -> SocketAddr {
    let pair = pki.pair(names);
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(pair.cert_chain, pair.key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake: nothing to serve.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(|req: Request<Incoming>| async move {
                    let json = serde_json::json!({
                        "path": req.uri().path(),
                        "host": req.headers().get("host").and_then(|v| v.to_str().ok()),
                    });
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from(
                        json.to_string(),
                    ))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    addr
}

/// docs/aws-rules.md §HTTP-4.2: an `INTERNET` integration to an `https://` URL is called over TLS, the backend's
/// certificate verified against the roots the stack hands in (airlock's CA). docs/aws-rules.md §HTTP-4.5: a
/// certificate for another name, or one from an untrusted CA, is a TLS failure: 500.
#[tokio::test]
async fn https_url_integrations_are_verified_against_airlocks_ca() {
    let pki = Pki::new();
    let good = https_backend(&pki, &["localhost"]).await;
    let wrong_name = https_backend(&pki, &["other.example.com"]).await;
    let other_ca = Pki::new();
    let untrusted = https_backend(&other_ca, &["localhost"]).await;
    let ca = pki.ca_der();
    let integration = |url: String| Arc::new(url_integration(url, vec![ca.clone()]));
    let a = api(
        "tlsapi0001",
        &["$default"],
        vec![
            route(
                "GET /good/{proxy+}",
                Authorization::None,
                &integration(format!("https://localhost:{}/tls/{{proxy}}", good.port())),
            ),
            route(
                "GET /wrong-name",
                Authorization::None,
                &integration(format!("https://localhost:{}/", wrong_name.port())),
            ),
            route(
                "GET /untrusted",
                Authorization::None,
                &integration(format!("https://localhost:{}/", untrusted.port())),
            ),
        ],
    );
    let gw = start(pki, vec![a], vec![]).await;
    let host = exec_host("tlsapi0001");

    let r = gw.get(&host, "/good/a/b").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["path"], "/tls/a/b");
    assert_eq!(
        r.json()["host"],
        format!("localhost:{}", good.port()),
        "docs/aws-rules.md §HTTP-4.7: Host is the URL's authority"
    );

    for path in ["/wrong-name", "/untrusted"] {
        let r = gw.get(&host, path).await;
        assert_eq!(r.status, 500, "{path}: {}", r.text());
        assert_eq!(r.text(), r#"{"message":"Internal Server Error"}"#, "{path}");
    }
}

/// A TLS ClientHello offering at most `version` (0x0301 = TLS 1.0, 0x0302 = TLS 1.1) and no
/// `supported_versions` extension, as an old client sends it; rustls cannot build one.
fn legacy_client_hello(version: u16, sni: &str) -> Vec<u8> {
    let mut sni_ext = Vec::new();
    let name = sni.as_bytes();
    sni_ext.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes()); // server_name_list
    sni_ext.push(0); // host_name
    sni_ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sni_ext.extend_from_slice(name);
    let mut extensions = Vec::new();
    extensions.extend_from_slice(&[0x00, 0x00]); // server_name
    extensions.extend_from_slice(&(sni_ext.len() as u16).to_be_bytes());
    extensions.extend_from_slice(&sni_ext);
    // Groups x25519 and secp256r1, uncompressed points, and RSA-PSS / ECDSA / PKCS#1 SHA-256
    // signatures: everything a TLS 1.2 server could accept, so the version alone is at fault.
    extensions.extend_from_slice(&[0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x00, 0x1d, 0x00, 0x17]);
    extensions.extend_from_slice(&[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]);
    extensions.extend_from_slice(&[
        0x00, 0x0d, 0x00, 0x08, 0x00, 0x06, 0x08, 0x04, 0x04, 0x03, 0x04, 0x01,
    ]);

    let mut hello = Vec::new();
    hello.extend_from_slice(&version.to_be_bytes());
    hello.extend_from_slice(&[7u8; 32]); // random
    hello.push(0); // session id
    // TLS_ECDHE_ECDSA/RSA_WITH_AES_128_GCM_SHA256 (suites rustls serves with TLS 1.2),
    // TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, TLS_RSA_WITH_AES_128_CBC_SHA (what TLS 1.0 clients
    // offer).
    hello.extend_from_slice(&[0x00, 0x08, 0xc0, 0x2b, 0xc0, 0x2f, 0xc0, 0x13, 0x00, 0x2f]);
    hello.extend_from_slice(&[0x01, 0x00]); // null compression
    hello.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    hello.extend_from_slice(&extensions);

    let mut handshake = vec![0x01]; // client_hello
    handshake.extend_from_slice(&(hello.len() as u32).to_be_bytes()[1..]);
    handshake.extend_from_slice(&hello);
    let mut record = vec![0x16, 0x03, 0x01]; // handshake record, TLS 1.0 record version
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

/// docs/aws-rules.md §HTTP-6.1: custom domains use TLS 1.2 as the minimum. A client limited to TLS 1.2 is served
/// (with the domain's own certificate, picked by SNI), with the policy's cipher order; a TLS 1.0 or 1.1 ClientHello is refused
/// with a fatal `protocol_version` alert. rustls cannot build a client below 1.2, so the
/// older hellos are written by hand.
#[tokio::test]
async fn custom_domains_accept_tls_1_2_and_refuse_older_versions() {
    let be = backend().await;
    let ok = Arc::new(url_integration(format!("http://{be}/"), vec![]));
    let a = api(
        "domains001",
        &["$default"],
        vec![route("GET /pets", Authorization::None, &ok)],
    );
    let domain = "api.example.com";
    let gw = start(
        Pki::new(),
        vec![a],
        vec![(
            domain,
            vec![ApiMapping {
                key: String::new(),
                api_id: "domains001".into(),
                stage: "$default".into(),
            }],
        )],
    )
    .await;

    let cfg = client_config(gw.pki.ca_der(), &[b"http/1.1"], &[&rustls::version::TLS12]);
    let tcp = TcpStream::connect(gw.addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(rustls_pki_types::ServerName::try_from(domain).unwrap(), tcp)
        .await
        .expect("a TLS 1.2 client is served");
    assert_eq!(
        tls.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    // The client (rustls' default order) prefers AES-256-GCM; the `TLS_1_2` policy's server
    // order picks AES-128-GCM (docs/aws-fidelity.md, "TLS cipher suite order").
    let suite = tls.get_ref().1.negotiated_cipher_suite().map(|s| s.suite());
    assert!(
        format!("{suite:?}").contains("AES_128_GCM"),
        "TLS 1.2: {suite:?}"
    );
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let resp = send
        .send_request(
            Request::get("/pets")
                .header("host", domain)
                .body(empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let cfg = client_config(gw.pki.ca_der(), &[b"http/1.1"], &[&rustls::version::TLS13]);
    let tcp = TcpStream::connect(gw.addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(rustls_pki_types::ServerName::try_from(domain).unwrap(), tcp)
        .await
        .expect("a TLS 1.3 client is served");
    assert_eq!(
        tls.get_ref().1.negotiated_cipher_suite().map(|s| s.suite()),
        Some(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256),
        "TLS 1.3: the server's order wins over the client's"
    );

    for (version, name) in [(0x0301u16, "TLS 1.0"), (0x0302, "TLS 1.1")] {
        let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
        tcp.write_all(&legacy_client_hello(version, domain))
            .await
            .unwrap();
        let mut answer = [0u8; 7];
        tcp.read_exact(&mut answer).await.unwrap();
        assert_eq!(
            answer[0], 0x15,
            "{name}: an alert record, not a ServerHello"
        );
        assert_eq!(&answer[3..5], &[0, 2], "{name}: one alert");
        assert_eq!(answer[5], 2, "{name}: fatal");
        assert_eq!(answer[6], 70, "{name}: protocol_version");
    }
}
