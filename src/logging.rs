//! Where the log filter comes from, and the two formats logs are written in.
//!
//! One filter for every subcommand, chosen by the first of these that is given:
//! 1. `-q` (warnings and errors only) or `-v`/`-vv` (debug / trace for airlock's own targets,
//!    everything else at the subcommand's default): the command line is the most specific wish;
//! 2. `AIRLOCK_LOG`, an airlock-only filter (kept from before `RUST_LOG` was read);
//! 3. `RUST_LOG`, the filter every `tracing`/`env_logger` program reads;
//! 4. the subcommand's default: `info` for `up` (a server's log is its output), warnings for the
//!    one-shot commands, whose output is what they print on stdout.
//!
//! Every choice but an explicit environment filter keeps the DNS server's per-query lines
//! quiet ([`airlock_dns::LOG_DIRECTIVES`]) and hyper's and rustls's chatter at warnings.

use clap::{ArgAction, Args, ValueEnum};
use std::io::IsTerminal as _;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime as _, SystemTime};

/// The environment variables read for a filter, most specific first.
const FILTER_VARS: [&str; 2] = ["AIRLOCK_LOG", "RUST_LOG"];

/// The flags that choose what is logged and how; global, so they may stand before or after any
/// subcommand.
#[derive(Args, Clone, Debug)]
pub struct LogArgs {
    /// More detail from airlock's own components: -v debug, -vv trace (overrides AIRLOCK_LOG
    /// and RUST_LOG).
    #[arg(short, long, action = ArgAction::Count, global = true, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Log warnings and errors only (overrides AIRLOCK_LOG and RUST_LOG).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// How log lines are written to stderr: `text`, or `json` (one JSON object per line, the
    /// event's fields flattened beside `timestamp`, `level` and `target`).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

/// The shape of a log line.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable, one line per event.
    Text,
    /// One JSON object per line.
    Json,
}

/// The level of the default filter of a subcommand.
#[derive(Clone, Copy, Debug)]
pub enum DefaultLevel {
    /// `up`: lifecycle events (tasks started and stopped, task output) are its output.
    Info,
    /// One-shot commands: only what went wrong.
    Warn,
}

impl DefaultLevel {
    fn as_str(self) -> &'static str {
        match self {
            DefaultLevel::Info => "info",
            DefaultLevel::Warn => "warn",
        }
    }
}

/// Installs the process's subscriber. Fails on a filter variable that does not parse: a typo in
/// `RUST_LOG` silently logging nothing would be worse than refusing to start.
pub fn init(args: &LogArgs, level: DefaultLevel) -> anyhow::Result<()> {
    let filter = filter(args, level, |name| std::env::var(name).ok())?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match args.log_format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .compact()
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("installing the logger: {e}"))
}

/// The filter `args` and the environment (read through `var`) choose; see the module's doc.
fn filter(
    args: &LogArgs,
    level: DefaultLevel,
    var: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<EnvFilter> {
    let quiet_deps = format!("hyper=warn,rustls=warn,{}", airlock_dns::LOG_DIRECTIVES);
    let flags = if args.quiet {
        Some(format!("warn,{}", airlock_dns::LOG_DIRECTIVES))
    } else {
        // A directive's target matches by prefix, so `airlock` covers every airlock crate
        // (`airlock_gateway`, ...) and the `airlock::` targets; the DNS directive is more
        // specific and still wins.
        match args.verbose {
            0 => None,
            1 => Some(format!("{},{quiet_deps},airlock=debug", level.as_str())),
            _ => Some(format!("{},{quiet_deps},airlock=trace", level.as_str())),
        }
    };
    if let Some(directives) = flags {
        return EnvFilter::builder()
            .parse(&directives)
            .map_err(|e| anyhow::anyhow!("the filter {directives:?} does not parse: {e}"));
    }
    for name in FILTER_VARS {
        if let Some(value) = var(name).filter(|v| !v.trim().is_empty()) {
            return EnvFilter::builder()
                .parse(&value)
                .map_err(|e| anyhow::anyhow!("{name}={value:?} is not a log filter: {e}"));
        }
    }
    let directives = format!("{},{quiet_deps}", level.as_str());
    EnvFilter::builder()
        .parse(&directives)
        .map_err(|e| anyhow::anyhow!("the filter {directives:?} does not parse: {e}"))
}

/// Reports the error a command ended with on stderr, in the log's format, whatever the filter:
/// it is the command's answer (for `validate`, its whole report), not a log line.
pub fn report_error(format: LogFormat, error: &anyhow::Error) {
    let message = format!("{error:#}");
    match format {
        LogFormat::Text => eprintln!("error: {message}"),
        LogFormat::Json => {
            // The same fields as the logger's JSON lines, so one parser reads both.
            let mut timestamp = String::new();
            let _ = SystemTime.format_time(&mut Writer::new(&mut timestamp));
            let line = format!(
                r#"{{"timestamp":{},"level":"ERROR","message":{},"target":"airlock"}}"#,
                serde_json::Value::from(timestamp),
                serde_json::Value::from(message)
            );
            eprintln!("{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn args(verbose: u8, quiet: bool) -> LogArgs {
        LogArgs {
            verbose,
            quiet,
            log_format: LogFormat::Text,
        }
    }

    fn chosen(args: &LogArgs, env: &[(&str, &str)]) -> String {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        filter(args, DefaultLevel::Info, |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
        .unwrap()
        .to_string()
    }

    #[test]
    fn flags_win_over_airlock_log_which_wins_over_rust_log() {
        let both = [("AIRLOCK_LOG", "airlock=trace"), ("RUST_LOG", "debug")];
        let quiet = chosen(&args(0, true), &both);
        assert!(
            quiet
                .split(',')
                .all(|d| d.ends_with("=warn") || d == "warn"),
            "{quiet}"
        );
        assert!(chosen(&args(1, false), &both).contains("airlock=debug"));
        assert!(chosen(&args(2, false), &both).contains("airlock=trace"));
        assert_eq!(chosen(&args(0, false), &both), "airlock=trace");
        assert_eq!(chosen(&args(0, false), &[("RUST_LOG", "debug")]), "debug");
        // An empty variable counts as unset.
        assert_eq!(
            chosen(
                &args(0, false),
                &[("AIRLOCK_LOG", " "), ("RUST_LOG", "debug")]
            ),
            "debug"
        );
    }

    #[test]
    fn every_default_keeps_dns_queries_quiet() {
        for a in [
            args(0, false),
            args(1, false),
            args(2, false),
            args(0, true),
        ] {
            let f = chosen(&a, &[]);
            assert!(f.contains(airlock_dns::LOG_DIRECTIVES), "{f}");
        }
    }
}
