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
    // Built on the stack and appended once: `String::push` per digit checks capacity each time.
    let mut text = [0u8; 15];
    let mut len = 0;
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            text[len] = b'.';
            len += 1;
        }
        if octet >= 100 {
            text[len] = b'0' + octet / 100;
            len += 1;
        }
        if octet >= 10 {
            text[len] = b'0' + (octet / 10) % 10;
            len += 1;
        }
        text[len] = b'0' + octet % 10;
        len += 1;
    }
    out.push_str(std::str::from_utf8(&text[..len]).unwrap_or_default());
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
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&digits[at..]).unwrap_or_default());
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
