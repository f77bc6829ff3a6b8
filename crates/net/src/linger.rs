//! The lingering close: a server that closes an HTTP/1 connection while the client may still be
//! sending reads and discards for a while after it has shut its own side down.
//!
//! Closing a socket with unread bytes in its receive buffer makes the kernel answer with a
//! reset, which can destroy the response before the client has read it; the client then reports
//! a failed send (`Broken pipe`, `SSLEOFError`) instead of the status. nginx's answer, and
//! airlock's: after the response, shut the write side (the client sees the end of the response),
//! then read and discard until the client closes, [`MAX_BYTES`] have passed, or [`MAX_TIME`] is
//! over. Only the shutdown is different; reads and writes pass straight through.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// The most bytes discarded after the server's side is shut.
pub const MAX_BYTES: u64 = 64 * 1024 * 1024;

/// The longest a closing connection waits for its client to stop sending.
pub const MAX_TIME: Duration = Duration::from_secs(5);

/// A stream whose shutdown lingers (see the module documentation).
pub struct LingeringClose<S> {
    inner: S,
    state: Closing,
}

enum Closing {
    Open,
    /// Our side is shut; discarding what the client still sends, until the deadline.
    Lingering {
        deadline: Pin<Box<Sleep>>,
        read: u64,
    },
    Closed,
}

impl<S> LingeringClose<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        LingeringClose {
            inner,
            state: Closing::Open,
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for LingeringClose<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for LingeringClose<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
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

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                Closing::Open => {
                    let shut = ready!(Pin::new(&mut this.inner).poll_shutdown(cx));
                    if shut.is_err() {
                        // The peer is gone already: nothing to linger for.
                        this.state = Closing::Closed;
                        return Poll::Ready(shut);
                    }
                    this.state = Closing::Lingering {
                        deadline: Box::pin(tokio::time::sleep(MAX_TIME)),
                        read: 0,
                    };
                }
                Closing::Lingering { deadline, read } => {
                    if deadline.as_mut().poll(cx).is_ready() {
                        this.state = Closing::Closed;
                        continue;
                    }
                    let mut scratch = [0u8; 8192];
                    let mut buf = ReadBuf::new(&mut scratch);
                    match ready!(Pin::new(&mut this.inner).poll_read(cx, &mut buf)) {
                        Ok(()) if !buf.filled().is_empty() => {
                            *read += buf.filled().len() as u64;
                            if *read > MAX_BYTES {
                                this.state = Closing::Closed;
                            }
                        }
                        // End of stream, or the peer reset: the client is done.
                        Ok(()) | Err(_) => this.state = Closing::Closed,
                    }
                }
                Closing::Closed => return Poll::Ready(Ok(())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The client is still sending when the server shuts down: the server's shutdown reads
    /// until the client is done, so every one of the client's writes succeeds and the client
    /// then reads the whole response and its end.
    #[tokio::test]
    async fn a_shutdown_reads_what_the_client_still_sends() {
        let (server, mut client) = crate::pipe(crate::PIPE_BUFFER);
        let mut server = LingeringClose::new(server);
        let sending = tokio::spawn(async move {
            client.write_all(&vec![b'x'; 1_000_000]).await.unwrap();
            client.shutdown().await.unwrap();
            let mut answer = Vec::new();
            client.read_to_end(&mut answer).await.unwrap();
            answer
        });
        server
            .write_all(b"HTTP/1.1 401 Unauthorized\r\n\r\n")
            .await
            .unwrap();
        server.shutdown().await.unwrap();
        assert_eq!(sending.await.unwrap(), b"HTTP/1.1 401 Unauthorized\r\n\r\n");
    }

    /// A client that never stops sending is not waited for past the deadline.
    #[tokio::test(start_paused = true)]
    async fn a_shutdown_stops_lingering_at_its_deadline() {
        let (server, mut client) = crate::pipe(crate::PIPE_BUFFER);
        let mut server = LingeringClose::new(server);
        let _trickle = tokio::spawn(async move {
            loop {
                if client.write_all(b"x").await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let started = tokio::time::Instant::now();
        server.shutdown().await.unwrap();
        assert!(started.elapsed() >= MAX_TIME);
    }
}
