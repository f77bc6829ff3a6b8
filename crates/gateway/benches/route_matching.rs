//! Route selection cost at 10, 100 and 300 routes (the AWS quota, docs/aws-rules.md §HTTP-8).
//! Matching walks the table without allocating, so cost grows with the table but not with
//! allocations.

#![allow(missing_docs, clippy::unwrap_used)]

use airlock_gateway::router::Router;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use http::Method;
use std::hint::black_box;

#[path = "../tests/route_table/mod.rs"]
mod route_table;
use route_table::table;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("route_select");
    for n in [10usize, 100, 300] {
        let router = Router::new(table(n));
        let hit = format!("/r{}/42/items", (n / 2) - (n / 2) % 4 + 2);
        group.bench_with_input(BenchmarkId::new("full_match", n), &hit, |b, path| {
            b.iter(|| router.select(black_box(&Method::GET), black_box(path)))
        });
        group.bench_with_input(
            BenchmarkId::new("default", n),
            "/nowhere/at/all",
            |b, path| b.iter(|| router.select(black_box(&Method::GET), black_box(path))),
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
