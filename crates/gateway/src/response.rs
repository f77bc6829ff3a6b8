//! Gateway-generated responses: the AWS JSON bodies of docs/aws-rules.md §HTTP-12, in one place.
//!
//! Every response the gateway produces or relays carries `apigw-requestid` (docs/aws-rules.md §HTTP-1); errors are
//! `content-type: application/json` with a compact `{"message":"…"}` body.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::BoxBody};

/// The body type of every gateway response: streamed from the backend, or generated.
pub type Body = BoxBody<Bytes, BoxError>;
/// Request-path errors, classified at the edge.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why the gateway answers by itself, each with its catalogue row (docs/aws-rules.md §HTTP-12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No API, stage or route matched; or the default endpoint is disabled. 404.
    NotFound,
    /// JWT missing (no `www-authenticate` detail). 401.
    MissingToken,
    /// JWT invalid: the route's scopes and the failure description. 401.
    InvalidToken {
        /// The route's scopes, space-separated.
        scopes: String,
        /// `error_description`.
        description: String,
    },
    /// JWT valid but none of the route's scopes granted. 403.
    InsufficientScope {
        /// The route's scopes, space-separated.
        scopes: String,
    },
    /// A Lambda authorizer's identity source is missing: 401 without `www-authenticate`.
    Unauthorized,
    /// A Lambda authorizer denied, or IAM refused the signature or the permission. 403.
    Forbidden,
    /// A Lambda authorizer failed, timed out or answered something invalid. 500.
    AuthorizerFailure,
    /// The integration failed (connection, TLS, VPC link). 500.
    IntegrationFailure,
    /// The integration did not answer within its timeout. 503.
    IntegrationTimeout,
    /// The request body exceeds the 10 MB payload quota (docs/aws-rules.md §HTTP-8). 413.
    PayloadTooLarge,
    /// The route's token bucket is empty (docs/aws-rules.md §HTTP-3.3). 429.
    Throttled,
    /// The request line and headers exceed the 10,240-byte quota (docs/aws-rules.md §HTTP-8). 431 (unconfirmed).
    RequestHeaderTooLarge,
}

impl Refusal {
    /// The status AWS answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::NotFound => StatusCode::NOT_FOUND,
            Refusal::MissingToken | Refusal::InvalidToken { .. } | Refusal::Unauthorized => {
                StatusCode::UNAUTHORIZED
            }
            Refusal::InsufficientScope { .. } | Refusal::Forbidden => StatusCode::FORBIDDEN,
            Refusal::IntegrationFailure | Refusal::AuthorizerFailure => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            Refusal::IntegrationTimeout => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::Throttled => StatusCode::TOO_MANY_REQUESTS,
            Refusal::RequestHeaderTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        }
    }

    /// The `message` of the body, also `$context.error.message`.
    pub fn message(&self) -> &'static str {
        match self {
            Refusal::NotFound => "Not Found",
            Refusal::MissingToken | Refusal::InvalidToken { .. } | Refusal::Unauthorized => {
                "Unauthorized"
            }
            Refusal::InsufficientScope { .. } | Refusal::Forbidden => "Forbidden",
            Refusal::IntegrationFailure | Refusal::AuthorizerFailure => "Internal Server Error",
            Refusal::IntegrationTimeout => "Service Unavailable",
            Refusal::PayloadTooLarge => "Request Entity Too Large",
            Refusal::Throttled => "Too Many Requests",
            Refusal::RequestHeaderTooLarge => "Request Header Fields Too Large",
        }
    }

    /// `$context.error.responseType`, named like API Gateway's gateway response types.
    pub fn response_type(&self) -> &'static str {
        match self {
            Refusal::NotFound => "RESOURCE_NOT_FOUND",
            Refusal::MissingToken | Refusal::InvalidToken { .. } | Refusal::Unauthorized => {
                "UNAUTHORIZED"
            }
            Refusal::InsufficientScope { .. } | Refusal::Forbidden => "ACCESS_DENIED",
            Refusal::AuthorizerFailure => "AUTHORIZER_FAILURE",
            Refusal::IntegrationFailure => "INTEGRATION_FAILURE",
            Refusal::IntegrationTimeout => "INTEGRATION_TIMEOUT",
            Refusal::PayloadTooLarge => "REQUEST_TOO_LARGE",
            Refusal::Throttled => "THROTTLED",
            Refusal::RequestHeaderTooLarge => "REQUEST_TOO_LARGE",
        }
    }

    fn www_authenticate(&self) -> Option<String> {
        match self {
            Refusal::MissingToken => Some("Bearer".to_owned()),
            Refusal::InvalidToken {
                scopes,
                description,
            } => Some(format!(
                "Bearer scope=\"{scopes}\" error=\"invalid_token\" error_description=\"{description}\""
            )),
            Refusal::InsufficientScope { scopes } => Some(format!(
                "Bearer scope=\"{scopes}\" error=\"insufficient_scope\" error_description=\"expected scopes: [{scopes}]\""
            )),
            _ => None,
        }
    }

    /// The full response, as API Gateway writes it.
    pub fn into_response(self, request_id: &HeaderValue) -> Response<Body> {
        let body = format!("{{\"message\":\"{}\"}}", self.message());
        let mut resp = Response::new(full(body));
        *resp.status_mut() = self.status();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert("apigw-requestid", request_id.clone());
        if let Some(v) = self
            .www_authenticate()
            .and_then(|v| HeaderValue::from_str(&v).ok())
        {
            h.insert(header::WWW_AUTHENTICATE, v);
        }
        resp
    }
}

/// A complete body from bytes.
pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

/// A fresh request id: 16 base64 characters ending in `=`, like `Mc7UVioPPHcEKPA=` (docs/aws-rules.md §HTTP-1).
pub fn request_id() -> HeaderValue {
    use base64::Engine;
    let bytes: [u8; 11] = rand::random();
    // Base64 of 11 bytes is always 15 characters plus one '=', all header-safe; encoded on the
    // stack, as this runs once per request.
    let mut id = [0u8; 16];
    match base64::engine::general_purpose::STANDARD.encode_slice(bytes, &mut id) {
        Ok(16) => HeaderValue::from_bytes(&id)
            .unwrap_or_else(|_| HeaderValue::from_static("AAAAAAAAAAAAAAA=")),
        _ => HeaderValue::from_static("AAAAAAAAAAAAAAA="),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn request_ids_look_like_aws() {
        let id = request_id();
        let s = id.to_str().unwrap();
        assert_eq!(s.len(), 16);
        assert!(s.ends_with('=') && !s.ends_with("=="));
    }

    /// docs/aws-rules.md §HTTP-5.1 responses table and docs/aws-rules.md §HTTP-12.
    #[test]
    fn scope_refusal_has_the_documented_header() {
        let r = Refusal::InsufficientScope {
            scopes: "pets/write".into(),
        }
        .into_response(&request_id());
        assert_eq!(r.status(), 403);
        assert_eq!(
            r.headers()["www-authenticate"],
            "Bearer scope=\"pets/write\" error=\"insufficient_scope\" error_description=\"expected scopes: [pets/write]\""
        );
    }
}
