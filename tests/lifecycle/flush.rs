//! Flush.

use super::*;

#[test]
fn flush_delivers_everything_accepted_before_it_from_this_thread() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder()
        .ring_capacity(4096)
        .sink(mem.clone())
        .start()
        .unwrap();
    let c = tw.counter("c", &[]);
    let mut total = 0u64;
    for round in 1..=if cfg!(miri) { 3 } else { 50 } {
        for i in 0..round * 7 {
            c.add(i);
            total += 1;
        }
        tw.flush().unwrap();
        // No waiting: everything is there when flush returns.
        assert_eq!(mem.len() as u64, total, "round {round}");
        let st = tw.stats();
        assert_eq!((st.accepted, st.delivered), (total, total));
    }
    tw.shutdown().unwrap();
}

#[test]
fn flush_delivers_records_of_threads_that_finished_before_it() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder().sink(mem.clone()).start().unwrap();
    for round in 0..if cfg!(miri) { 2 } else { 20 } {
        let before = mem.len();
        std::thread::scope(|s| {
            for t in 0..3u64 {
                let tw = &tw;
                s.spawn(move || {
                    for i in 0..100u64 {
                        tw.log_metric("m", (t * 1000 + i) as f64, &[]);
                    }
                });
            }
        });
        tw.flush().unwrap();
        assert_eq!(mem.len(), before + 300, "round {round}");
    }
    tw.shutdown().unwrap();
}

#[test]
#[cfg_attr(miri, ignore = "needs the file system (isolation)")]
fn flush_writes_a_json_file_to_disk() {
    let dir = TempDir::new("flush");
    // A nested path: the sink creates the missing directories.
    let path = dir.0.join("nested").join("out.jsonl");
    let tw = Telemetry::builder()
        .sink(JsonLinesSink::create(&path).unwrap())
        .start()
        .unwrap();
    let n = 500;
    for i in 0..n {
        tw.log_metric("px", i as f64, &[("venue", "XNAS")]);
    }
    tw.flush().unwrap();
    let lines = read_lines(&path);
    assert_eq!(lines.len(), n, "everything on disk when flush returns");
    for (i, l) in lines.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["value"].as_f64(), Some(i as f64));
    }
    event!(tw, Level::Info, "second", k = 1u64);
    tw.flush().unwrap();
    assert_eq!(read_lines(&path).len(), n + 1);
    tw.shutdown().unwrap();
    // `create` appends to an existing file.
    let tw = Telemetry::builder()
        .sink(JsonLinesSink::create(&path).unwrap())
        .start()
        .unwrap();
    tw.track_resource_usage("cpu", 0.5);
    drop(tw);
    let lines = read_lines(&path);
    assert_eq!(lines.len(), n + 2);
    assert!(
        lines[n + 1].contains("\"name\":\"cpu\""),
        "{}",
        lines[n + 1]
    );
}
