//! In-process pipes: the connections between airlock's own parts.
//!
//! A pipe behaves as a loopback TCP connection does for the protocols on top: bytes in order,
//! a bounded buffer per direction (a writer waits when it is full), half-close with
//! `shutdown` (the peer reads EOF once it has read everything), EOF for the peer when one end
//! is dropped, and `BrokenPipe` for a writer whose peer is gone.
//!
//! It does what `tokio::io::duplex` does, cheaper where the request path feels it: a read
//! that finds nothing (every HTTP/1 connection polls once more per request to notice a
//! hang-up, and every layer above forwards that poll) keeps the waker it already holds when
//! the same task polls again instead of cloning a new one and dropping the old, and the wakers
//! a call replaces or wakes are handled after the lock is released.

use crate::sync::lock;
use bytes::{Buf, BytesMut};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// One direction: what the writer wrote and the reader has not read yet.
#[derive(Debug)]
struct Direction {
    buffer: BytesMut,
    capacity: usize,
    /// The writer shut down or went away, or the reader went away: no more bytes will flow.
    closed: bool,
    /// The reader waiting for bytes.
    reader: Option<Waker>,
    /// The writer waiting for room.
    writer: Option<Waker>,
}

impl Direction {
    fn new(capacity: usize) -> Arc<Mutex<Self>> {
        Arc::new(Mutex::new(Direction {
            buffer: BytesMut::new(),
            capacity,
            closed: false,
            reader: None,
            writer: None,
        }))
    }
}

/// One end of an in-process pipe (see the module documentation).
#[derive(Debug)]
pub struct Pipe {
    /// What this end reads: the peer's writes.
    read: Arc<Mutex<Direction>>,
    /// What this end writes: the peer's reads.
    write: Arc<Mutex<Direction>>,
}

/// How much one direction of an in-process connection buffers before the writer waits: about
/// what a loopback TCP socket's buffers hold at first, so flow control feels the same.
pub const PIPE_BUFFER: usize = 64 * 1024;

/// A connected pair of pipe ends, each direction buffering up to `capacity` bytes.
pub fn pipe(capacity: usize) -> (Pipe, Pipe) {
    let one = Direction::new(capacity);
    let two = Direction::new(capacity);
    (
        Pipe {
            read: one.clone(),
            write: two.clone(),
        },
        Pipe {
            read: two,
            write: one,
        },
    )
}

/// Stores the waker of the task now waiting in `slot`. The one it replaces, if any, is
/// returned to be dropped after the lock is released: dropping the last reference to a task
/// may drop that task's end of this very pipe, which locks it.
fn register(slot: &mut Option<Waker>, cx: &Context<'_>) -> Option<Waker> {
    match slot {
        Some(waker) if waker.will_wake(cx.waker()) => None,
        _ => slot.replace(cx.waker().clone()),
    }
}

impl AsyncRead for Pipe {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        // A pipe that always has bytes must not keep its task from yielding, as a socket won't.
        let coop = std::task::ready!(tokio::task::coop::poll_proceed(cx));
        let mut d = lock(&self.read);
        if d.buffer.has_remaining() {
            let n = d.buffer.len().min(buf.remaining());
            buf.put_slice(&d.buffer[..n]);
            d.buffer.advance(n);
            let writer = d.writer.take();
            drop(d);
            coop.made_progress();
            if let Some(w) = writer {
                w.wake();
            }
            Poll::Ready(Ok(()))
        } else if d.closed {
            coop.made_progress();
            Poll::Ready(Ok(()))
        } else {
            let replaced = register(&mut d.reader, cx);
            drop(d);
            drop(replaced);
            Poll::Pending
        }
    }
}

impl Pipe {
    /// Writes what fits of `bufs` in order; `Pending` (writer registered) when nothing fits.
    fn poll_write_slices(
        &self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let coop = std::task::ready!(tokio::task::coop::poll_proceed(cx));
        let mut d = lock(&self.write);
        if d.closed {
            coop.made_progress();
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            coop.made_progress();
            return Poll::Ready(Ok(0));
        }
        let room = d.capacity.saturating_sub(d.buffer.len());
        if room == 0 {
            let replaced = register(&mut d.writer, cx);
            drop(d);
            drop(replaced);
            return Poll::Pending;
        }
        let mut left = room.min(total);
        let written = left;
        d.buffer.reserve(left);
        for b in bufs {
            if left == 0 {
                break;
            }
            let n = b.len().min(left);
            d.buffer.extend_from_slice(&b[..n]);
            left -= n;
        }
        let reader = d.reader.take();
        drop(d);
        coop.made_progress();
        if let Some(w) = reader {
            w.wake();
        }
        Poll::Ready(Ok(written))
    }
}

/// Closes one direction and wakes whoever waits on it: its reader sees EOF once the buffer is
/// empty, its writer `BrokenPipe`. (The closing end's own waker, if any, gets a harmless
/// spurious wake.)
fn close(direction: &Mutex<Direction>) {
    let mut d = lock(direction);
    d.closed = true;
    let (reader, writer) = (d.reader.take(), d.writer.take());
    drop(d);
    for w in [reader, writer].into_iter().flatten() {
        w.wake();
    }
}

impl AsyncWrite for Pipe {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_slices(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_slices(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The peer reads EOF after what is buffered.
        close(&self.write);
        Poll::Ready(Ok(()))
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        // The peer reads EOF; the peer's writes fail with `BrokenPipe`.
        close(&self.write);
        close(&self.read);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Bytes arrive in order in both directions, across more than one buffer's worth.
    #[tokio::test]
    async fn bytes_flow_in_order_both_ways_past_the_buffer() {
        let (mut a, mut b) = pipe(1024);
        let data: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            a.write_all(&sent).await.unwrap();
            a.shutdown().await.unwrap();
            let mut back = Vec::new();
            a.read_to_end(&mut back).await.unwrap();
            back
        });
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, data, "EOF comes after every byte, in order");
        b.write_all(b"reply after half-close").await.unwrap();
        drop(b);
        assert_eq!(writer.await.unwrap(), b"reply after half-close");
    }

    /// A full buffer makes the writer wait until the reader takes bytes.
    // Paused time: the timeout below ends once nothing else can run, not after wall-clock time.
    #[tokio::test(start_paused = true)]
    async fn a_full_pipe_makes_the_writer_wait() {
        let (mut a, mut b) = pipe(8);
        assert_eq!(a.write(b"0123456789").await.unwrap(), 8, "only what fits");
        let blocked = tokio::time::timeout(std::time::Duration::from_millis(50), a.write(b"x"));
        assert!(blocked.await.is_err(), "no room: the writer waits");
        let mut buf = [0u8; 4];
        b.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"0123");
        assert_eq!(a.write(b"xyz").await.unwrap(), 3, "room again after a read");
    }

    /// Dropping one end gives its peer EOF on read and `BrokenPipe` on write, and wakes a
    /// peer already waiting.
    #[tokio::test]
    async fn a_dropped_end_means_eof_and_broken_pipe() {
        let (a, mut b) = pipe(64);
        let waiting = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            let n = b.read(&mut buf).await.unwrap();
            let write = b.write(b"late").await;
            (n, write.map_err(|e| e.kind()))
        });
        tokio::task::yield_now().await;
        drop(a);
        let (n, write) = waiting.await.unwrap();
        assert_eq!(n, 0, "EOF");
        assert_eq!(write, Err(io::ErrorKind::BrokenPipe));
    }

    /// A reader polled again by the same task keeps its waker; one polled by another task
    /// hands the wake-up to that task.
    // Paused time: the timeout below ends once nothing else can run, not after wall-clock time.
    #[tokio::test(start_paused = true)]
    async fn the_latest_waiting_task_is_woken() {
        let (mut a, b) = pipe(64);
        let b = Arc::new(tokio::sync::Mutex::new(b));
        let first = {
            let b = b.clone();
            tokio::spawn(async move {
                let mut b = b.lock().await;
                let mut buf = [0u8; 1];
                let read =
                    tokio::time::timeout(std::time::Duration::from_millis(20), b.read(&mut buf))
                        .await;
                assert!(read.is_err(), "nothing written yet");
            })
        };
        first.await.unwrap();
        let second = tokio::spawn(async move {
            let mut b = b.lock().await;
            let mut buf = [0u8; 5];
            b.read_exact(&mut buf).await.unwrap();
            buf
        });
        tokio::task::yield_now().await;
        a.write_all(b"hello").await.unwrap();
        assert_eq!(&second.await.unwrap(), b"hello");
    }
}
