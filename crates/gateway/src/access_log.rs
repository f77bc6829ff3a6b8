//! Stage access logs (docs/aws-rules.md §HTTP-9): one line per request, rendered from the stage's
//! format with `$context` variables.
//!
//! The gateway does not know where logs go: the caller hands in a [`LogSink`] (airlock's stack
//! opens a file named after the log group). Every line is also emitted as a `tracing` event with
//! target `airlock::access_log`, so the console shows it when that target is enabled.

use crate::context::RequestContext;
use crate::response::{Body, BoxError};
use bytes::Bytes;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The console presets' CLF format (docs/aws-rules.md §HTTP-9).
pub const CLF_FORMAT: &str = "$context.identity.sourceIp - - [$context.requestTime] \"$context.httpMethod $context.routeKey $context.protocol\" $context.status $context.responseLength $context.requestId";

/// The console presets' JSON format (docs/aws-rules.md §HTTP-9).
pub const JSON_FORMAT: &str = "{ \"requestId\":\"$context.requestId\", \"ip\": \"$context.identity.sourceIp\", \"requestTime\":\"$context.requestTime\", \"httpMethod\":\"$context.httpMethod\",\"routeKey\":\"$context.routeKey\", \"status\":\"$context.status\",\"protocol\":\"$context.protocol\", \"responseLength\":\"$context.responseLength\" }";

/// Where a stage's access log lines go.
pub trait LogSink: Send + Sync + 'static {
    /// Writes one line (without its newline).
    fn write_line(&self, line: &str);
}

/// Appends lines to a log file that rotates by size (`airlock_net::logfile`): AWS delivers a
/// stage's access log as CloudWatch Logs events, never as one file that grows for ever. Lines
/// are written in batches by a writer task, not by the request that ends.
pub struct FileSink(airlock_net::logfile::BatchedLog);

impl FileSink {
    /// Writes through `log`, started by the caller.
    pub fn new(log: airlock_net::logfile::BatchedLog) -> FileSink {
        FileSink(log)
    }
}

impl LogSink for FileSink {
    fn write_line(&self, line: &str) {
        self.0.push_line(line.as_bytes());
    }
}

/// A stage's `access_log_settings`.
#[derive(Clone)]
pub struct AccessLogConfig {
    /// The log group's name, for the console event.
    pub log_group: String,
    /// The format (must contain `$context.requestId`).
    pub format: String,
    /// Where lines go.
    pub sink: Arc<dyn LogSink>,
}

impl AccessLogConfig {
    /// Renders and writes the line for `ctx`.
    pub fn write(&self, ctx: &RequestContext) {
        let line = render(&self.format, ctx);
        tracing::info!(target: "airlock::access_log", log_group = %self.log_group, "{line}");
        self.sink.write_line(&line);
    }
}

/// A response body that counts what it sends and calls `done` with the count once, when the
/// body ends or is dropped (a client that hangs up early still gets its log line).
pub(crate) struct LoggedBody<F: FnOnce(u64) + Send + 'static> {
    inner: Body,
    sent: u64,
    done: Option<F>,
}

impl<F: FnOnce(u64) + Send + 'static> LoggedBody<F> {
    pub(crate) fn new(inner: Body, done: F) -> LoggedBody<F> {
        LoggedBody {
            inner,
            sent: 0,
            done: Some(done),
        }
    }

    fn finish(&mut self) {
        if let Some(done) = self.done.take() {
            done(self.sent);
        }
    }
}

impl<F: FnOnce(u64) + Send + 'static> Drop for LoggedBody<F> {
    fn drop(&mut self) {
        self.finish();
    }
}

impl<F: FnOnce(u64) + Send + Unpin + 'static> http_body::Body for LoggedBody<F> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    this.sent += d.len() as u64;
                }
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => this.finish(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Replaces each `$context.<name>` with its value; absent values render as `-` (unconfirmed,
/// REST's behaviour; see docs/aws-fidelity.md).
pub fn render(format: &str, ctx: &RequestContext) -> String {
    const PREFIX: &str = "$context.";
    let mut out = String::with_capacity(format.len() + 64);
    let mut rest = format;
    while let Some(at) = rest.find(PREFIX) {
        out.push_str(&rest[..at]);
        let after = &rest[at + PREFIX.len()..];
        let len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
            .unwrap_or(after.len());
        // A sentence-ending dot is not part of the name.
        let name = after[..len].trim_end_matches('.');
        out.push_str(ctx.var(name).as_deref().unwrap_or("-"));
        rest = &after[name.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// docs/aws-rules.md §HTTP-9 presets render with the documented variables; absent ones as `-`.
    #[test]
    fn presets_render() {
        let mut ctx = RequestContext::for_tests();
        ctx.status = Some(200);
        ctx.response_length = Some(12);
        assert_eq!(
            render(CLF_FORMAT, &ctx),
            "127.0.0.1 - - [14/Nov/2023:22:13:20 +0000] \"GET GET /pets/{id} HTTP/1.1\" 200 12 Mc7UVioPPHcEKPA="
        );
        let json: serde_json::Value = serde_json::from_str(&render(JSON_FORMAT, &ctx)).unwrap();
        assert_eq!(json["status"], "200");
        assert_eq!(json["routeKey"], "GET /pets/{id}");
        assert_eq!(
            render("$context.integrationErrorMessage $context.stage.", &ctx),
            "- dev."
        );
    }
}
