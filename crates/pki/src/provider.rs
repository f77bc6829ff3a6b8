//! The TLS crypto provider every airlock endpoint and client uses.

use rustls::crypto::CryptoProvider;
use std::sync::{Arc, OnceLock};

/// ring, with its cipher suites in the order AWS's security policies list them: AES-128-GCM
/// before AES-256-GCM before ChaCha20-Poly1305, for TLS 1.3 and for TLS 1.2 alike
/// (`ELBSecurityPolicy-TLS13-1-2-2021-06`, API Gateway's `TLS_1_2`). rustls' own order puts
/// AES-256 first; with 10 rounds instead of 14, AES-128 is also the cheaper one on every record
/// of every hop.
///
/// A server that wants AWS's server-side preference also sets `ignore_client_order`.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            let mut provider = rustls::crypto::ring::default_provider();
            // Stable: TLS 1.3 suites stay before TLS 1.2 ones, and suites of one rank keep
            // rustls' order (ECDSA before RSA).
            provider.cipher_suites.sort_by_key(|suite| {
                let name = format!("{:?}", suite.suite());
                let rank = if name.contains("AES_128_GCM") {
                    0
                } else if name.contains("AES_256_GCM") {
                    1
                } else {
                    2
                };
                (
                    matches!(suite, rustls::SupportedCipherSuite::Tls12(_)),
                    rank,
                )
            });
            Arc::new(provider)
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::CipherSuite;

    /// AES-128-GCM leads for TLS 1.3 and TLS 1.2, every suite of ring is still offered.
    #[test]
    fn aws_order() {
        let suites: Vec<CipherSuite> = crypto_provider()
            .cipher_suites
            .iter()
            .map(|s| s.suite())
            .collect();
        assert_eq!(suites[0], CipherSuite::TLS13_AES_128_GCM_SHA256);
        assert_eq!(suites[1], CipherSuite::TLS13_AES_256_GCM_SHA384);
        let first_tls12 = suites
            .iter()
            .position(|s| format!("{s:?}").starts_with("TLS_ECDHE"))
            .unwrap_or(usize::MAX);
        assert!(format!("{:?}", suites[first_tls12]).contains("AES_128_GCM"));
        assert_eq!(
            suites.len(),
            rustls::crypto::ring::default_provider().cipher_suites.len()
        );
    }
}
