//! Elastic Load Balancing (Application Load Balancers) in the stack file: load balancers,
//! listeners, rules and actions, target groups and health checks
//! (`AWS::ElasticLoadBalancingV2::*`).

use serde::Deserialize;

use crate::scalars::{HealthCheckPort, HttpCodes, TargetType};

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
    /// Load balancer attributes (docs/aws-rules.md §ALB-1.2).
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

/// A forward's `ForwardConfig` (docs/aws-rules.md §ALB-1.6): weighted groups and group stickiness.
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

/// A forward action from its three spellings (docs/aws-rules.md §ALB-1.6): `target_group` alone, or
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
    // Target group attributes (docs/aws-rules.md §ALB-3.5–§ALB-3.8). Each field is the AWS attribute key
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

/// A target group health check (docs/aws-rules.md §ALB-3.2).
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
