//! The VPC link through real sockets: gateway client → mutual-TLS endpoint → emulated network →
//! a private destination. docs/aws-rules.md §HTTP-7 (only API Gateway uses the link; traffic leaves from the
//! link's interfaces under their security groups) and docs/aws-rules.md §HTTP-4.3/§HTTP-4.5 (what the gateway sees when it
//! cannot).
#![allow(clippy::unwrap_used)]

mod support;
use support::*;

#[tokio::test]
async fn a_tunnel_carries_bytes_to_a_private_address_and_back() {
    let h = Harness::start().await;
    let link = h.gateway();
    let mut tunnel = link.open(h.echo).await.unwrap();
    round_trip(&mut tunnel, b"hello through the VPC link").await;
    // A gathered write (as TLS writes its records) arrives whole and in order.
    let parts = [
        std::io::IoSlice::new(b"first record, "),
        std::io::IoSlice::new(b"second record"),
    ];
    let written = tunnel.write_vectored(&parts).await.unwrap();
    assert_eq!(written, 27);
    let mut back = [0u8; 27];
    tokio::time::timeout(PATIENCE, tunnel.read_exact(&mut back))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&back, b"first record, second record");
    // Half-close travels through the tunnel: the echo server sees EOF and closes its side.
    tunnel.shutdown().await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(PATIENCE, tunnel.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert!(rest.is_empty());
    assert_eq!(h.echo_hits.load(Ordering::SeqCst), 1);
    let stats = h.endpoint.stats();
    assert_eq!(stats.connections_admitted, 1);
    assert_eq!(stats.tunnels_opened, 1);
    assert_eq!(stats.last_refusal, None);
}

/// Megabytes both ways through one tunnel, written as gathered writes larger than what
/// HTTP/2 flow control lets out at once: every write that is only partly taken continues where
/// it stopped, and the bytes come back whole and in order.
#[tokio::test]
async fn a_tunnel_carries_megabytes_past_its_flow_control_window() {
    let h = Harness::start().await;
    let link = h.gateway();
    let tunnel = link.open(h.echo).await.unwrap();
    let (mut rx, mut tx) = tokio::io::split(tunnel);
    const TOTAL: usize = 4 * 1024 * 1024;
    let data: Vec<u8> = (0..TOTAL).map(|i| (i * 7 + i / 251) as u8).collect();
    let sent = data.clone();
    let writer = tokio::spawn(async move {
        let mut at = 0;
        while at < sent.len() {
            // Three slices of ~20 KB each: gathered into one frame when the window allows.
            let end = |from: usize, len: usize| (from + len).min(sent.len());
            let (a, b) = (end(at, 20_000), end(at + 20_000, 21_000));
            let c = end(b, 19_000);
            let parts = [
                std::io::IoSlice::new(&sent[at..a]),
                std::io::IoSlice::new(&sent[a..b]),
                std::io::IoSlice::new(&sent[b..c]),
            ];
            at += tx.write_vectored(&parts).await.unwrap();
        }
        tx.shutdown().await.unwrap();
    });
    let mut back = Vec::with_capacity(TOTAL);
    tokio::time::timeout(PATIENCE * 4, rx.read_to_end(&mut back))
        .await
        .unwrap()
        .unwrap();
    writer.await.unwrap();
    assert_eq!(back.len(), TOTAL);
    assert!(back == data, "the bytes came back changed or out of order");
}

#[tokio::test]
async fn concurrent_opens_share_one_mutual_tls_connection() {
    let h = Harness::start().await;
    let link = h.gateway();
    let mut opens = tokio::task::JoinSet::new();
    for i in 0..32 {
        let link = link.clone();
        let dest = h.echo;
        opens.spawn(async move {
            let mut tunnel = link.open(dest).await.unwrap();
            round_trip(&mut tunnel, format!("request {i}").as_bytes()).await;
        });
    }
    while let Some(done) = opens.join_next().await {
        done.unwrap();
    }
    assert_eq!(h.echo_hits.load(Ordering::SeqCst), 32);
    let stats = h.endpoint.stats();
    assert_eq!(
        stats.connections_accepted, 1,
        "one TCP connection carries every tunnel"
    );
    assert_eq!(stats.tunnels_opened, 32);
    assert_eq!(link.connections_opened(), 1);
}

/// A destination that answers before it has read what it is sent (an early HTTP response)
/// is heard while the sender's writes wait for a window the destination never opens: one task
/// writing and reading the same tunnel gets the answer.
#[tokio::test]
async fn an_answer_arrives_while_the_tunnels_writes_wait_for_its_window() {
    let h = Harness::start().await;
    let mut listener = h
        .net
        .listen(std::slice::from_ref(&h.backend), 7001)
        .unwrap();
    let dest = SocketAddr::from(listener.private_addrs()[0]);
    let link = h.gateway();
    let tunnel = link.open(dest).await.unwrap();
    let mut accepted = tokio::time::timeout(PATIENCE, listener.accept())
        .await
        .unwrap()
        .stream;
    let server = tokio::spawn(async move {
        let mut head = [0u8; 4];
        accepted.read_exact(&mut head).await.unwrap();
        accepted.write_all(b"early answer").await.unwrap();
        // Holds the connection, reading nothing more.
        std::future::pending::<()>().await;
    });
    let (mut rx, mut tx) = tokio::io::split(tunnel);
    let body = vec![b'a'; 1 << 20];
    let mut answer = [0u8; 12];
    let read = tokio::time::timeout(PATIENCE, async {
        tokio::select! {
            _ = tx.write_all(&body) => panic!("a megabyte went into a tunnel nobody reads"),
            read = rx.read_exact(&mut answer) => read,
        }
    })
    .await
    .expect("the answer did not arrive while the writes waited");
    read.unwrap();
    assert_eq!(&answer, b"early answer");
    server.abort();
}

/// A tunnel whose reader has stopped (a server that answered early and reads no more of the
/// request, or a gateway that reads no more of a response) fills only its own flow-control
/// window: the other tunnels of the same link connection keep carrying bytes both ways.
#[tokio::test]
async fn a_stalled_tunnel_does_not_stall_the_others() {
    let h = Harness::start().await;
    let mut listener = h
        .net
        .listen(std::slice::from_ref(&h.backend), 7001)
        .unwrap();
    let dest = SocketAddr::from(listener.private_addrs()[0]);
    let link = h.gateway();
    // Toward the destination: it accepts and never reads.
    let toward = link.open(dest).await.unwrap();
    let unread = tokio::time::timeout(PATIENCE, listener.accept())
        .await
        .unwrap()
        .stream;
    let (_toward_rx, mut toward_tx) = tokio::io::split(toward);
    let writer = tokio::spawn(async move {
        let _ = toward_tx.write_all(&vec![b'a'; 1 << 20]).await;
    });
    // Toward the gateway: the destination writes, and the gateway never reads.
    let _back = link.open(dest).await.unwrap();
    let accepted = tokio::time::timeout(PATIENCE, listener.accept())
        .await
        .unwrap();
    let (_back_rx, mut back_tx) = tokio::io::split(accepted.stream);
    let back_writer = tokio::spawn(async move {
        let _ = back_tx.write_all(&vec![b'b'; 1 << 20]).await;
    });
    // Let both fill every window they can.
    for _ in 0..64 {
        tokio::task::yield_now().await;
    }
    let mut other = link.open(h.echo).await.unwrap();
    let message: Vec<u8> = (0..200_000).map(|i| (i % 251) as u8).collect();
    tokio::time::timeout(PATIENCE, round_trip(&mut other, &message))
        .await
        .expect("the other tunnel's bytes waited behind the stalled ones");
    assert!(
        !writer.is_finished() && !back_writer.is_finished(),
        "the stalled tunnels still wait"
    );
    // Held, unread, until here.
    drop(unread);
}

#[tokio::test]
async fn tunnels_leave_from_the_links_interfaces_in_turn() {
    let h = Harness::start().await;
    // An in-process listener learns the emulated source address of each connection.
    let mut listener = h
        .net
        .listen(std::slice::from_ref(&h.backend), 7002)
        .unwrap();
    let dest = SocketAddr::from(listener.private_addrs()[0]);
    let sources = tokio::spawn(async move {
        let mut sources = Vec::new();
        for _ in 0..2 {
            sources.push(listener.accept().await.info.peer.ip());
        }
        sources
    });
    let link = h.gateway();
    let _first = link.open(dest).await.unwrap();
    let _second = link.open(dest).await.unwrap();
    let mut sources = tokio::time::timeout(PATIENCE, sources)
        .await
        .unwrap()
        .unwrap();
    sources.sort();
    let mut expected: Vec<_> = h
        .link_interfaces
        .iter()
        .map(|i| std::net::IpAddr::V4(i.ip()))
        .collect();
    expected.sort();
    assert_eq!(sources, expected);
}

#[tokio::test]
async fn plain_tcp_is_refused() {
    let h = Harness::start().await;
    let mut tcp = TcpStream::connect(h.addr).await.unwrap();
    tcp.write_all(b"CONNECT 10.0.100.6:7000 HTTP/1.1\r\nHost: 10.0.100.6:7000\r\n\r\n")
        .await
        .unwrap();
    assert!(matches!(h.refusal().await, Refusal::NotTls(_)));
    // The endpoint closes the connection (after at most an alert): no CONNECT answer comes.
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut answer))
        .await
        .unwrap();
    assert!(!answer.starts_with(b"HTTP/"));
    h.assert_nothing_forwarded();
}

#[tokio::test]
async fn tls_without_a_client_certificate_is_refused() {
    let h = Harness::start().await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(h.ca.cert_der().clone()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(h.addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from(SERVER_NAME).unwrap();
    // With TLS 1.3 the client finishes its side before the server judges its (empty) certificate
    // message, so the refusal may surface on the handshake or on the first read.
    if let Ok(mut tls) = connector.connect(name, tcp).await {
        let _ = tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(PATIENCE, tls.read(&mut buf))
            .await
            .unwrap();
        assert!(
            matches!(read, Err(_) | Ok(0)),
            "refused client got {read:?}"
        );
    }
    assert_eq!(h.refusal().await, Refusal::NoClientCertificate);
    h.assert_nothing_forwarded();
}

/// Opens a tunnel with `identity` and expects the link itself to fail, not the tunnel.
async fn open_is_refused(h: &Harness, identity: Leaf) {
    let client = h.client_with(identity, h.addr);
    let result = tokio::time::timeout(PATIENCE, client.open(h.echo))
        .await
        .unwrap();
    assert!(
        matches!(
            result,
            Err(LinkError::Connection(_) | LinkError::Handshake(_))
        ),
        "expected the connection to be refused, got {result:?}"
    );
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    let h = Harness::start().await;
    let other_dir = tempfile::tempdir().unwrap();
    let stranger = Ca::load_or_create(other_dir.path()).unwrap();
    // Same identity, wrong issuer: only the chain to airlock's CA makes the identity credible.
    open_is_refused(&h, stranger.issue_client(&gateway_identity()).unwrap()).await;
    assert!(matches!(
        h.refusal().await,
        Refusal::UntrustedCertificate(_)
    ));
    h.assert_nothing_forwarded();
}

#[tokio::test]
async fn an_expired_certificate_is_refused() {
    let h = Harness::start().await;
    let day = Duration::from_secs(24 * 3600);
    let now = SystemTime::now();
    let expired =
        h.ca.issue_client_with(&gateway_identity(), now - 2 * day, now - day)
            .unwrap();
    open_is_refused(&h, expired).await;
    assert_eq!(h.refusal().await, Refusal::ExpiredCertificate);
    h.assert_nothing_forwarded();
}

#[tokio::test]
async fn a_valid_certificate_with_another_identity_is_refused() {
    let h = Harness::start().await;
    let task = "spiffe://airlock.local/account/000000000000/ecs/task/pets-1";
    open_is_refused(&h, h.ca.issue_client(task).unwrap()).await;
    assert_eq!(
        h.refusal().await,
        Refusal::WrongIdentity {
            presented: task.into()
        }
    );
    h.assert_nothing_forwarded();
}

#[tokio::test]
async fn the_gateway_refuses_an_endpoint_it_cannot_verify() {
    let h = Harness::start().await;
    let client = LinkClient::new(ClientConfig {
        endpoint: h.addr,
        local: None,
        identity: h.ca.issue_client(&gateway_identity()).unwrap(),
        ca: h.ca.cert_der().clone(),
        server_name: "not-the-endpoint.example".into(),
    })
    .unwrap();
    let result = client.open(h.echo).await;
    assert!(matches!(result, Err(LinkError::Handshake(_))), "{result:?}");
    h.assert_nothing_forwarded();
}

fn assert_refused(
    result: Result<airlock_vpclink::LinkStream, LinkError>,
    status: StatusCode,
    reason: TunnelError,
) {
    match result {
        Err(LinkError::Refused {
            status: s,
            reason: r,
            message,
            ..
        }) => {
            assert_eq!(s, status, "{message}");
            assert_eq!(r, Some(reason), "{message}");
            assert!(!message.is_empty());
        }
        other => panic!("expected {status} {reason:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn destinations_outside_the_vpc_are_forbidden() {
    let h = Harness::start().await;
    let link = h.gateway();
    // Not even the host's loopback, where the echo server really listens.
    for dest in [
        h.echo_loopback,
        "192.168.1.10:80".parse().unwrap(),
        "[::1]:80".parse().unwrap(),
    ] {
        assert_refused(
            link.open(dest).await,
            StatusCode::FORBIDDEN,
            TunnelError::OutsideVpc,
        );
    }
    assert_eq!(h.echo_hits.load(Ordering::SeqCst), 0);
    // Refusing a tunnel leaves the shared connection usable.
    let mut tunnel = link.open(h.echo).await.unwrap();
    round_trip(&mut tunnel, b"still fine").await;
    assert_eq!(link.connections_opened(), 1);
}

#[tokio::test]
async fn a_security_group_drop_times_out_with_504() {
    let h = Harness::start().await;
    let link = h.gateway();
    let started = Instant::now();
    let result = tokio::time::timeout(PATIENCE, link.open(h.sealed))
        .await
        .expect("the endpoint's connect timeout must bound the open");
    let elapsed = started.elapsed();
    assert!(
        matches!(result, Err(LinkError::ConnectTimeout { dest, .. }) if dest == h.sealed),
        "{result:?}"
    );
    assert!(
        elapsed >= CONNECT_TIMEOUT,
        "answered before the timeout: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    assert_eq!(h.sealed_hits.load(Ordering::SeqCst), 0);
    assert_eq!(h.endpoint.stats().tunnels_failed, 1);
}

#[tokio::test]
async fn nothing_listening_is_a_502() {
    let h = Harness::start().await;
    let link = h.gateway();
    let dest = SocketAddr::from((h.backend.ip(), 7001));
    assert_refused(
        link.open(dest).await,
        StatusCode::BAD_GATEWAY,
        TunnelError::ConnectionRefused,
    );
}

#[tokio::test]
async fn a_link_that_is_not_available_answers_503() {
    let h = Harness::start().await;
    let link = h.gateway();
    for state in [LinkState::Pending, LinkState::Failed, LinkState::Inactive] {
        h.state.send(state).unwrap();
        assert_refused(
            link.open(h.echo).await,
            StatusCode::SERVICE_UNAVAILABLE,
            TunnelError::LinkNotAvailable,
        );
    }
    assert_eq!(h.echo_hits.load(Ordering::SeqCst), 0);
    h.state.send(LinkState::Available).unwrap();
    let mut tunnel = link.open(h.echo).await.unwrap();
    round_trip(&mut tunnel, b"available now").await;
}

/// A TCP relay in front of the endpoint whose connections the test can cut.
async fn relay(
    to: SocketAddr,
) -> (
    SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<tokio::task::AbortHandle>,
) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (mut down, _) = listener.accept().await.unwrap();
            let task = tokio::spawn(async move {
                let mut up = TcpStream::connect(to).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
            });
            let _ = tx.send(task.abort_handle());
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn a_dead_connection_is_replaced_on_the_next_open() {
    let h = Harness::start().await;
    let (relay_addr, mut relayed) = relay(h.addr).await;
    let link = h.client_with(h.ca.issue_client(&gateway_identity()).unwrap(), relay_addr);
    let mut tunnel = link.open(h.echo).await.unwrap();
    round_trip(&mut tunnel, b"first connection").await;
    // Cut the connection under the client, as an endpoint restart would.
    relayed.recv().await.unwrap().abort();
    let mut tunnel = tokio::time::timeout(PATIENCE, link.open(h.echo))
        .await
        .unwrap()
        .unwrap();
    round_trip(&mut tunnel, b"second connection").await;
    assert_eq!(link.connections_opened(), 2);
    assert_eq!(h.endpoint.stats().connections_admitted, 2);
}

/// A gateway in the same process reaches the endpoint over an in-process pipe: the same mutual
/// TLS admission (a task's certificate is still refused) and the same tunnels, no socket.
#[tokio::test]
async fn an_in_process_gateway_gets_the_same_admission_and_tunnels() {
    let h = Harness::start().await;
    let local = h.endpoint.local(h.shutdown.clone(), TaskTracker::new());
    let client = |identity: Leaf| {
        LinkClient::new(ClientConfig {
            // Not listening: proves the client never dials the host port.
            endpoint: SocketAddr::from(([127, 0, 0, 1], 9)),
            local: Some(local.clone()),
            identity,
            ca: h.ca.cert_der().clone(),
            server_name: SERVER_NAME.into(),
        })
        .unwrap()
    };
    let link = client(h.ca.issue_client(&gateway_identity()).unwrap());
    let mut tunnel = link.open(h.echo).await.unwrap();
    round_trip(&mut tunnel, b"in-process").await;
    let mut second = link.open(h.echo).await.unwrap();
    round_trip(&mut second, b"same connection").await;
    assert_eq!(link.connections_opened(), 1);
    let stats = h.endpoint.stats();
    assert_eq!((stats.connections_admitted, stats.tunnels_opened), (1, 2));

    let task_identity = "spiffe://airlock.local/account/000000000000/ecs/task/pets-1";
    let task = client(h.ca.issue_client(task_identity).unwrap());
    assert!(task.open(h.echo).await.is_err());
    assert_eq!(
        h.refusal().await,
        Refusal::WrongIdentity {
            presented: task_identity.into()
        }
    );
    assert_eq!(h.endpoint.stats().tunnels_opened, 2);
}
