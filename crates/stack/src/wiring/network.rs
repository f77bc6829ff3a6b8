//! The emulated VPC from the stack file.

use super::*;

pub(super) fn vpc_spec(stack: &cfg::Stack) -> airlock_net::VpcSpec {
    airlock_net::VpcSpec {
        cidr: stack.vpc.cidr_block,
        subnets: stack
            .vpc
            .subnets
            .iter()
            .map(|s| airlock_net::SubnetSpec {
                name: s.name.clone(),
                cidr: s.cidr_block,
                availability_zone: s.availability_zone.clone(),
            })
            .collect(),
        security_groups: stack.vpc.security_groups.iter().map(group_spec).collect(),
    }
}

/// A validated security group of the stack file as the network enforces it: at start, and when
/// the admin endpoint replaces its rules.
pub(crate) fn group_spec(g: &cfg::SecurityGroup) -> airlock_net::SecurityGroupSpec {
    use airlock_net::{Protocol, Rule, SecurityGroupSpec, Source};
    let protocol = |p: cfg::IpProtocol| match p {
        cfg::IpProtocol::Tcp => Protocol::Tcp,
        cfg::IpProtocol::Udp => Protocol::Udp,
        // ICMP carries no TCP: modelled as a protocol that never matches a TCP dial.
        cfg::IpProtocol::Icmp => Protocol::Udp,
        cfg::IpProtocol::All => Protocol::All,
    };
    let rule = |p: cfg::IpProtocol,
                ports: Option<std::ops::RangeInclusive<u16>>,
                cidr: Option<ipnet::Ipv4Net>,
                group: Option<&String>| {
        let (from_port, to_port) = ports.map_or((0, u16::MAX), |r| (*r.start(), *r.end()));
        Rule {
            protocol: protocol(p),
            from_port,
            to_port,
            source: match (group, cidr) {
                (Some(g), _) => Source::Group(g.clone()),
                (None, Some(c)) => Source::Cidr(c),
                (None, None) => Source::Cidr(ipnet::Ipv4Net::default()),
            },
        }
    };
    SecurityGroupSpec {
        name: g.group_name.clone(),
        ingress: g
            .ingress
            .iter()
            .map(|r| {
                rule(
                    r.ip_protocol,
                    r.ports(),
                    r.cidr_ip,
                    r.source_security_group.as_ref(),
                )
            })
            .collect(),
        egress: match &g.egress {
            None => vec![Rule::allow_all()],
            Some(rules) => rules
                .iter()
                .map(|r| {
                    rule(
                        r.ip_protocol,
                        r.ports(),
                        r.cidr_ip,
                        r.destination_security_group.as_ref(),
                    )
                })
                .collect(),
        },
    }
}
