//! Container health checks, dependsOn, rolling deployments and task logs, through real sockets
//! and the emulated network (docs/aws-rules.md §ALB-4.1–§ALB-4.5).
#![allow(clippy::unwrap_used)]

mod common;

use airlock_fargate::{
    AwsLogs, Condition, ContainerSpec, Dependency, HealthCheck, HealthCommand, HealthStatus,
    ServiceHandle, StopCode, TaskInfo, TaskStatus, start_service,
};
use airlock_net::{Interface, Network, Origin};
use bytes::Bytes;
use common::{BOUND, bounded, client, get, network, service, tasks_where};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// python3 on `$PORT`: `/` answers `VERSION`, `/health` 200 until `/sick` was called, `/log`
/// prints a line before answering.
const APP: &str = r#"
import http.server, os, sys
sick = False
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        global sick
        status, body = 200, os.environ.get("VERSION", "?")
        if self.path == "/sick":
            sick = True
        elif self.path == "/health" and sick:
            status = 500
        elif self.path == "/log":
            print("a line for the log", flush=True)
            print("and one for stderr", file=sys.stderr, flush=True)
        data = body.encode()
        self.send_response(status)
        self.send_header("content-length", str(len(data)))
        self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *args):
        pass
print("listening", flush=True)
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;

/// The health check: GET /health on the container's own port (the check gets its `PORT`).
const HEALTH: &str = "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ['PORT'], timeout=2)";

fn app(version: &str) -> ContainerSpec {
    let mut c =
        ContainerSpec::command("app", vec!["python3".into(), "-c".into(), APP.into()], 8080);
    c.environment = vec![("VERSION".into(), version.into())];
    c.stop_timeout = Duration::from_secs(5);
    c
}

fn with_health(mut c: ContainerSpec) -> ContainerSpec {
    c.health_check = Some(HealthCheck {
        command: HealthCommand::Exec(vec!["python3".into(), "-c".into(), HEALTH.into()]),
        interval: Duration::from_millis(200),
        timeout: Duration::from_secs(3),
        retries: 2,
        start_period: Duration::ZERO,
    });
    c
}

/// Waits until the first task is running or stopped, and returns the task table.
async fn first_task_settled(svc: &ServiceHandle) -> Vec<TaskInfo> {
    tasks_where(svc, "the first task settled", |t| {
        t.first()
            .is_some_and(|t| matches!(t.last_status, TaskStatus::Running | TaskStatus::Stopped))
    })
    .await
}

/// GET `path` at `to` through the emulated network; any failure is an error, never a panic.
async fn try_get(
    net: &Network,
    from: &Interface,
    to: SocketAddr,
    path: &str,
) -> Result<(u16, String), String> {
    let attempt = async {
        let stream = net
            .dial(&Origin::Interface(from.clone()), to)
            .await
            .map_err(|e| format!("dial {to}: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake {to}: {e}"))?;
        tokio::spawn(conn);
        let resp = sender
            .send_request(get(path))
            .await
            .map_err(|e| format!("request {to}: {e}"))?;
        let status = resp.status().as_u16();
        let body: Bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body {to}: {e}"))?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    };
    tokio::time::timeout(Duration::from_secs(10), attempt)
        .await
        .unwrap_or_else(|_| Err(format!("{to}: timed out")))
}

/// docs/aws-rules.md §ALB-4.1/§ALB-4.5: a task whose essential container's health check fails `retries` times turns
/// UNHEALTHY and is replaced, the replacement started (and registered) before the old task stops.
#[tokio::test]
async fn an_unhealthy_task_is_replaced_replacement_first() {
    let net = network();
    let svc = start_service(
        service("sick", 1, with_health(app("1"))),
        net.clone(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let first = tasks_where(&svc, "a HEALTHY task", |t| {
        t.iter()
            .any(|t| t.last_status == TaskStatus::Running && t.health == HealthStatus::Healthy)
    })
    .await;
    let sick = first[0].clone();
    assert_eq!(sick.containers[0].health, HealthStatus::Healthy);
    let target = SocketAddr::from((sick.private_ip.unwrap(), 8080));

    let alb = client(&net, "alb");
    let (status, _) = try_get(&net, &alb, target, "/sick").await.unwrap();
    assert_eq!(status, 200);

    let tasks = tasks_where(
        &svc,
        "the unhealthy task stopped, its replacement running",
        |t| {
            t.iter()
                .any(|t| t.task_id == sick.task_id && t.last_status == TaskStatus::Stopped)
                && t.iter().any(|t| t.last_status == TaskStatus::Running)
        },
    )
    .await;
    let stopped = tasks.iter().find(|t| t.task_id == sick.task_id).unwrap();
    assert_eq!(stopped.health, HealthStatus::Unhealthy);
    assert_eq!(stopped.containers[0].health, HealthStatus::Unhealthy);
    assert_eq!(stopped.stop_code, Some(StopCode::ServiceSchedulerInitiated));
    assert_eq!(
        stopped.stopped_reason.as_deref(),
        Some("Task failed container health checks")
    );
    // Replacement first (maximumPercent 200): it was RUNNING, hence registered, before the
    // unhealthy task was stopped.
    let replacement = tasks
        .iter()
        .find(|t| t.last_status == TaskStatus::Running)
        .unwrap();
    assert!(replacement.started_at.unwrap() <= stopped.stopped_at.unwrap());
    let events: Vec<String> = svc.events().into_iter().map(|e| e.message).collect();
    let started = events
        .iter()
        .position(|e| {
            e.contains(&format!(
                "has started 1 tasks: (task {})",
                replacement.task_id
            ))
        })
        .unwrap();
    let failed = events
        .iter()
        .position(|e| {
            e == &format!(
                "(service sick) (task {}) failed container health checks.",
                sick.task_id
            )
        })
        .unwrap();
    assert!(started < failed, "{events:?}");
    let now = svc.targets().borrow().clone();
    assert_eq!(
        now,
        vec![SocketAddr::from((replacement.private_ip.unwrap(), 8080))]
    );
}

/// docs/aws-rules.md §ALB-4.1 dependsOn: `app` waits for a non-essential `init` container to exit 0 (SUCCESS); a
/// failing `init` stops the task before `app` starts.
#[tokio::test]
async fn depends_on_success_orders_start_and_fails_the_task_on_error() {
    for (code, want_running) in [(0, true), (4, false)] {
        let net = network();
        let mut init = ContainerSpec::command(
            "init",
            vec![
                "python3".into(),
                "-c".into(),
                format!("import sys; print('init'); sys.exit({code})"),
            ],
            0,
        );
        init.port_mappings.clear();
        init.essential = false;
        let mut main = app("1");
        main.depends_on = vec![Dependency {
            container: "init".into(),
            condition: Condition::Success,
        }];
        let mut cfg = service("deps", 1, main);
        // `app` is listed first; the task starts `init` first anyway.
        cfg.task_definition.containers.push(init);
        let svc = start_service(cfg, net.clone(), CancellationToken::new())
            .await
            .unwrap();
        let tasks = first_task_settled(&svc).await;
        let t = &tasks[0];
        if want_running {
            assert_eq!(t.last_status, TaskStatus::Running);
            assert_eq!(t.containers[1].exit_code, Some(0));
            assert!(t.containers[0].pid.is_some());
        } else {
            assert_eq!(t.stop_code, Some(StopCode::TaskFailedToStart));
            let reason = t.stopped_reason.as_deref().unwrap();
            assert!(
                reason.contains("init exited with code 4; condition SUCCESS"),
                "{reason}"
            );
            assert_eq!(t.containers[0].pid, None);
            assert_eq!(t.containers[0].exit_code, None, "app never started");
        }
    }
}

/// docs/aws-rules.md §ALB-4.2: a new task definition rolls out within minimumHealthyPercent 100 / maximumPercent 200:
/// new tasks first, then the old ones drain and stop. Steady load through the emulated network
/// sees no failed request, and ends up answered by the new revision only.
#[tokio::test]
async fn a_rolling_deployment_under_load_loses_no_request() {
    let net = network();
    let mut cfg = service("roll", 2, app("1"));
    // In-flight requests to a deregistered target finish while it drains (docs/aws-rules.md §ALB-3.7).
    cfg.deregistration_delay = Duration::from_millis(300);
    let svc = start_service(cfg.clone(), net.clone(), CancellationToken::new())
        .await
        .unwrap();
    let mut targets = svc.targets();
    bounded("two targets", targets.wait_for(|t| t.len() == 2))
        .await
        .unwrap();

    let stop_load = Arc::new(AtomicBool::new(false));
    let (ok_tx, mut ok) = tokio::sync::mpsc::unbounded_channel::<()>();
    let load = {
        let (net, svc, stop_load) = (net.clone(), svc.clone(), stop_load.clone());
        let alb = client(&net, "alb");
        tokio::spawn(async move {
            let mut failures = Vec::new();
            let mut versions = Vec::new();
            let mut n = 0usize;
            // Bounded: the loop also ends after this many requests.
            while !stop_load.load(Ordering::Relaxed) && n < 20_000 {
                // Like the ALB: pick among the targets registered right now.
                let now = svc.targets().borrow().clone();
                if now.is_empty() {
                    failures.push("no targets".to_owned());
                    tokio::task::yield_now().await;
                    continue;
                }
                let target = now[n % now.len()];
                n += 1;
                match try_get(&net, &alb, target, "/").await {
                    Ok((200, v)) => {
                        versions.push(v);
                        let _ = ok_tx.send(());
                    }
                    Ok((status, body)) => failures.push(format!("{target}: {status} {body}")),
                    Err(e) => failures.push(e),
                }
            }
            (failures, versions)
        })
    };
    // Some load before the deployment starts.
    bounded("load running", async {
        for _ in 0..20 {
            ok.recv().await.unwrap();
        }
    })
    .await;

    let mut td = cfg.task_definition.clone();
    td.revision += 1;
    td.containers[0].environment = vec![("VERSION".into(), "2".into())];
    svc.update_task_definition(td).await.unwrap();

    let mut peak = 0;
    let mut fewest_running = usize::MAX;
    let tasks = tasks_where(&svc, "the deployment done", |t| {
        let active = t
            .iter()
            .filter(|t| !matches!(t.last_status, TaskStatus::Stopped))
            .count();
        peak = peak.max(active);
        fewest_running = fewest_running.min(
            t.iter()
                .filter(|t| t.last_status == TaskStatus::Running)
                .count(),
        );
        let new_running = t
            .iter()
            .filter(|t| t.task_definition == "roll:4" && t.last_status == TaskStatus::Running)
            .count();
        let old_left = t
            .iter()
            .filter(|t| t.task_definition == "roll:3" && t.last_status != TaskStatus::Stopped)
            .count();
        new_running == 2 && old_left == 0
    })
    .await;
    // Some load after the deployment, on the new revision only.
    while ok.try_recv().is_ok() {}
    bounded("load after", async {
        for _ in 0..20 {
            ok.recv().await.unwrap();
        }
    })
    .await;
    stop_load.store(true, Ordering::Relaxed);
    let (failures, versions) = bounded("the load loop", load).await.unwrap();

    assert!(failures.is_empty(), "failed requests: {failures:?}");
    // The load ran before, through and after the rollout: both revisions answered.
    assert!(versions.iter().any(|v| v == "1"));
    assert!(versions.iter().rev().take(20).all(|v| v == "2"));
    assert!(
        fewest_running >= 2,
        "minimumHealthyPercent 100 of 2 keeps 2 RUNNING, saw {fewest_running}"
    );
    assert!(
        peak <= 4,
        "maximumPercent 200 of 2 allows 4 tasks, saw {peak}"
    );
    let old: Vec<&TaskInfo> = tasks
        .iter()
        .filter(|t| t.task_definition == "roll:3")
        .collect();
    assert_eq!(old.len(), 2);
    for t in old {
        assert_eq!(t.stop_code, Some(StopCode::ServiceSchedulerInitiated));
        assert!(
            t.stopped_reason
                .as_deref()
                .unwrap()
                .starts_with("Scaling activity initiated by (deployment ecs-svc/"),
            "{:?}",
            t.stopped_reason
        );
    }
    assert_eq!(svc.task_definition().revision, 4);
    assert!(BOUND > Duration::ZERO);
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "airlock-logs-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every task's stdout and stderr land in a file per task under the log directory, or at the
/// awslogs stream's place (`GROUP/PREFIX/CONTAINER/TASK_ID`) when the definition names one.
#[tokio::test]
async fn task_output_goes_to_a_file_per_task() {
    for awslogs in [false, true] {
        let net = network();
        let dir = temp_dir(if awslogs { "aws" } else { "plain" });
        let mut container = app("1");
        if awslogs {
            container.awslogs = Some(AwsLogs {
                group: "/ecs/pets".into(),
                stream_prefix: Some("web".into()),
            });
        }
        let mut cfg = service("logs", 1, container);
        cfg.log_dir = Some(dir.clone());
        let shutdown = CancellationToken::new();
        let svc = start_service(cfg, net.clone(), shutdown.clone())
            .await
            .unwrap();
        let target = bounded("a target", svc.targets().wait_for(|t| t.len() == 1))
            .await
            .unwrap()[0];
        let task_id = svc.tasks()[0].task_id.clone();
        let alb = client(&net, "alb");
        try_get(&net, &alb, target, "/log").await.unwrap();
        // Stopping reports the exit once the output is written.
        shutdown.cancel();
        bounded("the service stopped", svc.stopped()).await;

        let (path, prefix) = if awslogs {
            (dir.join(format!("ecs/pets/web/app/{task_id}.log")), "")
        } else {
            (dir.join(format!("logs/{task_id}.log")), "app | ")
        };
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for line in ["listening", "a line for the log", "and one for stderr"] {
            assert!(
                text.lines().any(|l| l == format!("{prefix}{line}")),
                "{line:?} not in {}:\n{text}",
                path.display()
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A task that writes nothing leaves no log file: files are created with their first line, so
/// a long run that replaces many silent tasks (the built-in apps write nothing) does not fill
/// the log directory with empty files.
#[tokio::test]
async fn a_silent_task_leaves_no_empty_log_file() {
    use airlock_fargate::BuiltinApp;
    let net = network();
    let dir = temp_dir("silent");
    let mut cfg = service(
        "quiet",
        1,
        ContainerSpec::builtin("app", BuiltinApp::Echo, 8080),
    );
    cfg.log_dir = Some(dir.clone());
    let shutdown = CancellationToken::new();
    let svc = start_service(cfg, net.clone(), shutdown.clone())
        .await
        .unwrap();
    let target = bounded("a target", svc.targets().wait_for(|t| t.len() == 1))
        .await
        .unwrap()[0];
    let alb = client(&net, "alb");
    try_get(&net, &alb, target, "/served").await.unwrap();
    shutdown.cancel();
    bounded("the service stopped", svc.stopped()).await;
    let files: Vec<_> = walk(&dir);
    assert!(files.is_empty(), "empty log files left: {files:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

const TG_ARN: &str =
    "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web-tg/0123456789abcdef";

/// docs/aws-rules.md §ALB-4.2 and §ALB-4.5 with the load balancer's view followed: a new task counts only once its target
/// is healthy there (the old task serves until then), and a task whose target turns unhealthy is
/// replaced, the replacement first.
#[tokio::test]
async fn deployments_and_replacements_follow_the_load_balancers_health() {
    use airlock_fargate::{BuiltinApp, LbTargetHealth};
    let net = network();
    let cfg = service(
        "lbview",
        1,
        ContainerSpec::builtin("app", BuiltinApp::Echo, 8080),
    );
    let svc = start_service(cfg.clone(), net.clone(), CancellationToken::new())
        .await
        .unwrap();
    let (lb, view) = tokio::sync::watch::channel(Vec::new());
    svc.follow_target_health(TG_ARN.into(), view);
    let mut targets = svc.targets();
    let old = bounded("the first target", targets.wait_for(|t| t.len() == 1))
        .await
        .unwrap()[0];
    lb.send_replace(vec![(old, LbTargetHealth::Healthy)]);

    let mut td = cfg.task_definition.clone();
    td.revision += 1;
    svc.update_task_definition(td).await.unwrap();
    let both = bounded(
        "the new target registered",
        targets.wait_for(|t| t.len() == 2),
    )
    .await
    .unwrap()
    .clone();
    let new = *both.iter().find(|t| **t != old).unwrap();
    // The new task serves, but the load balancer is still checking it: the old one stays.
    let alb = client(&net, "alb");
    assert_eq!(try_get(&net, &alb, new, "/").await.unwrap().0, 200);
    let old_task = svc
        .tasks()
        .into_iter()
        .find(|t| t.task_definition == "lbview:3")
        .unwrap();
    assert_eq!(old_task.last_status, TaskStatus::Running);
    assert_eq!(svc.targets().borrow().len(), 2);

    let marked = std::time::SystemTime::now();
    lb.send_replace(vec![
        (old, LbTargetHealth::Healthy),
        (new, LbTargetHealth::Healthy),
    ]);
    let tasks = tasks_where(&svc, "the old task stopped", |t| {
        t.iter()
            .any(|t| t.task_id == old_task.task_id && t.last_status == TaskStatus::Stopped)
    })
    .await;
    let stopped = tasks
        .iter()
        .find(|t| t.task_id == old_task.task_id)
        .unwrap();
    assert!(stopped.stopped_at.unwrap() >= marked);

    // The new target fails its ELB health checks: a replacement starts; once it is healthy in
    // the load balancer, the failing task stops with ECS's reason.
    lb.send_replace(vec![(new, LbTargetHealth::Unhealthy)]);
    let both = bounded(
        "the replacement registered",
        targets.wait_for(|t| t.len() == 2),
    )
    .await
    .unwrap()
    .clone();
    let replacement = *both.iter().find(|t| **t != new).unwrap();
    lb.send_replace(vec![
        (new, LbTargetHealth::Unhealthy),
        (replacement, LbTargetHealth::Healthy),
    ]);
    let failed_ip = match new.ip() {
        std::net::IpAddr::V4(ip) => ip,
        std::net::IpAddr::V6(_) => unreachable!(),
    };
    let tasks = tasks_where(&svc, "the failing task stopped", |t| {
        t.iter()
            .any(|t| t.private_ip == Some(failed_ip) && t.last_status == TaskStatus::Stopped)
    })
    .await;
    let failed = tasks
        .iter()
        .find(|t| t.private_ip == Some(failed_ip))
        .unwrap();
    assert_eq!(
        failed.stopped_reason.as_deref(),
        Some(format!("Task failed ELB health checks in (target-group {TG_ARN})").as_str())
    );
    assert!(svc.events().iter().any(|e| e.message
        == format!(
            "(service lbview) (port 8080) is unhealthy in (target-group {TG_ARN}) due to (reason Health checks failed)."
        )));
    assert_eq!(*svc.targets().borrow(), vec![replacement]);
}

/// docs/aws-rules.md §ALB-4.1 dependsOn HEALTHY: `app` starts only once `db` passes its health check; a `db` that
/// turns UNHEALTHY instead fails the task before `app` starts.
#[tokio::test]
async fn depends_on_healthy_waits_for_the_health_check() {
    for healthy in [true, false] {
        let net = network();
        let mut db = app("db");
        db.name = "db".into();
        db.port_mappings = vec![9000];
        db = with_health(db);
        if !healthy {
            db.health_check.as_mut().unwrap().command = HealthCommand::Shell("exit 1".into());
        }
        let mut main = app("1");
        main.depends_on = vec![Dependency {
            container: "db".into(),
            condition: Condition::Healthy,
        }];
        let mut cfg = service("healthy-dep", 1, main);
        cfg.task_definition.containers.push(db);
        let svc = start_service(cfg, net.clone(), CancellationToken::new())
            .await
            .unwrap();
        let tasks = first_task_settled(&svc).await;
        let t = &tasks[0];
        if healthy {
            assert_eq!(t.last_status, TaskStatus::Running);
            assert_eq!(t.containers[1].health, HealthStatus::Healthy);
            // The essential `app` has no health check: the task's health is UNKNOWN (docs/aws-rules.md §ALB-4.1).
            assert_eq!(t.health, HealthStatus::Unknown);
        } else {
            assert_eq!(t.stop_code, Some(StopCode::TaskFailedToStart));
            let reason = t.stopped_reason.as_deref().unwrap();
            assert!(
                reason.contains("dependency container db is UNHEALTHY; condition HEALTHY"),
                "{reason}"
            );
            assert_eq!(t.containers[0].exit_code, None, "app never started");
        }
    }
}
