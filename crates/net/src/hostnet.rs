//! The VPC on a real network: this host's (container's) interface on a Docker network whose
//! subnet is the VPC CIDR, and the private addresses airlock holds there so other containers
//! reach its load balancer nodes and VPC resolver with their own kernels (docs/compose.md).
//!
//! Addresses are added with one rtnetlink request each (`RTM_NEWADDR`, as `ip address add`
//! sends), which needs `CAP_NET_ADMIN` in the container's network namespace. A `/32` leaves the
//! routing table as the engine made it: the interface's own prefix already routes the subnet,
//! and the kernel answers ARP for every local address. The addresses go away with the
//! container's namespace; nothing on the host is changed.

use ipnet::Ipv4Net;
use std::io;
use std::net::Ipv4Addr;

/// An interface of this network namespace with an IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostInterface {
    /// The kernel's interface index.
    pub index: u32,
    /// Its address (the first one inside the range asked for).
    pub ip: Ipv4Addr,
}

/// The interface whose address lies in `cidr`, if any (the one the engine attached to the
/// VPC network).
pub fn interface_in(cidr: Ipv4Net) -> io::Result<Option<HostInterface>> {
    Ok(sys::addresses()?
        .into_iter()
        .find(|(_, ip)| cidr.contains(ip))
        .map(|(index, ip)| HostInterface { index, ip }))
}

/// Adds `ip/32` to the interface (already present is fine).
pub fn add_address(iface: HostInterface, ip: Ipv4Addr) -> io::Result<()> {
    sys::add_address(iface.index, ip)
}

#[cfg(target_os = "linux")]
mod sys {
    use rustix::net::netlink::SocketAddrNetlink;
    use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketType};
    use std::io;
    use std::net::Ipv4Addr;

    const RTM_NEWADDR: u16 = 20;
    const RTM_GETADDR: u16 = 22;
    const NLMSG_ERROR: u16 = 2;
    const NLMSG_DONE: u16 = 3;
    const NLM_F_REQUEST: u16 = 0x1;
    const NLM_F_ACK: u16 = 0x4;
    const NLM_F_DUMP: u16 = 0x300;
    const NLM_F_EXCL: u16 = 0x200;
    const NLM_F_CREATE: u16 = 0x400;
    const IFA_ADDRESS: u16 = 1;
    const IFA_LOCAL: u16 = 2;
    const AF_INET: u8 = 2;
    const EEXIST: i32 = 17;
    const HEADER: usize = 16;
    const IFADDRMSG: usize = 8;

    fn socket() -> io::Result<rustix::fd::OwnedFd> {
        let fd = rustix::net::socket(AddressFamily::NETLINK, SocketType::RAW, None)?;
        rustix::net::connect(&fd, &SocketAddrNetlink::new(0, 0))?;
        Ok(fd)
    }

    /// A request: header, `ifaddrmsg`, then attributes (each padded to 4 bytes).
    fn request(kind: u16, flags: u16, prefix: u8, index: u32, attrs: &[(u16, [u8; 4])]) -> Vec<u8> {
        let len = HEADER + IFADDRMSG + attrs.len() * 8;
        let mut m = Vec::with_capacity(len);
        m.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&flags.to_ne_bytes());
        m.extend_from_slice(&1u32.to_ne_bytes()); // sequence
        m.extend_from_slice(&0u32.to_ne_bytes()); // the kernel fills in the port id
        m.extend_from_slice(&[AF_INET, prefix, 0, 0]);
        m.extend_from_slice(&index.to_ne_bytes());
        for (kind, data) in attrs {
            m.extend_from_slice(&8u16.to_ne_bytes());
            m.extend_from_slice(&kind.to_ne_bytes());
            m.extend_from_slice(data);
        }
        m
    }

    fn u16_at(b: &[u8], at: usize) -> Option<u16> {
        Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
    }

    fn u32_at(b: &[u8], at: usize) -> Option<u32> {
        Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
    }

    fn shape() -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, "malformed rtnetlink answer")
    }

    /// Walks the messages of one datagram: `(type, payload)` each.
    fn messages(buf: &[u8]) -> io::Result<Vec<(u16, &[u8])>> {
        let mut out = Vec::new();
        let mut at = 0;
        while at + HEADER <= buf.len() {
            let len = u32_at(buf, at).ok_or_else(shape)? as usize;
            let kind = u16_at(buf, at + 4).ok_or_else(shape)?;
            if len < HEADER || at + len > buf.len() {
                return Err(shape());
            }
            out.push((kind, &buf[at + HEADER..at + len]));
            at += (len + 3) & !3;
        }
        Ok(out)
    }

    fn error_of(payload: &[u8]) -> io::Result<i32> {
        Ok(i32::from_ne_bytes(
            payload
                .get(..4)
                .ok_or_else(shape)?
                .try_into()
                .map_err(|_| shape())?,
        ))
    }

    pub(super) fn addresses() -> io::Result<Vec<(u32, Ipv4Addr)>> {
        let fd = socket()?;
        rustix::net::send(
            &fd,
            &request(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, 0, 0, &[]),
            SendFlags::empty(),
        )?;
        let mut found = Vec::new();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let (n, _) = rustix::net::recv(&fd, &mut buf[..], RecvFlags::empty())?;
            for (kind, payload) in messages(&buf[..n])? {
                match kind {
                    NLMSG_DONE => return Ok(found),
                    NLMSG_ERROR => {
                        let err = error_of(payload)?;
                        return Err(io::Error::from_raw_os_error(-err));
                    }
                    RTM_NEWADDR if payload.len() >= IFADDRMSG && payload[0] == AF_INET => {
                        let index = u32_at(payload, 4).ok_or_else(shape)?;
                        let mut at = IFADDRMSG;
                        let (mut local, mut address) = (None, None);
                        while at + 4 <= payload.len() {
                            let len = usize::from(u16_at(payload, at).ok_or_else(shape)?);
                            let kind = u16_at(payload, at + 2).ok_or_else(shape)?;
                            if len < 4 || at + len > payload.len() {
                                return Err(shape());
                            }
                            let data = &payload[at + 4..at + len];
                            if let Ok(octets) = <[u8; 4]>::try_from(data) {
                                match kind {
                                    IFA_LOCAL => local = Some(Ipv4Addr::from(octets)),
                                    IFA_ADDRESS => address = Some(Ipv4Addr::from(octets)),
                                    _ => {}
                                }
                            }
                            at += (len + 3) & !3;
                        }
                        if let Some(ip) = local.or(address) {
                            found.push((index, ip));
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    pub(super) fn add_address(index: u32, ip: Ipv4Addr) -> io::Result<()> {
        let fd = socket()?;
        let octets = ip.octets();
        let msg = request(
            RTM_NEWADDR,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            32,
            index,
            &[(IFA_LOCAL, octets), (IFA_ADDRESS, octets)],
        );
        rustix::net::send(&fd, &msg, SendFlags::empty())?;
        let mut buf = vec![0u8; 4096];
        let (n, _) = rustix::net::recv(&fd, &mut buf[..], RecvFlags::empty())?;
        for (kind, payload) in messages(&buf[..n])? {
            if kind == NLMSG_ERROR {
                return match error_of(payload)? {
                    0 => Ok(()),
                    e if -e == EEXIST => Ok(()),
                    e => Err(io::Error::from_raw_os_error(-e)),
                };
            }
        }
        Err(shape())
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    use std::io;
    use std::net::Ipv4Addr;

    fn unsupported() -> io::Error {
        io::Error::new(
            io::ErrorKind::Unsupported,
            "a VPC on a Docker network needs Linux (airlock's container)",
        )
    }

    pub(super) fn addresses() -> io::Result<Vec<(u32, Ipv4Addr)>> {
        Err(unsupported())
    }

    pub(super) fn add_address(_: u32, _: Ipv4Addr) -> io::Result<()> {
        Err(unsupported())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The dump finds loopback: the parser reads the kernel's real answer, not a fixture.
    #[test]
    fn the_address_dump_finds_loopback() {
        let lo = interface_in("127.0.0.0/8".parse().expect("a CIDR"))
            .expect("rtnetlink answers")
            .expect("loopback has 127.0.0.1");
        assert_eq!(lo.ip, Ipv4Addr::LOCALHOST);
        assert!(lo.index >= 1);
    }
}
