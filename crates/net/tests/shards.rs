//! Shards (`airlock_net::shards`): an in-process connection is served on the runtime of the
//! task that dialed it, and host connections are spread over the shards. Shards are
//! process-wide, so this file (its own test process) holds one test.
#![allow(clippy::unwrap_used)]

use airlock_net::{
    ConnectionLimit, Network, Origin, Protocol, Rule, SecurityGroupSpec, Source, SubnetSpec,
    VpcSpec, accept_loop, shards,
};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Builder;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

fn network() -> Network {
    Network::new(VpcSpec {
        cidr: "10.0.0.0/16".parse().unwrap(),
        subnets: vec![SubnetSpec {
            name: "a".into(),
            cidr: "10.0.100.0/24".parse().unwrap(),
            availability_zone: "us-east-1a".into(),
        }],
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
        ],
    })
}

#[test]
fn connections_are_served_where_they_were_dialed_and_host_ones_spread() {
    let handles = vec![shards::spawn(0).unwrap(), shards::spawn(1).unwrap()];
    assert!(shards::install(handles.clone()));
    assert_eq!(shards::count(), 2);

    let net = network();
    let client = net.create_interface("a", &["client".into()], "c").unwrap();
    let server = net.create_interface("a", &["server".into()], "s").unwrap();
    let listener = net.listen(std::slice::from_ref(&server), 443).unwrap();
    let to = SocketAddr::from((server.ip(), 443));
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();

    // The accept loops run on shard 0; each connection answers with the index of the shard
    // serving it.
    handles[0].spawn(accept_loop(
        "in-process",
        listener,
        ConnectionLimit::default(),
        shutdown.clone(),
        tracker.clone(),
        |mut accepted: airlock_net::Accepted, _peer| async move {
            let index = u8::try_from(shards::current()).unwrap();
            accepted.stream.write_all(&[index]).await.unwrap();
            accepted.stream.shutdown().await.unwrap();
        },
    ));
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    tcp.set_nonblocking(true).unwrap();
    let tcp_addr = tcp.local_addr().unwrap();
    let (s, t) = (shutdown.clone(), tracker.clone());
    handles[0].spawn(async move {
        let tcp = TcpListener::from_std(tcp).unwrap();
        accept_loop(
            "host",
            tcp,
            ConnectionLimit::default(),
            s,
            t,
            |mut stream: TcpStream, _peer| async move {
                let index = u8::try_from(shards::current()).unwrap();
                stream.write_all(&[index]).await.unwrap();
                stream.shutdown().await.unwrap();
            },
        )
        .await;
    });

    let seen_in_process = Arc::new(Mutex::new(Vec::new()));
    let seen_host = Arc::new(Mutex::new(BTreeSet::new()));
    let checks = Builder::new_current_thread().enable_all().build().unwrap();
    checks.block_on(async {
        // Dialed from a task on shard 1, then from shard 0: served on the dialer's shard.
        for dialer in [1usize, 0] {
            let (net, client, seen) = (net.clone(), client.clone(), seen_in_process.clone());
            let served = handles[dialer]
                .spawn(async move {
                    let mut s = net.dial(&Origin::Interface(client), to).await.unwrap();
                    let mut index = Vec::new();
                    s.read_to_end(&mut index).await.unwrap();
                    seen.lock().unwrap().push((dialer, index));
                })
                .await;
            served.unwrap();
        }
        // Host connections: over four connections, both shards serve some.
        for _ in 0..4 {
            let mut s = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(tcp_addr))
                .await
                .unwrap()
                .unwrap();
            let mut index = Vec::new();
            s.read_to_end(&mut index).await.unwrap();
            seen_host.lock().unwrap().insert(index);
        }
    });

    let seen_in_process = seen_in_process.lock().unwrap().clone();
    assert_eq!(
        seen_in_process,
        vec![(1, vec![1u8]), (0, vec![0u8])],
        "each in-process connection is served on the shard that dialed it"
    );
    assert_eq!(
        *seen_host.lock().unwrap(),
        BTreeSet::from([vec![0u8], vec![1u8]]),
        "host connections are spread over the shards"
    );
    shutdown.cancel();
}
