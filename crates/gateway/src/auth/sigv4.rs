//! IAM authorization (docs/aws-rules.md §HTTP-5.3): Signature Version 4 verification against
//! credentials declared in the stack file, then the caller's identity policy.
//!
//! The canonical request is rebuilt from what arrived on the wire, exactly as the SigV4
//! specification defines it for every service but S3: the path normalised (dot segments and
//! empty segments removed) and URI-encoded once more, query parameters decoded, re-encoded and
//! sorted, the signed headers lower-cased with whitespace collapsed, and the SHA-256 of the body
//! (an `x-amz-content-sha256` header must equal it). Any failure is a 403; the reason goes to the log and `$context.authorizer.error`.

use super::wildcard_match;
use ring::{digest, hmac};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// SigV4's algorithm name.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The service name clients sign for.
pub const SERVICE: &str = "execute-api";
/// How far the request's signing time may be from the gateway's clock (AWS: 15 minutes).
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// A credential declared in the stack file: the keys, who they stand for, and the resources
/// the identity policy lets them invoke.
#[derive(Debug, Clone)]
pub struct IamCredential {
    /// `AKIA...`.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The principal's ARN (`arn:aws:iam::123456789012:user/alice`).
    pub principal_arn: String,
    /// `execute-api:Invoke` resources (ARNs, `*` and `?` wildcards) the identity policy allows.
    pub allowed_resources: Vec<String>,
}

/// Who signed a request that passed: `$context.identity.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    /// `$context.identity.accessKey`.
    pub access_key: String,
    /// `$context.identity.accountId`: the account of the principal's ARN.
    pub account_id: String,
    /// `$context.identity.caller` and `.user`: airlock uses the access key id (AWS shows the
    /// principal's unique id, which a stack file does not have).
    pub caller: String,
    /// `$context.identity.userArn`.
    pub user_arn: String,
}

/// Why a request was refused (all are 403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IamError {
    /// No SigV4 `Authorization` header.
    #[error("the request is not signed (no AWS4-HMAC-SHA256 Authorization header)")]
    Unsigned,
    /// The `Authorization` header is not SigV4's shape.
    #[error("the Authorization header is malformed: {0}")]
    Malformed(&'static str),
    /// The credential scope is not `<date>/<region>/execute-api/aws4_request`.
    #[error("the credential scope {0} does not match this API ({1})")]
    Scope(String, String),
    /// The access key is not declared in the stack file.
    #[error("the access key {0} is not declared")]
    UnknownAccessKey(String),
    /// No `x-amz-date` header (nor `date`), or one that does not parse.
    #[error("the request has no valid x-amz-date")]
    MissingDate,
    /// The signing time is more than 15 minutes away from now.
    #[error("the signature is expired or not yet valid (signed at {0}; 15 minutes allowed)")]
    Skew(String),
    /// `host` is not among the signed headers.
    #[error("the host header is not signed")]
    HostNotSigned,
    /// A signed header is missing from the request.
    #[error("the signed header {0} is missing")]
    MissingSignedHeader(String),
    /// `x-amz-content-sha256` is not the SHA-256 of the body (`UNSIGNED-PAYLOAD` included).
    #[error("x-amz-content-sha256 does not match the body")]
    PayloadHash,
    /// The signature does not match.
    #[error("the signature does not match")]
    SignatureMismatch,
    /// The identity policy does not allow the route.
    #[error("{0} is not allowed to invoke {1}")]
    NotAllowed(String, String),
}

/// The request as the verifier needs it.
pub struct SignedRequest<'a> {
    /// The method.
    pub method: &'a str,
    /// The path as received (percent-encoded).
    pub raw_path: &'a str,
    /// The query as received, without `?`.
    pub raw_query: &'a str,
    /// The headers; `host` must be present (for HTTP/2, the caller adds `:authority` as `host`).
    pub headers: &'a http::HeaderMap,
    /// The body.
    pub body: &'a [u8],
}

/// Verifies SigV4 requests for one region and account.
#[derive(Debug, Clone)]
pub struct IamAuthorizer {
    region: String,
    account_id: String,
    credentials: HashMap<String, IamCredential>,
    max_skew: Duration,
}

impl IamAuthorizer {
    /// A verifier for the APIs of `account_id` in `region`, with the stack's credentials.
    pub fn new(
        region: impl Into<String>,
        account_id: impl Into<String>,
        credentials: Vec<IamCredential>,
    ) -> IamAuthorizer {
        IamAuthorizer {
            region: region.into(),
            account_id: account_id.into(),
            credentials: credentials
                .into_iter()
                .map(|c| (c.access_key_id.clone(), c))
                .collect(),
            max_skew: MAX_CLOCK_SKEW,
        }
    }

    /// The region requests must be signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The account that owns the APIs.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// Checks the signature at `now`, then whether the caller may invoke `route_arn`.
    pub fn authorize(
        &self,
        req: &SignedRequest<'_>,
        route_arn: &str,
        now: SystemTime,
    ) -> Result<CallerIdentity, IamError> {
        let cred = self.verify(req, SERVICE, now)?;
        let account_id = cred
            .principal_arn
            .split(':')
            .nth(4)
            .unwrap_or_default()
            .to_owned();
        // HTTP APIs have no resource policies, so only the API's own account can be granted
        // access (docs/aws-rules.md §HTTP-5.3).
        let same_account = account_id == self.account_id;
        if !same_account
            || !cred
                .allowed_resources
                .iter()
                .any(|r| wildcard_match(r, route_arn))
        {
            return Err(IamError::NotAllowed(
                cred.principal_arn.clone(),
                route_arn.to_owned(),
            ));
        }
        Ok(CallerIdentity {
            access_key: cred.access_key_id.clone(),
            account_id,
            caller: cred.access_key_id.clone(),
            user_arn: cred.principal_arn.clone(),
        })
    }

    /// The signature check alone, for `service` (tests use AWS's published vectors).
    pub fn verify(
        &self,
        req: &SignedRequest<'_>,
        service: &str,
        now: SystemTime,
    ) -> Result<&IamCredential, IamError> {
        let auth = req
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(IamError::Unsigned)?;
        let rest = auth
            .strip_prefix(ALGORITHM)
            .and_then(|r| r.strip_prefix(' '))
            .ok_or(IamError::Unsigned)?;
        let mut credential = None;
        let mut signed_headers = None;
        let mut signature = None;
        for part in rest.split(',') {
            let (k, v) = part.trim().split_once('=').ok_or(IamError::Malformed(
                "expected Credential=, SignedHeaders=, Signature=",
            ))?;
            match k {
                "Credential" => credential = Some(v),
                "SignedHeaders" => signed_headers = Some(v),
                "Signature" => signature = Some(v),
                _ => return Err(IamError::Malformed("unknown component")),
            }
        }
        let (credential, signed_headers, signature) = match (credential, signed_headers, signature)
        {
            (Some(c), Some(h), Some(s)) => (c, h, s),
            _ => return Err(IamError::Malformed("a component is missing")),
        };
        let (access_key, scope) = credential
            .split_once('/')
            .ok_or(IamError::Malformed("Credential has no scope"))?;
        let scope_parts: Vec<&str> = scope.split('/').collect();
        let [scope_date, scope_region, scope_service, "aws4_request"] = scope_parts[..] else {
            return Err(IamError::Malformed(
                "the scope is not date/region/service/aws4_request",
            ));
        };
        if scope_region != self.region || scope_service != service {
            return Err(IamError::Scope(
                scope.to_owned(),
                format!("{}/{service}", self.region),
            ));
        }
        let cred = self
            .credentials
            .get(access_key)
            .ok_or_else(|| IamError::UnknownAccessKey(access_key.to_owned()))?;

        let amz_date = req
            .headers
            .get("x-amz-date")
            .and_then(|v| v.to_str().ok())
            .ok_or(IamError::MissingDate)?;
        let signed_at = parse_amz_date(amz_date).ok_or(IamError::MissingDate)?;
        let skew = match now.duration_since(signed_at) {
            Ok(d) => d,
            Err(e) => e.duration(),
        };
        if skew > self.max_skew {
            return Err(IamError::Skew(amz_date.to_owned()));
        }
        if !amz_date.starts_with(scope_date) || scope_date.len() != 8 {
            return Err(IamError::Scope(
                scope.to_owned(),
                format!("the date of x-amz-date {amz_date}"),
            ));
        }

        let names: Vec<&str> = signed_headers.split(';').collect();
        if !names.contains(&"host") {
            return Err(IamError::HostNotSigned);
        }
        let mut canonical_headers = String::new();
        for name in &names {
            let values: Vec<String> = req
                .headers
                .get_all(*name)
                .iter()
                .map(|v| collapse_spaces(&String::from_utf8_lossy(v.as_bytes())))
                .collect();
            if values.is_empty() {
                return Err(IamError::MissingSignedHeader((*name).to_owned()));
            }
            let _ = writeln!(canonical_headers, "{name}:{}", values.join(","));
        }
        // The body is always hashed: a client-supplied `x-amz-content-sha256` (what S3-style
        // signers send) must name that same hash, so it can never vouch for another body.
        let payload_hash = hex(digest::digest(&digest::SHA256, req.body).as_ref());
        if let Some(claimed) = req.headers.get("x-amz-content-sha256")
            && claimed.as_bytes() != payload_hash.as_bytes()
        {
            return Err(IamError::PayloadHash);
        }
        let canonical_request = format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            req.method,
            canonical_uri(req.raw_path),
            canonical_query(req.raw_query),
            canonical_headers,
            signed_headers,
            payload_hash
        );
        let string_to_sign = format!(
            "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
            hex(digest::digest(&digest::SHA256, canonical_request.as_bytes()).as_ref())
        );
        let key = signing_key(&cred.secret_access_key, scope_date, scope_region, service);
        let given = unhex(signature).ok_or(IamError::SignatureMismatch)?;
        hmac::verify(&key, string_to_sign.as_bytes(), &given)
            .map_err(|_| IamError::SignatureMismatch)?;
        Ok(cred)
    }
}

fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> hmac::Key {
    let step = |key: &[u8], data: &str| {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
    };
    let k_date = step(format!("AWS4{secret}").as_bytes(), date);
    let k_region = step(k_date.as_ref(), region);
    let k_service = step(k_region.as_ref(), service);
    let k_signing = step(k_service.as_ref(), "aws4_request");
    hmac::Key::new(hmac::HMAC_SHA256, k_signing.as_ref())
}

/// The path with dot segments and repeated slashes removed, then URI-encoded (a `%` already in
/// the path becomes `%25`: non-S3 services encode twice).
fn canonical_uri(raw_path: &str) -> String {
    let segments: Vec<&str> = raw_path.split('/').fold(Vec::new(), |mut out, s| {
        match s {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
        out
    });
    let mut path = String::from("/");
    path.push_str(&segments.join("/"));
    if raw_path.ends_with('/') && !segments.is_empty() {
        path.push('/');
    }
    uri_encode(&path, false)
}

/// Parameters decoded, re-encoded strictly, sorted by name then value.
fn canonical_query(raw_query: &str) -> String {
    let mut pairs: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&airlock_pool::uri::percent_decode_lossy(k), true),
                uri_encode(&airlock_pool::uri::percent_decode_lossy(v), true),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn uri_encode(s: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if !encode_slash => out.push('/'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

fn collapse_spaces(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// `20150830T123600Z` → a time.
fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let month = time::Month::try_from(u8::try_from(mo).ok()?).ok()?;
    let date = time::Date::from_calendar_date(i32::try_from(y).ok()?, month, u8::try_from(d).ok()?)
        .ok()?;
    let secs = date.midnight().assume_utc().unix_timestamp() + h * 3600 + mi * 60 + se;
    UNIX_EPOCH.checked_add(Duration::from_secs(u64::try_from(secs).ok()?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn vector_authorizer() -> IamAuthorizer {
        IamAuthorizer::new(
            "us-east-1",
            "123456789012",
            vec![IamCredential {
                access_key_id: "AKIDEXAMPLE".into(),
                secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
                principal_arn: "arn:aws:iam::123456789012:user/example".into(),
                allowed_resources: vec!["*".into()],
            }],
        )
    }

    /// AWS's published SigV4 test suite, case `get-vanilla`.
    #[test]
    fn aws_test_suite_get_vanilla_verifies() {
        let mut headers = http::HeaderMap::new();
        headers.insert("host", "example.amazonaws.com".parse().unwrap());
        headers.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        headers.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
                .parse()
                .unwrap(),
        );
        let req = SignedRequest {
            method: "GET",
            raw_path: "/",
            raw_query: "",
            headers: &headers,
            body: b"",
        };
        let at = parse_amz_date("20150830T123600Z").unwrap();
        assert!(vector_authorizer().verify(&req, "service", at).is_ok());
        let req = SignedRequest {
            method: "POST",
            ..req
        };
        assert_eq!(
            vector_authorizer().verify(&req, "service", at).unwrap_err(),
            IamError::SignatureMismatch
        );
        let late = at + Duration::from_secs(16 * 60);
        let req = SignedRequest {
            method: "GET",
            ..req
        };
        assert!(matches!(
            vector_authorizer().verify(&req, "service", late),
            Err(IamError::Skew(_))
        ));
    }

    #[test]
    fn canonical_forms_follow_sigv4() {
        assert_eq!(canonical_uri("/a/./b/../c//d/"), "/a/c/d/");
        assert_eq!(canonical_uri("/pets%20x/a b"), "/pets%2520x/a%20b");
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_query("b=2&a=1&a=0&c"), "a=0&a=1&b=2&c=");
        assert_eq!(canonical_query("q=a%20b&x=%2F"), "q=a%20b&x=%2F");
        assert_eq!(collapse_spaces("  a   b  "), "a b");
        assert_eq!(
            parse_amz_date("20150830T123600Z").unwrap(),
            UNIX_EPOCH + Duration::from_secs(1_440_938_160)
        );
    }
}
