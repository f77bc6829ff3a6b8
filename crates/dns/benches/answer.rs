//! DNS answer construction: the pure (data, view, query) → response step every query pays, in
//! both views (docs/aws-rules.md §ALB-6.2), for an alias-resolved A record, a CNAME chain and a
//! name no zone knows.

#![allow(missing_docs, clippy::unwrap_used)]

use airlock_dns::proto::op::{Message, Query};
use airlock_dns::proto::rr::{Name, RecordType};
use airlock_dns::{DnsData, DomainName, RecordData, RecordSet, View, Zone, answer};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::net::Ipv4Addr;

fn name(s: &str) -> DomainName {
    DomainName::parse(s).unwrap()
}

fn data() -> DnsData {
    let mut public = vec![RecordSet::new(
        name("private-integration.example.com"),
        60,
        RecordData::A(vec![Ipv4Addr::new(127, 0, 0, 1)]),
    )];
    // A zone of realistic size: the answer must not cost more as the zone grows.
    for i in 0..200 {
        public.push(RecordSet::new(
            name(&format!("host{i}.example.com")),
            300,
            RecordData::A(vec![Ipv4Addr::new(198, 51, 100, (i % 250) as u8)]),
        ));
    }
    public.push(RecordSet::new(
        name("www.example.com"),
        300,
        RecordData::Cname(name("host7.example.com")),
    ));
    let private = vec![RecordSet::new(
        name("private-integration.example.com"),
        60,
        RecordData::A(vec![
            Ipv4Addr::new(10, 0, 100, 10),
            Ipv4Addr::new(10, 0, 101, 10),
        ]),
    )];
    DnsData::new(vec![
        Zone::new(name("example.com"), false, public).unwrap(),
        Zone::new(name("example.com"), true, private).unwrap(),
    ])
    .unwrap()
}

fn query(qname: &str) -> Message {
    let mut msg = Message::query();
    msg.add_query(Query::query(
        Name::from_ascii(qname).unwrap(),
        RecordType::A,
    ));
    msg
}

fn bench(c: &mut Criterion) {
    let data = data();
    let alias = query("private-integration.example.com.");
    let cname = query("www.example.com.");
    let unknown = query("nowhere.invalid.");
    assert_eq!(answer(&data, View::Vpc, &alias).answers.len(), 2);
    assert_eq!(answer(&data, View::Public, &cname).answers.len(), 2);

    let mut group = c.benchmark_group("dns_answer");
    group.bench_function("vpc_view_private_alias", |b| {
        b.iter(|| answer(black_box(&data), View::Vpc, black_box(&alias)))
    });
    group.bench_function("public_view_alias", |b| {
        b.iter(|| answer(black_box(&data), View::Public, black_box(&alias)))
    });
    group.bench_function("public_view_cname_chain", |b| {
        b.iter(|| answer(black_box(&data), View::Public, black_box(&cname)))
    });
    group.bench_function("public_view_refused", |b| {
        b.iter(|| answer(black_box(&data), View::Public, black_box(&unknown)))
    });
    group.bench_function("answer_to_wire", |b| {
        b.iter(|| {
            answer(black_box(&data), View::Vpc, black_box(&alias))
                .to_vec()
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
