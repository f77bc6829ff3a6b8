//! API Gateway HTTP API emulation: the public HTTPS edge of a stack.
//!
//! Serves HTTPS (HTTP/1.1 and HTTP/2) on a listener the caller binds, picks the API by the
//! request's host (a custom domain and its API mappings, or the
//! `{api-id}.execute-api.{region}.amazonaws.com` endpoint), selects the stage and the route,
//! runs the route's authorizer and proxies to the integration, in the order of spec
//! http-api.md §1. Every response the gateway writes itself is one of the catalogue rows of §12,
//! produced by [`response::Refusal`].
//!
//! Architecture invariant: the gateway does not know how the VPC is built. A private
//! integration reaches its load balancer through a [`Tunnel`] the caller hands in (the VPC
//! link's client); the gateway only knows the private destination addresses and the TLS name to
//! verify. It does not read files or the environment.

pub mod jwt;
mod proxy;
pub mod response;
pub mod router;
mod tls;

pub use proxy::{BoxIo, Io, Tunnel};
pub use router::{RouteKey, Segment};

use bytes::Bytes;
use http::{Method, Request, Response, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use response::{Body, Refusal};
use router::Router;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a client may take to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The payload quota of HTTP APIs (spec http-api.md §8).
const MAX_PAYLOAD: u64 = 10 * 1024 * 1024;

/// A certificate chain and its key, as the caller's PKI issued them.
pub struct CertifiedKeyPair {
    /// Leaf first.
    pub cert_chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
}

/// Everything the gateway serves.
pub struct GatewayConfig {
    /// The region, for execute-api host names (`us-east-1`).
    pub region: String,
    /// The gateway's public address, used in the `Forwarded` header's `by=`.
    pub public_ip: IpAddr,
    /// The HTTP APIs.
    pub apis: Vec<ApiConfig>,
    /// Custom domain names.
    pub domains: Vec<DomainConfig>,
    /// The certificate for `*.execute-api.{region}.amazonaws.com`.
    pub execute_api_certificate: CertifiedKeyPair,
}

/// One HTTP API.
pub struct ApiConfig {
    /// The API id (10 lower-case alphanumerics, like AWS's).
    pub id: String,
    /// The API's name, for logs.
    pub name: String,
    /// `disable_execute_api_endpoint`: the execute-api host answers 404 (§6.3).
    pub disable_execute_api_endpoint: bool,
    /// Stage names; `$default` is served at the root.
    pub stages: Vec<String>,
    /// Routes, each with its authorization and integration.
    pub routes: Vec<RouteConfig>,
}

/// One route.
pub struct RouteConfig {
    /// The parsed route key.
    pub key: RouteKey,
    /// Who may call it.
    pub authorization: Authorization,
    /// Where it goes.
    pub integration: Arc<Integration>,
}

/// A route's authorization.
#[derive(Clone)]
pub enum Authorization {
    /// `NONE`.
    None,
    /// `JWT` with the route's authorization scopes.
    Jwt {
        /// The authorizer (shared by the routes that use it).
        authorizer: Arc<JwtAuthorizer>,
        /// Scopes; the token needs at least one when the list is not empty.
        scopes: Vec<String>,
    },
}

/// A JWT authorizer (spec §5.1).
pub struct JwtAuthorizer {
    /// The authorizer's name, for logs.
    pub name: String,
    /// Where the token is read from.
    pub identity_source: IdentitySource,
    /// Issuer, audiences and keys.
    pub validator: jwt::JwtValidator,
}

/// An identity source selection expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySource {
    /// `$request.header.<name>` (case-insensitive name).
    Header(http::HeaderName),
    /// `$request.querystring.<name>` (case-sensitive name).
    QueryString(String),
}

/// An HTTP_PROXY integration.
pub struct Integration {
    /// The integration's name, for logs.
    pub name: String,
    /// `integration_method`: `None` forwards the client's method (`ANY`).
    pub method: Option<Method>,
    /// `timeout_in_millis`.
    pub timeout: Duration,
    /// Where requests go.
    pub target: IntegrationTarget,
}

/// Where an integration sends requests.
pub enum IntegrationTarget {
    /// `connection_type: VPC_LINK` to a load balancer listener.
    Private(PrivateTarget),
}

/// A private integration through a VPC link (spec §4.3).
pub struct PrivateTarget {
    /// The VPC link's tunnel.
    pub tunnel: Arc<dyn Tunnel>,
    /// The listener's private addresses (one per load balancer node); requests rotate over them.
    pub destinations: Vec<SocketAddr>,
    /// `tls_config.server_name_to_verify`: HTTPS to the listener, verified for this name.
    pub tls_server_name: Option<String>,
    /// The roots the listener's certificate must chain to.
    pub tls_roots: Vec<CertificateDer<'static>>,
    /// The `Host` header sent to the listener (unconfirmed by AWS; see docs/aws-fidelity.md).
    pub host_header: String,
}

/// A custom domain name and its API mappings (spec §6).
pub struct DomainConfig {
    /// The domain name, lower-case.
    pub domain_name: String,
    /// Its certificate.
    pub certificate: CertifiedKeyPair,
    /// Mappings: `(api_mapping_key, api id, stage)`.
    pub mappings: Vec<ApiMapping>,
}

/// One API mapping.
pub struct ApiMapping {
    /// The mapping key; empty for `(none)`.
    pub key: String,
    /// The API's id.
    pub api_id: String,
    /// The stage.
    pub stage: String,
}

/// Setup errors.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A certificate or key was refused by rustls.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// A mapping names an API that is not configured.
    #[error("API mapping of {domain} names an unknown API {api}")]
    UnknownApi {
        /// The domain.
        domain: String,
        /// The API id.
        api: String,
    },
}

/// The running gateway's compiled state: built once at start, read per request.
pub struct Gateway {
    region_suffix: String,
    public_ip: IpAddr,
    apis: HashMap<String, CompiledApi>,
    domains: HashMap<String, CompiledDomain>,
    tls: Arc<rustls::ServerConfig>,
    proxy: proxy::Proxy,
}

struct CompiledApi {
    config: ApiConfig,
    router: Router,
}

struct CompiledDomain {
    /// Sorted longest key first.
    mappings: Vec<ApiMapping>,
    /// Any multi-level key switches matching to string prefixes (§6.2).
    multi_level: bool,
}

impl Gateway {
    /// Compiles the configuration: routing tables, TLS, and integration clients.
    pub fn new(config: GatewayConfig) -> Result<Gateway, GatewayError> {
        let tls = tls::server_config(&config)?;
        let mut apis = HashMap::new();
        for api in config.apis {
            let router = Router::new(api.routes.iter().map(|r| r.key.clone()).collect());
            apis.insert(
                api.id.clone(),
                CompiledApi {
                    config: api,
                    router,
                },
            );
        }
        let mut domains = HashMap::new();
        for d in config.domains {
            if let Some(m) = d.mappings.iter().find(|m| !apis.contains_key(&m.api_id)) {
                return Err(GatewayError::UnknownApi {
                    domain: d.domain_name.clone(),
                    api: m.api_id.clone(),
                });
            }
            let mut mappings = d.mappings;
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
                    let sni = tls.get_ref().1.server_name().map(str::to_owned);
                    let service = hyper::service::service_fn(move |req| {
                        let gw = gw.clone();
                        let sni = sni.clone();
                        async move {
                            Ok::<_, std::convert::Infallible>(gw.handle(req, peer, sni).await)
                        }
                    });
                    let mut builder =
                        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    builder
                        .http1()
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(HEADER_READ_TIMEOUT);
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
                    tokio::pin!(conn);
                    tokio::select! {
                        r = conn.as_mut() => {
                            if let Err(e) = r {
                                tracing::debug!(error = %e, "connection ended with an error");
                            }
                        }
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

    /// Handles one request through the pipeline of spec §1.
    async fn handle(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        sni: Option<String>,
    ) -> Response<Body> {
        let request_id = response::request_id();
        let started = std::time::Instant::now();
        let method = req.method().clone();
        let path_for_log = req.uri().path().to_owned();
        let result = self.route_and_call(req, peer, sni).await;
        let mut resp = match result {
            Ok(resp) => resp,
            Err(refusal) => refusal.into_response(&request_id),
        };
        resp.headers_mut()
            .insert("apigw-requestid", request_id.clone());
        tracing::info!(
            target: "airlock::gateway",
            request_id = request_id.to_str().unwrap_or(""),
            %method,
            path = %path_for_log,
            status = resp.status().as_u16(),
            latency_ms = started.elapsed().as_millis() as u64,
            "request"
        );
        resp
    }

    async fn route_and_call(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        sni: Option<String>,
    ) -> Result<Response<Body>, Refusal> {
        let host = request_host(&req)
            .or(sni)
            .ok_or(Refusal::NotFound)?
            .to_ascii_lowercase();
        let path = req.uri().path().to_owned();

        // §1 step 1: host → API, and the path the API sees.
        let (api, stage, api_path, backend_path) =
            self.select_api(&host, &path).ok_or(Refusal::NotFound)?;

        // Step 3: route selection.
        let index = api
            .router
            .select(req.method(), &api_path)
            .ok_or(Refusal::NotFound)?;
        let route = &api.config.routes[index];
        tracing::debug!(api = %api.config.name, stage, route = %route.key.display(), "route selected");

        // Step 6: authorization.
        if let Authorization::Jwt { authorizer, scopes } = &route.authorization {
            authorize_jwt(authorizer, scopes, &req)?;
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

        // Step 8: the integration.
        let forwarded = format!(
            "by={};for={};host={};proto=https",
            self.public_ip,
            peer.ip(),
            host
        );
        self.proxy
            .call(
                &route.integration,
                req,
                proxy::Outgoing {
                    path: backend_path,
                    forwarded,
                },
            )
            .await
    }

    /// Resolves the host and path to an API, its stage, the path routes see, and the path a
    /// private integration receives (spec §2.2, §4.3, §6.2).
    fn select_api<'a>(
        &'a self,
        host: &str,
        path: &str,
    ) -> Option<(&'a CompiledApi, &'a str, String, String)> {
        if let Some(api_id) = host.strip_suffix(self.region_suffix.as_str()) {
            let api = self.apis.get(api_id)?;
            if api.config.disable_execute_api_endpoint {
                return None;
            }
            let (stage, rest) = select_stage(&api.config.stages, path)?;
            // Private integrations receive the original path, stage segment included (§4.3).
            return Some((api, stage, rest, path.to_owned()));
        }
        let domain = self.domains.get(host)?;
        let trimmed = path.strip_prefix('/').unwrap_or(path);
        let mapping = domain.mappings.iter().find(|m| {
            if m.key.is_empty() {
                true
            } else if domain.multi_level {
                trimmed.starts_with(m.key.as_str())
            } else {
                trimmed.split('/').next() == Some(m.key.as_str())
            }
        })?;
        let rest = &trimmed[mapping.key.len()..];
        let rest = if rest.starts_with('/') {
            rest.to_owned()
        } else {
            format!("/{rest}")
        };
        let api = self.apis.get(&mapping.api_id)?;
        let stage = api.config.stages.iter().find(|s| **s == mapping.stage)?;
        // The mapping fixes the stage; no stage segment appears (§6.2, §4.3 recommendation).
        Some((api, stage.as_str(), rest.clone(), rest))
    }
}

/// The request's host: `Host` for HTTP/1.1, the `:authority` for HTTP/2; port stripped.
fn request_host<B>(req: &Request<B>) -> Option<String> {
    let raw = req.uri().host().map(str::to_owned).or_else(|| {
        req.headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
    })?;
    Some(match raw.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h.to_owned(),
        _ => raw,
    })
}

/// §2.2: a first segment naming a stage selects it (and is removed); otherwise `$default`.
fn select_stage<'a>(stages: &'a [String], path: &str) -> Option<(&'a str, String)> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let (first, rest) = trimmed.split_once('/').unwrap_or((trimmed, ""));
    if let Some(stage) = stages.iter().find(|s| *s != "$default" && *s == first) {
        return Some((stage.as_str(), format!("/{rest}")));
    }
    stages
        .iter()
        .find(|s| *s == "$default")
        .map(|s| (s.as_str(), path.to_owned()))
}

/// Spec §5.1 in order; scopes last.
fn authorize_jwt<B>(
    authorizer: &JwtAuthorizer,
    scopes: &[String],
    req: &Request<B>,
) -> Result<jwt::Claims, Refusal> {
    let raw = match &authorizer.identity_source {
        IdentitySource::Header(name) => req
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        IdentitySource::QueryString(name) => req.uri().query().and_then(|q| {
            q.split('&').find_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (k == name).then(|| router::percent_decode(v))
            })
        }),
    };
    let token = raw
        .as_deref()
        .and_then(jwt::extract_token)
        .ok_or(Refusal::MissingToken)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let scope_list = scopes.join(" ");
    let claims = authorizer.validator.validate(token, now).map_err(|e| {
        tracing::debug!(authorizer = %authorizer.name, error = %e, "JWT refused");
        Refusal::InvalidToken {
            scopes: scope_list.clone(),
            description: e.to_string(),
        }
    })?;
    if !scopes.is_empty() {
        let granted = claims.scopes();
        if !scopes.iter().any(|s| granted.contains(&s.as_str())) {
            return Err(Refusal::InsufficientScope { scopes: scope_list });
        }
    }
    Ok(claims)
}

/// A shared, cheaply cloned body type for tests and callers that build requests.
pub type Full = http_body_util::Full<Bytes>;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn stages_are_selected_by_first_segment() {
        let stages = vec!["$default".to_owned(), "dev".to_owned()];
        assert_eq!(
            select_stage(&stages, "/dev/pets/6"),
            Some(("dev", "/pets/6".to_owned()))
        );
        assert_eq!(
            select_stage(&stages, "/prod/pets"),
            Some(("$default", "/prod/pets".to_owned()))
        );
        assert_eq!(select_stage(&["dev".to_owned()], "/prod/pets"), None);
    }
}
