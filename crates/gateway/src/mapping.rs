//! Parameter mapping (docs/aws-rules.md §HTTP-4.6): the typed form of an integration's
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
    /// `$request.body` (whole body) or `$request.body.<jsonpath>`.
    RequestBody(JsonPath),
    /// `$response.body` or `$response.body.<jsonpath>` (response mappings only).
    ResponseBody(JsonPath),
}

/// How much of a body mapping values see: API Gateway truncates the body to 100 KB before
/// evaluating a JSONPath (docs/aws-rules.md §HTTP-4.6). airlock reads 100 KiB (102,400 bytes); a longer JSON body
/// no longer parses, so its expressions render as absent.
pub const BODY_MAPPING_LIMIT: usize = 100 * 1024;

/// A JSONPath into a body, in the subset API Gateway evaluates (docs/aws-rules.md §HTTP-4.6): member names
/// (`.name`, `['name']`, `["name"]`), array indexes (`[0]`, `[-1]` from the end) and wildcards
/// (`.*`, `[*]`). Recursive descent (`..`), filters, slices, unions and scripts are refused
/// when the stack loads. No steps means the whole body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath(Vec<Step>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Member(String),
    Index(i64),
    Wildcard,
}

impl JsonPath {
    /// Parses what follows `request.body` / `response.body`: empty (the whole body), or a
    /// sequence of `.name`, `.*`, `[n]`, `[*]`, `['name']` steps.
    fn parse(mut rest: &str) -> Option<JsonPath> {
        let mut steps = Vec::new();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('.') {
                if after.starts_with('.') {
                    return None; // recursive descent
                }
                if let Some(after) = after.strip_prefix('*') {
                    steps.push(Step::Wildcard);
                    rest = after;
                    continue;
                }
                let end = after.find(['.', '[']).unwrap_or(after.len());
                let name = &after[..end];
                if name.is_empty()
                    || !name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_-$".contains(&b))
                {
                    return None;
                }
                steps.push(Step::Member(name.to_owned()));
                rest = &after[end..];
            } else if let Some(after) = rest.strip_prefix('[') {
                if let Some(quote) = after.chars().next().filter(|c| *c == '\'' || *c == '"') {
                    let inner = &after[1..];
                    let close = inner.find(quote)?;
                    rest = inner[close + 1..].strip_prefix(']')?;
                    steps.push(Step::Member(inner[..close].to_owned()));
                } else {
                    let close = after.find(']')?;
                    let inside = after[..close].trim();
                    steps.push(if inside == "*" {
                        Step::Wildcard
                    } else {
                        // Anything but an integer (filters, slices, unions) is refused.
                        Step::Index(inside.parse().ok()?)
                    });
                    rest = &after[close + 1..];
                }
            } else {
                return None;
            }
        }
        Some(JsonPath(steps))
    }

    /// The path's value in `body`: a string as itself, anything else as compact JSON (object
    /// members sorted by name); with a
    /// wildcard, every match as a JSON array. `None` when the body is not JSON or nothing
    /// matches. The whole body (no steps) is its text, JSON or not.
    fn evaluate(&self, body: &BodyView) -> Option<String> {
        if self.0.is_empty() {
            return Some(String::from_utf8_lossy(&body.text).into_owned());
        }
        let root = body.json.as_ref()?;
        let mut current = vec![root];
        for step in &self.0 {
            current = current
                .into_iter()
                .flat_map(|v| -> Vec<&serde_json::Value> {
                    match (step, v) {
                        (Step::Member(m), serde_json::Value::Object(o)) => {
                            o.get(m).into_iter().collect()
                        }
                        (Step::Index(i), serde_json::Value::Array(a)) => {
                            let at = if *i < 0 {
                                usize::try_from(i.unsigned_abs())
                                    .ok()
                                    .and_then(|back| a.len().checked_sub(back))
                            } else {
                                usize::try_from(*i).ok()
                            };
                            at.and_then(|at| a.get(at)).into_iter().collect()
                        }
                        (Step::Wildcard, serde_json::Value::Array(a)) => a.iter().collect(),
                        (Step::Wildcard, serde_json::Value::Object(o)) => o.values().collect(),
                        _ => Vec::new(),
                    }
                })
                .collect();
        }
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if self.0.contains(&Step::Wildcard) {
            return (!current.is_empty()).then(|| {
                serde_json::Value::Array(current.into_iter().cloned().collect()).to_string()
            });
        }
        current.first().map(|v| text(v))
    }
}

/// The first [`BODY_MAPPING_LIMIT`] bytes of a body, and their JSON reading, parsed once per
/// request for every body expression.
pub(crate) struct BodyView {
    text: bytes::Bytes,
    json: Option<serde_json::Value>,
}

impl BodyView {
    /// Truncates `prefix` to the limit and parses it.
    pub(crate) fn new(mut prefix: bytes::Bytes) -> BodyView {
        prefix.truncate(BODY_MAPPING_LIMIT);
        let json = serde_json::from_slice(&prefix).ok();
        BodyView { text: prefix, json }
    }
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
    /// The header may not be mapped (docs/aws-rules.md §HTTP-4.6 reserved headers).
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

/// Whether API Gateway refuses mappings of this header (docs/aws-rules.md §HTTP-4.6); `name` in any case.
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

    /// Whether a value reads `$response.body…`: the start of the integration's body is then
    /// read before the response is sent on.
    pub fn reads_response_body(&self) -> bool {
        self.parameters
            .iter()
            .any(|p| p.value.reads_response_body())
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

    /// Whether the value reads `$request.body…`, so the request body must be read first.
    pub fn reads_request_body(&self) -> bool {
        self.0
            .iter()
            .any(|p| matches!(p, Part::Variable(Source::RequestBody(_))))
    }

    /// Whether the value reads `$response.body…`.
    pub fn reads_response_body(&self) -> bool {
        self.0
            .iter()
            .any(|p| matches!(p, Part::Variable(Source::ResponseBody(_))))
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

/// `request.header.x` → a [`Source`]; `None` for unknown or unsupported variables.
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
    if let Some(path) = expr.strip_prefix("request.body") {
        return JsonPath::parse(path).map(Source::RequestBody);
    }
    if response && let Some(path) = expr.strip_prefix("response.body") {
        return JsonPath::parse(path).map(Source::ResponseBody);
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
    /// The client's body, when a mapping of the integration reads it.
    pub request_body: Option<&'a BodyView>,
    /// The integration's response body, when the status's mapping reads it.
    pub response_body: Option<&'a BodyView>,
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
            Source::RequestBody(p) => self.request_body.and_then(|b| p.evaluate(b)),
            Source::ResponseBody(p) => self.response_body.and_then(|b| p.evaluate(b)),
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
            airlock_pool::uri::percent_decode_lossy(k),
            airlock_pool::uri::percent_decode_lossy(v),
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
/// wrote them; mapped values are encoded; an empty value is not mapped.
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
        let is = |k: &String| airlock_pool::uri::percent_decode_lossy(k) == *name;
        match action {
            Action::Remove => pairs.retain(|(k, _)| !is(k)),
            // An absent variable renders empty: skipped, as for headers (docs/aws-fidelity.md).
            _ if value.is_empty() => {}
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

    /// docs/aws-rules.md §HTTP-4.6: keys, actions, reserved headers.
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
        assert!(RequestParameter::parse("overwrite:header.x", "$request.body.name").is_ok());
        assert!(RequestParameter::parse("overwrite:header.x", "$response.body.name").is_err());
        assert!(ResponseParameter::parse("overwrite:header.x", "$response.body.name").is_ok());
        assert!(RequestParameter::parse("overwrite:header.x", "$response.header.a").is_err());
        assert!(ResponseParameter::parse("overwrite:header.x", "$response.header.a").is_ok());
        assert!(ResponseMapping::parse("199", []).is_err());
        assert!(ResponseMapping::parse("500", [("overwrite:statuscode", "403")]).is_ok());
    }

    /// docs/aws-rules.md §HTTP-4.6 values: `$request.*`, `$context.*`, `$stageVariables.*`, literals, `${…}`.
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
            request_body: None,
            response_body: None,
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

    /// docs/aws-rules.md §HTTP-4.6: `$request.body.<jsonpath>` without `..` and filters; `$request.body` is the
    /// whole body; the body is truncated to 100 KB before evaluation.
    #[test]
    fn body_jsonpaths_evaluate_in_the_documented_subset() {
        let body = BodyView::new(bytes::Bytes::from_static(
            br#"{"name":"rex","age":3,"tags":["a","b"],"owner":{"id":7,"first name":"Ann"},"pets":[{"id":1},{"id":2}],"nil":null}"#,
        ));
        let headers = HeaderMap::new();
        let ctx = RequestContext::for_tests();
        let vars = HashMap::new();
        let env = Env {
            headers: &headers,
            query: None,
            route_path: "/",
            path_parameters: &[],
            context: &ctx,
            stage_variables: &vars,
            response_headers: None,
            request_body: Some(&body),
            response_body: Some(&body),
        };
        let render = |v: &str| Template::parse(v, true).unwrap().render(&env);
        for (value, want) in [
            ("$request.body.name", "rex"),
            ("$request.body.age", "3"),
            ("$request.body.tags", r#"["a","b"]"#),
            ("$request.body.tags[1]", "b"),
            ("$request.body.tags[-1]", "b"),
            // Re-serialised compactly, members sorted by name (unconfirmed; see
            // docs/aws-fidelity.md).
            ("$request.body.owner", r#"{"first name":"Ann","id":7}"#),
            ("$request.body.owner.id", "7"),
            ("$request.body['owner'][\"first name\"]", "Ann"),
            ("$request.body.pets[*].id", "[1,2]"),
            ("$request.body.pets[1].id", "2"),
            ("$request.body.nil", "null"),
            ("$request.body.missing", ""),
            ("$request.body.tags[5]", ""),
            ("$request.body.name.deeper", ""),
            ("${request.body.name}-${response.body.age}", "rex-3"),
        ] {
            assert_eq!(render(value), want, "{value}");
        }
        assert_eq!(render("$request.body").len(), body.text.len());
        for refused in [
            "$request.body..name",
            "$request.body[?(@.id)]",
            "$request.body.pets[0:1]",
            "$request.body.pets[0,1]",
            "$request.bodyx",
            "$request.body.",
        ] {
            assert!(
                matches!(
                    Template::parse(refused, false),
                    Err(MappingError::Variable(..))
                ),
                "{refused}"
            );
        }

        // Past 100 KB the JSON is cut and no longer parses; the whole body is the first 100 KB.
        let mut big = br#"{"name":"rex","pad":""#.to_vec();
        big.resize(BODY_MAPPING_LIMIT + 10, b'x');
        big.extend_from_slice(br#""}"#);
        let big = BodyView::new(bytes::Bytes::from(big));
        let env = Env {
            request_body: Some(&big),
            ..env
        };
        let render = |v: &str| Template::parse(v, false).unwrap().render(&env);
        assert_eq!(render("$request.body.name"), "");
        assert_eq!(render("$request.body").len(), BODY_MAPPING_LIMIT);
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
