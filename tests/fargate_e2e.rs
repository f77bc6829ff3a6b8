//! Your own service behind the whole chain: a `command` task, and an ECS JSON task
//! definition whose ECR image the stack's `image_map` runs as a local command, each reached
//! client → API Gateway → VPC link → ALB → task (docs/aws-rules.md §ALB-4.1, §ALB-4.4).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use airlock_stack::RunningStack;
use std::path::Path;
use support::get;

/// A task app: answers every path with JSON of what ECS and airlock gave it.
const APP: &str = r#"
import http.server, json, os
KEYS = ["PORT", "AWS_REGION", "AWS_EXECUTION_ENV", "MODE"]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"path": self.path, "env": {k: os.environ.get(k) for k in KEYS}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
print("app up on", os.environ["PORT"], flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;

/// The default stack with its task_definitions section replaced by `block` and `extra` appended.
fn default_with(block: &str, extra: &str) -> String {
    let yaml = airlock_config::DEFAULT_STACK_YAML;
    let start = yaml.find("task_definitions:").unwrap();
    let end = yaml.find("\nservices:").unwrap();
    format!("{}{block}{}\n{extra}", &yaml[..start], &yaml[end..])
}

fn write_app(dir: &Path) -> String {
    let path = dir.join("app.py");
    std::fs::write(&path, APP).unwrap();
    path.to_str().unwrap().to_owned()
}

/// A `task_definitions:` block: family `pets`, one container `app` running `app` with python3
/// on container port 8080, `MODE` set to `mode`.
fn pets_task_definition(app: &str, mode: &str) -> String {
    format!(
        r#"task_definitions:
  - family: pets
    cpu: "256"
    memory: "512"
    container_definitions:
      - name: app
        command: [python3, "{app}"]
        port_mappings:
          - container_port: 8080
        environment:
          - name: MODE
            value: {mode}
"#
    )
}

/// A `command` container (python3 reading `$PORT`) serves through every hop; the ALB's target
/// is the task's private address on the container port, while the process listens on the
/// loopback port airlock handed it.
#[tokio::test]
async fn a_command_task_serves_through_the_whole_chain() {
    let dir = tempfile::tempdir().unwrap();
    let app = write_app(dir.path());
    let block = pets_task_definition(&app, "inline");
    let stack =
        airlock_config::parse(&default_with(&block, ""), &dir.path().join("stack.yaml")).unwrap();
    let stack = RunningStack::start_ephemeral(stack).await.unwrap();
    let token = stack.token(&[]).unwrap();
    let reply = get(&stack, "/whoami", Some(&token)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["path"], "/whoami");
    let env = &body["env"];
    assert_eq!(env["MODE"], "inline");
    assert_eq!(env["AWS_REGION"], "us-east-1");
    assert_eq!(env["AWS_EXECUTION_ENV"], "AWS_ECS_FARGATE");
    let port: u16 = env["PORT"].as_str().unwrap().parse().unwrap();
    assert_ne!(port, 8080, "each task gets its own loopback port");
    let ips = stack.task_ips();
    assert_eq!(ips["pets"].len(), 2);
    stack.stop().await;
}

/// A task definition kept as `aws ecs register-task-definition --cli-input-json` takes it runs
/// unchanged: `file:` loads it, `image_map` sends its ECR image to a local command, and its
/// awslogs options name the task's log file under the state directory.
#[tokio::test]
async fn an_ecs_json_task_definition_runs_unchanged_through_the_image_map() {
    let dir = tempfile::tempdir().unwrap();
    let app = write_app(dir.path());
    let image = "000000000000.dkr.ecr.us-east-1.amazonaws.com/pets:1.4";
    let json = format!(
        r#"{{
  "family": "pets",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "256",
  "memory": "512",
  "executionRoleArn": "arn:aws:iam::000000000000:role/ecsTaskExecutionRole",
  "containerDefinitions": [{{
    "name": "app",
    "image": "{image}",
    "essential": true,
    "portMappings": [{{ "containerPort": 8080, "protocol": "tcp" }}],
    "environment": [{{ "name": "MODE", "value": "prod" }}],
    "logConfiguration": {{ "logDriver": "awslogs",
      "options": {{ "awslogs-group": "/ecs/pets", "awslogs-region": "us-east-1",
                    "awslogs-stream-prefix": "ecs" }} }}
  }}]
}}"#
    );
    std::fs::create_dir_all(dir.path().join("ecs")).unwrap();
    std::fs::write(dir.path().join("ecs/pets.json"), json).unwrap();
    let yaml = default_with(
        "task_definitions:\n  - file: ecs/pets.json\n",
        &format!(
            "image_map:\n  \"000000000000.dkr.ecr.us-east-1.amazonaws.com/pets\":\n    command: [python3, \"{app}\"]\n"
        ),
    );
    let stack = airlock_config::parse(&yaml, &dir.path().join("stack.yaml")).unwrap();
    let stack = RunningStack::start_ephemeral(stack).await.unwrap();
    let token = stack.token(&[]).unwrap();
    let reply = get(&stack, "/pets", Some(&token)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["env"]["MODE"], "prod");

    // <state>/logs/ecs/<cluster>/<awslogs-group>/<prefix>/<container>/<task id>.log
    let streams = stack.state_dir().join("logs/ecs/alice/ecs/pets/ecs/app");
    let files: Vec<_> = std::fs::read_dir(&streams)
        .unwrap_or_else(|e| panic!("{}: {e}", streams.display()))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(files.len(), 2, "one stream per task: {files:?}");
    assert!(
        files
            .iter()
            .all(|f| f.len() == 32 + 4 && f.ends_with(".log"))
    );
    stack.stop().await;
}

/// PUT on the admin endpoint; the status and the JSON answer.
async fn admin_put(
    addr: std::net::SocketAddr,
    path: &str,
    body: String,
) -> (u16, serde_json::Value) {
    use http_body_util::BodyExt as _;
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::put(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

/// docs/aws-rules.md §ALB-4.2 through every hop: a new task definition PUT on the admin endpoint rolls out while
/// requests flow client → API Gateway → VPC link → ALB (health checks on) → tasks. New tasks
/// count only once the ALB finds their targets healthy, old ones drain before they stop: no
/// request fails, and the new revision ends up answering alone.
#[tokio::test]
async fn a_rollout_through_the_whole_chain_loses_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let app = write_app(dir.path());
    let block = pets_task_definition(&app, "v1");
    let yaml = default_with(
        &block,
        &format!(
            "image_map:\n  example/pets:\n    command: [python3, \"{app}\"]\n"
        ),
    )
    .replacen(
        "      path: /health\n",
        "      path: /health\n      interval_seconds: 5\n      timeout_seconds: 2\n      healthy_threshold_count: 2\n    deregistration_delay_timeout_seconds: 1\n",
        1,
    );
    let stack = airlock_config::parse(&yaml, &dir.path().join("stack.yaml")).unwrap();
    let stack = RunningStack::start_ephemeral(stack).await.unwrap();
    let token = stack.token(&[]).unwrap();
    assert_eq!(
        get(&stack, "/whoami", Some(&token)).await.json()["env"]["MODE"],
        "v1"
    );

    let next = r#"{
  "family": "pets",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "256",
  "memory": "512",
  "containerDefinitions": [{
    "name": "app",
    "image": "example/pets:2",
    "portMappings": [{ "containerPort": 8080 }],
    "environment": [{ "name": "MODE", "value": "v2" }]
  }]
}"#;
    let (status, answer) = admin_put(
        stack.endpoints().admin,
        "/services/pets/task-definition",
        next.to_owned(),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["task_definition"], "pets:2");

    // Steady load until the new revision has answered 20 times in a row (bounded).
    let mut failures = Vec::new();
    let mut answers = Vec::new();
    let mut streak = 0;
    for _ in 0..5_000 {
        let reply = get(&stack, "/whoami", Some(&token)).await;
        if reply.status != 200 {
            failures.push(format!("{}: {}", reply.status, reply.text()));
            continue;
        }
        let mode = reply.json()["env"]["MODE"].as_str().unwrap().to_owned();
        streak = if mode == "v2" { streak + 1 } else { 0 };
        answers.push(mode);
        if streak == 20 {
            break;
        }
    }
    assert!(failures.is_empty(), "failed requests: {failures:?}");
    assert_eq!(streak, 20, "the new revision never took over");
    assert!(
        answers.iter().any(|m| m == "v1"),
        "the load started before the rollout"
    );

    // A bad definition is refused with the field named, and nothing rolls.
    let (status, answer) = admin_put(
        stack.endpoints().admin,
        "/services/pets/task-definition",
        next.replace("\"memory\": \"512\"", "\"memory\": \"4096\""),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        answer["error"].as_str().unwrap().contains("memory"),
        "{answer}"
    );
    stack.stop().await;
}

/// A task app whose every answer takes a while: a request to it is in flight when the stack is
/// asked to stop.
const SLOW_APP: &str = r#"
import http.server, os, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/health":
            time.sleep(1.5)
        body = b'{"slow": true}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;

/// Stopping the stack (Ctrl-C, SIGTERM) lets a request already in flight come back whole: the
/// listeners stop first and the tasks only once the requests through them are done, as ECS
/// stops tasks only after the load balancer drained them ("Deregistration delay",
/// https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-target-group-attributes.html#deregistration-delay).
/// Before, the tasks stopped at once and the request got a 502.
#[tokio::test]
async fn a_stop_lets_requests_in_flight_finish_before_the_tasks_go() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("slow.py");
    std::fs::write(&app, SLOW_APP).unwrap();
    let block = pets_task_definition(app.to_str().unwrap(), "slow");
    let stack =
        airlock_config::parse(&default_with(&block, ""), &dir.path().join("stack.yaml")).unwrap();
    let stack = RunningStack::start_ephemeral(stack).await.unwrap();
    let token = stack.token(&[]).unwrap();
    let (gateway, ca) = (stack.endpoints().gateway, stack.ca_der());
    let call = airlock_stack::client::Call::get("/pets").bearer(&token);
    let in_flight = tokio::spawn(async move {
        airlock_stack::client::https(gateway, ca, support::DOMAIN, &call).await
    });
    // The request reaches the task (which then sleeps) before the stop is asked for.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    stack.stop().await;
    let reply = in_flight.await.unwrap().expect("the exchange completes");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["slow"], true);
}
