//! Several instances.

use super::*;

fn metric_values(mem: &MemorySink) -> Vec<(u32, f64)> {
    mem.records()
        .iter()
        .map(|r| match r {
            Record::Metric { value, thread, .. } => (*thread, *value),
            r => panic!("{r:?}"),
        })
        .collect()
}

#[test]
fn instances_side_by_side_on_one_thread() {
    let mems = [MemorySink::new(), MemorySink::new(), MemorySink::new()];
    let tws: Vec<Telemetry> = mems
        .iter()
        .map(|m| Telemetry::builder().sink(m.clone()).start().unwrap())
        .collect();
    let handles: Vec<_> = tws.iter().map(|tw| tw.metric("x", &[])).collect();
    for i in 0..100 {
        for (k, tw) in tws.iter().enumerate() {
            // Handle and by-name call, same key, different instances.
            handles[k].record(k as f64);
            if i < 10 * (k + 1) {
                tw.log_metric("x", k as f64, &[]);
            }
        }
    }
    for tw in &tws {
        tw.flush().unwrap();
    }
    for (k, (tw, mem)) in tws.iter().zip(&mems).enumerate() {
        let want = 100 + 10 * (k as u64 + 1);
        let st = tw.stats();
        assert_eq!((st.accepted, st.delivered), (want, want), "instance {k}");
        assert_eq!(st.series, 1, "instance {k}");
        let vals = metric_values(mem);
        assert_eq!(vals.len() as u64, want);
        // Only its own values; this thread is thread 0 of each instance.
        assert!(
            vals.iter().all(|&(t, v)| t == 0 && v == k as f64),
            "{vals:?}"
        );
    }
    for tw in tws {
        tw.shutdown().unwrap();
    }
}

#[test]
fn instances_side_by_side_on_several_threads() {
    let mems = [MemorySink::new(), MemorySink::new(), MemorySink::new()];
    let tws: Vec<Telemetry> = mems
        .iter()
        .map(|m| Telemetry::builder().sink(m.clone()).start().unwrap())
        .collect();
    std::thread::scope(|s| {
        // One thread per instance...
        for (k, tw) in tws.iter().enumerate() {
            s.spawn(move || {
                for _ in 0..50 * (k + 1) {
                    tw.log_metric("x", k as f64, &[]);
                }
            });
        }
        // ...and one thread logging to all three.
        let tws = &tws;
        s.spawn(move || {
            for _ in 0..20 {
                for (k, tw) in tws.iter().enumerate() {
                    tw.log_metric("x", k as f64 + 0.5, &[]);
                }
            }
        });
    });
    // Stopping one does not disturb the others.
    let mut tws = tws.into_iter();
    let first = tws.next().unwrap();
    first.shutdown().unwrap();
    let rest: Vec<Telemetry> = tws.collect();
    for tw in &rest {
        tw.log_metric("x", -1.0, &[]);
        tw.flush().unwrap();
    }
    for (k, mem) in mems.iter().enumerate() {
        let vals = metric_values(mem);
        let extra = if k == 0 { 0 } else { 1 };
        assert_eq!(vals.len(), 50 * (k + 1) + 20 + extra, "instance {k}");
        let own = vals.iter().filter(|v| v.1 == k as f64).count();
        let shared = vals.iter().filter(|v| v.1 == k as f64 + 0.5).count();
        assert_eq!((own, shared), (50 * (k + 1), 20), "instance {k}: {vals:?}");
        // Thread indexes are per instance: the two producing threads are 0 and 1.
        let mut threads: Vec<u32> = vals.iter().map(|v| v.0).collect();
        threads.sort_unstable();
        threads.dedup();
        let want: &[u32] = if k == 0 { &[0, 1] } else { &[0, 1, 2] };
        assert_eq!(threads, want, "instance {k}");
    }
    for (i, tw) in rest.iter().enumerate() {
        let k = i + 1;
        let want = (50 * (k + 1) + 20 + 1) as u64;
        let st = tw.stats();
        assert_eq!((st.accepted, st.delivered, st.dropped), (want, want, 0));
        // Both worker threads exited: their lanes (the shared thread had one per instance)
        // are retired; only this thread's lane is live. Retirement happens when the collector
        // notices the exit: poll, bounded.
        let mut st = tw.stats();
        for _ in 0..500 {
            if st.retired_threads == 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
            tw.flush().unwrap();
            st = tw.stats();
        }
        assert_eq!(st.retired_threads, 2, "{st:?}");
        assert_eq!(st.threads.len(), 1, "{st:?}");
        assert_eq!(st.accepted, want, "retired lanes keep their counts");
    }
}
