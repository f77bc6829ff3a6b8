//! `airlock trace`: a running stack's request traces, read from its admin endpoint
//! (`GET /requests`, `GET /requests/{id}`, the `GET /events` stream) and printed as a
//! waterfall of hops, a table of recent requests, or JSON lines for scripts.
//!
//! The admin endpoint is plain HTTP/1.1 on loopback; the few requests made here are written
//! by hand rather than with an HTTP client library the binary would carry for this alone.

use anyhow::{Context as _, bail};
use clap::Args;
use serde_json::Value;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

/// Width of the waterfall's bar column, in characters.
const BAR: usize = 24;

#[derive(Args)]
pub(crate) struct TraceArgs {
    /// The request's `apigw-requestid` (or its trace id); omit it to list recent requests.
    request_id: Option<String>,
    /// Print each request as it completes, until interrupted.
    #[arg(long, short = 'f', conflicts_with = "request_id")]
    follow: bool,
    /// JSON instead of text: the trace document, or one summary per line.
    #[arg(long)]
    json: bool,
    /// The admin endpoint, `HOST:PORT` on this machine; default: the default admin port.
    #[arg(long, env = "AIRLOCK_ADMIN", value_name = "HOST:PORT")]
    admin: Option<String>,
    /// Take the admin endpoint from `airlock up --endpoints-json`'s file.
    #[arg(long, value_name = "FILE", conflicts_with = "admin")]
    endpoints: Option<PathBuf>,
    /// List or follow only these statuses: `404`, or a class like `5xx`.
    #[arg(long)]
    status: Option<String>,
    /// List or follow only routes containing this text (`GET /pets`).
    #[arg(long)]
    route: Option<String>,
    /// List or follow only requests served by a task whose `ip:port` contains this text.
    #[arg(long)]
    task: Option<String>,
    /// How many recent requests to list.
    #[arg(long, default_value_t = 20)]
    limit: usize,
}

pub(crate) fn run(args: &TraceArgs) -> anyhow::Result<()> {
    let admin = admin_address(args)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        if args.follow {
            return follow(&admin, args).await;
        }
        match &args.request_id {
            Some(id) => {
                // A request that has just answered may still be finishing its trace.
                let path = format!("/requests/{}?wait=2", encode(id));
                let (status, body) = get(&admin, &path).await?;
                let doc: Value = serde_json::from_slice(&body)
                    .with_context(|| format!("the admin endpoint at {admin} answered {status}"))?;
                if status != 200 {
                    bail!("{}", doc["error"].as_str().unwrap_or("no such request"));
                }
                let out = if args.json {
                    serde_json::to_string_pretty(&doc)? + "\n"
                } else {
                    waterfall(&doc)
                };
                print_flush(&out)
            }
            None => {
                let (status, body) = get(&admin, &list_path(args, None)).await?;
                let doc: Value = serde_json::from_slice(&body)
                    .with_context(|| format!("the admin endpoint at {admin} answered {status}"))?;
                let requests = doc["requests"].as_array().cloned().unwrap_or_default();
                let mut out = String::new();
                if args.json {
                    for r in &requests {
                        out.push_str(&r.to_string());
                        out.push('\n');
                    }
                } else {
                    out.push_str(&table_header());
                    for r in requests.iter().rev() {
                        out.push_str(&table_row(r));
                    }
                }
                print_flush(&out)
            }
        }
    })
}

fn admin_address(args: &TraceArgs) -> anyhow::Result<String> {
    if let Some(path) = &args.endpoints {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let doc: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not endpoints JSON", path.display()))?;
        return doc["admin"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("{} names no admin endpoint", path.display()));
    }
    Ok(args
        .admin
        .clone()
        .unwrap_or_else(|| format!("127.0.0.1:{}", airlock_stack::Ports::DEFAULT.admin)))
}

fn list_path(args: &TraceArgs, after: Option<u64>) -> String {
    let mut path = format!("/requests?limit={}", args.limit);
    for (k, v) in [
        ("status", &args.status),
        ("route", &args.route),
        ("task", &args.task),
    ] {
        if let Some(v) = v {
            let _ = write!(path, "&{k}={}", encode(v));
        }
    }
    if let Some(after) = after {
        let _ = write!(path, "&after={after}");
    }
    path
}

/// Percent-encodes everything but unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn print_flush(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// Sends `GET path` and returns the head's status and the whole body.
async fn get(admin: &str, path: &str) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut reader = open(admin, path).await?;
    let (status, chunked) = read_head(&mut reader).await?;
    let mut body = Vec::new();
    if chunked {
        while let Some(chunk) = read_chunk(&mut reader).await? {
            body.extend_from_slice(&chunk);
        }
    } else {
        reader.read_to_end(&mut body).await?;
    }
    Ok((status, body))
}

async fn open(admin: &str, path: &str) -> anyhow::Result<BufReader<TcpStream>> {
    let mut stream = TcpStream::connect(admin)
        .await
        .with_context(|| format!("connecting to the admin endpoint at {admin} (is `airlock up` running? --admin, --endpoints)"))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {admin}\r\nAccept: application/json, text/event-stream\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    Ok(BufReader::new(stream))
}

/// Reads a response head; returns its status and whether the body is chunked.
async fn read_head(reader: &mut BufReader<TcpStream>) -> anyhow::Result<(u16, bool)> {
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("not an HTTP response: {line:?}"))?;
    let mut chunked = false;
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 || line.trim_end().is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
    }
    Ok((status, chunked))
}

/// One chunk of a chunked body; `None` at its end.
async fn read_chunk(reader: &mut BufReader<TcpStream>) -> anyhow::Result<Option<Vec<u8>>> {
    let mut line = String::new();
    if reader.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
        .with_context(|| format!("bad chunk size {line:?}"))?;
    if size == 0 {
        return Ok(None);
    }
    let mut chunk = vec![0; size];
    reader.read_exact(&mut chunk).await?;
    let mut crlf = [0; 2];
    reader.read_exact(&mut crlf).await?;
    Ok(Some(chunk))
}

/// `--follow`: the event stream's completed requests, each printed in full as it arrives.
async fn follow(admin: &str, args: &TraceArgs) -> anyhow::Result<()> {
    let mut reader = open(admin, "/events").await?;
    let (status, chunked) = read_head(&mut reader).await?;
    if status != 200 || !chunked {
        bail!("the admin endpoint at {admin} has no event stream (status {status})");
    }
    let mut pending = String::new();
    let mut kind = String::new();
    let mut data = String::new();
    while let Some(chunk) = read_chunk(&mut reader).await? {
        pending.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = pending.find('\n') {
            let line: String = pending.drain(..=end).collect();
            let line = line.trim_end_matches(['\r', '\n']);
            if let Some(v) = line.strip_prefix("event:") {
                kind = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim_start());
            } else if line.is_empty() {
                match kind.as_str() {
                    "hello" => {
                        // Said on stderr so that scripts reading stdout see only requests.
                        eprintln!("following requests at {admin} (Ctrl-C to stop)");
                    }
                    "request" => {
                        if let Ok(summary) = serde_json::from_str::<Value>(&data) {
                            print_followed(admin, args, &summary).await?;
                        }
                    }
                    _ => {}
                }
                kind.clear();
                data.clear();
            }
        }
    }
    Ok(())
}

async fn print_followed(admin: &str, args: &TraceArgs, summary: &Value) -> anyhow::Result<()> {
    let s = |k: &str| summary[k].as_str().unwrap_or_default().to_owned();
    let status = summary["status"]
        .as_u64()
        .map(|n| n.to_string())
        .unwrap_or_default();
    if let Some(want) = &args.status {
        let ok = match want.strip_suffix("xx") {
            Some(class) => status.starts_with(class),
            None => &status == want,
        };
        if !ok {
            return Ok(());
        }
    }
    if args
        .route
        .as_ref()
        .is_some_and(|r| !s("route").contains(r.as_str()))
        || args
            .task
            .as_ref()
            .is_some_and(|t| !s("task").contains(t.as_str()))
    {
        return Ok(());
    }
    let id = s("id");
    let (code, body) = get(admin, &format!("/requests/{}", encode(&id))).await?;
    let doc: Value = match serde_json::from_slice(&body) {
        Ok(doc) if code == 200 => doc,
        // Gone from the ring already (a burst larger than it): the summary is what is left.
        _ => summary.clone(),
    };
    let out = if args.json {
        doc.to_string() + "\n"
    } else {
        waterfall(&doc) + "\n"
    };
    print_flush(&out)
}

fn table_header() -> String {
    format!(
        "{:<12} {:<7} {:<28} {:>6} {:<22} {:<18} {:<11} {:>9}  {}\n",
        "time", "method", "path", "status", "route", "task", "by", "ms", "request id"
    )
}

fn table_row(r: &Value) -> String {
    let s = |k: &str| r[k].as_str().unwrap_or("-").to_owned();
    let secs = r["started_ms"].as_u64().unwrap_or(0) / 1000;
    let ms = r["started_ms"].as_u64().unwrap_or(0) % 1000;
    let time = format!(
        "{:02}:{:02}:{:02}.{ms:03}",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    );
    format!(
        "{time:<12} {:<7} {:<28} {:>6} {:<22} {:<18} {:<11} {:>9.1}  {}\n",
        s("method"),
        clip(&s("path"), 28),
        r["status"]
            .as_u64()
            .map_or("-".to_owned(), |n| n.to_string()),
        clip(&s("route"), 22),
        s("task"),
        s("produced_by"),
        r["duration_ms"].as_f64().unwrap_or(0.0),
        s("id"),
    )
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}

/// One request as text: a head line, then each hop with its offset, a bar for its span, and
/// its decision and reasons.
pub(crate) fn waterfall(doc: &Value) -> String {
    let s = |k: &str| doc[k].as_str().unwrap_or("-").to_owned();
    let total = doc["duration_ms"].as_f64().unwrap_or(0.0).max(0.001);
    let mut out = format!(
        "{} {} → {} from the {}, {:.2} ms\nrequest id {}  trace {}\n",
        s("method"),
        s("path"),
        doc["status"]
            .as_u64()
            .map_or("-".to_owned(), |n| n.to_string()),
        s("produced_by"),
        total,
        s("request_id"),
        doc["alb_trace_id"]
            .as_str()
            .or(doc["trace_id"].as_str())
            .unwrap_or("-"),
    );
    let hops = doc["hops"].as_array().cloned().unwrap_or_default();
    let total = hops
        .iter()
        .map(|h| h["at_ms"].as_f64().unwrap_or(0.0) + h["took_ms"].as_f64().unwrap_or(0.0))
        .fold(total, f64::max);
    for h in &hops {
        let at = h["at_ms"].as_f64().unwrap_or(0.0);
        let took = h["took_ms"].as_f64();
        let start = ((at / total) * BAR as f64).floor() as usize;
        let len = took.map_or(1, |t| ((t / total) * BAR as f64).round().max(1.0) as usize);
        let mut bar = vec![' '; BAR];
        for c in bar.iter_mut().skip(start.min(BAR - 1)).take(len) {
            *c = if took.is_some() { '█' } else { '│' };
        }
        let bar: String = bar.into_iter().collect();
        let took = took.map_or(String::new(), |t| format!(" ({t:.2} ms)"));
        let _ = writeln!(
            out,
            "{:>9.2} ms |{bar}| {:<9} {:<13} {}{took}",
            at,
            h["component"].as_str().unwrap_or("-"),
            h["step"].as_str().unwrap_or("-"),
            h["outcome"].as_str().unwrap_or("-"),
        );
        if let Some(fields) = h["fields"].as_object() {
            for (k, v) in fields {
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                let _ = writeln!(out, "{:>41}{k}: {v}", "");
            }
        }
    }
    out
}
