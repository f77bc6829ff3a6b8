//! One request's life through the listener (docs/aws-rules.md §ALB-2): checks, rules, action, forwarding, and the one
//! place where failures become ALB error pages.

use crate::access_log::{AccessLog, Record};
use crate::config::{Action, Redirect, WeightedForward};
use crate::conn::{ClientBody, Conn, ConnectError, NodeConnector, RequestBody};
use crate::desync::Reason;
use crate::error_page;
use crate::headers::{
    self, X_FORWARDED_PORT, X_FORWARDED_PROTO, apply_trace_id, apply_xff, is_upgrade, join_cookies,
    split_host_port, strip_hop_by_hop, target_host,
};
use crate::rules::{RequestView, Rule};
use crate::sticky;
use crate::target_group::TargetGroup;
use crate::target_group::{Lease, Stickiness};
use airlock_net::trace::{Component, Segment, TraceKey, Tracer, Val};
use airlock_pool::{DrivenBody, SendError};
use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_TYPE, EXPECT, HOST, LOCATION, SERVER, SET_COOKIE};
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri, Version};
use http_body::Frame;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;
use tokio_util::sync::WaitForCancellationFutureOwned;

/// A response body: the target's, streamed, or one the ALB wrote.
pub(crate) type Body = Either<TargetBody, Full<Bytes>>;

/// A target's response body under the idle timeout (docs/aws-rules.md §ALB-2.3) and the deregistration delay
/// (docs/aws-rules.md §ALB-3.7): when the target sends nothing for the idle timeout mid-body, or its draining ends,
/// the stream fails and the client connection is cut. Holds the request's lease on the target
/// (it stays outstanding until the body ends) and writes the access-log line when done.
pub(crate) struct TargetBody {
    /// The target's body; while it streams it drives its pooled connection, which goes back to
    /// the pool when the body ends.
    inner: Either<DrivenBody<NodeConnector, RequestBody>, Incoming>,
    idle: Duration,
    /// The target sent something since the idle timer was last armed: the next wait starts
    /// the idle timeout afresh.
    progressed: bool,
    /// Armed only when the body has to wait for the target: a response that arrives whole,
    /// the common case, never touches the timer wheel, the clock or the lease's token.
    timer: Option<Pin<Box<Sleep>>>,
    /// Wakes the body when the target's deregistration delay ends; made at the first wait.
    cut: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
    lease: Lease,
    log: Option<(AccessLog, Record)>,
    /// The request's trace, finished when the body ends: the bytes the task sent are known
    /// only then.
    trace: Option<BodyTrace>,
}

/// A forwarded request's trace while the target's body streams.
struct BodyTrace {
    tracer: Tracer,
    segment: Box<Segment>,
    /// The response hop's place in the segment: the bytes are set on it at the end.
    response_hop: usize,
    /// The body's bytes so far.
    bytes: u64,
    /// The body reached its end (rather than being cut short).
    ended: bool,
}

impl TargetBody {
    fn new(
        inner: Either<DrivenBody<NodeConnector, RequestBody>, Incoming>,
        idle: Duration,
        lease: Lease,
        log: Option<(AccessLog, Record)>,
    ) -> Self {
        TargetBody {
            inner,
            idle,
            progressed: true,
            timer: None,
            cut: None,
            lease,
            log,
            trace: None,
        }
    }
}

impl Drop for TargetBody {
    fn drop(&mut self) {
        if let Some((log, record)) = self.log.take() {
            log.write(&record);
        }
        if let Some(BodyTrace {
            tracer,
            segment: mut seg,
            response_hop,
            bytes,
            ended,
        }) = self.trace.take()
        {
            // An empty body may never be polled: hyper sees its end from its length.
            let ended = ended || http_body::Body::is_end_stream(&self.inner);
            // Known only now: fields of the response hop rather than a hop of their own.
            seg.amend_at(response_hop, airlock_net::name!("bytes"), Val::Num(bytes));
            if !ended {
                seg.set_outcome("response", "the target's response was cut short");
            }
            tracer.emit_boxed(seg);
        }
    }
}

/// Why a target's body stream failed.
#[derive(Debug, thiserror::Error)]
enum BodyCut {
    /// The target went silent mid-response.
    #[error("target sent nothing for {0:?} while streaming its response")]
    Idle(Duration),
    /// The target's deregistration delay ended.
    #[error("the target's deregistration delay ended while its response was streaming")]
    Drained,
}

impl http_body::Body for TargetBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.lease.cut.is_cancelled() {
            return Poll::Ready(Some(Err(BodyCut::Drained.into())));
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                self.progressed = true;
                if let Some(Ok(f)) = &frame
                    && let Some(data) = f.data_ref()
                {
                    if let Some((_, record)) = self.log.as_mut() {
                        record.sent_bytes += data.len() as u64;
                    }
                    if let Some(t) = self.trace.as_mut() {
                        t.bytes += data.len() as u64;
                    }
                }
                if let (None, Some(t)) = (&frame, self.trace.as_mut()) {
                    t.ended = true;
                }
                Poll::Ready(frame)
            }
            Poll::Pending => {
                let this = &mut *self;
                let cut = this
                    .cut
                    .get_or_insert_with(|| Box::pin(this.lease.cut.clone().cancelled_owned()));
                if cut.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Some(Err(BodyCut::Drained.into())));
                }
                // The target's silence is counted from the first wait after it last sent.
                let timer = match &mut this.timer {
                    Some(timer) => {
                        if this.progressed {
                            timer
                                .as_mut()
                                .reset(tokio::time::Instant::now() + this.idle);
                        }
                        timer
                    }
                    none => none.insert(Box::pin(tokio::time::sleep(this.idle))),
                };
                this.progressed = false;
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(BodyCut::Idle(this.idle).into()))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Serves one request; never fails: every failure becomes the ALB's error page (docs/aws-rules.md §ALB-2.7).
pub(crate) async fn handle(req: Request<ClientBody>, conn: Arc<Conn>) -> Response<Body> {
    let version = req.version();
    let method = req.method().clone();
    let mut record = conn.record(&req);
    let verdict = conn
        .verdicts
        .as_ref()
        .and_then(|q| q.lock().ok().and_then(|mut q| q.pop_front()));
    let mut close = false;
    if let Some(v) = &verdict {
        record.classification = v.class.log_name();
        record.classification_reason = v.reason.map(Reason::as_str);
        close = v.close;
    }
    let resp = match verdict.and_then(|v| v.refuse.map(|s| (s, v.request_line))) {
        // docs/aws-rules.md §ALB-2.4/§ALB-2.5: refused before routing; the head hyper parsed was a stand-in.
        Some((status, line)) => {
            if let Some(t) = record.trace.as_mut() {
                t.record(
                    Component::Alb,
                    airlock_net::name!("desync"),
                    airlock_net::name!("refused"),
                )
                .with(
                    airlock_net::name!("class"),
                    Val::Str(record.classification.unwrap_or("-")),
                )
                .with(
                    airlock_net::name!("reason"),
                    Val::Str(record.classification_reason.unwrap_or("-")),
                );
            }
            record.request_line = line.unwrap_or_else(|| "- - - ".to_owned());
            record.user_agent = None;
            record.received_bytes = 0;
            error_page::response(status, version).map(Either::Right)
        }
        None => match expect_continue(req).await {
            Ok(req) => match route(req, &conn, &mut record, close).await {
                Ok(resp) => resp,
                Err(status) => error_page::response(status, version).map(Either::Right),
            },
            Err(status) => error_page::response(status, version).map(Either::Right),
        },
    };
    let mut resp = resp;
    airlock_pool::head::strip_body(&method, &mut resp, || {
        Either::Right(Full::new(Bytes::new()))
    });
    if close && resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        // docs/aws-rules.md §ALB-2.4: after an ambiguous request (defensive mode) or a refusal, the client
        // connection closes once the response is written.
        resp.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    record.elb_status = resp.status().as_u16();
    let tracer = &conn.shared.listener.attributes().tracer;
    let mut trace = record.trace.take().map(|mut t| {
        let from_target = matches!(resp.body(), Either::Left(_));
        let action = record.actions.first().copied();
        let produced_by = if from_target { "task" } else { "alb" };
        let outcome = match action {
            _ if from_target => "forwarded the target's response",
            Some("fixed-response") => "fixed response",
            Some("redirect") => "redirect",
            _ => "error page",
        };
        t.status = Some(resp.status().as_u16());
        t.produced_by = Some(produced_by);
        let hop = t
            .record(Component::Alb, airlock_net::name!("response"), outcome)
            .with(
                airlock_net::name!("status"),
                Val::Num(u64::from(resp.status().as_u16())),
            )
            .with(airlock_net::name!("by"), Val::Str(produced_by))
            .with(
                airlock_net::name!("error"),
                record.error_reason.map_or(Val::None, Val::Str),
            )
            .index();
        (t, hop)
    });
    match resp.into_parts() {
        (parts, Either::Left(mut body)) => {
            if let Some((t, hop)) = trace.take() {
                body.trace = Some(BodyTrace {
                    tracer: tracer.clone(),
                    segment: t,
                    response_hop: hop,
                    bytes: 0,
                    ended: false,
                });
            }
            if let Some(log) = &conn.shared.access_log {
                body.log = Some((log.clone(), record));
            }
            Response::from_parts(parts, Either::Left(body))
        }
        (parts, Either::Right(body)) => {
            if let Some((mut t, _)) = trace.take() {
                // A response the ALB wrote has no trace root yet unless it forwarded first.
                t.key.get_or_insert_with(TraceKey::local);
                tracer.emit_boxed(t);
            }
            if let Some(log) = &conn.shared.access_log {
                record.sent_bytes = http_body::Body::size_hint(&body).exact().unwrap_or(0);
                log.write(&record);
            }
            Response::from_parts(parts, Either::Right(body))
        }
    }
}

/// docs/aws-rules.md §ALB-2.1: the ALB answers `100 Continue` as soon as it has the request, before it picks a rule or
/// connects to a target. hyper writes the interim response when the body is first asked for, so
/// the body is polled once here and what arrived (if anything) is kept for the target. (hyper
/// sends no `100 Continue` for a request that announces no body.)
async fn expect_continue(req: Request<ClientBody>) -> Result<Request<RequestBody>, Refusal> {
    let wants = req
        .headers()
        .get(EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let (parts, mut inner) = req.into_parts();
    let mut first = None;
    if wants {
        let polled = std::future::poll_fn(|cx| {
            Poll::Ready(
                match http_body::Body::poll_frame(Pin::new(&mut inner), cx) {
                    Poll::Ready(f) => Some(f),
                    Poll::Pending => None,
                },
            )
        })
        .await;
        match polled {
            Some(Some(Ok(frame))) => first = Some(frame),
            // docs/aws-rules.md §ALB-2.6: the client closed before sending the full body.
            Some(Some(Err(_))) => return Err(StatusCode::BAD_REQUEST),
            Some(None) | None => {}
        }
    }
    Ok(Request::from_parts(parts, RequestBody { first, inner }))
}

/// Why the ALB answers itself; the status of docs/aws-rules.md §ALB-2.6.
type Refusal = StatusCode;

fn status_463() -> StatusCode {
    // 463 is in the valid range; the fallback is unreachable (checked by the test below).
    StatusCode::from_u16(463).unwrap_or(StatusCode::BAD_REQUEST)
}

fn status_464() -> StatusCode {
    // In the valid range like 463; the fallback is unreachable (checked by the test below).
    StatusCode::from_u16(464).unwrap_or(StatusCode::BAD_REQUEST)
}

/// A gRPC request: HTTP/2 with a `application/grpc` content type.
fn is_grpc<B>(req: &Request<B>) -> bool {
    req.version() == http::Version::HTTP_2
        && req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/grpc"))
}

/// Routes one request; `close_target` asks that the target connection not be reused (docs/aws-rules.md §ALB-2.4).
async fn route(
    req: Request<RequestBody>,
    conn: &Conn,
    record: &mut Record,
    close_target: bool,
) -> Result<Response<Body>, Refusal> {
    let listener = &conn.shared.listener;
    check_sizes(&req)?;
    if req.method() == Method::TRACE {
        return Err(StatusCode::METHOD_NOT_ALLOWED);
    }
    if headers::xff_count(req.headers()) > headers::MAX_XFF_ADDRESSES {
        return Err(status_463());
    }
    // The host as the client gave it: the absolute-form or HTTP/2 authority, else the first Host.
    let client_host: Option<String> = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            req.headers()
                .get(HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        });
    let action = {
        let view = RequestView {
            host: client_host.as_deref().map(|h| split_host_port(h).0),
            path: req.uri().path(),
            query: req.uri().query(),
            method: req.method(),
            headers: req.headers(),
            source_ip: conn.peer.ip(),
        };
        let rule = listener.rules.first_match(&view);
        record.matched_rule_priority = Some(rule.map_or(0, Rule::priority));
        let action = rule.map_or(&listener.default_action, Rule::action);
        if let Some(t) = record.trace.as_mut() {
            let hop = match rule {
                Some(r) => t
                    .record(
                        Component::Alb,
                        airlock_net::name!("rule"),
                        airlock_net::name!("matched"),
                    )
                    .with(
                        airlock_net::name!("priority"),
                        Val::Num(u64::from(r.priority())),
                    )
                    .with(airlock_net::name!("conditions"), Val::Str(r.summary())),
                None => t
                    .record(
                        Component::Alb,
                        airlock_net::name!("rule"),
                        airlock_net::name!("default action"),
                    )
                    .with(
                        airlock_net::name!("why"),
                        Val::Str("no rule's conditions all match"),
                    ),
            };
            hop.with(airlock_net::name!("action"), Val::Str(action.kind()));
        }
        action
    };
    // docs/aws-rules.md §ALB-2.1 protocol matrix: airlock's target groups are all protocol version HTTP1, to which a
    // gRPC request cannot be forwarded.
    if matches!(action, Action::Forward(_) | Action::WeightedForward(_)) && is_grpc(&req) {
        return Err(status_464());
    }
    match action {
        Action::Forward(group) => {
            record.actions.push("forward");
            forward(req, group, None, client_host, conn, record, close_target).await
        }
        Action::WeightedForward(w) => {
            record.actions.push("forward");
            let (group, cookie) =
                choose_group(w, req.headers()).ok_or(StatusCode::SERVICE_UNAVAILABLE)?;
            forward(req, group, cookie, client_host, conn, record, close_target).await
        }
        Action::FixedResponse {
            status,
            content_type,
            body,
        } => {
            record.actions.push("fixed-response");
            Ok(fixed_response(*status, content_type.as_deref(), body))
        }
        Action::Redirect(r) => {
            record.actions.push("redirect");
            let resp = redirect(r, &req, client_host.as_deref(), conn);
            record.redirect_url = resp
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            Ok(resp)
        }
    }
}

/// docs/aws-rules.md §ALB-2.5 hard limits: request line over 16 KB → 414; one header over 16 KB or the header block
/// over 64 KB → 400.
fn check_sizes<B>(req: &Request<B>) -> Result<(), Refusal> {
    let target_len = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().to_string().len(), |p| p.as_str().len());
    if req.method().as_str().len() + target_len + 10 > MAX_REQUEST_LINE {
        return Err(StatusCode::URI_TOO_LONG);
    }
    let mut total = 0;
    for (name, value) in req.headers() {
        let line = name.as_str().len() + 2 + value.len();
        if line > MAX_HEADER {
            return Err(StatusCode::BAD_REQUEST);
        }
        total += line + 2;
    }
    if total > MAX_HEADER_BLOCK {
        return Err(StatusCode::BAD_REQUEST);
    }
    Ok(())
}

const MAX_REQUEST_LINE: usize = 16 * 1024;
const MAX_HEADER: usize = 16 * 1024;
const MAX_HEADER_BLOCK: usize = 64 * 1024;
/// docs/aws-rules.md §ALB-2.5: a target's response header block over 32 KB is a 502.
const MAX_RESPONSE_HEADER_BLOCK: usize = 32 * 1024;

fn fixed_response(status: StatusCode, content_type: Option<&str>, body: &str) -> Response<Body> {
    let mut resp = Response::new(Either::Right(Full::new(Bytes::copy_from_slice(
        body.as_bytes(),
    ))));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(SERVER, HeaderValue::from_static(error_page::SERVER_HEADER));
    if let Some(ct) = content_type.and_then(|c| HeaderValue::from_str(c).ok()) {
        h.insert(CONTENT_TYPE, ct);
    }
    resp
}

/// docs/aws-rules.md §ALB-1.6 redirect: unset parts keep the request's value; placeholders are substituted; the
/// `Location` always carries the port (observed).
fn redirect(
    r: &Redirect,
    req: &Request<RequestBody>,
    client_host: Option<&str>,
    conn: &Conn,
) -> Response<Body> {
    let listener = &conn.shared.listener;
    let proto = listener.protocol().as_str().to_ascii_uppercase();
    let host = client_host
        .map(|h| split_host_port(h).0.to_ascii_lowercase())
        .unwrap_or_else(|| listener.dns_name().to_owned());
    let port = listener.port().to_string();
    let path = req.uri().path().trim_start_matches('/');
    let query = req.uri().query().unwrap_or("");
    let fill = |template: &str| {
        template
            .replace("#{protocol}", &proto)
            .replace("#{host}", &host)
            .replace("#{port}", &port)
            .replace("#{path}", path)
            .replace("#{query}", query)
    };
    let to_proto = fill(r.protocol.as_deref().unwrap_or("#{protocol}")).to_ascii_lowercase();
    let to_host = fill(r.host.as_deref().unwrap_or("#{host}"));
    let to_port = fill(r.port.as_deref().unwrap_or("#{port}"));
    let to_path = fill(r.path.as_deref().unwrap_or("/#{path}"));
    let to_query = fill(r.query.as_deref().unwrap_or("#{query}"));
    let mut location = format!("{to_proto}://{to_host}:{to_port}{to_path}");
    if !to_query.is_empty() {
        location.push('?');
        location.push_str(&to_query);
    }
    let status = if r.permanent {
        StatusCode::MOVED_PERMANENTLY
    } else {
        StatusCode::FOUND
    };
    let mut resp = error_page::response(status, req.version()).map(Either::Right);
    match HeaderValue::from_str(&location) {
        Ok(v) => {
            resp.headers_mut().insert(LOCATION, v);
            resp
        }
        Err(_) => error_page::response(StatusCode::BAD_REQUEST, req.version()).map(Either::Right),
    }
}

/// docs/aws-rules.md §ALB-1.6: a group by weight, or the one a valid `AWSALBTG` cookie names. Returns the group and,
/// with group stickiness on, the cookie value to set.
fn choose_group<'w>(
    w: &'w WeightedForward,
    headers: &http::HeaderMap,
) -> Option<(&'w TargetGroup, Option<String>)> {
    let scope = group_scope(w);
    if let Some(duration) = w.stickiness
        && let Some(name) = sticky::request_cookie(headers, sticky::AWSALBTG)
            .and_then(|v| sticky::decode(v, &scope, duration))
        && let Some((g, _)) = w
            .groups
            .iter()
            .find(|(g, weight)| g.name() == name && *weight > 0)
    {
        return Some((g, Some(sticky::encode(&scope, g.name()))));
    }
    let total: u32 = w.groups.iter().map(|(_, weight)| u32::from(*weight)).sum();
    if total == 0 {
        return None;
    }
    let mut x = rand::random::<u32>() % total;
    for (g, weight) in &w.groups {
        let weight = u32::from(*weight);
        if x < weight {
            let cookie = w.stickiness.map(|_| sticky::encode(&scope, g.name()));
            return Some((g, cookie));
        }
        x -= weight;
    }
    None
}

/// The scope an `AWSALBTG` value is bound to: the forward's set of groups.
fn group_scope(w: &WeightedForward) -> String {
    let names: Vec<&str> = w.groups.iter().map(|(g, _)| g.name()).collect();
    names.join(",")
}

/// docs/aws-rules.md §ALB-3.8: the target a valid stickiness cookie names, for `group`.
fn sticky_target(group: &TargetGroup, headers: &http::HeaderMap) -> Option<SocketAddr> {
    match &group.config().stickiness {
        None => None,
        Some(Stickiness::LbCookie { duration }) => sticky::request_cookie(headers, sticky::AWSALB)
            .or_else(|| sticky::request_cookie(headers, sticky::AWSALBCORS))
            .and_then(|v| sticky::target(v, group.name(), *duration)),
        Some(Stickiness::AppCookie { duration, .. }) => {
            sticky::request_cookie(headers, sticky::AWSALBAPP)
                .and_then(|v| sticky::target(v, group.name(), *duration))
        }
    }
}

async fn forward(
    mut req: Request<RequestBody>,
    group: &TargetGroup,
    group_cookie: Option<String>,
    client_host: Option<String>,
    conn: &Conn,
    record: &mut Record,
    close_target: bool,
) -> Result<Response<Body>, Refusal> {
    let listener = &conn.shared.listener;
    let attrs = listener.attributes();
    record.target_group = Some(group.log_name());
    let sticky = sticky_target(group, req.headers());
    let had_app_session = sticky::request_cookie(req.headers(), sticky::AWSALBAPP).is_some();
    let Some(lease) = group.acquire(sticky) else {
        if let Some(t) = record.trace.as_mut() {
            t.record(
                Component::Alb,
                airlock_net::name!("target"),
                airlock_net::name!("none eligible"),
            )
            .with(airlock_net::name!("group"), Val::Str(group.traced_name()))
            .with(
                airlock_net::name!("why"),
                Val::Str("no registered target is healthy or in fail-open"),
            );
        }
        return Err(StatusCode::SERVICE_UNAVAILABLE);
    };
    let target = lease.target;
    record.target = Some(target);
    if let Some(t) = record.trace.as_mut() {
        t.target = Some(target);
        t.record(
            Component::Alb,
            airlock_net::name!("target"),
            airlock_net::name!("chosen"),
        )
        .with(airlock_net::name!("target"), Val::Addr(target))
        .with(airlock_net::name!("group"), Val::Str(group.traced_name()))
        .with(airlock_net::name!("health"), Val::Str(lease.health))
        .with(airlock_net::name!("sticky"), Val::Bool(lease.sticky));
    }
    let upgrade = req.version() == Version::HTTP_11 && is_upgrade(req.headers());
    if upgrade {
        record.kind = if listener.protocol() == crate::Protocol::Https {
            "wss"
        } else {
            "ws"
        };
    }
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();

    let h = &mut parts.headers;
    let from_h2 = parts.version == Version::HTTP_2;
    strip_hop_by_hop(h, upgrade);
    // The client already got its 100 Continue from this side (docs/aws-rules.md §ALB-2.1).
    h.remove(EXPECT);
    if close_target && !upgrade {
        // docs/aws-rules.md §ALB-2.4: an ambiguous request's target connection is not reused.
        h.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    if from_h2 {
        join_cookies(h);
    }
    if !(attrs.preserve_host_header && h.contains_key(HOST)) {
        let raw = client_host.as_deref().unwrap_or(listener.dns_name());
        let host = if attrs.preserve_host_header {
            raw.to_owned()
        } else {
            target_host(raw, listener.port())
        };
        h.remove(HOST);
        h.insert(
            HOST,
            // The string becomes the value's bytes (no copy), checked as `from_str` would.
            HeaderValue::try_from(host).map_err(|_| StatusCode::BAD_REQUEST)?,
        );
    }
    apply_xff(h, attrs.xff_mode, conn.peer, attrs.xff_client_port);
    h.insert(
        X_FORWARDED_PROTO,
        HeaderValue::from_static(listener.protocol().as_str()),
    );
    h.insert(X_FORWARDED_PORT, listener.forwarded_port().clone());
    let forwarded_trace_id = apply_trace_id(h, record.received, record.trace.is_some());
    record.trace_id = h.get(&headers::X_AMZN_TRACE_ID).cloned();

    // Origin form on the wire: the connection already names the target. An HTTP/1 request
    // usually is in origin form already; the others keep their path and query (shared, not
    // copied).
    if parts.uri.scheme().is_some() || parts.uri.authority().is_some() {
        let mut origin = http::uri::Parts::default();
        origin.path_and_query = Some(
            parts
                .uri
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
        );
        parts.uri = Uri::from_parts(origin).map_err(|_| StatusCode::BAD_REQUEST)?;
    }
    parts.version = Version::HTTP_11;
    let out = Request::from_parts(parts, body);

    record.sent_to_target = Some(tokio::time::Instant::now());
    let key = (airlock_net::shards::current(), target);
    if let Some(t) = record.trace.as_mut()
        && let Some(v) = forwarded_trace_id
    {
        if t.key.is_none() {
            t.key = TraceKey::from_header(&v);
        }
        t.trace_id = Some(v);
    }
    // A new target connection's dial notes its security-group decision in this request's trace
    // (`NodeConnector::connect_for` reads the root from the forwarded X-Amzn-Trace-Id).
    let sent = tokio::time::timeout(attrs.idle_timeout, conn.client.send(&key, out));
    let (mut resp, pooled) = tokio::select! {
        r = sent => match r {
            Ok(Ok(answered)) => answered,
            Ok(Err(e)) => {
                let status = classify(&e);
                if status == StatusCode::BAD_REQUEST {
                    tracing::debug!(%target, error = %chain(&e), "the client's request body was malformed");
                    return Err(status);
                }
                let why = chain(&e);
                tracing::info!(%target, group = group.name(), error = %why, %status, "target failed");
                if let Some(t) = record.trace.as_mut() {
                    t.record(Component::Task, airlock_net::name!("response"), airlock_net::name!("failed"))
                            .with(airlock_net::name!("target"), Val::Addr(target))
                            .with(airlock_net::name!("error"), Val::Text(why))
                            .took(record.sent_to_target.map_or(Duration::ZERO, |s| s.elapsed()));
                }
                record.error_reason = Some(if status == StatusCode::GATEWAY_TIMEOUT {
                    "TargetConnectionErrorCode"
                } else {
                    "TargetResponseError"
                });
                return Err(status);
            }
            Err(_) => {
                tracing::info!(%target, group = group.name(), "target sent nothing within the idle timeout");
                if let Some(t) = record.trace.as_mut() {
                    t.record(Component::Task, airlock_net::name!("response"), airlock_net::name!("timed out"))
                            .with(airlock_net::name!("target"), Val::Addr(target))
                            .with(airlock_net::name!("idle timeout ms"), Val::Num(attrs.idle_timeout.as_millis() as u64));
                }
                record.error_reason = Some("TargetTimeout");
                return Err(StatusCode::GATEWAY_TIMEOUT);
            }
        },
        // docs/aws-rules.md §ALB-3.7: the deregistration delay ended with this request in flight.
        _ = lease.cut.cancelled() => {
            tracing::info!(%target, group = group.name(), "deregistration delay ended with the request in flight");
            return Err(StatusCode::BAD_GATEWAY);
        }
    };
    record.target_answered = Some(tokio::time::Instant::now());
    record.target_status = Some(resp.status().as_u16());
    if let Some(t) = record.trace.as_mut() {
        t.record(
            Component::Task,
            airlock_net::name!("response"),
            airlock_net::name!("answered"),
        )
        .with(airlock_net::name!("target"), Val::Addr(target))
        .with(
            airlock_net::name!("status"),
            Val::Num(u64::from(resp.status().as_u16())),
        )
        .took(
            record
                .sent_to_target
                .map_or(Duration::ZERO, |s| s.elapsed()),
        );
    }

    let response_headers: usize = resp
        .headers()
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    if response_headers > MAX_RESPONSE_HEADER_BLOCK {
        tracing::info!(%target, group = group.name(), bytes = response_headers, "target response headers over 32 KB");
        return Err(StatusCode::BAD_GATEWAY);
    }
    let switching = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
    let mut pooled = Some(pooled);
    if let (true, Some(client_upgrade)) = (switching, client_upgrade) {
        let target_upgrade = hyper::upgrade::on(&mut resp);
        // The connection leaves the pool: its driver completes the upgrade.
        if let Some(p) = pooled.take() {
            p.detach();
        }
        // After the upgrade, rules no longer apply: bytes flow both ways until one side closes.
        let shutdown = conn.shared.shutdown.clone();
        conn.shared.tracker.spawn(async move {
            let (Ok(client), Ok(target)) = tokio::join!(client_upgrade, target_upgrade) else {
                return;
            };
            let (mut client, mut target) = (TokioIo::new(client), TokioIo::new(target));
            // Upgraded connections have no requests to finish: shutdown cuts them.
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut target) => {}
                _ = shutdown.cancelled() => {}
            }
        });
    }
    strip_hop_by_hop(resp.headers_mut(), switching && upgrade);
    set_stickiness(
        group,
        target,
        had_app_session,
        group_cookie,
        resp.headers_mut(),
    );
    let pool = conn.client.clone();
    Ok(resp.map(|b| {
        let inner = match pooled {
            Some(p) => Either::Left(DrivenBody::new(b, pool, p)),
            None => Either::Right(b),
        };
        Either::Left(TargetBody::new(inner, attrs.idle_timeout, lease, None))
    }))
}

/// docs/aws-rules.md §ALB-3.8 and §ALB-1.6: the ALB's stickiness cookies on the response. `lb_cookie` is refreshed on
/// every response; `AWSALBAPP-0` once the target sets its cookie and from then on.
fn set_stickiness(
    group: &TargetGroup,
    target: SocketAddr,
    had_app_session: bool,
    group_cookie: Option<String>,
    headers: &mut http::HeaderMap,
) {
    let mut cookies = Vec::new();
    match &group.config().stickiness {
        None => {}
        Some(Stickiness::LbCookie { .. }) => cookies.extend(sticky::set_cookies(
            sticky::AWSALB,
            Some(sticky::AWSALBCORS),
            &sticky::encode(group.name(), &target.to_string()),
        )),
        Some(Stickiness::AppCookie { cookie_name, .. })
            if had_app_session || sticky::response_sets(headers, cookie_name) =>
        {
            cookies.extend(sticky::set_cookies(
                sticky::AWSALBAPP,
                None,
                &sticky::encode(group.name(), &target.to_string()),
            ));
        }
        Some(Stickiness::AppCookie { .. }) => {}
    }
    if let Some(value) = group_cookie {
        cookies.extend(sticky::set_cookies(
            sticky::AWSALBTG,
            Some(sticky::AWSALBTGCORS),
            &value,
        ));
    }
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            headers.append(SET_COOKIE, v);
        }
    }
}

/// docs/aws-rules.md §ALB-2.6: no connection within the connect timeout is 504; a refusal, reset, early close or
/// malformed response is 502. A request body the client framed wrongly (a malformed chunk
/// size, a body cut short) is the client's fault, not the target's: 400.
fn classify(e: &SendError<ConnectError>) -> StatusCode {
    match e {
        SendError::Connect(ConnectError::Timeout(..)) => StatusCode::GATEWAY_TIMEOUT,
        SendError::Http(h) if client_body_failed(h) => StatusCode::BAD_REQUEST,
        _ => StatusCode::BAD_GATEWAY,
    }
}

/// Whether sending failed because the client's request body did: hyper reports an error of the
/// body it was given as a user error caused by that body's error, and the only body given is
/// [`RequestBody`], whose errors are the client connection's `hyper::Error`s.
fn client_body_failed(e: &hyper::Error) -> bool {
    use std::error::Error as _;
    e.is_user()
        && e.source()
            .is_some_and(|cause| cause.downcast_ref::<hyper::Error>().is_some())
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn status_463_is_valid() {
        assert_eq!(super::status_463().as_u16(), 463);
        assert_eq!(super::status_464().as_u16(), 464);
    }
}
