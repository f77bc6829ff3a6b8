//! Checks of load balancers, listeners, rules, actions and target groups.

use std::collections::{HashMap, HashSet};

use ipnet::IpNet;

use super::Checker;
use crate::error::DiagnosticKind;
use crate::*;

/// Whether an ELB-style name is valid: ≤32 alphanumerics/hyphens, no hyphen at either end.
pub(super) fn is_elb_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl<'a> Checker<'a> {
    pub(super) fn load_balancers(&mut self) {
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
                    "list at least two subnets in different availability zones (docs/aws-rules.md §ALB-1.1)",
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

    pub(super) fn rules<'s>(
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

    pub(super) fn actions<'s>(
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

    /// Cross-group rules of a weighted forward (docs/aws-rules.md §ALB-1.6, §ALB-3.8): with several groups,
    /// app_cookie stickiness is not allowed, and target stickiness needs group stickiness.
    pub(super) fn weighted_forward(&mut self, base: &str, f: &crate::ForwardConfig) {
        use crate::StickinessType;
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

    /// Load balancer attributes (docs/aws-rules.md §ALB-1.2).
    pub(super) fn lb_attributes(&mut self, base: &str, a: &crate::LoadBalancerAttributes) {
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

    /// Target group attributes (docs/aws-rules.md §ALB-3.5–§ALB-3.8).
    pub(super) fn tg_attributes(&mut self, base: &str, tg: &crate::TargetGroup) {
        use crate::{LoadBalancingAlgorithm, StickinessType};
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

    pub(super) fn target_groups(&mut self) {
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
}
