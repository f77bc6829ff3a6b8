//! Access-log files that stay bounded: appended line by line, and rotated by size into a bounded
//! number of files, as AWS delivers access logs in bounded pieces (S3 objects for a load
//! balancer, log events in CloudWatch Logs for API Gateway) rather than one file that grows for
//! ever (docs/aws-fidelity.md, "Access log rotation").
//!
//! The file `name` is the newest; `name.1` the one before it, up to `name.{max_files - 1}`, the
//! oldest; a rotation drops the oldest. Every writer of one path shares one [`LogFile`], so
//! several listeners or stages writing one log rotate it once, not each on its own count.

use crate::sync::lock;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

/// A file is rotated before it would grow past this many bytes (10 MiB): large enough that a
/// busy local stack rotates a few times an hour, small enough to open in an editor.
pub const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;

/// Files kept per log, the current one included (5): at most 50 MiB per log by default.
pub const DEFAULT_MAX_FILES: u32 = 5;

/// When a log file is rotated and how many are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// A file holds at most this many bytes (a single line longer than this gets a file of its
    /// own, whole).
    pub max_bytes: u64,
    /// Files kept, the current one included (at least 1).
    pub max_files: u32,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            max_bytes: DEFAULT_MAX_BYTES,
            max_files: DEFAULT_MAX_FILES,
        }
    }
}

/// An append-only log file that rotates by size; clones (and every [`LogFile::open`] of the same
/// path) share one file and one count.
#[derive(Clone, Debug)]
pub struct LogFile(Arc<Mutex<Rotating>>);

#[derive(Debug)]
struct Rotating {
    path: PathBuf,
    rotation: Rotation,
    file: File,
    /// Bytes in the current file.
    size: u64,
}

/// The open logs by path, so that writers of one path share it.
fn open_logs() -> &'static Mutex<HashMap<PathBuf, Weak<Mutex<Rotating>>>> {
    static OPEN: std::sync::OnceLock<Mutex<HashMap<PathBuf, Weak<Mutex<Rotating>>>>> =
        std::sync::OnceLock::new();
    OPEN.get_or_init(Mutex::default)
}

impl LogFile {
    /// Opens `path` for appending (creating it and its directories), or joins the writers that
    /// already have it open (their rotation applies). Lines already in the file count toward
    /// its size.
    pub fn open(path: &Path, rotation: Rotation) -> io::Result<LogFile> {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(dir)?;
        // One key per file however it is spelled.
        let key = std::fs::canonicalize(dir)?.join(path.file_name().unwrap_or_default());
        let mut open = lock(open_logs());
        if let Some(shared) = open.get(&key).and_then(Weak::upgrade) {
            return Ok(LogFile(shared));
        }
        let file = append(&key)?;
        let size = file.metadata()?.len();
        let shared = Arc::new(Mutex::new(Rotating {
            path: key.clone(),
            rotation: Rotation {
                max_bytes: rotation.max_bytes.max(1),
                max_files: rotation.max_files.max(1),
            },
            file,
            size,
        }));
        open.retain(|_, w| w.strong_count() > 0);
        open.insert(key, Arc::downgrade(&shared));
        Ok(LogFile(shared))
    }

    /// Appends `lines` (whole lines, each ending in `\n`), rotating between lines whenever the
    /// next line would take the current file past the size limit. Blocking: call it from a
    /// blocking context or a writer of its own, not per request on a runtime thread.
    pub fn append(&self, lines: &[u8]) -> io::Result<()> {
        let mut log = lock(&self.0);
        log.append(lines)
    }
}

impl Rotating {
    fn append(&mut self, mut lines: &[u8]) -> io::Result<()> {
        while !lines.is_empty() {
            let room = self.rotation.max_bytes.saturating_sub(self.size);
            // The longest run of whole lines that fits; at least one line into an empty file.
            let fits = whole_lines_within(lines, usize::try_from(room).unwrap_or(usize::MAX));
            let take = match fits {
                0 if self.size == 0 => line_end(lines),
                0 => {
                    self.rotate()?;
                    continue;
                }
                n => n,
            };
            self.file.write_all(&lines[..take])?;
            self.size += take as u64;
            lines = &lines[take..];
        }
        Ok(())
    }

    /// `name.{k}` becomes `name.{k+1}` (the oldest is dropped), `name` becomes `name.1`, and a
    /// fresh `name` is opened.
    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        let numbered = |k: u32| {
            let mut name = self.path.clone().into_os_string();
            name.push(format!(".{k}"));
            PathBuf::from(name)
        };
        let last = self.rotation.max_files - 1;
        if last == 0 {
            remove_if_present(&self.path)?;
        } else {
            remove_if_present(&numbered(last))?;
            for k in (1..last).rev() {
                rename_if_present(&numbered(k), &numbered(k + 1))?;
            }
            rename_if_present(&self.path, &numbered(1))?;
        }
        self.file = append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn rename_if_present(from: &Path, to: &Path) -> io::Result<()> {
    match std::fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The length of the first line of `bytes`, its newline included (all of it when none).
fn line_end(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .position(|b| *b == b'\n')
        .map_or(bytes.len(), |i| i + 1)
}

/// The length of the longest prefix of `bytes` made of whole lines and at most `room` long.
fn whole_lines_within(bytes: &[u8], room: usize) -> usize {
    if bytes.len() <= room {
        return bytes.len();
    }
    bytes[..room]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn files(dir: &Path) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read_to_string(e.path()).unwrap(),
                )
            })
            .collect();
        out.sort();
        out
    }

    /// Lines never straddle two files, no file passes the bound, the oldest are dropped, and
    /// the current file holds the latest line.
    #[test]
    fn rotates_between_lines_and_keeps_a_bounded_number_of_files() {
        let dir = std::env::temp_dir().join(format!("airlock-logfile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("access.log");
        let rotation = Rotation {
            max_bytes: 100,
            max_files: 3,
        };
        let log = LogFile::open(&path, rotation).unwrap();
        let again = LogFile::open(&dir.join(".").join("access.log"), Rotation::default()).unwrap();
        assert!(Arc::ptr_eq(&log.0, &again.0), "one path, one shared file");
        let mut batch = Vec::new();
        for i in 0..200 {
            batch.extend_from_slice(format!("line {i:04} of the log\n").as_bytes());
            if i % 7 == 0 {
                log.append(&batch).unwrap();
                batch.clear();
            }
        }
        again.append(&batch).unwrap();
        let found = files(&dir);
        let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["access.log", "access.log.1", "access.log.2"]);
        for (name, text) in &found {
            assert!(text.len() <= 100, "{name} holds {} bytes", text.len());
            assert!(
                text.ends_with('\n') && text.lines().all(|l| l.len() == 20),
                "{text}"
            );
        }
        assert!(found[0].1.ends_with("line 0199 of the log\n"));
        // Oldest to newest, the kept lines run on without a gap.
        let kept: Vec<&str> = [&found[2].1, &found[1].1, &found[0].1]
            .iter()
            .flat_map(|t| t.lines())
            .collect();
        let first: usize = kept[0][5..9].parse().unwrap();
        for (k, line) in kept.iter().enumerate() {
            assert_eq!(*line, format!("line {:04} of the log", first + k));
        }
        // A line longer than the bound gets a file of its own.
        let long = format!("{}\n", "x".repeat(150));
        log.append(long.as_bytes()).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), long);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// Lines wait at most this long in memory before they are written. AWS delivers access logs
/// every few minutes; a fraction of a second keeps `tail -f` live.
pub const FLUSH_INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);

/// Past this many buffered bytes the writer is woken early.
const BATCH_BYTES: usize = 256 * 1024;

/// The most the writer's batch and tokio's copy of it keep between writes. A burst of load
/// grows both to a whole batch; kept, that is memory an idle stack holds for nothing.
const KEEP_BYTES: usize = 64 * 1024;

/// A [`LogFile`] written in batches by one writer task: a request only appends its line to a
/// buffer (no channel, no wake-up, no file write), since a file write is a trip to tokio's
/// blocking pool, too dear to take per request under load.
#[derive(Clone, Debug)]
pub struct BatchedLog(Arc<Pending>);

#[derive(Debug)]
struct Pending {
    /// One buffer per shard ([`crate::shards`]): requests on different cores never contend for
    /// one lock. A batch holds each shard's lines in turn, so lines of one batch are ordered
    /// per core, not across cores (AWS orders none of its log files either).
    lines: Vec<Mutex<Vec<u8>>>,
    /// A line arrived in an empty buffer: the writer starts its interval (an idle stack never
    /// wakes it).
    first: tokio::sync::Notify,
    /// The buffer is past [`BATCH_BYTES`]: write now.
    full: tokio::sync::Notify,
}

impl BatchedLog {
    /// Starts the writer of `file` on `tracker` (in the current tokio runtime). It writes what
    /// is buffered at most [`FLUSH_INTERVAL`] after it arrived, and a last time at `shutdown`.
    pub fn start(
        file: LogFile,
        shutdown: tokio_util::sync::CancellationToken,
        tracker: &tokio_util::task::TaskTracker,
    ) -> BatchedLog {
        let pending = Arc::new(Pending {
            lines: (0..crate::shards::count())
                .map(|_| Mutex::default())
                .collect(),
            first: tokio::sync::Notify::new(),
            full: tokio::sync::Notify::new(),
        });
        tracker.spawn(write_batches(pending.clone(), file, shutdown));
        BatchedLog(pending)
    }

    /// Appends `line` and a newline, for the writer to write.
    pub fn push_line(&self, line: &[u8]) {
        let (first, full) = {
            let shards = &self.0.lines;
            let mut lines = lock(&shards[crate::shards::current() % shards.len()]);
            let first = lines.is_empty();
            lines.extend_from_slice(line);
            lines.push(b'\n');
            (first, lines.len() >= BATCH_BYTES)
        };
        if first {
            self.0.first.notify_one();
        }
        if full {
            self.0.full.notify_one();
        }
    }
}

/// The writer task of a [`BatchedLog`].
async fn write_batches(
    pending: Arc<Pending>,
    file: LogFile,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut batch = Vec::new();
    loop {
        tokio::select! {
            _ = pending.first.notified() => tokio::select! {
                _ = tokio::time::sleep(FLUSH_INTERVAL) => {}
                _ = pending.full.notified() => {}
                _ = shutdown.cancelled() => {}
            },
            _ = shutdown.cancelled() => {}
        }
        let last = shutdown.is_cancelled();
        for lines in &pending.lines {
            // Taken whole, not drained: a shard's buffer would otherwise keep the capacity of
            // its busiest moment.
            let taken = std::mem::take(&mut *lock(lines));
            if batch.is_empty() {
                batch = taken;
            } else {
                batch.extend_from_slice(&taken);
            }
        }
        if !batch.is_empty() {
            // Whole lines, rotated between lines; a file write (and a rotation's renames)
            // belongs on the blocking pool, as tokio's own file writes do.
            let file = file.clone();
            let written = tokio::task::spawn_blocking(move || {
                let result = file.append(&batch);
                batch.clear();
                (batch, result)
            })
            .await;
            match written {
                Ok((emptied, result)) => {
                    batch = emptied;
                    if let Err(e) = result {
                        tracing::warn!(error = %e, "access log write failed");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "access log write failed");
                    batch = Vec::new();
                }
            }
        }
        // The batch keeps at most this much capacity between writes, so the peak of a burst
        // does not stay resident.
        if batch.capacity() > KEEP_BYTES {
            batch = Vec::new();
        }
        if last {
            break;
        }
    }
}
