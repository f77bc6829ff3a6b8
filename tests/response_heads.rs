//! A target's response head on its way back through the load balancer and the gateway: any
//! number of lines within the ALB's 32 KB limit reaches the client, a larger head is the ALB's
//! 502 ("Quotas for your Application Load Balancers", "HTTP headers",
//! https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html:
//! the whole response header 32 KB; docs/aws-rules.md §ALB-2.5).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use airlock_stack::RunningStack;
use support::get;

/// A task whose `/pets/many` answers with 400 short header lines (~6 KB), `/pets/huge` with a
/// 40 KB head, and everything else (the health check) with a plain 200.
const APP: &str = r#"
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200)
        if self.path == "/pets/many":
            for i in range(400):
                self.send_header("x-line-%d" % i, str(i))
        elif self.path == "/pets/huge":
            for i in range(40):
                self.send_header("x-big-%d" % i, "v" * 1000)
        body = b'{"ok":true}'
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;

#[tokio::test]
async fn many_response_header_lines_pass_and_a_head_over_32_kb_is_the_albs_502() {
    if !support::python_module("http.server", "apt-get install python3") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let stack = RunningStack::start_ephemeral(support::default_stack_with_app(dir.path(), APP))
        .await
        .unwrap();
    let token = stack.token(&["pets/read"]).unwrap();

    let many = get(&stack, "/pets/many", Some(&token)).await;
    assert_eq!(many.status, 200, "{}", many.text());
    for i in [0, 99, 100, 399] {
        assert_eq!(
            many.header(&format!("x-line-{i}")),
            Some(i.to_string().as_str()),
            "line {i} of 400 reaches the client"
        );
    }

    let huge = get(&stack, "/pets/huge", Some(&token)).await;
    assert_eq!(huge.status, 502);
    assert_eq!(
        huge.text(),
        "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
         <center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n",
        "the ALB's own 502 page, passed through by the gateway"
    );
    assert!(huge.header("x-big-0").is_none());

    // The task and the connections behind the gateway keep serving.
    let again = get(&stack, "/pets/many", Some(&token)).await;
    assert_eq!(again.status, 200);
    stack.stop().await;
}
