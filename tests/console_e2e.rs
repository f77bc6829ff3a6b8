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
