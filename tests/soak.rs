//! A soak of the whole chain: client → API Gateway → VPC link → ALB → tasks, under concurrent
//! keep-alive load while tasks are stopped and the service is scaled up and down, all on
//! loopback and bounded in requests and time.
//!
//! It runs the `airlock` binary, as users do, rather than a `RunningStack` in this process: the
//! memory and the open descriptors it checks are then the stack's own (`/proc/<pid>`), not mixed
//! with this test's clients, their sockets and the test harness's threads.
//!
//! What it checks:
//! - no request fails. A stopped task's target is deregistered first and drains for the target
//!   group's deregistration delay before the task gets its stop signal ("Deregistration delay" in
//!   the ALB guide, <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-target-groups.html#deregistration-delay>;
//!   `docs/aws-fidelity.md`, "Load balancer target groups"), and the levers are pulled only while
//!   a healthy target remains, so no request is in flight on a task when it stops and none finds
//!   every target draining or new: every answer must be a 200;
//! - the stack's open descriptors and resident memory come back near where they started once
//!   the load is over (generous bounds: descriptors within +20, RSS within 1.5×);
//! - the log files under the state directory stay within their bounds ([`log_bound`]).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls_pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Concurrent keep-alive clients.
const CLIENTS: usize = 4;
/// Rounds of levers (stops, scaling up and down) pulled while the clients send.
const LEVER_ROUNDS: usize = 3;
/// At most this many requests per client, whatever happens to the levers.
const MAX_REQUESTS_PER_CLIENT: u64 = 20_000;
/// The whole soak (start-up excluded) gives up after this: a bound, not a timing.
const SOAK_LIMIT: Duration = Duration::from_secs(240);
/// How long the stack may take to let go of what the load took, once it is over.
const SETTLE_LIMIT: Duration = Duration::from_secs(60);
/// The target group's deregistration delay in the soak's stack: short, so that stopped tasks
/// really stop (and their connections close) within the soak.
const DEREGISTRATION_DELAY_SECONDS: u32 = 1;
/// Descriptors may stay this many above the start once the load is over.
const FD_SLACK: usize = 20;
/// Resident memory may stay at most this many times the start once the load is over.
const RSS_FACTOR: f64 = 1.5;

/// The `airlock` process, killed on drop.
struct Stack {
    _child: tokio::process::Child,
    pid: u32,
    state: PathBuf,
    gateway: SocketAddr,
    admin: SocketAddr,
    ca: CertificateDer<'static>,
    token: String,
    _dir: tempfile::TempDir,
}

impl Stack {
    /// Starts the default stack, with a short deregistration delay, and waits for its banner.
    async fn start() -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let endpoints = dir.path().join("endpoints.json");
        let stack_file = dir.path().join("stack.yaml");
        let init = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
            .arg("init")
            .output()
            .unwrap();
        assert!(init.status.success());
        let yaml = String::from_utf8(init.stdout).unwrap();
        let grown = yaml.replacen(
            "    target_type: ip\n",
            &format!(
                "    target_type: ip\n    deregistration_delay_timeout_seconds: {DEREGISTRATION_DELAY_SECONDS}\n"
            ),
            1,
        );
        assert_ne!(
            grown, yaml,
            "the default stack has no `target_type: ip` line any more"
        );
        std::fs::write(&stack_file, grown).unwrap();

        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
            .arg("up")
            .arg(&stack_file)
            .arg("--state-dir")
            .arg(&state)
            .arg("--ephemeral-ports")
            .arg("--endpoints-json")
            .arg(&endpoints)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = child.id().unwrap();
        let up = support::serving(&mut child, &endpoints, Duration::from_secs(120))
            .await
            .expect("airlock up exited before its banner");
        let addr = |key: &str| up.addr(key);
        let ca = up.ca.clone();
        let token = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
            .args(["token", "--scope", "pets/read"])
            .arg("--state-dir")
            .arg(&state)
            .output()
            .unwrap();
        assert!(token.status.success());
        Stack {
            _child: child,
            pid,
            state,
            gateway: addr("gateway"),
            admin: addr("admin"),
            ca,
            token: String::from_utf8(token.stdout).unwrap().trim().to_owned(),
            _dir: dir,
        }
    }

    /// Open descriptors and resident memory (KiB) of the stack's process now.
    fn resources(&self) -> (usize, u64) {
        let fds = std::fs::read_dir(format!("/proc/{}/fd", self.pid))
            .unwrap()
            .count();
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap();
        let rss = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap();
        (fds, rss)
    }

    /// A keep-alive HTTPS connection to the gateway under the default custom domain.
    async fn client(&self) -> SendRequest<Empty<Bytes>> {
        let config = support::tls_config(self.ca.clone(), None);
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(self.gateway).await.unwrap();
        let tls = connector
            .connect(ServerName::try_from(support::DOMAIN).unwrap(), tcp)
            .await
            .unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .unwrap();
        tokio::spawn(conn);
        sender
    }

    /// An admin call; the JSON answer and its status.
    async fn admin(&self, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
        let tcp = tokio::net::TcpStream::connect(self.admin).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .unwrap();
        tokio::spawn(conn);
        let req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.admin.to_string())
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(Bytes::from(body.to_owned())))
            .unwrap();
        let resp = sender.send_request(req).await.unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or_default())
    }

    /// The pets service's running tasks (RUNNING and desired RUNNING) and the target group's
    /// targets by state.
    async fn service(&self) -> Service {
        let (status, json) = self.admin("GET", "/status", "").await;
        assert_eq!(status, 200, "{json}");
        let pets = json["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["service_name"] == "pets")
            .expect("the pets service")
            .clone();
        let running = pets["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["last_status"] == "RUNNING" && t["desired_status"] == "RUNNING")
            .map(|t| t["task_id"].as_str().unwrap().to_owned())
            .collect();
        let targets: Vec<String> = json["target_groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["targets"].as_array().unwrap().clone())
            .map(|t| t["state"].as_str().unwrap().to_owned())
            .collect();
        Service {
            running,
            healthy: targets.iter().filter(|s| *s == "healthy").count(),
            targets: targets.len(),
            stopping: pets["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| t["desired_status"] == "STOPPED" && t["last_status"] != "STOPPED")
                .count(),
        }
    }

    /// Waits (polling the admin endpoint, within the soak's limit) until `n` tasks run, each
    /// with a healthy target and no other target, and no stopped task is still on its way out.
    async fn settled_at(&self, n: usize, limit: Instant) -> Service {
        loop {
            let s = self.service().await;
            if s.running.len() == n && s.healthy == n && s.targets == n && s.stopping == 0 {
                return s;
            }
            assert!(
                Instant::now() < limit,
                "the service did not settle at {n} healthy tasks: {s:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[derive(Debug)]
struct Service {
    running: Vec<String>,
    healthy: usize,
    targets: usize,
    stopping: usize,
}

/// Every log file under the state directory, with its size in bytes.
///
/// The hook for log bounds: the soak holds each of these to [`log_bound`].
fn log_files(state: &Path) -> Vec<(PathBuf, u64)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, u64)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "log") {
                out.push((path, meta.len()));
            }
        }
    }
    let mut files = Vec::new();
    walk(&state.join("logs"), &mut files);
    files
}

/// How large a log file under the state directory may be after `requests` requests. No log
/// file is rotated or capped yet, so the bound is that a file grows at most linearly with the
/// requests served: a line of at most 1 KiB per request (an ALB access log line is ~0.5 KiB),
/// plus 64 KiB for what start-up, health checks and task lifecycles write. Where a log gains a
/// size limit, this is where it is held to it.
fn log_bound(_file: &Path, requests: u64) -> u64 {
    requests * 1024 + 64 * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_under_load_survives_stops_and_scaling_and_gives_back_what_it_took() {
    let stack = Arc::new(Stack::start().await);
    let limit = Instant::now() + SOAK_LIMIT;
    stack.settled_at(2, limit).await;

    // A first request through the chain, so that the starting figures include what any stack
    // holds once it has served (the token verified and cached, the link's connection open).
    let mut warm = stack.client().await;
    assert_eq!(get_pets(&mut warm, &stack.token).await, Ok(200));
    drop(warm);
    let (fds_start, rss_start) = stack.resources();

    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (stack, stop, served) = (stack.clone(), stop.clone(), served.clone());
            tokio::spawn(async move {
                let mut failures = Vec::new();
                let mut sender = stack.client().await;
                for _ in 0..MAX_REQUESTS_PER_CLIENT {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    match get_pets(&mut sender, &stack.token).await {
                        Ok(200) => {}
                        other => {
                            failures.push(format!("{other:?}"));
                            // A failed connection is replaced; the failure is already counted.
                            if sender.is_closed() {
                                sender = stack.client().await;
                            }
                        }
                    }
                    served.fetch_add(1, Ordering::SeqCst);
                }
                failures
            })
        })
        .collect();

    // The levers, each pulled while the load runs and only once the service has settled, in
    // rounds: every round stops tasks at two sizes and scales up and down.
    for _ in 0..LEVER_ROUNDS {
        let s = stack.settled_at(2, limit).await;
        lever(&stack, "POST", &format!("/tasks/{}/stop", s.running[0]), "").await;
        let s = stack.settled_at(2, limit).await;
        lever(
            &stack,
            "PUT",
            "/services/pets/desired-count",
            r#"{"desired_count": 3}"#,
        )
        .await;
        stack.settled_at(3, limit).await;
        lever(&stack, "POST", &format!("/tasks/{}/stop", s.running[1]), "").await;
        stack.settled_at(3, limit).await;
        lever(
            &stack,
            "PUT",
            "/services/pets/desired-count",
            r#"{"desired_count": 1}"#,
        )
        .await;
        let s = stack.settled_at(1, limit).await;
        lever(
            &stack,
            "PUT",
            "/services/pets/desired-count",
            r#"{"desired_count": 2}"#,
        )
        .await;
        stack.settled_at(2, limit).await;
        lever(&stack, "POST", &format!("/tasks/{}/stop", s.running[0]), "").await;
    }
    stack.settled_at(2, limit).await;

    stop.store(true, Ordering::SeqCst);
    let mut failures = Vec::new();
    for client in clients {
        failures.extend(client.await.unwrap());
    }
    let requests = served.load(Ordering::SeqCst) + 1;
    assert!(
        failures.is_empty(),
        "{} of {requests} requests failed while tasks drained: {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
    assert!(
        requests > CLIENTS as u64,
        "the clients sent {requests} requests"
    );

    // Once the load is over, descriptors and memory come back near where they started. Pooled
    // connections a burst left behind close within seconds, so this waits for them, within a
    // bound: it polls, and fails only if they never come back.
    let settle = Instant::now() + SETTLE_LIMIT;
    let (fds_after, rss_after) = stack.resources();
    let (mut fds, mut rss) = (fds_after, rss_after);
    while (fds > fds_start + FD_SLACK || rss as f64 > rss_start as f64 * RSS_FACTOR)
        && Instant::now() < settle
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
        (fds, rss) = stack.resources();
    }
    println!(
        "soak: {requests} requests; descriptors {fds_start} at the start, {fds_after} after the \
         load, {fds} settled; RSS {rss_start} KiB, {rss_after} KiB, {rss} KiB"
    );
    assert!(
        fds <= fds_start + FD_SLACK,
        "open descriptors: {fds_start} at the start, {fds} after the load settled"
    );
    assert!(
        rss as f64 <= rss_start as f64 * RSS_FACTOR,
        "resident memory: {rss_start} KiB at the start, {rss} KiB after the load settled"
    );

    let logs = log_files(&stack.state);
    println!(
        "soak: {} log files, {} bytes in all",
        logs.len(),
        logs.iter().map(|(_, size)| size).sum::<u64>()
    );
    assert!(
        logs.iter().any(
            |(path, size)| path.starts_with(stack.state.join("logs").join("alb")) && *size > 0
        ),
        "the ALB access log is written: {logs:?}"
    );
    for (path, size) in &logs {
        let bound = log_bound(path, requests);
        assert!(
            *size <= bound,
            "{} is {size} bytes after {requests} requests (bound {bound})",
            path.display()
        );
    }

    drop(stack);
}

/// One `GET /pets` with the token on a keep-alive connection: the status, or the error.
async fn get_pets(sender: &mut SendRequest<Empty<Bytes>>, token: &str) -> Result<u16, String> {
    sender.ready().await.map_err(|e| e.to_string())?;
    let req = http::Request::get("/pets")
        .header("host", support::DOMAIN)
        .header("authorization", format!("Bearer {token}"))
        .body(Empty::new())
        .unwrap();
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    if status != 200 {
        return Err(format!(
            "{status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ));
    }
    Ok(status)
}

/// Pulls one admin lever; it must be accepted.
async fn lever(stack: &Stack, method: &str, path: &str, body: &str) {
    let (status, json) = stack.admin(method, path, body).await;
    assert!(
        status == 200 || status == 202,
        "{method} {path}: {status} {json}"
    );
}
