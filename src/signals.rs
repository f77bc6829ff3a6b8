//! The signals that ask airlock to stop: Ctrl-C (SIGINT) from a terminal and SIGTERM from
//! everything else (`kill`, systemd, `docker stop`, Kubernetes, CI runners). Both mean the same:
//! finish what is in flight, stop the tasks, keep the state directory.

use anyhow::Context as _;
use std::fmt;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// Which signal asked for the stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopSignal {
    /// Ctrl-C.
    Interrupt,
    /// `kill PID` and every service manager's stop.
    Terminate,
}

impl fmt::Display for StopSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
        })
    }
}

/// Both signals, listened to from the moment of [`Stop::listen`]: a signal that arrives before
/// [`Stop::received`] is polled is kept, not lost (nor does it kill the process, as the default
/// action would).
pub struct Stop {
    interrupt: Signal,
    terminate: Signal,
}

impl Stop {
    /// Starts listening; must run inside the runtime.
    pub fn listen() -> anyhow::Result<Stop> {
        Ok(Stop {
            interrupt: signal(SignalKind::interrupt()).context("listening for SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("listening for SIGTERM")?,
        })
    }

    /// Resolves with the first signal received.
    pub async fn received(&mut self) -> StopSignal {
        tokio::select! {
            _ = self.interrupt.recv() => StopSignal::Interrupt,
            _ = self.terminate.recv() => StopSignal::Terminate,
        }
    }
}
