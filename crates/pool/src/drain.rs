//! Reading the rest of a request body that nobody read, before the response goes out.
//!
//! A server that answers before it has read the request body (a refusal, or a backend that
//! answered early) leaves the client still sending. Over HTTP/2, ending the response then makes
//! the server's stack reset the stream (`RST_STREAM(NO_ERROR)`): RFC 9113 §8.1 allows it, but
//! common clients (Debian's curl 7.88 among them) report a framing error and never show the
//! status. Over HTTP/1.1 the connection can't be reused and, closed with the body unread, it
//! makes clients fail to send (`Broken pipe`) before they read the answer. Production servers
//! read and discard the rest of the body within bounds first; so does airlock.
//!
//! [`watch`] wraps a request's body so that whoever drops it unfinished leaves it behind, and
//! returns a [`Remainder`]; once the response is ready, [`Remainder::drain`] reads and discards
//! what is left (at most [`MAX_BYTES`], for at most [`MAX_TIME`]) before the response is handed
//! to the server. A request without a body costs nothing: there is nothing to watch.

use crate::lock;
use bytes::Buf;
use http::Request;
use http::header::{CONTENT_LENGTH, EXPECT};
use http_body::{Body, Frame, SizeHint};
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// The most request-body bytes read and discarded after the response is ready. Beyond it the
/// response goes out at once and the connection is not reused. Large enough for a client that
/// sends a whole body the gateway refuses for its size (API Gateway's quota is 10 MB).
pub const MAX_BYTES: u64 = 64 * 1024 * 1024;

/// The longest a response waits for the rest of a request body it does not need.
pub const MAX_TIME: Duration = Duration::from_secs(10);

/// A request body that hands itself to its [`Remainder`] when dropped before its end.
pub struct Watched<B> {
    inner: Option<B>,
    /// `None` for a body that had ended before it was watched.
    slot: Option<Arc<Slot<B>>>,
    /// Nothing has been read yet and the body is not to be solicited: the client waits for
    /// `100 Continue` before it sends, or it announced more than [`MAX_BYTES`].
    unsolicited: bool,
}

/// What became of a watched body.
enum State<B> {
    /// Still with whoever holds the request.
    Held,
    /// Read to its end, or failed: nothing to drain.
    Done,
    /// Dropped unfinished: the rest is to be read here.
    Left(B),
}

struct Slot<B> {
    state: Mutex<State<B>>,
}

impl<B> Slot<B> {
    fn set(&self, state: State<B>) {
        *lock(&self.state) = state;
    }

    fn take(&self) -> State<B> {
        std::mem::replace(&mut *lock(&self.state), State::Done)
    }
}

/// The handle that reads what is left of a watched request body.
pub struct Remainder<B> {
    slot: Arc<Slot<B>>,
    /// HTTP/2 streams end on their own; an HTTP/1 connection must close after an unread body.
    h1: bool,
}

/// Wraps `req`'s body; the [`Remainder`] is `None` when the request has no body to leave behind.
pub fn watch<B: Body + Unpin>(req: Request<B>) -> (Request<Watched<B>>, Option<Remainder<B>>) {
    if req.body().is_end_stream() {
        return (
            req.map(|b| Watched {
                inner: Some(b),
                slot: None,
                unsolicited: false,
            }),
            None,
        );
    }
    let awaiting_continue = req
        .headers()
        .get(EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    // A body announced larger than the drain bound is not solicited at all.
    let too_large = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|len| len > MAX_BYTES);
    let slot = Arc::new(Slot {
        state: Mutex::new(State::Held),
    });
    let remainder = Remainder {
        slot: slot.clone(),
        h1: req.version() != http::Version::HTTP_2,
    };
    let req = req.map(|b| Watched {
        inner: Some(b),
        slot: Some(slot),
        unsolicited: awaiting_continue || too_large,
    });
    (req, Some(remainder))
}

impl<B> Drop for Watched<B> {
    fn drop(&mut self) {
        if let (Some(slot), Some(inner)) = (self.slot.take(), self.inner.take()) {
            // A client waiting for `100 Continue` has sent nothing and will send nothing once it
            // has the final response: there is nothing to drain, and asking for the body would
            // make the server invite it.
            if self.unsolicited {
                slot.set(State::Done);
            } else {
                slot.set(State::Left(inner));
            }
        }
    }
}

impl<B: Body + Unpin> Body for Watched<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let frame = std::task::ready!(Pin::new(inner).poll_frame(cx));
        match &frame {
            Some(Ok(_)) => this.unsolicited = false,
            // Ended or failed: nothing is left to read, and the slot learns it at once so that
            // the response need not wait for this body to be dropped.
            Some(Err(_)) | None => {
                this.inner = None;
                if let Some(slot) = this.slot.take() {
                    slot.set(State::Done);
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(B::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), B::size_hint)
    }
}

/// How [`Remainder::drain`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// The body was read to its end (here or by its holder), or is still with its holder.
    Clean,
    /// The body was left unread past the bounds, or never solicited: the connection must not
    /// be reused for another request.
    Unread,
}

impl<B: Body + Unpin> Remainder<B> {
    /// Reads and discards what is left of the request body, within [`MAX_BYTES`] and
    /// [`MAX_TIME`]. A body still held elsewhere (a backend still reading it) is not waited for.
    pub async fn drain(self) -> Drained {
        let mut body = match self.slot.take() {
            State::Held | State::Done => return Drained::Clean,
            State::Left(body) => body,
        };
        let mut read = 0u64;
        let reading = poll_fn(|cx| {
            loop {
                match Pin::new(&mut body).poll_frame(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(None) => return Poll::Ready(Drained::Clean),
                    // The client gave up on the body: the connection is not worth keeping.
                    Poll::Ready(Some(Err(_))) => return Poll::Ready(Drained::Unread),
                    Poll::Ready(Some(Ok(frame))) => {
                        if let Some(data) = frame.data_ref() {
                            read += data.remaining() as u64;
                            if read > MAX_BYTES {
                                return Poll::Ready(Drained::Unread);
                            }
                        }
                    }
                }
            }
        });
        tokio::time::timeout(MAX_TIME, reading)
            .await
            .unwrap_or(Drained::Unread)
    }
}

/// Settles a response for its request. What is left of the request body when the response is
/// ready (a refusal) is drained before the response goes out (see [`Remainder::drain`]); a
/// body still held elsewhere (a backend that answered early and still has it) is drained when
/// the response body ends, before its end is sent. When the body stays unread, an HTTP/1
/// response is marked `connection: close` so that the server does not read the rest as a new
/// request.
pub async fn settle<B: Body + Unpin, R>(
    remainder: Option<Remainder<B>>,
    mut resp: http::Response<R>,
) -> http::Response<Settled<R, B>> {
    let mut later = None;
    if let Some(remainder) = remainder {
        let h1 = remainder.h1;
        let held = matches!(*lock(&remainder.slot.state), State::Held);
        if held {
            later = Some(remainder.slot);
        } else if remainder.drain().await == Drained::Unread && h1 {
            resp.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
        }
    }
    resp.map(|inner| Settled {
        inner,
        slot: later,
        draining: None,
    })
}

/// A response body that, at its end, drains what its request left unread (see [`settle`]).
pub struct Settled<R, B> {
    inner: R,
    /// The request body's slot, when it was still held as the response began.
    slot: Option<Arc<Slot<B>>>,
    draining: Option<Pin<Box<dyn Future<Output = Drained> + Send>>>,
}

impl<R, B> Body for Settled<R, B>
where
    R: Body + Unpin,
    B: Body + Unpin + Send + 'static,
{
    type Data = R::Data;
    type Error = R::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<R::Data>, R::Error>>> {
        let this = &mut *self;
        loop {
            if let Some(draining) = this.draining.as_mut() {
                std::task::ready!(draining.as_mut().poll(cx));
                this.draining = None;
                return Poll::Ready(None);
            }
            let frame = std::task::ready!(Pin::new(&mut this.inner).poll_frame(cx));
            if frame.is_some() {
                return Poll::Ready(frame);
            }
            // The response is complete: whoever held the request body has let it go by now,
            // or never will.
            match this.slot.take() {
                Some(slot) => {
                    let remainder = Remainder { slot, h1: false };
                    this.draining = Some(Box::pin(remainder.drain()));
                }
                None => return Poll::Ready(None),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.draining.is_none() && self.slot.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use bytes::Bytes;
    use futures_util::stream;
    use http_body_util::{BodyExt, StreamBody};
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};

    type Counted = StreamBody<stream::BoxStream<'static, Result<Frame<Bytes>, Infallible>>>;

    /// A body of `frames` frames of `size` bytes that counts the frames read from it.
    fn counted(frames: usize, size: usize) -> (Counted, Arc<AtomicUsize>) {
        let read = Arc::new(AtomicUsize::new(0));
        let seen = read.clone();
        let chunk = Bytes::from(vec![b'a'; size]);
        let s = stream::iter(0..frames).map(move |_| {
            seen.fetch_add(1, Ordering::Relaxed);
            Ok(Frame::data(chunk.clone()))
        });
        (StreamBody::new(Box::pin(s) as _), read)
    }

    fn request(body: Counted, headers: &[(&str, &str)]) -> Request<Counted> {
        let mut b = Request::post("/");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(body).unwrap()
    }

    use futures_util::StreamExt;

    #[tokio::test]
    async fn a_body_dropped_unread_is_read_to_its_end() {
        let (body, read) = counted(10, 100);
        let (req, rest) = watch(request(body, &[]));
        drop(req);
        assert_eq!(rest.unwrap().drain().await, Drained::Clean);
        assert_eq!(read.load(Ordering::Relaxed), 10);
    }

    #[tokio::test]
    async fn a_body_read_to_its_end_is_not_read_again() {
        let (body, read) = counted(3, 10);
        let (req, rest) = watch(request(body, &[]));
        let collected = req.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(collected.len(), 30);
        assert_eq!(rest.unwrap().drain().await, Drained::Clean);
        assert_eq!(read.load(Ordering::Relaxed), 3);
    }

    /// A client waiting for `100 Continue` has sent nothing: asking for its body would invite
    /// it, so nothing is read and the connection is not reused.
    #[tokio::test]
    async fn a_body_awaiting_continue_is_not_solicited() {
        let (body, read) = counted(3, 10);
        let (req, rest) = watch(request(body, &[("expect", "100-continue")]));
        drop(req);
        assert_eq!(rest.unwrap().drain().await, Drained::Clean);
        assert_eq!(read.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_body_past_the_bound_is_left_unread() {
        let frames = (MAX_BYTES / (1 << 20)) as usize + 2;
        let (body, read) = counted(frames, 1 << 20);
        let (req, rest) = watch(request(body, &[]));
        drop(req);
        assert_eq!(rest.unwrap().drain().await, Drained::Unread);
        assert!(read.load(Ordering::Relaxed) < frames);
    }

    /// A backend that answered early still holds the body as the response begins: the body it
    /// lets go of at the response's end is read before that end is reported.
    #[tokio::test]
    async fn a_body_let_go_during_the_response_is_read_before_its_end() {
        let (body, read) = counted(5, 10);
        let (req, rest) = watch(request(body, &[]));
        let resp = http::Response::new(http_body_util::Full::new(Bytes::from_static(b"413")));
        let resp = settle(rest, resp).await;
        let mut resp_body = resp.into_body();
        assert!(
            !resp_body.is_end_stream(),
            "its end waits for the request body"
        );
        let first = resp_body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), Bytes::from_static(b"413"));
        drop(req); // the backend's connection closes at the response's end
        assert!(resp_body.frame().await.is_none());
        assert_eq!(read.load(Ordering::Relaxed), 5);
    }

    #[tokio::test]
    async fn a_request_without_a_body_has_nothing_to_watch() {
        let req = Request::get("/")
            .body(http_body_util::Empty::<Bytes>::new())
            .unwrap();
        let (_req, rest) = watch(req);
        assert!(rest.is_none());
    }
}
