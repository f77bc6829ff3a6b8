//! The `airlock` command as a user runs it: `up`, `init`, `validate`, `token`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn airlock() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_airlock"));
    c.env_remove("AIRLOCK_STATE_DIR");
    c
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An invalid stack file is refused before anything binds or is written: the error names the
/// file, line, column and field, and the state directory is never created.
#[test]
fn invalid_stack_is_refused_with_its_line_and_nothing_binds() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let port = free_port();
    let out = airlock()
        .args(["up", "fixtures/invalid/dangling-integration.yaml"])
        .arg("--state-dir")
        .arg(&state)
        .args(["--gateway-port", &port.to_string()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("dangling-integration.yaml:100:17: http_apis[0].routes[3].target"),
        "{stderr}"
    );
    assert!(stderr.contains("hint:"), "{stderr}");
    assert!(
        !state.exists(),
        "the state directory was created for an invalid stack"
    );
    // The port it would have served is still free.
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("port untouched");
}

#[test]
fn validate_and_init() {
    let root = env!("CARGO_MANIFEST_DIR");
    let ok = airlock()
        .args(["validate", "fixtures/default-stack.yaml"])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = airlock()
        .args(["validate", "fixtures/invalid/overlapping-subnets.yaml"])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains(":13:19: vpc.subnets[1].cidr_block"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    // `init` prints the default stack, which validates.
    let init = airlock().arg("init").output().unwrap();
    assert!(init.status.success());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stack.yaml");
    std::fs::write(&file, &init.stdout).unwrap();
    let again = airlock().arg("validate").arg(&file).output().unwrap();
    assert!(again.status.success());
}

/// `airlock up --ephemeral-ports --endpoints-json` serves the chain, the printed `curl` commands
/// name the real ports, a token from `airlock token` is accepted, and Ctrl-C stops it cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_serves_prints_curl_and_stops_on_interrupt() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let endpoints = dir.path().join("endpoints.json");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .arg("--state-dir")
        .arg(&state)
        .arg("--ephemeral-ports")
        .arg("--endpoints-json")
        .arg(&endpoints)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // The endpoints file is written once the stack serves; the child's stdout tells us when.
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Some(line) = tokio::time::timeout_at(deadline.into(), lines.next_line())
        .await
        .expect("airlock up printed its banner in time")
        .unwrap()
    {
        printed.push_str(&line);
        printed.push('\n');
        if line.contains("Press Ctrl-C") {
            break;
        }
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&endpoints).unwrap()).unwrap();
    for key in ["gateway", "dns", "vpc_link", "ca_cert", "alb_dns_names"] {
        assert!(!json[key].is_null(), "endpoints JSON lacks {key}: {json}");
    }
    let gateway: std::net::SocketAddr = json["gateway"].as_str().unwrap().parse().unwrap();
    assert!(
        printed.contains(&format!(
            "private-integration.example.com:{}:127.0.0.1",
            gateway.port()
        )),
        "{printed}"
    );

    let token = airlock()
        .args(["token", "--scope", "pets/write"])
        .arg("--state-dir")
        .arg(&state)
        .output()
        .unwrap();
    assert!(token.status.success());
    let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();
    let ca_pem = std::fs::read(state.join("ca.pem")).unwrap();
    let ca = rustls_pki_types::pem::PemObject::from_pem_slice(&ca_pem).unwrap();
    let auth = format!("Bearer {token}");
    let reply = support::https(
        gateway,
        ca,
        support::DOMAIN,
        "GET",
        "/pets",
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    // Ctrl-C: a graceful stop with exit code 0.
    let pid = child.id().unwrap();
    let kill = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("airlock stops after SIGINT")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

/// Issue 3, item 5: the demo tells the story and exits 0 only when every step behaved as AWS would.
#[test]
fn demo_exits_zero_with_every_step_as_aws() {
    let out = airlock().arg("demo").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Every step behaved as AWS would."),
        "{stdout}"
    );
    assert!(!stdout.contains("NOT AS AWS WOULD"), "{stdout}");
    assert!(stdout.contains("timed out (curl exit 28)"), "{stdout}");
}

/// Issue 3, item 6: `airlock explain` prints the path and the blocking hop; the exit code says
/// whether the path is open.
#[test]
fn explain_prints_the_path_and_exits_by_reachability() {
    let blocked = airlock()
        .args(["explain", "--from", "internet", "--to"])
        .arg(alb_name_port())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&blocked.stdout);
    assert_eq!(blocked.status.code(), Some(1), "{text}");
    assert!(
        text.contains("the internet has no route into the VPC"),
        "{text}"
    );
    assert!(text.contains("=> BLOCKED"), "{text}");
    let open = airlock()
        .args(["explain", "--from", "vpc-link:pets-link", "--to"])
        .arg(alb_name_port())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&open.stdout);
    assert!(open.status.success(), "{text}");
    assert!(text.contains("=> REACHABLE"), "{text}");
}

/// The default ALB's DNS name: derived from the account and the name, so stable across runs.
fn alb_name_port() -> String {
    "internal-pets-alb-2493362687.us-east-1.elb.amazonaws.com:443".to_owned()
}

/// The files of one rotated log (`name`, `name.1`, ...), newest first, with their text.
fn rotated(path: &std::path::Path) -> Vec<(String, String)> {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut found: Vec<(String, String)> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&name))
        .map(|e| {
            let text = std::fs::read_to_string(e.path()).unwrap();
            (e.file_name().to_string_lossy().into_owned(), text)
        })
        .collect();
    found.sort_by_key(|(n, _)| n.len());
    found
}

/// Logs stay bounded under load: a DNS query is not reported per query at the default log
/// level, and the access logs (the ALB's and a stage's) rotate by size into at most
/// `--access-log-max-files` files, each within `--access-log-max-bytes`, the newest holding the
/// latest lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_stay_bounded_dns_per_query_at_debug_and_access_logs_rotate() {
    const MAX_BYTES: usize = 2_000;
    const MAX_FILES: usize = 3;
    const REQUESTS: usize = 60;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let endpoints = dir.path().join("endpoints.json");
    let stack = dir.path().join("stack.yaml");
    let stage = "      - stage_name: $default\n        auto_deploy: true\n";
    let default = airlock_config::DEFAULT_STACK_YAML;
    assert!(default.contains(stage), "fixture changed: {stage:?}");
    let logged = format!(
        "{stage}        access_log_settings:\n          destination_arn: arn:aws:logs:us-east-1:000000000000:log-group:/bounded/stage\n          format: $context.requestId $context.identity.userAgent $context.domainName $context.path $context.requestTime $context.status\n"
    );
    std::fs::write(&stack, default.replacen(stage, &logged, 1)).unwrap();
    let stderr = std::fs::File::create(dir.path().join("stderr.txt")).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .arg("up")
        .arg(&stack)
        .arg("--state-dir")
        .arg(&state)
        .arg("--ephemeral-ports")
        .arg("--endpoints-json")
        .arg(&endpoints)
        .args(["--access-log-max-bytes", &MAX_BYTES.to_string()])
        .args(["--access-log-max-files", &MAX_FILES.to_string()])
        .env_remove("AIRLOCK_LOG")
        .env_remove("AIRLOCK_STATE_DIR")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Some(line) = tokio::time::timeout_at(deadline.into(), lines.next_line())
        .await
        .expect("airlock up printed its banner in time")
        .unwrap()
    {
        if line.contains("Press Ctrl-C") {
            break;
        }
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&endpoints).unwrap()).unwrap();
    let gateway: std::net::SocketAddr = json["gateway"].as_str().unwrap().parse().unwrap();
    let dns: std::net::SocketAddr = json["dns"].as_str().unwrap().parse().unwrap();
    let ca_pem = std::fs::read(state.join("ca.pem")).unwrap();
    let ca: rustls_pki_types::CertificateDer<'static> =
        rustls_pki_types::pem::PemObject::from_pem_slice(&ca_pem).unwrap();
    for n in 0..REQUESTS {
        let agent = format!("bounded-agent-{n:03}");
        let path = format!("/health?n={n:03}");
        let reply = support::https(
            gateway,
            ca.clone(),
            support::DOMAIN,
            "GET",
            &path,
            &[("user-agent", &agent)],
            "",
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    for _ in 0..20 {
        airlock_stack::client::dns_a_udp(dns, "per-query-log.example.com")
            .await
            .unwrap();
    }
    // Ctrl-C: the writers flush what is buffered, then the process ends.
    let pid = child.id().unwrap();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("airlock stops after SIGINT")
        .unwrap();
    assert!(status.success(), "{status:?}");

    let console = std::fs::read_to_string(dir.path().join("stderr.txt")).unwrap();
    assert!(
        !console.contains("per-query-log"),
        "a DNS query was logged at the default level:\n{console}"
    );
    let last = format!("{:03}", REQUESTS - 1);
    for log in [
        state.join("logs/alb/pets-alb.log"),
        state.join("logs/bounded/stage.log"),
    ] {
        let files = rotated(&log);
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        // 60 lines of over 100 bytes overflow three files of 2000: the oldest were dropped.
        assert_eq!(names.len(), MAX_FILES, "{}: {names:?}", log.display());
        for (name, text) in &files {
            assert!(text.len() <= MAX_BYTES, "{name}: {} bytes", text.len());
            assert!(text.ends_with('\n'), "{name} ends mid-line");
        }
        // Lines of one batch are ordered per core (the ALB's log), so the latest line is in
        // the newest file, not necessarily last in it.
        let newest = &files[0].1;
        assert!(
            newest.contains(&format!("n={last}")) || newest.contains(&format!("agent-{last}")),
            "{}: the newest file lacks the latest request:\n{newest}",
            log.display()
        );
    }
}

/// Runs `airlock validate` on `file`; its exit status and stderr.
fn validate(file: &std::path::Path) -> (bool, String) {
    let out = airlock().arg("validate").arg(file).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Input over the documented limits is refused before it is parsed, with the usual
/// `file:line:column: message (hint: ...)`: a document nested a million levels deep (flow or
/// block style), a file over the size limit, and `/dev/zero`; a huge value in an error is cut,
/// not echoed whole.
#[test]
fn validate_refuses_input_over_its_limits_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let deep = [
        ("flow.yaml", format!("vpc: {}\n", "[".repeat(1_000_000))),
        (
            "block.yaml",
            format!("vpc:\n  {}x\n", "- ".repeat(1_000_000)),
        ),
    ];
    for (name, text) in deep {
        let file = dir.path().join(name);
        std::fs::write(&file, text).unwrap();
        let (ok, stderr) = validate(&file);
        assert!(!ok, "{name} was accepted");
        assert!(
            stderr.contains(&format!("{name}:1:")) || stderr.contains(&format!("{name}:2:")),
            "{name}: {stderr}"
        );
        assert!(
            stderr.contains(&format!(
                "nest deeper than {} levels",
                airlock_config::MAX_NESTING_DEPTH
            )),
            "{name}: {stderr}"
        );
        assert!(stderr.contains("(hint: "), "{name}: {stderr}");
    }

    // One byte over the limit: refused by size, whatever it holds.
    let big = dir.path().join("big.yaml");
    let mut text = String::from("# padding\n");
    text.push_str(&"#".repeat(airlock_config::MAX_FILE_BYTES + 1 - text.len()));
    std::fs::write(&big, &text).unwrap();
    for file in [big.as_path(), std::path::Path::new("/dev/zero")] {
        let (ok, stderr) = validate(file);
        assert!(!ok, "{} was accepted", file.display());
        assert!(
            stderr.contains(&format!(
                "{}:1:1: the file is larger than 4 MiB",
                file.display()
            )),
            "{stderr}"
        );
        assert!(stderr.contains("(hint: "), "{stderr}");
    }

    // A 3 MB value where a region belongs: the message quotes its first characters only.
    let stack = airlock_config::DEFAULT_STACK_YAML;
    let region = "region: us-east-1\n";
    assert!(stack.contains(region), "fixture changed: {region:?}");
    let huge = format!("region: \"{}\"\n", "9".repeat(3_000_000));
    let file = dir.path().join("huge.yaml");
    std::fs::write(&file, stack.replacen(region, &huge, 1)).unwrap();
    let (ok, stderr) = validate(&file);
    assert!(!ok);
    assert!(
        stderr.contains("huge.yaml:"),
        "{}",
        &stderr[..stderr.len().min(2000)]
    );
    assert!(
        stderr.len() < 2_000,
        "the value was echoed: {} bytes of error",
        stderr.len()
    );
    assert!(
        stderr.contains(&format!(
            "{}…",
            "9".repeat(airlock_config::MAX_QUOTED_CHARS)
        )),
        "{stderr}"
    );
}
