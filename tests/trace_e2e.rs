//! Every request's trace tells what happened to it: each hop's decision and why, joined across
//! the gateway, the VPC link, the ALB and the task, read back from the admin endpoint
//! (`GET /requests/{id}`) and from `airlock trace`; the ring of traces stays bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use airlock_stack::RunningStack;
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::Value;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;
use support::{ReplyExt, bounded, get};
use tokio::io::AsyncBufReadExt;
use tokio::net::TcpStream;

/// A task that answers 200 everywhere except `/pets/broken`, where it sends the start of a
/// response head and closes the connection.
const APP: &str = r#"
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/pets/broken":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Le")
            self.wfile.flush()
            self.close_connection = True
            return
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;

/// One plain HTTP/1.1 request to the admin endpoint: status and JSON.
async fn admin(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json");
    let req = req
        .body(http_body_util::Full::new(Bytes::from(
            body.unwrap_or_default().to_owned(),
        )))
        .unwrap();
    let resp = bounded("an admin answer", sender.send_request(req))
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {bytes:?}")),
    )
}

fn encode(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The trace of the request whose `apigw-requestid` is `id`, once complete.
async fn trace(admin_addr: SocketAddr, id: &str) -> Value {
    let (status, doc) = admin(
        admin_addr,
        "GET",
        &format!("/requests/{}?wait=10", encode(id)),
        None,
    )
    .await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["request_id"], id, "{doc}");
    assert_eq!(doc["complete"], true, "{doc}");
    doc
}

/// The hop `component:step`, which must be there.
fn hop<'a>(doc: &'a Value, component: &str, step: &str) -> &'a Value {
    doc["hops"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["component"] == component && h["step"] == step)
        .unwrap_or_else(|| panic!("no {component} {step} hop in {doc:#}"))
}

fn has_hop(doc: &Value, component: &str) -> bool {
    doc["hops"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["component"] == component)
}

fn field<'a>(h: &'a Value, name: &str) -> &'a str {
    h["fields"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no text field {name} in {h}"))
}

/// A 401, a 403 for a missing scope, a 404 with its nearest routes, a 500 from a security group
/// tightened through the admin API, a 502 from a task that closes mid-response and a 200: each
/// trace's hops and reasons say what happened, and which part produced the status.
#[tokio::test]
async fn each_outcome_is_traced_with_its_reasons() {
    if !support::tool("python3", "--version", "apt-get install python3") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let stack =
        RunningStack::start_ephemeral_with(support::default_stack_with_app(dir.path(), APP), |o| {
            o.vpc_link_connect_timeout = Duration::from_millis(300);
        })
        .await
        .unwrap();
    let addr = stack.endpoints().admin;
    let read = stack.token(&["pets/read"]).unwrap();

    // 401: no token; the gateway's authorizer says so and nothing went further.
    let reply = get(&stack, "/pets", None).await;
    assert_eq!(reply.status, 401);
    let doc = trace(addr, reply.h("apigw-requestid")).await;
    assert_eq!(doc["status"], 401);
    assert_eq!(doc["produced_by"], "gateway");
    assert_eq!(doc["route"], "GET /pets");
    let auth = hop(&doc, "gateway", "authorize");
    assert_eq!(auth["outcome"], "refused");
    assert_eq!(field(auth, "authorizer"), "JWT");
    assert!(field(auth, "why").contains("no token"), "{auth}");
    assert!(
        !has_hop(&doc, "alb") && !has_hop(&doc, "vpc-link"),
        "{doc:#}"
    );

    // 403: a token without the route's scope; the reason names the scope wanted and granted.
    let reply = support::https(
        stack.endpoints().gateway,
        stack.ca_der(),
        support::DOMAIN,
        "POST",
        "/pets",
        &[("authorization", &format!("Bearer {read}"))],
        "{}",
    )
    .await;
    assert_eq!(reply.status, 403);
    let doc = trace(addr, reply.h("apigw-requestid")).await;
    let auth = hop(&doc, "gateway", "authorize");
    assert_eq!(auth["outcome"], "refused");
    let why = field(auth, "why");
    assert!(
        why.contains("pets/write") && why.contains("grants [pets/read]"),
        "{why}"
    );
    assert_eq!(
        field(hop(&doc, "gateway", "response"), "type"),
        "ACCESS_DENIED"
    );

    // 404: the routes that came closest, and why each did not match.
    let reply = get(&stack, "/pets/1/toys", Some(&read)).await;
    assert_eq!(reply.status, 404);
    let doc = trace(addr, reply.h("apigw-requestid")).await;
    let route = hop(&doc, "gateway", "route");
    assert_eq!(route["outcome"], "no match");
    let nearest = field(route, "nearest");
    assert!(
        nearest.starts_with("GET /pets/{petId}:") && nearest.contains("3 segment(s)"),
        "{nearest}"
    );
    assert!(route["fields"]["second nearest"].is_string(), "{route}");
    assert_eq!(doc["route"], Value::Null);

    // 500: the ALB's group no longer admits the VPC link's; the link's dial is dropped, and
    // the trace names the group that lacks the rule. (No private request has been made yet,
    // so the gateway has no pooled connection that would bypass a new dial.)
    let (status, body) = admin(
        addr,
        "PUT",
        "/security-groups/pets-alb-sg",
        Some(r#"{"ingress":[{"ip_protocol":"tcp","from_port":443,"to_port":443,"source_security_group":"bastion-sg"}]}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let reply = get(&stack, "/pets", Some(&read)).await;
    assert_eq!(reply.status, 500, "{}", reply.text());
    let doc = trace(addr, reply.h("apigw-requestid")).await;
    assert_eq!(doc["produced_by"], "gateway");
    let dial = hop(&doc, "vpc-link", "dial");
    assert_eq!(dial["outcome"], "dropped", "{doc:#}");
    let why = field(dial, "why");
    assert!(
        why.contains("no ingress rule") && why.contains("pets-alb-sg"),
        "{why}"
    );
    assert_eq!(
        hop(&doc, "vpc-link", "stream")["outcome"],
        "new tunnel stream"
    );
    let integration = hop(&doc, "gateway", "integration");
    assert_eq!(integration["outcome"], "failed");
    assert!(
        field(integration, "error").contains("VPC link"),
        "{integration}"
    );
    assert!(!has_hop(&doc, "alb"), "the ALB never saw it: {doc:#}");

    // The rule back: the next request dials through.
    let (status, body) = admin(
        addr,
        "PUT",
        "/security-groups/pets-alb-sg",
        Some(r#"{"ingress":[{"ip_protocol":"tcp","from_port":443,"to_port":443,"source_security_group":"pets-link-sg"}]}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // 200: every hop, the task's answer, and the ALB's trace id joined to the gateway's request.
    let reply = get(&stack, "/pets/7", Some(&read)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let doc = trace(addr, reply.h("apigw-requestid")).await;
    assert_eq!(doc["produced_by"], "task", "{doc:#}");
    assert_eq!(doc["route"], "GET /pets/{petId}");
    assert_eq!(
        field(hop(&doc, "gateway", "route"), "route"),
        "GET /pets/{petId}"
    );
    assert_eq!(hop(&doc, "gateway", "authorize")["outcome"], "allowed");
    // The token's signature: verified on its first use, from the cache after.
    let once = stack.token(&["pets/read", "traced/once"]).unwrap();
    for want in ["cache miss", "cache hit"] {
        let again = get(&stack, "/pets", Some(&once)).await;
        assert_eq!(again.status, 200, "{}", again.text());
        let traced = trace(addr, again.h("apigw-requestid")).await;
        let signature = field(hop(&traced, "gateway", "authorize"), "signature");
        assert!(signature.starts_with(want), "{want}: {traced:#}");
    }
    assert_eq!(hop(&doc, "vpc-link", "dial")["outcome"], "admitted");
    assert_eq!(hop(&doc, "alb", "listener")["fields"]["port"], 443);
    assert_eq!(hop(&doc, "alb", "rule")["outcome"], "default action");
    let target = hop(&doc, "alb", "target");
    assert_eq!(target["outcome"], "chosen");
    assert_eq!(field(target, "health"), "healthy");
    let task = field(target, "target").to_owned();
    assert_eq!(doc["task"], task.as_str());
    let ips = &stack.task_ips()["pets"];
    assert!(
        ips.iter().any(|ip| task == format!("{ip}:8080")),
        "{task} is not one of the tasks {ips:?}"
    );
    let answered = hop(&doc, "task", "response");
    assert_eq!(answered["outcome"], "answered");
    assert_eq!(answered["fields"]["status"], 200);
    assert_eq!(
        hop(&doc, "alb", "response")["fields"]["bytes"],
        reply.body.len()
    );
    let alb_trace = doc["alb_trace_id"].as_str().unwrap();
    assert!(
        alb_trace.contains(&format!("Root={}", doc["trace_id"].as_str().unwrap())),
        "{alb_trace} vs {}",
        doc["trace_id"]
    );
    // Hops are in time order.
    let at: Vec<f64> = doc["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["at_ms"].as_f64().unwrap())
        .collect();
    assert!(at.windows(2).all(|w| w[0] <= w[1]), "{at:?}");

    // 502: the task closed the connection before a whole response head; the ALB's error page.
    let reply = get(&stack, "/pets/broken", Some(&read)).await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    let doc = trace(addr, reply.h("apigw-requestid")).await;
    assert_eq!(doc["produced_by"], "alb", "{doc:#}");
    let failed = hop(&doc, "task", "response");
    assert_eq!(failed["outcome"], "failed");
    assert!(!field(failed, "error").is_empty());
    let response = hop(&doc, "alb", "response");
    assert_eq!(response["outcome"], "error page");
    assert_eq!(response["fields"]["status"], 502);
    assert_eq!(field(response, "error"), "TargetResponseError");

    // The list filters by status, route and task.
    let (_, list) = admin(addr, "GET", "/requests?status=5xx", None).await;
    let statuses: Vec<u64> = list["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [502, 500], "{list:#}");
    let (_, list) = admin(addr, "GET", "/requests?route=GET%20/pets/", None).await;
    assert_eq!(list["requests"].as_array().unwrap().len(), 2, "{list:#}");
    let (_, list) = admin(addr, "GET", &format!("/requests?task={task}"), None).await;
    assert!(
        list["requests"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["task"] == task.as_str())
    );
    stack.stop().await;
}

/// The binary with the default stack on free ports, tracing `capacity` requests.
struct Binary {
    child: tokio::process::Child,
    endpoints: std::path::PathBuf,
    gateway: SocketAddr,
    admin: SocketAddr,
    ca: rustls_pki_types::CertificateDer<'static>,
    state: std::path::PathBuf,
    _files: support::UpFiles,
}

async fn binary(capacity: usize) -> Binary {
    let files = support::UpFiles::new();
    let mut child = files
        .command()
        .arg("--trace-capacity")
        .arg(capacity.to_string())
        .spawn()
        .unwrap();
    let (state, endpoints) = (files.state.clone(), files.endpoints.clone());
    let up = support::serving(&mut child, &endpoints, support::BOUND)
        .await
        .expect("airlock serves");
    Binary {
        child,
        gateway: up.addr("gateway"),
        admin: up.addr("admin"),
        ca: up.ca,
        endpoints,
        state,
        _files: files,
    }
}

impl Binary {
    /// `GET path` through the gateway with `token`; the status and the request id.
    async fn get(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("authorization", a)])
            .unwrap_or_default();
        let reply = support::https(
            self.gateway,
            self.ca.clone(),
            support::DOMAIN,
            "GET",
            path,
            &headers,
            "",
        )
        .await;
        (reply.status, reply.h("apigw-requestid").to_owned())
    }

    fn trace_command(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_airlock"));
        cmd.arg("trace")
            .arg("--endpoints")
            .arg(&self.endpoints)
            .env_remove("AIRLOCK_ADMIN")
            .kill_on_drop(true);
        cmd
    }

    fn token(&self, scope: &str) -> String {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
            .args(["token", "--scope", scope, "--state-dir"])
            .arg(&self.state)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }
}

/// `airlock trace ID` prints one request's waterfall, and `--json` its document; `--follow`
/// shows a request made after it started, with its hops.
#[tokio::test]
async fn airlock_trace_prints_and_follows_requests() {
    let bin = binary(100).await;
    let token = bin.token("pets/read");
    let (status, id) = bin.get("/pets/1/toys", Some(&token)).await;
    assert_eq!(status, 404);

    let out = bounded("airlock trace ID", bin.trace_command().arg(&id).output())
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&format!("request id {id}")), "{text}");
    assert!(text.contains("→ 404 from the gateway"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("gateway") && l.contains("route") && l.contains("no match")),
        "{text}"
    );
    assert!(text.contains("nearest: GET /pets/{petId}"), "{text}");
    assert!(text.contains(" ms |"), "the waterfall has timings: {text}");

    let out = bounded(
        "airlock trace --json",
        bin.trace_command().arg(&id).arg("--json").output(),
    )
    .await
    .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["request_id"], id.as_str());
    assert_eq!(doc["status"], 404);

    let out = bounded(
        "airlock trace of an unknown id",
        bin.trace_command().arg("nope").output(),
    )
    .await
    .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no trace of request nope"));

    // --follow: started first, it prints the request made after it said it is following.
    let mut follow = bin
        .trace_command()
        .args(["--follow", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = tokio::io::BufReader::new(follow.stderr.take().unwrap()).lines();
    let said = bounded("--follow to start", err.next_line()).await.unwrap();
    assert!(
        said.as_deref().is_some_and(|l| l.contains("following")),
        "{said:?}"
    );
    let (status, id) = bin.get("/pets", Some(&token)).await;
    assert_eq!(status, 200);
    let mut out = tokio::io::BufReader::new(follow.stdout.take().unwrap()).lines();
    let doc = bounded("the followed request", async {
        loop {
            let line = out.next_line().await.unwrap().expect("--follow ended");
            let doc: Value = serde_json::from_str(&line).unwrap();
            if doc["request_id"] == id.as_str() {
                return doc;
            }
        }
    })
    .await;
    assert_eq!(doc["status"], 200);
    assert_eq!(doc["produced_by"], "task");
    for component in ["gateway", "vpc-link", "alb", "task"] {
        assert!(has_hop(&doc, component), "no {component} hop: {doc:#}");
    }
    follow.kill().await.unwrap();
    drop(bin.child);
}

/// The ring keeps the newest `--trace-capacity` requests: older ones are gone from the list and
/// by id, newer ones are all there.
#[tokio::test]
async fn the_ring_of_traces_stays_bounded() {
    let bin = binary(5).await;
    let mut ids = Vec::new();
    for _ in 0..12 {
        let (status, id) = bin.get("/pets", None).await;
        assert_eq!(status, 401);
        ids.push(id);
    }
    // The last one's trace is complete once it can be read with a wait.
    let (status, _) = admin(
        bin.admin,
        "GET",
        &format!("/requests/{}?wait=10", encode(ids.last().unwrap())),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (_, list) = admin(bin.admin, "GET", "/requests?limit=100", None).await;
    assert_eq!(list["capacity"], 5);
    assert_eq!(list["kept"], 5, "{list:#}");
    // What the kept traces hold is packed: a few hundred bytes each (a refused request's
    // trace is the gateway's segment alone), whatever passed through before.
    let bytes = list["bytes"].as_u64().unwrap();
    assert!(bytes > 0 && bytes <= 5 * 1024, "{bytes} bytes for 5 traces");
    let listed: Vec<&str> = list["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let newest: Vec<&str> = ids.iter().rev().take(5).map(String::as_str).collect();
    assert_eq!(listed, newest);
    let (status, body) = admin(
        bin.admin,
        "GET",
        &format!("/requests/{}", encode(&ids[0])),
        None,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    drop(bin.child);
}

/// `GET /events` streams server-sent events: a completed request's summary as it completes,
/// and the tasks' changes as they happen (a task stopped through the admin API).
#[tokio::test]
async fn the_event_stream_tells_requests_and_task_changes_as_they_happen() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Reads until `needle` has arrived; the stream's chunk framing stays in the text, which
    // the needles do not straddle (each event is written whole).
    async fn until(events: &mut TcpStream, seen: &mut String, needle: &str) {
        bounded(needle, async {
            while !seen.contains(needle) {
                let mut buf = [0u8; 4096];
                let n = events.read(&mut buf).await.unwrap();
                assert!(n > 0, "the event stream ended: {seen}");
                seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
        .await;
    }
    let stack = RunningStack::start_default().await.unwrap();
    let addr = stack.endpoints().admin;
    let mut events = TcpStream::connect(addr).await.unwrap();
    events
        .write_all(format!("GET /events HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut seen = String::new();
    until(&mut events, &mut seen, "event: hello").await;
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert!(seen.contains("text/event-stream"), "{seen}");

    let reply = get(&stack, "/pets", None).await;
    let id = reply.h("apigw-requestid");
    until(&mut events, &mut seen, &format!("\"request_id\":\"{id}\"")).await;
    assert!(seen.contains("event: request"), "{seen}");

    let (_, tasks) = admin(addr, "GET", "/tasks", None).await;
    let task = tasks["services"][0]["tasks"][0]["task_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = seen.len();
    let (status, body) = admin(addr, "POST", &format!("/tasks/{task}/stop"), None).await;
    assert_eq!(status, 202, "{body}");
    until(&mut events, &mut seen, "event: tasks").await;
    let after = &seen[before..];
    assert!(after.contains(&task), "{after}");
    stack.stop().await;
}
