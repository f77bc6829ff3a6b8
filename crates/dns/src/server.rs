//! The wire: a hickory [`RequestHandler`] that picks the view from the source address, and
//! [`serve`], which runs it on caller-bound sockets until cancelled.

use std::fmt;
use std::iter;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use std::future::Future;
use std::pin::pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use hickory_proto::op::{Header, HeaderCounts, MessageType, Metadata, Query, ResponseCode};
use hickory_proto::rr::Record;
use hickory_proto::serialize::binary::{BinDecoder, BinEncodable, BinEncoder, NameEncoding};
use hickory_server::Server;
use hickory_server::net::NetError;
use hickory_server::net::runtime::{Time, TokioTime};
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{MessageResponse, MessageResponseBuilder, Queries};
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::DnsError;
use crate::data::DnsHandle;
use crate::model::View;
use crate::resolve::respond;

/// Chooses the view of a query from its source address (the caller knows which addresses
/// stand inside the VPC; this crate does not).
pub type ViewSelector = Arc<dyn Fn(SocketAddr) -> View + Send + Sync>;

/// A TCP client that sends nothing for this long is disconnected.
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Responses queued per TCP connection before the writer applies back-pressure.
const TCP_RESPONSE_BUFFER: usize = 32;

/// Answers DNS requests from the live [`DnsHandle`] data in the view the selector picks.
#[derive(Clone)]
pub struct DnsRequestHandler {
    data: DnsHandle,
    selector: ViewSelector,
}

impl DnsRequestHandler {
    /// A handler over `data`, choosing each request's view with `selector`.
    pub fn new(data: DnsHandle, selector: ViewSelector) -> Self {
        Self { data, selector }
    }
}

impl fmt::Debug for DnsRequestHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DnsRequestHandler")
            .field("data", &self.data)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl RequestHandler for DnsRequestHandler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let view = (self.selector)(request.src());
        // The snapshot is an Arc: no lock is held while the response is sent.
        let data = self.data.snapshot();
        let queries: Vec<Query> = request
            .queries
            .queries()
            .iter()
            .map(|q| q.original().clone())
            .collect();
        let response = respond(
            &data,
            view,
            &request.metadata,
            &queries,
            request.edns.as_ref(),
        );
        // Per query, so at debug: a busy resolver must not fill the console (see LOG_DIRECTIVES).
        debug!(
            src = %request.src(),
            ?view,
            queries = ?queries.iter().map(|q| (q.name().to_string(), q.query_type())).collect::<Vec<_>>(),
            rcode = %response.metadata.response_code,
            "dns answer"
        );

        // The question section is echoed from the request's own bytes, unless a name in it is
        // compressed (see `uncompressed`); hickory's encoder then cuts UDP responses at 512
        // bytes (or the EDNS size) and sets TC.
        let rewritten = uncompressed(&request.queries);
        let question = rewritten.as_ref().unwrap_or(&request.queries);
        let message = MessageResponseBuilder::new(question, response.edns.as_ref()).build(
            response.metadata,
            response.answers.iter(),
            response.authorities.iter(),
            iter::empty(),
            response.additionals.iter(),
        );
        match response_handle.send_response(message).await {
            Ok(info) => info,
            Err(error) => {
                warn!(src = %request.src(), %error, "failed to send DNS response");
                serve_failed(&request.metadata)
            }
        }
    }
}

/// The question section written out without name compression, when the request's own has a
/// compressed name; `None` (echo the bytes as they came) otherwise. A compression pointer in a
/// question can only point into the header or the question itself, so its name changes meaning
/// once the response's header replaces the query's: echoed as is, it would name something else,
/// or nothing a resolver can decode.
fn uncompressed(queries: &Queries) -> Option<Queries> {
    if !has_pointer(queries.as_bytes()) {
        return None;
    }
    let mut bytes = Vec::new();
    let mut encoder = BinEncoder::new(&mut bytes);
    encoder.set_name_encoding(NameEncoding::Uncompressed);
    for query in queries.queries() {
        query.original().emit(&mut encoder).ok()?;
    }
    Queries::read(&mut BinDecoder::new(&bytes), queries.len()).ok()
}

/// Whether a question section's names use anything but plain labels (RFC 1035 §4.1.4:
/// a length byte with its top bits set is a pointer, or a label type hickory refuses).
fn has_pointer(mut question: &[u8]) -> bool {
    while let Some((&len, rest)) = question.split_first() {
        question = match len {
            // The root label ends the name; type and class follow.
            0 => rest.get(4..).unwrap_or_default(),
            1..=63 => rest.get(usize::from(len)..).unwrap_or_default(),
            _ => return true,
        };
    }
    false
}

/// The transport a raw message arrived on ([`DnsRequestHandler::answer_message`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// UDP: the response is cut at 512 bytes, or at the size the query's EDNS offers, with TC set.
    Udp,
    /// TCP: the response is whole.
    Tcp,
}

impl DnsRequestHandler {
    /// Answers one raw DNS message as [`serve`] answers it over `transport`: hickory decodes
    /// it, this handler answers it in the view of `src`, and the response is encoded as the
    /// server encodes it (UDP responses cut with TC). `None` where this handler is never
    /// reached: a message hickory cannot decode (the server drops it, or answers FORMERR itself
    /// when the header is readable) and a response (dropped against reflection).
    ///
    /// For checks of the wire path without sockets (the fuzz targets); no runtime is needed,
    /// since nothing in answering waits.
    pub fn answer_message(
        &self,
        message: &[u8],
        src: SocketAddr,
        transport: Transport,
    ) -> Option<Vec<u8>> {
        let protocol = match transport {
            Transport::Udp => Protocol::Udp,
            Transport::Tcp => Protocol::Tcp,
        };
        let request = Request::from_bytes(message.to_vec(), src, protocol).ok()?;
        if request.metadata.message_type == MessageType::Response {
            return None;
        }
        let sent = Arc::new(Mutex::new(None));
        let capture = Capture {
            protocol,
            sent: Arc::clone(&sent),
        };
        let mut answering = pin!(self.handle_request::<_, TokioTime>(&request, capture));
        // The handler's one await is the capture's send, which never waits.
        match answering
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(_) => {}
            Poll::Pending => return None,
        }
        sent.lock().ok()?.take()
    }
}

/// A [`ResponseHandler`] that keeps the encoded response instead of sending it.
#[derive(Clone)]
struct Capture {
    protocol: Protocol,
    sent: Arc<Mutex<Option<Vec<u8>>>>,
}

#[async_trait::async_trait]
impl ResponseHandler for Capture {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        // The limits hickory's own response handle sets before it encodes.
        let max = match (self.protocol, response.edns()) {
            (Protocol::Udp, Some(edns)) => edns.max_payload(),
            (Protocol::Udp, None) => 512,
            _ => u16::MAX,
        };
        let mut bytes = Vec::with_capacity(512);
        let mut encoder = BinEncoder::new(&mut bytes);
        encoder.set_max_size(max);
        let info = response.destructive_emit(&mut encoder)?;
        if let Ok(mut sent) = self.sent.lock() {
            *sent = Some(bytes);
        }
        Ok(info)
    }
}

fn serve_failed(request: &Metadata) -> ResponseInfo {
    let mut metadata = Metadata::response_from_request(request);
    metadata.response_code = ResponseCode::ServFail;
    ResponseInfo::from(Header {
        metadata,
        counts: HeaderCounts::default(),
    })
}

/// Serves DNS over the caller-bound `udp` socket and `tcp` listener until `shutdown` is
/// cancelled, then stops accepting and waits for in-flight requests.
pub async fn serve(
    udp: UdpSocket,
    tcp: TcpListener,
    handler: DnsRequestHandler,
    shutdown: CancellationToken,
) -> Result<(), DnsError> {
    let mut server = Server::new(handler);
    server.register_socket(udp);
    server.register_listener(tcp, TCP_IDLE_TIMEOUT, TCP_RESPONSE_BUFFER);
    tokio::select! {
        () = shutdown.cancelled() => {}
        // The server's tasks only end on their own when a socket fails.
        done = server.block_until_done() => return done.map_err(DnsError::Serve),
    }
    server.shutdown_gracefully().await.map_err(DnsError::Serve)
}
