//! Reachability analysis, like AWS's Reachability Analyzer: the path from a vantage point or an
//! interface to a name or address, hop by hop, and the first thing that blocks it.

use crate::wiring::Keep;
use airlock_net::{Interface, Origin, Protocol, Verdict};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The outcome of [`crate::RunningStack::explain`].
#[derive(Debug, Clone)]
pub struct Explanation {
    /// One line per hop or check, in order.
    pub hops: Vec<String>,
    /// The network's verdict on the (first) resolved destination; `None` when the name did not
    /// resolve or the origin was not found.
    pub verdict: Option<Verdict>,
}

impl Explanation {
    /// Whether a connection would be established.
    pub fn reachable(&self) -> bool {
        self.verdict == Some(Verdict::Reachable)
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, hop) in self.hops.iter().enumerate() {
            writeln!(f, "  {}. {hop}", i + 1)?;
        }
        match &self.verdict {
            Some(Verdict::Reachable) => writeln!(f, "  => REACHABLE"),
            _ => writeln!(f, "  => BLOCKED"),
        }
    }
}

/// Where the analysis starts.
pub(crate) struct From {
    pub origin: Origin,
    pub label: String,
}

/// Parses `--from`: `internet`, `vpc` (the vantage), `eni-…`, a private IP, or
/// `service:NAME`, `vpc-link:NAME`, `alb:NAME` (the first interface of that resource).
pub(crate) fn parse_from(state: &Keep, from: &str) -> Result<From, String> {
    let iface = |i: Interface| From {
        label: describe(&i),
        origin: Origin::Interface(i),
    };
    if from == "internet" {
        return Ok(From {
            origin: Origin::Internet,
            label: "the internet (no security groups; only public addresses are routed)".into(),
        });
    }
    if from == "vpc" {
        return state
            .vantage
            .clone()
            .map(iface)
            .ok_or_else(|| "this stack has no `vpc` vantage point (vantage_points.vpc)".into());
    }
    if let Ok(ip) = from.parse::<Ipv4Addr>() {
        return state
            .network
            .interface_by_ip(ip)
            .map(iface)
            .ok_or_else(|| format!("no interface has the address {ip}"));
    }
    if from.starts_with("eni-") {
        return state
            .network
            .interface_by_id(from)
            .map(iface)
            .ok_or_else(|| format!("no interface {from}"));
    }
    let (kind, name) = from.split_once(':').ok_or_else(|| {
        format!("--from {from:?}: use internet, vpc, eni-…, an IP, service:NAME, vpc-link:NAME or alb:NAME")
    })?;
    let needle = match kind {
        "service" => format!("ecs task {name}"),
        "vpc-link" | "link" => format!("VPC link {name}"),
        "alb" | "load-balancer" => format!("ELB app/{name}/"),
        _ => return Err(format!("--from {from:?}: unknown kind {kind:?}")),
    };
    state
        .network
        .interfaces()
        .into_iter()
        .map(|i| i.interface)
        .find(|i| i.description().starts_with(&needle) || i.description().contains(&needle))
        .map(iface)
        .ok_or_else(|| format!("no interface belongs to {from}"))
}

fn describe(i: &Interface) -> String {
    format!(
        "{} {} ({}), subnet {} ({}), security groups [{}]",
        i.id(),
        i.ip(),
        i.description(),
        i.subnet(),
        i.availability_zone(),
        i.security_groups().join(", ")
    )
}

pub(crate) fn explain(state: &Keep, from: &From, to: &str) -> Explanation {
    let mut hops = vec![format!("from {}", from.label)];
    let Some((host, port)) = to
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
    else {
        hops.push(format!("--to {to:?} is not NAME:PORT or ADDRESS:PORT"));
        return Explanation {
            hops,
            verdict: None,
        };
    };
    let (view, view_name) = match from.origin {
        Origin::Internet => (airlock_dns::View::Public, "public view"),
        Origin::Interface(_) => (
            airlock_dns::View::Vpc,
            "VPC view, via the resolver at the VPC base + 2",
        ),
    };
    let ip = match host.parse::<Ipv4Addr>() {
        Ok(ip) => ip,
        Err(_) => {
            let addrs = match airlock_dns::DomainName::parse(host) {
                Ok(name) => state
                    .dns
                    .resolve(view, &name, airlock_dns::proto::rr::RecordType::A)
                    .addresses(),
                Err(_) => Vec::new(),
            };
            let v4: Vec<Ipv4Addr> = addrs
                .iter()
                .filter_map(|a| match a {
                    IpAddr::V4(v) => Some(*v),
                    IpAddr::V6(_) => None,
                })
                .collect();
            match v4.first() {
                Some(first) => {
                    let all: Vec<String> = v4.iter().map(ToString::to_string).collect();
                    hops.push(format!(
                        "DNS ({view_name}): {host} -> {}{}",
                        all.join(", "),
                        if v4.len() > 1 {
                            " (checking the first)"
                        } else {
                            ""
                        }
                    ));
                    *first
                }
                None => {
                    hops.push(format!("DNS ({view_name}): {host} does not resolve"));
                    return Explanation {
                        hops,
                        verdict: None,
                    };
                }
            }
        }
    };
    let dest = SocketAddr::from((ip, port));
    let verdict = state.network.judge(&from.origin, dest);
    let dest_iface = state.network.interface_by_ip(ip);
    if state.network.is_public(ip) {
        hops.push(format!(
            "{ip} is a public address served by airlock (an internet-facing endpoint)"
        ));
    } else if let Some(d) = &dest_iface {
        hops.push(format!("to {}", describe(d)));
    }
    match (&verdict, &from.origin) {
        (Verdict::NotRoutedFromInternet, _) => hops.push(format!(
            "BLOCKED: {ip} is a private address; the internet has no route into the VPC, so the \
             connection attempt is silently dropped and the caller times out"
        )),
        (Verdict::NoSuchAddress, _) => {
            hops.push(format!("BLOCKED: no interface in the VPC has the address {ip}"))
        }
        (Verdict::EgressDenied { groups }, _) => hops.push(format!(
            "BLOCKED: no egress rule of the source's security groups [{}] allows tcp/{port} to {ip}",
            groups.join(", ")
        )),
        (Verdict::IngressDenied { groups }, Origin::Interface(src)) => hops.push(format!(
            "BLOCKED: no ingress rule of the destination's security groups [{}] admits tcp/{port} \
             from {} or its groups [{}]; the packet is dropped and the caller times out",
            groups.join(", "),
            src.ip(),
            src.security_groups().join(", ")
        )),
        (Verdict::IngressDenied { groups }, Origin::Internet) => hops.push(format!(
            "BLOCKED: security groups [{}] admit nothing from the internet",
            groups.join(", ")
        )),
        (Verdict::NothingListening | Verdict::Reachable, _) => {
            if let (Origin::Interface(src), Some(d)) = (&from.origin, &dest_iface)
                && let Some((group, rule)) = d.security_groups().iter().find_map(|g| {
                    let spec = state.network.security_group(g)?;
                    let rule = spec.ingress_rule_for(Protocol::Tcp, port, src)?.clone();
                    Some((g.clone(), rule))
                })
            {
                hops.push(format!("security group {group} admits it: ingress rule {rule}"));
            }
            if verdict == Verdict::NothingListening {
                hops.push(format!(
                    "BLOCKED: nothing listens on {ip}:{port}; the connection is refused"
                ));
            } else {
                hops.push(format!("{ip}:{port} is listening"));
            }
        }
    }
    Explanation {
        hops,
        verdict: Some(verdict),
    }
}
