//! ECS services and task definitions from the stack file, and the target health view the
//! scheduler follows.

use super::*;

/// The target group's health of each target, as the ECS scheduler needs it.
pub(super) fn lb_health_view(
    group: &airlock_alb::TargetGroup,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
) -> tokio::sync::watch::Receiver<Vec<(SocketAddr, airlock_fargate::LbTargetHealth)>> {
    let mut health = group.watch_health();
    let view = |targets: &[airlock_alb::TargetHealth]| {
        targets
            .iter()
            .map(|t| {
                let h = match t.state {
                    airlock_alb::TargetState::Healthy | airlock_alb::TargetState::Unavailable => {
                        airlock_fargate::LbTargetHealth::Healthy
                    }
                    airlock_alb::TargetState::Unhealthy => {
                        airlock_fargate::LbTargetHealth::Unhealthy
                    }
                    _ => airlock_fargate::LbTargetHealth::Other,
                };
                (t.target, h)
            })
            .collect::<Vec<_>>()
    };
    let (tx, rx) = tokio::sync::watch::channel(view(&health.borrow_and_update()));
    let shutdown = shutdown.clone();
    tracker.spawn(async move {
        loop {
            tokio::select! {
                changed = health.changed() => if changed.is_err() { return },
                _ = shutdown.cancelled() => return,
            }
            if tx.send(view(&health.borrow_and_update())).is_err() {
                return;
            }
        }
    });
    rx
}

/// Joins the target sets of several services feeding one target group.
pub(super) fn merge_targets(
    mut sources: Vec<tokio::sync::watch::Receiver<Vec<SocketAddr>>>,
    shutdown: &CancellationToken,
) -> tokio::sync::watch::Receiver<Vec<SocketAddr>> {
    if sources.len() == 1 {
        return sources.remove(0);
    }
    let current = |s: &[tokio::sync::watch::Receiver<Vec<SocketAddr>>]| {
        s.iter()
            .flat_map(|r| r.borrow().clone())
            .collect::<Vec<_>>()
    };
    let (tx, rx) = tokio::sync::watch::channel(current(&sources));
    if sources.is_empty() {
        // No service feeds this group: it stays empty (the ALB answers 503), and the sender
        // must outlive the receiver, so park it with the shutdown.
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            shutdown.cancelled().await;
            drop(tx);
        });
        return rx;
    }
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        loop {
            let changed =
                futures_util::future::select_all(sources.iter_mut().map(|r| Box::pin(r.changed())));
            tokio::select! {
                _ = shutdown.cancelled() => break,
                (res, _, _) = changed => if res.is_err() { break },
            }
            let _ = tx.send(current(&sources));
        }
    });
    rx
}

pub(super) fn service_config(
    stack: &cfg::Stack,
    svc: &cfg::Service,
    state_dir: &std::path::Path,
) -> Result<airlock_fargate::ServiceConfig, StackError> {
    let resource = format!("services[{}]", svc.service_name);
    let td = stack
        .task_definition(&svc.task_definition)
        .ok_or_else(|| resource_err(&resource, "task definition not declared"))?;
    Ok(airlock_fargate::ServiceConfig {
        name: svc.service_name.clone(),
        cluster: svc.cluster.clone(),
        region: stack.region.as_str().to_owned(),
        account_id: stack.account_id.as_str().to_owned(),
        desired_count: svc.desired_count,
        subnets: svc.network_configuration.subnets.clone(),
        security_groups: svc.network_configuration.security_groups.clone(),
        task_definition: task_definition_config(stack, td, 1),
        load_balancer: svc
            .load_balancers
            .first()
            .map(|lb| airlock_fargate::LbAttachment {
                container_name: lb.container_name.clone(),
                container_port: lb.container_port,
            }),
        // The target group's `deregistration_delay.timeout_seconds` (docs/aws-rules.md §ALB-4.3).
        deregistration_delay: svc
            .load_balancers
            .first()
            .and_then(|lb| stack.target_group(&lb.target_group))
            .map_or(Duration::ZERO, |tg| {
                Duration::from_secs(u64::from(tg.deregistration_delay_timeout_seconds))
            }),
        maximum_percent: svc.deployment_configuration.maximum_percent,
        minimum_healthy_percent: svc.deployment_configuration.minimum_healthy_percent,
        health_check_grace_period: Duration::from_secs(u64::from(
            svc.health_check_grace_period_seconds,
        )),
        log_dir: Some(state_dir.join("logs").join("ecs").join(&svc.cluster)),
        // The one place airlock reads DOCKER_HOST: components read no environment.
        docker: airlock_fargate::DockerEndpoint::from_docker_host(
            std::env::var("DOCKER_HOST").ok().as_deref(),
        )
        .map_err(|e| resource_err(&resource, e))?,
        // Placed by the stack once it knows whether any task runs an image (`start_services`).
        docker_network: None,
        docker_labels: Vec::new(),
        // Set by the stack from its options (`start_services`).
        pull_images: false,
    })
}

/// A task definition revision as the task runner takes it; the stack's `image_map` applies.
pub(crate) fn task_definition_config(
    stack: &cfg::Stack,
    td: &cfg::TaskDefinition,
    revision: u32,
) -> airlock_fargate::TaskDefinition {
    let containers = td
        .container_definitions
        .iter()
        .map(|c| {
            let port = c.port_mappings.first().map_or(0, |p| p.container_port);
            // The stack's image_map applies here: an ECR image may run as a built-in or a command.
            let mut spec = match stack.runner(c) {
                cfg::Runner::Builtin(app) => airlock_fargate::ContainerSpec::builtin(
                    c.name.clone(),
                    match app {
                        cfg::BuiltinApp::Pets => airlock_fargate::BuiltinApp::Pets,
                        cfg::BuiltinApp::Echo => airlock_fargate::BuiltinApp::Echo,
                    },
                    port,
                ),
                cfg::Runner::Command {
                    argv,
                    working_directory,
                    port_env_var,
                } => {
                    let mut spec = airlock_fargate::ContainerSpec::command(
                        c.name.clone(),
                        argv.to_vec(),
                        port,
                    );
                    spec.run = airlock_fargate::Run::Command {
                        argv: argv.to_vec(),
                        working_directory: working_directory.map(Into::into),
                        port_env_var: port_env_var.to_owned(),
                    };
                    spec
                }
                cfg::Runner::Image {
                    image,
                    entry_point,
                    command,
                    working_directory,
                } => {
                    let mut spec =
                        airlock_fargate::ContainerSpec::image(c.name.clone(), image, port);
                    spec.run = airlock_fargate::Run::Image {
                        image: image.to_owned(),
                        entry_point: entry_point.map(<[String]>::to_vec),
                        command: command.map(<[String]>::to_vec),
                        working_directory: working_directory.map(str::to_owned),
                    };
                    spec
                }
            };
            if let Some(t) = c.stop_timeout {
                spec.stop_timeout = Duration::from_secs(u64::from(t));
            }
            if let Some(t) = c.start_timeout {
                spec.start_timeout = Duration::from_secs(u64::from(t));
            }
            spec.health_check = c
                .health_check
                .as_ref()
                .map(|h| airlock_fargate::HealthCheck {
                    command: match h.command.first().map(String::as_str) {
                        Some("CMD-SHELL") => {
                            airlock_fargate::HealthCommand::Shell(h.command[1..].join(" "))
                        }
                        _ => airlock_fargate::HealthCommand::Exec(h.command[1..].to_vec()),
                    },
                    interval: Duration::from_secs(u64::from(h.interval)),
                    timeout: Duration::from_secs(u64::from(h.timeout)),
                    retries: h.retries,
                    start_period: Duration::from_secs(u64::from(h.start_period.unwrap_or(0))),
                });
            spec.depends_on = c
                .depends_on
                .iter()
                .map(|d| airlock_fargate::Dependency {
                    container: d.container_name.clone(),
                    condition: match d.condition {
                        cfg::DependencyCondition::Start => airlock_fargate::Condition::Start,
                        cfg::DependencyCondition::Complete => airlock_fargate::Condition::Complete,
                        cfg::DependencyCondition::Success => airlock_fargate::Condition::Success,
                        cfg::DependencyCondition::Healthy => airlock_fargate::Condition::Healthy,
                    },
                })
                .collect();
            spec.awslogs = c
                .log_configuration
                .as_ref()
                .filter(|l| l.log_driver == "awslogs")
                .and_then(|l| {
                    Some(airlock_fargate::AwsLogs {
                        group: l.options.get("awslogs-group")?.clone(),
                        stream_prefix: l.options.get("awslogs-stream-prefix").cloned(),
                    })
                });
            spec.essential = c.essential;
            spec.port_mappings = c.port_mappings.iter().map(|p| p.container_port).collect();
            spec.environment = c
                .environment
                .iter()
                .map(|kv| (kv.name.clone(), kv.value.clone()))
                .collect();
            spec
        })
        .collect();
    airlock_fargate::TaskDefinition {
        family: td.family.clone(),
        revision,
        cpu: td.cpu.0,
        memory: td.memory.0,
        containers,
    }
}
