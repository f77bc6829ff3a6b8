//! Checks that need more than one value at a time: uniqueness, references, CIDR nesting, and
//! rules that depend on other fields. Each problem names the field path it is about; the loader
//! turns paths into lines and columns.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net};

use crate::error::DiagnosticKind;
use crate::model::{
    Action, AliasDestination, AuthorizationType, AuthorizerType, ConditionField, ConnectionType,
    IpProtocol, Listener, Protocol, RecordType, Stack,
};
use crate::scalars::{IdentitySource, IntegrationUri};

/// A problem found by validation, not yet located in the file.
#[derive(Debug)]
pub(crate) struct Issue {
    pub path: String,
    pub kind: DiagnosticKind,
    pub message: String,
    pub hint: String,
}

/// Runs every check; returns the problems found (empty when the stack is valid).
pub(crate) fn validate(stack: &Stack) -> Vec<Issue> {
    let mut c = Checker {
        stack,
        issues: Vec::new(),
    };
    c.vpc();
    c.vantage_points();
    c.certificates();
    c.hosted_zones();
    c.http_apis();
    c.domain_names();
    c.vpc_links();
    c.load_balancers();
    c.target_groups();
    c.ecs();
    c.issues.extend(crate::taskdef::check_image_map(stack));
    c.issues
}

struct Checker<'a> {
    stack: &'a Stack,
    issues: Vec<Issue>,
}

/// Checks a parameter mapping key (http-api.md §4.6): `<action>:<target>`, `path` and
/// `statuscode` only with `overwrite`, and no reserved header.
fn mapping_key(key: &str, response: bool) -> Result<(), (String, &'static str)> {
    let hint = if response {
        "use append|overwrite|remove:header.<name> or overwrite:statuscode"
    } else {
        "use append|overwrite|remove:header.<name>, append|overwrite|remove:querystring.<name> or overwrite:path"
    };
    let bad = || Err((format!("{key:?} is not a parameter mapping key"), hint));
    let Some((action, target)) = key.split_once(':') else {
        return bad();
    };
    if !matches!(action, "append" | "overwrite" | "remove") {
        return bad();
    }
    if let Some(name) = target.strip_prefix("header.") {
        let n = name.to_ascii_lowercase();
        let reserved = n.starts_with("access-control-")
            || n.starts_with("apigw-")
            || n.starts_with("x-amz-")
            || n.starts_with("x-amzn-")
            || [
                "authorization",
                "connection",
                "content-encoding",
                "content-length",
                "content-location",
                "forwarded",
                "keep-alive",
                "origin",
                "proxy-authenticate",
                "proxy-authorization",
                "te",
                "trailers",
                "transfer-encoding",
                "upgrade",
                "x-forwarded-for",
                "x-forwarded-host",
                "x-forwarded-proto",
                "via",
            ]
            .contains(&n.as_str());
        if reserved {
            return Err((
                format!("{key:?} maps the reserved header {name:?}"),
                "API Gateway refuses mappings of access-control-*, apigw-*, x-amz*-*, Authorization, Connection, Content-*, Forwarded, Via, X-Forwarded-* and hop-by-hop headers",
            ));
        }
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        {
            return bad();
        }
        return Ok(());
    }
    let only_overwrite = if response {
        target == "statuscode"
    } else {
        target == "path"
    };
    if only_overwrite {
        return if action == "overwrite" {
            Ok(())
        } else {
            Err((
                format!("{key:?}: only overwrite is allowed for {target}"),
                hint,
            ))
        };
    }
    if !response
        && target
            .strip_prefix("querystring.")
            .is_some_and(|n| !n.is_empty())
    {
        return Ok(());
    }
    bad()
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "none are defined".to_owned()
    } else {
        names.join(", ")
    }
}

fn is_dns_name(name: &str, allow_wildcard: bool) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    let body = match name.strip_prefix("*.") {
        Some(rest) if allow_wildcard => rest,
        _ => name,
    };
    !body.is_empty()
        && body.len() <= 253
        && body.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Whether an ELB-style name is valid: ≤32 alphanumerics/hyphens, no hyphen at either end.
fn is_elb_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

pub(crate) fn fargate_memory_ok(cpu: u32, memory: u32) -> bool {
    let (lo, hi, step) = match cpu {
        256 => return matches!(memory, 512 | 1024 | 2048),
        512 => (1024, 4096, 1024),
        1024 => (2048, 8192, 1024),
        2048 => (4096, 16384, 1024),
        4096 => (8192, 30720, 1024),
        8192 => (16384, 61440, 4096),
        16384 => (32768, 122_880, 8192),
        _ => return false,
    };
    (lo..=hi).contains(&memory) && (memory - lo).is_multiple_of(step)
}

impl<'a> Checker<'a> {
    fn issue(
        &mut self,
        path: impl Into<String>,
        kind: DiagnosticKind,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.issues.push(Issue {
            path: path.into(),
            kind,
            message: message.into(),
            hint: hint.into(),
        });
    }

    /// Reports every name that repeats an earlier one. `items` are (path of the name, name).
    /// A JWT authorizer: one header or query identity source, an issuer, 1–50 audiences.
    fn jwt_authorizer(&mut self, path: &str, a: &crate::model::Authorizer) {
        if a.identity_source.len() != 1 {
            self.issue(
                format!("{path}.identity_source"),
                DiagnosticKind::InvalidValue,
                format!(
                    "a JWT authorizer needs exactly one identity source, found {}",
                    a.identity_source.len()
                ),
                "use identity_source: [\"$request.header.Authorization\"]",
            );
        } else if matches!(
            a.identity_source[0],
            IdentitySource::Context(_) | IdentitySource::StageVariable(_)
        ) {
            self.issue(
                format!("{path}.identity_source[0]"),
                DiagnosticKind::InvalidValue,
                "a JWT authorizer reads the token from a header or a query string parameter",
                "use $request.header.<name> or $request.querystring.<name>",
            );
        }
        for (field, set) in [
            ("authorizer_uri", a.authorizer_uri.is_some()),
            (
                "authorizer_payload_format_version",
                a.authorizer_payload_format_version.is_some(),
            ),
            ("enable_simple_responses", a.enable_simple_responses),
            (
                "authorizer_result_ttl_in_seconds",
                a.authorizer_result_ttl_in_seconds != 0,
            ),
        ] {
            if set {
                self.issue(
                    format!("{path}.{field}"),
                    DiagnosticKind::Conflict,
                    format!("{field} applies only to REQUEST authorizers"),
                    "remove it, or set authorizer_type: REQUEST",
                );
            }
        }
        let Some(jwt) = &a.jwt_configuration else {
            self.issue(
                path,
                DiagnosticKind::Schema,
                "a JWT authorizer needs jwt_configuration",
                "add jwt_configuration: {issuer: local, audience: [pets-client]}",
            );
            return;
        };
        let issuer = &jwt.issuer;
        if issuer != crate::model::JwtConfiguration::LOCAL_ISSUER
            && !(issuer.starts_with("https://") || issuer.starts_with("http://"))
        {
            self.issue(
                format!("{path}.jwt_configuration.issuer"),
                DiagnosticKind::InvalidValue,
                format!("issuer {issuer:?} is neither `local` nor a URL"),
                "use `local` for airlock's built-in issuer, or the issuer's https:// URL",
            );
        }
        if issuer == crate::model::JwtConfiguration::LOCAL_ISSUER
            && (jwt.jwks_file.is_some() || jwt.ca_bundle.is_some())
        {
            self.issue(
                format!("{path}.jwt_configuration"),
                DiagnosticKind::Conflict,
                "jwks_file and ca_bundle apply only to an external issuer",
                "remove them; the local issuer's keys are airlock's own",
            );
        }
        let audience = &jwt.audience;
        if audience.is_empty() || audience.len() > 50 {
            self.issue(
                format!("{path}.jwt_configuration.audience"),
                DiagnosticKind::InvalidValue,
                format!(
                    "a JWT authorizer needs 1 to 50 audiences, found {}",
                    audience.len()
                ),
                "list the accepted `aud` values, e.g. audience: [pets-client]",
            );
        }
    }

    /// A REQUEST authorizer: a function, a payload format, simple responses only with 2.0,
    /// a TTL of 0–3600 s that needs an identity source.
    fn request_authorizer(&mut self, path: &str, a: &crate::model::Authorizer) {
        use crate::model::{AuthorizerPayloadFormat, AuthorizerUri};
        if a.jwt_configuration.is_some() {
            self.issue(
                format!("{path}.jwt_configuration"),
                DiagnosticKind::Conflict,
                "jwt_configuration applies only to JWT authorizers",
                "remove it, or set authorizer_type: JWT",
            );
        }
        match &a.authorizer_uri {
            None => self.issue(
                path,
                DiagnosticKind::Schema,
                "a REQUEST authorizer needs authorizer_uri",
                "add authorizer_uri: http://127.0.0.1:<port>/<path>, or authorizer_uri: {command: [<program>, <args>...]}",
            ),
            Some(AuthorizerUri::Url(url)) => {
                let host = url
                    .strip_prefix("http://")
                    .or_else(|| url.strip_prefix("https://"))
                    .map(|rest| rest.split('/').next().unwrap_or_default());
                let host = host.map(|h| match h.rsplit_once(':') {
                    Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
                    _ => h,
                });
                let loopback = host.is_some_and(|h| {
                    h.eq_ignore_ascii_case("localhost")
                        || h.trim_start_matches('[')
                            .trim_end_matches(']')
                            .parse::<std::net::IpAddr>()
                            .is_ok_and(|ip| ip.is_loopback())
                });
                if !loopback {
                    self.issue(
                        format!("{path}.authorizer_uri"),
                        DiagnosticKind::InvalidValue,
                        format!("{url:?} is not an http(s) URL on a loopback address"),
                        "airlock runs the function locally: serve it on 127.0.0.1, or use {command: [...]}",
                    );
                }
            }
            Some(AuthorizerUri::Command { command }) => {
                if command.first().is_none_or(String::is_empty) {
                    self.issue(
                        format!("{path}.authorizer_uri.command"),
                        DiagnosticKind::InvalidValue,
                        "the command is empty",
                        "give the program and its arguments, e.g. command: [python3, authorizer.py]",
                    );
                }
            }
        }
        match a.authorizer_payload_format_version {
            None => self.issue(
                path,
                DiagnosticKind::Schema,
                "a REQUEST authorizer needs authorizer_payload_format_version",
                "add authorizer_payload_format_version: \"2.0\" (or \"1.0\")",
            ),
            Some(AuthorizerPayloadFormat::V1) if a.enable_simple_responses => self.issue(
                format!("{path}.enable_simple_responses"),
                DiagnosticKind::Conflict,
                "simple responses need payload format 2.0",
                "set authorizer_payload_format_version: \"2.0\", or remove enable_simple_responses",
            ),
            Some(_) => {}
        }
        if a.authorizer_result_ttl_in_seconds > 3600 {
            self.issue(
                format!("{path}.authorizer_result_ttl_in_seconds"),
                DiagnosticKind::InvalidValue,
                format!(
                    "{} s is outside 0..=3600",
                    a.authorizer_result_ttl_in_seconds
                ),
                "use 0 (no caching) to 3600",
            );
        } else if a.authorizer_result_ttl_in_seconds > 0 && a.identity_source.is_empty() {
            self.issue(
                format!("{path}.authorizer_result_ttl_in_seconds"),
                DiagnosticKind::Conflict,
                "caching needs at least one identity source (the cache key)",
                "add identity_source entries, or set authorizer_result_ttl_in_seconds: 0",
            );
        }
    }

    fn unique<'n>(&mut self, what: &str, items: impl IntoIterator<Item = (String, &'n str)>) {
        let mut seen: HashMap<String, String> = HashMap::new();
        for (path, name) in items {
            if let Some(first) = seen.get(&name.to_ascii_lowercase()) {
                let message =
                    format!("duplicate {what} {name:?}; it is already defined at {first}");
                self.issue(
                    path,
                    DiagnosticKind::Duplicate,
                    message,
                    format!("give each {what} a different name"),
                );
            } else {
                seen.insert(name.to_ascii_lowercase(), path);
            }
        }
    }

    /// Reports `name` unless it is one of `known`.
    fn reference(
        &mut self,
        path: String,
        what: &str,
        plural: &str,
        name: &str,
        known: &[&str],
        hint: &str,
    ) -> bool {
        if known.contains(&name) {
            return true;
        }
        self.issue(
            path,
            DiagnosticKind::UnknownReference,
            format!("no {what} named {name:?}; known {plural}: {}", list(known)),
            hint,
        );
        false
    }

    fn subnet_names(&self) -> Vec<&'a str> {
        self.stack
            .vpc
            .subnets
            .iter()
            .map(|s| s.name.as_str())
            .collect()
    }

    /// The addresses tasks can get in `subnets`: each one's usable addresses, less the
    /// interfaces the stack places there before any task (load balancer nodes, VPC link
    /// interfaces, the `vpc` vantage point). Other services' tasks are not counted: where they
    /// land is decided at run time, and the admin endpoint checks the live count.
    fn addresses_for_tasks(&self, subnets: &[String]) -> u64 {
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
                crate::change::usable_addresses(s.cidr_block.prefix_len())
                    .saturating_sub(fixed(&s.name))
            })
            .sum()
    }

    fn group_names(&self) -> Vec<&'a str> {
        self.stack
            .vpc
            .security_groups
            .iter()
            .map(|g| g.group_name.as_str())
            .collect()
    }

    fn subnet_refs(&mut self, base: &str, subnets: &[String]) {
        let known = self.subnet_names();
        for (i, s) in subnets.iter().enumerate() {
            self.reference(
                format!("{base}[{i}]"),
                "subnet",
                "subnets",
                s,
                &known,
                "use the name of a subnet under vpc.subnets",
            );
        }
        self.unique(
            "subnet reference",
            subnets
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("{base}[{i}]"), s.as_str())),
        );
    }

    fn group_refs(&mut self, base: &str, groups: &[String]) {
        let known = self.group_names();
        for (i, g) in groups.iter().enumerate() {
            self.reference(
                format!("{base}[{i}]"),
                "security group",
                "security groups",
                g,
                &known,
                "use a group_name from vpc.security_groups",
            );
        }
        self.unique(
            "security group reference",
            groups
                .iter()
                .enumerate()
                .map(|(i, g)| (format!("{base}[{i}]"), g.as_str())),
        );
    }

    fn cidr_shape(&mut self, path: &str, what: &str, net: Ipv4Net) {
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

    fn vpc(&mut self) {
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

    fn rule(&mut self, path: &str, protocol: IpProtocol, from: Option<i32>, to: Option<i32>) {
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

    fn peer(
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

    fn vantage_points(&mut self) {
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

    fn certificates(&mut self) {
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

    fn hosted_zones(&mut self) {
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

    fn alias(
        &mut self,
        base: &str,
        name: &str,
        kind: RecordType,
        ttl: Option<u32>,
        has_values: bool,
        alias: &crate::model::AliasTarget,
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

    fn plain_record(
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

    fn http_apis(&mut self) {
        let stack = self.stack;
        self.unique(
            "HTTP API",
            stack
                .http_apis
                .iter()
                .enumerate()
                .map(|(i, a)| (format!("http_apis[{i}].name"), a.name.as_str())),
        );
        let links: Vec<&str> = stack.vpc_links.iter().map(|l| l.name.as_str()).collect();
        let lbs: Vec<&str> = stack
            .load_balancers
            .iter()
            .map(|l| l.name.as_str())
            .collect();
        self.unique(
            "access key",
            stack.iam_credentials.iter().enumerate().map(|(i, c)| {
                (
                    format!("iam_credentials[{i}].access_key_id"),
                    c.access_key_id.as_str(),
                )
            }),
        );
        for (i, c) in stack.iam_credentials.iter().enumerate() {
            let parts: Vec<&str> = c.principal.split(':').collect();
            let is_iam_arn = parts.len() == 6
                && parts[..3] == ["arn", "aws", "iam"]
                && parts[4].len() == 12
                && parts[4].bytes().all(|b| b.is_ascii_digit())
                && !parts[5].is_empty();
            if !is_iam_arn {
                self.issue(
                    format!("iam_credentials[{i}].principal"),
                    DiagnosticKind::InvalidValue,
                    format!("{:?} is not an IAM principal ARN", c.principal),
                    "write arn:aws:iam::<12-digit account>:user/<name> (or role/<name>)",
                );
            }
            if c.access_key_id.is_empty() || c.secret_access_key.is_empty() {
                self.issue(
                    format!("iam_credentials[{i}]"),
                    DiagnosticKind::InvalidValue,
                    "access_key_id and secret_access_key must not be empty",
                    "give the key pair clients sign with",
                );
            }
        }
        for (i, api) in stack.http_apis.iter().enumerate() {
            let base = format!("http_apis[{i}]");
            self.unique(
                "authorizer",
                api.authorizers
                    .iter()
                    .enumerate()
                    .map(|(j, a)| (format!("{base}.authorizers[{j}].name"), a.name.as_str())),
            );
            self.unique(
                "integration",
                api.integrations
                    .iter()
                    .enumerate()
                    .map(|(j, a)| (format!("{base}.integrations[{j}].name"), a.name.as_str())),
            );
            self.unique(
                "stage",
                api.stages.iter().enumerate().map(|(j, s)| {
                    (
                        format!("{base}.stages[{j}].stage_name"),
                        s.stage_name.as_str(),
                    )
                }),
            );

            for (j, a) in api.authorizers.iter().enumerate() {
                let path = format!("{base}.authorizers[{j}]");
                match a.authorizer_type {
                    AuthorizerType::Jwt => self.jwt_authorizer(&path, a),
                    AuthorizerType::Request => self.request_authorizer(&path, a),
                }
            }

            for (j, integ) in api.integrations.iter().enumerate() {
                let path = format!("{base}.integrations[{j}]");
                if !(50..=30_000).contains(&integ.timeout_in_millis) {
                    self.issue(
                        format!("{path}.timeout_in_millis"),
                        DiagnosticKind::InvalidValue,
                        format!(
                            "timeout {} ms is outside 50..=30000",
                            integ.timeout_in_millis
                        ),
                        "HTTP APIs allow 50 to 30000 ms; the default is 30000",
                    );
                }
                match integ.connection_type {
                    ConnectionType::VpcLink => {
                        match &integ.connection_id {
                            Some(id) => {
                                self.reference(
                                    format!("{path}.connection_id"),
                                    "VPC link",
                                    "VPC links",
                                    id,
                                    &links,
                                    "use a name from vpc_links",
                                );
                            }
                            None => self.issue(
                                &path,
                                DiagnosticKind::Schema,
                                "a VPC_LINK integration needs connection_id",
                                "set connection_id to the name of a VPC link",
                            ),
                        }
                        match &integ.integration_uri {
                            IntegrationUri::Listener(target) => {
                                let uri = format!("{path}.integration_uri");
                                if self.reference(
                                    uri.clone(),
                                    "load balancer",
                                    "load balancers",
                                    &target.load_balancer,
                                    &lbs,
                                    "write `<load balancer name>:<listener port>` with a name from load_balancers",
                                ) && stack.listener(target).is_none()
                                {
                                    let ports: Vec<String> = stack
                                        .load_balancer(&target.load_balancer)
                                        .map(|lb| lb.listeners.iter().map(|l| l.port.to_string()).collect())
                                        .unwrap_or_default();
                                    let ports: Vec<&str> = ports.iter().map(String::as_str).collect();
                                    self.issue(
                                        uri,
                                        DiagnosticKind::UnknownReference,
                                        format!(
                                            "load balancer {:?} has no listener on port {}; its listener ports: {}",
                                            target.load_balancer,
                                            target.port,
                                            list(&ports)
                                        ),
                                        "point at one of the load balancer's listener ports",
                                    );
                                }
                            }
                            IntegrationUri::Url(_) => self.issue(
                                format!("{path}.integration_uri"),
                                DiagnosticKind::Conflict,
                                "a VPC_LINK integration targets a load balancer listener, not a URL",
                                "write `<load balancer name>:<listener port>`, e.g. pets-alb:443",
                            ),
                        }
                    }
                    ConnectionType::Internet => {
                        if integ.connection_id.is_some() {
                            self.issue(
                                format!("{path}.connection_id"),
                                DiagnosticKind::Conflict,
                                "connection_id applies only to VPC_LINK integrations",
                                "remove it, or set connection_type: VPC_LINK",
                            );
                        }
                        if integ.tls_config.is_some() {
                            self.issue(
                                format!("{path}.tls_config"),
                                DiagnosticKind::Conflict,
                                "tls_config applies only to private (VPC_LINK) integrations",
                                "remove it; an https:// URL already uses TLS",
                            );
                        }
                        if let IntegrationUri::Listener(_) = integ.integration_uri {
                            self.issue(
                                format!("{path}.integration_uri"),
                                DiagnosticKind::Conflict,
                                "an INTERNET integration needs an http:// or https:// URL",
                                "write a URL, or set connection_type: VPC_LINK to reach a listener",
                            );
                        }
                    }
                }
                if let Some(tls) = &integ.tls_config
                    && !is_dns_name(&tls.server_name_to_verify, false)
                {
                    self.issue(
                        format!("{path}.tls_config.server_name_to_verify"),
                        DiagnosticKind::InvalidValue,
                        format!("{:?} is not a DNS name", tls.server_name_to_verify),
                        "write the host name the listener's certificate covers",
                    );
                }
                for k in integ.request_parameters.keys() {
                    if let Err((message, hint)) = mapping_key(k, false) {
                        self.issue(
                            format!("{path}.request_parameters"),
                            DiagnosticKind::InvalidValue,
                            message,
                            hint,
                        );
                    }
                }
                for (status, entries) in &integ.response_parameters {
                    if !status
                        .parse::<u16>()
                        .is_ok_and(|s| (200..=599).contains(&s))
                    {
                        self.issue(
                            format!("{path}.response_parameters"),
                            DiagnosticKind::InvalidValue,
                            format!("{status:?} is not an integration status code"),
                            "key response mappings by a status code from 200 to 599, like \"500\"",
                        );
                    }
                    for k in entries.keys() {
                        if let Err((message, hint)) = mapping_key(k, true) {
                            self.issue(
                                format!("{path}.response_parameters"),
                                DiagnosticKind::InvalidValue,
                                message,
                                hint,
                            );
                        }
                    }
                }
            }
            if let Some(cors) = &api.cors_configuration
                && cors.max_age.is_some_and(|a| !(-1..=86_400).contains(&a))
            {
                self.issue(
                    format!("{base}.cors_configuration.max_age"),
                    DiagnosticKind::InvalidValue,
                    "max_age is outside -1..=86400",
                    "use -1 to 86400 seconds",
                );
            }

            let integrations: Vec<&str> =
                api.integrations.iter().map(|x| x.name.as_str()).collect();
            let authorizers: Vec<&str> = api.authorizers.iter().map(|x| x.name.as_str()).collect();
            let mut shapes = HashMap::new();
            for (j, route) in api.routes.iter().enumerate() {
                let path = format!("{base}.routes[{j}]");
                if let Some(first) = shapes.insert(route.route_key.shape(), j) {
                    self.issue(
                        format!("{path}.route_key"),
                        DiagnosticKind::Conflict,
                        format!(
                            "route {:?} conflicts with {:?} at {base}.routes[{first}]: same method and path shape",
                            route.route_key.to_string(),
                            api.routes[first].route_key.to_string()
                        ),
                        "variable names do not distinguish routes; remove one of them",
                    );
                }
                self.reference(
                    format!("{path}.target"),
                    "integration",
                    "integrations",
                    &route.target,
                    &integrations,
                    "set target to the name of one of this API's integrations",
                );
                let wanted = match route.authorization_type {
                    AuthorizationType::Jwt => Some(("JWT", AuthorizerType::Jwt)),
                    AuthorizationType::Custom => Some(("CUSTOM", AuthorizerType::Request)),
                    AuthorizationType::None | AuthorizationType::AwsIam => None,
                };
                match (wanted, &route.authorizer_id) {
                    (Some((kind, ty)), Some(id)) => {
                        if self.reference(
                            format!("{path}.authorizer_id"),
                            "authorizer",
                            "authorizers",
                            id,
                            &authorizers,
                            "set authorizer_id to the name of one of this API's authorizers",
                        ) && api
                            .authorizers
                            .iter()
                            .any(|a| a.name == *id && a.authorizer_type != ty)
                        {
                            self.issue(
                                format!("{path}.authorizer_id"),
                                DiagnosticKind::Conflict,
                                format!("a {kind} route needs a {} authorizer; {id:?} is not one", if ty == AuthorizerType::Jwt { "JWT" } else { "REQUEST" }),
                                "point at an authorizer of the matching type, or change authorization_type",
                            );
                        }
                    }
                    (Some((kind, _)), None) => self.issue(
                        &path,
                        DiagnosticKind::Schema,
                        format!("a {kind} route needs authorizer_id"),
                        "add authorizer_id: <authorizer name>, or use authorization_type: NONE",
                    ),
                    (None, Some(_)) => self.issue(
                        format!("{path}.authorizer_id"),
                        DiagnosticKind::Conflict,
                        "authorizer_id is set but authorization_type is NONE or AWS_IAM",
                        "set authorization_type: JWT or CUSTOM, or remove authorizer_id",
                    ),
                    (None, None) => {}
                }
                if route.authorization_type != AuthorizationType::Jwt
                    && !route.authorization_scopes.is_empty()
                {
                    self.issue(
                        format!("{path}.authorization_scopes"),
                        DiagnosticKind::Conflict,
                        "authorization_scopes apply only to JWT routes",
                        "set authorization_type: JWT, or remove the scopes",
                    );
                }
                if route.authorization_scopes.len() > 10 {
                    self.issue(
                        format!("{path}.authorization_scopes"),
                        DiagnosticKind::InvalidValue,
                        format!(
                            "{} scopes; a route allows at most 10",
                            route.authorization_scopes.len()
                        ),
                        "keep at most 10 scopes",
                    );
                }
                for (k, scope) in route.authorization_scopes.iter().enumerate() {
                    if scope.is_empty() || scope.chars().any(char::is_whitespace) {
                        self.issue(
                            format!("{path}.authorization_scopes[{k}]"),
                            DiagnosticKind::InvalidValue,
                            format!("{scope:?} is not a scope"),
                            "a scope is one non-empty word without spaces, like pets/write",
                        );
                    }
                }
            }

            let route_keys: Vec<String> =
                api.routes.iter().map(|r| r.route_key.to_string()).collect();
            for (j, stage) in api.stages.iter().enumerate() {
                let stage_path = format!("{base}.stages[{j}]");
                for key in stage.route_settings.keys() {
                    if !route_keys.contains(key) {
                        let keys: Vec<&str> = route_keys.iter().map(String::as_str).collect();
                        self.issue(
                            format!("{stage_path}.route_settings"),
                            DiagnosticKind::UnknownReference,
                            format!("route_settings names {key:?}, which is not a route of this API; its routes: {}", list(&keys)),
                            "key route settings by a route key exactly as written in routes",
                        );
                    }
                }
                if let Some(log) = &stage.access_log_settings {
                    if log.log_group().is_none() {
                        self.issue(
                            format!("{stage_path}.access_log_settings.destination_arn"),
                            DiagnosticKind::InvalidValue,
                            format!("{:?} is not a log group ARN", log.destination_arn),
                            "write arn:aws:logs:<region>:<account>:log-group:<name>",
                        );
                    }
                    let preset = matches!(log.format.as_str(), "CLF" | "JSON");
                    if !preset && !log.format.contains("$context.requestId") {
                        self.issue(
                            format!("{stage_path}.access_log_settings.format"),
                            DiagnosticKind::InvalidValue,
                            "an access log format must contain $context.requestId",
                            "add $context.requestId, or use the CLF or JSON preset",
                        );
                    }
                    if log.format.len() > 1024 || log.format.contains('\n') {
                        self.issue(
                            format!("{stage_path}.access_log_settings.format"),
                            DiagnosticKind::InvalidValue,
                            "an access log format is one line of at most 1024 characters",
                            "shorten the format",
                        );
                    }
                }
                let path = format!("{base}.stages[{j}].stage_variables");
                if stage.stage_variables.len() > 100 {
                    self.issue(
                        &path,
                        DiagnosticKind::InvalidValue,
                        "more than 100 stage variables",
                        "keep at most 100",
                    );
                }
                for (k, v) in &stage.stage_variables {
                    let key_ok = !k.is_empty()
                        && k.len() <= 64
                        && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                    let value_ok = !v.is_empty()
                        && v.len() <= 512
                        && v.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-._~:/?#&=,".contains(&b));
                    if !key_ok || !value_ok {
                        self.issue(
                            format!("{path}.{k}"),
                            DiagnosticKind::InvalidValue,
                            format!("stage variable {k:?} is not valid"),
                            "names: 1-64 letters, digits, `_`; values: 1-512 of letters, digits and -._~:/?#&=,",
                        );
                    }
                }
            }
        }
    }

    fn domain_names(&mut self) {
        let stack = self.stack;
        self.unique(
            "custom domain",
            stack.domain_names.iter().enumerate().map(|(i, d)| {
                (
                    format!("domain_names[{i}].domain_name"),
                    d.domain_name.as_str(),
                )
            }),
        );
        let certs: Vec<&str> = stack.certificates.iter().map(|c| c.name.as_str()).collect();
        let apis: Vec<&str> = stack.http_apis.iter().map(|a| a.name.as_str()).collect();
        for (i, d) in stack.domain_names.iter().enumerate() {
            let base = format!("domain_names[{i}]");
            if !is_dns_name(&d.domain_name, false)
                || d.domain_name != d.domain_name.to_ascii_lowercase()
            {
                self.issue(
                    format!("{base}.domain_name"),
                    DiagnosticKind::InvalidValue,
                    format!("{:?} is not a lower-case DNS name", d.domain_name),
                    "custom domain names must be lower case, like api.example.com",
                );
            }
            if self.reference(
                format!("{base}.certificate"),
                "certificate",
                "certificates",
                &d.certificate,
                &certs,
                "use a name from certificates",
            ) && stack
                .certificate(&d.certificate)
                .is_some_and(|c| !c.covers(&d.domain_name))
            {
                self.issue(
                    format!("{base}.certificate"),
                    DiagnosticKind::Conflict,
                    format!("certificate {:?} does not cover {:?}", d.certificate, d.domain_name),
                    "use a certificate whose domain_name or subject_alternative_names match the domain",
                );
            }
            let mut keys: HashMap<&str, usize> = HashMap::new();
            for (j, m) in d.api_mappings.iter().enumerate() {
                let path = format!("{base}.api_mappings[{j}]");
                if self.reference(
                    format!("{path}.api"),
                    "HTTP API",
                    "HTTP APIs",
                    &m.api,
                    &apis,
                    "use a name from http_apis",
                ) && let Some(api) = stack.http_api(&m.api)
                    && api.stage(&m.stage).is_none()
                {
                    let stages: Vec<&str> =
                        api.stages.iter().map(|s| s.stage_name.as_str()).collect();
                    self.issue(
                        format!("{path}.stage"),
                        DiagnosticKind::UnknownReference,
                        format!(
                            "API {:?} has no stage named {:?}; its stages: {}",
                            m.api,
                            m.stage.as_str(),
                            list(&stages)
                        ),
                        "map one of the API's stages, or add the stage to the API",
                    );
                }
                let key = m.api_mapping_key.as_str();
                let key_ok = key.len() <= 300
                    && !key.starts_with('/')
                    && !key.ends_with('/')
                    && !key.contains("//")
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"$-_.+!*'()/".contains(&b));
                if !key_ok {
                    self.issue(
                        format!("{path}.api_mapping_key"),
                        DiagnosticKind::InvalidValue,
                        format!("{key:?} is not a valid API mapping key"),
                        "use up to 300 of letters, digits and $-_.+!*'()/ without leading or trailing `/` (empty maps the root)",
                    );
                }
                if let Some(first) = keys.insert(key, j) {
                    self.issue(
                        format!("{path}.api_mapping_key"),
                        DiagnosticKind::Duplicate,
                        format!("API mapping key {key:?} is already used at {base}.api_mappings[{first}]"),
                        "give each mapping of a domain a different key",
                    );
                }
            }
        }
    }

    fn vpc_links(&mut self) {
        let stack = self.stack;
        self.unique(
            "VPC link",
            stack
                .vpc_links
                .iter()
                .enumerate()
                .map(|(i, l)| (format!("vpc_links[{i}].name"), l.name.as_str())),
        );
        for (i, link) in stack.vpc_links.iter().enumerate() {
            let base = format!("vpc_links[{i}]");
            if link.name.is_empty() || link.name.len() > 128 {
                self.issue(
                    format!("{base}.name"),
                    DiagnosticKind::InvalidValue,
                    "a VPC link name has 1 to 128 characters",
                    "shorten the name",
                );
            }
            if link.subnet_ids.is_empty() || link.subnet_ids.len() > 10 {
                self.issue(
                    format!("{base}.subnet_ids"),
                    DiagnosticKind::InvalidValue,
                    format!(
                        "a VPC link needs 1 to 10 subnets, found {}",
                        link.subnet_ids.len()
                    ),
                    "list the subnets its interfaces go in",
                );
            }
            self.subnet_refs(&format!("{base}.subnet_ids"), &link.subnet_ids);
            self.group_refs(
                &format!("{base}.security_group_ids"),
                &link.security_group_ids,
            );
        }
    }

    fn load_balancers(&mut self) {
        let stack = self.stack;
        self.unique(
            "load balancer",
            stack
                .load_balancers
                .iter()
                .enumerate()
                .map(|(i, l)| (format!("load_balancers[{i}].name"), l.name.as_str())),
        );
        let certs: Vec<&str> = stack.certificates.iter().map(|c| c.name.as_str()).collect();
        // Target group name → the load balancer that first forwards to it.
        let mut owners: HashMap<&str, &str> = HashMap::new();
        for (i, lb) in stack.load_balancers.iter().enumerate() {
            let base = format!("load_balancers[{i}]");
            if !is_elb_name(&lb.name) || lb.name.starts_with("internal-") {
                self.issue(
                    format!("{base}.name"),
                    DiagnosticKind::InvalidValue,
                    format!("{:?} is not a valid load balancer name", lb.name),
                    "use at most 32 letters, digits and hyphens, not starting or ending with a hyphen nor starting with `internal-`",
                );
            }
            self.lb_attributes(&format!("{base}.attributes"), &lb.attributes);
            self.subnet_refs(&format!("{base}.subnets"), &lb.subnets);
            let mut zones: HashMap<&str, &str> = HashMap::new();
            for (j, name) in lb.subnets.iter().enumerate() {
                if let Some(subnet) = stack.subnet(name)
                    && let Some(other) = zones.insert(&subnet.availability_zone, name)
                    && other != name
                {
                    self.issue(
                        format!("{base}.subnets[{j}]"),
                        DiagnosticKind::Conflict,
                        format!(
                            "subnets {other:?} and {name:?} are both in {}; a load balancer takes one subnet per availability zone",
                            subnet.availability_zone
                        ),
                        "pick subnets in different availability zones",
                    );
                }
            }
            if zones.len() < 2 {
                self.issue(
                    format!("{base}.subnets"),
                    DiagnosticKind::InvalidValue,
                    format!("a load balancer needs subnets in at least two availability zones, found {}", zones.len()),
                    "list at least two subnets in different availability zones (alb-ecs-dns.md §1.1)",
                );
            }
            self.group_refs(&format!("{base}.security_groups"), &lb.security_groups);

            let mut ports: HashMap<u16, usize> = HashMap::new();
            for (j, listener) in lb.listeners.iter().enumerate() {
                let lpath = format!("{base}.listeners[{j}]");
                if listener.port == 0 {
                    self.issue(
                        format!("{lpath}.port"),
                        DiagnosticKind::InvalidValue,
                        "port 0 is not a listener port",
                        "use a port between 1 and 65535",
                    );
                }
                if let Some(first) = ports.insert(listener.port, j) {
                    self.issue(
                        format!("{lpath}.port"),
                        DiagnosticKind::Duplicate,
                        format!(
                            "port {} is already used by {base}.listeners[{first}]",
                            listener.port
                        ),
                        "give each listener of a load balancer its own port",
                    );
                }
                match listener.protocol {
                    Protocol::Https if listener.certificates.is_empty() => self.issue(
                        &lpath,
                        DiagnosticKind::Schema,
                        "an HTTPS listener needs a certificate",
                        "add certificates: [<certificate name>]",
                    ),
                    Protocol::Http if !listener.certificates.is_empty() => self.issue(
                        format!("{lpath}.certificates"),
                        DiagnosticKind::Conflict,
                        "an HTTP listener takes no certificates",
                        "remove certificates, or use protocol: HTTPS",
                    ),
                    _ => {}
                }
                for (k, cert) in listener.certificates.iter().enumerate() {
                    self.reference(
                        format!("{lpath}.certificates[{k}]"),
                        "certificate",
                        "certificates",
                        cert,
                        &certs,
                        "use a name from certificates",
                    );
                }
                if listener.default_actions.len() != 1 {
                    self.issue(
                        format!("{lpath}.default_actions"),
                        DiagnosticKind::InvalidValue,
                        format!(
                            "a listener needs exactly one default action, found {}",
                            listener.default_actions.len()
                        ),
                        "give it one forward, redirect or fixed-response action",
                    );
                }
                self.actions(
                    &format!("{lpath}.default_actions"),
                    listener,
                    &listener.default_actions,
                    &lb.name,
                    &mut owners,
                );
                self.rules(&lpath, listener, &lb.name, &mut owners);
            }
        }
    }

    fn rules<'s>(
        &mut self,
        lpath: &str,
        listener: &'s Listener,
        lb: &'s str,
        owners: &mut HashMap<&'s str, &'s str>,
    ) {
        let mut priorities: HashMap<u32, usize> = HashMap::new();
        for (k, rule) in listener.rules.iter().enumerate() {
            let rpath = format!("{lpath}.rules[{k}]");
            if !(1..=50_000).contains(&rule.priority) {
                self.issue(
                    format!("{rpath}.priority"),
                    DiagnosticKind::InvalidValue,
                    format!("priority {} is outside 1..=50000", rule.priority),
                    "use a priority between 1 and 50000",
                );
            }
            if let Some(first) = priorities.insert(rule.priority, k) {
                self.issue(
                    format!("{rpath}.priority"),
                    DiagnosticKind::Duplicate,
                    format!(
                        "priority {} is already used by {lpath}.rules[{first}]",
                        rule.priority
                    ),
                    "give each rule of a listener its own priority",
                );
            }
            if rule.conditions.is_empty() {
                self.issue(
                    &rpath,
                    DiagnosticKind::Schema,
                    "a rule needs at least one condition",
                    "add conditions, or use the listener's default action",
                );
            }
            let mut once: HashSet<ConditionField> = HashSet::new();
            let mut total = 0;
            for (m, cond) in rule.conditions.iter().enumerate() {
                let cpath = format!("{rpath}.conditions[{m}]");
                total += cond.values.len();
                if cond.values.is_empty() || cond.values.len() > 3 {
                    self.issue(
                        format!("{cpath}.values"),
                        DiagnosticKind::InvalidValue,
                        format!(
                            "a condition takes 1 to 3 values, found {}",
                            cond.values.len()
                        ),
                        "split the values over several rules",
                    );
                }
                let repeatable = matches!(
                    cond.field,
                    ConditionField::HttpHeader | ConditionField::QueryString
                );
                if !repeatable && !once.insert(cond.field) {
                    self.issue(
                        format!("{cpath}.field"),
                        DiagnosticKind::Duplicate,
                        "this condition field appears twice in one rule",
                        "put all values in one condition (they are OR-ed)",
                    );
                }
                match (cond.field, &cond.http_header_name) {
                    (ConditionField::HttpHeader, None) => self.issue(
                        &cpath,
                        DiagnosticKind::Schema,
                        "an http-header condition needs http_header_name",
                        "add http_header_name: <header>",
                    ),
                    (ConditionField::HttpHeader, Some(_)) | (_, None) => {}
                    (_, Some(_)) => self.issue(
                        format!("{cpath}.http_header_name"),
                        DiagnosticKind::Conflict,
                        "http_header_name applies only to http-header conditions",
                        "remove it",
                    ),
                }
                for (n, v) in cond.values.iter().enumerate() {
                    let ok = match cond.field {
                        ConditionField::SourceIp => v.parse::<IpNet>().is_ok(),
                        ConditionField::HttpRequestMethod => {
                            !v.is_empty()
                                && v.len() <= 40
                                && v.bytes()
                                    .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
                        }
                        ConditionField::PathPattern => v.starts_with('/') || v.starts_with('*'),
                        _ => !v.is_empty() && v.len() <= 128,
                    };
                    if !ok || v.len() > 128 {
                        self.issue(
                            format!("{cpath}.values[{n}]"),
                            DiagnosticKind::InvalidValue,
                            format!("{v:?} is not a valid value for this condition"),
                            match cond.field {
                                ConditionField::SourceIp => "write a CIDR like 10.0.0.0/16",
                                ConditionField::HttpRequestMethod => {
                                    "write an upper-case method like GET"
                                }
                                ConditionField::PathPattern => "write a path pattern like /img/*",
                                _ => "use 1 to 128 characters",
                            },
                        );
                    }
                }
            }
            if total > 5 {
                self.issue(
                    format!("{rpath}.conditions"),
                    DiagnosticKind::InvalidValue,
                    format!("{total} condition values; a rule allows at most 5"),
                    "split the rule",
                );
            }
            if rule.actions.len() != 1 {
                self.issue(
                    format!("{rpath}.actions"),
                    DiagnosticKind::InvalidValue,
                    format!(
                        "a rule needs exactly one action, found {}",
                        rule.actions.len()
                    ),
                    "give it one forward, redirect or fixed-response action",
                );
            }
            self.actions(
                &format!("{rpath}.actions"),
                listener,
                &rule.actions,
                lb,
                owners,
            );
        }
    }

    fn actions<'s>(
        &mut self,
        base: &str,
        listener: &Listener,
        actions: &'s [Action],
        lb: &'s str,
        owners: &mut HashMap<&'s str, &'s str>,
    ) {
        let tgs: Vec<&str> = self
            .stack
            .target_groups
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        for (i, action) in actions.iter().enumerate() {
            let forwards: Vec<(String, &'s str)> = match action {
                Action::Forward { target_group } => {
                    vec![(format!("{base}[{i}].target_group"), target_group.as_str())]
                }
                Action::WeightedForward(f) => f
                    .target_groups
                    .iter()
                    .enumerate()
                    .map(|(j, t)| {
                        (
                            format!("{base}[{i}].target_groups[{j}].target_group"),
                            t.target_group.as_str(),
                        )
                    })
                    .collect(),
                _ => Vec::new(),
            };
            for (path, target_group) in forwards {
                if self.reference(
                    path.clone(),
                    "target group",
                    "target groups",
                    target_group,
                    &tgs,
                    "use a name from target_groups",
                ) {
                    let owner = *owners.entry(target_group).or_insert(lb);
                    if owner != lb {
                        self.issue(
                            path,
                            DiagnosticKind::Conflict,
                            format!("target group {target_group:?} is already used by load balancer {owner:?}"),
                            "a target group belongs to one load balancer; create another target group",
                        );
                    }
                }
            }
            if let Action::WeightedForward(f) = action {
                self.weighted_forward(&format!("{base}[{i}]"), f);
            }
            match action {
                Action::Forward { .. } | Action::WeightedForward(_) => {}
                Action::Redirect(r) => {
                    if listener.protocol == Protocol::Https && r.protocol.as_deref() == Some("HTTP")
                    {
                        self.issue(
                            format!("{base}[{i}].protocol"),
                            DiagnosticKind::InvalidValue,
                            "an HTTPS listener cannot redirect to HTTP",
                            "redirect to HTTPS",
                        );
                    }
                }
                Action::FixedResponse(_) => {}
            }
        }
    }

    /// Cross-group rules of a weighted forward (alb-ecs-dns.md §1.6, §3.8): with several groups,
    /// app_cookie stickiness is not allowed, and target stickiness needs group stickiness.
    fn weighted_forward(&mut self, base: &str, f: &crate::model::ForwardConfig) {
        use crate::model::StickinessType;
        if f.target_groups.len() < 2 {
            return;
        }
        let group_sticky = f.target_group_stickiness_config.is_some_and(|s| s.enabled);
        for (j, t) in f.target_groups.iter().enumerate() {
            let Some(tg) = self
                .stack
                .target_groups
                .iter()
                .find(|g| g.name == t.target_group)
            else {
                continue;
            };
            let Some(st) = &tg.stickiness else { continue };
            let path = format!("{base}.target_groups[{j}].target_group");
            if st.kind == StickinessType::AppCookie {
                self.issue(
                    path,
                    DiagnosticKind::Conflict,
                    format!(
                        "target group {:?} uses app_cookie stickiness, which a forward to several groups does not support",
                        tg.name
                    ),
                    "use lb_cookie stickiness on the group, or forward to it alone",
                );
            } else if !group_sticky {
                self.issue(
                    path,
                    DiagnosticKind::Conflict,
                    format!(
                        "target group {:?} has target stickiness, so a forward to several groups needs group stickiness",
                        tg.name
                    ),
                    "add target_group_stickiness_config: {enabled: true, duration_seconds: 3600}",
                );
            }
        }
    }

    /// Load balancer attributes (alb-ecs-dns.md §1.2).
    fn lb_attributes(&mut self, base: &str, a: &crate::model::LoadBalancerAttributes) {
        if !(1..=4000).contains(&a.idle_timeout_timeout_seconds) {
            self.issue(
                format!("{base}.idle_timeout_timeout_seconds"),
                DiagnosticKind::InvalidValue,
                format!(
                    "idle timeout {} s is outside 1..=4000",
                    a.idle_timeout_timeout_seconds
                ),
                "use a value between 1 and 4000 (AWS default 60)",
            );
        }
        let mode = a.routing_http_desync_mitigation_mode.as_str();
        if !matches!(mode, "monitor" | "defensive" | "strictest") {
            self.issue(
                format!("{base}.routing_http_desync_mitigation_mode"),
                DiagnosticKind::InvalidValue,
                format!("{mode:?} is not a desync mitigation mode"),
                "use monitor, defensive (the default) or strictest",
            );
        }
        let xff = a.routing_http_xff_header_processing_mode.as_str();
        if !matches!(xff, "append" | "preserve" | "remove") {
            self.issue(
                format!("{base}.routing_http_xff_header_processing_mode"),
                DiagnosticKind::InvalidValue,
                format!("{xff:?} is not an X-Forwarded-For processing mode"),
                "use append (the default), preserve or remove",
            );
        }
    }

    /// Target group attributes (alb-ecs-dns.md §3.5–§3.8).
    fn tg_attributes(&mut self, base: &str, tg: &crate::model::TargetGroup) {
        use crate::model::{LoadBalancingAlgorithm, StickinessType};
        if tg.deregistration_delay_timeout_seconds > 3600 {
            self.issue(
                format!("{base}.deregistration_delay_timeout_seconds"),
                DiagnosticKind::InvalidValue,
                format!(
                    "deregistration delay {} s is outside 0..=3600",
                    tg.deregistration_delay_timeout_seconds
                ),
                "use a value between 0 and 3600 (AWS default 300)",
            );
        }
        let slow = tg.slow_start_duration_seconds;
        if slow != 0 && !(30..=900).contains(&slow) {
            self.issue(
                format!("{base}.slow_start_duration_seconds"),
                DiagnosticKind::InvalidValue,
                format!("slow start {slow} s is outside 30..=900"),
                "use 0 (off) or a value between 30 and 900",
            );
        }
        if slow != 0
            && tg.load_balancing_algorithm_type == LoadBalancingAlgorithm::LeastOutstandingRequests
        {
            self.issue(
                format!("{base}.slow_start_duration_seconds"),
                DiagnosticKind::Conflict,
                "slow start cannot be combined with least_outstanding_requests",
                "set slow_start_duration_seconds to 0 or use round_robin",
            );
        }
        if let Some(s) = &tg.stickiness {
            let spath = format!("{base}.stickiness");
            if !(1..=604_800).contains(&s.duration_seconds) {
                self.issue(
                    format!("{spath}.duration_seconds"),
                    DiagnosticKind::InvalidValue,
                    format!(
                        "stickiness duration {} s is outside 1..=604800",
                        s.duration_seconds
                    ),
                    "use a value between 1 and 604800 (AWS default 86400)",
                );
            }
            match (s.kind, s.cookie_name.as_deref()) {
                (StickinessType::AppCookie, None) => self.issue(
                    format!("{spath}.cookie_name"),
                    DiagnosticKind::InvalidValue,
                    "app_cookie stickiness needs the application's cookie name",
                    "add cookie_name: <the cookie your service sets>",
                ),
                (StickinessType::AppCookie, Some(name))
                    if name.is_empty() || name.starts_with("AWSALB") =>
                {
                    self.issue(
                        format!("{spath}.cookie_name"),
                        DiagnosticKind::InvalidValue,
                        format!("{name:?} cannot be an application cookie name"),
                        "use a non-empty name not starting with AWSALB, AWSALBAPP or AWSALBTG",
                    )
                }
                (StickinessType::LbCookie, Some(_)) => self.issue(
                    format!("{spath}.cookie_name"),
                    DiagnosticKind::Conflict,
                    "cookie_name belongs to app_cookie stickiness",
                    "remove cookie_name or set type: app_cookie",
                ),
                _ => {}
            }
        }
    }

    fn target_groups(&mut self) {
        let stack = self.stack;
        self.unique(
            "target group",
            stack
                .target_groups
                .iter()
                .enumerate()
                .map(|(i, t)| (format!("target_groups[{i}].name"), t.name.as_str())),
        );
        for (i, tg) in stack.target_groups.iter().enumerate() {
            let base = format!("target_groups[{i}]");
            if !is_elb_name(&tg.name) {
                self.issue(
                    format!("{base}.name"),
                    DiagnosticKind::InvalidValue,
                    format!("{:?} is not a valid target group name", tg.name),
                    "use at most 32 letters, digits and hyphens, not starting or ending with a hyphen",
                );
            }
            if tg.port == 0 {
                self.issue(
                    format!("{base}.port"),
                    DiagnosticKind::InvalidValue,
                    "port 0 is not a target port",
                    "use a port between 1 and 65535",
                );
            }
            self.tg_attributes(&base, tg);
            if let Some(hc) = &tg.health_check {
                let hpath = format!("{base}.health_check");
                let ranges = [
                    ("interval_seconds", hc.interval_seconds, 5, 300),
                    ("timeout_seconds", hc.timeout_seconds, 2, 120),
                    ("healthy_threshold_count", hc.healthy_threshold_count, 2, 10),
                    (
                        "unhealthy_threshold_count",
                        hc.unhealthy_threshold_count,
                        2,
                        10,
                    ),
                ];
                for (field, value, lo, hi) in ranges {
                    if !(lo..=hi).contains(&value) {
                        self.issue(
                            format!("{hpath}.{field}"),
                            DiagnosticKind::InvalidValue,
                            format!("{field} {value} is outside {lo}..={hi}"),
                            format!("use a value between {lo} and {hi}"),
                        );
                    }
                }
                if hc.timeout_seconds >= hc.interval_seconds {
                    self.issue(
                        format!("{hpath}.timeout_seconds"),
                        DiagnosticKind::Conflict,
                        format!(
                            "timeout {} s is not shorter than the interval {} s",
                            hc.timeout_seconds, hc.interval_seconds
                        ),
                        "make timeout_seconds smaller than interval_seconds",
                    );
                }
                if !hc.path.starts_with('/') || hc.path.len() > 1024 {
                    self.issue(
                        format!("{hpath}.path"),
                        DiagnosticKind::InvalidValue,
                        format!("health check path {:?} must start with `/` and have at most 1024 characters", hc.path),
                        "write a path like /health",
                    );
                }
            }
        }
    }

    fn ecs(&mut self) {
        let stack = self.stack;
        self.unique(
            "cluster",
            stack.clusters.iter().enumerate().map(|(i, c)| {
                (
                    format!("clusters[{i}].cluster_name"),
                    c.cluster_name.as_str(),
                )
            }),
        );
        self.unique(
            "task definition family",
            stack
                .task_definitions
                .iter()
                .enumerate()
                .map(|(i, t)| (format!("task_definitions[{i}].family"), t.family.as_str())),
        );
        for (i, td) in stack.task_definitions.iter().enumerate() {
            let base = format!("task_definitions[{i}]");
            if td.file.is_some() {
                // Read from ECS JSON and checked there, with the JSON file's own field names.
                continue;
            }
            crate::taskdef::check_task_definition(
                td,
                &base,
                crate::taskdef::Naming::Snake,
                false,
                &mut self.issues,
            );
            if td.family.is_empty()
                || td.family.len() > 255
                || !td
                    .family
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                self.issue(
                    format!("{base}.family"),
                    DiagnosticKind::InvalidValue,
                    format!("{:?} is not a valid family", td.family),
                    "use 1-255 letters, digits, `_` or `-`",
                );
            }
            if !fargate_memory_ok(td.cpu.0, td.memory.0) {
                self.issue(
                    format!("{base}.memory"),
                    DiagnosticKind::InvalidValue,
                    format!("cpu {} with memory {} MiB is not a Fargate size", td.cpu.0, td.memory.0),
                    "use a valid pair, e.g. cpu \"256\" with memory \"512\", \"1024\" or \"2048\" (alb-ecs-dns.md §4.1)",
                );
            }
            if td.container_definitions.is_empty() {
                self.issue(
                    &base,
                    DiagnosticKind::Schema,
                    "a task definition needs at least one container",
                    "add container_definitions",
                );
            } else if !td.container_definitions.iter().any(|c| c.essential) {
                self.issue(
                    format!("{base}.container_definitions"),
                    DiagnosticKind::InvalidValue,
                    "a task definition needs at least one essential container",
                    "set essential: true on the main container",
                );
            }
            self.unique(
                "container",
                td.container_definitions.iter().enumerate().map(|(j, c)| {
                    (
                        format!("{base}.container_definitions[{j}].name"),
                        c.name.as_str(),
                    )
                }),
            );
            for (j, c) in td.container_definitions.iter().enumerate() {
                let cpath = format!("{base}.container_definitions[{j}]");
                match (&c.builtin, &c.command) {
                    (Some(_), None) if c.image.is_none() => {}
                    (None, _) if c.image.is_some() => {}
                    (None, Some(cmd)) if !cmd.is_empty() && !cmd[0].is_empty() => {}
                    (None, Some(_)) => self.issue(
                        format!("{cpath}.command"),
                        DiagnosticKind::InvalidValue,
                        "command is empty",
                        "give the program and its arguments, e.g. [python3, -m, http.server]",
                    ),
                    _ => self.issue(
                        &cpath,
                        DiagnosticKind::Schema,
                        "a container needs exactly one of builtin or command, or an image",
                        "use builtin: pets (or echo), command: [program, args...], or image: repo/name:tag",
                    ),
                }
                if c.working_directory.is_some() && c.command.is_none() && c.image.is_none() {
                    self.issue(
                        format!("{cpath}.working_directory"),
                        DiagnosticKind::Conflict,
                        "working_directory applies only to command containers",
                        "remove it",
                    );
                }
                if c.port_env_var.is_empty()
                    || !c
                        .port_env_var
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
                {
                    self.issue(
                        format!("{cpath}.port_env_var"),
                        DiagnosticKind::InvalidValue,
                        format!("{:?} is not an environment variable name", c.port_env_var),
                        "use letters, digits and `_`, e.g. PORT",
                    );
                }
                let mut ports: HashMap<u16, usize> = HashMap::new();
                for (k, pm) in c.port_mappings.iter().enumerate() {
                    if pm.container_port == 0 {
                        self.issue(
                            format!("{cpath}.port_mappings[{k}].container_port"),
                            DiagnosticKind::InvalidValue,
                            "port 0 is not a container port",
                            "use a port between 1 and 65535",
                        );
                    }
                    if let Some(first) = ports.insert(pm.container_port, k) {
                        self.issue(
                            format!("{cpath}.port_mappings[{k}].container_port"),
                            DiagnosticKind::Duplicate,
                            format!(
                                "container port {} is already mapped at port_mappings[{first}]",
                                pm.container_port
                            ),
                            "map each container port once",
                        );
                    }
                }
                for (k, kv) in c.environment.iter().enumerate() {
                    if kv.name.is_empty() || kv.name.contains('=') {
                        self.issue(
                            format!("{cpath}.environment[{k}].name"),
                            DiagnosticKind::InvalidValue,
                            format!("{:?} is not an environment variable name", kv.name),
                            "use a non-empty name without `=`",
                        );
                    }
                }
            }
        }

        self.unique(
            "service",
            stack.services.iter().enumerate().map(|(i, s)| {
                (
                    format!("services[{i}].service_name"),
                    s.service_name.as_str(),
                )
            }),
        );
        let clusters: Vec<&str> = stack
            .clusters
            .iter()
            .map(|c| c.cluster_name.as_str())
            .collect();
        let families: Vec<&str> = stack
            .task_definitions
            .iter()
            .map(|t| t.family.as_str())
            .collect();
        let tgs: Vec<&str> = stack
            .target_groups
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        let attached: HashSet<&str> = stack
            .load_balancers
            .iter()
            .flat_map(|lb| &lb.listeners)
            .flat_map(|l| {
                l.default_actions
                    .iter()
                    .chain(l.rules.iter().flat_map(|r| &r.actions))
            })
            .flat_map(Action::target_groups)
            .collect();
        for (i, svc) in stack.services.iter().enumerate() {
            let base = format!("services[{i}]");
            self.reference(
                format!("{base}.cluster"),
                "cluster",
                "clusters",
                &svc.cluster,
                &clusters,
                "use a cluster_name from clusters",
            );
            let td_ok = self.reference(
                format!("{base}.task_definition"),
                "task definition",
                "task definitions",
                &svc.task_definition,
                &families,
                "use a family from task_definitions",
            );
            if let Some((message, hint)) = crate::change::desired_count_problem(
                svc.desired_count,
                self.addresses_for_tasks(&svc.network_configuration.subnets),
            ) {
                self.issue(
                    format!("{base}.desired_count"),
                    DiagnosticKind::InvalidValue,
                    message,
                    hint,
                );
            }
            let net = &svc.network_configuration;
            let npath = format!("{base}.network_configuration");
            if net.subnets.is_empty() || net.subnets.len() > 16 {
                self.issue(
                    format!("{npath}.subnets"),
                    DiagnosticKind::InvalidValue,
                    format!(
                        "a service needs 1 to 16 subnets, found {}",
                        net.subnets.len()
                    ),
                    "list the subnets its tasks go in",
                );
            }
            if net.security_groups.len() > 5 {
                self.issue(
                    format!("{npath}.security_groups"),
                    DiagnosticKind::InvalidValue,
                    "a service takes at most 5 security groups",
                    "merge rules into fewer groups",
                );
            }
            self.subnet_refs(&format!("{npath}.subnets"), &net.subnets);
            self.group_refs(&format!("{npath}.security_groups"), &net.security_groups);

            let td = if td_ok {
                stack.task_definition(&svc.task_definition)
            } else {
                None
            };
            for (j, att) in svc.load_balancers.iter().enumerate() {
                let lpath = format!("{base}.load_balancers[{j}]");
                if self.reference(
                    format!("{lpath}.target_group"),
                    "target group",
                    "target groups",
                    &att.target_group,
                    &tgs,
                    "use a name from target_groups",
                ) && !attached.contains(att.target_group.as_str())
                {
                    self.issue(
                        format!("{lpath}.target_group"),
                        DiagnosticKind::Conflict,
                        format!("target group {:?} is not used by any listener, so its targets would never get traffic", att.target_group),
                        "forward to it from a listener's default action or rule",
                    );
                }
                let Some(td) = td else { continue };
                match td.container(&att.container_name) {
                    None => {
                        let names: Vec<&str> = td
                            .container_definitions
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect();
                        self.issue(
                            format!("{lpath}.container_name"),
                            DiagnosticKind::UnknownReference,
                            format!(
                                "task definition {:?} has no container named {:?}; its containers: {}",
                                td.family,
                                att.container_name,
                                list(&names)
                            ),
                            "use the name of one of the task definition's containers",
                        );
                    }
                    Some(c)
                        if !c
                            .port_mappings
                            .iter()
                            .any(|p| p.container_port == att.container_port) =>
                    {
                        let ports: Vec<String> = c
                            .port_mappings
                            .iter()
                            .map(|p| p.container_port.to_string())
                            .collect();
                        let ports: Vec<&str> = ports.iter().map(String::as_str).collect();
                        self.issue(
                            format!("{lpath}.container_port"),
                            DiagnosticKind::UnknownReference,
                            format!(
                                "container {:?} does not map port {}; its container ports: {}",
                                c.name,
                                att.container_port,
                                list(&ports)
                            ),
                            "use one of the container's port_mappings, or add a mapping",
                        );
                    }
                    Some(_) => {}
                }
            }
        }
    }
}
