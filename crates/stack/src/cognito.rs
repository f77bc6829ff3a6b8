//! Tokens of a stack's Cognito user pools (`user_pools`, see `airlock_config::UserPool`): signed
//! by the local issuer key, shaped as Cognito access tokens ("Understanding the access token",
//! https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-access-token.html):
//! `iss` is the pool's issuer, the app client's id is `client_id` (there is no `aud`),
//! `token_use` is `access` and `username` repeats the subject.

use airlock_config as cfg;
use airlock_pki::TokenRequest;
use serde_json::Value;

/// Why a user pool token cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum UserPoolTokenError {
    /// The stack has no pool of that name.
    #[error(
        "no user pool named {name:?}; known user pools: {known} (hint: a template's pool is named by its logical id)"
    )]
    UnknownPool {
        /// The name asked for.
        name: String,
        /// The pools the stack has.
        known: String,
    },
    /// The pool has no client of that name.
    #[error("user pool {pool:?} has no app client named {name:?}; its clients: {known}")]
    UnknownClient {
        /// The pool.
        pool: String,
        /// The name asked for.
        name: String,
        /// The clients the pool has.
        known: String,
    },
    /// No client was named and the pool has none, or several.
    #[error(
        "user pool {pool:?} has {count} app clients; name one with --client (or \"client\"): {known}"
    )]
    ChooseClient {
        /// The pool.
        pool: String,
        /// How many clients it has.
        count: usize,
        /// The clients it has.
        known: String,
    },
}

fn names<'a>(it: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = it.collect();
    if v.is_empty() {
        "none".to_owned()
    } else {
        v.join(", ")
    }
}

/// `base` made into an access token of user pool `pool` for app client `client` (the pool's
/// only client when `None`): `iss`, `client_id`, `token_use` and `username` set, `aud` removed.
pub fn user_pool_token(
    stack: &cfg::Stack,
    pool: &str,
    client: Option<&str>,
    mut base: TokenRequest,
) -> Result<TokenRequest, UserPoolTokenError> {
    let (account, region) = (stack.account_id.as_str(), stack.region.as_str());
    let p = stack
        .user_pool(pool)
        .ok_or_else(|| UserPoolTokenError::UnknownPool {
            name: pool.to_owned(),
            known: names(stack.user_pools.iter().map(|p| p.name.as_str())),
        })?;
    let known = || names(p.clients.iter().map(|c| c.name.as_str()));
    let c = match client {
        Some(name) => p
            .client(name)
            .ok_or_else(|| UserPoolTokenError::UnknownClient {
                pool: pool.to_owned(),
                name: name.to_owned(),
                known: known(),
            })?,
        None => match p.clients.as_slice() {
            [only] => only,
            many => {
                return Err(UserPoolTokenError::ChooseClient {
                    pool: pool.to_owned(),
                    count: many.len(),
                    known: known(),
                });
            }
        },
    };
    base.audience.clear();
    let mut claims = serde_json::Map::new();
    claims.insert("iss".into(), Value::from(p.issuer(account, region)));
    claims.insert("client_id".into(), Value::from(p.client_id(account, c)));
    claims.insert("token_use".into(), Value::from("access"));
    if !base.sub.is_empty() {
        claims.insert("username".into(), Value::from(base.sub.clone()));
    }
    // The caller's own extra claims still win, as they do for any minted token.
    for (k, v) in std::mem::take(&mut base.extra_claims) {
        claims.insert(k, v);
    }
    base.extra_claims = claims;
    Ok(base)
}
