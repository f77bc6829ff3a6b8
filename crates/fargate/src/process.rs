//! `command` containers: local processes, one process group each, output to their log sink.

use crate::logs::LogSink;
use rustix::process::{Pid, Signal, kill_process, kill_process_group};
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::{CancellationToken, DropGuard};

/// How long an exited process's output may take to reach its log.
const LOG_DRAIN: Duration = Duration::from_secs(1);

/// A running (or exited) local process.
pub(crate) struct ProcessContainer {
    pid: Option<u32>,
    exited: watch::Receiver<Option<i32>>,
    /// Dropping the container kills the process (the waiter task owns the child).
    _kill: DropGuard,
}

/// What the process is started with.
pub(crate) struct Launch<'a> {
    pub argv: &'a [String],
    pub working_directory: Option<&'a Path>,
    pub env: Vec<(String, String)>,
    /// Where stdout and stderr go.
    pub sink: LogSink,
    /// Index of the container in its task, sent on `exits` with the exit code.
    pub index: usize,
    pub exits: mpsc::UnboundedSender<(usize, i32)>,
}

impl ProcessContainer {
    /// Starts the process in its own process group, so a stop reaches everything it started
    /// (a container's processes all stop with it), and so the terminal's Ctrl-C reaches airlock
    /// alone, which then stops tasks in order.
    pub(crate) fn spawn(launch: Launch<'_>) -> io::Result<ProcessContainer> {
        let Some((program, args)) = launch.argv.split_first() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the command is empty",
            ));
        };
        let mut cmd = Command::new(program);
        cmd.args(args)
            .envs(launch.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        if let Some(dir) = launch.working_directory {
            cmd.current_dir(dir);
        }
        let mut child = cmd.spawn()?;
        let pid = child.id();
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(tokio::spawn(log_lines(out, launch.sink.clone())));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(tokio::spawn(log_lines(err, launch.sink.clone())));
        }
        let (tx, exited) = watch::channel(None);
        let kill = CancellationToken::new();
        let killed = kill.clone();
        let prefix = launch.sink.prefix().to_owned();
        let (index, exits) = (launch.index, launch.exits);
        tokio::spawn(async move {
            let status = tokio::select! {
                s = child.wait() => s,
                _ = killed.cancelled() => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            // Docker reports a signalled process as 128 + the signal number.
            let code = match status {
                Ok(s) => s
                    .code()
                    .or_else(|| s.signal().map(|sig| 128 + sig))
                    .unwrap_or(-1),
                Err(_) => -1,
            };
            // The exit is reported once the output is written, so a stopped task's log is
            // complete; a leftover process holding the pipes open only delays that a little.
            let _ = tokio::time::timeout(LOG_DRAIN, async {
                for r in readers {
                    let _ = r.await;
                }
            })
            .await;
            tracing::info!(target: "airlock::task", "{prefix} exited with code {code}");
            let _ = tx.send(Some(code));
            let _ = exits.send((index, code));
        });
        Ok(ProcessContainer {
            pid,
            exited,
            _kill: kill.drop_guard(),
        })
    }

    /// The process id, while it runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// The exit code, once the process has exited.
    pub(crate) fn exit_code(&self) -> Option<i32> {
        *self.exited.borrow()
    }

    /// Stops the process as ECS stops a container: SIGTERM, then SIGKILL after `timeout`.
    /// Returns the exit code. Leftovers of an exited process's group are killed too.
    pub(crate) async fn stop(&mut self, timeout: Duration) -> i32 {
        if let Some(code) = self.exit_code() {
            self.signal(Signal::KILL);
            return code;
        }
        self.signal(Signal::TERM);
        let mut exited = self.exited.clone();
        if let Ok(Ok(code)) = tokio::time::timeout(timeout, exited.wait_for(|c| c.is_some())).await
        {
            let code = code.unwrap_or(-1);
            self.signal(Signal::KILL);
            return code;
        }
        self.signal(Signal::KILL);
        match exited.wait_for(|c| c.is_some()).await {
            Ok(code) => code.unwrap_or(-1),
            Err(_) => -1,
        }
    }

    fn signal(&self, signal: Signal) {
        let Some(pid) = self
            .pid
            .and_then(|p| i32::try_from(p).ok())
            .and_then(Pid::from_raw)
        else {
            return;
        };
        // The group is gone once every process in it has exited; ESRCH is the normal answer.
        if kill_process_group(pid, signal).is_err() {
            let _ = kill_process(pid, signal);
        }
    }
}

async fn log_lines(stream: impl AsyncRead + Unpin, sink: LogSink) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        sink.line(&line);
    }
}
