//! The template's network: `AWS::EC2::VPC`, `Subnet`, `SecurityGroup`, `SecurityGroupIngress`
//! and `SecurityGroupEgress` become the stack's `vpc` (one VPC per stack), and the `vpc`
//! vantage point is placed in it.
//!
//! What a template does not create, airlock makes up, so that a template that takes its VPC
//! and subnets as parameters runs with no arguments: a VPC (10.0.0.0/16 unless the template's
//! subnets say otherwise) with two private subnets in two zones; each subnet id of a parameter
//! (`AWS::EC2::Subnet::Id`, `List<AWS::EC2::Subnet::Id>`) stands for one of them. The VPC's
//! default security group (named `default`, as in AWS) always exists: it admits traffic from
//! its own members and allows all egress, and it is what an interface created without groups
//! carries (see [`security_groups`]).
//!
//! Names: a subnet is named by its logical id (made-up ones `private-1`, `private-2`, …); a
//! security group by its `GroupName`, else its logical id (a group made up for a security
//! group id parameter: the parameter's name, with `-N` for a list's items).

use ipnet::Ipv4Net;
use yaml_serde::Value as Yaml;

use crate::error::DiagnosticKind;

use super::super::evaluated::Resource;
use super::super::node::{Node, Value};
use super::values::{Map, check_keys, int, items, s, seq, text};
use super::{Ctx, Origin, Section, mapping};

/// The VPC's default security group, as AWS names it.
pub(crate) const DEFAULT_GROUP: &str = "default";

const VPC: &str = "AWS::EC2::VPC";
const SUBNET: &str = "AWS::EC2::Subnet";
const GROUP: &str = "AWS::EC2::SecurityGroup";
const INGRESS: &str = "AWS::EC2::SecurityGroupIngress";
const EGRESS: &str = "AWS::EC2::SecurityGroupEgress";

/// The CIDR a made-up VPC gets when the template's subnets do not need another.
const MADE_UP_VPC: &str = "10.0.0.0/16";

/// Adds the template's network to the stack document.
pub(crate) fn translate(cx: &mut Ctx<'_>) {
    let has_vpc = vpc(cx);
    let template_subnets = subnets(cx);
    let private = made_up_subnets(cx, has_vpc, &template_subnets);
    default_group(cx);
    made_up_groups(cx);
    groups(cx);
    standalone_rules(cx);
    vantage_point(cx, &private);
}

/// The subnet names `node` (a list of subnet ids) refers to; each must be a subnet of the
/// template or a subnet id parameter's (made-up) subnet.
pub(crate) fn subnets_of(cx: &mut Ctx<'_>, node: &Node) -> Vec<String> {
    items(cx, node)
        .into_iter()
        .filter_map(|n| cx.reference_name(n, &[SUBNET]))
        .collect()
}

/// The security group names `node` (a list of group ids, or absent) refers to. An interface
/// created with no group (absent or an empty list) carries the VPC's default group, as in AWS
/// ("Default security groups for your VPCs", Amazon VPC User Guide).
pub(crate) fn security_groups(cx: &mut Ctx<'_>, node: Option<&Node>) -> Vec<String> {
    let Some(node) = node else {
        return vec![DEFAULT_GROUP.to_owned()];
    };
    let names: Vec<String> = items(cx, node)
        .into_iter()
        .filter_map(|n| cx.reference_name(n, &[GROUP]))
        .collect();
    if names.is_empty() && node.as_list().is_some_and(<[Node]>::is_empty) {
        return vec![DEFAULT_GROUP.to_owned()];
    }
    names
}

/// The VPC: the template's first (a second is an error), or none.
fn vpc(cx: &mut Ctx<'_>) -> bool {
    let vpcs: Vec<&Resource> = cx.of_type(VPC).collect();
    for (i, r) in vpcs.iter().enumerate() {
        if i > 0 {
            cx.problem_at(
                r,
                DiagnosticKind::Conflict,
                format!(
                    "{} is a second VPC; an airlock stack has one VPC ({} is the first)",
                    r.logical_id, vpcs[0].logical_id
                ),
                "run each VPC's resources as a stack of their own, or move them into the first VPC",
            );
            cx.handled(r);
            continue;
        }
        match r.properties.get("CidrBlock") {
            Some(node) => {
                if let Some(net) = cidr(cx, node) {
                    cx.doc.vpc_cidr = Some(net.to_string());
                }
            }
            None => cx.problem_at(
                r,
                DiagnosticKind::Schema,
                format!("{} has no CidrBlock", r.logical_id),
                "give the VPC a CidrBlock such as 10.0.0.0/16; airlock has no IPAM pools",
            ),
        }
        cx.doc.vpc_origin = Some(Origin::of(r));
        if let Some(Value::String(id)) = r.attribute("DefaultSecurityGroup") {
            cx.alias(id.clone(), GROUP, DEFAULT_GROUP);
        }
        cx.name(r, "vpc");
    }
    !vpcs.is_empty()
}

/// A subnet of the template: name, CIDR, and whether it is public.
struct TemplateSubnet {
    name: String,
    cidr: Ipv4Net,
    public: bool,
}

/// The template's subnets, as `vpc.subnets` entries named by logical id.
fn subnets(cx: &mut Ctx<'_>) -> Vec<TemplateSubnet> {
    let mut out = Vec::new();
    for r in cx.of_type(SUBNET).collect::<Vec<_>>() {
        cx.name(r, r.logical_id.clone());
        let Some(node) = r.properties.get("CidrBlock") else {
            cx.problem_at(
                r,
                DiagnosticKind::Schema,
                format!("{} has no CidrBlock", r.logical_id),
                "give the subnet a CidrBlock inside the VPC's; airlock has no IPAM pools",
            );
            continue;
        };
        let Some(net) = cidr(cx, node) else { continue };
        let zone = match r.attribute("AvailabilityZone") {
            Some(Value::String(z)) if !z.is_empty() => z.clone(),
            _ => format!("{}a", cx.eval.region),
        };
        let public = r
            .properties
            .get("MapPublicIpOnLaunch")
            .is_some_and(|n| n.scalar_text().as_deref() == Some("true"));
        cx.doc.push(
            Section::Subnets,
            Origin::of(r),
            Map::new()
                .with("name", s(&r.logical_id))
                .with("cidr_block", s(net.to_string()))
                .with("availability_zone", s(&zone))
                .into(),
        );
        out.push(TemplateSubnet {
            name: r.logical_id.clone(),
            cidr: net,
            public,
        });
    }
    out
}

/// The values of the parameters of AWS-specific id type `aws_type`, with their parameter's
/// name, in template order, each once.
fn parameter_ids(cx: &Ctx<'_>, aws_type: &str) -> Vec<(String, Vec<String>)> {
    cx.ev
        .parameters
        .iter()
        .filter(|p| p.aws_type.as_deref() == Some(aws_type))
        .map(|p| {
            let values = match &p.value.value {
                Value::List(items) => items.iter().filter_map(Node::scalar_text).collect(),
                _ => p.value.scalar_text().into_iter().collect(),
            };
            (p.name.clone(), values)
        })
        .collect()
}

/// Made-up subnets: one per subnet id a parameter gives, and two when the template has no
/// subnet at all; the VPC's CIDR when the template has no VPC. Returns the names of the
/// private subnets, the template's first (for the vantage point).
fn made_up_subnets(cx: &mut Ctx<'_>, has_vpc: bool, template: &[TemplateSubnet]) -> Vec<String> {
    let mut ids: Vec<(String, String)> = Vec::new(); // (parameter, subnet id)
    for (param, values) in parameter_ids(cx, "AWS::EC2::Subnet::Id") {
        for v in values {
            if !ids.iter().any(|(_, id)| *id == v) {
                ids.push((param.clone(), v));
            }
        }
    }
    if !has_vpc {
        let vpc = made_up_vpc_cidr(template);
        cx.doc.vpc_cidr = Some(vpc.to_string());
    }
    let count = if template.is_empty() {
        ids.len().max(2)
    } else {
        ids.len()
    };
    let vpc: Ipv4Net = cx
        .doc
        .vpc_cidr
        .as_deref()
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| MADE_UP_VPC.parse().expect("a valid CIDR"));
    let mut taken: Vec<Ipv4Net> = template.iter().map(|t| t.cidr).collect();
    let blocks = free_blocks(vpc, &mut taken, count);
    let mut made: Vec<(String, Ipv4Net, String)> = Vec::new();
    for (i, block) in blocks.into_iter().enumerate() {
        let letter = char::from(b'a' + (i % 3) as u8);
        let name = format!("private-{}", i + 1);
        let zone = format!("{}{letter}", cx.eval.region);
        cx.doc.push(
            Section::Subnets,
            Origin::made_up(format!(
                "a private subnet ({})",
                ids.get(i)
                    .map(|(p, id)| format!("stands for {id} of parameter {p}"))
                    .unwrap_or_else(|| "the template creates no subnet".to_owned())
            )),
            Map::new()
                .with("name", s(&name))
                .with("cidr_block", s(block.to_string()))
                .with("availability_zone", s(&zone))
                .into(),
        );
        made.push((name, block, zone));
    }
    if made.len() < count {
        cx.problems.push(super::super::Problem::new(
            crate::position::Location::START,
            "Resources",
            DiagnosticKind::Conflict,
            format!(
                "the VPC {vpc} has no room for the {count} subnets airlock must make up for the subnet ids the parameters give"
            ),
            "give fewer subnet ids, or a larger VPC CIDR",
        ));
    }
    for ((_, id), (name, _, _)) in ids.iter().zip(&made) {
        cx.alias(id.clone(), SUBNET, name.clone());
    }
    if !made.is_empty() {
        let list = made
            .iter()
            .map(|(n, b, z)| format!("{n} ({b}, {z})"))
            .collect::<Vec<_>>()
            .join(", ");
        if has_vpc {
            cx.doc.notes.push(format!(
                "Subnets made up by airlock inside the template's VPC: {list}."
            ));
        } else {
            cx.doc.notes.push(format!(
                "The template creates no VPC: airlock made one up ({vpc}) with the private subnets {list}."
            ));
        }
        let by_param: Vec<String> = ids
            .iter()
            .zip(&made)
            .map(|((p, id), (n, _, _))| format!("{id} of parameter {p} is {n}"))
            .collect();
        if !by_param.is_empty() {
            cx.doc.notes.push(format!(
                "Subnet ids from parameters stand for made-up subnets: {}.",
                by_param.join("; ")
            ));
        }
    }
    let mut private: Vec<String> = template
        .iter()
        .filter(|t| !t.public)
        .map(|t| t.name.clone())
        .collect();
    private.extend(made.into_iter().map(|(n, _, _)| n));
    if private.is_empty() {
        private.extend(template.iter().map(|t| t.name.clone()));
    }
    private
}

/// The made-up VPC's CIDR: 10.0.0.0/16 when the template's subnets fit in it, else the /16
/// around the first subnet.
fn made_up_vpc_cidr(template: &[TemplateSubnet]) -> Ipv4Net {
    let default: Ipv4Net = MADE_UP_VPC.parse().expect("a valid CIDR");
    if template.iter().all(|t| default.contains(&t.cidr)) {
        return default;
    }
    let first = template[0].cidr;
    Ipv4Net::new(first.addr(), 16.min(first.prefix_len()))
        .map(|n| n.trunc())
        .unwrap_or(default)
}

/// `count` blocks inside `vpc` overlapping none of `taken` (which they join): /24s in a /16 to
/// /22 VPC, smaller in smaller ones.
fn free_blocks(vpc: Ipv4Net, taken: &mut Vec<Ipv4Net>, count: usize) -> Vec<Ipv4Net> {
    let prefix = (vpc.prefix_len() + 2).clamp(24, 28);
    let mut out = Vec::new();
    let Ok(candidates) = vpc.subnets(prefix) else {
        return out;
    };
    for block in candidates {
        if out.len() == count {
            break;
        }
        if taken
            .iter()
            .any(|t| t.contains(&block.network()) || block.contains(&t.network()))
        {
            continue;
        }
        taken.push(block);
        out.push(block);
    }
    out
}

/// The VPC's default security group: admits its own members, allows all egress (AWS's rules
/// for a new VPC's default group).
fn default_group(cx: &mut Ctx<'_>) {
    cx.doc.push(
        Section::SecurityGroups,
        Origin::made_up("the VPC's default security group"),
        Map::new()
            .with("group_name", s(DEFAULT_GROUP))
            .with(
                "description",
                s("default VPC security group: admits traffic from its own members, allows all egress"),
            )
            .with("ingress", seq(vec![from_members(DEFAULT_GROUP)]))
            .into(),
    );
}

/// An ingress rule admitting everything from the members of `group`.
fn from_members(group: &str) -> Yaml {
    Map::new()
        .with("ip_protocol", s("-1"))
        .with("source_security_group", s(group))
        .into()
}

/// A group for each security group id a parameter gives: airlock cannot know its rules, so it
/// gets a new default group's (its members admit each other, all egress).
fn made_up_groups(cx: &mut Ctx<'_>) {
    for (param, values) in parameter_ids(cx, "AWS::EC2::SecurityGroup::Id") {
        let many = values.len() > 1;
        for (i, id) in values.into_iter().enumerate() {
            let name = if many {
                format!("{param}-{}", i + 1)
            } else {
                param.clone()
            };
            cx.doc.push(
                Section::SecurityGroups,
                Origin::made_up(format!("a security group standing for {id} of parameter {param}")),
                Map::new()
                    .with("group_name", s(&name))
                    .with(
                        "description",
                        s(format!(
                            "{id} of parameter {param}: its rules are unknown, so it has a new default group's"
                        )),
                    )
                    .with("ingress", seq(vec![from_members(&name)]))
                    .into(),
            );
            cx.doc.notes.push(format!(
                "Security group {id} of parameter {param} is the made-up group {name} (admits its own members, allows all egress)."
            ));
            cx.alias(id, GROUP, name);
        }
    }
}

/// The template's security groups with their inline rules.
fn groups(cx: &mut Ctx<'_>) {
    let groups: Vec<&Resource> = cx.of_type(GROUP).collect();
    // Names first: inline rules may refer to any group.
    for r in &groups {
        let name = match r.properties.get("GroupName").and_then(Node::scalar_text) {
            Some(n) => {
                if n.eq_ignore_ascii_case(DEFAULT_GROUP) || n.starts_with("sg-") {
                    let node = r.properties.get("GroupName").expect("just read");
                    cx.problem(
                        node,
                        DiagnosticKind::InvalidValue,
                        format!("{n:?} is not a name a security group can be given"),
                        "AWS reserves `default` for the VPC's default group and `sg-` for ids; pick another name or leave GroupName out",
                    );
                }
                n
            }
            None => r.logical_id.clone(),
        };
        cx.name(r, name);
    }
    for r in groups {
        let name = cx.name_of(&r.logical_id).unwrap_or_default().to_owned();
        let description = r
            .properties
            .get("GroupDescription")
            .and_then(Node::scalar_text)
            .unwrap_or_default();
        let ingress: Vec<Yaml> = rule_list(cx, r.properties.get("SecurityGroupIngress"), Dir::In);
        let inline_egress = r
            .properties
            .get("SecurityGroupEgress")
            .filter(|n| n.as_list().is_some_and(|l| !l.is_empty()));
        let mut entry = Map::new()
            .with("group_name", s(&name))
            .with("description", s(description))
            .with("ingress", seq(ingress));
        if inline_egress.is_some() {
            let egress = rule_list(cx, inline_egress, Dir::Out);
            entry = entry.with("egress", seq(egress));
        }
        cx.doc
            .push(Section::SecurityGroups, Origin::of(r), entry.into());
    }
}

/// Standalone `SecurityGroupIngress`/`SecurityGroupEgress` resources: each adds its rule to
/// its group. A group with no inline egress keeps AWS's default allow-all egress rule: the
/// `AWS::EC2::SecurityGroup` reference ("SecurityGroupEgress": the default rule "is removed
/// only when you specify one or more egress rules in the SecurityGroupEgress property") — a
/// standalone egress rule is added next to it (docs/aws-fidelity.md).
fn standalone_rules(cx: &mut Ctx<'_>) {
    for (type_name, dir) in [(INGRESS, Dir::In), (EGRESS, Dir::Out)] {
        for r in cx.of_type(type_name).collect::<Vec<_>>() {
            cx.handled(r);
            let group = match (r.properties.get("GroupId"), r.properties.get("GroupName")) {
                (Some(node), _) => cx.reference_name(node, &[GROUP]),
                (None, Some(node)) => group_by_name(cx, node),
                (None, None) => {
                    cx.problem_at(
                        r,
                        DiagnosticKind::Schema,
                        format!("{} names no group", r.logical_id),
                        "set GroupId to the group's id (!GetAtt Group.GroupId)",
                    );
                    None
                }
            };
            let Some(rule) = rule(cx, &r.properties, dir) else {
                continue;
            };
            let Some(group) = group else { continue };
            let Some((_, entry)) = cx
                .doc
                .entries_mut(Section::SecurityGroups)
                .find(|(_, v)| v.get("group_name").and_then(Yaml::as_str) == Some(group.as_str()))
            else {
                continue;
            };
            let Yaml::Mapping(m) = entry else { continue };
            let key = Yaml::String(dir.key().to_owned());
            if dir == Dir::Out && !m.contains_key(&key) {
                // The group still has AWS's default rule; the new one joins it.
                m.insert(
                    key.clone(),
                    seq(vec![
                        Map::new()
                            .with("ip_protocol", s("-1"))
                            .with("cidr_ip", s("0.0.0.0/0"))
                            .with(
                                "description",
                                s("the default rule: the group has no inline egress rules"),
                            )
                            .into(),
                    ]),
                );
            }
            match m.get_mut(&key) {
                Some(Yaml::Sequence(rules)) => rules.push(rule),
                _ => {
                    m.insert(key, seq(vec![rule]));
                }
            }
        }
    }
}

/// A group named by `GroupName` (a group outside a VPC, or any group by its name).
fn group_by_name(cx: &mut Ctx<'_>, node: &Node) -> Option<String> {
    let text = node.scalar_text()?;
    let found = cx.of_type(GROUP).find(|g| {
        g.properties
            .get("GroupName")
            .and_then(Node::scalar_text)
            .as_deref()
            == Some(text.as_str())
            || g.physical_id == text
    });
    match found {
        Some(g) => cx.name_of(&g.logical_id).map(str::to_owned),
        None => {
            cx.problem(
                node,
                DiagnosticKind::UnknownReference,
                format!("no security group of this template is named {text:?}"),
                "set GroupId to a group of this template (!GetAtt Group.GroupId)",
            );
            None
        }
    }
}

/// Which way a rule points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    In,
    Out,
}

impl Dir {
    fn key(self) -> &'static str {
        match self {
            Dir::In => "ingress",
            Dir::Out => "egress",
        }
    }
}

/// The rules of an inline `SecurityGroupIngress`/`SecurityGroupEgress` list.
fn rule_list(cx: &mut Ctx<'_>, node: Option<&Node>, dir: Dir) -> Vec<Yaml> {
    let Some(node) = node else { return Vec::new() };
    items(cx, node)
        .into_iter()
        .filter_map(|n| rule(cx, n, dir))
        .collect()
}

const RULE_KEYS_IN: &[&str] = &[
    "CidrIp",
    "CidrIpv6",
    "Description",
    "FromPort",
    "ToPort",
    "IpProtocol",
    "SourcePrefixListId",
    "SourceSecurityGroupId",
    "SourceSecurityGroupName",
    "SourceSecurityGroupOwnerId",
    // A standalone ingress resource's own keys.
    "GroupId",
    "GroupName",
];
const RULE_KEYS_OUT: &[&str] = &[
    "CidrIp",
    "CidrIpv6",
    "Description",
    "FromPort",
    "ToPort",
    "IpProtocol",
    "DestinationPrefixListId",
    "DestinationSecurityGroupId",
    "GroupId",
];

/// One rule (an inline rule, or a standalone rule resource's properties).
fn rule(cx: &mut Ctx<'_>, node: &Node, dir: Dir) -> Option<Yaml> {
    let keys = match dir {
        Dir::In => RULE_KEYS_IN,
        Dir::Out => RULE_KEYS_OUT,
    };
    check_keys(cx, node, keys, &[]);
    let proto_node = node.get("IpProtocol");
    let Some(proto_node) = proto_node else {
        cx.problem(
            node,
            DiagnosticKind::Schema,
            "a security group rule needs IpProtocol",
            "set IpProtocol to tcp, udp, icmp or -1 (all traffic)",
        );
        return None;
    };
    let raw = proto_node.scalar_text().unwrap_or_default().to_lowercase();
    let protocol = match raw.as_str() {
        "-1" | "all" => "-1",
        "tcp" | "6" => "tcp",
        "udp" | "17" => "udp",
        "icmp" | "1" => "icmp",
        "icmpv6" | "58" => {
            cx.warnings.push(format!(
                "{}: an icmpv6 rule has no effect: airlock's VPC is IPv4 only",
                proto_node.path
            ));
            return None;
        }
        _ => {
            cx.problem(
                proto_node,
                DiagnosticKind::InvalidValue,
                format!("IpProtocol {raw:?} is not one airlock's security groups know"),
                "use tcp, udp, icmp or -1 (all traffic)",
            );
            return None;
        }
    };
    let mut m = Map::new().with("ip_protocol", s(protocol));
    if protocol != "-1" {
        for (key, field) in [("FromPort", "from_port"), ("ToPort", "to_port")] {
            if let Some(p) = node.get(key)
                && let Some(v) = int(cx, p, -1, 65535)
            {
                m = m.with(field, Yaml::Number(v.into()));
            }
        }
    }
    let (group_key, name_key, list_key, field) = match dir {
        Dir::In => (
            "SourceSecurityGroupId",
            Some("SourceSecurityGroupName"),
            "SourcePrefixListId",
            "source_security_group",
        ),
        Dir::Out => (
            "DestinationSecurityGroupId",
            None,
            "DestinationPrefixListId",
            "destination_security_group",
        ),
    };
    let mut peer = false;
    if let Some(c) = node.get("CidrIp") {
        peer = true;
        let net = cidr_any(cx, c)?;
        m = m.with("cidr_ip", s(net.to_string()));
    }
    if let Some(g) = node.get(group_key) {
        peer = true;
        let name = cx.reference_name(g, &[GROUP])?;
        m = m.with(field, s(name));
    } else if let Some(g) = name_key.and_then(|k| node.get(k)) {
        peer = true;
        let name = group_by_name(cx, g)?;
        m = m.with(field, s(name));
    }
    if !peer {
        let other = node.get("CidrIpv6").or_else(|| node.get(list_key));
        match other {
            Some(o) => {
                cx.warnings.push(format!(
                    "{}: a rule for an IPv6 range or a prefix list has no effect in airlock's IPv4 VPC; it is left out",
                    o.path
                ));
                return None;
            }
            None => {
                cx.problem(
                    node,
                    DiagnosticKind::Schema,
                    "a security group rule needs a peer",
                    format!("set CidrIp or {group_key}"),
                );
                return None;
            }
        }
    }
    if let Some(d) = node.get("Description").and_then(Node::scalar_text) {
        m = m.with("description", s(d));
    }
    Some(m.into())
}

/// The `vpc` vantage point, in the first private subnet, carrying the default group.
fn vantage_point(cx: &mut Ctx<'_>, private: &[String]) {
    let Some(subnet) = private.first() else {
        return;
    };
    cx.doc.vantage_notes.push(format!(
        "It stands in {subnet} and carries the VPC's default security group, as an instance launched there with no group would: it reaches what admits the VPC's CIDR or the default group, and nothing else."
    ));
    cx.doc.vantage_points = Some(mapping([(
        "vpc",
        mapping([
            ("subnet", s(subnet)),
            ("security_groups", seq(vec![s(DEFAULT_GROUP)])),
        ]),
    )]));
}

/// A canonical IPv4 CIDR block (network address, no host bits).
fn cidr(cx: &mut Ctx<'_>, node: &Node) -> Option<Ipv4Net> {
    let net = cidr_any(cx, node)?;
    if net.trunc() != net {
        cx.problem(
            node,
            DiagnosticKind::InvalidValue,
            format!("{net} has host bits set"),
            format!("write the network address: {}", net.trunc()),
        );
        return None;
    }
    Some(net)
}

/// An IPv4 CIDR block (host bits allowed, as in a rule's `CidrIp`).
fn cidr_any(cx: &mut Ctx<'_>, node: &Node) -> Option<Ipv4Net> {
    let t = text(cx, node)?;
    match t.parse::<Ipv4Net>() {
        Ok(n) => Some(n),
        Err(_) => {
            cx.problem(
                node,
                DiagnosticKind::InvalidValue,
                format!("{t:?} is not an IPv4 CIDR block"),
                "write an address and a prefix length, like 10.0.0.0/16",
            );
            None
        }
    }
}
