//! Reading the start of a body without taking it: what `$request.body` and `$response.body`
//! mappings need (docs/aws-rules.md §HTTP-4.6).
//!
//! Only the first [`crate::mapping::BODY_MAPPING_LIMIT`] bytes are held; the rest keeps
//! streaming, so a mapping never costs more memory than the 100 KB AWS evaluates, and a
//! route without body mappings never reads its body early at all.

use crate::response::{Body, BoxError};
use bytes::{Bytes, BytesMut};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Reads frames from `body` until `limit` data bytes were seen, the body ends, or it fails.
/// Returns the data read (possibly more than `limit`: whole frames) and a body that replays
/// every frame read, then continues with the rest (or the error that stopped the reading).
pub(crate) async fn peek(mut body: Body, limit: usize) -> (Bytes, Body) {
    let mut seen = BytesMut::new();
    let mut frames = VecDeque::new();
    let mut error = None;
    let mut ended = false;
    while seen.len() < limit {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    seen.extend_from_slice(data);
                }
                frames.push_back(frame);
            }
            Some(Err(e)) => {
                error = Some(e);
                break;
            }
            None => {
                ended = true;
                break;
            }
        }
    }
    let replay = Replay {
        frames,
        error,
        rest: (!ended).then_some(body),
    };
    (seen.freeze(), replay.boxed())
}

/// Reads a body of unknown length whole, as API Gateway buffers a request before it calls the
/// integration, as long as it stays within `limit` bytes. Returns a body that replays it, or
/// `None` once it went past `limit` (what was read is dropped; the caller answers 413).
pub(crate) async fn within(mut body: Body, limit: u64) -> Option<Body> {
    let mut frames = VecDeque::new();
    let mut read = 0u64;
    let mut error = None;
    loop {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    read += data.len() as u64;
                    if read > limit {
                        return None;
                    }
                }
                frames.push_back(frame);
            }
            Some(Err(e)) => {
                error = Some(e);
                break;
            }
            None => break,
        }
    }
    let replay = Replay {
        frames,
        error,
        rest: None,
    };
    Some(replay.boxed())
}

/// The frames already read, then the error or the rest of the body.
struct Replay {
    frames: VecDeque<Frame<Bytes>>,
    error: Option<BoxError>,
    /// `None` once the original body has ended or failed.
    rest: Option<Body>,
}

impl http_body::Body for Replay {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(frame) = self.frames.pop_front() {
            return Poll::Ready(Some(Ok(frame)));
        }
        if let Some(e) = self.error.take() {
            self.rest = None;
            return Poll::Ready(Some(Err(e)));
        }
        match self.rest.as_mut() {
            Some(rest) => Pin::new(rest).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_empty()
            && self.error.is_none()
            && self.rest.as_ref().is_none_or(|r| r.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let buffered: u64 = self
            .frames
            .iter()
            .filter_map(|f| f.data_ref())
            .map(|d| d.len() as u64)
            .sum();
        // The original body's hint shrinks as it is read, so it now counts only the rest.
        let rest = self.rest.as_ref().map_or_else(
            || SizeHint::with_exact(0),
            |r| {
                if self.error.is_some() {
                    SizeHint::default()
                } else {
                    r.size_hint()
                }
            },
        );
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower().saturating_add(buffered));
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper.saturating_add(buffered));
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use http_body::Body as _;
    use http_body_util::StreamBody;

    fn chunks(parts: Vec<Result<&'static str, &'static str>>) -> Body {
        let stream = futures_util::stream::iter(parts.into_iter().map(|p| {
            p.map(|d| Frame::data(Bytes::from(d)))
                .map_err(|e| BoxError::from(e.to_owned()))
        }));
        StreamBody::new(stream).boxed()
    }

    #[tokio::test]
    async fn a_body_within_the_limit_is_replayed_whole_and_one_past_it_is_refused() {
        let body = chunks(vec![Ok("abc"), Ok("def")]);
        let replay = within(body, 6).await.expect("6 bytes are within 6");
        assert_eq!(replay.size_hint().exact(), Some(6));
        let all = replay.collect().await.unwrap().to_bytes();
        assert_eq!(&all[..], b"abcdef");
        assert!(
            within(chunks(vec![Ok("abc"), Ok("defg")]), 6)
                .await
                .is_none()
        );
    }

    #[tokio::test]
    async fn the_prefix_is_replayed_before_the_rest() {
        let body = chunks(vec![Ok("abc"), Ok("def"), Ok("ghi")]);
        let (seen, replay) = peek(body, 4).await;
        assert_eq!(&seen[..], b"abcdef", "whole frames up to the limit");
        let all = replay.collect().await.unwrap().to_bytes();
        assert_eq!(&all[..], b"abcdefghi");
    }

    #[tokio::test]
    async fn a_short_body_is_read_whole_with_an_exact_size() {
        let body = crate::response::full("{\"a\":1}");
        let (seen, replay) = peek(body, 1024).await;
        assert_eq!(&seen[..], b"{\"a\":1}");
        assert_eq!(replay.size_hint().exact(), Some(7));
        assert!(!replay.is_end_stream());
        assert_eq!(replay.collect().await.unwrap().to_bytes().len(), 7);
    }

    #[tokio::test]
    async fn an_error_while_peeking_is_passed_on_after_the_prefix() {
        let body = chunks(vec![Ok("ab"), Err("client went away")]);
        let (seen, mut replay) = peek(body, 1024).await;
        assert_eq!(&seen[..], b"ab");
        let first = replay.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "ab");
        let err = replay.frame().await.unwrap().unwrap_err();
        assert_eq!(err.to_string(), "client went away");
        assert!(replay.frame().await.is_none());
    }
}
