//! Checks of the VPC: CIDR blocks, subnets, security groups and their rules, vantage points.

use std::collections::HashSet;

use ipnet::Ipv4Net;

use super::Checker;
use crate::error::DiagnosticKind;
use crate::*;

impl<'a> Checker<'a> {
    pub(super) fn vpc(&mut self) {
        let stack = self.stack;
        let vpc = &stack.vpc;
        self.cidr_shape("vpc.cidr_block", "VPC CIDR", vpc.cidr_block);
        self.unique(
            "subnet",
            vpc.subnets
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("vpc.subnets[{i}].name"), s.name.as_str())),
        );
        for (i, s) in vpc.subnets.iter().enumerate() {
            let path = format!("vpc.subnets[{i}].cidr_block");
            self.cidr_shape(&path, "subnet CIDR", s.cidr_block);
            if !vpc.cidr_block.contains(&s.cidr_block) {
                self.issue(
                    &path,
                    DiagnosticKind::Conflict,
                    format!(
                        "subnet {:?} ({}) is not inside the VPC CIDR {}",
                        s.name, s.cidr_block, vpc.cidr_block
                    ),
                    "pick a subnet CIDR inside vpc.cidr_block",
                );
            }
            for (j, earlier) in vpc.subnets[..i].iter().enumerate() {
                if earlier.cidr_block.contains(&s.cidr_block.network())
                    || s.cidr_block.contains(&earlier.cidr_block.network())
                {
                    self.issue(
                        &path,
                        DiagnosticKind::Conflict,
                        format!(
                            "subnet {:?} ({}) overlaps subnet {:?} ({}) at vpc.subnets[{j}]",
                            s.name, s.cidr_block, earlier.name, earlier.cidr_block
                        ),
                        "give each subnet its own, non-overlapping CIDR block",
                    );
                }
            }
            let az = &s.availability_zone;
            let ok = az.strip_prefix(stack.region.as_str()).is_some_and(|rest| {
                rest.len() == 1 && rest.bytes().all(|b| b.is_ascii_lowercase())
            });
            if !ok {
                self.issue(
                    format!("vpc.subnets[{i}].availability_zone"),
                    DiagnosticKind::InvalidValue,
                    format!(
                        "{az:?} is not an availability zone of region {}",
                        stack.region
                    ),
                    format!(
                        "write the region followed by a letter, like {}a",
                        stack.region
                    ),
                );
            }
        }

        self.unique(
            "security group",
            vpc.security_groups.iter().enumerate().map(|(i, g)| {
                (
                    format!("vpc.security_groups[{i}].group_name"),
                    g.group_name.as_str(),
                )
            }),
        );
        let groups = self.group_names();
        for (i, g) in vpc.security_groups.iter().enumerate() {
            let base = format!("vpc.security_groups[{i}]");
            if g.group_name.is_empty()
                || g.group_name.len() > 255
                || g.group_name.starts_with("sg-")
            {
                self.issue(
                    format!("{base}.group_name"),
                    DiagnosticKind::InvalidValue,
                    format!("{:?} is not a valid security group name", g.group_name),
                    "use 1-255 characters, not starting with `sg-`",
                );
            }
            for (j, r) in g.ingress.iter().enumerate() {
                let path = format!("{base}.ingress[{j}]");
                self.rule(&path, r.ip_protocol, r.from_port, r.to_port);
                self.peer(
                    &path,
                    "source_security_group",
                    r.cidr_ip,
                    r.source_security_group.as_deref(),
                    &groups,
                );
            }
            for (j, r) in g.egress.iter().flatten().enumerate() {
                let path = format!("{base}.egress[{j}]");
                self.rule(&path, r.ip_protocol, r.from_port, r.to_port);
                self.peer(
                    &path,
                    "destination_security_group",
                    r.cidr_ip,
                    r.destination_security_group.as_deref(),
                    &groups,
                );
            }
        }
    }

    pub(super) fn rule(
        &mut self,
        path: &str,
        protocol: IpProtocol,
        from: Option<i32>,
        to: Option<i32>,
    ) {
        match protocol {
            IpProtocol::Tcp | IpProtocol::Udp => {
                let (Some(from), Some(to)) = (from, to) else {
                    self.issue(
                        path,
                        DiagnosticKind::Schema,
                        "a tcp or udp rule needs from_port and to_port",
                        "add both, e.g. from_port: 443 and to_port: 443",
                    );
                    return;
                };
                for (field, port) in [("from_port", from), ("to_port", to)] {
                    if !(0..=65535).contains(&port) {
                        self.issue(
                            format!("{path}.{field}"),
                            DiagnosticKind::InvalidValue,
                            format!("port {port} is out of range"),
                            "use a port between 0 and 65535",
                        );
                    }
                }
                if from > to {
                    self.issue(
                        format!("{path}.to_port"),
                        DiagnosticKind::InvalidValue,
                        format!("to_port {to} is below from_port {from}"),
                        "to_port must be at least from_port",
                    );
                }
            }
            IpProtocol::All => {
                for (field, port) in [("from_port", from), ("to_port", to)] {
                    if port.is_some_and(|p| p != -1) {
                        self.issue(
                            format!("{path}.{field}"),
                            DiagnosticKind::InvalidValue,
                            "ports do not apply to ip_protocol -1 (all traffic)",
                            "remove the port, or use -1",
                        );
                    }
                }
            }
            IpProtocol::Icmp => {
                for (field, port) in [("from_port", from), ("to_port", to)] {
                    if port.is_some_and(|p| !(-1..=255).contains(&p)) {
                        self.issue(
                            format!("{path}.{field}"),
                            DiagnosticKind::InvalidValue,
                            "for icmp, from_port is the ICMP type and to_port the code (-1 to 255)",
                            "use -1 for all ICMP types/codes",
                        );
                    }
                }
            }
        }
    }

    pub(super) fn peer(
        &mut self,
        path: &str,
        group_field: &str,
        cidr: Option<Ipv4Net>,
        group: Option<&str>,
        groups: &[&str],
    ) {
        match (cidr, group) {
            (Some(_), None) => {}
            (None, Some(g)) => {
                self.reference(
                    format!("{path}.{group_field}"),
                    "security group",
                    "security groups",
                    g,
                    groups,
                    "use a group_name from vpc.security_groups",
                );
            }
            _ => self.issue(
                path,
                DiagnosticKind::Schema,
                format!("a rule needs exactly one of cidr_ip or {group_field}"),
                format!("keep either cidr_ip or {group_field}"),
            ),
        }
    }

    pub(super) fn vantage_points(&mut self) {
        if let Some(v) = &self.stack.vantage_points.vpc {
            let known = self.subnet_names();
            self.reference(
                "vantage_points.vpc.subnet".to_owned(),
                "subnet",
                "subnets",
                &v.subnet,
                &known,
                "use the name of a subnet under vpc.subnets",
            );
            self.group_refs("vantage_points.vpc.security_groups", &v.security_groups);
        }
    }

    pub(super) fn cidr_shape(&mut self, path: &str, what: &str, net: Ipv4Net) {
        if !(16..=28).contains(&net.prefix_len()) {
            self.issue(
                path,
                DiagnosticKind::InvalidValue,
                format!(
                    "{what} {net} has a /{} prefix; AWS allows /16 to /28",
                    net.prefix_len()
                ),
                "use a prefix length between 16 and 28",
            );
        }
        if net.network() != net.addr() {
            self.issue(
                path,
                DiagnosticKind::InvalidValue,
                format!("{what} {net} has host bits set"),
                format!("write the network address: {}", net.trunc()),
            );
        }
    }

    /// The addresses tasks can get in `subnets`: each one's usable addresses, less the
    /// interfaces the stack places there before any task (load balancer nodes, VPC link
    /// interfaces, the `vpc` vantage point). Other services' tasks are not counted: where they
    /// land is decided at run time, and the admin endpoint checks the live count.
    pub(super) fn addresses_for_tasks(&self, subnets: &[String]) -> u64 {
        let stack = self.stack;
        let fixed = |name: &str| -> u64 {
            let nodes = stack
                .load_balancers
                .iter()
                .filter(|lb| lb.subnets.iter().any(|s| s == name))
                .count();
            let links = stack
                .vpc_links
                .iter()
                .filter(|l| l.subnet_ids.iter().any(|s| s == name))
                .count();
            let vantage = stack
                .vantage_points
                .vpc
                .as_ref()
                .is_some_and(|v| v.subnet == name);
            (nodes + links + usize::from(vantage)) as u64
        };
        let mut seen = HashSet::new();
        subnets
            .iter()
            .filter(|name| seen.insert(name.as_str()))
            .filter_map(|name| stack.vpc.subnets.iter().find(|s| &s.name == name))
            .map(|s| {
                crate::network::usable_addresses(s.cidr_block.prefix_len())
                    .saturating_sub(fixed(&s.name))
            })
            .sum()
    }
}
