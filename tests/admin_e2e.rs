//! The admin endpoint and the vantage points cannot take the process down: changes are read and
//! checked as the stack file is, limits are ECS's and the subnets', the endpoint serves only this
//! machine and cannot be locked out, and black-holed vantage connections cannot exhaust the
//! process's file descriptors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use airlock_stack::RunningStack;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;
use support::bounded;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One request on the admin endpoint with the given `Host` and content type; status and JSON.
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    host: &str,
    content_type: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", host);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let req = req.body(Full::new(Bytes::from(body.to_owned()))).unwrap();
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

/// A JSON request as a local test sends it.
async fn admin(stack: &RunningStack, method: &str, path: &str, body: &str) -> (u16, Value) {
    let addr = stack.endpoints().admin;
    request(
        addr,
        method,
        path,
        &addr.to_string(),
        Some("application/json"),
        body,
    )
    .await
}

fn desired_count(status: &Value) -> u64 {
    status["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service_name"] == "pets")
        .unwrap()["desired_count"]
        .as_u64()
        .unwrap()
}

/// A desired count above ECS's "Tasks per service" quota, or above what the service's subnets
/// have addresses for, is refused with a 400 naming the limit; the gateway and the admin
/// endpoint go on answering, and a reasonable count still applies.
#[tokio::test]
async fn huge_desired_counts_are_refused_and_the_stack_keeps_serving() {
    let stack = RunningStack::start_default().await.unwrap();
    for huge in ["100000", "4294967295"] {
        let (status, body) = admin(
            &stack,
            "PUT",
            "/services/pets/desired-count",
            &format!(r#"{{"desired_count": {huge}}}"#),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        let error = body["error"].as_str().unwrap();
        assert!(
            error.contains(&format!(
                "quota of {} tasks per service",
                airlock_config::ECS_TASKS_PER_SERVICE
            )),
            "{error}"
        );
        assert_eq!(body["problems"][0]["field"], "desired_count", "{body}");
    }
    // Within the quota, but two /24 subnets hold about 500 tasks.
    let (status, body) = admin(
        &stack,
        "PUT",
        "/services/pets/desired-count",
        r#"{"desired_count": 1000}"#,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("private addresses"),
        "{body}"
    );
    // A count that is no number at all is the stack file's type error.
    let (status, body) = admin(
        &stack,
        "PUT",
        "/services/pets/desired-count",
        r#"{"desired_count": -1}"#,
    )
    .await;
    assert_eq!(status, 400, "{body}");

    assert_eq!(support::get(&stack, "/health", None).await.status, 200);
    let (status, now) = admin(&stack, "GET", "/status", "").await;
    assert_eq!(status, 200);
    assert_eq!(desired_count(&now), 2, "refused counts change nothing");

    let (status, body) = admin(
        &stack,
        "PUT",
        "/services/pets/desired-count",
        r#"{"desired_count": 3}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, now) = admin(&stack, "GET", "/status", "").await;
    assert_eq!(desired_count(&now), 3);
    stack.stop().await;
}

/// The problem the stack file's parser reports for the default stack with `edit` applied.
fn stack_file_problem(from: &str, to: &str) -> airlock_config::Diagnostic {
    let yaml = airlock_config::DEFAULT_STACK_YAML.replacen(from, to, 1);
    assert_ne!(yaml, airlock_config::DEFAULT_STACK_YAML);
    let err = airlock_config::parse(&yaml, std::path::Path::new("stack.yaml")).unwrap_err();
    err.diagnostics()[0].clone()
}

/// `PUT /security-groups/{name}` reads rules with the stack file's types (icmp accepted, egress
/// peers in `destination_security_group`) and checks them with its validation, in its words; so
/// do the link state and task definition levers.
#[tokio::test]
async fn changes_are_read_and_checked_as_the_stack_file_is() {
    let stack = RunningStack::start_ephemeral_with(airlock_config::default_stack(), |o| {
        o.vpc_link_connect_timeout = Duration::from_millis(300);
    })
    .await
    .unwrap();
    let token = stack.token(&[]).unwrap();

    // from_port above to_port: the stack file's message and hint, placed in the body.
    let (status, body) = admin(
        &stack,
        "PUT",
        "/security-groups/pets-alb-sg",
        r#"{"ingress":[{"ip_protocol":"tcp","from_port":443,"to_port":80,"source_security_group":"pets-link-sg"}]}"#,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let file = stack_file_problem("to_port: 443", "to_port: 80");
    let problem = &body["problems"][0];
    assert_eq!(problem["field"], "ingress[0].to_port", "{body}");
    assert_eq!(problem["message"], file.message.as_str(), "{body}");
    assert_eq!(problem["hint"], file.hint.as_str(), "{body}");

    // An unknown source group.
    let (status, body) = admin(
        &stack,
        "PUT",
        "/security-groups/pets-alb-sg",
        r#"{"ingress":[{"ip_protocol":"tcp","from_port":443,"to_port":443,"source_security_group":"nope-sg"}]}"#,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let file = stack_file_problem(
        "source_security_group: pets-link-sg",
        "source_security_group: nope-sg",
    );
    assert_eq!(body["problems"][0]["message"], file.message.as_str());
    assert_eq!(
        body["problems"][0]["field"],
        "ingress[0].source_security_group"
    );

    // A tcp rule without to_port, as the stack file refuses it.
    let (status, body) = admin(
        &stack,
        "PUT",
        "/security-groups/pets-alb-sg",
        r#"{"ingress":[{"ip_protocol":"tcp","from_port":443,"source_security_group":"pets-link-sg"}]}"#,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["problems"][0]["message"],
        "a tcp or udp rule needs from_port and to_port"
    );

    // An egress rule naming its peer as an ingress rule would: the stack file's schema error.
    let (status, body) = admin(
        &stack,
        "PUT",
        "/security-groups/pets-link-sg",
        r#"{"egress":[{"ip_protocol":"tcp","from_port":443,"to_port":443,"source_security_group":"pets-alb-sg"}]}"#,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("unknown field `source_security_group`"),
        "{body}"
    );
    assert_eq!(
        support::get(&stack, "/pets", Some(&token)).await.status,
        200
    );

    // icmp is a protocol the stack file knows.
    let (status, body) = admin(
        &stack,
        "PUT",
        "/security-groups/bastion-sg",
        r#"{"ingress":[{"ip_protocol":"icmp","from_port":-1,"to_port":-1,"cidr_ip":"10.0.0.0/16"}]}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // Egress toward the bastion only: the link can no longer reach the ALB (500), and egress
    // toward the ALB's group restores the path: the destination is read and enforced.
    let (status, body) = admin(
        &stack,
        "PUT",
        "/security-groups/pets-link-sg",
        r#"{"egress":[{"ip_protocol":"tcp","from_port":443,"to_port":443,"destination_security_group":"bastion-sg"}]}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        support::get(&stack, "/pets", Some(&token)).await.status,
        500
    );
    let (status, body) = admin(
        &stack,
        "PUT",
        "/security-groups/pets-link-sg",
        r#"{"egress":[{"ip_protocol":"tcp","from_port":443,"to_port":443,"destination_security_group":"pets-alb-sg"}]}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        support::get(&stack, "/pets", Some(&token)).await.status,
        200
    );

    // The link state is read the same way: an unknown state is serde's unknown variant.
    let (status, body) = admin(
        &stack,
        "PUT",
        "/vpc-links/pets-link/state",
        r#"{"state":"BROKEN"}"#,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("unknown variant `BROKEN`"),
        "{body}"
    );

    // A task definition the service cannot run is checked with the whole stack: the service's
    // load balancer names a container it lacks, in the stack file's words.
    let td = r#"{
  "family": "pets",
  "networkMode": "awsvpc",
  "cpu": "256",
  "memory": "512",
  "containerDefinitions": [{
    "name": "web",
    "image": "example/pets:2",
    "portMappings": [{ "containerPort": 8080 }]
  }]
}"#;
    let (status, body) = admin(&stack, "PUT", "/services/pets/task-definition", td).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["problems"][0]["field"], "services[0].load_balancers[0].container_name",
        "{body}"
    );
    let file = stack_file_problem("        container_name: app", "        container_name: web");
    assert_eq!(
        body["problems"][0]["message"],
        file.message.replace(
            "\"web\"; its containers: app",
            "\"app\"; its containers: web"
        ),
        "{body}"
    );
    stack.stop().await;
}

/// The id of the first task `GET /tasks` lists whose desired status is RUNNING.
async fn running_task(addr: SocketAddr) -> String {
    let (status, tasks) = request(addr, "GET", "/tasks", &addr.to_string(), None, "").await;
    assert_eq!(status, 200);
    tasks["services"][0]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["desired_status"] == "RUNNING")
        .unwrap()["task_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Only loopback hosts are served (403 otherwise, so a DNS-rebound web page gets nothing), a
/// request a web page elsewhere sent is refused, and a body must be JSON (415 otherwise, so a
/// page cannot send one without a CORS preflight).
#[tokio::test]
async fn only_loopback_hosts_and_json_bodies_are_served() {
    let stack = RunningStack::start_default().await.unwrap();
    let addr = stack.endpoints().admin;
    let port = addr.port();
    for host in [
        "evil.example".to_owned(),
        format!("evil.example:{port}"),
        format!("127.0.0.1.evil.example:{port}"),
        "localhost.evil.example".to_owned(),
        "[::2]".to_owned(),
    ] {
        let (status, body) = request(addr, "GET", "/status", &host, None, "").await;
        assert_eq!(status, 403, "{host}: {body}");
        assert!(body["error"].is_string(), "{body}");
        let (status, body) = request(
            addr,
            "POST",
            "/token",
            &host,
            Some("application/json"),
            "{}",
        )
        .await;
        assert_eq!(status, 403, "{host}: {body}");
        assert!(body.get("token").is_none());
    }
    for host in [
        "127.0.0.1".to_owned(),
        format!("127.0.0.1:{port}"),
        "localhost".to_owned(),
        format!("LOCALHOST:{port}"),
        "[::1]".to_owned(),
        format!("[::1]:{port}"),
    ] {
        let (status, _) = request(addr, "GET", "/status", &host, None, "").await;
        assert_eq!(status, 200, "{host}");
    }
    // A page elsewhere, even for a loopback host and without a body.
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let task_id = running_task(addr).await;
    let req = http::Request::post(format!("/tasks/{task_id}/stop"))
        .header("host", addr.to_string())
        .header("origin", "https://evil.example")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(
        running_task(addr).await,
        task_id,
        "the task was not stopped"
    );

    let host = addr.to_string();
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let (status, body) = request(addr, "POST", "/token", &host, ct, "{}").await;
        assert_eq!(status, 415, "{ct:?}: {body}");
        assert!(body.get("token").is_none());
    }
    let (status, body) = request(
        addr,
        "POST",
        "/token",
        &host,
        Some("application/json; charset=utf-8"),
        "{}",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["token"].is_string());
    stack.stop().await;
}

/// Hundreds of idle connections cannot lock the admin endpoint out: the oldest idle ones are
/// closed to make room, and an idle keep-alive connection is closed after the idle timeout.
#[tokio::test]
async fn idle_connections_cannot_lock_out_the_admin_endpoint() {
    let stack = RunningStack::start_default_with(|o| {
        o.admin_idle_timeout = Duration::from_millis(300);
    })
    .await
    .unwrap();
    let addr = stack.endpoints().admin;

    // A kept-alive connection that goes quiet is closed by the endpoint.
    let mut quiet = TcpStream::connect(addr).await.unwrap();
    quiet
        .write_all(format!("GET /status HTTP/1.1\r\nhost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut sink = Vec::new();
    bounded("the idle connection to be closed", async {
        let mut buf = [0u8; 4096];
        loop {
            match quiet.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => sink.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(sink.starts_with(b"HTTP/1.1 200"), "answered first");
    drop(stack);

    // Idle connections past the limit, opened while the idle timeout cannot help (long).
    let stack = RunningStack::start_default().await.unwrap();
    let addr = stack.endpoints().admin;
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    for _ in 0..3 {
        let (status, _) = admin(&stack, "GET", "/status", "").await;
        assert_eq!(status, 200);
    }
    drop(idle);
    stack.stop().await;
}

/// More black-holed connections through the internet vantage point than the process has file
/// descriptors: the vantage holds a bounded number, and the gateway still answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn black_holed_vantage_connections_cannot_exhaust_descriptors() {
    const NOFILE: usize = 1024;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let endpoints = dir.path().join("endpoints.json");
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n {NOFILE} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_airlock"))
        .arg("--state-dir")
        .arg(&state)
        .arg("--ephemeral-ports")
        .arg("--endpoints-json")
        .arg(&endpoints)
        .env_remove("AIRLOCK_STATE_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let up = support::serving(&mut child, &endpoints, support::BOUND)
        .await
        .expect("airlock serves");
    let json = &up.endpoints;
    let (gateway, internet) = (up.addr("gateway"), up.addr("socks_internet"));
    let alb = json["alb_dns_names"]["pets-alb"]
        .as_str()
        .unwrap()
        .to_owned();

    // SOCKS5 greeting and CONNECT in one write: the proxy answers the greeting, then the dial
    // to the internal ALB's private address is dropped and never answered.
    let mut hello = vec![5, 1, 0, 5, 1, 0, 3, u8::try_from(alb.len()).unwrap()];
    hello.extend_from_slice(alb.as_bytes());
    hello.extend_from_slice(&443u16.to_be_bytes());
    // Every attempt at once: those past what the vantage holds and its listen backlog stay in
    // SYN-SENT, as a client's would; none is waited for.
    let total = NOFILE + 100;
    let (greeted_tx, mut greeted) = tokio::sync::mpsc::unbounded_channel();
    let mut held = Vec::new();
    for _ in 0..total {
        let tx = greeted_tx.clone();
        let hello = hello.clone();
        held.push(tokio::spawn(async move {
            let Ok(mut s) = TcpStream::connect(internet).await else {
                return;
            };
            let mut reply = [0u8; 2];
            if s.write_all(&hello).await.is_ok()
                && s.read_exact(&mut reply).await.is_ok()
                && reply == [5, 0]
            {
                let _ = tx.send(());
                // Held open: a SOCKS reply never comes for a dropped dial.
                let mut more = [0u8; 1];
                let _ = s.read(&mut more).await;
            }
        }));
    }
    // The vantage point has taken all it holds.
    let cap = airlock_net::vantage::VANTAGE_MAX_CONNECTIONS;
    bounded("the vantage point to greet its connections", async {
        for _ in 0..cap {
            greeted.recv().await.unwrap();
        }
    })
    .await;

    let ca_pem = bounded("the CA", tokio::fs::read(state.join("ca.pem")))
        .await
        .unwrap();
    let ca: rustls_pki_types::CertificateDer<'static> =
        rustls_pki_types::pem::PemObject::from_pem_slice(&ca_pem).unwrap();
    for _ in 0..3 {
        let reply = bounded(
            "the gateway to answer",
            airlock_stack::client::https(
                gateway,
                ca.clone(),
                support::DOMAIN,
                &support::Call::get("/health"),
            ),
        )
        .await
        .expect("the gateway accepts and answers");
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    // No more than its bound were taken in.
    let mut extra = 0;
    while greeted.try_recv().is_ok() {
        extra += 1;
    }
    assert_eq!(
        extra, 0,
        "the vantage point held more than {cap} connections"
    );
    for h in held {
        h.abort();
    }
    let _ = child.kill().await;
}
