//! What the admin endpoint serves for people and for `airlock trace`: the recent requests'
//! traces (`GET /requests`, `GET /requests/{id}`), a server-sent-events stream of completed
//! requests, target health and task changes (`GET /events`), the stack's topology
//! (`GET /topology`), and the console itself (`GET /`), whose HTML, script and style are
//! embedded in the binary: it loads nothing from the network.

use crate::traces::{Filter, Ring};
use crate::wiring::Keep;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const INDEX_HTML: &str = include_str!("console/index.html");
const CONSOLE_JS: &str = include_str!("console/console.js");
const CONSOLE_CSS: &str = include_str!("console/console.css");

/// How often the event stream looks at target health and tasks: changes reach the console
/// within this.
const WATCH_INTERVAL: Duration = Duration::from_millis(500);
/// A comment line this often keeps proxies and clients from timing the stream out.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// `GET /requests` answers at most this many.
const MAX_LIST: usize = 1000;

/// One of the console's embedded files, by path; `None` for any other path.
pub(crate) fn asset(path: &str) -> Option<Response<Full<Bytes>>> {
    let (body, content_type) = match path {
        "" | "index.html" => (INDEX_HTML, "text/html; charset=utf-8"),
        "console.js" => (CONSOLE_JS, "text/javascript; charset=utf-8"),
        "console.css" => (CONSOLE_CSS, "text/css; charset=utf-8"),
        _ => return None,
    };
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    // The page may load only what the admin endpoint itself serves.
    h.insert(
        http::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
        ),
    );
    h.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Some(resp)
}

/// The longest a `GET /requests?wait=` waits.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// `GET /requests?status=5xx&route=GET%20/pets&task=10.0.1&limit=50`; with `after=SEQ&wait=S`,
/// a long poll: answers once a request newer than `SEQ` completed, or after `S` seconds (for
/// clients that cannot hold an event stream open).
pub(crate) async fn list(ring: &Ring, query: Option<&str>) -> Value {
    let mut filter = Filter::default();
    let mut limit = 100;
    let mut wait = None;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = decode(v);
        match k {
            "status" => filter.status = Some(v),
            "route" => filter.route = Some(v),
            "task" => filter.task = Some(v),
            "limit" => limit = v.parse().unwrap_or(limit).min(MAX_LIST),
            "after" => filter.after = v.parse().ok(),
            "wait" => {
                wait = v
                    .parse::<f64>()
                    .ok()
                    .filter(|w| w.is_finite() && *w > 0.0)
                    .map(|w| Duration::from_secs_f64(w).min(MAX_WAIT))
            }
            _ => {}
        }
    }
    if let (Some(wait), Some(after)) = (wait, filter.after) {
        let mut completed = ring.subscribe();
        if !ring.has_newer(after) {
            let _ = tokio::time::timeout(wait, async {
                while let Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) =
                    completed.recv().await
                {}
            })
            .await;
        }
    }
    let (requests, kept) = ring.list(&filter, limit);
    json!({
        "requests": requests,
        "kept": kept,
        "capacity": ring.capacity(),
        "bytes": ring.held_bytes(),
    })
}

/// The `wait=S` of a query (seconds, at most [`MAX_WAIT`]); zero when absent.
pub(crate) fn wait_of(query: Option<&str>) -> Duration {
    query
        .unwrap_or_default()
        .split('&')
        .find_map(|p| p.strip_prefix("wait="))
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|w| w.is_finite() && *w > 0.0)
        .map_or(Duration::ZERO, |w| Duration::from_secs_f64(w).min(MAX_WAIT))
}

/// Percent-decoding of a path segment (a request id is base64: `/`, `+` and `=` arrive
/// encoded).
pub(crate) fn decode_segment(v: &str) -> String {
    decode_with(v, false)
}

/// Percent-decoding of a query value (`+` is a space, as forms write it).
fn decode(v: &str) -> String {
    decode_with(v, true)
}

fn decode_with(v: &str, plus_is_space: bool) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if plus_is_space => out.push(b' '),
            b'%' => match bytes
                .get(i + 1..i + 3)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The stack as a diagram needs it: the gateway's APIs, routes and domains, the VPC links,
/// the load balancers' listeners and rules, target groups with live health, services with
/// their tasks, security groups, and the two DNS views.
pub(crate) fn topology(keep: &Keep, status: &Value) -> Value {
    let stack = airlock_net::sync::lock(&keep.stack).clone();
    let apis: Vec<Value> = stack
        .http_apis
        .iter()
        .map(|api| {
            json!({
                "name": api.name,
                "stages": api.stages.iter().map(|s| format!("{:?}", s.stage_name)).collect::<Vec<_>>(),
                "routes": api.routes.iter().map(|r| json!({
                    "route_key": r.route_key.to_string(),
                    "authorization": format!("{:?}", r.authorization_type),
                    "scopes": r.authorization_scopes,
                    "target": r.target,
                })).collect::<Vec<_>>(),
                "integrations": api.integrations.iter().map(|i| json!({
                    "name": i.name,
                    "connection_type": format!("{:?}", i.connection_type),
                    "connection_id": i.connection_id,
                    "uri": format!("{:?}", i.integration_uri),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let domains: Vec<Value> = stack
        .domain_names
        .iter()
        .map(|d| {
            json!({
                "domain_name": d.domain_name,
                "mappings": d.api_mappings.iter().map(|m| json!({
                    "api": m.api, "stage": m.stage.to_string(), "key": m.api_mapping_key,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let links: Vec<Value> = stack
        .vpc_links
        .iter()
        .map(|l| {
            let state = keep
                .links
                .iter()
                .find(|(n, _)| n == &l.name)
                .map(|(_, s)| s.borrow().as_str());
            json!({
                "name": l.name,
                "subnets": l.subnet_ids,
                "security_groups": l.security_group_ids,
                "state": state,
            })
        })
        .collect();
    let lbs: Vec<Value> = stack
        .load_balancers
        .iter()
        .map(|lb| {
            json!({
                "name": lb.name,
                "scheme": format!("{:?}", lb.scheme),
                "security_groups": lb.security_groups,
                "listeners": lb.listeners.iter().map(|l| json!({
                    "protocol": format!("{:?}", l.protocol),
                    "port": l.port,
                    "rules": l.rules.iter().map(|r| json!({
                        "priority": r.priority,
                        "conditions": r.conditions.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>(),
                        "actions": r.actions.iter().map(action_text).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                    "default_actions": l.default_actions.iter().map(action_text).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let groups: Vec<Value> = stack
        .vpc
        .security_groups
        .iter()
        .map(|g| {
            json!({
                "name": g.group_name,
                "description": g.description,
                "ingress": g.ingress.iter().map(|r| {
                    rule_text(&r.ip_protocol, r.from_port, r.to_port, r.cidr_ip, r.source_security_group.as_deref(), "from")
                }).collect::<Vec<_>>(),
                "egress": g.egress.as_ref().map(|e| e.iter().map(|r| {
                    rule_text(&r.ip_protocol, r.from_port, r.to_port, r.cidr_ip, r.destination_security_group.as_deref(), "to")
                }).collect::<Vec<_>>()),
            })
        })
        .collect();
    let services: Vec<Value> = stack
        .services
        .iter()
        .map(|s| {
            json!({
                "name": s.service_name,
                "desired_count": s.desired_count,
                "target_groups": s.load_balancers.iter().map(|l| format!("{l:?}")).collect::<Vec<_>>(),
                "security_groups": s.network_configuration.security_groups,
            })
        })
        .collect();
    json!({
        "apis": apis,
        "custom_domains": domains,
        "vpc_links": links,
        "load_balancers": lbs,
        "target_groups": status["target_groups"],
        "services": services,
        "tasks": status["services"],
        "security_groups": groups,
        "dns": status["dns"],
        "endpoints": status["endpoints"],
    })
}

/// A listener action as a person reads it: `forward → pets-tg`.
fn action_text(a: &airlock_config::Action) -> String {
    match a {
        airlock_config::Action::Forward { .. } | airlock_config::Action::WeightedForward(_) => {
            format!("forward → {}", a.target_groups().join(", "))
        }
        other => format!("{other:?}"),
    }
}

/// A security group rule as a person reads it: `tcp 443 from pets-link-sg`.
fn rule_text(
    protocol: &impl std::fmt::Debug,
    from: Option<i32>,
    to: Option<i32>,
    cidr: Option<ipnet::Ipv4Net>,
    group: Option<&str>,
    direction: &str,
) -> String {
    let ports = match (from, to) {
        (Some(a), Some(b)) if a == b => format!(" {a}"),
        (Some(a), Some(b)) if a >= 0 => format!(" {a}-{b}"),
        _ => String::new(),
    };
    let peer = match (group, cidr) {
        (Some(g), _) => g.to_owned(),
        (None, Some(c)) => c.to_string(),
        (None, None) => "-".to_owned(),
    };
    format!(
        "{}{ports} {direction} {peer}",
        format!("{protocol:?}").to_ascii_lowercase()
    )
}

/// A server-sent-events body: the lines a forwarding task sends, until it stops.
pub(crate) struct Events(mpsc::Receiver<Bytes>);

impl http_body::Body for Events {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|b| b.map(|b| Ok(http_body::Frame::data(b))))
    }
}

fn event(kind: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {kind}\ndata: {data}\n\n"))
}

/// Starts the event stream: `request` (a completed request's summary), `health` (a target
/// group's targets, when they change) and `tasks` (every service's tasks, when they change).
/// The stream ends with the stack or when the client goes away.
pub(crate) fn events(
    keep: Arc<Keep>,
    tasks: impl Fn() -> Value + Send + 'static,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) -> Response<Events> {
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let mut completed = keep.traces.subscribe();
    tracker.spawn(async move {
        let mut health: Vec<(String, tokio::sync::watch::Receiver<_>)> = keep
            .target_groups
            .iter()
            .map(|(n, g)| (n.clone(), g.watch_health()))
            .collect();
        let mut last_tasks = tasks();
        let hello = json!({ "capacity": keep.traces.capacity() });
        if tx.send(event("hello", &hello)).await.is_err() {
            return;
        }
        let mut tick = tokio::time::interval(WATCH_INTERVAL);
        let mut alive = tokio::time::interval(KEEPALIVE);
        loop {
            let out = tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tx.closed() => break,
                got = completed.recv() => match got {
                    Ok(summary) => event("request", &summary),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        event("lagged", &json!({ "missed": n }))
                    }
                    Err(_) => break,
                },
                _ = alive.tick() => Bytes::from_static(b": keep-alive\n\n"),
                _ = tick.tick() => {
                    let mut out = Vec::new();
                    for (name, rx) in &mut health {
                        if rx.has_changed().unwrap_or(false) {
                            let targets: Vec<Value> = rx.borrow_and_update().iter().map(|t| json!({
                                "target": t.target.to_string(),
                                "state": t.state.as_str(),
                                "reason": t.reason.as_ref().map(|r| r.code()),
                            })).collect();
                            out.extend_from_slice(&event("health", &json!({ "group": name, "targets": targets })));
                        }
                    }
                    let now = tasks();
                    if now != last_tasks {
                        out.extend_from_slice(&event("tasks", &now));
                        last_tasks = now;
                    }
                    if out.is_empty() {
                        continue;
                    }
                    Bytes::from(out)
                }
            };
            if tx.send(out).await.is_err() {
                break;
            }
        }
    });
    let mut resp = Response::new(Events(rx));
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    resp
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_values_are_percent_decoded() {
        assert_eq!(super::decode("GET%20/pets"), "GET /pets");
        assert_eq!(super::decode("a+b"), "a b");
        assert_eq!(super::decode("100%"), "100%");
        assert_eq!(super::decode("%zz"), "%zz");
    }
}
