//! Helpers shared by the end-to-end tests, over `airlock_stack::client`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use airlock_stack::RunningStack;
pub use airlock_stack::client::{Call, Reply};
use rustls_pki_types::CertificateDer;
use std::net::SocketAddr;

/// The default stack's custom domain.
pub const DOMAIN: &str = "private-integration.example.com";

pub fn tls_config(
    ca: CertificateDer<'static>,
    client: Option<&airlock_pki::Leaf>,
) -> rustls::ClientConfig {
    airlock_stack::client::tls_config(ca, client).unwrap()
}

/// Sends one HTTP/1.1 request over TLS to `addr`, with SNI and Host `host`.
pub async fn https(
    addr: SocketAddr,
    ca: CertificateDer<'static>,
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let call = Call {
        method,
        path,
        headers: headers.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        body,
    };
    airlock_stack::client::https(addr, ca, host, &call)
        .await
        .expect("HTTPS exchange with the stack")
}

/// The default stack with its `pets` task running the Python program `app` (written to `dir`),
/// which serves HTTP/1.1 on 127.0.0.1 at the port in `$PORT` (8080).
pub fn default_stack_with_app(dir: &std::path::Path, app: &str) -> airlock_config::Stack {
    let path = dir.join("app.py");
    std::fs::write(&path, app).unwrap();
    let block = format!(
        r#"task_definitions:
  - family: pets
    cpu: "256"
    memory: "512"
    container_definitions:
      - name: app
        command: [python3, "{}"]
        port_mappings:
          - container_port: 8080
"#,
        path.display()
    );
    let yaml = airlock_config::DEFAULT_STACK_YAML;
    let start = yaml.find("task_definitions:").unwrap();
    let end = yaml.find("\nservices:").unwrap();
    let text = format!("{}{block}{}", &yaml[..start], &yaml[end..]);
    airlock_config::parse(&text, &dir.join("stack.yaml")).unwrap()
}

/// Upper bound for anything a test waits on; the waiting itself is on sockets, so a bound that
/// is reached means something hangs.
pub const BOUND: std::time::Duration = std::time::Duration::from_secs(60);

/// `f`, or a panic naming `what` once [`BOUND`] has passed.
pub async fn bounded<F: std::future::Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(BOUND, f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// The first line of the log file at `path` that `wanted` accepts, once it is there: access
/// logs are written in batches a fraction of a second after their requests.
pub async fn log_line(path: &std::path::Path, wanted: impl Fn(&str) -> bool) -> String {
    let found = tokio::time::timeout(BOUND, async {
        loop {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            if let Some(line) = text.lines().find(|l| wanted(l)) {
                return line.to_owned();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        panic!("no such line in {}: {text}", path.display())
    })
}

/// Where an `airlock up` child process keeps its state and endpoints file: a temporary
/// directory of its own.
pub struct UpFiles {
    /// Holds the rest; removed when dropped.
    pub dir: tempfile::TempDir,
    /// `--state-dir`.
    pub state: std::path::PathBuf,
    /// `--endpoints-json`.
    pub endpoints: std::path::PathBuf,
}

impl UpFiles {
    /// A fresh directory.
    pub fn new() -> UpFiles {
        let dir = tempfile::tempdir().unwrap();
        UpFiles {
            state: dir.path().join("state"),
            endpoints: dir.path().join("endpoints.json"),
            dir,
        }
    }

    /// `airlock --state-dir … --ephemeral-ports --endpoints-json …` (more arguments may
    /// follow): standard output piped (for [`serving`]), standard error discarded, the process
    /// killed when dropped, the user's `AIRLOCK_STATE_DIR` ignored.
    pub fn command(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_airlock"));
        cmd.arg("--state-dir")
            .arg(&self.state)
            .arg("--ephemeral-ports")
            .arg("--endpoints-json")
            .arg(&self.endpoints)
            .env_remove("AIRLOCK_STATE_DIR")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        cmd
    }
}

/// What `airlock up` (a child process) wrote once it serves.
pub struct Serving {
    /// Its standard output up to and including the banner's last line ("Press Ctrl-C").
    pub printed: String,
    /// Its `--endpoints-json` file.
    pub endpoints: serde_json::Value,
    /// The stack's CA (`ca_cert` in the endpoints).
    pub ca: CertificateDer<'static>,
}

impl Serving {
    /// The address under `key` in the endpoints (`gateway`, `admin`, `dns`, …).
    pub fn addr(&self, key: &str) -> SocketAddr {
        let text = self.endpoints[key].as_str();
        text.and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("no address {key} in {}", self.endpoints))
    }
}

/// Waits until the `airlock up` in `child` serves: reads its standard output (taken from
/// `child`) up to the banner's end, then keeps reading it in the background (the stack must
/// never block on, or fail at, a full or closed pipe), and reads the endpoints file at
/// `endpoints`. `None` when the process ended before its banner; a panic after `limit`.
pub async fn serving(
    child: &mut tokio::process::Child,
    endpoints: &std::path::Path,
    limit: std::time::Duration,
) -> Option<Serving> {
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout piped")).lines();
    let mut printed = String::new();
    let banner = tokio::time::timeout(limit, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            printed.push_str(&line);
            printed.push('\n');
            if line.contains("Press Ctrl-C") {
                return true;
            }
        }
        false
    });
    if !banner.await.expect("airlock up printed its banner in time") {
        return None;
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let endpoints: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(endpoints).unwrap()).unwrap();
    let ca_pem = std::fs::read(endpoints["ca_cert"].as_str().unwrap()).unwrap();
    let ca = rustls_pki_types::pem::PemObject::from_pem_slice(&ca_pem).unwrap();
    Some(Serving {
        printed,
        endpoints,
        ca,
    })
}

/// A GET to the stack's gateway under the default custom domain.
pub async fn get(stack: &RunningStack, path: &str, token: Option<&str>) -> Reply {
    let mut call = Call::get(path);
    if let Some(t) = token {
        call = call.bearer(t);
    }
    airlock_stack::client::https(stack.endpoints().gateway, stack.ca_der(), DOMAIN, &call)
        .await
        .expect("HTTPS exchange with the gateway")
}

pub trait ReplyExt {
    fn h(&self, name: &str) -> &str;
}

impl ReplyExt for Reply {
    /// A header that must be present.
    fn h(&self, name: &str) -> &str {
        self.header(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }
}

/// Whether the external tool `name` (run as `name version_arg`) can be used by a test.
///
/// A test that needs a tool calls this first. Under `CI=true` a missing tool fails the test,
/// since `.ci/run` installs every tool a test needs and a skip there would hide a missing
/// install step; elsewhere the test is skipped with the reason printed. The rule is
/// `airlock_net::testing`'s, shared with the crates' tests.
pub fn tool(name: &str, version_arg: &str, install_hint: &str) -> bool {
    airlock_net::testing::tool(name, version_arg, install_hint)
}

/// Whether python3 can import `module`, under the same rule as [`tool`].
pub fn python_module(module: &str, install_hint: &str) -> bool {
    airlock_net::testing::python_module(module, install_hint)
}

/// How many shards a sharded run starts: two, the fewest that let a request and the
/// connections it rides land on different cores (the binary starts one per core).
pub const SHARDS: usize = 2;

/// The environment variable that tells a test process it is the sharded run of one test.
const SHARDED_RUN: &str = "AIRLOCK_TEST_SHARDED_RUN";

/// Runs `body` with the process sharded as the binary runs it (`airlock_net::shards`): this
/// thread's current-thread runtime is shard 0, where the stack starts, and each further shard
/// is a runtime on a thread of its own, so host connections are spread over the shards and
/// every in-process hop stays on its dialer's shard.
///
/// Shards are process-wide and installed once, so the test process re-runs itself with only
/// `test` (its full name) selected, and the shards are installed in that child; the tests
/// running beside this one keep running unsharded.
pub fn sharded<F: Future<Output = ()>>(test: &str, body: impl FnOnce() -> F) {
    if std::env::var_os(SHARDED_RUN).is_some() {
        let main = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut handles = vec![main.handle().clone()];
        for index in 1..SHARDS {
            handles.push(airlock_net::shards::spawn(index).unwrap());
        }
        assert!(
            airlock_net::shards::install(handles),
            "shards installed twice"
        );
        assert_eq!(airlock_net::shards::count(), SHARDS);
        airlock_net::shards::enter(0);
        main.block_on(body());
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(SHARDED_RUN, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(" 1 passed;"),
        "the sharded run of {test} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Defines an end-to-end test twice: `NAME`, on the test's own runtime without shards (as
/// library users run the stack), and `NAME::sharded`, with the stack sharded as the binary runs
/// it (see [`sharded`]). For a representative set of the end-to-end tests, not all of them: each
/// sharded run is a process of its own.
#[allow(unused_macros)]
macro_rules! also_sharded {
    ($(#[$attr:meta])* async fn $name:ident() $body:block) => {
        $(#[$attr])*
        #[tokio::test]
        async fn $name() $body

        mod $name {
            #[allow(unused_imports)]
            use super::*;

            /// The test above, with the stack sharded as the binary runs it.
            #[test]
            fn sharded() {
                support::sharded(concat!(stringify!($name), "::sharded"), || async move $body);
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use also_sharded;
