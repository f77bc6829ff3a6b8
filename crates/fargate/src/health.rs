//! Container health checks (docs/aws-rules.md §ALB-4.1): a command every interval; `retries` consecutive failures make
//! the container UNHEALTHY, a success makes it HEALTHY; failures during the start period do not
//! count.

use crate::config::{HealthCheck, HealthCommand};
use crate::docker::Docker;
use crate::status::HealthStatus;
use std::path::PathBuf;
use std::process::Stdio;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Where a check runs.
pub(crate) enum Probe {
    /// A local process with the container's environment (built-in and command containers).
    Local {
        env: Vec<(String, String)>,
        working_directory: Option<PathBuf>,
    },
    /// `docker exec` in the container.
    Docker { docker: Docker, id: String },
    /// Scripted results, for the state machine's tests.
    #[cfg(test)]
    Script(std::sync::Mutex<std::collections::VecDeque<bool>>),
}

impl Probe {
    async fn run(&self, command: &HealthCommand) -> bool {
        match self {
            Probe::Local {
                env,
                working_directory,
            } => {
                let mut cmd = match command {
                    HealthCommand::Exec(argv) => {
                        let Some((program, args)) = argv.split_first() else {
                            return false;
                        };
                        let mut c = tokio::process::Command::new(program);
                        c.args(args);
                        c
                    }
                    HealthCommand::Shell(line) => {
                        let mut c = tokio::process::Command::new("/bin/sh");
                        c.arg("-c").arg(line);
                        c
                    }
                };
                cmd.envs(env.iter().cloned())
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .kill_on_drop(true);
                if let Some(dir) = working_directory {
                    cmd.current_dir(dir);
                }
                matches!(cmd.status().await, Ok(s) if s.success())
            }
            Probe::Docker { docker, id } => {
                let argv = match command {
                    HealthCommand::Exec(argv) => argv.clone(),
                    HealthCommand::Shell(line) => {
                        vec!["/bin/sh".to_owned(), "-c".to_owned(), line.clone()]
                    }
                };
                matches!(docker.exec(id, &argv).await, Ok(0))
            }
            #[cfg(test)]
            Probe::Script(results) => results
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front()
                .unwrap_or(false),
        }
    }
}

/// Runs `check` until `stop` fires, sending `(index, status)` on every change of status.
pub(crate) async fn monitor(
    check: HealthCheck,
    probe: Probe,
    index: usize,
    changes: mpsc::UnboundedSender<(usize, HealthStatus)>,
    stop: CancellationToken,
) {
    let started = Instant::now();
    let mut status = HealthStatus::Unknown;
    let mut failures = 0u32;
    let mut next = started + check.interval;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep_until(next) => {}
        }
        let passed = tokio::select! {
            _ = stop.cancelled() => return,
            r = tokio::time::timeout(check.timeout, probe.run(&check.command)) => matches!(r, Ok(true)),
        };
        let now = Instant::now();
        let new = if passed {
            failures = 0;
            HealthStatus::Healthy
        } else if now < started + check.start_period {
            status
        } else {
            failures += 1;
            if failures >= check.retries {
                HealthStatus::Unhealthy
            } else {
                status
            }
        };
        if new != status {
            status = new;
            if changes.send((index, status)).is_err() {
                return;
            }
        }
        next = now + check.interval;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    fn check(retries: u32, start_period: Duration) -> HealthCheck {
        HealthCheck {
            command: HealthCommand::Exec(vec!["true".into()]),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            retries,
            start_period,
        }
    }

    /// Runs the monitor over scripted results, one per interval (paused time); returns the
    /// status changes it reported.
    async fn run(check: HealthCheck, results: &[bool]) -> Vec<HealthStatus> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        let probe = Probe::Script(std::sync::Mutex::new(results.iter().copied().collect()));
        let rounds = results.len() as u32;
        let interval = check.interval;
        let task = tokio::spawn(monitor(check, probe, 0, tx, stop.clone()));
        tokio::time::sleep(interval * rounds + interval / 2).await;
        stop.cancel();
        task.await.unwrap();
        let mut seen = Vec::new();
        while let Ok((_, status)) = rx.try_recv() {
            seen.push(status);
        }
        seen
    }

    /// docs/aws-rules.md §ALB-4.1: `retries` consecutive failures make UNHEALTHY; a success makes HEALTHY at once and
    /// resets the count.
    #[tokio::test(start_paused = true)]
    async fn retries_consecutive_failures_make_unhealthy() {
        use HealthStatus::*;
        let seen = run(
            check(3, Duration::ZERO),
            &[true, false, false, true, false, false, false],
        )
        .await;
        assert_eq!(seen, [Healthy, Unhealthy]);
        let seen = run(
            check(3, Duration::ZERO),
            &[false, false, true, false, false],
        )
        .await;
        assert_eq!(seen, [Healthy]);
    }

    /// docs/aws-rules.md §ALB-4.1: failures inside the start period do not count; a success inside it marks HEALTHY.
    #[tokio::test(start_paused = true)]
    async fn the_start_period_forgives_failures() {
        use HealthStatus::*;
        // Checks at 5, 10, 15 s fail inside a 16 s start period; 20 and 25 s count.
        let seen = run(
            check(2, Duration::from_secs(16)),
            &[false, false, false, false, false],
        )
        .await;
        assert_eq!(seen, [Unhealthy]);
        let seen = run(
            check(2, Duration::from_secs(16)),
            &[false, false, false, false],
        )
        .await;
        assert!(seen.is_empty(), "one counted failure is not enough");
        let seen = run(check(2, Duration::from_secs(16)), &[false, true]).await;
        assert_eq!(seen, [Healthy]);
    }

    /// The first check runs one interval after start, then every interval.
    #[tokio::test(start_paused = true)]
    async fn checks_run_every_interval_from_the_first_interval() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        let probe = Probe::Script(std::sync::Mutex::new([true].into_iter().collect()));
        let start = Instant::now();
        tokio::spawn(monitor(
            check(1, Duration::ZERO),
            probe,
            0,
            tx,
            stop.clone(),
        ));
        assert_eq!(rx.recv().await.unwrap().1, HealthStatus::Healthy);
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        // The script is exhausted: the next check (at 10 s) fails, and with retries 1 it counts.
        assert_eq!(rx.recv().await.unwrap().1, HealthStatus::Unhealthy);
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        stop.cancel();
    }
}
