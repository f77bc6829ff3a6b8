//! One request's way through the gateway, as named steps in the order API Gateway applies them
//! (the request pipeline: docs/aws-rules.md, HTTP 1; ARCHITECTURE.md, the life of a request):
//!
//! 1. [`Gateway::select`]: the API and stage from the host and path, then the route, or the
//!    answer to a CORS preflight that matched no route;
//! 2. [`throttle`]: the route's token bucket, before authorization;
//! 3. [`authorize`]: the route's authorizer;
//! 4. [`hold_to_quota`]: the body held to the 10 MB payload quota;
//! 5. [`Gateway::map_request`]: parameter mapping, the backend's path and query, `Forwarded`;
//! 6. [`Gateway::call`]: the integration;
//! 7. [`map_response`]: response mapping by the integration's status, then CORS.
//!
//! Each step takes what the steps before it decided ([`Routed`], [`Mapped`]) and either passes
//! the request on or ends it with a [`Refusal`]; [`Gateway::route_and_call`] runs them in order.
//! They are plain functions over concrete types: the order is fixed, so nothing here needs to
//! be stacked or boxed per request.

use crate::response::{Body, Refusal};
use crate::{
    Authorization, ClientBody, CompiledApi, Gateway, IntegrationTarget, MAX_PAYLOAD,
    MAX_REQUEST_HEAD, RouteConfig, Selection, StageConfig, auth, context, cors, http_url, mapping,
    peek, proxy, request_head_len, request_host, response, router,
};
use airlock_net::trace::{self, Component, Hop, Val};
use bytes::Bytes;
use http::{Request, Response, header};
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// The request with its body boxed: from authorization on, a step may have read and replayed it.
type BoxedRequest = Request<Body>;

/// What [`Gateway::select`] decided: the API, stage and route, and the paths they imply.
pub(crate) struct Routed<'a> {
    api: &'a CompiledApi,
    stage: &'a StageConfig,
    stage_index: usize,
    index: usize,
    route: &'a RouteConfig,
    /// The request's host, lowercased.
    host: String,
    /// The path routes see.
    route_path: String,
    /// The path a private integration receives.
    backend_path: String,
}

/// How selection ended.
pub(crate) enum Selected<'a> {
    /// A route matched.
    Route(Routed<'a>),
    /// No route matched a CORS preflight, which the API's CORS configuration answers.
    Preflight(Response<Body>),
}

/// What [`Gateway::map_request`] made of the request, kept for the response mapping.
pub(crate) struct Mapped {
    /// The first bytes of the request body, when a mapping reads it.
    request_body: Option<mapping::BodyView>,
    /// Path parameters, decoded.
    params: Vec<(String, String)>,
    /// The client's headers, when a response mapping may read them.
    client_headers: Option<http::HeaderMap>,
    query: Option<String>,
    /// The client's `Origin`, for CORS on the response.
    cors_origin: Option<String>,
}

impl Gateway {
    /// Runs the steps of the module documentation for one request.
    pub(crate) async fn route_and_call<'a>(
        &'a self,
        req: Request<ClientBody>,
        peer: SocketAddr,
        sni: Option<Arc<str>>,
        ctx: &mut context::RequestContext,
        selected: &mut Option<Selection<'a>>,
    ) -> Result<Response<Body>, Refusal> {
        let chosen = self.select(&req, sni.as_deref(), ctx, selected);
        let routed = match chosen? {
            Selected::Route(routed) => routed,
            Selected::Preflight(resp) => return Ok(resp),
        };
        if let Err(refusal) = throttle(&routed) {
            ctx.hop(|t| {
                t.record(
                    Component::Gateway,
                    airlock_net::name!("throttle"),
                    airlock_net::name!("throttled"),
                )
                .with(
                    airlock_net::name!("why"),
                    Val::Str("the route's token bucket is empty"),
                )
            });
            return Err(refusal);
        }
        let req = authorize(&routed, req, peer, ctx).await?;
        let req = hold_to_quota(req).await?;
        let (req, outgoing, mapped) = self.map_request(&routed, req, peer, ctx).await?;
        let called = Instant::now();
        let resp = self.call(&routed, req, outgoing, ctx).await;
        let took = called.elapsed();
        ctx.integration_latency = Some(took);
        if ctx.trace.is_some() {
            let outcome = match (&resp, ctx.error_response_type) {
                (Ok(_), _) => "answered",
                (Err(Refusal::IntegrationTimeout), _) => "timed out",
                (Err(_), _) => "failed",
            };
            let private = matches!(
                routed.route.integration.target,
                IntegrationTarget::Private(_)
            );
            let status = ctx
                .integration_status
                .map_or(Val::None, |s| Val::Num(u64::from(s)));
            let error = ctx.integration_error.clone().map_or(Val::None, Val::Text);
            ctx.hop(|t| {
                t.record(
                    Component::Gateway,
                    airlock_net::name!("integration"),
                    outcome,
                )
                .with(
                    airlock_net::name!("type"),
                    Val::Str(if private {
                        "private (VPC link)"
                    } else {
                        "HTTP URL"
                    }),
                )
                .with(airlock_net::name!("status"), status)
                .with(airlock_net::name!("error"), error)
                .took(took)
            });
        }
        map_response(&routed, resp?, &mapped, called, ctx).await
    }

    /// Step 1: host → API and stage (and the paths the routes and the backend see), the
    /// request head's size, then the route; a CORS preflight that no route matched is
    /// answered here.
    fn select<'a>(
        &'a self,
        req: &Request<ClientBody>,
        sni: Option<&str>,
        ctx: &mut context::RequestContext,
        selected: &mut Option<Selection<'a>>,
    ) -> Result<Selected<'a>, Refusal> {
        let host = request_host(req)
            .or(sni)
            .ok_or(Refusal::NotFound)?
            .to_ascii_lowercase();
        ctx.domain_name = host.clone();
        let Some(mut sel) = self.select_api(&host, req.uri().path()) else {
            ctx.hop(|t| {
                t.record(Component::Gateway, airlock_net::name!("api"), airlock_net::name!("none"))
                    .with(airlock_net::name!("host"), Val::Text(host.clone()))
                    .with(
                        airlock_net::name!("why"),
                        Val::Str("no API's execute-api host or custom domain mapping (with a stage) serves this host and path"),
                    )
            });
            return Err(Refusal::NotFound);
        };
        let api = sel.api;
        let stage_index = sel.stage;
        ctx.api_id = Some(api.id.clone());
        ctx.stage = Some(api.stages[stage_index].name.clone());
        ctx.hop(|t| {
            t.record(
                Component::Gateway,
                airlock_net::name!("api"),
                airlock_net::name!("selected"),
            )
            .with(airlock_net::name!("api"), Val::Str(api.traced_id))
            .with(
                airlock_net::name!("stage"),
                Val::Str(api.stages[stage_index].traced_name),
            )
            .with(
                airlock_net::name!("mapping key"),
                sel.traced_mapping.map_or(Val::None, Val::Str),
            )
        });
        // The paths move out: what the caller keeps of the selection is its API and stage.
        ctx.base_path_matched = sel.base_path.take();
        let route_path = std::mem::take(&mut sel.route_path);
        let backend_path = std::mem::take(&mut sel.backend_path);
        *selected = Some(sel);

        if request_head_len(req) > MAX_REQUEST_HEAD {
            return Err(Refusal::RequestHeaderTooLarge);
        }
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
                ctx.hop(|t| {
                    t.record(
                        Component::Gateway,
                        airlock_net::name!("route"),
                        airlock_net::name!("CORS preflight answered"),
                    )
                });
                return Ok(Selected::Preflight(resp));
            }
            if ctx.trace.is_some() {
                // Off the hot path: a 404 explains itself with the routes that came closest.
                let nearest = api.router.nearest(req.method(), &route_path, 3);
                let mut hop = Hop::new(Component::Gateway, "route", "no match")
                    .with(airlock_net::name!("path"), Val::Text(route_path.clone()));
                for (i, (key, why)) in nearest.into_iter().enumerate() {
                    let name = ["nearest", "second nearest", "third nearest"][i.min(2)];
                    hop = hop.with(name, Val::Text(format!("{key}: {why}")));
                }
                if let Some(t) = ctx.trace.as_mut() {
                    t.hop(hop);
                }
            }
            return Err(Refusal::NotFound);
        };
        let stage = &api.config.stages[stage_index];
        ctx.route_key = Some(api.route_keys[index].clone());
        ctx.hop(|t| {
            t.route = Some(api.traced_route_keys[index]);
            t.record(
                Component::Gateway,
                airlock_net::name!("route"),
                airlock_net::name!("matched"),
            )
            .with(
                airlock_net::name!("route"),
                Val::Str(api.traced_route_keys[index]),
            )
        });
        tracing::debug!(api = %api.config.name, stage = %stage.name, route = %api.route_keys[index], "route selected");
        Ok(Selected::Route(Routed {
            api,
            stage,
            stage_index,
            index,
            route: &api.config.routes[index],
            host,
            route_path,
            backend_path,
        }))
    }

    /// Step 5: request parameter mapping, evaluated against the client's request (only an
    /// integration whose mappings read the body has its first 100 KB read now), then the path
    /// and query the backend receives and the `Forwarded` header.
    async fn map_request(
        &self,
        routed: &Routed<'_>,
        mut req: BoxedRequest,
        peer: SocketAddr,
        ctx: &mut context::RequestContext,
    ) -> Result<(BoxedRequest, proxy::Outgoing, Mapped), Refusal> {
        let (route, stage) = (routed.route, routed.stage);
        let integration = &route.integration;
        let request_body = if integration.reads_request_body() {
            let (parts, body) = req.into_parts();
            let (prefix, body) = peek::peek(body, mapping::BODY_MAPPING_LIMIT).await;
            req = Request::from_parts(parts, body);
            Some(mapping::BodyView::new(prefix))
        } else {
            None
        };
        let raw_params = router::raw_path_parameters(&route.key, &routed.route_path);
        let params: Vec<(String, String)> = raw_params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), airlock_pool::uri::percent_decode_lossy(v)))
            .collect();
        let mut header_ops = Vec::new();
        let mut query_ops = Vec::new();
        let mut path_override = None;
        {
            let env = mapping::Env {
                headers: req.headers(),
                query: req.uri().query(),
                route_path: &routed.route_path,
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

        // The path and query the backend receives.
        let (origin, path, query) = match &integration.target {
            IntegrationTarget::Private(_) => (None, routed.backend_path.clone(), query),
            IntegrationTarget::Http(target) => {
                let url = http_url(
                    target,
                    &route.key,
                    &raw_params,
                    &routed.route_path,
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

        // `Forwarded`, written in one buffer: it is built for every request.
        let host = &routed.host;
        let mut forwarded = String::with_capacity(48 + host.len());
        forwarded.push_str("by=");
        airlock_net::text::push_ip(&mut forwarded, self.public_ip);
        forwarded.push_str(";for=");
        airlock_net::text::push_ip(&mut forwarded, peer.ip());
        forwarded.push_str(";host=");
        forwarded.push_str(host);
        forwarded.push_str(";proto=https");
        let mapped = Mapped {
            cors_origin: req
                .headers()
                .get(header::ORIGIN)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            client_headers: (!integration.response_parameters.is_empty())
                .then(|| req.headers().clone()),
            query: req.uri().query().map(str::to_owned),
            request_body,
            params,
        };
        // Only an integration with mappings has a mapping step to show (and only then is the
        // path copied): the common request pays for no hop here.
        if !integration.request_parameters.is_empty() {
            let mappings = integration.request_parameters.len() as u64;
            ctx.hop(|t| {
                t.record(
                    Component::Gateway,
                    airlock_net::name!("map request"),
                    airlock_net::name!("mapped"),
                )
                .with(airlock_net::name!("parameter mappings"), Val::Num(mappings))
                .with(
                    airlock_net::name!("path sent"),
                    Val::Text(path_and_query.clone()),
                )
            });
        }
        let outgoing = proxy::Outgoing {
            origin,
            path_and_query,
            forwarded,
            header_ops,
            trace_id_set: false,
        };
        Ok((req, outgoing, mapped))
    }

    /// Step 6: the integration, within its timeout.
    async fn call(
        &self,
        routed: &Routed<'_>,
        req: BoxedRequest,
        mut outgoing: proxy::Outgoing,
        ctx: &mut context::RequestContext,
    ) -> Result<Response<Body>, Refusal> {
        // With tracing on, the trace root the backend will see is fixed here, so that the VPC
        // link's dial and the ALB's segment join this request's trace (a new tunnel stream
        // reads it from the header: `proxy::Connector::connect_for`).
        let mut req = req;
        if let Some(t) = ctx.trace.as_mut() {
            // One lookup whether the client sent a root or not.
            let key = match req.headers_mut().entry(proxy::X_AMZN_TRACE_ID) {
                header::Entry::Occupied(mut sent) => {
                    match trace::TraceKey::from_header(sent.get().as_bytes()) {
                        Some(key) => key,
                        None => {
                            let (value, key) = proxy::trace_id_and_key();
                            sent.insert(value);
                            key
                        }
                    }
                }
                header::Entry::Vacant(slot) => {
                    let (value, key) = proxy::trace_id_and_key();
                    slot.insert(value);
                    key
                }
            };
            t.key = Some(key);
            outgoing.trace_id_set = true;
        }
        match self
            .proxy
            .call(&routed.route.integration, req, outgoing)
            .await
        {
            Ok(resp) => {
                ctx.integration_status = Some(resp.status().as_u16());
                Ok(resp)
            }
            Err(e) => {
                ctx.integration_error = Some(e.message);
                Err(e.refusal)
            }
        }
    }
}

/// Step 2: throttling, before authorization (API Gateway's recommended order).
fn throttle(routed: &Routed<'_>) -> Result<(), Refusal> {
    match &routed.api.stages[routed.stage_index].buckets[routed.index] {
        Some(bucket) if !bucket.try_take() => Err(Refusal::Throttled),
        _ => Ok(()),
    }
}

/// Step 3: the route's authorizer (module `auth`). The body is boxed from here on: IAM may have
/// to buffer it to check its hash.
async fn authorize(
    routed: &Routed<'_>,
    req: Request<ClientBody>,
    peer: SocketAddr,
    ctx: &mut context::RequestContext,
) -> Result<BoxedRequest, Refusal> {
    let mut req = req.map(|b| b.map_err(|e| Box::new(e) as response::BoxError).boxed());
    let (route, stage) = (routed.route, routed.stage);
    if matches!(route.authorization, Authorization::None) {
        return Ok(req);
    }
    let method = req.method().clone();
    let route_key = ctx.route_key.as_deref().unwrap_or_default();
    let facts = || {
        let route_template = route_key
            .split_once(' ')
            .map_or_else(|| route_key.to_owned(), |(_, p)| p.to_owned());
        auth::RequestFacts {
            api_id: &routed.api.config.id,
            stage: &stage.name,
            route_key: route_key.to_owned(),
            route_path: route_template,
            raw_path: ctx.path(),
            resource_path: &routed.route_path,
            request_id: ctx.request_id().unwrap_or_default(),
            source_ip: peer.ip(),
            domain_name: &routed.host,
            path_parameters: router::path_parameters(&route.key, &routed.route_path),
            stage_variables: stage
                .variables
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            time: ctx.request_time.unwrap_or_else(SystemTime::now),
            method: method.as_str(),
        }
    };
    let kind = match &route.authorization {
        Authorization::None => "NONE",
        Authorization::Jwt { .. } => "JWT",
        Authorization::Lambda(_) => "REQUEST",
        Authorization::Iam(_) => "AWS_IAM",
    };
    // The span's start, read only when traced; its end is the hop's own clock read.
    let started = ctx.trace.as_ref().map(|_| trace::now_us());
    match auth::authorize(&route.authorization, facts, &mut req).await {
        Ok((output, reason)) => {
            let mut signature = Val::None;
            if let auth::AuthorizerOutput::Jwt { claims, .. } = &output {
                ctx.claims = Some(claims.clone());
                signature = Val::Str(if claims.signature_cached() {
                    "cache hit: verified on an earlier request with the same key"
                } else {
                    "cache miss: verified now"
                });
            }
            ctx.authorizer = output;
            ctx.hop(|t| {
                let why = if !reason.is_empty() {
                    Val::Text(reason)
                } else if kind == "JWT" {
                    Val::Str("signature, issuer, audience, expiry and scopes all pass")
                } else {
                    Val::None
                };
                t.record_since(
                    Component::Gateway,
                    airlock_net::name!("authorize"),
                    airlock_net::name!("allowed"),
                    started.unwrap_or(0),
                )
                .with(airlock_net::name!("authorizer"), Val::Str(kind))
                .with(airlock_net::name!("why"), why)
                .with(airlock_net::name!("signature"), signature)
            });
            Ok(req)
        }
        Err((refusal, reason)) => {
            if ctx.trace.is_some() {
                let why = Val::Text(reason.0.clone());
                let status = u64::from(refusal.status().as_u16());
                ctx.hop(|t| {
                    t.record_since(
                        Component::Gateway,
                        airlock_net::name!("authorize"),
                        airlock_net::name!("refused"),
                        started.unwrap_or(0),
                    )
                    .with(airlock_net::name!("authorizer"), Val::Str(kind))
                    .with(airlock_net::name!("why"), why)
                    .with(airlock_net::name!("status"), Val::Num(status))
                });
            }
            ctx.authorizer_error = Some(reason.0);
            Err(refusal)
        }
    }
}

/// Step 4: the payload quota. A declared `Content-Length` over it is refused at once; a body of
/// unknown length (chunked, or HTTP/2 without `content-length`) is held to it by its bytes,
/// read whole before the integration sees any of it.
async fn hold_to_quota(req: BoxedRequest) -> Result<BoxedRequest, Refusal> {
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > MAX_PAYLOAD
    {
        return Err(Refusal::PayloadTooLarge);
    }
    if req.headers().contains_key(header::CONTENT_LENGTH)
        || http_body::Body::is_end_stream(req.body())
    {
        return Ok(req);
    }
    let (parts, body) = req.into_parts();
    let body = peek::within(body, MAX_PAYLOAD)
        .await
        .ok_or(Refusal::PayloadTooLarge)?;
    Ok(Request::from_parts(parts, body))
}

/// Step 7: the response mapping keyed by the integration's status, then CORS. The
/// integration's timeout covers a mapping's read of the response body too: a backend that sends
/// its headers and then stalls answers 503 like one that never answers.
async fn map_response(
    routed: &Routed<'_>,
    mut resp: Response<Body>,
    mapped: &Mapped,
    called: Instant,
    ctx: &mut context::RequestContext,
) -> Result<Response<Body>, Refusal> {
    let integration = &routed.route.integration;
    if let Some(m) = integration
        .response_parameters
        .iter()
        .find(|m| m.status == resp.status())
    {
        let response_body = if m.reads_response_body() {
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
            headers: mapped.client_headers.as_ref().unwrap_or(&empty),
            query: mapped.query.as_deref(),
            route_path: &routed.route_path,
            path_parameters: &mapped.params,
            context: ctx,
            stage_variables: &routed.stage.variables,
            response_headers: Some(&response_headers),
            request_body: mapped.request_body.as_ref(),
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
        let (count, status) = (m.parameters.len() as u64, resp.status().as_u16());
        ctx.hop(|t| {
            t.record(
                Component::Gateway,
                airlock_net::name!("map response"),
                airlock_net::name!("mapped"),
            )
            .with(airlock_net::name!("parameter mappings"), Val::Num(count))
            .with(airlock_net::name!("status"), Val::Num(u64::from(status)))
        });
    }
    if let Some(cors) = &routed.api.config.cors {
        cors.apply_to_response(mapped.cors_origin.as_deref(), resp.headers_mut());
    }
    Ok(resp)
}
