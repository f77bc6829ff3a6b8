//! The admin endpoint (loopback HTTP, JSON): what a running stack is made of, and the levers
//! tests in any language need (mint tokens, stop tasks, change security groups).
//!
//! | Method and path | What it does |
//! | --- | --- |
//! | `GET /status` | every resource, interface and private IP, link states, tasks, DNS records per view |
//! | `POST /token` | mints a local-issuer token; body: `{"sub","audience","scopes","expires_in",…}` |
//! | `GET /.well-known/openid-configuration` | the local issuer's OIDC discovery document |
//! | `GET /.well-known/jwks.json` | the local issuer's signing keys (JWKS) |
//! | `GET /tasks` | every service's tasks with state, health, private IP and host port |
//! | `POST /tasks/{task_id}/stop` | stops a task (fault injection); the service replaces it |
//! | `PUT /services/{name}/desired-count` | body `{"desired_count": N}` |
//! | `PUT /services/{name}/task-definition` | body: an ECS task definition JSON (`register-task-definition --cli-input-json`); starts a rolling deployment of the next revision |
//! | `PUT /security-groups/{name}` | replaces a group's rules; body `{"ingress": [...], "egress": [...]}` |
//! | `PUT /vpc-links/{name}/state` | body `{"state": "AVAILABLE"}` (or `PENDING`, `FAILED`, `INACTIVE`) |

use crate::wiring::Keep;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Request bodies are small JSON documents.
const MAX_BODY: usize = 64 * 1024;

pub(crate) struct Admin {
    pub state: Arc<Keep>,
    pub endpoints: Value,
    pub region: String,
    pub account: String,
}

pub(crate) async fn serve(
    admin: Arc<Admin>,
    listener: TcpListener,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let conn_shutdown = shutdown.clone();
    airlock_net::accept_loop(
        "admin",
        listener,
        airlock_net::ConnectionLimit(256),
        shutdown,
        tracker,
        move |stream, _peer| {
            let admin = admin.clone();
            let shutdown = conn_shutdown.clone();
            async move {
                let service = hyper::service::service_fn(move |req| {
                    let admin = admin.clone();
                    async move { Ok::<_, std::convert::Infallible>(admin.handle(req).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                tokio::pin!(conn);
                tokio::select! {
                    _ = conn.as_mut() => {}
                    _ = shutdown.cancelled() => {
                        conn.as_mut().graceful_shutdown();
                        let _ = conn.await;
                    }
                }
            }
        },
    )
    .await;
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

/// `http://<Host>` of a request to the admin endpoint (which serves plain HTTP).
fn admin_base_url<B>(req: &Request<B>) -> String {
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

/// A refused admin request: its status and why.
struct Fail(StatusCode, String);

impl Fail {
    fn into_response(self) -> Response<Full<Bytes>> {
        reply(self.0, json!({ "error": self.1 }))
    }
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Fail {
    Fail(status, message.to_string())
}

async fn body_json<T: serde::de::DeserializeOwned>(req: Request<Incoming>) -> Result<T, Fail> {
    let bytes = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| error(StatusCode::BAD_REQUEST, e))?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| error(StatusCode::BAD_REQUEST, e))
}

impl Admin {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path: Vec<String> = req
            .uri()
            .path()
            .trim_matches('/')
            .split('/')
            .map(str::to_owned)
            .collect();
        let parts: Vec<&str> = path.iter().map(String::as_str).collect();
        let method = req.method().clone();
        let result = match (&method, parts.as_slice()) {
            (&Method::GET, ["status"]) => Ok(reply(StatusCode::OK, self.status())),
            (&Method::GET, ["tasks"]) => Ok(reply(StatusCode::OK, self.tasks())),
            (&Method::POST, ["token"]) => self.token(req).await,
            // The local issuer's OIDC documents, so other tools can verify its tokens.
            (&Method::GET, [".well-known", "openid-configuration"]) => Ok(reply(
                StatusCode::OK,
                crate::auth::discovery_document(&self.state.issuer, &admin_base_url(&req)),
            )),
            (&Method::GET, [".well-known", "jwks.json"]) => Ok(reply(
                StatusCode::OK,
                crate::auth::jwks_document(&self.state.issuer),
            )),
            (&Method::POST, ["tasks", id, "stop"]) => Ok(self.stop_task(id)),
            (&Method::PUT, ["services", name, "desired-count"]) => {
                self.desired_count(name, req).await
            }
            (&Method::PUT, ["services", name, "task-definition"]) => {
                self.task_definition(name, req).await
            }
            (&Method::PUT, ["security-groups", name]) => self.security_group(name, req).await,
            (&Method::PUT, ["vpc-links", name, "state"]) => self.link_state(name, req).await,
            _ => Err(error(StatusCode::NOT_FOUND, "no such admin resource")),
        };
        result.unwrap_or_else(Fail::into_response)
    }

    fn status(&self) -> Value {
        let s = &self.state;
        let interfaces: Vec<Value> = s
            .network
            .interfaces()
            .into_iter()
            .map(|i| {
                json!({
                    "id": i.interface.id(),
                    "private_ip": i.interface.ip().to_string(),
                    "subnet": i.interface.subnet(),
                    "availability_zone": i.interface.availability_zone(),
                    "security_groups": i.interface.security_groups(),
                    "description": i.interface.description(),
                    "listening_ports": i.listening_ports,
                })
            })
            .collect();
        let links: Vec<Value> = s
            .links
            .iter()
            .map(|(name, state)| json!({ "name": name, "state": state.borrow().as_str() }))
            .collect();
        let snapshot = s.dns.snapshot();
        let mut public = Vec::new();
        let mut private = Vec::new();
        for zone in snapshot.zones() {
            let records: Vec<Value> = zone
                .records()
                .iter()
                .map(|r| {
                    json!({
                        "name": r.name.to_string(),
                        "type": r.rtype().to_string(),
                        "ttl": r.ttl,
                        "values": record_values(&r.data),
                    })
                })
                .collect();
            let z = json!({ "zone": zone.name().to_string(), "records": records });
            if zone.is_private() {
                private.push(z);
            } else {
                public.push(z);
            }
        }
        json!({
            "region": self.region,
            "account_id": self.account,
            "endpoints": self.endpoints,
            "interfaces": interfaces,
            "vpc_links": links,
            "services": self.tasks()["services"],
            "target_groups": s.target_groups.iter().map(|(name, group)| {
                let targets: Vec<Value> = group.health().iter().map(|t| json!({
                    "target": t.target.to_string(),
                    "health_check_port": t.health_check_port,
                    "state": t.state.as_str(),
                    "reason": t.reason.as_ref().map(|r| r.code()),
                    "description": t.description,
                })).collect();
                json!({ "name": name, "targets": targets })
            }).collect::<Vec<_>>(),
            "dns": { "public_view": public, "vpc_view_private_zones": private },
        })
    }

    fn tasks(&self) -> Value {
        let services: Vec<Value> = self
            .state
            .services
            .iter()
            .map(|svc| {
                let tasks: Vec<Value> = svc
                    .tasks()
                    .iter()
                    .map(|t| {
                        json!({
                            "task_id": t.task_id,
                            "task_arn": t.task_arn,
                            "last_status": t.last_status.as_str(),
                            "desired_status": t.desired_status.as_str(),
                            "health_status": t.health.as_str(),
                            "private_ip": t.private_ip.map(|ip| ip.to_string()),
                            "subnet": t.subnet,
                            "host_port": t.host_port,
                            "stopped_reason": t.stopped_reason,
                        })
                    })
                    .collect();
                json!({
                    "service_name": svc.name(),
                    "service_arn": svc.arn(),
                    "desired_count": svc.desired_count(),
                    "tasks": tasks,
                    "events": svc.events().iter().rev().take(20).map(|e| e.message.clone()).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({ "services": services })
    }

    async fn token(&self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Fail> {
        let request: airlock_pki::TokenRequest = body_json(req).await?;
        let token = self
            .state
            .issuer
            .mint(&request)
            .map_err(|e| error(StatusCode::BAD_REQUEST, e))?;
        Ok(reply(StatusCode::OK, json!({ "token": token })))
    }

    fn stop_task(&self, id: &str) -> Response<Full<Bytes>> {
        for svc in &self.state.services {
            if svc.stop_task(id).is_ok() {
                return reply(StatusCode::ACCEPTED, json!({ "stopping": id }));
            }
        }
        error(StatusCode::NOT_FOUND, format!("no running task {id}")).into_response()
    }

    async fn desired_count(
        &self,
        name: &str,
        req: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, Fail> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Body {
            desired_count: u32,
        }
        let body: Body = body_json(req).await?;
        let svc = self
            .state
            .services
            .iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("no service {name}")))?;
        svc.set_desired_count(body.desired_count);
        Ok(reply(
            StatusCode::OK,
            json!({ "desired_count": body.desired_count }),
        ))
    }

    /// Registers the body as the service's next revision and rolls it out (alb-ecs-dns.md §4.2).
    async fn task_definition(
        &self,
        name: &str,
        req: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, Fail> {
        let bytes = Limited::new(req.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| error(StatusCode::BAD_REQUEST, e))?
            .to_bytes();
        let text = std::str::from_utf8(&bytes).map_err(|e| error(StatusCode::BAD_REQUEST, e))?;
        let svc = self
            .state
            .services
            .iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("no service {name}")))?;
        let origin = std::path::PathBuf::from(format!("services/{name}/task-definition"));
        let td = airlock_config::parse_task_definition_json(text, &origin)
            .map_err(|e| error(StatusCode::BAD_REQUEST, e))?;
        let current = svc.task_definition();
        if td.family != current.family {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!(
                    "family {:?} is not the service's family {:?}",
                    td.family, current.family
                ),
            ));
        }
        let revision = current.revision + 1;
        let next = crate::wiring::task_definition_config(&self.state.stack, &td, revision);
        svc.update_task_definition(next)
            .await
            .map_err(|e| error(StatusCode::BAD_REQUEST, e))?;
        Ok(reply(
            StatusCode::OK,
            json!({ "task_definition": format!("{}:{revision}", td.family) }),
        ))
    }

    async fn security_group(
        &self,
        name: &str,
        req: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, Fail> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct RuleBody {
            ip_protocol: String,
            #[serde(default)]
            from_port: Option<u16>,
            #[serde(default)]
            to_port: Option<u16>,
            #[serde(default)]
            cidr_ip: Option<ipnet::Ipv4Net>,
            #[serde(default)]
            source_security_group: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Body {
            #[serde(default)]
            ingress: Vec<RuleBody>,
            #[serde(default)]
            egress: Option<Vec<RuleBody>>,
        }
        let body: Body = body_json(req).await?;
        if self.state.network.security_group(name).is_none() {
            return Err(error(
                StatusCode::NOT_FOUND,
                format!("no security group {name}"),
            ));
        }
        let rule = |r: RuleBody| -> Result<airlock_net::Rule, Fail> {
            let protocol = match r.ip_protocol.as_str() {
                "tcp" => airlock_net::Protocol::Tcp,
                "udp" => airlock_net::Protocol::Udp,
                "-1" => airlock_net::Protocol::All,
                other => {
                    return Err(error(
                        StatusCode::BAD_REQUEST,
                        format!("ip_protocol {other:?} (use tcp, udp or -1)"),
                    ));
                }
            };
            Ok(airlock_net::Rule {
                protocol,
                from_port: r.from_port.unwrap_or(0),
                to_port: r.to_port.or(r.from_port).unwrap_or(u16::MAX),
                source: match (r.source_security_group, r.cidr_ip) {
                    (Some(g), _) => airlock_net::Source::Group(g),
                    (None, Some(c)) => airlock_net::Source::Cidr(c),
                    (None, None) => airlock_net::Source::Cidr(ipnet::Ipv4Net::default()),
                },
            })
        };
        let ingress = body
            .ingress
            .into_iter()
            .map(rule)
            .collect::<Result<_, _>>()?;
        let egress = match body.egress {
            None => vec![airlock_net::Rule::allow_all()],
            Some(rules) => rules.into_iter().map(rule).collect::<Result<_, _>>()?,
        };
        self.state
            .network
            .set_security_group(airlock_net::SecurityGroupSpec {
                name: name.to_owned(),
                ingress,
                egress,
            });
        Ok(reply(StatusCode::OK, json!({ "security_group": name })))
    }

    async fn link_state(
        &self,
        name: &str,
        req: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, Fail> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Body {
            state: String,
        }
        let body: Body = body_json(req).await?;
        use airlock_vpclink::LinkState;
        let state = match body.state.as_str() {
            "AVAILABLE" => LinkState::Available,
            "PENDING" => LinkState::Pending,
            "FAILED" => LinkState::Failed,
            "INACTIVE" => LinkState::Inactive,
            other => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    format!("state {other:?} (use AVAILABLE, PENDING, FAILED or INACTIVE)"),
                ));
            }
        };
        let (_, tx) = self
            .state
            .links
            .iter()
            .find(|(n, _)| n == name)
            .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("no VPC link {name}")))?;
        let _ = tx.send(state);
        Ok(reply(
            StatusCode::OK,
            json!({ "vpc_link": name, "state": state.as_str() }),
        ))
    }
}

fn record_values(data: &airlock_dns::RecordData) -> Vec<String> {
    use airlock_dns::RecordData;
    match data {
        RecordData::A(ips) => ips.iter().map(ToString::to_string).collect(),
        RecordData::Aaaa(ips) => ips.iter().map(ToString::to_string).collect(),
        RecordData::Cname(name) => vec![name.to_string()],
        RecordData::Txt(t) => t.clone(),
    }
}
