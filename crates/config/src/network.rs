//! Amazon VPC in the stack file: the VPC, its subnets, security groups and their rules, and the
//! vantage points a user stands at. Field names are the EC2 API / CloudFormation property names
//! in snake_case (`AWS::EC2::VPC`, `AWS::EC2::Subnet`, `AWS::EC2::SecurityGroup`).

use ipnet::Ipv4Net;
use serde::Deserialize;

/// The VPC: an IPv4 CIDR (/16 to /28), its subnets and security groups.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vpc {
    /// The VPC's CIDR block.
    pub cidr_block: Ipv4Net,
    /// Subnets, inside the VPC CIDR and not overlapping.
    #[serde(default)]
    pub subnets: Vec<Subnet>,
    /// Security groups.
    #[serde(default)]
    pub security_groups: Vec<SecurityGroup>,
}

/// A subnet in one availability zone.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subnet {
    /// The name other resources refer to.
    pub name: String,
    /// The subnet's CIDR block (canonical, inside the VPC's).
    pub cidr_block: Ipv4Net,
    /// The availability zone, the region plus a letter (`us-east-1a`).
    pub availability_zone: String,
}

/// A security group: stateful allow rules on the interfaces that carry it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroup {
    /// The group's name, which other resources refer to.
    pub group_name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Inbound allow rules; none means no inbound traffic.
    #[serde(default)]
    pub ingress: Vec<IngressRule>,
    /// Outbound allow rules; absent means allow all (the AWS default), present means only these.
    #[serde(default)]
    pub egress: Option<Vec<EgressRule>>,
}

/// An IP protocol as security group rules name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum IpProtocol {
    /// `tcp`
    #[serde(rename = "tcp")]
    Tcp,
    /// `udp`
    #[serde(rename = "udp")]
    Udp,
    /// `icmp` (ports are ICMP type and code).
    #[serde(rename = "icmp")]
    Icmp,
    /// `-1`: every protocol and port.
    #[serde(rename = "-1")]
    All,
}

/// An inbound rule: protocol and ports from one source, a CIDR or a security group.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngressRule {
    /// The protocol.
    pub ip_protocol: IpProtocol,
    /// First port (tcp/udp), or ICMP type; absent or -1 for protocol `-1`.
    #[serde(default)]
    pub from_port: Option<i32>,
    /// Last port (tcp/udp), or ICMP code; absent or -1 for protocol `-1`.
    #[serde(default)]
    pub to_port: Option<i32>,
    /// Source addresses.
    #[serde(default)]
    pub cidr_ip: Option<Ipv4Net>,
    /// Source: interfaces carrying this group (by `group_name`).
    #[serde(default)]
    pub source_security_group: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
}

/// An outbound rule: protocol and ports to one destination, a CIDR or a security group.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressRule {
    /// The protocol.
    pub ip_protocol: IpProtocol,
    /// First port (tcp/udp), or ICMP type; absent or -1 for protocol `-1`.
    #[serde(default)]
    pub from_port: Option<i32>,
    /// Last port (tcp/udp), or ICMP code; absent or -1 for protocol `-1`.
    #[serde(default)]
    pub to_port: Option<i32>,
    /// Destination addresses.
    #[serde(default)]
    pub cidr_ip: Option<Ipv4Net>,
    /// Destination: interfaces carrying this group (by `group_name`).
    #[serde(default)]
    pub destination_security_group: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
}

/// The port range a validated rule covers, or `None` for "all traffic" (`-1`) and ICMP.
fn rule_ports(
    protocol: IpProtocol,
    from: Option<i32>,
    to: Option<i32>,
) -> Option<std::ops::RangeInclusive<u16>> {
    match protocol {
        IpProtocol::Tcp | IpProtocol::Udp => {
            let from = u16::try_from(from?).ok()?;
            let to = u16::try_from(to?).ok()?;
            Some(from..=to)
        }
        IpProtocol::Icmp | IpProtocol::All => None,
    }
}

impl IngressRule {
    /// The tcp/udp port range; `None` for protocols without ports.
    pub fn ports(&self) -> Option<std::ops::RangeInclusive<u16>> {
        rule_ports(self.ip_protocol, self.from_port, self.to_port)
    }
}

impl EgressRule {
    /// The tcp/udp port range; `None` for protocols without ports.
    pub fn ports(&self) -> Option<std::ops::RangeInclusive<u16>> {
        rule_ports(self.ip_protocol, self.from_port, self.to_port)
    }
}

/// Places a user or a test can stand inside the cloud.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VantagePoints {
    /// A vantage point inside the VPC (a bastion-like interface).
    #[serde(default)]
    pub vpc: Option<VpcVantage>,
}

/// An interface inside the VPC that a user's traffic can originate from.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpcVantage {
    /// The subnet it sits in.
    pub subnet: String,
    /// The security groups it carries.
    #[serde(default)]
    pub security_groups: Vec<String>,
}

/// Addresses AWS reserves in every subnet: the network address, the router, DNS, one for future
/// use, and the broadcast address.
pub const RESERVED_ADDRESSES_PER_SUBNET: u64 = 5;

/// How many addresses a subnet of prefix length `prefix` offers interfaces.
pub(crate) fn usable_addresses(prefix: u8) -> u64 {
    (1u64 << (32 - u32::from(prefix.min(32)))).saturating_sub(RESERVED_ADDRESSES_PER_SUBNET)
}
