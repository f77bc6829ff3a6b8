//! The API Gateway from the stack file: APIs, stages, routes, domains, and the VPC link tunnel
//! private integrations use.

use super::*;

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
pub(super) fn gateway_config(
    stack: &cfg::Stack,
    issuer: &airlock_pki::Issuer,
    ca: &airlock_pki::Ca,
    certs: &mut Certificates<'_>,
    links: &HashMap<String, airlock_vpclink::LinkClient>,
    alb_nodes: &HashMap<String, Vec<Interface>>,
    alb_dns: &BTreeMap<String, String>,
    options: &crate::Options,
    logs: (&CancellationToken, &TaskTracker),
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
                .map(|s| {
                    gateway_stage(
                        s,
                        &resource,
                        &options.state_dir,
                        options.access_log_rotation,
                        logs,
                    )
                })
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
/// `<state dir>/logs/<log group name>.log` (docs/aws-rules.md §HTTP-9), written by a writer
/// task on `logs`' tracker until its token is cancelled.
fn gateway_stage(
    s: &cfg::Stage,
    resource: &str,
    state_dir: &std::path::Path,
    rotation: airlock_net::logfile::Rotation,
    logs: (&CancellationToken, &TaskTracker),
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
            let file = airlock_net::logfile::LogFile::open(&path, rotation)
                .map_err(|e| resource_err(&resource, format!("{}: {e}", path.display())))?;
            let format = match log.format.as_str() {
                "CLF" => gw::access_log::CLF_FORMAT.to_owned(),
                "JSON" => gw::access_log::JSON_FORMAT.to_owned(),
                f => f.to_owned(),
            };
            Some(gw::access_log::AccessLogConfig {
                log_group: group.to_owned(),
                format,
                sink: Arc::new(gw::access_log::FileSink::new(
                    airlock_net::logfile::BatchedLog::start(file, logs.0.clone(), logs.1),
                )),
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
