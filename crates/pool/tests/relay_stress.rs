//! Stress for `Relay`, used as its users use it (the pool's connection driver, the VPC link's
//! tunnel reads): an inner state machine polled with the relay's waker, skipped while the relay
//! says nothing woke it, polled by whichever task holds it now, and woken from another worker
//! thread. A lost wake-up leaves the consumer waiting forever, so every run is bounded by
//! [`PATIENCE`] and fails rather than hangs.
#![allow(clippy::unwrap_used)]

use airlock_pool::relay::Relay;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Far longer than any run takes; reaching it means a task was never woken.
const PATIENCE: Duration = Duration::from_secs(10);
/// How long the test keeps starting new runs (the runs themselves are not timed).
const BUDGET: Duration = Duration::from_secs(1);
/// The most runs the test makes, however fast they go.
const MAX_RUNS: usize = 300;

/// A receiver behind a relay, polled the way the VPC link's tunnel polls its h2 stream: when it
/// last said "nothing yet" to this same task and nothing has woken the relay since, the answer
/// is `Pending` without asking it again.
struct Gated {
    inner: mpsc::Receiver<u32>,
    relay: Arc<Relay>,
    relay_waker: Waker,
    armed: bool,
}

impl Gated {
    fn new(inner: mpsc::Receiver<u32>) -> Gated {
        let (relay, relay_waker) = Relay::new();
        Gated {
            inner,
            relay,
            relay_waker,
            armed: false,
        }
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<u32>> {
        let woken = self.relay.take_woken();
        let same_task = self.relay.follow(cx.waker());
        if self.armed && !woken && same_task {
            return Poll::Pending;
        }
        let polled = self
            .inner
            .poll_recv(&mut Context::from_waker(&self.relay_waker));
        self.armed = polled.is_pending();
        polled
    }

    async fn next(&mut self) -> Option<u32> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).get_mut().poll_next(cx)).await
    }
}

/// Items sent from one worker thread reach a consumer on another, whose task changes every few
/// items, through a one-slot channel: every item is a wake-up that must not be lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wake_ups_from_another_thread_reach_whichever_task_polls() {
    let started = Instant::now();
    let mut runs = 0;
    while runs < MAX_RUNS && (runs < 20 || started.elapsed() < BUDGET) {
        tokio::time::timeout(PATIENCE, one_run(runs))
            .await
            .unwrap_or_else(|_| panic!("run {runs} never finished (a lost wake-up)"));
        runs += 1;
    }
}

async fn one_run(run: usize) {
    const ITEMS: u32 = 200;
    let (tx, rx) = mpsc::channel(1);
    let producer = tokio::spawn(async move {
        for i in 0..ITEMS {
            tx.send(i).await.unwrap();
            if (i as usize + run).is_multiple_of(3) {
                tokio::task::yield_now().await;
            }
        }
    });
    let mut gated = Gated::new(rx);
    let mut expected = 0;
    let per_task = 1 + run % 5;
    loop {
        // A new task takes over the receiver for the next few items, as a pooled connection
        // moves from the request's task to its body's.
        let (back, got) = tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..per_task {
                match gated.next().await {
                    Some(i) => got.push(i),
                    None => break,
                }
            }
            (gated, got)
        })
        .await
        .unwrap();
        gated = back;
        if got.is_empty() {
            break;
        }
        for i in got {
            assert_eq!(i, expected, "items in order, none lost");
            expected += 1;
        }
    }
    assert_eq!(expected, ITEMS);
    producer.await.unwrap();
}
