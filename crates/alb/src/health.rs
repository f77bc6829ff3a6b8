//! Target health checks (docs/aws-rules.md §ALB-3.2–§ALB-3.3): the settings, the probe that sends the request of docs/aws-rules.md §ALB-3.2
//! through the emulated network, and the pure state machine fed by probe outcomes.

use crate::protocol::Protocol;
use airlock_net::{Interface, Network, Origin};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A target group's health check (docs/aws-rules.md §ALB-3.2), with AWS's defaults from [`HealthCheck::default`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// `HealthCheckProtocol`: HTTP (default) or HTTPS; the method is always GET.
    pub protocol: Protocol,
    /// `HealthCheckPath`: path and optional query, default `/`.
    pub path: String,
    /// `HealthCheckPort`: `None` is `traffic-port` (each target's own port), the default.
    pub port: Option<u16>,
    /// `HealthCheckIntervalSeconds`, default 30 s.
    pub interval: Duration,
    /// `HealthCheckTimeoutSeconds`, default 5 s (docs/aws-rules.md §ALB-3.2: the ALB guide's value).
    pub timeout: Duration,
    /// `HealthyThresholdCount`: consecutive successes taking `unhealthy` to `healthy`, default 5.
    pub healthy_threshold: u32,
    /// `UnhealthyThresholdCount`: consecutive failures taking a target to `unhealthy`, default 2.
    pub unhealthy_threshold: u32,
    /// Consecutive successes taking a new (`initial`) target to `healthy`. The ALB guide says
    /// one (the default); the API text suggests more (docs/aws-rules.md §ALB-3.2, **unconfirmed**).
    pub initial_healthy_threshold: u32,
    /// `Matcher.HttpCode`: the healthy status codes, default `200`.
    pub matcher: Matcher,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            protocol: Protocol::Http,
            path: "/".to_owned(),
            port: None,
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            healthy_threshold: 5,
            unhealthy_threshold: 2,
            initial_healthy_threshold: 1,
            matcher: Matcher::default(),
        }
    }
}

/// The status codes a health check accepts: a list of codes and ranges such as `200,202-299`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher(Vec<RangeInclusive<u16>>);

impl Matcher {
    /// Parses `200`, `200,202`, `200-299` or a mix (docs/aws-rules.md §ALB-3.2; the mix is **unconfirmed** in AWS).
    /// Codes must be 200–499.
    pub fn parse(text: &str) -> Result<Matcher, MatcherError> {
        let bad = || MatcherError(text.to_owned());
        let code = |t: &str| {
            t.trim()
                .parse::<u16>()
                .ok()
                .filter(|c| (200..=499).contains(c))
                .ok_or_else(bad)
        };
        let mut ranges = Vec::new();
        for part in text.split(',') {
            let range = match part.split_once('-') {
                Some((lo, hi)) => code(lo)?..=code(hi)?,
                None => {
                    let c = code(part)?;
                    c..=c
                }
            };
            if range.is_empty() {
                return Err(bad());
            }
            ranges.push(range);
        }
        Ok(Matcher(ranges))
    }

    /// Whether `status` counts as a success.
    pub fn matches(&self, status: u16) -> bool {
        self.0.iter().any(|r| r.contains(&status))
    }
}

impl Default for Matcher {
    fn default() -> Self {
        Matcher(vec![200..=200])
    }
}

/// A matcher text that is not a list or range of codes 200–499.
#[derive(Debug, thiserror::Error)]
#[error("health check matcher {0:?} must be codes 200-499, as a list (200,202) or range (200-299)")]
pub struct MatcherError(String);

/// The outcome of one health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The status matched.
    Pass,
    /// A status outside the matcher (`Target.ResponseCodeMismatch`).
    CodeMismatch(u16),
    /// No response within the timeout (`Target.Timeout`).
    Timeout,
    /// Refused, reset, or not an HTTP response (`Target.FailedHealthChecks`).
    Failed,
}

/// A target's state (docs/aws-rules.md §ALB-3.3, the `TargetHealth.State` enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetState {
    /// Registered; the first checks are running.
    Initial,
    /// Passing its health checks.
    Healthy,
    /// Failing its health checks.
    Unhealthy,
    /// Not eligible: the group is not used by any rule, or the target left.
    Unused,
    /// Deregistered; in-flight requests may finish until the delay ends (docs/aws-rules.md §ALB-3.7).
    Draining,
    /// Health checks are disabled; the target is routed to.
    Unavailable,
}

impl TargetState {
    /// The API spelling: `initial`, `healthy`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            TargetState::Initial => "initial",
            TargetState::Healthy => "healthy",
            TargetState::Unhealthy => "unhealthy",
            TargetState::Unused => "unused",
            TargetState::Draining => "draining",
            TargetState::Unavailable => "unavailable",
        }
    }
}

impl fmt::Display for TargetState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a target is not healthy (docs/aws-rules.md §ALB-3.3, `TargetHealth.Reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// `Elb.RegistrationInProgress`.
    RegistrationInProgress,
    /// `Elb.InitialHealthChecking`.
    InitialHealthChecking,
    /// `Target.ResponseCodeMismatch`.
    ResponseCodeMismatch,
    /// `Target.Timeout`.
    Timeout,
    /// `Target.FailedHealthChecks`.
    FailedHealthChecks,
    /// `Target.NotInUse`.
    NotInUse,
    /// `Target.DeregistrationInProgress`.
    DeregistrationInProgress,
    /// `Target.HealthCheckDisabled`.
    HealthCheckDisabled,
}

impl Reason {
    /// The API reason code, e.g. `Target.Timeout`.
    pub fn code(self) -> &'static str {
        match self {
            Reason::RegistrationInProgress => "Elb.RegistrationInProgress",
            Reason::InitialHealthChecking => "Elb.InitialHealthChecking",
            Reason::ResponseCodeMismatch => "Target.ResponseCodeMismatch",
            Reason::Timeout => "Target.Timeout",
            Reason::FailedHealthChecks => "Target.FailedHealthChecks",
            Reason::NotInUse => "Target.NotInUse",
            Reason::DeregistrationInProgress => "Target.DeregistrationInProgress",
            Reason::HealthCheckDisabled => "Target.HealthCheckDisabled",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One target's health as `DescribeTargetHealth` shows it (docs/aws-rules.md §ALB-3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHealth {
    /// The target's private `ip:port`.
    pub target: SocketAddr,
    /// The port health checks go to.
    pub health_check_port: u16,
    /// The state.
    pub state: TargetState,
    /// The reason, absent when healthy.
    pub reason: Option<Reason>,
    /// The human description, absent when healthy.
    pub description: Option<String>,
}

/// Consecutive-result counters and the state they drive (docs/aws-rules.md §ALB-3.2 "State transition arithmetic").
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Machine {
    pub(crate) state: TargetState,
    pub(crate) reason: Option<Reason>,
    pub(crate) description: Option<String>,
    passes: u32,
    failures: u32,
}

impl Machine {
    /// A target whose checks are about to start.
    pub(crate) fn initial() -> Machine {
        Machine::at(TargetState::Initial, Some(Reason::InitialHealthChecking))
    }

    pub(crate) fn at(state: TargetState, reason: Option<Reason>) -> Machine {
        Machine {
            state,
            reason,
            description: reason.map(|r| describe(r, None)),
            passes: 0,
            failures: 0,
        }
    }

    /// Applies one outcome; returns whether the state (or its reason) changed.
    pub(crate) fn record(&mut self, outcome: &Outcome, hc: &HealthCheck) -> bool {
        let before = (self.state, self.reason, self.description.clone());
        match outcome {
            Outcome::Pass => {
                self.passes = self.passes.saturating_add(1);
                self.failures = 0;
                let needed = match self.state {
                    TargetState::Initial => hc.initial_healthy_threshold,
                    TargetState::Unhealthy => hc.healthy_threshold,
                    _ => 1,
                };
                if matches!(self.state, TargetState::Initial | TargetState::Unhealthy)
                    && self.passes >= needed
                {
                    self.state = TargetState::Healthy;
                    self.reason = None;
                    self.description = None;
                }
            }
            failure => {
                self.failures = self.failures.saturating_add(1);
                self.passes = 0;
                let (reason, code) = match failure {
                    Outcome::CodeMismatch(c) => (Reason::ResponseCodeMismatch, Some(*c)),
                    Outcome::Timeout => (Reason::Timeout, None),
                    _ => (Reason::FailedHealthChecks, None),
                };
                let failing = self.state == TargetState::Unhealthy
                    || (matches!(self.state, TargetState::Initial | TargetState::Healthy)
                        && self.failures >= hc.unhealthy_threshold);
                if failing {
                    self.state = TargetState::Unhealthy;
                    self.reason = Some(reason);
                    self.description = Some(describe(reason, code));
                }
            }
        }
        before != (self.state, self.reason, self.description.clone())
    }
}

/// `DescribeTargetHealth`'s descriptions (wording as AWS prints them, observed).
pub(crate) fn describe(reason: Reason, code: Option<u16>) -> String {
    match (reason, code) {
        (Reason::ResponseCodeMismatch, Some(c)) => {
            format!("Health checks failed with these codes: [{c}]")
        }
        (Reason::RegistrationInProgress, _) => "Target registration is in progress".to_owned(),
        (Reason::InitialHealthChecking, _) => "Initial health checks in progress".to_owned(),
        (Reason::ResponseCodeMismatch, None) => "Health checks failed".to_owned(),
        (Reason::Timeout, _) => "Request timed out".to_owned(),
        (Reason::FailedHealthChecks, _) => "Health checks failed".to_owned(),
        (Reason::NotInUse, _) => {
            "Target group is not configured to receive traffic from the load balancer".to_owned()
        }
        (Reason::DeregistrationInProgress, _) => "Target deregistration is in progress".to_owned(),
        (Reason::HealthCheckDisabled, _) => "Health checks are disabled".to_owned(),
    }
}

/// Runs one health check against a target; boxed so tests can script outcomes.
pub(crate) type Probe =
    Arc<dyn Fn(SocketAddr) -> Pin<Box<dyn Future<Output = Outcome> + Send>> + Send + Sync>;

/// The real probe: from `node`, through the emulated network, the request of docs/aws-rules.md §ALB-3.2.
pub(crate) fn network_probe(network: Network, node: Interface, hc: HealthCheck) -> Probe {
    let https = hc.protocol == Protocol::Https;
    let tls = if https { insecure_client() } else { None };
    let hc = Arc::new(hc);
    Arc::new(move |target: SocketAddr| {
        let (network, node, hc, tls) = (network.clone(), node.clone(), hc.clone(), tls.clone());
        Box::pin(async move {
            let to = SocketAddr::new(target.ip(), hc.port.unwrap_or(target.port()));
            // A dropped dial never completes: the check's timeout covers it.
            if https && tls.is_none() {
                return Outcome::Failed;
            }
            match tokio::time::timeout(hc.timeout, check_once(&network, node, to, &hc, tls)).await {
                Ok(outcome) => outcome,
                Err(_) => Outcome::Timeout,
            }
        })
    })
}

async fn check_once(
    network: &Network,
    node: Interface,
    to: SocketAddr,
    hc: &HealthCheck,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Outcome {
    let Ok(stream) = network.dial(&Origin::Interface(node), to).await else {
        return Outcome::Failed;
    };
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: ELB-HealthChecker/2.0\r\n\r\n",
        hc.path,
        to.ip(),
        to.port()
    );
    let status = match tls {
        None => exchange(stream, request.as_bytes()).await,
        Some(config) => {
            let connector = tokio_rustls::TlsConnector::from(config);
            let name = ServerName::IpAddress(to.ip().into());
            match connector.connect(name, stream).await {
                Ok(s) => exchange(s, request.as_bytes()).await,
                Err(_) => None,
            }
        }
    };
    match status {
        Some(s) if hc.matcher.matches(s) => Outcome::Pass,
        Some(s) => Outcome::CodeMismatch(s),
        None => Outcome::Failed,
    }
}

/// Writes the request and reads the status line; the connection is closed after every check.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, request: &[u8]) -> Option<u16> {
    s.write_all(request).await.ok()?;
    let mut line = Vec::with_capacity(64);
    let mut buf = [0u8; 256];
    while !line.contains(&b'\n') {
        let n = s.read(&mut buf).await.ok()?;
        if n == 0 || line.len() > 8 * 1024 {
            return None;
        }
        line.extend_from_slice(&buf[..n]);
    }
    let text = std::str::from_utf8(&line[..line.iter().position(|b| *b == b'\n')?]).ok()?;
    let mut parts = text.split(' ');
    let version = parts.next()?;
    if !matches!(version, "HTTP/1.1" | "HTTP/1.0") {
        return None;
    }
    parts
        .next()?
        .parse::<u16>()
        .ok()
        .filter(|c| (100..=599).contains(c))
}

/// docs/aws-rules.md §ALB-1.3: the ALB does not validate target certificates (self-signed or expired are fine).
/// `None` only if the ring provider refuses its own default versions (it does not).
fn insecure_client() -> Option<Arc<rustls::ClientConfig>> {
    let provider = airlock_pki::crypto_provider();
    let schemes = provider
        .signature_verification_algorithms
        .supported_schemes();
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .ok()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny { provider, schemes }))
        .with_no_client_auth();
    Some(Arc::new(config))
}

#[derive(Debug)]
struct AcceptAny {
    provider: Arc<rustls::crypto::CryptoProvider>,
    schemes: Vec<SignatureScheme>,
}

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hc() -> HealthCheck {
        HealthCheck {
            healthy_threshold: 3,
            unhealthy_threshold: 2,
            ..HealthCheck::default()
        }
    }

    #[test]
    fn matcher_lists_and_ranges_of_alb_3_2() {
        let m = Matcher::parse("200,202-204, 302").expect("valid");
        for (code, ok) in [
            (200, true),
            (201, false),
            (203, true),
            (302, true),
            (404, false),
        ] {
            assert_eq!(m.matches(code), ok, "{code}");
        }
        for bad in ["", "199", "500", "300-200", "2xx", "200-"] {
            assert!(Matcher::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn state_machine_of_alb_3_2() {
        let hc = hc();
        // initial → healthy after one pass (the ALB guide).
        let mut m = Machine::initial();
        assert!(m.record(&Outcome::Pass, &hc));
        assert_eq!(m.state, TargetState::Healthy);
        assert_eq!(m.reason, None);
        // healthy → unhealthy after `unhealthy_threshold` consecutive failures; a pass resets.
        assert!(!m.record(&Outcome::Timeout, &hc));
        assert!(!m.record(&Outcome::Pass, &hc));
        assert!(!m.record(&Outcome::Timeout, &hc));
        assert!(m.record(&Outcome::CodeMismatch(503), &hc));
        assert_eq!(m.state, TargetState::Unhealthy);
        assert_eq!(m.reason, Some(Reason::ResponseCodeMismatch));
        assert_eq!(
            m.description.as_deref(),
            Some("Health checks failed with these codes: [503]")
        );
        // the reason follows the latest failure while unhealthy.
        assert!(m.record(&Outcome::Timeout, &hc));
        assert_eq!(m.reason, Some(Reason::Timeout));
        // unhealthy → healthy after `healthy_threshold` consecutive passes.
        assert!(!m.record(&Outcome::Pass, &hc));
        assert!(!m.record(&Outcome::Pass, &hc));
        assert!(m.record(&Outcome::Pass, &hc));
        assert_eq!(m.state, TargetState::Healthy);
        // initial → unhealthy after `unhealthy_threshold` failures.
        let mut m = Machine::initial();
        assert!(!m.record(&Outcome::Failed, &hc));
        assert!(m.record(&Outcome::Failed, &hc));
        assert_eq!(
            (m.state, m.reason),
            (TargetState::Unhealthy, Some(Reason::FailedHealthChecks))
        );
    }
}
