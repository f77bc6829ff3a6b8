//! `airlock demo`: the private API's story, told with evidence from a real stack.
//!
//! Every step runs against the default stack on free ports, over real sockets, and checks that
//! airlock behaved as AWS would; the command exits non-zero if any step did not.

use crate::signals::{Stop, StopSignal};
use airlock_stack::RunningStack;
use airlock_stack::client::{self, Call};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const DOMAIN: &str = "private-integration.example.com";
/// How long the demo waits for a connection the VPC drops (curl's `-m`).
const DROP_BOUND: Duration = Duration::from_secs(2);

struct Story {
    step: usize,
    failures: usize,
}

impl Story {
    fn step(&mut self, title: &str) {
        self.step += 1;
        println!("\n{}. {title}", self.step);
    }
    fn evidence(&self, line: impl AsRef<str>) {
        println!("   {}", line.as_ref());
    }
    fn check(&mut self, ok: bool, what: &str) {
        if ok {
            println!("   ok: {what}");
        } else {
            self.failures += 1;
            println!("   NOT AS AWS WOULD: {what}");
        }
    }
}

/// How the demo ended.
pub enum Outcome {
    /// Every step behaved as AWS would.
    AsAws,
    /// At least one step did not.
    NotAsAws,
    /// A signal stopped it before its last step; the stack was stopped gracefully.
    Stopped(StopSignal),
}

/// Runs the demo until its last step or the first of `stop`'s signals, then stops its stack.
pub async fn run(mut stop: Stop) -> anyhow::Result<Outcome> {
    println!("Starting the default stack on free ports...");
    let started = Instant::now();
    let stack = RunningStack::start_default_with(|o| {
        // A dropped connection into the VPC fails the gateway's call after this (AWS: 500).
        o.vpc_link_connect_timeout = Duration::from_secs(1);
    })
    .await?;
    let outcome = tokio::select! {
        // A signal that came during start-up wins at once.
        biased;
        signal = stop.received() => Ok(Outcome::Stopped(signal)),
        as_aws = story(&stack, started) => as_aws.map(|ok| if ok { Outcome::AsAws } else { Outcome::NotAsAws }),
    };
    stack.stop().await;
    outcome
}

/// The demo's steps; `Ok(true)` when every one behaved as AWS would.
async fn story(stack: &RunningStack, started: Instant) -> anyhow::Result<bool> {
    let e = stack.endpoints().clone();
    let alb = e.alb_dns_names["pets-alb"].clone();
    println!(
        "Serving after {} ms: gateway {}, DNS {}, vantage points internet {} and vpc {}.",
        started.elapsed().as_millis(),
        e.gateway,
        e.dns,
        e.socks_internet,
        e.socks_vpc.map_or("-".into(), |a| a.to_string())
    );
    let mut s = Story {
        step: 0,
        failures: 0,
    };

    s.step("DNS answers differently inside and outside the VPC (split horizon)");
    let (_, public) = client::dns_a_udp(e.dns, DOMAIN).await?;
    s.evidence(format!(
        "public view:  {DOMAIN} -> {public:?} (the API Gateway's public address)"
    ));
    s.check(
        !public.is_empty() && public.iter().all(|ip| !stack.network().contains(*ip)),
        "outside, the custom domain leads to the gateway",
    );
    let vpc_view = match e.socks_vpc {
        Some(proxy) => {
            let resolver = stack.network().resolver_ip();
            match client::socks5(proxy, &resolver.to_string(), 53, DROP_BOUND).await? {
                Some((0, tunnel)) => client::dns_a_tcp(tunnel, DOMAIN).await?.1,
                _ => Vec::new(),
            }
        }
        None => Vec::new(),
    };
    s.evidence(format!(
        "VPC view (resolver {}:53): {DOMAIN} -> {vpc_view:?} (the internal ALB's private nodes)",
        stack.network().resolver_ip()
    ));
    s.check(
        !vpc_view.is_empty() && vpc_view.iter().all(|ip| stack.network().contains(*ip)),
        "inside, the private zone sends the same name straight to the ALB",
    );
    let (_, alb_ips) = client::dns_a_udp(e.dns, &alb).await?;
    s.evidence(format!("public view:  {alb} -> {alb_ips:?}"));
    s.check(
        !alb_ips.is_empty() && alb_ips.iter().all(|ip| stack.network().contains(*ip)),
        "an internal ALB's name is public, but resolves to private addresses",
    );

    s.step("From the internet, the internal ALB cannot be reached");
    let t = Instant::now();
    let outcome = client::socks5(e.socks_internet, &alb, 443, DROP_BOUND).await?;
    s.evidence(format!(
        "curl --socks5-hostname {} -m {} https://{alb}/  ->  {}",
        e.socks_internet,
        DROP_BOUND.as_secs(),
        match &outcome {
            None => format!(
                "no answer after {} ms: timed out (curl exit 28)",
                t.elapsed().as_millis()
            ),
            Some((code, _)) => format!("SOCKS reply {code}"),
        }
    ));
    s.check(
        outcome.is_none(),
        "the connection attempt is silently dropped, so it times out",
    );
    if let Ok(why) = stack.explain("internet", &format!("{alb}:443")) {
        s.evidence("why (airlock explain --from internet --to ALB:443):");
        for line in why.to_string().lines() {
            s.evidence(line);
        }
    }

    s.step("Through the API Gateway, the same request works — with a token");
    let no_token = client::https(e.gateway, stack.ca_der(), DOMAIN, &Call::get("/whoami")).await?;
    s.evidence(format!(
        "GET https://{DOMAIN}/whoami without a token -> {} {}",
        no_token.status,
        no_token.text()
    ));
    s.check(
        no_token.status == 401 && no_token.text() == r#"{"message":"Unauthorized"}"#,
        "the JWT authorizer refuses it with API Gateway's 401",
    );
    let token = stack.token(&[])?;
    let with = client::https(
        e.gateway,
        stack.ca_der(),
        DOMAIN,
        &Call::get("/whoami").bearer(&token),
    )
    .await?;
    let who = with.json();
    s.evidence(format!(
        "with a token -> {}: task {} at {}, which saw X-Forwarded-For: {}",
        with.status,
        who["task_id"].as_str().unwrap_or("?"),
        who["private_ip"].as_str().unwrap_or("?"),
        who["headers"]["x-forwarded-for"].as_str().unwrap_or("?")
    ));
    let xff_inside = who["headers"]["x-forwarded-for"]
        .as_str()
        .and_then(|x| x.parse().ok())
        .is_some_and(|ip| stack.network().contains(ip));
    s.check(
        with.status == 200 && xff_inside,
        "a task answers; the ALB saw the VPC link's private interface as the client",
    );

    s.step("A security group tightened on the fly breaks the path, as in AWS");
    let original = stack
        .network()
        .security_group("pets-alb-sg")
        .ok_or_else(|| anyhow::anyhow!("the default stack lost pets-alb-sg"))?;
    let mut tightened = original.clone();
    tightened
        .ingress
        .retain(|r| !matches!(&r.source, airlock_net::Source::Group(g) if g == "pets-link-sg"));
    stack.network().set_security_group(tightened);
    s.evidence("removed the rule of pets-alb-sg that admits tcp/443 from pets-link-sg");
    let broken = client::https(
        e.gateway,
        stack.ca_der(),
        DOMAIN,
        &Call::get("/pets").bearer(&token),
    )
    .await?;
    s.evidence(format!("GET /pets -> {} {}", broken.status, broken.text()));
    s.check(
        broken.status == 500 && broken.text() == r#"{"message":"Internal Server Error"}"#,
        "the VPC link cannot reach the ALB: API Gateway answers 500",
    );
    if let Ok(why) = stack.explain("vpc-link:pets-link", &format!("{alb}:443")) {
        for line in why.to_string().lines() {
            s.evidence(line);
        }
    }
    stack.network().set_security_group(original);
    let healed = client::https(
        e.gateway,
        stack.ca_der(),
        DOMAIN,
        &Call::get("/pets").bearer(&token),
    )
    .await?;
    s.check(healed.status == 200, "restoring the rule restores the path");

    s.step("Only the API Gateway may use the VPC link");
    let link: SocketAddr = e.vpc_links["pets-link"];
    let stranger = stack
        .ca()
        .issue_client("spiffe://airlock.local/account/000000000000/ecs/task/stranger")?;
    let dest = SocketAddr::from((
        alb_ips
            .first()
            .copied()
            .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
        443,
    ));
    let server_name = &e.vpc_link_server_names["pets-link"];
    let refused =
        client::vpc_link_connect(link, stack.ca_der(), server_name, Some(&stranger), dest).await;
    s.evidence(format!(
        "a client with a valid certificate from airlock's CA but a task's identity -> {}",
        match &refused {
            Ok(status) => format!("tunnel status {status}"),
            Err(err) => format!("refused ({err})"),
        }
    ));
    s.check(
        !matches!(refused, Ok(200)),
        "the link refuses anyone but the gateway",
    );

    println!();
    if s.failures == 0 {
        println!("Every step behaved as AWS would.");
    } else {
        println!("{} step(s) did not behave as AWS would.", s.failures);
    }
    Ok(s.failures == 0)
}
