//! airlock's load harness: starts the `airlock` binary as a separate process on free ports and,
//! in one run, measures the private-API chain against the direct path to a task, then start-up
//! time and memory, and reports them against the budgets of docs/PERFORMANCE.md.
//!
//! Three paths carry the same request (`GET /pets` with a bearer token):
//! (a) `direct`: plain HTTP to one task's loopback port, the physical limit;
//! (b) `alb`: a SOCKS5 tunnel through the `vpc` vantage point to the load balancer's name, then
//! HTTPS; (c) `chain`: HTTPS to the API Gateway, which verifies the JWT and goes through the
//! VPC link and the load balancer to a task.
//! Server CPU time comes from the airlock process's own accounting (`/proc/<pid>/stat`), so
//! the load generator's CPU is excluded; memory from `/proc/<pid>/status` and `smaps_rollup`.
//!
//! Architecture invariant: the harness knows airlock only from the outside (its command line,
//! `--endpoints-json`, the admin endpoint and the wire). It runs no airlock component in its own
//! process, so it measures exactly what users run; it links airlock-stack only for its test
//! clients (TLS trust, the SOCKS5 handshake).

mod load;
mod process;
mod report;
pub mod stackgen;

pub use load::{Amount, Outcome};
pub use process::Memory;
pub use report::Resources;
pub use report::{Budget, Machine, Path as MeasuredPath, Report, Round, Run, StackFigures, Start};

use airlock_stack::client;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;
use load::{Shape, Target};
use process::Airlock;
use rustls_pki_types::{CertificateDer, ServerName};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a freshly started stack may take to answer 200 through the chain.
const FIRST_200_LIMIT: Duration = Duration::from_secs(60);

/// Errors of the harness.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A socket or file operation failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// An HTTP exchange failed.
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    /// A request could not be built.
    #[error("request: {0}")]
    Request(#[from] http::Error),
    /// The shared client code (TLS trust, the SOCKS5 handshake) failed.
    #[error(transparent)]
    Client(#[from] client::ClientError),
    /// The airlock binary could not be started.
    #[error(
        "starting {binary}: {source} (hint: `cargo build --release -p airlock`, or pass --airlock)"
    )]
    Spawn {
        /// The binary.
        binary: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The airlock process exited before serving (its log is in the state directory).
    #[error("airlock exited before serving")]
    Exited,
    /// The airlock process did not print its banner in time.
    #[error("airlock did not start in time")]
    StartTimeout,
    /// The endpoints file was not what `--endpoints-json` writes.
    #[error("endpoints file: {0}")]
    Endpoints(String),
    /// A `/proc` file could not be read.
    #[error("reading /proc: {0}")]
    Proc(String),
    /// The vantage point refused the tunnel.
    #[error("SOCKS5: {0}")]
    Socks(String),
    /// A load worker panicked.
    #[error("load worker: {0}")]
    Worker(String),
    /// The default stack no longer has the text the generator grows it from.
    #[error("generating the big stack: the default stack has no `{0}` any more")]
    Generate(String),
    /// A setup request was not answered as expected.
    #[error("{what}: {detail}")]
    Setup {
        /// Which step.
        what: &'static str,
        /// What was seen.
        detail: String,
    },
}

/// What to measure, and how long.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `airlock` binary (release for figures, debug for the smoke test).
    pub airlock: PathBuf,
    /// How long each load measurement lasts, all its rounds together.
    pub duration: Duration,
    /// Each measurement is split into this many rounds, the paths taking turns, so that a busy
    /// moment of a shared machine weighs on every path alike rather than on whichever ran then.
    pub rounds: usize,
    /// Connection counts to measure at.
    pub connections: Vec<usize>,
    /// Cold starts whose median is the start-up figure.
    pub cold_starts: usize,
    /// Upper bound on the requests of one measurement.
    pub max_requests: u64,
    /// Idle time before the idle memory reading.
    pub settle: Duration,
    /// Quiet time after the load before memory and descriptors are read again: what the stack
    /// still holds once a burst is over.
    pub quiet: Duration,
    /// Whether to measure the generated big stack too.
    pub big_stack: bool,
    /// The request path of every measurement.
    pub path: String,
    /// Which paths to load (all three for the figures; one, to profile it).
    pub paths: Vec<MeasuredPath>,
    /// Whether to measure what tracing costs: the default stack again with tracing off
    /// (`--trace-capacity 0`), its chain loaded in the same rounds as the traced one's.
    pub trace_cost: bool,
}

impl Options {
    /// The full run: 5 s per measurement, 5 cold starts, the big stack included.
    pub fn full(airlock: PathBuf) -> Options {
        Options {
            airlock,
            duration: Duration::from_secs(5),
            rounds: 10,
            connections: vec![64, 1],
            cold_starts: 5,
            max_requests: 5_000_000,
            settle: Duration::from_secs(1),
            quiet: Duration::from_secs(5),
            big_stack: true,
            path: "/pets".to_owned(),
            paths: vec![MeasuredPath::Direct, MeasuredPath::Alb, MeasuredPath::Chain],
            trace_cost: true,
        }
    }

    /// A short run for the smoke test and a first look: figures are indicative only.
    pub fn quick(airlock: PathBuf) -> Options {
        Options {
            duration: Duration::from_secs(1),
            rounds: 1,
            cold_starts: 2,
            settle: Duration::from_millis(200),
            ..Options::full(airlock)
        }
    }
}

/// Runs every measurement and returns the report (budgets evaluated).
pub async fn run(options: &Options) -> Result<Report, BenchError> {
    let state = tempfile::Builder::new()
        .prefix("airlock-bench-")
        .tempdir()?;
    let default_dir = state.path().join("default");
    std::fs::create_dir_all(&default_dir)?;
    // The first start ever creates the CA and the issuer key; later starts (and every start a
    // user makes after their first) load them. Both are reported; budgets use the latter.
    let first = Airlock::start(&options.airlock, None, &default_dir).await?;
    let first_start = first.spawned.elapsed();
    first.stop().await;
    let token = mint_token(&options.airlock, &default_dir).await?;

    let mut stacks = vec![start_stack(options, None, &default_dir, &token).await?];
    let mut big_index = None;
    if options.big_stack {
        let size = stackgen::Size::ISSUE;
        let yaml = stackgen::generate(airlock_config::DEFAULT_STACK_YAML, size)?;
        // Its own state directory (logs, endpoints file) holding the same CA and issuer key, so
        // the two stacks can run side by side and the one token is valid on both.
        let big_dir = state.path().join("big");
        std::fs::create_dir_all(&big_dir)?;
        copy_keys(&default_dir, &big_dir)?;
        let file = big_dir.join("big-stack.yaml");
        std::fs::write(&file, yaml)?;
        let mut big = start_stack(options, Some(&file), &big_dir, &token).await?;
        big.size = Some(size);
        big_index = Some(stacks.len());
        stacks.push(big);
    }
    let mut untraced_index = None;
    if options.trace_cost && options.paths.contains(&MeasuredPath::Chain) {
        // The default stack again, tracing off: only its chain is loaded, each round right
        // beside the traced stack's, so the pair of runs shares the machine's moment.
        let dir = state.path().join("untraced");
        std::fs::create_dir_all(&dir)?;
        copy_keys(&default_dir, &dir)?;
        let airlock =
            Airlock::start_with(&options.airlock, None, &dir, &["--trace-capacity", "0"]).await?;
        let banner = airlock.spawned.elapsed();
        let first_200 = first_200(&airlock, &token).await?;
        tokio::time::sleep(options.settle).await;
        let idle = Resources::of(&airlock)?;
        untraced_index = Some(stacks.len());
        stacks.push(Started {
            airlock,
            size: None,
            starts: vec![Start {
                banner_ms: ms(banner),
                first_200_ms: ms(first_200),
            }],
            idle,
            paths: Some(vec![MeasuredPath::Chain]),
        });
    }
    let mut figures: Vec<Option<StackFigures>> = load_stacks(options, stacks, &token)
        .await?
        .into_iter()
        .map(Some)
        .collect();
    let mut take = |index: Option<usize>| index.and_then(|i| figures.get_mut(i)?.take());
    let default = take(Some(0)).ok_or(BenchError::Exited)?;
    let (big, untraced) = (take(big_index), take(untraced_index));
    Ok(Report::new(
        Machine::detect(),
        options,
        first_start,
        default,
        big,
        untraced,
    ))
}

/// Copies the CA and the issuer key (`*.pem`) of one state directory into another, so that a
/// second stack can run beside the first and the one token is valid on both.
fn copy_keys(from: &Path, to: &Path) -> Result<(), BenchError> {
    for entry in std::fs::read_dir(from)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "pem")
            && let Some(name) = path.file_name()
        {
            std::fs::copy(&path, to.join(name))?;
        }
    }
    Ok(())
}

/// A stack after its cold starts, idle, waiting for its load.
struct Started {
    airlock: Airlock,
    size: Option<stackgen::Size>,
    starts: Vec<Start>,
    idle: Resources,
    /// The only paths loaded on this stack (`None`: all of `Options::paths`).
    paths: Option<Vec<MeasuredPath>>,
}

/// Cold-starts the stack `options.cold_starts` times (each to its first 200 through the chain)
/// and keeps the last one running, idle memory read.
async fn start_stack(
    options: &Options,
    stack_file: Option<&Path>,
    state_dir: &Path,
    token: &str,
) -> Result<Started, BenchError> {
    let mut starts = Vec::new();
    let mut stack = None;
    for _ in 0..options.cold_starts.max(1) {
        if let Some(previous) = stack.take() {
            Airlock::stop(previous).await;
        }
        let airlock = Airlock::start(&options.airlock, stack_file, state_dir).await?;
        let banner = airlock.spawned.elapsed();
        let first_200 = first_200(&airlock, token).await?;
        starts.push(Start {
            banner_ms: ms(banner),
            first_200_ms: ms(first_200),
        });
        stack = Some(airlock);
    }
    let airlock = stack.ok_or(BenchError::Exited)?;
    tokio::time::sleep(options.settle).await;
    let idle = Resources::of(&airlock)?;
    Ok(Started {
        airlock,
        size: None,
        starts,
        idle,
        paths: None,
    })
}

/// The three paths of one started stack.
async fn targets(airlock: &Airlock) -> Result<Vec<(MeasuredPath, Target)>, BenchError> {
    let ca = CertificateDer::from(pem_to_der(&std::fs::read_to_string(
        &airlock.endpoints.ca_cert,
    )?)?);
    let tls = Arc::new(client::tls_config(ca, None)?);
    let e = &airlock.endpoints;
    let sni = ServerName::try_from(e.custom_domain.clone()).map_err(|_| BenchError::Setup {
        what: "custom domain",
        detail: e.custom_domain.clone(),
    })?;
    let task_port = task_host_port(airlock).await?;
    let all = [
        (
            MeasuredPath::Direct,
            Target::Direct(([127, 0, 0, 1], task_port).into()),
        ),
        (
            MeasuredPath::Alb,
            Target::Socks {
                proxy: e.socks_vpc,
                name: e.alb_dns_name.clone(),
                port: 443,
                sni: sni.clone(),
                tls: tls.clone(),
            },
        ),
        (
            MeasuredPath::Chain,
            Target::Https {
                addr: e.gateway,
                sni,
                tls,
            },
        ),
    ];
    Ok(all.into())
}

/// Loads every chosen path of every stack, at each connection count, in rounds: within a round
/// every path of every stack takes its turn, so that a busy moment of a shared machine weighs on
/// all alike and the two stacks' figures can be compared with each other directly. Each stack's
/// CPU time is its own process's, so a stack waiting for its turn adds nothing to the other's.
async fn load_stacks(
    options: &Options,
    stacks: Vec<Started>,
    token: &str,
) -> Result<Vec<StackFigures>, BenchError> {
    // Path by path, the stacks one after the other: a path's runs on the two stacks are
    // neighbours in time, so a busy moment of the machine falls on both.
    let mut by_stack = Vec::new();
    for stack in &stacks {
        let mut targets = targets(&stack.airlock).await?;
        if let Some(only) = &stack.paths {
            targets.retain(|(p, _)| only.contains(p));
        }
        by_stack.push(targets);
    }
    let mut turns = Vec::new();
    for path in [MeasuredPath::Direct, MeasuredPath::Alb, MeasuredPath::Chain] {
        if !options.paths.contains(&path) {
            continue;
        }
        for (index, targets) in by_stack.iter().enumerate() {
            for (p, target) in targets.iter().filter(|(p, _)| *p == path) {
                turns.push((index, *p, target.clone()));
            }
        }
    }
    let custom_domain = stacks
        .first()
        .map(|s| s.airlock.endpoints.custom_domain.clone())
        .unwrap_or_default();
    let shape =
        Shape {
            path: options.path.clone(),
            host: custom_domain.parse().map_err(|_| BenchError::Setup {
                what: "host header",
                detail: custom_domain.clone(),
            })?,
            authorization: Some(format!("Bearer {token}").parse().map_err(|_| {
                BenchError::Setup {
                    what: "token",
                    detail: "not a header value".into(),
                }
            })?),
        };
    let rounds = options.rounds.max(1);
    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); stacks.len()];
    for &connections in &options.connections {
        let amount = Amount {
            connections,
            duration: options.duration / rounds as u32,
            max_requests: options.max_requests / rounds as u64,
        };
        let mut totals: Vec<Option<(load::Outcome, Duration)>> = vec![None; turns.len()];
        let mut per_round: Vec<Vec<report::Round>> = vec![Vec::new(); turns.len()];
        for round in 0..rounds {
            // Every other round the stacks swap places within each path, so that neither
            // always runs second (after the other has warmed or worn the machine).
            let mut order: Vec<usize> = (0..turns.len()).collect();
            if round % 2 == 1 {
                for group in order.chunk_by_mut(|&a, &b| turns[a].1 == turns[b].1) {
                    group.reverse();
                }
            }
            for turn in order {
                let (index, _, target) = &turns[turn];
                let (total, figures) = (&mut totals[turn], &mut per_round[turn]);
                let airlock = &stacks[*index].airlock;
                let mut clock = Vec::with_capacity(2);
                let mut clock_error = None;
                let outcome = load::run(target, &shape, amount, || match airlock.cpu_time() {
                    Ok(t) => clock.push(t),
                    Err(e) => clock_error = Some(e),
                })
                .await?;
                if let Some(e) = clock_error {
                    return Err(e);
                }
                let cpu = match clock.as_slice() {
                    [before, after] => after.saturating_sub(*before),
                    _ => Duration::ZERO,
                };
                figures.push(report::Round::new(&outcome, cpu));
                match total {
                    Some((sum, sum_cpu)) => {
                        sum.merge(outcome);
                        *sum_cpu += cpu;
                    }
                    None => *total = Some((outcome, cpu)),
                }
            }
        }
        for (((index, path, _), total), figures) in turns.iter().zip(totals).zip(per_round) {
            if let Some((outcome, cpu)) = total {
                runs[*index].push(Run::new(*path, connections, &outcome, cpu, figures));
            }
        }
    }
    let mut after_load = Vec::new();
    for stack in &stacks {
        after_load.push(Resources::of(&stack.airlock)?);
    }
    // The stacks are quiet together: one wait, then each is read again.
    tokio::time::sleep(options.quiet).await;
    let mut figures = Vec::new();
    for ((stack, runs), after_load) in stacks.into_iter().zip(runs).zip(after_load) {
        let after_quiet = Resources::of(&stack.airlock)?;
        stack.airlock.stop().await;
        figures.push(StackFigures {
            size: stack.size,
            starts: stack.starts,
            idle: stack.idle,
            after_load,
            after_quiet,
            quiet_seconds: options.quiet.as_secs_f64(),
            runs,
        });
    }
    Ok(figures)
}

/// Polls the chain until it answers 200; returns the time since the process was spawned.
async fn first_200(airlock: &Airlock, token: &str) -> Result<Duration, BenchError> {
    let e = &airlock.endpoints;
    let ca = CertificateDer::from(pem_to_der(&std::fs::read_to_string(&e.ca_cert)?)?);
    let target = Target::Https {
        addr: e.gateway,
        sni: ServerName::try_from(e.custom_domain.clone()).map_err(|_| BenchError::Setup {
            what: "custom domain",
            detail: e.custom_domain.clone(),
        })?,
        tls: Arc::new(client::tls_config(ca, None)?),
    };
    let shape = Shape {
        path: "/pets".into(),
        host: e.custom_domain.parse().map_err(|_| BenchError::Setup {
            what: "host header",
            detail: e.custom_domain.clone(),
        })?,
        authorization: format!("Bearer {token}").parse().ok(),
    };
    let give_up = Instant::now() + FIRST_200_LIMIT;
    let mut last = String::new();
    while Instant::now() < give_up {
        let attempt = async {
            let mut sender = load::connect(&target).await?;
            load::once(&mut sender, &shape).await
        };
        match attempt.await {
            Ok(200) => return Ok(airlock.spawned.elapsed()),
            Ok(status) => last = format!("status {status}"),
            Err(e) => last = e.to_string(),
        }
        // A start-up poll, not test synchronisation: 1 ms is the figure's resolution.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Err(BenchError::Setup {
        what: "first 200 through the chain",
        detail: last,
    })
}

/// The loopback port of the first running task, from the admin endpoint's `/status`.
async fn task_host_port(airlock: &Airlock) -> Result<u16, BenchError> {
    let json = admin_get(airlock.endpoints.admin, "/status").await?;
    json["services"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["tasks"].as_array().into_iter().flatten())
        .find_map(|t| t["host_port"].as_u64())
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| BenchError::Setup {
            what: "a task's host port",
            detail: "no task with a host_port in /status".into(),
        })
}

async fn admin_get(
    addr: std::net::SocketAddr,
    path: &str,
) -> Result<serde_json::Value, BenchError> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(conn);
    let req = http::Request::get(path)
        .header(http::header::HOST, addr.to_string())
        .body(Empty::<Bytes>::new())?;
    let body = sender
        .send_request(req)
        .await?
        .into_body()
        .collect()
        .await?;
    serde_json::from_slice(&body.to_bytes()).map_err(|e| BenchError::Setup {
        what: "admin /status",
        detail: e.to_string(),
    })
}

/// A token for the default audience from `airlock token` (the issuer key is in `state_dir`).
async fn mint_token(airlock: &Path, state_dir: &Path) -> Result<String, BenchError> {
    let out = tokio::process::Command::new(airlock)
        .arg("token")
        .arg("--state-dir")
        .arg(state_dir)
        .arg("--scope")
        .arg("pets/read")
        .output()
        .await?;
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || token.is_empty() {
        return Err(BenchError::Setup {
            what: "airlock token",
            detail: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(token)
}

/// The first certificate of a PEM file, as DER.
fn pem_to_der(pem: &str) -> Result<Vec<u8>, BenchError> {
    use rustls_pki_types::pem::PemObject as _;
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map(|c| c.to_vec())
        .map_err(|e| BenchError::Setup {
            what: "CA certificate",
            detail: e.to_string(),
        })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Where the `airlock` binary of `profile` is expected: next to this executable (a
/// `cargo run -p airlock-bench` build puts both in the same target directory) or under
/// `CARGO_TARGET_DIR` / the workspace's `target/`.
pub fn find_airlock(profile: &str) -> Option<PathBuf> {
    let name = format!("airlock{}", std::env::consts::EXE_SUFFIX);
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        candidates.push(dir.join(&name));
        if let Some(parent) = dir.parent() {
            candidates.push(parent.join(&name));
        }
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    candidates.push(target.join(profile).join(&name));
    candidates
        .into_iter()
        .filter(|c| c.ends_with(Path::new(profile).join(&name)))
        .find(|c| c.is_file())
}
