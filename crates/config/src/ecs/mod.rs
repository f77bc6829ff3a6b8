//! Amazon ECS on Fargate in the stack file: clusters, task definitions (inline; the JSON form is
//! read by `taskdef`), container definitions and services (`AWS::ECS::*`), and the service
//! quotas the stack is checked against.

pub(crate) mod taskdef;

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::scalars::{BuiltinApp, CpuUnits, MemoryMib, default_true};

/// An ECS cluster.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// The name services refer to.
    pub cluster_name: String,
}

/// A task network mode; Fargate requires awsvpc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum NetworkMode {
    /// Each task gets its own interface and private IP.
    #[default]
    #[serde(rename = "awsvpc")]
    Awsvpc,
}

/// An ECS task definition, written inline (snake_case) or read from ECS's own JSON with
/// `file: path/to/taskdef.json` (relative to the stack file; see [`taskdef`]). Both come
/// out in this one shape.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, remote = "Self")]
pub struct TaskDefinition {
    /// The name services refer to.
    pub family: String,
    /// CPU units, a valid Fargate size with `memory`.
    pub cpu: CpuUnits,
    /// Memory in MiB.
    pub memory: MemoryMib,
    /// awsvpc (the default and only mode).
    #[serde(default)]
    pub network_mode: NetworkMode,
    /// Containers, at least one essential.
    #[serde(default)]
    pub container_definitions: Vec<ContainerDefinition>,
    /// The ECS JSON file this definition was read from, as written in the stack file.
    #[serde(default)]
    pub file: Option<String>,
}

impl TaskDefinition {
    /// The container named `name`.
    pub fn container(&self, name: &str) -> Option<&ContainerDefinition> {
        self.container_definitions.iter().find(|c| c.name == name)
    }
}

fn default_port_env_var() -> String {
    "PORT".to_owned()
}

/// A container: what runs (a built-in app, a local command or an image), its ports and
/// environment.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerDefinition {
    /// Unique within the task definition.
    pub name: String,
    /// A built-in app; exclusive with `command` and `image`.
    #[serde(default)]
    pub builtin: Option<BuiltinApp>,
    /// Without `image`: a local program and its arguments. With `image`: the image's CMD
    /// override, as in ECS.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// A container image (`repo/name:tag`), run through Docker unless `image_map` redirects it.
    #[serde(default)]
    pub image: Option<String>,
    /// The image's ENTRYPOINT override (`entryPoint`).
    #[serde(default)]
    pub entry_point: Option<Vec<String>>,
    /// The command's working directory (for an image: inside the container).
    #[serde(default)]
    pub working_directory: Option<String>,
    /// The environment variable that tells the program which port to listen on.
    #[serde(default = "default_port_env_var")]
    pub port_env_var: String,
    /// When an essential container stops, the task stops.
    #[serde(default = "default_true")]
    pub essential: bool,
    /// Ports the container listens on.
    #[serde(default)]
    pub port_mappings: Vec<PortMapping>,
    /// Environment variables.
    #[serde(default)]
    pub environment: Vec<KeyValuePair>,
    /// A container health check (`healthCheck`).
    #[serde(default)]
    pub health_check: Option<ContainerHealthCheck>,
    /// Containers that must reach a condition before this one starts (`dependsOn`).
    #[serde(default)]
    pub depends_on: Vec<ContainerDependency>,
    /// Seconds between the stop signal and SIGKILL (Fargate: 2 to 120, default 30).
    #[serde(default)]
    pub stop_timeout: Option<u32>,
    /// Seconds to wait for `depends_on` conditions (Fargate: 2 to 120).
    #[serde(default)]
    pub start_timeout: Option<u32>,
    /// The log driver; `awslogs` options name the task's log file.
    #[serde(default)]
    pub log_configuration: Option<LogConfiguration>,
}

/// ECS's default seconds between container health checks.
fn health_check_interval() -> u32 {
    30
}
/// ECS's default seconds a container health check may take.
fn health_check_timeout() -> u32 {
    5
}
/// ECS's default consecutive failures before a container is unhealthy.
fn health_check_retries() -> u32 {
    3
}

/// A container health check (docs/aws-rules.md §ALB-4.1): a command run in the container; exit 0 is healthy.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerHealthCheck {
    /// `["CMD", program, args...]` or `["CMD-SHELL", "shell command"]`.
    pub command: Vec<String>,
    /// Seconds between checks, 5 to 300 (default 30).
    #[serde(default = "health_check_interval")]
    pub interval: u32,
    /// Seconds a check may take, 2 to 60 (default 5).
    #[serde(default = "health_check_timeout")]
    pub timeout: u32,
    /// Consecutive failures before UNHEALTHY, 1 to 10 (default 3).
    #[serde(default = "health_check_retries")]
    pub retries: u32,
    /// Seconds after start in which failures do not count, 0 to 300 (default off).
    #[serde(default)]
    pub start_period: Option<u32>,
}

/// A `dependsOn` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum DependencyCondition {
    /// The dependency has started.
    #[serde(rename = "START")]
    Start,
    /// The dependency has exited.
    #[serde(rename = "COMPLETE")]
    Complete,
    /// The dependency has exited with code 0.
    #[serde(rename = "SUCCESS")]
    Success,
    /// The dependency's health check passed.
    #[serde(rename = "HEALTHY")]
    Healthy,
}

/// One `dependsOn` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerDependency {
    /// A container of the same task definition.
    pub container_name: String,
    /// What it must reach first.
    pub condition: DependencyCondition,
}

/// A container's `logConfiguration`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfiguration {
    /// e.g. `awslogs`.
    pub log_driver: String,
    /// Driver options, e.g. `awslogs-group`, `awslogs-stream-prefix`.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// Where an `image_map` entry sends an image: exactly one of `builtin`, `command`, `image`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageTarget {
    /// Run a built-in app instead.
    #[serde(default)]
    pub builtin: Option<BuiltinApp>,
    /// Run a local program instead (replacing the definition's entry point and command).
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// The local program's working directory.
    #[serde(default)]
    pub working_directory: Option<String>,
    /// The variable that tells the local program its port.
    #[serde(default = "default_port_env_var")]
    pub port_env_var: String,
    /// Run this local Docker image instead.
    #[serde(default)]
    pub image: Option<String>,
}

/// What a container runs, as written (before `image_map`; see [`Stack::runner`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program<'a> {
    /// A built-in app.
    Builtin(BuiltinApp),
    /// A local command: program then arguments (never empty).
    Command(&'a [String]),
    /// A container image.
    Image(&'a str),
}

impl ContainerDefinition {
    /// What the container runs (validation guarantees exactly one of builtin/command/image).
    pub fn program(&self) -> Program<'_> {
        match (&self.builtin, &self.image, &self.command) {
            (Some(app), _, _) => Program::Builtin(*app),
            (None, Some(image), _) => Program::Image(image),
            (None, None, command) => Program::Command(command.as_deref().unwrap_or_default()),
        }
    }
}

/// A transport protocol of a port mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum PortProtocol {
    /// TCP (default).
    #[default]
    #[serde(rename = "tcp")]
    Tcp,
    /// UDP.
    #[serde(rename = "udp")]
    Udp,
}

/// A container port.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortMapping {
    /// The port the container listens on (1 to 65535).
    pub container_port: u16,
    /// tcp (default) or udp.
    #[serde(default)]
    pub protocol: PortProtocol,
}

/// An environment variable.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyValuePair {
    /// The variable's name.
    pub name: String,
    /// Its value.
    pub value: String,
}

fn default_desired_count() -> u32 {
    1
}

/// An ECS service.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// The service's name (unique in the stack).
    pub service_name: String,
    /// The cluster's name.
    pub cluster: String,
    /// The task definition's family.
    pub task_definition: String,
    /// How many tasks to keep running (default 1).
    #[serde(default = "default_desired_count")]
    pub desired_count: u32,
    /// Where tasks get their interfaces.
    pub network_configuration: NetworkConfiguration,
    /// Target groups the tasks register in.
    #[serde(default)]
    pub load_balancers: Vec<ServiceLoadBalancer>,
    /// Rolling deployment bounds (defaults 200 / 100, as ECS).
    #[serde(default)]
    pub deployment_configuration: DeploymentConfiguration,
    /// Seconds after a task starts in which failing health checks are ignored (default 0).
    #[serde(default)]
    pub health_check_grace_period_seconds: u32,
}

/// `deploymentConfiguration` of a service (docs/aws-rules.md §ALB-4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentConfiguration {
    /// Upper bound of RUNNING + PENDING tasks, in percent of the desired count (default 200).
    #[serde(default = "deployment_maximum_percent")]
    pub maximum_percent: u32,
    /// Lower bound of healthy tasks, in percent of the desired count (default 100).
    #[serde(default = "deployment_minimum_healthy_percent")]
    pub minimum_healthy_percent: u32,
}

/// ECS's default upper bound of a deployment, in percent of the desired count.
fn deployment_maximum_percent() -> u32 {
    200
}
/// ECS's default lower bound of healthy tasks during a deployment, in percent.
fn deployment_minimum_healthy_percent() -> u32 {
    100
}

impl Default for DeploymentConfiguration {
    fn default() -> Self {
        DeploymentConfiguration {
            maximum_percent: deployment_maximum_percent(),
            minimum_healthy_percent: deployment_minimum_healthy_percent(),
        }
    }
}

/// A service's awsvpc configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfiguration {
    /// Subnets (by name), 1 to 16; tasks are spread over them.
    #[serde(default)]
    pub subnets: Vec<String>,
    /// Security groups (by name), at most 5.
    #[serde(default)]
    pub security_groups: Vec<String>,
}

/// A target group a service's tasks register in.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceLoadBalancer {
    /// The target group's name.
    pub target_group: String,
    /// The container whose port is registered.
    pub container_name: String,
    /// One of that container's `container_port`s.
    pub container_port: u16,
}

/// ECS's quota "Tasks per service" (not adjustable): the most tasks one service may keep, that
/// is, the largest desired count. Source: Amazon ECS service quotas,
/// <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-quotas.html>, "Tasks per
/// service".
pub const ECS_TASKS_PER_SERVICE: u32 = 5_000;

/// Why a service cannot keep `count` tasks when its subnets have `free` addresses left for it:
/// `(message, hint)`, in the words the stack file's validation uses for `desired_count`.
pub fn desired_count_problem(count: u32, free: u64) -> Option<(String, String)> {
    if count > ECS_TASKS_PER_SERVICE {
        return Some((
            format!(
                "desired_count {count} is above ECS's quota of {ECS_TASKS_PER_SERVICE} tasks per service"
            ),
            format!(
                "use at most {ECS_TASKS_PER_SERVICE} (Amazon ECS service quotas, \"Tasks per service\")"
            ),
        ));
    }
    if u64::from(count) > free {
        return Some((
            format!(
                "desired_count {count} needs {count} private addresses, but the service's subnets have {free} free"
            ),
            "lower desired_count, or give the service more or larger subnets".to_owned(),
        ));
    }
    None
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
