//! Interest is cached: a filtered-out `tracing` event reaches neither the ring nor the
//! collector, and the layer is asked about each call site once. In a binary of its own: any
//! call site registered anywhere in the process is described to every live layer, so a test
//! running beside it would move the count.
#![cfg(feature = "tracing")]

use tickwatch::sink::MemorySink;
use tickwatch::{Level, Telemetry};
use tracing_subscriber::layer::SubscriberExt;

#[test]
fn filtered_events_reach_neither_the_ring_nor_the_collector_and_interest_is_cached() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder().sink(mem.clone()).start().unwrap();
    let layer = tw
        .tracing_layer()
        .level(Level::Info)
        .target("noisy", Level::Error)
        .unwrap();
    let probe = layer.clone();
    let before = tw.stats();
    let mut after_first = None;
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..100u64 {
            if i == 1 {
                after_first = Some(probe.stats());
            }
            tracing::debug!(i, "below the level");
            tracing::warn!(target: "noisy::feed", i, "below the target's level");
            tracing::info!(i, "kept");
            tracing::error!(target: "noisy", i, "kept too");
        }
        assert!(!tracing::enabled!(tracing::Level::DEBUG));
    });
    tw.flush().unwrap();
    let st = tw.stats();
    // Every call that reached the instance was accepted or dropped: 200 of them.
    assert_eq!(
        st.accepted + st.dropped - before.accepted - before.dropped,
        200,
        "{st:?}"
    );
    assert_eq!(st.delivered, 200);
    assert_eq!(mem.records().len(), 200);
    let ls = probe.stats();
    // The loop's call sites were each described once, in its first round, however often
    // they fired after; tracing never asked about a single event. The `debug!` one is not
    // even described: the layer's level hint stops it before tracing registers it.
    let first = after_first.unwrap();
    assert!(first.callsites >= 3, "{first:?}");
    assert_eq!(ls.callsites, first.callsites, "{ls:?}");
    assert!(first.register_callsite_calls >= 3, "{first:?}");
    assert_eq!(
        ls.register_callsite_calls, first.register_callsite_calls,
        "{ls:?}"
    );
    assert_eq!(ls.enabled_calls, 0, "{ls:?}");
}
