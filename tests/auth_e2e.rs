//! Authorizers through the whole stack (docs/aws-rules.md §HTTP-5, §HTTP-12): a JWT authorizer
//! whose keys come from OIDC discovery on a local HTTPS issuer (with a CA bundle), a Lambda
//! REQUEST authorizer run as a local command, and an `AWS_IAM` route signed by botocore.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use airlock_stack::{RunningStack, TokenRequest};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use support::{DOMAIN, https};
use tokio::net::TcpListener;

/// A minimal OIDC provider over HTTPS on 127.0.0.1: discovery document and JWKS.
async fn oidc_provider(leaf: airlock_pki::Leaf, jwks: Arc<std::sync::Mutex<String>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(leaf.cert_chain, leaf.key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let jwks = jwks.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                    let jwks = jwks.clone();
                    async move {
                        let body = match req.uri().path() {
                            "/.well-known/openid-configuration" => serde_json::json!({
                                "issuer": format!("https://localhost:{port}"),
                                "jwks_uri": format!("https://localhost:{port}/jwks.json"),
                            })
                            .to_string(),
                            _ => jwks.lock().unwrap().clone(),
                        };
                        Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                            Bytes::from(body),
                        )))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    port
}

fn stack_yaml(oidc_port: u16, ca_bundle: &std::path::Path) -> String {
    let mut yaml = airlock_config::DEFAULT_STACK_YAML.to_owned();
    let authorizers = format!(
        r#"    authorizers:
      - name: oidc-jwt
        authorizer_type: JWT
        identity_source: ["$request.header.Authorization"]
        jwt_configuration:
          issuer: https://localhost:{oidc_port}
          audience: [pets-client]
          ca_bundle: {bundle}
      - name: key-check
        authorizer_type: REQUEST
        identity_source: ["$request.header.x-api-key"]
        authorizer_uri:
          command: [sh, -c, "if grep -q '\"identitySource\":\\[\"open-sesame\"\\]'; then echo '{{\"isAuthorized\":true}}'; else echo '{{\"isAuthorized\":false}}'; fi"]
        authorizer_payload_format_version: "2.0"
        enable_simple_responses: true
        authorizer_result_ttl_in_seconds: 60
"#,
        bundle = ca_bundle.display()
    );
    yaml = yaml.replacen("    authorizers:\n", &authorizers, 1);
    let replace_route = |yaml: &mut String, key: &str, with: &str| {
        let start = yaml.find(&format!("      - route_key: {key}\n")).unwrap();
        let end = start + yaml[start..].find("        target:").unwrap();
        yaml.replace_range(start..end, &format!("      - route_key: {key}\n{with}"));
    };
    replace_route(
        &mut yaml,
        "GET /pets",
        "        authorization_type: JWT\n        authorizer_id: oidc-jwt\n",
    );
    replace_route(
        &mut yaml,
        "GET /whoami",
        "        authorization_type: CUSTOM\n        authorizer_id: key-check\n",
    );
    replace_route(
        &mut yaml,
        "GET /health",
        "        authorization_type: AWS_IAM\n",
    );
    yaml.push_str(
        r#"
iam_credentials:
  - access_key_id: AKIAE2EEXAMPLE000001
    secret_access_key: e2e-secret-key
    principal: arn:aws:iam::000000000000:user/e2e
    allow_invoke: ["arn:aws:execute-api:us-east-1:000000000000:*/*/GET/health"]
"#,
    );
    yaml
}

#[tokio::test]
async fn external_issuer_lambda_and_iam_through_the_stack() {
    // The provider's own CA, handed to the stack as a CA bundle.
    let provider_dir = tempfile::tempdir().unwrap();
    let provider_ca = airlock_pki::Ca::load_or_create(provider_dir.path()).unwrap();
    let leaf = provider_ca.issue_server(&["localhost".to_owned()]).unwrap();
    let jwks = Arc::new(std::sync::Mutex::new(String::from("{\"keys\":[]}")));
    let port = oidc_provider(leaf, jwks.clone()).await;
    let issuer = airlock_pki::Issuer::generate(&format!("https://localhost:{port}")).unwrap();
    *jwks.lock().unwrap() = issuer.jwks_json();

    let yaml = stack_yaml(port, provider_ca.ca_path());
    let stack = airlock_config::parse(&yaml, std::path::Path::new("auth-e2e.yaml"))
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    let stack = RunningStack::start_ephemeral(stack).await.unwrap();
    let gw = stack.endpoints().gateway;

    // JWT from the external issuer, keys discovered over HTTPS.
    let token = issuer
        .mint(&TokenRequest::new("alice", "pets-client"))
        .unwrap();
    let auth = format!("Bearer {token}");
    let r = get_with(&stack, "/pets", &[("authorization", &auth)]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // A local-issuer token is not one of that issuer's.
    let local = stack.token(&[]).unwrap();
    let auth = format!("Bearer {local}");
    let r = get_with(&stack, "/pets", &[("authorization", &auth)]).await;
    assert_eq!(r.status, 401, "{}", r.text());

    // The REQUEST authorizer (a local command).
    let r = get_with(&stack, "/whoami", &[]).await;
    assert_eq!(
        (r.status, r.text()),
        (401, "{\"message\":\"Unauthorized\"}".to_owned())
    );
    let r = get_with(&stack, "/whoami", &[("x-api-key", "nope")]).await;
    assert_eq!(
        (r.status, r.text()),
        (403, "{\"message\":\"Forbidden\"}".to_owned())
    );
    let r = get_with(&stack, "/whoami", &[("x-api-key", "open-sesame")]).await;
    assert_eq!(r.status, 200, "{}", r.text());

    // AWS_IAM: unsigned is 403; botocore-signed passes when botocore is installed.
    let r = get_with(&stack, "/health", &[]).await;
    assert_eq!(
        (r.status, r.text()),
        (403, "{\"message\":\"Forbidden\"}".to_owned())
    );
    // The client sends `Host: <domain>:<port>`, so that is the URL botocore signs.
    let script = r#"
import json, sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
req = AWSRequest(method="GET", url=sys.argv[1])
SigV4Auth(Credentials("AKIAE2EEXAMPLE000001", "e2e-secret-key"), "execute-api", "us-east-1").add_auth(req)
print(json.dumps(dict(req.headers.items())))
"#;
    let url = format!("https://{DOMAIN}:{}/health", gw.port());
    if support::python_module("botocore", "pip install botocore") {
        let out = std::process::Command::new("python3")
            .args(["-c", script, &url])
            .output()
            .unwrap();
        assert!(out.status.success(), "botocore's signer failed: {out:?}");
        let headers: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&out.stdout).unwrap();
        let headers: Vec<(String, String)> = headers
            .into_iter()
            .map(|(k, v)| (k, v.as_str().unwrap().to_owned()))
            .collect();
        let refs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let r = get_with(&stack, "/health", &refs).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    stack.stop().await;
}

/// A GET through the gateway under the default custom domain, with extra headers.
async fn get_with(stack: &RunningStack, path: &str, headers: &[(&str, &str)]) -> support::Reply {
    let (gw, ca) = (stack.endpoints().gateway, stack.ca_der());
    https(gw, ca, DOMAIN, "GET", path, headers, "").await
}

/// Plain HTTP GET on the admin endpoint.
async fn admin_get(addr: std::net::SocketAddr, path: &str) -> serde_json::Value {
    use http_body_util::BodyExt as _;
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = http::Request::get(path)
        .header("host", addr.to_string())
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&body).unwrap()
}

/// The local issuer publishes its discovery document and JWKS on the admin port, so other
/// tools can verify `airlock token` tokens.
#[tokio::test]
async fn local_issuer_publishes_discovery_and_jwks() {
    let stack = RunningStack::start_default().await.unwrap();
    let admin = stack.endpoints().admin;
    let discovery = admin_get(admin, "/.well-known/openid-configuration").await;
    assert_eq!(discovery["issuer"], stack.endpoints().issuer);
    let jwks_uri = discovery["jwks_uri"].as_str().unwrap();
    assert_eq!(jwks_uri, format!("http://{admin}/.well-known/jwks.json"));
    let jwks = admin_get(admin, "/.well-known/jwks.json").await;
    let token = stack.token(&[]).unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&base64url(token.split('.').next().unwrap())).unwrap();
    assert_eq!(jwks["keys"][0]["kid"], header["kid"]);
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    stack.stop().await;
}

fn base64url(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        acc = acc << 6 | ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// `airlock token --claim name=value` adds claims, typed when the value is JSON.
#[test]
fn token_command_adds_extra_claims() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["token", "--sub", "carol", "--claim", "email=c@example.com"])
        .args(["--claim", "tier=3", "--claim", r#"groups=["a","b"]"#])
        .arg("--state-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&base64url(token.trim().split('.').nth(1).unwrap())).unwrap();
    assert_eq!(claims["sub"], "carol");
    assert_eq!(claims["email"], "c@example.com");
    assert_eq!(claims["tier"], 3);
    assert_eq!(claims["groups"], serde_json::json!(["a", "b"]));
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["token", "--claim", "no-equals-sign"])
        .arg("--state-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!bad.status.success());
}
