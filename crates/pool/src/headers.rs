//! Hop-by-hop header stripping, shared by every proxy in the chain.

use http::header::{
    CONNECTION, HeaderMap, HeaderName, HeaderValue, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE,
    TRAILER, TRANSFER_ENCODING, UPGRADE,
};

/// The headers RFC 9110 section 7.6.1 ("Connection") calls hop-by-hop, plus the
/// `Keep-Alive` and `Proxy-Connection` that older clients send.
const HOP_BY_HOP: [HeaderName; 7] = [
    CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    TE,
    TRAILER,
    TRANSFER_ENCODING,
    UPGRADE,
];

/// The proxy authentication headers: credentials for a proxy, which a proxy that does not ask
/// for them may consume as well (the gateway does; the ALB passes them on).
pub const PROXY_AUTH: [HeaderName; 2] = [PROXY_AUTHENTICATE, PROXY_AUTHORIZATION];

/// What happens to a protocol upgrade's headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upgrade {
    /// `Upgrade` goes with the other hop-by-hop headers.
    Strip,
    /// `Upgrade` and `Connection: upgrade` survive (a WebSocket handshake being forwarded).
    Keep,
}

/// Removes the hop-by-hop headers, those the `Connection` header names, and `also`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: Upgrade, also: &[HeaderName]) {
    // Most messages carry none: one pass of cheap name comparisons instead of a lookup each.
    if !headers
        .keys()
        .any(|k| HOP_BY_HOP.contains(k) || also.contains(k))
    {
        return;
    }
    let upgrade_value = match upgrade {
        Upgrade::Keep => headers.get(UPGRADE).cloned(),
        Upgrade::Strip => None,
    };
    if headers.contains_key(CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|s| s.split(','))
            .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for name in HOP_BY_HOP.iter().chain(also) {
        headers.remove(name);
    }
    if let Some(v) = upgrade_value {
        headers.insert(UPGRADE, v);
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn message() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, "X-Secret, keep-alive".parse().unwrap());
        h.insert("x-secret", "1".parse().unwrap());
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        h.insert(TE, "trailers".parse().unwrap());
        h.insert(PROXY_AUTHORIZATION, "Basic eA==".parse().unwrap());
        h.insert("x-kept", "1".parse().unwrap());
        h
    }

    #[test]
    fn hop_by_hop_headers_and_the_ones_connection_names_go() {
        let mut h = message();
        strip_hop_by_hop(&mut h, Upgrade::Strip, &[]);
        let left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["proxy-authorization", "x-kept"]);
        let mut h = message();
        strip_hop_by_hop(&mut h, Upgrade::Strip, &PROXY_AUTH);
        let left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["x-kept"]);
    }

    #[test]
    fn an_upgrade_survives_only_when_kept() {
        let upgrade = || {
            let mut h = HeaderMap::new();
            h.insert(CONNECTION, "Upgrade".parse().unwrap());
            h.insert(UPGRADE, "websocket".parse().unwrap());
            h
        };
        let mut h = upgrade();
        strip_hop_by_hop(&mut h, Upgrade::Keep, &[]);
        assert_eq!(h[UPGRADE], "websocket");
        assert_eq!(h[CONNECTION], "upgrade");
        let mut h = upgrade();
        strip_hop_by_hop(&mut h, Upgrade::Strip, &[]);
        assert!(h.is_empty(), "{h:?}");
    }
}
