//! The `airlock` command: runs a stack, prints the default stack, validates stack files, and
//! mints tokens from the local issuer.

#![allow(
    clippy::print_stderr,
    reason = "a CLI reports errors to its user on stderr"
)]

mod demo;

/// The process allocator; see the `mimalloc` entry in `Cargo.toml` for why.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use airlock_stack::{Options, Ports, RunningStack};
use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "airlock",
    version,
    about = "A local, offline emulator of API Gateway HTTP API → VPC link → internal ALB → ECS Fargate",
    long_about = "Runs the whole private-API chain in one process: an HTTPS API Gateway with JWT \
                  authorizers, a mutual-TLS VPC link, an internal HTTPS ALB and Fargate tasks, in an \
                  emulated VPC with split-horizon DNS. With no subcommand, runs `airlock up`."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    up: UpArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Start a stack (the default stack when no file is given) and serve until Ctrl-C.
    Up(UpArgs),
    /// Print the default stack file, to start your own from it.
    Init,
    /// Check a stack file and report every problem with its line and a hint.
    Validate {
        /// The stack file.
        stack_file: PathBuf,
    },
    /// Print a JWT signed by the local issuer.
    Token(TokenArgs),
    /// Tell the private API's story with evidence from a real stack; exit 0 if every step
    /// behaved as AWS would.
    Demo,
    /// Explain, hop by hop, whether a connection from a vantage point or interface to a name or
    /// address would get through, and what blocks it (exit 0 reachable, 1 blocked).
    Explain {
        /// The stack file; the built-in default stack when omitted.
        stack_file: Option<PathBuf>,
        /// `internet`, `vpc`, `eni-…`, a private IP, `service:NAME`, `vpc-link:NAME` or `alb:NAME`.
        #[arg(long)]
        from: String,
        /// `NAME:PORT` or `ADDRESS:PORT`.
        #[arg(long)]
        to: String,
    },
}

#[derive(Args, Clone)]
struct UpArgs {
    /// The stack file; the built-in default stack when omitted.
    stack_file: Option<PathBuf>,
    /// Where the CA, the issuer key and logs live.
    #[arg(long, default_value = ".airlock", env = "AIRLOCK_STATE_DIR")]
    state_dir: PathBuf,
    /// Host port of the API Gateway (HTTPS).
    #[arg(long, default_value_t = Ports::DEFAULT.gateway)]
    gateway_port: u16,
    /// Host port of the DNS server (UDP and TCP; the public view).
    #[arg(long, default_value_t = Ports::DEFAULT.dns)]
    dns_port: u16,
    /// Host port of the VPC link endpoint (mutual TLS; only the gateway may use it).
    #[arg(long, default_value_t = Ports::DEFAULT.vpc_link)]
    vpc_link_port: u16,
    /// Host port of the admin endpoint (HTTP, JSON: /status, /token, /tasks, ...).
    #[arg(long, default_value_t = Ports::DEFAULT.admin)]
    admin_port: u16,
    /// Host port of the `internet` vantage point (SOCKS5 and HTTP CONNECT).
    #[arg(long, default_value_t = Ports::DEFAULT.socks_internet)]
    socks_internet_port: u16,
    /// Host port of the `vpc` vantage point (SOCKS5 and HTTP CONNECT).
    #[arg(long, default_value_t = Ports::DEFAULT.socks_vpc)]
    socks_vpc_port: u16,
    /// Put every listener on a free port (see --endpoints-json to find them).
    #[arg(long)]
    ephemeral_ports: bool,
    /// Once serving, write the endpoints as JSON to this file.
    #[arg(long)]
    endpoints_json: Option<PathBuf>,
    /// Rotate an access log (the ALBs' and the stages', under `<state dir>/logs/`) before it
    /// grows past this many bytes.
    #[arg(long, default_value_t = airlock_net::logfile::DEFAULT_MAX_BYTES,
          value_parser = clap::value_parser!(u64).range(1..))]
    access_log_max_bytes: u64,
    /// Files kept per access log, the current one included; older ones are deleted.
    #[arg(long, default_value_t = airlock_net::logfile::DEFAULT_MAX_FILES,
          value_parser = clap::value_parser!(u32).range(1..))]
    access_log_max_files: u32,
}

#[derive(Args)]
struct TokenArgs {
    /// The subject.
    #[arg(long, default_value = "local-user")]
    sub: String,
    /// Scopes, space-separated (e.g. "pets/read pets/write").
    #[arg(long, default_value = "")]
    scope: String,
    /// The audience.
    #[arg(long, default_value = "pets-client")]
    aud: String,
    /// Lifetime in seconds; negative makes an already expired token.
    #[arg(long, default_value_t = 3600, allow_negative_numbers = true)]
    expires_in: i64,
    /// An extra claim, `name=value` (repeatable). A value that parses as JSON (`42`, `true`,
    /// `["a","b"]`) keeps its type; anything else is a string. Applied last, so it may override
    /// the standard claims.
    #[arg(long = "claim", value_name = "NAME=VALUE", value_parser = parse_claim)]
    claims: Vec<(String, serde_json::Value)>,
    /// Where the issuer key lives (the same as `up`'s).
    #[arg(long, default_value = ".airlock", env = "AIRLOCK_STATE_DIR")]
    state_dir: PathBuf,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Init) => {
            print!("{}", airlock_config::DEFAULT_STACK_YAML);
            Ok(())
        }
        Some(Command::Validate { stack_file }) => validate(&stack_file),
        Some(Command::Token(args)) => token(&args),
        Some(Command::Up(args)) => up(args),
        Some(Command::Demo) => demo(),
        Some(Command::Explain {
            stack_file,
            from,
            to,
        }) => explain(stack_file.as_deref(), &from, &to),
        None => up(cli.up),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn validate(path: &Path) -> anyhow::Result<()> {
    match airlock_config::load(path) {
        Ok(_) => {
            println!("{}: valid", path.display());
            Ok(())
        }
        Err(e) => Err(anyhow::anyhow!("{e}")),
    }
}

fn token(args: &TokenArgs) -> anyhow::Result<()> {
    let issuer = airlock_pki::Issuer::load_or_create(&args.state_dir, airlock_pki::LOCAL_ISSUER)
        .context("loading the local issuer key")?;
    let mut req = airlock_pki::TokenRequest::new(args.sub.clone(), args.aud.clone());
    req.scopes = args.scope.split_whitespace().map(str::to_owned).collect();
    req.expires_in = args.expires_in;
    req.extra_claims.extend(args.claims.iter().cloned());
    println!("{}", issuer.mint(&req)?);
    Ok(())
}

fn parse_claim(s: &str) -> Result<(String, serde_json::Value), String> {
    let (name, value) = s
        .split_once('=')
        .filter(|(name, _)| !name.is_empty())
        .ok_or_else(|| format!("{s:?} is not NAME=VALUE"))?;
    let value = serde_json::from_str(value).unwrap_or_else(|_| value.into());
    Ok((name.to_owned(), value))
}

/// The runtime the command runs on: this thread's single-threaded runtime, plus one more on a
/// thread of its own per further core ("shards", see `airlock_net::shards`): each connection is
/// served on one shard, with every in-process hop it leads to, so a request through the chain
/// stays on one core. `AIRLOCK_WORKER_THREADS` sets the number of shards (default: one per
/// core).
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    let shards = std::env::var("AIRLOCK_WORKER_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let main = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let mut handles = vec![main.handle().clone()];
    for index in 1..shards {
        handles.push(airlock_net::shards::spawn(index).context("starting a runtime thread")?);
    }
    airlock_net::shards::install(handles);
    Ok(main)
}

fn demo() -> anyhow::Result<()> {
    if runtime()?.block_on(demo::run())? {
        Ok(())
    } else {
        anyhow::bail!("the demo saw behaviour AWS would not show")
    }
}

fn load_stack(path: Option<&Path>) -> anyhow::Result<airlock_config::Stack> {
    match path {
        Some(p) => airlock_config::load(p).map_err(|e| anyhow::anyhow!("{e}")),
        None => Ok(airlock_config::default_stack()),
    }
}

fn explain(stack_file: Option<&Path>, from: &str, to: &str) -> anyhow::Result<()> {
    let stack = load_stack(stack_file)?;
    let explanation = runtime()?.block_on(async {
        let running = RunningStack::start_ephemeral(stack).await?;
        let explanation = running.explain(from, to).map_err(|e| anyhow::anyhow!(e));
        running.stop().await;
        explanation
    })?;
    println!("from {from} to {to}:");
    print!("{explanation}");
    if explanation.reachable() {
        Ok(())
    } else {
        std::process::exit(1)
    }
}

fn up(args: UpArgs) -> anyhow::Result<()> {
    // Parse and validate before anything binds: a bad file starts nothing.
    let stack = load_stack(args.stack_file.as_deref())?;
    let source = args.stack_file.as_ref().map_or_else(
        || "the built-in default stack".to_owned(),
        |p| p.display().to_string(),
    );
    init_tracing();
    let ports = if args.ephemeral_ports {
        Ports::EPHEMERAL
    } else {
        Ports {
            gateway: args.gateway_port,
            dns: args.dns_port,
            vpc_link: args.vpc_link_port,
            admin: args.admin_port,
            socks_internet: args.socks_internet_port,
            socks_vpc: args.socks_vpc_port,
        }
    };
    runtime()?.block_on(async move {
        let mut options = Options::new(args.state_dir.clone());
        options.ports = ports;
        options.access_log_rotation = airlock_net::logfile::Rotation {
            max_bytes: args.access_log_max_bytes,
            max_files: args.access_log_max_files,
        };
        let running = RunningStack::start(stack, options)
            .await
            .with_context(|| format!("starting {source}"))?;
        if let Some(path) = &args.endpoints_json {
            let json = serde_json::to_string_pretty(&running.endpoints().to_json())?;
            std::fs::write(path, json + "\n")
                .with_context(|| format!("writing {}", path.display()))?;
        }
        println!("{}", running.banner()?);
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        eprintln!("shutting down…");
        running.stop().await;
        Ok(())
    })
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AIRLOCK_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "info,hyper=warn,rustls=warn,{}",
            airlock_dns::LOG_DIRECTIVES
        ))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .compact()
        .init();
}
