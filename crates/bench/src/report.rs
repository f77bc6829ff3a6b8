//! The figures, the budgets they are held to, and the table and JSON they are printed as.

use crate::load::Outcome;
use crate::process::{Airlock, Memory};
use crate::stackgen::Size;
use crate::{BenchError, Options};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// The three measured paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Path {
    /// Plain HTTP to one task's loopback port.
    Direct,
    /// SOCKS5 through the `vpc` vantage point, then HTTPS to the load balancer.
    Alb,
    /// HTTPS to the API Gateway with a JWT, through the VPC link and the load balancer.
    Chain,
}

impl Path {
    fn label(self) -> &'static str {
        match self {
            Path::Direct => "(a) direct",
            Path::Alb => "(b) alb",
            Path::Chain => "(c) chain",
        }
    }
}

/// One load measurement.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// Which path.
    pub path: Path,
    /// Concurrent keep-alive connections.
    pub connections: usize,
    /// Requests answered.
    pub requests: u64,
    /// Answers per second.
    pub requests_per_second: f64,
    /// Median latency, microseconds.
    pub p50_us: u64,
    /// 99th percentile latency, microseconds.
    pub p99_us: u64,
    /// airlock's CPU time (user + system, all threads) per answered request, microseconds.
    pub cpu_us_per_request: f64,
    /// Answers by status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests without an answer.
    pub errors: u64,
    /// Each round's own figures, in the order they ran.
    pub rounds: Vec<Round>,
}

/// One round of a load measurement.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Round {
    /// airlock's CPU time per answered request, microseconds.
    pub cpu_us_per_request: f64,
    /// Answers per second.
    pub requests_per_second: f64,
    /// Median latency, microseconds.
    pub p50_us: u64,
}

impl Round {
    /// A whole run's figures, as if it were one round.
    fn of(run: &Run) -> Round {
        Round {
            cpu_us_per_request: run.cpu_us_per_request,
            requests_per_second: run.requests_per_second,
            p50_us: run.p50_us,
        }
    }

    pub(crate) fn new(o: &Outcome, cpu: Duration) -> Round {
        Round {
            cpu_us_per_request: cpu.as_secs_f64() * 1e6 / (o.requests.max(1) as f64),
            requests_per_second: o.requests_per_second(),
            p50_us: u64::try_from(o.percentile(0.50).as_micros()).unwrap_or(u64::MAX),
        }
    }
}

impl Run {
    pub(crate) fn new(
        path: Path,
        connections: usize,
        o: &Outcome,
        cpu: Duration,
        rounds: Vec<Round>,
    ) -> Run {
        // The whole run's figures are worked out as one round's are.
        let total = Round::new(o, cpu);
        Run {
            path,
            connections,
            requests: o.requests,
            requests_per_second: total.requests_per_second,
            p50_us: total.p50_us,
            p99_us: u64::try_from(o.percentile(0.99).as_micros()).unwrap_or(u64::MAX),
            cpu_us_per_request: total.cpu_us_per_request,
            statuses: o.statuses.clone(),
            errors: o.errors,
            rounds,
        }
    }

    /// Whether every request was answered 200.
    pub fn only_200(&self) -> bool {
        self.errors == 0 && self.requests > 0 && self.statuses.keys().all(|s| *s == 200)
    }
}

/// One cold start.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Start {
    /// Process start → banner printed (every listener serves).
    pub banner_ms: f64,
    /// Process start → first 200 through the whole chain.
    pub first_200_ms: f64,
}

/// What the process holds at one moment: memory and open file descriptors.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Resources {
    /// Resident and proportional set sizes.
    #[serde(flatten)]
    pub memory: Memory,
    /// Open file descriptors (`/proc/<pid>/fd`): sockets, files, pipes.
    pub open_fds: usize,
}

impl Resources {
    pub(crate) fn of(airlock: &Airlock) -> Result<Resources, BenchError> {
        Ok(Resources {
            memory: airlock.memory()?,
            open_fds: airlock.open_fds()?,
        })
    }

    fn rss_mib(&self) -> f64 {
        self.memory.rss_kib as f64 / MIB
    }
}

/// Everything measured on one stack.
#[derive(Debug, Clone, Serialize)]
pub struct StackFigures {
    /// The generated size; `None` for the default stack.
    pub size: Option<Size>,
    /// Each cold start.
    pub starts: Vec<Start>,
    /// Once started and idle.
    pub idle: Resources,
    /// Right after the last load measurement.
    pub after_load: Resources,
    /// After `quiet_seconds` without load: what the stack still holds once a burst is over.
    pub after_quiet: Resources,
    /// Seconds of quiet before `after_quiet` was read.
    pub quiet_seconds: f64,
    /// The load measurements.
    pub runs: Vec<Run>,
}

impl StackFigures {
    /// Median of the cold starts' time to the first 200 through the chain.
    pub fn first_200_ms(&self) -> f64 {
        median(self.starts.iter().map(|s| s.first_200_ms).collect())
    }

    /// Median of the cold starts' time to the banner.
    pub fn banner_ms(&self) -> f64 {
        median(self.starts.iter().map(|s| s.banner_ms).collect())
    }

    /// The measurement of `path` at `connections`.
    pub fn run(&self, path: Path, connections: usize) -> Option<&Run> {
        self.runs
            .iter()
            .find(|r| r.path == path && r.connections == connections)
    }

    fn ratio(&self, path: Path, connections: usize, f: impl Fn(&Run) -> f64) -> Option<f64> {
        let direct = f(self.run(Path::Direct, connections)?);
        let other = f(self.run(path, connections)?);
        (direct > 0.0).then(|| other / direct)
    }

    fn most_connections(&self) -> usize {
        self.runs.iter().map(|r| r.connections).max().unwrap_or(0)
    }

    fn fewest_connections(&self) -> usize {
        self.runs.iter().map(|r| r.connections).min().unwrap_or(0)
    }

    /// Chain CPU per request over direct's, at the most connections measured.
    pub fn chain_cpu_ratio(&self) -> Option<f64> {
        self.ratio(Path::Chain, self.most_connections(), |r| {
            r.cpu_us_per_request
        })
    }

    /// Chain throughput over direct's, at the most connections measured.
    pub fn chain_throughput_ratio(&self) -> Option<f64> {
        self.ratio(Path::Chain, self.most_connections(), |r| {
            r.requests_per_second
        })
    }

    /// Chain median latency over direct's, at the fewest connections measured.
    pub fn chain_p50_ratio(&self) -> Option<f64> {
        self.ratio(Path::Chain, self.fewest_connections(), |r| r.p50_us as f64)
    }

    /// Resident memory after the quiet time over idle resident memory.
    pub fn rss_after_quiet_ratio(&self) -> Option<f64> {
        let idle = self.idle.memory.rss_kib as f64;
        (idle > 0.0).then(|| self.after_quiet.memory.rss_kib as f64 / idle)
    }
}

/// The machine the figures came from.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPU model name.
    pub cpu: String,
    /// Logical CPUs available to the process.
    pub cpus: usize,
    /// Kernel release.
    pub kernel: String,
}

impl Machine {
    /// Reads the machine's description from `/proc`.
    pub fn detect() -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        Machine {
            cpu,
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| "unknown".into()),
        }
    }
}

/// One budget and how the run fared against it.
#[derive(Debug, Clone, Serialize)]
pub struct Budget {
    /// What is limited.
    pub name: String,
    /// The limit, as text.
    pub limit: String,
    /// The measured value, as text (`n/a` when not measured).
    pub value: String,
    /// Whether the value is within the limit (`None` when not measured).
    pub pass: Option<bool>,
    /// For a figure that is the median of paired rounds: the middle half of the rounds' values
    /// (first and third quartile, in the value's unit), to show how far the machine's noise
    /// reaches. A value near the limit with a wide spread is a verdict the next run may flip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rounds_middle_half: Option<[f64; 2]>,
}

/// A whole run's results.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The machine.
    pub machine: Machine,
    /// The binary measured.
    pub airlock: String,
    /// Seconds per load measurement.
    pub seconds_per_measurement: f64,
    /// The very first start, which creates the CA and the issuer key (ms).
    pub first_start_with_key_generation_ms: f64,
    /// The default stack.
    pub default: StackFigures,
    /// The generated big stack, when measured.
    pub big: Option<StackFigures>,
    /// The default stack again with tracing off (`--trace-capacity 0`), only its chain loaded,
    /// when what tracing costs was measured.
    pub untraced: Option<StackFigures>,
    /// The budgets.
    pub budgets: Vec<Budget>,
}

const MIB: f64 = 1024.0;

/// Resident memory a few seconds after the load may be at most this many times the idle
/// figure: what a burst took must come back, not stay for the life of the process.
const RSS_AFTER_QUIET_LIMIT: f64 = 1.5;

/// Tracing, on by default, may add at most this much CPU per chain request (in %).
const TRACING_LIMIT: f64 = 3.0;

/// How much worse (in %) `big` is than `default`: the median over rounds of each round's
/// ratio (the rounds of the two ran side by side), with the middle half of those ratios; or
/// the totals' ratio without rounds.
fn paired_worse(
    big: &Run,
    default: &Run,
    f: fn(&Round) -> f64,
    higher_is_worse: bool,
) -> Option<(f64, Option<[f64; 2]>)> {
    let ratio = |b: f64, d: f64| {
        let (worse, better) = if higher_is_worse { (b, d) } else { (d, b) };
        (better > 0.0).then(|| worse / better)
    };
    let ratios: Vec<f64> = big
        .rounds
        .iter()
        .zip(&default.rounds)
        .filter_map(|(b, d)| ratio(f(b), f(d)))
        .collect();
    let worse = |r: f64| (r - 1.0) * 100.0;
    if ratios.is_empty() {
        let r = ratio(f(&Round::of(big)), f(&Round::of(default)))?;
        return Some((worse(r), None));
    }
    let [q1, q3] = quartiles(&ratios);
    Some((worse(median(ratios)), Some([worse(q1), worse(q3)])))
}

impl Report {
    pub(crate) fn new(
        machine: Machine,
        options: &Options,
        first_start: Duration,
        default: StackFigures,
        big: Option<StackFigures>,
        untraced: Option<StackFigures>,
    ) -> Report {
        let mut report = Report {
            machine,
            airlock: options.airlock.display().to_string(),
            seconds_per_measurement: options.duration.as_secs_f64(),
            first_start_with_key_generation_ms: first_start.as_secs_f64() * 1000.0,
            default,
            big,
            untraced,
            budgets: Vec::new(),
        };
        report.budgets = report.evaluate();
        report
    }

    fn evaluate(&self) -> Vec<Budget> {
        let d = &self.default;
        let mut b = vec![
            at_most(
                "chain CPU per request vs direct",
                d.chain_cpu_ratio(),
                5.0,
                "×",
            ),
            at_least(
                "chain throughput at 64 connections vs direct",
                d.chain_throughput_ratio().map(|r| r * 100.0),
                25.0,
                "%",
            ),
            at_most(
                "chain p50 latency at 1 connection vs direct",
                d.chain_p50_ratio(),
                5.0,
                "×",
            ),
            at_most(
                "start to first 200 through the chain",
                Some(d.first_200_ms()),
                50.0,
                " ms",
            ),
            at_most(
                "idle resident memory (RSS)",
                Some(d.idle.rss_mib()),
                20.0,
                " MiB",
            ),
            at_most(
                &format!("RSS {} s after load vs idle", d.quiet_seconds),
                d.rss_after_quiet_ratio(),
                RSS_AFTER_QUIET_LIMIT,
                "×",
            ),
        ];
        if let Some(off) = &self.untraced {
            // Tracing is on by default; its cost is the traced chain's CPU per request against
            // the same stack's with `--trace-capacity 0`, the two loaded side by side in every
            // round, so each round gives one paired ratio (as for the big stack below). Wall-
            // clock CPU on a shared machine is noisy at this scale: the instruction count
            // (crates/bench/callgrind/trace_cost.sh) is the precise figure.
            let figure = d
                .run(Path::Chain, d.most_connections())
                .zip(off.run(Path::Chain, d.most_connections()))
                .and_then(|(on, off)| paired_worse(on, off, |r| r.cpu_us_per_request, true));
            b.push(Budget {
                rounds_middle_half: figure.and_then(|(_, spread)| spread),
                ..at_most(
                    "tracing: chain CPU per request, on vs off",
                    figure.map(|(v, _)| v),
                    TRACING_LIMIT,
                    "% more",
                )
            });
        }
        if let Some(g) = &self.big {
            b.push(at_most(
                "big stack: start to first 200",
                Some(g.first_200_ms()),
                200.0,
                " ms",
            ));
            b.push(at_most(
                "big stack: idle resident memory (RSS)",
                Some(g.idle.rss_mib()),
                40.0,
                " MiB",
            ));
            b.push(at_most(
                &format!("big stack: RSS {} s after load vs idle", g.quiet_seconds),
                g.rss_after_quiet_ratio(),
                RSS_AFTER_QUIET_LIMIT,
                "×",
            ));
            // The chain's own figures, stack against stack. The two stacks run side by side and
            // a path's runs on both are neighbours within every round, so each round gives one
            // paired ratio and the median of those is the figure: a busy moment of the machine
            // moves one round, not the verdict. (Dividing each stack by its own direct path,
            // as an earlier version did, added the direct path's noise twice.)
            let (most, fewest) = (d.most_connections(), d.fewest_connections());
            let paired = |conns, f: fn(&Round) -> f64, higher_is_worse| {
                let (big, default) = (g.run(Path::Chain, conns)?, d.run(Path::Chain, conns)?);
                paired_worse(big, default, f, higher_is_worse)
            };
            let within_10 = |name: &str, figure: Option<(f64, Option<[f64; 2]>)>| Budget {
                rounds_middle_half: figure.and_then(|(_, spread)| spread),
                ..at_most(name, figure.map(|(v, _)| v), 10.0, "% worse")
            };
            b.push(within_10(
                "big stack: chain CPU per request vs default's",
                paired(most, |r| r.cpu_us_per_request, true),
            ));
            b.push(within_10(
                "big stack: chain throughput vs default's",
                paired(most, |r| r.requests_per_second, false),
            ));
            b.push(within_10(
                "big stack: chain p50 at 1 connection vs default's",
                paired(fewest, |r| r.p50_us as f64, true),
            ));
        }
        b
    }

    /// Whether every measured budget passed.
    pub fn all_budgets_pass(&self) -> bool {
        self.budgets.iter().all(|b| b.pass != Some(false))
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let _ = writeln!(
            out,
            "airlock-bench: {} ({} CPUs, Linux {}), {} s per measurement\nbinary: {}",
            m.cpu, m.cpus, m.kernel, self.seconds_per_measurement, self.airlock
        );
        stack_table(&mut out, "default stack", &self.default);
        if let Some(big) = &self.big {
            let title = big.size.map_or_else(
                || "generated stack".to_owned(),
                |s| {
                    format!(
                        "generated stack: {} routes, {} listener rules, {} tasks",
                        s.routes, s.listener_rules, s.tasks
                    )
                },
            );
            stack_table(&mut out, &title, big);
        }
        if let Some(off) = &self.untraced {
            stack_table(
                &mut out,
                "default stack, tracing off (--trace-capacity 0): the chain only",
                off,
            );
        }
        let _ = writeln!(
            out,
            "\nfirst start ever (creates the CA and the issuer key): {:.1} ms",
            self.first_start_with_key_generation_ms
        );
        let _ = writeln!(out, "\nbudgets (default stack unless said; release build):");
        for b in &self.budgets {
            let verdict = match b.pass {
                Some(true) => "PASS",
                Some(false) => "MISS",
                None => "n/a ",
            };
            let _ = write!(
                out,
                "  {verdict}  {:<50} {:>14}  (limit {}",
                b.name, b.value, b.limit
            );
            if let Some([low, high]) = b.rounds_middle_half {
                let _ = write!(out, "; middle half of rounds {low:.1} to {high:.1}");
            }
            let _ = writeln!(out, ")");
        }
        out
    }
}

fn stack_table(out: &mut String, title: &str, s: &StackFigures) {
    let _ = writeln!(out, "\n{title}");
    let _ = writeln!(
        out,
        "  {:<11} {:>5} {:>9} {:>9} {:>9} {:>10} {:>7} {:>7} {:>7}  statuses",
        "path", "conns", "req/s", "p50 µs", "p99 µs", "CPU µs/req", "×rps", "×p50", "×CPU"
    );
    for r in &s.runs {
        let direct = s.run(Path::Direct, r.connections);
        let ratio = |f: fn(&Run) -> f64| {
            direct
                .map(f)
                .filter(|d| *d > 0.0)
                .map_or_else(|| "-".to_owned(), |d| format!("{:.2}", f(r) / d))
        };
        let statuses: Vec<String> = r
            .statuses
            .iter()
            .map(|(k, v)| format!("{k}×{v}"))
            .chain((r.errors > 0).then(|| format!("errors×{}", r.errors)))
            .collect();
        let _ = writeln!(
            out,
            "  {:<11} {:>5} {:>9.0} {:>9} {:>9} {:>10.1} {:>7} {:>7} {:>7}  {}",
            r.path.label(),
            r.connections,
            r.requests_per_second,
            r.p50_us,
            r.p99_us,
            r.cpu_us_per_request,
            ratio(|r| r.requests_per_second),
            ratio(|r| r.p50_us as f64),
            ratio(|r| r.cpu_us_per_request),
            statuses.join(" ")
        );
    }
    let starts: Vec<String> = s
        .starts
        .iter()
        .map(|x| format!("{:.1}", x.first_200_ms))
        .collect();
    let _ = writeln!(
        out,
        "  start: banner {:.1} ms, first 200 through the chain {:.1} ms (median of [{}])",
        s.banner_ms(),
        s.first_200_ms(),
        starts.join(", ")
    );
    let _ = writeln!(
        out,
        "  memory: idle RSS {:.1} MiB, PSS {:.1} MiB; after load RSS {:.1} MiB, PSS {:.1} MiB; \
         {} s later RSS {:.1} MiB, PSS {:.1} MiB",
        s.idle.rss_mib(),
        s.idle.memory.pss_kib as f64 / MIB,
        s.after_load.rss_mib(),
        s.after_load.memory.pss_kib as f64 / MIB,
        s.quiet_seconds,
        s.after_quiet.rss_mib(),
        s.after_quiet.memory.pss_kib as f64 / MIB,
    );
    let _ = writeln!(
        out,
        "  open descriptors: idle {}, after load {}, {} s later {}",
        s.idle.open_fds, s.after_load.open_fds, s.quiet_seconds, s.after_quiet.open_fds
    );
}

/// The `qs` quantiles of `v` (linear interpolation between closest ranks: the median of an
/// even count is the mean of the middle two); 0 for an empty `v`.
fn quantiles<const N: usize>(v: &[f64], qs: [f64; N]) -> [f64; N] {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    qs.map(|q| {
        let Some(last) = v.len().checked_sub(1) else {
            return 0.0;
        };
        let pos = q * last as f64;
        let i = pos.floor() as usize;
        let next = v[(i + 1).min(last)];
        v[i] + (next - v[i]) * pos.fract()
    })
}

/// The first and third quartiles.
fn quartiles(v: &[f64]) -> [f64; 2] {
    quantiles(v, [0.25, 0.75])
}

fn median(v: Vec<f64>) -> f64 {
    let [m] = quantiles(&v, [0.5]);
    m
}

fn at_most(name: &str, value: Option<f64>, limit: f64, unit: &str) -> Budget {
    budget(name, value, format!("≤ {limit}{unit}"), unit, |v| {
        v <= limit
    })
}

fn at_least(name: &str, value: Option<f64>, limit: f64, unit: &str) -> Budget {
    budget(name, value, format!("≥ {limit}{unit}"), unit, |v| {
        v >= limit
    })
}

fn budget(
    name: &str,
    value: Option<f64>,
    limit: String,
    unit: &str,
    ok: impl Fn(f64) -> bool,
) -> Budget {
    Budget {
        name: name.to_owned(),
        limit,
        value: value.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.2}{unit}")),
        pass: value.map(ok),
        rounds_middle_half: None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A stack's figures with one quick start and `memory` at every moment.
    fn stack_figures(memory: Resources, runs: Vec<Run>) -> StackFigures {
        StackFigures {
            size: None,
            starts: vec![Start {
                banner_ms: 5.0,
                first_200_ms: 8.0,
            }],
            idle: memory,
            after_load: memory,
            after_quiet: memory,
            quiet_seconds: 5.0,
            runs,
        }
    }

    #[test]
    fn median_and_quartiles() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(vec![]), 0.0);
        assert_eq!(quartiles(&[5.0, 1.0, 3.0, 2.0, 4.0]), [2.0, 4.0]);
        assert_eq!(quartiles(&[1.0, 2.0, 3.0, 4.0]), [1.75, 3.25]);
        assert_eq!(quartiles(&[]), [0.0, 0.0]);
    }

    #[test]
    fn budget_verdicts() {
        assert_eq!(at_most("x", Some(5.0), 5.0, "×").pass, Some(true));
        assert_eq!(at_most("x", Some(5.1), 5.0, "×").pass, Some(false));
        assert_eq!(at_least("x", Some(24.0), 25.0, "%").pass, Some(false));
        assert_eq!(at_least("x", None, 25.0, "%").pass, None);
    }

    /// Memory a burst took must come back: the figure after the quiet time is held to 1.5× the
    /// idle one, and the table shows descriptors beside it.
    #[test]
    fn memory_after_the_quiet_time_is_held_to_the_idle_figure() {
        let at = |rss_mib: u64, open_fds: usize| Resources {
            memory: Memory {
                rss_kib: rss_mib * 1024,
                pss_kib: rss_mib * 1024,
            },
            open_fds,
        };
        let report = |after_quiet: Resources| {
            let figures = StackFigures {
                size: None,
                starts: vec![Start {
                    banner_ms: 5.0,
                    first_200_ms: 8.0,
                }],
                idle: at(14, 28),
                after_load: at(40, 28),
                after_quiet,
                quiet_seconds: 5.0,
                runs: Vec::new(),
            };
            let machine = Machine {
                cpu: "test".into(),
                cpus: 2,
                kernel: "test".into(),
            };
            let options = Options::full("airlock".into());
            Report::new(
                machine,
                &options,
                Duration::from_millis(100),
                figures,
                None,
                None,
            )
        };
        let verdict = |r: &Report| {
            let b = r
                .budgets
                .iter()
                .find(|b| b.name == "RSS 5 s after load vs idle")
                .unwrap();
            (b.value.clone(), b.pass)
        };
        let within = report(at(21, 29));
        assert_eq!(verdict(&within), ("1.50×".into(), Some(true)));
        let table = within.table();
        assert!(
            table.contains("open descriptors: idle 28, after load 28, 5 s later 29"),
            "{table}"
        );
        assert!(table.contains("5 s later RSS 21.0 MiB"), "{table}");
        assert_eq!(verdict(&report(at(22, 28))).1, Some(false));
        let json = serde_json::to_value(&within).unwrap();
        assert_eq!(json["default"]["after_quiet"]["open_fds"], 29);
        assert_eq!(json["default"]["after_quiet"]["rss_kib"], 21 * 1024);
    }

    /// The generated stack is held to the default stack's chain figures themselves, round by
    /// round: a direct path that happened to run faster on one side does not move the verdict,
    /// and neither does one busy round.
    #[test]
    fn big_stack_is_compared_on_the_chain_itself_round_by_round() {
        let round = |cpu: f64, rps: f64, p50: u64| Round {
            cpu_us_per_request: cpu,
            requests_per_second: rps,
            p50_us: p50,
        };
        // A run whose totals are its rounds' means.
        let run = |path, connections, rounds: Vec<Round>| {
            let n = rounds.len().max(1) as f64;
            Run {
                path,
                connections,
                requests: 1000,
                requests_per_second: rounds.iter().map(|r| r.requests_per_second).sum::<f64>() / n,
                p50_us: (rounds.iter().map(|r| r.p50_us).sum::<u64>() as f64 / n) as u64,
                p99_us: 5000,
                cpu_us_per_request: rounds.iter().map(|r| r.cpu_us_per_request).sum::<f64>() / n,
                statuses: BTreeMap::from([(200, 1000)]),
                errors: 0,
                rounds,
            }
        };
        let memory = Resources {
            memory: Memory {
                rss_kib: 14 * 1024,
                pss_kib: 12 * 1024,
            },
            open_fds: 30,
        };
        let stack = |direct_cpu: f64, chain64: Vec<Round>, chain1: Vec<Round>| {
            stack_figures(
                memory,
                vec![
                    run(Path::Direct, 64, vec![round(direct_cpu, 90_000.0, 400)]),
                    run(Path::Chain, 64, chain64),
                    run(Path::Direct, 1, vec![round(30.0, 13_000.0, 70)]),
                    run(Path::Chain, 1, chain1),
                ],
            )
        };
        let report = |default: StackFigures, big: StackFigures| {
            let machine = Machine {
                cpu: "test".into(),
                cpus: 2,
                kernel: "test".into(),
            };
            let options = Options::full("airlock".into());
            Report::new(
                machine,
                &options,
                Duration::from_millis(100),
                default,
                Some(big),
                None,
            )
        };
        let verdict = |r: &Report, name: &str| {
            let b = r.budgets.iter().find(|b| b.name.starts_with(name)).unwrap();
            (b.value.clone(), b.pass)
        };
        let same = |cpu, rps, p50| vec![round(cpu, rps, p50); 5];

        // Default: chain 40 µs over a direct path of 10. Big: 42 µs (+5 %) over a direct path
        // of 8, one round at 60 µs while the machine was busy. Dividing by each direct path
        // would say +31 %; the totals +14 %; round by round it is +5 %.
        let mut big64 = same(42.0, 28_500.0, 2000);
        big64[2] = round(60.0, 20_000.0, 2000);
        let r = report(
            stack(10.0, same(40.0, 30_000.0, 2000), same(120.0, 5000.0, 160)),
            stack(8.0, big64, same(126.0, 4800.0, 168)),
        );
        assert_eq!(
            verdict(&r, "big stack: chain CPU"),
            ("5.00% worse".into(), Some(true))
        );
        assert_eq!(
            verdict(&r, "big stack: chain throughput"),
            ("5.26% worse".into(), Some(true))
        );
        assert_eq!(
            verdict(&r, "big stack: chain p50"),
            ("5.00% worse".into(), Some(true))
        );

        // 12 % more CPU in most rounds is a miss whatever the direct paths did.
        let r = report(
            stack(10.0, same(40.0, 30_000.0, 2000), same(120.0, 5000.0, 160)),
            stack(12.0, same(44.8, 30_000.0, 2000), same(120.0, 5000.0, 160)),
        );
        assert_eq!(verdict(&r, "big stack: chain CPU").1, Some(false));

        // The rounds' spread is reported with the median: rounds 10 % better to 20 % worse.
        let big64 = [36.0, 40.0, 42.0, 44.0, 48.0]
            .map(|cpu| round(cpu, 28_500.0, 2000))
            .to_vec();
        let r = report(
            stack(10.0, same(40.0, 30_000.0, 2000), same(120.0, 5000.0, 160)),
            stack(10.0, big64, same(120.0, 5000.0, 160)),
        );
        let cpu = r
            .budgets
            .iter()
            .find(|b| b.name.starts_with("big stack: chain CPU"))
            .unwrap();
        assert_eq!(cpu.value, "5.00% worse");
        let [low, high] = cpu.rounds_middle_half.unwrap();
        assert!(
            low.abs() < 1e-9 && (high - 10.0).abs() < 1e-9,
            "{low} {high}"
        );
        assert!(r.table().contains("middle half of rounds 0.0 to 10.0"));

        // Figures without rounds (a report read back from elsewhere) compare by their totals.
        let without_rounds = |mut s: StackFigures| {
            for r in &mut s.runs {
                r.rounds.clear();
            }
            s
        };
        let r = report(
            without_rounds(stack(
                10.0,
                same(40.0, 30_000.0, 2000),
                same(120.0, 5000.0, 160),
            )),
            without_rounds(stack(
                10.0,
                same(46.0, 30_000.0, 2000),
                same(120.0, 5000.0, 160),
            )),
        );
        assert_eq!(
            verdict(&r, "big stack: chain CPU"),
            ("15.00% worse".into(), Some(false))
        );
    }

    /// What tracing costs is the traced chain against the same stack's chain with tracing
    /// off, round by round (the two ran side by side), held to 3 % more CPU per request.
    #[test]
    fn tracing_cost_is_the_chain_on_against_off_round_by_round() {
        let run = |path, cpus: &[f64]| {
            let rounds: Vec<Round> = cpus
                .iter()
                .map(|&cpu| Round {
                    cpu_us_per_request: cpu,
                    requests_per_second: 30_000.0,
                    p50_us: 2000,
                })
                .collect();
            Run {
                path,
                connections: 64,
                requests: 1000,
                requests_per_second: 30_000.0,
                p50_us: 2000,
                p99_us: 5000,
                cpu_us_per_request: cpus.iter().sum::<f64>() / cpus.len() as f64,
                statuses: BTreeMap::from([(200, 1000)]),
                errors: 0,
                rounds,
            }
        };
        let stack = |runs| stack_figures(Resources::default(), runs);
        let report = |on: &[f64], off: &[f64]| {
            let machine = Machine {
                cpu: "test".into(),
                cpus: 2,
                kernel: "test".into(),
            };
            Report::new(
                machine,
                &Options::full("airlock".into()),
                Duration::from_millis(100),
                stack(vec![run(Path::Direct, &[10.0]), run(Path::Chain, on)]),
                None,
                Some(stack(vec![run(Path::Chain, off)])),
            )
        };
        let verdict = |r: &Report| {
            let b = r
                .budgets
                .iter()
                .find(|b| b.name == "tracing: chain CPU per request, on vs off")
                .unwrap();
            (b.value.clone(), b.pass, b.rounds_middle_half.is_some())
        };
        // +2 % in every round but one busy one (+50 %): the median says +2 %.
        let r = report(&[40.8, 40.8, 60.0, 40.8, 40.8], &[40.0; 5]);
        assert_eq!(verdict(&r), ("2.00% more".into(), Some(true), true));
        assert!(r.table().contains("tracing off (--trace-capacity 0)"));
        assert!(serde_json::to_value(&r).unwrap()["untraced"]["runs"].is_array());
        // +5 % in most rounds is a miss.
        let r = report(&[42.0, 42.0, 42.0, 40.0, 42.0], &[40.0; 5]);
        assert_eq!(verdict(&r).1, Some(false));
        // Without the untraced stack there is no such budget.
        let r = Report::new(
            Machine::detect(),
            &Options::full("airlock".into()),
            Duration::from_millis(100),
            stack(vec![run(Path::Chain, &[40.0])]),
            None,
            None,
        );
        assert!(r.budgets.iter().all(|b| !b.name.starts_with("tracing")));
    }
}
