//! API Gateway HTTP API emulation: the public HTTPS edge of a stack.
//!
//! Serves HTTPS (HTTP/1.1 and HTTP/2) on a listener the caller binds, picks the API by the
//! request's host (a custom domain and its API mappings, or the
//! `{api-id}.execute-api.{region}.amazonaws.com` endpoint), selects the stage and the route,
//! runs the route's authorizer and proxies to the integration, in the order of spec
//! docs/aws-rules.md §HTTP-1. Every response the gateway writes itself is one of the catalogue rows of docs/aws-rules.md §HTTP-12,
//! produced by [`response::Refusal`].
//!
//! Architecture invariant: the gateway does not know how the VPC is built. A private
//! integration reaches its load balancer through a [`Tunnel`] the caller hands in (the VPC
//! link's client); the gateway only knows the private destination addresses and the TLS name to
//! verify. It does not read files or the environment.

pub mod access_log;
pub mod auth;
pub mod config;
pub mod context;
pub mod cors;
mod dates;
pub mod mapping;
mod peek;
mod pipeline;
mod proxy;
pub mod response;
pub mod router;
pub mod throttle;
mod tls;

pub use auth::jwt;
pub use config::*;
pub use proxy::{BoxIo, Io, Tunnel};
pub use router::{RouteKey, RouteKeyError, Segment};
pub use throttle::RouteSettings;

use airlock_pool::drain;
use bytes::Bytes;
use http::{Method, Request, Response, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use response::Body;
use router::Router;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The header every response carries its request id in; a constant, since a name parsed from
/// text that is not a standard header is copied into an allocation of its own on every use.
const APIGW_REQUESTID: http::HeaderName = http::HeaderName::from_static("apigw-requestid");

/// How long a client may take to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The payload quota of HTTP APIs (docs/aws-rules.md §HTTP-8).
pub(crate) const MAX_PAYLOAD: u64 = 10 * 1024 * 1024;
/// The quota on the request line and header values combined (docs/aws-rules.md §HTTP-8).
const MAX_REQUEST_HEAD: usize = 10_240;

/// The running gateway's compiled state: built once at start, read per request.
pub struct Gateway {
    region_suffix: String,
    account_id: Arc<str>,
    public_ip: IpAddr,
    apis: HashMap<String, Arc<CompiledApi>>,
    domains: HashMap<String, CompiledDomain>,
    tls: Arc<rustls::ServerConfig>,
    proxy: proxy::Proxy,
    /// Where each request's trace goes; off unless [`Gateway::with_tracer`] set one.
    tracer: airlock_net::trace::Tracer,
}

struct CompiledApi {
    config: ApiConfig,
    router: Router,
    /// Each route's key as text (`GET /pets/{id}`), parallel to `config.routes`: written into
    /// every request's context, so formatted once here.
    route_keys: Vec<Arc<str>>,
    /// `config.id`, shared by every request's context.
    id: Arc<str>,
    /// The id and each route's key (parallel to `config.routes`), interned for traces.
    traced_id: &'static str,
    traced_route_keys: Vec<&'static str>,
    /// Parallel to `config.stages`.
    stages: Vec<CompiledStage>,
}

struct CompiledStage {
    /// The stage's name, shared by every request's context.
    name: Arc<str>,
    /// The same, interned for traces.
    traced_name: &'static str,
    /// One bucket per route (parallel to `config.routes`), `None` when unthrottled (docs/aws-rules.md §HTTP-3.3).
    buckets: Vec<Option<throttle::Bucket>>,
}

/// What the host and path selected (docs/aws-rules.md §HTTP-1 steps 1–2).
struct Selection<'a> {
    api: &'a CompiledApi,
    stage: usize,
    /// The path routes see (stage segment and mapping key removed).
    route_path: String,
    /// The path a private integration receives (docs/aws-rules.md §HTTP-4.3).
    backend_path: String,
    /// The API mapping key that matched, for a custom domain.
    base_path: Option<String>,
    /// The same, interned for traces (`None` for the execute-api host).
    traced_mapping: Option<&'static str>,
}

struct CompiledDomain {
    /// Sorted longest key first.
    mappings: Vec<CompiledMapping>,
    /// Any multi-level key switches matching to string prefixes (docs/aws-rules.md §HTTP-6.2).
    multi_level: bool,
}

/// An API mapping with its API and stage looked up at start rather than on every request.
struct CompiledMapping {
    key: String,
    /// `key` interned for traces.
    traced_key: &'static str,
    api: Arc<CompiledApi>,
    /// The stage's index; `None` when the API has no such stage (the mapping answers 404).
    stage: Option<usize>,
}

impl Gateway {
    /// Compiles the configuration: routing tables, TLS, and integration clients.
    pub fn new(config: GatewayConfig) -> Result<Gateway, GatewayError> {
        let tls = tls::server_config(&config)?;
        let mut apis = HashMap::new();
        for api in config.apis {
            let router = Router::new(api.routes.iter().map(|r| r.key.clone()).collect());
            let stages = api
                .stages
                .iter()
                .map(|stage| CompiledStage {
                    name: Arc::from(stage.name.as_str()),
                    traced_name: airlock_net::trace::intern(&stage.name),
                    buckets: api
                        .routes
                        .iter()
                        .map(|r| {
                            let own = stage
                                .route_settings
                                .get(&r.key.display())
                                .copied()
                                .unwrap_or_default();
                            throttle::Bucket::new(own.or(stage.default_route_settings))
                        })
                        .collect(),
                })
                .collect();
            apis.insert(
                api.id.clone(),
                Arc::new(CompiledApi {
                    route_keys: api
                        .routes
                        .iter()
                        .map(|r| Arc::from(r.key.display()))
                        .collect(),
                    id: Arc::from(api.id.as_str()),
                    traced_id: airlock_net::trace::intern(&api.id),
                    traced_route_keys: api
                        .routes
                        .iter()
                        .map(|r| airlock_net::trace::intern(&r.key.display()))
                        .collect(),
                    config: api,
                    router,
                    stages,
                }),
            );
        }
        let mut domains = HashMap::new();
        for d in config.domains {
            let mut mappings = Vec::with_capacity(d.mappings.len());
            for m in d.mappings {
                let Some(api) = apis.get(&m.api_id) else {
                    return Err(GatewayError::UnknownApi {
                        domain: d.domain_name.clone(),
                        api: m.api_id,
                    });
                };
                let stage = api.config.stages.iter().position(|s| s.name == m.stage);
                mappings.push(CompiledMapping {
                    traced_key: airlock_net::trace::intern(&m.key),
                    key: m.key,
                    api: api.clone(),
                    stage,
                });
            }
            mappings.sort_by_key(|m| std::cmp::Reverse(m.key.len()));
            let multi_level = mappings.iter().any(|m| m.key.contains('/'));
            domains.insert(
                d.domain_name,
                CompiledDomain {
                    mappings,
                    multi_level,
                },
            );
        }
        let tracer = airlock_net::trace::Tracer::default();
        let proxy = proxy::Proxy::new(apis.values().flat_map(|a| &a.config.routes), &tracer);
        Ok(Gateway {
            region_suffix: format!(".execute-api.{}.amazonaws.com", config.region),
            account_id: Arc::from(config.account_id),
            public_ip: config.public_ip,
            apis,
            domains,
            tls: Arc::new(tls),
            proxy,
            tracer,
        })
    }

    /// Records a trace of every request (`airlock_net::trace`) into `tracer`.
    pub fn with_tracer(mut self, tracer: airlock_net::trace::Tracer) -> Gateway {
        // The integrations' connectors note new tunnel streams through it too: made again
        // (nothing is pooled before the gateway serves).
        self.proxy = proxy::Proxy::new(self.apis.values().flat_map(|a| &a.config.routes), &tracer);
        self.tracer = tracer;
        self
    }

    /// Serves HTTPS on `listener` until `shutdown`; connections are tracked by `tracker`.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: CancellationToken,
        tracker: TaskTracker,
    ) {
        self.proxy.prune_until(&shutdown, &tracker);
        let acceptor = tokio_rustls::TlsAcceptor::from(self.tls.clone());
        let conn_shutdown = shutdown.clone();
        airlock_net::accept_loop(
            "gateway",
            listener,
            airlock_net::ConnectionLimit::default(),
            shutdown,
            tracker,
            move |stream, peer| {
                let gw = self.clone();
                let acceptor = acceptor.clone();
                let shutdown = conn_shutdown.clone();
                async move {
                    let Some(airlock_pool::tls::Handshaken {
                        stream: tls,
                        h2,
                        sni,
                    }) = airlock_pool::tls::accept(&acceptor, stream, TLS_HANDSHAKE_TIMEOUT, peer)
                        .await
                    else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |req| {
                        let gw = gw.clone();
                        let sni = sni.clone();
                        async move {
                            // What the gateway leaves of the request body is read before the
                            // response goes out (see `airlock_pool::drain`).
                            let (req, rest) = drain::watch(req);
                            let resp = gw.handle(req, peer, sni).await;
                            Ok::<_, std::convert::Infallible>(drain::settle(rest, resp).await)
                        }
                    });
                    let served = if h2 {
                        // A header block h2's HPACK decoder refuses would end the connection;
                        // the guard makes it a stream error (RFC 9113 §8.1.1).
                        let io = TokioIo::new(airlock_net::h2guard::H2Guard::new(
                            tls,
                            airlock_net::h2guard::HYPER_MAX_HEADER_LIST_SIZE,
                        ));
                        let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .timer(hyper_util::rt::TokioTimer::new())
                            .serve_connection(io, service);
                        airlock_net::serve_gracefully(conn, &shutdown, |c| c.graceful_shutdown())
                            .await
                    } else {
                        // A client may still be sending when the connection closes after a
                        // body the gateway did not read.
                        let io = TokioIo::new(airlock_net::linger::LingeringClose::new(tls));
                        let conn = hyper::server::conn::http1::Builder::new()
                            .timer(hyper_util::rt::TokioTimer::new())
                            .header_read_timeout(HEADER_READ_TIMEOUT)
                            // hyper's default of 100 headers would refuse requests far inside
                            // the 10,240-byte quota with a bare 431 of its own.
                            .max_headers(airlock_net::MAX_CLIENT_HEADER_LINES)
                            // Head and body in one buffer: over TLS, each separate write would
                            // be a record of its own, encrypted and framed apart.
                            .writev(false)
                            .serve_connection(io, service)
                            .with_upgrades();
                        airlock_net::serve_gracefully(conn, &shutdown, |c| c.graceful_shutdown())
                            .await
                    };
                    if let Err(e) = served {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
            },
        )
        .await;
    }

    /// Handles one request through the pipeline of docs/aws-rules.md §HTTP-1, then writes the stage's access log
    /// line once the response body has been sent (docs/aws-rules.md §HTTP-9).
    async fn handle(
        &self,
        req: Request<ClientBody>,
        peer: SocketAddr,
        sni: Option<Arc<str>>,
    ) -> Response<Body> {
        let request_id = response::request_id();
        let started = std::time::Instant::now();
        let mut ctx = context::RequestContext {
            request_id: Some(request_id.clone()),
            account_id: self.account_id.clone(),
            http_method: req.method().clone(),
            uri: req.uri().clone(),
            protocol: if req.version() == http::Version::HTTP_2 {
                "HTTP/2.0"
            } else {
                "HTTP/1.1"
            },
            source_ip: Some(peer.ip()),
            user_agent: req.headers().get(header::USER_AGENT).cloned(),
            request_time: Some(SystemTime::now()),
            ..Default::default()
        };
        if self.tracer.is_on() {
            use airlock_net::trace::{Component, Segment};
            let mut seg = Segment::boxed(Component::Gateway);
            seg.request_id = request_id.to_str().ok().map(Into::into);
            seg.method = Some(airlock_net::trace::method_name(req.method().as_str()));
            seg.path = Some(req.uri().path().into());
            seg.tls_name = sni.clone();
            ctx.trace = Some(seg);
        }
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut selected = None;
        let result = self
            .route_and_call(req, peer, sni, &mut ctx, &mut selected)
            .await;
        let mut resp = match result {
            Ok(resp) => resp,
            Err(refusal) => {
                ctx.error_message = Some(refusal.message());
                ctx.error_response_type = Some(refusal.response_type());
                let mut resp = refusal.into_response(&request_id);
                // Gateway errors carry the API's CORS headers too (unconfirmed; see
                // docs/aws-fidelity.md), so browsers can read them.
                if let Some(sel) = &selected
                    && let Some(cors) = &sel.api.config.cors
                {
                    cors.apply_to_response(origin.as_deref(), resp.headers_mut());
                }
                resp
            }
        };
        resp.headers_mut()
            .insert(APIGW_REQUESTID, request_id.clone());
        airlock_pool::head::strip_body(
            &ctx.http_method,
            &mut resp,
            || response::full(Bytes::new()),
        );
        ctx.status = Some(resp.status().as_u16());
        tracing::debug!(
            target: "airlock::gateway",
            request_id = ctx.request_id().unwrap_or_default(),
            method = %ctx.http_method,
            path = ctx.path(),
            status = resp.status().as_u16(),
            "request"
        );
        // Where the response hop is: the bytes the body carried are added to it at its end.
        let mut response_hop = 0;
        if let Some(t) = ctx.trace.as_mut() {
            use airlock_net::trace::{Component, Val};
            let status = resp.status().as_u16();
            t.status = Some(status);
            // The host as selection read it (the client's, lowercased): not looked up again.
            if !ctx.domain_name.is_empty() {
                t.host = Some(ctx.domain_name.as_str().into());
            }
            let (outcome, by) = match ctx.error_response_type {
                Some(_) => ("refused", "gateway"),
                None if ctx.integration_status.is_some() => {
                    ("integration's response", "integration")
                }
                None => ("answered", "gateway"),
            };
            t.produced_by = Some(by);
            response_hop = t
                .record(Component::Gateway, airlock_net::name!("response"), outcome)
                .with(airlock_net::name!("status"), Val::Num(u64::from(status)))
                .with(airlock_net::name!("by"), Val::Str(by))
                .with(
                    airlock_net::name!("type"),
                    ctx.error_response_type.map_or(Val::None, Val::Str),
                )
                .index();
        }
        // docs/aws-rules.md §HTTP-2.2: a request that selected no stage writes no access log line.
        let log = selected.and_then(|sel| sel.api.config.stages[sel.stage].access_log.clone());
        if log.is_none() && ctx.trace.is_none() {
            return resp;
        }
        let tracer = self.tracer.clone();
        let (parts, body) = resp.into_parts();
        if log.is_none()
            && let Some(mut t) = ctx.trace.take()
        {
            // Only the trace waits for the body's end: the context stays here, not in the body.
            let body = access_log::LoggedBody::new(body, move |length| {
                t.amend_at(
                    response_hop,
                    airlock_net::name!("bytes"),
                    airlock_net::trace::Val::Num(length),
                );
                tracer.emit_boxed(t);
            });
            return Response::from_parts(parts, body.boxed());
        }
        let body = access_log::LoggedBody::new(body, move |length| {
            ctx.response_length = Some(length);
            ctx.response_latency = Some(started.elapsed());
            if let Some(log) = log {
                log.write(&ctx);
            }
            if let Some(mut t) = ctx.trace.take() {
                // The bytes are known only now: a field of the response hop, not a hop.
                t.amend_at(
                    response_hop,
                    airlock_net::name!("bytes"),
                    airlock_net::trace::Val::Num(length),
                );
                tracer.emit_boxed(t);
            }
        });
        Response::from_parts(parts, body.boxed())
    }

    /// Resolves the host and path to an API, its stage, the path routes see, and the path a
    /// private integration receives (docs/aws-rules.md §HTTP-2.2, §HTTP-4.3, §HTTP-6.2).
    fn select_api<'a>(&'a self, host: &str, path: &str) -> Option<Selection<'a>> {
        if let Some(api_id) = host.strip_suffix(self.region_suffix.as_str()) {
            let api = self.apis.get(api_id)?;
            if api.config.disable_execute_api_endpoint {
                return None;
            }
            let (stage, route_path) = select_stage(&api.config.stages, path)?;
            // Private integrations receive the original path, stage segment included (docs/aws-rules.md §HTTP-4.3).
            return Some(Selection {
                api,
                stage,
                route_path,
                backend_path: path.to_owned(),
                base_path: None,
                traced_mapping: None,
            });
        }
        let domain = self.domains.get(host)?;
        let (mapping, rest) = domain.select(path)?;
        // The mapping fixes the stage; no stage segment appears (docs/aws-rules.md §HTTP-6.2, §HTTP-4.3 recommendation).
        Some(Selection {
            api: &mapping.api,
            stage: mapping.stage?,
            route_path: rest.clone(),
            backend_path: rest,
            base_path: (!mapping.key.is_empty()).then(|| mapping.key.clone()),
            traced_mapping: Some(mapping.traced_key),
        })
    }
}

impl CompiledDomain {
    /// docs/aws-rules.md §HTTP-6.2: the longest matching mapping key, by string prefix when the domain has a
    /// multi-level key, else by first segment; `(none)` catches the rest. Returns the mapping
    /// and the path left after the key, which always starts with `/` (for a string-prefix
    /// match like `/ordersandmore` under `orders` that is `/andmore`; unconfirmed, docs/aws-rules.md §HTTP-13.10).
    fn select(&self, path: &str) -> Option<(&CompiledMapping, String)> {
        let trimmed = path.strip_prefix('/').unwrap_or(path);
        let mapping = self.mappings.iter().find(|m| {
            if m.key.is_empty() {
                true
            } else if self.multi_level {
                trimmed.starts_with(m.key.as_str())
            } else {
                trimmed.split('/').next() == Some(m.key.as_str())
            }
        })?;
        let rest = &trimmed[mapping.key.len()..];
        let rest = if rest.starts_with('/') {
            rest.to_owned()
        } else {
            ["/", rest].concat()
        };
        Some((mapping, rest))
    }
}

/// docs/aws-rules.md §HTTP-4.2: the URL a URL integration receives: stage variables and path variables substituted
/// (`{proxy}` for a greedy `{proxy+}`, values as the client encoded them); for the `$default`
/// route the request path is appended. `None` when the result is not a URL.
fn http_url(
    target: &HttpTarget,
    route: &RouteKey,
    raw_params: &[(&str, &str)],
    route_path: &str,
    stage_variables: &HashMap<String, String>,
) -> Option<http::Uri> {
    let mut url = String::with_capacity(target.uri.len() + route_path.len());
    let mut rest = target.uri.as_str();
    while let Some(at) = rest.find("${stageVariables.") {
        url.push_str(&rest[..at]);
        let after = &rest[at + "${stageVariables.".len()..];
        let end = after.find('}')?;
        url.push_str(
            stage_variables
                .get(&after[..end])
                .map_or("", String::as_str),
        );
        rest = &after[end + 1..];
    }
    url.push_str(rest);
    for (name, value) in raw_params {
        url = url.replace(&format!("{{{name}}}"), value);
    }
    if *route == RouteKey::Default {
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b.to_owned(), Some(q.to_owned())),
            None => (url.clone(), None),
        };
        let has_path = base.split_once("://").is_some_and(|(_, r)| r.contains('/'));
        let base = if has_path {
            base.trim_end_matches('/').to_owned()
        } else {
            base
        };
        url = match query {
            Some(q) => format!("{base}{route_path}?{q}"),
            None => format!("{base}{route_path}"),
        };
    }
    url.parse().ok()
}

/// The size of the request line and header values (docs/aws-rules.md §HTTP-8 quota).
fn request_head_len<B>(req: &Request<B>) -> usize {
    // The target as received: origin form for HTTP/1.1 (`/path?query`), or with scheme and
    // authority when the client sent them (absolute form, HTTP/2 pseudo-headers).
    let uri = req.uri();
    let target = uri.path_and_query().map_or(1, |p| p.as_str().len())
        + uri.scheme_str().map_or(0, |s| s.len() + 3)
        + uri.authority().map_or(0, |a| a.as_str().len());
    let line = req.method().as_str().len() + target;
    line + req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum::<usize>()
}

/// The request's host: `Host` for HTTP/1.1, the `:authority` for HTTP/2; port stripped.
fn request_host<B>(req: &Request<B>) -> Option<&str> {
    let raw = req
        .uri()
        .host()
        .or_else(|| req.headers().get(header::HOST)?.to_str().ok())?;
    Some(match raw.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => raw,
    })
}

/// docs/aws-rules.md §HTTP-2.2: a first segment naming a stage selects it (and is removed); otherwise `$default`.
/// Returns the stage's index and the path routes see.
fn select_stage(stages: &[StageConfig], path: &str) -> Option<(usize, String)> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let (first, rest) = trimmed.split_once('/').unwrap_or((trimmed, ""));
    if let Some(i) = stages
        .iter()
        .position(|s| s.name != "$default" && s.name == first)
    {
        return Some((i, format!("/{rest}")));
    }
    stages
        .iter()
        .position(|s| s.name == "$default")
        .map(|i| (i, path.to_owned()))
}

/// A shared, cheaply cloned body type for tests and callers that build requests.
pub type Full = http_body_util::Full<Bytes>;

/// A client's request body as the gateway's handlers see it: watched, so that what they leave
/// unread is drained before the response goes out.
type ClientBody = drain::Watched<Incoming>;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn stages_are_selected_by_first_segment() {
        let stages = vec![StageConfig::named("$default"), StageConfig::named("dev")];
        assert_eq!(
            select_stage(&stages, "/dev/pets/6"),
            Some((1, "/pets/6".to_owned()))
        );
        assert_eq!(
            select_stage(&stages, "/prod/pets"),
            Some((0, "/prod/pets".to_owned()))
        );
        assert_eq!(
            select_stage(&[StageConfig::named("dev")], "/prod/pets"),
            None
        );
    }
}
