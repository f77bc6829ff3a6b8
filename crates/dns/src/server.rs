//! The wire: a hickory [`RequestHandler`] that picks the view from the source address, and
//! [`serve`], which runs it on caller-bound sockets until cancelled.

use std::fmt;
use std::iter;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Header, HeaderCounts, Metadata, Query, ResponseCode};
use hickory_server::Server;
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
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

        // The question section is echoed from the request's own bytes; hickory's encoder then
        // cuts UDP responses at 512 bytes (or the EDNS size) and sets TC.
        let message = MessageResponseBuilder::new(&request.queries, response.edns.as_ref()).build(
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
