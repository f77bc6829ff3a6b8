//! The byte stream a dial through the emulated network yields.

use crate::pipe::Pipe;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A connection through the emulated network.
///
/// Between two airlock components (say an ALB node and a built-in task) it is an in-process
/// pipe: no socket, no syscall, no kernel loopback. To a foreign process (a task's container or
/// command) it is the real loopback TCP connection to that process's port. Both behave as TCP
/// does for the protocols on top: bytes in order, half-close with `shutdown`, EOF when the
/// other end goes away.
#[derive(Debug)]
pub enum NetStream {
    /// An in-process connection to an airlock listener.
    Pipe(Pipe),
    /// A loopback TCP connection to a foreign process's port.
    Tcp(TcpStream),
    /// A stream a relay handed over whole (see `Opening::carry`), e.g. a VPC link tunnel.
    Carried(Box<dyn Carrier>),
}

/// A stream that can carry a connection.
pub trait Carrier: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Carrier for T {}

impl std::fmt::Debug for dyn Carrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Carrier")
    }
}

impl AsyncRead for NetStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            NetStream::Pipe(s) => Pin::new(s).poll_read(cx, buf),
            NetStream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            NetStream::Carried(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for NetStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            NetStream::Pipe(s) => Pin::new(s).poll_write(cx, buf),
            NetStream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            NetStream::Carried(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            NetStream::Pipe(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            NetStream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            NetStream::Carried(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            NetStream::Pipe(s) => s.is_write_vectored(),
            NetStream::Tcp(s) => s.is_write_vectored(),
            NetStream::Carried(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            NetStream::Pipe(s) => Pin::new(s).poll_flush(cx),
            NetStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            NetStream::Carried(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            NetStream::Pipe(s) => Pin::new(s).poll_shutdown(cx),
            NetStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            NetStream::Carried(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
