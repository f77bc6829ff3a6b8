//! Load balancers from the stack file: target groups, attributes, listeners, rules and actions.

use super::*;

/// A target group's ALB settings, one to one from the stack file (docs/aws-rules.md §ALB-3).
pub(super) fn target_group_config(
    tg: &cfg::TargetGroup,
    account: &str,
    region: &str,
) -> airlock_alb::TargetGroupConfig {
    let hc = tg.effective_health_check();
    let secs = |s: u32| Duration::from_secs(u64::from(s));
    let mut config = airlock_alb::TargetGroupConfig::new(tg.name.clone());
    config.health_check = Some(airlock_alb::HealthCheck {
        protocol: match hc.protocol {
            cfg::Protocol::Http => airlock_alb::Protocol::Http,
            cfg::Protocol::Https => airlock_alb::Protocol::Https,
        },
        path: hc.path.clone(),
        port: match hc.port {
            cfg::HealthCheckPort::TrafficPort => None,
            cfg::HealthCheckPort::Port(p) => Some(p),
        },
        interval: secs(hc.interval_seconds),
        timeout: secs(hc.timeout_seconds),
        healthy_threshold: hc.healthy_threshold_count,
        unhealthy_threshold: hc.unhealthy_threshold_count,
        initial_healthy_threshold: 1,
        // The config crate checked the same grammar; the default only guards the invariant.
        matcher: airlock_alb::Matcher::parse(hc.matcher.http_code.as_str()).unwrap_or_default(),
    });
    config.deregistration_delay = secs(tg.deregistration_delay_timeout_seconds);
    config.algorithm = match tg.load_balancing_algorithm_type {
        cfg::LoadBalancingAlgorithm::RoundRobin => airlock_alb::Algorithm::RoundRobin,
        cfg::LoadBalancingAlgorithm::LeastOutstandingRequests => {
            airlock_alb::Algorithm::LeastOutstandingRequests
        }
        cfg::LoadBalancingAlgorithm::WeightedRandom => airlock_alb::Algorithm::WeightedRandom,
    };
    config.slow_start = secs(tg.slow_start_duration_seconds);
    config.stickiness = tg.stickiness.as_ref().map(|s| match s.kind {
        cfg::StickinessType::LbCookie => airlock_alb::Stickiness::LbCookie {
            duration: secs(s.duration_seconds),
        },
        cfg::StickinessType::AppCookie => airlock_alb::Stickiness::AppCookie {
            cookie_name: s.cookie_name.clone().unwrap_or_default(),
            duration: secs(s.duration_seconds),
        },
    });
    config.arn = Some(format!(
        "arn:aws:elasticloadbalancing:{region}:{account}:targetgroup/{}/{}",
        tg.name,
        ids::load_balancer_id(account, &format!("targetgroup/{}", tg.name))
    ));
    config
}

/// Load balancer attributes (docs/aws-rules.md §ALB-1.2); the config crate checked the values.
pub(super) fn alb_attributes(
    a: &cfg::LoadBalancerAttributes,
    access_log: std::path::PathBuf,
    access_log_rotation: airlock_net::logfile::Rotation,
    tracer: airlock_net::trace::Tracer,
) -> airlock_alb::AlbAttributes {
    airlock_alb::AlbAttributes {
        idle_timeout: Duration::from_secs(u64::from(a.idle_timeout_timeout_seconds)),
        xff_mode: match a.routing_http_xff_header_processing_mode.as_str() {
            "preserve" => airlock_alb::XffMode::Preserve,
            "remove" => airlock_alb::XffMode::Remove,
            _ => airlock_alb::XffMode::Append,
        },
        xff_client_port: a.routing_http_xff_client_port_enabled,
        preserve_host_header: a.routing_http_preserve_host_header_enabled,
        desync_mitigation_mode: match a.routing_http_desync_mitigation_mode.as_str() {
            "monitor" => airlock_alb::DesyncMode::Monitor,
            "strictest" => airlock_alb::DesyncMode::Strictest,
            _ => airlock_alb::DesyncMode::Defensive,
        },
        access_log: Some(access_log),
        access_log_rotation,
        tracer,
        ..airlock_alb::AlbAttributes::default()
    }
}

fn alb_action(
    action: &cfg::Action,
    target_groups: &HashMap<String, airlock_alb::TargetGroup>,
    resource: &str,
) -> Result<airlock_alb::Action, StackError> {
    Ok(match action {
        cfg::Action::Forward { target_group } => airlock_alb::Action::Forward(
            target_groups
                .get(target_group)
                .cloned()
                .ok_or_else(|| resource_err(resource, format!("no target group {target_group}")))?,
        ),
        cfg::Action::WeightedForward(f) => {
            airlock_alb::Action::WeightedForward(airlock_alb::WeightedForward {
                groups: f
                    .target_groups
                    .iter()
                    .map(|t| {
                        target_groups
                            .get(&t.target_group)
                            .cloned()
                            .map(|g| (g, t.weight))
                            .ok_or_else(|| {
                                resource_err(
                                    resource,
                                    format!("no target group {}", t.target_group),
                                )
                            })
                    })
                    .collect::<Result<_, _>>()?,
                stickiness: f
                    .target_group_stickiness_config
                    .filter(|s| s.enabled)
                    .and_then(|s| s.duration_seconds)
                    .map(|d| Duration::from_secs(u64::from(d))),
            })
        }
        cfg::Action::FixedResponse(f) => airlock_alb::Action::FixedResponse {
            status: http::StatusCode::from_u16(f.status_code)
                .map_err(|e| resource_err(resource, e))?,
            content_type: f.content_type.clone(),
            body: f.message_body.clone().unwrap_or_default(),
        },
        cfg::Action::Redirect(r) => airlock_alb::Action::Redirect(airlock_alb::Redirect {
            protocol: r.protocol.clone(),
            host: r.host.clone(),
            port: r.port.clone(),
            path: r.path.clone(),
            query: r.query.clone(),
            permanent: r.status_code == cfg::RedirectStatus::Http301,
        }),
    })
}

pub(super) fn listener_config(
    l: &cfg::Listener,
    certs: &mut Certificates<'_>,
    target_groups: &HashMap<String, airlock_alb::TargetGroup>,
    resource: &str,
) -> Result<airlock_alb::ListenerConfig, StackError> {
    let certificates = l
        .certificates
        .iter()
        .map(|name| {
            certs
                .get(name)
                .map(|leaf| airlock_alb::ListenerCertificate {
                    chain: leaf.cert_chain.clone(),
                    key: leaf.key.clone_key(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let default_action = l.default_actions.first().ok_or_else(|| {
        resource_err(
            resource,
            format!("listener {} has no default action", l.port),
        )
    })?;
    let rules = l
        .rules
        .iter()
        .map(|r| {
            let conditions = r
                .conditions
                .iter()
                .map(|c| alb_condition(c).map_err(|e| resource_err(resource, e)))
                .collect::<Result<Vec<_>, _>>()?;
            let action = r.actions.first().ok_or_else(|| {
                resource_err(resource, format!("rule {} has no action", r.priority))
            })?;
            airlock_alb::Rule::new(
                r.priority,
                conditions,
                alb_action(action, target_groups, resource)?,
            )
            .map_err(|e| resource_err(resource, e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(airlock_alb::ListenerConfig {
        protocol: match l.protocol {
            cfg::Protocol::Http => airlock_alb::Protocol::Http,
            cfg::Protocol::Https => airlock_alb::Protocol::Https,
        },
        port: l.port,
        certificates,
        rules,
        default_action: alb_action(default_action, target_groups, resource)?,
    })
}

fn alb_condition(c: &cfg::RuleCondition) -> Result<airlock_alb::Condition, airlock_alb::RuleError> {
    use airlock_alb::Condition;
    match c.field {
        cfg::ConditionField::HostHeader => Condition::host_header(&c.values),
        cfg::ConditionField::PathPattern => Condition::path_pattern(&c.values),
        cfg::ConditionField::HttpHeader => {
            Condition::http_header(c.http_header_name.as_deref().unwrap_or_default(), &c.values)
        }
        cfg::ConditionField::HttpRequestMethod => Condition::http_request_method(&c.values),
        cfg::ConditionField::QueryString => {
            Condition::query_string(c.values.iter().map(|v| match v.split_once('=') {
                Some((k, v)) => (Some(k), v),
                None => (None, v.as_str()),
            }))
        }
        cfg::ConditionField::SourceIp => Condition::source_ip(&c.values),
    }
}
