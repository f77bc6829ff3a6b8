//! One client connection of a listener, what its requests carry toward targets, and how a
//! node dials them: the state the accept loop (`serve`) creates and request handling (`proxy`)
//! uses, below both so that neither imports the other for it.

use crate::access_log::{AccessLog, Record};
use crate::h1io::Verdicts;
use crate::{Listener, Protocol};
use airlock_net::{DialError, Interface, NetStream, Network, Origin};
use bytes::Bytes;
use http::Request;
use http::header::{CONTENT_LENGTH, HOST, USER_AGENT};
use http_body::Frame;
use hyper::body::Incoming;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What every connection of a listener shares.
pub(crate) struct Shared {
    pub(crate) listener: Arc<Listener>,
    /// One client per node: a pooled connection belongs to the node that opened it.
    pub(crate) clients: Vec<(IpAddr, Arc<TargetPool>)>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) tracker: TaskTracker,
    pub(crate) access_log: Option<AccessLog>,
    /// `app/NAME/ID`, the access log's `elb` field.
    pub(crate) elb: Arc<str>,
}

/// One accepted client connection.
pub(crate) struct Conn {
    pub(crate) shared: Arc<Shared>,
    pub(crate) client: Arc<TargetPool>,
    /// The emulated peer: the client address of `X-Forwarded-For` and `source-ip` rules.
    pub(crate) peer: SocketAddr,
    /// The TLS server name the client sent, if any.
    pub(crate) sni: Option<Arc<str>>,
    pub(crate) h2: bool,
    /// The access log's `conn_trace_id`.
    pub(crate) trace_id: Arc<str>,
    /// HTTP/1.x: the desync verdicts of the heads handed to hyper (docs/aws-rules.md §ALB-2.4), one per request.
    pub(crate) verdicts: Option<Verdicts>,
}

impl Conn {
    /// A fresh access-log record for `req` on this connection.
    pub(crate) fn record<B>(&self, req: &Request<B>) -> Record {
        let listener = &self.shared.listener;
        let kind = match (listener.protocol(), self.h2) {
            (_, true) => "h2",
            (Protocol::Https, false) => "https",
            (Protocol::Http, false) => "http",
        };
        let host = req
            .uri()
            .authority()
            .map(|a| a.host())
            .or_else(|| {
                req.headers()
                    .get(HOST)
                    .and_then(|v| v.to_str().ok())
                    .map(|h| crate::headers::split_host_port(h).0)
            })
            .unwrap_or_else(|| listener.dns_name());
        let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let head: usize = req
            .headers()
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum();
        let body = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let trace = listener.attributes().tracer.is_on().then(|| {
            use airlock_net::trace::{Component, Segment, TraceKey, Val};
            let mut seg = Segment::boxed(Component::Alb);
            // A request that arrives with a trace root came through the gateway (or a client
            // that set one): its segment joins that request's trace.
            seg.key = req
                .headers()
                .get(&crate::headers::X_AMZN_TRACE_ID)
                .and_then(|v| TraceKey::from_header(v.as_bytes()));
            seg.entry = seg.key.is_none();
            seg.method = Some(airlock_net::trace::method_name(req.method().as_str()));
            seg.host = Some(host.into());
            seg.path = Some(path.into());
            seg.tls_name = self.sni.clone();
            // Accepted as the segment began: one clock read for both.
            let at = seg.started_us;
            seg.record_at(
                Component::Alb,
                airlock_net::name!("listener"),
                airlock_net::name!("accepted"),
                at,
            )
            .with(airlock_net::name!("listener"), Val::Str(kind))
            .with(
                airlock_net::name!("port"),
                Val::Num(u64::from(listener.port())),
            )
            .with(airlock_net::name!("client"), Val::Addr(self.peer))
            .with(airlock_net::name!("tls"), Val::Bool(self.sni.is_some()));
            seg
        });
        Record {
            trace,
            kind,
            elb: self.shared.elb.clone(),
            client: self.peer,
            target: None,
            received: SystemTime::now(),
            started: tokio::time::Instant::now(),
            sent_to_target: None,
            target_answered: None,
            elb_status: 0,
            target_status: None,
            received_bytes: (head + path.len() + 16) as u64 + body,
            sent_bytes: 0,
            request_line: request_line(req, listener, host, path),
            user_agent: req.headers().get(USER_AGENT).cloned(),
            target_group: None,
            trace_id: None,
            domain_name: self.sni.clone(),
            matched_rule_priority: None,
            actions: Vec::new(),
            redirect_url: None,
            error_reason: None,
            classification: None,
            classification_reason: None,
            conn_trace_id: self.trace_id.clone(),
        }
    }
}

/// The access log's `request`: `METHOD scheme://host:port/path?query HTTP/x.y`, written in one
/// buffer (once per request).
fn request_line<B>(req: &Request<B>, listener: &Listener, host: &str, path: &str) -> String {
    let method = req.method().as_str();
    let scheme = listener.protocol().as_str();
    let version = match req.version() {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    };
    let mut line =
        String::with_capacity(method.len() + scheme.len() + host.len() + path.len() + 24);
    line.push_str(method);
    line.push(' ');
    line.push_str(scheme);
    line.push_str("://");
    line.push_str(host);
    line.push(':');
    airlock_net::text::push_u64(&mut line, u64::from(listener.port()));
    line.push_str(path);
    line.push(' ');
    line.push_str(version);
    line
}

/// A client's request body as the listener's handlers see it: watched, so that what they leave
/// unread is drained before the response goes out (see `airlock_pool::drain`).
pub(crate) type ClientBody = airlock_pool::drain::Watched<Incoming>;

/// A client's request body on its way to the target; with `Expect: 100-continue`, the first
/// frame may already have been taken (see [`expect_continue`]).
pub(crate) struct RequestBody {
    pub(crate) first: Option<Frame<Bytes>>,
    pub(crate) inner: ClientBody,
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(f) = self.first.take() {
            return Poll::Ready(Some(Ok(f)));
        }
        http_body::Body::poll_frame(Pin::new(&mut self.inner), cx)
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let mut hint = self.inner.size_hint();
        if let Some(len) = self
            .first
            .as_ref()
            .and_then(Frame::data_ref)
            .map(|d| d.len() as u64)
        {
            hint.set_lower(hint.lower() + len);
            if let Some(upper) = hint.upper() {
                hint.set_upper(upper + len);
            }
        }
        hint
    }
}

/// Dials targets through the emulated network from one node interface.
#[derive(Clone)]
pub(crate) struct NodeConnector {
    pub(crate) network: Network,
    pub(crate) node: Interface,
    pub(crate) timeout: Duration,
    /// Where a new connection's dial is noted, in the trace of the request that needed it.
    pub(crate) tracer: airlock_net::trace::Tracer,
}

/// Why no connection to a target was made; decides 504 against 502.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// No TCP connection within the connect timeout (docs/aws-rules.md §ALB-2.3: 504).
    #[error("no connection to target {0} within {1:?}")]
    Timeout(SocketAddr, Duration),
    /// The dial failed: refused or reset (docs/aws-rules.md §ALB-2.6: 502).
    #[error(transparent)]
    Dial(#[from] DialError),
}

/// The pool of target connections of one node: keyed by target address and by the shard of
/// the request (`airlock_net::shards`): a connection's target side is served on the shard that
/// dialed it, so requests of that shard reuse it and the exchange stays on one core.
pub(crate) type TargetPool = airlock_pool::Pool<NodeConnector, RequestBody>;

/// A [`TargetPool`] key: the shard of the request, and the target.
pub(crate) type TargetKey = (usize, SocketAddr);

impl airlock_pool::Connect for NodeConnector {
    type Key = TargetKey;
    type Io = NetStream;
    type Error = ConnectError;

    /// Opens a connection to `target` from the node's interface, within the connect timeout.
    async fn connect(&self, &(_, target): &TargetKey) -> Result<NetStream, ConnectError> {
        let target = &target;
        let origin = Origin::Interface(self.node.clone());
        match tokio::time::timeout(self.timeout, self.network.dial(&origin, *target)).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(ConnectError::Timeout(*target, self.timeout)),
        }
    }

    /// Like `connect`, with the dial's security-group decision noted in the trace of the
    /// request that needed the connection: its root is in the `X-Amzn-Trace-Id` the ALB is
    /// about to forward. Only here, when a connection is opened, is the request's trace a
    /// task-local scope: a request that reuses a pooled connection pays nothing for it.
    async fn connect_for(
        &self,
        key: &TargetKey,
        headers: &http::HeaderMap,
    ) -> Result<NetStream, ConnectError> {
        use airlock_net::trace::{self, Component, Scope, TraceKey};
        let scope = self.tracer.is_on().then(|| Scope {
            key: headers
                .get(&crate::headers::X_AMZN_TRACE_ID)
                .and_then(|v| TraceKey::from_header(v.as_bytes()))
                .unwrap_or_else(TraceKey::local),
            tracer: self.tracer.clone(),
            component: Component::Alb,
        });
        trace::scoped(scope, self.connect(key)).await
    }
}
