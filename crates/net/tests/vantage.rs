//! Vantage points through real sockets: SOCKS5 and HTTP CONNECT clients on loopback, dialing
//! through the emulated VPC as the internet or as an interface inside it.
#![allow(clippy::unwrap_used)]

use airlock_net::vantage::{Resolver, Vantage, serve};
use airlock_net::{
    Interface, Network, Origin, Protocol, Registration, Rule, SecurityGroupSpec, Source,
    SubnetSpec, VpcSpec,
};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a test waits to conclude that a dropped dial gets no reply.
const SILENCE: Duration = Duration::from_millis(300);
/// A generous bound for things that must happen.
const PROMPT: Duration = Duration::from_secs(5);

const ECHO_PORT: u16 = 7;
const HTTP_PORT: u16 = 8080;
const PUBLIC_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);

struct World {
    network: Network,
    server: Interface,
    names: HashMap<String, Vec<Ipv4Addr>>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    _registrations: Vec<Registration>,
}

/// A VPC with a `server` interface admitting the `bastion` group on every TCP port, a TCP echo
/// server and a tiny HTTP server behind it, and a public echo endpoint.
async fn world() -> World {
    let cidr = |s: &str| s.parse().unwrap();
    let network = Network::new(VpcSpec {
        cidr: cidr("10.0.0.0/16"),
        subnets: vec![SubnetSpec {
            name: "private-a".into(),
            cidr: cidr("10.0.1.0/24"),
            availability_zone: "us-east-1a".into(),
        }],
        security_groups: vec![
            SecurityGroupSpec::with_default_egress("bastion", vec![]),
            SecurityGroupSpec::with_default_egress("outsider", vec![]),
            SecurityGroupSpec::with_default_egress(
                "server",
                vec![Rule {
                    protocol: Protocol::Tcp,
                    from_port: 1,
                    to_port: u16::MAX,
                    source: Source::Group("bastion".into()),
                }],
            ),
        ],
    });
    let server = network
        .create_interface("private-a", &["server".into()], "test server")
        .unwrap();
    let echo = spawn_echo().await;
    let http = spawn_http().await;
    let public_echo = spawn_echo().await;
    let registrations = vec![
        network
            .register(SocketAddrV4::new(server.ip(), ECHO_PORT), echo)
            .unwrap(),
        network
            .register(SocketAddrV4::new(server.ip(), HTTP_PORT), http)
            .unwrap(),
        network
            .register_public(SocketAddrV4::new(PUBLIC_IP, ECHO_PORT), public_echo)
            .unwrap(),
    ];
    let names = HashMap::from([
        ("app.internal".to_owned(), vec![server.ip()]),
        ("public.example.com".to_owned(), vec![PUBLIC_IP]),
    ]);
    World {
        network,
        server,
        names,
        shutdown: CancellationToken::new(),
        tracker: TaskTracker::new(),
        _registrations: registrations,
    }
}

impl World {
    fn resolver(&self) -> Resolver {
        let names = self.names.clone();
        Arc::new(move |name: &str| names.get(name).cloned().unwrap_or_default())
    }

    fn interface(&self, group: &str) -> Origin {
        Origin::Interface(
            self.network
                .create_interface("private-a", &[group.into()], "vantage")
                .unwrap(),
        )
    }

    /// Starts a vantage on a fresh loopback port and returns its address.
    async fn vantage(&self, name: &str, origin: Origin, timeout: Option<Duration>) -> SocketAddr {
        let mut vantage = Vantage::new(name, origin, self.resolver());
        vantage.connect_timeout = timeout;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(
            listener,
            Arc::new(vantage),
            self.network.clone(),
            self.shutdown.clone(),
            self.tracker.clone(),
        ));
        addr
    }

    /// The `vpc` vantage point on an interface of the `bastion` group.
    async fn bastion(&self) -> SocketAddr {
        self.vantage("vpc", self.interface("bastion"), None).await
    }

    /// The `internet` vantage point, without a connect timeout.
    async fn internet(&self) -> SocketAddr {
        self.vantage("internet", Origin::Internet, None).await
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn spawn_echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// Answers every request with `200 hello from app`, then closes.
async fn spawn_http() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let body = "hello from app";
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(response.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    addr
}

/// Greets a SOCKS5 proxy with the no-auth method and checks it is accepted.
async fn socks_greet(proxy: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(proxy).await.unwrap();
    s.write_all(&[5, 1, 0]).await.unwrap();
    let mut choice = [0u8; 2];
    s.read_exact(&mut choice).await.unwrap();
    assert_eq!(choice, [5, 0], "the proxy must accept no-auth");
    s
}

/// Sends a SOCKS5 request with command `cmd` for a domain name.
async fn socks_request_name(proxy: SocketAddr, cmd: u8, name: &str, port: u16) -> TcpStream {
    let mut address = vec![3, u8::try_from(name.len()).unwrap()];
    address.extend_from_slice(name.as_bytes());
    socks_request(proxy, cmd, &address, port).await
}

/// Sends a SOCKS5 request with command `cmd` for `address` (its type byte first).
async fn socks_request(proxy: SocketAddr, cmd: u8, address: &[u8], port: u16) -> TcpStream {
    let mut s = socks_greet(proxy).await;
    let mut req = vec![5, cmd, 0];
    req.extend_from_slice(address);
    req.extend_from_slice(&port.to_be_bytes());
    s.write_all(&req).await.unwrap();
    s
}

/// Reads the 10-byte SOCKS5 reply (IPv4 bound address) and returns its code.
async fn socks_reply_code(s: &mut TcpStream) -> u8 {
    let mut reply = [0u8; 10];
    tokio::time::timeout(PROMPT, s.read_exact(&mut reply))
        .await
        .expect("a reply in time")
        .unwrap();
    assert_eq!(reply[0], 5);
    assert_eq!(reply[3], 1, "bound address is IPv4");
    reply[1]
}

/// Asserts that nothing at all arrives within [`SILENCE`]: the dial hangs like a dropped SYN.
async fn assert_silent(s: &mut TcpStream) {
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(SILENCE, s.read(&mut byte)).await;
    assert!(read.is_err(), "expected no reply, got {read:?}");
}

async fn assert_echoes(s: &mut TcpStream) {
    s.write_all(b"ping through the vantage").await.unwrap();
    let mut back = [0u8; 24];
    tokio::time::timeout(PROMPT, s.read_exact(&mut back))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&back, b"ping through the vantage");
}

/// Sends a `CONNECT` and returns the response head (up to the blank line) and the stream.
async fn http_connect(proxy: SocketAddr, target: &str) -> (String, TcpStream) {
    let mut s = TcpStream::connect(proxy).await.unwrap();
    let req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let head = read_http_head(&mut s).await;
    (head, s)
}

async fn read_http_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(PROMPT, s.read(&mut byte))
            .await
            .expect("a response in time")
            .unwrap();
        assert_eq!(n, 1, "connection closed inside the response head");
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

#[tokio::test]
async fn socks5_domain_name_through_vpc_reaches_the_private_echo() {
    let w = world().await;
    let vpc = w.bastion().await;
    let mut s = socks_request_name(vpc, 1, "app.internal", ECHO_PORT).await;
    assert_eq!(socks_reply_code(&mut s).await, 0x00);
    assert_echoes(&mut s).await;
}

#[tokio::test]
async fn socks5_ipv4_address_through_vpc_reaches_the_private_echo() {
    let w = world().await;
    let vpc = w.bastion().await;
    let mut address = vec![1];
    address.extend_from_slice(&w.server.ip().octets());
    let mut s = socks_request(vpc, 1, &address, ECHO_PORT).await;
    assert_eq!(socks_reply_code(&mut s).await, 0x00);
    assert_echoes(&mut s).await;
}

#[tokio::test]
async fn internet_to_a_private_name_gets_no_reply_because_it_is_not_routed() {
    let w = world().await;
    let internet = w.internet().await;
    let mut s = socks_request_name(internet, 1, "app.internal", ECHO_PORT).await;
    assert_silent(&mut s).await;
}

#[tokio::test]
async fn internet_reaches_the_public_endpoint() {
    let w = world().await;
    let internet = w.internet().await;
    let mut s = socks_request_name(internet, 1, "public.example.com", ECHO_PORT).await;
    assert_eq!(socks_reply_code(&mut s).await, 0x00);
    assert_echoes(&mut s).await;
}

#[tokio::test]
async fn a_vpc_interface_without_the_bastion_group_is_dropped() {
    let w = world().await;
    let outsider = w.vantage("vpc", w.interface("outsider"), None).await;
    let mut s = socks_request_name(outsider, 1, "app.internal", ECHO_PORT).await;
    assert_silent(&mut s).await;
    // Same over HTTP CONNECT: no status line at all.
    let mut s = TcpStream::connect(outsider).await.unwrap();
    s.write_all(b"CONNECT app.internal:7 HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    assert_silent(&mut s).await;
}

#[tokio::test]
async fn socks5_unknown_command_is_answered_0x07() {
    let w = world().await;
    let vpc = w.bastion().await;
    // 0x02 is BIND.
    let mut s = socks_request_name(vpc, 2, "app.internal", ECHO_PORT).await;
    assert_eq!(socks_reply_code(&mut s).await, 0x07);
}

#[tokio::test]
async fn socks5_ipv6_is_answered_0x08() {
    let w = world().await;
    let vpc = w.bastion().await;
    let mut address = vec![4];
    address.extend_from_slice(&[0u8; 15]);
    address.push(1);
    let mut s = socks_request(vpc, 1, &address, 80).await;
    assert_eq!(socks_reply_code(&mut s).await, 0x08);
}

#[tokio::test]
async fn socks5_unknown_name_is_host_unreachable_and_closed_port_is_refused() {
    let w = world().await;
    let vpc = w.bastion().await;
    let mut s = socks_request_name(vpc, 1, "nowhere.internal", ECHO_PORT).await;
    assert_eq!(socks_reply_code(&mut s).await, 0x04);
    // The server's group admits the port, but nothing listens: a reset, not a drop.
    let mut s = socks_request_name(vpc, 1, "app.internal", 9).await;
    assert_eq!(socks_reply_code(&mut s).await, 0x05);
}

#[tokio::test]
async fn socks5_without_the_no_auth_method_is_refused() {
    let w = world().await;
    let vpc = w.bastion().await;
    let mut s = TcpStream::connect(vpc).await.unwrap();
    // Offers only username/password.
    s.write_all(&[5, 1, 2]).await.unwrap();
    let mut choice = [0u8; 2];
    s.read_exact(&mut choice).await.unwrap();
    assert_eq!(choice, [5, 0xff]);
}

#[tokio::test]
async fn connect_timeout_turns_a_drop_into_host_unreachable() {
    let w = world().await;
    let internet = w
        .vantage(
            "internet",
            Origin::Internet,
            Some(Duration::from_millis(100)),
        )
        .await;
    let mut s = socks_request_name(internet, 1, "app.internal", ECHO_PORT).await;
    assert_eq!(socks_reply_code(&mut s).await, 0x04);
    let (head, _) = http_connect(internet, "app.internal:7").await;
    assert!(head.starts_with("HTTP/1.1 504 "), "{head}");
}

#[tokio::test]
async fn http_connect_tunnels_to_the_private_echo() {
    let w = world().await;
    let vpc = w.bastion().await;
    let (head, mut s) = http_connect(vpc, "app.internal:7").await;
    assert_eq!(head, "HTTP/1.1 200 Connection established\r\n\r\n");
    assert_echoes(&mut s).await;
}

#[tokio::test]
async fn http_connect_forwards_bytes_sent_right_after_the_head() {
    let w = world().await;
    let vpc = w.bastion().await;
    let mut s = TcpStream::connect(vpc).await.unwrap();
    s.write_all(b"CONNECT app.internal:7 HTTP/1.1\r\n\r\nearly")
        .await
        .unwrap();
    let head = read_http_head(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    let mut back = [0u8; 5];
    tokio::time::timeout(PROMPT, s.read_exact(&mut back))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&back, b"early");
}

#[tokio::test]
async fn http_connect_to_an_unknown_name_is_502_with_a_reason() {
    let w = world().await;
    let vpc = w.bastion().await;
    let (head, mut s) = http_connect(vpc, "nowhere.internal:443").await;
    assert!(head.starts_with("HTTP/1.1 502 Bad Gateway\r\n"), "{head}");
    let mut body = String::new();
    s.read_to_string(&mut body).await.unwrap();
    assert!(body.contains("nowhere.internal does not resolve"), "{body}");
    let (head, _) = http_connect(vpc, "app.internal:9").await;
    assert!(head.starts_with("HTTP/1.1 502 "), "refused: {head}");
}

#[tokio::test]
async fn a_plain_proxy_get_is_405() {
    let w = world().await;
    let vpc = w.bastion().await;
    let mut s = TcpStream::connect(vpc).await.unwrap();
    s.write_all(b"GET http://app.internal:8080/ HTTP/1.1\r\nHost: app.internal\r\n\r\n")
        .await
        .unwrap();
    let head = read_http_head(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 405 "), "{head}");
    assert!(head.contains("Allow: CONNECT\r\n"), "{head}");
}

#[tokio::test]
async fn an_oversized_connect_head_is_refused() {
    let w = world().await;
    let vpc = w.bastion().await;
    let mut s = TcpStream::connect(vpc).await.unwrap();
    let filler = "x".repeat(9 * 1024);
    let req = format!("CONNECT app.internal:7 HTTP/1.1\r\nX-Filler: {filler}\r\n\r\n");
    // The proxy may close before reading it all; the answer is what matters.
    let _ = s.write_all(req.as_bytes()).await;
    let head = read_http_head(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 431 "), "{head}");
}

#[tokio::test]
async fn an_abandoned_dropped_dial_is_released_when_the_client_hangs_up() {
    let w = world().await;
    let internet = w.internet().await;
    let mut s = socks_request_name(internet, 1, "app.internal", ECHO_PORT).await;
    assert_silent(&mut s).await;
    drop(s);
    // The accept loop itself is not tracked, so the tracker empties once the hung tunnel ends.
    w.tracker.close();
    tokio::time::timeout(PROMPT, w.tracker.wait())
        .await
        .expect("the hung tunnel's task ends when its client leaves");
}

#[tokio::test]
async fn shutdown_ends_hung_dials_and_the_listener() {
    let w = world().await;
    let internet = w.internet().await;
    let mut s = socks_request_name(internet, 1, "app.internal", ECHO_PORT).await;
    assert_silent(&mut s).await;
    w.shutdown.cancel();
    w.tracker.close();
    tokio::time::timeout(PROMPT, w.tracker.wait())
        .await
        .expect("shutdown ends the hung tunnel");
    let mut byte = [0u8; 1];
    let n = tokio::time::timeout(PROMPT, s.read(&mut byte))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "the client sees the connection close");
}

/// Real curl, when installed: `--socks5-hostname` through `vpc` fetches the page, through
/// `internet` the private name times out (exit 28), and `--proxytunnel` uses HTTP CONNECT.
#[tokio::test]
async fn curl_through_the_vantages() {
    if !airlock_net::testing::tool("curl", "--version", "apt-get install curl") {
        return;
    }
    let w = world().await;
    let vpc = w.bastion().await;
    let internet = w.internet().await;
    let url = format!("http://app.internal:{HTTP_PORT}/");
    let curl = |args: Vec<String>| async move {
        tokio::process::Command::new("curl")
            .args(["-sS", "--noproxy", ""])
            .args(args)
            .env_remove("http_proxy")
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy")
            .env_remove("ALL_PROXY")
            .env_remove("all_proxy")
            .output()
            .await
            .unwrap()
    };
    let assert_fetched = |out: &std::process::Output| {
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from app");
    };

    let out = curl(vec![
        "--socks5-hostname".into(),
        vpc.to_string(),
        "-m".into(),
        "5".into(),
        url.clone(),
    ])
    .await;
    assert_fetched(&out);

    let out = curl(vec![
        "--proxy".into(),
        format!("http://{vpc}"),
        "--proxytunnel".into(),
        "-m".into(),
        "5".into(),
        url.clone(),
    ])
    .await;
    assert_fetched(&out);

    let out = curl(vec![
        "--socks5-hostname".into(),
        internet.to_string(),
        "-m".into(),
        "2".into(),
        url,
    ])
    .await;
    assert_eq!(
        out.status.code(),
        Some(28),
        "the private name must time out from the internet: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A dropped dial is held silently for about as long as a client's SYN retries would last, then
/// the vantage closes the client's connection without a reply, so abandoned black-holed
/// connections cannot pile up forever. Time is paused: the hold is measured on tokio's clock.
#[tokio::test(start_paused = true)]
async fn a_dropped_dial_is_given_up_after_a_clients_syn_retries() {
    let w = world().await;
    let internet = w.internet().await;
    let started = tokio::time::Instant::now();
    let mut address = vec![1];
    address.extend_from_slice(&w.server.ip().octets());
    let mut s = socks_request(internet, 1, &address, ECHO_PORT).await;
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(
        airlock_net::vantage::DROPPED_DIAL_HOLD * 2,
        s.read(&mut byte),
    )
    .await
    .expect("the vantage closes the connection");
    assert_eq!(read.unwrap(), 0, "closed without a reply");
    assert!(
        started.elapsed() >= airlock_net::vantage::DROPPED_DIAL_HOLD,
        "closed after {:?}, before the hold was over",
        started.elapsed()
    );
}
