//! The stack file's types. Field names are the YAML keys: AWS API / CloudFormation property names
//! in snake_case, so a CloudFormation import maps one to one. Resources refer to each other by
//! name where CloudFormation would use `!Ref`.
//!
//! Values of these types have passed every check in `validate`; code that receives a [`Stack`]
//! from [`crate::parse`] may rely on every reference resolving.

use std::collections::BTreeMap;

use ipnet::Ipv4Net;
use serde::Deserialize;

use crate::scalars::{
    AccountId, BuiltinApp, CpuUnits, HealthCheckPort, HttpCodes, HttpMethod, IdentitySource,
    IntegrationUri, MemoryMib, Region, RouteKey, StageName, TargetType,
};

fn yes() -> bool {
    true
}

/// A whole stack: one region of one account, one VPC, and everything that runs in it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stack {
    /// The region, e.g. `us-east-1`; appears in generated DNS names.
    pub region: Region,
    /// The 12-digit account id (quote it in YAML).
    pub account_id: AccountId,
    /// The one VPC everything private lives in.
    pub vpc: Vpc,
    /// Places a user or a test can stand inside the cloud.
    #[serde(default)]
    pub vantage_points: VantagePoints,
    /// TLS certificates (ACM stand-ins), issued by airlock's local CA.
    #[serde(default)]
    pub certificates: Vec<Certificate>,
    /// Route 53 hosted zones.
    #[serde(default)]
    pub hosted_zones: Vec<HostedZone>,
    /// API Gateway HTTP APIs.
    #[serde(default)]
    pub http_apis: Vec<HttpApi>,
    /// airlock extension: credentials for `AWS_IAM` routes.
    #[serde(default)]
    pub iam_credentials: Vec<IamCredential>,
    /// API Gateway custom domain names.
    #[serde(default)]
    pub domain_names: Vec<DomainName>,
    /// API Gateway VPC links (V2).
    #[serde(default)]
    pub vpc_links: Vec<VpcLink>,
    /// Application load balancers.
    #[serde(default)]
    pub load_balancers: Vec<LoadBalancer>,
    /// ALB target groups.
    #[serde(default)]
    pub target_groups: Vec<TargetGroup>,
    /// ECS clusters.
    #[serde(default)]
    pub clusters: Vec<Cluster>,
    /// ECS task definitions (one revision each).
    #[serde(default)]
    pub task_definitions: Vec<TaskDefinition>,
    /// ECS services.
    #[serde(default)]
    pub services: Vec<Service>,
    /// Redirects container images (e.g. an ECR URI of a task definition kept in a repository) to
    /// a built-in app, a local command or a local image, so the task definition runs unchanged.
    /// Keys are image names; a key without a tag or digest matches every tag of that repository.
    #[serde(default)]
    pub image_map: BTreeMap<String, ImageTarget>,
}

/// The VPC: an IPv4 CIDR (/16 to /28), its subnets and security groups.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vpc {
    /// The VPC's CIDR block.
    pub cidr_block: Ipv4Net,
    /// Subnets, inside the VPC CIDR and not overlapping.
    #[serde(default)]
    pub subnets: Vec<Subnet>,
    /// Security groups.
    #[serde(default)]
    pub security_groups: Vec<SecurityGroup>,
}

/// A subnet in one availability zone.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subnet {
    /// The name other resources refer to.
    pub name: String,
    /// The subnet's CIDR block (canonical, inside the VPC's).
    pub cidr_block: Ipv4Net,
    /// The availability zone, the region plus a letter (`us-east-1a`).
    pub availability_zone: String,
}

/// A security group: stateful allow rules on the interfaces that carry it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroup {
    /// The group's name, which other resources refer to.
    pub group_name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Inbound allow rules; none means no inbound traffic.
    #[serde(default)]
    pub ingress: Vec<IngressRule>,
    /// Outbound allow rules; absent means allow all (the AWS default), present means only these.
    #[serde(default)]
    pub egress: Option<Vec<EgressRule>>,
}

/// An IP protocol as security group rules name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum IpProtocol {
    /// `tcp`
    #[serde(rename = "tcp")]
    Tcp,
    /// `udp`
    #[serde(rename = "udp")]
    Udp,
    /// `icmp` (ports are ICMP type and code).
    #[serde(rename = "icmp")]
    Icmp,
    /// `-1`: every protocol and port.
    #[serde(rename = "-1")]
    All,
}

/// An inbound rule: protocol and ports from one source, a CIDR or a security group.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngressRule {
    /// The protocol.
    pub ip_protocol: IpProtocol,
    /// First port (tcp/udp), or ICMP type; absent or -1 for protocol `-1`.
    #[serde(default)]
    pub from_port: Option<i32>,
    /// Last port (tcp/udp), or ICMP code; absent or -1 for protocol `-1`.
    #[serde(default)]
    pub to_port: Option<i32>,
    /// Source addresses.
    #[serde(default)]
    pub cidr_ip: Option<Ipv4Net>,
    /// Source: interfaces carrying this group (by `group_name`).
    #[serde(default)]
    pub source_security_group: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
}

/// An outbound rule: protocol and ports to one destination, a CIDR or a security group.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressRule {
    /// The protocol.
    pub ip_protocol: IpProtocol,
    /// First port (tcp/udp), or ICMP type; absent or -1 for protocol `-1`.
    #[serde(default)]
    pub from_port: Option<i32>,
    /// Last port (tcp/udp), or ICMP code; absent or -1 for protocol `-1`.
    #[serde(default)]
    pub to_port: Option<i32>,
    /// Destination addresses.
    #[serde(default)]
    pub cidr_ip: Option<Ipv4Net>,
    /// Destination: interfaces carrying this group (by `group_name`).
    #[serde(default)]
    pub destination_security_group: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
}

/// The port range a validated rule covers, or `None` for "all traffic" (`-1`) and ICMP.
fn rule_ports(
    protocol: IpProtocol,
    from: Option<i32>,
    to: Option<i32>,
) -> Option<std::ops::RangeInclusive<u16>> {
    match protocol {
        IpProtocol::Tcp | IpProtocol::Udp => {
            let from = u16::try_from(from?).ok()?;
            let to = u16::try_from(to?).ok()?;
            Some(from..=to)
        }
        IpProtocol::Icmp | IpProtocol::All => None,
    }
}

impl IngressRule {
    /// The tcp/udp port range; `None` for protocols without ports.
    pub fn ports(&self) -> Option<std::ops::RangeInclusive<u16>> {
        rule_ports(self.ip_protocol, self.from_port, self.to_port)
    }
}

impl EgressRule {
    /// The tcp/udp port range; `None` for protocols without ports.
    pub fn ports(&self) -> Option<std::ops::RangeInclusive<u16>> {
        rule_ports(self.ip_protocol, self.from_port, self.to_port)
    }
}

/// Places a user or a test can stand inside the cloud.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VantagePoints {
    /// A vantage point inside the VPC (a bastion-like interface).
    #[serde(default)]
    pub vpc: Option<VpcVantage>,
}

/// An interface inside the VPC that a user's traffic can originate from.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpcVantage {
    /// The subnet it sits in.
    pub subnet: String,
    /// The security groups it carries.
    #[serde(default)]
    pub security_groups: Vec<String>,
}

/// A certificate (ACM stand-in), issued by airlock's local CA.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    /// The name other resources refer to.
    pub name: String,
    /// The primary name; `*.example.com` wildcards are allowed.
    pub domain_name: String,
    /// Further names the certificate covers.
    #[serde(default)]
    pub subject_alternative_names: Vec<String>,
}

impl Certificate {
    /// Whether the certificate covers `host` (a wildcard covers exactly one leftmost label).
    pub fn covers(&self, host: &str) -> bool {
        std::iter::once(&self.domain_name)
            .chain(&self.subject_alternative_names)
            .any(|name| dns_name_matches(name, host))
    }
}

pub(crate) fn dns_name_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => pattern == host,
    }
}

/// A Route 53 hosted zone.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostedZone {
    /// The zone's domain, e.g. `example.com`.
    pub name: String,
    /// A private zone answers only queries from inside the VPC (split horizon).
    #[serde(default)]
    pub private_zone: bool,
    /// The zone's records.
    #[serde(default)]
    pub records: Vec<Record>,
}

/// A DNS record type airlock serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum RecordType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    #[serde(rename = "AAAA")]
    Aaaa,
    /// Canonical name.
    #[serde(rename = "CNAME")]
    Cname,
    /// Text.
    #[serde(rename = "TXT")]
    Txt,
}

/// A record set: plain values, or an alias to a resource.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The owner name, inside the zone.
    pub name: String,
    /// The record type.
    #[serde(rename = "type")]
    pub r#type: RecordType,
    /// TTL in seconds; not allowed on alias records.
    #[serde(default)]
    pub ttl: Option<u32>,
    /// The values (for a non-alias record).
    #[serde(default)]
    pub resource_records: Vec<String>,
    /// An alias to a resource (instead of values).
    #[serde(default)]
    pub alias_target: Option<AliasTarget>,
}

/// What an alias record points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AliasDestination {
    /// An API Gateway custom domain (by its `domain_name`).
    CustomDomain(String),
    /// A load balancer (by its `name`).
    LoadBalancer(String),
}

/// An alias: exactly one of `custom_domain` or `load_balancer`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawAliasTarget")]
pub struct AliasTarget {
    /// The resource the alias answers with.
    pub destination: AliasDestination,
    /// Whether the alias follows the target's health.
    pub evaluate_target_health: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAliasTarget {
    #[serde(default)]
    custom_domain: Option<String>,
    #[serde(default)]
    load_balancer: Option<String>,
    #[serde(default)]
    evaluate_target_health: bool,
}

impl TryFrom<RawAliasTarget> for AliasTarget {
    type Error = String;
    fn try_from(raw: RawAliasTarget) -> Result<Self, String> {
        let destination = match (raw.custom_domain, raw.load_balancer) {
            (Some(d), None) => AliasDestination::CustomDomain(d),
            (None, Some(l)) => AliasDestination::LoadBalancer(l),
            _ => {
                return Err("an alias_target needs exactly one of custom_domain or load_balancer (hint: keep one of the two)".to_owned());
            }
        };
        Ok(AliasTarget {
            destination,
            evaluate_target_health: raw.evaluate_target_health,
        })
    }
}

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
    /// CORS answered by the gateway (http-api.md §2.8).
    #[serde(default)]
    pub cors_configuration: Option<CorsConfiguration>,
}

/// An API's `CorsConfiguration` (http-api.md §2.8).
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
    /// A JWT authorizer (http-api.md §5.1).
    #[serde(rename = "JWT")]
    Jwt,
    /// A Lambda REQUEST authorizer (http-api.md §5.2), run locally.
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
    /// (http-api.md §4.6).
    #[serde(default)]
    pub request_parameters: BTreeMap<String, String>,
    /// Response parameter mapping by integration status code, e.g.
    /// `"500": {overwrite:statuscode: "403"}` (http-api.md §4.6).
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
    #[serde(default = "yes")]
    pub auto_deploy: bool,
    /// Stage variables.
    #[serde(default)]
    pub stage_variables: BTreeMap<String, String>,
    /// Throttling for every route of the stage (http-api.md §3.3).
    #[serde(default)]
    pub default_route_settings: Option<RouteSettings>,
    /// Per-route throttling, keyed by route key (`"GET /pets"`); overrides the default.
    #[serde(default)]
    pub route_settings: BTreeMap<String, RouteSettings>,
    /// Access logging (http-api.md §9).
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

/// An ALB scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum Scheme {
    /// Private node addresses only.
    #[serde(rename = "internal")]
    Internal,
    /// The AWS default.
    #[default]
    #[serde(rename = "internet-facing")]
    InternetFacing,
}

/// An application load balancer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancer {
    /// ≤32 letters, digits, hyphens; not starting with `internal-`.
    pub name: String,
    /// internal or internet-facing (default).
    #[serde(default)]
    pub scheme: Scheme,
    /// At least two subnets in different availability zones.
    #[serde(default)]
    pub subnets: Vec<String>,
    /// Security groups (by name) the nodes carry.
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// Listeners.
    #[serde(default)]
    pub listeners: Vec<Listener>,
    /// Load balancer attributes (alb-ecs-dns.md §1.2).
    #[serde(default)]
    pub attributes: LoadBalancerAttributes,
}

/// Load balancer attributes: each field is the AWS attribute key with `.` written `_`
/// (`idle_timeout.timeout_seconds` → `idle_timeout_timeout_seconds`, ...). Defaults are AWS's.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancerAttributes {
    /// `idle_timeout.timeout_seconds`: 1 to 4000, default 60.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_timeout_seconds: u32,
    /// `routing.http.desync_mitigation_mode`: `monitor`, `defensive` (default), `strictest`.
    #[serde(default = "default_desync_mode")]
    pub routing_http_desync_mitigation_mode: String,
    /// `routing.http.preserve_host_header.enabled`, default false.
    #[serde(default)]
    pub routing_http_preserve_host_header_enabled: bool,
    /// `routing.http.xff_header_processing.mode`: `append` (default), `preserve`, `remove`.
    #[serde(default = "default_xff_mode")]
    pub routing_http_xff_header_processing_mode: String,
    /// `routing.http.xff_client_port.enabled`, default false.
    #[serde(default)]
    pub routing_http_xff_client_port_enabled: bool,
}

impl Default for LoadBalancerAttributes {
    fn default() -> Self {
        LoadBalancerAttributes {
            idle_timeout_timeout_seconds: default_idle_timeout(),
            routing_http_desync_mitigation_mode: default_desync_mode(),
            routing_http_preserve_host_header_enabled: false,
            routing_http_xff_header_processing_mode: default_xff_mode(),
            routing_http_xff_client_port_enabled: false,
        }
    }
}

fn default_idle_timeout() -> u32 {
    60
}
fn default_desync_mode() -> String {
    "defensive".to_owned()
}
fn default_xff_mode() -> String {
    "append".to_owned()
}

impl LoadBalancer {
    /// The listener on `port`.
    pub fn listener(&self, port: u16) -> Option<&Listener> {
        self.listeners.iter().find(|l| l.port == port)
    }
}

/// A listener or target group protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum Protocol {
    /// Plain HTTP.
    #[default]
    #[serde(rename = "HTTP")]
    Http,
    /// HTTP over TLS.
    #[serde(rename = "HTTPS")]
    Https,
}

/// A listener: protocol, port, certificates, rules and the default action.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// HTTP or HTTPS.
    pub protocol: Protocol,
    /// 1 to 65535, unique per load balancer.
    pub port: u16,
    /// Certificate names; the first is the default. HTTPS needs one or more; HTTP none.
    #[serde(default)]
    pub certificates: Vec<String>,
    /// Exactly one action, run when no rule matches.
    #[serde(default)]
    pub default_actions: Vec<Action>,
    /// Rules, evaluated by ascending priority.
    #[serde(default)]
    pub rules: Vec<ListenerRule>,
}

/// A listener rule.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerRule {
    /// 1 to 50000, unique per listener; lower first.
    pub priority: u32,
    /// All must match (values within one condition are alternatives).
    #[serde(default)]
    pub conditions: Vec<RuleCondition>,
    /// Exactly one action.
    #[serde(default)]
    pub actions: Vec<Action>,
}

/// What a rule condition inspects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum ConditionField {
    /// The Host header (case-insensitive glob).
    #[serde(rename = "host-header")]
    HostHeader,
    /// The URL path (case-sensitive glob).
    #[serde(rename = "path-pattern")]
    PathPattern,
    /// A named header (`http_header_name`).
    #[serde(rename = "http-header")]
    HttpHeader,
    /// The request method (exact).
    #[serde(rename = "http-request-method")]
    HttpRequestMethod,
    /// Query parameters: values `key=value`, or `value` for any key.
    #[serde(rename = "query-string")]
    QueryString,
    /// The peer address (CIDR values).
    #[serde(rename = "source-ip")]
    SourceIp,
}

/// A rule condition: a field and the values of which one must match.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleCondition {
    /// What is inspected.
    pub field: ConditionField,
    /// The header name, for `http-header` only.
    #[serde(default)]
    pub http_header_name: Option<String>,
    /// 1 to 3 values; one must match.
    #[serde(default)]
    pub values: Vec<String>,
}

/// A redirect's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum RedirectStatus {
    /// 301 Moved Permanently.
    #[serde(rename = "HTTP_301")]
    Http301,
    /// 302 Found.
    #[serde(rename = "HTTP_302")]
    Http302,
}

/// A redirect action: unspecified parts keep the request's value (`#{...}` placeholders allowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectAction {
    /// `HTTP`, `HTTPS` or `#{protocol}`.
    pub protocol: Option<String>,
    /// Host, may use `#{host}`.
    pub host: Option<String>,
    /// Port, or `#{port}`.
    pub port: Option<String>,
    /// Absolute path, may use placeholders.
    pub path: Option<String>,
    /// Query without `?`.
    pub query: Option<String>,
    /// 301 or 302.
    pub status_code: RedirectStatus,
}

/// A fixed response action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedResponseAction {
    /// A 2XX, 4XX or 5XX status.
    pub status_code: u16,
    /// The content type.
    pub content_type: Option<String>,
    /// Up to 1024 characters.
    pub message_body: Option<String>,
}

/// A listener action, tagged by `type` as in the ELB API.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawAction")]
pub enum Action {
    /// `forward`: to a target group (by name).
    Forward {
        /// The target group's name.
        target_group: String,
    },
    /// `forward` with `target_groups` (the ELB API's `ForwardConfig`): 1 to 5 weighted groups,
    /// optionally with group stickiness.
    WeightedForward(ForwardConfig),
    /// `fixed-response`.
    FixedResponse(FixedResponseAction),
    /// `redirect`.
    Redirect(RedirectAction),
}

impl Action {
    /// The target group this action forwards to, if it forwards to exactly one by name.
    pub fn target_group(&self) -> Option<&str> {
        match self {
            Action::Forward { target_group } => Some(target_group),
            _ => None,
        }
    }

    /// Every target group this action forwards to.
    pub fn target_groups(&self) -> Vec<&str> {
        match self {
            Action::Forward { target_group } => vec![target_group.as_str()],
            Action::WeightedForward(f) => f
                .target_groups
                .iter()
                .map(|t| t.target_group.as_str())
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// A forward's `ForwardConfig` (alb-ecs-dns.md §1.6): weighted groups and group stickiness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardConfig {
    /// 1 to 5 groups; each gets weight / sum of weights of the traffic.
    pub target_groups: Vec<WeightedTargetGroup>,
    /// `TargetGroupStickinessConfig`; absent means off.
    pub target_group_stickiness_config: Option<TargetGroupStickinessConfig>,
}

/// One entry of `ForwardConfig.TargetGroups` (`TargetGroupTuple`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightedTargetGroup {
    /// The target group's name.
    pub target_group: String,
    /// 0 to 999; AWS's default when omitted is 1.
    #[serde(default = "default_weight")]
    pub weight: u16,
}

fn default_weight() -> u16 {
    1
}

/// `TargetGroupStickinessConfig`: the `AWSALBTG` cookie keeps a client on its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetGroupStickinessConfig {
    /// Whether group stickiness is on.
    #[serde(default)]
    pub enabled: bool,
    /// 1 to 604800 seconds; required when enabled.
    #[serde(default)]
    pub duration_seconds: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    target_group: Option<String>,
    #[serde(default)]
    target_groups: Option<Vec<WeightedTargetGroup>>,
    #[serde(default)]
    target_group_stickiness_config: Option<TargetGroupStickinessConfig>,
    #[serde(default)]
    status_code: Option<StringOrNumber>,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    message_body: Option<String>,
    #[serde(default)]
    protocol: Option<String>,
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    port: Option<StringOrNumber>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    query: Option<String>,
}

/// Status codes and ports are strings in the ELB API, but people write numbers.
#[derive(Deserialize)]
#[serde(untagged)]
enum StringOrNumber {
    Number(u64),
    Text(String),
}

impl StringOrNumber {
    fn into_string(self) -> String {
        match self {
            StringOrNumber::Number(n) => n.to_string(),
            StringOrNumber::Text(t) => t,
        }
    }
}

impl TryFrom<RawAction> for Action {
    type Error = String;
    fn try_from(raw: RawAction) -> Result<Self, String> {
        let kind = raw.kind.as_str();
        let stray = |fields: &[(&str, bool)]| -> Result<(), String> {
            match fields.iter().find(|(_, present)| *present) {
                Some((name, _)) => Err(format!(
                    "`{name}` does not belong to a `{kind}` action (hint: remove it)"
                )),
                None => Ok(()),
            }
        };
        match kind {
            "forward" => {
                stray(&[
                    ("status_code", raw.status_code.is_some()),
                    ("content_type", raw.content_type.is_some()),
                    ("message_body", raw.message_body.is_some()),
                    ("protocol", raw.protocol.is_some()),
                    ("host", raw.host.is_some()),
                    ("port", raw.port.is_some()),
                    ("path", raw.path.is_some()),
                    ("query", raw.query.is_some()),
                ])?;
                forward_action(
                    raw.target_group,
                    raw.target_groups,
                    raw.target_group_stickiness_config,
                )
            }
            "fixed-response" | "fixed_response" => {
                stray(&[
                    ("target_group", raw.target_group.is_some()),
                    ("target_groups", raw.target_groups.is_some()),
                    (
                        "target_group_stickiness_config",
                        raw.target_group_stickiness_config.is_some(),
                    ),
                    ("protocol", raw.protocol.is_some()),
                    ("host", raw.host.is_some()),
                    ("port", raw.port.is_some()),
                    ("path", raw.path.is_some()),
                    ("query", raw.query.is_some()),
                ])?;
                let code = raw
                    .status_code
                    .ok_or("a fixed-response action needs `status_code` (hint: e.g. status_code: \"404\")")?
                    .into_string();
                let status_code = match code.parse::<u16>() {
                    Ok(c) if matches!(c / 100, 2 | 4 | 5) => c,
                    _ => {
                        return Err(format!(
                            "fixed-response status_code {code:?} is not a 2XX, 4XX or 5XX code (hint: e.g. \"404\")"
                        ));
                    }
                };
                if let Some(ct) = &raw.content_type {
                    const TYPES: [&str; 5] = [
                        "text/plain",
                        "text/css",
                        "text/html",
                        "application/javascript",
                        "application/json",
                    ];
                    if !TYPES.contains(&ct.as_str()) {
                        return Err(format!(
                            "content_type {ct:?} is not allowed (hint: use one of {})",
                            TYPES.join(", ")
                        ));
                    }
                }
                if raw
                    .message_body
                    .as_ref()
                    .is_some_and(|b| b.chars().count() > 1024)
                {
                    return Err(
                        "message_body is longer than 1024 characters (hint: shorten it)".to_owned(),
                    );
                }
                Ok(Action::FixedResponse(FixedResponseAction {
                    status_code,
                    content_type: raw.content_type,
                    message_body: raw.message_body,
                }))
            }
            "redirect" => {
                stray(&[
                    ("target_group", raw.target_group.is_some()),
                    ("target_groups", raw.target_groups.is_some()),
                    (
                        "target_group_stickiness_config",
                        raw.target_group_stickiness_config.is_some(),
                    ),
                    ("content_type", raw.content_type.is_some()),
                    ("message_body", raw.message_body.is_some()),
                ])?;
                let code = raw
                    .status_code
                    .ok_or("a redirect action needs `status_code` (hint: HTTP_301 or HTTP_302)")?
                    .into_string();
                let status_code = match code.as_str() {
                    "HTTP_301" | "301" => RedirectStatus::Http301,
                    "HTTP_302" | "302" => RedirectStatus::Http302,
                    _ => {
                        return Err(format!(
                            "redirect status_code {code:?} is not valid (hint: HTTP_301 or HTTP_302)"
                        ));
                    }
                };
                if let Some(p) = &raw.protocol
                    && !matches!(p.as_str(), "HTTP" | "HTTPS" | "#{protocol}")
                {
                    return Err(format!(
                        "redirect protocol {p:?} is not valid (hint: HTTP, HTTPS or #{{protocol}})"
                    ));
                }
                let port = raw.port.map(StringOrNumber::into_string);
                if let Some(p) = &port
                    && p != "#{port}"
                    && !p.parse::<u16>().is_ok_and(|n| n > 0)
                {
                    return Err(format!(
                        "redirect port {p:?} is not valid (hint: 1-65535 or #{{port}})"
                    ));
                }
                if let Some(p) = &raw.path
                    && !p.starts_with('/')
                {
                    return Err(format!(
                        "redirect path {p:?} must be absolute (hint: start it with `/`, e.g. \"/#{{path}}\")"
                    ));
                }
                if raw.protocol.is_none()
                    && raw.host.is_none()
                    && port.is_none()
                    && raw.path.is_none()
                {
                    return Err("a redirect must change at least one of protocol, host, port or path (hint: otherwise it loops)".to_owned());
                }
                Ok(Action::Redirect(RedirectAction {
                    protocol: raw.protocol,
                    host: raw.host,
                    port,
                    path: raw.path,
                    query: raw.query,
                    status_code,
                }))
            }
            "authenticate-oidc" | "authenticate-cognito" | "jwt-validation" => Err(format!(
                "`{kind}` actions are not supported by airlock yet (hint: authenticate at the API's JWT authorizer instead, and use forward, redirect or fixed-response here)"
            )),
            other => Err(format!(
                "unknown action type {other:?} (hint: use forward, redirect or fixed-response)"
            )),
        }
    }
}

/// A forward action from its three spellings (alb-ecs-dns.md §1.6): `target_group` alone, or
/// `target_groups` (then `target_group`, if also given, must be its only entry), with optional
/// group stickiness.
fn forward_action(
    target_group: Option<String>,
    target_groups: Option<Vec<WeightedTargetGroup>>,
    stickiness: Option<TargetGroupStickinessConfig>,
) -> Result<Action, String> {
    let Some(groups) = target_groups else {
        if stickiness.is_some() {
            return Err("`target_group_stickiness_config` needs `target_groups` (hint: list the groups with their weights)".to_owned());
        }
        let target_group = target_group.ok_or(
            "a forward action needs `target_group` (hint: name the target group to forward to)",
        )?;
        return Ok(Action::Forward { target_group });
    };
    if groups.is_empty() || groups.len() > 5 {
        return Err(format!(
            "a forward action takes 1 to 5 target groups, found {} (hint: the quota is 5 per action)",
            groups.len()
        ));
    }
    if let Some(single) = &target_group
        && !(groups.len() == 1 && &groups[0].target_group == single)
    {
        return Err("`target_group` and `target_groups` disagree (hint: give only `target_groups`, or make it list exactly that one group)".to_owned());
    }
    if let Some(g) = groups.iter().find(|g| g.weight > 999) {
        return Err(format!(
            "target group {:?} has weight {}; weights are 0 to 999",
            g.target_group, g.weight
        ));
    }
    if let Some((i, g)) = groups.iter().enumerate().find(|(i, g)| {
        groups[..*i]
            .iter()
            .any(|o| o.target_group == g.target_group)
    }) {
        return Err(format!(
            "target group {:?} is listed twice (entry {i}) (hint: list each group once)",
            g.target_group
        ));
    }
    if let Some(st) = &stickiness
        && st.enabled
        && !st
            .duration_seconds
            .is_some_and(|d| (1..=604_800).contains(&d))
    {
        return Err(
            "group stickiness needs `duration_seconds` between 1 and 604800 (hint: e.g. 3600)"
                .to_owned(),
        );
    }
    Ok(Action::WeightedForward(ForwardConfig {
        target_groups: groups,
        target_group_stickiness_config: stickiness,
    }))
}

/// An ALB target group.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetGroup {
    /// ≤32 letters, digits, hyphens.
    pub name: String,
    /// HTTP or HTTPS toward targets.
    pub protocol: Protocol,
    /// The default target port.
    pub port: u16,
    /// `ip` (Fargate).
    pub target_type: TargetType,
    /// Health check settings; absent means the AWS defaults.
    #[serde(default)]
    pub health_check: Option<HealthCheck>,
    // Target group attributes (alb-ecs-dns.md §3.5–§3.8). Each field is the AWS attribute key
    // with `.` written `_`: `deregistration_delay.timeout_seconds`,
    // `load_balancing.algorithm.type`, `slow_start.duration_seconds`, and `stickiness.*` grouped
    // under `stickiness` (`stickiness.enabled` is implied by its presence).
    /// `deregistration_delay.timeout_seconds`: 0 to 3600, default 300.
    #[serde(default = "default_deregistration_delay")]
    pub deregistration_delay_timeout_seconds: u32,
    /// `load_balancing.algorithm.type`: `round_robin` (default), `least_outstanding_requests`
    /// or `weighted_random`.
    #[serde(default)]
    pub load_balancing_algorithm_type: LoadBalancingAlgorithm,
    /// `slow_start.duration_seconds`: 0 (off, default) or 30 to 900.
    #[serde(default)]
    pub slow_start_duration_seconds: u32,
    /// `stickiness.*`: absent means stickiness off.
    #[serde(default)]
    pub stickiness: Option<TargetGroupStickiness>,
}

fn default_deregistration_delay() -> u32 {
    300
}

/// `load_balancing.algorithm.type` of a target group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadBalancingAlgorithm {
    /// Rotate over healthy targets (the default).
    #[default]
    RoundRobin,
    /// The target with the fewest in-flight requests.
    LeastOutstandingRequests,
    /// Random, weighted.
    WeightedRandom,
}

/// `stickiness.type` of a target group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StickinessType {
    /// The load balancer's `AWSALB` cookie (the default).
    #[default]
    LbCookie,
    /// `AWSALBAPP-0`, following the application's own cookie.
    AppCookie,
}

/// Target stickiness: `stickiness.type`, `stickiness.{lb,app}_cookie.duration_seconds`,
/// `stickiness.app_cookie.cookie_name`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetGroupStickiness {
    /// `lb_cookie` (default) or `app_cookie`.
    #[serde(default, rename = "type")]
    pub kind: StickinessType,
    /// 1 to 604800, default 86400.
    #[serde(default = "default_stickiness_duration")]
    pub duration_seconds: u32,
    /// `app_cookie` only: the application's cookie; must not start with `AWSALB`.
    #[serde(default)]
    pub cookie_name: Option<String>,
}

fn default_stickiness_duration() -> u32 {
    86_400
}

impl TargetGroup {
    /// The health check in force: the configured one, or the AWS defaults.
    pub fn effective_health_check(&self) -> HealthCheck {
        self.health_check.clone().unwrap_or_default()
    }
}

fn default_hc_path() -> String {
    "/".to_owned()
}
fn default_interval() -> u32 {
    30
}
fn default_hc_timeout() -> u32 {
    5
}
fn default_healthy() -> u32 {
    5
}
fn default_unhealthy() -> u32 {
    2
}

/// A target group health check (alb-ecs-dns.md §3.2).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// HTTP (default) or HTTPS; the method is always GET.
    #[serde(default)]
    pub protocol: Protocol,
    /// Path and optional query, default `/`.
    #[serde(default = "default_hc_path")]
    pub path: String,
    /// `traffic-port` (default) or a port.
    #[serde(default)]
    pub port: HealthCheckPort,
    /// 5 to 300, default 30.
    #[serde(default = "default_interval")]
    pub interval_seconds: u32,
    /// 2 to 120, default 5; less than the interval.
    #[serde(default = "default_hc_timeout")]
    pub timeout_seconds: u32,
    /// 2 to 10, default 5.
    #[serde(default = "default_healthy")]
    pub healthy_threshold_count: u32,
    /// 2 to 10, default 2.
    #[serde(default = "default_unhealthy")]
    pub unhealthy_threshold_count: u32,
    /// Healthy status codes.
    #[serde(default)]
    pub matcher: Matcher,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            protocol: Protocol::Http,
            path: default_hc_path(),
            port: HealthCheckPort::TrafficPort,
            interval_seconds: default_interval(),
            timeout_seconds: default_hc_timeout(),
            healthy_threshold_count: default_healthy(),
            unhealthy_threshold_count: default_unhealthy(),
            matcher: Matcher::default(),
        }
    }
}

/// Healthy status codes of a health check.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matcher {
    /// Default `200`.
    #[serde(default)]
    pub http_code: HttpCodes,
}

/// An ECS cluster.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// The name services refer to.
    pub cluster_name: String,
}

/// A task network mode; Fargate requires awsvpc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum NetworkMode {
    /// Each task gets its own interface and private IP.
    #[default]
    #[serde(rename = "awsvpc")]
    Awsvpc,
}

/// An ECS task definition, written inline (snake_case) or read from ECS's own JSON with
/// `file: path/to/taskdef.json` (relative to the stack file; see `crate::taskdef`). Both come
/// out in this one shape.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, remote = "Self")]
pub struct TaskDefinition {
    /// The name services refer to.
    pub family: String,
    /// CPU units, a valid Fargate size with `memory`.
    pub cpu: CpuUnits,
    /// Memory in MiB.
    pub memory: MemoryMib,
    /// awsvpc (the default and only mode).
    #[serde(default)]
    pub network_mode: NetworkMode,
    /// Containers, at least one essential.
    #[serde(default)]
    pub container_definitions: Vec<ContainerDefinition>,
    /// The ECS JSON file this definition was read from, as written in the stack file.
    #[serde(default)]
    pub file: Option<String>,
}

impl TaskDefinition {
    /// The container named `name`.
    pub fn container(&self, name: &str) -> Option<&ContainerDefinition> {
        self.container_definitions.iter().find(|c| c.name == name)
    }
}

fn default_port_env_var() -> String {
    "PORT".to_owned()
}

/// A container: what runs (a built-in app, a local command or an image), its ports and
/// environment.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerDefinition {
    /// Unique within the task definition.
    pub name: String,
    /// A built-in app; exclusive with `command` and `image`.
    #[serde(default)]
    pub builtin: Option<BuiltinApp>,
    /// Without `image`: a local program and its arguments. With `image`: the image's CMD
    /// override, as in ECS.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// A container image (`repo/name:tag`), run through Docker unless `image_map` redirects it.
    #[serde(default)]
    pub image: Option<String>,
    /// The image's ENTRYPOINT override (`entryPoint`).
    #[serde(default)]
    pub entry_point: Option<Vec<String>>,
    /// The command's working directory (for an image: inside the container).
    #[serde(default)]
    pub working_directory: Option<String>,
    /// The environment variable that tells the program which port to listen on.
    #[serde(default = "default_port_env_var")]
    pub port_env_var: String,
    /// When an essential container stops, the task stops.
    #[serde(default = "yes")]
    pub essential: bool,
    /// Ports the container listens on.
    #[serde(default)]
    pub port_mappings: Vec<PortMapping>,
    /// Environment variables.
    #[serde(default)]
    pub environment: Vec<KeyValuePair>,
    /// A container health check (`healthCheck`).
    #[serde(default)]
    pub health_check: Option<ContainerHealthCheck>,
    /// Containers that must reach a condition before this one starts (`dependsOn`).
    #[serde(default)]
    pub depends_on: Vec<ContainerDependency>,
    /// Seconds between the stop signal and SIGKILL (Fargate: 2 to 120, default 30).
    #[serde(default)]
    pub stop_timeout: Option<u32>,
    /// Seconds to wait for `depends_on` conditions (Fargate: 2 to 120).
    #[serde(default)]
    pub start_timeout: Option<u32>,
    /// The log driver; `awslogs` options name the task's log file.
    #[serde(default)]
    pub log_configuration: Option<LogConfiguration>,
}

fn thirty() -> u32 {
    30
}
fn five() -> u32 {
    5
}
fn three() -> u32 {
    3
}

/// A container health check (§4.1): a command run in the container; exit 0 is healthy.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerHealthCheck {
    /// `["CMD", program, args...]` or `["CMD-SHELL", "shell command"]`.
    pub command: Vec<String>,
    /// Seconds between checks, 5 to 300 (default 30).
    #[serde(default = "thirty")]
    pub interval: u32,
    /// Seconds a check may take, 2 to 60 (default 5).
    #[serde(default = "five")]
    pub timeout: u32,
    /// Consecutive failures before UNHEALTHY, 1 to 10 (default 3).
    #[serde(default = "three")]
    pub retries: u32,
    /// Seconds after start in which failures do not count, 0 to 300 (default off).
    #[serde(default)]
    pub start_period: Option<u32>,
}

/// A `dependsOn` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum DependencyCondition {
    /// The dependency has started.
    #[serde(rename = "START")]
    Start,
    /// The dependency has exited.
    #[serde(rename = "COMPLETE")]
    Complete,
    /// The dependency has exited with code 0.
    #[serde(rename = "SUCCESS")]
    Success,
    /// The dependency's health check passed.
    #[serde(rename = "HEALTHY")]
    Healthy,
}

/// One `dependsOn` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerDependency {
    /// A container of the same task definition.
    pub container_name: String,
    /// What it must reach first.
    pub condition: DependencyCondition,
}

/// A container's `logConfiguration`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfiguration {
    /// e.g. `awslogs`.
    pub log_driver: String,
    /// Driver options, e.g. `awslogs-group`, `awslogs-stream-prefix`.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// Where an `image_map` entry sends an image: exactly one of `builtin`, `command`, `image`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageTarget {
    /// Run a built-in app instead.
    #[serde(default)]
    pub builtin: Option<BuiltinApp>,
    /// Run a local program instead (replacing the definition's entry point and command).
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// The local program's working directory.
    #[serde(default)]
    pub working_directory: Option<String>,
    /// The variable that tells the local program its port.
    #[serde(default = "default_port_env_var")]
    pub port_env_var: String,
    /// Run this local Docker image instead.
    #[serde(default)]
    pub image: Option<String>,
}

/// What a container runs, as written (before `image_map`; see [`Stack::runner`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program<'a> {
    /// A built-in app.
    Builtin(BuiltinApp),
    /// A local command: program then arguments (never empty).
    Command(&'a [String]),
    /// A container image.
    Image(&'a str),
}

impl ContainerDefinition {
    /// What the container runs (validation guarantees exactly one of builtin/command/image).
    pub fn program(&self) -> Program<'_> {
        match (&self.builtin, &self.image, &self.command) {
            (Some(app), _, _) => Program::Builtin(*app),
            (None, Some(image), _) => Program::Image(image),
            (None, None, command) => Program::Command(command.as_deref().unwrap_or_default()),
        }
    }
}

/// A transport protocol of a port mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum PortProtocol {
    /// TCP (default).
    #[default]
    #[serde(rename = "tcp")]
    Tcp,
    /// UDP.
    #[serde(rename = "udp")]
    Udp,
}

/// A container port.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortMapping {
    /// The port the container listens on (1 to 65535).
    pub container_port: u16,
    /// tcp (default) or udp.
    #[serde(default)]
    pub protocol: PortProtocol,
}

/// An environment variable.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyValuePair {
    /// The variable's name.
    pub name: String,
    /// Its value.
    pub value: String,
}

fn default_desired_count() -> u32 {
    1
}

/// An ECS service.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// The service's name (unique in the stack).
    pub service_name: String,
    /// The cluster's name.
    pub cluster: String,
    /// The task definition's family.
    pub task_definition: String,
    /// How many tasks to keep running (default 1).
    #[serde(default = "default_desired_count")]
    pub desired_count: u32,
    /// Where tasks get their interfaces.
    pub network_configuration: NetworkConfiguration,
    /// Target groups the tasks register in.
    #[serde(default)]
    pub load_balancers: Vec<ServiceLoadBalancer>,
    /// Rolling deployment bounds (defaults 200 / 100, as ECS).
    #[serde(default)]
    pub deployment_configuration: DeploymentConfiguration,
    /// Seconds after a task starts in which failing health checks are ignored (default 0).
    #[serde(default)]
    pub health_check_grace_period_seconds: u32,
}

/// `deploymentConfiguration` of a service (§4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentConfiguration {
    /// Upper bound of RUNNING + PENDING tasks, in percent of the desired count (default 200).
    #[serde(default = "two_hundred")]
    pub maximum_percent: u32,
    /// Lower bound of healthy tasks, in percent of the desired count (default 100).
    #[serde(default = "one_hundred")]
    pub minimum_healthy_percent: u32,
}

fn two_hundred() -> u32 {
    200
}
fn one_hundred() -> u32 {
    100
}

impl Default for DeploymentConfiguration {
    fn default() -> Self {
        DeploymentConfiguration {
            maximum_percent: 200,
            minimum_healthy_percent: 100,
        }
    }
}

/// A service's awsvpc configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfiguration {
    /// Subnets (by name), 1 to 16; tasks are spread over them.
    #[serde(default)]
    pub subnets: Vec<String>,
    /// Security groups (by name), at most 5.
    #[serde(default)]
    pub security_groups: Vec<String>,
}

/// A target group a service's tasks register in.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceLoadBalancer {
    /// The target group's name.
    pub target_group: String,
    /// The container whose port is registered.
    pub container_name: String,
    /// One of that container's `container_port`s.
    pub container_port: u16,
}

impl Stack {
    /// The subnet named `name`.
    pub fn subnet(&self, name: &str) -> Option<&Subnet> {
        self.vpc.subnets.iter().find(|s| s.name == name)
    }

    /// The security group named `name`.
    pub fn security_group(&self, name: &str) -> Option<&SecurityGroup> {
        self.vpc
            .security_groups
            .iter()
            .find(|g| g.group_name == name)
    }

    /// The certificate named `name`.
    pub fn certificate(&self, name: &str) -> Option<&Certificate> {
        self.certificates.iter().find(|c| c.name == name)
    }

    /// The HTTP API named `name`.
    pub fn http_api(&self, name: &str) -> Option<&HttpApi> {
        self.http_apis.iter().find(|a| a.name == name)
    }

    /// The custom domain named `domain_name` (case-insensitive).
    pub fn domain_name(&self, domain_name: &str) -> Option<&DomainName> {
        self.domain_names
            .iter()
            .find(|d| d.domain_name.eq_ignore_ascii_case(domain_name))
    }

    /// The VPC link named `name`.
    pub fn vpc_link(&self, name: &str) -> Option<&VpcLink> {
        self.vpc_links.iter().find(|l| l.name == name)
    }

    /// The load balancer named `name`.
    pub fn load_balancer(&self, name: &str) -> Option<&LoadBalancer> {
        self.load_balancers.iter().find(|l| l.name == name)
    }

    /// The listener a private integration points at.
    pub fn listener(&self, target: &crate::ListenerRef) -> Option<&Listener> {
        self.load_balancer(&target.load_balancer)?
            .listener(target.port)
    }

    /// The target group named `name`.
    pub fn target_group(&self, name: &str) -> Option<&TargetGroup> {
        self.target_groups.iter().find(|t| t.name == name)
    }

    /// The cluster named `name`.
    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.clusters.iter().find(|c| c.cluster_name == name)
    }

    /// The task definition of family `family`.
    pub fn task_definition(&self, family: &str) -> Option<&TaskDefinition> {
        self.task_definitions.iter().find(|t| t.family == family)
    }

    /// The service named `name`.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.service_name == name)
    }

    /// The hosted zone named `name` with the given visibility.
    pub fn hosted_zone(&self, name: &str, private_zone: bool) -> Option<&HostedZone> {
        self.hosted_zones.iter().find(|z| {
            z.private_zone == private_zone
                && z.name
                    .trim_end_matches('.')
                    .eq_ignore_ascii_case(name.trim_end_matches('.'))
        })
    }

    /// The services whose tasks register in target group `name`, with the attachment.
    pub fn services_in_target_group<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = (&'a Service, &'a ServiceLoadBalancer)> + 'a {
        self.services.iter().flat_map(move |s| {
            s.load_balancers
                .iter()
                .filter(move |lb| lb.target_group == name)
                .map(move |lb| (s, lb))
        })
    }
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
