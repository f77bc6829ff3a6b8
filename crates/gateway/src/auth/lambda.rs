//! Lambda REQUEST authorizers (docs/aws-rules.md §HTTP-5.2), with the "function" run locally.
//!
//! The function is either an HTTP endpoint on a loopback address that receives the event as a
//! JSON `POST` and answers with the authorizer response, or a local command that reads the event
//! on standard input and writes the response on standard output. Everything around the call is
//! API Gateway's: the payload 1.0 and 2.0 events, identity sources (a missing one answers 401
//! without invoking), the result cache keyed by identity-source values, the 10-second timeout,
//! simple and IAM-policy responses, and `context` exposed as `$context.authorizer.*`.

use super::fetch::{Fetcher, LoopbackUrl};
use super::{Decision, RequestFacts, clf_time, wildcard_match};
use bytes::Bytes;
use http::HeaderName;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt as _;

/// The authorizer response timeout (docs/aws-rules.md §HTTP-8: "Lambda authorizer response timeout").
pub const AUTHORIZER_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest authorizer response read (a Lambda response payload is at most 6 MB; authorizer
/// answers are small).
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// What stands in for the Lambda function.
#[derive(Debug, Clone)]
pub enum AuthorizerFunction {
    /// An HTTP endpoint on a loopback address; the event is `POST`ed as JSON.
    Http(LoopbackUrl),
    /// A command line (program and arguments); the event arrives on stdin, the response is
    /// read from stdout, and a non-zero exit counts as a failed invocation.
    Command(Vec<String>),
}

/// `AuthorizerPayloadFormatVersion`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadFormat {
    /// `1.0`: the REST API REQUEST-authorizer event; IAM-policy responses.
    V1,
    /// `2.0`: the HTTP API event; IAM-policy or (with simple responses) boolean responses.
    V2,
}

/// One identity source selection expression of a REQUEST authorizer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LambdaIdentitySource {
    /// `$request.header.<name>`.
    Header(HeaderName),
    /// `$request.querystring.<name>` (case-sensitive).
    QueryString(String),
    /// `$context.<variable>`.
    Context(String),
    /// `$stageVariables.<name>`.
    StageVariable(String),
}

impl LambdaIdentitySource {
    fn expression(&self) -> String {
        match self {
            LambdaIdentitySource::Header(h) => format!("$request.header.{h}"),
            LambdaIdentitySource::QueryString(q) => format!("$request.querystring.{q}"),
            LambdaIdentitySource::Context(c) => format!("$context.{c}"),
            LambdaIdentitySource::StageVariable(s) => format!("$stageVariables.{s}"),
        }
    }
}

/// A REQUEST authorizer's configuration.
#[derive(Debug, Clone)]
pub struct LambdaConfig {
    /// The authorizer's name, for logs.
    pub name: String,
    /// The function.
    pub function: AuthorizerFunction,
    /// `AuthorizerPayloadFormatVersion`.
    pub payload_format: PayloadFormat,
    /// `EnableSimpleResponses` (2.0 only).
    pub simple_responses: bool,
    /// `IdentitySource`, in order.
    pub identity_sources: Vec<LambdaIdentitySource>,
    /// `AuthorizerResultTtlInSeconds`; zero disables caching.
    pub result_ttl: Duration,
    /// How long the function may take (10 s in AWS; tests shorten it).
    pub timeout: Duration,
    /// The region, for route ARNs.
    pub region: String,
    /// The account id, for route ARNs and events.
    pub account_id: String,
}

/// Why an invocation produced no usable answer; each becomes a 500 and
/// `$context.authorizer.error`.
#[derive(Debug, thiserror::Error)]
pub enum LambdaError {
    /// The function did not answer in time.
    #[error("the authorizer did not respond within {0:?}")]
    Timeout(Duration),
    /// The function could not be invoked, or failed.
    #[error("the authorizer could not be invoked: {0}")]
    Invoke(String),
    /// The answer is not a valid authorizer response.
    #[error("the authorizer returned an invalid response: {0}")]
    Malformed(&'static str),
}

/// A parsed authorizer response, kept in the cache and evaluated per request.
#[derive(Debug, Clone)]
enum Answer {
    Simple {
        authorized: bool,
        context: Map<String, Value>,
    },
    Policy {
        principal_id: Option<String>,
        statements: Vec<Statement>,
        context: Map<String, Value>,
    },
}

#[derive(Debug, Clone)]
struct Statement {
    allow: bool,
    actions: Vec<String>,
    resources: Vec<String>,
}

/// A running REQUEST authorizer: the function, its cache and an invocation counter.
pub struct LambdaAuthorizer {
    config: LambdaConfig,
    fetcher: Fetcher,
    cache: Mutex<HashMap<Vec<String>, (Instant, Answer)>>,
    invocations: AtomicU64,
}

impl std::fmt::Debug for LambdaAuthorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LambdaAuthorizer")
            .field("name", &self.config.name)
            .finish_non_exhaustive()
    }
}

impl LambdaAuthorizer {
    /// An authorizer; `roots` are trusted when the function is an `https://` endpoint.
    pub fn new(
        config: LambdaConfig,
        roots: &[rustls_pki_types::CertificateDer<'static>],
    ) -> LambdaAuthorizer {
        LambdaAuthorizer {
            config,
            fetcher: Fetcher::new(roots),
            cache: Mutex::new(HashMap::new()),
            invocations: AtomicU64::new(0),
        }
    }

    /// The authorizer's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// How many times the function was invoked (cache hits and missing identity sources do not
    /// invoke it).
    pub fn invocations(&self) -> u64 {
        self.invocations.load(Ordering::Relaxed)
    }

    /// Decides one request.
    pub(crate) async fn authorize<B>(
        &self,
        req: &http::Request<B>,
        facts: &RequestFacts<'_>,
    ) -> Decision {
        let mut identity = Vec::with_capacity(self.config.identity_sources.len());
        for source in &self.config.identity_sources {
            match resolve(source, req, facts) {
                Some(v) if !v.is_empty() => identity.push(v),
                _ => {
                    return Decision::Unauthorized(format!(
                        "identity source {} is missing",
                        source.expression()
                    ));
                }
            }
        }
        let route_arn = facts.route_arn(&self.config.region, &self.config.account_id);
        // Caching needs at least one identity source (docs/aws-rules.md §HTTP-5.2).
        let cacheable = !self.config.result_ttl.is_zero() && !identity.is_empty();
        if cacheable && let Some(answer) = self.cached(&identity) {
            return self.decide(answer, &route_arn, true);
        }
        let event = self.event(req, facts, &identity, &route_arn);
        let answer = match self.invoke(event).await.and_then(|raw| self.parse(&raw)) {
            Ok(a) => a,
            Err(e) => return Decision::Error(e.to_string()),
        };
        if cacheable {
            self.store(identity, answer.clone());
        }
        self.decide(answer, &route_arn, false)
    }

    fn cached(&self, identity: &[String]) -> Option<Answer> {
        let mut cache = self.cache.lock().ok()?;
        match cache.get(identity) {
            Some((expires, answer)) if *expires > Instant::now() => Some(answer.clone()),
            Some(_) => {
                cache.remove(identity);
                None
            }
            None => None,
        }
    }

    fn store(&self, identity: Vec<String>, answer: Answer) {
        if let Ok(mut cache) = self.cache.lock() {
            let now = Instant::now();
            // Expired entries are dropped on insert so the cache cannot grow without bound.
            cache.retain(|_, (expires, _)| *expires > now);
            cache.insert(identity, (now + self.config.result_ttl, answer));
        }
    }

    fn decide(&self, answer: Answer, route_arn: &str, cached: bool) -> Decision {
        let hit = if cached { " (cached)" } else { "" };
        match answer {
            Answer::Simple {
                authorized: true,
                context,
            } => Decision::Allow(
                super::AuthorizerOutput::Lambda {
                    principal_id: None,
                    context,
                },
                format!("isAuthorized true{hit}"),
            ),
            Answer::Simple {
                authorized: false, ..
            } => Decision::Deny(format!("isAuthorized false{hit}")),
            Answer::Policy {
                principal_id,
                statements,
                context,
            } => {
                let matching = |allow: bool| {
                    statements.iter().any(|s| {
                        s.allow == allow
                            && s.actions.iter().any(|a| action_matches(a))
                            && s.resources.iter().any(|r| wildcard_match(r, route_arn))
                    })
                };
                if matching(false) {
                    Decision::Deny(format!("policy denies {route_arn}{hit}"))
                } else if matching(true) {
                    Decision::Allow(
                        super::AuthorizerOutput::Lambda {
                            principal_id,
                            context,
                        },
                        format!("policy allows {route_arn}{hit}"),
                    )
                } else {
                    Decision::Deny(format!("policy does not allow {route_arn}{hit}"))
                }
            }
        }
    }

    async fn invoke(&self, event: Value) -> Result<Bytes, LambdaError> {
        self.invocations.fetch_add(1, Ordering::Relaxed);
        let body = Bytes::from(event.to_string());
        let timeout = self.config.timeout;
        match &self.config.function {
            AuthorizerFunction::Http(url) => self
                .fetcher
                .post_json(url, body, timeout, MAX_RESPONSE_BYTES)
                .await
                .map_err(|e| match e {
                    super::fetch::FetchError::Timeout(d) => LambdaError::Timeout(d),
                    other => LambdaError::Invoke(other.to_string()),
                }),
            AuthorizerFunction::Command(argv) => {
                tokio::time::timeout(timeout, run_command(argv, body))
                    .await
                    .map_err(|_| LambdaError::Timeout(timeout))?
            }
        }
    }

    fn parse(&self, raw: &[u8]) -> Result<Answer, LambdaError> {
        let value: Value =
            serde_json::from_slice(raw).map_err(|_| LambdaError::Malformed("not JSON"))?;
        let obj = value
            .as_object()
            .ok_or(LambdaError::Malformed("not a JSON object"))?;
        let context = match obj.get("context") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(LambdaError::Malformed("context is not an object")),
        };
        if self.config.payload_format == PayloadFormat::V1 && context.contains_key("claims") {
            return Err(LambdaError::Malformed("claims is a reserved context key"));
        }
        if self.config.simple_responses && self.config.payload_format == PayloadFormat::V2 {
            let authorized = obj
                .get("isAuthorized")
                .and_then(Value::as_bool)
                .ok_or(LambdaError::Malformed("isAuthorized is not a boolean"))?;
            return Ok(Answer::Simple {
                authorized,
                context,
            });
        }
        let principal_id = match obj.get("principalId") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(LambdaError::Malformed("principalId is not a string")),
        };
        let doc = obj
            .get("policyDocument")
            .and_then(Value::as_object)
            .ok_or(LambdaError::Malformed("policyDocument is missing"))?;
        let statements = match doc.get("Statement") {
            Some(Value::Array(items)) => items.iter().map(statement).collect(),
            Some(one @ Value::Object(_)) => statement(one).map(|s| vec![s]),
            _ => Err(LambdaError::Malformed(
                "policyDocument.Statement is missing",
            )),
        }?;
        Ok(Answer::Policy {
            principal_id,
            statements,
            context,
        })
    }

    fn event(
        &self,
        req: &http::Request<impl Sized>,
        facts: &RequestFacts<'_>,
        identity: &[String],
        route_arn: &str,
    ) -> Value {
        let method = req.method().as_str();
        let user_agent = header_joined(req, "user-agent");
        let raw_query = req.uri().query().unwrap_or("");
        let query = query_map(raw_query);
        let path_params: Map<String, Value> = facts
            .path_parameters
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let stage_vars: Map<String, Value> = facts
            .stage_variables
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let epoch_ms = facts.epoch_millis();
        let domain_prefix = facts.domain_name.split('.').next().unwrap_or("");
        let protocol = format!("{:?}", req.version());
        match self.config.payload_format {
            PayloadFormat::V2 => {
                let mut headers = Map::new();
                let mut cookies = Vec::new();
                for name in req.headers().keys() {
                    if name == http::header::COOKIE {
                        for v in req.headers().get_all(name) {
                            if let Ok(s) = v.to_str() {
                                cookies.extend(
                                    s.split(';')
                                        .map(str::trim)
                                        .filter(|c| !c.is_empty())
                                        .map(|c| Value::String(c.to_owned())),
                                );
                            }
                        }
                        continue;
                    }
                    headers.insert(
                        name.as_str().to_owned(),
                        Value::String(header_joined(req, name.as_str())),
                    );
                }
                let mut event = json!({
                    "version": "2.0",
                    "type": "REQUEST",
                    "routeArn": route_arn,
                    "identitySource": identity,
                    "routeKey": facts.route_key,
                    "rawPath": facts.raw_path,
                    "rawQueryString": raw_query,
                    "headers": headers,
                    "requestContext": {
                        "accountId": self.config.account_id,
                        "apiId": facts.api_id,
                        "domainName": facts.domain_name,
                        "domainPrefix": domain_prefix,
                        "http": {
                            "method": method,
                            "path": facts.raw_path,
                            "protocol": protocol,
                            "sourceIp": facts.source_ip.to_string(),
                            "userAgent": user_agent,
                        },
                        "requestId": facts.request_id,
                        "routeKey": facts.route_key,
                        "stage": facts.stage,
                        "time": clf_time(facts.time),
                        "timeEpoch": epoch_ms,
                    },
                });
                let obj = event.as_object_mut();
                if let Some(obj) = obj {
                    if !cookies.is_empty() {
                        obj.insert("cookies".into(), Value::Array(cookies));
                    }
                    if !query.is_empty() {
                        let joined: Map<String, Value> = query
                            .iter()
                            .map(|(k, vs)| (k.clone(), Value::String(vs.join(","))))
                            .collect();
                        obj.insert("queryStringParameters".into(), Value::Object(joined));
                    }
                    if !path_params.is_empty() {
                        obj.insert("pathParameters".into(), Value::Object(path_params));
                    }
                    if !stage_vars.is_empty() {
                        obj.insert("stageVariables".into(), Value::Object(stage_vars));
                    }
                }
                event
            }
            PayloadFormat::V1 => {
                let mut headers = Map::new();
                let mut multi_headers = Map::new();
                for name in req.headers().keys() {
                    let values: Vec<Value> = req
                        .headers()
                        .get_all(name)
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .map(|v| Value::String(v.to_owned()))
                        .collect();
                    if let Some(last) = values.last() {
                        headers.insert(name.as_str().to_owned(), last.clone());
                    }
                    multi_headers.insert(name.as_str().to_owned(), Value::Array(values));
                }
                let or_null = |m: Map<String, Value>| {
                    if m.is_empty() {
                        Value::Null
                    } else {
                        Value::Object(m)
                    }
                };
                let single: Map<String, Value> = query
                    .iter()
                    .filter_map(|(k, vs)| Some((k.clone(), Value::String(vs.last()?.clone()))))
                    .collect();
                let multi: Map<String, Value> =
                    query.iter().map(|(k, vs)| (k.clone(), json!(vs))).collect();
                let joined = identity.join(",");
                json!({
                    "version": "1.0",
                    "type": "REQUEST",
                    "methodArn": route_arn,
                    "identitySource": joined,
                    "authorizationToken": joined,
                    "resource": facts.route_path,
                    "path": facts.raw_path,
                    "httpMethod": method,
                    "headers": headers,
                    "multiValueHeaders": multi_headers,
                    "queryStringParameters": or_null(single),
                    "multiValueQueryStringParameters": or_null(multi),
                    "pathParameters": or_null(path_params),
                    "stageVariables": or_null(stage_vars),
                    "requestContext": {
                        "accountId": self.config.account_id,
                        "apiId": facts.api_id,
                        "domainName": facts.domain_name,
                        "domainPrefix": domain_prefix,
                        "extendedRequestId": facts.request_id,
                        "httpMethod": method,
                        "identity": {
                            "sourceIp": facts.source_ip.to_string(),
                            "userAgent": user_agent,
                        },
                        "path": facts.raw_path,
                        "protocol": protocol,
                        "requestId": facts.request_id,
                        "requestTime": clf_time(facts.time),
                        "requestTimeEpoch": epoch_ms,
                        "resourcePath": facts.route_path,
                        "stage": facts.stage,
                    },
                })
            }
        }
    }
}

async fn run_command(argv: &[String], event: Bytes) -> Result<Bytes, LambdaError> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| LambdaError::Invoke("the command is empty".into()))?;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| LambdaError::Invoke(format!("{program}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A function that exits without reading its input is not an error in itself.
        let _ = stdin.write_all(&event).await;
        drop(stdin);
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| LambdaError::Invoke(format!("{program}: {e}")))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stderr: String = stderr.trim().chars().take(200).collect();
        return Err(LambdaError::Invoke(format!(
            "{program} exited with {}: {stderr}",
            out.status
        )));
    }
    if out.stdout.len() > MAX_RESPONSE_BYTES {
        return Err(LambdaError::Malformed("the response is too large"));
    }
    Ok(Bytes::from(out.stdout))
}

fn statement(v: &Value) -> Result<Statement, LambdaError> {
    let strings = |v: Option<&Value>, what: &'static str| match v {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or(LambdaError::Malformed(what))
            })
            .collect(),
        _ => Err(LambdaError::Malformed(what)),
    };
    let allow = match v.get("Effect").and_then(Value::as_str) {
        Some(e) if e.eq_ignore_ascii_case("allow") => true,
        Some(e) if e.eq_ignore_ascii_case("deny") => false,
        _ => {
            return Err(LambdaError::Malformed(
                "a statement's Effect is not Allow or Deny",
            ));
        }
    };
    Ok(Statement {
        allow,
        actions: strings(v.get("Action"), "a statement's Action is missing")?,
        resources: strings(v.get("Resource"), "a statement's Resource is missing")?,
    })
}

fn action_matches(action: &str) -> bool {
    wildcard_match(&action.to_ascii_lowercase(), "execute-api:invoke")
}

fn resolve<B>(
    source: &LambdaIdentitySource,
    req: &http::Request<B>,
    facts: &RequestFacts<'_>,
) -> Option<String> {
    match source {
        LambdaIdentitySource::Header(name) => {
            req.headers().get(name)?;
            Some(header_joined(req, name.as_str()))
        }
        LambdaIdentitySource::QueryString(name) => query_map(req.uri().query().unwrap_or(""))
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, vs)| vs.join(",")),
        LambdaIdentitySource::Context(var) => facts.context_variable(var),
        LambdaIdentitySource::StageVariable(name) => facts
            .stage_variables
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone()),
    }
}

fn header_joined<B>(req: &http::Request<B>, name: &str) -> String {
    let values: Vec<&str> = req
        .headers()
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    values.join(",")
}

/// Query parameters in order of first appearance, values percent-decoded.
fn query_map(raw: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = airlock_pool::uri::percent_decode_lossy(&k.replace('+', " "));
        let v = airlock_pool::uri::percent_decode_lossy(&v.replace('+', " "));
        match out.iter_mut().find(|(name, _)| *name == k) {
            Some((_, vs)) => vs.push(v),
            None => out.push((k, vec![v])),
        }
    }
    out
}
