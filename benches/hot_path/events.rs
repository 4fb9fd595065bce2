//! `event!` forms against `tracing` and the bare ring.

use super::*;

pub(crate) fn event(c: &mut Criterion) {
    let tw = telemetry();
    let mut g = c.benchmark_group("event");
    config(&mut g);
    g.throughput(Throughput::Elements(1));
    // Three numbers ("int, int, double", the C++ loggers' benchmark): the packed form, a
    // 48-byte frame written as five words; its floor is the bare ring below.
    both(&mut g, &tw, "tickwatch/event!(u64, u64, f64)", || {
        event!(
            tw,
            Level::Info,
            "order filled",
            order_id = black_box(42u64),
            qty = black_box(7u64),
            px = black_box(101.25)
        )
    });
    both(&mut g, &tw, "tickwatch/event!(3 fields)", || {
        event!(
            tw,
            Level::Info,
            "order filled",
            order_id = black_box(42u64),
            px = black_box(101.25),
            venue = black_box("XNAS")
        )
    });
    both(&mut g, &tw, "tickwatch/info!(3 fields)", || {
        tickwatch::info!(
            tw,
            "order filled",
            order_id = black_box(42u64),
            px = black_box(101.25),
            venue = black_box("XNAS")
        )
    });
    both(
        &mut g,
        &tw,
        "tickwatch/event!(format string, 3 args)",
        || {
            event!(
                tw,
                Level::Info,
                "order {} filled at {} on {}",
                black_box(42u64),
                black_box(101.25),
                black_box("XNAS")
            )
        },
    );
    let level = black_box(Level::Info);
    both(
        &mut g,
        &tw,
        "tickwatch/event!(level in a variable, 3 fields)",
        || {
            event!(
                tw,
                level,
                "order filled",
                order_id = black_box(42u64),
                px = black_box(101.25),
                venue = black_box("XNAS")
            )
        },
    );
    both(&mut g, &tw, "tickwatch/log_event(3 fields)", || {
        tw.log_event(black_box(&Event {
            level: Level::Info,
            target: "hot_path",
            message: "order filled",
            fields: &[
                ("order_id", FieldRef::U64(black_box(42))),
                ("px", FieldRef::F64(black_box(101.25))),
                ("venue", FieldRef::Str(black_box("XNAS"))),
            ],
        }))
    });
    finish("event", tw);
    // The floor in the same group: a timestamp and three values through a bare SPSC ring.
    peer_both(
        &mut g,
        "rtrb/push(ticks, u64, u64, f64)",
        &mut Drainer::rtrb(RING / 32),
    );

    // A level filtered out: a load and a branch; nothing evaluated, nothing recorded.
    let quiet = Telemetry::builder()
        .level(Level::Info)
        .sink(NullSink)
        .start()
        .expect("valid configuration");
    g.bench_function("tickwatch/debug!(disabled)", |b| {
        b.iter(|| tickwatch::debug!(quiet, "order filled", order_id = black_box(42u64)))
    });
    let debug = black_box(Level::Debug);
    g.bench_function("tickwatch/event!(disabled, level in a variable)", |b| {
        b.iter(|| event!(quiet, debug, "order filled", order_id = black_box(42u64)))
    });
    assert_eq!(quiet.stats().accepted, 0);
    drop(quiet);
    // The same with a per-target rule elsewhere: the call site's cached decision, checked
    // before the values are evaluated (a few loads and a branch).
    let ruled = Telemetry::builder()
        .level(Level::Info)
        .target_level("some_other_module", Level::Debug)
        .sink(NullSink)
        .start()
        .expect("valid configuration");
    g.bench_function("tickwatch/debug!(disabled by a target rule)", |b| {
        b.iter(|| tickwatch::debug!(ruled, "order {} filled", black_box(42u64), side = ?black_box(1u8)))
    });
    assert_eq!(ruled.stats().accepted, 0);
    drop(ruled);

    for (name, lossy) in [
        ("tracing/info!+fmt+non_blocking(default, lossy)", true),
        ("tracing/info!+fmt+non_blocking(lossless)", false),
    ] {
        let peer = tracing_peer::fmt_non_blocking(lossy);
        g.bench_function(name, |b| {
            b.iter(|| {
                tracing::info!(
                    order_id = black_box(42u64),
                    px = black_box(101.25),
                    venue = black_box("XNAS"),
                    "order filled"
                )
            })
        });
        if !lossy {
            g.bench_function(
                "tracing/info!(format string, 3 args)+fmt+non_blocking(lossless)",
                |b| {
                    b.iter(|| {
                        tracing::info!(
                            "order {} filled at {} on {}",
                            black_box(42u64),
                            black_box(101.25),
                            black_box("XNAS")
                        )
                    })
                },
            );
            // A level filtered out: tracing's own fast path (the fmt subscriber's max level
            // is INFO by default).
            g.bench_function("tracing/debug!(disabled)", |b| {
                b.iter(|| tracing::debug!(order_id = black_box(42u64), "order filled"))
            });
        }
        drop(peer); // flushes and joins the writer thread
    }
    g.finish();
}
