//! Malformed requests never crash a connection task or the process: raw bytes
//! over TLS to the gateway — garbage, oversized headers, an invalid method, truncated and
//! invalid chunked bodies, HTTP/2 garbage — and then a normal request still succeeds.
//!
//! A panic hook counts panics in this test binary (one test only, so the count is this
//! test's): a connection task that panicked would be invisible otherwise, since tokio contains
//! the panic in the task.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod gw_support;

use airlock_gateway::Authorization;
use gw_support::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Reads until the server closes (cleanly or not), at most `limit` bytes. A generous timeout
/// guards the test only: every case here ends with the server closing or answering.
async fn read_answer<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("the gateway neither answered nor closed");
    out
}

fn status_line(answer: &[u8]) -> String {
    String::from_utf8_lossy(answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn malformed_requests_leave_the_gateway_serving() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        previous(info);
    }));

    let be = backend().await;
    let ok = Arc::new(url_integration(format!("http://{be}/"), vec![]));
    let a = api(
        "malformed1",
        &["$default"],
        vec![
            route("GET /open", Authorization::None, &ok),
            route("POST /upload", Authorization::None, &ok),
        ],
    );
    let gw = start(Pki::new(), vec![a], vec![]).await;
    let host = exec_host("malformed1");

    // (case, bytes after the TLS handshake, the status line expected; `None`: any answer or
    // none, the connection just has to end).
    let big_but_parsable = "x".repeat(20_000);
    let huge = "x".repeat(1 << 20);
    let cases: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
        (
            "garbage",
            b"\x00\xff\x16\x03garbage\r\n\r\n".to_vec(),
            Some("HTTP/1.1 400"),
        ),
        (
            "invalid method",
            format!("G@T /open HTTP/1.1\r\nhost: {host}\r\n\r\n").into_bytes(),
            Some("HTTP/1.1 400"),
        ),
        (
            "invalid request line",
            b"GET\r\n\r\n".to_vec(),
            Some("HTTP/1.1 400"),
        ),
        (
            "header over the 10,240-byte quota (docs/aws-rules.md §HTTP-8)",
            format!("GET /open HTTP/1.1\r\nhost: {host}\r\nx-big: {big_but_parsable}\r\nconnection: close\r\n\r\n")
                .into_bytes(),
            Some("HTTP/1.1 431"),
        ),
        (
            // Past hyper's own buffer: refused before the gateway sees it; the server may
            // close while the client is still writing, so any answer (or none) will do.
            "1 MB header",
            format!("GET /open HTTP/1.1\r\nhost: {host}\r\nx-huge: {huge}\r\n\r\n").into_bytes(),
            None,
        ),
        (
            "invalid chunk size",
            format!("POST /upload HTTP/1.1\r\nhost: {host}\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nabc\r\n")
                .into_bytes(),
            None,
        ),
        (
            "truncated chunked body",
            format!("POST /upload HTTP/1.1\r\nhost: {host}\r\ntransfer-encoding: chunked\r\n\r\n100\r\nabc")
                .into_bytes(),
            None,
        ),
        (
            "bad header name",
            format!("GET /open HTTP/1.1\r\nhost: {host}\r\nbad header: x\r\n\r\n").into_bytes(),
            Some("HTTP/1.1 400"),
        ),
    ];
    for (case, bytes, want) in cases {
        let mut tls = gw.tls(&host, &[b"http/1.1"]).await;
        let (mut r, mut w) = tokio::io::split(&mut tls);
        let truncated = case.starts_with("truncated");
        let write = async {
            let _ = w.write_all(&bytes).await;
            if truncated {
                // Ends the client's side, so the body really is cut short. (Not for the
                // others: hyper drops an answer to a client that has stopped sending.)
                let _ = w.shutdown().await;
            }
        };
        let (_, answer) = tokio::join!(write, read_answer(&mut r));
        let line = status_line(&answer);
        match want {
            Some(want) => assert!(line.starts_with(want), "{case}: {line:?}"),
            None => assert!(
                answer.is_empty() || line.starts_with("HTTP/1.1 "),
                "{case}: {line:?}"
            ),
        }
    }

    // HTTP/2: the preface, then a frame of garbage. The server ends the connection (GOAWAY).
    let mut tls = gw.tls(&host, &[b"h2"]).await;
    tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    let _ = tls
        .write_all(&[0, 0, 4, 0xee, 0xff, 0, 0, 0, 1, 1, 2, 3, 4])
        .await;
    let _ = tls.write_all(&[0xff; 64]).await;
    let _ = read_answer(&mut tls).await;

    // Plain TCP garbage where a TLS ClientHello should be.
    let mut tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let _ = tcp.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await;
    let _ = read_answer(&mut tcp).await;

    // The gateway still serves, over both protocols.
    for h2 in [false, true] {
        let r = gw
            .send(
                &host,
                http::Request::get("/open").body(empty()).unwrap(),
                h2,
            )
            .await;
        assert_eq!(r.status, 200, "h2 {h2}: {}", r.text());
    }
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a task panicked");
}
