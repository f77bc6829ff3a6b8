//! API Gateway conformance through real sockets: a TLS client → the gateway on 127.0.0.1:0 →
//! an echo backend on 127.0.0.1:0 (URL integrations) or through a loopback tunnel (private
//! integrations). Sections cite `docs/aws-rules.md`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use airlock_gateway::access_log::{AccessLogConfig, CLF_FORMAT, JSON_FORMAT, LogSink};
use airlock_gateway::cors::CorsConfig;
use airlock_gateway::mapping::{RequestParameter, ResponseMapping};
use airlock_gateway::{
    ApiConfig, ApiMapping, Authorization, BoxIo, Integration, IntegrationTarget, PrivateTarget,
    RouteConfig, RouteSettings, StageConfig, Tunnel,
};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

mod gw_support;

use gw_support::{Gw, Pki, ReqBody, exec_host};

// ---------------------------------------------------------------------------------------------
// The backend: echoes the request as JSON; `/status/<n>` answers n with backend CORS headers;
// `/hang` never answers.

async fn backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|req: Request<Incoming>| async move {
                    let path = req.uri().path().to_owned();
                    if path.ends_with("/hang") {
                        std::future::pending::<()>().await;
                    }
                    if path.ends_with("/first-frame") {
                        // Answers as soon as the first body bytes arrive: only a streamed
                        // request body gets an answer before the client finishes it.
                        let mut body = req.into_body();
                        let first = loop {
                            match body.frame().await {
                                Some(Ok(f)) => match f.into_data() {
                                    Ok(d) if !d.is_empty() => break d,
                                    _ => continue,
                                },
                                _ => break Bytes::new(),
                            }
                        };
                        let json =
                            serde_json::json!({ "first_frame": String::from_utf8_lossy(&first) });
                        return Ok(hyper::Response::new(Full::new(Bytes::from(
                            json.to_string(),
                        ))));
                    }
                    let headers: serde_json::Map<String, serde_json::Value> = req
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").into()))
                        .collect();
                    let method = req.method().to_string();
                    let query = req.uri().query().map(str::to_owned);
                    let body = req
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let json = serde_json::json!({
                        "method": method, "path": path, "query": query, "headers": headers,
                        "body_len": body.len(),
                        "body_head": String::from_utf8_lossy(&body[..body.len().min(64)]),
                    });
                    let mut resp = hyper::Response::new(Full::new(Bytes::from(json.to_string())));
                    if let Some(code) = path.strip_prefix("/status/") {
                        *resp.status_mut() = StatusCode::from_u16(code.parse().unwrap()).unwrap();
                    }
                    resp.headers_mut()
                        .insert("access-control-allow-origin", "*".parse().unwrap());
                    resp.headers_mut()
                        .insert("x-backend", "yes".parse().unwrap());
                    Ok::<_, std::convert::Infallible>(resp)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// A VPC link stand-in: every private destination leads to `to`, and the destination asked
/// for is recorded.
struct LoopTunnel {
    to: SocketAddr,
}

impl Tunnel for LoopTunnel {
    fn open(
        &self,
        _dest: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<BoxIo>> + Send>> {
        let to = self.to;
        Box::pin(async move { Ok(Box::new(TcpStream::connect(to).await?) as BoxIo) })
    }
}

// ---------------------------------------------------------------------------------------------
// Building configs.

fn url_integration(uri: String) -> Integration {
    gw_support::url_integration(uri, Vec::new())
}

/// Every response says which route, stage and mapping key served it (docs/aws-rules.md §HTTP-4.6 response
/// mapping with `$context` values).
fn tagged(mut i: Integration) -> Integration {
    for status in ["200", "404", "500"] {
        i.response_parameters.push(
            ResponseMapping::parse(
                status,
                [
                    ("overwrite:header.x-route", "$context.routeKey"),
                    ("overwrite:header.x-stage", "$context.stage"),
                    (
                        "overwrite:header.x-base-path",
                        "$context.customDomain.basePathMatched",
                    ),
                ],
            )
            .unwrap(),
        );
    }
    i
}

fn routes(keys: &[&str], integration: Integration) -> Vec<RouteConfig> {
    let integration = Arc::new(integration);
    keys.iter()
        .map(|k| RouteConfig {
            key: k.parse().unwrap(),
            authorization: Authorization::None,
            integration: integration.clone(),
        })
        .collect()
}

fn api(id: &str, stages: Vec<StageConfig>, routes: Vec<RouteConfig>) -> ApiConfig {
    ApiConfig {
        id: id.into(),
        name: id.into(),
        disable_execute_api_endpoint: false,
        stages,
        routes,
        cors: None,
    }
}

// ---------------------------------------------------------------------------------------------
// The gateway under test and a client.

/// The shared gateway harness; its answers seen as [`Reply`].
struct Harness(Gw);

async fn start(apis: Vec<ApiConfig>, domains: &[(&str, Vec<ApiMapping>)]) -> Harness {
    let domains = domains
        .iter()
        .map(|(name, mappings)| {
            let mappings = mappings
                .iter()
                .map(|m| ApiMapping {
                    key: m.key.clone(),
                    api_id: m.api_id.clone(),
                    stage: m.stage.clone(),
                })
                .collect();
            (*name, mappings)
        })
        .collect();
    Harness(gw_support::start(Pki::new(), apis, domains).await)
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: http::HeaderMap,
    body: Bytes,
    version: http::Version,
}

impl Reply {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {:?}", String::from_utf8_lossy(&self.body)))
    }
    fn header(&self, n: &str) -> &str {
        self.headers.get(n).map_or("", |v| v.to_str().unwrap())
    }
    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

impl Harness {
    async fn send_with(&self, host: &str, req: Request<ReqBody>, h2: bool) -> Reply {
        let r = self.0.send(host, req, h2).await;
        Reply {
            status: r.status.as_u16(),
            headers: r.headers,
            body: r.body,
            version: r.version,
        }
    }

    async fn request(
        &self,
        host: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut b = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b.body(gw_support::empty()).unwrap();
        self.send_with(host, req, false).await
    }

    async fn get(&self, host: &str, path: &str) -> Reply {
        self.request(host, "GET", path, &[]).await
    }
}

fn assert_refusal(r: &Reply, status: u16, message: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.text(), format!("{{\"message\":\"{message}\"}}"));
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(r.header("apigw-requestid").len(), 16);
}

// ---------------------------------------------------------------------------------------------
// docs/aws-rules.md §HTTP-2.2–§HTTP-2.7: stages and route selection, through the wire.

#[tokio::test]
async fn route_selection_and_stages_over_the_wire() {
    let be = backend().await;
    let keys = [
        "GET /pets/dog/1",
        "GET /pets/dog/{id}",
        "GET /pets/{proxy+}",
        "ANY /{proxy+}",
        "$default",
        "GET /things",
        "OPTIONS /opt",
    ];
    let a = api(
        "routes0001",
        vec![StageConfig::named("$default"), StageConfig::named("dev")],
        routes(&keys, tagged(url_integration(format!("http://{be}")))),
    );
    let h = start(vec![a], &[]).await;
    let host = exec_host("routes0001");
    // (method, path, route, stage) — docs/aws-rules.md §HTTP-2.4 worked example, docs/aws-rules.md §HTTP-2.2 stage selection, docs/aws-rules.md §HTTP-2.5 trailing
    // slash, docs/aws-rules.md §HTTP-2.6 HEAD and OPTIONS.
    let table: &[(&str, &str, &str, &str)] = &[
        ("GET", "/pets/dog/1", "GET /pets/dog/1", "$default"),
        ("GET", "/pets/dog/2", "GET /pets/dog/{id}", "$default"),
        ("GET", "/pets/cat/1", "GET /pets/{proxy+}", "$default"),
        ("POST", "/test/5", "ANY /{proxy+}", "$default"),
        ("GET", "/", "$default", "$default"),
        ("GET", "/dev/pets/dog/1", "GET /pets/dog/1", "dev"),
        ("GET", "/dev", "$default", "dev"),
        ("GET", "/Dev/pets/dog/1", "ANY /{proxy+}", "$default"),
        ("GET", "/things/", "GET /things", "$default"),
        ("HEAD", "/things", "ANY /{proxy+}", "$default"),
        ("OPTIONS", "/opt", "OPTIONS /opt", "$default"),
    ];
    for (method, path, route, stage) in table {
        let r = h.request(&host, method, path, &[]).await;
        assert_eq!(r.status, 200, "{method} {path}: {}", r.text());
        assert_eq!(r.header("x-route"), *route, "{method} {path}");
        assert_eq!(r.header("x-stage"), *stage, "{method} {path}");
    }
}

/// docs/aws-rules.md §HTTP-2.7 and §HTTP-12: no stage and no route give the exact 404; docs/aws-rules.md §HTTP-2.5: path variables are decoded.
#[tokio::test]
async fn not_found_catalogue_and_decoded_parameters() {
    let be = backend().await;
    let mut i = url_integration(format!("http://{be}/echo"));
    i.request_parameters =
        vec![RequestParameter::parse("overwrite:header.x-id", "$request.path.id").unwrap()];
    let a = api(
        "notfound01",
        vec![StageConfig::named("dev")],
        routes(&["GET /pets/{id}"], i),
    );
    let h = start(vec![a], &[]).await;
    let host = exec_host("notfound01");
    assert_refusal(&h.get(&host, "/pets/1").await, 404, "Not Found");
    assert_refusal(&h.get(&host, "/dev/other").await, 404, "Not Found");
    assert_refusal(
        &h.get("unknown0001.execute-api.us-east-1.amazonaws.com", "/")
            .await,
        404,
        "Not Found",
    );
    let r = h.get(&host, "/dev/pets/a%20b").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["headers"]["x-id"], "a b");
}

// ---------------------------------------------------------------------------------------------
// docs/aws-rules.md §HTTP-4.2 URL integrations and docs/aws-rules.md §HTTP-3.2 stage variables.

#[tokio::test]
async fn url_integration_path_rules_and_stage_variables() {
    let be = backend().await;
    let mut dev = StageConfig::named("dev");
    dev.variables.insert("port".into(), be.port().to_string());
    dev.variables.insert("env".into(), "development".into());
    let mut rs = routes(
        &["GET /pets/{petID}"],
        url_integration("http://127.0.0.1:${stageVariables.port}/pets/extendedpath/{petID}".into()),
    );
    rs.extend(routes(
        &["GET /parent/{proxy+}"],
        url_integration(format!("http://{be}/petstore/{{proxy}}")),
    ));
    rs.extend(routes(
        &["$default"],
        url_integration(format!("http://{be}/base?fixed=1")),
    ));
    rs.extend(routes(
        &["GET /plain"],
        url_integration(format!("http://{be}")),
    ));
    let mut mapped = url_integration(format!("http://{be}/m"));
    mapped.request_parameters = vec![
        RequestParameter::parse("overwrite:header.x-env", "$stageVariables.env").unwrap(),
        RequestParameter::parse(
            "append:header.x-multi",
            "${stageVariables.env}-${request.querystring.a}",
        )
        .unwrap(),
        RequestParameter::parse("overwrite:querystring.a", "changed").unwrap(),
        RequestParameter::parse("remove:querystring.drop", "").unwrap(),
        RequestParameter::parse("remove:header.x-secret", "").unwrap(),
        RequestParameter::parse("overwrite:header.host", "override.internal").unwrap(),
    ];
    rs.extend(routes(&["GET /mapped"], mapped));
    let mut rewrite = url_integration(format!("http://{be}/ignored"));
    rewrite.request_parameters =
        vec![RequestParameter::parse("overwrite:path", "/rewritten/${request.path.x}").unwrap()];
    rs.extend(routes(&["GET /rewrite/{x}"], rewrite));
    let a = api("urlinteg01", vec![dev], rs);
    let h = start(vec![a], &[]).await;
    let host = exec_host("urlinteg01");

    // (request path, backend path, backend query)
    let table: &[(&str, &str, Option<&str>)] = &[
        ("/dev/pets/7", "/pets/extendedpath/7", None),
        ("/dev/parent/a/b%20c", "/petstore/a/b%20c", None),
        (
            "/dev/store/checkout?x=1",
            "/base/store/checkout",
            Some("fixed=1&x=1"),
        ),
        ("/dev/plain?q=1", "/", Some("q=1")),
        ("/dev/rewrite/abc", "/rewritten/abc", None),
    ];
    for (path, want_path, want_query) in table {
        let r = h.get(&host, path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let j = r.json();
        assert_eq!(j["path"], *want_path, "{path}");
        assert_eq!(j["query"].as_str(), *want_query, "{path}");
        // docs/aws-rules.md §HTTP-4.7: Host is the URL's authority; Forwarded and Via added.
        assert_eq!(j["headers"]["host"], be.to_string());
        assert_eq!(j["headers"]["via"], "HTTP/1.1 AmazonAPIGateway");
        assert!(
            j["headers"]["forwarded"]
                .as_str()
                .unwrap()
                .starts_with("by=198.51.100.10;for=127.0.0.1;host=urlinteg01.")
        );
        assert!(
            j["headers"]["x-amzn-trace-id"]
                .as_str()
                .unwrap()
                .starts_with("Root=1-")
        );
    }

    // docs/aws-rules.md §HTTP-4.6 request mapping: headers and query strings.
    let r = h
        .request(
            &host,
            "GET",
            "/dev/mapped?a=1&drop=x&keep=2",
            &[("x-multi", "first"), ("x-secret", "s")],
        )
        .await;
    let j = r.json();
    assert_eq!(j["headers"]["x-env"], "development");
    assert_eq!(j["headers"]["x-multi"], "first,development-1");
    assert!(j["headers"].get("x-secret").is_none());
    assert_eq!(j["headers"]["host"], "override.internal");
    assert_eq!(j["query"], "keep=2&a=changed");
}

// ---------------------------------------------------------------------------------------------
// docs/aws-rules.md §HTTP-4.3 private integrations, docs/aws-rules.md §HTTP-6 custom domains and mappings.

fn private_integration(be: SocketAddr) -> Integration {
    Integration {
        name: "private".into(),
        method: None,
        timeout: Duration::from_secs(30),
        target: IntegrationTarget::Private(PrivateTarget {
            tunnel: Arc::new(LoopTunnel { to: be }),
            destinations: vec!["10.0.1.10:80".parse().unwrap()],
            tls_server_name: None,
            tls_roots: Vec::new(),
            host_header: "internal-alb.elb.amazonaws.com".into(),
        }),
        request_parameters: Vec::new(),
        response_parameters: Vec::new(),
    }
}

#[tokio::test]
async fn private_path_rules_and_custom_domain_mappings() {
    let be = backend().await;
    let orders = api(
        "orders0001",
        vec![StageConfig::named("$default"), StageConfig::named("test")],
        routes(
            &["ANY /{proxy+}", "$default"],
            tagged(private_integration(be)),
        ),
    );
    let mut strip = private_integration(be);
    strip.request_parameters =
        vec![RequestParameter::parse("overwrite:path", "$request.path").unwrap()];
    let mut shop = api(
        "shop000001",
        vec![StageConfig::named("prod")],
        routes(&["ANY /{proxy+}", "$default"], tagged(strip)),
    );
    shop.disable_execute_api_endpoint = true;
    let m = |key: &str, api: &str, stage: &str| ApiMapping {
        key: key.into(),
        api_id: api.into(),
        stage: stage.into(),
    };
    let h = start(
        vec![orders, shop],
        &[
            (
                "multi.example.com",
                vec![
                    m("", "orders0001", "$default"),
                    m("orders", "orders0001", "test"),
                    m("orders/shop/5", "shop000001", "prod"),
                ],
            ),
            (
                "single.example.com",
                vec![
                    m("", "orders0001", "$default"),
                    m("orders", "shop000001", "prod"),
                ],
            ),
        ],
    )
    .await;

    // docs/aws-rules.md §HTTP-4.3: a named stage keeps its segment toward the load balancer; overwrite:path drops it.
    let r = h.get(&exec_host("orders0001"), "/test/a/b?q=1").await;
    assert_eq!(r.json()["path"], "/test/a/b");
    assert_eq!(r.json()["query"], "q=1");
    assert_eq!(
        r.json()["headers"]["host"],
        "internal-alb.elb.amazonaws.com"
    );
    assert_eq!(r.header("x-stage"), "test");
    // docs/aws-rules.md §HTTP-6.3: the disabled default endpoint is 404.
    assert_refusal(
        &h.get(&exec_host("shop000001"), "/prod/x").await,
        404,
        "Not Found",
    );

    // (domain, request path, stage, backend path, basePathMatched) — docs/aws-rules.md §HTTP-6.2.
    let table: &[(&str, &str, &str, &str, &str)] = &[
        (
            "multi.example.com",
            "/orders/shop/5/hats",
            "prod",
            "/hats",
            "orders/shop/5",
        ),
        ("multi.example.com", "/orders/1", "test", "/1", "orders"),
        (
            "multi.example.com",
            "/ordersandmore",
            "test",
            "/andmore",
            "orders",
        ),
        ("multi.example.com", "/other/x", "$default", "/other/x", ""),
        (
            "single.example.com",
            "/ordersandmore",
            "$default",
            "/ordersandmore",
            "",
        ),
        ("single.example.com", "/orders/z", "prod", "/z", "orders"),
    ];
    for (domain, path, stage, backend_path, base) in table {
        let r = h.get(domain, path).await;
        assert_eq!(r.status, 200, "{domain}{path}: {}", r.text());
        assert_eq!(r.header("x-stage"), *stage, "{domain}{path}");
        assert_eq!(r.json()["path"], *backend_path, "{domain}{path}");
        assert_eq!(r.header("x-base-path"), *base, "{domain}{path}");
    }

    // HTTP/2 from the client, HTTP/1.1 to the backend (docs/aws-rules.md §HTTP-2.1).
    let req = Request::get("/orders/1")
        .body(Full::new(Bytes::new()).boxed())
        .unwrap();
    let r = h.send_with("multi.example.com", req, true).await;
    assert_eq!(r.version, http::Version::HTTP_2);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["path"], "/1");
}

// ---------------------------------------------------------------------------------------------
// docs/aws-rules.md §HTTP-4.4, §HTTP-4.5, §HTTP-8: failures and limits.

#[tokio::test]
async fn timeouts_failures_and_limits() {
    let be = backend().await;
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let mut slow = url_integration(format!("http://{be}/hang"));
    slow.timeout = Duration::from_millis(100);
    let mut rs = routes(&["GET /slow"], slow);
    rs.extend(routes(
        &["GET /refused"],
        url_integration(format!("http://{closed}/")),
    ));
    rs.extend(routes(
        &["GET /faraway"],
        url_integration("http://192.0.2.1/".into()),
    ));
    rs.extend(routes(
        &["POST /upload"],
        url_integration(format!("http://{be}/up")),
    ));
    let h = start(
        vec![api("limits0001", vec![StageConfig::named("$default")], rs)],
        &[],
    )
    .await;
    let host = exec_host("limits0001");

    assert_refusal(&h.get(&host, "/slow").await, 503, "Service Unavailable");
    assert_refusal(
        &h.get(&host, "/refused").await,
        500,
        "Internal Server Error",
    );
    assert_refusal(
        &h.get(&host, "/faraway").await,
        500,
        "Internal Server Error",
    );

    // docs/aws-rules.md §HTTP-8: a declared length over 10 MB is refused before the backend is called.
    let r = h
        .request(&host, "POST", "/upload", &[("content-length", "10485761")])
        .await;
    assert_refusal(&r, 413, "Request Entity Too Large");

    // A streamed (chunked) body is counted as it passes; within the quota it streams through.
    let chunks = |n: usize| {
        let stream = futures_util::stream::iter((0..n).map(|_| {
            Ok::<_, std::convert::Infallible>(http_body::Frame::data(Bytes::from(vec![
                b'x';
                1 << 20
            ])))
        }));
        StreamBody::new(stream).boxed()
    };
    let req = Request::post("/upload").body(chunks(2)).unwrap();
    let r = h.send_with(&host, req, false).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["body_len"], 2 << 20);
    let req = Request::post("/upload").body(chunks(11)).unwrap();
    assert_refusal(
        &h.send_with(&host, req, false).await,
        413,
        "Request Entity Too Large",
    );

    // docs/aws-rules.md §HTTP-8: request line + headers over 10,240 bytes.
    let big = "x".repeat(10_300);
    let r = h.request(&host, "GET", "/slow", &[("x-big", &big)]).await;
    assert_refusal(&r, 431, "Request Header Fields Too Large");
}

// ---------------------------------------------------------------------------------------------
// docs/aws-rules.md §HTTP-2.8 CORS.

#[tokio::test]
async fn cors_preflight_and_actual_responses() {
    let be = backend().await;
    let mut a = api(
        "cors000001",
        vec![StageConfig::named("$default")],
        routes(
            &["GET /pets", "OPTIONS /own"],
            url_integration(format!("http://{be}")),
        ),
    );
    a.cors = Some(CorsConfig {
        allow_origins: vec!["https://app.example.com".into()],
        allow_credentials: true,
        expose_headers: vec!["x-backend".into()],
        max_age: Some(300),
        allow_methods: vec!["GET".into(), "POST".into()],
        allow_headers: vec!["authorization".into()],
    });
    let h = start(vec![a], &[]).await;
    let host = exec_host("cors000001");
    let preflight = [
        ("origin", "https://app.example.com"),
        ("access-control-request-method", "GET"),
    ];
    let r = h.request(&host, "OPTIONS", "/pets", &preflight).await;
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert_eq!(
        r.header("access-control-allow-origin"),
        "https://app.example.com"
    );
    assert_eq!(r.header("access-control-allow-methods"), "GET,POST");
    assert_eq!(r.header("access-control-allow-headers"), "authorization");
    assert_eq!(r.header("access-control-max-age"), "300");
    assert_eq!(r.header("access-control-allow-credentials"), "true");
    assert_eq!(r.header("apigw-requestid").len(), 16);
    // A disallowed origin: 204 without access-control headers (unconfirmed choice).
    let r = h
        .request(
            &host,
            "OPTIONS",
            "/pets",
            &[
                ("origin", "https://evil.test"),
                ("access-control-request-method", "GET"),
            ],
        )
        .await;
    assert_eq!(r.status, 204);
    assert!(!r.headers.contains_key("access-control-allow-origin"));
    // An OPTIONS route takes the preflight itself (rule 2).
    let r = h.request(&host, "OPTIONS", "/own", &preflight).await;
    assert_eq!(r.status, 200);
    // Actual request: the backend's `*` is replaced (rule 4).
    let r = h
        .request(
            &host,
            "GET",
            "/pets",
            &[("origin", "https://app.example.com")],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        "https://app.example.com"
    );
    assert_eq!(r.header("access-control-expose-headers"), "x-backend");
    // Without Origin no CORS headers at all (rule 1), and the backend's are dropped.
    let r = h.get(&host, "/pets").await;
    assert!(!r.headers.contains_key("access-control-allow-origin"));
    // A non-preflight OPTIONS with no route is a plain 404.
    assert_eq!(h.request(&host, "OPTIONS", "/pets", &[]).await.status, 404);
}

// ---------------------------------------------------------------------------------------------
// docs/aws-rules.md §HTTP-3.3 throttling and docs/aws-rules.md §HTTP-4.6 response mapping.

#[tokio::test]
async fn throttling_per_route_per_stage() {
    let be = backend().await;
    let mut stage = StageConfig::named("$default");
    stage.default_route_settings = RouteSettings {
        throttling_burst_limit: Some(2),
        throttling_rate_limit: Some(0.0),
    };
    stage.route_settings.insert(
        "GET /closed".into(),
        RouteSettings {
            throttling_burst_limit: Some(0),
            throttling_rate_limit: Some(0.0),
        },
    );
    let mut other = StageConfig::named("other");
    other.default_route_settings = stage.default_route_settings;
    let h = start(
        vec![api(
            "throttle01",
            vec![stage, other],
            routes(
                &["GET /a", "GET /b", "GET /closed"],
                url_integration(format!("http://{be}")),
            ),
        )],
        &[],
    )
    .await;
    let host = exec_host("throttle01");
    assert_eq!(h.get(&host, "/a").await.status, 200);
    assert_eq!(h.get(&host, "/a").await.status, 200);
    assert_refusal(&h.get(&host, "/a").await, 429, "Too Many Requests");
    // Another route and another stage have their own buckets.
    assert_eq!(h.get(&host, "/b").await.status, 200);
    assert_eq!(h.get(&host, "/other/a").await.status, 200);
    // 0/0 refuses everything.
    assert_refusal(&h.get(&host, "/closed").await, 429, "Too Many Requests");
}

#[tokio::test]
async fn response_mapping_by_status() {
    let be = backend().await;
    let mut stage = StageConfig::named("$default");
    stage
        .variables
        .insert("environmentId".into(), "env-7".into());
    let mut i = url_integration(format!("http://{be}"));
    i.response_parameters = vec![
        ResponseMapping::parse(
            "500",
            [
                ("overwrite:statuscode", "403"),
                ("append:header.x-from", "$response.header.x-backend"),
            ],
        )
        .unwrap(),
        ResponseMapping::parse(
            "404",
            [
                ("append:header.error", "$stageVariables.environmentId"),
                ("remove:header.x-backend", ""),
            ],
        )
        .unwrap(),
    ];
    let h = start(
        vec![api("respmap001", vec![stage], routes(&["$default"], i))],
        &[],
    )
    .await;
    let host = exec_host("respmap001");
    let r = h.get(&host, "/status/500").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-from"), "yes");
    let r = h.get(&host, "/status/404").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("error"), "env-7");
    assert!(!r.headers.contains_key("x-backend"));
    let r = h.get(&host, "/status/201").await;
    assert_eq!(r.status, 201);
    assert_eq!(r.header("x-backend"), "yes");
}

// ---------------------------------------------------------------------------------------------
// docs/aws-rules.md §HTTP-9 access logs.

struct ChannelSink(mpsc::UnboundedSender<String>);

impl LogSink for ChannelSink {
    fn write_line(&self, line: &str) {
        let _ = self.0.send(line.to_owned());
    }
}

#[tokio::test]
async fn access_log_lines_per_stage() {
    let be = backend().await;
    let (clf_tx, mut clf_rx) = mpsc::unbounded_channel();
    let (json_tx, mut json_rx) = mpsc::unbounded_channel();
    let mut default = StageConfig::named("$default");
    default.access_log = Some(AccessLogConfig {
        log_group: "clf".into(),
        format: CLF_FORMAT.into(),
        sink: Arc::new(ChannelSink(clf_tx)),
    });
    let mut dev = StageConfig::named("dev");
    dev.access_log = Some(AccessLogConfig {
        log_group: "json".into(),
        format: format!(
            "{} $context.integrationStatus $context.error.responseType",
            JSON_FORMAT
        ),
        sink: Arc::new(ChannelSink(json_tx)),
    });
    let h = start(
        vec![api(
            "logs000001",
            vec![default, dev],
            routes(&["GET /pets/{id}"], url_integration(format!("http://{be}"))),
        )],
        &[],
    )
    .await;
    let host = exec_host("logs000001");
    let r = h.get(&host, "/pets/1").await;
    let line = clf_rx.recv().await.unwrap();
    let id = r.header("apigw-requestid");
    assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
    assert!(
        line.ends_with(&format!(
            "\"GET GET /pets/{{id}} HTTP/1.1\" 200 {} {id}",
            r.body.len()
        )),
        "{line}"
    );
    let r = h.get(&host, "/dev/nothing").await;
    assert_eq!(r.status, 404);
    let line = json_rx.recv().await.unwrap();
    let (json, rest) = line.rsplit_once(" }").unwrap();
    let v: serde_json::Value = serde_json::from_str(&format!("{json} }}")).unwrap();
    assert_eq!(v["status"], "404");
    assert_eq!(v["routeKey"], "-");
    assert_eq!(v["requestId"], r.header("apigw-requestid"));
    assert_eq!(rest, " - RESOURCE_NOT_FOUND");
    assert!(
        clf_rx.try_recv().is_err(),
        "the dev request is not in the $default log"
    );
}

#[tokio::test]
async fn unknown_stage_writes_no_log_line() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut dev = StageConfig::named("dev");
    dev.access_log = Some(AccessLogConfig {
        log_group: "g".into(),
        format: CLF_FORMAT.into(),
        sink: Arc::new(ChannelSink(tx)),
    });
    let h = start(vec![api("nostage001", vec![dev], Vec::new())], &[]).await;
    let host = exec_host("nostage001");
    assert_eq!(h.get(&host, "/prod/x").await.status, 404);
    assert_eq!(h.get(&host, "/dev/x").await.status, 404);
    let line = rx.recv().await.unwrap();
    assert!(line.contains("\"GET - HTTP/1.1\" 404"), "{line}");
    assert!(
        rx.try_recv().is_err(),
        "the /prod request selected no stage (docs/aws-rules.md §HTTP-2.2)"
    );
}

// ---------------------------------------------------------------------------------------------
// docs/aws-rules.md §HTTP-4.6 body expressions.

/// docs/aws-rules.md §HTTP-4.6: `$request.body.<jsonpath>` in request and response mappings, `$response.body.<jsonpath>`
/// keyed by the integration's status, `$request.body` as the whole body; the body still reaches
/// the backend whole, and past 100 KB the expressions see a truncated (unparsable) body.
#[tokio::test]
async fn body_expressions_in_request_and_response_mappings() {
    let be = backend().await;
    let mut i = url_integration(format!("http://{be}/echo"));
    i.request_parameters = vec![
        RequestParameter::parse("overwrite:header.x-name", "$request.body.name").unwrap(),
        RequestParameter::parse("append:querystring.age", "$request.body.age").unwrap(),
        RequestParameter::parse("overwrite:header.x-whole", "$request.body").unwrap(),
        RequestParameter::parse("overwrite:header.x-tag", "tag-${request.body.tags[1]}").unwrap(),
    ];
    i.response_parameters = vec![
        ResponseMapping::parse(
            "200",
            [
                ("overwrite:header.x-body-len", "$response.body.body_len"),
                ("overwrite:header.x-owner", "$request.body.owner.name"),
                ("overwrite:header.x-method", "${response.body.method}!"),
            ],
        )
        .unwrap(),
    ];
    let mut rs = routes(&["POST /mapped"], i);
    rs.extend(routes(
        &["POST /streamed"],
        url_integration(format!("http://{be}/first-frame")),
    ));
    let h = start(
        vec![api("bodymap001", vec![StageConfig::named("$default")], rs)],
        &[],
    )
    .await;
    let host = exec_host("bodymap001");

    let json = r#"{"name":"rex","age":3,"tags":["a","b"],"owner":{"name":"ann"}}"#;
    for h2 in [false, true] {
        let req = Request::post("/mapped?x=1")
            .body(Full::new(Bytes::from(json)).boxed())
            .unwrap();
        let r = h.send_with(&host, req, h2).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let echo = r.json();
        assert_eq!(echo["headers"]["x-name"], "rex");
        assert_eq!(echo["headers"]["x-whole"], json);
        assert_eq!(echo["headers"]["x-tag"], "tag-b");
        assert_eq!(echo["query"], "x=1&age=3");
        assert_eq!(
            echo["body_len"],
            json.len(),
            "the body still reaches the backend"
        );
        assert_eq!(echo["body_head"], json);
        assert_eq!(r.header("x-body-len"), json.len().to_string());
        assert_eq!(r.header("x-owner"), "ann");
        assert_eq!(r.header("x-method"), "POST!");
    }

    // A 300 KB chunked JSON body: forwarded whole, but the first 100 KB do not parse, so the
    // JSONPath expressions are absent (and their mappings skipped).
    let mut big = br#"{"name":"rex","pad":""#.to_vec();
    big.resize(300 * 1024, b'x');
    big.extend_from_slice(br#""}"#);
    let big = Bytes::from(big);
    let len = big.len();
    let stream = futures_util::stream::iter(
        big.chunks(16 * 1024)
            .map(|c| {
                Ok::<_, std::convert::Infallible>(http_body::Frame::data(Bytes::copy_from_slice(c)))
            })
            .collect::<Vec<_>>(),
    );
    let req = Request::post("/mapped")
        .body(StreamBody::new(stream).boxed())
        .unwrap();
    let r = h.send_with(&host, req, false).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["body_len"], len);
    assert!(r.json()["headers"].get("x-name").is_none());
    assert_eq!(r.json()["query"], serde_json::Value::Null);

    // A body of unknown length is read whole before the integration is called, as API Gateway
    // buffers a request to hold it to the 10 MB payload quota (see docs/aws-fidelity.md): while
    // the client holds the rest back, the backend (which answers at its first bytes) is not
    // called; once the body ends, it is.
    let (tx, rx) = mpsc::channel::<Bytes>(1);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let chunk = rx.recv().await?;
        Some((
            Ok::<_, std::convert::Infallible>(http_body::Frame::data(chunk)),
            rx,
        ))
    });
    tx.send(Bytes::from_static(b"hello")).await.unwrap();
    let req = Request::post("/streamed")
        .body(StreamBody::new(stream).boxed())
        .unwrap();
    let send = h.send_with(&host, req, false);
    tokio::pin!(send);
    // Paused time: the sleep ends only once this (single-threaded) runtime has nothing left to
    // do, so the client, the gateway and the backend have all done whatever "hello" makes them
    // do, and no answer came of it; no wall-clock wait is involved.
    tokio::time::pause();
    tokio::select! {
        r = &mut send => panic!("answered before the body ended: {} {}", r.status, r.text()),
        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
    }
    tokio::time::resume();
    tx.send(Bytes::from_static(b" world")).await.unwrap();
    drop(tx);
    let r = send.await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.json()["first_frame"]
            .as_str()
            .is_some_and(|f| f.starts_with("hello")),
        "{}",
        r.text()
    );
}
