//! Route selection allocates nothing, whatever the table's size: no
//! per-request allocation grows with the route count. A counting global allocator sees every
//! allocation of this test binary; it holds a single test so nothing else runs meanwhile.

#![allow(clippy::unwrap_used)]

use airlock_gateway::RouteKey;
use airlock_gateway::router::Router;
use http::Method;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;
use std::hint::black_box;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

mod route_table;

/// 300 routes (the AWS quota, docs/aws-rules.md §HTTP-8) of every shape, plus `$default`.
fn table() -> Vec<RouteKey> {
    route_table::table(300)
}

#[test]
fn selecting_among_300_routes_allocates_nothing() {
    let router = Router::new(table());
    let cases = [
        (Method::GET, "/r150/42/items", Some(150)),
        (Method::GET, "/r159/a/b/c/", Some(159)),
        (Method::DELETE, "/r2/x/items", Some(2)),
        (Method::GET, "/nowhere/at/all", Some(300)),
        (Method::GET, "/", Some(300)),
    ];
    let region = Region::new(GLOBAL);
    for (method, path, want) in &cases {
        let got = router.select(black_box(method), black_box(path));
        assert_eq!(got, *want, "{method} {path}");
    }
    let stats = region.change();
    assert_eq!(
        (stats.allocations, stats.reallocations),
        (0, 0),
        "route selection allocated"
    );
}
