//! The state directory's certificate authority and the leaf certificates it issues.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::PkiError;
use crate::fs::{ensure_dir, read_optional, write_atomic};

/// File name of the CA certificate inside the state directory (what clients pin).
const CA_CERT_FILE: &str = "ca.pem";
/// File name of the CA private key inside the state directory (mode 0600).
const CA_KEY_FILE: &str = "ca-key.pem";

/// The persistent CA lives long enough that nobody meets its expiry in practice.
const CA_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Leaves are re-issued at every start, a year is plenty.
const LEAF_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);
/// Backdating tolerates clocks of clients that run slightly behind.
const BACKDATE: Duration = Duration::from_secs(3600);

/// Trust domain of every identity airlock puts in a client certificate.
const TRUST_DOMAIN: &str = "airlock.local";

/// The SPIFFE-style identity of an API Gateway VPC link, carried in the URI SAN of the client
/// certificate the gateway presents to the VPC link endpoint.
pub fn apigateway_identity(account_id: &str, vpc_link_name: &str) -> String {
    format!("spiffe://{TRUST_DOMAIN}/account/{account_id}/apigateway/vpclink/{vpc_link_name}")
}

/// The first URI subject alternative name of `cert`, the identity a client certificate from
/// [`Ca::issue_client`] carries. `None` when the certificate does not parse or has no URI SAN.
pub fn identity_of(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let san = parsed.subject_alternative_name().ok()??;
    san.value.general_names.iter().find_map(|name| match name {
        x509_parser::extensions::GeneralName::URI(uri) => Some((*uri).to_owned()),
        _ => None,
    })
}

/// A certificate authority created once per state directory and reloaded on later starts.
///
/// Its certificate is `ca.pem` (give it to clients: `curl --cacert .airlock/ca.pem`); its key is
/// `ca-key.pem`, readable by the owner only. Leaf certificates it issues are never written to disk:
/// every start issues fresh ones, which the unchanged CA still vouches for.
pub struct Ca {
    cert_der: CertificateDer<'static>,
    cert_pem: String,
    ca_path: PathBuf,
    issuer: rcgen::Issuer<'static, KeyPair>,
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ca")
            .field("ca_path", &self.ca_path)
            .finish_non_exhaustive()
    }
}

impl Ca {
    /// Loads the CA of `state_dir`, creating the directory and the CA on first use.
    ///
    /// A directory holding `ca-key.pem` without `ca.pem` (a crash between the two writes) gets a
    /// new certificate for the existing key; `ca.pem` without its key is an error, because
    /// silently replacing a CA that clients may have pinned would make every handshake fail with
    /// a confusing message.
    pub fn load_or_create(state_dir: &Path) -> Result<Ca, PkiError> {
        ensure_dir(state_dir)?;
        let cert_path = state_dir.join(CA_CERT_FILE);
        let key_path = state_dir.join(CA_KEY_FILE);

        let key = match read_optional(&key_path)? {
            Some(pem) => KeyPair::from_pem(&pem).map_err(|e| PkiError::Corrupt {
                path: key_path.clone(),
                reason: format!("not a PKCS#8 private key airlock can use ({e})"),
            })?,
            None => {
                if cert_path.exists() {
                    return Err(PkiError::MissingCaKey {
                        cert: cert_path,
                        key: key_path,
                    });
                }
                let key = KeyPair::generate()?;
                write_atomic(&key_path, &key.serialize_pem(), true)?;
                key
            }
        };

        let cert_der = match read_optional(&cert_path)? {
            Some(pem) => {
                let der = CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| {
                    PkiError::Corrupt {
                        path: cert_path.clone(),
                        reason: format!("not a PEM certificate ({e})"),
                    }
                })?;
                check_key_matches(&der, &key, &cert_path)?;
                der
            }
            None => {
                let cert = ca_params(SystemTime::now()).self_signed(&key)?;
                write_atomic(&cert_path, &cert.pem(), false)?;
                cert.der().clone()
            }
        };

        let issuer =
            rcgen::Issuer::from_ca_cert_der(&cert_der, key).map_err(|e| PkiError::Corrupt {
                path: cert_path.clone(),
                reason: format!("not a CA certificate airlock can sign with ({e})"),
            })?;
        Ok(Ca {
            cert_pem: crate::pem::encode("CERTIFICATE", cert_der.as_ref()),
            cert_der,
            ca_path: cert_path,
            issuer,
        })
    }

    /// The CA certificate in PEM, as written to `ca.pem`.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate in DER, for building rustls root stores.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// Path of `ca.pem`, the file to hand to clients (`curl --cacert`).
    pub fn ca_path(&self) -> &Path {
        &self.ca_path
    }

    /// Issues a server certificate valid for every name in `dns_names` (wildcards such as
    /// `*.example.com` and IP addresses work); the subject CN is the first name.
    pub fn issue_server(&self, dns_names: &[String]) -> Result<Leaf, PkiError> {
        let first = dns_names.first().ok_or(PkiError::NoSubjectNames)?;
        let mut params = CertificateParams::new(dns_names.to_vec())?;
        params.distinguished_name = common_name(first);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let now = SystemTime::now();
        self.sign_leaf(params, now - BACKDATE, now + LEAF_LIFETIME)
    }

    /// Issues a client certificate carrying `identity` (a URI such as
    /// [`apigateway_identity`]'s) as its URI SAN, with the client-auth extended key usage.
    pub fn issue_client(&self, identity: &str) -> Result<Leaf, PkiError> {
        let now = SystemTime::now();
        self.issue_client_with(identity, now - BACKDATE, now + LEAF_LIFETIME)
    }

    /// [`Ca::issue_client`] with an explicit validity window, e.g. one in the past to obtain an
    /// expired certificate in tests. X.509 keeps whole seconds; sub-second parts are dropped.
    pub fn issue_client_with(
        &self,
        identity: &str,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<Leaf, PkiError> {
        let mut params = CertificateParams::default();
        params.subject_alt_names = vec![SanType::URI(identity.to_owned().try_into()?)];
        // Some parsers refuse a CN over 64 characters (the X.520 upper bound); the URI SAN is what
        // identifies the client anyway.
        params.distinguished_name = common_name(if identity.len() <= 64 {
            identity
        } else {
            "airlock client"
        });
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign_leaf(params, not_before, not_after)
    }

    fn sign_leaf(
        &self,
        mut params: CertificateParams,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<Leaf, PkiError> {
        params.not_before = not_before.into();
        params.not_after = not_after.into();
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Leaf {
            cert_chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        })
    }
}

/// A leaf certificate and its private key, in memory only.
///
/// `cert_chain` holds the leaf alone: the CA is the trust anchor and is never sent.
#[derive(Debug)]
pub struct Leaf {
    /// The leaf certificate first, as rustls expects.
    pub cert_chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key (PKCS#8, ECDSA P-256).
    pub key: PrivateKeyDer<'static>,
}

impl Clone for Leaf {
    fn clone(&self) -> Self {
        Leaf {
            cert_chain: self.cert_chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl Leaf {
    /// The certificate chain in PEM, for tools and tests in other languages.
    pub fn cert_pem(&self) -> String {
        self.cert_chain
            .iter()
            .map(|c| crate::pem::encode("CERTIFICATE", c.as_ref()))
            .collect()
    }

    /// The private key in PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn key_pem(&self) -> String {
        crate::pem::encode("PRIVATE KEY", self.key.secret_der())
    }
}

fn ca_params(now: SystemTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "airlock");
    dn.push(DnType::CommonName, "airlock local CA");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = (now - BACKDATE).into();
    params.not_after = (now + CA_LIFETIME).into();
    params
}

fn common_name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

/// A `ca.pem` from another state directory next to this key would make every leaf unverifiable.
fn check_key_matches(
    cert: &CertificateDer<'_>,
    key: &KeyPair,
    cert_path: &Path,
) -> Result<(), PkiError> {
    let corrupt = |reason: &str| PkiError::Corrupt {
        path: cert_path.to_path_buf(),
        reason: reason.to_owned(),
    };
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|_| corrupt("not a valid X.509 certificate"))?;
    if parsed.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
        return Err(corrupt("the certificate does not belong to ca-key.pem"));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rustls_pki_types::{ServerName, UnixTime};
    use webpki::{EndEntityCert, KeyUsage, anchor_from_trusted_cert};

    fn verify(
        ca: &CertificateDer<'_>,
        leaf: &CertificateDer<'_>,
        usage: KeyUsage,
        at: SystemTime,
    ) -> Result<(), webpki::Error> {
        let anchors = [anchor_from_trusted_cert(ca).unwrap()];
        let ee = EndEntityCert::try_from(leaf).unwrap();
        ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &[],
            UnixTime::since_unix_epoch(at.duration_since(SystemTime::UNIX_EPOCH).unwrap()),
            usage,
            None,
            None,
        )
        .map(|_| ())
    }

    fn valid_for(leaf: &CertificateDer<'_>, name: &str) -> bool {
        let ee = EndEntityCert::try_from(leaf).unwrap();
        ee.verify_is_valid_for_subject_name(&ServerName::try_from(name).unwrap())
            .is_ok()
    }

    #[test]
    fn reload_gives_the_same_ca_and_leaves_still_chain_to_the_first_ca_pem() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("nested/.airlock");
        let first = Ca::load_or_create(&state).unwrap();
        let pem_on_disk = std::fs::read_to_string(state.join("ca.pem")).unwrap();
        assert_eq!(pem_on_disk, first.cert_pem());
        assert_eq!(first.ca_path(), state.join("ca.pem"));

        let second = Ca::load_or_create(&state).unwrap();
        assert_eq!(first.cert_der(), second.cert_der());
        assert_eq!(first.cert_pem(), second.cert_pem());

        // A leaf from the reloaded CA verifies against the ca.pem written on first start.
        let leaf = second
            .issue_server(&["private-integration.example.com".to_owned()])
            .unwrap();
        verify(
            first.cert_der(),
            &leaf.cert_chain[0],
            KeyUsage::server_auth(),
            SystemTime::now(),
        )
        .unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn ca_key_is_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        Ca::load_or_create(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join("ca-key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let key = std::fs::read_to_string(dir.path().join("ca-key.pem")).unwrap();
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
    }

    #[test]
    fn wildcard_server_certificate_verifies_for_one_label_only() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::load_or_create(dir.path()).unwrap();
        let leaf = ca.issue_server(&["*.example.com".to_owned()]).unwrap();
        let cert = &leaf.cert_chain[0];
        verify(
            ca.cert_der(),
            cert,
            KeyUsage::server_auth(),
            SystemTime::now(),
        )
        .unwrap();
        assert!(valid_for(cert, "private-integration.example.com"));
        assert!(!valid_for(cert, "example.com"));
        assert!(!valid_for(cert, "a.b.example.com"));
        assert!(!valid_for(cert, "example.org"));
        // Server certificates are not client certificates.
        assert!(
            verify(
                ca.cert_der(),
                cert,
                KeyUsage::client_auth(),
                SystemTime::now()
            )
            .is_err()
        );
        // CN is the first name.
        let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).unwrap();
        let cn = parsed.subject().iter_common_name().next().unwrap();
        assert_eq!(cn.as_str().unwrap(), "*.example.com");
    }

    #[test]
    fn server_certificate_covers_every_name_and_ip() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::load_or_create(dir.path()).unwrap();
        let names = ["vpclink.airlock.local".to_owned(), "127.0.0.1".to_owned()];
        let leaf = ca.issue_server(&names).unwrap();
        assert!(valid_for(&leaf.cert_chain[0], "vpclink.airlock.local"));
        assert!(valid_for(&leaf.cert_chain[0], "127.0.0.1"));
        assert!(matches!(
            ca.issue_server(&[]),
            Err(PkiError::NoSubjectNames)
        ));
    }

    #[test]
    fn client_identity_round_trips_through_identity_of() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::load_or_create(dir.path()).unwrap();
        let id = apigateway_identity("000000000000", "pets-link");
        assert_eq!(
            id,
            "spiffe://airlock.local/account/000000000000/apigateway/vpclink/pets-link"
        );
        let leaf = ca.issue_client(&id).unwrap();
        assert_eq!(
            identity_of(&leaf.cert_chain[0]).as_deref(),
            Some(id.as_str())
        );
        verify(
            ca.cert_der(),
            &leaf.cert_chain[0],
            KeyUsage::client_auth(),
            SystemTime::now(),
        )
        .unwrap();
        assert!(
            verify(
                ca.cert_der(),
                &leaf.cert_chain[0],
                KeyUsage::server_auth(),
                SystemTime::now()
            )
            .is_err()
        );

        let server = ca.issue_server(&["a.example.com".to_owned()]).unwrap();
        assert_eq!(identity_of(&server.cert_chain[0]), None);
        assert_eq!(identity_of(&CertificateDer::from(vec![0x30, 0x00])), None);
    }

    #[test]
    fn client_certificate_with_window_has_exactly_that_window() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::load_or_create(dir.path()).unwrap();
        let not_before = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
        let not_after = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_086_400);
        let leaf = ca
            .issue_client_with("spiffe://airlock.local/test", not_before, not_after)
            .unwrap();
        let (_, parsed) = x509_parser::parse_x509_certificate(leaf.cert_chain[0].as_ref()).unwrap();
        assert_eq!(parsed.validity().not_before.timestamp(), 1_600_000_000);
        assert_eq!(parsed.validity().not_after.timestamp(), 1_600_086_400);
        assert!(matches!(
            verify(
                ca.cert_der(),
                &leaf.cert_chain[0],
                KeyUsage::client_auth(),
                SystemTime::now()
            ),
            Err(webpki::Error::CertExpired { .. })
        ));
        // Inside its window the same certificate is fine.
        verify(
            ca.cert_der(),
            &leaf.cert_chain[0],
            KeyUsage::client_auth(),
            not_before + Duration::from_secs(60),
        )
        .unwrap();
    }

    #[test]
    fn leaf_pem_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::load_or_create(dir.path()).unwrap();
        let leaf = ca.issue_server(&["a.example.com".to_owned()]).unwrap();
        let certs: Vec<_> = CertificateDer::pem_slice_iter(leaf.cert_pem().as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(certs, leaf.cert_chain);
        let key = PrivateKeyDer::from_pem_slice(leaf.key_pem().as_bytes()).unwrap();
        assert_eq!(key.secret_der(), leaf.key.secret_der());
        let cloned = leaf.clone();
        assert_eq!(cloned.key.secret_der(), leaf.key.secret_der());
    }

    #[test]
    fn missing_certificate_is_reissued_for_the_existing_key() {
        let dir = tempfile::tempdir().unwrap();
        let first = Ca::load_or_create(dir.path()).unwrap();
        std::fs::remove_file(dir.path().join("ca.pem")).unwrap();
        let second = Ca::load_or_create(dir.path()).unwrap();
        let spki = |der: &CertificateDer<'_>| {
            let (_, p) = x509_parser::parse_x509_certificate(der.as_ref()).unwrap();
            p.public_key().raw.to_vec()
        };
        assert_eq!(spki(first.cert_der()), spki(second.cert_der()));
        assert!(dir.path().join("ca.pem").exists());
    }

    #[test]
    fn certificate_without_its_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        Ca::load_or_create(dir.path()).unwrap();
        std::fs::remove_file(dir.path().join("ca-key.pem")).unwrap();
        let err = Ca::load_or_create(dir.path()).unwrap_err();
        assert!(matches!(err, PkiError::MissingCaKey { .. }), "{err}");
        assert!(err.to_string().contains("delete"), "{err}");
    }

    #[test]
    fn certificate_of_another_ca_is_refused() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        Ca::load_or_create(a.path()).unwrap();
        Ca::load_or_create(b.path()).unwrap();
        std::fs::copy(a.path().join("ca.pem"), b.path().join("ca.pem")).unwrap();
        let err = Ca::load_or_create(b.path()).unwrap_err();
        assert!(matches!(err, PkiError::Corrupt { .. }), "{err}");

        std::fs::write(a.path().join("ca-key.pem"), "garbage").unwrap();
        let err = Ca::load_or_create(a.path()).unwrap_err();
        assert!(matches!(err, PkiError::Corrupt { .. }), "{err}");
    }
}
