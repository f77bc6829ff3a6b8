//! Checks of certificates and Route 53 hosted zones and records.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::{Checker, is_dns_name};
use crate::error::DiagnosticKind;
use crate::*;

impl<'a> Checker<'a> {
    pub(super) fn certificates(&mut self) {
        let certs = &self.stack.certificates;
        self.unique(
            "certificate",
            certs
                .iter()
                .enumerate()
                .map(|(i, c)| (format!("certificates[{i}].name"), c.name.as_str())),
        );
        for (i, c) in certs.iter().enumerate() {
            if !is_dns_name(&c.domain_name, true) {
                self.issue(
                    format!("certificates[{i}].domain_name"),
                    DiagnosticKind::InvalidValue,
                    format!("{:?} is not a DNS name", c.domain_name),
                    "write a name like example.com or *.example.com (quote names starting with `*`)",
                );
            }
            for (j, san) in c.subject_alternative_names.iter().enumerate() {
                if !is_dns_name(san, true) {
                    self.issue(
                        format!("certificates[{i}].subject_alternative_names[{j}]"),
                        DiagnosticKind::InvalidValue,
                        format!("{san:?} is not a DNS name"),
                        "write a name like example.com or *.example.com",
                    );
                }
            }
        }
    }

    pub(super) fn hosted_zones(&mut self) {
        let stack = self.stack;
        // A public and a private zone may share a name (split horizon); two of one kind may not.
        let mut seen: HashMap<(String, bool), usize> = HashMap::new();
        for (i, z) in stack.hosted_zones.iter().enumerate() {
            let zone = z.name.trim_end_matches('.').to_ascii_lowercase();
            if let Some(first) = seen.insert((zone.clone(), z.private_zone), i) {
                self.issue(
                    format!("hosted_zones[{i}].name"),
                    DiagnosticKind::Duplicate,
                    format!(
                        "duplicate {} hosted zone {:?}; it is already defined at hosted_zones[{first}]",
                        if z.private_zone { "private" } else { "public" },
                        z.name
                    ),
                    "merge the records into one zone (a public and a private zone may share a name)",
                );
            }
            if !is_dns_name(&z.name, false) {
                self.issue(
                    format!("hosted_zones[{i}].name"),
                    DiagnosticKind::InvalidValue,
                    format!("{:?} is not a DNS name", z.name),
                    "write a domain like example.com",
                );
            }
            let mut records: HashMap<(String, RecordType), usize> = HashMap::new();
            for (j, r) in z.records.iter().enumerate() {
                let base = format!("hosted_zones[{i}].records[{j}]");
                let name = r.name.trim_end_matches('.').to_ascii_lowercase();
                if !is_dns_name(&r.name, true) {
                    self.issue(
                        format!("{base}.name"),
                        DiagnosticKind::InvalidValue,
                        format!("{:?} is not a DNS name", r.name),
                        "write a name like www.example.com",
                    );
                } else if name != zone && !name.ends_with(&format!(".{zone}")) {
                    self.issue(
                        format!("{base}.name"),
                        DiagnosticKind::InvalidValue,
                        format!("record {:?} is not inside zone {:?}", r.name, z.name),
                        format!("use a name ending in {zone}, or move the record to its zone"),
                    );
                }
                if let Some(first) = records.insert((name.clone(), r.r#type), j) {
                    self.issue(
                        format!("{base}.name"),
                        DiagnosticKind::Duplicate,
                        format!("duplicate {:?} record for {:?}; already defined at hosted_zones[{i}].records[{first}]", r.r#type, r.name),
                        "put all values of one name and type in one record's resource_records",
                    );
                }
                match &r.alias_target {
                    Some(alias) => self.alias(
                        &base,
                        &name,
                        r.r#type,
                        r.ttl,
                        !r.resource_records.is_empty(),
                        alias,
                    ),
                    None => self.plain_record(&base, &name, &zone, r.r#type, &r.resource_records),
                }
            }
        }
    }

    pub(super) fn alias(
        &mut self,
        base: &str,
        name: &str,
        kind: RecordType,
        ttl: Option<u32>,
        has_values: bool,
        alias: &crate::AliasTarget,
    ) {
        if has_values {
            self.issue(
                format!("{base}.resource_records"),
                DiagnosticKind::Conflict,
                "a record has either alias_target or resource_records, not both",
                "remove resource_records from the alias record",
            );
        }
        if ttl.is_some() {
            self.issue(
                format!("{base}.ttl"),
                DiagnosticKind::Conflict,
                "an alias record takes its TTL from the target",
                "remove ttl",
            );
        }
        if !matches!(kind, RecordType::A | RecordType::Aaaa) {
            self.issue(
                format!("{base}.type"),
                DiagnosticKind::InvalidValue,
                "alias records must be of type A or AAAA",
                "use type: A",
            );
        }
        match &alias.destination {
            AliasDestination::CustomDomain(domain) => {
                let known: Vec<&str> = self
                    .stack
                    .domain_names
                    .iter()
                    .map(|d| d.domain_name.as_str())
                    .collect();
                if self.reference(
                    format!("{base}.alias_target.custom_domain"),
                    "custom domain",
                    "custom domains",
                    domain,
                    &known,
                    "use a domain_name from domain_names",
                ) && !domain.eq_ignore_ascii_case(name)
                {
                    self.issue(
                        format!("{base}.alias_target.custom_domain"),
                        DiagnosticKind::Conflict,
                        format!("an alias to custom domain {domain:?} must be named {domain:?}, not {name:?}"),
                        "set the record's name to the custom domain name",
                    );
                }
            }
            AliasDestination::LoadBalancer(lb) => {
                let known: Vec<&str> = self
                    .stack
                    .load_balancers
                    .iter()
                    .map(|l| l.name.as_str())
                    .collect();
                self.reference(
                    format!("{base}.alias_target.load_balancer"),
                    "load balancer",
                    "load balancers",
                    lb,
                    &known,
                    "use a name from load_balancers",
                );
            }
        }
    }

    pub(super) fn plain_record(
        &mut self,
        base: &str,
        name: &str,
        zone: &str,
        kind: RecordType,
        values: &[String],
    ) {
        if values.is_empty() {
            self.issue(
                base,
                DiagnosticKind::Schema,
                "a record needs resource_records or an alias_target",
                "add resource_records: [...] or alias_target: {...}",
            );
            return;
        }
        for (k, v) in values.iter().enumerate() {
            let ok = match kind {
                RecordType::A => v.parse::<Ipv4Addr>().is_ok(),
                RecordType::Aaaa => v.parse::<Ipv6Addr>().is_ok(),
                RecordType::Cname => is_dns_name(v, false),
                RecordType::Txt => true,
            };
            if !ok {
                self.issue(
                    format!("{base}.resource_records[{k}]"),
                    DiagnosticKind::InvalidValue,
                    format!("{v:?} is not a valid {kind:?} value"),
                    match kind {
                        RecordType::A => "write an IPv4 address",
                        RecordType::Aaaa => "write an IPv6 address",
                        _ => "write a host name",
                    },
                );
            }
        }
        if kind == RecordType::Cname {
            if values.len() != 1 {
                self.issue(
                    format!("{base}.resource_records"),
                    DiagnosticKind::InvalidValue,
                    "a CNAME record has exactly one value",
                    "keep one target name",
                );
            }
            if name == zone {
                self.issue(
                    format!("{base}.type"),
                    DiagnosticKind::InvalidValue,
                    "a CNAME is not allowed at the zone apex",
                    "use an alias A record instead",
                );
            }
        }
    }
}
