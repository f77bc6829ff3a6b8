//! Malformed HTTP/2 requests at the two HTTP/2 servers a client reaches (the gateway, and an ALB
//! HTTPS listener from inside the VPC), written frame by frame with a raw client so that the
//! exact header block is on the wire (real clients refuse to send these).
//!
//! RFC 9113 §8.1.1 makes a malformed request a stream error: `RST_STREAM` with
//! `PROTOCOL_ERROR` for that stream, the connection serving on. The h2 crate does that for the
//! malformations it finds after decoding a header block (connection-specific fields, `TE`
//! other than `trailers`); for an unknown pseudo-header or an upper-case field name its HPACK
//! decoder stops mid-block and the connection ends with `GOAWAY` (`PROTOCOL_ERROR`), a known
//! difference described in docs/aws-fidelity.md ("HTTP/2 malformed header names").

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use airlock_stack::RunningStack;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const GOAWAY: u8 = 0x7;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PROTOCOL_ERROR: u32 = 0x1;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut out = vec![len[1], len[2], len[3], kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// An HPACK literal field without indexing, its name a literal too (RFC 7541 §6.2.2); names and
/// values here are shorter than 127 bytes.
fn literal(name: &str, value: &str) -> Vec<u8> {
    let mut out = vec![0x00, u8::try_from(name.len()).unwrap()];
    out.extend_from_slice(name.as_bytes());
    out.push(u8::try_from(value.len()).unwrap());
    out.extend_from_slice(value.as_bytes());
    out
}

/// `GET /health` to `authority` over https, then `extra` fields.
fn request_block(authority: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    // Static table: 2 = `:method GET`, 7 = `:scheme https`; `:path` and `:authority` literal.
    let mut block = vec![0x82, 0x87];
    block.extend(literal(":path", "/health"));
    block.extend(literal(":authority", authority));
    for (name, value) in extra {
        block.extend(literal(name, value));
    }
    block
}

/// What the server sent back on one connection.
#[derive(Debug, Default)]
struct Seen {
    /// `(stream, error code)` of each `RST_STREAM`.
    resets: Vec<(u32, u32)>,
    /// Streams that got response headers.
    answered: Vec<u32>,
    /// The error code of a `GOAWAY`.
    goaway: Option<u32>,
}

/// Sends a bad request on stream 1 and a good one on stream 3, and reads until stream 3 is
/// answered, the server sends `GOAWAY`, or the connection ends.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    authority: &str,
    bad: &[(&str, &str)],
) -> Seen {
    let mut out = PREFACE.to_vec();
    out.extend(frame(SETTINGS, 0, 0, &[]));
    out.extend(frame(
        HEADERS,
        END_STREAM | END_HEADERS,
        1,
        &request_block(authority, bad),
    ));
    out.extend(frame(
        HEADERS,
        END_STREAM | END_HEADERS,
        3,
        &request_block(authority, &[]),
    ));
    s.write_all(&out).await.unwrap();
    let mut seen = Seen::default();
    let read = async {
        loop {
            let mut head = [0u8; 9];
            if s.read_exact(&mut head).await.is_err() {
                return;
            }
            let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
            let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
            let mut payload = vec![0u8; len];
            if s.read_exact(&mut payload).await.is_err() {
                return;
            }
            match head[3] {
                SETTINGS if head[4] & 0x1 == 0 => {
                    // Acknowledge the server's settings, as a client must.
                    let _ = s.write_all(&frame(SETTINGS, 0x1, 0, &[])).await;
                }
                HEADERS => {
                    seen.answered.push(stream);
                    if stream == 3 {
                        return;
                    }
                }
                RST_STREAM => seen.resets.push((
                    stream,
                    u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]),
                )),
                GOAWAY => {
                    seen.goaway = Some(u32::from_be_bytes([
                        payload[4], payload[5], payload[6], payload[7],
                    ]));
                    return;
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("the server answers or closes");
    seen
}

/// A TLS connection offering only `h2`, trusting the stack's CA.
async fn h2_tls<S: AsyncRead + AsyncWrite + Unpin>(
    stack: &RunningStack,
    tcp: S,
) -> tokio_rustls::client::TlsStream<S> {
    let mut config = support::tls_config(stack.ca_der(), None);
    config.alpn_protocols = vec![b"h2".to_vec()];
    let name = rustls_pki_types::ServerName::try_from(support::DOMAIN.to_owned()).unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    tls
}

/// The malformations h2 detects after decoding a block: `RST_STREAM(PROTOCOL_ERROR)` on that
/// stream only; the next stream on the same connection is answered.
const STREAM_ERRORS: &[(&str, &str)] = &[("connection", "keep-alive"), ("te", "gzip")];

/// Malformations h2's HPACK decoder stops at: the connection ends (known difference).
const CONNECTION_ERRORS: &[(&str, &str)] = &[(":foo", "bar"), ("X-Upper", "1")];

async fn check_server<F, Fut, S>(stack: &RunningStack, connect: F, server: &str)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = S>,
    S: AsyncRead + AsyncWrite + Unpin,
{
    for bad in STREAM_ERRORS {
        let tls = h2_tls(stack, connect().await).await;
        let seen = exchange(tls, support::DOMAIN, &[*bad]).await;
        assert_eq!(
            seen.resets,
            vec![(1, PROTOCOL_ERROR)],
            "{server} {bad:?}: {seen:?}"
        );
        assert_eq!(seen.goaway, None, "{server} {bad:?}: {seen:?}");
        assert_eq!(seen.answered, vec![3], "{server} {bad:?}: {seen:?}");
    }
    for bad in CONNECTION_ERRORS {
        let tls = h2_tls(stack, connect().await).await;
        let seen = exchange(tls, support::DOMAIN, &[*bad]).await;
        assert_eq!(
            seen.goaway,
            Some(PROTOCOL_ERROR),
            "{server} {bad:?}: h2 no longer ends the connection; update docs/aws-fidelity.md \
             and this test: {seen:?}"
        );
        assert!(seen.answered.is_empty(), "{server} {bad:?}: {seen:?}");
    }
    // A fresh connection is served as before.
    let tls = h2_tls(stack, connect().await).await;
    let seen = exchange(tls, support::DOMAIN, &[("x-fine", "1")]).await;
    assert_eq!(seen.answered, vec![1, 3], "{server}: {seen:?}");
}

#[tokio::test]
async fn malformed_http2_requests_at_the_gateway_and_an_alb_https_listener() {
    let stack = RunningStack::start_default().await.unwrap();
    let gateway = stack.endpoints().gateway;
    check_server(
        &stack,
        || async move { tokio::net::TcpStream::connect(gateway).await.unwrap() },
        "gateway",
    )
    .await;
    // Inside the VPC the custom domain resolves to the internal ALB (private hosted zone).
    let vpc = stack
        .endpoints()
        .socks_vpc
        .expect("the default stack has a vpc vantage point");
    check_server(
        &stack,
        || async move {
            let (code, tunnel) =
                airlock_stack::client::socks5(vpc, support::DOMAIN, 443, Duration::from_secs(10))
                    .await
                    .unwrap()
                    .expect("the ALB is reachable from the vpc vantage point");
            assert_eq!(code, 0);
            tunnel
        },
        "alb",
    )
    .await;
}
