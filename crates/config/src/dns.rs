//! Names in the stack file: ACM certificates (issued by the local CA) and Route 53 hosted zones
//! with their record sets (`AWS::CertificateManager::Certificate`, `AWS::Route53::HostedZone`,
//! `AWS::Route53::RecordSet`).

use serde::Deserialize;

/// A certificate (ACM stand-in), issued by airlock's local CA.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    /// The name other resources refer to.
    pub name: String,
    /// The primary name; `*.example.com` wildcards are allowed.
    pub domain_name: String,
    /// Further names the certificate covers.
    #[serde(default)]
    pub subject_alternative_names: Vec<String>,
}

impl Certificate {
    /// Whether the certificate covers `host` (a wildcard covers exactly one leftmost label).
    pub fn covers(&self, host: &str) -> bool {
        std::iter::once(&self.domain_name)
            .chain(&self.subject_alternative_names)
            .any(|name| dns_name_matches(name, host))
    }
}

pub(crate) fn dns_name_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => pattern == host,
    }
}

/// A Route 53 hosted zone.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostedZone {
    /// The zone's domain, e.g. `example.com`.
    pub name: String,
    /// A private zone answers only queries from inside the VPC (split horizon).
    #[serde(default)]
    pub private_zone: bool,
    /// The zone's records.
    #[serde(default)]
    pub records: Vec<Record>,
}

/// A DNS record type airlock serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum RecordType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    #[serde(rename = "AAAA")]
    Aaaa,
    /// Canonical name.
    #[serde(rename = "CNAME")]
    Cname,
    /// Text.
    #[serde(rename = "TXT")]
    Txt,
}

/// A record set: plain values, or an alias to a resource.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The owner name, inside the zone.
    pub name: String,
    /// The record type.
    #[serde(rename = "type")]
    pub r#type: RecordType,
    /// TTL in seconds; not allowed on alias records.
    #[serde(default)]
    pub ttl: Option<u32>,
    /// The values (for a non-alias record).
    #[serde(default)]
    pub resource_records: Vec<String>,
    /// An alias to a resource (instead of values).
    #[serde(default)]
    pub alias_target: Option<AliasTarget>,
}

/// What an alias record points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AliasDestination {
    /// An API Gateway custom domain (by its `domain_name`).
    CustomDomain(String),
    /// A load balancer (by its `name`).
    LoadBalancer(String),
}

/// An alias: exactly one of `custom_domain` or `load_balancer`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawAliasTarget")]
pub struct AliasTarget {
    /// The resource the alias answers with.
    pub destination: AliasDestination,
    /// Whether the alias follows the target's health.
    pub evaluate_target_health: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAliasTarget {
    #[serde(default)]
    custom_domain: Option<String>,
    #[serde(default)]
    load_balancer: Option<String>,
    #[serde(default)]
    evaluate_target_health: bool,
}

impl TryFrom<RawAliasTarget> for AliasTarget {
    type Error = String;
    fn try_from(raw: RawAliasTarget) -> Result<Self, String> {
        let destination = match (raw.custom_domain, raw.load_balancer) {
            (Some(d), None) => AliasDestination::CustomDomain(d),
            (None, Some(l)) => AliasDestination::LoadBalancer(l),
            _ => {
                return Err("an alias_target needs exactly one of custom_domain or load_balancer (hint: keep one of the two)".to_owned());
            }
        };
        Ok(AliasTarget {
            destination,
            evaluate_target_health: raw.evaluate_target_health,
        })
    }
}
