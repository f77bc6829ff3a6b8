//! Services and tasks through real sockets and the emulated network (docs/aws-rules.md §ALB-4.2–§ALB-4.6).
#![allow(clippy::unwrap_used)]

mod common;

use airlock_fargate::{
    BuiltinApp, ContainerSpec, ContainerStatus, ServiceError, ServiceHandle, StopCode, TaskInfo,
    TaskStatus, start_service,
};
use airlock_net::{Network, Origin, Verdict};
use common::{bounded, client, get, network, service, tasks_where, via_loopback, via_net};
use http::StatusCode;
use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A `command` container: python3 serving JSON of its environment on `$PORT`; `/crash` exits 3.
const APP: &str = r#"
import http.server, json, os, sys
KEYS = ["PORT", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV",
        "ECS_CONTAINER_METADATA_URI_V4", "ECS_CONTAINER_METADATA_URI", "GREETING"]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/crash":
            os._exit(3)
        body = json.dumps({k: os.environ.get(k) for k in KEYS}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H)
print("listening on", os.environ["PORT"], flush=True)
server.serve_forever()
"#;

fn python_app() -> ContainerSpec {
    let mut c =
        ContainerSpec::command("app", vec!["python3".into(), "-c".into(), APP.into()], 8080);
    c.environment = vec![("GREETING".into(), "hello".into())];
    c.stop_timeout = Duration::from_secs(5);
    c
}

/// Waits until the service's targets satisfy `f`, and returns them.
async fn targets_where(
    svc: &ServiceHandle,
    what: &str,
    f: impl FnMut(&Vec<SocketAddr>) -> bool,
) -> Vec<SocketAddr> {
    let mut rx = svc.targets();
    bounded(what, rx.wait_for(f)).await.unwrap().clone()
}

fn task_at(svc: &ServiceHandle, target: SocketAddr) -> TaskInfo {
    svc.tasks()
        .into_iter()
        .find(|t| {
            t.private_ip.map(IpAddr::V4) == Some(target.ip())
                && t.last_status == TaskStatus::Running
        })
        .unwrap()
}

/// Starts service `py` of one python task; returns the network, the service's shutdown token,
/// the service, its only target and that target's task.
async fn one_python_task() -> (
    Network,
    CancellationToken,
    ServiceHandle,
    SocketAddr,
    TaskInfo,
) {
    let net = network();
    let shutdown = CancellationToken::new();
    let svc = start_service(
        service("py", 1, python_app()),
        net.clone(),
        shutdown.clone(),
    )
    .await
    .unwrap();
    let target = targets_where(&svc, "one target", |t| t.len() == 1).await[0];
    let task = task_at(&svc, target);
    (net, shutdown, svc, target, task)
}

#[tokio::test]
async fn two_builtin_tasks_are_two_targets_in_two_subnets() {
    let net = network();
    let shutdown = CancellationToken::new();
    let svc = start_service(
        service(
            "pets",
            2,
            ContainerSpec::builtin("pets", BuiltinApp::Pets, 8080),
        ),
        net.clone(),
        shutdown.clone(),
    )
    .await
    .unwrap();
    let targets = targets_where(&svc, "two targets", |t| t.len() == 2).await;

    let subnets: BTreeSet<String> = targets
        .iter()
        .map(|t| match t.ip() {
            IpAddr::V4(ip) => format!("{}.{}", ip.octets()[1], ip.octets()[2]),
            IpAddr::V6(_) => unreachable!(),
        })
        .collect();
    assert_eq!(subnets, BTreeSet::from(["0.100".into(), "0.101".into()]));
    assert!(targets.iter().all(|t| t.port() == 8080));

    let alb = client(&net, "alb");
    let mut seen = BTreeSet::new();
    for &target in &targets {
        let task = task_at(&svc, target);
        let reply = via_net(&net, &alb, target, get("/whoami")).await;
        assert_eq!(reply.status, StatusCode::OK);
        let body = reply.json();
        assert_eq!(body["task_id"], task.task_id.as_str());
        assert_eq!(body["private_ip"], target.ip().to_string());
        seen.insert(task.task_id.clone());
        assert_eq!(
            task.task_arn,
            format!(
                "arn:aws:ecs:us-east-1:000000000000:task/alice/{}",
                task.task_id
            )
        );
        assert!(task.host_port.is_some());
    }
    assert_eq!(seen.len(), 2);

    // The tasks' group admits 8080 from `alb` only (docs/aws-rules.md §ALB-4.4).
    let stranger = client(&net, "other");
    assert!(matches!(
        net.judge(&Origin::Interface(stranger), targets[0]),
        Verdict::IngressDenied { .. }
    ));

    shutdown.cancel();
    bounded("the service to stop", svc.stopped()).await;
    assert!(
        net.interfaces()
            .iter()
            .all(|i| !i.interface.description().starts_with("ecs task")),
        "task interfaces are deleted at shutdown"
    );
    assert!(
        svc.tasks()
            .iter()
            .all(|t| t.last_status == TaskStatus::Stopped)
    );
}

#[tokio::test]
async fn a_command_task_serves_its_port_through_the_network() {
    let (net, shutdown, svc, target, task) = one_python_task().await;
    let host_port = task.host_port.unwrap();
    assert_ne!(host_port, 8080, "each task gets its own loopback port");
    assert_eq!(task.containers[0].host_port, Some(host_port));
    assert!(task.containers[0].pid.is_some());

    let alb = client(&net, "alb");
    let reply = via_net(&net, &alb, target, get("/")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let env = reply.json();
    assert_eq!(env["PORT"], host_port.to_string());
    assert_eq!(env["GREETING"], "hello");
    assert_eq!(env["AWS_REGION"], "us-east-1");
    assert_eq!(env["AWS_DEFAULT_REGION"], "us-east-1");
    assert_eq!(env["AWS_EXECUTION_ENV"], "AWS_ECS_FARGATE");
    let uri = env["ECS_CONTAINER_METADATA_URI_V4"].as_str().unwrap();
    assert!(uri.ends_with(&format!("/v4/{}", task.containers[0].docker_id)));
    assert!(
        env["ECS_CONTAINER_METADATA_URI"]
            .as_str()
            .unwrap()
            .contains("/v3/")
    );

    shutdown.cancel();
    bounded("the service to stop", svc.stopped()).await;
}

#[tokio::test]
async fn the_task_metadata_endpoint_answers_in_v4_shape() {
    let (net, shutdown, svc, target, task) = one_python_task().await;
    let alb = client(&net, "alb");
    let env = via_net(&net, &alb, target, get("/")).await.json();
    let uri: http::Uri = env["ECS_CONTAINER_METADATA_URI_V4"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let base: SocketAddr = uri.authority().unwrap().as_str().parse().unwrap();
    assert!(base.ip().is_loopback());

    let container = via_loopback(base, get(uri.path())).await;
    assert_eq!(container.status, StatusCode::OK);
    let c = container.json();
    assert_eq!(c["DockerId"], task.containers[0].docker_id.as_str());
    assert_eq!(c["Name"], "app");
    assert_eq!(c["Type"], "NORMAL");
    assert_eq!(c["KnownStatus"], "RUNNING");
    assert_eq!(c["Ports"][0]["ContainerPort"], 8080);
    assert_eq!(
        c["Labels"]["com.amazonaws.ecs.task-arn"],
        task.task_arn.as_str()
    );
    assert_eq!(
        c["Labels"]["com.amazonaws.ecs.task-definition-version"],
        "3"
    );
    let network = &c["Networks"][0];
    assert_eq!(network["NetworkMode"], "awsvpc");
    assert_eq!(network["IPv4Addresses"][0], target.ip().to_string());
    assert!(
        network["PrivateDNSName"]
            .as_str()
            .unwrap()
            .ends_with(".ec2.internal")
    );

    let t = via_loopback(base, get(&format!("{}/task", uri.path())))
        .await
        .json();
    assert_eq!(
        t["Cluster"],
        "arn:aws:ecs:us-east-1:000000000000:cluster/alice"
    );
    assert_eq!(t["ServiceName"], "py");
    assert_eq!(t["TaskARN"], task.task_arn.as_str());
    assert_eq!(t["Family"], "py");
    assert_eq!(t["Revision"], "3");
    assert_eq!(t["LaunchType"], "FARGATE");
    assert_eq!(t["KnownStatus"], "RUNNING");
    assert_eq!(t["DesiredStatus"], "RUNNING");
    assert_eq!(t["Limits"]["CPU"], 0.25);
    assert_eq!(t["Limits"]["Memory"], 512);
    assert_eq!(
        t["AvailabilityZone"],
        task.availability_zone.as_deref().unwrap()
    );
    assert_eq!(t["Containers"][0]["DockerId"], c["DockerId"]);
    let started = t["Containers"][0]["StartedAt"].as_str().unwrap();
    assert!(started.ends_with('Z') && started.len() == "2024-01-01T00:00:00.000000000Z".len());

    let unknown = via_loopback(base, get("/v4/nope/task")).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    shutdown.cancel();
    bounded("the service to stop", svc.stopped()).await;
}

#[tokio::test]
async fn a_stopped_task_is_replaced_and_its_target_withdrawn() {
    let (net, shutdown, svc, old, old_task) = one_python_task().await;

    svc.stop_task(&old_task.task_id).unwrap();
    let new = targets_where(&svc, "a replacement target", |t| {
        t.len() == 1 && t[0] != old
    })
    .await[0];
    let new_task = task_at(&svc, new);
    assert_ne!(new_task.task_id, old_task.task_id);

    let tasks = tasks_where(&svc, "the old task to stop", |tasks| {
        tasks
            .iter()
            .any(|t| t.task_id == old_task.task_id && t.last_status == TaskStatus::Stopped)
    })
    .await;
    let stopped = tasks
        .iter()
        .find(|t| t.task_id == old_task.task_id)
        .unwrap();
    assert_eq!(stopped.stop_code, Some(StopCode::UserInitiated));
    assert_eq!(stopped.containers[0].last_status, ContainerStatus::Stopped);
    // SIGTERM ends python: 128 + 15, as Docker reports it.
    assert_eq!(stopped.containers[0].exit_code, Some(143));
    // The old interface is gone with its address (docs/aws-rules.md §ALB-4.3 DEPROVISIONING).
    let alb = client(&net, "alb");
    assert_eq!(
        net.judge(&Origin::Interface(alb.clone()), old),
        Verdict::NoSuchAddress
    );
    assert_eq!(
        via_net(&net, &alb, new, get("/")).await.status,
        StatusCode::OK
    );

    let events: Vec<String> = svc.events().into_iter().map(|e| e.message).collect();
    assert!(events.contains(&format!(
        "(service py) has started 1 tasks: (task {}).",
        old_task.task_id
    )));
    assert!(events.contains(&format!(
        "(service py) has started 1 tasks: (task {}).",
        new_task.task_id
    )));

    assert!(matches!(
        svc.stop_task("ffff"),
        Err(ServiceError::UnknownTask(_))
    ));
    shutdown.cancel();
    bounded("the service to stop", svc.stopped()).await;
}

#[tokio::test]
async fn a_crashed_process_is_replaced() {
    let (net, shutdown, svc, old, old_task) = one_python_task().await;

    let alb = client(&net, "alb");
    let stream = bounded("dial", net.dial(&Origin::Interface(alb.clone()), old))
        .await
        .unwrap();
    // The process dies mid-request; the response never comes.
    let crash = tokio::spawn(async move {
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(conn);
        sender.send_request(get("/crash")).await.is_err()
    });
    assert!(bounded("the crash request", crash).await.unwrap());

    let new = targets_where(&svc, "a replacement target", |t| {
        t.len() == 1 && t[0] != old
    })
    .await[0];
    assert_eq!(
        via_net(&net, &alb, new, get("/")).await.status,
        StatusCode::OK
    );
    let tasks = tasks_where(&svc, "the crashed task to stop", |tasks| {
        tasks
            .iter()
            .any(|t| t.task_id == old_task.task_id && t.last_status == TaskStatus::Stopped)
    })
    .await;
    let crashed = tasks
        .iter()
        .find(|t| t.task_id == old_task.task_id)
        .unwrap();
    assert_eq!(crashed.stop_code, Some(StopCode::EssentialContainerExited));
    assert_eq!(
        crashed.stopped_reason.as_deref(),
        Some("Essential container in task exited")
    );
    assert_eq!(crashed.containers[0].exit_code, Some(3));

    shutdown.cancel();
    bounded("the service to stop", svc.stopped()).await;
}

#[tokio::test]
async fn a_process_ignoring_sigterm_is_killed_after_the_stop_timeout() {
    let net = network();
    let shutdown = CancellationToken::new();
    let mut app = python_app();
    app.run = airlock_fargate::Run::Command {
        argv: vec![
            "python3".into(),
            "-c".into(),
            format!("import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n{APP}"),
        ],
        working_directory: None,
        port_env_var: "PORT".into(),
    };
    app.stop_timeout = Duration::from_millis(300);
    let svc = start_service(service("stubborn", 1, app), net.clone(), shutdown.clone())
        .await
        .unwrap();
    let target = targets_where(&svc, "one target", |t| t.len() == 1).await[0];
    let task = task_at(&svc, target);
    let pid = task.containers[0].pid.unwrap();

    shutdown.cancel();
    bounded("the service to stop", svc.stopped()).await;
    let stopped = svc
        .tasks()
        .into_iter()
        .find(|t| t.task_id == task.task_id)
        .unwrap();
    assert_eq!(stopped.stop_code, Some(StopCode::ServiceSchedulerInitiated));
    assert_eq!(
        stopped.containers[0].exit_code,
        Some(137),
        "SIGKILL after stopTimeout"
    );
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert!(svc.targets().borrow().is_empty());
}

#[tokio::test]
async fn a_command_that_cannot_start_fails_and_is_retried() {
    let net = network();
    let shutdown = CancellationToken::new();
    let broken =
        ContainerSpec::command("app", vec!["/nonexistent/airlock-test-binary".into()], 8080);
    let svc = start_service(service("broken", 1, broken), net.clone(), shutdown.clone())
        .await
        .unwrap();
    let tasks = tasks_where(&svc, "two failed attempts", |tasks| {
        tasks
            .iter()
            .filter(|t| t.stop_code == Some(StopCode::TaskFailedToStart))
            .count()
            >= 2
    })
    .await;
    let failed = tasks.iter().find(|t| t.stop_code.is_some()).unwrap();
    assert!(
        failed
            .stopped_reason
            .as_deref()
            .unwrap()
            .contains("CannotStartContainerError")
    );
    assert!(svc.targets().borrow().is_empty());
    shutdown.cancel();
    bounded("the service to stop", svc.stopped()).await;
}

#[tokio::test]
async fn desired_count_changes_scale_the_targets() {
    let net = network();
    let shutdown = CancellationToken::new();
    let svc = start_service(
        service(
            "echo",
            1,
            ContainerSpec::builtin("echo", BuiltinApp::Echo, 8080),
        ),
        net.clone(),
        shutdown.clone(),
    )
    .await
    .unwrap();
    targets_where(&svc, "one target", |t| t.len() == 1).await;
    svc.set_desired_count(3);
    targets_where(&svc, "three targets", |t| t.len() == 3).await;
    svc.set_desired_count(1);
    targets_where(&svc, "one target again", |t| t.len() == 1).await;
    let tasks = tasks_where(&svc, "two tasks stopped", |tasks| {
        tasks
            .iter()
            .filter(|t| t.last_status == TaskStatus::Stopped)
            .count()
            == 2
    })
    .await;
    assert!(
        tasks
            .iter()
            .filter(|t| t.last_status == TaskStatus::Stopped)
            .all(|t| t.stop_code == Some(StopCode::ServiceSchedulerInitiated))
    );
    tasks_where(&svc, "steady state", |_| {
        svc.events()
            .iter()
            .any(|e| e.message == "(service echo) has reached a steady state.")
    })
    .await;
    shutdown.cancel();
    bounded("the service to stop", svc.stopped()).await;
}

#[tokio::test]
async fn impossible_configs_are_refused_before_anything_runs() {
    let net = network();
    let mut cfg = service(
        "bad",
        1,
        ContainerSpec::builtin("pets", BuiltinApp::Pets, 8080),
    );
    cfg.load_balancer.as_mut().unwrap().container_name = "ghost".into();
    let err = start_service(cfg, net.clone(), CancellationToken::new())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, ServiceError::UnknownLbContainer(ref n) if n == "ghost"));

    let mut cfg = service(
        "bad",
        1,
        ContainerSpec::builtin("pets", BuiltinApp::Pets, 8080),
    );
    cfg.load_balancer.as_mut().unwrap().container_port = 9090;
    let err = start_service(cfg, net.clone(), CancellationToken::new())
        .await
        .err()
        .unwrap();
    assert!(matches!(
        err,
        ServiceError::UnmappedLbPort { port: 9090, .. }
    ));

    let mut cfg = service(
        "bad",
        1,
        ContainerSpec::builtin("pets", BuiltinApp::Pets, 8080),
    );
    cfg.task_definition.containers[0].essential = false;
    let err = start_service(cfg, net.clone(), CancellationToken::new())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, ServiceError::NoEssentialContainer(_)));
    assert!(net.interfaces().is_empty());
}

#[tokio::test]
async fn a_stopped_task_drains_before_its_stop_signal() {
    let net = network();
    let shutdown = CancellationToken::new();
    let mut cfg = service(
        "echo",
        1,
        ContainerSpec::builtin("echo", BuiltinApp::Echo, 8080),
    );
    // Long enough that only the shutdown below can end it within the test's bound (docs/aws-rules.md §ALB-4.3).
    cfg.deregistration_delay = Duration::from_secs(3600);
    let svc = start_service(cfg, net.clone(), shutdown.clone())
        .await
        .unwrap();
    let old = targets_where(&svc, "one target", |t| t.len() == 1).await[0];
    let old_task = task_at(&svc, old);

    svc.stop_task(&old_task.task_id).unwrap();
    targets_where(&svc, "the old target withdrawn", |t| !t.contains(&old)).await;
    let tasks = tasks_where(&svc, "the old task deactivating", |tasks| {
        tasks
            .iter()
            .any(|t| t.task_id == old_task.task_id && t.last_status == TaskStatus::Deactivating)
    })
    .await;
    assert!(tasks.iter().any(|t| t.task_id == old_task.task_id));
    // While draining, the task still answers on its private address.
    let alb = client(&net, "alb");
    let reply = via_net(&net, &alb, old, get("/")).await;
    assert_eq!(reply.json()["task_id"], old_task.task_id.as_str());
    // The replacement does not wait for the drain.
    let new = targets_where(&svc, "a replacement", |t| t.len() == 1).await[0];
    assert_ne!(new, old);

    // Shutting down cuts the drain short.
    shutdown.cancel();
    bounded("the service to stop", svc.stopped()).await;
    let stopped = svc
        .tasks()
        .into_iter()
        .find(|t| t.task_id == old_task.task_id)
        .unwrap();
    assert_eq!(stopped.last_status, TaskStatus::Stopped);
    assert_eq!(stopped.stop_code, Some(StopCode::UserInitiated));
}

/// A large change of the desired count is carried out in batches of at most
/// `SCHEDULER_BATCH` tasks, each pass its own event, with the scheduler yielding in between;
/// scaling in is batched the same way. A shutdown in the middle of a scale-up ends the service.
#[tokio::test]
async fn a_large_desired_count_is_reached_in_bounded_batches() {
    let net = network();
    let shutdown = CancellationToken::new();
    let svc = start_service(
        service(
            "pets",
            1,
            ContainerSpec::builtin("pets", BuiltinApp::Pets, 8080),
        ),
        net.clone(),
        shutdown.clone(),
    )
    .await
    .unwrap();
    targets_where(&svc, "one target", |t| t.len() == 1).await;

    let wanted = 4 * airlock_fargate::SCHEDULER_BATCH + 3;
    svc.set_desired_count(wanted as u32);
    targets_where(&svc, "every task registered", |t| t.len() == wanted).await;
    let batches = |verb: &str| -> Vec<usize> {
        svc.events()
            .iter()
            .filter_map(|e| {
                let rest = e.message.split(&format!("has {verb} ")).nth(1)?;
                rest.split(' ').next()?.parse().ok()
            })
            .collect()
    };
    let started = batches("started");
    assert!(
        started
            .iter()
            .all(|&n| n <= airlock_fargate::SCHEDULER_BATCH),
        "{started:?}"
    );
    assert_eq!(started.iter().sum::<usize>(), wanted, "{started:?}");

    svc.set_desired_count(1);
    targets_where(&svc, "one target left", |t| t.len() == 1).await;
    let stopped = batches("stopped");
    assert!(
        stopped.len() >= 4
            && stopped
                .iter()
                .all(|&n| n <= airlock_fargate::SCHEDULER_BATCH),
        "{stopped:?}"
    );

    // Scaling up again, then shutting down at once: the service stops between batches.
    svc.set_desired_count(wanted as u32);
    tokio::task::yield_now().await;
    shutdown.cancel();
    bounded("the service to stop", svc.stopped()).await;
    assert!(
        svc.tasks().len() < wanted,
        "launching went on after the shutdown"
    );
}
