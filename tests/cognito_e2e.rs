//! A Cognito user pool as a JWT issuer, through real sockets: a template whose HTTP API has a JWT
//! authorizer with the pool's issuer and one app client as audience, translated and started,
//! reached through the API's `execute-api` name; tokens come from `airlock token --user-pool`
//! (docs/aws-rules.md §HTTP-5.1: `aud`, else `client_id`, must be an audience).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use airlock_config::cloudformation::EvalOptions;
use airlock_config::cloudformation::translate::{self, TranslateOptions};
use airlock_stack::RunningStack;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::path::Path;
use support::https;
use tokio::net::TcpListener;

const TEMPLATE: &str = r#"AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  BackendUrl:
    Type: String
Resources:
  UserPool:
    Type: AWS::Cognito::UserPool
    Properties:
      UserPoolName: e2e-users
  WebClient:
    Type: AWS::Cognito::UserPoolClient
    Properties:
      UserPoolId: !Ref UserPool
      ClientName: web
  OtherClient:
    Type: AWS::Cognito::UserPoolClient
    Properties:
      UserPoolId: !Ref UserPool
      ClientName: other
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      Name: cognito-e2e
      ProtocolType: HTTP
  Authorizer:
    Type: AWS::ApiGatewayV2::Authorizer
    Properties:
      ApiId: !Ref Api
      Name: cognito
      AuthorizerType: JWT
      IdentitySource: [$request.header.Authorization]
      JwtConfiguration:
        Issuer: !GetAtt UserPool.ProviderURL
        Audience: [!Ref WebClient]
  Backend:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Api
      IntegrationType: HTTP_PROXY
      IntegrationMethod: ANY
      IntegrationUri: !Ref BackendUrl
      PayloadFormatVersion: "1.0"
  Route:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Api
      RouteKey: GET /hello
      AuthorizationType: JWT
      AuthorizerId: !Ref Authorizer
      Target: !Sub integrations/${Backend}
  Stage:
    Type: AWS::ApiGatewayV2::Stage
    Properties:
      ApiId: !Ref Api
      StageName: $default
      AutoDeploy: true
Outputs:
  Endpoint:
    Value: !GetAtt Api.ApiEndpoint
  Issuer:
    Value: !GetAtt UserPool.ProviderURL
  WebClientId:
    Value: !Ref WebClient
"#;

/// A backend on 127.0.0.1 that answers every request with 200 `hello`.
async fn backend() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_req: http::Request<Incoming>| async {
                    Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                        Bytes::from_static(b"hello"),
                    )))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    port
}

/// `airlock token --user-pool UserPool --stack TEMPLATE` with `extra` arguments.
fn token(
    template: &Path,
    parameter: &str,
    state_dir: &Path,
    extra: &[&str],
) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args([
            "token",
            "--sub",
            "alice",
            "--user-pool",
            "UserPool",
            "--stack",
        ])
        .arg(template)
        .args(["--parameter", parameter])
        .args(extra)
        .arg("--state-dir")
        .arg(state_dir)
        .output()
        .unwrap()
}

fn claims(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token.trim().split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// A token minted for the authorizer's app client passes; one minted for another client of the
/// same pool is refused with AWS's 401 and `invalid_token` audience challenge; no token is 401.
#[tokio::test]
async fn a_user_pool_token_passes_and_another_clients_is_refused() {
    let port = backend().await;
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("cognito.yaml");
    std::fs::write(&template, TEMPLATE).unwrap();
    let parameter = format!("BackendUrl=http://127.0.0.1:{port}/");
    let eval = EvalOptions {
        parameters: vec![("BackendUrl".into(), format!("http://127.0.0.1:{port}/"))],
        ..EvalOptions::default()
    };
    let conversion = translate::load(&template, &eval, &TranslateOptions::default()).unwrap();
    let output = |name: &str| {
        conversion
            .outputs
            .iter()
            .find(|o| o.name == name)
            .unwrap()
            .value
            .clone()
    };
    let host = output("Endpoint")
        .strip_prefix("https://")
        .unwrap()
        .to_owned();
    let stack = RunningStack::start_ephemeral(conversion.stack.clone())
        .await
        .unwrap();
    let get = |token: Option<String>| {
        let (gw, ca, host) = (stack.endpoints().gateway, stack.ca_der(), host.clone());
        async move {
            let auth = token.map(|t| format!("Bearer {t}"));
            let headers: Vec<(&str, &str)> = auth
                .as_deref()
                .map(|a| vec![("authorization", a)])
                .unwrap_or_default();
            https(gw, ca, &host, "GET", "/hello", &headers, "").await
        }
    };

    let none = get(None).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.text(), r#"{"message":"Unauthorized"}"#);

    let good = token(
        &template,
        &parameter,
        stack.state_dir(),
        &["--client", "WebClient"],
    );
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    let good = String::from_utf8(good.stdout).unwrap();
    let c = claims(&good);
    assert_eq!(c["iss"], output("Issuer").as_str());
    assert_eq!(c["client_id"], output("WebClientId").as_str());
    assert_eq!(c["token_use"], "access");
    assert!(c.get("aud").is_none(), "{c}");
    let reply = get(Some(good.trim().to_owned())).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), "hello");

    let other = token(
        &template,
        &parameter,
        stack.state_dir(),
        &["--client", "OtherClient"],
    );
    assert!(
        other.status.success(),
        "{}",
        String::from_utf8_lossy(&other.stderr)
    );
    let reply = get(Some(
        String::from_utf8(other.stdout).unwrap().trim().to_owned(),
    ))
    .await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.text(), r#"{"message":"Unauthorized"}"#);
    assert_eq!(
        reply.header("www-authenticate"),
        Some(
            r#"Bearer scope="" error="invalid_token" error_description="the token does not have a valid audience""#
        )
    );

    // The pool has two clients: which one must be said.
    let ambiguous = token(&template, &parameter, stack.state_dir(), &[]);
    assert!(!ambiguous.status.success());
    let stderr = String::from_utf8_lossy(&ambiguous.stderr);
    assert!(stderr.contains("--client"), "{stderr}");

    // A template option without a user pool would do nothing: refused.
    let stray = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["token", "--parameter", &parameter, "--state-dir"])
        .arg(stack.state_dir())
        .output()
        .unwrap();
    assert!(!stray.status.success());
    let stderr = String::from_utf8_lossy(&stray.stderr);
    assert!(stderr.contains("--parameter"), "{stderr}");
}

/// The admin endpoint's `POST /token?user_pool=NAME` mints a pool token from a stack file's
/// `user_pools`; the default chain's authorizer, bound to that pool's issuer, lets it through to
/// a task, and refuses a token of the plain local issuer. An unknown pool is 404.
#[tokio::test]
async fn the_admin_endpoint_mints_user_pool_tokens_for_a_stack_file() {
    const POOL: &str = "us-east-1_Pets12345";
    let yaml = airlock_config::DEFAULT_STACK_YAML
        .replace(
            "issuer: local",
            &format!("issuer: https://cognito-idp.us-east-1.amazonaws.com/{POOL}"),
        )
        .replace("audience: [pets-client]", "audience: [petsweb01]")
        + &format!(
            "\nuser_pools:\n  - name: users\n    pool_id: {POOL}\n    clients:\n      - name: web\n        client_id: petsweb01\n"
        );
    let stack = airlock_config::parse(&yaml, Path::new("cognito-stack.yaml")).unwrap();
    let stack = RunningStack::start_ephemeral(stack).await.unwrap();
    let admin = stack.endpoints().admin;
    let post = |path: &'static str| async move {
        let tcp = tokio::net::TcpStream::connect(admin).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .unwrap();
        tokio::spawn(conn);
        let req = http::Request::post(path)
            .header("host", admin.to_string())
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(br#"{"sub": "alice"}"#)))
            .unwrap();
        let resp = sender.send_request(req).await.unwrap();
        let status = resp.status().as_u16();
        use http_body_util::BodyExt as _;
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
        )
    };

    let (status, body) = post("/token?user_pool=users").await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let c = claims(&token);
    assert_eq!(
        c["iss"],
        format!("https://cognito-idp.us-east-1.amazonaws.com/{POOL}")
    );
    assert_eq!(c["client_id"], "petsweb01");
    let reply = support::get(&stack, "/pets", Some(&token)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    let local = stack
        .mint_token(&airlock_stack::TokenRequest::new("alice", "petsweb01"))
        .unwrap();
    let reply = support::get(&stack, "/pets", Some(&local)).await;
    assert_eq!(reply.status, 401, "{}", reply.text());

    let (status, body) = post("/token?user_pool=nope").await;
    assert_eq!(status, 404, "{body}");
    stack.stop().await;
}
