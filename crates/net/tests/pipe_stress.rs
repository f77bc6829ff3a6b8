//! Stress for the pipe's hand-written wake-ups (`airlock_net::pipe`): readers and writers on
//! different worker threads, tiny buffers so both sides wait all the time, the reading task
//! changed between reads, and ends dropped while the peer waits. A lost wake-up leaves a task
//! waiting forever, so every run is bounded by [`PATIENCE`] and fails rather than hangs.
#![allow(clippy::unwrap_used)]

use airlock_net::pipe;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Far longer than any run takes; reaching it means a task was never woken.
const PATIENCE: Duration = Duration::from_secs(10);
/// How long each test keeps starting new runs (the runs themselves are not timed).
const BUDGET: Duration = Duration::from_secs(1);
/// The most runs a test makes, however fast they go.
const MAX_RUNS: usize = 400;

/// Runs `run(i)` over and over, each bounded by [`PATIENCE`], for about [`BUDGET`].
async fn hammer<F, Fut>(what: &str, run: F) -> usize
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = ()>,
{
    let started = Instant::now();
    let mut runs = 0;
    while runs < MAX_RUNS && (runs < 20 || started.elapsed() < BUDGET) {
        tokio::time::timeout(PATIENCE, run(runs))
            .await
            .unwrap_or_else(|_| panic!("{what}: run {runs} never finished (a lost wake-up)"));
        runs += 1;
    }
    runs
}

/// A byte pattern that shows reordering, loss and duplication.
fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 7 + seed) % 251) as u8).collect()
}

/// Both directions at once, each written and read in odd-sized pieces by tasks on different
/// worker threads, through buffers a few bytes long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_directions_across_threads_through_tiny_buffers() {
    hammer("both directions", |i| async move {
        let (a, b) = pipe(1 + i % 13);
        let (mut ar, mut aw) = tokio::io::split(a);
        let (mut br, mut bw) = tokio::io::split(b);
        let (one, two) = (pattern(3000, i), pattern(2000, i + 1));
        let (one2, two2) = (one.clone(), two.clone());
        let w1 = tokio::spawn(async move {
            for chunk in one2.chunks(1 + i % 29) {
                aw.write_all(chunk).await.unwrap();
            }
            aw.shutdown().await.unwrap();
            aw
        });
        let w2 = tokio::spawn(async move {
            for chunk in two2.chunks(1 + i % 31) {
                bw.write_all(chunk).await.unwrap();
            }
            bw.shutdown().await.unwrap();
            bw
        });
        let r1 = tokio::spawn(async move {
            let mut got = Vec::new();
            br.read_to_end(&mut got).await.unwrap();
            (got, br)
        });
        let r2 = tokio::spawn(async move {
            let mut got = Vec::new();
            ar.read_to_end(&mut got).await.unwrap();
            (got, ar)
        });
        let (got1, _) = r1.await.unwrap();
        let (got2, _) = r2.await.unwrap();
        let _ = (w1.await.unwrap(), w2.await.unwrap());
        assert_eq!(got1, one);
        assert_eq!(got2, two);
    })
    .await;
}

/// Each read is made by a new task, so the waker the pipe holds belongs to a task that is gone
/// (or about to be) when the writer, on another thread, wakes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reading_task_changes_between_reads() {
    hammer("changing reader", |i| async move {
        let (mut a, b) = pipe(1 + i % 7);
        let data = pattern(600, i);
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            for chunk in sent.chunks(1 + i % 11) {
                a.write_all(chunk).await.unwrap();
                if i.is_multiple_of(2) {
                    tokio::task::yield_now().await;
                }
            }
        });
        let mut reader = b;
        let mut got = Vec::new();
        while got.len() < data.len() {
            let (r, piece) = tokio::spawn(async move {
                let mut buf = [0u8; 5];
                let n = reader.read(&mut buf).await.unwrap();
                (reader, buf[..n].to_vec())
            })
            .await
            .unwrap();
            reader = r;
            assert!(!piece.is_empty(), "EOF before the writer finished");
            got.extend_from_slice(&piece);
        }
        writer.await.unwrap();
        assert_eq!(got, data);
    })
    .await;
}

/// An end dropped on one thread while its peer waits on the other: a waiting reader gets EOF,
/// a writer waiting for room gets `BrokenPipe`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drop_on_another_thread_wakes_the_waiting_peer() {
    hammer("drop wakes the peer", |i| async move {
        let (a, mut b) = pipe(4);
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            b.read(&mut buf).await.unwrap()
        });
        if i.is_multiple_of(2) {
            tokio::task::yield_now().await;
        }
        drop(a);
        assert_eq!(reader.await.unwrap(), 0, "EOF");

        let (mut a, b) = pipe(4);
        let writer = tokio::spawn(async move {
            // Fills the buffer, then waits for room that never comes.
            let mut result = Ok(());
            for _ in 0..3 {
                result = a.write_all(b"abc").await;
                if result.is_err() {
                    break;
                }
            }
            result.map_err(|e| e.kind())
        });
        if i.is_multiple_of(3) {
            tokio::task::yield_now().await;
        }
        drop(b);
        assert_eq!(writer.await.unwrap(), Err(std::io::ErrorKind::BrokenPipe));
    })
    .await;
}
