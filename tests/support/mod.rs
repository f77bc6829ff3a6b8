//! Helpers shared by the end-to-end tests, over `airlock_stack::client`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use airlock_stack::RunningStack;
pub use airlock_stack::client::{Call, Reply};
use rustls_pki_types::CertificateDer;
use std::net::SocketAddr;

/// The default stack's custom domain.
pub const DOMAIN: &str = "private-integration.example.com";

pub fn tls_config(
    ca: CertificateDer<'static>,
    client: Option<&airlock_pki::Leaf>,
) -> rustls::ClientConfig {
    airlock_stack::client::tls_config(ca, client).unwrap()
}

/// Sends one HTTP/1.1 request over TLS to `addr`, with SNI and Host `host`.
pub async fn https(
    addr: SocketAddr,
    ca: CertificateDer<'static>,
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let call = Call {
        method,
        path,
        headers: headers.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        body,
    };
    airlock_stack::client::https(addr, ca, host, &call)
        .await
        .expect("HTTPS exchange with the stack")
}

/// A GET to the stack's gateway under the default custom domain.
pub async fn get(stack: &RunningStack, path: &str, token: Option<&str>) -> Reply {
    let mut call = Call::get(path);
    if let Some(t) = token {
        call = call.bearer(t);
    }
    airlock_stack::client::https(stack.endpoints().gateway, stack.ca_der(), DOMAIN, &call)
        .await
        .expect("HTTPS exchange with the gateway")
}

pub trait ReplyExt {
    fn h(&self, name: &str) -> &str;
}

impl ReplyExt for Reply {
    /// A header that must be present.
    fn h(&self, name: &str) -> &str {
        self.header(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }
}
