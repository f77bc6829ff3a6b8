//! The DNS server's answer to a raw message (crates/dns): hickory's decoding, the view choice,
//! airlock's answer and hickory's encoding, as the server runs them for every query.
//!
//! Input: one byte choosing the transport (bit 0: TCP) and the view (bit 1: from inside the
//! VPC), then the message. Checked: nothing panics; an answer is a well-formed response to the
//! query (same id), and a UDP answer fits in 512 bytes unless the query offered more by EDNS.

#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, OnceLock};

use airlock_dns::proto::op::{Message, MessageType};
use airlock_dns::{
    DnsHandle, DnsRequestHandler, DomainName, RecordData, RecordSet, Transport, View, Zone,
};
use libfuzzer_sys::fuzz_target;

fn name(s: &str) -> DomainName {
    DomainName::parse(s).expect("a valid name")
}

/// Public and private zones with each kind of data the stack publishes: addresses, a CNAME
/// chain and a loop, a wildcard, and a record set big enough to be cut over UDP.
fn handler() -> &'static DnsRequestHandler {
    static HANDLER: OnceLock<DnsRequestHandler> = OnceLock::new();
    HANDLER.get_or_init(|| {
        let a = |s: &str, last: u8| {
            RecordSet::new(
                name(s),
                60,
                RecordData::A(vec![Ipv4Addr::new(198, 51, 100, last)]),
            )
        };
        let cname = |s: &str, to: &str| RecordSet::new(name(s), 300, RecordData::Cname(name(to)));
        let many: Vec<Ipv4Addr> = (1..=60).map(|i| Ipv4Addr::new(203, 0, 113, i)).collect();
        let public = vec![
            a("api.example.com", 1),
            a("*.apps.example.com", 2),
            cname("www.example.com", "api.example.com"),
            cname("loop1.example.com", "loop2.example.com"),
            cname("loop2.example.com", "loop1.example.com"),
            cname("out.example.com", "elsewhere.example.net"),
            RecordSet::new(name("big.example.com"), 60, RecordData::A(many)),
            RecordSet::new(
                name("v6.example.com"),
                60,
                RecordData::Aaaa(vec![Ipv6Addr::LOCALHOST]),
            ),
        ];
        let private = vec![
            RecordSet::new(
                name("api.example.com"),
                60,
                RecordData::A(vec![Ipv4Addr::new(10, 0, 1, 10)]),
            ),
            cname("db.internal.example.com", "api.example.com"),
        ];
        let data = DnsHandle::new(vec![
            Zone::new(name("example.com"), false, public).expect("public zone"),
            Zone::new(name("example.com"), true, private).expect("private zone"),
            Zone::new(name("internal.example.com"), true, Vec::new()).expect("empty zone"),
        ])
        .expect("zones");
        // The port stands for where the query came from: odd ports inside the VPC.
        let selector = Arc::new(|src: SocketAddr| {
            if src.port() % 2 == 1 {
                View::Vpc
            } else {
                View::Public
            }
        });
        DnsRequestHandler::new(data, selector)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&how, message)) = data.split_first() else {
        return;
    };
    let transport = if how & 1 == 1 {
        Transport::Tcp
    } else {
        Transport::Udp
    };
    let src = SocketAddr::from((Ipv4Addr::LOCALHOST, 40000 + u16::from(how >> 1 & 1)));
    let Some(answer) = handler().answer_message(message, src, transport) else {
        return;
    };
    let query = Message::from_vec(message).ok();
    let response = Message::from_vec(&answer).expect("the answer decodes");
    assert_eq!(response.metadata.message_type, MessageType::Response);
    if let Some(query) = query {
        assert_eq!(response.metadata.id, query.metadata.id);
        if transport == Transport::Udp {
            let offered = query
                .edns
                .as_ref()
                .map_or(512, |e| e.max_payload().max(512));
            assert!(
                answer.len() <= usize::from(offered),
                "{} bytes over UDP",
                answer.len()
            );
        }
    }
});
