//! Listener rules and their conditions (docs/aws-rules.md §ALB-1.4–§ALB-1.5).
//!
//! Conditions are parsed once, when the configuration is built: a [`Condition`] can only be made
//! by a constructor that enforces AWS's value, character and length limits, and a [`Rule`] checks
//! the per-rule limits. Matching is then allocation-free except for query strings, which are
//! decoded only when a rule has a query-string condition.

use crate::action::Action;
use airlock_pool::glob::Glob;
use airlock_pool::uri::percent_decode;
use http::{HeaderMap, HeaderName, Method};
use ipnet::IpNet;
use std::net::IpAddr;

/// Most comparison strings in one condition (docs/aws-rules.md §ALB-1.4).
const MAX_VALUES_PER_CONDITION: usize = 3;
/// Most comparison strings across a rule's conditions (docs/aws-rules.md §ALB-1.4).
const MAX_VALUES_PER_RULE: usize = 5;
/// Most wildcard characters in one rule (docs/aws-rules.md §ALB-1.4).
const MAX_WILDCARDS_PER_RULE: usize = 5;

/// Why a rule or condition was refused; each names the AWS limit it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// Priorities are 1–50000.
    #[error("rule priority {0} is outside 1-50000")]
    Priority(u32),
    /// A non-default rule needs at least one condition.
    #[error("a rule needs at least one condition (only the default rule has none)")]
    NoConditions,
    /// A condition's value list is empty.
    #[error("{0} condition has no values")]
    NoValues(&'static str),
    /// More than 3 values in one condition.
    #[error("{kind} condition has {count} values; at most 3 are allowed per condition")]
    TooManyValues {
        /// The condition type.
        kind: &'static str,
        /// How many values it has.
        count: usize,
    },
    /// More than 5 values across the rule.
    #[error("rule has {0} condition values; at most 5 are allowed per rule")]
    TooManyValuesPerRule(usize),
    /// More than 5 wildcard characters across the rule.
    #[error("rule has {0} wildcards (* or ?); at most 5 are allowed per rule")]
    TooManyWildcards(usize),
    /// A condition type that may appear once appears twice.
    #[error("rule has more than one {0} condition; put the values in one condition")]
    Duplicate(&'static str),
    /// A value is longer than the type allows.
    #[error("{kind} value {value:?} is longer than {max} characters")]
    TooLong {
        /// The condition type.
        kind: &'static str,
        /// The offending value.
        value: String,
        /// The limit.
        max: usize,
    },
    /// A value holds a character the type does not allow.
    #[error("{kind} value {value:?} contains {ch:?}, which is not allowed")]
    BadCharacter {
        /// The condition type.
        kind: &'static str,
        /// The offending value.
        value: String,
        /// The first character not allowed.
        ch: char,
    },
    /// A host-header value lacks a `.` or has non-letters after the last one.
    #[error("host-header value {0:?} must contain a '.' and only letters after the last '.'")]
    HostShape(String),
    /// http-header cannot name `Host`.
    #[error("http-header conditions cannot match Host; use a host-header condition")]
    HostViaHttpHeader,
    /// A path pattern must start with `/` or a wildcard.
    #[error("path-pattern value {0:?} must start with '/' or a wildcard")]
    PathShape(String),
    /// A source-ip value is not a CIDR block (or is `255.255.255.255/32`).
    #[error("source-ip value {0:?} must be a CIDR block such as 10.0.0.0/16")]
    BadCidr(String),
}

/// A listener rule: priority, conditions (all must match), action (docs/aws-rules.md §ALB-1.4).
#[derive(Debug, Clone)]
pub struct Rule {
    priority: u16,
    conditions: Vec<Condition>,
    action: Action,
    /// The conditions as text, made once for traces (`path-pattern /pets* and ...`).
    summary: &'static str,
}

impl Rule {
    /// Checks the per-rule limits of docs/aws-rules.md §ALB-1.4 (priority, multiplicity, 5 values, 5 wildcards).
    pub fn new(
        priority: u32,
        conditions: Vec<Condition>,
        action: Action,
    ) -> Result<Rule, RuleError> {
        let priority = u16::try_from(priority)
            .ok()
            .filter(|p| (1..=50_000).contains(p))
            .ok_or(RuleError::Priority(priority))?;
        if conditions.is_empty() {
            return Err(RuleError::NoConditions);
        }
        for once in [
            "host-header",
            "path-pattern",
            "http-request-method",
            "source-ip",
        ] {
            if conditions.iter().filter(|c| c.kind() == once).count() > 1 {
                return Err(RuleError::Duplicate(once));
            }
        }
        let values: usize = conditions.iter().map(Condition::value_count).sum();
        if values > MAX_VALUES_PER_RULE {
            return Err(RuleError::TooManyValuesPerRule(values));
        }
        let wildcards: usize = conditions.iter().map(Condition::wildcards).sum();
        if wildcards > MAX_WILDCARDS_PER_RULE {
            return Err(RuleError::TooManyWildcards(wildcards));
        }
        let summary: Vec<&str> = conditions.iter().map(|c| &*c.1).collect();
        Ok(Rule {
            priority,
            summary: airlock_net::trace::intern(&summary.join(" and ")),
            conditions,
            action,
        })
    }

    /// The rule's priority (lower is evaluated first).
    pub fn priority(&self) -> u16 {
        self.priority
    }

    /// The rule's conditions as text (`path-pattern /pets* and http-request-method GET`).
    pub fn summary(&self) -> &'static str {
        self.summary
    }

    /// The rule's action.
    pub fn action(&self) -> &Action {
        &self.action
    }

    /// Whether every condition matches the request.
    pub fn matches(&self, req: &RequestView<'_>) -> bool {
        self.conditions.iter().all(|c| c.matches(req))
    }
}

/// What rules look at in a request.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    /// Host name without port, as the client sent it (first `Host`, or the HTTP/2 authority).
    pub host: Option<&'a str>,
    /// The path, without the query.
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: Option<&'a str>,
    /// The method.
    pub method: &'a Method,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The TCP peer of the connection to the load balancer.
    pub source_ip: IpAddr,
}

/// Picks the first rule (rules must be sorted by priority) whose conditions all match, as the
/// listener does before falling back to its default action (docs/aws-rules.md §ALB-1.4).
pub fn first_match<'r>(rules: &'r [Rule], req: &RequestView<'_>) -> Option<&'r Rule> {
    rules.iter().find(|r| r.matches(req))
}

/// A listener's rules by ascending priority, each with a [`Gate`] kept apart in one compact
/// array: a request that no rule matches (the usual case behind a default action) is turned
/// away by most rules without touching the rules themselves. Finds what [`first_match`] finds.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    gates: Vec<Gate>,
}

impl RuleSet {
    /// Wraps `rules`, which must be sorted by priority.
    pub fn new(rules: Vec<Rule>) -> RuleSet {
        let gates = rules.iter().map(Gate::of).collect();
        RuleSet { rules, gates }
    }

    /// The rules, by ascending priority.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The first rule whose conditions all match (docs/aws-rules.md §ALB-1.4), as [`first_match`] would pick.
    pub fn first_match(&self, req: &RequestView<'_>) -> Option<&Rule> {
        let path = req.path.as_bytes();
        let host = req.host.map(str::as_bytes);
        self.gates
            .iter()
            .zip(&self.rules)
            .find(|(gate, rule)| gate.admits(path, host) && rule.matches(req))
            .map(|(_, rule)| rule)
    }
}

/// What a rule's path-pattern and host-header conditions require of any request they match:
/// the literal text every one of their values starts with (up to [`Prefix::CAP`] bytes). A
/// request failing it fails the rule; one passing it still goes through every condition.
#[derive(Debug, Clone, Copy, Default)]
struct Gate {
    path: Prefix,
    /// Lower-cased, compared with the request's host lower-cased, as the condition does.
    host: Prefix,
    /// The rule has a host-header condition: a request without a host fails it.
    needs_host: bool,
}

impl Gate {
    fn of(rule: &Rule) -> Gate {
        let mut gate = Gate::default();
        for c in &rule.conditions {
            match &c.0 {
                Kind::Path(globs) => gate.path = Prefix::common(globs),
                Kind::Host(globs) => {
                    gate.host = Prefix::common(globs);
                    gate.needs_host = true;
                }
                _ => {}
            }
        }
        gate
    }

    fn admits(&self, path: &[u8], host: Option<&[u8]>) -> bool {
        if !self.path.starts(path, false) {
            return false;
        }
        match host {
            Some(h) => self.host.starts(h, true),
            None => !self.needs_host,
        }
    }
}

/// Up to [`Prefix::CAP`] literal bytes, held inline.
#[derive(Debug, Clone, Copy, Default)]
struct Prefix {
    len: u8,
    bytes: [u8; Prefix::CAP],
}

impl Prefix {
    const CAP: usize = 14;

    /// The longest literal start shared by every glob (empty when one starts with a wildcard).
    fn common(globs: &[Glob]) -> Prefix {
        let mut shared: Option<Vec<u8>> = None;
        for g in globs {
            let lit: Vec<u8> = g.literal_prefix().collect();
            shared = Some(match shared {
                None => lit,
                Some(s) => s
                    .iter()
                    .zip(&lit)
                    .take_while(|(a, b)| a == b)
                    .map(|(a, _)| *a)
                    .collect(),
            });
        }
        let shared = shared.unwrap_or_default();
        let mut prefix = Prefix::default();
        let len = shared.len().min(Prefix::CAP);
        prefix.bytes[..len].copy_from_slice(&shared[..len]);
        prefix.len = len as u8;
        prefix
    }

    /// Whether `s` starts with the prefix; `fold`: `s` lower-cased first, as folding globs
    /// compare.
    fn starts(&self, s: &[u8], fold: bool) -> bool {
        let want = &self.bytes[..usize::from(self.len)];
        match s.get(..want.len()) {
            None => false,
            Some(head) if fold => head
                .iter()
                .zip(want)
                .all(|(c, w)| c.to_ascii_lowercase() == *w),
            // Byte by byte: a few bytes decide almost every rule, sooner than a `memcmp` call.
            Some(head) => head.iter().zip(want).all(|(c, w)| c == w),
        }
    }
}

/// One rule condition (docs/aws-rules.md §ALB-1.5). Values within a condition are OR-ed.
#[derive(Debug, Clone)]
pub struct Condition(Kind, Box<str>);

#[derive(Debug, Clone)]
enum Kind {
    Host(Vec<Glob>),
    Path(Vec<Glob>),
    Header { name: HeaderName, values: Vec<Glob> },
    Method(Vec<Method>),
    Query(Vec<QueryEntry>),
    SourceIp(Vec<IpNet>),
}

#[derive(Debug, Clone)]
struct QueryEntry {
    key: Option<Glob>,
    value: Glob,
}

fn collect<I, S>(kind: &'static str, values: I) -> Result<Vec<String>, RuleError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let v: Vec<String> = values.into_iter().map(|s| s.as_ref().to_owned()).collect();
    if v.is_empty() {
        return Err(RuleError::NoValues(kind));
    }
    if v.len() > MAX_VALUES_PER_CONDITION {
        return Err(RuleError::TooManyValues {
            kind,
            count: v.len(),
        });
    }
    Ok(v)
}

/// A condition as text, for traces: `path-pattern /pets*` (values joined with ` | `).
fn describe(kind: &str, values: &[String]) -> Box<str> {
    format!("{kind} {}", values.join(" | ")).into_boxed_str()
}

fn check_len(kind: &'static str, value: &str, max: usize) -> Result<(), RuleError> {
    if value.chars().count() > max {
        return Err(RuleError::TooLong {
            kind,
            value: value.to_owned(),
            max,
        });
    }
    Ok(())
}

fn check_chars(
    kind: &'static str,
    value: &str,
    allowed: impl Fn(char) -> bool,
) -> Result<(), RuleError> {
    match value.chars().find(|c| !allowed(*c)) {
        Some(ch) => Err(RuleError::BadCharacter {
            kind,
            value: value.to_owned(),
            ch,
        }),
        None => Ok(()),
    }
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

impl Condition {
    /// `host-header`: case-insensitive globs over the host name (port stripped); each value at
    /// most 128 of `A-Z a-z 0-9 - .` and wildcards, with a `.` and only letters after the last.
    pub fn host_header<I, S>(values: I) -> Result<Condition, RuleError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        const KIND: &str = "host-header";
        let values = collect(KIND, values)?;
        let text = describe(KIND, &values);
        let mut globs = Vec::with_capacity(values.len());
        for v in values {
            check_len(KIND, &v, 128)?;
            check_chars(KIND, &v, |c| {
                c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '*' | '?')
            })?;
            match v.rsplit_once('.') {
                Some((_, tld)) if tld.chars().all(|c| c.is_ascii_alphabetic()) => {}
                _ => return Err(RuleError::HostShape(v)),
            }
            globs.push(Glob::new(&v, true, false));
        }
        Ok(Condition(Kind::Host(globs), text))
    }

    /// `path-pattern`: case-sensitive anchored globs over the path (query excluded).
    pub fn path_pattern<I, S>(values: I) -> Result<Condition, RuleError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        const KIND: &str = "path-pattern";
        let values = collect(KIND, values)?;
        let text = describe(KIND, &values);
        let mut globs = Vec::with_capacity(values.len());
        for v in values {
            check_len(KIND, &v, 128)?;
            check_chars(KIND, &v, |c| {
                c.is_ascii_alphanumeric() || "_-.$/~\"'@:+&*?".contains(c)
            })?;
            if !v.starts_with(['/', '*', '?']) {
                return Err(RuleError::PathShape(v));
            }
            globs.push(Glob::new(&v, false, false));
        }
        Ok(Condition(Kind::Path(globs), text))
    }

    /// `http-header`: the named header (not `Host`) has a value matching one of the globs,
    /// case-insensitively; name at most 40 token characters, values at most 128.
    pub fn http_header<I, S>(name: &str, values: I) -> Result<Condition, RuleError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        const KIND: &str = "http-header";
        check_len(KIND, name, 40)?;
        if name.is_empty() {
            return Err(RuleError::NoValues(KIND));
        }
        check_chars(KIND, name, is_token_char)?;
        if name.eq_ignore_ascii_case("host") {
            return Err(RuleError::HostViaHttpHeader);
        }
        let header =
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| RuleError::BadCharacter {
                kind: KIND,
                value: name.to_owned(),
                ch: ' ',
            })?;
        let values = collect(KIND, values)?;
        let text = describe(&format!("{KIND} {name}"), &values);
        let mut globs = Vec::with_capacity(values.len());
        for v in values {
            check_len(KIND, &v, 128)?;
            globs.push(Glob::new(&v, true, false));
        }
        Ok(Condition(
            Kind::Header {
                name: header,
                values: globs,
            },
            text,
        ))
    }

    /// `http-request-method`: exact, case-sensitive; at most 40 of `A-Z - _`.
    pub fn http_request_method<I, S>(values: I) -> Result<Condition, RuleError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        const KIND: &str = "http-request-method";
        let values = collect(KIND, values)?;
        let text = describe(KIND, &values);
        let mut methods = Vec::with_capacity(values.len());
        for v in values {
            check_len(KIND, &v, 40)?;
            check_chars(KIND, &v, |c| c.is_ascii_uppercase() || c == '-' || c == '_')?;
            let m = Method::from_bytes(v.as_bytes()).map_err(|_| RuleError::BadCharacter {
                kind: KIND,
                value: v.clone(),
                ch: ' ',
            })?;
            methods.push(m);
        }
        Ok(Condition(Kind::Method(methods), text))
    }

    /// `query-string`: one of the `(key, value)` entries matches a query parameter
    /// (case-insensitive globs; a missing key matches any key; `\*` and `\?` are literal).
    pub fn query_string<I, K, V>(entries: I) -> Result<Condition, RuleError>
    where
        I: IntoIterator<Item = (Option<K>, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        const KIND: &str = "query-string";
        let entries: Vec<(Option<String>, String)> = entries
            .into_iter()
            .map(|(k, v)| (k.map(|k| k.as_ref().to_owned()), v.as_ref().to_owned()))
            .collect();
        if entries.is_empty() {
            return Err(RuleError::NoValues(KIND));
        }
        if entries.len() > MAX_VALUES_PER_CONDITION {
            return Err(RuleError::TooManyValues {
                kind: KIND,
                count: entries.len(),
            });
        }
        let shown: Vec<String> = entries
            .iter()
            .map(|(k, v)| match k {
                Some(k) => format!("{k}={v}"),
                None => v.clone(),
            })
            .collect();
        let text = describe(KIND, &shown);
        let mut out = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            if let Some(k) = &k {
                check_len(KIND, k, 128)?;
            }
            check_len(KIND, &v, 128)?;
            out.push(QueryEntry {
                key: k.map(|k| Glob::new(&k, true, true)),
                value: Glob::new(&v, true, true),
            });
        }
        Ok(Condition(Kind::Query(out), text))
    }

    /// `source-ip`: the connection's peer is in one of the CIDR blocks.
    pub fn source_ip<I, S>(values: I) -> Result<Condition, RuleError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let values = collect("source-ip", values)?;
        let text = describe("source-ip", &values);
        let mut nets = Vec::with_capacity(values.len());
        for v in values {
            let net: IpNet = v.parse().map_err(|_| RuleError::BadCidr(v.clone()))?;
            if v == "255.255.255.255/32" {
                return Err(RuleError::BadCidr(v));
            }
            nets.push(net);
        }
        Ok(Condition(Kind::SourceIp(nets), text))
    }

    fn kind(&self) -> &'static str {
        match &self.0 {
            Kind::Host(_) => "host-header",
            Kind::Path(_) => "path-pattern",
            Kind::Header { .. } => "http-header",
            Kind::Method(_) => "http-request-method",
            Kind::Query(_) => "query-string",
            Kind::SourceIp(_) => "source-ip",
        }
    }

    fn value_count(&self) -> usize {
        match &self.0 {
            Kind::Host(v) | Kind::Path(v) | Kind::Header { values: v, .. } => v.len(),
            Kind::Method(v) => v.len(),
            Kind::Query(v) => v.len(),
            Kind::SourceIp(v) => v.len(),
        }
    }

    fn wildcards(&self) -> usize {
        match &self.0 {
            Kind::Host(v) | Kind::Path(v) | Kind::Header { values: v, .. } => {
                v.iter().map(Glob::wildcards).sum()
            }
            Kind::Query(v) => v
                .iter()
                .map(|e| e.value.wildcards() + e.key.as_ref().map_or(0, Glob::wildcards))
                .sum(),
            Kind::Method(_) | Kind::SourceIp(_) => 0,
        }
    }

    /// Whether the request satisfies this condition.
    pub fn matches(&self, req: &RequestView<'_>) -> bool {
        match &self.0 {
            Kind::Host(globs) => req
                .host
                .is_some_and(|h| globs.iter().any(|g| g.matches(h.as_bytes()))),
            Kind::Path(globs) => globs.iter().any(|g| g.matches(req.path.as_bytes())),
            Kind::Header { name, values } => req
                .headers
                .get_all(name)
                .iter()
                .any(|v| values.iter().any(|g| g.matches(v.as_bytes()))),
            Kind::Method(methods) => methods.iter().any(|m| m == req.method),
            Kind::Query(entries) => {
                let Some(query) = req.query else {
                    return false;
                };
                let pairs: Vec<(Vec<u8>, Vec<u8>)> = query
                    .split('&')
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let (k, v) = p.split_once('=').unwrap_or((p, ""));
                        (percent_decode(k), percent_decode(v))
                    })
                    .collect();
                entries.iter().any(|e| {
                    pairs.iter().any(|(k, v)| {
                        e.key.as_ref().is_none_or(|kg| kg.matches(k)) && e.value.matches(v)
                    })
                })
            }
            Kind::SourceIp(nets) => nets.iter().any(|n| n.contains(&req.source_ip)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::action::Action;
    use http::StatusCode;

    fn view<'a>(headers: &'a HeaderMap, method: &'a Method) -> RequestView<'a> {
        RequestView {
            host: Some("api.example.com"),
            path: "/img/cats/pic.jpg",
            query: Some("Color=Blue&size=%2A&flag"),
            method,
            headers,
            source_ip: "10.0.100.7".parse().unwrap(),
        }
    }

    fn fixed() -> Action {
        Action::FixedResponse {
            status: StatusCode::OK,
            content_type: None,
            body: String::new(),
        }
    }

    #[test]
    fn glob_semantics_follow_alb_1_5() {
        let g = Glob::new("*.example.com", true, false);
        assert!(g.matches(b"test.example.com"));
        assert!(g.matches(b"TEST.Example.COM"));
        assert!(
            !g.matches(b"example.com"),
            "docs/aws-rules.md §ALB-1.5: *.example.com must not match example.com"
        );
        let p = Glob::new("/img/*/pic.jp?", false, false);
        assert!(p.matches(b"/img/cats/pic.jpg"));
        assert!(p.matches(b"/img/a/b/pic.jpe"));
        assert!(!p.matches(b"/img/cats/pic.jpg/x"), "anchored");
        assert!(!p.matches(b"/IMG/cats/pic.jpg"), "path is case-sensitive");
        let e = Glob::new(r"a\*b", true, true);
        assert!(e.matches(b"a*b"));
        assert!(!e.matches(b"axb"));
        assert!(Glob::new("*", false, false).matches(b""));
        assert!(!Glob::new("?", false, false).matches(b""));
    }

    #[test]
    fn condition_table() {
        let mut headers = HeaderMap::new();
        headers.append("x-env", "staging".parse().unwrap());
        headers.append("x-env", "Blue-Green".parse().unwrap());
        let get = Method::GET;
        let req = view(&headers, &get);
        let cases: Vec<(Condition, bool)> = vec![
            (Condition::host_header(["*.EXAMPLE.com"]).unwrap(), true),
            (Condition::host_header(["example.com"]).unwrap(), false),
            (Condition::path_pattern(["/img/*"]).unwrap(), true),
            (Condition::path_pattern(["/Img/*"]).unwrap(), false),
            (Condition::path_pattern(["/img"]).unwrap(), false),
            // Several occurrences of a header are tried in turn (docs/aws-rules.md §ALB-1.5).
            (Condition::http_header("X-Env", ["blue-*"]).unwrap(), true),
            (Condition::http_header("x-env", ["prod"]).unwrap(), false),
            (Condition::http_header("x-missing", ["*"]).unwrap(), false),
            (
                Condition::http_request_method(["POST", "GET"]).unwrap(),
                true,
            ),
            (Condition::http_request_method(["HEAD"]).unwrap(), false),
            (
                Condition::query_string([(Some("color"), "blue")]).unwrap(),
                true,
            ),
            (
                Condition::query_string([(None::<&str>, "BLUE")]).unwrap(),
                true,
            ),
            (
                Condition::query_string([(Some("size"), r"\*")]).unwrap(),
                true,
            ),
            (
                Condition::query_string([(Some("color"), "red")]).unwrap(),
                false,
            ),
            (
                Condition::query_string([(Some("flag"), "*")]).unwrap(),
                true,
            ),
            (Condition::source_ip(["10.0.100.0/24"]).unwrap(), true),
            (
                Condition::source_ip(["10.0.101.0/24", "::1/128"]).unwrap(),
                false,
            ),
        ];
        for (i, (cond, want)) in cases.iter().enumerate() {
            assert_eq!(cond.matches(&req), *want, "case {i}: {cond:?}");
        }
    }

    #[test]
    fn conditions_and_across_or_within() {
        let headers = HeaderMap::new();
        let get = Method::GET;
        let req = view(&headers, &get);
        let both = Rule::new(
            1,
            vec![
                Condition::host_header(["nope.example.com", "api.example.com"]).unwrap(),
                Condition::path_pattern(["/img/*"]).unwrap(),
            ],
            fixed(),
        )
        .unwrap();
        assert!(both.matches(&req));
        let one_fails = Rule::new(
            2,
            vec![
                Condition::host_header(["api.example.com"]).unwrap(),
                Condition::http_request_method(["POST"]).unwrap(),
            ],
            fixed(),
        )
        .unwrap();
        assert!(!one_fails.matches(&req));
        let rules = [one_fails, both];
        assert_eq!(first_match(&rules, &req).unwrap().priority(), 1);
    }

    #[test]
    fn limits_are_enforced_at_construction() {
        assert_eq!(
            Condition::host_header(["a.com", "b.com", "c.com", "d.com"]).unwrap_err(),
            RuleError::TooManyValues {
                kind: "host-header",
                count: 4
            }
        );
        assert!(matches!(
            Condition::host_header(["localhost"]),
            Err(RuleError::HostShape(_))
        ));
        assert!(matches!(
            Condition::host_header(["a.c0m"]),
            Err(RuleError::HostShape(_))
        ));
        assert!(matches!(
            Condition::host_header(["a_b.com"]),
            Err(RuleError::BadCharacter { ch: '_', .. })
        ));
        assert!(matches!(
            Condition::path_pattern([format!("/{}", "a".repeat(128))]),
            Err(RuleError::TooLong { max: 128, .. })
        ));
        assert!(matches!(
            Condition::path_pattern(["/a b"]),
            Err(RuleError::BadCharacter { ch: ' ', .. })
        ));
        assert_eq!(
            Condition::http_header("Host", ["x"]).unwrap_err(),
            RuleError::HostViaHttpHeader
        );
        assert!(matches!(
            Condition::http_request_method(["get"]),
            Err(RuleError::BadCharacter { ch: 'g', .. })
        ));
        assert!(matches!(
            Condition::source_ip(["255.255.255.255/32"]),
            Err(RuleError::BadCidr(_))
        ));
        assert!(matches!(
            Condition::source_ip(["10.0.0.1"]),
            Err(RuleError::BadCidr(_))
        ));
        assert_eq!(
            Condition::path_pattern(Vec::<String>::new()).unwrap_err(),
            RuleError::NoValues("path-pattern")
        );
        let c = || Condition::path_pattern(["/a", "/b", "/c"]).unwrap();
        assert_eq!(
            Rule::new(1, vec![c(), c()], fixed()).unwrap_err(),
            RuleError::Duplicate("path-pattern")
        );
        assert_eq!(
            Rule::new(
                1,
                vec![
                    c(),
                    Condition::http_request_method(["GET", "PUT", "POST"]).unwrap()
                ],
                fixed()
            )
            .unwrap_err(),
            RuleError::TooManyValuesPerRule(6)
        );
        assert_eq!(
            Rule::new(
                1,
                vec![Condition::path_pattern(["/*/*/*", "/?/?/?"]).unwrap()],
                fixed()
            )
            .unwrap_err(),
            RuleError::TooManyWildcards(6)
        );
        assert_eq!(
            Rule::new(0, vec![c()], fixed()).unwrap_err(),
            RuleError::Priority(0)
        );
        assert_eq!(
            Rule::new(50_001, vec![c()], fixed()).unwrap_err(),
            RuleError::Priority(50_001)
        );
        assert_eq!(
            Rule::new(1, vec![], fixed()).unwrap_err(),
            RuleError::NoConditions
        );
    }

    /// The gated rule set picks exactly what walking every rule picks (docs/aws-rules.md §ALB-1.4), over rules of
    /// each gated shape (path and host values with shared, differing, long and wildcard-first
    /// prefixes, several values, ungated conditions beside them) and requests that hit, miss,
    /// differ only in case, stop short of a prefix or carry no host.
    #[test]
    fn rule_set_gates_never_change_the_match() {
        let shapes: Vec<Vec<Condition>> = vec![
            vec![Condition::path_pattern(["/gen0/*"]).unwrap()],
            vec![Condition::path_pattern(["/api/v1/*", "/api/v2/*"]).unwrap()],
            vec![Condition::path_pattern(["/a/*", "/b/*"]).unwrap()],
            vec![Condition::path_pattern(["*/pic.jpg"]).unwrap()],
            vec![Condition::path_pattern(["/img/cats/pic.jpg"]).unwrap()],
            vec![Condition::path_pattern(["/a-very-long-literal-prefix/x"]).unwrap()],
            vec![Condition::host_header(["gen1.example.com"]).unwrap()],
            vec![Condition::host_header(["API.example.com"]).unwrap()],
            vec![Condition::host_header(["*.example.com", "api.example.org"]).unwrap()],
            vec![Condition::host_header(["api.ex?mple.com"]).unwrap()],
            vec![
                Condition::host_header(["api.example.com"]).unwrap(),
                Condition::path_pattern(["/img/*"]).unwrap(),
            ],
            vec![
                Condition::path_pattern(["/img/*"]).unwrap(),
                Condition::http_request_method(["POST"]).unwrap(),
            ],
            vec![Condition::http_header("x-tenant", ["t-*"]).unwrap()],
        ];
        let headers = HeaderMap::new();
        let method = Method::GET;
        let requests: Vec<(Option<&str>, &str)> = vec![
            (Some("api.example.com"), "/img/cats/pic.jpg"),
            (Some("API.EXAMPLE.COM"), "/gen0/x"),
            (Some("gen1.example.com"), "/api/v2/items"),
            (Some("gen1.example.co"), "/api/v"),
            (Some("Gen1.Example.Com"), "/a/"),
            (None, "/img/dogs"),
            (None, "/a-very-long-literal-prefix/x"),
            (Some("x"), "/"),
            (Some(""), ""),
            (Some("api.exXmple.com"), "/b/c/pic.jpg"),
        ];
        // Every ordered pair of shapes as a two-rule listener, and all shapes at once.
        let mut sets: Vec<Vec<usize>> = Vec::new();
        for a in 0..shapes.len() {
            for b in 0..shapes.len() {
                sets.push(vec![a, b]);
            }
        }
        sets.push((0..shapes.len()).collect());
        for set in sets {
            let rules: Vec<Rule> = set
                .iter()
                .enumerate()
                .map(|(i, &k)| Rule::new(i as u32 + 1, shapes[k].clone(), fixed()).unwrap())
                .collect();
            let gated = RuleSet::new(rules.clone());
            for (host, path) in &requests {
                let view = RequestView {
                    host: *host,
                    path,
                    ..view(&headers, &method)
                };
                let want = first_match(&rules, &view).map(Rule::priority);
                let got = gated.first_match(&view).map(Rule::priority);
                assert_eq!(got, want, "rules {set:?}, host {host:?}, path {path:?}");
            }
        }
        // The gate does turn requests away before the conditions run.
        let gate = Gate::of(&Rule::new(1, shapes[0].clone(), fixed()).unwrap());
        assert!(!gate.admits(b"/pets", Some(b"api.example.com")));
        assert!(gate.admits(b"/gen0/a", None));
        let gate = Gate::of(&Rule::new(1, shapes[7].clone(), fixed()).unwrap());
        assert!(gate.admits(b"/", Some(b"Api.Example.COM")));
        assert!(!gate.admits(b"/", None));
    }
}
