//! What resource sampling and health cost on the collector's tick, each against a peer in
//! the same run:
//!
//! * `ResourceSampler::sample` (four procfs reads, one `/proc/self/fd` listing, the
//!   arithmetic) against its floor, a bare `std::fs::read` of `/proc/self/stat`.
//! * `Health::get_system_health` with 8 pushed components and 2 checks, against one
//!   `HealthHandle::set` (what the collector pays per component per tick).
//!
//! `cargo bench --bench health -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, Criterion};
use tickwatch::health::{CollectorPolicy, Health, Staleness, Status};
use tickwatch::resources::{PipelineCounters, ResourceSampler};
use tickwatch::Timestamp;

fn now() -> Timestamp {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    Timestamp::from_unix_nanos(d.as_nanos() as u64)
}

fn sampling(c: &mut Criterion) {
    let mut g = c.benchmark_group("resource_sample");
    g.sample_size(30);
    if !std::path::Path::new("/proc/self/stat").exists() {
        eprintln!("SKIPPED: no /proc");
        return;
    }
    let mut sampler = ResourceSampler::new();
    let counters = PipelineCounters::default();
    g.bench_function("sample", |b| {
        b.iter(|| black_box(sampler.sample(now(), &counters).unwrap()))
    });
    g.bench_function("peer_read_proc_self_stat", |b| {
        b.iter(|| black_box(std::fs::read("/proc/self/stat").unwrap()))
    });
    g.finish();
}

fn health(c: &mut Criterion) {
    let mut g = c.benchmark_group("health");
    let health = Health::new();
    let handles: Vec<_> = (0..8)
        .map(|i| {
            health
                .register_pushed(
                    &format!("component-{i}"),
                    Some(Staleness::unhealthy_after(Duration::from_secs(5))),
                )
                .unwrap()
        })
        .collect();
    for h in &handles {
        h.set(Status::Healthy, "ticking; lag 0.1 ms");
    }
    health
        .register_check("check-a", || (Status::Healthy, "fine"))
        .unwrap();
    health
        .register_check("check-b", || (Status::Degraded, "slow"))
        .unwrap();
    g.bench_function("get_system_health_10_components", |b| {
        b.iter(|| black_box(health.get_system_health()))
    });
    let policy = CollectorPolicy::default();
    let check = policy.evaluate(&Default::default());
    g.bench_function("peer_handle_set", |b| {
        b.iter(|| handles[0].set_check(black_box(&check)))
    });
    g.finish();
}

criterion_group!(benches, sampling, health);
criterion_main!(benches);
