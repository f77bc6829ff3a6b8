//! Header rewriting toward targets and back (docs/aws-rules.md §ALB-2.1, §ALB-2.2).

use crate::config::XffMode;
use airlock_net::text::{push_ip, push_socket_addr};
use airlock_pool::headers::Upgrade;
use http::HeaderMap;
use http::header::{CONNECTION, COOKIE, HeaderName, HeaderValue, UPGRADE};
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

/// `X-Amzn-Trace-Id`.
pub(crate) const X_AMZN_TRACE_ID: HeaderName = HeaderName::from_static("x-amzn-trace-id");
/// `X-Forwarded-For`.
pub(crate) const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `X-Forwarded-Proto`.
pub(crate) const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// `X-Forwarded-Port`.
pub(crate) const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");

/// Above this many incoming `X-Forwarded-For` addresses the ALB answers 463 (docs/aws-rules.md §ALB-2.2).
pub(crate) const MAX_XFF_ADDRESSES: usize = 30;
/// Above this many bytes of request headers, `X-Amzn-Trace-Id` keeps only `Root` (docs/aws-rules.md §ALB-2.2 (d)).
const TRACE_ID_REWRITE_THRESHOLD: usize = 7 * 1024;

/// The number of addresses in all `X-Forwarded-For` headers of a request.
pub(crate) fn xff_count(headers: &HeaderMap) -> usize {
    headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .filter(|entry| entry.iter().any(|b| !b.is_ascii_whitespace()))
        .count()
}

/// Applies the `X-Forwarded-For` mode (docs/aws-rules.md §ALB-2.2): append joins every incoming value and the client
/// address with `", "` into one header.
pub(crate) fn apply_xff(headers: &mut HeaderMap, mode: XffMode, client: SocketAddr, port: bool) {
    match mode {
        XffMode::Preserve => {}
        XffMode::Remove => {
            headers.remove(&X_FORWARDED_FOR);
        }
        XffMode::Append => {
            let mut me = String::with_capacity(24);
            match (client, port) {
                (c, false) => push_ip(&mut me, c.ip()),
                (SocketAddr::V4(c), true) => push_socket_addr(&mut me, SocketAddr::V4(c)),
                (SocketAddr::V6(c), true) => {
                    use std::fmt::Write as _;
                    let _ = write!(me, "[{}]:{}", c.ip(), c.port());
                }
            }
            let mut value = Vec::with_capacity(48);
            for v in headers.get_all(&X_FORWARDED_FOR) {
                let v = v.as_bytes().trim_ascii();
                if !v.is_empty() {
                    value.extend_from_slice(v);
                    value.extend_from_slice(b", ");
                }
            }
            value.extend_from_slice(me.as_bytes());
            // The bytes become the value's own (no copy), checked as `from_bytes` would.
            if let Ok(v) = HeaderValue::from_maybe_shared(bytes::Bytes::from(value)) {
                headers.insert(X_FORWARDED_FOR, v);
            }
        }
    }
}

/// A fresh trace id `1-<8 hex epoch seconds>-<24 hex>` (docs/aws-rules.md §ALB-2.2), built in place: once per request.
fn new_trace_value(now: SystemTime) -> [u8; 35] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let id: [u8; 12] = rand::random();
    let mut out = *b"1-00000000-000000000000000000000000";
    let digits = (secs as u32).to_be_bytes().into_iter().chain(id);
    // Positions 2..10 (the time) and 11..35 (the random part), two hex digits a byte.
    let slots = (2..10).step_by(2).chain((11..35).step_by(2));
    for (at, b) in slots.zip(digits) {
        out[at] = HEX[usize::from(b >> 4)];
        out[at + 1] = HEX[usize::from(b & 0xf)];
    }
    out
}

/// The fields of a trace header as `(key, value)`, trimmed, empty ones skipped; a field without
/// `=` has an empty value.
fn trace_fields(value: &str) -> impl Iterator<Item = (&str, &str)> {
    value
        .split(';')
        .map(|f| f.trim_matches(|c: char| c.is_ascii_whitespace()))
        .filter(|f| !f.is_empty())
        .map(|f| f.split_once('=').unwrap_or((f, "")))
}

/// The first `Root` value of a trace header and whether it has a `Self` field, in one walk of
/// its fields (it is scanned on every request).
fn scan_trace_fields(value: &str) -> (Option<&str>, bool) {
    let mut root = None;
    let mut has_self = false;
    for (key, val) in trace_fields(value) {
        match key {
            "Root" if root.is_none() => root = Some(val),
            "Self" => has_self = true,
            _ => {}
        }
    }
    (root, has_self)
}

/// Rewrites `X-Amzn-Trace-Id` per docs/aws-rules.md §ALB-2.2 rules (a)–(d); a fresh id carries `now` (when the request
/// arrived, already read for the access log). With `keep`, also returns the new value's bytes,
/// shared with the header (for the request's trace: no copy, no second check).
pub(crate) fn apply_trace_id(
    headers: &mut HeaderMap,
    now: SystemTime,
    keep: bool,
) -> Option<bytes::Bytes> {
    let fresh = new_trace_value(now);
    // ASCII hex digits and dashes: the check cannot fail.
    let fresh = std::str::from_utf8(&fresh).unwrap_or("1-00000000-000000000000000000000000");
    let new = match headers.get(&X_AMZN_TRACE_ID).and_then(|v| v.to_str().ok()) {
        // (a)
        None => ["Root=", fresh].concat(),
        Some(existing) => {
            // One walk over the fields finds what the rules look at; most requests then take
            // (b). The fields are walked again only to rewrite `Self` (c).
            let (root, has_self) = scan_trace_fields(existing);
            let total: usize = headers
                .iter()
                .map(|(n, v)| n.as_str().len() + v.len() + 4)
                .sum();
            if total > TRACE_ID_REWRITE_THRESHOLD {
                // (d)
                ["Root=", root.unwrap_or(fresh)].concat()
            } else if has_self {
                // (c)
                let mut out = String::with_capacity(existing.len() + fresh.len());
                for (k, v) in trace_fields(existing) {
                    if !out.is_empty() {
                        out.push(';');
                    }
                    out.push_str(k);
                    match k {
                        "Self" => {
                            out.push('=');
                            out.push_str(fresh);
                        }
                        _ if v.is_empty() => {}
                        _ => {
                            out.push('=');
                            out.push_str(v);
                        }
                    }
                }
                out
            } else if root.is_some() {
                // (b)
                ["Self=", fresh, ";", existing].concat()
            } else {
                // Neither Root nor Self: unconfirmed in docs/aws-rules.md §ALB-2.2; start a new trace, keep the rest.
                ["Root=", fresh, ";", existing].concat()
            }
        }
    };
    // The string becomes the value's bytes as they are (no copy); checked as `from_str` would.
    let new = bytes::Bytes::from(new);
    let kept = keep.then(|| new.clone());
    let v = HeaderValue::from_maybe_shared(new).ok()?;
    headers.insert(X_AMZN_TRACE_ID, v);
    kept
}

/// Splits `host[:port]` (also `[v6]:port`).
pub(crate) fn split_host_port(host: &str) -> (&str, Option<&str>) {
    if host.starts_with('[') {
        if let Some(end) = host.find(']') {
            let rest = &host[end + 1..];
            return (&host[..=end], rest.strip_prefix(':'));
        }
        return (host, None);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        _ => (host, None),
    }
}

/// The `Host` sent to the target with preservation off (docs/aws-rules.md §ALB-2.2): lower-cased; `:port` stripped on
/// listener ports 80 and 443, the listener port appended elsewhere when the client gave none.
pub(crate) fn target_host(client_host: &str, listener_port: u16) -> String {
    let lower = client_host.to_ascii_lowercase();
    let (h, port) = split_host_port(&lower);
    if listener_port == 80 || listener_port == 443 {
        h.to_owned()
    } else if port.is_some() {
        lower
    } else {
        format!("{h}:{listener_port}")
    }
}

/// Whether an HTTP/1.1 request asks to switch protocols (WebSocket).
pub(crate) fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(UPGRADE) && connection_has(headers, "upgrade")
}

fn connection_has(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|s| s.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Removes hop-by-hop headers (RFC 9110 §7.6.1) and those the `Connection` header names. When
/// `upgrade` is set, the `Upgrade` header and `Connection: upgrade` survive (WebSocket,
/// docs/aws-rules.md §ALB-1.3).
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    let upgrade = if upgrade {
        Upgrade::Keep
    } else {
        Upgrade::Strip
    };
    airlock_pool::headers::strip_hop_by_hop(headers, upgrade, &[]);
}

/// HTTP/2 clients may split `cookie` into several fields; HTTP/1.1 wants one, joined by `"; "`
/// (RFC 9113 §8.2.3).
pub(crate) fn join_cookies(headers: &mut HeaderMap) {
    if headers.get_all(COOKIE).iter().nth(1).is_none() {
        return;
    }
    let joined: Vec<u8> = headers
        .get_all(COOKIE)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect::<Vec<_>>()
        .join(&b"; "[..]);
    if let Ok(v) = HeaderValue::from_bytes(&joined) {
        headers.insert(COOKIE, v);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_new_trace_value_is_version_time_and_96_random_bits() {
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let v = String::from_utf8(new_trace_value(SystemTime::now()).to_vec()).unwrap();
        let after = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(v.len(), 35, "{v}");
        // The time field is the epoch seconds, in hex.
        let secs = u64::from_str_radix(&v[2..10], 16).unwrap();
        assert!((before..=after).contains(&secs), "{v}");
        assert!(v.starts_with("1-") && v.as_bytes()[10] == b'-', "{v}");
        assert!(
            v[2..10]
                .bytes()
                .chain(v[11..].bytes())
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{v}"
        );
        assert_ne!(new_trace_value(SystemTime::now()), v.as_bytes());
    }

    #[test]
    fn xff_append_example_of_alb_2_2() {
        let mut h = HeaderMap::new();
        h.insert(X_FORWARDED_FOR, "127.0.0.4, 127.0.0.8".parse().unwrap());
        apply_xff(
            &mut h,
            XffMode::Append,
            "127.0.0.1:5000".parse().unwrap(),
            false,
        );
        assert_eq!(h[&X_FORWARDED_FOR], "127.0.0.4, 127.0.0.8, 127.0.0.1");
        let mut h = HeaderMap::new();
        apply_xff(
            &mut h,
            XffMode::Append,
            "10.0.0.9:5000".parse().unwrap(),
            true,
        );
        assert_eq!(h[&X_FORWARDED_FOR], "10.0.0.9:5000");
        let mut h = HeaderMap::new();
        apply_xff(
            &mut h,
            XffMode::Preserve,
            "10.0.0.9:5000".parse().unwrap(),
            false,
        );
        assert!(!h.contains_key(&X_FORWARDED_FOR));
        h.insert(X_FORWARDED_FOR, "1.2.3.4".parse().unwrap());
        apply_xff(
            &mut h,
            XffMode::Remove,
            "10.0.0.9:5000".parse().unwrap(),
            false,
        );
        assert!(!h.contains_key(&X_FORWARDED_FOR));
    }

    #[test]
    fn xff_count_spans_header_lines() {
        let mut h = HeaderMap::new();
        h.append(X_FORWARDED_FOR, "1.1.1.1, 2.2.2.2".parse().unwrap());
        h.append(X_FORWARDED_FOR, "3.3.3.3,,".parse().unwrap());
        assert_eq!(xff_count(&h), 3);
    }

    fn is_trace_value(v: &str) -> bool {
        let parts: Vec<&str> = v.split('-').collect();
        parts.len() == 3
            && parts[0] == "1"
            && parts[1].len() == 8
            && parts[2].len() == 24
            && parts[1..].iter().all(|p| {
                p.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            })
    }

    #[test]
    fn trace_id_rules_a_to_d() {
        // (a)
        let mut h = HeaderMap::new();
        apply_trace_id(&mut h, SystemTime::now(), false);
        let v = h[&X_AMZN_TRACE_ID].to_str().unwrap().to_owned();
        assert!(is_trace_value(v.strip_prefix("Root=").unwrap()), "{v}");
        // (b)
        let mut h = HeaderMap::new();
        h.insert(
            X_AMZN_TRACE_ID,
            "Root=1-67891233-abcdef012345678912345678;CalledFrom=app"
                .parse()
                .unwrap(),
        );
        apply_trace_id(&mut h, SystemTime::now(), false);
        let v = h[&X_AMZN_TRACE_ID].to_str().unwrap();
        let (self_field, rest) = v.split_once(';').unwrap();
        assert!(is_trace_value(self_field.strip_prefix("Self=").unwrap()));
        assert_eq!(
            rest,
            "Root=1-67891233-abcdef012345678912345678;CalledFrom=app"
        );
        // (c)
        let mut h = HeaderMap::new();
        h.insert(
            X_AMZN_TRACE_ID,
            "Self=1-00000000-000000000000000000000000;Root=1-67891233-abcdef012345678912345678"
                .parse()
                .unwrap(),
        );
        apply_trace_id(&mut h, SystemTime::now(), false);
        let v = h[&X_AMZN_TRACE_ID].to_str().unwrap();
        assert!(!v.contains("000000000000000000000000"), "{v}");
        assert!(v.ends_with(";Root=1-67891233-abcdef012345678912345678"));
        // (d)
        let mut h = HeaderMap::new();
        h.insert(
            X_AMZN_TRACE_ID,
            "Root=1-67891233-abcdef012345678912345678;Custom=x"
                .parse()
                .unwrap(),
        );
        h.insert("x-big", "a".repeat(8 * 1024).parse().unwrap());
        apply_trace_id(&mut h, SystemTime::now(), false);
        assert_eq!(
            h[&X_AMZN_TRACE_ID],
            "Root=1-67891233-abcdef012345678912345678"
        );
    }

    #[test]
    fn host_rewrite_of_alb_2_2() {
        assert_eq!(target_host("API.Example.com:443", 443), "api.example.com");
        assert_eq!(target_host("api.example.com:8443", 443), "api.example.com");
        assert_eq!(target_host("api.example.com", 8080), "api.example.com:8080");
        assert_eq!(target_host("api.example.com:9", 8080), "api.example.com:9");
        assert_eq!(target_host("[::1]:80", 80), "[::1]");
        assert_eq!(split_host_port("[::1]:8080"), ("[::1]", Some("8080")));
    }

    #[test]
    fn hop_by_hop_headers_go() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, "keep-alive, x-secret".parse().unwrap());
        h.insert("x-secret", "1".parse().unwrap());
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        h.insert(http::header::TE, "trailers".parse().unwrap());
        h.insert("x-kept", "1".parse().unwrap());
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1, "{h:?}");
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, "Upgrade".parse().unwrap());
        h.insert(UPGRADE, "websocket".parse().unwrap());
        assert!(is_upgrade(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h[UPGRADE], "websocket");
        assert_eq!(h[CONNECTION], "upgrade");
    }

    #[test]
    fn cookies_are_joined() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, "a=1".parse().unwrap());
        h.append(COOKIE, "b=2".parse().unwrap());
        join_cookies(&mut h);
        assert_eq!(h.get_all(COOKIE).iter().count(), 1);
        assert_eq!(h[COOKIE], "a=1; b=2");
    }
}
