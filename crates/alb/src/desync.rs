//! Desync mitigation (docs/aws-rules.md §ALB-2.4): one pass over an HTTP/1.x request head classifies it as compliant,
//! acceptable, ambiguous or severe with AWS's classification reasons, finds how its body is
//! framed, and says whether the head must be normalised before hyper parses it.
//!
//! The classifier sees raw bytes because hyper refuses some of these requests itself (with a bare
//! 400, not the ALB's page) and silently repairs others; AWS decides from what was on the wire.

use crate::config::DesyncMode;
use http::StatusCode;

/// A request's desync classification (docs/aws-rules.md §ALB-2.4), ordered from harmless to dangerous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Class {
    /// Complies with RFC 7230 (logged as `-`).
    Compliant,
    /// Non-compliant, no known threat.
    Acceptable,
    /// Non-compliant, risky.
    Ambiguous,
    /// High risk.
    Severe,
}

impl Class {
    /// The access log's `classification` field; `None` (logged `-`) for compliant requests.
    pub(crate) fn log_name(self) -> Option<&'static str> {
        match self {
            Class::Compliant => None,
            Class::Acceptable => Some("Acceptable"),
            Class::Ambiguous => Some("Ambiguous"),
            Class::Severe => Some("Severe"),
        }
    }
}

/// AWS's classification reasons (docs/aws-rules.md §ALB-2.4, "Classification reasons" of the access-log guide).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    AmbiguousUri,
    BadContentLength,
    BadHeader,
    BadTransferEncoding,
    BadUri,
    BadMethod,
    BadVersion,
    BothTeClPresent,
    DuplicateContentLength,
    EmptyHeader,
    GetHeadZeroContentLength,
    MultipleContentLength,
    MultipleTransferEncodingChunked,
    NonCompliantHeader,
    NonCompliantVersion,
    SpaceInUri,
    SuspiciousHeader,
    UndefinedContentLengthSemantics,
    UndefinedTransferEncodingSemantics,
}

impl Reason {
    /// The class docs/aws-rules.md §ALB-2.4's table gives the reason.
    pub(crate) fn class(self) -> Class {
        use Reason::*;
        match self {
            GetHeadZeroContentLength | NonCompliantHeader | NonCompliantVersion | SpaceInUri => {
                Class::Acceptable
            }
            AmbiguousUri
            | BothTeClPresent
            | DuplicateContentLength
            | EmptyHeader
            | SuspiciousHeader
            | UndefinedContentLengthSemantics
            | UndefinedTransferEncodingSemantics => Class::Ambiguous,
            BadContentLength
            | BadHeader
            | BadTransferEncoding
            | BadUri
            | BadMethod
            | BadVersion
            | MultipleContentLength
            | MultipleTransferEncodingChunked => Class::Severe,
        }
    }

    /// The access log's `classification_reason` field.
    pub(crate) fn as_str(self) -> &'static str {
        use Reason::*;
        match self {
            AmbiguousUri => "AmbiguousUri",
            BadContentLength => "BadContentLength",
            BadHeader => "BadHeader",
            BadTransferEncoding => "BadTransferEncoding",
            BadUri => "BadUri",
            BadMethod => "BadMethod",
            BadVersion => "BadVersion",
            BothTeClPresent => "BothTeClPresent",
            DuplicateContentLength => "DuplicateContentLength",
            EmptyHeader => "EmptyHeader",
            GetHeadZeroContentLength => "GetHeadZeroContentLength",
            MultipleContentLength => "MultipleContentLength",
            MultipleTransferEncodingChunked => "MultipleTransferEncodingChunked",
            NonCompliantHeader => "NonCompliantHeader",
            NonCompliantVersion => "NonCompliantVersion",
            SpaceInUri => "SpaceInUri",
            SuspiciousHeader => "SuspiciousHeader",
            UndefinedContentLengthSemantics => "UndefinedContentLengthSemantics",
            UndefinedTransferEncodingSemantics => "UndefinedTransferEncodingSemantics",
        }
    }
}

/// How the request's body is delimited on the client connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    None,
    /// `Content-Length` bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// An upgrade or `CONNECT`: whatever follows the head is not HTTP any more.
    Opaque,
}

/// What one pass over a head found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Classified {
    /// The worst reason found (the first one of the worst class); `None` when compliant.
    pub(crate) reason: Option<Reason>,
    /// A status the ALB answers whatever the mode: 414/400 over docs/aws-rules.md §ALB-2.5's limits (and 400 past
    /// [`MAX_HEADER_LINES`]), 400 for
    /// whitespace before a header's colon, 501 for an unsupported `Transfer-Encoding`, 505 for
    /// HTTP/2 and later on an HTTP/1 connection.
    pub(crate) refuse: Option<StatusCode>,
    /// How the body is framed (meaningful when the request goes on).
    pub(crate) framing: Framing,
    /// The head must be rewritten by [`normalise`] before hyper parses it.
    pub(crate) rewrite: bool,
}

impl Classified {
    /// The request's class.
    pub(crate) fn class(&self) -> Class {
        self.reason.map_or(Class::Compliant, Reason::class)
    }
}

/// What the load balancer does with a classified request (docs/aws-rules.md §ALB-2.4's mode table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Forward it.
    Allow,
    /// Forward it, then close the client and target connections.
    AllowThenClose,
    /// Answer 400 and close the client connection.
    Block,
}

/// docs/aws-rules.md §ALB-2.4's table. Severe requests are refused in `monitor` mode too: their body framing or
/// request line cannot be determined, so there is nothing safe to forward (a documented airlock
/// choice).
pub(crate) fn decide(mode: DesyncMode, class: Class) -> Decision {
    match (mode, class) {
        (_, Class::Compliant) => Decision::Allow,
        (_, Class::Severe) => Decision::Block,
        (DesyncMode::Strictest, _) => Decision::Block,
        (DesyncMode::Defensive, Class::Ambiguous) => Decision::AllowThenClose,
        (DesyncMode::Monitor | DesyncMode::Defensive, _) => Decision::Allow,
    }
}

/// docs/aws-rules.md §ALB-2.5: the request line limit (over it: 414).
pub(crate) const MAX_REQUEST_LINE: usize = 16 * 1024;
/// docs/aws-rules.md §ALB-2.5: one header line (over it: 400).
pub(crate) const MAX_HEADER: usize = 16 * 1024;
/// docs/aws-rules.md §ALB-2.5: the whole header block (over it: 400).
pub(crate) const MAX_HEADER_BLOCK: usize = 64 * 1024;
/// Header lines the load balancer takes (over it: 400, like an oversized header block). AWS
/// documents sizes only; a count is needed because hyper keeps a slot per header. It admits
/// everything the gateway forwards: the gateway's own count and what it adds.
pub(crate) const MAX_HEADER_LINES: usize =
    airlock_net::MAX_CLIENT_HEADER_LINES + airlock_net::HEADER_LINES_ADDED_PER_HOP;

struct Scan {
    reason: Option<Reason>,
    rewrite: bool,
}

impl Scan {
    fn flag(&mut self, r: Reason) {
        if self.reason.is_none_or(|old| r.class() > old.class()) {
            self.reason = Some(r);
        }
    }
}

/// `tchar` of RFC 9110 §5.6.2.
fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

/// [`is_tchar`] as a table: every header name is checked byte by byte on every request.
static TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        b += 1;
    }
    t
};

/// Lines of a head: split on LF, a trailing CR removed. Leading empty lines are skipped, as
/// RFC 9112 §2.2 allows; iteration stops at the empty line that ends the head.
fn lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    split_lines(head)
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty())
}

/// `head` split on LF (the last piece is what follows the last LF), found with a vectorised search.
fn split_lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    let mut ends = memchr::memchr_iter(b'\n', head);
    std::iter::from_fn(move || {
        if start > head.len() {
            return None;
        }
        let end = ends.next().unwrap_or(head.len());
        let line = &head[start..end];
        start = end + 1;
        Some(line)
    })
}

/// `s` without the optional whitespace (RFC 9110 §5.6.3: spaces and tabs) around it. Not
/// `trim_ascii`: that also strips form feeds, a control character hyper's parser refuses in a
/// value, so a head that passed as compliant would reach hyper and get its bare 400.
fn trim_ows(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|b| !matches!(b, b' ' | b'\t'));
    let end = s.iter().rposition(|b| !matches!(b, b' ' | b'\t'));
    match (start, end) {
        (Some(start), Some(end)) => &s[start..=end],
        _ => &[],
    }
}

/// The parts of a request line: method, target, version (absent for HTTP/0.9-style lines).
fn request_line(line: &[u8]) -> (&[u8], &[u8], Option<&[u8]>) {
    let Some(sp) = line.iter().position(|b| *b == b' ') else {
        return (line, b"", None);
    };
    let (method, rest) = (&line[..sp], &line[sp + 1..]);
    match rest.iter().rposition(|b| *b == b' ') {
        Some(last) => (method, &rest[..last], Some(&rest[last + 1..])),
        None => (method, rest, None),
    }
}

/// `(major, minor)` of `HTTP/x.y` (case-insensitively), and whether it was spelled exactly.
fn version(v: &[u8]) -> Option<((u32, u32), bool)> {
    if v.len() < 6 || !v[..5].eq_ignore_ascii_case(b"HTTP/") {
        return None;
    }
    let text = std::str::from_utf8(&v[5..]).ok()?;
    let (major, minor) = text.split_once('.').unwrap_or((text, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(major) || !digits(minor) {
        return None;
    }
    let parsed = (major.parse().ok()?, minor.parse().ok()?);
    let exact = &v[..5] == b"HTTP/" && major.len() == 1 && minor.len() == 1 && text.len() == 3;
    Some((parsed, exact))
}

/// Classifies one request head (everything up to and including the empty line). One pass, no
/// allocation.
pub(crate) fn classify(head: &[u8]) -> Classified {
    let mut s = Scan {
        reason: None,
        rewrite: false,
    };
    let mut refuse = None;
    let mut lines = lines(head);
    let line = lines.next().unwrap_or_default();
    if line.len() > MAX_REQUEST_LINE {
        refuse = Some(StatusCode::URI_TOO_LONG);
    }
    let (method, target, ver) = request_line(line);
    if method.is_empty() || !method.iter().copied().all(is_tchar) {
        s.flag(Reason::BadMethod);
    }
    if target.is_empty() {
        s.flag(Reason::BadUri);
    }
    for &b in target {
        match b {
            0 | b'\r' => s.flag(Reason::BadUri),
            b' ' => {
                s.flag(Reason::SpaceInUri);
                s.rewrite = true;
            }
            0x21..=0x7e => {}
            _ => {
                s.flag(Reason::AmbiguousUri);
                s.rewrite = true;
            }
        }
    }
    let mut http10 = false;
    match ver.and_then(version) {
        None => s.flag(Reason::BadVersion),
        Some(((major, _), _)) if major >= 2 => refuse = refuse.or(Some(VERSION_NOT_SUPPORTED)),
        Some(((0, _), _)) => s.flag(Reason::BadVersion),
        Some(((1, minor), exact)) => {
            http10 = minor == 0;
            if !exact || minor > 1 {
                s.flag(Reason::NonCompliantVersion);
                s.rewrite = true;
            }
        }
        Some(_) => s.flag(Reason::BadVersion),
    }
    let bodiless_method = method == b"GET" || method == b"HEAD";
    let mut content_length: Option<u64> = None;
    let mut te_present = false;
    let mut chunked = 0u32;
    let mut coding_after_chunked = false;
    let mut unsupported_coding = false;
    let mut upgrade = method == b"CONNECT";
    let mut block = 0usize;
    for (count, line) in (1..).zip(lines) {
        block += line.len() + 2;
        if line.len() > MAX_HEADER || block > MAX_HEADER_BLOCK || count > MAX_HEADER_LINES {
            refuse = refuse.or(Some(StatusCode::BAD_REQUEST));
        }
        // One vectorised pass for both bytes: headers are scanned whole on every request.
        if memchr::memchr2(0, b'\r', line).is_some() {
            s.flag(Reason::BadHeader);
            continue;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            // Folded (obs-fold) or whitespace-only line; hyper cannot carry either on.
            s.rewrite = true;
            if line.iter().all(|b| *b == b' ' || *b == b'\t') {
                s.flag(Reason::EmptyHeader);
            } else {
                s.flag(Reason::NonCompliantHeader);
            }
            continue;
        }
        let (name, value) = match memchr::memchr(b':', line) {
            Some(c) => (&line[..c], &line[c + 1..]),
            None => (line, &b""[..]),
        };
        if name.is_empty() {
            s.flag(Reason::EmptyHeader);
            s.rewrite = true;
            continue;
        }
        if matches!(name.last(), Some(b' ' | b'\t')) && name.len() < line.len() {
            // RFC 9112 §5.1: whitespace between a field name and its colon MUST be answered
            // with 400, whatever the desync mode; it is still classified for the log.
            refuse = refuse.or(Some(StatusCode::BAD_REQUEST));
        }
        if !name.iter().copied().all(is_tchar) || name.len() == line.len() {
            s.rewrite = true;
            if is_framing_lookalike(name) {
                s.flag(Reason::SuspiciousHeader);
            } else {
                s.flag(Reason::NonCompliantHeader);
            }
            continue;
        }
        if is_framing_lookalike(name) {
            s.flag(Reason::SuspiciousHeader);
            s.rewrite = true;
            continue;
        }
        let value = trim_ows(value);
        // The common case, checked without branching per byte: nothing but visible ASCII,
        // spaces and tabs (long values such as a bearer token are most of a head's bytes).
        let plain = value.iter().fold(true, |ok, &b| {
            ok & ((0x20..0x7f).contains(&b) | (b == b'\t'))
        });
        for &b in if plain { &[][..] } else { value } {
            if b == 0x7f || (b < 0x20 && b != b'\t') {
                s.flag(Reason::NonCompliantHeader);
                s.rewrite = true;
            } else if b >= 0x80 {
                s.flag(Reason::NonCompliantHeader);
            }
        }
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = std::str::from_utf8(value)
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok());
            match (n, content_length) {
                (None, _) => s.flag(Reason::BadContentLength),
                (Some(n), None) => content_length = Some(n),
                (Some(n), Some(old)) if n == old => {
                    s.flag(Reason::DuplicateContentLength);
                    s.rewrite = true;
                }
                (Some(_), Some(_)) => s.flag(Reason::MultipleContentLength),
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            te_present = true;
            let mut codings = 0;
            for coding in value.split(|b| *b == b',') {
                let coding = trim_ows(coding);
                if coding.is_empty() {
                    continue;
                }
                codings += 1;
                if !coding.iter().copied().all(is_tchar) {
                    s.flag(Reason::BadTransferEncoding);
                } else if coding.eq_ignore_ascii_case(b"chunked") {
                    chunked += 1;
                } else if coding.eq_ignore_ascii_case(b"identity") {
                    // Dropped before hyper sees it; hyper accepts only chunked.
                    s.rewrite = true;
                    continue;
                } else {
                    unsupported_coding = true;
                }
                if chunked > 0 && !coding.eq_ignore_ascii_case(b"chunked") {
                    coding_after_chunked = true;
                }
            }
            if codings == 0 {
                s.flag(Reason::BadTransferEncoding);
            }
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            upgrade = true;
        }
    }
    if chunked > 1 {
        s.flag(Reason::MultipleTransferEncodingChunked);
    }
    if coding_after_chunked || (te_present && http10) {
        // RFC 9112 §6.1: chunked must be the final coding, and HTTP/1.0 has no chunked framing.
        s.flag(Reason::BadTransferEncoding);
    }
    if unsupported_coding {
        refuse = refuse.or(Some(StatusCode::NOT_IMPLEMENTED));
    }
    if te_present && content_length.is_some() {
        s.flag(Reason::BothTeClPresent);
        s.rewrite = true;
    }
    if bodiless_method {
        match content_length {
            Some(0) => s.flag(Reason::GetHeadZeroContentLength),
            Some(_) => s.flag(Reason::UndefinedContentLengthSemantics),
            None => {}
        }
        if te_present {
            s.flag(Reason::UndefinedTransferEncodingSemantics);
        }
    }
    let framing = if upgrade {
        Framing::Opaque
    } else if chunked > 0 {
        Framing::Chunked
    } else {
        match content_length {
            Some(0) | None => Framing::None,
            Some(n) => Framing::Length(n),
        }
    };
    Classified {
        reason: s.reason,
        refuse,
        framing,
        rewrite: s.rewrite,
    }
}

const VERSION_NOT_SUPPORTED: StatusCode = StatusCode::HTTP_VERSION_NOT_SUPPORTED;

/// A header name that is not `Transfer-Encoding` or `Content-Length` but that a lenient parser
/// could take for one (`Content_Length`, `Transfer-Encoding ` before the colon).
fn is_framing_lookalike(name: &[u8]) -> bool {
    // Cheap rejection first (this runs for every header): squeezed, a look-alike has at least
    // 13 letters and digits and starts with `t` or `c`.
    let first = name.iter().find(|b| b.is_ascii_alphanumeric());
    if name.len() < 13 || !matches!(first, Some(b't' | b'T' | b'c' | b'C')) {
        return false;
    }
    !name.eq_ignore_ascii_case(b"transfer-encoding")
        && !name.eq_ignore_ascii_case(b"content-length")
        && (squeezed_is(name, b"transferencoding") || squeezed_is(name, b"contentlength"))
}

/// Whether `name`, keeping only its ASCII letters and digits, lower-cased, is `target`: a header
/// that a lenient parser could take for `Transfer-Encoding` or `Content-Length`.
fn squeezed_is(name: &[u8], target: &[u8]) -> bool {
    let mut it = name
        .iter()
        .filter(|b| b.is_ascii_alphanumeric())
        .map(u8::to_ascii_lowercase);
    target.iter().all(|t| it.next() == Some(*t)) && it.next().is_none()
}

/// Writes the head as hyper can parse and the target may see it, for requests that go on although
/// non-compliant: spaces, control and non-ASCII bytes in the target percent-encoded; the version
/// `HTTP/1.1` (or `HTTP/1.0`); lines with an empty, invalid or suspicious name and folded lines
/// dropped; control characters removed from values; one `Content-Length`, none beside
/// `Transfer-Encoding`; `identity` codings dropped.
pub(crate) fn normalise(head: &[u8], out: &mut Vec<u8>) {
    let has_te = lines(head).skip(1).any(|l| {
        l.iter()
            .position(|b| *b == b':')
            .is_some_and(|c| l[..c].eq_ignore_ascii_case(b"transfer-encoding"))
    });
    let mut lines = lines(head);
    let (method, target, ver) = request_line(lines.next().unwrap_or_default());
    out.extend_from_slice(method);
    out.push(b' ');
    for &b in target {
        if (0x21..=0x7e).contains(&b) {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    let http10 = matches!(ver.and_then(version), Some(((1, 0), _)));
    out.extend_from_slice(if http10 {
        b" HTTP/1.0\r\n"
    } else {
        b" HTTP/1.1\r\n"
    });
    let mut seen_cl = false;
    for line in lines {
        if line[0] == b' ' || line[0] == b'\t' {
            continue;
        }
        let Some(c) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (name, value) = (&line[..c], trim_ows(&line[c + 1..]));
        if name.is_empty() || !name.iter().copied().all(is_tchar) || is_framing_lookalike(name) {
            continue;
        }
        if name.eq_ignore_ascii_case(b"content-length") {
            if has_te || seen_cl {
                continue;
            }
            seen_cl = true;
        }
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            let kept: Vec<&[u8]> = value
                .split(|b| *b == b',')
                .map(trim_ows)
                .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case(b"identity"))
                .collect();
            if kept.is_empty() {
                continue;
            }
            out.extend_from_slice(b"transfer-encoding: ");
            out.extend_from_slice(&kept.join(&b", "[..]));
            out.extend_from_slice(b"\r\n");
            continue;
        }
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend(
            value
                .iter()
                .copied()
                .filter(|b| *b == b'\t' || (*b >= 0x20 && *b != 0x7f)),
        );
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod corpus;

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(head: &str) -> Option<&'static str> {
        classify(head.as_bytes()).reason.map(Reason::as_str)
    }

    #[test]
    fn bodiless_get_and_head_are_compliant() {
        let c = classify(b"GET /pets?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(c.reason, None);
        assert!(!c.rewrite);
        assert_eq!(c.framing, Framing::None);
        assert_eq!(reason("HEAD / HTTP/1.0\r\n\r\n"), None);
        let post = classify(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n");
        assert_eq!((post.reason, post.framing), (None, Framing::Length(5)));
        let chunked = classify(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!((chunked.reason, chunked.framing), (None, Framing::Chunked));
    }

    #[test]
    fn every_reason_of_alb_2_4() {
        let cases = [
            ("GET /a\x01b HTTP/1.1\r\n\r\n", "AmbiguousUri"),
            (
                "POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
                "BadContentLength",
            ),
            ("GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n", "BadHeader"),
            ("GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n", "BadHeader"),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                "BadTransferEncoding",
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: \"chunked\"\r\n\r\n",
                "BadTransferEncoding",
            ),
            ("GET /a\0 HTTP/1.1\r\n\r\n", "BadUri"),
            ("G(T / HTTP/1.1\r\n\r\n", "BadMethod"),
            ("GET / HTTX/1.1\r\n\r\n", "BadVersion"),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
                "BothTeClPresent",
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
                "DuplicateContentLength",
            ),
            ("GET / HTTP/1.1\r\n: x\r\n\r\n", "EmptyHeader"),
            ("GET / HTTP/1.1\r\nA: b\r\n \r\n\r\n", "EmptyHeader"),
            (
                "GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
                "GetHeadZeroContentLength",
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
                "MultipleContentLength",
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                "MultipleTransferEncodingChunked",
            ),
            (
                "GET / HTTP/1.1\r\nX-A: caf\u{e9}\r\n\r\n",
                "NonCompliantHeader",
            ),
            ("GET / HTTP/1.1\r\nX A: b\r\n\r\n", "NonCompliantHeader"),
            ("GET / HTTP/1.2\r\n\r\n", "NonCompliantVersion"),
            ("GET / http/1.1\r\n\r\n", "NonCompliantVersion"),
            ("GET /a b HTTP/1.1\r\n\r\n", "SpaceInUri"),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n",
                "SuspiciousHeader",
            ),
            (
                "POST / HTTP/1.1\r\nContent_Length: 3\r\n\r\n",
                "SuspiciousHeader",
            ),
            (
                "GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\n",
                "UndefinedContentLengthSemantics",
            ),
            (
                "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                "UndefinedTransferEncodingSemantics",
            ),
        ];
        for (head, want) in cases {
            assert_eq!(reason(head), Some(want), "{head:?}");
        }
    }

    #[test]
    fn the_worst_class_wins() {
        // SpaceInUri (acceptable) and BadContentLength (severe).
        assert_eq!(
            reason("POST /a b HTTP/1.1\r\nContent-Length: x\r\n\r\n"),
            Some("BadContentLength")
        );
    }

    #[test]
    fn refusals_whatever_the_mode() {
        let r = |h: &str| classify(h.as_bytes()).refuse.map(|s| s.as_u16());
        assert_eq!(
            r("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            Some(501)
        );
        assert_eq!(r("PRI * HTTP/2.0\r\n\r\n"), Some(505));
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_REQUEST_LINE));
        assert_eq!(r(&long), Some(414));
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEADER));
        assert_eq!(r(&big), Some(400));
        let many = |n: usize| format!("GET / HTTP/1.1\r\n{}\r\n", "a:\r\n".repeat(n));
        assert_eq!(r(&many(MAX_HEADER_LINES)), None);
        assert_eq!(r(&many(MAX_HEADER_LINES + 1)), Some(400));
        assert_eq!(r("GET / HTTP/1.1\r\n\r\n"), None);
        // Whitespace between a name and its colon, for framing headers and any other.
        assert_eq!(
            r("POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n"),
            Some(400)
        );
        assert_eq!(r("GET / HTTP/1.1\r\nX-A\t: b\r\n\r\n"), Some(400));
        assert_eq!(r("GET / HTTP/1.1\r\nX A: b\r\n\r\n"), None);
    }

    #[test]
    fn the_mode_table() {
        use Class::*;
        use DesyncMode::*;
        let row = |c| {
            [
                decide(Monitor, c),
                decide(Defensive, c),
                decide(Strictest, c),
            ]
        };
        assert_eq!(row(Compliant), [Decision::Allow; 3]);
        assert_eq!(
            row(Acceptable),
            [Decision::Allow, Decision::Allow, Decision::Block]
        );
        assert_eq!(
            row(Ambiguous),
            [Decision::Allow, Decision::AllowThenClose, Decision::Block]
        );
        assert_eq!(row(Severe), [Decision::Block; 3]);
    }

    /// A form feed is a control character, not whitespace around a value: the head is
    /// non-compliant and normalised without it (hyper's parser refuses it in a value).
    #[test]
    fn a_form_feed_around_a_value_is_a_control_character() {
        for head in [
            "GET / HTTP/1.1\r\nHost: a\x0c\r\n\r\n",
            "GET / HTTP/1.1\r\nHost:\x0ca\r\n\r\n",
        ] {
            let c = classify(head.as_bytes());
            assert_eq!(c.reason, Some(Reason::NonCompliantHeader), "{head:?}");
            assert!(c.rewrite, "{head:?}");
            let mut out = Vec::new();
            normalise(head.as_bytes(), &mut out);
            assert_eq!(
                String::from_utf8(out).unwrap_or_default(),
                "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
            );
        }
        // In `Transfer-Encoding`, the coding is not `chunked` but a bad one: refused.
        let c = classify(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\x0c\r\n\r\n");
        assert_eq!(c.reason, Some(Reason::BadTransferEncoding));
        // Spaces and tabs around a value are still optional whitespace.
        assert_eq!(
            classify(b"GET / HTTP/1.1\r\nHost: \t a \t\r\n\r\n").reason,
            None
        );
    }

    #[test]
    fn normalised_heads_parse_and_keep_their_meaning() {
        let mut out = Vec::new();
        normalise(
            b"POST /a b\x01 http/1.1\r\nHost: h\r\nX A: y\r\nTransfer-Encoding: identity, chunked\r\nContent-Length: 4\r\nX-C: a\x02b\r\n folded\r\n\r\n",
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap_or_default(),
            "POST /a%20b%01 HTTP/1.1\r\nHost: h\r\ntransfer-encoding: chunked\r\nX-C: ab\r\n\r\n"
        );
    }
}
