//! Container health checks (§4.1): a command every interval; `retries` consecutive failures make
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
