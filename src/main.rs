//! The `airlock` command: runs a stack (a stack file or a CloudFormation template), prints the
//! default stack, validates stack files and templates, converts templates to stack files, and
//! mints tokens from the local issuer.

#![allow(
    clippy::print_stderr,
    reason = "a CLI reports errors to its user on stderr"
)]

mod demo;
mod logging;
mod signals;
mod template;
mod trace;

/// The process allocator: jemalloc, whose background thread gives freed memory back to the
/// system even from threads that have gone idle; see the `tikv-jemallocator` entry in
/// `Cargo.toml` for why, and `.cargo/config.toml` for its settings.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use airlock_stack::{Options, Ports, RunningStack};
use anyhow::Context as _;
use clap::parser::ValueSource;
use clap::{Args, CommandFactory as _, FromArgMatches as _, Parser, Subcommand};
use logging::{DefaultLevel, LogArgs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use template::TemplateArgs;

/// The most shards (runtime threads) `--worker-threads` accepts: far above any core count this
/// runs on, low enough that a typo cannot start thousands of threads.
const MAX_WORKER_THREADS: u16 = 1024;

#[derive(Parser)]
#[command(
    name = "airlock",
    version,
    about = "A local, offline emulator of API Gateway HTTP API → VPC link → internal ALB → ECS Fargate",
    long_about = "Runs the whole private-API chain in one process: an HTTPS API Gateway with JWT \
                  authorizers, a mutual-TLS VPC link, an internal HTTPS ALB and Fargate tasks, in an \
                  emulated VPC with split-horizon DNS. With no subcommand, runs `airlock up` (its \
                  options may then be given without `up`; before another subcommand they are \
                  refused). Logs go to stderr: RUST_LOG (or AIRLOCK_LOG, which wins) sets the \
                  filter, -v/-q override both."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// `up`'s options, for `airlock [OPTIONS]` without a subcommand.
    #[command(flatten)]
    up: UpArgs,
    #[command(flatten)]
    log: LogArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Start a stack (the default stack when no file is given) and serve until Ctrl-C or
    /// SIGTERM, which stop it gracefully.
    Up(UpArgs),
    /// Print the default stack file, to start your own from it.
    Init,
    /// Check a stack file or a CloudFormation template and report every problem with its line
    /// and a hint.
    Validate {
        /// The stack file or template.
        stack_file: PathBuf,
        #[command(flatten)]
        template: TemplateArgs,
    },
    /// Print the airlock stack file a CloudFormation, SAM or `cdk synth` template runs as, with
    /// a comment naming each entry's resource.
    Convert {
        /// The template.
        template_file: PathBuf,
        #[command(flatten)]
        template: TemplateArgs,
    },
    /// Print a JWT signed by the local issuer.
    Token(TokenArgs),
    /// Tell the private API's story with evidence from a real stack; exit 0 if every step
    /// behaved as AWS would.
    Demo(RuntimeArgs),
    /// Explain, hop by hop, whether a connection from a vantage point or interface to a name or
    /// address would get through, and what blocks it (exit 0 reachable, 1 blocked, 2 error).
    Explain {
        /// The stack file; the built-in default stack when omitted.
        stack_file: Option<PathBuf>,
        /// `internet`, `vpc`, `eni-…`, a private IP, `service:NAME`, `vpc-link:NAME` or `alb:NAME`.
        #[arg(long)]
        from: String,
        /// `NAME:PORT` or `ADDRESS:PORT`.
        #[arg(long)]
        to: String,
        #[command(flatten)]
        runtime: RuntimeArgs,
    },
    /// Show what happened to a request, hop by hop, from a running stack's traces: one request
    /// by its `apigw-requestid`, the recent ones, or (`--follow`) each as it completes.
    Trace(trace::TraceArgs),
}

/// How the commands that run a stack use the machine's cores.
#[derive(Args, Clone, Copy)]
struct RuntimeArgs {
    /// Runtime threads ("shards"), each serving whole connections; 0 or unset: one per core.
    #[arg(long, env = "AIRLOCK_WORKER_THREADS", value_name = "N",
          value_parser = clap::value_parser!(u16).range(0..=i64::from(MAX_WORKER_THREADS)))]
    worker_threads: Option<u16>,
}

#[derive(Args, Clone)]
struct UpArgs {
    /// The stack file or CloudFormation template; the built-in default stack when omitted.
    stack_file: Option<PathBuf>,
    #[command(flatten)]
    template: TemplateArgs,
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
    /// The address the host listeners bind: loopback by default; `0.0.0.0` in a container whose
    /// ports are published on the host's loopback (docs/compose.md).
    #[arg(long, default_value = "127.0.0.1", env = "AIRLOCK_LISTEN_ADDRESS")]
    listen_address: std::net::Ipv4Addr,
    /// The VPC is a real Docker network this container stands on: hold the load balancer nodes'
    /// and the VPC resolver's private addresses there (needs CAP_NET_ADMIN; docs/compose.md).
    #[arg(long, env = "AIRLOCK_DOCKER_VPC")]
    docker_vpc: bool,
    /// Pull a task's image that the local Docker engine lacks (after `--image` and the local
    /// images), as ECS pulls it; off by default, since a pull reaches a registry.
    #[arg(long, env = "AIRLOCK_PULL")]
    pull: bool,
    /// How many recent requests' traces are kept (`airlock trace`, the console); 0 turns
    /// tracing off.
    #[arg(long, default_value_t = airlock_stack::traces::DEFAULT_CAPACITY)]
    trace_capacity: usize,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

#[derive(Args)]
struct TokenArgs {
    /// The subject.
    #[arg(long, default_value = "local-user")]
    sub: String,
    /// Scopes, space-separated (e.g. "pets/read pets/write").
    #[arg(long, default_value = "")]
    scope: String,
    /// The audience (`pets-client` when not given; not with --user-pool, whose tokens carry
    /// the client id instead).
    #[arg(long, conflicts_with = "user_pool")]
    aud: Option<String>,
    /// Mint an access token of this Cognito user pool instead (its logical id in a template,
    /// its name in a stack file): `iss` is the pool's issuer, `client_id` the app client's id.
    /// Needs --stack.
    #[arg(long, value_name = "NAME", requires = "stack")]
    user_pool: Option<String>,
    /// The user pool's app client (its logical id or name); needed when the pool has several.
    #[arg(long, value_name = "NAME", requires = "user_pool")]
    client: Option<String>,
    /// The stack file or CloudFormation template that declares the user pool.
    #[arg(long, value_name = "FILE")]
    stack: Option<PathBuf>,
    /// The template's options, as given to `up` (a pool's id depends on the stack name, region
    /// and account).
    #[command(flatten)]
    template: TemplateArgs,
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

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Usage errors exit 2 (and --help, --version 0), as clap's own `exit` would, but
            // through `main`'s return so nothing is cut short.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let format = cli.log.log_format;
    let level = match cli.command {
        None | Some(Command::Up(_)) => DefaultLevel::Info,
        Some(_) => DefaultLevel::Warn,
    };
    if let Err(e) = logging::init(&cli.log, level) {
        // A filter that does not parse is a usage error, like a bad option.
        logging::report_error(format, &e);
        return ExitCode::from(2);
    }
    let result = match cli.command {
        Some(Command::Init) => out(format_args!("{}", airlock_config::DEFAULT_STACK_YAML)),
        Some(Command::Validate {
            stack_file,
            template,
        }) => validate(&stack_file, &template),
        Some(Command::Convert {
            template_file,
            template,
        }) => convert(&template_file, &template),
        Some(Command::Token(args)) => token(&args),
        Some(Command::Up(args)) => up(args),
        Some(Command::Demo(runtime_args)) => demo(runtime_args),
        Some(Command::Trace(args)) => trace::run(&args),
        Some(Command::Explain {
            stack_file,
            from,
            to,
            runtime,
        }) => {
            return match explain(stack_file.as_deref(), &from, &to, runtime) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => {
                    logging::report_error(format, &e);
                    ExitCode::from(2)
                }
            };
        }
        None => up(cli.up),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of standard output went away (`airlock trace --follow | head`): nothing
        // more can be said, and nothing went wrong.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            logging::report_error(format, &e);
            ExitCode::FAILURE
        }
    }
}

/// Writes `text` to standard output, returning a failed write (such as a reader that went
/// away) as an error rather than panicking as `print!` does.
fn out(text: std::fmt::Arguments<'_>) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout.write_fmt(text)?;
    stdout.flush()?;
    Ok(())
}

/// Whether `e` comes from writing to a pipe whose reader has gone.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Parses the command line, refusing `up`'s options in front of another subcommand: there they
/// would silently do nothing (`airlock --gateway-port 1 validate f`). The global flags (`-v`,
/// `-q`, `--log-format`) apply wherever they stand. Values from the environment
/// (`AIRLOCK_STATE_DIR`, ...) are not the user's words on this command line, so they pass.
fn parse() -> Result<Cli, clap::Error> {
    let mut command = Cli::command();
    let matches = command.try_get_matches_from_mut(std::env::args_os())?;
    if let Some((name, _)) = matches.subcommand() {
        let misplaced: Vec<String> = UpArgs::augment_args(clap::Command::new("up"))
            .get_arguments()
            .filter(|a| matches.value_source(a.get_id().as_str()) == Some(ValueSource::CommandLine))
            .map(|a| match a.get_long() {
                Some(long) => format!("--{long}"),
                None => format!("<{}>", a.get_id().as_str().to_uppercase()),
            })
            .collect();
        if !misplaced.is_empty() {
            let what = misplaced.join(", ");
            let takes_them = command.find_subcommand(name).is_some_and(|sub| {
                misplaced.iter().all(|m| {
                    sub.get_arguments()
                        .any(|a| a.get_long().is_some_and(|l| m == &format!("--{l}")))
                })
            });
            let message = if takes_them {
                format!(
                    "{what}: `{name}`'s options go after `{name}` (hint: `airlock {name} {what} ...`)"
                )
            } else {
                format!(
                    "{what}: an option of `up`, which `{name}` does not take and would ignore \
                     (hint: drop it, or run `airlock up` with it)"
                )
            };
            return Err(command.error(clap::error::ErrorKind::ArgumentConflict, message));
        }
    }
    Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command))
}

fn validate(path: &Path, args: &TemplateArgs) -> anyhow::Result<()> {
    let loaded = template::load(Some(path), args)?;
    let stack = &loaded.stack;
    tracing::debug!(
        file = %path.display(),
        http_apis = stack.http_apis.len(),
        load_balancers = stack.load_balancers.len(),
        services = stack.services.len(),
        "stack file parsed and checked"
    );
    match &loaded.template {
        None => out(format_args!("{}: valid\n", path.display()))?,
        Some(report) => {
            out(format_args!(
                "{}: valid (a CloudFormation template; `airlock convert` prints the stack it runs as)\n",
                path.display()
            ))?;
            if let Some(line) = report.accepted_line() {
                out(format_args!("{line}\n"))?;
            }
            for w in &report.warnings {
                out(format_args!("warning: {w}\n"))?;
            }
        }
    }
    Ok(())
}

/// Prints the stack file a template runs as; what was accepted without running and the
/// warnings go to stderr, so the output can be saved and run as it is.
fn convert(path: &Path, args: &TemplateArgs) -> anyhow::Result<()> {
    let loaded = template::load(Some(path), args)?;
    let Some(report) = loaded.template else {
        anyhow::bail!(
            "{}: an airlock stack file already, not a CloudFormation template (hint: a template's \
             top level has `Resources` whose entries have `Type: AWS::…`)",
            path.display()
        );
    };
    out(format_args!("{}", report.yaml))?;
    if let Some(line) = report.accepted_line() {
        eprintln!("{line}");
    }
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    Ok(())
}

fn token(args: &TokenArgs) -> anyhow::Result<()> {
    let issuer = airlock_pki::Issuer::load_or_create(&args.state_dir, airlock_pki::LOCAL_ISSUER)
        .context("loading the local issuer key")?;
    tracing::debug!(state_dir = %args.state_dir.display(), "local issuer key loaded");
    let aud = args.aud.as_deref().unwrap_or("pets-client");
    let mut req = airlock_pki::TokenRequest::new(args.sub.clone(), aud);
    req.scopes = args.scope.split_whitespace().map(str::to_owned).collect();
    req.expires_in = args.expires_in;
    req.extra_claims.extend(args.claims.iter().cloned());
    match (&args.user_pool, &args.stack) {
        (Some(pool), Some(path)) => {
            let stack = template::load(Some(path), &args.template)?.stack;
            req = airlock_stack::user_pool_token(&stack, pool, args.client.as_deref(), req)?;
        }
        _ => template::refuse_template_options(&args.template, "a token without --user-pool")?,
    }
    let token = issuer.mint(&req)?;
    tracing::debug!(sub = %args.sub, user_pool = ?args.user_pool, expires_in = args.expires_in, "token minted");
    out(format_args!("{token}\n"))?;
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
/// thread of its own per further shard (see `airlock_net::shards`): each connection is served on
/// one shard, with every in-process hop it leads to, so a request through the chain stays on one
/// core. `--worker-threads` (or `AIRLOCK_WORKER_THREADS`) sets the number of shards, this
/// thread included; 0 or unset means one per core.
fn runtime(args: RuntimeArgs) -> anyhow::Result<tokio::runtime::Runtime> {
    let shards = match args.worker_threads {
        Some(n) if n > 0 => usize::from(n),
        _ => std::thread::available_parallelism().map_or(1, usize::from),
    };
    tracing::debug!(shards, "starting the runtime threads");
    let main = airlock_net::shards::runtime().context("starting the async runtime")?;
    let mut handles = vec![main.handle().clone()];
    for index in 1..shards {
        handles.push(airlock_net::shards::spawn(index).context("starting a runtime thread")?);
    }
    airlock_net::shards::install(handles);
    Ok(main)
}

fn demo(args: RuntimeArgs) -> anyhow::Result<()> {
    let outcome = runtime(args)?.block_on(async {
        // Listening before the first line is printed, so a signal at any later moment stops
        // the stack the demo started rather than killing the process under it.
        let stop = signals::Stop::listen()?;
        demo::run(stop).await
    })?;
    match outcome {
        demo::Outcome::AsAws => Ok(()),
        demo::Outcome::NotAsAws => anyhow::bail!("the demo saw behaviour AWS would not show"),
        demo::Outcome::Stopped(signal) => {
            anyhow::bail!("the demo was stopped by {signal} before its last step")
        }
    }
}

fn load_stack(path: Option<&Path>) -> anyhow::Result<airlock_config::Stack> {
    Ok(template::load(path, &TemplateArgs::default())?.stack)
}

/// Prints the explanation; `Ok(true)` when the path is open, `Ok(false)` when it is blocked.
fn explain(
    stack_file: Option<&Path>,
    from: &str,
    to: &str,
    args: RuntimeArgs,
) -> anyhow::Result<bool> {
    let stack = load_stack(stack_file)?;
    let explanation = runtime(args)?.block_on(async {
        // The stack may run `command` tasks (own process groups, which a terminal's Ctrl-C
        // does not reach): a signal stops them with the stack instead of orphaning them.
        let mut stop = signals::Stop::listen()?;
        let running = tokio::select! {
            biased;
            signal = stop.received() => anyhow::bail!("stopped by {signal}"),
            running = RunningStack::start_ephemeral(stack) => running?,
        };
        let explanation = running.explain(from, to).map_err(|e| anyhow::anyhow!(e));
        running.stop().await;
        explanation
    })?;
    out(format_args!("from {from} to {to}:\n{explanation}"))?;
    Ok(explanation.reachable())
}

fn up(args: UpArgs) -> anyhow::Result<()> {
    // Parse and validate before anything binds: a bad file (or template) starts nothing.
    let template::Loaded { stack, template } =
        template::load(args.stack_file.as_deref(), &args.template)?;
    let reach = template::Reach::of(&stack);
    let source = args.stack_file.as_ref().map_or_else(
        || "the built-in default stack".to_owned(),
        |p| p.display().to_string(),
    );
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
    runtime(args.runtime)?.block_on(async move {
        // Listening from before the stack starts: a signal during start-up, or right after
        // the banner, stops it gracefully instead of killing the process with tasks running.
        let mut stop = signals::Stop::listen()?;
        let mut options = Options::new(args.state_dir.clone());
        options.ports = ports;
        options.listen_ip = args.listen_address;
        options.docker_vpc = args.docker_vpc;
        options.pull_images = args.pull;
        options.access_log_rotation = airlock_net::logfile::Rotation {
            max_bytes: args.access_log_max_bytes,
            max_files: args.access_log_max_files,
        };
        options.trace_capacity = args.trace_capacity;
        let running = RunningStack::start(stack, options)
            .await
            .with_context(|| format!("starting {source}"))?;
        let mut endpoints = running.endpoints().to_json();
        // A field added beside the others, so readers of the earlier shape keep working: the
        // template's Outputs by name (empty for a stack file).
        endpoints["outputs"] = template.as_ref().map_or_else(
            || template::outputs_json(&[]),
            template::TemplateReport::outputs_json,
        );
        if let Some(path) = &args.endpoints_json {
            let json = serde_json::to_string_pretty(&endpoints)?;
            std::fs::write(path, json + "\n")
                .with_context(|| format!("writing {}", path.display()))?;
        }
        let banner = running.banner()?;
        let shown = match &template {
            None => out(format_args!("{banner}\n")),
            Some(report) => out(format_args!(
                "{}\n{}\nPress Ctrl-C to stop.\n\n",
                template::banner_endpoints(&banner),
                template::serving_text(report, &reach, &endpoints)
            )),
        };
        // A closed standard output (a reader that went away) does not stop a running stack.
        if let Err(e) = shown {
            tracing::warn!(error = %e, "the banner could not be written to standard output");
        }
        let signal = stop.received().await;
        // Both signals mean the same here: finish what is in flight, stop the tasks, keep the
        // state directory. A second signal during the stop is not needed and not acted on.
        tracing::info!(%signal, "shutting down…");
        running.stop().await;
        tracing::info!("stopped");
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    /// The allocator gives memory freed after a burst back to the system by itself: jemalloc's
    /// background thread is configured on (the crate's `background_threads` feature) and
    /// running, so an idle shard thread's freed pages do not stay resident
    /// (docs/PERFORMANCE.md "Memory after load").
    #[test]
    fn the_allocator_purges_from_a_background_thread() {
        assert!(
            tikv_jemalloc_ctl::opt::background_thread::read().expect("opt.background_thread"),
            "jemalloc was built without background_thread:true"
        );
        assert!(
            tikv_jemalloc_ctl::background_thread::read().expect("background_thread"),
            "jemalloc's background thread is not enabled"
        );
    }
}
