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
    let files = support::UpFiles::new();
    let (state, endpoints) = (&files.state, &files.endpoints);
    let mut child = files.command().spawn().unwrap();
    // The endpoints file is written once the stack serves; the child's stdout tells us when.
    let up = support::serving(&mut child, endpoints, Duration::from_secs(60))
        .await
        .expect("airlock up serves");
    let json = &up.endpoints;
    for key in ["gateway", "dns", "vpc_link", "ca_cert", "alb_dns_names"] {
        assert!(!json[key].is_null(), "endpoints JSON lacks {key}: {json}");
    }
    let gateway = up.addr("gateway");
    let printed = &up.printed;
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
        .arg(state)
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

/// The demo tells the story and exits 0 only when every step behaved as AWS would.
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

/// `airlock explain` prints the path and the blocking hop; the exit code says
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
    let up = support::serving(&mut child, &endpoints, Duration::from_secs(60))
        .await
        .expect("airlock up serves");
    let (gateway, dns, ca) = (up.addr("gateway"), up.addr("dns"), up.ca);
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

/// Runs `airlock` with `args` and extra environment (the log variables removed first).
fn run(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = airlock();
    c.args(args)
        .env_remove("RUST_LOG")
        .env_remove("AIRLOCK_LOG")
        .env_remove("AIRLOCK_WORKER_THREADS")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Logging is set up for every subcommand, not only `up`: `RUST_LOG` filters, `AIRLOCK_LOG`
/// wins over it, `-v` (before or after the subcommand) and `-q` win over both; a one-shot
/// command logs nothing by default, and a filter that does not parse is refused.
#[test]
fn rust_log_and_verbosity_flags_change_what_validate_and_token_print() {
    const PARSED: &str = "stack file parsed and checked";
    let file = "fixtures/default-stack.yaml";
    /// Arguments, environment, and whether the parse is logged.
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], bool);
    let cases: [Case; 7] = [
        (&["validate", file], &[], false),
        (&["-v", "validate", file], &[], true),
        (&["validate", "-v", file], &[], true),
        (&["validate", file], &[("RUST_LOG", "debug")], true),
        (&["validate", file], &[("RUST_LOG", "airlock=debug")], true),
        (
            &["validate", file],
            &[("AIRLOCK_LOG", "warn"), ("RUST_LOG", "debug")],
            false,
        ),
        (&["-q", "validate", file], &[("RUST_LOG", "debug")], false),
    ];
    for (args, env, logged) in cases {
        let out = run(args, env);
        let stderr = stderr_of(&out);
        assert!(out.status.success(), "{args:?} {env:?}: {stderr}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{file}: valid\n"),
            "{args:?} {env:?}: logs must not reach stdout"
        );
        assert_eq!(
            stderr.contains(PARSED),
            logged,
            "{args:?} {env:?}: {stderr}"
        );
        if !logged {
            assert!(stderr.is_empty(), "{args:?} {env:?}: {stderr}");
        }
    }

    // `token`: stdout stays the token alone whatever is logged.
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_str().unwrap();
    let quiet = run(&["token", "--state-dir", state], &[]);
    assert!(quiet.status.success(), "{}", stderr_of(&quiet));
    assert!(quiet.stderr.is_empty(), "{}", stderr_of(&quiet));
    for (args, env) in [
        (&["-v", "token", "--state-dir", state][..], &[][..]),
        (
            &["token", "--state-dir", state][..],
            &[("RUST_LOG", "debug")][..],
        ),
    ] {
        let out = run(args, env);
        let stderr = stderr_of(&out);
        assert!(out.status.success(), "{stderr}");
        assert!(stderr.contains("local issuer key loaded"), "{stderr}");
        assert!(stderr.contains("token minted"), "{stderr}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(stdout.lines().count(), 1, "{stdout}");
        assert_eq!(stdout.trim().split('.').count(), 3, "not a JWT: {stdout}");
    }

    // A filter that does not parse is a usage error, named.
    let bad = run(&["validate", file], &[("RUST_LOG", "airlock=loud")]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr_of(&bad));
    assert!(stderr_of(&bad).contains("RUST_LOG"), "{}", stderr_of(&bad));
    // -v and -q contradict each other.
    let both = run(&["-v", "-q", "validate", file], &[]);
    assert_eq!(both.status.code(), Some(2), "{}", stderr_of(&both));
}

/// `--log-format json`: every line on stderr is one JSON object, log events and the final
/// error alike, with `level`, `target`, `message` and the event's fields.
#[test]
fn log_format_json_writes_one_json_object_per_line() {
    let lines = |out: &std::process::Output| -> Vec<serde_json::Value> {
        stderr_of(out)
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l)
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))
            })
            .collect()
    };
    let ok = run(
        &[
            "--log-format",
            "json",
            "-v",
            "validate",
            "fixtures/default-stack.yaml",
        ],
        &[],
    );
    assert!(ok.status.success(), "{}", stderr_of(&ok));
    let events = lines(&ok);
    let parsed = events
        .iter()
        .find(|e| e["message"] == "stack file parsed and checked")
        .unwrap_or_else(|| panic!("no parse event: {events:?}"));
    assert_eq!(parsed["level"], "DEBUG");
    assert_eq!(parsed["target"], "airlock");
    assert_eq!(parsed["services"], 1);
    assert!(parsed["timestamp"].is_string(), "{parsed}");

    let bad = run(
        &[
            "validate",
            "--log-format",
            "json",
            "fixtures/invalid/overlapping-subnets.yaml",
        ],
        &[],
    );
    assert_eq!(bad.status.code(), Some(1));
    let events = lines(&bad);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["level"], "ERROR");
    assert!(
        events[0]["message"]
            .as_str()
            .unwrap()
            .contains(":13:19: vpc.subnets[1].cidr_block"),
        "{events:?}"
    );
}

/// `explain` exits 0 when the path is open, 1 when it is blocked (both in
/// `explain_prints_the_path_and_exits_by_reachability`) and 2 when it cannot answer: an unknown
/// vantage point, an invalid or missing stack file.
#[test]
fn explain_exits_two_on_errors() {
    let to = alb_name_port();
    let unknown = run(&["explain", "--from", "nowhere", "--to", &to], &[]);
    assert_eq!(unknown.status.code(), Some(2), "{}", stderr_of(&unknown));
    assert!(
        stderr_of(&unknown).contains("nowhere"),
        "{}",
        stderr_of(&unknown)
    );
    assert!(unknown.stdout.is_empty());
    let invalid = run(
        &[
            "explain",
            "fixtures/invalid/overlapping-subnets.yaml",
            "--from",
            "internet",
            "--to",
            &to,
        ],
        &[],
    );
    assert_eq!(invalid.status.code(), Some(2), "{}", stderr_of(&invalid));
    assert!(
        stderr_of(&invalid).contains(":13:19: vpc.subnets[1].cidr_block"),
        "{}",
        stderr_of(&invalid)
    );
    let missing = run(
        &[
            "explain",
            "no-such-stack.yaml",
            "--from",
            "internet",
            "--to",
            &to,
        ],
        &[],
    );
    assert_eq!(missing.status.code(), Some(2), "{}", stderr_of(&missing));
}

/// `up`'s options are accepted without a subcommand (`airlock --ephemeral-ports`, tested by
/// `up_serves_prints_curl_and_stops_on_interrupt`) but refused in front of one, where they
/// used to be silently ignored; the global flags and environment variables are not refused.
#[test]
fn up_options_before_a_subcommand_are_refused() {
    let file = "fixtures/default-stack.yaml";
    let refused: [(&[&str], &str); 4] = [
        (&["--gateway-port", "1", "validate", file], "--gateway-port"),
        (&["--ephemeral-ports", "up"], "go after `up`"),
        (
            &[
                "--worker-threads",
                "2",
                "explain",
                "--from",
                "vpc",
                "--to",
                "x:1",
            ],
            "go after `explain`",
        ),
        (&["other.yaml", "validate", file], "<STACK_FILE>"),
    ];
    for (args, says) in refused {
        let out = run(args, &[]);
        let stderr = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} ran");
    }
    let env_ok = run(
        &["--log-format", "text", "validate", file],
        &[
            ("AIRLOCK_STATE_DIR", "/nonexistent"),
            ("AIRLOCK_WORKER_THREADS", "2"),
        ],
    );
    assert!(env_ok.status.success(), "{}", stderr_of(&env_ok));
    // A worker-thread count out of range is refused, from the flag or the environment.
    for (args, env) in [
        (&["up", "--worker-threads", "100000"][..], &[][..]),
        (&["up"][..], &[("AIRLOCK_WORKER_THREADS", "many")][..]),
    ] {
        let out = run(args, env);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?} {env:?}: {}",
            stderr_of(&out)
        );
        assert!(
            stderr_of(&out).contains("--worker-threads"),
            "{}",
            stderr_of(&out)
        );
    }
}

/// A running `airlock up`: its stderr, line by line as it comes, and its endpoints.
struct Up {
    child: tokio::process::Child,
    stderr: tokio::sync::mpsc::UnboundedReceiver<String>,
    gateway: std::net::SocketAddr,
    ca: rustls_pki_types::CertificateDer<'static>,
    _dir: tempfile::TempDir,
}

impl Up {
    /// Starts `airlock [global] up [stack] --ephemeral-ports ...` with `env`, and returns once
    /// it printed its banner.
    async fn start(
        global: &[&str],
        stack: Option<&str>,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Up {
        use tokio::io::AsyncBufReadExt;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let endpoints = dir.path().join("endpoints.json");
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_airlock"));
        cmd.args(global).arg("up");
        if let Some(file) = stack {
            let path = dir.path().join("stack.yaml");
            std::fs::write(&path, file).unwrap();
            cmd.arg(path);
        }
        cmd.arg("--state-dir")
            .arg(&state)
            .arg("--ephemeral-ports")
            .arg("--endpoints-json")
            .arg(&endpoints)
            .args(extra)
            .env_remove("RUST_LOG")
            .env_remove("AIRLOCK_LOG")
            .env_remove("AIRLOCK_STATE_DIR")
            .env_remove("AIRLOCK_WORKER_THREADS")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().unwrap();
        // Stderr is drained all along (a full pipe would block the logger) into a channel.
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let mut err_lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = err_lines.next_line().await {
                let _ = tx.send(line);
            }
        });
        let up = support::serving(&mut child, &endpoints, Duration::from_secs(60))
            .await
            .expect("airlock up ended before its banner");
        Up {
            child,
            stderr: rx,
            gateway: up.addr("gateway"),
            ca: up.ca,
            _dir: dir,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }

    /// The names of the process's threads that are shards of its own (the main thread is
    /// shard 0 and keeps the process's name).
    fn shard_threads(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", self.pid()))
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.unwrap().path().join("comm")).ok())
            .map(|n| n.trim().to_owned())
            .filter(|n| n.starts_with("airlock-shard"))
            .collect();
        names.sort();
        names
    }

    async fn get(&self, path: &str) -> airlock_stack::client::Reply {
        support::https(
            self.gateway,
            self.ca.clone(),
            support::DOMAIN,
            "GET",
            path,
            &[],
            "",
        )
        .await
    }

    /// Reads stderr until a line satisfies `found`; returns it.
    async fn wait_for(&mut self, what: &str, found: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let line = tokio::time::timeout_at(deadline.into(), self.stderr.recv())
                .await
                .unwrap_or_else(|_| panic!("no {what} on stderr in time"))
                .unwrap_or_else(|| panic!("stderr ended without {what}"));
            if found(&line) {
                return line;
            }
        }
    }

    /// Sends `signal` (`INT`, `TERM`), waits for the exit and returns its status with every
    /// stderr line not yet read.
    async fn stop(self, signal: &str) -> (std::process::ExitStatus, Vec<String>) {
        let pid = self.pid().to_string();
        assert!(
            Command::new("kill")
                .args([&format!("-{signal}"), &pid])
                .status()
                .unwrap()
                .success()
        );
        self.stop_waiting().await
    }

    /// Waits for the exit of a process already told to stop.
    async fn stop_waiting(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("airlock stops after the signal")
            .unwrap();
        let mut rest = Vec::new();
        while let Some(line) = self.stderr.recv().await {
            rest.push(line);
        }
        (status, rest)
    }
}

/// `up -q --worker-threads 1` serves through the chain on one runtime thread (no shard threads
/// started) and logs nothing below a warning; `AIRLOCK_WORKER_THREADS=3` starts two shards
/// beside the main thread; `RUST_LOG` filters `up`'s log, and `--log-format json` writes it
/// as JSON lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_follows_worker_threads_quiet_rust_log_and_json() {
    let quiet = Up::start(&["-q"], None, &["--worker-threads", "1"], &[]).await;
    assert_eq!(quiet.shard_threads(), Vec::<String>::new());
    let reply = quiet.get("/health").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let (status, lines) = quiet.stop("INT").await;
    assert!(status.success(), "{status:?}");
    assert!(lines.is_empty(), "-q logged: {lines:?}");

    let json = Up::start(
        &["--log-format", "json"],
        None,
        &[],
        &[
            ("RUST_LOG", "warn,airlock::ecs=info"),
            ("AIRLOCK_WORKER_THREADS", "3"),
        ],
    )
    .await;
    assert_eq!(json.shard_threads(), ["airlock-shard-1", "airlock-shard-2"]);
    let reply = json.get("/health").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let (status, lines) = json.stop("TERM").await;
    assert!(status.success(), "{status:?}");
    let events: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let running = events
        .iter()
        .filter(|e| e["message"] == "task RUNNING")
        .count();
    assert_eq!(running, 2, "{lines:#?}");
    for e in &events {
        // Only what RUST_LOG lets through: airlock::ecs's info lines and warnings anywhere.
        assert!(
            e["target"] == "airlock::ecs" || e["level"] == "WARN" || e["level"] == "ERROR",
            "{e}"
        );
    }
}

/// A task app for the graceful-stop test: answers every path with 200, says its pid on stdout
/// and exits 0 on SIGTERM (a killed one would report 137), as a well-behaved ECS app does.
const GRACEFUL_APP: &str = r#"
import http.server, os, signal, threading
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"status":"ok"}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H)
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
print("app pid", os.getpid(), flush=True)
server.serve_forever()
server.server_close()
print("app stopped on SIGTERM", flush=True)
"#;

/// SIGTERM stops `up` as Ctrl-C does: the shutdown line names it, the `command` tasks are
/// stopped the ECS way (SIGTERM, so they exit 0) and none is left running, and the process
/// exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_up_gracefully() {
    if !support::tool("python3", "--version", "apt-get install python3") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app.py");
    std::fs::write(&app, GRACEFUL_APP).unwrap();
    let builtin = "        builtin: pets\n";
    let default = airlock_config::DEFAULT_STACK_YAML;
    assert!(default.contains(builtin), "fixture changed: {builtin:?}");
    let stack = default.replacen(
        builtin,
        &format!("        command: [python3, {:?}]\n", app.to_str().unwrap()),
        1,
    );
    let mut up = Up::start(&[], Some(&stack), &[], &[]).await;

    // The two tasks' processes, as they announced themselves through airlock's task log.
    let mut pids = Vec::new();
    while pids.len() < 2 {
        let line = up.wait_for("app pid", |l| l.contains("app pid")).await;
        pids.push(line.rsplit(' ').next().unwrap().trim().to_owned());
    }
    for pid in &pids {
        assert!(
            std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "{pid}"
        );
    }
    let reply = up.get("/health").await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    let (status, log) = up.stop("TERM").await;
    assert!(status.success(), "{status:?}\n{log:#?}");
    assert!(
        log.iter()
            .any(|l| l.contains("shutting down") && l.contains("SIGTERM")),
        "{log:#?}"
    );
    let stopped = log
        .iter()
        .filter(|l| l.contains("app stopped on SIGTERM"))
        .count();
    let exited = log
        .iter()
        .filter(|l| l.contains("exited with code 0"))
        .count();
    assert_eq!((stopped, exited), (2, 2), "{log:#?}");
    for pid in &pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "task process {pid} outlived airlock"
        );
    }
}

/// SIGTERM stops `demo` between its steps: the stack it started is stopped and the command
/// exits 1 (its story was not told to the end), by its own hand rather than the signal's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_demo_gracefully() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .arg("demo")
        .env_remove("RUST_LOG")
        .env_remove("AIRLOCK_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    // The first line is printed once the demo listens for signals, before its stack starts;
    // its steps take longer than the signal takes to arrive (the second waits out a dropped
    // connection).
    let first = lines.next_line().await.unwrap().unwrap();
    assert!(first.starts_with("Starting the default stack"), "{first}");
    let pid = child.id().unwrap().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut stdout = String::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        stdout.push_str(&line);
        stdout.push('\n');
    }
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("the demo stops after SIGTERM")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{:?}: {stderr}", out.status);
    assert!(stderr.contains("stopped by SIGTERM"), "{stderr}");
    assert!(!stdout.contains("Every step behaved"), "{stdout}");
}

/// Standard output whose reader has gone (`airlock … | head`, a supervisor that closed it):
/// a command ends quietly with 0 instead of panicking in `print!`, and a running stack keeps
/// serving: its banner is not worth the stack.
#[tokio::test]
async fn a_closed_standard_output_neither_panics_a_command_nor_stops_up() {
    let mut init = airlock()
        .arg("init")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(init.stdout.take());
    let out = init.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(!stderr_of(&out).contains("panicked"), "{}", stderr_of(&out));

    let files = support::UpFiles::new();
    let (state, endpoints) = (&files.state, &files.endpoints);
    let mut up = files.command().spawn().unwrap();
    drop(up.stdout.take());
    // The endpoints file is written just before the banner; the banner's write then fails.
    let json: serde_json::Value = support::bounded("the endpoints file", async {
        loop {
            if let Ok(text) = std::fs::read_to_string(endpoints)
                && let Ok(json) = serde_json::from_str(&text)
            {
                return json;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let gateway: std::net::SocketAddr = json["gateway"].as_str().unwrap().parse().unwrap();
    let ca_pem = std::fs::read(state.join("ca.pem")).unwrap();
    let ca: rustls_pki_types::CertificateDer<'static> =
        rustls_pki_types::pem::PemObject::from_pem_slice(&ca_pem).unwrap();
    // Past the banner: a request after a moment is served.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let reply = support::https(gateway, ca, support::DOMAIN, "GET", "/health", &[], "").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        Command::new("kill")
            .args(["-INT", &up.id().unwrap().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let status = support::bounded("airlock's stop", up.wait()).await.unwrap();
    assert!(status.success(), "{status:?}");
}
