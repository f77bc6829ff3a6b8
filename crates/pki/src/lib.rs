//! airlock-pki: the local trust material of one airlock state directory.
//!
//! Two things live here:
//!
//! - [`Ca`]: a certificate authority created once per state directory (`ca.pem`, `ca-key.pem`) and
//!   reloaded on every later start, so clients can pin it with `curl --cacert`. It issues in-memory
//!   leaf certificates: server certificates for custom domains and listeners (wildcards work) and
//!   client certificates whose URI SAN carries a SPIFFE-style identity (the API Gateway's VPC link
//!   identity, see [`apigateway_identity`]), read back with [`identity_of`].
//! - [`Issuer`]: the local JWT issuer, an RSA-2048 key kept as `issuer-key.pem`, publishing a JWKS and
//!   minting RS256 tokens.
//!
//! This crate must NOT know about sockets, stacks, the gateway's authorizer rules or any component:
//! it produces keys, certificates and signed tokens, and reads identities back from certificates.

mod ca;
mod fs;
mod issuer;
mod pem;
mod provider;

pub use ca::{Ca, Leaf, apigateway_identity, identity_of};
pub use issuer::{Issuer, LOCAL_ISSUER, TokenRequest};
pub use provider::crypto_provider;

use std::path::PathBuf;

/// Why loading, creating or using the local PKI failed.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Reading or writing a file of the state directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file of the state directory does not hold what airlock wrote there.
    #[error("{path}: {reason}; delete the file (and its companion) to let airlock create new ones")]
    Corrupt {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// `ca.pem` exists without its key, so nothing can be signed with it.
    #[error(
        "{cert} exists but its key {key} is missing; delete {cert} to let airlock create a new CA \
         (clients pinned to the old one must then be given the new ca.pem)"
    )]
    MissingCaKey {
        /// Path of `ca.pem`.
        cert: PathBuf,
        /// Path of the expected `ca-key.pem`.
        key: PathBuf,
    },
    /// A server certificate was requested without any name.
    #[error("a server certificate needs at least one DNS name")]
    NoSubjectNames,
    /// rcgen refused to build a certificate (for example an invalid DNS name or URI).
    #[error("certificate generation failed: {0}")]
    Certificate(#[from] rcgen::Error),
    /// Generating or encoding the issuer's RSA key failed.
    #[error("RSA key generation failed: {0}")]
    RsaKey(String),
    /// ring refused the issuer's RSA key.
    #[error("the issuer key was rejected: {0}")]
    KeyRejected(String),
    /// ring failed to sign or to draw random bytes.
    #[error("signing failed")]
    Signing,
    /// A token's header or claims could not be serialised.
    #[error("token serialisation failed: {0}")]
    Json(#[from] serde_json::Error),
}
