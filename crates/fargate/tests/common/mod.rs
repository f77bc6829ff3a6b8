//! Shared fixtures: a two-subnet VPC, HTTP over emulated connections, service configs.
#![allow(clippy::unwrap_used, dead_code)]

use airlock_fargate::{
    ContainerSpec, LbAttachment, ServiceConfig, ServiceHandle, TaskDefinition, TaskInfo,
};
use airlock_net::{
    Interface, Network, Origin, Protocol, Rule, SecurityGroupSpec, Source, SubnetSpec, VpcSpec,
};
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;

/// Upper bound for anything a test waits on; waiting itself is on channels, not on this.
pub const BOUND: Duration = Duration::from_secs(30);

pub async fn bounded<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(BOUND, f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Waits until the service's task table satisfies `f`, and returns it.
pub async fn tasks_where(
    svc: &ServiceHandle,
    what: &str,
    mut f: impl FnMut(&[TaskInfo]) -> bool,
) -> Vec<TaskInfo> {
    let mut rx = svc.changes();
    bounded(what, async {
        loop {
            let tasks = svc.tasks();
            if f(&tasks) {
                return tasks;
            }
            rx.changed().await.unwrap();
        }
    })
    .await
}

/// Sends logs to the test's captured output (shown for failing tests; `RUST_LOG` filters).
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_test_writer()
        .try_init();
}

/// `10.0.0.0/16` with subnets `a` (10.0.100.0/24) and `b` (10.0.101.0/24); group `tasks` admits
/// 8080 only from group `alb`.
pub fn network() -> Network {
    network_in("10.0")
}

/// [`network`] with the VPC at `{first_two_octets}.0.0/16` (its subnets moved with it).
pub fn network_in(first_two_octets: &str) -> Network {
    init_logs();
    let cidr = |s: String| s.parse().unwrap();
    let p = first_two_octets;
    Network::new(VpcSpec {
        cidr: cidr(format!("{p}.0.0/16")),
        subnets: vec![
            SubnetSpec {
                name: "a".into(),
                cidr: cidr(format!("{p}.100.0/24")),
                availability_zone: "us-east-1a".into(),
            },
            SubnetSpec {
                name: "b".into(),
                cidr: cidr(format!("{p}.101.0/24")),
                availability_zone: "us-east-1b".into(),
            },
        ],
        security_groups: vec![
            SecurityGroupSpec::with_default_egress("alb", vec![]),
            SecurityGroupSpec::with_default_egress("other", vec![]),
            SecurityGroupSpec::with_default_egress(
                "tasks",
                vec![Rule {
                    protocol: Protocol::Tcp,
                    from_port: 8080,
                    to_port: 8080,
                    source: Source::Group("alb".into()),
                }],
            ),
        ],
    })
}

/// An interface in subnet `a` carrying `group`, to dial tasks from.
pub fn client(net: &Network, group: &str) -> Interface {
    net.create_interface("a", &[group.to_owned()], "test client")
        .unwrap()
}

pub fn service(name: &str, desired: u32, container: ContainerSpec) -> ServiceConfig {
    ServiceConfig {
        name: name.into(),
        cluster: "alice".into(),
        region: "us-east-1".into(),
        account_id: "000000000000".into(),
        desired_count: desired,
        subnets: vec!["a".into(), "b".into()],
        security_groups: vec!["tasks".into()],
        load_balancer: Some(LbAttachment {
            container_name: container.name.clone(),
            container_port: 8080,
        }),
        task_definition: TaskDefinition {
            family: name.into(),
            revision: 3,
            cpu: 256,
            memory: 512,
            containers: vec![container],
        },
        deregistration_delay: Duration::ZERO,
        maximum_percent: 200,
        minimum_healthy_percent: 100,
        health_check_grace_period: Duration::ZERO,
        log_dir: None,
        docker: Default::default(),
        docker_network: None,
        docker_labels: Vec::new(),
        pull_images: false,
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// One HTTP/1.1 request over an established stream.
pub async fn request_on<S>(stream: S, req: Request<Full<Bytes>>) -> Reply
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let resp = sender.send_request(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

pub fn get(path: &str) -> Request<Full<Bytes>> {
    Request::get(path)
        .header("host", "task.test")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// A request to a private address, dialed through the emulated network from `from`.
pub async fn via_net(
    net: &Network,
    from: &Interface,
    to: SocketAddr,
    req: Request<Full<Bytes>>,
) -> Reply {
    let stream = bounded(
        "the emulated dial",
        net.dial(&Origin::Interface(from.clone()), to),
    )
    .await
    .unwrap();
    request_on(stream, req).await
}

/// A request to a loopback address.
pub async fn via_loopback(addr: SocketAddr, req: Request<Full<Bytes>>) -> Reply {
    let stream = TcpStream::connect(addr).await.unwrap();
    request_on(stream, req).await
}
