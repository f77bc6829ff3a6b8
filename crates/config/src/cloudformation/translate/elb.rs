//! The template's Application Load Balancers: `AWS::ElasticLoadBalancingV2::LoadBalancer`,
//! `Listener`, `ListenerRule`, `ListenerCertificate` and `TargetGroup` become the stack's
//! `load_balancers` (listeners and rules inside their balancer) and `target_groups`.
//!
//! Names: a load balancer is named by its `LoadBalancerName` attribute (its `Name`, or the name
//! CloudFormation would generate), so the DNS name the template's outputs show is the one
//! airlock serves; a target group by its `TargetGroupName` attribute; a listener is
//! `"<load balancer name>:<port>"`, the stack format's listener reference, which is what an API
//! integration's `IntegrationUri: !Ref Listener` becomes.

use yaml_serde::Value as Yaml;

use crate::error::DiagnosticKind;

use super::super::evaluated::Resource;
use super::super::node::{Node, Value};
use super::ec2;
use super::values::{Map, boolean, check_keys, int, items, num, s, seq, text};
use super::{Ctx, Origin, Section};

const LOAD_BALANCER: &str = "AWS::ElasticLoadBalancingV2::LoadBalancer";
const LISTENER: &str = "AWS::ElasticLoadBalancingV2::Listener";
const LISTENER_RULE: &str = "AWS::ElasticLoadBalancingV2::ListenerRule";
const LISTENER_CERTIFICATE: &str = "AWS::ElasticLoadBalancingV2::ListenerCertificate";
const TARGET_GROUP: &str = "AWS::ElasticLoadBalancingV2::TargetGroup";
const CERTIFICATE: &str = "AWS::CertificateManager::Certificate";

/// Adds the template's load balancers and target groups to the stack document.
pub(crate) fn translate(cx: &mut Ctx<'_>) {
    for r in cx.of_type(TARGET_GROUP).collect::<Vec<_>>() {
        target_group(cx, r);
    }
    for r in cx.of_type(LOAD_BALANCER).collect::<Vec<_>>() {
        load_balancer(cx, r);
    }
    for r in cx.of_type(LISTENER).collect::<Vec<_>>() {
        listener(cx, r);
    }
    for r in cx.of_type(LISTENER_RULE).collect::<Vec<_>>() {
        listener_rule(cx, r);
    }
    for r in cx.of_type(LISTENER_CERTIFICATE).collect::<Vec<_>>() {
        listener_certificate(cx, r);
    }
}

/// A string attribute of `r` (those the evaluator gives every mapped resource).
fn attribute(r: &Resource, name: &str) -> String {
    match r.attribute(name) {
        Some(Value::String(v)) => v.clone(),
        _ => r.physical_id.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// Target groups.

fn target_group(cx: &mut Ctx<'_>, r: &Resource) {
    let name = attribute(r, "TargetGroupName");
    cx.name(r, name.clone());
    let p = &r.properties;
    let mut ok = true;
    match p.get("TargetType").and_then(Node::scalar_text).as_deref() {
        Some("ip") => {}
        other => {
            let kind = other.unwrap_or("instance");
            let hint = match kind {
                "lambda" => {
                    "airlock does not run Lambda functions; put the code in a container and use TargetType: ip with an ECS service"
                }
                "alb" => {
                    "chain the load balancers through an ECS service instead, with TargetType: ip"
                }
                _ => "ECS services on Fargate register their tasks' addresses: set TargetType: ip",
            };
            let message = match other {
                Some(_) => format!("target type {kind:?} is not run by airlock; only ip targets are"),
                None => "TargetType defaults to instance, which airlock does not run; only ip targets are".to_owned(),
            };
            match p.get("TargetType") {
                Some(node) => cx.problem(node, DiagnosticKind::InvalidValue, message, hint),
                None => cx.problem_at(r, DiagnosticKind::InvalidValue, message, hint),
            }
            ok = false;
        }
    }
    let protocol = match p.get("Protocol") {
        Some(node) => match text(cx, node).as_deref() {
            Some(v @ ("HTTP" | "HTTPS")) => Some(v.to_owned()),
            Some(v) => {
                cx.problem(
                    node,
                    DiagnosticKind::InvalidValue,
                    format!("protocol {v:?} belongs to a Network or Gateway Load Balancer's target group"),
                    "an Application Load Balancer's target group uses HTTP or HTTPS",
                );
                None
            }
            None => None,
        },
        None => {
            cx.problem_at(
                r,
                DiagnosticKind::Schema,
                format!("{} has no Protocol", r.logical_id),
                "set Protocol: HTTP (or HTTPS); ELB requires it for ip targets",
            );
            None
        }
    };
    let port = match p.get("Port") {
        Some(node) => int(cx, node, 1, 65535),
        None => {
            cx.problem_at(
                r,
                DiagnosticKind::Schema,
                format!("{} has no Port", r.logical_id),
                "set Port to the port the tasks listen on; ELB requires it for ip targets",
            );
            None
        }
    };
    if let Some(node) = p.get("ProtocolVersion") {
        match node.scalar_text().as_deref() {
            Some("HTTP1") => {}
            Some("HTTP2") => cx.warnings.push(format!(
                "{}: HTTP2 toward targets is not emulated: airlock's load balancer speaks HTTP/1.1 to them",
                node.path
            )),
            other => cx.problem(
                node,
                DiagnosticKind::InvalidValue,
                format!("protocol version {:?} is not run by airlock", other.unwrap_or_default()),
                "use HTTP1 (or leave ProtocolVersion out); gRPC target groups are not emulated",
            ),
        }
    }
    if let Some(node) = p.get("Targets") {
        cx.problem(
            node,
            DiagnosticKind::Schema,
            "airlock registers an ECS service's tasks in its target groups; fixed Targets are not run",
            "remove Targets and attach the group to a service's LoadBalancers",
        );
    }
    if let Some(node) = p.get("IpAddressType")
        && node.scalar_text().as_deref() != Some("ipv4")
    {
        cx.warnings.push(format!(
            "{}: airlock's VPC is IPv4 only; the group's targets are IPv4 addresses",
            node.path
        ));
    }
    let health_check = health_check(cx, p);
    let mut entry = Map::new()
        .with("name", s(&name))
        .maybe("protocol", protocol.map(s))
        .maybe("port", port.map(num))
        .with("target_type", s("ip"))
        .maybe("health_check", health_check);
    if let Some(node) = p.get("TargetGroupAttributes") {
        entry = target_group_attributes(cx, node, entry);
    }
    if ok {
        cx.doc
            .push(Section::TargetGroups, Origin::of(r), entry.into());
    }
}

/// CloudFormation's flat `HealthCheck…` properties as the stack's `health_check`.
fn health_check(cx: &mut Ctx<'_>, p: &Node) -> Option<Yaml> {
    if let Some(node) = p.get("HealthCheckEnabled")
        && boolean(cx, node) == Some(false)
    {
        cx.problem(
            node,
            DiagnosticKind::InvalidValue,
            "health checks of an ip target group cannot be turned off",
            "remove HealthCheckEnabled (ELB keeps health checks on for ip targets)",
        );
    }
    let mut m = Map::new();
    let mut any = false;
    if let Some(node) = p.get("HealthCheckProtocol") {
        match text(cx, node).as_deref() {
            Some(v @ ("HTTP" | "HTTPS")) => {
                m = m.with("protocol", s(v));
                any = true;
            }
            Some(v) => cx.problem(
                node,
                DiagnosticKind::InvalidValue,
                format!("health check protocol {v:?} is not one an Application Load Balancer uses"),
                "use HTTP or HTTPS",
            ),
            None => {}
        }
    }
    if let Some(node) = p.get("HealthCheckPath")
        && let Some(v) = text(cx, node)
    {
        m = m.with("path", s(v));
        any = true;
    }
    if let Some(node) = p.get("HealthCheckPort")
        && let Some(v) = text(cx, node)
    {
        m = if v == "traffic-port" {
            m.with("port", s(v))
        } else {
            match int(cx, node, 1, 65535) {
                Some(port) => m.with("port", num(port)),
                None => m,
            }
        };
        any = true;
    }
    for (key, field) in [
        ("HealthCheckIntervalSeconds", "interval_seconds"),
        ("HealthCheckTimeoutSeconds", "timeout_seconds"),
        ("HealthyThresholdCount", "healthy_threshold_count"),
        ("UnhealthyThresholdCount", "unhealthy_threshold_count"),
    ] {
        if let Some(node) = p.get(key)
            && let Some(v) = int(cx, node, 0, i64::from(u32::MAX))
        {
            m = m.with(field, num(v));
            any = true;
        }
    }
    if let Some(node) = p.get("Matcher") {
        check_keys(cx, node, &["HttpCode"], &[]);
        if let Some(code) = node.get("HttpCode").and_then(|n| text(cx, n)) {
            m = m.with("matcher", Map::new().with("http_code", s(code)).into());
            any = true;
        }
    }
    any.then(|| m.into())
}

/// `TargetGroupAttributes`: those the stack format has are mapped, the rest accepted with a
/// warning.
fn target_group_attributes(cx: &mut Ctx<'_>, node: &Node, mut entry: Map) -> Map {
    let mut stickiness_on = false;
    let mut stickiness = Map::new();
    let mut kind = String::from("lb_cookie");
    let mut durations: Vec<(String, i64)> = Vec::new();
    for (key, value, vnode) in key_values(cx, node) {
        match key.as_str() {
            "deregistration_delay.timeout_seconds" => {
                if let Some(v) = int(cx, vnode, 0, 3600) {
                    entry = entry.with("deregistration_delay_timeout_seconds", num(v));
                }
            }
            "slow_start.duration_seconds" => {
                if let Some(v) = int(cx, vnode, 0, 900) {
                    entry = entry.with("slow_start_duration_seconds", num(v));
                }
            }
            "load_balancing.algorithm.type" => {
                entry = entry.with("load_balancing_algorithm_type", s(value));
            }
            "stickiness.enabled" => stickiness_on = boolean(cx, vnode) == Some(true),
            "stickiness.type" => kind = value,
            "stickiness.lb_cookie.duration_seconds" | "stickiness.app_cookie.duration_seconds" => {
                if let Some(v) = int(cx, vnode, 0, i64::from(u32::MAX)) {
                    durations.push((key.clone(), v));
                }
            }
            "stickiness.app_cookie.cookie_name" => {
                stickiness = stickiness.with("cookie_name", s(value));
            }
            _ => cx.warnings.push(format!(
                "{}: target group attribute {key} is accepted, not emulated",
                vnode.path
            )),
        }
    }
    if stickiness_on {
        let wanted = format!("stickiness.{kind}.duration_seconds");
        let duration = durations
            .iter()
            .find(|(k, _)| *k == wanted)
            .map(|(_, v)| *v);
        stickiness = stickiness
            .with("type", s(&kind))
            .maybe("duration_seconds", duration.map(num));
        entry = entry.with("stickiness", stickiness.into());
    }
    entry
}

/// The `[{Key, Value}]` entries of an attributes list, with the value's node.
fn key_values<'n>(cx: &mut Ctx<'_>, node: &'n Node) -> Vec<(String, String, &'n Node)> {
    let mut out = Vec::new();
    for item in items(cx, node) {
        check_keys(cx, item, &["Key", "Value"], &[]);
        let (Some(k), Some(v)) = (item.get("Key"), item.get("Value")) else {
            cx.problem(
                item,
                DiagnosticKind::Schema,
                "an attribute needs Key and Value",
                "write {Key: name, Value: value}",
            );
            continue;
        };
        if let (Some(key), Some(value)) = (text(cx, k), text(cx, v)) {
            out.push((key, value, v));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Load balancers.

/// Load balancer attributes without a visible effect in airlock (logs go to S3, deletion is
/// CloudFormation's concern): accepted silently.
const LB_ATTRIBUTES_WITHOUT_EFFECT: &[&str] = &[
    "deletion_protection.enabled",
    "access_logs.s3.enabled",
    "access_logs.s3.bucket",
    "access_logs.s3.prefix",
    "connection_logs.s3.enabled",
    "connection_logs.s3.bucket",
    "connection_logs.s3.prefix",
    "health_check_logs.s3.enabled",
    "health_check_logs.s3.bucket",
    "health_check_logs.s3.prefix",
];

fn load_balancer(cx: &mut Ctx<'_>, r: &Resource) {
    let name = attribute(r, "LoadBalancerName");
    cx.name(r, name.clone());
    let p = &r.properties;
    if let Some(node) = p.get("Type") {
        match node.scalar_text().as_deref() {
            Some("application") => {}
            other => {
                cx.problem(
                    node,
                    DiagnosticKind::InvalidValue,
                    format!(
                        "a {} load balancer is not run by airlock; only Application Load Balancers are",
                        other.unwrap_or("?")
                    ),
                    "use Type: application with HTTP or HTTPS listeners (an API's VPC link reaches an ALB as well as an NLB)",
                );
                return;
            }
        }
    }
    let scheme = match p.get("Scheme") {
        Some(node) => match text(cx, node).as_deref() {
            Some(v @ ("internal" | "internet-facing")) => v.to_owned(),
            Some(v) => {
                cx.problem(
                    node,
                    DiagnosticKind::InvalidValue,
                    format!("scheme {v:?} is not internal or internet-facing"),
                    "use internal or internet-facing",
                );
                "internet-facing".to_owned()
            }
            None => "internet-facing".to_owned(),
        },
        None => "internet-facing".to_owned(),
    };
    let mut subnets = Vec::new();
    if let Some(node) = p.get("Subnets") {
        subnets = ec2::subnets_of(cx, node);
    }
    if let Some(node) = p.get("SubnetMappings") {
        for m in items(cx, node) {
            check_keys(
                cx,
                m,
                &["SubnetId"],
                &[
                    "AllocationId",
                    "IPv6Address",
                    "PrivateIPv4Address",
                    "SourceNatIpv6Prefix",
                ],
            );
            if let Some(id) = m.get("SubnetId") {
                subnets.extend(ec2::subnets_of(
                    cx,
                    &Node::new(Value::List(vec![id.clone()]), id.at, id.path.clone()),
                ));
            }
        }
    }
    let groups = ec2::security_groups(cx, p.get("SecurityGroups"));
    let mut attributes = Map::new();
    let mut any_attribute = false;
    if let Some(node) = p.get("LoadBalancerAttributes") {
        for (key, value, vnode) in key_values(cx, node) {
            let field = match key.as_str() {
                "idle_timeout.timeout_seconds" => {
                    if let Some(v) = int(cx, vnode, 1, 4000) {
                        attributes = attributes.with("idle_timeout_timeout_seconds", num(v));
                        any_attribute = true;
                    }
                    continue;
                }
                "routing.http.desync_mitigation_mode" => "routing_http_desync_mitigation_mode",
                "routing.http.xff_header_processing.mode" => {
                    "routing_http_xff_header_processing_mode"
                }
                "routing.http.preserve_host_header.enabled"
                | "routing.http.xff_client_port.enabled" => {
                    if let Some(v) = boolean(cx, vnode) {
                        attributes = attributes.with(&key.replace('.', "_"), Yaml::Bool(v));
                        any_attribute = true;
                    }
                    continue;
                }
                k if LB_ATTRIBUTES_WITHOUT_EFFECT.contains(&k) => continue,
                _ => {
                    cx.warnings.push(format!(
                        "{}: load balancer attribute {key} is accepted, not emulated",
                        vnode.path
                    ));
                    continue;
                }
            };
            attributes = attributes.with(field, s(value));
            any_attribute = true;
        }
    }
    if let Some(node) = p.get("IpAddressType")
        && node.scalar_text().as_deref() != Some("ipv4")
    {
        cx.warnings.push(format!(
            "{}: airlock's VPC is IPv4 only; the load balancer gets IPv4 addresses",
            node.path
        ));
    }
    let entry = Map::new()
        .with("name", s(&name))
        .with("scheme", s(scheme))
        .with("subnets", seq(subnets.into_iter().map(s).collect()))
        .with("security_groups", seq(groups.into_iter().map(s).collect()))
        .with("listeners", seq(Vec::new()))
        .maybe("attributes", any_attribute.then(|| attributes.into()));
    cx.doc
        .push(Section::LoadBalancers, Origin::of(r), entry.into());
}

// ---------------------------------------------------------------------------------------------
// Listeners, rules, certificates.

fn listener(cx: &mut Ctx<'_>, r: &Resource) {
    let p = &r.properties;
    let Some(lb_node) = p.get("LoadBalancerArn") else {
        cx.handled(r);
        cx.problem_at(
            r,
            DiagnosticKind::Schema,
            format!("{} has no LoadBalancerArn", r.logical_id),
            "set LoadBalancerArn: !Ref TheLoadBalancer",
        );
        return;
    };
    let lb = cx.reference_name(lb_node, &[LOAD_BALANCER]);
    let certificates = match p.get("Certificates") {
        Some(node) => certificates(cx, node),
        None => Vec::new(),
    };
    let protocol = match p.get("Protocol") {
        Some(node) => match text(cx, node).as_deref() {
            Some(v @ ("HTTP" | "HTTPS")) => v.to_owned(),
            Some(v) => {
                cx.problem(
                    node,
                    DiagnosticKind::InvalidValue,
                    format!(
                        "listener protocol {v:?} belongs to a Network or Gateway Load Balancer"
                    ),
                    "an Application Load Balancer listens with HTTP or HTTPS",
                );
                "HTTP".to_owned()
            }
            None => "HTTP".to_owned(),
        },
        // ELB takes the protocol from the certificates when it is left out.
        None if !certificates.is_empty() => "HTTPS".to_owned(),
        None => "HTTP".to_owned(),
    };
    let port = match p.get("Port") {
        Some(node) => int(cx, node, 1, 65535),
        None => {
            cx.problem_at(
                r,
                DiagnosticKind::Schema,
                format!("{} has no Port", r.logical_id),
                "set the listener's Port, e.g. 80 or 443",
            );
            None
        }
    };
    if let Some(node) = p.get("MutualAuthentication")
        && node
            .get("Mode")
            .and_then(Node::scalar_text)
            .is_some_and(|m| m != "off")
    {
        cx.warnings.push(format!(
            "{}: mutual TLS at the listener is not emulated; the listener does not ask clients for certificates",
            node.path
        ));
    }
    if let Some(node) = p.get("ListenerAttributes") {
        cx.warnings.push(format!(
            "{}: listener attributes are accepted, not emulated",
            node.path
        ));
    }
    let actions = match p.get("DefaultActions") {
        Some(node) => actions(cx, node),
        None => {
            cx.problem_at(
                r,
                DiagnosticKind::Schema,
                format!("{} has no DefaultActions", r.logical_id),
                "give the listener one default action (forward, redirect or fixed-response)",
            );
            Vec::new()
        }
    };
    let (Some(lb), Some(port)) = (lb, port) else {
        cx.handled(r);
        return;
    };
    cx.name(r, format!("{lb}:{port}"));
    let entry = Map::new()
        .with("protocol", s(protocol))
        .with("port", num(port))
        .maybe(
            "certificates",
            (!certificates.is_empty()).then(|| seq(certificates.into_iter().map(s).collect())),
        )
        .with("default_actions", seq(actions))
        .into();
    let Some(lb_entry) = load_balancer_entry(cx, &lb) else {
        return;
    };
    if let Some(Yaml::Sequence(listeners)) = lb_entry.get_mut("listeners") {
        listeners.push(entry);
    }
}

/// The stack entry of the load balancer named `name`.
fn load_balancer_entry<'d>(cx: &'d mut Ctx<'_>, name: &str) -> Option<&'d mut Yaml> {
    cx.doc
        .entries_mut(Section::LoadBalancers)
        .map(|(_, v)| v)
        .find(|v| v.get("name").and_then(Yaml::as_str) == Some(name))
}

/// The listener entry a listener reference `"<lb>:<port>"` names.
fn listener_entry<'d>(cx: &'d mut Ctx<'_>, reference: &str) -> Option<&'d mut Yaml> {
    let (lb, port) = reference.rsplit_once(':')?;
    let port: u64 = port.parse().ok()?;
    let lb_entry = load_balancer_entry(cx, lb)?;
    let Some(Yaml::Sequence(listeners)) = lb_entry.get_mut("listeners") else {
        return None;
    };
    listeners
        .iter_mut()
        .find(|l| l.get("port").and_then(Yaml::as_u64) == Some(port))
}

/// A `Certificates` list (`[{CertificateArn}]`) as certificate names.
fn certificates(cx: &mut Ctx<'_>, node: &Node) -> Vec<String> {
    let mut out = Vec::new();
    for item in items(cx, node) {
        check_keys(cx, item, &["CertificateArn"], &[]);
        if let Some(arn) = item.get("CertificateArn")
            && let Some(name) = cx.reference_name(arn, &[CERTIFICATE])
        {
            out.push(name);
        }
    }
    out
}

fn listener_rule(cx: &mut Ctx<'_>, r: &Resource) {
    cx.handled(r);
    let p = &r.properties;
    let listener = p
        .get("ListenerArn")
        .and_then(|n| cx.reference_name(n, &[LISTENER]));
    if p.get("ListenerArn").is_none() {
        cx.problem_at(
            r,
            DiagnosticKind::Schema,
            format!("{} has no ListenerArn", r.logical_id),
            "set ListenerArn: !Ref TheListener",
        );
    }
    let priority = p.get("Priority").and_then(|n| int(cx, n, 1, 50_000));
    if let Some(node) = p.get("Transforms") {
        cx.problem(
            node,
            DiagnosticKind::Schema,
            "rule transforms (host and URL rewrites) are not run by airlock",
            "remove Transforms, or rewrite in the application",
        );
    }
    let conditions: Vec<Yaml> = match p.get("Conditions") {
        Some(node) => items(cx, node)
            .into_iter()
            .filter_map(|c| condition(cx, c))
            .collect(),
        None => Vec::new(),
    };
    let actions = match p.get("Actions") {
        Some(node) => actions(cx, node),
        None => Vec::new(),
    };
    let (Some(listener), Some(priority)) = (listener, priority) else {
        return;
    };
    let rule: Yaml = Map::new()
        .with("priority", num(priority))
        .with("conditions", seq(conditions))
        .with("actions", seq(actions))
        .into();
    if let Some(Yaml::Mapping(l)) = listener_entry(cx, &listener) {
        let key = s("rules");
        match l.get_mut(&key) {
            Some(Yaml::Sequence(rules)) => rules.push(rule),
            _ => {
                l.insert(key, seq(vec![rule]));
            }
        }
    }
}

/// The condition fields, each with its `*Config` key.
const CONDITIONS: &[(&str, &str)] = &[
    ("host-header", "HostHeaderConfig"),
    ("path-pattern", "PathPatternConfig"),
    ("http-header", "HttpHeaderConfig"),
    ("http-request-method", "HttpRequestMethodConfig"),
    ("query-string", "QueryStringConfig"),
    ("source-ip", "SourceIpConfig"),
];

/// A rule condition: `Field` with the `Values` shorthand (host-header and path-pattern) or
/// the field's `*Config`.
fn condition(cx: &mut Ctx<'_>, node: &Node) -> Option<Yaml> {
    let mut keys: Vec<&str> = vec!["Field", "Values"];
    keys.extend(CONDITIONS.iter().map(|(_, k)| *k));
    check_keys(cx, node, &keys, &[]);
    let Some(field_node) = node.get("Field") else {
        cx.problem(
            node,
            DiagnosticKind::Schema,
            "a rule condition needs Field",
            "set Field: path-pattern (or host-header, http-header, http-request-method, query-string, source-ip)",
        );
        return None;
    };
    let field = text(cx, field_node)?;
    let Some((_, config_key)) = CONDITIONS.iter().find(|(f, _)| *f == field) else {
        cx.problem(
            field_node,
            DiagnosticKind::InvalidValue,
            format!("{field:?} is not a rule condition field"),
            "use path-pattern, host-header, http-header, http-request-method, query-string or source-ip",
        );
        return None;
    };
    let mut m = Map::new().with("field", s(&field));
    let mut values: Vec<String> = Vec::new();
    if let Some(v) = node.get("Values") {
        values.extend(items(cx, v).into_iter().filter_map(|n| text(cx, n)));
    }
    if let Some(config) = node.get(config_key) {
        let known: &[&str] = match field.as_str() {
            "http-header" => &["HttpHeaderName", "Values"],
            "host-header" | "path-pattern" => &["Values", "RegexValues"],
            _ => &["Values"],
        };
        check_keys(cx, config, known, &[]);
        if let Some(regex) = config.get("RegexValues") {
            cx.problem(
                regex,
                DiagnosticKind::Schema,
                "regular-expression conditions are not run by airlock",
                "use Values with wildcards (* and ?)",
            );
        }
        if let Some(name) = config.get("HttpHeaderName").and_then(|n| text(cx, n)) {
            m = m.with("http_header_name", s(name));
        }
        if let Some(v) = config.get("Values") {
            for item in items(cx, v) {
                if field == "query-string" {
                    check_keys(cx, item, &["Key", "Value"], &[]);
                    let value = item
                        .get("Value")
                        .and_then(|n| text(cx, n))
                        .unwrap_or_default();
                    match item.get("Key").and_then(|n| text(cx, n)) {
                        Some(k) => values.push(format!("{k}={value}")),
                        None => values.push(value),
                    }
                } else if let Some(t) = text(cx, item) {
                    values.push(t);
                }
            }
        }
    } else if node.get("Values").is_some()
        && !matches!(field.as_str(), "host-header" | "path-pattern")
    {
        cx.problem(
            node,
            DiagnosticKind::Schema,
            format!("a {field} condition takes its values in {config_key}"),
            format!("write {config_key}: {{Values: [...]}}; the Values shorthand is for host-header and path-pattern only"),
        );
    }
    Some(
        m.with("values", seq(values.into_iter().map(s).collect()))
            .into(),
    )
}

fn listener_certificate(cx: &mut Ctx<'_>, r: &Resource) {
    cx.handled(r);
    let p = &r.properties;
    let listener = p
        .get("ListenerArn")
        .and_then(|n| cx.reference_name(n, &[LISTENER]));
    let added = match p.get("Certificates") {
        Some(node) => certificates(cx, node),
        None => Vec::new(),
    };
    let Some(listener) = listener else { return };
    if let Some(Yaml::Mapping(l)) = listener_entry(cx, &listener) {
        let key = s("certificates");
        match l.get_mut(&key) {
            Some(Yaml::Sequence(certs)) => certs.extend(added.into_iter().map(s)),
            _ => {
                l.insert(key, seq(added.into_iter().map(s).collect()));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Actions.

/// A list of actions (a listener's `DefaultActions`, a rule's `Actions`), in `Order`.
fn actions(cx: &mut Ctx<'_>, node: &Node) -> Vec<Yaml> {
    let mut list: Vec<&Node> = items(cx, node);
    list.sort_by_key(|a| {
        a.get("Order")
            .and_then(Node::scalar_text)
            .and_then(|o| o.parse::<i64>().ok())
            .unwrap_or(i64::MAX)
    });
    list.into_iter().filter_map(|a| action(cx, a)).collect()
}

fn action(cx: &mut Ctx<'_>, node: &Node) -> Option<Yaml> {
    check_keys(
        cx,
        node,
        &[
            "Type",
            "Order",
            "TargetGroupArn",
            "ForwardConfig",
            "FixedResponseConfig",
            "RedirectConfig",
            "AuthenticateCognitoConfig",
            "AuthenticateOidcConfig",
            "JwtValidationConfig",
        ],
        &[],
    );
    let kind_node = node.get("Type");
    let Some(kind) = kind_node.and_then(Node::scalar_text) else {
        cx.problem(
            node,
            DiagnosticKind::Schema,
            "an action needs Type",
            "set Type: forward (or redirect, fixed-response)",
        );
        return None;
    };
    let kind_node = kind_node.expect("read above");
    match kind.as_str() {
        "forward" => {
            let mut m = Map::new().with("type", s("forward"));
            if let Some(tg) = node.get("TargetGroupArn") {
                m = m.with("target_group", s(cx.reference_name(tg, &[TARGET_GROUP])?));
            }
            if let Some(config) = node.get("ForwardConfig") {
                check_keys(
                    cx,
                    config,
                    &["TargetGroups", "TargetGroupStickinessConfig"],
                    &[],
                );
                let mut groups = Vec::new();
                if let Some(list) = config.get("TargetGroups") {
                    for g in items(cx, list) {
                        check_keys(cx, g, &["TargetGroupArn", "Weight"], &[]);
                        let Some(arn) = g.get("TargetGroupArn") else {
                            cx.problem(
                                g,
                                DiagnosticKind::Schema,
                                "a weighted target group needs TargetGroupArn",
                                "set TargetGroupArn: !Ref TheTargetGroup",
                            );
                            continue;
                        };
                        let name = cx.reference_name(arn, &[TARGET_GROUP])?;
                        let weight = g.get("Weight").and_then(|w| int(cx, w, 0, 999));
                        groups.push(
                            Map::new()
                                .with("target_group", s(name))
                                .maybe("weight", weight.map(num))
                                .into(),
                        );
                    }
                }
                m = m.with("target_groups", seq(groups));
                if let Some(st) = config.get("TargetGroupStickinessConfig") {
                    check_keys(cx, st, &["Enabled", "DurationSeconds"], &[]);
                    let enabled = st.get("Enabled").and_then(|n| boolean(cx, n));
                    let duration = st
                        .get("DurationSeconds")
                        .and_then(|n| int(cx, n, 0, i64::from(u32::MAX)));
                    m = m.with(
                        "target_group_stickiness_config",
                        Map::new()
                            .with("enabled", Yaml::Bool(enabled.unwrap_or(false)))
                            .maybe("duration_seconds", duration.map(num))
                            .into(),
                    );
                }
            }
            if node.get("TargetGroupArn").is_none() && node.get("ForwardConfig").is_none() {
                cx.problem(
                    node,
                    DiagnosticKind::Schema,
                    "a forward action needs TargetGroupArn or ForwardConfig",
                    "set TargetGroupArn: !Ref TheTargetGroup",
                );
                return None;
            }
            Some(m.into())
        }
        "fixed-response" => configured_action(
            cx,
            node,
            "fixed-response",
            "FixedResponseConfig",
            &[
                ("StatusCode", "status_code"),
                ("ContentType", "content_type"),
                ("MessageBody", "message_body"),
            ],
            "set FixedResponseConfig: {StatusCode: \"404\"}",
        ),
        "redirect" => configured_action(
            cx,
            node,
            "redirect",
            "RedirectConfig",
            &[
                ("Protocol", "protocol"),
                ("Host", "host"),
                ("Port", "port"),
                ("Path", "path"),
                ("Query", "query"),
                ("StatusCode", "status_code"),
            ],
            "set RedirectConfig: {Protocol: HTTPS, Port: \"443\", StatusCode: HTTP_301}",
        ),
        "authenticate-cognito" | "authenticate-oidc" | "jwt-validation" => {
            cx.problem(
                kind_node,
                DiagnosticKind::Schema,
                format!("{kind} actions are not run by airlock"),
                "authenticate at the API's JWT authorizer instead, and forward here",
            );
            None
        }
        other => {
            cx.problem(
                kind_node,
                DiagnosticKind::InvalidValue,
                format!("{other:?} is not an action type"),
                "use forward, redirect or fixed-response",
            );
            None
        }
    }
}

/// A `fixed-response` or `redirect` action: its `*Config` mapping's text properties, each
/// under its stack field.
fn configured_action(
    cx: &mut Ctx<'_>,
    node: &Node,
    action: &str,
    config_key: &str,
    fields: &[(&str, &'static str)],
    hint: &str,
) -> Option<Yaml> {
    let Some(config) = node.get(config_key) else {
        cx.problem(
            node,
            DiagnosticKind::Schema,
            format!("a {action} action needs {config_key}"),
            hint,
        );
        return None;
    };
    let keys: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
    check_keys(cx, config, &keys, &[]);
    let mut m = Map::new().with("type", s(action));
    for (key, field) in fields {
        if let Some(v) = config.get(key).and_then(|n| text(cx, n)) {
            m = m.with(field, s(v));
        }
    }
    Some(m.into())
}
