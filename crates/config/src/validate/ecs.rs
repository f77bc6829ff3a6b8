//! Checks of ECS clusters, task definitions and services.

use std::collections::{HashMap, HashSet};

use super::{Checker, list};
use crate::error::DiagnosticKind;
use crate::*;

impl<'a> Checker<'a> {
    pub(super) fn ecs(&mut self) {
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
            crate::ecs::taskdef::check_task_definition(
                td,
                &base,
                crate::ecs::taskdef::Naming::Snake,
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
                    "use a valid pair, e.g. cpu \"256\" with memory \"512\", \"1024\" or \"2048\" (docs/aws-rules.md §ALB-4.1)",
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
            if let Some((message, hint)) = crate::ecs::desired_count_problem(
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
