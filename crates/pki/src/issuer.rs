//! The local JWT issuer: one RSA key per state directory, its JWKS, and RS256 token minting.

use std::fmt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom as _, SystemRandom};
use ring::rsa::PublicKeyComponents;
use ring::signature::{self, RsaKeyPair};
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::PkiError;
use crate::fs::{ensure_dir, read_optional, write_atomic};

/// The `iss` of tokens from airlock's built-in issuer, unless a stack names another URL.
pub const LOCAL_ISSUER: &str = "https://issuer.airlock.local";

/// File name of the issuer's private key inside the state directory (PKCS#8 PEM, mode 0600).
const ISSUER_KEY_FILE: &str = "issuer-key.pem";
/// 2048 bits is the smallest modulus API Gateway-style verifiers (and ring) accept.
const RSA_BITS: usize = 2048;
/// Length of the `kid`: 16 base64url characters are 96 bits of the key hash, plenty to tell keys apart.
const KID_LEN: usize = 16;
/// Lifetime of a token when a request does not say.
const DEFAULT_EXPIRES_IN: i64 = 3600;

/// What to put in a token minted by [`Issuer::mint`].
///
/// Deserialisable (every field optional) so the admin endpoint can take it as a JSON body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenRequest {
    /// The `sub` claim; omitted when empty.
    pub sub: String,
    /// The `aud` claim: a string when there is one audience, an array when several, omitted when none.
    pub audience: Vec<String>,
    /// The `scope` claim, space-separated; omitted when empty.
    pub scopes: Vec<String>,
    /// Seconds from now until `exp`; negative values give an already expired token.
    pub expires_in: i64,
    /// Seconds from now for `nbf` (positive: not valid yet); no `nbf` claim when `None`.
    pub not_before: Option<i64>,
    /// Further claims, applied last: they may override the standard claims above (tests use this
    /// to craft e.g. an `iat` in the future, or a `client_id` instead of `aud`).
    pub extra_claims: Map<String, Value>,
}

impl Default for TokenRequest {
    fn default() -> Self {
        TokenRequest {
            sub: String::new(),
            audience: Vec::new(),
            scopes: Vec::new(),
            expires_in: DEFAULT_EXPIRES_IN,
            not_before: None,
            extra_claims: Map::new(),
        }
    }
}

impl TokenRequest {
    /// A one-hour token for `sub` and a single audience, without scopes.
    pub fn new(sub: impl Into<String>, audience: impl Into<String>) -> Self {
        TokenRequest {
            sub: sub.into(),
            audience: vec![audience.into()],
            ..TokenRequest::default()
        }
    }
}

/// The local JWT issuer: an RSA-2048 key that signs RS256 tokens and is published as a JWKS.
pub struct Issuer {
    issuer: String,
    key: RsaKeyPair,
    kid: String,
    public_key_der: Vec<u8>,
    n: Vec<u8>,
    e: Vec<u8>,
    rng: SystemRandom,
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer")
            .field("issuer", &self.issuer)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Issuer {
    /// Loads the issuer key of `state_dir` (`issuer-key.pem`), generating and saving it on first use,
    /// so tokens minted before a restart still verify after it.
    pub fn load_or_create(state_dir: &Path, issuer_url: &str) -> Result<Issuer, PkiError> {
        ensure_dir(state_dir)?;
        let key_path = state_dir.join(ISSUER_KEY_FILE);
        let pkcs8 = match read_optional(&key_path)? {
            Some(pem) => PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
                .map_err(|e| PkiError::Corrupt {
                    path: key_path.clone(),
                    reason: format!("not a PKCS#8 PEM private key ({e})"),
                })?
                .secret_pkcs8_der()
                .to_vec(),
            None => {
                let der = generate_pkcs8()?;
                write_atomic(&key_path, &crate::pem::encode("PRIVATE KEY", &der), true)?;
                der
            }
        };
        Issuer::from_pkcs8(&pkcs8, issuer_url).map_err(|e| match e {
            PkiError::KeyRejected(reason) => PkiError::Corrupt {
                path: key_path,
                reason: format!("not an RSA key airlock can sign with ({reason})"),
            },
            other => other,
        })
    }

    /// An issuer with a fresh key kept in memory only, for tests that need no state directory.
    pub fn generate(issuer_url: &str) -> Result<Issuer, PkiError> {
        Issuer::from_pkcs8(&generate_pkcs8()?, issuer_url)
    }

    fn from_pkcs8(pkcs8: &[u8], issuer_url: &str) -> Result<Issuer, PkiError> {
        let key =
            RsaKeyPair::from_pkcs8(pkcs8).map_err(|e| PkiError::KeyRejected(e.to_string()))?;
        let public_key_der = key.public().as_ref().to_vec();
        let digest = ring::digest::digest(&ring::digest::SHA256, &public_key_der);
        let mut kid = URL_SAFE_NO_PAD.encode(digest.as_ref());
        kid.truncate(KID_LEN);
        let components = PublicKeyComponents::<Vec<u8>>::from(key.public());
        Ok(Issuer {
            issuer: issuer_url.to_owned(),
            key,
            kid,
            public_key_der,
            n: components.n,
            e: components.e,
            rng: SystemRandom::new(),
        })
    }

    /// The issuer URL put in every token's `iss`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The key id put in every token's header and in the JWKS.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a DER `RSAPublicKey` (PKCS#1), e.g. to craft a key-confusion token that
    /// uses it as an HMAC secret.
    pub fn public_key_der(&self) -> &[u8] {
        &self.public_key_der
    }

    /// The public key as a JWKS document: `{"keys":[{"kty":"RSA","kid",...,"n","e"}]}`.
    pub fn jwks_json(&self) -> String {
        json!({
            "keys": [{
                "kty": "RSA",
                "kid": self.kid,
                "use": "sig",
                "alg": "RS256",
                "n": URL_SAFE_NO_PAD.encode(&self.n),
                "e": URL_SAFE_NO_PAD.encode(&self.e),
            }]
        })
        .to_string()
    }

    /// Mints an RS256 JWT for `req`, timed from the system clock.
    pub fn mint(&self, req: &TokenRequest) -> Result<String, PkiError> {
        self.mint_at(req, unix_now())
    }

    /// [`Issuer::mint`] with an explicit "now" (Unix seconds) for `iat`, `exp` and `nbf`.
    pub fn mint_at(&self, req: &TokenRequest, now_unix: i64) -> Result<String, PkiError> {
        let mut claims = Map::new();
        claims.insert("iss".into(), self.issuer.clone().into());
        if !req.sub.is_empty() {
            claims.insert("sub".into(), req.sub.clone().into());
        }
        match req.audience.as_slice() {
            [] => {}
            [one] => {
                claims.insert("aud".into(), one.clone().into());
            }
            many => {
                claims.insert("aud".into(), many.to_vec().into());
            }
        }
        claims.insert("iat".into(), now_unix.into());
        claims.insert("exp".into(), now_unix.saturating_add(req.expires_in).into());
        if let Some(offset) = req.not_before {
            claims.insert("nbf".into(), now_unix.saturating_add(offset).into());
        }
        if !req.scopes.is_empty() {
            claims.insert("scope".into(), req.scopes.join(" ").into());
        }
        claims.insert("jti".into(), self.jti()?.into());
        for (name, value) in &req.extra_claims {
            claims.insert(name.clone(), value.clone());
        }
        let header = json!({ "alg": "RS256", "typ": "JWT", "kid": self.kid });
        self.mint_raw(&header.to_string(), &Value::Object(claims).to_string())
    }

    /// Signs arbitrary header and claims texts, for crafting tokens (wrong `kid`, lying `alg`,
    /// malformed claims...). The signature is RSA PKCS#1 v1.5 with SHA-384 or SHA-512 when the
    /// header's `alg` says RS384 or RS512, and SHA-256 otherwise, whatever the header claims.
    pub fn mint_raw(&self, header_json: &str, claims_json: &str) -> Result<String, PkiError> {
        let alg = serde_json::from_str::<Value>(header_json)
            .ok()
            .and_then(|h| h.get("alg").and_then(Value::as_str).map(str::to_owned));
        let padding: &'static dyn signature::RsaEncoding = match alg.as_deref() {
            Some("RS384") => &signature::RSA_PKCS1_SHA384,
            Some("RS512") => &signature::RSA_PKCS1_SHA512,
            _ => &signature::RSA_PKCS1_SHA256,
        };
        let mut token = URL_SAFE_NO_PAD.encode(header_json);
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(claims_json));
        let mut sig = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(padding, &self.rng, token.as_bytes(), &mut sig)
            .map_err(|_| PkiError::Signing)?;
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(&sig));
        Ok(token)
    }

    fn jti(&self) -> Result<String, PkiError> {
        let mut bytes = [0u8; 16];
        self.rng.fill(&mut bytes).map_err(|_| PkiError::Signing)?;
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }
}

/// ring verifies and signs RSA but cannot generate RSA keys, so the `rsa` crate makes the key.
fn generate_pkcs8() -> Result<Vec<u8>, PkiError> {
    use rsa::pkcs8::EncodePrivateKey as _;
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, RSA_BITS)
        .map_err(|e| PkiError::RsaKey(e.to_string()))?;
    let der = key
        .to_pkcs8_der()
        .map_err(|e| PkiError::RsaKey(e.to_string()))?;
    Ok(der.as_bytes().to_vec())
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use ring::signature::RsaPublicKeyComponents;

    /// Verifies `token` against the issuer's published JWKS only, as an outside verifier would.
    fn verify_with_jwks(jwks: &str, token: &str, alg: &'static signature::RsaParameters) -> Value {
        let jwks: Value = serde_json::from_str(jwks).unwrap();
        let key = &jwks["keys"][0];
        let header: Value =
            serde_json::from_slice(&B64.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!(header["kid"], key["kid"]);
        let n = B64.decode(key["n"].as_str().unwrap()).unwrap();
        let e = B64.decode(key["e"].as_str().unwrap()).unwrap();
        let (signing_input, sig) = token.rsplit_once('.').unwrap();
        RsaPublicKeyComponents { n, e }
            .verify(alg, signing_input.as_bytes(), &B64.decode(sig).unwrap())
            .unwrap();
        let payload = signing_input.split('.').nth(1).unwrap();
        serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap()
    }

    #[test]
    fn reload_gives_the_same_key_and_old_tokens_still_verify() {
        let dir = tempfile::tempdir().unwrap();
        let first = Issuer::load_or_create(dir.path(), LOCAL_ISSUER).unwrap();
        let token = first
            .mint(&TokenRequest::new("alice", "pets-client"))
            .unwrap();
        let second = Issuer::load_or_create(dir.path(), LOCAL_ISSUER).unwrap();
        assert_eq!(first.kid(), second.kid());
        assert_eq!(first.jwks_json(), second.jwks_json());
        verify_with_jwks(
            &second.jwks_json(),
            &token,
            &signature::RSA_PKCS1_2048_8192_SHA256,
        );

        let pem = std::fs::read_to_string(dir.path().join("issuer-key.pem")).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let meta = std::fs::metadata(dir.path().join("issuer-key.pem")).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn jwks_is_a_standard_rsa_key_set_with_a_hash_kid() {
        let issuer = Issuer::generate(LOCAL_ISSUER).unwrap();
        let jwks: Value = serde_json::from_str(&issuer.jwks_json()).unwrap();
        let key = &jwks["keys"][0];
        assert_eq!(key["kty"], "RSA");
        assert_eq!(key["use"], "sig");
        assert_eq!(key["alg"], "RS256");
        assert_eq!(key["e"], "AQAB");
        assert_eq!(B64.decode(key["n"].as_str().unwrap()).unwrap().len(), 256);
        let digest = ring::digest::digest(&ring::digest::SHA256, issuer.public_key_der());
        assert_eq!(issuer.kid(), &B64.encode(digest.as_ref())[..16]);
        assert_eq!(key["kid"], issuer.kid());
        let other = Issuer::generate(LOCAL_ISSUER).unwrap();
        assert_ne!(issuer.kid(), other.kid());
    }

    #[test]
    fn minted_token_carries_the_requested_claims() {
        let issuer = Issuer::generate("https://issuer.test").unwrap();
        let req = TokenRequest {
            sub: "alice".into(),
            audience: vec!["pets-client".into()],
            scopes: vec!["pets/read".into(), "pets/write".into()],
            expires_in: 600,
            not_before: Some(-5),
            extra_claims: Map::new(),
        };
        let token = issuer.mint_at(&req, 1_700_000_000).unwrap();
        let header: Value =
            serde_json::from_slice(&B64.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!(
            header,
            json!({"alg": "RS256", "typ": "JWT", "kid": issuer.kid()})
        );
        let claims = verify_with_jwks(
            &issuer.jwks_json(),
            &token,
            &signature::RSA_PKCS1_2048_8192_SHA256,
        );
        assert_eq!(claims["iss"], "https://issuer.test");
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["aud"], "pets-client");
        assert_eq!(claims["scope"], "pets/read pets/write");
        assert_eq!(claims["iat"], 1_700_000_000);
        assert_eq!(claims["exp"], 1_700_000_600);
        assert_eq!(claims["nbf"], 1_699_999_995);
        assert_eq!(claims["jti"].as_str().unwrap().len(), 22);
    }

    #[test]
    fn audiences_scopes_expiry_and_extra_claims() {
        let issuer = Issuer::generate(LOCAL_ISSUER).unwrap();
        let jwks = issuer.jwks_json();
        let alg = &signature::RSA_PKCS1_2048_8192_SHA256;

        let mut req = TokenRequest::new("bob", "a");
        req.audience.push("b".into());
        req.expires_in = -60;
        let claims = verify_with_jwks(&jwks, &issuer.mint_at(&req, 1000).unwrap(), alg);
        assert_eq!(claims["aud"], json!(["a", "b"]));
        assert_eq!(
            claims["exp"], 940,
            "negative expires_in gives an expired token"
        );
        assert!(claims.get("scope").is_none());
        assert!(claims.get("nbf").is_none());

        let mut req = TokenRequest::default();
        req.extra_claims
            .insert("client_id".into(), "pets-client".into());
        req.extra_claims.insert("iat".into(), 5000.into());
        let claims = verify_with_jwks(&jwks, &issuer.mint_at(&req, 1000).unwrap(), alg);
        assert!(claims.get("aud").is_none());
        assert!(claims.get("sub").is_none());
        assert_eq!(claims["client_id"], "pets-client");
        assert_eq!(claims["iat"], 5000, "extra claims override standard ones");
        assert_eq!(claims["exp"], 4600);
    }

    #[test]
    fn mint_raw_signs_with_the_algorithm_the_header_names() {
        let issuer = Issuer::generate(LOCAL_ISSUER).unwrap();
        let jwks = issuer.jwks_json();
        let header = json!({"alg": "RS512", "kid": issuer.kid()}).to_string();
        let token = issuer.mint_raw(&header, r#"{"x":1}"#).unwrap();
        let claims = verify_with_jwks(&jwks, &token, &signature::RSA_PKCS1_2048_8192_SHA512);
        assert_eq!(claims, json!({"x": 1}));

        let header = json!({"alg": "RS384", "kid": issuer.kid()}).to_string();
        let token = issuer.mint_raw(&header, "{}").unwrap();
        verify_with_jwks(&jwks, &token, &signature::RSA_PKCS1_2048_8192_SHA384);
    }

    #[test]
    fn token_request_deserialises_with_defaults() {
        let req: TokenRequest =
            serde_json::from_str(r#"{"sub":"alice","scopes":["pets/write"]}"#).unwrap();
        assert_eq!(req.sub, "alice");
        assert_eq!(req.scopes, vec!["pets/write"]);
        assert_eq!(req.expires_in, 3600);
        assert!(serde_json::from_str::<TokenRequest>(r#"{"subject":"x"}"#).is_err());
    }

    #[test]
    fn corrupt_key_file_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("issuer-key.pem"), "not a key").unwrap();
        let err = Issuer::load_or_create(dir.path(), LOCAL_ISSUER).unwrap_err();
        assert!(matches!(err, PkiError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("issuer-key.pem"), "{err}");
    }
}
