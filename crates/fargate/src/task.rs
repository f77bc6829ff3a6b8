//! One task's lifecycle (docs/aws-rules.md §ALB-4.3): interface, containers, target registration, stop, cleanup.

use crate::apps::{TaskIdentity, serve_builtin};
use crate::config::{Condition, ContainerSpec, Run, TaskDefinition};
use crate::docker::{CreateSpec, Docker, Placement};
use crate::health::{self, Probe};
use crate::logs::LogSink;
use crate::process::{Launch, ProcessContainer};
use crate::state::Shared;
use crate::status::{ContainerInfo, ContainerStatus, HealthStatus, StopCode, TaskStatus};
use airlock_net::{Interface, Registration};
use serde_json::json;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// First and last pause between attempts to connect to a starting container's port.
const READY_POLL_FIRST: Duration = Duration::from_millis(5);
const READY_POLL_MAX: Duration = Duration::from_millis(200);
/// How long a pull may take before the task stops with `CannotPullContainerError`: ample for an
/// image on a reachable registry, bounded so an unanswering one cannot hold a task forever.
const PULL_TIMEOUT: Duration = Duration::from_secs(300);

/// The containers' snapshots before anything starts.
pub(crate) fn initial_containers(td: &TaskDefinition, task_id: &str) -> Vec<ContainerInfo> {
    td.containers
        .iter()
        .enumerate()
        .map(|(i, c)| ContainerInfo {
            name: c.name.clone(),
            docker_id: docker_id(task_id, i),
            image: image_of(c),
            essential: c.essential,
            last_status: ContainerStatus::Pending,
            host_port: None,
            pid: None,
            exit_code: None,
            health: HealthStatus::Unknown,
        })
        .collect()
}

/// Fargate's container id form: the task id, `-`, and 10 digits.
fn docker_id(task_id: &str, index: usize) -> String {
    // Stable per task and container, so a metadata URI stays valid for the container's life.
    let seed = task_id
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let digits = (seed.wrapping_add(index as u64)) % 9_000_000_000 + 1_000_000_000;
    format!("{task_id}-{digits}")
}

fn image_of(c: &ContainerSpec) -> String {
    match &c.run {
        Run::Builtin(app) => app.image().to_owned(),
        Run::Command { argv, .. } => format!(
            "command:{}",
            argv.first().map(String::as_str).unwrap_or_default()
        ),
        Run::Image { image, .. } => image.clone(),
    }
}

/// A started container.
struct Container {
    index: usize,
    /// `(container_port, host_port)` of every port mapping: a loopback port, or, for a
    /// container on the VPC's Docker network, the container port itself at `reach`.
    ports: Vec<(u16, u16)>,
    /// The address its ports are reached at when it is not loopback: the task's private
    /// address on the VPC's Docker network.
    reach: Option<Ipv4Addr>,
    runtime: Runtime,
}

enum Runtime {
    Builtin {
        stop: CancellationToken,
        tracker: TaskTracker,
    },
    Process(ProcessContainer),
    Docker {
        docker: Docker,
        id: String,
        exited: watch::Receiver<Option<i32>>,
    },
}

impl Container {
    /// The loopback port the host reaches it at (none for a container on the VPC network).
    fn host_port(&self) -> Option<u16> {
        self.reach
            .is_none()
            .then(|| self.ports.first().map(|(_, h)| *h))
            .flatten()
    }

    /// Where airlock connects for its container port's host port `port`.
    fn address(&self, port: u16) -> SocketAddr {
        SocketAddr::from((self.reach.unwrap_or(Ipv4Addr::LOCALHOST), port))
    }

    /// Stops the container (SIGTERM then SIGKILL for processes and images; graceful close for
    /// built-ins) and returns its exit code. An image's container is removed afterwards.
    async fn stop(&mut self, timeout: Duration) -> i32 {
        match &mut self.runtime {
            Runtime::Builtin { stop, tracker } => {
                stop.cancel();
                tracker.close();
                // Connections still open after the stop timeout are abandoned, as SIGKILL would.
                let _ = tokio::time::timeout(timeout, tracker.wait()).await;
                0
            }
            Runtime::Process(p) => p.stop(timeout).await,
            Runtime::Docker { docker, id, exited } => {
                if exited.borrow().is_none() {
                    docker.stop(id, timeout).await;
                }
                let code =
                    tokio::time::timeout(Duration::from_secs(5), exited.wait_for(|c| c.is_some()))
                        .await
                        .ok()
                        .and_then(|r| r.ok().and_then(|c| *c))
                        .unwrap_or(-1);
                docker.remove(id).await;
                code
            }
        }
    }
}

/// How the task ended, decided once and reported as ECS would.
struct Ending {
    code: StopCode,
    reason: String,
    /// Whether to hold the target draining before the stop signal.
    drain: bool,
}

/// What the task knows of each container, for `dependsOn` and task health.
#[derive(Clone, Copy, Default)]
struct Progress {
    started: bool,
    exit: Option<i32>,
    health: Option<HealthStatus>,
}

/// The task's view of its containers, updated from their exit and health events.
struct Tracker<'a> {
    shared: &'a Shared,
    task_id: &'a str,
    td: &'a TaskDefinition,
    progress: Vec<Progress>,
}

impl Tracker<'_> {
    /// Records an exit; the ending if the container was essential.
    fn exited(&mut self, index: usize, code: i32, running: bool) -> Option<Ending> {
        mark_exited(self.shared, self.task_id, index, code);
        self.progress[index].exit = Some(code);
        let spec = &self.td.containers[index];
        spec.essential.then(|| Ending {
            code: StopCode::EssentialContainerExited,
            reason: if running {
                "Essential container in task exited".to_owned()
            } else {
                format!(
                    "Essential container in task exited: {} exited with code {code} before accepting connections",
                    spec.name
                )
            },
            drain: false,
        })
    }

    /// Records a container's health and recomputes the task's (docs/aws-rules.md §ALB-4.1: essential containers only;
    /// UNHEALTHY over UNKNOWN over HEALTHY).
    fn health(&mut self, index: usize, status: HealthStatus) {
        self.progress[index].health = Some(status);
        let task_health = task_health(self.td, &self.progress);
        self.shared.update(self.task_id, |info| {
            info.containers[index].health = status;
            info.health = task_health;
        });
        if status == HealthStatus::Unhealthy {
            tracing::warn!(target: "airlock::ecs", task = %self.task_id, container = %self.td.containers[index].name, "container health check failed: UNHEALTHY");
        }
        self.shared.wake.notify_one();
    }

    /// Whether container `index`'s `dependsOn` conditions hold: `Ok(true)` to start, `Ok(false)`
    /// to keep waiting, `Err` when one can no longer hold.
    fn dependencies(&self, index: usize) -> Result<bool, String> {
        let mut ready = true;
        for dep in &self.td.containers[index].depends_on {
            let Some(d) = self
                .td
                .containers
                .iter()
                .position(|c| c.name == dep.container)
            else {
                return Err(format!(
                    "dependency container {} does not exist",
                    dep.container
                ));
            };
            let p = self.progress[d];
            let holds = match dep.condition {
                Condition::Start => p.started,
                Condition::Complete => p.exit.is_some(),
                Condition::Success => match p.exit {
                    Some(0) => true,
                    Some(code) => {
                        return Err(format!(
                            "dependency container {} exited with code {code}; condition SUCCESS",
                            dep.container
                        ));
                    }
                    None => false,
                },
                Condition::Healthy => match p.health {
                    Some(HealthStatus::Healthy) => true,
                    Some(HealthStatus::Unhealthy) => {
                        return Err(format!(
                            "dependency container {} is UNHEALTHY; condition HEALTHY",
                            dep.container
                        ));
                    }
                    _ if p.exit.is_some() => {
                        return Err(format!(
                            "dependency container {} exited before becoming HEALTHY",
                            dep.container
                        ));
                    }
                    _ => false,
                },
            };
            ready &= holds;
        }
        Ok(ready)
    }
}

fn task_health(td: &TaskDefinition, progress: &[Progress]) -> HealthStatus {
    let essential = td
        .containers
        .iter()
        .zip(progress)
        .filter(|(c, _)| c.essential)
        .map(|(c, p)| match (&c.health_check, p.health) {
            (None, _) | (Some(_), None) => HealthStatus::Unknown,
            (Some(_), Some(h)) => h,
        });
    let mut task = HealthStatus::Healthy;
    for h in essential {
        match h {
            HealthStatus::Unhealthy => return HealthStatus::Unhealthy,
            HealthStatus::Unknown => task = HealthStatus::Unknown,
            HealthStatus::Healthy => {}
        }
    }
    task
}

/// Containers in an order where every `dependsOn` target comes first (validation refuses cycles;
/// a cycle here falls back to definition order).
fn start_order(td: &TaskDefinition) -> Vec<usize> {
    let n = td.containers.len();
    let mut order = Vec::with_capacity(n);
    let mut placed = vec![false; n];
    while order.len() < n {
        let next = (0..n).find(|&i| {
            !placed[i]
                && td.containers[i].depends_on.iter().all(|d| {
                    td.containers
                        .iter()
                        .position(|c| c.name == d.container)
                        .is_none_or(|j| placed[j] || j == i)
                })
        });
        let i = next.unwrap_or_else(|| (0..n).find(|&i| !placed[i]).unwrap_or(0));
        placed[i] = true;
        order.push(i);
    }
    order
}

/// Runs one task from PROVISIONING to STOPPED. The scheduler is woken when it reaches RUNNING,
/// when its health changes and when it stops.
pub(crate) async fn run(
    shared: Arc<Shared>,
    task_id: String,
    subnet: String,
    stop: CancellationToken,
    td: Arc<TaskDefinition>,
) {
    let cfg = &shared.config;
    let description = format!(
        "ecs task {}/{} (service {})",
        cfg.cluster, task_id, cfg.name
    );
    let iface = match shared
        .network
        .create_interface(&subnet, &cfg.security_groups, &description)
    {
        Ok(iface) => iface,
        Err(e) => {
            finish(
                &shared,
                &task_id,
                Ending {
                    code: StopCode::TaskFailedToStart,
                    reason: format!(
                        "ResourceInitializationError: failed to create the task interface: {e}"
                    ),
                    drain: false,
                },
            );
            return;
        }
    };
    shared.update(&task_id, |info| {
        info.private_ip = Some(iface.ip());
        info.interface_id = Some(iface.id().to_owned());
        info.availability_zone = Some(iface.availability_zone().to_owned());
        info.last_status = TaskStatus::Pending;
    });

    let (exits_tx, mut exits) = mpsc::unbounded_channel();
    let (health_tx, mut health) = mpsc::unbounded_channel();
    // Health checks stop before the containers do, so a stopping container is not judged.
    let checks = CancellationToken::new();
    let _checks_guard = checks.clone().drop_guard();
    let mut containers: Vec<Container> = Vec::new();
    let mut registrations: Vec<Registration> = Vec::new();
    let mut target: Option<SocketAddr> = None;
    // The container whose network namespace the task's other image containers share, by index.
    let mut netns: Option<(usize, String)> = None;
    let mut tracker = Tracker {
        shared: &shared,
        task_id: &task_id,
        td: &td,
        progress: vec![Progress::default(); td.containers.len()],
    };

    let ending = 'life: {
        for index in start_order(&td) {
            let spec = &td.containers[index];
            let deadline = Instant::now() + spec.start_timeout;
            loop {
                match tracker.dependencies(index) {
                    Ok(true) => break,
                    Ok(false) => {}
                    Err(reason) => {
                        break 'life Ending {
                            code: StopCode::TaskFailedToStart,
                            reason: format!("CannotStartContainerError: {}: {reason}", spec.name),
                            drain: false,
                        };
                    }
                }
                tokio::select! {
                    Some((i, code)) = exits.recv() => if let Some(end) = tracker.exited(i, code, false) {
                        break 'life end;
                    },
                    Some((i, h)) = health.recv() => tracker.health(i, h),
                    _ = tokio::time::sleep_until(deadline) => break 'life Ending {
                        code: StopCode::TaskFailedToStart,
                        reason: format!(
                            "CannotStartContainerError: {}: dependencies not met within startTimeout {:?}",
                            spec.name, spec.start_timeout
                        ),
                        drain: false,
                    },
                    _ = stop.cancelled() => break 'life requested(&shared, &task_id),
                }
            }
            // An owner that exited (an init container that ran to completion) took the task's
            // address with it: the next image container holds it anew.
            if netns
                .as_ref()
                .is_some_and(|(i, _)| tracker.progress[*i].exit.is_some())
            {
                netns = None;
            }
            let started = tokio::select! {
                r = start_container(&shared, &task_id, &iface, index, spec, &exits_tx, &mut netns) => r,
                _ = stop.cancelled() => break 'life requested(&shared, &task_id),
            };
            match started {
                Ok((c, probe)) => {
                    shared.update(&task_id, |info| {
                        let ci = &mut info.containers[index];
                        ci.last_status = ContainerStatus::Running;
                        ci.host_port = c.host_port();
                        if let Runtime::Process(p) = &c.runtime {
                            ci.pid = p.pid();
                        }
                    });
                    tracker.progress[index].started = true;
                    if let Some(check) = &spec.health_check {
                        tokio::spawn(health::monitor(
                            check.clone(),
                            probe,
                            index,
                            health_tx.clone(),
                            checks.clone(),
                        ));
                    }
                    containers.push(c);
                }
                Err(reason) => {
                    break 'life Ending {
                        code: StopCode::TaskFailedToStart,
                        reason: format!("CannotStartContainerError: {}: {reason}", spec.name),
                        drain: false,
                    };
                }
            }
        }

        for c in &containers {
            let spec = &td.containers[c.index];
            // Published ports go through Docker's port proxy; ports on the network do not.
            let proxied = matches!(c.runtime, Runtime::Docker { .. }) && c.reach.is_none();
            for &(_, port) in &c.ports {
                if tracker.progress[c.index].exit.is_some() {
                    break;
                }
                let deadline = Instant::now() + spec.start_timeout;
                let ready = wait_ready(c.address(port), deadline, proxied);
                tokio::pin!(ready);
                loop {
                    tokio::select! {
                        ready = &mut ready => if ready {
                            break;
                        } else {
                            break 'life Ending {
                                code: StopCode::TaskFailedToStart,
                                reason: format!(
                                    "Container {} did not accept connections on its port within {:?}",
                                    spec.name, spec.start_timeout
                                ),
                                drain: false,
                            };
                        },
                        Some((index, code)) = exits.recv() => if let Some(end) = tracker.exited(index, code, false) {
                            break 'life end;
                        },
                        Some((i, h)) = health.recv() => tracker.health(i, h),
                        _ = stop.cancelled() => break 'life requested(&shared, &task_id),
                    }
                }
            }
        }

        shared.set_status(&task_id, TaskStatus::Activating);
        // Built-in apps already serve their private addresses in-process.
        for c in containers
            .iter()
            .filter(|c| !matches!(c.runtime, Runtime::Builtin { .. }))
        {
            for &(container_port, host_port) in &c.ports {
                let private = SocketAddrV4::new(iface.ip(), container_port);
                let backend = c.address(host_port);
                match shared.network.register(private, backend) {
                    Ok(r) => registrations.push(r),
                    Err(e) => {
                        break 'life Ending {
                            code: StopCode::TaskFailedToStart,
                            reason: format!("ResourceInitializationError: {e}"),
                            drain: false,
                        };
                    }
                }
            }
        }
        if let Some(lb) = &cfg.load_balancer {
            let addr = SocketAddr::from((iface.ip(), lb.container_port));
            shared.targets.send_modify(|targets| {
                targets.push(addr);
                targets.sort();
            });
            target = Some(addr);
        }
        let task_health = task_health(&td, &tracker.progress);
        shared.update(&task_id, |info| {
            info.last_status = TaskStatus::Running;
            info.started_at = Some(SystemTime::now());
            info.host_port = lb_host_port(cfg, &info.containers);
            info.health = task_health;
        });
        shared.wake.notify_one();
        tracing::info!(target: "airlock::ecs", service = %cfg.name, task = %task_id, ip = %iface.ip(), "task RUNNING");

        loop {
            tokio::select! {
                _ = stop.cancelled() => break 'life requested(&shared, &task_id),
                Some((index, code)) = exits.recv() => if let Some(end) = tracker.exited(index, code, true) {
                    break 'life end;
                },
                Some((i, h)) = health.recv() => tracker.health(i, h),
            }
        }
    };
    checks.cancel();

    shared.update(&task_id, |info| {
        info.stop_code = Some(ending.code);
        info.stopped_reason = Some(ending.reason.clone());
        info.desired_status = crate::status::DesiredStatus::Stopped;
        info.last_status = TaskStatus::Deactivating;
    });
    if let Some(addr) = target {
        shared
            .targets
            .send_modify(|targets| targets.retain(|t| *t != addr));
        if ending.drain && !cfg.deregistration_delay.is_zero() {
            // The target drains; airlock shutting down cuts the wait short.
            tokio::select! {
                _ = tokio::time::sleep(cfg.deregistration_delay) => {}
                _ = shared.shutdown.cancelled() => {}
            }
        }
    }

    shared.set_status(&task_id, TaskStatus::Stopping);
    // Shutdown order is the reverse of the start order (docs/aws-rules.md §ALB-4.1 dependsOn).
    for c in containers.iter_mut().rev() {
        let timeout = td.containers[c.index].stop_timeout;
        let code = c.stop(timeout).await;
        let index = c.index;
        shared.update(&task_id, |info| {
            let ci = &mut info.containers[index];
            ci.last_status = ContainerStatus::Stopped;
            ci.exit_code.get_or_insert(code);
        });
    }

    shared.set_status(&task_id, TaskStatus::Deprovisioning);
    drop(registrations);
    shared.network.delete_interface(&iface);
    finish(&shared, &task_id, ending);
}

/// The ending of a task whose stop token fired: the recorded request, or the service shutting
/// down.
fn requested(shared: &Shared, task_id: &str) -> Ending {
    let request = shared
        .lock_tasks()
        .iter()
        .find(|t| t.info.task_id == task_id)
        .and_then(|t| t.stop_request.clone());
    let (code, reason) = request.unwrap_or_else(|| {
        (
            StopCode::ServiceSchedulerInitiated,
            "Service is shutting down".to_owned(),
        )
    });
    Ending {
        code,
        reason,
        drain: !shared.shutdown.is_cancelled(),
    }
}

fn finish(shared: &Shared, task_id: &str, ending: Ending) {
    shared.update(task_id, |info| {
        info.last_status = TaskStatus::Stopped;
        info.desired_status = crate::status::DesiredStatus::Stopped;
        info.stop_code.get_or_insert(ending.code);
        info.stopped_reason.get_or_insert(ending.reason.clone());
        info.stopped_at = Some(SystemTime::now());
        info.host_port = None;
        for c in &mut info.containers {
            c.last_status = ContainerStatus::Stopped;
            c.pid = None;
        }
    });
    tracing::info!(
        target: "airlock::ecs",
        service = %shared.config.name,
        task = %task_id,
        stop_code = %ending.code,
        "task STOPPED: {}",
        ending.reason
    );
    shared.wake.notify_one();
}

fn mark_exited(shared: &Shared, task_id: &str, index: usize, code: i32) {
    shared.update(task_id, |info| {
        let c = &mut info.containers[index];
        c.last_status = ContainerStatus::Stopped;
        c.exit_code = Some(code);
        c.pid = None;
    });
}

fn lb_host_port(cfg: &crate::config::ServiceConfig, containers: &[ContainerInfo]) -> Option<u16> {
    match &cfg.load_balancer {
        Some(lb) => containers
            .iter()
            .find(|c| c.name == lb.container_name)
            .and_then(|c| c.host_port),
        None => containers.iter().find_map(|c| c.host_port),
    }
}

/// The environment ECS gives every container (docs/aws-rules.md §ALB-4.6), then the task definition's.
fn ecs_env(
    shared: &Shared,
    task_id: &str,
    index: usize,
    spec: &ContainerSpec,
) -> Vec<(String, String)> {
    let cfg = &shared.config;
    let docker_id = docker_id(task_id, index);
    let mut env = vec![
        ("AWS_REGION".to_owned(), cfg.region.clone()),
        ("AWS_DEFAULT_REGION".to_owned(), cfg.region.clone()),
        ("AWS_EXECUTION_ENV".to_owned(), "AWS_ECS_FARGATE".to_owned()),
        (
            "ECS_CONTAINER_METADATA_URI_V4".to_owned(),
            format!("{}/v4/{docker_id}", shared.metadata_base),
        ),
        (
            "ECS_CONTAINER_METADATA_URI".to_owned(),
            format!("{}/v3/{docker_id}", shared.metadata_base),
        ),
        (
            "ECS_AGENT_URI".to_owned(),
            format!("{}/api/{docker_id}", shared.metadata_base),
        ),
    ];
    env.extend(spec.environment.iter().cloned());
    env
}

/// Starts one container, and says where its health check runs. Every container that maps a
/// port gets its own free loopback port (one per mapping for images); all its container ports
/// are served from it.
async fn start_container(
    shared: &Shared,
    task_id: &str,
    iface: &Interface,
    index: usize,
    spec: &ContainerSpec,
    exits: &mpsc::UnboundedSender<(usize, i32)>,
    netns: &mut Option<(usize, String)>,
) -> Result<(Container, Probe), String> {
    let cfg = &shared.config;
    let sink = LogSink::open(cfg, task_id, &spec.name, spec.awslogs.as_ref());
    match &spec.run {
        Run::Builtin(app) => {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .await
                .map_err(|e| format!("binding a loopback port: {e}"))?;
            let port = listener
                .local_addr()
                .map_err(|e| format!("binding a loopback port: {e}"))?
                .port();
            let stop = shared.shutdown.child_token();
            let tracker = TaskTracker::new();
            let identity = TaskIdentity {
                task_id: task_id.to_owned(),
                private_ip: iface.ip(),
            };
            // The app serves its private addresses in-process from the start (it is ready at
            // once); they are released when it stops.
            let vpc = spec
                .port_mappings
                .iter()
                .map(|&p| shared.network.listen(std::slice::from_ref(iface), p))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("ResourceInitializationError: {e}"))?;
            tokio::spawn(serve_builtin(
                *app,
                listener,
                vpc,
                identity,
                stop.clone(),
                tracker.clone(),
            ));
            let mut env = ecs_env(shared, task_id, index, spec);
            env.push(("PORT".to_owned(), port.to_string()));
            Ok((
                Container {
                    index,
                    ports: spec.port_mappings.iter().map(|&p| (p, port)).collect(),
                    reach: None,
                    runtime: Runtime::Builtin { stop, tracker },
                },
                Probe::Local {
                    env,
                    working_directory: None,
                },
            ))
        }
        Run::Command {
            argv,
            working_directory,
            port_env_var,
        } => {
            let host_port = if spec.port_mappings.is_empty() {
                None
            } else {
                Some(
                    free_port()
                        .await
                        .map_err(|e| format!("finding a free loopback port: {e}"))?,
                )
            };
            let mut env = ecs_env(shared, task_id, index, spec);
            if let Some(port) = host_port {
                env.push((port_env_var.clone(), port.to_string()));
            }
            let process = ProcessContainer::spawn(Launch {
                argv,
                working_directory: working_directory.as_deref(),
                env: env.clone(),
                sink,
                index,
                exits: exits.clone(),
            })
            .map_err(|e| {
                format!(
                    "starting {:?}: {e}",
                    argv.first().map(String::as_str).unwrap_or_default()
                )
            })?;
            Ok((
                Container {
                    index,
                    ports: host_port
                        .map(|h| spec.port_mappings.iter().map(|&p| (p, h)).collect())
                        .unwrap_or_default(),
                    reach: None,
                    runtime: Runtime::Process(process),
                },
                Probe::Local {
                    env,
                    working_directory: working_directory.clone(),
                },
            ))
        }
        Run::Image {
            image,
            entry_point,
            command,
            working_directory,
        } => {
            let docker = shared.docker.clone();
            let no_engine = |e: &dyn std::fmt::Display| {
                format!(
                    "{e} (hint: start Docker or set DOCKER_HOST, or run image {image:?} of container {:?} as something else: `--image '{image}=builtin:echo'` (or command:PROGRAM, image:LOCAL_IMAGE) on airlock's command line, or image_map in the stack file)",
                    spec.name
                )
            };
            // The order of docs/cloudformation.md ("Images"): a mapping (applied before this
            // point), then a local image, then a pull when `--pull` allows one.
            let run_instead = format!(
                "run it as something else: `--image '{image}=builtin:echo'` (or command:PROGRAM, image:LOCAL_IMAGE, or `*` for every image) on airlock's command line, or image_map in the stack file"
            );
            match docker.has_image(image).await {
                Ok(true) => {}
                Ok(false) if cfg.pull_images => {
                    if let Err(e) = tokio::time::timeout(PULL_TIMEOUT, docker.pull(image))
                        .await
                        .unwrap_or_else(|_| {
                            Err(crate::docker::DockerError::Shape(format!(
                                "a pull that took over {} s",
                                PULL_TIMEOUT.as_secs()
                            )))
                        })
                    {
                        return Err(format!(
                            "CannotPullContainerError: pulling image {image:?} failed: {e} (hint: docker build or load it locally, or {run_instead})"
                        ));
                    }
                }
                Ok(false) => {
                    return Err(format!(
                        "CannotPullContainerError: image {image:?} is not in the local Docker engine (hint: docker pull or docker build it, pass --pull to let airlock pull it, or {run_instead})"
                    ));
                }
                Err(e) => return Err(no_engine(&e)),
            }
            let env = ecs_env(shared, task_id, index, spec);
            let mut td_labels = json!({
                "com.amazonaws.ecs.cluster": shared.cluster_arn(),
                "com.amazonaws.ecs.container-name": spec.name,
                "com.amazonaws.ecs.task-arn": shared.task_arn(task_id),
                "airlock.service": cfg.name,
                "airlock.task": task_id,
            });
            for (k, v) in &cfg.docker_labels {
                td_labels[k.as_str()] = json!(v);
            }
            // ECS `awsvpc`: the task's first container holds its private address on the VPC's
            // network; the others share that namespace, so they reach each other on localhost.
            let placement = match (
                &cfg.docker_network,
                netns.as_ref().map(|(_, id)| id.as_str()),
            ) {
                (None, _) => Placement::Publish,
                (Some(network), None) => Placement::Join {
                    network,
                    ip: iface.ip(),
                },
                (Some(_), Some(id)) => Placement::ShareWith(id),
            };
            let reach = cfg.docker_network.as_ref().map(|_| iface.ip());
            let name = format!(
                "airlock-{}-{}-{}",
                cfg.name,
                &task_id[..8.min(task_id.len())],
                spec.name
            );
            let started = docker
                .run(CreateSpec {
                    placement,
                    name: &name,
                    image,
                    entry_point: entry_point.as_deref(),
                    command: command.as_deref(),
                    working_directory: working_directory.as_deref(),
                    env: &env,
                    ports: &spec.port_mappings,
                    labels: td_labels,
                    stop_timeout: spec.stop_timeout,
                })
                .await
                .map_err(|e| no_engine(&e))?;
            if reach.is_some() && netns.is_none() {
                *netns = Some((index, started.id.clone()));
            }
            let (tx, exited) = watch::channel(None);
            let logs = tokio::spawn({
                let docker = docker.clone();
                let id = started.id.clone();
                let sink = sink.clone();
                async move { docker.follow_logs(&id, sink).await }
            });
            {
                let docker = docker.clone();
                let id = started.id.clone();
                let exits = exits.clone();
                let prefix = sink.prefix().to_owned();
                tokio::spawn(async move {
                    let code = docker.wait(&id).await.unwrap_or(-1);
                    // Report the exit once the output is in the log (see process.rs).
                    let _ = tokio::time::timeout(Duration::from_secs(1), logs).await;
                    tracing::info!(target: "airlock::task", "{prefix} exited with code {code}");
                    let _ = tx.send(Some(code));
                    let _ = exits.send((index, code));
                });
            }
            Ok((
                Container {
                    index,
                    ports: started.ports,
                    reach,
                    runtime: Runtime::Docker {
                        docker: docker.clone(),
                        id: started.id.clone(),
                        exited,
                    },
                },
                Probe::Docker {
                    docker,
                    id: started.id,
                },
            ))
        }
    }
}

/// A loopback port nothing listens on right now. The process binds it a moment later; another
/// process grabbing it in between makes the task fail to start and be replaced.
async fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    Ok(listener.local_addr()?.port())
}

/// Polls until `addr` accepts TCP, with a short growing backoff. False at the deadline.
///
/// Docker's port proxy accepts on the host port before the container listens, and closes the
/// connection when the container refuses it; for `proxied` ports, ready means a connection that
/// stays open for a moment.
async fn wait_ready(addr: SocketAddr, deadline: Instant, proxied: bool) -> bool {
    let mut pause = READY_POLL_FIRST;
    loop {
        let attempt = tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await;
        match attempt {
            Ok(Ok(mut stream)) => {
                if !proxied {
                    return true;
                }
                let mut byte = [0u8; 1];
                match tokio::time::timeout(PROXY_SETTLE, stream.read(&mut byte)).await {
                    // Still open, or the server spoke first: something listens behind the proxy.
                    Err(_) | Ok(Ok(1..)) => return true,
                    Ok(_) => {}
                }
            }
            Ok(Err(_)) => {}
            Err(_) => return false,
        }
        if Instant::now() + pause >= deadline {
            return false;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(READY_POLL_MAX);
    }
}

/// How long a connection through Docker's port proxy must stay open to count as accepted.
const PROXY_SETTLE: Duration = Duration::from_millis(150);
