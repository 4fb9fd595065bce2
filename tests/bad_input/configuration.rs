//! Configuration.

use super::*;

#[test]
fn invalid_configuration_is_refused_with_the_matching_error() {
    let cases: [(usize, &str); 5] = [
        (0, "0"),
        (1000, "1000"),
        (32, "32"),
        (63, "63"),
        ((1 << 30) * 2, "2147483648"),
    ];
    for (cap, shown) in cases {
        match Telemetry::builder().ring_capacity(cap).start() {
            Err(e @ StartError::RingCapacity { requested }) => {
                assert_eq!(requested, cap);
                let msg = e.to_string();
                assert!(msg.contains("ring_capacity"), "{msg}");
                assert!(msg.contains(shown), "{msg}");
                assert!(msg.contains("power of two"), "{msg}");
            }
            other => panic!("ring_capacity({cap}): {other:?}"),
        }
    }
    match Telemetry::builder().max_string_len(65_536).start() {
        Err(e @ StartError::MaxStringLen { requested: 65_536 }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("max_string_len") && msg.contains("65536"),
                "{msg}"
            );
        }
        other => panic!("{other:?}"),
    }
    match Telemetry::builder().max_series(0).start() {
        Err(e @ StartError::MaxSeries { requested: 0 }) => {
            let msg = e.to_string();
            assert!(msg.contains("max_series") && msg.contains('0'), "{msg}");
        }
        other => panic!("{other:?}"),
    }
    // The edges of each range are accepted.
    for b in [
        Telemetry::builder().ring_capacity(128),
        Telemetry::builder().ring_capacity(1 << 30),
        Telemetry::builder().max_string_len(65_535),
        Telemetry::builder().max_string_len(0),
        Telemetry::builder().max_series(1),
    ] {
        b.start().unwrap().shutdown().unwrap();
    }
}

#[test]
fn smallest_ring_still_carries_samples() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder()
        .ring_capacity(128)
        .sink(mem.clone())
        .start()
        .unwrap();
    let n = if cfg!(miri) { 20 } else { 2_000 };
    let c = tw.counter("c", &[]);
    for i in 0..n {
        c.add(i);
    }
    // A field-less event is smaller than a sample; an event with a number is a little larger
    // than the 24 bytes a 64-byte ring takes: delivered, or refused and counted as oversized.
    event!(tw, Level::Info, "tiny");
    event!(tw, Level::Info, "small", x = 1u8);
    tw.flush().unwrap();
    let st = tw.stats();
    assert_eq!(st.accepted + st.dropped, n + 2, "{st:?}");
    assert_eq!(st.dropped, st.oversized, "{st:?}");
    assert!(st.accepted > n, "{st:?}");
    assert_eq!(st.delivered, st.accepted);
    let recs = mem.records();
    for (i, r) in recs[..n as usize].iter().enumerate() {
        assert!(
            matches!(r, Record::Counter { delta, .. } if *delta == i as u64),
            "{r:?}"
        );
    }
    assert!(matches!(&recs[n as usize], Record::Event { message, .. } if message == "tiny"));
    tw.shutdown().unwrap();
}
