//! API Gateway route keys and route selection (crates/gateway/src/router.rs), against the stack
//! file's own route-key parser (crates/config).
//!
//! Input: lines. Every line but the last is a route key; the last is a request, `METHOD path`.
//! Checked: neither parser panics; a key the stack file accepts parses to the same route in the
//! gateway (the stack hands the gateway what the stack file parsed); a route key survives
//! `display` and re-parsing; the selected route does match the request on its own, and the
//! router finds a route whenever some single route matches.

#![no_main]

use airlock_config as cfg;
use airlock_gateway::router::{Router, path_parameters, raw_path_parameters};
use airlock_gateway::{RouteKey, Segment};
use http::Method;
use libfuzzer_sys::fuzz_target;

/// The stack's conversion of a checked route key into the gateway's (crates/stack wiring).
fn from_config(key: &cfg::RouteKey) -> RouteKey {
    match key {
        cfg::RouteKey::Default => RouteKey::Default,
        cfg::RouteKey::Route { method, segments } => RouteKey::Path {
            method: match method {
                cfg::HttpMethod::Any => None,
                m => Some(Method::from_bytes(m.as_str().as_bytes()).expect("a known method")),
            },
            segments: segments
                .iter()
                .map(|s| match s {
                    cfg::PathSegment::Literal(l) => Segment::Literal(l.clone()),
                    cfg::PathSegment::Variable(v) => Segment::Var(v.clone()),
                    cfg::PathSegment::Greedy(v) => Segment::Greedy(v.clone()),
                })
                .collect(),
        },
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines: Vec<&str> = text.split('\n').collect();
    let request = lines.pop().unwrap_or_default();
    let mut routes = Vec::new();
    for line in lines.iter().take(64) {
        let gateway = line.parse::<RouteKey>();
        if let Ok(checked) = line.parse::<cfg::RouteKey>() {
            assert_eq!(
                gateway.as_ref().ok(),
                Some(&from_config(&checked)),
                "the stack file accepted {line:?}; the gateway must read it the same"
            );
        }
        if let Ok(key) = gateway {
            let shown = key.display();
            assert_eq!(
                shown.parse::<RouteKey>().as_ref(),
                Ok(&key),
                "{line:?} shown as {shown:?}"
            );
            routes.push(key);
        }
    }
    let (method, path) = request.split_once(' ').unwrap_or((request, "/"));
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return;
    };
    let router = Router::new(routes.clone());
    let selected = router.select(&method, path);
    let alone = |key: &RouteKey| {
        Router::new(vec![key.clone()])
            .select(&method, path)
            .is_some()
    };
    match selected {
        Some(i) => {
            let key = &routes[i];
            assert!(
                alone(key),
                "route {i} ({}) was selected but does not match",
                key.display()
            );
            let raw = raw_path_parameters(key, path);
            let decoded = path_parameters(key, path);
            assert_eq!(raw.len(), decoded.len());
        }
        None => {
            if let Some(key) = routes.iter().find(|k| alone(k)) {
                panic!(
                    "{} matches on its own, yet no route was selected",
                    key.display()
                );
            }
        }
    }
});
