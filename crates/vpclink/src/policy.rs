//! Who may use the link and where a tunnel may go: pure decisions, tested without sockets.

use std::io;
use std::net::{SocketAddr, SocketAddrV4};

use http::{StatusCode, Uri};
use ipnet::Ipv4Net;
use rustls::CertificateError;

/// Why the endpoint refused a connection. Each refusal is logged at warn level with the peer's
/// address, and nothing of the connection is forwarded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The client's first bytes were not a TLS record: plain TCP, or another protocol.
    #[error("the client did not speak TLS ({0})")]
    NotTls(String),
    /// The client completed TLS without presenting a certificate; the link requires one.
    #[error("the client presented no certificate")]
    NoClientCertificate,
    /// The client's certificate does not chain to airlock's CA.
    #[error("the client certificate is not issued by airlock's CA ({0})")]
    UntrustedCertificate(String),
    /// The client's certificate is past its validity period.
    #[error("the client certificate has expired")]
    ExpiredCertificate,
    /// The client's certificate was rejected for another reason (not yet valid, wrong key usage).
    #[error("the client certificate was rejected: {0}")]
    InvalidCertificate(String),
    /// The certificate is valid but carries no identity (no URI subject alternative name).
    #[error("the client certificate carries no identity (no URI SAN)")]
    NoIdentity,
    /// The certificate is valid but names someone other than this link's API Gateway.
    #[error(
        "the client certificate names {presented:?}, not the API Gateway identity of this link"
    )]
    WrongIdentity {
        /// The identity the certificate carries.
        presented: String,
    },
    /// The client did not finish the TLS handshake in time.
    #[error("the TLS handshake did not finish in time")]
    HandshakeTimeout,
    /// The TLS handshake failed for another reason (closed mid-way, no common parameters).
    #[error("the TLS handshake failed: {0}")]
    HandshakeFailed(String),
}

/// Whether a client that proved `identity` (the first URI SAN of a certificate that already
/// chains to airlock's CA) may use the link whose API Gateway identity is `expected`.
///
/// This is the whole of "only the gateway may connect": anything the CA issued to someone else,
/// such as a task's certificate, is refused here.
pub fn authorize(identity: Option<&str>, expected: &str) -> Result<(), Refusal> {
    match identity {
        Some(presented) if presented == expected => Ok(()),
        Some(presented) => Err(Refusal::WrongIdentity {
            presented: presented.to_owned(),
        }),
        None => Err(Refusal::NoIdentity),
    }
}

/// Names why a server-side TLS handshake failed, from the error tokio-rustls returned.
pub(crate) fn classify_handshake_error(err: &io::Error) -> Refusal {
    let Some(tls) = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return Refusal::HandshakeFailed(err.to_string());
    };
    match tls {
        rustls::Error::InvalidMessage(m) => Refusal::NotTls(format!("{m:?}")),
        rustls::Error::NoCertificatesPresented => Refusal::NoClientCertificate,
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                Refusal::ExpiredCertificate
            }
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                Refusal::UntrustedCertificate(format!("{cert:?}"))
            }
            other => Refusal::InvalidCertificate(format!("{other:?}")),
        },
        other => Refusal::HandshakeFailed(other.to_string()),
    }
}

/// Why the endpoint did not open a tunnel. The endpoint answers the `CONNECT` with
/// [`TunnelError::status`] and names the cause in the
/// [`LINK_ERROR_HEADER`](crate::LINK_ERROR_HEADER) header as [`TunnelError::code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TunnelError {
    /// The request was not a `CONNECT` (405).
    MethodNotAllowed,
    /// The `CONNECT` authority is not an `ip:port` (400).
    BadDestination,
    /// The destination is not inside the VPC; the link only reaches the VPC (403).
    OutsideVpc,
    /// The link is not `AVAILABLE` (503).
    LinkNotAvailable,
    /// The link has no network interface to send from (503).
    NoInterfaces,
    /// The destination did not answer within the connect timeout: a security group dropped the
    /// connection, or nothing has that address (504).
    ConnectTimeout,
    /// The destination admits the traffic but nothing listens on the port (502).
    ConnectionRefused,
    /// Connecting to the destination failed otherwise (502).
    ConnectFailed,
}

impl TunnelError {
    /// Every cause, for parsing codes back.
    const ALL: [TunnelError; 8] = [
        TunnelError::MethodNotAllowed,
        TunnelError::BadDestination,
        TunnelError::OutsideVpc,
        TunnelError::LinkNotAvailable,
        TunnelError::NoInterfaces,
        TunnelError::ConnectTimeout,
        TunnelError::ConnectionRefused,
        TunnelError::ConnectFailed,
    ];

    /// The status the endpoint answers with.
    pub fn status(self) -> StatusCode {
        match self {
            TunnelError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            TunnelError::BadDestination => StatusCode::BAD_REQUEST,
            TunnelError::OutsideVpc => StatusCode::FORBIDDEN,
            TunnelError::LinkNotAvailable | TunnelError::NoInterfaces => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            TunnelError::ConnectTimeout => StatusCode::GATEWAY_TIMEOUT,
            TunnelError::ConnectionRefused | TunnelError::ConnectFailed => StatusCode::BAD_GATEWAY,
        }
    }

    /// The stable token carried in the [`LINK_ERROR_HEADER`](crate::LINK_ERROR_HEADER) header.
    pub fn code(self) -> &'static str {
        match self {
            TunnelError::MethodNotAllowed => "method-not-allowed",
            TunnelError::BadDestination => "bad-destination",
            TunnelError::OutsideVpc => "outside-vpc",
            TunnelError::LinkNotAvailable => "link-not-available",
            TunnelError::NoInterfaces => "no-interfaces",
            TunnelError::ConnectTimeout => "connect-timeout",
            TunnelError::ConnectionRefused => "connection-refused",
            TunnelError::ConnectFailed => "connect-failed",
        }
    }

    /// The cause named by a [`TunnelError::code`] token.
    pub fn from_code(code: &str) -> Option<TunnelError> {
        TunnelError::ALL.into_iter().find(|e| e.code() == code)
    }
}

/// Parses a `CONNECT` target into a destination the link may reach: an IPv4 `ip:port` inside
/// the VPC's CIDR. Names are not resolved here: the gateway resolves them with the VPC's view.
pub(crate) fn parse_destination(uri: &Uri, vpc: Ipv4Net) -> Result<SocketAddrV4, TunnelError> {
    let authority = uri.authority().ok_or(TunnelError::BadDestination)?;
    let addr: SocketAddr = authority
        .as_str()
        .parse()
        .map_err(|_| TunnelError::BadDestination)?;
    match addr {
        SocketAddr::V4(v4) if vpc.contains(v4.ip()) => Ok(v4),
        // The emulated VPC is IPv4 only, so every IPv6 address is outside it.
        _ => Err(TunnelError::OutsideVpc),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const GATEWAY: &str =
        "spiffe://airlock.local/account/000000000000/apigateway/vpclink/pets-link";

    #[test]
    fn only_the_links_gateway_identity_is_admitted() {
        assert_eq!(authorize(Some(GATEWAY), GATEWAY), Ok(()));
    }

    #[test]
    fn another_identity_from_the_same_ca_is_refused() {
        let task = "spiffe://airlock.local/account/000000000000/ecs/task/pets-1";
        assert_eq!(
            authorize(Some(task), GATEWAY),
            Err(Refusal::WrongIdentity {
                presented: task.to_owned()
            })
        );
    }

    #[test]
    fn the_gateway_identity_of_another_link_or_account_is_refused() {
        let other_link = GATEWAY.replace("pets-link", "other-link");
        let other_account = GATEWAY.replace("000000000000", "111111111111");
        assert!(authorize(Some(&other_link), GATEWAY).is_err());
        assert!(authorize(Some(&other_account), GATEWAY).is_err());
        // A prefix is not the identity.
        assert!(authorize(Some(&GATEWAY[..GATEWAY.len() - 1]), GATEWAY).is_err());
    }

    #[test]
    fn a_certificate_without_identity_is_refused() {
        assert_eq!(authorize(None, GATEWAY), Err(Refusal::NoIdentity));
    }

    fn tls_error(e: rustls::Error) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }

    #[test]
    fn handshake_errors_name_their_cause() {
        assert_eq!(
            classify_handshake_error(&tls_error(rustls::Error::NoCertificatesPresented)),
            Refusal::NoClientCertificate
        );
        assert_eq!(
            classify_handshake_error(&tls_error(rustls::Error::InvalidCertificate(
                CertificateError::Expired
            ))),
            Refusal::ExpiredCertificate
        );
        assert!(matches!(
            classify_handshake_error(&tls_error(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            ))),
            Refusal::UntrustedCertificate(_)
        ));
        assert!(matches!(
            classify_handshake_error(&tls_error(rustls::Error::InvalidMessage(
                rustls::InvalidMessage::InvalidContentType
            ))),
            Refusal::NotTls(_)
        ));
        assert!(matches!(
            classify_handshake_error(&io::Error::from(io::ErrorKind::UnexpectedEof)),
            Refusal::HandshakeFailed(_)
        ));
    }

    fn vpc() -> Ipv4Net {
        "10.0.0.0/16".parse().unwrap()
    }

    #[test]
    fn destinations_inside_the_vpc_parse() {
        let uri: Uri = "10.0.100.7:443".parse().unwrap();
        assert_eq!(
            parse_destination(&uri, vpc()),
            Ok("10.0.100.7:443".parse().unwrap())
        );
    }

    #[test]
    fn destinations_outside_the_vpc_are_forbidden() {
        for target in [
            "10.1.0.5:443",
            "127.0.0.1:80",
            "198.51.100.1:443",
            "[::1]:443",
        ] {
            let uri: Uri = target.parse().unwrap();
            assert_eq!(
                parse_destination(&uri, vpc()),
                Err(TunnelError::OutsideVpc),
                "{target}"
            );
        }
    }

    #[test]
    fn names_and_portless_targets_are_bad_destinations() {
        for target in ["internal-pets-alb.example:443", "10.0.100.7", "/path"] {
            let uri: Uri = target.parse().unwrap();
            assert_eq!(
                parse_destination(&uri, vpc()),
                Err(TunnelError::BadDestination),
                "{target}"
            );
        }
    }

    #[test]
    fn codes_round_trip_and_statuses_match_the_brief() {
        for e in TunnelError::ALL {
            assert_eq!(TunnelError::from_code(e.code()), Some(e));
        }
        assert_eq!(TunnelError::OutsideVpc.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            TunnelError::LinkNotAvailable.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            TunnelError::ConnectTimeout.status(),
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(TunnelError::from_code("nonsense"), None);
    }
}
