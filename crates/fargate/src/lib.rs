//! ECS on Fargate, emulated: services that keep their desired count of tasks running, tasks
//! that run real servers (airlock's built-in sample apps in process, or local commands as child
//! processes, or container images through the Docker engine), and the live set of load balancer
//! targets those tasks form. Services roll out new task definitions without dropping requests,
//! run container health checks and replace tasks that fail them.
//!
//! Each task gets an interface with a private address in one of its service's subnets, carrying
//! the service's security groups. Its container ports are served at that private address through
//! the emulated network, from a loopback port the container listens on (a command learns its
//! port from `PORT`). A task is published as a target `private_ip:container_port` once its port
//! accepts connections, and withdrawn before it stops. When a task stops (its essential container
//! exits, or someone stops it), the service starts a replacement, and logs it in ECS's words.
//!
//! Architecture invariant: this crate gets plain configs ([`ServiceConfig`]) and publishes live
//! target sets ([`ServiceHandle::targets`]). It does not know the load balancer, the gateway,
//! DNS or the stack file, and reads no files or environment of its own (it writes task logs
//! under the directory its config names, and talks to the Docker engine its config names).

mod apps;
mod config;
mod docker;
mod docker_vpc;
mod health;
mod logs;
mod metadata;
mod process;
mod service;
mod state;
mod status;
mod task;

pub use apps::{TaskIdentity, serve_builtin};
pub use config::{
    AwsLogs, BuiltinApp, Condition, ContainerSpec, DEFAULT_DOCKER_SOCKET, DEFAULT_START_TIMEOUT,
    DEFAULT_STOP_TIMEOUT, Dependency, DockerEndpoint, HealthCheck, HealthCommand, LbAttachment,
    Run, ServiceConfig, TaskDefinition,
};
pub use docker_vpc::{DockerVpc, STACK_LABEL};
pub use service::{LbTargetHealth, SCHEDULER_BATCH, ServiceError, ServiceHandle, start_service};
pub use status::{
    ContainerInfo, ContainerStatus, DesiredStatus, HealthStatus, ServiceEvent, StopCode, TaskInfo,
    TaskStatus,
};
