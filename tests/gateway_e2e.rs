//! API Gateway fidelity through the whole stack: parameter mapping with JWT claims and
//! stage variables toward a Fargate task, an INTERNET integration to a loopback backend, CORS,
//! throttling and the stage's access log file. Sections cite `docs/aws-rules.md`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use airlock_stack::RunningStack;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use support::{DOMAIN, https};
use tokio::net::TcpListener;

/// A loopback backend answering every request with its path and query as JSON.
async fn echo_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    |req: http::Request<hyper::body::Incoming>| async move {
                        let json = serde_json::json!({
                            "path": req.uri().path(),
                            "query": req.uri().query(),
                            "host": req.headers().get("host").and_then(|v| v.to_str().ok()),
                        });
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            Bytes::from(json.to_string()),
                        )))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

fn stack_file(backend: SocketAddr) -> airlock_config::Stack {
    let source = include_str!("../fixtures/default-stack.yaml");
    let edits = [
        (
            "        tls_config:\n          server_name_to_verify: private-integration.example.com\n",
            format!(
                "        tls_config:\n          server_name_to_verify: private-integration.example.com\n        request_parameters:\n          \"overwrite:header.x-user-sub\": $context.authorizer.claims.sub\n          \"overwrite:header.x-env\": \"${{stageVariables.env}}-${{context.stage}}\"\n      - name: local-echo\n        integration_type: HTTP_PROXY\n        connection_type: INTERNET\n        integration_uri: http://{backend}/echo/{{proxy}}\n        timeout_in_millis: 5000\n"
            ),
        ),
        (
            "    routes:\n      - route_key: GET /pets\n",
            "    cors_configuration:\n      allow_origins: [\"https://app.example.com\"]\n      allow_methods: [GET]\n    routes:\n      - route_key: GET /local/{proxy+}\n        target: local-echo\n      - route_key: GET /pets\n".to_owned(),
        ),
        (
            "      - stage_name: $default\n        auto_deploy: true\n",
            "      - stage_name: $default\n        auto_deploy: true\n        stage_variables:\n          env: e2e\n        route_settings:\n          \"GET /health\":\n            throttling_burst_limit: 1\n            throttling_rate_limit: 0\n        access_log_settings:\n          destination_arn: arn:aws:logs:us-east-1:000000000000:log-group:/aws/apigateway/pets-api\n          format: CLF\n".to_owned(),
        ),
    ];
    let mut text = source.to_owned();
    for (from, to) in edits {
        assert!(text.contains(from), "fixture changed: {from:?}");
        text = text.replacen(from, &to, 1);
    }
    airlock_config::parse(&text, std::path::Path::new("gateway-e2e.yaml")).unwrap()
}

support::also_sharded! {
    async fn mapping_url_integration_cors_throttling_and_access_log() {
        let backend = echo_backend().await;
        let stack = RunningStack::start_ephemeral(stack_file(backend))
            .await
            .unwrap();
        let gw = stack.endpoints().gateway;
        let token = stack.token(&[]).unwrap();
        let auth = format!("Bearer {token}");

        // docs/aws-rules.md §HTTP-4.6 + §HTTP-5.1: claims and stage variables reach the task only through mapping.
        let r = https(
            gw,
            stack.ca_der(),
            DOMAIN,
            "GET",
            "/whoami",
            &[("authorization", &auth)],
            "",
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let whoami_id = r.header("apigw-requestid").unwrap().to_owned();
        let headers = &r.json()["headers"];
        assert_eq!(headers["x-user-sub"], "local-user");
        assert_eq!(headers["x-env"], "e2e-$default");

        // docs/aws-rules.md §HTTP-4.2: an INTERNET integration to a loopback URL, `{proxy}` substituted.
        let r = https(gw, stack.ca_der(), DOMAIN, "GET", "/local/a/b?x=1", &[], "").await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["path"], "/echo/a/b");
        assert_eq!(r.json()["query"], "x=1");
        assert_eq!(r.json()["host"], backend.to_string());

        // docs/aws-rules.md §HTTP-2.8: preflight answered by the gateway.
        let r = https(
            gw,
            stack.ca_der(),
            DOMAIN,
            "OPTIONS",
            "/pets",
            &[
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "GET"),
            ],
            "",
        )
        .await;
        assert_eq!(r.status, 204);
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://app.example.com")
        );

        // docs/aws-rules.md §HTTP-3.3: burst 1, rate 0 on GET /health.
        let first = https(gw, stack.ca_der(), DOMAIN, "GET", "/health", &[], "").await;
        assert_eq!(first.status, 200, "{}", first.text());
        let second = https(gw, stack.ca_der(), DOMAIN, "GET", "/health", &[], "").await;
        assert_eq!(second.status, 429);
        assert_eq!(second.text(), r#"{"message":"Too Many Requests"}"#);

        // docs/aws-rules.md §HTTP-9: one CLF line per request in the log group's file under
        // the state directory, written (in a batch) once its response body has been sent.
        let log = stack.state_dir().join("logs/aws/apigateway/pets-api.log");
        let line = support::log_line(&log, |l| l.ends_with(&whoami_id)).await;
        assert!(line.contains("\"GET GET /whoami HTTP/1.1\" 200 "), "{line}");
        stack.stop().await;
    }
}

support::also_sharded! {
    /// docs/aws-rules.md §HTTP-4.3 and §HTTP-4.5: `tls_config.server_name_to_verify` is the name the gateway verifies the
    /// listener's certificate against. A name the ALB's certificate (`*.example.com`) does not
    /// cover fails the TLS handshake inside the VPC link, and the client gets 500
    /// `{"message":"Internal Server Error"}` from the gateway (the right name is served: see
    /// the test above and tests/chain.rs).
    async fn a_server_name_the_listener_certificate_does_not_cover_is_a_500() {
        let from = "          server_name_to_verify: private-integration.example.com\n";
        let text = airlock_config::DEFAULT_STACK_YAML;
        assert!(text.contains(from), "fixture changed: {from:?}");
        let text = text.replacen(
            from,
            "          server_name_to_verify: private-integration.example.org\n",
            1,
        );
        // An access log line carries `$context.integrationErrorMessage`: the failure is the
        // certificate, not something else on the way.
        let stage = "      - stage_name: $default\n        auto_deploy: true\n";
        assert!(text.contains(stage), "fixture changed: {stage:?}");
        let text = text.replacen(
            stage,
            &format!("{stage}        access_log_settings:\n          destination_arn: arn:aws:logs:us-east-1:000000000000:log-group:wrong-name\n          format: \"$context.requestId $context.integrationErrorMessage\"\n"),
            1,
        );
        let stack = airlock_config::parse(&text, std::path::Path::new("wrong-name.yaml")).unwrap();
        let stack = RunningStack::start_ephemeral(stack).await.unwrap();
        let gw = stack.endpoints().gateway;
        let r = https(gw, stack.ca_der(), DOMAIN, "GET", "/health", &[], "").await;
        assert_eq!(r.status, 500, "{}", r.text());
        assert_eq!(r.text(), r#"{"message":"Internal Server Error"}"#);
        assert_eq!(r.header("content-type"), Some("application/json"));
        let id = r.header("apigw-requestid").unwrap().to_owned();
        // The line is written (in a batch) once the response body has gone out.
        let log = stack.state_dir().join("logs/wrong-name.log");
        let line = support::log_line(&log, |l| l.starts_with(&id)).await;
        assert!(
            line.contains("certificate") && line.contains("private-integration.example.org"),
            "{line}"
        );
        stack.stop().await;
    }
}
