//! The ALB access log: one space-separated line per request in AWS's field order ("Access logs
//! for your Application Load Balancer"), appended to a file by one writer task per listener.

use std::net::SocketAddr;
use std::path::Path;
use std::time::SystemTime;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The most one write of queued lines holds.
const BATCH_BYTES: usize = 256 * 1024;

/// Sends finished lines to the writer task.
#[derive(Clone, Debug)]
pub(crate) struct AccessLog(mpsc::UnboundedSender<String>);

impl AccessLog {
    /// Opens (creating directories) `path` for appending, and starts its writer on `tracker`.
    /// The writer drains what is queued and ends when every sender is gone or at `shutdown`.
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
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        tracker.spawn(async move {
            loop {
                let line = tokio::select! {
                    l = rx.recv() => l,
                    _ = shutdown.cancelled() => { rx.close(); rx.recv().await }
                };
                let Some(line) = line else { break };
                // Every line queued meanwhile goes in the same write: a file write is a trip
                // to tokio's blocking pool, too dear to take per request under load. Whole
                // lines only, so O_APPEND keeps lines of several listeners whole.
                let mut batch = line.into_bytes();
                batch.push(b'\n');
                while batch.len() < BATCH_BYTES {
                    let Ok(line) = rx.try_recv() else { break };
                    batch.extend_from_slice(line.as_bytes());
                    batch.push(b'\n');
                }
                if let Err(e) = file.write_all(&batch).await {
                    tracing::warn!(error = %e, "access log write failed");
                }
            }
            let _ = file.flush().await;
        });
        Ok(AccessLog(tx))
    }

    pub(crate) fn write(&self, record: &Record) {
        let _ = self.0.send(record.line(SystemTime::now()));
    }
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
