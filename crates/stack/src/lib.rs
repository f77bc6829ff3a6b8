//! Wires a validated stack file into a running stack, and is the library users' tests start
//! stacks with.
//!
//! ```no_run
//! # async fn demo() -> Result<(), airlock_stack::StackError> {
//! use airlock_stack::RunningStack;
//! // The default stack on free ports, with a fresh CA in a temporary state directory.
//! let stack = RunningStack::start_default().await?;
//! let gateway = stack.endpoints().gateway;          // 127.0.0.1:PORT, HTTPS
//! let token = stack.token(&["pets/write"])?;          // a JWT the API accepts
//! let ca = stack.ca_pem();                            // trust this for TLS
//! # let _ = (gateway, token, ca);
//! stack.stop().await;                                 // or just drop it
//! # Ok(()) }
//! ```
//!
//! Order of start-up: the PKI, the emulated network, the ECS services (their tasks registered as
//! targets), the load balancers, the VPC links, the API Gateway, then DNS. Everything the file
//! describes is checked by `airlock-config` before this crate is called, so a start failure here
//! is an environment problem (a port in use, an unwritable state directory) or a feature airlock
//! does not have yet, reported with the resource's name.
//!
//! Architecture invariant: this is the only crate that knows both the stack file's types and the
//! components. Components get plain configs, connectors and live target sets from here.

mod admin;
mod auth;
pub mod client;
mod cognito;
mod console;
mod explain;
pub mod traces;
mod wiring;

pub use airlock_pki::TokenRequest;
pub use cognito::{UserPoolTokenError, user_pool_token};
pub use explain::Explanation;

use airlock_net::Network;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long in-flight requests may take to finish once a stop is asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The least time tasks get to stop after the connections are done, however long those took.
const TASK_STOP_FLOOR: Duration = Duration::from_secs(2);

/// Host ports of the listeners a user reaches from the host; `0` picks a free port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    /// The API Gateway's HTTPS port.
    pub gateway: u16,
    /// The DNS server's port (UDP and TCP), serving the public view.
    pub dns: u16,
    /// The VPC link endpoint's port (the first link; further links get free ports).
    pub vpc_link: u16,
    /// The admin endpoint's port (HTTP, JSON).
    pub admin: u16,
    /// The `internet` vantage point (SOCKS5 and HTTP CONNECT): stands on the public internet.
    pub socks_internet: u16,
    /// The `vpc` vantage point (SOCKS5 and HTTP CONNECT): stands on an interface in the VPC.
    pub socks_vpc: u16,
}

impl Ports {
    /// The ports `airlock up` uses unless told otherwise (unprivileged, easy to remember).
    pub const DEFAULT: Ports = Ports {
        gateway: 4443,
        dns: 4053,
        vpc_link: 4444,
        admin: 4480,
        socks_internet: 4080,
        socks_vpc: 4081,
    };
    /// Every listener on a free port.
    pub const EPHEMERAL: Ports = Ports {
        gateway: 0,
        dns: 0,
        vpc_link: 0,
        admin: 0,
        socks_internet: 0,
        socks_vpc: 0,
    };
}

/// How to run a stack.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where the CA and the issuer key are kept (created if missing).
    pub state_dir: PathBuf,
    /// Host ports.
    pub ports: Ports,
    /// How long a VPC link waits for a TCP connection into the VPC before the gateway answers
    /// 500 (a security group drops the connection silently). Default 10 s.
    pub vpc_link_connect_timeout: Duration,
    /// How long the admin endpoint waits for a request head, on a new connection or a
    /// kept-alive one, before closing it. Default 30 s, the gateway's header read timeout.
    pub admin_idle_timeout: Duration,
    /// When the access logs under `<state dir>/logs/` (the ALBs' and the stages') rotate, and
    /// how many files each keeps.
    pub access_log_rotation: airlock_net::logfile::Rotation,
    /// The address the host listeners (gateway, DNS, VPC link endpoint, admin, vantage points)
    /// bind. Loopback by default; `0.0.0.0` inside a container, whose ports the engine publishes
    /// on the host's loopback (docs/compose.md). Endpoints still name 127.0.0.1 then.
    pub listen_ip: std::net::Ipv4Addr,
    /// The VPC is a real Docker network this host stands on (docs/compose.md): hold the load
    /// balancer nodes' and the VPC resolver's private addresses on the interface whose address
    /// is in the VPC CIDR, and serve them there to other containers.
    pub docker_vpc: bool,
    /// Pull an `image` a task needs that the Docker engine does not have (`--pull`). Off by
    /// default: airlock is offline, and a pull reaches a registry on the internet.
    pub pull_images: bool,
    /// How many recent requests' traces the stack keeps (`GET /requests` on the admin
    /// endpoint, `airlock trace`); 0 turns tracing off. Default 1,000.
    pub trace_capacity: usize,
}

impl Options {
    /// Options with the default ports and timeouts, keeping state in `state_dir`.
    pub fn new(state_dir: impl Into<PathBuf>) -> Options {
        Options {
            state_dir: state_dir.into(),
            ports: Ports::DEFAULT,
            vpc_link_connect_timeout: Duration::from_secs(10),
            admin_idle_timeout: Duration::from_secs(30),
            access_log_rotation: airlock_net::logfile::Rotation::default(),
            listen_ip: std::net::Ipv4Addr::LOCALHOST,
            docker_vpc: false,
            pull_images: false,
            trace_capacity: traces::DEFAULT_CAPACITY,
        }
    }
}

/// Errors starting a stack.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// The CA or the issuer key could not be loaded or created.
    #[error("the local PKI in {dir}: {source}")]
    Pki {
        /// The state directory.
        dir: PathBuf,
        /// The cause.
        source: airlock_pki::PkiError,
    },
    /// A host port could not be bound.
    #[error(
        "cannot listen on {ip}:{port} for the {what}: {source} (hint: pick another port with --{flag}, or use --ephemeral-ports)"
    )]
    Bind {
        /// Which listener.
        what: &'static str,
        /// The address asked for.
        ip: std::net::Ipv4Addr,
        /// The option that sets its port.
        flag: &'static str,
        /// The port asked for.
        port: u16,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A resource could not be set up.
    #[error("{resource}: {message}")]
    Resource {
        /// The resource, e.g. `load_balancers[pets-alb]`.
        resource: String,
        /// What went wrong.
        message: String,
    },
    /// The stack uses something airlock cannot run yet.
    #[error("{resource}: {feature} is not supported by airlock yet (hint: {hint})")]
    Unsupported {
        /// The resource.
        resource: String,
        /// The feature.
        feature: &'static str,
        /// What to do instead.
        hint: &'static str,
    },
    /// A temporary state directory could not be created.
    #[error("creating a temporary state directory: {0}")]
    TempDir(std::io::Error),
}

/// Where a running stack can be reached from the host, and names worth knowing.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// The API Gateway (HTTPS; every API and custom domain, chosen by SNI/Host).
    pub gateway: SocketAddr,
    /// The DNS server (UDP and TCP), public view.
    pub dns: SocketAddr,
    /// The admin endpoint (HTTP, JSON): `/status`, `/token`, `/tasks`, …
    pub admin: SocketAddr,
    /// The `internet` vantage point (SOCKS5 / HTTP CONNECT proxy).
    pub socks_internet: SocketAddr,
    /// The `vpc` vantage point, when the stack declares one.
    pub socks_vpc: Option<SocketAddr>,
    /// VPC link endpoints by link name (mutual TLS; only the gateway's certificate is admitted).
    pub vpc_links: BTreeMap<String, SocketAddr>,
    /// The TLS server name of each VPC link endpoint's certificate, by link name.
    pub vpc_link_server_names: BTreeMap<String, String>,
    /// The CA certificate clients must trust.
    pub ca_cert: PathBuf,
    /// Load balancer DNS names by load balancer name.
    pub alb_dns_names: BTreeMap<String, String>,
    /// Custom domain names served by the gateway.
    pub custom_domains: Vec<String>,
    /// `{api-id}.execute-api.{region}.amazonaws.com` by API name.
    pub api_endpoints: BTreeMap<String, String>,
    /// The local issuer's identifier (`iss` of the tokens it mints).
    pub issuer: String,
}

impl Endpoints {
    /// The JSON written by `airlock up --endpoints-json`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "gateway": self.gateway.to_string(),
            "dns": self.dns.to_string(),
            "admin": self.admin.to_string(),
            "socks_internet": self.socks_internet.to_string(),
            "socks_vpc": self.socks_vpc.map(|a| a.to_string()),
            "vpc_link": self.vpc_links.values().next().map(ToString::to_string),
            "vpc_links": self.vpc_links.iter().map(|(k, v)| (k.clone(), v.to_string())).collect::<BTreeMap<_, _>>(),
            "ca_cert": self.ca_cert.display().to_string(),
            "alb_dns_names": self.alb_dns_names,
            "custom_domains": self.custom_domains,
            "api_endpoints": self.api_endpoints,
            "issuer": self.issuer,
        })
    }
}

/// A running stack. Dropping it stops everything; [`RunningStack::stop`] also waits for
/// in-flight requests to finish.
pub struct RunningStack {
    endpoints: Endpoints,
    /// Stops accepting and ends idle connections; in-flight requests go on.
    shutdown: CancellationToken,
    /// Stops the tasks, once the requests in flight are done (or the grace period is over).
    tasks_shutdown: CancellationToken,
    tracker: TaskTracker,
    ca: airlock_pki::Ca,
    summary: wiring::Summary,
    /// Everything that lives as long as the stack (shared with the admin endpoint).
    state: std::sync::Arc<wiring::Keep>,
    /// A temporary state directory, removed on drop (only for [`RunningStack::start_default`]).
    _temp_dir: Option<tempfile::TempDir>,
}

impl RunningStack {
    /// Starts `stack` and returns once every listener serves and every service's tasks are
    /// registered with their target groups.
    pub async fn start(
        stack: airlock_config::Stack,
        options: Options,
    ) -> Result<RunningStack, StackError> {
        RunningStack::launch(stack, options, None).await
    }

    /// Binds the admin endpoint, starts every other resource (`wiring`), then serves the admin
    /// endpoint over the running stack: the admin knows the wiring's handles, never the reverse.
    async fn launch(
        stack: airlock_config::Stack,
        options: Options,
        temp_dir: Option<tempfile::TempDir>,
    ) -> Result<RunningStack, StackError> {
        let listener = wiring::bind(
            "admin endpoint",
            "admin-port",
            options.listen_ip,
            options.ports.admin,
        )
        .await?;
        let addr = wiring::shown(listener.local_addr().map_err(|source| StackError::Bind {
            what: "admin endpoint",
            flag: "admin-port",
            ip: options.listen_ip,
            port: options.ports.admin,
            source,
        })?);
        let (region, account) = (
            stack.region.as_str().to_owned(),
            stack.account_id.as_str().to_owned(),
        );
        let idle_timeout = options.admin_idle_timeout;
        let running = wiring::start(stack, options, temp_dir, addr).await?;
        let admin = std::sync::Arc::new(admin::Admin::new(
            running.state.clone(),
            running.endpoints.to_json(),
            region,
            account,
            idle_timeout,
            running.shutdown.clone(),
            running.tracker.clone(),
        ));
        running.tracker.spawn(admin::serve(
            admin,
            listener,
            running.shutdown.clone(),
            running.tracker.clone(),
        ));
        Ok(running)
    }

    /// Starts the built-in default stack on free ports with a fresh CA and issuer in a
    /// temporary state directory: what a test wants.
    pub async fn start_default() -> Result<RunningStack, StackError> {
        RunningStack::start_ephemeral(airlock_config::default_stack()).await
    }

    /// Starts `stack` on free ports with a fresh CA and issuer in a temporary state directory.
    pub async fn start_ephemeral(stack: airlock_config::Stack) -> Result<RunningStack, StackError> {
        RunningStack::start_ephemeral_with(stack, |_| {}).await
    }

    /// Like [`RunningStack::start_default`], with options adjusted by `adjust` (the state
    /// directory and ports are already set to a temporary directory and free ports).
    pub async fn start_default_with(
        adjust: impl FnOnce(&mut Options),
    ) -> Result<RunningStack, StackError> {
        RunningStack::start_ephemeral_with(airlock_config::default_stack(), adjust).await
    }

    /// Like [`RunningStack::start_ephemeral`], with options adjusted by `adjust`.
    pub async fn start_ephemeral_with(
        stack: airlock_config::Stack,
        adjust: impl FnOnce(&mut Options),
    ) -> Result<RunningStack, StackError> {
        let dir = tempfile::Builder::new()
            .prefix("airlock-")
            .tempdir()
            .map_err(StackError::TempDir)?;
        let mut options = Options::new(dir.path());
        options.ports = Ports::EPHEMERAL;
        adjust(&mut options);
        RunningStack::launch(stack, options, Some(dir)).await
    }

    /// Where the stack can be reached.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The CA certificate (PEM) every airlock certificate chains to.
    pub fn ca_pem(&self) -> &str {
        self.ca.cert_pem()
    }

    /// The CA certificate (DER), for building TLS clients in Rust.
    pub fn ca_der(&self) -> rustls_pki_types::CertificateDer<'static> {
        self.ca.cert_der().clone()
    }

    /// The stack's CA, e.g. to issue a certificate for a test's own server or client.
    pub fn ca(&self) -> &airlock_pki::Ca {
        &self.ca
    }

    /// The emulated network (interfaces, security groups, reachability).
    pub fn network(&self) -> &Network {
        &self.state.network
    }

    /// Mints a token from the local issuer.
    pub fn mint_token(&self, request: &TokenRequest) -> Result<String, StackError> {
        self.state
            .issuer
            .mint(request)
            .map_err(|e| StackError::Resource {
                resource: "local issuer".to_owned(),
                message: e.to_string(),
            })
    }

    /// A token for the first JWT authorizer's first audience, valid for an hour, with `scopes`.
    pub fn token(&self, scopes: &[&str]) -> Result<String, StackError> {
        let mut req = TokenRequest::new("local-user", self.summary.default_audience.clone());
        req.scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        self.mint_token(&req)
    }

    /// Explains whether `from` (`internet`, `vpc`, `eni-…`, an IP, `service:NAME`,
    /// `vpc-link:NAME`, `alb:NAME`) can open a TCP connection to `to` (`NAME:PORT` or
    /// `ADDRESS:PORT`), hop by hop, like AWS's Reachability Analyzer.
    pub fn explain(&self, from: &str, to: &str) -> Result<Explanation, String> {
        let from = explain::parse_from(&self.state, from)?;
        Ok(explain::explain(&self.state, &from, to))
    }

    /// The private IPs of each service's running tasks, by service name.
    pub fn task_ips(&self) -> BTreeMap<String, Vec<std::net::Ipv4Addr>> {
        self.state.task_ips()
    }

    /// What `airlock up` prints once serving: endpoints and two `curl` commands that work.
    pub fn banner(&self) -> Result<String, StackError> {
        let token = self.token(&self.summary.all_scopes())?;
        Ok(wiring::banner(
            &self.endpoints,
            &self.summary,
            &self.task_ips(),
            &token,
        ))
    }

    /// Stops every listener and task, letting in-flight requests finish and tasks stop (up to
    /// a grace period).
    ///
    /// In that order: the listeners stop first and the requests in flight run to their end
    /// through the chain, and only then do the tasks stop, as ECS stops a service's tasks only
    /// after the load balancer has drained them ("Deregistration delay",
    /// https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-target-group-attributes.html#deregistration-delay).
    /// Stopping both at once would answer those requests 502.
    pub async fn stop(self) {
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        self.shutdown.cancel();
        self.tracker.close();
        if tokio::time::timeout_at(deadline, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("some connections did not finish within the grace period");
        }
        self.tasks_shutdown.cancel();
        // The services stop their tasks on their own token and track them themselves: waiting
        // for them is what lets a process that exits next leave no task process behind (those
        // on other runtime threads are never dropped, so nothing else would kill them). They
        // get at least a moment even when the connections used the whole grace period.
        let services = futures_util::future::join_all(
            self.state
                .services
                .iter()
                .map(airlock_fargate::ServiceHandle::stopped),
        );
        let deadline = deadline.max(tokio::time::Instant::now() + TASK_STOP_FLOOR);
        if tokio::time::timeout_at(deadline, services).await.is_err() {
            tracing::warn!("some tasks did not stop within the grace period");
        }
        if let Some(vpc) = &self.state.docker_vpc {
            vpc.release().await;
        }
    }

    /// The state directory holding `ca.pem`.
    pub fn state_dir(&self) -> &Path {
        self.endpoints
            .ca_cert
            .parent()
            .unwrap_or_else(|| Path::new("."))
    }
}

impl Drop for RunningStack {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.tasks_shutdown.cancel();
    }
}
