//! Target groups (docs/aws-rules.md §ALB-3): the live set of registered targets, their health, draining, and the
//! routing algorithms.
//!
//! The task runner publishes the registered `ip:port` set on a `watch` channel; the group
//! reconciles it with its own per-target records on every pick and whenever the set changes:
//! a new address starts `initial` (or `unused` until a listener uses the group, docs/aws-rules.md §ALB-3.1), a
//! vanished one is `draining` for the deregistration delay (docs/aws-rules.md §ALB-3.7) and then forgotten.

use crate::health::{
    self, HealthCheck, Machine, Outcome, Probe, Reason, TargetHealth, TargetState,
};
use airlock_net::{Interface, Network};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A target group's settings (docs/aws-rules.md §ALB-3), with AWS's defaults from [`TargetGroupConfig::new`].
#[derive(Debug, Clone)]
pub struct TargetGroupConfig {
    /// The group's name.
    pub name: String,
    /// Health checks; `None` disables them (every registered target is routed to, state
    /// `unavailable`), which AWS allows only for Lambda targets: for tests and embedding.
    pub health_check: Option<HealthCheck>,
    /// `deregistration_delay.timeout_seconds`, default 300 s (docs/aws-rules.md §ALB-3.7).
    pub deregistration_delay: Duration,
    /// `load_balancing.algorithm.type`, default round robin (docs/aws-rules.md §ALB-3.5).
    pub algorithm: Algorithm,
    /// `slow_start.duration_seconds`, default 0 (off) (docs/aws-rules.md §ALB-3.6).
    pub slow_start: Duration,
    /// Target stickiness (docs/aws-rules.md §ALB-3.8), default off.
    pub stickiness: Option<Stickiness>,
    /// The group's ARN, for the access log's `target_group_arn`; the name when absent.
    pub arn: Option<String>,
}

impl TargetGroupConfig {
    /// A group with AWS's defaults: default health check, 300 s delay, round robin.
    pub fn new(name: impl Into<String>) -> TargetGroupConfig {
        TargetGroupConfig {
            name: name.into(),
            health_check: Some(HealthCheck::default()),
            deregistration_delay: Duration::from_secs(300),
            algorithm: Algorithm::RoundRobin,
            slow_start: Duration::ZERO,
            stickiness: None,
            arn: None,
        }
    }
}

/// `load_balancing.algorithm.type` (docs/aws-rules.md §ALB-3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// `round_robin` (default).
    #[default]
    RoundRobin,
    /// `least_outstanding_requests`.
    LeastOutstandingRequests,
    /// `weighted_random` (automatic target weights are all equal: anomaly detection is not
    /// modelled).
    WeightedRandom,
}

/// Target stickiness (docs/aws-rules.md §ALB-3.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stickiness {
    /// `lb_cookie`: the ALB's `AWSALB`/`AWSALBCORS` cookies.
    LbCookie {
        /// `stickiness.lb_cookie.duration_seconds`, default 1 day.
        duration: Duration,
    },
    /// `app_cookie`: `AWSALBAPP-0` once the target sets `cookie_name`.
    AppCookie {
        /// `stickiness.app_cookie.cookie_name`.
        cookie_name: String,
        /// `stickiness.app_cookie.duration_seconds`, default 1 day.
        duration: Duration,
    },
}

impl Stickiness {
    /// The stickiness duration.
    pub fn duration(&self) -> Duration {
        match self {
            Stickiness::LbCookie { duration } | Stickiness::AppCookie { duration, .. } => *duration,
        }
    }
}

/// A target group handle: cheap to clone; clones share targets, health and the round-robin
/// position, so every rule forwarding to the group rotates over one sequence (docs/aws-rules.md §ALB-3.5).
#[derive(Clone)]
pub struct TargetGroup(Arc<Inner>);

struct Inner {
    config: TargetGroupConfig,
    /// The access log's `target_group_arn` (the ARN, or the name without one), shared by
    /// every request's record.
    log_name: Arc<str>,
    /// The group's name, interned for traces.
    traced_name: &'static str,
    registered: watch::Receiver<Vec<SocketAddr>>,
    state: Mutex<State>,
    health: watch::Sender<Vec<TargetHealth>>,
    next: AtomicUsize,
    started: AtomicBool,
    /// Cancelled when the load balancer serving the group shuts down.
    stop: CancellationToken,
}

#[derive(Default)]
struct State {
    /// The registered set as last reconciled.
    seen: Vec<SocketAddr>,
    /// Follows the registered set: a request asks it whether the set changed (a version
    /// check) instead of comparing the whole set.
    updates: Option<watch::Receiver<Vec<SocketAddr>>>,
    /// Whether the registered set was read at least once.
    synced: bool,
    /// Targets in registration order, draining ones included.
    targets: Vec<Entry>,
    /// The indices of the targets a request may go to (docs/aws-rules.md §ALB-3.4, fail-open included), as of the
    /// last change; see `publish`.
    eligible: Vec<usize>,
    generation: u64,
    /// Set once a listener uses the group: health checks run from then on (docs/aws-rules.md §ALB-3.1).
    runner: Option<Runner>,
}

#[derive(Clone)]
struct Runner {
    probe: Probe,
    tracker: TaskTracker,
}

struct Entry {
    addr: SocketAddr,
    generation: u64,
    machine: Machine,
    in_flight: Arc<AtomicUsize>,
    /// Cancelled when the deregistration delay ends: in-flight requests are cut (docs/aws-rules.md §ALB-3.7).
    cut: CancellationToken,
    /// Children of `cut`, one per shard (`airlock_net::shards`), handed to requests: each
    /// request clones and watches its shard's token, not one all cores contend for.
    cuts: Vec<CancellationToken>,
    /// Stops this target's health checks.
    checks: CancellationToken,
    /// When the target entered slow start (docs/aws-rules.md §ALB-3.6).
    slow_start: Option<Instant>,
}

/// One request's claim on a target: counts as outstanding until dropped (docs/aws-rules.md §ALB-3.5), and tells the
/// proxy when a drained target's requests must be cut (docs/aws-rules.md §ALB-3.7).
#[derive(Debug)]
pub(crate) struct Lease {
    pub(crate) target: SocketAddr,
    /// The target's health state when it was chosen, for the request's trace.
    pub(crate) health: &'static str,
    /// It was chosen because a stickiness cookie named it.
    pub(crate) sticky: bool,
    in_flight: Arc<AtomicUsize>,
    pub(crate) cut: CancellationToken,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl TargetGroup {
    /// A group without health checks (every registered target is routed to), a 300 s
    /// deregistration delay and round robin, whose targets are the private `ip:port` addresses
    /// last sent on `targets`.
    pub fn new(name: impl Into<String>, targets: watch::Receiver<Vec<SocketAddr>>) -> Self {
        let mut config = TargetGroupConfig::new(name);
        config.health_check = None;
        TargetGroup::with_config(config, targets)
    }

    /// A group with `config`, whose targets are the addresses last sent on `targets`. Health
    /// checks start when a listener serving the group calls [`TargetGroup::activate`].
    pub fn with_config(
        config: TargetGroupConfig,
        targets: watch::Receiver<Vec<SocketAddr>>,
    ) -> Self {
        let log_name = Arc::from(config.arn.as_deref().unwrap_or(&config.name));
        let group = TargetGroup(Arc::new(Inner {
            log_name,
            traced_name: airlock_net::trace::intern(&config.name),
            config,
            state: Mutex::new(State {
                updates: Some(targets.clone()),
                ..State::default()
            }),
            registered: targets,
            health: watch::channel(Vec::new()).0,
            next: AtomicUsize::new(0),
            started: AtomicBool::new(false),
            stop: CancellationToken::new(),
        }));
        drop(group.sync());
        group
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.0.config.name
    }

    /// The ARN, or the name, for logs.
    pub(crate) fn log_name(&self) -> Arc<str> {
        self.0.log_name.clone()
    }

    /// The group's name, interned for traces.
    pub(crate) fn traced_name(&self) -> &'static str {
        self.0.traced_name
    }

    /// Whether two handles are the same group.
    pub(crate) fn same(&self, other: &TargetGroup) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The group's settings.
    pub fn config(&self) -> &TargetGroupConfig {
        &self.0.config
    }

    /// Each target's state, reason and description, as `DescribeTargetHealth` shows them.
    pub fn health(&self) -> Vec<TargetHealth> {
        let state = self.sync();
        snapshot(&self.0.config, &state)
    }

    /// A watch of [`TargetGroup::health`], updated on every state change (for the task runner,
    /// which replaces tasks whose targets turn unhealthy, docs/aws-rules.md §ALB-4.5). Do not call back into the
    /// group while holding a borrow of it.
    pub fn watch_health(&self) -> watch::Receiver<Vec<TargetHealth>> {
        drop(self.sync());
        self.0.health.subscribe()
    }

    /// Starts health checks from `node` through `network` (docs/aws-rules.md §ALB-3.2), once; later calls do
    /// nothing. Checks stop when `shutdown` fires. A listener calls this for every group its
    /// rules forward to: until then targets are `unused` (`Target.NotInUse`, docs/aws-rules.md §ALB-3.1).
    pub fn activate(
        &self,
        network: &Network,
        node: &Interface,
        shutdown: &CancellationToken,
        tracker: &TaskTracker,
    ) {
        let probe = self
            .0
            .config
            .health_check
            .clone()
            .map(|hc| health::network_probe(network.clone(), node.clone(), hc));
        self.activate_with(probe, shutdown, tracker);
    }

    pub(crate) fn activate_with(
        &self,
        probe: Option<Probe>,
        shutdown: &CancellationToken,
        tracker: &TaskTracker,
    ) {
        if self.0.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let stop = self.0.stop.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            shutdown.cancelled().await;
            stop.cancel();
        });
        {
            let mut state = self.lock();
            let probe = probe.unwrap_or_else(|| Arc::new(|_| Box::pin(async { Outcome::Pass })));
            state.runner = Some(Runner {
                probe,
                tracker: tracker.clone(),
            });
            for i in 0..state.targets.len() {
                if state.targets[i].machine.state == TargetState::Unused {
                    self.start_target(&mut state, i);
                }
            }
            publish(&self.0, &mut state);
        }
        // Follow the registered set even when no request arrives.
        let weak = Arc::downgrade(&self.0);
        let mut registered = self.0.registered.clone();
        let stop = self.0.stop.clone();
        tracker.spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    changed = registered.changed() => if changed.is_err() { return },
                }
                let Some(inner) = weak.upgrade() else { return };
                drop(TargetGroup(inner).sync());
            }
        });
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        airlock_net::sync::lock(&self.0.state)
    }

    /// Reconciles the records with the registered set (cheap when nothing changed).
    fn sync(&self) -> MutexGuard<'_, State> {
        let mut state = self.lock();
        // Every request passes here: nothing but a version check unless the set was sent
        // anew (the first call always reads it).
        let first = !state.synced;
        state.synced = true;
        let now: Vec<SocketAddr> = match state.updates.as_mut() {
            Some(updates) if !first && !updates.has_changed().unwrap_or(false) => return state,
            Some(updates) => updates.borrow_and_update().clone(),
            None => self.0.registered.borrow().clone(),
        };
        if now == state.seen {
            return state;
        }
        // Left: start draining.
        for i in 0..state.targets.len() {
            let e = &state.targets[i];
            if e.machine.state != TargetState::Draining && !now.contains(&e.addr) {
                self.start_draining(&mut state, i);
            }
        }
        // Joined (or re-registered while draining): start over.
        for addr in &now {
            if let Some(i) = state.targets.iter().position(|e| e.addr == *addr) {
                if state.targets[i].machine.state == TargetState::Draining {
                    state.generation += 1;
                    state.targets[i].generation = state.generation;
                    self.start_target(&mut state, i);
                }
                continue;
            }
            state.generation += 1;
            let generation = state.generation;
            let cut = CancellationToken::new();
            state.targets.push(Entry {
                addr: *addr,
                generation,
                machine: Machine::at(TargetState::Unused, Some(Reason::NotInUse)),
                in_flight: Arc::new(AtomicUsize::new(0)),
                cut: cut.clone(),
                cuts: (0..airlock_net::shards::count())
                    .map(|_| cut.child_token())
                    .collect(),
                checks: CancellationToken::new(),
                slow_start: None,
            });
            if state.runner.is_some() {
                let i = state.targets.len() - 1;
                self.start_target(&mut state, i);
            }
        }
        state.targets.retain(|e| e.generation != REMOVED);
        state.seen = now;
        publish(&self.0, &mut state);
        state
    }

    /// Puts target `i` in its first state and starts its checks, if the group is in use.
    fn start_target(&self, state: &mut State, i: usize) {
        let Some(runner) = state.runner.clone() else {
            state.targets[i].machine = Machine::at(TargetState::Unused, Some(Reason::NotInUse));
            return;
        };
        let entry = &mut state.targets[i];
        entry.checks.cancel();
        entry.checks = self.0.stop.child_token();
        entry.slow_start = None;
        let Some(hc) = self.0.config.health_check.clone() else {
            entry.machine =
                Machine::at(TargetState::Unavailable, Some(Reason::HealthCheckDisabled));
            return;
        };
        entry.machine = Machine::initial();
        let (addr, generation, cancel) = (entry.addr, entry.generation, entry.checks.clone());
        let weak = Arc::downgrade(&self.0);
        let tracker = runner.tracker.clone();
        runner.tracker.spawn(check_loop(
            weak,
            addr,
            generation,
            hc,
            runner.probe,
            cancel,
            tracker,
        ));
    }

    fn start_draining(&self, state: &mut State, i: usize) {
        let delay = self.0.config.deregistration_delay;
        let runner = state.runner.clone();
        let entry = &mut state.targets[i];
        entry.checks.cancel();
        entry.slow_start = None;
        entry.machine = Machine::at(
            TargetState::Draining,
            Some(Reason::DeregistrationInProgress),
        );
        let (addr, generation, cut) = (entry.addr, entry.generation, entry.cut.clone());
        let runtime = tokio::runtime::Handle::try_current();
        match (delay.is_zero(), runtime, runner) {
            (false, Ok(_), Some(runner)) => {
                let weak = Arc::downgrade(&self.0);
                let stop = self.0.stop.clone();
                let deadline = Instant::now() + delay;
                runner.tracker.spawn(async move {
                    tokio::select! {
                        _ = tokio::time::sleep_until(deadline) => {}
                        _ = stop.cancelled() => {}
                    }
                    if let Some(inner) = weak.upgrade() {
                        TargetGroup(inner).finish_draining(addr, generation);
                    }
                });
            }
            _ => {
                // Not served (nothing can be in flight) or no delay: deregistration completes
                // at once; `sync` drops the record after its pass.
                cut.cancel();
                entry.generation = REMOVED;
            }
        }
    }

    /// The delay is over: cut what is still in flight and forget the target (docs/aws-rules.md §ALB-3.7).
    fn finish_draining(&self, addr: SocketAddr, generation: u64) {
        let mut state = self.lock();
        let Some(i) = state.targets.iter().position(|e| {
            e.addr == addr && e.generation == generation && e.machine.state == TargetState::Draining
        }) else {
            return;
        };
        let entry = state.targets.remove(i);
        entry.cut.cancel();
        publish(&self.0, &mut state);
    }

    /// Records a health-check outcome for the target's current registration.
    fn record(&self, addr: SocketAddr, generation: u64, outcome: &Outcome) {
        let Some(hc) = self.0.config.health_check.as_ref() else {
            return;
        };
        let mut state = self.lock();
        let slow_start = self.0.config.slow_start;
        let others_serving = |targets: &[Entry], me: usize| {
            targets.iter().enumerate().any(|(j, e)| {
                j != me && e.machine.state == TargetState::Healthy && e.slow_start.is_none()
            })
        };
        let Some(i) = state
            .targets
            .iter()
            .position(|e| e.addr == addr && e.generation == generation)
        else {
            return;
        };
        if matches!(
            state.targets[i].machine.state,
            TargetState::Draining | TargetState::Unused
        ) {
            return;
        }
        let was = state.targets[i].machine.state;
        if !state.targets[i].machine.record(outcome, hc) {
            return;
        }
        let now_state = state.targets[i].machine.state;
        if now_state == TargetState::Healthy && was != TargetState::Healthy {
            // docs/aws-rules.md §ALB-3.6: slow start only when another healthy target carries the traffic.
            let enter = !slow_start.is_zero() && others_serving(&state.targets, i);
            state.targets[i].slow_start = enter.then(Instant::now);
        } else if now_state != TargetState::Healthy {
            state.targets[i].slow_start = None;
        }
        tracing::info!(
            group = %self.0.config.name, target = %addr, from = %was, to = %now_state,
            reason = ?state.targets[i].machine.reason.map(Reason::code),
            "target health changed"
        );
        publish(&self.0, &mut state);
    }

    /// Chooses a target for one request (docs/aws-rules.md §ALB-3.4, §ALB-3.5): `sticky` first when it is still
    /// eligible; `None` when no target is eligible (503).
    pub(crate) fn acquire(&self, sticky: Option<SocketAddr>) -> Option<Lease> {
        let state = self.sync();
        // Kept by `publish` whenever a target or its state changes: nothing is walked here.
        let State {
            targets, eligible, ..
        } = &*state;
        if eligible.is_empty() {
            return None;
        }
        let sticky = sticky.and_then(|s| eligible.iter().find(|&&i| targets[i].addr == s));
        let chosen = &targets[match sticky {
            Some(&i) => i,
            None => self.choose(targets, eligible),
        }];
        chosen.in_flight.fetch_add(1, Ordering::Relaxed);
        Some(Lease {
            target: chosen.addr,
            health: chosen.machine.state.as_str(),
            sticky: sticky.is_some(),
            in_flight: chosen.in_flight.clone(),
            cut: chosen.cuts[airlock_net::shards::current() % chosen.cuts.len()].clone(),
        })
    }

    /// Picks one of `eligible` (indices into `targets`, not empty) by the group's algorithm.
    fn choose(&self, targets: &[Entry], eligible: &[usize]) -> usize {
        let n = self.0.next.fetch_add(1, Ordering::Relaxed);
        let start = n % eligible.len();
        // Without slow start every weight is 1: no clock read on each request.
        let slow_start = self.0.config.slow_start;
        let now = (!slow_start.is_zero()).then(Instant::now);
        let weight = |i: usize| {
            now.map_or(1.0, |now| {
                slow_start_weight(targets[i].slow_start, slow_start, now)
            })
        };
        match self.0.config.algorithm {
            Algorithm::RoundRobin => {
                // A target in slow start takes its turn with probability = its ramp (docs/aws-rules.md §ALB-3.6).
                for k in 0..eligible.len() {
                    let i = eligible[(start + k) % eligible.len()];
                    let w = weight(i);
                    if w >= 1.0 || rand::random::<f64>() < w {
                        return i;
                    }
                }
                eligible[start]
            }
            Algorithm::LeastOutstandingRequests => {
                let load = |i: usize| targets[i].in_flight.load(Ordering::Relaxed);
                let mut best = eligible[start];
                for k in 1..eligible.len() {
                    let i = eligible[(start + k) % eligible.len()];
                    if load(i) < load(best) {
                        best = i;
                    }
                }
                best
            }
            Algorithm::WeightedRandom => {
                let total: f64 = eligible.iter().map(|&i| weight(i).max(0.01)).sum();
                let mut x = rand::random::<f64>() * total;
                for &i in eligible {
                    let w = weight(i).max(0.01);
                    if x < w {
                        return i;
                    }
                    x -= w;
                }
                eligible[eligible.len() - 1]
            }
        }
    }
}

/// Marks a record `sync` removes once its pass is over.
const REMOVED: u64 = u64::MAX;

/// docs/aws-rules.md §ALB-3.6: the share a target in slow start may take, growing linearly to 1.
fn slow_start_weight(since: Option<Instant>, duration: Duration, now: Instant) -> f64 {
    match since {
        Some(t) if !duration.is_zero() => {
            let f = now.saturating_duration_since(t).as_secs_f64() / duration.as_secs_f64();
            f.min(1.0)
        }
        _ => 1.0,
    }
}

fn snapshot(config: &TargetGroupConfig, state: &State) -> Vec<TargetHealth> {
    state
        .targets
        .iter()
        .filter(|e| e.generation != REMOVED)
        .map(|e| TargetHealth {
            target: e.addr,
            health_check_port: config
                .health_check
                .as_ref()
                .and_then(|h| h.port)
                .unwrap_or(e.addr.port()),
            state: e.machine.state,
            reason: e.machine.reason,
            description: e.machine.description.clone(),
        })
        .collect()
}

/// Called after every change of the targets or their states: recomputes which targets a
/// request may go to and publishes the health snapshot.
fn publish(inner: &Inner, state: &mut State) {
    let checked = inner.config.health_check.is_some();
    let routable = |e: &Entry| match e.machine.state {
        TargetState::Healthy => true,
        TargetState::Unavailable => !checked,
        _ => false,
    };
    let State {
        targets, eligible, ..
    } = state;
    eligible.clear();
    eligible.extend((0..targets.len()).filter(|&i| routable(&targets[i])));
    if eligible.is_empty() {
        // docs/aws-rules.md §ALB-3.4 fail-open: only unhealthy targets → all of them.
        eligible.extend(
            (0..targets.len()).filter(|&i| targets[i].machine.state == TargetState::Unhealthy),
        );
    }
    let now = snapshot(&inner.config, state);
    inner.health.send_if_modified(|cur| {
        if *cur == now {
            false
        } else {
            *cur = now;
            true
        }
    });
}

/// One target's checks: one at once, then every interval, each independent of the last (a
/// slow check does not delay the next, docs/aws-rules.md §ALB-3.2).
async fn check_loop(
    group: Weak<Inner>,
    addr: SocketAddr,
    generation: u64,
    hc: HealthCheck,
    probe: Probe,
    cancel: CancellationToken,
    tracker: TaskTracker,
) {
    let mut ticks = tokio::time::interval(hc.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let (probe, group, cancel) = (probe.clone(), group.clone(), cancel.clone());
        let timeout = hc.timeout;
        tracker.spawn(async move {
            let outcome = tokio::select! {
                _ = cancel.cancelled() => return,
                r = tokio::time::timeout(timeout, probe(addr)) => r.unwrap_or(Outcome::Timeout),
            };
            if let Some(inner) = group.upgrade() {
                TargetGroup(inner).record(addr, generation, &outcome);
            }
        });
    }
}

impl fmt::Debug for TargetGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TargetGroup")
            .field("name", &self.0.config.name)
            .field("targets", &*self.0.registered.borrow())
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A probe whose outcome per target the test sets.
    fn scripted() -> (Probe, Arc<Mutex<HashMap<SocketAddr, Outcome>>>) {
        let script: Arc<Mutex<HashMap<SocketAddr, Outcome>>> = Arc::default();
        let s = script.clone();
        let probe: Probe = Arc::new(move |addr| {
            let o = s
                .lock()
                .unwrap()
                .get(&addr)
                .cloned()
                .unwrap_or(Outcome::Pass);
            Box::pin(async move { o })
        });
        (probe, script)
    }

    fn state_of(g: &TargetGroup, a: SocketAddr) -> Option<(TargetState, Option<Reason>)> {
        g.health()
            .into_iter()
            .find(|t| t.target == a)
            .map(|t| (t.state, t.reason))
    }

    /// Lets spawned check tasks run at the current (paused) instant.
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn health_state_machine_under_paused_time_alb_3_2_to_3_4() {
        let a: SocketAddr = "10.0.100.10:8080".parse().unwrap();
        let b: SocketAddr = "10.0.101.10:8080".parse().unwrap();
        let (tx, rx) = watch::channel(vec![a, b]);
        let mut config = TargetGroupConfig::new("tg");
        config.health_check = Some(HealthCheck {
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            ..HealthCheck::default()
        });
        let g = TargetGroup::with_config(config, rx);
        // docs/aws-rules.md §ALB-3.1: not used by a listener yet.
        assert_eq!(
            state_of(&g, a),
            Some((TargetState::Unused, Some(Reason::NotInUse)))
        );
        let (probe, script) = scripted();
        script.lock().unwrap().insert(b, Outcome::CodeMismatch(404));
        let (shutdown, tracker) = (CancellationToken::new(), TaskTracker::new());
        g.activate_with(Some(probe), &shutdown, &tracker);
        assert_eq!(
            state_of(&g, a),
            Some((TargetState::Initial, Some(Reason::InitialHealthChecking)))
        );
        settle().await;
        // The first check runs at once; one pass makes a new target healthy.
        assert_eq!(state_of(&g, a), Some((TargetState::Healthy, None)));
        assert_eq!(state_of(&g, b).unwrap().0, TargetState::Initial);
        let picks: Vec<_> = (0..3).map(|_| g.acquire(None).unwrap().target).collect();
        assert_eq!(picks, [a, a, a], "only healthy targets get traffic");
        // Second failure, one interval later: unhealthy with the code in the description.
        tokio::time::advance(Duration::from_secs(30)).await;
        settle().await;
        let hb = g.health().into_iter().find(|t| t.target == b).unwrap();
        assert_eq!(hb.state, TargetState::Unhealthy);
        assert_eq!(hb.reason, Some(Reason::ResponseCodeMismatch));
        assert_eq!(
            hb.description.as_deref(),
            Some("Health checks failed with these codes: [404]")
        );
        // a starts timing out: unhealthy after two more intervals; then all unhealthy → docs/aws-rules.md §ALB-3.4
        // fail-open over both.
        script.lock().unwrap().insert(a, Outcome::Timeout);
        let watch = g.watch_health();
        tokio::time::advance(Duration::from_secs(30)).await;
        settle().await;
        assert_eq!(state_of(&g, a), Some((TargetState::Healthy, None)));
        tokio::time::advance(Duration::from_secs(30)).await;
        settle().await;
        assert_eq!(
            state_of(&g, a),
            Some((TargetState::Unhealthy, Some(Reason::Timeout)))
        );
        assert!(watch.has_changed().unwrap(), "the watch saw the change");
        let picks: std::collections::HashSet<_> =
            (0..4).map(|_| g.acquire(None).unwrap().target).collect();
        assert_eq!(picks.len(), 2, "fail-open routes to every unhealthy target");
        // a recovers: `healthy_threshold` (5) consecutive passes.
        script.lock().unwrap().insert(a, Outcome::Pass);
        for _ in 0..4 {
            tokio::time::advance(Duration::from_secs(30)).await;
            settle().await;
            assert_eq!(state_of(&g, a).unwrap().0, TargetState::Unhealthy);
        }
        tokio::time::advance(Duration::from_secs(30)).await;
        settle().await;
        assert_eq!(state_of(&g, a), Some((TargetState::Healthy, None)));

        // docs/aws-rules.md §ALB-3.7: deregistering a drains it for the delay; its in-flight lease is cut at the end.
        let lease = g.acquire(None).unwrap();
        assert_eq!(lease.target, a);
        tx.send(vec![b]).unwrap();
        assert_eq!(
            state_of(&g, a),
            Some((
                TargetState::Draining,
                Some(Reason::DeregistrationInProgress)
            ))
        );
        assert_eq!(g.acquire(None).unwrap().target, b, "no new requests to a");
        tokio::time::advance(Duration::from_secs(299)).await;
        settle().await;
        assert!(!lease.cut.is_cancelled());
        tokio::time::advance(Duration::from_secs(1)).await;
        settle().await;
        assert!(lease.cut.is_cancelled(), "cut when the delay expires");
        assert_eq!(state_of(&g, a), None, "forgotten after draining");
        // docs/aws-rules.md §ALB-3.4 / fidelity: no target eligible → None (503).
        tx.send(vec![]).unwrap();
        assert!(g.acquire(None).is_none());
        shutdown.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn least_outstanding_requests_and_slow_start() {
        let a: SocketAddr = "10.0.100.10:8080".parse().unwrap();
        let b: SocketAddr = "10.0.101.10:8080".parse().unwrap();
        let (_tx, rx) = watch::channel(vec![a, b]);
        let mut config = TargetGroupConfig::new("tg");
        config.health_check = None;
        config.algorithm = Algorithm::LeastOutstandingRequests;
        let g = TargetGroup::with_config(config, rx);
        g.activate_with(None, &CancellationToken::new(), &TaskTracker::new());
        let first = g.acquire(None).unwrap();
        // docs/aws-rules.md §ALB-3.5: the other target has fewer outstanding requests, every time.
        for _ in 0..5 {
            let next = g.acquire(None).unwrap();
            assert_ne!(next.target, first.target);
        }
        // docs/aws-rules.md §ALB-3.6 slow start: weight grows linearly from 0 to 1 over the duration.
        let t0 = Instant::now();
        let d = Duration::from_secs(100);
        assert_eq!(slow_start_weight(Some(t0), d, t0), 0.0);
        assert_eq!(
            slow_start_weight(Some(t0), d, t0 + Duration::from_secs(25)),
            0.25
        );
        assert_eq!(
            slow_start_weight(Some(t0), d, t0 + Duration::from_secs(500)),
            1.0
        );
        assert_eq!(slow_start_weight(None, d, t0), 1.0);
    }
}
