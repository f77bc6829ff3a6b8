//! The ALB through real sockets: clients dial it through the emulated network, targets are small
//! hyper servers on loopback registered as private addresses. Sections cite
//! `docs/aws-rules.md`.
#![allow(clippy::unwrap_used, missing_docs)]

use airlock_alb::{
    Action, AlbAttributes, AlbConfig, Condition, ListenerCertificate, ListenerConfig, Protocol,
    Redirect, Rule, TargetGroup, error_page_body, serve_listener,
};
use airlock_net::{
    Interface, Network, Origin, Registration, Rule as SgRule, SecurityGroupSpec, Source,
    SubnetSpec, VpcSpec,
};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

// ---------------------------------------------------------------------------------------------
// Harness

struct Vpc {
    net: Network,
    node: Interface,
    client: Interface,
    shutdown: CancellationToken,
    keep: Vec<Registration>,
}

impl Drop for Vpc {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn vpc() -> Vpc {
    let cidr = |s: &str| s.parse().unwrap();
    let open = |name: &str| {
        SecurityGroupSpec::with_default_egress(
            name,
            vec![SgRule {
                protocol: airlock_net::Protocol::Tcp,
                from_port: 1,
                to_port: u16::MAX,
                source: Source::Cidr(cidr("10.0.0.0/16")),
            }],
        )
    };
    let net = Network::new(VpcSpec {
        cidr: cidr("10.0.0.0/16"),
        subnets: vec![SubnetSpec {
            name: "private-a".into(),
            cidr: cidr("10.0.100.0/24"),
            availability_zone: "us-east-1a".into(),
        }],
        security_groups: vec![
            open("open"),
            SecurityGroupSpec::with_default_egress("closed", vec![]),
        ],
    });
    let node = net
        .create_interface("private-a", &["open".into()], "ELB app/test-alb")
        .unwrap();
    let client = net
        .create_interface("private-a", &["open".into()], "client")
        .unwrap();
    Vpc {
        net,
        node,
        client,
        shutdown: CancellationToken::new(),
        keep: Vec::new(),
    }
}

impl Vpc {
    fn interface(&self, groups: &[&str]) -> Interface {
        let groups: Vec<String> = groups.iter().map(|g| (*g).to_owned()).collect();
        self.net
            .create_interface("private-a", &groups, "task")
            .unwrap()
    }

    /// Starts the ALB with one listener; returns the listener's private address.
    async fn alb(&mut self, listener: ListenerConfig, attributes: AlbAttributes) -> SocketAddr {
        let port = listener.port;
        let listeners = AlbConfig {
            name: "test-alb".into(),
            dns_name: "internal-test-alb-1234567890.us-east-1.elb.amazonaws.com".into(),
            listeners: vec![listener],
            attributes,
        }
        .build()
        .unwrap();
        let tcp = self
            .net
            .listen(std::slice::from_ref(&self.node), port)
            .unwrap();
        tokio::spawn(serve_listener(
            tcp,
            listeners[0].clone(),
            self.net.clone(),
            vec![self.node.clone()],
            self.shutdown.clone(),
            TaskTracker::new(),
        ));
        SocketAddr::from((self.node.ip(), port))
    }

    /// An echo target on loopback, served at a fresh interface's `ip:8080`.
    async fn echo_target(&mut self, id: &'static str) -> SocketAddr {
        let iface = self.interface(&["open"]);
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let backend = tcp.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (stream, _) = tcp.accept().await.unwrap();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| echo(req, id));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .with_upgrades()
                        .await;
                });
            }
        });
        self.register(&iface, backend)
    }

    /// A target that accepts connections and never answers.
    async fn silent_target(&mut self) -> SocketAddr {
        let iface = self.interface(&["open"]);
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let backend = tcp.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let (stream, _) = tcp.accept().await.unwrap();
                held.push(stream);
            }
        });
        self.register(&iface, backend)
    }

    /// A raw TCP target: reads a request head, writes `reply` (nothing if empty, then closes),
    /// and otherwise holds the connection open.
    async fn raw_target(&mut self, reply: &'static [u8]) -> SocketAddr {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let iface = self.interface(&["open"]);
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let backend = tcp.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = tcp.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    if reply.is_empty() {
                        return;
                    }
                    stream.write_all(reply).await.unwrap();
                    let _ = stream.read(&mut buf).await;
                });
            }
        });
        self.register(&iface, backend)
    }

    fn register(&mut self, iface: &Interface, backend: SocketAddr) -> SocketAddr {
        let private = SocketAddrV4::new(iface.ip(), 8080);
        self.keep.push(self.net.register(private, backend).unwrap());
        private.into()
    }

    async fn dial(&self, alb: SocketAddr) -> airlock_net::NetStream {
        self.net
            .dial(&Origin::Interface(self.client.clone()), alb)
            .await
            .unwrap()
    }

    /// Sends one HTTP/1.1 request over a fresh plain connection.
    async fn send(&self, alb: SocketAddr, req: Request<Full<Bytes>>) -> Reply {
        let stream = self.dial(alb).await;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        Reply::read(sender.send_request(req).await.unwrap()).await
    }
}

/// The echo target answers with `x-target: ID` and a body of `name: value` lines, the first line
/// being `:request: METHOD PATH VERSION`.
async fn echo(
    req: Request<Incoming>,
    id: &'static str,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.headers().contains_key(http::header::UPGRADE) {
        let mut req = req;
        let up = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let mut io = TokioIo::new(up.await.unwrap());
            let (mut r, mut w) = tokio::io::split(&mut io);
            let _ = tokio::io::copy(&mut r, &mut w).await;
        });
        return Ok(Response::builder()
            .status(101)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .body(Full::default())
            .unwrap());
    }
    let mut body = format!(
        ":request: {} {} {:?}\n",
        req.method(),
        req.uri(),
        req.version()
    );
    for (n, v) in req.headers() {
        body.push_str(&format!("{}: {}\n", n, v.to_str().unwrap_or("<bin>")));
    }
    Ok(Response::builder()
        .header("x-target", id)
        .body(Full::new(Bytes::from(body)))
        .unwrap())
}

struct Reply {
    status: StatusCode,
    reason: Option<String>,
    headers: http::HeaderMap,
    body: String,
}

impl Reply {
    async fn read(resp: Response<Incoming>) -> Reply {
        let reason = resp
            .extensions()
            .get::<hyper::ext::ReasonPhrase>()
            .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned());
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        Reply {
            status: parts.status,
            reason,
            headers: parts.headers,
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    }

    /// What the echo target saw: header name → values (joined with `|` when repeated).
    fn seen(&self) -> BTreeMap<String, String> {
        let mut out: BTreeMap<String, String> = BTreeMap::new();
        for line in self.body.lines() {
            let (k, v) = line.rsplit_once(": ").unwrap_or((line, ""));
            let k = k.to_owned();
            out.entry(k)
                .and_modify(|e| {
                    e.push('|');
                    e.push_str(v)
                })
                .or_insert_with(|| v.to_owned());
        }
        out
    }

    fn target(&self) -> &str {
        self.headers["x-target"].to_str().unwrap()
    }

    fn assert_alb_error(&self, code: u16) {
        assert_eq!(self.status.as_u16(), code, "body: {}", self.body);
        assert_eq!(
            self.headers["server"], "awselb/2.0",
            "docs/aws-rules.md §ALB-2.7 Server header"
        );
        assert_eq!(
            self.headers["content-type"], "text/html",
            "docs/aws-rules.md §ALB-2.7 Content-Type"
        );
        assert_eq!(
            self.body,
            error_page_body(self.status),
            "docs/aws-rules.md §ALB-2.7 body of the {code} page"
        );
        assert_eq!(
            self.headers["content-length"],
            self.body.len().to_string().as_str()
        );
    }
}

fn get(uri: &str) -> http::request::Builder {
    Request::get(uri).header("host", "api.example.com")
}

fn forward_to(targets: Vec<SocketAddr>) -> (Action, watch::Sender<Vec<SocketAddr>>) {
    let (tx, rx) = watch::channel(targets);
    (Action::Forward(TargetGroup::new("tg", rx)), tx)
}

fn http_listener(port: u16, default_action: Action, rules: Vec<Rule>) -> ListenerConfig {
    ListenerConfig {
        protocol: Protocol::Http,
        port,
        certificates: vec![],
        rules,
        default_action,
    }
}

fn quick() -> AlbAttributes {
    AlbAttributes {
        idle_timeout: Duration::from_millis(500),
        target_connect_timeout: Duration::from_millis(300),
        ..AlbAttributes::default()
    }
}

/// A VPC with one echo target `a` behind a load balancer whose HTTP listener on port 80
/// forwards to it. Keep the returned sender: it holds the target group's membership.
async fn one_target_alb(
    attributes: AlbAttributes,
) -> (Vpc, SocketAddr, watch::Sender<Vec<SocketAddr>>) {
    let mut v = vpc();
    let a = v.echo_target("a").await;
    let (action, tx) = forward_to(vec![a]);
    let alb = v.alb(http_listener(80, action, vec![]), attributes).await;
    (v, alb, tx)
}

fn empty() -> Full<Bytes> {
    Full::default()
}

// ---------------------------------------------------------------------------------------------
// docs/aws-rules.md §ALB-2.3 keep-alive toward targets

/// Sequential requests reuse one back-end connection (the ALB keeps connections to targets
/// alive up to its idle timeout), whether the body was read or empty.
#[tokio::test]
async fn back_end_connections_are_kept_alive_and_reused() {
    let mut v = vpc();
    let iface = v.interface(&["open"]);
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend = tcp.local_addr().unwrap();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = tcp.accept().await.unwrap();
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let svc = service_fn(|req: Request<Incoming>| async move {
                    let body = if req.uri().path() == "/empty" {
                        Full::default()
                    } else {
                        Full::new(Bytes::from_static(b"some body"))
                    };
                    Ok::<_, Infallible>(Response::new(body))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    let target = v.register(&iface, backend);
    let (action, _tx) = forward_to(vec![target]);
    let alb = v.alb(http_listener(80, action, vec![]), quick()).await;
    for path in ["/a", "/empty", "/b", "/empty", "/c"] {
        let r = v
            .send(
                alb,
                Request::get(path)
                    .header("host", "api.example.com")
                    .body(empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
    }
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "every request went over the first back-end connection"
    );
}

/// A target that refuses `POST /big` with 413 before reading the body, and keeps both the
/// connection and the unread body (neither reading nor closing, as a server does whose handler
/// still holds the body): the ALB relays the 413 to a client that has sent only part of its
/// body and waits, and the target connection the answer came on, its request body unsent, is
/// not reused: the next request is answered rather than queued behind a body that nobody sends
/// any more.
#[tokio::test]
async fn an_early_answer_is_relayed_and_its_target_connection_not_reused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut v = vpc();
    let iface = v.interface(&["open"]);
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend = tcp.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = tcp.accept().await.unwrap();
            tokio::spawn(async move {
                let svc = service_fn(|req: Request<Incoming>| async move {
                    if req.uri().path() != "/big" {
                        return Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                            b"ok",
                        ))));
                    }
                    let held = req.into_body();
                    tokio::spawn(async move {
                        let _held = held;
                        std::future::pending::<()>().await
                    });
                    let mut resp = Response::new(Full::new(Bytes::from_static(b"too large")));
                    *resp.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
                    Ok(resp)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    let target = v.register(&iface, backend);
    let (action, _tx) = forward_to(vec![target]);
    let alb = v
        .alb(
            http_listener(80, action, vec![]),
            AlbAttributes {
                idle_timeout: Duration::from_secs(5),
                ..quick()
            },
        )
        .await;
    for round in 0..30 {
        let (mut rx, mut tx) = tokio::io::split(v.dial(alb).await);
        let head = "POST /big HTTP/1.1\r\nhost: api.example.com\r\ncontent-length: 1048576\r\n\r\n";
        tx.write_all(head.as_bytes()).await.unwrap();
        // A sixteenth of the body; the rest waits for the answer (kept open, not closed).
        tx.write_all(&vec![b'a'; 64 * 1024]).await.unwrap();
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        while !answer.ends_with(b"too large") {
            let n = rx.read(&mut buf).await.unwrap();
            assert!(n > 0, "round {round}: {}", String::from_utf8_lossy(&answer));
            answer.extend_from_slice(&buf[..n]);
        }
        assert!(
            answer.starts_with(b"HTTP/1.1 413 "),
            "round {round}: {}",
            String::from_utf8_lossy(&answer)
        );
        let next = v.send(alb, get("/next").body(empty()).unwrap()).await;
        assert_eq!(next.status, StatusCode::OK, "round {round}: {}", next.body);
        assert_eq!(next.body, "ok");
        drop(tx);
    }
}

// ---------------------------------------------------------------------------------------------
// docs/aws-rules.md §ALB-2.2 headers and docs/aws-rules.md §ALB-3.5 round robin

#[tokio::test]
async fn forwards_with_forwarded_headers_and_round_robin() {
    let mut v = vpc();
    let a = v.echo_target("a").await;
    let b = v.echo_target("b").await;
    let (action, _tx) = forward_to(vec![a, b]);
    let alb = v.alb(http_listener(80, action, vec![]), quick()).await;

    let mut targets = Vec::new();
    for _ in 0..4 {
        let r = v
            .send(
                alb,
                Request::get("/pets?x=1")
                    .header("host", "API.Example.com:80")
                    .header("connection", "keep-alive, x-hop")
                    .header("x-hop", "secret")
                    .header("x-kept", "yes")
                    .body(empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let seen = r.seen();
        // docs/aws-rules.md §ALB-2.2: XFF created with the immediate peer, the client interface's private IP.
        assert_eq!(seen["x-forwarded-for"], v.client.ip().to_string());
        assert_eq!(seen["x-forwarded-proto"], "http");
        assert_eq!(seen["x-forwarded-port"], "80");
        // docs/aws-rules.md §ALB-2.2: Host lower-cased, :80 stripped on a port-80 listener.
        assert_eq!(seen["host"], "api.example.com");
        // docs/aws-rules.md §ALB-2.2 (a): a new Root trace id.
        assert!(seen["x-amzn-trace-id"].starts_with("Root=1-"), "{seen:?}");
        assert_eq!(seen[":request"], "GET /pets?x=1 HTTP/1.1");
        assert_eq!(seen["x-kept"], "yes");
        assert!(
            !seen.contains_key("x-hop"),
            "headers named by Connection are hop-by-hop"
        );
        targets.push(r.target().to_owned());
    }
    assert_eq!(
        targets,
        ["a", "b", "a", "b"],
        "docs/aws-rules.md §ALB-3.5 round robin"
    );
}

#[tokio::test]
async fn xff_is_appended_and_host_gets_listener_port() {
    let mut v = vpc();
    let a = v.echo_target("a").await;
    let (action, _tx) = forward_to(vec![a]);
    let alb = v.alb(http_listener(8080, action, vec![]), quick()).await;
    let r = v
        .send(
            alb,
            get("/")
                .header("x-forwarded-for", "127.0.0.4, 127.0.0.8")
                .header("x-forwarded-proto", "https")
                .header("x-forwarded-port", "1")
                .header(
                    "x-amzn-trace-id",
                    "Root=1-67891233-abcdef012345678912345678;CalledFrom=app",
                )
                .body(empty())
                .unwrap(),
        )
        .await;
    let seen = r.seen();
    assert_eq!(
        seen["x-forwarded-for"],
        format!("127.0.0.4, 127.0.0.8, {}", v.client.ip())
    );
    // docs/aws-rules.md §ALB-2.2: proto and port are overwritten (emulator choice).
    assert_eq!(seen["x-forwarded-proto"], "http");
    assert_eq!(seen["x-forwarded-port"], "8080");
    // docs/aws-rules.md §ALB-2.2: other listener ports append the port when the client gave none.
    assert_eq!(seen["host"], "api.example.com:8080");
    // docs/aws-rules.md §ALB-2.2 (b): Self inserted first, the rest kept.
    let trace = &seen["x-amzn-trace-id"];
    assert!(trace.starts_with("Self=1-"), "{trace}");
    assert!(trace.ends_with(";Root=1-67891233-abcdef012345678912345678;CalledFrom=app"));
}

#[tokio::test]
async fn target_set_changes_apply_to_the_next_request() {
    let mut v = vpc();
    let a = v.echo_target("a").await;
    let b = v.echo_target("b").await;
    let (action, tx) = forward_to(vec![a]);
    let alb = v.alb(http_listener(80, action, vec![]), quick()).await;
    let req = || get("/").body(empty()).unwrap();
    assert_eq!(v.send(alb, req()).await.target(), "a");
    tx.send(vec![b]).unwrap();
    assert_eq!(v.send(alb, req()).await.target(), "b");
    tx.send(vec![]).unwrap();
    v.send(alb, req()).await.assert_alb_error(503);
}

// ---------------------------------------------------------------------------------------------
// docs/aws-rules.md §ALB-2.6 statuses the ALB generates, docs/aws-rules.md §ALB-2.7 pages

#[tokio::test]
async fn no_targets_is_503_with_the_alb_page() {
    let mut v = vpc();
    let (action, _tx) = forward_to(vec![]);
    let alb = v.alb(http_listener(80, action, vec![]), quick()).await;
    let r = v.send(alb, get("/").body(empty()).unwrap()).await;
    r.assert_alb_error(503);
    assert_eq!(
        r.body,
        "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n"
    );
    assert_eq!(
        r.body.len(),
        162,
        "docs/aws-rules.md §ALB-2.7 example length"
    );
    assert_eq!(r.reason.as_deref(), Some("Service Temporarily Unavailable"));
}

#[tokio::test]
async fn refused_target_is_502() {
    let mut v = vpc();
    // The interface admits the traffic, but nothing listens on the port: a reset.
    let nobody = v.interface(&["open"]);
    let (action, _tx) = forward_to(vec![SocketAddr::from((nobody.ip(), 8080))]);
    let alb = v.alb(http_listener(80, action, vec![]), quick()).await;
    v.send(alb, get("/").body(empty()).unwrap())
        .await
        .assert_alb_error(502);
}

#[tokio::test]
async fn dropped_connect_is_504_after_the_connect_timeout() {
    let mut v = vpc();
    // The target's security group admits nothing: the VPC drops the SYN.
    let walled = v.interface(&["closed"]);
    let (action, _tx) = forward_to(vec![SocketAddr::from((walled.ip(), 8080))]);
    let attrs = AlbAttributes {
        idle_timeout: Duration::from_secs(30),
        target_connect_timeout: Duration::from_millis(200),
        ..AlbAttributes::default()
    };
    let alb = v.alb(http_listener(80, action, vec![]), attrs).await;
    v.send(alb, get("/").body(empty()).unwrap())
        .await
        .assert_alb_error(504);
}

#[tokio::test]
async fn silent_target_is_504_after_the_idle_timeout() {
    let mut v = vpc();
    let t = v.silent_target().await;
    let (action, _tx) = forward_to(vec![t]);
    let alb = v.alb(http_listener(80, action, vec![]), quick()).await;
    let r = v.send(alb, get("/").body(empty()).unwrap()).await;
    r.assert_alb_error(504);
    assert_eq!(
        r.body.len(),
        132,
        "docs/aws-rules.md §ALB-2.7 example length"
    );
}

#[tokio::test]
async fn trace_is_405() {
    let (v, alb, _tx) = one_target_alb(quick()).await;
    let r = v
        .send(
            alb,
            Request::builder()
                .method("TRACE")
                .uri("/")
                .header("host", "x.example.com")
                .body(empty())
                .unwrap(),
        )
        .await;
    r.assert_alb_error(405);
}

#[tokio::test]
async fn more_than_30_xff_addresses_is_463() {
    let (v, alb, _tx) = one_target_alb(quick()).await;
    let list = |n: usize| {
        (0..n)
            .map(|i| format!("192.0.2.{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let ok = v
        .send(
            alb,
            get("/")
                .header("x-forwarded-for", list(30))
                .body(empty())
                .unwrap(),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "30 addresses are allowed");
    let r = v
        .send(
            alb,
            get("/")
                .header("x-forwarded-for", list(31))
                .body(empty())
                .unwrap(),
        )
        .await;
    r.assert_alb_error(463);
    assert!(r.body.contains("<title>463</title>"));
}

#[tokio::test]
async fn target_failures_after_connecting_are_502() {
    for (what, reply) in [
        ("closes without answering", &b""[..]),
        ("answers garbage", &b"garbage\r\n\r\n"[..]),
    ] {
        let mut v = vpc();
        let t = v.raw_target(reply).await;
        let (action, _tx) = forward_to(vec![t]);
        let alb = v.alb(http_listener(80, action, vec![]), quick()).await;
        let r = v.send(alb, get("/").body(empty()).unwrap()).await;
        assert_eq!(r.status.as_u16(), 502, "a target that {what}");
        r.assert_alb_error(502);
    }
}

#[tokio::test]
async fn oversized_target_response_headers_are_502() {
    let mut v = vpc();
    let mut reply = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n".to_vec();
    for i in 0..40 {
        reply.extend_from_slice(format!("x-big-{i}: {}\r\n", "v".repeat(1000)).as_bytes());
    }
    reply.extend_from_slice(b"\r\n");
    let t = v.raw_target(reply.leak()).await;
    let (action, _tx) = forward_to(vec![t]);
    let alb = v.alb(http_listener(80, action, vec![]), quick()).await;
    v.send(alb, get("/").body(empty()).unwrap())
        .await
        .assert_alb_error(502);
}

#[tokio::test]
async fn target_stalling_mid_body_is_cut_after_the_idle_timeout() {
    let mut v = vpc();
    let t = v
        .raw_target(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello")
        .await;
    let (action, _tx) = forward_to(vec![t]);
    let alb = v.alb(http_listener(80, action, vec![]), quick()).await;
    let stream = v.dial(alb).await;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let resp = sender
        .send_request(get("/").body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "headers were passed on");
    assert!(
        resp.into_body().collect().await.is_err(),
        "docs/aws-rules.md §ALB-2.3: the connection is closed when the target goes silent"
    );
}

#[tokio::test]
async fn size_limits_of_alb_2_5() {
    let (v, alb, _tx) = one_target_alb(quick()).await;
    let long_uri = format!("/{}", "a".repeat(17 * 1024));
    v.send(alb, get(&long_uri).body(empty()).unwrap())
        .await
        .assert_alb_error(414);
    let r = v
        .send(
            alb,
            get("/")
                .header("x-huge", "h".repeat(17 * 1024))
                .body(empty())
                .unwrap(),
        )
        .await;
    r.assert_alb_error(400);
    assert_eq!(
        r.headers["connection"], "close",
        "docs/aws-rules.md §ALB-2.7: 400 closes the connection"
    );
    let mut block = get("/");
    for i in 0..5 {
        block = block.header(format!("x-part-{i}"), "p".repeat(15 * 1024));
    }
    v.send(alb, block.body(empty()).unwrap())
        .await
        .assert_alb_error(400);
    let ok = v
        .send(
            alb,
            get("/")
                .header("x-fine", "f".repeat(15 * 1024))
                .body(empty())
                .unwrap(),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
}

// ---------------------------------------------------------------------------------------------
// docs/aws-rules.md §ALB-1.4–§ALB-1.6 rules and actions

#[tokio::test]
async fn rules_pick_actions_by_priority() {
    let mut v = vpc();
    let a = v.echo_target("a").await;
    let b = v.echo_target("b").await;
    let (to_a, _ta) = forward_to(vec![a]);
    let (to_b, _tb) = forward_to(vec![b]);
    let rules = vec![
        // Listed out of order: priority decides (docs/aws-rules.md §ALB-1.4).
        Rule::new(
            20,
            vec![Condition::host_header(["*.example.net"]).unwrap()],
            to_b,
        )
        .unwrap(),
        Rule::new(
            10,
            vec![
                Condition::path_pattern(["/fixed/*"]).unwrap(),
                Condition::http_request_method(["GET"]).unwrap(),
            ],
            Action::FixedResponse {
                status: StatusCode::IM_A_TEAPOT,
                content_type: Some("application/json".into()),
                body: r#"{"fixed":true}"#.into(),
            },
        )
        .unwrap(),
        Rule::new(
            30,
            vec![Condition::query_string([(Some("go"), "away")]).unwrap()],
            Action::Redirect(Redirect {
                protocol: Some("HTTPS".into()),
                port: Some("443".into()),
                path: Some("/new/#{path}".into()),
                permanent: true,
                ..Redirect::default()
            }),
        )
        .unwrap(),
        Rule::new(
            40,
            vec![
                Condition::source_ip(["10.0.100.0/24"]).unwrap(),
                Condition::http_header("x-route", ["to-b"]).unwrap(),
            ],
            forward_to(vec![b]).0,
        )
        .unwrap(),
    ];
    let alb = v.alb(http_listener(80, to_a, rules), quick()).await;

    let fixed = v
        .send(
            alb,
            Request::get("/fixed/x")
                .header("host", "shop.example.net")
                .body(empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        fixed.status,
        StatusCode::IM_A_TEAPOT,
        "priority 10 beats 20"
    );
    assert_eq!(fixed.body, r#"{"fixed":true}"#);
    assert_eq!(fixed.headers["content-type"], "application/json");
    assert_eq!(fixed.headers["server"], "awselb/2.0");

    let host_rule = v
        .send(
            alb,
            Request::get("/fixed/x")
                .method("POST")
                .header("host", "SHOP.example.net")
                .body(empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        host_rule.target(),
        "b",
        "method fails rule 10, host matches rule 20"
    );

    let redirect = v
        .send(alb, get("/old/page?go=away").body(empty()).unwrap())
        .await;
    assert_eq!(redirect.status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(
        redirect.headers["location"],
        "https://api.example.com:443/new/old/page?go=away"
    );

    let by_header = v
        .send(
            alb,
            get("/").header("X-Route", "TO-B").body(empty()).unwrap(),
        )
        .await;
    assert_eq!(
        by_header.target(),
        "b",
        "source-ip AND http-header (case-insensitive)"
    );

    let default = v.send(alb, get("/").body(empty()).unwrap()).await;
    assert_eq!(default.target(), "a", "no rule matches: default action");
}

// ---------------------------------------------------------------------------------------------
// WebSocket upgrades pass through (docs/aws-rules.md §ALB-1.3)

#[tokio::test]
async fn websocket_upgrade_passes_through() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (v, alb, _tx) = one_target_alb(quick()).await;
    let stream = v.dial(alb).await;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn.with_upgrades());
    let resp = sender
        .send_request(
            get("/ws")
                .header("connection", "Upgrade")
                .header("upgrade", "websocket")
                .body(empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    let mut io = TokioIo::new(hyper::upgrade::on(resp).await.unwrap());
    io.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    io.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");
}

// ---------------------------------------------------------------------------------------------
// docs/aws-rules.md §ALB-1.3 HTTPS listeners: SNI and HTTP/2

struct Pki {
    roots: rustls::RootCertStore,
    default: ListenerCertificate,
    other: ListenerCertificate,
}

fn pki(node_ip: IpAddr) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = |names: Vec<String>| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        ListenerCertificate {
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        }
    };
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    Pki {
        roots,
        default: leaf(vec!["*.example.com".into(), node_ip.to_string()]),
        other: leaf(vec!["api.example.net".into()]),
    }
}

async fn tls_connect(
    v: &Vpc,
    alb: SocketAddr,
    roots: &rustls::RootCertStore,
    name: ServerName<'static>,
    alpn: &[&[u8]],
) -> tokio_rustls::client::TlsStream<airlock_net::NetStream> {
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots.clone())
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    connector.connect(name, v.dial(alb).await).await.unwrap()
}

/// Sends `req` on an HTTP/2 connection and reads the whole answer.
async fn exchange(
    sender: &mut hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    req: Request<Full<Bytes>>,
) -> Reply {
    Reply::read(sender.send_request(req).await.unwrap()).await
}

fn peer_leaf(
    s: &tokio_rustls::client::TlsStream<airlock_net::NetStream>,
) -> CertificateDer<'static> {
    s.get_ref().1.peer_certificates().unwrap()[0]
        .clone()
        .into_owned()
}

#[tokio::test]
async fn https_sni_picks_the_certificate_and_serves_http2() {
    let mut v = vpc();
    let pki = pki(IpAddr::V4(v.node.ip()));
    let a = v.echo_target("a").await;
    let (action, _tx) = forward_to(vec![a]);
    let listener = ListenerConfig {
        protocol: Protocol::Https,
        port: 443,
        certificates: vec![pki.default.clone(), pki.other.clone()],
        rules: vec![],
        default_action: action,
    };
    let alb = v.alb(listener, quick()).await;
    let connect = async |name: ServerName<'static>, alpn: &[&[u8]]| {
        tls_connect(&v, alb, &pki.roots, name, alpn).await
    };

    // SNI matching a certificate of the list → that certificate.
    let s = connect(ServerName::try_from("api.example.net").unwrap(), &[]).await;
    assert_eq!(peer_leaf(&s), pki.other.chain[0]);
    // The client (rustls' default order) prefers AES-256-GCM; ELB policies use server order
    // preference with AES-128-GCM first (docs/aws-fidelity.md, "TLS cipher suite order").
    assert_eq!(
        s.get_ref().1.negotiated_cipher_suite().map(|c| c.suite()),
        Some(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256)
    );
    // SNI matching the default's wildcard → the default.
    let s = connect(ServerName::try_from("pets.example.com").unwrap(), &[]).await;
    assert_eq!(peer_leaf(&s), pki.default.chain[0]);
    // No SNI at all (an IP address name) → the default (docs/aws-rules.md §ALB-1.3).
    let s = connect(ServerName::IpAddress(IpAddr::V4(v.node.ip()).into()), &[]).await;
    assert_eq!(peer_leaf(&s), pki.default.chain[0]);

    // HTTP/1.1 over TLS.
    let s = connect(
        ServerName::try_from("api.example.net").unwrap(),
        &[b"http/1.1"],
    )
    .await;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::get("/h1")
        .header("host", "api.example.net")
        .body(empty())
        .unwrap();
    let r = Reply::read(sender.send_request(req).await.unwrap()).await;
    let seen = r.seen();
    assert_eq!(seen["x-forwarded-proto"], "https");
    assert_eq!(seen["x-forwarded-port"], "443");
    assert_eq!(seen["x-forwarded-for"], v.client.ip().to_string());

    // HTTP/2 from the client (ALPN h2) becomes HTTP/1.1 to the target, Host from :authority.
    let s = connect(ServerName::try_from("api.example.net").unwrap(), &[b"h2"]).await;
    assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(s))
            .await
            .unwrap();
    tokio::spawn(conn);
    let r = exchange(
        &mut sender,
        Request::get("https://API.example.net/h2?q=1")
            .header("cookie", "a=1")
            .header("cookie", "b=2")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let seen = r.seen();
    assert_eq!(seen[":request"], "GET /h2?q=1 HTTP/1.1");
    assert_eq!(seen["host"], "api.example.net");
    assert_eq!(seen["cookie"], "a=1; b=2");
    assert_eq!(seen["x-forwarded-proto"], "https");

    // ALB pages over HTTP/2 too.
    let r = exchange(
        &mut sender,
        Request::builder()
            .method("TRACE")
            .uri("https://api.example.net/")
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_alb_error(405);

    // docs/aws-rules.md §ALB-2.1 matrix: a gRPC request cannot go to an HTTP1 target group → 464.
    let r = exchange(
        &mut sender,
        Request::post("https://api.example.net/pets.Pets/List")
            .header("content-type", "application/grpc")
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_alb_error(464);
}

#[tokio::test]
async fn bad_configurations_are_refused() {
    let (action, _tx) = forward_to(vec![]);
    let build = |l: ListenerConfig| {
        AlbConfig {
            name: "x".into(),
            dns_name: "x".into(),
            listeners: vec![l],
            attributes: AlbAttributes::default(),
        }
        .build()
    };
    let https_without_cert = ListenerConfig {
        protocol: Protocol::Https,
        ..http_listener(443, action.clone(), vec![])
    };
    assert!(matches!(
        build(https_without_cert),
        Err(airlock_alb::ConfigError::NoCertificate(443))
    ));
    let rule = |p| {
        Rule::new(
            p,
            vec![Condition::path_pattern(["/a"]).unwrap()],
            action.clone(),
        )
        .unwrap()
    };
    assert!(matches!(
        build(http_listener(80, action.clone(), vec![rule(5), rule(5)])),
        Err(airlock_alb::ConfigError::DuplicatePriority { priority: 5, .. })
    ));
    let bad_fixed = Action::FixedResponse {
        status: StatusCode::MOVED_PERMANENTLY,
        content_type: None,
        body: String::new(),
    };
    assert!(matches!(
        build(http_listener(80, bad_fixed, vec![])),
        Err(airlock_alb::ConfigError::Action(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// Target groups: health checks, draining, stickiness, access log (docs/aws-rules.md §ALB-3)

use airlock_alb::{HealthCheck, Matcher, Reason, Stickiness, TargetGroupConfig, TargetState};
use std::sync::atomic::{AtomicU16, Ordering};

/// A target whose `/health` answers with the status in `health`, reporting each health
/// request's head; other paths answer 200 with `x-target: id` after `gate` opens (if given).
async fn health_target(
    vpc: &mut Vpc,
    id: &'static str,
    health: Arc<AtomicU16>,
    seen: tokio::sync::mpsc::UnboundedSender<http::request::Parts>,
    gate: Option<Arc<tokio::sync::Semaphore>>,
    arrived: Option<tokio::sync::mpsc::UnboundedSender<()>>,
) -> SocketAddr {
    let iface = vpc.interface(&["open"]);
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend = tcp.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = tcp.accept().await.unwrap();
            let (health, seen, gate, arrived) =
                (health.clone(), seen.clone(), gate.clone(), arrived.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let (health, seen, gate, arrived) =
                        (health.clone(), seen.clone(), gate.clone(), arrived.clone());
                    async move {
                        let (parts, _) = req.into_parts();
                        if parts.uri.path() == "/health" {
                            let status = health.load(Ordering::SeqCst);
                            let _ = seen.send(parts);
                            return Ok::<_, Infallible>(
                                Response::builder().status(status).body(empty()).unwrap(),
                            );
                        }
                        if let Some(a) = arrived {
                            let _ = a.send(());
                        }
                        if let Some(g) = gate {
                            let _permit = g.acquire().await.unwrap();
                        }
                        Ok(Response::builder()
                            .header("x-target", id)
                            .header("set-cookie", "session=abc; Path=/")
                            .body(Full::new(Bytes::from_static(b"ok")))
                            .unwrap())
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    vpc.register(&iface, backend)
}

fn fast_checks() -> HealthCheck {
    HealthCheck {
        path: "/health".into(),
        interval: Duration::from_millis(50),
        timeout: Duration::from_millis(500),
        matcher: Matcher::parse("200-299").unwrap(),
        ..HealthCheck::default()
    }
}

async fn wait_state(tg: &TargetGroup, target: SocketAddr, state: TargetState) {
    let mut w = tg.watch_health();
    tokio::time::timeout(
        Duration::from_secs(10),
        w.wait_for(|h| h.iter().any(|t| t.target == target && t.state == state)),
    )
    .await
    .expect("state reached in time")
    .unwrap();
}

#[tokio::test]
async fn health_checks_send_the_request_of_alb_3_2_and_steer_traffic() {
    let mut vpc = vpc();
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let good_health = Arc::new(AtomicU16::new(200));
    let bad_health = Arc::new(AtomicU16::new(200));
    let good = health_target(
        &mut vpc,
        "good",
        good_health.clone(),
        seen_tx.clone(),
        None,
        None,
    )
    .await;
    let bad = health_target(&mut vpc, "bad", bad_health.clone(), seen_tx, None, None).await;
    let mut config = TargetGroupConfig::new("tg");
    config.health_check = Some(fast_checks());
    let (_tx, rx) = watch::channel(vec![good, bad]);
    let tg = TargetGroup::with_config(config, rx);
    let alb = vpc
        .alb(
            http_listener(80, Action::Forward(tg.clone()), vec![]),
            quick(),
        )
        .await;
    // docs/aws-rules.md §ALB-3.2 request format, from the node's address.
    let parts = seen.recv().await.unwrap();
    assert_eq!(parts.method, http::Method::GET);
    assert_eq!(parts.version, http::Version::HTTP_11);
    let host = parts.headers["host"].to_str().unwrap();
    assert!(
        host == good.to_string() || host == bad.to_string(),
        "{host}"
    );
    assert_eq!(parts.headers["user-agent"], "ELB-HealthChecker/2.0");
    wait_state(&tg, good, TargetState::Healthy).await;
    wait_state(&tg, bad, TargetState::Healthy).await;

    // A 500 from the health path: unhealthy after two failures, with the reason of docs/aws-rules.md §ALB-3.3.
    bad_health.store(500, Ordering::SeqCst);
    wait_state(&tg, bad, TargetState::Unhealthy).await;
    let h = tg.health().into_iter().find(|t| t.target == bad).unwrap();
    assert_eq!(h.reason, Some(Reason::ResponseCodeMismatch));
    assert_eq!(
        h.description.as_deref(),
        Some("Health checks failed with these codes: [500]")
    );
    for _ in 0..4 {
        let r = vpc.send(alb, get("/").body(empty()).unwrap()).await;
        assert_eq!(
            r.target(),
            "good",
            "docs/aws-rules.md §ALB-3.4: unhealthy targets get no traffic"
        );
    }
    // All unhealthy: docs/aws-rules.md §ALB-3.4 fail-open routes to both.
    good_health.store(404, Ordering::SeqCst);
    wait_state(&tg, good, TargetState::Unhealthy).await;
    let mut targets = std::collections::BTreeSet::new();
    for _ in 0..4 {
        let r = vpc.send(alb, get("/").body(empty()).unwrap()).await;
        assert_eq!(r.status, 200);
        targets.insert(r.target().to_owned());
    }
    assert_eq!(targets.len(), 2, "fail-open uses every target");
}

#[tokio::test]
async fn draining_finishes_in_flight_requests_under_load() {
    let mut vpc = vpc();
    let (seen_tx, _seen) = tokio::sync::mpsc::unbounded_channel();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let (arrived_tx, mut arrived) = tokio::sync::mpsc::unbounded_channel();
    let ok = Arc::new(AtomicU16::new(200));
    let slow = health_target(
        &mut vpc,
        "slow",
        ok.clone(),
        seen_tx.clone(),
        Some(gate.clone()),
        Some(arrived_tx),
    )
    .await;
    let other = health_target(&mut vpc, "other", ok.clone(), seen_tx, None, None).await;
    let mut config = TargetGroupConfig::new("tg");
    config.health_check = None;
    config.deregistration_delay = Duration::from_secs(30);
    let (tx, rx) = watch::channel(vec![slow]);
    let tg = TargetGroup::with_config(config, rx);
    let alb = vpc
        .alb(
            http_listener(80, Action::Forward(tg.clone()), vec![]),
            quick(),
        )
        .await;
    let vpc = Arc::new(vpc);
    // Ten requests in flight on the slow target.
    let mut inflight = Vec::new();
    for _ in 0..10 {
        let v = vpc.clone();
        inflight.push(tokio::spawn(async move {
            v.send(alb, get("/").body(empty()).unwrap()).await
        }));
    }
    for _ in 0..10 {
        arrived.recv().await.unwrap();
    }
    // docs/aws-rules.md §ALB-3.7: deregistered → draining; new requests go elsewhere; in-flight ones finish.
    tx.send(vec![other]).unwrap();
    let r = vpc.send(alb, get("/").body(empty()).unwrap()).await;
    assert_eq!(r.target(), "other");
    assert_eq!(
        tg.health().iter().find(|t| t.target == slow).unwrap().state,
        TargetState::Draining
    );
    gate.add_permits(10);
    for h in inflight {
        let r = h.await.unwrap();
        assert_eq!(r.status, 200, "in-flight requests finish while draining");
        assert_eq!(r.target(), "slow");
    }
}

#[tokio::test]
async fn draining_expiry_cuts_in_flight_requests_with_502() {
    let mut vpc = vpc();
    let (seen_tx, _seen) = tokio::sync::mpsc::unbounded_channel();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let (arrived_tx, mut arrived) = tokio::sync::mpsc::unbounded_channel();
    let ok = Arc::new(AtomicU16::new(200));
    let slow = health_target(&mut vpc, "slow", ok, seen_tx, Some(gate), Some(arrived_tx)).await;
    let mut config = TargetGroupConfig::new("tg");
    config.health_check = None;
    config.deregistration_delay = Duration::from_millis(200);
    let (tx, rx) = watch::channel(vec![slow]);
    let tg = TargetGroup::with_config(config, rx);
    let alb = vpc
        .alb(http_listener(80, Action::Forward(tg), vec![]), quick())
        .await;
    let vpc = Arc::new(vpc);
    let v = vpc.clone();
    let pending = tokio::spawn(async move { v.send(alb, get("/").body(empty()).unwrap()).await });
    arrived.recv().await.unwrap();
    tx.send(vec![]).unwrap();
    let r = pending.await.unwrap();
    r.assert_alb_error(502);
}

#[tokio::test]
async fn lb_cookie_stickiness_sets_awsalb_and_sticks_alb_3_8() {
    let mut vpc = vpc();
    let a = vpc.echo_target("a").await;
    let b = vpc.echo_target("b").await;
    let mut config = TargetGroupConfig::new("tg");
    config.health_check = None;
    config.stickiness = Some(Stickiness::LbCookie {
        duration: Duration::from_secs(86_400),
    });
    let (_tx, rx) = watch::channel(vec![a, b]);
    let alb = vpc
        .alb(
            http_listener(
                80,
                Action::Forward(TargetGroup::with_config(config, rx)),
                vec![],
            ),
            quick(),
        )
        .await;
    let first = vpc.send(alb, get("/").body(empty()).unwrap()).await;
    let cookies: Vec<&str> = first
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert!(
        cookies[0].starts_with("AWSALB=")
            && cookies[0].contains("; Expires=")
            && cookies[0].ends_with("; Path=/")
    );
    assert!(
        cookies[1].starts_with("AWSALBCORS=")
            && cookies[1].ends_with("; Path=/; SameSite=None; Secure")
    );
    let value = cookies[0].split(';').next().unwrap().to_owned();
    for _ in 0..5 {
        let r = vpc
            .send(
                alb,
                get("/").header("cookie", &value).body(empty()).unwrap(),
            )
            .await;
        assert_eq!(
            r.target(),
            first.target(),
            "the cookie keeps the client on its target"
        );
    }
    // An undecodable cookie: a target is chosen anew and the cookie rewritten.
    let r = vpc
        .send(
            alb,
            get("/")
                .header("cookie", "AWSALB=garbage")
                .body(empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(
        r.headers["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("AWSALB=")
    );
}

#[tokio::test]
async fn access_log_has_one_line_per_request() {
    let vpc = vpc();
    let dir = std::env::temp_dir().join(format!("airlock-alb-log-{}", rand_suffix()));
    let path = dir.join("logs/alb/test-alb.log");
    let mut attrs = quick();
    attrs.access_log = Some(path.clone());
    let fixed = Action::FixedResponse {
        status: StatusCode::IM_A_TEAPOT,
        content_type: Some("text/plain".into()),
        body: "teapot".into(),
    };
    let port = 80;
    let listeners = AlbConfig {
        name: "test-alb".into(),
        dns_name: "internal-test-alb-1.us-east-1.elb.amazonaws.com".into(),
        listeners: vec![http_listener(port, fixed, vec![])],
        attributes: attrs,
    }
    .build()
    .unwrap();
    let tcp = vpc
        .net
        .listen(std::slice::from_ref(&vpc.node), port)
        .unwrap();
    let (shutdown, tracker) = (CancellationToken::new(), TaskTracker::new());
    let serving = tokio::spawn(serve_listener(
        tcp,
        listeners[0].clone(),
        vpc.net.clone(),
        vec![vpc.node.clone()],
        shutdown.clone(),
        tracker.clone(),
    ));
    let alb = SocketAddr::from((vpc.node.ip(), port));
    let r = vpc
        .send(
            alb,
            get("/x?y=1")
                .header("user-agent", "curl/8")
                .body(empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, 418);
    shutdown.cancel();
    serving.await.unwrap();
    tracker.close();
    tracker.wait().await;
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let line = lines[0];
    assert!(line.starts_with("http "), "{line}");
    assert!(line.contains(" app/test-alb/"), "{line}");
    assert!(
        line.contains(" 418 - "),
        "elb_status_code then target_status_code: {line}"
    );
    assert!(
        line.contains("\"GET http://api.example.com:80/x?y=1 HTTP/1.1\" \"curl/8\""),
        "{line}"
    );
    assert!(
        line.contains(" 0 "),
        "matched_rule_priority 0 = default rule: {line}"
    );
    assert!(line.contains("\"fixed-response\""), "{line}");
    let _ = std::fs::remove_dir_all(dir);
}

fn rand_suffix() -> String {
    format!("{}-{:?}", std::process::id(), std::thread::current().id())
        .replace(|c: char| !c.is_ascii_alphanumeric(), "")
}

// ---------------------------------------------------------------------------------------------
// docs/aws-rules.md §ALB-2.4 desync mitigation, docs/aws-rules.md §ALB-2.3 408, docs/aws-rules.md §ALB-2.6 501/505, docs/aws-rules.md §ALB-2.1 Expect, through raw TCP writes

impl Vpc {
    /// Writes `bytes` on a fresh connection and reads until the load balancer closes it.
    async fn raw(&self, alb: SocketAddr, bytes: &[u8]) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = self.dial(alb).await;
        s.write_all(bytes).await.unwrap();
        let mut out = Vec::new();
        let read = async {
            let mut buf = [0u8; 4096];
            // A reset after the last response still leaves what was read.
            while let Ok(n) = s.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
            }
        };
        tokio::time::timeout(Duration::from_secs(20), read)
            .await
            .expect("the load balancer closes the connection");
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Status codes of the responses in a raw HTTP/1.1 exchange, in order.
fn statuses(raw: &str) -> Vec<u16> {
    raw.match_indices("HTTP/1.1 ")
        .filter(|(i, _)| *i == 0 || raw[..*i].ends_with('\n'))
        .filter_map(|(i, _)| raw.get(i + 9..i + 12)?.parse().ok())
        .collect()
}

fn assert_raw_alb_error(raw: &str, code: u16, what: &str) {
    assert_eq!(statuses(raw), vec![code], "{what}: {raw}");
    let lower = raw.to_ascii_lowercase();
    assert!(
        lower.contains("\r\nserver: awselb/2.0\r\n"),
        "{what}: {raw}"
    );
    assert!(lower.contains("\r\nconnection: close\r\n"), "{what}: {raw}");
    let status = StatusCode::from_u16(code).unwrap();
    assert!(
        raw.ends_with(&format!("\r\n\r\n{}", error_page_body(status))),
        "{what}: the docs/aws-rules.md §ALB-2.7 page: {raw}"
    );
}

fn with_mode(mode: airlock_alb::DesyncMode) -> AlbAttributes {
    AlbAttributes {
        desync_mitigation_mode: mode,
        ..quick()
    }
}

/// A follow-up request on the same connection: answered only if the first one left it open.
const NEXT: &str = "GET /next HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n";

/// docs/aws-rules.md §ALB-2.4's classification table: one request per reason, as raw bytes, and its class.
fn desync_rows() -> Vec<(&'static str, String, &'static str)> {
    let h = "Host: api.example.com\r\n";
    vec![
        (
            "compliant GET",
            format!("GET / HTTP/1.1\r\n{h}\r\n"),
            "Compliant",
        ),
        (
            "compliant HEAD",
            format!("HEAD / HTTP/1.1\r\n{h}\r\n"),
            "Compliant",
        ),
        (
            "AmbiguousUri",
            format!("GET /a\x01b HTTP/1.1\r\n{h}\r\n"),
            "Ambiguous",
        ),
        (
            "BadContentLength",
            format!("POST / HTTP/1.1\r\n{h}Content-Length: 3x\r\n\r\nabc"),
            "Severe",
        ),
        (
            "BadHeader",
            format!("GET / HTTP/1.1\r\n{h}X-A: a\rb\r\n\r\n"),
            "Severe",
        ),
        (
            "BadTransferEncoding",
            format!("POST / HTTP/1.1\r\n{h}Transfer-Encoding: chunked, x\"y\r\n\r\n"),
            "Severe",
        ),
        ("BadUri", format!("GET /a\0b HTTP/1.1\r\n{h}\r\n"), "Severe"),
        ("BadMethod", format!("G@T / HTTP/1.1\r\n{h}\r\n"), "Severe"),
        ("BadVersion", format!("GET / HTTX/1.1\r\n{h}\r\n"), "Severe"),
        (
            "BothTeClPresent",
            format!(
                "POST / HTTP/1.1\r\n{h}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
            ),
            "Ambiguous",
        ),
        (
            "DuplicateContentLength",
            format!("POST / HTTP/1.1\r\n{h}Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc"),
            "Ambiguous",
        ),
        (
            "EmptyHeader",
            format!("GET / HTTP/1.1\r\n{h}: x\r\n\r\n"),
            "Ambiguous",
        ),
        (
            "GetHeadZeroContentLength",
            format!("GET / HTTP/1.1\r\n{h}Content-Length: 0\r\n\r\n"),
            "Acceptable",
        ),
        (
            "MultipleContentLength",
            format!("POST / HTTP/1.1\r\n{h}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"),
            "Severe",
        ),
        (
            "MultipleTransferEncodingChunked",
            format!(
                "POST / HTTP/1.1\r\n{h}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
            ),
            "Severe",
        ),
        (
            "NonCompliantHeader",
            format!("GET / HTTP/1.1\r\n{h}X-A: a\x01b\r\n\r\n"),
            "Acceptable",
        ),
        (
            "NonCompliantVersion",
            format!("GET / HTTP/1.2\r\n{h}\r\n"),
            "Acceptable",
        ),
        (
            "SpaceInUri",
            format!("GET /a b HTTP/1.1\r\n{h}\r\n"),
            "Acceptable",
        ),
        (
            "SuspiciousHeader",
            format!("POST / HTTP/1.1\r\n{h}Transfer_Encoding: chunked\r\n\r\n"),
            "Ambiguous",
        ),
        (
            "UndefinedContentLengthSemantics",
            format!("GET / HTTP/1.1\r\n{h}Content-Length: 3\r\n\r\nabc"),
            "Ambiguous",
        ),
        (
            "UndefinedTransferEncodingSemantics",
            format!("GET / HTTP/1.1\r\n{h}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
            "Ambiguous",
        ),
    ]
}

#[tokio::test]
async fn desync_defensive_mode_table_alb_2_4() {
    let (v, alb, _tx) = one_target_alb(with_mode(airlock_alb::DesyncMode::Defensive)).await;
    for (what, request, class) in desync_rows() {
        let raw = v.raw(alb, format!("{request}{NEXT}").as_bytes()).await;
        match class {
            // Blocked: 400 and close; the follow-up is never read.
            "Severe" => assert_raw_alb_error(&raw, 400, what),
            // Allowed, then both connections close: no answer to the follow-up.
            "Ambiguous" => {
                assert_eq!(statuses(&raw), vec![200], "{what}: {raw}");
                let lower = raw.to_ascii_lowercase();
                assert!(lower.contains("\r\nconnection: close\r\n"), "{what}: {raw}");
                assert!(
                    raw.contains("\nconnection: close\n"),
                    "{what}: the target connection is closed too: {raw}"
                );
            }
            // Allowed, and the connection lives on.
            _ => assert_eq!(statuses(&raw), vec![200, 200], "{what}: {raw}"),
        }
    }
}

#[tokio::test]
async fn desync_monitor_and_strictest_modes_alb_2_4() {
    let mut v = vpc();
    let a = v.echo_target("a").await;
    let (action, _tx) = forward_to(vec![a]);
    let monitor = v
        .alb(
            http_listener(80, action, vec![]),
            with_mode(airlock_alb::DesyncMode::Monitor),
        )
        .await;
    let (action, _tx2) = forward_to(vec![a]);
    let strictest = v
        .alb(
            http_listener(81, action, vec![]),
            with_mode(airlock_alb::DesyncMode::Strictest),
        )
        .await;
    for (what, request, class) in desync_rows() {
        let raw = v.raw(monitor, format!("{request}{NEXT}").as_bytes()).await;
        match class {
            // airlock's choice: severe requests cannot be framed, so monitor refuses them too.
            "Severe" => assert_raw_alb_error(&raw, 400, what),
            _ => assert_eq!(statuses(&raw), vec![200, 200], "monitor, {what}: {raw}"),
        }
        let raw = v
            .raw(strictest, format!("{request}{NEXT}").as_bytes())
            .await;
        match class {
            "Compliant" => assert_eq!(statuses(&raw), vec![200, 200], "strictest, {what}"),
            _ => assert_raw_alb_error(&raw, 400, what),
        }
    }
}

#[tokio::test]
async fn normalised_requests_reach_the_target_as_http_1_1() {
    let (v, alb, _tx) = one_target_alb(quick()).await;
    let raw = v
        .raw(
            alb,
            b"POST /a b HTTP/1.1\r\nHost: api.example.com\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        )
        .await;
    assert_eq!(statuses(&raw), vec![200], "{raw}");
    assert!(raw.contains(":request: POST /a%20b HTTP/1.1\n"), "{raw}");
    assert!(
        !raw.contains("content-length: 3\n"),
        "TE wins over CL: {raw}"
    );
}

#[tokio::test]
async fn unsupported_transfer_encoding_is_501_and_http2_preface_is_505() {
    let (v, alb, _tx) = one_target_alb(quick()).await;
    let raw = v
        .raw(
            alb,
            b"POST / HTTP/1.1\r\nHost: a.example.com\r\nTransfer-Encoding: gzip\r\n\r\n",
        )
        .await;
    assert_raw_alb_error(&raw, 501, "docs/aws-rules.md §ALB-2.6 501");
    assert!(raw.starts_with("HTTP/1.1 501 Not Implemented\r\n"), "{raw}");
    let raw = v.raw(alb, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
    assert_raw_alb_error(&raw, 505, "docs/aws-rules.md §ALB-2.6 505");
}

/// RFC 9112 §5.1: whitespace between a header's name and its colon is answered with 400 in
/// every desync mode (never dropped and forwarded), for `Transfer-Encoding` and any other name.
#[tokio::test]
async fn whitespace_before_a_header_colon_is_400_in_every_mode() {
    let mut v = vpc();
    let a = v.echo_target("a").await;
    let modes = [
        airlock_alb::DesyncMode::Monitor,
        airlock_alb::DesyncMode::Defensive,
        airlock_alb::DesyncMode::Strictest,
    ];
    let mut albs = Vec::new();
    let mut senders = Vec::new();
    for (port, mode) in (80..).zip(modes) {
        let (action, tx) = forward_to(vec![a]);
        senders.push(tx);
        albs.push(
            v.alb(http_listener(port, action, vec![]), with_mode(mode))
                .await,
        );
    }
    let h = "Host: api.example.com\r\n";
    let requests = [
        format!("POST / HTTP/1.1\r\n{h}Transfer-Encoding : chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
        format!("GET / HTTP/1.1\r\n{h}X-Custom\t: value\r\n\r\n"),
    ];
    for alb in albs {
        for request in &requests {
            let raw = v.raw(alb, format!("{request}{NEXT}").as_bytes()).await;
            assert_raw_alb_error(&raw, 400, request);
        }
    }
}

/// More header lines than the load balancer takes (a count far inside docs/aws-rules.md §ALB-2.5's 64 KB) get the
/// load balancer's 400 page, never hyper's bare 431.
#[tokio::test]
async fn more_header_lines_than_the_alb_takes_is_its_400_page() {
    let (v, alb, _tx) = one_target_alb(quick()).await;
    let lines = airlock_net::MAX_CLIENT_HEADER_LINES + airlock_net::HEADER_LINES_ADDED_PER_HOP;
    let request = format!(
        "GET / HTTP/1.1\r\nHost: a.example.com\r\n{}\r\n",
        "x: y\r\n".repeat(lines)
    );
    assert!(request.len() < 64 * 1024);
    let raw = v.raw(alb, request.as_bytes()).await;
    assert_raw_alb_error(&raw, 400, "header lines");
}

/// A chunked body whose chunk size is not hexadecimal is the client's error: 400 with the
/// load balancer's page, not 502.
#[tokio::test]
async fn malformed_chunk_size_is_400_not_502() {
    let (v, alb, _tx) = one_target_alb(quick()).await;
    for chunk in [
        "zz\r\nabc\r\n0\r\n\r\n",
        "3 x\r\nabc\r\n0\r\n\r\n",
        "-3\r\nabc\r\n0\r\n\r\n",
    ] {
        let raw = v
            .raw(
                alb,
                format!(
                    "POST / HTTP/1.1\r\nHost: a.example.com\r\nTransfer-Encoding: chunked\r\n\r\n{chunk}"
                )
                .as_bytes(),
            )
            .await;
        assert_raw_alb_error(&raw, 400, chunk);
    }
}

#[tokio::test]
async fn no_complete_head_before_the_idle_timeout_is_408() {
    let (v, alb, _tx) = one_target_alb(quick()).await;
    // Half a head, then silence.
    let raw = v
        .raw(alb, b"GET / HTTP/1.1\r\nHost: a.example.com\r\n")
        .await;
    assert_raw_alb_error(
        &raw,
        408,
        "docs/aws-rules.md §ALB-2.3 408 after a partial head",
    );
    assert!(
        raw.starts_with("HTTP/1.1 408 Request Time-out\r\n"),
        "{raw}"
    );
    // Nothing at all on a new connection.
    let raw = v.raw(alb, b"").await;
    assert_raw_alb_error(
        &raw,
        408,
        "docs/aws-rules.md §ALB-2.3 408 on a silent connection",
    );
    // An idle keep-alive connection after a full exchange closes without a 408.
    let raw = v
        .raw(alb, b"GET / HTTP/1.1\r\nHost: a.example.com\r\n\r\n")
        .await;
    assert_eq!(statuses(&raw), vec![200], "{raw}");
}

#[tokio::test]
async fn expect_100_continue_is_answered_before_the_target_alb_2_1() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut v = vpc();
    let a = v.echo_target("a").await;
    let silent = v.silent_target().await;
    let (action, _tx) = forward_to(vec![a]);
    let (hang, _tx2) = forward_to(vec![silent]);
    let rules =
        vec![Rule::new(1, vec![Condition::path_pattern(["/hang"]).unwrap()], hang).unwrap()];
    let alb = v.alb(http_listener(80, action, rules), quick()).await;

    // A target that never answers: the 100 Continue still comes at once.
    let mut s = v.dial(alb).await;
    s.write_all(b"POST /hang HTTP/1.1\r\nHost: a.example.com\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"HTTP/1.1 100 Continue\r\n\r\n");

    // The target gets the body and no Expect.
    let mut s = v.dial(alb).await;
    s.write_all(b"POST /up HTTP/1.1\r\nHost: a.example.com\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let n = s.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"hello").await.unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).await.unwrap();
    let rest = String::from_utf8_lossy(&rest);
    assert!(rest.starts_with("HTTP/1.1 200 OK\r\n"), "{rest}");
    assert!(rest.contains("content-length: 5\n"), "{rest}");
    assert!(!rest.contains("expect:"), "Expect is removed: {rest}");
}

#[tokio::test]
async fn access_log_records_the_desync_classification() {
    let mut vpc = vpc();
    let a = vpc.echo_target("a").await;
    let dir = std::env::temp_dir().join(format!("airlock-alb-desync-{}", rand_suffix()));
    let path = dir.join("alb.log");
    let mut attrs = quick();
    attrs.access_log = Some(path.clone());
    let (action, _tx) = forward_to(vec![a]);
    let listeners = AlbConfig {
        name: "test-alb".into(),
        dns_name: "internal-test-alb-1.us-east-1.elb.amazonaws.com".into(),
        listeners: vec![http_listener(80, action, vec![])],
        attributes: attrs,
    }
    .build()
    .unwrap();
    let tcp = vpc.net.listen(std::slice::from_ref(&vpc.node), 80).unwrap();
    let (shutdown, tracker) = (CancellationToken::new(), TaskTracker::new());
    let serving = tokio::spawn(serve_listener(
        tcp,
        listeners[0].clone(),
        vpc.net.clone(),
        vec![vpc.node.clone()],
        shutdown.clone(),
        tracker.clone(),
    ));
    let alb = SocketAddr::from((vpc.node.ip(), 80));
    let h = "Host: a.example.com\r\nConnection: close\r\n";
    for req in [
        format!("GET /ok HTTP/1.1\r\n{h}\r\n"),
        format!("GET /zero HTTP/1.1\r\n{h}Content-Length: 0\r\n\r\n"),
        format!("GET /e HTTP/1.1\r\n{h}: x\r\n\r\n"),
        format!("POST /bad HTTP/1.1\r\n{h}Content-Length: 1\r\nContent-Length: 2\r\n\r\n"),
    ] {
        vpc.raw(alb, req.as_bytes()).await;
    }
    shutdown.cancel();
    serving.await.unwrap();
    tracker.close();
    tracker.wait().await;
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    let tail = |l: &str| {
        let f: Vec<&str> = l.rsplitn(4, ' ').collect();
        (f[2].to_owned(), f[1].to_owned())
    };
    let find = |path: &str| {
        lines
            .iter()
            .find(|l| l.contains(path))
            .map(|l| tail(l))
            .unwrap_or_else(|| panic!("no line for {path}: {text}"))
    };
    let q = |s: &str| format!("\"{s}\"");
    assert_eq!(find("/ok "), (q("-"), q("-")));
    assert_eq!(
        find("/zero "),
        (q("Acceptable"), q("GetHeadZeroContentLength"))
    );
    assert_eq!(find("/e "), (q("Ambiguous"), q("EmptyHeader")));
    let bad = lines.iter().find(|l| l.contains("/bad ")).unwrap();
    assert!(bad.contains(" 400 - "), "{bad}");
    assert_eq!(tail(bad), (q("Severe"), q("MultipleContentLength")));
    let _ = std::fs::remove_dir_all(dir);
}

// ---------------------------------------------------------------------------------------------
// docs/aws-rules.md §ALB-1.6 weighted forwards with group stickiness, docs/aws-rules.md §ALB-3.8 app_cookie stickiness

fn set_cookies(r: &Reply) -> Vec<String> {
    r.headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

fn group(name: &str, targets: Vec<SocketAddr>) -> (TargetGroup, watch::Sender<Vec<SocketAddr>>) {
    let mut config = TargetGroupConfig::new(name);
    config.health_check = None;
    let (tx, rx) = watch::channel(targets);
    (TargetGroup::with_config(config, rx), tx)
}

#[tokio::test]
async fn weighted_forward_sets_awsalbtg_and_keeps_the_group_alb_1_6() {
    let mut v = vpc();
    let blue = v.echo_target("blue").await;
    let green = v.echo_target("green").await;
    let (blue_tg, _b) = group("blue", vec![blue]);
    let (green_tg, _g) = group("green", vec![green]);
    let sticky = Action::WeightedForward(airlock_alb::WeightedForward {
        groups: vec![(blue_tg.clone(), 1), (green_tg.clone(), 1)],
        stickiness: Some(Duration::from_secs(3600)),
    });
    let zero = Action::WeightedForward(airlock_alb::WeightedForward {
        groups: vec![(blue_tg, 0), (green_tg, 7)],
        stickiness: None,
    });
    let rules =
        vec![Rule::new(1, vec![Condition::path_pattern(["/zero"]).unwrap()], zero).unwrap()];
    let alb = v.alb(http_listener(80, sticky, rules), quick()).await;

    let first = v.send(alb, get("/").body(empty()).unwrap()).await;
    let cookies = set_cookies(&first);
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert!(cookies[0].starts_with("AWSALBTG=") && cookies[0].ends_with("; Path=/"));
    assert!(
        cookies[1].starts_with("AWSALBTGCORS=")
            && cookies[1].ends_with("; Path=/; SameSite=None; Secure"),
        "{cookies:?}"
    );
    let cookie = cookie_pair(&cookies[0]);
    for _ in 0..8 {
        let r = v
            .send(
                alb,
                get("/").header("cookie", &cookie).body(empty()).unwrap(),
            )
            .await;
        assert_eq!(r.target(), first.target(), "AWSALBTG keeps the group");
        assert!(set_cookies(&r)[0].starts_with("AWSALBTG="), "refreshed");
    }
    // Without the cookie, weights decide: 1:1 reaches both groups.
    let mut seen = std::collections::HashSet::new();
    for _ in 0..64 {
        let r = v.send(alb, get("/").body(empty()).unwrap()).await;
        seen.insert(r.target().to_owned());
    }
    assert_eq!(seen.len(), 2, "both groups get traffic by weight");
    // Weight 0 receives nothing; no group stickiness, no cookie.
    for _ in 0..16 {
        let r = v.send(alb, get("/zero").body(empty()).unwrap()).await;
        assert_eq!(r.target(), "green");
        assert!(set_cookies(&r).is_empty());
    }
}

/// A target that sets the application cookie `SESSION` and echoes the `Cookie` header it got.
async fn app_cookie_target(v: &mut Vpc, id: &'static str) -> SocketAddr {
    let iface = v.interface(&["open"]);
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend = tcp.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = tcp.accept().await.unwrap();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| async move {
                    let cookie = req
                        .headers()
                        .get("cookie")
                        .map(|c| c.to_str().unwrap().to_owned())
                        .unwrap_or_default();
                    Ok::<_, Infallible>(
                        Response::builder()
                            .header("x-target", id)
                            .header("set-cookie", format!("SESSION={id}; Path=/; HttpOnly"))
                            .body(Full::new(Bytes::from(cookie)))
                            .unwrap(),
                    )
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    v.register(&iface, backend)
}

#[tokio::test]
async fn app_cookie_stickiness_sets_awsalbapp_and_sticks_alb_3_8() {
    let mut v = vpc();
    let a = app_cookie_target(&mut v, "a").await;
    let b = app_cookie_target(&mut v, "b").await;
    let mut config = TargetGroupConfig::new("tg");
    config.health_check = None;
    config.stickiness = Some(Stickiness::AppCookie {
        cookie_name: "SESSION".into(),
        duration: Duration::from_secs(86_400),
    });
    let (_tx, rx) = watch::channel(vec![a, b]);
    let alb = v
        .alb(
            http_listener(
                80,
                Action::Forward(TargetGroup::with_config(config, rx)),
                vec![],
            ),
            quick(),
        )
        .await;
    let first = v.send(alb, get("/").body(empty()).unwrap()).await;
    let cookies = set_cookies(&first);
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    let app = cookies.iter().find(|c| c.starts_with("SESSION=")).unwrap();
    assert_eq!(
        app,
        &format!("SESSION={}; Path=/; HttpOnly", first.target()),
        "the application's cookie passes unmodified"
    );
    let alb_cookie = cookies
        .iter()
        .find(|c| c.starts_with("AWSALBAPP-0="))
        .expect("the ALB's own AWSALBAPP-0 cookie");
    assert!(
        alb_cookie.contains("; Expires=") && !alb_cookie.contains("HttpOnly"),
        "its own attributes, not the application cookie's: {alb_cookie}"
    );
    let header = format!("{}; {}", cookie_pair(app), cookie_pair(alb_cookie));
    for _ in 0..6 {
        let r = v
            .send(
                alb,
                get("/").header("cookie", &header).body(empty()).unwrap(),
            )
            .await;
        assert_eq!(r.target(), first.target(), "AWSALBAPP-0 keeps the target");
        assert_eq!(r.body, header, "both cookies reach the target unmodified");
    }
}

/// A request refused behind others pipelined in the same write: the ones before it are still
/// served, then the refusal's page; the refused request never reaches the target.
#[tokio::test]
async fn a_refusal_pipelined_behind_requests_answers_them_first() {
    let (v, alb, _tx) = one_target_alb(with_mode(airlock_alb::DesyncMode::Defensive)).await;
    let first = "GET /first HTTP/1.1\r\nHost: api.example.com\r\n\r\n";
    let refused = "GET /refused HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx";
    let raw = v.raw(alb, format!("{first}{refused}").as_bytes()).await;
    assert_eq!(statuses(&raw), vec![200, 400], "{raw}");
    assert!(
        raw.contains("/first"),
        "the first request reached the target: {raw}"
    );
    assert!(!raw.contains("refused.invalid"), "{raw}");
    assert!(
        raw.ends_with(&format!(
            "\r\n\r\n{}",
            error_page_body(StatusCode::BAD_REQUEST)
        )),
        "the load balancer's page: {raw}"
    );
}
