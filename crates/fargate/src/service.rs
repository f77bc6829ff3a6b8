//! The service scheduler: keeps the desired count of tasks, replaces the ones that stop, and
//! publishes the targets of the running ones.

use crate::config::{Run, ServiceConfig, TaskDefinition};
use crate::docker::Docker;
use crate::metadata;
pub use crate::state::LbTargetHealth;
use crate::state::{LbView, Shared, TaskEntry};
use crate::status::{DesiredStatus, HealthStatus, ServiceEvent, StopCode, TaskInfo, TaskStatus};
use crate::task;
use airlock_net::Network;
use airlock_net::sync::lock;
use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// Stopped tasks kept for `tasks()`, as ECS keeps them visible for a while.
const STOPPED_TASKS_KEPT: usize = 20;
/// A task that stops within this time of starting counts as a failure for launch throttling.
const FAILURE_WINDOW: Duration = Duration::from_secs(10);
/// The longest pause between launches while tasks keep failing.
const MAX_LAUNCH_BACKOFF: Duration = Duration::from_secs(30);
/// The most tasks one pass of the scheduler starts or stops; a larger change takes several
/// passes, and the scheduler yields between them, so it never holds its runtime (or its task
/// table) for long and stops at shutdown between two batches.
pub const SCHEDULER_BATCH: usize = 10;

/// Why a service cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The service lists no subnets.
    #[error("service {0:?}: at least one subnet is required")]
    NoSubnets(String),
    /// No container of the task definition is essential.
    #[error("task definition {0:?}: at least one container must be essential")]
    NoEssentialContainer(String),
    /// Two containers share a name.
    #[error("task definition {family:?}: container name {name:?} is used twice")]
    DuplicateContainer {
        /// The task definition family.
        family: String,
        /// The repeated name.
        name: String,
    },
    /// A command container has an empty argv.
    #[error("container {0:?}: the command is empty")]
    EmptyCommand(String),
    /// The load balancer attachment names a container the task definition lacks.
    #[error("load balancer container {0:?} is not in the task definition")]
    UnknownLbContainer(String),
    /// The load balancer attachment names a port the container does not map.
    #[error("container {container:?} has no port mapping for {port}")]
    UnmappedLbPort {
        /// The container.
        container: String,
        /// The port.
        port: u16,
    },
    /// Binding the task metadata endpoint's loopback socket failed.
    #[error("binding the task metadata endpoint: {0}")]
    MetadataBind(#[source] std::io::Error),
    /// `stop_task` named a task the service does not run.
    #[error("no running task {0:?} in this service")]
    UnknownTask(String),
    /// An `image` container needs a Docker engine and none answers.
    #[error(
        "container {container:?} runs image {image:?}, but no Docker engine answers at {endpoint}: {reason} (hint: start Docker or set DOCKER_HOST, or run the image as something else: `--image '{image}=builtin:echo'` (or command:PROGRAM, image:LOCAL_IMAGE) on airlock's command line, or image_map in the stack file)"
    )]
    NoDockerEngine {
        /// The container.
        container: String,
        /// Its image.
        image: String,
        /// Where airlock looked.
        endpoint: String,
        /// Why it did not answer.
        reason: String,
    },
}

/// A running service. Cheap to clone; the service stops when `shutdown` fires or the last
/// clone is dropped.
#[derive(Clone)]
pub struct ServiceHandle {
    shared: Arc<Shared>,
    tracker: TaskTracker,
    _stop_on_drop: Arc<DropGuard>,
}

/// Starts a service: keeps `config.desired_count` tasks running on `network` until `shutdown`
/// fires (or every clone of the handle is dropped), then stops every task and deletes its
/// interface.
///
/// Must be called within a tokio runtime. Fails only on a configuration that could never run;
/// a task that fails to start is logged and replaced, with growing pauses while failures repeat.
pub async fn start_service(
    config: ServiceConfig,
    network: Network,
    shutdown: CancellationToken,
) -> Result<ServiceHandle, ServiceError> {
    check(&config)?;
    let docker = Docker::new(config.docker.clone());
    preflight_docker(&docker, &config.task_definition).await?;
    let shutdown = shutdown.child_token();
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .map_err(ServiceError::MetadataBind)?;
    let metadata_addr = listener.local_addr().map_err(ServiceError::MetadataBind)?;
    let (targets, _) = watch::channel(Vec::new());
    let (desired, _) = watch::channel(config.desired_count);
    let config_td = config.task_definition.clone();
    let shared = Arc::new(Shared {
        config,
        network,
        shutdown: shutdown.clone(),
        tasks: Mutex::new(Vec::new()),
        targets,
        changes: watch::channel(0).0,
        desired,
        events: Mutex::new(VecDeque::new()),
        wake: Notify::new(),
        metadata_base: format!("http://{metadata_addr}"),
        docker,
        current: Mutex::new(Arc::new(config_td)),
        deployment: Mutex::new(deployment_id()),
        lb_view: Mutex::new(None),
    });
    let tracker = TaskTracker::new();
    tracker.spawn(metadata::serve(
        listener,
        Arc::downgrade(&shared),
        shutdown.clone(),
        tracker.clone(),
    ));
    tracker.spawn(schedule(shared.clone(), tracker.clone()));
    // Closing only lets `stopped()` finish once the scheduler and every task are done; the
    // scheduler can still spawn tasks into it.
    tracker.close();
    Ok(ServiceHandle {
        shared,
        tracker,
        _stop_on_drop: Arc::new(shutdown.drop_guard()),
    })
}

/// With an `image` container, the Docker engine must answer before anything starts.
async fn preflight_docker(docker: &Docker, td: &TaskDefinition) -> Result<(), ServiceError> {
    let Some((container, image)) = td.containers.iter().find_map(|c| match &c.run {
        Run::Image { image, .. } => Some((c.name.clone(), image.clone())),
        _ => None,
    }) else {
        return Ok(());
    };
    docker
        .ping()
        .await
        .map_err(|e| ServiceError::NoDockerEngine {
            container,
            image,
            endpoint: docker.endpoint().to_string(),
            reason: match e {
                crate::docker::DockerError::Unreachable { source, .. } => source.to_string(),
                other => other.to_string(),
            },
        })
}

/// `ecs-svc/` and 19 digits, as ECS names deployments.
fn deployment_id() -> String {
    let n: u64 = rand::random::<u64>() % 9_000_000_000_000_000_000 + 1_000_000_000_000_000_000;
    format!("ecs-svc/{n}")
}

fn check(config: &ServiceConfig) -> Result<(), ServiceError> {
    if config.subnets.is_empty() {
        return Err(ServiceError::NoSubnets(config.name.clone()));
    }
    check_task_definition(config, &config.task_definition)
}

fn check_task_definition(config: &ServiceConfig, td: &TaskDefinition) -> Result<(), ServiceError> {
    if !td.containers.iter().any(|c| c.essential) {
        return Err(ServiceError::NoEssentialContainer(td.family.clone()));
    }
    for (i, c) in td.containers.iter().enumerate() {
        if td.containers[..i].iter().any(|o| o.name == c.name) {
            return Err(ServiceError::DuplicateContainer {
                family: td.family.clone(),
                name: c.name.clone(),
            });
        }
        let empty = match &c.run {
            Run::Command { argv, .. } => argv.is_empty(),
            Run::Image { image, .. } => image.is_empty(),
            Run::Builtin(_) => false,
        };
        if empty {
            return Err(ServiceError::EmptyCommand(c.name.clone()));
        }
    }
    if let Some(lb) = &config.load_balancer {
        let container = td
            .containers
            .iter()
            .find(|c| c.name == lb.container_name)
            .ok_or_else(|| ServiceError::UnknownLbContainer(lb.container_name.clone()))?;
        if !container.port_mappings.contains(&lb.container_port) {
            return Err(ServiceError::UnmappedLbPort {
                container: container.name.clone(),
                port: lb.container_port,
            });
        }
    }
    Ok(())
}

impl ServiceHandle {
    /// The service name.
    pub fn name(&self) -> &str {
        &self.shared.config.name
    }

    /// `arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/NAME`.
    pub fn arn(&self) -> String {
        let c = &self.shared.config;
        format!(
            "arn:aws:ecs:{}:{}:service/{}/{}",
            c.region, c.account_id, c.cluster, c.name
        )
    }

    /// The live target set: `private_ip:container_port` of every RUNNING task, sorted. Empty
    /// for a service without a load balancer attachment.
    pub fn targets(&self) -> watch::Receiver<Vec<SocketAddr>> {
        self.shared.targets.subscribe()
    }

    /// Every current task and the most recently stopped ones, in launch order.
    pub fn tasks(&self) -> Vec<TaskInfo> {
        self.shared
            .lock_tasks()
            .iter()
            .map(|t| t.info.clone())
            .collect()
    }

    /// A counter bumped whenever a task changes state: wait on it instead of polling `tasks()`.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.shared.changes.subscribe()
    }

    /// The service's event log, oldest first.
    pub fn events(&self) -> Vec<ServiceEvent> {
        lock(&self.shared.events).iter().cloned().collect()
    }

    /// The desired count now in force.
    pub fn desired_count(&self) -> u32 {
        *self.shared.desired.borrow()
    }

    /// Changes the desired count; the scheduler starts or stops tasks to match.
    pub fn set_desired_count(&self, count: u32) {
        self.shared.desired.send_replace(count);
    }

    /// Stops a task (`StopTask`, fault injection): it is deregistered, stopped with stop code
    /// `UserInitiated`, and the scheduler starts a replacement.
    pub fn stop_task(&self, task_id: &str) -> Result<(), ServiceError> {
        let mut tasks = self.shared.lock_tasks();
        let entry = tasks
            .iter_mut()
            .find(|t| t.info.task_id == task_id && t.info.desired_status == DesiredStatus::Running)
            .ok_or_else(|| ServiceError::UnknownTask(task_id.to_owned()))?;
        request_stop(
            entry,
            StopCode::UserInitiated,
            "Task stopped by user".into(),
        );
        drop(tasks);
        self.shared.touch();
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Starts a rolling deployment of `td` (docs/aws-rules.md §ALB-4.2): new tasks are started first, within
    /// `maximum_percent` of the desired count; once they are RUNNING (registered as targets),
    /// old tasks are stopped (deregistered, drained for the deregistration delay, then sent
    /// their stop signal) while at least `minimum_healthy_percent` stay RUNNING.
    pub async fn update_task_definition(&self, td: TaskDefinition) -> Result<(), ServiceError> {
        check_task_definition(&self.shared.config, &td)?;
        preflight_docker(&self.shared.docker, &td).await?;
        let label = format!("{}:{}", td.family, td.revision);
        *lock(&self.shared.current) = Arc::new(td);
        let id = deployment_id();
        *lock(&self.shared.deployment) = id.clone();
        self.shared.event(format!(
            "(service {}) (deployment {id}) deployment started with task definition {label}.",
            self.shared.config.name
        ));
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Follows the load balancer's health of this service's targets, in target group
    /// `target_group_arn`. From then on a task counts as healthy for deployments and
    /// replacements only once its target is healthy (docs/aws-rules.md §ALB-4.2), and a task whose target turns
    /// unhealthy is replaced after the grace period (docs/aws-rules.md §ALB-4.5). Without it, RUNNING is enough.
    pub fn follow_target_health(
        &self,
        target_group_arn: String,
        mut health: watch::Receiver<Vec<(SocketAddr, LbTargetHealth)>>,
    ) {
        let weak = Arc::downgrade(&self.shared);
        let shutdown = self.shared.shutdown.clone();
        tokio::spawn(async move {
            loop {
                let snapshot: HashMap<SocketAddr, LbTargetHealth> =
                    health.borrow_and_update().iter().copied().collect();
                let Some(shared) = weak.upgrade() else { return };
                *lock(&shared.lb_view) = Some(LbView {
                    target_group_arn: target_group_arn.clone(),
                    health: snapshot,
                });
                shared.wake.notify_one();
                drop(shared);
                tokio::select! {
                    changed = health.changed() => if changed.is_err() { return },
                    _ = shutdown.cancelled() => return,
                }
            }
        });
    }

    /// The task definition new tasks get.
    pub fn task_definition(&self) -> TaskDefinition {
        (*self.shared.current_td()).clone()
    }

    /// Waits until the service has shut down: every task stopped, every interface deleted.
    pub async fn stopped(&self) {
        self.tracker.wait().await;
    }
}

fn request_stop(entry: &mut TaskEntry, code: StopCode, reason: String) {
    entry.info.desired_status = DesiredStatus::Stopped;
    entry.stop_request.get_or_insert((code, reason));
    entry.stop.cancel();
}

/// The scheduler loop: reconcile, then sleep until something changes.
async fn schedule(shared: Arc<Shared>, tracker: TaskTracker) {
    let mut desired = shared.desired.subscribe();
    let mut throttle = Throttle::default();
    let mut steady = false;
    loop {
        let wait_until = reconcile(&shared, &tracker, &mut throttle, &mut steady);
        shared.touch();
        if wait_until.is_some_and(|at| at <= Instant::now()) {
            // More to do at once (a batch was cut short): let everything else on this runtime
            // run first, then go on unless the service is shutting down.
            tokio::task::yield_now().await;
            if shared.shutdown.is_cancelled() {
                break;
            }
            continue;
        }
        tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            _ = desired.changed() => {}
            _ = shared.wake.notified() => {}
            _ = sleep_until(wait_until) => {}
        }
    }
    // Every task's token is a child of the service's, so all are stopping already; the tracker
    // waits for them. Mark them so `tasks()` tells why.
    for entry in shared.lock_tasks().iter_mut() {
        if entry.info.last_status != TaskStatus::Stopped {
            request_stop(
                entry,
                StopCode::ServiceSchedulerInitiated,
                "Service is shutting down".into(),
            );
        }
    }
    shared.touch();
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Launch throttling for tasks that keep failing, as ECS throttles a service whose tasks
/// repeatedly fail to start: the first replacement is immediate, then pauses double.
#[derive(Default)]
struct Throttle {
    failures: u32,
    /// Stopped tasks already counted.
    seen: Vec<String>,
    not_before: Option<Instant>,
}

impl Throttle {
    fn observe(&mut self, tasks: &[TaskEntry]) {
        let now = SystemTime::now();
        for t in tasks {
            let info = &t.info;
            if info.last_status == TaskStatus::Stopped && !self.seen.contains(&info.task_id) {
                self.seen.push(info.task_id.clone());
                let failed = matches!(
                    info.stop_code,
                    Some(StopCode::TaskFailedToStart | StopCode::EssentialContainerExited)
                );
                let short = info
                    .started_at
                    .zip(info.stopped_at)
                    .and_then(|(start, stop)| stop.duration_since(start).ok())
                    .is_none_or(|ran| ran < FAILURE_WINDOW);
                if failed && short {
                    self.failures += 1;
                    if self.failures > 1 {
                        let pause = Duration::from_millis(500)
                            .saturating_mul(1 << (self.failures - 2).min(10))
                            .min(MAX_LAUNCH_BACKOFF);
                        self.not_before = Some(Instant::now() + pause);
                    }
                }
            }
            let healthy_for_a_while = info.last_status == TaskStatus::Running
                && info
                    .started_at
                    .and_then(|s| now.duration_since(s).ok())
                    .is_some_and(|ran| ran >= FAILURE_WINDOW);
            if healthy_for_a_while {
                self.failures = 0;
                self.not_before = None;
            }
        }
        self.seen
            .retain(|id| tasks.iter().any(|t| &t.info.task_id == id));
    }
}

/// Starts or stops tasks to match the desired count. Returns when to look again, if a launch
/// is being throttled or the throttle may reset.
fn reconcile(
    shared: &Arc<Shared>,
    tracker: &TaskTracker,
    throttle: &mut Throttle,
    steady: &mut bool,
) -> Option<Instant> {
    let cfg = &shared.config;
    let desired = *shared.desired.borrow() as usize;
    let current = shared.current_td();
    let deployment = lock(&shared.deployment).clone();
    let now = SystemTime::now();
    let mut tasks = shared.lock_tasks();
    throttle.observe(&tasks);
    prune_stopped(&mut tasks);
    let active: Vec<usize> = (0..tasks.len())
        .filter(|&i| tasks[i].info.desired_status == DesiredStatus::Running)
        .collect();
    let mut recheck = None;

    // A task fails its health once UNHEALTHY past the grace period after RUNNING (docs/aws-rules.md §ALB-4.2, §ALB-4.5).
    let ran = |t: &TaskEntry| {
        t.info
            .started_at
            .and_then(|s| now.duration_since(s).ok())
            .unwrap_or_default()
    };
    let lb_view = lock(&shared.lb_view);
    let lb_health = |t: &TaskEntry| -> Option<LbTargetHealth> {
        let view = lb_view.as_ref()?;
        let lb = cfg.load_balancer.as_ref()?;
        let ip = t.info.private_ip?;
        Some(
            view.health
                .get(&SocketAddr::from((ip, lb.container_port)))
                .copied()
                .unwrap_or(LbTargetHealth::Other),
        )
    };
    let unhealthy = |t: &TaskEntry| {
        t.info.health == HealthStatus::Unhealthy
            || (t.info.last_status == TaskStatus::Running
                && lb_health(t) == Some(LbTargetHealth::Unhealthy))
    };
    let failing = |t: &TaskEntry| unhealthy(t) && ran(t) >= cfg.health_check_grace_period;
    for &i in &active {
        let t = &tasks[i];
        if unhealthy(t) && !failing(t) {
            let at = Instant::now() + (cfg.health_check_grace_period - ran(t));
            recheck = Some(recheck.map_or(at, |r: Instant| r.min(at)));
        }
    }
    // Tasks to replace: an older revision, or failing health. The rest are the deployment's.
    let (fresh, stale): (Vec<usize>, Vec<usize>) = active
        .iter()
        .partition(|&&i| Arc::ptr_eq(&tasks[i].td, &current) && !failing(&tasks[i]));

    if !stale.is_empty() {
        *steady = false;
        let max_total = desired * cfg.maximum_percent as usize / 100;
        let min_healthy = (desired * cfg.minimum_healthy_percent as usize).div_ceil(100);
        let room = max_total.saturating_sub(active.len());
        let wanted = desired.saturating_sub(fresh.len()).min(room);
        let launches = wanted.min(SCHEDULER_BATCH);
        if wanted > launches {
            recheck = Some(Instant::now());
        }
        if launches > 0 {
            match throttle.not_before {
                Some(at) if at > Instant::now() => recheck = Some(at),
                _ => {
                    let started: Vec<String> = (0..launches)
                        .map(|_| launch(shared, tracker, &mut tasks))
                        .collect();
                    shared.event(format!(
                        "(service {}) has started {} tasks: {}.",
                        cfg.name,
                        started.len(),
                        task_list(&started)
                    ));
                }
            }
        }
        // Healthy for deployment math: RUNNING, and healthy in the load balancer when its view
        // is followed (docs/aws-rules.md §ALB-4.2).
        // A replacement is needed but maximumPercent leaves no room to start one.
        let blocked = launches == 0 && fresh.len() < desired;
        let running = |t: &TaskEntry| {
            t.info.last_status == TaskStatus::Running
                && lb_health(t).is_none_or(|h| h == LbTargetHealth::Healthy)
        };
        let fresh_running = fresh.iter().filter(|&&i| running(&tasks[i])).count();
        let mut healthy_running = active
            .iter()
            .filter(|&&i| running(&tasks[i]) && !failing(&tasks[i]))
            .count();
        // Not yet running first (stopping them costs nothing), then failing ones, oldest first.
        let mut order = stale.clone();
        order.sort_by_key(|&i| {
            (
                tasks[i].info.last_status == TaskStatus::Running,
                !failing(&tasks[i]),
            )
        });
        let mut stopped = Vec::new();
        for i in order {
            let t = &tasks[i];
            let elb_failed = failing(t) && t.info.health != HealthStatus::Unhealthy;
            let reason = if t.info.last_status != TaskStatus::Running {
                Some(format!(
                    "Scaling activity initiated by (deployment {deployment})"
                ))
            } else if failing(t) {
                // Replacement first; with no room for one, stop it anyway (docs/aws-rules.md §ALB-4.5).
                (fresh_running >= desired || blocked).then(|| match &*lb_view {
                    Some(view) if elb_failed => format!(
                        "Task failed ELB health checks in (target-group {})",
                        view.target_group_arn
                    ),
                    _ => "Task failed container health checks".to_owned(),
                })
            } else if healthy_running > min_healthy {
                healthy_running -= 1;
                Some(format!(
                    "Scaling activity initiated by (deployment {deployment})"
                ))
            } else {
                None
            };
            if let Some(reason) = reason {
                if elb_failed {
                    if let (Some(view), Some(lb)) = (&*lb_view, &cfg.load_balancer) {
                        shared.event(format!(
                            "(service {}) (port {}) is unhealthy in (target-group {}) due to (reason Health checks failed).",
                            cfg.name, lb.container_port, view.target_group_arn
                        ));
                    }
                } else if failing(t) {
                    shared.event(format!(
                        "(service {}) (task {}) failed container health checks.",
                        cfg.name, t.info.task_id
                    ));
                }
                request_stop(&mut tasks[i], StopCode::ServiceSchedulerInitiated, reason);
                stopped.push(tasks[i].info.task_id.clone());
            }
        }
        if !stopped.is_empty() {
            shared.event(format!(
                "(service {}) has stopped {} running tasks: {}.",
                cfg.name,
                stopped.len(),
                task_list(&stopped)
            ));
        }
    } else if active.len() < desired {
        *steady = false;
        match throttle.not_before {
            Some(at) if at > Instant::now() => recheck = Some(at),
            _ => {
                let launches = (desired - active.len()).min(SCHEDULER_BATCH);
                if active.len() + launches < desired {
                    recheck = Some(Instant::now());
                }
                let started: Vec<String> = (0..launches)
                    .map(|_| launch(shared, tracker, &mut tasks))
                    .collect();
                shared.event(format!(
                    "(service {}) has started {} tasks: {}.",
                    cfg.name,
                    started.len(),
                    task_list(&started)
                ));
            }
        }
    } else if active.len() > desired {
        *steady = false;
        // Newest first, as a scale-in keeps the tasks that have served longest.
        let mut stopped = Vec::new();
        let stops = (active.len() - desired).min(SCHEDULER_BATCH);
        if stops < active.len() - desired {
            recheck = Some(Instant::now());
        }
        for &i in active.iter().rev().take(stops) {
            request_stop(
                &mut tasks[i],
                StopCode::ServiceSchedulerInitiated,
                format!("Scaling activity initiated by (deployment {deployment})"),
            );
            stopped.push(tasks[i].info.task_id.clone());
        }
        shared.event(format!(
            "(service {}) has stopped {} running tasks: {}.",
            cfg.name,
            stopped.len(),
            task_list(&stopped)
        ));
    } else {
        let all_running = tasks.iter().all(|t| match t.info.desired_status {
            DesiredStatus::Running => t.info.last_status == TaskStatus::Running,
            DesiredStatus::Stopped => t.info.last_status == TaskStatus::Stopped,
        });
        if all_running && !*steady {
            *steady = true;
            drop(tasks);
            shared.event(format!(
                "(service {}) has reached a steady state.",
                cfg.name
            ));
        }
    }
    if throttle.failures > 0 && recheck.is_none() {
        recheck = Some(Instant::now() + FAILURE_WINDOW);
    }
    recheck
}

fn task_list(ids: &[String]) -> String {
    ids.iter()
        .map(|id| format!("(task {id})"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn prune_stopped(tasks: &mut Vec<TaskEntry>) {
    let stopped = tasks
        .iter()
        .filter(|t| t.info.last_status == TaskStatus::Stopped)
        .count();
    let mut excess = stopped.saturating_sub(STOPPED_TASKS_KEPT);
    tasks.retain(|t| {
        if excess > 0 && t.info.last_status == TaskStatus::Stopped {
            excess -= 1;
            false
        } else {
            true
        }
    });
}

/// Adds a task to the table and spawns its lifecycle. Returns its id.
fn launch(shared: &Arc<Shared>, tracker: &TaskTracker, tasks: &mut Vec<TaskEntry>) -> String {
    let subnet = pick_subnet(&shared.config.subnets, tasks);
    let task_id = new_task_id();
    let stop = shared.shutdown.child_token();
    let current = shared.current_td();
    let td = &*current;
    let info = TaskInfo {
        task_id: task_id.clone(),
        task_arn: shared.task_arn(&task_id),
        task_definition: format!("{}:{}", td.family, td.revision),
        last_status: TaskStatus::Provisioning,
        desired_status: DesiredStatus::Running,
        health: HealthStatus::Unknown,
        private_ip: None,
        interface_id: None,
        subnet: Some(subnet.clone()),
        availability_zone: None,
        host_port: None,
        containers: task::initial_containers(td, &task_id),
        stop_code: None,
        stopped_reason: None,
        created_at: SystemTime::now(),
        started_at: None,
        stopped_at: None,
    };
    tasks.push(TaskEntry {
        info,
        stop: stop.clone(),
        stop_request: None,
        td: current.clone(),
    });
    let span = tracing::info_span!("task", service = %shared.config.name, task = %&task_id[..8]);
    tracker
        .spawn(task::run(shared.clone(), task_id.clone(), subnet, stop, current).instrument(span));
    task_id
}

/// The subnet with the fewest active tasks, earliest listed on ties: ECS spreads a service's
/// tasks across availability zones, and a replacement lands where its predecessor was.
fn pick_subnet(subnets: &[String], tasks: &[TaskEntry]) -> String {
    subnets
        .iter()
        .min_by_key(|s| {
            tasks
                .iter()
                .filter(|t| {
                    t.info.desired_status == DesiredStatus::Running
                        && t.info.subnet.as_deref() == Some(s.as_str())
                })
                .count()
        })
        .cloned()
        .unwrap_or_default()
}

/// A task id as ECS prints them: 32 lowercase hex digits.
fn new_task_id() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn task_ids_are_32_hex() {
        let id = new_task_id();
        assert_eq!(id.len(), 32);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(id, new_task_id());
    }
}
