//! The hot path allocates nothing on the calling thread after warm-up.
//!
//! A counting global allocator counts allocations made on the current thread only (the
//! collector thread allocates freely: that is allowed). Each test warms its operation up, then
//! makes 1,000,000 calls and asserts that the count did not move, then checks that every call
//! was accepted and delivered (a call that silently did nothing would also allocate nothing).

use std::hint::black_box;
use std::time::Duration;

use tickwatch::sink::NullSink;
use tickwatch::{event, Backpressure, Event, FieldRef, Level, Telemetry};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocs;

const CALLS: u64 = if cfg!(miri) { 200 } else { 1_000_000 };

fn instance() -> Telemetry {
    Telemetry::builder()
        .ring_capacity(64 * 1024)
        .backpressure(Backpressure::Block)
        .sink(NullSink)
        .start()
        .unwrap()
}

/// Warms `op` up (ring created, key or call site registered), then asserts that `CALLS` more
/// calls allocate nothing on this thread and that every call was recorded.
fn assert_zero_alloc(tw: &Telemetry, op: impl FnMut(u64)) {
    assert_zero_alloc_after(tw, 2, op)
}

/// [`assert_zero_alloc`] with `warm` warm-up calls (`op(0)` .. `op(warm - 1)`): enough to
/// reach every call site `op` has.
fn assert_zero_alloc_after(tw: &Telemetry, warm: u64, mut op: impl FnMut(u64)) {
    tw.preallocate();
    for i in 0..warm {
        op(i);
    }
    let before = allocs();
    for i in 0..CALLS {
        op(black_box(i));
    }
    let after = allocs();
    assert_eq!(
        after - before,
        0,
        "{} allocations on the calling thread in {CALLS} calls",
        after - before
    );
    tw.flush().unwrap();
    let st = tw.stats();
    assert_eq!(st.accepted, CALLS + warm, "{st:?}");
    assert_eq!(st.dropped, 0, "{st:?}");
    assert_eq!(st.delivered, CALLS + warm, "{st:?}");
    assert_eq!(st.decode_errors, 0);
}

#[test]
fn control_the_allocator_counts_this_threads_allocations() {
    let before = allocs();
    let v: Vec<u64> = black_box(vec![1, 2, 3]);
    assert!(allocs() > before, "a Vec allocation must be counted");
    drop(v);
    // And an allocation inside tickwatch on this thread is seen too: the first sight of a
    // by-name key allocates its per-thread cache entry.
    let tw = instance();
    tw.preallocate();
    tw.log_metric("warm", 1.0, &[]);
    let before = allocs();
    tw.log_metric("a_key_never_seen_before", 1.0, &[("k", "v")]);
    assert!(
        allocs() > before,
        "first sight of a key allocates; the counter must see it"
    );
    tw.shutdown().unwrap();
}

#[test]
fn metric_record() {
    let tw = instance();
    let m = tw.metric("position", &[("venue", "XNAS")]);
    assert_zero_alloc(&tw, |i| m.record(i as f64 * 0.25));
}

#[test]
fn counter_add() {
    let tw = instance();
    let c = tw.counter("orders_sent", &[("venue", "XNAS")]);
    assert_zero_alloc(&tw, |i| c.add(i));
}

#[test]
fn latency_record() {
    let tw = instance();
    let l = tw.latency("order_roundtrip");
    assert_zero_alloc(&tw, |i| l.record(Duration::from_nanos(i)));
}

#[test]
fn latency_record_nanos() {
    let tw = instance();
    let l = tw.latency("order_roundtrip");
    assert_zero_alloc(&tw, |i| l.record_nanos(i));
}

#[test]
fn latency_timer_drop() {
    let tw = instance();
    let l = tw.latency("order_roundtrip");
    assert_zero_alloc(&tw, |i| {
        let t = l.start();
        black_box(i);
        drop(t);
    });
}

#[test]
fn resource_record() {
    let tw = instance();
    let r = tw.resource("order_book_depth");
    assert_zero_alloc(&tw, |i| r.record(i as f64 / 1e6));
}

#[test]
fn log_metric_by_name_with_two_tags() {
    let tw = instance();
    assert_zero_alloc(&tw, |i| {
        tw.log_metric(
            "spread",
            i as f64 * 0.01,
            &[("venue", "XNAS"), ("symbol", "AAPL")],
        )
    });
}

#[test]
fn measure_latency_by_name() {
    let tw = instance();
    assert_zero_alloc(&tw, |i| {
        tw.measure_latency("order_roundtrip", Duration::from_nanos(i))
    });
}

#[test]
fn track_resource_usage_by_name() {
    let tw = instance();
    assert_zero_alloc(&tw, |i| tw.track_resource_usage("cpu", i as f64 / 1e6));
}

#[test]
fn measure_latency_with_tags_by_name() {
    let tw = instance();
    assert_zero_alloc(&tw, |i| {
        tw.measure_latency_with_tags(
            "order_roundtrip",
            Duration::from_nanos(i),
            &[("venue", "XNAS")],
        )
    });
}

#[test]
fn track_resource_usage_with_tags_by_name() {
    let tw = instance();
    assert_zero_alloc(&tw, |i| {
        tw.track_resource_usage_with_tags("order_pool", i as f64 / 1e6, &[("venue", "XNAS")])
    });
}

#[test]
fn event_macro_three_fields() {
    let tw = instance();
    assert_zero_alloc(&tw, |i| {
        event!(
            tw,
            Level::Info,
            "order filled",
            order_id = i,
            px = 101.25,
            venue = "XNAS"
        )
    });
}

#[test]
fn event_macro_format_args_and_fields() {
    let tw = instance();
    let venue = String::from("XNAS");
    assert_zero_alloc(&tw, |i| {
        event!(
            tw,
            Level::Warn,
            "order {} rejected at {} on {}",
            i,
            101.25,
            &venue,
            reason = "limit"
        )
    });
}

#[test]
fn event_macro_level_from_a_variable() {
    let tw = instance();
    // Two levels, so that the two warm-up calls register both of this call site's levels
    // (each level's call site takes an id, and a registry slot, on its first use).
    let levels = [Level::Info, Level::Error];
    assert_zero_alloc(&tw, |i| {
        let level = levels[(i % 2) as usize];
        event!(tw, level, "tick {}", i, seq = i)
    });
}

#[test]
fn event_macro_option_fields() {
    let tw = instance();
    assert_zero_alloc(&tw, |i| {
        let parent = (i % 2 == 0).then_some(i);
        let venue: Option<&str> = None;
        event!(
            tw,
            Level::Info,
            "child order",
            parent = parent,
            venue = venue
        )
    });
}

#[test]
fn shorthand_macros() {
    let tw = instance();
    assert_zero_alloc_after(&tw, 5, |i| match i % 5 {
        0 => tickwatch::trace!(tw, "t {}", i),
        1 => tickwatch::debug!(tw, "d", n = i),
        2 => tickwatch::info!(tw, "order {} filled", i, px = 1.5),
        3 => tickwatch::warn!(&tw, "w", n = i),
        _ => tickwatch::error!(tw, "e {} {}", i, true),
    });
}

/// `?`/`%` fields are rendered on the calling thread, into a stack buffer: formatting, but no
/// allocation either.
#[test]
fn debug_and_display_fields_render_without_allocating() {
    let tw = instance();
    let side = std::cmp::Ordering::Less;
    assert_zero_alloc(
        &tw,
        |i| event!(tw, Level::Info, "book", ?side, depth = %i, px = ?(1.5f64, i)),
    );
}

#[test]
fn a_disabled_level_evaluates_nothing_and_records_nothing() {
    let tw = Telemetry::builder()
        .level(Level::Warn)
        .sink(NullSink)
        .start()
        .unwrap();
    tw.preallocate();
    let before = allocs();
    let mut evaluated = 0u64;
    let mut touch = |v: u64| {
        evaluated += 1;
        v
    };
    for i in 0..CALLS {
        tickwatch::info!(tw, "filtered {}", touch(i), s = %String::from("would allocate"));
    }
    assert_eq!(allocs(), before);
    assert_eq!(evaluated, 0);
    tw.flush().unwrap();
    assert_eq!(tw.stats().accepted, 0);
}

/// A message rendered on the calling thread (a format spec, an inline capture, argument
/// types the record does not carry: `char`, `u128`, `f32`, `Option`, a `String` passed by
/// value, which is borrowed): into the stack buffer, no allocation either.
#[test]
fn messages_rendered_on_the_thread_allocate_nothing() {
    let tw = instance();
    let venue = String::from("XNAS");
    assert_zero_alloc_after(&tw, 3, |i| match i % 3 {
        0 => event!(tw, Level::Info, "px {:.2} qty {:>5} id {i}", 101.256, i),
        1 => tickwatch::info!(tw, "{} {} {} {:?}", 'B', u128::from(i), 0.1f32, Some(i)),
        _ => tickwatch::warn!(tw, "venue {}", venue, n = i),
    });
}

/// With a per-target rule for another module, a disabled call site evaluates and renders
/// nothing and allocates nothing: the call site's cached decision is checked first.
#[test]
fn a_disabled_call_site_with_target_rules_evaluates_nothing() {
    let tw = Telemetry::builder()
        .level(Level::Info)
        .target_level("some_other_module", Level::Debug)
        .sink(NullSink)
        .start()
        .unwrap();
    tw.preallocate();
    let mut evaluated = 0u64;
    let mut touch = |v: u64| {
        evaluated += 1;
        v
    };
    let mut op = |i: u64| {
        tickwatch::debug!(tw, "filtered {}", touch(i), s = %String::from("would allocate"));
    };
    op(0); // registers the call site (a registry slot) and caches its decision
    let before = allocs();
    for i in 0..CALLS {
        op(black_box(i));
    }
    assert_eq!(allocs(), before);
    assert_eq!(evaluated, 0);
    tw.flush().unwrap();
    assert_eq!(tw.stats().accepted, 0);
}

#[test]
fn log_event_dynamic() {
    let tw = instance();
    assert_zero_alloc(&tw, |i| {
        tw.log_event(&Event {
            level: Level::Warn,
            target: "risk",
            message: "limit breached",
            fields: &[
                ("order_id", FieldRef::U64(i)),
                ("excess", FieldRef::F64(1.5)),
                ("venue", FieldRef::Str("XNAS")),
            ],
        })
    });
}

#[test]
/// The issue asks `authorize_action` (next to trading code) never to allocate; with its audit
/// record included.
fn authorize_action_allocates_nothing() {
    use tickwatch::security::authz::{Authorizer, Permission, Policy, Role, User};
    let tw = Telemetry::builder().sink(NullSink).start().unwrap();
    let policy = Policy {
        roles: vec![
            Role::new("base").permission(Permission::deny("*", "orders/HALT/**")),
            Role::new("trader")
                .parent("base")
                .permission(Permission::allow("cancel", "orders/*/*")),
        ],
        users: vec![User::new("alice", &["trader"])],
    };
    let authz = Authorizer::new(policy, Some(tw.audit_log())).unwrap();
    let requests = [
        ("alice", "cancel", "orders/XNAS/42"),
        ("alice", "cancel", "orders/HALT/1"),
        ("alice", "read", "orders/XNAS/42"),
        ("bob", "cancel", "orders/XNAS/42"),
    ];
    for (u, a, r) in requests {
        let _ = black_box(authz.authorize_action(u, a, r));
    }
    let before = allocs();
    for i in 0..CALLS {
        let (u, a, r) = requests[(i % 4) as usize];
        let _ = black_box(authz.authorize_action(black_box(u), black_box(a), black_box(r)));
    }
    assert_eq!(allocs(), before, "authorize_action allocated");
    tw.flush().unwrap();
    assert_eq!(tw.stats().delivered, CALLS + 4);
}

/// `tracing::info!` with five fields (a `u64`, an `f64`, a `&str`, a `Debug` value and a
/// message argument) through `Telemetry::tracing_layer`: the layer's per-thread scratch and
/// the thread's ring are made in the warm-up, nothing after.
#[cfg(feature = "tracing")]
#[test]
fn tracing_info_five_fields_through_the_layer() {
    use tracing_subscriber::layer::SubscriberExt;
    #[derive(Debug)]
    enum Side {
        Buy,
    }
    let tw = instance();
    let subscriber = tracing_subscriber::registry().with(tw.tracing_layer());
    tracing::subscriber::with_default(subscriber, || {
        assert_zero_alloc(&tw, |i| {
            tracing::info!(
                order_id = i,
                px = 101.25,
                qty = 100u64,
                venue = "XNAS",
                side = ?Side::Buy,
                "order {} filled",
                i
            );
        });
    });
}
