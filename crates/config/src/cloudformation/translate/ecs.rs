//! The template's ECS and its logs: `AWS::ECS::Cluster`, `TaskDefinition` (as CloudFormation
//! writes it, PascalCase), `Service` and `AWS::Logs::LogGroup` become the stack's `clusters`,
//! `task_definitions` and `services`.
//!
//! Names: a cluster by its physical name (`ClusterName`, or the generated one `Ref` returns), a
//! task definition by its family, a service by its `Name` attribute. A log group has no entry
//! of its own: its name is what `!Ref LogGroup` gives a container's `awslogs-group` option,
//! which places the task's log files (`GROUP/PREFIX/CONTAINER/TASK_ID`).
//!
//! The EC2 launch type (and `RequiresCompatibilities: [EC2]`) runs like Fargate, with a
//! warning; so do the bridge and host network modes such a task definition may use.

use yaml_serde::Value as Yaml;

use crate::error::DiagnosticKind;

use super::super::evaluated::Resource;
use super::super::node::{Node, Value};
use super::ec2;
use super::values::{Map, boolean, check_keys, int, items, num, s, seq, text};
use super::{Ctx, Origin, Section};

const CLUSTER: &str = "AWS::ECS::Cluster";
const TASK_DEFINITION: &str = "AWS::ECS::TaskDefinition";
const SERVICE: &str = "AWS::ECS::Service";
const LOG_GROUP: &str = "AWS::Logs::LogGroup";
const TARGET_GROUP: &str = "AWS::ElasticLoadBalancingV2::TargetGroup";

/// The cluster a service without `Cluster` runs in, as in ECS.
const DEFAULT_CLUSTER: &str = "default";

/// Adds the template's clusters, task definitions, services and log groups.
pub(crate) fn translate(cx: &mut Ctx<'_>) {
    for r in cx.of_type(LOG_GROUP).collect::<Vec<_>>() {
        cx.name(r, r.physical_id.clone());
    }
    for r in cx.of_type(CLUSTER).collect::<Vec<_>>() {
        cx.name(r, r.physical_id.clone());
        cx.doc.push(
            Section::Clusters,
            Origin::of(r),
            Map::new().with("cluster_name", s(&r.physical_id)).into(),
        );
    }
    for r in cx.of_type(TASK_DEFINITION).collect::<Vec<_>>() {
        task_definition(cx, r);
    }
    let mut default_cluster = false;
    for r in cx.of_type(SERVICE).collect::<Vec<_>>() {
        default_cluster |= service(cx, r);
    }
    if default_cluster {
        cx.doc.push(
            Section::Clusters,
            Origin::made_up("ECS's default cluster, for services that name none"),
            Map::new().with("cluster_name", s(DEFAULT_CLUSTER)).into(),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Task definitions.

/// Task-level properties airlock does not emulate but that do not stop a task from running.
const TASK_WARN: &[&str] = &[
    "Volumes",
    "PlacementConstraints",
    "ProxyConfiguration",
    "EphemeralStorage",
    "RuntimePlatform",
    "PidMode",
    "IpcMode",
    "InferenceAccelerators",
    "EnableFaultInjection",
];

const CONTAINER_KEYS: &[&str] = &[
    "Name",
    "Image",
    "Essential",
    "PortMappings",
    "Environment",
    "Command",
    "EntryPoint",
    "WorkingDirectory",
    "HealthCheck",
    "DependsOn",
    "StopTimeout",
    "StartTimeout",
    "LogConfiguration",
];

/// Container properties accepted with a warning: resource limits, mounts, secrets and Docker
/// options that airlock's runner does not apply.
const CONTAINER_WARN: &[&str] = &[
    "Cpu",
    "Memory",
    "MemoryReservation",
    "Links",
    "MountPoints",
    "VolumesFrom",
    "LinuxParameters",
    "Secrets",
    "User",
    "Privileged",
    "ReadonlyRootFilesystem",
    "DnsServers",
    "DnsSearchDomains",
    "ExtraHosts",
    "DockerSecurityOptions",
    "Interactive",
    "PseudoTerminal",
    "DockerLabels",
    "Ulimits",
    "SystemControls",
    "ResourceRequirements",
    "FirelensConfiguration",
    "RepositoryCredentials",
    "EnvironmentFiles",
    "RestartPolicy",
    "Hostname",
    "DisableNetworking",
    "CredentialSpecs",
    "VersionConsistency",
];

fn task_definition(cx: &mut Ctx<'_>, r: &Resource) {
    let p = &r.properties;
    let family = p
        .get("Family")
        .and_then(Node::scalar_text)
        .unwrap_or_else(|| {
            // `Ref` gives the ARN; the family is its last part before the revision.
            r.physical_id
                .rsplit_once("task-definition/")
                .and_then(|(_, rest)| rest.rsplit_once(':'))
                .map_or(r.logical_id.clone(), |(f, _)| f.to_owned())
        });
    cx.name(r, family.clone());
    for key in TASK_WARN {
        if let Some(node) = p.get(key) {
            cx.warnings.push(format!(
                "{}: accepted, not emulated: airlock runs the task without it",
                node.path
            ));
        }
    }
    let compat: Vec<String> = p
        .get("RequiresCompatibilities")
        .and_then(Node::as_list)
        .map(|l| l.iter().filter_map(Node::scalar_text).collect())
        .unwrap_or_default();
    let fargate = compat.iter().any(|c| c == "FARGATE");
    if !compat.is_empty() && !fargate {
        cx.warnings.push(format!(
            "{} requires {}: airlock runs it like Fargate (one task, its own interface and address)",
            r.logical_id,
            compat.join(", ")
        ));
    }
    match p.get("NetworkMode") {
        Some(node) => match node.scalar_text().as_deref() {
            Some("awsvpc") => {}
            other if fargate => cx.problem(
                node,
                DiagnosticKind::InvalidValue,
                format!(
                    "network mode {:?} is not supported by Fargate",
                    other.unwrap_or_default()
                ),
                "use NetworkMode: awsvpc",
            ),
            other => cx.warnings.push(format!(
                "{}: network mode {} runs as awsvpc, as on Fargate: each task has its own address",
                node.path,
                other.unwrap_or_default()
            )),
        },
        None if fargate => cx.problem_at(
            r,
            DiagnosticKind::Schema,
            format!(
                "{} has no NetworkMode; ECS would use bridge, which Fargate refuses",
                r.logical_id
            ),
            "add NetworkMode: awsvpc",
        ),
        None => {}
    }
    let mut size = Vec::new();
    for key in ["Cpu", "Memory"] {
        match p.get(key).map(|n| text(cx, n)) {
            Some(Some(v)) => size.push(v),
            Some(None) => size.push(String::new()),
            None if fargate => {
                cx.problem_at(
                    r,
                    DiagnosticKind::Schema,
                    format!(
                        "{} has no {key}; Fargate needs the task's size",
                        r.logical_id
                    ),
                    "set Cpu and Memory at task level, e.g. Cpu: \"256\", Memory: \"512\"",
                );
                size.push(String::new());
            }
            None => {
                let default = if key == "Cpu" { "256" } else { "512" };
                cx.warnings.push(format!(
                    "{}: no task-level {key}; airlock runs the task with {default}",
                    r.path
                ));
                size.push(default.to_owned());
            }
        }
    }
    let containers: Vec<Yaml> = match p.get("ContainerDefinitions") {
        Some(node) => items(cx, node)
            .into_iter()
            .filter_map(|c| container(cx, c))
            .collect(),
        None => {
            cx.problem_at(
                r,
                DiagnosticKind::Schema,
                format!("{} has no ContainerDefinitions", r.logical_id),
                "define at least one container",
            );
            Vec::new()
        }
    };
    cx.doc.push(
        Section::TaskDefinitions,
        Origin::of(r),
        Map::new()
            .with("family", s(&family))
            .with("cpu", s(&size[0]))
            .with("memory", s(&size[1]))
            .with("network_mode", s("awsvpc"))
            .with("container_definitions", seq(containers))
            .into(),
    );
}

/// One container definition, PascalCase to the stack's snake_case.
fn container(cx: &mut Ctx<'_>, node: &Node) -> Option<Yaml> {
    check_keys(cx, node, CONTAINER_KEYS, CONTAINER_WARN);
    let name = node.get("Name").and_then(|n| text(cx, n));
    let Some(name) = name else {
        cx.problem(
            node,
            DiagnosticKind::Schema,
            "a container definition needs Name",
            "give the container a Name",
        );
        return None;
    };
    let Some(image) = node.get("Image").and_then(|n| text(cx, n)) else {
        cx.problem(
            node,
            DiagnosticKind::Schema,
            format!("container {name:?} has no Image"),
            "name its image; `--image NAME=builtin:echo` (or command:…, image:…) runs it locally",
        );
        return None;
    };
    let mut m = Map::new().with("name", s(&name)).with("image", s(image));
    for (key, field) in [("Command", "command"), ("EntryPoint", "entry_point")] {
        if let Some(list) = node.get(key) {
            let words: Vec<Yaml> = items(cx, list)
                .into_iter()
                .filter_map(|n| text(cx, n))
                .map(s)
                .collect();
            m = m.with(field, seq(words));
        }
    }
    if let Some(v) = node.get("WorkingDirectory").and_then(|n| text(cx, n)) {
        m = m.with("working_directory", s(v));
    }
    if let Some(v) = node.get("Essential").and_then(|n| boolean(cx, n)) {
        m = m.with("essential", Yaml::Bool(v));
    }
    if let Some(list) = node.get("PortMappings") {
        let mut ports = Vec::new();
        for pm in items(cx, list) {
            check_keys(
                cx,
                pm,
                &["ContainerPort", "HostPort", "Protocol"],
                &["Name", "AppProtocol", "ContainerPortRange"],
            );
            let Some(port) = pm.get("ContainerPort").and_then(|n| int(cx, n, 1, 65535)) else {
                if pm.get("ContainerPort").is_none() {
                    cx.problem(
                        pm,
                        DiagnosticKind::Schema,
                        "a port mapping needs ContainerPort with the awsvpc network mode",
                        "add ContainerPort",
                    );
                }
                continue;
            };
            if let Some(h) = pm.get("HostPort")
                && let Some(host) = int(cx, h, 0, 65535)
                && host != port
                && host != 0
            {
                cx.warnings.push(format!(
                    "{}: host port {host} differs from container port {port}; as with awsvpc, the task listens on {port}",
                    h.path
                ));
            }
            let mut entry = Map::new().with("container_port", num(port));
            if let Some(proto) = pm.get("Protocol").and_then(|n| text(cx, n)) {
                entry = entry.with("protocol", s(proto.to_lowercase()));
            }
            ports.push(entry.into());
        }
        m = m.with("port_mappings", seq(ports));
    }
    if let Some(list) = node.get("Environment") {
        let mut env = Vec::new();
        for kv in items(cx, list) {
            check_keys(cx, kv, &["Name", "Value"], &[]);
            let (Some(k), Some(v)) = (
                kv.get("Name").and_then(|n| text(cx, n)),
                kv.get("Value").and_then(|n| text(cx, n)),
            ) else {
                cx.problem(
                    kv,
                    DiagnosticKind::Schema,
                    "an environment variable needs Name and Value",
                    "write {Name: NAME, Value: value}",
                );
                continue;
            };
            env.push(Map::new().with("name", s(k)).with("value", s(v)).into());
        }
        m = m.with("environment", seq(env));
    }
    if let Some(hc) = node.get("HealthCheck") {
        check_keys(
            cx,
            hc,
            &["Command", "Interval", "Timeout", "Retries", "StartPeriod"],
            &[],
        );
        let command: Vec<Yaml> = hc
            .get("Command")
            .map(|c| items(cx, c))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|n| text(cx, n))
            .map(s)
            .collect();
        let mut h = Map::new().with("command", seq(command));
        for (key, field) in [
            ("Interval", "interval"),
            ("Timeout", "timeout"),
            ("Retries", "retries"),
            ("StartPeriod", "start_period"),
        ] {
            if let Some(v) = hc.get(key).and_then(|n| int(cx, n, 0, i64::from(u32::MAX))) {
                h = h.with(field, num(v));
            }
        }
        m = m.with("health_check", h.into());
    }
    if let Some(list) = node.get("DependsOn") {
        let mut deps = Vec::new();
        for d in items(cx, list) {
            check_keys(cx, d, &["ContainerName", "Condition"], &[]);
            let (Some(c), Some(cond)) = (
                d.get("ContainerName").and_then(|n| text(cx, n)),
                d.get("Condition").and_then(|n| text(cx, n)),
            ) else {
                cx.problem(
                    d,
                    DiagnosticKind::Schema,
                    "a container dependency needs ContainerName and Condition",
                    "write {ContainerName: other, Condition: START}",
                );
                continue;
            };
            deps.push(
                Map::new()
                    .with("container_name", s(c))
                    .with("condition", s(cond))
                    .into(),
            );
        }
        m = m.with("depends_on", seq(deps));
    }
    for (key, field) in [
        ("StopTimeout", "stop_timeout"),
        ("StartTimeout", "start_timeout"),
    ] {
        if let Some(v) = node
            .get(key)
            .and_then(|n| int(cx, n, 0, i64::from(u32::MAX)))
        {
            m = m.with(field, num(v));
        }
    }
    if let Some(lc) = node.get("LogConfiguration") {
        check_keys(cx, lc, &["LogDriver", "Options"], &["SecretOptions"]);
        if let Some(driver) = lc.get("LogDriver").and_then(|n| text(cx, n)) {
            let mut options = Map::new();
            if let Some(opts) = lc.get("Options") {
                for (k, v) in opts.as_map().unwrap_or_default() {
                    if let Some(v) = text(cx, v) {
                        options = options.with(k, s(v));
                    }
                }
            }
            m = m.with(
                "log_configuration",
                Map::new()
                    .with("log_driver", s(driver))
                    .with("options", options.into())
                    .into(),
            );
        }
    }
    Some(m.into())
}

// ---------------------------------------------------------------------------------------------
// Services.

/// Translates a service; true when it runs in ECS's default cluster (it names none).
fn service(cx: &mut Ctx<'_>, r: &Resource) -> bool {
    let name = match r.attribute("Name") {
        Some(Value::String(n)) => n.clone(),
        _ => r.logical_id.clone(),
    };
    cx.name(r, name.clone());
    let p = &r.properties;
    let mut default_cluster = false;
    let cluster = match p.get("Cluster") {
        Some(node) => cx.reference_name(node, &[CLUSTER]),
        None => {
            default_cluster = true;
            Some(DEFAULT_CLUSTER.to_owned())
        }
    };
    let task_definition = match p.get("TaskDefinition") {
        Some(node) => cx.reference_name(node, &[TASK_DEFINITION]),
        None => {
            cx.problem_at(
                r,
                DiagnosticKind::Schema,
                format!("{} has no TaskDefinition", r.logical_id),
                "set TaskDefinition: !Ref TheTaskDefinition",
            );
            None
        }
    };
    if let Some(node) = p.get("LaunchType") {
        match node.scalar_text().as_deref() {
            Some("FARGATE") => {}
            Some("EC2") => cx.warnings.push(format!(
                "{}: the EC2 launch type runs like Fargate: each task gets its own interface and address",
                node.path
            )),
            other => cx.problem(
                node,
                DiagnosticKind::InvalidValue,
                format!("launch type {:?} is not run by airlock", other.unwrap_or_default()),
                "use LaunchType: FARGATE (EC2 runs like Fargate too)",
            ),
        }
    }
    if let Some(node) = p.get("CapacityProviderStrategy") {
        cx.warnings.push(format!(
            "{}: capacity providers are not emulated; the tasks run like Fargate",
            node.path
        ));
    }
    if let Some(node) = p.get("SchedulingStrategy")
        && node.scalar_text().as_deref() == Some("DAEMON")
    {
        cx.problem(
            node,
            DiagnosticKind::InvalidValue,
            "the DAEMON scheduling strategy places a task per container instance, which airlock does not have",
            "use SchedulingStrategy: REPLICA with a DesiredCount",
        );
    }
    if let Some(node) = p.get("DeploymentController")
        && let Some(kind) = node.get("Type").and_then(Node::scalar_text)
        && kind != "ECS"
    {
        cx.problem(
            node,
            DiagnosticKind::InvalidValue,
            format!("the {kind} deployment controller is not run by airlock"),
            "use the rolling ECS deployment controller (leave DeploymentController out)",
        );
    }
    for key in [
        "ServiceRegistries",
        "ServiceConnectConfiguration",
        "VpcLatticeConfigurations",
        "VolumeConfigurations",
    ] {
        if let Some(node) = p.get(key) {
            cx.warnings.push(format!(
                "{}: accepted, not emulated: the service runs without it",
                node.path
            ));
        }
    }
    let desired = match p.get("DesiredCount") {
        Some(node) => int(cx, node, 0, i64::from(u32::MAX)),
        None => Some(1),
    };
    let network = match p
        .get("NetworkConfiguration")
        .and_then(|n| n.get("AwsvpcConfiguration"))
    {
        Some(aws) => {
            check_keys(
                cx,
                aws,
                &["Subnets", "SecurityGroups", "AssignPublicIp"],
                &[],
            );
            let subnets = match aws.get("Subnets") {
                Some(node) => ec2::subnets_of(cx, node),
                None => {
                    cx.problem(
                        aws,
                        DiagnosticKind::Schema,
                        "AwsvpcConfiguration needs Subnets",
                        "list the subnets the tasks run in",
                    );
                    Vec::new()
                }
            };
            let groups = ec2::security_groups(cx, aws.get("SecurityGroups"));
            Map::new()
                .with("subnets", seq(subnets.into_iter().map(s).collect()))
                .with("security_groups", seq(groups.into_iter().map(s).collect()))
        }
        None => {
            // A bridge-mode EC2 service has no awsvpc configuration; its tasks run in the
            // VPC's subnets with the default group, as a Fargate task would.
            let subnets: Vec<Yaml> = cx
                .doc
                .entries_mut(Section::Subnets)
                .filter_map(|(_, v)| v.get("name").cloned())
                .collect();
            cx.warnings.push(format!(
                "{} has no NetworkConfiguration.AwsvpcConfiguration; its tasks run in every subnet with the VPC's default security group",
                r.logical_id
            ));
            Map::new()
                .with("subnets", seq(subnets))
                .with("security_groups", seq(vec![s(ec2::DEFAULT_GROUP)]))
        }
    };
    let mut balancers = Vec::new();
    if let Some(list) = p.get("LoadBalancers") {
        for lb in items(cx, list) {
            check_keys(
                cx,
                lb,
                &[
                    "TargetGroupArn",
                    "ContainerName",
                    "ContainerPort",
                    "LoadBalancerName",
                ],
                &[],
            );
            if let Some(classic) = lb.get("LoadBalancerName") {
                cx.problem(
                    classic,
                    DiagnosticKind::Schema,
                    "Classic Load Balancers are not run by airlock",
                    "attach the service to an Application Load Balancer's target group with TargetGroupArn",
                );
                continue;
            }
            let tg = match lb.get("TargetGroupArn") {
                Some(n) => cx.reference_name(n, &[TARGET_GROUP]),
                None => {
                    cx.problem(
                        lb,
                        DiagnosticKind::Schema,
                        "a service load balancer needs TargetGroupArn",
                        "set TargetGroupArn: !Ref TheTargetGroup",
                    );
                    None
                }
            };
            let container = lb.get("ContainerName").and_then(|n| text(cx, n));
            let port = lb.get("ContainerPort").and_then(|n| int(cx, n, 1, 65535));
            if let (Some(tg), Some(container), Some(port)) = (tg, container, port) {
                balancers.push(
                    Map::new()
                        .with("target_group", s(tg))
                        .with("container_name", s(container))
                        .with("container_port", num(port))
                        .into(),
                );
            }
        }
    }
    let mut entry = Map::new()
        .with("service_name", s(&name))
        .maybe("cluster", cluster.map(s))
        .maybe("task_definition", task_definition.map(s))
        .maybe("desired_count", desired.map(num))
        .with("network_configuration", network.into())
        .with("load_balancers", seq(balancers));
    if let Some(dc) = p.get("DeploymentConfiguration") {
        check_keys(
            cx,
            dc,
            &["MaximumPercent", "MinimumHealthyPercent"],
            &[
                "DeploymentCircuitBreaker",
                "Alarms",
                "Strategy",
                "BakeTimeInMinutes",
                "LifecycleHooks",
                "CanaryConfiguration",
                "LinearConfiguration",
            ],
        );
        let mut d = Map::new();
        for (key, field) in [
            ("MaximumPercent", "maximum_percent"),
            ("MinimumHealthyPercent", "minimum_healthy_percent"),
        ] {
            if let Some(v) = dc.get(key).and_then(|n| int(cx, n, 0, i64::from(u32::MAX))) {
                d = d.with(field, num(v));
            }
        }
        entry = entry.with("deployment_configuration", d.into());
    }
    if let Some(v) = p
        .get("HealthCheckGracePeriodSeconds")
        .and_then(|n| int(cx, n, 0, i64::from(u32::MAX)))
    {
        entry = entry.with("health_check_grace_period_seconds", num(v));
    }
    cx.doc.push(Section::Services, Origin::of(r), entry.into());
    default_cluster
}
