//! Listener rule evaluation at 100 rules (the per-listener quota, docs/aws-rules.md §ALB-1.4):
//! what every request pays before its action runs. The miss walks every rule to the default
//! action, the worst case; the hit stops halfway.

#![allow(missing_docs, clippy::unwrap_used)]

use airlock_alb::{Action, Condition, RequestView, Rule, RuleSet, first_match};
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, Method, StatusCode};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

fn rules(n: u32) -> Vec<Rule> {
    (0..n)
        .map(|i| {
            let action = Action::FixedResponse {
                status: StatusCode::OK,
                content_type: None,
                body: String::new(),
            };
            // A mix of the conditions real listeners use most.
            let conditions = match i % 4 {
                0 => vec![Condition::path_pattern([format!("/svc{i}/*")]).unwrap()],
                1 => vec![Condition::host_header([format!("svc{i}.example.com")]).unwrap()],
                2 => vec![
                    Condition::path_pattern([format!("/api/v{i}/*")]).unwrap(),
                    Condition::http_request_method(["GET", "HEAD"]).unwrap(),
                ],
                _ => vec![
                    Condition::http_header("x-tenant", [format!("tenant-{i}")]).unwrap(),
                    Condition::source_ip(["10.0.0.0/16"]).unwrap(),
                ],
            };
            Rule::new(i + 1, conditions, action).unwrap()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let rules = rules(100);
    let mut headers = HeaderMap::new();
    headers.insert("user-agent", "bench".parse().unwrap());
    headers.insert("x-tenant", "someone-else".parse().unwrap());
    let view = |path| RequestView {
        host: Some("private-integration.example.com"),
        path,
        query: Some("limit=10"),
        method: &Method::GET,
        headers: &headers,
        source_ip: IpAddr::V4(Ipv4Addr::new(10, 0, 100, 7)),
    };
    let miss = view("/pets/42");
    let hit = view("/svc48/items");
    assert!(first_match(&rules, &miss).is_none());
    assert_eq!(first_match(&rules, &hit).unwrap().priority(), 49);

    // What a listener runs: the rules behind their gates.
    let set = RuleSet::new(rules.clone());
    assert!(set.first_match(&miss).is_none());
    assert_eq!(set.first_match(&hit).unwrap().priority(), 49);

    let mut group = c.benchmark_group("listener_rules_100");
    group.bench_function("no_match_default_action", |b| {
        b.iter(|| black_box(&set).first_match(black_box(&miss)).is_some())
    });
    group.bench_function("match_at_priority_49", |b| {
        b.iter(|| {
            black_box(&set)
                .first_match(black_box(&hit))
                .map(Rule::priority)
        })
    });
    // Every rule's conditions, no gates: the reference the gates are measured against.
    group.bench_function("no_match_every_condition", |b| {
        b.iter(|| first_match(black_box(&rules), black_box(&miss)).is_some())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
