//! Lambda REQUEST authorizers through real sockets (docs/aws-rules.md §HTTP-5.2, §HTTP-12): both payload
//! versions and their events, simple and IAM-policy responses, identity sources, caching
//! observed by counting invocations, timeouts, malformed answers, and local commands.
#![allow(clippy::unwrap_used)]

mod auth_support;

use airlock_gateway::Authorization;
use airlock_gateway::auth::fetch::LoopbackUrl;
use airlock_gateway::auth::lambda::{
    AuthorizerFunction, LambdaAuthorizer, LambdaConfig, LambdaIdentitySource, PayloadFormat,
};
use auth_support::*;
use bytes::Bytes;
use http::Request;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// An authorizer endpoint that records each event and answers with `answer(event)`.
struct Function {
    url: String,
    events: Arc<Mutex<Vec<Value>>>,
    _shutdown: tokio_util::sync::DropGuard,
}

async fn function(answer: fn(&Value) -> Option<Value>) -> Function {
    let shutdown = CancellationToken::new();
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let addr = serve_http(
        move |req: Request<Bytes>| {
            let seen = seen.clone();
            async move {
                let event: Value = serde_json::from_slice(req.body()).unwrap();
                seen.lock().unwrap().push(event.clone());
                match answer(&event) {
                    Some(v) => json_response(200, v.to_string()),
                    // `None`: never answer (the timeout case).
                    None => std::future::pending().await,
                }
            }
        },
        shutdown.clone(),
    )
    .await;
    Function {
        url: format!("http://127.0.0.1:{}/authorize", addr.port()),
        events,
        _shutdown: shutdown.drop_guard(),
    }
}

fn config(function: AuthorizerFunction, format: PayloadFormat, simple: bool) -> LambdaConfig {
    LambdaConfig {
        name: "lambda".into(),
        function,
        payload_format: format,
        simple_responses: simple,
        identity_sources: vec![LambdaIdentitySource::Header(http::header::AUTHORIZATION)],
        result_ttl: Duration::ZERO,
        timeout: Duration::from_secs(10),
        region: REGION.into(),
        account_id: ACCOUNT.into(),
    }
}

fn http_fn(f: &Function) -> AuthorizerFunction {
    AuthorizerFunction::Http(LoopbackUrl::parse(&f.url).unwrap())
}

fn allow_if_token_is_good(event: &Value) -> Option<Value> {
    let token = event["headers"]["authorization"].as_str().unwrap_or("");
    Some(json!({
        "isAuthorized": token == "good",
        "context": {"user": "alice", "tier": 3, "admin": false},
    }))
}

/// docs/aws-rules.md §HTTP-12 "identity source missing" (401, not invoked), "deny" (403) and the allowed path, with a
/// 2.0 simple response; the event carries every docs/aws-rules.md §HTTP-5.2 field.
#[tokio::test]
async fn simple_responses_and_the_2_0_event() {
    let f = function(allow_if_token_is_good).await;
    let authorizer = Arc::new(LambdaAuthorizer::new(
        config(http_fn(&f), PayloadFormat::V2, true),
        &[],
    ));
    let h = start(vec![(
        "GET /pets/{id}",
        Authorization::Lambda(authorizer.clone()),
    )])
    .await;

    let a = h.get("/pets/7", &[]).await;
    assert_refusal(&a, 401, "Unauthorized");
    assert!(!a.headers.contains_key("www-authenticate"));
    assert_eq!(
        authorizer.invocations(),
        0,
        "a missing identity source invokes nothing"
    );

    let a = h.get("/pets/7", &[("authorization", "bad")]).await;
    assert_refusal(&a, 403, "Forbidden");

    let a = h
        .get(
            "/pets/7?a=1&a=2&b=x%20y",
            &[
                ("authorization", "good"),
                ("cookie", "c1=v1; c2=v2"),
                ("user-agent", "t/1"),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(authorizer.invocations(), 3 - 1);

    let event = f.events.lock().unwrap().last().unwrap().clone();
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["type"], "REQUEST");
    assert_eq!(
        event["routeArn"],
        format!("arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/$default/GET/pets/7")
    );
    assert_eq!(event["identitySource"], json!(["good"]));
    assert_eq!(event["routeKey"], "GET /pets/{id}");
    assert_eq!(event["rawPath"], "/pets/7");
    assert_eq!(event["rawQueryString"], "a=1&a=2&b=x%20y");
    assert_eq!(event["cookies"], json!(["c1=v1", "c2=v2"]));
    assert_eq!(event["headers"]["authorization"], "good");
    assert!(event["headers"].get("cookie").is_none());
    assert_eq!(
        event["queryStringParameters"],
        json!({"a": "1,2", "b": "x y"})
    );
    assert_eq!(event["pathParameters"], json!({"id": "7"}));
    let rc = &event["requestContext"];
    assert_eq!(rc["accountId"], ACCOUNT);
    assert_eq!(rc["apiId"], API_ID);
    assert_eq!(rc["domainName"], host());
    assert_eq!(rc["domainPrefix"], API_ID);
    assert_eq!(rc["http"]["method"], "GET");
    assert_eq!(rc["http"]["path"], "/pets/7");
    assert_eq!(rc["http"]["protocol"], "HTTP/1.1");
    assert_eq!(rc["http"]["sourceIp"], "127.0.0.1");
    assert_eq!(rc["http"]["userAgent"], "t/1");
    assert_eq!(
        rc["requestId"],
        a.headers["apigw-requestid"].to_str().unwrap()
    );
    assert_eq!(rc["routeKey"], "GET /pets/{id}");
    assert_eq!(rc["stage"], "$default");
    assert!(rc["time"].as_str().unwrap().ends_with(" +0000"));
    assert!(rc["timeEpoch"].as_u64().unwrap() > 1_700_000_000_000);
}

fn policy(event: &Value) -> Option<Value> {
    let token = event["authorizationToken"]
        .as_str()
        .or_else(|| event["identitySource"][0].as_str())
        .unwrap_or("");
    let arn = event["methodArn"]
        .as_str()
        .or_else(|| event["routeArn"].as_str())
        .unwrap();
    let (effect, resource) = match token {
        "allow-all" => ("Allow", "*".to_owned()),
        "allow-this" => ("Allow", arn.to_owned()),
        "allow-other" => ("Allow", arn.replace("/GET/", "/DELETE/")),
        _ => ("Deny", arn.to_owned()),
    };
    let mut answer = json!({
        "principalId": "user-7",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
        "context": {"org": "acme"},
    });
    if token == "allow-but-deny-this" {
        answer["policyDocument"]["Statement"] = json!([
            {"Action": "execute-api:*", "Effect": "Allow", "Resource": "*"},
            {"Action": ["execute-api:Invoke"], "Effect": "Deny", "Resource": [arn]},
        ]);
    }
    Some(answer)
}

/// IAM-policy responses with payload 1.0 (and the 1.0 event): Allow on the route ARN or a
/// wildcard passes; Deny, an implicit deny, or an Allow on another ARN is 403.
#[tokio::test]
async fn policy_responses_and_the_1_0_event() {
    let f = function(policy).await;
    let authorizer = Arc::new(LambdaAuthorizer::new(
        config(http_fn(&f), PayloadFormat::V1, false),
        &[],
    ));
    let h = start(vec![("GET /pets/{id}", Authorization::Lambda(authorizer))]).await;
    for (token, status) in [
        ("allow-all", 200),
        ("allow-this", 200),
        ("allow-other", 403),
        ("deny", 403),
        ("allow-but-deny-this", 403),
    ] {
        let a = h.get("/pets/9?x=1", &[("authorization", token)]).await;
        assert_eq!(a.status, status, "{token}: {}", a.body);
        if status == 403 {
            assert_refusal(&a, 403, "Forbidden");
        }
    }
    let event = f.events.lock().unwrap()[0].clone();
    assert_eq!(event["version"], "1.0");
    assert_eq!(event["type"], "REQUEST");
    assert_eq!(
        event["methodArn"],
        format!("arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/$default/GET/pets/9")
    );
    assert_eq!(event["identitySource"], "allow-all");
    assert_eq!(event["authorizationToken"], "allow-all");
    assert_eq!(event["resource"], "/pets/{id}");
    assert_eq!(event["path"], "/pets/9");
    assert_eq!(event["httpMethod"], "GET");
    assert_eq!(event["headers"]["authorization"], "allow-all");
    assert_eq!(
        event["multiValueHeaders"]["authorization"],
        json!(["allow-all"])
    );
    assert_eq!(event["queryStringParameters"], json!({"x": "1"}));
    assert_eq!(
        event["multiValueQueryStringParameters"],
        json!({"x": ["1"]})
    );
    assert_eq!(event["pathParameters"], json!({"id": "9"}));
    assert_eq!(event["stageVariables"], Value::Null);
    let rc = &event["requestContext"];
    assert_eq!(rc["accountId"], ACCOUNT);
    assert_eq!(rc["apiId"], API_ID);
    assert_eq!(rc["httpMethod"], "GET");
    assert_eq!(rc["identity"]["sourceIp"], "127.0.0.1");
    assert_eq!(rc["resourcePath"], "/pets/{id}");
    assert_eq!(rc["stage"], "$default");
    assert!(rc["requestId"].is_string() && rc["requestTimeEpoch"].is_u64());
}

/// Results are cached by identity-source values for the TTL; 0 disables caching.
#[tokio::test]
async fn caching_by_identity_source_values() {
    let f = function(allow_if_token_is_good).await;
    let mut cfg = config(http_fn(&f), PayloadFormat::V2, true);
    cfg.result_ttl = Duration::from_secs(300);
    let cached = Arc::new(LambdaAuthorizer::new(cfg, &[]));
    let uncached = Arc::new(LambdaAuthorizer::new(
        config(http_fn(&f), PayloadFormat::V2, true),
        &[],
    ));
    let h = start(vec![
        ("GET /a", Authorization::Lambda(cached.clone())),
        ("GET /b", Authorization::Lambda(cached.clone())),
        ("GET /c", Authorization::Lambda(uncached.clone())),
    ])
    .await;
    for path in ["/a", "/b", "/a"] {
        assert_eq!(h.get(path, &[("authorization", "good")]).await.status, 200);
    }
    assert_eq!(
        cached.invocations(),
        1,
        "one call serves every route of the authorizer"
    );
    for _ in 0..2 {
        assert_eq!(h.get("/a", &[("authorization", "bad")]).await.status, 403);
    }
    assert_eq!(
        cached.invocations(),
        2,
        "denials are cached too, per identity value"
    );
    for _ in 0..3 {
        assert_eq!(h.get("/c", &[("authorization", "good")]).await.status, 200);
    }
    assert_eq!(uncached.invocations(), 3, "TTL 0: every request invokes");
}

/// Timeouts, failures and malformed answers are 500 `Internal Server Error`.
#[tokio::test]
async fn failures_are_internal_server_errors() {
    let never = function(|_| None).await;
    let mut cfg = config(http_fn(&never), PayloadFormat::V2, true);
    cfg.timeout = Duration::from_millis(300);
    let slow = Arc::new(LambdaAuthorizer::new(cfg, &[]));
    let garbage = function(|_| Some(json!({"isAuthorized": "yes"}))).await;
    let no_policy = function(|_| Some(json!({"principalId": "x"}))).await;
    let reserved = function(|_| {
        Some(json!({
            "principalId": "x",
            "policyDocument": {"Statement": [{"Action": "*", "Effect": "Allow", "Resource": "*"}]},
            "context": {"claims": "no"},
        }))
    })
    .await;
    let dead = AuthorizerFunction::Http(LoopbackUrl::parse("http://127.0.0.1:1/").unwrap());
    let h = start(vec![
        ("GET /slow", Authorization::Lambda(slow)),
        (
            "GET /garbage",
            Authorization::Lambda(Arc::new(LambdaAuthorizer::new(
                config(http_fn(&garbage), PayloadFormat::V2, true),
                &[],
            ))),
        ),
        (
            "GET /nopolicy",
            Authorization::Lambda(Arc::new(LambdaAuthorizer::new(
                config(http_fn(&no_policy), PayloadFormat::V2, false),
                &[],
            ))),
        ),
        (
            "GET /reserved",
            Authorization::Lambda(Arc::new(LambdaAuthorizer::new(
                config(http_fn(&reserved), PayloadFormat::V1, false),
                &[],
            ))),
        ),
        (
            "GET /dead",
            Authorization::Lambda(Arc::new(LambdaAuthorizer::new(
                config(dead, PayloadFormat::V2, true),
                &[],
            ))),
        ),
    ])
    .await;
    for path in ["/slow", "/garbage", "/nopolicy", "/reserved", "/dead"] {
        let a = h.get(path, &[("authorization", "good")]).await;
        assert_refusal(&a, 500, "Internal Server Error");
    }
}

/// A local command as the function: the event on stdin, the answer on stdout; other identity
/// sources (query string, `$context`, `$stageVariables`).
#[tokio::test]
async fn local_command_and_other_identity_sources() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("event.json");
    let script = format!(
        "cat > '{}'; echo '{{\"isAuthorized\": true, \"context\": {{\"via\": \"command\"}}}}'",
        out.display()
    );
    let mut cfg = config(
        AuthorizerFunction::Command(vec!["sh".into(), "-c".into(), script]),
        PayloadFormat::V2,
        true,
    );
    cfg.identity_sources = vec![
        LambdaIdentitySource::QueryString("key".into()),
        LambdaIdentitySource::Context("routeKey".into()),
        LambdaIdentitySource::StageVariable("tenant".into()),
    ];
    let ok = Arc::new(LambdaAuthorizer::new(cfg, &[]));
    let failing = Arc::new(LambdaAuthorizer::new(
        config(
            AuthorizerFunction::Command(vec!["sh".into(), "-c".into(), "exit 3".into()]),
            PayloadFormat::V2,
            true,
        ),
        &[],
    ));
    let h = start_with_stages(
        vec![
            ("GET /cmd", Authorization::Lambda(ok.clone())),
            ("GET /fail", Authorization::Lambda(failing)),
        ],
        [("tenant".to_owned(), "t-1".to_owned())].into(),
    )
    .await;
    let a = h.get("/cmd", &[]).await;
    assert_refusal(&a, 401, "Unauthorized");
    assert_eq!(ok.invocations(), 0);
    let a = h.get("/cmd?key=k1", &[]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let event: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(event["identitySource"], json!(["k1", "GET /cmd", "t-1"]));
    assert_eq!(event["stageVariables"], json!({"tenant": "t-1"}));
    let a = h.get("/fail", &[("authorization", "x")]).await;
    assert_refusal(&a, 500, "Internal Server Error");
}

/// `context` values and `principalId` are `$context.authorizer.*` for parameter mapping.
#[tokio::test]
async fn authorizer_context_reaches_the_backend_through_mappings() {
    let simple = function(allow_if_token_is_good).await;
    let policies = function(policy).await;
    let h = start_with(
        vec![
            (
                "GET /simple",
                Authorization::Lambda(Arc::new(LambdaAuthorizer::new(
                    config(http_fn(&simple), PayloadFormat::V2, true),
                    &[],
                ))),
            ),
            (
                "GET /policy",
                Authorization::Lambda(Arc::new(LambdaAuthorizer::new(
                    config(http_fn(&policies), PayloadFormat::V1, false),
                    &[],
                ))),
            ),
        ],
        Default::default(),
        &[
            ("overwrite:header.x-user", "$context.authorizer.user"),
            ("overwrite:header.x-tier", "$context.authorizer.tier"),
            (
                "overwrite:header.x-principal",
                "$context.authorizer.principalId",
            ),
            ("overwrite:header.x-org", "$context.authorizer.org"),
        ],
    )
    .await;
    let a = h.get("/simple", &[("authorization", "good")]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let headers = &a.json()["headers"];
    assert_eq!(headers["x-user"], "alice");
    assert_eq!(headers["x-tier"], "3");
    assert!(headers.get("x-principal").is_none());
    let a = h.get("/policy", &[("authorization", "allow-all")]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let headers = &a.json()["headers"];
    assert_eq!(headers["x-principal"], "user-7");
    assert_eq!(headers["x-org"], "acme");
}

/// `$context.authorizer.error` in the access log says why a request was refused; allowed requests log it as absent.
#[tokio::test]
async fn access_log_carries_the_authorizer_error() {
    let f = function(allow_if_token_is_good).await;
    let (h, lines) = start_logged(
        vec![(
            "GET /pets",
            Authorization::Lambda(Arc::new(LambdaAuthorizer::new(
                config(http_fn(&f), PayloadFormat::V2, true),
                &[],
            ))),
        )],
        "$context.requestId $context.status [$context.authorizer.error] $context.authorizer.user",
    )
    .await;
    h.get("/pets", &[]).await;
    h.get("/pets", &[("authorization", "bad")]).await;
    h.get("/pets", &[("authorization", "good")]).await;
    let lines = lines.0.lock().unwrap().clone();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[0].ends_with(" 401 [identity source $request.header.authorization is missing] -"),
        "{lines:?}"
    );
    assert!(
        lines[1].ends_with(" 403 [isAuthorized false] -"),
        "{lines:?}"
    );
    assert!(lines[2].ends_with(" 200 [-] alice"), "{lines:?}");
}
