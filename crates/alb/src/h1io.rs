//! The HTTP/1.x client connection as hyper sees it: every request head is gathered and classified
//! (docs/aws-rules.md §ALB-2.4, §ALB-2.5) before hyper parses it, so that the load balancer, not hyper, answers malformed
//! requests, with its own page.
//!
//! [`H1Io`] sits between the socket and hyper. It holds back each head until it is complete,
//! classifies it in one pass ([`desync::classify`]), and hands hyper either the head unchanged
//! (the common case: no copy beyond the gathering), a normalised head, or, for a request the ALB
//! refuses, a stand-in `GET` whose [`Verdict`] tells the service which error page to write. Body
//! bytes pass straight through while their framing (`Content-Length` or chunked) is tracked to
//! find the next head. One verdict is queued per head given to hyper, in order, which is the
//! order in which hyper serves HTTP/1 requests.
//!
//! The wrapper also owns docs/aws-rules.md §ALB-2.3's idle timer while a head is awaited: a client that sends no
//! complete head before the idle timeout on a new connection, or stops halfway through one, gets
//! a 408. An idle keep-alive connection is closed silently by hyper's own header timer.

use crate::config::DesyncMode;
use crate::desync::{self, Class, Decision, Framing, Reason};
use http::StatusCode;
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// What the load balancer decided about one request head, for the service that serves it.
#[derive(Debug, Clone)]
pub(crate) struct Verdict {
    /// The desync class (docs/aws-rules.md §ALB-2.4).
    pub(crate) class: Class,
    /// Its reason, `None` when compliant.
    pub(crate) reason: Option<Reason>,
    /// The status the load balancer answers instead of forwarding.
    pub(crate) refuse: Option<StatusCode>,
    /// Close the client and target connections after the response (ambiguous, defensive).
    pub(crate) close: bool,
    /// The request line as sent, for the access log of a refused request.
    pub(crate) request_line: Option<String>,
}

/// The verdicts of the heads handed to hyper and not yet served, oldest first.
pub(crate) type Verdicts = Arc<Mutex<VecDeque<Verdict>>>;

/// Stands in for a refused request so that hyper calls the service, which answers with the
/// verdict's error page; the connection ends after it.
const STAND_IN: &[u8] = b"GET / HTTP/1.1\r\nhost: refused.invalid\r\n\r\n";

/// Past this many bytes without the end of a head, the head is refused without reading more.
const MAX_HEAD: usize = desync::MAX_REQUEST_LINE + desync::MAX_HEADER_BLOCK + 1024;

enum State {
    /// Gathering a head in `head`.
    Head,
    /// `n` body bytes still to pass.
    Length(u64),
    /// A chunked body.
    Chunked(Chunks),
    /// Everything passes untouched (after an upgrade or `CONNECT`).
    Opaque,
    /// A refusal was handed to hyper: further bytes are discarded.
    Refused,
}

/// Tracks chunked framing (RFC 9112 §7.1) just enough to find where the body ends.
#[derive(Clone, Copy)]
enum Chunks {
    /// Reading the chunk-size line; the size so far.
    Size(u64),
    /// Skipping chunk extensions to the end of the size line.
    Extension(u64),
    /// Chunk data left.
    Data(u64),
    /// The CRLF after chunk data.
    DataEnd,
    /// The trailer section; whether the current line is empty so far.
    Trailer { empty_line: bool },
}

impl Chunks {
    /// Consumes `bytes`; returns how many belong to the body when it ends inside them.
    fn advance(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            *self = match *self {
                Chunks::Size(n) => match b {
                    b'\n' if n == 0 => Chunks::Trailer { empty_line: true },
                    b'\n' => Chunks::Data(n),
                    b'\r' => Chunks::Size(n),
                    b';' | b' ' | b'\t' => Chunks::Extension(n),
                    _ => {
                        let d = (b as char).to_digit(16).map_or(0, u64::from);
                        Chunks::Size(n.saturating_mul(16).saturating_add(d))
                    }
                },
                Chunks::Extension(n) => match b {
                    b'\n' if n == 0 => Chunks::Trailer { empty_line: true },
                    b'\n' => Chunks::Data(n),
                    _ => Chunks::Extension(n),
                },
                Chunks::Data(n) => {
                    let take = (bytes.len() - i).min(usize::try_from(n).unwrap_or(usize::MAX));
                    i += take;
                    let left = n - take as u64;
                    *self = if left == 0 {
                        Chunks::DataEnd
                    } else {
                        Chunks::Data(left)
                    };
                    continue;
                }
                Chunks::DataEnd => match b {
                    b'\n' => Chunks::Size(0),
                    _ => Chunks::DataEnd,
                },
                Chunks::Trailer { empty_line } => match b {
                    b'\n' if empty_line => return Some(i + 1),
                    b'\n' => Chunks::Trailer { empty_line: true },
                    b'\r' => Chunks::Trailer { empty_line },
                    _ => Chunks::Trailer { empty_line: false },
                },
            };
            i += 1;
        }
        None
    }
}

/// The client side of an HTTP/1.x connection, classified head by head.
pub(crate) struct H1Io<S> {
    inner: S,
    mode: DesyncMode,
    state: State,
    /// The head being gathered.
    head: Vec<u8>,
    /// Bytes ready for hyper, from `out_pos` on.
    out: Vec<u8>,
    out_pos: usize,
    /// Bytes read past a head or a body's end, not yet looked at.
    carry: Vec<u8>,
    scratch: Box<[u8]>,
    verdicts: Verdicts,
    /// Heads handed to hyper so far.
    served: u64,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    /// The last time a byte went to the client; writing counts as activity for the idle timer.
    last_write: Instant,
}

impl<S> H1Io<S> {
    /// Wraps `inner`; verdicts go to `verdicts`.
    pub(crate) fn new(inner: S, mode: DesyncMode, idle: Duration, verdicts: Verdicts) -> Self {
        H1Io {
            inner,
            mode,
            state: State::Head,
            head: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            carry: Vec::new(),
            scratch: vec![0; 8 * 1024].into_boxed_slice(),
            verdicts,
            served: 0,
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
            last_write: Instant::now(),
        }
    }

    fn push(&mut self, verdict: Verdict) {
        if let Ok(mut q) = self.verdicts.lock() {
            q.push_back(verdict);
        }
        self.served += 1;
    }

    fn refuse(&mut self, status: StatusCode, reason: Option<Reason>) {
        let line = self
            .head
            .split(|b| *b == b'\n')
            .find(|l| !l.trim_ascii().is_empty());
        let request_line = line.map(|l| {
            let l = l.strip_suffix(b"\r").unwrap_or(l);
            String::from_utf8_lossy(&l[..l.len().min(1024)]).into_owned()
        });
        self.push(Verdict {
            class: reason.map_or(Class::Compliant, Reason::class),
            reason,
            refuse: Some(status),
            close: true,
            request_line,
        });
        // Requests let through ahead of this one (pipelined in the same read) are still
        // hyper's to read, each with its verdict; the stand-in follows them.
        self.out.extend_from_slice(STAND_IN);
        self.head.clear();
        self.carry.clear();
        self.state = State::Refused;
    }

    /// Looks at `carry` (bytes not yet assigned) until they are all assigned or more are needed.
    fn process(&mut self) {
        while !self.carry.is_empty() {
            match &mut self.state {
                State::Refused => self.carry.clear(),
                State::Opaque => {
                    self.out.append(&mut self.carry);
                }
                State::Length(n) => {
                    let take = self
                        .carry
                        .len()
                        .min(usize::try_from(*n).unwrap_or(usize::MAX));
                    *n -= take as u64;
                    let done = *n == 0;
                    self.out.extend(self.carry.drain(..take));
                    if done {
                        self.start_head();
                    }
                }
                State::Chunked(c) => match c.advance(&self.carry) {
                    Some(end) => {
                        self.out.extend(self.carry.drain(..end));
                        self.start_head();
                    }
                    None => self.out.append(&mut self.carry),
                },
                State::Head => {
                    if self.head.is_empty() {
                        // RFC 9112 §2.2: empty lines before a request line are ignored.
                        let skip = self
                            .carry
                            .iter()
                            .take_while(|b| **b == b'\r' || **b == b'\n')
                            .count();
                        self.carry.drain(..skip);
                        if self.carry.is_empty() {
                            return;
                        }
                    }
                    let from = self.head.len().saturating_sub(3);
                    if self.head.is_empty() {
                        // The usual case, a head arriving whole: take the bytes, not a copy.
                        std::mem::swap(&mut self.head, &mut self.carry);
                    } else {
                        self.head.append(&mut self.carry);
                    }
                    match head_end(&self.head[from..]) {
                        Some(end) => {
                            let rest = self.head.split_off(from + end);
                            self.carry = rest;
                            self.head_complete();
                        }
                        None => self.check_head_size(),
                    }
                }
            }
        }
    }

    fn check_head_size(&mut self) {
        let line_open = !self.head.contains(&b'\n');
        if line_open && self.head.len() > desync::MAX_REQUEST_LINE {
            self.refuse(StatusCode::URI_TOO_LONG, None);
        } else if self.head.len() > MAX_HEAD {
            self.refuse(StatusCode::BAD_REQUEST, None);
        }
    }

    fn start_head(&mut self) {
        self.state = State::Head;
        self.timer
            .as_mut()
            .reset(Instant::now().max(self.last_write) + self.idle);
    }

    fn head_complete(&mut self) {
        let c = desync::classify(&self.head);
        let class = c.class();
        if class != Class::Compliant {
            tracing::debug!(reason = ?c.reason, "non-compliant request (desync mitigation)");
        }
        let decision = desync::decide(self.mode, class);
        if let Some(status) = c.refuse {
            return self.refuse(status, c.reason);
        }
        if decision == Decision::Block {
            return self.refuse(StatusCode::BAD_REQUEST, c.reason);
        }
        if c.rewrite {
            desync::normalise(&self.head, &mut self.out);
        } else if self.out.is_empty() {
            // The common case: the head goes on as received, without another copy.
            std::mem::swap(&mut self.out, &mut self.head);
            self.out_pos = 0;
        } else {
            self.out.extend_from_slice(&self.head);
        }
        self.head.clear();
        self.push(Verdict {
            class,
            reason: c.reason,
            refuse: None,
            close: decision == Decision::AllowThenClose,
            request_line: None,
        });
        self.state = match c.framing {
            Framing::None => {
                self.start_head();
                return;
            }
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::Chunked(Chunks::Size(0)),
            Framing::Opaque => State::Opaque,
        };
    }
}

/// The index just past the empty line ending a head in `bytes`, if there.
fn head_end(bytes: &[u8]) -> Option<usize> {
    // A vectorised search for each LF: heads are scanned whole on every request.
    memchr::memchr_iter(b'\n', bytes).find_map(|nl| match bytes.get(nl + 1) {
        Some(b'\n') => Some(nl + 2),
        Some(b'\r') if bytes.get(nl + 2) == Some(&b'\n') => Some(nl + 3),
        _ => None,
    })
}

impl<S: AsyncRead + Unpin> AsyncRead for H1Io<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.out_pos < this.out.len() {
                let n = buf.remaining().min(this.out.len() - this.out_pos);
                buf.put_slice(&this.out[this.out_pos..this.out_pos + n]);
                this.out_pos += n;
                if this.out_pos == this.out.len() {
                    this.out.clear();
                    this.out_pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            // Bodies and upgraded streams go straight into hyper's buffer.
            match &mut this.state {
                State::Opaque => return Pin::new(&mut this.inner).poll_read(cx, buf),
                State::Length(n) => {
                    let limit = buf
                        .remaining()
                        .min(usize::try_from(*n).unwrap_or(usize::MAX));
                    // Never read past the body: what follows is the next head.
                    let mut part = ReadBuf::new(buf.initialize_unfilled_to(limit));
                    ready!(Pin::new(&mut this.inner).poll_read(cx, &mut part))?;
                    let got = part.filled().len();
                    if got == 0 {
                        return Poll::Ready(Ok(()));
                    }
                    buf.advance(got);
                    *n -= got as u64;
                    if *n == 0 {
                        this.start_head();
                    }
                    return Poll::Ready(Ok(()));
                }
                State::Chunked(c) => {
                    let before = buf.filled().len();
                    ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
                    let fresh = &buf.filled()[before..];
                    if let Some(end) = c.advance(fresh) {
                        this.carry.extend_from_slice(&fresh[end..]);
                        buf.set_filled(before + end);
                        this.start_head();
                        this.process();
                    }
                    return Poll::Ready(Ok(()));
                }
                State::Head | State::Refused => {}
            }
            let mut rb = ReadBuf::new(&mut this.scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) if rb.filled().is_empty() => {
                    // The client closed: hyper sees the end of the stream (a half-sent head
                    // is dropped, as hyper would).
                    return Poll::Ready(Ok(()));
                }
                Poll::Ready(Ok(())) => {
                    let n = rb.filled().len();
                    this.carry.extend_from_slice(&this.scratch[..n]);
                    this.process();
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    if !matches!(this.state, State::Head) {
                        return Poll::Pending;
                    }
                    // docs/aws-rules.md §ALB-2.3: an idle keep-alive connection is hyper's to close; a new connection
                    // or a half-sent head waits for the idle timeout, then gets a 408.
                    if this.head.is_empty() && this.served > 0 {
                        return Poll::Pending;
                    }
                    ready!(this.timer.as_mut().poll(cx));
                    let deadline = this.last_write + this.idle;
                    if deadline > Instant::now() {
                        this.timer.as_mut().reset(deadline);
                        continue;
                    }
                    this.refuse(StatusCode::REQUEST_TIMEOUT, None);
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for H1Io<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.last_write = Instant::now();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.last_write = Instant::now();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// What the listener decided about one request head its HTTP/1 front gathered (desync
/// mitigation and request limits, docs/aws-fidelity.md), as
/// [`screen_http1`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadVerdict {
    /// The access log's `classification` field; `None` (logged `-`) for a compliant head.
    pub classification: Option<&'static str>,
    /// The access log's `classification_reason` field.
    pub reason: Option<&'static str>,
    /// The status the load balancer answers instead of forwarding the request.
    pub refused: Option<StatusCode>,
    /// The client and target connections are closed after the response.
    pub close: bool,
}

/// What [`screen_http1`] saw come out of the listener's HTTP/1 front.
#[derive(Debug, Clone, Default)]
pub struct Screened {
    /// The bytes hyper reads: heads as received or normalised, bodies, and a stand-in request
    /// for a refused head.
    pub forwarded: Vec<u8>,
    /// One verdict per head handed to hyper, in order.
    pub verdicts: Vec<HeadVerdict>,
    /// Bytes the client sent that were never read when hyper saw the end of the stream (none,
    /// unless the front ends a stream early).
    pub unread: usize,
}

/// Runs a client's bytes, arriving in `pieces`, through the listener's HTTP/1 front in `mode`
/// (the same gathering, classification, normalisation and body framing as a served
/// connection), reading as hyper reads until the end of the stream. For checks of the desync
/// mitigation without sockets (the fuzz targets).
///
/// Must be called inside a Tokio runtime with time enabled: the front's idle timer is created,
/// though never awaited, since every byte is already there.
pub fn screen_http1(pieces: &[&[u8]], mode: DesyncMode) -> Screened {
    let verdicts = Verdicts::default();
    let client = Pieces {
        pieces: pieces.iter().copied().filter(|p| !p.is_empty()).collect(),
    };
    let mut io = H1Io::new(client, mode, Duration::from_secs(60), verdicts.clone());
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let mut screened = Screened::default();
    let mut buf = vec![0; 8 * 1024];
    loop {
        let mut rb = ReadBuf::new(&mut buf);
        match Pin::new(&mut io).poll_read(&mut cx, &mut rb) {
            Poll::Ready(Ok(())) if !rb.filled().is_empty() => {
                screened.forwarded.extend_from_slice(rb.filled());
            }
            // The end of the stream as hyper sees it (the client never waits, nor fails).
            Poll::Ready(_) | Poll::Pending => break,
        }
    }
    screened.unread = io.inner.pieces.iter().map(|p| p.len()).sum();
    if let Ok(mut queue) = verdicts.lock() {
        screened.verdicts = queue
            .drain(..)
            .map(|v| HeadVerdict {
                classification: v.class.log_name(),
                reason: v.reason.map(Reason::as_str),
                refused: v.refuse,
                close: v.close,
            })
            .collect();
    }
    screened
}

/// A client whose bytes are all there, in the pieces they arrive in.
struct Pieces<'a> {
    pieces: VecDeque<&'a [u8]>,
}

impl AsyncRead for Pieces<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(piece) = self.pieces.pop_front() {
            let n = piece.len().min(buf.remaining());
            buf.put_slice(&piece[..n]);
            if n < piece.len() {
                self.pieces.push_front(&piece[n..]);
            }
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_framing_finds_the_end_of_the_body() {
        let body = b"5;ext=1\r\nhello\r\n0\r\nTrailer: x\r\n\r\nGET /next";
        let mut c = Chunks::Size(0);
        assert_eq!(c.advance(body), Some(body.len() - b"GET /next".len()));
        // Byte by byte gives the same answer.
        let mut c = Chunks::Size(0);
        let ends: Vec<usize> = body
            .iter()
            .enumerate()
            .filter_map(|(i, b)| c.advance(std::slice::from_ref(b)).map(|_| i))
            .collect();
        assert_eq!(ends, vec![body.len() - b"GET /next".len() - 1]);
        let mut c = Chunks::Size(0);
        assert_eq!(c.advance(b"0\r\n\r\n"), Some(5));
    }

    /// `screen_http1` reports what a served connection does: a compliant head and its body go
    /// on unchanged, a normalised head goes on rewritten, a refused head becomes the stand-in
    /// and ends the stream, in whatever pieces the bytes arrive.
    #[tokio::test]
    async fn screening_reports_what_the_connection_forwards() {
        let stream: &[u8] = b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc\
            GET /b c HTTP/1.1\r\nHost: h\r\n\r\n\
            GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx";
        for size in [1, 7, stream.len()] {
            let pieces: Vec<&[u8]> = stream.chunks(size).collect();
            let s = screen_http1(&pieces, DesyncMode::Defensive);
            assert_eq!(s.unread, 0);
            let forwarded = String::from_utf8(s.forwarded).unwrap_or_default();
            assert_eq!(
                forwarded,
                "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc\
                 GET /b%20c HTTP/1.1\r\nHost: h\r\n\r\n\
                 GET / HTTP/1.1\r\nhost: refused.invalid\r\n\r\n",
                "pieces of {size}"
            );
            let reasons: Vec<_> = s.verdicts.iter().map(|v| (v.reason, v.refused)).collect();
            assert_eq!(
                reasons,
                [
                    (None, None),
                    (Some("SpaceInUri"), None),
                    (Some("MultipleContentLength"), Some(StatusCode::BAD_REQUEST)),
                ]
            );
            assert_eq!(s.verdicts[1].classification, Some("Acceptable"));
            assert!(s.verdicts[2].close);
        }
    }

    #[test]
    fn head_end_accepts_crlf_and_bare_lf() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nrest"), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\nrest"), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
    }
}
