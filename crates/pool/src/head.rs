//! Responses to `HEAD`: the head a `GET` would have, and no body on either protocol.
//!
//! hyper's HTTP/1 server drops a `HEAD` response's body by itself; its HTTP/2 server sends
//! whatever body it is given, and a DATA frame after a `HEAD` response's headers is a protocol
//! error that clients such as nghttp answer by resetting the stream (RFC 9110 §9.3.2: the server
//! sends no content in a response to `HEAD`).

use http::header::CONTENT_LENGTH;
use http::{HeaderValue, Method, Response};
use http_body::Body;

/// For a `HEAD` request, replaces `resp`'s body with `empty()`, keeping the `Content-Length` a
/// `GET` would have had (from the body's exact size, when it had one and no header said it).
pub fn strip_body<B: Body>(method: &Method, resp: &mut Response<B>, empty: impl FnOnce() -> B) {
    if method != Method::HEAD || resp.body().is_end_stream() {
        return;
    }
    if !resp.headers().contains_key(CONTENT_LENGTH)
        && let Some(len) = resp.body().size_hint().exact()
    {
        resp.headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(len));
    }
    *resp.body_mut() = empty();
}
