//! The plain configuration a service runs from. The config crate builds these from the stack
//! file; tests build them in a few lines.

use std::path::PathBuf;
use std::time::Duration;

/// Fargate's default time between the stop signal and SIGKILL (`stopTimeout`, docs/aws-rules.md §ALB-4.1).
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
    /// signal (the target group's `deregistration_delay.timeout_seconds`, docs/aws-rules.md §ALB-4.3). Not applied to
    /// tasks whose essential container already exited, nor at shutdown.
    pub deregistration_delay: Duration,
    /// `deploymentConfiguration.maximumPercent`: RUNNING + PENDING tasks stay at or below
    /// `floor(desired × this / 100)` during a rollout or a replacement (ECS default 200).
    pub maximum_percent: u32,
    /// `deploymentConfiguration.minimumHealthyPercent`: healthy RUNNING tasks stay at or above
    /// `ceil(desired × this / 100)` while old tasks are stopped (ECS default 100).
    pub minimum_healthy_percent: u32,
    /// `healthCheckGracePeriodSeconds`: how long after RUNNING a task's failing health is
    /// ignored (ECS default 0).
    pub health_check_grace_period: Duration,
    /// Where each task's stdout and stderr go, one file per task (or per awslogs stream);
    /// console only when `None`.
    pub log_dir: Option<PathBuf>,
    /// The Docker engine `image` containers run on.
    pub docker: DockerEndpoint,
    /// The Docker network `image` containers join at their task's private address, every
    /// container of a task in one network namespace (ECS `awsvpc`); `None` publishes their ports
    /// on 127.0.0.1 instead. See [`crate::DockerVpc`].
    pub docker_network: Option<String>,
    /// Labels every `image` container carries besides ECS's and the task's (`airlock.stack`:
    /// which containers a later run removes as leftovers).
    pub docker_labels: Vec<(String, String)>,
    /// Whether an image missing from the engine is pulled (`docker pull`) before the task
    /// starts; when not, or when the pull fails, the task stops with `CannotPullContainerError`.
    pub pull_images: bool,
}

impl ServiceConfig {
    /// A service with ECS's defaults: no load balancer, no deregistration delay, deployment
    /// bounds 200 % / 100 %, no grace period, console logs, the default Docker socket.
    pub fn new(
        name: impl Into<String>,
        cluster: impl Into<String>,
        subnets: Vec<String>,
        security_groups: Vec<String>,
        task_definition: TaskDefinition,
    ) -> ServiceConfig {
        ServiceConfig {
            name: name.into(),
            cluster: cluster.into(),
            region: "us-east-1".to_owned(),
            account_id: "000000000000".to_owned(),
            desired_count: 1,
            subnets,
            security_groups,
            task_definition,
            load_balancer: None,
            deregistration_delay: Duration::ZERO,
            maximum_percent: 200,
            minimum_healthy_percent: 100,
            health_check_grace_period: Duration::ZERO,
            log_dir: None,
            docker: DockerEndpoint::default(),
            docker_network: None,
            docker_labels: Vec::new(),
            pull_images: false,
        }
    }
}

/// Where the Docker engine listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerEndpoint {
    /// A unix socket, e.g. `/var/run/docker.sock`.
    Unix(PathBuf),
    /// Plain TCP, `host:port` (from `DOCKER_HOST=tcp://host:port`).
    Tcp(String),
}

/// The engine's default socket.
pub const DEFAULT_DOCKER_SOCKET: &str = "/var/run/docker.sock";

impl Default for DockerEndpoint {
    fn default() -> Self {
        DockerEndpoint::Unix(PathBuf::from(DEFAULT_DOCKER_SOCKET))
    }
}

impl DockerEndpoint {
    /// The endpoint a `DOCKER_HOST` value names (`unix:///path` or `tcp://host:port`); the
    /// default socket when unset or empty. The caller reads the environment.
    pub fn from_docker_host(value: Option<&str>) -> Result<DockerEndpoint, String> {
        match value.map(str::trim) {
            None | Some("") => Ok(DockerEndpoint::default()),
            Some(v) => {
                if let Some(path) = v.strip_prefix("unix://") {
                    Ok(DockerEndpoint::Unix(PathBuf::from(path)))
                } else if let Some(addr) = v.strip_prefix("tcp://") {
                    Ok(DockerEndpoint::Tcp(addr.trim_end_matches('/').to_owned()))
                } else {
                    Err(format!(
                        "DOCKER_HOST={v:?} is not supported (hint: use unix:///path/to/docker.sock or tcp://host:port without TLS)"
                    ))
                }
            }
        }
    }
}

impl std::fmt::Display for DockerEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DockerEndpoint::Unix(p) => write!(f, "unix://{}", p.display()),
            DockerEndpoint::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// `loadBalancers[]` of a service: which container port is the target (docs/aws-rules.md §ALB-4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbAttachment {
    /// A container of the task definition.
    pub container_name: String,
    /// One of that container's port mappings.
    pub container_port: u16,
}

/// A task definition revision (docs/aws-rules.md §ALB-4.1).
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
    /// How long the container may take to accept connections on its port, and to wait for its
    /// `depends_on` conditions (`startTimeout`).
    pub start_timeout: Duration,
    /// A container health check (docs/aws-rules.md §ALB-4.1).
    pub health_check: Option<HealthCheck>,
    /// Containers that must reach a condition before this one starts (`dependsOn`).
    pub depends_on: Vec<Dependency>,
    /// awslogs naming of the log file, when the task definition sets it.
    pub awslogs: Option<AwsLogs>,
}

/// A container health check: a command whose exit 0 means healthy (docs/aws-rules.md §ALB-4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// What runs: a local process for `builtin` and `command` containers (with the container's
    /// environment, so `$PORT` works), inside the container for images.
    pub command: HealthCommand,
    /// Time between checks; the first runs one interval after the container starts.
    pub interval: Duration,
    /// A check taking longer fails.
    pub timeout: Duration,
    /// Consecutive failures before UNHEALTHY.
    pub retries: u32,
    /// Failures in this time after start do not count; a success marks HEALTHY at once.
    pub start_period: Duration,
}

/// A health check command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthCommand {
    /// `["CMD", program, args...]`: run directly.
    Exec(Vec<String>),
    /// `["CMD-SHELL", command]`: run with `/bin/sh -c`.
    Shell(String),
}

/// One `dependsOn` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// A container of the same task.
    pub container: String,
    /// What it must reach first.
    pub condition: Condition,
}

/// A `dependsOn` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Started.
    Start,
    /// Exited.
    Complete,
    /// Exited with code 0.
    Success,
    /// Its health check passed.
    Healthy,
}

/// The awslogs options that name a log stream: `PREFIX/CONTAINER/TASK_ID` in `GROUP`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsLogs {
    /// `awslogs-group`, e.g. `/ecs/pets`.
    pub group: String,
    /// `awslogs-stream-prefix`, e.g. `ecs`.
    pub stream_prefix: Option<String>,
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
            health_check: None,
            depends_on: Vec::new(),
            awslogs: None,
        }
    }

    /// An essential image container serving `port`, with the image's own entry point and
    /// command.
    pub fn image(name: impl Into<String>, image: impl Into<String>, port: u16) -> ContainerSpec {
        let mut spec = ContainerSpec::builtin(name, BuiltinApp::Echo, port);
        spec.run = Run::Image {
            image: image.into(),
            entry_point: None,
            command: None,
            working_directory: None,
        };
        spec
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
            health_check: None,
            depends_on: Vec::new(),
            awslogs: None,
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
    /// A container through the Docker engine: on the service's Docker network at the task's
    /// private address, or, without one, with each container port published on a free
    /// 127.0.0.1 port and served at the task's private address like a command's port.
    Image {
        /// A local image (`name:tag`); airlock does not pull.
        image: String,
        /// ENTRYPOINT override.
        entry_point: Option<Vec<String>>,
        /// CMD override.
        command: Option<Vec<String>>,
        /// Working directory inside the container.
        working_directory: Option<String>,
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
