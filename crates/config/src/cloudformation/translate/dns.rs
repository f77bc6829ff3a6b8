//! Route 53: hosted zones (public, or private with `VPCs`) and their record sets into the stack's
//! `hosted_zones`. An alias to a load balancer's `DNSName` or to a custom domain's
//! `RegionalDomainName` becomes the stack's `load_balancer:` or `custom_domain:` alias target.

use yaml_serde::Value as Yaml;

use crate::error::DiagnosticKind;

use super::super::Resource;
use super::super::node::{Node, Value};
use super::super::types::ROUTE53_RECORD_SET;
use super::values::{dns_name, items, known_keys, map, number, prop, s, text};
use super::{Ctx, Origin, Section};

const HOSTED_ZONE: &str = "AWS::Route53::HostedZone";
const RECORD_SET: &str = "AWS::Route53::RecordSet";
const RECORD_SET_GROUP: &str = "AWS::Route53::RecordSetGroup";
const LOAD_BALANCER: &str = "AWS::ElasticLoadBalancingV2::LoadBalancer";
const DOMAIN_NAME: &str = "AWS::ApiGatewayV2::DomainName";

/// A zone's entry while its records are collected.
struct Zone<'a> {
    r: &'a Resource,
    name: String,
    private: bool,
    records: Vec<Yaml>,
}

/// Adds the template's hosted zones and records to the stack document.
pub(crate) fn translate(cx: &mut Ctx<'_>) {
    for t in [HOSTED_ZONE, RECORD_SET, RECORD_SET_GROUP] {
        for r in cx.of_type(t).collect::<Vec<_>>() {
            cx.handled(r);
        }
    }
    let mut zones: Vec<Zone<'_>> = Vec::new();
    for r in cx.of_type(HOSTED_ZONE).collect::<Vec<_>>() {
        let Some(name) = prop(r, "Name").and_then(|n| text(cx, n)) else {
            cx.problem_at(
                r,
                DiagnosticKind::Schema,
                format!("the hosted zone {} has no Name", r.logical_id),
                "add Name: the zone's domain, e.g. example.com",
            );
            continue;
        };
        // A zone associated with VPCs is private: it answers only inside them (split horizon).
        let private = prop(r, "VPCs")
            .and_then(Node::as_list)
            .is_some_and(|l| !l.is_empty());
        cx.name(r, dns_name(&name));
        zones.push(Zone {
            r,
            name: dns_name(&name),
            private,
            records: Vec::new(),
        });
    }
    for r in cx.of_type(RECORD_SET).collect::<Vec<_>>() {
        cx.handled(r);
        let Some(z) = zone_of(cx, &zones, r, &r.properties) else {
            continue;
        };
        if let Some(record) = record(cx, &r.properties) {
            zones[z].records.push(record);
        }
    }
    for r in cx.of_type(RECORD_SET_GROUP).collect::<Vec<_>>() {
        cx.handled(r);
        let Some(z) = zone_of(cx, &zones, r, &r.properties) else {
            continue;
        };
        if let Some(list) = prop(r, "RecordSets") {
            for item in items(cx, list) {
                if let Some(record) = record(cx, item) {
                    zones[z].records.push(record);
                }
            }
        }
    }
    for z in zones {
        let mut pairs = vec![("name", s(z.name)), ("private_zone", Yaml::Bool(z.private))];
        if !z.records.is_empty() {
            pairs.push(("records", Yaml::Sequence(z.records)));
        }
        cx.doc
            .push(Section::HostedZones, Origin::of(z.r), map(pairs));
    }
}

/// The zone a record set (or group) goes in: `HostedZoneId` (a zone of the template) or
/// `HostedZoneName` (which must name exactly one of them).
fn zone_of(cx: &mut Ctx<'_>, zones: &[Zone<'_>], r: &Resource, props: &Node) -> Option<usize> {
    if let Some(n) = props.get("HostedZoneId") {
        let zone = cx.reference(n, &[HOSTED_ZONE])?;
        return zones.iter().position(|z| z.r.logical_id == zone.logical_id);
    }
    let Some(n) = props.get("HostedZoneName") else {
        cx.problem_at(
            r,
            DiagnosticKind::Schema,
            format!("{} names no hosted zone", r.logical_id),
            "add HostedZoneId: !Ref MyZone (or HostedZoneName)",
        );
        return None;
    };
    let name = dns_name(&text(cx, n)?);
    let found: Vec<usize> = zones
        .iter()
        .enumerate()
        .filter(|(_, z)| z.name == name)
        .map(|(i, _)| i)
        .collect();
    match found.as_slice() {
        [one] => Some(*one),
        [] => {
            cx.problem(
                n,
                DiagnosticKind::UnknownReference,
                format!("no hosted zone of this template is named {name:?}"),
                "declare the zone as an AWS::Route53::HostedZone, or fix the name",
            );
            None
        }
        _ => {
            cx.problem(
                n,
                DiagnosticKind::Conflict,
                format!("a public and a private zone are both named {name:?}"),
                "name the zone with HostedZoneId: !Ref MyZone",
            );
            None
        }
    }
}

/// One record set: values, or an alias to a load balancer or an API custom domain.
fn record(cx: &mut Ctx<'_>, node: &Node) -> Option<Yaml> {
    // A group's record sets take a RecordSet's properties: the type table is the one list.
    known_keys(cx, node, ROUTE53_RECORD_SET.properties, "RecordSet");
    for key in [
        "SetIdentifier",
        "Failover",
        "GeoLocation",
        "GeoProximityLocation",
        "CidrRoutingConfig",
        "Weight",
        "Region",
        "MultiValueAnswer",
    ] {
        if let Some(n) = node.get(key) {
            cx.problem(
                n,
                DiagnosticKind::Schema,
                format!(
                    "routing policies (`{key}`) are not emulated: airlock serves simple records"
                ),
                "remove the routing policy; keep one record per name and type",
            );
            return None;
        }
    }
    let Some(name) = node.get("Name").and_then(|n| text(cx, n)) else {
        cx.problem(
            node,
            DiagnosticKind::Schema,
            "the record set has no Name",
            "add Name",
        );
        return None;
    };
    let type_node = node.get("Type")?;
    let kind = text(cx, type_node)?;
    if !matches!(kind.as_str(), "A" | "AAAA" | "CNAME" | "TXT") {
        cx.problem(
            type_node,
            DiagnosticKind::InvalidValue,
            format!("airlock serves A, AAAA, CNAME and TXT records, not {kind}"),
            "use one of A, AAAA, CNAME, TXT",
        );
        return None;
    }
    let mut pairs = vec![("name", s(dns_name(&name))), ("type", s(kind))];
    if let Some(alias) = node.get("AliasTarget") {
        known_keys(
            cx,
            alias,
            &["DNSName", "EvaluateTargetHealth", "HostedZoneId"],
            "AliasTarget",
        );
        let dns = alias.get("DNSName")?;
        let target = alias_target(cx, dns)?;
        let mut t = vec![target];
        if let Some(e) = alias.get("EvaluateTargetHealth") {
            t.push((
                "evaluate_target_health",
                Yaml::Bool(matches!(&e.value, Value::Bool(true)) || e.as_str() == Some("true")),
            ));
        }
        pairs.push(("alias_target", map(t)));
    } else {
        if let Some(n) = node.get("TTL") {
            pairs.push(("ttl", number(cx, n)?));
        }
        let values: Vec<Yaml> = match node.get("ResourceRecords") {
            Some(list) => items(cx, list)
                .into_iter()
                .filter_map(|n| text(cx, n))
                .map(s)
                .collect(),
            None => Vec::new(),
        };
        pairs.push(("resource_records", Yaml::Sequence(values)));
    }
    Some(map(pairs))
}

/// An alias's `DNSName`: a load balancer's `DNSName` (with or without the `dualstack.` prefix
/// and the final dot) or a custom domain's `RegionalDomainName`.
fn alias_target(cx: &mut Ctx<'_>, dns: &Node) -> Option<(&'static str, Yaml)> {
    let raw = text(cx, dns)?;
    let bare = raw.strip_suffix('.').unwrap_or(&raw);
    let bare = bare.strip_prefix("dualstack.").unwrap_or(bare);
    let node = Node::new(Value::String(bare.to_owned()), dns.at, dns.path.clone());
    let r = cx.reference(&node, &[LOAD_BALANCER, DOMAIN_NAME])?;
    let kind = if r.type_name == LOAD_BALANCER {
        "load_balancer"
    } else {
        "custom_domain"
    };
    let types: &[&str] = if r.type_name == LOAD_BALANCER {
        &[LOAD_BALANCER]
    } else {
        &[DOMAIN_NAME]
    };
    let name = cx.reference_name(&node, types)?;
    Some((kind, s(name)))
}
