//! Turns a stack's authorizers and IAM credentials into the gateway's authorization values
//! (docs/aws-rules.md §HTTP-5): JWT authorizers with their key source (the local issuer, a
//! `jwks_file`, or OIDC discovery on a loopback issuer; a Cognito user pool of the stack signs
//! with the local key under its own issuer), REQUEST authorizers run locally, and the SigV4
//! verifier of `AWS_IAM` routes.

use crate::StackError;
use airlock_config as cfg;
use airlock_gateway as gw;
use gw::auth::{keys::KeyStore, lambda, sigv4};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

fn err(resource: impl Into<String>, message: impl ToString) -> StackError {
    StackError::Resource {
        resource: resource.into(),
        message: message.to_string(),
    }
}

enum Built {
    Jwt(Arc<gw::JwtAuthorizer>),
    Lambda(Arc<lambda::LambdaAuthorizer>),
}

/// One API's authorizers, by name, and the stack's IAM verifier.
pub(crate) struct ApiAuthorizers {
    by_name: HashMap<String, Built>,
    iam: Arc<sigv4::IamAuthorizer>,
}

impl ApiAuthorizers {
    /// Builds the authorizers of `api`. `local_jwks` is the local issuer's key set and `ca` is
    /// airlock's CA (trusted for discovery and HTTPS authorizer endpoints).
    pub(crate) fn new(
        stack: &cfg::Stack,
        api: &cfg::HttpApi,
        local_issuer: &airlock_pki::Issuer,
        ca: &CertificateDer<'static>,
    ) -> Result<ApiAuthorizers, StackError> {
        let mut by_name = HashMap::new();
        for a in &api.authorizers {
            let resource = format!("http_apis[{}].authorizers[{}]", api.name, a.name);
            let built = match a.authorizer_type {
                cfg::AuthorizerType::Jwt => Built::Jwt(Arc::new(jwt_authorizer(
                    stack,
                    a,
                    local_issuer,
                    ca,
                    &resource,
                )?)),
                cfg::AuthorizerType::Request => {
                    Built::Lambda(Arc::new(lambda_authorizer(stack, a, ca, &resource)?))
                }
            };
            by_name.insert(a.name.clone(), built);
        }
        let credentials = stack
            .iam_credentials
            .iter()
            .map(|c| sigv4::IamCredential {
                access_key_id: c.access_key_id.clone(),
                secret_access_key: c.secret_access_key.clone(),
                principal_arn: c.principal.clone(),
                allowed_resources: c.allow_invoke.clone(),
            })
            .collect();
        Ok(ApiAuthorizers {
            by_name,
            iam: Arc::new(sigv4::IamAuthorizer::new(
                stack.region.as_str(),
                stack.account_id.as_str(),
                credentials,
            )),
        })
    }

    /// The gateway's authorization for `route`.
    pub(crate) fn for_route(
        &self,
        route: &cfg::Route,
        resource: &str,
    ) -> Result<gw::Authorization, StackError> {
        let named = || {
            route
                .authorizer_id
                .as_ref()
                .and_then(|a| self.by_name.get(a))
                .ok_or_else(|| err(resource, "route authorizer missing"))
        };
        Ok(match route.authorization_type {
            cfg::AuthorizationType::None => gw::Authorization::None,
            cfg::AuthorizationType::AwsIam => gw::Authorization::Iam(self.iam.clone()),
            cfg::AuthorizationType::Jwt => match named()? {
                Built::Jwt(a) => gw::Authorization::Jwt {
                    authorizer: a.clone(),
                    scopes: route.authorization_scopes.iter().cloned().collect(),
                },
                Built::Lambda(_) => {
                    return Err(err(resource, "a JWT route names a REQUEST authorizer"));
                }
            },
            cfg::AuthorizationType::Custom => match named()? {
                Built::Lambda(a) => gw::Authorization::Lambda(a.clone()),
                Built::Jwt(_) => {
                    return Err(err(resource, "a CUSTOM route names a JWT authorizer"));
                }
            },
        })
    }
}

fn jwt_authorizer(
    stack: &cfg::Stack,
    a: &cfg::Authorizer,
    local_issuer: &airlock_pki::Issuer,
    ca: &CertificateDer<'static>,
    resource: &str,
) -> Result<gw::JwtAuthorizer, StackError> {
    let jwt = a
        .jwt_configuration
        .as_ref()
        .ok_or_else(|| err(resource, "a JWT authorizer needs jwt_configuration"))?;
    let identity_source = match a.identity_source.first() {
        Some(cfg::IdentitySource::QueryString(q)) => gw::IdentitySource::QueryString(q.clone()),
        Some(cfg::IdentitySource::Header(h)) => gw::IdentitySource::Header(
            http::HeaderName::from_bytes(h.as_bytes()).map_err(|e| err(resource, e))?,
        ),
        Some(_) => {
            return Err(err(
                resource,
                "a JWT authorizer reads a header or a query string parameter",
            ));
        }
        None => gw::IdentitySource::Header(http::header::AUTHORIZATION),
    };
    let (issuer, keys) = if jwt.issuer == cfg::JwtConfiguration::LOCAL_ISSUER {
        let jwks = gw::jwt::Jwks::from_json(&local_issuer.jwks_json())
            .map_err(|e| err("local issuer", e))?;
        let issuer = local_issuer.issuer().to_owned();
        (issuer.clone(), KeyStore::fixed(issuer, jwks))
    } else if jwt.jwks_file.is_none() && stack.user_pool_by_issuer(&jwt.issuer).is_some() {
        // A user pool of the stack: its tokens are the local issuer's key under the pool's
        // `iss` (crate::cognito), so the pool's keys are the local issuer's.
        let jwks = gw::jwt::Jwks::from_json(&local_issuer.jwks_json())
            .map_err(|e| err("local issuer", e))?;
        (
            jwt.issuer.clone(),
            KeyStore::fixed(jwt.issuer.clone(), jwks),
        )
    } else if let Some(path) = &jwt.jwks_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| err(resource, format!("jwks_file {}: {e}", path.display())))?;
        let jwks = gw::jwt::Jwks::from_json(&text)
            .map_err(|e| err(resource, format!("jwks_file {}: {e}", path.display())))?;
        (
            jwt.issuer.clone(),
            KeyStore::fixed(jwt.issuer.clone(), jwks),
        )
    } else {
        let mut roots = vec![ca.clone()];
        if let Some(bundle) = &jwt.ca_bundle {
            let certs = CertificateDer::pem_file_iter(bundle)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| err(resource, format!("ca_bundle {}: {e}", bundle.display())))?;
            if certs.is_empty() {
                return Err(err(
                    resource,
                    format!("ca_bundle {}: no PEM certificate in it", bundle.display()),
                ));
            }
            roots.extend(certs);
        }
        let keys = KeyStore::discover(jwt.issuer.clone(), &roots).map_err(|e| err(resource, e))?;
        (jwt.issuer.clone(), keys)
    };
    Ok(gw::JwtAuthorizer {
        name: a.name.clone(),
        identity_source,
        validator: gw::jwt::JwtValidator::new(
            issuer,
            jwt.audience.clone(),
            Arc::new(gw::jwt::Jwks::default()),
        ),
        keys: Arc::new(keys),
    })
}

fn lambda_authorizer(
    stack: &cfg::Stack,
    a: &cfg::Authorizer,
    ca: &CertificateDer<'static>,
    resource: &str,
) -> Result<lambda::LambdaAuthorizer, StackError> {
    let function = match &a.authorizer_uri {
        Some(cfg::AuthorizerUri::Url(url)) => lambda::AuthorizerFunction::Http(
            gw::auth::fetch::LoopbackUrl::parse(url).map_err(|e| err(resource, e))?,
        ),
        Some(cfg::AuthorizerUri::Command { command }) => {
            lambda::AuthorizerFunction::Command(command.clone())
        }
        None => return Err(err(resource, "a REQUEST authorizer needs authorizer_uri")),
    };
    let payload_format = match a.authorizer_payload_format_version {
        Some(cfg::AuthorizerPayloadFormat::V1) => lambda::PayloadFormat::V1,
        Some(cfg::AuthorizerPayloadFormat::V2) => lambda::PayloadFormat::V2,
        None => {
            return Err(err(
                resource,
                "a REQUEST authorizer needs authorizer_payload_format_version",
            ));
        }
    };
    let identity_sources = a
        .identity_source
        .iter()
        .map(|s| {
            Ok(match s {
                cfg::IdentitySource::Header(h) => lambda::LambdaIdentitySource::Header(
                    http::HeaderName::from_bytes(h.as_bytes()).map_err(|e| err(resource, e))?,
                ),
                cfg::IdentitySource::QueryString(q) => {
                    lambda::LambdaIdentitySource::QueryString(q.clone())
                }
                cfg::IdentitySource::Context(c) => lambda::LambdaIdentitySource::Context(c.clone()),
                cfg::IdentitySource::StageVariable(v) => {
                    lambda::LambdaIdentitySource::StageVariable(v.clone())
                }
            })
        })
        .collect::<Result<Vec<_>, StackError>>()?;
    Ok(lambda::LambdaAuthorizer::new(
        lambda::LambdaConfig {
            name: a.name.clone(),
            function,
            payload_format,
            simple_responses: a.enable_simple_responses,
            identity_sources,
            result_ttl: Duration::from_secs(u64::from(a.authorizer_result_ttl_in_seconds)),
            timeout: lambda::AUTHORIZER_TIMEOUT,
            region: stack.region.as_str().to_owned(),
            account_id: stack.account_id.as_str().to_owned(),
        },
        std::slice::from_ref(ca),
    ))
}

/// The local issuer's OpenID Connect discovery document, served at `{base_url}`. The `issuer`
/// is the `iss` of its tokens (not `base_url`: the tokens predate the port), so OIDC clients
/// that insist on the two being equal need the keys from `jwks_uri` directly.
pub(crate) fn discovery_document(
    issuer: &airlock_pki::Issuer,
    base_url: &str,
) -> serde_json::Value {
    serde_json::json!({
        "issuer": issuer.issuer(),
        "jwks_uri": format!("{base_url}/.well-known/jwks.json"),
        "token_endpoint": format!("{base_url}/token"),
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    })
}

/// The local issuer's JWKS as JSON.
pub(crate) fn jwks_document(issuer: &airlock_pki::Issuer) -> serde_json::Value {
    serde_json::from_str(&issuer.jwks_json()).unwrap_or_else(|_| serde_json::json!({"keys": []}))
}
