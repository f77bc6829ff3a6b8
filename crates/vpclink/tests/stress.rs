//! Stress for the tunnel's read path (`stream.rs`: reads polled through a `Relay` that skips
//! asking h2 while nothing has arrived): tunnels through the whole link on a multi-threaded
//! runtime, each written by one task while its reads are made by a new task every few pieces,
//! several at once over one multiplexed connection. A lost wake-up leaves a read waiting
//! forever, so every run is bounded by `PATIENCE` and fails rather than hangs.
#![allow(clippy::unwrap_used)]

mod support;
use support::*;

/// How long the test keeps starting new runs (the runs themselves are not timed).
const BUDGET: Duration = Duration::from_millis(1500);
/// The most runs the test makes, however fast they go.
const MAX_RUNS: usize = 400;
/// Tunnels open at once in each run.
const TUNNELS: usize = 3;
/// The smallest write: h2's flood guard charges DATA frames under 256 bytes.
const MIN_PIECE: usize = 256;

fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 13 + seed) % 251) as u8).collect()
}

/// One tunnel's exchange: the bytes go out in odd pieces from one task and come back from the
/// echo server, read a few pieces at a time by a succession of tasks, then EOF after the
/// half-close.
async fn exchange(link: LinkClient, dest: SocketAddr, run: usize, which: usize) {
    let tunnel = link.open(dest).await.unwrap();
    let (mut reader, mut writer) = tokio::io::split(tunnel);
    let seed = run * TUNNELS + which;
    let data = pattern(4096 + seed % 1000, seed);
    let sent = data.clone();
    let writing = tokio::spawn(async move {
        // Pieces of at least 256 bytes: h2 counts smaller DATA frames against a flood budget
        // and, past it, ends the whole connection (ENHANCE_YOUR_CALM), which is not what this
        // test is about.
        for chunk in sent.chunks(MIN_PIECE + seed % 700) {
            writer.write_all(chunk).await.unwrap();
            if seed.is_multiple_of(2) {
                tokio::task::yield_now().await;
            }
        }
        writer.shutdown().await.unwrap();
        writer
    });
    let mut got = Vec::new();
    loop {
        let (r, piece, eof) = tokio::spawn(async move {
            let mut piece = Vec::new();
            let mut buf = [0u8; 257];
            let mut eof = false;
            for _ in 0..3 {
                let n = reader.read(&mut buf).await.unwrap();
                if n == 0 {
                    eof = true;
                    break;
                }
                piece.extend_from_slice(&buf[..n]);
            }
            (reader, piece, eof)
        })
        .await
        .unwrap();
        reader = r;
        got.extend_from_slice(&piece);
        if eof {
            break;
        }
    }
    let _writer = writing.await.unwrap();
    assert_eq!(got, data, "every byte back, in order, then EOF");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tunnel_reads_lose_no_wake_up_across_threads_and_tasks() {
    let h = Harness::start().await;
    let link = h.gateway();
    let started = Instant::now();
    let mut runs = 0;
    while runs < MAX_RUNS && (runs < 10 || started.elapsed() < BUDGET) {
        let tunnels: Vec<_> = (0..TUNNELS)
            .map(|which| tokio::spawn(exchange(link.clone(), h.echo, runs, which)))
            .collect();
        let all = async {
            for t in tunnels {
                t.await.unwrap();
            }
        };
        tokio::time::timeout(PATIENCE, all)
            .await
            .unwrap_or_else(|_| panic!("run {runs} never finished (a lost wake-up)"));
        runs += 1;
    }
    assert_eq!(
        link.connections_opened(),
        1,
        "every tunnel rode the one multiplexed connection"
    );
}

/// Tunnels that write many tiny pieces (a TLS record per small chunk of a trickled upload, say)
/// faster than the far side takes them: h2 charges each DATA frame under 256 bytes against a
/// flood budget and, past it, ends the whole connection with `ENHANCE_YOUR_CALM`, every other
/// tunnel on it too. The link's two ends are airlock's own and flow control already bounds
/// what is buffered, so no such flood may end a link connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_writes_never_end_the_link_connection() {
    const TUNNELS: usize = 8;
    const PIECES: usize = 3000;
    const PIECE: usize = 9;
    let h = Harness::start().await;
    let link = h.gateway();
    let tunnels: Vec<_> = (0..TUNNELS)
        .map(|which| {
            let link = link.clone();
            let echo = h.echo;
            tokio::spawn(async move {
                let tunnel = link.open(echo).await.unwrap();
                let (mut reader, mut writer) = tokio::io::split(tunnel);
                let data = pattern(PIECES * PIECE, which);
                let sent = data.clone();
                let writing = tokio::spawn(async move {
                    for piece in sent.chunks(PIECE) {
                        writer.write_all(piece).await.unwrap();
                    }
                    writer.shutdown().await.unwrap();
                    writer
                });
                // The answers pile up unread while the pieces go out.
                let writer = writing.await.unwrap();
                let mut got = Vec::new();
                reader.read_to_end(&mut got).await.unwrap();
                drop(writer);
                assert!(got == data, "tunnel {which}: every byte back, in order");
            })
        })
        .collect();
    let all = async {
        for t in tunnels {
            t.await.unwrap();
        }
    };
    tokio::time::timeout(PATIENCE, all)
        .await
        .expect("the tunnels finished");
    assert_eq!(
        link.connections_opened(),
        1,
        "one connection carried them all"
    );
}
