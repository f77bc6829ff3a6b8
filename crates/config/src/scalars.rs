//! Scalar values of the stack file that carry structure: parsed once here, so no later code
//! re-splits a route key or a listener reference.
//!
//! Each type deserializes from its YAML string; its error message ends in `(hint: ...)`, which
//! the loader lifts into [`crate::Diagnostic::hint`].

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// Implements `Deserialize` through `TryFrom<String>` inside the string visitor, so that a
/// refused value is reported at the scalar's own position (serde's `try_from` attribute converts
/// after the scalar is consumed, and yaml_serde then blames the enclosing mapping).
macro_rules! deserialize_from_str {
    ($($ty:ty => $expecting:literal),* $(,)?) => {$(
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$ty, E> {
                        <$ty>::try_from(v.to_owned()).map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }
    )*};
}

deserialize_from_str! {
    Region => "a region name like us-east-1",
    AccountId => "a 12-digit account id in quotes",
    RouteKey => "a route key like \"GET /pets\" or \"$default\"",
    StageName => "a stage name",
    IntegrationUri => "a listener reference like pets-alb:443 or a URL",
    IdentitySource => "an identity source like $request.header.Authorization",
    HttpCodes => "HTTP codes like \"200\" or \"200-299\"",
    TargetType => "a target type",
    BuiltinApp => "a builtin app name",
}

/// An AWS region name such as `us-east-1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Region(String);

impl Region {
    /// The region name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Region {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        // `<area>-<direction...>-<digit>`, e.g. us-east-1, ap-southeast-2, us-gov-west-1.
        let parts: Vec<&str> = s.split('-').collect();
        let ok = parts.len() >= 3
            && parts[..parts.len() - 1]
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
            && parts[parts.len() - 1]
                .parse::<u8>()
                .is_ok_and(|n| n > 0 && n < 100);
        if ok {
            Ok(Region(s))
        } else {
            Err(format!(
                "{s:?} is not a region name (hint: write a region like us-east-1)"
            ))
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A 12-digit AWS account id (kept as text: leading zeros matter).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountId(String);

impl AccountId {
    /// The 12 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AccountId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(AccountId(s))
        } else {
            Err(format!(
                "{s:?} is not an account id: it must be exactly 12 digits (hint: quote it, as in account_id: \"000000000000\")"
            ))
        }
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An HTTP method as API Gateway route keys and integrations name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
pub enum HttpMethod {
    /// `GET`
    #[serde(rename = "GET")]
    Get,
    /// `POST`
    #[serde(rename = "POST")]
    Post,
    /// `PUT`
    #[serde(rename = "PUT")]
    Put,
    /// `PATCH`
    #[serde(rename = "PATCH")]
    Patch,
    /// `DELETE`
    #[serde(rename = "DELETE")]
    Delete,
    /// `HEAD`
    #[serde(rename = "HEAD")]
    Head,
    /// `OPTIONS`
    #[serde(rename = "OPTIONS")]
    Options,
    /// `ANY`: every method without a route of its own (routes); the client's method (integrations).
    #[serde(rename = "ANY")]
    Any,
}

impl HttpMethod {
    /// The method as written in a route key.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
            HttpMethod::Head => "HEAD",
            HttpMethod::Options => "OPTIONS",
            HttpMethod::Any => "ANY",
        }
    }

    fn parse(s: &str) -> Option<HttpMethod> {
        Some(match s {
            "GET" => HttpMethod::Get,
            "POST" => HttpMethod::Post,
            "PUT" => HttpMethod::Put,
            "PATCH" => HttpMethod::Patch,
            "DELETE" => HttpMethod::Delete,
            "HEAD" => HttpMethod::Head,
            "OPTIONS" => HttpMethod::Options,
            "ANY" => HttpMethod::Any,
            _ => return None,
        })
    }
}

impl fmt::Display for HttpMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One segment of a route path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathSegment {
    /// Matches exactly this text.
    Literal(String),
    /// `{name}`: captures one non-empty segment.
    Variable(String),
    /// `{name+}`: captures one or more remaining segments; always the last segment.
    Greedy(String),
}

/// A route key: `$default` or `<METHOD> <path>` (docs/aws-rules.md §HTTP-2.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RouteKey {
    /// The catch-all `$default` route.
    Default,
    /// A method and a path.
    Route {
        /// The method, or `ANY`.
        method: HttpMethod,
        /// The path's segments; empty for the root `/`.
        segments: Vec<PathSegment>,
    },
}

/// The part of a route key that decides conflicts: variable names do not count
/// (`GET /pets/{id}` and `GET /pets/{petId}` are one shape).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum RouteShape {
    Default,
    Route(HttpMethod, Vec<ShapeSegment>),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ShapeSegment {
    Literal(String),
    Variable,
    Greedy,
}

impl RouteKey {
    pub(crate) fn shape(&self) -> RouteShape {
        match self {
            RouteKey::Default => RouteShape::Default,
            RouteKey::Route { method, segments } => RouteShape::Route(
                *method,
                segments
                    .iter()
                    .map(|s| match s {
                        PathSegment::Literal(l) => ShapeSegment::Literal(l.clone()),
                        PathSegment::Variable(_) => ShapeSegment::Variable,
                        PathSegment::Greedy(_) => ShapeSegment::Greedy,
                    })
                    .collect(),
            ),
        }
    }
}

impl TryFrom<String> for RouteKey {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl std::str::FromStr for RouteKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "$default" {
            return Ok(RouteKey::Default);
        }
        let Some((method, path)) = s.split_once(' ') else {
            return Err(format!(
                "route key {s:?} is neither `$default` nor `<METHOD> <path>` (hint: write it like \"GET /pets\", one space between method and path)"
            ));
        };
        let method = HttpMethod::parse(method).ok_or_else(|| {
            format!(
                "route key {s:?}: unknown method {method:?} (hint: use one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, ANY, in upper case)"
            )
        })?;
        let Some(rest) = path.strip_prefix('/') else {
            return Err(format!(
                "route key {s:?}: the path must start with `/` (hint: write it like \"GET /pets\")"
            ));
        };
        if rest.is_empty() {
            return Ok(RouteKey::Route {
                method,
                segments: Vec::new(),
            });
        }
        if rest.ends_with('/') {
            return Err(format!(
                "route key {s:?}: a route path may not end in `/` (hint: remove the trailing slash; API Gateway matches /pets/ to the route /pets anyway)"
            ));
        }
        let raw: Vec<&str> = rest.split('/').collect();
        let mut segments = Vec::with_capacity(raw.len());
        for (i, seg) in raw.iter().enumerate() {
            if seg.is_empty() {
                return Err(format!(
                    "route key {s:?}: empty path segment (`//`) (hint: remove the doubled slash)"
                ));
            }
            if seg.chars().any(char::is_whitespace) {
                return Err(format!(
                    "route key {s:?}: the path contains white space (hint: a route key is exactly `<METHOD> <path>`)"
                ));
            }
            let segment = if let Some(inner) =
                seg.strip_prefix('{').and_then(|r| r.strip_suffix('}'))
            {
                let (name, greedy) = match inner.strip_suffix('+') {
                    Some(name) => (name, true),
                    None => (inner, false),
                };
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    return Err(format!(
                        "route key {s:?}: bad path variable {seg:?} (hint: name variables with letters, digits, `_` or `-`, like {{petId}} or {{proxy+}})"
                    ));
                }
                if greedy {
                    if i + 1 != raw.len() {
                        return Err(format!(
                            "route key {s:?}: the greedy variable {seg:?} must be the last segment (hint: move {seg} to the end of the path or use {{{name}}})"
                        ));
                    }
                    PathSegment::Greedy(name.to_owned())
                } else {
                    PathSegment::Variable(name.to_owned())
                }
            } else if seg.contains('{') || seg.contains('}') {
                return Err(format!(
                    "route key {s:?}: a path variable must be a whole segment, got {seg:?} (hint: write /items/{{id}}, not /items/x{{id}})"
                ));
            } else {
                PathSegment::Literal((*seg).to_owned())
            };
            segments.push(segment);
        }
        Ok(RouteKey::Route { method, segments })
    }
}

impl fmt::Display for RouteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteKey::Default => f.write_str("$default"),
            RouteKey::Route { method, segments } => {
                write!(f, "{method} ")?;
                if segments.is_empty() {
                    return f.write_str("/");
                }
                for s in segments {
                    match s {
                        PathSegment::Literal(l) => write!(f, "/{l}")?,
                        PathSegment::Variable(v) => write!(f, "/{{{v}}}")?,
                        PathSegment::Greedy(v) => write!(f, "/{{{v}+}}")?,
                    }
                }
                Ok(())
            }
        }
    }
}

/// A stage name: `$default` (served at the root) or a named stage (served under `/<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StageName {
    /// `$default`.
    Default,
    /// A named stage: 1–128 of `[A-Za-z0-9_-]`.
    Named(String),
}

impl StageName {
    /// The name as written.
    pub fn as_str(&self) -> &str {
        match self {
            StageName::Default => "$default",
            StageName::Named(n) => n,
        }
    }
}

impl TryFrom<String> for StageName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s == "$default" {
            return Ok(StageName::Default);
        }
        let ok = !s.is_empty()
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(StageName::Named(s))
        } else {
            Err(format!(
                "{s:?} is not a stage name (hint: use `$default` or 1-128 letters, digits, `-` or `_`)"
            ))
        }
    }
}

impl fmt::Display for StageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A load balancer listener, written `<load balancer name>:<listener port>`; stands for the
/// listener ARN a private integration names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListenerRef {
    /// The load balancer's `name`.
    pub load_balancer: String,
    /// The listener's `port`.
    pub port: u16,
}

impl fmt::Display for ListenerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.load_balancer, self.port)
    }
}

/// What an integration sends requests to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntegrationUri {
    /// A load balancer listener (private integration through a VPC link).
    Listener(ListenerRef),
    /// A public `http://` or `https://` URL (INTERNET integration).
    Url(String),
}

impl TryFrom<String> for IntegrationUri {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.starts_with("http://") || s.starts_with("https://") {
            let host = s.split_once("://").map_or("", |(_, r)| r);
            if host.is_empty() || host.starts_with('/') {
                return Err(format!(
                    "integration_uri {s:?} has no host (hint: write a URL like https://example.com/path)"
                ));
            }
            return Ok(IntegrationUri::Url(s));
        }
        let hint = "(hint: for a VPC_LINK integration write `<load balancer name>:<listener port>`, like pets-alb:443; for INTERNET write an http(s) URL)";
        let Some((lb, port)) = s.rsplit_once(':') else {
            return Err(format!(
                "integration_uri {s:?} is neither a listener reference nor a URL {hint}"
            ));
        };
        match port.parse::<u16>() {
            Ok(port) if port > 0 && !lb.is_empty() => Ok(IntegrationUri::Listener(ListenerRef {
                load_balancer: lb.to_owned(),
                port,
            })),
            _ => Err(format!(
                "integration_uri {s:?}: {port:?} is not a listener port {hint}"
            )),
        }
    }
}

/// Where a JWT authorizer takes the token from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySource {
    /// `$request.header.<name>`; header names compare case-insensitively.
    Header(String),
    /// `$request.querystring.<name>`.
    QueryString(String),
    /// `$context.<variable>` (REQUEST authorizers only).
    Context(String),
    /// `$stageVariables.<name>` (REQUEST authorizers only).
    StageVariable(String),
}

impl TryFrom<String> for IdentitySource {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if let Some(h) = s.strip_prefix("$request.header.")
            && !h.is_empty()
        {
            return Ok(IdentitySource::Header(h.to_owned()));
        }
        if let Some(q) = s.strip_prefix("$request.querystring.")
            && !q.is_empty()
        {
            return Ok(IdentitySource::QueryString(q.to_owned()));
        }
        if let Some(c) = s.strip_prefix("$context.")
            && !c.is_empty()
        {
            return Ok(IdentitySource::Context(c.to_owned()));
        }
        if let Some(v) = s.strip_prefix("$stageVariables.")
            && !v.is_empty()
        {
            return Ok(IdentitySource::StageVariable(v.to_owned()));
        }
        Err(format!(
            "{s:?} is not an identity source (hint: use $request.header.<name>, $request.querystring.<name>, $context.<variable> or $stageVariables.<name>; usually $request.header.Authorization)"
        ))
    }
}

/// The port a target group health check probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HealthCheckPort {
    /// `traffic-port`: the port each target receives traffic on.
    #[default]
    TrafficPort,
    /// A fixed port.
    Port(u16),
}

impl<'de> Deserialize<'de> for HealthCheckPort {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HealthCheckPort;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`traffic-port` or a port number 1-65535")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<HealthCheckPort, E> {
                match u16::try_from(v) {
                    Ok(p) if p > 0 => Ok(HealthCheckPort::Port(p)),
                    _ => Err(E::custom(format!(
                        "health check port {v} is out of range (hint: use 1-65535 or traffic-port)"
                    ))),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<HealthCheckPort, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!(
                        "health check port {v} is out of range (hint: use 1-65535 or traffic-port)"
                    ))),
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HealthCheckPort, E> {
                if v == "traffic-port" {
                    return Ok(HealthCheckPort::TrafficPort);
                }
                match v.parse::<u64>() {
                    Ok(n) => self.visit_u64(n),
                    Err(_) => Err(E::custom(format!(
                        "{v:?} is not a health check port (hint: use traffic-port or a port number)"
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// The HTTP codes a health check accepts as healthy: `200`, `200,202`, `200-299`; each 200–499.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCodes {
    text: String,
    ranges: Vec<(u16, u16)>,
}

impl HttpCodes {
    /// Whether `status` counts as healthy.
    pub fn contains(&self, status: u16) -> bool {
        self.ranges
            .iter()
            .any(|(lo, hi)| (*lo..=*hi).contains(&status))
    }

    /// The matcher as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Default for HttpCodes {
    fn default() -> Self {
        HttpCodes {
            text: "200".to_owned(),
            ranges: vec![(200, 200)],
        }
    }
}

impl TryFrom<String> for HttpCodes {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let bad = || {
            format!(
                "{s:?} is not a health check matcher (hint: use codes 200-499 as a list like \"200,202\" or a range like \"200-299\")"
            )
        };
        let code = |t: &str| match t.trim().parse::<u16>() {
            Ok(c) if (200..=499).contains(&c) => Ok(c),
            _ => Err(bad()),
        };
        let mut ranges = Vec::new();
        for part in s.split(',') {
            let range = match part.split_once('-') {
                Some((lo, hi)) => (code(lo)?, code(hi)?),
                None => {
                    let c = code(part)?;
                    (c, c)
                }
            };
            if range.0 > range.1 {
                return Err(bad());
            }
            ranges.push(range);
        }
        Ok(HttpCodes { text: s, ranges })
    }
}

/// Task CPU in CPU units (1024 = 1 vCPU). Accepts `256`, `"256"`, `"1 vCPU"`, `".25 vCPU"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CpuUnits(pub u32);

/// Task memory in MiB. Accepts `512`, `"512"`, `"1GB"`, `"2 GB"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MemoryMib(pub u32);

/// Parses a number written as an integer or as text with an optional unit scaled by `unit`.
fn scaled_number<'de, D: Deserializer<'de>>(
    d: D,
    what: &'static str,
    suffixes: &'static [&'static str],
    unit: f64,
) -> Result<u32, D::Error> {
    struct V {
        what: &'static str,
        suffixes: &'static [&'static str],
        unit: f64,
    }
    impl Visitor<'_> for V {
        type Value = u32;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{} as a number or a string", self.what)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u32, E> {
            u32::try_from(v).map_err(|_| E::custom(format!("{} {v} is too large", self.what)))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u32, E> {
            u32::try_from(v).map_err(|_| E::custom(format!("{} {v} is out of range", self.what)))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<u32, E> {
            let t = v.trim();
            if let Ok(n) = t.parse::<u32>() {
                return Ok(n);
            }
            for suffix in self.suffixes {
                if let Some(num) = t.strip_suffix(suffix)
                    && let Ok(x) = num.trim().parse::<f64>()
                    && x > 0.0
                {
                    let scaled = x * self.unit;
                    if scaled.fract() == 0.0 && scaled <= f64::from(u32::MAX) {
                        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                        return Ok(scaled as u32);
                    }
                }
            }
            Err(E::custom(format!(
                "{v:?} is not a valid {} (hint: write it as in ECS, e.g. \"256\" or \"{}\")",
                self.what,
                if self.suffixes.contains(&"vCPU") {
                    "1 vCPU"
                } else {
                    "1GB"
                }
            )))
        }
    }
    d.deserialize_any(V {
        what,
        suffixes,
        unit,
    })
}

impl<'de> Deserialize<'de> for CpuUnits {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        scaled_number(d, "task cpu", &["vCPU", "vcpu"], 1024.0).map(CpuUnits)
    }
}

impl<'de> Deserialize<'de> for MemoryMib {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        scaled_number(d, "task memory", &["GB", "gb", "GiB"], 1024.0).map(MemoryMib)
    }
}

/// How targets are registered in a target group. Only `ip` exists in airlock, as Fargate needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetType {
    /// Targets are private IP addresses (what ECS awsvpc/Fargate registers).
    Ip,
}

impl TryFrom<String> for TargetType {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "ip" => Ok(TargetType::Ip),
            "instance" | "lambda" | "alb" => Err(format!(
                "target_type {s:?} is not supported by airlock yet (hint: use `ip`; ECS on Fargate requires it)"
            )),
            _ => Err(format!("unknown target_type {s:?} (hint: use `ip`)")),
        }
    }
}

/// A built-in "container image" airlock runs without Docker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinApp {
    /// The sample pets JSON service (`/health`, `/pets`, `/pets/{id}`, `/whoami`).
    Pets,
    /// Answers every request with what it received.
    Echo,
}

impl BuiltinApp {
    /// The name as written in the stack file.
    pub fn as_str(self) -> &'static str {
        match self {
            BuiltinApp::Pets => "pets",
            BuiltinApp::Echo => "echo",
        }
    }
}

impl TryFrom<String> for BuiltinApp {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "pets" => Ok(BuiltinApp::Pets),
            "echo" => Ok(BuiltinApp::Echo),
            _ => Err(format!(
                "unknown builtin app {s:?}; known: pets, echo (hint: use a builtin app or run your own program with `command`)"
            )),
        }
    }
}

/// serde's default for a flag that is on unless the file says otherwise.
pub(crate) fn default_true() -> bool {
    true
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn route_keys_parse_per_spec_2_3() {
        let k: RouteKey = "GET /pets/{petId}".parse().unwrap();
        assert_eq!(
            k,
            RouteKey::Route {
                method: HttpMethod::Get,
                segments: vec![
                    PathSegment::Literal("pets".into()),
                    PathSegment::Variable("petId".into())
                ]
            }
        );
        assert_eq!(k.to_string(), "GET /pets/{petId}");
        assert_eq!("$default".parse::<RouteKey>().unwrap(), RouteKey::Default);
        assert_eq!("ANY /".parse::<RouteKey>().unwrap().to_string(), "ANY /");
        let greedy: RouteKey = "ANY /api/{proxy+}".parse().unwrap();
        assert_eq!(greedy.to_string(), "ANY /api/{proxy+}");
        assert!(
            "GET /pets/"
                .parse::<RouteKey>()
                .unwrap_err()
                .contains("may not end in `/`")
        );
        assert!(
            "GET /{proxy+}/x"
                .parse::<RouteKey>()
                .unwrap_err()
                .contains("must be the last")
        );
        assert!(
            "get /pets"
                .parse::<RouteKey>()
                .unwrap_err()
                .contains("unknown method")
        );
        assert!("GET pets".parse::<RouteKey>().is_err());
        assert!("GET /a//b".parse::<RouteKey>().is_err());
        assert!("GET /a/x{id}".parse::<RouteKey>().is_err());
    }

    #[test]
    fn route_shapes_ignore_variable_names() {
        let a: RouteKey = "GET /pets/{id}".parse().unwrap();
        let b: RouteKey = "GET /pets/{petId}".parse().unwrap();
        let c: RouteKey = "POST /pets/{petId}".parse().unwrap();
        assert_eq!(a.shape(), b.shape());
        assert_ne!(a.shape(), c.shape());
    }

    #[test]
    fn integration_uris_are_listeners_or_urls() {
        assert_eq!(
            IntegrationUri::try_from("pets-alb:443".to_owned()).unwrap(),
            IntegrationUri::Listener(ListenerRef {
                load_balancer: "pets-alb".into(),
                port: 443
            })
        );
        assert!(matches!(
            IntegrationUri::try_from("https://example.com/x".to_owned()).unwrap(),
            IntegrationUri::Url(_)
        ));
        assert!(IntegrationUri::try_from("pets-alb".to_owned()).is_err());
        assert!(IntegrationUri::try_from("pets-alb:0".to_owned()).is_err());
    }

    #[test]
    fn matchers_accept_lists_and_ranges() {
        let m = HttpCodes::try_from("200,202-204".to_owned()).unwrap();
        assert!(m.contains(200) && m.contains(203) && !m.contains(201));
        assert!(HttpCodes::try_from("100".to_owned()).is_err());
        assert!(HttpCodes::try_from("300-200".to_owned()).is_err());
    }

    #[test]
    fn stage_names_follow_spec_2_2() {
        assert_eq!(
            StageName::try_from("$default".to_owned()).unwrap(),
            StageName::Default
        );
        assert!(StageName::try_from("dev_1-x".to_owned()).is_ok());
        assert!(StageName::try_from("dev stage".to_owned()).is_err());
        assert!(StageName::try_from("x".repeat(129)).is_err());
    }

    #[test]
    fn regions_and_accounts() {
        assert!(Region::try_from("us-east-1".to_owned()).is_ok());
        assert!(Region::try_from("us-gov-west-1".to_owned()).is_ok());
        assert!(Region::try_from("useast1".to_owned()).is_err());
        assert!(AccountId::try_from("000000000000".to_owned()).is_ok());
        assert!(AccountId::try_from("12345".to_owned()).is_err());
    }
}
