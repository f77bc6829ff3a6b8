//! The ALB's HTTP/1 front (crates/alb/src/h1io.rs, desync.rs): raw client bytes in, each head
//! classified (AWS's desync classes and reasons), refused, normalised or passed on, as a served
//! connection does.
//!
//! Input: one byte choosing the desync mitigation mode (bits 0-1) and how the bytes arrive
//! (bits 2-3: whole, or in pieces of 1, 7 or 64 bytes), then the client's bytes. Checked:
//! nothing panics; the front reads the client to the end; a refusal closes the connection; the
//! classification and its reason come together; a head the front lets through is one that
//! hyper's parser accepts (else hyper, not the load balancer, would answer it); and hyper reads
//! as many requests as there are verdicts.

#![no_main]

use std::sync::OnceLock;

use airlock_alb::{DesyncMode, screen_http1};
use libfuzzer_sys::fuzz_target;
use tokio::runtime::Runtime;

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
    })
}

/// How many requests hyper reads from `forwarded`, each head parsed and its `Content-Length`
/// body skipped; `None` where that cannot be told simply (chunked, upgraded or cut short).
fn requests(mut rest: &[u8]) -> Option<usize> {
    let mut n = 0;
    while !rest.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 1024];
        let mut request = httparse::Request::new(&mut headers);
        let httparse::Status::Complete(len) = request.parse(rest).ok()? else {
            return None;
        };
        if request.method == Some("CONNECT") {
            return None;
        }
        let mut body = 0usize;
        for h in request.headers.iter() {
            let name = h.name.to_ascii_lowercase();
            match name.as_str() {
                "transfer-encoding" | "upgrade" => return None,
                "content-length" => body = std::str::from_utf8(h.value).ok()?.parse().ok()?,
                _ => {}
            }
        }
        rest = rest.get(len.checked_add(body)?..)?;
        n += 1;
    }
    Some(n)
}

fuzz_target!(|data: &[u8]| {
    let Some((&how, bytes)) = data.split_first() else {
        return;
    };
    let mode = match how & 3 {
        0 => DesyncMode::Monitor,
        1 | 3 => DesyncMode::Defensive,
        _ => DesyncMode::Strictest,
    };
    let size = [usize::MAX, 1, 7, 64][usize::from(how >> 2 & 3)];
    let pieces: Vec<&[u8]> = if size == usize::MAX {
        vec![bytes]
    } else {
        bytes.chunks(size).collect()
    };
    let _entered = runtime().enter();
    let screened = screen_http1(&pieces, mode);
    assert_eq!(screened.unread, 0, "the front ended the stream early");
    for v in &screened.verdicts {
        assert_eq!(v.classification.is_some(), v.reason.is_some(), "{v:?}");
        if v.refused.is_some() {
            assert!(v.close, "a refusal ends the connection: {v:?}");
        }
    }
    // One verdict per request hyper reads: none is lost, none is made up.
    if let Some(n) = requests(&screened.forwarded) {
        assert_eq!(n, screened.verdicts.len(), "{:?}", screened.verdicts);
    }
    if let Some(first) = screened.verdicts.first() {
        let mut headers = [httparse::EMPTY_HEADER; 1024];
        let parsed = httparse::Request::new(&mut headers).parse(&screened.forwarded);
        assert!(
            matches!(parsed, Ok(httparse::Status::Complete(_))),
            "hyper's parser refuses the head let through ({first:?}): {parsed:?}\n{:?}",
            String::from_utf8_lossy(&screened.forwarded[..screened.forwarded.len().min(512)])
        );
    }
});
