//! CloudFormation, SAM and `cdk synth` templates run unchanged through the `airlock` binary:
//! `up` (with `--image '*=builtin:echo'` so no container image is needed), `validate`, and
//! `convert`, whose output validates and starts the same stack. Each template answers through
//! gateway → VPC link → ALB → task with the status its authorization gives, the internet vantage
//! point's call to the internal ALB times out, and the template's Outputs are in the endpoints
//! JSON. Broken templates are refused whole, each problem with file:line:column, its path and a
//! hint, before anything binds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use airlock_stack::client::{self, Call, Reply};
use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

/// Every container image of the test templates runs as the built-in echo app, which answers
/// every path on every container port (so the templates' health checks pass).
const ECHO_EVERYTHING: [&str; 2] = ["--image", "*=builtin:echo"];

fn airlock() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_airlock"));
    c.env_remove("AIRLOCK_STATE_DIR")
        .env_remove("RUST_LOG")
        .env_remove("AIRLOCK_LOG");
    c
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/cloudformation")
        .join(name)
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A running `airlock up FILE --ephemeral-ports --endpoints-json F --state-dir D`.
struct Up {
    child: tokio::process::Child,
    /// Everything printed on stdout up to "Press Ctrl-C".
    printed: String,
    endpoints: serde_json::Value,
    ca: CertificateDer<'static>,
    _dir: tempfile::TempDir,
}

impl Up {
    async fn start(file: &Path, extra: &[&str]) -> Up {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let endpoints = dir.path().join("endpoints.json");
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
            .arg("up")
            .arg(file)
            .arg("--state-dir")
            .arg(&state)
            .arg("--ephemeral-ports")
            .arg("--endpoints-json")
            .arg(&endpoints)
            .args(extra)
            .env_remove("AIRLOCK_STATE_DIR")
            .env_remove("RUST_LOG")
            .env_remove("AIRLOCK_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        // Stderr is kept (for a failure's message) and drained all along.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut err_lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = err_lines.next_line().await {
                let _ = tx.send(line);
            }
        });
        let Some(up) = support::serving(&mut child, &endpoints, Duration::from_secs(90)).await
        else {
            let mut err = String::new();
            while let Ok(l) = rx.try_recv() {
                err.push_str(&l);
                err.push('\n');
            }
            let status = child.wait().await.unwrap();
            panic!(
                "airlock up {} ended ({status}) before serving:\n{err}",
                file.display()
            );
        };
        tokio::spawn(async move { while rx.recv().await.is_some() {} });
        let support::Serving {
            printed,
            endpoints,
            ca,
        } = up;
        Up {
            child,
            printed,
            endpoints,
            ca,
            _dir: dir,
        }
    }

    fn addr(&self, key: &str) -> SocketAddr {
        self.endpoints[key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key} in {}", self.endpoints))
            .parse()
            .unwrap()
    }

    fn output(&self, name: &str) -> String {
        self.endpoints["outputs"][name]
            .as_str()
            .unwrap_or_else(|| panic!("no output {name} in {}", self.endpoints))
            .to_owned()
    }

    /// A GET through the gateway's host port, with SNI and Host `host`.
    async fn get(&self, host: &str, path: &str, token: Option<&str>) -> Reply {
        let mut call = Call::get(path);
        if let Some(t) = token {
            call = call.bearer(t);
        }
        client::https(self.addr("gateway"), self.ca.clone(), host, &call)
            .await
            .expect("HTTPS exchange with the gateway")
    }

    /// Whether a connection from the internet vantage point to `host:port` gets no answer at
    /// all (dropped, as AWS drops it), within half a second.
    async fn internet_times_out(&self, host: &str, port: u16) -> bool {
        client::socks5(
            self.addr("socks_internet"),
            host,
            port,
            Duration::from_millis(500),
        )
        .await
        .unwrap()
        .is_none()
    }

    /// The status of `GET /` over plain HTTP to `host:port` from the `vpc` vantage point.
    async fn http_from_vpc(&self, host: &str, port: u16) -> u16 {
        let (code, mut stream) =
            client::socks5(self.addr("socks_vpc"), host, port, Duration::from_secs(5))
                .await
                .unwrap()
                .expect("the vpc vantage point reaches the load balancer");
        assert_eq!(code, 0);
        let request = format!("GET /health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut head = vec![0; 12];
        stream.read_exact(&mut head).await.unwrap();
        String::from_utf8_lossy(&head[9..12]).parse().unwrap()
    }

    async fn stop(mut self) {
        let pid = self.child.id().unwrap().to_string();
        assert!(
            Command::new("kill")
                .args(["-INT", &pid])
                .status()
                .unwrap()
                .success()
        );
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("airlock stops after SIGINT")
            .unwrap();
        assert!(status.success(), "{status:?}");
    }
}

/// `https://HOST/PATH` → (`HOST`, `/PATH`).
fn split_url(url: &str) -> (String, String) {
    let rest = url.strip_prefix("https://").expect("an https URL");
    match rest.split_once('/') {
        Some((host, path)) => (host.to_owned(), format!("/{path}")),
        None => (rest.to_owned(), "/".to_owned()),
    }
}

/// `airlock convert FILE ARGS` into a file of `dir`; asserts `airlock validate` accepts it.
fn convert_and_validate(file: &Path, args: &[&str], dir: &Path) -> PathBuf {
    let out = airlock()
        .arg("convert")
        .arg(file)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "convert: {}", stderr_of(&out));
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(
        yaml.contains("# Resources."),
        "each entry names its template resource:\n{yaml}"
    );
    let converted = dir.join("converted.yaml");
    std::fs::write(&converted, &yaml).unwrap();
    let valid = airlock().arg("validate").arg(&converted).output().unwrap();
    assert!(
        valid.status.success(),
        "the converted stack validates: {}\n{yaml}",
        stderr_of(&valid)
    );
    converted
}

/// What each test template's stack must do: a call to `https://HOST/PATH` through the gateway
/// without a token is refused by the route's JWT authorizer as API Gateway refuses it (401,
/// `{"message":"Unauthorized"}`); with an access token of the template's user pool `pool` it
/// reaches an echo task through the VPC link and the ALB (200, the task's id in the body); and
/// the internal ALB's `alb_port` gets no answer from the internet vantage point.
async fn authorized_chain(up: &Up, host: &str, path: &str, pool: &str, alb: &str, alb_port: u16) {
    let refused = up.get(host, path, None).await;
    assert_eq!(refused.status, 401, "{}", refused.text());
    assert_eq!(
        refused.json(),
        serde_json::json!({"message": "Unauthorized"}),
        "{}",
        refused.text()
    );
    let token = user_pool_token(up, pool).await;
    let reply = up.get(host, path, Some(&token)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        reply.json()["task_id"].is_string(),
        "answered by a task: {}",
        reply.text()
    );
    assert!(
        reply.header("apigw-requestid").is_some(),
        "through the gateway"
    );
    assert!(
        up.internet_times_out(alb, alb_port).await,
        "the internal ALB must not answer from the internet"
    );
}

/// The SAM template's chain: its route's JWT authorizer (an `AWS::ApiGatewayV2::Authorizer` of
/// the template's user pool; SAM's `Auth.DefaultAuthorizer` does not reach route resources)
/// guards the API under the stage the output names.
async fn sam_chain(up: &Up, api_url: &str, alb: &str) {
    let (host, stage) = split_url(api_url);
    authorized_chain(up, &host, &format!("{stage}/items/1"), "UserPool", alb, 80).await;
}

/// docs/cloudformation.md: a SAM template taking its VPC and subnets as parameters runs with no
/// arguments (airlock makes the VPC up), 401 without a token and 200 with one of its user pool;
/// its Outputs are printed and in the endpoints JSON; its conversion validates and runs the same
/// stack.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sam_template_runs_with_no_arguments_and_converts() {
    let file = fixture("sam-private-api.yaml");
    let up = Up::start(&file, &ECHO_EVERYTHING).await;
    let api_url = up.output("ApiUrl");
    let alb = up.output("LoadBalancerDns");
    assert!(up.printed.contains("Outputs:"), "{}", up.printed);
    assert!(up.printed.contains(&api_url), "{}", up.printed);
    assert!(
        up.printed.contains("Accepted without running") && up.printed.contains("ExecutionRole"),
        "{}",
        up.printed
    );
    let alb_names: Vec<&str> = up.endpoints["alb_dns_names"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(alb_names.contains(&alb.as_str()), "{}", up.endpoints);
    sam_chain(&up, &api_url, &alb).await;
    up.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let converted = convert_and_validate(&file, &ECHO_EVERYTHING, dir.path());
    let again = Up::start(&converted, &[]).await;
    sam_chain(&again, &api_url, &alb).await;
    again.stop().await;
}

/// A `cdk synth`-style template (public/private subnets, NAT gateways, a `Rules` section, the
/// bootstrap version parameter, an HTTP API with a VPC link and a Cognito user pool authorizer):
/// through the API's `execute-api` name, 401 without a token and 200 with one of the pool; the
/// internal ALB answers from inside the VPC and times out from the internet; the NAT gateways
/// and routes are accepted without running; Outputs are in the endpoints JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdk_style_template_runs_and_converts() {
    let file = fixture("cdk-vpc-service.template.json");
    let up = Up::start(&file, &ECHO_EVERYTHING).await;
    let alb = up.output("LoadBalancerDNS");
    let (host, path) = split_url(&up.output("ApiUrl"));
    assert!(
        host.ends_with(".execute-api.us-east-1.amazonaws.com"),
        "{host}"
    );
    assert!(
        up.output("ListenerArn")
            .starts_with("arn:aws:elasticloadbalancing:")
    );
    assert!(up.printed.contains("NatGateway"), "{}", up.printed);
    let pool = "UserPool6BA7E5F2";
    authorized_chain(&up, &host, &format!("{path}items"), pool, &alb, 80).await;
    assert_eq!(up.http_from_vpc(&alb, 80).await, 200);
    up.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let converted = convert_and_validate(&file, &ECHO_EVERYTHING, dir.path());
    let again = Up::start(&converted, &[]).await;
    authorized_chain(&again, &host, &format!("{path}items"), pool, &alb, 80).await;
    assert_eq!(again.http_from_vpc(&alb, 80).await, 200);
    again.stop().await;
}

/// Conditions, Mappings and both forms of `Fn::Sub`: the outputs are resolved (the `NoEcho`
/// parameter masked), the API's id is the one served, and through its custom domain the route's
/// JWT authorizer (a Cognito user pool's issuer) refuses a call without a token and lets one with
/// a pool token through the VPC link and the ALB to a task; the ALB times out from the internet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditions_and_mappings_template_runs_and_converts() {
    let file = fixture("conditions-mappings.yaml");
    let up = Up::start(&file, &ECHO_EVERYTHING).await;
    // An output built from a NoEcho parameter is masked whole (docs/cloudformation.md).
    assert_eq!(
        up.output("SecretEcho"),
        airlock_config::cloudformation::MASK
    );
    assert_eq!(up.output("Literal"), "${NotAVariable}-dev");
    let (api_host, _) = split_url(&up.output("ApiEndpoint"));
    let served: Vec<&str> = up.endpoints["api_endpoints"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(served.contains(&api_host.as_str()), "{}", up.endpoints);
    assert!(
        !up.printed.contains("not-a-real-secret"),
        "a NoEcho value is never printed"
    );
    let (domain, _) = split_url(&up.output("ApiUrl"));
    assert_eq!(domain, "api.example.com");
    let alb = up.output("LoadBalancerDns");
    authorized_chain(&up, &domain, "/items", "UserPool", &alb, 80).await;
    up.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let converted = convert_and_validate(&file, &ECHO_EVERYTHING, dir.path());
    let again = Up::start(&converted, &[]).await;
    let served = again.endpoints["api_endpoints"].to_string();
    assert!(served.contains(&api_host), "{served}");
    authorized_chain(&again, &domain, "/items", "UserPool", &alb, 80).await;
    again.stop().await;
}

/// A Cognito user pool JWT authorizer, a custom domain with an ACM certificate, a Route 53
/// alias and an HTTPS listener: 401 without a token, 200 with one the pool's issuer signs
/// (`airlock token --user-pool`), through gateway → VPC link → ALB (HTTPS) → task; the ALB
/// times out from the internet; the conversion runs the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cognito_domain_template_authorizes_through_the_chain() {
    let file = fixture("cognito-domain.yaml");
    assert!(
        file.exists(),
        "fixtures/cloudformation/cognito-domain.yaml is missing"
    );
    let up = Up::start(&file, &ECHO_EVERYTHING).await;
    let (domain, _) = split_url(&up.output("ApiUrl"));
    let alb = up.output("LoadBalancerDns");
    let unauthorized = up.get(&domain, "/items", None).await;
    assert_eq!(unauthorized.status, 401, "{}", unauthorized.text());
    let token = user_pool_token(&up, "UserPool").await;
    let ok = up.get(&domain, "/items", Some(&token)).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert!(ok.json()["task_id"].is_string(), "{}", ok.text());
    assert!(up.internet_times_out(&alb, 443).await);
    // How to reach it is printed: the domain through the gateway's host port, the ALB from
    // the vpc vantage point.
    assert!(
        up.printed.contains(&format!("--resolve {domain}:"))
            && up.printed.contains(&format!("https://{alb}:443/")),
        "{}",
        up.printed
    );
    up.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let converted = convert_and_validate(&file, &ECHO_EVERYTHING, dir.path());
    let again = Up::start(&converted, &[]).await;
    assert_eq!(again.get(&domain, "/items", None).await.status, 401);
    again.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Errors (issue item 8): every problem at once, each with file:line:column, path and hint;
// nothing binds.

/// A template small enough to break one way at a time: an API in front of nothing, with a
/// parameter, an output and room for the broken part.
fn broken(resources: &str, outputs: &str) -> String {
    format!(
        "AWSTemplateFormatVersion: \"2010-09-09\"\n\
         Parameters:\n  \
           Env:\n    \
             Type: String\n    \
             Default: dev\n    \
             AllowedValues: [dev, prod]\n\
         Resources:\n  \
           Api:\n    \
             Type: AWS::ApiGatewayV2::Api\n    \
             Properties:\n      \
               Name: !Sub \"${{Env}}-api\"\n      \
               ProtocolType: HTTP\n\
         {resources}\
         Outputs:\n  \
           Endpoint:\n    \
             Value: !GetAtt Api.ApiEndpoint\n\
         {outputs}"
    )
}

/// Runs `airlock up` on `text` with `args`, expecting a refusal: returns stderr after checking
/// that the exit code is 1, no endpoints file was written, the state directory was not created
/// and the port it would have served is still free.
fn refused(text: &str, args: &[&str]) -> (String, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("template.yaml");
    std::fs::write(&file, text).unwrap();
    let state = dir.path().join("state");
    let endpoints = dir.path().join("endpoints.json");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = airlock()
        .arg("up")
        .arg(&file)
        .arg("--state-dir")
        .arg(&state)
        .arg("--endpoints-json")
        .arg(&endpoints)
        .args(["--gateway-port", &port.to_string()])
        .args(args)
        .output()
        .unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        !endpoints.exists(),
        "an endpoints file for a refused template"
    );
    assert!(!state.exists(), "a state directory for a refused template");
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("port untouched");
    (stderr, file)
}

/// Asserts `stderr` has `FILE:LINE:COL: PATH: …` with a message containing `says` and a hint
/// containing `hint`.
fn assert_problem(
    stderr: &str,
    file: &Path,
    at: (usize, usize),
    path: &str,
    says: &str,
    hint: &str,
) {
    let head = format!("{}:{}:{}: {path}: ", file.display(), at.0, at.1);
    let line = stderr
        .lines()
        .find(|l| l.contains(&head))
        .unwrap_or_else(|| panic!("no `{head}` in:\n{stderr}"));
    assert!(line.contains(says), "{line}");
    let (_, h) = line
        .split_once("(hint: ")
        .unwrap_or_else(|| panic!("no hint in {line}"));
    assert!(h.contains(hint), "{line}");
}

/// Problems of every kind in one template are all reported at once.
#[test]
fn every_problem_of_a_template_is_reported_at_once() {
    let text = broken(
        "  Route:\n    \
           Type: AWS::ApiGatewayV2::Route\n    \
           Properties:\n      \
             ApiId: !Ref Api\n      \
             RouteKey: GET /\n      \
             Target: !Sub integrations/${Integraton}\n  \
         Stage:\n    \
           Type: AWS::ApiGatewayV2::Stage\n    \
           Properties:\n      \
             ApiId: !Ref Api\n      \
             StageNme: $default\n",
        "  Url:\n    Value: !GetAtt Api.Endpoint\n",
    );
    let (stderr, file) = refused(&text, &["--parameter", "Env=test"]);
    // The unknown Ref inside Fn::Sub, the misspelt property, the GetAtt of a missing
    // attribute and the parameter outside its AllowedValues, together.
    assert_problem(
        &stderr,
        &file,
        (18, 15),
        "Resources.Route.Properties.Target",
        "Integraton",
        "",
    );
    assert_problem(
        &stderr,
        &file,
        (23, 17),
        "Resources.Stage.Properties.StageNme",
        "StageNme",
        "StageName",
    );
    assert_problem(
        &stderr,
        &file,
        (28, 12),
        "Outputs.Url.Value",
        "Endpoint",
        "ApiEndpoint",
    );
    assert_problem(
        &stderr,
        &file,
        (4, 5),
        "Parameters.Env",
        "\"test\"",
        "dev, prod",
    );
}

/// An unknown `Ref`: its line, the property's path, and the nearest name as the hint.
#[test]
fn an_unknown_ref_is_refused_with_its_line_and_the_nearest_name() {
    let text = broken(
        "  Stage:\n    \
           Type: AWS::ApiGatewayV2::Stage\n    \
           Properties:\n      \
             ApiId: !Ref Apii\n      \
             StageName: $default\n",
        "",
    );
    let (stderr, file) = refused(&text, &[]);
    assert_problem(
        &stderr,
        &file,
        (16, 14),
        "Resources.Stage.Properties.ApiId",
        "Apii",
        "Api",
    );
}

/// `Fn::GetAtt` of an attribute the type does not have.
#[test]
fn a_getatt_of_a_missing_attribute_is_refused() {
    let text = broken("", "  Dns:\n    Value: !GetAtt Api.DNSName\n");
    let (stderr, file) = refused(&text, &[]);
    assert_problem(
        &stderr,
        &file,
        (17, 12),
        "Outputs.Dns.Value",
        "has no attribute `DNSName`",
        "",
    );
}

/// Resources that wait for each other.
#[test]
fn a_circular_dependency_is_refused_naming_the_cycle() {
    let text = broken(
        "  GroupA:\n    \
           Type: AWS::EC2::SecurityGroup\n    \
           DependsOn: GroupB\n    \
           Properties:\n      \
             GroupDescription: a\n  \
         GroupB:\n    \
           Type: AWS::EC2::SecurityGroup\n    \
           Properties:\n      \
             GroupDescription: !GetAtt GroupA.GroupId\n",
        "",
    );
    let (stderr, _) = refused(&text, &[]);
    assert!(
        stderr.contains("circular dependency: GroupA -> GroupB")
            || stderr.contains("circular dependency: GroupB -> GroupA"),
        "{stderr}"
    );
    assert!(stderr.contains("Resources.Group"), "{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");
}

/// A parameter value outside its constraint, given with `--parameter` or a parameters file in
/// the AWS CLI's JSON.
#[test]
fn a_parameter_breaking_its_constraint_is_refused() {
    let (stderr, file) = refused(&broken("", ""), &["--parameter", "Env=qa"]);
    assert_problem(
        &stderr,
        &file,
        (4, 5),
        "Parameters.Env",
        "\"qa\"",
        "dev, prod",
    );

    let dir = tempfile::tempdir().unwrap();
    let params = dir.path().join("params.json");
    std::fs::write(
        &params,
        r#"[{"ParameterKey": "Env", "ParameterValue": "staging"}]"#,
    )
    .unwrap();
    let (stderr, _) = refused(
        &broken("", ""),
        &["--parameters-file", params.to_str().unwrap()],
    );
    assert!(stderr.contains("staging"), "{stderr}");
}

/// A property the type does not have, with the nearest valid name as the hint.
#[test]
fn an_unknown_property_is_refused_with_the_nearest_valid_name() {
    let text = broken(
        "  Stage:\n    \
           Type: AWS::ApiGatewayV2::Stage\n    \
           Properties:\n      \
             ApiId: !Ref Api\n      \
             StageName: $default\n      \
             AutoDeploi: true\n",
        "",
    );
    let (stderr, file) = refused(&text, &[]);
    assert_problem(
        &stderr,
        &file,
        (18, 19),
        "Resources.Stage.Properties.AutoDeploi",
        "AutoDeploi",
        "AutoDeploy",
    );
}

/// A type airlock does not run is an error with its line and a hint naming
/// `--ignore-unsupported`; with it the resource is a warning and the rest validates.
#[test]
fn an_unsupported_type_is_an_error_or_with_the_flag_a_warning() {
    let lambda = "  Handler:\n    \
                    Type: AWS::Lambda::Function\n    \
                    Properties:\n      \
                      Runtime: python3.12\n      \
                      Handler: index.handler\n      \
                      Role: arn:aws:iam::123456789012:role/x\n      \
                      Code:\n        \
                        ZipFile: \"def handler(e, c): return {}\"\n";
    let text = broken(lambda, "");
    let (stderr, file) = refused(&text, &[]);
    assert_problem(
        &stderr,
        &file,
        (14, 11),
        "Resources.Handler.Type",
        "AWS::Lambda::Function",
        "--ignore-unsupported",
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("template.yaml");
    std::fs::write(&file, &text).unwrap();
    let out = airlock()
        .arg("validate")
        .arg(&file)
        .arg("--ignore-unsupported")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}{stdout}", stderr_of(&out));
    assert!(
        stdout.contains("warning: Handler (AWS::Lambda::Function)"),
        "{stdout}"
    );
}

/// Template options given for a stack file would do nothing: they are refused.
#[test]
fn template_options_are_refused_for_a_stack_file() {
    let out = airlock()
        .args([
            "validate",
            "fixtures/default-stack.yaml",
            "--parameter",
            "A=b",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("--parameter"),
        "{}",
        stderr_of(&out)
    );
    // `--image` applies to stack files too, and a bad one is a usage error.
    let ok = airlock()
        .args([
            "validate",
            "fixtures/default-stack.yaml",
            "--image",
            "*=builtin:echo",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", stderr_of(&ok));
    let bad = airlock()
        .args([
            "validate",
            "fixtures/default-stack.yaml",
            "--image",
            "*=docker:x",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", stderr_of(&bad));
}

// ---------------------------------------------------------------------------------------------
// A real CDK app, synthesized offline.

/// How long the CDK synth may take: about 15 s on a quiet machine, over a minute on a busy one.
const CDK_SYNTH_TIMEOUT: Duration = Duration::from_secs(300);

/// Synthesizes `fixtures/cdk/app.py` into `out` with the machine's Node.js (no `cdk` CLI, no AWS
/// account) and returns the template's path.
async fn cdk_synth(out: &Path) -> PathBuf {
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cdk/app.py");
    let started = Instant::now();
    let child = tokio::process::Command::new("python3")
        .arg(&app)
        .env("CDK_OUTDIR", out)
        .env("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
        .env("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
        .env("CDK_DISABLE_VERSION_CHECK", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let done = tokio::time::timeout(CDK_SYNTH_TIMEOUT, child.wait_with_output())
        .await
        .expect("the CDK app synthesizes within its time bound")
        .unwrap();
    println!("cdk synth took {:.1?}", started.elapsed());
    assert!(
        done.status.success(),
        "cdk synth: {}",
        String::from_utf8_lossy(&done.stderr)
    );
    let template = out.join("AirlockCdkStack.template.json");
    assert!(template.exists(), "no {}", template.display());
    template
}

/// The template `cdk synth` writes for an internal ALB-fronted Fargate service behind an HTTP
/// API with an ALB integration (a VPC link CDK creates) and a Cognito user pool authorizer runs
/// as it is: 401 without a token, 200 with one the pool's issuer signs, through gateway → VPC
/// link → ALB → task; the ALB times out from the internet; the conversion runs the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdk_app_synthesized_offline_runs_through_the_chain() {
    if !support::python_module(
        "aws_cdk",
        "python3 -m pip install aws-cdk-lib constructs (Node.js must be installed)",
    ) {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let file = cdk_synth(out.path()).await;
    let up = Up::start(&file, &ECHO_EVERYTHING).await;
    let (host, path) = split_url(&up.output("ApiUrl"));
    let alb = up.output("LoadBalancerDns");
    let unauthorized = up.get(&host, &format!("{path}items"), None).await;
    assert_eq!(unauthorized.status, 401, "{}", unauthorized.text());
    let token = user_pool_token(&up, "UserPool").await;
    let ok = up.get(&host, &format!("{path}items"), Some(&token)).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert!(ok.json()["task_id"].is_string(), "{}", ok.text());
    assert!(up.internet_times_out(&alb, 80).await);
    up.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let converted = convert_and_validate(&file, &ECHO_EVERYTHING, dir.path());
    let again = Up::start(&converted, &[]).await;
    assert_eq!(
        again.get(&host, &format!("{path}items"), None).await.status,
        401
    );
    again.stop().await;
}

/// An access token of the template's user pool `logical_id` (the pool's issuer, its app
/// client's id), from the admin endpoint's `POST /token?user_pool=…`.
async fn user_pool_token(up: &Up, logical_id: &str) -> String {
    let mut tcp = tokio::net::TcpStream::connect(up.addr("admin"))
        .await
        .unwrap();
    let body = r#"{"sub": "template-test"}"#;
    let request = format!(
        "POST /token?user_pool={logical_id} HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let json = response.split_once("\r\n\r\n").unwrap().1;
    let json: serde_json::Value = serde_json::from_str(json).unwrap();
    json["token"].as_str().unwrap().to_owned()
}

/// An image with no `--image` mapping that Docker cannot run (not local, and airlock does not
/// pull) stops the task as ECS stops it, `CannotPullContainerError`, and the message names the
/// image and the `--image` flag that would run it (without a Docker engine, the message about
/// the engine names the flag too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_that_cannot_run_names_the_image_flag() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .arg("up")
        .arg(fixture("cdk-vpc-service.template.json"))
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg("--ephemeral-ports")
        .env_remove("AIRLOCK_STATE_DIR")
        .env_remove("RUST_LOG")
        .env_remove("AIRLOCK_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let flag = "--image 'public.ecr.aws/nginx/nginx:1.27=builtin:echo'";
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains(flag) {
                return line;
            }
        }
        panic!("stderr ended without naming {flag}");
    })
    .await
    .expect("the task's failure is reported in time");
    assert!(
        found.contains("CannotPullContainerError") || found.contains("Docker"),
        "{found}"
    );
    child.kill().await.unwrap();
}
