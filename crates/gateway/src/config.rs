//! The gateway's configuration: the APIs, their stages, routes, authorizers and integrations,
//! the custom domains and their API mappings, as the stack hands them over, already checked.

use crate::auth::jwt;
use crate::*;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

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
    /// The account id, for `$context.accountId`.
    pub account_id: String,
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
    /// `disable_execute_api_endpoint`: the execute-api host answers 404 (docs/aws-rules.md §HTTP-6.3).
    pub disable_execute_api_endpoint: bool,
    /// Stages; `$default` is served at the root.
    pub stages: Vec<StageConfig>,
    /// Routes, each with its authorization and integration.
    pub routes: Vec<RouteConfig>,
    /// `cors_configuration` (docs/aws-rules.md §HTTP-2.8).
    pub cors: Option<cors::CorsConfig>,
}

/// One stage of an API (docs/aws-rules.md §HTTP-3.1).
pub struct StageConfig {
    /// `$default` or the name served under `/<name>`.
    pub name: String,
    /// `stage_variables`.
    pub variables: HashMap<String, String>,
    /// `default_route_settings`.
    pub default_route_settings: RouteSettings,
    /// `route_settings`, keyed by route key as written (`GET /pets`).
    pub route_settings: HashMap<String, RouteSettings>,
    /// `access_log_settings`.
    pub access_log: Option<access_log::AccessLogConfig>,
}

impl StageConfig {
    /// A stage with no variables, settings or access log.
    pub fn named(name: impl Into<String>) -> StageConfig {
        StageConfig {
            name: name.into(),
            variables: HashMap::new(),
            default_route_settings: RouteSettings::default(),
            route_settings: HashMap::new(),
            access_log: None,
        }
    }
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
        /// Scopes; the token needs at least one when the list is not empty. Shared with every
        /// request's authorizer output.
        scopes: Arc<[String]>,
    },
    /// `CUSTOM`: a Lambda REQUEST authorizer (docs/aws-rules.md §HTTP-5.2).
    Lambda(Arc<auth::lambda::LambdaAuthorizer>),
    /// `AWS_IAM`: SigV4 and identity policies (docs/aws-rules.md §HTTP-5.3).
    Iam(Arc<auth::sigv4::IamAuthorizer>),
}

/// A JWT authorizer (docs/aws-rules.md §HTTP-5.1).
pub struct JwtAuthorizer {
    /// The authorizer's name, for logs.
    pub name: String,
    /// Where the token is read from.
    pub identity_source: IdentitySource,
    /// Issuer and audiences. Its own key set is not used by the gateway: `keys` is.
    pub validator: jwt::JwtValidator,
    /// The issuer's signing keys, live (discovered, cached, refetched on an unknown `kid`).
    pub keys: Arc<auth::keys::KeyStore>,
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
    /// `request_parameters` (docs/aws-rules.md §HTTP-4.6).
    pub request_parameters: Vec<mapping::RequestParameter>,
    /// `response_parameters`, by integration status code (docs/aws-rules.md §HTTP-4.6).
    pub response_parameters: Vec<mapping::ResponseMapping>,
}

impl Integration {
    /// Whether a mapping reads `$request.body…`: only then is the start of the client's body
    /// read before the backend is called; otherwise it streams (docs/aws-rules.md §HTTP-4.6).
    pub fn reads_request_body(&self) -> bool {
        self.request_parameters
            .iter()
            .any(|p| p.value.reads_request_body())
            || self
                .response_parameters
                .iter()
                .flat_map(|m| &m.parameters)
                .any(|p| p.value.reads_request_body())
    }
}

/// Where an integration sends requests.
pub enum IntegrationTarget {
    /// `connection_type: VPC_LINK` to a load balancer listener.
    Private(PrivateTarget),
    /// `connection_type: INTERNET` to a URL (docs/aws-rules.md §HTTP-4.2); only loopback hosts are dialled.
    Http(HttpTarget),
}

/// A URL integration (docs/aws-rules.md §HTTP-4.2).
pub struct HttpTarget {
    /// `integration_uri`: an `http(s)://` URL that may hold `{pathVariable}`, `{proxy}` and
    /// `${stageVariables.<name>}`.
    pub uri: String,
    /// The roots an `https` backend's certificate must chain to.
    pub tls_roots: Vec<CertificateDer<'static>>,
}

/// A private integration through a VPC link (docs/aws-rules.md §HTTP-4.3).
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

/// A custom domain name and its API mappings (docs/aws-rules.md §HTTP-6).
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
