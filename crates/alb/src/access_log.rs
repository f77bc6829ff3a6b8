//! The ALB access log: one space-separated line per request in AWS's field order ("Access logs
//! for your Application Load Balancer"), appended to a file by one writer task per listener, in batches.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Lines wait at most this long in memory before they are written. AWS delivers access logs
/// every 5 minutes; a fraction of a second keeps `tail -f` live.
const FLUSH_INTERVAL: Duration = Duration::from_millis(200);
/// Past this many buffered bytes the writer is woken early.
const BATCH_BYTES: usize = 256 * 1024;

/// Appends lines to the listener's buffer; the writer task writes it out.
///
/// A request only appends to a buffer (no channel, no wake-up, no file write): a file write is
/// a trip to tokio's blocking pool, too dear to take per request under load.
#[derive(Clone, Debug)]
pub(crate) struct AccessLog(Arc<Pending>);

#[derive(Debug, Default)]
struct Pending {
    lines: Mutex<Vec<u8>>,
    /// A line arrived in an empty buffer: the writer starts its interval (an idle stack never
    /// wakes it).
    first: Notify,
    /// The buffer is past [`BATCH_BYTES`]: write now.
    full: Notify,
}

impl AccessLog {
    /// Opens (creating directories) `path` for appending, and starts its writer on `tracker`.
    /// The writer writes what is buffered at most [`FLUSH_INTERVAL`] after it arrived, and a
    /// last time at `shutdown`.
    pub(crate) async fn open(
        path: &Path,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> std::io::Result<AccessLog> {
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await?;
        let pending = Arc::new(Pending::default());
        let writer = pending.clone();
        tracker.spawn(async move {
            let mut batch = Vec::new();
            loop {
                tokio::select! {
                    _ = writer.first.notified() => tokio::select! {
                        _ = tokio::time::sleep(FLUSH_INTERVAL) => {}
                        _ = writer.full.notified() => {}
                        _ = shutdown.cancelled() => {}
                    },
                    _ = shutdown.cancelled() => {}
                }
                let last = shutdown.is_cancelled();
                std::mem::swap(&mut batch, &mut *lock(&writer.lines));
                // Whole lines in one write: O_APPEND keeps lines of several listeners whole.
                if !batch.is_empty()
                    && let Err(e) = file.write_all(&batch).await
                {
                    tracing::warn!(error = %e, "access log write failed");
                }
                batch.clear();
                if last {
                    break;
                }
            }
            let _ = file.flush().await;
        });
        Ok(AccessLog(pending))
    }

    pub(crate) fn write(&self, record: &Record) {
        let line = record.line(SystemTime::now());
        let (first, full) = {
            let mut lines = lock(&self.0.lines);
            let first = lines.is_empty();
            lines.extend_from_slice(line.as_bytes());
            lines.push(b'\n');
            (first, lines.len() >= BATCH_BYTES)
        };
        if first {
            self.0.first.notify_one();
        }
        if full {
            self.0.full.notify_one();
        }
    }
}

fn lock(m: &Mutex<Vec<u8>>) -> std::sync::MutexGuard<'_, Vec<u8>> {
    // A panic while appending leaves at worst a partial line; the buffer is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What one request's line says; filled in as the request goes.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    /// `http`, `https`, `h2`, `ws` or `wss`.
    pub(crate) kind: &'static str,
    /// `app/NAME/ID`.
    pub(crate) elb: String,
    pub(crate) client: SocketAddr,
    pub(crate) target: Option<SocketAddr>,
    pub(crate) received: SystemTime,
    pub(crate) started: tokio::time::Instant,
    /// When the request was sent to the target, and when its response head came back.
    pub(crate) sent_to_target: Option<tokio::time::Instant>,
    pub(crate) target_answered: Option<tokio::time::Instant>,
    pub(crate) elb_status: u16,
    pub(crate) target_status: Option<u16>,
    pub(crate) received_bytes: u64,
    pub(crate) sent_bytes: u64,
    pub(crate) request_line: String,
    pub(crate) user_agent: String,
    pub(crate) target_group: Option<String>,
    pub(crate) trace_id: Option<String>,
    pub(crate) domain_name: Option<String>,
    /// `0` for the default rule; `None` when no rule was evaluated.
    pub(crate) matched_rule_priority: Option<u16>,
    pub(crate) actions: Vec<&'static str>,
    pub(crate) redirect_url: Option<String>,
    pub(crate) error_reason: Option<&'static str>,
    pub(crate) classification: Option<&'static str>,
    pub(crate) classification_reason: Option<&'static str>,
    pub(crate) conn_trace_id: String,
}

impl Record {
    /// The line, fields in AWS's order; absent values are `-`, absent timings `-1`.
    pub(crate) fn line(&self, now: SystemTime) -> String {
        let secs =
            |from: Option<tokio::time::Instant>, to: Option<tokio::time::Instant>| match (from, to)
            {
                (Some(a), Some(b)) => {
                    format!("{:.3}", b.saturating_duration_since(a).as_secs_f64())
                }
                _ => "-1".to_owned(),
            };
        let dash = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
        let quoted = |v: Option<&str>| format!("\"{}\"", v.unwrap_or("-").replace('"', "%22"));
        let target = dash(self.target.map(|t| t.to_string()));
        let target_status = dash(self.target_status.map(|s| s.to_string()));
        let finished = tokio::time::Instant::now();
        let fields = [
            self.kind.to_owned(),
            iso8601(now),
            self.elb.clone(),
            self.client.to_string(),
            target.clone(),
            secs(Some(self.started), self.sent_to_target),
            secs(self.sent_to_target, self.target_answered),
            secs(self.target_answered, self.target_answered.map(|_| finished)),
            self.elb_status.to_string(),
            target_status.clone(),
            self.received_bytes.to_string(),
            self.sent_bytes.to_string(),
            quoted(Some(&self.request_line)),
            quoted(Some(&self.user_agent)),
            "-".to_owned(),
            "-".to_owned(),
            dash(self.target_group.clone()),
            quoted(self.trace_id.as_deref()),
            quoted(self.domain_name.as_deref()),
            quoted(None),
            dash(self.matched_rule_priority.map(|p| p.to_string())),
            iso8601(self.received),
            quoted(Some(&if self.actions.is_empty() {
                "-".to_owned()
            } else {
                self.actions.join(",")
            })),
            quoted(self.redirect_url.as_deref()),
            quoted(self.error_reason),
            quoted(Some(&target)),
            quoted(Some(&target_status)),
            quoted(self.classification),
            quoted(self.classification_reason),
            self.conn_trace_id.clone(),
        ];
        fields.join(" ")
    }
}

/// `2024-05-01T12:34:56.123456Z`.
pub(crate) fn iso8601(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}
