//! What a listener rule (or a listener's default) does with a request: forward, weighted
//! forward, fixed response or redirect. Below the listener configuration and the rules that
//! carry actions, so that neither imports the other for them.

use crate::target_group::TargetGroup;
use http::StatusCode;
use std::time::Duration;

/// What a matching rule does (docs/aws-rules.md §ALB-1.6).
#[derive(Debug, Clone)]
pub enum Action {
    /// Forward to one target group.
    Forward(TargetGroup),
    /// Forward to several target groups by weight (docs/aws-rules.md §ALB-1.6).
    WeightedForward(WeightedForward),
    /// Answer with a fixed response.
    FixedResponse {
        /// A 2XX, 4XX or 5XX status.
        status: StatusCode,
        /// One of `text/plain`, `text/css`, `text/html`, `application/javascript`,
        /// `application/json`; none sends no `Content-Type`.
        content_type: Option<String>,
        /// At most 1024 characters.
        body: String,
    },
    /// Redirect the client.
    Redirect(Redirect),
}

impl Action {
    /// The action's type as AWS names it (`forward`, `fixed-response`, `redirect`).
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Forward(_) | Action::WeightedForward(_) => "forward",
            Action::FixedResponse { .. } => "fixed-response",
            Action::Redirect(_) => "redirect",
        }
    }
}

/// A forward to 1–5 weighted target groups (docs/aws-rules.md §ALB-1.6).
#[derive(Debug, Clone)]
pub struct WeightedForward {
    /// Each group with its weight, 0–999; the share is weight / sum of weights.
    pub groups: Vec<(TargetGroup, u16)>,
    /// Group stickiness (`TargetGroupStickinessConfig`): the `AWSALBTG` cookie keeps a client on
    /// its group for this long (1 s – 7 days).
    pub stickiness: Option<Duration>,
}

/// A redirect action (docs/aws-rules.md §ALB-1.6). Unset parts keep the request's value; `#{...}` placeholders are
/// replaced.
#[derive(Debug, Clone, Default)]
pub struct Redirect {
    /// `HTTP`, `HTTPS` or `#{protocol}`.
    pub protocol: Option<String>,
    /// The host, may contain `#{host}`.
    pub host: Option<String>,
    /// The port, or `#{port}`.
    pub port: Option<String>,
    /// An absolute path, may contain `#{host}`, `#{path}`, `#{port}`.
    pub path: Option<String>,
    /// The query without a leading `?`; any placeholder.
    pub query: Option<String>,
    /// `true` for 301 (`HTTP_301`), `false` for 302 (`HTTP_302`).
    pub permanent: bool,
}
