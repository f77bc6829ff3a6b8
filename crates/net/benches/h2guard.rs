//! The HTTP/2 header-block guard (`airlock_net::h2guard`) on the request path: what reading a
//! client's requests through it costs over reading them straight.
//!
//! The stream is what a typical client sends on one connection: the preface, then 1,000 GET
//! requests, each a HEADERS frame of about a dozen fields, Huffman-coded as curl, nghttp and
//! browsers code them. The first request adds its fields to the HPACK table; the others name
//! them by index and carry a new `:path` and `x-request-id` each, as literals without
//! indexing. Each benchmark reads the whole stream in 16 KiB reads; the difference between the
//! two, divided by 1,000, is the guard's cost per header block.

#![allow(missing_docs, clippy::unwrap_used)]

use airlock_net::h2guard::{H2Guard, HYPER_MAX_HEADER_LIST_SIZE, huffman_encode};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, ReadBuf};

const REQUESTS: usize = 1000;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut out = vec![len[1], len[2], len[3], kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// RFC 7541 §5.1 with `flags` above the prefix.
fn integer(out: &mut Vec<u8>, flags: u8, prefix: u32, mut value: usize) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.push(flags | u8::try_from(value).unwrap());
        return;
    }
    out.push(flags | u8::try_from(max).unwrap());
    value -= max;
    while value >= 128 {
        out.push(u8::try_from(value % 128).unwrap() | 0x80);
        value /= 128;
    }
    out.push(u8::try_from(value).unwrap());
}

fn string(out: &mut Vec<u8>, s: &[u8]) {
    let coded = huffman_encode(s);
    integer(out, 0x80, 7, coded.len());
    out.extend_from_slice(&coded);
}

/// A literal field whose name is the static or dynamic entry `index` (a literal name if 0).
fn field(out: &mut Vec<u8>, indexing: bool, index: usize, name: &[u8], value: &[u8]) {
    if indexing {
        integer(out, 0x40, 6, index);
    } else {
        integer(out, 0x00, 4, index);
    }
    if index == 0 {
        string(out, name);
    }
    string(out, value);
}

const TOKEN: &[u8] = b"Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6ImFpcmxvY2sifQ.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlLmNvbSIsInN1YiI6InVzZXItMTIzIiwiYXVkIjoiYXBpIiwiZXhwIjo0MTAyNDQ0ODAwfQ.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmUtc2lnbmF0dXJlLXNpZ25hdHVyZQ";

fn stream() -> Vec<u8> {
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(frame(0x4, 0, 0, &[0, 3, 0, 0, 0, 100]));
    for i in 0..REQUESTS {
        let mut block = vec![0x82, 0x87];
        let path = format!("/pets/{i}");
        let id = format!("{:032x}", i * 7919);
        if i == 0 {
            // Dynamic table after it, newest first: 62 accept-encoding, 63 accept, 64
            // user-agent, 65 authorization, 66 :authority.
            field(&mut block, false, 4, b"", path.as_bytes());
            field(&mut block, true, 1, b"", b"api.example.com");
            field(&mut block, true, 23, b"", TOKEN);
            field(&mut block, true, 58, b"", b"curl/8.5.0");
            field(&mut block, true, 19, b"", b"application/json");
            field(&mut block, true, 16, b"", b"gzip, deflate, br");
        } else {
            field(&mut block, false, 4, b"", path.as_bytes());
            block.extend_from_slice(&[0x80 | 66, 0x80 | 65, 0x80 | 64, 0x80 | 63, 0x80 | 62]);
        }
        field(&mut block, false, 0, b"x-request-id", id.as_bytes());
        let stream = u32::try_from(2 * i + 1).unwrap();
        out.extend(frame(0x1, 0x5, stream, &block));
    }
    out
}

/// Reads `source` to its end in 16 KiB reads; the source never waits.
fn drain<R: AsyncRead + Unpin>(mut source: R, buf: &mut [u8]) -> usize {
    let mut cx = Context::from_waker(Waker::noop());
    let mut total = 0;
    loop {
        let mut rb = ReadBuf::new(buf);
        match Pin::new(&mut source).poll_read(&mut cx, &mut rb) {
            Poll::Ready(Ok(())) if rb.filled().is_empty() => return total,
            Poll::Ready(Ok(())) => total += rb.filled().len(),
            other => panic!("{other:?}"),
        }
    }
}

fn bench(c: &mut Criterion) {
    let bytes = stream();
    let mut buf = vec![0u8; 16 * 1024];
    // The guard passes these requests unchanged.
    let mut through = Vec::new();
    {
        let mut guard = H2Guard::new(&bytes[..], HYPER_MAX_HEADER_LIST_SIZE);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            let mut rb = ReadBuf::new(&mut buf);
            let Poll::Ready(Ok(())) = Pin::new(&mut guard).poll_read(&mut cx, &mut rb) else {
                panic!("the guard waits on a slice");
            };
            if rb.filled().is_empty() {
                break;
            }
            through.extend_from_slice(rb.filled());
        }
    }
    assert!(through == bytes, "the guard changed fine requests");
    let mut group = c.benchmark_group("h2guard");
    group.throughput(Throughput::Elements(REQUESTS as u64));
    group.bench_function("1000 requests, plain", |b| {
        b.iter(|| drain(black_box(&bytes[..]), &mut buf))
    });
    group.bench_function("1000 requests, guarded", |b| {
        b.iter(|| {
            drain(
                H2Guard::new(black_box(&bytes[..]), HYPER_MAX_HEADER_LIST_SIZE),
                &mut buf,
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
