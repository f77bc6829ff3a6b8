//! The `image` runner against a real Docker engine: a FROM-scratch image holding a static test
//! server, built locally (no registry is reachable), run as a task and reached through the
//! emulated network. Where no engine or no static C toolchain is available it is skipped, saying
//! why, except under `CI=true`: the machines CI runs on always have a Docker engine, and `.ci/run`
//! installs gcc and the static C library, so a missing one there is a failure.
#![allow(clippy::unwrap_used)]

mod common;

use airlock_fargate::{
    ContainerSpec, DockerEndpoint, HealthCheck, HealthCommand, HealthStatus, Run, ServiceError,
    TaskStatus, start_service,
};
use common::{bounded, client, get, network, service, via_net};
use http::StatusCode;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const SERVER_C: &str = include_str!("fixtures/static_server.c");

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Builds `airlock-test-static:<hash of the source>` unless the engine has it: a static binary
/// from `gcc -static`, copied into an empty (`FROM scratch`) image.
fn build_image() -> Result<String, String> {
    let hash = SERVER_C.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let tag = format!("airlock-test-static:{hash:016x}");
    if run(Command::new("docker").args(["image", "inspect", &tag])).is_ok() {
        return Ok(tag);
    }
    let dir = std::env::temp_dir().join(format!("airlock-docker-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("server.c"), SERVER_C).map_err(|e| e.to_string())?;
    run(Command::new("gcc")
        .args(["-static", "-O2", "-o", "server", "server.c"])
        .current_dir(&dir))
    .map_err(|e| {
        format!("cannot build a static binary (install gcc and the static C library, e.g. apt-get install libc6-dev): {e}")
    })?;
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM scratch\nCOPY server /server\nENTRYPOINT [\"/server\"]\n",
    )
    .map_err(|e| e.to_string())?;
    run(Command::new("docker")
        .args(["build", "-q", "-t", &tag, "."])
        .current_dir(&dir))?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(tag)
}

fn containers_labelled(service: &str) -> Vec<String> {
    run(Command::new("docker").args([
        "ps",
        "-a",
        "-q",
        "--filter",
        &format!("label=airlock.service={service}"),
    ]))
    .unwrap()
    .lines()
    .map(str::to_owned)
    .collect()
}

/// An image task: environment and command applied, its port published on 127.0.0.1 only and
/// served at the task's private address, its health check run inside the container (exec), and
/// the container stopped and removed with the task.
#[tokio::test]
async fn an_image_task_serves_through_the_network_and_is_removed_after_stop() {
    let engine = run(Command::new("docker").args(["version", "--format", "{{.Server.Version}}"]));
    if !airlock_net::testing::require(
        "a Docker engine",
        engine.map(drop),
        "install Docker Engine and start its daemon",
    ) {
        return;
    }
    let libc = run(Command::new("gcc").arg("-print-file-name=libc.a")).and_then(|path| {
        // gcc prints the bare name back when it has no such file.
        if path.contains('/') {
            Ok(())
        } else {
            Err("gcc has no static C library".to_owned())
        }
    });
    if !airlock_net::testing::require("gcc -static", libc, "apt-get install gcc libc6-dev") {
        return;
    }
    let tag = tokio::task::spawn_blocking(build_image)
        .await
        .unwrap()
        .expect("the test image builds");
    let net = network();
    let name = format!("img{}", std::process::id());
    let mut web = ContainerSpec::image("web", &tag, 8080);
    web.run = Run::Image {
        image: tag.clone(),
        entry_point: None,
        command: Some(vec!["8080".into()]),
        working_directory: None,
    };
    web.environment = vec![("GREETING".into(), "hello from docker".into())];
    web.stop_timeout = Duration::from_secs(2);
    web.health_check = Some(HealthCheck {
        command: HealthCommand::Exec(vec!["/server".into(), "--check".into(), "8080".into()]),
        interval: Duration::from_millis(200),
        timeout: Duration::from_secs(5),
        retries: 3,
        start_period: Duration::ZERO,
    });
    let cfg = service(&name, 1, web);
    let shutdown = CancellationToken::new();
    let svc = start_service(cfg, net.clone(), shutdown.clone())
        .await
        .unwrap();
    let target = bounded(
        "the image task's target",
        svc.targets().wait_for(|t| t.len() == 1),
    )
    .await
    .unwrap()[0];

    let alb = client(&net, "alb");
    let reply = via_net(&net, &alb, target, get("/")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(&reply.body[..], b"GREETING=hello from docker");

    let ids = containers_labelled(&name);
    assert_eq!(ids.len(), 1, "{ids:?}");
    let ports = run(Command::new("docker").args(["port", &ids[0], "8080/tcp"])).unwrap();
    let task = svc.tasks()[0].clone();
    assert_eq!(
        ports.lines().collect::<Vec<_>>(),
        [format!("127.0.0.1:{}", task.host_port.unwrap())],
        "published on loopback only"
    );

    let mut changes = svc.changes();
    bounded("the container HEALTHY", async {
        while svc.tasks()[0].health != HealthStatus::Healthy {
            changes.changed().await.unwrap();
        }
    })
    .await;

    shutdown.cancel();
    bounded("the service stopped", svc.stopped()).await;
    let t = &svc.tasks()[0];
    assert_eq!(t.last_status, TaskStatus::Stopped);
    assert_eq!(t.containers[0].exit_code, Some(0), "SIGTERM handled");
    assert!(containers_labelled(&name).is_empty(), "container removed");
}

/// With no engine, the service is refused before anything runs, naming the container, the
/// image, where airlock looked, and what to do.
#[tokio::test]
async fn no_engine_is_a_clear_error_naming_the_container() {
    let net = network();
    let mut cfg = service("noengine", 1, ContainerSpec::image("web", "pets:dev", 8080));
    cfg.docker = DockerEndpoint::Unix(Path::new("/nonexistent/docker.sock").to_owned());
    let err = start_service(cfg, net.clone(), CancellationToken::new())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, ServiceError::NoDockerEngine { .. }), "{err}");
    let text = err.to_string();
    for needle in [
        "container \"web\"",
        "\"pets:dev\"",
        "unix:///nonexistent/docker.sock",
        "DOCKER_HOST",
        "image_map",
    ] {
        assert!(text.contains(needle), "{needle} not in {text}");
    }
    assert!(net.interfaces().is_empty(), "nothing was provisioned");
}

#[test]
fn docker_host_values() {
    assert_eq!(
        DockerEndpoint::from_docker_host(None).unwrap(),
        DockerEndpoint::Unix("/var/run/docker.sock".into())
    );
    assert_eq!(
        DockerEndpoint::from_docker_host(Some("unix:///run/user/1000/docker.sock")).unwrap(),
        DockerEndpoint::Unix("/run/user/1000/docker.sock".into())
    );
    assert_eq!(
        DockerEndpoint::from_docker_host(Some("tcp://127.0.0.1:2375")).unwrap(),
        DockerEndpoint::Tcp("127.0.0.1:2375".into())
    );
    assert!(DockerEndpoint::from_docker_host(Some("ssh://host")).is_err());
}
