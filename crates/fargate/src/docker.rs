//! `image` containers through the Docker Engine HTTP API, spoken directly with hyper over the
//! engine's socket.
//!
//! Why not bollard: airlock needs eight endpoints (inspect image, create, start, inspect, wait,
//! logs, stop, remove, plus exec for health checks), all plain JSON over HTTP/1.1. hyper is
//! already in the tree; bollard would add its own HTTP stack, serde models for the whole API and
//! more build time on a two-core machine for no behaviour airlock uses.

use crate::config::DockerEndpoint;
use crate::logs::LogSink;
use bytes::{Buf, Bytes, BytesMut};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::net::Ipv4Addr;
use std::time::Duration;
use tokio::net::{TcpStream, UnixStream};

/// A problem talking to the engine, or an answer it refused with.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DockerError {
    /// Nothing answered at the endpoint.
    #[error("no Docker engine reachable at {endpoint}: {source}")]
    Unreachable {
        /// Where airlock looked.
        endpoint: String,
        /// Why connecting failed.
        source: std::io::Error,
    },
    /// The HTTP exchange failed midway.
    #[error("talking to the Docker engine: {0}")]
    Http(#[from] hyper::Error),
    /// The engine answered with an error status.
    #[error("the Docker engine answered {status} to {what}: {message}")]
    Refused {
        /// What was asked.
        what: String,
        /// The status.
        status: StatusCode,
        /// The engine's `message`.
        message: String,
    },
    /// The engine answered something that is not the documented shape.
    #[error("unexpected answer from the Docker engine to {0}")]
    Shape(String),
}

/// A client for one engine; each request uses its own connection (the engine is local).
#[derive(Debug, Clone)]
pub(crate) struct Docker {
    endpoint: DockerEndpoint,
}

/// A created and started container.
pub(crate) struct Started {
    pub id: String,
    /// `(container_port, host_port)` for every mapping, published on 127.0.0.1.
    pub ports: Vec<(u16, u16)>,
}

/// Where a container's network stack comes from.
pub(crate) enum Placement<'a> {
    /// The engine's default bridge, with every port published on a free 127.0.0.1 port.
    Publish,
    /// On `network` at `ip` (the task's private address); nothing published.
    Join { network: &'a str, ip: Ipv4Addr },
    /// In the network namespace of the container `id` (the task's first), as containers of one
    /// ECS `awsvpc` task share theirs.
    ShareWith(&'a str),
}

/// What to create.
pub(crate) struct CreateSpec<'a> {
    pub placement: Placement<'a>,
    pub name: &'a str,
    pub image: &'a str,
    pub entry_point: Option<&'a [String]>,
    pub command: Option<&'a [String]>,
    pub working_directory: Option<&'a str>,
    pub env: &'a [(String, String)],
    pub ports: &'a [u16],
    pub labels: Value,
    pub stop_timeout: Duration,
}

impl Docker {
    pub(crate) fn new(endpoint: DockerEndpoint) -> Docker {
        Docker { endpoint }
    }

    pub(crate) fn endpoint(&self) -> &DockerEndpoint {
        &self.endpoint
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<hyper::Response<Incoming>, DockerError> {
        let unreachable = |source| DockerError::Unreachable {
            endpoint: self.endpoint.to_string(),
            source,
        };
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, "docker")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| DockerError::Shape(path.to_owned()))?;
        macro_rules! exchange {
            ($stream:expr) => {{
                let (mut sender, conn) =
                    hyper::client::conn::http1::handshake(TokioIo::new($stream)).await?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                sender.send_request(request).await?
            }};
        }
        let response = match &self.endpoint {
            DockerEndpoint::Unix(path) => {
                exchange!(UnixStream::connect(path).await.map_err(unreachable)?)
            }
            DockerEndpoint::Tcp(addr) => {
                exchange!(
                    TcpStream::connect(addr.as_str())
                        .await
                        .map_err(unreachable)?
                )
            }
        };
        Ok(response)
    }

    /// Sends a request and reads a JSON answer (`Null` for an empty body); error statuses
    /// become [`DockerError::Refused`].
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, DockerError> {
        let response = self.send(method, path, body).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        if !status.is_success() {
            return Err(DockerError::Refused {
                what: path.split('?').next().unwrap_or(path).to_owned(),
                status,
                message: value["message"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_owned()),
            });
        }
        Ok(value)
    }

    /// `GET /_ping`: whether the engine answers.
    pub(crate) async fn ping(&self) -> Result<(), DockerError> {
        let response = self.send(Method::GET, "/_ping", None).await?;
        let _ = response.into_body().collect().await?;
        Ok(())
    }

    /// Whether the engine has `image` locally.
    pub(crate) async fn has_image(&self, image: &str) -> Result<bool, DockerError> {
        match self
            .call(
                Method::GET,
                &format!("/images/{}/json", encode(image)),
                None,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(DockerError::Refused { status, .. }) if status == StatusCode::NOT_FOUND => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// `POST /images/create`: pulls `image` (a tag of `latest` when it names none, as `docker
    /// pull` does, rather than every tag). The engine streams progress as JSON lines and reports
    /// a failed pull as an `error` line of a successful answer, so the whole stream is read.
    pub(crate) async fn pull(&self, image: &str) -> Result<(), DockerError> {
        let last = image.rsplit('/').next().unwrap_or(image);
        let reference = if last.contains(':') || last.contains('@') {
            image.to_owned()
        } else {
            format!("{image}:latest")
        };
        let what = "/images/create";
        let response = self
            .send(
                Method::POST,
                &format!("{what}?fromImage={}", encode(&reference)),
                None,
            )
            .await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        let text = String::from_utf8_lossy(&bytes);
        let error = text.lines().find_map(|line| {
            let v: Value = serde_json::from_str(line).ok()?;
            v["error"]
                .as_str()
                .or_else(|| v["message"].as_str().filter(|_| !status.is_success()))
                .map(str::to_owned)
        });
        match error {
            None if status.is_success() => Ok(()),
            error => Err(DockerError::Refused {
                what: what.to_owned(),
                status,
                message: error.unwrap_or_else(|| text.trim().to_owned()),
            }),
        }
    }

    /// Creates and starts a container where `spec.placement` says. Published ports are bound
    /// on 127.0.0.1 (the engine picks free host ports) and returned as `(container, host)`;
    /// on a network, a port is reached at the container's address, and returned as
    /// `(container, container)`.
    pub(crate) async fn run(&self, spec: CreateSpec<'_>) -> Result<Started, DockerError> {
        let exposed: serde_json::Map<String, Value> = spec
            .ports
            .iter()
            .map(|p| (format!("{p}/tcp"), json!({})))
            .collect();
        let bindings: serde_json::Map<String, Value> = spec
            .ports
            .iter()
            .map(|p| {
                (
                    format!("{p}/tcp"),
                    json!([{"HostIp": "127.0.0.1", "HostPort": ""}]),
                )
            })
            .collect();
        let mut body = json!({
            "Image": spec.image,
            "Env": spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
            "Labels": spec.labels,
            "StopTimeout": spec.stop_timeout.as_secs().max(1),
        });
        match spec.placement {
            Placement::Publish => {
                body["ExposedPorts"] = Value::Object(exposed);
                body["HostConfig"] = json!({ "PortBindings": bindings });
            }
            Placement::Join { network, ip } => {
                body["ExposedPorts"] = Value::Object(exposed);
                body["HostConfig"] = json!({ "NetworkMode": network });
                body["NetworkingConfig"] = json!({
                    "EndpointsConfig": {
                        network: { "IPAMConfig": { "IPv4Address": ip.to_string() } }
                    }
                });
            }
            // A container in another's namespace can have no network settings of its own.
            Placement::ShareWith(id) => {
                body["HostConfig"] = json!({ "NetworkMode": format!("container:{id}") });
            }
        }
        let publish = matches!(spec.placement, Placement::Publish);
        if let Some(ep) = spec.entry_point {
            body["Entrypoint"] = json!(ep);
        }
        if let Some(cmd) = spec.command {
            body["Cmd"] = json!(cmd);
        }
        if let Some(dir) = spec.working_directory {
            body["WorkingDir"] = json!(dir);
        }
        let created = self
            .call(
                Method::POST,
                &format!("/containers/create?name={}", encode(spec.name)),
                Some(body),
            )
            .await?;
        let id = created["Id"]
            .as_str()
            .ok_or_else(|| DockerError::Shape("/containers/create".into()))?
            .to_owned();
        if let Err(e) = self
            .call(Method::POST, &format!("/containers/{id}/start"), None)
            .await
        {
            self.remove(&id).await;
            return Err(e);
        }
        if !publish {
            return Ok(Started {
                id,
                ports: spec.ports.iter().map(|&p| (p, p)).collect(),
            });
        }
        let inspect = self
            .call(Method::GET, &format!("/containers/{id}/json"), None)
            .await?;
        let mut ports = Vec::new();
        for &p in spec.ports {
            let host = inspect["NetworkSettings"]["Ports"][format!("{p}/tcp")]
                .as_array()
                .into_iter()
                .flatten()
                .find(|b| b["HostIp"] == "127.0.0.1" || b["HostIp"] == "")
                .and_then(|b| b["HostPort"].as_str())
                .and_then(|s| s.parse::<u16>().ok());
            match host {
                Some(h) => ports.push((p, h)),
                None => {
                    self.stop(&id, Duration::from_secs(1)).await;
                    self.remove(&id).await;
                    return Err(DockerError::Shape(format!(
                        "container port {p}: no host port published"
                    )));
                }
            }
        }
        Ok(Started { id, ports })
    }

    /// Waits for the container to exit; its exit code.
    pub(crate) async fn wait(&self, id: &str) -> Result<i32, DockerError> {
        let v = self
            .call(Method::POST, &format!("/containers/{id}/wait"), None)
            .await?;
        v["StatusCode"]
            .as_i64()
            .and_then(|c| i32::try_from(c).ok())
            .ok_or_else(|| DockerError::Shape("/containers/wait".into()))
    }

    /// `docker stop -t`: SIGTERM (or the image's STOPSIGNAL), SIGKILL after `timeout`.
    pub(crate) async fn stop(&self, id: &str, timeout: Duration) {
        let path = format!("/containers/{id}/stop?t={}", timeout.as_secs().max(1));
        if let Err(e) = self.call(Method::POST, &path, None).await {
            tracing::debug!(target: "airlock::task", error = %e, "stopping container {id}");
        }
    }

    /// Removes the container (and its anonymous volumes).
    pub(crate) async fn remove(&self, id: &str) {
        let path = format!("/containers/{id}?force=1&v=1");
        if let Err(e) = self.call(Method::DELETE, &path, None).await {
            tracing::warn!(target: "airlock::task", error = %e, "removing container {id}");
        }
    }

    /// Follows the container's stdout and stderr into `sink` until the container exits.
    pub(crate) async fn follow_logs(&self, id: &str, sink: LogSink) {
        let path = format!("/containers/{id}/logs?follow=1&stdout=1&stderr=1");
        let Ok(response) = self.send(Method::GET, &path, None).await else {
            return;
        };
        let mut body = response.into_body();
        let mut buf = BytesMut::new();
        let mut lines = [Vec::new(), Vec::new()];
        while let Some(Ok(frame)) = body.frame().await {
            let Ok(data) = frame.into_data() else {
                continue;
            };
            buf.extend_from_slice(&data);
            // Without a TTY the engine multiplexes: [stream, 0, 0, 0, len as u32 BE, payload].
            while buf.len() >= 8 {
                let len = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
                if buf.len() < 8 + len {
                    break;
                }
                let stream = usize::from(buf[0] == 2);
                buf.advance(8);
                let payload = buf.split_to(len);
                for &b in payload.iter() {
                    if b == b'\n' {
                        sink.line(&String::from_utf8_lossy(&lines[stream]));
                        lines[stream].clear();
                    } else {
                        lines[stream].push(b);
                    }
                }
            }
        }
        for line in lines.iter().filter(|l| !l.is_empty()) {
            sink.line(&String::from_utf8_lossy(line));
        }
    }

    /// Runs `cmd` in the container (`docker exec`) and returns its exit code.
    pub(crate) async fn exec(&self, id: &str, cmd: &[String]) -> Result<i64, DockerError> {
        let created = self
            .call(
                Method::POST,
                &format!("/containers/{id}/exec"),
                Some(json!({"Cmd": cmd, "AttachStdout": false, "AttachStderr": false})),
            )
            .await?;
        let exec = created["Id"]
            .as_str()
            .ok_or_else(|| DockerError::Shape("/containers/exec".into()))?
            .to_owned();
        self.call(
            Method::POST,
            &format!("/exec/{exec}/start"),
            Some(json!({"Detach": true})),
        )
        .await?;
        let mut pause = Duration::from_millis(10);
        loop {
            let state = self
                .call(Method::GET, &format!("/exec/{exec}/json"), None)
                .await?;
            if state["Running"] == Value::Bool(false) {
                return state["ExitCode"]
                    .as_i64()
                    .ok_or_else(|| DockerError::Shape("/exec/json".into()));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }
}

/// A Docker network as airlock needs to know it.
pub(crate) struct NetworkInfo {
    pub name: String,
    pub subnets: Vec<String>,
}

impl Docker {
    /// Every network of the engine, with its IPv4 subnets.
    pub(crate) async fn networks(&self) -> Result<Vec<NetworkInfo>, DockerError> {
        let list = self.call(Method::GET, "/networks", None).await?;
        let list = list
            .as_array()
            .ok_or_else(|| DockerError::Shape("/networks".into()))?;
        Ok(list
            .iter()
            .filter_map(|n| {
                Some(NetworkInfo {
                    name: n["Name"].as_str()?.to_owned(),
                    subnets: n["IPAM"]["Config"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|c| c["Subnet"].as_str().map(str::to_owned))
                        .collect(),
                })
            })
            .collect())
    }

    /// Creates an internal bridge network (no route out) on `subnet`.
    pub(crate) async fn create_network(
        &self,
        name: &str,
        subnet: &str,
        labels: Value,
    ) -> Result<(), DockerError> {
        self.call(
            Method::POST,
            "/networks/create",
            Some(json!({
                "Name": name,
                "CheckDuplicate": true,
                "Driver": "bridge",
                "Internal": true,
                "IPAM": { "Config": [ { "Subnet": subnet } ] },
                "Labels": labels,
            })),
        )
        .await
        .map(drop)
    }

    /// Removes a network (its containers must be gone).
    pub(crate) async fn remove_network(&self, name: &str) -> Result<(), DockerError> {
        self.call(Method::DELETE, &format!("/networks/{}", encode(name)), None)
            .await
            .map(drop)
    }

    /// Removes every container, running or not, that carries `label` (`key=value`); how many.
    pub(crate) async fn remove_labelled(&self, label: &str) -> Result<usize, DockerError> {
        let filters = json!({ "label": [label] }).to_string();
        let list = self
            .call(
                Method::GET,
                &format!("/containers/json?all=1&filters={}", encode(&filters)),
                None,
            )
            .await?;
        let ids: Vec<&str> = list
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["Id"].as_str())
            .collect();
        for id in &ids {
            self.remove(id).await;
        }
        Ok(ids.len())
    }
}

/// Percent-encodes what cannot appear raw in a path segment or query value.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:@/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
