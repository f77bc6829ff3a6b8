//! From a validated stack file to running components.

use crate::{Endpoints, Options, RunningStack, StackError};
use airlock_config as cfg;
use airlock_config::ids;
use airlock_net::{Interface, Network, Registration};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod alb;
mod dns;
mod docker_vpc;
mod gateway;
mod network;
mod services;

use alb::{alb_attributes, listener_config, target_group_config};
use dns::dns_zones;
use gateway::gateway_config;
pub(crate) use network::group_spec;
use network::vpc_spec;
pub(crate) use services::task_definition_config;
use services::{lb_health_view, merge_targets, service_config};

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
    /// The stack file with the admin endpoint's changes so far: the next change is checked
    /// against it, and task definitions sent there use its `image_map`.
    pub stack: std::sync::Mutex<cfg::Stack>,
    /// Where image tasks run; its network is removed at stop if airlock created it.
    pub docker_vpc: Option<airlock_fargate::DockerVpc>,
    /// The recent requests' traces.
    pub traces: Arc<crate::traces::Ring>,
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

pub(crate) async fn bind(
    what: &'static str,
    flag: &'static str,
    ip: Ipv4Addr,
    port: u16,
) -> Result<TcpListener, StackError> {
    TcpListener::bind((ip, port))
        .await
        .map_err(|source| StackError::Bind {
            what,
            flag,
            ip,
            port,
            source,
        })
}

/// The address a host listener is reached at from this host: a listener on every address
/// (inside a container) is named by its loopback address, which the engine's published port
/// mirrors on the host.
pub(crate) fn shown(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port()))
    } else {
        addr
    }
}

/// Gives what airlock created in the state directory to the directory's owner, when they
/// differ: airlock running as root in a container, on a directory the user bind-mounted
/// (docs/compose.md), leaves the user files they can read, rotate and delete. Anywhere else
/// the owners match and nothing changes; a failure only costs the user a `chown`.
fn give_to_owner(dir: &std::path::Path) {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(meta) = std::fs::metadata(dir) else {
        return;
    };
    let (uid, gid) = (meta.uid(), meta.gid());
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(m) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if (m.uid() != uid || m.gid() != gid)
                && let Err(e) = std::os::unix::fs::lchown(&path, Some(uid), Some(gid))
            {
                tracing::debug!(error = %e, path = %path.display(), "giving a state file to the directory's owner");
            }
            if m.is_dir() {
                pending.push(path);
            }
        }
    }
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

/// What every start-up step shares: the stack file, the options, the network, the stack's
/// lifetime (one token and one tracker) and the registrations that live as long as it does.
struct Ctx<'a> {
    stack: &'a cfg::Stack,
    options: &'a Options,
    region: String,
    account: String,
    network: Network,
    /// Stops the listeners, the VPC links, DNS and the vantage points.
    shutdown: CancellationToken,
    /// Stops the tasks: separate from `shutdown` so that a stop lets the requests in flight
    /// reach their tasks and come back before the tasks go (see `RunningStack::stop`).
    tasks_shutdown: CancellationToken,
    tracker: TaskTracker,
    registrations: Vec<Registration>,
    /// Where every component's trace segments go (the ring is `traces`), or off.
    tracer: airlock_net::trace::Tracer,
}

/// The load balancers as the later steps see them, by load balancer name.
struct LoadBalancers {
    /// Node interfaces.
    nodes: HashMap<String, Vec<Interface>>,
    /// DNS names.
    dns: BTreeMap<String, String>,
    /// What each name resolves to: node private IPs for internal ones, public addresses for
    /// internet-facing ones.
    addrs: HashMap<String, Vec<Ipv4Addr>>,
}

/// The VPC links, by link name.
struct VpcLinks {
    /// The gateway's clients.
    clients: HashMap<String, airlock_vpclink::LinkClient>,
    /// Host endpoints.
    endpoints: BTreeMap<String, SocketAddr>,
    /// TLS names of the endpoints' certificates.
    server_names: BTreeMap<String, String>,
    /// Each link's state lever (the admin endpoint's).
    states: Vec<(
        String,
        tokio::sync::watch::Sender<airlock_vpclink::LinkState>,
    )>,
}

/// Where a user can stand.
struct VantagePoints {
    /// The `vpc` vantage point's interface, when the stack declares one.
    iface: Option<Interface>,
    internet: SocketAddr,
    vpc: Option<SocketAddr>,
}

/// Services receiving traffic from a target group, keyed by the group's name.
type TargetsByGroup = HashMap<String, Vec<tokio::sync::watch::Receiver<Vec<SocketAddr>>>>;

/// Starts every resource of `stack` but the admin endpoint, whose address (already bound by the
/// caller, which serves it once the stack runs) `admin` is: one step per resource kind, in the
/// order their dependencies need (tasks before the load balancers that forward to them, links
/// before the gateway that dials through them, DNS once every name is known).
pub(crate) async fn start(
    stack: cfg::Stack,
    options: Options,
    temp_dir: Option<tempfile::TempDir>,
    admin: std::net::SocketAddr,
) -> Result<RunningStack, StackError> {
    let dir = options.state_dir.clone();
    let pki_err = |source| StackError::Pki {
        dir: dir.clone(),
        source,
    };
    let ca = airlock_pki::Ca::load_or_create(&options.state_dir).map_err(pki_err)?;
    let issuer = airlock_pki::Issuer::load_or_create(&options.state_dir, airlock_pki::LOCAL_ISSUER)
        .map_err(pki_err)?;
    let traces = crate::traces::Ring::new(options.trace_capacity);
    let mut ctx = Ctx {
        stack: &stack,
        options: &options,
        region: stack.region.as_str().to_owned(),
        account: stack.account_id.as_str().to_owned(),
        network: Network::new(vpc_spec(&stack)),
        shutdown: CancellationToken::new(),
        tasks_shutdown: CancellationToken::new(),
        tracker: TaskTracker::new(),
        registrations: Vec::new(),
        tracer: if options.trace_capacity == 0 {
            airlock_net::trace::Tracer::default()
        } else {
            airlock_net::trace::Tracer::new(traces.clone())
        },
    };
    let mut certs = Certificates {
        ca: &ca,
        stack: &stack,
        issued: HashMap::new(),
    };
    let (services, mut targets_by_group, docker_vpc) = start_services(&ctx).await?;
    let target_groups = target_groups(&ctx, &services, &mut targets_by_group);
    let lbs = start_load_balancers(&mut ctx, &mut certs, &target_groups)?;
    let links = start_vpc_links(&ctx, &ca).await?;
    let (gateway_addr, api_endpoints) =
        start_gateway(&mut ctx, &issuer, &ca, &mut certs, &links, &lbs).await?;
    let (dns, dns_addr) = start_dns(&mut ctx, &lbs, &api_endpoints).await?;
    if options.docker_vpc {
        docker_vpc::start(&ctx, &lbs, &dns).await?;
    }
    wait_until_ready(&services, &target_groups).await?;
    let summary = summary(&ctx, &links, &lbs);
    let vantage = start_vantage_points(&ctx, &dns).await?;

    let Ctx {
        network,
        shutdown,
        tasks_shutdown,
        tracker,
        registrations,
        ..
    } = ctx;
    let (alb_dns, link_endpoints, link_server_names, link_states) =
        (lbs.dns, links.endpoints, links.server_names, links.states);
    let (socks_internet, socks_vpc, vantage_iface) = (vantage.internet, vantage.vpc, vantage.iface);
    let endpoints = Endpoints {
        gateway: gateway_addr,
        dns: dns_addr,
        admin,
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
        stack: std::sync::Mutex::new(stack.clone()),
        docker_vpc,
        traces,
    });
    give_to_owner(&options.state_dir);
    tracing::info!(gateway = %endpoints.gateway, dns = %endpoints.dns, admin = %endpoints.admin, "stack serving");
    Ok(RunningStack {
        endpoints,
        shutdown,
        tasks_shutdown,
        tracker,
        ca,
        summary,
        state,
        _temp_dir: temp_dir,
    })
}

/// Step: the ECS services, first, as the load balancers forward to the targets they publish.
async fn start_services(
    ctx: &Ctx<'_>,
) -> Result<
    (
        Vec<airlock_fargate::ServiceHandle>,
        TargetsByGroup,
        Option<airlock_fargate::DockerVpc>,
    ),
    StackError,
> {
    let (stack, options) = (ctx.stack, ctx.options);
    let (network, shutdown) = (&ctx.network, &ctx.tasks_shutdown);
    let mut services = Vec::new();
    let mut targets_by_group = TargetsByGroup::new();
    let mut configs = stack
        .services
        .iter()
        .map(|svc| {
            service_config(stack, svc, &options.state_dir).map(|mut c| {
                c.pull_images = options.pull_images;
                c
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Image tasks hold their private addresses on the VPC's Docker network (docs/compose.md).
    // A stack without images talks to the engine only when it stands on that network itself
    // (`--docker-vpc`), where a task definition sent later may bring images.
    let images = configs.iter().find(|c| {
        c.task_definition
            .containers
            .iter()
            .any(|c| matches!(c.run, airlock_fargate::Run::Image { .. }))
    });
    let image_names: Vec<&str> = configs
        .iter()
        .flat_map(|c| &c.task_definition.containers)
        .filter_map(|c| match &c.run {
            airlock_fargate::Run::Image { image, .. } => Some(image.as_str()),
            _ => None,
        })
        .collect();
    let docker_vpc = match images.or(configs.first().filter(|_| options.docker_vpc)) {
        Some(config) => Some(
            airlock_fargate::DockerVpc::prepare(
                config.docker.clone(),
                &network.cidr().to_string(),
                &docker_network_name(&options.state_dir),
                &image_names,
            )
            .await,
        ),
        None => None,
    };
    if let Some(vpc) = &docker_vpc {
        for config in &mut configs {
            config.docker_network = vpc.network().map(str::to_owned);
            config.docker_labels = vpc.labels();
        }
    }
    for (svc, config) in stack.services.iter().zip(configs) {
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
    Ok((services, targets_by_group, docker_vpc))
}

/// The Docker network airlock creates for the VPC when the engine has none on its CIDR: one
/// per state directory, so two stacks on one machine never share (or remove) each other's.
fn docker_network_name(state_dir: &std::path::Path) -> String {
    let path = std::fs::canonicalize(state_dir).unwrap_or_else(|_| state_dir.to_path_buf());
    // FNV-1a: stable across runs and builds, which std's hasher is not promised to be.
    let hash = path
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
        });
    format!("airlock-vpc-{:08x}", hash >> 32)
}

/// Step: the target groups, fed by the services registered with them; each service follows
/// its first group's view of its targets' health.
fn target_groups(
    ctx: &Ctx<'_>,
    services: &[airlock_fargate::ServiceHandle],
    targets_by_group: &mut TargetsByGroup,
) -> HashMap<String, airlock_alb::TargetGroup> {
    let stack = ctx.stack;
    let (shutdown, tracker) = (&ctx.shutdown, &ctx.tracker);
    let (region, account) = (ctx.region.as_str(), ctx.account.as_str());
    let target_groups: HashMap<String, airlock_alb::TargetGroup> = stack
        .target_groups
        .iter()
        .map(|tg| {
            let rx = merge_targets(
                targets_by_group.remove(&tg.name).unwrap_or_default(),
                shutdown,
            );
            (
                tg.name.clone(),
                airlock_alb::TargetGroup::with_config(target_group_config(tg, account, region), rx),
            )
        })
        .collect();
    // ECS counts a task healthy for deployments and replacements by its target's health in the
    // load balancer (docs/aws-rules.md §ALB-4.2, §ALB-4.5): each service follows its first target group.
    for (svc, handle) in stack.services.iter().zip(services) {
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
        handle.follow_target_health(arn, lb_health_view(group, shutdown, tracker));
    }

    target_groups
}

/// Step: the load balancers: one node interface per subnet, each listener served on every node.
fn start_load_balancers(
    ctx: &mut Ctx<'_>,
    certs: &mut Certificates<'_>,
    target_groups: &HashMap<String, airlock_alb::TargetGroup>,
) -> Result<LoadBalancers, StackError> {
    let (stack, options) = (ctx.stack, ctx.options);
    let (network, shutdown, tracker) = (
        ctx.network.clone(),
        ctx.shutdown.clone(),
        ctx.tracker.clone(),
    );
    let (region, account) = (ctx.region.clone(), ctx.account.clone());
    let mut alb_nodes: HashMap<String, Vec<Interface>> = HashMap::new();
    let mut alb_dns: BTreeMap<String, String> = BTreeMap::new();
    // What each load balancer's name resolves to: node private IPs for internal ones, public
    // addresses for internet-facing ones (docs/aws-rules.md §ALB-1.1).
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
            listeners.push(listener_config(l, certs, target_groups, &resource)?);
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
                options.access_log_rotation,
                ctx.tracer.clone(),
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
                ctx.registrations.push(
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

    Ok(LoadBalancers {
        nodes: alb_nodes,
        dns: alb_dns,
        addrs: alb_addrs,
    })
}

/// Step: the VPC links: interfaces in their subnets, a mutual-TLS endpoint on the host, and the
/// gateway's client identity.
async fn start_vpc_links(ctx: &Ctx<'_>, ca: &airlock_pki::Ca) -> Result<VpcLinks, StackError> {
    let (stack, options) = (ctx.stack, ctx.options);
    let (network, shutdown, tracker) = (&ctx.network, &ctx.shutdown, &ctx.tracker);
    let (region, account) = (ctx.region.as_str(), ctx.account.as_str());
    let mut link_clients: HashMap<String, airlock_vpclink::LinkClient> = HashMap::new();
    let mut link_endpoints = BTreeMap::new();
    let mut link_server_names = BTreeMap::new();
    let mut link_states = Vec::new();
    for (i, link) in stack.vpc_links.iter().enumerate() {
        let resource = format!("vpc_links[{}]", link.name);
        // A link whose interfaces cannot be created is FAILED (docs/aws-rules.md §HTTP-7), not a
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
        let listener = bind(
            "VPC link endpoint",
            "vpc-link-port",
            options.listen_ip,
            port,
        )
        .await?;
        let addr = shown(
            listener
                .local_addr()
                .map_err(|e| resource_err(&resource, e))?,
        );
        let server_name = format!(
            "{}.vpclink.{region}.airlock.local",
            ids::vpc_link_id(account, &link.name)
        );
        let identity = airlock_pki::apigateway_identity(account, &link.name);
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
            tracer: ctx.tracer.clone(),
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
            // The interfaces exist and the endpoint serves: the link is usable (docs/aws-rules.md §HTTP-7).
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

    Ok(VpcLinks {
        clients: link_clients,
        endpoints: link_endpoints,
        server_names: link_server_names,
        states: link_states,
    })
}

/// Step: the API Gateway, on its host port and at its public address.
async fn start_gateway(
    ctx: &mut Ctx<'_>,
    issuer: &airlock_pki::Issuer,
    ca: &airlock_pki::Ca,
    certs: &mut Certificates<'_>,
    links: &VpcLinks,
    lbs: &LoadBalancers,
) -> Result<(SocketAddr, BTreeMap<String, String>), StackError> {
    let (stack, options) = (ctx.stack, ctx.options);
    let (network, shutdown, tracker) = (
        ctx.network.clone(),
        ctx.shutdown.clone(),
        ctx.tracker.clone(),
    );
    let (region, account) = (ctx.region.clone(), ctx.account.clone());
    let gateway_config = gateway_config(
        stack,
        issuer,
        ca,
        certs,
        &links.clients,
        &lbs.nodes,
        &lbs.dns,
        options,
        (&ctx.shutdown, &ctx.tracker),
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
    let gateway = gateway.with_tracer(ctx.tracer.clone());
    let gateway_listener = bind(
        "API Gateway",
        "gateway-port",
        options.listen_ip,
        options.ports.gateway,
    )
    .await?;
    let gateway_addr = shown(
        gateway_listener
            .local_addr()
            .map_err(|e| resource_err("gateway", e))?,
    );
    tracker.spawn(Arc::new(gateway).serve(gateway_listener, shutdown.clone(), tracker.clone()));
    // The regional endpoint's public address, for callers standing on the internet.
    ctx.registrations.push(
        network
            .register_public(
                std::net::SocketAddrV4::new(GATEWAY_PUBLIC_IP, 443),
                gateway_addr,
            )
            .map_err(|e| resource_err("gateway", e))?,
    );

    Ok((gateway_addr, api_endpoints))
}

/// Step: DNS: the public view on the host, and the VPC resolver (base + 2) with the VPC view,
/// over TCP, for everything inside the VPC.
async fn start_dns(
    ctx: &mut Ctx<'_>,
    lbs: &LoadBalancers,
    api_endpoints: &BTreeMap<String, String>,
) -> Result<(airlock_dns::DnsHandle, SocketAddr), StackError> {
    let (stack, options) = (ctx.stack, ctx.options);
    let (network, shutdown, tracker) = (
        ctx.network.clone(),
        ctx.shutdown.clone(),
        ctx.tracker.clone(),
    );
    let zones = dns_zones(stack, &lbs.dns, &lbs.addrs, api_endpoints)?;
    let dns = airlock_dns::DnsHandle::new(zones).map_err(|e| resource_err("hosted_zones", e))?;
    let (udp, tcp) = bind_dns(options.listen_ip, options.ports.dns).await?;
    let dns_addr = shown(udp.local_addr().map_err(|e| resource_err("dns", e))?);
    let handler =
        airlock_dns::DnsRequestHandler::new(dns.clone(), Arc::new(|_| airlock_dns::View::Public));
    let dns_shutdown = shutdown.clone();
    tracker.spawn(async move {
        if let Err(e) = airlock_dns::serve(udp, tcp, handler, dns_shutdown).await {
            tracing::error!(error = %e, "DNS server stopped");
        }
    });

    // The VPC resolver (base + 2): the VPC view, over TCP, for everything inside the VPC.
    let (resolver_udp, resolver_tcp) = bind_dns(Ipv4Addr::LOCALHOST, 0).await?;
    let resolver_addr = resolver_tcp
        .local_addr()
        .map_err(|e| resource_err("dns", e))?;
    ctx.registrations.push(
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

    Ok((dns, dns_addr))
}

/// Step: serving starts once every service's tasks are registered, so the first request works.
async fn wait_until_ready(
    services: &[airlock_fargate::ServiceHandle],
    target_groups: &HashMap<String, airlock_alb::TargetGroup>,
) -> Result<(), StackError> {
    for svc in services {
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
    // (docs/aws-rules.md §ALB-3.4). A target still `initial` after the wait is only logged.
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

    Ok(())
}

/// What the banner and the token helper need to know about the stack.
fn summary(ctx: &Ctx<'_>, links: &VpcLinks, lbs: &LoadBalancers) -> Summary {
    let stack = ctx.stack;
    let (region, account) = (ctx.region.as_str(), ctx.account.as_str());
    Summary {
        source_region: region.to_owned(),
        account: account.to_owned(),
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
        links: links
            .endpoints
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
        albs: lbs
            .dns
            .iter()
            .map(|(name, dns)| {
                let ips = lbs
                    .nodes
                    .get(name)
                    .map(|n| n.iter().map(Interface::ip).collect())
                    .unwrap_or_default();
                (name.clone(), dns.clone(), ips)
            })
            .collect(),
    }
}

/// Step: the vantage points, where a user stands, each resolving names with its own DNS view.
async fn start_vantage_points(
    ctx: &Ctx<'_>,
    dns: &airlock_dns::DnsHandle,
) -> Result<VantagePoints, StackError> {
    let (stack, options) = (ctx.stack, ctx.options);
    let (network, shutdown, tracker) = (&ctx.network, &ctx.shutdown, &ctx.tracker);
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
    let listen_ip = options.listen_ip;
    let vantage = |what: &'static str, flag: &'static str, port: u16, origin, view| {
        let network = network.clone();
        let (shutdown, tracker) = (shutdown.clone(), tracker.clone());
        let resolver = resolver(view);
        async move {
            let listener = bind(what, flag, listen_ip, port).await?;
            let addr = shown(
                listener
                    .local_addr()
                    .map_err(|e| resource_err("vantage_points", e))?,
            );
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

    Ok(VantagePoints {
        iface: vantage_iface,
        internet: socks_internet,
        vpc: socks_vpc,
    })
}

/// UDP and TCP on the same port. With port 0 the UDP port is chosen first and TCP follows it;
/// another process can hold that TCP port, so a few ports are tried.
async fn bind_dns(
    ip: Ipv4Addr,
    port: u16,
) -> Result<(tokio::net::UdpSocket, TcpListener), StackError> {
    let mut last = None;
    for _ in 0..8 {
        let udp = tokio::net::UdpSocket::bind((ip, port))
            .await
            .map_err(|source| StackError::Bind {
                what: "DNS server (UDP)",
                flag: "dns-port",
                ip,
                port,
                source,
            })?;
        let actual = udp.local_addr().map_err(|e| resource_err("dns", e))?.port();
        match TcpListener::bind((ip, actual)).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if port == 0 => last = Some(e),
            Err(source) => {
                return Err(StackError::Bind {
                    what: "DNS server (TCP)",
                    flag: "dns-port",
                    ip,
                    port,
                    source,
                });
            }
        }
    }
    Err(StackError::Bind {
        what: "DNS server (TCP)",
        flag: "dns-port",
        ip,
        port,
        source: last.unwrap_or_else(|| std::io::Error::other("no free port")),
    })
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
