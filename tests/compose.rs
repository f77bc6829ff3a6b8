//! The container image and `docker-compose.yml` end to end, on this machine's Docker engine
//! (docs/compose.md): the image is built offline by `docker/build.sh`, the compose project comes
//! up on networks with subnets of its own (free of every route and Docker network here), and
//! real clients (the host's curl and dig) run inside containers' network namespaces through
//! `nsenter`. Only loopback and the addresses of the networks this test creates are dialled.
//!
//! Where there is no engine, no Compose, or no nsenter/curl/dig/gcc, the test is skipped with a
//! line saying why, except under `CI=true`, where `.ci/run` provides them and a missing one fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The ALB's name in the default stack (its id is derived from the account and name).
const ALB_NAME: &str = "internal-pets-alb-2493362687.us-east-1.elb.amazonaws.com";
/// The static test server the fargate crate's image test uses; here the probe containers' and
/// the image task's program.
const SERVER_C: &str = include_str!("../crates/fargate/tests/fixtures/static_server.c");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

/// Runs `cmd`, which must succeed; its trimmed stdout.
fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn docker(args: &[&str]) -> Command {
    let mut c = Command::new("docker");
    c.args(args);
    c
}

/// The Compose command: the standalone `docker-compose`, else the `docker compose` plugin.
fn compose_program() -> Option<Vec<String>> {
    let works = |argv: &[&str]| {
        Command::new(argv[0])
            .args(&argv[1..])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if works(&["docker-compose", "version"]) {
        Some(vec!["docker-compose".into()])
    } else if works(&["docker", "compose", "version"]) {
        Some(vec!["docker".into(), "compose".into()])
    } else {
        None
    }
}

/// IPv4 networks in use here: every route's destination and every Docker network's subnet.
fn networks_in_use() -> Vec<ipnet::Ipv4Net> {
    let mut used = Vec::new();
    // /proc/net/route: destination and mask in hex, in the kernel's (little-endian) byte order.
    let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    for line in routes.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 8 {
            continue;
        }
        let hex = |s: &str| u32::from_str_radix(s, 16).ok().map(u32::swap_bytes);
        if let (Some(dest), Some(mask)) = (hex(cols[1]), hex(cols[7]))
            && let Ok(net) =
                ipnet::Ipv4Net::with_netmask(Ipv4Addr::from(dest), Ipv4Addr::from(mask))
            && net.prefix_len() > 0
        {
            used.push(net);
        }
    }
    let ids = ok(&mut docker(&["network", "ls", "-q"]));
    for id in ids.lines() {
        let subnets = ok(&mut docker(&[
            "network",
            "inspect",
            id,
            "-f",
            "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
        ]));
        used.extend(
            subnets
                .split_whitespace()
                .filter_map(|s| s.parse::<ipnet::Ipv4Net>().ok()),
        );
    }
    used
}

fn overlaps(a: &ipnet::Ipv4Net, b: &ipnet::Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The first candidate that overlaps nothing in use, starting at an offset of this process's
/// own so concurrent runs try different ones first.
fn free_net(candidates: impl Fn(u8) -> ipnet::Ipv4Net, used: &[ipnet::Ipv4Net]) -> ipnet::Ipv4Net {
    let start = (std::process::id() % 40) as u8;
    (0..40u8)
        .map(|i| candidates(200 + (start + i) % 40))
        .find(|n| !used.iter().any(|u| overlaps(n, u)))
        .expect("a free subnet among the candidates")
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Everything this test creates, removed when it ends, pass or fail.
struct Cleanup {
    compose: Vec<String>,
    project: String,
    dir: PathBuf,
    containers: Vec<String>,
    images: Vec<String>,
}

impl Cleanup {
    fn compose(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.compose[0]);
        c.args(&self.compose[1..])
            .arg("--project-name")
            .arg(&self.project)
            .arg("--file")
            .arg(repo().join("docker-compose.yml"))
            .arg("--file")
            .arg(self.dir.join("override.yml"))
            .args(args)
            .current_dir(repo());
        c
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = run(&mut docker(&["rm", "-f", c]));
        }
        let _ =
            run(&mut self.compose(&["down", "--volumes", "--remove-orphans", "--timeout", "5"]));
        for i in &self.images {
            let _ = run(&mut docker(&["rmi", "-f", i]));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The process id of a container's first process: `nsenter -t PID -n` enters its network
/// namespace.
fn pid_of(container: &str) -> String {
    ok(&mut docker(&["inspect", "-f", "{{.State.Pid}}", container]))
}

/// Runs a host program inside a container's network namespace.
fn inside(pid: &str, program: &str, args: &[&str]) -> Output {
    run(Command::new("nsenter")
        .args(["-t", pid, "-n", program])
        .args(args))
}

fn dig(pid: Option<&str>, server: &str, port: &str, name: &str) -> Vec<String> {
    let args = [
        "+short",
        "+time=2",
        "+tries=2",
        "-p",
        port,
        &format!("@{server}"),
        name,
    ];
    let out = match pid {
        Some(pid) => inside(pid, "dig", &args),
        None => run(Command::new("dig").args(args)),
    };
    assert!(out.status.success(), "dig {name}: {out:?}");
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

/// The default stack, moved into `cidr`'s first two octets; the ALB admits by address only the
/// lower half of the compose network's container range.
fn stack_for(vpc: &ipnet::Ipv4Net) -> String {
    let [a, b, ..] = vpc.network().octets();
    let prefix = format!("{a}.{b}.");
    let yaml = airlock_config::DEFAULT_STACK_YAML.replace("10.0.", &prefix);
    let wide = format!("cidr_ip: {prefix}255.0/24");
    assert!(
        yaml.contains(&wide),
        "the default stack admits the compose range"
    );
    yaml.replace(&wide, &format!("cidr_ip: {prefix}255.0/25"))
}

fn build_probe_image(dir: &Path, tag: &str) {
    std::fs::write(dir.join("server.c"), SERVER_C).unwrap();
    ok(Command::new("gcc")
        .args(["-static", "-O2", "-o", "server", "server.c"])
        .current_dir(dir));
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM scratch\nCOPY server /server\nENTRYPOINT [\"/server\"]\n",
    )
    .unwrap();
    ok(docker(&["build", "-q", "-t", tag, "."]).current_dir(dir));
}

fn prerequisites() -> Option<Vec<String>> {
    let engine = run(&mut docker(&["version", "--format", "{{.Server.Version}}"]));
    if !airlock_net::testing::require(
        "a Docker engine",
        engine
            .status
            .success()
            .then_some(())
            .ok_or("`docker version` reaches no engine"),
        "install Docker Engine and start its daemon",
    ) {
        return None;
    }
    let compose = compose_program();
    if !airlock_net::testing::require(
        "Docker Compose",
        compose
            .as_ref()
            .map(drop)
            .ok_or("neither docker-compose nor docker compose runs"),
        "apt-get install docker-compose",
    ) {
        return None;
    }
    let static_libc = run(Command::new("gcc").arg("-print-file-name=libc.a"));
    let have = support::tool("nsenter", "--version", "apt-get install util-linux")
        && support::tool("curl", "--version", "apt-get install curl")
        && support::tool("dig", "-v", "apt-get install dnsutils")
        && airlock_net::testing::require(
            "gcc -static",
            String::from_utf8_lossy(&static_libc.stdout)
                .contains('/')
                .then_some(())
                .ok_or("no gcc with a static C library"),
            "apt-get install gcc libc6-dev",
        );
    have.then_some(compose?)
}

/// `docker compose up` runs the default stack from the image: the gateway answers 401 and 200
/// through the host port with the CA from the bind-mounted state directory; on the `vpc`
/// network the resolver answers with the VPC view and the ALB at its private address, with its
/// security group applied (a host outside its address rule is never answered); from `public`
/// the ALB's private address times out in the kernel; SIGTERM stops airlock gracefully; and
/// `docker compose down` leaves no container or network.
#[test]
fn compose_runs_the_stack_on_real_networks_and_leaves_nothing() {
    let Some(compose) = prerequisites() else {
        return;
    };
    let unique = format!(
        "{}{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
            % 100_000
    );
    let project = format!("airlocktest{unique}");
    let dir = std::env::temp_dir().join(format!("airlock-compose-{unique}"));
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let mut cleanup = Cleanup {
        compose,
        project: project.clone(),
        dir: dir.clone(),
        containers: Vec::new(),
        images: Vec::new(),
    };

    let used = networks_in_use();
    let vpc = free_net(|x| format!("10.{x}.0.0/16").parse().unwrap(), &used);
    let public = free_net(|x| format!("172.29.{x}.0/24").parse().unwrap(), &used);
    let [a, b, ..] = vpc.network().octets();
    let ip = |c: u8, d: u8| Ipv4Addr::new(a, b, c, d);
    let stack = stack_for(&vpc);
    std::fs::write(dir.join("stack.yaml"), &stack).unwrap();
    // The documented way to run one's own stack: one volume line over the image's stack file.
    std::fs::write(
        dir.join("override.yml"),
        format!(
            "services:\n  airlock:\n    volumes:\n      - {}:/etc/airlock/stack.yaml:ro\n      - {}:/var/run/docker.sock\n",
            dir.join("stack.yaml").display(),
            docker_socket().display()
        ),
    )
    .unwrap();

    // The state directory belongs to someone else than the root airlock runs as in the
    // container: what airlock creates there must become theirs.
    let owner = 4242;
    let as_root = std::os::unix::fs::chown(&state, Some(owner), Some(owner)).is_ok();

    let image = format!("airlock-test-compose:{unique}");
    cleanup.images.push(image.clone());
    let started = std::time::Instant::now();
    ok(Command::new(repo().join("docker/build.sh"))
        .env("AIRLOCK_IMAGE", &image)
        .env("AIRLOCK_BINARY", env!("CARGO_BIN_EXE_airlock")));
    eprintln!("compose test: image built in {:?}", started.elapsed());
    let probe_image = format!("airlock-test-probe:{unique}");
    cleanup.images.push(probe_image.clone());
    let probe_dir = dir.join("probe");
    std::fs::create_dir_all(&probe_dir).unwrap();
    build_probe_image(&probe_dir, &probe_image);

    let ports: Vec<(&str, u16)> = [
        "AIRLOCK_GATEWAY_PORT",
        "AIRLOCK_DNS_PORT",
        "AIRLOCK_VPC_LINK_PORT",
        "AIRLOCK_ADMIN_PORT",
        "AIRLOCK_SOCKS_INTERNET_PORT",
        "AIRLOCK_SOCKS_VPC_PORT",
    ]
    .into_iter()
    .map(|name| (name, free_port()))
    .collect();
    let port = |name: &str| ports.iter().find(|(n, _)| *n == name).unwrap().1;
    let mut up = cleanup.compose(&["up", "--detach"]);
    up.env("AIRLOCK_IMAGE", &image)
        .env("AIRLOCK_STATE_DIR", &state)
        .env("AIRLOCK_VPC_CIDR", vpc.to_string())
        .env("AIRLOCK_VPC_DOCKER_RANGE", format!("{a}.{b}.255.0/24"))
        .env("AIRLOCK_VPC_GATEWAY", ip(0, 1).to_string())
        .env("AIRLOCK_PUBLIC_CIDR", public.to_string());
    for (name, p) in &ports {
        up.env(name, p.to_string());
    }
    ok(&mut up);
    let airlock = ok(&mut cleanup.compose(&["ps", "-q", "airlock"]));

    // Serving once the gateway answers /health through the host port (the CA exists by then).
    let gateway = port("AIRLOCK_GATEWAY_PORT");
    let resolve = format!("{}:{gateway}:127.0.0.1", support::DOMAIN);
    let url = |path: &str| format!("https://{}:{gateway}{path}", support::DOMAIN);
    let ca = state.join("ca.pem");
    let curl_host = |path: &str, token: Option<&str>| -> String {
        let mut c = Command::new("curl");
        c.args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "5"])
            .arg("--cacert")
            .arg(&ca)
            .args(["--resolve", &resolve, &url(path)]);
        if let Some(t) = token {
            c.args(["-H", &format!("Authorization: Bearer {t}")]);
        }
        String::from_utf8_lossy(&run(&mut c).stdout).into_owned()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while curl_host("/health", None) != "200" {
        assert!(
            std::time::Instant::now() < deadline,
            "the gateway never answered 200 on /health: {}",
            ok(&mut docker(&["logs", &airlock]))
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }

    // Through the host port, as the README's curl lines do.
    assert_eq!(
        curl_host("/whoami", None),
        "401",
        "no token: API Gateway's 401"
    );
    let token = ok(Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["token", "--scope", "pets/write", "--state-dir"])
        .arg(&state));
    assert_eq!(curl_host("/whoami", Some(&token)), "200", "with a token");
    if as_root {
        use std::os::unix::fs::MetadataExt as _;
        assert_eq!(
            std::fs::metadata(&ca).unwrap().uid(),
            owner,
            "ca.pem is the state dir owner's"
        );
    }

    // Probes: two containers on `vpc` (inside and outside the ALB's address rule), one on
    // `public` only.
    let vpc_net = format!("{project}_vpc");
    let public_net = format!("{project}_public");
    let probe = |name: &str, network: &str, address: Option<Ipv4Addr>| -> String {
        let name = format!("{project}-{name}");
        let mut args = vec!["run", "-d", "--name", &name, "--network", network];
        let address = address.map(|a| a.to_string());
        if let Some(a) = &address {
            args.extend(["--ip", a]);
        }
        args.extend([probe_image.as_str(), "9999"]);
        ok(&mut docker(&args));
        name
    };
    let admitted = ip(255, 10);
    let stranger = ip(255, 200);
    let names = [
        probe("admitted", &vpc_net, Some(admitted)),
        probe("stranger", &vpc_net, Some(stranger)),
        probe("outside", &public_net, None),
    ];
    cleanup.containers.extend(names.iter().cloned());
    let [admitted_pid, stranger_pid, outside_pid] = names.each_ref().map(|n| pid_of(n));

    // The VPC resolver (base + 2) answers on the real network with the VPC view: the private
    // zone sends the custom domain to the ALB's nodes, which the public view does not.
    let resolver = ip(0, 2).to_string();
    let alb_nodes = dig(Some(&admitted_pid), &resolver, "53", ALB_NAME);
    assert_eq!(alb_nodes.len(), 2, "two ALB nodes: {alb_nodes:?}");
    assert!(
        alb_nodes
            .iter()
            .all(|n| vpc.contains(&n.parse::<Ipv4Addr>().unwrap()))
    );
    let private_view = dig(Some(&admitted_pid), &resolver, "53", support::DOMAIN);
    assert_eq!(
        private_view, alb_nodes,
        "the private zone answers inside the VPC"
    );
    let dns_port = port("AIRLOCK_DNS_PORT").to_string();
    let public_view = dig(None, "127.0.0.1", &dns_port, support::DOMAIN);
    assert!(
        !public_view.is_empty() && public_view != alb_nodes,
        "{public_view:?}"
    );

    // The ALB at its private address, from a container its security group admits by address.
    let node = &alb_nodes[0];
    let at_node = format!("{}:443:{node}", support::DOMAIN);
    let whoami = inside(
        &admitted_pid,
        "curl",
        &[
            "-s",
            "-m",
            "10",
            "--cacert",
            ca.to_str().unwrap(),
            "--resolve",
            &at_node,
            &format!("https://{}/whoami", support::DOMAIN),
        ],
    );
    let body = String::from_utf8_lossy(&whoami.stdout);
    assert!(
        whoami.status.success(),
        "the ALB answers on the vpc network: {whoami:?}"
    );
    assert!(
        body.contains(&format!("\"x-forwarded-for\":\"{admitted}\"")),
        "the ALB saw the container's own address: {body}"
    );

    // A host on `vpc` outside the rule: the security group drops it, and nothing answers.
    let dropped = inside(
        &stranger_pid,
        "curl",
        &[
            "-s",
            "-m",
            "3",
            "--cacert",
            ca.to_str().unwrap(),
            "--resolve",
            &at_node,
            &format!("https://{}/health", support::DOMAIN),
        ],
    );
    assert_eq!(dropped.status.code(), Some(28), "timed out: {dropped:?}");
    // So is the host itself (the README's line): it stands on the vpc bridge at base + 1.
    let from_host = run(Command::new("curl")
        .args(["-s", "-m", "3", "--cacert"])
        .arg(&ca)
        .args(["--resolve", &at_node])
        .arg(format!("https://{}/health", support::DOMAIN)));
    assert_eq!(
        from_host.status.code(),
        Some(28),
        "timed out: {from_host:?}"
    );

    // Only on `public`: the ALB's name resolves (to private addresses) through airlock's
    // public DNS, and the connection times out in the kernel: no TCP connection at all.
    let airlock_public = ok(&mut docker(&[
        "inspect",
        "-f",
        &format!("{{{{(index .NetworkSettings.Networks \"{public_net}\").IPAddress}}}}"),
        &airlock,
    ]));
    let from_outside = dig(Some(&outside_pid), &airlock_public, "4053", ALB_NAME);
    assert_eq!(
        from_outside, alb_nodes,
        "the public view names the private addresses too"
    );
    let outside = inside(
        &outside_pid,
        "curl",
        &[
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{time_connect}",
            "-m",
            "3",
            "--cacert",
            ca.to_str().unwrap(),
            "--resolve",
            &at_node,
            &format!("https://{}/health", support::DOMAIN),
        ],
    );
    assert_eq!(outside.status.code(), Some(28), "timed out: {outside:?}");
    assert_eq!(
        String::from_utf8_lossy(&outside.stdout).parse::<f64>().ok(),
        Some(0.0),
        "the TCP handshake never completed"
    );

    // An image task, sent as the service's next task definition: its containers run beside
    // airlock on the vpc network, `app` at the task's private address, `sidecar` in its
    // namespace; the ALB reaches app there, and sidecar's health check reaches it on localhost.
    let admin = port("AIRLOCK_ADMIN_PORT");
    let next = image_task_definition(&probe_image);
    let put = ok(Command::new("curl")
        .args([
            "-s",
            "-m",
            "10",
            "-X",
            "PUT",
            "-H",
            "content-type: application/json",
        ])
        .args(["--data-binary", &next])
        .arg(format!(
            "http://127.0.0.1:{admin}/services/pets/task-definition"
        )));
    assert!(put.contains("pets:2"), "{put}");
    let tasks = || -> serde_json::Value {
        serde_json::from_str(&ok(Command::new("curl")
            .args(["-s", "-m", "5"])
            .arg(format!("http://127.0.0.1:{admin}/tasks"))))
        .unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let image_tasks = loop {
        let listed = tasks();
        let live: Vec<serde_json::Value> = listed["services"][0]["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["desired_status"] == "RUNNING")
            .cloned()
            .collect();
        let deployed = live.len() == 2
            && live
                .iter()
                .all(|t| t["last_status"] == "RUNNING" && t["health_status"] == "HEALTHY")
            && ok(&mut docker(&[
                "ps",
                "-q",
                "--filter",
                "label=airlock.service=pets",
            ]))
            .lines()
            .count()
                == 4;
        if deployed {
            break live;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the image tasks never ran HEALTHY: {listed}\n{}",
            String::from_utf8_lossy(&run(&mut docker(&["logs", "--tail", "30", &airlock])).stderr)
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    for task in &image_tasks {
        let app = ok(&mut docker(&[
            "ps",
            "-q",
            "--filter",
            &format!("label=airlock.task={}", task["task_id"].as_str().unwrap()),
            "--filter",
            "label=com.amazonaws.ecs.container-name=app",
            "--filter",
            &format!("label=airlock.stack={vpc_net}"),
        ]));
        let app_ip = ok(&mut docker(&[
            "inspect",
            "-f",
            &format!("{{{{(index .NetworkSettings.Networks \"{vpc_net}\").IPAddress}}}}"),
            &app,
        ]));
        assert_eq!(
            app_ip,
            task["private_ip"].as_str().unwrap(),
            "the task's private IP"
        );
        assert_eq!(ok(&mut docker(&["port", &app])), "", "nothing published");
    }
    let through_alb = inside(
        &admitted_pid,
        "curl",
        &[
            "-s",
            "-m",
            "10",
            "--cacert",
            ca.to_str().unwrap(),
            "--resolve",
            &at_node,
            &format!("https://{}/health", support::DOMAIN),
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&through_alb.stdout),
        "GREETING=hello from an image task",
        "{through_alb:?}"
    );

    // SIGTERM (docker stop) stops the stack gracefully, and airlock removes its tasks'
    // containers (which would otherwise keep the vpc network from being removed).
    ok(&mut cleanup.compose(&["stop", "--timeout", "30"]));
    assert_eq!(
        ok(&mut docker(&[
            "inspect",
            "-f",
            "{{.State.ExitCode}}",
            &airlock
        ])),
        "0"
    );
    let logs = run(&mut docker(&["logs", &airlock]));
    let logs = String::from_utf8_lossy(&logs.stderr);
    assert!(
        logs.contains("shutting down") && logs.contains("stopped"),
        "{logs}"
    );
    let tasks_of_stack = format!("label=airlock.stack={vpc_net}");
    assert_eq!(
        ok(&mut docker(&[
            "ps",
            "-a",
            "-q",
            "--filter",
            &tasks_of_stack
        ])),
        ""
    );

    // `down` leaves no container or network of the project (the probes are the test's own).
    for c in std::mem::take(&mut cleanup.containers) {
        ok(&mut docker(&["rm", "-f", &c]));
    }
    ok(&mut cleanup.compose(&["down", "--timeout", "5"]));
    let label = format!("label=com.docker.compose.project={project}");
    assert_eq!(ok(&mut docker(&["ps", "-a", "-q", "--filter", &label])), "");
    assert_eq!(
        ok(&mut docker(&["network", "ls", "-q", "--filter", &label])),
        ""
    );
    assert_eq!(
        ok(&mut docker(&[
            "network",
            "ls",
            "-q",
            "--filter",
            &format!("name={project}_")
        ])),
        ""
    );
}

/// The engine's socket, from `DOCKER_HOST` or the default path.
fn docker_socket() -> PathBuf {
    std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/var/run/docker.sock"))
}

/// The pets service's next revision in ECS's JSON: the probe server as `app` (behind the ALB)
/// and `sidecar`, whose health check dials app's port on 127.0.0.1.
fn image_task_definition(image: &str) -> String {
    let check = r#"{ "command": ["CMD", "/server", "--check", "8080"], "interval": 5, "timeout": 2, "retries": 3 }"#;
    format!(
        r#"{{
  "family": "pets",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "256",
  "memory": "512",
  "containerDefinitions": [
    {{ "name": "app", "image": "{image}", "command": ["8080"], "stopTimeout": 2,
       "portMappings": [{{ "containerPort": 8080 }}],
       "environment": [{{ "name": "GREETING", "value": "hello from an image task" }}],
       "healthCheck": {check} }},
    {{ "name": "sidecar", "image": "{image}", "command": ["9090"], "stopTimeout": 2,
       "dependsOn": [{{ "containerName": "app", "condition": "START" }}],
       "healthCheck": {check} }}
  ]
}}"#
    )
}

/// The default stack in `vpc` with its task definition running `image` (the probe server) in
/// two containers: `app` behind the ALB, and `sidecar`, whose health check dials `app`'s port on
/// 127.0.0.1, which only answers if the two share the task's network namespace (`app` checks
/// its own port too: a task is HEALTHY only when every essential container is).
fn image_stack_for(vpc: &ipnet::Ipv4Net, image: &str) -> String {
    let builtin = "      - name: app
        builtin: pets
        essential: true
        port_mappings:
          - container_port: 8080
        environment:
          - name: PETS_GREETING
            value: hello from a Fargate task
";
    let images = format!(
        "      - name: app
        image: {image}
        command: [\"8080\"]
        stop_timeout: 2
        health_check:
          command: [CMD, /server, --check, \"8080\"]
          interval: 5
          timeout: 2
          retries: 3
        port_mappings:
          - container_port: 8080
        environment:
          - name: GREETING
            value: hello from an image task
      - name: sidecar
        image: {image}
        command: [\"9090\"]
        stop_timeout: 2
        depends_on:
          - container_name: app
            condition: START
        health_check:
          command: [CMD, /server, --check, \"8080\"]
          interval: 5
          timeout: 2
          retries: 3
"
    );
    let stack = stack_for(vpc);
    assert!(
        stack.contains(builtin),
        "the default stack's task definition"
    );
    stack.replace(builtin, &images)
}

/// Removes what the image test's stack may leave: containers on, and then, the Docker network
/// of its VPC CIDR (chosen free for this test, so nothing else is on it).
struct NetworkCleanup {
    cidr: String,
    airlock: Option<std::process::Child>,
    images: Vec<String>,
    dir: PathBuf,
}

impl NetworkCleanup {
    fn networks(&self) -> Vec<String> {
        let ids = run(&mut docker(&["network", "ls", "-q"]));
        String::from_utf8_lossy(&ids.stdout)
            .lines()
            .filter(|id| {
                let subnets = run(&mut docker(&[
                    "network",
                    "inspect",
                    id,
                    "-f",
                    "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
                ]));
                String::from_utf8_lossy(&subnets.stdout)
                    .split_whitespace()
                    .any(|s| s == self.cidr)
            })
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for NetworkCleanup {
    fn drop(&mut self) {
        if let Some(mut child) = self.airlock.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for net in self.networks() {
            let name = run(&mut docker(&[
                "network",
                "inspect",
                "-f",
                "{{.Name}}",
                &net,
            ]));
            let name = String::from_utf8_lossy(&name.stdout).trim().to_owned();
            // On the network, or in the namespace of a container that was (a task's sidecar).
            for filter in [
                format!("network={net}"),
                format!("label=airlock.stack={name}"),
            ] {
                let on = run(&mut docker(&["ps", "-a", "-q", "--filter", &filter]));
                for c in String::from_utf8_lossy(&on.stdout).lines() {
                    let _ = run(&mut docker(&["rm", "-f", c]));
                }
            }
            let _ = run(&mut docker(&["network", "rm", &net]));
        }
        for i in &self.images {
            let _ = run(&mut docker(&["rmi", "-f", i]));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Run on the host without Compose, airlock creates the VPC's Docker network itself: an image
/// task's first container holds the task's private address there and publishes nothing, the
/// ALB reaches it at that address (through the gateway, from the host port), the task's second
/// container reaches the first on localhost (shared namespace), the containers carry the
/// stack, service and task labels, and airlock's stop (SIGTERM) removes the containers and
/// the network.
#[test]
fn image_tasks_hold_their_private_addresses_and_airlock_removes_everything_at_stop() {
    if prerequisites().is_none() {
        return;
    }
    let unique = format!("{}i", std::process::id());
    let dir = std::env::temp_dir().join(format!("airlock-image-vpc-{unique}"));
    std::fs::create_dir_all(&dir).unwrap();
    let used = networks_in_use();
    // Candidates apart from the compose test's (10.200-239), so the two never meet.
    let vpc = free_net(|x| format!("10.{}.0.0/16", x + 10).parse().unwrap(), &used);
    let mut cleanup = NetworkCleanup {
        cidr: vpc.to_string(),
        airlock: None,
        images: Vec::new(),
        dir: dir.clone(),
    };
    let image = format!("airlock-test-task:{unique}");
    cleanup.images.push(image.clone());
    let probe_dir = dir.join("probe");
    std::fs::create_dir_all(&probe_dir).unwrap();
    build_probe_image(&probe_dir, &image);
    std::fs::write(dir.join("stack.yaml"), image_stack_for(&vpc, &image)).unwrap();

    let endpoints = dir.join("endpoints.json");
    let state = dir.join("state");
    let mut child = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .arg("up")
        .arg(dir.join("stack.yaml"))
        .arg("--state-dir")
        .arg(&state)
        .args(["--ephemeral-ports", "--endpoints-json"])
        .arg(&endpoints)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.join("airlock.log")).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !endpoints.exists() {
        let log = || std::fs::read_to_string(dir.join("airlock.log")).unwrap_or_default();
        assert!(
            child.try_wait().unwrap().is_none(),
            "airlock exited: {}",
            log()
        );
        assert!(
            std::time::Instant::now() < deadline,
            "airlock never served: {}",
            log()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    cleanup.airlock = Some(child);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&endpoints).unwrap()).unwrap();
    let gateway: std::net::SocketAddr = json["gateway"].as_str().unwrap().parse().unwrap();
    let admin = json["admin"].as_str().unwrap().to_owned();

    // The network airlock made for the VPC: internal, on the stack's CIDR.
    let networks = cleanup.networks();
    assert_eq!(networks.len(), 1, "one network on {vpc}: {networks:?}");
    let network = ok(&mut docker(&[
        "network",
        "inspect",
        "-f",
        "{{.Name}}",
        &networks[0],
    ]));
    assert_eq!(
        ok(&mut docker(&[
            "network",
            "inspect",
            "-f",
            "{{.Internal}}",
            &network
        ])),
        "true"
    );

    // Through the gateway's host port to the ALB, and from the ALB to the image task.
    let resolve = format!("{}:{}:127.0.0.1", support::DOMAIN, gateway.port());
    let health = ok(Command::new("curl")
        .args(["-s", "-m", "10", "--cacert"])
        .arg(state.join("ca.pem"))
        .args(["--resolve", &resolve])
        .arg(format!(
            "https://{}:{}/health",
            support::DOMAIN,
            gateway.port()
        )));
    assert_eq!(health, "GREETING=hello from an image task");

    // Each task: `app` on the network at the task's private IP, nothing published; `sidecar`
    // in app's namespace; all labelled.
    let tasks = |admin: &str| -> serde_json::Value {
        serde_json::from_str(&ok(Command::new("curl")
            .args(["-s", "-m", "5"])
            .arg(format!("http://{admin}/tasks"))))
        .unwrap()
    };
    let listed = tasks(&admin);
    let running: Vec<&serde_json::Value> = listed["services"][0]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["last_status"] == "RUNNING")
        .collect();
    assert_eq!(running.len(), 2, "{listed}");
    for task in running {
        let task_id = task["task_id"].as_str().unwrap();
        let private_ip = task["private_ip"].as_str().unwrap();
        let of_task = |name: &str| {
            ok(&mut docker(&[
                "ps",
                "-q",
                "--filter",
                &format!("label=airlock.task={task_id}"),
                "--filter",
                &format!("label=com.amazonaws.ecs.container-name={name}"),
                "--filter",
                &format!("label=airlock.stack={network}"),
                "--filter",
                "label=airlock.service=pets",
            ]))
        };
        let (app, sidecar) = (of_task("app"), of_task("sidecar"));
        assert!(
            !app.is_empty() && !sidecar.is_empty(),
            "labelled containers of {task_id}"
        );
        let app_ip = ok(&mut docker(&[
            "inspect",
            "-f",
            &format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}"),
            &app,
        ]));
        assert_eq!(
            app_ip, private_ip,
            "the task's private IP on the VPC network"
        );
        assert_eq!(ok(&mut docker(&["port", &app])), "", "nothing published");
        let mode = ok(&mut docker(&[
            "inspect",
            "-f",
            "{{.HostConfig.NetworkMode}}",
            &sidecar,
        ]));
        assert!(mode.starts_with("container:"), "{mode}");
        let app_id = ok(&mut docker(&["inspect", "-f", "{{.Id}}", &app]));
        assert_eq!(mode, format!("container:{app_id}"));
    }
    // The sidecar's health check reaches app on 127.0.0.1: the task turns HEALTHY.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(45);
    loop {
        let listed = tasks(&admin);
        let all_healthy = listed["services"][0]["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["last_status"] == "RUNNING")
            .all(|t| t["health_status"] == "HEALTHY");
        if all_healthy {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never HEALTHY: {listed}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }

    // airlock's own stop (SIGTERM) leaves no container and removes its network.
    ok(Command::new("kill").args(["-TERM", &pid.to_string()]));
    let status = cleanup.airlock.as_mut().unwrap().wait().unwrap();
    assert!(
        status.success(),
        "{status}: {}",
        std::fs::read_to_string(dir.join("airlock.log")).unwrap_or_default()
    );
    cleanup.airlock = None;
    let label = format!("label=airlock.stack={network}");
    assert_eq!(ok(&mut docker(&["ps", "-a", "-q", "--filter", &label])), "");
    assert!(cleanup.networks().is_empty(), "the VPC network is removed");
}
