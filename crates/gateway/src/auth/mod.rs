//! The authorization step of the pipeline (docs/aws-rules.md §HTTP-1 step 6, docs/aws-rules.md §HTTP-5): one entry point,
//! [`authorize`], for every route authorization type, and the authorizer output that later
//! steps read as `$context.authorizer.*` and `$context.identity.*`.
//!
//! - [`keys`]: a JWT authorizer's signing keys, discovered over OIDC and swapped at run time.
//! - [`lambda`]: REQUEST (Lambda) authorizers run as a local HTTP endpoint or command.
//! - [`sigv4`]: `AWS_IAM` routes, SigV4 verification and identity policies.
//!
//! Each decision is logged at debug level with the authorizer, the outcome, the reason and the
//! latency; the reason of a refusal is also kept for `$context.authorizer.error`.

pub mod fetch;
pub mod jwt;
pub mod keys;
pub mod lambda;
pub mod sigv4;

pub(crate) use crate::dates::clf_time;
use crate::response::{Body, Refusal};
use crate::{Authorization, IdentitySource, JwtAuthorizer};
use http::Request;
use http_body_util::BodyExt;
use jwt::{Claims, JwtError};
use serde_json::{Map, Value};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// What the pipeline knows about a request when it authorizes it.
#[derive(Debug, Clone)]
pub struct RequestFacts<'a> {
    /// The API id.
    pub api_id: &'a str,
    /// The stage (`$default` or a name).
    pub stage: &'a str,
    /// The matched route key as written (`GET /pets/{id}`, `$default`).
    pub route_key: String,
    /// The route's path template (`/pets/{id}`), or `/` for `$default`.
    pub route_path: String,
    /// The path as received (stage segment included).
    pub raw_path: &'a str,
    /// The path routes see (stage segment removed), for route ARNs.
    pub resource_path: &'a str,
    /// The request id (`apigw-requestid`).
    pub request_id: &'a str,
    /// The client's address.
    pub source_ip: IpAddr,
    /// The host the request was sent to.
    pub domain_name: &'a str,
    /// Path parameters, decoded.
    pub path_parameters: Vec<(String, String)>,
    /// The stage's variables.
    pub stage_variables: Vec<(String, String)>,
    /// When the request arrived.
    pub time: SystemTime,
    /// The HTTP method.
    pub method: &'a str,
}

impl RequestFacts<'_> {
    /// `arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/{METHOD}/{path}` (docs/aws-rules.md §HTTP-5.2, §HTTP-5.3).
    pub fn route_arn(&self, region: &str, account: &str) -> String {
        format!(
            "arn:aws:execute-api:{region}:{account}:{}/{}/{}/{}",
            self.api_id,
            self.stage,
            self.method,
            self.resource_path.trim_start_matches('/')
        )
    }

    fn epoch_millis(&self) -> u64 {
        self.time
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    /// A `$context.<name>` variable known before authorization, for identity sources.
    pub fn context_variable(&self, name: &str) -> Option<String> {
        Some(match name {
            "requestId" | "extendedRequestId" => self.request_id.to_owned(),
            "apiId" => self.api_id.to_owned(),
            "stage" => self.stage.to_owned(),
            "routeKey" => self.route_key.clone(),
            "httpMethod" => self.method.to_owned(),
            "domainName" => self.domain_name.to_owned(),
            "domainPrefix" => self.domain_name.split('.').next()?.to_owned(),
            "identity.sourceIp" => self.source_ip.to_string(),
            "path" => self.raw_path.to_owned(),
            "requestTimeEpoch" => self.epoch_millis().to_string(),
            "requestTime" => clf_time(self.time),
            _ => return None,
        })
    }
}

/// What an authorizer that allowed the request tells the rest of the pipeline (parameter mapping
/// and access logs read it from the request's context).
#[derive(Debug, Clone, Default)]
pub enum AuthorizerOutput {
    /// `NONE` routes.
    #[default]
    None,
    /// A JWT authorizer: the token's claims and the route's scopes.
    Jwt {
        /// The validated claims.
        claims: Claims,
        /// The route's authorization scopes, `None` when the route has none.
        scopes: Option<Arc<[String]>>,
    },
    /// A REQUEST authorizer: the IAM-policy principal and the `context` map.
    Lambda {
        /// `principalId` of an IAM-policy response.
        principal_id: Option<String>,
        /// `context`.
        context: Map<String, Value>,
    },
    /// `AWS_IAM`: the caller.
    Iam(sigv4::CallerIdentity),
}

impl AuthorizerOutput {
    /// Resolves `$context.<name>` variables the authorizer defines (`authorizer.claims.sub`,
    /// `authorizer.principalId`, `authorizer.<key>`, `identity.userArn`...). `None` when the
    /// variable is not the authorizer's or has no value.
    pub fn context_variable(&self, name: &str) -> Option<String> {
        match self {
            AuthorizerOutput::None => None,
            AuthorizerOutput::Jwt { claims, .. } => {
                claims.context_value(name.strip_prefix("authorizer.claims.")?)
            }
            AuthorizerOutput::Lambda {
                principal_id,
                context,
            } => {
                let key = name.strip_prefix("authorizer.")?;
                if key == "principalId" {
                    return principal_id.clone();
                }
                match context.get(key)? {
                    Value::String(s) => Some(s.clone()),
                    Value::Null => None,
                    other => Some(other.to_string()),
                }
            }
            AuthorizerOutput::Iam(id) => match name {
                "identity.accessKey" => Some(id.access_key.clone()),
                "identity.accountId" => Some(id.account_id.clone()),
                "identity.caller" | "identity.user" => Some(id.caller.clone()),
                "identity.userArn" => Some(id.user_arn.clone()),
                _ => None,
            },
        }
    }
}

/// The outcome of one authorizer call, with the reason for the log and
/// `$context.authorizer.error`.
#[derive(Debug)]
pub(crate) enum Decision {
    /// Go on.
    Allow(AuthorizerOutput, String),
    /// 401 `{"message":"Unauthorized"}`, nothing invoked.
    Unauthorized(String),
    /// 403 `{"message":"Forbidden"}`.
    Deny(String),
    /// 500 `{"message":"Internal Server Error"}`.
    Error(String),
}

/// The refusal of an authorizer, and why (for `$context.authorizer.error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizerError(pub String);

/// Runs the route's authorizer and logs its decision. On success the output is returned with
/// the reason (empty where nothing reads it); on refusal, the refusal to answer with and the
/// reason for `$context.authorizer.error`.
pub async fn authorize<'f>(
    authorization: &Authorization,
    facts: impl FnOnce() -> RequestFacts<'f>,
    req: &mut Request<Body>,
) -> Outcome {
    // Timed only for the debug log that reports it: two clock reads a request otherwise.
    let started = tracing::enabled!(target: "airlock::gateway::auth", tracing::Level::DEBUG)
        .then(Instant::now);
    // The request's facts are gathered only for the authorizers that read them (Lambda, IAM):
    // a JWT route, the common case, does not pay for them on every request.
    let (kind, name, result) = match authorization {
        Authorization::None => return Ok((AuthorizerOutput::None, String::new())),
        Authorization::Jwt { authorizer, scopes } => (
            "JWT",
            authorizer.name.as_str(),
            authorize_jwt(authorizer, scopes, req).await,
        ),
        Authorization::Lambda(authorizer) => {
            // Boxed: running a Lambda authorizer is an exchange with its endpoint or command,
            // whose future would otherwise be kilobytes of every request's future, JWT or not.
            let decision = Box::pin(authorizer.authorize(req, &facts())).await;
            ("REQUEST", authorizer.name(), lambda_result(decision))
        }
        Authorization::Iam(authorizer) => (
            "AWS_IAM",
            "AWS_IAM",
            authorize_iam(authorizer, &facts(), req).await,
        ),
    };
    let latency_us = started.map_or(0, |t| t.elapsed().as_micros() as u64);
    match &result {
        Ok((_, reason)) => tracing::debug!(
            target: "airlock::gateway::auth",
            authorizer = name, kind, decision = "allow", reason = %reason, latency_us,
            "authorizer decision"
        ),
        Err((refusal, reason)) => tracing::debug!(
            target: "airlock::gateway::auth",
            authorizer = name, kind, decision = "refuse", status = refusal.status().as_u16(),
            reason = %reason.0, latency_us,
            "authorizer decision"
        ),
    }
    result
}

/// An authorizer's output and why, or its refusal and why.
pub type Outcome = Result<(AuthorizerOutput, String), (Refusal, AuthorizerError)>;

fn lambda_result(decision: Decision) -> Outcome {
    match decision {
        Decision::Allow(output, reason) => Ok((output, reason)),
        Decision::Unauthorized(r) => Err((Refusal::Unauthorized, AuthorizerError(r))),
        Decision::Deny(r) => Err((Refusal::Forbidden, AuthorizerError(r))),
        Decision::Error(r) => Err((Refusal::AuthorizerFailure, AuthorizerError(r))),
    }
}

/// docs/aws-rules.md §HTTP-5.1 in order; the key lookup may refetch once for an unknown `kid`; scopes last.
async fn authorize_jwt<B>(
    authorizer: &JwtAuthorizer,
    scopes: &Arc<[String]>,
    req: &Request<B>,
) -> Outcome {
    // For the `www-authenticate` of a refusal only.
    let scope_list = || scopes.join(" ");
    let invalid = |description: String| {
        let reason = AuthorizerError(description.clone());
        Err((
            Refusal::InvalidToken {
                scopes: scope_list(),
                description,
            },
            reason,
        ))
    };
    let raw: Option<std::borrow::Cow<'_, str>> = match &authorizer.identity_source {
        IdentitySource::Header(name) => req
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(std::borrow::Cow::Borrowed),
        IdentitySource::QueryString(name) => req.uri().query().and_then(|q| {
            q.split('&').find_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (k == name)
                    .then(|| std::borrow::Cow::Owned(airlock_pool::uri::percent_decode_lossy(v)))
            })
        }),
    };
    let Some(token) = raw.as_deref().and_then(jwt::extract_token) else {
        return Err((
            Refusal::MissingToken,
            AuthorizerError("no token in the identity source".into()),
        ));
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let keys = match authorizer.keys.keys().await {
        Ok(k) => k,
        Err(e) => {
            tracing::warn!(authorizer = %authorizer.name, error = %e, "signing keys unavailable");
            return invalid("the issuer's signing keys could not be retrieved".into());
        }
    };
    let mut result = authorizer.validator.validate_with(&keys, token, now);
    if result == Err(JwtError::UnknownKid)
        && let Some(fresh) = authorizer.keys.refetch_for_unknown_kid(&keys).await
    {
        result = authorizer.validator.validate_with(&fresh, token, now);
    }
    let claims = match result {
        Ok(c) => c,
        Err(e) => return invalid(e.error_description()),
    };
    if !scopes.is_empty() {
        let granted = claims.scopes();
        if !scopes.iter().any(|s| granted.contains(&s.as_str())) {
            return Err((
                Refusal::InsufficientScope {
                    scopes: scope_list(),
                },
                AuthorizerError(format!(
                    "expected scopes: [{}]; the token grants [{}]",
                    scopes.join(" "),
                    granted.join(" ")
                )),
            ));
        }
    }
    // Only the debug log reads it: not built on every request otherwise.
    let reason = if tracing::enabled!(target: "airlock::gateway::auth", tracing::Level::DEBUG) {
        format!(
            "token of {} accepted",
            claims.context_value("sub").unwrap_or_default()
        )
    } else {
        String::new()
    };
    Ok((
        AuthorizerOutput::Jwt {
            claims,
            scopes: (!scopes.is_empty()).then(|| scopes.clone()),
        },
        reason,
    ))
}

async fn authorize_iam(
    authorizer: &sigv4::IamAuthorizer,
    facts: &RequestFacts<'_>,
    req: &mut Request<Body>,
) -> Outcome {
    // The signature covers the body: read it (the payload quota bounds it), then put it back.
    let bytes = match read_body(req.body_mut(), crate::MAX_PAYLOAD).await {
        Ok(b) => b,
        Err(Some(refusal)) => {
            return Err((
                refusal,
                AuthorizerError("the body exceeds the payload quota".into()),
            ));
        }
        Err(None) => {
            return Err((
                Refusal::Forbidden,
                AuthorizerError("the body could not be read to verify its hash".into()),
            ));
        }
    };
    *req.body_mut() = crate::response::full(bytes.clone());
    let mut headers = req.headers().clone();
    if !headers.contains_key(http::header::HOST)
        && let Some(authority) = req.uri().authority()
        && let Ok(v) = http::HeaderValue::from_str(authority.as_str())
    {
        headers.insert(http::header::HOST, v);
    }
    let signed = sigv4::SignedRequest {
        method: req.method().as_str(),
        raw_path: req.uri().path(),
        raw_query: req.uri().query().unwrap_or(""),
        headers: &headers,
        body: &bytes,
    };
    let arn = facts.route_arn(authorizer.region(), authorizer.account_id());
    match authorizer.authorize(&signed, &arn, SystemTime::now()) {
        Ok(identity) => {
            let reason = format!("signed by {}", identity.user_arn);
            Ok((AuthorizerOutput::Iam(identity), reason))
        }
        Err(e) => Err((Refusal::Forbidden, AuthorizerError(e.to_string()))),
    }
}

/// Reads a whole body; `Err(Some(413))` past `limit`, `Err(None)` when the client's stream fails.
async fn read_body(body: &mut Body, limit: u64) -> Result<bytes::Bytes, Option<Refusal>> {
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| None)?;
        if let Ok(data) = frame.into_data() {
            if buf.len() as u64 + data.len() as u64 > limit {
                return Err(Some(Refusal::PayloadTooLarge));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// IAM's wildcard match for policy resources and actions: `*` any run, `?` exactly one.
pub use airlock_pool::glob::wildcard_match;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    #[test]
    fn wildcards_match_like_iam() {
        let arn = "arn:aws:execute-api:us-east-1:123456789012:abc/$default/GET/pets/6";
        assert!(wildcard_match("*", arn));
        assert!(wildcard_match(
            "arn:aws:execute-api:us-east-1:123456789012:abc/*/GET/pets/*",
            arn
        ));
        assert!(wildcard_match(
            "arn:aws:execute-api:us-east-1:123456789012:abc/$default/GET/pets/?",
            arn
        ));
        assert!(!wildcard_match(
            "arn:aws:execute-api:us-east-1:123456789012:abc/*/POST/*",
            arn
        ));
        assert!(!wildcard_match("arn:aws:execute-api:*:abc/*/GET/pets", arn));
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
        assert!(!wildcard_match("a*b*c", "aXXbYY"));
    }

    #[test]
    fn clf_time_renders_utc() {
        let t = UNIX_EPOCH + Duration::from_secs(1_584_039_838);
        assert_eq!(clf_time(t), "12/Mar/2020:19:03:58 +0000");
        assert_eq!(clf_time(UNIX_EPOCH), "01/Jan/1970:00:00:00 +0000");
    }
}
