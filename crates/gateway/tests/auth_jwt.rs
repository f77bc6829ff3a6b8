//! JWT authorizers through real sockets: the docs/aws-rules.md §HTTP-12 catalogue rows, and keys found the way API
//! Gateway finds them (docs/aws-rules.md §HTTP-5.1 step 3): OIDC discovery over HTTPS on loopback,
//! caching, refetch on an unknown `kid` (rate limited), size and time limits, trust.
#![allow(clippy::unwrap_used)]

mod auth_support;

use airlock_gateway::auth::keys::KeyStore;
use airlock_gateway::jwt::{Jwks, JwtValidator};
use airlock_gateway::{Authorization, IdentitySource, JwtAuthorizer};
use airlock_pki::{Issuer, TokenRequest};
use auth_support::*;
use bytes::Bytes;
use http::Request;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const AUD: &str = "pets-client";

fn jwt_route(keys: Arc<KeyStore>, issuer: &str, scopes: &[&str]) -> Authorization {
    jwt_route_from(
        keys,
        issuer,
        scopes,
        IdentitySource::Header(http::header::AUTHORIZATION),
    )
}

fn jwt_route_from(
    keys: Arc<KeyStore>,
    issuer: &str,
    scopes: &[&str],
    source: IdentitySource,
) -> Authorization {
    Authorization::Jwt {
        authorizer: Arc::new(JwtAuthorizer {
            name: "jwt".into(),
            identity_source: source,
            validator: JwtValidator::new(issuer, vec![AUD.into()], Arc::new(Jwks::default())),
            keys,
        }),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// docs/aws-rules.md §HTTP-12 rows "JWT missing", "JWT invalid", "JWT scope mismatch", and the allowed path.
#[tokio::test]
async fn jwt_catalogue_rows() {
    let issuer = Issuer::generate("https://issuer.airlock.local").unwrap();
    let keys = Arc::new(KeyStore::fixed(
        issuer.issuer(),
        Jwks::from_json(&issuer.jwks_json()).unwrap(),
    ));
    let h = start(vec![
        ("GET /pets", jwt_route(keys.clone(), issuer.issuer(), &[])),
        (
            "POST /pets",
            jwt_route(keys.clone(), issuer.issuer(), &["pets/write"]),
        ),
        (
            "GET /q",
            jwt_route_from(
                keys,
                issuer.issuer(),
                &[],
                IdentitySource::QueryString("token".into()),
            ),
        ),
    ])
    .await;

    // Missing: 401, `www-authenticate: Bearer`, nothing else.
    let a = h.get("/pets", &[]).await;
    assert_refusal(&a, 401, "Unauthorized");
    assert_eq!(a.headers["www-authenticate"], "Bearer");
    let a = h.get("/pets", &[("authorization", "Bearer ")]).await;
    assert_refusal(&a, 401, "Unauthorized");
    assert_eq!(a.headers["www-authenticate"], "Bearer");

    // Invalid: expired, with the AWS text.
    let mut req = TokenRequest::new("alice", AUD);
    req.expires_in = -60;
    let expired = issuer.mint(&req).unwrap();
    let a = h
        .get("/pets", &[("authorization", &bearer(&expired))])
        .await;
    assert_refusal(&a, 401, "Unauthorized");
    assert_eq!(
        a.headers["www-authenticate"],
        "Bearer scope=\"\" error=\"invalid_token\" error_description=\"the token has expired\""
    );
    let a = h.get("/pets", &[("authorization", "a.b")]).await;
    assert_eq!(
        a.headers["www-authenticate"],
        "Bearer scope=\"\" error=\"invalid_token\" error_description=\"token contains an invalid number of segments\""
    );

    // Valid token, wrong scope: 403 with the route's scopes.
    let mut req = TokenRequest::new("alice", AUD);
    req.scopes = vec!["pets/read".into()];
    let reader = issuer.mint(&req).unwrap();
    let a = h
        .send(
            "POST",
            "/pets",
            &[("authorization", &bearer(&reader))],
            "{}",
        )
        .await;
    assert_refusal(&a, 403, "Forbidden");
    assert_eq!(
        a.headers["www-authenticate"],
        "Bearer scope=\"pets/write\" error=\"insufficient_scope\" error_description=\"expected scopes: [pets/write]\""
    );

    // Allowed: the backend answers; raw token (no `Bearer`) and scope in `scp` work too.
    let a = h.get("/pets", &[("authorization", &reader)]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["path"], "/pets");
    let mut req = TokenRequest::new("alice", AUD);
    req.extra_claims
        .insert("scp".into(), serde_json::json!(["pets/write"]));
    let writer = issuer.mint(&req).unwrap();
    let a = h
        .send(
            "POST",
            "/pets",
            &[("authorization", &bearer(&writer))],
            "{}",
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);

    // Query-string identity source.
    let a = h.get(&format!("/q?token={reader}"), &[]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = h.get("/q?other=1", &[]).await;
    assert_refusal(&a, 401, "Unauthorized");
}

/// A local OIDC provider over HTTPS: discovery document and a JWKS that tests can swap.
struct Oidc {
    url: String,
    jwks: Arc<Mutex<String>>,
    jwks_hits: Arc<AtomicUsize>,
    _shutdown: tokio_util::sync::DropGuard,
}

async fn oidc(pki: &Pki, jwks: String) -> Oidc {
    let shutdown = CancellationToken::new();
    let leaf = pki.ca.issue_server(&["localhost".to_owned()]).unwrap();
    let state = Arc::new(Mutex::new(jwks));
    let hits = Arc::new(AtomicUsize::new(0));
    let port = Arc::new(Mutex::new(0u16));
    let (s, h, p) = (state.clone(), hits.clone(), port.clone());
    let addr = serve(
        move |req: Request<Bytes>| {
            let (s, h, p) = (s.clone(), h.clone(), p.clone());
            async move {
                match req.uri().path() {
                    "/.well-known/openid-configuration" => {
                        let port = *p.lock().unwrap();
                        json_response(
                            200,
                            serde_json::json!({
                                "issuer": format!("https://localhost:{port}"),
                                "jwks_uri": format!("https://localhost:{port}/keys"),
                            })
                            .to_string(),
                        )
                    }
                    "/keys" => {
                        h.fetch_add(1, Ordering::SeqCst);
                        json_response(200, s.lock().unwrap().clone())
                    }
                    _ => json_response(404, "{}"),
                }
            }
        },
        Some(leaf),
        shutdown.clone(),
    )
    .await;
    *port.lock().unwrap() = addr.port();
    Oidc {
        url: format!("https://localhost:{}", addr.port()),
        jwks: state,
        jwks_hits: hits,
        _shutdown: shutdown.drop_guard(),
    }
}

/// Discovery, then JWKS, fetched once and cached; a token signed with a new key (new `kid`)
/// makes the gateway refetch at once and accept it; a stream of unknown `kid`s refetches at
/// most once per interval.
#[tokio::test]
async fn discovery_caching_and_rotation() {
    let pki = pki();
    // The issuer URL must be known before the keys exist: mint with `iss` set per provider.
    let placeholder = oidc(&pki, "{\"keys\":[]}".into()).await;
    let url = placeholder.url.clone();
    let first = Issuer::generate(&url).unwrap();
    *placeholder.jwks.lock().unwrap() = first.jwks_json();
    let keys = Arc::new(
        KeyStore::discover(url.clone(), std::slice::from_ref(pki.ca.cert_der()))
            .unwrap()
            .with_refetch_interval(Duration::from_secs(3600)),
    );
    let h = start(vec![("GET /pets", jwt_route(keys.clone(), &url, &[]))]).await;

    assert_eq!(
        keys.fetch_count(),
        0,
        "nothing is fetched before a request needs it"
    );
    let token = first.mint(&TokenRequest::new("alice", AUD)).unwrap();
    for _ in 0..3 {
        let a = h.get("/pets", &[("authorization", &bearer(&token))]).await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    assert_eq!(placeholder.jwks_hits.load(Ordering::SeqCst), 1, "cached");

    // Rotation: the provider now publishes only a new key.
    let second = Issuer::generate(&url).unwrap();
    *placeholder.jwks.lock().unwrap() = second.jwks_json();
    let rotated = second.mint(&TokenRequest::new("bob", AUD)).unwrap();
    let a = h
        .get("/pets", &[("authorization", &bearer(&rotated))])
        .await;
    assert_eq!(a.status, 200, "new kid → refetch → accepted: {}", a.body);
    assert_eq!(placeholder.jwks_hits.load(Ordering::SeqCst), 2);
    // The old key is gone from the provider, so its tokens now fail on the kid.
    let a = h.get("/pets", &[("authorization", &bearer(&token))]).await;
    assert_refusal(&a, 401, "Unauthorized");
    assert!(
        a.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("does not match any signing key"),
        "{:?}",
        a.headers["www-authenticate"]
    );
    // The rotation refetch was moments ago: unknown kids do not refetch again (rate limit).
    for _ in 0..3 {
        let a = h.get("/pets", &[("authorization", &bearer(&token))]).await;
        assert_eq!(a.status, 401);
    }
    assert_eq!(placeholder.jwks_hits.load(Ordering::SeqCst), 2);
    assert_eq!(keys.fetch_count(), 2);
}

/// With no rate limit window, each unknown kid refetches; the window is what bounds them.
#[tokio::test]
async fn unknown_kid_refetch_honours_the_interval() {
    let pki = pki();
    let provider = oidc(&pki, "{\"keys\":[]}".into()).await;
    let issuer = Issuer::generate(&provider.url).unwrap();
    *provider.jwks.lock().unwrap() = issuer.jwks_json();
    let stranger = Issuer::generate(&provider.url).unwrap();
    let token = stranger.mint(&TokenRequest::new("eve", AUD)).unwrap();
    let eager = Arc::new(
        KeyStore::discover(
            provider.url.clone(),
            std::slice::from_ref(pki.ca.cert_der()),
        )
        .unwrap()
        .with_refetch_interval(Duration::ZERO),
    );
    let h = start(vec![(
        "GET /pets",
        jwt_route(eager.clone(), &provider.url, &[]),
    )])
    .await;
    for _ in 0..2 {
        let a = h.get("/pets", &[("authorization", &bearer(&token))]).await;
        assert_refusal(&a, 401, "Unauthorized");
    }
    // First request: initial fetch + unknown-kid refetch; second: one more refetch.
    assert_eq!(provider.jwks_hits.load(Ordering::SeqCst), 3);
    assert_eq!(eager.fetch_count(), 3);
}

/// The 150,000-byte JWKS quota and the 1,500 ms timeout: no keys, so every token is refused.
#[tokio::test]
async fn oversized_or_slow_key_sets_are_refused() {
    let pki = pki();
    let big = oidc(
        &pki,
        format!("{{\"keys\":[],\"pad\":\"{}\"}}", "x".repeat(150_001)),
    )
    .await;
    let issuer = Issuer::generate(&big.url).unwrap();
    let keys = Arc::new(
        KeyStore::discover(big.url.clone(), std::slice::from_ref(pki.ca.cert_der())).unwrap(),
    );
    let h = start(vec![("GET /pets", jwt_route(keys, &big.url, &[]))]).await;
    let token = issuer.mint(&TokenRequest::new("alice", AUD)).unwrap();
    let a = h.get("/pets", &[("authorization", &bearer(&token))]).await;
    assert_refusal(&a, 401, "Unauthorized");
    assert!(
        a.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("signing keys could not be retrieved")
    );

    // A listener that accepts but never answers: the fetch gives up after 1.5 s.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://localhost:{}", silent.local_addr().unwrap().port());
    let keys = Arc::new(KeyStore::discover(url.clone(), &[]).unwrap());
    let h = start(vec![("GET /pets", jwt_route(keys, &url, &[]))]).await;
    let started = Instant::now();
    let a = h.get("/pets", &[("authorization", &bearer(&token))]).await;
    let took = started.elapsed();
    assert_refusal(&a, 401, "Unauthorized");
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(5),
        "{took:?}"
    );
    drop(silent);
}

/// Discovery trusts airlock's CA plus a given bundle, nothing else; only loopback is dialed.
#[tokio::test]
async fn trust_and_loopback_rules() {
    let pki = pki();
    let provider = oidc(&pki, "{\"keys\":[]}".into()).await;
    let issuer = Issuer::generate(&provider.url).unwrap();
    *provider.jwks.lock().unwrap() = issuer.jwks_json();
    let other_ca = auth_support::pki();
    let keys = Arc::new(
        KeyStore::discover(
            provider.url.clone(),
            std::slice::from_ref(other_ca.ca.cert_der()),
        )
        .unwrap(),
    );
    let h = start(vec![("GET /pets", jwt_route(keys, &provider.url, &[]))]).await;
    let token = issuer.mint(&TokenRequest::new("alice", AUD)).unwrap();
    let a = h.get("/pets", &[("authorization", &bearer(&token))]).await;
    assert_refusal(&a, 401, "Unauthorized");
    assert_eq!(provider.jwks_hits.load(Ordering::SeqCst), 0);

    let err = KeyStore::discover("https://cognito-idp.us-east-1.amazonaws.com/pool", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("not on a loopback address"), "{err}");
}
