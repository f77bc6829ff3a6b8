//! Checks of Cognito user pools (as JWT issuers) and of the authorizers that name one.

use std::collections::HashMap;

use super::Checker;
use crate::error::DiagnosticKind;
use crate::*;

/// Whether `id` is a user pool id of `region`: `REGION_` and 1 to 55 of `[A-Za-z0-9]`
/// ("CreateUserPool", `UserPoolType.Id`: pattern `[\w-]+_[0-9a-zA-Z]+`, at most 55 characters).
fn is_pool_id(id: &str, region: &str) -> bool {
    id.len() <= 55
        && id
            .strip_prefix(region)
            .and_then(|rest| rest.strip_prefix('_'))
            .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Whether `id` is an app client id: 1 to 128 of `[\w+]` ("CreateUserPoolClient",
/// `UserPoolClientType.ClientId`).
fn is_client_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'+')
}

impl<'a> Checker<'a> {
    pub(super) fn user_pools(&mut self) {
        let stack = self.stack;
        let (account, region) = (stack.account_id.as_str(), stack.region.as_str());
        self.unique(
            "user pool",
            stack
                .user_pools
                .iter()
                .enumerate()
                .map(|(i, p)| (format!("user_pools[{i}].name"), p.name.as_str())),
        );
        let mut ids: HashMap<String, usize> = HashMap::new();
        let mut client_ids: HashMap<String, String> = HashMap::new();
        for (i, pool) in stack.user_pools.iter().enumerate() {
            let base = format!("user_pools[{i}]");
            if pool.name.is_empty() || pool.name.len() > 128 {
                self.issue(
                    format!("{base}.name"),
                    DiagnosticKind::InvalidValue,
                    "a user pool name has 1 to 128 characters",
                    "shorten the name",
                );
            }
            let id = pool.id(account, region);
            if !is_pool_id(&id, region) {
                self.issue(
                    format!("{base}.pool_id"),
                    DiagnosticKind::InvalidValue,
                    format!("{id:?} is not a user pool id of {region}"),
                    format!(
                        "write `{region}_` and letters or digits (e.g. {region}_Ab3dE6gH9), or \
                         leave pool_id out to have one made up"
                    ),
                );
            }
            if let Some(first) = ids.insert(id.clone(), i) {
                self.issue(
                    format!("{base}.pool_id"),
                    DiagnosticKind::Duplicate,
                    format!("user pool id {id:?} is already the id of user_pools[{first}]"),
                    "give each pool its own id",
                );
            }
            self.unique(
                "user pool client",
                pool.clients
                    .iter()
                    .enumerate()
                    .map(|(j, c)| (format!("{base}.clients[{j}].name"), c.name.as_str())),
            );
            for (j, client) in pool.clients.iter().enumerate() {
                let path = format!("{base}.clients[{j}].client_id");
                let cid = pool.client_id(account, client);
                if !is_client_id(&cid) {
                    self.issue(
                        path.clone(),
                        DiagnosticKind::InvalidValue,
                        format!("{cid:?} is not an app client id"),
                        "use 1 to 128 letters, digits, `_` or `+`, or leave client_id out to \
                         have one made up",
                    );
                }
                if let Some(first) = client_ids.insert(cid.clone(), path.clone()) {
                    self.issue(
                        path,
                        DiagnosticKind::Duplicate,
                        format!("client id {cid:?} is already the id of {first}"),
                        "give each app client its own id",
                    );
                }
            }
        }
        // An authorizer naming a Cognito issuer of this stack's region that no pool has would
        // fall back to OIDC discovery on the internet, which airlock never does.
        for (i, api) in stack.http_apis.iter().enumerate() {
            for (j, a) in api.authorizers.iter().enumerate() {
                let Some(jwt) = &a.jwt_configuration else {
                    continue;
                };
                if is_cognito_issuer(&jwt.issuer)
                    && jwt.jwks_file.is_none()
                    && stack.user_pool_by_issuer(&jwt.issuer).is_none()
                {
                    let known: Vec<String> = stack
                        .user_pools
                        .iter()
                        .map(|p| p.issuer(account, region))
                        .collect();
                    self.issue(
                        format!("http_apis[{i}].authorizers[{j}].jwt_configuration.issuer"),
                        DiagnosticKind::UnknownReference,
                        format!(
                            "{:?} is a Cognito user pool issuer, but no user pool of this stack \
                             has it; known: {}",
                            jwt.issuer,
                            if known.is_empty() {
                                "none are defined".to_owned()
                            } else {
                                known.join(", ")
                            }
                        ),
                        "add the pool to user_pools (its pool_id is the issuer's last part), or \
                         give the authorizer a jwks_file with the pool's keys",
                    );
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::Path;

    use crate::{ConfigError, DEFAULT_STACK_YAML, parse};

    fn with(extra: &str) -> Result<crate::Stack, ConfigError> {
        parse(
            &format!("{DEFAULT_STACK_YAML}\n{extra}"),
            Path::new("s.yaml"),
        )
    }

    /// A pool without ids gets made-up ones in the stack's region; its issuer finds it.
    #[test]
    fn a_user_pool_gets_ids_and_is_found_by_its_issuer() {
        let stack =
            with("user_pools:\n  - name: users\n    clients:\n      - name: web\n").unwrap();
        let pool = stack.user_pool("users").unwrap();
        let id = pool.id("000000000000", "us-east-1");
        assert!(id.starts_with("us-east-1_") && id.len() == 19, "{id}");
        let issuer = format!("https://cognito-idp.us-east-1.amazonaws.com/{id}");
        assert_eq!(stack.user_pool_by_issuer(&issuer), Some(pool));
        let client = pool.client_id("000000000000", &pool.clients[0]);
        assert_eq!(client.len(), 26);
    }

    /// A pool id of another region, and a duplicate client id, are refused at their lines.
    #[test]
    fn bad_pool_and_client_ids_are_refused() {
        let err = with(
            "user_pools:\n  - name: users\n    pool_id: eu-west-1_abc\n    clients:\n      - {name: a, client_id: same}\n      - {name: b, client_id: same}\n",
        )
        .unwrap_err();
        let ConfigError::Invalid(d) = err else {
            panic!("{err}")
        };
        assert!(
            d.0.iter().any(|d| d.path == "user_pools[0].pool_id"),
            "{d:?}"
        );
        assert!(
            d.0.iter()
                .any(|d| d.path == "user_pools[0].clients[1].client_id"),
            "{d:?}"
        );
    }
}
