//! JWT verification with a cached key: what every request to a JWT route pays once the issuer's
//! key set is in memory (docs/aws-rules.md §HTTP-5.1 steps 2–8).
#![allow(clippy::unwrap_used, missing_docs)]

use airlock_gateway::auth::keys::KeyStore;
use airlock_gateway::jwt::{Jwks, JwtValidator};
use airlock_pki::{Issuer, TokenRequest};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;

fn verify(c: &mut Criterion) {
    let issuer = Issuer::generate("https://issuer.airlock.local").unwrap();
    let keys = KeyStore::fixed(
        issuer.issuer(),
        Jwks::from_json(&issuer.jwks_json()).unwrap(),
    );
    let validator = JwtValidator::new(
        issuer.issuer(),
        vec!["pets-client".into()],
        Arc::new(Jwks::default()),
    );
    let mut req = TokenRequest::new("alice", "pets-client");
    req.scopes = vec!["pets/read".into(), "pets/write".into()];
    let token = issuer.mint(&req).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        validator
            .validate_with(&keys.current(), &token, now)
            .is_ok()
    );

    // A fresh validator per iteration: the signature is verified every time (a token's first
    // request).
    c.bench_function("jwt_verify_rs256_cached_key", |b| {
        b.iter_batched(
            || JwtValidator::new(issuer.issuer(), vec!["pets-client".into()], Arc::default()),
            |fresh| {
                let jwks = keys.current();
                black_box(fresh.validate_with(&jwks, black_box(&token), now))
            },
            BatchSize::SmallInput,
        )
    });
    // The same validator: the token's signature was verified before, only the claims are
    // checked (every later request with the same token).
    c.bench_function("jwt_verify_rs256_token_seen_before", |b| {
        b.iter(|| {
            let jwks = keys.current();
            black_box(validator.validate_with(&jwks, black_box(&token), now))
        })
    });
    c.bench_function("jwt_key_lookup_only", |b| {
        b.iter(|| black_box(keys.current()))
    });
}

criterion_group!(benches, verify);
criterion_main!(benches);
