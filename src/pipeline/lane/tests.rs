//! The lanes' unit tests: one lane per (thread, instance), purging, conservation on a
//! small ring.

use std::sync::Arc;

use crate::pipeline::hooks::NoHooks;
use crate::pipeline::{Backpressure, Pipeline, PipelineConfig, Shared};
use crate::record::kind;
use crate::series::SeriesKind;
use crate::sink::{MemorySink, NullSink, Record, Sink};

fn lane_ids() -> Vec<u64> {
    super::LANES.with(|l| {
        l.list
            .borrow()
            .iter()
            // SAFETY: live lanes of this thread; none is lent out here.
            .map(|l| unsafe { l.as_ref() }.instance_id)
            .collect()
    })
}

/// A bare pipeline (no aggregation, no monitoring: nothing that reads /proc, which Miri
/// cannot).
fn start(config: PipelineConfig, sink: impl Sink) -> Pipeline {
    let shared = Arc::new(Shared::new(config, 1));
    Pipeline::start(shared, vec![Box::new(sink)], NoHooks).unwrap()
}

/// One sample of a counter named `name` on the calling thread.
fn count(p: &Pipeline, name: &str, delta: u64) {
    let id = p
        .shared
        .series
        .register(SeriesKind::Counter, name, &[])
        .id();
    p.shared.push_sample(kind::COUNTER, 0, id, delta);
}

#[test]
fn one_lane_per_instance_per_thread_and_stopped_lanes_are_purged() {
    let a = start(PipelineConfig::default(), NullSink);
    let b = start(PipelineConfig::default(), NullSink);
    let (a_id, b_id) = (a.shared.id, b.shared.id);
    count(&a, "x", 1);
    count(&b, "x", 1);
    count(&a, "y", 1);
    let ids = lane_ids();
    assert_eq!(ids.iter().filter(|&&i| i == a_id).count(), 1);
    assert_eq!(ids.iter().filter(|&&i| i == b_id).count(), 1);
    b.shutdown().unwrap();
    // Registering a lane for a new instance purges the stopped one.
    let c = start(PipelineConfig::default(), NullSink);
    count(&c, "x", 1);
    let ids = lane_ids();
    assert!(ids.contains(&a_id) && ids.contains(&c.shared.id));
    assert!(!ids.contains(&b_id));
    a.shutdown().unwrap();
    c.shutdown().unwrap();
}

/// The pipeline end to end on a small ring that wraps and fills, from threads that exit
/// (their lanes retire): sized to run under Miri too.
#[test]
fn threads_on_a_small_ring_conserve_every_record() {
    let per_thread: u64 = if cfg!(miri) { 40 } else { 5_000 };
    for policy in [Backpressure::Block, Backpressure::Drop] {
        let mem = MemorySink::new();
        let config = PipelineConfig {
            ring_capacity: crate::MIN_RING_CAPACITY,
            backpressure: policy,
            ..PipelineConfig::default()
        };
        let p = Arc::new(start(config, mem.clone()));
        let threads: Vec<_> = (0..2)
            .map(|t| {
                let p = p.clone();
                std::thread::spawn(move || {
                    for i in 0..per_thread {
                        count(&p, "n", t * 1_000_000 + i);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        p.flush().unwrap();
        let st = p.shared.stats();
        assert_eq!(st.accepted + st.dropped, 2 * per_thread, "{st:?}");
        assert_eq!(st.accepted, st.delivered, "{st:?}");
        let counted = mem
            .take()
            .iter()
            .filter(|r| matches!(r, Record::Counter { .. }))
            .count() as u64;
        assert_eq!(counted, st.accepted, "{st:?}");
        p.shutdown().unwrap();
    }
}
