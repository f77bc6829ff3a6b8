//! The `image` runner against a real Docker engine: a FROM-scratch image holding a static test
//! server, built locally (no registry is reachable), run as a task and reached through the
//! emulated network. Where no engine or no static C toolchain is available it is skipped, saying
//! why, except under `CI=true`: the machines CI runs on always have a Docker engine, and `.ci/run`
//! installs gcc and the static C library, so a missing one there is a failure.
#![allow(clippy::unwrap_used)]

mod common;

use airlock_fargate::{
    ContainerSpec, DockerEndpoint, DockerVpc, HealthCheck, HealthCommand, HealthStatus, Run,
    ServiceError, TaskStatus, start_service,
};
use common::{bounded, client, get, network, network_in, service, via_net};
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

/// Whether a Docker engine answers (under `CI=true` its absence fails the test).
fn engine() -> bool {
    let engine = run(Command::new("docker").args(["version", "--format", "{{.Server.Version}}"]));
    airlock_net::testing::require(
        "a Docker engine",
        engine.map(drop),
        "install Docker Engine and start its daemon",
    )
}

/// [`engine`], and gcc with the static C library that [`build_image`] needs.
fn engine_and_static_libc() -> bool {
    if !engine() {
        return false;
    }
    let libc = run(Command::new("gcc").arg("-print-file-name=libc.a")).and_then(|path| {
        // gcc prints the bare name back when it has no such file.
        if path.contains('/') {
            Ok(())
        } else {
            Err("gcc has no static C library".to_owned())
        }
    });
    airlock_net::testing::require("gcc -static", libc, "apt-get install gcc libc6-dev")
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
    if !engine_and_static_libc() {
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

/// A /16 under 10.150-199 that overlaps no route of this machine and no Docker network.
fn free_cidr(skip: &[String]) -> String {
    let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    // Second octets in use by a route (destination and mask in the kernel's byte order).
    let mut used: Vec<(u32, u32)> = routes
        .lines()
        .skip(1)
        .filter_map(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            let hex = |s: &str| u32::from_str_radix(s, 16).ok().map(u32::swap_bytes);
            Some((hex(c.get(1)?)?, hex(c.get(7)?)?))
        })
        .filter(|(_, mask)| *mask != 0)
        .collect();
    let ids = run(Command::new("docker").args(["network", "ls", "-q"])).unwrap();
    for id in ids.lines() {
        let subnets = run(Command::new("docker").args([
            "network",
            "inspect",
            id,
            "-f",
            "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
        ]))
        .unwrap();
        for s in subnets.split_whitespace() {
            if let Some((ip, len)) = s.split_once('/')
                && let (Ok(ip), Ok(len)) = (ip.parse::<std::net::Ipv4Addr>(), len.parse::<u32>())
                && len <= 32
            {
                let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
                used.push((u32::from(ip) & mask, mask));
            }
        }
    }
    (150..200u32)
        .map(|b| (10 << 24) | (b << 16))
        .find(|&net| {
            let mask = 0xffff_0000u32;
            let cidr = format!("{}/16", std::net::Ipv4Addr::from(net));
            !skip.contains(&cidr)
                && !used
                    .iter()
                    .any(|&(u, m)| (net & m) == u || (u & mask) == net)
        })
        .map(|net| format!("{}/16", std::net::Ipv4Addr::from(net)))
        .expect("a free /16")
}

struct Networks(Vec<String>, Vec<String>);

impl Drop for Networks {
    fn drop(&mut self) {
        for c in &self.1 {
            let _ = run(Command::new("docker").args(["rm", "-f", c]));
        }
        for n in &self.0 {
            let _ = run(Command::new("docker").args(["network", "rm", n]));
        }
    }
}

/// The VPC's Docker network: created internal on the CIDR when the engine has none there (an
/// earlier run's labelled leftovers removed first), found and shared when it has one (then not
/// removed by the one that found it), removed at release by its creator or when dropped; none
/// when no task's image is here; and where it cannot be created (the CIDR overlaps another
/// network), no network: tasks publish on 127.0.0.1.
#[tokio::test]
async fn the_vpc_network_is_made_found_released_or_given_up() {
    if !engine() {
        return;
    }
    let pid = std::process::id();
    let own = format!("airlock-test-vpc-{pid}");
    let leftover = format!("airlock-test-leftover-{pid}");
    let blocker = format!("airlock-test-blocker-{pid}");
    let mut guard = Networks(vec![own.clone(), blocker.clone()], vec![leftover.clone()]);
    let cidr = free_cidr(&[]);
    // A container an earlier run left: created, never started; it needs an image, any local one.
    let tag = tokio::task::spawn_blocking(build_image)
        .await
        .unwrap()
        .unwrap();
    run(Command::new("docker").args([
        "create",
        "--name",
        &leftover,
        "--label",
        &format!("airlock.stack={own}"),
        &tag,
    ]))
    .unwrap();

    let vpc = DockerVpc::prepare(DockerEndpoint::default(), &cidr, &own, &[&tag]).await;
    assert_eq!(vpc.network(), Some(own.as_str()));
    assert_eq!(vpc.labels(), [("airlock.stack".to_owned(), own.clone())]);
    assert!(
        run(Command::new("docker").args(["inspect", &leftover])).is_err(),
        "the leftover is removed"
    );
    let shape = run(Command::new("docker").args([
        "network",
        "inspect",
        "-f",
        "{{.Internal}} {{range .IPAM.Config}}{{.Subnet}}{{end}}",
        &own,
    ]))
    .unwrap();
    assert_eq!(shape, format!("true {cidr}"));

    // Another stack on the same CIDR finds it, and does not remove it.
    let other = DockerVpc::prepare(
        DockerEndpoint::default(),
        &cidr,
        "airlock-test-other",
        &[&tag],
    )
    .await;
    assert_eq!(other.network(), Some(own.as_str()));
    other.release().await;
    assert!(run(Command::new("docker").args(["network", "inspect", &own])).is_ok());
    vpc.release().await;
    assert!(
        run(Command::new("docker").args(["network", "inspect", &own])).is_err(),
        "removed by its creator"
    );

    // Dropped without a release (a stack dropped without its stop): it still cleans up.
    let dropped = DockerVpc::prepare(DockerEndpoint::default(), &cidr, &own, &[&tag]).await;
    assert_eq!(dropped.network(), Some(own.as_str()));
    drop(dropped);
    assert!(
        run(Command::new("docker").args(["network", "inspect", &own])).is_err(),
        "removed on drop"
    );
    // None of the tasks' images is here: their tasks cannot start, and no network is made.
    let absent = format!("airlock-test-absent:{}", std::process::id());
    let pointless = DockerVpc::prepare(DockerEndpoint::default(), &cidr, &own, &[&absent]).await;
    assert_eq!(pointless.network(), None);

    // A CIDR overlapping another network: none is made, and image tasks publish instead.
    let wide = free_cidr(std::slice::from_ref(&cidr));
    let narrow = wide.replace("/16", "/24");
    run(Command::new("docker").args(["network", "create", "--subnet", &narrow, &blocker])).unwrap();
    let given_up = DockerVpc::prepare(DockerEndpoint::default(), &wide, &own, &[&tag]).await;
    assert_eq!(given_up.network(), None);
    given_up.release().await;
    guard.1.clear();
}

/// On the VPC's Docker network, an init container that runs to completion first (`dependsOn`
/// COMPLETE) leaves the task's address to the next container, which holds it: the task serves at
/// its private IP, published nowhere.
#[tokio::test]
async fn after_an_init_container_exits_the_next_holds_the_task_address() {
    if !engine_and_static_libc() {
        return;
    }
    let tag = tokio::task::spawn_blocking(build_image)
        .await
        .unwrap()
        .unwrap();
    let cidr = free_cidr(&[]);
    let own = format!("airlock-test-init-{}", std::process::id());
    let _guard = Networks(vec![own.clone()], Vec::new());
    let vpc = DockerVpc::prepare(DockerEndpoint::default(), &cidr, &own, &[&tag]).await;
    assert_eq!(vpc.network(), Some(own.as_str()));
    let net = network_in(cidr.trim_end_matches(".0.0/16"));

    let name = format!("init{}", std::process::id());
    let mut init = ContainerSpec::image("init", &tag, 8080);
    init.port_mappings.clear();
    init.essential = false;
    init.run = Run::Image {
        image: tag.clone(),
        entry_point: None,
        // Exits at once: nothing listens on port 1.
        command: Some(vec!["--check".into(), "1".into()]),
        working_directory: None,
    };
    let mut web = ContainerSpec::image("web", &tag, 8080);
    web.run = Run::Image {
        image: tag.clone(),
        entry_point: None,
        command: Some(vec!["8080".into()]),
        working_directory: None,
    };
    web.environment = vec![("GREETING".into(), "after init".into())];
    web.stop_timeout = Duration::from_secs(2);
    web.depends_on = vec![airlock_fargate::Dependency {
        container: "init".into(),
        condition: airlock_fargate::Condition::Complete,
    }];
    let mut cfg = service(&name, 1, web);
    cfg.task_definition.containers.insert(0, init);
    cfg.docker_network = vpc.network().map(str::to_owned);
    cfg.docker_labels = vpc.labels();
    let shutdown = CancellationToken::new();
    let svc = start_service(cfg, net.clone(), shutdown.clone())
        .await
        .unwrap();
    let target = bounded(
        "the task's target",
        svc.targets().wait_for(|t| t.len() == 1),
    )
    .await
    .unwrap()[0];
    let reply = via_net(&net, &client(&net, "alb"), target, get("/")).await;
    assert_eq!(&reply.body[..], b"GREETING=after init");
    let web_id = containers_labelled(&name)
        .into_iter()
        .find(|id| {
            run(Command::new("docker").args(["inspect", "-f", "{{.Config.Labels}}", id]))
                .unwrap()
                .contains("container-name:web")
        })
        .expect("the web container");
    let ip = run(Command::new("docker").args([
        "inspect",
        "-f",
        &format!("{{{{(index .NetworkSettings.Networks \"{own}\").IPAddress}}}}"),
        &web_id,
    ]))
    .unwrap();
    assert_eq!(
        ip,
        target.ip().to_string(),
        "web holds the task's private IP"
    );

    shutdown.cancel();
    bounded("the service stopped", svc.stopped()).await;
    assert!(containers_labelled(&name).is_empty(), "containers removed");
    vpc.release().await;
}

/// The reason the first task that stopped gave, once one has.
async fn first_stopped_reason(svc: &airlock_fargate::ServiceHandle) -> String {
    let mut changes = svc.changes();
    bounded("a task stopped", async {
        loop {
            if let Some(r) = svc.tasks().iter().find_map(|t| t.stopped_reason.clone()) {
                return r;
            }
            changes.changed().await.unwrap();
        }
    })
    .await
}

/// An image the engine lacks stops the task with ECS's `CannotPullContainerError`: without
/// `pull_images` (`--pull`) nothing is pulled and the reason says how to run it; with it the
/// engine is asked to pull, and a pull that fails is the reason. The image names a registry on
/// this machine's loopback where nothing listens, so the engine's pull dials 127.0.0.1 only and
/// is refused at once ("CannotPullContainerError",
/// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stopped-task-error-codes.html).
#[tokio::test]
async fn an_image_the_engine_lacks_stops_the_task_pulled_or_not() {
    if !engine() {
        return;
    }
    let image = "127.0.0.1:9/airlock-test/absent:1";
    for pull in [false, true] {
        let net = network();
        let name = format!("absent-{pull}");
        let mut cfg = service(&name, 1, ContainerSpec::image("web", image, 8080));
        cfg.pull_images = pull;
        let shutdown = CancellationToken::new();
        let svc = start_service(cfg, net.clone(), shutdown.clone())
            .await
            .unwrap();
        let reason = first_stopped_reason(&svc).await;
        assert!(reason.contains("CannotPullContainerError"), "{reason}");
        assert!(reason.contains(image), "{reason}");
        assert!(reason.contains("--image"), "{reason}");
        if pull {
            assert!(reason.contains("pulling image"), "{reason}");
        } else {
            assert!(reason.contains("--pull"), "{reason}");
        }
        shutdown.cancel();
        bounded("the service stopped", svc.stopped()).await;
    }
}
