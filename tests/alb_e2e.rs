//! The internal ALB inside the whole default stack: client → API Gateway → VPC link →
//! ALB → pets tasks. Target health on the admin `/status` (docs/aws-rules.md §ALB-3.3), draining of a
//! stopped task (docs/aws-rules.md §ALB-3.7), a listener rule with a fixed response (docs/aws-rules.md §ALB-1.4–§ALB-1.6) and a weighted forward
//! with group stickiness (docs/aws-rules.md §ALB-1.6), all from the stack file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use airlock_stack::RunningStack;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::net::SocketAddr;
use support::get;

/// The default stack with quick health checks, a 1 s deregistration delay, a weighted forward
/// with group stickiness as the default action, and one fixed-response rule.
fn stack_yaml() -> String {
    let replace = |yaml: String, from: &str, to: &str| {
        assert_eq!(yaml.matches(from).count(), 1, "{from:?} occurs once");
        yaml.replacen(from, to, 1)
    };
    let yaml = replace(
        airlock_config::DEFAULT_STACK_YAML.to_owned(),
        "      path: /health\n",
        "      path: /health\n      interval_seconds: 5\n      timeout_seconds: 2\n      healthy_threshold_count: 2\n    deregistration_delay_timeout_seconds: 1\n",
    );
    replace(
        yaml,
        "        default_actions:\n          - type: forward\n            target_group: pets-tg\n",
        r#"        default_actions:
          - type: forward
            target_groups:
              - target_group: pets-tg
                weight: 1
            target_group_stickiness_config:
              enabled: true
              duration_seconds: 3600
        rules:
          - priority: 10
            conditions:
              - field: path-pattern
                values: [/pets/teapot]
            actions:
              - type: fixed-response
                status_code: "418"
                content_type: text/plain
                message_body: short and stout
"#,
    )
}

/// One plain HTTP request on the admin endpoint; the status and the JSON answer.
async fn admin(addr: SocketAddr, method: &str, path: &str) -> (u16, Value) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// `(target, state)` of every target of `pets-tg` in `GET /status`.
async fn pets_targets(addr: SocketAddr) -> Vec<(String, String)> {
    let (status, body) = admin(addr, "GET", "/status").await;
    assert_eq!(status, 200, "{body}");
    let groups = body["target_groups"].as_array().unwrap();
    let pets = groups.iter().find(|g| g["name"] == "pets-tg").unwrap();
    pets["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["target"].as_str().unwrap().to_owned(),
                t["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn healthy_count(targets: &[(String, String)]) -> usize {
    targets.iter().filter(|(_, s)| s == "healthy").count()
}

/// Requests `/pets` through the chain (each must answer 200) until `done` holds for the
/// targets shown on `/status`, at most `rounds` times; returns the last targets seen.
async fn load_until(
    stack: &RunningStack,
    token: &str,
    rounds: usize,
    done: impl Fn(&[(String, String)]) -> bool,
) -> Vec<(String, String)> {
    let admin_addr = stack.endpoints().admin;
    let mut last = Vec::new();
    for _ in 0..rounds {
        last = pets_targets(admin_addr).await;
        if done(&last) {
            return last;
        }
        let reply = get(stack, "/pets", Some(token)).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    panic!("condition not reached; targets: {last:?}");
}

#[tokio::test]
async fn the_alb_in_the_default_stack() {
    let dir = tempfile::tempdir().unwrap();
    let stack = airlock_config::parse(&stack_yaml(), &dir.path().join("stack.yaml")).unwrap();
    let stack = RunningStack::start_ephemeral(stack).await.unwrap();
    let token = stack.token(&[]).unwrap();
    let admin_addr = stack.endpoints().admin;

    // docs/aws-rules.md §ALB-3.3: both tasks' targets become healthy, as /status shows.
    let targets = load_until(&stack, &token, 20_000, |t| {
        t.len() == 2 && healthy_count(t) == 2
    })
    .await;
    assert_eq!(healthy_count(&targets), 2, "{targets:?}");

    // docs/aws-rules.md §ALB-1.4–§ALB-1.6: the rule added to the stack file answers through the gateway.
    let teapot = get(&stack, "/pets/teapot", Some(&token)).await;
    assert_eq!(teapot.status, 418, "{}", teapot.text());
    assert_eq!(teapot.text(), "short and stout");
    // Other paths still reach the tasks, through the weighted default action.
    let pet = get(&stack, "/pets/1", Some(&token)).await;
    assert_eq!(pet.status, 200, "{}", pet.text());
    // docs/aws-rules.md §ALB-1.6: group stickiness sets AWSALBTG (and its CORS twin).
    let cookies: Vec<&str> = pet
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(
        cookies.iter().any(|c| c.starts_with("AWSALBTG="))
            && cookies.iter().any(|c| c.starts_with("AWSALBTGCORS=")),
        "{cookies:?}"
    );

    // docs/aws-rules.md §ALB-3.7: stop one task: its target drains and the chain keeps answering 200.
    let (status, tasks) = admin(admin_addr, "GET", "/tasks").await;
    assert_eq!(status, 200, "{tasks}");
    let stopped = tasks["services"][0]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["last_status"] == "RUNNING")
        .expect("a running task");
    let task_id = stopped["task_id"].as_str().unwrap().to_owned();
    let stopped_ip = stopped["private_ip"].as_str().unwrap().to_owned();
    let (status, answer) = admin(admin_addr, "POST", &format!("/tasks/{task_id}/stop")).await;
    assert!(status < 300, "{status}: {answer}");
    let stopped_target = |t: &(String, String)| t.0.starts_with(&format!("{stopped_ip}:"));
    let mut saw_draining = false;
    let mut settled = false;
    for _ in 0..20_000 {
        let targets = pets_targets(admin_addr).await;
        saw_draining |= targets
            .iter()
            .any(|t| stopped_target(t) && t.1 == "draining");
        if saw_draining && targets.len() == 2 && healthy_count(&targets) == 2 {
            settled = true;
            break;
        }
        let reply = get(&stack, "/pets", Some(&token)).await;
        assert_eq!(
            reply.status,
            200,
            "no request fails while a target drains: {}",
            reply.text()
        );
    }
    assert!(saw_draining, "the stopped task's target was shown draining");
    assert!(
        settled,
        "the replacement task became healthy and the drained target left"
    );
    stack.stop().await;
}
