//! The JWT authorizer's token check: steps 2–8 of docs/aws-rules.md §HTTP-5.1, in order, over a key set
//! already in memory.
//!
//! This module does no networking and knows nothing of discovery, caching or HTTP responses: the
//! caller extracts the identity-source value ([`extract_token`], step 1), holds a [`Jwks`], calls
//! [`JwtValidator::validate`] with the current time, checks route scopes against
//! [`Claims::scopes`] (step 9), and renders a [`JwtError`] as
//! `www-authenticate: Bearer ... error="invalid_token" error_description="<text>"`.
//!
//! Every `error_description` text is static, free of quotes and control characters, and never
//! echoes token content, so it can be put in a header as is. The texts, in step order (those marked
//! AWS are the strings API Gateway is known to send; the others are airlock's, since AWS's are not
//! documented):
//!
//! | Step | Failure | `error_description` |
//! | --- | --- | --- |
//! | 2 | not three segments | `token contains an invalid number of segments` (AWS) |
//! | 2 | header not base64url JSON object | `the token header is not valid base64url-encoded JSON` |
//! | 3 | no `alg` | `the token header does not name a signing algorithm` |
//! | 3 | `alg: none` | `the token is not signed; alg none is not accepted` |
//! | 3 | `HS*` | `HMAC-signed tokens are not accepted; the token must be signed with RS256, RS384 or RS512` |
//! | 3 | any other `alg` | `the token's signing algorithm is not supported; the token must be signed with RS256, RS384 or RS512` |
//! | 3 | no `kid` | `the token header does not have a key id (kid)` |
//! | 3 | unknown `kid` | `the token's key id (kid) does not match any signing key of the issuer` |
//! | 3 | signature not base64url | `the token signature is not valid base64url` |
//! | 3 | signature mismatch | `the token signature is invalid` |
//! | 3 | payload not base64url JSON object | `the token payload is not valid base64url-encoded JSON` |
//! | 4 | `iss` | `the token does not have a valid issuer` |
//! | 5 | `aud` / `client_id` | `the token does not have a valid audience` (AWS) |
//! | 6 | no `exp` | `the token does not have an expiration time (exp)` |
//! | 6 | `exp` passed | `the token has expired` (AWS) |
//! | 7 | `nbf` in the future | `the token is not valid yet (nbf)` |
//! | 8 | `iat` in the future | `the token was issued in the future (iat)` |
//! | 6–8 | non-numeric time claim | `the token has a non-numeric exp claim` (or `nbf`, `iat`) |
//!
//! Signature verification comes before any claim is read, so a forged token never learns which of
//! its claims would have been refused. The payload is only parsed once the signature holds.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, RsaPublicKeyComponents};
use serde_json::{Map, Value};

/// Why a token was refused. `Display` (and [`JwtError::error_description`]) gives the text for the
/// `error_description` attribute of `www-authenticate`; see the module docs for the full table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Step 2: the token is not a three-segment compact JWS (this includes five-segment JWEs).
    #[error("token contains an invalid number of segments")]
    InvalidSegments,
    /// Step 2: the first segment is not base64url-encoded JSON object.
    #[error("the token header is not valid base64url-encoded JSON")]
    MalformedHeader,
    /// Step 3: the header has no string `alg`.
    #[error("the token header does not name a signing algorithm")]
    MissingAlgorithm,
    /// Step 3: `alg` is `none`: an unsigned token.
    #[error("the token is not signed; alg none is not accepted")]
    Unsigned,
    /// Step 3: `alg` is an HMAC algorithm (`HS256`...), the classic key-confusion attempt against
    /// RSA public keys.
    #[error(
        "HMAC-signed tokens are not accepted; the token must be signed with RS256, RS384 or RS512"
    )]
    HmacAlgorithm,
    /// Step 3: `alg` is anything else but RS256/RS384/RS512 (`ES256`, `PS256`, `EdDSA`...).
    #[error(
        "the token's signing algorithm is not supported; the token must be signed with RS256, RS384 or RS512"
    )]
    UnsupportedAlgorithm,
    /// Step 3: the header has no string `kid`.
    #[error("the token header does not have a key id (kid)")]
    MissingKid,
    /// Step 3: no RSA signing key of the key set has the token's `kid`.
    #[error("the token's key id (kid) does not match any signing key of the issuer")]
    UnknownKid,
    /// Step 3: the third segment is not base64url.
    #[error("the token signature is not valid base64url")]
    MalformedSignature,
    /// Step 3: the signature does not verify with the key named by `kid`.
    #[error("the token signature is invalid")]
    InvalidSignature,
    /// Step 3: the signature holds but the payload is not a base64url-encoded JSON object.
    #[error("the token payload is not valid base64url-encoded JSON")]
    MalformedPayload,
    /// Step 4: `iss` is missing or differs from the configured issuer.
    #[error("the token does not have a valid issuer")]
    InvalidIssuer,
    /// Step 5: `aud` (or, when `aud` is absent, `client_id`) matches no configured audience.
    #[error("the token does not have a valid audience")]
    InvalidAudience,
    /// Step 6: the token has no `exp`; airlock requires one (docs/aws-fidelity.md).
    #[error("the token does not have an expiration time (exp)")]
    MissingExpiry,
    /// Step 6: `exp` is not after now.
    #[error("the token has expired")]
    Expired,
    /// Step 7: `nbf` is after now.
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    /// Step 8: `iat` is after now.
    #[error("the token was issued in the future (iat)")]
    IssuedInFuture,
    /// Steps 6–8: `exp`, `nbf` or `iat` is present but not a JSON number.
    #[error("the token has a non-numeric {0} claim")]
    NonNumericClaim(&'static str),
}

impl JwtError {
    /// The `error_description` text for `www-authenticate`; safe to embed between double quotes.
    pub fn error_description(&self) -> String {
        self.to_string()
    }
}

/// Why a JWKS document was refused.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// The document is not JSON, or not an object with a `keys` array of objects.
    #[error("the JWKS is not a JSON object with a \"keys\" array: {0}")]
    Json(#[from] serde_json::Error),
    /// An RSA signing key has an `n` or `e` that is not base64url.
    #[error("JWKS key {kid:?}: {reason}")]
    InvalidKey {
        /// The key's `kid`.
        kid: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// A key set's RSA signing keys by `kid`, decoded once so a request only pays for the verify.
///
/// Keys that cannot sign a token API Gateway accepts are skipped rather than refused, as real key
/// sets mix them in: non-RSA keys (`EC`, `OKP`, `oct`), keys with `use` other than `sig`, and keys
/// without a `kid` (step 3 always looks keys up by `kid`). The first key wins when a `kid` repeats.
#[derive(Debug, Clone, Default)]
pub struct Jwks {
    keys: HashMap<String, RsaPublicKeyComponents<Vec<u8>>>,
}

#[derive(serde::Deserialize)]
struct JwksDocument {
    keys: Vec<Map<String, Value>>,
}

impl Jwks {
    /// Parses a JWKS document (`{"keys":[...]}`).
    pub fn from_json(json: &str) -> Result<Jwks, JwksError> {
        let doc: JwksDocument = serde_json::from_str(json)?;
        let mut keys = HashMap::new();
        for key in doc.keys {
            let text = |name: &str| key.get(name).and_then(Value::as_str);
            if text("kty") != Some("RSA") || text("use").is_some_and(|u| u != "sig") {
                continue;
            }
            let Some(kid) = text("kid") else { continue };
            let component = |name: &str| {
                let value = text(name).ok_or(JwksError::InvalidKey {
                    kid: kid.to_owned(),
                    reason: "an RSA key needs string n and e members",
                })?;
                URL_SAFE_NO_PAD
                    .decode(value.trim_end_matches('='))
                    .map_err(|_| JwksError::InvalidKey {
                        kid: kid.to_owned(),
                        reason: "n and e must be base64url",
                    })
            };
            let components = RsaPublicKeyComponents {
                n: component("n")?,
                e: component("e")?,
            };
            keys.entry(kid.to_owned()).or_insert(components);
        }
        Ok(Jwks { keys })
    }

    /// Whether a signing key with this `kid` is present.
    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// The `kid`s of the usable keys, in no particular order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no usable key was found.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The claims of a token that passed validation, and whether its signature was taken from the
/// cache of signatures verified before (for the request's trace: a hit skips the RSA check).
#[derive(Debug, Clone, PartialEq)]
pub struct Claims(Arc<Map<String, Value>>, bool);

impl Claims {
    /// Whether the signature was verified on an earlier request (with the same key) rather
    /// than on this one.
    pub fn signature_cached(&self) -> bool {
        self.1
    }

    /// One claim's raw JSON value.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// All claims.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// All claims, owned.
    pub fn into_map(self) -> Map<String, Value> {
        Arc::unwrap_or_clone(self.0)
    }

    /// The token's scopes for step 9: the space-separated `scope` claim, then the `scp` claim
    /// (an array of strings, or a space-separated string). Empty when neither is present.
    pub fn scopes(&self) -> Vec<&str> {
        let mut scopes = Vec::new();
        if let Some(Value::String(scope)) = self.0.get("scope") {
            scopes.extend(scope.split(' ').filter(|s| !s.is_empty()));
        }
        match self.0.get("scp") {
            Some(Value::String(scp)) => scopes.extend(scp.split(' ').filter(|s| !s.is_empty())),
            Some(Value::Array(items)) => scopes.extend(items.iter().filter_map(Value::as_str)),
            _ => {}
        }
        scopes
    }

    /// A claim rendered as API Gateway renders `$context.authorizer.claims.<name>` (docs/aws-rules.md §HTTP-5.1): strings
    /// as they are, numbers and booleans as text, arrays as `[a b]`, objects as JSON. `None` when
    /// the claim is absent or null.
    pub fn context_value(&self, name: &str) -> Option<String> {
        match self.0.get(name)? {
            Value::Null => None,
            value => Some(render_context(value)),
        }
    }
}

fn render_context(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(render_context).collect();
            format!("[{}]", inner.join(" "))
        }
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Step 1's token extraction from the identity-source value: the raw token, or `Bearer <token>`
/// with `Bearer` in any case (AWS leaves the case unconfirmed; docs/aws-fidelity.md).
/// `None` when nothing remains, which the caller answers with a plain 401.
pub fn extract_token(header_value: &str) -> Option<&str> {
    const PREFIX: &str = "bearer ";
    let value = header_value.trim();
    let token = match value.get(..PREFIX.len()) {
        Some(prefix) if prefix.eq_ignore_ascii_case(PREFIX) => value[PREFIX.len()..].trim_start(),
        _ if value.eq_ignore_ascii_case(PREFIX.trim_end()) => "",
        _ => value,
    };
    (!token.is_empty()).then_some(token)
}

/// One JWT authorizer's configuration, ready to check tokens: the issuer, the audiences and the
/// issuer's key set.
#[derive(Debug, Clone)]
pub struct JwtValidator {
    issuer: String,
    audiences: Vec<String>,
    jwks: Arc<Jwks>,
    leeway: i64,
    /// Signatures already verified: a client sends the same token on every request until it
    /// expires, and the RSA verify is the largest single cost of a JWT route.
    verified: Arc<VerifiedSignatures>,
}

/// Tokens whose signature verified, with the key that verified it and what the token's
/// segments decoded to. Only the decoding and the signature check are skipped on a hit (both are
/// functions of the token's bytes and the key): the key is looked up by `kid` again and compared
/// by its components, so a rotated or removed key is never trusted from the cache; the issuer
/// and audience verdict and the time claims are kept with it (functions of the same bytes and
/// of the validator's fixed issuer and audiences), and the time claims are compared with the
/// clock on every request, so a cached token still expires on time.
///
/// Keyed with `airlock_pool::KeyHash` (foldhash; SipHash, the default, spent ~2k instructions
/// per request on a ~700-byte token): only tokens whose signature verified enter the map, and it
/// is bounded, so its keys cannot be chosen to collide.
#[derive(Debug, Default)]
struct VerifiedSignatures(std::sync::Mutex<HashMap<Box<str>, Verified, airlock_pool::KeyHash>>);

#[derive(Debug)]
struct Verified {
    kid: Arc<str>,
    key: RsaPublicKeyComponents<Vec<u8>>,
    claims: Arc<Map<String, Value>>,
    /// What steps 4 to 8 need of the claims, worked out once: the claims of these bytes and
    /// the validator's issuer and audiences never change, only the clock does.
    checks: ClaimChecks,
}

/// Steps 4 to 8 on one token's claims, all but the clock: the issuer and audience verdict, and
/// the time claims as read (each an error when not a number, `exp` also when absent).
#[derive(Debug, Clone, Copy)]
struct ClaimChecks {
    issuer_and_audience: Result<(), JwtError>,
    exp: Result<f64, JwtError>,
    nbf: Result<Option<f64>, JwtError>,
    iat: Result<Option<f64>, JwtError>,
}

/// Bound on cached signatures; the cache starts over when full (tokens are re-verified once).
const MAX_VERIFIED_SIGNATURES: usize = 4096;

impl VerifiedSignatures {
    /// The decoded claims of `token`, if it verified before with the key its `kid` still
    /// names in `jwks` (compared in place: nothing is copied but the claims' handle).
    fn claims(&self, token: &str, jwks: &Jwks) -> Option<(Arc<Map<String, Value>>, ClaimChecks)> {
        let cache = self.0.lock().ok()?;
        let seen = cache.get(token)?;
        let key = jwks.keys.get(&*seen.kid)?;
        (key.n == seen.key.n && key.e == seen.key.e).then(|| (seen.claims.clone(), seen.checks))
    }

    fn insert(&self, token: &str, verified: Verified) {
        if let Ok(mut cache) = self.0.lock() {
            if cache.len() >= MAX_VERIFIED_SIGNATURES {
                cache.clear();
            }
            cache.insert(token.into(), verified);
        }
    }
}

impl JwtValidator {
    /// A validator for `JwtConfiguration.Issuer` and `JwtConfiguration.Audience`, with no clock
    /// skew tolerance (none is documented for API Gateway).
    pub fn new(issuer: impl Into<String>, audiences: Vec<String>, jwks: Arc<Jwks>) -> Self {
        JwtValidator {
            issuer: issuer.into(),
            audiences,
            jwks,
            leeway: 0,
            verified: Arc::default(),
        }
    }

    /// Tolerates `seconds` of clock skew on `exp`, `nbf` and `iat`.
    pub fn with_leeway(mut self, seconds: i64) -> Self {
        self.leeway = seconds;
        self
    }

    /// The configured issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The key set tokens are checked against.
    pub fn jwks(&self) -> &Arc<Jwks> {
        &self.jwks
    }

    /// Checks `token` (already extracted, see [`extract_token`]) at `now_unix` (Unix seconds):
    /// docs/aws-rules.md §HTTP-5.1 steps 2–8 in order, the first failure deciding the error.
    pub fn validate(&self, token: &str, now_unix: i64) -> Result<Claims, JwtError> {
        self.validate_with(&self.jwks, token, now_unix)
    }

    /// [`JwtValidator::validate`] against `jwks` instead of the validator's own key set: the
    /// gateway keeps the live set in a key store that swaps sets at run time.
    pub fn validate_with(
        &self,
        jwks: &Jwks,
        token: &str,
        now_unix: i64,
    ) -> Result<Claims, JwtError> {
        // A token seen before: steps 2 and 3 decided the same for these bytes, as long as its
        // `kid` still names the same key.
        if let Some((claims, checks)) = self.verified.claims(token, jwks) {
            return self
                .check_time(checks, now_unix)
                .map(|()| Claims(claims, true));
        }

        // Step 2: three segments, and a header that decodes.
        let mut segments = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(JwtError::InvalidSegments);
        };
        let header = decode_object(header_b64).ok_or(JwtError::MalformedHeader)?;

        // Step 3: algorithm, key, signature.
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or(JwtError::MissingAlgorithm)?;
        let params = rsa_parameters(alg)?;
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .ok_or(JwtError::MissingKid)?;
        let key = jwks.keys.get(kid).ok_or(JwtError::UnknownKid)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature_b64)
            .map_err(|_| JwtError::MalformedSignature)?;
        let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
        key.verify(params, signing_input.as_bytes(), &signature)
            .map_err(|_| JwtError::InvalidSignature)?;
        let claims = Arc::new(decode_object(payload_b64).ok_or(JwtError::MalformedPayload)?);
        let checks = self.claim_checks(&claims);
        self.verified.insert(
            token,
            Verified {
                kid: kid.into(),
                key: key.clone(),
                claims: claims.clone(),
                checks,
            },
        );
        self.check_time(checks, now_unix)
            .map(|()| Claims(claims, false))
    }

    /// Steps 4 and 5, and the time claims of steps 6 to 8 read, on the decoded claims.
    fn claim_checks(&self, claims: &Map<String, Value>) -> ClaimChecks {
        // Step 4: issuer, exact string. Step 5: aud when present (string or array), client_id
        // only when aud is absent.
        let issuer_and_audience =
            if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
                Err(JwtError::InvalidIssuer)
            } else {
                let audience_ok = match claims.get("aud") {
                    Some(Value::String(aud)) => self.accepts_audience(aud),
                    Some(Value::Array(auds)) => auds
                        .iter()
                        .filter_map(Value::as_str)
                        .any(|aud| self.accepts_audience(aud)),
                    Some(Value::Null) | None => claims
                        .get("client_id")
                        .and_then(Value::as_str)
                        .is_some_and(|id| self.accepts_audience(id)),
                    Some(_) => false,
                };
                if audience_ok {
                    Ok(())
                } else {
                    Err(JwtError::InvalidAudience)
                }
            };
        ClaimChecks {
            issuer_and_audience,
            exp: numeric_claim(claims, "exp").and_then(|e| e.ok_or(JwtError::MissingExpiry)),
            nbf: numeric_claim(claims, "nbf"),
            iat: numeric_claim(claims, "iat"),
        }
    }

    /// Steps 4 to 8 against the clock, in their order: issuer and audience, then `exp`
    /// required and after now; `nbf` and `iat`, when present, not after now.
    fn check_time(&self, checks: ClaimChecks, now_unix: i64) -> Result<(), JwtError> {
        checks.issuer_and_audience?;
        let now = now_unix as f64;
        let leeway = self.leeway as f64;
        if checks.exp? + leeway <= now {
            return Err(JwtError::Expired);
        }
        if checks.nbf?.is_some_and(|nbf| nbf - leeway > now) {
            return Err(JwtError::NotYetValid);
        }
        if checks.iat?.is_some_and(|iat| iat - leeway > now) {
            return Err(JwtError::IssuedInFuture);
        }
        Ok(())
    }

    fn accepts_audience(&self, aud: &str) -> bool {
        self.audiences.iter().any(|a| a == aud)
    }
}

fn rsa_parameters(alg: &str) -> Result<&'static signature::RsaParameters, JwtError> {
    match alg {
        "RS256" => Ok(&signature::RSA_PKCS1_2048_8192_SHA256),
        "RS384" => Ok(&signature::RSA_PKCS1_2048_8192_SHA384),
        "RS512" => Ok(&signature::RSA_PKCS1_2048_8192_SHA512),
        a if a.eq_ignore_ascii_case("none") => Err(JwtError::Unsigned),
        a if a.starts_with("HS") => Err(JwtError::HmacAlgorithm),
        _ => Err(JwtError::UnsupportedAlgorithm),
    }
}

fn decode_object(segment: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// A NumericDate claim (RFC 7519 allows fractions), `Ok(None)` when absent.
fn numeric_claim(claims: &Map<String, Value>, name: &'static str) -> Result<Option<f64>, JwtError> {
    match claims.get(name) {
        None => Ok(None),
        Some(value) => value
            .as_f64()
            .map(Some)
            .ok_or(JwtError::NonNumericClaim(name)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use airlock_pki::{Issuer, TokenRequest};
    use serde_json::json;
    use std::sync::LazyLock;

    const ISS: &str = "https://issuer.airlock.test";
    const AUD: &str = "pets-client";
    const NOW: i64 = 1_700_000_000;

    /// RSA key generation is the slow part; one trusted and one foreign issuer serve every test.
    static TRUSTED: LazyLock<Issuer> = LazyLock::new(|| Issuer::generate(ISS).unwrap());
    static FOREIGN: LazyLock<Issuer> = LazyLock::new(|| Issuer::generate(ISS).unwrap());

    fn validator() -> JwtValidator {
        let jwks = Jwks::from_json(&TRUSTED.jwks_json()).unwrap();
        JwtValidator::new(
            ISS,
            vec![AUD.to_owned(), "other-client".to_owned()],
            Arc::new(jwks),
        )
    }

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn mint(edit: impl FnOnce(&mut TokenRequest)) -> String {
        let mut req = TokenRequest::new("alice", AUD);
        edit(&mut req);
        TRUSTED.mint_at(&req, NOW).unwrap()
    }

    fn with_claim(name: &str, value: Value) -> String {
        mint(|r| {
            r.extra_claims.insert(name.to_owned(), value);
        })
    }

    /// Signed by the trusted key with the given header and claims.
    fn raw(header: Value, claims: Value) -> String {
        TRUSTED
            .mint_raw(&header.to_string(), &claims.to_string())
            .unwrap()
    }

    fn rs256() -> Value {
        json!({"alg": "RS256", "typ": "JWT", "kid": TRUSTED.kid()})
    }

    fn good_claims() -> Value {
        json!({"iss": ISS, "sub": "alice", "aud": AUD, "iat": NOW, "exp": NOW + 600})
    }

    /// An HS256 token whose HMAC key is the issuer's public key: the key-confusion attack.
    fn hs256_with_public_key(key_bytes: &[u8]) -> String {
        let header = json!({"alg": "HS256", "typ": "JWT", "kid": TRUSTED.kid()});
        let input = format!(
            "{}.{}",
            b64(&header.to_string()),
            b64(&good_claims().to_string())
        );
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key_bytes);
        let tag = ring::hmac::sign(&key, input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    fn tamper_payload(token: &str) -> String {
        let parts: Vec<&str> = token.split('.').collect();
        let mut claims = good_claims();
        claims["sub"] = json!("mallory");
        format!("{}.{}.{}", parts[0], b64(&claims.to_string()), parts[2])
    }

    #[test]
    fn crafted_token_table() {
        use JwtError::*;
        let valid = mint(|_| {});
        let public_pem = {
            let body = base64::engine::general_purpose::STANDARD.encode(TRUSTED.public_key_der());
            format!("-----BEGIN RSA PUBLIC KEY-----\n{body}\n-----END RSA PUBLIC KEY-----\n")
        };
        let cases: Vec<(&str, String, Result<(), JwtError>)> = vec![
            ("valid RS256 from the local issuer", valid.clone(), Ok(())),
            (
                "valid RS384",
                raw(json!({"alg": "RS384", "kid": TRUSTED.kid()}), good_claims()),
                Ok(()),
            ),
            (
                "valid RS512",
                raw(json!({"alg": "RS512", "kid": TRUSTED.kid()}), good_claims()),
                Ok(()),
            ),
            // Step 2
            (
                "two segments",
                valid.rsplit_once('.').unwrap().0.to_owned(),
                Err(InvalidSegments),
            ),
            ("four segments", format!("{valid}.x"), Err(InvalidSegments)),
            (
                "five segments (JWE)",
                "a.b.c.d.e".to_owned(),
                Err(InvalidSegments),
            ),
            ("empty string", String::new(), Err(InvalidSegments)),
            (
                "garbage base64 header",
                "!!!.e30.c2ln".to_owned(),
                Err(MalformedHeader),
            ),
            (
                "header is not JSON",
                format!("{}.e30.c2ln", b64("hello")),
                Err(MalformedHeader),
            ),
            (
                "header is a JSON array",
                format!("{}.e30.c2ln", b64("[1]")),
                Err(MalformedHeader),
            ),
            // Step 3: algorithm
            (
                "no alg",
                raw(json!({"kid": TRUSTED.kid()}), good_claims()),
                Err(MissingAlgorithm),
            ),
            (
                "alg none, empty signature",
                format!(
                    "{}.{}.",
                    b64(&json!({"alg": "none", "kid": TRUSTED.kid()}).to_string()),
                    b64(&good_claims().to_string())
                ),
                Err(Unsigned),
            ),
            (
                "alg None with a valid RS256 signature",
                raw(json!({"alg": "None", "kid": TRUSTED.kid()}), good_claims()),
                Err(Unsigned),
            ),
            (
                "HS256 keyed with the public key DER",
                hs256_with_public_key(TRUSTED.public_key_der()),
                Err(HmacAlgorithm),
            ),
            (
                "HS256 keyed with the public key PEM",
                hs256_with_public_key(public_pem.as_bytes()),
                Err(HmacAlgorithm),
            ),
            (
                "HS512 header",
                raw(json!({"alg": "HS512", "kid": TRUSTED.kid()}), good_claims()),
                Err(HmacAlgorithm),
            ),
            (
                "ES256 header",
                raw(json!({"alg": "ES256", "kid": TRUSTED.kid()}), good_claims()),
                Err(UnsupportedAlgorithm),
            ),
            (
                "PS256 header",
                raw(json!({"alg": "PS256", "kid": TRUSTED.kid()}), good_claims()),
                Err(UnsupportedAlgorithm),
            ),
            // Step 3: key
            (
                "missing kid",
                raw(json!({"alg": "RS256"}), good_claims()),
                Err(MissingKid),
            ),
            (
                "kid not a string",
                raw(json!({"alg": "RS256", "kid": 7}), good_claims()),
                Err(MissingKid),
            ),
            (
                "unknown kid (a foreign issuer's own key)",
                FOREIGN
                    .mint_at(&TokenRequest::new("alice", AUD), NOW)
                    .unwrap(),
                Err(UnknownKid),
            ),
            // Step 3: signature
            (
                "trusted kid, signed by a foreign key",
                FOREIGN
                    .mint_raw(&rs256().to_string(), &good_claims().to_string())
                    .unwrap(),
                Err(InvalidSignature),
            ),
            (
                "payload tampered after signing",
                tamper_payload(&valid),
                Err(InvalidSignature),
            ),
            (
                "signature garbage base64",
                format!("{}.***", valid.rsplit_once('.').unwrap().0),
                Err(MalformedSignature),
            ),
            (
                "empty signature",
                format!("{}.", valid.rsplit_once('.').unwrap().0),
                Err(InvalidSignature),
            ),
            (
                "header says RS512, signed with RS256",
                {
                    let t = raw(rs256(), good_claims());
                    let parts: Vec<&str> = t.split('.').collect();
                    let h = b64(&json!({"alg": "RS512", "kid": TRUSTED.kid()}).to_string());
                    format!("{h}.{}.{}", parts[1], parts[2])
                },
                Err(InvalidSignature),
            ),
            (
                "signed payload that is not JSON",
                TRUSTED.mint_raw(&rs256().to_string(), "not json").unwrap(),
                Err(MalformedPayload),
            ),
            // Step 4
            (
                "wrong iss",
                with_claim("iss", json!("https://evil.example")),
                Err(InvalidIssuer),
            ),
            (
                "iss with trailing slash",
                with_claim("iss", json!(format!("{ISS}/"))),
                Err(InvalidIssuer),
            ),
            ("no iss", with_claim("iss", Value::Null), Err(InvalidIssuer)),
            // Step 5
            (
                "wrong aud",
                with_claim("aud", json!("someone-else")),
                Err(InvalidAudience),
            ),
            (
                "aud array with a match",
                with_claim("aud", json!(["x", AUD])),
                Ok(()),
            ),
            (
                "aud array without a match",
                with_claim("aud", json!(["x", "y"])),
                Err(InvalidAudience),
            ),
            (
                "aud of the wrong type",
                with_claim("aud", json!(42)),
                Err(InvalidAudience),
            ),
            (
                "client_id fallback when aud is absent",
                mint(|r| {
                    r.audience.clear();
                    r.extra_claims.insert("client_id".into(), json!(AUD));
                }),
                Ok(()),
            ),
            (
                "client_id ignored when aud is present",
                mint(|r| {
                    r.audience = vec!["someone-else".into()];
                    r.extra_claims.insert("client_id".into(), json!(AUD));
                }),
                Err(InvalidAudience),
            ),
            (
                "neither aud nor client_id",
                mint(|r| r.audience.clear()),
                Err(InvalidAudience),
            ),
            // Step 6
            ("expired", mint(|r| r.expires_in = -60), Err(Expired)),
            ("exp exactly now", mint(|r| r.expires_in = 0), Err(Expired)),
            ("exp one second ahead", mint(|r| r.expires_in = 1), Ok(())),
            (
                "no exp",
                raw(rs256(), json!({"iss": ISS, "aud": AUD})),
                Err(MissingExpiry),
            ),
            (
                "exp as a string",
                with_claim("exp", json!("9999999999")),
                Err(NonNumericClaim("exp")),
            ),
            (
                "fractional exp",
                with_claim("exp", json!(NOW as f64 + 0.5)),
                Ok(()),
            ),
            // Step 7
            (
                "nbf in the future",
                mint(|r| r.not_before = Some(30)),
                Err(NotYetValid),
            ),
            ("nbf exactly now", mint(|r| r.not_before = Some(0)), Ok(())),
            (
                "nbf as a string",
                with_claim("nbf", json!("0")),
                Err(NonNumericClaim("nbf")),
            ),
            // Step 8
            (
                "iat in the future",
                with_claim("iat", json!(NOW + 30)),
                Err(IssuedInFuture),
            ),
            (
                "no iat",
                with_claim("iat", Value::Null),
                Err(NonNumericClaim("iat")),
            ),
            // Order of steps: the earliest failing step decides.
            (
                "unknown kid beats expiry",
                FOREIGN
                    .mint_at(
                        &TokenRequest {
                            expires_in: -60,
                            ..TokenRequest::new("alice", AUD)
                        },
                        NOW,
                    )
                    .unwrap(),
                Err(UnknownKid),
            ),
            (
                "bad signature beats wrong issuer",
                tamper_payload(&with_claim("iss", json!("https://evil.example"))),
                Err(InvalidSignature),
            ),
            (
                "wrong issuer beats wrong audience",
                mint(|r| {
                    r.audience = vec!["x".into()];
                    r.extra_claims
                        .insert("iss".into(), json!("https://evil.example"));
                }),
                Err(InvalidIssuer),
            ),
            (
                "wrong audience beats expiry",
                mint(|r| {
                    r.audience = vec!["x".into()];
                    r.expires_in = -60;
                }),
                Err(InvalidAudience),
            ),
            (
                "expiry beats nbf and iat",
                mint(|r| {
                    r.expires_in = -60;
                    r.not_before = Some(30);
                    r.extra_claims.insert("iat".into(), json!(NOW + 30));
                }),
                Err(Expired),
            ),
            (
                "nbf beats iat",
                mint(|r| {
                    r.not_before = Some(30);
                    r.extra_claims.insert("iat".into(), json!(NOW + 30));
                }),
                Err(NotYetValid),
            ),
        ];
        assert!(cases.len() >= 20);
        let v = validator();
        let mut failures = Vec::new();
        for (name, token, expected) in &cases {
            let got = v.validate(token, NOW).map(|_| ());
            if &got != expected {
                failures.push(format!("{name}: expected {expected:?}, got {got:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn null_iat_claim_is_treated_as_non_numeric_but_absent_iat_is_fine() {
        // `with_claim("iat", null)` above keeps a JSON null; a token with no iat at all passes.
        let token = raw(rs256(), json!({"iss": ISS, "aud": AUD, "exp": NOW + 60}));
        assert!(validator().validate(&token, NOW).is_ok());
    }

    #[test]
    fn valid_token_exposes_claims_and_scopes() {
        let token = mint(|r| r.scopes = vec!["pets/read".into(), "pets/write".into()]);
        let claims = validator().validate(&token, NOW).unwrap();
        assert_eq!(claims.get("sub"), Some(&json!("alice")));
        assert_eq!(claims.scopes(), vec!["pets/read", "pets/write"]);
        assert_eq!(claims.context_value("sub").as_deref(), Some("alice"));
        assert_eq!(
            claims.context_value("exp").as_deref(),
            Some((NOW + 3600).to_string().as_str())
        );
        assert_eq!(claims.context_value("nope"), None);
    }

    #[test]
    fn scopes_come_from_scope_or_scp() {
        let v = validator();
        let scopes = |claim: &str, value: Value| {
            let token = with_claim(claim, value);
            v.validate(&token, NOW)
                .unwrap()
                .scopes()
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(scopes("scope", json!("a  b")), ["a", "b"]);
        assert_eq!(
            scopes("scp", json!(["pets/read", "pets/write"])),
            ["pets/read", "pets/write"]
        );
        assert_eq!(scopes("scp", json!("x y")), ["x", "y"]);
        assert!(scopes("scp", json!(42)).is_empty());
        assert!(scopes("other", json!("a")).is_empty());

        let both = mint(|r| {
            r.scopes = vec!["a".into()];
            r.extra_claims.insert("scp".into(), json!(["b"]));
        });
        assert_eq!(v.validate(&both, NOW).unwrap().scopes(), ["a", "b"]);
    }

    #[test]
    fn context_values_render_like_api_gateway() {
        let token = mint(|r| {
            r.extra_claims.insert("email_verified".into(), json!(true));
            r.extra_claims
                .insert("groups".into(), json!(["admin", "dev"]));
            r.extra_claims.insert("nothing".into(), Value::Null);
        });
        let claims = validator().validate(&token, NOW).unwrap();
        assert_eq!(
            claims.context_value("email_verified").as_deref(),
            Some("true")
        );
        assert_eq!(
            claims.context_value("groups").as_deref(),
            Some("[admin dev]")
        );
        assert_eq!(claims.context_value("nothing"), None);
    }

    #[test]
    fn leeway_tolerates_small_skew_only() {
        let v = validator().with_leeway(30);
        assert!(v.validate(&mint(|r| r.expires_in = -20), NOW).is_ok());
        assert_eq!(
            v.validate(&mint(|r| r.expires_in = -40), NOW),
            Err(JwtError::Expired)
        );
        assert!(v.validate(&mint(|r| r.not_before = Some(20)), NOW).is_ok());
        assert!(v.validate(&with_claim("iat", json!(NOW + 20)), NOW).is_ok());
    }

    #[test]
    fn known_aws_descriptions_are_exact_and_all_are_header_safe() {
        assert_eq!(
            JwtError::InvalidSegments.error_description(),
            "token contains an invalid number of segments"
        );
        assert_eq!(
            JwtError::InvalidAudience.error_description(),
            "the token does not have a valid audience"
        );
        assert_eq!(
            JwtError::Expired.error_description(),
            "the token has expired"
        );
        use JwtError::*;
        for e in [
            InvalidSegments,
            MalformedHeader,
            MissingAlgorithm,
            Unsigned,
            HmacAlgorithm,
            UnsupportedAlgorithm,
            MissingKid,
            UnknownKid,
            MalformedSignature,
            InvalidSignature,
            MalformedPayload,
            InvalidIssuer,
            InvalidAudience,
            MissingExpiry,
            Expired,
            NotYetValid,
            IssuedInFuture,
            NonNumericClaim("exp"),
        ] {
            let d = e.error_description();
            assert!(
                !d.contains('"') && !d.contains('\\') && d.chars().all(|c| !c.is_control()),
                "{d}"
            );
            assert!(http::HeaderValue::from_str(&format!("error_description=\"{d}\"")).is_ok());
        }
    }

    #[test]
    fn extract_token_accepts_raw_and_bearer_in_any_case() {
        assert_eq!(extract_token("abc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(extract_token("Bearer abc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(extract_token("bearer abc"), Some("abc"));
        assert_eq!(extract_token("BEARER   abc "), Some("abc"));
        assert_eq!(extract_token(""), None);
        assert_eq!(extract_token("   "), None);
        assert_eq!(extract_token("Bearer"), None);
        assert_eq!(extract_token("Bearer "), None);
        assert_eq!(extract_token("Bearerabc"), Some("Bearerabc"));
        assert_eq!(extract_token("Beärer abc"), Some("Beärer abc"));
    }

    #[test]
    fn jwks_keeps_rsa_signing_keys_by_kid_only() {
        let ours: Value = serde_json::from_str(&TRUSTED.jwks_json()).unwrap();
        let mut keys = ours["keys"].as_array().unwrap().clone();
        let mut enc = keys[0].clone();
        enc["kid"] = json!("enc-key");
        enc["use"] = json!("enc");
        let mut no_kid = keys[0].clone();
        no_kid.as_object_mut().unwrap().remove("kid");
        keys.push(enc);
        keys.push(no_kid);
        keys.push(json!({"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"}));
        let jwks = Jwks::from_json(&json!({ "keys": keys }).to_string()).unwrap();
        assert_eq!(jwks.len(), 1);
        assert!(jwks.contains(TRUSTED.kid()));
        assert_eq!(jwks.kids().collect::<Vec<_>>(), [TRUSTED.kid()]);

        assert!(matches!(Jwks::from_json("nope"), Err(JwksError::Json(_))));
        assert!(matches!(Jwks::from_json("{}"), Err(JwksError::Json(_))));
        assert!(Jwks::from_json(r#"{"keys":[]}"#).unwrap().is_empty());
        let bad = json!({"keys": [{"kty": "RSA", "kid": "k", "n": "!!", "e": "AQAB"}]});
        assert!(matches!(
            Jwks::from_json(&bad.to_string()),
            Err(JwksError::InvalidKey { .. })
        ));
        let missing_e = json!({"keys": [{"kty": "RSA", "kid": "k", "n": "AQAB"}]});
        assert!(matches!(
            Jwks::from_json(&missing_e.to_string()),
            Err(JwksError::InvalidKey { .. })
        ));
    }

    #[test]
    fn rotation_means_a_new_jwks_and_a_new_validator() {
        let both = json!({"keys": [
            serde_json::from_str::<Value>(&TRUSTED.jwks_json()).unwrap()["keys"][0],
            serde_json::from_str::<Value>(&FOREIGN.jwks_json()).unwrap()["keys"][0],
        ]});
        let v = JwtValidator::new(
            ISS,
            vec![AUD.to_owned()],
            Arc::new(Jwks::from_json(&both.to_string()).unwrap()),
        );
        for issuer in [&*TRUSTED, &*FOREIGN] {
            let token = issuer
                .mint_at(&TokenRequest::new("alice", AUD), NOW)
                .unwrap();
            assert!(v.validate(&token, NOW).is_ok());
        }
    }

    #[test]
    fn a_cached_signature_still_expires_and_stays_tied_to_its_key() {
        let v = validator();
        let token = mint(|r| r.expires_in = 600);
        assert!(v.validate(&token, NOW).is_ok());
        // The second check skips the RSA verify; the claims are still checked.
        assert!(v.validate(&token, NOW).is_ok());
        assert_eq!(v.validate(&token, NOW + 601), Err(JwtError::Expired));
        // The same kid naming another key (a rotation): the cache must not vouch for the token.
        let swapped = FOREIGN.jwks_json().replace(FOREIGN.kid(), TRUSTED.kid());
        let rotated = Jwks::from_json(&swapped).unwrap();
        assert_eq!(
            v.validate_with(&rotated, &token, NOW),
            Err(JwtError::InvalidSignature)
        );
        // The kid gone from the key set: the cache must not vouch either.
        let other = Jwks::from_json(&FOREIGN.jwks_json()).unwrap();
        assert_eq!(
            v.validate_with(&other, &token, NOW),
            Err(JwtError::UnknownKid)
        );
        // A tampered payload is a different token: never a cache hit.
        assert_eq!(
            v.validate(&tamper_payload(&token), NOW),
            Err(JwtError::InvalidSignature)
        );
    }

    /// A token refused for its claims is refused the same way once its signature is cached,
    /// in the order of steps 4 to 8, and a not-yet-valid one becomes valid with the clock.
    #[test]
    fn a_cached_signature_keeps_every_claim_verdict() {
        let v = validator();
        let cases = [
            (
                with_claim("iss", json!("https://evil.example")),
                JwtError::InvalidIssuer,
            ),
            (
                with_claim("aud", json!("someone-else")),
                JwtError::InvalidAudience,
            ),
            (
                with_claim("exp", json!("soon")),
                JwtError::NonNumericClaim("exp"),
            ),
            (with_claim("iat", json!(NOW + 30)), JwtError::IssuedInFuture),
        ];
        for (token, want) in cases {
            assert_eq!(v.validate(&token, NOW), Err(want), "first time");
            assert_eq!(v.validate(&token, NOW), Err(want), "from the cache");
        }
        let early = with_claim("nbf", json!(NOW + 60));
        assert_eq!(v.validate(&early, NOW), Err(JwtError::NotYetValid));
        assert_eq!(v.validate(&early, NOW), Err(JwtError::NotYetValid));
        assert!(v.validate(&early, NOW + 61).is_ok());
    }
}
