//! `$context` variables (docs/aws-rules.md §HTTP-9): what parameter mappings and access logs read.
//!
//! One [`RequestContext`] is filled as the request moves through the pipeline; fields the
//! pipeline has not reached yet render as absent.

use crate::auth::jwt::Claims;
pub use crate::dates::clf_time;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The request's context, built up step by step.
#[derive(Debug, Default, Clone)]
pub struct RequestContext {
    /// `requestId` / `extendedRequestId` (set for every request: the `apigw-requestid`
    /// header's value, shared rather than copied).
    pub request_id: Option<http::HeaderValue>,
    /// `apiId`.
    pub api_id: Option<Arc<str>>,
    /// `accountId`.
    pub account_id: Arc<str>,
    /// `stage`.
    pub stage: Option<Arc<str>>,
    /// `routeKey`.
    pub route_key: Option<Arc<str>>,
    /// `httpMethod`.
    pub http_method: http::Method,
    /// The target the client sent; `path` is its path (stage segment included). Kept as the
    /// `Uri` (shared bytes) so a request pays for the text only if something reads it.
    pub uri: http::Uri,
    /// `protocol`: the client's protocol, `HTTP/1.1` or `HTTP/2.0`.
    pub protocol: &'static str,
    /// `domainName`.
    pub domain_name: String,
    /// `customDomain.basePathMatched`.
    pub base_path_matched: Option<String>,
    /// `identity.sourceIp` (set for every request).
    pub source_ip: Option<std::net::IpAddr>,
    /// `identity.userAgent`.
    pub user_agent: Option<http::HeaderValue>,
    /// When the request arrived.
    pub request_time: Option<SystemTime>,
    /// The JWT authorizer's claims, `authorizer.claims.<name>`.
    pub claims: Option<Claims>,
    /// What the route's authorizer established: `authorizer.principalId`, `authorizer.<key>`,
    /// `identity.userArn`... (see [`crate::auth::AuthorizerOutput::context_variable`]).
    pub authorizer: crate::auth::AuthorizerOutput,
    /// `authorizer.error`: why the authorizer refused or failed.
    pub authorizer_error: Option<String>,
    /// `status`.
    pub status: Option<u16>,
    /// `responseLength`.
    pub response_length: Option<u64>,
    /// `responseLatency`.
    pub response_latency: Option<Duration>,
    /// `integrationLatency` / `integration.latency`.
    pub integration_latency: Option<Duration>,
    /// `integrationStatus` / `integration.status`.
    pub integration_status: Option<u16>,
    /// `integrationErrorMessage` / `integration.error`.
    pub integration_error: Option<String>,
    /// `error.message`.
    pub error_message: Option<&'static str>,
    /// `error.responseType`.
    pub error_response_type: Option<&'static str>,
    /// The request's trace, when tracing is on: each step adds its decision.
    pub trace: Option<Box<airlock_net::trace::Segment>>,
}

impl RequestContext {
    /// The value of `$context.<name>`, or `None` when absent.
    pub fn var(&self, name: &str) -> Option<String> {
        let ms = |d: &Option<Duration>| d.map(|d| d.as_millis().to_string());
        Some(match name {
            "requestId" | "extendedRequestId" => self.request_id()?.to_owned(),
            "apiId" => self.api_id.as_deref()?.to_owned(),
            "accountId" => self.account_id.to_string(),
            "stage" => self.stage.as_deref()?.to_owned(),
            "routeKey" => self.route_key.as_deref()?.to_owned(),
            "httpMethod" => self.http_method.as_str().to_owned(),
            "path" => self.path().to_owned(),
            "protocol" => self.protocol.to_owned(),
            "domainName" => self.domain_name.clone(),
            "domainPrefix" => self
                .domain_name
                .split('.')
                .next()
                .unwrap_or_default()
                .to_owned(),
            "customDomain.basePathMatched" => self.base_path_matched.clone()?,
            "identity.sourceIp" => {
                let mut ip = String::with_capacity(15);
                airlock_net::text::push_ip(&mut ip, self.source_ip?);
                ip
            }
            "identity.userAgent" => self.user_agent.as_ref()?.to_str().ok()?.to_owned(),
            "requestTime" => clf_time(self.request_time?),
            "requestTimeEpoch" => self
                .request_time?
                .duration_since(UNIX_EPOCH)
                .ok()?
                .as_millis()
                .to_string(),
            "status" => self.status?.to_string(),
            "responseLength" => self.response_length?.to_string(),
            "responseLatency" => ms(&self.response_latency)?,
            "integrationLatency" | "integration.latency" => ms(&self.integration_latency)?,
            "integrationStatus" | "integration.status" => self.integration_status?.to_string(),
            "integrationErrorMessage" | "integration.error" => self.integration_error.clone()?,
            "error.message" => self.error_message?.to_owned(),
            "error.messageString" => format!("\"{}\"", self.error_message?),
            "error.responseType" => self.error_response_type?.to_owned(),
            "authorizer.error" => self.authorizer_error.clone()?,
            other => match other.strip_prefix("authorizer.claims.") {
                Some(claim) => self.claims.as_ref()?.context_value(claim)?,
                None => self.authorizer.context_variable(other)?,
            },
        })
    }

    /// Adds a hop to the request's trace; `hop` is called only when tracing is on.
    pub fn hop(
        &mut self,
        hop: impl for<'s> FnOnce(&'s mut airlock_net::trace::Segment) -> airlock_net::trace::HopMut<'s>,
    ) {
        if let Some(t) = self.trace.as_mut() {
            hop(t);
        }
    }

    /// `requestId`, as text.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_ref()?.to_str().ok()
    }

    /// `path`: the path the client sent.
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// A context with fixed values, for unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests() -> RequestContext {
        RequestContext {
            request_id: Some(http::HeaderValue::from_static("Mc7UVioPPHcEKPA=")),
            api_id: Some("a1b2c3d4e5".into()),
            account_id: "000000000000".into(),
            stage: Some("dev".into()),
            route_key: Some("GET /pets/{id}".into()),
            http_method: http::Method::GET,
            uri: http::Uri::from_static("/dev/pets/1"),
            protocol: "HTTP/1.1",
            domain_name: "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com".into(),
            source_ip: Some(std::net::Ipv4Addr::LOCALHOST.into()),
            request_time: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            ..RequestContext::default()
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn variables() {
        let c = RequestContext::for_tests();
        assert_eq!(c.var("domainPrefix").unwrap(), "a1b2c3d4e5");
        assert_eq!(c.var("requestTimeEpoch").unwrap(), "1700000000000");
        assert_eq!(c.var("customDomain.basePathMatched"), None);
        assert_eq!(c.var("authorizer.claims.sub"), None);
        assert_eq!(c.var("nonsense"), None);
    }
}
