//! Route 53 zones from the stack file, with aliases resolved to the addresses behind them.

use super::*;

pub(super) fn dns_zones(
    stack: &cfg::Stack,
    alb_dns: &BTreeMap<String, String>,
    alb_addrs: &HashMap<String, Vec<Ipv4Addr>>,
    api_endpoints: &BTreeMap<String, String>,
) -> Result<Vec<airlock_dns::Zone>, StackError> {
    use airlock_dns::{DomainName, RecordData, RecordSet, Zone};
    let name = |s: &str| DomainName::parse(s).map_err(|e| resource_err(format!("dns name {s}"), e));
    let alb_ips = |lb: &str| -> Vec<Ipv4Addr> { alb_addrs.get(lb).cloned().unwrap_or_default() };
    let mut zones = Vec::new();
    for z in &stack.hosted_zones {
        let resource = format!("hosted_zones[{}]", z.name);
        let mut records = Vec::new();
        for r in &z.records {
            let data = match (&r.alias_target, r.r#type) {
                (Some(alias), _) => RecordData::A(match &alias.destination {
                    cfg::AliasDestination::CustomDomain(_) => vec![GATEWAY_PUBLIC_IP],
                    cfg::AliasDestination::LoadBalancer(lb) => alb_ips(lb),
                }),
                (None, cfg::RecordType::A) => RecordData::A(
                    r.resource_records
                        .iter()
                        .map(|v| v.parse().map_err(|e| resource_err(&resource, e)))
                        .collect::<Result<_, _>>()?,
                ),
                (None, cfg::RecordType::Aaaa) => RecordData::Aaaa(
                    r.resource_records
                        .iter()
                        .map(|v| v.parse().map_err(|e| resource_err(&resource, e)))
                        .collect::<Result<_, _>>()?,
                ),
                (None, cfg::RecordType::Cname) => {
                    RecordData::Cname(name(r.resource_records.first().map_or("", String::as_str))?)
                }
                (None, cfg::RecordType::Txt) => RecordData::Txt(r.resource_records.clone()),
            };
            // Aliases to AWS resources carry the resource's TTL: 60 s (docs/aws-rules.md §ALB-6.3).
            let ttl = if r.alias_target.is_some() {
                60
            } else {
                r.ttl.unwrap_or(300)
            };
            records.push(RecordSet::new(name(&r.name)?, ttl, data));
        }
        zones.push(
            Zone::new(name(&z.name)?, z.private_zone, records)
                .map_err(|e| resource_err(&resource, e))?,
        );
    }
    // AWS-owned public names: load balancers and execute-api endpoints.
    let region = stack.region.as_str();
    let elb_records = alb_dns
        .iter()
        .map(|(lb, dns)| Ok(RecordSet::new(name(dns)?, 60, RecordData::A(alb_ips(lb)))))
        .collect::<Result<Vec<_>, StackError>>()?;
    zones.push(
        Zone::new(
            name(&format!("{region}.elb.amazonaws.com"))?,
            false,
            elb_records,
        )
        .map_err(|e| resource_err("elb zone", e))?,
    );
    let api_records = api_endpoints
        .values()
        .map(|host| {
            Ok(RecordSet::new(
                name(host)?,
                60,
                RecordData::A(vec![GATEWAY_PUBLIC_IP]),
            ))
        })
        .collect::<Result<Vec<_>, StackError>>()?;
    zones.push(
        Zone::new(
            name(&format!("execute-api.{region}.amazonaws.com"))?,
            false,
            api_records,
        )
        .map_err(|e| resource_err("execute-api zone", e))?,
    );
    Ok(zones)
}
