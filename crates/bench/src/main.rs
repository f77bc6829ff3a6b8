//! `airlock-bench`: measures the chain against the direct path and prints the figures with the
//! budgets (see docs/PERFORMANCE.md).
//!
//! ```text
//! cargo build --release -p airlock && cargo run --release -p airlock-bench [-- --json out.json]
//! ```

use anyhow::Context as _;
use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "airlock-bench",
    about = "Load harness: the private-API chain against the direct path, start-up time and \
             memory, held to the budgets of docs/PERFORMANCE.md"
)]
struct Cli {
    /// The airlock binary; by default the release build next to this one.
    #[arg(long)]
    airlock: Option<PathBuf>,
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// A short run (1 s per measurement, 2 cold starts): indicative figures only.
    #[arg(long)]
    quick: bool,
    /// Seconds per load measurement (overrides the mode's).
    #[arg(long)]
    seconds: Option<f64>,
    /// Rounds each measurement is split into, the paths taking turns (overrides the mode's).
    #[arg(long)]
    rounds: Option<usize>,
    /// Cold starts to take the median of (overrides the mode's).
    #[arg(long)]
    cold_starts: Option<usize>,
    /// Seconds of quiet after the load before memory and descriptors are read again (the
    /// budget is set for 5).
    #[arg(long)]
    quiet_seconds: Option<f64>,
    /// Skip the generated stack of 300 routes, 100 listener rules and 50 tasks.
    #[arg(long)]
    no_big_stack: bool,
    /// Skip the measurement of what tracing costs (the default stack again with
    /// `--trace-capacity 0`, its chain loaded beside the traced one's).
    #[arg(long)]
    no_trace_cost: bool,
    /// Load only these paths (`direct`, `alb`, `chain`; repeatable), e.g. while profiling one.
    #[arg(long, value_parser = parse_path)]
    only: Vec<airlock_bench::MeasuredPath>,
    /// Exit 1 when a budget is missed.
    #[arg(long)]
    strict: bool,
}

fn main() -> anyhow::Result<std::process::ExitCode> {
    let cli = Cli::parse();
    let airlock = match cli.airlock {
        Some(path) => path,
        None => airlock_bench::find_airlock("release").context(
            "no release airlock binary next to this one (hint: `cargo build --release -p airlock`, \
             or pass --airlock PATH)",
        )?,
    };
    let mut options = if cli.quick {
        airlock_bench::Options::quick(airlock)
    } else {
        airlock_bench::Options::full(airlock)
    };
    if let Some(s) = cli.seconds {
        options.duration = Duration::from_secs_f64(s);
    }
    if let Some(n) = cli.rounds {
        options.rounds = n;
    }
    if let Some(n) = cli.cold_starts {
        options.cold_starts = n;
    }
    if let Some(s) = cli.quiet_seconds {
        options.quiet = Duration::from_secs_f64(s);
    }
    options.big_stack = !cli.no_big_stack;
    options.trace_cost = !cli.no_trace_cost;
    if !cli.only.is_empty() {
        options.paths = cli.only;
    }
    // Two workers: enough to keep 64 connections busy without taking every core from the
    // stack under test on a small machine.
    let report = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(airlock_bench::run(&options))?;
    print!("{}", report.table());
    if let Some(path) = &cli.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(if cli.strict && !report.all_budgets_pass() {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    })
}

fn parse_path(s: &str) -> Result<airlock_bench::MeasuredPath, String> {
    use airlock_bench::MeasuredPath;
    match s {
        "direct" => Ok(MeasuredPath::Direct),
        "alb" => Ok(MeasuredPath::Alb),
        "chain" => Ok(MeasuredPath::Chain),
        _ => Err(format!("{s:?} is not one of direct, alb, chain")),
    }
}
