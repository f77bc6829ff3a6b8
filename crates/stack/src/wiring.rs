//! From a validated stack file to running components.

use crate::{Endpoints, Options, RunningStack, StackError, ids};
use airlock_config as cfg;
use airlock_net::{Interface, Network, Registration};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The gateway's public address. Exists only inside airlock (a documentation range, RFC 5737).
pub(crate) const GATEWAY_PUBLIC_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
/// The first public address given to internet-facing load balancer nodes (same range).
const FIRST_LB_PUBLIC_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 20);
/// How long start-up waits for a service's tasks to be registered.
const TASKS_READY_TIMEOUT: Duration = Duration::from_secs(60);

/// What the banner and the token helper need to know about the stack.
pub(crate) struct Summary {
    pub source_region: String,
    pub account: String,
    pub default_audience: String,
    pub scopes: Vec<String>,
    pub links: Vec<(String, SocketAddr)>,
    pub albs: Vec<(String, String, Vec<Ipv4Addr>)>,
}

impl Summary {
    pub fn all_scopes(&self) -> Vec<&str> {
        self.scopes.iter().map(String::as_str).collect()
    }
}

/// The running stack's parts that live as long as it does; the admin endpoint reads them.
pub(crate) struct Keep {
    pub _registrations: Vec<Registration>,
    pub services: Vec<airlock_fargate::ServiceHandle>,
    /// Each VPC link's state, by link name.
    pub links: Vec<(
        String,
        tokio::sync::watch::Sender<airlock_vpclink::LinkState>,
    )>,
    pub network: Network,
    pub dns: airlock_dns::DnsHandle,
    pub issuer: airlock_pki::Issuer,
    pub target_groups: BTreeMap<String, airlock_alb::TargetGroup>,
    /// The `vpc` vantage point's interface.
    pub vantage: Option<Interface>,
    /// The stack file, for task definitions sent to the admin endpoint (its `image_map`).
    pub stack: cfg::Stack,
}

impl Keep {
    pub fn task_ips(&self) -> BTreeMap<String, Vec<Ipv4Addr>> {
        self.services
            .iter()
            .map(|s| {
                let mut ips: Vec<Ipv4Addr> = s
                    .tasks()
                    .iter()
                    .filter(|t| t.last_status.as_str() == "RUNNING")
                    .filter_map(|t| t.private_ip)
                    .collect();
                ips.sort();
                (s.name().to_owned(), ips)
            })
            .collect()
    }
}

fn resource_err(resource: impl Into<String>, message: impl ToString) -> StackError {
    StackError::Resource {
        resource: resource.into(),
        message: message.to_string(),
    }
}

async fn bind(
    what: &'static str,
    flag: &'static str,
    port: u16,
) -> Result<TcpListener, StackError> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .await
        .map_err(|source| StackError::Bind {
            what,
            flag,
            port,
            source,
        })
}

/// Issues each named certificate once, from the stack's CA.
struct Certificates<'a> {
    ca: &'a airlock_pki::Ca,
    stack: &'a cfg::Stack,
    issued: HashMap<String, airlock_pki::Leaf>,
}

impl Certificates<'_> {
    fn get(&mut self, name: &str) -> Result<airlock_pki::Leaf, StackError> {
        if let Some(leaf) = self.issued.get(name) {
            return Ok(leaf.clone());
        }
        let cert = self
            .stack
            .certificate(name)
            .ok_or_else(|| resource_err(format!("certificates[{name}]"), "not declared"))?;
        let mut names = vec![cert.domain_name.clone()];
        names.extend(cert.subject_alternative_names.iter().cloned());
        let leaf = self
            .ca
            .issue_server(&names)
            .map_err(|e| resource_err(format!("certificates[{name}]"), e))?;
        self.issued.insert(name.to_owned(), leaf.clone());
        Ok(leaf)
    }
}

pub(crate) async fn start(
    stack: cfg::Stack,
    options: Options,
    temp_dir: Option<tempfile::TempDir>,
) -> Result<RunningStack, StackError> {
    let dir = options.state_dir.clone();
    let pki_err = |source| StackError::Pki {
        dir: dir.clone(),
        source,
    };
    let ca = airlock_pki::Ca::load_or_create(&options.state_dir).map_err(pki_err)?;
    let issuer = airlock_pki::Issuer::load_or_create(&options.state_dir, airlock_pki::LOCAL_ISSUER)
        .map_err(pki_err)?;
    let region = stack.region.as_str().to_owned();
    let account = stack.account_id.as_str().to_owned();
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let network = Network::new(vpc_spec(&stack));
    let mut registrations = Vec::new();
    let mut certs = Certificates {
        ca: &ca,
        stack: &stack,
        issued: HashMap::new(),
    };

    // ECS services first: the load balancers forward to the targets they publish.
    let mut services = Vec::new();
    let mut targets_by_group: HashMap<String, Vec<tokio::sync::watch::Receiver<Vec<SocketAddr>>>> =
        HashMap::new();
    for svc in &stack.services {
        let config = service_config(&stack, svc, &options.state_dir)?;
        let handle = airlock_fargate::start_service(config, network.clone(), shutdown.clone())
            .await
            .map_err(|e| resource_err(format!("services[{}]", svc.service_name), e))?;
        for lb in &svc.load_balancers {
            targets_by_group
                .entry(lb.target_group.clone())
                .or_default()
                .push(handle.targets());
        }
        services.push(handle);
    }
    let target_groups: HashMap<String, airlock_alb::TargetGroup> = stack
        .target_groups
        .iter()
        .map(|tg| {
            let rx = merge_targets(
                targets_by_group.remove(&tg.name).unwrap_or_default(),
                &shutdown,
            );
            (
                tg.name.clone(),
                airlock_alb::TargetGroup::with_config(
                    target_group_config(tg, &account, &region),
                    rx,
                ),
            )
        })
        .collect();
    // ECS counts a task healthy for deployments and replacements by its target's health in the
    // load balancer (alb-ecs-dns.md §4.2, §4.5): each service follows its first target group.
    for (svc, handle) in stack.services.iter().zip(&services) {
        let Some(group) = svc
            .load_balancers
            .first()
            .and_then(|lb| target_groups.get(&lb.target_group))
        else {
            continue;
        };
        let arn = group
            .config()
            .arn
            .clone()
            .unwrap_or_else(|| group.name().to_owned());
        handle.follow_target_health(arn, lb_health_view(group, &shutdown, &tracker));
    }

    // Load balancers: one node interface per subnet, each listener served on every node.
    let mut alb_nodes: HashMap<String, Vec<Interface>> = HashMap::new();
    let mut alb_dns: BTreeMap<String, String> = BTreeMap::new();
    // What each load balancer's name resolves to: node private IPs for internal ones, public
    // addresses for internet-facing ones (spec alb-ecs-dns.md §1.1).
    let mut alb_addrs: HashMap<String, Vec<Ipv4Addr>> = HashMap::new();
    let mut next_public = u32::from(FIRST_LB_PUBLIC_IP);
    for lb in &stack.load_balancers {
        let resource = format!("load_balancers[{}]", lb.name);
        let internal = lb.scheme == cfg::Scheme::Internal;
        let dns_name = ids::load_balancer_dns_name(&account, &region, &lb.name, internal);
        let id = ids::load_balancer_id(&account, &lb.name);
        let nodes = lb
            .subnets
            .iter()
            .map(|subnet| {
                network
                    .create_interface(
                        subnet,
                        &lb.security_groups,
                        &format!("ELB app/{}/{id}", lb.name),
                    )
                    .map_err(|e| resource_err(&resource, e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut listeners = Vec::new();
        for l in &lb.listeners {
            listeners.push(listener_config(l, &mut certs, &target_groups, &resource)?);
        }
        let built = airlock_alb::AlbConfig {
            name: lb.name.clone(),
            dns_name: dns_name.clone(),
            listeners,
            attributes: alb_attributes(
                &lb.attributes,
                options
                    .state_dir
                    .join("logs")
                    .join("alb")
                    .join(format!("{}.log", lb.name)),
            ),
        }
        .build()
        .map_err(|e| resource_err(&resource, e))?;
        let public_ips: Vec<Ipv4Addr> = if internal {
            Vec::new()
        } else {
            nodes
                .iter()
                .map(|_| {
                    next_public += 1;
                    Ipv4Addr::from(next_public - 1)
                })
                .collect()
        };
        for listener in built {
            let emulated = network
                .listen(&nodes, listener.port())
                .map_err(|e| resource_err(&resource, e))?;
            for (ip, node) in public_ips.iter().zip(&nodes) {
                registrations.push(
                    emulated
                        .publish(
                            std::net::SocketAddrV4::new(*ip, listener.port()),
                            node.clone(),
                        )
                        .map_err(|e| resource_err(&resource, e))?,
                );
            }
            tracker.spawn(airlock_alb::serve_listener(
                emulated,
                listener,
                network.clone(),
                nodes.clone(),
                shutdown.clone(),
                tracker.clone(),
            ));
        }
        alb_dns.insert(lb.name.clone(), dns_name);
        alb_addrs.insert(
            lb.name.clone(),
            if internal {
                nodes.iter().map(Interface::ip).collect()
            } else {
                public_ips
            },
        );
        alb_nodes.insert(lb.name.clone(), nodes);
    }

    // VPC links: interfaces in their subnets, a mutual-TLS endpoint on the host, and the
    // gateway's client identity.
    let mut link_clients: HashMap<String, airlock_vpclink::LinkClient> = HashMap::new();
    let mut link_endpoints = BTreeMap::new();
    let mut link_server_names = BTreeMap::new();
    let mut link_states = Vec::new();
    for (i, link) in stack.vpc_links.iter().enumerate() {
        let resource = format!("vpc_links[{}]", link.name);
        // A link whose interfaces cannot be created is FAILED (spec http-api.md §7), not a
        // reason to refuse the whole stack: requests through it get the gateway's 500.
        let (interfaces, failure) = match link
            .subnet_ids
            .iter()
            .map(|subnet| {
                network.create_interface(
                    subnet,
                    &link.security_group_ids,
                    &format!("VPC link {}", link.name),
                )
            })
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(ifaces) => (ifaces, None),
            Err(e) => (Vec::new(), Some(e)),
        };
        let port = if i == 0 { options.ports.vpc_link } else { 0 };
        let listener = bind("VPC link endpoint", "vpc-link-port", port).await?;
        let addr = listener
            .local_addr()
            .map_err(|e| resource_err(&resource, e))?;
        let server_name = format!(
            "{}.vpclink.{region}.airlock.local",
            ids::vpc_link_id(&account, &link.name)
        );
        let identity = airlock_pki::apigateway_identity(&account, &link.name);
        let (state_tx, state_rx) = tokio::sync::watch::channel(airlock_vpclink::LinkState::Pending);
        let endpoint = airlock_vpclink::Endpoint::new(airlock_vpclink::EndpointConfig {
            server_cert: ca
                .issue_server(std::slice::from_ref(&server_name))
                .map_err(|e| resource_err(&resource, e))?,
            client_ca: ca.cert_der().clone(),
            expected_identity: identity.clone(),
            network: network.clone(),
            interfaces,
            connect_timeout: options.vpc_link_connect_timeout,
            handshake_timeout: Duration::from_secs(10),
            state: state_rx,
        })
        .map_err(|e| resource_err(&resource, e))?;
        // The gateway lives in this process: it reaches the endpoint in-process (same mutual
        // TLS and HTTP/2, no loopback round trip); the host port serves everyone else.
        let local = endpoint.local(shutdown.clone(), tracker.clone());
        tracker.spawn(endpoint.serve(listener, shutdown.clone(), tracker.clone()));
        let client = airlock_vpclink::LinkClient::new(airlock_vpclink::ClientConfig {
            endpoint: addr,
            local: Some(local),
            identity: ca
                .issue_client(&identity)
                .map_err(|e| resource_err(&resource, e))?,
            ca: ca.cert_der().clone(),
            server_name: server_name.clone(),
        })
        .map_err(|e| resource_err(&resource, e))?;
        link_server_names.insert(link.name.clone(), server_name);
        match failure {
            // The interfaces exist and the endpoint serves: the link is usable (spec §7).
            None => {
                let _ = state_tx.send(airlock_vpclink::LinkState::Available);
            }
            Some(e) => {
                tracing::warn!(link = %link.name, error = %e, "VPC link FAILED: its interfaces could not be created");
                let _ = state_tx.send(airlock_vpclink::LinkState::Failed);
            }
        }
        link_states.push((link.name.clone(), state_tx));
        link_clients.insert(link.name.clone(), client);
        link_endpoints.insert(link.name.clone(), addr);
    }

    // The API Gateway.
    let gateway_config = gateway_config(
        &stack,
        &issuer,
        &ca,
        &mut certs,
        &link_clients,
        &alb_nodes,
        &alb_dns,
        &options.state_dir,
    )?;
    let api_endpoints: BTreeMap<String, String> = stack
        .http_apis
        .iter()
        .map(|api| {
            (
                api.name.clone(),
                format!(
                    "{}.execute-api.{region}.amazonaws.com",
                    ids::api_id(&account, &api.name)
                ),
            )
        })
        .collect();
    let gateway =
        airlock_gateway::Gateway::new(gateway_config).map_err(|e| resource_err("http_apis", e))?;
    let gateway_listener = bind("API Gateway", "gateway-port", options.ports.gateway).await?;
    let gateway_addr = gateway_listener
        .local_addr()
        .map_err(|e| resource_err("gateway", e))?;
    tracker.spawn(Arc::new(gateway).serve(gateway_listener, shutdown.clone(), tracker.clone()));
    // The regional endpoint's public address, for callers standing on the internet.
    registrations.push(
        network
            .register_public(
                std::net::SocketAddrV4::new(GATEWAY_PUBLIC_IP, 443),
                gateway_addr,
            )
            .map_err(|e| resource_err("gateway", e))?,
    );

    // DNS, public view on the host.
    let zones = dns_zones(&stack, &alb_dns, &alb_addrs, &api_endpoints)?;
    let dns = airlock_dns::DnsHandle::new(zones).map_err(|e| resource_err("hosted_zones", e))?;
    let (udp, tcp) = bind_dns(options.ports.dns).await?;
    let dns_addr = udp.local_addr().map_err(|e| resource_err("dns", e))?;
    let handler =
        airlock_dns::DnsRequestHandler::new(dns.clone(), Arc::new(|_| airlock_dns::View::Public));
    let dns_shutdown = shutdown.clone();
    tracker.spawn(async move {
        if let Err(e) = airlock_dns::serve(udp, tcp, handler, dns_shutdown).await {
            tracing::error!(error = %e, "DNS server stopped");
        }
    });

    // The VPC resolver (base + 2): the VPC view, over TCP, for everything inside the VPC.
    let (resolver_udp, resolver_tcp) = bind_dns(0).await?;
    let resolver_addr = resolver_tcp
        .local_addr()
        .map_err(|e| resource_err("dns", e))?;
    registrations.push(
        network
            .register_resolver(resolver_addr)
            .map_err(|e| resource_err("dns", e))?,
    );
    let vpc_handler =
        airlock_dns::DnsRequestHandler::new(dns.clone(), Arc::new(|_| airlock_dns::View::Vpc));
    let resolver_shutdown = shutdown.clone();
    tracker.spawn(async move {
        if let Err(e) =
            airlock_dns::serve(resolver_udp, resolver_tcp, vpc_handler, resolver_shutdown).await
        {
            tracing::error!(error = %e, "VPC resolver stopped");
        }
    });

    // Serving: wait until every service's tasks are registered, so the first request works.
    for svc in &services {
        let want = svc.desired_count() as usize;
        let mut rx = svc.targets();
        let ready =
            tokio::time::timeout(TASKS_READY_TIMEOUT, rx.wait_for(|t| t.len() >= want)).await;
        if !matches!(ready, Ok(Ok(_))) {
            return Err(resource_err(
                format!("services[{}]", svc.name()),
                format!("its {want} tasks did not start within {TASKS_READY_TIMEOUT:?}"),
            ));
        }
    }
    // ... and until their first health checks are done: `initial` targets get no traffic
    // (alb-ecs-dns.md §3.4). A target still `initial` after the wait is only logged.
    for group in target_groups.values() {
        let mut health = group.watch_health();
        let settled = health.wait_for(|targets| {
            targets
                .iter()
                .all(|t| t.state != airlock_alb::TargetState::Initial)
        });
        if tokio::time::timeout(TASKS_READY_TIMEOUT, settled)
            .await
            .is_err()
        {
            tracing::warn!(
                group = group.name(),
                "targets still in their initial health checks"
            );
        }
    }

    let summary = Summary {
        source_region: region.clone(),
        account: account.clone(),
        default_audience: stack
            .http_apis
            .iter()
            .flat_map(|a| &a.authorizers)
            .filter_map(|a| a.jwt_configuration.as_ref()?.audience.first())
            .next()
            .cloned()
            .unwrap_or_else(|| "airlock".to_owned()),
        scopes: {
            let mut s: Vec<String> = stack
                .http_apis
                .iter()
                .flat_map(|a| &a.routes)
                .flat_map(|r| r.authorization_scopes.iter().cloned())
                .collect();
            s.sort();
            s.dedup();
            s
        },
        links: link_endpoints
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
        albs: alb_dns
            .iter()
            .map(|(name, dns)| {
                let ips = alb_nodes
                    .get(name)
                    .map(|n| n.iter().map(Interface::ip).collect())
                    .unwrap_or_default();
                (name.clone(), dns.clone(), ips)
            })
            .collect(),
    };
    // Vantage points: where a user stands, each resolving names with its own DNS view.
    let vantage_iface = match &stack.vantage_points.vpc {
        Some(v) => Some(
            network
                .create_interface(&v.subnet, &v.security_groups, "vantage point vpc")
                .map_err(|e| resource_err("vantage_points.vpc", e))?,
        ),
        None => None,
    };
    let resolver = |view: airlock_dns::View| -> airlock_net::vantage::Resolver {
        let dns = dns.clone();
        Arc::new(move |name: &str| {
            let Ok(name) = airlock_dns::DomainName::parse(name.trim_end_matches('.')) else {
                return Vec::new();
            };
            dns.resolve(view, &name, airlock_dns::proto::rr::RecordType::A)
                .addresses()
                .into_iter()
                .filter_map(|a| match a {
                    IpAddr::V4(v4) => Some(v4),
                    IpAddr::V6(_) => None,
                })
                .collect()
        })
    };
    let vantage = |what: &'static str, flag: &'static str, port: u16, origin, view| {
        let network = network.clone();
        let (shutdown, tracker) = (shutdown.clone(), tracker.clone());
        let resolver = resolver(view);
        async move {
            let listener = bind(what, flag, port).await?;
            let addr = listener
                .local_addr()
                .map_err(|e| resource_err("vantage_points", e))?;
            let name = what.split(' ').next().unwrap_or(what);
            tracker.spawn(airlock_net::vantage::serve(
                listener,
                Arc::new(airlock_net::vantage::Vantage::new(name, origin, resolver)),
                network,
                shutdown,
                tracker.clone(),
            ));
            Ok::<_, StackError>(addr)
        }
    };
    let socks_internet = vantage(
        "internet vantage point",
        "socks-internet-port",
        options.ports.socks_internet,
        airlock_net::Origin::Internet,
        airlock_dns::View::Public,
    )
    .await?;
    let socks_vpc = match &vantage_iface {
        Some(iface) => Some(
            vantage(
                "vpc vantage point",
                "socks-vpc-port",
                options.ports.socks_vpc,
                airlock_net::Origin::Interface(iface.clone()),
                airlock_dns::View::Vpc,
            )
            .await?,
        ),
        None => None,
    };

    let admin_listener = bind("admin endpoint", "admin-port", options.ports.admin).await?;
    let endpoints = Endpoints {
        gateway: gateway_addr,
        dns: dns_addr,
        admin: admin_listener
            .local_addr()
            .map_err(|e| resource_err("admin", e))?,
        socks_internet,
        socks_vpc,
        vpc_links: link_endpoints,
        vpc_link_server_names: link_server_names,
        ca_cert: ca.ca_path().to_owned(),
        alb_dns_names: alb_dns,
        custom_domains: stack
            .domain_names
            .iter()
            .map(|d| d.domain_name.clone())
            .collect(),
        api_endpoints,
        issuer: issuer.issuer().to_owned(),
    };
    let state = Arc::new(Keep {
        _registrations: registrations,
        services,
        links: link_states,
        network,
        dns,
        issuer,
        target_groups: target_groups.into_iter().collect(),
        vantage: vantage_iface,
        stack: stack.clone(),
    });
    let admin = Arc::new(crate::admin::Admin {
        state: state.clone(),
        endpoints: endpoints.to_json(),
        region: region.clone(),
        account: account.clone(),
    });
    tracker.spawn(crate::admin::serve(
        admin,
        admin_listener,
        shutdown.clone(),
        tracker.clone(),
    ));
    tracing::info!(gateway = %endpoints.gateway, dns = %endpoints.dns, admin = %endpoints.admin, "stack serving");
    Ok(RunningStack {
        endpoints,
        shutdown,
        tracker,
        ca,
        summary,
        state,
        _temp_dir: temp_dir,
    })
}

/// UDP and TCP on the same port. With port 0 the UDP port is chosen first and TCP follows it;
/// another process can hold that TCP port, so a few ports are tried.
async fn bind_dns(port: u16) -> Result<(tokio::net::UdpSocket, TcpListener), StackError> {
    let mut last = None;
    for _ in 0..8 {
        let udp = tokio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, port))
            .await
            .map_err(|source| StackError::Bind {
                what: "DNS server (UDP)",
                flag: "dns-port",
                port,
                source,
            })?;
        let actual = udp.local_addr().map_err(|e| resource_err("dns", e))?.port();
        match TcpListener::bind((Ipv4Addr::LOCALHOST, actual)).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if port == 0 => last = Some(e),
            Err(source) => {
                return Err(StackError::Bind {
                    what: "DNS server (TCP)",
                    flag: "dns-port",
                    port,
                    source,
                });
            }
        }
    }
    Err(StackError::Bind {
        what: "DNS server (TCP)",
        flag: "dns-port",
        port,
        source: last.unwrap_or_else(|| std::io::Error::other("no free port")),
    })
}

/// The target group's health of each target, as the ECS scheduler needs it.
fn lb_health_view(
    group: &airlock_alb::TargetGroup,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
) -> tokio::sync::watch::Receiver<Vec<(SocketAddr, airlock_fargate::LbTargetHealth)>> {
    let mut health = group.watch_health();
    let view = |targets: &[airlock_alb::TargetHealth]| {
        targets
            .iter()
            .map(|t| {
                let h = match t.state {
                    airlock_alb::TargetState::Healthy | airlock_alb::TargetState::Unavailable => {
                        airlock_fargate::LbTargetHealth::Healthy
                    }
                    airlock_alb::TargetState::Unhealthy => {
                        airlock_fargate::LbTargetHealth::Unhealthy
                    }
                    _ => airlock_fargate::LbTargetHealth::Other,
                };
                (t.target, h)
            })
            .collect::<Vec<_>>()
    };
    let (tx, rx) = tokio::sync::watch::channel(view(&health.borrow_and_update()));
    let shutdown = shutdown.clone();
    tracker.spawn(async move {
        loop {
            tokio::select! {
                changed = health.changed() => if changed.is_err() { return },
                _ = shutdown.cancelled() => return,
            }
            if tx.send(view(&health.borrow_and_update())).is_err() {
                return;
            }
        }
    });
    rx
}

/// Joins the target sets of several services feeding one target group.
fn merge_targets(
    mut sources: Vec<tokio::sync::watch::Receiver<Vec<SocketAddr>>>,
    shutdown: &CancellationToken,
) -> tokio::sync::watch::Receiver<Vec<SocketAddr>> {
    if sources.len() == 1 {
        return sources.remove(0);
    }
    let current = |s: &[tokio::sync::watch::Receiver<Vec<SocketAddr>>]| {
        s.iter()
            .flat_map(|r| r.borrow().clone())
            .collect::<Vec<_>>()
    };
    let (tx, rx) = tokio::sync::watch::channel(current(&sources));
    if sources.is_empty() {
        // No service feeds this group: it stays empty (the ALB answers 503), and the sender
        // must outlive the receiver, so park it with the shutdown.
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            shutdown.cancelled().await;
            drop(tx);
        });
        return rx;
    }
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        loop {
            let changed =
                futures_util::future::select_all(sources.iter_mut().map(|r| Box::pin(r.changed())));
            tokio::select! {
                _ = shutdown.cancelled() => break,
                (res, _, _) = changed => if res.is_err() { break },
            }
            let _ = tx.send(current(&sources));
        }
    });
    rx
}

fn vpc_spec(stack: &cfg::Stack) -> airlock_net::VpcSpec {
    use airlock_net::{Protocol, Rule, SecurityGroupSpec, Source};
    let protocol = |p: cfg::IpProtocol| match p {
        cfg::IpProtocol::Tcp => Protocol::Tcp,
        cfg::IpProtocol::Udp => Protocol::Udp,
        // ICMP carries no TCP: modelled as a protocol that never matches a TCP dial.
        cfg::IpProtocol::Icmp => Protocol::Udp,
        cfg::IpProtocol::All => Protocol::All,
    };
    let rule = |p: cfg::IpProtocol,
                ports: Option<std::ops::RangeInclusive<u16>>,
                cidr: Option<ipnet::Ipv4Net>,
                group: Option<&String>| {
        let (from_port, to_port) = ports.map_or((0, u16::MAX), |r| (*r.start(), *r.end()));
        Rule {
            protocol: protocol(p),
            from_port,
            to_port,
            source: match (group, cidr) {
                (Some(g), _) => Source::Group(g.clone()),
                (None, Some(c)) => Source::Cidr(c),
                (None, None) => Source::Cidr(ipnet::Ipv4Net::default()),
            },
        }
    };
    airlock_net::VpcSpec {
        cidr: stack.vpc.cidr_block,
        subnets: stack
            .vpc
            .subnets
            .iter()
            .map(|s| airlock_net::SubnetSpec {
                name: s.name.clone(),
                cidr: s.cidr_block,
                availability_zone: s.availability_zone.clone(),
            })
            .collect(),
        security_groups: stack
            .vpc
            .security_groups
            .iter()
            .map(|g| SecurityGroupSpec {
                name: g.group_name.clone(),
                ingress: g
                    .ingress
                    .iter()
                    .map(|r| {
                        rule(
                            r.ip_protocol,
                            r.ports(),
                            r.cidr_ip,
                            r.source_security_group.as_ref(),
                        )
                    })
                    .collect(),
                egress: match &g.egress {
                    None => vec![Rule::allow_all()],
                    Some(rules) => rules
                        .iter()
                        .map(|r| {
                            rule(
                                r.ip_protocol,
                                r.ports(),
                                r.cidr_ip,
                                r.destination_security_group.as_ref(),
                            )
                        })
                        .collect(),
                },
            })
            .collect(),
    }
}

fn service_config(
    stack: &cfg::Stack,
    svc: &cfg::Service,
    state_dir: &std::path::Path,
) -> Result<airlock_fargate::ServiceConfig, StackError> {
    let resource = format!("services[{}]", svc.service_name);
    let td = stack
        .task_definition(&svc.task_definition)
        .ok_or_else(|| resource_err(&resource, "task definition not declared"))?;
    Ok(airlock_fargate::ServiceConfig {
        name: svc.service_name.clone(),
        cluster: svc.cluster.clone(),
        region: stack.region.as_str().to_owned(),
        account_id: stack.account_id.as_str().to_owned(),
        desired_count: svc.desired_count,
        subnets: svc.network_configuration.subnets.clone(),
        security_groups: svc.network_configuration.security_groups.clone(),
        task_definition: task_definition_config(stack, td, 1),
        load_balancer: svc
            .load_balancers
            .first()
            .map(|lb| airlock_fargate::LbAttachment {
                container_name: lb.container_name.clone(),
                container_port: lb.container_port,
            }),
        // The target group's `deregistration_delay.timeout_seconds` (alb-ecs-dns.md §4.3).
        deregistration_delay: svc
            .load_balancers
            .first()
            .and_then(|lb| stack.target_group(&lb.target_group))
            .map_or(Duration::ZERO, |tg| {
                Duration::from_secs(u64::from(tg.deregistration_delay_timeout_seconds))
            }),
        maximum_percent: svc.deployment_configuration.maximum_percent,
        minimum_healthy_percent: svc.deployment_configuration.minimum_healthy_percent,
        health_check_grace_period: Duration::from_secs(u64::from(
            svc.health_check_grace_period_seconds,
        )),
        log_dir: Some(state_dir.join("logs").join("ecs").join(&svc.cluster)),
        // The one place airlock reads DOCKER_HOST: components read no environment.
        docker: airlock_fargate::DockerEndpoint::from_docker_host(
            std::env::var("DOCKER_HOST").ok().as_deref(),
        )
        .map_err(|e| resource_err(&resource, e))?,
    })
}

/// A task definition revision as the task runner takes it; the stack's `image_map` applies.
pub(crate) fn task_definition_config(
    stack: &cfg::Stack,
    td: &cfg::TaskDefinition,
    revision: u32,
) -> airlock_fargate::TaskDefinition {
    let containers = td
        .container_definitions
        .iter()
        .map(|c| {
            let port = c.port_mappings.first().map_or(0, |p| p.container_port);
            // The stack's image_map applies here: an ECR image may run as a built-in or a command.
            let mut spec = match stack.runner(c) {
                cfg::Runner::Builtin(app) => airlock_fargate::ContainerSpec::builtin(
                    c.name.clone(),
                    match app {
                        cfg::BuiltinApp::Pets => airlock_fargate::BuiltinApp::Pets,
                        cfg::BuiltinApp::Echo => airlock_fargate::BuiltinApp::Echo,
                    },
                    port,
                ),
                cfg::Runner::Command {
                    argv,
                    working_directory,
                    port_env_var,
                } => {
                    let mut spec = airlock_fargate::ContainerSpec::command(
                        c.name.clone(),
                        argv.to_vec(),
                        port,
                    );
                    spec.run = airlock_fargate::Run::Command {
                        argv: argv.to_vec(),
                        working_directory: working_directory.map(Into::into),
                        port_env_var: port_env_var.to_owned(),
                    };
                    spec
                }
                cfg::Runner::Image {
                    image,
                    entry_point,
                    command,
                    working_directory,
                } => {
                    let mut spec =
                        airlock_fargate::ContainerSpec::image(c.name.clone(), image, port);
                    spec.run = airlock_fargate::Run::Image {
                        image: image.to_owned(),
                        entry_point: entry_point.map(<[String]>::to_vec),
                        command: command.map(<[String]>::to_vec),
                        working_directory: working_directory.map(str::to_owned),
                    };
                    spec
                }
            };
            if let Some(t) = c.stop_timeout {
                spec.stop_timeout = Duration::from_secs(u64::from(t));
            }
            if let Some(t) = c.start_timeout {
                spec.start_timeout = Duration::from_secs(u64::from(t));
            }
            spec.health_check = c
                .health_check
                .as_ref()
                .map(|h| airlock_fargate::HealthCheck {
                    command: match h.command.first().map(String::as_str) {
                        Some("CMD-SHELL") => {
                            airlock_fargate::HealthCommand::Shell(h.command[1..].join(" "))
                        }
                        _ => airlock_fargate::HealthCommand::Exec(h.command[1..].to_vec()),
                    },
                    interval: Duration::from_secs(u64::from(h.interval)),
                    timeout: Duration::from_secs(u64::from(h.timeout)),
                    retries: h.retries,
                    start_period: Duration::from_secs(u64::from(h.start_period.unwrap_or(0))),
                });
            spec.depends_on = c
                .depends_on
                .iter()
                .map(|d| airlock_fargate::Dependency {
                    container: d.container_name.clone(),
                    condition: match d.condition {
                        cfg::DependencyCondition::Start => airlock_fargate::Condition::Start,
                        cfg::DependencyCondition::Complete => airlock_fargate::Condition::Complete,
                        cfg::DependencyCondition::Success => airlock_fargate::Condition::Success,
                        cfg::DependencyCondition::Healthy => airlock_fargate::Condition::Healthy,
                    },
                })
                .collect();
            spec.awslogs = c
                .log_configuration
                .as_ref()
                .filter(|l| l.log_driver == "awslogs")
                .and_then(|l| {
                    Some(airlock_fargate::AwsLogs {
                        group: l.options.get("awslogs-group")?.clone(),
                        stream_prefix: l.options.get("awslogs-stream-prefix").cloned(),
                    })
                });
            spec.essential = c.essential;
            spec.port_mappings = c.port_mappings.iter().map(|p| p.container_port).collect();
            spec.environment = c
                .environment
                .iter()
                .map(|kv| (kv.name.clone(), kv.value.clone()))
                .collect();
            spec
        })
        .collect();
    airlock_fargate::TaskDefinition {
        family: td.family.clone(),
        revision,
        cpu: td.cpu.0,
        memory: td.memory.0,
        containers,
    }
}

/// A target group's ALB settings, one to one from the stack file (alb-ecs-dns.md §3).
fn target_group_config(
    tg: &cfg::TargetGroup,
    account: &str,
    region: &str,
) -> airlock_alb::TargetGroupConfig {
    let hc = tg.effective_health_check();
    let secs = |s: u32| Duration::from_secs(u64::from(s));
    let mut config = airlock_alb::TargetGroupConfig::new(tg.name.clone());
    config.health_check = Some(airlock_alb::HealthCheck {
        protocol: match hc.protocol {
            cfg::Protocol::Http => airlock_alb::Protocol::Http,
            cfg::Protocol::Https => airlock_alb::Protocol::Https,
        },
        path: hc.path.clone(),
        port: match hc.port {
            cfg::HealthCheckPort::TrafficPort => None,
            cfg::HealthCheckPort::Port(p) => Some(p),
        },
        interval: secs(hc.interval_seconds),
        timeout: secs(hc.timeout_seconds),
        healthy_threshold: hc.healthy_threshold_count,
        unhealthy_threshold: hc.unhealthy_threshold_count,
        initial_healthy_threshold: 1,
        // The config crate checked the same grammar; the default only guards the invariant.
        matcher: airlock_alb::Matcher::parse(hc.matcher.http_code.as_str()).unwrap_or_default(),
    });
    config.deregistration_delay = secs(tg.deregistration_delay_timeout_seconds);
    config.algorithm = match tg.load_balancing_algorithm_type {
        cfg::LoadBalancingAlgorithm::RoundRobin => airlock_alb::Algorithm::RoundRobin,
        cfg::LoadBalancingAlgorithm::LeastOutstandingRequests => {
            airlock_alb::Algorithm::LeastOutstandingRequests
        }
        cfg::LoadBalancingAlgorithm::WeightedRandom => airlock_alb::Algorithm::WeightedRandom,
    };
    config.slow_start = secs(tg.slow_start_duration_seconds);
    config.stickiness = tg.stickiness.as_ref().map(|s| match s.kind {
        cfg::StickinessType::LbCookie => airlock_alb::Stickiness::LbCookie {
            duration: secs(s.duration_seconds),
        },
        cfg::StickinessType::AppCookie => airlock_alb::Stickiness::AppCookie {
            cookie_name: s.cookie_name.clone().unwrap_or_default(),
            duration: secs(s.duration_seconds),
        },
    });
    config.arn = Some(format!(
        "arn:aws:elasticloadbalancing:{region}:{account}:targetgroup/{}/{}",
        tg.name,
        ids::load_balancer_id(account, &format!("targetgroup/{}", tg.name))
    ));
    config
}

/// Load balancer attributes (alb-ecs-dns.md §1.2); the config crate checked the values.
fn alb_attributes(
    a: &cfg::LoadBalancerAttributes,
    access_log: std::path::PathBuf,
) -> airlock_alb::AlbAttributes {
    airlock_alb::AlbAttributes {
        idle_timeout: Duration::from_secs(u64::from(a.idle_timeout_timeout_seconds)),
        xff_mode: match a.routing_http_xff_header_processing_mode.as_str() {
            "preserve" => airlock_alb::XffMode::Preserve,
            "remove" => airlock_alb::XffMode::Remove,
            _ => airlock_alb::XffMode::Append,
        },
        xff_client_port: a.routing_http_xff_client_port_enabled,
        preserve_host_header: a.routing_http_preserve_host_header_enabled,
        desync_mitigation_mode: match a.routing_http_desync_mitigation_mode.as_str() {
            "monitor" => airlock_alb::DesyncMode::Monitor,
            "strictest" => airlock_alb::DesyncMode::Strictest,
            _ => airlock_alb::DesyncMode::Defensive,
        },
        access_log: Some(access_log),
        ..airlock_alb::AlbAttributes::default()
    }
}

fn alb_action(
    action: &cfg::Action,
    target_groups: &HashMap<String, airlock_alb::TargetGroup>,
    resource: &str,
) -> Result<airlock_alb::Action, StackError> {
    Ok(match action {
        cfg::Action::Forward { target_group } => airlock_alb::Action::Forward(
            target_groups
                .get(target_group)
                .cloned()
                .ok_or_else(|| resource_err(resource, format!("no target group {target_group}")))?,
        ),
        cfg::Action::WeightedForward(f) => {
            airlock_alb::Action::WeightedForward(airlock_alb::WeightedForward {
                groups: f
                    .target_groups
                    .iter()
                    .map(|t| {
                        target_groups
                            .get(&t.target_group)
                            .cloned()
                            .map(|g| (g, t.weight))
                            .ok_or_else(|| {
                                resource_err(
                                    resource,
                                    format!("no target group {}", t.target_group),
                                )
                            })
                    })
                    .collect::<Result<_, _>>()?,
                stickiness: f
                    .target_group_stickiness_config
                    .filter(|s| s.enabled)
                    .and_then(|s| s.duration_seconds)
                    .map(|d| Duration::from_secs(u64::from(d))),
            })
        }
        cfg::Action::FixedResponse(f) => airlock_alb::Action::FixedResponse {
            status: http::StatusCode::from_u16(f.status_code)
                .map_err(|e| resource_err(resource, e))?,
            content_type: f.content_type.clone(),
            body: f.message_body.clone().unwrap_or_default(),
        },
        cfg::Action::Redirect(r) => airlock_alb::Action::Redirect(airlock_alb::Redirect {
            protocol: r.protocol.clone(),
            host: r.host.clone(),
            port: r.port.clone(),
            path: r.path.clone(),
            query: r.query.clone(),
            permanent: r.status_code == cfg::RedirectStatus::Http301,
        }),
    })
}

fn listener_config(
    l: &cfg::Listener,
    certs: &mut Certificates<'_>,
    target_groups: &HashMap<String, airlock_alb::TargetGroup>,
    resource: &str,
) -> Result<airlock_alb::ListenerConfig, StackError> {
    let certificates = l
        .certificates
        .iter()
        .map(|name| {
            certs
                .get(name)
                .map(|leaf| airlock_alb::ListenerCertificate {
                    chain: leaf.cert_chain.clone(),
                    key: leaf.key.clone_key(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let default_action = l.default_actions.first().ok_or_else(|| {
        resource_err(
            resource,
            format!("listener {} has no default action", l.port),
        )
    })?;
    let rules = l
        .rules
        .iter()
        .map(|r| {
            let conditions = r
                .conditions
                .iter()
                .map(|c| alb_condition(c).map_err(|e| resource_err(resource, e)))
                .collect::<Result<Vec<_>, _>>()?;
            let action = r.actions.first().ok_or_else(|| {
                resource_err(resource, format!("rule {} has no action", r.priority))
            })?;
            airlock_alb::Rule::new(
                r.priority,
                conditions,
                alb_action(action, target_groups, resource)?,
            )
            .map_err(|e| resource_err(resource, e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(airlock_alb::ListenerConfig {
        protocol: match l.protocol {
            cfg::Protocol::Http => airlock_alb::Protocol::Http,
            cfg::Protocol::Https => airlock_alb::Protocol::Https,
        },
        port: l.port,
        certificates,
        rules,
        default_action: alb_action(default_action, target_groups, resource)?,
    })
}

fn alb_condition(c: &cfg::RuleCondition) -> Result<airlock_alb::Condition, airlock_alb::RuleError> {
    use airlock_alb::Condition;
    match c.field {
        cfg::ConditionField::HostHeader => Condition::host_header(&c.values),
        cfg::ConditionField::PathPattern => Condition::path_pattern(&c.values),
        cfg::ConditionField::HttpHeader => {
            Condition::http_header(c.http_header_name.as_deref().unwrap_or_default(), &c.values)
        }
        cfg::ConditionField::HttpRequestMethod => Condition::http_request_method(&c.values),
        cfg::ConditionField::QueryString => {
            Condition::query_string(c.values.iter().map(|v| match v.split_once('=') {
                Some((k, v)) => (Some(k), v),
                None => (None, v.as_str()),
            }))
        }
        cfg::ConditionField::SourceIp => Condition::source_ip(&c.values),
    }
}

/// Adapts the VPC link client to the gateway's tunnel interface.
struct LinkTunnel(airlock_vpclink::LinkClient);

impl airlock_gateway::Tunnel for LinkTunnel {
    fn open(
        &self,
        dest: SocketAddr,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = std::io::Result<airlock_gateway::BoxIo>> + Send>,
    > {
        let client = self.0.clone();
        Box::pin(async move {
            match client.open(dest).await {
                Ok(stream) => Ok(Box::new(stream) as airlock_gateway::BoxIo),
                Err(e) => Err(std::io::Error::other(e)),
            }
        })
    }
}

// The gateway is wired from everything started before it; a struct would only rename the list.
#[allow(clippy::too_many_arguments)]
fn gateway_config(
    stack: &cfg::Stack,
    issuer: &airlock_pki::Issuer,
    ca: &airlock_pki::Ca,
    certs: &mut Certificates<'_>,
    links: &HashMap<String, airlock_vpclink::LinkClient>,
    alb_nodes: &HashMap<String, Vec<Interface>>,
    alb_dns: &BTreeMap<String, String>,
    state_dir: &std::path::Path,
) -> Result<airlock_gateway::GatewayConfig, StackError> {
    use airlock_gateway as gw;
    let region = stack.region.as_str();
    let account = stack.account_id.as_str();
    let mut apis = Vec::new();
    for api in &stack.http_apis {
        let resource = format!("http_apis[{}]", api.name);
        let authorizers = crate::auth::ApiAuthorizers::new(stack, api, issuer, ca.cert_der())?;
        let mut integrations = HashMap::new();
        for i in &api.integrations {
            let resource = format!("{resource}.integrations[{}]", i.name);
            let method = match i.integration_method {
                cfg::HttpMethod::Any => None,
                m => Some(
                    http::Method::from_bytes(m.as_str().as_bytes())
                        .map_err(|e| resource_err(&resource, e))?,
                ),
            };
            let request_parameters = i
                .request_parameters
                .iter()
                .map(|(k, v)| gw::mapping::RequestParameter::parse(k, v))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| resource_err(format!("{resource}.request_parameters"), e))?;
            let response_parameters = i
                .response_parameters
                .iter()
                .map(|(status, entries)| {
                    gw::mapping::ResponseMapping::parse(
                        status,
                        entries.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                    )
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| resource_err(format!("{resource}.response_parameters"), e))?;
            let listener = match &i.integration_uri {
                cfg::IntegrationUri::Listener(l) => l,
                cfg::IntegrationUri::Url(url) => {
                    // airlock never reaches the internet: a URL integration must name a
                    // loopback host (a stage variable host is checked per request).
                    let host = url
                        .split_once("://")
                        .map(|(_, r)| r.split(['/', '?']).next().unwrap_or(""))
                        .unwrap_or("");
                    let host = host.rsplit_once(':').map_or(host, |(h, p)| {
                        if p.bytes().all(|b| b.is_ascii_digit()) {
                            h
                        } else {
                            host
                        }
                    });
                    let bare = host.trim_start_matches('[').trim_end_matches(']');
                    let loopback = bare.eq_ignore_ascii_case("localhost")
                        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
                        || bare.contains("${stageVariables.");
                    if !loopback {
                        return Err(resource_err(
                            &resource,
                            format!(
                                "integration_uri {url:?} names host {host:?}; airlock dials only loopback hosts (hint: run the backend locally and use http://127.0.0.1:<port>/...)"
                            ),
                        ));
                    }
                    integrations.insert(
                        i.name.clone(),
                        Arc::new(gw::Integration {
                            name: i.name.clone(),
                            method,
                            timeout: Duration::from_millis(u64::from(i.timeout_in_millis)),
                            target: gw::IntegrationTarget::Http(gw::HttpTarget {
                                uri: url.clone(),
                                tls_roots: vec![ca.cert_der().clone()],
                            }),
                            request_parameters,
                            response_parameters,
                        }),
                    );
                    continue;
                }
            };
            let link_name = i.connection_id.as_deref().unwrap_or_default();
            let link = links
                .get(link_name)
                .ok_or_else(|| resource_err(&resource, format!("no VPC link {link_name}")))?;
            let nodes = alb_nodes.get(&listener.load_balancer).ok_or_else(|| {
                resource_err(
                    &resource,
                    format!("no load balancer {}", listener.load_balancer),
                )
            })?;
            integrations.insert(
                i.name.clone(),
                Arc::new(gw::Integration {
                    name: i.name.clone(),
                    method,
                    request_parameters,
                    response_parameters,
                    timeout: Duration::from_millis(u64::from(i.timeout_in_millis)),
                    target: gw::IntegrationTarget::Private(gw::PrivateTarget {
                        tunnel: Arc::new(LinkTunnel(link.clone())),
                        destinations: nodes
                            .iter()
                            .map(|n| SocketAddr::from((n.ip(), listener.port)))
                            .collect(),
                        tls_server_name: i
                            .tls_config
                            .as_ref()
                            .map(|t| t.server_name_to_verify.clone()),
                        tls_roots: vec![ca.cert_der().clone()],
                        host_header: alb_dns
                            .get(&listener.load_balancer)
                            .cloned()
                            .unwrap_or_default(),
                    }),
                }),
            );
        }
        let routes = api
            .routes
            .iter()
            .map(|r| {
                let authorization = authorizers.for_route(r, &resource)?;
                Ok(gw::RouteConfig {
                    key: route_key(&r.route_key),
                    authorization,
                    integration: integrations
                        .get(&r.target)
                        .cloned()
                        .ok_or_else(|| resource_err(&resource, "route target missing"))?,
                })
            })
            .collect::<Result<Vec<_>, StackError>>()?;
        apis.push(gw::ApiConfig {
            id: ids::api_id(account, &api.name),
            name: api.name.clone(),
            disable_execute_api_endpoint: api.disable_execute_api_endpoint,
            stages: api
                .stages
                .iter()
                .map(|s| gateway_stage(s, &resource, state_dir))
                .collect::<Result<Vec<_>, StackError>>()?,
            routes,
            cors: api
                .cors_configuration
                .as_ref()
                .map(|c| gw::cors::CorsConfig {
                    allow_origins: c.allow_origins.clone(),
                    allow_credentials: c.allow_credentials,
                    expose_headers: c.expose_headers.clone(),
                    max_age: c.max_age,
                    allow_methods: c.allow_methods.clone(),
                    allow_headers: c.allow_headers.clone(),
                }),
        });
    }
    let domains = stack
        .domain_names
        .iter()
        .map(|d| {
            let leaf = certs.get(&d.certificate)?;
            Ok(gw::DomainConfig {
                domain_name: d.domain_name.to_ascii_lowercase(),
                certificate: gw::CertifiedKeyPair {
                    cert_chain: leaf.cert_chain.clone(),
                    key: leaf.key.clone_key(),
                },
                mappings: d
                    .api_mappings
                    .iter()
                    .map(|m| gw::ApiMapping {
                        key: m.api_mapping_key.clone(),
                        api_id: ids::api_id(account, &m.api),
                        stage: m.stage.as_str().to_owned(),
                    })
                    .collect(),
            })
        })
        .collect::<Result<Vec<_>, StackError>>()?;
    let execute_api = ca
        .issue_server(&[format!("*.execute-api.{region}.amazonaws.com")])
        .map_err(|e| resource_err("execute-api certificate", e))?;
    Ok(gw::GatewayConfig {
        region: region.to_owned(),
        account_id: account.to_owned(),
        public_ip: IpAddr::V4(GATEWAY_PUBLIC_IP),
        apis,
        domains,
        execute_api_certificate: gw::CertifiedKeyPair {
            cert_chain: execute_api.cert_chain,
            key: execute_api.key,
        },
    })
}

/// A stage's variables, throttling and access log; the log goes to
/// `<state dir>/logs/<log group name>.log` (http-api.md §9).
fn gateway_stage(
    s: &cfg::Stage,
    resource: &str,
    state_dir: &std::path::Path,
) -> Result<airlock_gateway::StageConfig, StackError> {
    use airlock_gateway as gw;
    let settings = |r: &cfg::RouteSettings| gw::RouteSettings {
        throttling_burst_limit: r.throttling_burst_limit,
        throttling_rate_limit: r.throttling_rate_limit,
    };
    let access_log = match &s.access_log_settings {
        None => None,
        Some(log) => {
            let resource = format!("{resource}.stages[{}].access_log_settings", s.stage_name);
            let group = log
                .log_group()
                .ok_or_else(|| resource_err(&resource, "not a log group ARN"))?;
            let path = state_dir
                .join("logs")
                .join(format!("{}.log", group.trim_start_matches('/')));
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| resource_err(&resource, e))?;
            }
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| resource_err(&resource, format!("{}: {e}", path.display())))?;
            let format = match log.format.as_str() {
                "CLF" => gw::access_log::CLF_FORMAT.to_owned(),
                "JSON" => gw::access_log::JSON_FORMAT.to_owned(),
                f => f.to_owned(),
            };
            Some(gw::access_log::AccessLogConfig {
                log_group: group.to_owned(),
                format,
                sink: Arc::new(gw::access_log::FileSink::new(file)),
            })
        }
    };
    Ok(gw::StageConfig {
        name: s.stage_name.as_str().to_owned(),
        variables: s
            .stage_variables
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        default_route_settings: s
            .default_route_settings
            .as_ref()
            .map(settings)
            .unwrap_or_default(),
        route_settings: s
            .route_settings
            .iter()
            .map(|(k, v)| (k.clone(), settings(v)))
            .collect(),
        access_log,
    })
}

fn route_key(key: &cfg::RouteKey) -> airlock_gateway::RouteKey {
    use airlock_gateway::{RouteKey, Segment};
    match key {
        cfg::RouteKey::Default => RouteKey::Default,
        cfg::RouteKey::Route { method, segments } => RouteKey::Path {
            method: match method {
                cfg::HttpMethod::Any => None,
                m => http::Method::from_bytes(m.as_str().as_bytes()).ok(),
            },
            segments: segments
                .iter()
                .map(|s| match s {
                    cfg::PathSegment::Literal(l) => Segment::Literal(l.clone()),
                    cfg::PathSegment::Variable(v) => Segment::Var(v.clone()),
                    cfg::PathSegment::Greedy(v) => Segment::Greedy(v.clone()),
                })
                .collect(),
        },
    }
}

fn dns_zones(
    stack: &cfg::Stack,
    alb_dns: &BTreeMap<String, String>,
    alb_addrs: &HashMap<String, Vec<Ipv4Addr>>,
    api_endpoints: &BTreeMap<String, String>,
) -> Result<Vec<airlock_dns::Zone>, StackError> {
    use airlock_dns::{DomainName, RecordData, RecordSet, Zone};
    let name = |s: &str| DomainName::parse(s).map_err(|e| resource_err(format!("dns name {s}"), e));
    let alb_ips = |lb: &str| -> Vec<Ipv4Addr> { alb_addrs.get(lb).cloned().unwrap_or_default() };
    let mut zones = Vec::new();
    for z in &stack.hosted_zones {
        let resource = format!("hosted_zones[{}]", z.name);
        let mut records = Vec::new();
        for r in &z.records {
            let data = match (&r.alias_target, r.r#type) {
                (Some(alias), _) => RecordData::A(match &alias.destination {
                    cfg::AliasDestination::CustomDomain(_) => vec![GATEWAY_PUBLIC_IP],
                    cfg::AliasDestination::LoadBalancer(lb) => alb_ips(lb),
                }),
                (None, cfg::RecordType::A) => RecordData::A(
                    r.resource_records
                        .iter()
                        .map(|v| v.parse().map_err(|e| resource_err(&resource, e)))
                        .collect::<Result<_, _>>()?,
                ),
                (None, cfg::RecordType::Aaaa) => RecordData::Aaaa(
                    r.resource_records
                        .iter()
                        .map(|v| v.parse().map_err(|e| resource_err(&resource, e)))
                        .collect::<Result<_, _>>()?,
                ),
                (None, cfg::RecordType::Cname) => {
                    RecordData::Cname(name(r.resource_records.first().map_or("", String::as_str))?)
                }
                (None, cfg::RecordType::Txt) => RecordData::Txt(r.resource_records.clone()),
            };
            // Aliases to AWS resources carry the resource's TTL: 60 s (spec alb-ecs-dns.md §6.3).
            let ttl = if r.alias_target.is_some() {
                60
            } else {
                r.ttl.unwrap_or(300)
            };
            records.push(RecordSet::new(name(&r.name)?, ttl, data));
        }
        zones.push(
            Zone::new(name(&z.name)?, z.private_zone, records)
                .map_err(|e| resource_err(&resource, e))?,
        );
    }
    // AWS-owned public names: load balancers and execute-api endpoints.
    let region = stack.region.as_str();
    let elb_records = alb_dns
        .iter()
        .map(|(lb, dns)| Ok(RecordSet::new(name(dns)?, 60, RecordData::A(alb_ips(lb)))))
        .collect::<Result<Vec<_>, StackError>>()?;
    zones.push(
        Zone::new(
            name(&format!("{region}.elb.amazonaws.com"))?,
            false,
            elb_records,
        )
        .map_err(|e| resource_err("elb zone", e))?,
    );
    let api_records = api_endpoints
        .values()
        .map(|host| {
            Ok(RecordSet::new(
                name(host)?,
                60,
                RecordData::A(vec![GATEWAY_PUBLIC_IP]),
            ))
        })
        .collect::<Result<Vec<_>, StackError>>()?;
    zones.push(
        Zone::new(
            name(&format!("execute-api.{region}.amazonaws.com"))?,
            false,
            api_records,
        )
        .map_err(|e| resource_err("execute-api zone", e))?,
    );
    Ok(zones)
}

/// The text `airlock up` prints once serving.
pub(crate) fn banner(
    endpoints: &Endpoints,
    summary: &Summary,
    tasks: &BTreeMap<String, Vec<Ipv4Addr>>,
    token: &str,
) -> String {
    let port = endpoints.gateway.port();
    let ca = endpoints.ca_cert.display();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\nairlock is serving ({}, account {})\n",
        summary.source_region, summary.account
    );
    for d in &endpoints.custom_domains {
        let _ = writeln!(s, "  API Gateway   https://{d}:{port}/   (custom domain)");
    }
    for (api, host) in &endpoints.api_endpoints {
        let _ = writeln!(s, "                https://{host}:{port}/   ({api})");
    }
    let _ = writeln!(s, "                all on host port {}", endpoints.gateway);
    for (name, addr) in &summary.links {
        let _ = writeln!(
            s,
            "  VPC link      {name}: mutual-TLS endpoint {addr}, admits only the gateway"
        );
    }
    for (name, dns, ips) in &summary.albs {
        let ips: Vec<String> = ips.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            s,
            "  Load balancer {name}: {dns} -> {} (private: reachable only inside the VPC)",
            ips.join(", ")
        );
    }
    for (svc, ips) in tasks {
        let ips: Vec<String> = ips.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            s,
            "  ECS service   {svc}: {} tasks at {}",
            ips.len(),
            ips.join(", ")
        );
    }
    let _ = writeln!(
        s,
        "  DNS           {} (udp+tcp, public view): dig @{} -p {} <name>",
        endpoints.dns,
        endpoints.dns.ip(),
        endpoints.dns.port()
    );
    let _ = writeln!(
        s,
        "  Vantage       internet: socks5/http-connect {}{}",
        endpoints.socks_internet,
        endpoints
            .socks_vpc
            .map_or(String::new(), |a| format!("   vpc: {a}"))
    );
    let _ = writeln!(s, "  Admin         http://{}/status", endpoints.admin);
    let _ = writeln!(s, "  CA            {ca}");
    if let Some(domain) = endpoints.custom_domains.first() {
        let resolve = format!("--resolve {domain}:{port}:127.0.0.1");
        let _ = writeln!(s, "\nTry it (no token needed for /health):");
        let _ = writeln!(
            s,
            "  curl --cacert {ca} {resolve} https://{domain}:{port}/health"
        );
        let _ = writeln!(
            s,
            "\nWith a token from the local issuer (valid one hour; `airlock token` mints more):"
        );
        let _ = writeln!(
            s,
            "  curl --cacert {ca} {resolve} -H 'Authorization: Bearer {token}' https://{domain}:{port}/whoami"
        );
        let _ = writeln!(
            s,
            "\nWithout it, the same call gets API Gateway's 401 {{\"message\":\"Unauthorized\"}}."
        );
        if let Some((_, alb, _)) = summary.albs.first() {
            let _ = writeln!(
                s,
                "\nThe load balancer is private: from the internet its name resolves but the call times out:\n  \
                 curl --socks5-hostname {} --cacert {ca} -m 2 https://{alb}/\n\
                 while the gateway answers on 443 as the AWS URL would:\n  \
                 curl --socks5-hostname {} --cacert {ca} https://{domain}/health",
                endpoints.socks_internet, endpoints.socks_internet
            );
        }
    }
    let _ = writeln!(s, "\nPress Ctrl-C to stop.");
    s
}
