//! The DNS server through real sockets (UDP and TCP on 127.0.0.1:0), docs/aws-rules.md §ALB-6.
//!
//! The view is chosen from the query's source address, as in airlock. All sockets are on
//! 127.0.0.1, so the test's selector tells views apart by source *port*: a client that stands
//! "inside the VPC" registers its port before sending.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use airlock_dns::proto::op::{Edns, Message, Query, ResponseCode};
use airlock_dns::proto::rr::{Name, RData, Record, RecordType};
use airlock_dns::{
    DnsError, DnsHandle, DnsRequestHandler, DomainName, RecordData, RecordSet, Transport, View,
    Zone, serve,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, UdpSocket};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const ALB_NAME: &str = "internal-pets-alb-1529930873.us-east-1.elb.amazonaws.com";
const ALB_IPS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 0, 100, 10), Ipv4Addr::new(10, 0, 101, 10)];
const GATEWAY_IPS: [Ipv4Addr; 2] = [
    Ipv4Addr::new(198, 51, 100, 10),
    Ipv4Addr::new(198, 51, 100, 11),
];
const IO_BOUND: Duration = Duration::from_secs(5);

fn name(s: &str) -> DomainName {
    DomainName::parse(s).unwrap()
}

fn a(owner: &str, ttl: u32, ips: &[Ipv4Addr]) -> RecordSet {
    RecordSet::new(name(owner), ttl, RecordData::A(ips.to_vec()))
}

/// The default stack's DNS, as the stack crate will hand it over: the ALB's name in the public
/// ELB zone, the custom domain aliased to the gateway publicly and to the ALB privately.
fn stack_zones() -> Vec<Zone> {
    vec![
        Zone::new(
            name("elb.amazonaws.com"),
            false,
            vec![a(ALB_NAME, 60, &ALB_IPS)],
        )
        .unwrap(),
        Zone::new(
            name("example.com"),
            false,
            vec![
                a("private-integration.example.com", 60, &GATEWAY_IPS),
                a("www.example.com", 300, &[Ipv4Addr::new(198, 51, 100, 80)]),
                RecordSet::new(
                    name("info.example.com"),
                    300,
                    RecordData::Txt(vec!["hello".into()]),
                ),
                a(
                    "*.apps.example.com",
                    120,
                    &[Ipv4Addr::new(198, 51, 100, 90)],
                ),
                a(
                    "api.apps.example.com",
                    120,
                    &[Ipv4Addr::new(198, 51, 100, 91)],
                ),
                RecordSet::new(
                    name("big.example.com"),
                    300,
                    RecordData::Txt((0..8).map(|i| format!("{i}{}", "x".repeat(100))).collect()),
                ),
            ],
        )
        .unwrap(),
        Zone::new(
            name("example.com"),
            true,
            vec![a("private-integration.example.com", 60, &ALB_IPS)],
        )
        .unwrap(),
    ]
}

struct Dns {
    udp: SocketAddr,
    tcp: SocketAddr,
    data: DnsHandle,
    vpc_ports: Arc<Mutex<HashSet<u16>>>,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), DnsError>>,
}

impl Dns {
    async fn start(zones: Vec<Zone>) -> Self {
        let udp_socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let tcp_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let udp = udp_socket.local_addr().unwrap();
        let tcp = tcp_listener.local_addr().unwrap();
        let data = DnsHandle::new(zones).unwrap();
        let vpc_ports: Arc<Mutex<HashSet<u16>>> = Arc::default();
        let ports = Arc::clone(&vpc_ports);
        let selector = Arc::new(move |src: SocketAddr| {
            if ports.lock().unwrap().contains(&src.port()) {
                View::Vpc
            } else {
                View::Public
            }
        });
        let handler = DnsRequestHandler::new(data.clone(), selector);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve(udp_socket, tcp_listener, handler, shutdown.clone()));
        Self {
            udp,
            tcp,
            data,
            vpc_ports,
            shutdown,
            task,
        }
    }

    fn enter(&self, view: View, port: u16) {
        if view == View::Vpc {
            self.vpc_ports.lock().unwrap().insert(port);
        }
    }

    async fn udp(&self, view: View, query: &Message) -> Message {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        self.enter(view, socket.local_addr().unwrap().port());
        socket
            .send_to(&query.to_vec().unwrap(), self.udp)
            .await
            .unwrap();
        let mut buf = vec![0; 65_535];
        let (len, from) = tokio::time::timeout(IO_BOUND, socket.recv_from(&mut buf))
            .await
            .expect("UDP answer in time")
            .unwrap();
        assert_eq!(from, self.udp);
        assert!(len <= 4096, "UDP response of {len} bytes");
        let response = Message::from_vec(&buf[..len]).unwrap();
        assert_eq!(response.metadata.id, query.metadata.id);
        response
    }

    async fn tcp(&self, view: View, query: &Message) -> Message {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        self.enter(view, socket.local_addr().unwrap().port());
        let mut stream = socket.connect(self.tcp).await.unwrap();
        let bytes = query.to_vec().unwrap();
        let mut framed = u16::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
        framed.extend_from_slice(&bytes);
        stream.write_all(&framed).await.unwrap();
        let response = tokio::time::timeout(IO_BOUND, async {
            let len = stream.read_u16().await.unwrap();
            let mut buf = vec![0; usize::from(len)];
            stream.read_exact(&mut buf).await.unwrap();
            buf
        })
        .await
        .expect("TCP answer in time");
        let response = Message::from_vec(&response).unwrap();
        assert_eq!(response.metadata.id, query.metadata.id);
        response
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(IO_BOUND, self.task)
            .await
            .expect("server stops when cancelled")
            .unwrap()
            .unwrap();
    }
}

/// A fully qualified name, case as written (DNS names on the wire are absolute).
fn fqdn(text: &str) -> Name {
    let mut name = Name::from_ascii(text).unwrap();
    name.set_fqdn(true);
    name
}

fn query(qname: &str, rtype: RecordType) -> Message {
    let mut message = Message::query();
    message.add_query(Query::query(fqdn(qname), rtype));
    message.metadata.recursion_desired = true;
    message
}

fn a_addresses(records: &[Record]) -> Vec<Ipv4Addr> {
    records
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

fn assert_soa_authority(response: &Message, zone: &str) {
    let [soa] = response.authorities.as_slice() else {
        panic!(
            "expected exactly the SOA in authority, got {:?}",
            response.authorities
        );
    };
    assert_eq!(soa.name, Name::from_ascii(zone).unwrap());
    assert_eq!(soa.ttl, 900, "SOA TTL 900 (docs/aws-rules.md §ALB-6.1)");
    let RData::SOA(soa) = &soa.data else {
        panic!("authority holds {soa:?}, not an SOA");
    };
    assert_eq!(
        soa.mname,
        Name::from_ascii("ns-2048.awsdns-64.net.").unwrap()
    );
    assert_eq!(
        soa.rname,
        Name::from_ascii(format!("hostmaster.{zone}")).unwrap()
    );
    assert_eq!(
        (soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum),
        (1, 7200, 900, 1_209_600, 86_400)
    );
}

/// docs/aws-rules.md §ALB-1.1 and §ALB-6.3: the internal ALB's name answers publicly with its private node IPs,
/// one A record per node, TTL 60, owner = the queried name, AA set by the public server.
#[tokio::test]
async fn alb_name_answers_a_records_from_public_zone() {
    let dns = Dns::start(stack_zones()).await;
    let response = dns.udp(View::Public, &query(ALB_NAME, RecordType::A)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert!(response.metadata.authoritative, "AA in the public view");
    assert!(!response.metadata.recursion_available);
    assert!(!response.metadata.truncation);
    assert_eq!(a_addresses(&response.answers), ALB_IPS);
    for record in &response.answers {
        assert_eq!(record.name, fqdn(ALB_NAME));
        assert_eq!(record.ttl, 60);
    }
    // docs/aws-rules.md §ALB-6.4: positive answers carry the zone's NS records in authority.
    assert_eq!(response.authorities.len(), 4);
    assert!(
        response
            .authorities
            .iter()
            .all(|r| r.record_type() == RecordType::NS)
    );
    dns.stop().await;
}

/// docs/aws-rules.md §ALB-6.2 split view: the VPC sees the private zone (the ALB), the internet the public one
/// (the gateway); flags per docs/aws-rules.md §ALB-6.3 (RA, no AA, inside the VPC).
#[tokio::test]
async fn split_view_answers_by_source_address() {
    let dns = Dns::start(stack_zones()).await;
    let q = query("private-integration.example.com", RecordType::A);

    let public = dns.udp(View::Public, &q).await;
    assert_eq!(a_addresses(&public.answers), GATEWAY_IPS);
    assert!(public.metadata.authoritative);

    let vpc = dns.udp(View::Vpc, &q).await;
    assert_eq!(vpc.metadata.response_code, ResponseCode::NoError);
    assert_eq!(a_addresses(&vpc.answers), ALB_IPS);
    assert!(vpc.metadata.recursion_available, "RA from the VPC resolver");
    assert!(!vpc.metadata.authoritative, "no AA from the VPC resolver");

    // The ALB's own name, in no private zone, falls through to public data in the VPC too.
    let alb = dns.udp(View::Vpc, &query(ALB_NAME, RecordType::A)).await;
    assert_eq!(a_addresses(&alb.answers), ALB_IPS);
    dns.stop().await;
}

/// docs/aws-rules.md §ALB-6.4: a missing name is NXDOMAIN with the zone's SOA in authority.
#[tokio::test]
async fn missing_name_is_nxdomain_with_soa() {
    let dns = Dns::start(stack_zones()).await;
    let response = dns
        .udp(View::Public, &query("nope.example.com", RecordType::A))
        .await;
    assert_eq!(response.metadata.response_code, ResponseCode::NXDomain);
    assert!(response.answers.is_empty());
    assert!(response.metadata.authoritative);
    assert_soa_authority(&response, "example.com.");
    dns.stop().await;
}

/// docs/aws-rules.md §ALB-6.4: a name with other types only is NOERROR, no answer, SOA in authority.
#[tokio::test]
async fn other_type_is_nodata_with_soa() {
    let dns = Dns::start(stack_zones()).await;
    let response = dns
        .udp(View::Public, &query("www.example.com", RecordType::AAAA))
        .await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert!(response.answers.is_empty());
    assert_soa_authority(&response, "example.com.");

    // An empty non-terminal (`apps.example.com` exists only through names below it) is NODATA too.
    let ent = dns
        .udp(View::Public, &query("apps.example.com", RecordType::A))
        .await;
    assert_eq!(ent.metadata.response_code, ResponseCode::NoError);
    assert!(ent.answers.is_empty());
    dns.stop().await;
}

/// docs/aws-rules.md §ALB-6.2 step 4: when a private zone matches, only it answers, with NXDOMAIN for names it
/// lacks, even though the public zone of the same name has them.
#[tokio::test]
async fn private_zone_nxdomain_does_not_fall_back_to_public() {
    let dns = Dns::start(stack_zones()).await;
    let q = query("www.example.com", RecordType::A);
    let public = dns.udp(View::Public, &q).await;
    assert_eq!(
        a_addresses(&public.answers),
        [Ipv4Addr::new(198, 51, 100, 80)]
    );

    let vpc = dns.udp(View::Vpc, &q).await;
    assert_eq!(vpc.metadata.response_code, ResponseCode::NXDomain);
    assert!(vpc.answers.is_empty());
    assert_soa_authority(&vpc, "example.com.");

    // NODATA inside the private zone: the name exists there with A only.
    let nodata = dns
        .udp(
            View::Vpc,
            &query("private-integration.example.com", RecordType::TXT),
        )
        .await;
    assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
    assert!(nodata.answers.is_empty());
    assert_soa_authority(&nodata, "example.com.");
    dns.stop().await;
}

/// A name in no zone at all: REFUSED from the public (authoritative) view, NXDOMAIN without
/// SOA from the VPC (recursive) view, since airlock models no internet beyond its zones.
#[tokio::test]
async fn name_outside_every_zone() {
    let dns = Dns::start(stack_zones()).await;
    let q = query("example.org", RecordType::A);
    let public = dns.udp(View::Public, &q).await;
    assert_eq!(public.metadata.response_code, ResponseCode::Refused);
    assert!(!public.metadata.authoritative);
    let vpc = dns.udp(View::Vpc, &q).await;
    assert_eq!(vpc.metadata.response_code, ResponseCode::NXDomain);
    assert!(vpc.authorities.is_empty());
    dns.stop().await;
}

/// docs/aws-rules.md §ALB-6.3: answers follow changes (e.g. ALB nodes) without restart.
#[tokio::test]
async fn update_changes_answers_without_restart() {
    let dns = Dns::start(stack_zones()).await;
    let q = query(ALB_NAME, RecordType::A);
    assert_eq!(
        a_addresses(&dns.udp(View::Public, &q).await.answers),
        ALB_IPS
    );

    let moved = [Ipv4Addr::new(10, 0, 100, 77)];
    let mut zones = stack_zones();
    zones[0] = Zone::new(
        name("elb.amazonaws.com"),
        false,
        vec![a(ALB_NAME, 60, &moved)],
    )
    .unwrap();
    dns.data.update(zones).unwrap();
    assert_eq!(a_addresses(&dns.udp(View::Public, &q).await.answers), moved);
    assert_eq!(a_addresses(&dns.tcp(View::Public, &q).await.answers), moved);

    // Refused data leaves the old answers in place.
    let duplicate = vec![
        Zone::new(name("elb.amazonaws.com"), false, vec![]).unwrap(),
        Zone::new(name("elb.amazonaws.com"), false, vec![]).unwrap(),
    ];
    assert!(matches!(
        dns.data.update(duplicate),
        Err(DnsError::DuplicateZone { .. })
    ));
    assert_eq!(a_addresses(&dns.udp(View::Public, &q).await.answers), moved);
    dns.stop().await;
}

/// TCP answers the same as UDP, in both views.
#[tokio::test]
async fn tcp_answers_in_both_views() {
    let dns = Dns::start(stack_zones()).await;
    let q = query("private-integration.example.com", RecordType::A);
    let public = dns.tcp(View::Public, &q).await;
    assert_eq!(a_addresses(&public.answers), GATEWAY_IPS);
    assert!(public.metadata.authoritative);
    let vpc = dns.tcp(View::Vpc, &q).await;
    assert_eq!(a_addresses(&vpc.answers), ALB_IPS);
    assert!(vpc.metadata.recursion_available);
    dns.stop().await;
}

/// docs/aws-rules.md §ALB-6.4: over 512 bytes without EDNS, UDP sets TC; TCP, or EDNS, gets everything.
#[tokio::test]
async fn large_udp_answer_is_truncated_without_edns() {
    let dns = Dns::start(stack_zones()).await;
    let q = query("big.example.com", RecordType::TXT);
    let udp = dns.udp(View::Public, &q).await;
    assert!(
        udp.metadata.truncation,
        "TC set over 512 bytes without EDNS"
    );
    assert!(udp.answers.len() < 8);

    let tcp = dns.tcp(View::Public, &q).await;
    assert!(!tcp.metadata.truncation);
    assert_eq!(tcp.answers.len(), 8);

    let mut with_edns = q.clone();
    let mut edns = Edns::new();
    edns.set_max_payload(4096);
    with_edns.set_edns(edns);
    let big = dns.udp(View::Public, &with_edns).await;
    assert!(!big.metadata.truncation);
    assert_eq!(big.answers.len(), 8);
    assert!(big.edns.is_some(), "EDNS answered with EDNS");
    dns.stop().await;
}

/// docs/aws-rules.md §ALB-6.1: names match case-insensitively; the answer's owner is the name as asked.
#[tokio::test]
async fn names_match_case_insensitively() {
    let dns = Dns::start(stack_zones()).await;
    let asked = "Private-Integration.EXAMPLE.com";
    let response = dns.udp(View::Vpc, &query(asked, RecordType::A)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert_eq!(a_addresses(&response.answers), ALB_IPS);
    assert!(
        response
            .answers
            .iter()
            .all(|r| r.name.eq_case(&fqdn(asked)))
    );
    assert!(response.queries[0].name().eq_case(&fqdn(asked)));
    dns.stop().await;
}

/// docs/aws-rules.md §ALB-6.1: `*` answers for its level and deeper; a more specific name beats it.
#[tokio::test]
async fn wildcard_answers_unless_a_specific_name_exists() {
    let dns = Dns::start(stack_zones()).await;
    for (qname, ip) in [
        ("shop.apps.example.com", [198, 51, 100, 90]),
        ("a.b.apps.example.com", [198, 51, 100, 90]),
        ("api.apps.example.com", [198, 51, 100, 91]),
    ] {
        let response = dns.udp(View::Public, &query(qname, RecordType::A)).await;
        assert_eq!(
            response.metadata.response_code,
            ResponseCode::NoError,
            "{qname}"
        );
        assert_eq!(
            a_addresses(&response.answers),
            [Ipv4Addr::from(ip)],
            "{qname}"
        );
        assert_eq!(response.answers[0].name, fqdn(qname));
        assert_eq!(response.answers[0].ttl, 120);
    }
    // The wildcard has only A: other types are NODATA, not NXDOMAIN.
    let nodata = dns
        .udp(
            View::Public,
            &query("shop.apps.example.com", RecordType::TXT),
        )
        .await;
    assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
    assert!(nodata.answers.is_empty());
    dns.stop().await;
}

/// In-process lookups give the wire's answers without a socket.
#[tokio::test]
async fn in_process_resolve_matches_the_wire() {
    let dns = Dns::start(stack_zones()).await;
    let found = dns.data.resolve(
        View::Vpc,
        &name("private-integration.example.com"),
        RecordType::A,
    );
    let expected: Vec<IpAddr> = ALB_IPS.iter().copied().map(IpAddr::V4).collect();
    assert_eq!(found.addresses(), expected);
    dns.stop().await;
}

async fn dig(args: &[String]) -> String {
    let output = tokio::time::timeout(
        IO_BOUND * 2,
        tokio::process::Command::new("dig").args(args).output(),
    )
    .await
    .expect("dig finishes")
    .expect("dig runs");
    assert!(output.status.success(), "dig failed: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// `dig @127.0.0.1 -p PORT` works against the host-facing (public) listener.
#[tokio::test]
async fn dig_queries_the_public_view() {
    if !airlock_net::testing::tool("dig", "-v", "apt-get install dnsutils") {
        return;
    }
    let dns = Dns::start(stack_zones()).await;
    let common = |port: u16, qname: &str, extra: &[&str]| {
        let mut args = vec![
            "@127.0.0.1".to_owned(),
            "-p".to_owned(),
            port.to_string(),
            qname.to_owned(),
            "A".to_owned(),
            "+time=2".to_owned(),
            "+tries=1".to_owned(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args
    };

    let short = dig(&common(dns.udp.port(), ALB_NAME, &["+short"])).await;
    let mut lines: Vec<&str> = short.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["10.0.100.10", "10.0.101.10"]);

    let full = dig(&common(
        dns.tcp.port(),
        "private-integration.example.com",
        &["+tcp"],
    ))
    .await;
    assert!(full.contains("status: NOERROR"), "{full}");
    assert!(full.contains("flags: qr aa rd;"), "{full}");
    assert!(
        full.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == [
                    "private-integration.example.com.",
                    "60",
                    "IN",
                    "A",
                    "198.51.100.10"
                ]),
        "{full}"
    );

    let missing = dig(&common(dns.udp.port(), "nope.example.com", &[])).await;
    assert!(missing.contains("status: NXDOMAIN"), "{missing}");
    assert!(missing.contains(";; AUTHORITY SECTION:"), "{missing}");
    assert!(
        missing.contains("ns-2048.awsdns-64.net. hostmaster.example.com. 1 7200 900 1209600 86400"),
        "{missing}"
    );
    dns.stop().await;
}

/// A question whose name is compressed, pointing into the query's header (hickory decodes it):
/// the answer names the question as it was decoded, not whatever the response's header bytes
/// spell at that offset.
#[tokio::test]
async fn a_compressed_question_is_echoed_as_decoded() {
    let dns = Dns::start(vec![
        Zone::new(
            name("a"),
            false,
            vec![a("x.a", 60, &[Ipv4Addr::new(192, 0, 2, 1)])],
        )
        .unwrap(),
    ])
    .await;
    // Id 0x0161 and a first flags byte of 0 spell `\x01a\x00` (the name `a.`) at offset 0;
    // the question is `\x01x` followed by a pointer to offset 0: `x.a.`. In the response the
    // first flags byte is 0x84 (QR, AA), no label at all.
    let mut raw = vec![0x01, 0x61, 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    raw.extend_from_slice(&[1, b'x', 0xc0, 0x00, 0, 1, 0, 1]);
    assert_eq!(
        Message::from_vec(&raw).unwrap().queries[0].name(),
        &fqdn("x.a.")
    );
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(&raw, dns.udp).await.unwrap();
    let mut buf = vec![0; 65_535];
    let (len, _) = tokio::time::timeout(IO_BOUND, socket.recv_from(&mut buf))
        .await
        .expect("UDP answer in time")
        .unwrap();
    let response = Message::from_vec(&buf[..len]).expect("the response decodes");
    assert_eq!(response.queries[0].name(), &fqdn("x.a."));
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        a_addresses(&response.answers),
        [Ipv4Addr::new(192, 0, 2, 1)]
    );
    assert_eq!(response.answers[0].name, fqdn("x.a."));
    dns.stop().await;
}

/// `answer_message` runs the server's path without a socket: the same bytes come back as the
/// server sends, over UDP (a large answer cut, with TC) and TCP, and nothing for a response.
#[tokio::test]
async fn answer_message_gives_the_servers_bytes() {
    let dns = Dns::start(stack_zones()).await;
    let handler = DnsRequestHandler::new(dns.data.clone(), Arc::new(|_| View::Public));
    let src = SocketAddr::from((Ipv4Addr::LOCALHOST, 53));
    for (qname, rtype) in [
        ("www.example.com.", RecordType::A),
        ("big.example.com.", RecordType::TXT),
        ("nowhere.example.com.", RecordType::A),
    ] {
        let bytes = query(qname, rtype).to_vec().unwrap();
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        socket.send_to(&bytes, dns.udp).await.unwrap();
        let mut buf = vec![0; 65_535];
        let (len, _) = tokio::time::timeout(IO_BOUND, socket.recv_from(&mut buf))
            .await
            .expect("UDP answer in time")
            .unwrap();
        let direct = handler.answer_message(&bytes, src, Transport::Udp);
        assert_eq!(direct.as_deref(), Some(&buf[..len]), "{qname} over UDP");
        let tcp = handler.answer_message(&bytes, src, Transport::Tcp).unwrap();
        assert_eq!(
            Message::from_vec(&tcp).unwrap().answers,
            dns.tcp(View::Public, &query(qname, rtype)).await.answers,
            "{qname} over TCP"
        );
    }
    let big = handler
        .answer_message(
            &query("big.example.com.", RecordType::TXT).to_vec().unwrap(),
            src,
            Transport::Udp,
        )
        .unwrap();
    assert!(Message::from_vec(&big).unwrap().metadata.truncation);
    let mut response = query("www.example.com.", RecordType::A);
    response.metadata.message_type = airlock_dns::proto::op::MessageType::Response;
    let response = response.to_vec().unwrap();
    assert_eq!(handler.answer_message(&response, src, Transport::Udp), None);
    assert_eq!(
        handler.answer_message(&[1, 2, 3], src, Transport::Udp),
        None
    );
    dns.stop().await;
}
