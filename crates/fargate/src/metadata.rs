//! The task metadata endpoint v4 (docs/aws-rules.md §ALB-4.6), served on a loopback port per service. Containers find
//! it in `ECS_CONTAINER_METADATA_URI_V4` (and the v3 variable), which carry their Docker id.
//!
//! Deliberate difference: `IPv4SubnetCIDRBlock` and `SubnetGatewayIpv4Address` are absent, as
//! the emulated network does not expose subnet blocks to its users.

use crate::apps::{json_response, serve_http};
use crate::config::TaskDefinition;
use crate::state::Shared;
use crate::status::{ContainerInfo, TaskInfo};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use serde_json::{Map, Value, json};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Weak};
use std::time::SystemTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What Fargate reports as reserved ephemeral storage (MiB) for the default 20 GiB.
const EPHEMERAL_RESERVED_MIB: u64 = 20496;

/// Serves the metadata of the service's tasks until `shutdown` fires.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Weak<Shared>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    serve_http(
        "task-metadata",
        listener,
        Vec::new(),
        shutdown,
        tracker,
        move |req| {
            let response = answer(&req, &shared);
            async move { response }
        },
    )
    .await
}

fn answer(req: &Request<Incoming>, shared: &Weak<Shared>) -> Response<Full<Bytes>> {
    let not_found = || json_response(StatusCode::NOT_FOUND, &json!({"message": "Not Found"}));
    if req.method() != Method::GET {
        return json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({"message": "Method Not Allowed"}),
        );
    }
    let Some(shared) = shared.upgrade() else {
        return not_found();
    };
    let segments: Vec<&str> = req.uri().path().split('/').skip(1).collect();
    let (docker_id, rest) = match segments.as_slice() {
        ["v4" | "v3", docker_id, rest @ ..] => (*docker_id, rest),
        _ => return not_found(),
    };
    let Some((task, index, td)) = find(&shared, docker_id) else {
        return not_found();
    };
    let body = match rest {
        [] => container_json(&shared, &td, &task, &task.containers[index]),
        ["task"] => task_json(&shared, &td, &task),
        ["taskWithTags"] => {
            let mut body = task_json(&shared, &td, &task);
            if let Value::Object(fields) = &mut body {
                fields.insert("TaskTags".to_owned(), json!({}));
            }
            body
        }
        // Docker stats have no meaning for airlock's containers; the shape is an empty object.
        ["stats"] => json!({}),
        ["task", "stats"] => {
            let stats: Map<String, Value> = task
                .containers
                .iter()
                .map(|c| (c.docker_id.clone(), json!({})))
                .collect();
            Value::Object(stats)
        }
        _ => return not_found(),
    };
    json_response(StatusCode::OK, &body)
}

fn find(shared: &Shared, docker_id: &str) -> Option<(TaskInfo, usize, Arc<TaskDefinition>)> {
    let tasks = shared.lock_tasks();
    tasks.iter().find_map(|t| {
        t.info
            .containers
            .iter()
            .position(|c| c.docker_id == docker_id)
            .map(|i| (t.info.clone(), i, t.td.clone()))
    })
}

/// The `${ECS_CONTAINER_METADATA_URI_V4}/task` object.
pub(crate) fn task_json(shared: &Shared, td: &TaskDefinition, task: &TaskInfo) -> Value {
    let cfg = &shared.config;
    let mut body = json!({
        "Cluster": shared.cluster_arn(),
        "ServiceName": cfg.name,
        "TaskARN": task.task_arn,
        "Family": td.family,
        "Revision": td.revision.to_string(),
        "DesiredStatus": task.desired_status.as_str(),
        "KnownStatus": task.last_status.as_str(),
        "Limits": {
            "CPU": f64::from(td.cpu) / 1024.0,
            "Memory": td.memory,
        },
        "PullStartedAt": rfc3339(task.created_at),
        "PullStoppedAt": rfc3339(task.created_at),
        "AvailabilityZone": task.availability_zone,
        "LaunchType": "FARGATE",
        "EphemeralStorageMetrics": {
            "Utilized": 0,
            "Reserved": EPHEMERAL_RESERVED_MIB,
        },
        "Containers": task
            .containers
            .iter()
            .map(|c| container_json(shared, td, task, c))
            .collect::<Vec<_>>(),
    });
    if let (Some(stopped), Value::Object(fields)) = (task.stopped_at, &mut body) {
        fields.insert("ExecutionStoppedAt".to_owned(), json!(rfc3339(stopped)));
    }
    body
}

/// The `${ECS_CONTAINER_METADATA_URI_V4}` object of one container.
pub(crate) fn container_json(
    shared: &Shared,
    td: &TaskDefinition,
    task: &TaskInfo,
    c: &ContainerInfo,
) -> Value {
    let cfg = &shared.config;
    let spec = td.containers.iter().find(|s| s.name == c.name);
    let ports: Vec<Value> = spec
        .map(|s| {
            s.port_mappings
                .iter()
                .map(|p| json!({"ContainerPort": p, "Protocol": "tcp", "HostPort": p}))
                .collect()
        })
        .unwrap_or_default();
    let mut fields = Map::new();
    let mut put = |k: &str, v: Value| {
        fields.insert(k.to_owned(), v);
    };
    put("DockerId", json!(c.docker_id));
    put("Name", json!(c.name));
    put(
        "DockerName",
        json!(format!(
            "ecs-{}-{}-{}-{}",
            td.family,
            td.revision,
            c.name,
            &hex_digest(&c.docker_id)[..20]
        )),
    );
    put("Image", json!(c.image));
    put("ImageID", json!(format!("sha256:{}", hex_digest(&c.image))));
    if !ports.is_empty() {
        put("Ports", Value::Array(ports));
    }
    put(
        "Labels",
        json!({
            "com.amazonaws.ecs.cluster": shared.cluster_arn(),
            "com.amazonaws.ecs.container-name": c.name,
            "com.amazonaws.ecs.task-arn": task.task_arn,
            "com.amazonaws.ecs.task-definition-family": td.family,
            "com.amazonaws.ecs.task-definition-version": td.revision.to_string(),
        }),
    );
    put("DesiredStatus", json!(task.desired_status.as_str()));
    put("KnownStatus", json!(c.last_status.as_str()));
    if let Some(code) = c.exit_code {
        put("ExitCode", json!(code));
    }
    put("Limits", json!({"CPU": 0}));
    put("CreatedAt", json!(rfc3339(task.created_at)));
    if let Some(started) = task.started_at {
        put("StartedAt", json!(rfc3339(started)));
    }
    if let Some(stopped) = task.stopped_at {
        put("FinishedAt", json!(rfc3339(stopped)));
    }
    put("Type", json!("NORMAL"));
    if spec.is_some_and(|s| s.health_check.is_some()) {
        put("Health", json!({"status": c.health.as_str()}));
    }
    put(
        "ContainerARN",
        json!(format!(
            "arn:aws:ecs:{}:{}:container/{}/{}/{}",
            cfg.region,
            cfg.account_id,
            cfg.cluster,
            task.task_id,
            uuid_like(&c.docker_id)
        )),
    );
    if let Some(ip) = task.private_ip {
        let dns_name = if cfg.region == "us-east-1" {
            format!("ip-{}.ec2.internal", ip.to_string().replace('.', "-"))
        } else {
            format!(
                "ip-{}.{}.compute.internal",
                ip.to_string().replace('.', "-"),
                cfg.region
            )
        };
        let mac = hex_digest(task.interface_id.as_deref().unwrap_or_default());
        let mac = format!(
            "0a:{}:{}:{}:{}:{}",
            &mac[0..2],
            &mac[2..4],
            &mac[4..6],
            &mac[6..8],
            &mac[8..10]
        );
        put(
            "Networks",
            json!([{
                "NetworkMode": "awsvpc",
                "IPv4Addresses": [ip.to_string()],
                "AttachmentIndex": 0,
                "MACAddress": mac,
                "PrivateDNSName": dns_name,
            }]),
        );
    }
    Value::Object(fields)
}

/// 64 hex digits derived from `s`: stable stand-ins for digests airlock has no image for.
fn hex_digest(s: &str) -> String {
    (0u8..4)
        .map(|round| {
            let mut h = DefaultHasher::new();
            (round, s).hash(&mut h);
            format!("{:016x}", h.finish())
        })
        .collect()
}

fn uuid_like(s: &str) -> String {
    let h = hex_digest(s);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// RFC 3339 in UTC with nanoseconds, as the agent writes its timestamps.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    const RFC3339_NANOS: &[BorrowedFormatItem<'_>] =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z");
    time::OffsetDateTime::from(t)
        .format(RFC3339_NANOS)
        .expect("a date with a time has every field the format names")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let t = UNIX_EPOCH + Duration::new(1_709_251_199, 123_456_789);
        assert_eq!(rfc3339(t), "2024-02-29T23:59:59.123456789Z");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(t), "2000-02-29T00:00:00.000000000Z");
    }
}
