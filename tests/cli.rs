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
