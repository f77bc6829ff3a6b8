//! The internal Application Load Balancer: listeners (HTTP and HTTPS with SNI), listener rules,
//! actions, the request rewriting of docs/aws-rules.md §ALB-2, and the ALB's own error pages.
//!
//! A load balancer is described by a plain [`AlbConfig`]; [`AlbConfig::build`] checks it and
//! prepares each [`Listener`] once (TLS configuration, rules sorted by priority), and
//! [`serve_listener`] serves one listener on an already-bound socket. Target groups are live:
//! a [`TargetGroup`] reads the private `ip:port` set the task runner publishes on a
//! `tokio::sync::watch` channel, so registration changes apply to the next request. Groups
//! health-check their targets (docs/aws-rules.md §ALB-3.2) once a listener uses them, drain deregistered targets
//! (docs/aws-rules.md §ALB-3.7), and expose each target's health ([`TargetGroup::health`],
//! [`TargetGroup::watch_health`]).
//!
//! Architecture invariant: this crate knows HTTP, TLS, listener rules and target addresses. It
//! does NOT know about the API gateway, the VPC link, DNS, stack files or tasks. It reaches
//! targets only through `airlock_net::Network::dial`, from the node interface that accepted the
//! client connection.

mod access_log;
mod action;
mod config;
mod conn;
mod desync;
mod error_page;
mod h1io;
mod headers;
mod health;
mod protocol;
mod proxy;
mod rules;
mod serve;
mod sticky;
mod target_group;
mod tls;

pub use config::{
    Action, AlbAttributes, AlbConfig, ConfigError, DesyncMode, ListenerCertificate, ListenerConfig,
    Protocol, Redirect, WeightedForward, XffMode,
};
pub use error_page::{SERVER_HEADER, body as error_page_body, reason_phrase};
pub use h1io::{HeadVerdict, Screened, screen_http1};
pub use health::{HealthCheck, Matcher, MatcherError, Reason, TargetHealth, TargetState};
pub use rules::{Condition, RequestView, Rule, RuleError, RuleSet, first_match};
pub use serve::serve_listener;
pub use target_group::{Algorithm, Stickiness, TargetGroup, TargetGroupConfig};

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

/// A listener ready to serve: configuration checked, TLS built, rules sorted.
pub struct Listener {
    alb_name: String,
    dns_name: String,
    attributes: AlbAttributes,
    protocol: Protocol,
    port: u16,
    tls: Option<Arc<rustls::ServerConfig>>,
    rules: RuleSet,
    default_action: Action,
    /// `X-Forwarded-Port` for every request (docs/aws-rules.md §ALB-2.2): the listener's port, as a header value
    /// made once.
    forwarded_port: http::HeaderValue,
}

impl AlbConfig {
    /// Checks the configuration and prepares every listener, in order. Nothing binds.
    pub fn build(self) -> Result<Vec<Arc<Listener>>, ConfigError> {
        let mut ports = HashSet::new();
        let mut out = Vec::with_capacity(self.listeners.len());
        for l in self.listeners {
            if !ports.insert(l.port) {
                return Err(ConfigError::DuplicatePort(l.port));
            }
            out.push(Arc::new(Listener::new(
                &self.name,
                &self.dns_name,
                self.attributes.clone(),
                l,
            )?));
        }
        Ok(out)
    }
}

impl Listener {
    /// Prepares one listener of the load balancer `alb_name` (DNS name `dns_name`).
    pub fn new(
        alb_name: &str,
        dns_name: &str,
        attributes: AlbAttributes,
        config: ListenerConfig,
    ) -> Result<Listener, ConfigError> {
        let port = config.port;
        if port == 0 {
            return Err(ConfigError::BadPort);
        }
        let tls = match config.protocol {
            Protocol::Http if !config.certificates.is_empty() => {
                return Err(ConfigError::CertificateOnHttp(port));
            }
            Protocol::Http => None,
            Protocol::Https => Some(tls::server_config(port, &config.certificates)?),
        };
        let mut rules = config.rules;
        rules.sort_by_key(Rule::priority);
        if let Some(w) = rules
            .windows(2)
            .find(|w| w[0].priority() == w[1].priority())
        {
            return Err(ConfigError::DuplicatePriority {
                port,
                priority: w[0].priority(),
            });
        }
        for action in rules
            .iter()
            .map(Rule::action)
            .chain(std::iter::once(&config.default_action))
        {
            config::check_action(action, config.protocol)?;
        }
        Ok(Listener {
            alb_name: alb_name.to_owned(),
            dns_name: dns_name.to_owned(),
            attributes,
            protocol: config.protocol,
            port,
            tls,
            rules: RuleSet::new(rules),
            default_action: config.default_action,
            forwarded_port: http::HeaderValue::from(port),
        })
    }

    /// The load balancer's name.
    pub fn alb_name(&self) -> &str {
        &self.alb_name
    }

    /// The load balancer's DNS name.
    pub fn dns_name(&self) -> &str {
        &self.dns_name
    }

    /// The listener's protocol.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The load balancer attributes in force.
    pub fn attributes(&self) -> &AlbAttributes {
        &self.attributes
    }

    /// The value of `X-Forwarded-Port` (docs/aws-rules.md §ALB-2.2): this listener's port.
    pub(crate) fn forwarded_port(&self) -> &http::HeaderValue {
        &self.forwarded_port
    }

    /// The rules, by ascending priority.
    pub fn rules(&self) -> &[Rule] {
        self.rules.rules()
    }

    /// Every target group the listener's rules and default action forward to, once each.
    pub fn target_groups(&self) -> Vec<TargetGroup> {
        let mut out: Vec<TargetGroup> = Vec::new();
        let actions = self
            .rules
            .rules()
            .iter()
            .map(Rule::action)
            .chain(std::iter::once(&self.default_action));
        for action in actions {
            let groups: Vec<&TargetGroup> = match action {
                Action::Forward(g) => vec![g],
                Action::WeightedForward(w) => w.groups.iter().map(|(g, _)| g).collect(),
                _ => vec![],
            };
            for g in groups {
                if !out.iter().any(|o| o.same(g)) {
                    out.push(g.clone());
                }
            }
        }
        out
    }
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("alb", &self.alb_name)
            .field("protocol", &self.protocol)
            .field("port", &self.port)
            .field("rules", &self.rules.rules().len())
            .finish_non_exhaustive()
    }
}
