//! Step (with `Options::docker_vpc`): the VPC as a real Docker network (docs/compose.md).
//!
//! airlock's container stands on the network whose subnet is the VPC CIDR. It holds there the
//! private addresses of every load balancer node and of the VPC resolver (base + 2), so another
//! container on that network reaches the ALB with its own kernel and resolves names through the
//! VPC view, while a container outside the network has no route to them at all (the engine
//! isolates an internal network: its packets are dropped, and its connection times out).
//!
//! What reaches a node's address is carried into the emulated network from the real peer, so
//! security groups still apply: a peer at a task's private address is that task's interface;
//! any other host there carries no group, and only CIDR rules admit it. A connection the groups
//! drop is never answered: the kernel has already completed the TCP handshake, but nothing is
//! sent and nothing reaches the node, until the client gives up.

use super::*;
use airlock_net::hostnet;
use std::net::SocketAddrV4;
use tokio::io::AsyncWriteExt as _;

/// How often a held (dropped) connection is checked for its client having gone.
const HELD_POLL: Duration = Duration::from_secs(1);

/// Holds the VPC's addresses on this container's interface in the VPC CIDR and serves them.
/// Returns the addresses held.
pub(super) async fn start(
    ctx: &Ctx<'_>,
    lbs: &LoadBalancers,
    dns: &airlock_dns::DnsHandle,
) -> Result<Vec<Ipv4Addr>, StackError> {
    let network = &ctx.network;
    let cidr = network.cidr();
    let vpc_err = |message: String| resource_err("vpc (--docker-vpc)", message);
    let host_if = hostnet::interface_in(cidr)
        .map_err(|e| vpc_err(format!("listing this container's addresses: {e}")))?
        .ok_or_else(|| {
            vpc_err(format!(
                "no interface here has an address in the VPC CIDR {cidr} (hint: attach airlock's container to the Docker network whose subnet is {cidr}; docs/compose.md)"
            ))
        })?;
    let hold = |ip: Ipv4Addr| {
        hostnet::add_address(host_if, ip).map_err(|e| {
            vpc_err(format!(
                "holding {ip} on the VPC network: {e} (hint: the container needs CAP_NET_ADMIN: cap_add: [NET_ADMIN])"
            ))
        })
    };
    let mut held = Vec::new();

    for lb in &ctx.stack.load_balancers {
        let Some(nodes) = lbs.nodes.get(&lb.name) else {
            continue;
        };
        for node in nodes {
            hold(node.ip())?;
            held.push(node.ip());
            for listener in &lb.listeners {
                let to = SocketAddrV4::new(node.ip(), listener.port);
                let socket = TcpListener::bind(to)
                    .await
                    .map_err(|source| StackError::Bind {
                        what: "load balancer node on the VPC network",
                        flag: "docker-vpc",
                        ip: node.ip(),
                        port: listener.port,
                        source,
                    })?;
                ctx.tracker.spawn(carry_into_vpc(
                    socket,
                    to,
                    network.clone(),
                    ctx.shutdown.clone(),
                    ctx.tracker.clone(),
                ));
            }
        }
    }

    let resolver = network.resolver_ip();
    hold(resolver)?;
    held.push(resolver);
    let udp = tokio::net::UdpSocket::bind((resolver, 53))
        .await
        .map_err(|source| StackError::Bind {
            what: "VPC resolver on the VPC network (UDP)",
            flag: "docker-vpc",
            ip: resolver,
            port: 53,
            source,
        })?;
    let tcp = TcpListener::bind((resolver, 53))
        .await
        .map_err(|source| StackError::Bind {
            what: "VPC resolver on the VPC network (TCP)",
            flag: "docker-vpc",
            ip: resolver,
            port: 53,
            source,
        })?;
    let handler =
        airlock_dns::DnsRequestHandler::new(dns.clone(), Arc::new(|_| airlock_dns::View::Vpc));
    let shutdown = ctx.shutdown.clone();
    ctx.tracker.spawn(async move {
        if let Err(e) = airlock_dns::serve(udp, tcp, handler, shutdown).await {
            tracing::error!(error = %e, "VPC resolver on the VPC network stopped");
        }
    });
    tracing::info!(
        interface = host_if.index,
        own = %host_if.ip,
        held = ?held,
        "the VPC is a real network here: load balancer nodes and the resolver hold their private addresses"
    );
    Ok(held)
}

/// Accepts at a node's real address and carries each connection into the emulated network.
async fn carry_into_vpc(
    socket: TcpListener,
    to: SocketAddrV4,
    network: Network,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    loop {
        let (mut stream, peer) = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = socket.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, %to, "accepting on the VPC network");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let SocketAddr::V4(peer) = peer else {
            continue;
        };
        let (network, shutdown) = (network.clone(), shutdown.clone());
        tracker.spawn(async move {
            let _ = stream.set_nodelay(true);
            let opening = tokio::select! {
                opening = network.open_from_host(peer, to) => opening,
                () = client_gone(&stream) => return,
                () = shutdown.cancelled() => return,
            };
            match opening {
                Ok(opening) => {
                    tokio::select! {
                        _ = opening.carry(stream) => {}
                        () = shutdown.cancelled() => {}
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, %peer, %to, "connection from the VPC network refused");
                    let _ = stream.shutdown().await;
                }
            }
        });
    }
}

/// Completes when the client of a held connection has closed it. Its bytes stay unread: a
/// connection the VPC admits later (it never does once dropped) would still get them.
async fn client_gone(stream: &tokio::net::TcpStream) {
    let mut byte = [0u8; 1];
    loop {
        if stream.readable().await.is_err() {
            return;
        }
        match stream.peek(&mut byte).await {
            Ok(0) | Err(_) => return,
            Ok(_) => tokio::time::sleep(HELD_POLL).await,
        }
    }
}
