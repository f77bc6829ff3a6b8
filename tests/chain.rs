//! The whole private-API chain, end to end through real sockets: client → API Gateway (HTTPS,
//! custom domain, JWT) → VPC link (mutual TLS) → internal ALB (HTTPS) → Fargate tasks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use airlock_stack::{RunningStack, TokenRequest};
use std::collections::HashSet;
use support::{DOMAIN, ReplyExt, get, https};

support::also_sharded! {
    /// A valid token reaches a task, which sees the ALB's `X-Forwarded-*` headers: the client the
    /// ALB saw is the VPC link's interface, inside the VPC (docs/aws-rules.md §ALB-2.2).
    async fn valid_token_reaches_a_task_through_every_hop() {
        let stack = RunningStack::start_default().await.unwrap();
        let token = stack.token(&[]).unwrap();
        let reply = get(&stack, "/whoami?color=blue", Some(&token)).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(reply.headers.contains_key("apigw-requestid"));
        let who = reply.json();
        let keys: HashSet<&str> = who
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            HashSet::from([
                "method",
                "path",
                "query",
                "headers",
                "task_id",
                "private_ip"
            ])
        );
        assert_eq!(who["method"], "GET");
        assert_eq!(who["path"], "/whoami");
        assert_eq!(who["query"], "color=blue");
        let headers = &who["headers"];
        let xff: std::net::Ipv4Addr = headers["x-forwarded-for"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            stack.network().contains(xff),
            "X-Forwarded-For {xff} should be a VPC link interface inside the VPC"
        );
        assert_eq!(headers["x-forwarded-proto"], "https");
        assert_eq!(headers["x-forwarded-port"], "443");
        assert_eq!(headers["via"], "HTTP/1.1 AmazonAPIGateway");
        let task_ip: std::net::Ipv4Addr = who["private_ip"].as_str().unwrap().parse().unwrap();
        assert!(stack.network().contains(task_ip));
        stack.stop().await;
    }
}

/// docs/aws-rules.md §HTTP-5.1 responses table and docs/aws-rules.md §HTTP-12: no token → 401, `www-authenticate: Bearer`.
#[tokio::test]
async fn no_token_is_401_with_the_exact_body() {
    let stack = RunningStack::start_default().await.unwrap();
    let reply = get(&stack, "/pets", None).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.text(), r#"{"message":"Unauthorized"}"#);
    assert_eq!(reply.h("content-type"), "application/json");
    assert_eq!(reply.h("www-authenticate"), "Bearer");
    assert_eq!(reply.h("apigw-requestid").len(), 16);
}

/// docs/aws-rules.md §HTTP-5.1 step 5 and the troubleshooting text for audiences.
#[tokio::test]
async fn wrong_audience_is_401_invalid_token() {
    let stack = RunningStack::start_default().await.unwrap();
    let token = stack
        .mint_token(&TokenRequest::new("mallory", "someone-else"))
        .unwrap();
    let reply = get(&stack, "/pets", Some(&token)).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.text(), r#"{"message":"Unauthorized"}"#);
    assert_eq!(
        reply.h("www-authenticate"),
        r#"Bearer scope="" error="invalid_token" error_description="the token does not have a valid audience""#
    );
}

support::also_sharded! {
    /// docs/aws-rules.md §HTTP-5.1 step 9: a valid token without the route's scope is 403 `insufficient_scope`; with
    /// it, the request reaches a task.
    async fn post_pets_needs_the_write_scope() {
        let stack = RunningStack::start_default().await.unwrap();
        let gw = stack.endpoints().gateway;
        let post = |token: String| {
            let ca = stack.ca_der();
            async move {
                let auth = format!("Bearer {token}");
                https(
                    gw,
                    ca,
                    DOMAIN,
                    "POST",
                    "/pets",
                    &[
                        ("authorization", &auth),
                        ("content-type", "application/json"),
                    ],
                    r#"{"name":"Rex","type":"dog","price":12.5}"#,
                )
                .await
            }
        };
        let refused = post(stack.token(&["pets/read"]).unwrap()).await;
        assert_eq!(refused.status, 403);
        assert_eq!(refused.text(), r#"{"message":"Forbidden"}"#);
        assert_eq!(
            refused.h("www-authenticate"),
            r#"Bearer scope="pets/write" error="insufficient_scope" error_description="expected scopes: [pets/write]""#
        );
        let created = post(stack.token(&["pets/write"]).unwrap()).await;
        assert_eq!(created.status, 201, "{}", created.text());
        assert_eq!(created.json()["name"], "Rex");
    }
}

/// docs/aws-rules.md §HTTP-2.7 and §HTTP-12: no route → 404 `{"message":"Not Found"}`; an expired token → 401 with AWS's text.
#[tokio::test]
async fn unknown_path_is_404_and_expired_token_is_401() {
    let stack = RunningStack::start_default().await.unwrap();
    let token = stack.token(&[]).unwrap();
    let reply = get(&stack, "/no/such/route", Some(&token)).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.text(), r#"{"message":"Not Found"}"#);
    let mut req = TokenRequest::new("late", "pets-client");
    req.expires_in = -60;
    let expired = stack.mint_token(&req).unwrap();
    let reply = get(&stack, "/pets", Some(&expired)).await;
    assert_eq!(reply.status, 401);
    assert!(
        reply
            .h("www-authenticate")
            .contains(r#"error_description="the token has expired""#)
    );
    // /health needs no token and still works.
    assert_eq!(get(&stack, "/health", None).await.status, 200);
}

support::also_sharded! {
    /// The ALB round-robins over the two registered tasks.
    async fn requests_alternate_between_the_two_tasks() {
        let stack = RunningStack::start_default().await.unwrap();
        let token = stack.token(&[]).unwrap();
        let mut seen = Vec::new();
        for _ in 0..4 {
            let who = get(&stack, "/whoami", Some(&token)).await.json();
            seen.push(who["task_id"].as_str().unwrap().to_owned());
        }
        assert_ne!(
            seen[0], seen[1],
            "consecutive requests went to the same task: {seen:?}"
        );
        assert_eq!(seen[0], seen[2]);
        assert_eq!(seen[1], seen[3]);
        let ips = stack.task_ips();
        assert_eq!(ips["pets"].len(), 2);
    }
}

/// The execute-api host name reaches the same API (docs/aws-rules.md §HTTP-2.1).
#[tokio::test]
async fn execute_api_host_serves_the_api() {
    let stack = RunningStack::start_default().await.unwrap();
    let host = stack.endpoints().api_endpoints["pets-api"].clone();
    let reply = https(
        stack.endpoints().gateway,
        stack.ca_der(),
        &host,
        "GET",
        "/health",
        &[],
        "",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

support::also_sharded! {
    /// The VPC link admits only the gateway: a TLS client without a certificate, and one with a
    /// certificate from airlock's own CA naming another identity, get no tunnel; the gateway's
    /// identity (the positive control) does.
    async fn vpc_link_refuses_clients_that_are_not_the_gateway() {
        let stack = RunningStack::start_default().await.unwrap();
        let link = stack.endpoints().vpc_links["pets-link"];
        let server_name = stack.endpoints().vpc_link_server_names["pets-link"].clone();
        let alb_ip = stack.network().interfaces()[0].interface.ip();
        let ca = stack.ca();
        let task = ca
            .issue_client("spiffe://airlock.local/account/000000000000/ecs/task/x")
            .unwrap();
        let gateway = ca
            .issue_client(&airlock_pki::apigateway_identity(
                "000000000000",
                "pets-link",
            ))
            .unwrap();
        for (client, described, admitted) in [
            (None, "no client certificate", false),
            (Some(&task), "a task's certificate", false),
            (Some(&gateway), "the gateway's certificate", true),
        ] {
            let outcome = airlock_stack::client::vpc_link_connect(
                link,
                stack.ca_der(),
                &server_name,
                client,
                std::net::SocketAddr::from((alb_ip, 443)),
            )
            .await;
            let got_tunnel = matches!(outcome, Ok(200));
            assert_eq!(got_tunnel, admitted, "{described}: {outcome:?}");
        }
    }
}

/// DNS answers the ALB's name with its private node addresses (docs/aws-rules.md §ALB-1.1: an
/// internal ALB's name is public and resolves to private IPs).
#[tokio::test]
async fn dns_answers_the_alb_name_with_private_addresses() {
    let stack = RunningStack::start_default().await.unwrap();
    let alb = stack.endpoints().alb_dns_names["pets-alb"].clone();
    let (_, ips) = airlock_stack::client::dns_a_udp(stack.endpoints().dns, &alb)
        .await
        .unwrap();
    assert_eq!(ips.len(), 2, "{ips:?}");
    for ip in ips {
        assert!(stack.network().contains(ip), "{ip} is not in the VPC");
    }
}

/// Many small headers, far inside API Gateway's 10,240-byte quota and the ALB's 64 KB, reach
/// the task through every hop, and past the quota get the gateway's own 431 (hyper's default of 100 headers once made the task answer an
/// empty 431 of its own once the ALB had added its `X-Forwarded-*`); curl sends them, as a user
/// would.
#[tokio::test]
async fn curl_with_hundreds_of_small_headers_reaches_the_task() {
    if !support::tool("curl", "--version", "apt-get install curl") {
        return;
    }
    let stack = RunningStack::start_default().await.unwrap();
    let token = stack.token(&[]).unwrap();
    let gateway = stack.endpoints().gateway;
    let curl = |headers: Vec<String>| {
        let mut curl = tokio::process::Command::new("curl");
        curl.args(["-s", "--http1.1", "-m", "20", "--cacert"])
            .arg(&stack.endpoints().ca_cert)
            .arg("--resolve")
            .arg(format!("{DOMAIN}:{}:127.0.0.1", gateway.port()))
            .arg("-H")
            .arg(format!("authorization: Bearer {token}"))
            .args(["-w", "\n%{http_code}"]);
        for h in headers {
            curl.arg("-H").arg(h);
        }
        curl.arg(format!("https://{DOMAIN}:{}/whoami", gateway.port()));
        async move {
            let out = curl.output().await.unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let (body, status) = text.rsplit_once('\n').unwrap();
            (status.to_owned(), body.to_owned())
        }
    };
    // Past the 10,240-byte quota in many small headers: the gateway's own JSON 431.
    let (status, body) = curl((0..900).map(|i| format!("x-h{i}: 0123456789")).collect()).await;
    assert_eq!(status, "431", "{body}");
    assert_eq!(body, r#"{"message":"Request Header Fields Too Large"}"#);
    const HEADERS: usize = 300;
    let (status, body) = curl((0..HEADERS).map(|i| format!("x-h{i}: {i}")).collect()).await;
    assert_eq!(status, "200", "{body}");
    let who: serde_json::Value = serde_json::from_str(&body).unwrap();
    let headers = who["headers"].as_object().unwrap();
    for i in [0, HEADERS / 2, HEADERS - 1] {
        assert_eq!(headers[&format!("x-h{i}")], i.to_string(), "{body}");
    }
    assert!(headers.contains_key("x-forwarded-for"), "{body}");
}
