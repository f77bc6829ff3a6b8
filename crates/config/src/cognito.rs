//! Amazon Cognito user pools in the stack file, as JWT issuers only (`AWS::Cognito::UserPool`,
//! `AWS::Cognito::UserPoolClient`).
//!
//! airlock extension: a user pool stands in for Cognito's token endpoint. Its tokens are signed
//! by airlock's local issuer key with the pool's issuer,
//! `https://cognito-idp.REGION.amazonaws.com/POOL_ID`, and carry the app client's id as
//! `client_id`, as Cognito access tokens do ("Understanding the access token",
//! https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-access-token.html).
//! A JWT authorizer whose `issuer` is a pool's issuer verifies with the local key, and one whose
//! `audience` lists the client id accepts those tokens (docs/aws-rules.md §HTTP-5.1: `aud`, else
//! `client_id`). Users, sign-in, hosted UI and triggers are not emulated: `airlock token
//! --user-pool NAME` and the admin endpoint mint the tokens.

use serde::Deserialize;

/// A Cognito user pool, reduced to what a JWT authorizer needs: its id and its app clients.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPool {
    /// The name `airlock token --user-pool` and the admin endpoint refer to (a template's
    /// logical id, in a converted template).
    pub name: String,
    /// The pool id, `REGION_xxxxxxxxx`; made up from the account, region and name when omitted
    /// ([`crate::ids::user_pool_id`]).
    #[serde(default)]
    pub pool_id: Option<String>,
    /// The app clients tokens may be minted for.
    #[serde(default)]
    pub clients: Vec<UserPoolClient>,
}

/// An app client of a user pool.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPoolClient {
    /// The name `airlock token --client` refers to.
    pub name: String,
    /// The client id tokens carry as `client_id` (an authorizer's `audience` lists it); made up
    /// from the account, pool and name when omitted ([`crate::ids::user_pool_client_id`]).
    #[serde(default)]
    pub client_id: Option<String>,
}

impl UserPool {
    /// The pool id in `region` of `account`: the one given, or the made-up one.
    pub fn id(&self, account: &str, region: &str) -> String {
        self.pool_id
            .clone()
            .unwrap_or_else(|| crate::ids::user_pool_id(account, region, &self.name))
    }

    /// The `iss` of the pool's tokens: `https://cognito-idp.REGION.amazonaws.com/POOL_ID`.
    pub fn issuer(&self, account: &str, region: &str) -> String {
        format!(
            "https://cognito-idp.{region}.amazonaws.com/{}",
            self.id(account, region)
        )
    }

    /// The client named `name`.
    pub fn client(&self, name: &str) -> Option<&UserPoolClient> {
        self.clients.iter().find(|c| c.name == name)
    }

    /// The id of `client` of this pool: the one given, or the made-up one.
    pub fn client_id(&self, account: &str, client: &UserPoolClient) -> String {
        client
            .client_id
            .clone()
            .unwrap_or_else(|| crate::ids::user_pool_client_id(account, &self.name, &client.name))
    }
}

/// Whether `issuer` has the shape of a Cognito user pool issuer of any region.
pub fn is_cognito_issuer(issuer: &str) -> bool {
    issuer
        .strip_prefix("https://cognito-idp.")
        .and_then(|rest| rest.split_once(".amazonaws.com/"))
        .is_some()
}
