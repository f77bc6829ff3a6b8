//! The emulated VPC: private addresses, subnets, security groups, and the one dial function.
//!
//! Every airlock component that reaches another component inside the cloud goes through
//! [`Network::dial`]. A private address such as `10.0.100.10:443` exists only in this crate's
//! table, and nothing ever dials a `10.x` address on the host: behind it is either an airlock
//! listener in this process ([`Network::listen`]; the connection is an in-process pipe) or a
//! foreign process's loopback port ([`Network::register`]; the connection is loopback TCP).
//!
//! A dial is judged the way AWS judges a packet: the source interface's security groups must allow
//! the egress, the destination interface's groups must allow the ingress (security groups are
//! stateful, so the return path is never checked), and private addresses are not routed from the
//! internet. A refused dial is *dropped*, not reset: the returned future never completes, so the
//! caller's own connect timeout fires exactly as it would against a real VPC. Which group lacks
//! which rule is logged at warn level.
//!
//! Airlock's own in-VPC listeners (ALB nodes, built-in tasks) have no host socket at all: a
//! connection reaches them only through [`Network::dial`], which hands them the emulated source
//! and destination with the stream ([`ConnInfo`]). Nothing on the host can connect to them, and
//! a request between two airlock components costs no kernel round trip.
//!
//! Architecture invariant: this crate knows addresses, interfaces and rules. It does not know what
//! a load balancer, a gateway or a task is; callers describe interfaces with free text.

pub mod h2guard;
pub mod hostnet;
pub mod linger;
pub mod logfile;
pub mod pipe;
mod rules;
mod serve;
pub mod shards;
mod stream;
pub mod sync;
#[doc(hidden)]
pub mod testing;
pub mod text;
pub mod trace;
pub mod vantage;

pub use pipe::{PIPE_BUFFER, Pipe, pipe};
pub use rules::{Protocol, Rule, SecurityGroupSpec, Source};
pub use serve::{
    ACCEPT_RETRY_PAUSE, Accept, ConnectionLimit, HEADER_LINES_ADDED_PER_HOP,
    MAX_CLIENT_HEADER_LINES, accept_loop, serve_gracefully,
};
pub use stream::{Carrier, NetStream};

use ipnet::Ipv4Net;
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};
use std::sync::{Arc, RwLock};
use sync::{read, write};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// The addresses of a VPC and its subnets, as the stack file declares them.
#[derive(Debug, Clone)]
pub struct VpcSpec {
    /// The VPC's IPv4 CIDR block.
    pub cidr: Ipv4Net,
    /// The subnets, each inside `cidr`.
    pub subnets: Vec<SubnetSpec>,
    /// The security groups that interfaces may carry.
    pub security_groups: Vec<SecurityGroupSpec>,
}

/// One subnet of the VPC.
#[derive(Debug, Clone)]
pub struct SubnetSpec {
    /// The subnet's name in the stack file.
    pub name: String,
    /// Its CIDR block.
    pub cidr: Ipv4Net,
    /// Its availability zone, e.g. `us-east-1a`.
    pub availability_zone: String,
}

/// Errors setting up the emulated network.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// An interface was asked for in a subnet the VPC does not have.
    #[error("no subnet named {0:?}")]
    UnknownSubnet(String),
    /// An interface was asked to carry a security group the VPC does not have.
    #[error("no security group named {0:?}")]
    UnknownSecurityGroup(String),
    /// The subnet has no free address left.
    #[error("subnet {0:?} has no free address left")]
    SubnetFull(String),
    /// Another listener already serves this private address and port.
    #[error("{0} is already served by another listener")]
    AddressInUse(SocketAddr),
}

/// Why a dial did not produce a connection.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The destination interface exists and admits the traffic, but nothing listens on the port:
    /// the peer answers with a reset, as a real host would.
    #[error("connection refused: nothing listens on {0}")]
    Refused(SocketAddr),
    /// The loopback connection behind the private address failed.
    #[error("connecting to the socket behind {private}: {source}")]
    Io {
        /// The private address dialed.
        private: SocketAddr,
        /// The I/O error.
        source: io::Error,
    },
}

/// Where a connection comes from.
#[derive(Debug, Clone)]
pub enum Origin {
    /// A network interface inside the VPC.
    Interface(Interface),
    /// The public internet (no interface, no security groups of its own).
    Internet,
}

/// An elastic network interface: a private address in a subnet, carrying security groups.
///
/// Cheap to clone. The groups an interface carries are fixed at creation (as for VPC link
/// interfaces in AWS); the rules inside the groups may change at run time.
#[derive(Clone)]
pub struct Interface(Arc<InterfaceInner>);

struct InterfaceInner {
    id: String,
    ip: Ipv4Addr,
    subnet: String,
    availability_zone: String,
    security_groups: Vec<String>,
    description: String,
}

impl Interface {
    /// The interface id, `eni-` and 17 hex digits like AWS's.
    pub fn id(&self) -> &str {
        &self.0.id
    }
    /// The interface's primary private IPv4 address.
    pub fn ip(&self) -> Ipv4Addr {
        self.0.ip
    }
    /// The subnet the interface lives in.
    pub fn subnet(&self) -> &str {
        &self.0.subnet
    }
    /// The availability zone of its subnet.
    pub fn availability_zone(&self) -> &str {
        &self.0.availability_zone
    }
    /// The security groups it carries.
    pub fn security_groups(&self) -> &[String] {
        &self.0.security_groups
    }
    /// What the interface belongs to, e.g. `ELB app/pets-alb`.
    pub fn description(&self) -> &str {
        &self.0.description
    }
}

impl fmt::Debug for Interface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, {})", self.0.id, self.0.ip, self.0.description)
    }
}

/// A snapshot of one registered interface, for status pages and reachability analysis.
#[derive(Debug, Clone)]
pub struct InterfaceInfo {
    /// The interface.
    pub interface: Interface,
    /// Private ports with something listening behind them.
    pub listening_ports: Vec<u16>,
}

/// The verdict on a prospective connection, hop by hop; see [`Network::judge`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The connection would be established.
    Reachable,
    /// The destination address is private and the origin is on the internet.
    NotRoutedFromInternet,
    /// No interface has the destination address.
    NoSuchAddress,
    /// An egress rule of the origin's groups is missing.
    EgressDenied {
        /// The groups the origin carries, none of which allows the traffic.
        groups: Vec<String>,
    },
    /// An ingress rule of the destination's groups is missing.
    IngressDenied {
        /// The groups the destination carries, none of which admits the traffic.
        groups: Vec<String>,
    },
    /// Security groups allow it, but nothing listens on the port.
    NothingListening,
}

/// Emulated metadata of an accepted connection: who dialed, and which address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnInfo {
    /// The emulated source (the dialing interface's address and an ephemeral port).
    pub peer: SocketAddr,
    /// The emulated destination (the private address and port dialed).
    pub local: SocketAddr,
}

/// The emulated VPC. Cheap to clone; all clones share one table.
#[derive(Clone)]
pub struct Network {
    inner: Arc<NetworkInner>,
}

struct NetworkInner {
    cidr: Ipv4Net,
    subnets: Vec<SubnetSpec>,
    groups: RwLock<HashMap<String, SecurityGroupSpec>>,
    state: RwLock<State>,
    next_eni: AtomicU32,
    next_port: AtomicU16,
}

#[derive(Default)]
struct State {
    interfaces: HashMap<Ipv4Addr, Interface>,
    /// Per subnet, the next host offset to try.
    cursors: HashMap<String, u32>,
    listeners: HashMap<SocketAddrV4, Backend>,
    /// Public endpoints: reachable from anywhere, subject to the security groups of the
    /// interface behind them when there is one (an internet-facing load balancer node); the API
    /// Gateway's regional address has none.
    public: HashMap<SocketAddrV4, (Backend, Option<Interface>)>,
}

/// What serves a private or public address.
#[derive(Debug, Clone)]
enum Backend {
    /// An airlock listener in this process: connections arrive through its inbox.
    InProcess(mpsc::Sender<Accepted>),
    /// A foreign process's loopback socket.
    Socket(SocketAddr),
}

/// How many dialed connections may wait for an in-process listener to accept them, like a
/// socket's accept backlog; further dials wait.
const BACKLOG: usize = 1024;

/// The address a caller on the internet appears to come from (TEST-NET-3, RFC 5737): what an
/// internet-facing listener sees as the client.
pub const INTERNET_CLIENT_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);

impl Network {
    /// Creates the network for one VPC.
    pub fn new(spec: VpcSpec) -> Network {
        let groups = spec
            .security_groups
            .into_iter()
            .map(|g| (g.name.clone(), g))
            .collect();
        Network {
            inner: Arc::new(NetworkInner {
                cidr: spec.cidr,
                subnets: spec.subnets,
                groups: RwLock::new(groups),
                state: RwLock::new(State::default()),
                next_eni: AtomicU32::new(0x0a1b_0000),
                next_port: AtomicU16::new(32768),
            }),
        }
    }

    /// The VPC's CIDR block.
    pub fn cidr(&self) -> Ipv4Net {
        self.inner.cidr
    }

    /// The VPC resolver's address: the VPC base address plus two.
    pub fn resolver_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.inner.cidr.network()) + 2)
    }

    /// Whether an address belongs to the VPC.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.inner.cidr.contains(&ip)
    }

    /// Creates an interface with the next free private address of `subnet`.
    ///
    /// The first four addresses and the last of every subnet are reserved, as in AWS.
    pub fn create_interface(
        &self,
        subnet: &str,
        security_groups: &[String],
        description: &str,
    ) -> Result<Interface, NetError> {
        let spec = self
            .inner
            .subnets
            .iter()
            .find(|s| s.name == subnet)
            .ok_or_else(|| NetError::UnknownSubnet(subnet.to_owned()))?;
        {
            let groups = read(&self.inner.groups);
            if let Some(missing) = security_groups.iter().find(|g| !groups.contains_key(*g)) {
                return Err(NetError::UnknownSecurityGroup(missing.clone()));
            }
        }
        let base = u32::from(spec.cidr.network());
        let size = 1u32 << (32 - u32::from(spec.cidr.prefix_len()));
        let mut state = write(&self.inner.state);
        let start = *state.cursors.get(subnet).unwrap_or(&4);
        // Reserved: .0 network, .1 router, .2 DNS, .3 future use, and the broadcast address.
        let usable = 4..size.saturating_sub(1);
        let ip = usable
            .clone()
            .cycle()
            .skip((start - 4) as usize)
            .take(usable.len())
            .map(|offset| Ipv4Addr::from(base + offset))
            .find(|ip| !state.interfaces.contains_key(ip))
            .ok_or_else(|| NetError::SubnetFull(subnet.to_owned()))?;
        let next = u32::from(ip) - base + 1;
        state
            .cursors
            .insert(subnet.to_owned(), if next >= size - 1 { 4 } else { next });
        let n = self.inner.next_eni.fetch_add(1, Ordering::Relaxed);
        let iface = Interface(Arc::new(InterfaceInner {
            id: format!("eni-0{n:016x}"),
            ip,
            subnet: subnet.to_owned(),
            availability_zone: spec.availability_zone.clone(),
            security_groups: security_groups.to_vec(),
            description: description.to_owned(),
        }));
        state.interfaces.insert(ip, iface.clone());
        Ok(iface)
    }

    /// How many addresses of `subnet` are free for new interfaces (`None`: no such subnet).
    pub fn free_addresses(&self, subnet: &str) -> Option<u64> {
        let spec = self.inner.subnets.iter().find(|s| s.name == subnet)?;
        let size = 1u64 << (32 - u32::from(spec.cidr.prefix_len()));
        // The same five reserved addresses `create_interface` skips.
        let usable = size.saturating_sub(5);
        let used = read(&self.inner.state)
            .interfaces
            .values()
            .filter(|i| i.subnet() == subnet)
            .count() as u64;
        Some(usable.saturating_sub(used))
    }

    /// Deletes an interface and every listener behind its address.
    pub fn delete_interface(&self, iface: &Interface) {
        let mut state = write(&self.inner.state);
        state.interfaces.remove(&iface.ip());
        state.listeners.retain(|addr, _| *addr.ip() != iface.ip());
    }

    /// Serves `port` on each of `interfaces` with an airlock listener in this process: there is
    /// no host socket, and connections arrive with their emulated endpoints through
    /// [`EmulatedListener::accept`]. The private addresses are released when the returned
    /// listener is dropped.
    pub fn listen(
        &self,
        interfaces: &[Interface],
        port: u16,
    ) -> Result<EmulatedListener, NetError> {
        let (inbox, rx) = mpsc::channel(BACKLOG);
        let addrs: Vec<SocketAddrV4> = interfaces
            .iter()
            .map(|i| SocketAddrV4::new(i.ip(), port))
            .collect();
        self.register_all(&addrs, Backend::InProcess(inbox.clone()))?;
        Ok(EmulatedListener {
            rx,
            inbox,
            registration: Registration {
                net: self.clone(),
                addrs,
            },
        })
    }

    /// Serves `private` (an interface address and port) with a socket a foreign process bound
    /// on the host, e.g. a task's container on a loopback port. Released when the registration
    /// is dropped.
    pub fn register(
        &self,
        private: SocketAddrV4,
        backend: SocketAddr,
    ) -> Result<Registration, NetError> {
        self.register_all(&[private], Backend::Socket(backend))?;
        Ok(Registration {
            net: self.clone(),
            addrs: vec![private],
        })
    }

    fn register_all(&self, addrs: &[SocketAddrV4], backend: Backend) -> Result<(), NetError> {
        let mut state = write(&self.inner.state);
        if let Some(taken) = addrs.iter().find(|a| state.listeners.contains_key(a)) {
            return Err(NetError::AddressInUse((*taken).into()));
        }
        for addr in addrs {
            state.listeners.insert(*addr, backend.clone());
        }
        Ok(())
    }

    /// Serves a public address (an internet-facing endpoint such as the API Gateway) with a
    /// socket bound on the host. Public addresses are reachable from the internet and, through
    /// the VPC's egress, from interfaces. Released when the registration is dropped.
    pub fn register_public(
        &self,
        public: SocketAddrV4,
        backend: SocketAddr,
    ) -> Result<Registration, NetError> {
        self.register_public_backend(public, Backend::Socket(backend), None)
    }

    fn register_public_backend(
        &self,
        public: SocketAddrV4,
        backend: Backend,
        interface: Option<Interface>,
    ) -> Result<Registration, NetError> {
        let mut state = write(&self.inner.state);
        if state.public.contains_key(&public) {
            return Err(NetError::AddressInUse(public.into()));
        }
        state.public.insert(public, (backend, interface));
        Ok(Registration {
            net: self.clone(),
            addrs: vec![public],
        })
    }

    /// Serves the VPC resolver (the VPC base address + 2, port 53) with a socket bound
    /// elsewhere. As in AWS, security groups do not filter traffic to the resolver, and the
    /// internet cannot reach it.
    pub fn register_resolver(&self, backend: SocketAddr) -> Result<Registration, NetError> {
        let addr = SocketAddrV4::new(self.resolver_ip(), 53);
        let mut state = write(&self.inner.state);
        if state.listeners.contains_key(&addr) {
            return Err(NetError::AddressInUse(addr.into()));
        }
        state.listeners.insert(addr, Backend::Socket(backend));
        Ok(Registration {
            net: self.clone(),
            addrs: vec![addr],
        })
    }

    /// Replaces the rules of a security group (as `authorize`/`revoke` calls would). Established
    /// connections are untouched, as with AWS's tracked connections.
    pub fn set_security_group(&self, spec: SecurityGroupSpec) {
        write(&self.inner.groups).insert(spec.name.clone(), spec);
    }

    /// A copy of a security group's current rules.
    pub fn security_group(&self, name: &str) -> Option<SecurityGroupSpec> {
        read(&self.inner.groups).get(name).cloned()
    }

    /// Every interface with its listening ports, ordered by address.
    pub fn interfaces(&self) -> Vec<InterfaceInfo> {
        let state = read(&self.inner.state);
        let mut out: Vec<InterfaceInfo> = state
            .interfaces
            .values()
            .map(|iface| {
                let mut listening_ports: Vec<u16> = state
                    .listeners
                    .keys()
                    .filter(|a| *a.ip() == iface.ip())
                    .map(|a| a.port())
                    .collect();
                listening_ports.sort_unstable();
                InterfaceInfo {
                    interface: iface.clone(),
                    listening_ports,
                }
            })
            .collect();
        out.sort_by_key(|i| i.interface.ip());
        out
    }

    /// The interface with this private address, if any.
    pub fn interface_by_ip(&self, ip: Ipv4Addr) -> Option<Interface> {
        read(&self.inner.state).interfaces.get(&ip).cloned()
    }

    /// The interface with this id (`eni-…`), if any.
    pub fn interface_by_id(&self, id: &str) -> Option<Interface> {
        read(&self.inner.state)
            .interfaces
            .values()
            .find(|i| i.id() == id)
            .cloned()
    }

    /// Whether this is a public endpoint's address (any port).
    pub fn is_public(&self, ip: Ipv4Addr) -> bool {
        read(&self.inner.state).public.keys().any(|a| *a.ip() == ip)
    }

    /// Judges a prospective TCP connection without making it: the pure decision behind
    /// [`Network::dial`], also used to explain reachability.
    pub fn judge(&self, from: &Origin, to: SocketAddr) -> Verdict {
        self.judge_inner(from, to).0
    }

    fn judge_inner(&self, from: &Origin, to: SocketAddr) -> (Verdict, Option<Backend>) {
        let SocketAddr::V4(to4) = to else {
            return (Verdict::NoSuchAddress, None);
        };
        let state = read(&self.inner.state);
        if let Some((backend, behind)) = state.public.get(&to4) {
            let groups = read(&self.inner.groups);
            let src_ip = match from {
                Origin::Interface(i) => i.ip(),
                Origin::Internet => INTERNET_CLIENT_IP,
            };
            if let Origin::Interface(src) = from
                && !src.security_groups().iter().any(|g| {
                    groups.get(g).is_some_and(|g| {
                        g.egress
                            .iter()
                            .any(|r| r.admits_ip(Protocol::Tcp, to.port(), *to4.ip()))
                    })
                })
            {
                return (
                    Verdict::EgressDenied {
                        groups: src.security_groups().to_vec(),
                    },
                    None,
                );
            }
            if let Some(node) = behind {
                // The public address carries the node's groups; only CIDR rules can admit a
                // caller from outside the VPC.
                let admitted = node.security_groups().iter().any(|g| {
                    groups.get(g).is_some_and(|g| {
                        g.ingress
                            .iter()
                            .any(|r| r.admits_ip(Protocol::Tcp, to.port(), src_ip))
                    })
                });
                if !admitted {
                    return (
                        Verdict::IngressDenied {
                            groups: node.security_groups().to_vec(),
                        },
                        None,
                    );
                }
            }
            return (Verdict::Reachable, Some(backend.clone()));
        }
        if *to4.ip() == self.resolver_ip() {
            return match (from, state.listeners.get(&to4)) {
                (Origin::Internet, _) => (Verdict::NotRoutedFromInternet, None),
                (Origin::Interface(_), Some(b)) if to4.port() == 53 => {
                    (Verdict::Reachable, Some(b.clone()))
                }
                (Origin::Interface(_), _) => (Verdict::NothingListening, None),
            };
        }
        let Some(dest) = state.interfaces.get(to4.ip()) else {
            return (
                if matches!(from, Origin::Internet) && is_private(*to4.ip()) {
                    Verdict::NotRoutedFromInternet
                } else {
                    Verdict::NoSuchAddress
                },
                None,
            );
        };
        let src = match from {
            Origin::Internet => return (Verdict::NotRoutedFromInternet, None),
            Origin::Interface(src) => src,
        };
        let groups = read(&self.inner.groups);
        let egress_ok = src.security_groups().iter().any(|g| {
            groups
                .get(g)
                .is_some_and(|g| g.allows_egress(Protocol::Tcp, to.port(), *to4.ip(), dest))
        });
        if !egress_ok {
            return (
                Verdict::EgressDenied {
                    groups: src.security_groups().to_vec(),
                },
                None,
            );
        }
        let ingress_ok = dest.security_groups().iter().any(|g| {
            groups
                .get(g)
                .is_some_and(|g| g.allows_ingress(Protocol::Tcp, to.port(), src))
        });
        if !ingress_ok {
            return (
                Verdict::IngressDenied {
                    groups: dest.security_groups().to_vec(),
                },
                None,
            );
        }
        match state.listeners.get(&to4) {
            Some(backend) => (Verdict::Reachable, Some(backend.clone())),
            None => (Verdict::NothingListening, None),
        }
    }

    /// Opens a connection from `from` to the private address `to`, as the VPC would carry it.
    ///
    /// A connection the VPC would drop (not routed, no such address, security group) never
    /// completes: wrap calls in the timeout the caller's protocol defines. Nothing listening
    /// behind an admitted address is refused at once, like a reset.
    pub async fn dial(&self, from: &Origin, to: SocketAddr) -> Result<NetStream, DialError> {
        Ok(self.open(from, to).await?.into_stream())
    }

    /// Like [`Network::dial`], but leaves the choice of what carries the bytes to the caller:
    /// a relay that already holds a stream (a tunnel, say) can hand it over with
    /// [`Opening::carry`] instead of copying between it and a new connection.
    pub async fn open(&self, from: &Origin, to: SocketAddr) -> Result<Opening, DialError> {
        let (verdict, backend) = self.judge_inner(from, to);
        let from_ip = match from {
            Origin::Interface(i) => i.ip(),
            Origin::Internet => INTERNET_CLIENT_IP,
        };
        trace::note(|c| {
            let outcome = match &verdict {
                Verdict::Reachable => "admitted",
                Verdict::NothingListening => "refused",
                _ => "dropped",
            };
            let why = match &verdict {
                Verdict::Reachable => trace::Val::Str("security groups admit it"),
                Verdict::NothingListening => trace::Val::Str("nothing listens there"),
                v => trace::Val::Text(describe_drop(v, to.port())),
            };
            trace::Hop::new(c, "dial", outcome)
                .with(
                    crate::name!("from"),
                    trace::Val::Addr(SocketAddr::from((from_ip, 0))),
                )
                .with(crate::name!("to"), trace::Val::Addr(to))
                .with(crate::name!("why"), why)
        });
        let backend = match (verdict, backend) {
            (Verdict::Reachable, Some(backend)) => backend,
            (Verdict::NothingListening, _) => return Err(DialError::Refused(to)),
            (verdict, _) => {
                let from_desc = match from {
                    Origin::Interface(i) => format!("{} {} ({})", i.id(), i.ip(), i.description()),
                    Origin::Internet => "the internet".to_owned(),
                };
                tracing::warn!(
                    from = %from_desc,
                    to = %to,
                    reason = %describe_drop(&verdict, to.port()),
                    "connection dropped by the VPC"
                );
                return std::future::pending().await;
            }
        };
        let src_ip = match from {
            Origin::Interface(i) => i.ip(),
            Origin::Internet => INTERNET_CLIENT_IP,
        };
        self.connect(
            backend,
            to,
            SocketAddr::from((src_ip, self.ephemeral_port())),
        )
        .await
    }

    /// Carries a connection that reached one of airlock's private addresses through a real
    /// network (a Docker network that is the VPC, `hostnet`) from `peer`, a host there. A peer
    /// at an address airlock gave an interface is that interface; any other is a host airlock
    /// does not know, which carries no security group: only the destination's CIDR rules can
    /// admit it. A connection the VPC would drop never completes, as with [`Network::open`].
    pub async fn open_from_host(
        &self,
        peer: SocketAddrV4,
        to: SocketAddrV4,
    ) -> Result<Opening, DialError> {
        if let Some(iface) = self.interface_by_ip(*peer.ip()) {
            return self.open(&Origin::Interface(iface), to.into()).await;
        }
        let (verdict, backend) = self.judge_host(*peer.ip(), to);
        match (verdict, backend) {
            (Verdict::Reachable, Some(backend)) => {
                self.connect(backend, to.into(), peer.into()).await
            }
            (Verdict::NothingListening, _) => Err(DialError::Refused(to.into())),
            (verdict, _) => {
                tracing::warn!(
                    from = %format!("{} (a host on the VPC's network, no security group)", peer.ip()),
                    to = %to,
                    reason = %describe_drop(&verdict, to.port()),
                    "connection dropped by the VPC"
                );
                std::future::pending().await
            }
        }
    }

    /// The judgement for a host on the VPC's real network that is not an interface of this
    /// network: no egress rules of its own; ingress by CIDR rules only.
    fn judge_host(&self, src: Ipv4Addr, to: SocketAddrV4) -> (Verdict, Option<Backend>) {
        let state = read(&self.inner.state);
        let Some(dest) = state.interfaces.get(to.ip()) else {
            return (Verdict::NoSuchAddress, None);
        };
        let groups = read(&self.inner.groups);
        let admitted = dest.security_groups().iter().any(|g| {
            groups.get(g).is_some_and(|g| {
                g.ingress
                    .iter()
                    .any(|r| r.admits_ip(Protocol::Tcp, to.port(), src))
            })
        });
        if !admitted {
            return (
                Verdict::IngressDenied {
                    groups: dest.security_groups().to_vec(),
                },
                None,
            );
        }
        match state.listeners.get(&to) {
            Some(backend) => (Verdict::Reachable, Some(backend.clone())),
            None => (Verdict::NothingListening, None),
        }
    }

    async fn connect(
        &self,
        backend: Backend,
        to: SocketAddr,
        peer: SocketAddr,
    ) -> Result<Opening, DialError> {
        match backend {
            Backend::Socket(addr) => {
                let stream = TcpStream::connect(addr)
                    .await
                    .map_err(|source| DialError::Io {
                        private: to,
                        source,
                    })?;
                let _ = stream.set_nodelay(true);
                Ok(Opening(OpeningKind::Tcp(stream)))
            }
            Backend::InProcess(inbox) => {
                let info = ConnInfo { peer, local: to };
                // A listener that went away between the judgement and now resets the
                // connection, as a closed port would. A full backlog makes the dial wait.
                let slot = inbox
                    .reserve_owned()
                    .await
                    .map_err(|_| DialError::Refused(to))?;
                Ok(Opening(OpeningKind::InProcess(slot, info)))
            }
        }
    }

    fn ephemeral_port(&self) -> u16 {
        // The Linux ephemeral range, wrapping; uniqueness per peer is not needed for logging.
        let p = self.inner.next_port.fetch_add(1, Ordering::Relaxed);
        if p < 32768 {
            self.inner.next_port.store(32769, Ordering::Relaxed);
            32768
        } else {
            p
        }
    }
}

fn describe_drop(verdict: &Verdict, port: u16) -> String {
    match verdict {
        Verdict::NotRoutedFromInternet => {
            "private address, not routed from the internet".to_owned()
        }
        Verdict::NoSuchAddress => "no interface has this address".to_owned(),
        Verdict::EgressDenied { groups } => format!(
            "no egress rule of the source's security groups {groups:?} allows tcp/{port} to it"
        ),
        Verdict::IngressDenied { groups } => format!(
            "no ingress rule of the destination's security groups {groups:?} admits tcp/{port} from the source"
        ),
        Verdict::Reachable | Verdict::NothingListening => String::new(),
    }
}

/// RFC 1918 private ranges, which the internet does not route.
fn is_private(ip: Ipv4Addr) -> bool {
    ip.is_private()
}

/// An admitted connection whose carrier is not chosen yet; see [`Network::open`].
#[derive(Debug)]
pub struct Opening(OpeningKind);

#[derive(Debug)]
enum OpeningKind {
    /// A place in the in-process listener's backlog, and what it will be told.
    InProcess(mpsc::OwnedPermit<Accepted>, ConnInfo),
    /// The connection to a foreign process, already made.
    Tcp(TcpStream),
}

impl Opening {
    /// The connection as a stream of its own (an in-process pipe, or the TCP connection).
    pub fn into_stream(self) -> NetStream {
        match self.0 {
            OpeningKind::InProcess(slot, info) => {
                let (ours, theirs) = pipe::pipe(pipe::PIPE_BUFFER);
                slot.send(Accepted {
                    stream: NetStream::Pipe(theirs),
                    info,
                    home: shards::here(),
                });
                NetStream::Pipe(ours)
            }
            OpeningKind::Tcp(stream) => NetStream::Tcp(stream),
        }
    }

    /// Carries the connection over `carrier` until either side closes: an in-process listener
    /// reads and writes `carrier` itself (nothing is copied, and this returns at once); a
    /// foreign process's connection is relayed to and from it. Returns the bytes relayed each
    /// way, when there was a relay.
    pub async fn carry<S>(self, mut carrier: S) -> io::Result<Option<(u64, u64)>>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        match self.0 {
            OpeningKind::InProcess(slot, info) => {
                slot.send(Accepted {
                    stream: NetStream::Carried(Box::new(carrier)),
                    info,
                    home: shards::here(),
                });
                Ok(None)
            }
            OpeningKind::Tcp(mut stream) => {
                tokio::io::copy_bidirectional(&mut carrier, &mut stream)
                    .await
                    .map(Some)
            }
        }
    }
}

/// A connection an [`EmulatedListener`] accepted: the stream and its emulated endpoints.
#[derive(Debug)]
pub struct Accepted {
    /// The connection.
    pub stream: NetStream,
    /// Who dialed, and which of the listener's addresses.
    pub info: ConnInfo,
    /// The dialer's runtime, where the connection is served (see [`shards`]).
    home: Option<tokio::runtime::Handle>,
}

/// An airlock listener serving private addresses in this process; see [`Network::listen`].
pub struct EmulatedListener {
    rx: mpsc::Receiver<Accepted>,
    inbox: mpsc::Sender<Accepted>,
    registration: Registration,
}

impl EmulatedListener {
    /// The next connection dialed to one of the listener's addresses. Pending forever once the
    /// listener cannot receive any more (never while it is alive: it keeps its own inbox).
    pub async fn accept(&mut self) -> Accepted {
        match self.rx.recv().await {
            Some(accepted) => accepted,
            None => std::future::pending().await,
        }
    }

    /// The private addresses it serves.
    pub fn private_addrs(&self) -> &[SocketAddrV4] {
        &self.registration.addrs
    }

    /// Also serves `public`, the public address of `interface` (e.g. an internet-facing load
    /// balancer node): reachable from the internet, with `interface`'s security groups deciding
    /// who may connect. Released when the registration is dropped.
    pub fn publish(
        &self,
        public: SocketAddrV4,
        interface: Interface,
    ) -> Result<Registration, NetError> {
        self.registration.net.register_public_backend(
            public,
            Backend::InProcess(self.inbox.clone()),
            Some(interface),
        )
    }
}

/// Keeps addresses mapped to what serves them; dropping it releases them.
pub struct Registration {
    net: Network,
    addrs: Vec<SocketAddrV4>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut state = write(&self.net.inner.state);
        for addr in &self.addrs {
            // An address is either private (listeners) or public; removing from both is exact.
            state.listeners.remove(addr);
            state.public.remove(addr);
        }
    }
}

#[cfg(test)]
mod tests;
