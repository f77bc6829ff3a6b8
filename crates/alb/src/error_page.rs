//! Responses the load balancer generates itself (docs/aws-rules.md §ALB-2.6, §ALB-2.7).

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_TYPE, SERVER};
use http::{HeaderValue, Response, StatusCode, Version};
use http_body_util::Full;

/// The `Server` header of every response the load balancer writes itself.
pub const SERVER_HEADER: &str = "awselb/2.0";

/// The reason phrase the ALB uses for a status it generates (docs/aws-rules.md §ALB-2.7); `None` for the 46x/561
/// statuses, which have no standard phrase and are sent with an empty one.
pub fn reason_phrase(status: StatusCode) -> Option<&'static str> {
    Some(match status.as_u16() {
        400 => "Bad Request",
        401 => "Authorization Required",
        403 => "Forbidden",
        405 => "Not Allowed",
        408 => "Request Time-out",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Temporarily Unavailable",
        504 => "Gateway Time-out",
        505 => "HTTP Version Not Supported",
        _ => return status.canonical_reason().filter(|_| status.as_u16() < 460),
    })
}

/// The HTML body of docs/aws-rules.md §ALB-2.7, CRLF line endings; the title is `CODE REASON` (or `CODE` alone).
pub fn body(status: StatusCode) -> String {
    let title = match reason_phrase(status) {
        Some(r) => format!("{} {r}", status.as_u16()),
        None => status.as_u16().to_string(),
    };
    format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n"
    )
}

/// The full error response: status with the ALB's reason phrase, `Server: awselb/2.0`,
/// `Content-Type: text/html`, and `Connection: close` on 400 over HTTP/1.x (docs/aws-rules.md §ALB-2.7).
pub fn response(status: StatusCode, request_version: Version) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body(status))));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(SERVER, HeaderValue::from_static(SERVER_HEADER));
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
    if status == StatusCode::BAD_REQUEST && request_version < Version::HTTP_2 {
        h.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    // HTTP/1 status lines carry the ALB's own phrase ("503 Service Temporarily Unavailable",
    // "463 ") rather than hyper's canonical one.
    let phrase = reason_phrase(status).unwrap_or("");
    if let Ok(p) = hyper::ext::ReasonPhrase::try_from(phrase.as_bytes()) {
        resp.extensions_mut().insert(p);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_have_the_observed_lengths_of_alb_2_7() {
        for (code, len) in [(400, 122), (502, 122), (503, 162), (504, 132)] {
            let s = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
            assert_eq!(
                body(s).len(),
                len,
                "docs/aws-rules.md §ALB-2.7 length of the {code} page"
            );
        }
        assert_eq!(
            body(StatusCode::SERVICE_UNAVAILABLE),
            "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n"
        );
        let s463 = StatusCode::from_u16(463).unwrap_or(StatusCode::OK);
        assert!(body(s463).contains("<title>463</title>"));
    }
}
