//! Conservation: every call is either delivered exactly once (in per-thread order) or counted
//! as dropped and reported to the sinks, under both backpressure policies, through rings small
//! enough to wrap and fill many times over.
//!
//! Every producer encodes a per-thread sequence number in each record; a custom sink checks
//! the sequences on the collector thread and counts what it sees (cheaper than keeping 4M
//! owned records in a `MemorySink`).

use std::collections::HashMap;
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use tickwatch::sink::{Batch, RecordView, Sink, SinkError};
use tickwatch::{event, Backpressure, Event, FieldRef, Level, Telemetry};

/// Per producing thread (lane), what the checking sink has seen.
#[derive(Debug, Default, Clone)]
struct LaneSeen {
    /// The next sequence number expected (strict) or the lowest acceptable (monotonic).
    next: u64,
    /// Records delivered (drop notices excluded).
    records: u64,
    /// Sum of `count` over the `Dropped` notices.
    dropped: u64,
    /// Number of `Dropped` notices.
    notices: u64,
}

#[derive(Debug, Default)]
struct Seen {
    lanes: HashMap<u32, LaneSeen>,
    /// Series id -> the lane its samples arrived on (each producer has its own handles).
    series_lane: HashMap<u32, u32>,
    violations: Vec<String>,
    batches: u64,
}

impl Seen {
    fn violation(&mut self, v: String) {
        if self.violations.len() < 20 {
            self.violations.push(v);
        }
    }
    fn records(&self) -> u64 {
        self.lanes.values().map(|l| l.records).sum()
    }
    fn dropped(&self) -> u64 {
        self.lanes.values().map(|l| l.dropped).sum()
    }
}

/// Checks per-thread sequence numbers. `strict`: every number exactly once, in order (Block);
/// otherwise strictly increasing with gaps allowed (Drop).
struct SeqSink {
    seen: Arc<Mutex<Seen>>,
    strict: bool,
    /// Sleep per batch, to make the collector slow enough for rings to overflow.
    delay: Option<Duration>,
}

impl SeqSink {
    fn new(strict: bool, delay: Option<Duration>) -> (Self, Arc<Mutex<Seen>>) {
        let seen = Arc::new(Mutex::new(Seen::default()));
        (
            Self {
                seen: seen.clone(),
                strict,
                delay,
            },
            seen,
        )
    }
}

/// The sequence number a record carries, and the series it went to (samples only).
fn seq_of(r: &RecordView<'_>) -> Result<(u64, Option<u32>), String> {
    match r {
        RecordView::Counter { series, delta, .. } => Ok((*delta, Some(series.id()))),
        RecordView::Metric { series, value, .. } => Ok((*value as u64, Some(series.id()))),
        RecordView::Event(e) => {
            let mut seq = None;
            let mut px = None;
            let mut venue = None;
            for (name, v) in e.fields() {
                match (name, v) {
                    ("seq", FieldRef::U64(s)) => seq = Some(s),
                    ("px", FieldRef::F64(p)) => px = Some(p),
                    ("venue", FieldRef::Str(s)) => venue = Some(s),
                    other => return Err(format!("unexpected field {other:?}")),
                }
            }
            let seq = seq.ok_or("event without seq")?;
            // "mixed packed" has numbers only (the packed record form): no venue.
            let want_venue = (e.message != "mixed packed").then_some("XNAS");
            if px != Some(seq as f64 * 0.5) || venue != want_venue {
                return Err(format!("event {seq} fields wrong: {px:?} {venue:?}"));
            }
            if !["mixed", "mixed dyn", "mixed packed"].contains(&e.message) {
                return Err(format!("event {seq} message {:?}", e.message));
            }
            Ok((seq, None))
        }
        other => Err(format!("unexpected record {other:?}")),
    }
}

impl Sink for SeqSink {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let thread = batch.thread().index;
        let mut guard = self.seen.lock().unwrap();
        let seen = &mut *guard;
        seen.batches += 1;
        let mut lane = seen.lanes.remove(&thread).unwrap_or_default();
        let mut violations = Vec::new();
        let mut yielded = 0usize;
        for r in batch.iter() {
            yielded += 1;
            if let RecordView::Dropped { count, .. } = r {
                if count == 0 {
                    violations.push(format!("thread {thread}: Dropped notice with count 0"));
                }
                lane.dropped += count;
                lane.notices += 1;
                continue;
            }
            match seq_of(&r) {
                Ok((seq, series)) => {
                    let ok = if self.strict {
                        seq == lane.next
                    } else {
                        seq >= lane.next
                    };
                    if !ok {
                        violations.push(format!(
                            "thread {thread}: got seq {seq}, expected {}{}",
                            if self.strict { "" } else { ">= " },
                            lane.next
                        ));
                    }
                    lane.next = seq + 1;
                    lane.records += 1;
                    if let Some(id) = series {
                        let first = *seen.series_lane.entry(id).or_insert(thread);
                        if first != thread {
                            violations
                                .push(format!("series {id} arrived on lanes {first} and {thread}"));
                        }
                    }
                }
                Err(e) => violations.push(format!("thread {thread}: {e}")),
            }
        }
        if yielded != batch.len() {
            violations.push(format!(
                "thread {thread}: Batch::len() = {} but iter() yielded {yielded}",
                batch.len()
            ));
        }
        seen.lanes.insert(thread, lane);
        for v in violations {
            seen.violation(v);
        }
        drop(guard);
        if let Some(d) = self.delay {
            std::thread::sleep(d);
        }
        Ok(())
    }
}

fn block_conservation(producers: usize) {
    let per_thread: u64 = if cfg!(miri) { 300 } else { 1_000_000 };
    let (sink, seen) = SeqSink::new(true, None);
    let tw = Telemetry::builder()
        .ring_capacity(4096)
        .backpressure(Backpressure::Block)
        .sink(sink)
        .start()
        .unwrap();
    let done = Barrier::new(producers + 1);
    let release = Barrier::new(producers + 1);
    std::thread::scope(|s| {
        for p in 0..producers {
            let tw = &tw;
            let (done, release) = (&done, &release);
            s.spawn(move || {
                let c = tw.counter("seq", &[("producer", &p.to_string())]);
                for i in 0..per_thread {
                    c.add(i);
                }
                done.wait();
                // Stay alive while the main thread looks at this lane's stats.
                release.wait();
            });
        }
        done.wait();
        let st = tw.stats();
        assert_eq!(st.threads.len(), producers, "{st:?}");
        for t in &st.threads {
            assert_eq!(t.capacity, 4096);
            assert_eq!(t.accepted, per_thread, "{t:?}");
            assert_eq!(t.dropped, 0, "{t:?}");
            // The ring filled up (the producer had to wait) but never overran.
            assert!(t.high_water <= t.capacity, "{t:?}");
            assert!(t.high_water >= t.capacity / 2, "{t:?}");
        }
        release.wait();
    });
    tw.flush().unwrap();
    let calls = per_thread * producers as u64;
    let st = tw.stats();
    assert_eq!(st.dropped, 0, "{st:?}");
    assert_eq!(st.accepted, calls, "{st:?}");
    assert_eq!(st.delivered, calls, "{st:?}");
    assert_eq!(st.decode_errors, 0);
    assert_eq!(st.sink_errors, 0);
    let seen = seen.lock().unwrap();
    assert!(seen.violations.is_empty(), "{:?}", seen.violations);
    assert_eq!(seen.lanes.len(), producers);
    assert_eq!(seen.records(), calls);
    assert_eq!(seen.dropped(), 0);
    for (t, lane) in &seen.lanes {
        assert_eq!(lane.records, per_thread, "thread {t}");
        assert_eq!(lane.next, per_thread, "thread {t}");
        assert_eq!(lane.notices, 0, "thread {t}");
    }
    // Many batches: the collector drained while producers were writing.
    assert!(seen.batches > 1);
    drop(seen);
    tw.shutdown().unwrap();
}

#[test]
fn block_two_producers_every_record_once_in_order() {
    block_conservation(2);
}

#[test]
fn block_four_producers_every_record_once_in_order() {
    block_conservation(4);
}

#[test]
fn drop_policy_counts_every_loss_exactly_and_reports_it() {
    let producers = 4usize;
    let per_thread: u64 = if cfg!(miri) { 200 } else { 50_000 };
    let (sink, seen) = SeqSink::new(false, Some(Duration::from_micros(200)));
    let tw = Telemetry::builder()
        .ring_capacity(256)
        .backpressure(Backpressure::Drop)
        .sink(sink)
        .start()
        .unwrap();
    std::thread::scope(|s| {
        for p in 0..producers {
            let tw = &tw;
            s.spawn(move || {
                let m = tw.metric("seq", &[("producer", &p.to_string())]);
                for i in 0..per_thread {
                    m.record(i as f64);
                    // Pace the producer a little so that records are both accepted and
                    // dropped over many batches, not all dropped in one burst.
                    if i % 16 == 15 {
                        std::thread::sleep(Duration::from_micros(20));
                    }
                }
            });
        }
    });
    tw.flush().unwrap();
    let calls = per_thread * producers as u64;
    let st = tw.stats();
    assert_eq!(st.accepted + st.dropped, calls, "{st:?}");
    assert!(
        st.dropped > 0,
        "a 256-byte ring and a slow sink must drop: {st:?}"
    );
    assert!(st.accepted > 0, "{st:?}");
    assert_eq!(st.delivered, st.accepted, "{st:?}");
    assert_eq!(st.oversized, 0);
    assert_eq!(st.decode_errors, 0);
    let seen = seen.lock().unwrap();
    assert!(seen.violations.is_empty(), "{:?}", seen.violations);
    assert_eq!(seen.records(), st.delivered);
    assert_eq!(
        seen.dropped(),
        st.dropped,
        "Dropped notices must add up to stats.dropped"
    );
    assert_eq!(seen.lanes.len(), producers);
    for (t, lane) in &seen.lanes {
        // Per thread: what arrived plus what was reported lost is exactly what was logged.
        assert_eq!(
            lane.records + lane.dropped,
            per_thread,
            "thread {t}: {lane:?}"
        );
        assert!(lane.next <= per_thread);
    }
    drop(seen);
    tw.shutdown().unwrap();
}

/// Events (static call sites: three fields incl. a string, and numbers only in the packed
/// form), dynamic events and samples
/// interleaved on one per-thread sequence.
fn mixed(policy: Backpressure, per_thread: u64, delay: Option<Duration>) {
    let producers = 3usize;
    let strict = policy == Backpressure::Block;
    // Under Drop, pace the producers so records are both accepted and dropped.
    let paced = !strict;
    let (sink, seen) = SeqSink::new(strict, delay);
    let tw = Telemetry::builder()
        .ring_capacity(if strict { 4096 } else { 512 })
        .backpressure(policy)
        .sink(sink)
        .start()
        .unwrap();
    std::thread::scope(|s| {
        for p in 0..producers {
            let tw = &tw;
            s.spawn(move || {
                let c = tw.counter("seq", &[("producer", &p.to_string())]);
                let m = tw.metric("seq_m", &[("producer", &p.to_string())]);
                for i in 0..per_thread {
                    match i % 4 {
                        // Every other event numbers only: the packed form.
                        0 if i % 8 == 4 => {
                            event!(
                                tw,
                                Level::Info,
                                "mixed packed",
                                seq = i,
                                px = i as f64 * 0.5
                            )
                        }
                        0 => event!(
                            tw,
                            Level::Info,
                            "mixed",
                            seq = i,
                            px = i as f64 * 0.5,
                            venue = "XNAS"
                        ),
                        1 => c.add(i),
                        2 => tw.log_event(&Event {
                            level: Level::Warn,
                            target: "conservation",
                            message: "mixed dyn",
                            fields: &[
                                ("seq", FieldRef::U64(i)),
                                ("px", FieldRef::F64(i as f64 * 0.5)),
                                ("venue", FieldRef::Str("XNAS")),
                            ],
                        }),
                        _ => m.record(i as f64),
                    }
                    if paced && i % 16 == 15 {
                        std::thread::sleep(Duration::from_micros(20));
                    }
                }
            });
        }
    });
    tw.flush().unwrap();
    let calls = per_thread * producers as u64;
    let st = tw.stats();
    assert_eq!(st.accepted + st.dropped, calls, "{st:?}");
    assert_eq!(st.delivered, st.accepted, "{st:?}");
    assert_eq!(st.decode_errors, 0);
    let seen = seen.lock().unwrap();
    assert!(seen.violations.is_empty(), "{:?}", seen.violations);
    assert_eq!(seen.records(), st.delivered);
    assert_eq!(seen.dropped(), st.dropped);
    for (t, lane) in &seen.lanes {
        assert_eq!(
            lane.records + lane.dropped,
            per_thread,
            "thread {t}: {lane:?}"
        );
    }
    if strict {
        assert_eq!(st.dropped, 0);
        assert_eq!(st.accepted, calls);
    } else {
        assert!(st.dropped > 0, "{st:?}");
        assert!(st.accepted > 0, "{st:?}");
    }
    drop(seen);
    tw.shutdown().unwrap();
}

#[test]
fn mixed_events_and_samples_block() {
    mixed(
        Backpressure::Block,
        if cfg!(miri) { 200 } else { 200_000 },
        None,
    );
}

#[test]
fn mixed_events_and_samples_drop() {
    mixed(
        Backpressure::Drop,
        if cfg!(miri) { 200 } else { 20_000 },
        Some(Duration::from_micros(200)),
    );
}
