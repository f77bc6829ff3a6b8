//! Early responses through the whole chain: a task that answers before it has read the request
//! body (the pets app refusing a large pet with 413, the echo app ignoring the body) is heard by
//! the client at once, and the connections the answer came back on are not left holding the
//! rest of the body (the next request on the same stack gets its answer too).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use airlock_stack::RunningStack;
use std::sync::Arc;
use std::time::Duration;
use support::{DOMAIN, get};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Rounds per test: each round is a race between the early answer and the body still on its way.
const ROUNDS: usize = 30;

/// How long a test waits for an answer before it calls the exchange stuck. Not a measure of
/// speed: a stalled chain answers only when some timeout ends it (30 s at the gateway).
const STUCK: Duration = Duration::from_secs(20);

/// What the pets task answers to a body over its 64 KB limit.
const PETS_REFUSAL: &str = r#"{"message":"Request body too large"}"#;

/// A response as the raw client read it.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

/// POSTs `len` bytes to `path` over HTTP/1.1 and TLS, the way a client that watches for an
/// early answer does: the body is written by a task of its own while the response is read, so
/// an answer that comes before the body is all sent is read at once.
///
/// After the answer, the upload must end one way or the other: all sent (the server read and
/// discarded the rest) or cut (the server closed after its answer). What it must not do is
/// hang, with the body held by a connection nobody drives.
async fn post(stack: &RunningStack, path: &str, token: &str, len: usize) -> Answer {
    let addr = stack.endpoints().gateway;
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let config = support::tls_config(stack.ca_der(), None);
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls_pki_types::ServerName::try_from(DOMAIN).unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    let (mut rx, mut tx) = tokio::io::split(tls);
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {DOMAIN}:{}\r\nauthorization: Bearer {token}\r\n\
         content-type: application/json\r\ncontent-length: {len}\r\n\r\n",
        addr.port()
    );
    let writer = tokio::spawn(async move {
        tx.write_all(head.as_bytes()).await?;
        let chunk = vec![b'a'; 64 * 1024];
        let mut left = len;
        while left > 0 {
            let n = left.min(chunk.len());
            tx.write_all(&chunk[..n]).await?;
            left -= n;
        }
        tx.flush().await?;
        // Handed back, not dropped: closing would end the exchange from this side.
        Ok::<_, std::io::Error>(tx)
    });
    let answer = tokio::time::timeout(STUCK, read_answer(&mut rx))
        .await
        .expect("no answer: the exchange is stuck");
    tokio::time::timeout(STUCK, writer)
        .await
        .expect("the upload hangs after the answer")
        .unwrap()
        .ok();
    answer
}

/// Reads one response with a `content-length` body.
async fn read_answer(rx: &mut (impl AsyncReadExt + Unpin)) -> Answer {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = rx.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "closed before a response head: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let status = head[9..12].parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().unwrap())
        .expect("a content-length");
    while buf.len() < end + len {
        let n = rx.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed mid-body");
        buf.extend_from_slice(&chunk[..n]);
    }
    Answer {
        status,
        body: buf[end..end + len].to_vec(),
    }
}

/// The default stack with the echo app in place of the pets app.
fn echo_stack() -> airlock_config::Stack {
    let source = include_str!("../fixtures/default-stack.yaml");
    assert!(source.contains("builtin: pets"), "fixture changed");
    let text = source.replacen("builtin: pets", "builtin: echo", 1);
    airlock_config::parse(&text, std::path::Path::new("echo-stack.yaml")).unwrap()
}

/// 1 MB pets are refused by the task with 413 after it read 64 KB, while the body is still on
/// its way: every one of them gets the task's own 413 through the gateway, the VPC link and the
/// ALB, and the stack still answers afterwards.
#[tokio::test]
async fn uploads_the_task_refuses_get_its_413_through_the_chain() {
    let stack = RunningStack::start_default().await.unwrap();
    let token = stack.token(&["pets/write"]).unwrap();
    for round in 0..ROUNDS {
        let answer = post(&stack, "/pets", &token, 1 << 20).await;
        assert_eq!(
            (
                answer.status,
                String::from_utf8_lossy(&answer.body).as_ref()
            ),
            (413, PETS_REFUSAL),
            "round {round}"
        );
    }
    let after = get(&stack, "/pets", Some(&token)).await;
    assert_eq!(after.status, 200, "{}", after.text());
    stack.stop().await;
}

/// A 9 MB upload to the echo app, which answers 200 without reading the body: the answer comes
/// back, and the next request on the same stack is answered too (no pooled connection is left
/// waiting for the rest of that body).
#[tokio::test]
async fn an_upload_the_task_ignores_is_answered_and_the_next_request_too() {
    let stack = RunningStack::start_ephemeral(echo_stack()).await.unwrap();
    let token = stack.token(&["pets/write"]).unwrap();
    for round in 0..10 {
        let answer = post(&stack, "/pets", &token, 9 << 20).await;
        assert_eq!(answer.status, 200, "round {round}");
        let who: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(who["method"], "POST");
        let next = tokio::time::timeout(STUCK, get(&stack, "/whoami", Some(&token)))
            .await
            .expect("the request after the upload is stuck");
        assert_eq!(next.status, 200, "round {round}: {}", next.text());
    }
    stack.stop().await;
}
/// python-requests (which sends the whole body before it reads the answer, and reads the
/// answer when the server stops taking the body) gets the task's 413 for every refused upload.
#[tokio::test]
async fn python_requests_gets_the_tasks_413_for_refused_uploads() {
    if !support::python_module("requests", "python3 -m pip install requests") {
        return;
    }
    let stack = RunningStack::start_default().await.unwrap();
    let token = stack.token(&["pets/write"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, stack.ca_pem()).unwrap();
    let port = stack.endpoints().gateway.port();
    // The custom domain resolves to the gateway's loopback port for this script only.
    let script = format!(
        r#"
import socket, requests
real = socket.getaddrinfo
socket.getaddrinfo = lambda host, *a, **k: real("127.0.0.1" if host == "{DOMAIN}" else host, *a, **k)
for _ in range({ROUNDS}):
    r = requests.post("https://{DOMAIN}:{port}/pets", data=b"a" * (1 << 20), timeout=20,
                      headers={{"authorization": "Bearer {token}", "content-type": "application/json"}},
                      verify="{ca}")
    print(r.status_code, r.text)
"#,
        ca = ca.display()
    );
    let out = tokio::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{} {stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), ROUNDS, "{stdout}");
    for (round, line) in lines.iter().enumerate() {
        assert_eq!(*line, format!("413 {PETS_REFUSAL}"), "round {round}");
    }
    stack.stop().await;
}

/// curl, over HTTP/1.1 and HTTP/2, gets the task's 413 for every refused upload.
#[tokio::test]
async fn curl_gets_the_tasks_413_for_refused_uploads() {
    if !support::tool("curl", "--version", "apt-get install curl") {
        return;
    }
    let stack = RunningStack::start_default().await.unwrap();
    let token = stack.token(&["pets/write"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ca, body) = (dir.path().join("ca.pem"), dir.path().join("pet.json"));
    std::fs::write(&ca, stack.ca_pem()).unwrap();
    std::fs::write(&body, vec![b'a'; 1 << 20]).unwrap();
    let port = stack.endpoints().gateway.port();
    for version in ["--http1.1", "--http2"] {
        for round in 0..ROUNDS {
            let out = tokio::process::Command::new("curl")
                .args(["-sS", version, "--max-time", "20", "-w", "\n%{http_code}"])
                .arg("--cacert")
                .arg(&ca)
                .args(["--resolve", &format!("{DOMAIN}:{port}:127.0.0.1")])
                .args(["-H", &format!("authorization: Bearer {token}")])
                .args(["-H", "content-type: application/json"])
                .arg("--data-binary")
                .arg(format!("@{}", body.display()))
                .arg(format!("https://{DOMAIN}:{port}/pets"))
                .output()
                .await
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{version} round {round}: {} {stdout}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                stdout.as_ref(),
                format!("{PETS_REFUSAL}\n413"),
                "{version} round {round}"
            );
        }
    }
    stack.stop().await;
}
