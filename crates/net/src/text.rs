//! Addresses as text, written straight into a buffer.
//!
//! Every request through the chain writes several addresses (`X-Forwarded-For`, the gateway's
//! `sourceIp`, the ALB's access log). `Display` for `Ipv4Addr` goes through the formatting
//! machinery four times per address; these write the same text directly.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Appends `ip` as `Display` writes it (dotted quad; IPv6 in its canonical form).
pub fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => push_ipv4(out, v4),
        IpAddr::V6(v6) => {
            use std::fmt::Write as _;
            // Rare on the request path (the emulated VPC is IPv4): the standard text is kept.
            let _ = write!(out, "{v6}");
        }
    }
}

/// Appends `ip` as a dotted quad.
pub fn push_ipv4(out: &mut String, ip: Ipv4Addr) {
    out.reserve(15);
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        // ASCII digits pushed as chars: no UTF-8 validation of a scratch buffer per address.
        if octet >= 100 {
            out.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            out.push(char::from(b'0' + (octet / 10) % 10));
        }
        out.push(char::from(b'0' + octet % 10));
    }
}

/// Appends `addr` as `Display` writes it: `a.b.c.d:port`, or `[v6]:port`.
pub fn push_socket_addr(out: &mut String, addr: SocketAddr) {
    match addr {
        SocketAddr::V4(v4) => {
            push_ipv4(out, *v4.ip());
            out.push(':');
            push_u64(out, u64::from(v4.port()));
        }
        SocketAddr::V6(v6) => {
            use std::fmt::Write as _;
            let _ = write!(out, "{v6}");
        }
    }
}

/// Appends `n` in decimal.
pub fn push_u64(out: &mut String, n: u64) {
    // itoa writes two digits per step from a table and hands back text it knows is ASCII.
    out.push_str(itoa::Buffer::new().format(n));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text is exactly what `Display` writes, for edge octets, ports and IPv6.
    #[test]
    fn same_text_as_display() {
        let addrs: [SocketAddr; 6] = [
            SocketAddr::from(([0, 0, 0, 0], 0)),
            SocketAddr::from(([10, 0, 100, 9], 443)),
            SocketAddr::from(([255, 255, 255, 255], 65535)),
            SocketAddr::from(([1, 20, 199, 100], 8080)),
            "[::1]:80".parse().unwrap_or(SocketAddr::from(([0; 4], 1))),
            "[2001:db8::5%3]:9"
                .parse()
                .unwrap_or(SocketAddr::from(([0; 4], 2))),
        ];
        for addr in addrs {
            let mut text = String::new();
            push_socket_addr(&mut text, addr);
            assert_eq!(text, addr.to_string());
            let mut ip = String::new();
            push_ip(&mut ip, addr.ip());
            assert_eq!(ip, addr.ip().to_string());
        }
        for n in [0u64, 7, 10, 99, 100, 65535, u64::MAX] {
            let mut text = String::new();
            push_u64(&mut text, n);
            assert_eq!(text, n.to_string());
        }
    }
}
