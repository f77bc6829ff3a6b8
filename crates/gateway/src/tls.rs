//! The gateway's TLS: one certificate per custom domain, chosen by SNI, plus the execute-api
//! wildcard. TLS 1.2 is the minimum, as for HTTP API domains (docs/aws-rules.md §HTTP-6.1).

use crate::{CertifiedKeyPair, GatewayConfig};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::sync::Arc;

/// Picks the certificate for a server name: an exact name first, then a wildcard for its parent.
#[derive(Debug)]
struct SniResolver {
    by_name: HashMap<String, Arc<CertifiedKey>>,
    /// Used when the client sends no SNI (e.g. a connection to an IP address).
    fallback: Arc<CertifiedKey>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let Some(name) = hello.server_name() else {
            return Some(self.fallback.clone());
        };
        let name = name.to_ascii_lowercase();
        if let Some(k) = self.by_name.get(&name) {
            return Some(k.clone());
        }
        let parent = name.split_once('.').map(|(_, p)| p)?;
        self.by_name.get(&format!("*.{parent}")).cloned()
    }
}

fn certified(pair: &CertifiedKeyPair) -> Result<Arc<CertifiedKey>, rustls::Error> {
    let key = airlock_pki::crypto_provider()
        .key_provider
        .load_private_key(pair.key.clone_key())?;
    Ok(Arc::new(CertifiedKey::new(pair.cert_chain.clone(), key)))
}

pub(crate) fn server_config(config: &GatewayConfig) -> Result<rustls::ServerConfig, rustls::Error> {
    let execute_api = certified(&config.execute_api_certificate)?;
    let mut by_name = HashMap::new();
    by_name.insert(
        format!("*.execute-api.{}.amazonaws.com", config.region),
        execute_api.clone(),
    );
    let mut fallback = execute_api;
    for (i, d) in config.domains.iter().enumerate() {
        let key = certified(&d.certificate)?;
        if i == 0 {
            fallback = key.clone();
        }
        by_name.insert(d.domain_name.clone(), key);
    }
    let mut cfg = rustls::ServerConfig::builder_with_provider(airlock_pki::crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver { by_name, fallback }));
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    // The `TLS_1_2` security policy's order, the server's preference (AES-128-GCM first).
    cfg.ignore_client_order = true;
    Ok(cfg)
}
