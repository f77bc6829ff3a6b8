//! The console in a real browser: headless Chromium loads it from the admin endpoint (nothing
//! from the network), and the page shows the stack's topology, then requests made through the
//! gateway while it watches, with their hops.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use airlock_stack::RunningStack;
use std::process::Stdio;
use std::time::Duration;
use support::{ReplyExt, get};

/// Upper bound for the browser's whole run.
const BOUND: Duration = Duration::from_secs(90);

/// Headless Chromium pointed at `url`, with a profile of its own; `extra` adds the output
/// (`--dump-dom`, `--screenshot=…`). The page's virtual clock runs for `budget_ms` of timers:
/// network waits (the console's long polls) do not count, so the page watches in real time.
fn chromium(
    url: &str,
    profile: &std::path::Path,
    budget_ms: u32,
    extra: &[&str],
) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("chromium");
    cmd.args([
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
        "--window-size=1500,1100",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .arg(format!("--virtual-time-budget={budget_ms}"))
    .args(extra)
    .arg(url)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .kill_on_drop(true);
    cmd
}

/// The page finds the topology's elements, and requests made through the gateway after it
/// loaded appear in its list, the newest with its waterfall of hops from every component.
#[tokio::test]
async fn the_console_shows_topology_and_live_requests_in_a_browser() {
    if !support::tool("chromium", "--version", "apt-get install chromium") {
        return;
    }
    let stack = RunningStack::start_default().await.unwrap();
    let token = stack.token(&["pets/read"]).unwrap();
    let admin = stack.endpoints().admin;
    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://{admin}/?transport=poll&wait=2&follow=1");
    let browser = chromium(&url, profile.path(), 4000, &["--dump-dom"])
        .spawn()
        .unwrap();

    // Requests keep coming while the page watches; the page long-polls for them.
    let mut ids = Vec::new();
    let output = tokio::time::timeout(BOUND, async {
        let waiting = browser.wait_with_output();
        tokio::pin!(waiting);
        loop {
            tokio::select! {
                out = &mut waiting => break out.unwrap(),
                _ = tokio::time::sleep(Duration::from_millis(300)), if ids.len() < 200 => {
                    let reply = get(&stack, "/pets/1", Some(&token)).await;
                    assert_eq!(reply.status, 200);
                    ids.push(reply.h("apigw-requestid").to_owned());
                }
            }
        }
    })
    .await
    .expect("chromium finished");
    assert!(output.status.success(), "chromium failed: {output:?}");
    let dom = String::from_utf8(output.stdout).unwrap();

    // The topology: the gateway's API and routes, the custom domain, the VPC link, the ALB's
    // listener and rules, the target group with its targets, the tasks, the security groups
    // and both DNS views.
    for element in [
        "api",
        "route",
        "custom-domain",
        "vpc-link",
        "load-balancer",
        "listener",
        "rule",
        "target-group",
        "target",
        "service",
        "task",
        "security-group",
        "dns-public",
        "dns-vpc",
    ] {
        assert!(
            dom.contains(&format!("data-topology=\"{element}\"")),
            "no {element} in the topology: {dom}"
        );
    }
    assert!(dom.contains("GET /pets/{petId}"), "{dom}");
    assert!(dom.contains("private-integration.example.com"), "{dom}");
    assert!(dom.contains("pets-alb-sg"), "{dom}");

    // A request made after the page loaded arrived live, and the newest one's hops are shown.
    let live: Vec<&String> = ids
        .iter()
        .filter(|id| dom.contains(&format!("data-request=\"{id}\" data-arrived=\"live\"")))
        .collect();
    assert!(
        !live.is_empty(),
        "none of the {} requests made while the page watched arrived live: {dom}",
        ids.len()
    );
    for hop in [
        "gateway:api",
        "gateway:route",
        "gateway:authorize",
        "alb:rule",
        "alb:target",
        "task:response",
        "gateway:response",
    ] {
        assert!(
            dom.contains(&format!("data-hop=\"{hop}\"")),
            "no {hop} hop in the waterfall: {dom}"
        );
    }
    assert!(dom.contains("GET /pets/1 → 200 (task)"), "{dom}");

    // A picture of the console, when asked for (how docs/console.png is made).
    if let Ok(path) = std::env::var("AIRLOCK_CONSOLE_SCREENSHOT") {
        let out = tokio::time::timeout(
            BOUND,
            chromium(
                &url,
                profile.path(),
                2000,
                &[&format!("--screenshot={path}")],
            )
            .output(),
        )
        .await
        .unwrap()
        .unwrap();
        assert!(out.status.success());
    }
    stack.stop().await;
}

/// Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: commands
/// on its descriptor 3, answers and events on 4, each message ended by a NUL byte), so a test
/// can watch a page that keeps its event stream open, which `--dump-dom` cannot.
struct DevTools {
    browser: tokio::process::Child,
    commands: tokio::process::ChildStdin,
    answers: tokio::io::BufReader<tokio::process::ChildStdout>,
    next_id: u64,
    session: Option<String>,
}

impl DevTools {
    /// Starts headless Chromium with a profile in `profile`. Its descriptors 3 and 4 are made
    /// from the child's standard input and output by the shell, which then gives the browser
    /// `/dev/null` for both.
    fn launch(profile: &std::path::Path) -> DevTools {
        let script = r#"exec 3<&0 4>&1 </dev/null >/dev/null; exec chromium "$@""#;
        let mut browser = tokio::process::Command::new("bash")
            .args(["-c", script, "chromium"])
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--remote-debugging-pipe",
                "--window-size=1500,1100",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        DevTools {
            commands: browser.stdin.take().unwrap(),
            answers: tokio::io::BufReader::new(browser.stdout.take().unwrap()),
            browser,
            next_id: 1,
            session: None,
        }
    }

    /// Sends `method` (to the attached page, once there is one) and waits for its answer,
    /// skipping the events that arrive meanwhile.
    async fn call(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let id = self.next_id;
        self.next_id += 1;
        let mut message = serde_json::json!({ "id": id, "method": method, "params": params });
        if let Some(session) = &self.session {
            message["sessionId"] = session.clone().into();
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.commands.write_all(&bytes).await.unwrap();
        self.commands.flush().await.unwrap();
        loop {
            let mut raw = Vec::new();
            let n = support::bounded(method, self.answers.read_until(0, &mut raw))
                .await
                .unwrap();
            assert!(n > 0, "the browser closed its pipe during {method}");
            raw.pop();
            let answer: serde_json::Value = serde_json::from_slice(&raw).unwrap();
            if answer["id"] == id {
                assert!(answer.get("error").is_none(), "{method}: {answer}");
                return answer["result"].clone();
            }
        }
    }

    /// Opens `url` in a new page and attaches to it.
    async fn open(&mut self, url: &str) {
        let target = self
            .call("Target.createTarget", serde_json::json!({ "url": url }))
            .await;
        let attached = self
            .call(
                "Target.attachToTarget",
                serde_json::json!({ "targetId": target["targetId"], "flatten": true }),
            )
            .await;
        self.session = Some(attached["sessionId"].as_str().unwrap().to_owned());
    }

    /// The value of the JavaScript expression `expression` in the page.
    async fn eval(&mut self, expression: &str) -> serde_json::Value {
        let result = self
            .call(
                "Runtime.evaluate",
                serde_json::json!({ "expression": expression, "returnByValue": true }),
            )
            .await;
        result["result"]["value"].clone()
    }

    /// Waits until `expression` is `true` in the page (checked every 100 ms, for at most
    /// [`BOUND`]); `what` names it in the failure.
    async fn until(&mut self, what: &str, expression: &str) {
        let deadline = tokio::time::Instant::now() + BOUND;
        while self.eval(expression).await != serde_json::Value::Bool(true) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the page never showed {what}: {}",
                self.eval("document.body.innerText").await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// One request to the admin endpoint: its status and JSON body.
async fn admin(addr: std::net::SocketAddr, method: &str, path: &str) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    support::bounded("an admin answer", tcp.read_to_end(&mut raw))
        .await
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or_default())
}

/// The console on its default transport, the server-sent event stream, watched as a person
/// would: the page says it is live, a request made through the gateway appears with its hops
/// without a reload, and a task stopped through the admin API shows up in the page's events as
/// its target drains and the service replaces it.
#[tokio::test]
async fn the_console_follows_the_event_stream_live() {
    if !support::tool("chromium", "--version", "apt-get install chromium") {
        return;
    }
    let stack = RunningStack::start_default().await.unwrap();
    let token = stack.token(&["pets/read"]).unwrap();
    let admin_addr = stack.endpoints().admin;
    let profile = tempfile::tempdir().unwrap();
    let mut page = DevTools::launch(profile.path());
    page.open(&format!("http://{admin_addr}/")).await;
    page.until(
        "the event stream open",
        r#"document.getElementById("live")?.textContent === "live""#,
    )
    .await;
    page.until(
        "the topology",
        r#"document.querySelectorAll('[data-topology="task"]').length > 0"#,
    )
    .await;

    let reply = get(&stack, "/pets/1", Some(&token)).await;
    assert_eq!(reply.status, 200);
    let id = reply.h("apigw-requestid").to_owned();
    page.until(
        "the request, arrived live",
        &format!(
            r#"document.querySelector('[data-request="{id}"][data-arrived="live"]') !== null"#
        ),
    )
    .await;
    page.eval(&format!(
        r#"document.querySelector('[data-request="{id}"]').click()"#
    ))
    .await;
    page.until(
        "the request's waterfall",
        r#"document.querySelector('[data-hop="alb:target"]') !== null
           && document.querySelector('[data-hop="task:response"]') !== null
           && document.getElementById("trace-title").textContent.includes("GET /pets/1 → 200")"#,
    )
    .await;

    let (_, tasks) = admin(admin_addr, "GET", "/tasks").await;
    let task = tasks["services"][0]["tasks"][0]["task_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = admin(admin_addr, "POST", &format!("/tasks/{task}/stop")).await;
    assert_eq!(status, 202, "{body}");
    page.until(
        "the stopped task's target draining",
        r##"[...document.querySelectorAll("#events li")].some(li => li.textContent.includes("draining"))"##,
    )
    .await;
    page.until(
        "the task event",
        r##"[...document.querySelectorAll("#events li")].some(li => li.textContent.includes("tasks: "))"##,
    )
    .await;
    page.browser.kill().await.unwrap();
    stack.stop().await;
}
