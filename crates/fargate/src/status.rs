//! What a task looks like from outside: ECS's states, stop codes and health, in ECS's words.

use std::fmt;
use std::net::Ipv4Addr;
use std::time::SystemTime;

/// A task's `lastStatus` (docs/aws-rules.md §ALB-4.3), in lifecycle order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TaskStatus {
    /// The interface is being created.
    Provisioning,
    /// Containers are starting.
    Pending,
    /// Containers accept connections; the target is being registered.
    Activating,
    /// Running, and registered as a target.
    Running,
    /// The target is being deregistered (and drains).
    Deactivating,
    /// Containers got their stop signal.
    Stopping,
    /// The interface is being deleted.
    Deprovisioning,
    /// Done.
    Stopped,
}

impl TaskStatus {
    /// The ECS spelling, e.g. `RUNNING`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Provisioning => "PROVISIONING",
            TaskStatus::Pending => "PENDING",
            TaskStatus::Activating => "ACTIVATING",
            TaskStatus::Running => "RUNNING",
            TaskStatus::Deactivating => "DEACTIVATING",
            TaskStatus::Stopping => "STOPPING",
            TaskStatus::Deprovisioning => "DEPROVISIONING",
            TaskStatus::Stopped => "STOPPED",
        }
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A task's `desiredStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DesiredStatus {
    /// The scheduler wants it running.
    Running,
    /// It has been told to stop.
    Stopped,
}

impl DesiredStatus {
    /// The ECS spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DesiredStatus::Running => "RUNNING",
            DesiredStatus::Stopped => "STOPPED",
        }
    }
}

impl fmt::Display for DesiredStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a task stopped (`stopCode`, docs/aws-rules.md §ALB-4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StopCode {
    /// It never reached RUNNING (interface, process start, or port never accepting).
    TaskFailedToStart,
    /// An essential container exited.
    EssentialContainerExited,
    /// Someone stopped it (`StopTask`, the admin endpoint, a test).
    UserInitiated,
    /// The scheduler stopped it (scale-in, airlock shutting down).
    ServiceSchedulerInitiated,
}

impl StopCode {
    /// The ECS spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            StopCode::TaskFailedToStart => "TaskFailedToStart",
            StopCode::EssentialContainerExited => "EssentialContainerExited",
            StopCode::UserInitiated => "UserInitiated",
            StopCode::ServiceSchedulerInitiated => "ServiceSchedulerInitiated",
        }
    }
}

impl fmt::Display for StopCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Task or container health (docs/aws-rules.md §ALB-4.1). Without container health checks ECS reports `UNKNOWN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HealthStatus {
    /// Health checks pass.
    Healthy,
    /// Health checks fail.
    Unhealthy,
    /// Being evaluated, or no health check defined.
    Unknown,
}

impl HealthStatus {
    /// The ECS spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "HEALTHY",
            HealthStatus::Unhealthy => "UNHEALTHY",
            HealthStatus::Unknown => "UNKNOWN",
        }
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A container's `lastStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContainerStatus {
    /// Not started yet.
    Pending,
    /// Started.
    Running,
    /// Exited or stopped.
    Stopped,
}

impl ContainerStatus {
    /// The ECS spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerStatus::Pending => "PENDING",
            ContainerStatus::Running => "RUNNING",
            ContainerStatus::Stopped => "STOPPED",
        }
    }
}

/// A snapshot of one task, as `DescribeTasks` would show it.
#[derive(Debug, Clone)]
pub struct TaskInfo {
    /// 32 hex digits.
    pub task_id: String,
    /// `arn:aws:ecs:REGION:ACCOUNT:task/CLUSTER/ID`.
    pub task_arn: String,
    /// `FAMILY:REVISION`.
    pub task_definition: String,
    /// Where the task is in its lifecycle.
    pub last_status: TaskStatus,
    /// Where the scheduler wants it.
    pub desired_status: DesiredStatus,
    /// Task health from its essential containers.
    pub health: HealthStatus,
    /// The private address of its interface, once provisioned.
    pub private_ip: Option<Ipv4Addr>,
    /// The interface id (`eni-…`), once provisioned.
    pub interface_id: Option<String>,
    /// The subnet the interface is in.
    pub subnet: Option<String>,
    /// The availability zone of that subnet.
    pub availability_zone: Option<String>,
    /// The loopback port behind the load-balanced container port (or the first container's).
    pub host_port: Option<u16>,
    /// Its containers, in task definition order.
    pub containers: Vec<ContainerInfo>,
    /// Why it stopped, once stopping.
    pub stop_code: Option<StopCode>,
    /// Free text, as ECS's `stoppedReason`.
    pub stopped_reason: Option<String>,
    /// When the scheduler created it.
    pub created_at: SystemTime,
    /// When it reached RUNNING.
    pub started_at: Option<SystemTime>,
    /// When it stopped.
    pub stopped_at: Option<SystemTime>,
}

/// A snapshot of one container of a task.
#[derive(Debug, Clone)]
pub struct ContainerInfo {
    /// The container name.
    pub name: String,
    /// Fargate's form: the task id, `-`, 10 digits.
    pub docker_id: String,
    /// The image (built-ins: `airlock/NAME:latest`; commands: `command:PROGRAM`).
    pub image: String,
    /// Whether the task stops with it.
    pub essential: bool,
    /// Lifecycle.
    pub last_status: ContainerStatus,
    /// The loopback port its container ports are served from.
    pub host_port: Option<u16>,
    /// The process id, for command containers.
    pub pid: Option<u32>,
    /// The exit code, once exited (128 + signal for a signalled process, as Docker reports).
    pub exit_code: Option<i32>,
    /// Container health: `UNKNOWN` without a health check or while being evaluated.
    pub health: HealthStatus,
}

/// One line of a service's event log, in ECS's words.
#[derive(Debug, Clone)]
pub struct ServiceEvent {
    /// When it happened.
    pub at: SystemTime,
    /// e.g. `(service pets) has started 1 tasks: (task 0123…).`
    pub message: String,
}
