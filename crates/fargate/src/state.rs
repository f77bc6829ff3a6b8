//! A service's shared state: the task table and what the scheduler, the tasks and the metadata
//! endpoint read and change in it. Below all three, so none of them imports another for it.

use crate::config::{ServiceConfig, TaskDefinition};
use crate::docker::Docker;
use crate::status::{ServiceEvent, StopCode, TaskInfo, TaskStatus};
use airlock_net::Network;
use airlock_net::sync::lock;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

/// Service events kept for `events()`.
pub(crate) const EVENTS_KEPT: usize = 100;

/// State shared by the scheduler, the tasks and the metadata endpoint.
pub(crate) struct Shared {
    pub(crate) config: ServiceConfig,
    pub(crate) network: Network,
    /// Fires when the service shuts down (parent of every task's token).
    pub(crate) shutdown: CancellationToken,
    pub(crate) tasks: Mutex<Vec<TaskEntry>>,
    pub(crate) targets: watch::Sender<Vec<SocketAddr>>,
    /// Bumped on every change to the task table.
    pub(crate) changes: watch::Sender<u64>,
    pub(crate) desired: watch::Sender<u32>,
    pub(crate) events: Mutex<VecDeque<ServiceEvent>>,
    /// Wakes the scheduler when a task reaches RUNNING or STOPPED.
    pub(crate) wake: Notify,
    /// `http://127.0.0.1:PORT`, the base of `ECS_CONTAINER_METADATA_URI_V4`.
    pub(crate) metadata_base: String,
    /// The engine `image` containers run on.
    pub(crate) docker: Docker,
    /// The task definition new tasks get; a rolling deployment replaces it.
    pub(crate) current: Mutex<Arc<TaskDefinition>>,
    /// `ecs-svc/NNNN`, the current deployment's id in events and stop reasons.
    pub(crate) deployment: Mutex<String>,
    /// How the load balancer sees the targets, once [`ServiceHandle::follow_target_health`]
    /// was called.
    pub(crate) lb_view: Mutex<Option<LbView>>,
}

/// The load balancer's view of the service's targets.
pub(crate) struct LbView {
    pub(crate) target_group_arn: String,
    pub(crate) health: HashMap<SocketAddr, LbTargetHealth>,
}

/// A target's health as the load balancer reports it (docs/aws-rules.md §ALB-3.3), reduced to what the scheduler
/// needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LbTargetHealth {
    /// `healthy` (or `unavailable`: health checks off): counts as healthy for deployments.
    Healthy,
    /// `unhealthy`: the task is replaced after the grace period (docs/aws-rules.md §ALB-4.5).
    Unhealthy,
    /// `initial`, `draining`, `unused`: not yet (or no longer) healthy.
    Other,
}

/// A task in the scheduler's table.
pub(crate) struct TaskEntry {
    pub info: TaskInfo,
    /// Fired to stop the task; a child of the service's token.
    pub stop: CancellationToken,
    /// Why the stop was asked for, if someone asked.
    pub stop_request: Option<(StopCode, String)>,
    /// The revision it runs.
    pub td: Arc<TaskDefinition>,
}

impl Shared {
    pub(crate) fn lock_tasks(&self) -> MutexGuard<'_, Vec<TaskEntry>> {
        lock(&self.tasks)
    }

    /// The task definition new tasks get.
    pub(crate) fn current_td(&self) -> Arc<TaskDefinition> {
        lock(&self.current).clone()
    }

    /// Applies `f` to a task's snapshot, if the task is still in the table.
    pub(crate) fn update(&self, task_id: &str, f: impl FnOnce(&mut TaskInfo)) {
        if let Some(entry) = self
            .lock_tasks()
            .iter_mut()
            .find(|t| t.info.task_id == task_id)
        {
            f(&mut entry.info);
        }
        self.touch();
    }

    /// Tells watchers of `changes()` that the task table changed.
    pub(crate) fn touch(&self) {
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
    }

    pub(crate) fn set_status(&self, task_id: &str, status: TaskStatus) {
        self.update(task_id, |info| info.last_status = status);
    }

    /// Logs an event at info and keeps it for `events()`.
    pub(crate) fn event(&self, message: String) {
        tracing::info!(target: "airlock::ecs", "{message}");
        let mut events = lock(&self.events);
        if events.len() == EVENTS_KEPT {
            events.pop_front();
        }
        events.push_back(ServiceEvent {
            at: SystemTime::now(),
            message,
        });
    }

    pub(crate) fn task_arn(&self, task_id: &str) -> String {
        let c = &self.config;
        format!(
            "arn:aws:ecs:{}:{}:task/{}/{}",
            c.region, c.account_id, c.cluster, task_id
        )
    }

    pub(crate) fn cluster_arn(&self) -> String {
        let c = &self.config;
        format!(
            "arn:aws:ecs:{}:{}:cluster/{}",
            c.region, c.account_id, c.cluster
        )
    }
}
