//! The plain configuration a service runs from. The config crate builds these from the stack
//! file; tests build them in a few lines.

use std::path::PathBuf;
use std::time::Duration;

/// Fargate's default time between the stop signal and SIGKILL (`stopTimeout`, §4.1).
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a container may take to accept TCP on its port before the task fails to start.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(60);

/// An ECS service: keeps `desired_count` copies of one task definition running.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The service name, e.g. `pets`.
    pub name: String,
    /// The cluster it belongs to, e.g. `alice`.
    pub cluster: String,
    /// The region, for ARNs and the `AWS_REGION` variables, e.g. `us-east-1`.
    pub region: String,
    /// The account id, for ARNs, e.g. `000000000000`.
    pub account_id: String,
    /// How many tasks to keep running.
    pub desired_count: u32,
    /// Subnet names (`awsvpcConfiguration.subnets`); tasks are spread across them.
    pub subnets: Vec<String>,
    /// Security group names every task's interface carries.
    pub security_groups: Vec<String>,
    /// What each task runs.
    pub task_definition: TaskDefinition,
    /// The container port published as a load balancer target, if any.
    pub load_balancer: Option<LbAttachment>,
    /// How long a target stays draining after deregistration before the task gets its stop
    /// signal (the target group's `deregistration_delay.timeout_seconds`, §4.3). Not applied to
    /// tasks whose essential container already exited, nor at shutdown.
    pub deregistration_delay: Duration,
}

/// `loadBalancers[]` of a service: which container port is the target (§4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbAttachment {
    /// A container of the task definition.
    pub container_name: String,
    /// One of that container's port mappings.
    pub container_port: u16,
}

/// A task definition revision (§4.1).
#[derive(Debug, Clone)]
pub struct TaskDefinition {
    /// The family name.
    pub family: String,
    /// The revision number, from 1.
    pub revision: u32,
    /// Task CPU units (256 = 0.25 vCPU).
    pub cpu: u32,
    /// Task memory in MiB.
    pub memory: u32,
    /// The containers; at least one is essential.
    pub containers: Vec<ContainerSpec>,
}

/// One container definition.
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    /// The container name, unique in the task.
    pub name: String,
    /// Whether the task stops when this container exits (ECS default: true).
    pub essential: bool,
    /// What runs.
    pub run: Run,
    /// Container ports (awsvpc: the host port equals the container port).
    pub port_mappings: Vec<u16>,
    /// Environment variables, in order.
    pub environment: Vec<(String, String)>,
    /// Time between the stop signal and SIGKILL.
    pub stop_timeout: Duration,
    /// How long the container may take to accept connections on its port.
    pub start_timeout: Duration,
}

impl ContainerSpec {
    /// An essential built-in container serving `port`, with default timeouts.
    pub fn builtin(name: impl Into<String>, app: BuiltinApp, port: u16) -> ContainerSpec {
        ContainerSpec {
            name: name.into(),
            essential: true,
            run: Run::Builtin(app),
            port_mappings: vec![port],
            environment: Vec::new(),
            stop_timeout: DEFAULT_STOP_TIMEOUT,
            start_timeout: DEFAULT_START_TIMEOUT,
        }
    }

    /// An essential command container serving `port`, told its loopback port in `PORT`.
    pub fn command(name: impl Into<String>, argv: Vec<String>, port: u16) -> ContainerSpec {
        ContainerSpec {
            name: name.into(),
            essential: true,
            run: Run::Command {
                argv,
                working_directory: None,
                port_env_var: "PORT".to_owned(),
            },
            port_mappings: vec![port],
            environment: Vec::new(),
            stop_timeout: DEFAULT_STOP_TIMEOUT,
            start_timeout: DEFAULT_START_TIMEOUT,
        }
    }
}

/// How a container runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Run {
    /// One of airlock's sample apps, in process.
    Builtin(BuiltinApp),
    /// A local process.
    ///
    /// Several tasks cannot all bind the container port on the host, so each container gets a
    /// free loopback port in the variable `port_env_var`; the container port stays what the
    /// load balancer and the task definition see.
    Command {
        /// Program and arguments (`entryPoint` + `command`).
        argv: Vec<String>,
        /// The working directory; airlock's own when `None`.
        working_directory: Option<PathBuf>,
        /// The variable that carries the loopback port, usually `PORT`.
        port_env_var: String,
    },
}

/// airlock's built-in "container images".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinApp {
    /// The pets JSON service of the default stack.
    Pets,
    /// Answers every request with what it received.
    Echo,
}

impl BuiltinApp {
    /// The image name shown in task metadata.
    pub fn image(self) -> &'static str {
        match self {
            BuiltinApp::Pets => "airlock/pets:latest",
            BuiltinApp::Echo => "airlock/echo:latest",
        }
    }
}
