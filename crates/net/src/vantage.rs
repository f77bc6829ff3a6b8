//! Vantage points: host loopback proxies through which a user or a test stands somewhere in the
//! emulated cloud.
//!
//! A [`Vantage`] is an origin (the internet, or an interface inside the VPC) plus the DNS view
//! seen from there. [`serve`] accepts connections on a loopback listener the caller bound and
//! speaks two proxy protocols, told apart by the first byte:
//!
//! - **SOCKS5** (RFC 1928), no authentication, `CONNECT` only, with IPv4 addresses or domain names
//!   resolved by the vantage (`curl --socks5-hostname`). IPv6 is answered `0x08`.
//! - **HTTP `CONNECT`** (RFC 9110 §9.3.6), so `HTTPS_PROXY=http://127.0.0.1:PORT` works for any
//!   HTTP client. Other methods get `405`: a plain forward proxy (absolute-form `GET`) is out of
//!   scope; clients reach plain-HTTP targets with `curl --proxytunnel` instead.
//!
//! Every dial goes through [`Network::dial`] as the vantage's origin, so what a vantage can reach
//! is exactly what the VPC would carry. A dial the VPC drops never completes, and the proxy then
//! answers *nothing*: the client's own timeout fires (curl `-m 2` exits 28), just as a SYN to an
//! internal ALB from the internet goes unanswered in AWS. Set [`Vantage::connect_timeout`] to
//! answer instead (SOCKS `0x04` host unreachable, HTTP `504`) after that long.
//!
//! Architecture invariant: the vantage knows origins and addresses. It does not know DNS, load
//! balancers or gateways; names are resolved by the callback the caller supplies.

use crate::{ConnectionLimit, DialError, NetStream, Network, Origin, accept_loop};
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// Resolves a host name to IPv4 addresses as seen from a vantage; an empty answer means the
/// name does not resolve. Called on a blocking thread, so it may block briefly.
pub type Resolver = Arc<dyn Fn(&str) -> Vec<Ipv4Addr> + Send + Sync>;

/// How long a client may take to complete its SOCKS5 handshake or send its `CONNECT` head.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest `CONNECT` request head (request line and headers) accepted.
pub const MAX_CONNECT_HEAD: usize = 8 * 1024;

/// The most client connections one vantage point holds at once (handshakes, hanging dials and
/// open tunnels); further clients wait in the kernel's accept backlog. Each costs the process a
/// file descriptor (two for a tunnel to a foreign process), so black-holed dials cannot exhaust
/// the descriptors the gateway and everything else need.
pub const VANTAGE_MAX_CONNECTIONS: usize = 512;

/// How long a dial the VPC drops is held before the vantage closes the client's connection
/// without an answer: about as long as a Linux client's SYN retries last before it gives up
/// (`tcp_syn_retries` = 6: 1+2+4+8+16+32+64 s). A client with a shorter timeout still sees its
/// own timeout fire first.
pub const DROPPED_DIAL_HOLD: Duration = Duration::from_secs(127);

/// A place in the emulated cloud where a proxy client stands.
pub struct Vantage {
    /// The vantage's name in logs, e.g. `internet` or `vpc`.
    pub name: String,
    /// Where its connections come from: the internet, or an interface inside the VPC.
    pub origin: Origin,
    /// The DNS view from this vantage.
    pub resolver: Resolver,
    /// How long a dial may hang before the client is told the host is unreachable. `None` (the
    /// default) answers nothing, so the client's own timeout fires, as in AWS.
    pub connect_timeout: Option<Duration>,
}

impl Vantage {
    /// A vantage that never answers a dropped dial (`connect_timeout: None`).
    pub fn new(name: impl Into<String>, origin: Origin, resolver: Resolver) -> Vantage {
        Vantage {
            name: name.into(),
            origin,
            resolver,
            connect_timeout: None,
        }
    }
}

impl fmt::Debug for Vantage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vantage")
            .field("name", &self.name)
            .field("origin", &self.origin)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

/// Serves SOCKS5 and HTTP `CONNECT` on `listener` as `vantage`, until `shutdown` fires.
///
/// Connection tasks run in `tracker`. At shutdown, handshakes, pending dials and open tunnels are
/// all ended: a tunnel has no request boundary at which to finish gracefully.
pub async fn serve(
    listener: TcpListener,
    vantage: Arc<Vantage>,
    network: Network,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let stop = shutdown.clone();
    accept_loop(
        "vantage",
        listener,
        ConnectionLimit(VANTAGE_MAX_CONNECTIONS),
        shutdown,
        tracker,
        move |stream, _peer| {
            let vantage = vantage.clone();
            let network = network.clone();
            let stop = stop.clone();
            let span = tracing::debug_span!("vantage", vantage = %vantage.name);
            async move {
                tokio::select! {
                    _ = stop.cancelled() => {}
                    _ = connection(stream, &vantage, &network) => {}
                }
            }
            .instrument(span)
        },
    )
    .await;
}

async fn connection(client: TcpStream, vantage: &Vantage, network: &Network) {
    let mut first = [0u8; 1];
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, client.peek(&mut first)).await {
        Ok(Ok(1)) => {}
        // Closed, failed or silent: nothing to answer.
        _ => return,
    }
    match first[0] {
        0x05 => socks5(client, vantage, network).await,
        0x04 => {
            // SOCKS4: answer "request rejected" in its own format so the client says why.
            let mut client = client;
            let _ = client.write_all(&[0x00, 0x5b, 0, 0, 0, 0, 0, 0]).await;
            tracing::debug!("SOCKS4 is not supported");
        }
        b'A'..=b'Z' => http_connect(client, vantage, network).await,
        other => tracing::debug!(first_byte = other, "neither SOCKS5 nor HTTP; closing"),
    }
}

/// What the client asked to reach.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    /// An IPv4 address, used as given.
    Ip(Ipv4Addr),
    /// A name for the vantage's resolver.
    Name(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(ip) => ip.fmt(f),
            Host::Name(name) => f.write_str(name),
        }
    }
}

impl Host {
    fn parse(s: &str) -> Host {
        match s.parse::<Ipv4Addr>() {
            Ok(ip) => Host::Ip(ip),
            Err(_) => Host::Name(s.to_owned()),
        }
    }
}

/// How opening a tunnel ended, short of a dial that hangs forever.
enum Opened {
    Connected(NetStream, SocketAddr),
    /// The name has no address in this vantage's view.
    Unresolved,
    /// Every address refused (admitted, nothing listening); the last one is named.
    Refused(SocketAddr),
    /// `connect_timeout` passed while the dial hung.
    TimedOut,
    /// The loopback socket behind the address failed.
    Failed(DialError),
    /// The client hung up while the dial hung.
    ClientGone,
    /// The dial hung for [`DROPPED_DIAL_HOLD`]: the connection is closed without an answer.
    GaveUp,
}

/// Resolves `host` and dials it as `vantage`, trying addresses in the resolver's order.
///
/// A refused address moves on to the next one; a dropped one hangs, as a client's connect would.
/// The hang ends when the client hangs up (so abandoned tunnels do not pile up) or after
/// `connect_timeout`.
async fn open(
    vantage: &Vantage,
    network: &Network,
    client: &TcpStream,
    host: &Host,
    port: u16,
) -> Opened {
    let addrs = match host {
        Host::Ip(ip) => vec![*ip],
        Host::Name(name) => resolve(vantage, name).await,
    };
    if addrs.is_empty() {
        tracing::debug!(target_name = %host, port, outcome = "no address", "tunnel");
        return Opened::Unresolved;
    }
    tracing::debug!(target_name = %host, port, resolved = ?addrs, "dialing");
    let dial = async {
        let mut last = None;
        for ip in &addrs {
            let to = SocketAddr::from((*ip, port));
            match network.dial(&vantage.origin, to).await {
                Ok(stream) => return Opened::Connected(stream, to),
                Err(DialError::Refused(at)) => last = Some(Opened::Refused(at)),
                Err(e) => last = Some(Opened::Failed(e)),
            }
        }
        last.unwrap_or(Opened::Unresolved)
    };
    let dial = async {
        match vantage.connect_timeout {
            Some(limit) => tokio::time::timeout(limit, dial)
                .await
                .unwrap_or(Opened::TimedOut),
            // Held, not forever: a real client's connect gives up after its SYN retries.
            None => tokio::time::timeout(DROPPED_DIAL_HOLD, dial)
                .await
                .unwrap_or(Opened::GaveUp),
        }
    };
    let opened = tokio::select! {
        opened = dial => opened,
        _ = hung_up(client) => Opened::ClientGone,
    };
    let outcome = match &opened {
        Opened::Connected(_, to) => format!("connected to {to}"),
        Opened::Unresolved => "no address".to_owned(),
        Opened::Refused(to) => format!("refused by {to}"),
        Opened::TimedOut => "no answer within the connect timeout (dropped?)".to_owned(),
        Opened::Failed(e) => format!("failed: {e}"),
        Opened::ClientGone => "client gave up while the dial hung (dropped?)".to_owned(),
        Opened::GaveUp => "no answer while a client's SYN retries would last (dropped?)".to_owned(),
    };
    tracing::debug!(target_name = %host, port, resolved = ?addrs, %outcome, "tunnel");
    opened
}

async fn resolve(vantage: &Vantage, name: &str) -> Vec<Ipv4Addr> {
    if let Ok(ip) = name.parse::<Ipv4Addr>() {
        return vec![ip];
    }
    let resolver = vantage.resolver.clone();
    let owned = name.to_owned();
    match tokio::task::spawn_blocking(move || resolver(&owned)).await {
        Ok(addrs) => addrs,
        Err(e) => {
            tracing::warn!(name, error = %e, "the vantage resolver failed");
            Vec::new()
        }
    }
}

/// Completes when the client closes its side (or the socket fails). If the client sends data
/// before the tunnel is up, its EOF can no longer be seen without consuming that data, so this
/// then waits forever and the dial decides.
async fn hung_up(client: &TcpStream) {
    let mut byte = [0u8; 1];
    match client.peek(&mut byte).await {
        Ok(0) | Err(_) => {}
        Ok(_) => std::future::pending().await,
    }
}

/// Splices the tunnel until either side closes, after forwarding bytes the client sent early.
async fn splice(mut client: TcpStream, mut upstream: NetStream, early: &[u8]) {
    if !early.is_empty() && upstream.write_all(early).await.is_err() {
        return;
    }
    match tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        Ok((up, down)) => tracing::debug!(bytes_up = up, bytes_down = down, "tunnel closed"),
        Err(e) => tracing::debug!(error = %e, "tunnel ended with an error"),
    }
}

// ---- SOCKS5 -------------------------------------------------------------------------------

const SOCKS_VERSION: u8 = 0x05;
const METHOD_NO_AUTH: u8 = 0x00;
const METHOD_NONE_ACCEPTABLE: u8 = 0xff;
const CMD_CONNECT: u8 = 0x01;

/// SOCKS5 reply codes (RFC 1928 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Reply {
    Succeeded = 0x00,
    GeneralFailure = 0x01,
    HostUnreachable = 0x04,
    ConnectionRefused = 0x05,
    CommandNotSupported = 0x07,
    AddressTypeNotSupported = 0x08,
}

/// A SOCKS5 request, read in full so that any reply leaves the stream consistent.
enum SocksRequest {
    Connect(Host, u16),
    /// Another command (BIND, UDP ASSOCIATE).
    Unsupported(u8),
    /// IPv6, or an address type RFC 1928 does not define.
    AddressType(u8),
}

async fn socks5(mut client: TcpStream, vantage: &Vantage, network: &Network) {
    let request = match tokio::time::timeout(HANDSHAKE_TIMEOUT, socks5_handshake(&mut client)).await
    {
        Ok(Ok(Some(request))) => request,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "SOCKS5 handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!("SOCKS5 handshake timed out");
            return;
        }
    };
    let (host, port) = match request {
        SocksRequest::Connect(host, port) => (host, port),
        SocksRequest::Unsupported(cmd) => {
            tracing::debug!(command = cmd, "SOCKS5 command not supported");
            return socks_fail(client, Reply::CommandNotSupported).await;
        }
        SocksRequest::AddressType(atyp) => {
            tracing::debug!(address_type = atyp, "SOCKS5 address type not supported");
            return socks_fail(client, Reply::AddressTypeNotSupported).await;
        }
    };
    match open(vantage, network, &client, &host, port).await {
        Opened::Connected(upstream, _) => {
            let bound = match &vantage.origin {
                Origin::Interface(iface) => iface.ip(),
                Origin::Internet => Ipv4Addr::UNSPECIFIED,
            };
            let reply = socks_reply(Reply::Succeeded, SocketAddrV4::new(bound, 0));
            if client.write_all(&reply).await.is_ok() {
                splice(client, upstream, &[]).await;
            }
        }
        Opened::Unresolved | Opened::TimedOut => socks_fail(client, Reply::HostUnreachable).await,
        Opened::Refused(_) => socks_fail(client, Reply::ConnectionRefused).await,
        Opened::Failed(_) => socks_fail(client, Reply::GeneralFailure).await,
        Opened::ClientGone | Opened::GaveUp => {}
    }
}

/// Negotiates the method and reads the request. `None`: the client offered no method we accept
/// (already answered).
async fn socks5_handshake(client: &mut TcpStream) -> io::Result<Option<SocksRequest>> {
    let mut head = [0u8; 2];
    client.read_exact(&mut head).await?;
    let mut methods = vec![0u8; usize::from(head[1])];
    client.read_exact(&mut methods).await?;
    if !methods.contains(&METHOD_NO_AUTH) {
        client
            .write_all(&[SOCKS_VERSION, METHOD_NONE_ACCEPTABLE])
            .await?;
        tracing::debug!(?methods, "SOCKS5 client offered no acceptable method");
        return Ok(None);
    }
    client.write_all(&[SOCKS_VERSION, METHOD_NO_AUTH]).await?;

    let mut req = [0u8; 4];
    client.read_exact(&mut req).await?;
    let [version, command, _reserved, atyp] = req;
    if version != SOCKS_VERSION {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("SOCKS request version {version}"),
        ));
    }
    let host = match atyp {
        0x01 => {
            let mut ip = [0u8; 4];
            client.read_exact(&mut ip).await?;
            Some(Host::Ip(Ipv4Addr::from(ip)))
        }
        0x03 => {
            let len = client.read_u8().await?;
            let mut name = vec![0u8; usize::from(len)];
            client.read_exact(&mut name).await?;
            // A name that is not text cannot be in any zone; an empty string resolves to nothing.
            Some(Host::parse(&String::from_utf8(name).unwrap_or_default()))
        }
        0x04 => {
            let mut ip = [0u8; 16];
            client.read_exact(&mut ip).await?;
            None
        }
        // Unknown length: the rest cannot be read, so answer at once.
        other => return Ok(Some(SocksRequest::AddressType(other))),
    };
    let port = client.read_u16().await?;
    Ok(Some(match (command, host) {
        (_, None) => SocksRequest::AddressType(atyp),
        (CMD_CONNECT, Some(host)) => SocksRequest::Connect(host, port),
        (other, Some(_)) => SocksRequest::Unsupported(other),
    }))
}

fn socks_reply(code: Reply, bound: SocketAddrV4) -> [u8; 10] {
    let mut reply = [SOCKS_VERSION, code as u8, 0x00, 0x01, 0, 0, 0, 0, 0, 0];
    reply[4..8].copy_from_slice(&bound.ip().octets());
    reply[8..10].copy_from_slice(&bound.port().to_be_bytes());
    reply
}

async fn socks_fail(mut client: TcpStream, code: Reply) {
    let reply = socks_reply(code, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
    let _ = client.write_all(&reply).await;
    let _ = client.shutdown().await;
}

// ---- HTTP CONNECT -------------------------------------------------------------------------

/// A parsed `CONNECT` request: the authority-form target.
#[derive(Debug, PartialEq, Eq)]
struct ConnectRequest {
    host: Host,
    port: u16,
}

/// An HTTP error answer to a proxy request.
#[derive(Debug, PartialEq, Eq)]
struct Rejection {
    status: u16,
    reason: &'static str,
    body: String,
}

impl Rejection {
    fn new(status: u16, reason: &'static str, body: impl Into<String>) -> Rejection {
        Rejection {
            status,
            reason,
            body: body.into(),
        }
    }

    fn to_bytes(&self) -> Vec<u8> {
        let allow = if self.status == 405 {
            "Allow: CONNECT\r\n"
        } else {
            ""
        };
        format!(
            "HTTP/1.1 {} {}\r\n{allow}Content-Type: text/plain; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{}",
            self.status,
            self.reason,
            self.body.len(),
            self.body
        )
        .into_bytes()
    }
}

async fn http_connect(mut client: TcpStream, vantage: &Vantage, network: &Network) {
    let (head, early) = match tokio::time::timeout(HANDSHAKE_TIMEOUT, read_head(&mut client)).await
    {
        Ok(Ok(Ok(parts))) => parts,
        Ok(Ok(Err(rejection))) => return http_fail(client, &rejection).await,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "reading the CONNECT head failed");
            return;
        }
        Err(_) => {
            let rejection = Rejection::new(408, "Request Timeout", "request head timed out\n");
            return http_fail(client, &rejection).await;
        }
    };
    let request = match parse_connect(&head) {
        Ok(request) => request,
        Err(rejection) => {
            tracing::debug!(status = rejection.status, "proxy request rejected");
            return http_fail(client, &rejection).await;
        }
    };
    let ConnectRequest { host, port } = request;
    let rejection = match open(vantage, network, &client, &host, port).await {
        Opened::Connected(upstream, _) => {
            let ok = b"HTTP/1.1 200 Connection established\r\n\r\n";
            if client.write_all(ok).await.is_ok() {
                splice(client, upstream, &early).await;
            }
            return;
        }
        Opened::ClientGone | Opened::GaveUp => return,
        Opened::Unresolved => Rejection::new(
            502,
            "Bad Gateway",
            format!("{host} does not resolve from vantage {}\n", vantage.name),
        ),
        Opened::Refused(to) => Rejection::new(
            502,
            "Bad Gateway",
            format!("connection refused by {to} (nothing listens there)\n"),
        ),
        Opened::TimedOut => Rejection::new(
            504,
            "Gateway Timeout",
            format!("no answer from {host}:{port} (the VPC dropped the connection?)\n"),
        ),
        Opened::Failed(e) => Rejection::new(502, "Bad Gateway", format!("{e}\n")),
    };
    http_fail(client, &rejection).await;
}

/// Reads the request head up to its blank line. Returns the head and any bytes the client sent
/// after it (the start of the tunnelled stream), or a rejection for an oversized head.
async fn read_head(client: &mut TcpStream) -> io::Result<Result<(String, Vec<u8>), Rejection>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        // Resume the search just before the new bytes, in case the blank line straddles reads.
        let from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = find(&buf[from..], b"\r\n\r\n") {
            let end = from + pos + 4;
            if end > MAX_CONNECT_HEAD {
                break;
            }
            let early = buf.split_off(end);
            return Ok(match String::from_utf8(buf) {
                Ok(head) => Ok((head, early)),
                Err(_) => Err(Rejection::new(
                    400,
                    "Bad Request",
                    "request head is not text\n",
                )),
            });
        }
        if buf.len() > MAX_CONNECT_HEAD {
            break;
        }
    }
    Ok(Err(Rejection::new(
        431,
        "Request Header Fields Too Large",
        format!("request head exceeds {MAX_CONNECT_HEAD} bytes\n"),
    )))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parses the request line of a proxy request. Headers are not needed for `CONNECT` (no proxy
/// authentication is asked for) and are ignored.
fn parse_connect(head: &str) -> Result<ConnectRequest, Rejection> {
    let bad = |why: &str| Rejection::new(400, "Bad Request", format!("{why}\n"));
    let line = head.lines().next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("malformed request line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(bad("unsupported HTTP version"));
    }
    if method != "CONNECT" {
        return Err(Rejection::new(
            405,
            "Method Not Allowed",
            "this vantage is a tunnelling proxy: only CONNECT is supported \
             (use HTTPS_PROXY, or curl --proxytunnel for plain http)\n",
        ));
    }
    let (host, port) = target
        .rsplit_once(':')
        .ok_or_else(|| bad("CONNECT target must be host:port"))?;
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| bad("CONNECT target has an invalid port"))?;
    if host.starts_with('[') || host.contains(':') {
        return Err(Rejection::new(
            502,
            "Bad Gateway",
            "IPv6 targets are not supported: the emulated VPC is IPv4 only\n",
        ));
    }
    if host.is_empty() {
        return Err(bad("CONNECT target has an empty host"));
    }
    Ok(ConnectRequest {
        host: Host::parse(host),
        port,
    })
}

/// Writes the rejection and closes gracefully. Closing a socket with unread request bytes would
/// send a reset that can destroy the answer in the client's receive buffer, so what the client
/// still sends is read and discarded for a moment first (a "lingering close").
async fn http_fail(mut client: TcpStream, rejection: &Rejection) {
    let _ = client.write_all(&rejection.to_bytes()).await;
    let _ = client.shutdown().await;
    let drain = async {
        let mut sink = [0u8; 4096];
        let mut left: usize = 64 * 1024;
        while left > 0 {
            match client.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn target(head: &str) -> Result<ConnectRequest, u16> {
        parse_connect(head).map_err(|r| r.status)
    }

    #[test]
    fn connect_targets_parse_into_names_or_addresses() {
        assert_eq!(
            target("CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n\r\n"),
            Ok(ConnectRequest {
                host: Host::Name("api.example.com".into()),
                port: 443
            })
        );
        assert_eq!(
            target("CONNECT 10.0.1.5:80 HTTP/1.0\r\n\r\n"),
            Ok(ConnectRequest {
                host: Host::Ip(Ipv4Addr::new(10, 0, 1, 5)),
                port: 80
            })
        );
    }

    #[test]
    fn bad_proxy_requests_are_rejected_with_the_right_status() {
        assert_eq!(target("GET http://a.example/ HTTP/1.1\r\n\r\n"), Err(405));
        assert_eq!(target("CONNECT a.example HTTP/1.1\r\n\r\n"), Err(400));
        assert_eq!(target("CONNECT a.example:http HTTP/1.1\r\n\r\n"), Err(400));
        assert_eq!(target("CONNECT a.example:0 HTTP/1.1\r\n\r\n"), Err(400));
        assert_eq!(target("CONNECT :443 HTTP/1.1\r\n\r\n"), Err(400));
        assert_eq!(target("CONNECT a.example:443 SPDY/3\r\n\r\n"), Err(400));
        assert_eq!(target("CONNECT a.example:443\r\n\r\n"), Err(400));
        assert_eq!(target("CONNECT [::1]:443 HTTP/1.1\r\n\r\n"), Err(502));
    }

    #[test]
    fn the_405_names_the_allowed_method() {
        let r = parse_connect("POST / HTTP/1.1\r\n\r\n").unwrap_err();
        let text = String::from_utf8(r.to_bytes()).unwrap_or_default();
        assert!(
            text.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nAllow: CONNECT\r\n"), "{text}");
    }

    #[test]
    fn socks_replies_carry_the_bound_address() {
        let r = socks_reply(
            Reply::Succeeded,
            SocketAddrV4::new(Ipv4Addr::new(10, 0, 1, 9), 0x1234),
        );
        assert_eq!(r, [5, 0, 0, 1, 10, 0, 1, 9, 0x12, 0x34]);
    }
}
