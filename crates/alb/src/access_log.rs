//! The ALB access log: one space-separated line per request in AWS's field order ("Access logs
//! for your Application Load Balancer"), appended to a file in batches by one writer task per listener,
//! the file rotated by size into a bounded number of files (`airlock_net::logfile`).

use airlock_net::logfile::{BatchedLog, LogFile, Rotation};
use airlock_net::text::{push_socket_addr, push_u64};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Room for a typical line, so that writing it does not grow the string.
const LINE_CAPACITY: usize = 640;

/// The listener's access log, written in batches by one writer task
/// (`airlock_net::logfile::BatchedLog`).
#[derive(Clone, Debug)]
pub(crate) struct AccessLog(BatchedLog);

impl AccessLog {
    /// Opens (creating directories) `path` for appending, rotated by `rotation`, and starts its
    /// writer on `tracker`; what is left is written at `shutdown`.
    pub(crate) async fn open(
        path: &Path,
        rotation: Rotation,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> std::io::Result<AccessLog> {
        let opened = {
            let path = path.to_owned();
            tokio::task::spawn_blocking(move || LogFile::open(&path, rotation)).await
        };
        let file = opened.map_err(std::io::Error::other)??;
        Ok(AccessLog(BatchedLog::start(file, shutdown, tracker)))
    }

    pub(crate) fn write(&self, record: &Record) {
        let mut line = String::with_capacity(LINE_CAPACITY);
        // The wall-clock time of the end, from the start's and the monotonic time since: one
        // clock read fewer per request than asking the wall clock again.
        let finished = tokio::time::Instant::now();
        let now = record.received + finished.saturating_duration_since(record.started);
        record.write_line_at(now, finished, &mut line);
        self.0.push_line(line.as_bytes());
    }
}

/// What one request's line says; filled in as the request goes.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    /// The request's trace, when tracing is on; finished with the access-log line.
    pub(crate) trace: Option<Box<airlock_net::trace::Segment>>,
    /// `http`, `https`, `h2`, `ws` or `wss`.
    pub(crate) kind: &'static str,
    /// `app/NAME/ID`.
    pub(crate) elb: Arc<str>,
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
    /// As received; `-` when absent or not text.
    pub(crate) user_agent: Option<http::HeaderValue>,
    pub(crate) target_group: Option<Arc<str>>,
    pub(crate) trace_id: Option<http::HeaderValue>,
    pub(crate) domain_name: Option<Arc<str>>,
    /// `0` for the default rule; `None` when no rule was evaluated.
    pub(crate) matched_rule_priority: Option<u16>,
    pub(crate) actions: Vec<&'static str>,
    pub(crate) redirect_url: Option<String>,
    pub(crate) error_reason: Option<&'static str>,
    pub(crate) classification: Option<&'static str>,
    pub(crate) classification_reason: Option<&'static str>,
    pub(crate) conn_trace_id: Arc<str>,
}

impl Record {
    /// The line, as AWS writes it: space-separated fields in AWS's order, quoted where AWS
    /// quotes them; absent values are `-`, absent timings `-1`.
    #[cfg(test)]
    pub(crate) fn line(&self, now: SystemTime) -> String {
        let mut out = String::new();
        self.write_line_at(now, tokio::time::Instant::now(), &mut out);
        out
    }

    /// Appends the line (without its newline) to `out`, for a request that finished at
    /// `finished` (monotonic) and `now` (wall clock). Written field by field into one buffer:
    /// this runs once per request.
    fn write_line_at(&self, now: SystemTime, finished: tokio::time::Instant, out: &mut String) {
        let secs = |out: &mut String,
                    from: Option<tokio::time::Instant>,
                    to: Option<tokio::time::Instant>| {
            match (from, to) {
                (Some(a), Some(b)) => {
                    push_seconds(out, b.saturating_duration_since(a));
                    out.push(' ');
                }
                _ => out.push_str("-1 "),
            }
        };
        // A quoted field, `"` escaped as `%22`, `-` when absent; then the separator.
        let quoted = |out: &mut String, v: Option<&str>| {
            out.push('"');
            match v {
                Some(v) if v.contains('"') => out.push_str(&v.replace('"', "%22")),
                Some(v) => out.push_str(v),
                None => out.push('-'),
            }
            out.push_str("\" ");
        };
        let target = |out: &mut String| match self.target {
            Some(t) => push_socket_addr(out, t),
            None => out.push('-'),
        };
        let target_status = |out: &mut String| match self.target_status {
            Some(s) => push_u64(out, u64::from(s)),
            None => out.push('-'),
        };
        out.push_str(self.kind);
        out.push(' ');
        write_iso8601(out, now);
        out.push(' ');
        out.push_str(&self.elb);
        out.push(' ');
        push_socket_addr(out, self.client);
        out.push(' ');
        target(out);
        out.push(' ');
        secs(out, Some(self.started), self.sent_to_target);
        secs(out, self.sent_to_target, self.target_answered);
        secs(
            out,
            self.target_answered,
            self.target_answered.map(|_| finished),
        );
        push_u64(out, u64::from(self.elb_status));
        out.push(' ');
        target_status(out);
        out.push(' ');
        push_u64(out, self.received_bytes);
        out.push(' ');
        push_u64(out, self.sent_bytes);
        out.push(' ');
        quoted(out, Some(&self.request_line));
        quoted(out, Some(header_text(&self.user_agent).unwrap_or("-")));
        out.push_str("- - ");
        out.push_str(self.target_group.as_deref().unwrap_or("-"));
        out.push(' ');
        quoted(out, header_text(&self.trace_id));
        quoted(out, self.domain_name.as_deref());
        quoted(out, None);
        match self.matched_rule_priority {
            Some(p) => {
                push_u64(out, u64::from(p));
                out.push(' ');
            }
            None => out.push_str("- "),
        }
        write_iso8601(out, self.received);
        out.push(' ');
        if self.actions.is_empty() {
            quoted(out, None);
        } else {
            // Action names never hold a quote: written in place, no joined copy.
            out.push('"');
            for (i, action) in self.actions.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(action);
            }
            out.push_str("\" ");
        }
        quoted(out, self.redirect_url.as_deref());
        quoted(out, self.error_reason);
        out.push('"');
        target(out);
        out.push_str("\" \"");
        target_status(out);
        out.push_str("\" ");
        quoted(out, self.classification);
        quoted(out, self.classification_reason);
        out.push_str(&self.conn_trace_id);
    }
}

/// A header's value as text, if it is.
fn header_text(v: &Option<http::HeaderValue>) -> Option<&str> {
    v.as_ref().and_then(|v| v.to_str().ok())
}

/// Appends `d` in seconds with millisecond precision (`0.001`), as AWS writes processing times.
fn push_seconds(out: &mut String, d: Duration) {
    // Rounded to the nearest millisecond, as `{:.3}` of the seconds would be.
    let ms = (d.as_micros() + 500) / 1000;
    push_u64(out, u64::try_from(ms / 1000).unwrap_or(u64::MAX));
    out.push('.');
    push_digits(out, u32::try_from(ms % 1000).unwrap_or(0), 3);
}

/// Appends `n` zero-padded to `width` digits.
fn push_digits(out: &mut String, n: u32, width: u32) {
    // Filled from the right, one division per digit.
    let mut digits = [b'0'; 10];
    let width = (width as usize).min(digits.len());
    let mut n = n;
    for d in digits[..width].iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    for &d in &digits[..width] {
        out.push(char::from(d));
    }
}

/// Appends `t` as `2024-05-01T12:34:56.123456Z`.
fn write_iso8601(out: &mut String, t: SystemTime) {
    // The date and time to the second are the same for every line of a second: kept per
    // thread, they are worked out from the calendar once a second, not twice per request.
    thread_local! {
        static SECOND: std::cell::RefCell<(Option<u64>, String)> =
            const { std::cell::RefCell::new((None, String::new())) };
    }
    let Ok(since_epoch) = t.duration_since(std::time::UNIX_EPOCH) else {
        // A clock set before 1970: written from the calendar, not cached.
        push_to_the_second(out, t);
        out.push('.');
        push_digits(out, time::OffsetDateTime::from(t).microsecond(), 6);
        out.push('Z');
        return;
    };
    let secs = since_epoch.as_secs();
    SECOND.with_borrow_mut(|(cached, text)| {
        if *cached != Some(secs) {
            text.clear();
            push_to_the_second(text, t);
            *cached = Some(secs);
        }
        out.push_str(text);
    });
    out.push('.');
    push_digits(out, since_epoch.subsec_micros(), 6);
    out.push('Z');
}

/// Appends `t` as `2024-05-01T12:34:56`.
fn push_to_the_second(out: &mut String, t: SystemTime) {
    const TO_THE_SECOND: &[BorrowedFormatItem<'_>] =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let text = time::OffsetDateTime::from(t)
        .format(TO_THE_SECOND)
        .expect("a date with a time has every field the format names");
    out.push_str(&text);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Timestamps are what the calendar says, also for a second seen before (the cached part)
    /// and across a second's boundary.
    #[test]
    fn timestamps_follow_the_calendar_across_seconds() {
        let at = |secs: u64, micros: u64| {
            std::time::UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros)
        };
        let cases = [
            (at(1_714_566_896, 123_456), "2024-05-01T12:34:56.123456Z"),
            (at(1_714_566_896, 7), "2024-05-01T12:34:56.000007Z"),
            (at(1_714_566_897, 0), "2024-05-01T12:34:57.000000Z"),
            (at(1_714_566_896, 999_999), "2024-05-01T12:34:56.999999Z"),
            (at(951_782_400, 500_000), "2000-02-29T00:00:00.500000Z"),
        ];
        for (t, want) in cases {
            let mut text = String::new();
            write_iso8601(&mut text, t);
            assert_eq!(text, want);
        }
    }

    /// Processing times are seconds to the millisecond, rounded as `{:.3}` rounds them.
    #[test]
    fn processing_times_in_seconds_with_three_decimals() {
        for micros in [0u64, 1, 499, 500, 1_234_567, 999_600, 61_000_000, 12_345] {
            let d = Duration::from_micros(micros);
            let mut text = String::new();
            push_seconds(&mut text, d);
            assert_eq!(text, format!("{:.3}", d.as_secs_f64()), "{micros} µs");
        }
    }

    /// Every field in AWS's order ("Access log entries"), quoted where AWS quotes them.
    #[test]
    fn a_line_has_every_field_in_aws_order() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_micros(1_714_566_896_123_456);
        let record = Record {
            trace: None,
            kind: "https",
            elb: "app/pets-alb/0123456789abcdef".into(),
            client: "10.0.100.9:40000"
                .parse()
                .unwrap_or(SocketAddr::from(([0; 4], 0))),
            target: Some(SocketAddr::from(([10, 0, 100, 4], 8080))),
            received: at,
            started: tokio::time::Instant::now(),
            sent_to_target: None,
            target_answered: None,
            elb_status: 200,
            target_status: Some(201),
            received_bytes: 10,
            sent_bytes: 20,
            request_line: "GET https://x.example.com:443/pets HTTP/1.1".into(),
            user_agent: Some(http::HeaderValue::from_static("say \"hi\"")),
            target_group: Some("arn:tg".into()),
            trace_id: Some(http::HeaderValue::from_static("Root=1-abc")),
            domain_name: Some("x.example.com".into()),
            matched_rule_priority: Some(0),
            actions: vec!["forward"],
            redirect_url: None,
            error_reason: None,
            classification: Some("Acceptable"),
            classification_reason: None,
            conn_trace_id: "TID_1".into(),
        };
        assert_eq!(
            record.line(at),
            "https 2024-05-01T12:34:56.123456Z app/pets-alb/0123456789abcdef 10.0.100.9:40000 \
             10.0.100.4:8080 -1 -1 -1 200 201 10 20 \"GET https://x.example.com:443/pets HTTP/1.1\" \
             \"say %22hi%22\" - - arn:tg \"Root=1-abc\" \"x.example.com\" \"-\" 0 \
             2024-05-01T12:34:56.123456Z \"forward\" \"-\" \"-\" \"10.0.100.4:8080\" \"201\" \
             \"Acceptable\" \"-\" TID_1"
        );
    }
}
