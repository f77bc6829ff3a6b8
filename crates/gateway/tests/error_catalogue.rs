//! docs/aws-rules.md §HTTP-12: every gateway-generated response has the catalogue's exact status,
//! body, content type and headers, over HTTP/1.1 and HTTP/2. One table, one row per situation
//! reachable without external services (Lambda and IAM rows live in auth_lambda.rs and
//! auth_iam.rs).
//!
//! docs/aws-rules.md §HTTP-12's last line: all rows carry `content-type: application/json` (except the preflight),
//! `apigw-requestid`, `date` and `content-length`. The 204 preflight carries no
//! `content-length`: RFC 9110 §8.6 forbids it on a 204.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod gw_support;

use airlock_gateway::auth::keys::KeyStore;
use airlock_gateway::cors::CorsConfig;
use airlock_gateway::jwt::{Jwks, JwtValidator};
use airlock_gateway::{Authorization, IdentitySource, JwtAuthorizer, RouteSettings};
use airlock_pki::{Issuer, TokenRequest};
use bytes::Bytes;
use gw_support::*;
use http::Request;
use http_body_util::{BodyExt, StreamBody};
use std::sync::Arc;
use std::time::Duration;

const AUD: &str = "pets-client";

/// What one row sends.
struct Send {
    host: String,
    method: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    /// Declare this length and never send the body (the refusal must come first).
    declared_length: Option<u64>,
}

/// What the row's answer must be.
struct Expect {
    status: u16,
    /// `None`: the empty body of the preflight.
    message: Option<&'static str>,
    /// Exact extra headers; `www-authenticate` must be absent unless listed.
    extra: Vec<(&'static str, String)>,
}

fn jwt(keys: &Arc<KeyStore>, issuer: &str, scopes: &[&str]) -> Authorization {
    Authorization::Jwt {
        authorizer: Arc::new(JwtAuthorizer {
            name: "jwt".into(),
            identity_source: IdentitySource::Header(http::header::AUTHORIZATION),
            validator: JwtValidator::new(issuer, vec![AUD.into()], Arc::new(Jwks::default())),
            keys: keys.clone(),
        }),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// A body that never produces a frame (the sender is kept by the caller).
fn pending_body() -> (tokio::sync::mpsc::Sender<()>, ReqBody) {
    let (tx, rx) = tokio::sync::mpsc::channel::<()>(1);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await?;
        Some((
            Ok::<_, std::convert::Infallible>(http_body::Frame::data(Bytes::new())),
            rx,
        ))
    });
    (tx, StreamBody::new(stream).boxed())
}

fn is_imf_fixdate(s: &str) -> bool {
    // `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 §5.6.7).
    let b = s.as_bytes();
    s.len() == 29 && s.ends_with(" GMT") && b[3] == b',' && b[19] == b':' && b[22] == b':'
}

#[tokio::test]
async fn every_catalogue_row_has_the_exact_status_body_and_headers() {
    let be = backend().await;
    let closed = closed_port().await;
    let pki = Pki::new();
    let issuer = Issuer::generate("https://issuer.airlock.local").unwrap();
    let keys = Arc::new(KeyStore::fixed(
        issuer.issuer(),
        Jwks::from_json(&issuer.jwks_json()).unwrap(),
    ));

    let ok = Arc::new(url_integration(format!("http://{be}/"), vec![]));
    let mut slow = url_integration(format!("http://{be}/hang"), vec![]);
    slow.timeout = Duration::from_millis(50); // the docs/aws-rules.md §HTTP-4.4 minimum
    let slow = Arc::new(slow);
    let refused = Arc::new(url_integration(format!("http://{closed}/"), vec![]));

    let mut main = api(
        "catalog001",
        &["$default"],
        vec![
            route("GET /open", Authorization::None, &ok),
            route("POST /upload", Authorization::None, &ok),
            route("GET /jwt", jwt(&keys, issuer.issuer(), &[]), &ok),
            route(
                "POST /jwt",
                jwt(&keys, issuer.issuer(), &["pets/write"]),
                &ok,
            ),
            route("GET /throttled", Authorization::None, &ok),
            route("GET /slow", Authorization::None, &slow),
            route("GET /refused", Authorization::None, &refused),
        ],
    );
    // docs/aws-rules.md §HTTP-3.3: 0/0 refuses everything on the route.
    main.stages[0].route_settings.insert(
        "GET /throttled".into(),
        RouteSettings {
            throttling_burst_limit: Some(0),
            throttling_rate_limit: Some(0.0),
        },
    );
    main.cors = Some(CorsConfig {
        allow_origins: vec!["https://app.example.com".into()],
        allow_methods: vec!["GET".into(), "POST".into()],
        ..CorsConfig::default()
    });
    let staged = api(
        "staged0001",
        &["dev"],
        vec![route("GET /open", Authorization::None, &ok)],
    );
    let mut disabled = api(
        "disabled01",
        &["$default"],
        vec![route("GET /open", Authorization::None, &ok)],
    );
    disabled.disable_execute_api_endpoint = true;
    let gw = start(pki, vec![main, staged, disabled], vec![]).await;

    let host = exec_host("catalog001");
    let mut reader = TokenRequest::new("alice", AUD);
    reader.scopes = vec!["pets/read".into()];
    let reader = format!("Bearer {}", issuer.mint(&reader).unwrap());
    let get = |host: &str, path: &'static str, headers: Vec<(&'static str, String)>| Send {
        host: host.to_owned(),
        method: "GET",
        path,
        headers,
        declared_length: None,
    };
    let refusal = |status, message| Expect {
        status,
        message: Some(message),
        extra: vec![],
    };

    let rows: Vec<(&str, Send, Expect)> = vec![
        (
            "docs/aws-rules.md §HTTP-2.7 no route",
            get(&host, "/nothing", vec![]),
            refusal(404, "Not Found"),
        ),
        (
            "docs/aws-rules.md §HTTP-2.2 no stage",
            get(&exec_host("staged0001"), "/prod/open", vec![]),
            refusal(404, "Not Found"),
        ),
        (
            "docs/aws-rules.md §HTTP-6.3 default endpoint disabled",
            get(&exec_host("disabled01"), "/open", vec![]),
            refusal(404, "Not Found"),
        ),
        (
            "docs/aws-rules.md §HTTP-5.1 JWT missing",
            get(&host, "/jwt", vec![]),
            Expect {
                extra: vec![("www-authenticate", "Bearer".into())],
                ..refusal(401, "Unauthorized")
            },
        ),
        (
            "docs/aws-rules.md §HTTP-5.1 JWT invalid",
            get(&host, "/jwt", vec![("authorization", "Bearer a.b".into())]),
            Expect {
                extra: vec![(
                    "www-authenticate",
                    "Bearer scope=\"\" error=\"invalid_token\" error_description=\"token contains an invalid number of segments\"".into(),
                )],
                ..refusal(401, "Unauthorized")
            },
        ),
        (
            "docs/aws-rules.md §HTTP-5.1 JWT scope mismatch",
            Send {
                method: "POST",
                ..get(&host, "/jwt", vec![("authorization", reader.clone())])
            },
            Expect {
                extra: vec![(
                    "www-authenticate",
                    "Bearer scope=\"pets/write\" error=\"insufficient_scope\" error_description=\"expected scopes: [pets/write]\"".into(),
                )],
                ..refusal(403, "Forbidden")
            },
        ),
        (
            "docs/aws-rules.md §HTTP-3.3 throttled",
            get(&host, "/throttled", vec![]),
            refusal(429, "Too Many Requests"),
        ),
        (
            "docs/aws-rules.md §HTTP-4.4 integration timeout",
            get(&host, "/slow", vec![]),
            refusal(503, "Service Unavailable"),
        ),
        (
            "docs/aws-rules.md §HTTP-4.5 connection failure",
            get(&host, "/refused", vec![]),
            refusal(500, "Internal Server Error"),
        ),
        (
            "docs/aws-rules.md §HTTP-8 payload over 10 MB",
            Send {
                method: "POST",
                declared_length: Some(10 * 1024 * 1024 + 1),
                ..get(&host, "/upload", vec![])
            },
            refusal(413, "Request Entity Too Large"),
        ),
        (
            "docs/aws-rules.md §HTTP-2.8 CORS preflight",
            Send {
                method: "OPTIONS",
                ..get(
                    &host,
                    "/open",
                    vec![
                        ("origin", "https://app.example.com".into()),
                        ("access-control-request-method", "GET".into()),
                    ],
                )
            },
            Expect {
                status: 204,
                message: None,
                extra: vec![
                    ("access-control-allow-origin", "https://app.example.com".into()),
                    ("access-control-allow-methods", "GET,POST".into()),
                ],
            },
        ),
    ];

    for h2 in [false, true] {
        for (name, send, expect) in &rows {
            let mut b = Request::builder().method(send.method).uri(send.path);
            for (k, v) in &send.headers {
                b = b.header(*k, v);
            }
            let mut _keep = None;
            let body = match send.declared_length {
                Some(len) => {
                    b = b.header("content-length", len);
                    let (tx, body) = pending_body();
                    _keep = Some(tx);
                    body
                }
                None => empty(),
            };
            let r = gw.send(&send.host, b.body(body).unwrap(), h2).await;
            let row = format!("{name} (h2: {h2})");
            assert_eq!(r.status.as_u16(), expect.status, "{row}: {}", r.text());
            let id = r.header("apigw-requestid").unwrap_or_default();
            assert!(
                id.len() == 16 && id.ends_with('='),
                "{row}: request id {id:?}"
            );
            let date = r.header("date").unwrap_or_default();
            assert!(is_imf_fixdate(date), "{row}: date {date:?}");
            match expect.message {
                Some(message) => {
                    let body = format!("{{\"message\":\"{message}\"}}");
                    assert_eq!(r.text(), body, "{row}");
                    assert_eq!(r.header("content-type"), Some("application/json"), "{row}");
                    assert_eq!(
                        r.header("content-length"),
                        Some(body.len().to_string().as_str()),
                        "{row}"
                    );
                }
                None => {
                    assert!(r.body.is_empty(), "{row}");
                    assert_eq!(r.header("content-type"), None, "{row}");
                    assert_eq!(r.header("content-length"), None, "{row}");
                }
            }
            for (k, v) in &expect.extra {
                assert_eq!(r.header(k), Some(v.as_str()), "{row}: {k}");
            }
            if !expect.extra.iter().any(|(k, _)| *k == "www-authenticate") {
                assert_eq!(r.header("www-authenticate"), None, "{row}");
            }
        }
    }
}
