//! The VPC link test harness, shared by the test files: a VPC with a link, echo services and a
//! running endpoint, and the gateway's client for it.
#![allow(clippy::unwrap_used, dead_code, unused_imports)]

pub use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
pub use std::sync::Arc;
pub use std::sync::atomic::{AtomicUsize, Ordering};
pub use std::time::{Duration, Instant, SystemTime};

pub use airlock_net::{
    Interface, Network, Protocol, Registration, Rule, SecurityGroupSpec, Source, SubnetSpec,
    VpcSpec,
};
pub use airlock_pki::{Ca, Leaf, apigateway_identity};
pub use airlock_vpclink::{
    ClientConfig, Endpoint, EndpointConfig, LinkClient, LinkError, LinkState, Refusal, TunnelError,
};
pub use http::StatusCode;
pub use tokio::io::{AsyncReadExt, AsyncWriteExt};
pub use tokio::net::{TcpListener, TcpStream};
pub use tokio::sync::watch;
pub use tokio_util::sync::CancellationToken;
pub use tokio_util::task::TaskTracker;

pub const SERVER_NAME: &str = "vpclink.airlock.local";
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
/// Generous bound on waits for events that happen at once; only a broken link reaches it.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub fn gateway_identity() -> String {
    apigateway_identity("000000000000", "pets-link")
}

/// An echo server on a loopback port that counts the connections it accepts.
pub struct Echo {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
}

pub async fn echo_server() -> Echo {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let (mut r, mut w) = stream.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    Echo { addr, hits }
}

/// A VPC with a link in two subnets, an echo service its group admits, a sealed echo service
/// whose group admits nobody, and a running endpoint.
pub struct Harness {
    pub _dir: tempfile::TempDir,
    pub ca: Ca,
    pub net: Network,
    pub link_interfaces: Vec<Interface>,
    pub backend: Interface,
    pub endpoint: Arc<Endpoint>,
    pub addr: SocketAddr,
    pub state: watch::Sender<LinkState>,
    /// Private address of the admitted echo service.
    pub echo: SocketAddr,
    pub echo_hits: Arc<AtomicUsize>,
    /// Its loopback address: what a link that dialed the host would reach.
    pub echo_loopback: SocketAddr,
    /// Private address of the echo service behind a group without ingress rules.
    pub sealed: SocketAddr,
    pub sealed_hits: Arc<AtomicUsize>,
    pub _registrations: Vec<Registration>,
    pub shutdown: CancellationToken,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn tcp_rule(from_port: u16, to_port: u16, group: &str) -> Rule {
    Rule {
        protocol: Protocol::Tcp,
        from_port,
        to_port,
        source: Source::Group(group.into()),
    }
}

impl Harness {
    pub async fn start() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::load_or_create(dir.path()).unwrap();
        let cidr = |s: &str| s.parse().unwrap();
        let net = Network::new(VpcSpec {
            cidr: cidr("10.0.0.0/16"),
            subnets: vec![
                SubnetSpec {
                    name: "private-a".into(),
                    cidr: cidr("10.0.100.0/24"),
                    availability_zone: "us-east-1a".into(),
                },
                SubnetSpec {
                    name: "private-b".into(),
                    cidr: cidr("10.0.101.0/24"),
                    availability_zone: "us-east-1b".into(),
                },
            ],
            security_groups: vec![
                SecurityGroupSpec::with_default_egress("link", vec![]),
                SecurityGroupSpec::with_default_egress(
                    "backend",
                    vec![tcp_rule(7000, 7002, "link")],
                ),
                SecurityGroupSpec::with_default_egress("sealed", vec![]),
            ],
        });
        let link_interfaces = vec![
            net.create_interface("private-a", &["link".into()], "VPC link pets-link")
                .unwrap(),
            net.create_interface("private-b", &["link".into()], "VPC link pets-link")
                .unwrap(),
        ];
        let backend = net
            .create_interface("private-a", &["backend".into()], "backend")
            .unwrap();
        let sealed_iface = net
            .create_interface("private-b", &["sealed".into()], "sealed")
            .unwrap();

        let echo_srv = echo_server().await;
        let sealed_srv = echo_server().await;
        let echo = SocketAddrV4::new(backend.ip(), 7000);
        let sealed = SocketAddrV4::new(sealed_iface.ip(), 7000);
        let registrations = vec![
            net.register(echo, echo_srv.addr).unwrap(),
            net.register(sealed, sealed_srv.addr).unwrap(),
        ];

        let (state, state_rx) = watch::channel(LinkState::Available);
        let endpoint = Endpoint::new(EndpointConfig {
            server_cert: ca.issue_server(&[SERVER_NAME.into()]).unwrap(),
            client_ca: ca.cert_der().clone(),
            expected_identity: gateway_identity(),
            network: net.clone(),
            interfaces: link_interfaces.clone(),
            connect_timeout: CONNECT_TIMEOUT,
            handshake_timeout: Duration::from_secs(5),
            state: state_rx,
            tracer: Default::default(),
        })
        .unwrap();
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        tokio::spawn(
            endpoint
                .clone()
                .serve(listener, shutdown.clone(), TaskTracker::new()),
        );
        Harness {
            _dir: dir,
            ca,
            net,
            link_interfaces,
            backend,
            endpoint,
            addr,
            state,
            echo: echo.into(),
            echo_hits: echo_srv.hits,
            echo_loopback: echo_srv.addr,
            sealed: sealed.into(),
            sealed_hits: sealed_srv.hits,
            _registrations: registrations,
            shutdown,
        }
    }

    pub fn client_with(&self, identity: Leaf, endpoint: SocketAddr) -> LinkClient {
        LinkClient::new(ClientConfig {
            endpoint,
            local: None,
            identity,
            ca: self.ca.cert_der().clone(),
            server_name: SERVER_NAME.into(),
        })
        .unwrap()
    }

    /// The gateway's client, with the identity the endpoint expects.
    pub fn gateway(&self) -> LinkClient {
        self.client_with(
            self.ca.issue_client(&gateway_identity()).unwrap(),
            self.addr,
        )
    }

    /// Waits until the endpoint has refused a connection, and returns why.
    pub async fn refusal(&self) -> Refusal {
        let mut stats = self.endpoint.subscribe();
        let seen = tokio::time::timeout(PATIENCE, stats.wait_for(|s| s.connections_refused > 0))
            .await
            .expect("the endpoint never refused the connection")
            .unwrap()
            .clone();
        assert_eq!(seen.connections_refused, 1);
        seen.last_refusal.unwrap()
    }

    /// Nothing of a refused client was admitted, tunneled or delivered.
    pub fn assert_nothing_forwarded(&self) {
        let stats = self.endpoint.stats();
        assert_eq!(stats.connections_admitted, 0);
        assert_eq!(stats.tunnels_opened, 0);
        assert_eq!(self.echo_hits.load(Ordering::SeqCst), 0);
    }
}

pub async fn round_trip(stream: &mut (impl AsyncReadExt + AsyncWriteExt + Unpin), msg: &[u8]) {
    stream.write_all(msg).await.unwrap();
    let mut back = vec![0u8; msg.len()];
    tokio::time::timeout(PATIENCE, stream.read_exact(&mut back))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back, msg);
}
