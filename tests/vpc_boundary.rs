//! The VPC boundary through real sockets: vantage points, security groups, split-horizon DNS,
//! link states, reachability analysis and the admin endpoint.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use airlock_stack::RunningStack;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::net::TcpStream;

async fn socks5(
    proxy: SocketAddr,
    host: &str,
    port: u16,
    wait: Duration,
) -> Option<(u8, TcpStream)> {
    airlock_stack::client::socks5(proxy, host, port, wait)
        .await
        .unwrap()
}

async fn https_over(
    stream: TcpStream,
    stack: &RunningStack,
    host: &str,
    path: &str,
    token: Option<&str>,
) -> support::Reply {
    let mut call = support::Call::get(path);
    if let Some(t) = token {
        call = call.bearer(t);
    }
    airlock_stack::client::https_over(stream, stack.ca_der(), host, host, &call)
        .await
        .unwrap()
}

/// From the internet the custom domain reaches the gateway on port 443, while
/// the internal ALB's name resolves (to private IPs) but the connection is silently dropped;
/// from inside the VPC the same name leads to the ALB, which answers.
#[tokio::test]
async fn internet_reaches_the_gateway_but_not_the_internal_alb() {
    let stack = RunningStack::start_default().await.unwrap();
    let e = stack.endpoints().clone();
    let alb = e.alb_dns_names["pets-alb"].clone();

    let (code, tunnel) = socks5(
        e.socks_internet,
        support::DOMAIN,
        443,
        Duration::from_secs(5),
    )
    .await
    .expect("the gateway's public address answers");
    assert_eq!(code, 0);
    let reply = https_over(tunnel, &stack, support::DOMAIN, "/health", None).await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.headers.contains_key("apigw-requestid"),
        "answered by the gateway"
    );

    // Not routed from the internet: no reply at all, the client's own timeout fires.
    assert!(
        socks5(e.socks_internet, &alb, 443, Duration::from_millis(500))
            .await
            .is_none(),
        "the internal ALB must not answer from the internet"
    );

    // From the vpc vantage (bastion group, admitted by the ALB's group) the split view sends
    // the custom domain straight to the ALB: its response has no apigw-requestid.
    let (code, tunnel) = socks5(
        e.socks_vpc.unwrap(),
        support::DOMAIN,
        443,
        Duration::from_secs(5),
    )
    .await
    .expect("the ALB answers inside the VPC");
    assert_eq!(code, 0);
    let reply = https_over(tunnel, &stack, support::DOMAIN, "/whoami", None).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        !reply.headers.contains_key("apigw-requestid"),
        "no gateway on this path"
    );
    let who = reply.json();
    assert!(who["headers"].get("authorization").is_none());
}

/// docs/aws-rules.md §ALB-6.2: the private zone answers inside the VPC, the public zone outside;
/// the internal ALB's name resolves to private IPs in both views (docs/aws-rules.md §ALB-1.1).
#[tokio::test]
async fn split_horizon_answers_differ_by_view() {
    let stack = RunningStack::start_default().await.unwrap();
    let outside = stack
        .explain("internet", "private-integration.example.com:443")
        .unwrap();
    assert!(outside.reachable(), "{outside}");
    assert!(outside.hops[1].contains("198.51.100.10"), "{outside}");
    let inside = stack
        .explain("vpc", "private-integration.example.com:443")
        .unwrap();
    assert!(inside.reachable(), "{inside}");
    let alb_ips = &stack
        .explain(
            "vpc",
            &format!("{}:443", stack.endpoints().alb_dns_names["pets-alb"]),
        )
        .unwrap();
    assert!(alb_ips.hops[1].contains("10.0.10"), "{alb_ips}");
    assert!(inside.hops[1].contains("10.0.10"), "{inside}");
    // The private zone has no `www` record: NXDOMAIN inside, with no fallback to the public zone.
    let missing = stack.explain("vpc", "www.example.com:443").unwrap();
    assert!(missing.hops[1].contains("does not resolve"), "{missing}");
}

/// `explain` names the first thing that blocks a path.
#[tokio::test]
async fn explain_names_the_blocking_hop() {
    let stack = RunningStack::start_default().await.unwrap();
    let alb = format!("{}:443", stack.endpoints().alb_dns_names["pets-alb"]);
    let from_internet = stack.explain("internet", &alb).unwrap();
    assert!(!from_internet.reachable());
    assert!(
        from_internet
            .to_string()
            .contains("the internet has no route into the VPC"),
        "{from_internet}"
    );
    let link_to_alb = stack.explain("vpc-link:pets-link", &alb).unwrap();
    assert!(link_to_alb.reachable(), "{link_to_alb}");
    assert!(
        link_to_alb
            .to_string()
            .contains("ingress rule tcp/443, security group pets-link-sg"),
        "{link_to_alb}"
    );
    // The link may not reach the tasks directly: their group admits only the ALB.
    let task_ip = stack.task_ips()["pets"][0];
    let link_to_task = stack
        .explain("vpc-link:pets-link", &format!("{task_ip}:8080"))
        .unwrap();
    assert!(!link_to_task.reachable());
    assert!(
        link_to_task.to_string().contains("pets-tasks-sg"),
        "{link_to_task}"
    );
    // The ALB node reaches the task; a port nothing listens on is refused.
    let alb_to_task = stack
        .explain("alb:pets-alb", &format!("{task_ip}:8080"))
        .unwrap();
    assert!(alb_to_task.reachable(), "{alb_to_task}");
    let alb_ip = stack.explain("vpc", &alb).unwrap();
    assert!(alb_ip.reachable());
    let closed = stack
        .explain(
            "vpc",
            &format!("{}:80", stack.endpoints().alb_dns_names["pets-alb"]),
        )
        .unwrap();
    assert!(!closed.reachable());
}

async fn admin(
    stack: &RunningStack,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    use http_body_util::BodyExt;
    let tcp = TcpStream::connect(stack.endpoints().admin).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", stack.endpoints().admin.to_string())
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.to_owned(),
        )))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

/// A security group tightened at run time drops the link's traffic
/// (the gateway answers 500, docs/aws-rules.md §HTTP-4.5); a link that is not AVAILABLE fails too;
/// restoring either restores the path.
#[tokio::test]
async fn tightened_security_group_and_failed_link_break_the_path() {
    let stack = RunningStack::start_default_with(|o| {
        o.vpc_link_connect_timeout = Duration::from_millis(300);
    })
    .await
    .unwrap();
    let token = stack.token(&[]).unwrap();
    assert_eq!(
        support::get(&stack, "/pets", Some(&token)).await.status,
        200
    );

    // Only the bastion may reach the ALB now.
    let (status, _) = admin(
        &stack,
        "PUT",
        "/security-groups/pets-alb-sg",
        r#"{"ingress":[{"ip_protocol":"tcp","from_port":443,"to_port":443,"source_security_group":"bastion-sg"}]}"#,
    )
    .await;
    assert_eq!(status, 200);
    let reply = support::get(&stack, "/pets", Some(&token)).await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.text(), r#"{"message":"Internal Server Error"}"#);
    let (status, _) = admin(
        &stack,
        "PUT",
        "/security-groups/pets-alb-sg",
        r#"{"ingress":[{"ip_protocol":"tcp","from_port":443,"to_port":443,"source_security_group":"pets-link-sg"}]}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        support::get(&stack, "/pets", Some(&token)).await.status,
        200
    );

    let (status, _) = admin(
        &stack,
        "PUT",
        "/vpc-links/pets-link/state",
        r#"{"state":"FAILED"}"#,
    )
    .await;
    assert_eq!(status, 200);
    let reply = support::get(&stack, "/pets", Some(&token)).await;
    assert_eq!(reply.status, 500, "{}", reply.text());
    admin(
        &stack,
        "PUT",
        "/vpc-links/pets-link/state",
        r#"{"state":"AVAILABLE"}"#,
    )
    .await;
    assert_eq!(
        support::get(&stack, "/pets", Some(&token)).await.status,
        200
    );
}

/// `/status` describes interfaces, link states, tasks and DNS per view; `/token`
/// mints for tests in other languages.
#[tokio::test]
async fn admin_status_and_token() {
    let stack = RunningStack::start_default().await.unwrap();
    let (status, body) = admin(&stack, "GET", "/status", "").await;
    assert_eq!(status, 200);
    let interfaces = body["interfaces"].as_array().unwrap();
    // 2 ALB nodes, 2 link interfaces, 2 tasks, the vantage point.
    assert_eq!(interfaces.len(), 7, "{body:#}");
    for i in interfaces {
        let ip: Ipv4Addr = i["private_ip"].as_str().unwrap().parse().unwrap();
        assert!(stack.network().contains(ip));
    }
    assert_eq!(body["vpc_links"][0]["state"], "AVAILABLE");
    assert_eq!(body["services"][0]["tasks"].as_array().unwrap().len(), 2);
    assert!(
        body["dns"]["vpc_view_private_zones"][0]["records"]
            .to_string()
            .contains("private-integration.example.com")
    );

    let (status, minted) = admin(
        &stack,
        "POST",
        "/token",
        r#"{"sub":"py","audience":["pets-client"],"scopes":["pets/write"]}"#,
    )
    .await;
    assert_eq!(status, 200, "{minted}");
    let reply = support::get(&stack, "/pets", minted["token"].as_str()).await;
    assert_eq!(reply.status, 200);
}

/// With the user's own curl: the custom domain through `internet` on port 443
/// answers 200; the ALB's name through `internet` times out (exit 28); through `vpc` it answers.
#[tokio::test]
async fn curl_through_the_vantage_points() {
    if !support::tool("curl", "--version", "apt-get install curl") {
        return;
    }
    let stack = RunningStack::start_default().await.unwrap();
    let e = stack.endpoints().clone();
    let alb = e.alb_dns_names["pets-alb"].clone();
    let curl = |proxy: SocketAddr, url: String| {
        let ca = e.ca_cert.clone();
        async move {
            tokio::process::Command::new("curl")
                .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "2"])
                .arg("--socks5-hostname")
                .arg(proxy.to_string())
                .arg("--cacert")
                .arg(ca)
                .arg(url)
                .output()
                .await
                .unwrap()
        }
    };
    let ok = curl(
        e.socks_internet,
        format!("https://{}/health", support::DOMAIN),
    )
    .await;
    assert_eq!(String::from_utf8_lossy(&ok.stdout), "200", "{ok:?}");
    let dropped = curl(e.socks_internet, format!("https://{alb}/")).await;
    assert_eq!(dropped.status.code(), Some(28), "{dropped:?}");
    // Inside the VPC the ALB answers; its certificate is for *.example.com, so ask for the
    // custom domain, which the private zone aliases to the ALB.
    let inside = curl(
        e.socks_vpc.unwrap(),
        format!("https://{}/health", support::DOMAIN),
    )
    .await;
    assert_eq!(String::from_utf8_lossy(&inside.stdout), "200", "{inside:?}");
}

/// docs/aws-rules.md §ALB-1.1: an internet-facing ALB's name resolves to public addresses, which
/// the internet reaches when the ALB's security group admits it (here only after a rule for
/// 0.0.0.0/0 is added); targets see the internet caller as the client.
#[tokio::test]
async fn internet_facing_alb_is_reachable_when_its_group_allows() {
    let yaml =
        airlock_config::DEFAULT_STACK_YAML.replace("scheme: internal", "scheme: internet-facing");
    let stack = airlock_config::parse(&yaml, std::path::Path::new("internet-facing.yaml")).unwrap();
    let stack = RunningStack::start_ephemeral(stack).await.unwrap();
    let e = stack.endpoints().clone();
    let alb = e.alb_dns_names["pets-alb"].clone();
    assert!(!alb.starts_with("internal-"), "{alb}");
    let (_, ips) = airlock_stack::client::dns_a_udp(e.dns, &alb).await.unwrap();
    assert!(!ips.is_empty());
    assert!(
        ips.iter().all(|ip| !stack.network().contains(*ip)),
        "public addresses: {ips:?}"
    );

    let blocked = stack.explain("internet", &format!("{alb}:443")).unwrap();
    assert!(!blocked.reachable(), "{blocked}");
    assert!(blocked.to_string().contains("pets-alb-sg"), "{blocked}");
    assert!(
        socks5(e.socks_internet, &alb, 443, Duration::from_millis(500))
            .await
            .is_none()
    );

    let (status, _) = admin(
        &stack,
        "PUT",
        "/security-groups/pets-alb-sg",
        r#"{"ingress":[{"ip_protocol":"tcp","from_port":443,"to_port":443,"cidr_ip":"0.0.0.0/0"}]}"#,
    )
    .await;
    assert_eq!(status, 200);
    let (code, tunnel) = socks5(e.socks_internet, &alb, 443, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(code, 0);
    let reply = https_over(tunnel, &stack, support::DOMAIN, "/whoami", None).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json()["headers"]["x-forwarded-for"],
        airlock_net::INTERNET_CLIENT_IP.to_string()
    );
}
