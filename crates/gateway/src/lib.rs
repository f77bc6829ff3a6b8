//! API Gateway HTTP API emulation: the public HTTPS edge of a stack.
//!
//! Serves HTTPS (HTTP/1.1 and HTTP/2) on a listener the caller binds, picks the API by the
//! request's host (a custom domain and its API mappings, or the
//! `{api-id}.execute-api.{region}.amazonaws.com` endpoint), selects the stage and the route,
//! runs the route's authorizer and proxies to the integration, in the order of
//! docs/aws-rules.md §HTTP-1. Every response the gateway writes itself is one of the catalogue
//! rows of docs/aws-rules.md §HTTP-12,
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
use response::{Body, Refusal};
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
}

struct CompiledApi {
    config: ApiConfig,
    router: Router,
    /// Each route's key as text (`GET /pets/{id}`), parallel to `config.routes`: written into
    /// every request's context, so formatted once here.
    route_keys: Vec<Arc<str>>,
    /// `config.id`, shared by every request's context.
    id: Arc<str>,
    /// Parallel to `config.stages`.
    stages: Vec<CompiledStage>,
}

struct CompiledStage {
    /// The stage's name, shared by every request's context.
    name: Arc<str>,
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
        let proxy = proxy::Proxy::new(apis.values().flat_map(|a| &a.config.routes));
        Ok(Gateway {
            region_suffix: format!(".execute-api.{}.amazonaws.com", config.region),
            account_id: Arc::from(config.account_id),
            public_ip: config.public_ip,
            apis,
            domains,
            tls: Arc::new(tls),
            proxy,
        })
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
                    let tls =
                        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                            .await
                        {
                            Ok(Ok(tls)) => tls,
                            Ok(Err(e)) => {
                                tracing::debug!(error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!("TLS handshake timed out");
                                return;
                            }
                        };
                    // Shared, not copied, by each request of the connection.
                    let sni: Option<Arc<str>> = tls.get_ref().1.server_name().map(Arc::from);
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
                    // The protocol is known from ALPN: hyper's own HTTP/1 or HTTP/2 server,
                    // without hyper-util's version sniffing and rewind buffer before every read.
                    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                    let served = if h2 {
                        let io = TokioIo::new(tls);
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
        // docs/aws-rules.md §HTTP-2.2: a request that selected no stage writes no access log line.
        let log = selected.and_then(|sel| sel.api.config.stages[sel.stage].access_log.clone());
        match log {
            Some(log) => {
                let (parts, body) = resp.into_parts();
                let body = access_log::LoggedBody::new(body, move |length| {
                    ctx.response_length = Some(length);
                    ctx.response_latency = Some(started.elapsed());
                    log.write(&ctx);
                });
                Response::from_parts(parts, body.boxed())
            }
            None => resp,
        }
    }

    async fn route_and_call<'a>(
        &'a self,
        req: Request<ClientBody>,
        peer: SocketAddr,
        sni: Option<Arc<str>>,
        ctx: &mut context::RequestContext,
        selected: &mut Option<Selection<'a>>,
    ) -> Result<Response<Body>, Refusal> {
        let host = request_host(&req)
            .or(sni.as_deref())
            .ok_or(Refusal::NotFound)?
            .to_ascii_lowercase();
        ctx.domain_name = host.clone();

        // docs/aws-rules.md §HTTP-1 steps 1–2: host → API and stage, and the paths the routes and backend see.
        let mut sel = self
            .select_api(&host, req.uri().path())
            .ok_or(Refusal::NotFound)?;
        let api = sel.api;
        let stage = &api.config.stages[sel.stage];
        ctx.api_id = Some(api.id.clone());
        ctx.stage = Some(api.stages[sel.stage].name.clone());
        // The paths move out: what the caller keeps of the selection is its API and stage.
        ctx.base_path_matched = sel.base_path.take();
        let route_path = std::mem::take(&mut sel.route_path);
        let backend_path = std::mem::take(&mut sel.backend_path);
        let stage_index = sel.stage;
        *selected = Some(sel);

        if request_head_len(&req) > MAX_REQUEST_HEAD {
            return Err(Refusal::RequestHeaderTooLarge);
        }

        // Step 3: route selection; step 4: the CORS preflight only when no route matched.
        let Some(index) = api.router.select(req.method(), &route_path) else {
            if let Some(cors) = &api.config.cors
                && cors::CorsConfig::is_preflight(req.method(), req.headers())
            {
                let origin = req
                    .headers()
                    .get(header::ORIGIN)
                    .and_then(|v| v.to_str().ok());
                let mut resp = Response::new(response::full(Bytes::new()));
                *resp.status_mut() = http::StatusCode::NO_CONTENT;
                *resp.headers_mut() = cors.preflight_headers(origin);
                return Ok(resp);
            }
            return Err(Refusal::NotFound);
        };
        let route = &api.config.routes[index];
        ctx.route_key = Some(api.route_keys[index].clone());
        tracing::debug!(api = %api.config.name, stage = %stage.name, route = %api.route_keys[index], "route selected");

        // Step 5: throttling, before authorization (docs/aws-rules.md §HTTP-3.3 recommendation).
        if let Some(bucket) = &api.stages[stage_index].buckets[index]
            && !bucket.try_take()
        {
            return Err(Refusal::Throttled);
        }

        // Step 6: authorization (docs/aws-rules.md §HTTP-5, module `auth`). The body is boxed from here on: IAM
        // may have to buffer it to check its hash.
        let mut req = req.map(|b| b.map_err(|e| Box::new(e) as response::BoxError).boxed());
        if !matches!(route.authorization, Authorization::None) {
            let method = req.method().clone();
            let route_key = ctx.route_key.as_deref().unwrap_or_default();
            let facts = || {
                let route_template = route_key
                    .split_once(' ')
                    .map_or_else(|| route_key.to_owned(), |(_, p)| p.to_owned());
                auth::RequestFacts {
                    api_id: &api.config.id,
                    stage: &stage.name,
                    route_key: route_key.to_owned(),
                    route_path: route_template,
                    raw_path: ctx.path(),
                    resource_path: &route_path,
                    request_id: ctx.request_id().unwrap_or_default(),
                    source_ip: peer.ip(),
                    domain_name: &host,
                    path_parameters: router::path_parameters(&route.key, &route_path),
                    stage_variables: stage
                        .variables
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                    time: ctx.request_time.unwrap_or_else(SystemTime::now),
                    method: method.as_str(),
                }
            };
            match auth::authorize(&route.authorization, facts, &mut req).await {
                Ok(output) => {
                    if let auth::AuthorizerOutput::Jwt { claims, .. } = &output {
                        ctx.claims = Some(claims.clone());
                    }
                    ctx.authorizer = output;
                }
                Err((refusal, reason)) => {
                    ctx.authorizer_error = Some(reason.0);
                    return Err(refusal);
                }
            }
        }

        if let Some(len) = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            && len > MAX_PAYLOAD
        {
            return Err(Refusal::PayloadTooLarge);
        }
        // A body of unknown length (chunked, or HTTP/2 without `content-length`) is held to the
        // same quota by its bytes: read whole before the integration sees any of it.
        if !req.headers().contains_key(header::CONTENT_LENGTH)
            && !http_body::Body::is_end_stream(req.body())
        {
            let (parts, body) = req.into_parts();
            let body = peek::within(body, MAX_PAYLOAD)
                .await
                .ok_or(Refusal::PayloadTooLarge)?;
            req = Request::from_parts(parts, body);
        }

        // Step 7: request parameter mapping, evaluated against the client's request. Only an
        // integration whose mappings read the body has its first 100 KB read now (docs/aws-rules.md §HTTP-4.6).
        let integration = &route.integration;
        let request_body = if integration.reads_request_body() {
            let (parts, body) = req.into_parts();
            let (prefix, body) = peek::peek(body, mapping::BODY_MAPPING_LIMIT).await;
            req = Request::from_parts(parts, body);
            Some(mapping::BodyView::new(prefix))
        } else {
            None
        };
        let raw_params = router::raw_path_parameters(&route.key, &route_path);
        let params: Vec<(String, String)> = raw_params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), router::percent_decode(v)))
            .collect();
        let mut header_ops = Vec::new();
        let mut query_ops = Vec::new();
        let mut path_override = None;
        {
            let env = mapping::Env {
                headers: req.headers(),
                query: req.uri().query(),
                route_path: &route_path,
                path_parameters: &params,
                context: ctx,
                stage_variables: &stage.variables,
                response_headers: None,
                request_body: request_body.as_ref(),
                response_body: None,
            };
            for p in &integration.request_parameters {
                let value = p.value.render(&env);
                match &p.target {
                    mapping::RequestTarget::Header(n) => {
                        header_ops.push((p.action, n.clone(), value))
                    }
                    mapping::RequestTarget::QueryString(n) => {
                        query_ops.push((p.action, n.as_str(), value))
                    }
                    mapping::RequestTarget::Path => path_override = Some(value),
                }
            }
        }
        let query = mapping::map_query(req.uri().query(), &query_ops);

        // docs/aws-rules.md §HTTP-4.2 and §HTTP-4.3: the path and query the backend receives.
        let (origin, path, query) = match &integration.target {
            IntegrationTarget::Private(_) => (None, backend_path, query),
            IntegrationTarget::Http(target) => {
                let url = http_url(
                    target,
                    &route.key,
                    &raw_params,
                    &route_path,
                    &stage.variables,
                )
                .ok_or_else(|| {
                    ctx.integration_error = Some("invalid integration URI".to_owned());
                    Refusal::IntegrationFailure
                })?;
                let parts = url.into_parts();
                let (Some(scheme), Some(authority)) = (parts.scheme, parts.authority) else {
                    return Err(Refusal::IntegrationFailure);
                };
                let (uri_path, uri_query) =
                    parts.path_and_query.map_or(("/".to_owned(), None), |pq| {
                        (pq.path().to_owned(), pq.query().map(str::to_owned))
                    });
                let query = match (uri_query, query) {
                    (Some(a), Some(b)) => Some(format!("{a}&{b}")),
                    (a, b) => a.or(b),
                };
                (Some((scheme, authority)), uri_path, query)
            }
        };
        let path = path_override.unwrap_or(path);
        let path_and_query = match query {
            Some(q) => [path.as_str(), "?", &q].concat(),
            None => path,
        };

        // Step 8: the integration.
        // `Forwarded` (docs/aws-rules.md §HTTP-4.7), written in one buffer: it is built for every request.
        let mut forwarded = String::with_capacity(48 + host.len());
        forwarded.push_str("by=");
        airlock_net::text::push_ip(&mut forwarded, self.public_ip);
        forwarded.push_str(";for=");
        airlock_net::text::push_ip(&mut forwarded, peer.ip());
        forwarded.push_str(";host=");
        forwarded.push_str(&host);
        forwarded.push_str(";proto=https");
        let cors_origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let client_headers =
            (!integration.response_parameters.is_empty()).then(|| req.headers().clone());
        let query_for_mapping = req.uri().query().map(str::to_owned);
        let called = std::time::Instant::now();
        let result = self
            .proxy
            .call(
                integration,
                req,
                proxy::Outgoing {
                    origin,
                    path_and_query,
                    forwarded,
                    header_ops,
                },
            )
            .await;
        ctx.integration_latency = Some(called.elapsed());
        let mut resp = match result {
            Ok(resp) => resp,
            Err(e) => {
                ctx.integration_error = Some(e.message);
                return Err(e.refusal);
            }
        };
        ctx.integration_status = Some(resp.status().as_u16());

        // Step 9: response mapping keyed by the integration's status, then CORS.
        if let Some(m) = integration
            .response_parameters
            .iter()
            .find(|m| m.status == resp.status())
        {
            let response_body = if m.reads_response_body() {
                // The integration's timeout covers this read too: a backend that sends its
                // headers and then stalls answers 503 like one that never answers.
                let left = integration.timeout.saturating_sub(called.elapsed());
                let (parts, body) = resp.into_parts();
                let (prefix, body) =
                    tokio::time::timeout(left, peek::peek(body, mapping::BODY_MAPPING_LIMIT))
                        .await
                        .map_err(|_| {
                            ctx.integration_error = Some("The integration timed out".to_owned());
                            Refusal::IntegrationTimeout
                        })?;
                resp = Response::from_parts(parts, body);
                Some(mapping::BodyView::new(prefix))
            } else {
                None
            };
            let empty = http::HeaderMap::new();
            let response_headers = resp.headers().clone();
            let env = mapping::Env {
                headers: client_headers.as_ref().unwrap_or(&empty),
                query: query_for_mapping.as_deref(),
                route_path: &route_path,
                path_parameters: &params,
                context: ctx,
                stage_variables: &stage.variables,
                response_headers: Some(&response_headers),
                request_body: request_body.as_ref(),
                response_body: response_body.as_ref(),
            };
            for p in &m.parameters {
                let value = p.value.render(&env);
                match &p.target {
                    mapping::ResponseTarget::Header(n) => {
                        proxy::apply_header(resp.headers_mut(), p.action, n.clone(), &value)
                    }
                    mapping::ResponseTarget::StatusCode => {
                        if let Some(code) = value
                            .trim()
                            .parse::<u16>()
                            .ok()
                            .and_then(|c| http::StatusCode::from_u16(c).ok())
                        {
                            *resp.status_mut() = code;
                        }
                    }
                }
            }
        }
        if let Some(cors) = &api.config.cors {
            cors.apply_to_response(cors_origin.as_deref(), resp.headers_mut());
        }
        Ok(resp)
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
