//! Security group rules and how they admit traffic.

use crate::Interface;
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

/// A security group: allow rules only, stateful, as in AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroupSpec {
    /// The group's name (airlock uses names where AWS uses `sg-` ids).
    pub name: String,
    /// Inbound allow rules; a new group has none.
    pub ingress: Vec<Rule>,
    /// Outbound allow rules; AWS gives a new group one allow-all rule.
    pub egress: Vec<Rule>,
}

impl SecurityGroupSpec {
    /// A group with the given ingress rules and AWS's default allow-all egress.
    pub fn with_default_egress(name: impl Into<String>, ingress: Vec<Rule>) -> Self {
        SecurityGroupSpec {
            name: name.into(),
            ingress,
            egress: vec![Rule::allow_all()],
        }
    }

    /// Whether traffic from `src` on `protocol`/`port` is admitted by one of the ingress rules.
    pub fn allows_ingress(&self, protocol: Protocol, port: u16, src: &Interface) -> bool {
        self.ingress.iter().any(|r| {
            r.covers(protocol, port)
                && match &r.source {
                    Source::Cidr(net) => net.contains(&src.ip()),
                    Source::Group(g) => src.security_groups().iter().any(|s| s == g),
                }
        })
    }

    /// The first ingress rule admitting traffic from `src`, for explanations.
    pub fn ingress_rule_for(
        &self,
        protocol: Protocol,
        port: u16,
        src: &Interface,
    ) -> Option<&Rule> {
        self.ingress.iter().find(|r| {
            r.covers(protocol, port)
                && match &r.source {
                    Source::Cidr(net) => net.contains(&src.ip()),
                    Source::Group(g) => src.security_groups().iter().any(|s| s == g),
                }
        })
    }

    /// Whether traffic to `dst_ip` (the interface `dst`) is allowed out by one of the egress rules.
    pub fn allows_egress(
        &self,
        protocol: Protocol,
        port: u16,
        dst_ip: Ipv4Addr,
        dst: &Interface,
    ) -> bool {
        self.egress.iter().any(|r| {
            r.covers(protocol, port)
                && match &r.source {
                    Source::Cidr(net) => net.contains(&dst_ip),
                    Source::Group(g) => dst.security_groups().iter().any(|s| s == g),
                }
        })
    }
}

/// One allow rule. For egress rules, `source` is the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The protocol the rule covers.
    pub protocol: Protocol,
    /// First port of the range (ignored for `All`).
    pub from_port: u16,
    /// Last port of the range, inclusive.
    pub to_port: u16,
    /// The peer the rule admits.
    pub source: Source,
}

impl Rule {
    /// All protocols, all ports, from or to anywhere: the default egress rule.
    pub fn allow_all() -> Rule {
        Rule {
            protocol: Protocol::All,
            from_port: 0,
            to_port: u16::MAX,
            source: Source::Cidr(Ipv4Net::default()),
        }
    }

    /// Whether this rule admits `protocol`/`port` to or from `ip` by its CIDR (a group source
    /// never matches an address outside the VPC).
    pub fn admits_ip(&self, protocol: Protocol, port: u16, ip: Ipv4Addr) -> bool {
        self.covers(protocol, port)
            && matches!(&self.source, Source::Cidr(net) if net.contains(&ip))
    }

    fn covers(&self, protocol: Protocol, port: u16) -> bool {
        match self.protocol {
            Protocol::All => true,
            p => p == protocol && (self.from_port..=self.to_port).contains(&port),
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let peer = match &self.source {
            Source::Cidr(c) => c.to_string(),
            Source::Group(g) => format!("security group {g}"),
        };
        match self.protocol {
            Protocol::All => write!(f, "all traffic, {peer}"),
            p => {
                let name = if p == Protocol::Tcp { "tcp" } else { "udp" };
                if self.from_port == self.to_port {
                    write!(f, "{name}/{}, {peer}", self.from_port)
                } else {
                    write!(f, "{name}/{}-{}, {peer}", self.from_port, self.to_port)
                }
            }
        }
    }
}

/// A rule's protocol (`-1` in AWS is `All`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// Every protocol and port.
    All,
}

/// The peer a rule admits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Addresses in a CIDR block.
    Cidr(Ipv4Net),
    /// Interfaces carrying the named security group.
    Group(String),
}
