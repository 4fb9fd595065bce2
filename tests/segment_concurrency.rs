//! Queries from several threads while several threads write and segments roll: every query
//! succeeds, sees each writer's events in order without gaps from its first to its last,
//! and sees no fewer than the query before it on the same thread. With retention deleting
//! segments under the queries, every query still succeeds and what it sees of each writer
//! is still gap-free.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tickwatch::sink::Record;
use tickwatch::store::{LogQuery, SegmentLog};
use tickwatch::{event, Level, Telemetry, Value};

#[test]
fn queries_during_writes_rolls_and_retention_are_consistent() {
    let dir = std::env::temp_dir().join(format!("tw-conc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let tw = Telemetry::builder()
        .segment_log(
            SegmentLog::options(&dir)
                .segment_bytes(16 * 1024)
                .open()
                .unwrap(),
        )
        .resource_sampling(None)
        .start()
        .unwrap();
    let done = AtomicBool::new(false);
    const WRITERS: u64 = 2;
    const PER_WRITER: u64 = 20_000;
    let mut queries = 0u64;
    std::thread::scope(|s| {
        for w in 0..WRITERS {
            let tw = &tw;
            s.spawn(move || {
                for seq in 0..PER_WRITER {
                    event!(tw, Level::Info, "tick", writer = w, seq = seq);
                    if seq % 1000 == 0 {
                        std::thread::yield_now();
                    }
                }
            });
        }
        let mut readers = Vec::new();
        for _ in 0..3 {
            let (tw, done) = (&tw, &done);
            readers.push(s.spawn(move || {
                let mut last_total = 0usize;
                let mut n = 0u64;
                while !done.load(Ordering::Relaxed) {
                    let mut q = LogQuery::new();
                    q.limit = usize::MAX;
                    let res = tw.query_logs(&q).expect("a query never fails");
                    // Per writer: consecutive sequence numbers from 0 (the query sees a
                    // prefix of what each writer's ring delivered).
                    let mut next: HashMap<u64, u64> = HashMap::new();
                    for r in &res.records {
                        let Record::Event { fields, .. } = r else {
                            continue;
                        };
                        let (Value::U64(w), Value::U64(seq)) = (&fields[0].1, &fields[1].1) else {
                            panic!("{fields:?}")
                        };
                        let want = next.entry(*w).or_insert(0);
                        assert_eq!(*seq, *want, "writer {w}: a gap or a duplicate");
                        *want += 1;
                    }
                    assert!(
                        res.records.len() >= last_total,
                        "a query saw fewer than the one before"
                    );
                    last_total = res.records.len();
                    n += 1;
                }
                n
            }));
        }
        // Let the writers finish, then the readers run once more over the complete log.
        while tw.stats().accepted < WRITERS * PER_WRITER {
            std::thread::sleep(Duration::from_millis(5));
        }
        tw.flush().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        done.store(true, Ordering::Relaxed);
        for r in readers {
            queries += r.join().unwrap();
        }
    });
    let mut q = LogQuery::new();
    q.limit = usize::MAX;
    let all = tw.query_logs(&q).unwrap();
    assert_eq!(all.records.len() as u64, WRITERS * PER_WRITER);
    assert!(queries >= 3, "{queries}");
    assert!(tw.segment_log().unwrap().stats().sealed > 2);
    drop(tw);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn queries_while_retention_deletes_segments_never_fail() {
    let dir = std::env::temp_dir().join(format!("tw-conc-ret-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let tw = Telemetry::builder()
        .segment_log(
            SegmentLog::options(&dir)
                .segment_bytes(8 * 1024)
                .retain_bytes(Some(32 * 1024))
                .open()
                .unwrap(),
        )
        .resource_sampling(None)
        .start()
        .unwrap();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let (t, d) = (&tw, &done);
        let reader = s.spawn(move || {
            let mut n = 0;
            while !d.load(Ordering::Relaxed) {
                let mut q = LogQuery::new();
                q.limit = usize::MAX;
                let res = t.query_logs(&q).expect("a query never fails");
                let mut prev: Option<u64> = None;
                for r in &res.records {
                    if let Record::Event { fields, .. } = r {
                        let Value::U64(seq) = fields[0].1 else {
                            panic!()
                        };
                        if let Some(p) = prev {
                            assert_eq!(seq, p + 1, "a gap inside what the query saw");
                        }
                        prev = Some(seq);
                    }
                }
                n += 1;
            }
            n
        });
        for seq in 0..30_000u64 {
            event!(tw, Level::Info, "tick", seq = seq);
            if seq % 500 == 0 {
                tw.flush().unwrap();
            }
        }
        tw.flush().unwrap();
        done.store(true, Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
    });
    drop(tw);
    std::fs::remove_dir_all(&dir).unwrap();
}
