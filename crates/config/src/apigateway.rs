//! Amazon API Gateway (HTTP APIs) in the stack file: APIs, routes, integrations, authorizers,
//! stages, custom domain names, API mappings and VPC links (`AWS::ApiGatewayV2::*`).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::scalars::{
    HttpMethod, IdentitySource, IntegrationUri, RouteKey, StageName, default_true,
};

/// An API Gateway HTTP API.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpApi {
    /// The API's name; the API id is derived from it.
    pub name: String,
    /// When true, the `execute-api` endpoint answers 404 (custom domains only).
    #[serde(default)]
    pub disable_execute_api_endpoint: bool,
    /// Authorizers routes may use.
    #[serde(default)]
    pub authorizers: Vec<Authorizer>,
    /// Integrations routes send requests to.
    #[serde(default)]
    pub integrations: Vec<Integration>,
    /// Routes.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Stages.
    #[serde(default)]
    pub stages: Vec<Stage>,
    /// CORS answered by the gateway (docs/aws-rules.md §HTTP-2.8).
    #[serde(default)]
    pub cors_configuration: Option<CorsConfiguration>,
}

/// An API's `CorsConfiguration` (docs/aws-rules.md §HTTP-2.8).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsConfiguration {
    /// Allowed origins: exact, `*`, `https://*` or `http://*`.
    #[serde(default)]
    pub allow_origins: Vec<String>,
    /// Sends `Access-Control-Allow-Credentials: true`.
    #[serde(default)]
    pub allow_credentials: bool,
    /// `Access-Control-Expose-Headers`.
    #[serde(default)]
    pub expose_headers: Vec<String>,
    /// `Access-Control-Max-Age`, -1 to 86400.
    #[serde(default)]
    pub max_age: Option<i32>,
    /// `Access-Control-Allow-Methods`.
    #[serde(default)]
    pub allow_methods: Vec<String>,
    /// `Access-Control-Allow-Headers`.
    #[serde(default)]
    pub allow_headers: Vec<String>,
}

/// Authorizer types airlock implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum AuthorizerType {
    /// A JWT authorizer (docs/aws-rules.md §HTTP-5.1).
    #[serde(rename = "JWT")]
    Jwt,
    /// A Lambda REQUEST authorizer (docs/aws-rules.md §HTTP-5.2), run locally.
    #[serde(rename = "REQUEST")]
    Request,
}

/// A route authorizer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorizer {
    /// The name routes refer to in `authorizer_id`.
    pub name: String,
    /// The authorizer type.
    pub authorizer_type: AuthorizerType,
    /// Where the token comes from: exactly one selection expression for JWT; any number
    /// (header, query string, `$context.`, `$stageVariables.`) for REQUEST.
    #[serde(default)]
    pub identity_source: Vec<IdentitySource>,
    /// Issuer and audiences (JWT only, required there).
    #[serde(default)]
    pub jwt_configuration: Option<JwtConfiguration>,
    /// The function of a REQUEST authorizer: a loopback `http(s)://` URL receiving the event as
    /// a JSON POST, or `{command: [program, args...]}` reading it on stdin.
    #[serde(default)]
    pub authorizer_uri: Option<AuthorizerUri>,
    /// `"1.0"` or `"2.0"` (REQUEST only, required there).
    #[serde(default)]
    pub authorizer_payload_format_version: Option<AuthorizerPayloadFormat>,
    /// Lets a 2.0 function answer `{"isAuthorized": bool, "context": {...}}`.
    #[serde(default)]
    pub enable_simple_responses: bool,
    /// Result cache TTL, 0 to 3600; 0 (the default here, unconfirmed for AWS) disables caching.
    #[serde(default)]
    pub authorizer_result_ttl_in_seconds: u32,
}

/// What stands in for a REQUEST authorizer's Lambda function.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum AuthorizerUri {
    /// `http://127.0.0.1:port/path` (loopback only).
    Url(String),
    /// A local command: the event on stdin, the response on stdout.
    Command {
        /// Program and arguments.
        command: Vec<String>,
    },
}

/// `AuthorizerPayloadFormatVersion`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum AuthorizerPayloadFormat {
    /// `"1.0"`.
    #[serde(rename = "1.0")]
    V1,
    /// `"2.0"`.
    #[serde(rename = "2.0")]
    V2,
}

/// What a JWT must carry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfiguration {
    /// The exact `iss`; `local` means airlock's built-in issuer.
    pub issuer: String,
    /// Accepted `aud` values (1 to 50).
    #[serde(default)]
    pub audience: Vec<String>,
    /// airlock extension: a JWKS document standing in for OIDC discovery (offline work).
    #[serde(default)]
    pub jwks_file: Option<std::path::PathBuf>,
    /// airlock extension: PEM CA certificates trusted for discovery over HTTPS, besides
    /// airlock's own CA.
    #[serde(default)]
    pub ca_bundle: Option<std::path::PathBuf>,
}

impl JwtConfiguration {
    /// The `issuer` value that stands for airlock's built-in token issuer.
    pub const LOCAL_ISSUER: &'static str = "local";
}

/// Integration types airlock implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum IntegrationType {
    /// Pass the request through to an HTTP backend.
    #[serde(rename = "HTTP_PROXY")]
    HttpProxy,
}

/// How an integration reaches its backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum ConnectionType {
    /// Over the internet to a URL.
    #[default]
    #[serde(rename = "INTERNET")]
    Internet,
    /// Through a VPC link to a load balancer listener.
    #[serde(rename = "VPC_LINK")]
    VpcLink,
}

/// The payload format; only 1.0 is valid for HTTP_PROXY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum PayloadFormatVersion {
    /// `"1.0"`.
    #[default]
    #[serde(rename = "1.0")]
    V1,
}

fn default_integration_method() -> HttpMethod {
    HttpMethod::Any
}

fn default_timeout() -> u32 {
    30_000
}

/// An integration: where matched requests go.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Integration {
    /// The name routes refer to in `target`.
    pub name: String,
    /// The integration type.
    pub integration_type: IntegrationType,
    /// INTERNET (default) or VPC_LINK.
    #[serde(default)]
    pub connection_type: ConnectionType,
    /// The VPC link's name, for VPC_LINK.
    #[serde(default)]
    pub connection_id: Option<String>,
    /// A listener reference (`pets-alb:443`) for VPC_LINK, a URL for INTERNET.
    pub integration_uri: IntegrationUri,
    /// The method toward the backend; `ANY` forwards the client's.
    #[serde(default = "default_integration_method")]
    pub integration_method: HttpMethod,
    /// The payload format (`"1.0"`).
    #[serde(default)]
    pub payload_format_version: PayloadFormatVersion,
    /// 50 to 30000 ms.
    #[serde(default = "default_timeout")]
    pub timeout_in_millis: u32,
    /// Makes a private integration speak TLS to the listener.
    #[serde(default)]
    pub tls_config: Option<TlsConfig>,
    /// Request parameter mapping, e.g. `overwrite:header.x-user: $context.authorizer.claims.sub`
    /// (docs/aws-rules.md §HTTP-4.6).
    #[serde(default)]
    pub request_parameters: BTreeMap<String, String>,
    /// Response parameter mapping by integration status code, e.g.
    /// `"500": {overwrite:statuscode: "403"}` (docs/aws-rules.md §HTTP-4.6).
    #[serde(default)]
    pub response_parameters: BTreeMap<String, BTreeMap<String, String>>,
}

/// TLS toward a private integration's listener.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The SNI name sent, and the name the listener's certificate must match.
    pub server_name_to_verify: String,
}

/// How a route is authorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum AuthorizationType {
    /// Open.
    #[default]
    #[serde(rename = "NONE")]
    None,
    /// A JWT authorizer must accept the request.
    #[serde(rename = "JWT")]
    Jwt,
    /// A REQUEST (Lambda) authorizer must allow the request.
    #[serde(rename = "CUSTOM")]
    Custom,
    /// The request must be SigV4-signed by a credential of `iam_credentials` allowed to invoke it.
    #[serde(rename = "AWS_IAM")]
    AwsIam,
}

/// airlock extension: an IAM credential callers may sign `AWS_IAM` requests with, the principal
/// it stands for, and the `execute-api:Invoke` resources its identity policy allows.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IamCredential {
    /// `AKIA...`.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The principal's ARN, `arn:aws:iam::<account>:user/<name>` (or `role/...`).
    pub principal: String,
    /// Resource ARNs (wildcards `*`, `?`) of `execute-api:Invoke` Allow statements.
    #[serde(default)]
    pub allow_invoke: Vec<String>,
}

/// A route: a route key, its authorization, and the integration it targets.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// `$default` or `<METHOD> <path>`.
    pub route_key: RouteKey,
    /// NONE (default) or JWT.
    #[serde(default)]
    pub authorization_type: AuthorizationType,
    /// The authorizer's name, for JWT.
    #[serde(default)]
    pub authorizer_id: Option<String>,
    /// Scopes of which the token needs at least one (JWT only, at most 10).
    #[serde(default)]
    pub authorization_scopes: Vec<String>,
    /// The integration's name.
    pub target: String,
}

/// A stage of an HTTP API.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// `$default` or a name served under `/<name>`.
    pub stage_name: StageName,
    /// airlock always serves the current configuration; kept for fidelity.
    #[serde(default = "default_true")]
    pub auto_deploy: bool,
    /// Stage variables.
    #[serde(default)]
    pub stage_variables: BTreeMap<String, String>,
    /// Throttling for every route of the stage (docs/aws-rules.md §HTTP-3.3).
    #[serde(default)]
    pub default_route_settings: Option<RouteSettings>,
    /// Per-route throttling, keyed by route key (`"GET /pets"`); overrides the default.
    #[serde(default)]
    pub route_settings: BTreeMap<String, RouteSettings>,
    /// Access logging (docs/aws-rules.md §HTTP-9).
    #[serde(default)]
    pub access_log_settings: Option<AccessLogSettings>,
}

/// A stage's route settings (HTTP APIs use only throttling and detailed metrics).
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSettings {
    /// Bucket size; unset means unlimited (the account limit is not enforced).
    #[serde(default)]
    pub throttling_burst_limit: Option<u32>,
    /// Steady requests per second.
    #[serde(default)]
    pub throttling_rate_limit: Option<f64>,
    /// Kept for fidelity; airlock has no metrics.
    #[serde(default)]
    pub detailed_metrics_enabled: bool,
}

/// Where and how a stage writes access logs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessLogSettings {
    /// A log group ARN, `arn:aws:logs:<region>:<account>:log-group:<name>`; airlock writes
    /// `<state dir>/logs/<name>.log`.
    pub destination_arn: String,
    /// One line with `$context` variables; must contain `$context.requestId`. `CLF` and `JSON`
    /// stand for the console presets.
    pub format: String,
}

impl AccessLogSettings {
    /// The log group's name, when the ARN is well formed.
    pub fn log_group(&self) -> Option<&str> {
        let rest = self.destination_arn.strip_prefix("arn:aws:logs:")?;
        let mut parts = rest.splitn(3, ':');
        let (_region, _account, group) = (parts.next()?, parts.next()?, parts.next()?);
        let name = group.strip_prefix("log-group:")?;
        let name = name.strip_suffix(":*").unwrap_or(name);
        let ok = !name.is_empty()
            && name.len() <= 512
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-/.#".contains(&b))
            && !name.split('/').any(|seg| seg == ".." || seg == ".");
        ok.then_some(name)
    }
}

/// A custom domain name for HTTP APIs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainName {
    /// The lower-case host name.
    pub domain_name: String,
    /// The certificate's name.
    pub certificate: String,
    /// Which API stage serves which base path.
    #[serde(default)]
    pub api_mappings: Vec<ApiMapping>,
}

/// Maps a base path of a custom domain to an API stage.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiMapping {
    /// The API's name.
    pub api: String,
    /// The stage's name.
    pub stage: StageName,
    /// The base path; empty serves the root.
    #[serde(default)]
    pub api_mapping_key: String,
}

/// A VPC link (V2): API Gateway's interfaces in the VPC.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpcLink {
    /// The name integrations refer to in `connection_id`.
    pub name: String,
    /// Subnets (by name) holding one interface each.
    #[serde(default)]
    pub subnet_ids: Vec<String>,
    /// Security groups (by name) the interfaces carry.
    #[serde(default)]
    pub security_group_ids: Vec<String>,
}

impl HttpApi {
    /// The integration named `name`.
    pub fn integration(&self, name: &str) -> Option<&Integration> {
        self.integrations.iter().find(|i| i.name == name)
    }

    /// The authorizer named `name`.
    pub fn authorizer(&self, name: &str) -> Option<&Authorizer> {
        self.authorizers.iter().find(|a| a.name == name)
    }

    /// The stage named `name`.
    pub fn stage(&self, name: &StageName) -> Option<&Stage> {
        self.stages.iter().find(|s| &s.stage_name == name)
    }
}
