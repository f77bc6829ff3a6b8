//! One task's lifecycle (§4.3): interface, containers, target registration, stop, cleanup.

use crate::apps::{TaskIdentity, serve_builtin};
use crate::config::{ContainerSpec, Run, TaskDefinition};
use crate::process::{Launch, ProcessContainer};
use crate::service::Shared;
use crate::status::{ContainerInfo, ContainerStatus, StopCode, TaskStatus};
use airlock_net::{Framing, Interface, Registration};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// First and last pause between attempts to connect to a starting container's port.
const READY_POLL_FIRST: Duration = Duration::from_millis(5);
const READY_POLL_MAX: Duration = Duration::from_millis(200);

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
    }
}

/// A started container.
struct Container {
    index: usize,
    host_port: Option<u16>,
    runtime: Runtime,
}

enum Runtime {
    Builtin {
        stop: CancellationToken,
        tracker: TaskTracker,
    },
    Process(ProcessContainer),
}

impl Container {
    /// Stops the container (SIGTERM then SIGKILL for processes; graceful close for built-ins)
    /// and returns its exit code.
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

/// Runs one task from PROVISIONING to STOPPED. The scheduler is woken when it reaches RUNNING
/// and when it stops.
pub(crate) async fn run(
    shared: Arc<Shared>,
    task_id: String,
    subnet: String,
    stop: CancellationToken,
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
    let mut containers = Vec::new();
    let mut registrations: Vec<Registration> = Vec::new();
    let mut target: Option<SocketAddr> = None;

    let ending = 'life: {
        for (index, spec) in cfg.task_definition.containers.iter().enumerate() {
            match start_container(&shared, &task_id, &iface, index, spec, &exits_tx).await {
                Ok(c) => {
                    shared.update(&task_id, |info| {
                        let ci = &mut info.containers[index];
                        ci.last_status = ContainerStatus::Running;
                        ci.host_port = c.host_port;
                        if let Runtime::Process(p) = &c.runtime {
                            ci.pid = p.pid();
                        }
                    });
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
            let spec = &cfg.task_definition.containers[c.index];
            let Some(port) = c.host_port else { continue };
            let deadline = Instant::now() + spec.start_timeout;
            let ready = wait_ready(port, deadline);
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
                    Some((index, code)) = exits.recv() => {
                        mark_exited(&shared, &task_id, index, code);
                        let exited = &cfg.task_definition.containers[index];
                        if exited.essential {
                            break 'life Ending {
                                code: StopCode::EssentialContainerExited,
                                reason: format!(
                                    "Essential container in task exited: {} exited with code {code} before accepting connections",
                                    exited.name
                                ),
                                drain: false,
                            };
                        }
                    }
                    _ = stop.cancelled() => break 'life requested(&shared, &task_id),
                }
            }
        }

        shared.set_status(&task_id, TaskStatus::Activating);
        for c in &containers {
            let spec = &cfg.task_definition.containers[c.index];
            let Some(host_port) = c.host_port else {
                continue;
            };
            for &port in &spec.port_mappings {
                let private = SocketAddrV4::new(iface.ip(), port);
                let backend = SocketAddr::from((Ipv4Addr::LOCALHOST, host_port));
                match shared.network.register(private, backend, Framing::Plain) {
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
        shared.update(&task_id, |info| {
            info.last_status = TaskStatus::Running;
            info.started_at = Some(SystemTime::now());
            info.host_port = lb_host_port(cfg, &info.containers);
        });
        shared.wake.notify_one();
        tracing::info!(target: "airlock::ecs", service = %cfg.name, task = %task_id, ip = %iface.ip(), "task RUNNING");

        loop {
            tokio::select! {
                _ = stop.cancelled() => break 'life requested(&shared, &task_id),
                Some((index, code)) = exits.recv() => {
                    mark_exited(&shared, &task_id, index, code);
                    let spec = &cfg.task_definition.containers[index];
                    if spec.essential {
                        break 'life Ending {
                            code: StopCode::EssentialContainerExited,
                            reason: "Essential container in task exited".to_owned(),
                            drain: false,
                        };
                    }
                }
            }
        }
    };

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
    // Shutdown order is the reverse of the start order (§4.1 dependsOn).
    for c in containers.iter_mut().rev() {
        let timeout = cfg.task_definition.containers[c.index].stop_timeout;
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

/// Starts one container. Every container that maps a port gets its own free loopback port; all
/// its container ports are served from it.
async fn start_container(
    shared: &Shared,
    task_id: &str,
    iface: &Interface,
    index: usize,
    spec: &ContainerSpec,
    exits: &mpsc::UnboundedSender<(usize, i32)>,
) -> Result<Container, String> {
    let cfg = &shared.config;
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
            tokio::spawn(serve_builtin(
                *app,
                listener,
                identity,
                stop.clone(),
                tracker.clone(),
            ));
            Ok(Container {
                index,
                host_port: (!spec.port_mappings.is_empty()).then_some(port),
                runtime: Runtime::Builtin { stop, tracker },
            })
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
            let docker_id = docker_id(task_id, index);
            let metadata_v4 = format!("{}/v4/{docker_id}", shared.metadata_base);
            let metadata_v3 = format!("{}/v3/{docker_id}", shared.metadata_base);
            let mut env = vec![
                ("AWS_REGION".to_owned(), cfg.region.clone()),
                ("AWS_DEFAULT_REGION".to_owned(), cfg.region.clone()),
                ("AWS_EXECUTION_ENV".to_owned(), "AWS_ECS_FARGATE".to_owned()),
                ("ECS_CONTAINER_METADATA_URI_V4".to_owned(), metadata_v4),
                ("ECS_CONTAINER_METADATA_URI".to_owned(), metadata_v3),
                (
                    "ECS_AGENT_URI".to_owned(),
                    format!("{}/api/{docker_id}", shared.metadata_base),
                ),
            ];
            env.extend(spec.environment.iter().cloned());
            if let Some(port) = host_port {
                env.push((port_env_var.clone(), port.to_string()));
            }
            let short = &task_id[..8.min(task_id.len())];
            let process = ProcessContainer::spawn(Launch {
                argv,
                working_directory: working_directory.as_deref(),
                env,
                log_prefix: format!("{}/{short} {}", cfg.name, spec.name),
                index,
                exits: exits.clone(),
            })
            .map_err(|e| {
                format!(
                    "starting {:?}: {e}",
                    argv.first().map(String::as_str).unwrap_or_default()
                )
            })?;
            Ok(Container {
                index,
                host_port,
                runtime: Runtime::Process(process),
            })
        }
    }
}

/// A loopback port nothing listens on right now. The process binds it a moment later; another
/// process grabbing it in between makes the task fail to start and be replaced.
async fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    Ok(listener.local_addr()?.port())
}

/// Polls until the port accepts TCP, with a short growing backoff. False at the deadline.
async fn wait_ready(port: u16, deadline: Instant) -> bool {
    let mut pause = READY_POLL_FIRST;
    loop {
        let attempt =
            tokio::time::timeout_at(deadline, TcpStream::connect((Ipv4Addr::LOCALHOST, port)))
                .await;
        match attempt {
            Ok(Ok(_)) => return true,
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
