//! Parameter mapping (spec http-api.md §4.6): the typed form of an integration's
//! `request_parameters` and `response_parameters`, and their evaluation.
//!
//! Keys and values are parsed once when the gateway is built; a request only renders
//! templates. Reserved headers are refused at parse time, so a mapping that would touch one never
//! reaches the request path.

use crate::context::RequestContext;
use http::{HeaderMap, HeaderName, StatusCode};
use std::collections::HashMap;

/// What a mapping does to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `append:`: adds a value (comma-joined onto an existing header; unconfirmed, see
    /// docs/aws-fidelity.md).
    Append,
    /// `overwrite:`: replaces every value.
    Overwrite,
    /// `remove:`: deletes the target.
    Remove,
}

/// What a request mapping changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestTarget {
    /// `header.<name>`.
    Header(HeaderName),
    /// `querystring.<name>` (case-sensitive).
    QueryString(String),
    /// `path` (only `overwrite`).
    Path,
}

/// What a response mapping changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseTarget {
    /// `header.<name>`.
    Header(HeaderName),
    /// `statuscode` (only `overwrite`).
    StatusCode,
}

/// Where a variable of a mapping value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `$request.header.<name>`: values comma-joined.
    RequestHeader(HeaderName),
    /// `$request.querystring.<name>`: decoded values comma-joined.
    RequestQueryString(String),
    /// `$request.path`: the path without the stage.
    RequestPath,
    /// `$request.path.<name>`: a route path variable, decoded.
    RequestPathParameter(String),
    /// `$context.<name>`.
    Context(String),
    /// `$stageVariables.<name>`.
    StageVariable(String),
    /// `$response.header.<name>` (response mappings only).
    ResponseHeader(HeaderName),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Variable(Source),
}

/// A mapping value: literal text and variables, rendered per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Part>);

/// One entry of `request_parameters`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestParameter {
    /// The action.
    pub action: Action,
    /// The target.
    pub target: RequestTarget,
    /// The value (ignored for `remove`).
    pub value: Template,
}

/// One entry of a status code's `response_parameters`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseParameter {
    /// The action.
    pub action: Action,
    /// The target.
    pub target: ResponseTarget,
    /// The value (ignored for `remove`).
    pub value: Template,
}

/// The response mappings for one integration status code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseMapping {
    /// The integration's status code the mappings apply to (200–599).
    pub status: StatusCode,
    /// The mappings.
    pub parameters: Vec<ResponseParameter>,
}

/// Why a mapping was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// The key is not `<action>:<target>`.
    #[error(
        "mapping key {0:?} is not `append|overwrite|remove:header.<name>`, `…:querystring.<name>`, `overwrite:path` or `overwrite:statuscode`"
    )]
    Key(String),
    /// The header may not be mapped (spec §4.6 reserved headers).
    #[error("mapping key {0:?} targets a reserved header")]
    ReservedHeader(String),
    /// `path` and `statuscode` only allow `overwrite`.
    #[error("mapping key {0:?}: only overwrite is allowed for this target")]
    OnlyOverwrite(String),
    /// A value's variable is not one airlock knows.
    #[error("mapping value {0:?} has an unknown or unsupported variable {1:?}")]
    Variable(String, String),
    /// A `${` without its `}`.
    #[error("mapping value {0:?} has an unclosed `${{`")]
    Unclosed(String),
    /// The status code key is not 200–599.
    #[error("response mapping status {0:?} is not a status code 200-599")]
    Status(String),
}

/// Whether API Gateway refuses mappings of this header (spec §4.6); `name` in any case.
pub fn is_reserved_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with("access-control-")
        || n.starts_with("apigw-")
        || n.starts_with("x-amz-")
        || n.starts_with("x-amzn-")
        || matches!(
            n.as_str(),
            "authorization"
                | "connection"
                | "content-encoding"
                | "content-length"
                | "content-location"
                | "forwarded"
                | "keep-alive"
                | "origin"
                | "proxy-authenticate"
                | "proxy-authorization"
                | "te"
                | "trailers"
                | "transfer-encoding"
                | "upgrade"
                | "x-forwarded-for"
                | "x-forwarded-host"
                | "x-forwarded-proto"
                | "via"
        )
}

fn split_key(key: &str) -> Result<(Action, &str), MappingError> {
    let (action, target) = key
        .split_once(':')
        .ok_or_else(|| MappingError::Key(key.to_owned()))?;
    let action = match action {
        "append" => Action::Append,
        "overwrite" => Action::Overwrite,
        "remove" => Action::Remove,
        _ => return Err(MappingError::Key(key.to_owned())),
    };
    Ok((action, target))
}

fn header_target(key: &str, name: &str) -> Result<HeaderName, MappingError> {
    if is_reserved_header(name) {
        return Err(MappingError::ReservedHeader(key.to_owned()));
    }
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| MappingError::Key(key.to_owned()))
}

impl RequestParameter {
    /// Parses one `request_parameters` entry.
    pub fn parse(key: &str, value: &str) -> Result<RequestParameter, MappingError> {
        let (action, target) = split_key(key)?;
        let target = if let Some(name) = target.strip_prefix("header.") {
            RequestTarget::Header(header_target(key, name)?)
        } else if let Some(name) = target.strip_prefix("querystring.")
            && !name.is_empty()
        {
            RequestTarget::QueryString(name.to_owned())
        } else if target == "path" {
            if action != Action::Overwrite {
                return Err(MappingError::OnlyOverwrite(key.to_owned()));
            }
            RequestTarget::Path
        } else {
            return Err(MappingError::Key(key.to_owned()));
        };
        Ok(RequestParameter {
            action,
            target,
            value: Template::parse(value, false)?,
        })
    }
}

impl ResponseParameter {
    /// Parses one entry of a status code's `response_parameters`.
    pub fn parse(key: &str, value: &str) -> Result<ResponseParameter, MappingError> {
        let (action, target) = split_key(key)?;
        let target = if let Some(name) = target.strip_prefix("header.") {
            ResponseTarget::Header(header_target(key, name)?)
        } else if target == "statuscode" {
            if action != Action::Overwrite {
                return Err(MappingError::OnlyOverwrite(key.to_owned()));
            }
            ResponseTarget::StatusCode
        } else {
            return Err(MappingError::Key(key.to_owned()));
        };
        Ok(ResponseParameter {
            action,
            target,
            value: Template::parse(value, true)?,
        })
    }
}

impl ResponseMapping {
    /// Parses a status code key and its entries.
    pub fn parse<'a>(
        status: &str,
        entries: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<ResponseMapping, MappingError> {
        let status = status
            .parse::<u16>()
            .ok()
            .filter(|s| (200..=599).contains(s))
            .and_then(|s| StatusCode::from_u16(s).ok())
            .ok_or_else(|| MappingError::Status(status.to_owned()))?;
        let parameters = entries
            .into_iter()
            .map(|(k, v)| ResponseParameter::parse(k, v))
            .collect::<Result<_, _>>()?;
        Ok(ResponseMapping { status, parameters })
    }
}

impl Template {
    /// Parses a value: `${…}` parts inside text, a whole-value `$…` variable, or a literal.
    pub fn parse(value: &str, response: bool) -> Result<Template, MappingError> {
        let var = |expr: &str| {
            parse_source(expr, response)
                .ok_or_else(|| MappingError::Variable(value.to_owned(), expr.to_owned()))
        };
        if !value.contains("${") {
            return Ok(Template(match value.strip_prefix('$') {
                Some(expr) => vec![Part::Variable(var(expr)?)],
                None => vec![Part::Literal(value.to_owned())],
            }));
        }
        let mut parts = Vec::new();
        let mut rest = value;
        while let Some(start) = rest.find("${") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| MappingError::Unclosed(value.to_owned()))?;
            parts.push(Part::Variable(var(&after[..end])?));
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(Template(parts))
    }

    /// Renders the value; an absent variable renders as nothing (unconfirmed, see
    /// docs/aws-fidelity.md).
    pub(crate) fn render(&self, env: &Env<'_>) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Part::Literal(l) => out.push_str(l),
                Part::Variable(s) => {
                    if let Some(v) = env.lookup(s) {
                        out.push_str(&v);
                    }
                }
            }
        }
        out
    }
}

/// `request.header.x` → a [`Source`]; `None` for unknown or unsupported variables (the body
/// expressions need a buffered body, which airlock does not do).
fn parse_source(expr: &str, response: bool) -> Option<Source> {
    let header = |n: &str| HeaderName::from_bytes(n.as_bytes()).ok();
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-:".contains(&b))
    };
    if let Some(n) = expr.strip_prefix("request.header.") {
        return header(n).map(Source::RequestHeader);
    }
    if let Some(n) = expr.strip_prefix("request.querystring.") {
        return name_ok(n).then(|| Source::RequestQueryString(n.to_owned()));
    }
    if expr == "request.path" {
        return Some(Source::RequestPath);
    }
    if let Some(n) = expr.strip_prefix("request.path.") {
        return name_ok(n).then(|| Source::RequestPathParameter(n.to_owned()));
    }
    if let Some(n) = expr.strip_prefix("context.") {
        return name_ok(n).then(|| Source::Context(n.to_owned()));
    }
    if let Some(n) = expr.strip_prefix("stageVariables.") {
        return name_ok(n).then(|| Source::StageVariable(n.to_owned()));
    }
    if response && let Some(n) = expr.strip_prefix("response.header.") {
        return header(n).map(Source::ResponseHeader);
    }
    None
}

/// What mapping values are evaluated against.
pub(crate) struct Env<'a> {
    /// The client's request headers.
    pub headers: &'a HeaderMap,
    /// The client's raw query string.
    pub query: Option<&'a str>,
    /// The path the routes saw (no stage).
    pub route_path: &'a str,
    /// The route's path variables, decoded.
    pub path_parameters: &'a [(String, String)],
    /// The request context.
    pub context: &'a RequestContext,
    /// The stage's variables.
    pub stage_variables: &'a HashMap<String, String>,
    /// The integration's response headers (response mappings only).
    pub response_headers: Option<&'a HeaderMap>,
}

impl Env<'_> {
    fn lookup(&self, s: &Source) -> Option<String> {
        match s {
            Source::RequestHeader(n) => joined(self.headers, n),
            Source::RequestQueryString(n) => {
                let values: Vec<String> = query_pairs(self.query.unwrap_or(""))
                    .filter(|(k, _)| k == n)
                    .map(|(_, v)| v)
                    .collect();
                (!values.is_empty()).then(|| values.join(","))
            }
            Source::RequestPath => Some(self.route_path.to_owned()),
            Source::RequestPathParameter(n) => self
                .path_parameters
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone()),
            Source::Context(n) => self.context.var(n),
            Source::StageVariable(n) => self.stage_variables.get(n).cloned(),
            Source::ResponseHeader(n) => self.response_headers.and_then(|h| joined(h, n)),
        }
    }
}

fn joined(h: &HeaderMap, n: &HeaderName) -> Option<String> {
    let values: Vec<&str> = h
        .get_all(n)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// Decoded `(name, value)` pairs of a query string (`+` stays a plus, as API Gateway's
/// mapping examples keep it).
pub(crate) fn query_pairs(q: &str) -> impl Iterator<Item = (String, String)> + '_ {
    q.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (
            crate::router::percent_decode(k),
            crate::router::percent_decode(v),
        )
    })
}

/// Percent-encodes a query component.
pub(crate) fn encode_query_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Applies request query string mappings to the raw query: raw pairs are kept as the client
/// wrote them; mapped values are encoded.
pub(crate) fn map_query(raw: Option<&str>, ops: &[(Action, &str, String)]) -> Option<String> {
    let mut pairs: Vec<(String, String)> = raw
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    for (action, name, value) in ops {
        let is = |k: &String| crate::router::percent_decode(k) == *name;
        match action {
            Action::Remove => pairs.retain(|(k, _)| !is(k)),
            Action::Overwrite => {
                pairs.retain(|(k, _)| !is(k));
                pairs.push((encode_query_component(name), encode_query_component(value)));
            }
            Action::Append => {
                pairs.push((encode_query_component(name), encode_query_component(value)))
            }
        }
    }
    if pairs.is_empty() {
        return None;
    }
    Some(
        pairs
            .iter()
            .map(|(k, v)| {
                if v.is_empty() {
                    k.clone()
                } else {
                    format!("{k}={v}")
                }
            })
            .collect::<Vec<_>>()
            .join("&"),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Spec §4.6: keys, actions, reserved headers.
    #[test]
    fn keys_parse_and_reserved_headers_are_refused() {
        let ok = [
            (
                "append:header.x-a",
                RequestTarget::Header(HeaderName::from_static("x-a")),
            ),
            (
                "overwrite:header.Host",
                RequestTarget::Header(http::header::HOST),
            ),
            (
                "remove:querystring.q",
                RequestTarget::QueryString("q".into()),
            ),
            ("overwrite:path", RequestTarget::Path),
        ];
        for (k, want) in ok {
            assert_eq!(RequestParameter::parse(k, "v").unwrap().target, want, "{k}");
        }
        for reserved in [
            "authorization",
            "Access-Control-Allow-Origin",
            "apigw-requestid",
            "x-amzn-trace-id",
            "X-Amz-Date",
            "via",
            "X-Forwarded-For",
            "forwarded",
            "content-length",
            "te",
            "trailers",
        ] {
            assert_eq!(
                RequestParameter::parse(&format!("overwrite:header.{reserved}"), "v"),
                Err(MappingError::ReservedHeader(format!(
                    "overwrite:header.{reserved}"
                ))),
            );
            assert!(ResponseParameter::parse(&format!("append:header.{reserved}"), "v").is_err());
        }
        assert!(matches!(
            RequestParameter::parse("append:path", "/x"),
            Err(MappingError::OnlyOverwrite(_))
        ));
        assert!(matches!(
            ResponseParameter::parse("remove:statuscode", ""),
            Err(MappingError::OnlyOverwrite(_))
        ));
        assert!(RequestParameter::parse("set:header.x", "v").is_err());
        assert!(RequestParameter::parse("overwrite:header.x", "$request.body.name").is_err());
        assert!(RequestParameter::parse("overwrite:header.x", "$response.header.a").is_err());
        assert!(ResponseParameter::parse("overwrite:header.x", "$response.header.a").is_ok());
        assert!(ResponseMapping::parse("199", []).is_err());
        assert!(ResponseMapping::parse("500", [("overwrite:statuscode", "403")]).is_ok());
    }

    /// Spec §4.6 values: `$request.*`, `$context.*`, `$stageVariables.*`, literals, `${…}`.
    #[test]
    fn values_render() {
        let mut headers = HeaderMap::new();
        headers.append("x-a", "1".parse().unwrap());
        headers.append("x-a", "2".parse().unwrap());
        let ctx = RequestContext::for_tests();
        let vars = HashMap::from([("env".to_owned(), "dev".to_owned())]);
        let params = vec![("id".to_owned(), "a b".to_owned())];
        let env = Env {
            headers: &headers,
            query: Some("q=x%20y&q=z&r"),
            route_path: "/pets/a%20b",
            path_parameters: &params,
            context: &ctx,
            stage_variables: &vars,
            response_headers: None,
        };
        for (value, want) in [
            ("$request.header.X-A", "1,2"),
            ("$request.querystring.q", "x y,z"),
            ("$request.path", "/pets/a%20b"),
            ("$request.path.id", "a b"),
            ("$stageVariables.env", "dev"),
            ("$context.stage", "dev"),
            ("literal text", "literal text"),
            ("/${request.path.id}/${stageVariables.env}", "/a b/dev"),
            ("${request.header.missing}x", "x"),
        ] {
            assert_eq!(
                Template::parse(value, false).unwrap().render(&env),
                want,
                "{value}"
            );
        }
        assert!(matches!(
            Template::parse("${request.path", false),
            Err(MappingError::Unclosed(_))
        ));
    }

    #[test]
    fn query_mapping_keeps_raw_pairs() {
        let ops = [
            (Action::Overwrite, "a", "x y".to_owned()),
            (Action::Append, "b", "2".to_owned()),
            (Action::Remove, "c", String::new()),
        ];
        assert_eq!(
            map_query(Some("a=1&c=3&d=%2F"), &ops).as_deref(),
            Some("d=%2F&a=x%20y&b=2")
        );
        assert_eq!(map_query(Some("c=1"), &ops[2..]), None);
    }
}
