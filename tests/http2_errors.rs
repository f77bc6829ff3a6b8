//! Malformed HTTP/2 requests at the two HTTP/2 servers a client reaches (the gateway, and an ALB
//! HTTPS listener from inside the VPC), written frame by frame with a raw client so that the
//! exact header block is on the wire (real clients refuse to send these).
//!
//! RFC 9113 §8.1.1 makes a malformed request a stream error: `RST_STREAM` with
//! `PROTOCOL_ERROR` for that stream, the connection serving on. The h2 crate does that for the
//! malformations it finds after decoding a header block (connection-specific fields, `TE`
//! other than `trailers`); for an unknown pseudo-header, an upper-case field name, a control
//! byte in a value or a bad `:method`, its HPACK decoder stops mid-block and would end the
//! connection with `GOAWAY`. `airlock_net::h2guard`, in front of h2 at both servers, rewrites
//! such blocks so that h2 resets only that stream, its HPACK table kept in step with the
//! client's (docs/aws-fidelity.md, "HTTP/2 malformed requests").

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

/// An HPACK literal field, its name a literal too (RFC 7541 §6.2): `kind` 0x00 without
/// indexing, 0x40 with incremental indexing. Names and values here are shorter than 127 bytes.
fn field(kind: u8, name: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = vec![kind, u8::try_from(name.len()).unwrap()];
    out.extend_from_slice(name);
    out.push(u8::try_from(value.len()).unwrap());
    out.extend_from_slice(value);
    out
}

/// A literal field without indexing.
fn literal(name: &str, value: &str) -> Vec<u8> {
    field(0x00, name.as_bytes(), value.as_bytes())
}

/// `GET /health` to `authority` over https, then the encoded fields `extra`.
fn request_block(authority: &str, extra: &[u8]) -> Vec<u8> {
    // Static table: 2 = `:method GET`, 7 = `:scheme https`; `:path` and `:authority` literal.
    let mut block = vec![0x82, 0x87];
    block.extend(literal(":path", "/health"));
    block.extend(literal(":authority", authority));
    block.extend_from_slice(extra);
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

/// Sends each block as a request on streams 1, 3, 5, ... and reads until `answers` streams are
/// answered and `resets` streams reset, the server sends `GOAWAY`, or the connection ends.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    blocks: &[Vec<u8>],
    answers: usize,
    resets: usize,
) -> Seen {
    let mut out = PREFACE.to_vec();
    out.extend(frame(SETTINGS, 0, 0, &[]));
    for (i, block) in blocks.iter().enumerate() {
        let stream = u32::try_from(2 * i + 1).unwrap();
        out.extend(frame(HEADERS, END_STREAM | END_HEADERS, stream, block));
    }
    s.write_all(&out).await.unwrap();
    let mut seen = Seen::default();
    let read = async {
        while seen.answered.len() < answers || seen.resets.len() < resets {
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
                HEADERS => seen.answered.push(stream),
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
    seen.answered.sort_unstable();
    seen.resets.sort_unstable();
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

/// `X-Upper`, Huffman-coded (RFC 7541 Appendix B).
const X_UPPER_HUFFMAN: &[u8] = &[0xfc, 0x5b, 0x85, 0x75, 0x96, 0xcf];

/// `:foo`, Huffman-coded.
const FOO_HUFFMAN: &[u8] = &[0xb9, 0x29, 0xcf];

/// Malformed requests, each sent on stream 1 of a fresh connection, then a good request on
/// stream 3: `RST_STREAM(PROTOCOL_ERROR)` on stream 1 only, stream 3 answered.
fn malformed(authority: &str) -> Vec<(&'static str, Vec<u8>)> {
    let with = |extra: Vec<u8>| request_block(authority, &extra);
    // A request whose `:method` names the static table's entry and carries its own value.
    let method = |value: &[u8]| {
        let mut block = vec![0x02, u8::try_from(value.len()).unwrap()];
        block.extend_from_slice(value);
        block.extend_from_slice(&request_block(authority, &[])[1..]);
        block
    };
    // A Huffman-coded name (the 0x80 bit of its length) and a raw value.
    let huffman_name = |name: &[u8]| {
        let mut f = vec![0x00, 0x80 | u8::try_from(name.len()).unwrap()];
        f.extend_from_slice(name);
        f.extend_from_slice(&[1, b'1']);
        f
    };
    vec![
        // What h2 itself finds after decoding the block.
        ("connection", with(literal("connection", "keep-alive"))),
        ("te", with(literal("te", "gzip"))),
        // What its HPACK decoder stops at.
        ("unknown pseudo-header", with(literal(":foo", "bar"))),
        ("upper-case name", with(literal("X-Upper", "1"))),
        ("NUL in a value", with(literal("x-nul", "a\0b"))),
        ("CR LF in a value", with(literal("x-crlf", "a\r\nb"))),
        ("bad :method", method(b"G T")),
        ("empty :method", method(b"")),
        (
            "Huffman upper-case name",
            with(huffman_name(X_UPPER_HUFFMAN)),
        ),
        ("Huffman pseudo-header", with(huffman_name(FOO_HUFFMAN))),
        (
            "upper-case name, indexed",
            with(field(0x40, b"X-Upper", b"1")),
        ),
    ]
}

async fn check_server<F, Fut, S>(stack: &RunningStack, connect: F, server: &str)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = S>,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let good = request_block(support::DOMAIN, &[]);
    for (what, bad) in malformed(support::DOMAIN) {
        let tls = h2_tls(stack, connect().await).await;
        let seen = exchange(tls, &[bad, good.clone()], 1, 1).await;
        assert_eq!(
            seen.resets,
            vec![(1, PROTOCOL_ERROR)],
            "{server} {what}: {seen:?}"
        );
        assert_eq!(seen.goaway, None, "{server} {what}: {seen:?}");
        assert_eq!(seen.answered, vec![3], "{server} {what}: {seen:?}");
    }
    // A refused field added to the HPACK table, then named by index: every request that
    // references it is reset, and the table stays the client's for the fields around it.
    let tls = h2_tls(stack, connect().await).await;
    let blocks = [
        // Dynamic table after: 62 = X-Upper (refused).
        request_block(support::DOMAIN, &field(0x40, b"X-Upper", b"1")),
        // Indexed 62: the refused entry.
        request_block(support::DOMAIN, &[0xbe]),
        // Its name by index (62), with indexing: 62 = X-Upper again, 63 = the first.
        request_block(support::DOMAIN, &[0x7e, 0x01, b'2']),
        // A good field: 62 = x-good, 63 and 64 the refused ones.
        request_block(support::DOMAIN, &field(0x40, b"x-good", b"1")),
        // Indexed 64: the first refused entry, still there.
        request_block(support::DOMAIN, &[0xc0]),
        // Indexed 62: the good one.
        request_block(support::DOMAIN, &[0xbe]),
    ];
    let seen = exchange(tls, &blocks, 2, 4).await;
    let resets: Vec<_> = [1, 3, 5, 9].map(|s| (s, PROTOCOL_ERROR)).to_vec();
    assert_eq!(seen.resets, resets, "{server}: {seen:?}");
    assert_eq!(seen.goaway, None, "{server}: {seen:?}");
    assert_eq!(seen.answered, vec![7, 11], "{server}: {seen:?}");
    // A fresh connection is served as before.
    let tls = h2_tls(stack, connect().await).await;
    let fine = request_block(support::DOMAIN, &literal("x-fine", "1"));
    let seen = exchange(tls, &[fine, good], 2, 0).await;
    assert_eq!(seen.answered, vec![1, 3], "{server}: {seen:?}");
    assert!(seen.resets.is_empty(), "{server}: {seen:?}");
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

/// h2load's requests go through the guard with HPACK's dynamic table in full use (the same
/// headers, indexed after the first request, on many streams of each connection); every one
/// is answered.
#[tokio::test]
async fn h2load_through_the_guarded_gateway() {
    if !support::tool("h2load", "--version", "apt-get install nghttp2-client") {
        return;
    }
    let stack = RunningStack::start_default().await.unwrap();
    let gw = stack.endpoints().gateway;
    let out = tokio::process::Command::new("h2load")
        .args(["-n", "400", "-c", "2", "-m", "8", "-H"])
        .arg(format!(":authority: {}", support::DOMAIN))
        .args([
            "-H",
            "x-custom: some value",
            "-H",
            "user-agent: h2load-airlock",
        ])
        .arg(format!("https://127.0.0.1:{}/health", gw.port()))
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("400 done, 400 succeeded, 0 failed, 0 errored"),
        "{text}"
    );
    assert!(text.contains("status codes: 400 2xx"), "{text}");
}
