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

/// Whether the external tool `name` (run as `name version_arg`) can be used by a test.
///
/// A test that needs a tool calls this first. Under `CI=true` a missing tool fails the test,
/// since `.ci/run` installs every tool a test needs and a skip there would hide a missing
/// install step; elsewhere the test is skipped with the reason printed. The rule is
/// `airlock_net::testing`'s, shared with the crates' tests.
pub fn tool(name: &str, version_arg: &str, install_hint: &str) -> bool {
    airlock_net::testing::tool(name, version_arg, install_hint)
}

/// Whether python3 can import `module`, under the same rule as [`tool`].
pub fn python_module(module: &str, install_hint: &str) -> bool {
    airlock_net::testing::python_module(module, install_hint)
}
