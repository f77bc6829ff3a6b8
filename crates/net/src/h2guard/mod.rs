//! Malformed HTTP/2 header blocks as stream errors: an IO adapter between TLS and the h2 crate.
//!
//! RFC 9113 §8.1.1 makes a malformed request (an unknown pseudo-header, an upper-case name, a
//! control byte in a value, a bad `:method`, ...) a stream error: `RST_STREAM(PROTOCOL_ERROR)`
//! for that stream, the connection serving on. The h2 crate (0.4) finds some of these only
//! inside its HPACK decoder, which then stops mid-block; since the shared dynamic table is no
//! longer known, h2 ends the whole connection with `GOAWAY(PROTOCOL_ERROR)`.
//!
//! [`H2Guard`] reads the client's bytes before h2 does. After the connection preface it follows
//! the frames (RFC 9113 §4.1): other frames pass through untouched, read straight into the
//! caller's buffer; a header block (`HEADERS` and its `CONTINUATION`s) is decoded by a mirror of
//! the server's HPACK decoder (`hpack`), in place when it arrived whole, else held in the
//! adapter's buffer until its last frame. A block h2 accepts passes through byte for byte. A
//! block h2 would refuse is rewritten: each refused field becomes a valid stand-in of the same
//! size, so that h2's dynamic table stays exactly the client's, and one field h2 refuses only
//! after decoding (`connection: x`) is appended, so h2 resets that stream and nothing else.
//!
//! The adapter never makes a connection fail that would have worked: whatever it cannot follow
//! (a bad preface, a frame larger than the server's maximum, a block that is not valid HPACK or
//! larger than it will hold, a `CONTINUATION` or `PUSH_PROMISE` out of place, the end of the
//! stream inside a frame) makes it release what it holds unchanged and stop inspecting for the
//! rest of the connection, leaving h2 to decide as it would without the adapter.
//!
//! Writes pass straight through.

mod hpack;
mod huffman;
#[cfg(test)]
mod tests;

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The client connection preface (RFC 9113 §3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A frame header's length (RFC 9113 §4.1).
const FRAME_HEADER: usize = 9;

const HEADERS: u8 = 0x1;
const PUSH_PROMISE: u8 = 0x5;
const CONTINUATION: u8 = 0x9;

const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

/// The largest frame the servers accept: `SETTINGS_MAX_FRAME_SIZE` as hyper 1 advertises it
/// (16 KiB, RFC 9113 §6.5.2's initial value); neither server changes it.
pub const MAX_FRAME_SIZE: usize = 16 * 1024;

/// The HPACK table size the servers' decoders allow (`SETTINGS_HEADER_TABLE_SIZE` at its
/// initial value, RFC 9113 §6.5.2; hyper does not change it unless told to).
pub const HEADER_TABLE_SIZE: usize = 4096;

/// hyper 1's HTTP/2 server `SETTINGS_MAX_HEADER_LIST_SIZE` when none is set (16 KiB).
pub const HYPER_MAX_HEADER_LIST_SIZE: usize = 16 * 1024;

/// How much more than the header list size a held block may take (frame headers, HPACK
/// overhead) before the adapter stops holding and lets h2 decide.
const HOLD_SLACK: usize = 16 * 1024;

/// A server-side HTTP/2 stream whose malformed header blocks become stream errors (see the
/// module documentation).
pub struct H2Guard<S> {
    inner: S,
    screen: Screen,
    pending: Pending,
}

impl<S> H2Guard<S> {
    /// Wraps the server's side of a connection that speaks HTTP/2 from its first byte (after
    /// ALPN `h2`), for a server whose `SETTINGS_MAX_HEADER_LIST_SIZE` is
    /// `max_header_list_size`.
    pub fn new(inner: S, max_header_list_size: usize) -> Self {
        H2Guard {
            inner,
            screen: Screen::new(max_header_list_size),
            pending: Pending::default(),
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

/// Bytes read from the wrapped stream and not yet handed to the reader: `buf[start..ready]`
/// may go, `buf[ready..end]` waits for the rest of its frame or header block. `buf` beyond `end`
/// is zeroed room for the next read, kept so that reads do not zero it again each time.
#[derive(Default)]
struct Pending {
    buf: Vec<u8>,
    start: usize,
    ready: usize,
    end: usize,
    /// How many more bytes the waiting frame or block needs before it can be looked at again.
    /// The next read asks for no more, so that what waits is released whole and reads go
    /// straight to the caller's buffer again, instead of every large read ending inside a
    /// frame and keeping the stream on this buffer.
    need: usize,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.start == self.end
    }

    fn clear(&mut self) {
        self.start = 0;
        self.ready = 0;
        self.end = 0;
        // A burst of held blocks leaves no large buffer behind on an idle connection.
        if self.buf.capacity() > 4 * MAX_FRAME_SIZE {
            self.buf = Vec::new();
        }
    }

    /// Appends bytes that still have to be scanned.
    fn push(&mut self, bytes: &[u8]) {
        self.buf.truncate(self.end);
        self.buf.extend_from_slice(bytes);
        self.end = self.buf.len();
    }

    /// Moves what is left to the front and makes room to read the bytes that waiting frame or
    /// block needs, no more.
    fn room(&mut self) -> &mut [u8] {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.ready -= self.start;
            self.start = 0;
        }
        let want = self.end + self.need.max(1);
        if self.buf.len() < want {
            self.buf.resize(want.max(self.end + FRAME_HEADER), 0);
        }
        &mut self.buf[self.end..want]
    }

    /// Scans what waits, releasing whole frames and (rewritten if need be) header blocks.
    fn advance(&mut self, screen: &mut Screen) {
        while self.ready < self.end {
            match screen.scan(&self.buf[self.ready..self.end]) {
                Scanned::All => self.ready = self.end,
                Scanned::Stop { at, need } => {
                    self.ready += at;
                    self.need = need;
                    if self.end - self.ready > screen.max_hold {
                        screen.disabled = true;
                        self.ready = self.end;
                    }
                    return;
                }
                Scanned::Rewrite { at, end } => {
                    let from = self.ready + at;
                    let frames = &screen.frames;
                    self.buf.truncate(self.end);
                    self.buf
                        .splice(from..self.ready + end, frames.iter().copied());
                    self.end = self.buf.len();
                    self.ready = from + frames.len();
                }
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for H2Guard<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            let pending = &mut this.pending;
            if pending.ready > pending.start {
                let n = (pending.ready - pending.start).min(buf.remaining());
                buf.put_slice(&pending.buf[pending.start..pending.start + n]);
                pending.start += n;
                if pending.is_empty() {
                    pending.clear();
                }
                return Poll::Ready(Ok(()));
            }
            if pending.is_empty() {
                if this.screen.disabled {
                    return Pin::new(&mut this.inner).poll_read(cx, buf);
                }
                // The common path: read into the caller's buffer and look at the frames there.
                let before = buf.filled().len();
                ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
                let filled = buf.filled();
                if filled.len() == before {
                    return Poll::Ready(Ok(()));
                }
                let fresh = &filled[before..];
                let keep = match this.screen.scan(fresh) {
                    Scanned::All => return Poll::Ready(Ok(())),
                    Scanned::Stop { at, need } => {
                        pending.push(&fresh[at..]);
                        pending.need = need;
                        at
                    }
                    Scanned::Rewrite { at, end } => {
                        pending.push(&this.screen.frames);
                        pending.ready = pending.end;
                        pending.push(&fresh[end..]);
                        pending.advance(&mut this.screen);
                        at
                    }
                };
                buf.set_filled(before + keep);
                if keep > 0 {
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            // Part of a frame or header block waits: read more behind it.
            let mut more = ReadBuf::new(pending.room());
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut more))?;
            let n = more.filled().len();
            if n == 0 {
                // The stream ended inside a frame: h2 sees what there is.
                this.screen.disabled = true;
                pending.ready = pending.end;
                continue;
            }
            pending.end += n;
            pending.advance(&mut this.screen);
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for H2Guard<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
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

/// What [`Screen::scan`] made of the bytes it was given.
#[derive(Debug, PartialEq, Eq)]
enum Scanned {
    /// All of them may go to h2.
    All,
    /// The bytes before `at` may go; from `at` on, a frame header or header block is not
    /// complete yet, and needs at least `need` more bytes to get on. Scanning resumes at `at`,
    /// given more bytes behind it.
    Stop { at: usize, need: usize },
    /// The bytes before `at` may go; the header block in `at..end` is replaced by the frames in
    /// [`Screen::frames`]; scanning resumes at `end`.
    Rewrite { at: usize, end: usize },
}

/// The frame-level state of the client's byte stream, and the HPACK mirror.
struct Screen {
    /// Preface bytes still expected.
    preface: usize,
    /// Payload bytes of the current (non-header) frame still to pass.
    skip: usize,
    /// Inspection has stopped for good; everything passes.
    disabled: bool,
    max_hold: usize,
    max_continuations: usize,
    mirror: hpack::Mirror,
    work: hpack::Work,
    /// A block that came in several frames, its fragments joined.
    joined: Vec<u8>,
    /// The frames of the last rewritten block.
    frames: Vec<u8>,
}

/// What one header block came to.
enum Block {
    /// Its frames are not all there yet; at least this many more bytes are needed to get on.
    Incomplete(usize),
    /// It takes `len` bytes and h2 accepts it.
    Fine(usize),
    /// It takes `len` bytes and was rewritten into [`Screen::frames`].
    Rewritten(usize),
    /// Stop inspecting.
    Unknown,
}

impl Screen {
    fn new(max_header_list_size: usize) -> Screen {
        // h2's limit on `CONTINUATION` frames (`calc_max_continuation_frames`): a rewritten block
        // is not split into more.
        let frames = (max_header_list_size / MAX_FRAME_SIZE).max(1);
        Screen {
            preface: PREFACE.len(),
            skip: 0,
            disabled: false,
            max_hold: max_header_list_size.saturating_add(HOLD_SLACK),
            max_continuations: (frames + frames / 4).max(5),
            mirror: hpack::Mirror::new(HEADER_TABLE_SIZE),
            work: hpack::Work::default(),
            joined: Vec::new(),
            frames: Vec::new(),
        }
    }

    /// Follows the frames in `data`, which continues the stream where the last call stopped.
    fn scan(&mut self, data: &[u8]) -> Scanned {
        if self.disabled {
            return Scanned::All;
        }
        let mut i = 0;
        if self.preface > 0 {
            let n = self.preface.min(data.len());
            let from = PREFACE.len() - self.preface;
            if data[..n] != PREFACE[from..from + n] {
                self.disabled = true;
                return Scanned::All;
            }
            self.preface -= n;
            i = n;
        }
        if self.skip > 0 {
            let n = self.skip.min(data.len() - i);
            self.skip -= n;
            i += n;
        }
        loop {
            let rest = &data[i..];
            if rest.is_empty() {
                return Scanned::All;
            }
            if rest.len() < FRAME_HEADER {
                return Scanned::Stop {
                    at: i,
                    need: FRAME_HEADER - rest.len(),
                };
            }
            let len = frame_len(rest);
            if len > MAX_FRAME_SIZE {
                self.disabled = true;
                return Scanned::All;
            }
            match rest[3] {
                HEADERS => match self.block(rest) {
                    Block::Incomplete(need) => return Scanned::Stop { at: i, need },
                    Block::Fine(n) => i += n,
                    Block::Rewritten(n) => return Scanned::Rewrite { at: i, end: i + n },
                    Block::Unknown => {
                        self.disabled = true;
                        return Scanned::All;
                    }
                },
                // A client never sends `PUSH_PROMISE`, and `CONTINUATION` only inside a block:
                // h2 ends the connection; whether it decoded the block first is its business.
                PUSH_PROMISE | CONTINUATION => {
                    self.disabled = true;
                    return Scanned::All;
                }
                _ => {
                    let there = rest.len() - FRAME_HEADER;
                    if len > there {
                        self.skip = len - there;
                        return Scanned::All;
                    }
                    i += FRAME_HEADER + len;
                }
            }
        }
    }

    /// The header block starting with the `HEADERS` frame at the start of `data`.
    fn block(&mut self, data: &[u8]) -> Block {
        let flags = data[4];
        let stream = stream_id(data);
        let len = frame_len(data);
        if data.len() < FRAME_HEADER + len {
            return Block::Incomplete(FRAME_HEADER + len - data.len());
        }
        if stream == 0 {
            return Block::Unknown;
        }
        let payload = &data[FRAME_HEADER..FRAME_HEADER + len];
        // RFC 9113 §6.2: padding and priority around the fragment.
        let mut from = 0;
        let mut pad = 0;
        if flags & PADDED != 0 {
            let Some(&p) = payload.first() else {
                return Block::Unknown;
            };
            pad = usize::from(p);
            from = 1;
        }
        if flags & PRIORITY != 0 {
            from += 5;
        }
        if from + pad > len {
            return Block::Unknown;
        }
        let first = &payload[from..len - pad];
        let mut end = FRAME_HEADER + len;
        let fragment: &[u8] = if flags & END_HEADERS != 0 {
            first
        } else {
            // Find the `CONTINUATION`s of the same stream (RFC 9113 §6.10) before joining their
            // fragments: a block is looked at again each time more of it arrives. h2 ends the
            // connection past `max_continuations` frames.
            // The limits depend on the frames only, not on how they arrived: a block is
            // refused the same whether it came in one read or many.
            let mut continuations = 0;
            loop {
                let rest = &data[end..];
                if continuations > self.max_continuations {
                    return Block::Unknown;
                }
                if rest.len() < FRAME_HEADER {
                    return Block::Incomplete(FRAME_HEADER - rest.len());
                }
                let n = frame_len(rest);
                if rest[3] != CONTINUATION || stream_id(rest) != stream || n > MAX_FRAME_SIZE {
                    return Block::Unknown;
                }
                if end + FRAME_HEADER + n > self.max_hold {
                    return Block::Unknown;
                }
                if rest.len() < FRAME_HEADER + n {
                    return Block::Incomplete(FRAME_HEADER + n - rest.len());
                }
                end += FRAME_HEADER + n;
                continuations += 1;
                if rest[4] & END_HEADERS != 0 {
                    break;
                }
            }
            self.joined.clear();
            self.joined.extend_from_slice(first);
            let mut at = FRAME_HEADER + len;
            while at < end {
                let n = frame_len(&data[at..]);
                self.joined
                    .extend_from_slice(&data[at + FRAME_HEADER..at + FRAME_HEADER + n]);
                at += FRAME_HEADER + n;
            }
            &self.joined
        };
        match self.mirror.screen(fragment, &mut self.work) {
            hpack::Verdict::Fine => Block::Fine(end),
            hpack::Verdict::Unknown => Block::Unknown,
            hpack::Verdict::Rewritten { first_malformed } => {
                if frame_block(
                    &self.work.block,
                    first_malformed,
                    stream,
                    flags & END_STREAM,
                    self.max_continuations,
                    &mut self.frames,
                ) {
                    Block::Rewritten(end)
                } else {
                    Block::Unknown
                }
            }
        }
    }
}

/// Frames a rewritten `block` for `stream`: one `HEADERS` frame, then `CONTINUATION`s if it is
/// larger than a frame. h2 decodes each frame's fields as the frame arrives and resets the
/// stream as soon as a frame makes the request malformed, so every field from
/// `first_malformed` on must be in the last frame; `false` if that cannot be, or if it would
/// take more `CONTINUATION` frames than h2 allows.
fn frame_block(
    block: &[u8],
    first_malformed: usize,
    stream: u32,
    end_stream: u8,
    max_continuations: usize,
    out: &mut Vec<u8>,
) -> bool {
    out.clear();
    let last = block.len().saturating_sub(MAX_FRAME_SIZE);
    if last > first_malformed {
        return false;
    }
    let mut chunks: Vec<&[u8]> = Vec::new();
    let mut rest = &block[..last];
    while !rest.is_empty() {
        let n = rest.len().min(MAX_FRAME_SIZE);
        chunks.push(&rest[..n]);
        rest = &rest[n..];
    }
    chunks.push(&block[last..]);
    if chunks.len() - 1 > max_continuations {
        return false;
    }
    let count = chunks.len();
    for (k, chunk) in chunks.into_iter().enumerate() {
        let (kind, mut flags) = if k == 0 {
            (HEADERS, end_stream)
        } else {
            (CONTINUATION, 0)
        };
        if k + 1 == count {
            flags |= END_HEADERS;
        }
        let len = u32::try_from(chunk.len()).unwrap_or(u32::MAX).to_be_bytes();
        out.extend_from_slice(&[len[1], len[2], len[3], kind, flags]);
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(chunk);
    }
    true
}

/// The payload length in a frame header.
fn frame_len(head: &[u8]) -> usize {
    usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2])
}

/// The stream identifier in a frame header, without the reserved bit.
fn stream_id(head: &[u8]) -> u32 {
    u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff
}

/// HPACK's Huffman code for `src` (RFC 7541 §5.2), for tests and benchmarks that write header
/// blocks as clients do; not for the request path.
#[doc(hidden)]
pub fn huffman_encode(src: &[u8]) -> Vec<u8> {
    huffman::encode(src)
}

/// What [`screen_stream`] made of a client byte stream.
#[doc(hidden)]
#[derive(Debug)]
pub struct Screened {
    /// What h2 would read.
    pub bytes: Vec<u8>,
    /// Whether the adapter stopped inspecting on the way (the rest passed unchanged).
    pub stopped: bool,
}

/// Runs the adapter's screening over a client byte stream given in `chunks` as a reader would
/// see them arrive, the stream ending after the last (the fuzz target's entry point; not for
/// the request path).
#[doc(hidden)]
pub fn screen_stream<'a>(
    chunks: impl IntoIterator<Item = &'a [u8]>,
    max_header_list_size: usize,
) -> Screened {
    let mut screen = Screen::new(max_header_list_size);
    let mut pending = Pending::default();
    let mut out = Vec::new();
    for chunk in chunks {
        if pending.is_empty() {
            match screen.scan(chunk) {
                Scanned::All => out.extend_from_slice(chunk),
                Scanned::Stop { at, need } => {
                    out.extend_from_slice(&chunk[..at]);
                    pending.push(&chunk[at..]);
                    pending.need = need;
                }
                Scanned::Rewrite { at, end } => {
                    out.extend_from_slice(&chunk[..at]);
                    pending.push(&screen.frames);
                    pending.ready = pending.end;
                    pending.push(&chunk[end..]);
                    pending.advance(&mut screen);
                }
            }
        } else {
            pending.push(chunk);
            pending.advance(&mut screen);
        }
        out.extend_from_slice(&pending.buf[pending.start..pending.ready]);
        pending.start = pending.ready;
        if pending.is_empty() {
            pending.clear();
        }
    }
    if !pending.is_empty() {
        // The stream ended inside a frame.
        screen.disabled = true;
        out.extend_from_slice(&pending.buf[pending.start..pending.end]);
    }
    Screened {
        bytes: out,
        stopped: screen.disabled,
    }
}
