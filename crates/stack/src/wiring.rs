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
/// How long the VPC link's far side waits for a TCP connection into the VPC. A connection
/// dropped by a security group fails after this, and the gateway answers 500 (spec §4.5).
const LINK_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
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

/// Things that must live as long as the stack.
pub(crate) struct Keep {
    _registrations: Vec<Registration>,
    services: Vec<airlock_fargate::ServiceHandle>,
    _link_states: Vec<tokio::sync::watch::Sender<airlock_vpclink::LinkState>>,
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
        let config = service_config(&stack, svc)?;
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
                airlock_alb::TargetGroup::new(tg.name.clone(), rx),
            )
        })
        .collect();

    // Load balancers: one node interface per subnet, each listener served on every node.
    let mut alb_nodes: HashMap<String, Vec<Interface>> = HashMap::new();
    let mut alb_dns: BTreeMap<String, String> = BTreeMap::new();
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
            attributes: airlock_alb::AlbAttributes::default(),
        }
        .build()
        .map_err(|e| resource_err(&resource, e))?;
        for listener in built {
            let emulated = network
                .listen(&nodes, listener.port())
                .await
                .map_err(|e| resource_err(&resource, e))?;
            let (socket, registration) = emulated.into_parts();
            registrations.push(registration);
            tracker.spawn(airlock_alb::serve_listener(
                socket,
                listener,
                network.clone(),
                nodes.clone(),
                shutdown.clone(),
                tracker.clone(),
            ));
        }
        alb_dns.insert(lb.name.clone(), dns_name);
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
        let interfaces = link
            .subnet_ids
            .iter()
            .map(|subnet| {
                network
                    .create_interface(
                        subnet,
                        &link.security_group_ids,
                        &format!("VPC link {}", link.name),
                    )
                    .map_err(|e| resource_err(&resource, e))
            })
            .collect::<Result<Vec<_>, _>>()?;
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
            connect_timeout: LINK_CONNECT_TIMEOUT,
            handshake_timeout: Duration::from_secs(10),
            state: state_rx,
        })
        .map_err(|e| resource_err(&resource, e))?;
        tracker.spawn(endpoint.serve(listener, shutdown.clone(), tracker.clone()));
        let client = airlock_vpclink::LinkClient::new(airlock_vpclink::ClientConfig {
            endpoint: addr,
            identity: ca
                .issue_client(&identity)
                .map_err(|e| resource_err(&resource, e))?,
            ca: ca.cert_der().clone(),
            server_name: server_name.clone(),
        })
        .map_err(|e| resource_err(&resource, e))?;
        link_server_names.insert(link.name.clone(), server_name);
        // The interfaces exist and the endpoint serves: the link is usable (spec §7).
        let _ = state_tx.send(airlock_vpclink::LinkState::Available);
        link_states.push(state_tx);
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

    // DNS, public view on the host.
    let zones = dns_zones(&stack, &alb_dns, &alb_nodes, &api_endpoints)?;
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

    let summary = Summary {
        source_region: region.clone(),
        account: account.clone(),
        default_audience: stack
            .http_apis
            .iter()
            .flat_map(|a| &a.authorizers)
            .flat_map(|a| a.jwt_configuration.audience.first())
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
    let endpoints = Endpoints {
        gateway: gateway_addr,
        dns: dns_addr,
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
    tracing::info!(gateway = %endpoints.gateway, dns = %endpoints.dns, "stack serving");
    Ok(RunningStack {
        endpoints,
        shutdown,
        tracker,
        ca,
        issuer,
        network,
        summary,
        _keep: Keep {
            _registrations: registrations,
            services,
            _link_states: link_states,
        },
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
) -> Result<airlock_fargate::ServiceConfig, StackError> {
    let resource = format!("services[{}]", svc.service_name);
    let td = stack
        .task_definition(&svc.task_definition)
        .ok_or_else(|| resource_err(&resource, "task definition not declared"))?;
    let containers = td
        .container_definitions
        .iter()
        .map(|c| {
            let port = c.port_mappings.first().map_or(0, |p| p.container_port);
            let mut spec = match c.program() {
                cfg::Program::Builtin(app) => airlock_fargate::ContainerSpec::builtin(
                    c.name.clone(),
                    match app {
                        cfg::BuiltinApp::Pets => airlock_fargate::BuiltinApp::Pets,
                        cfg::BuiltinApp::Echo => airlock_fargate::BuiltinApp::Echo,
                    },
                    port,
                ),
                cfg::Program::Command(argv) => {
                    let mut spec = airlock_fargate::ContainerSpec::command(
                        c.name.clone(),
                        argv.to_vec(),
                        port,
                    );
                    spec.run = airlock_fargate::Run::Command {
                        argv: argv.to_vec(),
                        working_directory: c.working_directory.as_ref().map(Into::into),
                        port_env_var: c.port_env_var.clone(),
                    };
                    spec
                }
            };
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
    Ok(airlock_fargate::ServiceConfig {
        name: svc.service_name.clone(),
        cluster: svc.cluster.clone(),
        region: stack.region.as_str().to_owned(),
        account_id: stack.account_id.as_str().to_owned(),
        desired_count: svc.desired_count,
        subnets: svc.network_configuration.subnets.clone(),
        security_groups: svc.network_configuration.security_groups.clone(),
        task_definition: airlock_fargate::TaskDefinition {
            family: td.family.clone(),
            revision: 1,
            cpu: td.cpu.0,
            memory: td.memory.0,
            containers,
        },
        load_balancer: svc
            .load_balancers
            .first()
            .map(|lb| airlock_fargate::LbAttachment {
                container_name: lb.container_name.clone(),
                container_port: lb.container_port,
            }),
        // The target group's deregistration_delay (AWS default 300 s) comes with issue 6; until
        // then tasks leave at once.
        deregistration_delay: Duration::ZERO,
    })
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

fn gateway_config(
    stack: &cfg::Stack,
    issuer: &airlock_pki::Issuer,
    ca: &airlock_pki::Ca,
    certs: &mut Certificates<'_>,
    links: &HashMap<String, airlock_vpclink::LinkClient>,
    alb_nodes: &HashMap<String, Vec<Interface>>,
    alb_dns: &BTreeMap<String, String>,
) -> Result<airlock_gateway::GatewayConfig, StackError> {
    use airlock_gateway as gw;
    let region = stack.region.as_str();
    let account = stack.account_id.as_str();
    let jwks = Arc::new(
        gw::jwt::Jwks::from_json(&issuer.jwks_json())
            .map_err(|e| resource_err("local issuer", e))?,
    );
    let mut apis = Vec::new();
    for api in &stack.http_apis {
        let resource = format!("http_apis[{}]", api.name);
        let mut authorizers = HashMap::new();
        for a in &api.authorizers {
            if a.jwt_configuration.issuer != cfg::JwtConfiguration::LOCAL_ISSUER {
                return Err(StackError::Unsupported {
                    resource: format!("{resource}.authorizers[{}]", a.name),
                    feature: "an external JWT issuer (OIDC discovery)",
                    hint: "use `issuer: local`, airlock's built-in issuer, for now",
                });
            }
            let identity_source = match a.identity_source.first() {
                Some(cfg::IdentitySource::QueryString(q)) => {
                    gw::IdentitySource::QueryString(q.clone())
                }
                Some(cfg::IdentitySource::Header(h)) => gw::IdentitySource::Header(
                    http::HeaderName::from_bytes(h.as_bytes())
                        .map_err(|e| resource_err(&resource, e))?,
                ),
                None => gw::IdentitySource::Header(http::header::AUTHORIZATION),
            };
            authorizers.insert(
                a.name.clone(),
                Arc::new(gw::JwtAuthorizer {
                    name: a.name.clone(),
                    identity_source,
                    validator: gw::jwt::JwtValidator::new(
                        airlock_pki::LOCAL_ISSUER,
                        a.jwt_configuration.audience.clone(),
                        jwks.clone(),
                    ),
                }),
            );
        }
        let mut integrations = HashMap::new();
        for i in &api.integrations {
            let resource = format!("{resource}.integrations[{}]", i.name);
            let listener = match &i.integration_uri {
                cfg::IntegrationUri::Listener(l) => l,
                cfg::IntegrationUri::Url(_) => {
                    return Err(StackError::Unsupported {
                        resource,
                        feature: "an INTERNET (public URL) HTTP_PROXY integration",
                        hint: "use a private integration through a VPC link for now",
                    });
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
                    method: match i.integration_method {
                        cfg::HttpMethod::Any => None,
                        m => Some(
                            http::Method::from_bytes(m.as_str().as_bytes())
                                .map_err(|e| resource_err(&resource, e))?,
                        ),
                    },
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
                let authorization = match r.authorization_type {
                    cfg::AuthorizationType::None => gw::Authorization::None,
                    cfg::AuthorizationType::Jwt => gw::Authorization::Jwt {
                        authorizer: r
                            .authorizer_id
                            .as_ref()
                            .and_then(|a| authorizers.get(a))
                            .cloned()
                            .ok_or_else(|| resource_err(&resource, "route authorizer missing"))?,
                        scopes: r.authorization_scopes.clone(),
                    },
                };
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
                .map(|s| s.stage_name.as_str().to_owned())
                .collect(),
            routes,
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
        public_ip: IpAddr::V4(GATEWAY_PUBLIC_IP),
        apis,
        domains,
        execute_api_certificate: gw::CertifiedKeyPair {
            cert_chain: execute_api.cert_chain,
            key: execute_api.key,
        },
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
    alb_nodes: &HashMap<String, Vec<Interface>>,
    api_endpoints: &BTreeMap<String, String>,
) -> Result<Vec<airlock_dns::Zone>, StackError> {
    use airlock_dns::{DomainName, RecordData, RecordSet, Zone};
    let name = |s: &str| DomainName::parse(s).map_err(|e| resource_err(format!("dns name {s}"), e));
    let alb_ips = |lb: &str| -> Vec<Ipv4Addr> {
        alb_nodes
            .get(lb)
            .map(|n| n.iter().map(Interface::ip).collect())
            .unwrap_or_default()
    };
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
    }
    let _ = writeln!(s, "\nPress Ctrl-C to stop.");
    s
}
