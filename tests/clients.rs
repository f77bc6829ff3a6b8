//! The clients people use get every answer whole: curl over HTTP/1.1 and HTTP/2, nghttp and
//! python-requests, against the default stack, for the answers the gateway and the load
//! balancer give without reading the request body.
//!
//! Each case repeats (30 tries for small bodies) because the failures they guard against are
//! races: a response followed by `RST_STREAM(NO_ERROR)` over HTTP/2, or a connection closed with
//! the body unread over HTTP/1.1, lose the status in some tries and not others.
//!
//! The statuses and bodies are API Gateway's (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html,
//! "Controlling access to HTTP APIs with JWT authorizers"; quotas in
//! https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html,
//! "Quotas for configuring and running an HTTP API": payload size 10 MB) and the ALB's
//! (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html,
//! "Troubleshoot your Application Load Balancers": HTTP 400, 405, 414).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use airlock_stack::RunningStack;
use std::net::SocketAddr;
use std::path::Path;
use support::DOMAIN;

/// What curl reported for one exchange.
#[derive(Debug)]
struct Curl {
    exit: Option<i32>,
    status: String,
    body: String,
}

/// Runs curl once; `args` come after the common ones (silent, status on stdout after the body).
async fn curl(args: &[&str]) -> Curl {
    let out = tokio::process::Command::new("curl")
        .args(["-s", "-m", "30", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .await
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    Curl {
        exit: out.status.code(),
        status: status.to_owned(),
        body: body.to_owned(),
    }
}

/// A file of `len` bytes of `a`, for curl's `--data-binary @file`.
fn body_file(dir: &Path, len: usize) -> String {
    let path = dir.join(format!("body-{len}"));
    std::fs::write(&path, vec![b'a'; len]).unwrap();
    path.display().to_string()
}

/// curl's arguments that reach the gateway's custom domain on the stack's host port.
fn to_gateway(stack: &RunningStack) -> Vec<String> {
    let gw = stack.endpoints().gateway;
    vec![
        "--cacert".into(),
        stack.endpoints().ca_cert.display().to_string(),
        "--resolve".into(),
        format!("{DOMAIN}:{}:127.0.0.1", gw.port()),
    ]
}

/// One kind of POST and what it must get.
struct Case {
    what: &'static str,
    /// curl arguments: `-H` and a header, repeated.
    headers: Vec<String>,
    url: String,
    /// `@file`.
    body: String,
    tries: usize,
    status: &'static str,
    expected: &'static str,
}

fn url(stack: &RunningStack, path: &str) -> String {
    format!(
        "https://{DOMAIN}:{}{path}",
        stack.endpoints().gateway.port()
    )
}

/// Every gateway refusal of a POST with a body reaches curl whole, with its status and AWS's
/// JSON body, over HTTP/1.1 and HTTP/2, in every try: 401 without a token, 403 without the
/// scope, 404 for no route, 413 for a body over the 10 MB quota (declared, or chunked).
#[tokio::test]
async fn curl_gets_every_gateway_refusal_of_a_request_with_a_body() {
    if !support::tool("curl", "--version", "apt-get install curl") {
        return;
    }
    let stack = RunningStack::start_default().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let small = body_file(dir.path(), 2_000);
    let big = body_file(dir.path(), 11 * 1024 * 1024);
    let write = format!(
        "authorization: Bearer {}",
        stack.token(&["pets/write"]).unwrap()
    );
    let read_only = format!("authorization: Bearer {}", stack.token(&[]).unwrap());
    let common = to_gateway(&stack);
    let pets = url(&stack, "/pets");
    let nowhere = url(&stack, "/nowhere");
    let small_arg = format!("@{small}");
    let big_arg = format!("@{big}");
    let case =
        |what, headers: Vec<&'static str>, url: &str, body: &str, tries, status, expected| Case {
            what,
            headers: headers.into_iter().map(str::to_owned).collect(),
            url: url.to_owned(),
            body: body.to_owned(),
            tries,
            status,
            expected,
        };
    let mut cases = vec![
        case(
            "no token",
            vec![],
            &pets,
            &small_arg,
            30,
            "401",
            r#"{"message":"Unauthorized"}"#,
        ),
        case(
            "no route",
            vec![],
            &nowhere,
            &small_arg,
            30,
            "404",
            r#"{"message":"Not Found"}"#,
        ),
    ];
    let mut with = |what,
                    auth: &str,
                    extra: Option<&'static str>,
                    url: &str,
                    body: &str,
                    tries,
                    status,
                    expected| {
        let mut c = case(what, vec![], url, body, tries, status, expected);
        c.headers = vec!["-H".to_owned(), auth.to_owned()];
        if let Some(h) = extra {
            c.headers.extend(["-H".to_owned(), h.to_owned()]);
        }
        cases.push(c);
    };
    with(
        "no scope",
        &read_only,
        None,
        &pets,
        &small_arg,
        30,
        "403",
        r#"{"message":"Forbidden"}"#,
    );
    with(
        "declared 11 MiB",
        &write,
        None,
        &pets,
        &big_arg,
        4,
        "413",
        r#"{"message":"Request Entity Too Large"}"#,
    );
    with(
        "chunked 11 MiB",
        &write,
        Some("transfer-encoding: chunked"),
        &pets,
        &big_arg,
        4,
        "413",
        r#"{"message":"Request Entity Too Large"}"#,
    );
    for proto in ["--http1.1", "--http2"] {
        for c in &cases {
            for i in 0..c.tries {
                let mut args: Vec<&str> = common.iter().map(String::as_str).collect();
                args.extend([proto, "-X", "POST", "--data-binary", &c.body]);
                args.extend(c.headers.iter().map(String::as_str));
                args.push(&c.url);
                let got = curl(&args).await;
                assert_eq!(
                    (got.exit, got.status.as_str(), got.body.as_str()),
                    (Some(0), c.status, c.expected),
                    "{proto} {}, try {i}: {got:?}",
                    c.what
                );
            }
        }
    }
    // Still serving after all of it, on both protocols.
    for proto in ["--http1.1", "--http2"] {
        let mut args: Vec<&str> = common.iter().map(String::as_str).collect();
        let health = url(&stack, "/health");
        args.extend([proto, health.as_str()]);
        let got = curl(&args).await;
        assert_eq!((got.exit, got.status.as_str()), (Some(0), "200"), "{got:?}");
    }
}

/// The load balancer's own answers to a POST with a body reach curl whole through the `vpc`
/// vantage point, over HTTP/1.1 and HTTP/2: 414 for a request line over 16 KB and 400 for a
/// header over 16 KB, each with a 1 MB body, and 405 for TRACE.
#[tokio::test]
async fn curl_gets_every_load_balancer_refusal_of_a_request_with_a_body() {
    if !support::tool("curl", "--version", "apt-get install curl") {
        return;
    }
    let stack = RunningStack::start_default().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mega = format!("@{}", body_file(dir.path(), 1_000_000));
    let small = format!("@{}", body_file(dir.path(), 2_000));
    let vpc: SocketAddr = stack
        .endpoints()
        .socks_vpc
        .expect("the default stack's vpc");
    let vpc = vpc.to_string();
    let ca = stack.endpoints().ca_cert.display().to_string();
    // Inside the VPC the private zone sends the custom domain to the ALB.
    let long_url = format!("https://{DOMAIN}/?q={}", "a".repeat(17_000));
    let root = format!("https://{DOMAIN}/");
    let big_header = format!("x-big: {}", "b".repeat(17_000));
    let cases: Vec<(&str, Vec<&str>, usize, &str)> = vec![
        (
            "request line over 16 KB",
            vec!["-X", "POST", "--data-binary", &mega, &long_url],
            10,
            "414",
        ),
        (
            "header over 16 KB",
            vec![
                "-X",
                "POST",
                "-H",
                &big_header,
                "--data-binary",
                &mega,
                &root,
            ],
            10,
            "400",
        ),
        (
            "TRACE",
            vec!["-X", "TRACE", "--data-binary", &small, &root],
            30,
            "405",
        ),
    ];
    for proto in ["--http1.1", "--http2"] {
        for (what, rest, tries, status) in &cases {
            for i in 0..*tries {
                let mut args = vec![proto, "--socks5-hostname", &vpc, "--cacert", &ca];
                args.extend(rest.iter().copied());
                let got = curl(&args).await;
                assert_eq!(
                    (got.exit, got.status.as_str()),
                    (Some(0), *status),
                    "{proto} {what}, try {i}: {got:?}"
                );
                assert!(
                    got.body.contains(&format!("<title>{status} ")),
                    "{proto} {what}: the ALB's page: {got:?}"
                );
            }
        }
    }
}

/// python-requests writes the whole body before it reads the answer: a gateway that closes
/// with the body unread makes it fail with `SSLEOFError`. Through the `internet` vantage point
/// (HTTP CONNECT), 30 POSTs of 1 MB without a token get 401, 30 without the scope 403, and
/// 11 MB gets 413; through the `vpc` one, the ALB's 414 with a 1 MB body.
#[tokio::test]
async fn python_requests_gets_refusals_of_a_one_megabyte_body() {
    if !support::python_module("requests", "pip install requests") {
        return;
    }
    let stack = RunningStack::start_default().await.unwrap();
    let e = stack.endpoints();
    let script = r#"
import json, sys, requests
internet, vpc, ca, domain, write, read_only = sys.argv[1:7]
out = []
def post(proxy, url, headers, size):
    s = requests.Session()
    s.trust_env = False
    try:
        r = s.post(url, data=b"a" * size, headers=headers, verify=ca,
                   proxies={"https": "http://" + proxy}, timeout=30)
        return str(r.status_code)
    except Exception as e:
        return type(e).__name__ + ": " + str(e)[:200]
for _ in range(30):
    out.append(("401", post(internet, f"https://{domain}/pets", {}, 1_000_000)))
    out.append(("403", post(internet, f"https://{domain}/pets", {"authorization": "Bearer " + read_only}, 1_000_000)))
for _ in range(3):
    out.append(("413", post(internet, f"https://{domain}/pets", {"authorization": "Bearer " + write}, 11 * 1024 * 1024)))
for _ in range(10):
    out.append(("414", post(vpc, f"https://{domain}/?q=" + "a" * 17000, {}, 1_000_000)))
print(json.dumps(out))
"#;
    let out = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(e.socks_internet.to_string())
        .arg(e.socks_vpc.expect("vpc vantage").to_string())
        .arg(&e.ca_cert)
        .arg(DOMAIN)
        .arg(stack.token(&["pets/write"]).unwrap())
        .arg(stack.token(&[]).unwrap())
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let pairs: Vec<(String, String)> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pairs.len(), 73);
    for (i, (expected, got)) in pairs.iter().enumerate() {
        assert_eq!(got, expected, "exchange {i}");
    }
}

/// A response to HEAD carries no body on either protocol: over HTTP/2 nghttp sees the gateway's
/// headers end the stream (no DATA frame, no reset), with the `content-length` GET would have.
/// RFC 9110, section 9.3.2 (HEAD).
#[tokio::test]
async fn nghttp_gets_head_responses_without_a_body() {
    if !support::tool("nghttp", "--version", "apt-get install nghttp2-client") {
        return;
    }
    let stack = RunningStack::start_default().await.unwrap();
    let gw = stack.endpoints().gateway;
    for path in ["/pets", "/nowhere", "/health"] {
        for i in 0..10 {
            let out = tokio::process::Command::new("nghttp")
                .args(["-v", "-H", ":method: HEAD", "-H"])
                .arg(format!(":authority: {DOMAIN}"))
                .arg(format!("https://127.0.0.1:{}{path}", gw.port()))
                .output()
                .await
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{path} try {i}: {text}");
            assert!(text.contains(":status: "), "{path}: {text}");
            assert!(text.contains("content-length: "), "{path}: {text}");
            assert!(
                text.contains("recv HEADERS frame") && text.contains("END_STREAM"),
                "{path}: {text}"
            );
            assert!(!text.contains("recv DATA frame"), "{path} try {i}: {text}");
            assert!(!text.contains("RST_STREAM"), "{path} try {i}: {text}");
        }
    }
}
