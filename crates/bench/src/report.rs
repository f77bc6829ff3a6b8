//! The figures, the budgets they are held to, and the table and JSON they are printed as.

use crate::Options;
use crate::load::Outcome;
use crate::process::Memory;
use crate::stackgen::Size;
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
}

impl Run {
    pub(crate) fn new(path: Path, connections: usize, o: &Outcome, cpu: Duration) -> Run {
        Run {
            path,
            connections,
            requests: o.requests,
            requests_per_second: o.requests_per_second(),
            p50_us: u64::try_from(o.percentile(0.50).as_micros()).unwrap_or(u64::MAX),
            p99_us: u64::try_from(o.percentile(0.99).as_micros()).unwrap_or(u64::MAX),
            cpu_us_per_request: cpu.as_secs_f64() * 1e6 / (o.requests.max(1) as f64),
            statuses: o.statuses.clone(),
            errors: o.errors,
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

/// Everything measured on one stack.
#[derive(Debug, Clone, Serialize)]
pub struct StackFigures {
    /// The generated size; `None` for the default stack.
    pub size: Option<Size>,
    /// Each cold start.
    pub starts: Vec<Start>,
    /// Memory once started and idle.
    pub idle: Memory,
    /// Memory after every load measurement.
    pub after_load: Memory,
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

    /// A figure of the chain at the most connections measured.
    fn chain_at_most(&self, f: fn(&Run) -> f64) -> Option<f64> {
        self.run(Path::Chain, self.most_connections()).map(f)
    }

    /// A figure of the chain at the fewest connections measured.
    fn chain_at_fewest(&self, f: fn(&Run) -> f64) -> Option<f64> {
        self.run(Path::Chain, self.fewest_connections()).map(f)
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
    /// The budgets.
    pub budgets: Vec<Budget>,
}

const MIB: f64 = 1024.0;

fn cpu(r: &Run) -> f64 {
    r.cpu_us_per_request
}

fn rps(r: &Run) -> f64 {
    r.requests_per_second
}

fn p50(r: &Run) -> f64 {
    r.p50_us as f64
}

impl Report {
    pub(crate) fn new(
        machine: Machine,
        options: &Options,
        first_start: Duration,
        default: StackFigures,
        big: Option<StackFigures>,
    ) -> Report {
        let mut report = Report {
            machine,
            airlock: options.airlock.display().to_string(),
            seconds_per_measurement: options.duration.as_secs_f64(),
            first_start_with_key_generation_ms: first_start.as_secs_f64() * 1000.0,
            default,
            big,
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
                Some(d.idle.rss_kib as f64 / MIB),
                20.0,
                " MiB",
            ),
        ];
        if let Some(g) = &self.big {
            b.push(at_most(
                "big stack: start to first 200",
                Some(g.first_200_ms()),
                200.0,
                " ms",
            ));
            b.push(at_most(
                "big stack: idle resident memory (RSS)",
                Some(g.idle.rss_kib as f64 / MIB),
                40.0,
                " MiB",
            ));
            // The chain's own figures, stack against stack: the two stacks run side by side and
            // take turns within every round, so the machine's drift weighs on both alike.
            // (Dividing each by its own direct path, as an earlier version did, added the direct
            // path's noise twice and measured nothing more: the task behind it is the same.)
            // Throughput is compared the other way round: less of it is worse.
            let worse = |big: Option<f64>, default: Option<f64>| match (big, default) {
                (Some(b), Some(d)) if d > 0.0 => Some((b / d - 1.0) * 100.0),
                _ => None,
            };
            b.push(at_most(
                "big stack: chain CPU per request vs default's",
                worse(g.chain_at_most(cpu), d.chain_at_most(cpu)),
                10.0,
                "% worse",
            ));
            b.push(at_most(
                "big stack: chain throughput vs default's",
                worse(d.chain_at_most(rps), g.chain_at_most(rps)),
                10.0,
                "% worse",
            ));
            b.push(at_most(
                "big stack: chain p50 at 1 connection vs default's",
                worse(g.chain_at_fewest(p50), d.chain_at_fewest(p50)),
                10.0,
                "% worse",
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
            let _ = writeln!(
                out,
                "  {verdict}  {:<50} {:>14}  (limit {})",
                b.name, b.value, b.limit
            );
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
        "  memory: idle RSS {:.1} MiB, PSS {:.1} MiB; after load RSS {:.1} MiB, PSS {:.1} MiB",
        s.idle.rss_kib as f64 / MIB,
        s.idle.pss_kib as f64 / MIB,
        s.after_load.rss_kib as f64 / MIB,
        s.after_load.pss_kib as f64 / MIB
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
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
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn median_of_even_and_odd_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(vec![]), 0.0);
    }

    #[test]
    fn budget_verdicts() {
        assert_eq!(at_most("x", Some(5.0), 5.0, "×").pass, Some(true));
        assert_eq!(at_most("x", Some(5.1), 5.0, "×").pass, Some(false));
        assert_eq!(at_least("x", Some(24.0), 25.0, "%").pass, Some(false));
        assert_eq!(at_least("x", None, 25.0, "%").pass, None);
    }

    /// The generated stack is held to the default stack's chain figures themselves: a direct
    /// path that happened to run faster on one side does not move the verdict.
    #[test]
    fn big_stack_is_compared_on_the_chain_itself() {
        let run = |path, connections, cpu: f64, rps: f64, p50: u64| Run {
            path,
            connections,
            requests: 1000,
            requests_per_second: rps,
            p50_us: p50,
            p99_us: p50 * 2,
            cpu_us_per_request: cpu,
            statuses: BTreeMap::from([(200, 1000)]),
            errors: 0,
        };
        let memory = Memory {
            rss_kib: 14 * 1024,
            pss_kib: 12 * 1024,
        };
        let stack =
            |direct_cpu: f64, chain_cpu: f64, chain_rps: f64, chain_p50: u64| StackFigures {
                size: None,
                starts: vec![Start {
                    banner_ms: 5.0,
                    first_200_ms: 8.0,
                }],
                idle: memory,
                after_load: memory,
                runs: vec![
                    run(Path::Direct, 64, direct_cpu, 90_000.0, 400),
                    run(Path::Chain, 64, chain_cpu, chain_rps, 2000),
                    run(Path::Direct, 1, 30.0, 13_000.0, 70),
                    run(Path::Chain, 1, 120.0, 5_000.0, chain_p50),
                ],
            };
        let options = Options::full("airlock".into());
        let machine = Machine {
            cpu: "test".into(),
            cpus: 2,
            kernel: "test".into(),
        };
        // Default: chain 40 µs over a direct path of 10; big: chain 42 µs (+5 %) over a
        // direct path of 8. Dividing by each direct path would call that 31 % worse.
        let report = Report::new(
            machine.clone(),
            &options,
            Duration::from_millis(100),
            stack(10.0, 40.0, 30_000.0, 160),
            Some(stack(8.0, 42.0, 28_500.0, 168)),
        );
        let budget = |name: &str| {
            report
                .budgets
                .iter()
                .find(|b| b.name.starts_with(name))
                .cloned()
                .unwrap()
        };
        let cpu = budget("big stack: chain CPU");
        assert_eq!(cpu.value, "5.00% worse");
        assert_eq!(cpu.pass, Some(true));
        let rps = budget("big stack: chain throughput");
        assert_eq!(rps.value, "5.26% worse");
        assert_eq!(budget("big stack: chain p50").value, "5.00% worse");

        // 12 % more CPU on the chain itself is a miss whatever the direct paths did.
        let report = Report::new(
            machine,
            &options,
            Duration::from_millis(100),
            stack(10.0, 40.0, 30_000.0, 160),
            Some(stack(12.0, 44.8, 30_000.0, 160)),
        );
        let cpu = report
            .budgets
            .iter()
            .find(|b| b.name.starts_with("big stack: chain CPU"))
            .unwrap();
        assert_eq!(cpu.pass, Some(false), "{}", cpu.value);
    }
}
