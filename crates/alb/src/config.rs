//! The plain configuration of one load balancer, and its check before anything binds.

pub use crate::action::{Action, Redirect, WeightedForward};
pub use crate::protocol::Protocol;
use crate::rules::Rule;
use crate::target_group::Stickiness;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// One Application Load Balancer: its name, DNS name, listeners and attributes.
#[derive(Debug, Clone)]
pub struct AlbConfig {
    /// The load balancer's name, e.g. `pets-alb`.
    pub name: String,
    /// Its DNS name; HTTP/1.0 requests without `Host` are forwarded with this host (docs/aws-rules.md §ALB-2.1).
    pub dns_name: String,
    /// The listeners, one per port.
    pub listeners: Vec<ListenerConfig>,
    /// Load balancer attributes (docs/aws-rules.md §ALB-1.2) and emulator timeouts.
    pub attributes: AlbAttributes,
}

/// Load balancer attributes (docs/aws-rules.md §ALB-1.2) and the fixed timers of docs/aws-rules.md §ALB-2.3, with AWS's defaults.
#[derive(Debug, Clone)]
pub struct AlbAttributes {
    /// `idle_timeout.timeout_seconds`: a target that sends nothing for this long gets a 504 (docs/aws-rules.md §ALB-2.3).
    pub idle_timeout: Duration,
    /// `routing.http.xff_header_processing.mode` (docs/aws-rules.md §ALB-2.2).
    pub xff_mode: XffMode,
    /// `routing.http.xff_client_port.enabled`: append `ip:port` instead of `ip` (docs/aws-rules.md §ALB-2.2).
    pub xff_client_port: bool,
    /// `routing.http.preserve_host_header.enabled` (docs/aws-rules.md §ALB-2.2).
    pub preserve_host_header: bool,
    /// TCP connect timeout to targets; fixed at 10 s in AWS (docs/aws-rules.md §ALB-2.3), settable so tests run fast.
    pub target_connect_timeout: Duration,
    /// TLS handshake timeout for clients of HTTPS listeners (10 s).
    pub tls_handshake_timeout: Duration,
    /// `routing.http.desync_mitigation_mode` (docs/aws-rules.md §ALB-2.4), default `defensive`.
    pub desync_mitigation_mode: DesyncMode,
    /// Where access-log lines go (one per request, the ALB access-log format), standing in for
    /// `access_logs.s3.*`; `None` (the default) writes none.
    pub access_log: Option<PathBuf>,
    /// When the access log rotates and how many files it keeps, standing in for AWS's delivery
    /// of the log in bounded S3 objects.
    pub access_log_rotation: airlock_net::logfile::Rotation,
    /// Where each request's trace goes (an emulator setting; off by default).
    pub tracer: airlock_net::trace::Tracer,
}

impl Default for AlbAttributes {
    fn default() -> Self {
        AlbAttributes {
            idle_timeout: Duration::from_secs(60),
            xff_mode: XffMode::Append,
            xff_client_port: false,
            preserve_host_header: false,
            target_connect_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(10),
            desync_mitigation_mode: DesyncMode::Defensive,
            access_log: None,
            access_log_rotation: airlock_net::logfile::Rotation::default(),
            tracer: airlock_net::trace::Tracer::default(),
        }
    }
}

/// `routing.http.desync_mitigation_mode` (docs/aws-rules.md §ALB-2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DesyncMode {
    /// Allow everything; only classify.
    Monitor,
    /// Block severe requests; close after ambiguous ones (the default).
    #[default]
    Defensive,
    /// Block everything that is not compliant.
    Strictest,
}

/// How `X-Forwarded-For` is processed (docs/aws-rules.md §ALB-2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum XffMode {
    /// Append the client address (the default).
    #[default]
    Append,
    /// Pass the header unchanged; do not create it.
    Preserve,
    /// Strip the header.
    Remove,
}

/// One listener (docs/aws-rules.md §ALB-1.3).
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// HTTP or HTTPS.
    pub protocol: Protocol,
    /// The port clients connect to (1–65535).
    pub port: u16,
    /// HTTPS only: the default certificate first, then the SNI certificate list.
    pub certificates: Vec<ListenerCertificate>,
    /// Rules in any order; they are evaluated by ascending priority (docs/aws-rules.md §ALB-1.4).
    pub rules: Vec<Rule>,
    /// The default rule's action, evaluated last.
    pub default_action: Action,
}

/// A certificate chain (leaf first) and its private key.
pub struct ListenerCertificate {
    /// The chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
}

impl Clone for ListenerCertificate {
    fn clone(&self) -> Self {
        ListenerCertificate {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl fmt::Debug for ListenerCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListenerCertificate")
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}

/// Why a load balancer configuration was refused before serving.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// An HTTPS listener was given no certificate.
    #[error("HTTPS listener on port {0} needs a default certificate")]
    NoCertificate(u16),
    /// An HTTP listener was given certificates.
    #[error("HTTP listener on port {0} cannot have certificates")]
    CertificateOnHttp(u16),
    /// A certificate chain is empty or its key does not load or match.
    #[error("certificate {index} of the listener on port {port}: {reason}")]
    BadCertificate {
        /// The listener port.
        port: u16,
        /// Position in the listener's certificate list.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// Building the TLS configuration failed.
    #[error("TLS setup of the listener on port {port}: {source}")]
    Tls {
        /// The listener port.
        port: u16,
        /// The rustls error.
        source: rustls::Error,
    },
    /// Two rules of one listener share a priority.
    #[error(
        "two rules of the listener on port {port} have priority {priority}; priorities must be unique"
    )]
    DuplicatePriority {
        /// The listener port.
        port: u16,
        /// The repeated priority.
        priority: u16,
    },
    /// Two listeners of one load balancer share a port.
    #[error("two listeners use port {0}; each listener needs its own port")]
    DuplicatePort(u16),
    /// Port 0 is not a listener port.
    #[error("listener port must be 1-65535")]
    BadPort,
    /// An action breaks a documented limit.
    #[error("{0}")]
    Action(String),
}

pub(crate) fn check_action(action: &Action, listener: Protocol) -> Result<(), ConfigError> {
    match action {
        Action::Forward(_) => Ok(()),
        Action::WeightedForward(w) => check_weighted(w),
        Action::FixedResponse {
            status,
            content_type,
            body,
        } => {
            let s = status.as_u16();
            if !matches!(s / 100, 2 | 4 | 5) {
                return Err(ConfigError::Action(format!(
                    "fixed-response status {s} must be 2XX, 4XX or 5XX"
                )));
            }
            if let Some(ct) = content_type
                && !FIXED_CONTENT_TYPES.contains(&ct.as_str())
            {
                return Err(ConfigError::Action(format!(
                    "fixed-response content type {ct:?} must be one of {FIXED_CONTENT_TYPES:?}"
                )));
            }
            if body.chars().count() > 1024 {
                return Err(ConfigError::Action(
                    "fixed-response body is longer than 1024 characters".to_owned(),
                ));
            }
            Ok(())
        }
        Action::Redirect(r) => {
            if let Some(p) = &r.protocol {
                if !matches!(p.as_str(), "HTTP" | "HTTPS" | "#{protocol}") {
                    return Err(ConfigError::Action(format!(
                        "redirect protocol {p:?} must be HTTP, HTTPS or #{{protocol}}"
                    )));
                }
                if listener == Protocol::Https && p == "HTTP" {
                    return Err(ConfigError::Action(
                        "a redirect from HTTPS to HTTP is not allowed".to_owned(),
                    ));
                }
            }
            if let Some(port) = &r.port
                && port != "#{port}"
                && !port.parse::<u16>().is_ok_and(|p| p > 0)
            {
                return Err(ConfigError::Action(format!(
                    "redirect port {port:?} must be 1-65535 or #{{port}}"
                )));
            }
            if let Some(path) = &r.path
                && (!path.starts_with('/') || path.len() > 128)
            {
                return Err(ConfigError::Action(format!(
                    "redirect path {path:?} must start with / and be at most 128 characters"
                )));
            }
            if let Some(q) = &r.query
                && (q.starts_with('?') || q.len() > 128)
            {
                return Err(ConfigError::Action(format!(
                    "redirect query {q:?} must not start with ? and be at most 128 characters"
                )));
            }
            if let Some(h) = &r.host
                && (h.is_empty() || h.len() > 128)
            {
                return Err(ConfigError::Action(
                    "redirect host must be 1-128 characters".to_owned(),
                ));
            }
            let all_default = [&r.protocol, &r.host, &r.port, &r.path].iter().all(|p| {
                p.as_deref()
                    .is_none_or(|v| matches!(v, "#{protocol}" | "#{host}" | "#{port}" | "/#{path}"))
            });
            if all_default {
                return Err(ConfigError::Action(
                    "a redirect must change at least one of protocol, host, port or path (it would loop)"
                        .to_owned(),
                ));
            }
            Ok(())
        }
    }
}

fn check_weighted(w: &WeightedForward) -> Result<(), ConfigError> {
    if w.groups.is_empty() || w.groups.len() > 5 {
        return Err(ConfigError::Action(
            "a forward action takes 1 to 5 target groups".to_owned(),
        ));
    }
    if let Some((g, weight)) = w.groups.iter().find(|(_, weight)| *weight > 999) {
        return Err(ConfigError::Action(format!(
            "target group {} has weight {weight}; weights are 0-999",
            g.name()
        )));
    }
    if let Some(d) = w.stickiness
        && (d.is_zero() || d > Duration::from_secs(604_800))
    {
        return Err(ConfigError::Action(
            "group stickiness duration must be 1-604800 seconds".to_owned(),
        ));
    }
    if w.groups.len() > 1 {
        for (g, _) in &w.groups {
            match &g.config().stickiness {
                Some(Stickiness::AppCookie { .. }) => {
                    return Err(ConfigError::Action(format!(
                        "target group {} uses app_cookie stickiness, which weighted forwards do not support",
                        g.name()
                    )));
                }
                Some(Stickiness::LbCookie { .. }) if w.stickiness.is_none() => {
                    return Err(ConfigError::Action(format!(
                        "target group {} has target stickiness: a forward to several groups then needs group stickiness",
                        g.name()
                    )));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

const FIXED_CONTENT_TYPES: [&str; 5] = [
    "text/plain",
    "text/css",
    "text/html",
    "application/javascript",
    "application/json",
];
