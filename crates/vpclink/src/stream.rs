//! One tunnel as a byte stream: an HTTP/2 `CONNECT` stream's DATA frames, read and written by
//! the task that uses the tunnel.
//!
//! The h2 crate is used directly rather than through hyper's upgrade: hyper bridges every
//! upgraded HTTP/2 stream through a task of its own and a channel, one more task hop and copy
//! per write on each side of the link; here a write goes straight into the stream's send buffer.

use airlock_pool::relay::Relay;
use bytes::{Buf, Bytes};
use h2::{RecvStream, SendStream};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Streams one gateway connection may carry at once: every in-flight integration request of
/// every API using the link shares this connection.
pub(crate) const MAX_CONCURRENT_STREAMS: u32 = 4096;

/// How many bytes one tunnel may have in flight, unread by its receiver, in each direction
/// (HTTP/2's default stream window).
pub(crate) const TUNNEL_WINDOW: u32 = 65_535;

/// How many bytes all the tunnels of one link connection may have in flight together: room
/// for every tunnel's own window at once. HTTP/2 also counts a stream's unread bytes against
/// its connection's window, whose default is as small as one stream's: a single tunnel whose
/// reader stopped (a server that answered before reading the whole request, a client that
/// stopped reading its response) would then hold every other tunnel of the connection still.
/// With this window, each tunnel is held back only by its own reader. Memory stays bounded by
/// the tunnel windows; this one only stops adding a limit across them.
pub(crate) const CONNECTION_WINDOW: u32 = TUNNEL_WINDOW * MAX_CONCURRENT_STREAMS;

/// Gathered writes up to this size are joined into one frame; larger ones go buffer by buffer.
const MAX_GATHER: usize = 64 * 1024;

/// Both halves of a tunnel's HTTP/2 stream.
#[derive(Debug)]
pub(crate) struct H2Stream {
    send: SendStream<Bytes>,
    recv: RecvStream,
    /// The rest of the DATA frame being read.
    unread: Bytes,
    /// Whether our half has been closed (END_STREAM sent).
    shut: bool,
    /// What the receiving half is polled with: it passes h2's wake-ups on to the reading task
    /// and remembers whether data (or the end) has arrived since h2 last said "nothing yet".
    /// Readers ask far more often than data arrives: TLS reads until it would block, and
    /// HTTP/1 probes an idle connection at every turn of its task. Each such question to h2
    /// locks the state the whole connection shares, to find the stream and re-register the
    /// waker. While nothing has arrived, the answer is known without asking.
    arrivals: Arc<Relay>,
    /// `arrivals` as a waker, made once.
    arrivals_waker: Waker,
    /// The receiving half said "nothing yet" and holds `arrivals_waker` to say when that changes.
    armed: bool,
}

impl H2Stream {
    pub(crate) fn new(send: SendStream<Bytes>, recv: RecvStream) -> H2Stream {
        let (arrivals, arrivals_waker) = Relay::new();
        H2Stream {
            send,
            recv,
            unread: Bytes::new(),
            shut: false,
            arrivals,
            arrivals_waker,
            armed: false,
        }
    }

    /// The next DATA frame, an error, or the end; `Pending` without asking h2 when it has not
    /// woken us since it last said "nothing yet" to this same task.
    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, h2::Error>>> {
        let woken = self.arrivals.take_woken();
        let same_task = self.arrivals.follow(cx.waker());
        if self.armed && !woken && same_task {
            return Poll::Pending;
        }
        let polled = self
            .recv
            .poll_data(&mut Context::from_waker(&self.arrivals_waker));
        self.armed = polled.is_pending();
        polled
    }
}

/// The I/O error for an HTTP/2 stream error; a reset with NO_ERROR is a clean end.
fn to_io(e: h2::Error) -> io::Error {
    if e.is_io() {
        return e
            .into_io()
            .unwrap_or_else(|| io::Error::other("h2 I/O error"));
    }
    io::Error::new(io::ErrorKind::ConnectionReset, e)
}

impl AsyncRead for H2Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.unread.is_empty() {
                let n = out.remaining().min(this.unread.len());
                out.put_slice(&this.unread[..n]);
                this.unread.advance(n);
                return Poll::Ready(Ok(()));
            }
            match ready!(this.poll_data(cx)) {
                None => return Poll::Ready(Ok(())),
                Some(Ok(data)) => {
                    // The peer may send more as soon as we took this: its window reopens.
                    let _ = this.recv.flow_control().release_capacity(data.len());
                    this.unread = data;
                }
                Some(Err(e)) if e.reason() == Some(h2::Reason::NO_ERROR) => {
                    return Poll::Ready(Ok(()));
                }
                Some(Err(e)) => return Poll::Ready(Err(to_io(e))),
            }
        }
    }
}

impl H2Stream {
    /// Queues up to `len` bytes as one DATA frame once the stream has send capacity; `take(n)`
    /// gives the first `n` of them as the frame's payload.
    fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        len: usize,
        take: impl FnOnce(usize) -> Bytes,
    ) -> Poll<io::Result<usize>> {
        if len == 0 {
            return Poll::Ready(Ok(0));
        }
        if self.shut {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        self.send.reserve_capacity(len);
        loop {
            // Capacity already granted is used at once: poll_capacity only reports increases.
            let granted = self.send.capacity();
            if granted > 0 {
                let n = granted.min(len);
                self.send.send_data(take(n), false).map_err(to_io)?;
                return Poll::Ready(Ok(n));
            }
            match ready!(self.send.poll_capacity(cx)) {
                None => return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
                Some(Err(e)) => return Poll::Ready(Err(to_io(e))),
                Some(Ok(_)) => {}
            }
        }
    }
}

impl AsyncWrite for H2Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_send(cx, buf.len(), |n| Bytes::copy_from_slice(&buf[..n]))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // Several buffers (TLS records, say) go out as one DATA frame rather than one each,
        // gathered straight into the frame's payload.
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if bufs.len() <= 1 || total > MAX_GATHER {
            let first = bufs
                .iter()
                .find(|b| !b.is_empty())
                .map_or(&[][..], |b| &b[..]);
            return self.poll_write(cx, first);
        }
        self.get_mut().poll_send(cx, total, |n| {
            let mut joined = Vec::with_capacity(n);
            for b in bufs {
                let room = n - joined.len();
                if room == 0 {
                    break;
                }
                joined.extend_from_slice(&b[..b.len().min(room)]);
            }
            Bytes::from(joined)
        })
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The connection's task writes frames out as soon as they are queued.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.shut {
            this.shut = true;
            // Half-close: END_STREAM on an empty DATA frame. A stream the peer already reset
            // has nothing left to close.
            let _ = this.send.send_data(Bytes::new(), true);
        }
        Poll::Ready(Ok(()))
    }
}
