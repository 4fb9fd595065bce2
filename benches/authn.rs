//! Authentication costs: `authenticate_user` at the default (OWASP) argon2id parameters, with
//! and without TOTP; TOTP verification alone; session lookup.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use tickwatch::security::authn::*;

const NOW: u64 = 1_700_000_010;

fn secret() -> TotpSecret {
    TotpSecret::from_bytes(b"12345678901234567890", TotpAlgorithm::Sha1, 6).unwrap()
}

fn authenticate(c: &mut Criterion) {
    let clock = Arc::new(ManualClock::from_unix_secs(NOW));
    let auth = Authenticator::new(AuthConfig::default(), clock.clone(), None).unwrap();
    auth.users()
        .add_user("alice", "correct horse", &[], None)
        .unwrap();
    auth.users()
        .add_user("bob", "battery staple", &[], Some(secret()))
        .unwrap();
    let mut g = c.benchmark_group("authn");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    g.bench_function("authenticate_user/password_owasp", |b| {
        b.iter(|| {
            let r = auth.authenticate_user(black_box(&Credentials::new("alice", "correct horse")));
            assert!(matches!(r, AuthResult::Authenticated { .. }));
        })
    });
    g.bench_function("authenticate_user/password_totp_owasp", |b| {
        b.iter(|| {
            // A fresh step each time: a code is accepted once.
            clock.advance_secs(30);
            let code = secret().code_at(clock.unix_secs());
            let r = auth.authenticate_user(black_box(
                &Credentials::new("bob", "battery staple").with_totp(&code),
            ));
            assert!(matches!(r, AuthResult::Authenticated { .. }));
        })
    });
    g.bench_function("authenticate_user/unknown_user_owasp", |b| {
        b.iter(|| {
            auth.unlock("mallory");
            let r = auth.authenticate_user(black_box(&Credentials::new("mallory", "guess")));
            assert_eq!(r, AuthResult::Denied);
        })
    });
    g.finish();

    let mut g = c.benchmark_group("authn_fast");
    g.measurement_time(Duration::from_secs(2));
    let s = secret();
    let code = s.code_at(NOW);
    g.bench_function("totp_verify", |b| {
        b.iter(|| black_box(s.verify(black_box(&code), NOW, None)))
    });
    let session = match auth.authenticate_user(&Credentials::new("alice", "correct horse")) {
        AuthResult::Authenticated { session } => session,
        other => panic!("{other:?}"),
    };
    let token = session.token.as_str().to_owned();
    g.bench_function("session_lookup", |b| {
        b.iter(|| black_box(auth.lookup_session(black_box(&token))))
    });
    g.bench_function("session_lookup_miss", |b| {
        b.iter(|| {
            black_box(auth.lookup_session(black_box("no-such-token-xxxxxxxxxxxxxxxxxxxxxxxxxxxx")))
        })
    });
    g.finish();
}

criterion_group!(benches, authenticate);
criterion_main!(benches);
