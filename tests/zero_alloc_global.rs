//! The global free functions allocate nothing on the calling thread after warm-up.
//!
//! Its own test binary: `tickwatch::install` works once per process. See `zero_alloc.rs` for
//! the counting allocator.

use std::hint::black_box;
use std::time::Duration;

use tickwatch::sink::NullSink;
use tickwatch::{Backpressure, Event, FieldRef, Level, Telemetry};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocs;

const CALLS: u64 = if cfg!(miri) { 200 } else { 1_000_000 };

#[test]
fn global_free_functions_do_not_allocate_after_warm_up() {
    let guard = tickwatch::install(
        Telemetry::builder()
            .ring_capacity(64 * 1024)
            .backpressure(Backpressure::Block)
            .sink(NullSink),
    )
    .unwrap();
    let tw = tickwatch::global().expect("installed");
    tw.preallocate();

    // Control: the allocator sees this thread's allocations.
    let before = allocs();
    black_box(vec![0u8; 16]);
    assert!(allocs() > before);

    let ops: [(&str, &dyn Fn(u64)); 7] = [
        ("log_metric", &|i| {
            tickwatch::log_metric("spread", i as f64, &[("venue", "XNAS"), ("sym", "AAPL")])
        }),
        ("measure_latency", &|i| {
            tickwatch::measure_latency("order_roundtrip", Duration::from_nanos(i))
        }),
        ("track_resource_usage", &|i| {
            tickwatch::track_resource_usage("cpu", i as f64 / 1e6)
        }),
        ("log_event", &|i| {
            tickwatch::log_event(&Event {
                level: Level::Warn,
                target: "risk",
                message: "limit breached",
                fields: &[
                    ("order_id", FieldRef::U64(i)),
                    ("excess", FieldRef::F64(1.5)),
                    ("venue", FieldRef::Str("XNAS")),
                ],
            })
        }),
        ("event!", &|i| {
            tickwatch::event!(
                Level::Info,
                "order filled",
                order_id = i,
                px = 101.25,
                venue = "XNAS"
            )
        }),
        ("info! with format arguments", &|i| {
            tickwatch::info!("order {} filled at {}", i, 101.25, venue = "XNAS")
        }),
        ("warn! with an Option field", &|i| {
            tickwatch::warn!("late fill", parent = (i % 2 == 0).then_some(i))
        }),
    ];
    let mut expected = 0u64;
    for (name, op) in ops {
        op(0); // warm-up: registers the key or the call site
        let before = allocs();
        for i in 0..CALLS {
            op(black_box(i));
        }
        let n = allocs() - before;
        assert_eq!(n, 0, "{name}: {n} allocations in {CALLS} calls");
        expected += CALLS + 1;
        tw.flush().unwrap();
        let st = tw.stats();
        assert_eq!(st.accepted, expected, "{name}: {st:?}");
        assert_eq!(st.delivered, expected, "{name}: {st:?}");
        assert_eq!(st.dropped, 0, "{name}: {st:?}");
    }
    assert_eq!(tickwatch::calls_without_instance(), 0);
    guard.shutdown().unwrap();
}
