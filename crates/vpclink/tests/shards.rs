//! The VPC link with shards (`airlock_net::shards`, one runtime per core in the binary): tunnels
//! opened on each shard ride a mutual-TLS connection of that shard, and each shard reuses its
//! own. Shards are process-wide, so this file (its own test process) holds one test.
#![allow(clippy::unwrap_used)]

mod support;
use support::*;

use airlock_net::shards;
use tokio::runtime::Handle;

#[test]
fn each_shard_rides_its_own_link_connection() {
    let handles = [shards::spawn(0).unwrap(), shards::spawn(1).unwrap()];
    assert!(shards::install(handles.to_vec()));

    let (h, link) = handles[0]
        .block_on_shard(async {
            let h = Harness::start().await;
            let link = h.gateway();
            (h, link)
        })
        .unwrap();

    // Two tunnels from each shard, one after the other.
    for handle in [&handles[1], &handles[0], &handles[1], &handles[0]] {
        let (link, dest) = (link.clone(), h.echo);
        handle
            .block_on_shard(async move {
                let mut tunnel = link.open(dest).await.unwrap();
                round_trip(&mut tunnel, b"which core?").await;
            })
            .unwrap();
    }

    assert_eq!(h.echo_hits.load(Ordering::SeqCst), 4);
    assert_eq!(
        link.connections_opened(),
        2,
        "one connection per shard, each reused by its shard's second tunnel"
    );
    let stats = h.endpoint.stats();
    assert_eq!(stats.connections_admitted, 2);
    assert_eq!(stats.tunnels_opened, 4);
}

/// Runs a future on a shard (from outside it) and waits for its output.
trait BlockOnShard {
    fn block_on_shard<F>(&self, f: F) -> std::thread::Result<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static;
}

impl BlockOnShard for Handle {
    fn block_on_shard<F>(&self, f: F) -> std::thread::Result<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::channel();
        self.spawn(async move {
            let _ = tx.send(f.await);
        });
        rx.recv_timeout(PATIENCE).map_err(|e| Box::new(e) as _)
    }
}
