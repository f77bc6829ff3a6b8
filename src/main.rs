//! The `airlock` command: runs a stack, prints the default stack, validates stack files, and
//! mints tokens from the local issuer.

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
    /// Put every listener on a free port (see --endpoints-json to find them).
    #[arg(long)]
    ephemeral_ports: bool,
    /// Once serving, write the endpoints as JSON to this file.
    #[arg(long)]
    endpoints_json: Option<PathBuf>,
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
    println!("{}", issuer.mint(&req)?);
    Ok(())
}

fn up(args: UpArgs) -> anyhow::Result<()> {
    // Parse and validate before anything binds: a bad file starts nothing.
    let (stack, source) = match &args.stack_file {
        Some(path) => (
            airlock_config::load(path).map_err(|e| anyhow::anyhow!("{e}"))?,
            path.display().to_string(),
        ),
        None => (
            airlock_config::default_stack(),
            "the built-in default stack".to_owned(),
        ),
    };
    init_tracing();
    let ports = if args.ephemeral_ports {
        Ports::EPHEMERAL
    } else {
        Ports {
            gateway: args.gateway_port,
            dns: args.dns_port,
            vpc_link: args.vpc_link_port,
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let options = Options {
            state_dir: args.state_dir.clone(),
            ports,
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
    let filter = tracing_subscriber::EnvFilter::try_from_env("AIRLOCK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,hyper=warn,rustls=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .compact()
        .init();
}
