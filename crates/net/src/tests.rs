#![allow(clippy::unwrap_used)]

use super::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn net() -> Network {
    let cidr = |s: &str| s.parse::<Ipv4Net>().unwrap();
    Network::new(VpcSpec {
        cidr: cidr("10.0.0.0/16"),
        subnets: vec![
            SubnetSpec {
                name: "a".into(),
                cidr: cidr("10.0.100.0/24"),
                availability_zone: "us-east-1a".into(),
            },
            SubnetSpec {
                name: "tiny".into(),
                cidr: cidr("10.0.7.0/29"),
                availability_zone: "us-east-1b".into(),
            },
        ],
        security_groups: vec![
            SecurityGroupSpec::with_default_egress("client", vec![]),
            SecurityGroupSpec::with_default_egress(
                "server",
                vec![Rule {
                    protocol: Protocol::Tcp,
                    from_port: 443,
                    to_port: 443,
                    source: Source::Group("client".into()),
                }],
            ),
            SecurityGroupSpec {
                name: "no-egress".into(),
                ingress: vec![],
                egress: vec![],
            },
        ],
    })
}

#[test]
fn addresses_skip_reserved_and_run_out() {
    let n = net();
    let a = n.create_interface("a", &["client".into()], "x").unwrap();
    assert_eq!(a.ip(), Ipv4Addr::new(10, 0, 100, 4));
    // A /29 has 8 addresses: 5 reserved, so 3 usable.
    for last in [4, 5, 6] {
        let i = n.create_interface("tiny", &[], "t").unwrap();
        assert_eq!(i.ip(), Ipv4Addr::new(10, 0, 7, last));
    }
    assert!(matches!(
        n.create_interface("tiny", &[], "t"),
        Err(NetError::SubnetFull(_))
    ));
    assert!(matches!(
        n.create_interface("nope", &[], "t"),
        Err(NetError::UnknownSubnet(_))
    ));
    assert!(matches!(
        n.create_interface("a", &["ghost".into()], "t"),
        Err(NetError::UnknownSecurityGroup(_))
    ));
    assert_eq!(n.resolver_ip(), Ipv4Addr::new(10, 0, 0, 2));
}

/// A network with a client interface and a server interface listening in-process on 443.
fn client_and_listener() -> (Network, Interface, Interface, EmulatedListener) {
    let n = net();
    let client = n.create_interface("a", &["client".into()], "c").unwrap();
    let server = n.create_interface("a", &["server".into()], "s").unwrap();
    let listener = n.listen(std::slice::from_ref(&server), 443).unwrap();
    (n, client, server, listener)
}

#[tokio::test]
async fn dial_carries_bytes_and_the_emulated_peer() {
    let (n, client, server, mut listener) = client_and_listener();
    let to = SocketAddr::from((server.ip(), 443));
    let accept = tokio::spawn(async move {
        let Accepted {
            mut stream, info, ..
        } = listener.accept().await;
        let mut buf = [0u8; 5];
        stream.read_exact(&mut buf).await.unwrap();
        stream.write_all(b"world").await.unwrap();
        stream.shutdown().await.unwrap();
        (info, buf, listener)
    });
    let mut s = n
        .dial(&Origin::Interface(client.clone()), to)
        .await
        .unwrap();
    assert!(
        matches!(s, NetStream::Pipe(_)),
        "an airlock listener is reached in-process"
    );
    s.write_all(b"hello").await.unwrap();
    let (info, buf, _listener) = accept.await.unwrap();
    assert_eq!(&buf, b"hello");
    assert_eq!(info.peer.ip(), std::net::IpAddr::V4(client.ip()));
    assert_eq!(info.local, to);
    // The reply, then EOF after the listener's half-close, as over TCP.
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).await.unwrap();
    assert_eq!(reply, b"world");
}

#[tokio::test]
async fn security_groups_drop_silently_and_nothing_listening_refuses() {
    let n = net();
    let client = n.create_interface("a", &["client".into()], "c").unwrap();
    let stranger = n.create_interface("a", &["server".into()], "x").unwrap();
    let mute = n.create_interface("a", &["no-egress".into()], "m").unwrap();
    let server = n.create_interface("a", &["server".into()], "s").unwrap();
    let _l = n.listen(std::slice::from_ref(&server), 443).unwrap();
    let to = SocketAddr::from((server.ip(), 443));

    assert_eq!(
        n.judge(&Origin::Interface(client.clone()), to),
        Verdict::Reachable
    );
    assert_eq!(
        n.judge(&Origin::Interface(stranger.clone()), to),
        Verdict::IngressDenied {
            groups: vec!["server".into()]
        }
    );
    assert_eq!(
        n.judge(&Origin::Interface(mute.clone()), to),
        Verdict::EgressDenied {
            groups: vec!["no-egress".into()]
        }
    );
    assert_eq!(
        n.judge(&Origin::Internet, to),
        Verdict::NotRoutedFromInternet
    );
    // Dropped: the connect never completes.
    let dropped = tokio::time::timeout(
        Duration::from_millis(200),
        n.dial(&Origin::Interface(stranger), to),
    )
    .await;
    assert!(dropped.is_err(), "a denied dial must hang, not fail");
    // Allowed port without a listener: refused at once.
    let to_80 = SocketAddr::from((server.ip(), 80));
    let open = SecurityGroupSpec::with_default_egress(
        "server",
        vec![Rule {
            protocol: Protocol::All,
            from_port: 0,
            to_port: 0,
            source: Source::Group("client".into()),
        }],
    );
    n.set_security_group(open);
    assert!(matches!(
        n.dial(&Origin::Interface(client), to_80).await,
        Err(DialError::Refused(_))
    ));
}

#[tokio::test]
async fn dropping_a_listener_releases_its_addresses_and_refuses_dials() {
    let (n, client, server, l) = client_and_listener();
    assert_eq!(n.interfaces()[1].listening_ports, vec![443]);
    assert!(matches!(
        n.listen(std::slice::from_ref(&server), 443),
        Err(NetError::AddressInUse(_))
    ));
    drop(l);
    assert!(n.interfaces()[1].listening_ports.is_empty());
    let to = SocketAddr::from((server.ip(), 443));
    assert!(matches!(
        n.dial(&Origin::Interface(client), to).await,
        Err(DialError::Refused(_))
    ));
}

#[tokio::test]
async fn a_foreign_process_is_reached_over_loopback_tcp() {
    let n = net();
    let client = n.create_interface("a", &["client".into()], "c").unwrap();
    let server = n.create_interface("a", &["server".into()], "s").unwrap();
    let backend = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let private = SocketAddrV4::new(server.ip(), 443);
    let _reg = n.register(private, backend.local_addr().unwrap()).unwrap();
    let accept = tokio::spawn(async move {
        let (mut s, _) = backend.accept().await.unwrap();
        let mut buf = [0u8; 2];
        s.read_exact(&mut buf).await.unwrap();
        buf
    });
    let mut s = n
        .dial(&Origin::Interface(client), private.into())
        .await
        .unwrap();
    assert!(matches!(s, NetStream::Tcp(_)));
    s.write_all(b"hi").await.unwrap();
    assert_eq!(&accept.await.unwrap(), b"hi");
}

/// An internet-facing node's public address leads to the same in-process listener, with the
/// internet's client address, and the node's groups decide.
#[tokio::test]
async fn a_published_listener_is_reached_from_the_internet() {
    let n = net();
    let node = n.create_interface("a", &["server".into()], "node").unwrap();
    let mut l = n.listen(std::slice::from_ref(&node), 443).unwrap();
    let public = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 20), 443);
    let reg = l.publish(public, node.clone()).unwrap();
    // The group admits only the client group: the internet is not admitted.
    assert_eq!(
        n.judge(&Origin::Internet, public.into()),
        Verdict::IngressDenied {
            groups: vec!["server".into()]
        }
    );
    n.set_security_group(SecurityGroupSpec::with_default_egress(
        "server",
        vec![Rule {
            protocol: Protocol::Tcp,
            from_port: 443,
            to_port: 443,
            source: Source::Cidr("0.0.0.0/0".parse().unwrap()),
        }],
    ));
    let _s = n.dial(&Origin::Internet, public.into()).await.unwrap();
    let accepted = l.accept().await;
    assert_eq!(
        accepted.info.peer.ip(),
        std::net::IpAddr::V4(INTERNET_CLIENT_IP)
    );
    assert_eq!(accepted.info.local, SocketAddr::V4(public));
    drop(reg);
    assert_eq!(
        n.judge(&Origin::Internet, public.into()),
        Verdict::NoSuchAddress
    );
}

#[tokio::test]
async fn public_endpoints_and_the_resolver() {
    let n = net();
    let client = n.create_interface("a", &["client".into()], "c").unwrap();
    let backend = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend_addr = backend.local_addr().unwrap();
    let public = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 10), 443);
    let reg = n.register_public(public, backend_addr).unwrap();
    assert_eq!(
        n.judge(&Origin::Internet, public.into()),
        Verdict::Reachable
    );
    assert_eq!(
        n.judge(&Origin::Interface(client.clone()), public.into()),
        Verdict::Reachable
    );
    n.dial(&Origin::Internet, public.into()).await.unwrap();
    drop(reg);
    assert_eq!(
        n.judge(&Origin::Internet, public.into()),
        Verdict::NoSuchAddress
    );

    let _r = n.register_resolver(backend_addr).unwrap();
    let resolver = SocketAddr::from((n.resolver_ip(), 53));
    // Security groups do not filter the resolver; the internet cannot reach it.
    let mute = n.create_interface("a", &["no-egress".into()], "m").unwrap();
    assert_eq!(
        n.judge(&Origin::Interface(mute), resolver),
        Verdict::Reachable
    );
    assert_eq!(
        n.judge(&Origin::Internet, resolver),
        Verdict::NotRoutedFromInternet
    );
}

/// A writer that keeps what the log subscriber writes, for asserting on warnings.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A denied connection is dropped silently and airlock warns which interface tried to
/// reach which, and which group lacks which rule.
#[tokio::test]
async fn a_dropped_connection_is_logged_at_warn_with_the_missing_rule() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let n = net();
    let stranger = n
        .create_interface("a", &["server".into()], "a stranger")
        .unwrap();
    let server = n
        .create_interface("a", &["server".into()], "the server")
        .unwrap();
    let _l = n.listen(std::slice::from_ref(&server), 443).unwrap();
    let to = SocketAddr::from((server.ip(), 443));
    let dropped = tokio::time::timeout(
        Duration::from_millis(100),
        n.dial(&Origin::Interface(stranger.clone()), to),
    )
    .await;
    assert!(dropped.is_err());
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("WARN"), "{log}");
    assert!(log.contains("connection dropped by the VPC"), "{log}");
    assert!(
        log.contains(&stranger.ip().to_string()) && log.contains("a stranger"),
        "{log}"
    );
    assert!(log.contains(&to.to_string()), "{log}");
    assert!(
        log.contains(
            "no ingress rule of the destination's security groups [\"server\"] admits tcp/443"
        ),
        "{log}"
    );
}

/// A relay's stream handed over with `carry` is what the in-process listener reads and
/// writes; toward a foreign process `carry` relays the bytes instead.
#[tokio::test]
async fn carry_hands_a_stream_over_or_relays_it() {
    let (n, client, server, mut listener) = client_and_listener();
    let to = SocketAddr::from((server.ip(), 443));
    let opening = n
        .open(&Origin::Interface(client.clone()), to)
        .await
        .unwrap();
    let (mut relay_side, carrier) = tokio::io::duplex(1024);
    assert_eq!(opening.carry(carrier).await.unwrap(), None);
    let Accepted {
        mut stream, info, ..
    } = listener.accept().await;
    assert!(matches!(stream, NetStream::Carried(_)));
    assert_eq!(info.peer.ip(), std::net::IpAddr::V4(client.ip()));
    relay_side.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    stream.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");
    stream.write_all(b"pong").await.unwrap();
    relay_side.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"pong");

    let backend = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let private = SocketAddrV4::new(server.ip(), 80);
    let _reg = n.register(private, backend.local_addr().unwrap()).unwrap();
    n.set_security_group(SecurityGroupSpec::with_default_egress(
        "server",
        vec![Rule {
            protocol: Protocol::All,
            from_port: 0,
            to_port: 0,
            source: Source::Group("client".into()),
        }],
    ));
    let opening = n
        .open(&Origin::Interface(client), private.into())
        .await
        .unwrap();
    let (mut relay_side, carrier) = tokio::io::duplex(1024);
    let relay = tokio::spawn(opening.carry(carrier));
    let (mut s, _) = backend.accept().await.unwrap();
    relay_side.write_all(b"over tcp").await.unwrap();
    relay_side.shutdown().await.unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"over tcp");
    drop(s);
    assert_eq!(relay.await.unwrap().unwrap(), Some((8, 0)));
}

/// A connection that reached a private address through a real network (the VPC as a Docker
/// network): a host airlock does not know carries no group, so only a CIDR rule admits it, and
/// it arrives with its real address; one outside the rule is dropped (never completes); a peer
/// at an interface's address is that interface, judged by its groups.
#[tokio::test]
async fn a_host_on_the_real_network_matches_cidr_rules_only() {
    let n = net();
    let client = n.create_interface("a", &["client".into()], "c").unwrap();
    let server = n.create_interface("a", &["server".into()], "s").unwrap();
    let mut listener = n.listen(std::slice::from_ref(&server), 443).unwrap();
    let to = SocketAddrV4::new(server.ip(), 443);
    let admitted = SocketAddrV4::new(Ipv4Addr::new(10, 0, 255, 10), 40000);
    let stranger = SocketAddrV4::new(Ipv4Addr::new(10, 0, 255, 200), 40001);

    // Only the group rule so far: no host outside airlock matches it.
    let dropped =
        tokio::time::timeout(Duration::from_millis(200), n.open_from_host(admitted, to)).await;
    assert!(dropped.is_err(), "no CIDR rule: the connection hangs");

    let mut rules = n.security_group("server").unwrap();
    rules.ingress.push(Rule {
        protocol: Protocol::Tcp,
        from_port: 443,
        to_port: 443,
        source: Source::Cidr("10.0.255.0/25".parse().unwrap()),
    });
    n.set_security_group(rules);
    let mut stream = n.open_from_host(admitted, to).await.unwrap().into_stream();
    stream.write_all(b"hi").await.unwrap();
    let Accepted {
        stream: mut accepted,
        info,
        ..
    } = listener.accept().await;
    let mut buf = [0u8; 2];
    accepted.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"hi");
    assert_eq!(
        info.peer,
        SocketAddr::V4(admitted),
        "the real peer, port included"
    );

    let dropped =
        tokio::time::timeout(Duration::from_millis(200), n.open_from_host(stranger, to)).await;
    assert!(dropped.is_err(), "outside the CIDR rule: dropped");

    // The client interface's own address is that interface: its group admits it.
    let as_interface = SocketAddrV4::new(client.ip(), 40002);
    let _kept = n
        .open_from_host(as_interface, to)
        .await
        .unwrap()
        .into_stream();
    let accepted = listener.accept().await;
    assert_eq!(accepted.info.peer.ip(), std::net::IpAddr::V4(client.ip()));

    // Nothing at that address at all: no such interface, dropped as the VPC would.
    let nowhere = SocketAddrV4::new(Ipv4Addr::new(10, 0, 100, 200), 443);
    let dropped = tokio::time::timeout(
        Duration::from_millis(200),
        n.open_from_host(admitted, nowhere),
    )
    .await;
    assert!(dropped.is_err());
}
