//! The stack under test as a separate process, so its CPU time and memory are its own (the
//! load generator's are not mixed in) and a cold start is a real process start.

use crate::BenchError;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt as _;

/// How long a stack may take to print its banner before the harness gives up.
const START_LIMIT: Duration = Duration::from_secs(120);

/// `/proc/<pid>/stat` counts CPU time in USER_HZ ticks, which the kernel fixes at 100 for
/// user space on every architecture Linux runs on (it is part of the ABI, unlike `HZ`).
const USER_HZ: u64 = 100;

/// The addresses the harness needs, read from `--endpoints-json`.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// The API Gateway (HTTPS).
    pub gateway: SocketAddr,
    /// The admin endpoint (HTTP, JSON).
    pub admin: SocketAddr,
    /// The `vpc` vantage point (SOCKS5).
    pub socks_vpc: SocketAddr,
    /// The CA certificate file.
    pub ca_cert: PathBuf,
    /// The DNS name of the first load balancer.
    pub alb_dns_name: String,
    /// The first custom domain (the name the default stack is called by).
    pub custom_domain: String,
}

/// A running `airlock up`, killed on drop.
pub struct Airlock {
    child: tokio::process::Child,
    pid: u32,
    /// When the process was spawned.
    pub spawned: Instant,
    /// Where it listens.
    pub endpoints: Endpoints,
}

impl Airlock {
    /// Starts `binary up [stack_file] --ephemeral-ports` with its state in `state_dir`, and
    /// returns once it printed its banner (everything serves; tasks are registered).
    pub async fn start(
        binary: &Path,
        stack_file: Option<&Path>,
        state_dir: &Path,
    ) -> Result<Airlock, BenchError> {
        Airlock::start_with(binary, stack_file, state_dir, &[]).await
    }

    /// Like [`Airlock::start`], with more options for `up` (e.g. `--trace-capacity 0`).
    pub async fn start_with(
        binary: &Path,
        stack_file: Option<&Path>,
        state_dir: &Path,
        options: &[&str],
    ) -> Result<Airlock, BenchError> {
        let endpoints_file = state_dir.join("endpoints.json");
        let _ = std::fs::remove_file(&endpoints_file);
        let mut cmd = tokio::process::Command::new(binary);
        cmd.arg("up");
        if let Some(file) = stack_file {
            cmd.arg(file);
        }
        cmd.arg("--ephemeral-ports")
            .arg("--endpoints-json")
            .arg(&endpoints_file)
            .arg("--state-dir")
            .arg(state_dir)
            .args(options)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // Logs go to a file, as they would for a stack left running in the background; a
            // pipe nobody reads would stall the stack once full.
            .stderr(std::fs::File::create(state_dir.join("airlock.log"))?)
            .kill_on_drop(true);
        let spawned = Instant::now();
        let mut child = cmd.spawn().map_err(|e| BenchError::Spawn {
            binary: binary.to_owned(),
            source: e,
        })?;
        let pid = child.id().ok_or(BenchError::Exited)?;
        let mut stdout = child.stdout.take().ok_or(BenchError::Exited)?;
        // The banner is printed after the endpoints file is written: its first byte means the
        // stack is up. Reading to the end would wait for exit; one read is enough.
        let mut first = [0u8; 1];
        let n = tokio::time::timeout(START_LIMIT, stdout.read(&mut first))
            .await
            .map_err(|_| BenchError::StartTimeout)??;
        if n == 0 {
            let _ = child.wait().await;
            return Err(BenchError::Exited);
        }
        // Keep draining so the stack never blocks on a full stdout pipe.
        tokio::spawn(async move {
            let mut sink = tokio::io::sink();
            let _ = tokio::io::copy(&mut stdout, &mut sink).await;
        });
        let endpoints = read_endpoints(&endpoints_file)?;
        Ok(Airlock {
            child,
            pid,
            spawned,
            endpoints,
        })
    }

    /// User plus system CPU time the process has used so far, all threads included.
    pub fn cpu_time(&self) -> Result<Duration, BenchError> {
        cpu_time(self.pid)
    }

    /// Resident and proportional set sizes now.
    pub fn memory(&self) -> Result<Memory, BenchError> {
        memory(self.pid)
    }

    /// How many file descriptors the process has open now (sockets, files, pipes).
    pub fn open_fds(&self) -> Result<usize, BenchError> {
        Ok(std::fs::read_dir(format!("/proc/{}/fd", self.pid))?.count())
    }

    /// Stops the process.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

fn read_endpoints(file: &Path) -> Result<Endpoints, BenchError> {
    let text = std::fs::read_to_string(file)?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| BenchError::Endpoints(e.to_string()))?;
    let addr = |key: &str| -> Result<SocketAddr, BenchError> {
        json[key]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| BenchError::Endpoints(format!("no address {key}")))
    };
    let first_value = |key: &str| -> Result<String, BenchError> {
        let v = &json[key];
        v.as_object()
            .and_then(|o| o.values().next())
            .or_else(|| v.as_array().and_then(|a| a.first()))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| BenchError::Endpoints(format!("no {key}")))
    };
    Ok(Endpoints {
        gateway: addr("gateway")?,
        admin: addr("admin")?,
        socks_vpc: addr("socks_vpc")?,
        ca_cert: json["ca_cert"]
            .as_str()
            .map(PathBuf::from)
            .ok_or_else(|| BenchError::Endpoints("no ca_cert".into()))?,
        alb_dns_name: first_value("alb_dns_names")?,
        custom_domain: first_value("custom_domains")?,
    })
}

/// Memory of a process, in KiB.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Memory {
    /// Resident set size (`VmRSS`): shared library pages counted in full.
    pub rss_kib: u64,
    /// Proportional set size: shared pages divided among their users; what the process
    /// really costs the machine.
    pub pss_kib: u64,
}

fn cpu_time(pid: u32) -> Result<Duration, BenchError> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; fields are counted after its closing ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| BenchError::Proc("stat".into()))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')', field 3 (state) is index 0, so utime (14) and stime (15) are 11 and 12.
    let tick = |i: usize| -> Result<u64, BenchError> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| BenchError::Proc("stat".into()))
    };
    let ticks = tick(11)? + tick(12)?;
    Ok(Duration::from_millis(ticks * 1000 / USER_HZ))
}

fn memory(pid: u32) -> Result<Memory, BenchError> {
    let field = |text: &str, name: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))?;
    Ok(Memory {
        rss_kib: field(&status, "VmRSS:").ok_or_else(|| BenchError::Proc("VmRSS".into()))?,
        pss_kib: field(&rollup, "Pss:").ok_or_else(|| BenchError::Proc("Pss".into()))?,
    })
}
