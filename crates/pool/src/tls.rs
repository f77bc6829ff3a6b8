//! The TLS handshake of an HTTPS front door (the gateway's and the ALB's listeners).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A connection whose handshake completed.
pub struct Handshaken<S> {
    /// The decrypted stream.
    pub stream: TlsStream<S>,
    /// Whether ALPN chose HTTP/2; otherwise the connection speaks HTTP/1.1. Known here, so the
    /// caller starts hyper's own HTTP/1 or HTTP/2 server, without hyper-util's version
    /// sniffing and rewind buffer before every read.
    pub h2: bool,
    /// The server name the client asked for, shared by every request of the connection.
    pub sni: Option<Arc<str>>,
}

/// Completes the server side of the handshake on `stream` within `limit`; a failed or slow
/// handshake is logged (at debug: clients hang up mid-handshake all the time) and gives `None`.
pub async fn accept<S>(
    acceptor: &TlsAcceptor,
    stream: S,
    limit: Duration,
    peer: SocketAddr,
) -> Option<Handshaken<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let stream = match tokio::time::timeout(limit, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            return None;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            return None;
        }
    };
    let session = stream.get_ref().1;
    let h2 = session.alpn_protocol() == Some(b"h2");
    let sni = session.server_name().map(Arc::from);
    Some(Handshaken { stream, h2, sni })
}
