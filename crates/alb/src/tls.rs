//! HTTPS listener TLS: one `ServerConfig` per listener, built at startup, choosing the
//! certificate by SNI as docs/aws-rules.md §ALB-1.3 describes.

use crate::config::{ConfigError, ListenerCertificate};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, SignatureAlgorithm, SignatureScheme};
use rustls_pki_types::ServerName;
use std::sync::Arc;

/// Builds the listener's TLS configuration: ring provider, safe default versions, ALPN `h2` and
/// `http/1.1` (docs/aws-rules.md §ALB-1.3: HTTP/2 only on HTTPS listeners), and the SNI resolver.
pub(crate) fn server_config(
    port: u16,
    certificates: &[ListenerCertificate],
) -> Result<Arc<ServerConfig>, ConfigError> {
    let provider = airlock_pki::crypto_provider();
    let mut keys = Vec::with_capacity(certificates.len());
    for (index, cert) in certificates.iter().enumerate() {
        let bad = |reason: String| ConfigError::BadCertificate {
            port,
            index,
            reason,
        };
        if cert.chain.is_empty() {
            return Err(bad("the chain is empty".to_owned()));
        }
        // Fail now, not at the first handshake, if the leaf does not parse.
        webpki::EndEntityCert::try_from(&cert.chain[0])
            .map_err(|e| bad(format!("the leaf certificate does not parse: {e}")))?;
        let key = CertifiedKey::from_der(cert.chain.clone(), cert.key.clone_key(), &provider)
            .map_err(|e| bad(e.to_string()))?;
        keys.push(Arc::new(key));
    }
    let mut keys = keys.into_iter();
    let default = keys.next().ok_or(ConfigError::NoCertificate(port))?;
    let resolver = SniResolver {
        default,
        list: keys.collect(),
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| ConfigError::Tls { port, source })?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    // ELB security policies use server order preference (AES-128-GCM first).
    config.ignore_client_order = true;
    Ok(Arc::new(config))
}

/// docs/aws-rules.md §ALB-1.3: the default certificate when the client sends no SNI or nothing in the list matches;
/// otherwise the matching certificate, ECDSA preferred over RSA when the client supports it.
/// Among equals the listed order wins (key length and validity, AWS's later tie-breakers, are
/// not compared).
#[derive(Debug)]
struct SniResolver {
    default: Arc<CertifiedKey>,
    list: Vec<Arc<CertifiedKey>>,
}

impl SniResolver {
    fn choose(&self, sni: Option<&str>, schemes: &[SignatureScheme]) -> Arc<CertifiedKey> {
        let Some(name) = sni.and_then(|s| ServerName::try_from(s).ok()) else {
            return self.default.clone();
        };
        let client_ecdsa = schemes.iter().any(|s| {
            matches!(
                s,
                SignatureScheme::ECDSA_NISTP256_SHA256
                    | SignatureScheme::ECDSA_NISTP384_SHA384
                    | SignatureScheme::ECDSA_NISTP521_SHA512
            )
        });
        let matching = std::iter::once(&self.default)
            .chain(&self.list)
            .filter(|ck| covers(ck, &name));
        let mut best: Option<&Arc<CertifiedKey>> = None;
        for ck in matching {
            let ecdsa = ck.key.algorithm() == SignatureAlgorithm::ECDSA;
            match best {
                None => best = Some(ck),
                Some(b) => {
                    let b_ecdsa = b.key.algorithm() == SignatureAlgorithm::ECDSA;
                    if client_ecdsa && ecdsa && !b_ecdsa {
                        best = Some(ck);
                    }
                }
            }
        }
        best.unwrap_or(&self.default).clone()
    }
}

fn covers(ck: &CertifiedKey, name: &ServerName<'_>) -> bool {
    ck.cert.first().is_some_and(|leaf| {
        webpki::EndEntityCert::try_from(leaf)
            .is_ok_and(|ee| ee.verify_is_valid_for_subject_name(name).is_ok())
    })
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.choose(hello.server_name(), hello.signature_schemes()))
    }
}
