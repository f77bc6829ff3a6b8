//! Where a container's output goes: the console, prefixed with service, short task id and
//! container, and a file per task (or per awslogs stream) under the service's log directory.

use crate::config::{AwsLogs, ServiceConfig};
use airlock_net::sync::lock;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// One container's log destination. Cheap to clone.
#[derive(Clone)]
pub(crate) struct LogSink {
    prefix: Arc<str>,
    /// The container name, written before each line of a file shared by a task's containers.
    container: Arc<str>,
    shared_file: bool,
    file: Option<Arc<LazyFile>>,
}

/// A log file created with its first line: a task that never writes leaves no empty file
/// behind (the built-in apps are silent, and a long run replaces many tasks).
struct LazyFile {
    path: PathBuf,
    /// `None` until the first line; `Err` once opening failed (reported once, not retried).
    file: Mutex<Option<Result<File, ()>>>,
}

impl LogSink {
    /// The sink for container `container` of task `task_id`. The file is created with the
    /// first line; one that cannot be created is reported once and the console still gets
    /// every line.
    pub(crate) fn open(
        cfg: &ServiceConfig,
        task_id: &str,
        container: &str,
        awslogs: Option<&AwsLogs>,
    ) -> LogSink {
        let short = &task_id[..8.min(task_id.len())];
        let (path, shared_file) = match &cfg.log_dir {
            None => (None, false),
            Some(dir) => match awslogs {
                Some(aws) => (Some(awslogs_path(dir, aws, container, task_id)), false),
                None => (
                    Some(dir.join(&cfg.name).join(format!("{task_id}.log"))),
                    true,
                ),
            },
        };
        let file = path.map(|path| {
            Arc::new(LazyFile {
                path,
                file: Mutex::new(None),
            })
        });
        LogSink {
            prefix: format!("{}/{short} {container}", cfg.name).into(),
            container: container.into(),
            shared_file,
            file,
        }
    }

    /// Writes one line of output.
    pub(crate) fn line(&self, line: &str) {
        tracing::info!(target: "airlock::task", "{} | {line}", self.prefix);
        let Some(lazy) = &self.file else {
            return;
        };
        let mut slot = lock(&lazy.file);
        let opened = slot.get_or_insert_with(|| {
            open_append(&lazy.path).map_err(|e| {
                tracing::warn!(target: "airlock::task", "cannot write the log file {}: {e}", lazy.path.display());
            })
        });
        if let Ok(f) = opened {
            let _ = if self.shared_file {
                writeln!(f, "{} | {line}", self.container)
            } else {
                writeln!(f, "{line}")
            };
        }
    }

    /// The console prefix, e.g. `pets/3f2a9c1b app`.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }
}

/// `DIR/GROUP/PREFIX/CONTAINER/TASK_ID.log`: the awslogs stream `PREFIX/CONTAINER/TASK_ID` of log
/// group `GROUP` (leading `/` of the group dropped, so it stays under `DIR`).
pub(crate) fn awslogs_path(dir: &Path, aws: &AwsLogs, container: &str, task_id: &str) -> PathBuf {
    let mut path = dir.to_path_buf();
    for part in aws.group.split('/').filter(|p| !p.is_empty() && *p != "..") {
        path.push(part);
    }
    if let Some(prefix) = &aws.stream_prefix {
        path.push(prefix);
    }
    path.join(container).join(format!("{task_id}.log"))
}

fn open_append(path: &Path) -> std::io::Result<File> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}
