//! The admin endpoint (loopback HTTP, JSON): what a running stack is made of, and the levers
//! tests in any language need (mint tokens, stop tasks, change security groups).
//!
//! | Method and path | What it does |
//! | --- | --- |
//! | `GET /status` | every resource, interface and private IP, link states, tasks, DNS records per view |
//! | `POST /token` | mints a local-issuer token; body: `{"sub","audience","scopes","expires_in",…}`; with `?user_pool=NAME` (and `&client=NAME` when the pool has several clients), an access token of that Cognito user pool |
//! | `GET /.well-known/openid-configuration` | the local issuer's OIDC discovery document |
//! | `GET /.well-known/jwks.json` | the local issuer's signing keys (JWKS) |
//! | `GET /tasks` | every service's tasks with state, health, private IP and host port |
//! | `POST /tasks/{task_id}/stop` | stops a task (fault injection); the service replaces it |
//! | `PUT /services/{name}/desired-count` | body `{"desired_count": N}`: at most ECS's quota of 5,000 tasks per service and the service's subnets' free addresses |
//! | `PUT /services/{name}/task-definition` | body: an ECS task definition JSON (`register-task-definition --cli-input-json`); starts a rolling deployment of the next revision |
//! | `PUT /security-groups/{name}` | replaces a group's rules; body `{"ingress": [...], "egress": [...]}` |
//! | `PUT /vpc-links/{name}/state` | body `{"state": "AVAILABLE"}` (or `PENDING`, `FAILED`, `INACTIVE`) |
//! | `GET /requests` | recent requests' summaries, newest first; `?status=404` (or `5xx`), `route=`, `task=`, `limit=` |
//! | `GET /requests/{id}` | one request's trace (by `apigw-requestid` or trace id): every hop's decision and timing; `?wait=S` waits up to S seconds for it to complete |
//! | `GET /events` | server-sent events: `request` (each completed request), `health`, `tasks` |
//! | `GET /topology` | the stack as the console draws it |
//! | `GET /` | the console (HTML, script and style embedded in the binary) |
//!
//! Every body is read with the stack file's parser and types and every change is checked by the
//! stack file's validation (`airlock_config`'s `with_*` methods), so a change is refused in the
//! same words as the same mistake in the file (400, `{"error": ..., "problems": [...]}`).
//!
//! Only this machine may use it, and only deliberately: a request must name a loopback host
//! (`127.0.0.1`, `localhost`, `[::1]`, any port; otherwise 403, which closes the door to DNS
//! rebinding), a browser's `Origin`, when sent, must be loopback too (403), and a body must be
//! `application/json` (otherwise 415, so no web page can send one without a CORS preflight). Connections are bounded in number and in idle time, and the idle
//! ones are closed first when more arrive, so idle clients cannot lock it out.

use crate::wiring::Keep;
use airlock_net::sync::lock;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Request bodies are small JSON documents.
const MAX_BODY: usize = 64 * 1024;
/// Connections kept open at once; one more arriving closes the oldest idle one.
const ADMIN_MAX_CONNECTIONS: usize = 64;
/// Connections held at all, counting those being closed: the file descriptors the admin
/// endpoint may take.
const ADMIN_CONNECTION_CAP: usize = 4 * ADMIN_MAX_CONNECTIONS;
/// How long a request's body may take to arrive.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection closed to make room may finish the response it is writing.
const EVICTION_GRACE: Duration = Duration::from_secs(1);

pub(crate) struct Admin {
    pub state: Arc<Keep>,
    /// Ends the event streams with the stack.
    pub shutdown: CancellationToken,
    /// Where the event streams' forwarding tasks run.
    pub tracker: TaskTracker,
    pub endpoints: Value,
    pub region: String,
    pub account: String,
    /// How long a connection may wait for (the rest of) a request head, idle keep-alive
    /// included.
    pub idle_timeout: Duration,
    /// The open connections, oldest first.
    connections: Connections,
}

impl Admin {
    pub(crate) fn new(
        state: Arc<Keep>,
        endpoints: Value,
        region: String,
        account: String,
        idle_timeout: Duration,
        shutdown: CancellationToken,
        tracker: TaskTracker,
    ) -> Admin {
        Admin {
            state,
            shutdown,
            tracker,
            endpoints,
            region,
            account,
            idle_timeout,
            connections: Connections::default(),
        }
    }
}

/// The admin endpoint's open connections, by arrival: when more than [`ADMIN_MAX_CONNECTIONS`]
/// are open, the oldest one not in a request is told to close.
#[derive(Default)]
struct Connections {
    next: AtomicU64,
    open: Mutex<BTreeMap<u64, Arc<Slot>>>,
}

/// One open connection: whether a request is being handled, and how to close it.
#[derive(Default)]
struct Slot {
    busy: AtomicBool,
    close: CancellationToken,
}

impl Connections {
    /// Registers a new connection, closing the oldest idle one if there are too many.
    fn arrive(&self) -> (u64, Arc<Slot>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot::default());
        let mut open = lock(&self.open);
        open.insert(id, slot.clone());
        if open.len() > ADMIN_MAX_CONNECTIONS {
            let idle = open
                .iter()
                .find(|(other, s)| **other != id && !s.busy.load(Ordering::Acquire))
                .map(|(&other, _)| other);
            if let Some(old) = idle.and_then(|old| open.remove(&old)) {
                tracing::debug!("admin: closing an idle connection to make room");
                old.close.cancel();
            }
        }
        (id, slot)
    }

    fn leave(&self, id: u64) {
        lock(&self.open).remove(&id);
    }
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
        airlock_net::ConnectionLimit(ADMIN_CONNECTION_CAP),
        shutdown,
        tracker,
        move |stream, _peer| {
            let admin = admin.clone();
            let shutdown = conn_shutdown.clone();
            async move {
                let (id, slot) = admin.connections.arrive();
                let service = {
                    let admin = admin.clone();
                    let slot = slot.clone();
                    hyper::service::service_fn(move |req| {
                        let admin = admin.clone();
                        let slot = slot.clone();
                        async move {
                            slot.busy.store(true, Ordering::Release);
                            let resp = admin.handle(req).await;
                            slot.busy.store(false, Ordering::Release);
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    })
                };
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    // Covers the wait for every request head, the first and each kept-alive
                    // one: an idle connection is closed after this long.
                    .header_read_timeout(admin.idle_timeout)
                    .serve_connection(TokioIo::new(stream), service);
                tokio::pin!(conn);
                tokio::select! {
                    _ = conn.as_mut() => {}
                    _ = shutdown.cancelled() => {
                        conn.as_mut().graceful_shutdown();
                        let _ = conn.await;
                    }
                    _ = slot.close.cancelled() => {
                        conn.as_mut().graceful_shutdown();
                        let _ = tokio::time::timeout(EVICTION_GRACE, conn).await;
                    }
                }
                admin.connections.leave(id);
            }
        },
    )
    .await;
}

/// What the admin endpoint answers with: a whole JSON document or page, or an event stream.
type AdminBody = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

fn boxed(body: Full<Bytes>) -> AdminBody {
    body.boxed()
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
/// A refused admin request: its status, why, and (for a refused change) each problem.
struct Fail(StatusCode, String, Vec<Value>);

impl Fail {
    fn into_response(self) -> Response<Full<Bytes>> {
        if self.2.is_empty() {
            reply(self.0, json!({ "error": self.1 }))
        } else {
            reply(self.0, json!({ "error": self.1, "problems": self.2 }))
        }
    }
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Fail {
    Fail(status, message.to_string(), Vec::new())
}

/// A request body as text, once its headers say it is JSON.
async fn body_text(req: Request<Incoming>) -> Result<String, Fail> {
    let json = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a body must be sent with content-type: application/json",
        ));
    }
    let bytes = tokio::time::timeout(
        BODY_READ_TIMEOUT,
        Limited::new(req.into_body(), MAX_BODY).collect(),
    )
    .await
    .map_err(|_| {
        error(
            StatusCode::REQUEST_TIMEOUT,
            "the body did not arrive in time",
        )
    })?
    .map_err(|e| error(StatusCode::BAD_REQUEST, e))?
    .to_bytes();
    String::from_utf8(bytes.to_vec()).map_err(|e| error(StatusCode::BAD_REQUEST, e))
}

/// A change refused by the stack file's parser or validation: 400 with every problem.
fn invalid(err: airlock_config::ConfigError) -> Fail {
    let problems: Vec<Value> = err
        .diagnostics()
        .iter()
        .map(|d| {
            json!({
                "field": d.path,
                "line": d.location.line,
                "column": d.location.column,
                "message": d.message,
                "hint": d.hint,
            })
        })
        .collect();
    let summary = err
        .diagnostics()
        .iter()
        .map(|d| {
            let field = if d.path.is_empty() {
                String::new()
            } else {
                format!("{}: ", d.path)
            };
            let hint = if d.hint.is_empty() {
                String::new()
            } else {
                format!(" (hint: {})", d.hint)
            };
            format!("{field}{}{hint}", d.message)
        })
        .collect::<Vec<_>>()
        .join("; ");
    Fail(StatusCode::BAD_REQUEST, summary, problems)
}

/// Whether `host` (a `Host` header) names this machine: `127.0.0.1`, `localhost` or `[::1]`,
/// with or without a port. Any other name may be a DNS rebinding of a web page's origin.
fn loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((name, port)) if port.is_empty() || valid_port(port) => name,
            _ => return false,
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) if valid_port(port) => name,
            Some(_) => return false,
            None => host,
        }
    };
    name == "127.0.0.1" || name.eq_ignore_ascii_case("localhost") || name == "::1"
}

fn valid_port(port: &str) -> bool {
    port.strip_prefix(':')
        .unwrap_or(port)
        .parse::<u16>()
        .is_ok()
}

impl Admin {
    async fn handle(&self, req: Request<Incoming>) -> Response<AdminBody> {
        let host = req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok());
        if !host.is_some_and(loopback_host) {
            return error(
                StatusCode::FORBIDDEN,
                "the admin endpoint answers only requests for 127.0.0.1, localhost or [::1]",
            )
            .into_response()
            .map(boxed);
        }
        // A browser names the page that sent a request: one from elsewhere is refused even when
        // it needs no preflight (a bodiless POST).
        let foreign_origin = req.headers().get(http::header::ORIGIN).is_some_and(|o| {
            !o.to_str()
                .ok()
                .and_then(|o| o.strip_prefix("http://").or(o.strip_prefix("https://")))
                .is_some_and(loopback_host)
        });
        if foreign_origin {
            return error(
                StatusCode::FORBIDDEN,
                "the admin endpoint answers no request sent by a web page from another host",
            )
            .into_response()
            .map(boxed);
        }
        let path: Vec<String> = req
            .uri()
            .path()
            .trim_matches('/')
            .split('/')
            .map(str::to_owned)
            .collect();
        let parts: Vec<&str> = path.iter().map(String::as_str).collect();
        let method = req.method().clone();
        if method == Method::GET && parts.as_slice() == ["events"] {
            let admin_tasks = {
                let keep = self.state.clone();
                move || tasks_of(&keep)
            };
            return crate::console::events(
                self.state.clone(),
                admin_tasks,
                self.shutdown.clone(),
                &self.tracker,
            )
            .map(|b| b.boxed());
        }
        if method == Method::GET
            && let [file] = parts.as_slice()
            && let Some(resp) = crate::console::asset(file)
        {
            return resp.map(boxed);
        }
        let traces = &self.state.traces;
        let result = match (&method, parts.as_slice()) {
            (&Method::GET, ["requests"]) => Ok(reply(
                StatusCode::OK,
                crate::console::list(traces, req.uri().query()).await,
            )),
            (&Method::GET, ["requests", id]) => {
                match traces
                    .get_completed(
                        &crate::console::decode_segment(id),
                        crate::console::wait_of(req.uri().query()),
                    )
                    .await
                {
                    Some(t) => Ok(reply(StatusCode::OK, t)),
                    None => Err(error(
                        StatusCode::NOT_FOUND,
                        format!(
                            "no trace of request {id}: not seen, or older than the newest {} requests kept",
                            traces.capacity()
                        ),
                    )),
                }
            }
            (&Method::GET, ["topology"]) => Ok(reply(
                StatusCode::OK,
                crate::console::topology(&self.state, &self.status()),
            )),
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
        result.unwrap_or_else(Fail::into_response).map(boxed)
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
        tasks_of(&self.state)
    }

    async fn token(&self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Fail> {
        let query = req.uri().query().unwrap_or_default().to_owned();
        let body = body_text(req).await?;
        let mut request: airlock_pki::TokenRequest =
            serde_json::from_str(&body).map_err(|e| error(StatusCode::BAD_REQUEST, e))?;
        let (mut pool, mut client) = (None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=').unwrap_or((pair, "")) {
                ("user_pool", v) => pool = Some(v.to_owned()),
                ("client", v) => client = Some(v.to_owned()),
                (k, _) => {
                    return Err(error(
                        StatusCode::BAD_REQUEST,
                        format!("unknown query parameter {k:?} (hint: user_pool, client)"),
                    ));
                }
            }
        }
        if let Some(pool) = pool {
            let stack = lock(&self.state.stack);
            request = crate::cognito::user_pool_token(&stack, &pool, client.as_deref(), request)
                .map_err(|e| error(StatusCode::NOT_FOUND, e))?;
        } else if client.is_some() {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "client applies only with user_pool",
            ));
        }
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

    fn service(&self, name: &str) -> Result<&airlock_fargate::ServiceHandle, Fail> {
        self.state
            .services
            .iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("no service {name}")))
    }

    /// The stack as changed so far (the admin endpoint's changes kept, for the next check).
    fn stack(&self) -> std::sync::MutexGuard<'_, airlock_config::Stack> {
        lock(&self.state.stack)
    }

    /// Sets a service's desired count, once the stack file's checks pass and the service's
    /// subnets have an address free for each task.
    async fn desired_count(
        &self,
        name: &str,
        req: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, Fail> {
        let svc = self.service(name)?;
        let body = body_text(req).await?;
        let origin = format!("PUT /services/{name}/desired-count");
        let origin = Path::new(&origin);
        let change: airlock_config::DesiredCount =
            airlock_config::parse_change(&body, origin).map_err(invalid)?;
        let count = change.desired_count;
        let mut stack = self.stack();
        let next = stack
            .with_desired_count(name, count, &body, origin)
            .map_err(invalid)?;
        // The live count: the service's subnets' free addresses, plus those its own tasks hold
        // (they are the service's to keep).
        let subnets = next
            .services
            .iter()
            .find(|s| s.service_name == name)
            .map(|s| s.network_configuration.subnets.clone())
            .unwrap_or_default();
        let free: u64 = subnets
            .iter()
            .filter_map(|s| self.state.network.free_addresses(s))
            .sum();
        let held = svc
            .tasks()
            .iter()
            .filter(|t| t.desired_status.as_str() == "RUNNING" && t.private_ip.is_some())
            .count() as u64;
        if let Some((message, hint)) = airlock_config::desired_count_problem(count, free + held) {
            return Err(Fail(
                StatusCode::BAD_REQUEST,
                format!("desired_count: {message} (hint: {hint})"),
                vec![json!({
                    "field": "desired_count",
                    "line": 1,
                    "column": 1,
                    "message": message,
                    "hint": hint,
                })],
            ));
        }
        *stack = next;
        drop(stack);
        svc.set_desired_count(count);
        Ok(reply(StatusCode::OK, json!({ "desired_count": count })))
    }

    /// Registers the body as the service's next revision and rolls it out (a rolling
    /// deployment, as ECS's UpdateService with a new task definition starts).
    async fn task_definition(
        &self,
        name: &str,
        req: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, Fail> {
        let svc = self.service(name)?;
        let text = body_text(req).await?;
        let origin = std::path::PathBuf::from(format!("services/{name}/task-definition"));
        let td = airlock_config::parse_task_definition_json(&text, &origin).map_err(invalid)?;
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
        let family = td.family.clone();
        let next = {
            let stack = self.stack();
            stack
                .with_task_definition(td.clone(), &text, &origin)
                .map_err(invalid)?
        };
        let config = crate::wiring::task_definition_config(&next, &td, revision);
        svc.update_task_definition(config)
            .await
            .map_err(|e| error(StatusCode::BAD_REQUEST, e))?;
        *self.stack() = next;
        Ok(reply(
            StatusCode::OK,
            json!({ "task_definition": format!("{family}:{revision}") }),
        ))
    }

    /// Replaces a security group's rules, read and checked as the stack file's are.
    async fn security_group(
        &self,
        name: &str,
        req: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, Fail> {
        if self.state.network.security_group(name).is_none() {
            return Err(error(
                StatusCode::NOT_FOUND,
                format!("no security group {name}"),
            ));
        }
        let body = body_text(req).await?;
        let origin = format!("PUT /security-groups/{name}");
        let origin = Path::new(&origin);
        let rules: airlock_config::SecurityGroupRules =
            airlock_config::parse_change(&body, origin).map_err(invalid)?;
        let mut stack = self.stack();
        let next = stack
            .with_security_group_rules(name, rules, &body, origin)
            .map_err(invalid)?;
        let group = next
            .vpc
            .security_groups
            .iter()
            .find(|g| g.group_name == name)
            .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("no security group {name}")))?;
        self.state
            .network
            .set_security_group(crate::wiring::group_spec(group));
        *stack = next;
        Ok(reply(StatusCode::OK, json!({ "security_group": name })))
    }

    async fn link_state(
        &self,
        name: &str,
        req: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, Fail> {
        let (_, tx) = self
            .state
            .links
            .iter()
            .find(|(n, _)| n == name)
            .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("no VPC link {name}")))?;
        let body = body_text(req).await?;
        let origin = format!("PUT /vpc-links/{name}/state");
        let change: airlock_config::VpcLinkState =
            airlock_config::parse_change(&body, Path::new(&origin)).map_err(invalid)?;
        use airlock_config::VpcLinkStatus;
        use airlock_vpclink::LinkState;
        let state = match change.state {
            VpcLinkStatus::Available => LinkState::Available,
            VpcLinkStatus::Pending => LinkState::Pending,
            VpcLinkStatus::Failed => LinkState::Failed,
            VpcLinkStatus::Inactive => LinkState::Inactive,
        };
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

/// Every service's tasks, as `GET /tasks` shows them.
fn tasks_of(keep: &Keep) -> Value {
    let services: Vec<Value> = keep
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
